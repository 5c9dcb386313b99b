// UploadService implementation.
#include "core/upload_service.h"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/aligned_buffer.h"

namespace fileport {

Status PartWrite::Append(std::span<const char> data) {
  if (writer_->bytes_written() + static_cast<std::int64_t>(data.size()) > limit_) {
    if (limit_is_part_size_) {
      return InvalidArgument("Part is too large: a part may hold at most " +
                                 FormatBytes(limit_) + " (" + std::to_string(limit_) + " bytes)",
                             "data");
    }
    return InvalidArgument("Part would exceed what the upload may receive: only " +
                               std::to_string(limit_) +
                               " more bytes are accepted (parts may total twice the upload's "
                               "bytes)",
                           "data");
  }
  if (md5_) md5_->Update(data);
  return writer_->Append(data);
}

Result<Upload> UploadService::Create(const std::string& project, const CreateUploadParams& p) {
  if (!p.bytes) return MissingField("bytes");
  if (!p.filename) return MissingField("filename");
  if (!p.mime_type) return MissingField("mime_type");
  if (!p.purpose) return MissingField("purpose");
  if (*p.bytes < 0 || *p.bytes > ctx_.options.max_upload_bytes) {
    return InvalidArgument("bytes must be between 0 and " +
                               std::to_string(ctx_.options.max_upload_bytes) + " (" +
                               FormatBytes(ctx_.options.max_upload_bytes) + "), got " +
                               std::to_string(*p.bytes),
                           "bytes");
  }
  if (p.filename->empty()) return InvalidArgument("filename must not be empty", "filename");
  if (p.mime_type->empty()) return InvalidArgument("mime_type must not be empty", "mime_type");
  RETURN_IF_ERROR(ValidatePurpose(*p.purpose));
  if (p.expires_after) RETURN_IF_ERROR(ValidateExpiresAfter(*p.expires_after));

  Upload u;
  u.id = ctx_.ids.NewId(kUploadPrefix);
  u.project = project;
  u.bytes = *p.bytes;
  u.created_at = ctx_.clock.NowSeconds();
  u.expires_at = u.created_at + kUploadLifetimeSeconds;
  u.filename = *p.filename;
  u.purpose = *p.purpose;
  u.mime_type = *p.mime_type;
  u.status = UploadStatus::kPending;
  if (p.expires_after) u.file_expires_after = p.expires_after->seconds;
  RETURN_IF_ERROR(ctx_.meta.InsertUpload(u, ctx_.options.quota));
  return u;
}

Result<Upload> UploadService::Load(const std::string& project, const std::string& id) {
  ASSIGN_OR_RETURN(Upload u, ctx_.meta.GetUpload(project, id));
  if (u.status == UploadStatus::kPending && ctx_.clock.NowSeconds() >= u.expires_at) {
    u.status = UploadStatus::kExpired;
  }
  return u;
}

Status UploadService::StateError(const Upload& u) const {
  switch (u.status) {
    case UploadStatus::kCompleted:
      return FailedPrecondition("Upload " + u.id + " has already been completed");
    case UploadStatus::kCancelled:
      return FailedPrecondition("Upload " + u.id + " has already been cancelled");
    case UploadStatus::kExpired:
      return FailedPrecondition("Upload " + u.id + " has expired");
    case UploadStatus::kPending:
      break;
  }
  return Internal("upload " + u.id + " is pending");
}

Result<Upload> UploadService::WithFile(const std::string& project, Upload u) {
  if (u.status == UploadStatus::kCompleted && u.file_id) {
    auto f = files_.Get(project, *u.file_id);
    if (f.ok()) {
      u.file = std::move(f).value();
    } else if (f.status().code() != StatusCode::kNotFound) {
      return f.status();
    }
  }
  return u;
}

Result<Upload> UploadService::Get(const std::string& project, const std::string& id) {
  ASSIGN_OR_RETURN(Upload u, Load(project, id));
  return WithFile(project, std::move(u));
}

Result<std::unique_ptr<PartWrite>> UploadService::StartPart(
    const std::string& project, const std::string& upload_id,
    const std::optional<std::string>& content_md5) {
  std::optional<std::string> raw_md5;
  if (content_md5) {
    std::string raw = Base64Decode(*content_md5);
    if (raw.size() != 16) {
      return InvalidArgument("Content-MD5 must be the base64 of a 16-byte MD5 digest",
                             "Content-MD5");
    }
    raw_md5 = std::move(raw);
  }
  ASSIGN_OR_RETURN(Upload u, Load(project, upload_id));
  if (u.status != UploadStatus::kPending) {
    Status s = StateError(u);
    return Status(s.code(), s.message(), "data");
  }
  ASSIGN_OR_RETURN(auto parts, ctx_.meta.ListParts(project, upload_id));
  std::int64_t received = 0;
  for (const auto& p : parts) received += p.bytes;
  const std::int64_t left = MaxReceivedBytes(u.bytes) - received;
  if (left <= 0) {
    return InvalidArgument("Upload " + upload_id + " has already received " +
                               std::to_string(received) + " bytes, twice its " +
                               std::to_string(u.bytes) +
                               " bytes: complete it with the parts that make up the file, or "
                               "cancel it",
                           "data");
  }
  const bool part_bound = ctx_.options.max_part_bytes <= left;
  const std::int64_t limit = part_bound ? ctx_.options.max_part_bytes : left;

  std::string part_id = ctx_.ids.NewId(kPartPrefix);
  std::string key = PartBlobKey(part_id);
  RETURN_IF_ERROR(ctx_.meta.AddGarbage(
      {{key, ctx_.clock.NowSeconds() + ctx_.options.orphan_grace_seconds}}));
  ASSIGN_OR_RETURN(auto writer, ctx_.blobs.NewWriter(key));
  return std::unique_ptr<PartWrite>(new PartWrite(upload_id, std::move(part_id), std::move(key),
                                                  std::move(writer), limit, part_bound,
                                                  std::move(raw_md5)));
}

Result<UploadPart> UploadService::FinishPart(const std::string& project,
                                             std::unique_ptr<PartWrite> write) {
  if (write->bytes() == 0) {
    write->Abort();
    return InvalidArgument("A part must hold at least 1 byte", "data");
  }
  if (write->md5_) {
    auto digest = write->md5_->Final();
    if (std::string(digest.begin(), digest.end()) != *write->expected_md5_) {
      write->Abort();
      return InvalidArgument("The Content-MD5 of the part does not match its bytes",
                             "Content-MD5");
    }
  }
  RETURN_IF_ERROR(write->writer_->Commit());
  UploadPart part;
  part.id = write->part_id_;
  part.upload_id = write->upload_id_;
  part.project = project;
  part.created_at = ctx_.clock.NowSeconds();
  part.bytes = write->bytes();
  part.blob_key = write->blob_key_;
  Status s = ctx_.meta.InsertPart(part, ctx_.clock.NowSeconds());
  if (!s.ok()) {
    // When the store definitely refused the part, the blob is ours alone: remove it now. Its
    // intent row may be gone already (the sweeper claimed it, which InsertPart reports as
    // Aborted — or as FailedPrecondition when the upload expired meanwhile, checked first),
    // and then nothing else would ever delete these bytes. After an ambiguous error
    // (Unavailable, Internal, …) the part may have been recorded: keep the blob; if it was
    // not, its intent row still covers it and the sweeper removes it.
    switch (s.code()) {
      case StatusCode::kAborted:
      case StatusCode::kFailedPrecondition:
      case StatusCode::kOutOfRange:
      case StatusCode::kNotFound:
      case StatusCode::kInvalidArgument:
        ctx_.blobs.Delete(part.blob_key).IgnoreError();
        break;
      default:
        break;
    }
    switch (s.code()) {
      case StatusCode::kOutOfRange:
        return InvalidArgument(
            "Part would exceed what the upload may receive: the parts received would total "
            "more than twice the upload's bytes",
            "data");
      case StatusCode::kFailedPrecondition: {
        auto u = Load(project, part.upload_id);
        if (u.ok() && u->status != UploadStatus::kPending) {
          Status e = StateError(*u);
          return Status(e.code(), e.message(), "data");
        }
        return Status(s.code(), s.message(), "data");
      }
      default:
        return s;
    }
  }
  return part;
}

Result<std::vector<UploadPart>> UploadService::ListParts(const std::string& project,
                                                         const std::string& id) {
  return ctx_.meta.ListParts(project, id);
}

// The parts are read on a second thread, four I/O buffers' worth at a time into one of two chunks,
// while this thread hashes the other: the MD5 then runs at the speed of the slower of reading
// and hashing rather than of both added. Local parts, written with O_DIRECT, are not in the
// page cache: they are read the same way (HintReadOnce), in large direct reads.
Result<std::string> UploadService::Md5OfParts(const std::vector<const UploadPart*>& parts) {
  struct Chunk {
    AlignedBuffer bytes;  // aligned: the store may read into it directly (HintReadOnce)
    std::size_t capacity = 0;
    std::size_t size = 0;
  };
  std::array<Chunk, 2> chunks;
  for (Chunk& c : chunks) {
    c.capacity = 4 * ctx_.options.io_buffer_bytes;
    c.bytes = AllocateAligned(c.capacity);
  }
  std::mutex mu;
  std::condition_variable changed;
  std::deque<int> full;          // chunks read, in order, waiting to be hashed
  std::deque<int> free{0, 1};    // chunks the reader may fill
  bool reader_done = false;
  Status read_error;

  auto finish = [&](Status s) {
    std::lock_guard lock(mu);
    read_error = std::move(s);
    reader_done = true;
    changed.notify_all();
  };
  auto read_all = [&] {
    for (const UploadPart* p : parts) {
      auto opened = ctx_.blobs.NewReader(p->blob_key);
      if (!opened.ok()) return finish(opened.status());
      (*opened)->HintReadOnce();
      for (bool more = true; more;) {
        int i;
        {
          std::unique_lock lock(mu);
          changed.wait(lock, [&] { return !free.empty(); });
          i = free.front();
          free.pop_front();
        }
        Chunk& c = chunks[static_cast<std::size_t>(i)];
        c.size = 0;
        while (c.size < c.capacity) {
          auto n = (*opened)->Read(std::span<char>(c.bytes.get() + c.size, c.capacity - c.size));
          if (!n.ok()) return finish(n.status());
          if (*n == 0) {
            more = false;
            break;
          }
          c.size += *n;
        }
        std::lock_guard lock(mu);
        full.push_back(i);
        changed.notify_all();
      }
    }
    finish(Status::Ok());
  };
  std::thread reader([&] {
    try {
      read_all();
    } catch (const std::exception& e) {
      finish(Internal(std::string("reading the parts failed: ") + e.what()));
    }
  });

  Md5 md5;
  for (;;) {
    int i;
    {
      std::unique_lock lock(mu);
      changed.wait(lock, [&] { return !full.empty() || reader_done; });
      if (full.empty()) break;  // the reader is done and everything it read is hashed
      i = full.front();
      full.pop_front();
    }
    const Chunk& c = chunks[static_cast<std::size_t>(i)];
    md5.Update(std::span<const char>(c.bytes.get(), c.size));
    std::lock_guard lock(mu);
    free.push_back(i);
    changed.notify_all();
  }
  reader.join();
  RETURN_IF_ERROR(read_error);
  auto digest = md5.Final();
  return HexEncode(digest);
}

Result<Upload> UploadService::Complete(const std::string& project, const std::string& id,
                                       const std::vector<std::string>& part_ids,
                                       const std::optional<std::string>& md5) {
  std::optional<std::string> want_md5;
  if (md5) {
    ASSIGN_OR_RETURN(want_md5, NormalizeMd5(*md5));
  }
  ASSIGN_OR_RETURN(Upload u, Load(project, id));
  auto settled = [&](const Upload& cur) -> Result<Upload> {
    // Idempotent retry: the same part_ids complete to the same Upload.
    if (cur.status == UploadStatus::kCompleted && cur.part_ids == part_ids) {
      return WithFile(project, cur);
    }
    return StateError(cur);
  };
  if (u.status != UploadStatus::kPending) return settled(u);
  // The checks below read parts that a racing cancel, complete or expiry may have changed
  // since `u` was loaded (a cancel discards the parts, so they "do not belong" any more).
  // Before refusing, re-read: if the upload is no longer pending, answer from its state.
  auto refuse = [&](Status why) -> Result<Upload> {
    auto cur = Load(project, id);
    if (cur.ok() && cur->status != UploadStatus::kPending) return settled(*cur);
    return why;
  };

  ASSIGN_OR_RETURN(auto parts, ctx_.meta.ListParts(project, id));
  std::unordered_map<std::string_view, const UploadPart*> by_id;
  for (const auto& p : parts) by_id.emplace(p.id, &p);
  std::unordered_set<std::string_view> seen;
  std::vector<const UploadPart*> ordered;
  std::int64_t total = 0;
  for (const auto& pid : part_ids) {
    auto it = by_id.find(pid);
    if (it == by_id.end()) {
      return refuse(
          InvalidArgument("Part " + pid + " does not belong to upload " + id, "part_ids"));
    }
    if (!seen.insert(pid).second) {
      return refuse(InvalidArgument("Part " + pid + " is listed more than once", "part_ids"));
    }
    ordered.push_back(it->second);
    total += it->second->bytes;
  }
  if (total != u.bytes) {
    return refuse(InvalidArgument("The number of bytes uploaded (" + std::to_string(total) +
                                      ") does not match the expected number of bytes (" +
                                      std::to_string(u.bytes) + ")",
                                  "part_ids"));
  }
  if (want_md5) {
    auto got = Md5OfParts(ordered);
    if (!got.ok()) return refuse(got.status());  // e.g. a cancel's sweep deleted the blobs
    if (*got != *want_md5) {
      return refuse(
          InvalidArgument("The md5 checksum of the uploaded bytes does not match", "md5"));
    }
  }

  File f;
  f.id = ctx_.ids.NewId(kFilePrefix);
  f.project = project;
  f.bytes = u.bytes;
  f.created_at = ctx_.clock.NowSeconds();
  std::optional<ExpiresAfter> ea;
  if (u.file_expires_after) ea = ExpiresAfter{"created_at", *u.file_expires_after};
  f.expires_at = FileExpiry(u.purpose, ea, f.created_at);
  f.filename = u.filename;
  f.purpose = u.purpose;
  f.status = "processed";
  f.mime_type = u.mime_type;
  for (const UploadPart* p : ordered) f.segments.push_back({p->blob_key, p->bytes});

  const std::int64_t now = ctx_.clock.NowSeconds();
  Status s = ctx_.meta.CompleteUpload(project, id, part_ids, want_md5, f, now,
                                      now + ctx_.options.delete_grace_seconds);
  if (s.code() == StatusCode::kAborted) {
    // Lost a race with another complete, a cancel or expiry: answer from the winner's state.
    ASSIGN_OR_RETURN(Upload cur, Load(project, id));
    return settled(cur);
  }
  RETURN_IF_ERROR(s);
  // The upload is completed now: answer from what was just stored rather than re-reading,
  // so a failed read cannot turn a done complete into an error (a retry would succeed, but
  // the client would have seen a failure for a File that exists).
  u.status = UploadStatus::kCompleted;
  u.file_id = f.id;
  u.part_ids = part_ids;
  u.md5 = want_md5;
  u.file = std::move(f);
  return u;
}

Result<Upload> UploadService::Cancel(const std::string& project, const std::string& id) {
  ASSIGN_OR_RETURN(Upload u, Load(project, id));
  if (u.status == UploadStatus::kCancelled) return u;
  if (u.status != UploadStatus::kPending) return StateError(u);
  auto r = ctx_.meta.TransitionUpload(project, id, UploadStatus::kPending,
                                      UploadStatus::kCancelled,
                                      ctx_.clock.NowSeconds() + ctx_.options.delete_grace_seconds);
  if (r.ok()) return r;
  if (r.status().code() != StatusCode::kAborted) return r.status();
  ASSIGN_OR_RETURN(Upload cur, Load(project, id));
  if (cur.status == UploadStatus::kCancelled) return cur;
  return StateError(cur);
}

}  // namespace fileport

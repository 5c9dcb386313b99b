// FileService implementation.
#include "core/file_service.h"

#include <algorithm>
#include <vector>

#include "store/meta/store_errors.h"

namespace fileport {
namespace {

// Reads a sequence of already-open segment readers as one stream.
class ConcatReader final : public BlobReader {
 public:
  ConcatReader(std::vector<std::unique_ptr<BlobReader>> parts, std::int64_t size)
      : parts_(std::move(parts)), size_(size) {}
  Result<std::size_t> Read(std::span<char> out) override {
    while (index_ < parts_.size()) {
      ASSIGN_OR_RETURN(std::size_t n, parts_[index_]->Read(out));
      if (n > 0) return n;
      parts_[index_].reset();  // release the descriptor as soon as a segment is done
      ++index_;
    }
    return std::size_t{0};
  }
  std::int64_t size() const override { return size_; }

  bool CanSendToSocket() const override {
    return std::all_of(parts_.begin() + static_cast<std::ptrdiff_t>(index_), parts_.end(),
                       [](const auto& part) { return part->CanSendToSocket(); });
  }
  Result<std::size_t> SendToSocket(int socket_fd, std::size_t max) override {
    while (index_ < parts_.size()) {
      if (sent_of_part_ < parts_[index_]->size()) {
        ASSIGN_OR_RETURN(std::size_t n, parts_[index_]->SendToSocket(socket_fd, max));
        sent_of_part_ += static_cast<std::int64_t>(n);
        return n;  // 0: the socket is full
      }
      parts_[index_].reset();
      ++index_;
      sent_of_part_ = 0;
    }
    return std::size_t{0};
  }

 private:
  std::vector<std::unique_ptr<BlobReader>> parts_;
  std::int64_t sent_of_part_ = 0;  // of parts_[index_], by SendToSocket
  std::size_t index_ = 0;
  std::int64_t size_;
};

Status NoSuchFile(const std::string& id) { return NotFound("No such File object: " + id, "id"); }

}  // namespace

std::string FileBlobKey(const std::string& file_id) {
  return "f/" + file_id.substr(file_id.size() - 2) + "/" + file_id;
}
std::string PartBlobKey(const std::string& part_id) {
  return "p/" + part_id.substr(part_id.size() - 2) + "/" + part_id;
}

Status FileWrite::Append(std::span<const char> data) {
  if (writer_->bytes_written() + static_cast<std::int64_t>(data.size()) > limit_) {
    return TooLarge("File is too large: the maximum size is " + FormatBytes(limit_), "file");
  }
  return writer_->Append(data);
}

Status FileWrite::SetPurposeHint(std::string_view purpose) {
  if (purpose == "batch") limit_ = std::min(limit_, batch_limit_);
  if (bytes() > limit_) {
    return TooLarge("File is too large: the maximum size for purpose " + std::string(purpose) +
                        " is " + FormatBytes(limit_),
                    "file");
  }
  return Status::Ok();
}

Result<std::unique_ptr<FileWrite>> FileService::StartWrite(const std::string& project) {
  const std::int64_t started_at = ctx_.clock.NowSeconds();
  std::string id = ctx_.ids.NewId(kFilePrefix);
  std::string key = FileBlobKey(id);
  RETURN_IF_ERROR(ctx_.meta.AddGarbage(
      {{key, ctx_.clock.NowSeconds() + ctx_.options.orphan_grace_seconds}}));
  ASSIGN_OR_RETURN(auto writer, ctx_.blobs.NewWriter(key));
  return std::unique_ptr<FileWrite>(new FileWrite(std::move(id), started_at, std::move(key),
                                                  std::move(writer), ctx_.options.max_file_bytes,
                                                  ctx_.options.max_batch_file_bytes));
}

Result<File> FileService::FinishCreate(const std::string& project,
                                       std::unique_ptr<FileWrite> write,
                                       const CreateFileParams& params) {
  auto fail = [&](Status s) -> Result<File> {
    write->Abort();
    return s;
  };
  if (!params.purpose) return fail(MissingField("purpose"));
  if (auto s = ValidatePurpose(*params.purpose); !s.ok()) return fail(s);
  if (params.expires_after) {
    if (auto s = ValidateExpiresAfter(*params.expires_after); !s.ok()) return fail(s);
  }
  if (auto s = ValidateFileFormat(*params.purpose, params.filename); !s.ok()) return fail(s);
  if (auto s = write->SetPurposeHint(*params.purpose); !s.ok()) return fail(s);
  if (auto s = write->writer_->Commit(); !s.ok()) return fail(s);

  File f;
  f.id = write->file_id_;
  f.project = project;
  f.bytes = write->bytes();
  f.created_at = write->started_at_;
  f.expires_at = FileExpiry(*params.purpose, params.expires_after, f.created_at);
  f.filename = params.filename;
  f.purpose = *params.purpose;
  f.status = "processed";
  f.mime_type = params.mime_type;
  f.segments = {{write->blob_key_, f.bytes}};
  Status s = ctx_.meta.InsertFile(f, ctx_.options.quota);
  if (!s.ok()) {
    // The intent row still covers the blob unless the sweeper claimed it (Aborted): then the
    // blob is ours alone to remove.
    if (s.code() == StatusCode::kAborted) ctx_.blobs.Delete(write->blob_key_).IgnoreError();
    if (s.code() == StatusCode::kResourceExhausted) {
      // Over quota: the insert certainly did not happen, so the space is given back now rather
      // than when the intent comes due (a crash in between leaves the row: the sweeper's
      // delete of a missing blob is a no-op).
      if (ctx_.blobs.Delete(write->blob_key_).ok()) {
        ctx_.meta.ForgetGarbage({write->blob_key_}).IgnoreError();
      }
    }
    return s;
  }
  return f;
}

Status FileService::CheckRoom(const std::string& project, std::int64_t at_least_bytes) {
  const Quota& quota = ctx_.options.quota;
  if (quota.max_bytes <= 0) return Status::Ok();
  ASSIGN_OR_RETURN(ProjectUsage usage, ctx_.meta.GetUsage(project));
  return meta_errors::CheckQuota(quota, usage, at_least_bytes, false);
}

Result<File> FileService::Get(const std::string& project, const std::string& id) {
  return Unexpired(ctx_.meta.GetShownFile(project, id));
}

Result<File> FileService::Unexpired(Result<File> f) const {
  if (f.ok() && f->expires_at && *f->expires_at <= ctx_.clock.NowSeconds()) {
    return NoSuchFile(f->id);
  }
  return f;
}

Result<FileJsonPage> FileService::List(const std::string& project, const ListFilesParams& p) {
  if (p.limit < 1 || p.limit > 10000) {
    return InvalidArgument("limit must be between 1 and 10000, got " + std::to_string(p.limit),
                           "limit");
  }
  FileQuery q;
  q.project = project;
  q.purpose = p.purpose;
  q.after = p.after;
  q.limit = p.limit;
  q.ascending = p.ascending;
  q.now = ctx_.clock.NowSeconds();
  return ctx_.meta.ListFileJson(q);
}

Result<DeletedFile> FileService::Delete(const std::string& project, const std::string& id) {
  // An expired file is already gone for the client, even before the sweeper runs.
  RETURN_IF_ERROR(Get(project, id).status());
  RETURN_IF_ERROR(ctx_.meta.DeleteFile(
      project, id, ctx_.clock.NowSeconds() + ctx_.options.delete_grace_seconds));
  return DeletedFile{id, true};
}

Result<File> FileService::GetForDownload(const std::string& project, const std::string& id,
                                         std::int64_t offset, std::int64_t length) {
  ASSIGN_OR_RETURN(File f, Unexpired(ctx_.meta.GetFileToRead(project, id, offset, length)));
  if (ctx_.options.restrict_downloads &&
      (f.purpose == "assistants" || f.purpose == "user_data" || f.purpose == "fine-tune" ||
       f.purpose == "evals")) {
    return InvalidArgument("Not allowed to download files of purpose: " + f.purpose);
  }
  return f;
}

Result<std::unique_ptr<BlobReader>> FileService::OpenSegments(const File& file,
                                                              std::int64_t offset,
                                                              std::int64_t length) {
  if (length < 0) length = file.bytes - offset;
  if (offset < 0 || length < 0 || offset + length > file.bytes) {
    return Status(StatusCode::kOutOfRange, "Requested range is outside the file");
  }
  std::vector<std::unique_ptr<BlobReader>> readers;
  std::int64_t seg_start = 0;
  const std::int64_t end = offset + length;
  for (const Segment& seg : file.segments) {
    const std::int64_t seg_end = seg_start + seg.bytes;
    if (seg_end > offset && seg_start < end && seg.bytes > 0) {
      const std::int64_t from = std::max(offset, seg_start) - seg_start;
      const std::int64_t to = std::min(end, seg_end) - seg_start;
      if (seg.blob_key.empty()) {
        return Status(StatusCode::kInternal,
                      "File " + file.id + " was read for another range than the one opened");
      }
      auto r = ctx_.blobs.NewReader(seg.blob_key, from, to - from);
      if (!r.ok()) {
        if (r.status().code() == StatusCode::kNotFound) {
          // The row exists but its bytes do not: deleted under us, or lost.
          return NoSuchFile(file.id);
        }
        return r.status();
      }
      readers.push_back(std::move(r).value());
    }
    seg_start = seg_end;
    if (seg_start >= end) break;
  }
  return std::unique_ptr<BlobReader>(new ConcatReader(std::move(readers), length));
}

Result<FileContent> FileService::OpenContent(const std::string& project, const std::string& id,
                                             std::int64_t offset, std::int64_t length) {
  ASSIGN_OR_RETURN(File f, GetForDownload(project, id, offset, length));
  if (length < 0) length = f.bytes - offset;
  ASSIGN_OR_RETURN(auto reader, OpenSegments(f, offset, length));
  return FileContent{std::move(f), offset, length, std::move(reader)};
}

}  // namespace fileport

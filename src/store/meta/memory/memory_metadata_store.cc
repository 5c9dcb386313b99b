// MemoryMetadataStore: each method takes the one mutex, checks everything, then changes the
// maps, so a failed call leaves nothing behind — the same all-or-nothing a SQL transaction
// gives, and the order of checks the SQL backends reproduce.
#include "store/meta/memory/memory_metadata_store.h"

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

#include "common/sizes.h"
#include "store/meta/store_errors.h"

namespace fileport {
namespace {

using namespace meta_errors;  // NOLINT: the shared texts of every backend

constexpr int kMaxListLimit = 10000;

Status AlreadyExists(std::string msg) { return Status(StatusCode::kAlreadyExists, std::move(msg)); }

}  // namespace

Status MemoryMetadataStore::Migrate() { return Status::Ok(); }
Status MemoryMetadataStore::Ping() { return Status::Ok(); }

void MemoryMetadataStore::AddGarbageLocked(const std::string& key, std::int64_t due_at) {
  auto [it, inserted] = garbage_.emplace(key, GarbageRow{due_at, false});
  // A leased row is left alone: its claimer is deleting the blob, or the lease runs out.
  if (!inserted && !it->second.leased) it->second.due_at = std::min(it->second.due_at, due_at);
}

bool MemoryMetadataStore::IntentAvailable(const std::string& key) const {
  auto it = garbage_.find(key);
  return it != garbage_.end() && !it->second.leased;
}

MemoryMetadataStore::UploadRow* MemoryMetadataStore::FindUpload(const std::string& project,
                                                                const std::string& id) {
  auto it = uploads_.find(id);
  if (it == uploads_.end() || it->second.upload.project != project) return nullptr;
  return &it->second;
}

std::vector<const MemoryMetadataStore::PartRow*> MemoryMetadataStore::PartsOf(
    const std::string& upload_id) const {
  std::vector<const PartRow*> out;
  for (const auto& [id, row] : parts_) {
    if (row.part.upload_id == upload_id) out.push_back(&row);
  }
  std::sort(out.begin(), out.end(), [](const PartRow* a, const PartRow* b) {
    return std::tie(a->part.created_at, a->seq) < std::tie(b->part.created_at, b->seq);
  });
  return out;
}

Status MemoryMetadataStore::AddGarbage(const std::vector<GarbageBlob>& blobs) {
  std::lock_guard lock(mu_);
  for (const GarbageBlob& b : blobs) AddGarbageLocked(b.blob_key, b.due_at);
  return Status::Ok();
}

Result<std::vector<std::string>> MemoryMetadataStore::ClaimGarbage(std::int64_t now, int limit,
                                                                   std::int64_t lease_until) {
  RETURN_IF_ERROR(CheckLimit(limit));
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::int64_t, std::string>> due;
  for (const auto& [key, row] : garbage_) {
    if (row.due_at <= now) due.emplace_back(row.due_at, key);
  }
  std::sort(due.begin(), due.end());  // oldest debts first, as the SQL backends do
  if (due.size() > static_cast<std::size_t>(limit)) due.resize(limit);
  std::vector<std::string> keys;
  for (auto& [due_at, key] : due) {
    GarbageRow& row = garbage_[key];
    row.leased = true;
    row.due_at = lease_until;
    keys.push_back(std::move(key));
  }
  return keys;
}

Status MemoryMetadataStore::ForgetGarbage(const std::vector<std::string>& keys) {
  std::lock_guard lock(mu_);
  for (const std::string& key : keys) garbage_.erase(key);
  return Status::Ok();
}

Status MemoryMetadataStore::InsertFile(const File& file, const Quota& quota) {
  std::lock_guard lock(mu_);
  if (files_.count(file.id)) return AlreadyExists("File " + file.id + " already exists");
  if (quota.limited()) {
    RETURN_IF_ERROR(CheckQuota(quota, UsageLocked(file.project), file.bytes, false));
  }
  std::set<std::string> keys;
  for (const Segment& s : file.segments) keys.insert(s.blob_key);
  for (const std::string& key : keys) {
    if (!IntentAvailable(key)) return IntentGone(key);
  }
  for (const std::string& key : keys) garbage_.erase(key);
  files_.emplace(file.id, file);
  return Status::Ok();
}

Result<File> MemoryMetadataStore::GetFile(const std::string& project, const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = files_.find(id);
  if (it == files_.end() || it->second.project != project) return FileNotFound(id);
  return it->second;
}

Result<Page<File>> MemoryMetadataStore::ListFiles(const FileQuery& q) {
  RETURN_IF_ERROR(CheckLimit(q.limit));
  if (q.limit > kMaxListLimit) return InvalidArgument("limit must be at most 10000", "limit");
  std::lock_guard lock(mu_);
  Page<File> page;
  auto wanted = [&](const File& f) {
    return f.project == q.project && (!q.purpose || f.purpose == *q.purpose) &&
           (!f.expires_at || *f.expires_at > q.now);
  };
  // Collects until one row past the page, which only tells has_more.
  auto take = [&](const File& f) {
    if (!wanted(f)) return true;
    if (page.data.size() == static_cast<std::size_t>(q.limit)) {
      page.has_more = true;
      return false;
    }
    page.data.push_back(f);
    return true;
  };
  if (q.ascending) {
    auto it = q.after ? files_.upper_bound(*q.after) : files_.begin();
    for (; it != files_.end(); ++it) {
      if (!take(it->second)) break;
    }
  } else {
    auto end = q.after ? files_.lower_bound(*q.after) : files_.end();
    for (auto it = std::make_reverse_iterator(end); it != files_.rend(); ++it) {
      if (!take(it->second)) break;
    }
  }
  return page;
}

Status MemoryMetadataStore::DeleteFile(const std::string& project, const std::string& id,
                                       std::int64_t garbage_due) {
  std::lock_guard lock(mu_);
  auto it = files_.find(id);
  if (it == files_.end() || it->second.project != project) return FileNotFound(id);
  for (const Segment& s : it->second.segments) AddGarbageLocked(s.blob_key, garbage_due);
  files_.erase(it);
  return Status::Ok();
}

Result<std::vector<File>> MemoryMetadataStore::ListExpiredFiles(std::int64_t now, int limit) {
  RETURN_IF_ERROR(CheckLimit(limit));
  std::lock_guard lock(mu_);
  std::vector<File> out;
  for (const auto& [id, f] : files_) {
    if (f.expires_at && *f.expires_at <= now) out.push_back(f);
  }
  std::sort(out.begin(), out.end(), [](const File& a, const File& b) {
    return std::tie(*a.expires_at, a.id) < std::tie(*b.expires_at, b.id);
  });
  if (out.size() > static_cast<std::size_t>(limit)) out.resize(limit);
  return out;
}

Status MemoryMetadataStore::InsertUpload(const Upload& upload, const Quota& quota) {
  std::lock_guard lock(mu_);
  if (uploads_.count(upload.id)) return AlreadyExists("Upload " + upload.id + " already exists");
  if (quota.limited()) {
    RETURN_IF_ERROR(CheckQuota(quota, UsageLocked(upload.project), upload.bytes, true));
  }
  UploadRow row{upload, 0};
  row.upload.file.reset();
  uploads_.emplace(upload.id, std::move(row));
  return Status::Ok();
}

ProjectUsage MemoryMetadataStore::UsageLocked(const std::string& project) const {
  ProjectUsage usage;
  for (const auto& [id, f] : files_) {
    if (f.project == project) usage.bytes += f.bytes;
  }
  for (const auto& [id, row] : uploads_) {
    if (row.upload.project == project && row.upload.status == UploadStatus::kPending) {
      usage.bytes += row.upload.bytes;
      ++usage.pending_uploads;
    }
  }
  return usage;
}

Result<ProjectUsage> MemoryMetadataStore::GetUsage(const std::string& project) {
  std::lock_guard lock(mu_);
  return UsageLocked(project);
}

Result<Upload> MemoryMetadataStore::GetUpload(const std::string& project, const std::string& id) {
  std::lock_guard lock(mu_);
  UploadRow* row = FindUpload(project, id);
  if (!row) return UploadNotFound(id);
  return row->upload;
}

Status MemoryMetadataStore::InsertPart(const UploadPart& part, std::int64_t now) {
  if (part.bytes < 0) return InvalidArgument("A part cannot have a negative size", "data");
  std::lock_guard lock(mu_);
  UploadRow* row = FindUpload(part.project, part.upload_id);
  if (!row) return UploadNotFound(part.upload_id);
  const Upload& u = row->upload;
  RETURN_IF_ERROR(PartRefusedByState(u.id, u.status, u.expires_at, now));
  if (row->received_bytes + part.bytes > MaxReceivedBytes(u.bytes)) {
    return PartsOverLimit(row->received_bytes, part.bytes, u.bytes);
  }
  if (parts_.count(part.id)) return AlreadyExists("Part " + part.id + " already exists");
  if (!IntentAvailable(part.blob_key)) return IntentGone(part.blob_key);
  garbage_.erase(part.blob_key);
  row->received_bytes += part.bytes;
  parts_.emplace(part.id, PartRow{part, next_part_seq_++});
  return Status::Ok();
}

Result<std::vector<UploadPart>> MemoryMetadataStore::ListParts(const std::string& project,
                                                               const std::string& upload_id) {
  std::lock_guard lock(mu_);
  if (!FindUpload(project, upload_id)) return UploadNotFound(upload_id);
  std::vector<UploadPart> out;
  for (const PartRow* row : PartsOf(upload_id)) out.push_back(row->part);
  return out;
}

Status MemoryMetadataStore::CompleteUpload(const std::string& project, const std::string& upload_id,
                                           const std::vector<std::string>& part_ids,
                                           const std::optional<std::string>& md5, const File& file,
                                           std::int64_t now, std::int64_t garbage_due) {
  std::lock_guard lock(mu_);
  UploadRow* row = FindUpload(project, upload_id);
  if (!row) return UploadNotFound(upload_id);
  Upload& u = row->upload;
  if (u.status != UploadStatus::kPending) {
    return Aborted("Upload " + u.id + " is " + std::string(UploadStatusName(u.status)));
  }
  if (now >= u.expires_at) return Aborted("Upload " + u.id + " has expired");

  // The store re-checks what the caller validated: a file pointing at a blob this call is
  // about to hand to the sweeper would lose data.
  std::map<std::string, const PartRow*> mine;
  for (const PartRow* p : PartsOf(upload_id)) mine.emplace(p->part.id, p);
  std::set<std::string> listed;
  std::vector<Segment> segments;
  std::int64_t sum = 0;
  for (const std::string& pid : part_ids) {
    auto it = mine.find(pid);
    if (it == mine.end()) {
      return InvalidArgument("Part " + pid + " does not belong to upload " + upload_id, "part_ids");
    }
    if (!listed.insert(pid).second) {
      return InvalidArgument("Part " + pid + " is listed more than once", "part_ids");
    }
    sum += it->second->part.bytes;
    segments.push_back({it->second->part.blob_key, it->second->part.bytes});
  }
  if (sum != u.bytes) {
    return InvalidArgument("The number of bytes uploaded (" + std::to_string(sum) +
                               ") does not match the expected number of bytes (" +
                               std::to_string(u.bytes) + ")",
                           "part_ids");
  }
  if (file.project != project || file.bytes != u.bytes || file.segments != segments) {
    return InvalidArgument("The file of upload " + upload_id + " does not match its listed parts");
  }
  if (files_.count(file.id)) return AlreadyExists("File " + file.id + " already exists");

  u.status = UploadStatus::kCompleted;
  u.file_id = file.id;
  u.part_ids = part_ids;
  u.md5 = md5;
  files_.emplace(file.id, file);
  for (const auto& [pid, p] : mine) {
    if (listed.count(pid)) continue;
    AddGarbageLocked(p->part.blob_key, garbage_due);
    row->received_bytes -= p->part.bytes;
    parts_.erase(pid);
  }
  return Status::Ok();
}

Result<Upload> MemoryMetadataStore::TransitionUpload(const std::string& project,
                                                     const std::string& id, UploadStatus from,
                                                     UploadStatus to, std::int64_t garbage_due) {
  if (from != UploadStatus::kPending ||
      (to != UploadStatus::kCancelled && to != UploadStatus::kExpired)) {
    // Any other move would hand a completed file's blobs to the sweeper.
    return InvalidArgument("An upload can only move from pending to cancelled or expired");
  }
  std::lock_guard lock(mu_);
  UploadRow* row = FindUpload(project, id);
  if (!row) return UploadNotFound(id);
  if (row->upload.status != from) {
    return Aborted("Upload " + id + " is " + std::string(UploadStatusName(row->upload.status)));
  }
  row->upload.status = to;
  for (const PartRow* p : PartsOf(id)) {
    AddGarbageLocked(p->part.blob_key, garbage_due);
    std::string pid = p->part.id;  // erase destroys the key `p` points into
    parts_.erase(pid);
  }
  row->received_bytes = 0;
  return row->upload;
}

Result<std::vector<Upload>> MemoryMetadataStore::ListExpiredUploads(std::int64_t now, int limit) {
  RETURN_IF_ERROR(CheckLimit(limit));
  std::lock_guard lock(mu_);
  std::vector<Upload> out;
  for (const auto& [id, row] : uploads_) {
    if (row.upload.status == UploadStatus::kPending && row.upload.expires_at <= now) {
      out.push_back(row.upload);
    }
  }
  std::sort(out.begin(), out.end(), [](const Upload& a, const Upload& b) {
    return std::tie(a.expires_at, a.id) < std::tie(b.expires_at, b.id);
  });
  if (out.size() > static_cast<std::size_t>(limit)) out.resize(limit);
  return out;
}

Status MemoryMetadataStore::InsertApiKey(const ApiKey& key) {
  std::lock_guard lock(mu_);
  if (api_keys_.count(key.id)) return AlreadyExists("API key " + key.id + " already exists");
  for (const auto& [id, k] : api_keys_) {
    if (k.secret_sha256_hex == key.secret_sha256_hex) {
      return AlreadyExists("An API key with this secret already exists");
    }
  }
  api_keys_.emplace(key.id, key);
  return Status::Ok();
}

Result<std::vector<ApiKey>> MemoryMetadataStore::ListApiKeys() {
  std::lock_guard lock(mu_);
  std::vector<ApiKey> out;
  for (const auto& [id, k] : api_keys_) out.push_back(k);
  std::sort(out.begin(), out.end(), [](const ApiKey& a, const ApiKey& b) {
    return std::tie(a.created_at, a.id) < std::tie(b.created_at, b.id);
  });
  return out;
}

Status MemoryMetadataStore::RevokeApiKey(const std::string& id, std::int64_t now) {
  std::lock_guard lock(mu_);
  auto it = api_keys_.find(id);
  if (it == api_keys_.end()) return NotFound("No such API key: " + id, "id");
  if (!it->second.revoked_at) it->second.revoked_at = now;
  return Status::Ok();
}

Result<ApiKey> MemoryMetadataStore::FindApiKey(const std::string& secret_sha256_hex) {
  std::lock_guard lock(mu_);
  for (const auto& [id, k] : api_keys_) {
    if (k.secret_sha256_hex == secret_sha256_hex) return k;
  }
  return NotFound("No API key has this secret");
}

Result<bool> MemoryMetadataStore::HasApiKeys() {
  std::lock_guard lock(mu_);
  return !api_keys_.empty();
}

}  // namespace fileport

// The domain errors every MetadataStore backend returns, with the exact texts (and params)
// the API sends, so that memory, SQLite and PostgreSQL answer alike.
#pragma once

#include <cstdint>
#include <string>

#include "common/sizes.h"
#include "common/status.h"
#include "model/objects.h"
#include "store/meta/metadata_store.h"

namespace fileport::meta_errors {

inline Status FileNotFound(const std::string& id) {
  return NotFound("No such File object: " + id, "id");
}

inline Status UploadNotFound(const std::string& id) {
  return NotFound("No such Upload object: " + id, "upload_id");
}

inline Status CheckLimit(int limit) {
  if (limit < 1) return InvalidArgument("limit must be at least 1", "limit");
  return Status::Ok();
}

inline Status IntentGone(const std::string& key) {
  return Aborted("The write intent of blob " + key + " was claimed by the sweeper");
}

// Why upload `id` (stored `status`, deadline `expires_at`) takes no part at `now`; OK when it
// still does.
inline Status PartRefusedByState(const std::string& id, UploadStatus status,
                                 std::int64_t expires_at, std::int64_t now) {
  switch (status) {
    case UploadStatus::kCompleted:
      return FailedPrecondition("Upload " + id + " has already been completed");
    case UploadStatus::kCancelled:
      return FailedPrecondition("Upload " + id + " has already been cancelled");
    case UploadStatus::kExpired:
      return FailedPrecondition("Upload " + id + " has expired");
    case UploadStatus::kPending:
      break;
  }
  if (now >= expires_at) return FailedPrecondition("Upload " + id + " has expired");
  return Status::Ok();
}

// A part that would take the upload past MaxReceivedBytes (common/sizes.h).
inline Status PartsOverLimit(std::int64_t received, std::int64_t part_bytes,
                             std::int64_t upload_bytes) {
  return Status(StatusCode::kOutOfRange,
                "The parts received so far (" + std::to_string(received) +
                    " bytes) plus this part (" + std::to_string(part_bytes) +
                    " bytes) exceed twice the upload's " + std::to_string(upload_bytes) +
                    " bytes",
                "data");
}

// Why adding `add_bytes` (and, for an upload, one more pending upload) to a project using
// `usage` breaks `quota`; OK when it does not. The code is OpenAI's for a 429 that retrying
// will not fix (the answer also says x-should-retry: false).
inline Status CheckQuota(const Quota& quota, const ProjectUsage& usage, std::int64_t add_bytes,
                         bool new_upload) {
  if (quota.max_bytes > 0 && usage.bytes + add_bytes > quota.max_bytes) {
    return Status(StatusCode::kResourceExhausted,
                  "Storage quota exceeded: this project stores " + FormatBytes(usage.bytes) +
                      " of its " + FormatBytes(quota.max_bytes) + " limit (files and pending "
                      "uploads), and this request needs " + FormatBytes(add_bytes) +
                      " more. Delete files or cancel uploads to make room.",
                  "", "insufficient_quota");
  }
  if (new_upload && quota.max_pending_uploads > 0 &&
      usage.pending_uploads + 1 > quota.max_pending_uploads) {
    return Status(StatusCode::kResourceExhausted,
                  "Too many pending uploads: this project has " +
                      std::to_string(usage.pending_uploads) + " of its limit of " +
                      std::to_string(quota.max_pending_uploads) +
                      ". Complete or cancel uploads before creating more.",
                  "", "insufficient_quota");
  }
  return Status::Ok();
}

}  // namespace fileport::meta_errors

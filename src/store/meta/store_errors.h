// The domain errors every MetadataStore backend returns, with the exact texts (and params)
// the API sends, so that memory, SQLite and PostgreSQL answer alike.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "model/objects.h"

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

}  // namespace fileport::meta_errors

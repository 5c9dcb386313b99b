// Small helpers over the API objects.
#include "model/objects.h"

#include <algorithm>

namespace fileport {

std::string_view UploadStatusName(UploadStatus s) {
  switch (s) {
    case UploadStatus::kPending: return "pending";
    case UploadStatus::kCompleted: return "completed";
    case UploadStatus::kCancelled: return "cancelled";
    case UploadStatus::kExpired: return "expired";
  }
  return "pending";
}

std::optional<UploadStatus> ParseUploadStatus(std::string_view s) {
  if (s == "pending") return UploadStatus::kPending;
  if (s == "completed") return UploadStatus::kCompleted;
  if (s == "cancelled") return UploadStatus::kCancelled;
  if (s == "expired") return UploadStatus::kExpired;
  return std::nullopt;
}

bool IsCreatePurpose(std::string_view purpose) {
  return std::find(std::begin(kCreatePurposes), std::end(kCreatePurposes), purpose) !=
         std::end(kCreatePurposes);
}

}  // namespace fileport

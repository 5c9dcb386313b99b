// Stateless request rules.
#include "core/validation.h"

#include <cctype>

#include "common/sizes.h"
#include "model/objects.h"

namespace fileport {

Status ValidatePurpose(std::string_view purpose) {
  if (IsCreatePurpose(purpose)) return Status::Ok();
  std::string list;
  for (auto p : kCreatePurposes) {
    if (!list.empty()) list += ", ";
    list += "'" + std::string(p) + "'";
  }
  return InvalidArgument("'" + std::string(purpose) + "' is not one of [" + list + "] - 'purpose'",
                         "purpose");
}

Status ValidateExpiresAfter(const ExpiresAfter& e) {
  if (e.anchor != "created_at") {
    return InvalidArgument("'" + e.anchor + "' is not one of ['created_at'] - 'expires_after.anchor'",
                           "expires_after.anchor");
  }
  if (e.seconds < kMinExpiresAfterSeconds || e.seconds > kMaxExpiresAfterSeconds) {
    return InvalidArgument("expires_after.seconds must be between 3600 and 2592000, got " +
                               std::to_string(e.seconds),
                           "expires_after.seconds");
  }
  return Status::Ok();
}

Status ValidateFileFormat(std::string_view purpose, std::string_view filename) {
  const bool jsonl = filename.size() >= 6 && filename.ends_with(".jsonl");
  if (purpose == "fine-tune" && !jsonl) {
    return InvalidArgument("Invalid file format for Fine-Tuning API. Must be .jsonl", "file");
  }
  if (purpose == "batch" && !jsonl) {
    return InvalidArgument("Invalid file format for Batch API. Must be .jsonl", "file");
  }
  return Status::Ok();
}

Result<std::string> NormalizeMd5(std::string_view md5) {
  if (md5.size() != 32) {
    return InvalidArgument("md5 must be 32 hexadecimal characters", "md5");
  }
  std::string out(md5);
  for (char& c : out) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return InvalidArgument("md5 must be 32 hexadecimal characters", "md5");
    }
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::optional<std::int64_t> FileExpiry(std::string_view purpose,
                                       const std::optional<ExpiresAfter>& e,
                                       std::int64_t created_at) {
  if (e) return created_at + e->seconds;
  if (purpose == "batch") return created_at + kBatchDefaultExpirySeconds;
  return std::nullopt;
}

Status MissingField(std::string_view field) {
  return InvalidArgument("'" + std::string(field) + "' is a required property", std::string(field));
}

}  // namespace fileport

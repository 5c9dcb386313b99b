// The request rules of the Files and Uploads APIs that do not depend on stored state:
// purposes, expiry settings, file formats, md5 and list parameters (API.md §3, §5).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace fileport {

struct ExpiresAfter {
  std::string anchor;      // must be "created_at"
  std::int64_t seconds = 0;  // 3600 … 2592000
};

// '<value>' is not one of [...] - 'purpose'
Status ValidatePurpose(std::string_view purpose);
Status ValidateExpiresAfter(const ExpiresAfter& e);
// batch / fine-tune need a .jsonl filename.
Status ValidateFileFormat(std::string_view purpose, std::string_view filename);
// 32 hex digits, any case → lowercase; else InvalidArgument param "md5".
Result<std::string> NormalizeMd5(std::string_view md5);
// The expiry of a file created now with this purpose and setting (batch: 30 days default).
std::optional<std::int64_t> FileExpiry(std::string_view purpose,
                                       const std::optional<ExpiresAfter>& e,
                                       std::int64_t created_at);
// "'<field>' is a required property"
Status MissingField(std::string_view field);

}  // namespace fileport

// Byte sizes in binary units, and the limits of the Files and Uploads APIs (API.md §1, §3).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fileport {

inline constexpr std::int64_t kKiB = 1024;
inline constexpr std::int64_t kMiB = 1024 * kKiB;
inline constexpr std::int64_t kGiB = 1024 * kMiB;

inline constexpr std::int64_t kMaxFileBytes = 512 * kMiB;       // POST /v1/files
inline constexpr std::int64_t kMaxBatchFileBytes = 200 * kMiB;  // purpose=batch input
inline constexpr std::int64_t kMaxUploadBytes = 8 * kGiB;       // POST /v1/uploads
inline constexpr std::int64_t kMaxPartBytes = 64 * kMiB;        // one part's payload
inline constexpr std::int64_t kUploadLifetimeSeconds = 3600;    // an Upload expires after 1 h
inline constexpr std::int64_t kBatchDefaultExpirySeconds = 30 * 24 * 3600;
inline constexpr std::int64_t kMinExpiresAfterSeconds = 3600;
inline constexpr std::int64_t kMaxExpiresAfterSeconds = 2592000;

// Parses "64MiB", "64MB" (binary, as API.md says), "1GiB", "512k", "1048576". nullopt on junk.
std::optional<std::int64_t> ParseByteSize(std::string_view text);

// "64.0 MiB", "1.5 GiB", "512 B".
std::string FormatBytes(std::int64_t bytes);

}  // namespace fileport

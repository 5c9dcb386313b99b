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
inline constexpr std::int64_t kTiB = 1024 * kGiB;

inline constexpr std::int64_t kMaxFileBytes = 512 * kMiB;       // POST /v1/files
inline constexpr std::int64_t kMaxBatchFileBytes = 200 * kMiB;  // purpose=batch input
inline constexpr std::int64_t kMaxUploadBytes = 8 * kGiB;       // POST /v1/uploads
inline constexpr std::int64_t kMaxPartBytes = 64 * kMiB;        // one part's payload
inline constexpr std::int64_t kUploadLifetimeSeconds = 3600;    // an Upload expires after 1 h
inline constexpr std::int64_t kBatchDefaultExpirySeconds = 30 * 24 * 3600;
inline constexpr std::int64_t kMinExpiresAfterSeconds = 3600;
inline constexpr std::int64_t kMaxExpiresAfterSeconds = 2592000;

// A pending upload accepts parts until they total twice its declared bytes. The slack lets a
// client send a part again when the answer to a stored copy was lost (a dropped connection, a
// killed process resuming); the copy left out of `part_ids` is discarded at completion
// (API.md: "parts received but not listed are discarded"). The bound keeps one upload from
// holding more than that.
inline constexpr std::int64_t MaxReceivedBytes(std::int64_t upload_bytes) {
  return 2 * upload_bytes;
}

// Parses "64MiB", "64MB" (binary, as API.md says), "1GiB", "2TiB", "512k", "1048576". nullopt
// on junk, and on sizes past 2^63 - 1 bytes.
std::optional<std::int64_t> ParseByteSize(std::string_view text);

// "512 B", "64.0 MiB", "1.50 GiB", "2.00 TiB".
std::string FormatBytes(std::int64_t bytes);

}  // namespace fileport

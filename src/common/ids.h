// Object identifiers: `file-…`, `upload_…`, `part_…` followed by 24 URL-safe characters.
//
// The 24 characters are 7 characters of creation time (42-bit milliseconds) and 17 random
// characters (102 bits), written in an alphabet whose ASCII order equals its value order
// ("-0-9A-Z_a-z"). So ids of one kind sort by creation time: the newest-first listing is
// `ORDER BY id DESC`, and a keyset cursor is the id itself, which keeps working after the
// object behind it was deleted. Random characters come from the OS CSPRNG.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.h"

namespace fileport {

inline constexpr std::string_view kFilePrefix = "file-";
inline constexpr std::string_view kUploadPrefix = "upload_";
inline constexpr std::string_view kPartPrefix = "part_";
inline constexpr std::string_view kKeyIdPrefix = "key_";
inline constexpr std::size_t kIdBodyLength = 24;

class IdGenerator {
 public:
  explicit IdGenerator(const Clock& clock) : clock_(clock) {}
  virtual ~IdGenerator() = default;
  // prefix + 7 time characters + 17 random characters. Thread-safe.
  virtual std::string NewId(std::string_view prefix) const;

 private:
  const Clock& clock_;
};

// `n` characters from the sortable URL-safe alphabet, from the OS CSPRNG. Thread-safe.
std::string RandomToken(std::size_t n);

// `n` bytes from the OS CSPRNG, hex-encoded (2n characters).
std::string RandomHex(std::size_t n);

// "req_" and 32 lowercase hex digits: a request's id, for logs and the x-request-id header.
// Unique, not secret (an id grants nothing): each thread draws from its own generator, seeded
// from the OS CSPRNG once, so a request costs no CSPRNG call and no lock. Thread-safe.
std::string NewRequestId();

// True when `id` is `prefix` followed by exactly 24 characters of the id alphabet.
bool IsWellFormedId(std::string_view id, std::string_view prefix);

}  // namespace fileport

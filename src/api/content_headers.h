// HTTP header values for downloads: Range parsing (RFC 9110 §14), Content-Disposition
// (RFC 6266 with an RFC 8187 filename*), and a safe Content-Type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fileport {

struct ByteRange {
  std::int64_t offset = 0;
  std::int64_t length = 0;
};

enum class RangeKind { kNone, kSatisfiable, kUnsatisfiable };
struct ParsedRange {
  RangeKind kind = RangeKind::kNone;
  ByteRange range;
};

// Parses a Range header against an object of `size` bytes. Only a single `bytes=` range is
// honoured; anything else (other units, several ranges, junk) is ignored (kNone → 200 with
// the whole body), as RFC 9110 allows.
ParsedRange ParseRange(std::string_view header, std::int64_t size);

// The bytes a Range header can select from an object of any size, for reading the object
// before its size is known: {first, last - first + 1} for `bytes=first-last`, {first, -1}
// (to the end) for `bytes=first-`, and the whole object, {0, -1}, for a suffix range (which
// depends on the size) and for a header ParseRange ignores. Whatever ParseRange selects once
// the size is known lies within it.
ByteRange RangeBound(std::string_view header);

// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>`. The
// fallback replaces quotes, backslashes, control and non-ASCII characters with '_'.
std::string ContentDisposition(std::string_view filename);

// The stored MIME type if it is a plausible `type/subtype` token, else
// application/octet-stream (OpenAI's examples send "txt" as a mime_type).
std::string SafeContentType(std::string_view mime_type);

}  // namespace fileport

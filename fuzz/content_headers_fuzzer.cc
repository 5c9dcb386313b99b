// Fuzzes the download header helpers (api/content_headers.h): the Range header as a client
// sends it, and the Content-Disposition and Content-Type built from a stored filename and
// mime type (both chosen by whoever uploaded the file).
//
// Input: the whole input is the Range header value, the filename and the mime type at once.
// Checks:
// - ParseRange, against object sizes 0, 1, 2, 1000, 2^40 and INT64_MAX: a satisfiable range
//   lies inside the object (0 <= offset, 1 <= length, offset + length <= size, no overflow);
//   nothing but a "bytes=" value is honoured; a range over a bigger object never becomes
//   unsatisfiable where a smaller one was satisfiable.
// - ContentDisposition: printable ASCII only (no header injection, no obs-text), the quoted
//   fallback holds no '"' or '\', and the filename* value percent-decodes to the filename.
// - SafeContentType: the mime type unchanged or application/octet-stream, printable ASCII,
//   at most 127 characters.
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "api/content_headers.h"
#include "fuzz/check.h"

namespace fileport {
namespace {

bool PrintableAscii(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void CheckRange(std::string_view header) {
  static constexpr std::int64_t kSizes[] = {0, 1, 2, 1000, std::int64_t{1} << 40,
                                            std::numeric_limits<std::int64_t>::max()};
  bool satisfiable_before = false;
  for (std::int64_t size : kSizes) {
    ParsedRange r = ParseRange(header, size);
    const std::string what = std::string(header) + " size " + std::to_string(size);
    if (r.kind == RangeKind::kSatisfiable) {
      FUZZ_CHECK(r.range.offset >= 0 && r.range.length >= 1, what);
      FUZZ_CHECK(r.range.offset < size && r.range.length <= size - r.range.offset, what);
      satisfiable_before = true;
    } else if (r.kind == RangeKind::kUnsatisfiable) {
      FUZZ_CHECK(!satisfiable_before, what);
    }
    if (r.kind != RangeKind::kNone) {
      std::string_view h = header;
      while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) h.remove_prefix(1);
      FUZZ_CHECK(h.substr(0, 6) == "bytes=", what);
    }
  }
}

void CheckDisposition(std::string_view filename) {
  const std::string v = ContentDisposition(filename);
  FUZZ_CHECK(PrintableAscii(v), v);
  constexpr std::string_view kHead = "attachment; filename=\"";
  constexpr std::string_view kExt = "\"; filename*=UTF-8''";
  FUZZ_CHECK(v.substr(0, kHead.size()) == kHead, v);
  const std::size_t ext = v.find(kExt, kHead.size());
  FUZZ_CHECK(ext != std::string::npos, v);
  const std::string_view fallback = std::string_view(v).substr(kHead.size(), ext - kHead.size());
  FUZZ_CHECK(fallback.find_first_of("\"\\") == std::string_view::npos, v);
  FUZZ_CHECK(fallback.size() == filename.size(), v);
  const std::string_view encoded = std::string_view(v).substr(ext + kExt.size());
  std::string decoded;
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] != '%') {
      // RFC 8187 attr-char only
      FUZZ_CHECK(std::string_view("!#$&+-.^_`|~").find(encoded[i]) != std::string_view::npos ||
                     (encoded[i] >= '0' && encoded[i] <= '9') ||
                     (encoded[i] >= 'a' && encoded[i] <= 'z') ||
                     (encoded[i] >= 'A' && encoded[i] <= 'Z'),
                 v);
      decoded.push_back(encoded[i]);
      continue;
    }
    FUZZ_CHECK(i + 2 < encoded.size() && Hex(encoded[i + 1]) >= 0 && Hex(encoded[i + 2]) >= 0, v);
    decoded.push_back(static_cast<char>(Hex(encoded[i + 1]) * 16 + Hex(encoded[i + 2])));
    i += 2;
  }
  FUZZ_CHECK(decoded == filename, v);
}

void CheckContentType(std::string_view mime) {
  const std::string v = SafeContentType(mime);
  FUZZ_CHECK(v == mime || v == "application/octet-stream", v);
  FUZZ_CHECK(PrintableAscii(v) && v.size() <= 127, v);
  FUZZ_CHECK(v.find('/') != std::string::npos, v);
}

}  // namespace
}  // namespace fileport

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  fileport::CheckRange(input);
  fileport::CheckDisposition(input);
  fileport::CheckContentType(input);
  return 0;
}

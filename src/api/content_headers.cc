// Download header helpers.
#include "api/content_headers.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace fileport {
namespace {

std::optional<std::int64_t> ParseNonNegative(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$&^_.+-").find(c) != std::string_view::npos;
}

// A single `bytes=` range as written: `first-last`, `first-` (no last) or `-suffix` (no
// first, `last` is the suffix's length); nullopt for anything ParseRange ignores.
struct RangeSpec {
  std::optional<std::int64_t> first;
  std::optional<std::int64_t> last;
};

std::optional<RangeSpec> ParseRangeSpec(std::string_view header) {
  header = Trim(header);
  if (header.size() < 6 || header.substr(0, 6) != "bytes=") return std::nullopt;
  std::string_view spec = Trim(header.substr(6));
  if (spec.find(',') != std::string_view::npos) return std::nullopt;
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const std::string_view first = Trim(spec.substr(0, dash));
  const std::string_view last = Trim(spec.substr(dash + 1));
  RangeSpec out;
  if (!first.empty()) {
    out.first = ParseNonNegative(first);
    if (!out.first) return std::nullopt;
  }
  if (!last.empty() || first.empty()) {
    out.last = ParseNonNegative(last);
    if (!out.last || (out.first && *out.last < *out.first)) return std::nullopt;
  }
  return out;
}

}  // namespace

ParsedRange ParseRange(std::string_view header, std::int64_t size) {
  const std::optional<RangeSpec> spec = ParseRangeSpec(header);
  if (!spec) return {};
  if (!spec->first) {  // suffix range: the last N bytes
    const std::int64_t n = *spec->last;
    if (n == 0 || size == 0) return {RangeKind::kUnsatisfiable, {}};
    const std::int64_t len = std::min(n, size);
    return {RangeKind::kSatisfiable, {size - len, len}};
  }
  const std::int64_t a = *spec->first;
  if (a >= size) return {RangeKind::kUnsatisfiable, {}};
  const std::int64_t end = spec->last ? std::min(*spec->last, size - 1) : size - 1;
  return {RangeKind::kSatisfiable, {a, end - a + 1}};
}

ByteRange RangeBound(std::string_view header) {
  const std::optional<RangeSpec> spec = ParseRangeSpec(header);
  if (!spec || !spec->first) return {0, -1};
  if (!spec->last) return {*spec->first, -1};
  return {*spec->first, *spec->last - *spec->first + 1};
}

std::string ContentDisposition(std::string_view filename) {
  std::string ascii;
  std::string encoded;
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : filename) {
    const bool printable = c >= 0x20 && c < 0x7f;
    ascii.push_back(printable && c != '"' && c != '\\' ? static_cast<char>(c) : '_');
    // RFC 8187 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~"
    if (std::isalnum(c) || std::string_view("!#$&+-.^_`|~").find(static_cast<char>(c)) !=
                               std::string_view::npos) {
      encoded.push_back(static_cast<char>(c));
    } else {
      encoded.push_back('%');
      encoded.push_back(kHex[c >> 4]);
      encoded.push_back(kHex[c & 15]);
    }
  }
  return "attachment; filename=\"" + ascii + "\"; filename*=UTF-8''" + encoded;
}

std::string SafeContentType(std::string_view mime) {
  const auto slash = mime.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == mime.size() ||
      mime.size() > 127) {
    return "application/octet-stream";
  }
  // Allow parameters (`; charset=utf-8`) but nothing that could split a header.
  const auto semi = mime.find(';');
  std::string_view type = mime.substr(0, semi);
  for (char c : type) {
    if (c != '/' && !IsTokenChar(c)) return "application/octet-stream";
  }
  if (type.find('/', slash + 1) != std::string_view::npos) return "application/octet-stream";
  for (char c : mime) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return "application/octet-stream";
    }
  }
  return std::string(mime);
}

}  // namespace fileport

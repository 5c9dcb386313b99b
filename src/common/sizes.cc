// Parsing and printing byte sizes.
#include "common/sizes.h"

#include <cctype>
#include <charconv>
#include <cstdio>

namespace fileport {

std::optional<std::int64_t> ParseByteSize(std::string_view text) {
  std::int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || value < 0 || ptr == text.data()) return std::nullopt;
  std::string unit;
  for (const char* p = ptr; p != text.data() + text.size(); ++p) {
    if (*p == ' ') continue;
    unit.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(*p))));
  }
  std::int64_t mult = 1;
  if (unit.empty() || unit == "b") {
    mult = 1;
  } else if (unit == "k" || unit == "kb" || unit == "kib") {
    mult = kKiB;
  } else if (unit == "m" || unit == "mb" || unit == "mib") {
    mult = kMiB;
  } else if (unit == "g" || unit == "gb" || unit == "gib") {
    mult = kGiB;
  } else if (unit == "t" || unit == "tb" || unit == "tib") {
    mult = kTiB;
  } else {
    return std::nullopt;
  }
  if (value > INT64_MAX / mult) return std::nullopt;
  return value * mult;
}

std::string FormatBytes(std::int64_t bytes) {
  char buf[64];
  if (bytes < kKiB) {
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  } else if (bytes < kMiB) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(bytes) / kKiB);
  } else if (bytes < kGiB) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / kMiB);
  } else if (bytes < kTiB) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / kGiB);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f TiB", static_cast<double>(bytes) / kTiB);
  }
  return buf;
}

}  // namespace fileport

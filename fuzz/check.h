// FUZZ_CHECK: what must hold for every input. A broken rule prints what was checked and
// aborts, which libFuzzer reports as a crash and saves the input that caused it.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace fileport::fuzz {

[[noreturn]] inline void CheckFailed(const char* expr, std::string_view what, const char* file,
                                     int line) {
  std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: %.*s\n", file, line, expr,
               static_cast<int>(std::min<std::size_t>(what.size(), 2000)), what.data());
  std::abort();
}

}  // namespace fileport::fuzz

// `what` (anything convertible to std::string_view) is evaluated only on failure.
#define FUZZ_CHECK(cond, what)                                                  \
  do {                                                                          \
    if (!(cond)) ::fileport::fuzz::CheckFailed(#cond, (what), __FILE__, __LINE__); \
  } while (0)

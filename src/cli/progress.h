// A one-line progress bar on stderr for long transfers: percent, bytes, rate and time left.
//
//    42% [==========>              ] 430.1 MiB / 1.00 GiB  512.3 MiB/s  ETA 0:01
//
// Drawn only when enabled (the CLI enables it when stderr is a terminal and output is not
// JSON), at most ten times a second; Update may be called from any thread, never
// concurrently (the client library serializes its progress callbacks).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace fileport::cli {

class ProgressBar {
 public:
  // `already`: bytes done before this run (a resumed transfer); they count toward the
  // percentage but not the rate.
  ProgressBar(bool enabled, std::int64_t total, std::int64_t already = 0);
  void Update(std::int64_t done);
  // Draws the final state and ends the line (when anything was drawn).
  void Finish();

  // The line for `done` bytes after `seconds` (exposed for tests).
  static std::string Render(std::int64_t done, std::int64_t total, std::int64_t already,
                            double seconds, int width);

 private:
  bool enabled_;
  std::int64_t total_;
  std::int64_t already_;
  std::int64_t done_ = 0;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  void Draw();
};

}  // namespace fileport::cli

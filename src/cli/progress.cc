// ProgressBar implementation.
#include "cli/progress.h"

#include <algorithm>
#include <cstdio>

#include "common/sizes.h"

namespace fileport::cli {

ProgressBar::ProgressBar(bool enabled, std::int64_t total, std::int64_t already)
    : enabled_(enabled),
      total_(total),
      already_(already),
      done_(already),
      start_(std::chrono::steady_clock::now()) {}

void ProgressBar::Update(std::int64_t done) {
  done_ = done;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  Draw();
}

void ProgressBar::Finish() {
  if (!enabled_) return;
  Draw();
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

void ProgressBar::Draw() {
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string line = Render(done_, total_, already_, seconds, 28);
  std::fprintf(stderr, "\r%s\x1b[K", line.c_str());  // \x1b[K: clear the rest of the line
  std::fflush(stderr);
  drawn_ = true;
}

std::string ProgressBar::Render(std::int64_t done, std::int64_t total, std::int64_t already,
                                double seconds, int width) {
  const double fraction =
      total > 0 ? std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0)
                : 1.0;
  const int filled = static_cast<int>(fraction * width);
  std::string bar(static_cast<std::size_t>(width), ' ');
  for (int i = 0; i < filled; ++i) bar[static_cast<std::size_t>(i)] = '=';
  if (filled < width) bar[static_cast<std::size_t>(filled)] = '>';

  char buf[200];
  const double rate = seconds > 0.05 ? static_cast<double>(done - already) / seconds : 0;
  std::string rate_text = rate > 0 ? FormatBytes(static_cast<std::int64_t>(rate)) + "/s" : "-";
  std::string eta = "-";
  if (done >= total) {
    eta = "done";
  } else if (rate > 0) {
    auto left = static_cast<std::int64_t>(static_cast<double>(total - done) / rate + 0.5);
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(left / 60),
                  static_cast<long long>(left % 60));
    eta = buf;
  }
  std::snprintf(buf, sizeof buf, "%3d%% [%s] %s / %s  %s  ETA %s",
                static_cast<int>(fraction * 100), bar.c_str(), FormatBytes(done).c_str(),
                FormatBytes(total).c_str(), rate_text.c_str(), eta.c_str());
  return buf;
}

}  // namespace fileport::cli

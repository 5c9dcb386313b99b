// Process-wide counters exposed at GET /metrics in the Prometheus text format.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace fileport {

struct Metrics {
  std::atomic<std::int64_t> requests_total{0};
  std::array<std::atomic<std::int64_t>, 6> responses_by_class{};  // index = status / 100
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<std::int64_t> connections_open{0};
  std::atomic<std::int64_t> connections_total{0};
  std::atomic<std::int64_t> bytes_received{0};
  std::atomic<std::int64_t> bytes_sent{0};
  std::atomic<std::int64_t> parts_stored{0};
  std::atomic<std::int64_t> files_created{0};
  std::atomic<std::int64_t> uploads_completed{0};
  std::atomic<std::int64_t> rate_limited{0};
  std::atomic<std::int64_t> io_buffers_in_use{0};  // held by requests moving a body
  std::atomic<std::int64_t> io_buffers_idle{0};    // kept for the next ones

  void CountResponse(int status) {
    if (status >= 100 && status < 600) ++responses_by_class[status / 100];
  }
  std::string Render() const;
};

}  // namespace fileport

// Prometheus rendering of the counters.
#include "api/metrics.h"

#include <fmt/format.h>

namespace fileport {

std::string Metrics::Render() const {
  std::string out;
  auto counter = [&](const char* name, const char* help, std::int64_t v, const char* type) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, v);
  };
  counter("fileport_requests_total", "HTTP requests received.", requests_total.load(), "counter");
  out += "# HELP fileport_responses_total HTTP responses by status class.\n"
         "# TYPE fileport_responses_total counter\n";
  for (int c = 1; c <= 5; ++c) {
    out += fmt::format("fileport_responses_total{{class=\"{}xx\"}} {}\n", c,
                       responses_by_class[c].load());
  }
  counter("fileport_requests_in_flight", "Requests being served.", in_flight.load(), "gauge");
  counter("fileport_connections_open", "Open client connections.", connections_open.load(),
          "gauge");
  counter("fileport_connections_total", "Accepted connections.", connections_total.load(),
          "counter");
  counter("fileport_received_bytes_total", "Request body bytes received.", bytes_received.load(),
          "counter");
  counter("fileport_sent_bytes_total", "Response body bytes sent.", bytes_sent.load(), "counter");
  counter("fileport_parts_stored_total", "Upload parts stored.", parts_stored.load(), "counter");
  counter("fileport_files_created_total", "Files created (POST /v1/files).", files_created.load(),
          "counter");
  counter("fileport_uploads_completed_total", "Uploads completed.", uploads_completed.load(),
          "counter");
  counter("fileport_rate_limited_total", "Requests refused by the per-project rate limit.",
          rate_limited.load(), "counter");
  counter("fileport_io_buffers_in_use", "Body and download buffers held by requests.",
          io_buffers_in_use.load(), "gauge");
  counter("fileport_io_buffers_idle", "Body and download buffers kept for the next requests.",
          io_buffers_idle.load(), "gauge");
  return out;
}

}  // namespace fileport

// Internal: what every resource of a Client shares — the resolved configuration, the retry
// loop of the official SDKs, and the mapping of non-2xx answers to ApiError.
//
// Thread-safe: Send may be called from many threads at once (each call uses its own curl
// handle); a Core is immutable after construction and shared (shared_ptr) by the Client, its
// resources and any asynchronous task still running.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "client/error.h"
#include "client/file_input.h"
#include "client/options.h"
#include "client/transport.h"

namespace fileport::client::internal {

class Core {
 public:
  // `options` must already be resolved (environment applied) and base_url set.
  Core(const ClientOptions& options, std::string base_url);

  // Sends `request`, retrying as the SDKs do; a 2xx answer is a value, anything else an
  // ApiError with the envelope's fields, the status and x-request-id.
  Result<HttpResponse> Send(const HttpRequest& request) const;

  // The delay before retry number `retry` (0-based) after `response` (null: a transport error).
  static std::chrono::milliseconds RetryDelay(int retry, const HttpResponse* response);
  // Whether a response should be retried (status and x-should-retry).
  static bool ShouldRetry(const HttpResponse& response);

  const TransportConfig& transport() const { return transport_; }
  int max_retries() const { return max_retries_; }

 private:
  TransportConfig transport_;
  int max_retries_;
};

// The request body for `input` (a file part's bytes).
Result<BodySource> SourceFor(const FileInput& input);

// Parses a 2xx JSON body with a model/wire.h parser; InvalidResponse when it does not parse.
template <class T, class Parser>
Result<T> ParseBody(const HttpResponse& response, Parser parser) {
  auto parsed = parser(response.body);
  if (!parsed.ok()) return InvalidResponse(response, parsed.status());
  return std::move(parsed).value();
}

// The ApiError of a non-2xx answer.
ApiError ErrorFromResponse(const HttpResponse& response);
// An InvalidResponse error for a 2xx body the wire parser rejected.
ApiError InvalidResponse(const HttpResponse& response, const Status& parse_status);

}  // namespace fileport::client::internal

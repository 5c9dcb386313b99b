// The SDKs' retry loop and the non-2xx → ApiError mapping.
#include "client/core.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <random>
#include <thread>

#include "model/wire.h"

namespace fileport::client::internal {
namespace {

double Jitter() {  // in [0.75, 1], as the SDKs: 1 - 0.25 * random()
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return 1.0 - 0.25 * std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// The server's requested delay in milliseconds, when it is sensible (0 < d <= 60 s).
std::optional<double> ServerDelayMs(const HttpResponse& r) {
  std::optional<double> ms;
  if (auto v = r.Header("retry-after-ms"); !v.empty()) {
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (end != v.c_str()) ms = d;
  }
  if (!ms) {
    if (auto v = r.Header("retry-after"); !v.empty()) {
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (end != v.c_str() && *end == '\0') {
        ms = d * 1000.0;
      } else if (auto t = ParseHttpDate(v)) {
        ms = static_cast<double>(*t - static_cast<std::int64_t>(std::time(nullptr))) * 1000.0;
      }
    }
  }
  if (ms && *ms > 0 && *ms <= 60'000) return ms;
  return std::nullopt;
}

}  // namespace

Core::Core(const ClientOptions& options, std::string base_url)
    : max_retries_(std::max(0, options.max_retries)) {
  while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
  transport_.base_url = std::move(base_url);
  transport_.timeout = options.timeout;
  auto& h = transport_.headers;
  if (options.api_key && !options.api_key->empty()) {
    h.push_back("Authorization: Bearer " + *options.api_key);
  }
  if (options.organization) h.push_back("OpenAI-Organization: " + *options.organization);
  if (options.project) h.push_back("OpenAI-Project: " + *options.project);
  h.push_back("Accept: application/json");
  h.push_back("User-Agent: fileport-cpp/0.1.0");
  for (const auto& [name, value] : options.default_headers) h.push_back(name + ": " + value);
}

bool Core::ShouldRetry(const HttpResponse& r) {
  std::string should = r.Header("x-should-retry");
  if (should == "true") return true;
  if (should == "false") return false;
  return r.status == 408 || r.status == 409 || r.status == 429 || r.status >= 500;
}

std::chrono::milliseconds Core::RetryDelay(int retry, const HttpResponse* response) {
  if (response != nullptr) {
    if (auto ms = ServerDelayMs(*response)) {
      return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(*ms)));
    }
  }
  double seconds = std::min(0.5 * std::pow(2.0, retry), 8.0) * Jitter();
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
}

Result<HttpResponse> Core::Send(const HttpRequest& request) const {
  for (int attempt = 0;; ++attempt) {
    auto r = PerformOnce(transport_, request);
    bool last = attempt >= max_retries_;
    if (r.ok() && r->status >= 200 && r->status < 300) return r;
    bool retry = false;
    if (r.ok()) {
      retry = !last && ShouldRetry(*r);
    } else {
      auto kind = r.error().kind;
      retry = !last && (kind == ErrorKind::kConnection || kind == ErrorKind::kTimeout);
    }
    // Bytes already handed to a streaming sink must be taken back before trying again.
    if (retry && request.sink != nullptr && r.ok() == false && !request.sink->Restart()) {
      retry = false;
    }
    if (!retry) {
      if (!r.ok()) return r.error();
      return ErrorFromResponse(*r);
    }
    std::this_thread::sleep_for(RetryDelay(attempt, r.ok() ? &*r : nullptr));
  }
}

Result<BodySource> SourceFor(const FileInput& input) {
  switch (input.kind()) {
    case FileInput::Kind::kPath:
      return FileRangeSource(input.path().string(), 0, -1);
    case FileInput::Kind::kBytes:
      return BytesSource(input.bytes());
    case FileInput::Kind::kStream:
      return StreamSource(input.stream(), input.stream_size());
  }
  return UsageError("unknown input kind", "file");
}

ApiError ErrorFromResponse(const HttpResponse& r) {
  ApiError e;
  e.http_status = r.status;
  e.kind = ApiError::KindForStatus(r.status);
  e.request_id = r.Header("x-request-id");
  if (auto w = ErrorFromJson(r.body)) {
    e.message = w->message;
    e.type = w->type;
    e.param = w->param;
    e.code = w->code;
  } else {
    e.message = r.body.empty() ? std::to_string(r.status) + " status code (no body)"
                               : std::to_string(r.status) + " " + r.body.substr(0, 500);
  }
  return e;
}

ApiError InvalidResponse(const HttpResponse& r, const Status& parse_status) {
  ApiError e;
  e.kind = ErrorKind::kInvalidResponse;
  e.http_status = r.status;
  e.request_id = r.Header("x-request-id");
  e.message = "unexpected response body: " + parse_status.message();
  return e;
}

}  // namespace fileport::client::internal

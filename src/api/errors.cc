// Status → HTTP, in one table.
#include "api/errors.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "model/wire.h"

namespace fileport {

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kFailedPrecondition: return 400;  // SDKs retry 409: state errors are 400
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kAborted: return 409;
    case StatusCode::kOutOfRange: return 416;
    case StatusCode::kTooLarge: return 413;
    case StatusCode::kResourceExhausted: return 429;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kInternal: return 500;
    case StatusCode::kDataLoss: return 500;
  }
  return 500;
}

std::string_view ErrorTypeFor(StatusCode code) {
  switch (code) {
    case StatusCode::kUnauthenticated:
    case StatusCode::kInvalidArgument:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kNotFound:
    case StatusCode::kAlreadyExists:
    case StatusCode::kAborted:
    case StatusCode::kOutOfRange:
    case StatusCode::kTooLarge:
      return "invalid_request_error";
    case StatusCode::kPermissionDenied:
      return "permission_error";
    case StatusCode::kResourceExhausted:
      return "rate_limit_error";  // OpenAI's type for 429s, quota included
    default:
      return "server_error";
  }
}

ApiResponse JsonResponse(int http_status, std::string body) {
  ApiResponse r;
  r.status = http_status;
  r.body = std::move(body);
  r.AddHeader("content-type", "application/json");
  return r;
}

ApiResponse ErrorResponse(const Status& s, std::int64_t retry_after_ms) {
  const int http = HttpStatusFor(s.code());
  std::string_view message = s.message();
  if (s.code() == StatusCode::kInternal || s.code() == StatusCode::kDataLoss) {
    // Internal details (paths, library messages) stay in the server's log.
    spdlog::error("internal error: {}", s.ToString());
    message = "The server had an error while processing your request.";
  } else if (s.code() == StatusCode::kUnavailable) {
    // A store that is down or busy names hosts, ports and paths: those stay in the log too.
    spdlog::warn("unavailable: {}", s.ToString());
    message = "The server is temporarily unable to handle the request. Please retry.";
  }
  ApiResponse r =
      JsonResponse(http, ErrorJson(message, ErrorTypeFor(s.code()), s.param(), s.error_code()));
  if (http == 429 || http == 503) {
    // Bounded so the SDKs' backoff honours it (they ignore values over 60 s).
    const std::int64_t ms =
        retry_after_ms > 0 ? retry_after_ms : (http == 429 ? 1000 : 2000);
    r.AddHeader("retry-after-ms", std::to_string(ms));
    r.AddHeader("retry-after", std::to_string((ms + 999) / 1000));
  }
  if (http == 409 || http == 500 || http == 416 || s.error_code() == "insufficient_quota") {
    // A lost race, an internal fault or a full quota will not change on an immediate retry.
    r.AddHeader("x-should-retry", "false");
  }
  return r;
}

ApiResponse RateLimitedResponse(const std::string& project, double per_second,
                                std::int64_t retry_after_ms) {
  return ErrorResponse(
      Status(StatusCode::kResourceExhausted,
             fmt::format("Rate limit reached for requests in project {}: limit {:g} requests "
                         "per second. Please try again in {}ms.",
                         project, per_second, retry_after_ms),
             "", "rate_limit_exceeded"),
      retry_after_ms);
}

}  // namespace fileport

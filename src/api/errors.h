// The one mapping from Status to an HTTP status and the OpenAI error envelope (API.md §1, §5).
#pragma once

#include <cstdint>

#include "api/types.h"
#include "common/status.h"

namespace fileport {

// The HTTP status for a code (the table lives in errors.cc, tested row by row).
int HttpStatusFor(StatusCode code);
// The envelope `type` for a code ("invalid_request_error", "authentication_error", …).
std::string_view ErrorTypeFor(StatusCode code);
// A complete error response: status, JSON envelope, and the retry headers the SDKs read
// (x-should-retry: false on 409/5xx that must not be retried; retry-after-ms and Retry-After
// on 429/503: `retry_after_ms` when given, else 1 s for 429 and 2 s for 503).
ApiResponse ErrorResponse(const Status& status, std::int64_t retry_after_ms = 0);
// 429 rate_limit_exceeded for `project` over `per_second`, with retry-after-ms (the time until
// its next token) and Retry-After (the same, rounded up to whole seconds).
ApiResponse RateLimitedResponse(const std::string& project, double per_second,
                                std::int64_t retry_after_ms);
// A JSON response with Content-Type: application/json.
ApiResponse JsonResponse(int http_status, std::string body);

}  // namespace fileport

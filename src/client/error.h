// The client's error: one value describing why an API call failed, and client::Result<T>.
//
// fileport::Status (common/status.h) is the server's error and has no room for the HTTP facts
// a client user needs (status, `type`, `x-request-id`), so the client returns its own
// Result<T> holding either a T or an ApiError. ApiError carries every field of the OpenAI
// error envelope plus the HTTP status and request id, and a `kind` that tells the failures
// apart the way the SDKs' exception classes do (BadRequestError, NotFoundError, …).
// `Result::status()` / `ApiError::ToStatus()` translate to a fileport::Status, so code that
// already speaks Status (RETURN_IF_ERROR, ASSIGN_OR_RETURN) can consume client results too.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"

namespace fileport::client {

enum class ErrorKind {
  kBadRequest,        // HTTP 400
  kAuthentication,    // HTTP 401
  kPermissionDenied,  // HTTP 403
  kNotFound,          // HTTP 404
  kConflict,          // HTTP 409
  kUnprocessable,     // HTTP 422
  kRateLimit,         // HTTP 429
  kInternalServer,    // HTTP >= 500
  kOtherStatus,       // any other non-2xx status (e.g. 413, 416)
  kConnection,        // no HTTP answer: connect refused, reset, DNS … (http_status 0)
  kTimeout,           // the request (or wait_for_processing) ran out of time (http_status 0)
  kInvalidResponse,   // a 2xx answer whose body is not the expected JSON object
  kUsage,             // a local problem: bad arguments, unreadable input, unwritable output
};

std::string_view ErrorKindName(ErrorKind kind);

struct ApiError {
  ErrorKind kind = ErrorKind::kUsage;
  int http_status = 0;     // 0 when no HTTP answer was received
  std::string message;     // the envelope's `message` (or a description of the local failure)
  std::string type;        // the envelope's `type`; empty when absent/null
  std::string code;        // the envelope's `code`; empty when null
  std::string param;       // the envelope's `param`; empty when null
  std::string request_id;  // the `x-request-id` response header; empty when absent

  // The error kind of an HTTP status >= 400.
  static ErrorKind KindForStatus(int http_status);
  // A fileport::Status of the nearest code, with message, param and code.
  Status ToStatus() const;
  // "NotFound (404, request req_…): No such File object: file-… [param id]".
  std::string ToString() const;
};

// A T or the ApiError explaining why there is none.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design.
  Result(ApiError error) : error_(std::move(error)) {}  // NOLINT: implicit by design.

  bool ok() const { return value_.has_value(); }
  // The error; meaningful only when !ok().
  const ApiError& error() const { return error_; }
  // OK when ok(), else error().ToStatus().
  Status status() const { return ok() ? Status::Ok() : error_.ToStatus(); }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  ApiError error_;
};

// A Usage error (a local problem, never sent to the server).
ApiError UsageError(std::string message, std::string param = {});

}  // namespace fileport::client

// Status and Result<T>: errors as values.
//
// Every fallible function in fileport returns a Status or a Result<T>. A Status carries a
// small code (the kind of failure), a human-readable message (sent to clients as the OpenAI
// error `message`), the request field at fault (`param`, empty means null) and an optional
// machine code for the error envelope (`code`, e.g. "invalid_api_key"). Foreign errors
// (errno, SQLite, libpq, curl, S3) are translated into a Status once, at the edge that meets
// them; the one mapping from Status to HTTP lives in api/errors.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace fileport {

enum class StatusCode : std::uint8_t {
  kOk = 0,
  kInvalidArgument,     // 400: the request is wrong; retrying it unchanged will not help.
  kNotFound,            // 404: no such object (or another project's: indistinguishable).
  kAlreadyExists,       // 409
  kFailedPrecondition,  // 400: the object is in the wrong state (e.g. upload completed).
  kAborted,             // 409: lost a race (compare-and-set failed); callers usually re-read.
  kOutOfRange,          // 416: a byte range outside the object.
  kTooLarge,            // 413: a body or object over a size limit.
  kResourceExhausted,   // 429: a quota or rate limit; storage full.
  kUnauthenticated,     // 401
  kPermissionDenied,    // 403
  kUnavailable,         // 503: transient; the client may retry.
  kInternal,            // 500
  kDataLoss,            // 500: stored bytes are missing or corrupt.
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message, std::string param = {}, std::string error_code = {})
      : code_(code),
        message_(std::move(message)),
        param_(std::move(param)),
        error_code_(std::move(error_code)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // The request field at fault; empty means `null` on the wire.
  const std::string& param() const { return param_; }
  // The envelope's `code` (e.g. "invalid_api_key"); empty means `null`.
  const std::string& error_code() const { return error_code_; }

  // "NotFound: No such File object: file-abc (param id)", for logs and test failures.
  std::string ToString() const;

  void IgnoreError() const {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string param_;
  std::string error_code_;
};

inline Status InvalidArgument(std::string msg, std::string param = {}) {
  return Status(StatusCode::kInvalidArgument, std::move(msg), std::move(param));
}
inline Status NotFound(std::string msg, std::string param = {}) {
  return Status(StatusCode::kNotFound, std::move(msg), std::move(param));
}
inline Status FailedPrecondition(std::string msg, std::string param = {}) {
  return Status(StatusCode::kFailedPrecondition, std::move(msg), std::move(param));
}
inline Status Aborted(std::string msg) { return Status(StatusCode::kAborted, std::move(msg)); }
inline Status Internal(std::string msg) { return Status(StatusCode::kInternal, std::move(msg)); }
inline Status Unavailable(std::string msg) {
  return Status(StatusCode::kUnavailable, std::move(msg));
}
inline Status TooLarge(std::string msg, std::string param = {}) {
  return Status(StatusCode::kTooLarge, std::move(msg), std::move(param));
}

// Result<T>: a T or the Status explaining why there is none. Never holds an OK status
// without a value.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design.
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design.
    if (status_.ok()) status_ = Internal("Result constructed from an OK status without a value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace fileport

#define FP_CONCAT_INNER(a, b) a##b
#define FP_CONCAT(a, b) FP_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                              \
  do {                                                     \
    ::fileport::Status fp_status_ = (expr);                \
    if (!fp_status_.ok()) return fp_status_;               \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(FP_CONCAT(fp_result_, __LINE__), lhs, expr)

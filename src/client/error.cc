// ApiError: names, the HTTP status → kind table and the translation to fileport::Status.
#include "client/error.h"

namespace fileport::client {

std::string_view ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kBadRequest:
      return "BadRequest";
    case ErrorKind::kAuthentication:
      return "Authentication";
    case ErrorKind::kPermissionDenied:
      return "PermissionDenied";
    case ErrorKind::kNotFound:
      return "NotFound";
    case ErrorKind::kConflict:
      return "Conflict";
    case ErrorKind::kUnprocessable:
      return "Unprocessable";
    case ErrorKind::kRateLimit:
      return "RateLimit";
    case ErrorKind::kInternalServer:
      return "InternalServer";
    case ErrorKind::kOtherStatus:
      return "OtherStatus";
    case ErrorKind::kConnection:
      return "Connection";
    case ErrorKind::kTimeout:
      return "Timeout";
    case ErrorKind::kInvalidResponse:
      return "InvalidResponse";
    case ErrorKind::kUsage:
      return "Usage";
  }
  return "Unknown";
}

ErrorKind ApiError::KindForStatus(int http_status) {
  switch (http_status) {
    case 400:
      return ErrorKind::kBadRequest;
    case 401:
      return ErrorKind::kAuthentication;
    case 403:
      return ErrorKind::kPermissionDenied;
    case 404:
      return ErrorKind::kNotFound;
    case 409:
      return ErrorKind::kConflict;
    case 422:
      return ErrorKind::kUnprocessable;
    case 429:
      return ErrorKind::kRateLimit;
    default:
      return http_status >= 500 ? ErrorKind::kInternalServer : ErrorKind::kOtherStatus;
  }
}

Status ApiError::ToStatus() const {
  StatusCode c = StatusCode::kInternal;
  switch (kind) {
    case ErrorKind::kBadRequest:
    case ErrorKind::kUnprocessable:
    case ErrorKind::kUsage:
      c = StatusCode::kInvalidArgument;
      break;
    case ErrorKind::kAuthentication:
      c = StatusCode::kUnauthenticated;
      break;
    case ErrorKind::kPermissionDenied:
      c = StatusCode::kPermissionDenied;
      break;
    case ErrorKind::kNotFound:
      c = StatusCode::kNotFound;
      break;
    case ErrorKind::kConflict:
      c = StatusCode::kAborted;
      break;
    case ErrorKind::kRateLimit:
      c = StatusCode::kResourceExhausted;
      break;
    case ErrorKind::kInternalServer:
      c = http_status == 503 ? StatusCode::kUnavailable : StatusCode::kInternal;
      break;
    case ErrorKind::kOtherStatus:
      c = http_status == 413   ? StatusCode::kTooLarge
          : http_status == 416 ? StatusCode::kOutOfRange
                               : StatusCode::kInvalidArgument;
      break;
    case ErrorKind::kConnection:
    case ErrorKind::kTimeout:
      c = StatusCode::kUnavailable;
      break;
    case ErrorKind::kInvalidResponse:
      c = StatusCode::kDataLoss;
      break;
  }
  return Status(c, message, param, code);
}

std::string ApiError::ToString() const {
  std::string s(ErrorKindName(kind));
  if (http_status != 0 || !request_id.empty()) {
    s += " (";
    if (http_status != 0) s += std::to_string(http_status);
    if (!request_id.empty()) s += (http_status != 0 ? ", request " : "request ") + request_id;
    s += ")";
  }
  s += ": " + message;
  if (!param.empty()) s += " [param " + param + "]";
  if (!code.empty()) s += " [code " + code + "]";
  return s;
}

ApiError UsageError(std::string message, std::string param) {
  ApiError e;
  e.kind = ErrorKind::kUsage;
  e.message = std::move(message);
  e.param = std::move(param);
  return e;
}

}  // namespace fileport::client

// errno -> Status.
#include "common/errno_status.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace fileport {

Status ErrnoToStatus(int err, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += std::strerror(err);
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      // The message reaches clients: say what happened, not where on the server's disk.
      return Status(StatusCode::kResourceExhausted,
                    "The server's storage is full; try again after space is freed");
    case ENOENT:
      return Status(StatusCode::kNotFound, msg);
    case EIO:
      return Status(StatusCode::kDataLoss, msg);
    case EINTR:
    case EAGAIN:
      return Status(StatusCode::kUnavailable, msg);
    default:
      return Status(StatusCode::kInternal, msg);
  }
}

}  // namespace fileport

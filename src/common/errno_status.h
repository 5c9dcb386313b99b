// Translation of errno values into Status, the one place the OS's error numbers meet ours.
#pragma once

#include <string_view>

#include "common/status.h"

namespace fileport {

// Maps `err` (an errno value) for operation `what` (e.g. "fsync /data/blobs/x") to a Status:
// ENOSPC/EDQUOT -> ResourceExhausted, ENOENT -> NotFound, EIO -> DataLoss, EINTR/EAGAIN ->
// Unavailable, everything else -> Internal. The message names the operation and strerror.
Status ErrnoToStatus(int err, std::string_view what);

}  // namespace fileport

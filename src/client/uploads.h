// Uploads: the /v1/uploads resource of a Client — create, complete, cancel, parts.create —
// and upload_file_chunked, the SDKs' helper that sends a large file as parallel parts.
//
// Names mirror the OpenAI SDKs (snake_case, an intended exception to the house naming).
// Thread-safety: every method is const and may be called from many threads at once. All
// methods block; upload_file_chunked also has an _async form returning a std::future (see
// files.h for why futures).
//
// upload_file_chunked's memory stays bounded by `parallel` curl buffers whatever the file
// size: each part is streamed from the file (or the caller's bytes) by a libcurl read
// callback, never copied into a part-sized buffer.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/error.h"
#include "client/file_input.h"
#include "model/objects.h"

namespace fileport::client {

namespace internal {
class Core;
}

struct UploadCreateParams {
  std::int64_t bytes = 0;
  std::string filename;
  std::string mime_type;
  std::string purpose;
  // expires_after {anchor: created_at, seconds} of the File made at completion.
  std::optional<std::int64_t> expires_after_seconds;
};

class Parts {
 public:
  explicit Parts(std::shared_ptr<const internal::Core> core) : core_(std::move(core)) {}
  // POST /v1/uploads/{id}/parts with `data` as the part's bytes (a Path, Bytes or Stream
  // input; streamed, never copied whole).
  Result<UploadPart> create(const std::string& upload_id, const FileInput& data) const;
  // GET /v1/uploads/{id}/parts (fileport extension): the parts the server holds, in arrival
  // order, each with its `bytes`. How an interrupted upload learns what is left to send.
  Result<std::vector<UploadPart>> list(const std::string& upload_id) const;

 private:
  friend class Uploads;
  std::shared_ptr<const internal::Core> core_;
};

struct ChunkedUploadParams {
  std::string mime_type = "application/octet-stream";
  std::string purpose;
  // Defaults: the path's last component (required for Bytes input) and the input's size.
  std::optional<std::string> filename;
  std::optional<std::int64_t> bytes;
  std::int64_t part_size = 64LL * 1024 * 1024;  // the server's maximum part size
  int parallel = 4;                             // parts in flight at once
  // The md5 of the whole file, sent at completion. When absent and compute_md5 is set, the
  // helper computes it while the parts upload (a sequential read of the input alongside the
  // parallel part readers, since MD5 must see the bytes in order).
  std::optional<std::string> md5;
  bool compute_md5 = false;
  std::optional<std::int64_t> expires_after_seconds;
  // Called (from any of the worker threads, never concurrently) as bytes go out: the bytes
  // sent so far (parts already on the server count as sent) and the total. The values never
  // decrease (a part sent again after a retry is not counted twice) and the last call has
  // done == total.
  std::function<void(std::int64_t done, std::int64_t total)> on_progress;

  // Resuming. `upload_id`: continue this pending upload instead of creating one (its bytes
  // must be the input's). `done_parts`: part indexes (offset / part_size) the server already
  // holds, with their part ids; they are not sent again.
  std::optional<std::string> upload_id;
  std::map<std::int64_t, std::string> done_parts;
  // Called (serialized with on_progress) each time the server acknowledges a part, with the
  // part's index: a journal of these is what lets an interrupted upload resume.
  std::function<void(std::int64_t index, const UploadPart& part)> on_part;
  // On failure, cancel the upload (the SDKs' behaviour). A caller that means to resume later
  // sets false and keeps the upload pending.
  bool cancel_on_failure = true;
};

class Uploads {
 public:
  explicit Uploads(std::shared_ptr<const internal::Core> core) : parts(core), core_(core) {}

  Parts parts;

  // POST /v1/uploads.
  Result<Upload> create(const UploadCreateParams& params) const;
  // POST /v1/uploads/{id}/complete; `part_ids` set the byte order. The server checks `md5`.
  Result<Upload> complete(const std::string& upload_id, const std::vector<std::string>& part_ids,
                          const std::optional<std::string>& md5 = std::nullopt) const;
  // POST /v1/uploads/{id}/cancel.
  Result<Upload> cancel(const std::string& upload_id) const;
  // GET /v1/uploads/{id} (fileport extension): the upload as it stands.
  Result<Upload> retrieve(const std::string& upload_id) const;

  // Creates an upload (or continues params.upload_id), sends `file` (a Path or Bytes input; a
  // Stream cannot be split) in parts of part_size, `parallel` at a time, each part retried on
  // its own by the usual retry rules, and completes it in order. On any failure after the
  // upload was created, the upload is cancelled (best effort, unless cancel_on_failure is
  // false) and the first error is returned. Returns the completed Upload (its `file` holds
  // the new File).
  Result<Upload> upload_file_chunked(const FileInput& file,
                                     const ChunkedUploadParams& params) const;
  std::future<Result<Upload>> upload_file_chunked_async(FileInput file,
                                                        ChunkedUploadParams params) const;

 private:
  std::shared_ptr<const internal::Core> core_;
};

}  // namespace fileport::client

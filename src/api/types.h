// The boundary between the HTTP transport (http/, the only user of Beast) and the API
// handlers: a request head, a response, and the two ways a body is consumed.
//
// The transport reads a request's header and calls Api::OnHeaders on a worker thread. The
// answer says what to do with the body: nothing (respond now), buffer it up to a limit and
// call back, or stream it chunk by chunk into a BodySink — the path uploads take, so no
// request ever holds a whole part or file in memory.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/aligned_buffer.h"
#include "common/status.h"
#include "store/blob/blob_store.h"

namespace fileport {

struct HeaderField {
  std::string name;  // lowercase
  std::string value;
};

struct ApiRequest {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // the raw request-target
  std::vector<HeaderField> headers;
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  std::string request_id;
  std::string remote;  // peer address, for logs

  // The first header named `name` (lowercase), or nullptr.
  const std::string* Header(std::string_view name) const;
  // True when the request carries a body (Content-Length > 0 or chunked).
  bool HasBody() const { return chunked || content_length.value_or(0) > 0; }
};

struct ApiResponse {
  int status = 200;
  std::vector<HeaderField> headers;
  std::string body;
  // A streamed body (downloads): `stream_length` bytes read from `stream` on a worker.
  std::unique_ptr<BlobReader> stream;
  std::int64_t stream_length = 0;
  // HEAD: send the headers (with Content-Length) and no body.
  bool head_only = false;
  std::int64_t head_length = -1;
  // Close the connection after this response (e.g. the body was not read to its end).
  bool close = false;

  void AddHeader(std::string name, std::string value) {
    headers.push_back({std::move(name), std::move(value)});
  }
};

// Consumes a streamed request body. Called from one worker thread at a time, in order.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // The next bytes of the (de-chunked) body. An error stops the body: the transport then
  // calls Fail with it and closes the connection after the answer.
  virtual Status Write(std::span<const char> data) = 0;
  // The body ended normally.
  virtual ApiResponse Finish() = 0;
  // The body ended abnormally (`why`: a Write error, a timeout, a disconnect). Discards
  // everything the sink stored and returns the answer to send, if the peer is still there.
  virtual ApiResponse Fail(const Status& why) = 0;

  // Where, modulo kIoAlignment, the body byte at `offset` (counted from the body's first
  // byte) should sit in memory for storage to take it without a copy (O_DIRECT): the transport
  // reads into its buffers at that placement. 0 until the sink knows. Any thread may ask, also
  // while Write runs.
  std::size_t Placement(std::uint64_t offset) const {
    const std::uint64_t start = data_start_.load(std::memory_order_relaxed);
    return offset < start ? 0 : static_cast<std::size_t>((offset - start) % kIoAlignment);
  }

 protected:
  // From here on, the body byte at `offset` is the first byte the sink stores.
  void SetDataStart(std::uint64_t offset) { data_start_.store(offset, std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> data_start_{UINT64_MAX};
};

struct Dispatch {
  enum class Kind { kRespond, kBuffer, kStream };
  Kind kind = Kind::kRespond;
  ApiResponse response;  // kRespond
  // kBuffer: the body is read whole (at most body_limit bytes, else 413) and passed here.
  std::size_t body_limit = 0;
  std::function<ApiResponse(std::string body)> on_body;
  // kStream
  std::unique_ptr<BodySink> sink;
};

}  // namespace fileport

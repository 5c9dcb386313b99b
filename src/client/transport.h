// Internal: one HTTP exchange with the server over libcurl, and the request/response shapes
// the resources build. No curl type appears here (curl is included by transport.cc only).
//
// Request bodies are pulled from a BodySource a buffer at a time (libcurl read callbacks), and
// 2xx response bodies may be pushed to a ResponseSink as they arrive, so neither side ever holds
// a whole file. Retries live one level up (core.h); PerformOnce makes exactly one attempt.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/error.h"

namespace fileport::client::internal {

// Reads a request body front to back. Not thread-safe; one per attempt.
class BodyReader {
 public:
  virtual ~BodyReader() = default;
  // Fills up to `n` bytes of `buf`; returns the count, 0 at the end, or an error.
  virtual Result<std::size_t> Read(char* buf, std::size_t n) = 0;
};

struct BodySource {
  std::int64_t size = -1;  // -1: unknown (sent chunked)
  // A fresh reader at the start of the body; called once per attempt. An error means the body
  // cannot be produced again (e.g. a consumed, unseekable stream) and ends the retries.
  std::function<Result<std::unique_ptr<BodyReader>>()> open;
};

BodySource BytesSource(std::string_view data);
// `length` bytes of the file at `path` from `offset`; -1: to the end (size from stat).
Result<BodySource> FileRangeSource(const std::string& path, std::int64_t offset,
                                   std::int64_t length);
BodySource StreamSource(std::istream* stream, std::optional<std::int64_t> size);
// `source`, reporting after each read how many bytes this attempt has read so far (a retry
// starts again from 0). `on_read` runs on the thread sending the request.
BodySource CountingSource(BodySource source, std::function<void(std::int64_t)> on_read);

// Where a 2xx response body goes when it should not be held in memory.
class ResponseSink {
 public:
  virtual ~ResponseSink() = default;
  // Consumes the next bytes; false aborts the transfer (a Usage error).
  virtual bool Write(std::string_view bytes) = 0;
  // Forget what was written, before a retry; false when that is impossible (no retry).
  virtual bool Restart() = 0;
};

struct MultipartField {
  std::string name;
  std::string value;
};
struct MultipartFile {
  std::string name;
  std::string filename;
  std::string content_type = "application/octet-stream";
  BodySource source;
};

struct HttpRequest {
  std::string method = "GET";
  std::string path;                 // appended to the base URL, e.g. "/files?limit=2"
  std::optional<std::string> json;  // a JSON body
  std::vector<MultipartField> fields;
  std::optional<MultipartFile> file;  // present (or fields non-empty): multipart/form-data
  std::vector<std::string> headers;   // "Name: value", besides the configured ones
  ResponseSink* sink = nullptr;       // when set, 2xx bodies go here instead of `body`
  // When set, a 2xx answer of another status fails the attempt (kInvalidResponse) before any
  // byte reaches the sink: a Range request answered 200 would otherwise append a whole file.
  int required_status = 0;
};

inline HttpRequest MakeRequest(std::string method, std::string path,
                               std::optional<std::string> json = std::nullopt) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.json = std::move(json);
  return r;
}

struct HttpResponse {
  int status = 0;
  std::multimap<std::string, std::string> headers;  // lowercase names
  std::string body;                                 // unless streamed to the sink
  std::int64_t sink_bytes = 0;                      // bytes given to the sink
  // The first header called `name` (lowercase), or "".
  std::string Header(const std::string& name) const;
};

struct TransportConfig {
  std::string base_url;              // "http://host:port/v1" (no trailing slash)
  std::vector<std::string> headers;  // "Name: value", sent on every request
  std::chrono::milliseconds timeout{600'000};
};

// One attempt. An HTTP answer of any status is a value; only transport failures are errors
// (kConnection, kTimeout, or kUsage when the body source or the sink failed).
Result<HttpResponse> PerformOnce(const TransportConfig& config, const HttpRequest& request);

// Seconds since the epoch of an HTTP-date (Retry-After), or nullopt.
std::optional<std::int64_t> ParseHttpDate(const std::string& text);

// Percent-encodes a path segment or query value.
std::string UrlEncode(std::string_view s);

}  // namespace fileport::client::internal

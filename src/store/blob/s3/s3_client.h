// S3 requests over libcurl: SigV4 signing (CURLOPT_AWS_SIGV4), connection reuse, retries of
// transient failures, and GETs whose body the caller pulls. No curl type appears here.
//
// Connections: a pool of (multi handle, easy handle) pairs. Every request runs on a pair
// taken from the pool and given back after it, and since a multi handle keeps its own
// connection cache, the pair keeps its open connection to the endpoint for the next request.
// A streaming GET holds its pair until the download is destroyed.
//
// Retries: every request the S3 backend sends may be repeated safely (a GET, HEAD or DELETE;
// a PUT of a part or object from a buffer still held; a CompleteMultipartUpload, whose repeat
// after a lost success the caller detects; a CreateMultipartUpload, whose extra upload would
// only be temporary data for CleanupTemporary), so Send retries each one: up to
// `max_attempts` attempts on connection failures, timeouts, HTTP 429/500/502/503/504 and the
// S3 codes SlowDown, InternalError, RequestTimeout and ServiceUnavailable, sleeping an
// exponentially growing, jittered delay in between (half fixed, half random, so that many
// writers backing off together do not return in step).
//
// Thread-safety: Client is thread-safe. A Download is used by one thread at a time and must
// not outlive its Client.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/blob/s3/s3_protocol.h"

namespace fileport::s3 {

struct RetryPolicy {
  int max_attempts = 4;                       // ≥ 1; 1 disables retries.
  std::chrono::milliseconds base_delay{100};  // before the 2nd attempt, doubled after
  std::chrono::milliseconds max_delay{2000};  // cap of one delay
};

struct ClientOptions {
  std::string endpoint;  // "http://127.0.0.1:7480", "https://s3.eu-west-1.amazonaws.com"
  std::string region = "us-east-1";
  std::string bucket;
  // true: http://host/bucket/key (most self-hosted engines); false: http://bucket.host/key.
  bool path_style = true;
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // Sent as x-amz-security-token when not empty.
  RetryPolicy retry;
  std::chrono::milliseconds connect_timeout{10000};
  // A transfer that moves no byte for this long (while not paused by its reader) fails.
  std::chrono::seconds stall_timeout{60};
  // Idle connections kept for reuse; more may be open while requests run.
  std::size_t max_idle_connections = 16;
};

struct Request {
  std::string method = "GET";  // GET, HEAD, PUT, POST or DELETE.
  std::string key;             // The object key (prefix included); empty: the bucket itself.
  QueryParams query;
  std::vector<std::string> headers;  // "Name: value"
  // The body of a PUT or POST; not copied, so it must stay alive and unchanged during Send
  // (it is sent again on a retry).
  std::span<const char> body;
};

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  // Names lowercased; the last value wins.
  // The body, for answers that are documents (listings, results, errors). Capped: a larger
  // body is an Internal error, never silently truncated.
  std::string body;
  // Set for a non-2xx answer and for a 2xx whose body is an <Error> document.
  std::optional<S3Error> error;

  // The header's value, or "" when absent. `name` is lowercase.
  std::string Header(const std::string& name) const;
};

// A GET whose body is pulled with Read. Returned once the response head has arrived;
// a non-2xx answer is read whole into response().body before the Download is returned.
class Download {
 public:
  virtual ~Download() = default;
  virtual const Response& response() const = 0;
  // Up to out.size() body bytes (fewer only at the end); 0 at the end of the body.
  // Unavailable when the connection failed mid-body: bytes already returned stay valid, and
  // the caller may ask for the rest with a new ranged GET.
  virtual Result<std::size_t> Read(std::span<char> out) = 0;
};

class Client {
 public:
  // Checks the options (endpoint scheme http/https, no path; bucket and keys present).
  // InvalidArgument when they are wrong; nothing is sent.
  static Result<std::unique_ptr<Client>> Make(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `request`, retrying transient failures. Unavailable when no attempt got an answer
  // (connection refused, timeouts); otherwise the last answer, whatever its status.
  Result<Response> Send(const Request& request);
  // Starts a GET and waits for its response head, retrying transient failures the same way.
  Result<std::unique_ptr<Download>> Get(const Request& request);

  const ClientOptions& options() const { return options_; }
  // "bucket 'b' at http://127.0.0.1:7480", for messages.
  std::string Describe() const;

  // The delay before attempt `attempt` + 1 (attempt ≥ 1): exponential, capped, jittered.
  std::chrono::milliseconds Backoff(int attempt) const;

  struct Impl;

 private:
  explicit Client(ClientOptions options);

  const ClientOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fileport::s3

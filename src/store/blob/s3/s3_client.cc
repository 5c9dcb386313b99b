// S3 client on libcurl: one Exchange per request, run on a pooled (multi, easy) pair; the
// multi interface lets a streaming GET stop receiving (CURL_WRITEFUNC_PAUSE) while its reader
// is busy, and resume on the next Read, without a thread or a buffer beyond one receive.
#include "store/blob/s3/s3_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <utility>

namespace fileport::s3 {
namespace {

// Documents S3 answers with (errors, listings of up to 1000 uploads) fit easily.
constexpr std::size_t kMaxDocumentBytes = std::size_t{16} << 20;
// Large socket reads and writes: the default 16/64 KiB cost many more callbacks per MiB.
constexpr long kReceiveBufferBytes = 512 * 1024;
constexpr long kUploadBufferBytes = 1024 * 1024;
// How long a PUT waits for "100 Continue" before sending its body anyway.
constexpr long kExpectContinueMillis = 200;
// How long one wait for socket activity may block before the loop checks again.
constexpr int kPollMillis = 1000;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Failures of the network rather than of the request: the same request may well succeed.
bool IsTransient(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

std::string Lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view Trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const std::size_t first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

bool IsSuccess(long status) { return status >= 200 && status < 300; }

}  // namespace

// One easy handle and the multi handle that runs it. The multi handle owns the connection
// cache, so the pair carries its open connection from one request to the next.
struct Connection {
  CURLM* multi = nullptr;
  CURL* easy = nullptr;
  Connection() : multi(curl_multi_init()), easy(curl_easy_init()) {}
  ~Connection() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    if (multi != nullptr) curl_multi_cleanup(multi);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
};

struct Client::Impl {
  std::string scheme;     // "http" or "https"
  std::string authority;  // "host[:port]"
  std::string sigv4;      // "aws:amz:REGION:s3"

  std::mutex mu;
  std::vector<std::unique_ptr<Connection>> idle;  // Guarded by mu.

  Result<std::unique_ptr<Connection>> Take() {
    {
      std::lock_guard lock(mu);
      if (!idle.empty()) {
        auto conn = std::move(idle.back());
        idle.pop_back();
        return conn;
      }
    }
    auto conn = std::make_unique<Connection>();
    if (conn->multi == nullptr || conn->easy == nullptr) {
      return Internal("curl initialization failed");
    }
    return conn;
  }

  void Give(std::unique_ptr<Connection> conn, std::size_t max_idle) {
    std::lock_guard lock(mu);
    if (idle.size() < max_idle) idle.push_back(std::move(conn));
  }
};

namespace {

// One request on one pooled connection, from setup to the last byte. Used whole by Send
// (the body, if any, is collected as a document) and as the Download of a streaming GET
// (a 2xx body is handed out through Read; any other body is collected as a document).
class Exchange final : public Download {
 public:
  Exchange(Client::Impl* impl, const ClientOptions& options, std::unique_ptr<Connection> conn,
           bool streaming)
      : impl_(impl), options_(options), conn_(std::move(conn)), streaming_(streaming) {}

  ~Exchange() override {
    // Removing an unfinished transfer closes its connection rather than reuse a stream in an
    // unknown state; a finished one leaves the connection in the multi handle's cache.
    if (attached_) curl_multi_remove_handle(conn_->multi, conn_->easy);
    if (headers_ != nullptr) curl_slist_free_all(headers_);
    impl_->Give(std::move(conn_), options_.max_idle_connections);
  }

  // Configures the easy handle for `request` and starts it. `request.body` must stay alive
  // until the exchange ends; everything else is copied.
  Status Start(const std::string& url, const Request& request) {
    CURL* c = conn_->easy;
    curl_easy_reset(c);  // Keeps the connection cache; forgets the previous request's options.
    body_ = request.body;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf_);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options_.connect_timeout.count()));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.stall_timeout.count()));
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, kReceiveBufferBytes);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &Exchange::OnHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Exchange::OnBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, impl_->sigv4.c_str());
    curl_easy_setopt(c, CURLOPT_USERNAME, options_.access_key_id.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, options_.secret_access_key.c_str());

    // curl 7.88 puts a payload hash in the signature but does not send it; S3 then rejects
    // every request (SignatureDoesNotMatch). Sent explicitly, it is used as given. Payloads
    // are not hashed: hashing 1.6 GB/s of SHA-256 on the upload path buys nothing TCP and the
    // part ETags do not already check.
    AddHeader("x-amz-content-sha256: UNSIGNED-PAYLOAD");
    // curl sends "Expect: 100-continue" with every PUT and holds the body back until the
    // server's 100 Continue. The header cannot be removed (an empty "Expect:" still lands in
    // curl's signed headers, and S3 rejects the signature). The wait costs a round trip but
    // is kept: a body sent at once leaves the 100 unacknowledged, and an engine without
    // TCP_NODELAY (RGW's default) then holds its final answer for a delayed ACK. Only an
    // engine that never answers 100 is waited for, and then not a whole second per PUT.
    curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, kExpectContinueMillis);
    if (!options_.session_token.empty()) {
      AddHeader("x-amz-security-token: " + options_.session_token);
    }
    for (const auto& header : request.headers) AddHeader(header);
    if (header_failed_) return Internal("curl_slist_append failed");

    const std::string& method = request.method;
    if (method == "GET") {
      curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else if (method == "HEAD") {
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (method == "PUT") {
      curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(c, CURLOPT_READFUNCTION, &Exchange::OnRead);
      curl_easy_setopt(c, CURLOPT_READDATA, this);
      curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, &Exchange::OnSeek);
      curl_easy_setopt(c, CURLOPT_SEEKDATA, this);
      curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body_.size()));
      curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, kUploadBufferBytes);
    } else if (method == "POST") {
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body_.empty() ? "" : body_.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body_.size()));
    } else if (method == "DELETE") {
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else {
      return Internal("unsupported S3 method " + method);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers_);

    if (curl_multi_add_handle(conn_->multi, c) != CURLM_OK) {
      return Internal("curl_multi_add_handle failed");
    }
    attached_ = true;
    return Status::Ok();
  }

  // Runs the transfer until `stop()` holds or it has finished.
  template <class Stop>
  Status Drive(Stop stop) {
    while (!done_ && !stop()) {
      int running = 0;
      CURLMcode mc = curl_multi_perform(conn_->multi, &running);
      if (mc == CURLM_OK) {
        CollectDone();
        if (done_ || stop()) break;
        mc = curl_multi_poll(conn_->multi, nullptr, 0, kPollMillis, nullptr);
      }
      if (mc != CURLM_OK) {
        return Internal(std::string("curl multi interface failed: ") + curl_multi_strerror(mc));
      }
    }
    return Status::Ok();
  }

  Status RunToEnd() {
    return Drive([] { return false; });
  }

  // Runs until the head of a 2xx answer arrived (its body waits, paused) or, for any other
  // answer, until its whole body (the error document) is in.
  Status WaitForHead() {
    return Drive([this] { return head_done_ && IsSuccess(response_.status); });
  }

  bool done() const { return done_; }
  CURLcode result() const { return result_; }
  bool too_large() const { return too_large_; }

  // The failure of a finished transfer, for messages.
  std::string TransportError() const {
    std::string detail = errbuf_[0] != '\0' ? errbuf_ : curl_easy_strerror(result_);
    if (too_large_) detail = "answer larger than " + std::to_string(kMaxDocumentBytes) + " bytes";
    return detail;
  }

  Response& mutable_response() { return response_; }
  const Response& response() const override { return response_; }

  Result<std::size_t> Read(std::span<char> out) override {
    if (out.empty()) return std::size_t{0};
    std::size_t n = 0;
    if (spill_pos_ < spill_.size()) {
      n = std::min(out.size(), spill_.size() - spill_pos_);
      std::memcpy(out.data(), spill_.data() + spill_pos_, n);
      spill_pos_ += n;
      if (spill_pos_ == spill_.size()) {
        spill_.clear();
        spill_pos_ = 0;
      }
      if (n == out.size()) return n;
    }
    if (!done_) {
      out_ = out.data() + n;
      room_ = out.size() - n;
      filled_ = 0;
      if (paused_) {
        // Unpausing may deliver the bytes curl held back at once, from inside this call.
        paused_ = false;
        curl_easy_pause(conn_->easy, CURLPAUSE_CONT);
      }
      Status s = Drive([this] { return room_ == 0; });
      n += filled_;
      out_ = nullptr;
      room_ = 0;
      RETURN_IF_ERROR(s);
    }
    if (n > 0 || result_ == CURLE_OK) return n;
    return Unavailable("S3 download failed mid-body: " + TransportError());
  }

 private:
  void AddHeader(const std::string& header) {
    curl_slist* next = curl_slist_append(headers_, header.c_str());
    if (next == nullptr) {
      header_failed_ = true;
      return;
    }
    headers_ = next;
  }

  void CollectDone() {
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(conn_->multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      done_ = true;
      result_ = msg->data.result;
      long status = 0;
      curl_easy_getinfo(conn_->easy, CURLINFO_RESPONSE_CODE, &status);
      if (status != 0) response_.status = status;
    }
  }

  static std::size_t OnHeader(char* data, std::size_t size, std::size_t count, void* self) {
    auto* ex = static_cast<Exchange*>(self);
    const std::size_t len = size * count;
    const std::string_view line(data, len);
    if (line.substr(0, 5) == "HTTP/") {
      // A new answer (after a 100 Continue): forget the previous one's headers.
      ex->response_.headers.clear();
      ex->head_done_ = false;
    } else if (Trim(line).empty()) {
      long status = 0;
      curl_easy_getinfo(ex->conn_->easy, CURLINFO_RESPONSE_CODE, &status);
      if (status >= 200) {
        ex->response_.status = status;
        ex->head_done_ = true;
      }
    } else if (const std::size_t colon = line.find(':'); colon != std::string_view::npos) {
      ex->response_.headers[Lowercase(Trim(line.substr(0, colon)))] =
          std::string(Trim(line.substr(colon + 1)));
    }
    return len;
  }

  static std::size_t OnBody(char* data, std::size_t size, std::size_t count, void* self) {
    auto* ex = static_cast<Exchange*>(self);
    const std::size_t len = size * count;
    if (!ex->streaming_ || !IsSuccess(ex->response_.status)) {
      std::string& body = ex->response_.body;
      if (body.size() + len > kMaxDocumentBytes) {
        ex->too_large_ = true;
        return 0;  // Fails the transfer (CURLE_WRITE_ERROR).
      }
      body.append(data, len);
      return len;
    }
    if (ex->room_ == 0) {
      ex->paused_ = true;
      return CURL_WRITEFUNC_PAUSE;  // curl keeps these bytes and offers them again later.
    }
    // All of it must be taken: what does not fit the reader's buffer waits in spill_, which
    // holds at most one receive (kReceiveBufferBytes).
    const std::size_t take = std::min(len, ex->room_);
    std::memcpy(ex->out_, data, take);
    ex->out_ += take;
    ex->room_ -= take;
    ex->filled_ += take;
    if (take < len) ex->spill_.assign(data + take, data + len);
    return len;
  }

  static std::size_t OnRead(char* buf, std::size_t size, std::size_t count, void* self) {
    auto* ex = static_cast<Exchange*>(self);
    const std::size_t take = std::min(size * count, ex->body_.size() - ex->body_pos_);
    if (take == 0) return 0;  // An empty body may have no storage at all.
    std::memcpy(buf, ex->body_.data() + ex->body_pos_, take);
    ex->body_pos_ += take;
    return take;
  }

  // curl rewinds the body when it must send it again (a reused connection that had died).
  static int OnSeek(void* self, curl_off_t offset, int origin) {
    auto* ex = static_cast<Exchange*>(self);
    if (origin != SEEK_SET || offset < 0 || static_cast<std::size_t>(offset) > ex->body_.size()) {
      return CURL_SEEKFUNC_FAIL;
    }
    ex->body_pos_ = static_cast<std::size_t>(offset);
    return CURL_SEEKFUNC_OK;
  }

  Client::Impl* impl_;
  const ClientOptions& options_;
  std::unique_ptr<Connection> conn_;
  const bool streaming_;
  curl_slist* headers_ = nullptr;
  bool header_failed_ = false;
  bool attached_ = false;
  char errbuf_[CURL_ERROR_SIZE] = {};

  std::span<const char> body_;
  std::size_t body_pos_ = 0;

  Response response_;
  bool head_done_ = false;
  bool done_ = false;
  CURLcode result_ = CURLE_OK;
  bool too_large_ = false;

  // Streaming: the reader's buffer during a Read, and bytes received beyond it.
  char* out_ = nullptr;
  std::size_t room_ = 0;
  std::size_t filled_ = 0;
  bool paused_ = false;
  std::vector<char> spill_;
  std::size_t spill_pos_ = 0;
};

}  // namespace

std::string Response::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

Client::Client(ClientOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()) {}

Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::Make(ClientOptions options) {
  std::string_view endpoint = options.endpoint;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.remove_suffix(1);
  const std::size_t sep = endpoint.find("://");
  const std::string scheme =
      sep == std::string_view::npos ? "" : Lowercase(endpoint.substr(0, sep));
  if (scheme != "http" && scheme != "https") {
    return InvalidArgument("S3 endpoint must start with http:// or https://: " + options.endpoint);
  }
  const std::string_view authority = endpoint.substr(sep + 3);
  if (authority.empty() || authority.find_first_of("/?#@ ") != std::string_view::npos) {
    return InvalidArgument("S3 endpoint must be scheme://host[:port] without a path: " +
                           options.endpoint);
  }
  if (options.bucket.empty()) return InvalidArgument("S3 bucket is empty");
  if (options.region.empty()) return InvalidArgument("S3 region is empty");
  if (options.access_key_id.empty() || options.secret_access_key.empty()) {
    return InvalidArgument(
        "S3 credentials are missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  }
  if (options.retry.max_attempts < 1) return InvalidArgument("S3 retry.max_attempts < 1");
  GlobalInit();
  std::unique_ptr<Client> client(new Client(std::move(options)));
  client->impl_->scheme = scheme;
  client->impl_->authority = std::string(authority);
  client->impl_->sigv4 = "aws:amz:" + client->options_.region + ":s3";
  return client;
}

std::string Client::Describe() const {
  return "bucket '" + options_.bucket + "' at " + impl_->scheme + "://" + impl_->authority;
}

std::chrono::milliseconds Client::Backoff(int attempt) const {
  const auto base = options_.retry.base_delay.count();
  const auto cap = options_.retry.max_delay.count();
  const auto exp = base << std::min(attempt - 1, 20);
  const auto delay = std::min<std::int64_t>(cap, exp);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<std::int64_t> jitter(0, delay / 2);
  return std::chrono::milliseconds(delay - delay / 2 + jitter(rng));
}

namespace {

std::string Url(const Client::Impl& impl, const ClientOptions& options, const Request& request) {
  std::string url = impl.scheme + "://";
  std::string path;
  if (options.path_style) {
    url += impl.authority;
    path = "/" + UriEncode(options.bucket, false);
  } else {
    url += options.bucket + "." + impl.authority;
  }
  if (!request.key.empty()) path += "/" + UriEncode(request.key, true);
  if (path.empty()) path = "/";
  url += path;
  if (!request.query.empty()) url += "?" + CanonicalQuery(request.query);
  return url;
}

std::string DescribeRequest(const Request& request) {
  return "S3 " + request.method + " " + (request.key.empty() ? "(bucket)" : request.key);
}

}  // namespace

Result<Response> Client::Send(const Request& request) {
  const std::string url = Url(*impl_, options_, request);
  for (int attempt = 1;; ++attempt) {
    bool transient = false;
    Result<Response> got = [&]() -> Result<Response> {
      ASSIGN_OR_RETURN(auto conn, impl_->Take());
      Exchange ex(impl_.get(), options_, std::move(conn), /*streaming=*/false);
      RETURN_IF_ERROR(ex.Start(url, request));
      RETURN_IF_ERROR(ex.RunToEnd());
      if (ex.result() != CURLE_OK) {
        transient = IsTransient(ex.result());
        return Unavailable(DescribeRequest(request) + " to " + Describe() +
                           " failed: " + ex.TransportError());
      }
      Response response = std::move(ex.mutable_response());
      response.error = ErrorOf(response.status, response.body);
      return response;
    }();
    const bool retry = got.ok() ? (got->error && IsRetryable(*got->error)) : transient;
    if (!retry || attempt >= options_.retry.max_attempts) return got;
    std::this_thread::sleep_for(Backoff(attempt));
  }
}

Result<std::unique_ptr<Download>> Client::Get(const Request& request) {
  const std::string url = Url(*impl_, options_, request);
  for (int attempt = 1;; ++attempt) {
    bool transient = false;
    Result<std::unique_ptr<Exchange>> got = [&]() -> Result<std::unique_ptr<Exchange>> {
      ASSIGN_OR_RETURN(auto conn, impl_->Take());
      auto ex = std::make_unique<Exchange>(impl_.get(), options_, std::move(conn),
                                           /*streaming=*/true);
      RETURN_IF_ERROR(ex->Start(url, request));
      RETURN_IF_ERROR(ex->WaitForHead());
      if (ex->done() && ex->result() != CURLE_OK) {
        transient = IsTransient(ex->result());
        return Unavailable(DescribeRequest(request) + " to " + Describe() +
                           " failed: " + ex->TransportError());
      }
      Response& response = ex->mutable_response();
      if (!IsSuccess(response.status)) response.error = ErrorOf(response.status, response.body);
      return ex;
    }();
    bool retry = transient;
    if (got.ok()) {
      const auto& error = (*got)->response().error;
      retry = error && IsRetryable(*error);
    }
    if (!retry || attempt >= options_.retry.max_attempts) {
      if (!got.ok()) return got.status();
      return std::unique_ptr<Download>(std::move(got).value());
    }
    std::this_thread::sleep_for(Backoff(attempt));
  }
}

}  // namespace fileport::s3

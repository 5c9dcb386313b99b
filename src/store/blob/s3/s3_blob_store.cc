// S3BlobStore: BlobStore semantics on S3 objects and multipart uploads. The wire (signing,
// connections, retries) is s3_client; error translation is s3_protocol.
#include "store/blob/s3/s3_blob_store.h"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <future>
#include <limits>
#include <thread>
#include <utility>

#include "common/sizes.h"
#include "store/blob/s3/s3_client.h"
#include "store/blob/s3/s3_protocol.h"

namespace fileport {
namespace {

constexpr int kMaxParts = 10000;                               // S3's limit per upload.
constexpr std::size_t kMaxS3PartBytes = std::size_t{5} << 30;  // S3's limit per part.
constexpr std::size_t kMaxKeyBytes = 1024;                     // S3's limit per object key.

constexpr std::string_view kUriForm =
    "s3://BUCKET[/PREFIX][?endpoint=http(s)://HOST[:PORT]&region=REGION"
    "&path_style=true|false&part_size=SIZE&create_bucket=true|false]";

bool IsKeyChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// The key grammar every BlobStore enforces: '/'-separated components of [A-Za-z0-9_-], none
// empty, so that a key behaves alike on every backend.
Status ValidateKey(std::string_view key, std::string_view what = "blob key") {
  bool component_empty = true;
  for (char c : key) {
    if (c == '/') {
      if (component_empty) break;
      component_empty = true;
      continue;
    }
    if (!IsKeyChar(c)) {
      return InvalidArgument("Invalid " + std::string(what) +
                             ": only [A-Za-z0-9_-] and '/' are allowed");
    }
    component_empty = false;
  }
  if (component_empty) return InvalidArgument("Invalid " + std::string(what) + ": empty component");
  return Status::Ok();
}

std::string Describe(std::string_view op, std::string_view key) {
  return std::string(op) + " blob '" + std::string(key) + "'";
}

Status OutOfRange(std::string msg) { return Status(StatusCode::kOutOfRange, std::move(msg)); }
Status DataLoss(std::string msg) { return Status(StatusCode::kDataLoss, std::move(msg)); }

std::optional<std::int64_t> ParseLength(std::string_view text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 0) {
    return std::nullopt;
  }
  return value;
}

std::optional<bool> ParseBool(std::string_view text) {
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  return std::nullopt;
}

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// The error of an answer, as a Status; OK when there is none.
Status CheckAnswer(const s3::Response& response, std::string_view what) {
  if (!response.error) return Status::Ok();
  return s3::ErrorToStatus(*response.error, what);
}

std::string RangeHeader(std::int64_t first, std::int64_t end) {
  std::string header = "Range: bytes=" + std::to_string(first) + "-";
  if (end >= 0) header += std::to_string(end - 1);
  return header;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Options.

Result<S3BlobOptions> S3BlobOptions::FromUri(std::string_view uri) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument("Invalid S3 URI (" + std::string(why) + "); expected " +
                           std::string(kUriForm));
  };
  auto parsed = boost::urls::parse_uri(uri);
  if (!parsed) return bad("not a URI");
  const boost::urls::url_view url = *parsed;
  if (url.scheme() != "s3") return bad("scheme is not s3");
  if (url.has_userinfo()) return bad("credentials do not belong in the URI: use AWS_ACCESS_KEY_ID");
  if (url.has_port() || url.has_fragment()) return bad("no port or fragment after the bucket");
  S3BlobOptions options;
  options.bucket = url.host();
  if (options.bucket.empty()) return bad("no bucket");
  std::string prefix = url.path();
  while (!prefix.empty() && prefix.front() == '/') prefix.erase(0, 1);
  options.key_prefix = prefix;
  bool path_style_given = false;
  for (const auto& param : url.params()) {
    const std::string& value = param.value;
    if (param.key == "endpoint") {
      options.endpoint = value;
    } else if (param.key == "region") {
      options.region = value;
    } else if (param.key == "path_style") {
      auto b = ParseBool(value);
      if (!b) return bad("path_style must be true or false");
      options.path_style = *b;
      path_style_given = true;
    } else if (param.key == "create_bucket") {
      auto b = ParseBool(value);
      if (!b) return bad("create_bucket must be true or false");
      options.create_bucket = *b;
    } else if (param.key == "part_size") {
      auto size = ParseByteSize(value);
      if (!size || *size <= 0) return bad("part_size must be a size such as 8MiB");
      options.part_bytes = static_cast<std::size_t>(*size);
    } else {
      return bad("unknown parameter '" + std::string(param.key) + "'");
    }
  }
  // AWS wants virtual-hosted addressing; other engines mostly path-style.
  if (!path_style_given) options.path_style = !options.endpoint.empty();
  return options;
}

// ---------------------------------------------------------------------------------------------
// Reader: a ranged GET in flight; reconnects for the rest after a broken connection.

class S3BlobReader final : public BlobReader {
 public:
  S3BlobReader(S3BlobStore* store, std::string key, std::unique_ptr<s3::Download> download,
               std::int64_t offset, std::int64_t length)
      : store_(store),
        key_(std::move(key)),
        download_(std::move(download)),
        next_(offset),
        end_(offset + length),
        length_(length) {
    if (download_) etag_ = download_->response().Header("etag");
  }

  Result<std::size_t> Read(std::span<char> out) override {
    if (out.empty() || next_ >= end_) return std::size_t{0};
    const auto want = static_cast<std::size_t>(
        std::min<std::int64_t>(end_ - next_, static_cast<std::int64_t>(out.size())));
    for (int failures = 0;;) {
      if (!download_) RETURN_IF_ERROR(Reconnect());
      Result<std::size_t> n = download_->Read(out.first(want));
      if (n.ok() && *n > 0) {
        next_ += static_cast<std::int64_t>(*n);
        return n;
      }
      // The body ended early or the connection broke: ask again for what is missing.
      download_.reset();
      Status failure =
          n.ok() ? Unavailable(Describe("read", key_) + ": the answer ended early") : n.status();
      if (failure.code() != StatusCode::kUnavailable ||
          ++failures >= store_->options_.max_attempts) {
        return failure;
      }
      std::this_thread::sleep_for(store_->client_->Backoff(failures));
    }
  }

  std::int64_t size() const override { return length_; }

 private:
  // A new GET for [next_, end_) of the same object version.
  Status Reconnect() {
    s3::Request request;
    request.key = store_->ObjectKey(key_);
    request.headers.push_back(RangeHeader(next_, end_));
    if (!etag_.empty()) request.headers.push_back("If-Match: " + etag_);
    ASSIGN_OR_RETURN(auto download, store_->client_->Get(request));
    const s3::Response& response = download->response();
    if (response.status == 404) {
      return DataLoss(Describe("read", key_) + ": it was deleted while being read");
    }
    if (response.status == 412) {
      return DataLoss(Describe("read", key_) + ": it changed while being read");
    }
    RETURN_IF_ERROR(CheckAnswer(response, Describe("read", key_)));
    auto range = s3::ParseContentRange(response.Header("content-range"));
    if (response.status != 206 || !range || range->first != next_ || range->last != end_ - 1) {
      return Internal(Describe("read", key_) + ": S3 answered a resumed range with HTTP " +
                      std::to_string(response.status) + " and Content-Range '" +
                      response.Header("content-range") + "'");
    }
    download_ = std::move(download);
    return Status::Ok();
  }

  S3BlobStore* store_;
  const std::string key_;
  std::unique_ptr<s3::Download> download_;  // Null when empty or between reconnects.
  std::string etag_;
  std::int64_t next_;
  const std::int64_t end_;
  const std::int64_t length_;
};

// ---------------------------------------------------------------------------------------------
// Writer: a sub-part buffer filling while the previous sub-part uploads; see the header.

class S3BlobWriter final : public BlobWriter {
 public:
  S3BlobWriter(S3BlobStore* store, std::string key)
      : store_(store), key_(std::move(key)), object_key_(store->ObjectKey(key_)) {}

  ~S3BlobWriter() override { Abort(); }

  Status Append(std::span<const char> data) override {
    if (state_ != State::kOpen) return FailedPrecondition(Describe("append to finished", key_));
    Status s = AppendImpl(data);
    if (s.ok()) {
      written_ += static_cast<std::int64_t>(data.size());
    } else {
      Discard();  // The parts no longer match what the caller sent: this writer can only fail.
    }
    return s;
  }

  Status Commit() override {
    if (state_ != State::kOpen) return FailedPrecondition(Describe("commit finished", key_));
    // From here on this writer is finished whatever happens: a failed Commit is final.
    state_ = State::kFinished;
    Status s = CommitImpl();
    if (!s.ok()) Discard();
    return s;
  }

  void Abort() override {
    if (state_ != State::kOpen) return;
    Discard();
  }

  std::int64_t bytes_written() const override { return written_; }

 private:
  enum class State { kOpen, kFinished };

  std::size_t part_bytes() const { return store_->options_.part_bytes; }

  Status AppendImpl(std::span<const char> data) {
    while (!data.empty()) {
      if (!filling_) filling_ = store_->TakeBuffer();
      // A full buffer is sent only once more bytes arrive: a blob that ends exactly at the
      // buffer's end still goes out as one PutObject.
      if (filled_ == part_bytes()) RETURN_IF_ERROR(SendFullBuffer());
      const std::size_t take = std::min(part_bytes() - filled_, data.size());
      std::memcpy(filling_.get() + filled_, data.data(), take);
      filled_ += take;
      data = data.subspan(take);
    }
    return Status::Ok();
  }

  // Starts uploading the full buffer as the next part and gives the writer the other buffer.
  Status SendFullBuffer() {
    if (upload_id_.empty()) {
      ASSIGN_OR_RETURN(upload_id_, store_->StartUpload(object_key_));
    }
    RETURN_IF_ERROR(WaitForPart());
    // One more part after this one is needed at least: the last, sent by Commit.
    const int number = static_cast<int>(etags_.size()) + 1;
    if (number + 1 > kMaxParts) {
      return Status(StatusCode::kResourceExhausted, Describe("write", key_) + ": more than " +
                                                        std::to_string(kMaxParts) + " parts of " +
                                                        std::to_string(part_bytes()) + " bytes");
    }
    std::swap(filling_, sending_);
    if (!filling_) filling_ = store_->TakeBuffer();
    const std::span<const char> bytes(sending_.get(), filled_);
    filled_ = 0;
    // The task reads only members that stay unchanged until WaitForPart collects it.
    in_flight_ = std::async(std::launch::async, [this, number, bytes] {
      return store_->UploadPart(object_key_, upload_id_, number, bytes);
    });
    return Status::Ok();
  }

  // Waits for the part in flight, if any, and records its ETag.
  Status WaitForPart() {
    if (!in_flight_.valid()) return Status::Ok();
    Result<std::string> etag = in_flight_.get();
    if (!etag.ok()) return etag.status();
    etags_.push_back(std::move(etag).value());
    return Status::Ok();
  }

  Status CommitImpl() {
    const std::span<const char> last(filling_.get(), filled_);
    if (upload_id_.empty()) {
      Status s = store_->PutObject(object_key_, last);
      ReleaseBuffers();
      return s;
    }
    RETURN_IF_ERROR(WaitForPart());
    // Sending the buffer filled first (before SendFullBuffer was needed) guarantees the last
    // part is not empty.
    ASSIGN_OR_RETURN(
        std::string etag,
        store_->UploadPart(object_key_, upload_id_, static_cast<int>(etags_.size()) + 1, last));
    etags_.push_back(std::move(etag));
    ReleaseBuffers();
    Status s = store_->CompleteUpload(object_key_, upload_id_, etags_, written_);
    if (s.ok()) {
      upload_id_.clear();
      return s;
    }
    // The answer may have been lost after S3 completed the upload: make sure no object
    // outlives the failed Commit. The key is this writer's alone, so nothing else is lost.
    store_->Delete(key_).IgnoreError();
    return s;
  }

  void ReleaseBuffers() {
    if (filling_) store_->GiveBuffer(std::move(filling_));
    if (sending_) store_->GiveBuffer(std::move(sending_));
    filled_ = 0;
  }

  // Ends the writer without a blob: waits for the part in flight (a part landing after the
  // abort would keep its bytes), then aborts the upload. Best effort: CleanupTemporary
  // aborts what this misses.
  void Discard() {
    state_ = State::kFinished;
    if (in_flight_.valid()) in_flight_.get().status().IgnoreError();
    ReleaseBuffers();
    if (!upload_id_.empty()) {
      store_->AbortUpload(object_key_, upload_id_).IgnoreError();
      upload_id_.clear();
    }
  }

  S3BlobStore* store_;
  const std::string key_;
  const std::string object_key_;
  std::unique_ptr<char[]> filling_;  // The buffer Append copies into.
  std::size_t filled_ = 0;
  std::unique_ptr<char[]> sending_;  // The buffer of the part in flight (or the spare).
  std::future<Result<std::string>> in_flight_;
  std::string upload_id_;           // Empty until a multipart upload starts, and once it ends.
  std::vector<std::string> etags_;  // Of the parts sent, in order.
  std::int64_t written_ = 0;
  State state_ = State::kOpen;
};

// ---------------------------------------------------------------------------------------------
// Store.

S3BlobStore::S3BlobStore(S3BlobOptions options, std::unique_ptr<s3::Client> client)
    : options_(std::move(options)), client_(std::move(client)) {}

S3BlobStore::~S3BlobStore() = default;

Result<std::unique_ptr<S3BlobStore>> S3BlobStore::Open(S3BlobOptions options) {
  if (options.part_bytes == 0 || options.part_bytes > kMaxS3PartBytes) {
    return InvalidArgument("S3BlobOptions.part_bytes must be between 1 and 5 GiB");
  }
  if (options.max_attempts < 1) return InvalidArgument("S3BlobOptions.max_attempts must be >= 1");
  if (!options.key_prefix.empty()) {
    if (options.key_prefix.back() != '/') options.key_prefix += '/';
    RETURN_IF_ERROR(
        ValidateKey(std::string_view(options.key_prefix).substr(0, options.key_prefix.size() - 1),
                    "S3 key prefix"));
  }
  if (options.access_key_id.empty() && options.secret_access_key.empty()) {
    options.access_key_id = Env("AWS_ACCESS_KEY_ID");
    options.secret_access_key = Env("AWS_SECRET_ACCESS_KEY");
    if (options.session_token.empty()) options.session_token = Env("AWS_SESSION_TOKEN");
  }
  if (options.endpoint.empty()) {
    options.endpoint = "https://s3." + options.region + ".amazonaws.com";
  }

  s3::ClientOptions client_options;
  client_options.endpoint = options.endpoint;
  client_options.region = options.region;
  client_options.bucket = options.bucket;
  client_options.path_style = options.path_style;
  client_options.access_key_id = options.access_key_id;
  client_options.secret_access_key = options.secret_access_key;
  client_options.session_token = options.session_token;
  client_options.retry.max_attempts = options.max_attempts;
  client_options.retry.base_delay = options.retry_base_delay;
  client_options.connect_timeout = options.connect_timeout;
  ASSIGN_OR_RETURN(auto client, s3::Client::Make(std::move(client_options)));
  std::unique_ptr<S3BlobStore> store(new S3BlobStore(std::move(options), std::move(client)));
  RETURN_IF_ERROR(store->EnsureBucket());
  return store;
}

Status S3BlobStore::EnsureBucket() {
  const std::string what = "open S3 " + client_->Describe();
  s3::Request head;
  head.method = "HEAD";
  ASSIGN_OR_RETURN(s3::Response found, client_->Send(head));
  if (!found.error) return Status::Ok();
  if (found.status != 404) return s3::ErrorToStatus(*found.error, what);
  if (!options_.create_bucket) {
    return Unavailable(what + ": the bucket does not exist (and create_bucket is off)");
  }
  s3::Request create;
  create.method = "PUT";
  // Outside us-east-1, S3 wants the region restated in the body.
  std::string body;
  if (options_.region != "us-east-1") {
    body = "<CreateBucketConfiguration><LocationConstraint>" + s3::XmlEscape(options_.region) +
           "</LocationConstraint></CreateBucketConfiguration>";
  }
  create.body = body;
  ASSIGN_OR_RETURN(s3::Response created, client_->Send(create));
  // Another node (or test) may have created it a moment ago.
  if (!created.error || created.error->code == "BucketAlreadyOwnedByYou") return Status::Ok();
  Status s = s3::ErrorToStatus(*created.error, what + ": create the bucket");
  return s.code() == StatusCode::kNotFound ? Unavailable(s.message()) : s;
}

std::unique_ptr<char[]> S3BlobStore::TakeBuffer() {
  {
    std::lock_guard lock(buffers_mu_);
    if (!idle_buffers_.empty()) {
      auto buffer = std::move(idle_buffers_.back());
      idle_buffers_.pop_back();
      return buffer;
    }
  }
  // Uninitialized on purpose: a small blob touches only the pages it fills.
  return std::make_unique_for_overwrite<char[]>(options_.part_bytes);
}

void S3BlobStore::GiveBuffer(std::unique_ptr<char[]> buffer) {
  std::lock_guard lock(buffers_mu_);
  if (idle_buffers_.size() < options_.max_idle_buffers) idle_buffers_.push_back(std::move(buffer));
}

Result<std::string> S3BlobStore::StartUpload(const std::string& object_key) {
  s3::Request request;
  request.method = "POST";
  request.key = object_key;
  request.query = {{"uploads", ""}};
  ASSIGN_OR_RETURN(s3::Response response, client_->Send(request));
  RETURN_IF_ERROR(CheckAnswer(response, "start multipart upload of '" + object_key + "'"));
  auto id = s3::XmlField(response.body, "UploadId");
  if (!id || id->empty()) {
    return Internal("start multipart upload of '" + object_key + "': no UploadId in the answer");
  }
  return *id;
}

Result<std::string> S3BlobStore::UploadPart(const std::string& object_key,
                                            const std::string& upload_id, int part_number,
                                            std::span<const char> bytes) {
  s3::Request request;
  request.method = "PUT";
  request.key = object_key;
  request.query = {{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}};
  request.body = bytes;
  const std::string what =
      "upload part " + std::to_string(part_number) + " of '" + object_key + "'";
  ASSIGN_OR_RETURN(s3::Response response, client_->Send(request));
  RETURN_IF_ERROR(CheckAnswer(response, what));
  std::string etag = response.Header("etag");
  if (etag.empty()) return Internal(what + ": no ETag in the answer");
  return etag;
}

Status S3BlobStore::CompleteUpload(const std::string& object_key, const std::string& upload_id,
                                   const std::vector<std::string>& etags, std::int64_t size) {
  std::string body = "<CompleteMultipartUpload>";
  for (std::size_t i = 0; i < etags.size(); ++i) {
    body += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" +
            s3::XmlEscape(etags[i]) + "</ETag></Part>";
  }
  body += "</CompleteMultipartUpload>";
  s3::Request request;
  request.method = "POST";
  request.key = object_key;
  request.query = {{"uploadId", upload_id}};
  request.headers = {"Content-Type: application/xml"};
  request.body = body;
  ASSIGN_OR_RETURN(s3::Response response, client_->Send(request));
  if (!response.error) return Status::Ok();
  if (response.error->code == "NoSuchUpload") {
    // A retry after a success whose answer was lost finds the upload gone: the object tells.
    auto found = HeadObject(object_key, "check the completed upload of '" + object_key + "'");
    if (found.ok() && *found == size) return Status::Ok();
  }
  return s3::ErrorToStatus(*response.error, "complete multipart upload of '" + object_key + "'");
}

Status S3BlobStore::AbortUpload(const std::string& object_key, const std::string& upload_id) {
  s3::Request request;
  request.method = "DELETE";
  request.key = object_key;
  request.query = {{"uploadId", upload_id}};
  ASSIGN_OR_RETURN(s3::Response response, client_->Send(request));
  // Already gone (aborted by another node's CleanupTemporary, or by an earlier attempt).
  if (response.status == 404) return Status::Ok();
  return CheckAnswer(response, "abort multipart upload of '" + object_key + "'");
}

Status S3BlobStore::PutObject(const std::string& object_key, std::span<const char> bytes) {
  s3::Request request;
  request.method = "PUT";
  request.key = object_key;
  request.body = bytes;
  ASSIGN_OR_RETURN(s3::Response response, client_->Send(request));
  return CheckAnswer(response, "put object '" + object_key + "'");
}

Result<std::int64_t> S3BlobStore::HeadObject(const std::string& object_key, std::string_view what) {
  s3::Request request;
  request.method = "HEAD";
  request.key = object_key;
  ASSIGN_OR_RETURN(s3::Response response, client_->Send(request));
  RETURN_IF_ERROR(CheckAnswer(response, what));
  auto size = ParseLength(response.Header("content-length"));
  if (!size) return Internal(std::string(what) + ": no Content-Length in the answer");
  return *size;
}

Result<std::unique_ptr<BlobWriter>> S3BlobStore::NewWriter(const std::string& key) {
  RETURN_IF_ERROR(ValidateKey(key));
  if (options_.key_prefix.size() + key.size() > kMaxKeyBytes) {
    return InvalidArgument("Invalid blob key: longer than S3 allows with the prefix");
  }
  return std::unique_ptr<BlobWriter>(std::make_unique<S3BlobWriter>(this, key));
}

Result<std::unique_ptr<BlobReader>> S3BlobStore::NewReader(const std::string& key,
                                                           std::int64_t offset,
                                                           std::int64_t length) {
  RETURN_IF_ERROR(ValidateKey(key));
  if (offset < 0) return InvalidArgument("Negative blob offset");
  auto empty_reader = [&] {
    return std::unique_ptr<BlobReader>(
        std::make_unique<S3BlobReader>(this, key, nullptr, offset, 0));
  };
  // A range HTTP cannot ask for (nothing, or past int64): the size decides alone.
  if (length == 0 || (length > 0 && length > std::numeric_limits<std::int64_t>::max() - offset)) {
    ASSIGN_OR_RETURN(std::int64_t size, Stat(key));
    if (length == 0 && offset <= size) return empty_reader();
    return OutOfRange(Describe("read", key) + ": range past its end");
  }

  s3::Request request;
  request.key = ObjectKey(key);
  request.headers.push_back(RangeHeader(offset, length < 0 ? -1 : offset + length));
  ASSIGN_OR_RETURN(auto download, client_->Get(request));
  const s3::Response& response = download->response();
  if (response.status == 416) {
    // Nothing at or after `offset`: fine only for "to the end" from exactly the end (an empty
    // blob included, which S3 cannot serve any range of).
    download.reset();
    ASSIGN_OR_RETURN(std::int64_t size, Stat(key));
    if (length < 0 && offset == size) return empty_reader();
    return OutOfRange(Describe("read", key) + ": range past its end");
  }
  if (Status s = CheckAnswer(response, Describe("read", key)); !s.ok()) {
    if (s.code() == StatusCode::kNotFound) return NotFound("No such blob: " + key);
    return s;
  }
  auto range = s3::ParseContentRange(response.Header("content-range"));
  if (response.status != 206 || !range || range->first != offset || range->total < 0) {
    return Internal(Describe("read", key) + ": S3 answered a range request with HTTP " +
                    std::to_string(response.status) + " and Content-Range '" +
                    response.Header("content-range") + "'");
  }
  // S3 shortens a range that runs past the end instead of refusing it.
  if (length < 0) {
    length = range->total - offset;
  } else if (length > range->total - offset) {
    return OutOfRange(Describe("read", key) + ": range past its end");
  }
  if (range->last != offset + length - 1) {
    return Internal(Describe("read", key) +
                    ": S3 answered a different range: " + response.Header("content-range"));
  }
  return std::unique_ptr<BlobReader>(
      std::make_unique<S3BlobReader>(this, key, std::move(download), offset, length));
}

Result<std::int64_t> S3BlobStore::Stat(const std::string& key) {
  RETURN_IF_ERROR(ValidateKey(key));
  auto size = HeadObject(ObjectKey(key), Describe("stat", key));
  if (!size.ok() && size.status().code() == StatusCode::kNotFound) {
    return NotFound("No such blob: " + key);
  }
  return size;
}

Status S3BlobStore::Delete(const std::string& key) {
  RETURN_IF_ERROR(ValidateKey(key));
  s3::Request request;
  request.method = "DELETE";
  request.key = ObjectKey(key);
  ASSIGN_OR_RETURN(s3::Response response, client_->Send(request));
  if (response.status == 404) return Status::Ok();
  return CheckAnswer(response, Describe("delete", key));
}

Result<std::vector<S3BlobStore::PendingUpload>> S3BlobStore::ListPendingUploads() {
  const std::string what = "list multipart uploads in S3 " + client_->Describe();
  std::vector<PendingUpload> uploads;
  std::string key_marker, upload_id_marker;
  for (;;) {
    s3::Request request;
    request.query = {{"uploads", ""}};
    if (!options_.key_prefix.empty()) request.query.emplace_back("prefix", options_.key_prefix);
    if (!key_marker.empty()) request.query.emplace_back("key-marker", key_marker);
    if (!upload_id_marker.empty()) {
      request.query.emplace_back("upload-id-marker", upload_id_marker);
    }
    ASSIGN_OR_RETURN(s3::Response response, client_->Send(request));
    RETURN_IF_ERROR(CheckAnswer(response, what));
    for (std::string_view element : s3::XmlElements(response.body, "Upload")) {
      auto key = s3::XmlField(element, "Key");
      auto id = s3::XmlField(element, "UploadId");
      auto initiated = s3::ParseTimestampMillis(s3::XmlField(element, "Initiated").value_or(""));
      if (!key || !id || !initiated) return Internal(what + ": malformed <Upload> in the answer");
      uploads.push_back({std::move(*key), std::move(*id), *initiated});
    }
    if (s3::XmlField(response.body, "IsTruncated").value_or("") != "true") break;
    key_marker = s3::XmlField(response.body, "NextKeyMarker").value_or("");
    upload_id_marker = s3::XmlField(response.body, "NextUploadIdMarker").value_or("");
    if (key_marker.empty() && upload_id_marker.empty()) {
      return Internal(what + ": a truncated listing without a marker to continue from");
    }
  }
  return uploads;
}

Status S3BlobStore::CleanupTemporary(std::int64_t older_than_seconds) {
  if (older_than_seconds < 0) return InvalidArgument("older_than_seconds is negative");
  ASSIGN_OR_RETURN(auto uploads, ListPendingUploads());
  // Initiated times come from the engine's clock, so they are compared with real time.
  const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  const std::int64_t cutoff_ms = now_ms - older_than_seconds * 1000;
  Status first_error;
  for (const auto& upload : uploads) {
    if (upload.initiated_ms >= cutoff_ms) continue;
    // One failure must not keep the rest from being cleaned.
    Status s = AbortUpload(upload.key, upload.upload_id);
    if (!s.ok() && first_error.ok()) first_error = std::move(s);
  }
  return first_error;
}

Status S3BlobStore::Ping() {
  s3::Request request;
  request.method = "HEAD";
  ASSIGN_OR_RETURN(s3::Response response, client_->Send(request));
  Status s = CheckAnswer(response, "ping S3 " + client_->Describe());
  if (s.ok() || s.code() == StatusCode::kUnavailable) return s;
  return Unavailable(s.message());
}

}  // namespace fileport

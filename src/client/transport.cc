// One HTTP exchange over libcurl: RAII for every curl handle, request bodies pulled through
// read callbacks, response bodies pushed to a sink or kept, curl codes translated to ApiError.
#include "client/transport.h"

#include <curl/curl.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <istream>
#include <mutex>

namespace fileport::client::internal {
namespace {

struct CurlEasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct CurlMimeDeleter {
  void operator()(curl_mime* m) const { curl_mime_free(m); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using EasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
using MimePtr = std::unique_ptr<curl_mime, CurlMimeDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, CurlSlistDeleter>;
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

class BytesReader : public BodyReader {
 public:
  explicit BytesReader(std::string_view data) : data_(data) {}
  Result<std::size_t> Read(char* buf, std::size_t n) override {
    std::size_t k = std::min(n, data_.size() - pos_);
    std::copy_n(data_.data() + pos_, k, buf);
    pos_ += k;
    return k;
  }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
};

class FileRangeReader : public BodyReader {
 public:
  FileRangeReader(FilePtr f, std::int64_t remaining) : f_(std::move(f)), remaining_(remaining) {}
  Result<std::size_t> Read(char* buf, std::size_t n) override {
    std::size_t want = static_cast<std::size_t>(std::min<std::int64_t>(n, remaining_));
    if (want == 0) return std::size_t{0};
    std::size_t got = std::fread(buf, 1, want, f_.get());
    if (got == 0) return UsageError("the input file ended early or could not be read");
    remaining_ -= static_cast<std::int64_t>(got);
    return got;
  }

 private:
  FilePtr f_;
  std::int64_t remaining_;
};

class StreamReader : public BodyReader {
 public:
  explicit StreamReader(std::istream* s) : s_(s) {}
  Result<std::size_t> Read(char* buf, std::size_t n) override {
    s_->read(buf, static_cast<std::streamsize>(n));
    std::streamsize got = s_->gcount();
    if (got == 0 && s_->bad()) return UsageError("the input stream could not be read");
    return static_cast<std::size_t>(got);
  }

 private:
  std::istream* s_;
};

// State shared with the curl callbacks of one attempt.
struct Exchange {
  const HttpRequest* request = nullptr;
  CURL* curl = nullptr;
  HttpResponse response;
  std::unique_ptr<BodyReader> reader;
  std::optional<ApiError> local_error;  // a reader or sink failure
};

std::size_t OnHeader(char* data, std::size_t size, std::size_t n, void* arg) {
  auto* ex = static_cast<Exchange*>(arg);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {  // a new response (after 100 Continue, say): start over
    ex->response.headers.clear();
    return size * n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.remove_suffix(1);
  ex->response.headers.emplace(std::move(name), std::string(value));
  return size * n;
}

ApiError UnexpectedStatus(int required, long status) {
  ApiError e;
  e.kind = ErrorKind::kInvalidResponse;
  e.http_status = static_cast<int>(status);
  e.message = "Expected HTTP " + std::to_string(required) + " but the server answered " +
              std::to_string(status);
  return e;
}

std::size_t OnBody(char* data, std::size_t size, std::size_t n, void* arg) {
  auto* ex = static_cast<Exchange*>(arg);
  long status = 0;
  curl_easy_getinfo(ex->curl, CURLINFO_RESPONSE_CODE, &status);
  std::string_view bytes(data, size * n);
  if (ex->request->sink != nullptr && status >= 200 && status < 300) {
    if (ex->request->required_status != 0 && status != ex->request->required_status) {
      ex->local_error = UnexpectedStatus(ex->request->required_status, status);
      return 0;  // aborts the transfer
    }
    if (!ex->request->sink->Write(bytes)) {
      ex->local_error = UsageError("the response sink refused the downloaded bytes");
      return 0;  // aborts the transfer
    }
    ex->response.sink_bytes += static_cast<std::int64_t>(bytes.size());
  } else {
    ex->response.body.append(bytes);
  }
  return size * n;
}

std::size_t OnRead(char* buf, std::size_t size, std::size_t n, void* arg) {
  auto* ex = static_cast<Exchange*>(arg);
  auto got = ex->reader->Read(buf, size * n);
  if (!got.ok()) {
    ex->local_error = got.error();
    return CURL_READFUNC_ABORT;
  }
  return *got;
}

ApiError TransportError(CURLcode code, const char* detail) {
  ApiError e;
  e.kind = code == CURLE_OPERATION_TIMEDOUT ? ErrorKind::kTimeout : ErrorKind::kConnection;
  e.message =
      std::string(e.kind == ErrorKind::kTimeout ? "Request timed out: " : "Connection error: ") +
      (detail[0] != '\0' ? detail : curl_easy_strerror(code));
  return e;
}

}  // namespace

std::string HttpResponse::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

BodySource BytesSource(std::string_view data) {
  BodySource s;
  s.size = static_cast<std::int64_t>(data.size());
  s.open = [data]() -> Result<std::unique_ptr<BodyReader>> {
    return std::unique_ptr<BodyReader>(std::make_unique<BytesReader>(data));
  };
  return s;
}

Result<BodySource> FileRangeSource(const std::string& path, std::int64_t offset,
                                   std::int64_t length) {
  std::error_code ec;
  auto file_size = std::filesystem::file_size(path, ec);
  if (ec) return UsageError("cannot read " + path + ": " + ec.message(), "file");
  if (length < 0) length = static_cast<std::int64_t>(file_size) - offset;
  if (offset < 0 || offset + length > static_cast<std::int64_t>(file_size)) {
    return UsageError("byte range outside " + path, "file");
  }
  BodySource s;
  s.size = length;
  s.open = [path, offset, length]() -> Result<std::unique_ptr<BodyReader>> {
    FilePtr f(std::fopen(path.c_str(), "rb"));
    if (!f) return UsageError("cannot open " + path, "file");
    if (::fseeko(f.get(), static_cast<off_t>(offset), SEEK_SET) != 0) {
      return UsageError("cannot seek in " + path, "file");
    }
    return std::unique_ptr<BodyReader>(std::make_unique<FileRangeReader>(std::move(f), length));
  };
  return s;
}

BodySource CountingSource(BodySource source, std::function<void(std::int64_t)> on_read) {
  class Counting : public BodyReader {
   public:
    using Callback = std::shared_ptr<const std::function<void(std::int64_t)>>;
    Counting(std::unique_ptr<BodyReader> inner, Callback cb)
        : inner_(std::move(inner)), cb_(std::move(cb)) {}
    Result<std::size_t> Read(char* buf, std::size_t n) override {
      auto got = inner_->Read(buf, n);
      if (got.ok() && *got > 0) {
        total_ += static_cast<std::int64_t>(*got);
        (*cb_)(total_);
      }
      return got;
    }

   private:
    std::unique_ptr<BodyReader> inner_;
    Callback cb_;
    std::int64_t total_ = 0;
  };
  BodySource s;
  s.size = source.size;
  s.open = [open = std::move(source.open),
            cb = std::make_shared<const std::function<void(std::int64_t)>>(std::move(on_read))]()
      -> Result<std::unique_ptr<BodyReader>> {
    auto inner = open();
    if (!inner.ok()) return inner.error();
    (*cb)(0);
    return std::unique_ptr<BodyReader>(std::make_unique<Counting>(std::move(inner).value(), cb));
  };
  return s;
}

BodySource StreamSource(std::istream* stream, std::optional<std::int64_t> size) {
  BodySource s;
  s.size = size.value_or(-1);
  auto start = std::make_shared<std::streampos>(stream->tellg());
  auto used = std::make_shared<bool>(false);
  s.open = [stream, start, used]() -> Result<std::unique_ptr<BodyReader>> {
    if (*used) {
      stream->clear();
      if (*start == std::streampos(-1) || !stream->seekg(*start)) {
        return UsageError("the input stream cannot be rewound for a retry", "file");
      }
    }
    *used = true;
    return std::unique_ptr<BodyReader>(std::make_unique<StreamReader>(stream));
  };
  return s;
}

Result<HttpResponse> PerformOnce(const TransportConfig& config, const HttpRequest& request) {
  GlobalInit();
  EasyPtr curl(curl_easy_init());
  if (!curl) return UsageError("curl_easy_init failed");
  CURL* c = curl.get();
  Exchange ex;
  ex.request = &request;
  ex.curl = c;
  char errbuf[CURL_ERROR_SIZE] = {0};

  std::string url = config.base_url + request.path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(config.timeout.count()));
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &ex);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &ex);

  curl_slist* raw_headers = nullptr;
  for (const auto& h : config.headers) raw_headers = curl_slist_append(raw_headers, h.c_str());
  for (const auto& h : request.headers) raw_headers = curl_slist_append(raw_headers, h.c_str());
  MimePtr mime;
  if (request.file || !request.fields.empty()) {
    mime.reset(curl_mime_init(c));
    for (const auto& f : request.fields) {
      curl_mimepart* part = curl_mime_addpart(mime.get());
      curl_mime_name(part, f.name.c_str());
      curl_mime_data(part, f.value.data(), f.value.size());
    }
    if (request.file) {
      auto reader = request.file->source.open();
      if (!reader.ok()) {
        SlistPtr cleanup(raw_headers);
        return reader.error();
      }
      ex.reader = std::move(reader).value();
      curl_mimepart* part = curl_mime_addpart(mime.get());
      curl_mime_name(part, request.file->name.c_str());
      curl_mime_filename(part, request.file->filename.c_str());
      curl_mime_type(part, request.file->content_type.c_str());
      // No seek callback: a rewind inside one attempt fails the attempt, and the retry loop
      // opens a fresh reader instead.
      curl_mime_data_cb(part, request.file->source.size, OnRead, nullptr, nullptr, &ex);
    }
    curl_easy_setopt(c, CURLOPT_MIMEPOST, mime.get());
  } else if (request.json) {
    raw_headers = curl_slist_append(raw_headers, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.json->data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.json->size()));
  } else if (request.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(0));
  }
  if (request.method != "GET" && request.method != "POST") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  SlistPtr headers(raw_headers);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

  CURLcode rc = curl_easy_perform(c);
  if (ex.local_error) return *ex.local_error;
  if (rc != CURLE_OK) return TransportError(rc, errbuf);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  ex.response.status = static_cast<int>(status);
  if (request.required_status != 0 && status >= 200 && status < 300 &&
      status != request.required_status) {
    return UnexpectedStatus(request.required_status, status);
  }
  return std::move(ex.response);
}

std::optional<std::int64_t> ParseHttpDate(const std::string& text) {
  time_t t = curl_getdate(text.c_str(), nullptr);
  if (t < 0) return std::nullopt;
  return static_cast<std::int64_t>(t);
}

std::string UrlEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out.push_back(static_cast<char>(ch));
    } else {
      out.push_back('%');
      out.push_back(kHex[ch >> 4]);
      out.push_back(kHex[ch & 15]);
    }
  }
  return out;
}

}  // namespace fileport::client::internal

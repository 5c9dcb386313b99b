// The end-to-end fixture: server assembly (as src/cli/serve.cc does it), raw connections and
// the JSON shape assertions.
#include "e2e/test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "store/factory.h"

namespace fileport::testing {
namespace json = boost::json;

// ---------------------------------------------------------------------------------------------
// TestServer

TestServer::TestServer(TestServerOptions options)
    : options_(std::move(options)), clock_(options_.start_millis) {
  // A peer that closes early must not kill the test process.
  signal(SIGPIPE, SIG_IGN);
  std::string tmpl = (std::filesystem::temp_directory_path() / "fileport-e2e-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed: " << std::strerror(errno);
    return;
  }
  dir_ = tmpl;
  auto meta = OpenMetadataStore("sqlite://" + (dir_ / "meta.db").string());
  if (!meta.ok()) {
    ADD_FAILURE() << "metadata store: " << meta.status().ToString();
    return;
  }
  meta_ = std::move(meta).value();
  auto blobs = OpenBlobStore("file://" + blob_dir().string());
  if (!blobs.ok()) {
    ADD_FAILURE() << "blob store: " << blobs.status().ToString();
    return;
  }
  blobs_ = std::move(blobs).value();
  if (options_.wrap_blobs) blobs_ = options_.wrap_blobs(std::move(blobs_));
  ctx_ = std::make_unique<ServiceContext>(
      ServiceContext{*meta_, *blobs_, clock_, ids_, options_.service});
  files_ = std::make_unique<FileService>(*ctx_);
  uploads_ = std::make_unique<UploadService>(*ctx_, *files_);
  auth_ = std::make_unique<Authenticator>(*meta_, clock_, ids_);
  sweeper_ = std::make_unique<Sweeper>(*ctx_);  // never Start()ed: tests call RunOnce
  api_ = std::make_unique<Api>(*files_, *uploads_, *auth_, *ctx_, metrics_, sweeper_.get(),
                               options_.api);
  ServerOptions so = options_.server;
  so.host = "127.0.0.1";
  so.port = 0;
  auto server = HttpServer::Start(*api_, so);
  if (!server.ok()) {
    ADD_FAILURE() << "server: " << server.status().ToString();
    return;
  }
  server_ = std::move(server).value();
}

TestServer::~TestServer() {
  if (server_) server_->Stop();
  server_.reset();
  api_.reset();
  sweeper_.reset();
  auth_.reset();
  uploads_.reset();
  files_.reset();
  ctx_.reset();
  blobs_.reset();
  meta_.reset();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::uint16_t TestServer::port() const { return server_ ? server_->port() : 0; }

std::string TestServer::base_url() const { return "http://127.0.0.1:" + std::to_string(port()); }

HttpClient TestServer::Client(const std::string& api_key) const {
  HttpClient c(base_url());
  if (!api_key.empty()) c.set_api_key(api_key);
  return c;
}

std::vector<std::string> TestServer::BlobFiles() const {
  std::vector<std::string> out;
  std::error_code ec;
  if (!std::filesystem::exists(blob_dir(), ec)) return out;
  for (auto it = std::filesystem::recursive_directory_iterator(blob_dir(), ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) {
      out.push_back(std::filesystem::relative(it->path(), blob_dir()).string());
    }
  }
  return out;
}

std::multiset<std::string> TestServer::BlobFileNames() const {
  std::multiset<std::string> out;
  for (const auto& f : BlobFiles()) out.insert(std::filesystem::path(f).filename().string());
  return out;
}

std::string TestServer::CreateKey(const std::string& project) {
  auto k = auth_->CreateKey(project);
  if (!k.ok()) {
    ADD_FAILURE() << "CreateKey(" << project << "): " << k.status().ToString();
    return "";
  }
  return k->secret;
}

void E2eTest::Restart(TestServerOptions options) {
  client_.reset();
  server_.reset();
  server_ = std::make_unique<TestServer>(std::move(options));
  ASSERT_TRUE(server_->ok());
  client_ = std::make_unique<HttpClient>(server_->Client());
}

// ---------------------------------------------------------------------------------------------
// RawConnection

int ConnectLoopback(std::uint16_t port, int receive_buffer) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (receive_buffer > 0 &&
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer) != 0) {
    ::close(fd);
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

RawConnection::RawConnection(std::uint16_t port, std::chrono::milliseconds timeout,
                             int receive_buffer)
    : timeout_(timeout) {
  fd_ = ConnectLoopback(port, receive_buffer);
  if (fd_ < 0) return;
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::Send(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool RawConnection::ShutdownWrite() { return ::shutdown(fd_, SHUT_WR) == 0; }

bool RawConnection::Fill(std::size_t n, std::string* error) {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  char buf[64 * 1024];
  while (buffer_.size() < n) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      *error = "timed out";
      return false;
    }
    pollfd p{fd_, POLLIN, 0};
    const int pr = ::poll(&p, 1, static_cast<int>(left.count()));
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) {
      *error = "timed out";
      return false;
    }
    const ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got == 0) {
      *error = "connection closed";
      return false;
    }
    if (got < 0) {
      *error = std::string("recv: ") + std::strerror(errno);
      return false;
    }
    buffer_.append(buf, static_cast<std::size_t>(got));
  }
  return true;
}

bool RawConnection::ReadLine(std::string* line, std::string* error) {
  for (;;) {
    const auto eol = buffer_.find("\r\n");
    if (eol != std::string::npos) {
      *line = buffer_.substr(0, eol);
      buffer_.erase(0, eol + 2);
      return true;
    }
    if (!Fill(buffer_.size() + 1, error)) return false;
  }
}

HttpResponse RawConnection::ReadResponse(bool head) {
  HttpResponse r;
  std::string line;
  if (!ReadLine(&line, &r.transport_error)) return r;
  // "HTTP/1.1 200 OK"
  if (line.rfind("HTTP/1.", 0) != 0 || line.size() < 12) {
    r.transport_error = "bad status line: " + line;
    return r;
  }
  const long status = std::strtol(line.c_str() + 9, nullptr, 10);
  for (;;) {
    if (!ReadLine(&line, &r.transport_error)) return r;
    if (line.empty()) break;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
    r.headers.emplace(name, value);
  }
  const bool no_body = head || status / 100 == 1 || status == 204 || status == 304;
  if (!no_body) {
    const std::string te = r.Header("transfer-encoding");
    const std::string cl = r.Header("content-length");
    if (te.find("chunked") != std::string::npos) {
      for (;;) {
        if (!ReadLine(&line, &r.transport_error)) return r;
        const std::size_t size = std::strtoul(line.c_str(), nullptr, 16);
        if (size == 0) {
          // trailers, then the empty line
          do {
            if (!ReadLine(&line, &r.transport_error)) return r;
          } while (!line.empty());
          break;
        }
        if (!Fill(size + 2, &r.transport_error)) return r;
        r.body.append(buffer_, 0, size);
        buffer_.erase(0, size + 2);
      }
    } else if (!cl.empty()) {
      const std::size_t size = std::strtoull(cl.c_str(), nullptr, 10);
      if (!Fill(size, &r.transport_error)) return r;
      r.body = buffer_.substr(0, size);
      buffer_.erase(0, size);
    } else {
      std::string ignored;
      while (Fill(buffer_.size() + 1, &ignored)) {
      }
      r.body = std::move(buffer_);
      buffer_.clear();
    }
  }
  r.status = status;
  return r;
}

bool RawConnection::WaitForClose() {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  char buf[64 * 1024];
  buffer_.clear();
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    const int pr = ::poll(&p, 1, static_cast<int>(left.count()));
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) return false;
    const ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return true;
  }
}

// ---------------------------------------------------------------------------------------------
// JSON helpers

std::string Describe(const HttpResponse& r) {
  std::string s = "HTTP " + std::to_string(r.status);
  if (!r.transport_error.empty()) s += " (transport: " + r.transport_error + ")";
  s += " body: " + (r.body.size() > 600 ? r.body.substr(0, 600) + "…" : r.body);
  return s;
}

json::value ParseJson(const HttpResponse& r) {
  EXPECT_EQ(r.Header("content-type"), "application/json") << Describe(r);
  EXPECT_FALSE(r.Header("x-request-id").empty()) << Describe(r);
  json::error_code ec;
  json::value v = json::parse(r.body, ec);
  EXPECT_FALSE(ec) << "not JSON: " << Describe(r);
  return v;
}

json::object JsonObject(const HttpResponse& r) {
  json::value v = ParseJson(r);
  if (!v.is_object()) {
    ADD_FAILURE() << "not a JSON object: " << Describe(r);
    return {};
  }
  return std::move(v.as_object());
}

void ExpectKeys(const json::object& o, std::set<std::string> keys, const std::string& what) {
  std::set<std::string> got;
  for (const auto& kv : o) got.insert(std::string(kv.key()));
  EXPECT_EQ(got, keys) << what << ": " << json::serialize(o);
}

std::string Str(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string()) {
    ADD_FAILURE() << "'" << key << "' is not a string in " << json::serialize(o);
    return "";
  }
  return std::string(v->as_string());
}

std::int64_t Int(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (v && v->is_int64()) return v->as_int64();
  if (v && v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  ADD_FAILURE() << "'" << key << "' is not an integer in " << json::serialize(o);
  return -1;
}

bool IsNull(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_null();
}

namespace {

bool IsInt(const json::value* v) { return v && (v->is_int64() || v->is_uint64()); }

void ExpectId(const std::string& id, std::string_view prefix) {
  EXPECT_TRUE(IsWellFormedId(id, prefix)) << "bad id '" << id << "' (want " << prefix << "+24)";
}

}  // namespace

void ExpectFileShape(const json::object& o) {
  ExpectKeys(o,
             {"id", "object", "bytes", "created_at", "expires_at", "filename", "purpose", "status",
              "status_details"},
             "File");
  ExpectId(Str(o, "id"), kFilePrefix);
  EXPECT_EQ(Str(o, "object"), "file");
  EXPECT_TRUE(IsInt(o.if_contains("bytes"))) << json::serialize(o);
  EXPECT_TRUE(IsInt(o.if_contains("created_at"))) << json::serialize(o);
  auto* exp = o.if_contains("expires_at");
  EXPECT_TRUE(exp && (exp->is_null() || IsInt(exp))) << json::serialize(o);
  Str(o, "filename");
  Str(o, "purpose");
  const std::string status = Str(o, "status");
  EXPECT_TRUE(status == "uploaded" || status == "processed" || status == "error") << status;
  auto* details = o.if_contains("status_details");
  EXPECT_TRUE(details && (details->is_null() || details->is_string())) << json::serialize(o);
}

void ExpectUploadShape(const json::object& o) {
  ExpectKeys(o,
             {"id", "object", "bytes", "created_at", "expires_at", "filename", "purpose", "status",
              "file"},
             "Upload");
  ExpectId(Str(o, "id"), kUploadPrefix);
  EXPECT_EQ(Str(o, "object"), "upload");
  EXPECT_TRUE(IsInt(o.if_contains("bytes"))) << json::serialize(o);
  EXPECT_TRUE(IsInt(o.if_contains("created_at"))) << json::serialize(o);
  EXPECT_TRUE(IsInt(o.if_contains("expires_at"))) << json::serialize(o);
  Str(o, "filename");
  Str(o, "purpose");
  const std::string status = Str(o, "status");
  EXPECT_TRUE(status == "pending" || status == "completed" || status == "cancelled" ||
              status == "expired")
      << status;
  auto* file = o.if_contains("file");
  ASSERT_TRUE(file && (file->is_null() || file->is_object())) << json::serialize(o);
  if (file->is_object()) ExpectFileShape(file->as_object());
}

void ExpectPartShape(const json::object& o, bool with_bytes) {
  std::set<std::string> keys{"id", "object", "created_at", "upload_id"};
  if (with_bytes) keys.insert("bytes");
  ExpectKeys(o, keys, "UploadPart");
  ExpectId(Str(o, "id"), kPartPrefix);
  EXPECT_EQ(Str(o, "object"), "upload.part");
  EXPECT_TRUE(IsInt(o.if_contains("created_at"))) << json::serialize(o);
  ExpectId(Str(o, "upload_id"), kUploadPrefix);
  if (with_bytes) {
    EXPECT_TRUE(IsInt(o.if_contains("bytes"))) << json::serialize(o);
  }
}

std::vector<std::string> ExpectListShape(const json::object& o) {
  ExpectKeys(o, {"object", "data", "first_id", "last_id", "has_more"}, "list");
  EXPECT_EQ(Str(o, "object"), "list");
  std::vector<std::string> ids;
  auto* data = o.if_contains("data");
  if (!data || !data->is_array()) {
    ADD_FAILURE() << "data is not an array: " << json::serialize(o);
    return ids;
  }
  for (const auto& item : data->as_array()) {
    if (!item.is_object()) {
      ADD_FAILURE() << "list item is not an object: " << json::serialize(o);
      continue;
    }
    auto* id = item.as_object().if_contains("id");
    ids.push_back(id && id->is_string() ? std::string(id->as_string()) : "");
  }
  auto* has_more = o.if_contains("has_more");
  EXPECT_TRUE(has_more && has_more->is_bool()) << json::serialize(o);
  if (ids.empty()) {
    EXPECT_TRUE(IsNull(o, "first_id")) << json::serialize(o);
    EXPECT_TRUE(IsNull(o, "last_id")) << json::serialize(o);
  } else {
    EXPECT_EQ(Str(o, "first_id"), ids.front());
    EXPECT_EQ(Str(o, "last_id"), ids.back());
  }
  return ids;
}

void ExpectErrorWhere(const HttpResponse& r, long status,
                      const std::function<bool(const std::string&)>& message_check,
                      const std::optional<std::string>& param,
                      const std::optional<std::string>& code, const std::string& type) {
  EXPECT_EQ(r.status, status) << Describe(r);
  json::object o = JsonObject(r);
  ExpectKeys(o, {"error"}, "error envelope");
  auto* e = o.if_contains("error");
  if (!e || !e->is_object()) {
    ADD_FAILURE() << "no error object: " << Describe(r);
    return;
  }
  const json::object& err = e->as_object();
  ExpectKeys(err, {"message", "type", "param", "code"}, "error");
  const std::string message = Str(err, "message");
  EXPECT_TRUE(message_check(message)) << "unexpected message: " << message;
  EXPECT_EQ(Str(err, "type"), type);
  if (param) {
    EXPECT_EQ(Str(err, "param"), *param) << Describe(r);
  } else {
    EXPECT_TRUE(IsNull(err, "param")) << "param should be null: " << Describe(r);
  }
  if (code) {
    EXPECT_EQ(Str(err, "code"), *code) << Describe(r);
  } else {
    EXPECT_TRUE(IsNull(err, "code")) << "code should be null: " << Describe(r);
  }
}

void ExpectError(const HttpResponse& r, long status, const std::string& message,
                 const std::optional<std::string>& param, const std::optional<std::string>& code,
                 const std::string& type) {
  EXPECT_EQ(r.ErrorMessage(), message) << Describe(r);
  ExpectErrorWhere(
      r, status, [&](const std::string& m) { return m == message; }, param, code, type);
}

json::object MustCreateFile(const HttpClient& c, const std::string& data,
                            const std::string& filename, const std::string& purpose,
                            const std::string& content_type) {
  auto r = c.PostForm("/v1/files", {{"purpose", purpose, std::nullopt, ""},
                                    {"file", data, filename, content_type}});
  EXPECT_EQ(r.status, 200) << Describe(r);
  if (r.status != 200) return {};
  return JsonObject(r);
}

std::string MustCreateUpload(const HttpClient& c, long long bytes, const std::string& filename,
                             const std::string& purpose, const std::string& mime_type) {
  auto r = c.CreateUpload(bytes, filename, purpose, mime_type);
  EXPECT_EQ(r.status, 200) << Describe(r);
  return r.Field("id");
}

std::string MustAddPart(const HttpClient& c, const std::string& upload_id,
                        const std::string& data) {
  auto r = c.AddPart(upload_id, data);
  EXPECT_EQ(r.status, 200) << Describe(r);
  return r.Field("id");
}

}  // namespace fileport::testing

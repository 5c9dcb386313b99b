// End-to-end test fixture: a real fileport server in this process, on 127.0.0.1 and a free
// port, over SQLite metadata and a local blob directory in a fresh temp directory (removed
// afterwards). Time is a FakeClock the test advances (expiry tests never sleep), the Sweeper
// is run by hand with RunOnce (its thread is never started), and the Authenticator is at hand
// to create and revoke keys. Requests go over real HTTP: HttpClient (libcurl) for ordinary
// ones, RawConnection for byte-level control (chunked bodies, Expect: 100-continue, several
// requests on one connection).
//
// Also here: JSON helpers that assert the exact wire shapes of API.md §2 and the error
// envelope of §1, so every test checks them the same way.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/api.h"
#include "api/metrics.h"
#include "common/clock.h"
#include "common/ids.h"
#include "core/auth.h"
#include "core/file_service.h"
#include "core/service_context.h"
#include "core/sweeper.h"
#include "core/upload_service.h"
#include "http/server.h"
#include "store/blob/blob_store.h"
#include "store/meta/metadata_store.h"
#include "support/http_client.h"

namespace fileport::testing {

struct TestServerOptions {
  // Limits and grace periods; shrink max_file_bytes / max_part_bytes to test limits cheaply.
  ServiceOptions service;
  // Transport tunables; host and port are always 127.0.0.1 and 0 (a free port).
  ServerOptions server;
  ApiOptions api;
  // Where the FakeClock starts (milliseconds since the epoch).
  std::int64_t start_millis = 1'700'000'000'000;
  // Where the local blob store lives; empty: "blobs" in the temp directory. Set it to put the
  // blobs on a filesystem of the test's own (a small tmpfs to fill up, say).
  std::filesystem::path blob_dir;
  // When set, wraps the local blob store (to hold, count or fail writes in a test).
  std::function<std::unique_ptr<BlobStore>(std::unique_ptr<BlobStore>)> wrap_blobs;
};

class TestServer {
 public:
  // Starts the server; a failure to start fails the current test (and leaves ok() false).
  explicit TestServer(TestServerOptions options = {});
  // Stops the server, closes the stores and removes the temp directory.
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  bool ok() const { return server_ != nullptr; }
  std::uint16_t port() const;
  // "http://127.0.0.1:PORT" (routes are appended: "/v1/files").
  std::string base_url() const;
  // A client of this server, sending `api_key` as a Bearer token when not empty.
  HttpClient Client(const std::string& api_key = "") const;

  FakeClock& clock() { return clock_; }
  Sweeper& sweeper() { return *sweeper_; }
  Authenticator& auth() { return *auth_; }
  ServiceContext& context() { return *ctx_; }
  MetadataStore& meta() { return *meta_; }
  BlobStore& blobs() { return *blobs_; }
  Metrics& metrics() { return metrics_; }

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path blob_dir() const {
    return options_.blob_dir.empty() ? dir_ / "blobs" : options_.blob_dir;
  }
  // Relative paths of every regular file under blob_dir(), committed and temporary alike.
  std::vector<std::string> BlobFiles() const;
  // The last path component of each of those files (a blob file is named after the file or
  // part id that owns it).
  std::multiset<std::string> BlobFileNames() const;

  // Creates an API key for `project` (fails the test on error) and returns its secret.
  std::string CreateKey(const std::string& project);

 private:
  TestServerOptions options_;
  std::filesystem::path dir_;
  FakeClock clock_;
  IdGenerator ids_{clock_};
  std::unique_ptr<MetadataStore> meta_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<ServiceContext> ctx_;
  std::unique_ptr<FileService> files_;
  std::unique_ptr<UploadService> uploads_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<Sweeper> sweeper_;
  Metrics metrics_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> server_;
};

// A gtest fixture owning one TestServer (default options) and an open-mode client.
// Restart(options) replaces the server with one built from other options.
class E2eTest : public ::testing::Test {
 protected:
  void SetUp() override { Restart({}); }
  void TearDown() override { server_.reset(); }
  void Restart(TestServerOptions options);

  TestServer& server() { return *server_; }
  const HttpClient& client() const { return *client_; }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<HttpClient> client_;
};

// One HTTP/1.1 connection driven byte by byte. Every read waits at most `timeout`.
// A plain TCP connection to 127.0.0.1:port, for clients that read (or stop reading) at their
// own pace. `receive_buffer`, when set, is fixed before connecting: no autotuning past it. -1 on
// failure.
int ConnectLoopback(std::uint16_t port, int receive_buffer = 0);

class RawConnection {
 public:
  // `receive_buffer`: as for ConnectLoopback.
  explicit RawConnection(std::uint16_t port,
                         std::chrono::milliseconds timeout = std::chrono::seconds(20),
                         int receive_buffer = 0);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  // Writes all of `data`; false when the peer is gone.
  bool Send(std::string_view data);
  // Ends this side's sending (the peer reads end of stream), keeping the reading side open.
  bool ShutdownWrite();
  // Reads the next response (an interim 100 Continue counts as one). Status 0 with
  // transport_error set on timeout, close or garbage. `head`: the request was HEAD (no body).
  HttpResponse ReadResponse(bool head = false);
  // True when the peer closes the connection (EOF or reset) before the timeout; bytes that
  // arrive meanwhile are dropped.
  bool WaitForClose();

 private:
  // Fills buffer_ until it holds at least `n` bytes; false on EOF, error or timeout.
  bool Fill(std::size_t n, std::string* error);
  bool ReadLine(std::string* line, std::string* error);

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string buffer_;  // received, not yet consumed
};

// ---------------------------------------------------------------------------------------------
// JSON helpers. Each asserts (with gtest, non-fatally) and returns what it parsed, so a test
// can go on and report every difference at once.

// Parses a JSON body; asserts Content-Type application/json and an x-request-id.
boost::json::value ParseJson(const HttpResponse& r);
// The body as an object (empty when it is not one; the failure is reported).
boost::json::object JsonObject(const HttpResponse& r);
// Asserts that `o` has exactly these keys.
void ExpectKeys(const boost::json::object& o, std::set<std::string> keys, const std::string& what);
// Asserts a File object (API.md §2): every key, the types, nulls as null.
void ExpectFileShape(const boost::json::object& o);
// Asserts an Upload object; its nested `file` too when not null.
void ExpectUploadShape(const boost::json::object& o);
// Asserts an upload.part object (`with_bytes`: as listed by GET …/parts).
void ExpectPartShape(const boost::json::object& o, bool with_bytes);
// Asserts a list envelope and returns the ids of its data, in order.
std::vector<std::string> ExpectListShape(const boost::json::object& o);

// Asserts an error answer: status, the envelope with exactly message/type/param/code, the
// type `invalid_request_error` unless given, and the exact message, param and code (nullopt:
// JSON null).
void ExpectError(const HttpResponse& r, long status, const std::string& message,
                 const std::optional<std::string>& param = std::nullopt,
                 const std::optional<std::string>& code = std::nullopt,
                 const std::string& type = "invalid_request_error");
// As ExpectError but checks the message with `message_check` instead of equality.
void ExpectErrorWhere(const HttpResponse& r, long status,
                      const std::function<bool(const std::string&)>& message_check,
                      const std::optional<std::string>& param = std::nullopt,
                      const std::optional<std::string>& code = std::nullopt,
                      const std::string& type = "invalid_request_error");

// A human-readable summary of a response for assertion messages.
std::string Describe(const HttpResponse& r);

// Member accessors that report (not crash) on a missing or mistyped key.
std::string Str(const boost::json::object& o, std::string_view key);
std::int64_t Int(const boost::json::object& o, std::string_view key);
bool IsNull(const boost::json::object& o, std::string_view key);

// The 401 message for a request that carries no usable key (API.md §5).
inline constexpr char kNoKeyMessage[] =
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).";
// What API.md §5 says may be shown of a key: its first 5 and last 2 characters.
inline std::string MaskedKey(const std::string& key) {
  return key.substr(0, 5) + "***" + key.substr(key.size() - 2);
}

// Creates a file (fails the test unless 200) and returns its File object.
boost::json::object MustCreateFile(const HttpClient& c, const std::string& data,
                                   const std::string& filename = "data.txt",
                                   const std::string& purpose = "assistants",
                                   const std::string& content_type = "application/octet-stream");
// Creates an upload (fails the test unless 200) and returns its id.
std::string MustCreateUpload(const HttpClient& c, long long bytes,
                             const std::string& filename = "big.bin",
                             const std::string& purpose = "assistants",
                             const std::string& mime_type = "application/octet-stream");
// Adds a part (fails the test unless 200) and returns its id.
std::string MustAddPart(const HttpClient& c, const std::string& upload_id, const std::string& data);

}  // namespace fileport::testing

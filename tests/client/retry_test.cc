// The SDKs' retry rules, proven against a scripted fake server that counts attempts: what is
// retried (503, 429, connection errors), how long the client waits (retry-after-ms), what is
// not (400, x-should-retry: false), and configuration from the environment.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "client/client.h"
#include "client/core.h"
#include "client/fake_server.h"

namespace fileport::client {
namespace {
using testing::FakeHttpServer;
using testing::FakeReply;

const char* kFileJson =
    R"({"id":"file-abc","object":"file","bytes":3,"created_at":1700000000,"expires_at":null,)"
    R"("filename":"a.txt","purpose":"assistants","status":"processed","status_details":null})";
const char* kUploadedFileJson =
    R"({"id":"file-abc","object":"file","bytes":3,"created_at":1700000000,"expires_at":null,)"
    R"("filename":"a.txt","purpose":"assistants","status":"uploaded","status_details":null})";
const char* kErrorJson =
    R"({"error":{"message":"boom","type":"server_error","param":null,"code":null}})";

Client MakeClient(const std::string& base_url, int max_retries = 2) {
  ClientOptions o;
  o.base_url = base_url;
  o.api_key = "sk-test";
  o.max_retries = max_retries;
  auto c = Client::Make(o);
  EXPECT_TRUE(c.ok());
  return std::move(c).value();
}

TEST(RetryDelayTest, BackoffDoublesFromHalfASecondUpToEightWithJitter) {
  using std::chrono::milliseconds;
  const int base_ms[] = {500, 1000, 2000, 4000, 8000, 8000, 8000};
  for (int retry = 0; retry < 7; ++retry) {
    for (int k = 0; k < 20; ++k) {
      auto d = internal::Core::RetryDelay(retry, nullptr);
      EXPECT_GE(d, milliseconds(base_ms[retry] * 3 / 4 - 1)) << retry;
      EXPECT_LE(d, milliseconds(base_ms[retry])) << retry;
    }
  }
}

TEST(RetryDelayTest, ServerDelaysAreHonouredOnlyUpToSixtySeconds) {
  using std::chrono::milliseconds;
  internal::HttpResponse r;
  r.status = 429;
  r.headers = {{"retry-after-ms", "10"}, {"retry-after", "30"}};
  EXPECT_EQ(internal::Core::RetryDelay(0, &r), milliseconds(10));  // -ms wins
  r.headers = {{"retry-after", "2"}};
  EXPECT_EQ(internal::Core::RetryDelay(0, &r), milliseconds(2000));
  r.headers = {{"retry-after", "120"}};  // too long: the client's own backoff instead
  EXPECT_LE(internal::Core::RetryDelay(0, &r), milliseconds(500));
  r.headers = {{"retry-after-ms", "0"}};
  EXPECT_GE(internal::Core::RetryDelay(0, &r), milliseconds(374));
  char date[64];
  std::time_t in_5s = std::time(nullptr) + 5;
  std::strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", std::gmtime(&in_5s));
  r.headers = {{"retry-after", date}};
  auto d = internal::Core::RetryDelay(0, &r);
  EXPECT_GE(d, milliseconds(3000)) << date;
  EXPECT_LE(d, milliseconds(5000)) << date;
}

TEST(RetryDelayTest, WhatIsRetried) {
  internal::HttpResponse r;
  for (int status : {408, 409, 429, 500, 502, 503, 504}) {
    r.status = status;
    EXPECT_TRUE(internal::Core::ShouldRetry(r)) << status;
  }
  for (int status : {400, 401, 403, 404, 413, 422}) {
    r.status = status;
    EXPECT_FALSE(internal::Core::ShouldRetry(r)) << status;
  }
  r.status = 503;
  r.headers = {{"x-should-retry", "false"}};
  EXPECT_FALSE(internal::Core::ShouldRetry(r));
  r.status = 400;
  r.headers = {{"x-should-retry", "true"}};
  EXPECT_TRUE(internal::Core::ShouldRetry(r));
}

TEST(RetryTest, ServiceUnavailableThenOkIsRetried) {
  FakeHttpServer server({{503, {}, kErrorJson}, {200, {}, kFileJson}});
  auto f = MakeClient(server.base_url()).files.retrieve("file-abc");
  ASSERT_TRUE(f.ok()) << f.error().ToString();
  EXPECT_EQ(f->id, "file-abc");
  EXPECT_EQ(server.requests(), 2);
}

TEST(RetryTest, RateLimitHonoursRetryAfterMs) {
  FakeHttpServer server({{429, {"retry-after-ms: 10"}, kErrorJson}, {200, {}, kFileJson}});
  auto start = std::chrono::steady_clock::now();
  auto f = MakeClient(server.base_url()).files.retrieve("file-abc");
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(f.ok()) << f.error().ToString();
  EXPECT_EQ(server.requests(), 2);
  // The default first backoff is at least 375 ms (0.5 s less 25% jitter).
  EXPECT_LT(elapsed, std::chrono::milliseconds(300));
}

TEST(RetryTest, UploadsFromAStreamAreRewoundForARetry) {
  FakeHttpServer server({{503, {"retry-after-ms: 1"}, kErrorJson}, {200, {}, kFileJson}});
  std::istringstream in("abc");
  auto f =
      MakeClient(server.base_url()).files.create(FileInput::Stream(in, "a.txt", 3), "assistants");
  ASSERT_TRUE(f.ok()) << f.error().ToString();
  EXPECT_EQ(server.requests(), 2);
}

TEST(RetryTest, DownloadsToAFileAreRetried) {
  FakeHttpServer server({{502, {"retry-after-ms: 1"}, kErrorJson}, {200, {}, "payload"}});
  auto dest = std::filesystem::temp_directory_path() /
              ("fileport-client-retry-" + std::to_string(::getpid()));
  auto n = MakeClient(server.base_url()).files.content("file-abc", dest);
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_EQ(*n, 7);
  EXPECT_EQ(server.requests(), 2);
  std::ifstream got(dest, std::ios::binary);
  std::string body((std::istreambuf_iterator<char>(got)), std::istreambuf_iterator<char>());
  EXPECT_EQ(body, "payload");
  std::filesystem::remove(dest);
}

TEST(RetryTest, RetryAfterSecondsIsHonoured) {
  FakeHttpServer server({{503, {"Retry-After: 0.01"}, kErrorJson}, {200, {}, kFileJson}});
  auto start = std::chrono::steady_clock::now();
  auto f = MakeClient(server.base_url()).files.retrieve("file-abc");
  ASSERT_TRUE(f.ok()) << f.error().ToString();
  EXPECT_EQ(server.requests(), 2);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
}

TEST(RetryTest, BadRequestIsNotRetried) {
  FakeHttpServer server({{400,
                          {},
                          R"({"error":{"message":"bad","type":"invalid_request_error",)"
                          R"("param":"purpose","code":null}})"},
                         {200, {}, kFileJson}});
  auto f = MakeClient(server.base_url()).files.retrieve("file-abc");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(server.requests(), 1);
  EXPECT_EQ(f.error().kind, ErrorKind::kBadRequest);
  EXPECT_EQ(f.error().http_status, 400);
  EXPECT_EQ(f.error().param, "purpose");
  EXPECT_EQ(f.error().message, "bad");
  EXPECT_EQ(f.error().type, "invalid_request_error");
  EXPECT_EQ(f.error().request_id, "req_fake_0");
}

TEST(RetryTest, ShouldRetryFalseStopsRetries) {
  FakeHttpServer server({{503, {"x-should-retry: false"}, kErrorJson}, {200, {}, kFileJson}});
  auto f = MakeClient(server.base_url()).files.retrieve("file-abc");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(server.requests(), 1);
  EXPECT_EQ(f.error().kind, ErrorKind::kInternalServer);
  EXPECT_EQ(f.error().http_status, 503);
  EXPECT_EQ(f.error().message, "boom");
  EXPECT_EQ(f.error().ToStatus().code(), StatusCode::kUnavailable);
}

TEST(RetryTest, ShouldRetryTrueRetriesEvenA400) {
  FakeHttpServer server(
      {{400, {"x-should-retry: true", "retry-after-ms: 1"}, kErrorJson}, {200, {}, kFileJson}});
  auto f = MakeClient(server.base_url()).files.retrieve("file-abc");
  ASSERT_TRUE(f.ok()) << f.error().ToString();
  EXPECT_EQ(server.requests(), 2);
}

TEST(RetryTest, GivesUpAfterMaxRetries) {
  FakeHttpServer server({{500, {"retry-after-ms: 1"}, kErrorJson}});
  auto f = MakeClient(server.base_url()).files.retrieve("file-abc");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(server.requests(), 3);  // the first attempt and two retries (the default)
  EXPECT_EQ(f.error().kind, ErrorKind::kInternalServer);
  EXPECT_EQ(f.error().request_id, "req_fake_2");

  FakeHttpServer other({{500, {"retry-after-ms: 1"}, kErrorJson}});
  auto g = MakeClient(other.base_url(), /*max_retries=*/0).files.retrieve("file-abc");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(other.requests(), 1);
}

TEST(RetryTest, ConflictAndRequestTimeoutAreRetried) {
  FakeHttpServer server({{409, {"retry-after-ms: 1"}, kErrorJson},
                         {408, {"retry-after-ms: 1"}, kErrorJson},
                         {200, {}, kFileJson}});
  auto f = MakeClient(server.base_url()).files.retrieve("file-abc");
  ASSERT_TRUE(f.ok()) << f.error().ToString();
  EXPECT_EQ(server.requests(), 3);
}

TEST(RetryTest, ErrorWithoutEnvelopeSaysNoBody) {
  FakeHttpServer server({{404, {}, ""}});
  auto f = MakeClient(server.base_url()).files.retrieve("file-abc");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(f.error().message, "404 status code (no body)");
}

TEST(RetryTest, ConnectionRefusedIsAConnectionError) {
  std::string url;
  {
    FakeHttpServer gone({{200, {}, kFileJson}});
    url = gone.base_url();
  }  // closed: nothing listens on the port any more
  auto f = MakeClient(url, /*max_retries=*/0).files.retrieve("file-abc");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().kind, ErrorKind::kConnection);
  EXPECT_EQ(f.error().http_status, 0);
}

TEST(RetryTest, TimeoutIsATimeoutError) {
  // The fake server answers only after it has read a body that never comes.
  FakeHttpServer server({{200, {}, kFileJson}});
  ClientOptions o;
  o.base_url = server.base_url();
  o.timeout = std::chrono::milliseconds(1);
  o.max_retries = 0;
  o.default_headers = {{"Content-Length", "100"}};
  auto c = Client::Make(o);
  ASSERT_TRUE(c.ok());
  auto f = c->files.retrieve("file-abc");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().kind, ErrorKind::kTimeout) << f.error().ToString();
}

TEST(RetryTest, InvalidJsonIsAnInvalidResponse) {
  FakeHttpServer server({{200, {}, "not json"}});
  auto f = MakeClient(server.base_url()).files.retrieve("file-abc");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().kind, ErrorKind::kInvalidResponse);
  EXPECT_EQ(server.requests(), 1);
}

TEST(RetryTest, WaitForProcessingTimesOut) {
  FakeHttpServer server({{200, {}, kUploadedFileJson}});
  auto c = MakeClient(server.base_url());
  auto f = c.files.wait_for_processing("file-abc", std::chrono::milliseconds(10),
                                       std::chrono::milliseconds(50));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().kind, ErrorKind::kTimeout);
  EXPECT_GE(server.requests(), 2);
  auto g = c.files
               .wait_for_processing_async("file-abc", std::chrono::milliseconds(10),
                                          std::chrono::milliseconds(30))
               .get();
  EXPECT_EQ(g.error().kind, ErrorKind::kTimeout);
}

const char* kUploadJson =
    R"({"id":"upload_abc","object":"upload","bytes":10,"created_at":1700000000,)"
    R"("expires_at":1700003600,"filename":"a.bin","purpose":"assistants","status":"%s",)"
    R"("file":null})";
const char* kPartJson =
    R"({"id":"part_abc","object":"upload.part","created_at":1700000000,"upload_id":"upload_abc"})";

std::string UploadJson(const char* status) {
  char buf[512];
  std::snprintf(buf, sizeof(buf), kUploadJson, status);
  return buf;
}

TEST(ChunkedRetryTest, AFatalPartFailureCancelsTheUpload) {
  FakeHttpServer server({{200, {}, UploadJson("pending")},
                         {400, {}, kErrorJson},
                         {200, {}, UploadJson("cancelled")}});
  ChunkedUploadParams p;
  p.purpose = "assistants";
  p.filename = "a.bin";
  p.part_size = 5;
  p.parallel = 1;
  auto up = MakeClient(server.base_url())
                .uploads.upload_file_chunked(FileInput::Bytes("0123456789", ""), p);
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.error().kind, ErrorKind::kBadRequest);
  EXPECT_EQ(up.error().message, "boom");
  auto heads = server.heads();
  ASSERT_EQ(heads.size(), 3u);  // create, the failed part (not retried), cancel
  EXPECT_TRUE(heads[0].starts_with("POST /v1/uploads HTTP/1.1")) << heads[0];
  EXPECT_TRUE(heads[1].starts_with("POST /v1/uploads/upload_abc/parts ")) << heads[1];
  EXPECT_TRUE(heads[2].starts_with("POST /v1/uploads/upload_abc/cancel ")) << heads[2];
}

TEST(ChunkedRetryTest, EachPartIsRetriedOnItsOwn) {
  FakeHttpServer server({{200, {}, UploadJson("pending")},
                         {503, {"retry-after-ms: 1"}, kErrorJson},
                         {200, {}, kPartJson},
                         {200, {}, UploadJson("completed")}});
  ChunkedUploadParams p;
  p.purpose = "assistants";
  p.filename = "a.bin";
  p.parallel = 1;
  auto up = MakeClient(server.base_url())
                .uploads.upload_file_chunked(FileInput::Bytes("0123456789", ""), p);
  ASSERT_TRUE(up.ok()) << up.error().ToString();
  EXPECT_EQ(up->status, UploadStatus::kCompleted);
  auto heads = server.heads();
  ASSERT_EQ(heads.size(), 4u);
  EXPECT_TRUE(heads[2].starts_with("POST /v1/uploads/upload_abc/parts ")) << heads[2];
  EXPECT_TRUE(heads[3].starts_with("POST /v1/uploads/upload_abc/complete ")) << heads[3];
}

TEST(ClientConfigTest, EnvironmentConfiguresTheClient) {
  FakeHttpServer server({{200, {}, kFileJson}});
  ::setenv("OPENAI_API_KEY", "sk-from-env", 1);
  ::setenv("OPENAI_BASE_URL", server.base_url().c_str(), 1);
  ::setenv("OPENAI_ORG_ID", "org-1", 1);
  ::setenv("OPENAI_PROJECT_ID", "proj-1", 1);
  auto c = Client::Make();
  ::unsetenv("OPENAI_API_KEY");
  ::unsetenv("OPENAI_BASE_URL");
  ::unsetenv("OPENAI_ORG_ID");
  ::unsetenv("OPENAI_PROJECT_ID");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->base_url(), server.base_url());
  ASSERT_TRUE(c->files.retrieve("file-abc").ok());
  ASSERT_EQ(server.heads().size(), 1u);
  const std::string head = server.heads()[0];
  EXPECT_NE(head.find("GET /v1/files/file-abc HTTP/1.1"), std::string::npos) << head;
  EXPECT_NE(head.find("Authorization: Bearer sk-from-env"), std::string::npos) << head;
  EXPECT_NE(head.find("OpenAI-Organization: org-1"), std::string::npos) << head;
  EXPECT_NE(head.find("OpenAI-Project: proj-1"), std::string::npos) << head;
}

TEST(ClientConfigTest, ArgumentsWinOverTheEnvironmentAndBadUrlsAreRefused) {
  ::setenv("OPENAI_BASE_URL", "http://env.invalid/v1", 1);
  ClientOptions o;
  o.base_url = "http://127.0.0.1:1/v1/";
  auto c = Client::Make(o);
  ::unsetenv("OPENAI_BASE_URL");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->base_url(), "http://127.0.0.1:1/v1");
  o.base_url = "ftp://x";
  auto bad = Client::Make(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::kUsage);
  EXPECT_EQ(bad.error().param, "base_url");
}

}  // namespace
}  // namespace fileport::client

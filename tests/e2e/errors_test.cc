// End-to-end: the conventions every answer follows (API.md §1, §5): unknown routes, the error
// envelope, x-request-id, Content-Type, malformed bodies, and the optional download policy.
#include <boost/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "e2e/test_server.h"

namespace fileport::testing {
namespace {
namespace json = boost::json;

using ErrorsTest = E2eTest;

bool NonEmpty(const std::string& m) { return !m.empty(); }

TEST_F(ErrorsTest, UnknownRouteIsInvalidUrl) {
  ExpectError(client().Get("/v1/nope"), 404, "Invalid URL (GET /v1/nope)");
  ExpectError(client().Request("POST", "/v1/nope", "{}", {"Content-Type: application/json"}), 404,
              "Invalid URL (POST /v1/nope)");
  ExpectError(client().Get("/v2/files"), 404, "Invalid URL (GET /v2/files)");
  ExpectError(client().Get("/"), 404, "Invalid URL (GET /)");
  ExpectError(client().Get("/v1"), 404, "Invalid URL (GET /v1)");
  ExpectError(client().Request("PUT", "/v1/files"), 404, "Invalid URL (PUT /v1/files)");
  ExpectError(client().Request("PATCH", "/v1/files/file-x"), 404,
              "Invalid URL (PATCH /v1/files/file-x)");
  ExpectError(client().Get("/v1/files/a/b/c"), 404, "Invalid URL (GET /v1/files/a/b/c)");
  ExpectError(client().Request("DELETE", "/v1/uploads/upload_x"), 404,
              "Invalid URL (DELETE /v1/uploads/upload_x)");
  ExpectError(client().Get("/v1/uploads"), 404, "Invalid URL (GET /v1/uploads)");
  ExpectError(client().Get("/v1/uploads/upload_x/complete"), 404,
              "Invalid URL (GET /v1/uploads/upload_x/complete)");
}

TEST_F(ErrorsTest, EveryResponseCarriesAUniqueRequestId) {
  json::object f = MustCreateFile(client(), "0123456789");
  const std::string id = Str(f, "id");
  const std::string etag = client().Get("/v1/files/" + id + "/content").Header("etag");
  std::vector<HttpResponse> answers{
      client().Get("/v1/files"),
      client().Get("/v1/files/" + id),
      client().Get("/v1/files/" + id + "/content"),
      client().Get("/v1/files/" + id + "/content", {"Range: bytes=0-1"}),
      client().Get("/v1/files/" + id + "/content", {"Range: bytes=50-"}),
      client().Get("/v1/files/" + id + "/content", {"If-None-Match: " + etag}),
      client().Request("HEAD", "/v1/files/" + id + "/content"),
      client().Get("/v1/files/file-unknown"),
      client().Get("/v1/nope"),
      client().CreateUpload(-1, "a", "assistants"),
      client().Get("/healthz"),
      client().Get("/readyz"),
      client().Get("/metrics"),
      client().Request("DELETE", "/v1/files/" + id),
  };
  std::set<std::string> ids;
  for (const auto& r : answers) {
    ASSERT_NE(r.status, 0) << r.transport_error;
    const std::string rid = r.Header("x-request-id");
    EXPECT_FALSE(rid.empty()) << Describe(r);
    ids.insert(rid);
  }
  EXPECT_EQ(ids.size(), answers.size()) << "request ids must differ";
  // And when a key is missing.
  server().CreateKey("a");
  EXPECT_FALSE(client().Get("/v1/files").Header("x-request-id").empty());
}

TEST_F(ErrorsTest, JsonAnswersAreApplicationJson) {
  // ParseJson asserts Content-Type: application/json and x-request-id.
  json::object f = MustCreateFile(client(), "x");
  ParseJson(client().Get("/v1/files"));
  ParseJson(client().Get("/v1/files/" + Str(f, "id")));
  ParseJson(client().Get("/healthz"));
  ParseJson(client().Get("/readyz"));
  ParseJson(client().Get("/v1/nope"));
  const std::string up = MustCreateUpload(client(), 1);
  ParseJson(client().Get("/v1/uploads/" + up));
  ParseJson(client().Get("/v1/uploads/" + up + "/parts"));
  ParseJson(client().Request("DELETE", "/v1/files/" + Str(f, "id")));
}

TEST_F(ErrorsTest, FilesBodyThatIsNotMultipartIs400) {
  auto json_body = client().PostJson("/v1/files", R"({"purpose":"assistants"})");
  ExpectErrorWhere(json_body, 400, NonEmpty);
  auto no_type = client().Request("POST", "/v1/files", "abc", {"Content-Type:"});
  ExpectErrorWhere(no_type, 400, NonEmpty);
  auto no_boundary =
      client().Request("POST", "/v1/files", "abc", {"Content-Type: multipart/form-data"});
  ExpectErrorWhere(no_boundary, 400, NonEmpty);
  // A form cut short (no closing boundary) stores nothing.
  const std::string boundary = "XyZ";
  const std::string cut =
      "--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n"
      "assistants\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
      "filename=\"a.txt\"\r\n\r\nsome bytes";
  auto truncated = client().Request("POST", "/v1/files", cut,
                                    {"Content-Type: multipart/form-data; boundary=" + boundary});
  ExpectErrorWhere(truncated, 400, NonEmpty);
  auto list = client().Get("/v1/files");
  EXPECT_TRUE(ExpectListShape(JsonObject(list)).empty());
  server().sweeper().RunOnce();
  EXPECT_TRUE(server().BlobFiles().empty());
}

TEST_F(ErrorsTest, PartsBodyThatIsNotMultipartIs400) {
  const std::string up = MustCreateUpload(client(), 10);
  auto r = client().PostJson("/v1/uploads/" + up + "/parts", R"({"data":"abc"})");
  ExpectErrorWhere(r, 400, NonEmpty);
  auto list = client().Get("/v1/uploads/" + up + "/parts");
  EXPECT_TRUE(ExpectListShape(JsonObject(list)).empty());
}

TEST_F(ErrorsTest, CompleteValidatesItsBody) {
  const std::string up = MustCreateUpload(client(), 1);
  const std::string path = "/v1/uploads/" + up + "/complete";
  ExpectError(client().PostJson(path, "{}"), 400, "'part_ids' is a required property", "part_ids");
  ExpectErrorWhere(client().PostJson(path, R"({"part_ids":"part_x"})"), 400, NonEmpty, "part_ids");
  ExpectErrorWhere(client().PostJson(path, R"({"part_ids":[1]})"), 400, NonEmpty, "part_ids");
  ExpectErrorWhere(client().PostJson(path, R"({"part_ids":[],"md5":5})"), 400, NonEmpty, "md5");
}

TEST_F(ErrorsTest, JsonBodyOverTheLimitIs413) {
  TestServerOptions o;
  o.api.json_body_limit = 200;
  Restart(o);
  std::string body = R"({"bytes":1,"filename":")" + std::string(300, 'a') +
                     R"(","mime_type":"t","purpose":"assistants"})";
  auto r = client().PostJson("/v1/uploads", body);
  ExpectErrorWhere(r, 413, NonEmpty);
}

TEST_F(ErrorsTest, RestrictedDownloadsPolicy) {
  TestServerOptions o;
  o.service.restrict_downloads = true;
  Restart(o);
  for (std::string purpose : {"assistants", "user_data", "evals"}) {
    json::object f = MustCreateFile(client(), "x", "a.txt", purpose);
    ExpectError(client().Get("/v1/files/" + Str(f, "id") + "/content"), 400,
                "Not allowed to download files of purpose: " + purpose);
  }
  json::object ft = MustCreateFile(client(), "{}\n", "t.jsonl", "fine-tune");
  ExpectError(client().Get("/v1/files/" + Str(ft, "id") + "/content"), 400,
              "Not allowed to download files of purpose: fine-tune");
  for (std::string purpose : {"batch", "vision"}) {
    json::object f = MustCreateFile(client(), "{}\n", "a.jsonl", purpose);
    auto r = client().Get("/v1/files/" + Str(f, "id") + "/content");
    EXPECT_EQ(r.status, 200) << purpose << ": " << Describe(r);
    EXPECT_EQ(r.body, "{}\n");
  }
}

TEST_F(ErrorsTest, DownloadsAreAllowedByDefault) {
  for (std::string purpose : {"assistants", "user_data", "evals", "vision"}) {
    json::object f = MustCreateFile(client(), "x", "a.txt", purpose);
    EXPECT_EQ(client().Get("/v1/files/" + Str(f, "id") + "/content").status, 200) << purpose;
  }
}

}  // namespace
}  // namespace fileport::testing

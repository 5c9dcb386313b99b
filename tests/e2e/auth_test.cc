// End-to-end: API keys and projects (API.md §5, §6): open mode (only until the first key;
// revoking every key never reopens it), missing / wrong / revoked keys, and another project's
// objects being indistinguishable from unknown ids.
#include <boost/json.hpp>
#include <string>
#include <vector>

#include "e2e/test_server.h"

namespace fileport::testing {
namespace {
namespace json = boost::json;

class AuthTest : public E2eTest {
 protected:
  std::vector<std::string> ListIds(const HttpClient& c) {
    auto r = c.Get("/v1/files");
    EXPECT_EQ(r.status, 200) << Describe(r);
    return ExpectListShape(JsonObject(r));
  }
};

TEST_F(AuthTest, OpenModeNeedsNoKeyAndIgnoresOne) {
  auto r = client().Get("/v1/files");
  EXPECT_EQ(r.status, 200) << Describe(r);
  json::object f = MustCreateFile(client(), "open");
  HttpClient with_key = server().Client("sk-anything-at-all");
  auto g = with_key.Get("/v1/files/" + Str(f, "id"));
  EXPECT_EQ(g.status, 200) << Describe(g);
}

TEST_F(AuthTest, SdkHeadersAreTolerated) {
  const std::string key = server().CreateKey("a");
  auto r = server().Client(key).Get(
      "/v1/files",
      {"OpenAI-Organization: org-123", "OpenAI-Project: proj_abc", "User-Agent: OpenAI/JS 6.0.0",
       "X-Stainless-Lang: js", "X-Stainless-Retry-Count: 0", "Accept: application/json"});
  EXPECT_EQ(r.status, 200) << Describe(r);
}

TEST_F(AuthTest, MissingKeyIs401WithTheOpenAIMessage) {
  server().CreateKey("a");
  ExpectError(client().Get("/v1/files"), 401, kNoKeyMessage);
  ExpectError(client().CreateFile("x", "a.txt", "assistants"), 401, kNoKeyMessage);
  ExpectError(client().CreateUpload(1, "a", "assistants"), 401, kNoKeyMessage);
  ExpectError(client().Get("/v1/files", {"Authorization: Basic dXNlcjpwdw=="}), 401, kNoKeyMessage);
  ExpectError(client().Get("/v1/files", {"Authorization: Bearer "}), 401, kNoKeyMessage);
  // Nothing was created.
  server().sweeper().RunOnce();
  EXPECT_TRUE(server().BlobFiles().empty());
}

TEST_F(AuthTest, WrongKeyIs401WithAMaskedKey) {
  const std::string key = server().CreateKey("a");
  // The real key with its last two characters changed.
  std::string wrong = key;
  wrong[wrong.size() - 1] = wrong[wrong.size() - 1] == 'X' ? 'Y' : 'X';
  wrong[wrong.size() - 2] = wrong[wrong.size() - 2] == 'Z' ? 'W' : 'Z';
  auto r = server().Client(wrong).Get("/v1/files");
  ExpectError(r, 401, "Incorrect API key provided: " + MaskedKey(wrong) + ".", std::nullopt,
              "invalid_api_key");
  EXPECT_EQ(MaskedKey(wrong).rfind("sk-fp***", 0), 0u);
  EXPECT_EQ(r.ErrorMessage().find(wrong), std::string::npos) << "the key must not be echoed";
  const std::string other = "sk-proj-abcdefghijklmnop";
  ExpectError(server().Client(other).Get("/v1/files"), 401,
              "Incorrect API key provided: sk-pr***op.", std::nullopt, "invalid_api_key");
  // The right key works.
  EXPECT_EQ(server().Client(key).Get("/v1/files").status, 200);
}

TEST_F(AuthTest, RevokedKeyIs401) {
  const std::string a = server().CreateKey("a");
  auto c = server().auth().CreateKey("c");
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(server().Client(c->secret).Get("/v1/files").status, 200);
  ASSERT_TRUE(server().auth().RevokeKey(c->key.id).ok());
  ExpectError(server().Client(c->secret).Get("/v1/files"), 401,
              "Incorrect API key provided: " + MaskedKey(c->secret) + ".", std::nullopt,
              "invalid_api_key");
  EXPECT_EQ(server().Client(a).Get("/v1/files").status, 200);
}

// Revoking the last key must not silently reopen the server to anyone: once a key was created,
// every request needs a valid one for good.
TEST_F(AuthTest, RevokingEveryKeyLeavesEveryRequestAt401) {
  auto a = server().auth().CreateKey("a");
  ASSERT_TRUE(a.ok());
  const HttpClient with_a = server().Client(a->secret);
  json::object f = MustCreateFile(with_a, "a's bytes");
  const std::string id = Str(f, "id");
  const std::string up = MustCreateUpload(with_a, 6);
  ASSERT_TRUE(server().auth().RevokeKey(a->key.id).ok());
  auto open = server().auth().IsOpen();
  ASSERT_TRUE(open.ok());
  EXPECT_FALSE(*open);

  const std::string wrong = "Incorrect API key provided: " + MaskedKey(a->secret) + ".";
  for (const HttpClient* c : {&client(), &with_a}) {
    auto check = [&](const HttpResponse& r) {
      if (c == &client()) {
        ExpectError(r, 401, kNoKeyMessage);
      } else {
        ExpectError(r, 401, wrong, std::nullopt, "invalid_api_key");
      }
    };
    check(c->Get("/v1/files"));
    check(c->Get("/v1/files/" + id));
    check(c->Get("/v1/files/" + id + "/content"));
    check(c->Request("DELETE", "/v1/files/" + id));
    check(c->CreateFile("x", "a.txt", "assistants"));
    check(c->CreateUpload(1, "a", "assistants"));
    check(c->Get("/v1/uploads/" + up));
    check(c->AddPart(up, "abc"));
    check(c->Request("POST", "/v1/uploads/" + up + "/cancel", "", {"Content-Type:"}));
  }
  // Nobody got in: the file and the upload are untouched, for a new key of the same project.
  const HttpClient with_b = server().Client(server().CreateKey("a"));
  auto content = with_b.Get("/v1/files/" + id + "/content");
  EXPECT_EQ(content.status, 200) << Describe(content);
  EXPECT_EQ(content.body, "a's bytes");
  EXPECT_EQ(ListIds(with_b), std::vector<std::string>{id});
  auto u = with_b.Get("/v1/uploads/" + up);
  ASSERT_EQ(u.status, 200) << Describe(u);
  EXPECT_EQ(Str(JsonObject(u), "status"), "pending");
  ExpectError(with_a.Get("/v1/files"), 401, wrong, std::nullopt, "invalid_api_key");
}

TEST_F(AuthTest, AnotherProjectsFilesAreUnknown) {
  const HttpClient a = server().Client(server().CreateKey("a"));
  const HttpClient b = server().Client(server().CreateKey("b"));
  json::object f = MustCreateFile(a, "secret bytes");
  server().clock().AdvanceSeconds(1);
  json::object bf = MustCreateFile(b, "b's bytes");
  const std::string id = Str(f, "id");
  const std::string msg = "No such File object: " + id;
  ExpectError(b.Get("/v1/files/" + id), 404, msg, "id");
  ExpectError(b.Get("/v1/files/" + id + "/content"), 404, msg, "id");
  EXPECT_EQ(b.Request("HEAD", "/v1/files/" + id + "/content").status, 404);
  ExpectError(b.Request("DELETE", "/v1/files/" + id), 404, msg, "id");
  EXPECT_EQ(ListIds(b), std::vector<std::string>{Str(bf, "id")});
  EXPECT_EQ(ListIds(a), std::vector<std::string>{id});
  // a's cursor means nothing to b's listing beyond its position.
  auto after = b.Get("/v1/files?order=asc&after=" + id);
  EXPECT_EQ(after.status, 200) << Describe(after);
  // a's file is untouched.
  auto c = a.Get("/v1/files/" + id + "/content");
  EXPECT_EQ(c.status, 200);
  EXPECT_EQ(c.body, "secret bytes");
}

TEST_F(AuthTest, AnotherProjectsUploadsAreUnknown) {
  const HttpClient a = server().Client(server().CreateKey("a"));
  const HttpClient b = server().Client(server().CreateKey("b"));
  const std::string up = MustCreateUpload(a, 6);
  const std::string part = MustAddPart(a, up, "abc");
  const std::string msg = "No such Upload object: " + up;
  ExpectError(b.Get("/v1/uploads/" + up), 404, msg, "upload_id");
  ExpectError(b.Get("/v1/uploads/" + up + "/parts"), 404, msg, "upload_id");
  ExpectError(b.AddPart(up, "def"), 404, msg, "upload_id");
  ExpectError(b.Complete(up, {part}), 404, msg, "upload_id");
  ExpectError(b.Request("POST", "/v1/uploads/" + up + "/cancel", "", {"Content-Type:"}), 404, msg,
              "upload_id");
  // a's upload is untouched and still completes.
  const std::string part2 = MustAddPart(a, up, "def");
  auto r = a.Complete(up, {part, part2});
  ASSERT_EQ(r.status, 200) << Describe(r);
  // b cannot reach the completed upload either.
  ExpectError(b.Get("/v1/uploads/" + up), 404, msg, "upload_id");
}

TEST_F(AuthTest, APartOfAnotherProjectsUploadDoesNotBelong) {
  const HttpClient a = server().Client(server().CreateKey("a"));
  const HttpClient b = server().Client(server().CreateKey("b"));
  const std::string aup = MustCreateUpload(a, 3);
  const std::string bup = MustCreateUpload(b, 3);
  MustAddPart(a, aup, "abc");
  const std::string bpart = MustAddPart(b, bup, "xyz");
  ExpectError(a.Complete(aup, {bpart}), 400, "Part " + bpart + " does not belong to upload " + aup,
              "part_ids");
  // b's upload still completes with its part.
  auto r = b.Complete(bup, {bpart});
  ASSERT_EQ(r.status, 200) << Describe(r);
}

}  // namespace
}  // namespace fileport::testing

// End-to-end: per-project limits (`fileport serve --max-project-bytes / --max-pending-uploads /
// --rate-limit`): the OpenAI error shapes of a refusal (429, type rate_limit_error, code
// insufficient_quota or rate_limit_exceeded, the retry headers), nothing stored by a refused
// request, one project's limits never touching another's, and room coming back after a
// delete or a cancel.
#include <boost/json.hpp>
#include <string>
#include <vector>

#include "common/sizes.h"
#include "e2e/test_server.h"

namespace fileport::testing {
namespace {
namespace json = boost::json;

const std::string kBoundary = "----fileport-limits-boundary";

std::string QuotaMessage(const std::string& stored, const std::string& limit,
                         const std::string& needs) {
  return "Storage quota exceeded: this project stores " + stored + " of its " + limit +
         " limit (files and pending uploads), and this request needs " + needs +
         " more. Delete files or cancel uploads to make room.";
}

void ExpectQuotaAnswer(const HttpResponse& r, const std::string& message) {
  ExpectError(r, 429, message, std::nullopt, "insufficient_quota", "rate_limit_error");
  EXPECT_EQ(r.Header("x-should-retry"), "false") << "retrying cannot make room";
}

class LimitsTest : public E2eTest {
 protected:
  // Restarts with these limits and two keyed projects, a and b.
  void StartWith(Quota quota, double rate = 0, double burst = 0) {
    TestServerOptions o;
    o.service.quota = quota;
    o.api.rate_limit = rate;
    o.api.rate_burst = burst;
    Restart(o);
    a_ = server().Client(server().CreateKey("a"));
    b_ = server().Client(server().CreateKey("b"));
  }
  HttpClient a_{""};
  HttpClient b_{""};
};

TEST_F(LimitsTest, StoredBytesQuotaRefusesAFileThatDoesNotFitAndKeepsNothingOfIt) {
  StartWith({.max_bytes = 1000});
  json::object first = MustCreateFile(a_, std::string(600, 'a'), "first.txt");
  const auto blobs_before = server().BlobFiles();
  ASSERT_EQ(blobs_before.size(), 1u);

  auto refused = a_.CreateFile(std::string(401, 'x'), "over.txt", "assistants");
  ExpectQuotaAnswer(refused, QuotaMessage("600 B", "1000 B", "401 B"));
  EXPECT_EQ(server().BlobFiles(), blobs_before) << "the refused file's bytes are gone at once";
  auto list = a_.Get("/v1/files");
  EXPECT_EQ(ExpectListShape(JsonObject(list)), std::vector<std::string>{Str(first, "id")});

  // Exactly the room left fits; another project has its own quota.
  MustCreateFile(a_, std::string(400, 'y'), "fits.txt");
  MustCreateFile(b_, std::string(1000, 'b'), "b.txt");
  ExpectQuotaAnswer(a_.CreateFile("z", "one-more.txt", "assistants"),
                    QuotaMessage("1000 B", "1000 B", "1 B"));

  // Deleting a file makes room again.
  ASSERT_EQ(a_.Request("DELETE", "/v1/files/" + Str(first, "id")).status, 200);
  MustCreateFile(a_, std::string(600, 'c'), "again.txt");
}

TEST_F(LimitsTest, AFileThatCannotFitIsRefusedBeforeItsBodyIsSent) {
  StartWith({.max_bytes = 2 * 1024 * 1024});
  MustCreateFile(a_, std::string(1024 * 1024, 'a'), "half.txt");
  const std::size_t body_bytes = 3 * 1024 * 1024;  // at least 2 MiB of file: cannot fit
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.connected());
  ASSERT_TRUE(conn.Send("POST /v1/files HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                        "Authorization: Bearer " +
                        server().CreateKey("a") +
                        "\r\nContent-Type: multipart/form-data; boundary=" + kBoundary +
                        "\r\nContent-Length: " + std::to_string(body_bytes) + "\r\n\r\n"));
  auto r = conn.ReadResponse();
  ExpectQuotaAnswer(r, QuotaMessage("1.0 MiB", "2.0 MiB", "2.0 MiB"));
}

TEST_F(LimitsTest, PendingUploadsReserveTheirBytesAndCountAgainstTheirOwnLimit) {
  StartWith({.max_bytes = 1000, .max_pending_uploads = 2});
  const std::string first = MustCreateUpload(a_, 600);
  ExpectQuotaAnswer(a_.CreateUpload(401, "big.bin", "assistants"),
                    QuotaMessage("600 B", "1000 B", "401 B"));
  const std::string second = MustCreateUpload(a_, 300);
  ExpectError(a_.CreateUpload(1, "small.bin", "assistants"), 429,
              "Too many pending uploads: this project has 2 of its limit of 2. Complete or "
              "cancel uploads before creating more.",
              std::nullopt, "insufficient_quota", "rate_limit_error");
  MustCreateUpload(b_, 1000);  // b is not a

  // Cancelling gives the reservation and the slot back; completing turns the reservation into
  // the file without counting it twice.
  ASSERT_EQ(a_.PostJson("/v1/uploads/" + first + "/cancel", "{}").status, 200);
  auto part = a_.AddPart(second, std::string(300, 'p'));
  ASSERT_EQ(part.status, 200) << Describe(part);
  auto done = a_.Complete(second, {Str(JsonObject(part), "id")});
  ASSERT_EQ(done.status, 200) << Describe(done);
  MustCreateUpload(a_, 700);  // 300 stored + 700 reserved = the limit
  ExpectQuotaAnswer(a_.CreateFile("x", "x.txt", "assistants"),
                    QuotaMessage("1000 B", "1000 B", "1 B"));
}

TEST_F(LimitsTest, RateLimitAnswers429WithTheTimeUntilTheNextToken) {
  StartWith({}, /*rate=*/2, /*burst=*/3);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(a_.Get("/v1/files").status, 200) << i;
  auto r = a_.Get("/v1/files");
  ExpectError(r, 429,
              "Rate limit reached for requests in project a: limit 2 requests per second. Please "
              "try again in 500ms.",
              std::nullopt, "rate_limit_exceeded", "rate_limit_error");
  EXPECT_EQ(r.Header("retry-after-ms"), "500");
  EXPECT_EQ(r.Header("retry-after"), "1");
  EXPECT_EQ(r.Header("x-should-retry"), "") << "a rate limit passes: the SDKs may retry";

  // Another project, and the routes without a key, are not limited by a's rate.
  EXPECT_EQ(b_.Get("/v1/files").status, 200);
  EXPECT_EQ(client().Get("/healthz").status, 200);
  // Half a second later a's next token is there, and only one.
  server().clock().AdvanceMillis(499);
  EXPECT_EQ(a_.Get("/v1/files").status, 429);
  server().clock().AdvanceMillis(1);
  EXPECT_EQ(a_.Get("/v1/files").status, 200);
  auto again = a_.Get("/v1/files");
  EXPECT_EQ(again.status, 429);
  EXPECT_EQ(again.Header("retry-after-ms"), "500");
  auto metrics = client().Get("/metrics");
  EXPECT_NE(metrics.body.find("fileport_rate_limited_total 3\n"), std::string::npos)
      << metrics.body;
}

TEST_F(LimitsTest, ARefusedRequestDoesNothing) {
  StartWith({}, /*rate=*/1, /*burst=*/1);
  json::object f = MustCreateFile(a_, "keep me", "keep.txt");
  auto refused = a_.Request("DELETE", "/v1/files/" + Str(f, "id"));
  EXPECT_EQ(refused.status, 429) << Describe(refused);
  server().clock().AdvanceSeconds(1);
  auto content = a_.Get("/v1/files/" + Str(f, "id") + "/content");
  EXPECT_EQ(content.status, 200) << Describe(content);
  EXPECT_EQ(content.body, "keep me");
}

}  // namespace
}  // namespace fileport::testing

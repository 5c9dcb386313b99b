// End-to-end: tenancy and keys over every route (issue "Reliability and security", item 5).
// Each route of API.md is tried with another project's ids (answered exactly as an unknown id
// would be) and with every kind of bad key (401 before anything is touched); keys are stored
// only as SHA-256 digests.
#include <boost/json.hpp>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/crypto.h"
#include "e2e/test_server.h"

namespace fileport::testing {
namespace {
namespace json = boost::json;

// The ids one request may name.
struct Ids {
  std::string file;
  std::string upload;
  std::string part;
};

// Every route of API.md that takes a key.
struct Route {
  std::string name;
  HttpResponse (*call)(const HttpClient& c, const Ids& ids);
};

const std::vector<Route>& Routes() {
  static const std::vector<Route> routes = {
      {"GET /v1/files", [](const HttpClient& c, const Ids&) { return c.Get("/v1/files"); }},
      {"POST /v1/files",
       [](const HttpClient& c, const Ids&) { return c.CreateFile("x", "x.txt", "assistants"); }},
      {"GET /v1/files/{id}",
       [](const HttpClient& c, const Ids& i) { return c.Get("/v1/files/" + i.file); }},
      {"GET /v1/files/{id}/content",
       [](const HttpClient& c, const Ids& i) { return c.Get("/v1/files/" + i.file + "/content"); }},
      {"HEAD /v1/files/{id}/content",
       [](const HttpClient& c, const Ids& i) {
         return c.Request("HEAD", "/v1/files/" + i.file + "/content");
       }},
      {"DELETE /v1/files/{id}",
       [](const HttpClient& c, const Ids& i) { return c.Request("DELETE", "/v1/files/" + i.file); }},
      {"POST /v1/uploads",
       [](const HttpClient& c, const Ids&) { return c.CreateUpload(3, "x.txt", "assistants"); }},
      {"GET /v1/uploads/{id}",
       [](const HttpClient& c, const Ids& i) { return c.Get("/v1/uploads/" + i.upload); }},
      {"POST /v1/uploads/{id}/parts",
       [](const HttpClient& c, const Ids& i) { return c.AddPart(i.upload, "zzz"); }},
      {"GET /v1/uploads/{id}/parts",
       [](const HttpClient& c, const Ids& i) { return c.Get("/v1/uploads/" + i.upload + "/parts"); }},
      {"POST /v1/uploads/{id}/complete",
       [](const HttpClient& c, const Ids& i) { return c.Complete(i.upload, {i.part}); }},
      {"POST /v1/uploads/{id}/cancel",
       [](const HttpClient& c, const Ids& i) {
         return c.Request("POST", "/v1/uploads/" + i.upload + "/cancel", "", {"Content-Type:"});
       }},
  };
  return routes;
}

bool NamesAnId(const Route& r) { return r.name.find("{id}") != std::string::npos; }

class TenancyTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    key_a_ = server().CreateKey("a");
    key_b_ = server().CreateKey("b");
    a_ = std::make_unique<HttpClient>(server().Client(key_a_));
    b_ = std::make_unique<HttpClient>(server().Client(key_b_));
    // a owns a file and a pending upload with one part of 3 of its 6 bytes.
    a_ids_.file = Str(MustCreateFile(*a_, "a's secret bytes"), "id");
    a_ids_.upload = MustCreateUpload(*a_, 6);
    a_ids_.part = MustAddPart(*a_, a_ids_.upload, "abc");
    // b has its own, a second later (ids sort by time), so that its listings are not
    // trivially empty.
    server().clock().AdvanceSeconds(1);
    b_file_ = Str(MustCreateFile(*b_, "b's bytes"), "id");
  }

  // a's objects exactly as they were.
  void ExpectAUntouched() {
    auto content = a_->Get("/v1/files/" + a_ids_.file + "/content");
    EXPECT_EQ(content.status, 200) << Describe(content);
    EXPECT_EQ(content.body, "a's secret bytes");
    auto up = a_->Get("/v1/uploads/" + a_ids_.upload);
    EXPECT_EQ(Str(JsonObject(up), "status"), "pending");
    auto parts = a_->Get("/v1/uploads/" + a_ids_.upload + "/parts");
    EXPECT_EQ(ExpectListShape(JsonObject(parts)), std::vector<std::string>{a_ids_.part});
    auto list = a_->Get("/v1/files");
    EXPECT_EQ(ExpectListShape(JsonObject(list)), std::vector<std::string>{a_ids_.file});
  }

  std::string key_a_, key_b_;
  std::unique_ptr<HttpClient> a_, b_;
  Ids a_ids_;
  std::string b_file_;
};

// For b, a's ids are answered exactly like ids that never existed: same status, message (with
// the id), param, code and type. Nothing of a's is read, changed or listed.
TEST_F(TenancyTest, EveryRouteWithAnotherProjectsIdsAnswersAsIfUnknown) {
  // Ids of the same shapes that were never issued.
  const Ids unknown{"file-" + std::string(24, '0'), "upload_" + std::string(24, '0'),
                    "part_" + std::string(24, '0')};
  int checked = 0;
  for (const Route& route : Routes()) {
    if (!NamesAnId(route)) continue;
    SCOPED_TRACE(route.name);
    const HttpResponse foreign = route.call(*b_, a_ids_);
    const HttpResponse never = route.call(*b_, unknown);
    EXPECT_EQ(foreign.status, 404) << Describe(foreign);
    EXPECT_EQ(never.status, 404) << Describe(never);
    if (route.name.starts_with("HEAD")) {
      EXPECT_TRUE(foreign.body.empty());
      continue;
    }
    const bool file_route = route.name.find("/files/") != std::string::npos;
    const std::string& id = file_route ? a_ids_.file : a_ids_.upload;
    const std::string& unknown_id = file_route ? unknown.file : unknown.upload;
    const std::string what = file_route ? "File" : "Upload";
    ExpectError(foreign, 404, "No such " + what + " object: " + id,
                file_route ? "id" : "upload_id");
    EXPECT_EQ(never.ErrorMessage(), "No such " + what + " object: " + unknown_id);
    EXPECT_EQ(foreign.ErrorParam(), never.ErrorParam());
    EXPECT_EQ(foreign.ErrorCode(), never.ErrorCode());
    EXPECT_EQ(foreign.ErrorType(), never.ErrorType());
    ++checked;
  }
  EXPECT_EQ(checked, 8);
  // b's own part cannot complete a's upload, nor a's part b's.
  const std::string b_up = MustCreateUpload(*b_, 3);
  ExpectError(b_->Complete(b_up, {a_ids_.part}), 400,
              "Part " + a_ids_.part + " does not belong to upload " + b_up, "part_ids");
  // Listings and cursors: b sees only its own file. A cursor borrowed from a is a position in
  // id order (a keyset cursor, never looked up), so it tells b nothing about a's files.
  const std::vector<std::string> mine{b_file_}, none;
  for (const auto& [q, want] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"", mine},
           {"?purpose=assistants", mine},
           {"?order=asc&after=" + a_ids_.file, mine},
           {"?order=desc&after=" + a_ids_.file, none}}) {
    auto l = b_->Get("/v1/files" + q);
    EXPECT_EQ(ExpectListShape(JsonObject(l)), want) << q;
  }
  ExpectAUntouched();
}

// Every route refuses each kind of bad key with 401 before it touches anything; the accepted
// spellings of a good key are accepted on every route.
TEST_F(TenancyTest, EveryRouteRefusesEveryBadKey) {
  auto revoked = server().auth().CreateKey("a");
  ASSERT_TRUE(revoked.ok());
  ASSERT_TRUE(server().auth().RevokeKey(revoked->key.id).ok());
  // Authorization header lines (curl's spelling) that carry no key at all.
  const std::vector<std::pair<std::string, std::string>> no_key = {
      {"no Authorization header", ""},
      {"empty Authorization header", "Authorization;"},
      {"empty bearer", "Authorization: Bearer "},
      {"Basic credentials", "Authorization: Basic " + key_a_},
      {"no scheme", "Authorization: " + key_a_},
      {"Bearer glued to the key", "Authorization: Bearer" + key_a_},
  };
  std::vector<std::pair<std::string, std::string>> bad_key = {
      {"revoked", revoked->secret},
      {"truncated", key_a_.substr(0, key_a_.size() - 1)},
      {"one byte longer", key_a_ + "a"},
      {"upper-cased", [&] {
         std::string k = key_a_;
         for (char& c : k) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
         return k;
       }()},
  };
  // One character changed at the start, in the middle and at the end.
  for (std::size_t pos : {std::size_t{3}, key_a_.size() / 2, key_a_.size() - 1}) {
    std::string k = key_a_;
    k[pos] = k[pos] == 'q' ? 'r' : 'q';
    bad_key.emplace_back("one character changed at " + std::to_string(pos), k);
  }
  const std::vector<std::string> before = server().BlobFiles();
  for (const Route& route : Routes()) {
    SCOPED_TRACE(route.name);
    const bool head = route.name.starts_with("HEAD");
    for (const auto& [what, line] : no_key) {
      SCOPED_TRACE(what);
      HttpClient c(server().base_url());
      c.set_authorization(line);
      const HttpResponse r = route.call(c, a_ids_);
      if (head) {
        EXPECT_EQ(r.status, 401) << Describe(r);
      } else {
        ExpectError(r, 401, kNoKeyMessage);
      }
    }
    for (const auto& [what, key] : bad_key) {
      SCOPED_TRACE(what);
      const HttpResponse r = route.call(server().Client(key), a_ids_);
      if (head) {
        EXPECT_EQ(r.status, 401) << Describe(r);
      } else {
        ExpectError(r, 401, "Incorrect API key provided: " + MaskedKey(key) + ".", std::nullopt,
                    "invalid_api_key");
        EXPECT_EQ(r.body.find(key), std::string::npos) << "the key must not be echoed";
      }
    }
  }
  // Nothing was created, changed or deleted by any refused request.
  server().sweeper().RunOnce();
  EXPECT_EQ(server().BlobFiles(), before);
  ExpectAUntouched();

  // Accepted spellings: the lowercase scheme, extra spaces around the key.
  for (const std::string& h : std::vector<std::string>{"Authorization: bearer " + key_a_, "Authorization: Bearer  " + key_a_,
                               "Authorization: Bearer " + key_a_ + " "}) {
    SCOPED_TRACE(h);
    HttpClient c(server().base_url());
    auto r = c.Get("/v1/files", {h});
    EXPECT_EQ(ExpectListShape(JsonObject(r)), std::vector<std::string>{a_ids_.file});
  }
}

// The metadata store holds a key's SHA-256, never the key: neither the database nor its
// journal contains the secret's bytes.
TEST_F(TenancyTest, KeysAreStoredOnlyHashed) {
  std::size_t scanned = 0;
  bool digest_found = false;
  const std::string digest = Sha256Hex(key_a_);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(server().dir())) {
    if (!entry.is_regular_file()) continue;
    if (entry.path().string().find("/blobs/") != std::string::npos) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ++scanned;
    EXPECT_EQ(bytes.find(key_a_), std::string::npos) << entry.path();
    EXPECT_EQ(bytes.find(key_b_), std::string::npos) << entry.path();
    // The part after the "sk-fp-" prefix, in case a store kept only that.
    EXPECT_EQ(bytes.find(key_a_.substr(6)), std::string::npos) << entry.path();
    if (bytes.find(digest) != std::string::npos) digest_found = true;
  }
  EXPECT_GT(scanned, 0u);
  EXPECT_TRUE(digest_found) << "the scan must have looked where the keys are";
}

}  // namespace
}  // namespace fileport::testing

// End-to-end: the Uploads API (API.md §3, §4): create, parts, complete, cancel, the state
// machine and expiry, over real HTTP.
#include <algorithm>
#include <atomic>
#include <functional>
#include <boost/json.hpp>
#include <cctype>
#include <string>
#include <thread>
#include <vector>

#include "common/crypto.h"
#include "e2e/test_server.h"

namespace fileport::testing {
namespace {
namespace json = boost::json;

std::string Base64Md5(const std::string& data) {
  Md5 md5;
  md5.Update(std::span<const char>(data.data(), data.size()));
  auto d = md5.Final();
  return Base64Encode(d);
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

class UploadsTest : public E2eTest {
 protected:
  HttpResponse CreateRaw(const std::string& body) { return client().PostJson("/v1/uploads", body); }
  json::object GetUpload(const std::string& id) {
    auto r = client().Get("/v1/uploads/" + id);
    EXPECT_EQ(r.status, 200) << Describe(r);
    json::object o = JsonObject(r);
    ExpectUploadShape(o);
    return o;
  }
  std::string StateOf(const std::string& id) { return Str(GetUpload(id), "status"); }
  HttpResponse Cancel(const std::string& id) {
    return client().Request("POST", "/v1/uploads/" + id + "/cancel", "", {"Content-Type:"});
  }
  // Runs fn(i, client) for i in 0 … n - 1, on n threads with a client each, released together
  // (the requests race).
  void AtOnce(int n, const std::function<void(int, HttpClient&)>& fn) {
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&, i] {
        HttpClient c = server().Client();
        ready++;
        while (ready.load() < n) std::this_thread::yield();
        fn(i, c);
      });
    }
    for (auto& t : threads) t.join();
  }
  // The listed parts (GET …/parts) as (id, bytes), in the order given.
  std::vector<std::pair<std::string, std::int64_t>> Parts(const std::string& id) {
    auto r = client().Get("/v1/uploads/" + id + "/parts");
    EXPECT_EQ(r.status, 200) << Describe(r);
    json::object o = JsonObject(r);
    ExpectListShape(o);
    std::vector<std::pair<std::string, std::int64_t>> out;
    if (auto* data = o.if_contains("data"); data && data->is_array()) {
      for (const auto& p : data->as_array()) {
        ExpectPartShape(p.as_object(), /*with_bytes=*/true);
        EXPECT_EQ(Str(p.as_object(), "upload_id"), id);
        out.emplace_back(Str(p.as_object(), "id"), Int(p.as_object(), "bytes"));
      }
    }
    return out;
  }
  std::vector<std::string> FileIds() {
    auto r = client().Get("/v1/files");
    EXPECT_EQ(r.status, 200) << Describe(r);
    return ExpectListShape(JsonObject(r));
  }
  std::string Download(const std::string& file_id) {
    auto r = client().Get("/v1/files/" + file_id + "/content");
    EXPECT_EQ(r.status, 200) << Describe(r);
    return r.body;
  }
  // The File nested in a completed upload answer.
  json::object NestedFile(const HttpResponse& r) {
    json::object o = JsonObject(r);
    if (!o.contains("file") || !o.at("file").is_object()) {
      ADD_FAILURE() << "no nested file: " << Describe(r);
      return {};
    }
    return o.at("file").as_object();
  }
};

// ---------------------------------------------------------------------------------------------
// Create

TEST_F(UploadsTest, CreateReturnsAPendingUpload) {
  const std::int64_t now = server().clock().NowSeconds();
  auto r = client().CreateUpload(1000, "big.jsonl", "batch", "application/jsonl");
  ASSERT_EQ(r.status, 200) << Describe(r);
  json::object u = JsonObject(r);
  ExpectUploadShape(u);
  EXPECT_EQ(Int(u, "bytes"), 1000);
  EXPECT_EQ(Int(u, "created_at"), now);
  EXPECT_EQ(Int(u, "expires_at"), now + 3600);
  EXPECT_EQ(Str(u, "filename"), "big.jsonl");
  EXPECT_EQ(Str(u, "purpose"), "batch");
  EXPECT_EQ(Str(u, "status"), "pending");
  EXPECT_TRUE(IsNull(u, "file"));
  // GET returns the same object.
  server().clock().AdvanceSeconds(5);
  EXPECT_EQ(GetUpload(Str(u, "id")), u);
}

TEST_F(UploadsTest, CreateAcceptsEveryPurposeAndLooseMimeTypes) {
  for (std::string purpose : {"assistants", "batch", "fine-tune", "vision", "user_data", "evals"}) {
    auto r = client().CreateUpload(10, "f.jsonl", purpose, "txt");
    EXPECT_EQ(r.status, 200) << purpose << ": " << Describe(r);
  }
  EXPECT_EQ(client().CreateUpload(10, "f.pdf", "assistants", "pdf").status, 200);
  // The bounds of bytes.
  EXPECT_EQ(client().CreateUpload(0, "empty", "assistants").status, 200);
  auto max = client().CreateUpload(8LL << 30, "max", "assistants");
  EXPECT_EQ(max.status, 200) << Describe(max);
  // expires_after is accepted (it applies to the File made at completion).
  auto ea =
      CreateRaw(R"({"bytes":1,"filename":"a","mime_type":"text/plain","purpose":"assistants",)"
                R"("expires_after":{"anchor":"created_at","seconds":3600}})");
  ASSERT_EQ(ea.status, 200) << Describe(ea);
  EXPECT_EQ(Int(JsonObject(ea), "expires_at"), Int(JsonObject(ea), "created_at") + 3600);
}

TEST_F(UploadsTest, EachMissingFieldIsARequiredProperty) {
  const std::vector<std::pair<std::string, std::string>> fields{{"bytes", "10"},
                                                                {"filename", "\"a.txt\""},
                                                                {"mime_type", "\"text/plain\""},
                                                                {"purpose", "\"assistants\""}};
  for (std::size_t skip = 0; skip < fields.size(); ++skip) {
    std::string body = "{";
    for (std::size_t i = 0; i < fields.size(); ++i) {
      if (i == skip) continue;
      if (body.size() > 1) body += ",";
      body += "\"" + fields[i].first + "\":" + fields[i].second;
    }
    body += "}";
    SCOPED_TRACE(body);
    ExpectError(CreateRaw(body), 400, "'" + fields[skip].first + "' is a required property",
                fields[skip].first);
  }
  // null counts as missing.
  ExpectError(CreateRaw(R"({"bytes":null,"filename":"a","mime_type":"t","purpose":"assistants"})"),
              400, "'bytes' is a required property", "bytes");
}

TEST_F(UploadsTest, InvalidFieldsAreRefused) {
  auto bad = [&](const std::string& body, const std::string& param) {
    SCOPED_TRACE(body);
    auto r = CreateRaw(body);
    ExpectErrorWhere(
        r, 400, [](const std::string& m) { return !m.empty(); }, param);
  };
  bad(R"({"bytes":-1,"filename":"a","mime_type":"t","purpose":"assistants"})", "bytes");
  bad(R"({"bytes":8589934593,"filename":"a","mime_type":"t","purpose":"assistants"})", "bytes");
  bad(R"({"bytes":"ten","filename":"a","mime_type":"t","purpose":"assistants"})", "bytes");
  bad(R"({"bytes":1.5,"filename":"a","mime_type":"t","purpose":"assistants"})", "bytes");
  bad(R"({"bytes":1,"filename":"","mime_type":"t","purpose":"assistants"})", "filename");
  bad(R"({"bytes":1,"filename":7,"mime_type":"t","purpose":"assistants"})", "filename");
  bad(R"({"bytes":1,"filename":"a","mime_type":"","purpose":"assistants"})", "mime_type");
  ExpectError(CreateRaw(R"({"bytes":1,"filename":"a","mime_type":"t","purpose":"nope"})"), 400,
              "'nope' is not one of ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', "
              "'evals'] - 'purpose'",
              "purpose");
  auto ea = CreateRaw(R"({"bytes":1,"filename":"a","mime_type":"t","purpose":"assistants",)"
                      R"("expires_after":{"anchor":"created_at","seconds":60}})");
  EXPECT_EQ(ea.status, 400) << Describe(ea);
  EXPECT_EQ(ea.ErrorParam().rfind("expires_after", 0), 0u) << Describe(ea);
}

TEST_F(UploadsTest, MalformedJsonIs400) {
  for (std::string body : {"{", "not json", "[1,2]", "\"str\"", ""}) {
    SCOPED_TRACE(body);
    auto r = CreateRaw(body);
    ExpectErrorWhere(r, 400, [](const std::string& m) { return !m.empty(); });
  }
  const std::string up = MustCreateUpload(client(), 1);
  auto r = client().PostJson("/v1/uploads/" + up + "/complete", "{part_ids:");
  ExpectErrorWhere(r, 400, [](const std::string& m) { return !m.empty(); });
  EXPECT_EQ(StateOf(up), "pending");
}

// ---------------------------------------------------------------------------------------------
// Parts

TEST_F(UploadsTest, AddPartReturnsAPartObject) {
  const std::string up = MustCreateUpload(client(), 10);
  auto r = client().AddPart(up, "hello");
  ASSERT_EQ(r.status, 200) << Describe(r);
  json::object p = JsonObject(r);
  ExpectPartShape(p, /*with_bytes=*/false);
  EXPECT_EQ(Str(p, "upload_id"), up);
  EXPECT_EQ(Int(p, "created_at"), server().clock().NowSeconds());
}

TEST_F(UploadsTest, ListPartsShowsBytesInArrivalOrder) {
  const std::string up = MustCreateUpload(client(), 100);
  EXPECT_TRUE(Parts(up).empty());
  std::vector<std::pair<std::string, std::int64_t>> want;
  for (int n : {7, 3, 20, 1}) {
    want.emplace_back(MustAddPart(client(), up, std::string(n, 'x')), n);
    server().clock().AdvanceMillis(1);
  }
  EXPECT_EQ(Parts(up), want);
}

// Parts sent at once, under one of the server's 1 MiB body buffers each, and of several MiB
// each by more clients than the server has workers (each part's buffers go to its storage one
// after another on one worker while no task waits, through the pool's queue when others do).
// Every byte arrives, and the file is the parts in the order the completion lists them.
TEST_F(UploadsTest, PartsInParallelCompleteInTheGivenOrder) {
  for (const std::size_t size : {std::size_t{100000}, std::size_t{3} << 20}) {
    SCOPED_TRACE(size);
    constexpr int kParts = 8;
    std::vector<std::string> data;
    std::size_t total = 0;
    for (int i = 0; i < kParts; ++i) {
      data.push_back(RandomBytes(size + i * 4099 + 1, 100 + i));
      total += data.back().size();
    }
    const std::string up = MustCreateUpload(client(), static_cast<long long>(total));
    std::vector<std::string> ids(kParts);
    std::vector<long> statuses(kParts);
    AtOnce(kParts, [&](int i, HttpClient& c) {
      auto r = c.AddPart(up, data[i]);
      statuses[i] = r.status;
      ids[i] = r.Field("id");
    });
    for (int i = 0; i < kParts; ++i) ASSERT_EQ(statuses[i], 200) << "part " << i;
    EXPECT_EQ(Parts(up).size(), static_cast<std::size_t>(kParts));
    // Complete in an order unrelated to arrival: reversed.
    std::vector<std::string> order(ids.rbegin(), ids.rend());
    std::string want;
    for (int i = kParts - 1; i >= 0; --i) want += data[i];
    auto r = client().Complete(up, order, Md5Hex(want));
    ASSERT_EQ(r.status, 200) << Describe(r);
    json::object f = NestedFile(r);
    EXPECT_EQ(Int(f, "bytes"), static_cast<std::int64_t>(total));
    EXPECT_TRUE(Download(Str(f, "id")) == want);
  }
}

TEST_F(UploadsTest, PartOverTheRemainingBytesIsRefused) {
  // Parts may total twice the declared bytes (room to resend a part whose answer was lost).
  const std::string up = MustCreateUpload(client(), 10);
  MustAddPart(client(), up, "123456");
  MustAddPart(client(), up, "123456");
  auto r = client().AddPart(up, "123456789");  // 12 + 9 > 20
  ExpectErrorWhere(
      r, 400, [](const std::string& m) { return !m.empty(); }, "data");
  EXPECT_EQ(Parts(up).size(), 2u);
  MustAddPart(client(), up, "12345678");  // exactly the rest
  // Nothing is left: any further part is refused at once.
  auto more = client().AddPart(up, "x");
  ExpectErrorWhere(
      more, 400, [](const std::string& m) { return !m.empty(); }, "data");
  EXPECT_EQ(Parts(up).size(), 3u);
}

TEST_F(UploadsTest, PartOverTheMaxPartSizeIsRefused) {
  TestServerOptions o;
  o.service.max_part_bytes = 1024;
  Restart(o);
  const std::string up = MustCreateUpload(client(), 100000);
  auto r = client().AddPart(up, std::string(1025, 'x'));
  ExpectErrorWhere(
      r, 400, [](const std::string& m) { return !m.empty(); }, "data");
  MustAddPart(client(), up, std::string(1024, 'x'));
  EXPECT_EQ(Parts(up).size(), 1u);
  server().sweeper().RunOnce();
  EXPECT_EQ(server().BlobFileNames().size(), 1u);
}

TEST_F(UploadsTest, EmptyFormOrDataAsTextFieldsIsMissingData) {
  const std::string up = MustCreateUpload(client(), 10);
  const std::string path = "/v1/uploads/" + up + "/parts";
  ExpectError(client().PostForm(path, {}), 400, "'data' is a required property", "data");
  // What the Node SDK sends for a raw Buffer.
  ExpectError(client().PostForm(
                  path, {{"data[0]", "97", std::nullopt, ""}, {"data[1]", "98", std::nullopt, ""}}),
              400, "'data' is a required property", "data");
  // `data` as a text field, not a file part.
  ExpectError(client().PostForm(path, {{"data", "ab", std::nullopt, ""}}), 400,
              "'data' is a required property", "data");
  // Some other field only.
  ExpectError(client().PostForm(path, {{"other", "ab", std::string("x.bin"), ""}}), 400,
              "'data' is a required property", "data");
  EXPECT_TRUE(Parts(up).empty());
  server().sweeper().RunOnce();
  EXPECT_TRUE(server().BlobFiles().empty());
}

TEST_F(UploadsTest, ContentMd5IsVerified) {
  const std::string up = MustCreateUpload(client(), 20);
  const std::string path = "/v1/uploads/" + up + "/parts";
  auto ok = client().PostForm(path, {{"data", "0123456789", std::string("blob"), ""}},
                              {"Content-MD5: " + Base64Md5("0123456789")});
  EXPECT_EQ(ok.status, 200) << Describe(ok);
  auto bad = client().PostForm(path, {{"data", "abcdefghij", std::string("blob"), ""}},
                               {"Content-MD5: " + Base64Md5("something else")});
  EXPECT_EQ(bad.status, 400) << Describe(bad);
  EXPECT_EQ(bad.ErrorType(), "invalid_request_error");
  ExpectErrorWhere(
      bad, 400, [](const std::string& m) { return !m.empty(); }, bad.ErrorParam());
  // Nothing of the refused part is stored.
  auto parts = Parts(up);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].first, ok.Field("id"));
  server().sweeper().RunOnce();
  EXPECT_EQ(server().BlobFileNames(), std::multiset<std::string>{ok.Field("id")});
  // The bytes it would have taken are still free.
  MustAddPart(client(), up, "abcdefghij");
}

// ---------------------------------------------------------------------------------------------
// Complete

TEST_F(UploadsTest, CompleteOrdersByPartIdsAndNestsTheFile) {
  const std::string up = MustCreateUpload(client(), 9, "out.txt", "user_data", "text/plain");
  const std::string a = MustAddPart(client(), up, "aaa");
  const std::string b = MustAddPart(client(), up, "bbb");
  const std::string c = MustAddPart(client(), up, "ccc");
  server().clock().AdvanceSeconds(3);
  const std::int64_t now = server().clock().NowSeconds();
  auto r = client().Complete(up, {c, a, b});
  ASSERT_EQ(r.status, 200) << Describe(r);
  json::object u = JsonObject(r);
  ExpectUploadShape(u);
  EXPECT_EQ(Str(u, "status"), "completed");
  json::object f = NestedFile(r);
  ExpectFileShape(f);
  EXPECT_EQ(Int(f, "bytes"), 9);
  EXPECT_EQ(Str(f, "filename"), "out.txt");
  EXPECT_EQ(Str(f, "purpose"), "user_data");
  EXPECT_EQ(Int(f, "created_at"), now);
  EXPECT_TRUE(IsNull(f, "expires_at"));
  EXPECT_EQ(Str(f, "status"), "processed");
  EXPECT_EQ(Download(Str(f, "id")), "cccaaabbb");
  // The file is an ordinary file now.
  auto g = client().Get("/v1/files/" + Str(f, "id"));
  EXPECT_EQ(JsonObject(g), f);
  EXPECT_EQ(FileIds(), std::vector<std::string>{Str(f, "id")});
  // GET of the upload shows it completed with the same file.
  EXPECT_EQ(GetUpload(up), u);
}

TEST_F(UploadsTest, CompletedFileKeepsExpiresAfterAndBatchDefault) {
  auto r =
      CreateRaw(R"({"bytes":2,"filename":"a.txt","mime_type":"text/plain","purpose":"assistants",)"
                R"("expires_after":{"anchor":"created_at","seconds":7200}})");
  ASSERT_EQ(r.status, 200) << Describe(r);
  const std::string up = r.Field("id");
  const std::string p = MustAddPart(client(), up, "hi");
  auto c = client().Complete(up, {p});
  ASSERT_EQ(c.status, 200) << Describe(c);
  json::object f = NestedFile(c);
  EXPECT_EQ(Int(f, "expires_at"), Int(f, "created_at") + 7200);

  const std::string bup = MustCreateUpload(client(), 3, "in.jsonl", "batch");
  const std::string bp = MustAddPart(client(), bup, "{}\n");
  auto bc = client().Complete(bup, {bp});
  ASSERT_EQ(bc.status, 200) << Describe(bc);
  json::object bf = NestedFile(bc);
  EXPECT_EQ(Int(bf, "expires_at"), Int(bf, "created_at") + 2592000);
}

TEST_F(UploadsTest, Md5InAnyCaseCompletes) {
  for (bool upper : {false, true}) {
    const std::string up = MustCreateUpload(client(), 6);
    const std::string a = MustAddPart(client(), up, "abc");
    const std::string b = MustAddPart(client(), up, "def");
    std::string md5 = Md5Hex("defabc");
    if (upper) md5 = Upper(md5);
    auto r = client().Complete(up, {b, a}, md5);
    EXPECT_EQ(r.status, 200) << Describe(r);
    EXPECT_EQ(r.Field("status"), "completed");
  }
}

TEST_F(UploadsTest, WrongMd5LeavesTheUploadPendingAndACorrectCompleteThenSucceeds) {
  const std::string up = MustCreateUpload(client(), 6);
  const std::string a = MustAddPart(client(), up, "abc");
  const std::string b = MustAddPart(client(), up, "def");
  // The md5 of the bytes in the other order: the order matters.
  ExpectError(client().Complete(up, {b, a}, Md5Hex("abcdef")), 400,
              "The md5 checksum of the uploaded bytes does not match", "md5");
  EXPECT_EQ(StateOf(up), "pending");
  EXPECT_TRUE(FileIds().empty());
  EXPECT_EQ(Parts(up).size(), 2u);
  auto r = client().Complete(up, {a, b}, Md5Hex("abcdef"));
  ASSERT_EQ(r.status, 200) << Describe(r);
  EXPECT_EQ(Download(Str(NestedFile(r), "id")), "abcdef");
}

TEST_F(UploadsTest, MalformedMd5Is400) {
  const std::string up = MustCreateUpload(client(), 3);
  const std::string a = MustAddPart(client(), up, "abc");
  for (const std::string& md5 :
       std::vector<std::string>{"xyz", std::string(32, 'g'), std::string(31, 'a')}) {
    auto r = client().Complete(up, {a}, md5);
    ExpectErrorWhere(
        r, 400, [](const std::string& m) { return !m.empty(); }, "md5");
  }
  EXPECT_EQ(StateOf(up), "pending");
}

TEST_F(UploadsTest, BytesMismatchNamesBothCounts) {
  const std::string up = MustCreateUpload(client(), 10);
  const std::string a = MustAddPart(client(), up, "1234");
  const std::string b = MustAddPart(client(), up, "567");
  ExpectError(client().Complete(up, {a, b}), 400,
              "The number of bytes uploaded (7) does not match the expected number of bytes (10)",
              "part_ids");
  ExpectError(client().Complete(up, {a}), 400,
              "The number of bytes uploaded (4) does not match the expected number of bytes (10)",
              "part_ids");
  ExpectError(client().Complete(up, {}), 400,
              "The number of bytes uploaded (0) does not match the expected number of bytes (10)",
              "part_ids");
  EXPECT_EQ(StateOf(up), "pending");
  const std::string c = MustAddPart(client(), up, "890");
  auto r = client().Complete(up, {a, b, c});
  ASSERT_EQ(r.status, 200) << Describe(r);
  EXPECT_EQ(Download(Str(NestedFile(r), "id")), "1234567890");
}

TEST_F(UploadsTest, DuplicatePartIdIsRefused) {
  const std::string up = MustCreateUpload(client(), 6);
  const std::string a = MustAddPart(client(), up, "abc");
  auto r = client().Complete(up, {a, a});
  ExpectErrorWhere(
      r, 400, [&](const std::string& m) { return m.find(a) != std::string::npos; }, "part_ids");
  EXPECT_EQ(StateOf(up), "pending");
}

TEST_F(UploadsTest, PartOfAnotherUploadOrUnknownDoesNotBelong) {
  const std::string up = MustCreateUpload(client(), 3);
  const std::string other = MustCreateUpload(client(), 3);
  MustAddPart(client(), up, "abc");
  const std::string foreign = MustAddPart(client(), other, "xyz");
  ExpectError(client().Complete(up, {foreign}), 400,
              "Part " + foreign + " does not belong to upload " + up, "part_ids");
  const std::string unknown = "part_AAAAAAAAAAAAAAAAAAAAAAAA";
  ExpectError(client().Complete(up, {unknown}), 400,
              "Part " + unknown + " does not belong to upload " + up, "part_ids");
  EXPECT_EQ(StateOf(up), "pending");
  EXPECT_EQ(StateOf(other), "pending");
  // The other upload still has its part.
  EXPECT_EQ(Parts(other).size(), 1u);
}

TEST_F(UploadsTest, RepeatedCompleteIsIdempotentAndADifferentOneIsRefused) {
  const std::string up = MustCreateUpload(client(), 4);
  const std::string a = MustAddPart(client(), up, "ab");
  const std::string b = MustAddPart(client(), up, "cd");
  auto first = client().Complete(up, {a, b});
  ASSERT_EQ(first.status, 200) << Describe(first);
  server().clock().AdvanceSeconds(30);
  auto again = client().Complete(up, {a, b});
  ASSERT_EQ(again.status, 200) << Describe(again);
  EXPECT_EQ(JsonObject(again), JsonObject(first));
  EXPECT_EQ(Str(NestedFile(again), "id"), Str(NestedFile(first), "id"));
  auto other = client().Complete(up, {b, a});
  ExpectError(other, 400, "Upload " + up + " has already been completed");
  EXPECT_EQ(FileIds().size(), 1u);
}

TEST_F(UploadsTest, ZeroByteUploadCompletesWithNoParts) {
  const std::string up = MustCreateUpload(client(), 0, "empty.txt");
  auto r = client().Complete(up, {}, Md5Hex(""));
  ASSERT_EQ(r.status, 200) << Describe(r);
  json::object f = NestedFile(r);
  EXPECT_EQ(Int(f, "bytes"), 0);
  auto c = client().Get("/v1/files/" + Str(f, "id") + "/content");
  EXPECT_EQ(c.status, 200) << Describe(c);
  EXPECT_EQ(c.body, "");
  EXPECT_EQ(c.Header("content-length"), "0");
  // A 0-byte upload takes no part.
  const std::string up2 = MustCreateUpload(client(), 0);
  auto p = client().AddPart(up2, "x");
  ExpectErrorWhere(
      p, 400, [](const std::string& m) { return !m.empty(); }, "data");
}

// Parts received but not listed are discarded at completion (API.md §3). Over HTTP no such
// part can exist at a successful completion: parts may not total more than `bytes` and the
// listed ones must total exactly `bytes`, so every received part is listed. What is left to
// check end to end: a spare part is refused, and the parts' bytes live exactly as long as the
// file made of them.
TEST_F(UploadsTest, PartBytesLiveAsLongAsTheFileMadeOfThem) {
  const std::string up = MustCreateUpload(client(), 4);
  const std::string a = MustAddPart(client(), up, "ab");
  const std::string b = MustAddPart(client(), up, "cd");
  MustAddPart(client(), up, "xyzw");  // received, never listed: discarded at completion
  ExpectErrorWhere(
      client().AddPart(up, "!"), 400, [](const std::string& m) { return !m.empty(); }, "data");
  auto r = client().Complete(up, {b, a});
  ASSERT_EQ(r.status, 200) << Describe(r);
  const std::string file_id = Str(NestedFile(r), "id");
  EXPECT_EQ(Download(file_id), "cdab");
  server().sweeper().RunOnce();
  EXPECT_EQ(server().BlobFileNames(), (std::multiset<std::string>{a, b}));
  // The file survives the sweep, and a sweep a day later.
  server().clock().AdvanceSeconds(86400);
  server().sweeper().RunOnce();
  EXPECT_EQ(Download(file_id), "cdab");
  // Deleting the file frees its parts' bytes.
  ASSERT_EQ(client().Request("DELETE", "/v1/files/" + file_id).status, 200);
  server().sweeper().RunOnce();
  EXPECT_TRUE(server().BlobFiles().empty());
}

TEST_F(UploadsTest, ConcurrentCompletesCreateExactlyOneFile) {
  const std::string up = MustCreateUpload(client(), 6);
  const std::string a = MustAddPart(client(), up, "abc");
  const std::string b = MustAddPart(client(), up, "def");
  constexpr int kThreads = 8;
  std::vector<HttpResponse> results(kThreads);
  AtOnce(kThreads, [&](int i, HttpClient& c) { results[i] = c.Complete(up, {a, b}); });
  std::string file_id;
  int ok = 0;
  for (const auto& r : results) {
    if (r.status == 200) {
      ++ok;
      json::object o = JsonObject(r);
      EXPECT_EQ(Str(o, "status"), "completed");
      const std::string id = Str(NestedFile(r), "id");
      if (file_id.empty()) file_id = id;
      EXPECT_EQ(id, file_id);
    } else {
      EXPECT_EQ(r.status, 400) << Describe(r);
      EXPECT_EQ(r.ErrorType(), "invalid_request_error");
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_EQ(FileIds(), std::vector<std::string>{file_id});
  EXPECT_EQ(Download(file_id), "abcdef");
}

TEST_F(UploadsTest, ConcurrentPartsNeverExceedTwiceTheDeclaredBytes) {
  const std::string up = MustCreateUpload(client(), 20);  // parts may total 40 bytes
  constexpr int kThreads = 8;
  std::vector<HttpResponse> results(kThreads);
  AtOnce(kThreads, [&](int i, HttpClient& c) {
    results[i] = c.AddPart(up, std::string(10, static_cast<char>('a' + i)));
  });
  std::vector<std::string> ok;
  for (const auto& r : results) {
    if (r.status == 200) {
      ok.push_back(r.Field("id"));
    } else {
      ExpectErrorWhere(
          r, 400, [](const std::string& m) { return !m.empty(); }, "data");
    }
  }
  ASSERT_EQ(ok.size(), 4u);
  auto parts = Parts(up);
  std::int64_t total = 0;
  for (const auto& p : parts) total += p.second;
  EXPECT_EQ(total, 40);
  const std::vector<std::string> listed(ok.begin(), ok.begin() + 2);
  auto r = client().Complete(up, listed);
  ASSERT_EQ(r.status, 200) << Describe(r);
  // Nothing of the refused or unlisted parts stays stored; the listed ones stay with the file.
  server().sweeper().RunOnce();
  EXPECT_EQ(server().BlobFileNames(), std::multiset<std::string>(listed.begin(), listed.end()));
}

TEST_F(UploadsTest, CompleteRacingCancelHasOneWinner) {
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE(round);
    const std::string up = MustCreateUpload(client(), 3);
    const std::string a = MustAddPart(client(), up, "abc");
    constexpr int kThreads = 8;
    std::vector<HttpResponse> results(kThreads);
    AtOnce(kThreads, [&](int i, HttpClient& c) {
      results[i] = i % 2 == 0
                       ? c.Complete(up, {a})
                       : c.Request("POST", "/v1/uploads/" + up + "/cancel", "", {"Content-Type:"});
    });
    const std::string final_status = StateOf(up);
    ASSERT_TRUE(final_status == "completed" || final_status == "cancelled") << final_status;
    const bool completed = final_status == "completed";
    for (int i = 0; i < kThreads; ++i) {
      const bool is_complete = i % 2 == 0;
      if (is_complete == completed) {
        EXPECT_EQ(results[i].status, 200) << Describe(results[i]);
        EXPECT_EQ(results[i].Field("status"), final_status);
      } else {
        ExpectError(results[i], 400, "Upload " + up + " has already been " + final_status);
      }
    }
  }
  // One file per completed round, no more.
  int completed_rounds = 0;
  auto r = client().Get("/v1/files");
  completed_rounds = static_cast<int>(ExpectListShape(JsonObject(r)).size());
  EXPECT_LE(completed_rounds, 5);
}

TEST_F(UploadsTest, CompletedUploadOutlivesItsExpiry) {
  const std::string up = MustCreateUpload(client(), 6);
  const std::string a = MustAddPart(client(), up, "abc");
  const std::string b = MustAddPart(client(), up, "def");
  auto r = client().Complete(up, {a, b});
  ASSERT_EQ(r.status, 200) << Describe(r);
  const std::string file_id = Str(NestedFile(r), "id");
  server().clock().AdvanceSeconds(7200);
  server().sweeper().RunOnce();
  json::object u = GetUpload(up);
  EXPECT_EQ(Str(u, "status"), "completed");
  ASSERT_TRUE(u.contains("file") && u.at("file").is_object());
  EXPECT_EQ(Str(u.at("file").as_object(), "id"), file_id);
  EXPECT_EQ(Download(file_id), "abcdef");
  EXPECT_EQ(server().BlobFileNames(), (std::multiset<std::string>{a, b}));
  // A repeated complete still answers like the first.
  auto again = client().Complete(up, {a, b});
  EXPECT_EQ(again.status, 200) << Describe(again);
}

TEST_F(UploadsTest, MalformedContentMd5IsRefused) {
  const std::string up = MustCreateUpload(client(), 3);
  auto r =
      client().PostForm("/v1/uploads/" + up + "/parts", {{"data", "abc", std::string("blob"), ""}},
                        {"Content-MD5: not-base64!"});
  EXPECT_EQ(r.status, 400) << Describe(r);
  ExpectErrorWhere(
      r, 400, [](const std::string& m) { return !m.empty(); }, r.ErrorParam());
  EXPECT_TRUE(Parts(up).empty());
}

// ---------------------------------------------------------------------------------------------
// Cancel

TEST_F(UploadsTest, CancelDiscardsPartsAndIsRepeatable) {
  const std::string up = MustCreateUpload(client(), 10);
  const std::string a = MustAddPart(client(), up, "abc");
  auto r = Cancel(up);
  ASSERT_EQ(r.status, 200) << Describe(r);
  json::object u = JsonObject(r);
  ExpectUploadShape(u);
  EXPECT_EQ(Str(u, "status"), "cancelled");
  EXPECT_TRUE(IsNull(u, "file"));
  auto again = Cancel(up);
  ASSERT_EQ(again.status, 200) << Describe(again);
  EXPECT_EQ(Str(JsonObject(again), "status"), "cancelled");
  EXPECT_EQ(StateOf(up), "cancelled");
  const std::string msg = "Upload " + up + " has already been cancelled";
  ExpectError(client().AddPart(up, "x"), 400, msg, "data");
  ExpectError(client().Complete(up, {a}), 400, msg);
  server().sweeper().RunOnce();
  EXPECT_TRUE(server().BlobFiles().empty());
}

TEST_F(UploadsTest, CancelOfACompletedUploadIsRefused) {
  const std::string up = MustCreateUpload(client(), 1);
  const std::string a = MustAddPart(client(), up, "z");
  ASSERT_EQ(client().Complete(up, {a}).status, 200);
  const std::string msg = "Upload " + up + " has already been completed";
  ExpectError(Cancel(up), 400, msg);
  ExpectError(client().AddPart(up, "x"), 400, msg, "data");
  EXPECT_EQ(StateOf(up), "completed");
}

TEST_F(UploadsTest, CancelWithoutBodyAsNodeAndPythonSendIt) {
  // Node: no Content-Type, content-length: 0.
  const std::string node = MustCreateUpload(client(), 1);
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.connected());
  ASSERT_TRUE(conn.Send("POST /v1/uploads/" + node +
                        "/cancel HTTP/1.1\r\nHost: x\r\ncontent-length: 0\r\n\r\n"));
  auto r1 = conn.ReadResponse();
  EXPECT_EQ(r1.status, 200) << Describe(r1);
  EXPECT_EQ(r1.Field("status"), "cancelled");
  // Python: Content-Type: application/json, empty body.
  const std::string py = MustCreateUpload(client(), 1);
  ASSERT_TRUE(conn.Send("POST /v1/uploads/" + py +
                        "/cancel HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Content-Length: 0\r\n\r\n"));
  auto r2 = conn.ReadResponse();
  EXPECT_EQ(r2.status, 200) << Describe(r2);
  EXPECT_EQ(r2.Field("status"), "cancelled");
  // And the same through curl.
  const std::string c = MustCreateUpload(client(), 1);
  auto r3 = client().Request("POST", "/v1/uploads/" + c + "/cancel", "",
                             {"Content-Type: application/json"});
  EXPECT_EQ(r3.status, 200) << Describe(r3);
  const std::string d = MustCreateUpload(client(), 1);
  auto r4 = Cancel(d);
  EXPECT_EQ(r4.status, 200) << Describe(r4);
}

// ---------------------------------------------------------------------------------------------
// Expiry

TEST_F(UploadsTest, ExpiredUploadsAreExpiredEverywhereAndTheSweeperRemovesTheirParts) {
  const std::string up = MustCreateUpload(client(), 6);
  const std::string a = MustAddPart(client(), up, "abc");
  const std::string b = MustAddPart(client(), up, "def");
  const std::string live = MustCreateUpload(client(), 6);  // created later: expires later
  server().clock().AdvanceSeconds(3599);
  EXPECT_EQ(StateOf(up), "pending");
  server().clock().AdvanceSeconds(2);
  const json::object u = GetUpload(up);
  EXPECT_EQ(Str(u, "status"), "expired");
  const std::string msg = "Upload " + up + " has expired";
  ExpectError(client().AddPart(up, "x"), 400, msg, "data");
  ExpectError(client().Complete(up, {a, b}), 400, msg);
  ExpectError(Cancel(up), 400, msg);
  EXPECT_TRUE(FileIds().empty());
  // The parts' bytes are there until the sweeper runs.
  EXPECT_EQ(server().BlobFileNames(), (std::multiset<std::string>{a, b}));
  server().sweeper().RunOnce();
  EXPECT_TRUE(server().BlobFiles().empty());
  EXPECT_EQ(StateOf(up), "expired");
  ExpectError(client().Complete(up, {a, b}), 400, msg);
  (void)live;
}

// ---------------------------------------------------------------------------------------------
// Unknown uploads

TEST_F(UploadsTest, UnknownUploadIs404OnEveryRoute) {
  for (std::string id : {"upload_AAAAAAAAAAAAAAAAAAAAAAAA", "nope", "..%2F..%2Fmeta.db"}) {
    SCOPED_TRACE(id);
    std::string shown = id;
    if (shown.find('%') != std::string::npos) shown = "../../meta.db";  // ids are URL-decoded
    const std::string msg = "No such Upload object: " + shown;
    ExpectError(client().Get("/v1/uploads/" + id), 404, msg, "upload_id");
    ExpectError(client().Get("/v1/uploads/" + id + "/parts"), 404, msg, "upload_id");
    ExpectError(client().AddPart(id, "abc"), 404, msg, "upload_id");
    ExpectError(client().Complete(id, {}), 404, msg, "upload_id");
    ExpectError(Cancel(id), 404, msg, "upload_id");
  }
  server().sweeper().RunOnce();
  EXPECT_TRUE(server().BlobFiles().empty());
}

}  // namespace
}  // namespace fileport::testing

// End-to-end: POST/GET/DELETE /v1/files and GET /v1/files (API.md §2, §3, §5) over real HTTP.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/sizes.h"
#include "e2e/test_server.h"
#include "support/page_cache.h"

namespace fileport::testing {
namespace {
namespace json = boost::json;

constexpr char kPurposeList[] =
    "is not one of ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'] - "
    "'purpose'";

std::string BadPurposeMessage(const std::string& value) {
  return "'" + value + "' " + kPurposeList;
}

FormPart Field(const std::string& name, const std::string& value) {
  return {name, value, std::nullopt, ""};
}
FormPart FilePart(const std::string& data, const std::optional<std::string>& filename,
                  const std::string& content_type = "application/octet-stream") {
  return {"file", data, filename, content_type};
}

class FilesTest : public E2eTest {
 protected:
  // Asserts that the blob directory holds exactly the blobs of these live files (and nothing
  // temporary), after a sweeper pass.
  void ExpectBlobsExactly(std::multiset<std::string> names) {
    server().sweeper().RunOnce();
    EXPECT_EQ(server().BlobFileNames(), names);
  }
  std::vector<std::string> ListIds(const std::string& query, bool* has_more = nullptr) {
    auto r = client().Get("/v1/files" + query);
    EXPECT_EQ(r.status, 200) << query << ": " << Describe(r);
    json::object o = JsonObject(r);
    auto ids = ExpectListShape(o);
    if (has_more)
      *has_more =
          o.contains("has_more") && o.at("has_more").is_bool() && o.at("has_more").as_bool();
    if (auto* data = o.if_contains("data"); data && data->is_array()) {
      for (const auto& f : data->as_array()) ExpectFileShape(f.as_object());
    }
    return ids;
  }
};

// ---------------------------------------------------------------------------------------------
// Create

TEST_F(FilesTest, CreateWithPurposeFirstReturnsTheFileObject) {
  const std::int64_t now = server().clock().NowSeconds();
  auto r = client().PostForm("/v1/files", {Field("purpose", "assistants"),
                                           FilePart("hello world", "notes.txt", "text/plain")});
  ASSERT_EQ(r.status, 200) << Describe(r);
  json::object f = JsonObject(r);
  ExpectFileShape(f);
  EXPECT_EQ(Int(f, "bytes"), 11);
  EXPECT_EQ(Int(f, "created_at"), now);
  EXPECT_TRUE(IsNull(f, "expires_at"));
  EXPECT_EQ(Str(f, "filename"), "notes.txt");
  EXPECT_EQ(Str(f, "purpose"), "assistants");
  EXPECT_EQ(Str(f, "status"), "processed");
  EXPECT_TRUE(IsNull(f, "status_details"));
  auto c = client().Get("/v1/files/" + Str(f, "id") + "/content");
  EXPECT_EQ(c.status, 200);
  EXPECT_EQ(c.body, "hello world");
}

TEST_F(FilesTest, CreateWithFileFirstAsNodeSends) {
  const std::string data = RandomBytes(300000, 7);
  auto r = client().PostForm("/v1/files", {FilePart(data, "blob.bin"), Field("purpose", "vision")});
  ASSERT_EQ(r.status, 200) << Describe(r);
  json::object f = JsonObject(r);
  ExpectFileShape(f);
  EXPECT_EQ(Int(f, "bytes"), 300000);
  EXPECT_EQ(Str(f, "purpose"), "vision");
  EXPECT_EQ(Str(f, "filename"), "blob.bin");
  auto c = client().Get("/v1/files/" + Str(f, "id") + "/content");
  EXPECT_EQ(c.status, 200);
  EXPECT_TRUE(c.body == data) << "content differs (" << c.body.size() << " bytes)";
}

TEST_F(FilesTest, FilePartWithoutFilenameIsNamedUpload) {
  auto r = client().PostForm(
      "/v1/files", {Field("purpose", "user_data"), FilePart("abc", std::nullopt, "text/plain")});
  ASSERT_EQ(r.status, 200) << Describe(r);
  json::object f = JsonObject(r);
  EXPECT_EQ(Str(f, "filename"), "upload");
  EXPECT_EQ(Int(f, "bytes"), 3);
}

TEST_F(FilesTest, PercentEncodedQuoteInFilenameIsDecoded) {
  auto r = client().PostForm("/v1/files",
                             {Field("purpose", "assistants"), FilePart("x", "say%22hi%22.txt")});
  ASSERT_EQ(r.status, 200) << Describe(r);
  json::object f = JsonObject(r);
  EXPECT_EQ(Str(f, "filename"), "say\"hi\".txt");
  // And it stays so when read back.
  auto g = client().Get("/v1/files/" + Str(f, "id"));
  EXPECT_EQ(Str(JsonObject(g), "filename"), "say\"hi\".txt");
}

TEST_F(FilesTest, RawUtf8FilenameIsKept) {
  auto r = client().PostForm(
      "/v1/files", {Field("purpose", "assistants"), FilePart("x", "r\xC3\xA9sum\xC3\xA9.txt")});
  ASSERT_EQ(r.status, 200) << Describe(r);
  EXPECT_EQ(Str(JsonObject(r), "filename"), "r\xC3\xA9sum\xC3\xA9.txt");
}

TEST_F(FilesTest, EveryCreatePurposeIsAccepted) {
  for (std::string purpose : {"assistants", "batch", "fine-tune", "vision", "user_data", "evals"}) {
    const std::string name = purpose == "batch" || purpose == "fine-tune" ? "in.jsonl" : "in.txt";
    auto r =
        client().PostForm("/v1/files", {Field("purpose", purpose), FilePart("{\"a\":1}\n", name)});
    ASSERT_EQ(r.status, 200) << purpose << ": " << Describe(r);
    json::object f = JsonObject(r);
    ExpectFileShape(f);
    EXPECT_EQ(Str(f, "purpose"), purpose);
  }
}

TEST_F(FilesTest, BadPurposeIsRefusedInEitherFieldOrderAndNothingIsStored) {
  auto first = client().PostForm("/v1/files", {Field("purpose", "nope"), FilePart("abc", "a.txt")});
  ExpectError(first, 400, BadPurposeMessage("nope"), "purpose");
  auto last = client().PostForm(
      "/v1/files", {FilePart(RandomBytes(200000, 1), "a.txt"), Field("purpose", "nope")});
  ExpectError(last, 400, BadPurposeMessage("nope"), "purpose");
  // Purposes only the server produces cannot be created.
  auto output = client().PostForm(
      "/v1/files", {Field("purpose", "assistants_output"), FilePart("abc", "a.txt")});
  ExpectError(output, 400, BadPurposeMessage("assistants_output"), "purpose");
  auto empty = client().PostForm("/v1/files", {Field("purpose", ""), FilePart("abc", "a.txt")});
  ExpectError(empty, 400, BadPurposeMessage(""), "purpose");
  EXPECT_TRUE(ListIds("").empty());
  ExpectBlobsExactly({});
}

TEST_F(FilesTest, MissingFileIsARequiredProperty) {
  auto r = client().PostForm("/v1/files", {Field("purpose", "assistants")});
  ExpectError(r, 400, "'file' is a required property", "file");
  auto none = client().PostForm("/v1/files", {});
  EXPECT_EQ(none.status, 400) << Describe(none);
  EXPECT_EQ(none.ErrorType(), "invalid_request_error");
}

TEST_F(FilesTest, MissingPurposeIsARequiredPropertyAndNothingIsStored) {
  auto r = client().PostForm("/v1/files", {FilePart(RandomBytes(100000, 2), "a.txt")});
  ExpectError(r, 400, "'purpose' is a required property", "purpose");
  EXPECT_TRUE(ListIds("").empty());
  ExpectBlobsExactly({});
}

TEST_F(FilesTest, FineTuneAndBatchNeedJsonl) {
  auto ft =
      client().PostForm("/v1/files", {Field("purpose", "fine-tune"), FilePart("{}", "train.txt")});
  ExpectError(ft, 400, "Invalid file format for Fine-Tuning API. Must be .jsonl", "file");
  auto ft_last =
      client().PostForm("/v1/files", {FilePart("{}", "train.json"), Field("purpose", "fine-tune")});
  ExpectError(ft_last, 400, "Invalid file format for Fine-Tuning API. Must be .jsonl", "file");
  auto batch =
      client().PostForm("/v1/files", {Field("purpose", "batch"), FilePart("{}", "in.csv")});
  ExpectError(batch, 400, "Invalid file format for Batch API. Must be .jsonl", "file");
  auto unnamed =
      client().PostForm("/v1/files", {Field("purpose", "batch"), FilePart("{}", std::nullopt)});
  ExpectError(unnamed, 400, "Invalid file format for Batch API. Must be .jsonl", "file");
  EXPECT_TRUE(ListIds("").empty());
  ExpectBlobsExactly({});
  auto ok = client().PostForm("/v1/files",
                              {Field("purpose", "fine-tune"), FilePart("{}\n", "train.jsonl")});
  EXPECT_EQ(ok.status, 200) << Describe(ok);
}

TEST_F(FilesTest, BatchFilesExpireAfterThirtyDaysByDefault) {
  json::object f = MustCreateFile(client(), "{}\n", "in.jsonl", "batch");
  EXPECT_EQ(Int(f, "expires_at"), Int(f, "created_at") + 2592000);
  json::object other = MustCreateFile(client(), "{}\n", "in.jsonl", "fine-tune");
  EXPECT_TRUE(IsNull(other, "expires_at"));
}

TEST_F(FilesTest, ExpiresAfterSetsExpiresAt) {
  auto r = client().PostForm(
      "/v1/files", {Field("purpose", "assistants"), Field("expires_after[anchor]", "created_at"),
                    Field("expires_after[seconds]", "3600"), FilePart("abc", "a.txt")});
  ASSERT_EQ(r.status, 200) << Describe(r);
  json::object f = JsonObject(r);
  EXPECT_EQ(Int(f, "expires_at"), Int(f, "created_at") + 3600);

  // The fields may also come after the file, and override the batch default.
  auto b = client().PostForm("/v1/files", {FilePart("{}\n", "in.jsonl"), Field("purpose", "batch"),
                                           Field("expires_after[seconds]", "2592000"),
                                           Field("expires_after[anchor]", "created_at")});
  ASSERT_EQ(b.status, 200) << Describe(b);
  json::object bf = JsonObject(b);
  EXPECT_EQ(Int(bf, "expires_at"), Int(bf, "created_at") + 2592000);

  auto g = client().Get("/v1/files/" + Str(f, "id"));
  EXPECT_EQ(Int(JsonObject(g), "expires_at"), Int(f, "created_at") + 3600);
}

TEST_F(FilesTest, ExpiresAfterOutOfRangeOrHalfGivenIsRefused) {
  auto expect_400 = [&](const std::vector<FormPart>& parts, const std::string& what) {
    auto r = client().PostForm("/v1/files", parts);
    SCOPED_TRACE(what);
    EXPECT_EQ(r.status, 400) << Describe(r);
    // The param names the expires_after field at fault.
    EXPECT_EQ(r.ErrorParam().rfind("expires_after", 0), 0u) << Describe(r);
    ExpectErrorWhere(
        r, 400, [](const std::string& m) { return !m.empty(); }, r.ErrorParam());
  };
  for (std::string secs : {"3599", "2592001", "0", "-5", "soon"}) {
    expect_400({Field("purpose", "assistants"), Field("expires_after[anchor]", "created_at"),
                Field("expires_after[seconds]", secs), FilePart("abc", "a.txt")},
               "seconds=" + secs);
  }
  expect_400({Field("purpose", "assistants"), Field("expires_after[anchor]", "created_at"),
              FilePart("abc", "a.txt")},
             "anchor only");
  expect_400({Field("purpose", "assistants"), Field("expires_after[seconds]", "3600"),
              FilePart("abc", "a.txt")},
             "seconds only");
  expect_400({Field("purpose", "assistants"), Field("expires_after[anchor]", "last_active_at"),
              Field("expires_after[seconds]", "3600"), FilePart("abc", "a.txt")},
             "other anchor");
  EXPECT_TRUE(ListIds("").empty());
  ExpectBlobsExactly({});
  // The bounds themselves are accepted.
  for (std::string secs : {"3600", "2592000"}) {
    auto r = client().PostForm(
        "/v1/files", {Field("purpose", "assistants"), Field("expires_after[anchor]", "created_at"),
                      Field("expires_after[seconds]", secs), FilePart("abc", "a.txt")});
    EXPECT_EQ(r.status, 200) << secs << ": " << Describe(r);
  }
}

TEST_F(FilesTest, FileOverTheSizeLimitIs413AndLeavesNothing) {
  TestServerOptions o;
  o.service.max_file_bytes = 1000;
  Restart(o);
  json::object kept = MustCreateFile(client(), std::string(1000, 'k'), "max.txt");
  for (bool purpose_first : {true, false}) {
    SCOPED_TRACE(purpose_first ? "purpose first" : "file first");
    std::vector<FormPart> parts{FilePart(std::string(1001, 'x'), "big.txt")};
    if (purpose_first) {
      parts.insert(parts.begin(), Field("purpose", "assistants"));
    } else {
      parts.push_back(Field("purpose", "assistants"));
    }
    auto r = client().PostForm("/v1/files", parts);
    ExpectErrorWhere(
        r, 413, [](const std::string& m) { return m.find(FormatBytes(1000)) != std::string::npos; },
        "file");
  }
  // A body far over the limit is refused too, however it ends.
  auto big = client().PostForm(
      "/v1/files", {Field("purpose", "assistants"), FilePart(RandomBytes(3 << 20, 3), "huge.bin")});
  EXPECT_EQ(big.status, 413) << Describe(big);
  EXPECT_EQ(big.ErrorParam(), "file");
  EXPECT_EQ(ListIds(""), std::vector<std::string>{Str(kept, "id")});
  ExpectBlobsExactly({Str(kept, "id")});
}

TEST_F(FilesTest, BatchFileOverTheBatchLimitIs413) {
  TestServerOptions o;
  o.service.max_batch_file_bytes = 500;
  Restart(o);
  for (bool purpose_first : {true, false}) {
    SCOPED_TRACE(purpose_first ? "purpose first" : "file first");
    std::vector<FormPart> parts{FilePart(std::string(501, '\n'), "in.jsonl")};
    if (purpose_first) {
      parts.insert(parts.begin(), Field("purpose", "batch"));
    } else {
      parts.push_back(Field("purpose", "batch"));
    }
    auto r = client().PostForm("/v1/files", parts);
    ExpectErrorWhere(
        r, 413, [](const std::string& m) { return m.find(FormatBytes(500)) != std::string::npos; },
        "file");
  }
  // The same bytes are fine for another purpose.
  auto ok = client().PostForm(
      "/v1/files", {Field("purpose", "assistants"), FilePart(std::string(501, '\n'), "in.jsonl")});
  EXPECT_EQ(ok.status, 200) << Describe(ok);
  ExpectBlobsExactly({ok.Field("id")});
}

// ---------------------------------------------------------------------------------------------
// Retrieve, list, delete

TEST_F(FilesTest, RetrieveReturnsTheSameObjectAsCreate) {
  auto r =
      client().PostForm("/v1/files", {Field("purpose", "batch"), FilePart("{}\n", "in.jsonl")});
  ASSERT_EQ(r.status, 200) << Describe(r);
  json::object created = JsonObject(r);
  server().clock().AdvanceSeconds(10);
  auto g = client().Get("/v1/files/" + Str(created, "id"));
  ASSERT_EQ(g.status, 200) << Describe(g);
  json::object got = JsonObject(g);
  ExpectFileShape(got);
  EXPECT_EQ(got, created);
}

TEST_F(FilesTest, UnknownAndHostileIdsAre404) {
  const std::string id = "file-AAAAAAAAAAAAAAAAAAAAAAAA";
  ExpectError(client().Get("/v1/files/" + id), 404, "No such File object: " + id, "id");
  ExpectError(client().Get("/v1/files/nope"), 404, "No such File object: nope", "id");
  // Path ids are URL-decoded, and never become a path.
  ExpectError(client().Get("/v1/files/..%2F..%2Fmeta.db"), 404,
              "No such File object: ../../meta.db", "id");
  ExpectError(client().Get("/v1/files/..%2F..%2Fmeta.db/content"), 404,
              "No such File object: ../../meta.db", "id");
  ExpectError(client().Request("DELETE", "/v1/files/" + id), 404, "No such File object: " + id,
              "id");
}

TEST_F(FilesTest, PercentEncodedIdsAreDecodedBeforeLookup) {
  const std::string id = Str(MustCreateFile(client(), "enc"), "id");
  std::string encoded;
  for (char c : id) {
    if (c == '-' || c == '_') {
      encoded += c == '-' ? "%2D" : "%5F";
    } else {
      encoded += c;
    }
  }
  ASSERT_NE(encoded, id);
  auto r = client().Get("/v1/files/" + encoded);
  ASSERT_EQ(r.status, 200) << Describe(r);
  EXPECT_EQ(r.Field("id"), id);
  EXPECT_EQ(client().Get("/v1/files/" + encoded + "/content").body, "enc");
}

TEST_F(FilesTest, ListIsNewestFirstByDefaultAndOldestFirstWithAsc) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Str(MustCreateFile(client(), "f" + std::to_string(i)), "id"));
    server().clock().AdvanceSeconds(1);
  }
  std::vector<std::string> desc(ids.rbegin(), ids.rend());
  bool has_more = true;
  EXPECT_EQ(ListIds("", &has_more), desc);
  EXPECT_FALSE(has_more);
  EXPECT_EQ(ListIds("?order=desc"), desc);
  EXPECT_EQ(ListIds("?order=asc", &has_more), ids);
  EXPECT_FALSE(has_more);
  EXPECT_EQ(ListIds("?limit=2", &has_more), (std::vector<std::string>{ids[4], ids[3]}));
  EXPECT_TRUE(has_more);
  EXPECT_EQ(ListIds("?limit=5", &has_more), desc);
  EXPECT_FALSE(has_more);
  EXPECT_EQ(ListIds("?limit=10000"), desc);
}

TEST_F(FilesTest, ListInTheSameSecondStillOrdersByCreation) {
  // Ids sort by creation time, so even files created in one second list in order.
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(Str(MustCreateFile(client(), "x"), "id"));
    server().clock().AdvanceMillis(1);
  }
  EXPECT_EQ(ListIds("?order=asc"), ids);
}

TEST_F(FilesTest, AfterPaginatesOverSeveralPagesKeepingOtherParams) {
  std::vector<std::string> ids;  // oldest first
  for (int i = 0; i < 7; ++i) {
    ids.push_back(Str(MustCreateFile(client(), "p" + std::to_string(i)), "id"));
    server().clock().AdvanceSeconds(1);
  }
  // A file of another purpose interleaved: filtered out of every page.
  MustCreateFile(client(), "{}\n", "in.jsonl", "fine-tune");
  for (bool asc : {false, true}) {
    SCOPED_TRACE(asc ? "asc" : "desc");
    std::vector<std::string> want = ids;
    if (!asc) std::reverse(want.begin(), want.end());
    std::vector<std::string> got;
    std::string after;
    int pages = 0;
    for (;;) {
      std::string q = "?purpose=assistants&limit=3";
      if (asc) q += "&order=asc";
      if (!after.empty()) q += "&after=" + after;
      bool has_more = false;
      auto page = ListIds(q, &has_more);
      ++pages;
      got.insert(got.end(), page.begin(), page.end());
      if (!has_more || page.empty() || pages > 10) break;
      after = page.back();
    }
    EXPECT_EQ(pages, 3);
    EXPECT_EQ(got, want);
  }
}

TEST_F(FilesTest, AfterADeletedFileStillWorks) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Str(MustCreateFile(client(), "d"), "id"));
    server().clock().AdvanceSeconds(1);
  }
  // Page 1 (desc, limit 2) ends at ids[3]; it is deleted before page 2 is asked for.
  bool has_more = false;
  auto page1 = ListIds("?limit=2", &has_more);
  ASSERT_EQ(page1, (std::vector<std::string>{ids[4], ids[3]}));
  EXPECT_TRUE(has_more);
  ASSERT_EQ(client().Request("DELETE", "/v1/files/" + ids[3]).status, 200);
  auto page2 = ListIds("?limit=2&after=" + ids[3], &has_more);
  EXPECT_EQ(page2, (std::vector<std::string>{ids[2], ids[1]}));
  EXPECT_TRUE(has_more);
  auto asc = ListIds("?order=asc&after=" + ids[3], &has_more);
  EXPECT_EQ(asc, std::vector<std::string>{ids[4]});
  EXPECT_FALSE(has_more);
}

TEST_F(FilesTest, PurposeFilter) {
  std::string a = Str(MustCreateFile(client(), "a", "a.txt", "assistants"), "id");
  server().clock().AdvanceSeconds(1);
  std::string b = Str(MustCreateFile(client(), "{}\n", "b.jsonl", "batch"), "id");
  server().clock().AdvanceSeconds(1);
  std::string v = Str(MustCreateFile(client(), "v", "v.png", "vision"), "id");
  EXPECT_EQ(ListIds("?purpose=assistants"), std::vector<std::string>{a});
  EXPECT_EQ(ListIds("?purpose=batch"), std::vector<std::string>{b});
  EXPECT_EQ(ListIds("?purpose=vision"), std::vector<std::string>{v});
  EXPECT_EQ(ListIds(""), (std::vector<std::string>{v, b, a}));
}

TEST_F(FilesTest, UnknownPurposeFilterIsAnEmptyList) {
  MustCreateFile(client(), "a");
  auto r = client().Get("/v1/files?purpose=nope");
  ASSERT_EQ(r.status, 200) << Describe(r);
  json::object o = JsonObject(r);
  EXPECT_TRUE(ExpectListShape(o).empty());
  EXPECT_TRUE(IsNull(o, "first_id"));
  EXPECT_TRUE(IsNull(o, "last_id"));
  ASSERT_TRUE(o.contains("has_more"));
  EXPECT_EQ(o.at("has_more"), json::value(false));
  // Exact bytes of an empty list.
  EXPECT_EQ(json::parse(r.body),
            json::parse(
                R"({"object":"list","data":[],"first_id":null,"last_id":null,"has_more":false})"));
}

TEST_F(FilesTest, LimitOutOfRangeIs400) {
  for (std::string lim : {"0", "10001", "-1"}) {
    auto r = client().Get("/v1/files?limit=" + lim);
    SCOPED_TRACE(lim);
    ExpectErrorWhere(
        r, 400, [](const std::string& m) { return !m.empty(); }, "limit");
  }
  auto junk = client().Get("/v1/files?limit=ten");
  ExpectErrorWhere(
      junk, 400, [](const std::string& m) { return !m.empty(); }, "limit");
  auto order = client().Get("/v1/files?order=sideways");
  ExpectErrorWhere(
      order, 400, [](const std::string& m) { return !m.empty(); }, "order");
}

TEST_F(FilesTest, DeleteReturnsTheDeleteResultThenTheIdIs404Everywhere) {
  json::object f = MustCreateFile(client(), RandomBytes(5000, 9));
  json::object keep = MustCreateFile(client(), "keep");
  const std::string id = Str(f, "id");
  auto d = client().Request("DELETE", "/v1/files/" + id);
  ASSERT_EQ(d.status, 200) << Describe(d);
  json::object del = JsonObject(d);
  ExpectKeys(del, {"id", "object", "deleted"}, "delete result");
  EXPECT_EQ(del, json::parse("{\"id\":\"" + id + "\",\"object\":\"file\",\"deleted\":true}"));
  const std::string msg = "No such File object: " + id;
  ExpectError(client().Get("/v1/files/" + id), 404, msg, "id");
  ExpectError(client().Get("/v1/files/" + id + "/content"), 404, msg, "id");
  ExpectError(client().Request("DELETE", "/v1/files/" + id), 404, msg, "id");
  EXPECT_EQ(ListIds(""), std::vector<std::string>{Str(keep, "id")});
  // The bytes are gone once the sweeper has run; the other file's stay.
  ExpectBlobsExactly({Str(keep, "id")});
}

TEST_F(FilesTest, ConcurrentDeletesHaveOneWinner) {
  const std::string id = Str(MustCreateFile(client(), "x"), "id");
  constexpr int kThreads = 8;
  std::vector<HttpResponse> results(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back(
        [&, i] { results[i] = server().Client().Request("DELETE", "/v1/files/" + id); });
  }
  for (auto& t : threads) t.join();
  int ok = 0;
  for (const auto& r : results) {
    if (r.status == 200) {
      ++ok;
    } else {
      ExpectError(r, 404, "No such File object: " + id, "id");
    }
  }
  EXPECT_EQ(ok, 1);
  ExpectBlobsExactly({});
}

TEST_F(FilesTest, ExpiredFilesVanishBeforeTheSweeperAndTheirBytesAfterIt) {
  auto r = client().PostForm(
      "/v1/files", {Field("purpose", "assistants"), Field("expires_after[anchor]", "created_at"),
                    Field("expires_after[seconds]", "3600"), FilePart("short-lived", "a.txt")});
  ASSERT_EQ(r.status, 200) << Describe(r);
  const std::string id = r.Field("id");
  json::object batch = MustCreateFile(client(), "{}\n", "in.jsonl", "batch");
  json::object forever = MustCreateFile(client(), "forever");

  server().clock().AdvanceSeconds(3599);
  EXPECT_EQ(client().Get("/v1/files/" + id).status, 200);
  server().clock().AdvanceSeconds(1);  // now == expires_at: expired
  const std::string msg = "No such File object: " + id;
  ExpectError(client().Get("/v1/files/" + id), 404, msg, "id");
  ExpectError(client().Get("/v1/files/" + id + "/content"), 404, msg, "id");
  EXPECT_EQ(client().Request("HEAD", "/v1/files/" + id + "/content").status, 404);
  ExpectError(client().Request("DELETE", "/v1/files/" + id), 404, msg, "id");
  auto listed = ListIds("");
  EXPECT_EQ(std::count(listed.begin(), listed.end(), id), 0);
  EXPECT_EQ(listed.size(), 2u);
  // Before the sweeper, the bytes are still there; after it, they are not.
  EXPECT_EQ(server().BlobFileNames().count(id), 1u);
  ExpectBlobsExactly({Str(batch, "id"), Str(forever, "id")});

  // The batch file goes after 30 days, the other never.
  server().clock().AdvanceSeconds(2592000);
  ExpectError(client().Get("/v1/files/" + Str(batch, "id")), 404,
              "No such File object: " + Str(batch, "id"), "id");
  EXPECT_EQ(ListIds(""), std::vector<std::string>{Str(forever, "id")});
  ExpectBlobsExactly({Str(forever, "id")});
  EXPECT_EQ(client().Get("/v1/files/" + Str(forever, "id") + "/content").body, "forever");
}

// Blobs that will be small (at most 16 MiB, as the request carrying them says less its form
// envelope) are written through the page cache, so the first download of a file just uploaded
// finds it in memory; a larger one is written with direct I/O, around the cache (only its
// unaligned tail passes through). A file or part of exactly 16 MiB is small: its request,
// envelope and all, is not.
TEST_F(FilesTest, SmallUploadsStayInThePageCacheAndLargeOnesGoAroundIt) {
  const std::filesystem::path probe = server().blob_dir() / "tmp" / "direct-probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_DIRECT | O_CLOEXEC, 0600);
  if (fd < 0) GTEST_SKIP() << "SKIPPED: the blob directory refuses O_DIRECT: nothing to compare";
  ::close(fd);
  std::filesystem::remove(probe);
  auto path_of = [&](const std::string& id) {
    for (const auto& rel : server().BlobFiles()) {
      if (std::filesystem::path(rel).filename() == id) return (server().blob_dir() / rel).string();
    }
    ADD_FAILURE() << "no blob file for " << id;
    return std::string();
  };
  auto pages = [](std::size_t bytes) { return (bytes + 4095) / 4096; };
  const std::string small = RandomBytes((1 << 20) + 7, 51);
  const std::string file_id = Str(MustCreateFile(client(), small), "id");
  EXPECT_EQ(ResidentPages(path_of(file_id)), pages(small.size()));
  const std::string up = MustCreateUpload(client(), static_cast<long long>(small.size()));
  const std::string part_id = MustAddPart(client(), up, small);
  EXPECT_EQ(ResidentPages(path_of(part_id)), pages(small.size()));
  const std::string large = RandomBytes((17 << 20) + 7, 52);
  const std::string large_id = Str(MustCreateFile(client(), large), "id");
  EXPECT_LE(ResidentPages(path_of(large_id)), 1u);
  EXPECT_TRUE(client().Get("/v1/files/" + file_id + "/content").body == small);
  EXPECT_TRUE(client().Get("/v1/files/" + large_id + "/content").body == large);

  const std::string limit = RandomBytes(16 << 20, 53);
  const std::string limit_file = Str(MustCreateFile(client(), limit), "id");
  EXPECT_EQ(ResidentPages(path_of(limit_file)), pages(limit.size()));
  const std::string limit_up = MustCreateUpload(client(), static_cast<long long>(limit.size()));
  const std::string limit_part = MustAddPart(client(), limit_up, limit);
  EXPECT_EQ(ResidentPages(path_of(limit_part)), pages(limit.size()));
  const std::string over = limit + "x";
  const std::string over_up = MustCreateUpload(client(), static_cast<long long>(over.size()));
  const std::string over_part = MustAddPart(client(), over_up, over);
  EXPECT_LE(ResidentPages(path_of(over_part)), 1u);
  EXPECT_TRUE(client().Get("/v1/files/" + limit_file + "/content").body == limit);
}

}  // namespace
}  // namespace fileport::testing

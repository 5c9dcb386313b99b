// Unit tests of the JSON wire mapping (model/wire.h) on inputs found by fuzz/: numbers that
// do not fit an int64, and text that is not UTF-8.
#include "model/wire.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <random>
#include <string>

namespace fileport {
namespace {

// Found by fuzz/json_bodies_fuzzer: converting such a double to int64 was undefined.
TEST(WireTest, NumbersOutsideInt64AreNoValue) {
  for (const char* bytes : {"-1.8446744073709552e20", "1e300", "9223372036854775808.0",
                            "18446744073709551615"}) {
    auto f = FileFromJson(std::string(R"({"id":"file-a","bytes":)") + bytes +
                          R"(,"expires_at":)" + bytes + "}");
    ASSERT_TRUE(f.ok()) << bytes;
    EXPECT_EQ(f->bytes, 0) << bytes;
    EXPECT_EQ(f->expires_at, std::nullopt) << bytes;
  }
  auto f = FileFromJson(R"({"bytes":1.5e3,"created_at":-9.2e18,"expires_at":9223372036854775807})");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->bytes, 1500);
  EXPECT_EQ(f->created_at, -9'200'000'000'000'000'000);
  EXPECT_EQ(f->expires_at, INT64_MAX);
}

bool ParsesAsJson(const std::string& text) {
  boost::json::error_code ec;
  boost::json::parse(text, ec);
  return !ec;
}

// Found by fuzz/api_request_fuzzer: an error quoting a multipart header with Latin-1 bytes
// was not valid JSON (a strict client could not read the error).
TEST(WireTest, ErrorJsonIsUtf8WhenTheMessageQuotesRawBytes) {
  const std::string json =
      ErrorJson("bad filename=\"caf\xe9\xff.txt\"", "invalid_request_error", "na\xc3me", "");
  EXPECT_TRUE(ParsesAsJson(json)) << json;
  auto e = ErrorFromJson(json);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->message, "bad filename=\"caf\xEF\xBF\xBD\xEF\xBF\xBD.txt\"");
  EXPECT_EQ(e->param, "na\xEF\xBF\xBDme");
}

TEST(WireTest, FileJsonIsUtf8WhateverTheFilenameBytes) {
  File f;
  f.id = "file-a";
  f.filename = "r\xc3\xa9sum\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x84 caf\xe9 \xed\xa0\x80 \xc0\xaf.txt";
  const std::string json = ToJson(f);
  EXPECT_TRUE(ParsesAsJson(json)) << json;
  auto back = FileFromJson(json);
  ASSERT_TRUE(back.ok());
  // Valid UTF-8 is kept; a lone Latin-1 byte, a surrogate and an overlong form are not.
  EXPECT_EQ(back->filename,
            "r\xc3\xa9sum\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x84 caf\xEF\xBF\xBD "
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD.txt");
}

// The API objects are written without a DOM; what comes out must be exactly what Boost.JSON's
// serializer writes for the same values: re-serializing the parsed text gives the same bytes,
// and the values read back are the ones written.
TEST(WireTest, WrittenJsonIsBoostJsonsCanonicalText) {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    // Valid UTF-8 text with every control character, quotes and backslashes mixed in; now and
    // then longer than the room the writer sets aside for an object, so that it has to grow.
    std::string name;
    const int len = static_cast<int>(round % 50 == 0 ? 3000 + rng() % 3000 : rng() % 40);
    for (int i = 0; i < len; ++i) {
      switch (rng() % 6) {
        case 0: name += static_cast<char>(rng() % 0x20); break;
        case 1: name += "\"\\/"[rng() % 3]; break;
        case 2: name += "\xc3\xa9\xe2\x82\xac"; break;
        case 3: name += "\xf0\x9f\x93\x84"; break;
        case 4: name += '\x7f'; break;
        default: name += static_cast<char>('a' + rng() % 26);
      }
    }
    File f;
    f.id = "file-" + std::to_string(round);
    f.bytes = static_cast<std::int64_t>(rng()) * (round % 2 ? -1 : 1);
    f.created_at = round;
    if (round % 3) f.expires_at = INT64_MAX - round;
    f.filename = name;
    f.purpose = "assistants";
    f.status = "processed";
    if (round % 5 == 0) f.status_details = name;
    Upload u;
    u.id = "upload_" + name;
    u.filename = name;
    u.status = UploadStatus::kCompleted;
    if (round % 2) u.file = f;
    Page<File> page;
    page.data = {f, f};
    page.has_more = round % 2 == 0;
    for (const std::string& text :
         {ToJson(f), ToJson(u), ToJson(page), ToJson(Page<File>{}),
          ErrorJson(name, "invalid_request_error", round % 2 ? name : "", "")}) {
      boost::json::error_code ec;
      const boost::json::value v = boost::json::parse(text, ec);
      ASSERT_FALSE(ec) << text;
      EXPECT_EQ(boost::json::serialize(v), text);
    }
    auto back = FileFromJson(ToJson(f));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->filename, name);
    EXPECT_EQ(back->bytes, f.bytes);
    EXPECT_EQ(back->expires_at, f.expires_at);
    EXPECT_EQ(back->status_details, f.status_details);
  }
}

TEST(WireTest, ObjectsHaveEveryKeyInTheApisOrder) {
  File f;
  f.id = "file-a";
  f.bytes = 3;
  f.created_at = 1700000000;
  f.filename = "a.txt";
  f.purpose = "assistants";
  f.status = "processed";
  EXPECT_EQ(ToJson(f),
            R"({"id":"file-a","object":"file","bytes":3,"created_at":1700000000,)"
            R"("expires_at":null,"filename":"a.txt","purpose":"assistants","status":"processed",)"
            R"("status_details":null})");
  Page<File> page;
  EXPECT_EQ(ToJson(page),
            R"({"object":"list","data":[],"first_id":null,"last_id":null,"has_more":false})");
  page.data = {f};
  page.has_more = true;
  EXPECT_EQ(ToJson(page), R"({"object":"list","data":[)" + ToJson(f) +
                              R"(],"first_id":"file-a","last_id":"file-a","has_more":true})");
  // The same listing from objects already written, joined as a store reads them.
  FileJsonPage joined;
  EXPECT_EQ(ToJson(joined), ToJson(Page<File>{}));
  File g = f;
  g.id = "file-b";
  g.filename = "b\"\n.txt";
  for (const File* each : {&f, &f, &g}) AppendFileJson(joined, each->id, ToJson(*each));
  joined.has_more = true;
  EXPECT_EQ(joined.first_id, "file-a");
  EXPECT_EQ(joined.last_id, "file-b");
  EXPECT_EQ(ToJson(joined), ToJson(Page<File>{{f, f, g}, true}));
  UploadPart p;
  p.id = "part_a";
  p.created_at = 5;
  p.upload_id = "upload_a";
  p.bytes = 9;
  EXPECT_EQ(ToJson(p),
            R"({"id":"part_a","object":"upload.part","created_at":5,"upload_id":"upload_a"})");
  EXPECT_EQ(ToJson(p, true),
            R"({"id":"part_a","object":"upload.part","created_at":5,"upload_id":"upload_a",)"
            R"("bytes":9})");
  EXPECT_EQ(ToJson(DeletedFile{"file-a", true}), R"({"id":"file-a","object":"file","deleted":true})");
  EXPECT_EQ(ErrorJson("m", "t", "", "c"),
            R"({"error":{"message":"m","type":"t","param":null,"code":"c"}})");
}

}  // namespace
}  // namespace fileport

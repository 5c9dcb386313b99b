// Unit tests of the JSON wire mapping (model/wire.h) on inputs found by fuzz/: numbers that
// do not fit an int64, and text that is not UTF-8.
#include "model/wire.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
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

}  // namespace
}  // namespace fileport

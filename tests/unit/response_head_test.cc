// ResponseHeadBytes writes a response header byte for byte as Beast's serializer does.
#include "http/response_head.h"

#include <gtest/gtest.h>

#include <boost/beast/http.hpp>
#include <sstream>
#include <string>

namespace fileport {
namespace {

namespace http = boost::beast::http;

// What Beast's own serializer writes for the header (operator<< serializes it).
std::string BeastHead(const http::response_header<>& head) {
  std::ostringstream out;
  out << head;
  return out.str();
}

TEST(ResponseHeadBytesTest, IsWhatBeastWritesForADownloadHeader) {
  http::response<http::buffer_body> res(http::status::partial_content, 11);
  res.set("content-type", "application/octet-stream");
  res.set("content-disposition", "attachment; filename=\"a.bin\"; filename*=UTF-8''a.bin");
  res.set("etag", "\"file-abc\"");
  res.set("content-range", "bytes 0-9/100");
  res.set("x-request-id", "req_123");
  res.keep_alive(true);
  res.content_length(10);
  const std::string want =
      "HTTP/1.1 206 Partial Content\r\n"
      "content-type: application/octet-stream\r\n"
      "content-disposition: attachment; filename=\"a.bin\"; filename*=UTF-8''a.bin\r\n"
      "etag: \"file-abc\"\r\n"
      "content-range: bytes 0-9/100\r\n"
      "x-request-id: req_123\r\n"
      "Content-Length: 10\r\n"
      "\r\n";
  EXPECT_EQ(ResponseHeadBytes(res.base()), want);
  EXPECT_EQ(BeastHead(res.base()), want);
}

TEST(ResponseHeadBytesTest, MatchesBeastForEveryVersionStatusAndReason) {
  for (unsigned version : {10u, 11u}) {
    for (unsigned status : {200u, 206u, 304u, 404u, 416u, 500u, 599u, 999u}) {
      for (bool keep_alive : {false, true}) {
        SCOPED_TRACE(std::to_string(version) + " " + std::to_string(status) +
                     (keep_alive ? " keep-alive" : " close"));
        http::response<http::empty_body> res;
        res.version(version);
        res.result(status);
        res.set(http::field::content_type, "text/plain");
        res.set("x-empty", "");
        res.insert("x-twice", "1");
        res.insert("x-twice", "2");
        res.keep_alive(keep_alive);
        EXPECT_EQ(ResponseHeadBytes(res.base()), BeastHead(res.base()));
        res.reason("Custom Reason");
        EXPECT_EQ(ResponseHeadBytes(res.base()), BeastHead(res.base()));
      }
    }
  }
  http::response<http::empty_body> bare;
  EXPECT_EQ(ResponseHeadBytes(bare.base()), "HTTP/1.1 200 OK\r\n\r\n");
}

}  // namespace
}  // namespace fileport

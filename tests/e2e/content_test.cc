// End-to-end: GET and HEAD /v1/files/{id}/content (API.md §3, §4): exact bytes, download
// headers, Range / ETag / If-None-Match / If-Range.
#include <atomic>
#include <boost/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "e2e/test_server.h"

namespace fileport::testing {
namespace {
namespace json = boost::json;

class ContentTest : public E2eTest {
 protected:
  std::string Create(const std::string& data, const std::string& filename = "data.bin",
                     const std::string& content_type = "application/octet-stream") {
    return Str(MustCreateFile(client(), data, filename, "assistants", content_type), "id");
  }
  HttpResponse Content(const std::string& id, const std::vector<std::string>& headers = {}) {
    return client().Get("/v1/files/" + id + "/content", headers);
  }
  // A completed upload of `parts` (in this order).
  std::string CreateFromParts(const std::vector<std::string>& parts,
                              const std::string& mime_type = "text/plain") {
    std::size_t total = 0;
    for (const auto& p : parts) total += p.size();
    const std::string up = MustCreateUpload(client(), static_cast<long long>(total), "parts.txt",
                                            "assistants", mime_type);
    std::vector<std::string> ids;
    for (const auto& p : parts) ids.push_back(MustAddPart(client(), up, p));
    auto r = client().Complete(up, ids);
    EXPECT_EQ(r.status, 200) << Describe(r);
    json::object o = JsonObject(r);
    if (!o.contains("file") || !o.at("file").is_object()) return "";
    return Str(o.at("file").as_object(), "id");
  }
};

void ExpectDownloadHeaders(const HttpResponse& r) {
  EXPECT_EQ(r.Header("x-content-type-options"), "nosniff");
  EXPECT_FALSE(r.Header("etag").empty());
  EXPECT_FALSE(r.Header("x-request-id").empty());
  EXPECT_EQ(r.Header("content-disposition").rfind("attachment; filename=\"", 0), 0u)
      << r.Header("content-disposition");
}

TEST_F(ContentTest, ReturnsTheExactBytesWithDownloadHeaders) {
  const std::string data = RandomBytes(3 * 1024 * 1024 + 17, 11);  // over the 1 MiB io buffer
  const std::string id = Create(data, "data.bin", "application/x-custom");
  auto r = Content(id);
  ASSERT_EQ(r.status, 200) << Describe(r);
  EXPECT_TRUE(r.body == data) << "body differs: " << r.body.size() << " bytes";
  EXPECT_EQ(r.Header("content-length"), std::to_string(data.size()));
  EXPECT_EQ(r.Header("content-type"), "application/x-custom");
  EXPECT_EQ(r.Header("content-disposition"),
            "attachment; filename=\"data.bin\"; filename*=UTF-8''data.bin");
  ExpectDownloadHeaders(r);
  // Clients that ask for application/binary (the SDKs) get the same.
  auto again = Content(id, {"Accept: application/binary"});
  EXPECT_EQ(again.status, 200);
  EXPECT_TRUE(again.body == data);
}

TEST_F(ContentTest, ContentTypeIsTheUploadedPartsType) {
  auto text = Content(Create("hi", "a.txt", "text/plain"));
  EXPECT_EQ(text.Header("content-type"), "text/plain");
  auto charset = Content(Create("hi", "a.txt", "text/plain; charset=utf-8"));
  EXPECT_EQ(charset.Header("content-type"), "text/plain; charset=utf-8");
  // Junk is not echoed as a MIME type.
  auto junk = Content(Create("hi", "a.txt", "txt"));
  EXPECT_EQ(junk.status, 200);
  EXPECT_EQ(junk.Header("content-type"), "application/octet-stream");
}

TEST_F(ContentTest, UploadWithJunkMimeTypeDownloadsAsOctetStream) {
  const std::string id = CreateFromParts({"hello"}, "txt");
  ASSERT_FALSE(id.empty());
  auto r = Content(id);
  ASSERT_EQ(r.status, 200) << Describe(r);
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.Header("content-type"), "application/octet-stream");
  const std::string pdf = CreateFromParts({"%PDF"}, "application/pdf");
  EXPECT_EQ(Content(pdf).Header("content-type"), "application/pdf");
}

TEST_F(ContentTest, ContentDispositionEscapesNonAsciiNames) {
  const std::string id = Create("x", "r\xC3\xA9sum\xC3\xA9 2024.pdf");
  auto r = Content(id);
  ASSERT_EQ(r.status, 200) << Describe(r);
  const std::string cd = r.Header("content-disposition");
  const std::string suffix = "\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202024.pdf";
  ASSERT_GT(cd.size(), suffix.size());
  EXPECT_EQ(cd.substr(cd.size() - suffix.size()), suffix) << cd;
  const std::string prefix = "attachment; filename=\"";
  ASSERT_EQ(cd.rfind(prefix, 0), 0u) << cd;
  // The plain fallback is printable ASCII without quotes or backslashes.
  const std::string fallback = cd.substr(prefix.size(), cd.size() - prefix.size() - suffix.size());
  EXPECT_FALSE(fallback.empty());
  for (unsigned char c : fallback) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f && c != '"' && c != '\\') << "in fallback: " << cd;
  }
}

TEST_F(ContentTest, ContentDispositionEscapesQuotes) {
  const std::string id = Create("x", "say%22hi%22.txt");  // the name is: say"hi".txt
  auto r = Content(id);
  ASSERT_EQ(r.status, 200) << Describe(r);
  const std::string cd = r.Header("content-disposition");
  const std::string suffix = "\"; filename*=UTF-8''say%22hi%22.txt";
  ASSERT_GT(cd.size(), suffix.size());
  EXPECT_EQ(cd.substr(cd.size() - suffix.size()), suffix) << cd;
  const std::string prefix = "attachment; filename=\"";
  ASSERT_EQ(cd.rfind(prefix, 0), 0u) << cd;
  const std::string fallback = cd.substr(prefix.size(), cd.size() - prefix.size() - suffix.size());
  EXPECT_EQ(fallback.find('"'), std::string::npos) << cd;
  EXPECT_EQ(fallback.size(), std::string("say\"hi\".txt").size()) << cd;
}

TEST_F(ContentTest, CrLfInAFilenameCannotSplitTheHeader) {
  const std::string id = Create("x", "a%0D%0AX-Evil: 1.txt");
  auto meta = client().Get("/v1/files/" + id);
  EXPECT_EQ(Str(JsonObject(meta), "filename"), "a\r\nX-Evil: 1.txt");
  auto r = Content(id);
  ASSERT_EQ(r.status, 200) << Describe(r);
  EXPECT_EQ(r.Header("x-evil"), "");
  const std::string cd = r.Header("content-disposition");
  EXPECT_EQ(cd.find('\r'), std::string::npos);
  EXPECT_EQ(cd.find('\n'), std::string::npos);
  const std::string suffix = "\"; filename*=UTF-8''a%0D%0AX-Evil%3A%201.txt";
  ASSERT_GT(cd.size(), suffix.size());
  EXPECT_EQ(cd.substr(cd.size() - suffix.size()), suffix) << cd;
  EXPECT_EQ(r.body, "x");
}

TEST_F(ContentTest, EmptyFileHasAnEmptyBody) {
  const std::string id = Create("", "empty.txt");
  auto r = Content(id);
  ASSERT_EQ(r.status, 200) << Describe(r);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.Header("content-length"), "0");
  ExpectDownloadHeaders(r);
}

TEST_F(ContentTest, RangeRequests) {
  const std::string id = Create("0123456789");
  struct Case {
    std::string range, body, content_range;
  };
  for (const Case& c : std::vector<Case>{{"bytes=0-0", "0", "bytes 0-0/10"},
                                         {"bytes=5-", "56789", "bytes 5-9/10"},
                                         {"bytes=-3", "789", "bytes 7-9/10"},
                                         {"bytes=2-4", "234", "bytes 2-4/10"},
                                         {"bytes=8-100", "89", "bytes 8-9/10"},
                                         {"bytes=-100", "0123456789", "bytes 0-9/10"}}) {
    SCOPED_TRACE(c.range);
    auto r = Content(id, {"Range: " + c.range});
    EXPECT_EQ(r.status, 206) << Describe(r);
    EXPECT_EQ(r.body, c.body);
    EXPECT_EQ(r.Header("content-range"), c.content_range);
    EXPECT_EQ(r.Header("content-length"), std::to_string(c.body.size()));
    ExpectDownloadHeaders(r);
  }
}

TEST_F(ContentTest, RangeBeyondTheEndIs416) {
  const std::string id = Create("0123456789");
  for (std::string range : {"bytes=10-", "bytes=10-20", "bytes=100-200"}) {
    SCOPED_TRACE(range);
    auto r = Content(id, {"Range: " + range});
    EXPECT_EQ(r.status, 416) << Describe(r);
    EXPECT_EQ(r.Header("content-range"), "bytes */10");
    ExpectErrorWhere(r, 416, [](const std::string& m) { return !m.empty(); });
  }
}

TEST_F(ContentTest, MultipleRangesAndJunkRangesServeTheWholeFile) {
  const std::string id = Create("0123456789");
  for (std::string range : {"bytes=0-1,3-4", "bytes=0-0, -1", "items=0-1", "bytes=5-2"}) {
    SCOPED_TRACE(range);
    auto r = Content(id, {"Range: " + range});
    EXPECT_EQ(r.status, 200) << Describe(r);
    EXPECT_EQ(r.body, "0123456789");
    EXPECT_EQ(r.Header("content-range"), "");
  }
}

TEST_F(ContentTest, IfNoneMatchWithTheETagIs304) {
  const std::string id = Create("0123456789");
  const std::string etag = Content(id).Header("etag");
  ASSERT_FALSE(etag.empty());
  auto r = Content(id, {"If-None-Match: " + etag});
  EXPECT_EQ(r.status, 304) << Describe(r);
  EXPECT_EQ(r.body, "");
  EXPECT_FALSE(r.Header("x-request-id").empty());
  auto other = Content(id, {"If-None-Match: \"something-else\""});
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(other.body, "0123456789");
  // Another file has another ETag.
  EXPECT_NE(Content(Create("0123456789")).Header("etag"), etag);
}

TEST_F(ContentTest, IfRangeMismatchServesTheWholeFile) {
  const std::string id = Create("0123456789");
  const std::string etag = Content(id).Header("etag");
  auto miss = Content(id, {"Range: bytes=0-3", "If-Range: \"stale\""});
  EXPECT_EQ(miss.status, 200) << Describe(miss);
  EXPECT_EQ(miss.body, "0123456789");
  auto hit = Content(id, {"Range: bytes=0-3", "If-Range: " + etag});
  EXPECT_EQ(hit.status, 206) << Describe(hit);
  EXPECT_EQ(hit.body, "0123");
}

TEST_F(ContentTest, HeadSendsTheHeadersAndNoBody) {
  const std::string id = Create("0123456789", "h.txt", "text/plain");
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.connected());
  ASSERT_TRUE(conn.Send("HEAD /v1/files/" + id +
                        "/content HTTP/1.1\r\nHost: x\r\n\r\n"
                        "HEAD /v1/files/" +
                        id +
                        "/content HTTP/1.1\r\nHost: x\r\nRange: bytes=2-4\r\n\r\n"
                        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto head = conn.ReadResponse(/*head=*/true);
  ASSERT_EQ(head.status, 200) << Describe(head);
  EXPECT_EQ(head.Header("content-length"), "10");
  EXPECT_EQ(head.Header("content-type"), "text/plain");
  EXPECT_EQ(head.Header("content-disposition"),
            "attachment; filename=\"h.txt\"; filename*=UTF-8''h.txt");
  ExpectDownloadHeaders(head);
  auto ranged = conn.ReadResponse(/*head=*/true);
  EXPECT_EQ(ranged.status, 206) << Describe(ranged);
  EXPECT_EQ(ranged.Header("content-length"), "3");
  EXPECT_EQ(ranged.Header("content-range"), "bytes 2-4/10");
  // Nothing was sent after the HEAD headers: the next answer follows at once.
  auto next = conn.ReadResponse();
  EXPECT_EQ(next.status, 200) << Describe(next);
  EXPECT_EQ(json::parse(next.body), json::parse(R"({"status":"ok"})"));

  // And through curl.
  auto r = client().Request("HEAD", "/v1/files/" + id + "/content");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.Header("content-length"), "10");
}

TEST_F(ContentTest, UploadContentIsThePartsInOrderAndRangesSpanPartBoundaries) {
  const std::string id = CreateFromParts({"abc", "defgh", "ij"});
  ASSERT_FALSE(id.empty());
  auto whole = Content(id);
  ASSERT_EQ(whole.status, 200) << Describe(whole);
  EXPECT_EQ(whole.body, "abcdefghij");
  EXPECT_EQ(whole.Header("content-length"), "10");
  EXPECT_EQ(whole.Header("content-type"), "text/plain");
  EXPECT_EQ(whole.Header("content-disposition"),
            "attachment; filename=\"parts.txt\"; filename*=UTF-8''parts.txt");
  struct Case {
    std::string range, body;
  };
  // Each part alone, ranges that start or end at a part's edge, open and suffix ranges, and
  // ranges past the end: a range is read with the keys of the parts it touches alone.
  for (const Case& c : std::vector<Case>{{"bytes=2-6", "cdefg"},
                                         {"bytes=1-9", "bcdefghij"},
                                         {"bytes=0-2", "abc"},
                                         {"bytes=3-7", "defgh"},
                                         {"bytes=8-9", "ij"},
                                         {"bytes=2-3", "cd"},
                                         {"bytes=7-8", "hi"},
                                         {"bytes=3-3", "d"},
                                         {"bytes=-4", "ghij"},
                                         {"bytes=-2", "ij"},
                                         {"bytes=-100", "abcdefghij"},
                                         {"bytes=2-2", "c"},
                                         {"bytes=8-", "ij"},
                                         {"bytes=0-", "abcdefghij"},
                                         {"bytes=5-100", "fghij"}}) {
    SCOPED_TRACE(c.range);
    auto r = Content(id, {"Range: " + c.range});
    EXPECT_EQ(r.status, 206) << Describe(r);
    EXPECT_EQ(r.body, c.body);
  }
  // A range the server ignores, or one an If-Range no longer matches, is the whole file.
  for (const std::vector<std::string>& headers :
       std::vector<std::vector<std::string>>{{"Range: bytes=8-9", "If-Range: \"stale\""},
                                             {"Range: bytes=0-1,8-9"},
                                             {"Range: bytes=9-3"}}) {
    SCOPED_TRACE(headers[0]);
    auto r = Content(id, headers);
    EXPECT_EQ(r.status, 200) << Describe(r);
    EXPECT_EQ(r.body, "abcdefghij");
  }
  auto hit = Content(id, {"Range: bytes=8-9", "If-Range: " + whole.Header("etag")});
  EXPECT_EQ(hit.status, 206) << Describe(hit);
  EXPECT_EQ(hit.body, "ij");
  auto past = Content(id, {"Range: bytes=10-"});
  EXPECT_EQ(past.status, 416) << Describe(past);
  EXPECT_EQ(past.Header("content-range"), "bytes */10");
}

TEST_F(ContentTest, LargeMultiPartUploadDownloadsWholeAndInRanges) {
  // Parts larger than the server's 1 MiB io buffer, so reads cross buffers and parts.
  std::vector<std::string> parts{RandomBytes(1500000, 1), RandomBytes(700000, 2),
                                 RandomBytes(2100000, 3)};
  const std::string all = parts[0] + parts[1] + parts[2];
  const std::string id = CreateFromParts(parts, "application/octet-stream");
  ASSERT_FALSE(id.empty());
  auto r = Content(id);
  ASSERT_EQ(r.status, 200) << Describe(r);
  EXPECT_TRUE(r.body == all) << r.body.size();
  auto mid = Content(id, {"Range: bytes=1400000-2300000"});
  EXPECT_EQ(mid.status, 206);
  EXPECT_TRUE(mid.body == all.substr(1400000, 900001)) << mid.body.size();
}

TEST_F(ContentTest, DownloadsRacingADeleteAreWholeOr404) {
  const std::string data = RandomBytes(2 * 1024 * 1024 + 1, 31);
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    const std::string id = Create(data);
    std::atomic<bool> deleted{false};
    std::atomic<int> whole{0}, gone{0}, bad{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 4; ++t) {
      readers.emplace_back([&] {
        HttpClient c = server().Client();
        // Keep downloading until a 404 is seen after the delete.
        for (int i = 0; i < 200; ++i) {
          auto r = c.Get("/v1/files/" + id + "/content");
          if (r.status == 200 && r.body == data) {
            ++whole;
          } else if (r.status == 404 && r.ErrorMessage() == "No such File object: " + id) {
            ++gone;
            if (deleted.load()) return;
          } else {
            ++bad;
            ADD_FAILURE() << "neither whole nor 404: " << r.status << " " << r.body.size()
                          << " bytes " << r.transport_error;
            return;
          }
        }
      });
    }
    auto d = client().Request("DELETE", "/v1/files/" + id);
    EXPECT_EQ(d.status, 200) << Describe(d);
    deleted = true;
    server().sweeper().RunOnce();  // the bytes go while downloads may still be running
    for (auto& t : readers) t.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_GT(gone.load(), 0);
  }
  server().sweeper().RunOnce();
  EXPECT_TRUE(server().BlobFiles().empty());
}

}  // namespace
}  // namespace fileport::testing

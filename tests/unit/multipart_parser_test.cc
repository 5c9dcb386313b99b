// Unit tests of the streaming multipart/form-data parser: framing, chunking at every byte,
// part headers and filename decoding, limits, truncation, handler errors, client shapes
// (undici, curl, httpx) and a 64 MiB streaming run.
#include "http/multipart_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fileport {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using namespace std::string_literals;  // "…"s keeps embedded NULs

struct RecordedPart {
  std::string name;
  std::optional<std::string> filename;
  std::string content_type;
  std::string data;
  bool ended = false;

  bool operator==(const RecordedPart&) const = default;
};

// Records every callback and checks their order; can fail the N-th callback.
class Recorder : public MultipartHandler {
 public:
  Status OnPartBegin(const MultipartPartHeaders& headers) override {
    RETURN_IF_ERROR(Tick());
    EXPECT_TRUE(parts.empty() || parts.back().ended) << "OnPartBegin inside an open part";
    parts.push_back({headers.name, headers.filename, headers.content_type, "", false});
    return Status::Ok();
  }
  Status OnPartData(std::span<const char> data) override {
    RETURN_IF_ERROR(Tick());
    EXPECT_FALSE(data.empty()) << "OnPartData with an empty span";
    EXPECT_TRUE(!parts.empty() && !parts.back().ended) << "OnPartData outside a part";
    if (parts.empty()) return Status::Ok();
    parts.back().data.append(data.data(), data.size());
    spans.push_back(data);
    max_span = std::max(max_span, data.size());
    return Status::Ok();
  }
  Status OnPartEnd() override {
    RETURN_IF_ERROR(Tick());
    EXPECT_TRUE(!parts.empty() && !parts.back().ended) << "OnPartEnd outside a part";
    if (!parts.empty()) parts.back().ended = true;
    return Status::Ok();
  }

  std::vector<RecordedPart> parts;
  std::vector<std::span<const char>> spans;  // only valid while the fed buffer lives
  std::size_t max_span = 0;
  int calls = 0;
  int fail_at = -1;  // 0-based index of the callback that fails
  Status fail_status;

 private:
  Status Tick() {
    int index = calls++;
    EXPECT_TRUE(fail_at < 0 || index <= fail_at) << "callback after the handler failed";
    if (index == fail_at) return fail_status;
    return Status::Ok();
  }
};

struct Outcome {
  Status status;  // the first error of Feed…Finish, or OK
  std::vector<RecordedPart> parts;
  std::size_t parts_seen = 0;

  // A readable summary, so two outcomes can be compared with a useful diff.
  std::string Describe() const {
    std::string s = status.ToString() + "\n";
    for (const RecordedPart& p : parts) {
      s += "part name=[" + p.name +
           "] filename=" + (p.filename ? "[" + *p.filename + "]" : "none") + " type=[" +
           p.content_type + "] ended=" + (p.ended ? "yes" : "no") + " data(" +
           std::to_string(p.data.size()) + ")=[" + p.data + "]\n";
    }
    return s + "parts_seen=" + std::to_string(parts_seen);
  }
};

// Feeds `chunks` in order, then Finish; stops at the first error.
Outcome ParseChunks(const std::string& boundary, const std::vector<std::string_view>& chunks,
                    MultipartLimits limits = {}) {
  Recorder recorder;
  MultipartParser parser(boundary, recorder, limits);
  Outcome out;
  for (std::string_view chunk : chunks) {
    out.status = parser.Feed(std::span<const char>(chunk.data(), chunk.size()));
    if (!out.status.ok()) break;
  }
  if (out.status.ok()) out.status = parser.Finish();
  out.parts = recorder.parts;
  out.parts_seen = parser.parts_seen();
  return out;
}

Outcome Parse(const std::string& boundary, std::string_view body, MultipartLimits limits = {}) {
  return ParseChunks(boundary, {body}, limits);
}

Outcome ParseBytewise(const std::string& boundary, std::string_view body) {
  std::vector<std::string_view> chunks;
  for (std::size_t i = 0; i < body.size(); ++i) chunks.push_back(body.substr(i, 1));
  return ParseChunks(boundary, chunks);
}

// Splits `body` in two at every offset, and feeds it one byte at a time: every way must give
// exactly the outcome of feeding it whole.
void ExpectSameAtEverySplit(const std::string& boundary, std::string_view body) {
  const Outcome whole = Parse(boundary, body);
  for (std::size_t cut = 0; cut <= body.size(); ++cut) {
    Outcome split = ParseChunks(boundary, {body.substr(0, cut), body.substr(cut)});
    ASSERT_EQ(split.Describe(), whole.Describe()) << "split at offset " << cut;
  }
  ASSERT_EQ(ParseBytewise(boundary, body).Describe(), whole.Describe()) << "1 byte at a time";
}

std::string Field(const std::string& boundary, std::string_view name, std::string_view value) {
  return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + std::string(name) +
         "\"\r\n\r\n" + std::string(value) + "\r\n";
}

std::string FilePart(const std::string& boundary, std::string_view name, std::string_view filename,
                     std::string_view type, std::string_view data) {
  return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + std::string(name) +
         "\"; filename=\"" + std::string(filename) + "\"\r\nContent-Type: " + std::string(type) +
         "\r\n\r\n" + std::string(data) + "\r\n";
}

std::string Close(const std::string& boundary) { return "--" + boundary + "--\r\n"; }

// A body with one part whose Content-Disposition parameters are `disposition_params`.
std::string OnePart(const std::string& boundary, std::string_view disposition_params,
                    std::string_view data = "x") {
  return "--" + boundary + "\r\nContent-Disposition: form-data; " +
         std::string(disposition_params) + "\r\n\r\n" + std::string(data) + "\r\n" +
         Close(boundary);
}

const std::string kB = "bnd";

// Runs `body` with each copy of the delimiter search: the one this CPU gets (AVX2 on most
// x86-64 machines) and the portable one, so that both are tested wherever the tests run.
template <class F>
void WithEachSearch(F body) {
  for (bool portable : {false, true}) {
    SCOPED_TRACE(portable ? "portable delimiter search" : "this CPU's delimiter search");
    SetPortableDelimiterSearch(portable);
    body();
    SetPortableDelimiterSearch(false);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

void ExpectParseError(const Status& status, std::string_view message_part) {
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.ToString();
  EXPECT_EQ(status.param(), "");
  EXPECT_THAT(status.message(), StartsWith("Could not parse multipart form: "));
  EXPECT_THAT(status.message(), HasSubstr(std::string(message_part)));
}

// ---------------------------------------------------------------------------------------------
// Framing

TEST(MultipartParserTest, SingleField) {
  Outcome out = Parse(kB, Field(kB, "purpose", "fine-tune") + Close(kB));
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  ASSERT_EQ(out.parts.size(), 1u);
  EXPECT_EQ(out.parts[0], (RecordedPart{"purpose", std::nullopt, "", "fine-tune", true}));
  EXPECT_EQ(out.parts_seen, 1u);
}

TEST(MultipartParserTest, TextFieldsThenFile) {  // Python SDK order
  std::string body = Field(kB, "purpose", "batch") + Field(kB, "expires_after[seconds]", "3600") +
                     FilePart(kB, "file", "in.jsonl", "application/jsonl", "{\"a\":1}\n") +
                     Close(kB);
  Outcome out = Parse(kB, body);
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  ASSERT_EQ(out.parts.size(), 3u);
  EXPECT_EQ(out.parts[0], (RecordedPart{"purpose", std::nullopt, "", "batch", true}));
  EXPECT_EQ(out.parts[1], (RecordedPart{"expires_after[seconds]", std::nullopt, "", "3600", true}));
  EXPECT_EQ(out.parts[2],
            (RecordedPart{"file", "in.jsonl", "application/jsonl", "{\"a\":1}\n", true}));
}

TEST(MultipartParserTest, FileThenTextFields) {  // Node usually sends the file first
  std::string body = FilePart(kB, "file", "a.bin", "application/octet-stream", "\x01\x02") +
                     Field(kB, "purpose", "assistants") + Close(kB);
  Outcome out = Parse(kB, body);
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  ASSERT_EQ(out.parts.size(), 2u);
  EXPECT_EQ(out.parts[0],
            (RecordedPart{"file", "a.bin", "application/octet-stream", "\x01\x02", true}));
  EXPECT_EQ(out.parts[1], (RecordedPart{"purpose", std::nullopt, "", "assistants", true}));
}

// The transport places a part's bytes for direct I/O by its body offset: each part's offset
// must be that of its first data byte, however the body is cut into chunks.
TEST(MultipartParserTest, PartOffsetIsTheBodyOffsetOfThePartsFirstDataByte) {
  const std::string first = Field(kB, "purpose", "batch");
  const std::string second = FilePart(kB, "file", "a.bin", "application/octet-stream", "DATA");
  const std::string body = "preamble\r\n" + first + second + Close(kB);
  const std::size_t want[] = {body.find("batch"), body.find("DATA")};
  ASSERT_NE(want[0], std::string::npos);
  for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{64}, body.size()}) {
    SCOPED_TRACE("chunks of " + std::to_string(chunk));
    struct OffsetRecorder : Recorder {
      MultipartParser* parser = nullptr;
      std::vector<std::uint64_t> offsets;
      Status OnPartBegin(const MultipartPartHeaders& h) override {
        offsets.push_back(parser->part_offset());
        return Recorder::OnPartBegin(h);
      }
    } recorder;
    MultipartParser parser(kB, recorder);
    recorder.parser = &parser;
    for (std::size_t at = 0; at < body.size(); at += chunk) {
      const std::size_t n = std::min(chunk, body.size() - at);
      ASSERT_TRUE(parser.Feed(std::span<const char>(body.data() + at, n)).ok());
    }
    ASSERT_TRUE(parser.Finish().ok());
    ASSERT_EQ(recorder.offsets.size(), 2u);
    EXPECT_EQ(recorder.offsets[0], want[0]);
    EXPECT_EQ(recorder.offsets[1], want[1]);
    EXPECT_EQ(recorder.parts[1].data, "DATA");
  }
}

// The bound a sink gives its blob writer as a size hint (BlobWriter::HintSize): exactly the
// data's size when the file is the last part of a body ended as clients end it, more when
// fields follow it, never less.
TEST(MultipartParserTest, PartBytesAtMostBoundsTheDataByTheBodysLength) {
  const std::string data(1000, 'd');
  struct BoundRecorder : Recorder {
    MultipartParser* parser = nullptr;
    std::uint64_t body_bytes = 0;
    std::vector<std::uint64_t> bounds;
    Status OnPartBegin(const MultipartPartHeaders& h) override {
      bounds.push_back(parser->PartBytesAtMost(body_bytes));
      return Recorder::OnPartBegin(h);
    }
  };
  auto bounds_of = [&](const std::string& body) {
    BoundRecorder recorder;
    MultipartParser parser(kB, recorder);
    recorder.parser = &parser;
    recorder.body_bytes = body.size();
    EXPECT_TRUE(parser.Feed(std::span<const char>(body.data(), body.size())).ok());
    EXPECT_TRUE(parser.Finish().ok());
    return recorder.bounds;
  };
  const std::string file = FilePart(kB, "file", "a.bin", "application/octet-stream", data);
  const std::string field = Field(kB, "purpose", "assistants");
  const auto file_last = bounds_of(field + file + Close(kB));
  ASSERT_EQ(file_last.size(), 2u);
  EXPECT_EQ(file_last[1], data.size());
  const auto file_first = bounds_of(file + field + Close(kB));
  ASSERT_EQ(file_first.size(), 2u);
  EXPECT_GT(file_first[0], data.size());
  EXPECT_EQ(file_first[1], std::string("assistants").size());
}

TEST(MultipartParserTest, EmptyPartData) {
  Outcome out =
      Parse(kB, Field(kB, "a", "") + FilePart(kB, "file", "e", "text/plain", "") + Close(kB));
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  ASSERT_EQ(out.parts.size(), 2u);
  EXPECT_EQ(out.parts[0], (RecordedPart{"a", std::nullopt, "", "", true}));
  EXPECT_EQ(out.parts[1], (RecordedPart{"file", "e", "text/plain", "", true}));
}

TEST(MultipartParserTest, EmptyFormIsAcceptedWithZeroParts) {  // undici, empty FormData
  Outcome out = Parse(kB, Close(kB));
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  EXPECT_TRUE(out.parts.empty());
  EXPECT_EQ(out.parts_seen, 0u);
}

TEST(MultipartParserTest, CrlfAtTheEndOfPartDataIsPreserved) {
  // The delimiter is CRLF--boundary; any CRLF before that CRLF is data.
  Outcome out = Parse(kB, Field(kB, "a", "line1\r\nline2\r\n") + Field(kB, "b", "\r\n") +
                              Field(kB, "c", "\r\n\r\n\r") + Close(kB));
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  ASSERT_EQ(out.parts.size(), 3u);
  EXPECT_EQ(out.parts[0].data, "line1\r\nline2\r\n");
  EXPECT_EQ(out.parts[1].data, "\r\n");
  EXPECT_EQ(out.parts[2].data, "\r\n\r\n\r");
}

TEST(MultipartParserTest, BoundaryLookalikesInsideDataAreData) {
  const std::string b = "boundary";
  const std::vector<std::string> lookalikes = {
      "\r\n--bound",          // a prefix of the delimiter, then other bytes
      "--boundary",           // the boundary not preceded by CRLF
      "x--boundary--",        // a close delimiter not preceded by CRLF
      "\n--boundary\r\n",     // LF only
      "\r--boundary\r\n",     // CR only
      "\r\n-boundary\r\n",    // one dash
      "\r\n--boundar",        // cut one byte short, at the very end of the data
      "\r\r\n\r\n-",          // CRs that restart the match
      "\r\n--boundaryX\r\n",  // longer "boundary": not a delimiter (lenient, as Go)
      "\r\n--boundary-X",     // "-" then not "-": not a close delimiter
      "\r\n--BOUNDARY\r\n",   // boundaries are case-sensitive
      "\r\n--boundxry\r\n",   // first and last bytes right, middle wrong
      "\r\r\n--boundaryy",    // CR, then a delimiter shifted by one byte
  };
  for (const std::string& data : lookalikes) {
    SCOPED_TRACE(::testing::PrintToString(data));
    std::string body = Field(b, "f", data) + Field(b, "g", "after") + Close(b);
    Outcome out = Parse(b, body);
    ASSERT_TRUE(out.status.ok()) << out.status.ToString();
    ASSERT_EQ(out.parts.size(), 2u);
    EXPECT_EQ(out.parts[0].data, data);
    EXPECT_EQ(out.parts[1].data, "after");
    ExpectSameAtEverySplit(b, body);
  }
}

TEST(MultipartParserTest, PreambleAndEpilogueAreIgnored) {
  std::string body = "This is a preamble.\r\nIt has --bnd inside and \r\n--bndX too.\r\n" +
                     Field(kB, "a", "1") + Close(kB) +
                     "epilogue\r\n--bnd\r\nContent-Disposition: form-data; name=\"z\"\r\n\r\n";
  Outcome out = Parse(kB, body);
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  ASSERT_EQ(out.parts.size(), 1u);
  EXPECT_EQ(out.parts[0], (RecordedPart{"a", std::nullopt, "", "1", true}));
  ExpectSameAtEverySplit(kB, body);
}

TEST(MultipartParserTest, FirstBoundaryWithOrWithoutPrecedingCrlf) {
  for (std::string prefix : {"", "\r\n", "junk\r\n", "\r\n\r\n"}) {
    SCOPED_TRACE(::testing::PrintToString(prefix));
    Outcome out = Parse(kB, prefix + Field(kB, "a", "1") + Close(kB));
    ASSERT_TRUE(out.status.ok()) << out.status.ToString();
    ASSERT_EQ(out.parts.size(), 1u);
    EXPECT_EQ(out.parts[0].data, "1");
  }
}

TEST(MultipartParserTest, PreambleMustEndWithCrlfBeforeTheFirstBoundary) {
  // "junk--bnd" is not a delimiter line, so the body has no boundary at all.
  Outcome out = Parse(kB, "junk" + Field(kB, "a", "1"));
  ExpectParseError(out.status, "missing closing boundary");
  EXPECT_TRUE(out.parts.empty());
}

TEST(MultipartParserTest, TransportPaddingAfterBoundary) {
  std::string body =
      "--bnd \t \r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n"
      "--bnd\t\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n2\r\n"
      "--bnd--  trailing";
  Outcome out = Parse(kB, body);
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  ASSERT_EQ(out.parts.size(), 2u);
  EXPECT_EQ(out.parts[0].data, "1");
  EXPECT_EQ(out.parts[1].data, "2");
  ExpectSameAtEverySplit(kB, body);
}

TEST(MultipartParserTest, JunkAfterBoundaryPaddingIsAnError) {
  ExpectParseError(Parse(kB, "--bnd  x\r\n").status, "unexpected characters after a boundary");
  ExpectParseError(Parse(kB, "--bnd\rx").status, "boundary line not terminated by CRLF");
  ExpectParseError(Parse(kB, "--bnd \n").status, "unexpected characters after a boundary");
}

TEST(MultipartParserTest, ClosingBoundaryWithoutTrailingCrlf) {
  Outcome out = Parse(kB, Field(kB, "a", "1") + "--bnd--");
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  ASSERT_EQ(out.parts.size(), 1u);
  EXPECT_TRUE(out.parts[0].ended);
}

TEST(MultipartParserTest, AllByteValuesSurvive) {
  WithEachSearch([&] {
    std::string data;
    for (int round = 0; round < 3; ++round) {
      for (int c = 0; c < 256; ++c) data.push_back(static_cast<char>(c));
      data += "\r\n--bn\r\n-\r\n--bnd-\r";  // near-delimiters between the rounds
    }
    std::string body = FilePart(kB, "file", "all.bin", "application/octet-stream", data) +
                       Field(kB, "purpose", "user_data") + Close(kB);
    Outcome out = Parse(kB, body);
    ASSERT_TRUE(out.status.ok()) << out.status.ToString();
    ASSERT_EQ(out.parts.size(), 2u);
    EXPECT_EQ(out.parts[0].data, data);
    EXPECT_EQ(out.parts[1].data, "user_data");
    ExpectSameAtEverySplit(kB, body);
  });
}

TEST(MultipartParserTest, SameOutputAtEverySplitAndByteByByte) {
  const std::string b = "----formdata-undici-0123456789";
  std::string body =
      "preamble\r\n" + FilePart(b, "file", "q%22.txt", "text/plain", "a\r\nb\r\r\n") +
      Field(b, "purpose", "fine-tune") + Field(b, "empty", "") + "--" + b +
      " \r\ncontent-disposition: form-data; name=x\r\n\r\n\r\n--" + b + "--\r\nepilogue";
  ExpectSameAtEverySplit(b, body);
  Outcome out = Parse(b, body);
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  ASSERT_EQ(out.parts.size(), 4u);
  EXPECT_EQ(out.parts[0], (RecordedPart{"file", "q\".txt", "text/plain", "a\r\nb\r\r\n", true}));
  EXPECT_EQ(out.parts[3], (RecordedPart{"x", std::nullopt, "", "", true}));
}

TEST(MultipartParserTest, ErrorsAreTheSameAtEverySplit) {
  for (std::string body : {
           "--bnd\r\nContent-Disposition: form-data; name=\"a\"\r\n folded\r\n\r\nx\r\n--bnd--",
           "--bnd\r\nContent-Type: text/plain\r\n\r\nx\r\n--bnd--",
           "--bnd\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--bnd  junk",
           "--bnd\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--bnd-",
       }) {
    SCOPED_TRACE(::testing::PrintToString(body));
    ExpectSameAtEverySplit(kB, body);
    EXPECT_FALSE(Parse(kB, body).status.ok());
  }
}

TEST(MultipartParserTest, RandomChunkingGivesTheSameOutput) {
  WithEachSearch([&] {
    std::string data;
    std::uint32_t x = 12345;
    for (int i = 0; i < 20000; ++i) {
      x = x * 1664525u + 1013904223u;
      // Mostly CR, LF, '-' and boundary letters, to make near-matches frequent.
      static constexpr char kAlphabet[] = "\r\n-bnd\r\n--bndx";
      data.push_back(kAlphabet[(x >> 16) % (sizeof(kAlphabet) - 1)]);
    }
    // Make sure the data itself holds no real delimiter.
    for (std::size_t at; (at = data.find("\r\n--bnd")) != std::string::npos;) data[at + 3] = '+';
    std::string body = FilePart(kB, "file", "f", "application/octet-stream", data) +
                       Field(kB, "b", data.substr(0, 999)) + Close(kB);
    const Outcome whole = Parse(kB, body);
    ASSERT_TRUE(whole.status.ok()) << whole.status.ToString();
    ASSERT_EQ(whole.parts.size(), 2u);
    ASSERT_EQ(whole.parts[0].data, data);
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<std::string_view> chunks;
      for (std::size_t pos = 0; pos < body.size();) {
        x = x * 1664525u + 1013904223u;
        std::size_t len = std::min<std::size_t>(body.size() - pos, 1 + (x >> 16) % 17);
        chunks.push_back(std::string_view(body).substr(pos, len));
        pos += len;
      }
      ASSERT_EQ(ParseChunks(kB, chunks).Describe(), whole.Describe()) << "trial " << trial;
    }
  });
}

TEST(MultipartParserTest, DelimiterFoundAtEveryOffsetOfTheSearchBlocks) {
  WithEachSearch([&] {
    // The search tests 128 bytes at a time, then the rest of a chunk byte by byte: a delimiter
    // (and a near miss just before it) at each offset across several blocks, in one chunk.
    const std::string b = "----------------------------XyZ0123456789";
    std::uint32_t x = 99;
    std::string noise;
    for (int i = 0; i < 700; ++i) {
      x = x * 1664525u + 1013904223u;
      noise.push_back(static_cast<char>(x >> 24));
    }
    std::string near = "\r\n--" + b;  // passes the first and last byte test, is no delimiter
    near[10] = '+';
    for (std::size_t n = 0; n < noise.size(); ++n) {
      std::string data = noise.substr(0, n);
      if (n >= 200) data.replace(n - 200, near.size(), near);  // in an earlier block
      // A second part after it, so that the delimiter is found by the block test, not by the
      // search of a chunk's last bytes.
      std::string body = FilePart(b, "file", "f", "application/octet-stream", data) +
                         Field(b, "purpose", std::string(300, 'p')) + Close(b);
      Outcome out = Parse(b, body);
      ASSERT_TRUE(out.status.ok()) << n << ": " << out.status.ToString();
      ASSERT_EQ(out.parts.size(), 2u) << n;
      ASSERT_EQ(out.parts[0].data, data) << n;
      ASSERT_EQ(out.parts[1].data, std::string(300, 'p')) << n;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Streaming: no buffering of part bodies

TEST(MultipartParserTest, CrDenseAndFilterAdversarialData) {
  WithEachSearch([&] {
    // Data that is all CRs and CRLFs, or puts CR and the boundary's last byte L-1 apart at many
    // positions, so the search sees a candidate almost everywhere.
    const std::string b = "------------------------abcdef0123456789";
    std::vector<std::string> datas = {std::string(5000, '\r'), "", "", ""};
    for (int i = 0; i < 2500; ++i) datas[1] += "\r\n";
    for (int i = 0; i < 2500; ++i) datas[2] += "\r9";
    for (int i = 0; i < 100; ++i) datas[3] += "\r\n--" + b.substr(0, 20) + "x" + b.substr(21);
    for (const std::string& data : datas) {
      std::string body = FilePart(b, "file", "f", "application/octet-stream", data) + Close(b);
      for (std::size_t chunk :
           {body.size(), std::size_t{4096}, std::size_t{1000}, std::size_t{17}}) {
        SCOPED_TRACE(chunk);
        std::vector<std::string_view> chunks;
        for (std::size_t pos = 0; pos < body.size(); pos += chunk) {
          chunks.push_back(std::string_view(body).substr(pos, chunk));
        }
        Outcome out = ParseChunks(b, chunks);
        ASSERT_TRUE(out.status.ok()) << out.status.ToString();
        ASSERT_EQ(out.parts.size(), 1u);
        EXPECT_EQ(out.parts[0].data, data);
      }
    }
  });
}

TEST(MultipartParserTest, DataSpansPointIntoTheFedBuffer) {
  std::string data(100000, 'z');
  std::string body = FilePart(kB, "file", "f", "text/plain", data) + Close(kB);
  Recorder recorder;
  MultipartParser parser(kB, recorder);
  ASSERT_TRUE(parser.Feed(body).ok());
  ASSERT_TRUE(parser.Finish().ok());
  ASSERT_EQ(recorder.spans.size(), 1u);  // one large span, not byte-sized pieces
  EXPECT_GE(recorder.spans[0].data(), body.data());
  EXPECT_LE(recorder.spans[0].data() + recorder.spans[0].size(), body.data() + body.size());
  EXPECT_EQ(recorder.parts[0].data, data);
}

TEST(MultipartParserTest, OneSpanPerChunkAndPart) {
  std::string data(1 << 20, 'q');
  std::string body = FilePart(kB, "file", "f", "text/plain", data) + Close(kB);
  Recorder recorder;
  MultipartParser parser(kB, recorder);
  const std::size_t chunk = 64 * 1024;
  std::size_t chunks = 0;
  for (std::size_t pos = 0; pos < body.size(); pos += chunk, ++chunks) {
    std::string_view piece = std::string_view(body).substr(pos, chunk);
    ASSERT_TRUE(parser.Feed(piece).ok());
  }
  ASSERT_TRUE(parser.Finish().ok());
  EXPECT_LE(recorder.spans.size(), chunks);
  EXPECT_EQ(recorder.parts[0].data, data);
}

TEST(MultipartParserTest, HeldBackBytesNeverExceedTheDelimiter) {
  // Fed one byte at a time, a near-delimiter is held back and released, never a part body.
  std::string data;
  for (int i = 0; i < 200; ++i) data += "\r\n--bn" + std::to_string(i) + "\r\n--bnd" + "_";
  std::string body = FilePart(kB, "file", "f", "text/plain", data) + Close(kB);
  Recorder recorder;
  MultipartParser parser(kB, recorder);
  for (char c : body) ASSERT_TRUE(parser.Feed(std::span<const char>(&c, 1)).ok());
  ASSERT_TRUE(parser.Finish().ok());
  EXPECT_EQ(recorder.parts[0].data, data);
  EXPECT_LE(recorder.max_span, std::string("\r\n--bnd").size() + 1);
}

// 64 MiB in 1 MiB chunks, the size of the largest upload part. The bytes are checked without
// keeping a copy of the body; the parse time is printed, not asserted.
TEST(MultipartParserTest, SixtyFourMiBPartInOneMiBChunks) {
  const std::string b = "------------------------abcdef0123456789";
  constexpr std::size_t kPart = 64u << 20;
  constexpr std::size_t kChunk = 1u << 20;
  // Pseudo-random bytes, with a near-delimiter planted across every chunk edge.
  static const std::string kPlant = "\r\n--" + b.substr(0, b.size() - 1);
  auto byte_at = [](std::size_t i) -> char {
    std::size_t edge_offset = (i + 20) % kChunk;
    if (edge_offset < kPlant.size()) return kPlant[edge_offset];
    return static_cast<char>((i * 0x9E3779B97F4A7C15ull) >> 56);
  };
  const std::string head =
      "--" + b + "\r\nContent-Disposition: form-data; name=\"data\"; filename=\"blob\"\r\n" +
      "Content-Type: application/octet-stream\r\n\r\n";
  const std::string tail = "\r\n--" + b + "--\r\n";
  const std::size_t total = head.size() + kPart + tail.size();

  // Spans into the current chunk are checked after Feed returns (so only parsing is timed);
  // the few held-back bytes the parser hands over from its own buffer are checked at once.
  class Checker : public MultipartHandler {
   public:
    Status OnPartBegin(const MultipartPartHeaders& h) override {
      EXPECT_EQ(h.name, "data");
      EXPECT_EQ(h.filename, "blob");
      ++begins;
      return Status::Ok();
    }
    Status OnPartData(std::span<const char> data) override {
      ++data_calls;
      if (data.data() >= chunk.data() && data.data() < chunk.data() + chunk.size()) {
        pending.push_back(data);
      } else {
        EXPECT_LE(data.size(), 64u) << "a large span not pointing into the fed chunk";
        Check(data);
      }
      return Status::Ok();
    }
    Status OnPartEnd() override {
      ++ends;
      return Status::Ok();
    }
    void Check(std::span<const char> data) {
      for (char c : data) mismatches += c != byte_at(received++);
    }
    std::function<char(std::size_t)> byte_at;
    std::span<const char> chunk;
    std::vector<std::span<const char>> pending;
    std::size_t received = 0, mismatches = 0, data_calls = 0;
    int begins = 0, ends = 0;
  } checker;
  checker.byte_at = byte_at;

  MultipartParser parser(b, checker);
  std::string chunk;
  std::chrono::steady_clock::duration parse_time{};
  for (std::size_t pos = 0; pos < total;) {
    chunk.clear();
    for (; chunk.size() < kChunk && pos < total; ++pos) {
      if (pos < head.size()) {
        chunk.push_back(head[pos]);
      } else if (pos < head.size() + kPart) {
        chunk.push_back(byte_at(pos - head.size()));
      } else {
        chunk.push_back(tail[pos - head.size() - kPart]);
      }
    }
    checker.chunk = chunk;
    auto start = std::chrono::steady_clock::now();
    Status status = parser.Feed(chunk);
    parse_time += std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(status.ok()) << status.ToString();
    // Bytes held back at a chunk's end are released (and checked at once) at the start of the
    // next Feed, before that chunk's own spans: checking here keeps the byte order.
    for (std::span<const char> span : checker.pending) checker.Check(span);
    checker.pending.clear();
  }
  ASSERT_TRUE(parser.Finish().ok());
  EXPECT_EQ(checker.begins, 1);
  EXPECT_EQ(checker.ends, 1);
  EXPECT_EQ(checker.received, kPart);
  EXPECT_EQ(checker.mismatches, 0u);
  EXPECT_LE(checker.data_calls, 3 * (total / kChunk + 1));  // large spans, not small pieces
  double seconds = std::chrono::duration<double>(parse_time).count();
  std::printf("[   INFO   ] 64 MiB parsed in %.1f ms (%.2f GiB/s)\n", seconds * 1e3,
              seconds > 0 ? 1.0 / 16 / seconds : 0.0);
}

// ---------------------------------------------------------------------------------------------
// Part headers

TEST(MultipartParserTest, HeaderNamesAreCaseInsensitiveAndOthersIgnored) {
  std::string body =
      "--bnd\r\ncontent-TYPE:text/plain; charset=utf-8\r\nX-Other: 1\r\n"
      "Content-Transfer-Encoding: binary\r\nCONTENT-DISPOSITION:  FORM-DATA ; NAME=token_name ;"
      " FileName=\"f.txt\" ; \r\n\r\nabc\r\n--bnd--\r\n";
  Outcome out = Parse(kB, body);
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  ASSERT_EQ(out.parts.size(), 1u);
  EXPECT_EQ(out.parts[0],
            (RecordedPart{"token_name", "f.txt", "text/plain; charset=utf-8", "abc", true}));
}

TEST(MultipartParserTest, HeaderFoldingIsRejected) {
  for (std::string fold : {" ", "\t"}) {
    std::string body = "--bnd\r\nContent-Disposition: form-data;\r\n" + fold +
                       "name=\"a\"\r\n\r\nx\r\n--bnd--\r\n";
    ExpectParseError(Parse(kB, body).status, "folded part header lines are not supported");
  }
}

TEST(MultipartParserTest, MissingContentDispositionOrName) {
  ExpectParseError(Parse(kB, "--bnd\r\nContent-Type: text/plain\r\n\r\nx\r\n--bnd--").status,
                   "part has no Content-Disposition header");
  ExpectParseError(Parse(kB, "--bnd\r\n\r\nx\r\n--bnd--").status,
                   "part has no Content-Disposition header");
  ExpectParseError(Parse(kB, OnePart(kB, "filename=\"a.txt\"")).status,
                   "part Content-Disposition has no name parameter");
  ExpectParseError(Parse(kB, "--bnd\r\nContent-Disposition: form-data\r\n\r\nx\r\n--bnd--").status,
                   "part Content-Disposition has no name parameter");
}

TEST(MultipartParserTest, MalformedHeaders) {
  struct Case {
    std::string headers;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"Content-Disposition: attachment; name=\"a\"",
       "part Content-Disposition must be form-data, got \"attachment\""},
      {"Content-Disposition: form-data; name=\"a", "unterminated quoted string"},
      {"Content-Disposition: form-data; name", "parameter without '='"},
      {"Content-Disposition: form-data; name=", "empty parameter value"},
      {"Content-Disposition: form-data; =x", "empty parameter name"},
      {"Content-Disposition: form-data; name=\"a\" junk", "expected ';'"},
      {"Content-Disposition: form-data; name=a\"b", "stray '\"' in parameter value"},
      {"Content-Disposition: form-data; name=\"a\"; NAME=\"b\"",
       "duplicate 'name' parameter in part Content-Disposition header"},
      {"Content-Disposition: form-data; name=\"a\"; filename=x; filename=y",
       "duplicate 'filename' parameter"},
      {"Content-Disposition: form-data; name=\"a\"\r\ncontent-disposition: form-data; name=b",
       "duplicate content-disposition header in a part"},
      {"Content-Disposition: form-data; name=\"a\"\r\nContent-Type: a\r\nContent-Type: b",
       "duplicate Content-Type header in a part"},
      {"Content-Disposition form-data; name=\"a\"", "malformed part header line"},
      {": form-data", "malformed part header line"},
      {"Content-Disposition : form-data; name=\"a\"", "malformed part header line"},
      {"Content-Disposition: form-data; name=\"a\"\nContent-Type: text/plain",
       "part header line not terminated by CRLF"},
      {"Content-Disposition: form-data; name=\"a\"\rX: y",
       "part header line not terminated by CRLF"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.headers);
    Outcome out = Parse(kB, "--bnd\r\n" + c.headers + "\r\n\r\nx\r\n--bnd--\r\n");
    ExpectParseError(out.status, c.message);
    EXPECT_TRUE(out.parts.empty());
    EXPECT_EQ(out.parts_seen, 0u);
  }
}

TEST(MultipartParserTest, LfOnlyHeadersAreRejected) {
  // Bare-LF line endings never form a header block; the body ends inside the headers.
  Outcome out = Parse(kB, "--bnd\r\nContent-Disposition: form-data; name=\"a\"\n\nx\n--bnd--\n");
  ExpectParseError(out.status, "missing closing boundary (body ended inside part headers)");
}

TEST(MultipartParserTest, HeaderBlockLimit) {
  // Block = header lines + the blank line; exactly max_header_bytes is fine, one more is not.
  auto body_with_block_size = [](std::size_t block_size) {
    std::string line1 = "Content-Disposition: form-data; name=\"a\"\r\n";
    std::string pad = "X-Pad: ";
    std::size_t fixed = line1.size() + pad.size() + 2 + 2;  // pad line CRLF + blank line
    std::string block = line1 + pad + std::string(block_size - fixed, 'p') + "\r\n\r\n";
    EXPECT_EQ(block.size(), block_size);
    return "--bnd\r\n" + block + "x\r\n--bnd--\r\n";
  };
  MultipartLimits limits;
  EXPECT_EQ(limits.max_header_bytes, 16384u);
  std::string at_limit = body_with_block_size(16384);
  Outcome ok = Parse(kB, at_limit);
  ASSERT_TRUE(ok.status.ok()) << ok.status.ToString();
  EXPECT_EQ(ok.parts[0].data, "x");
  EXPECT_TRUE(ParseBytewise(kB, at_limit).status.ok());

  for (std::size_t size : {16385u, 16386u, 16387u, 16388u, 20000u}) {
    SCOPED_TRACE(size);
    std::string over = body_with_block_size(size);
    for (const Outcome& out : {Parse(kB, over), ParseBytewise(kB, over)}) {
      EXPECT_EQ(out.status.code(), StatusCode::kInvalidArgument);
      EXPECT_EQ(out.status.message(), "Could not parse multipart form: part headers exceed 16384 bytes");
      EXPECT_EQ(out.status.param(), "");
      EXPECT_TRUE(out.parts.empty());
    }
  }
  // A block that never ends stops at the limit, not at the end of a huge body.
  std::string endless =
      "--bnd\r\nContent-Disposition: form-data; name=\"a\"\r\nX: " + std::string(10 << 20, 'h');
  EXPECT_EQ(Parse(kB, endless).status.message(), "Could not parse multipart form: part headers exceed 16384 bytes");

  MultipartLimits small;
  small.max_header_bytes = 100;
  EXPECT_EQ(Parse(kB, at_limit, small).status.message(), "Could not parse multipart form: part headers exceed 100 bytes");
}

TEST(MultipartParserTest, PartCountLimit) {
  std::string thousand;
  for (int i = 0; i < 1000; ++i) thousand += Field(kB, "f" + std::to_string(i), "v");
  Outcome ok = Parse(kB, thousand + Close(kB));
  ASSERT_TRUE(ok.status.ok()) << ok.status.ToString();
  EXPECT_EQ(ok.parts.size(), 1000u);
  EXPECT_EQ(ok.parts_seen, 1000u);
  EXPECT_EQ(ok.parts[999].name, "f999");

  Outcome over = Parse(kB, thousand + Field(kB, "one_more", "v") + Close(kB));
  EXPECT_EQ(over.status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(over.status.message(), "Could not parse multipart form: more than 1000 parts");
  EXPECT_EQ(over.status.param(), "");
  EXPECT_EQ(over.parts_seen, 1000u);
  EXPECT_TRUE(over.parts.back().ended);  // the 1000th part was complete before the refusal

  MultipartLimits two;
  two.max_parts = 2;
  std::string three = Field(kB, "a", "1") + Field(kB, "b", "2") + Field(kB, "c", "3") + Close(kB);
  EXPECT_EQ(Parse(kB, three, two).status.message(), "Could not parse multipart form: more than 2 parts");
  EXPECT_TRUE(Parse(kB, Field(kB, "a", "1") + Field(kB, "b", "2") + Close(kB), two).status.ok());
}

// ---------------------------------------------------------------------------------------------
// name and filename decoding

struct Names {
  std::string name;
  std::optional<std::string> filename;
};

Names ParseNames(std::string_view disposition_params) {
  Outcome out = Parse(kB, OnePart(kB, disposition_params));
  EXPECT_TRUE(out.status.ok()) << out.status.ToString() << " for " << disposition_params;
  if (out.parts.size() != 1) return {"<no part>", std::nullopt};
  return {out.parts[0].name, out.parts[0].filename};
}

TEST(MultipartParserTest, FilenameWhatwgEscapes) {
  EXPECT_EQ(ParseNames("name=\"file\"; filename=\"say %22hi%22.txt\"").filename, "say \"hi\".txt");
  EXPECT_EQ(ParseNames("name=\"file\"; filename=\"a%0D%0Ab.txt\"").filename, "a\r\nb.txt");
  EXPECT_EQ(ParseNames("name=\"file\"; filename=\"a%0d%0ab%22\"").filename, "a\r\nb\"");
  // Only those three escapes: anything else is the user's text.
  EXPECT_EQ(ParseNames("name=\"file\"; filename=\"100%41%25%20%2.txt%\"").filename,
            "100%41%25%20%2.txt%");
  EXPECT_EQ(ParseNames("name=\"file\"; filename=\"%%222\"").filename, "%\"2");
  // The name is decoded the same way.
  EXPECT_EQ(ParseNames("name=\"a%22b%0Ac\"").name, "a\"b\nc");
}

TEST(MultipartParserTest, FilenameBackslashEscapes) {
  EXPECT_EQ(ParseNames(R"(name="file"; filename="say \"hi\".txt")").filename, "say \"hi\".txt");
  // httpx doubles backslashes; a browser sends a lone one as is: both come out right.
  EXPECT_EQ(ParseNames(R"(name="file"; filename="a\\b")").filename, "a\\b");
  EXPECT_EQ(ParseNames(R"(name="file"; filename="C:\dir\f.txt")").filename, "C:\\dir\\f.txt");
  EXPECT_EQ(ParseNames(R"(name="file"; filename="ends\\")").filename, "ends\\");
  EXPECT_EQ(ParseNames(R"(name="q\"n")").name, "q\"n");
  // Semicolons and '=' inside quotes are part of the value.
  EXPECT_EQ(ParseNames(R"(name="file"; filename="a;b=c.txt")").filename, "a;b=c.txt");
}

TEST(MultipartParserTest, FilenameExtendedParameter) {
  // RFC 5987 filename* wins over filename, whichever comes first.
  EXPECT_EQ(ParseNames("name=\"file\"; filename=\"EUR rates.txt\"; "
                       "filename*=UTF-8''%E2%82%AC%20rates.txt")
                .filename,
            "\xE2\x82\xAC rates.txt");
  EXPECT_EQ(ParseNames("name=\"file\"; filename*=utf-8'en'%E2%82%AC.txt; filename=\"x\"").filename,
            "\xE2\x82\xAC.txt");
  EXPECT_EQ(ParseNames("name=\"file\"; filename*=UTF-8''plain.txt").filename, "plain.txt");
  EXPECT_EQ(ParseNames("name=\"file\"; FILENAME*=iso-8859-1''%A3%20rates").filename,
            "\xC2\xA3 rates");
  EXPECT_EQ(ParseNames("name=\"file\"; filename*=\"UTF-8''q%22.txt\"").filename, "q\".txt");

  ExpectParseError(Parse(kB, OnePart(kB, "name=\"f\"; filename*=UTF-8''%E2%8")).status,
                   "invalid filename* parameter (bad percent escape)");
  ExpectParseError(Parse(kB, OnePart(kB, "name=\"f\"; filename*=UTF-8''%zz")).status,
                   "invalid filename* parameter (bad percent escape)");
  ExpectParseError(Parse(kB, OnePart(kB, "name=\"f\"; filename*=UTF-8%E2")).status,
                   "invalid filename* parameter (expected charset'language'value)");
  ExpectParseError(Parse(kB, OnePart(kB, "name=\"f\"; filename*=Shift_JIS''%82%A0")).status,
                   "unsupported charset");
}

TEST(MultipartParserTest, FilenameTokenAndEmptyForms) {
  Names token = ParseNames("name=file; filename=data.jsonl");
  EXPECT_EQ(token.name, "file");
  EXPECT_EQ(token.filename, "data.jsonl");
  // Token values are not percent-decoded (no client escapes in token form).
  EXPECT_EQ(ParseNames("name=file; filename=a%22b").filename, "a%22b");
  // filename="" is a file part with an empty filename (a browser's empty file input).
  EXPECT_EQ(ParseNames("name=\"file\"; filename=\"\"").filename, std::optional<std::string>(""));
  EXPECT_EQ(ParseNames("name=\"\"").name, "");
  EXPECT_EQ(ParseNames("name=\"file\"").filename, std::nullopt);
  // Unknown parameters are ignored.
  EXPECT_EQ(ParseNames("name=\"file\"; size=3; filename=\"f\"; creation-date=\"x\"").filename, "f");
}

TEST(MultipartParserTest, FilenameBytesArePassedThrough) {
  // Raw UTF-8, control characters and NUL: the caller decides what to do with them.
  EXPECT_EQ(ParseNames("name=\"file\"; filename=\"na\xC3\xAFve \xF0\x9F\x98\x80.txt\"").filename,
            "na\xC3\xAFve \xF0\x9F\x98\x80.txt");
  EXPECT_EQ(ParseNames("name=\"file\"; filename=\"a\x01\x1F\x7F\tb\"").filename,
            "a\x01\x1F\x7F\tb");
  EXPECT_EQ(ParseNames("name=\"file\"; filename=\"nul\0byte\""s).filename, "nul\0byte"s);
}

// ---------------------------------------------------------------------------------------------
// Truncation and errors

TEST(MultipartParserTest, EmptyAndPreambleOnlyBodies) {
  ExpectParseError(Parse(kB, "").status,
                   "missing closing boundary (no boundary found in the body)");
  ExpectParseError(Parse(kB, "just some text\r\n").status, "no boundary found in the body");
  ExpectParseError(Parse(kB, "\r\n--bn").status, "no boundary found in the body");
}

TEST(MultipartParserTest, EveryTruncationBeforeTheCloseDelimiterFails) {
  std::string body = "pre\r\n" + Field(kB, "a", "1\r\n") +
                     FilePart(kB, "file", "f.bin", "application/octet-stream", "\r\n--bn") +
                     "--bnd--";
  ASSERT_TRUE(Parse(kB, body).status.ok());
  ASSERT_TRUE(Parse(kB, body + "\r\nepilogue").status.ok());
  for (std::size_t len = 0; len < body.size(); ++len) {
    SCOPED_TRACE(len);
    Outcome out = Parse(kB, std::string_view(body).substr(0, len));
    ExpectParseError(out.status, "missing closing boundary");
    // No part is reported ended unless its delimiter was complete.
    for (std::size_t i = 0; i + 1 < out.parts.size(); ++i) EXPECT_TRUE(out.parts[i].ended);
  }
}

TEST(MultipartParserTest, TruncationMessagesSayWhere) {
  std::string head = "--bnd\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n";
  ExpectParseError(Parse(kB, "--bnd").status, "body ended inside a boundary line");
  ExpectParseError(Parse(kB, "--bnd \t").status, "body ended inside a boundary line");
  ExpectParseError(Parse(kB, "--bnd\r\nContent-Disp").status, "body ended inside part headers");
  ExpectParseError(Parse(kB, head + "partial data").status, "body ended inside a part");
  ExpectParseError(Parse(kB, head + "x\r\n--bnd-").status, "body ended inside a boundary line");
  ExpectParseError(Parse(kB, head + "x\r\n--bn").status, "body ended inside a part");
  Outcome out = Parse(kB, head + "partial data");
  ASSERT_EQ(out.parts.size(), 1u);
  EXPECT_FALSE(out.parts[0].ended);  // no OnPartEnd for a truncated part
  EXPECT_EQ(out.parts[0].data, "partial data");
}

TEST(MultipartParserTest, ErrorsAreSticky) {
  Recorder recorder;
  MultipartParser parser(kB, recorder);
  std::string bad = "--bnd\r\n folded: x\r\n\r\n";
  Status first = parser.Feed(bad);
  ExpectParseError(first, "folded part header lines are not supported");
  Status again = parser.Feed(Field(kB, "a", "1"));
  EXPECT_EQ(again.ToString(), first.ToString());
  EXPECT_EQ(parser.Finish().ToString(), first.ToString());
  EXPECT_EQ(parser.Feed(std::span<const char>()).ToString(), first.ToString());
  EXPECT_TRUE(recorder.parts.empty());
}

TEST(MultipartParserTest, FinishIsIdempotentAndEpilogueFeedsAreIgnored) {
  Recorder recorder;
  MultipartParser parser(kB, recorder);
  ASSERT_TRUE(parser.Feed(Field(kB, "a", "1") + Close(kB)).ok());
  ASSERT_TRUE(parser.Feed(std::string_view("more epilogue")).ok());
  EXPECT_TRUE(parser.Finish().ok());
  EXPECT_TRUE(parser.Finish().ok());

  Recorder r2;
  MultipartParser truncated(kB, r2);
  ASSERT_TRUE(truncated.Feed(std::string_view("--bnd\r\n")).ok());
  Status first = truncated.Finish();
  ExpectParseError(first, "missing closing boundary");
  EXPECT_EQ(truncated.Finish().ToString(), first.ToString());
}

TEST(MultipartParserTest, InvalidBoundaryGivenToTheConstructor) {
  for (std::string boundary : {""s, std::string(71, 'a'), "a\rb"s, "ends "s, "semi;colon"s}) {
    SCOPED_TRACE(boundary);
    Recorder recorder;
    MultipartParser parser(boundary, recorder);
    ExpectParseError(parser.Feed(std::string_view("--x\r\n")), "invalid boundary");
    ExpectParseError(parser.Finish(), "invalid boundary");
  }
}

TEST(MultipartParserTest, HandlerErrorAbortsParsingUnchanged) {
  // Two parts: Begin, Data, End, Begin, Data, End = callbacks 0..5; fail each one in turn.
  std::string body = Field(kB, "a", "1") + FilePart(kB, "file", "f", "text/plain", "2") + Close(kB);
  for (int fail_at = 0; fail_at < 6; ++fail_at) {
    SCOPED_TRACE(fail_at);
    for (bool bytewise : {false, true}) {
      Recorder recorder;
      recorder.fail_at = fail_at;
      recorder.fail_status = Status(StatusCode::kUnavailable, "disk full", "file", "disk_code");
      MultipartParser parser(kB, recorder);
      Status status;
      if (bytewise) {
        for (char c : body) {
          status = parser.Feed(std::span<const char>(&c, 1));
          if (!status.ok()) break;
        }
      } else {
        status = parser.Feed(body);
      }
      EXPECT_EQ(status.code(), StatusCode::kUnavailable);
      EXPECT_EQ(status.message(), "disk full");
      EXPECT_EQ(status.param(), "file");
      EXPECT_EQ(status.error_code(), "disk_code");
      EXPECT_EQ(recorder.calls, fail_at + 1);  // nothing after the failing callback
      EXPECT_EQ(parser.Feed(std::string_view("x")).ToString(), status.ToString());
      EXPECT_EQ(parser.Finish().ToString(), status.ToString());
      EXPECT_EQ(recorder.calls, fail_at + 1);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Real clients' shapes

TEST(MultipartParserTest, NodeUndiciShape) {
  // undici's FormData: boundary "----formdata-undici-0" + 11 digits, name/filename escaped
  // with %0A %0D %22, the file part's type defaulting to application/octet-stream.
  const std::string content_type = "multipart/form-data; boundary=----formdata-undici-0123456789";
  Result<std::string> boundary = MultipartParser::BoundaryFromContentType(content_type);
  ASSERT_TRUE(boundary.ok()) << boundary.status().ToString();
  EXPECT_EQ(*boundary, "----formdata-undici-0123456789");
  std::string body =
      "------formdata-undici-0123456789\r\n"
      "Content-Disposition: form-data; name=\"file\"; filename=\"my %22data%22%0A.jsonl\"\r\n"
      "Content-Type: application/octet-stream\r\n"
      "\r\n"
      "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n\r\n"
      "------formdata-undici-0123456789\r\n"
      "Content-Disposition: form-data; name=\"purpose\"\r\n"
      "\r\n"
      "fine-tune\r\n"
      "------formdata-undici-0123456789--\r\n";
  Outcome out = Parse(*boundary, body);
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  ASSERT_EQ(out.parts.size(), 2u);
  EXPECT_EQ(out.parts[0], (RecordedPart{"file", "my \"data\"\n.jsonl", "application/octet-stream",
                                        "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n", true}));
  EXPECT_EQ(out.parts[1], (RecordedPart{"purpose", std::nullopt, "", "fine-tune", true}));
  ExpectSameAtEverySplit(*boundary, body);

  // An empty FormData (what the Node SDK sends for an unnamed Blob): no parts, no error.
  Outcome empty = Parse(*boundary, "------formdata-undici-0123456789--\r\n");
  ASSERT_TRUE(empty.status.ok()) << empty.status.ToString();
  EXPECT_EQ(empty.parts_seen, 0u);
}

TEST(MultipartParserTest, CurlShape) {
  // curl -F file=@data.jsonl -F purpose=batch
  const std::string content_type =
      "multipart/form-data; boundary=------------------------abcdef0123456789";
  Result<std::string> boundary = MultipartParser::BoundaryFromContentType(content_type);
  ASSERT_TRUE(boundary.ok()) << boundary.status().ToString();
  EXPECT_EQ(*boundary, "------------------------abcdef0123456789");
  std::string body =
      "--------------------------abcdef0123456789\r\n"
      "Content-Disposition: form-data; name=\"file\"; filename=\"data.jsonl\"\r\n"
      "Content-Type: application/octet-stream\r\n"
      "\r\n"
      "{\"custom_id\": \"1\"}\r\n"
      "\r\n"
      "--------------------------abcdef0123456789\r\n"
      "Content-Disposition: form-data; name=\"purpose\"\r\n"
      "\r\n"
      "batch\r\n"
      "--------------------------abcdef0123456789--\r\n";
  Outcome out = Parse(*boundary, body);
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  ASSERT_EQ(out.parts.size(), 2u);
  EXPECT_EQ(out.parts[0], (RecordedPart{"file", "data.jsonl", "application/octet-stream",
                                        "{\"custom_id\": \"1\"}\r\n", true}));
  EXPECT_EQ(out.parts[1], (RecordedPart{"purpose", std::nullopt, "", "batch", true}));
  ExpectSameAtEverySplit(*boundary, body);
}

TEST(MultipartParserTest, PythonHttpxShape) {
  // httpx (the OpenAI Python SDK): hex boundary, fields first, backslashes doubled.
  const std::string b = "6b3f2a1c9d8e7f6a5b4c3d2e1f0a9b8c";
  Result<std::string> boundary =
      MultipartParser::BoundaryFromContentType("multipart/form-data; boundary=" + b);
  ASSERT_TRUE(boundary.ok());
  std::string body = "--" + b + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n" +
                     "assistants\r\n--" + b +
                     "\r\nContent-Disposition: form-data; name=\"file\"; "
                     "filename=\"dir\\\\n%22x%22.txt\"\r\nContent-Type: text/plain\r\n\r\n" +
                     "hello\r\n--" + b + "--\r\n";
  Outcome out = Parse(*boundary, body);
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  ASSERT_EQ(out.parts.size(), 2u);
  EXPECT_EQ(out.parts[0].data, "assistants");
  EXPECT_EQ(out.parts[1], (RecordedPart{"file", "dir\\n\"x\".txt", "text/plain", "hello", true}));
}

// ---------------------------------------------------------------------------------------------
// BoundaryFromContentType

std::string BoundaryOf(std::string_view content_type) {
  Result<std::string> r = MultipartParser::BoundaryFromContentType(content_type);
  EXPECT_TRUE(r.ok()) << r.status().ToString() << " for " << content_type;
  return r.ok() ? *r : "<error>";
}

void ExpectBoundaryError(std::string_view content_type, std::string_view message_part) {
  Result<std::string> r = MultipartParser::BoundaryFromContentType(content_type);
  ASSERT_FALSE(r.ok()) << "accepted " << content_type << " as " << *r;
  ExpectParseError(r.status(), message_part);
}

TEST(BoundaryFromContentTypeTest, Accepted) {
  EXPECT_EQ(BoundaryOf("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(BoundaryOf("multipart/form-data;boundary=abc"), "abc");
  EXPECT_EQ(BoundaryOf("multipart/form-data; boundary=\"abc\""), "abc");
  EXPECT_EQ(BoundaryOf("multipart/form-data; boundary=\"a b:c?=,()\""), "a b:c?=,()");
  EXPECT_EQ(BoundaryOf("Multipart/Form-Data; BOUNDARY=AbC"), "AbC");
  EXPECT_EQ(BoundaryOf("MULTIPART/FORM-DATA ; Boundary = xyz ; charset=utf-8"), "xyz");
  EXPECT_EQ(BoundaryOf("  multipart/form-data; charset=\"utf-8\"; boundary=q1;  "), "q1");
  EXPECT_EQ(BoundaryOf("multipart/form-data; boundary=" + std::string(70, 'x')),
            std::string(70, 'x'));
  EXPECT_EQ(BoundaryOf("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW"),
            "----WebKitFormBoundary7MA4YWxkTrZu0gW");
}

TEST(BoundaryFromContentTypeTest, Rejected) {
  ExpectBoundaryError("application/json",
                      "Content-Type must be multipart/form-data, got "
                      "\"application/json\"");
  ExpectBoundaryError("", "Content-Type must be multipart/form-data, got \"\"");
  ExpectBoundaryError("multipart/mixed; boundary=abc", "Content-Type must be multipart/form-data");
  ExpectBoundaryError("multipart/form-datax; boundary=abc",
                      "Content-Type must be multipart/form-data");
  ExpectBoundaryError("multipart/form-data", "Content-Type has no boundary parameter");
  ExpectBoundaryError("multipart/form-data; charset=utf-8",
                      "Content-Type has no boundary parameter");
  ExpectBoundaryError("multipart/form-data; boundary=", "empty parameter value");
  ExpectBoundaryError("multipart/form-data; boundary=\"\"", "invalid boundary \"\"");
  ExpectBoundaryError("multipart/form-data; boundary=" + std::string(71, 'x'), "invalid boundary");
  ExpectBoundaryError("multipart/form-data; boundary=\"abc \"", "invalid boundary");
  ExpectBoundaryError("multipart/form-data; boundary=a@b", "invalid boundary");
  ExpectBoundaryError("multipart/form-data; boundary=\"a\\\"b\"", "invalid boundary");
  ExpectBoundaryError("multipart/form-data; boundary=\"abc", "unterminated quoted string");
  ExpectBoundaryError("multipart/form-data; boundary=a; boundary=b",
                      "duplicate 'boundary' parameter in Content-Type header");
  ExpectBoundaryError("multipart/form-data boundary=abc", "expected ';'");
}

}  // namespace
}  // namespace fileport

// End-to-end: hostile and broken clients (issue "Reliability and security", item 4). Every
// case is sent byte for byte over a RawConnection to a real server and checked for the exact
// answer, for whether the connection is closed, and for what is left behind: nothing is stored
// from a refused request, no temporary blob outlives a sweep, and the server keeps answering
// everyone else.

#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "e2e/test_server.h"

namespace fileport::testing {
namespace {
namespace json = boost::json;

const std::string kBoundary = "----hostile-boundary";

std::string Form(const std::string& boundary, const std::vector<FormPart>& parts) {
  return BuildMultipart(parts, boundary);
}

std::string FileForm(const std::string& data, const std::string& filename = "h.txt") {
  return Form(kBoundary,
              {{"purpose", "assistants", std::nullopt, ""}, {"file", data, filename, "text/plain"}});
}

// A POST /v1/files request head for a multipart body of `length` bytes.
std::string FilesHead(std::size_t length, const std::string& boundary = kBoundary,
                      const std::string& extra = "") {
  return "POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=" +
         boundary + "\r\nContent-Length: " + std::to_string(length) + "\r\n" + extra + "\r\n";
}

class HostileTest : public E2eTest {
 protected:
  // Sends `request` on a fresh connection and returns the first answer.
  HttpResponse SendRaw(const std::string& request, bool* closed = nullptr) {
    RawConnection conn(server().port());
    EXPECT_TRUE(conn.connected());
    EXPECT_TRUE(conn.Send(request));
    HttpResponse r = conn.ReadResponse();
    if (closed) *closed = conn.WaitForClose();
    return r;
  }

  // The files the project can see (open mode: the default project).
  std::vector<std::string> ListedFiles() {
    auto l = client().Get("/v1/files?limit=10000");
    EXPECT_EQ(l.status, 200) << Describe(l);
    return ExpectListShape(JsonObject(l));
  }

  // Asserts that nothing was stored: no file listed and, after a sweep, no blob on disk.
  void ExpectNothingStored() {
    EXPECT_TRUE(ListedFiles().empty());
    server().clock().AdvanceSeconds(2 * 3600);  // past every grace period
    server().sweeper().RunOnce();
    EXPECT_TRUE(server().BlobFiles().empty()) << server().BlobFiles().size() << " blob files";
  }

  // Waits (polling, with a deadline) until no request is in progress on the server; a
  // request whose client vanished ends when the server notices.
  void WaitUntilIdle() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (server().metrics().in_flight.load() != 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a poll, not a guess
    }
    EXPECT_EQ(server().metrics().in_flight.load(), 0);
  }

  void ExpectServerFine() {
    auto h = client().Get("/healthz");
    EXPECT_EQ(h.status, 200) << Describe(h);
  }
};

// --- Header block -------------------------------------------------------------------------

TEST_F(HostileTest, HeaderLineStartingWithWhitespaceIs400AndCloses) {
  // The first header line folded onto the request line: a classic smuggling vector.
  bool closed = false;
  auto r = SendRaw("GET /v1/files HTTP/1.1\r\n Host: x\r\n\r\n", &closed);
  EXPECT_EQ(r.status, 400) << Describe(r);
  EXPECT_TRUE(closed);
  // A folded Content-Length cannot sneak a second value in.
  const std::string body = FileForm("folded");
  auto f = SendRaw(
      "POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=" +
          kBoundary + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n 5\r\n\r\n" +
          body,
      &closed);
  EXPECT_EQ(f.status, 400) << Describe(f);
  EXPECT_TRUE(closed);
  ExpectNothingStored();
}

TEST_F(HostileTest, HeaderBlockOfOneMebibyteIs431AndCloses) {
  std::string head = "GET /v1/files HTTP/1.1\r\nHost: x\r\n";
  const std::string filler(1000, 'a');
  for (int i = 0; head.size() < (1 << 20); ++i) {
    head += "X-Filler-" + std::to_string(i) + ": " + filler + "\r\n";
  }
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.connected());
  // The server may stop reading (and close) before the whole block is written.
  conn.Send(head + "\r\n");
  auto r = conn.ReadResponse();
  ExpectError(r, 431, "Request header fields are too large: the limit is 65536 bytes");
  EXPECT_TRUE(conn.WaitForClose());
  // One header line of 1 MiB too.
  RawConnection conn2(server().port());
  conn2.Send("GET /v1/files HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(1 << 20, 'b') +
             "\r\n\r\n");
  ExpectError(conn2.ReadResponse(), 431,
              "Request header fields are too large: the limit is 65536 bytes");
  ExpectServerFine();
}

// A GET head of exactly `total` bytes, its closing blank line included.
std::string HeadOfSize(std::size_t total) {
  std::string head = "GET /v1/files HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0;; ++i) {
    const std::string name = "X-Filler-" + std::to_string(i) + ": ";
    const std::size_t room = total - head.size() - 2;  // the closing "\r\n" last
    if (room < name.size() + 2 + 2000) {
      head += name + std::string(room - name.size() - 2, 'f') + "\r\n";
      break;
    }
    head += name + std::string(1000, 'f') + "\r\n";
  }
  head += "\r\n";
  EXPECT_EQ(head.size(), total);
  return head;
}

// The limit counts the whole head, however it arrives. Beast's own limit bounds only what one
// parse must scan for the head's end, so a head one byte over, or one sent in pieces, passed.
TEST_F(HostileTest, AHeadOverTheLimitIs431HoweverItArrives) {
  const std::string message = "Request header fields are too large: the limit is 65536 bytes";
  {
    RawConnection conn(server().port());
    ASSERT_TRUE(conn.Send(HeadOfSize(65536)));
    auto r = conn.ReadResponse();
    EXPECT_EQ(r.status, 200) << Describe(r);
  }
  {
    RawConnection conn(server().port());
    conn.Send(HeadOfSize(65537));  // the server may close before it has read it all
    ExpectError(conn.ReadResponse(), 431, message);
    EXPECT_TRUE(conn.WaitForClose());
  }
  {
    const std::string head = HeadOfSize(80 * 1024);
    RawConnection conn(server().port());
    ASSERT_TRUE(conn.Send(head.substr(0, 60 * 1024)));
    conn.Send(head.substr(60 * 1024));
    ExpectError(conn.ReadResponse(), 431, message);
    EXPECT_TRUE(conn.WaitForClose());
  }
  ExpectServerFine();
}

// --- Framing: Content-Length and Transfer-Encoding ----------------------------------------

TEST_F(HostileTest, ContentLengthWithTransferEncodingIs400AndCloses) {
  const std::string body = FileForm("both");
  for (const std::string& order : {std::string("cl-first"), std::string("te-first")}) {
    SCOPED_TRACE(order);
    const std::string cl = "Content-Length: " + std::to_string(body.size()) + "\r\n";
    const std::string te = "Transfer-Encoding: chunked\r\n";
    bool closed = false;
    auto r = SendRaw(
        "POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=" +
            kBoundary + "\r\n" + (order == "cl-first" ? cl + te : te + cl) + "\r\n" + body,
        &closed);
    EXPECT_EQ(r.status, 400) << Describe(r);
    EXPECT_TRUE(closed) << "nothing after an ambiguous frame may be parsed";
  }
  ExpectNothingStored();
}

TEST_F(HostileTest, MalformedNegativeAndDuplicateContentLengthAre400AndClose) {
  const std::string body = FileForm("cl");
  const std::string n = std::to_string(body.size());
  for (const std::string& cl : std::vector<std::string>{
        "Content-Length: abc\r\n", "Content-Length: -" + n + "\r\n",
        "Content-Length: +" + n + "\r\n", "Content-Length: " + n + "x\r\n",
        "Content-Length: 0x10\r\n", "Content-Length: 99999999999999999999999\r\n",
        "Content-Length: " + n + "\r\nContent-Length: 1\r\n", "Content-Length: " + n + ", 1\r\n"}) {
    SCOPED_TRACE(cl);
    bool closed = false;
    auto r = SendRaw(
        "POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=" +
            kBoundary + "\r\n" + cl + "\r\n" + body,
        &closed);
    EXPECT_EQ(r.status, 400) << Describe(r);
    EXPECT_TRUE(closed);
  }
  ExpectNothingStored();
}

// RFC 9110 §8.6 lets a recipient take repeated identical values as one; different ones above
// are refused.
TEST_F(HostileTest, IdenticalRepeatedContentLengthIsOneLength) {
  const std::string body = FileForm("same twice");
  const std::string n = std::to_string(body.size());
  auto r = SendRaw(FilesHead(body.size(), kBoundary, "Content-Length: " + n + "\r\n") + body +
                   "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ASSERT_EQ(r.status, 200) << Describe(r);
  EXPECT_EQ(Int(JsonObject(r), "bytes"), 10);
  EXPECT_EQ(ListedFiles().size(), 1u);
}

TEST_F(HostileTest, BadChunkSizesAre400AndClose) {
  const std::string body = FileForm("chunky");
  for (const std::string& chunks : std::vector<std::string>{
        "zz\r\n" + body + "\r\n0\r\n\r\n",              // not hex
        "-5\r\n" + body + "\r\n0\r\n\r\n",              // negative
        "ffffffffffffffffff\r\n" + body + "\r\n0\r\n\r\n",  // overflows 64 bits
        "5\r\n" + body + "\r\n0\r\n\r\n",               // the size is a lie: no CRLF after 5 bytes
        "\r\n" + body + "\r\n0\r\n\r\n"}) {             // no size at all
    SCOPED_TRACE(chunks.substr(0, 20));
    bool closed = false;
    auto r = SendRaw(
        "POST /v1/files HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: multipart/form-data; boundary=" +
            kBoundary + "\r\n\r\n" + chunks,
        &closed);
    EXPECT_EQ(r.status, 400) << Describe(r);
    EXPECT_TRUE(closed);
  }
  WaitUntilIdle();
  ExpectNothingStored();
}

TEST_F(HostileTest, BytesOfAnUnreadBodyAreNeverParsedAsARequest) {
  // A part for an unknown upload is refused before its body is read. The body holds a whole
  // request; it must not be answered (the server drains small bodies or closes).
  const std::string smuggled = "DELETE /v1/files/victim HTTP/1.1\r\nHost: x\r\n\r\n";
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.connected());
  ASSERT_TRUE(conn.Send("POST /v1/uploads/upload_nope/parts HTTP/1.1\r\nHost: x\r\n"
                        "Content-Type: multipart/form-data; boundary=" +
                        kBoundary + "\r\nContent-Length: " + std::to_string(smuggled.size()) +
                        "\r\n\r\n" + smuggled + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  ExpectError(conn.ReadResponse(), 404, "No such Upload object: upload_nope", "upload_id");
  // The next answer is the health check's (or the connection is closed), never a DELETE's.
  auto next = conn.ReadResponse();
  if (next.status != 0) {
    EXPECT_EQ(next.status, 200) << Describe(next);
    EXPECT_EQ(next.body.find("victim"), std::string::npos) << next.body;
  }

  // The same with a body larger than the server is willing to drain: it closes instead.
  const std::string big = smuggled + std::string(1 << 20, 'x');
  RawConnection conn2(server().port());
  ASSERT_TRUE(conn2.Send("POST /v1/uploads/upload_nope/parts HTTP/1.1\r\nHost: x\r\n"
                         "Content-Type: multipart/form-data; boundary=" +
                         kBoundary + "\r\nContent-Length: " + std::to_string(big.size()) +
                         "\r\n\r\n"));
  ExpectError(conn2.ReadResponse(), 404, "No such Upload object: upload_nope", "upload_id");
  conn2.Send(big);
  EXPECT_TRUE(conn2.WaitForClose());
  ExpectServerFine();
}

TEST_F(HostileTest, TruncatedBodyStoresNothing) {
  const std::string data = RandomBytes(300000, 3);
  const std::string body = FileForm(data);
  {
    // Content-Length promises more than is sent, then the client half-closes.
    RawConnection conn(server().port());
    ASSERT_TRUE(conn.Send(FilesHead(body.size())));
    ASSERT_TRUE(conn.Send(body.substr(0, body.size() / 2)));
  }
  // A complete HTTP body that is a truncated form: no closing boundary.
  const std::string cut = body.substr(0, body.size() - 30);
  auto r = SendRaw(FilesHead(cut.size()) + cut);
  ExpectError(r, 400,
              "Could not parse multipart form: missing closing boundary (body ended inside a part)");
  // A chunked body cut short before its last chunk.
  {
    RawConnection conn(server().port());
    ASSERT_TRUE(conn.Send(
        "POST /v1/files HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: multipart/form-data; boundary=" +
        kBoundary + "\r\n\r\n10000\r\n" + body.substr(0, 0x10000) + "\r\n"));
  }
  WaitUntilIdle();
  ExpectNothingStored();
}

// --- Multipart bodies ---------------------------------------------------------------------

TEST_F(HostileTest, PathologicalBoundariesAreRefusedOrHonoured) {
  // 71 characters: over RFC 2046's 70.
  const std::string too_long(71, 'b');
  auto r = SendRaw(FilesHead(10, too_long) + std::string(10, 'x'));
  EXPECT_EQ(r.status, 400) << Describe(r);
  EXPECT_NE(r.ErrorMessage().find("invalid boundary"), std::string::npos) << r.ErrorMessage();
  // 1000 characters.
  r = SendRaw(FilesHead(10, std::string(1000, 'b')) + std::string(10, 'x'));
  EXPECT_EQ(r.status, 400) << Describe(r);
  // Backslashes in a quoted boundary: not bchars.
  r = SendRaw(FilesHead(10, "\"" + std::string(40, '\\') + "\"") + std::string(10, 'x'));
  EXPECT_EQ(r.status, 400) << Describe(r);
  // A boundary made of one repeated byte, exactly 70 long, over data that is almost it:
  // honoured, and the data comes back exactly.
  const std::string b70(70, '-');
  std::string data;
  for (int i = 0; i < 2000; ++i) data += "\r\n" + std::string(69, '-') + "x";
  const std::string body = Form(b70, {{"purpose", "assistants", std::nullopt, ""},
                                      {"file", data, std::string("dashes.txt"), "text/plain"}});
  auto ok = SendRaw(FilesHead(body.size(), b70) + body);
  ASSERT_EQ(ok.status, 200) << Describe(ok);
  EXPECT_TRUE(client().Get("/v1/files/" + ok.Field("id") + "/content").body == data);
}

TEST_F(HostileTest, AHundredThousandPartsInOneFormAreRefused) {
  std::string body;
  for (int i = 0; i < 100000; ++i) {
    body += "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"f" + std::to_string(i) +
            "\"\r\n\r\n\r\n";
  }
  body += "--" + kBoundary + "--\r\n";
  auto r = SendRaw(FilesHead(body.size()) + body);
  ExpectError(r, 400,
              "Could not parse multipart form: more than 1000 parts");
  WaitUntilIdle();
  ExpectNothingStored();
}

TEST_F(HostileTest, PreambleAndEpilogueJunkIsIgnored) {
  const std::string data = RandomBytes(5000, 8);
  const std::string form = FileForm(data, "junk.bin");
  const std::string junk = "junk --" + kBoundary.substr(0, 10) + " \r\n--not-it\r\n" +
                           RandomBytes(3000, 9);
  const std::string body = junk + "\r\n" + form + RandomBytes(3000, 10) + "\r\n--" + kBoundary +
                           "\r\nmore junk";
  auto r = SendRaw(FilesHead(body.size()) + body);
  ASSERT_EQ(r.status, 200) << Describe(r);
  EXPECT_EQ(Int(JsonObject(r), "bytes"), static_cast<std::int64_t>(data.size()));
  EXPECT_TRUE(client().Get("/v1/files/" + r.Field("id") + "/content").body == data);
}

// --- Slow and vanishing clients -----------------------------------------------------------

class HostileTimeoutTest : public HostileTest {
 protected:
  void SetUp() override {
    TestServerOptions o;
    o.server.header_timeout = std::chrono::seconds(1);
    o.server.idle_timeout = std::chrono::seconds(1);
    o.server.keepalive_timeout = std::chrono::seconds(1);
    o.server.max_connections = 8;
    Restart(o);
  }
};

TEST_F(HostileTimeoutTest, StallsMidHeaderAndMidBodyTimeOutAndFreeTheirSlots) {
  const std::string body = FileForm(RandomBytes(100000, 4));
  std::vector<std::unique_ptr<RawConnection>> stalled;
  for (int i = 0; i < 8; ++i) {
    auto c = std::make_unique<RawConnection>(server().port());
    ASSERT_TRUE(c->connected());
    if (i % 2 == 0) {
      ASSERT_TRUE(c->Send("GET /v1/files HTTP/1.1\r\nHost: x\r\nX-Slow: "));
    } else {
      ASSERT_TRUE(c->Send(FilesHead(body.size()) + body.substr(0, body.size() / 2)));
    }
    stalled.push_back(std::move(c));
  }
  // Every stalled connection is closed by the server; none is answered with a success.
  for (auto& c : stalled) {
    auto r = c->ReadResponse();
    EXPECT_NE(r.status, 200) << Describe(r);
    EXPECT_TRUE(c->WaitForClose());
  }
  // The slots are free again: a normal client is served.
  ExpectServerFine();
  EXPECT_EQ(client().Get("/v1/files").status, 200);
  WaitUntilIdle();
  ExpectNothingStored();
}

// Bytes a download can leave in flight before it must wait for the client: the most the
// kernel lets the two socket buffers grow to, plus room.
std::size_t SocketBuffersMax() {
  auto third = [](const char* path) {
    std::ifstream in(path);
    std::size_t min = 0, def = 0, max = 0;
    in >> min >> def >> max;
    return max;
  };
  return third("/proc/sys/net/ipv4/tcp_rmem") + third("/proc/sys/net/ipv4/tcp_wmem");
}

// Polls until a request is in progress on the server (the one just sent).
void WaitForInFlight(TestServer& server) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (server.metrics().in_flight.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // a poll, not a guess
  }
  ASSERT_NE(server.metrics().in_flight.load(), 0);
}

// A client that asks for a file and never reads it: once the socket buffers are full the
// download waits for the socket, and the idle timeout (1 s here) ends it and frees the slot.
TEST_F(HostileTimeoutTest, DownloadToAClientThatStopsReadingTimesOut) {
  const std::size_t size = SocketBuffersMax() + (8 << 20);
  if (size > (400u << 20)) GTEST_SKIP() << "socket buffers of " << size << " bytes";
  const std::string data = RandomBytes(size, 10);
  auto f = MustCreateFile(client(), data);
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.Send("GET /v1/files/" + Str(f, "id") + "/content HTTP/1.1\r\nHost: x\r\n\r\n"));
  WaitForInFlight(server());
  WaitUntilIdle();  // the server gave up on the download
  const std::int64_t sent = server().metrics().bytes_sent.load();
  EXPECT_LT(sent, static_cast<std::int64_t>(size)) << "the whole file went";
  // What reaches the client is a body cut short, then the end of the connection.
  auto r = conn.ReadResponse();
  EXPECT_EQ(r.status, 0) << Describe(r);
  EXPECT_FALSE(r.transport_error.empty());
  ExpectServerFine();
}

// The idle timeout is about a stall, not a slow transfer: a body that keeps coming, a slice
// every 100 ms, for well over the timeout (1 s here) is read to its end and stored.
TEST_F(HostileTimeoutTest, ASlowButSteadyBodyIsNotCutByTheIdleTimeout) {
  const std::string data = RandomBytes(3 << 20, 12);
  const std::string body = FileForm(data);
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.Send(FilesHead(body.size())));
  const std::size_t slices = 25;  // 2.5 s in all
  const std::size_t slice = body.size() / slices + 1;
  for (std::size_t at = 0; at < body.size(); at += slice) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the client's own pace
    ASSERT_TRUE(conn.Send(std::string_view(body).substr(at, slice)));
  }
  auto r = conn.ReadResponse();
  ASSERT_EQ(r.status, 200) << Describe(r);
  const std::string id = Str(JsonObject(r), "id");
  EXPECT_EQ(client().Get("/v1/files/" + id + "/content").body, data);
}

// The same for a download: a reader that keeps reading, slowly, for well over the idle timeout
// gets every byte (its small receive buffer makes the server wait for the socket again and
// again).
TEST_F(HostileTimeoutTest, ASlowButSteadyReaderGetsTheWholeDownload) {
  const std::string data = RandomBytes(8 << 20, 13);
  auto f = MustCreateFile(client(), data);
  const int fd = ConnectLoopback(server().port(), /*receive_buffer=*/64 * 1024);
  ASSERT_GE(fd, 0);
  const std::string get =
      "GET /v1/files/" + Str(f, "id") + "/content HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(fd, get.data(), get.size(), MSG_NOSIGNAL), static_cast<ssize_t>(get.size()));
  std::string received;
  std::vector<char> buf(64 * 1024);  // 64 KiB per 20 ms: over 2.5 s for the whole file
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) break;  // the server closes after the whole answer only if it must
    received.append(buf.data(), static_cast<std::size_t>(n));
    const std::size_t head_end = received.find("\r\n\r\n");
    if (head_end != std::string::npos && received.size() - head_end - 4 >= data.size()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the reader's own pace
  }
  ::close(fd);
  EXPECT_GT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2000))
      << "the reader was meant to take longer than the idle timeout";
  const std::size_t head_end = received.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos);
  EXPECT_EQ(received.substr(0, 15), "HTTP/1.1 200 OK");
  EXPECT_TRUE(received.substr(head_end + 4) == data)
      << "got " << received.size() - head_end - 4 << " body bytes of " << data.size();
}

// A client that reads a little of a download and vanishes: the server sees the reset on its
// next send, ends the request, and serves others.
TEST_F(HostileTest, DownloadReaderThatVanishesMidBodyEndsTheRequest) {
  const std::size_t size = SocketBuffersMax() + (8 << 20);
  if (size > (400u << 20)) GTEST_SKIP() << "socket buffers of " << size << " bytes";
  const std::string data = RandomBytes(size, 11);
  auto f = MustCreateFile(client(), data);
  for (int round = 0; round < 3; ++round) {
    const int fd = ConnectLoopback(server().port());
    ASSERT_GE(fd, 0);
    const std::string get =
        "GET /v1/files/" + Str(f, "id") + "/content HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(::send(fd, get.data(), get.size(), MSG_NOSIGNAL), static_cast<ssize_t>(get.size()));
    std::vector<char> buf(1 << 20);
    std::size_t got = 0;
    while (got < buf.size()) {
      const ssize_t n = ::recv(fd, buf.data() + got, buf.size() - got, 0);
      ASSERT_GT(n, 0);
      got += static_cast<std::size_t>(n);
    }
    const linger reset{1, 0};  // close with a reset, unread bytes and all
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(fd);
    WaitUntilIdle();
  }
  ExpectServerFine();
  EXPECT_EQ(client().Get("/v1/files/" + Str(f, "id") + "/content").body, data);
}

TEST_F(HostileTest, HundredsOfIdleConnectionsDoNotStarveOthers) {
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 300; ++i) {
    auto c = std::make_unique<RawConnection>(server().port());
    ASSERT_TRUE(c->connected()) << i;
    // Half send a partial header, half a partial body; all then go quiet.
    if (i % 2 == 0) {
      ASSERT_TRUE(c->Send("GET /v1/files HTTP/1.1\r\nHo"));
    } else {
      ASSERT_TRUE(c->Send(FilesHead(1000) + "--" + kBoundary));
    }
    idle.push_back(std::move(c));
  }
  // Normal clients are answered meanwhile: a file goes in and comes back.
  for (int i = 0; i < 20; ++i) {
    const std::string data = "served " + std::to_string(i);
    auto f = MustCreateFile(client(), data);
    EXPECT_EQ(client().Get("/v1/files/" + Str(f, "id") + "/content").body, data);
  }
  idle.clear();  // the idle clients give up
  WaitUntilIdle();
  EXPECT_EQ(ListedFiles().size(), 20u);
}

TEST_F(HostileTest, DisconnectMidPartStoresNothing) {
  const std::string up = MustCreateUpload(client(), 4 << 20);
  const std::string data = RandomBytes(4 << 20, 6);
  const std::string form =
      BuildMultipart({{"data", data, std::string("blob"), "application/octet-stream"}}, kBoundary);
  {
    RawConnection conn(server().port());
    ASSERT_TRUE(conn.Send("POST /v1/uploads/" + up +
                          "/parts HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                          "boundary=" +
                          kBoundary + "\r\nContent-Length: " + std::to_string(form.size()) +
                          "\r\n\r\n" + form.substr(0, form.size() - 1000)));
  }  // gone, 1000 bytes short
  WaitUntilIdle();
  auto parts = client().Get("/v1/uploads/" + up + "/parts");
  ASSERT_EQ(parts.status, 200) << Describe(parts);
  EXPECT_TRUE(ExpectListShape(JsonObject(parts)).empty());
  // The partial part's bytes are gone at once, not left for a sweep.
  EXPECT_TRUE(server().BlobFiles().empty()) << server().BlobFiles().size() << " blob files";
  // The upload is still usable: the part sent again completes it.
  const std::string part = MustAddPart(client(), up, data);
  auto c = client().Complete(up, {part});
  ASSERT_EQ(c.status, 200) << Describe(c);
}

// --- Names and ids ------------------------------------------------------------------------

TEST_F(HostileTest, HostileFilenamesAreDisplayTextServedWithASafeDisposition) {
  struct Case {
    std::string sent;      // the filename parameter as it goes on the wire
    std::string stored;    // the filename the API answers with
    std::string fallback;  // the ASCII filename="…" of Content-Disposition
  };
  const std::vector<Case> cases = {
      {"../../etc/passwd", "../../etc/passwd", "../../etc/passwd"},
      {"/etc/shadow", "/etc/shadow", "/etc/shadow"},
      {"..\\\\..\\\\boot.ini", "..\\..\\boot.ini", ".._.._boot.ini"},
      {std::string("a\0b.txt", 7), std::string("a\0b.txt", 7), "a_b.txt"},
      {"a%0D%0AX-Injected: 1.txt", "a\r\nX-Injected: 1.txt", "a__X-Injected: 1.txt"},
      {"evil\xE2\x80\xAEtxt.exe", "evil\xE2\x80\xAEtxt.exe", "evil___txt.exe"},
      {"say %22hi%22.txt", "say \"hi\".txt", "say _hi_.txt"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.stored);
    const std::string body = "--" + kBoundary +
                             "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n"
                             "assistants\r\n--" +
                             kBoundary + "\r\nContent-Disposition: form-data; name=\"file\"; "
                             "filename=\"" +
                             c.sent + "\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--" +
                             kBoundary + "--\r\n";
    auto r = SendRaw(FilesHead(body.size()) + body);
    ASSERT_EQ(r.status, 200) << Describe(r);
    json::object f = JsonObject(r);
    EXPECT_EQ(Str(f, "filename"), c.stored);
    auto got = client().Get("/v1/files/" + Str(f, "id"));
    EXPECT_EQ(Str(JsonObject(got), "filename"), c.stored);
    auto content = client().Get("/v1/files/" + Str(f, "id") + "/content");
    ASSERT_EQ(content.status, 200);
    EXPECT_EQ(content.body, "hello");
    EXPECT_TRUE(content.Header("x-injected").empty());
    const std::string disposition = content.Header("content-disposition");
    EXPECT_EQ(disposition.rfind("attachment; filename=\"" + c.fallback + "\"; filename*=UTF-8''",
                                0),
              0u)
        << disposition;
    for (char ch : disposition) {
      EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << "byte " << static_cast<int>(ch) << " in "
                                           << disposition;
    }
  }
  // Nothing was written outside the blob directory under any of those names.
  for (const auto& path : server().BlobFiles()) {
    EXPECT_EQ(path.find(".."), std::string::npos) << path;
  }
  EXPECT_FALSE(std::filesystem::exists(server().dir() / "etc"));
}

TEST_F(HostileTest, EncodedTraversalInPathIdsIsUnknown) {
  const auto f = MustCreateFile(client(), "secret");
  const std::string up = MustCreateUpload(client(), 10);
  struct Case {
    std::string target;
    long status;
    std::string message;
    std::optional<std::string> param;
  };
  const std::vector<Case> cases = {
      {"/v1/files/..%2F..%2Fetc%2Fpasswd", 404, "No such File object: ../../etc/passwd", "id"},
      {"/v1/files/%2e%2e/content", 404, "No such File object: ..", "id"},
      {"/v1/files/..%5C..%5Cblobs/content", 404, "No such File object: ..\\..\\blobs", "id"},
      {"/v1/files/" + Str(f, "id") + "%00", 404,
       "No such File object: " + Str(f, "id") + std::string(1, '\0'), "id"},
      {"/v1/uploads/..%2F" + up, 404, "No such Upload object: ../" + up, "upload_id"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.target);
    auto r = client().Get(c.target);
    ExpectError(r, c.status, c.message, c.param);
  }
  // Deleting through a traversal touches nothing.
  auto d = client().Request("DELETE", "/v1/files/..%2F" + Str(f, "id"));
  ExpectError(d, 404, "No such File object: ../" + Str(f, "id"), "id");
  EXPECT_EQ(client().Get("/v1/files/" + Str(f, "id") + "/content").body, "secret");
}

}  // namespace
}  // namespace fileport::testing

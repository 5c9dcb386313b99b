// End-to-end: the streaming transport (API.md §3): chunked bodies, Expect: 100-continue (and
// an early 413 before the body is sent), keep-alive, and the operational routes.
#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "e2e/test_server.h"

namespace fileport::testing {
namespace {
namespace json = boost::json;

using TransportTest = E2eTest;

const std::string kBoundary = "----fileport-e2e-boundary";

std::string FileForm(const std::string& data, const std::string& filename,
                     const std::string& purpose) {
  return BuildMultipart(
      {{"file", data, filename, "text/plain"}, {"purpose", purpose, std::nullopt, ""}}, kBoundary);
}

// `body` in chunks of `chunk` bytes, as Transfer-Encoding: chunked.
std::string Chunked(const std::string& body, std::size_t chunk) {
  std::string out;
  char size[32];
  for (std::size_t i = 0; i < body.size(); i += chunk) {
    const std::size_t n = std::min(chunk, body.size() - i);
    std::snprintf(size, sizeof size, "%zx\r\n", n);
    out += size;
    out.append(body, i, n);
    out += "\r\n";
  }
  out += "0\r\n\r\n";
  return out;
}

TEST_F(TransportTest, ChunkedFileUploadWithoutContentLength) {
  const std::string data = RandomBytes(2 * 1024 * 1024 + 5, 21);
  const std::string body = FileForm(data, "chunked.bin", "assistants");
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.connected());
  ASSERT_TRUE(
      conn.Send("POST /v1/files HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                "Content-Type: multipart/form-data; boundary=" +
                kBoundary + "\r\n\r\n"));
  ASSERT_TRUE(conn.Send(Chunked(body, 65536 + 3)));
  auto r = conn.ReadResponse();
  ASSERT_EQ(r.status, 200) << Describe(r);
  json::object f = JsonObject(r);
  ExpectFileShape(f);
  EXPECT_EQ(Int(f, "bytes"), static_cast<std::int64_t>(data.size()));
  EXPECT_EQ(Str(f, "filename"), "chunked.bin");
  auto c = client().Get("/v1/files/" + Str(f, "id") + "/content");
  EXPECT_TRUE(c.body == data) << c.body.size();
}

TEST_F(TransportTest, ChunkedFileOverTheLimitIs413AndLeavesNothing) {
  TestServerOptions o;
  o.service.max_file_bytes = 1000;
  Restart(o);
  const std::string body = FileForm(std::string(5000, 'c'), "big.txt", "assistants");
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.connected());
  ASSERT_TRUE(
      conn.Send("POST /v1/files HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                "Content-Type: multipart/form-data; boundary=" +
                kBoundary + "\r\n\r\n" + Chunked(body, 512)));
  auto r = conn.ReadResponse();
  ExpectErrorWhere(
      r, 413, [](const std::string& m) { return !m.empty(); }, "file");
  server().sweeper().RunOnce();
  EXPECT_TRUE(server().BlobFiles().empty());
  EXPECT_TRUE(ExpectListShape(JsonObject(client().Get("/v1/files"))).empty());
}

TEST_F(TransportTest, ChunkedPartAndChunkedJson) {
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.connected());
  const std::string json_body =
      R"({"bytes":5,"filename":"a.txt","mime_type":"text/plain","purpose":"assistants"})";
  ASSERT_TRUE(
      conn.Send("POST /v1/uploads HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                "Content-Type: application/json\r\n\r\n" +
                Chunked(json_body, 7)));
  auto u = conn.ReadResponse();
  ASSERT_EQ(u.status, 200) << Describe(u);
  const std::string up = u.Field("id");
  const std::string form = BuildMultipart(
      {{"data", "hello", std::string("blob"), "application/octet-stream"}}, kBoundary);
  ASSERT_TRUE(conn.Send("POST /v1/uploads/" + up +
                        "/parts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                        "Content-Type: multipart/form-data; boundary=" +
                        kBoundary + "\r\n\r\n" + Chunked(form, 10)));
  auto p = conn.ReadResponse();
  ASSERT_EQ(p.status, 200) << Describe(p);
  auto c = client().Complete(up, {p.Field("id")});
  ASSERT_EQ(c.status, 200) << Describe(c);
}

TEST_F(TransportTest, ExpectContinueIsAnsweredBeforeTheBody) {
  const std::string body = FileForm("continued", "c.txt", "assistants");
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.connected());
  ASSERT_TRUE(
      conn.Send("POST /v1/files HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                "Content-Type: multipart/form-data; boundary=" +
                kBoundary + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n"));
  auto cont = conn.ReadResponse();
  ASSERT_EQ(cont.status, 100) << Describe(cont);
  ASSERT_TRUE(conn.Send(body));
  auto r = conn.ReadResponse();
  ASSERT_EQ(r.status, 200) << Describe(r);
  EXPECT_EQ(Int(JsonObject(r), "bytes"), 9);

  // The same for a part and for a JSON body.
  const std::string json_body =
      R"({"bytes":3,"filename":"a.txt","mime_type":"text/plain","purpose":"vision"})";
  ASSERT_TRUE(
      conn.Send("POST /v1/uploads HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: "
                "application/json\r\nContent-Length: " +
                std::to_string(json_body.size()) + "\r\n\r\n"));
  ASSERT_EQ(conn.ReadResponse().status, 100);
  ASSERT_TRUE(conn.Send(json_body));
  auto u = conn.ReadResponse();
  ASSERT_EQ(u.status, 200) << Describe(u);
  const std::string form =
      BuildMultipart({{"data", "abc", std::string("blob"), "application/octet-stream"}}, kBoundary);
  ASSERT_TRUE(conn.Send("POST /v1/uploads/" + u.Field("id") +
                        "/parts HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                        "Content-Type: multipart/form-data; boundary=" +
                        kBoundary + "\r\nContent-Length: " + std::to_string(form.size()) +
                        "\r\n\r\n"));
  ASSERT_EQ(conn.ReadResponse().status, 100);
  ASSERT_TRUE(conn.Send(form));
  EXPECT_EQ(conn.ReadResponse().status, 200);
}

TEST_F(TransportTest, ExpectContinueThroughCurl) {
  const std::string data = RandomBytes(200000, 5);
  auto r = client().PostForm("/v1/files",
                             {{"purpose", "assistants", std::nullopt, ""},
                              {"file", data, std::string("e.bin"), "application/octet-stream"}},
                             {"Expect: 100-continue"});
  ASSERT_EQ(r.status, 200) << Describe(r);
  EXPECT_TRUE(client().Get("/v1/files/" + r.Field("id") + "/content").body == data);
}

TEST_F(TransportTest, ExpectContinueOverTheLimitIs413BeforeTheBodyIsSent) {
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.connected());
  // 10 GiB announced; not one body byte is sent.
  ASSERT_TRUE(
      conn.Send("POST /v1/files HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                "Content-Type: multipart/form-data; boundary=" +
                kBoundary + "\r\nContent-Length: 10737418240\r\n\r\n"));
  auto r = conn.ReadResponse();
  ExpectErrorWhere(
      r, 413, [](const std::string& m) { return m.find("512") != std::string::npos; }, "file");
  EXPECT_TRUE(conn.WaitForClose()) << "the unread body cannot be followed by another request";

  // A part over 64 MiB is refused the same way.
  const std::string up = MustCreateUpload(client(), 8LL << 30);
  RawConnection conn2(server().port());
  ASSERT_TRUE(conn2.connected());
  ASSERT_TRUE(conn2.Send("POST /v1/uploads/" + up +
                         "/parts HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                         "Content-Type: multipart/form-data; boundary=" +
                         kBoundary + "\r\nContent-Length: 1073741824\r\n\r\n"));
  auto p = conn2.ReadResponse();
  ExpectErrorWhere(
      p, 413, [](const std::string& m) { return !m.empty(); }, "data");

  // A part to an unknown upload is refused before the body too.
  RawConnection conn3(server().port());
  ASSERT_TRUE(
      conn3.Send("POST /v1/uploads/upload_nope/parts HTTP/1.1\r\nHost: x\r\n"
                 "Expect: 100-continue\r\nContent-Type: multipart/form-data; boundary=" +
                 kBoundary + "\r\nContent-Length: 1000000\r\n\r\n"));
  ExpectError(conn3.ReadResponse(), 404, "No such Upload object: upload_nope", "upload_id");

  server().sweeper().RunOnce();
  EXPECT_TRUE(server().BlobFiles().empty());
}

TEST_F(TransportTest, KeepAliveCarriesManyRequestsOnOneConnection) {
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.connected());
  auto send = [&](const std::string& request) {
    EXPECT_TRUE(conn.Send(request));
    return conn.ReadResponse();
  };
  EXPECT_EQ(send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
  const std::string body = FileForm("kept alive", "k.txt", "assistants");
  auto created = send(
      "POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
      "boundary=" +
      kBoundary + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  ASSERT_EQ(created.status, 200) << Describe(created);
  const std::string id = created.Field("id");
  auto content = send("GET /v1/files/" + id + "/content HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(content.status, 200);
  EXPECT_EQ(content.body, "kept alive");
  auto ranged =
      send("GET /v1/files/" + id + "/content HTTP/1.1\r\nHost: x\r\nRange: bytes=5-\r\n\r\n");
  EXPECT_EQ(ranged.status, 206);
  EXPECT_EQ(ranged.body, "alive");
  // An error with a small body does not cost the connection.
  auto missing = send(
      "POST /v1/nope HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
      "2\r\n\r\n{}");
  ExpectError(missing, 404, "Invalid URL (POST /v1/nope)");
  auto notfound = send("GET /v1/files/file-nope HTTP/1.1\r\nHost: x\r\n\r\n");
  ExpectError(notfound, 404, "No such File object: file-nope", "id");
  auto list = send("GET /v1/files HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(ExpectListShape(JsonObject(list)), std::vector<std::string>{id});
  auto del = send("DELETE /v1/files/" + id + " HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(del.status, 200) << Describe(del);
  auto last = send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(last.status, 200);
  EXPECT_TRUE(conn.WaitForClose());
}

// An answer larger than the socket takes at once: a list of 10,000 files, over 5 MB, more than
// the largest send buffer Linux gives a TCP socket by default (tcp_wmem's 4 MiB), to a client
// whose receive window is a few KiB. The worker that built it sends what fits and the loop
// sends the rest. The client gets every byte, and the connection carries the next request.
TEST_F(TransportTest, AnAnswerLargerThanTheSocketTakesArrivesWholeAndKeepsTheConnection) {
  constexpr int kFiles = 10000;
  std::vector<std::string> ids;
  for (int i = 0; i < kFiles; ++i) {
    File f;
    f.id = "file-big-list-" + std::to_string(100000 + i);
    f.project = "default";
    f.purpose = "batch";
    f.bytes = 0;
    f.created_at = 1700000000 + i;
    f.filename = std::string(400, 'a' + i % 26) + ".jsonl";  // about 500 bytes of JSON each
    f.mime_type = "application/jsonl";
    const Status inserted = server().meta().InsertFile(f);
    ASSERT_TRUE(inserted.ok()) << inserted.ToString();
    ids.push_back(f.id);
  }
  std::reverse(ids.begin(), ids.end());  // listed newest (greatest id) first
  RawConnection conn(server().port(), std::chrono::seconds(20), /*receive_buffer=*/4096);
  ASSERT_TRUE(conn.connected());
  ASSERT_TRUE(conn.Send("GET /v1/files?limit=" + std::to_string(kFiles) +
                        " HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto list = conn.ReadResponse();
  ASSERT_EQ(list.status, 200) << list.transport_error;
  EXPECT_GT(list.body.size(), 500u * kFiles);
  EXPECT_EQ(ExpectListShape(JsonObject(list)), ids);
  ASSERT_TRUE(conn.Send("GET /v1/files/" + ids.back() + " HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto one = conn.ReadResponse();
  ASSERT_EQ(one.status, 200) << one.transport_error;
  EXPECT_EQ(JsonObject(one).at("filename").as_string(), std::string(400, 'a') + ".jsonl");
}

// A download of several turns' worth (a worker turn sends 16 MiB, more while no other task
// waits for a worker) to a client with a small receive window that reads as fast as the bytes
// come: the socket fills again and again, and a second client keeps asking meanwhile, so turns
// end at their share or go on. Every byte arrives, in order, and both connections carry their
// next requests.
TEST_F(TransportTest, ADownloadToAFastReaderWithASmallWindowArrivesWhole) {
  const std::string data = RandomBytes((40 << 20) + 3, 41);
  const std::string id = Str(MustCreateFile(client(), data), "id");
  std::atomic<bool> done{false};
  int other_answers = 0;
  std::string other_failure;  // the other client's first wrong answer, if any
  std::thread other([&] {
    RawConnection conn(server().port());
    while (!done.load()) {
      if (!conn.Send("GET /v1/files/" + id + " HTTP/1.1\r\nHost: x\r\n\r\n")) {
        other_failure = "the server closed the other connection";
        return;
      }
      auto r = conn.ReadResponse();
      if (r.status != 200 || r.Field("id") != id) {
        other_failure = Describe(r);
        return;
      }
      other_answers++;
    }
  });
  RawConnection conn(server().port(), std::chrono::seconds(60), /*receive_buffer=*/16 * 1024);
  ASSERT_TRUE(conn.connected());
  ASSERT_TRUE(conn.Send("GET /v1/files/" + id + "/content HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto whole = conn.ReadResponse();
  done = true;
  other.join();
  ASSERT_EQ(whole.status, 200) << whole.transport_error;
  EXPECT_TRUE(whole.body == data) << whole.body.size() << " of " << data.size() << " bytes";
  EXPECT_EQ(other_failure, "");
  EXPECT_GT(other_answers, 0) << "the other client was meant to ask during the download";
  ASSERT_TRUE(conn.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto next = conn.ReadResponse();
  EXPECT_EQ(next.status, 200) << Describe(next);
  EXPECT_EQ(next.body, R"({"status":"ok"})");
}

// A client that asks one request after another is served by a worker that waits for each next
// request on the socket itself, with the socket out of the event loop's watch; whatever needs
// the loop again must put it back. Here: quick requests, then a download to a small receive
// window (the socket fills, and the loop waits for it to drain), then a request whose head
// comes in two pieces well apart (the loop reads the rest), then the end of the stream.
TEST_F(TransportTest, AConnectionAWorkerKeptGoesBackToTheLoopWheneverItMustWait) {
  const std::string data = RandomBytes((8 << 20) + 5, 43);
  const std::string id = Str(MustCreateFile(client(), data), "id");
  RawConnection conn(server().port(), std::chrono::seconds(60), /*receive_buffer=*/16 * 1024);
  ASSERT_TRUE(conn.connected());
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(conn.Send("GET /v1/files/" + id + " HTTP/1.1\r\nHost: x\r\n\r\n"));
      auto meta = conn.ReadResponse();
      ASSERT_EQ(meta.status, 200) << Describe(meta);
      EXPECT_EQ(meta.Field("id"), id);
    }
    ASSERT_TRUE(conn.Send("GET /v1/files/" + id + "/content HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto whole = conn.ReadResponse();
    ASSERT_EQ(whole.status, 200) << whole.transport_error;
    EXPECT_TRUE(whole.body == data) << whole.body.size() << " of " << data.size() << " bytes";
    const std::string get = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_TRUE(conn.Send(get.substr(0, 9)));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // past a worker's wait
    ASSERT_TRUE(conn.Send(get.substr(9)));
    auto health = conn.ReadResponse();
    EXPECT_EQ(health.status, 200) << Describe(health);
    EXPECT_EQ(health.body, R"({"status":"ok"})");
  }
  ASSERT_TRUE(conn.ShutdownWrite());
  EXPECT_TRUE(conn.WaitForClose());
}

// Requests sent back to back, without waiting for the answers (HTTP/1.1 pipelining): each is
// answered once, in order, with its own bytes. More of them than one worker serves in a row
// while others wait for a worker, and of every kind of answer: JSON, a zero-copy download, a
// range, an error.
TEST_F(TransportTest, PipelinedRequestsAreAnsweredInOrder) {
  const std::string data = RandomBytes(200 * 1024 + 7, 33);
  auto created = client().CreateFile(data, "p.bin", "assistants");
  ASSERT_EQ(created.status, 200) << Describe(created);
  const std::string id = created.Field("id");
  const std::string get = "GET /v1/files/" + id + " HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string content = "GET /v1/files/" + id + "/content HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string range =
      "GET /v1/files/" + id + "/content HTTP/1.1\r\nHost: x\r\nRange: bytes=100-199\r\n\r\n";
  const std::string missing = "GET /v1/files/file-nope HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::vector<std::string> kinds = {get, content, range, missing};
  constexpr int kRequests = 41;
  std::string all;
  for (int i = 0; i < kRequests; ++i) all += kinds[i % kinds.size()];
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.connected());
  ASSERT_TRUE(conn.Send(all));
  for (int i = 0; i < kRequests; ++i) {
    auto r = conn.ReadResponse();
    switch (i % kinds.size()) {
      case 0:
        ASSERT_EQ(r.status, 200) << i << " " << Describe(r);
        EXPECT_EQ(r.Field("id"), id) << i;
        break;
      case 1:
        ASSERT_EQ(r.status, 200) << i << " " << Describe(r);
        EXPECT_TRUE(r.body == data) << i << ": " << r.body.size() << " bytes";
        break;
      case 2:
        ASSERT_EQ(r.status, 206) << i << " " << Describe(r);
        EXPECT_EQ(r.body, data.substr(100, 100)) << i;
        break;
      case 3:
        ExpectError(r, 404, "No such File object: file-nope", "id");
        break;
    }
  }
  // The connection still carries a request sent on its own.
  ASSERT_TRUE(conn.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(conn.ReadResponse().status, 200);
}

// A worker that serves a connection's pipelined requests one after another hands the
// connection back to the loop once it has served 16 in a row while another request waits for
// a worker: a client that keeps its pipeline full does not hold the pool's only worker until
// the pipeline runs dry. The order is the server's own: the waiting request asks for /metrics,
// whose count of requests begun says how many of the pipeline's went before it. When the
// waiting request reached the pool's queue cannot be seen from here, so the bound is half the
// pipeline rather than 16 past that moment (21-92 were measured; without the cap, 4,000).
TEST_F(TransportTest, ARequestWaitingForTheOnlyWorkerIsServedBeforeAPipelineRunsDry) {
  TestServerOptions options;
  options.server.workers = 1;
  Restart(options);
  constexpr int kPipelined = 4000;
  RawConnection pipelining(server().port());
  RawConnection waiting(server().port());
  ASSERT_TRUE(pipelining.connected() && waiting.connected());
  const std::int64_t begun_before = server().metrics().requests_total.load();
  std::string all;
  for (int i = 0; i < kPipelined; ++i) all += "GET /v1/files?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n";
  std::atomic<int> answered{0};
  std::atomic<bool> failed{false};
  std::string failure;  // written by the reader only, read after it is joined
  std::thread reader([&] {
    for (int i = 0; i < kPipelined; ++i) {
      auto r = pipelining.ReadResponse();
      if (r.status != 200) {
        failure = "answer " + std::to_string(i) + ": " + Describe(r);
        failed.store(true);
        return;
      }
      answered.store(i + 1);
    }
  });
  std::atomic<bool> sent{false};
  std::thread writer([&] { sent.store(pipelining.Send(all)); });
  // The worker is serving the pipeline once its first answers are back.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (answered.load() < 20 && !failed.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  const int answered_before = answered.load();
  // Nothing returns before both threads are joined.
  const bool asked = waiting.Send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  const HttpResponse m = asked ? waiting.ReadResponse() : HttpResponse{};
  writer.join();
  reader.join();
  ASSERT_TRUE(asked);
  EXPECT_TRUE(sent.load());
  ASSERT_EQ(failure, "");
  EXPECT_EQ(answered.load(), kPipelined);
  ASSERT_GE(answered_before, 20);
  ASSERT_EQ(m.status, 200) << Describe(m);
  const std::string key = "\nfileport_requests_total ";
  const auto at = m.body.find(key);
  ASSERT_NE(at, std::string::npos) << m.body;
  const std::int64_t begun = std::stoll(m.body.substr(at + key.size()));
  // Requests begun by the time /metrics was served, less /metrics itself: the pipeline's.
  const std::int64_t pipeline_begun = begun - begun_before - 1;
  EXPECT_GE(pipeline_begun, answered_before);
  EXPECT_LT(pipeline_begun, kPipelined / 2)
      << "the waiting request was served only after most of the pipeline";
}

// Requests with bodies pipelined between requests without: a multipart file (Content-Length),
// a chunked JSON body and a Content-Length JSON body, each followed at once by the next
// request in the same write. Each body ends where its request says, and the request after it
// is read from the byte that follows.
TEST_F(TransportTest, PipelinedRequestsWithBodiesKeepTheirBoundaries) {
  const std::string data = RandomBytes(300 * 1024 + 3, 34);
  const std::string form = FileForm(data, "piped.bin", "assistants");
  const std::string json_body =
      R"({"bytes":5,"filename":"a.txt","mime_type":"text/plain","purpose":"assistants"})";
  const std::string list = "GET /v1/files?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string all =
      "POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=" +
      kBoundary + "\r\nContent-Length: " + std::to_string(form.size()) + "\r\n\r\n" + form + list +
      "POST /v1/uploads HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
      "Content-Type: application/json\r\n\r\n" +
      Chunked(json_body, 7) +
      "POST /v1/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(json_body.size()) + "\r\n\r\n" + json_body +
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.connected());
  ASSERT_TRUE(conn.Send(all));
  auto created = conn.ReadResponse();
  ASSERT_EQ(created.status, 200) << Describe(created);
  const std::string id = created.Field("id");
  EXPECT_EQ(created.Field("filename"), "piped.bin");
  auto listed = conn.ReadResponse();
  ASSERT_EQ(listed.status, 200) << Describe(listed);
  EXPECT_EQ(ExpectListShape(JsonObject(listed)), std::vector<std::string>{id});
  for (int i = 0; i < 2; ++i) {
    auto u = conn.ReadResponse();
    ASSERT_EQ(u.status, 200) << i << " " << Describe(u);
    EXPECT_EQ(u.Field("status"), "pending") << i;
    EXPECT_EQ(u.Field("filename"), "a.txt") << i;
  }
  auto health = conn.ReadResponse();
  EXPECT_EQ(health.status, 200) << Describe(health);
  EXPECT_EQ(health.body, R"({"status":"ok"})");
  auto content = client().Get("/v1/files/" + id + "/content");
  ASSERT_EQ(content.status, 200);
  EXPECT_TRUE(content.body == data) << content.body.size();
}

// The next request's head only partly there when the answer before it is sent: the rest,
// sent once that answer is read, completes it.
TEST_F(TransportTest, APipelinedHeadThatArrivesInPiecesIsStillOneRequest) {
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.connected());
  const std::string second = "GET /v1/files/file-nope HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(conn.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + second.substr(0, 20)));
  auto first = conn.ReadResponse();
  EXPECT_EQ(first.status, 200) << Describe(first);
  EXPECT_EQ(first.body, R"({"status":"ok"})");
  ASSERT_TRUE(conn.Send(second.substr(20)));
  ExpectError(conn.ReadResponse(), 404, "No such File object: file-nope", "id");
}

// A keep-alive client's next request, whenever it comes: at once (a worker idle enough waits
// for it on the socket for a moment), half at once and half after that moment, long after it,
// and the end of the stream instead of a request, at once and long after.
TEST_F(TransportTest, TheNextRequestIsServedWheneverItComes) {
  const std::string get = "GET /v1/files/file-nope HTTP/1.1\r\nHost: x\r\n\r\n";
  const auto later = std::chrono::milliseconds(30);  // well past a worker's wait for it
  for (const bool end_at_once : {true, false}) {
    SCOPED_TRACE(end_at_once ? "end of stream at once" : "end of stream later");
    RawConnection conn(server().port());
    ASSERT_TRUE(conn.connected());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(conn.Send(get));
      ExpectError(conn.ReadResponse(), 404, "No such File object: file-nope", "id");
    }
    ASSERT_TRUE(conn.Send(get.substr(0, 17)));
    std::this_thread::sleep_for(later);
    ASSERT_TRUE(conn.Send(get.substr(17)));
    ExpectError(conn.ReadResponse(), 404, "No such File object: file-nope", "id");
    std::this_thread::sleep_for(later);
    ASSERT_TRUE(conn.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto health = conn.ReadResponse();
    EXPECT_EQ(health.status, 200) << Describe(health);
    EXPECT_EQ(health.body, R"({"status":"ok"})");
    if (!end_at_once) std::this_thread::sleep_for(later);
    ASSERT_TRUE(conn.ShutdownWrite());
    EXPECT_TRUE(conn.WaitForClose());
  }
}

// A client that sends its requests and then ends its side of the connection gets every
// answer, and then the server closes.
TEST_F(TransportTest, PipelinedRequestsThenEndOfStreamAreAllAnswered) {
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.connected());
  std::string all;
  for (int i = 0; i < 3; ++i) all += "GET /v1/files?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(conn.Send(all));
  ASSERT_TRUE(conn.ShutdownWrite());
  for (int i = 0; i < 3; ++i) {
    auto r = conn.ReadResponse();
    EXPECT_EQ(r.status, 200) << i << " " << Describe(r);
    EXPECT_EQ(ExpectListShape(JsonObject(r)), std::vector<std::string>{}) << i;
  }
  EXPECT_TRUE(conn.WaitForClose());

  // A head cut short by the end of the stream is a malformed request, even when the parser has
  // taken every byte of it (here its request line).
  RawConnection cut(server().port());
  ASSERT_TRUE(cut.connected());
  ASSERT_TRUE(cut.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\n"));
  ASSERT_TRUE(cut.ShutdownWrite());
  EXPECT_EQ(cut.ReadResponse().status, 200);
  auto partial = cut.ReadResponse();
  EXPECT_EQ(partial.status, 400) << Describe(partial);
  EXPECT_EQ(partial.ErrorMessage(), "Malformed HTTP request: partial message");
  EXPECT_TRUE(cut.WaitForClose());
}

// A malformed request after a good one: the good one is answered, the bad one gets a 400 (a
// head over the limit a 431), and the connection closes (nothing after it can be trusted).
TEST_F(TransportTest, AMalformedPipelinedRequestIs400AfterTheGoodOneAndCloses) {
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.connected());
  ASSERT_TRUE(conn.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nTHIS IS NOT HTTP\r\n\r\n"
                        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(conn.ReadResponse().status, 200);
  auto bad = conn.ReadResponse();
  EXPECT_EQ(bad.status, 400) << Describe(bad);
  EXPECT_EQ(bad.Header("connection"), "close");
  EXPECT_TRUE(conn.WaitForClose());

  // A head over the limit after a good request: 431, and the connection closes.
  std::string big = "GET /v1/files HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; big.size() < 80 * 1024; ++i) {
    big += "X-Filler-" + std::to_string(i) + ": " + std::string(1000, 'f') + "\r\n";
  }
  RawConnection conn2(server().port());
  ASSERT_TRUE(conn2.connected());
  // The server may close before it has read the whole block.
  conn2.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + big + "\r\n");
  EXPECT_EQ(conn2.ReadResponse().status, 200);
  ExpectError(conn2.ReadResponse(), 431,
              "Request header fields are too large: the limit is 65536 bytes");
  EXPECT_TRUE(conn2.WaitForClose());
}

TEST_F(TransportTest, MalformedRequestIs400) {
  RawConnection conn(server().port());
  ASSERT_TRUE(conn.connected());
  ASSERT_TRUE(conn.Send("THIS IS NOT HTTP\r\n\r\n"));
  auto r = conn.ReadResponse();
  EXPECT_EQ(r.status, 400) << Describe(r);
  EXPECT_FALSE(r.Header("x-request-id").empty());
  // The server is still fine.
  EXPECT_EQ(client().Get("/healthz").status, 200);
}

// The value of one unlabelled metric in a /metrics answer, or -1 when it is missing.
long long MetricValue(const std::string& metrics, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const std::size_t at = metrics.find(key);
  if (at == std::string::npos) return -1;
  return std::stoll(metrics.substr(at + key.size()));
}

TEST_F(TransportTest, ConnectionsBetweenRequestsHoldNoBuffers) {
  // Six keep-alive connections upload a file of 3 MiB each at once, which takes two I/O
  // buffers per upload, and stay open. Once answered, none holds a buffer: they are back in
  // the pool, which keeps idle_io_buffers of them and frees the rest. Uploads on the same
  // connections, one after another, take them again and arrive whole.
  TestServerOptions o;
  o.server.idle_io_buffers = 3;
  Restart(o);
  const std::string data = RandomBytes(3 * 1024 * 1024 + 7, 33);
  const std::string body = FileForm(data, "pooled.bin", "assistants");
  const std::string head =
      "POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=" +
      kBoundary + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  const std::size_t half = body.size() / 2;
  auto metric = [&](const std::string& name) {
    auto m = client().Get("/metrics");
    EXPECT_EQ(m.status, 200) << Describe(m);
    return MetricValue(m.body, name);
  };
  std::vector<std::unique_ptr<RawConnection>> conns;
  for (int i = 0; i < 6; ++i) {
    conns.push_back(std::make_unique<RawConnection>(server().port()));
    ASSERT_TRUE(conns.back()->connected());
    ASSERT_TRUE(conns.back()->Send(head + body.substr(0, half)));
  }
  // Every upload has begun moving its body: twelve buffers are in use.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (metric("fileport_io_buffers_in_use") != 12) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the uploads never all began";
    std::this_thread::yield();
  }
  std::vector<std::string> ids;
  auto answered = [&](RawConnection& conn) {
    auto r = conn.ReadResponse();
    ASSERT_EQ(r.status, 200) << Describe(r);
    json::object f = JsonObject(r);
    EXPECT_EQ(Int(f, "bytes"), static_cast<std::int64_t>(data.size()));
    ids.push_back(Str(f, "id"));
  };
  for (auto& conn : conns) ASSERT_TRUE(conn->Send(body.substr(half)));
  for (auto& conn : conns) answered(*conn);
  EXPECT_EQ(metric("fileport_io_buffers_in_use"), 0);
  EXPECT_EQ(metric("fileport_io_buffers_idle"), 3);
  for (auto& conn : conns) {
    ASSERT_TRUE(conn->Send(head + body));
    answered(*conn);
  }
  EXPECT_EQ(metric("fileport_io_buffers_in_use"), 0);
  EXPECT_EQ(metric("fileport_io_buffers_idle"), 3);
  ASSERT_EQ(ids.size(), 12u);
  for (const std::string& id : ids) {
    auto c = client().Get("/v1/files/" + id + "/content");
    ASSERT_EQ(c.status, 200) << Describe(c);
    EXPECT_TRUE(c.body == data) << id << ": " << c.body.size() << " bytes";
  }
}

TEST_F(TransportTest, HealthReadinessAndMetrics) {
  auto h = client().Get("/healthz");
  EXPECT_EQ(h.status, 200) << Describe(h);
  ParseJson(h);
  auto r = client().Get("/readyz");
  EXPECT_EQ(r.status, 200) << Describe(r);
  ParseJson(r);
  MustCreateFile(client(), "m");
  auto m = client().Get("/metrics");
  EXPECT_EQ(m.status, 200) << Describe(m);
  EXPECT_EQ(m.Header("content-type").rfind("text/plain", 0), 0u) << m.Header("content-type");
  EXPECT_FALSE(m.Header("x-request-id").empty());
  EXPECT_NE(m.body.find("fileport_requests_total"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("# TYPE fileport_requests_total counter"), std::string::npos);
  EXPECT_NE(m.body.find("fileport_files_created_total 1"), std::string::npos) << m.body;
  // Health routes need no key even when keys exist.
  server().CreateKey("a");
  EXPECT_EQ(client().Get("/healthz").status, 200);
  EXPECT_EQ(client().Get("/readyz").status, 200);
}

TEST_F(TransportTest, ReadinessFailsWhenTheBlobStoreIsUnusable) {
  // The blob store's working directory disappears: the store is unreachable.
  std::filesystem::remove_all(server().blob_dir() / "tmp");
  auto r = client().Get("/readyz");
  EXPECT_EQ(r.status, 503) << Describe(r);
  ExpectErrorWhere(
      r, 503, [](const std::string& m) { return !m.empty(); }, std::nullopt, std::nullopt,
      "server_error");
  // 503s tell the SDKs when to retry, within their 60 s bound.
  const std::string ms = r.Header("retry-after-ms");
  const std::string s = r.Header("retry-after");
  ASSERT_FALSE(ms.empty());
  ASSERT_FALSE(s.empty());
  EXPECT_LE(std::stol(ms), 60000);
  EXPECT_LE(std::stol(s), 60);
  // Storage paths stay in the server's log.
  EXPECT_EQ(r.body.find(server().dir().string()), std::string::npos) << r.body;
  // The process itself is up.
  EXPECT_EQ(client().Get("/healthz").status, 200);
}

}  // namespace
}  // namespace fileport::testing

// The client SDK against a real fileport server in this process (tests/e2e/test_server.h):
// every method of files and uploads, auto-paging, streamed downloads, the chunked-upload
// helper on a 20 MiB file, and the mapping of the server's errors to ApiError kinds.
#include "client/client.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "common/crypto.h"
#include "e2e/test_server.h"

namespace fileport::client {
namespace {
namespace fs = std::filesystem;
using fileport::testing::TestServer;

std::string RandomBytes(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    std::uint64_t v = rng();
    for (std::size_t k = 0; k < 8 && i + k < n; ++k) s[i + k] = static_cast<char>(v >> (8 * k));
  }
  return s;
}

std::string Md5Hex(std::string_view data) {
  Md5 md5;
  md5.Update(std::span<const char>(data.data(), data.size()));
  auto d = md5.Final();
  return HexEncode(d);
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<TestServer>();
    ASSERT_TRUE(server_->ok());
    client_ = std::make_unique<Client>(MakeClient(""));
    dir_ = server_->dir() / "client-test";
    fs::create_directories(dir_);
  }

  Client MakeClient(const std::string& api_key) {
    ClientOptions o;
    o.base_url = server_->base_url() + "/v1";
    o.api_key = api_key;
    auto c = Client::Make(o);
    EXPECT_TRUE(c.ok());
    return std::move(c).value();
  }

  fs::path WriteTemp(const std::string& name, const std::string& data) {
    fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << data;
    return p;
  }

  Client& client() { return *client_; }

  std::unique_ptr<TestServer> server_;
  std::unique_ptr<Client> client_;
  fs::path dir_;
};

TEST_F(ClientTest, FilesCreateFromPathBytesAndStream) {
  auto from_path =
      client().files.create(FileInput::Path(WriteTemp("a.txt", "alpha")), "assistants");
  ASSERT_TRUE(from_path.ok()) << from_path.error().ToString();
  EXPECT_TRUE(from_path->id.starts_with("file-"));
  EXPECT_EQ(from_path->filename, "a.txt");
  EXPECT_EQ(from_path->bytes, 5);
  EXPECT_EQ(from_path->purpose, "assistants");
  EXPECT_EQ(from_path->status, "processed");
  EXPECT_FALSE(from_path->expires_at.has_value());

  std::string data = "{\"x\":1}\n";
  FileCreateOptions opts;
  opts.expires_after_seconds = 3600;
  auto from_bytes = client().files.create(FileInput::Bytes(data, "b.jsonl"), "batch", opts);
  ASSERT_TRUE(from_bytes.ok()) << from_bytes.error().ToString();
  EXPECT_EQ(from_bytes->filename, "b.jsonl");
  EXPECT_EQ(from_bytes->bytes, static_cast<std::int64_t>(data.size()));
  ASSERT_TRUE(from_bytes->expires_at.has_value());
  EXPECT_EQ(*from_bytes->expires_at, from_bytes->created_at + 3600);

  std::istringstream unsized("streamed without a size");
  auto from_stream = client().files.create(FileInput::Stream(unsized, "s.txt"), "user_data");
  ASSERT_TRUE(from_stream.ok()) << from_stream.error().ToString();
  EXPECT_EQ(from_stream->bytes, 23);
  std::istringstream sized("sized");
  auto from_sized = client().files.create(FileInput::Stream(sized, "t.txt", 5), "vision");
  ASSERT_TRUE(from_sized.ok()) << from_sized.error().ToString();
  EXPECT_EQ(client().files.content(from_sized->id).value(), "sized");
  EXPECT_EQ(client().files.content(from_stream->id).value(), "streamed without a size");

  auto async =
      client().files.create_async(FileInput::Path(dir_ / "a.txt", "renamed.txt"), "assistants");
  auto done = async.get();
  ASSERT_TRUE(done.ok()) << done.error().ToString();
  EXPECT_EQ(done->filename, "renamed.txt");
}

TEST_F(ClientTest, FilesRetrieveAndDelete) {
  auto f = client().files.create(FileInput::Bytes("x", "x.txt"), "assistants");
  ASSERT_TRUE(f.ok());
  auto got = client().files.retrieve(f->id);
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_EQ(got->id, f->id);
  EXPECT_EQ(got->filename, "x.txt");
  auto del = client().files.del(f->id);
  ASSERT_TRUE(del.ok()) << del.error().ToString();
  EXPECT_EQ(del->id, f->id);
  EXPECT_TRUE(del->deleted);
  auto again = client().files.retrieve(f->id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ErrorKind::kNotFound);
  auto del_again = client().files.del(f->id);
  ASSERT_FALSE(del_again.ok());
  EXPECT_EQ(del_again.error().kind, ErrorKind::kNotFound);
}

TEST_F(ClientTest, FilesListFiltersAndOrders) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto f = client().files.create(FileInput::Bytes("d", "f" + std::to_string(i) + ".txt"),
                                   i == 1 ? "vision" : "assistants");
    ASSERT_TRUE(f.ok());
    ids.push_back(f->id);
    server_->clock().AdvanceSeconds(1);
  }
  FileListParams p;
  p.order = "asc";
  auto asc = client().files.list(p);
  ASSERT_TRUE(asc.ok()) << asc.error().ToString();
  ASSERT_EQ(asc->data.size(), 3u);
  EXPECT_EQ(asc->data[0].id, ids[0]);
  EXPECT_EQ(asc->data[2].id, ids[2]);
  EXPECT_FALSE(asc->has_more);
  EXPECT_FALSE(asc->has_next_page());

  FileListParams vision;
  vision.purpose = "vision";
  auto v = client().files.list(vision);
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->data.size(), 1u);
  EXPECT_EQ(v->data[0].id, ids[1]);

  FileListParams after;
  after.order = "desc";
  after.after = ids[2];
  auto a = client().files.list(after);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->data.size(), 2u);
  EXPECT_EQ(a->data[0].id, ids[1]);
}

TEST_F(ClientTest, AutoPagingWalksEveryPageLazily) {
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    auto f = client().files.create(FileInput::Bytes("p", "p.txt"), "assistants");
    ASSERT_TRUE(f.ok());
    ids.push_back(f->id);
    server_->clock().AdvanceSeconds(1);
  }
  FileListParams p;
  p.limit = 2;
  p.order = "asc";
  auto page = client().files.list(p);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->data.size(), 2u);
  EXPECT_TRUE(page->has_next_page());

  auto second = page->get_next_page();
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->data.size(), 2u);
  EXPECT_EQ(second->data[0].id, ids[2]);

  // Pages are fetched only when the iteration reaches them: a file deleted while the first
  // page is being walked never shows up later.
  std::vector<std::string> seen;
  for (const File& f : *page) {
    if (seen.empty()) {
      ASSERT_TRUE(client().files.del(ids[6]).ok());
    }
    seen.push_back(f.id);
  }
  EXPECT_EQ(page->iteration_error(), nullptr);
  EXPECT_EQ(seen, std::vector<std::string>(ids.begin(), ids.begin() + 6));

  // A fetch failure ends the iteration and is reported.
  auto again = client().files.list(p);
  ASSERT_TRUE(again.ok());
  server_.reset();  // the server goes away: the next page cannot be fetched
  std::vector<std::string> partial;
  for (const File& f : *again) partial.push_back(f.id);
  EXPECT_EQ(partial.size(), 2u);
  ASSERT_NE(again->iteration_error(), nullptr);
  EXPECT_EQ(again->iteration_error()->kind, ErrorKind::kConnection);
  server_ = std::make_unique<TestServer>();  // for TearDown's symmetry
}

TEST_F(ClientTest, ContentToMemoryFileAndCallback) {
  std::string data = RandomBytes(300 * 1024 + 7, 1);
  auto f = client().files.create(FileInput::Bytes(data, "c.bin"), "assistants");
  ASSERT_TRUE(f.ok()) << f.error().ToString();

  auto mem = client().files.content(f->id);
  ASSERT_TRUE(mem.ok()) << mem.error().ToString();
  EXPECT_TRUE(*mem == data);
  auto text = client().files.retrieve_content(f->id);
  ASSERT_TRUE(text.ok());
  EXPECT_TRUE(*text == data);

  fs::path out = dir_ / "out.bin";
  auto written = client().files.content(f->id, out);
  ASSERT_TRUE(written.ok()) << written.error().ToString();
  EXPECT_EQ(*written, static_cast<std::int64_t>(data.size()));
  EXPECT_TRUE(ReadAll(out) == data);

  std::string collected;
  int calls = 0;
  auto streamed = client().files.content(f->id, [&](std::string_view b) {
    ++calls;
    collected.append(b);
    return true;
  });
  ASSERT_TRUE(streamed.ok());
  EXPECT_TRUE(collected == data);
  EXPECT_GT(calls, 1);  // delivered in pieces, not as one buffer

  auto refused = client().files.content(f->id, [](std::string_view) { return false; });
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::kUsage);

  fs::path async_out = dir_ / "async.bin";
  auto async = client().files.content_async(f->id, async_out).get();
  ASSERT_TRUE(async.ok());
  EXPECT_TRUE(ReadAll(async_out) == data);

  // A failed download leaves no file behind.
  fs::path missing_out = dir_ / "missing.bin";
  auto missing = client().files.content("file-doesnotexist000000000000", missing_out);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
  EXPECT_FALSE(fs::exists(missing_out));
}

TEST_F(ClientTest, WaitForProcessingReturnsTheProcessedFile) {
  auto f = client().files.create(FileInput::Bytes("w", "w.txt"), "assistants");
  ASSERT_TRUE(f.ok());
  auto w = client().files.wait_for_processing(f->id, std::chrono::milliseconds(10),
                                              std::chrono::seconds(5));
  ASSERT_TRUE(w.ok()) << w.error().ToString();
  EXPECT_EQ(w->status, "processed");
  auto a = client().files.wait_for_processing_async(f->id).get();
  ASSERT_TRUE(a.ok());
  auto gone = client().files.wait_for_processing("file-doesnotexist000000000000");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().kind, ErrorKind::kNotFound);
}

TEST_F(ClientTest, UploadsCreatePartsCompleteAndCancel) {
  std::string a = "hello ", b = "world";
  UploadCreateParams p;
  p.bytes = 11;
  p.filename = "hw.txt";
  p.mime_type = "text/plain";
  p.purpose = "assistants";
  auto up = client().uploads.create(p);
  ASSERT_TRUE(up.ok()) << up.error().ToString();
  EXPECT_TRUE(up->id.starts_with("upload_"));
  EXPECT_EQ(up->status, UploadStatus::kPending);
  EXPECT_EQ(up->bytes, 11);
  EXPECT_FALSE(up->file.has_value());

  auto p2 = client().uploads.parts.create(up->id, FileInput::Path(WriteTemp("b.part", b)));
  ASSERT_TRUE(p2.ok()) << p2.error().ToString();
  auto p1 = client().uploads.parts.create(up->id, FileInput::Bytes(a, "ignored"));
  ASSERT_TRUE(p1.ok()) << p1.error().ToString();
  EXPECT_TRUE(p1->id.starts_with("part_"));
  EXPECT_EQ(p1->upload_id, up->id);

  auto bad_md5 = client().uploads.complete(up->id, {p1->id, p2->id}, Md5Hex("nope"));
  ASSERT_FALSE(bad_md5.ok());
  EXPECT_EQ(bad_md5.error().kind, ErrorKind::kBadRequest);
  EXPECT_EQ(bad_md5.error().param, "md5");

  auto done = client().uploads.complete(up->id, {p1->id, p2->id}, Md5Hex("hello world"));
  ASSERT_TRUE(done.ok()) << done.error().ToString();
  EXPECT_EQ(done->status, UploadStatus::kCompleted);
  ASSERT_TRUE(done->file.has_value());
  EXPECT_EQ(done->file->bytes, 11);
  EXPECT_EQ(client().files.content(done->file->id).value(), "hello world");

  auto second = client().uploads.create(p);
  ASSERT_TRUE(second.ok());
  auto cancelled = client().uploads.cancel(second->id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.error().ToString();
  EXPECT_EQ(cancelled->status, UploadStatus::kCancelled);
  auto late = client().uploads.parts.create(second->id, FileInput::Bytes("x", "x"));
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().kind, ErrorKind::kBadRequest);

  auto unknown = client().uploads.cancel("upload_doesnotexist0000000000");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(unknown.error().param, "upload_id");
}

TEST_F(ClientTest, UploadFileChunkedTwentyMibRoundTrips) {
  const std::size_t size = 20 * 1024 * 1024 + 12345;  // 6 parts, the last one short
  std::string data = RandomBytes(size, 7);
  fs::path in = WriteTemp("big.bin", data);

  std::vector<std::int64_t> progress;
  std::int64_t progress_total = -1;
  ChunkedUploadParams p;
  p.purpose = "assistants";
  p.mime_type = "application/octet-stream";
  p.part_size = 4 * 1024 * 1024;
  p.parallel = 4;
  p.compute_md5 = true;
  p.on_progress = [&](std::int64_t done, std::int64_t total) {
    progress.push_back(done);
    progress_total = total;
  };
  auto up = client().uploads.upload_file_chunked(FileInput::Path(in), p);
  ASSERT_TRUE(up.ok()) << up.error().ToString();
  EXPECT_EQ(up->status, UploadStatus::kCompleted);
  EXPECT_EQ(up->filename, "big.bin");
  EXPECT_EQ(up->bytes, static_cast<std::int64_t>(size));
  ASSERT_TRUE(up->file.has_value());
  EXPECT_EQ(up->file->bytes, static_cast<std::int64_t>(size));

  EXPECT_GT(progress.size(), 6u);  // reported as bytes go out, not only per part
  EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), static_cast<std::int64_t>(size));
  EXPECT_EQ(progress_total, static_cast<std::int64_t>(size));

  fs::path out = dir_ / "big.out";
  auto written = client().files.content(up->file->id, out);
  ASSERT_TRUE(written.ok()) << written.error().ToString();
  EXPECT_EQ(*written, static_cast<std::int64_t>(size));
  EXPECT_TRUE(ReadAll(out) == data);  // byte-identical
}

TEST_F(ClientTest, UploadFileChunkedResumesSendingOnlyTheMissingParts) {
  const std::string data = RandomBytes(10 * 1000, 9);
  const std::int64_t part = 2000;  // 5 parts
  auto u = client().uploads.create({.bytes = 10000,
                                    .filename = "r.bin",
                                    .mime_type = "text/plain",
                                    .purpose = "assistants",
                                    .expires_after_seconds = std::nullopt});
  ASSERT_TRUE(u.ok()) << u.error().ToString();
  // Parts 0 and 3 arrived before the interruption; part 1 also arrived, but its answer was
  // lost, so the caller does not know it and sends it again.
  auto p0 = client().uploads.parts.create(u->id, FileInput::Bytes(std::string_view(data).substr(0, part), "p"));
  auto p3 = client().uploads.parts.create(u->id, FileInput::Bytes(std::string_view(data).substr(3 * part, part), "p"));
  auto lost = client().uploads.parts.create(u->id, FileInput::Bytes(std::string_view(data).substr(part, part), "p"));
  ASSERT_TRUE(p0.ok() && p3.ok() && lost.ok());

  auto held = client().uploads.parts.list(u->id);
  ASSERT_TRUE(held.ok()) << held.error().ToString();
  ASSERT_EQ(held->size(), 3u);
  EXPECT_EQ((*held)[0].id, p0->id);
  EXPECT_EQ((*held)[0].bytes, part);
  auto pending = client().uploads.retrieve(u->id);
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->status, UploadStatus::kPending);

  const std::int64_t stored_before = server_->metrics().parts_stored.load();
  std::vector<std::int64_t> acknowledged;
  std::vector<std::int64_t> progress;
  ChunkedUploadParams p;
  p.purpose = "assistants";
  p.part_size = part;
  p.parallel = 2;
  p.upload_id = u->id;
  p.done_parts = {{0, p0->id}, {3, p3->id}};
  p.on_part = [&](std::int64_t index, const UploadPart&) { acknowledged.push_back(index); };
  p.on_progress = [&](std::int64_t done, std::int64_t) { progress.push_back(done); };
  p.md5 = Md5Hex(data);
  auto done = client().uploads.upload_file_chunked(FileInput::Bytes(data, "r.bin"), p);
  ASSERT_TRUE(done.ok()) << done.error().ToString();
  std::sort(acknowledged.begin(), acknowledged.end());
  EXPECT_EQ(acknowledged, (std::vector<std::int64_t>{1, 2, 4}));
  EXPECT_EQ(server_->metrics().parts_stored.load() - stored_before, 3);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.front(), 2 * part);  // the parts on the server count as sent
  EXPECT_EQ(progress.back(), 10000);
  EXPECT_TRUE(client().files.content(done->file->id).value() == data);

  // A done_parts index outside the file is a usage error, before any request.
  p.done_parts = {{5, p0->id}};
  auto bad = client().uploads.upload_file_chunked(FileInput::Bytes(data, "r.bin"), p);
  EXPECT_EQ(bad.error().kind, ErrorKind::kUsage);
  EXPECT_EQ(bad.error().param, "done_parts");
}

TEST_F(ClientTest, ContentRangeDeliversOnlyThoseBytes) {
  const std::string data = RandomBytes(100000, 5);
  auto f = client().files.create(FileInput::Bytes(data, "r.bin"), "assistants");
  ASSERT_TRUE(f.ok()) << f.error().ToString();
  std::string got;
  auto sink = [&](std::string_view b) {
    got.append(b);
    return true;
  };
  auto n =
      client().files.content(f->id, ContentRange{.offset = 99990, .length = std::nullopt}, sink);
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_EQ(*n, 10);
  EXPECT_EQ(got, data.substr(99990));
  got.clear();
  n = client().files.content(f->id, ContentRange{.offset = 5, .length = 7}, sink);
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_EQ(got, data.substr(5, 7));
  auto past =
      client().files.content(f->id, ContentRange{.offset = 100000, .length = std::nullopt}, sink);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().http_status, 416);
  EXPECT_EQ(past.error().kind, ErrorKind::kOtherStatus);
}

TEST_F(ClientTest, UploadFileChunkedFromBytesAsyncWithGivenMd5) {
  std::string data = RandomBytes(1000, 3);
  ChunkedUploadParams p;
  p.purpose = "user_data";
  p.filename = "mem.bin";
  p.part_size = 300;
  p.parallel = 2;
  p.md5 = Md5Hex(data);
  auto up = client().uploads.upload_file_chunked_async(FileInput::Bytes(data, ""), p).get();
  ASSERT_TRUE(up.ok()) << up.error().ToString();
  ASSERT_TRUE(up->file.has_value());
  EXPECT_EQ(up->file->filename, "mem.bin");
  EXPECT_TRUE(client().files.content(up->file->id).value() == data);

  // An empty input makes an empty file with no parts.
  ChunkedUploadParams empty = p;
  empty.md5.reset();
  auto e = client().uploads.upload_file_chunked(FileInput::Bytes("", "empty.bin"), empty);
  ASSERT_TRUE(e.ok()) << e.error().ToString();
  ASSERT_TRUE(e->file.has_value());
  EXPECT_EQ(e->file->bytes, 0);
}

TEST_F(ClientTest, UploadFileChunkedCancelsOnFailure) {
  std::string data = RandomBytes(1000, 4);
  ChunkedUploadParams p;
  p.purpose = "assistants";
  p.filename = "bad.bin";
  p.part_size = 400;
  p.md5 = Md5Hex("something else");  // complete fails: the helper cancels the upload
  auto up = client().uploads.upload_file_chunked(FileInput::Bytes(data, ""), p);
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.error().kind, ErrorKind::kBadRequest);
  EXPECT_EQ(up.error().param, "md5");
  // (That the helper then cancels the upload is proven in retry_test.cc, which sees requests.)

  // Usage errors are caught before any request.
  std::istringstream s("x");
  auto stream = client().uploads.upload_file_chunked(FileInput::Stream(s, "s"), p);
  EXPECT_EQ(stream.error().kind, ErrorKind::kUsage);
  auto missing = client().uploads.upload_file_chunked(FileInput::Path(dir_ / "nope"), p);
  EXPECT_EQ(missing.error().kind, ErrorKind::kUsage);
  EXPECT_EQ(missing.error().param, "file");
}

TEST_F(ClientTest, ErrorsCarryKindStatusParamAndRequestId) {
  auto nf = client().files.retrieve("file-doesnotexist000000000000");
  ASSERT_FALSE(nf.ok());
  EXPECT_EQ(nf.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(nf.error().http_status, 404);
  EXPECT_EQ(nf.error().param, "id");
  EXPECT_EQ(nf.error().type, "invalid_request_error");
  EXPECT_EQ(nf.error().message, "No such File object: file-doesnotexist000000000000");
  EXPECT_FALSE(nf.error().request_id.empty());
  EXPECT_EQ(nf.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(nf.status().param(), "id");

  auto bad = client().files.create(FileInput::Bytes("x", "x.txt"), "nonsense");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::kBadRequest);
  EXPECT_EQ(bad.error().http_status, 400);
  EXPECT_EQ(bad.error().param, "purpose");
  EXPECT_FALSE(bad.error().request_id.empty());

  std::string key = server_->CreateKey("proj_a");
  ASSERT_FALSE(key.empty());
  auto good = MakeClient(key).files.list();
  EXPECT_TRUE(good.ok()) << good.error().ToString();
  auto wrong = MakeClient("sk-wrong-key-000000000000").files.list();
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().kind, ErrorKind::kAuthentication);
  EXPECT_EQ(wrong.error().http_status, 401);
  EXPECT_EQ(wrong.error().code, "invalid_api_key");
  EXPECT_EQ(wrong.status().code(), StatusCode::kUnauthenticated);
  auto none = MakeClient("").files.list();
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().kind, ErrorKind::kAuthentication);
}

}  // namespace
}  // namespace fileport::client

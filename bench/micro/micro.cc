// fileport_micro: Google Benchmark figures for the CPU-bound steps on a request's hot path,
// without sockets or disks, so that a change to one of them is measured in isolation and
// repeatably (under `valgrind --tool=callgrind` too: see bench/README.md).
//
//   MultipartScan       the delimiter search over a 64 MiB part, fed in the server's 1 MiB
//                       buffers: random bytes, JSONL text, all CRLFs (the search's worst data),
//                       with this CPU's copy of the search and with the portable one
//   Md5Part             the incremental MD5 a completion's md5 check runs
//   SqliteGetShownFile  from a store of 10,000 files, each of 1 or of 64 parts: what
//   SqliteListFileJson  GET /v1/files/{id} and GET /v1/files?limit=100 read, and the whole
//   SqliteGetFile       file (its segments too) that a download looks up
//   SqliteGetFileToRead the file a 1-byte range in its middle looks up: every segment's
//                       size, the one key the range reads
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/ids.h"
#include "core/service_context.h"
#include "http/multipart_parser.h"
#include "store/meta/sqlite/sqlite_metadata_store.h"

namespace fileport {
namespace {

constexpr std::size_t kMiB = 1 << 20;
constexpr std::size_t kChunk = kMiB;  // the server's io_buffer_bytes
constexpr std::string_view kBoundary = "----fileportMicroBoundary7MA4YWxkTrZu0gW";

// Counts the bytes the parser hands out, so that the work cannot be optimized away.
class CountingHandler final : public MultipartHandler {
 public:
  Status OnPartBegin(const MultipartPartHeaders&) override { return Status::Ok(); }
  Status OnPartData(std::span<const char> data) override {
    bytes += data.size();
    return Status::Ok();
  }
  Status OnPartEnd() override { return Status::Ok(); }
  std::size_t bytes = 0;
};

std::string Payload(std::size_t size, int shape) {
  std::string out(size, '\0');
  std::mt19937_64 rng(7);
  switch (shape) {
    case 0:  // random bytes (a compressed or binary file)
      for (auto& c : out) c = static_cast<char>(rng());
      break;
    case 1:  // JSONL text, one record per ~100 bytes
      for (std::size_t i = 0; i < size; ++i) {
        out[i] = (i % 100 == 99) ? '\n' : static_cast<char>('a' + rng() % 26);
      }
      break;
    default:  // CRLFs: the byte every delimiter starts with, everywhere
      for (std::size_t i = 0; i < size; ++i) out[i] = (i % 2 == 0) ? '\r' : '\n';
      break;
  }
  return out;
}

void MultipartScan(benchmark::State& state) {
  // A 64 MiB part, fed as the server feeds it: a buffer at a time, each just received and so
  // in the CPU's cache (here the same 1 MiB of payload 64 times).
  const std::size_t size = 64 * kMiB;
  const std::string chunk = Payload(kChunk, static_cast<int>(state.range(0)));
  SetPortableDelimiterSearch(state.range(1) != 0);
  const std::string head =
      "--" + std::string(kBoundary) +
      "\r\nContent-Disposition: form-data; name=\"data\"; "
      "filename=\"part.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n";
  const std::string tail = "\r\n--" + std::string(kBoundary) + "--\r\n";
  for (auto _ : state) {
    CountingHandler handler;
    MultipartParser parser(std::string(kBoundary), handler);
    Status s = parser.Feed(head);
    for (std::size_t at = 0; s.ok() && at < size; at += kChunk) s = parser.Feed(chunk);
    if (s.ok()) s = parser.Feed(tail);
    if (s.ok()) s = parser.Finish();
    if (!s.ok() || handler.bytes != size) state.SkipWithError("the parser lost bytes");
    benchmark::DoNotOptimize(handler.bytes);
  }
  SetPortableDelimiterSearch(false);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
// shape: 0 random, 1 JSONL, 2 CRLFs; portable: 0 this CPU's search (AVX2 where it has it),
// 1 the portable one (16-byte vectors).
BENCHMARK(MultipartScan)
    ->ArgNames({"shape", "portable"})
    ->ArgsProduct({{0, 1, 2}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

void Md5Part(benchmark::State& state) {
  const std::string data = Payload(16 * kMiB, 0);
  for (auto _ : state) {
    Md5 md5;
    for (std::size_t at = 0; at < data.size(); at += kChunk) md5.Update({data.data() + at, kChunk});
    benchmark::DoNotOptimize(md5.Final());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
}
BENCHMARK(Md5Part)->Unit(benchmark::kMillisecond);

[[noreturn]] void Die(const Status& s) {
  std::fprintf(stderr, "fileport_micro: %s\n", s.message().c_str());
  std::exit(1);
}

// A SQLite store of 10,000 files in one project, each made of `parts` parts (a file uploaded
// in 64 MiB parts has one per 64 MiB), shared by the Sqlite* benchmarks.
class Store {
 public:
  static Store& Get(int parts) {
    static std::map<int, std::unique_ptr<Store>> stores;
    auto& store = stores[parts];
    if (!store) store.reset(new Store(parts));
    return *store;
  }
  ~Store() {
    meta_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  MetadataStore& meta() { return *meta_; }
  const std::vector<std::string>& ids() const { return ids_; }

 private:
  explicit Store(int parts) {
    dir_ = std::filesystem::temp_directory_path() /
           ("fileport-micro-" + std::to_string(::getpid()) + "-" + std::to_string(parts));
    std::filesystem::create_directories(dir_);
    auto opened = SqliteMetadataStore::Open((dir_ / "meta.db").string());
    if (!opened.ok()) Die(opened.status());
    meta_ = std::move(opened).value();
    IdGenerator ids(SystemClock::Get());
    const std::int64_t now = SystemClock::Get().NowSeconds();
    for (int i = 0; i < 10000; ++i) {
      File f;
      f.id = ids.NewId(kFilePrefix);
      f.bytes = 1000 + i;
      f.created_at = now;
      f.filename = "batch-input-" + std::to_string(i) + ".jsonl";
      f.purpose = "batch";
      f.project = "proj_micro";
      f.mime_type = "application/jsonl";
      // The write intents the server records before it writes a file's (or a part's) blob.
      std::vector<GarbageBlob> intents;
      for (int p = 0; p < parts; ++p) {
        f.segments.push_back({FileBlobKey(f.id) + "_" + std::to_string(p), f.bytes});
        intents.push_back({f.segments.back().blob_key, now + 3600});
      }
      f.bytes *= parts;
      if (Status s = meta_->AddGarbage(intents); !s.ok()) Die(s);
      if (Status s = meta_->InsertFile(f); !s.ok()) Die(s);
      ids_.push_back(f.id);
    }
  }
  std::filesystem::path dir_;
  std::unique_ptr<MetadataStore> meta_;
  std::vector<std::string> ids_;
};

// One read transaction per request, as the server scopes a request's reads.
template <class F>
void LookUpEach(benchmark::State& state, F look_up) {
  Store& store = Store::Get(static_cast<int>(state.range(0)));
  std::size_t i = 0;
  for (auto _ : state) {
    const std::string& id = store.ids()[(i++ * 7919) % store.ids().size()];
    auto file = [&] {
      auto scope = store.meta().ShareReads();
      return look_up(store.meta(), id);
    }();
    if (!file.ok()) state.SkipWithError("look-up");
    benchmark::DoNotOptimize(file);
  }
}

void SqliteGetShownFile(benchmark::State& state) {
  LookUpEach(state, [](MetadataStore& m, const std::string& id) {
    return m.GetShownFile("proj_micro", id);
  });
}
BENCHMARK(SqliteGetShownFile)->ArgName("parts")->Arg(1)->Arg(64)->Unit(benchmark::kMicrosecond);

void SqliteGetFile(benchmark::State& state) {
  LookUpEach(state,
             [](MetadataStore& m, const std::string& id) { return m.GetFile("proj_micro", id); });
}
BENCHMARK(SqliteGetFile)->ArgName("parts")->Arg(1)->Arg(64)->Unit(benchmark::kMicrosecond);

void SqliteGetFileToRead(benchmark::State& state) {
  const std::int64_t parts = state.range(0);
  LookUpEach(state, [parts](MetadataStore& m, const std::string& id) {
    // Every part of a file of the store holds at least 1,000 bytes.
    return m.GetFileToRead("proj_micro", id, 1000 * parts / 2, 1);
  });
}
BENCHMARK(SqliteGetFileToRead)->ArgName("parts")->Arg(1)->Arg(64)->Unit(benchmark::kMicrosecond);

void SqliteListFileJson(benchmark::State& state) {
  Store& store = Store::Get(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    FileQuery q;
    q.project = "proj_micro";
    q.limit = 100;
    auto page = [&] {
      auto scope = store.meta().ShareReads();
      return store.meta().ListFileJson(q);
    }();
    if (!page.ok() || !page->has_more) state.SkipWithError("ListFileJson");
    benchmark::DoNotOptimize(page);
  }
}
BENCHMARK(SqliteListFileJson)->ArgName("parts")->Arg(1)->Arg(64)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace fileport

BENCHMARK_MAIN();

// BlobStore conformance: one suite of behaviour every backend must share, instantiated for each
// backend through a named factory, followed by tests of what only one backend promises
// (the local store's key grammar, layout, temp-file hygiene and ENOSPC translation).
//
// To add a backend, append a BlobStoreFactory to Factories(). A factory that cannot run here
// (no server, no credentials) returns Unavailable with the reason: the test is then reported
// as skipped with that reason, never silently passed.
#include "store/blob/blob_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>

#include "support/scratch_dir.h"
#include "support/status_assertions.h"
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "store/blob/local/local_blob_store.h"
#include "store/blob/memory/memory_blob_store.h"

namespace fileport {
namespace {

constexpr std::size_t kMiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Status assertions: tests/support/status_assertions.h.
using fileport::testing::HasCode;
using fileport::testing::IsOk;
using fileport::testing::StatusOf;

// Streamable, like every gtest assertion: EXPECT_OK(s) << "context".
#define ASSERT_OK(expr) ASSERT_TRUE(IsOk(expr))
#define EXPECT_OK(expr) EXPECT_TRUE(IsOk(expr))
#define EXPECT_CODE(expr, want) EXPECT_TRUE(HasCode((expr), (want)))

// ---------------------------------------------------------------------------------------------
// Data helpers.

// Deterministic bytes that differ per seed and per position (xorshift), so a misplaced or
// duplicated chunk shows up as a mismatch.
std::string Pattern(std::size_t n, std::uint64_t seed) {
  std::string out(n, '\0');
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<char>(x >> 56);
  }
  return out;
}

// Appends `data` in chunks whose sizes cycle through `chunks` (all of it at once if empty).
Status AppendAll(BlobWriter& writer, std::string_view data, std::vector<std::size_t> chunks = {}) {
  if (chunks.empty()) chunks.push_back(std::max<std::size_t>(data.size(), 1));
  std::size_t pos = 0;
  for (std::size_t i = 0; pos < data.size(); ++i) {
    const std::size_t n = std::min(chunks[i % chunks.size()], data.size() - pos);
    RETURN_IF_ERROR(writer.Append(std::span<const char>(data.data() + pos, n)));
    pos += n;
  }
  return Status::Ok();
}

Status WriteBlob(BlobStore& store, const std::string& key, std::string_view data,
                 std::vector<std::size_t> chunks = {}) {
  ASSIGN_OR_RETURN(auto writer, store.NewWriter(key));
  RETURN_IF_ERROR(AppendAll(*writer, data, std::move(chunks)));
  if (writer->bytes_written() != static_cast<std::int64_t>(data.size())) {
    return Internal("bytes_written " + std::to_string(writer->bytes_written()) +
                    " != " + std::to_string(data.size()));
  }
  return writer->Commit();
}

// Drains a reader with reads of `buffer` bytes; checks the reader delivers exactly size()
// (counting `already_read` bytes the caller took from it before).
Result<std::string> Drain(BlobReader& reader, std::size_t buffer = 64 * 1024,
                          std::size_t already_read = 0) {
  std::string out(already_read, '\0');
  std::vector<char> buf(buffer);
  for (;;) {
    ASSIGN_OR_RETURN(std::size_t n, reader.Read(buf));
    if (n == 0) break;
    if (n > buf.size()) return Internal("Read returned more than asked");
    out.append(buf.data(), n);
    if (out.size() > static_cast<std::size_t>(reader.size())) {
      return Internal("reader delivered more than its size()");
    }
  }
  if (out.size() != static_cast<std::size_t>(reader.size())) {
    return Internal("reader delivered " + std::to_string(out.size()) + " bytes, size() says " +
                    std::to_string(reader.size()));
  }
  return out.substr(already_read);
}

Result<std::string> ReadBlob(BlobStore& store, const std::string& key, std::int64_t offset = 0,
                             std::int64_t length = -1, std::size_t buffer = 64 * 1024) {
  ASSIGN_OR_RETURN(auto reader, store.NewReader(key, offset, length));
  return Drain(*reader, buffer);
}

// Compares without printing megabytes on failure.
::testing::AssertionResult SameBytes(const Result<std::string>& got, std::string_view want) {
  if (!got.ok()) return ::testing::AssertionFailure() << got.status().ToString();
  if (got->size() != want.size()) {
    return ::testing::AssertionFailure() << "size " << got->size() << ", want " << want.size();
  }
  auto [a, b] = std::mismatch(got->begin(), got->end(), want.begin());
  if (a != got->end()) {
    return ::testing::AssertionFailure() << "first difference at byte " << (a - got->begin());
  }
  return ::testing::AssertionSuccess();
}

// Scratch directories are named after this suite.
class ScratchDir : public fileport::testing::ScratchDir {
 public:
  ScratchDir() : fileport::testing::ScratchDir("blob") {}
};

// Regular files and other entries directly inside `dir` (excluding . and ..).
std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// ---------------------------------------------------------------------------------------------
// Factories.

// What a factory hands the suite: a fresh store, plus optional probes into its internals.
struct StoreUnderTest {
  std::unique_ptr<BlobStore> store;
  // Number of temporary objects writers left behind (local: files in root/tmp). Unset when
  // the backend has nothing to count (memory) — tests then check only what is visible.
  std::function<std::size_t()> temporary_count;
};

struct BlobStoreFactory {
  std::string name;  // The test-name suffix: [A-Za-z0-9_] only.
  // Builds an empty store; `scratch` is a fresh directory it may use. Unavailable → skip.
  std::function<Result<StoreUnderTest>(const std::string& scratch)> make;
};

void PrintTo(const BlobStoreFactory& factory, std::ostream* os) { *os << factory.name; }

BlobStoreFactory MemoryFactory() {
  return {"memory", [](const std::string&) -> Result<StoreUnderTest> {
            return StoreUnderTest{std::make_unique<MemoryBlobStore>(), nullptr};
          }};
}

BlobStoreFactory LocalFactory(std::string name, LocalBlobOptions options) {
  return {std::move(name), [options](const std::string& scratch) -> Result<StoreUnderTest> {
            ASSIGN_OR_RETURN(auto store, LocalBlobStore::Open(scratch + "/root", options));
            std::string tmp = store->temp_dir();
            return StoreUnderTest{std::move(store), [tmp] { return ListDir(tmp).size(); }};
          }};
}

std::vector<BlobStoreFactory> Factories() {
  return {
      MemoryFactory(),
      LocalFactory("local", {}),
      // Tiny buffer and writeback interval: every append path (coalesce, flush, direct write)
      // and hundreds of writeback calls run on small blobs.
      LocalFactory("local_tiny_buffers", {.buffer_bytes = 7, .writeback_bytes = 4099}),
  };
}

// ---------------------------------------------------------------------------------------------
// The parameterized suite.

class BlobStoreConformance : public ::testing::TestWithParam<BlobStoreFactory> {
 protected:
  void SetUp() override {
    auto made = GetParam().make(scratch_.path());
    if (!made.ok()) {
      if (made.status().code() == StatusCode::kUnavailable) {
        GTEST_SKIP() << GetParam().name << " is unavailable: " << made.status().message();
      }
      FAIL() << "cannot build " << GetParam().name << ": " << made.status().ToString();
    }
    sut_ = std::move(made).value();
    // A per-test prefix keeps tests apart on backends shared between runs (a bucket).
    prefix_ = "t" + RandomHex(6);
  }

  BlobStore& store() { return *sut_.store; }
  std::string K(std::string_view name) const { return prefix_ + "/" + std::string(name); }

  // Asserts no temporary object is left, where the backend can tell.
  void ExpectNoTemporaries() {
    if (sut_.temporary_count) {
      EXPECT_EQ(sut_.temporary_count(), 0u) << "temporary data left";
    }
  }

  void ExpectRoundTrip(const std::string& key, const std::string& data,
                       std::vector<std::size_t> chunks, std::size_t read_buffer) {
    ASSERT_OK(WriteBlob(store(), key, data, std::move(chunks)));
    auto size = store().Stat(key);
    ASSERT_OK(size);
    EXPECT_EQ(*size, static_cast<std::int64_t>(data.size()));
    EXPECT_TRUE(SameBytes(ReadBlob(store(), key, 0, -1, read_buffer), data));
    ExpectNoTemporaries();
  }

  ScratchDir scratch_;
  StoreUnderTest sut_;
  std::string prefix_;
};

TEST_P(BlobStoreConformance, EmptyBlobRoundTrips) {
  ExpectRoundTrip(K("empty"), "", {}, 4096);
  auto reader = store().NewReader(K("empty"));
  ASSERT_OK(reader);
  EXPECT_EQ((*reader)->size(), 0);
  char byte;
  auto n = (*reader)->Read(std::span<char>(&byte, 1));
  ASSERT_OK(n);
  EXPECT_EQ(*n, 0u);
}

TEST_P(BlobStoreConformance, OneByteRoundTrips) { ExpectRoundTrip(K("one"), "x", {}, 1); }

TEST_P(BlobStoreConformance, AllByteValuesRoundTrip) {
  std::string data;
  for (int round = 0; round < 3; ++round) {
    for (int b = 0; b < 256; ++b) data.push_back(static_cast<char>(b));
  }
  ExpectRoundTrip(K("bytes"), data, {1, 255, 3}, 5);
}

TEST_P(BlobStoreConformance, ThreeMiBInOddSizedAppendsRoundTrips) {
  const std::string data = Pattern(3 * kMiB + 17, 3);
  ExpectRoundTrip(K("odd"), data, {1, 7, 4093, 65537, kMiB + 3, 13, kMiB - 1, 2 * kMiB + 5},
                  1000003);
}

TEST_P(BlobStoreConformance, TwentyMiBCrossingTheWritebackThresholdRoundTrips) {
  const std::string data = Pattern(20 * kMiB + 1, 20);
  ExpectRoundTrip(K("big"), data, {256 * 1024, kMiB + 1, 8 * kMiB, 333}, kMiB);
}

TEST_P(BlobStoreConformance, BytesWrittenCountsEveryAppend) {
  auto writer = store().NewWriter(K("count"));
  ASSERT_OK(writer);
  EXPECT_EQ((*writer)->bytes_written(), 0);
  const std::string data = Pattern(2 * kMiB + 3, 1);
  ASSERT_OK((*writer)->Append(std::span<const char>(data.data(), 10)));
  EXPECT_EQ((*writer)->bytes_written(), 10);
  ASSERT_OK((*writer)->Append(std::span<const char>(data.data() + 10, data.size() - 10)));
  EXPECT_EQ((*writer)->bytes_written(), static_cast<std::int64_t>(data.size()));
  ASSERT_OK((*writer)->Append({}));  // An empty append is allowed and changes nothing.
  EXPECT_EQ((*writer)->bytes_written(), static_cast<std::int64_t>(data.size()));
  ASSERT_OK((*writer)->Commit());
  EXPECT_EQ((*writer)->bytes_written(), static_cast<std::int64_t>(data.size()));
}

TEST_P(BlobStoreConformance, NotVisibleBeforeCommit) {
  auto writer = store().NewWriter(K("pending"));
  ASSERT_OK(writer);
  const std::string data = Pattern(3 * kMiB, 4);  // Enough to reach the disk, not just a buffer.
  ASSERT_OK(AppendAll(**writer, data, {kMiB / 2}));
  EXPECT_CODE(store().Stat(K("pending")), StatusCode::kNotFound);
  EXPECT_CODE(store().NewReader(K("pending")), StatusCode::kNotFound);
  ASSERT_OK((*writer)->Commit());
  EXPECT_TRUE(SameBytes(ReadBlob(store(), K("pending")), data));
}

TEST_P(BlobStoreConformance, AbortLeavesNothing) {
  auto writer = store().NewWriter(K("aborted"));
  ASSERT_OK(writer);
  ASSERT_OK(AppendAll(**writer, Pattern(3 * kMiB, 5), {kMiB / 3}));
  (*writer)->Abort();
  (*writer)->Abort();  // Idempotent.
  EXPECT_CODE(store().Stat(K("aborted")), StatusCode::kNotFound);
  EXPECT_CODE(store().NewReader(K("aborted")), StatusCode::kNotFound);
  ExpectNoTemporaries();
  // An aborted writer refuses further use rather than resurrect the blob.
  const char byte = 'x';
  EXPECT_CODE((*writer)->Append(std::span<const char>(&byte, 1)), StatusCode::kFailedPrecondition);
  EXPECT_CODE((*writer)->Commit(), StatusCode::kFailedPrecondition);
  EXPECT_CODE(store().Stat(K("aborted")), StatusCode::kNotFound);
  // The key is free for a new writer.
  ASSERT_OK(WriteBlob(store(), K("aborted"), "again"));
  EXPECT_TRUE(SameBytes(ReadBlob(store(), K("aborted")), "again"));
}

TEST_P(BlobStoreConformance, DestroyingAnUncommittedWriterLeavesNothing) {
  {
    auto writer = store().NewWriter(K("dropped"));
    ASSERT_OK(writer);
    ASSERT_OK(AppendAll(**writer, Pattern(3 * kMiB, 6), {kMiB + 1}));
  }
  {
    auto writer = store().NewWriter(K("dropped_empty"));
    ASSERT_OK(writer);
  }
  EXPECT_CODE(store().Stat(K("dropped")), StatusCode::kNotFound);
  EXPECT_CODE(store().Stat(K("dropped_empty")), StatusCode::kNotFound);
  ExpectNoTemporaries();
}

TEST_P(BlobStoreConformance, CommitIsFinal) {
  auto writer = store().NewWriter(K("final"));
  ASSERT_OK(writer);
  ASSERT_OK(AppendAll(**writer, "abc"));
  ASSERT_OK((*writer)->Commit());
  EXPECT_CODE((*writer)->Commit(), StatusCode::kFailedPrecondition);
  const char byte = 'x';
  EXPECT_CODE((*writer)->Append(std::span<const char>(&byte, 1)), StatusCode::kFailedPrecondition);
  (*writer)->Abort();  // After a successful Commit, Abort has nothing to discard.
  writer->reset();
  EXPECT_TRUE(SameBytes(ReadBlob(store(), K("final")), "abc"));
  ExpectNoTemporaries();
}

TEST_P(BlobStoreConformance, RangesDeliverExactlyTheirBytes) {
  const std::string data = Pattern(1000, 7);
  ASSERT_OK(WriteBlob(store(), K("r"), data));
  struct Case {
    std::int64_t offset, length;
    std::string want;
  };
  const std::vector<Case> cases = {
      {0, -1, data},
      {0, 1000, data},
      {0, 1, data.substr(0, 1)},
      {10, 20, data.substr(10, 20)},
      {999, 1, data.substr(999)},
      {123, -1, data.substr(123)},  // To the end.
      {500, 0, ""},                 // Zero length inside.
      {1000, 0, ""},                // Zero length at the end.
      {1000, -1, ""},               // To the end, from the end.
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("offset " + std::to_string(c.offset) + " length " + std::to_string(c.length));
    auto reader = store().NewReader(K("r"), c.offset, c.length);
    ASSERT_OK(reader);
    EXPECT_EQ((*reader)->size(), static_cast<std::int64_t>(c.want.size()));
    EXPECT_TRUE(SameBytes(Drain(**reader, 7), c.want));
  }
}

TEST_P(BlobStoreConformance, RangesPastTheEndAreOutOfRange) {
  ASSERT_OK(WriteBlob(store(), K("r"), Pattern(1000, 8)));
  EXPECT_CODE(store().NewReader(K("r"), 0, 1001), StatusCode::kOutOfRange);
  EXPECT_CODE(store().NewReader(K("r"), 999, 2), StatusCode::kOutOfRange);
  EXPECT_CODE(store().NewReader(K("r"), 1000, 1), StatusCode::kOutOfRange);
  EXPECT_CODE(store().NewReader(K("r"), 1001, 0), StatusCode::kOutOfRange);
  EXPECT_CODE(store().NewReader(K("r"), 1001, -1), StatusCode::kOutOfRange);
  // offset + length would overflow int64 if added naively.
  EXPECT_CODE(store().NewReader(K("r"), 10, INT64_MAX), StatusCode::kOutOfRange);
  ASSERT_OK(WriteBlob(store(), K("empty"), ""));
  EXPECT_CODE(store().NewReader(K("empty"), 0, 1), StatusCode::kOutOfRange);
  EXPECT_CODE(store().NewReader(K("empty"), 1, -1), StatusCode::kOutOfRange);
}

TEST_P(BlobStoreConformance, NegativeOffsetIsInvalid) {
  ASSERT_OK(WriteBlob(store(), K("r"), "abc"));
  EXPECT_CODE(store().NewReader(K("r"), -1, 1), StatusCode::kInvalidArgument);
}

TEST_P(BlobStoreConformance, MissingBlobIsNotFound) {
  EXPECT_CODE(store().Stat(K("missing")), StatusCode::kNotFound);
  EXPECT_CODE(store().NewReader(K("missing")), StatusCode::kNotFound);
  EXPECT_CODE(store().NewReader(K("missing/deeper")), StatusCode::kNotFound);
}

TEST_P(BlobStoreConformance, DeleteIsIdempotent) {
  EXPECT_OK(store().Delete(K("never_written")));
  ASSERT_OK(WriteBlob(store(), K("d"), "bytes"));
  EXPECT_OK(store().Delete(K("d")));
  EXPECT_CODE(store().Stat(K("d")), StatusCode::kNotFound);
  EXPECT_CODE(store().NewReader(K("d")), StatusCode::kNotFound);
  EXPECT_OK(store().Delete(K("d")));
  // A deleted key can be written again.
  ASSERT_OK(WriteBlob(store(), K("d"), "new"));
  EXPECT_TRUE(SameBytes(ReadBlob(store(), K("d")), "new"));
}

TEST_P(BlobStoreConformance, ReaderSurvivesDelete) {
  const std::string data = Pattern(3 * kMiB, 9);
  ASSERT_OK(WriteBlob(store(), K("doomed"), data));
  auto started = store().NewReader(K("doomed"));
  auto unstarted = store().NewReader(K("doomed"), kMiB, kMiB);
  ASSERT_OK(started);
  ASSERT_OK(unstarted);
  std::vector<char> first(1000);
  auto n = (*started)->Read(first);
  ASSERT_OK(n);
  ASSERT_EQ(*n, first.size());
  ASSERT_OK(store().Delete(K("doomed")));
  EXPECT_CODE(store().Stat(K("doomed")), StatusCode::kNotFound);
  auto rest = Drain(**started, 64 * 1024, first.size());
  ASSERT_OK(rest);
  EXPECT_TRUE(SameBytes(std::string(first.begin(), first.end()) + *rest, data));
  EXPECT_TRUE(SameBytes(Drain(**unstarted), data.substr(kMiB, kMiB)));
}

TEST_P(BlobStoreConformance, StatReportsCommittedSizes) {
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{4095}, std::size_t{4096},
                           std::size_t{4097}, kMiB - 1, kMiB, kMiB + 1}) {
    const std::string key = K("s" + std::to_string(size));
    ASSERT_OK(WriteBlob(store(), key, Pattern(size, size), {1000}));
    auto got = store().Stat(key);
    ASSERT_OK(got);
    EXPECT_EQ(*got, static_cast<std::int64_t>(size));
  }
}

TEST_P(BlobStoreConformance, NestedKeysAreIndependent) {
  const std::vector<std::string> keys = {
      K("p/Ab/upload_x/part_1"),
      K("p/Ab/upload_x/part_2"),
      K("p/Ab/upload_y/part_1"),
      K("p/Cd"),
      K("single"),
      K("A-Z_a-z0-9/-/_"),
  };
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ASSERT_OK(WriteBlob(store(), keys[i], Pattern(100 + i, i)));
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    EXPECT_TRUE(SameBytes(ReadBlob(store(), keys[i]), Pattern(100 + i, i))) << keys[i];
  }
  // A key prefix is not a blob, and deleting it touches nothing below.
  EXPECT_CODE(store().Stat(K("p/Ab")), StatusCode::kNotFound);
  EXPECT_CODE(store().NewReader(K("p/Ab/upload_x")), StatusCode::kNotFound);
  EXPECT_OK(store().Delete(K("p/Ab")));
  ASSERT_OK(store().Delete(keys[0]));
  EXPECT_CODE(store().Stat(keys[0]), StatusCode::kNotFound);
  for (std::size_t i = 1; i < keys.size(); ++i) {
    EXPECT_TRUE(SameBytes(ReadBlob(store(), keys[i]), Pattern(100 + i, i))) << keys[i];
  }
  // A sibling can still be added under the directories the deleted blob shared.
  ASSERT_OK(WriteBlob(store(), K("p/Ab/upload_x/part_3"), "three"));
  EXPECT_TRUE(SameBytes(ReadBlob(store(), K("p/Ab/upload_x/part_3")), "three"));
}

TEST_P(BlobStoreConformance, ConcurrentWritersAndReaders) {
  constexpr int kThreads = 8;
  constexpr int kBlobsPerThread = 12;
  const std::string shared = Pattern(kMiB + 11, 1000);
  ASSERT_OK(WriteBlob(store(), K("shared"), shared));

  std::atomic<int> failures{0};
  auto fail = [&failures](const std::string& what) {
    ADD_FAILURE() << what;
    ++failures;
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kBlobsPerThread && failures < 10; ++i) {
        // Threads share parent directories so that their creation races too.
        const std::string key = K("c/" + std::to_string(t % 3) + "/u" + std::to_string(i % 4) +
                                  "/b" + std::to_string(t) + "_" + std::to_string(i));
        const std::size_t size = (i % 5 == 0) ? 0 : (t * 7919 + i * 104729) % (300 * 1024);
        const std::string data = Pattern(size, t * 100 + i);
        Status s = WriteBlob(store(), key, data, {8191, 1, 65536});
        if (!s.ok()) {
          fail("write " + key + ": " + s.ToString());
          continue;
        }
        auto got = ReadBlob(store(), key, 0, -1, 65536);
        if (!SameBytes(got, data)) fail("read back " + key);
        auto part = ReadBlob(store(), K("shared"), t * 1000, 4096 + i, 1500);
        if (!SameBytes(part, std::string_view(shared).substr(t * 1000, 4096 + i))) {
          fail("shared range");
        }
        if (i % 2 == 1) {
          Status d = store().Delete(key);
          if (!d.ok()) fail("delete " + key + ": " + d.ToString());
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kBlobsPerThread; ++i) {
      const std::string key = K("c/" + std::to_string(t % 3) + "/u" + std::to_string(i % 4) + "/b" +
                                std::to_string(t) + "_" + std::to_string(i));
      auto size = store().Stat(key);
      if (i % 2 == 1) {
        EXPECT_CODE(size, StatusCode::kNotFound) << key;
      } else {
        ASSERT_OK(size);
      }
    }
  }
  ExpectNoTemporaries();
}

TEST_P(BlobStoreConformance, PingSucceeds) { EXPECT_OK(store().Ping()); }

TEST_P(BlobStoreConformance, CleanupTemporarySparesCommittedBlobsAndLiveWriters) {
  ASSERT_OK(WriteBlob(store(), K("kept"), "kept"));
  auto writer = store().NewWriter(K("live"));
  ASSERT_OK(writer);
  ASSERT_OK(AppendAll(**writer, Pattern(2 * kMiB, 10), {kMiB / 4}));
  // A live writer is fresh: an hour's threshold must not touch it.
  ASSERT_OK(store().CleanupTemporary(3600));
  ASSERT_OK(AppendAll(**writer, "tail"));
  ASSERT_OK((*writer)->Commit());
  EXPECT_TRUE(SameBytes(ReadBlob(store(), K("live")), Pattern(2 * kMiB, 10) + "tail"));
  ASSERT_OK(store().CleanupTemporary(0));
  EXPECT_TRUE(SameBytes(ReadBlob(store(), K("kept")), "kept"));
  ExpectNoTemporaries();
}

INSTANTIATE_TEST_SUITE_P(Backends, BlobStoreConformance, ::testing::ValuesIn(Factories()),
                         [](const ::testing::TestParamInfo<BlobStoreFactory>& info) {
                           return info.param.name;
                         });

// ---------------------------------------------------------------------------------------------
// MemoryBlobStore specifics.

TEST(MemoryBlobStoreTest, TestHooksListCommittedBlobsOnly) {
  MemoryBlobStore store;
  ASSERT_OK(WriteBlob(store, "b/2", "x"));
  ASSERT_OK(WriteBlob(store, "a/1", "y"));
  auto pending = store.NewWriter("c/3");
  ASSERT_OK(pending);
  EXPECT_EQ(store.blob_count(), 2u);
  EXPECT_EQ(store.keys(), (std::vector<std::string>{"a/1", "b/2"}));
  ASSERT_OK(store.Delete("a/1"));
  EXPECT_EQ(store.keys(), (std::vector<std::string>{"b/2"}));
}

TEST(MemoryBlobStoreTest, CommitNeverReplacesAnExistingBlob) {
  MemoryBlobStore store;
  ASSERT_OK(WriteBlob(store, "k", "first"));
  EXPECT_CODE(WriteBlob(store, "k", "second"), StatusCode::kAlreadyExists);
  EXPECT_TRUE(SameBytes(ReadBlob(store, "k"), "first"));
}

// ---------------------------------------------------------------------------------------------
// LocalBlobStore specifics.

class LocalBlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = scratch_.path() + "/root";
    auto opened = LocalBlobStore::Open(root_);
    ASSERT_OK(opened);
    store_ = std::move(opened).value();
  }

  ScratchDir scratch_;
  std::string root_;
  std::unique_ptr<LocalBlobStore> store_;
};

TEST_F(LocalBlobStoreTest, RejectsKeysThatCouldEscapeOrAreMalformed) {
  const std::vector<std::string> bad = {
      "",
      "../x",
      "x/..",
      "/abs",
      "a//b",
      "a/./b",
      ".",
      "..",
      "a/",
      "a\\b",
      std::string("a\0b", 3),
      "a b",
      "a.b",
      "a:b",
      "ä",
      std::string(256, 'a'),
  };
  for (const auto& key : bad) {
    SCOPED_TRACE("key '" + key + "'");
    EXPECT_CODE(store_->NewWriter(key), StatusCode::kInvalidArgument);
    EXPECT_CODE(store_->NewReader(key), StatusCode::kInvalidArgument);
    EXPECT_CODE(store_->Stat(key), StatusCode::kInvalidArgument);
    EXPECT_CODE(store_->Delete(key), StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(ListDir(root_ + "/tmp").empty());
  EXPECT_TRUE(ListDir(root_ + "/objects").empty());
  for (const std::string& key : std::vector<std::string>{"a", "A-b_c/9", std::string(255, 'z')}) {
    EXPECT_OK(LocalBlobStore::ValidateKey(key)) << key;
  }
}

TEST_F(LocalBlobStoreTest, BlobLivesAtObjectsKeyAndTmpIsEmptyAfterCommit) {
  auto writer = store_->NewWriter("p/Ab/upload_1/part_1");
  ASSERT_OK(writer);
  ASSERT_OK(AppendAll(**writer, Pattern(3 * kMiB, 11), {kMiB / 2}));
  EXPECT_EQ(ListDir(root_ + "/tmp").size(), 1u) << "a writer works in root/tmp";
  EXPECT_FALSE(std::filesystem::exists(root_ + "/objects/p/Ab/upload_1/part_1"));
  ASSERT_OK((*writer)->Commit());
  EXPECT_TRUE(ListDir(root_ + "/tmp").empty());
  const std::string path = root_ + "/objects/p/Ab/upload_1/part_1";
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << path;
  std::string on_disk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(SameBytes(on_disk, Pattern(3 * kMiB, 11)));
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u) << "blobs are private to the service";
  EXPECT_EQ(store_->ObjectPath("p/Ab/upload_1/part_1"), path);
}

TEST_F(LocalBlobStoreTest, SmallAppendsAreCoalescedAndLargeOnesWrittenThrough) {
  auto writer = store_->NewWriter("coalesce");
  ASSERT_OK(writer);
  auto temp_size = [&] {
    const auto names = ListDir(root_ + "/tmp");
    return names.size() == 1 ? std::filesystem::file_size(root_ + "/tmp/" + names[0])
                             : std::uintmax_t{999999999};
  };
  const std::string big = Pattern(2 * kMiB, 12);
  ASSERT_OK((*writer)->Append(big));  // ≥ the 1 MiB buffer and the buffer is empty: direct.
  EXPECT_EQ(temp_size(), 2 * kMiB);
  ASSERT_OK((*writer)->Append(std::string_view("small")));  // Held in the buffer.
  EXPECT_EQ(temp_size(), 2 * kMiB);
  ASSERT_OK((*writer)->Commit());
  EXPECT_TRUE(SameBytes(ReadBlob(*store_, "coalesce"), big + "small"));
}

TEST_F(LocalBlobStoreTest, CommitNeverReplacesAnExistingBlob) {
  ASSERT_OK(WriteBlob(*store_, "k/v", "first"));
  EXPECT_CODE(WriteBlob(*store_, "k/v", "second"), StatusCode::kAlreadyExists);
  EXPECT_TRUE(SameBytes(ReadBlob(*store_, "k/v"), "first"));
  EXPECT_TRUE(ListDir(root_ + "/tmp").empty());
}

TEST_F(LocalBlobStoreTest, FailedCommitLeavesNothingAndIsNeverRetriedIntoSuccess) {
  // "f" is a blob, so nothing can be created under "f/": the rename fails (ENOTDIR).
  ASSERT_OK(WriteBlob(*store_, "f", "file"));
  auto writer = store_->NewWriter("f/g");
  ASSERT_OK(writer);
  ASSERT_OK(AppendAll(**writer, Pattern(kMiB + 1, 13)));
  const Status failed = (*writer)->Commit();
  EXPECT_FALSE(failed.ok());
  EXPECT_CODE((*writer)->Commit(), StatusCode::kFailedPrecondition);
  EXPECT_CODE(store_->Stat("f/g"), StatusCode::kNotFound);
  EXPECT_TRUE(ListDir(root_ + "/tmp").empty());
  EXPECT_TRUE(SameBytes(ReadBlob(*store_, "f"), "file"));
}

TEST_F(LocalBlobStoreTest, CleanupTemporaryRemovesOldTempFilesAndKeepsFreshOnes) {
  const std::string tmp = root_ + "/tmp";
  for (const char* name : {"old.tmp", "fresh.tmp"}) {
    std::ofstream(tmp + "/" + name) << "partial";
  }
  ASSERT_EQ(::mkdir((tmp + "/subdir").c_str(), 0700), 0);  // Not ours: left alone.
  struct timespec times[2];
  ASSERT_EQ(::clock_gettime(CLOCK_REALTIME, &times[0]), 0);
  times[0].tv_sec -= 7200;
  times[1] = times[0];
  ASSERT_EQ(::utimensat(AT_FDCWD, (tmp + "/old.tmp").c_str(), times, 0), 0);
  ASSERT_OK(store_->CleanupTemporary(3600));
  EXPECT_EQ(ListDir(tmp), (std::vector<std::string>{"fresh.tmp", "subdir"}));
  EXPECT_CODE(store_->CleanupTemporary(-1), StatusCode::kInvalidArgument);
}

TEST_F(LocalBlobStoreTest, OpenCreatesTheLayoutAndRejectsAFile) {
  const std::string nested = scratch_.path() + "/a/b/c";
  auto opened = LocalBlobStore::Open(nested);
  ASSERT_OK(opened);
  EXPECT_TRUE(std::filesystem::is_directory(nested + "/objects"));
  EXPECT_TRUE(std::filesystem::is_directory(nested + "/tmp"));
  ASSERT_OK(LocalBlobStore::Open(nested));  // Reopening an existing store is fine.
  std::ofstream(scratch_.path() + "/plain") << "x";
  EXPECT_FALSE(LocalBlobStore::Open(scratch_.path() + "/plain").ok());
  EXPECT_CODE(LocalBlobStore::Open(""), StatusCode::kInvalidArgument);
  EXPECT_CODE(LocalBlobStore::Open(nested, {.buffer_bytes = 0}), StatusCode::kInvalidArgument);
}

TEST_F(LocalBlobStoreTest, PingFailsWhenTheRootIsGone) {
  EXPECT_OK(store_->Ping());
  std::filesystem::remove_all(root_);
  EXPECT_CODE(store_->Ping(), StatusCode::kUnavailable);
}

// Mounts a 1 MiB tmpfs for the duration of a test (we run as root in CI containers).
class TinyFilesystem {
 public:
  explicit TinyFilesystem(const std::string& dir) : dir_(dir) {
    std::filesystem::create_directories(dir_);
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=1m") != 0) {
      error_ = std::string("mount -t tmpfs -o size=1m: ") + std::strerror(errno);
    }
  }
  ~TinyFilesystem() {
    if (error_.empty()) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  const std::string& error() const { return error_; }

 private:
  std::string dir_;
  std::string error_;
};

TEST_F(LocalBlobStoreTest, FullDiskIsResourceExhaustedAndLeavesNoTempFile) {
  TinyFilesystem fs(scratch_.path() + "/tiny");
  if (!fs.error().empty()) GTEST_SKIP() << "cannot make a tiny filesystem: " << fs.error();
  auto opened = LocalBlobStore::Open(scratch_.path() + "/tiny/root");
  ASSERT_OK(opened);
  LocalBlobStore& store = **opened;

  auto writer = store.NewWriter("p/full");
  ASSERT_OK(writer);
  const std::string data = Pattern(2 * kMiB, 14);
  Status failure;
  for (std::size_t pos = 0; pos < data.size() && failure.ok(); pos += 64 * 1024) {
    failure = (*writer)->Append(std::span<const char>(data.data() + pos, 64 * 1024));
  }
  // Bytes still in the buffer may only fail at Commit's flush.
  if (failure.ok()) failure = (*writer)->Commit();
  EXPECT_CODE(failure, StatusCode::kResourceExhausted);
  EXPECT_CODE((*writer)->Commit(), StatusCode::kFailedPrecondition);
  EXPECT_CODE(store.Stat("p/full"), StatusCode::kNotFound);
  EXPECT_TRUE(ListDir(store.temp_dir()).empty()) << "the temp file must be gone";
  EXPECT_FALSE(std::filesystem::exists(store.ObjectPath("p/full")));
  // The space came back: a small blob fits again.
  EXPECT_OK(WriteBlob(store, "p/small", "fits"));
}

}  // namespace
}  // namespace fileport

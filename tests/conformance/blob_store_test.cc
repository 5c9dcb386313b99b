// BlobStore conformance: one suite of behaviour every backend must share, instantiated for each
// backend through a named factory, followed by tests of what only one backend promises
// (the local store's key grammar, layout, temp-file hygiene and ENOSPC translation; the S3
// store's protocol details, multipart hygiene and credential errors).
//
// To add a backend, append a BlobStoreFactory to Factories(). A factory that cannot run here
// (no server, no credentials) returns Unavailable with the reason: the test is then reported
// as skipped with that reason, never silently passed.
//
// The S3 backend runs against the engine named by FILEPORT_TEST_S3 (an s3:// URI, see
// S3BlobOptions::FromUri) with credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY;
// `eval "$(scripts/ceph.sh start DIR)"` starts a local Ceph RGW and sets all three.
#include "store/blob/blob_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>

#include "support/page_cache.h"
#include "support/scratch_dir.h"
#include "support/status_assertions.h"
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
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
#include <mutex>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/aligned_buffer.h"
#include "common/ids.h"
#include "common/status.h"
#include "store/blob/local/local_blob_store.h"
#include "store/blob/memory/memory_blob_store.h"
#include "store/blob/s3/s3_blob_store.h"
#include "store/blob/s3/s3_protocol.h"

namespace fileport {
namespace {

constexpr std::size_t kMiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Status assertions: tests/support/status_assertions.h.
using fileport::testing::CountFolios;
using fileport::testing::HasCode;
using fileport::testing::IsOk;
using fileport::testing::ResidentPages;
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

// Options for a store on the engine named by FILEPORT_TEST_S3, under a prefix of its own:
// tests run in parallel processes against one bucket, and one test's CleanupTemporary(0) must
// not abort another's uploads. Unavailable (the suite skips) when the variable is unset.
Result<S3BlobOptions> TestS3Options() {
  const char* uri = std::getenv("FILEPORT_TEST_S3");
  if (uri == nullptr || *uri == '\0') {
    return Unavailable(
        "FILEPORT_TEST_S3 is not set; start an S3 engine with "
        "`eval \"$(scripts/ceph.sh start DIR)\"` (it also sets AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY)");
  }
  ASSIGN_OR_RETURN(S3BlobOptions options, S3BlobOptions::FromUri(uri));
  if (!options.key_prefix.empty() && options.key_prefix.back() != '/') options.key_prefix += '/';
  options.key_prefix += "conformance-" + RandomHex(8);
  return options;
}

// Opens the store; with FILEPORT_TEST_S3 set, an engine that cannot be used is a failure, not
// a reason to skip.
Result<std::unique_ptr<S3BlobStore>> OpenTestS3(S3BlobOptions options) {
  auto store = S3BlobStore::Open(std::move(options));
  if (!store.ok() && store.status().code() == StatusCode::kUnavailable) {
    return Internal("FILEPORT_TEST_S3 is set but the store does not open: " +
                    store.status().message());
  }
  return store;
}

StoreUnderTest S3UnderTest(std::unique_ptr<S3BlobStore> store) {
  S3BlobStore* raw = store.get();
  // Temporary data: multipart uploads in progress under the store's prefix.
  return StoreUnderTest{std::move(store), [raw] {
                          auto uploads = raw->ListPendingUploads();
                          return uploads.ok() ? uploads->size() : SIZE_MAX;
                        }};
}

BlobStoreFactory S3Factory() {
  return {"s3", [](const std::string&) -> Result<StoreUnderTest> {
            ASSIGN_OR_RETURN(S3BlobOptions options, TestS3Options());
            ASSIGN_OR_RETURN(auto store, OpenTestS3(std::move(options)));
            return S3UnderTest(std::move(store));
          }};
}

// Sub-parts of 256 KiB + 1 byte, so that the suite's megabyte-sized blobs go through many
// parts, appends span several of them and boundaries fall at odd offsets. S3 itself refuses
// parts under 5 MiB; engines configured to accept them (scripts/ceph.sh sets RGW's
// `rgw multipart min part size`) run this variant, others skip it, as probed once.
constexpr std::size_t kSmallPartBytes = 256 * 1024 + 1;

Status ProbeSmallParts(const S3BlobOptions& options) {
  static const Status probed = [&options]() -> Status {
    ASSIGN_OR_RETURN(auto store, OpenTestS3(options));
    ASSIGN_OR_RETURN(auto writer, store->NewWriter("probe"));
    RETURN_IF_ERROR(writer->Append(Pattern(2 * kSmallPartBytes + 1, 0)));
    Status s = writer->Commit();
    if (!s.ok() && s.message().find("EntityTooSmall") != std::string::npos) {
      return Unavailable(
          "the S3 engine refuses parts under 5 MiB (RGW: set `rgw multipart min "
          "part size`, as scripts/ceph.sh does)");
    }
    RETURN_IF_ERROR(s);
    return store->Delete("probe");
  }();
  return probed;
}

BlobStoreFactory S3SmallSubpartsFactory() {
  return {"s3_small_subparts", [](const std::string&) -> Result<StoreUnderTest> {
            ASSIGN_OR_RETURN(S3BlobOptions options, TestS3Options());
            options.part_bytes = kSmallPartBytes;
            RETURN_IF_ERROR(ProbeSmallParts(options));
            ASSIGN_OR_RETURN(auto store, OpenTestS3(std::move(options)));
            return S3UnderTest(std::move(store));
          }};
}

std::vector<BlobStoreFactory> Factories() {
  return {
      MemoryFactory(),
      // Direct I/O where the scratch filesystem allows it (the default), and buffered.
      LocalFactory("local", {}),
      LocalFactory("local_buffered", {.direct_io = false}),
      // One-block buffer: every direct write is a single block, most blobs end in a tail.
      LocalFactory("local_direct_one_block", {.buffer_bytes = 4096}),
      // Tiny buffer, writeback interval and read-ahead window: every append path (coalesce,
      // flush, direct write), hundreds of writeback calls, and a read-ahead window that ends
      // mid-page (probe and advice) every 4099 bytes, run on small blobs.
      LocalFactory("local_tiny_buffers",
                   {.buffer_bytes = 7, .writeback_bytes = 4099, .read_ahead_bytes = 4099}),
      // No read-ahead of its own: the kernel's alone.
      LocalFactory("local_no_read_ahead", {.read_ahead_bytes = 0}),
      // Read-ahead advised by each reader itself, without threads.
      LocalFactory("local_read_ahead_advised", {.read_ahead_threads = 0}),
      S3Factory(),
      S3SmallSubpartsFactory(),
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
  EXPECT_CODE(LocalBlobStore::Open(nested, {.read_ahead_bytes = -1}),
              StatusCode::kInvalidArgument);
  EXPECT_CODE(LocalBlobStore::Open(nested, {.read_ahead_threads = -1}),
              StatusCode::kInvalidArgument);
}

TEST_F(LocalBlobStoreTest, PingFailsWhenTheRootIsGone) {
  EXPECT_OK(store_->Ping());
  std::filesystem::remove_all(root_);
  EXPECT_CODE(store_->Ping(), StatusCode::kUnavailable);
}

// Mounts a filesystem for the duration of a test (we run as root in CI containers): by
// default a 1 MiB tmpfs.
class TinyFilesystem {
 public:
  explicit TinyFilesystem(const std::string& dir, const char* type = "tmpfs",
                          const char* options = "size=1m")
      : dir_(dir) {
    std::filesystem::create_directories(dir_);
    if (::mount(type, dir_.c_str(), type, 0, options) != 0) {
      error_ = std::string("mount -t ") + type + " -o " + options + ": " + std::strerror(errno);
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

// True when `dir`'s filesystem accepts O_DIRECT (ext4, xfs, btrfs; not tmpfs).
bool SupportsDirectIo(const std::string& dir) {
  const std::string probe = dir + "/direct-probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_DIRECT | O_CLOEXEC, 0600);
  ::unlink(probe.c_str());
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

TEST_F(LocalBlobStoreTest, DirectIoWritesWholeBuffersAndTheUnalignedTailAtCommit) {
  if (!SupportsDirectIo(root_ + "/tmp")) GTEST_SKIP() << "the scratch filesystem refuses O_DIRECT";
  ASSERT_TRUE(store_->direct_io());
  auto writer = store_->NewWriter("direct");
  ASSERT_OK(writer);
  const std::string data = Pattern(3 * kMiB + 4097, 15);
  // Misplaced on purpose: the byte for file offset f sits at an address of f + 1 modulo the
  // block size, so no block can be written from where it is (as in the next test) and every
  // byte goes through the buffer, wherever the heap put `data`.
  AlignedBuffer memory = AllocateAligned(data.size() + kIoAlignment);
  std::memcpy(memory.get() + 1, data.data(), data.size());
  // Odd-sized appends: the buffer, not the caller's spans, decides what reaches the file.
  ASSERT_OK(AppendAll(**writer, std::string_view(memory.get() + 1, data.size()),
                      {12345, 999999, 1}));
  const auto names = ListDir(root_ + "/tmp");
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(std::filesystem::file_size(root_ + "/tmp/" + names[0]), 3 * kMiB)
      << "only whole 1 MiB buffers are written before Commit";
  ASSERT_OK((*writer)->Commit());
  EXPECT_TRUE(SameBytes(ReadBlob(*store_, "direct"), data));
  EXPECT_TRUE(store_->direct_io()) << "an unaligned tail is not a refusal of direct I/O";
  EXPECT_TRUE(ListDir(root_ + "/tmp").empty());
}

// Bytes that sit in memory where their file offset says (modulo 4096), as the transport
// places request bodies, reach the file from there: the writer completes its partial block,
// then writes the caller's aligned blocks without waiting for a full buffer.
TEST_F(LocalBlobStoreTest, DirectIoWritesPlacedBytesFromWhereTheyAre) {
  if (!SupportsDirectIo(root_ + "/tmp")) GTEST_SKIP() << "the scratch filesystem refuses O_DIRECT";
  auto writer = store_->NewWriter("placed");
  ASSERT_OK(writer);
  const std::string data = Pattern(3 * kMiB, 16);
  AlignedBuffer memory = AllocateAligned(data.size() + kIoAlignment);
  std::memcpy(memory.get(), data.data(), data.size());
  auto temp_size = [&] {
    const auto names = ListDir(root_ + "/tmp");
    return names.size() == 1 ? std::filesystem::file_size(root_ + "/tmp/" + names[0])
                             : std::uintmax_t{999999999};
  };
  // 100 bytes from anywhere: buffered.
  ASSERT_OK((*writer)->Append(std::string_view(data).substr(0, 100)));
  EXPECT_EQ(temp_size(), 0u);
  // 64 KiB + 7 placed at file offset 100: the first block is completed from the buffer and
  // written with the 15 whole blocks that follow it in the caller's memory; 107 bytes stay.
  ASSERT_OK((*writer)->Append(std::span<const char>(memory.get() + 100, 64 * 1024 + 7)));
  EXPECT_EQ(temp_size(), 64u * 1024) << "a copy would have held the bytes until 1 MiB";
  // Misplaced bytes (address off by one): copied into the buffer, nothing written.
  const std::size_t at = 100 + 64 * 1024 + 7;
  const std::string misplaced = data.substr(at, 5000);
  ASSERT_OK((*writer)->Append(misplaced));
  EXPECT_EQ(temp_size(), 64u * 1024);
  // The rest, placed again: aligned blocks straight from the caller's memory.
  ASSERT_OK((*writer)->Append(
      std::span<const char>(memory.get() + at + 5000, data.size() - at - 5000)));
  EXPECT_EQ(temp_size(), data.size() / kIoAlignment * kIoAlignment);
  ASSERT_OK((*writer)->Commit());
  EXPECT_TRUE(SameBytes(ReadBlob(*store_, "placed"), data));
  EXPECT_TRUE(store_->direct_io());
}

// Zero-copy downloads: the reader moves exactly its range to a socket, says 0 when the socket
// is full, and reports a peer that has gone as Unavailable without a SIGPIPE (whose default
// action would end this test binary).
TEST_F(LocalBlobStoreTest, SendToSocketMovesExactlyTheRangeAndNeverRaisesSigpipe) {
  const std::string data = Pattern(3 * kMiB, 17);
  ASSERT_OK(WriteBlob(*store_, "sent", data));
  const std::int64_t offset = 1000;
  const std::int64_t length = 2 * kMiB + 5;
  auto reader = store_->NewReader("sent", offset, length);
  ASSERT_OK(reader);
  ASSERT_TRUE((*reader)->CanSendToSocket());
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  std::string received;
  int full = 0;
  std::vector<char> buf(256 * 1024);
  while (received.size() < static_cast<std::size_t>(length)) {
    // Send until the socket is full, then drain it.
    for (;;) {
      auto n = (*reader)->SendToSocket(sv[0], kMiB);
      ASSERT_OK(n);
      if (*n == 0) break;
    }
    ++full;
    for (ssize_t r; (r = ::read(sv[1], buf.data(), buf.size())) > 0;) received.append(buf.data(), r);
  }
  EXPECT_GT(full, 1) << "a socket pair holds less than 2 MiB: it must have filled up";
  EXPECT_TRUE(SameBytes(received, data.substr(offset, length)));
  auto end = (*reader)->SendToSocket(sv[0], kMiB);
  ASSERT_OK(end);
  EXPECT_EQ(*end, 0u) << "the range is done";
  ::close(sv[0]);
  ::close(sv[1]);

  auto second = store_->NewReader("sent");
  ASSERT_OK(second);
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  ::close(sv[1]);  // the peer is gone: a send is EPIPE, with a SIGPIPE unless blocked
  EXPECT_CODE((*second)->SendToSocket(sv[0], kMiB), StatusCode::kUnavailable);
  sigset_t pending;
  ASSERT_EQ(::sigpending(&pending), 0);
  EXPECT_EQ(::sigismember(&pending, SIGPIPE), 0) << "no SIGPIPE left pending";
  ::close(sv[0]);
}

// The sends that skip the signal mask when SIGPIPE is ignored still never raise one where it
// is not: a handler the process installed is not called, and neither disposition leaves the
// thread's signal mask changed.
std::atomic<int> g_sigpipes{0};
void CountSigpipe(int) { g_sigpipes.fetch_add(1); }

TEST_F(LocalBlobStoreTest, SendToSocketRaisesNoSigpipeWhateverTheDisposition) {
  ASSERT_OK(WriteBlob(*store_, "gone", Pattern(kMiB, 3)));
  struct sigaction saved {};
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &saved), 0);
  struct sigaction handled {};
  handled.sa_handler = CountSigpipe;
  sigemptyset(&handled.sa_mask);
  struct sigaction ignored {};
  ignored.sa_handler = SIG_IGN;
  sigemptyset(&ignored.sa_mask);
  for (const auto* disposition : {&handled, &ignored}) {
    SCOPED_TRACE(disposition == &ignored ? "ignored" : "handled");
    ASSERT_EQ(::sigaction(SIGPIPE, disposition, nullptr), 0);
    sigset_t mask_before;
    ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, nullptr, &mask_before), 0);
    auto reader = store_->NewReader("gone");
    ASSERT_OK(reader);
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    ::close(sv[1]);
    g_sigpipes = 0;
    EXPECT_CODE((*reader)->SendToSocket(sv[0], kMiB), StatusCode::kUnavailable);
    ::close(sv[0]);
    EXPECT_EQ(g_sigpipes.load(), 0) << "the process's SIGPIPE handler ran";
    sigset_t mask_after;
    ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, nullptr, &mask_after), 0);
    EXPECT_EQ(::sigismember(&mask_after, SIGPIPE), ::sigismember(&mask_before, SIGPIPE));
    sigset_t pending;
    ASSERT_EQ(::sigpending(&pending), 0);
    EXPECT_EQ(::sigismember(&pending, SIGPIPE), 0) << "no SIGPIPE left pending";
  }
  ASSERT_EQ(::sigaction(SIGPIPE, &saved, nullptr), 0);
}

// A reader told its bytes are read once (an MD5 at completion) reads them around the page
// cache, in direct reads into the caller's aligned memory, and delivers the same bytes; the
// pages it read are not left in the cache. Told nothing, it reads through the cache.
TEST_F(LocalBlobStoreTest, ReadOnceReadsAroundThePageCache) {
  if (!SupportsDirectIo(root_ + "/tmp")) GTEST_SKIP() << "the scratch filesystem refuses O_DIRECT";
  const std::string data = Pattern(3 * kMiB + 123, 18);
  ASSERT_OK(WriteBlob(*store_, "once", data));
  const std::string path = store_->ObjectPath("once");
  auto evict = [&] {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ::fdatasync(fd);
    ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    ::close(fd);
  };
  AlignedBuffer memory = AllocateAligned(kMiB);
  auto read_all = [&](bool once) {
    auto reader = store_->NewReader("once");
    EXPECT_OK(reader);
    if (!reader.ok()) return std::string();
    if (once) (*reader)->HintReadOnce();
    std::string out;
    for (;;) {
      auto n = (*reader)->Read(std::span<char>(memory.get(), kMiB));
      EXPECT_OK(n);
      if (!n.ok() || *n == 0) break;
      out.append(memory.get(), *n);
    }
    return out;
  };
  evict();
  if (ResidentPages(path) != 0) GTEST_SKIP() << "the page cache keeps pages fadvise asked to drop";
  EXPECT_TRUE(SameBytes(read_all(/*once=*/true), data));
  EXPECT_EQ(ResidentPages(path), 0u) << "a direct read leaves nothing in the page cache";
  EXPECT_TRUE(SameBytes(read_all(/*once=*/false), data));
  EXPECT_GT(ResidentPages(path), 0u) << "an ordinary read goes through the page cache";
  // A range that starts off a block boundary cannot go direct: it is read through the cache,
  // with the same bytes.
  auto ranged = store_->NewReader("once", 1000, 2 * kMiB);
  ASSERT_OK(ranged);
  (*ranged)->HintReadOnce();
  std::string got;
  for (;;) {
    auto n = (*ranged)->Read(std::span<char>(memory.get(), kMiB));
    ASSERT_OK(n);
    if (*n == 0) break;
    got.append(memory.get(), *n);
  }
  EXPECT_TRUE(SameBytes(got, data.substr(1000, 2 * kMiB)));
}

// A reader keeps the next window (LocalBlobOptions::read_ahead_bytes, 8 MiB) on its way into
// the page cache. The read-ahead threads read it in through a mapping, which leaves it in large
// folios as an ordinary read would: every later sendfile of it then moves a few folios rather
// than a page at a time. (The kernel's own read-ahead of a first 64 KiB read stops far short
// of the window. Without threads the reader advises the window with WILLNEED, whose reads are
// still in flight when it returns: nothing to wait for, so the bytes alone are checked, by the
// conformance suite.)
TEST_F(LocalBlobStoreTest, ReadAheadThreadsReadTheNextWindowInLargeFolios) {
  if (!SupportsDirectIo(root_ + "/tmp")) GTEST_SKIP() << "the scratch filesystem refuses O_DIRECT";
  constexpr std::int64_t kWindow = std::int64_t{8} << 20;
  const std::string data = Pattern(3 * kWindow + 5, 31);
  ASSERT_OK(WriteBlob(*store_, "ahead", data));
  const std::string path = store_->ObjectPath("ahead");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
  ::close(fd);
  if (ResidentPages(path) != 0) GTEST_SKIP() << "the page cache keeps pages fadvise asked to drop";

  auto reader = store_->NewReader("ahead");
  ASSERT_OK(reader);
  std::string got(64 * 1024, '\0');
  auto n = (*reader)->Read(std::span<char>(got.data(), got.size()));
  ASSERT_OK(n);
  ASSERT_EQ(*n, got.size());
  store_->WaitForReadAhead();
  const std::size_t window_pages = kWindow / ::sysconf(_SC_PAGESIZE);
  EXPECT_EQ(ResidentPages(path, 0, kWindow), window_pages) << "the window ahead of the read";
  // Its folios are counted now: later reads and writes may get some of its pages reclaimed.
  auto window = CountFolios(path, 0, kWindow);
  std::string buffer(kMiB, '\0');
  for (;;) {
    auto more = (*reader)->Read(std::span<char>(buffer.data(), buffer.size()));
    ASSERT_OK(more);
    if (*more == 0) break;
    got.append(buffer.data(), *more);
  }
  EXPECT_TRUE(SameBytes(got, data));

  // Large folios, where the kernel caches this filesystem's files in them at all (plain reads
  // of another blob show) and the page flags can be read (CAP_SYS_ADMIN).
  ASSERT_OK(WriteBlob(*store_, "plain", data.substr(0, kWindow)));
  const std::string plain_path = store_->ObjectPath("plain");
  const int plain = ::open(plain_path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(plain, 0);
  ASSERT_EQ(::posix_fadvise(plain, 0, 0, POSIX_FADV_DONTNEED), 0);
  for (std::int64_t at = 0; at < kWindow; at += kMiB) {
    ASSERT_EQ(::pread(plain, buffer.data(), kMiB, at), static_cast<ssize_t>(kMiB));
  }
  ::close(plain);
  auto ordinary = CountFolios(plain_path, 0, kWindow);
  if (!window || !ordinary) GTEST_SKIP() << "/proc/kpageflags cannot be read";
  if (ordinary->in_large_folios == 0) {
    GTEST_SKIP() << "this kernel caches the scratch filesystem's files in single pages";
  }
  EXPECT_GE(window->in_large_folios, window_pages * 9 / 10)
      << window->resident << " of the window's pages resident; of plain reads' pages, "
      << ordinary->in_large_folios << " of " << ordinary->resident << " are in large folios";
}

// A store closed while its read-ahead threads have windows waiting drops them and stops its
// threads (a hang here is a failure, by the test's timeout). Its one thread is asked for more
// windows than its queue holds (64), so that readers may advise some themselves; every reader
// reads its bytes either way.
TEST_F(LocalBlobStoreTest, AStoreClosedWithReadAheadWaitingStopsItsThreads) {
  if (!SupportsDirectIo(root_ + "/tmp")) GTEST_SKIP() << "the scratch filesystem refuses O_DIRECT";
  auto opened = LocalBlobStore::Open(scratch_.path() + "/closing",
                                     {.read_ahead_bytes = 512 * 1024, .read_ahead_threads = 1});
  ASSERT_OK(opened);
  std::unique_ptr<LocalBlobStore> store = std::move(opened).value();
  constexpr int kBlobs = 80;
  const std::string data = Pattern(kMiB, 41);
  for (int i = 0; i < kBlobs; ++i) {
    const std::string key = "b" + std::to_string(i);
    ASSERT_OK(WriteBlob(*store, key, data));
    const int fd = ::open(store->ObjectPath(key).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    ::close(fd);
  }
  std::vector<std::unique_ptr<BlobReader>> readers;
  for (int i = 0; i < kBlobs; ++i) {
    auto reader = store->NewReader("b" + std::to_string(i));
    ASSERT_OK(reader);
    std::string got(4096, '\0');
    auto n = (*reader)->Read(std::span<char>(got.data(), got.size()));
    ASSERT_OK(n);
    ASSERT_EQ(*n, got.size());
    EXPECT_TRUE(SameBytes(got, data.substr(0, got.size()))) << i;
    readers.push_back(std::move(reader).value());
  }
  readers.clear();
  store.reset();
}

// A blob its writer is told will be small (at most LocalBlobOptions::cached_blob_bytes, 16 MiB)
// is written through the page cache, where its first read finds it. One told nothing, told a
// larger size, or told only after its first bytes goes direct: of it only the unaligned tail
// passes through the cache.
TEST_F(LocalBlobStoreTest, ABlobToldItIsSmallIsWrittenThroughThePageCache) {
  if (!SupportsDirectIo(root_ + "/tmp")) GTEST_SKIP() << "the scratch filesystem refuses O_DIRECT";
  const std::string data = Pattern(2 * kMiB + 5, 21);
  auto write = [&](const std::string& key, std::optional<std::int64_t> hint, bool late) {
    auto writer = store_->NewWriter(key);
    ASSERT_OK(writer);
    if (hint && !late) (*writer)->HintSize(*hint);
    ASSERT_OK((*writer)->Append(std::span<const char>(data.data(), 3 * 4096)));
    if (hint && late) (*writer)->HintSize(*hint);
    ASSERT_OK((*writer)->Append(
        std::span<const char>(data.data() + 3 * 4096, data.size() - 3 * 4096)));
    ASSERT_OK((*writer)->Commit());
  };
  write("small", static_cast<std::int64_t>(data.size()), false);
  write("at-the-limit", std::int64_t{16} << 20, false);
  write("told-nothing", std::nullopt, false);
  write("larger", (std::int64_t{16} << 20) + 1, false);
  write("told-late", static_cast<std::int64_t>(data.size()), true);
  const std::size_t pages = (data.size() + 4095) / 4096;
  EXPECT_EQ(ResidentPages(store_->ObjectPath("small")), pages);
  EXPECT_EQ(ResidentPages(store_->ObjectPath("at-the-limit")), pages);
  EXPECT_LE(ResidentPages(store_->ObjectPath("told-nothing")), 1u);
  EXPECT_LE(ResidentPages(store_->ObjectPath("larger")), 1u);
  EXPECT_LE(ResidentPages(store_->ObjectPath("told-late")), 1u);
  for (const char* key : {"small", "at-the-limit", "told-nothing", "larger", "told-late"}) {
    EXPECT_TRUE(SameBytes(ReadBlob(*store_, key), data)) << key;
  }
  EXPECT_TRUE(store_->direct_io()) << "a small blob is not a refusal of direct I/O";
}

TEST_F(LocalBlobStoreTest, DirectIoRefusedByTheFilesystemFallsBackToBufferedWrites) {
  // ramfs refuses O_DIRECT at open (tmpfs accepts it since Linux 6.6).
  TinyFilesystem fs(scratch_.path() + "/ram", "ramfs", "mode=0700");
  if (!fs.error().empty()) GTEST_SKIP() << "cannot mount a ramfs: " << fs.error();
  if (SupportsDirectIo(scratch_.path() + "/ram")) GTEST_SKIP() << "this ramfs accepts O_DIRECT";
  auto opened = LocalBlobStore::Open(scratch_.path() + "/ram/root");
  ASSERT_OK(opened);
  LocalBlobStore& store = **opened;
  EXPECT_TRUE(store.direct_io()) << "not known to be refused before the first writer";
  const std::string data = Pattern(kMiB / 2 + 3, 16);
  ASSERT_OK(WriteBlob(store, "p/fallback", data));
  EXPECT_FALSE(store.direct_io()) << "the filesystem refused O_DIRECT";
  EXPECT_TRUE(SameBytes(ReadBlob(store, "p/fallback"), data));
  EXPECT_TRUE(ListDir(store.temp_dir()).empty()) << "the refused open left no temp file";
  EXPECT_FALSE(LocalBlobStore::Open(scratch_.path() + "/x", {.buffer_bytes = 4097})
                   .value()
                   ->direct_io())
      << "a buffer that is not whole blocks cannot be written direct";
}

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

// ---------------------------------------------------------------------------------------------
// S3BlobStore specifics. The protocol helpers and the URI need no server.

TEST(S3ProtocolTest, A200AnswerWithAnErrorBodyIsAnError) {
  // S3 may answer CompleteMultipartUpload with 200, whitespace sent to keep the connection
  // alive, and then an <Error> document.
  const auto error = s3::ErrorOf(200,
                                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n   \n"
                                 "<Error><Code>InternalError</Code><Message>We encountered an "
                                 "internal error. Please try again.</Message>"
                                 "<RequestId>req-1</RequestId></Error>");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, "InternalError");
  EXPECT_EQ(error->request_id, "req-1");
  EXPECT_TRUE(s3::IsRetryable(*error));
  EXPECT_CODE(s3::ErrorToStatus(*error, "complete"), StatusCode::kUnavailable);
  EXPECT_FALSE(s3::ErrorOf(200,
                           "  \n<?xml version=\"1.0\"?><CompleteMultipartUploadResult>"
                           "<Key>Error</Key><ETag>\"e-2\"</ETag>"
                           "</CompleteMultipartUploadResult>")
                   .has_value());
  EXPECT_FALSE(s3::ErrorOf(204, "").has_value());
  EXPECT_FALSE(s3::ErrorOf(200, "").has_value());
  // Any non-2xx is an error, with or without a document (HEAD answers have no body).
  const auto bodiless = s3::ErrorOf(404, "");
  ASSERT_TRUE(bodiless.has_value());
  EXPECT_EQ(bodiless->code, "");
  EXPECT_CODE(s3::ErrorToStatus(*bodiless, "stat"), StatusCode::kNotFound);
}

TEST(S3ProtocolTest, EachErrorTranslatesToItsStatusAndRetryability) {
  struct Case {
    long http_status;
    std::string code;
    StatusCode want;
    bool retryable;
  };
  const std::vector<Case> cases = {
      {404, "NoSuchKey", StatusCode::kNotFound, false},
      {404, "NoSuchUpload", StatusCode::kNotFound, false},
      {404, "", StatusCode::kNotFound, false},
      {404, "NoSuchBucket", StatusCode::kUnavailable, false},
      {416, "InvalidRange", StatusCode::kOutOfRange, false},
      {403, "SignatureDoesNotMatch", StatusCode::kUnavailable, false},
      {403, "InvalidAccessKeyId", StatusCode::kUnavailable, false},
      {403, "RequestTimeTooSkewed", StatusCode::kUnavailable, false},
      {403, "", StatusCode::kUnavailable, false},
      {403, "AccessDenied", StatusCode::kUnavailable, false},
      {403, "QuotaExceeded", StatusCode::kResourceExhausted, false},
      {400, "EntityTooLarge", StatusCode::kResourceExhausted, false},
      {507, "InsufficientCapacity", StatusCode::kResourceExhausted, false},
      {503, "SlowDown", StatusCode::kUnavailable, true},
      {500, "InternalError", StatusCode::kUnavailable, true},
      {400, "RequestTimeout", StatusCode::kUnavailable, true},
      {502, "", StatusCode::kUnavailable, true},
      {504, "", StatusCode::kUnavailable, true},
      {429, "", StatusCode::kUnavailable, true},
      {501, "NotImplemented", StatusCode::kUnavailable, false},
      {400, "EntityTooSmall", StatusCode::kInternal, false},
      {400, "InvalidPart", StatusCode::kInternal, false},
      {400, "MalformedXML", StatusCode::kInternal, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::to_string(c.http_status) + " " + c.code);
    const s3::S3Error error{c.http_status, c.code, "msg", "req"};
    const Status status = s3::ErrorToStatus(error, "op on 'k'");
    EXPECT_CODE(status, c.want);
    EXPECT_EQ(s3::IsRetryable(error), c.retryable);
    EXPECT_EQ(status.message().rfind("op on 'k': ", 0), 0u) << status.message();
  }
  const Status creds = s3::ErrorToStatus({403, "SignatureDoesNotMatch", "", ""}, "ping");
  EXPECT_NE(creds.message().find("S3 rejected the credentials"), std::string::npos)
      << creds.message();
}

TEST(S3ProtocolTest, QueriesAreCanonicalAndPathsEncoded) {
  EXPECT_EQ(s3::CanonicalQuery({{"uploads", ""}, {"prefix", "a/b c"}}),
            "prefix=a%2Fb%20c&uploads=");
  EXPECT_EQ(s3::CanonicalQuery({{"uploadId", "2~x+y/z="}, {"partNumber", "3"}}),
            "partNumber=3&uploadId=2~x%2By%2Fz%3D");
  EXPECT_EQ(s3::CanonicalQuery({}), "");
  EXPECT_EQ(s3::UriEncode("p/A-z_0.~ \xc3\xa9", true), "p/A-z_0.~%20%C3%A9");
  EXPECT_EQ(s3::UriEncode("a/b", false), "a%2Fb");
}

TEST(S3ProtocolTest, XmlFieldsAreFoundByExactNameAndDecoded) {
  const std::string listing =
      "<ListMultipartUploadsResult><Prefix/><KeyMarker>km</KeyMarker>"
      "<IsTruncated>true</IsTruncated>"
      "<Upload><Key>a&amp;b&lt;&#x41;&#66;</Key><UploadId>2~id1</UploadId>"
      "<Initiated>2026-11-22T07:50:11.449Z</Initiated></Upload>"
      "<Upload><Key>c</Key><UploadId>2~id2</UploadId>"
      "<Initiated>1970-01-01T00:00:01Z</Initiated></Upload></ListMultipartUploadsResult>";
  EXPECT_EQ(s3::XmlField(listing, "Key"), "a&b<AB");
  EXPECT_EQ(s3::XmlField(listing, "KeyMarker"), "km");
  EXPECT_EQ(s3::XmlField(listing, "Prefix"), "");
  EXPECT_EQ(s3::XmlField(listing, "NextKeyMarker"), std::nullopt);
  const auto uploads = s3::XmlElements(listing, "Upload");
  ASSERT_EQ(uploads.size(), 2u);
  EXPECT_EQ(s3::XmlField(uploads[1], "UploadId"), "2~id2");
  EXPECT_EQ(s3::ParseTimestampMillis(*s3::XmlField(uploads[1], "Initiated")), 1000);
  EXPECT_EQ(s3::XmlEscape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;");
}

TEST(S3ProtocolTest, ContentRangesAndTimestampsParse) {
  auto range = s3::ParseContentRange("bytes 0-9/100");
  ASSERT_TRUE(range.has_value());
  EXPECT_EQ(range->first, 0);
  EXPECT_EQ(range->last, 9);
  EXPECT_EQ(range->total, 100);
  EXPECT_EQ(s3::ParseContentRange("bytes 5-5/*")->total, -1);
  for (const char* bad :
       {"bytes 9-0/100", "bytes 0-9/5", "items 0-1/2", "bytes 0-9", "bytes -1/2", "bytes 0-9/x"}) {
    EXPECT_FALSE(s3::ParseContentRange(bad).has_value()) << bad;
  }
  EXPECT_EQ(s3::ParseTimestampMillis("1970-01-02T00:00:00.5Z"), 86400 * 1000 + 500);
  EXPECT_EQ(s3::ParseTimestampMillis("2001-09-09T01:46:40.123Z"), std::int64_t{1000000000123});
  for (const char* bad : {"2026-11-22 07:50:11Z", "2026-11-22T07:50:11", "junk", "",
                          "2026-13-01T00:00:00Z", "2026-11-22T07:50:11.Z"}) {
    EXPECT_FALSE(s3::ParseTimestampMillis(bad).has_value()) << bad;
  }
}

TEST(S3BlobOptionsTest, FromUriParsesTheDocumentedForm) {
  auto options = S3BlobOptions::FromUri(
      "s3://bucket-1/some/prefix?endpoint=http%3A%2F%2F127.0.0.1%3A7480&region=eu-west-1"
      "&part_size=16MiB&create_bucket=false");
  ASSERT_OK(options);
  EXPECT_EQ(options->bucket, "bucket-1");
  EXPECT_EQ(options->key_prefix, "some/prefix");
  EXPECT_EQ(options->endpoint, "http://127.0.0.1:7480");
  EXPECT_EQ(options->region, "eu-west-1");
  EXPECT_TRUE(options->path_style) << "an explicit endpoint means path-style by default";
  EXPECT_EQ(options->part_bytes, std::size_t{16} << 20);
  EXPECT_FALSE(options->create_bucket);

  auto aws = S3BlobOptions::FromUri("s3://b");
  ASSERT_OK(aws);
  EXPECT_EQ(aws->endpoint, "");
  EXPECT_EQ(aws->region, "us-east-1");
  EXPECT_FALSE(aws->path_style) << "AWS wants virtual-hosted addressing";
  EXPECT_EQ(aws->key_prefix, "");

  auto raw = S3BlobOptions::FromUri("s3://b?endpoint=http://h:1&path_style=false");
  ASSERT_OK(raw);
  EXPECT_EQ(raw->endpoint, "http://h:1");
  EXPECT_FALSE(raw->path_style);

  for (const char* bad : {"s3://", "file:///x", "s3://key:secret@b", "s3://b:9000", "s3://b?foo=1",
                          "s3://b?part_size=abc", "s3://b?path_style=maybe", "not a uri"}) {
    auto parsed = S3BlobOptions::FromUri(bad);
    EXPECT_CODE(parsed, StatusCode::kInvalidArgument) << bad;
    if (!parsed.ok()) {
      EXPECT_NE(parsed.status().message().find("s3://BUCKET"), std::string::npos) << bad;
      EXPECT_EQ(parsed.status().message().find("secret"), std::string::npos) << bad;
    }
  }
}

TEST(S3BlobStoreTest, OpenWithNothingListeningIsUnavailable) {
  S3BlobOptions options;
  options.bucket = "b";
  options.endpoint = "http://127.0.0.1:1";  // Port 1: refused at once.
  options.access_key_id = "AKIDEXAMPLE";
  options.secret_access_key = "not-a-real-secret";
  options.max_attempts = 2;
  options.retry_base_delay = std::chrono::milliseconds(1);
  auto store = S3BlobStore::Open(options);
  EXPECT_CODE(store, StatusCode::kUnavailable);
  if (!store.ok()) {
    EXPECT_EQ(store.status().message().find("not-a-real-secret"), std::string::npos);
  }
}

TEST(S3BlobStoreTest, OpenRejectsBadOptionsBeforeSendingAnything) {
  S3BlobOptions options;
  options.bucket = "b";
  options.endpoint = "http://127.0.0.1:1";
  options.access_key_id = "AKIDEXAMPLE";  // The secret is missing.
  EXPECT_CODE(S3BlobStore::Open(options), StatusCode::kInvalidArgument);
  options.secret_access_key = "s";
  for (const char* endpoint : {"ftp://h", "http://h/path", "127.0.0.1:7480", "http://u:p@h"}) {
    options.endpoint = endpoint;
    EXPECT_CODE(S3BlobStore::Open(options), StatusCode::kInvalidArgument) << endpoint;
  }
  options.endpoint = "http://127.0.0.1:1";
  options.part_bytes = 0;
  EXPECT_CODE(S3BlobStore::Open(options), StatusCode::kInvalidArgument);
  options.part_bytes = 1 << 20;
  options.key_prefix = "bad prefix";
  EXPECT_CODE(S3BlobStore::Open(options), StatusCode::kInvalidArgument);
}

// A scripted stand-in for S3, for what a real engine will not do on demand: fail
// transiently, answer 200 with an error, or break a download mid-body. It answers each request
// (one per connection) with the next reply of its script, the last one repeating, and records
// every request head. Like real engines, it answers "Expect: 100-continue".
class ScriptedS3 {
 public:
  struct Reply {
    int status = 200;
    std::vector<std::string> headers;  // "Name: value"; Content-Length is added unless given.
    std::string body;
    // Close the connection after this many body bytes (a broken download).
    std::size_t cut_after = std::string::npos;
  };

  explicit ScriptedS3(std::vector<Reply> script) : script_(std::move(script)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        ::listen(listen_fd_, 16) == 0 &&
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedS3() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> heads() const {
    std::lock_guard lock(mu_);
    return heads_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd pfd{listen_fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 50) <= 0) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      Handle(fd);
      ::close(fd);
    }
  }

  void Handle(int fd) {
    std::string in;
    char buf[65536];
    auto read_more = [&] {
      const ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n <= 0) return false;
      in.append(buf, static_cast<std::size_t>(n));
      return true;
    };
    std::size_t head_end;
    while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
      if (!read_more()) return;
    }
    std::string head = in.substr(0, head_end);
    std::size_t body_len = 0;
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (auto at = lower.find("content-length:"); at != std::string::npos) {
      body_len = std::stoul(lower.substr(at + 15));
    }
    if (lower.find("expect: 100-continue") != std::string::npos) {
      constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      if (::send(fd, kContinue.data(), kContinue.size(), MSG_NOSIGNAL) < 0) return;
    }
    while (in.size() < head_end + 4 + body_len && read_more()) {
    }
    std::size_t index;
    {
      std::lock_guard lock(mu_);
      index = std::min(heads_.size(), script_.size() - 1);
      heads_.push_back(std::move(head));
    }
    const Reply& reply = script_[index];
    std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " Scripted\r\n";
    bool has_length = false;
    for (const auto& h : reply.headers) {
      out += h + "\r\n";
      if (h.rfind("Content-Length:", 0) == 0) has_length = true;
    }
    if (!has_length) out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n";
    out += "Connection: close\r\n\r\n";
    out += reply.body.substr(0, reply.cut_after);
    for (std::size_t sent = 0; sent < out.size();) {
      const ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<std::size_t>(n);
    }
  }

  const std::vector<Reply> script_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<std::string> heads_;  // Guarded by mu_.
  std::thread thread_;
};

Result<std::unique_ptr<S3BlobStore>> OpenScripted(const ScriptedS3& server,
                                                  std::size_t part_bytes = 8 * kMiB) {
  S3BlobOptions options;
  options.bucket = "b";
  options.endpoint = server.endpoint();
  options.access_key_id = "AKIDEXAMPLE";
  options.secret_access_key = "not-a-real-secret";
  options.create_bucket = false;
  options.part_bytes = part_bytes;
  options.retry_base_delay = std::chrono::milliseconds(1);
  return S3BlobStore::Open(options);
}

std::string S3ErrorBody(std::string_view code) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + std::string(code) +
         "</Code><Message>scripted</Message></Error>";
}

TEST(S3BlobStoreScriptedTest, TransientErrorsAreRetriedUntilAnAnswer) {
  ScriptedS3 server({
      {503, {}, ""},  // HEAD bucket (Open); HEAD answers have no body, the status decides.
      {200, {}, ""},
      {500, {}, ""},  // HEAD object (Stat)
      {200, {"Content-Length: 42"}, ""},
      {400, {}, S3ErrorBody("RequestTimeout")},          // GET (NewReader): retryable by its code.
      {206, {"Content-Range: bytes 0-6/7"}, "<Error>"},  // A blob's bytes, whatever they say.
  });
  auto store = OpenScripted(server);
  ASSERT_OK(store);
  auto size = (*store)->Stat("k");
  ASSERT_OK(size);
  EXPECT_EQ(*size, 42);
  EXPECT_TRUE(SameBytes(ReadBlob(**store, "k"), "<Error>"));
  EXPECT_EQ(server.heads().size(), 6u);
}

TEST(S3BlobStoreScriptedTest, PersistentOutageIsUnavailableAfterTheLastAttempt) {
  ScriptedS3 server({{503, {}, S3ErrorBody("ServiceUnavailable")}});
  EXPECT_CODE(OpenScripted(server), StatusCode::kUnavailable);
  EXPECT_EQ(server.heads().size(), static_cast<std::size_t>(S3BlobOptions{}.max_attempts));
}

TEST(S3BlobStoreScriptedTest, ReaderResumesABrokenDownloadOfTheSameVersion) {
  const std::string data = Pattern(100, 30);
  ScriptedS3 server({
      {200, {}, ""},  // HEAD bucket
      {206, {"Content-Range: bytes 0-99/100", "ETag: \"v1\""}, data, /*cut_after=*/30},
      {206, {"Content-Range: bytes 30-99/100", "ETag: \"v1\""}, data.substr(30)},
  });
  auto store = OpenScripted(server);
  ASSERT_OK(store);
  EXPECT_TRUE(SameBytes(ReadBlob(**store, "k", 0, -1, 7), data));
  const auto heads = server.heads();
  ASSERT_EQ(heads.size(), 3u);
  EXPECT_NE(heads[1].find("Range: bytes=0-"), std::string::npos) << heads[1];
  EXPECT_NE(heads[2].find("Range: bytes=30-99"), std::string::npos) << heads[2];
  EXPECT_NE(heads[2].find("If-Match: \"v1\""), std::string::npos) << heads[2];
}

TEST(S3BlobStoreScriptedTest, ReaderWhoseBlobVanishedBeforeAResumeReportsDataLoss) {
  const std::string data = Pattern(100, 31);
  ScriptedS3 server({
      {200, {}, ""},
      {206, {"Content-Range: bytes 0-99/100", "ETag: \"v1\""}, data, /*cut_after=*/30},
      {404, {}, S3ErrorBody("NoSuchKey")},
  });
  auto store = OpenScripted(server);
  ASSERT_OK(store);
  EXPECT_CODE(ReadBlob(**store, "k"), StatusCode::kDataLoss);
}

// The multipart exchange of a two-part blob, up to CompleteMultipartUpload's answer.
std::vector<ScriptedS3::Reply> TwoPartUpload() {
  return {
      {200, {}, ""},  // HEAD bucket
      {200,
       {},
       "<InitiateMultipartUploadResult><UploadId>u-1</UploadId>"
       "</InitiateMultipartUploadResult>"},
      {200, {"ETag: \"p1\""}, ""},
      {200, {"ETag: \"p2\""}, ""},
  };
}

TEST(S3BlobStoreScriptedTest, CompleteAnswering200WithARetryableErrorIsRetried) {
  auto script = TwoPartUpload();
  script.push_back({200, {}, "\n  \n" + S3ErrorBody("InternalError")});
  script.push_back({200,
                    {},
                    "<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag>"
                    "</CompleteMultipartUploadResult>"});
  ScriptedS3 server(script);
  auto store = OpenScripted(server, /*part_bytes=*/10);
  ASSERT_OK(store);
  ASSERT_OK(WriteBlob(**store, "k", Pattern(15, 32)));
  const auto heads = server.heads();
  ASSERT_EQ(heads.size(), 6u);
  EXPECT_EQ(heads[4].rfind("POST /b/k?uploadId=u-1 ", 0), 0u) << heads[4];
  EXPECT_EQ(heads[5].rfind("POST /b/k?uploadId=u-1 ", 0), 0u) << heads[5];
}

TEST(S3BlobStoreScriptedTest, CompleteAnswering200WithAnErrorFailsTheCommitAndCleansUp) {
  auto script = TwoPartUpload();
  script.push_back({200, {}, S3ErrorBody("InvalidPart")});
  script.push_back({204, {}, ""});  // The DELETEs that follow.
  ScriptedS3 server(script);
  auto store = OpenScripted(server, /*part_bytes=*/10);
  ASSERT_OK(store);
  EXPECT_CODE(WriteBlob(**store, "k", Pattern(15, 33)), StatusCode::kInternal);
  const auto heads = server.heads();
  ASSERT_EQ(heads.size(), 7u);
  // No object may outlive the failed Commit, nor the upload's parts.
  EXPECT_EQ(heads[5].rfind("DELETE /b/k ", 0), 0u) << heads[5];
  EXPECT_EQ(heads[6].rfind("DELETE /b/k?uploadId=u-1 ", 0), 0u) << heads[6];
}

// Against the engine of FILEPORT_TEST_S3, with the smallest sub-part S3 itself allows.
class S3BlobStoreServerTest : public ::testing::Test {
 protected:
  static constexpr std::size_t kPartBytes = 5 * kMiB;

  void SetUp() override {
    auto options = TestS3Options();
    if (!options.ok()) GTEST_SKIP() << "s3 is unavailable: " << options.status().message();
    options_ = *options;
    options_.part_bytes = kPartBytes;
    auto store = OpenTestS3(options_);
    ASSERT_OK(store);
    store_ = std::move(store).value();
  }

  std::size_t PendingUploads() {
    auto uploads = store_->ListPendingUploads();
    EXPECT_OK(uploads);
    return uploads.ok() ? uploads->size() : SIZE_MAX;
  }

  S3BlobOptions options_;
  std::unique_ptr<S3BlobStore> store_;
};

TEST_F(S3BlobStoreServerTest, BlobOfSeveralSubPartsRoundTripsAndRangesCrossTheirBoundaries) {
  const std::string data = Pattern(3 * kPartBytes + 12345, 21);
  ASSERT_OK(WriteBlob(*store_, "multi", data, {kMiB + 7}));
  auto size = store_->Stat("multi");
  ASSERT_OK(size);
  EXPECT_EQ(*size, static_cast<std::int64_t>(data.size()));
  EXPECT_TRUE(SameBytes(ReadBlob(*store_, "multi", 0, -1, kMiB), data));
  for (std::int64_t boundary : {kPartBytes, 2 * kPartBytes, 3 * kPartBytes}) {
    SCOPED_TRACE(boundary);
    EXPECT_TRUE(SameBytes(ReadBlob(*store_, "multi", boundary - 10, 20, 7),
                          std::string_view(data).substr(boundary - 10, 20)));
  }
  EXPECT_EQ(PendingUploads(), 0u);
}

TEST_F(S3BlobStoreServerTest, BlobOfExactlyOneSubPartIsOnePut) {
  const std::string data = Pattern(kPartBytes, 22);
  auto writer = store_->NewWriter("exact");
  ASSERT_OK(writer);
  ASSERT_OK(AppendAll(**writer, data, {kMiB}));
  EXPECT_EQ(PendingUploads(), 0u) << "a full buffer waits for more bytes before a part is sent";
  ASSERT_OK((*writer)->Commit());
  EXPECT_TRUE(SameBytes(ReadBlob(*store_, "exact"), data));
}

TEST_F(S3BlobStoreServerTest, AbortAfterSentSubPartsLeavesNoUploadAndNoObject) {
  auto writer = store_->NewWriter("aborted");
  ASSERT_OK(writer);
  ASSERT_OK(AppendAll(**writer, Pattern(2 * kPartBytes + 3, 23), {kMiB}));
  EXPECT_EQ(PendingUploads(), 1u) << "two sub-parts are out: a multipart upload is under way";
  (*writer)->Abort();
  EXPECT_EQ(PendingUploads(), 0u);
  EXPECT_CODE(store_->Stat("aborted"), StatusCode::kNotFound);
}

TEST_F(S3BlobStoreServerTest, CleanupTemporaryAbortsOldUploadsAndTheirCommitThenFails) {
  auto writer = store_->NewWriter("abandoned");
  ASSERT_OK(writer);
  ASSERT_OK(AppendAll(**writer, Pattern(kPartBytes + 1, 24)));
  ASSERT_EQ(PendingUploads(), 1u);
  ASSERT_OK(store_->CleanupTemporary(3600));
  EXPECT_EQ(PendingUploads(), 1u) << "a fresh upload is spared";
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_OK(store_->CleanupTemporary(0));  // As if its writer had died with its node.
  EXPECT_EQ(PendingUploads(), 0u);
  // The writer learns at Commit that its upload is gone; nothing becomes visible.
  EXPECT_FALSE((*writer)->Commit().ok());
  EXPECT_CODE(store_->Stat("abandoned"), StatusCode::kNotFound);
  EXPECT_EQ(PendingUploads(), 0u);
}

TEST_F(S3BlobStoreServerTest, WrongSecretIsUnavailableWithAClearMessageThatHidesIt) {
  S3BlobOptions options = options_;
  options.access_key_id = std::getenv("AWS_ACCESS_KEY_ID") ? std::getenv("AWS_ACCESS_KEY_ID") : "";
  options.secret_access_key = "wrong-secret-0123456789";
  options.create_bucket = false;
  auto store = S3BlobStore::Open(options);
  EXPECT_CODE(store, StatusCode::kUnavailable);
  if (!store.ok()) {
    EXPECT_NE(store.status().message().find("S3 rejected the credentials"), std::string::npos)
        << store.status().message();
    EXPECT_EQ(store.status().message().find("wrong-secret"), std::string::npos);
  }
}

}  // namespace
}  // namespace fileport

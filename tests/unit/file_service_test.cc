// Unit tests of FileService (core/file_service.h) over the in-memory stores with a FakeClock:
// create (streamed: StartWrite, Append, FinishCreate) with every validation and size rule,
// get / list / delete / content with tenancy, expiry before and after the sweeper, and the
// write intents that keep a rejected or abandoned write from leaving anything behind.
#include "core/file_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "model/wire.h"
#include "unit/faulty_stores.h"

namespace fileport {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kProject[] = "proj";
constexpr std::int64_t kT0 = 1'700'000'000;

MATCHER_P(IsNoSuchFile, id, "") {
  const Status& s = StatusOf(arg);
  *result_listener << "which is " << s.ToString();
  return s.code() == StatusCode::kNotFound &&
         s.message() == "No such File object: " + std::string(id) && s.param() == "id";
}

class FileServiceTest : public ::testing::Test {
 protected:
  CoreEnv env;

  // The file is gone in every read path of the public API.
  void ExpectGone(const std::string& id) {
    EXPECT_THAT(env.files.Get(kProject, id), IsNoSuchFile(id));
    EXPECT_THAT(env.files.GetForDownload(kProject, id), IsNoSuchFile(id));
    EXPECT_THAT(env.files.OpenContent(kProject, id), IsNoSuchFile(id));
    EXPECT_THAT(env.files.Delete(kProject, id), IsNoSuchFile(id));
    EXPECT_THAT(env.ListedFileIds(kProject), ::testing::Not(::testing::Contains(id)));
  }
};

// --- Create ------------------------------------------------------------------------------

TEST_F(FileServiceTest, CreateReturnsACompleteFileObject) {
  env.clock.AdvanceMillis(1500);
  const std::string content = Bytes(1000);
  auto f = env.CreateFile(kProject, content, FileParams("assistants", "notes.txt"), 3);
  FP_ASSERT_OK(f);
  EXPECT_TRUE(IsWellFormedId(f->id, kFilePrefix)) << f->id;
  EXPECT_EQ(f->bytes, 1000);
  EXPECT_EQ(f->created_at, kT0 + 1);
  EXPECT_EQ(f->expires_at, std::nullopt);
  EXPECT_EQ(f->filename, "notes.txt");
  EXPECT_EQ(f->purpose, "assistants");
  EXPECT_EQ(f->status, "processed");
  EXPECT_EQ(f->status_details, std::nullopt);
  EXPECT_EQ(f->project, kProject);
  EXPECT_EQ(f->mime_type, "text/plain");

  auto got = env.files.Get(kProject, f->id);
  FP_ASSERT_OK(got);
  EXPECT_EQ(*got, *f);
  auto bytes = env.Read(kProject, f->id);
  FP_ASSERT_OK(bytes);
  EXPECT_EQ(*bytes, content);
  EXPECT_THAT(env.ListedFileIds(kProject), ElementsAre(f->id));
  EXPECT_EQ(env.mem_blobs.blob_count(), 1u);
  EXPECT_EQ(env.StoredBlobKeys(), env.LiveBlobKeys());
}

TEST_F(FileServiceTest, WriteIdIsTheFileId) {
  auto w = env.files.StartWrite(kProject);
  FP_ASSERT_OK(w);
  const std::string id = (*w)->file_id();
  FP_ASSERT_OK((*w)->Append(AsSpan("abc")));
  EXPECT_EQ((*w)->bytes(), 3);
  auto f = env.files.FinishCreate(kProject, std::move(*w), FileParams());
  FP_ASSERT_OK(f);
  EXPECT_EQ(f->id, id);
}

TEST_F(FileServiceTest, FilePartWithoutFilenameIsNamedUpload) {
  CreateFileParams p;
  p.purpose = "assistants";  // filename left at its default
  auto f = env.CreateFile(kProject, "x", p);
  FP_ASSERT_OK(f);
  EXPECT_EQ(f->filename, "upload");
}

TEST_F(FileServiceTest, FilenameIsDisplayDataOnly) {
  const std::string name = "../../etc/passwd \"quoted\"\r\n\xc3\xa9.txt";
  auto f = env.CreateFile(kProject, "x", FileParams("assistants", name));
  FP_ASSERT_OK(f);
  EXPECT_EQ(f->filename, name);
  for (const std::string& key : env.StoredBlobKeys()) {
    EXPECT_EQ(key.find(".."), std::string::npos) << key;
    EXPECT_EQ(key.find("passwd"), std::string::npos) << key;
  }
}

TEST_F(FileServiceTest, EveryCreatePurposeIsAccepted) {
  for (const char* p : {"assistants", "vision", "user_data", "evals"}) {
    FP_EXPECT_OK(env.CreateFile(kProject, "x", FileParams(p, "a.bin")));
  }
  FP_EXPECT_OK(env.CreateFile(kProject, "{}\n", FileParams("fine-tune", "t.jsonl")));
  FP_EXPECT_OK(env.CreateFile(kProject, "{}\n", FileParams("batch", "b.jsonl")));
  EXPECT_EQ(env.ListedFileIds(kProject).size(), 6u);
}

// Each refused create: exact status, nothing listed, no blob stored.
struct RefusedCreate {
  const char* name;
  CreateFileParams params;
  Status expected;
};

TEST_F(FileServiceTest, RefusedCreatesLeaveNothing) {
  CreateFileParams no_purpose;
  no_purpose.filename = "a.txt";
  const std::vector<RefusedCreate> cases = {
      {"missing purpose", no_purpose,
       InvalidArgument("'purpose' is a required property", "purpose")},
      {"bad purpose", FileParams("bogus"),
       InvalidArgument("'bogus' is not one of ['assistants', 'batch', 'fine-tune', 'vision', "
                       "'user_data', 'evals'] - 'purpose'",
                       "purpose")},
      {"output purpose", FileParams("batch_output", "x.jsonl"),
       InvalidArgument("'batch_output' is not one of ['assistants', 'batch', 'fine-tune', "
                       "'vision', 'user_data', 'evals'] - 'purpose'",
                       "purpose")},
      {"fine-tune not jsonl", FileParams("fine-tune", "train.csv"),
       InvalidArgument("Invalid file format for Fine-Tuning API. Must be .jsonl", "file")},
      {"batch not jsonl", FileParams("batch", "upload"),
       InvalidArgument("Invalid file format for Batch API. Must be .jsonl", "file")},
      {"bad anchor", FileParams("assistants", "a.txt", ExpiresAfter{"now", 3600}),
       InvalidArgument("'now' is not one of ['created_at'] - 'expires_after.anchor'",
                       "expires_after.anchor")},
      {"short expiry", FileParams("assistants", "a.txt", ExpiresAfter{"created_at", 60}),
       InvalidArgument("expires_after.seconds must be between 3600 and 2592000, got 60",
                       "expires_after.seconds")},
      {"long expiry", FileParams("assistants", "a.txt", ExpiresAfter{"created_at", 2592001}),
       InvalidArgument("expires_after.seconds must be between 3600 and 2592000, got 2592001",
                       "expires_after.seconds")},
  };
  for (const RefusedCreate& c : cases) {
    SCOPED_TRACE(c.name);
    auto f = env.CreateFile(kProject, Bytes(100), c.params);
    EXPECT_THAT(f, StatusIs(c.expected.code(), c.expected.message(), c.expected.param()));
    EXPECT_THAT(env.ListedFileIds(kProject), IsEmpty());
    EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
  }
  env.SweepAndExpectNoOrphans();
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
}

TEST_F(FileServiceTest, AbandonedWriteLeavesNothing) {
  {
    auto w = env.files.StartWrite(kProject);
    FP_ASSERT_OK(w);
    FP_ASSERT_OK((*w)->Append(AsSpan(Bytes(50))));
    (*w)->Abort();
  }
  {
    auto w = env.files.StartWrite(kProject);  // dropped without Abort: the client went away
    FP_ASSERT_OK(w);
    FP_ASSERT_OK((*w)->Append(AsSpan(Bytes(50))));
  }
  EXPECT_THAT(env.ListedFileIds(kProject), IsEmpty());
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
  env.SweepAndExpectNoOrphans();
}

// --- Size limits -------------------------------------------------------------------------

class FileLimitsTest : public ::testing::Test {
 protected:
  static ServiceOptions SmallLimits() {
    ServiceOptions o;
    o.max_file_bytes = 16;
    o.max_batch_file_bytes = 8;
    return o;
  }
  CoreEnv env{SmallLimits()};
};

TEST_F(FileLimitsTest, FileLimitIsInclusive) {
  auto f = env.CreateFile(kProject, Bytes(16), FileParams(), 4);
  FP_ASSERT_OK(f);
  EXPECT_EQ(f->bytes, 16);
}

TEST_F(FileLimitsTest, AppendPastTheFileLimitIsTooLarge) {
  auto w = env.files.StartWrite(kProject);
  FP_ASSERT_OK(w);
  FP_ASSERT_OK((*w)->Append(AsSpan(Bytes(10))));
  EXPECT_THAT(
      (*w)->Append(AsSpan(Bytes(7))),
      StatusIs(StatusCode::kTooLarge, "File is too large: the maximum size is 16 B", "file"));
  EXPECT_THAT(
      env.CreateFile(kProject, Bytes(17)),
      StatusIs(StatusCode::kTooLarge, "File is too large: the maximum size is 16 B", "file"));
  (*w)->Abort();
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
  EXPECT_THAT(env.ListedFileIds(kProject), IsEmpty());
}

TEST_F(FileLimitsTest, PurposeHintNarrowsTheLimitToTheBatchLimit) {
  auto w = env.files.StartWrite(kProject);
  FP_ASSERT_OK(w);
  FP_ASSERT_OK((*w)->SetPurposeHint("batch"));
  FP_ASSERT_OK((*w)->Append(AsSpan(Bytes(8))));
  EXPECT_THAT(
      (*w)->Append(AsSpan("x")),
      StatusIs(StatusCode::kTooLarge, "File is too large: the maximum size is 8 B", "file"));
  (*w)->Abort();
}

TEST_F(FileLimitsTest, PurposeHintRefusesBytesAlreadyOverTheBatchLimit) {
  auto w = env.files.StartWrite(kProject);
  FP_ASSERT_OK(w);
  FP_ASSERT_OK((*w)->Append(AsSpan(Bytes(9))));
  EXPECT_THAT((*w)->SetPurposeHint("batch"),
              StatusIs(StatusCode::kTooLarge,
                       "File is too large: the maximum size for purpose batch is 8 B", "file"));
  (*w)->Abort();
}

TEST_F(FileLimitsTest, OtherPurposeHintsKeepTheFileLimit) {
  auto w = env.files.StartWrite(kProject);
  FP_ASSERT_OK(w);
  FP_ASSERT_OK((*w)->SetPurposeHint("assistants"));
  FP_ASSERT_OK((*w)->SetPurposeHint("bogus"));
  FP_ASSERT_OK((*w)->Append(AsSpan(Bytes(16))));
  auto f = env.files.FinishCreate(kProject, std::move(*w), FileParams());
  FP_ASSERT_OK(f);
}

TEST_F(FileLimitsTest, BatchLimitAppliesWhenPurposeArrivesAfterTheBytes) {
  // Python sends the file part last, Node first: the purpose may come after the bytes.
  auto f = env.CreateFile(kProject, Bytes(9), FileParams("batch", "b.jsonl"));
  EXPECT_THAT(f, StatusIs(StatusCode::kTooLarge,
                          "File is too large: the maximum size for purpose batch is 8 B", "file"));
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
  EXPECT_THAT(env.ListedFileIds(kProject), IsEmpty());
  auto ok = env.CreateFile(kProject, Bytes(8), FileParams("batch", "b.jsonl"));
  FP_ASSERT_OK(ok);
}

TEST(FileLimitsDefaults, AreTheApiLimits) {
  ServiceOptions o;
  EXPECT_EQ(o.max_file_bytes, 512LL * 1024 * 1024);
  EXPECT_EQ(o.max_batch_file_bytes, 200LL * 1024 * 1024);
  EXPECT_EQ(o.max_upload_bytes, 8LL * 1024 * 1024 * 1024);
  EXPECT_EQ(o.max_part_bytes, 64LL * 1024 * 1024);
}

// --- Get, tenancy ------------------------------------------------------------------------

TEST_F(FileServiceTest, UnknownFileIsNotFoundWithParamId) {
  EXPECT_THAT(env.files.Get(kProject, "file-nope"),
              StatusIs(StatusCode::kNotFound, "No such File object: file-nope", "id"));
  EXPECT_THAT(env.files.Delete(kProject, "file-nope"),
              StatusIs(StatusCode::kNotFound, "No such File object: file-nope", "id"));
  EXPECT_THAT(env.files.OpenContent(kProject, "file-nope"),
              StatusIs(StatusCode::kNotFound, "No such File object: file-nope", "id"));
}

TEST_F(FileServiceTest, OtherProjectsFileIsIndistinguishableFromUnknown) {
  auto f = env.CreateFile("other", "secret");
  FP_ASSERT_OK(f);
  ExpectGone(f->id);
  EXPECT_THAT(env.ListedFileIds(kProject), IsEmpty());
  // And it survived the attempts.
  auto still = env.Read("other", f->id);
  FP_ASSERT_OK(still);
  EXPECT_EQ(*still, "secret");
}

// --- Expiry ------------------------------------------------------------------------------

TEST_F(FileServiceTest, ExpiresAfterHidesTheFileAtExactlyItsExpiry) {
  auto f = env.CreateFile(kProject, "abc",
                          FileParams("assistants", "a.txt", ExpiresAfter{"created_at", 3600}));
  FP_ASSERT_OK(f);
  EXPECT_EQ(f->expires_at, kT0 + 3600);
  env.clock.AdvanceSeconds(3599);
  env.clock.AdvanceMillis(999);
  FP_EXPECT_OK(env.files.Get(kProject, f->id));
  EXPECT_THAT(env.ListedFileIds(kProject), ElementsAre(f->id));
  FP_EXPECT_OK(env.Read(kProject, f->id));

  env.clock.AdvanceMillis(1);  // created_at + 3600 exactly
  ExpectGone(f->id);
  // Gone before the sweeper ran: the bytes are still there until it does.
  EXPECT_EQ(env.mem_blobs.blob_count(), 1u);
  SweepStats st = env.sweeper.RunOnce();
  EXPECT_EQ(st.files_expired, 1);
  EXPECT_EQ(st.blobs_deleted, 1);
  EXPECT_EQ(st.errors, 0);
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
  ExpectGone(f->id);
}

TEST_F(FileServiceTest, BatchFilesExpireAfterThirtyDays) {
  auto f = env.CreateFile(kProject, "{}\n", FileParams("batch", "in.jsonl"));
  FP_ASSERT_OK(f);
  EXPECT_EQ(f->expires_at, kT0 + 30 * 86400);
  auto other = env.CreateFile(kProject, "x", FileParams("assistants"));
  FP_ASSERT_OK(other);
  env.clock.AdvanceSeconds(30 * 86400 - 1);
  FP_EXPECT_OK(env.files.Get(kProject, f->id));
  EXPECT_EQ(env.sweeper.RunOnce().files_expired, 0);
  env.clock.AdvanceSeconds(1);
  ExpectGone(f->id);
  EXPECT_THAT(env.ListedFileIds(kProject), ElementsAre(other->id));
  EXPECT_EQ(env.sweeper.RunOnce().files_expired, 1);
  EXPECT_EQ(env.StoredBlobKeys(), std::set<std::string>{other->segments[0].blob_key});
  // A file without expiry never expires.
  env.clock.AdvanceSeconds(10LL * 365 * 86400);
  FP_EXPECT_OK(env.files.Get(kProject, other->id));
}

TEST_F(FileServiceTest, BatchExpiresAfterOverridesThirtyDays) {
  auto f = env.CreateFile(kProject, "{}\n",
                          FileParams("batch", "in.jsonl", ExpiresAfter{"created_at", 7200}));
  FP_ASSERT_OK(f);
  EXPECT_EQ(f->expires_at, kT0 + 7200);
}

// --- List --------------------------------------------------------------------------------

class FileListTest : public FileServiceTest {
 protected:
  void SetUp() override {
    // Five files one second apart, alternating purposes, plus another project's.
    for (int i = 0; i < 5; ++i) {
      auto f = env.CreateFile(kProject, Bytes(3, i),
                              i % 2 ? FileParams("vision", "p.png") : FileParams("assistants"));
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      ids.push_back(f->id);
      env.clock.AdvanceSeconds(1);
    }
    ASSERT_TRUE(env.CreateFile("other", "x").ok());
  }
  std::vector<std::string> Ids(const ListFilesParams& p, bool* has_more = nullptr) {
    auto listed = env.files.List(kProject, p);
    EXPECT_TRUE(listed.ok()) << listed.status().ToString();
    std::vector<std::string> out;
    if (!listed.ok()) return out;
    auto page = FilePageFromJson(ToJson(*listed));
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (!page.ok()) return out;
    std::vector<File> shown;
    for (const File& f : page->data) {
      out.push_back(f.id);
      // Each listed object is the file's own, as GET /v1/files/{id} would show it.
      auto got = env.files.Get(kProject, f.id);
      EXPECT_TRUE(got.ok()) << got.status().ToString();
      if (got.ok()) shown.push_back(*got);
    }
    EXPECT_EQ(ToJson(*listed), ToJson(Page<File>{shown, listed->has_more}));
    if (has_more) *has_more = page->has_more;
    return out;
  }
  std::vector<std::string> ids;  // in creation order
};

TEST_F(FileListTest, NewestFirstByDefaultOldestFirstWhenAscending) {
  bool more = true;
  EXPECT_THAT(Ids({}, &more), ElementsAre(ids[4], ids[3], ids[2], ids[1], ids[0]));
  EXPECT_FALSE(more);
  ListFilesParams asc;
  asc.ascending = true;
  EXPECT_THAT(Ids(asc), ElementsAre(ids[0], ids[1], ids[2], ids[3], ids[4]));
}

TEST_F(FileListTest, LimitAndAfterPageThroughEverything) {
  ListFilesParams p;
  p.limit = 2;
  bool more = false;
  EXPECT_THAT(Ids(p, &more), ElementsAre(ids[4], ids[3]));
  EXPECT_TRUE(more);
  p.after = ids[3];
  EXPECT_THAT(Ids(p, &more), ElementsAre(ids[2], ids[1]));
  EXPECT_TRUE(more);
  p.after = ids[1];
  EXPECT_THAT(Ids(p, &more), ElementsAre(ids[0]));
  EXPECT_FALSE(more);
  ListFilesParams asc;
  asc.ascending = true;
  asc.limit = 3;
  asc.after = ids[0];
  EXPECT_THAT(Ids(asc, &more), ElementsAre(ids[1], ids[2], ids[3]));
  EXPECT_TRUE(more);
}

TEST_F(FileListTest, AfterStillWorksWhenThatFileWasDeleted) {
  FP_ASSERT_OK(env.files.Delete(kProject, ids[2]));
  ListFilesParams p;
  p.after = ids[2];
  EXPECT_THAT(Ids(p), ElementsAre(ids[1], ids[0]));
  p.ascending = true;
  EXPECT_THAT(Ids(p), ElementsAre(ids[3], ids[4]));
}

TEST_F(FileListTest, PurposeFilterAndUnknownPurpose) {
  ListFilesParams p;
  p.purpose = "vision";
  EXPECT_THAT(Ids(p), ElementsAre(ids[3], ids[1]));
  p.purpose = "no-such-purpose";
  EXPECT_THAT(Ids(p), IsEmpty());
}

TEST_F(FileListTest, LimitMustBeOneToTenThousand) {
  for (int bad : {0, -1, 10001}) {
    ListFilesParams p;
    p.limit = bad;
    EXPECT_THAT(env.files.List(kProject, p),
                StatusIs(StatusCode::kInvalidArgument,
                         "limit must be between 1 and 10000, got " + std::to_string(bad), "limit"));
  }
  ListFilesParams p;
  p.limit = 10000;
  FP_EXPECT_OK(env.files.List(kProject, p));
  p.limit = 1;
  bool more = false;
  EXPECT_THAT(Ids(p, &more), ElementsAre(ids[4]));
  EXPECT_TRUE(more);
}

TEST_F(FileServiceTest, ListOrderAgreesWithCreatedAt) {
  // A slow upload started first and finished last: listing is by id (keyset cursor), and
  // API.md promises order by created_at, so the two must agree (ids sort by creation).
  auto slow = env.files.StartWrite(kProject);
  FP_ASSERT_OK(slow);
  FP_ASSERT_OK((*slow)->Append(AsSpan("slow")));
  env.clock.AdvanceSeconds(5);
  auto fast = env.CreateFile(kProject, "fast");
  FP_ASSERT_OK(fast);
  env.clock.AdvanceSeconds(5);
  auto slow_file = env.files.FinishCreate(kProject, std::move(*slow), FileParams());
  FP_ASSERT_OK(slow_file);

  auto listed = env.files.List(kProject, {});
  FP_ASSERT_OK(listed);
  auto parsed = FilePageFromJson(ToJson(*listed));
  FP_ASSERT_OK(parsed);
  const std::vector<File>& page = parsed->data;
  ASSERT_EQ(page.size(), 2u);
  EXPECT_GE(page[0].created_at, page[1].created_at)
      << "newest-first listing: " << page[0].id << " (created_at " << page[0].created_at
      << ") before " << page[1].id << " (created_at " << page[1].created_at << ")";
}

// --- Delete ------------------------------------------------------------------------------

TEST_F(FileServiceTest, DeleteAnswersAndTheIdIsGoneAtOnce) {
  auto f = env.CreateFile(kProject, "abc");
  FP_ASSERT_OK(f);
  auto d = env.files.Delete(kProject, f->id);
  FP_ASSERT_OK(d);
  EXPECT_EQ(d->id, f->id);
  EXPECT_TRUE(d->deleted);
  ExpectGone(f->id);
  EXPECT_EQ(env.sweeper.RunOnce().blobs_deleted, 1);
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
}

TEST_F(FileServiceTest, OtherProjectCannotDelete) {
  auto f = env.CreateFile(kProject, "abc");
  FP_ASSERT_OK(f);
  EXPECT_THAT(env.files.Delete("other", f->id), IsNoSuchFile(f->id));
  FP_EXPECT_OK(env.files.Get(kProject, f->id));
  env.sweeper.RunOnce();
  EXPECT_EQ(env.mem_blobs.blob_count(), 1u);
}

TEST(FileDeleteGrace, BytesGoAfterTheGracePeriod) {
  ServiceOptions o;
  o.delete_grace_seconds = 300;
  CoreEnv env(o);
  auto f = env.CreateFile(kProject, "abc");
  FP_ASSERT_OK(f);
  FP_ASSERT_OK(env.files.Delete(kProject, f->id));
  EXPECT_THAT(env.files.Get(kProject, f->id), IsNoSuchFile(f->id));
  env.clock.AdvanceSeconds(299);
  EXPECT_EQ(env.sweeper.RunOnce().blobs_deleted, 0);
  EXPECT_EQ(env.mem_blobs.blob_count(), 1u);
  env.clock.AdvanceSeconds(1);
  EXPECT_EQ(env.sweeper.RunOnce().blobs_deleted, 1);
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
}

// --- Content -----------------------------------------------------------------------------

TEST_F(FileServiceTest, ContentRanges) {
  const std::string content = Bytes(100);
  auto f = env.CreateFile(kProject, content);
  FP_ASSERT_OK(f);
  auto all = env.Read(kProject, f->id);
  FP_ASSERT_OK(all);
  EXPECT_EQ(*all, content);
  auto mid = env.Read(kProject, f->id, 10, 20);
  FP_ASSERT_OK(mid);
  EXPECT_EQ(*mid, content.substr(10, 20));
  auto tail = env.Read(kProject, f->id, 90);
  FP_ASSERT_OK(tail);
  EXPECT_EQ(*tail, content.substr(90));
  auto empty = env.Read(kProject, f->id, 100, 0);
  FP_ASSERT_OK(empty);
  EXPECT_EQ(*empty, "");
  EXPECT_THAT(env.files.OpenContent(kProject, f->id, 90, 11),
              StatusIs(StatusCode::kOutOfRange, "Requested range is outside the file", ""));
  EXPECT_THAT(env.files.OpenContent(kProject, f->id, 101),
              StatusIs(StatusCode::kOutOfRange, "Requested range is outside the file", ""));
  EXPECT_THAT(env.files.OpenContent(kProject, f->id, -1, 5),
              StatusIs(StatusCode::kOutOfRange, "Requested range is outside the file", ""));
}

// A file read for one range has only the keys of the segments holding it
// (MetadataStore::GetFileToRead): opening another range of it is a bug, refused as such.
TEST_F(FileServiceTest, OpeningARangeTheFileWasNotReadForIsInternal) {
  auto f = env.CreateFile(kProject, Bytes(100));
  FP_ASSERT_OK(f);
  auto read = env.files.GetForDownload(kProject, f->id);
  FP_ASSERT_OK(read);
  File partial = *read;
  ASSERT_EQ(partial.segments.size(), 1u);
  partial.segments = {{partial.segments[0].blob_key, 60}, {"", 40}};
  auto in = env.files.OpenSegments(partial, 10, 50);
  FP_ASSERT_OK(in);
  EXPECT_THAT(env.files.OpenSegments(partial, 10, 51),
              StatusIs(StatusCode::kInternal,
                       "File " + f->id + " was read for another range than the one opened", ""));
}

TEST_F(FileServiceTest, EmptyFile) {
  auto f = env.CreateFile(kProject, "");
  FP_ASSERT_OK(f);
  EXPECT_EQ(f->bytes, 0);
  auto c = env.Read(kProject, f->id);
  FP_ASSERT_OK(c);
  EXPECT_EQ(*c, "");
}

TEST_F(FileServiceTest, OpenedContentSurvivesARacingDelete) {
  const std::string content = Bytes(64);
  auto f = env.CreateFile(kProject, content);
  FP_ASSERT_OK(f);
  auto c = env.files.OpenContent(kProject, f->id);
  FP_ASSERT_OK(c);
  FP_ASSERT_OK(env.files.Delete(kProject, f->id));
  env.sweeper.RunOnce();
  ASSERT_EQ(env.mem_blobs.blob_count(), 0u);
  std::string out(64, '\0');
  std::size_t got = 0;
  for (;;) {
    auto n = c->reader->Read(std::span<char>(out.data() + got, out.size() - got));
    FP_ASSERT_OK(n);
    if (*n == 0) break;
    got += *n;
  }
  EXPECT_EQ(got, 64u);
  EXPECT_EQ(out, content);
}

TEST(FileDownloadPolicy, RestrictedPurposesAreRefusedWhenEnabled) {
  ServiceOptions o;
  o.restrict_downloads = true;
  CoreEnv env(o);
  for (const char* p : {"assistants", "user_data", "evals"}) {
    auto f = env.CreateFile(kProject, "x", FileParams(p, "a.txt"));
    FP_ASSERT_OK(f);
    EXPECT_THAT(env.files.OpenContent(kProject, f->id),
                StatusIs(StatusCode::kInvalidArgument,
                         std::string("Not allowed to download files of purpose: ") + p, ""));
  }
  auto ft = env.CreateFile(kProject, "{}", FileParams("fine-tune", "t.jsonl"));
  FP_ASSERT_OK(ft);
  EXPECT_THAT(env.files.OpenContent(kProject, ft->id),
              StatusIs(StatusCode::kInvalidArgument,
                       "Not allowed to download files of purpose: fine-tune", ""));
  for (const char* p : {"vision"}) {
    auto f = env.CreateFile(kProject, "x", FileParams(p, "a.png"));
    FP_ASSERT_OK(f);
    FP_EXPECT_OK(env.Read(kProject, f->id));
  }
  auto b = env.CreateFile(kProject, "{}", FileParams("batch", "b.jsonl"));
  FP_ASSERT_OK(b);
  FP_EXPECT_OK(env.Read(kProject, b->id));
}

TEST_F(FileServiceTest, DownloadsAreUnrestrictedByDefault) {
  auto f = env.CreateFile(kProject, "x", FileParams("user_data", "a.txt"));
  FP_ASSERT_OK(f);
  FP_EXPECT_OK(env.Read(kProject, f->id));
}

TEST_F(FileServiceTest, MissingBlobIsNotFoundNotAShortBody) {
  auto f = env.CreateFile(kProject, "abc");
  FP_ASSERT_OK(f);
  FP_ASSERT_OK(env.mem_blobs.Delete(f->segments[0].blob_key));  // bytes lost under the row
  EXPECT_THAT(env.files.OpenContent(kProject, f->id), IsNoSuchFile(f->id));
}

// --- Write intents and the sweeper -------------------------------------------------------

TEST_F(FileServiceTest, WriteSlowerThanTheOrphanGraceIsAbortedAndLeavesNothing) {
  auto w = env.files.StartWrite(kProject);
  FP_ASSERT_OK(w);
  FP_ASSERT_OK((*w)->Append(AsSpan("abc")));
  env.clock.AdvanceSeconds(env.ctx.options.orphan_grace_seconds);
  env.sweeper.RunOnce();  // claims the write's intent
  auto f = env.files.FinishCreate(kProject, std::move(*w), FileParams());
  EXPECT_EQ(StatusOf(f).code(), StatusCode::kAborted) << StatusOf(f).ToString();
  EXPECT_THAT(env.ListedFileIds(kProject), IsEmpty());
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
}

TEST_F(FileServiceTest, WriteWithinTheOrphanGraceSurvivesSweeps) {
  auto w = env.files.StartWrite(kProject);
  FP_ASSERT_OK(w);
  FP_ASSERT_OK((*w)->Append(AsSpan("abc")));
  env.clock.AdvanceSeconds(env.ctx.options.orphan_grace_seconds - 1);
  env.sweeper.RunOnce();
  auto f = env.files.FinishCreate(kProject, std::move(*w), FileParams());
  FP_ASSERT_OK(f);
  // The insert consumed the intent: later sweeps leave the bytes alone.
  env.clock.AdvanceSeconds(10 * env.ctx.options.orphan_grace_seconds);
  env.sweeper.RunOnce();
  auto c = env.Read(kProject, f->id);
  FP_ASSERT_OK(c);
  EXPECT_EQ(*c, "abc");
}

}  // namespace
}  // namespace fileport

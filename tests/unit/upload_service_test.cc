// Unit tests of UploadService (core/upload_service.h) over the in-memory stores with a
// FakeClock: create validation, the part rules (early refusals at StartPart, the 64 MiB part
// bound and the remaining-bytes bound while streaming, Content-MD5), every complete rule with
// the exact status, message and param of API.md §5, idempotent complete and cancel, the state
// machine, expiry at created_at + 3600 exactly (before and after the sweeper), tenancy and
// racing completes.
#include "core/upload_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "unit/faulty_stores.h"

namespace fileport {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kProject[] = "proj";
constexpr std::int64_t kT0 = 1'700'000'000;

MATCHER_P(IsNoSuchUpload, id, "") {
  const Status& s = StatusOf(arg);
  *result_listener << "which is " << s.ToString();
  return s.code() == StatusCode::kNotFound &&
         s.message() == "No such Upload object: " + std::string(id) && s.param() == "upload_id";
}

class UploadServiceTest : public ::testing::Test {
 protected:
  CoreEnv env;

  Upload MakeUpload(std::int64_t bytes, const std::string& project = kProject) {
    auto u = env.CreateUpload(project, bytes);
    EXPECT_TRUE(u.ok()) << u.status().ToString();
    return u.ok() ? *u : Upload{};
  }
  UploadPart MakePart(const Upload& u, std::string_view data,
                      const std::string& project = kProject) {
    auto p = env.AddPart(project, u.id, data);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? *p : UploadPart{};
  }
  UploadStatus StatusNow(const Upload& u, const std::string& project = kProject) {
    auto g = env.uploads.Get(project, u.id);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    return g.ok() ? g->status : UploadStatus::kPending;
  }
  std::vector<std::string> PartIds(const Upload& u) {
    auto parts = env.uploads.ListParts(kProject, u.id);
    EXPECT_TRUE(parts.ok()) << parts.status().ToString();
    std::vector<std::string> out;
    if (parts.ok()) {
      for (const auto& p : *parts) out.push_back(p.id);
    }
    return out;
  }
};

// --- Create ------------------------------------------------------------------------------

TEST_F(UploadServiceTest, CreateReturnsAPendingUploadThatExpiresInOneHour) {
  env.clock.AdvanceMillis(2500);
  auto u = env.uploads.Create(kProject, UploadParams(123, "assistants", "big.txt"));
  FP_ASSERT_OK(u);
  EXPECT_TRUE(IsWellFormedId(u->id, kUploadPrefix)) << u->id;
  EXPECT_EQ(u->bytes, 123);
  EXPECT_EQ(u->created_at, kT0 + 2);
  EXPECT_EQ(u->expires_at, kT0 + 2 + 3600);
  EXPECT_EQ(u->filename, "big.txt");
  EXPECT_EQ(u->purpose, "assistants");
  EXPECT_EQ(u->status, UploadStatus::kPending);
  EXPECT_EQ(u->file, std::nullopt);
  EXPECT_EQ(u->mime_type, "text/plain");
  auto g = env.uploads.Get(kProject, u->id);
  FP_ASSERT_OK(g);
  EXPECT_EQ(*g, *u);
}

TEST_F(UploadServiceTest, CreateRequiresEveryFieldInOrder) {
  CreateUploadParams p;
  EXPECT_THAT(env.uploads.Create(kProject, p),
              StatusIs(StatusCode::kInvalidArgument, "'bytes' is a required property", "bytes"));
  p.bytes = 1;
  EXPECT_THAT(
      env.uploads.Create(kProject, p),
      StatusIs(StatusCode::kInvalidArgument, "'filename' is a required property", "filename"));
  p.filename = "a";
  EXPECT_THAT(
      env.uploads.Create(kProject, p),
      StatusIs(StatusCode::kInvalidArgument, "'mime_type' is a required property", "mime_type"));
  p.mime_type = "txt";  // OpenAI's own examples send "txt": no type/subtype demanded
  EXPECT_THAT(
      env.uploads.Create(kProject, p),
      StatusIs(StatusCode::kInvalidArgument, "'purpose' is a required property", "purpose"));
  p.purpose = "assistants";
  FP_EXPECT_OK(env.uploads.Create(kProject, p));
}

TEST_F(UploadServiceTest, CreateRefusesBadValues) {
  auto with = [](auto mutate) {
    CreateUploadParams p = UploadParams(10);
    mutate(p);
    return p;
  };
  EXPECT_THAT(env.uploads.Create(kProject, with([](auto& p) { p.bytes = -1; })),
              StatusIs(StatusCode::kInvalidArgument,
                       "bytes must be between 0 and 8589934592 (8.00 GiB), got -1", "bytes"));
  EXPECT_THAT(
      env.uploads.Create(kProject, with([](auto& p) { p.bytes = 8589934593LL; })),
      StatusIs(StatusCode::kInvalidArgument,
               "bytes must be between 0 and 8589934592 (8.00 GiB), got 8589934593", "bytes"));
  FP_EXPECT_OK(env.uploads.Create(kProject, with([](auto& p) { p.bytes = 8589934592LL; })));
  FP_EXPECT_OK(env.uploads.Create(kProject, with([](auto& p) { p.bytes = 0; })));
  EXPECT_THAT(env.uploads.Create(kProject, with([](auto& p) { p.filename = ""; })),
              StatusIs(StatusCode::kInvalidArgument, "filename must not be empty", "filename"));
  EXPECT_THAT(env.uploads.Create(kProject, with([](auto& p) { p.mime_type = ""; })),
              StatusIs(StatusCode::kInvalidArgument, "mime_type must not be empty", "mime_type"));
  EXPECT_THAT(env.uploads.Create(kProject, with([](auto& p) { p.purpose = "batch_output"; })),
              StatusIs(StatusCode::kInvalidArgument,
                       "'batch_output' is not one of ['assistants', 'batch', 'fine-tune', "
                       "'vision', 'user_data', 'evals'] - 'purpose'",
                       "purpose"));
  EXPECT_THAT(env.uploads.Create(kProject, with([](auto& p) {
                                   p.expires_after = ExpiresAfter{"created_at", 10};
                                 })),
              StatusIs(StatusCode::kInvalidArgument,
                       "expires_after.seconds must be between 3600 and 2592000, got 10",
                       "expires_after.seconds"));
}

TEST_F(UploadServiceTest, UnknownAndForeignUploadsAreNotFoundEverywhere) {
  Upload mine = MakeUpload(4);
  MakePart(mine, "ab");
  for (const auto& [project, id] : std::vector<std::pair<std::string, std::string>>{
           {kProject, "upload_nope"}, {"other", mine.id}}) {
    SCOPED_TRACE(project + " " + id);
    EXPECT_THAT(env.uploads.Get(project, id), IsNoSuchUpload(id));
    EXPECT_THAT(env.uploads.ListParts(project, id), IsNoSuchUpload(id));
    EXPECT_THAT(env.uploads.StartPart(project, id, std::nullopt), IsNoSuchUpload(id));
    EXPECT_THAT(env.uploads.Complete(project, id, {}, std::nullopt), IsNoSuchUpload(id));
    EXPECT_THAT(env.uploads.Cancel(project, id), IsNoSuchUpload(id));
  }
  EXPECT_EQ(StatusNow(mine), UploadStatus::kPending);
  EXPECT_EQ(PartIds(mine).size(), 1u);
}

// --- Parts -------------------------------------------------------------------------------

TEST_F(UploadServiceTest, PartObjectAndArrivalOrder) {
  Upload u = MakeUpload(6);
  env.clock.AdvanceSeconds(3);
  UploadPart a = MakePart(u, "ab");
  UploadPart b = MakePart(u, "cd");
  env.clock.AdvanceSeconds(1);
  UploadPart c = MakePart(u, "ef");
  EXPECT_TRUE(IsWellFormedId(a.id, kPartPrefix)) << a.id;
  EXPECT_EQ(a.upload_id, u.id);
  EXPECT_EQ(a.created_at, kT0 + 3);
  EXPECT_EQ(a.bytes, 2);
  EXPECT_EQ(a.project, kProject);
  EXPECT_THAT(PartIds(u), ElementsAre(a.id, b.id, c.id));
  auto parts = env.uploads.ListParts(kProject, u.id);
  FP_ASSERT_OK(parts);
  EXPECT_EQ((*parts)[0], a);
  EXPECT_EQ(env.mem_blobs.blob_count(), 3u);
}

TEST_F(UploadServiceTest, StartPartRefusesAtOnceWhenNotPending) {
  Upload done = MakeUpload(1);
  UploadPart p = MakePart(done, "x");
  FP_ASSERT_OK(env.uploads.Complete(kProject, done.id, {p.id}, std::nullopt));
  EXPECT_THAT(env.uploads.StartPart(kProject, done.id, std::nullopt),
              StatusIs(StatusCode::kFailedPrecondition,
                       "Upload " + done.id + " has already been completed", "data"));

  Upload gone = MakeUpload(1);
  FP_ASSERT_OK(env.uploads.Cancel(kProject, gone.id));
  EXPECT_THAT(env.uploads.StartPart(kProject, gone.id, std::nullopt),
              StatusIs(StatusCode::kFailedPrecondition,
                       "Upload " + gone.id + " has already been cancelled", "data"));
  EXPECT_EQ(env.mem_blobs.blob_count(), 1u);  // only the completed file's part
}

TEST_F(UploadServiceTest, StartPartRefusesAtOnceWhenTwiceTheBytesArrived) {
  Upload u = MakeUpload(3);
  MakePart(u, "abc");
  MakePart(u, "abc");  // the same bytes again, as a client that lost the first answer sends
  EXPECT_THAT(env.uploads.StartPart(kProject, u.id, std::nullopt),
              StatusIs(StatusCode::kInvalidArgument,
                       "Upload " + u.id +
                           " has already received 6 bytes, twice its 3 bytes: complete it with "
                           "the parts that make up the file, or cancel it",
                       "data"));
  Upload empty = MakeUpload(0);
  EXPECT_THAT(env.uploads.StartPart(kProject, empty.id, std::nullopt),
              StatusIs(StatusCode::kInvalidArgument,
                       "Upload " + empty.id +
                           " has already received 0 bytes, twice its 0 bytes: complete it with "
                           "the parts that make up the file, or cancel it",
                       "data"));
}

TEST_F(UploadServiceTest, StartPartRefusesAMalformedContentMd5) {
  Upload u = MakeUpload(3);
  const auto bad =
      StatusIs(StatusCode::kInvalidArgument,
               "Content-MD5 must be the base64 of a 16-byte MD5 digest", "Content-MD5");
  EXPECT_THAT(env.uploads.StartPart(kProject, u.id, std::string("not base64!")), bad);
  EXPECT_THAT(env.uploads.StartPart(kProject, u.id, std::string("")), bad);
  EXPECT_THAT(env.uploads.StartPart(kProject, u.id, Md5Hex("abc")), bad);  // hex, not base64
  const unsigned char fifteen[15] = {};
  EXPECT_THAT(env.uploads.StartPart(kProject, u.id, Base64Encode(fifteen)), bad);
}

// Found by fuzz/values_fuzzer: OpenSSL's decoder took whitespace, stray bits and '=' digits.
TEST_F(UploadServiceTest, StartPartRefusesContentMd5ThatIsNotCanonicalBase64) {
  Upload u = MakeUpload(3);
  const auto bad =
      StatusIs(StatusCode::kInvalidArgument,
               "Content-MD5 must be the base64 of a 16-byte MD5 digest", "Content-MD5");
  const std::string md5 = ContentMd5("abc");
  ASSERT_EQ(md5, "kAFQmDzST7DWlj99KOF/cg==");
  EXPECT_THAT(env.uploads.StartPart(kProject, u.id, "    " + md5), bad);  // leading spaces
  EXPECT_THAT(env.uploads.StartPart(kProject, u.id, std::string("kAFQmDzST7DWlj99KOF/ch==")),
              bad);  // the same 16 bytes, with a stray bit before the padding
  EXPECT_THAT(env.uploads.StartPart(kProject, u.id, std::string(24, '=')), bad);  // 16 zeros
  FP_EXPECT_OK(env.AddPart(kProject, u.id, "abc", md5));
}

TEST_F(UploadServiceTest, EmptyPartIsRefused) {
  Upload u = MakeUpload(3);
  EXPECT_THAT(env.AddPart(kProject, u.id, ""),
              StatusIs(StatusCode::kInvalidArgument, "A part must hold at least 1 byte", "data"));
  EXPECT_THAT(PartIds(u), IsEmpty());
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
}

TEST_F(UploadServiceTest, ContentMd5IsVerified) {
  Upload u = MakeUpload(6);
  FP_EXPECT_OK(env.AddPart(kProject, u.id, "abc", ContentMd5("abc")));
  EXPECT_THAT(env.AddPart(kProject, u.id, "def", ContentMd5("deF")),
              StatusIs(StatusCode::kInvalidArgument,
                       "The Content-MD5 of the part does not match its bytes", "Content-MD5"));
  EXPECT_EQ(PartIds(u).size(), 1u);
  EXPECT_EQ(env.mem_blobs.blob_count(), 1u);
  // The refused part took none of the upload's bytes.
  FP_EXPECT_OK(env.AddPart(kProject, u.id, "def", ContentMd5("def")));
}

class PartLimitsTest : public UploadServiceTest {
 protected:
  PartLimitsTest() {
    ServiceOptions o;
    o.max_part_bytes = 8;  // stands in for 64 MiB
    small.emplace(o);
  }
  std::optional<CoreEnv> small;
};

TEST_F(PartLimitsTest, PartBoundIsInclusive) {
  auto u = small->CreateUpload(kProject, 20);
  FP_ASSERT_OK(u);
  auto w = small->uploads.StartPart(kProject, u->id, std::nullopt);
  FP_ASSERT_OK(w);
  FP_ASSERT_OK((*w)->Append(AsSpan("12345")));
  EXPECT_THAT((*w)->Append(AsSpan("6789")),
              StatusIs(StatusCode::kInvalidArgument,
                       "Part is too large: a part may hold at most 8 B (8 bytes)", "data"));
  (*w)->Abort();
  FP_EXPECT_OK(small->AddPart(kProject, u->id, Bytes(8)));
  EXPECT_THAT(small->AddPart(kProject, u->id, Bytes(9)),
              StatusIs(StatusCode::kInvalidArgument,
                       "Part is too large: a part may hold at most 8 B (8 bytes)", "data"));
  EXPECT_EQ(small->mem_blobs.blob_count(), 1u);
}

TEST_F(PartLimitsTest, RemainingBytesBoundWhenLessThanAPart) {
  // 18 declared bytes: parts may total 36.
  auto u = small->CreateUpload(kProject, 18);
  FP_ASSERT_OK(u);
  for (int i = 0; i < 4; ++i) FP_ASSERT_OK(small->AddPart(kProject, u->id, Bytes(8)));
  EXPECT_THAT(small->AddPart(kProject, u->id, Bytes(5)),
              StatusIs(StatusCode::kInvalidArgument,
                       "Part would exceed what the upload may receive: only 4 more bytes are "
                       "accepted (parts may total twice the upload's bytes)",
                       "data"));
  auto last = small->AddPart(kProject, u->id, Bytes(4));
  FP_ASSERT_OK(last);
  auto parts = small->uploads.ListParts(kProject, u->id);
  FP_ASSERT_OK(parts);
  EXPECT_EQ(parts->size(), 5u);
  EXPECT_EQ(small->mem_blobs.blob_count(), 5u);
}

TEST_F(PartLimitsTest, ExactlyAPartLeftIsPartBound) {
  auto u = small->CreateUpload(kProject, 4);  // room for 8 bytes: one whole part
  FP_ASSERT_OK(u);
  EXPECT_THAT(small->AddPart(kProject, u->id, Bytes(9)),
              StatusIs(StatusCode::kInvalidArgument,
                       "Part is too large: a part may hold at most 8 B (8 bytes)", "data"));
}

TEST(PartLimitsDefault, SixtyFourMiBPartIsAccepted) {
  // The Python helper sends parts of exactly 64 MiB; one byte more is refused.
  CoreEnv env;
  auto u = env.CreateUpload(kProject, 65 * 1024 * 1024);
  FP_ASSERT_OK(u);
  auto w = env.uploads.StartPart(kProject, u->id, std::nullopt);
  FP_ASSERT_OK(w);
  const std::string mib(1024 * 1024, 'z');
  for (int i = 0; i < 64; ++i) FP_ASSERT_OK((*w)->Append(AsSpan(mib)));
  EXPECT_THAT(
      (*w)->Append(AsSpan("!")),
      StatusIs(StatusCode::kInvalidArgument,
               "Part is too large: a part may hold at most 64.0 MiB (67108864 bytes)", "data"));
  (*w)->Abort();
}

TEST_F(UploadServiceTest, ParallelPartsOverTheRemainingBytesAreRefusedAtInsert) {
  // Both parts pass StartPart (each sees 4 bytes left: twice the 2 declared); the store
  // refuses the second.
  Upload u = MakeUpload(2);
  auto w1 = env.uploads.StartPart(kProject, u.id, std::nullopt);
  auto w2 = env.uploads.StartPart(kProject, u.id, std::nullopt);
  FP_ASSERT_OK(w1);
  FP_ASSERT_OK(w2);
  FP_ASSERT_OK((*w1)->Append(AsSpan("abcd")));
  FP_ASSERT_OK((*w2)->Append(AsSpan("wxyz")));
  FP_ASSERT_OK(env.uploads.FinishPart(kProject, std::move(*w1)));
  EXPECT_THAT(env.uploads.FinishPart(kProject, std::move(*w2)),
              StatusIs(StatusCode::kInvalidArgument,
                       "Part would exceed what the upload may receive: the parts received "
                       "would total more than twice the upload's bytes",
                       "data"));
  EXPECT_EQ(PartIds(u).size(), 1u);
  env.SweepAndExpectNoOrphans();
}

TEST_F(UploadServiceTest, PartFinishedAfterCancelIsRefusedAndLeavesNoBlob) {
  Upload u = MakeUpload(4);
  auto w = env.uploads.StartPart(kProject, u.id, std::nullopt);
  FP_ASSERT_OK(w);
  FP_ASSERT_OK((*w)->Append(AsSpan("abcd")));
  FP_ASSERT_OK(env.uploads.Cancel(kProject, u.id));
  EXPECT_THAT(env.uploads.FinishPart(kProject, std::move(*w)),
              StatusIs(StatusCode::kFailedPrecondition,
                       "Upload " + u.id + " has already been cancelled", "data"));
  EXPECT_THAT(PartIds(u), IsEmpty());
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);  // refused for good: the bytes go at once
  env.SweepAndExpectNoOrphans();
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
}

// --- Complete ----------------------------------------------------------------------------

TEST_F(UploadServiceTest, CompleteAssemblesTheListedOrderAndNestsTheFile) {
  Upload u = MakeUpload(9);
  UploadPart p0 = MakePart(u, "000");
  UploadPart p1 = MakePart(u, "111");
  UploadPart p2 = MakePart(u, "222");
  env.clock.AdvanceSeconds(10);
  const std::string want = "222000111";
  auto done = env.uploads.Complete(kProject, u.id, {p2.id, p0.id, p1.id}, Md5Hex(want));
  FP_ASSERT_OK(done);
  EXPECT_EQ(done->status, UploadStatus::kCompleted);
  ASSERT_TRUE(done->file.has_value());
  const File& f = *done->file;
  EXPECT_TRUE(IsWellFormedId(f.id, kFilePrefix)) << f.id;
  EXPECT_EQ(f.bytes, 9);
  EXPECT_EQ(f.created_at, kT0 + 10);
  EXPECT_EQ(f.filename, "big.txt");
  EXPECT_EQ(f.purpose, "assistants");
  EXPECT_EQ(f.status, "processed");
  EXPECT_EQ(f.expires_at, std::nullopt);
  EXPECT_EQ(f.mime_type, "text/plain");
  EXPECT_EQ(done->file_id, f.id);
  EXPECT_THAT(done->part_ids, ElementsAre(p2.id, p0.id, p1.id));
  EXPECT_EQ(done->md5, Md5Hex(want));
  auto content = env.Read(kProject, f.id);
  FP_ASSERT_OK(content);
  EXPECT_EQ(*content, want);
  auto range = env.Read(kProject, f.id, 2, 5);  // crosses two segment boundaries
  FP_ASSERT_OK(range);
  EXPECT_EQ(*range, want.substr(2, 5));
  EXPECT_THAT(env.ListedFileIds(kProject), ElementsAre(f.id));
  auto g = env.uploads.Get(kProject, u.id);
  FP_ASSERT_OK(g);
  EXPECT_EQ(*g, *done);
  // Completing moves no bytes: the file is the three part blobs.
  EXPECT_EQ(env.mem_blobs.blob_count(), 3u);
  env.SweepAndExpectNoOrphans();
  EXPECT_EQ(env.mem_blobs.blob_count(), 3u);
}

TEST_F(UploadServiceTest, Md5IsAcceptedInAnyCase) {
  Upload u = MakeUpload(3);
  UploadPart p = MakePart(u, "abc");
  std::string upper = Md5Hex("abc");
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto done = env.uploads.Complete(kProject, u.id, {p.id}, upper);
  FP_ASSERT_OK(done);
  EXPECT_EQ(done->md5, Md5Hex("abc"));
}

TEST_F(UploadServiceTest, ZeroByteUploadCompletesWithNoParts) {
  Upload u = MakeUpload(0);
  auto done = env.uploads.Complete(kProject, u.id, {}, Md5Hex(""));
  FP_ASSERT_OK(done);
  ASSERT_TRUE(done->file.has_value());
  EXPECT_EQ(done->file->bytes, 0);
  auto c = env.Read(kProject, done->file->id);
  FP_ASSERT_OK(c);
  EXPECT_EQ(*c, "");
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
}

// Each failed complete: exact status; the upload stays pending, nothing is listed, and the
// right complete then succeeds.
TEST_F(UploadServiceTest, FailedCompletesLeaveTheUploadPendingAndRetryable) {
  Upload u = MakeUpload(6);
  UploadPart a = MakePart(u, "abc");
  UploadPart b = MakePart(u, "def");
  Upload other = MakeUpload(3);
  UploadPart foreign = MakePart(other, "xyz");
  Upload elsewhere = MakeUpload(3, "proj2");
  UploadPart alien = MakePart(elsewhere, "xyz", "proj2");

  struct Case {
    const char* name;
    std::vector<std::string> part_ids;
    std::optional<std::string> md5;
    Status expected;
  };
  const std::vector<Case> cases = {
      {"unknown part",
       {a.id, "part_nope"},
       std::nullopt,
       InvalidArgument("Part part_nope does not belong to upload " + u.id, "part_ids")},
      {"other upload's part",
       {a.id, foreign.id},
       std::nullopt,
       InvalidArgument("Part " + foreign.id + " does not belong to upload " + u.id, "part_ids")},
      {"other project's part",
       {alien.id, b.id},
       std::nullopt,
       InvalidArgument("Part " + alien.id + " does not belong to upload " + u.id, "part_ids")},
      {"duplicate",
       {a.id, a.id},
       std::nullopt,
       InvalidArgument("Part " + a.id + " is listed more than once", "part_ids")},
      {"too few bytes",
       {a.id},
       std::nullopt,
       InvalidArgument(
           "The number of bytes uploaded (3) does not match the expected number of bytes (6)",
           "part_ids")},
      {"no parts",
       {},
       std::nullopt,
       InvalidArgument(
           "The number of bytes uploaded (0) does not match the expected number of bytes (6)",
           "part_ids")},
      {"md5 mismatch",
       {a.id, b.id},
       Md5Hex("defabc"),
       InvalidArgument("The md5 checksum of the uploaded bytes does not match", "md5")},
      {"md5 malformed",
       {a.id, b.id},
       std::string("abc"),
       InvalidArgument("md5 must be 32 hexadecimal characters", "md5")},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_THAT(env.uploads.Complete(kProject, u.id, c.part_ids, c.md5),
                StatusIs(c.expected.code(), c.expected.message(), c.expected.param()));
    EXPECT_EQ(StatusNow(u), UploadStatus::kPending);
    EXPECT_THAT(PartIds(u), ElementsAre(a.id, b.id));
    EXPECT_THAT(env.ListedFileIds(kProject), IsEmpty());
  }
  auto done = env.uploads.Complete(kProject, u.id, {a.id, b.id}, Md5Hex("abcdef"));
  FP_ASSERT_OK(done);
  auto c = env.Read(kProject, done->file->id);
  FP_ASSERT_OK(c);
  EXPECT_EQ(*c, "abcdef");
  // The other uploads were not disturbed.
  EXPECT_THAT(PartIds(other), ElementsAre(foreign.id));
}

TEST_F(UploadServiceTest, RepeatedCompleteIsIdempotent) {
  Upload u = MakeUpload(4);
  UploadPart a = MakePart(u, "ab");
  UploadPart b = MakePart(u, "cd");
  auto first = env.uploads.Complete(kProject, u.id, {a.id, b.id}, Md5Hex("abcd"));
  FP_ASSERT_OK(first);
  env.clock.AdvanceSeconds(30);
  auto again = env.uploads.Complete(kProject, u.id, {a.id, b.id}, Md5Hex("abcd"));
  FP_ASSERT_OK(again);
  EXPECT_EQ(*again, *first);
  auto no_md5 = env.uploads.Complete(kProject, u.id, {a.id, b.id}, std::nullopt);
  FP_ASSERT_OK(no_md5);
  EXPECT_EQ(*no_md5, *first);
  EXPECT_EQ(env.ListedFileIds(kProject).size(), 1u);
  // A different part_ids is a state error, not a second file.
  EXPECT_THAT(env.uploads.Complete(kProject, u.id, {b.id, a.id}, std::nullopt),
              StatusIs(StatusCode::kFailedPrecondition,
                       "Upload " + u.id + " has already been completed", ""));
  EXPECT_THAT(env.uploads.Complete(kProject, u.id, {a.id}, std::nullopt),
              StatusIs(StatusCode::kFailedPrecondition,
                       "Upload " + u.id + " has already been completed", ""));
  EXPECT_EQ(env.ListedFileIds(kProject).size(), 1u);
}

TEST_F(UploadServiceTest, RepeatedCompleteAfterTheUploadWouldHaveExpired) {
  // A completed upload stays completed: its expires_at no longer matters.
  Upload u = MakeUpload(1);
  UploadPart a = MakePart(u, "x");
  auto first = env.uploads.Complete(kProject, u.id, {a.id}, std::nullopt);
  FP_ASSERT_OK(first);
  env.clock.AdvanceSeconds(7200);
  EXPECT_EQ(StatusNow(u), UploadStatus::kCompleted);
  auto again = env.uploads.Complete(kProject, u.id, {a.id}, std::nullopt);
  FP_ASSERT_OK(again);
  EXPECT_EQ(again->file, first->file);
  EXPECT_EQ(env.sweeper.RunOnce().uploads_expired, 0);
  FP_EXPECT_OK(env.Read(kProject, first->file->id));
}

TEST_F(UploadServiceTest, CompletedFileTakesTheUploadsExpiry) {
  CreateUploadParams p = UploadParams(1);
  p.expires_after = ExpiresAfter{"created_at", 3600};
  auto u = env.uploads.Create(kProject, p);
  FP_ASSERT_OK(u);
  env.Track(kProject, u->id);
  auto part = env.AddPart(kProject, u->id, "x");
  FP_ASSERT_OK(part);
  env.clock.AdvanceSeconds(100);
  auto done = env.uploads.Complete(kProject, u->id, {part->id}, std::nullopt);
  FP_ASSERT_OK(done);
  EXPECT_EQ(done->file->expires_at, kT0 + 100 + 3600);

  auto batch = env.CreateUpload(kProject, 2, "batch", "in.jsonl");
  FP_ASSERT_OK(batch);
  auto bp = env.AddPart(kProject, batch->id, "{}");
  FP_ASSERT_OK(bp);
  auto bdone = env.uploads.Complete(kProject, batch->id, {bp->id}, std::nullopt);
  FP_ASSERT_OK(bdone);
  EXPECT_EQ(bdone->file->expires_at, kT0 + 100 + 30 * 86400);

  env.clock.AdvanceSeconds(3600);
  EXPECT_THAT(env.files.Get(kProject, done->file->id),
              StatusIs(StatusCode::kNotFound, "No such File object: " + done->file->id, "id"));
  // The upload still answers completed; its file is gone.
  auto g = env.uploads.Get(kProject, u->id);
  FP_ASSERT_OK(g);
  EXPECT_EQ(g->status, UploadStatus::kCompleted);
  EXPECT_EQ(g->file, std::nullopt);
  env.sweeper.RunOnce();
  EXPECT_EQ(env.StoredBlobKeys(), env.LiveBlobKeys());
  EXPECT_EQ(env.mem_blobs.blob_count(), 1u);
}

TEST_F(UploadServiceTest, ConcurrentCompletesCreateExactlyOneFile) {
  for (int round = 0; round < 20; ++round) {
    Upload u = MakeUpload(4);
    UploadPart a = MakePart(u, "ab");
    UploadPart b = MakePart(u, "cd");
    std::vector<std::thread> threads;
    std::vector<Result<Upload>> results(8, Result<Upload>(Internal("not run")));
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([&, i] {
        results[i] = env.uploads.Complete(kProject, u.id, {a.id, b.id}, std::nullopt);
      });
    }
    for (auto& t : threads) t.join();
    std::set<std::string> file_ids;
    for (auto& r : results) {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_TRUE(r->file.has_value());
      file_ids.insert(r->file->id);
    }
    EXPECT_EQ(file_ids.size(), 1u);
  }
  EXPECT_EQ(env.ListedFileIds(kProject).size(), 20u);
  env.SweepAndExpectNoOrphans();
}

TEST_F(UploadServiceTest, CompleteRacingCancelHasOneWinner) {
  for (int round = 0; round < 20; ++round) {
    Upload u = MakeUpload(2);
    UploadPart a = MakePart(u, "ab");
    Result<Upload> completed(Internal("not run")), cancelled(Internal("not run"));
    std::thread t1([&] { completed = env.uploads.Complete(kProject, u.id, {a.id}, std::nullopt); });
    std::thread t2([&] { cancelled = env.uploads.Cancel(kProject, u.id); });
    t1.join();
    t2.join();
    ASSERT_NE(completed.ok(), cancelled.ok())
        << completed.status().ToString() << " / " << cancelled.status().ToString();
    if (completed.ok()) {
      EXPECT_THAT(cancelled, StatusIs(StatusCode::kFailedPrecondition,
                                      "Upload " + u.id + " has already been completed", ""));
      EXPECT_EQ(StatusNow(u), UploadStatus::kCompleted);
    } else {
      EXPECT_THAT(completed, StatusIs(StatusCode::kFailedPrecondition,
                                      "Upload " + u.id + " has already been cancelled", ""));
      EXPECT_EQ(StatusNow(u), UploadStatus::kCancelled);
    }
  }
  env.SweepAndExpectNoOrphans();
}

// The same races, made deterministic: the cancel lands between two steps of Complete.
TEST_F(UploadServiceTest, CompleteThatLosesARaceToCancelAnswersCancelled) {
  Upload u = MakeUpload(2);
  UploadPart a = MakePart(u, "ab");
  env.faults.BeforeCall("meta.ListParts",
                        [&] { ASSERT_TRUE(env.uploads.Cancel(kProject, u.id).ok()); });
  EXPECT_THAT(env.uploads.Complete(kProject, u.id, {a.id}, std::nullopt),
              StatusIs(StatusCode::kFailedPrecondition,
                       "Upload " + u.id + " has already been cancelled", ""));
  EXPECT_THAT(env.ListedFileIds(kProject), IsEmpty());
}

TEST_F(UploadServiceTest, CompleteWithMd5ThatLosesARaceToCancelAndSweepAnswersCancelled) {
  Upload u = MakeUpload(2);
  UploadPart a = MakePart(u, "ab");
  env.faults.BeforeCall("blob.NewReader", [&] {
    ASSERT_TRUE(env.uploads.Cancel(kProject, u.id).ok());
    env.sweeper.RunOnce();  // the part's bytes are gone before Complete reads them
  });
  EXPECT_THAT(env.uploads.Complete(kProject, u.id, {a.id}, Md5Hex("ab")),
              StatusIs(StatusCode::kFailedPrecondition,
                       "Upload " + u.id + " has already been cancelled", ""));
  EXPECT_THAT(env.ListedFileIds(kProject), IsEmpty());
}

TEST_F(UploadServiceTest, CompleteThatLosesARaceToAnIdenticalCompleteAnswersTheSameUpload) {
  Upload u = MakeUpload(2);
  UploadPart a = MakePart(u, "ab");
  Result<Upload> first(Internal("not run"));
  env.faults.BeforeCall("meta.CompleteUpload", [&] {
    first = env.uploads.Complete(kProject, u.id, {a.id}, std::nullopt);
  });
  auto second = env.uploads.Complete(kProject, u.id, {a.id}, std::nullopt);
  FP_ASSERT_OK(first);
  FP_ASSERT_OK(second);
  EXPECT_EQ(*second, *first);
  EXPECT_EQ(env.ListedFileIds(kProject).size(), 1u);
}

// --- Unlisted parts ----------------------------------------------------------------------

TEST_F(UploadServiceTest, UnlistedPartsAreDiscardedAtCompletion) {
  // API.md: "Parts received but not listed are discarded". A client that lost the answer to
  // a stored part sends it again; the completion lists one copy and the other goes.
  Upload u = MakeUpload(4);
  UploadPart a = MakePart(u, "ab");
  UploadPart lost = MakePart(u, "cd");  // stored, but its answer never reached the client
  UploadPart b = MakePart(u, "cd");
  EXPECT_THAT(env.uploads.Complete(kProject, u.id, {a.id}, std::nullopt),
              StatusIs(StatusCode::kInvalidArgument,
                       "The number of bytes uploaded (2) does not match the expected number of "
                       "bytes (4)",
                       "part_ids"));
  auto done = env.uploads.Complete(kProject, u.id, {a.id, b.id}, std::nullopt);
  FP_ASSERT_OK(done);
  auto content = env.Read(kProject, done->file->id);
  FP_ASSERT_OK(content);
  EXPECT_EQ(*content, "abcd");
  env.SweepAndExpectNoOrphans();
  EXPECT_EQ(env.StoredBlobKeys(), (std::set<std::string>{a.blob_key, b.blob_key}));
  EXPECT_FALSE(env.StoredBlobKeys().count(lost.blob_key));
}

// --- Cancel ------------------------------------------------------------------------------

TEST_F(UploadServiceTest, CancelDiscardsPartsAndIsIdempotent) {
  Upload u = MakeUpload(4);
  MakePart(u, "ab");
  MakePart(u, "c");
  auto c1 = env.uploads.Cancel(kProject, u.id);
  FP_ASSERT_OK(c1);
  EXPECT_EQ(c1->status, UploadStatus::kCancelled);
  EXPECT_EQ(c1->file, std::nullopt);
  EXPECT_THAT(PartIds(u), IsEmpty());
  auto c2 = env.uploads.Cancel(kProject, u.id);
  FP_ASSERT_OK(c2);
  EXPECT_EQ(c2->status, UploadStatus::kCancelled);
  EXPECT_EQ(c2->id, u.id);
  EXPECT_EQ(StatusNow(u), UploadStatus::kCancelled);
  EXPECT_THAT(env.uploads.Complete(kProject, u.id, {}, std::nullopt),
              StatusIs(StatusCode::kFailedPrecondition,
                       "Upload " + u.id + " has already been cancelled", ""));
  SweepStats st = env.sweeper.RunOnce();
  EXPECT_EQ(st.blobs_deleted, 2);
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
}

TEST_F(UploadServiceTest, CancelAfterCompleteIsRefused) {
  Upload u = MakeUpload(1);
  UploadPart a = MakePart(u, "x");
  auto done = env.uploads.Complete(kProject, u.id, {a.id}, std::nullopt);
  FP_ASSERT_OK(done);
  EXPECT_THAT(env.uploads.Cancel(kProject, u.id),
              StatusIs(StatusCode::kFailedPrecondition,
                       "Upload " + u.id + " has already been completed", ""));
  env.sweeper.RunOnce();
  FP_EXPECT_OK(env.Read(kProject, done->file->id));
}

// --- Expiry ------------------------------------------------------------------------------

TEST_F(UploadServiceTest, StillPendingOneMillisecondBeforeTheHour) {
  Upload u = MakeUpload(4);
  UploadPart a = MakePart(u, "ab");
  env.clock.AdvanceSeconds(3599);
  env.clock.AdvanceMillis(999);
  EXPECT_EQ(StatusNow(u), UploadStatus::kPending);
  UploadPart b = MakePart(u, "cd");
  EXPECT_EQ(env.sweeper.RunOnce().uploads_expired, 0);
  auto done = env.uploads.Complete(kProject, u.id, {a.id, b.id}, std::nullopt);
  FP_ASSERT_OK(done);
  EXPECT_EQ(done->status, UploadStatus::kCompleted);
}

TEST_F(UploadServiceTest, ExpiredAtExactlyTheHourEvenBeforeTheSweeper) {
  Upload u = MakeUpload(4);
  UploadPart a = MakePart(u, "ab");
  env.clock.AdvanceSeconds(3600);
  const std::string expired = "Upload " + u.id + " has expired";
  auto g = env.uploads.Get(kProject, u.id);
  FP_ASSERT_OK(g);
  EXPECT_EQ(g->status, UploadStatus::kExpired);
  EXPECT_EQ(g->expires_at, u.expires_at);
  EXPECT_THAT(env.uploads.StartPart(kProject, u.id, std::nullopt),
              StatusIs(StatusCode::kFailedPrecondition, expired, "data"));
  EXPECT_THAT(env.uploads.Complete(kProject, u.id, {a.id}, std::nullopt),
              StatusIs(StatusCode::kFailedPrecondition, expired, ""));
  EXPECT_THAT(env.uploads.Cancel(kProject, u.id),
              StatusIs(StatusCode::kFailedPrecondition, expired, ""));
  EXPECT_EQ(env.mem_blobs.blob_count(), 1u);  // the sweeper has not run yet

  SweepStats st = env.sweeper.RunOnce();
  EXPECT_EQ(st.uploads_expired, 1);
  EXPECT_EQ(st.blobs_deleted, 1);
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
  EXPECT_EQ(StatusNow(u), UploadStatus::kExpired);
  EXPECT_THAT(PartIds(u), IsEmpty());
  EXPECT_THAT(env.uploads.Cancel(kProject, u.id),
              StatusIs(StatusCode::kFailedPrecondition, expired, ""));
  EXPECT_THAT(env.uploads.Complete(kProject, u.id, {a.id}, std::nullopt),
              StatusIs(StatusCode::kFailedPrecondition, expired, ""));
}

TEST_F(UploadServiceTest, PartStartedBeforeExpiryFinishedAfterIsRefused) {
  Upload u = MakeUpload(4);
  auto w = env.uploads.StartPart(kProject, u.id, std::nullopt);
  FP_ASSERT_OK(w);
  FP_ASSERT_OK((*w)->Append(AsSpan("ab")));
  env.clock.AdvanceSeconds(3600);
  EXPECT_THAT(env.uploads.FinishPart(kProject, std::move(*w)),
              StatusIs(StatusCode::kFailedPrecondition, "Upload " + u.id + " has expired", "data"));
  EXPECT_THAT(PartIds(u), IsEmpty());
  env.SweepAndExpectNoOrphans();
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
}

TEST_F(UploadServiceTest, CompleteWithMd5ReadsEveryByteAcrossBufferBoundaries) {
  ServiceOptions o;
  o.io_buffer_bytes = 1;  // MD5 chunks of 4 bytes, smaller than a part: several per blob
  CoreEnv small(o);
  auto u = small.CreateUpload(kProject, 23);
  FP_ASSERT_OK(u);
  std::vector<std::string> ids;
  std::string all;
  for (std::string piece : {Bytes(7, 1), Bytes(11, 2), Bytes(5, 3)}) {
    auto p = small.AddPart(kProject, u->id, piece);
    FP_ASSERT_OK(p);
    ids.push_back(p->id);
    all += piece;
  }
  EXPECT_THAT(small.uploads.Complete(kProject, u->id, ids, Md5Hex(all + "x")),
              StatusIs(StatusCode::kInvalidArgument,
                       "The md5 checksum of the uploaded bytes does not match", "md5"));
  FP_EXPECT_OK(small.uploads.Complete(kProject, u->id, ids, Md5Hex(all)));
}

}  // namespace
}  // namespace fileport

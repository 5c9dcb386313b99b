// Fault-injection walks through every core operation (DESIGN.md habit 9).
//
// For each operation — create a file (StartWrite + Append + FinishCreate), add a part
// (StartPart + Append + FinishPart), complete (with and without md5), cancel, delete a file,
// one sweeper pass — and for each kind of fault (store unavailable, disk full, I/O error; once
// or from then on), the walk runs the operation in a fresh environment with the N-th fallible
// store call failing, for N = 1, 2, … until the operation completes without meeting the
// fault. At every N it asserts that the operation either succeeded completely or returned
// exactly the injected error; that nothing half-done is visible through the public API (no
// unacknowledged file listed, no part listed for a failed part, a failed complete leaves the
// upload pending and completable, …); and that once the fault is gone and the sweeper has run
// past the grace periods and the garbage lease, the blob store holds exactly the blobs of live
// files and pending uploads' parts — no orphans, no dangling references. (A pass whose blob
// deletes or forgets fail, even with every store failing from then on, leaves its garbage rows
// leased, so a later pass still finds those blobs.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "unit/faulty_stores.h"

namespace fileport {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kProject[] = "proj";
constexpr int kMaxCalls = 200;  // no operation here makes this many store calls

struct FaultKind {
  const char* name;
  Status (*make)();
  bool persistent;  // the fault stays until disabled (a full disk stays full)
};

void PrintTo(const FaultKind& k, std::ostream* os) { *os << k.name; }

std::string FaultName(const ::testing::TestParamInfo<FaultKind>& info) { return info.param.name; }

// An orphan grace shorter than the upload hour, so the final sweep past every grace does not
// also expire the uploads the walk looks at.
ServiceOptions WalkOptions() {
  ServiceOptions o;
  o.orphan_grace_seconds = 600;
  o.delete_grace_seconds = 0;
  return o;
}

// What setup hands to the operation and the checks.
struct WalkState {
  std::string file_id;
  std::string other_file_id;  // a bystander that must never be disturbed
  std::string upload_id;
  std::vector<std::string> part_ids;
  std::string content;
};

struct Walk {
  std::function<void(CoreEnv&, WalkState&)> setup;
  // Runs the operation with faults armed; returns its status.
  std::function<Status(CoreEnv&, WalkState&)> run;
  // Faults off. The operation succeeded: its full effect is visible.
  std::function<void(CoreEnv&, WalkState&)> succeeded;
  // Faults off. The operation failed: nothing of it is visible, and it can be done now.
  std::function<void(CoreEnv&, WalkState&)> failed;
};

class FaultWalkTest : public ::testing::TestWithParam<FaultKind> {
 protected:
  void RunWalk(const Walk& w) {
    const FaultKind& kind = GetParam();
    const Status injected = kind.make();
    for (int n = 1;; ++n) {
      ASSERT_LE(n, kMaxCalls) << "the operation never ran without meeting the fault";
      CoreEnv env(WalkOptions());
      WalkState st;
      w.setup(env, st);
      ASSERT_FALSE(HasFatalFailure()) << "setup failed";
      env.faults.FailNth(n, injected, kind.persistent);
      const Status s = w.run(env, st);
      const bool fired = env.faults.fired();
      env.faults.Disable();
      SCOPED_TRACE("fault at call " + std::to_string(n) + " (" +
                   (fired ? env.faults.fired_at() : std::string("not reached")) +
                   "); calls: " + env.faults.Trace());
      if (!fired) {
        ASSERT_TRUE(s.ok()) << "no fault, yet: " << s.ToString();
        w.succeeded(env, st);
        env.SweepAndExpectNoOrphans();
        return;
      }
      if (s.ok()) {
        // A best-effort call absorbed the fault: the operation must still be whole.
        w.succeeded(env, st);
      } else {
        EXPECT_THAT(s, SameErrorAs(injected));
        w.failed(env, st);
      }
      env.SweepAndExpectNoOrphans();
    }
  }
};

// --- Create a file -----------------------------------------------------------------------

TEST_P(FaultWalkTest, CreateFile) {
  Walk w;
  w.setup = [](CoreEnv& env, WalkState& st) {
    auto other = env.CreateFile(kProject, "bystander");
    ASSERT_TRUE(other.ok()) << other.status().ToString();
    st.other_file_id = other->id;
    env.clock.AdvanceSeconds(1);
    st.content = Bytes(40);
  };
  w.run = [](CoreEnv& env, WalkState& st) {
    auto f = env.CreateFile(kProject, st.content, FileParams(), /*chunks=*/2);
    if (f.ok()) st.file_id = f->id;
    return StatusOf(f);
  };
  w.succeeded = [](CoreEnv& env, WalkState& st) {
    EXPECT_THAT(env.ListedFileIds(kProject), ElementsAre(st.file_id, st.other_file_id));
    auto c = env.Read(kProject, st.file_id);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(*c, st.content);
  };
  w.failed = [](CoreEnv& env, WalkState& st) {
    EXPECT_THAT(env.ListedFileIds(kProject), ElementsAre(st.other_file_id));
    auto again = env.CreateFile(kProject, st.content, FileParams(), 2);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    auto c = env.Read(kProject, again->id);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(*c, st.content);
    EXPECT_THAT(env.ListedFileIds(kProject), ElementsAre(again->id, st.other_file_id));
  };
  RunWalk(w);
}

// --- Add a part --------------------------------------------------------------------------

// An upload of "abcdef" that already holds the part "abc".
void UploadWithFirstPart(CoreEnv& env, WalkState& st) {
  auto u = env.CreateUpload(kProject, 6);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  st.upload_id = u->id;
  auto p = env.AddPart(kProject, u->id, "abc");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  st.part_ids = {p->id};
}

std::vector<std::string> ListedPartIds(CoreEnv& env, const WalkState& st) {
  auto parts = env.uploads.ListParts(kProject, st.upload_id);
  EXPECT_TRUE(parts.ok()) << parts.status().ToString();
  std::vector<std::string> out;
  if (parts.ok()) {
    for (const auto& p : *parts) out.push_back(p.id);
  }
  return out;
}

UploadStatus UploadStatusNow(CoreEnv& env, const WalkState& st) {
  auto u = env.uploads.Get(kProject, st.upload_id);
  EXPECT_TRUE(u.ok()) << u.status().ToString();
  return u.ok() ? u->status : UploadStatus::kPending;
}

// Completes st's upload with st.part_ids and checks the file holds `want`.
void CompleteAndExpect(CoreEnv& env, const WalkState& st, const std::string& want) {
  auto done = env.uploads.Complete(kProject, st.upload_id, st.part_ids, Md5Hex(want));
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  ASSERT_TRUE(done->file.has_value());
  auto c = env.Read(kProject, done->file->id);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(*c, want);
  EXPECT_THAT(env.ListedFileIds(kProject), ElementsAre(done->file->id));
}

TEST_P(FaultWalkTest, AddPart) {
  Walk w;
  w.setup = UploadWithFirstPart;
  w.run = [](CoreEnv& env, WalkState& st) {
    auto p = env.AddPart(kProject, st.upload_id, "def", ContentMd5("def"));
    if (p.ok()) st.part_ids.push_back(p->id);
    return StatusOf(p);
  };
  w.succeeded = [](CoreEnv& env, WalkState& st) {
    EXPECT_EQ(ListedPartIds(env, st), st.part_ids);
    EXPECT_EQ(st.part_ids.size(), 2u);
    CompleteAndExpect(env, st, "abcdef");
  };
  w.failed = [](CoreEnv& env, WalkState& st) {
    EXPECT_EQ(ListedPartIds(env, st), st.part_ids);  // only the first part
    EXPECT_EQ(UploadStatusNow(env, st), UploadStatus::kPending);
    // The failed part took none of the upload's bytes: the same part goes in now.
    auto p = env.AddPart(kProject, st.upload_id, "def", ContentMd5("def"));
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    st.part_ids.push_back(p->id);
    CompleteAndExpect(env, st, "abcdef");
  };
  RunWalk(w);
}

// --- Complete ----------------------------------------------------------------------------

void UploadWithAllParts(CoreEnv& env, WalkState& st) {
  auto u = env.CreateUpload(kProject, 6);
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  st.upload_id = u->id;
  for (const char* piece : {"def", "abc"}) {
    auto p = env.AddPart(kProject, u->id, piece);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    st.part_ids.insert(st.part_ids.begin(), p->id);  // listed as abc, def
  }
}

Walk CompleteWalk(bool with_md5) {
  Walk w;
  w.setup = UploadWithAllParts;
  w.run = [with_md5](CoreEnv& env, WalkState& st) {
    std::optional<std::string> md5;
    if (with_md5) md5 = Md5Hex("abcdef");
    auto done = env.uploads.Complete(kProject, st.upload_id, st.part_ids, md5);
    if (done.ok()) {
      EXPECT_EQ(done->status, UploadStatus::kCompleted);
      EXPECT_TRUE(done->file.has_value());
      if (done->file) st.file_id = done->file->id;
    }
    return StatusOf(done);
  };
  w.succeeded = [](CoreEnv& env, WalkState& st) {
    EXPECT_EQ(UploadStatusNow(env, st), UploadStatus::kCompleted);
    EXPECT_THAT(env.ListedFileIds(kProject), ElementsAre(st.file_id));
    auto c = env.Read(kProject, st.file_id);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(*c, "abcdef");
    // Idempotent afterwards too.
    auto again = env.uploads.Complete(kProject, st.upload_id, st.part_ids, std::nullopt);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    ASSERT_TRUE(again->file.has_value());
    EXPECT_EQ(again->file->id, st.file_id);
  };
  w.failed = [](CoreEnv& env, WalkState& st) {
    auto u = env.uploads.Get(kProject, st.upload_id);
    ASSERT_TRUE(u.ok()) << u.status().ToString();
    EXPECT_EQ(u->status, UploadStatus::kPending) << "a failed complete must leave it pending";
    EXPECT_EQ(u->file, std::nullopt);
    EXPECT_THAT(env.ListedFileIds(kProject), IsEmpty());
    EXPECT_EQ(ListedPartIds(env, st).size(), 2u);
    CompleteAndExpect(env, st, "abcdef");
  };
  return w;
}

TEST_P(FaultWalkTest, CompleteWithoutMd5) { RunWalk(CompleteWalk(false)); }

TEST_P(FaultWalkTest, CompleteWithMd5) { RunWalk(CompleteWalk(true)); }

// --- Cancel ------------------------------------------------------------------------------

TEST_P(FaultWalkTest, Cancel) {
  Walk w;
  w.setup = UploadWithFirstPart;
  w.run = [](CoreEnv& env, WalkState& st) {
    auto c = env.uploads.Cancel(kProject, st.upload_id);
    if (c.ok()) {
      EXPECT_EQ(c->status, UploadStatus::kCancelled);
    }
    return StatusOf(c);
  };
  w.succeeded = [](CoreEnv& env, WalkState& st) {
    EXPECT_EQ(UploadStatusNow(env, st), UploadStatus::kCancelled);
    EXPECT_THAT(ListedPartIds(env, st), IsEmpty());
    auto again = env.uploads.Cancel(kProject, st.upload_id);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
  };
  w.failed = [](CoreEnv& env, WalkState& st) {
    EXPECT_EQ(UploadStatusNow(env, st), UploadStatus::kPending);
    EXPECT_EQ(ListedPartIds(env, st), st.part_ids);
    auto c = env.uploads.Cancel(kProject, st.upload_id);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_THAT(ListedPartIds(env, st), IsEmpty());
  };
  RunWalk(w);
}

// --- Delete a file -----------------------------------------------------------------------

TEST_P(FaultWalkTest, DeleteFile) {
  Walk w;
  w.setup = [](CoreEnv& env, WalkState& st) {
    st.content = Bytes(30);
    auto f = env.CreateFile(kProject, st.content);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    st.file_id = f->id;
    auto other = env.CreateFile(kProject, "bystander");
    ASSERT_TRUE(other.ok()) << other.status().ToString();
    st.other_file_id = other->id;
  };
  w.run = [](CoreEnv& env, WalkState& st) {
    auto d = env.files.Delete(kProject, st.file_id);
    if (d.ok()) {
      EXPECT_TRUE(d->deleted);
    }
    return StatusOf(d);
  };
  w.succeeded = [](CoreEnv& env, WalkState& st) {
    EXPECT_THAT(env.files.Get(kProject, st.file_id),
                StatusIs(StatusCode::kNotFound, "No such File object: " + st.file_id, "id"));
    EXPECT_THAT(env.ListedFileIds(kProject), ElementsAre(st.other_file_id));
  };
  w.failed = [](CoreEnv& env, WalkState& st) {
    auto c = env.Read(kProject, st.file_id);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(*c, st.content);
    EXPECT_EQ(env.ListedFileIds(kProject).size(), 2u);
    auto d = env.files.Delete(kProject, st.file_id);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_THAT(env.ListedFileIds(kProject), ElementsAre(st.other_file_id));
  };
  RunWalk(w);
}

// --- A sweeper pass ----------------------------------------------------------------------

// Everything a pass has to deal with at once: an expired upload with parts, an expired file,
// a deleted file's bytes, a cancelled upload's parts, a dead writer's blob — next to a live
// file, a live batch file and a live pending upload that it must not touch.
struct SweepScene {
  std::string live_file, live_batch_file, expired_file, deleted_file;
  std::string expired_upload, cancelled_upload, live_upload, live_part;
};

void BuildSweepScene(CoreEnv& env, SweepScene& sc) {
  auto live = env.CreateFile(kProject, "live");
  ASSERT_TRUE(live.ok());
  sc.live_file = live->id;
  auto exp = env.CreateFile(kProject, "expiring",
                            FileParams("assistants", "e.txt", ExpiresAfter{"created_at", 3600}));
  ASSERT_TRUE(exp.ok());
  sc.expired_file = exp->id;
  auto del = env.CreateFile(kProject, "deleted");
  ASSERT_TRUE(del.ok());
  sc.deleted_file = del->id;
  ASSERT_TRUE(env.files.Delete(kProject, del->id).ok());

  auto x = env.CreateUpload(kProject, 10);
  ASSERT_TRUE(x.ok());
  sc.expired_upload = x->id;
  ASSERT_TRUE(env.AddPart(kProject, x->id, "abc").ok());
  ASSERT_TRUE(env.AddPart(kProject, x->id, "def").ok());
  auto c = env.CreateUpload(kProject, 10);
  ASSERT_TRUE(c.ok());
  sc.cancelled_upload = c->id;
  ASSERT_TRUE(env.AddPart(kProject, c->id, "ghi").ok());
  ASSERT_TRUE(env.uploads.Cancel(kProject, c->id).ok());

  // A writer that died after committing its bytes (its intent row remains).
  const std::string key = PartBlobKey(env.ids.NewId(kPartPrefix));
  ASSERT_TRUE(
      env.mem_meta.AddGarbage({{key, env.now() + env.ctx.options.orphan_grace_seconds}}).ok());
  auto wr = env.mem_blobs.NewWriter(key);
  ASSERT_TRUE(wr.ok());
  ASSERT_TRUE((*wr)->Append(AsSpan("orphan")).ok());
  ASSERT_TRUE((*wr)->Commit().ok());

  env.clock.AdvanceSeconds(3600);  // everything above is due

  auto batch = env.CreateFile(kProject, "{}\n", FileParams("batch", "b.jsonl"));
  ASSERT_TRUE(batch.ok());
  sc.live_batch_file = batch->id;
  auto z = env.CreateUpload(kProject, 10);
  ASSERT_TRUE(z.ok());
  sc.live_upload = z->id;
  auto zp = env.AddPart(kProject, z->id, "jkl");
  ASSERT_TRUE(zp.ok());
  sc.live_part = zp->id;
}

// What the public API must show after any pass, whole or broken.
void ExpectSweepSceneVisible(CoreEnv& env, const SweepScene& sc) {
  auto live = env.Read(kProject, sc.live_file);
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  EXPECT_EQ(*live, "live");
  auto batch = env.Read(kProject, sc.live_batch_file);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_EQ(*batch, "{}\n");
  EXPECT_THAT(env.ListedFileIds(kProject), ElementsAre(sc.live_batch_file, sc.live_file));
  EXPECT_THAT(env.files.Get(kProject, sc.expired_file),
              StatusIs(StatusCode::kNotFound, "No such File object: " + sc.expired_file, "id"));
  EXPECT_THAT(env.files.Get(kProject, sc.deleted_file),
              StatusIs(StatusCode::kNotFound, "No such File object: " + sc.deleted_file, "id"));
  auto x = env.uploads.Get(kProject, sc.expired_upload);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->status, UploadStatus::kExpired);
  auto c = env.uploads.Get(kProject, sc.cancelled_upload);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->status, UploadStatus::kCancelled);
  auto z = env.uploads.Get(kProject, sc.live_upload);
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(z->status, UploadStatus::kPending);
  auto zp = env.uploads.ListParts(kProject, sc.live_upload);
  ASSERT_TRUE(zp.ok());
  ASSERT_EQ(zp->size(), 1u);
  EXPECT_EQ((*zp)[0].id, sc.live_part);
}

TEST_P(FaultWalkTest, SweeperPass) {
  const FaultKind& kind = GetParam();
  const Status injected = kind.make();
  for (int n = 1;; ++n) {
    ASSERT_LE(n, kMaxCalls) << "the pass never ran without meeting the fault";
    CoreEnv env(WalkOptions());
    SweepScene sc;
    BuildSweepScene(env, sc);
    ASSERT_FALSE(HasFatalFailure()) << "setup failed";
    env.faults.FailNth(n, injected, kind.persistent);
    env.faults.SetCallBudget(10000);
    const SweepStats st = env.sweeper.RunOnce();
    const bool fired = env.faults.fired();
    env.faults.Disable();
    env.faults.SetCallBudget(0);
    SCOPED_TRACE("fault at call " + std::to_string(n) + " (" +
                 (fired ? env.faults.fired_at() : std::string("not reached")) +
                 "); calls: " + env.faults.Trace());
    if (!fired) {
      EXPECT_EQ(st.errors, 0);
      EXPECT_EQ(st.uploads_expired, 1);
      EXPECT_EQ(st.files_expired, 1);
      // 2 expired parts, the expired file, the deleted file, 1 cancelled part, the orphan.
      EXPECT_EQ(st.blobs_deleted, 6);
      ExpectSweepSceneVisible(env, sc);
      env.SweepAndExpectNoOrphans();
      return;
    }
    // Errors are counted (and logged), never swallowed.
    if (kind.persistent) {
      EXPECT_GE(st.errors, 1);
    } else {
      EXPECT_EQ(st.errors, 1);
    }
    ExpectSweepSceneVisible(env, sc);
    env.SweepAndExpectNoOrphans();
    ExpectSweepSceneVisible(env, sc);
  }
}

INSTANTIATE_TEST_SUITE_P(Faults, FaultWalkTest,
                         ::testing::Values(FaultKind{"Unavailable", &UnavailableFault, false},
                                           FaultKind{"DiskFull", &DiskFullFault, false},
                                           FaultKind{"IoError", &IoErrorFault, false},
                                           FaultKind{"UnavailableFromThenOn", &UnavailableFault,
                                                     true},
                                           FaultKind{"DiskFullFromThenOn", &DiskFullFault, true},
                                           FaultKind{"IoErrorFromThenOn", &IoErrorFault, true}),
                         FaultName);

// --- The wrappers themselves -------------------------------------------------------------

TEST(FaultInjector, CountsEveryFallibleCallAcrossBothStoresAndTheirWritersAndReaders) {
  CoreEnv env;
  env.faults.FailNth(1000, UnavailableFault());
  FP_ASSERT_OK(env.CreateFile(kProject, "abc"));
  EXPECT_EQ(env.faults.Trace(),
            "meta.AddGarbage blob.NewWriter blob.Append blob.Commit meta.InsertFile");
  auto f = env.files.List(kProject, {});
  FP_ASSERT_OK(f);
  env.faults.FailNth(1000, UnavailableFault());
  FP_ASSERT_OK(env.Read(kProject, f->data[0].id));
  EXPECT_EQ(env.faults.Trace(), "meta.GetFile blob.NewReader meta.GetFile blob.Read blob.Read");
  EXPECT_EQ(env.faults.calls(), 5);
  EXPECT_FALSE(env.faults.fired());
}

TEST(FaultInjector, FailsExactlyTheNthCallOnceOrFromThenOn) {
  CoreEnv env;
  env.faults.FailNth(3, DiskFullFault());
  auto w = env.files.StartWrite(kProject);  // calls 1, 2
  FP_ASSERT_OK(w);
  EXPECT_THAT((*w)->Append(AsSpan("x")),
              StatusIs(StatusCode::kResourceExhausted, "disk full", ""));  // call 3
  EXPECT_TRUE(env.faults.fired());
  EXPECT_EQ(env.faults.fired_at(), "blob.Append");
  // The writer is broken after its failed write, as a real one is.
  EXPECT_FALSE((*w)->Append(AsSpan("y")).ok());

  env.faults.FailNth(2, IoErrorFault(), /*persistent=*/true);
  FP_EXPECT_OK(env.meta.Ping());
  EXPECT_THAT(env.meta.Ping(), StatusIs(StatusCode::kDataLoss, "I/O error", ""));
  EXPECT_THAT(env.blobs.Ping(), StatusIs(StatusCode::kDataLoss, "I/O error", ""));
  env.faults.Disable();
  FP_EXPECT_OK(env.meta.Ping());
}

TEST(FaultInjector, OnlyFilterCountsMatchingCalls) {
  CoreEnv env;
  env.faults.FailNth(1, UnavailableFault(), false, "meta.InsertFile");
  EXPECT_THAT(env.CreateFile(kProject, "abc"), SameErrorAs(UnavailableFault()));
  EXPECT_EQ(env.faults.calls(), 1);
  EXPECT_EQ(env.faults.fired_at(), "meta.InsertFile");
}

TEST(FaultInjector, FailedCommitIsNeverRetriedIntoSuccess) {
  CoreEnv env;
  auto w = env.blobs.NewWriter("t/aa/x");
  FP_ASSERT_OK(w);
  FP_ASSERT_OK((*w)->Append(AsSpan("abc")));
  env.faults.FailNth(1, IoErrorFault());
  EXPECT_THAT((*w)->Commit(), SameErrorAs(IoErrorFault()));
  EXPECT_FALSE((*w)->Commit().ok());
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
}

}  // namespace
}  // namespace fileport

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

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "store/factory.h"
#include "support/scratch_dir.h"
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
  // After a crash, on the reopened stores: whether the operation's effect is visible; when it
  // is, fills `st` with what `run` would have recorded (the ids the dead process made), so
  // `succeeded` can check it.
  std::function<bool(CoreEnv&, WalkState&)> took_effect;
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

Walk CreateFileWalk() {
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
  w.took_effect = [](CoreEnv& env, WalkState& st) {
    for (const std::string& id : env.ListedFileIds(kProject)) {
      if (id != st.other_file_id) st.file_id = id;
    }
    return !st.file_id.empty();
  };
  return w;
}

TEST_P(FaultWalkTest, CreateFile) { RunWalk(CreateFileWalk()); }

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

Walk AddPartWalk() {
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
  w.took_effect = [](CoreEnv& env, WalkState& st) {
    const std::vector<std::string> listed = ListedPartIds(env, st);
    if (listed.size() < 2) return false;
    st.part_ids = listed;
    return true;
  };
  return w;
}

TEST_P(FaultWalkTest, AddPart) { RunWalk(AddPartWalk()); }

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
  w.took_effect = [](CoreEnv& env, WalkState& st) {
    auto u = env.uploads.Get(kProject, st.upload_id);
    if (!u.ok() || u->status != UploadStatus::kCompleted) return false;
    EXPECT_TRUE(u->file.has_value());
    if (u->file) st.file_id = u->file->id;
    return true;
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

Walk CancelWalk() {
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
  w.took_effect = [](CoreEnv& env, WalkState& st) {
    return UploadStatusNow(env, st) == UploadStatus::kCancelled;
  };
  return w;
}

TEST_P(FaultWalkTest, Cancel) { RunWalk(CancelWalk()); }

// --- Delete a file -----------------------------------------------------------------------

Walk DeleteFileWalk() {
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
  w.took_effect = [](CoreEnv& env, WalkState& st) {
    return env.files.Get(kProject, st.file_id).status().code() == StatusCode::kNotFound;
  };
  return w;
}

TEST_P(FaultWalkTest, DeleteFile) { RunWalk(DeleteFileWalk()); }

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
      env.raw_meta.AddGarbage({{key, env.now() + env.ctx.options.orphan_grace_seconds}}).ok());
  auto wr = env.raw_blobs.NewWriter(key);
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

// --- Crash points -------------------------------------------------------------------------
//
// The same walks with a crash instead of an error, on the real embedded stores (SQLite and a
// local blob directory): for N = 1, 2, … the operation runs in a forked child that dies by
// SIGKILL just before its N-th store call (so just after its (N-1)-th), and the last N lets it
// finish and exit before answering. The parent then reopens the stores as a restarted server
// would and checks that exactly one side of the operation is visible: all of it (`succeeded`)
// or none of it (`failed`, which also redoes it) — never a file without its bytes, a part
// listed with other bytes, a half-completed upload. Then one sweep past every grace period
// must leave exactly the blobs of live files and pending parts: no orphan, nothing dangling.

// Options for both lives of a crash walk: no orphan grace, because temporary files are judged
// by their real mtime and the restarted store must collect what the dead one left at once.
ServiceOptions CrashWalkOptions() {
  ServiceOptions o = WalkOptions();
  o.orphan_grace_seconds = 0;
  return o;
}

// Keys of the blobs under a local store's objects/ directory.
std::set<std::string> KeysUnder(const std::filesystem::path& objects) {
  std::set<std::string> keys;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(objects, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) keys.insert(std::filesystem::relative(it->path(), objects).string());
  }
  return keys;
}

// SQLite metadata and a local blob directory in `dir`, opened as a restarted server opens
// them, under a CoreEnv whose clock reads `millis`.
struct RealStores {
  RealStores(const std::string& dir, std::int64_t millis) {
    auto m = OpenMetadataStore("sqlite://" + dir + "/meta.db");
    auto b = OpenBlobStore("file://" + dir + "/blobs");
    if (!m.ok() || !b.ok()) {
      error = (m.ok() ? b.status() : m.status()).ToString();
      return;
    }
    meta = std::move(m).value();
    blobs = std::move(b).value();
    const std::filesystem::path objects = std::filesystem::path(dir) / "blobs" / "objects";
    tmp = std::filesystem::path(dir) / "blobs" / "tmp";
    env = std::make_unique<CoreEnv>(
        *meta, *blobs, [objects] { return KeysUnder(objects); }, CrashWalkOptions());
    env->clock.SetMillis(millis);
    env->projects.insert(kProject);
  }
  std::string error;
  std::unique_ptr<MetadataStore> meta;
  std::unique_ptr<BlobStore> blobs;
  std::unique_ptr<CoreEnv> env;
  std::filesystem::path tmp;
};

constexpr std::int64_t kWalkStartMillis = 1'700'000'000'000;

// Runs `op` in a forked child over the stores in `dir` (clock at `millis`) that dies by
// SIGKILL just before its n-th store call; the child exits 0 when `op` finished and returned
// true. Returns whether the child was killed (nullopt, with a failure, when it ended any other
// way than those two).
std::optional<bool> RunKilledAt(const std::string& dir, std::int64_t millis, int n,
                                const std::function<bool(CoreEnv&)>& op) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    // The child: no gtest reporting from here, only how it ended.
    RealStores live(dir, millis);
    if (!live.env) ::_exit(10);
    live.env->faults.CrashNth(n);
    ::_exit(op(*live.env) ? 0 : 11);  // past its last call: it finished, and dies unanswered
  }
  int wstatus = 0;
  if (pid < 0 || ::waitpid(pid, &wstatus, 0) != pid) {
    ADD_FAILURE() << "fork/waitpid: " << std::strerror(errno);
    return std::nullopt;
  }
  if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL) return true;
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return false;
  ADD_FAILURE() << "without a crash the operation must succeed; wait status " << wstatus;
  return std::nullopt;
}

// Runs `w` crashed at every store call; returns the number of crash points walked.
int RunCrashWalk(const Walk& w) {
  for (int n = 1;; ++n) {
    if (n > kMaxCalls) {
      ADD_FAILURE() << "the operation never finished before its " << kMaxCalls << "th call";
      return n;
    }
    testing::ScratchDir dir("crash-walk");
    WalkState st;
    std::int64_t millis = 0;
    {
      RealStores before(dir.path(), kWalkStartMillis);
      if (!before.env) {
        ADD_FAILURE() << before.error;
        return n;
      }
      w.setup(*before.env, st);
      if (::testing::Test::HasFatalFailure()) return n;
      millis = before.env->clock.NowMillis();
    }  // closed before the fork: a SQLite connection must not cross one

    const std::optional<bool> killed = RunKilledAt(
        dir.path(), millis, n, [&w, &st](CoreEnv& env) { return w.run(env, st).ok(); });
    if (!killed) return n;
    const bool crashed = *killed;
    SCOPED_TRACE(crashed ? "killed before store call " + std::to_string(n)
                         : "finished (" + std::to_string(n - 1) + " store calls), not answered");

    RealStores after(dir.path(), millis);
    if (!after.env) {
      ADD_FAILURE() << "reopen after the crash: " << after.error;
      return n;
    }
    CoreEnv& env = *after.env;
    if (!st.upload_id.empty()) env.Track(kProject, st.upload_id);
    if (!crashed) {
      EXPECT_TRUE(w.took_effect(env, st)) << "finished, yet its effect is not visible";
      w.succeeded(env, st);
    } else if (w.took_effect(env, st)) {
      w.succeeded(env, st);
    } else {
      w.failed(env, st);
    }
    env.SweepAndExpectNoOrphans("after a crash at call " + std::to_string(n));
    std::error_code ec;
    EXPECT_TRUE(std::filesystem::is_empty(after.tmp, ec)) << "temporary files left";
    if (::testing::Test::HasFatalFailure() || !crashed) {
      std::printf("[ crash walk ] %d crash points\n", n);
      return n;
    }
  }
}

TEST(CrashWalk, CreateFile) { EXPECT_GE(RunCrashWalk(CreateFileWalk()), 5); }
TEST(CrashWalk, AddPart) { EXPECT_GE(RunCrashWalk(AddPartWalk()), 5); }
TEST(CrashWalk, CompleteWithoutMd5) { EXPECT_GE(RunCrashWalk(CompleteWalk(false)), 3); }
TEST(CrashWalk, CompleteWithMd5) { EXPECT_GE(RunCrashWalk(CompleteWalk(true)), 3); }
TEST(CrashWalk, Cancel) { EXPECT_GE(RunCrashWalk(CancelWalk()), 2); }
TEST(CrashWalk, DeleteFile) { EXPECT_GE(RunCrashWalk(DeleteFileWalk()), 2); }

// A sweeper pass killed at every store call: the next pass finishes the job, and nothing live
// is ever touched.
TEST(CrashWalk, SweeperPass) {
  for (int n = 1;; ++n) {
    ASSERT_LE(n, kMaxCalls) << "the pass never finished";
    testing::ScratchDir dir("crash-walk");
    SweepScene sc;
    std::int64_t millis = 0;
    {
      RealStores before(dir.path(), kWalkStartMillis);
      ASSERT_TRUE(before.env) << before.error;
      BuildSweepScene(*before.env, sc);
      ASSERT_FALSE(HasFatalFailure()) << "setup failed";
      millis = before.env->clock.NowMillis();
    }
    const std::optional<bool> killed = RunKilledAt(
        dir.path(), millis, n, [](CoreEnv& env) { return env.sweeper.RunOnce().errors == 0; });
    ASSERT_TRUE(killed.has_value());
    const bool crashed = *killed;
    SCOPED_TRACE("killed before store call " + std::to_string(n));
    RealStores after(dir.path(), millis);
    ASSERT_TRUE(after.env) << after.error;
    for (const std::string& id : {sc.expired_upload, sc.cancelled_upload, sc.live_upload}) {
      after.env->Track(kProject, id);
    }
    ExpectSweepSceneVisible(*after.env, sc);
    after.env->SweepAndExpectNoOrphans();
    ExpectSweepSceneVisible(*after.env, sc);
    if (!crashed) {
      std::printf("[ crash walk ] sweeper pass: %d crash points\n", n);
      EXPECT_GE(n, 10) << "a pass over this scene makes more store calls than that";
      return;
    }
  }
}

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
  FP_ASSERT_OK(env.Read(kProject, f->first_id));
  EXPECT_EQ(env.faults.Trace(), "meta.GetFile blob.NewReader blob.Read blob.Read");
  EXPECT_EQ(env.faults.calls(), 4);
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

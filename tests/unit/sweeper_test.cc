// Unit tests of the Sweeper (core/sweeper.h) with a FakeClock: what one pass expires and
// deletes and when (uploads at created_at + 3600, files at expires_at, garbage at its due
// time, a dead writer's blob after the orphan grace), batching, leased garbage (a failed blob
// delete, a failed forget or a sweeper that died after claiming is retried once the lease
// ends), termination when a store keeps failing, concurrent sweepers, and the background
// thread.
#include "core/sweeper.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "unit/faulty_stores.h"

namespace fileport {
namespace {

constexpr char kProject[] = "proj";

class SweeperTest : public ::testing::Test {
 protected:
  CoreEnv env;

  // What a writer that crashed after Commit leaves: its intent and its bytes.
  std::string CrashedWriter(std::string_view bytes) {
    const std::string key = PartBlobKey(env.ids.NewId(kPartPrefix));
    EXPECT_TRUE(
        env.mem_meta.AddGarbage({{key, env.now() + env.ctx.options.orphan_grace_seconds}}).ok());
    auto w = env.mem_blobs.NewWriter(key);
    EXPECT_TRUE(w.ok());
    EXPECT_TRUE((*w)->Append(AsSpan(bytes)).ok());
    EXPECT_TRUE((*w)->Commit().ok());
    return key;
  }
};

TEST_F(SweeperTest, EmptyPassDoesNothing) {
  SweepStats st = env.sweeper.RunOnce();
  EXPECT_EQ(st.uploads_expired, 0);
  EXPECT_EQ(st.files_expired, 0);
  EXPECT_EQ(st.blobs_deleted, 0);
  EXPECT_EQ(st.errors, 0);
}

TEST_F(SweeperTest, ExpiresUploadsAtTheHourAndDeletesTheirParts) {
  auto u = env.CreateUpload(kProject, 10);
  FP_ASSERT_OK(u);
  FP_ASSERT_OK(env.AddPart(kProject, u->id, "abc"));
  FP_ASSERT_OK(env.AddPart(kProject, u->id, "def"));
  env.clock.AdvanceSeconds(3599);
  SweepStats early = env.sweeper.RunOnce();
  EXPECT_EQ(early.uploads_expired, 0);
  EXPECT_EQ(early.blobs_deleted, 0);
  EXPECT_EQ(env.mem_blobs.blob_count(), 2u);
  env.clock.AdvanceSeconds(1);
  SweepStats st = env.sweeper.RunOnce();
  EXPECT_EQ(st.uploads_expired, 1);
  EXPECT_EQ(st.blobs_deleted, 2);
  EXPECT_EQ(st.errors, 0);
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
  auto g = env.uploads.Get(kProject, u->id);
  FP_ASSERT_OK(g);
  EXPECT_EQ(g->status, UploadStatus::kExpired);
  // Nothing left to do on the next pass.
  SweepStats again = env.sweeper.RunOnce();
  EXPECT_EQ(again.uploads_expired, 0);
  EXPECT_EQ(again.blobs_deleted, 0);
}

TEST_F(SweeperTest, ExpiresFilesAtExpiresAt) {
  auto f = env.CreateFile(kProject, "abc",
                          FileParams("assistants", "a.txt", ExpiresAfter{"created_at", 7200}));
  FP_ASSERT_OK(f);
  auto keep = env.CreateFile(kProject, "keep");
  FP_ASSERT_OK(keep);
  env.clock.AdvanceSeconds(7199);
  EXPECT_EQ(env.sweeper.RunOnce().files_expired, 0);
  env.clock.AdvanceSeconds(1);
  SweepStats st = env.sweeper.RunOnce();
  EXPECT_EQ(st.files_expired, 1);
  EXPECT_EQ(st.blobs_deleted, 1);
  EXPECT_EQ(env.StoredBlobKeys(), std::set<std::string>{keep->segments[0].blob_key});
  FP_EXPECT_OK(env.Read(kProject, keep->id));
}

TEST_F(SweeperTest, CompletedUploadsBlobsBelongToTheFile) {
  auto u = env.CreateUpload(kProject, 4);
  FP_ASSERT_OK(u);
  auto a = env.AddPart(kProject, u->id, "ab");
  auto b = env.AddPart(kProject, u->id, "cd");
  FP_ASSERT_OK(a);
  FP_ASSERT_OK(b);
  auto done = env.uploads.Complete(kProject, u->id, {a->id, b->id}, std::nullopt);
  FP_ASSERT_OK(done);
  env.clock.AdvanceSeconds(365LL * 86400);  // far past the upload's hour and every grace
  SweepStats st = env.sweeper.RunOnce();
  EXPECT_EQ(st.uploads_expired, 0);
  EXPECT_EQ(st.blobs_deleted, 0);
  auto c = env.Read(kProject, done->file->id);
  FP_ASSERT_OK(c);
  EXPECT_EQ(*c, "abcd");
  FP_ASSERT_OK(env.files.Delete(kProject, done->file->id));
  EXPECT_EQ(env.sweeper.RunOnce().blobs_deleted, 2);
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
}

TEST_F(SweeperTest, DeadWritersBlobGoesAfterTheOrphanGrace) {
  const std::string key = CrashedWriter("orphan");
  env.clock.AdvanceSeconds(env.ctx.options.orphan_grace_seconds - 1);
  EXPECT_EQ(env.sweeper.RunOnce().blobs_deleted, 0);
  EXPECT_EQ(env.mem_blobs.blob_count(), 1u);
  env.clock.AdvanceSeconds(1);
  EXPECT_EQ(env.sweeper.RunOnce().blobs_deleted, 1);
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
}

TEST(SweeperOrphans, PartWriterOutlivingItsIntentAndItsUploadLeavesNoBlob) {
  // A part still streaming when its upload expires and the sweeper claims its intent (the
  // orphan grace is shorter than the upload's hour here; by default, a writer stuck for more
  // than 6 h). FinishPart then commits the blob, the store refuses the part because the
  // upload expired — and nothing references those bytes any more, not even garbage.
  ServiceOptions o;
  o.orphan_grace_seconds = 600;
  CoreEnv env(o);
  auto u = env.CreateUpload(kProject, 4);
  FP_ASSERT_OK(u);
  auto w = env.uploads.StartPart(kProject, u->id, std::nullopt);
  FP_ASSERT_OK(w);
  FP_ASSERT_OK((*w)->Append(AsSpan("ab")));
  env.clock.AdvanceSeconds(3600);
  env.sweeper.RunOnce();  // expires the upload, claims the part's intent
  EXPECT_THAT(
      env.uploads.FinishPart(kProject, std::move(*w)),
      StatusIs(StatusCode::kFailedPrecondition, "Upload " + u->id + " has expired", "data"));
  env.SweepAndExpectNoOrphans();
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
}

TEST(SweeperOrphans, PartWriterOutlivingItsIntentOnAPendingUploadLeavesNoBlob) {
  ServiceOptions o;
  o.orphan_grace_seconds = 600;
  CoreEnv env(o);
  auto u = env.CreateUpload(kProject, 4);
  FP_ASSERT_OK(u);
  auto w = env.uploads.StartPart(kProject, u->id, std::nullopt);
  FP_ASSERT_OK(w);
  FP_ASSERT_OK((*w)->Append(AsSpan("ab")));
  env.clock.AdvanceSeconds(600);
  env.sweeper.RunOnce();  // claims the part's intent; the upload is still pending
  auto p = env.uploads.FinishPart(kProject, std::move(*w));
  EXPECT_EQ(StatusOf(p).code(), StatusCode::kAborted) << StatusOf(p).ToString();
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
  auto parts = env.uploads.ListParts(kProject, u->id);
  FP_ASSERT_OK(parts);
  EXPECT_TRUE(parts->empty());
  // The upload still takes the part again.
  FP_EXPECT_OK(env.AddPart(kProject, u->id, "abcd"));
}

TEST_F(SweeperTest, DeleteGraceDelaysTheBytes) {
  ServiceOptions o;
  o.delete_grace_seconds = 120;
  CoreEnv slow(o);
  auto f = slow.CreateFile(kProject, "abc");
  FP_ASSERT_OK(f);
  auto u = slow.CreateUpload(kProject, 4);
  FP_ASSERT_OK(u);
  FP_ASSERT_OK(slow.AddPart(kProject, u->id, "ab"));
  FP_ASSERT_OK(slow.files.Delete(kProject, f->id));
  FP_ASSERT_OK(slow.uploads.Cancel(kProject, u->id));
  slow.clock.AdvanceSeconds(119);
  EXPECT_EQ(slow.sweeper.RunOnce().blobs_deleted, 0);
  EXPECT_EQ(slow.mem_blobs.blob_count(), 2u);
  slow.clock.AdvanceSeconds(1);
  EXPECT_EQ(slow.sweeper.RunOnce().blobs_deleted, 2);
  EXPECT_EQ(slow.mem_blobs.blob_count(), 0u);
}

TEST_F(SweeperTest, WorksThroughMoreThanOneBatchPerPass) {
  Sweeper small(env.ctx, /*batch=*/2);
  for (int i = 0; i < 5; ++i) {
    auto u = env.CreateUpload(kProject, 2);
    FP_ASSERT_OK(u);
    FP_ASSERT_OK(env.AddPart(kProject, u->id, "x"));
    FP_ASSERT_OK(env.CreateFile(
        kProject, "y", FileParams("assistants", "a.txt", ExpiresAfter{"created_at", 3600})));
  }
  env.clock.AdvanceSeconds(3600);
  SweepStats st = small.RunOnce();
  EXPECT_EQ(st.uploads_expired, 5);
  EXPECT_EQ(st.files_expired, 5);
  EXPECT_EQ(st.blobs_deleted, 10);
  EXPECT_EQ(st.errors, 0);
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
}

// Garbage rows still in the store, leased or not: read straight from the memory store, so
// it never meets an injected fault. Claims (and so leases) them for a moment: use only where
// no sweeper runs afterwards before the far future.
std::vector<std::string> GarbageLeftAtTheEndOfTime(CoreEnv& env) {
  constexpr std::int64_t kEndOfTime = std::int64_t{1} << 62;
  auto keys = env.mem_meta.ClaimGarbage(kEndOfTime, 100000, kEndOfTime);
  EXPECT_TRUE(keys.ok()) << keys.status().ToString();
  return keys.ok() ? *keys : std::vector<std::string>{};
}

TEST_F(SweeperTest, FailedBlobDeleteIsRetriedOnceTheLeaseEnds) {
  auto f = env.CreateFile(kProject, "abc");
  FP_ASSERT_OK(f);
  FP_ASSERT_OK(env.files.Delete(kProject, f->id));
  env.faults.FailNth(1, IoErrorFault(), false, "blob.Delete");
  SweepStats st = env.sweeper.RunOnce();
  EXPECT_TRUE(env.faults.fired());
  EXPECT_EQ(st.errors, 1);
  EXPECT_EQ(st.blobs_deleted, 0);
  EXPECT_EQ(env.mem_blobs.blob_count(), 1u);
  env.faults.Disable();
  // The row stays leased (nothing is written back after a failure): no pass takes it before
  // the lease ends.
  env.clock.AdvanceSeconds(env.ctx.options.garbage_lease_seconds - 1);
  EXPECT_EQ(env.sweeper.RunOnce().blobs_deleted, 0);
  EXPECT_EQ(env.mem_blobs.blob_count(), 1u);
  env.clock.AdvanceSeconds(1);
  EXPECT_EQ(env.sweeper.RunOnce().blobs_deleted, 1);
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
  EXPECT_THAT(GarbageLeftAtTheEndOfTime(env), ::testing::IsEmpty());
}

// The failure that used to leak: the blob delete fails and the metadata store is down too, so
// nothing could be written back. The row was never removed, so nothing is lost.
TEST_F(SweeperTest, FailedBlobDeleteWithTheMetadataStoreDownLeaksNothing) {
  auto f = env.CreateFile(kProject, "abc");
  FP_ASSERT_OK(f);
  FP_ASSERT_OK(env.files.Delete(kProject, f->id));
  env.faults.BeforeCall("blob.Delete",
                        [&] { env.faults.FailNth(1, UnavailableFault(), /*persistent=*/true); });
  SweepStats st = env.sweeper.RunOnce();
  EXPECT_TRUE(env.faults.fired());
  EXPECT_GE(st.errors, 1);
  EXPECT_EQ(env.mem_blobs.blob_count(), 1u);
  env.faults.Disable();
  env.clock.AdvanceSeconds(env.ctx.options.garbage_lease_seconds);
  SweepStats later = env.sweeper.RunOnce();
  EXPECT_EQ(later.blobs_deleted, 1);
  EXPECT_EQ(later.errors, 0);
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
  EXPECT_THAT(GarbageLeftAtTheEndOfTime(env), ::testing::IsEmpty());
}

// A sweeper killed between claiming and deleting: its claim is a lease, and the blob is
// collected by a later pass (here another node's) once the lease has run out.
TEST_F(SweeperTest, SweeperDyingBetweenClaimAndDeleteLeavesTheBlobToALaterPass) {
  auto f = env.CreateFile(kProject, "abc");
  FP_ASSERT_OK(f);
  FP_ASSERT_OK(env.files.Delete(kProject, f->id));
  const std::string key = f->segments[0].blob_key;
  const std::int64_t lease = env.ctx.options.garbage_lease_seconds;
  // The dying sweeper: claims as RunOnce does, then nothing.
  auto claimed = env.mem_meta.ClaimGarbage(env.now(), 500, env.now() + lease);
  FP_ASSERT_OK(claimed);
  EXPECT_EQ(*claimed, std::vector<std::string>{key});

  Sweeper other(env.ctx);
  env.clock.AdvanceSeconds(lease - 1);
  EXPECT_EQ(other.RunOnce().blobs_deleted, 0);  // the lease still holds
  EXPECT_EQ(env.StoredBlobKeys(), std::set<std::string>{key});
  env.clock.AdvanceSeconds(1);
  SweepStats st = other.RunOnce();
  EXPECT_EQ(st.blobs_deleted, 1);
  EXPECT_EQ(st.errors, 0);
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
  // Deleted and forgotten: no later pass meets it again.
  env.clock.AdvanceSeconds(lease);
  EXPECT_EQ(other.RunOnce().blobs_deleted, 0);
  EXPECT_THAT(GarbageLeftAtTheEndOfTime(env), ::testing::IsEmpty());
}

// A sweeper dying after deleting the blobs but before forgetting them (or whose forget
// failed): the next claimer deletes again (a no-op) and forgets.
TEST_F(SweeperTest, FailedForgetIsRepeatedOnceTheLeaseEnds) {
  auto f = env.CreateFile(kProject, "abc");
  FP_ASSERT_OK(f);
  FP_ASSERT_OK(env.files.Delete(kProject, f->id));
  env.faults.FailNth(1, UnavailableFault(), false, "meta.ForgetGarbage");
  SweepStats st = env.sweeper.RunOnce();
  EXPECT_TRUE(env.faults.fired());
  EXPECT_EQ(st.errors, 1);
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);  // the bytes went all the same
  env.faults.Disable();
  env.clock.AdvanceSeconds(env.ctx.options.garbage_lease_seconds);
  EXPECT_EQ(env.sweeper.RunOnce().errors, 0);
  EXPECT_THAT(GarbageLeftAtTheEndOfTime(env), ::testing::IsEmpty());
}

// Deletes and forgets go in one ForgetGarbage call per batch, for the keys whose delete
// succeeded only.
TEST_F(SweeperTest, ForgetsEachBatchInOneCallAndOnlyTheDeletedKeys) {
  Sweeper small(env.ctx, /*batch=*/3);
  for (int i = 0; i < 5; ++i) {
    auto f = env.CreateFile(kProject, "x");
    FP_ASSERT_OK(f);
    FP_ASSERT_OK(env.files.Delete(kProject, f->id));
  }
  env.faults.FailNth(1000, UnavailableFault());  // counts, never fires
  SweepStats st = small.RunOnce();
  EXPECT_EQ(st.blobs_deleted, 5);
  EXPECT_EQ(env.faults.Trace(),
            "meta.ListExpiredUploads meta.ListExpiredFiles "
            "meta.ClaimGarbage blob.Delete blob.Delete blob.Delete meta.ForgetGarbage "
            "meta.ClaimGarbage blob.Delete blob.Delete meta.ForgetGarbage "
            "blob.CleanupTemporary");

  for (int i = 0; i < 3; ++i) {
    auto f = env.CreateFile(kProject, "y");
    FP_ASSERT_OK(f);
    FP_ASSERT_OK(env.files.Delete(kProject, f->id));
  }
  env.faults.FailNth(2, IoErrorFault(), false, "blob.Delete");
  st = small.RunOnce();
  EXPECT_EQ(st.blobs_deleted, 2);
  EXPECT_EQ(st.errors, 1);
  EXPECT_EQ(env.mem_blobs.blob_count(), 1u);
  // The failed one alone is left, leased.
  auto leftover = GarbageLeftAtTheEndOfTime(env);
  ASSERT_EQ(leftover.size(), 1u);
  EXPECT_EQ(env.StoredBlobKeys(), std::set<std::string>{leftover[0]});
}

// A store that refuses writes but answers reads (a full disk, a read-only replica) must not
// make a pass spin on the same batch for ever.
TEST_F(SweeperTest, PassEndsWhenExpiringUploadsKeepsFailing) {
  Sweeper small(env.ctx, /*batch=*/2);
  for (int i = 0; i < 3; ++i) FP_ASSERT_OK(env.CreateUpload(kProject, 1));
  env.clock.AdvanceSeconds(3600);
  env.faults.FailNth(1, DiskFullFault(), /*persistent=*/true, "meta.TransitionUpload");
  env.faults.SetCallBudget(1000);
  SweepStats st = small.RunOnce();
  EXPECT_FALSE(env.faults.budget_exceeded()) << "RunOnce kept retrying a failing batch";
  EXPECT_GE(st.errors, 1);
  env.faults.SetCallBudget(0);
  env.faults.Disable();
  EXPECT_EQ(small.RunOnce().uploads_expired, 3);
}

TEST_F(SweeperTest, PassEndsWhenDeletingExpiredFilesKeepsFailing) {
  Sweeper small(env.ctx, /*batch=*/2);
  for (int i = 0; i < 3; ++i) {
    FP_ASSERT_OK(env.CreateFile(
        kProject, "x", FileParams("assistants", "a.txt", ExpiresAfter{"created_at", 3600})));
  }
  env.clock.AdvanceSeconds(3600);
  env.faults.FailNth(1, UnavailableFault(), /*persistent=*/true, "meta.DeleteFile");
  env.faults.SetCallBudget(1000);
  SweepStats st = small.RunOnce();
  EXPECT_FALSE(env.faults.budget_exceeded()) << "RunOnce kept retrying a failing batch";
  EXPECT_GE(st.errors, 1);
  env.faults.SetCallBudget(0);
  env.faults.Disable();
  EXPECT_EQ(small.RunOnce().files_expired, 3);
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
}

// With no lease at all a failed delete is due again at once: the pass must still end.
TEST(SweeperLease, PassEndsWhenDeletingBlobsKeepsFailing) {
  ServiceOptions o;
  o.garbage_lease_seconds = 0;
  CoreEnv env(o);
  Sweeper small(env.ctx, /*batch=*/2);
  for (int i = 0; i < 3; ++i) {
    auto f = env.CreateFile(kProject, "x");
    FP_ASSERT_OK(f);
    FP_ASSERT_OK(env.files.Delete(kProject, f->id));
  }
  env.faults.FailNth(1, IoErrorFault(), /*persistent=*/true, "blob.Delete");
  env.faults.SetCallBudget(1000);
  SweepStats st = small.RunOnce();
  EXPECT_FALSE(env.faults.budget_exceeded()) << "RunOnce kept retrying a failing batch";
  EXPECT_GE(st.errors, 1);
  env.faults.SetCallBudget(0);
  env.faults.Disable();
  EXPECT_EQ(small.RunOnce().blobs_deleted, 3);
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
}

TEST(SweeperLease, PassEndsWhenForgettingGarbageKeepsFailing) {
  ServiceOptions o;
  o.garbage_lease_seconds = 0;
  CoreEnv zero(o);
  Sweeper small(zero.ctx, /*batch=*/2);
  for (int i = 0; i < 3; ++i) {
    auto f = zero.CreateFile(kProject, "x");
    FP_ASSERT_OK(f);
    FP_ASSERT_OK(zero.files.Delete(kProject, f->id));
  }
  zero.faults.FailNth(1, DiskFullFault(), /*persistent=*/true, "meta.ForgetGarbage");
  zero.faults.SetCallBudget(1000);
  SweepStats st = small.RunOnce();
  EXPECT_FALSE(zero.faults.budget_exceeded()) << "RunOnce kept retrying a failing batch";
  EXPECT_GE(st.errors, 1);
  zero.faults.SetCallBudget(0);
  zero.faults.Disable();
  small.RunOnce();
  EXPECT_EQ(zero.mem_blobs.blob_count(), 0u);
  EXPECT_THAT(GarbageLeftAtTheEndOfTime(zero), ::testing::IsEmpty());
}

TEST_F(SweeperTest, TotalsAccumulateOverPasses) {
  for (int i = 0; i < 2; ++i) {
    auto f = env.CreateFile(kProject, "x");
    FP_ASSERT_OK(f);
    FP_ASSERT_OK(env.files.Delete(kProject, f->id));
    env.sweeper.RunOnce();
  }
  SweepStats t = env.sweeper.totals();
  EXPECT_EQ(t.blobs_deleted, 2);
  EXPECT_EQ(t.errors, 0);
}

TEST_F(SweeperTest, SweepersOnEveryNodeAtOnceDoEachThingOnce) {
  for (int i = 0; i < 50; ++i) {
    auto u = env.CreateUpload(kProject, 2);
    FP_ASSERT_OK(u);
    FP_ASSERT_OK(env.AddPart(kProject, u->id, "x"));
    auto f = env.CreateFile(kProject, "y");
    FP_ASSERT_OK(f);
    FP_ASSERT_OK(env.files.Delete(kProject, f->id));
  }
  env.clock.AdvanceSeconds(3600);
  std::vector<std::unique_ptr<Sweeper>> nodes;
  for (int i = 0; i < 4; ++i) nodes.push_back(std::make_unique<Sweeper>(env.ctx, 7));
  std::vector<std::thread> threads;
  for (auto& s : nodes) threads.emplace_back([&s] { s->RunOnce(); });
  for (auto& t : threads) t.join();
  SweepStats sum;
  for (auto& s : nodes) {
    sum.uploads_expired += s->totals().uploads_expired;
    sum.blobs_deleted += s->totals().blobs_deleted;
    sum.errors += s->totals().errors;
  }
  EXPECT_EQ(sum.uploads_expired, 50);
  EXPECT_EQ(sum.blobs_deleted, 100);
  EXPECT_EQ(sum.errors, 0);
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
}

// Waits (without sleeping) until `done` holds; false after a generous deadline.
template <class F>
bool Eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST_F(SweeperTest, BackgroundThreadSweepsAtStartAndWhenKicked) {
  auto f = env.CreateFile(kProject, "x");
  FP_ASSERT_OK(f);
  FP_ASSERT_OK(env.files.Delete(kProject, f->id));
  env.sweeper.Start(/*interval_seconds=*/3600);
  EXPECT_TRUE(Eventually([&] { return env.sweeper.totals().blobs_deleted == 1; }));
  auto g = env.CreateFile(kProject, "y");
  FP_ASSERT_OK(g);
  FP_ASSERT_OK(env.files.Delete(kProject, g->id));
  env.sweeper.Kick();
  EXPECT_TRUE(Eventually([&] { return env.sweeper.totals().blobs_deleted == 2; }));
  env.sweeper.Stop();
  env.sweeper.Stop();  // idempotent
  EXPECT_EQ(env.mem_blobs.blob_count(), 0u);
}

}  // namespace
}  // namespace fileport

// RateLimiter: token buckets per project, on a FakeClock (no sleeps).
#include "api/rate_limiter.h"

#include <gtest/gtest.h>

#include <string>

#include "common/clock.h"

namespace fileport {
namespace {

TEST(RateLimiterTest, BurstThenOneTokenPerIntervalWithTheExactWait) {
  FakeClock clock;
  RateLimiter limiter(4, 2, clock);  // a token every 250 ms, two at most
  EXPECT_EQ(limiter.Acquire("p"), 0);
  EXPECT_EQ(limiter.Acquire("p"), 0);
  EXPECT_EQ(limiter.Acquire("p"), 250);
  EXPECT_EQ(limiter.Acquire("p"), 250) << "a refused request takes nothing";
  clock.AdvanceMillis(100);
  EXPECT_EQ(limiter.Acquire("p"), 150);
  clock.AdvanceMillis(150);
  EXPECT_EQ(limiter.Acquire("p"), 0);
  EXPECT_EQ(limiter.Acquire("p"), 250);
  // Idle for long: the bucket refills to the burst, never beyond.
  clock.AdvanceSeconds(60);
  EXPECT_EQ(limiter.Acquire("p"), 0);
  EXPECT_EQ(limiter.Acquire("p"), 0);
  EXPECT_GT(limiter.Acquire("p"), 0);
}

TEST(RateLimiterTest, ProjectsHaveTheirOwnBuckets) {
  FakeClock clock;
  RateLimiter limiter(1, 1, clock);
  EXPECT_EQ(limiter.Acquire("a"), 0);
  EXPECT_EQ(limiter.Acquire("a"), 1000);
  EXPECT_EQ(limiter.Acquire("b"), 0);
}

TEST(RateLimiterTest, SlowRatesWaitAtLeastAMillisecondAndFastOnesRoundUp) {
  FakeClock clock;
  RateLimiter fast(3000, 1, clock);
  EXPECT_EQ(fast.Acquire("p"), 0);
  EXPECT_EQ(fast.Acquire("p"), 1) << "1/3 ms rounds up to 1 ms";
  RateLimiter slow(0.5, 1, clock);
  EXPECT_EQ(slow.Acquire("p"), 0);
  EXPECT_EQ(slow.Acquire("p"), 2000);
}

TEST(RateLimiterTest, AClockSteppingBackRefillsNothing) {
  FakeClock clock(10'000);
  RateLimiter limiter(1, 1, clock);
  EXPECT_EQ(limiter.Acquire("p"), 0);
  clock.SetMillis(5'000);
  EXPECT_EQ(limiter.Acquire("p"), 1000);
  clock.SetMillis(10'999);
  EXPECT_EQ(limiter.Acquire("p"), 1);
  clock.SetMillis(11'000);
  EXPECT_EQ(limiter.Acquire("p"), 0);
}

TEST(RateLimiterTest, MemoryIsBoundedByDroppingIdleProjects) {
  FakeClock clock;
  RateLimiter limiter(10, 1, clock, /*max_projects=*/3);
  for (const char* p : {"a", "b", "c"}) EXPECT_EQ(limiter.Acquire(p), 0);
  EXPECT_EQ(limiter.tracked_projects(), 3u);
  // All three are still empty: nothing can be dropped without forgetting a limit.
  EXPECT_EQ(limiter.Acquire("d"), 0);
  EXPECT_EQ(limiter.tracked_projects(), 4u);
  EXPECT_EQ(limiter.Acquire("a"), 100) << "a's state was kept";
  // Once refilled, their state equals a fresh bucket's and may go.
  clock.AdvanceMillis(100);
  EXPECT_EQ(limiter.Acquire("e"), 0);
  EXPECT_EQ(limiter.tracked_projects(), 1u);
}

}  // namespace
}  // namespace fileport

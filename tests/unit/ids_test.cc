// Unit tests of object identifiers (common/ids.h): the `file-` + 24 URL-safe characters
// format, time-sortability under a FakeClock (what the keyset cursor of GET /v1/files relies
// on), uniqueness, and IsWellFormedId as the gate for untrusted ids from the wire.
#include "common/ids.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"

namespace fileport {
namespace {

constexpr std::string_view kAlphabet =
    "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

bool AllInAlphabet(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return kAlphabet.find(c) != std::string_view::npos; });
}

TEST(Ids, PrefixPlusTwentyFourUrlSafeCharacters) {
  FakeClock clock;
  IdGenerator ids(clock);
  for (std::string_view prefix : {kFilePrefix, kUploadPrefix, kPartPrefix, kKeyIdPrefix}) {
    for (int i = 0; i < 100; ++i) {
      const std::string id = ids.NewId(prefix);
      ASSERT_EQ(id.size(), prefix.size() + 24) << id;
      ASSERT_TRUE(id.starts_with(prefix)) << id;
      ASSERT_TRUE(AllInAlphabet(std::string_view(id).substr(prefix.size()))) << id;
      ASSERT_TRUE(IsWellFormedId(id, prefix)) << id;
    }
  }
  EXPECT_TRUE(ids.NewId(kFilePrefix).starts_with("file-"));
  EXPECT_TRUE(ids.NewId(kUploadPrefix).starts_with("upload_"));
  EXPECT_TRUE(ids.NewId(kPartPrefix).starts_with("part_"));
}

TEST(Ids, IdsMadeAtIncreasingTimesSortIncreasingly) {
  FakeClock clock;
  IdGenerator ids(clock);
  std::vector<std::string> made;
  // Every millisecond step, then seconds, hours, years: each id sorts after the previous one.
  for (std::int64_t step :
       {1LL, 1LL, 1LL, 7LL, 999LL, 1000LL, 3'600'000LL, 86'400'000LL, 31'536'000'000LL, 1LL}) {
    for (int i = 0; i < 50; ++i) {
      clock.AdvanceMillis(step);
      made.push_back(ids.NewId(kFilePrefix));
    }
  }
  for (std::size_t i = 1; i < made.size(); ++i) {
    ASSERT_LT(made[i - 1], made[i]) << "id " << i << " does not sort after its predecessor";
  }
}

TEST(Ids, SortOrderCrossesEveryTimeCharacterBoundary) {
  // 64^k milliseconds apart: a carry into each of the 7 time characters.
  FakeClock clock(0);
  IdGenerator ids(clock);
  std::string prev;
  std::int64_t unit = 1;
  for (int k = 0; k < 7; ++k, unit *= 64) {
    clock.SetMillis(unit - 1);
    const std::string before = ids.NewId(kFilePrefix);
    clock.SetMillis(unit);
    const std::string at = ids.NewId(kFilePrefix);
    EXPECT_LT(before, at) << "carry into time character " << k;
    EXPECT_LT(prev, at);
    prev = at;
  }
}

TEST(Ids, UniqueWithinOneMillisecond) {
  FakeClock clock;
  IdGenerator ids(clock);
  std::set<std::string> seen;
  for (int i = 0; i < 20000; ++i) ASSERT_TRUE(seen.insert(ids.NewId(kPartPrefix)).second);
  // Same millisecond: same time characters, different random tail.
  const std::string a = ids.NewId(kFilePrefix), b = ids.NewId(kFilePrefix);
  EXPECT_EQ(a.substr(0, 5 + 7), b.substr(0, 5 + 7));
  EXPECT_NE(a, b);
}

TEST(IsWellFormedId, RefusesAnythingElse) {
  const std::string good = "file-" + std::string(24, 'A');
  EXPECT_TRUE(IsWellFormedId(good, kFilePrefix));
  EXPECT_TRUE(IsWellFormedId("file-" + std::string(kAlphabet.substr(0, 24)), kFilePrefix));
  EXPECT_TRUE(IsWellFormedId("file-" + std::string(kAlphabet.substr(40, 24)), kFilePrefix));
  EXPECT_FALSE(IsWellFormedId("", kFilePrefix));
  EXPECT_FALSE(IsWellFormedId("file-", kFilePrefix));
  EXPECT_FALSE(IsWellFormedId("file-" + std::string(23, 'A'), kFilePrefix));
  EXPECT_FALSE(IsWellFormedId("file-" + std::string(25, 'A'), kFilePrefix));
  EXPECT_FALSE(IsWellFormedId("file_" + std::string(24, 'A'), kFilePrefix));
  EXPECT_FALSE(IsWellFormedId("File-" + std::string(24, 'A'), kFilePrefix));
  EXPECT_FALSE(IsWellFormedId(good, kUploadPrefix));
  EXPECT_FALSE(IsWellFormedId("upload_" + std::string(24, 'A'), kFilePrefix));
  // Path and encoding characters never pass: ids are untrusted text, never paths.
  for (char c : {'.', '/', '\\', '%', ' ', '+', '=', '\0', '\n', '~', '*'}) {
    std::string id = good;
    id[10] = c;
    EXPECT_FALSE(IsWellFormedId(id, kFilePrefix)) << static_cast<int>(c);
  }
  EXPECT_FALSE(IsWellFormedId("file-../../../../etc/passwd-x", kFilePrefix));
  std::string utf8 = good;
  utf8.replace(10, 2, "\xc3\xa9");  // still 29 bytes
  EXPECT_FALSE(IsWellFormedId(utf8, kFilePrefix));
}

TEST(RandomToken, LengthAndAlphabet) {
  EXPECT_EQ(RandomToken(0), "");
  for (std::size_t n : {1u, 17u, 40u, 63u, 64u, 65u, 200u}) {
    const std::string t = RandomToken(n);
    EXPECT_EQ(t.size(), n);
    EXPECT_TRUE(AllInAlphabet(t)) << t;
  }
  EXPECT_NE(RandomToken(40), RandomToken(40));
}

TEST(RandomHex, TwoLowercaseHexDigitsPerByte) {
  const std::string h = RandomHex(16);
  EXPECT_EQ(h.size(), 32u);
  EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos) << h;
}

TEST(NewRequestId, ReqAnd32LowercaseHexDigits) {
  for (int i = 0; i < 100; ++i) {
    const std::string id = NewRequestId();
    ASSERT_EQ(id.size(), 36u) << id;
    EXPECT_EQ(id.substr(0, 4), "req_") << id;
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef", 4), std::string::npos) << id;
  }
}

TEST(NewRequestId, UniqueAcrossThreads) {
  // Each thread has its own generator: ids drawn at once on several threads never collide,
  // and every hex digit takes every value (none is stuck).
  constexpr int kThreads = 4, kEach = 20000;
  std::vector<std::vector<std::string>> drawn(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&drawn, t] {
      for (int i = 0; i < kEach; ++i) drawn[t].push_back(NewRequestId());
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  std::vector<std::set<char>> digits(32);
  for (const auto& ids : drawn) {
    for (const auto& id : ids) {
      all.insert(id);
      for (std::size_t i = 0; i < 32; ++i) digits[i].insert(id[4 + i]);
    }
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kEach));
  for (std::size_t i = 0; i < 32; ++i) EXPECT_EQ(digits[i].size(), 16u) << "digit " << i;
}

}  // namespace
}  // namespace fileport

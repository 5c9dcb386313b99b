// Byte sizes as flags and messages write them.
#include "common/sizes.h"

#include <gtest/gtest.h>

namespace fileport {
namespace {

TEST(ParseByteSize, BinaryUnitsInAnyCaseWithOrWithoutB) {
  EXPECT_EQ(ParseByteSize("1048576"), 1048576);
  EXPECT_EQ(ParseByteSize("0"), 0);
  EXPECT_EQ(ParseByteSize("512b"), 512);
  EXPECT_EQ(ParseByteSize("512k"), 512 * kKiB);
  EXPECT_EQ(ParseByteSize("64MB"), 64 * kMiB);
  EXPECT_EQ(ParseByteSize("64MiB"), 64 * kMiB);
  EXPECT_EQ(ParseByteSize("10 GiB"), 10 * kGiB);
  EXPECT_EQ(ParseByteSize("2TiB"), 2 * kTiB);
  EXPECT_EQ(ParseByteSize("100tb"), 100 * kTiB);
  EXPECT_EQ(ParseByteSize("3t"), 3 * kTiB);
}

TEST(ParseByteSize, JunkNegativeAndOverflowAreRefused) {
  for (const char* bad : {"", "GiB", "-1", "-1GiB", "12XB", "1PiB", "1.5GiB", "1 G i B x"}) {
    EXPECT_EQ(ParseByteSize(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(ParseByteSize("8388607TiB"), 8388607 * kTiB);  // just under 2^63
  EXPECT_EQ(ParseByteSize("8388608TiB"), std::nullopt);    // 2^63: one past the largest
}

TEST(FormatBytes, PicksTheLargestUnitBelowTheValue) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(64 * kMiB), "64.0 MiB");
  EXPECT_EQ(FormatBytes(kGiB + kGiB / 2), "1.50 GiB");
  EXPECT_EQ(FormatBytes(kTiB - 1), "1024.00 GiB");
  EXPECT_EQ(FormatBytes(2 * kTiB), "2.00 TiB");
}

}  // namespace
}  // namespace fileport

// Range parsing for downloads: ParseRange against a known size, and RangeBound, the bytes a
// header can select before the size is known.
#include "api/content_headers.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace fileport {
namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

TEST(RangeBoundTest, IsTheRangeAsWrittenWhenItDoesNotDependOnTheSize) {
  struct Case {
    std::string header;
    std::int64_t offset, length;
  };
  for (const Case& c : std::vector<Case>{{"bytes=0-0", 0, 1},
                                         {"bytes=2-4", 2, 3},
                                         {" bytes= 7 - 9 ", 7, 3},
                                         {"bytes=5-", 5, -1},
                                         {"bytes=0-999999999999999999", 0, 1000000000000000000},
                                         {"bytes=-3", 0, -1},
                                         {"bytes=-0", 0, -1},
                                         {"bytes=0-1,3-4", 0, -1},
                                         {"bytes=5-2", 0, -1},
                                         {"items=0-1", 0, -1},
                                         {"bytes=x-1", 0, -1},
                                         {"bytes=1-x", 0, -1},
                                         {"bytes=-", 0, -1},
                                         {"bytes=1", 0, -1},
                                         {"", 0, -1}}) {
    SCOPED_TRACE(c.header);
    const ByteRange b = RangeBound(c.header);
    EXPECT_EQ(b.offset, c.offset);
    EXPECT_EQ(b.length, c.length);
  }
}

// Whatever ParseRange selects once the size is known lies within the bound: the bytes the
// store was asked to make readable.
TEST(RangeBoundTest, HoldsWhatParseRangeSelectsAtAnySize) {
  for (const std::string header :
       {"bytes=0-0", "bytes=2-4", "bytes=5-", "bytes=-3", "bytes=-100", "bytes=8-100", "bytes=10-",
        "bytes=0-1,3-4", "bytes=5-2", "items=0-1", "bytes=9-9", "bytes=3-12"}) {
    for (std::int64_t size : {0, 1, 3, 9, 10, 11, 1000}) {
      SCOPED_TRACE(header + " of " + std::to_string(size));
      const ByteRange b = RangeBound(header);
      const std::int64_t bound_end = b.length < 0 ? kMax : b.offset + b.length;
      const ParsedRange p = ParseRange(header, size);
      if (p.kind == RangeKind::kUnsatisfiable) continue;  // 416: no byte is read
      const ByteRange sel = p.kind == RangeKind::kSatisfiable ? p.range : ByteRange{0, size};
      if (sel.length == 0) continue;
      EXPECT_LE(b.offset, sel.offset);
      EXPECT_GE(bound_end, sel.offset + sel.length);
    }
  }
}

TEST(ParseRangeTest, SelectsOneRangeAgainstTheSize) {
  struct Case {
    std::string header;
    std::int64_t size;
    RangeKind kind;
    std::int64_t offset, length;
  };
  for (const Case& c :
       std::vector<Case>{{"bytes=0-0", 10, RangeKind::kSatisfiable, 0, 1},
                         {"bytes=5-", 10, RangeKind::kSatisfiable, 5, 5},
                         {"bytes=-3", 10, RangeKind::kSatisfiable, 7, 3},
                         {"bytes=-100", 10, RangeKind::kSatisfiable, 0, 10},
                         {"bytes=8-100", 10, RangeKind::kSatisfiable, 8, 2},
                         {" bytes= 2 - 4 ", 10, RangeKind::kSatisfiable, 2, 3},
                         {"bytes=10-", 10, RangeKind::kUnsatisfiable, 0, 0},
                         {"bytes=10-20", 10, RangeKind::kUnsatisfiable, 0, 0},
                         {"bytes=-0", 10, RangeKind::kUnsatisfiable, 0, 0},
                         {"bytes=-5", 0, RangeKind::kUnsatisfiable, 0, 0},
                         {"bytes=0-", 0, RangeKind::kUnsatisfiable, 0, 0},
                         {"bytes=5-2", 10, RangeKind::kNone, 0, 0},
                         {"bytes=0-1,3-4", 10, RangeKind::kNone, 0, 0},
                         {"items=0-1", 10, RangeKind::kNone, 0, 0},
                         {"bytes=-", 10, RangeKind::kNone, 0, 0},
                         {"bytes=1", 10, RangeKind::kNone, 0, 0},
                         {"bytes=+1-2", 10, RangeKind::kNone, 0, 0},
                         {"bytes=1234567890123456789-", 10, RangeKind::kNone, 0, 0}}) {
    SCOPED_TRACE(c.header + " of " + std::to_string(c.size));
    const ParsedRange p = ParseRange(c.header, c.size);
    EXPECT_EQ(p.kind, c.kind);
    EXPECT_EQ(p.range.offset, c.offset);
    EXPECT_EQ(p.range.length, c.length);
  }
}

}  // namespace
}  // namespace fileport

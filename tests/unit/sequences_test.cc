// router/sequences: setval through Mosaic on each node's striped copy of a sequence.
#include "router/sequences.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace mosaic::router {
namespace {

// The value nextval returns after setval(value, called) on a copy.
int64_t Next(StripedSetval s, int stride) { return s.called ? s.value + stride : s.value; }

TEST(SetvalInStripe, NextValueIsTheFirstOfTheStripePastTheValue) {
  for (int k = 1; k <= 3; ++k) {
    for (int64_t value : {1, 2, 3, 63, 64, 65, 66, 130, 200, 8577}) {
      const StripedSetval called = SetvalInStripe(value, true, k, 64);
      const int64_t next = Next(called, 64);
      EXPECT_GT(next, value) << k << " " << value;
      EXPECT_LE(next, value + 64) << k << " " << value;  // nothing of the stripe skipped
      EXPECT_EQ((next - k) % 64, 0) << k << " " << value;
      if (called.called) {
        EXPECT_EQ((called.value - k) % 64, 0);
      }

      const StripedSetval fresh = SetvalInStripe(value, false, k, 64);
      EXPECT_FALSE(fresh.called);
      EXPECT_GE(fresh.value, value);
      EXPECT_LT(fresh.value, value + 64);
      EXPECT_EQ((fresh.value - k) % 64, 0);
    }
  }
  EXPECT_EQ(SetvalInStripe(200, true, 1, 64).value, 193);  // next 257
  EXPECT_EQ(SetvalInStripe(193, true, 1, 64).value, 193);
  EXPECT_EQ(SetvalInStripe(2, true, 3, 64).value, 3);     // below the stripe: starts at 3...
  EXPECT_FALSE(SetvalInStripe(2, true, 3, 64).called);    // ... not yet handed out
  EXPECT_EQ(SetvalInStripe(90, false, 1, 64).value, 129);
  EXPECT_EQ(SetvalInStripe(-100, false, 2, 64).value, 2);
}

TEST(SetvalInStripe, LeavesWhatWouldOverflowToTheNode) {
  const int64_t top = std::numeric_limits<int64_t>::max();
  const StripedSetval s = SetvalInStripe(top - 1, false, 3, 64);
  EXPECT_EQ(s.value, top - 1);
  EXPECT_FALSE(s.called);
}

}  // namespace
}  // namespace mosaic::router

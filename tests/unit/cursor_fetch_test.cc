// router/cursor_fetch: FETCH and MOVE over held rows with PostgreSQL's cursor positions (the
// end-to-end test runs the same cursor script on PostgreSQL and compares).
#include "router/cursor_fetch.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace mosaic::router {
namespace {

using Dir = sql::FetchDirection;

// Rows as a compact string: "3,2,1 @1" (rows returned, then the position).
std::string Moved(int64_t position, int64_t rows, Dir d, int64_t count) {
  const HeldFetch f = FetchHeld(position, rows, d, count);
  std::string out;
  for (int64_t k = 0; k < f.count; ++k) {
    if (k > 0) out += ",";
    out += std::to_string(f.backward ? f.first - k : f.first + k);
  }
  return out + " @" + std::to_string(f.position);
}

TEST(FetchHeld, ForwardAndBackward) {
  EXPECT_EQ(Moved(0, 5, Dir::kForward, 2), "1,2 @2");
  EXPECT_EQ(Moved(2, 5, Dir::kForward, 3), "3,4,5 @5");  // exactly the rest: on the last row
  EXPECT_EQ(Moved(2, 5, Dir::kForward, 4), "3,4,5 @6");  // past it: after the last
  EXPECT_EQ(Moved(0, 5, Dir::kForward, INT64_MAX), "1,2,3,4,5 @6");
  EXPECT_EQ(Moved(6, 5, Dir::kForward, 1), " @6");
  EXPECT_EQ(Moved(6, 5, Dir::kBackward, 2), "5,4 @4");
  EXPECT_EQ(Moved(4, 5, Dir::kBackward, INT64_MAX), "3,2,1 @0");
  EXPECT_EQ(Moved(1, 5, Dir::kBackward, 1), " @0");
  EXPECT_EQ(Moved(3, 5, Dir::kForward, -2), "2,1 @1");  // FETCH -2
  EXPECT_EQ(Moved(0, 0, Dir::kForward, 3), " @1");
}

TEST(FetchHeld, TheCurrentRowAgain) {
  EXPECT_EQ(Moved(3, 5, Dir::kForward, 0), "3 @3");
  EXPECT_EQ(Moved(3, 5, Dir::kRelative, 0), "3 @3");
  EXPECT_EQ(Moved(0, 5, Dir::kForward, 0), " @0");
  EXPECT_EQ(Moved(6, 5, Dir::kBackward, 0), " @6");
  EXPECT_TRUE(FetchHeld(3, 5, Dir::kForward, 0).goes_back);
}

TEST(FetchHeld, AbsoluteAndRelative) {
  EXPECT_EQ(Moved(0, 5, Dir::kAbsolute, 1), "1 @1");    // FIRST
  EXPECT_EQ(Moved(2, 5, Dir::kAbsolute, -1), "5 @5");   // LAST
  EXPECT_EQ(Moved(2, 5, Dir::kAbsolute, -5), "1 @1");
  EXPECT_EQ(Moved(2, 5, Dir::kAbsolute, -6), " @0");
  EXPECT_EQ(Moved(2, 5, Dir::kAbsolute, 9), " @6");
  EXPECT_EQ(Moved(2, 5, Dir::kAbsolute, 0), " @0");
  EXPECT_EQ(Moved(2, 5, Dir::kRelative, 2), "4 @4");
  EXPECT_EQ(Moved(2, 5, Dir::kRelative, 4), " @6");
  EXPECT_EQ(Moved(6, 5, Dir::kRelative, -1), "5 @5");
  EXPECT_EQ(Moved(2, 5, Dir::kRelative, -2), " @0");
  EXPECT_EQ(Moved(2, 5, Dir::kRelative, INT64_MAX), " @6");
  EXPECT_EQ(Moved(2, 5, Dir::kRelative, INT64_MIN + 1), " @0");
}

TEST(FetchHeld, WhatGoesBack) {
  EXPECT_FALSE(FetchHeld(2, 5, Dir::kForward, 3).goes_back);
  EXPECT_FALSE(FetchHeld(2, 5, Dir::kAbsolute, 4).goes_back);
  EXPECT_FALSE(FetchHeld(2, 5, Dir::kRelative, 1).goes_back);
  EXPECT_TRUE(FetchHeld(2, 5, Dir::kAbsolute, 2).goes_back);
  EXPECT_TRUE(FetchHeld(2, 5, Dir::kAbsolute, -1).goes_back);  // LAST: to the end, then back one
  EXPECT_TRUE(FetchHeld(0, 5, Dir::kBackward, 1).goes_back);
  EXPECT_TRUE(FetchHeld(2, 5, Dir::kBackward, 1).goes_back);
  EXPECT_TRUE(FetchHeld(2, 5, Dir::kRelative, -1).goes_back);
}

}  // namespace
}  // namespace mosaic::router

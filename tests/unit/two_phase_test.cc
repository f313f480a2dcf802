#include "frontend/two_phase.h"

#include <gtest/gtest.h>

namespace mosaic::frontend {
namespace {

TEST(FaultInjector, DisarmedByDefault) {
  auto f = FaultInjector::Parse("");
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->armed());
  EXPECT_EQ(f->NextCommit(), 0);
  EXPECT_FALSE(f->Hits(FaultPoint::kDecision, 0));
}

TEST(FaultInjector, HitsOnlyItsPointAtItsCommit) {
  auto f = FaultInjector::Parse("decision:3");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_TRUE(f->armed());
  int hits = 0;
  for (int i = 0; i < 5; ++i) {
    const int64_t n = f->NextCommit();
    EXPECT_EQ(n, i + 1);
    for (FaultPoint p : {FaultPoint::kPrepareSome, FaultPoint::kPrepareAll, FaultPoint::kCommitSome}) {
      EXPECT_FALSE(f->Hits(p, n));
    }
    if (f->Hits(FaultPoint::kDecision, n)) {
      ++hits;
      EXPECT_EQ(n, 3);
    }
  }
  EXPECT_EQ(hits, 1);
  for (const char* spec : {"prepare-some:1", "prepare-all:10", "commit-some:99"}) {
    EXPECT_TRUE(FaultInjector::Parse(spec).ok()) << spec;
  }
}

TEST(FaultInjector, RejectsBadSpecs) {
  for (const char* bad : {"decision", "decision:", "decision:0", "decision:-1", "decision:2x",
                          "later:3", ":3", "prepare-some:1:2"}) {
    auto f = FaultInjector::Parse(bad);
    ASSERT_FALSE(f.ok()) << bad;
    EXPECT_NE(f.status().message().find("--test-fault"), std::string::npos);
  }
}

TEST(InFlightTransactions, AddRemoveContains) {
  InFlightTransactions t;
  EXPECT_FALSE(t.Contains("mosaic_r1_1_1_1"));
  t.Add("mosaic_r1_1_1_1");
  t.Add("mosaic_r1_1_1_2");
  EXPECT_TRUE(t.Contains("mosaic_r1_1_1_1"));
  t.Remove("mosaic_r1_1_1_1");
  EXPECT_FALSE(t.Contains("mosaic_r1_1_1_1"));
  EXPECT_TRUE(t.Contains("mosaic_r1_1_1_2"));
}

}  // namespace
}  // namespace mosaic::frontend

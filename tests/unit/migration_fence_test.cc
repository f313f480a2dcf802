// The migration fence's contract with the data path: entries are counted until left, a closed
// fence admits nobody and drains, a switch makes older maps stale, samples are bounded.
#include <gtest/gtest.h>

#include <thread>

#include "migration/registry.h"

namespace mosaic::migration {
namespace {

using Enter = Fence::Enter;

TEST(MigrationFence, CountsEntriesUntilLeft) {
  Fence f;
  EXPECT_EQ(f.TryEnter(1), Enter::kEntered);
  EXPECT_EQ(f.TryEnter(1), Enter::kEntered);
  EXPECT_EQ(f.inside(), 2);
  f.Leave();
  EXPECT_EQ(f.inside(), 1);
  EXPECT_FALSE(f.WaitDrained(std::chrono::milliseconds(5)));
  f.Leave();
  EXPECT_TRUE(f.WaitDrained(std::chrono::milliseconds(5)));
}

TEST(MigrationFence, ClosedAdmitsNobodyAndWaitsForThoseInside) {
  Fence f;
  ASSERT_EQ(f.TryEnter(3), Enter::kEntered);
  f.Close();
  EXPECT_EQ(f.TryEnter(3), Enter::kClosed);
  EXPECT_EQ(f.inside(), 1);  // the refused entry holds nothing
  std::thread leaver([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    f.Leave();
  });
  EXPECT_TRUE(f.WaitDrained(std::chrono::seconds(5)));
  leaver.join();
  f.Open(0);
  EXPECT_EQ(f.TryEnter(3), Enter::kEntered);
}

TEST(MigrationFence, MapsOlderThanTheSwitchAreStale) {
  Fence f;
  f.Close();
  f.Open(7);
  EXPECT_EQ(f.TryEnter(6), Enter::kStale);
  EXPECT_EQ(f.inside(), 0);
  EXPECT_EQ(f.TryEnter(7), Enter::kEntered);
  f.Leave();
  f.Open(0);  // an open without a switch keeps the last switch version
  EXPECT_EQ(f.TryEnter(6), Enter::kStale);
}

TEST(MigrationFence, SamplesOnlyWhileSamplingAndBounded) {
  Fence f;
  f.Offer({.sql = "SELECT 1", .params = {}, .node = 1});
  EXPECT_TRUE(f.TakeSamples().empty());
  f.SetSampling(true);
  for (size_t i = 0; i < Fence::kMaxSamples + 5; ++i) f.Offer({.sql = "SELECT $1", .params = {"1"}, .node = 2});
  auto samples = f.TakeSamples();
  EXPECT_EQ(samples.size(), Fence::kMaxSamples);
  EXPECT_EQ(f.dropped_samples(), 5);
  EXPECT_EQ(samples[0].node, 2);
  EXPECT_TRUE(f.TakeSamples().empty());
}

TEST(MigrationRegistry, OneFencePerMigration) {
  Registry r;
  auto a = r.Get(1);
  EXPECT_EQ(r.Get(1), a);
  EXPECT_NE(r.Get(2), a);
  r.Forget(1);
  EXPECT_NE(r.Get(1), a);
}

}  // namespace
}  // namespace mosaic::migration

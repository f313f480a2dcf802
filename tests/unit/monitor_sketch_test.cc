#include "monitor/sketch.h"

#include <gtest/gtest.h>

#include <cmath>
#include <atomic>
#include <random>
#include <thread>
#include <string>

#include "monitor/ring.h"

namespace mosaic::monitor {
namespace {

TEST(LatencySketchTest, QuantilesWithinRelativeError) {
  LatencySketch s;
  for (uint32_t v = 1; v <= 10000; ++v) s.Add(v);
  EXPECT_EQ(s.count(), 10000u);
  EXPECT_NEAR(s.Quantile(0.5), 5000, 5000 * LatencySketch::kAlpha * 1.01);
  EXPECT_NEAR(s.Quantile(0.99), 9900, 9900 * LatencySketch::kAlpha * 1.01);
  EXPECT_EQ(LatencySketch().Quantile(0.5), 0);
}

TEST(LatencySketchTest, MergeEqualsOneSketchOfBoth) {
  LatencySketch a, b, both;
  for (uint32_t v = 1; v <= 1000; ++v) {
    (v % 2 ? a : b).Add(v * 7);
    both.Add(v * 7);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), both.count());
  for (double q : {0.1, 0.5, 0.9, 0.99}) EXPECT_DOUBLE_EQ(a.Quantile(q), both.Quantile(q)) << q;
  LatencySketch back = LatencySketch::FromJson(a.ToJson());
  EXPECT_DOUBLE_EQ(back.Quantile(0.9), a.Quantile(0.9));
}

TEST(KeyPositionTest, KeepsOrderOfKeys) {
  EXPECT_LT(KeyPosition("a"), KeyPosition("ab"));
  EXPECT_LT(KeyPosition(std::string("\x80\x00\x00\x00\x00\x00\x00\x01", 8)), KeyPosition(std::string("\x80\x00\x00\x00\x00\x00\x00\x02", 8)));
  EXPECT_EQ(KeyPosition(""), 0u);
}

// 90% of accesses in [900, 1000], 10% spread over [0, 1000], in minute-sized sketches merged.
TEST(KeyHeatTest, HotRangeCoversTheConcentratedKeys) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<uint64_t> hot(900, 1000), all(0, 1000);
  KeyHeat merged;
  for (int minute = 0; minute < 60; ++minute) {
    KeyHeat m;
    for (int i = 0; i < 100; ++i) {
      const uint64_t v = i % 10 == 0 ? all(rng) : hot(rng);
      if (i % 2) {
        m.AddPoint(v, 1);
      } else {
        m.AddRange(v, std::min<uint64_t>(v + 5, 1000), 5);
      }
    }
    merged.Merge(m, KeyHeat::kQueryCentroids);
  }
  auto ranges = merged.HotRanges();
  ASSERT_FALSE(ranges.empty());
  EXPECT_GE(ranges[0].lower, 850u);
  EXPECT_LE(ranges[0].upper, 1005u);
  EXPECT_GT(ranges[0].share, 0.7);
  for (size_t i = 1; i < ranges.size(); ++i) EXPECT_LE(ranges[i].share, ranges[i - 1].share);
  KeyHeat back = KeyHeat::FromJson(merged.ToJson());
  EXPECT_EQ(back.HotRanges()[0].lower, ranges[0].lower);
}

TEST(KeyHeatTest, UniformAccessHasNoHotRange) {
  KeyHeat h;
  for (uint64_t v = 0; v < 1000; ++v) h.AddPoint(v * 1000, 1);
  EXPECT_TRUE(h.HotRanges().empty());
  EXPECT_EQ(h.lowest(), 0u);
  EXPECT_EQ(h.highest(), 999000u);
}

// Range scans of `width` keys at a uniform start in [1, 1000000 - width], a minute's summary
// each, merged as a window query merges them (the skew benchmark's load), with `hot` of them
// starting in [400000, 430000] instead.
KeyHeat RangeScanMinutes(int minutes, double hot, uint64_t width = 20000) {
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<uint64_t> any(1, 1000000 - width), in_hot(400000, 430000);
  std::bernoulli_distribution is_hot(hot);
  KeyHeat merged;
  for (int minute = 0; minute < minutes; ++minute) {
    KeyHeat m;
    for (int i = 0; i < 1500; ++i) {
      const uint64_t lo = is_hot(rng) ? in_hot(rng) : any(rng);
      m.AddRange(lo, lo + width, static_cast<double>(width));
    }
    merged.Merge(m, KeyHeat::kQueryCentroids);
  }
  return merged;
}

// Regression (skew benchmark): merged minute summaries of a uniform load put their centroids at
// about the same 16 positions, and the bins that caught those clusters were reported hot (shares
// 0.048-0.055 of 32 bins), which the advisor then took for all of the column's load.
TEST(KeyHeatTest, UniformRangeScansMergedOverMinutesHaveNoHotRange) {
  for (int minutes : {1, 3, 10, 60}) {
    const KeyHeat merged = RangeScanMinutes(minutes, 0);
    const auto ranges = merged.HotRanges();
    EXPECT_TRUE(ranges.empty()) << minutes << " minutes: [" << ranges[0].lower << ", " << ranges[0].upper
                                << "] share " << ranges[0].share;
    EXPECT_TRUE(KeyHeat::FromJson(merged.ToJson()).HotRanges().empty());
  }
}

TEST(KeyHeatTest, HotRangeAmongUniformRangeScansIsFound) {
  const KeyHeat merged = RangeScanMinutes(10, 0.5);
  const auto ranges = merged.HotRanges();
  ASSERT_FALSE(ranges.empty());
  EXPECT_GE(ranges[0].lower, 370000u);
  EXPECT_LE(ranges[0].upper, 480000u);
  EXPECT_GT(ranges[0].share, 0.4);  // true: 0.5 plus the uniform half's 5%
  EXPECT_LT(ranges[0].share, 0.7);
}

TEST(KeyHeatTest, KeepsTheMeanRangeWidthAndReadsOldCheckpoints) {
  const KeyHeat merged = RangeScanMinutes(3, 0, 5000);
  EXPECT_DOUBLE_EQ(merged.MeanRangeWidth(), 5000);
  EXPECT_DOUBLE_EQ(KeyHeat::FromJson(merged.ToJson()).MeanRangeWidth(), 5000);
  KeyHeat points;
  points.AddPoint(7, 1);
  EXPECT_EQ(points.MeanRangeWidth(), 0);
  // A checkpoint from before extents and widths: centroids [pos, stmts, rows], one key each.
  const KeyHeat old = KeyHeat::FromJson(nlohmann::json::parse(R"({"min": 10, "max": 1000, "c": [[10, 1, 1], [500, 8, 8], [1000, 1, 1]]})"));
  EXPECT_NEAR(old.total(), 10, 1e-9);
  const auto ranges = old.HotRanges();
  ASSERT_FALSE(ranges.empty());
  EXPECT_LE(ranges[0].lower, 500u);
  EXPECT_GE(ranges[0].upper, 500u);
  EXPECT_NEAR(ranges[0].share, 0.8, 1e-6);
}

TEST(KeyHeatTest, SmallDomainsGetOneBinPerKey) {
  KeyHeat h;
  for (int i = 0; i < 90; ++i) h.AddPoint(3, 1);
  for (uint64_t v = 1; v <= 5; ++v) h.AddPoint(v, 1);
  auto ranges = h.HotRanges();
  ASSERT_FALSE(ranges.empty());
  EXPECT_LE(ranges[0].lower, 3u);
  EXPECT_GE(ranges[0].upper, 3u);
  EXPECT_LE(ranges[0].upper - ranges[0].lower, 2u);
  for (const auto& r : ranges) EXPECT_LE(r.lower, r.upper);
  EXPECT_GT(ranges[0].share, 0.8);
}

TEST(KeyHeatTest, StaysBounded) {
  KeyHeat h;
  for (uint64_t v = 0; v < 100000; ++v) h.AddPoint(v * 7919 % 100003, 1);
  EXPECT_LE(h.MemoryBytes(), 2 * KeyHeat::kMinuteCentroids * 16 + 64 * 16);
  EXPECT_NEAR(h.total(), 100000, 1);
}

TEST(TopValuesTest, FindsTheHeaviestValuesOfAZipfStream) {
  std::mt19937_64 rng(3);
  std::vector<double> weights;
  for (int k = 1; k <= 1000; ++k) weights.push_back(1.0 / std::pow(k, 1.2));
  std::discrete_distribution<int> zipf(weights.begin(), weights.end());
  TopValues merged;
  for (int minute = 0; minute < 30; ++minute) {
    TopValues m;
    for (int i = 0; i < 200; ++i) m.Add(std::to_string(zipf(rng) + 1));
    merged.Merge(m, TopValues::kQueryCapacity);
  }
  auto top = merged.Top(3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].value, "1");
  EXPECT_EQ(merged.total(), 6000u);
  EXPECT_GT(static_cast<double>(top[0].count) / 6000, 0.15);
  TopValues back = TopValues::FromJson(merged.ToJson());
  EXPECT_EQ(back.Top(1)[0].value, "1");
}

TEST(SpscRingTest, DropsWhenFullAndKeepsOrder) {
  SpscRing<int> ring(4);
  for (int i = 0; i < 4; ++i) {
    int* slot = ring.Claim();
    ASSERT_NE(slot, nullptr);
    *slot = i;
    ring.Publish();
  }
  EXPECT_EQ(ring.Claim(), nullptr);
  std::vector<int> seen;
  EXPECT_EQ(ring.Drain([&](const int& v) { seen.push_back(v); }), 4u);
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_NE(ring.Claim(), nullptr);
}

TEST(SpscRingTest, ProducerAndConsumerThreads) {
  SpscRing<uint64_t> ring(64);
  constexpr uint64_t kCount = 200000;
  std::atomic<uint64_t> produced{0};
  uint64_t dropped = 0;
  std::atomic<bool> done{false};
  std::thread producer([&] {
    for (uint64_t i = 0; i < kCount; ++i) {
      if (uint64_t* slot = ring.Claim()) {
        *slot = i;
        ring.Publish();
        produced.fetch_add(1);
      } else {
        ++dropped;
      }
    }
    done = true;
  });
  uint64_t consumed = 0, last = 0;
  bool ordered = true;
  auto drain = [&] {
    ring.Drain([&](const uint64_t& v) {
      ordered = ordered && (consumed == 0 || v > last);
      last = v;
      ++consumed;
    });
  };
  while (!done) drain();
  producer.join();
  drain();
  EXPECT_TRUE(ordered);
  EXPECT_EQ(consumed, produced);
  EXPECT_EQ(produced + dropped, kCount);
}

}  // namespace
}  // namespace mosaic::monitor

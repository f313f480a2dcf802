#include "advisor/partition.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <random>

namespace mosaic::advisor {
namespace {

struct Brute {
  double best = std::numeric_limits<double>::infinity();
  bool any = false;
};

// Every partition of segments into at most max_parts parts within the limits.
Brute BruteForce(const std::vector<Segment>& s, const PartitionLimits& limits) {
  Brute out;
  const size_t n = s.size(), gaps = n - 1;
  for (uint32_t mask = 0; mask < (1u << gaps); ++mask) {
    if (__builtin_popcount(mask) + 1 > limits.max_parts) continue;
    double worst = 0, load = 0, bytes = 0, rows = 0;
    bool ok = true;
    for (size_t i = 0; i <= n; ++i) {
      if (i == n || (i > 0 && (mask >> (i - 1)) & 1)) {
        worst = std::max(worst, load);
        if ((limits.max_bytes > 0 && bytes > limits.max_bytes) || (limits.max_rows > 0 && rows > limits.max_rows)) ok = false;
        load = bytes = rows = 0;
      }
      if (i < n) {
        load += s[i].load;
        bytes += s[i].bytes;
        rows += s[i].rows;
      }
    }
    if (ok) {
      out.any = true;
      out.best = std::min(out.best, worst);
    }
  }
  return out;
}

void ExpectValid(const std::vector<Segment>& s, const PartitionLimits& limits, const Partition& p) {
  ASSERT_LE(p.parts(), static_cast<size_t>(limits.max_parts));
  EXPECT_TRUE(std::is_sorted(p.cuts.begin(), p.cuts.end()));
  for (size_t c : p.cuts) {
    EXPECT_GT(c, 0u);
    EXPECT_LT(c, s.size());
  }
  EXPECT_EQ(std::adjacent_find(p.cuts.begin(), p.cuts.end()), p.cuts.end());
  EXPECT_DOUBLE_EQ(p.max_load, MaxPartLoad(s, p.cuts));
}

TEST(OptimalPartition, MatchesBruteForceOnRandomInputs) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 3000; ++round) {
    const size_t n = 1 + rng() % 11;
    std::vector<Segment> s(n);
    for (auto& seg : s) {
      // Some zero loads and a skewed tail, as heat histograms have.
      seg.load = rng() % 4 == 0 ? 0.0 : std::exponential_distribution<double>(1.0)(rng);
      seg.bytes = static_cast<double>(rng() % 100);
      seg.rows = static_cast<double>(rng() % 50);
    }
    PartitionLimits limits;
    limits.max_parts = 1 + static_cast<int>(rng() % 5);
    if (rng() % 3 == 0) limits.max_bytes = 60 + rng() % 200;
    if (rng() % 4 == 0) limits.max_rows = 30 + rng() % 100;
    const Brute brute = BruteForce(s, limits);
    const Partition p = OptimalPartition(s, limits);
    ExpectValid(s, limits, p);
    ASSERT_EQ(p.limits_met, brute.any) << "round " << round;
    if (brute.any) {
      EXPECT_NEAR(p.max_load, brute.best, 1e-9 * std::max(1.0, brute.best)) << "round " << round;
    } else {
      PartitionLimits loose = limits;
      loose.max_bytes = loose.max_rows = 0;
      EXPECT_NEAR(p.max_load, BruteForce(s, loose).best, 1e-9) << "round " << round;
    }
  }
}

TEST(OptimalPartition, UsesTheFewestPartsForTheOptimum) {
  // One hot segment carries most load: more parts cannot beat it, so no more are made.
  std::vector<Segment> s = {{1, 0, 0}, {1, 0, 0}, {10, 0, 0}, {1, 0, 0}, {1, 0, 0}};
  Partition p = OptimalPartition(s, {.max_parts = 5});
  EXPECT_DOUBLE_EQ(p.max_load, 10);
  EXPECT_EQ(p.parts(), 3u);
  EXPECT_EQ(p.cuts, (std::vector<size_t>{2, 3}));
}

TEST(OptimalPartition, EvenLoadsSplitEvenly) {
  std::vector<Segment> s(8, Segment{1, 1, 1});
  Partition p = OptimalPartition(s, {.max_parts = 4});
  EXPECT_DOUBLE_EQ(p.max_load, 2);
  EXPECT_EQ(p.cuts, (std::vector<size_t>{2, 4, 6}));
}

TEST(OptimalPartition, OnePartAndEmptyInput) {
  std::vector<Segment> s = {{3, 0, 0}, {4, 0, 0}};
  Partition p = OptimalPartition(s, {.max_parts = 1});
  EXPECT_TRUE(p.cuts.empty());
  EXPECT_DOUBLE_EQ(p.max_load, 7);
  Partition empty = OptimalPartition({}, {.max_parts = 4});
  EXPECT_TRUE(empty.cuts.empty());
  EXPECT_DOUBLE_EQ(empty.max_load, 0);
}

TEST(OptimalPartition, SizeLimitForcesMoreParts) {
  // No load at all, but 4 segments of 10 bytes with at most 20 bytes a part: two parts.
  std::vector<Segment> s(4, Segment{0, 10, 0});
  Partition p = OptimalPartition(s, {.max_parts = 4, .max_bytes = 20});
  EXPECT_TRUE(p.limits_met);
  EXPECT_EQ(p.parts(), 2u);
  Partition over = OptimalPartition(s, {.max_parts = 1, .max_bytes = 20});
  EXPECT_FALSE(over.limits_met);
  EXPECT_EQ(over.parts(), 1u);
}

TEST(PartitionWithin, FewestPartsUnderTheBound) {
  std::vector<Segment> s(8, Segment{1, 1, 1});
  // A loose bound: two parts of four, not the eight the part count would allow.
  Partition p = PartitionWithin(s, 4, {.max_parts = 8});
  EXPECT_EQ(p.cuts, (std::vector<size_t>{4}));
  EXPECT_DOUBLE_EQ(p.max_load, 4);
  // The size limit still applies under a loose bound.
  Partition sized = PartitionWithin(s, 8, {.max_parts = 8, .max_bytes = 3});
  EXPECT_EQ(sized.cuts, (std::vector<size_t>{3, 6}));
  // A bound below the optimum for the part count falls back to the optimum.
  Partition tight = PartitionWithin(s, 1, {.max_parts = 2});
  EXPECT_EQ(tight.cuts, (std::vector<size_t>{4}));
  EXPECT_DOUBLE_EQ(tight.max_load, 4);
}

TEST(OptimalPartition, Deterministic) {
  std::mt19937 rng(7);
  std::vector<Segment> s(500);
  for (auto& seg : s) seg = {std::uniform_real_distribution<double>(0, 1)(rng), 1, 1};
  Partition a = OptimalPartition(s, {.max_parts = 16});
  Partition b = OptimalPartition(s, {.max_parts = 16});
  EXPECT_EQ(a.cuts, b.cuts);
  EXPECT_EQ(a.max_load, b.max_load);
}

// Every partition into at most max_parts parts within the limits, each part on its own usable
// node (every injective assignment): the lowest max relative node load.
Brute BruteForceOnNodes(const std::vector<Segment>& s, const std::vector<NodeRoom>& nodes, const PartitionLimits& limits) {
  Brute out;
  double floor = 0;
  for (const auto& n : nodes) floor = std::max(floor, n.load / n.capacity);
  const size_t n = s.size(), gaps = n - 1;
  for (uint32_t mask = 0; mask < (1u << gaps); ++mask) {
    if (__builtin_popcount(mask) + 1 > limits.max_parts) continue;
    std::vector<double> parts;
    double load = 0, bytes = 0, rows = 0;
    bool ok = true;
    for (size_t i = 0; i <= n; ++i) {
      if (i == n || (i > 0 && (mask >> (i - 1)) & 1)) {
        parts.push_back(load);
        if ((limits.max_bytes > 0 && bytes > limits.max_bytes) || (limits.max_rows > 0 && rows > limits.max_rows)) ok = false;
        load = bytes = rows = 0;
      }
      if (i < n) load += s[i].load, bytes += s[i].bytes, rows += s[i].rows;
    }
    if (!ok || parts.size() > nodes.size()) continue;
    std::vector<size_t> perm(nodes.size());
    std::iota(perm.begin(), perm.end(), 0);
    do {
      double worst = floor;
      bool usable = true;
      for (size_t p = 0; p < parts.size(); ++p) {
        const NodeRoom& r = nodes[perm[p]];
        usable = usable && r.usable;
        worst = std::max(worst, (r.load + parts[p]) / r.capacity);
      }
      if (usable) out.any = true, out.best = std::min(out.best, worst);
    } while (std::next_permutation(perm.begin(), perm.end()));
  }
  return out;
}

TEST(PartitionOnNodes, MatchesBruteForceOnRandomInputs) {
  std::mt19937 rng(777);
  for (int round = 0; round < 600; ++round) {
    const size_t n = 1 + rng() % 8;
    std::vector<Segment> s(n);
    for (auto& seg : s) seg = {static_cast<double>(rng() % 100) / 10, static_cast<double>(rng() % 10), 1};
    std::vector<NodeRoom> nodes(1 + rng() % 4);
    for (size_t i = 0; i < nodes.size(); ++i) {
      nodes[i] = {static_cast<int>(i) + 1, static_cast<double>(rng() % 50) / 10, 1.0 + rng() % 3, rng() % 5 != 0};
    }
    PartitionLimits limits{1 + static_cast<int>(rng() % 4), rng() % 3 == 0 ? 12.0 : 0.0, 0};
    const Brute brute = BruteForceOnNodes(s, nodes, limits);
    const NodePartition got = PartitionOnNodes(s, nodes, limits);
    SCOPED_TRACE(round);
    ASSERT_EQ(got.found, brute.any);
    if (!got.found) continue;
    EXPECT_NEAR(got.imbalance, brute.best, 1e-6 * std::max(1.0, brute.best));
    ASSERT_EQ(got.nodes.size(), got.cuts.size() + 1);
    ASSERT_LE(got.nodes.size(), static_cast<size_t>(limits.max_parts));
    EXPECT_TRUE(std::is_sorted(got.cuts.begin(), got.cuts.end()));
    // The reported imbalance is the partition's own.
    std::vector<double> load(nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i) load[i] = nodes[i].load;
    size_t from = 0;
    for (size_t p = 0; p < got.nodes.size(); ++p) {
      const size_t to = p < got.cuts.size() ? got.cuts[p] : n;
      ASSERT_LT(from, to);
      const auto it = std::find_if(nodes.begin(), nodes.end(), [&](const NodeRoom& r) { return r.id == got.nodes[p]; });
      ASSERT_NE(it, nodes.end());
      EXPECT_TRUE(it->usable);
      for (size_t i = from; i < to; ++i) load[static_cast<size_t>(it - nodes.begin())] += s[i].load;
      from = to;
    }
    double worst = 0;
    for (size_t i = 0; i < nodes.size(); ++i) worst = std::max(worst, load[i] / nodes[i].capacity);
    EXPECT_NEAR(worst, got.imbalance, 1e-9 * std::max(1.0, worst));
  }
}

// A busy node gets the lighter part: 2 equal halves would put 5 + 5 on the busy node.
TEST(PartitionOnNodes, GivesTheBusyNodeLess) {
  const std::vector<Segment> s(10, Segment{1, 0, 0});
  const std::vector<NodeRoom> nodes = {{1, 4, 1, true}, {2, 0, 1, true}};
  const NodePartition p = PartitionOnNodes(s, nodes, {2, 0, 0});
  ASSERT_TRUE(p.found);
  EXPECT_NEAR(p.imbalance, 7, 1e-6);
  EXPECT_EQ(p.cuts, (std::vector<size_t>{7}));  // 7 segments on node 2, 3 on node 1 (4 + 3)
  EXPECT_EQ(p.nodes, (std::vector<int>{2, 1}));
}

}  // namespace
}  // namespace mosaic::advisor

// The advisor against the quality benchmark's yardsticks (bench/advisor_quality.h) on small
// instances of its generator: within 5% of the exact optimum for the same number of ranges and
// below static tenant-hash placement, on the column the workload prefers.
#include <gtest/gtest.h>

#include "../../bench/advisor_quality.h"

namespace mosaic::advisor::quality {
namespace {

FamilySpec Small(Shape shape, uint32_t seed) {
  FamilySpec s;
  s.shape = shape;
  s.seed = seed;
  s.background_tenants = 40;
  s.keys = 5000;
  s.hot_keys = 8;
  s.coarse_buckets = 8;
  s.quantiles = 8;
  return s;
}

TEST(AdvisorQuality, GeneratorIsDeterministic) {
  const Family a = Generate(Small(Shape::kCustomers, 3)), b = Generate(Small(Shape::kCustomers, 3));
  EXPECT_EQ(a.grid, b.grid);
  EXPECT_EQ(a.segment_load, b.segment_load);
  ASSERT_EQ(a.input.workload.heat.size(), b.input.workload.heat.size());
  EXPECT_EQ(a.input.workload.heat.back().buckets.size(), b.input.workload.heat.back().buckets.size());
  const Family c = Generate(Small(Shape::kCustomers, 4));
  EXPECT_NE(a.segment_load, c.segment_load);
}

// The reference's arithmetic and the engine's what-if agree on a layout (else the optimum would
// be measured in another model than the advisor).
TEST(AdvisorQuality, ReferenceAgreesWithWhatIf) {
  for (Shape shape : {Shape::kCustomers, Shape::kDates}) {
    const Family f = Generate(Small(shape, 5));
    const Reference ref = ExactOptimum(f, 3);
    ASSERT_EQ(ref.nodes.size(), ref.cuts.size() + 1);
    const double what_if = EvaluateLayouts(f.map, f.background, f.input, {MakeLayout(f, ref.cuts, ref.nodes)}).imbalance;
    EXPECT_NEAR(ref.imbalance, what_if, 1e-9 * what_if);
  }
}

// More ranges never make the optimum worse; one range is the tenant whole on the best node.
TEST(AdvisorQuality, OptimumIsMonotoneInRanges) {
  const Family f = Generate(Small(Shape::kCustomers, 6));
  double prev = ExactOptimum(f, 1).imbalance;
  for (int r = 2; r <= 4; ++r) {
    const double cur = ExactOptimum(f, r).imbalance;
    EXPECT_LE(cur, prev + 1e-12) << r;
    prev = cur;
  }
}

// Without background load every node starts even: the engine's split-point optimum is then the
// node optimum, and its plan must be within 5% of the exact reference, on the column the
// workload prefers, far below tenant-hash placement.
TEST(AdvisorQuality, AdvisorNearOptimumAndBelowHash) {
  for (Shape shape : {Shape::kCustomers, Shape::kDates}) {
    for (uint32_t seed : {1u, 2u}) {
      FamilySpec spec = Small(shape, seed);
      spec.background_share = 0;
      const Result r = Measure(Generate(spec));
      SCOPED_TRACE(::testing::Message() << "shape " << static_cast<int>(shape) << " seed " << seed << ": " << r.summary);
      EXPECT_TRUE(r.column_ok);
      EXPECT_NEAR(r.advisor_imbalance, r.advisor_predicted, 1e-9);
      EXPECT_GT(r.advisor_ranges, 1);
      EXPECT_LE(r.advisor_imbalance, 1.05 * r.optimum_imbalance);
      EXPECT_LT(r.advisor_imbalance, 0.5 * r.hash_imbalance);
    }
  }
}

// With uneven background (small tenants on their hash nodes) and unequal capacities the plan is
// within 5% of the exact optimum for its number of ranges (the acceptance): the split points
// are cut against the nodes' room, so the heaviest range is no longer the lightest possible one;
// and it beats tenant-hash, on the column the workload prefers.
TEST(AdvisorQuality, AdvisorNearOptimumUnderBackground) {
  for (Shape shape : {Shape::kCustomers, Shape::kDates}) {
    for (uint32_t seed : {3u, 4u}) {
      FamilySpec spec = Small(shape, seed);
      spec.capacities = {2, 1, 1, 1};
      const Result r = Measure(Generate(spec));
      SCOPED_TRACE(::testing::Message() << "shape " << static_cast<int>(shape) << " seed " << seed << ": " << r.summary);
      EXPECT_TRUE(r.column_ok);
      EXPECT_NEAR(r.advisor_imbalance, r.advisor_predicted, 1e-9);
      EXPECT_GE(r.advisor_max_range, r.optimum_max_range - 1e-9);
      EXPECT_LE(r.advisor_imbalance, 1.05 * r.optimum_imbalance);
      EXPECT_LT(r.advisor_imbalance, r.hash_imbalance);
    }
  }
}

// A plan cut against the nodes' room is stable: once applied, planning again gives no action (its
// ranges are uneven on purpose; the kept-boundaries path must not re-split or merge them).
TEST(AdvisorQuality, RoomAwarePlanIsStableOnceApplied) {
  for (Shape shape : {Shape::kCustomers, Shape::kDates}) {
    FamilySpec spec = Small(shape, 3);
    spec.capacities = {2, 1, 1, 1};
    Family f = Generate(spec);
    const Plan first = PlanTenant(f.map, f.background, f.input, f.profile);
    ASSERT_FALSE(first.actions.empty()) << first.summary;
    int64_t id = 100;
    for (catalog::Layout l : first.layouts) {
      l.id = ++id;
      f.map.layouts.push_back(l);
    }
    f.map.BuildIndex();
    const Plan second = PlanTenant(f.map, f.background, f.input, f.profile);
    EXPECT_TRUE(second.actions.empty()) << static_cast<int>(shape) << ": " << second.summary;
    EXPECT_NEAR(second.current.imbalance, first.predicted.imbalance, 1e-9);
  }
}

}  // namespace
}  // namespace mosaic::advisor::quality

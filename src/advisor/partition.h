// The one-dimensional contiguous partition at the heart of the advisor's split-point choice:
// cut a sequence of key segments into at most K consecutive parts so that the heaviest part is
// as light as possible, while every part stays within the size limits.
//
// Exact: binary search on the answer over a greedy feasibility test (for a bound L, extending each
// part as far as it stays within L and the limits uses the fewest parts; a bound is feasible iff
// that count is <= K). Pure, deterministic, no allocation beyond the result and prefix sums.
#pragma once

#include <span>
#include <vector>

namespace mosaic::advisor {

struct Segment {
  double load = 0;   // >= 0
  double bytes = 0;  // >= 0
  double rows = 0;   // >= 0
};

struct PartitionLimits {
  int max_parts = 1;      // >= 1
  double max_bytes = 0;   // per part; 0 = no limit
  double max_rows = 0;    // per part; 0 = no limit
};

struct Partition {
  // Indexes of the segments that start a part, after the first (which starts at 0); ascending.
  // Part p covers segments [starts[p-1], starts[p]) with starts[-1] = 0 and starts[P-1] = end.
  std::vector<size_t> cuts;
  double max_load = 0;    // the heaviest part's load
  // False if no partition into max_parts parts meets the size limits (a single segment over a
  // limit, or too many parts needed): the partition returned then ignores the size limits.
  bool limits_met = true;

  size_t parts() const { return cuts.size() + 1; }
};

// Minimises the heaviest part's load over all partitions of `segments` into at most
// limits.max_parts contiguous non-empty parts within the size limits; among optimal
// partitions, returns the one with the fewest parts whose cuts are leftmost-furthest (each part
// as long as the optimum allows). The optimum is exact up to floating-point rounding
// (relative 1e-12). An empty `segments` gives one (empty) part.
Partition OptimalPartition(std::span<const Segment> segments, const PartitionLimits& limits);

// The fewest parts, each at most `bound` and within the size limits (each part as long as they
// allow). If that takes more than limits.max_parts parts, or bound is below the optimum, returns
// OptimalPartition(segments, limits) instead.
Partition PartitionWithin(std::span<const Segment> segments, double bound, const PartitionLimits& limits);

// The heaviest part's load of a given partition (cuts as in Partition::cuts).
double MaxPartLoad(std::span<const Segment> segments, const std::vector<size_t>& cuts);

}  // namespace mosaic::advisor

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

// A node a part may go to: the load it carries already and its share of the cluster's capacity.
struct NodeRoom {
  int id = 0;
  double load = 0;      // >= 0, what the node carries without the parts
  double capacity = 0;  // > 0, its share of the cluster's capacity
  bool usable = true;   // false: takes no part (its load still counts in the imbalance)
};

struct NodePartition {
  bool found = false;        // false: no partition meets the size limits on these nodes
  std::vector<size_t> cuts;  // as Partition::cuts
  std::vector<int> nodes;    // per part, the NodeRoom id it goes to
  double imbalance = 0;      // max over all nodes of (load + its parts) / capacity
};

// At most this many usable nodes take part in PartitionOnNodes (it is exponential in them): those
// least loaded for their capacity, ties by id.
inline constexpr size_t kMaxRoomNodes = 12;

// Cuts `segments` into at most limits.max_parts contiguous parts within the size limits and puts
// each on its own usable node, minimising the highest relative node load
// max_n (load_n + its part) / capacity_n over all nodes: the split points are chosen against the
// nodes' room, so a busy or small node gets a lighter part. Exact for that model (one part per
// node, among the kMaxRoomNodes nodes considered): binary search on the answer λ (relative 1e-9)
// over a dynamic program on sets of nodes, where node n takes a part of load at most
// λ·capacity_n − load_n and the furthest segment a set of nodes can reach (each taking one
// contiguous part, in some order) is kept per set: a part starting further can only end further.
// Among optimal ones returns the fewest parts (ties: the lowest set of nodes by position in
// `nodes`, parts as long as they may be from the left). Pure and deterministic.
NodePartition PartitionOnNodes(std::span<const Segment> segments, const std::vector<NodeRoom>& nodes,
                               const PartitionLimits& limits);

// The heaviest part's load of a given partition (cuts as in Partition::cuts).
double MaxPartLoad(std::span<const Segment> segments, const std::vector<size_t>& cuts);

}  // namespace mosaic::advisor

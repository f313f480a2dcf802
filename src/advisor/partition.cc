// Exact min-max contiguous partition by binary search on the answer.
#include "advisor/partition.h"

#include <algorithm>
#include <bit>
#include <cstddef>

namespace mosaic::advisor {
namespace {

// Prefix sums of one segment field: sum[i] = field of segments [0, i).
struct Prefix {
  std::vector<double> load, bytes, rows;

  explicit Prefix(std::span<const Segment> s) : load(s.size() + 1), bytes(s.size() + 1), rows(s.size() + 1) {
    for (size_t i = 0; i < s.size(); ++i) {
      load[i + 1] = load[i] + s[i].load;
      bytes[i + 1] = bytes[i] + s[i].bytes;
      rows[i + 1] = rows[i] + s[i].rows;
    }
  }
};

// The largest j in (i, n] with sum[j] - sum[i] <= limit (differences are monotone in j because
// the sums never decrease); i if even one segment is over the limit.
size_t Furthest(const std::vector<double>& sum, size_t i, double limit) {
  const size_t n = sum.size() - 1;
  size_t lo = i, hi = n;  // sum[lo] - sum[i] <= limit holds for lo
  while (lo < hi) {
    const size_t mid = lo + (hi - lo + 1) / 2;
    if (sum[mid] - sum[i] <= limit) lo = mid; else hi = mid - 1;
  }
  return lo;
}

// Greedy: each part as long as the bound and the limits allow. Returns false if some part
// cannot take even one segment or more than max_parts parts are needed.
bool Greedy(const Prefix& p, double bound, const PartitionLimits& limits, bool with_sizes,
            std::vector<size_t>* cuts) {
  const size_t n = p.load.size() - 1;
  cuts->clear();
  size_t i = 0;
  while (i < n) {
    size_t j = Furthest(p.load, i, bound);
    if (with_sizes) {
      if (limits.max_bytes > 0) j = std::min(j, Furthest(p.bytes, i, limits.max_bytes));
      if (limits.max_rows > 0) j = std::min(j, Furthest(p.rows, i, limits.max_rows));
    }
    if (j == i) return false;
    if (j < n) {
      if (static_cast<int>(cuts->size()) + 1 >= limits.max_parts) return false;
      cuts->push_back(j);
    }
    i = j;
  }
  return true;
}

Partition Solve(std::span<const Segment> segments, const PartitionLimits& limits, bool with_sizes) {
  Prefix p(segments);
  Partition out;
  std::vector<size_t> cuts;
  if (!Greedy(p, p.load.back(), limits, with_sizes, &cuts)) {
    out.limits_met = false;
    return out;
  }
  // Invariant: a bound of hi is feasible, a bound of lo is not.
  double hi = p.load.back(), lo = 0;
  if (Greedy(p, 0, limits, with_sizes, &cuts)) hi = 0;
  for (int iter = 0; iter < 200 && hi - lo > 1e-12 * hi; ++iter) {
    const double mid = lo + (hi - lo) / 2;
    if (Greedy(p, mid, limits, with_sizes, &cuts)) hi = mid; else lo = mid;
  }
  Greedy(p, hi, limits, with_sizes, &out.cuts);
  out.max_load = MaxPartLoad(segments, out.cuts);
  return out;
}

// The dynamic program of PartitionOnNodes for one bound: reach[set] is the furthest segment the
// nodes of `set` cover, each with one contiguous part, from segment 0; via[set] the node that took
// the last part (-1: unreachable).
struct RoomSearch {
  const Prefix& p;
  const std::vector<NodeRoom>& nodes;  // the usable ones considered
  const PartitionLimits& limits;
  std::vector<size_t> reach;
  std::vector<int> via;

  // The fewest-parts set reaching the end under bound `lambda`, or -1.
  long Run(double lambda) {
    const size_t n = p.load.size() - 1, k = nodes.size();
    reach.assign(size_t{1} << k, 0);
    via.assign(size_t{1} << k, -1);
    via[0] = static_cast<int>(k);  // the empty set reaches segment 0
    long best = -1;
    int best_count = limits.max_parts + 1;
    for (size_t set = 0; set < reach.size(); ++set) {
      if (via[set] < 0) continue;
      const int count = std::popcount(set);
      if (reach[set] == n) {
        if (count < best_count) best = static_cast<long>(set), best_count = count;
        continue;
      }
      if (count >= limits.max_parts || count + 1 >= best_count) continue;
      for (size_t i = 0; i < k; ++i) {
        const size_t bit = size_t{1} << i;
        if ((set & bit) != 0) continue;
        const double room = lambda * nodes[i].capacity - nodes[i].load;
        if (room < 0) continue;
        size_t j = Furthest(p.load, reach[set], room);
        if (limits.max_bytes > 0) j = std::min(j, Furthest(p.bytes, reach[set], limits.max_bytes));
        if (limits.max_rows > 0) j = std::min(j, Furthest(p.rows, reach[set], limits.max_rows));
        if (j > reach[set] && (via[set | bit] < 0 || j > reach[set | bit])) {
          reach[set | bit] = j;
          via[set | bit] = static_cast<int>(i);
        }
      }
    }
    return best;
  }
};

}  // namespace

NodePartition PartitionOnNodes(std::span<const Segment> segments, const std::vector<NodeRoom>& nodes,
                               const PartitionLimits& limits) {
  NodePartition out;
  double floor = 0, total = 0;
  for (const Segment& s : segments) total += s.load;
  std::vector<NodeRoom> usable;
  for (const NodeRoom& n : nodes) {
    if (n.capacity <= 0) continue;
    floor = std::max(floor, n.load / n.capacity);
    if (n.usable) usable.push_back(n);
  }
  std::stable_sort(usable.begin(), usable.end(), [](const NodeRoom& a, const NodeRoom& b) {
    return a.load / a.capacity < b.load / b.capacity || (a.load / a.capacity == b.load / b.capacity && a.id < b.id);
  });
  if (usable.size() > kMaxRoomNodes) usable.resize(kMaxRoomNodes);
  if (usable.empty() || segments.empty()) return out;
  const Prefix p(segments);
  RoomSearch search{p, usable, limits, {}, {}};
  // Any node can take everything under hi (only the size limits may fail).
  double hi = floor;
  for (const NodeRoom& n : usable) hi = std::max(hi, (n.load + total) / n.capacity);
  hi *= 1 + 1e-9;  // room for rounding: λ·capacity − load may come out just below the total
  if (search.Run(hi) < 0) return out;
  double lo = floor;
  if (search.Run(lo) >= 0) {
    hi = lo;
  } else {
    for (int iter = 0; iter < 200 && hi - lo > 1e-9 * hi; ++iter) {
      const double mid = lo + (hi - lo) / 2;
      if (search.Run(mid) >= 0) hi = mid; else lo = mid;
    }
  }
  long set = search.Run(hi);
  std::vector<int> order;  // nodes of the parts, last first
  std::vector<size_t> ends;
  while (set > 0) {
    const int i = search.via[static_cast<size_t>(set)];
    order.push_back(usable[static_cast<size_t>(i)].id);
    ends.push_back(search.reach[static_cast<size_t>(set)]);
    set &= ~(long{1} << i);
  }
  // Parts in key order: the ends (but the last) are the cuts.
  for (size_t k = ends.size(); k-- > 1;) out.cuts.push_back(ends[k]);
  out.nodes.assign(order.rbegin(), order.rend());
  out.found = true;
  out.imbalance = floor;
  for (size_t part = 0; part < out.nodes.size(); ++part) {
    const size_t a = part == 0 ? 0 : out.cuts[part - 1], b = part < out.cuts.size() ? out.cuts[part] : segments.size();
    const auto n = std::find_if(usable.begin(), usable.end(), [&](const NodeRoom& r) { return r.id == out.nodes[part]; });
    out.imbalance = std::max(out.imbalance, (n->load + p.load[b] - p.load[a]) / n->capacity);
  }
  return out;
}

double MaxPartLoad(std::span<const Segment> segments, const std::vector<size_t>& cuts) {
  double best = 0, part = 0;
  size_t next = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (next < cuts.size() && cuts[next] == i) {
      best = std::max(best, part);
      part = 0;
      ++next;
    }
    part += segments[i].load;
  }
  return std::max(best, part);
}

Partition PartitionWithin(std::span<const Segment> segments, double bound, const PartitionLimits& limits) {
  Prefix p(segments);
  Partition out;
  if (!Greedy(p, bound, limits, true, &out.cuts)) return OptimalPartition(segments, limits);
  out.max_load = MaxPartLoad(segments, out.cuts);
  return out;
}

Partition OptimalPartition(std::span<const Segment> segments, const PartitionLimits& limits) {
  Partition out = Solve(segments, limits, true);
  if (out.limits_met) return out;
  out = Solve(segments, limits, false);
  out.limits_met = false;
  return out;
}

}  // namespace mosaic::advisor

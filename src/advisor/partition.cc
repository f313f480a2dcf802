// Exact min-max contiguous partition by binary search on the answer.
#include "advisor/partition.h"

#include <algorithm>
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

}  // namespace

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

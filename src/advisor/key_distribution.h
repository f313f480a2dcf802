// KeyDistribution: how a weight (query heat, rows, bytes) is spread over the encoded keys of one
// column, built from histogram buckets or quantiles, answering "what share lies in [lo, hi)".
//
// Inside a bucket the weight is spread linearly over the key's position (its first 16 bytes read
// as a big-endian number), which is exact for integers, dates and timestamps and a fair guess
// for text; a zero-width bucket is a point mass. Immutable after construction; thread-compatible.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "advisor/inputs.h"

namespace mosaic::advisor {

class KeyDistribution {
 public:
  KeyDistribution() = default;
  // Buckets with weight <= 0 are ignored; lower > upper is read as [upper, lower).
  explicit KeyDistribution(const std::vector<HeatBucket>& buckets);
  // Quantiles q[0..n] (ascending): 1/n of the weight between consecutive ones.
  static KeyDistribution FromQuantiles(const std::vector<std::string>& quantiles);

  bool empty() const { return total_ <= 0; }
  double total() const { return total_; }
  // Weight of keys below `key` ("" = 0, the unbounded lower end).
  double Below(std::string_view key) const;
  // Below() of each of `keys`, which must be ascending: one merge pass instead of a search each.
  std::vector<double> BelowEach(const std::vector<std::string>& keys) const;
  // Weight in [lo, hi); lo "" = unbounded below, hi "" = unbounded above.
  double Between(std::string_view lo, std::string_view hi) const;
  // Between() as a share of the total (0 when empty).
  double Fraction(std::string_view lo, std::string_view hi) const;
  // The keys at which the distribution's slope changes (bucket ends, quantiles), ascending and
  // unique: the useful split points.
  const std::vector<std::string>& points() const { return points_; }

 private:
  // Below(key) given j, the index of the last point <= key (key > "").
  double BelowFrom(size_t j, std::string_view key) const;

  std::vector<std::string> points_;   // ascending, unique
  std::vector<double> below_;         // weight strictly below points_[j]
  std::vector<double> at_;            // point mass at points_[j]
  std::vector<double> inside_;        // spread weight in [points_[j], points_[j+1])
  double total_ = 0;
};

// The position of a key on the number line used for interpolation (monotone in key order).
long double KeyPosition(std::string_view key);

// `buckets` with the by_rows ones (HeatBucket::by_rows) replaced by buckets cut at the points of
// `rows`, carrying the by_rows buckets' summed weight in proportion to the rows between the cuts:
// accesses whose keys are unknown are taken to fall like the data. Unchanged when there are no
// by_rows buckets or `rows` has no weight inside them.
std::vector<HeatBucket> SpreadByRows(const std::vector<HeatBucket>& buckets, const KeyDistribution& rows);

}  // namespace mosaic::advisor

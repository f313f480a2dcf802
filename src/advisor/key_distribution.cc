// Piecewise-linear cumulative weight over encoded keys.
#include "advisor/key_distribution.h"

#include <algorithm>

namespace mosaic::advisor {
namespace {

uint64_t BigEndian8(std::string_view key, size_t from) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) {
    v <<= 8;
    if (from + i < key.size()) v |= static_cast<unsigned char>(key[from + i]);
  }
  return v;
}

}  // namespace

long double KeyPosition(std::string_view key) {
  return static_cast<long double>(BigEndian8(key, 0)) +
         static_cast<long double>(BigEndian8(key, 8)) / 18446744073709551616.0L;
}

KeyDistribution::KeyDistribution(const std::vector<HeatBucket>& buckets) {
  for (const auto& b : buckets) {
    if (b.weight <= 0) continue;
    points_.push_back(b.lower);
    points_.push_back(b.upper);
  }
  std::sort(points_.begin(), points_.end());
  points_.erase(std::unique(points_.begin(), points_.end()), points_.end());
  const size_t n = points_.size();
  at_.assign(n, 0);
  inside_.assign(n, 0);
  below_.assign(n, 0);
  std::vector<long double> density_change(n + 1, 0);
  auto index = [&](const std::string& key) {
    return static_cast<size_t>(std::lower_bound(points_.begin(), points_.end(), key) - points_.begin());
  };
  for (const auto& b : buckets) {
    if (b.weight <= 0) continue;
    const std::string& lo = std::min(b.lower, b.upper);
    const std::string& hi = std::max(b.lower, b.upper);
    const long double width = KeyPosition(hi) - KeyPosition(lo);
    if (lo == hi || width <= 0) {
      at_[index(lo)] += b.weight;
      continue;
    }
    density_change[index(lo)] += b.weight / width;
    density_change[index(hi)] -= b.weight / width;
  }
  long double density = 0;
  for (size_t j = 0; j + 1 < n; ++j) {
    density += density_change[j];
    const long double w = density * (KeyPosition(points_[j + 1]) - KeyPosition(points_[j]));
    inside_[j] = w > 0 ? static_cast<double>(w) : 0.0;
  }
  double sum = 0;
  for (size_t j = 0; j < n; ++j) {
    below_[j] = sum;
    sum += at_[j] + inside_[j];
  }
  total_ = sum;
}

KeyDistribution KeyDistribution::FromQuantiles(const std::vector<std::string>& quantiles) {
  if (std::is_sorted(quantiles.begin(), quantiles.end())) {
    // The usual case, without sorting or bucket copies: 1/n between consecutive quantiles (a point
    // mass where two are equal), the points being the quantiles themselves.
    KeyDistribution d;
    if (quantiles.empty()) return d;
    const double w = quantiles.size() > 1 ? 1.0 / static_cast<double>(quantiles.size() - 1) : 1.0;
    d.points_.reserve(quantiles.size());
    for (const auto& q : quantiles) {
      if (d.points_.empty() || d.points_.back() != q) d.points_.push_back(q);
    }
    d.at_.assign(d.points_.size(), 0);
    d.inside_.assign(d.points_.size(), 0);
    d.below_.assign(d.points_.size(), 0);
    if (quantiles.size() == 1) d.at_[0] = 1;
    for (size_t i = 0, j = 0; i + 1 < quantiles.size(); ++i) {
      if (quantiles[i] != d.points_[j]) ++j;
      // Keys equal in their first 16 bytes have no width to spread over: a point mass, as below.
      const bool point = quantiles[i] == quantiles[i + 1] || KeyPosition(quantiles[i + 1]) <= KeyPosition(quantiles[i]);
      (point ? d.at_[j] : d.inside_[j]) += w;
    }
    double sum = 0;
    for (size_t j = 0; j < d.points_.size(); ++j) {
      d.below_[j] = sum;
      sum += d.at_[j] + d.inside_[j];
    }
    d.total_ = sum;
    return d;
  }
  std::vector<HeatBucket> buckets;
  if (quantiles.size() == 1) buckets.push_back({quantiles[0], quantiles[0], 1.0});
  for (size_t i = 0; i + 1 < quantiles.size(); ++i) {
    buckets.push_back({quantiles[i], quantiles[i + 1], 1.0 / static_cast<double>(quantiles.size() - 1)});
  }
  return KeyDistribution(buckets);
}

double KeyDistribution::Below(std::string_view key) const {
  if (key.empty() || points_.empty()) return 0;
  const auto it = std::upper_bound(points_.begin(), points_.end(), key,
                                   [](std::string_view k, const std::string& p) { return k < p; });
  if (it == points_.begin()) return 0;
  return BelowFrom(static_cast<size_t>(it - points_.begin()) - 1, key);
}

std::vector<double> KeyDistribution::BelowEach(const std::vector<std::string>& keys) const {
  std::vector<double> out;
  out.reserve(keys.size());
  size_t next = 0;  // the first point > the current key
  for (const auto& key : keys) {
    while (next < points_.size() && points_[next] <= key) ++next;
    out.push_back(key.empty() || next == 0 ? 0.0 : BelowFrom(next - 1, key));
  }
  return out;
}

double KeyDistribution::BelowFrom(size_t j, std::string_view key) const {
  if (points_[j] == key) return below_[j];
  double base = below_[j] + at_[j];
  if (j + 1 < points_.size() && inside_[j] > 0) {
    const long double from = KeyPosition(points_[j]);
    const long double width = KeyPosition(points_[j + 1]) - from;
    const long double f = width > 0 ? (KeyPosition(key) - from) / width : 0;
    base += inside_[j] * static_cast<double>(std::clamp<long double>(f, 0, 1));
  }
  return base;
}

double KeyDistribution::Between(std::string_view lo, std::string_view hi) const {
  const double upper = hi.empty() ? total_ : Below(hi);
  return std::max(0.0, upper - Below(lo));
}

std::vector<HeatBucket> SpreadByRows(const std::vector<HeatBucket>& buckets, const KeyDistribution& rows) {
  double weight = 0, inside = 0;
  for (const auto& b : buckets) {
    if (!b.by_rows || b.weight <= 0) continue;
    weight += b.weight;
    inside += rows.Between(std::min(b.lower, b.upper), std::max(b.lower, b.upper));
  }
  if (weight <= 0 || inside <= 0) return buckets;
  std::vector<HeatBucket> out;
  for (const auto& b : buckets) {
    if (!b.by_rows) {
      out.push_back(b);
      continue;
    }
    if (b.weight <= 0) continue;
    const std::string& lo = std::min(b.lower, b.upper);
    const std::string& hi = std::max(b.lower, b.upper);
    const auto& points = rows.points();
    std::vector<std::string> cuts = {lo};
    for (auto it = std::upper_bound(points.begin(), points.end(), lo); it != points.end() && *it < hi; ++it) cuts.push_back(*it);
    cuts.push_back(hi);
    for (size_t i = 0; i + 1 < cuts.size(); ++i) {
      const double share = rows.Between(cuts[i], cuts[i + 1]) / inside;
      if (share > 0) out.push_back({cuts[i], cuts[i + 1], weight * share, false});
    }
  }
  return out;
}

double KeyDistribution::Fraction(std::string_view lo, std::string_view hi) const {
  return total_ > 0 ? Between(lo, hi) / total_ : 0;
}

}  // namespace mosaic::advisor

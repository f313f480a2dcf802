#include "workload/random.h"

#include <algorithm>
#include <cmath>

namespace mosaic::workload {

ZipfSampler::ZipfSampler(int64_t n, double exponent) {
  cdf_.resize(static_cast<size_t>(std::max<int64_t>(n, 1)));
  double sum = 0;
  for (size_t k = 0; k < cdf_.size(); ++k) {
    sum += 1.0 / std::pow(static_cast<double>(k + 1), exponent);
    cdf_[k] = sum;
  }
  for (double& c : cdf_) c /= sum;
  cdf_.back() = 1.0;
}

int64_t ZipfSampler::RankAt(double u) const {
  auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
  if (it == cdf_.end()) --it;
  return (it - cdf_.begin()) + 1;
}

double ZipfSampler::Probability(int64_t k) const {
  const auto i = static_cast<size_t>(k - 1);
  return i == 0 ? cdf_[0] : cdf_[i] - cdf_[i - 1];
}

}  // namespace mosaic::workload

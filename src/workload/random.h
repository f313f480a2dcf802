// Deterministic randomness for the workload generator: the same seed gives the same data and the
// same sequence of choices on every platform (std:: distributions are implementation-defined, so
// the generator draws through these helpers only).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace mosaic::workload {

using Rng = std::mt19937_64;

// SplitMix64: a well-mixed 64-bit hash, used to derive per-tenant and per-row values from a seed.
inline uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
inline uint64_t Mix(uint64_t a, uint64_t b) { return Mix(a ^ Mix(b)); }

// A uniform double in [0, 1).
inline double Unit(Rng& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }
// A uniform integer in [lo, hi]. REQUIRES: lo <= hi.
inline int64_t Between(Rng& rng, int64_t lo, int64_t hi) {
  return lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
}

// Zipf's law over ranks 1..n: P(rank k) proportional to 1 / k^exponent. exponent 0 is uniform.
// Immutable after construction; Sample is thread-safe given a per-thread Rng.
class ZipfSampler {
 public:
  // REQUIRES: n >= 1, exponent >= 0.
  ZipfSampler(int64_t n, double exponent);
  // The rank (1..n) whose cumulative probability first reaches u. REQUIRES: 0 <= u < 1.
  int64_t RankAt(double u) const;
  int64_t Sample(Rng& rng) const { return RankAt(Unit(rng)); }
  // P(rank k), for 1 <= k <= n.
  double Probability(int64_t k) const;
  int64_t size() const { return static_cast<int64_t>(cdf_.size()); }

 private:
  std::vector<double> cdf_;  // cdf_[k-1] = P(rank <= k); the last is exactly 1
};

}  // namespace mosaic::workload

// Mergeable summaries the monitor keeps per minute and merges over a queried window:
//   LatencySketch — relative-error quantiles over log-spaced buckets (DDSketch's idea);
//   KeyHeat       — a bounded histogram of accessed keys (a streaming histogram of centroids over
//                   order-preserving 64-bit key prefixes, each with the extent of keys it stands
//                   for), weighted by statements and rows;
//   TopValues     — Space-Saving heavy hitters over value texts.
// Each is small when little was added (storage grows with use up to a fixed bound) and Merge()
// of two summaries is a summary of the union. Aggregator thread only: not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace mosaic::monitor {

class LatencySketch {
 public:
  // Relative accuracy of Quantile(): +-kAlpha of the true value (for values >= 1 us).
  static constexpr double kAlpha = 0.02;

  void Add(uint32_t micros, uint32_t count = 1);
  void Merge(const LatencySketch& other);
  // The q-quantile (0 <= q <= 1) in microseconds; 0 when empty.
  double Quantile(double q) const;
  uint64_t count() const { return count_; }
  size_t MemoryBytes() const { return buckets_.capacity() * sizeof(Bucket); }

  nlohmann::json ToJson() const;
  static LatencySketch FromJson(const nlohmann::json& j);

 private:
  struct Bucket {
    int16_t index;
    uint32_t count;
  };
  std::vector<Bucket> buckets_;  // ascending index
  uint64_t count_ = 0;
};

// Order-preserving 64-bit position of an encoded key (router/keys.h): its first 8 bytes,
// big-endian, zero-padded. Exact for int, date and timestamp keys; a prefix for the others.
uint64_t KeyPosition(std::string_view encoded_key);

class KeyHeat {
 public:
  // Centroids kept per summary; Merge() keeps up to `limit` (default kMinuteCentroids).
  static constexpr size_t kMinuteCentroids = 16;
  static constexpr size_t kQueryCentroids = 128;

  // A point access (= v, IN): weight 1 statement and `rows` rows.
  void AddPoint(uint64_t pos, double rows);
  // A range access [lo, hi]: the weight spread evenly over the interval.
  void AddRange(uint64_t lo, uint64_t hi, double rows);
  void Merge(const KeyHeat& other, size_t limit = kMinuteCentroids);

  // The multiple of its fair share (the mean bin's) of the statements' weight above which a bin
  // of HotRanges() is hot: well clear of what a uniform access pattern's summary shows.
  static constexpr double kHotDensity = 2.0;

  struct Range {
    uint64_t lower = 0, upper = 0;  // positions; upper inclusive
    double share = 0;               // of statements' weight
    double row_share = 0;           // of rows' weight
  };
  // Key ranges of the accessed span (cut into 32 bins, or one per key in small domains) holding
  // more than kHotDensity times their fair share of the statements' weight, merged when adjacent,
  // by share descending (at most `max`). Empty when the accesses are spread about evenly (no
  // clear hot spot) and when nothing was added.
  std::vector<Range> HotRanges(size_t max = 5) const;
  bool empty() const { return centroids_.empty(); }
  double total() const;
  // The lowest and highest position accessed (inclusive); meaningful only when !empty().
  uint64_t lowest() const { return min_; }
  uint64_t highest() const { return max_; }
  // The mean width (hi - lo, in positions) of the range accesses added; 0 without any. The advisor
  // needs it to tell whether a split point cuts through the typical range filter.
  double MeanRangeWidth() const { return ranges_ > 0 ? range_width_sum_ / ranges_ : 0; }
  size_t MemoryBytes() const { return centroids_.capacity() * sizeof(Centroid); }

  nlohmann::json ToJson() const;
  static KeyHeat FromJson(const nlohmann::json& j);

 private:
  // Weight spread evenly over the keys [lo, hi] (lo == hi: one key). The extent, not only a mean
  // position, is what keeps the bins of HotRanges() honest: merged minute summaries put their
  // centroids at about the same positions, and spreading each only to its neighbours' midpoints
  // made the bins that caught such clusters look hot under a uniform load.
  struct Centroid {
    uint64_t lo;
    uint64_t hi;
    float stmts;
    float rows;

    uint64_t Mid() const { return lo + (hi - lo) / 2; }
  };
  static bool MidBefore(const Centroid& a, const Centroid& b);
  void Insert(Centroid c);
  void Compress(size_t limit);

  std::vector<Centroid> centroids_;  // ascending Mid()
  uint64_t min_ = UINT64_MAX, max_ = 0;
  double range_width_sum_ = 0, ranges_ = 0;
};

class TopValues {
 public:
  static constexpr size_t kMinuteCapacity = 16;
  static constexpr size_t kQueryCapacity = 32;

  void Add(std::string_view value, uint64_t count = 1);
  void Merge(const TopValues& other, size_t capacity = kMinuteCapacity);

  struct Item {
    std::string value;
    uint64_t count = 0;  // an over-estimate: count - error is a lower bound of the true count
    uint64_t error = 0;  // the count inherited from the value it evicted
  };
  // Heaviest first by guaranteed count (count - error), each with count set to that bound: a
  // value that got in late by evicting others does not outrank values seen all along.
  std::vector<Item> Top(size_t n) const;
  uint64_t total() const { return total_; }
  size_t MemoryBytes() const;

  nlohmann::json ToJson() const;
  static TopValues FromJson(const nlohmann::json& j);

 private:
  void Trim(size_t capacity);
  std::vector<Item> items_;
  uint64_t total_ = 0;
};

}  // namespace mosaic::monitor

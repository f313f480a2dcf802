// Mergeable summaries the monitor keeps per minute and merges over a queried window:
//   LatencySketch — relative-error quantiles over log-spaced buckets (DDSketch's idea);
//   KeyHeat       — a bounded histogram of accessed keys (a streaming histogram of centroids over
//                   order-preserving 64-bit key prefixes), weighted by statements and rows;
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

  struct Range {
    uint64_t lower = 0, upper = 0;  // positions; upper inclusive
    double share = 0;               // of statements' weight
    double row_share = 0;           // of rows' weight
  };
  // Key ranges whose density is above the average, merged when adjacent, by share descending
  // (at most `max`). A summary without a clear hot spot yields one range over all keys.
  std::vector<Range> HotRanges(size_t max = 5) const;
  bool empty() const { return centroids_.empty(); }
  double total() const;
  size_t MemoryBytes() const { return centroids_.capacity() * sizeof(Centroid); }

  nlohmann::json ToJson() const;
  static KeyHeat FromJson(const nlohmann::json& j);

 private:
  struct Centroid {
    uint64_t pos;
    float stmts;
    float rows;
  };
  void Insert(uint64_t pos, float stmts, float rows);
  void Compress(size_t limit);

  std::vector<Centroid> centroids_;  // ascending pos
  uint64_t min_ = UINT64_MAX, max_ = 0;
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

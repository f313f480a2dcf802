#include "monitor/sketch.h"

#include <algorithm>
#include <cmath>

namespace mosaic::monitor {
namespace {

using Json = nlohmann::json;

const double kGamma = (1 + LatencySketch::kAlpha) / (1 - LatencySketch::kAlpha);
const double kLogGamma = std::log(kGamma);

int16_t LatencyIndex(uint32_t micros) {
  const double v = std::max<double>(micros, 1.0);
  return static_cast<int16_t>(std::ceil(std::log(v) / kLogGamma));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// LatencySketch

void LatencySketch::Add(uint32_t micros, uint32_t count) {
  const int16_t index = LatencyIndex(micros);
  auto it = std::lower_bound(buckets_.begin(), buckets_.end(), index,
                             [](const Bucket& b, int16_t i) { return b.index < i; });
  if (it != buckets_.end() && it->index == index) {
    it->count += count;
  } else {
    buckets_.insert(it, Bucket{index, count});
  }
  count_ += count;
}

void LatencySketch::Merge(const LatencySketch& other) {
  for (const Bucket& b : other.buckets_) {
    auto it = std::lower_bound(buckets_.begin(), buckets_.end(), b.index,
                               [](const Bucket& x, int16_t i) { return x.index < i; });
    if (it != buckets_.end() && it->index == b.index) {
      it->count += b.count;
    } else {
      buckets_.insert(it, b);
    }
  }
  count_ += other.count_;
}

double LatencySketch::Quantile(double q) const {
  if (count_ == 0) return 0;
  const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(count_ - 1);
  uint64_t seen = 0;
  for (const Bucket& b : buckets_) {
    seen += b.count;
    if (static_cast<double>(seen) > rank) return 2 * std::pow(kGamma, b.index) / (kGamma + 1);
  }
  return 2 * std::pow(kGamma, buckets_.back().index) / (kGamma + 1);
}

Json LatencySketch::ToJson() const {
  Json out = Json::array();
  for (const Bucket& b : buckets_) out.push_back({b.index, b.count});
  return out;
}

LatencySketch LatencySketch::FromJson(const Json& j) {
  LatencySketch s;
  for (const auto& b : j) {
    s.buckets_.push_back(Bucket{b.at(0).get<int16_t>(), b.at(1).get<uint32_t>()});
    s.count_ += s.buckets_.back().count;
  }
  std::sort(s.buckets_.begin(), s.buckets_.end(), [](const Bucket& a, const Bucket& b) { return a.index < b.index; });
  return s;
}

// ---------------------------------------------------------------------------------------------
// KeyHeat

uint64_t KeyPosition(std::string_view key) {
  uint64_t pos = 0;
  for (size_t i = 0; i < 8; ++i) {
    pos = (pos << 8) | (i < key.size() ? static_cast<unsigned char>(key[i]) : 0u);
  }
  return pos;
}

bool KeyHeat::MidBefore(const Centroid& a, const Centroid& b) {
  return a.Mid() != b.Mid() ? a.Mid() < b.Mid() : a.lo < b.lo;
}

void KeyHeat::Insert(Centroid c) {
  min_ = std::min(min_, c.lo);
  max_ = std::max(max_, c.hi);
  auto it = std::lower_bound(centroids_.begin(), centroids_.end(), c, MidBefore);
  if (it != centroids_.end() && it->lo == c.lo && it->hi == c.hi) {
    it->stmts += c.stmts;
    it->rows += c.rows;
  } else {
    centroids_.insert(it, c);
  }
  if (centroids_.size() > 2 * kMinuteCentroids) Compress(kMinuteCentroids);
}

void KeyHeat::AddPoint(uint64_t pos, double rows) { Insert(Centroid{pos, pos, 1.0f, static_cast<float>(rows)}); }

void KeyHeat::AddRange(uint64_t lo, uint64_t hi, double rows) {
  if (lo > hi) std::swap(lo, hi);
  range_width_sum_ += static_cast<double>(hi - lo);
  ranges_ += 1;
  Insert(Centroid{lo, hi, 1.0f, static_cast<float>(rows)});
}

// Merges neighbours in one pass so that each centroid holds about total/limit of the weight:
// dense (hot) regions keep their resolution, sparse ones are summarised. A merged centroid
// stands for the union of its parts' extents.
void KeyHeat::Compress(size_t limit) {
  if (centroids_.size() <= limit) return;
  const double per = total() / static_cast<double>(limit);
  std::vector<Centroid> out;
  out.reserve(limit + 1);
  for (const Centroid& c : centroids_) {
    if (out.empty() || (out.back().stmts > 0 && out.back().stmts + c.stmts > per)) {
      out.push_back(c);
      continue;
    }
    Centroid& m = out.back();
    m.lo = std::min(m.lo, c.lo);
    m.hi = std::max(m.hi, c.hi);
    m.stmts += c.stmts;
    m.rows += c.rows;
  }
  // Widened extents may move a centroid's midpoint past its neighbour's.
  std::sort(out.begin(), out.end(), MidBefore);
  centroids_ = std::move(out);
}

void KeyHeat::Merge(const KeyHeat& other, size_t limit) {
  if (other.centroids_.empty()) return;
  std::vector<Centroid> merged;
  merged.reserve(centroids_.size() + other.centroids_.size());
  std::merge(centroids_.begin(), centroids_.end(), other.centroids_.begin(), other.centroids_.end(),
             std::back_inserter(merged), MidBefore);
  centroids_ = std::move(merged);
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  range_width_sum_ += other.range_width_sum_;
  ranges_ += other.ranges_;
  if (centroids_.size() > 2 * limit) Compress(limit);
}

double KeyHeat::total() const {
  double t = 0;
  for (const Centroid& c : centroids_) t += c.stmts;
  return t;
}

std::vector<KeyHeat::Range> KeyHeat::HotRanges(size_t max) const {
  std::vector<Range> out;
  const double total_stmts = total();
  double total_rows = 0;
  for (const Centroid& c : centroids_) total_rows += c.rows;
  // One key accessed: nothing to compare it with.
  if (centroids_.empty() || total_stmts <= 0 || max_ == min_) return out;
  // 32 bins, or one per key when fewer keys lie between the ends (small integer domains).
  const int kBins = static_cast<int>(std::min<long double>(32, static_cast<long double>(max_) - min_ + 1));
  const long double lo = static_cast<long double>(min_);
  const long double width = (static_cast<long double>(max_) - lo + 1) / kBins;
  std::vector<double> stmts(static_cast<size_t>(kBins), 0), rows(static_cast<size_t>(kBins), 0);
  auto bin_of = [&](long double pos) { return std::clamp(static_cast<int>((pos - lo) / width), 0, kBins - 1); };
  // Each centroid's weight is spread evenly over the keys [c.lo, c.hi + 1) it stands for.
  for (const Centroid& c : centroids_) {
    const long double from = c.lo, to = static_cast<long double>(c.hi) + 1;
    const int first = bin_of(from), last = bin_of(c.hi);
    for (int b = first; b <= last; ++b) {
      const long double overlap = std::min(to, lo + width * (b + 1)) - std::max(from, lo + width * b);
      const double part = first == last ? 1.0 : static_cast<double>(std::max<long double>(overlap, 0) / (to - from));
      stmts[static_cast<size_t>(b)] += c.stmts * part;
      rows[static_cast<size_t>(b)] += c.rows * part;
    }
  }
  auto bin_lower = [&](int b) { return static_cast<uint64_t>(lo + width * b); };
  const double hot = kHotDensity / kBins;
  for (int b = 0; b < kBins;) {
    if (stmts[static_cast<size_t>(b)] / total_stmts <= hot) {
      ++b;
      continue;
    }
    Range r;
    r.lower = bin_lower(b);
    while (b < kBins && stmts[static_cast<size_t>(b)] / total_stmts > hot) {
      r.share += stmts[static_cast<size_t>(b)] / total_stmts;
      r.row_share += total_rows > 0 ? rows[static_cast<size_t>(b)] / total_rows : 0;
      ++b;
    }
    r.upper = b == kBins ? max_ : std::max(r.lower, bin_lower(b) - 1);
    out.push_back(r);
  }
  std::sort(out.begin(), out.end(), [](const Range& a, const Range& b) { return a.share > b.share; });
  if (out.size() > max) out.resize(max);
  return out;
}

Json KeyHeat::ToJson() const {
  Json c = Json::array();
  for (const Centroid& x : centroids_) c.push_back({x.lo, x.hi, x.stmts, x.rows});
  return Json{{"min", min_}, {"max", max_}, {"c", std::move(c)}, {"w", {range_width_sum_, ranges_}}};
}

// Reads checkpoints from before centroids had extents too ([pos, stmts, rows]: one key each) and
// before range widths were kept ("w").
KeyHeat KeyHeat::FromJson(const Json& j) {
  KeyHeat h;
  h.min_ = j.at("min").get<uint64_t>();
  h.max_ = j.at("max").get<uint64_t>();
  if (j.contains("w")) {
    h.range_width_sum_ = j["w"].at(0).get<double>();
    h.ranges_ = j["w"].at(1).get<double>();
  }
  for (const auto& x : j.at("c")) {
    const bool extent = x.size() >= 4;
    const uint64_t lo = x.at(0).get<uint64_t>(), hi = extent ? x.at(1).get<uint64_t>() : lo;
    h.centroids_.push_back(Centroid{lo, hi, x.at(extent ? 2 : 1).get<float>(), x.at(extent ? 3 : 2).get<float>()});
  }
  std::sort(h.centroids_.begin(), h.centroids_.end(), MidBefore);
  return h;
}

// ---------------------------------------------------------------------------------------------
// TopValues (Space-Saving: a new value evicts the lightest and inherits its count, so counts
// are over-estimates by at most total/capacity)

void TopValues::Add(std::string_view value, uint64_t count) {
  total_ += count;
  for (Item& item : items_) {
    if (item.value == value) {
      item.count += count;
      return;
    }
  }
  if (items_.size() < kMinuteCapacity) {
    items_.push_back(Item{std::string(value), count});
    return;
  }
  auto lightest = std::min_element(items_.begin(), items_.end(),
                                   [](const Item& a, const Item& b) { return a.count < b.count; });
  lightest->value.assign(value);
  lightest->error = lightest->count;
  lightest->count += count;
}

void TopValues::Merge(const TopValues& other, size_t capacity) {
  total_ += other.total_;
  for (const Item& o : other.items_) {
    auto it = std::find_if(items_.begin(), items_.end(), [&](const Item& i) { return i.value == o.value; });
    if (it != items_.end()) {
      it->count += o.count;
      it->error += o.error;
    } else {
      items_.push_back(o);
    }
  }
  Trim(capacity);
}

void TopValues::Trim(size_t capacity) {
  if (items_.size() <= capacity) return;
  std::sort(items_.begin(), items_.end(), [](const Item& a, const Item& b) { return a.count > b.count; });
  items_.resize(capacity);
}

std::vector<TopValues::Item> TopValues::Top(size_t n) const {
  std::vector<Item> out = items_;
  for (Item& i : out) {
    i.count -= i.error;
    i.error = 0;
  }
  std::sort(out.begin(), out.end(), [](const Item& a, const Item& b) {
    return a.count != b.count ? a.count > b.count : a.value < b.value;
  });
  if (out.size() > n) out.resize(n);
  return out;
}

size_t TopValues::MemoryBytes() const {
  size_t bytes = items_.capacity() * sizeof(Item);
  for (const Item& i : items_) {
    if (i.value.capacity() > 15) bytes += i.value.capacity() + 1;
  }
  return bytes;
}

Json TopValues::ToJson() const {
  Json items = Json::array();
  for (const Item& i : items_) items.push_back({i.value, i.count, i.error});
  return Json{{"total", total_}, {"items", std::move(items)}};
}

TopValues TopValues::FromJson(const Json& j) {
  TopValues t;
  t.total_ = j.at("total").get<uint64_t>();
  for (const auto& i : j.at("items")) {
    t.items_.push_back(Item{i.at(0).get<std::string>(), i.at(1).get<uint64_t>(), i.at(2).get<uint64_t>()});
  }
  return t;
}

}  // namespace mosaic::monitor

#include "monitor/pattern_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace mosaic::monitor {
namespace {

using Json = nlohmann::json;
using router::KeyType;

std::string TenantName(const QueryEvent& e) {
  if (!e.tenant_known) return std::string(kMultiTenant);
  if (e.tenant.empty()) return std::string(kImplicitTenant);
  return std::string(e.tenant.view());
}

double Share(double part, double whole) { return whole > 0 ? std::round(part / whole * 10000) / 10000 : 0; }
double Ms(double micros) { return std::round(micros) / 1000.0; }

constexpr size_t kMapNodeBytes = 64;  // a hash-map node's overhead beyond the value, roughly
constexpr size_t kMallocBytes = 16;   // malloc's own overhead per allocation

size_t StringBytes(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }

}  // namespace

std::string_view FilterOpName(FilterOp op) {
  switch (op) {
    case FilterOp::kEq: return "eq";
    case FilterOp::kIn: return "in";
    case FilterOp::kRange: return "range";
    case FilterOp::kOther: return "other";
  }
  return "other";
}

PatternStore::PatternStore(PatternStoreOptions options, KeyTypeResolver resolver)
    : options_(options), resolver_(std::move(resolver)) {
  options_.window_seconds = std::max<int64_t>(options_.window_seconds, 60);
  ring_.resize(static_cast<size_t>((options_.window_seconds + 59) / 60 + 1));
}

PatternStore::Minute& PatternStore::MinuteFor(int64_t unix_seconds) {
  const int64_t minute = unix_seconds / 60;
  Minute& m = ring_[static_cast<size_t>(minute % static_cast<int64_t>(ring_.size()))];
  if (m.minute != minute) {
    m.tenants.clear();
    m.minute = minute;
  }
  return m;
}

template <typename Fn>
void PatternStore::ForEachMinute(int64_t window_seconds, int64_t now, Fn&& fn) const {
  window_seconds = std::clamp<int64_t>(window_seconds, 1, options_.window_seconds);
  const int64_t first = (now - window_seconds) / 60;  // partly inside the window
  const int64_t last = now / 60;
  for (int64_t minute = std::max(first, last - static_cast<int64_t>(ring_.size()) + 1); minute <= last; ++minute) {
    const Minute& m = ring_[static_cast<size_t>(((minute % static_cast<int64_t>(ring_.size())) + static_cast<int64_t>(ring_.size())) %
                                                static_cast<int64_t>(ring_.size()))];
    if (m.minute == minute) fn(m);
  }
}

void PatternStore::Expire(int64_t now) {
  const int64_t oldest = (now - options_.window_seconds) / 60;
  for (Minute& m : ring_) {
    if (m.minute >= 0 && m.minute < oldest) {
      m.tenants = {};
      m.minute = -1;
    }
  }
}

void PatternStore::AddShape(const ShapeText& s) {
  if (shapes_.size() >= kMaxShapes && !shapes_.contains(s.fingerprint)) return;
  auto [it, inserted] = shapes_.try_emplace(s.fingerprint);
  if (inserted) it->second = std::string(s.text.view());
}

void PatternStore::Add(const QueryEvent& e) {
  const int64_t minute = e.unix_seconds / 60;
  const Minute& slot = ring_[static_cast<size_t>(minute % static_cast<int64_t>(ring_.size()))];
  if (minute < slot.minute) {
    ++stale_events_;
    return;
  }
  const std::string tenant = TenantName(e);
  for (int i = 0; i < 64; ++i) {
    if (e.node_mask & (uint64_t{1} << i)) ++node_statements_[static_cast<size_t>(i)];
  }
  if (auto it = tenant_counters_.find(tenant); it != tenant_counters_.end()) {
    ++it->second;
  } else {
    ++tenant_counters_[tenant_counters_.size() < kMaxTenantCounters ? tenant : std::string(kOtherName)];
  }

  TenantMinute& tm = MinuteFor(e.unix_seconds).tenants[tenant];
  ++tm.statements;
  ++(e.write ? tm.writes : tm.reads);
  tm.rows += static_cast<uint64_t>(std::max<int64_t>(e.rows, 0));
  tm.latency_us += e.latency_us;

  uint64_t fingerprint = e.fingerprint;
  if (!tm.fingerprints.contains(fingerprint) && tm.fingerprints.size() >= kMaxFingerprintsPerTenantMinute) fingerprint = 0;
  FingerprintStats& fp = tm.fingerprints[fingerprint];
  ++fp.calls;
  fp.rows += static_cast<uint64_t>(std::max<int64_t>(e.rows, 0));
  fp.latency_us += e.latency_us;

  for (int i = 0; i < e.table_count; ++i) {
    const std::string_view name = e.tables[i].view();
    if (name.empty()) continue;  // a session's temporary table (BuildEvent)
    bool repeated = false;  // a self-join counts the statement once for the table
    for (int j = 0; j < i; ++j) repeated = repeated || e.tables[j].view() == name;
    if (repeated) continue;
    TableStats& t = tm.tables[std::string(name)];
    ++t.statements;
    ++(e.write ? t.writes : t.reads);
    t.rows += static_cast<uint64_t>(std::max<int64_t>(e.rows, 0));
    t.latency.Add(e.latency_us);
    AddFilters(e, i, t);
    for (int j = 0; j < e.join_count; ++j) {
      const EventJoin& join = e.joins[j];
      if (e.tables[join.left_table].view() != name && e.tables[join.right_table].view() != name) continue;
      if (e.tables[join.left_table].view().empty() || e.tables[join.right_table].view().empty()) continue;
      std::string left = fmt::format("{}.{}", e.tables[join.left_table].view(), join.left_column.view());
      std::string right = fmt::format("{}.{}", e.tables[join.right_table].view(), join.right_column.view());
      if (right < left) std::swap(left, right);
      auto it = std::find_if(t.joins.begin(), t.joins.end(), [&](const JoinStats& s) { return s.left == left && s.right == right; });
      if (it == t.joins.end()) it = t.joins.insert(t.joins.end(), JoinStats{std::move(left), std::move(right), 0});
      ++it->count;
    }
  }
}

KeyType PatternStore::ResolveKeyType(std::string_view table, std::string_view column, std::string_view value) const {
  if (resolver_) {
    KeyType t = resolver_(table, column);
    if (t != KeyType::kUnsupported) return t;
  }
  for (KeyType t : {KeyType::kInt, KeyType::kDate, KeyType::kTimestamp}) {
    if (router::EncodeKey(t, value).ok()) return t;
  }
  return KeyType::kText;
}

PatternStore::ColumnStats& PatternStore::ColumnFor(TableStats& t, std::string_view column) {
  for (ColumnStats& c : t.columns) {
    if (c.name == column) return c;
  }
  t.columns.push_back(ColumnStats{});
  t.columns.back().name = std::string(column);
  return t.columns.back();
}

void PatternStore::AddFilters(const QueryEvent& e, int table_index, TableStats& t) {
  // Per column of this table: its filters, point values and range ends.
  for (int i = 0; i < e.filter_count; ++i) {
    const EventFilter& f = e.filters[i];
    if (f.table != table_index || !f.counts) continue;
    ColumnStats& c = ColumnFor(t, f.column.view());
    ++c.by_op[static_cast<size_t>(f.op)];
  }
  for (int i = 0; i < e.filter_count; ++i) {
    const EventFilter& f = e.filters[i];
    if (f.table != table_index || f.role == ValueRole::kNone) continue;
    bool first = true;  // handle each column once, at its first valued filter
    for (int j = 0; j < i && first; ++j) {
      first = !(e.filters[j].table == table_index && e.filters[j].role != ValueRole::kNone &&
                e.filters[j].column.view() == f.column.view());
    }
    if (!first) continue;
    ColumnStats& c = ColumnFor(t, f.column.view());
    if (c.key_type == KeyType::kUnsupported) c.key_type = ResolveKeyType(e.tables[table_index].view(), f.column.view(), f.value.view());
    std::vector<uint64_t> points;
    std::optional<uint64_t> lo, hi;
    for (int j = i; j < e.filter_count; ++j) {
      const EventFilter& g = e.filters[j];
      if (g.table != table_index || g.role == ValueRole::kNone || g.column.view() != f.column.view()) continue;
      auto key = router::EncodeKey(c.key_type, g.value.view());
      if (!key.ok()) continue;
      const uint64_t pos = KeyPosition(key.value());
      switch (g.role) {
        case ValueRole::kPoint:
          points.push_back(pos);
          c.top.Add(g.value.view());
          break;
        case ValueRole::kLower: lo = lo ? std::max(*lo, pos) : pos; break;
        case ValueRole::kUpper: hi = hi ? std::min(*hi, pos) : pos; break;
        case ValueRole::kNone: break;
      }
    }
    const double rows = static_cast<double>(std::max<int64_t>(e.rows, 0));
    const double parts = static_cast<double>(points.size() + ((lo || hi) ? 1 : 0));
    for (uint64_t p : points) c.heat.AddPoint(p, rows / parts);
    if (lo && hi) {
      c.heat.AddRange(*lo, *hi, rows / parts);
    } else if (lo || hi) {
      c.heat.AddPoint(lo ? *lo : *hi, rows / parts);
    }
  }
}

std::string PatternStore::PositionText(KeyType type, uint64_t pos) const {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i, pos >>= 8) key[static_cast<size_t>(i)] = static_cast<char>(pos & 0xff);
  switch (type) {
    case KeyType::kDate: key.resize(4); break;
    case KeyType::kUuid: key.resize(16, '\0'); break;
    case KeyType::kText:
    case KeyType::kBpchar:
      while (!key.empty() && key.back() == '\0') key.pop_back();
      return key;  // an 8-byte prefix for longer texts
    default: break;
  }
  std::string text = router::DecodeKeyForDisplay(type, key);
  if (!text.starts_with("<invalid")) return text;
  return fmt::format("\\x{:016x}", KeyPosition(key));
}

Json PatternStore::ColumnJson(const ColumnStats& c) const {
  uint64_t filters = 0;
  for (uint64_t n : c.by_op) filters += n;
  Json hot = Json::array();
  for (const auto& r : c.heat.HotRanges()) {
    hot.push_back({{"lower", PositionText(c.key_type, r.lower)},
                   {"upper", PositionText(c.key_type, r.upper)},
                   {"share", Share(r.share, 1.0)}});
  }
  Json top = Json::array();
  for (const auto& item : c.top.Top(10)) {
    top.push_back({{"value", item.value}, {"share", Share(static_cast<double>(item.count), static_cast<double>(c.top.total()))}});
  }
  Json out{{"column", c.name},
           {"filters", filters},
           {"by_op", {{"eq", c.by_op[0]}, {"in", c.by_op[1]}, {"range", c.by_op[2]}, {"other", c.by_op[3]}}},
           {"hot_ranges", std::move(hot)},
           {"top_values", std::move(top)}};
  if (!c.heat.empty()) {
    out["span"] = {{"lower", PositionText(c.key_type, c.heat.lowest())}, {"upper", PositionText(c.key_type, c.heat.highest())}};
    const double span = static_cast<double>(c.heat.highest() - c.heat.lowest());
    if (c.heat.MeanRangeWidth() > 0 && span > 0) out["range_width_share"] = std::min(1.0, c.heat.MeanRangeWidth() / span);
  }
  return out;
}

Json PatternStore::TenantPatterns(std::string_view tenant, std::optional<std::string_view> table,
                                  int64_t window_seconds, int64_t now) const {
  window_seconds = std::clamp<int64_t>(window_seconds, 1, options_.window_seconds);
  std::map<std::string, TableStats> tables;
  std::unordered_map<uint64_t, FingerprintStats> fingerprints;
  const std::string key(tenant);
  ForEachMinute(window_seconds, now, [&](const Minute& m) {
    auto it = m.tenants.find(key);
    if (it == m.tenants.end()) return;
    for (const auto& [name, t] : it->second.tables) {
      if (table && name != *table) continue;
      TableStats& sum = tables[name];
      sum.statements += t.statements;
      sum.reads += t.reads;
      sum.writes += t.writes;
      sum.rows += t.rows;
      sum.latency.Merge(t.latency);
      for (const ColumnStats& c : t.columns) {
        ColumnStats& s = ColumnFor(sum, c.name);
        if (s.key_type == KeyType::kUnsupported) s.key_type = c.key_type;
        for (size_t i = 0; i < s.by_op.size(); ++i) s.by_op[i] += c.by_op[i];
        s.heat.Merge(c.heat, KeyHeat::kQueryCentroids);
        s.top.Merge(c.top, TopValues::kQueryCapacity);
      }
      for (const JoinStats& j : t.joins) {
        auto jt = std::find_if(sum.joins.begin(), sum.joins.end(), [&](const JoinStats& s) { return s.left == j.left && s.right == j.right; });
        if (jt == sum.joins.end()) {
          sum.joins.push_back(j);
        } else {
          jt->count += j.count;
        }
      }
    }
    for (const auto& [fp, f] : it->second.fingerprints) {
      FingerprintStats& s = fingerprints[fp];
      s.calls += f.calls;
      s.rows += f.rows;
      s.latency_us += f.latency_us;
    }
  });

  std::vector<std::pair<const std::string*, TableStats*>> order;
  for (auto& [name, t] : tables) order.emplace_back(&name, &t);
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.second->statements > b.second->statements; });
  Json tables_json = Json::array();
  for (auto& [name, t] : order) {
    std::stable_sort(t->columns.begin(), t->columns.end(), [](const ColumnStats& a, const ColumnStats& b) {
      uint64_t fa = 0, fb = 0;
      for (size_t i = 0; i < a.by_op.size(); ++i) fa += a.by_op[i], fb += b.by_op[i];
      return fa > fb;
    });
    Json columns = Json::array();
    for (const ColumnStats& c : t->columns) columns.push_back(ColumnJson(c));
    std::sort(t->joins.begin(), t->joins.end(), [](const JoinStats& a, const JoinStats& b) { return a.count > b.count; });
    Json joins = Json::array();
    for (const JoinStats& j : t->joins) joins.push_back({{"left", j.left}, {"right", j.right}, {"count", j.count}});
    tables_json.push_back({{"table", *name},
                           {"statements", t->statements},
                           {"reads", t->reads},
                           {"writes", t->writes},
                           {"rows", t->rows},
                           {"latency_ms", {{"p50", Ms(t->latency.Quantile(0.5))}, {"p99", Ms(t->latency.Quantile(0.99))}}},
                           {"columns", std::move(columns)},
                           {"joins", std::move(joins)}});
  }
  std::vector<std::pair<uint64_t, FingerprintStats>> fps(fingerprints.begin(), fingerprints.end());
  std::sort(fps.begin(), fps.end(), [](const auto& a, const auto& b) {
    return a.second.calls != b.second.calls ? a.second.calls > b.second.calls : a.first < b.first;
  });
  if (fps.size() > 100) fps.resize(100);
  Json fps_json = Json::array();
  for (const auto& [fp, f] : fps) {
    auto text = shapes_.find(fp);
    fps_json.push_back({{"fingerprint", fmt::format("{:016x}", fp)},
                        {"query", fp == 0 ? std::string(kOtherName) : text != shapes_.end() ? text->second : std::string()},
                        {"calls", f.calls},
                        {"rows", f.rows},
                        {"mean_ms", f.calls ? Ms(static_cast<double>(f.latency_us) / static_cast<double>(f.calls)) : 0.0}});
  }
  return Json{{"tenant", tenant}, {"window_seconds", window_seconds}, {"tables", std::move(tables_json)}, {"fingerprints", std::move(fps_json)}};
}

Json PatternStore::TenantList(int64_t window_seconds, int64_t now, size_t limit) const {
  window_seconds = std::clamp<int64_t>(window_seconds, 1, options_.window_seconds);
  struct Sum {
    uint64_t statements = 0, reads = 0, writes = 0, rows = 0, latency_us = 0;
  };
  std::unordered_map<std::string, Sum> sums;
  ForEachMinute(window_seconds, now, [&](const Minute& m) {
    for (const auto& [name, tm] : m.tenants) {
      Sum& s = sums[name];
      s.statements += tm.statements;
      s.reads += tm.reads;
      s.writes += tm.writes;
      s.rows += tm.rows;
      s.latency_us += tm.latency_us;
    }
  });
  std::vector<std::pair<std::string, Sum>> order(sums.begin(), sums.end());
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second.statements != b.second.statements ? a.second.statements > b.second.statements : a.first < b.first;
  });
  const size_t total = order.size();
  if (order.size() > limit) order.resize(limit);
  Json tenants = Json::array();
  for (const auto& [name, s] : order) {
    tenants.push_back({{"tenant", name},
                       {"statements", s.statements},
                       {"reads", s.reads},
                       {"writes", s.writes},
                       {"rows", s.rows},
                       {"mean_ms", s.statements ? Ms(static_cast<double>(s.latency_us) / static_cast<double>(s.statements)) : 0.0}});
  }
  return Json{{"window_seconds", window_seconds}, {"tenant_count", total}, {"folded_tenants", folded_tenants_}, {"tenants", std::move(tenants)}};
}

size_t PatternStore::TenantBytes(const std::string& name, const TenantMinute& tm) {
  size_t bytes = sizeof(TenantMinute) + kMapNodeBytes + StringBytes(name);
  bytes += tm.fingerprints.size() * (sizeof(FingerprintStats) + sizeof(uint64_t) + kMapNodeBytes) +
           tm.fingerprints.bucket_count() * sizeof(void*);
  bytes += tm.tables.bucket_count() * sizeof(void*);
  for (const auto& [table, t] : tm.tables) {
    bytes += sizeof(TableStats) + kMapNodeBytes + StringBytes(table) + t.latency.MemoryBytes() +
             t.columns.capacity() * sizeof(ColumnStats) + t.joins.capacity() * sizeof(JoinStats) + 4 * kMallocBytes;
    for (const ColumnStats& c : t.columns) {
      bytes += StringBytes(c.name) + c.heat.MemoryBytes() + c.top.MemoryBytes() + 2 * kMallocBytes;
    }
    for (const JoinStats& j : t.joins) bytes += StringBytes(j.left) + StringBytes(j.right);
  }
  return bytes;
}

size_t PatternStore::MemoryBytes() const {
  size_t bytes = ring_.capacity() * sizeof(Minute);
  for (const Minute& m : ring_) {
    bytes += m.tenants.bucket_count() * sizeof(void*);
    for (const auto& [name, tm] : m.tenants) bytes += TenantBytes(name, tm);
  }
  for (const auto& [fp, text] : shapes_) bytes += kMapNodeBytes + sizeof(fp) + sizeof(std::string) + StringBytes(text);
  return bytes;
}

void PatternStore::FoldInto(TenantMinute& other, const TenantMinute& folded) {
  other.statements += folded.statements;
  other.reads += folded.reads;
  other.writes += folded.writes;
  other.rows += folded.rows;
  other.latency_us += folded.latency_us;
  TableStats& t = other.tables[std::string(kOtherName)];
  for (const auto& [name, s] : folded.tables) {
    t.statements += s.statements;
    t.reads += s.reads;
    t.writes += s.writes;
    t.rows += s.rows;
    t.latency.Merge(s.latency);
  }
  FingerprintStats& f = other.fingerprints[0];
  for (const auto& [fp, s] : folded.fingerprints) {
    f.calls += s.calls;
    f.rows += s.rows;
    f.latency_us += s.latency_us;
  }
}

size_t PatternStore::EnforceBudget(int64_t now) {
  size_t bytes = MemoryBytes();
  if (bytes <= options_.memory_budget_bytes) return 0;
  struct Weight {
    uint64_t statements = 0;
    size_t bytes = 0;
  };
  std::unordered_map<std::string, Weight> weights;
  ForEachMinute(options_.window_seconds, now, [&](const Minute& m) {
    for (const auto& [name, tm] : m.tenants) {
      Weight& w = weights[name];
      w.statements += tm.statements;
      w.bytes += TenantBytes(name, tm);
    }
  });
  std::vector<std::pair<std::string, Weight>> order(weights.begin(), weights.end());
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.second.statements < b.second.statements; });
  const size_t target = options_.memory_budget_bytes / 10 * 8;
  std::unordered_map<std::string, bool> fold;
  for (const auto& [name, w] : order) {
    if (bytes <= target) break;
    if (name == kOtherName) continue;
    fold[name] = true;
    bytes -= std::min(bytes, w.bytes);
  }
  for (Minute& m : ring_) {
    std::vector<std::string> names;
    for (const auto& [name, tm] : m.tenants) {
      if (fold.contains(name)) names.push_back(name);
    }
    if (names.empty()) continue;
    TenantMinute& other = m.tenants[std::string(kOtherName)];  // references survive rehashing
    for (const std::string& name : names) {
      auto it = m.tenants.find(name);
      FoldInto(other, it->second);
      m.tenants.erase(it);
    }
  }
  folded_tenants_ += fold.size();
  return fold.size();
}

std::vector<std::pair<std::string, uint64_t>> PatternStore::TopTenantCounters(size_t n) const {
  std::vector<std::pair<std::string, uint64_t>> out(tenant_counters_.begin(), tenant_counters_.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  if (out.size() > n) out.resize(n);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Checkpoints: {"version": 1, "window_seconds", "minutes": [{"minute", "tenants": {name: {...}}}],
// "shapes": {hex: text}}.

Json PatternStore::Checkpoint(int64_t now) const {
  Json minutes = Json::array();
  ForEachMinute(options_.window_seconds, now, [&](const Minute& m) {
    Json tenants = Json::object();
    for (const auto& [name, tm] : m.tenants) {
      Json tables = Json::object();
      for (const auto& [tname, t] : tm.tables) {
        Json columns = Json::array();
        for (const ColumnStats& c : t.columns) {
          columns.push_back({{"name", c.name}, {"type", static_cast<int>(c.key_type)}, {"ops", c.by_op},
                             {"heat", c.heat.ToJson()}, {"top", c.top.ToJson()}});
        }
        Json joins = Json::array();
        for (const JoinStats& j : t.joins) joins.push_back({j.left, j.right, j.count});
        tables[tname] = {{"n", {t.statements, t.reads, t.writes, t.rows}}, {"lat", t.latency.ToJson()},
                         {"columns", std::move(columns)}, {"joins", std::move(joins)}};
      }
      Json fps = Json::array();
      for (const auto& [fp, f] : tm.fingerprints) fps.push_back({fp, f.calls, f.rows, f.latency_us});
      tenants[name] = {{"n", {tm.statements, tm.reads, tm.writes, tm.rows, tm.latency_us}},
                       {"tables", std::move(tables)}, {"fps", std::move(fps)}};
    }
    minutes.push_back({{"minute", m.minute}, {"tenants", std::move(tenants)}});
  });
  Json shapes = Json::object();
  for (const auto& [fp, text] : shapes_) shapes[fmt::format("{:016x}", fp)] = text;
  return Json{{"version", 1}, {"window_seconds", options_.window_seconds}, {"minutes", std::move(minutes)},
              {"shapes", std::move(shapes)}, {"folded_tenants", folded_tenants_}};
}

Status PatternStore::Restore(const Json& state) {
  try {
    if (state.at("version").get<int>() != 1) return Status::Internal("unknown monitor checkpoint version");
    std::vector<Minute> ring(ring_.size());
    for (const auto& mj : state.at("minutes")) {
      const int64_t minute = mj.at("minute").get<int64_t>();
      Minute& m = ring[static_cast<size_t>(minute % static_cast<int64_t>(ring.size()))];
      if (m.minute > minute) continue;
      m.minute = minute;
      m.tenants.clear();
      for (const auto& [name, tj] : mj.at("tenants").items()) {
        TenantMinute& tm = m.tenants[name];
        const auto& n = tj.at("n");
        tm.statements = n.at(0);
        tm.reads = n.at(1);
        tm.writes = n.at(2);
        tm.rows = n.at(3);
        tm.latency_us = n.at(4);
        for (const auto& [tname, t] : tj.at("tables").items()) {
          TableStats& ts = tm.tables[tname];
          ts.statements = t.at("n").at(0);
          ts.reads = t.at("n").at(1);
          ts.writes = t.at("n").at(2);
          ts.rows = t.at("n").at(3);
          ts.latency = LatencySketch::FromJson(t.at("lat"));
          for (const auto& c : t.at("columns")) {
            ColumnStats cs;
            cs.name = c.at("name").get<std::string>();
            cs.key_type = static_cast<KeyType>(c.at("type").get<int>());
            cs.by_op = c.at("ops").get<std::array<uint64_t, kFilterOps>>();
            cs.heat = KeyHeat::FromJson(c.at("heat"));
            cs.top = TopValues::FromJson(c.at("top"));
            ts.columns.push_back(std::move(cs));
          }
          for (const auto& j : t.at("joins")) ts.joins.push_back(JoinStats{j.at(0), j.at(1), j.at(2)});
        }
        for (const auto& f : tj.at("fps")) {
          tm.fingerprints[f.at(0).get<uint64_t>()] = FingerprintStats{f.at(1), f.at(2), f.at(3)};
        }
      }
    }
    std::unordered_map<uint64_t, std::string> shapes;
    for (const auto& [hex, text] : state.at("shapes").items()) shapes[std::stoull(hex, nullptr, 16)] = text.get<std::string>();
    ring_ = std::move(ring);
    shapes_ = std::move(shapes);
    folded_tenants_ = state.value("folded_tenants", uint64_t{0});
  } catch (const std::exception& e) {
    return Status::Internal(fmt::format("malformed monitor checkpoint: {}", e.what()));
  }
  return Status::OK();
}

}  // namespace mosaic::monitor

// Monitor patterns JSON -> advisor inputs.
#include "advisor/patterns_input.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "advisor/key_distribution.h"
#include "router/keys.h"

namespace mosaic::advisor {
namespace {

using Json = nlohmann::json;

Status Bad(std::string message) { return Status(sqlstate::kInvalidParameterValue, std::move(message)); }

double Number(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0;
}

const catalog::Table* FindTable(const catalog::ShardMap& map, const std::string& name) {
  auto table = catalog::ParseTableName(name);
  return table.ok() ? map.FindTable(table->schema, table->name) : nullptr;
}

// The encoded key of a value text of table.column, or nullopt.
std::optional<std::string> Key(const catalog::Table* table, const std::string& column, const Json& text) {
  const catalog::Column* c = table == nullptr ? nullptr : table->FindColumn(column);
  if (c == nullptr || !text.is_string()) return std::nullopt;
  auto key = router::EncodeKey(router::KeyTypeFromName(c->type), text.get<std::string>());
  if (!key.ok()) return std::nullopt;
  return std::move(key).value();
}

// Heat of one column. Its hot ranges (else its top values) carry their shares of the column's
// filters. A hot range's upper is inclusive, but its bucket ends at it ([lower, upper)): the key
// "just after" upper is not a value of every type (upper plus a 0 byte is no int8 or text key),
// and a bucket end may become a split point that must be a value of the column's type. Only the
// upper value's own share is misplaced, by one key; a range of one value stays a point mass.
//
// The rest of the filters (all of them under a uniform load, which has no hot range) fell
// somewhere in the column's accessed span: it is spread over the span outside the hot ranges, by
// rows where the engine knows the data distribution (by_rows), else by key width. Leaving it out
// would hand the whole column's cost to the hot ranges, however small their share.
ColumnHeat HeatOf(const catalog::Table* table, const std::string& name, const Json& column, double statements) {
  ColumnHeat heat{name, column.value("column", ""), {}};
  const Json empty = Json::array();
  const Json& hot = column.contains("hot_ranges") && column["hot_ranges"].is_array() ? column["hot_ranges"] : empty;
  double shares = 0;
  for (const auto& r : hot) {
    auto lo = Key(table, heat.column, r.value("lower", Json()));
    auto hi = Key(table, heat.column, r.value("upper", Json()));
    if (!lo || !hi) continue;
    heat.buckets.push_back({*lo, *hi, Number(r, "share") * statements});
    shares += Number(r, "share");
  }
  if (heat.buckets.empty() && column.contains("top_values") && column["top_values"].is_array()) {
    for (const auto& v : column["top_values"]) {
      if (auto k = Key(table, heat.column, v.value("value", Json()))) {
        heat.buckets.push_back({*k, *k, Number(v, "share") * statements});
        shares += Number(v, "share");
      }
    }
  }
  const Json span = column.value("span", Json());
  auto lower = Key(table, heat.column, span.is_object() ? span.value("lower", Json()) : Json());
  auto upper = Key(table, heat.column, span.is_object() ? span.value("upper", Json()) : Json());
  const double rest = std::max(0.0, 1.0 - shares) * statements;
  if (!lower || !upper || *upper < *lower || rest <= 0) return heat;
  std::vector<HeatBucket> gaps;
  std::vector<HeatBucket> taken = heat.buckets;
  std::sort(taken.begin(), taken.end(), [](const HeatBucket& a, const HeatBucket& b) { return a.lower < b.lower; });
  std::string from = *lower;
  for (const auto& b : taken) {
    if (b.lower > from) gaps.push_back({from, std::min(b.lower, *upper), 0, true});
    from = std::max(from, b.upper);
  }
  if (from < *upper) gaps.push_back({from, *upper, 0, true});
  long double width = 0;
  for (const auto& g : gaps) width += KeyPosition(g.upper) - KeyPosition(g.lower);
  if (gaps.empty() || width <= 0) {  // one key, or hot ranges over the whole span
    heat.buckets.push_back({*lower, *upper, rest, *lower < *upper});
    return heat;
  }
  for (auto& g : gaps) {
    g.weight = static_cast<double>(rest * (KeyPosition(g.upper) - KeyPosition(g.lower)) / width);
    if (g.weight > 0) heat.buckets.push_back(std::move(g));
  }
  return heat;
}

// The key at a position (KeyPosition's first 8 bytes): only compared with keys, never a value.
std::string PositionKey(long double pos) {
  const auto v = static_cast<uint64_t>(std::clamp<long double>(pos, 0, 18446744073709551615.0L));
  std::string key(8, '\0');
  for (int i = 0; i < 8; ++i) key[static_cast<size_t>(i)] = static_cast<char>((v >> (56 - 8 * i)) & 0xff);
  return key;
}

// Spans of a column's range filters when the monitor knows their mean width (`width_share` of the
// accessed span) but not where each one lay: each heat bucket tiled with spans of about that width
// carrying its weight, so that a boundary cuts about width/bucket of the bucket's filters (at most
// kTiles per bucket; finer than that a boundary cuts a negligible share anyway).
std::vector<KeySpan> RangeSpans(const ColumnHeat& heat, double width_share) {
  constexpr long double kTiles = 64;
  std::vector<KeySpan> spans;
  if (width_share <= 0 || heat.buckets.empty()) return spans;
  std::string lowest = heat.buckets[0].lower, highest = heat.buckets[0].upper;
  for (const auto& b : heat.buckets) lowest = std::min(lowest, b.lower), highest = std::max(highest, b.upper);
  const long double width = width_share * (KeyPosition(highest) - KeyPosition(lowest));
  for (const auto& b : heat.buckets) {
    const long double from = KeyPosition(b.lower), to = KeyPosition(b.upper);
    const long double n = width > 0 && to > from ? std::clamp<long double>(std::ceil((to - from) / width), 1, kTiles) : 1;
    for (int i = 0; i < static_cast<int>(n); ++i) {
      spans.push_back({i == 0 ? b.lower : PositionKey(from + (to - from) * i / n),
                       i + 1 == static_cast<int>(n) ? b.upper : PositionKey(from + (to - from) * (i + 1) / n),
                       b.weight / static_cast<double>(n)});
    }
  }
  return spans;
}

// "schema.table.column" or "table.column" -> (table, column).
std::optional<std::pair<std::string, std::string>> SplitColumn(const Json& j) {
  if (!j.is_string()) return std::nullopt;
  const std::string s = j.get<std::string>();
  const auto dot = s.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == s.size()) return std::nullopt;
  return std::pair(s.substr(0, dot), s.substr(dot + 1));
}

}  // namespace

Result<TenantInput> TenantInputFromPatterns(const Json& patterns, const catalog::ShardMap& map) {
  if (!patterns.is_object() || !patterns.contains("tables") || !patterns["tables"].is_array()) {
    return Bad("tables: the patterns of one tenant must have a \"tables\" array");
  }
  TenantInput in;
  if (patterns.contains("tenant") && patterns["tenant"].is_string()) in.tenant = patterns["tenant"].get<std::string>();
  std::vector<TableActivity> activity;
  std::map<std::pair<std::string, std::string>, std::vector<KeySpan>> range_spans;  // by (table, column)
  for (size_t i = 0; i < patterns["tables"].size(); ++i) {
    const Json& t = patterns["tables"][i];
    if (!t.is_object() || !t.contains("table") || !t["table"].is_string()) {
      return Bad(fmt::format("tables[{}].table: required, a table name", i));
    }
    const std::string name = t["table"].get<std::string>();
    const catalog::Table* table = FindTable(map, name);
    TableActivity a{name, Number(t, "statements"), Number(t, "writes"), 0, {}};
    const double p50 = t.contains("latency_ms") ? Number(t["latency_ms"], "p50") : 0.0;
    if (t.contains("latency_ms")) in.workload.p99_ms = std::max(in.workload.p99_ms, Number(t["latency_ms"], "p99"));
    a.cost = p50 > 0 ? a.statements * p50 : a.statements;
    if (t.contains("columns") && t["columns"].is_array()) {
      for (const auto& c : t["columns"]) {
        if (!c.is_object() || !c.contains("column") || !c["column"].is_string()) continue;
        const Json ops = c.value("by_op", Json::object());
        a.columns.push_back({c["column"].get<std::string>(), Number(ops, "eq"), Number(ops, "in"), Number(ops, "range"),
                             Number(ops, "other")});
        ColumnHeat heat = HeatOf(table, name, c, Number(c, "filters"));
        if (heat.buckets.empty()) continue;
        range_spans[{name, heat.column}] = RangeSpans(heat, Number(c, "range_width_share"));
        in.workload.heat.push_back(std::move(heat));
      }
    }
    if (t.contains("joins") && t["joins"].is_array()) {
      for (const auto& j : t["joins"]) {
        auto l = SplitColumn(j.value("left", Json())), r = SplitColumn(j.value("right", Json()));
        if (l && r) in.workload.joins.push_back({l->first, l->second, r->first, r->second, Number(j, "count")});
      }
    }
    activity.push_back(std::move(a));
  }
  in.workload.statements = StatementsFromActivity(activity);
  for (auto& statement : in.workload.statements) {
    for (auto& filter : statement.filters) {
      auto spans = range_spans.find({filter.table, filter.column});
      if (filter.op == FilterOp::kRange && spans != range_spans.end()) filter.spans = spans->second;
    }
  }
  return in;
}

}  // namespace mosaic::advisor

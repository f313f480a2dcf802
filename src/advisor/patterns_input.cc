// Monitor patterns JSON -> advisor inputs.
#include "advisor/patterns_input.h"

#include <fmt/format.h>

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

// Heat of one column: hot ranges, else top values. A hot range's upper is inclusive, but its bucket
// ends at it ([lower, upper)): the key "just after" upper is not a value of every type (upper plus
// a 0 byte is no int8 or text key), and a bucket end may become a split point that must be a
// value of the column's type. Only the upper value's own share is misplaced, by one key; a range
// of one value stays a point mass.
ColumnHeat HeatOf(const catalog::Table* table, const std::string& name, const Json& column, double statements) {
  ColumnHeat heat{name, column.value("column", ""), {}};
  const Json empty = Json::array();
  const Json& hot = column.contains("hot_ranges") && column["hot_ranges"].is_array() ? column["hot_ranges"] : empty;
  for (const auto& r : hot) {
    auto lo = Key(table, heat.column, r.value("lower", Json()));
    auto hi = Key(table, heat.column, r.value("upper", Json()));
    if (lo && hi) heat.buckets.push_back({*lo, *hi, Number(r, "share") * statements});
  }
  if (!heat.buckets.empty() || !column.contains("top_values") || !column["top_values"].is_array()) return heat;
  for (const auto& v : column["top_values"]) {
    if (auto k = Key(table, heat.column, v.value("value", Json()))) heat.buckets.push_back({*k, *k, Number(v, "share") * statements});
  }
  return heat;
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
        if (!heat.buckets.empty()) in.workload.heat.push_back(std::move(heat));
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
  return in;
}

}  // namespace mosaic::advisor

#include "admin/advice_api.h"

#include <charconv>

#include "advisor/advice_json.h"
#include "advisor/engine.h"
#include "advisor/patterns_input.h"

namespace mosaic::admin {

using Json = nlohmann::json;

std::pair<int, Json> AdviceRequest(const AdviceSources& sources,
                                   const std::map<std::string, std::string>& query) {
  if (sources.monitor == nullptr) {
    return {503, {{"error", "the query pattern monitor is off (monitor.enabled = false): no workload to advise on"}}};
  }
  auto tenant_it = query.find("tenant");
  if (tenant_it == query.end() || tenant_it->second.empty()) {
    return {400, {{"error", "tenant: give the tenant to advise on (GET /api/v1/patterns lists them)"}}};
  }
  int64_t window = sources.monitor->window_seconds();
  if (auto w = query.find("window"); w != query.end()) {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(w->second.data(), w->second.data() + w->second.size(), v);
    if (ec != std::errc() || end != w->second.data() + w->second.size() || v <= 0) {
      return {400, {{"error", "window: must be a positive number of seconds"}}};
    }
    window = std::min(v, window);
  }
  const std::string& tenant = tenant_it->second;
  auto map = sources.shard_map->Snapshot();
  const Json patterns = sources.monitor->Patterns(tenant, std::nullopt, window);

  auto parsed = advisor::TenantInputFromPatterns(patterns, *map);
  if (!parsed.ok()) return {500, {{"error", "the monitor's patterns do not parse: " + parsed.status().message()}}};
  advisor::TenantInput input = std::move(parsed).value();
  if (input.tenant == "(implicit)") input.tenant = "";  // the monitor's name of the implicit tenant
  // The monitor counts range and IN filters by column but keeps no per-statement span; where it
  // saw the column's accessed keys (its hot ranges), take those as the filters' spans, so that
  // narrow range filters over a hot window count as single-node once split (instead of the
  // engine's coin flip for unknown spans).
  for (auto& statement : input.workload.statements) {
    for (auto& filter : statement.filters) {
      if (!filter.spans.empty() || (filter.op != advisor::FilterOp::kRange && filter.op != advisor::FilterOp::kIn)) continue;
      for (const auto& heat : input.workload.heat) {
        if (heat.table != filter.table || heat.column != filter.column) continue;
        for (const auto& b : heat.buckets) filter.spans.push_back({b.lower, b.upper, b.weight});
      }
    }
  }
  // Per table, the columns the window filtered on: their distributions are read with the sizes.
  std::map<std::string, std::vector<std::string>> columns;
  for (const Json& t : patterns.value("tables", Json::array())) {
    auto& cols = columns[t.value("table", std::string())];
    for (const Json& c : t.value("columns", Json::array())) cols.push_back(c.value("column", std::string()));
  }
  columns.erase("");
  std::vector<std::string> tables;
  for (const auto& [table, cols] : columns) tables.push_back(table);
  double stats_age = 0;
  if (!tables.empty()) {
    auto stats = sources.stats->Get(*map, input.tenant, tables, columns);
    if (!stats.ok()) {
      return {503, {{"error", "cannot read the data statistics: " + stats.status().message()}}};
    }
    input.stats = std::move(stats->first);
    stats_age = stats->second;
  }
  const advisor::ProfileSet profiles = sources.profiles();
  std::string catalog_profile;
  for (const auto& t : map->tenants) {
    if (t.key == input.tenant) catalog_profile = t.profile;
  }
  const advisor::Profile& profile = profiles.ForTenant(input.tenant, catalog_profile);
  advisor::Plan plan = advisor::PlanTenant(*map, {}, input, profile);
  Json out = advisor::AdviceJson(plan);
  out["tenant"] = tenant;
  out["window_seconds"] = window;
  out["statistics_age_seconds"] = stats_age;
  return {200, out};
}

}  // namespace mosaic::admin

#include "admin/advice_api.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "admin/layout_api.h"
#include "advisor/advice_json.h"
#include "advisor/engine.h"
#include "advisor/patterns_input.h"

namespace mosaic::admin {

using Json = nlohmann::json;

namespace {

constexpr std::string_view kImplicitTenant = "(implicit)";  // the monitor's name of the implicit tenant

Status BadRequest(std::string message) { return Status(sqlstate::kInvalidParameterValue, std::move(message)); }

std::pair<int, Json> MonitorOff() {
  return {503, {{"error", "the query pattern monitor is off (monitor.enabled = false): no workload to advise on"}}};
}

// A JSON scalar as a tenant key: strings as they are, numbers as written; null is the implicit
// tenant.
std::optional<std::string> TenantText(const Json& v) {
  if (v.is_null()) return std::string(kImplicitTenant);
  if (v.is_string() && !v.get<std::string>().empty()) return v.get<std::string>();
  if (v.is_number_integer()) return v.dump();
  return std::nullopt;
}

}  // namespace

namespace {

void SetStatistics(const Result<std::pair<std::vector<advisor::TableStats>, double>>& stats, TenantWindow& w) {
  if (!stats.ok()) {
    w.status = 503;
    w.error = {{"error", "cannot read the data statistics: " + stats.status().message()}};
    return;
  }
  w.input.stats = stats->first;
  w.stats_age = stats->second;
}

}  // namespace

void RefreshStatistics(const AdviceSources& sources, TenantWindow& w) {
  w.cached.reset();
  if (w.tables.empty()) return;
  SetStatistics(sources.stats->Get(*w.map, w.input.tenant, w.tables, w.columns, std::chrono::seconds(0)), w);
}

TenantWindow ReadTenantWindow(const AdviceSources& sources, const std::string& tenant, std::optional<int64_t> window,
                              std::shared_ptr<const catalog::ShardMap> map, bool cached_only) {
  TenantWindow out;
  out.window = sources.monitor->window_seconds();
  if (window) out.window = std::min(*window, out.window);
  out.map = map ? std::move(map) : sources.shard_map->Snapshot();
  const Json patterns = sources.monitor->Patterns(tenant, std::nullopt, out.window);

  auto parsed = advisor::TenantInputFromPatterns(patterns, *out.map);
  if (!parsed.ok()) {
    out.status = 500;
    out.error = {{"error", "the monitor's patterns do not parse: " + parsed.status().message()}};
    return out;
  }
  out.input = std::move(parsed).value();
  out.input.tenant = tenant == kImplicitTenant ? "" : tenant;  // also when the window has none of it
  // The monitor keeps no per-statement span. Range filters whose mean width it knows got spans of
  // that width (TenantInputFromPatterns); for the other range and IN filters, where it saw the
  // column's hot ranges, take those as the filters' spans, so that narrow range filters over a hot
  // window count as single-node once split (instead of the engine's coin flip for unknown spans).
  // Not the rest of the column's accesses (by_rows buckets): a span over all keys would forbid
  // every split point.
  for (auto& statement : out.input.workload.statements) {
    for (auto& filter : statement.filters) {
      if (!filter.spans.empty() || (filter.op != advisor::FilterOp::kRange && filter.op != advisor::FilterOp::kIn)) continue;
      for (const auto& heat : out.input.workload.heat) {
        if (heat.table != filter.table || heat.column != filter.column) continue;
        for (const auto& b : heat.buckets) {
          if (!b.by_rows) filter.spans.push_back({b.lower, b.upper, b.weight});
        }
      }
    }
  }
  // Per table, the columns the window filtered on: their distributions are read with the sizes.
  for (const Json& t : patterns.value("tables", Json::array())) {
    auto& cols = out.columns[t.value("table", std::string())];
    for (const Json& c : t.value("columns", Json::array())) cols.push_back(c.value("column", std::string()));
  }
  out.columns.erase("");
  for (const auto& [table, cols] : out.columns) out.tables.push_back(table);
  if (out.tables.empty()) return out;
  if (!cached_only) {
    SetStatistics(sources.stats->Get(*out.map, out.input.tenant, out.tables, out.columns), out);
    return out;
  }
  out.cached = sources.stats->Peek(*out.map, out.input.tenant, out.tables, out.columns);
  if (out.cached) {
    out.input.stats = out.cached->stats;
    out.stats_age = out.cached->age_s;
  }
  return out;
}

std::pair<int, Json> AdviceRequest(const AdviceSources& sources,
                                   const std::map<std::string, std::string>& query) {
  if (sources.monitor == nullptr) return MonitorOff();
  auto tenant_it = query.find("tenant");
  if (tenant_it == query.end() || tenant_it->second.empty()) {
    return {400, {{"error", "tenant: give the tenant to advise on (GET /api/v1/patterns lists them)"}}};
  }
  std::optional<int64_t> window;
  if (auto w = query.find("window"); w != query.end()) {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(w->second.data(), w->second.data() + w->second.size(), v);
    if (ec != std::errc() || end != w->second.data() + w->second.size() || v <= 0) {
      return {400, {{"error", "window: must be a positive number of seconds"}}};
    }
    window = v;
  }
  const std::string& tenant = tenant_it->second;
  TenantWindow w = ReadTenantWindow(sources, tenant, window);
  if (w.status != 200) return {w.status, w.error};
  const advisor::ProfileSet profiles = sources.profiles();
  std::string catalog_profile;
  for (const auto& t : w.map->tenants) {
    if (t.key == w.input.tenant) catalog_profile = t.profile;
  }
  const advisor::Profile& profile = profiles.ForTenant(w.input.tenant, catalog_profile);
  advisor::Plan plan = advisor::PlanTenant(*w.map, {}, w.input, profile);
  Json out = advisor::AdviceJson(plan);
  out["tenant"] = tenant;
  out["window_seconds"] = w.window;
  out["statistics_age_seconds"] = w.stats_age;
  return {200, out};
}

Result<EvaluateRequestBody> ParseEvaluateRequest(const Json& body, const catalog::ShardMap& map) {
  if (!body.is_object()) return BadRequest("body: must be a JSON object");
  static const std::set<std::string> kFields = {"tenant", "window", "layouts", "table", "tables", "column", "ranges"};
  for (const auto& [key, value] : body.items()) {
    if (!kFields.contains(key)) return BadRequest(fmt::format("{}: unknown field", key));
  }
  EvaluateRequestBody out;
  if (body.contains("window")) {
    const Json& w = body["window"];
    if (!w.is_number_integer() || w.get<int64_t>() <= 0) return BadRequest("window: must be a positive number of seconds");
    out.window = w.get<int64_t>();
  }
  const bool one = body.contains("table") || body.contains("tables") || body.contains("column") || body.contains("ranges");
  if (one && body.contains("layouts")) {
    return BadRequest("layouts: give either one layout (table, column, ranges) or \"layouts\", not both");
  }
  if (!one && !body.contains("layouts")) {
    if (!body.contains("tenant")) return BadRequest("tenant: give the tenant (its current layouts are evaluated), or layouts");
    auto tenant = TenantText(body["tenant"]);
    if (!tenant) return BadRequest("tenant: must be a non-empty string, an integer or null");
    out.tenant = *tenant;
    return out;
  }
  std::vector<std::pair<std::string, Json>> requests;  // (field prefix, layout request)
  if (one) {
    Json layout = body;
    layout.erase("window");
    requests.emplace_back("", std::move(layout));
  } else {
    const Json& list = body["layouts"];
    if (!list.is_array() || list.empty()) return BadRequest("layouts: must be a non-empty array of layouts");
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string field = fmt::format("layouts[{}]", i);
      if (!list[i].is_object()) return BadRequest(field + ": must be an object (a layout)");
      Json layout = list[i];
      if (!layout.contains("tenant") && body.contains("tenant")) layout["tenant"] = body["tenant"];
      requests.emplace_back(field + ".", std::move(layout));
    }
  }
  std::optional<std::string> tenant;
  std::map<int64_t, std::string> table_field;  // table id -> the layout that names it
  for (const auto& [prefix, request] : requests) {
    auto layout = ParseLayoutRequest(request, map);
    if (!layout.ok()) return Status(layout.status().sqlstate(), prefix + layout.status().message());
    if (tenant && *tenant != layout->tenant) {
      return BadRequest(fmt::format("{}tenant: layouts of one tenant only (\"{}\", then \"{}\")", prefix,
                                    tenant->empty() ? kImplicitTenant : std::string_view(*tenant),
                                    layout->tenant.empty() ? kImplicitTenant : std::string_view(layout->tenant)));
    }
    tenant = layout->tenant;
    for (int64_t id : layout->table_ids) {
      auto [it, added] = table_field.emplace(id, prefix.empty() ? "layout" : prefix.substr(0, prefix.size() - 1));
      if (!added) {
        auto t = std::find_if(map.tables.begin(), map.tables.end(), [&](const catalog::Table& x) { return x.id == id; });
        return BadRequest(fmt::format("{}tables: \"{}\" is in {} already; a table has one layout", prefix,
                                      t == map.tables.end() ? std::to_string(id) : t->schema + "." + t->name, it->second));
      }
    }
    out.layouts.push_back(std::move(layout).value());
  }
  out.tenant = tenant->empty() ? std::string(kImplicitTenant) : *tenant;
  return out;
}

std::vector<catalog::Layout> LayoutsWithPosted(const catalog::ShardMap& map, const std::string& tenant,
                                               const std::vector<catalog::Layout>& posted) {
  std::set<int64_t> named;
  for (const auto& l : posted) named.insert(l.table_ids.begin(), l.table_ids.end());
  std::vector<catalog::Layout> out;
  for (const auto& l : map.layouts) {
    if (l.tenant != tenant) continue;
    catalog::Layout kept = l;
    std::erase_if(kept.table_ids, [&](int64_t id) { return named.contains(id); });
    if (!kept.table_ids.empty()) out.push_back(std::move(kept));
  }
  out.insert(out.end(), posted.begin(), posted.end());
  return out;
}

std::pair<int, Json> EvaluateRequest(const AdviceSources& sources, const Json& body) {
  if (sources.monitor == nullptr) return MonitorOff();
  auto request = ParseEvaluateRequest(body, *sources.shard_map->Snapshot());
  if (!request.ok()) return {400, {{"error", request.status().message()}}};
  TenantWindow w = ReadTenantWindow(sources, request->tenant, request->window);
  if (w.status != 200) return {w.status, w.error};
  const advisor::Metrics current = advisor::EvaluateCurrent(*w.map, {}, w.input);
  const std::vector<catalog::Layout> layouts = LayoutsWithPosted(*w.map, w.input.tenant, request->layouts);
  const advisor::Metrics evaluated =
      request->layouts.empty() ? current : advisor::EvaluateLayouts(*w.map, {}, w.input, layouts);
  Json rendered = Json::array();
  for (const auto& l : layouts) rendered.push_back(advisor::LayoutRequestJson(*w.map, l));
  return {200, {{"tenant", request->tenant},
                {"window_seconds", w.window},
                {"statistics_age_seconds", w.stats_age},
                {"layouts", rendered},
                {"current", advisor::MetricsJson(current)},
                {"evaluated", advisor::MetricsJson(evaluated)}}};
}

}  // namespace mosaic::admin

#include "admin/patterns_api.h"

#include <charconv>
#include <optional>

namespace mosaic::admin {
namespace {

using Json = nlohmann::json;

std::pair<int, Json> BadParameter(const std::string& name, const std::string& why) {
  return {400, Json{{"error", "parameter \"" + name + "\": " + why}}};
}

// A positive integer parameter; nullopt when absent. Sets *error for a malformed value.
std::optional<int64_t> PositiveParam(const std::map<std::string, std::string>& query, const std::string& name,
                                     std::optional<std::pair<int, Json>>* error) {
  auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  int64_t value = 0;
  const char* end = it->second.data() + it->second.size();
  auto [ptr, ec] = std::from_chars(it->second.data(), end, value);
  if (ec != std::errc() || ptr != end || value <= 0) {
    *error = BadParameter(name, "expected a positive whole number, got \"" + it->second + "\"");
  }
  return value;
}

}  // namespace

std::pair<int, Json> PatternsRequest(monitor::Monitor* monitor, const std::map<std::string, std::string>& query) {
  if (monitor == nullptr) return {503, Json{{"error", "the query pattern monitor is off (monitor.enabled = false)"}}};
  std::optional<std::pair<int, Json>> error;
  const auto window = PositiveParam(query, "window", &error);
  const auto limit = PositiveParam(query, "limit", &error);
  if (error) return *error;
  const int64_t seconds = window.value_or(monitor->window_seconds());
  auto tenant = query.find("tenant");
  auto table = query.find("table");
  if (table != query.end() && table->second.empty()) return BadParameter("table", "must not be empty");
  if (tenant == query.end()) {
    if (table != query.end()) return BadParameter("table", "needs a tenant");
    return {200, monitor->TenantList(seconds, static_cast<size_t>(limit.value_or(100)))};
  }
  if (tenant->second.empty()) return BadParameter("tenant", "must not be empty");
  std::optional<std::string_view> only;
  if (table != query.end()) only = table->second;
  return {200, monitor->Patterns(tenant->second, only, seconds)};
}

void WriteMonitorMetrics(monitor::Monitor& monitor, MetricsWriter& m, size_t top_tenants) {
  const auto s = monitor.GetStats(top_tenants);
  m.Counter("mosaic_monitor_events_total", "Statements recorded by the query pattern monitor.", static_cast<double>(s.recorded));
  m.Counter("mosaic_monitor_events_dropped_total", "Monitor events dropped because a worker's ring was full.", static_cast<double>(s.dropped));
  m.Gauge("mosaic_monitor_memory_bytes", "Approximate memory held by the monitor's windows.", static_cast<double>(s.memory_bytes));
  m.Counter("mosaic_monitor_folded_tenants_total", "Tenants folded into \"(other)\" under the memory budget.", static_cast<double>(s.folded_tenants));
  m.Counter("mosaic_monitor_checkpoints_total", "Monitor checkpoints saved to the catalog.", static_cast<double>(s.checkpoints));
  m.Counter("mosaic_monitor_checkpoint_errors_total", "Monitor checkpoints that failed.", static_cast<double>(s.checkpoint_errors));
  for (size_t id = 0; id < s.node_statements.size(); ++id) {
    if (s.node_statements[id] == 0) continue;
    m.Counter("mosaic_node_statements_total", "Statements that ran on the node (monitored statements).",
              static_cast<double>(s.node_statements[id]), {{"node", std::to_string(id)}});
  }
  for (const auto& [tenant, n] : s.top_tenants) {
    m.Counter("mosaic_tenant_statements_total", "Statements of the busiest tenants since start.", static_cast<double>(n),
              {{"tenant", tenant}});
  }
}

}  // namespace mosaic::admin

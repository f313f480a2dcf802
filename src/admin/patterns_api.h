// The monitor's admin surface: GET /api/v1/patterns and the monitor's Prometheus samples.
// Runs on the admin server's threads; reads the monitor through its thread-safe queries.
#pragma once

#include <map>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "admin/metrics.h"
#include "monitor/monitor.h"

namespace mosaic::admin {

// GET /api/v1/patterns?tenant=T[&table=][&window=SECONDS]: 200 with the tenant's patterns
// (monitor::PatternStore::TenantPatterns). Without tenant: the tenants by load
// (TenantList, at most `limit`, default 100). window defaults to the monitor's window and is
// clamped to it. 400 naming the parameter for a window or limit that is not a positive
// integer, or an empty tenant or table; 503 when the monitor is off (`monitor` null).
std::pair<int, nlohmann::json> PatternsRequest(monitor::Monitor* monitor,
                                               const std::map<std::string, std::string>& query);

// mosaic_monitor_* samples, per-node statements (mosaic_node_statements_total) and the top
// `top_tenants` tenants' statements (mosaic_tenant_statements_total).
void WriteMonitorMetrics(monitor::Monitor& monitor, MetricsWriter& m, size_t top_tenants = 10);

}  // namespace mosaic::admin

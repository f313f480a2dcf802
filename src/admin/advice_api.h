// GET /api/v1/advice: the advisor's plan for one tenant, from what the monitor saw of it over the
// window, the data statistics of its tables (read from the nodes, cached), its storage profile
// and the current shard map. Runs on the admin server's threads (blocks on the nodes).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "advisor/profile.h"
#include "catalog/data_stats.h"
#include "catalog/shard_map.h"
#include "monitor/monitor.h"

namespace mosaic::admin {

struct AdviceSources {
  monitor::Monitor* monitor = nullptr;  // null: the monitor is off (503)
  catalog::ShardMapHolder* shard_map = nullptr;
  std::function<advisor::ProfileSet()> profiles;
  catalog::DataStatsCache* stats = nullptr;
};

// GET /api/v1/advice?tenant=T[&window=SECONDS]: 200 with advisor::AdviceJson of the tenant's
// plan ({"tenant", "profile", "summary", "current", "actions", "predicted"}) plus
// "window_seconds" and "statistics_age_seconds". tenant is the monitor's tenant key
// ("(implicit)" for single-tenant tables). 400 naming the parameter (missing or empty tenant, a
// window that is not a positive integer); 503 with the monitor off or a node unreachable.
// The tenant is planned against an otherwise empty cluster (other tenants' load is not yet
// weighed in).
std::pair<int, nlohmann::json> AdviceRequest(const AdviceSources& sources,
                                             const std::map<std::string, std::string>& query);

}  // namespace mosaic::admin

// GET /api/v1/advice: the advisor's plan for one tenant, from what the monitor saw of it over the
// window, the data statistics of its tables (read from the nodes, cached), its storage profile
// and the current shard map. POST /api/v1/advice/evaluate: the what-if, the same metrics for a
// layout the client posts. Runs on the admin server's threads (blocks on the nodes).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <optional>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "advisor/profile.h"
#include "catalog/data_stats.h"
#include "catalog/shard_map.h"
#include "common/status.h"
#include "monitor/monitor.h"

namespace mosaic::admin {

struct AdviceSources {
  monitor::Monitor* monitor = nullptr;  // null: the monitor is off (503)
  catalog::ShardMapHolder* shard_map = nullptr;
  std::function<advisor::ProfileSet()> profiles;
  catalog::DataStatsCache* stats = nullptr;
};

// What the advisor reads of one tenant: its window from the monitor (at most `window` seconds;
// nullopt = the monitor's whole window), the statistics of the tables it filtered, against one
// shard map snapshot (`map`, or the holder's current one). On failure `status` is the HTTP status
// (500 patterns that do not parse, 503 statistics unreadable) and `error` the reply.
// REQUIRES: sources.monitor != nullptr.
// With `cached_only`, the statistics are only those the cache holds, however old (no I/O):
// `cached` says how they stand, and RefreshStatistics reads them when the caller decides to.
struct TenantWindow {
  int status = 200;
  nlohmann::json error;
  std::shared_ptr<const catalog::ShardMap> map;
  advisor::TenantInput input;
  int64_t window = 0;
  double stats_age = 0;
  std::vector<std::string> tables;                          // whose statistics the tenant needs
  std::map<std::string, std::vector<std::string>> columns;  // by table: the columns filtered on
  std::optional<catalog::DataStatsCache::Cached> cached;    // cached_only: nullopt = never read
};
TenantWindow ReadTenantWindow(const AdviceSources& sources, const std::string& tenant, std::optional<int64_t> window,
                              std::shared_ptr<const catalog::ShardMap> map = nullptr, bool cached_only = false);

// Reads `w`'s statistics from the nodes now (into w.input.stats, w.stats_age 0, w.cached reset).
// On failure w.status is 503 and w.error says why.
void RefreshStatistics(const AdviceSources& sources, TenantWindow& w);

// GET /api/v1/advice?tenant=T[&window=SECONDS]: 200 with advisor::AdviceJson of the tenant's
// plan ({"tenant", "profile", "summary", "current", "actions", "predicted"}) plus
// "window_seconds" and "statistics_age_seconds". tenant is the monitor's tenant key
// ("(implicit)" for single-tenant tables). 400 naming the parameter (missing or empty tenant, a
// window that is not a positive integer); 503 with the monitor off or a node unreachable.
// The tenant is planned against an otherwise empty cluster (other tenants' load is not yet
// weighed in).
std::pair<int, nlohmann::json> AdviceRequest(const AdviceSources& sources,
                                             const std::map<std::string, std::string>& query);

// A what-if request, read against a shard map.
struct EvaluateRequestBody {
  std::string tenant;                    // the monitor's tenant key ("(implicit)" for "")
  std::vector<catalog::Layout> layouts;  // as posted (ids 0); empty: the current layouts
  std::optional<int64_t> window;         // seconds
};

// Reads the body of POST /api/v1/advice/evaluate. Three forms:
//   {"tenant": T}                                  the tenant's current layouts
//   {layout request}                               one layout, as POST /api/v1/layout takes it
//   {"tenant": T, "layouts": [{layout request}, ...]}  several (each may omit "tenant")
// each with an optional "window": SECONDS. Layouts must be of one tenant and name each table
// once. On a bad body returns a Status whose message names the field ("layouts[1].ranges[0].upper:
// ..."), as ParseLayoutRequest's (HTTP 400).
Result<EvaluateRequestBody> ParseEvaluateRequest(const nlohmann::json& body, const catalog::ShardMap& map);

// The tenant's layouts if `posted` replaced the current ones of the tables they name: the
// current layouts of `tenant` (canonical) without those tables, then `posted`.
std::vector<catalog::Layout> LayoutsWithPosted(const catalog::ShardMap& map, const std::string& tenant,
                                               const std::vector<catalog::Layout>& posted);

// POST /api/v1/advice/evaluate: 200 with {"tenant", "window_seconds", "statistics_age_seconds",
// "layouts": [the evaluated layouts as POST /api/v1/layout bodies], "current": {metrics},
// "evaluated": {metrics}} (metrics as in GET /api/v1/advice; bytes_to_move against the current
// shard map). 400 naming the field of a bad body; 503 as AdviceRequest. Like the advice, against an
// otherwise empty cluster.
std::pair<int, nlohmann::json> EvaluateRequest(const AdviceSources& sources, const nlohmann::json& body);

}  // namespace mosaic::admin

#include "admin/rebalancer_api.h"

#include <algorithm>
#include <charconv>

#include "monitor/event.h"

namespace mosaic::admin {

using Json = nlohmann::json;

namespace {

std::optional<int64_t> Integer(const std::map<std::string, std::string>& query, const std::string& key) {
  auto it = query.find(key);
  if (it == query.end()) return std::nullopt;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  if (ec != std::errc() || end != it->second.data() + it->second.size()) return INT64_MIN;
  return v;
}

}  // namespace

namespace {

bool Migrating(const catalog::ShardMap& map, const std::string& tenant) {
  return std::any_of(map.migrations.begin(), map.migrations.end(),
                     [&](const catalog::ActiveMigration& m) { return m.tenant == tenant; });
}

}  // namespace

Result<rebalancer::Inputs> MonitorSource::Read(int64_t window_s, int max_tenants) {
  const AdviceSources sources = sources_();
  if (sources.monitor == nullptr) return Status::Error("55000", "the query pattern monitor is off: nothing to plan from");
  rebalancer::Inputs out;
  auto map = sources.shard_map->Snapshot();
  out.map = map;
  out.profiles = sources.profiles();
  const Json list = sources.monitor->TenantList(window_s, static_cast<size_t>(max_tenants));
  std::vector<TenantWindow> windows;
  for (const Json& t : list.value("tenants", Json::array())) {
    const std::string name = t.value("tenant", std::string());
    // Statements over several tenants, and tenants folded under the memory budget, are no tenant
    // to plan for (their load still shows in the nodes' totals through the planned tenants' data).
    if (name.empty() || name == monitor::kMultiTenant || name == monitor::kOtherName) continue;
    windows.push_back(ReadTenantWindow(sources, name, window_s, map, /*cached_only=*/true));
    if (windows.back().status != 200) return Status::Error("08006", windows.back().error.value("error", windows.back().error.dump()));
  }
  std::vector<size_t> read, stale;
  for (size_t i = 0; i < windows.size(); ++i) {
    const TenantWindow& w = windows[i];
    if (w.tables.empty()) continue;
    if (!w.cached) {
      read.push_back(i);
    } else if (!Migrating(*map, w.input.tenant) &&
               (w.cached->moved || !w.cached->complete || w.cached->age_s >= static_cast<double>(policy_.max_age.count()))) {
      stale.push_back(i);
    }
  }
  std::stable_sort(stale.begin(), stale.end(), [&](size_t a, size_t b) {
    const auto& x = *windows[a].cached;
    const auto& y = *windows[b].cached;
    const bool x_first = x.moved || !x.complete, y_first = y.moved || !y.complete;
    return x_first != y_first ? x_first : x.age_s > y.age_s;
  });
  stale.resize(std::min(stale.size(), static_cast<size_t>(std::max(0, policy_.refreshes_per_round))));
  read.insert(read.end(), stale.begin(), stale.end());
  for (size_t i : read) {
    RefreshStatistics(sources, windows[i]);
    if (windows[i].status != 200) return Status::Error("08006", windows[i].error.value("error", windows[i].error.dump()));
  }
  out.statistics.read = static_cast<int>(read.size());
  for (TenantWindow& w : windows) {
    if (w.cached) {
      ++out.statistics.cached;
      out.statistics.oldest_age_s = std::max(out.statistics.oldest_age_s, w.stats_age);
    }
    out.tenants.push_back(std::move(w.input));
  }
  return out;
}

void RegisterRebalancerRoutes(AdminServer& server, rebalancer::Rebalancer& r) {
  server.Get("/api/v1/rebalancer", [&r](const auto&) { return std::pair<int, Json>{200, r.StatusJson()}; });
  server.Post("/api/v1/rebalancer/pause", [&r](const Json&) {
    r.Pause();
    return std::pair<int, Json>{200, r.StatusJson()};
  });
  server.Post("/api/v1/rebalancer/resume", [&r](const Json&) {
    r.Resume();
    return std::pair<int, Json>{200, r.StatusJson()};
  });
  server.Post("/api/v1/rebalancer/run", [&r](const Json&) -> std::pair<int, Json> {
    auto round = r.RunRound();
    if (!round.ok()) {
      const int status = round.status().sqlstate() == "55000" ? 409 : 503;
      return {status, {{"error", round.status().message()}, {"sqlstate", round.status().sqlstate()}}};
    }
    Json events = Json::array();
    for (const auto& e : round->events) events.push_back(rebalancer::EventJson(e));
    return {200, {{"round", round->round}, {"events", std::move(events)}}};
  });
  server.Get("/api/v1/events", [&r](const std::map<std::string, std::string>& query) -> std::pair<int, Json> {
    const auto since = Integer(query, "since");
    if (since && (*since == INT64_MIN || *since < 0)) return {400, {{"error", "since: must be an event id (0 or more)"}}};
    const auto limit = Integer(query, "limit");
    if (limit && (*limit < 1 || *limit > 1000)) return {400, {{"error", "limit: must be 1..1000"}}};
    return {200, r.EventsJson(since.value_or(0), static_cast<size_t>(limit.value_or(100)))};
  });
}

}  // namespace mosaic::admin

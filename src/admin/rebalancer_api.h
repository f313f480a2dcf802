// The rebalancer's admin API and its data source in a running router.
//
//   GET  /api/v1/rebalancer                  status (rebalancer::Rebalancer::StatusJson)
//   POST /api/v1/rebalancer/pause            no rounds until resumed (migrations running go on)
//   POST /api/v1/rebalancer/resume
//   POST /api/v1/rebalancer/run              one round now: {"round", "events": [...]}; 409 paused
//   GET  /api/v1/events[?since=ID][&limit=N] {"events": [...], "last_id"}; N 1..1000, default 100
#pragma once

#include <chrono>
#include <functional>

#include "admin/admin_server.h"
#include "admin/advice_api.h"
#include "rebalancer/rebalancer.h"

namespace mosaic::admin {

// How a round reads data statistics: from the cache, re-reading only what is stale, a bounded
// number per round, so that a round costs a few tenants' reads, not the whole fleet's.
struct StatisticsPolicy {
  std::chrono::seconds max_age{60};  // statistics older than this are stale
  int refreshes_per_round = 5;       // stale tenants re-read per round (never-read ones always are)
};

// The rebalancer's inputs from the monitor (its busiest tenants over the window, "(other)" left
// out, and "(multi)": statements over several tenants), the data statistics cache and the
// profiles, against one shard-map snapshot per round. Statistics: a tenant never read is read; of
// the stale ones (placement changed since the read, a table or column missing, or older than
// max_age) the first refreshes_per_round are re-read, those whose placement changed or that miss
// something first, then the oldest; the rest plan from their cached statistics. A tenant with a
// migration in progress keeps its cached statistics (its moving rows are on two nodes).
class MonitorSource : public rebalancer::Source {
 public:
  explicit MonitorSource(std::function<AdviceSources()> sources, StatisticsPolicy policy = {})
      : sources_(std::move(sources)), policy_(policy) {}
  Result<rebalancer::Inputs> Read(int64_t window_s, int max_tenants) override;

 private:
  std::function<AdviceSources()> sources_;
  const StatisticsPolicy policy_;
};

// Adds the routes above. REQUIRES: `rebalancer` outlives the server's routes.
void RegisterRebalancerRoutes(AdminServer& server, rebalancer::Rebalancer& rebalancer);

}  // namespace mosaic::admin

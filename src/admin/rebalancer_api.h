// The rebalancer's admin API and its data source in a running router.
//
//   GET  /api/v1/rebalancer                  status (rebalancer::Rebalancer::StatusJson)
//   POST /api/v1/rebalancer/pause            no rounds until resumed (migrations running go on)
//   POST /api/v1/rebalancer/resume
//   POST /api/v1/rebalancer/run              one round now: {"round", "events": [...]}; 409 paused
//   GET  /api/v1/events[?since=ID][&limit=N] {"events": [...], "last_id"}; N 1..1000, default 100
#pragma once

#include <functional>

#include "admin/admin_server.h"
#include "admin/advice_api.h"
#include "rebalancer/rebalancer.h"

namespace mosaic::admin {

// The rebalancer's inputs from the monitor (its busiest tenants over the window, "(other)" left
// out, and "(multi)": statements over several tenants), the data statistics cache and the profiles, against one shard-map snapshot per round.
class MonitorSource : public rebalancer::Source {
 public:
  explicit MonitorSource(std::function<AdviceSources()> sources) : sources_(std::move(sources)) {}
  Result<rebalancer::Inputs> Read(int64_t window_s, int max_tenants) override;

 private:
  std::function<AdviceSources()> sources_;
};

// Adds the routes above. REQUIRES: `rebalancer` outlives the server's routes.
void RegisterRebalancerRoutes(AdminServer& server, rebalancer::Rebalancer& rebalancer);

}  // namespace mosaic::admin

// `mosaic events` and `mosaic rebalancer`: the command-line clients of the rebalancer's admin API
// (GET /api/v1/events, GET /api/v1/rebalancer, POST /api/v1/rebalancer/pause|resume|run).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace mosaic {

struct RebalancerArgs {
  std::string admin = "127.0.0.1:6480";
  bool json = false;    // print the API's JSON
  bool follow = false;  // events: keep polling for new ones (every second) until interrupted
  int64_t since = 0;    // events: only those with a larger id
};

// One line per event: "#ID TIME decision(cause) tenant T [tables] action: reason", with
// " (xN)" when the same decision repeated N rounds. "no events" when there are none.
std::string FormatEvents(const nlohmann::json& reply);
// The status object as "key: value" lines.
std::string FormatRebalancerStatus(const nlohmann::json& status);

// `mosaic events`: prints the events (then, with --follow, new ones as they come). Exit code.
int RunEvents(const RebalancerArgs& args);
// `mosaic rebalancer status|pause|resume|run`. Exit code.
int RunRebalancer(const RebalancerArgs& args, const std::string& command);

}  // namespace mosaic

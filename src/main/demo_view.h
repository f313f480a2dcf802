// The text of `mosaic demo`: the live view (refreshed every ~2 s on a terminal), the status line
// printed instead when stdout is not a terminal, and the summary at the end.
//
// Pure: renders a DemoRecord and the workload's samples; no I/O, no clock.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "main/demo_record.h"
#include "main/demo_traffic.h"

namespace mosaic {

// What the view says about the run itself.
struct DemoInfo {
  int nodes = 0;
  std::string psql;            // the command that connects to the demo
  std::string admin;           // HOST:PORT of the admin API
  double duration_s = 0;       // 0: until Ctrl-C
  int clients = 0;
  double rate = 0;             // the workload's total TPS limit, 0 = none
  double hot_shift_s = 0;      // the workload's hot windows move this often
  int64_t window_s = 0;        // the window the demo asks patterns and advice for
  double traffic_from_s = 0;   // when the workload started
};

// The live view: traffic, per-node statements, patterns, plans, migrations, rebalancer news;
// every line cut to `width` columns.
std::string RenderView(const DemoRecord& record, const std::vector<TrafficSample>& samples, const DemoInfo& info,
                       double now_s, int width);
// One status line for line output: traffic of the last interval, statements per node, active
// migrations.
std::string StatusLine(const DemoRecord& record, const std::vector<TrafficSample>& samples, double now_s);
// The summary: what was found, each automatic split / move with the imbalance before and after,
// the migrations' outcomes, the rebalancer's decisions, traffic and node load before and after the
// first adaptation. `report` is the workload's end-of-run report (null if it has none).
std::string RenderSummary(const DemoRecord& record, const std::vector<TrafficSample>& samples, const DemoInfo& info,
                          double end_s, const nlohmann::json& report);

}  // namespace mosaic

// `mosaic demo`: the whole story on the embedded default. Mosaic on managed nodes, the SaaS
// sample schema and data of the built-in workload (src/workload) loaded through Mosaic, skewed
// traffic with moving hot date windows running in-process through Mosaic's listener, and a live
// view of what the control plane does about it (patterns, plans, migrations, rebalancer
// decisions, per-node load), with short windows so that it adapts within two minutes; then a
// summary of the adaptation, before and after.
//
// Everything the view shows comes from the admin API, as an operator would see it.
#pragma once

#include <string>

#include "common/config.h"

namespace mosaic {

struct DemoOptions {
  double duration_s = 0;  // > 0: exit after this many seconds (from start) with the summary; 0: until Ctrl-C
  int clients = 8;        // workload clients
  double rate = 500;      // their total TPS limit (0 = none): room left for the control plane
  double scale = 1;       // the sample data's size (workload --scale)
  // The default data directory: one left by an earlier demo there is reused after emptying it.
  std::string default_data_dir = "/var/tmp/mosaic-demo";
};

// The demo's configuration under the command line's options: short monitor and rebalancer
// windows and fast migrations, so that it adapts within two minutes, and a profile that lets the
// whale tenants be split while the others stay whole.
Config DemoConfig();

// Runs the demo on `config` (managed nodes or given ones). Prints the view to stdout; logs (and,
// while the view runs, stderr) go to DATA_DIR/mosaic.log with managed nodes, so they do not tear
// it. Returns the exit code after the summary: 0, or 1 if the workload failed; 1 if startup or
// the sample data failed. On SIGINT/SIGTERM it prints the summary so far, stops Mosaic and ends
// the process itself (std::quick_exit(0)): the in-process workload cannot be stopped early.
int RunDemo(const Config& config, const DemoOptions& options);

}  // namespace mosaic

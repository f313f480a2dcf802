#include "main/workload_cli.h"

#include <iostream>

namespace mosaic {

CLI::App* AddWorkloadCommand(CLI::App& cli, WorkloadArgs* a) {
  auto* cmd = cli.add_subcommand("workload", "the built-in load generator: SaaS schema, skewed tenants, shifting hot ranges");
  auto& o = a->options;
  cmd->add_option("--host", a->host, "server host (default 127.0.0.1)");
  cmd->add_option("--port", a->port, "server port (default 6432, Mosaic's)");
  cmd->add_option("--user", a->user, "user name (default mosaic)");
  cmd->add_option("--dbname", a->dbname, "database (default mosaic)");
  cmd->add_option("--dsn", a->dsn, "a libpq connection string; replaces --host/--port/--user/--dbname");
  cmd->add_flag("--init", o.init, "create the SaaS schema and load it (without --duration: load only)");
  cmd->add_flag("--drop", o.drop, "with --init: drop the workload's tables first");
  cmd->add_option("--tenants", o.tenants, "with --init: number of tenants (default 50)");
  cmd->add_option("--scale", o.scale, "with --init: data size factor, 1 = 50000 orders (default 1)");
  cmd->add_option("--zipf", o.zipf, "skew of tenant sizes and of tenant traffic (default 1.1)");
  cmd->add_option("--clients", o.clients, "concurrent clients, one connection each (default 8)");
  a->duration = cmd->add_option("--duration", o.duration_s, "seconds to run (default 10)");
  cmd->add_option("--rate", o.rate, "total transactions per second (default: as fast as possible)");
  cmd->add_option("--write-ratio", o.write_ratio, "share of write transactions (default 0.2)");
  cmd->add_option("--hot-shift-s", o.hot_shift_s, "seconds between moves of each tenant's hot window (default 30; 0 = fixed)");
  cmd->add_option("--report-interval", o.report_interval_s, "print a line every S seconds (default: only the final report)");
  cmd->add_option("--seed", o.seed, "seed of the data and of the choices (default 1)");
  cmd->add_flag("--json", o.json, "print the final report as JSON (progress goes to stderr)");
  return cmd;
}

int RunWorkload(WorkloadArgs& a) {
  a.options.conninfo = a.dsn.empty() ? workload::ConnInfo(a.host, a.port, a.user, a.dbname) : a.dsn;
  a.options.run = !a.options.init || a.duration->count() > 0;
  return workload::Run(a.options, std::cout, std::cerr);
}

}  // namespace mosaic

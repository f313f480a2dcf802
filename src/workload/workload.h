// `mosaic workload`: the built-in load generator. Against Mosaic or any PostgreSQL: `--init`
// creates and loads the SaaS sample schema (saas_data.h); a run drives C clients, one libpq
// connection and thread each, for a duration (optionally rate-limited) and reports TPS, latency
// percentiles and errors by SQLSTATE (report.h).
//
// Errors of transactions are counted, never fatal: a broken connection is reset and the client
// goes on. Only setup failures (cannot connect, no data) end the command.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

namespace mosaic::workload {

struct Options {
  std::string conninfo;  // libpq connection string
  bool init = false, drop = false, run = true, json = false;
  int64_t tenants = 50;
  double scale = 1.0, zipf = 1.1;
  int clients = 8;
  double duration_s = 10, rate = 0 /* total TPS; 0 = unlimited */, write_ratio = 0.2;
  double hot_shift_s = 30, report_interval_s = 0;
  uint64_t seed = 1;
};

// "host='h' port='5432' ..." with values quoted for libpq (empty values left out).
std::string ConnInfo(const std::string& host, int port, const std::string& user, const std::string& dbname);

// Runs the command: loads (--init) and/or runs the workload, printing progress and the report to
// `out` (errors to `err`). Returns the process exit code: 0 done (even with counted transaction
// errors), 1 setup failed, 2 bad options.
int Run(const Options& options, std::ostream& out, std::ostream& err);

}  // namespace mosaic::workload

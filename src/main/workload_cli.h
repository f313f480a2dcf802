// `mosaic workload`: the command-line options of the built-in load generator (src/workload).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "workload/workload.h"

namespace mosaic {

struct WorkloadArgs {
  workload::Options options;
  std::string host = "127.0.0.1", user = "mosaic", dbname = "mosaic", dsn;
  int port = 6432;
  CLI::Option* duration = nullptr;  // given explicitly?
};

// Registers `workload` and its options on `cli`; the options fill `args`.
CLI::App* AddWorkloadCommand(CLI::App& cli, WorkloadArgs* args);
// Runs the command after parsing; returns the process exit code.
int RunWorkload(WorkloadArgs& args);

}  // namespace mosaic

// `mosaic advise`: the command-line client of GET /api/v1/advice. For one tenant (--tenant), or
// for the heaviest tenants of the monitor's window: the plan's actions (split / move / merge,
// column, ranges and nodes), the metrics now and predicted, and with --explain the reasons.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace mosaic {

struct AdviseArgs {
  std::string admin = "127.0.0.1:6480";
  std::optional<std::string> tenant;
  int top = 5;  // without --tenant: this many tenants, heaviest first
  bool explain = false;
  bool json = false;
};

// One tenant's advice reply as text.
std::string FormatAdvice(const nlohmann::json& reply, bool explain);

// Runs the command: prints the advice (or the error); returns the process exit code.
int RunAdvise(const AdviseArgs& args);

}  // namespace mosaic

// `mosaic advise`: the command-line client of GET /api/v1/advice. For one tenant (--tenant), or
// for the heaviest tenants of the monitor's window: the plan's actions (split / move / merge,
// column, ranges and nodes), the metrics now and predicted, and with --explain the reasons. With
// --evaluate, the client of POST /api/v1/advice/evaluate: the metrics of a layout the user gives.
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
  // --evaluate: a file holding the what-if request's JSON, or the JSON itself (text starting with
  // "{"); empty: plan instead. With --tenant, the tenant is added to a body without one.
  std::string evaluate;
};

// One tenant's advice reply as text.
std::string FormatAdvice(const nlohmann::json& reply, bool explain);

// One what-if reply (POST /api/v1/advice/evaluate) as text: the metrics now and evaluated side by
// side, the load share per node, and the evaluated layouts.
std::string FormatEvaluation(const nlohmann::json& reply);

// The what-if request body from --evaluate's argument (see AdviseArgs::evaluate); an error
// message naming the file or the JSON's fault on failure.
std::optional<nlohmann::json> EvaluateBody(const AdviseArgs& args, std::string* error);

// Runs the command: prints the advice (or the error); returns the process exit code.
int RunAdvise(const AdviseArgs& args);

}  // namespace mosaic

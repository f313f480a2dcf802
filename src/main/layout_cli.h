// `mosaic layout set|show`: the command-line client of the layout API (POST /api/v1/layout,
// GET /api/v1/placements). Talks HTTP to a running router's admin address; no other state.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace mosaic {

struct LayoutSetArgs {
  std::string admin = "127.0.0.1:6480";
  std::vector<std::string> tables;    // one: "table"; several: a table group ("tables")
  std::optional<std::string> tenant;  // nullopt: single-tenant tables
  std::string column;
  std::vector<std::string> ranges;    // "UPPER:NODE"; the last one ":NODE"
};

struct LayoutShowArgs {
  std::string admin = "127.0.0.1:6480";
  std::optional<std::string> table, tenant;
};

// The request body for `args` (see admin/layout_api.h). A range is split at its last ':';
// fails with 22023 naming the argument if the node is not a number.
Result<nlohmann::json> LayoutRequestBody(const LayoutSetArgs& args);

// Renders a placements reply ({"shard_map_version", "placements"}) as a text table, one line
// per range.
std::string FormatPlacements(const nlohmann::json& reply);

// Run the commands: print the result (or the error) and return the process exit code.
int RunLayoutSet(const LayoutSetArgs& args);
int RunLayoutShow(const LayoutShowArgs& args);

}  // namespace mosaic

// `mosaic patterns`: the command-line client of GET /api/v1/patterns. Prints the tenants by load,
// or one tenant's patterns, as text tables (or the API's JSON with --json).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace mosaic {

struct PatternsArgs {
  std::string admin = "127.0.0.1:6480";
  std::optional<std::string> tenant, table;
  std::optional<int64_t> window;  // seconds
  bool json = false;
};

// The request path for `args` (query parameters URL-encoded).
std::string PatternsPath(const PatternsArgs& args);
// Text tables of a tenant's patterns reply, or of the tenant list reply.
std::string FormatPatterns(const nlohmann::json& reply);
std::string FormatTenantList(const nlohmann::json& reply);

// Runs the command: prints the result (or the error) and returns the process exit code.
int RunPatterns(const PatternsArgs& args);

}  // namespace mosaic

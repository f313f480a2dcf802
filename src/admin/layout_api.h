// The layout API's pure half: reading a POST /api/v1/layout request against a shard map, and
// rendering placements and tables as JSON. No I/O and no locks; the control plane (ControlPlane)
// does the node checks and the catalog writes around these.
//
// Request (POST /api/v1/layout):
//   {"table": "orders" | "tables": ["orders", "order_items"],
//    "tenant": "42" | 42 | null,          // null (or absent) for single-tenant tables
//    "column": "order_date",
//    "ranges": [{"upper": "2024-01-01", "node": 1}, {"upper": "2024-07-01", "node": 2},
//               {"node": 3}]}            // ascending; only the last range has no "upper"
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catalog/shard_map.h"
#include "common/status.h"

namespace mosaic::admin {

// Validates a layout request against `map` and returns the layout it asks for: tables (ids in
// the order given), canonical tenant ("" for single-tenant tables), column, its type and key
// type, and ranges with their boundary texts, encoded keys and nodes (id 0, versions 0).
// On a bad request returns a Status whose message names the offending field
// ("ranges[1].upper: ..."), with SQLSTATE 42P01 for an unknown table, 22P02/22008 for a
// boundary that is not a value of the column's type, 22023 otherwise: all mean HTTP 400.
Result<catalog::Layout> ParseLayoutRequest(const nlohmann::json& body, const catalog::ShardMap& map);

// Filters of GET /api/v1/placements.
struct PlacementFilter {
  std::optional<std::string> table;   // as the client wrote it ("orders", "app.orders")
  std::optional<std::string> tenant;  // raw; canonicalised per table
};

// {"shard_map_version": V, "placements": [...]}. Each placement is an object with
//   "kind": "layout"    a tenant's table group split into ranges ("column", "version", "ranges")
//           "home"      a (tenant, table) without a layout, whole on one node (one unbounded range)
//           "hash"      a distributed table's tenants without a layout (no tenant filter given):
//                       each on a node hashed over "nodes"
//           "reference" a reference table: a copy on each of "nodes"
//   "tables": ["schema.name", ...], "tenant": canonical key or null (implicit tenant),
//   "ranges": [{"lower": text|null, "upper": text|null, "node": id, "version": V|null}].
// A tenant filter restricts distributed tables to that tenant (layouts and home node);
// single-tenant and reference tables are listed regardless. Fails (22023 / 42P01, HTTP 400) if
// the table filter is not a known table.
Result<nlohmann::json> PlacementsJson(const catalog::ShardMap& map, const PlacementFilter& filter);

// One layout as PlacementsJson renders it (for the reply to a POST).
nlohmann::json LayoutJson(const catalog::ShardMap& map, const catalog::Layout& layout);

// {"shard_map_version": V, "tables": [{"schema", "name", "kind", "tenant_column", "columns":
// [{"name", "type", "oid"}], "layouts": n}]}.
nlohmann::json TablesJson(const catalog::ShardMap& map);

// Resolves a table name as the client wrote it. 22023 for a malformed name, 42P01
// (`relation "x" does not exist`) for an unknown one.
Result<const catalog::Table*> ResolveTable(const catalog::ShardMap& map, const std::string& text);

}  // namespace mosaic::admin

// The layout API's safety check: whether a new layout would place rows that already exist on a
// node somewhere else. Laying out a tenant only changes where Mosaic looks for rows; moving rows
// is the migration service's job, so such a layout is refused.
//
// Control plane only: synchronous libpq, one connection per node, blocks on the nodes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "catalog/shard_map.h"
#include "common/status.h"

namespace mosaic::catalog {

// Rows of one table that a layout would place on another node than the one holding them.
struct RowsToMove {
  int64_t table_id = 0;
  int from_node = 0;  // the node holding them now
  Range range;        // the layout's range they fall in (its node_id is where they would go)
};

// For every table of `layout` and every node of `map`: does the node hold rows of
// layout.tenant (any rows, for single-tenant tables) whose range-column value `layout` places on
// another node? One bounded query (LIMIT 1) per table and node, comparing with PostgreSQL's own
// operators for the column's type (text types in COLLATE "C", the order of router keys); a NULL
// range value belongs to the last range, as the router places it. A node without the table
// holds none of its rows. Returns the first finding, or nullopt. Fails with 08006 if a node
// cannot be reached, or with the node's SQLSTATE.
// REQUIRES: `layout` is valid for `map` (admin::ParseLayoutRequest).
Result<std::optional<RowsToMove>> FindRowsToMove(const ShardMap& map, const Layout& layout);

// The SQL condition for the rows of one range of `column` (already quoted), whose boundaries are
// the SQL operands `lower` and `upper` ("$2", "'2024-01-01'::date"; nullopt = unbounded):
// "true", "col < U", "(col >= L AND col < U)", or "(col >= L OR col IS NULL)" for a range without
// an upper bound, which also holds the NULLs (the router places them in the last range). Text
// types (`type` kText, kBpchar) compare in COLLATE "C", the order of router keys.
std::string RangeConditionSql(const std::string& column, const std::optional<std::string>& lower,
                              const std::optional<std::string>& upper, router::KeyType type);

// "range [a, b) of table "public.orders" (tenant 42) already holds rows on node 1, and the
// layout would place it on node 2; moving rows is the migration service's job".
std::string DescribeRowsToMove(const ShardMap& map, const Layout& layout, const RowsToMove& rows);

}  // namespace mosaic::catalog

// The advisor's workload input from the monitor's patterns JSON (GET /api/v1/patterns?tenant=T,
// see docs/operations.md): the glue between the two without either depending on the other's
// types. Pure; no I/O.
//
// What it reads, per table: statements, writes, latency_ms.p50, and per column by_op,
// hot_ranges (value text, upper inclusive, share of the column's statement weight) or, without
// hot ranges, top_values; joins ("table.column" pairs with counts). A table's statement cost is
// statements x p50 latency (statements alone without a latency). Heat is known only where the
// monitor reports it hot: the rest of a column's accesses have no position (their cost then
// follows the hot ranges).
#pragma once

#include <nlohmann/json.hpp>

#include "advisor/inputs.h"
#include "catalog/shard_map.h"
#include "common/status.h"

namespace mosaic::advisor {

// The workload half of a TenantInput (tenant, statements, heat, joins) from one tenant's patterns.
// Value texts are encoded with the column's type from `map` (unknown tables or columns, and values
// that do not parse, are left out). Fails with 22023 if `patterns` is not the patterns shape
// (a message naming the field); add the data statistics to `stats` yourself.
Result<TenantInput> TenantInputFromPatterns(const nlohmann::json& patterns, const catalog::ShardMap& map);

}  // namespace mosaic::advisor

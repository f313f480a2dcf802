// The advisor's workload input from the monitor's patterns JSON (GET /api/v1/patterns?tenant=T,
// see docs/operations.md): the glue between the two without either depending on the other's
// types. Pure; no I/O.
//
// What it reads, per table: statements, writes, latency_ms.p50, and per column by_op,
// hot_ranges (value text, upper inclusive, share of the column's statement weight) or, without
// hot ranges, top_values, the accessed span and range_width_share; joins ("table.column" pairs
// with counts). A table's statement cost is statements x p50 latency (statements alone without a
// latency). The hot ranges (or top values) carry their shares of a column's heat; the rest of its
// accesses, whose keys the monitor does not keep, is spread over the span outside them (like the
// rows where the engine knows the data distribution, see HeatBucket::by_rows). Range filters on a
// column with a known mean width get spans of that width tiling the heat, so that a split point
// costs them what it would cost scans of that width.
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

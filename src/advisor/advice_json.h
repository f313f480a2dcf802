// Renderings of the advisor's output: JSON for `GET /api/v1/advice` and `mosaic advise --json`,
// text for `mosaic advise --explain`. Pure functions; no I/O.
//
//   {"tenant": "42" | null, "profile": "default", "summary": "...",
//    "current":   {metrics},
//    "actions": [{"action": "split"|"move"|"merge", "tenant", "tables": ["public.orders"],
//                 "column", "from": [range], "ranges": [range], "reason": "...",
//                 "predicted": {"imbalance", "single_node_share", "bytes_to_move"}}],
//    "predicted": {metrics}}
//   metrics: {"imbalance", "max_node_load", "single_node_share", "single_node_share_reads",
//             "single_node_share_writes", "cross_node_statements", "bytes_to_move",
//             "node_load_share": [{"node": id, "share": s}]}
//   range:   {"lower": text | null, "upper": text | null, "node": id, "load": share, "bytes": n,
//             "cost": statement cost of the window in the range}
// An action's "predicted" holds the tenant's imbalance and single-node share once the whole plan is
// done, and the bytes this action moves.
#pragma once

#include <nlohmann/json.hpp>

#include "advisor/engine.h"
#include "catalog/shard_map.h"

namespace mosaic::advisor {

nlohmann::json MetricsJson(const Metrics& metrics);
nlohmann::json ActionJson(const Action& action);
nlohmann::json AdviceJson(const Plan& plan);

// The plan in words for `mosaic advise --explain`: the tenant and its profile, the summary, the
// metrics now and predicted, then each action with its ranges (lower, upper -> node) and reason.
std::string ExplainPlan(const Plan& plan);

// A plan layout as the body of POST /api/v1/layout (admin/layout_api.h), table ids resolved
// through `map` ("schema.name"; ids it does not know are left out), tenant null for "".
nlohmann::json LayoutRequestJson(const catalog::ShardMap& map, const catalog::Layout& layout);

}  // namespace mosaic::advisor

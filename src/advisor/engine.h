// The shard recommendation engine: one tenant's workload, data statistics, profile and the
// current shard map in; a plan of split / move / merge actions with reasons and predicted effect
// out. And the what-if: the same metrics for any layout.
//
// Pure and deterministic: no I/O, no clock, no randomness, no global state; the same inputs give
// the same plan (ties are broken by names and ids). Thread-compatible (call it from any thread).
// The model and its formulas are described in docs/advisor.md.
//
// In short:
//  - Table groups: the tenant's tables joined in the window (on columns other than the tenant
//    column), plus tables already sharing a layout, form one group that shares range boundaries.
//  - Column: per group, pinned by the profile (first valid pinned column) or the valid column that
//    makes the most statement cost single-node. A column is valid if every table of the group has
//    it with one supported type and every join inside the group is on it (so joins stay
//    single-node).
//  - Split points: load of a key segment = query_weight * cost share + size_weight * bytes share
//    (shares of the whole cluster). The fewest ranges, at most the profile's, whose heaviest load
//    is the exact optimum or the split target, whichever is higher, within max shard bytes/rows.
//  - Placement: ranges stay where they are unless moving one lowers the heaviest node's
//    capacity-weighted load by min_move_gain, within max_bytes_moved, on the preferred tier. A
//    group cut anew is then cut again against the room the rest leaves on the nodes (one range
//    per node, exact: PartitionOnNodes), kept if that lowers the imbalance.
//  - Hysteresis: a plan is made only if it lowers the imbalance by min_improvement (relative; only
//    min_move_gain while the tenant's p99 is over its profile's max_p99_ms) or raises the
//    single-node share by min_single_node_gain, or fixes a limit; neighbours are merged only when
//    together below (1 - merge_gap) of the split target.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "advisor/inputs.h"
#include "advisor/profile.h"
#include "catalog/shard_map.h"

namespace mosaic::advisor {

struct EngineOptions {
  double query_weight = 0.5;  // weight of the query-cost share in a load
  double size_weight = 0.5;   // weight of the bytes share in a load
  // A range heavier than split_fraction of a fair node's load is worth splitting (if the profile
  // allows more ranges); lighter ranges are placed whole.
  double split_fraction = 0.5;
  double min_improvement = 0.10;        // relative drop of the imbalance that justifies a plan
  double min_single_node_gain = 0.05;   // absolute single-node share gain that justifies a plan
  // A plan for balance may lower the single-node share at most this much (statements filtering on
  // another column than the range column become cross-node when their table is split).
  double max_single_node_loss = 0.20;
  double merge_gap = 0.20;              // merge only below (1 - merge_gap) * split target
  double min_move_gain = 0.02;          // a move must lower the heaviest node's imbalance this much
  double max_bytes_moved = 0;           // per plan; 0 = no bound
  double unknown_span_single_node = 0.5;  // P(single-node) of an IN/range filter without spans
  // A key is no split point if more than this share of the group's statement cost has observed
  // spans straddling it.
  double max_boundary_crossing = 0.5;
};

enum class ActionKind : uint8_t { kSplit, kMove, kMerge };
std::string_view ActionKindName(ActionKind kind);  // "split", "move", "merge"

// A range of a plan: boundaries as text (nullopt = unbounded) and encoded, and its node.
struct PlannedRange {
  std::optional<std::string> lower, upper;
  std::string lower_key, upper_key;
  int node_id = 0;
  double load = 0;   // predicted share of the cluster's load
  double bytes = 0;  // predicted bytes of the group's tables in the range
  double cost = 0;   // statement cost of the window that falls in the range
};

// How a placement of the tenant performs against the window.
struct Metrics {
  std::map<int, double> node_load;     // node id -> share of the cluster's load (sums to 1)
  double max_node_load = 0;            // the largest node_load
  double imbalance = 0;                // max over nodes of load share / capacity share (1 = even)
  double single_node_share = 1;        // of the tenant's statement cost
  double single_node_share_reads = 1;
  double single_node_share_writes = 1;
  double cross_node_statements = 0;    // expected calls that touch several nodes
  double bytes_to_move = 0;            // against the current shard map
  std::vector<NodeLoad> tenant_load;   // the tenant's own cost and bytes on each node, by node id
};

struct Action {
  ActionKind kind = ActionKind::kSplit;
  std::string tenant;
  std::vector<std::string> tables;     // "schema.name", the table group
  std::string column;
  std::vector<PlannedRange> from;      // the ranges as they are (split: the one split; merge: the
                                       // ones merged; move: the range on its node)
  std::vector<PlannedRange> ranges;    // the ranges it makes, each on its node
  std::string reason;                  // words and numbers
  double bytes_to_move = 0;            // this action's own
  Metrics predicted;                   // the tenant's metrics once the whole plan is done
};

struct Plan {
  std::string tenant;
  std::string profile;
  Metrics current;
  Metrics predicted;                   // == current when there are no actions
  std::vector<Action> actions;
  std::string summary;                 // why the plan is what it is (also when empty)
  // The tenant's layouts after the plan (one per split table group; ids 0), for what-if and the
  // migration service.
  std::vector<catalog::Layout> layouts;
};

// Plans one tenant. `map` gives the nodes (tier, capacity), the tables, the current layouts and
// home nodes; `background` the load of everything else on each node (missing nodes: none).
// Tables of the tenant are those named in `input` that `map` knows (distributed tables for a
// tenant, single-tenant tables for ""); unknown names are ignored.
// REQUIRES: map.BuildIndex() was called; !map.nodes.empty().
Plan PlanTenant(const catalog::ShardMap& map, const std::vector<NodeLoad>& background,
                const TenantInput& input, const Profile& profile, const EngineOptions& options = {});

// Plans a fleet: tenants one after another against one cluster. `node_totals` is everything on
// each node (all tenants included): each tenant's background is the totals less its own current
// load, and its predicted load replaces the current one before the next tenant is planned.
// Tenants are planned heaviest first (statement cost, then bytes, then key); each with
// profiles.ForTenant(tenant, its profile in map.tenants). Returns the plans in that order.
// REQUIRES: as PlanTenant.
std::vector<Plan> PlanFleet(const catalog::ShardMap& map, const std::vector<NodeLoad>& node_totals,
                            const std::vector<TenantInput>& tenants, const ProfileSet& profiles,
                            const EngineOptions& options = {});

// What-if: the metrics of the tenant if its tables were laid out as `layouts` (tables not in
// any of them: whole on their home node), against the same window. bytes_to_move is measured
// against map's current layouts. Layouts of other tenants or unknown tables are ignored.
Metrics EvaluateLayouts(const catalog::ShardMap& map, const std::vector<NodeLoad>& background,
                        const TenantInput& input, const std::vector<catalog::Layout>& layouts,
                        const EngineOptions& options = {});

// The tenant's current metrics (EvaluateLayouts with the map's own layouts).
Metrics EvaluateCurrent(const catalog::ShardMap& map, const std::vector<NodeLoad>& background,
                        const TenantInput& input, const EngineOptions& options = {});

}  // namespace mosaic::advisor

// The migration model: what one online migration moves (flows of rows between nodes), the phases
// it goes through, and how an action in the advisor's format becomes one.
//
// Pure: no I/O. The service (migration/service.h) drives a Migration through its phases with the
// node operations (migration/node_ops.h) and records every phase change in the catalog
// (Catalog::*Migration*) before it takes effect.
//
// One migration executes one action on one (tenant, table group): it replaces the ranges the
// action names (`from`, contiguous) by new ranges (`to`, same span, new boundaries and nodes).
// Split, move and merge are all this replacement; rows whose node changes travel in *flows*, one
// per (source node, target node) pair, each kept current by PostgreSQL logical replication from
// its snapshot copy until the cutover switches the shard map to the new layout in one version.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "catalog/shard_map.h"
#include "common/status.h"

namespace mosaic::migration {

enum class Phase : uint8_t {
  kQueued,             // accepted; waits for its nodes to be free
  kShadowReads,        // targets being filled and kept current; sampled reads compared
  kIncrementalWrites,  // copy done: every write reaches the target too; checksums compared
  kCutover,            // write fence up: final check, new shard-map version
  kDeprecated,         // cut over; the sources keep their copies (kept current in reverse)
  kDone,               // sources cleaned up (terminal)
  kRollingBack,        // undoing: targets' copies dropped (and the map switched back if needed)
  kRolledBack,         // terminal
  kFailed,             // terminal: rolled back after an error it could not retry past
};

std::string_view PhaseName(Phase p);
// The phase called `name`; nullopt if none is.
std::optional<Phase> PhaseFromName(std::string_view name);
bool IsTerminal(Phase p);

// split / move / merge: the action's kind as the advisor names it. All run alike.
enum class ActionKind : uint8_t { kSplit, kMove, kMerge };
std::string_view ActionKindName(ActionKind k);
std::optional<ActionKind> ActionKindFromName(std::string_view name);

// One range as an action states it: boundary texts (nullopt = unbounded) and its node.
struct RangeSpec {
  std::optional<std::string> lower, upper;
  int node = 0;

  bool operator==(const RangeSpec&) const = default;
};

// Rows that change node: those of the tenant in the tables of the group that live on `source`
// under the old ranges and belong on `target` under the new ranges. `filter` is their SQL
// condition over one table's columns (tenant column, range column; literals only, no parameters,
// so that it can also be a publication's row filter), the same for every table of the group.
struct Flow {
  int source = 0;
  int target = 0;
  std::string filter;

  bool operator==(const Flow&) const = default;
};

// A validated action bound to the shard map it was checked against.
struct Plan {
  ActionKind kind = ActionKind::kMove;
  std::string tenant;                // canonical tenant key; "" = implicit tenant (single-tenant tables)
  std::vector<int64_t> table_ids;    // the table group, in the layout's order
  std::vector<std::string> tables;   // their names as "schema.name"
  std::string column;                // range column
  std::string column_type;           // pg_type.typname
  int64_t layout_id = 0;             // the layout whose ranges are replaced; 0 = none yet (home node)
  std::vector<RangeSpec> from;       // ranges replaced (as they are now)
  std::vector<RangeSpec> to;         // the ranges replacing them (same span)
  std::vector<Flow> flows;           // one per (source, target) with rows to move; may be empty
  catalog::Layout new_layout;        // the group's whole layout after the cutover (ids 0)

  // Every node a flow reads from or writes to.
  std::vector<int> Nodes() const;
};

// Reads an action in the advisor's format against `map`:
//   {"action": "split"|"move"|"merge", "tenant": "42"|42|null, "tables": ["orders", ...],
//    "column": "created_at", "ranges": [{"lower": text|null, "upper": text|null, "node": id}, ...]}
// "ranges" are the new ranges, ascending and contiguous; they replace the current ranges they
// span (a tenant without a layout has one unbounded range on its home node). "from" (as the
// advisor writes it) is accepted and ignored: the current ranges come from `map`. "tables" must
// be the whole table group of the tenant's layout when it has one. New boundaries must coincide
// with current boundaries at the span's ends. A "column" other than the layout's replaces the
// whole layout (every range moves by the new column). "column" may be left out (or "") when
// "ranges" is one unbounded range, a move of the whole group: it is then the tenant's current
// layout's column, or without a layout the tables' tenant column (single-tenant tables without a
// layout have none: "column" is required).
// Errors (HTTP 400): a message naming the field, SQLSTATE 22023 (42P01 for an unknown table,
// 22P02/22008 for a boundary that is not a value of the column's type).
Result<Plan> PlanAction(const nlohmann::json& action, const catalog::ShardMap& map);

// The advisor-format JSON of a plan (action, tenant, tables, column, from, ranges).
nlohmann::json PlanJson(const Plan& plan);

// Progress of a migration, as the API shows it.
struct Progress {
  int64_t rows_copied = 0;
  int64_t rows_estimated = 0;
  int64_t bytes_copied = 0;
  double rows_per_s = 0;          // recent copy rate
  double eta_s = -1;              // -1 = unknown
  int64_t shadow_reads = 0;       // reads compared
  int64_t shadow_mismatches = 0;  // reads whose results differed (after re-checking)
  int64_t checksum_chunks = 0;    // chunks compared before cutover
  int64_t checksum_mismatches = 0;
  double cutover_pause_ms = -1;   // how long the write fence held (-1: not yet)
  // How long each step under the fence took ("drain", "apply", "flush", "recheck", "catalog",
  // "publish"; summed over the flows), once the fence opened after the cutover.
  std::map<std::string, double> cutover_steps_ms;
  // Each time the fence closed and opened again without the switch (the drain or a target's
  // apply took too long, a recheck differed), how long it held, oldest first: pauses clients saw
  // besides cutover_pause_ms.
  std::vector<double> cutover_abandoned_ms;
  // Fences opened again without the switch, in all (cutover_abandoned_ms keeps the last
  // kAbandonedKept), and what kept the last one from switching: the oldest transaction open on
  // the rows ("node 2: pid 4711, idle in transaction for 12.5 s ...") or the targets' catch-up.
  // Empty once the cutover switched.
  int64_t cutover_attempts = 0;
  std::string cutover_blocked_by;
  static constexpr size_t kAbandonedKept = 100;

  bool operator==(const Progress&) const = default;
};

// {"rows_copied", "rows_estimated", "bytes_copied", "rows_per_s", "eta_s", "shadow_reads",
//  "shadow_mismatches", "checksum_chunks", "checksum_mismatches", "cutover_pause_ms",
//  "cutover_steps_ms" (an object, step: ms), "cutover_abandoned_ms" (an array), "cutover_attempts",
//  "cutover_blocked_by" (a string)}: how the service keeps progress in a migration's
// state (state["progress"]).
nlohmann::json ProgressJson(const Progress& progress);
// The inverse of ProgressJson. Lenient: a missing or non-numeric field (or a non-object) keeps
// its default, so state written by an older service still reads.
Progress ProgressFromJson(const nlohmann::json& json);

// Whether the libpq connection string `dsn` names the PostgreSQL server at `host`:`port` (the
// same host and port; "localhost" and 127.0.0.1 alike). A DSN that does not parse or names no
// host (a Unix socket) counts as the same server: callers use it to stay on the safe side.
bool OnServer(const std::string& dsn, const std::string& host, int port);

}  // namespace mosaic::migration

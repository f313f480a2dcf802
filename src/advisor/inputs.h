// What the advisor reads: one tenant's workload over the monitor's window, and the data
// statistics of its tables. Plain structs, meant to be filled by the monitor (issue 5) and the
// statistics collector; nothing here depends on either.
//
// Conventions:
//  - Tables are named "schema.name" (a bare "name" means public.name), as stored in the catalog.
//  - Keys are router::EncodeKey byte strings of the column's type: memcmp order is PostgreSQL's
//    order. Intervals are [lower, upper): lower "" is unbounded below, upper "" unbounded above.
//    A point value v is the interval [v, v) (zero width: a point mass at v).
//  - Costs are in one unit for the whole cluster (the monitor's choice: summed latency in ms is the
//    natural one); only ratios matter. Weights (heat, spans) are relative within their list.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mosaic::advisor {

enum class FilterOp : uint8_t {
  kEq,     // column = value (also INSERT values and a join's pinned side)
  kIn,     // column IN (...) / = ANY($1)
  kRange,  // <, <=, >, >=, BETWEEN
  kOther,  // anything the router cannot prune by (LIKE, functions, <>): never single-node by itself
};

// An interval of keys [lower, upper) observed in a filter, with how often it was seen.
struct KeySpan {
  std::string lower, upper;
  double weight = 1;
};

// One filter of a statement shape on one column. `spans` are the observed key intervals of the
// filter's values (a point for =, the hull of the list for IN, the bounds for ranges), as many as
// the monitor keeps; empty when unknown (then = counts as single-node and IN/range as
// EngineOptions::unknown_span_single_node).
struct ColumnFilter {
  std::string table;
  std::string column;
  FilterOp op = FilterOp::kEq;
  std::vector<KeySpan> spans;
};

// An equi-join table.column = table.column, seen `count` times in the window.
struct JoinPair {
  std::string left_table, left_column;
  std::string right_table, right_column;
  double count = 1;
};

// One statement shape (fingerprint) of the tenant in the window.
struct StatementStats {
  std::string fingerprint;          // for explanations only
  bool write = false;
  double calls = 0;                 // executions in the window
  double cost = 0;                  // total cost in the window; 0 = use calls
  std::vector<std::string> tables;  // tables it touches
  std::vector<ColumnFilter> filters;  // top-level (ANDed) filters; OR'd filters are kOther
  std::vector<JoinPair> joins;      // its equi-joins (count ignored)

  double Weight() const { return cost > 0 ? cost : calls; }
};

// A key-heat histogram bucket: accesses to keys in [lower, upper) (lower == upper: one value).
// `by_rows` marks accesses known only to lie somewhere in the bucket (the monitor's share of a
// column outside its hot ranges): where the column's data distribution is known, the by_rows
// buckets of a column together carry their summed weight spread like the rows over their keys
// (SpreadByRows); `weight` then only serves without one.
struct HeatBucket {
  std::string lower, upper;
  double weight = 0;
  bool by_rows = false;
};

// Where the accesses of one (table, column) fell, by key. Buckets may overlap; weight inside a
// bucket is taken as spread evenly over its keys (or like the rows, see HeatBucket::by_rows).
struct ColumnHeat {
  std::string table;
  std::string column;
  std::vector<HeatBucket> buckets;
};

// What the monitor saw of one tenant over the window.
struct TenantWorkload {
  std::vector<StatementStats> statements;
  std::vector<ColumnHeat> heat;
  std::vector<JoinPair> joins;  // window-wide join pairs (a statement's joins count too)
  // The tenant's p99 statement latency over the window in ms (the monitor's highest per-table
  // p99); 0 = unknown. Above the profile's max_p99_ms it lowers the bar for a balance plan.
  double p99_ms = 0;
};

// The distribution of a column's values in a table: ascending keys q[0] (min) ... q[n] (max)
// with the same share of rows between consecutive ones (pg_stats histogram_bounds, or sampled).
struct ColumnDistribution {
  std::string column;
  std::vector<std::string> quantiles;
};

// Data statistics of one (tenant, table): totals and column distributions.
struct TableStats {
  std::string table;
  double rows = 0;
  double bytes = 0;
  std::vector<ColumnDistribution> columns;
};

// The coarser form of the monitor's window, per (tenant, table), when statement shapes are not
// linked to the columns they filter: totals, and per column how many statements filtered on it by
// operator kind. StatementsFromActivity turns it into statement shapes.
struct ColumnFilterCounts {
  std::string column;
  double eq = 0, in = 0, range = 0, other = 0;  // statements filtering on the column, by operator
};

struct TableActivity {
  std::string table;
  double statements = 0;  // in the window
  double writes = 0;      // of which writes
  double cost = 0;        // total cost; 0 = statements
  std::vector<ColumnFilterCounts> columns;
};

// One single-table statement shape per (table, column, operator kind) with counted filters, and
// one without a filter for the statements left; each split into a read and a write shape by the
// table's write share, carrying the cost share of its count. A statement that filtered several
// columns is counted once per column by the monitor: where a table's counts add up to more than
// its statements they are scaled down to fit (the shapes then under-state multi-column filters).
std::vector<StatementStats> StatementsFromActivity(const std::vector<TableActivity>& activity);

// Everything the advisor knows of one tenant.
struct TenantInput {
  std::string tenant;  // canonical tenant key; "" = the implicit tenant (single-tenant tables)
  TenantWorkload workload;
  std::vector<TableStats> stats;
};

// Load on a node from everything except the tenant being planned (other tenants, other tables).
struct NodeLoad {
  int node_id = 0;
  double cost = 0;
  double bytes = 0;
};

}  // namespace mosaic::advisor

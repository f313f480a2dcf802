// Router: which nodes a statement must run on, from its Analysis, the values bound for this
// execution and the shard map. Pure and allocation-light; runs on the data path for every
// statement that is not a plain pass-through.
//
// Pruning: for each table reference, its filter tree restricts the tenant column (distributed
// tables) and the range column of the tenant's layout (if the table is laid out) to sets of
// points and intervals of order-preserving keys (router/keys.h); equality joins on tenant
// columns carry a restriction from one table to another. A table reference that can be pruned to
// nothing useful touches every node that may hold its rows. The statement's nodes are the union.
// Anything the router cannot prove correct is refused with 0A000 and the reason.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/shard_map.h"
#include "common/status.h"
#include "sql/analysis.h"
#include "sql/lexer.h"

namespace mosaic::router {

// The values a statement's ValueRefs resolve to in one execution.
struct Bound {
  const std::vector<sql::Literal>* literals = nullptr;
  struct Param {
    bool null = true;
    bool binary = false;
    std::string_view bytes;
    uint32_t type_oid = 0;  // from Parse; 0 = unspecified
  };
  std::vector<Param> params;  // params[0] is $1
  // The session's TimeZone is UTC: timestamptz text without an offset can be keyed. Otherwise
  // such values restrict nothing (reads go to every candidate range) and rows cannot be routed.
  bool utc = true;
  // The session's temporary tables (names as folded): they live on the default node, where the
  // session created them, and hide tables of the same name as they do in PostgreSQL.
  const std::vector<std::string>* temp_tables = nullptr;

  // The text of a literal or text-format parameter; nullopt for NULL, kOther or a binary
  // parameter. `negate` of a literal is applied.
  std::optional<std::string> Text(const sql::ValueRef& v) const;
  // `ref` names one of temp_tables (unqualified or in pg_temp).
  bool NamesTemp(const sql::TableRef& ref) const;
};

// The decimal text of a binary-format int2, int4 or int8 value; nullopt for other lengths.
std::optional<std::string> BinaryIntText(std::string_view bytes);

struct Route {
  std::vector<int> nodes;  // node ids, ascending, non-empty
  bool write = false;      // the statement changes rows (INSERT/UPDATE/DELETE/COPY FROM/locking read),
                           // other than those of the session's temporary tables
  bool reference_only = false;  // reads only reference tables (or no table): any one node answers
  bool all_nodes = false;  // DDL/maintenance: runs everywhere
  // INSERT ... VALUES whose rows go to different nodes: the row indexes (Analysis::insert_rows)
  // for each node in `nodes`, same order. Empty when all rows go to one node.
  std::vector<std::vector<int>> insert_rows;
  // INSERT ... SELECT whose rows may be written on other nodes than those it reads: the session
  // runs the SELECT and inserts its rows as INSERT ... VALUES (`nodes` is every node). Otherwise
  // an INSERT ... SELECT reads and writes only on `nodes`' one node.
  bool insert_select_through = false;
  // Tables touched (for the monitor and for logging).
  std::vector<const catalog::Table*> tables;
  // The statement's one tenant (canonical key; "" = the implicit tenant of single-tenant tables),
  // for the monitor. false when it may touch several tenants or the tenant is not known.
  bool tenant_known = false;
  std::string tenant;
};

// SQLSTATE of the refusal for a relation the shard map does not know while rows are spread over
// nodes: the session checks whether it exists at all (42P01 from the node) or is a view, sequence,
// temporary or foreign table (refused with 0A000). Never sent to a client as is.
inline constexpr std::string_view kUnknownRelation = "42P01";

// Plans `a` against `map`. Errors: 0A000 refusals with the reason; 22P02 and friends for values
// that can never be valid keys in a write (a read with such a value goes everywhere and lets
// PostgreSQL report it).
Result<Route> Plan(const catalog::ShardMap& map, const sql::Analysis& a, const Bound& bound);

// Where a utility statement (sql::UtilityKind) runs. Mosaic sends it as it is to one node, so
// while rows are spread over nodes (ShardMap::spread()) it must concern only rows that node holds
// in full, or be refused:
//  - EXPLAIN runs on the one node its statement would run on, else on the default node (it shows
//    that node's plan of the statement as written, not Mosaic's plan over the nodes).
//  - EXPLAIN ANALYZE runs its statement: on the one node the statement routes to, else refused.
//  - DECLARE CURSOR runs on the one node its query reads (the default node for reference tables
//    only); the session sends the cursor's FETCH, MOVE and CLOSE there (the default node here). Refused
//    when the query reads several nodes. WITH HOLD, and SQL PREPARE, keep their cursor or
//    statement on the default node, where FETCH ... and EXECUTE, DEALLOCATE follow them: refused
//    unless every row their statement reads is on the default node (or in reference tables).
//  - CREATE TABLE / MATERIALIZED VIEW ... AS and SELECT ... INTO run on every node, each reading
//    its own rows: refused unless every row they read is on the default node (or in reference
//    tables), or WITH NO DATA.
//  - DO and CALL (of anything but mosaic.*): refused; Mosaic cannot see the statements inside.
//  - LOCK TABLE of tables Mosaic knows, one of them on several nodes: every node, one after
//    another in the map's order (two sessions locking the same tables queue on the first node
//    rather than deadlock).
//  - Other utility statements, and all of them while rows are not spread: node -1.
// Errors: 0A000 with the reason.
struct UtilityRoute {
  int node = -1;       // the node it runs on; -1: where statements without tables run
  bool write = false;  // it changes rows there (EXPLAIN ANALYZE of a write)
  bool every_node = false;  // it runs on every node (node -1)
};
Result<UtilityRoute> PlanUtility(const catalog::ShardMap& map, const sql::Analysis& a, const Bound& bound);

// Whether a timestamptz text names its offset or zone ("...+02", "...Z", "... UTC").
bool HasZone(std::string_view text);
// Whether a TimeZone setting is UTC.
bool IsUtcZone(std::string_view zone);

// Resolves a table reference as PostgreSQL would with search_path "public" (unqualified names
// are looked up in schema public). nullptr for tables Mosaic does not know (treated as
// single-tenant).
const catalog::Table* ResolveTable(const catalog::ShardMap& map, const sql::TableRef& ref);
// Whether `a` names a relation `map` does not know, other than a system catalog: one that Plan
// refuses with kUnknownRelation while rows are spread over nodes, or that may not exist at all.
bool NamesUnknownRelation(const catalog::ShardMap& map, const sql::Analysis& a);

// Row routing for INSERT and COPY into one table: resolves tenant and layout once per tenant.
class RowRouter {
 public:
  RowRouter(const catalog::ShardMap& map, const catalog::Table& table, bool utc = true);
  // Column positions of the tenant column and every range column the table may need, in the
  // row being routed. `columns` are the row's column names in order.
  void SetColumns(const std::vector<std::string>& columns);
  // Names of the columns whose values Route() needs (tenant column, range columns).
  bool NeedsColumn(int index) const;
  // The node for a row given its values (index = position in `columns`; nullopt = NULL).
  // `value(i)` is called only for needed columns.
  template <typename ValueFn>
  Result<int> Route(ValueFn&& value) {
    std::optional<std::string> tenant;
    if (tenant_index_ >= 0) tenant = value(tenant_index_);
    return RouteWith(tenant, [&](int i) { return value(i); });
  }

 private:
  Result<int> RouteWith(const std::optional<std::string>& tenant_text,
                        const std::function<std::optional<std::string>(int)>& value);

  const catalog::ShardMap& map_;
  const catalog::Table& table_;
  bool utc_ = true;
  std::vector<std::string> columns_;
  int tenant_index_ = -1;
  std::vector<bool> needed_;
};

}  // namespace mosaic::router

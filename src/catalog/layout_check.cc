// The rows-to-move check of a new layout: one bounded query per (node, table).
#include "catalog/layout_check.h"

#include <fmt/format.h>

#include "catalog/pg_client.h"

namespace mosaic::catalog {
namespace {

constexpr std::string_view kUndefinedTable = "42P01";

// The query and its parameters that find a row of `table` a node must not keep.
struct MisplacedQuery {
  std::string sql;
  pg::Params params;
  std::vector<Oid> types;
};

// The condition for the rows of range `i`, whose boundaries are parameters: range i's upper
// bound is parameter first_boundary + i, so its lower bound is the one before.
std::string RangeCondition(const Layout& layout, size_t i, const std::string& col,
                           size_t first_boundary) {
  const Range& r = layout.ranges[i];
  auto param = [](size_t n) { return std::optional<std::string>("$" + std::to_string(n)); };
  return RangeConditionSql(col, r.lower ? param(first_boundary + i - 1) : std::nullopt,
                           r.upper ? param(first_boundary + i) : std::nullopt, layout.key_type);
}

MisplacedQuery BuildQuery(const Table& table, const Layout& layout, int node_id) {
  MisplacedQuery q;
  std::string where;
  if (!layout.tenant.empty()) {
    const Column* tc = table.FindColumn(table.tenant_column);
    q.params.push_back(layout.tenant);
    q.types.push_back(tc != nullptr ? tc->type_oid : 0);
    where = pg::QuoteIdent(table.tenant_column) + " = $1 AND ";
  }
  const Column* rc = table.FindColumn(layout.column);
  const size_t first_boundary = q.params.size() + 1;
  for (size_t i = 0; i + 1 < layout.ranges.size(); ++i) {
    q.params.push_back(layout.ranges[i].upper);
    q.types.push_back(rc != nullptr ? rc->type_oid : 0);
  }
  const std::string col = pg::QuoteIdent(layout.column);
  std::string keep;
  for (size_t i = 0; i < layout.ranges.size(); ++i) {
    if (layout.ranges[i].node_id != node_id) continue;
    keep += (keep.empty() ? "" : " OR ") + RangeCondition(layout, i, col, first_boundary);
  }
  q.sql = fmt::format("SELECT {}::text FROM {} WHERE {}NOT coalesce(({}), false) LIMIT 1", col,
                      pg::QualifiedName(table), where, keep.empty() ? "false" : keep);
  return q;
}

// Whether `node` holds rows of `table` that `layout` places elsewhere; if so, their range.
Result<std::optional<RowsToMove>> CheckNode(PGconn* conn, const Node& node, const Table& table,
                                            const Layout& layout) {
  MisplacedQuery q = BuildQuery(table, layout, node.id);
  auto res = pg::ExecTyped(conn, q.sql, q.params, q.types, "node " + std::to_string(node.id));
  if (!res.ok()) {
    if (res.status().sqlstate() == kUndefinedTable) return std::optional<RowsToMove>();
    return res.status();
  }
  if (PQntuples(res->get()) == 0) return std::optional<RowsToMove>();
  RowsToMove rows{.table_id = table.id, .from_node = node.id, .range = layout.ranges.back()};
  if (auto value = pg::NullableTextAt(res->get(), 0, 0)) {
    auto key = router::EncodeKey(layout.key_type, *value);
    if (key.ok()) rows.range = layout.RangeFor(*key);
  }
  return std::optional<RowsToMove>(std::move(rows));
}

const Table* TableById(const ShardMap& map, int64_t id) {
  for (const Table& t : map.tables) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

}  // namespace

std::string RangeConditionSql(const std::string& column, const std::optional<std::string>& lower,
                              const std::optional<std::string>& upper, router::KeyType type) {
  // Text keys compare bytewise, so PostgreSQL must compare them so too.
  const bool text = type == router::KeyType::kText || type == router::KeyType::kBpchar;
  auto compare = [&](std::string_view op, const std::string& operand) {
    return fmt::format("{} {} {}{}", column, op, operand, text ? " COLLATE \"C\"" : "");
  };
  std::string low = lower ? compare(">=", *lower) : "";
  if (!upper) {  // the last range also holds NULLs, which sort after every value
    return low.empty() ? "true" : fmt::format("({} OR {} IS NULL)", low, column);
  }
  std::string high = compare("<", *upper);
  return low.empty() ? high : fmt::format("({} AND {})", low, high);
}

Result<std::optional<RowsToMove>> FindRowsToMove(const ShardMap& map, const Layout& layout) {
  for (const Node& node : map.nodes) {
    auto conn = pg::ConnectNode(node);
    if (!conn.ok()) return conn.status();
    for (int64_t id : layout.table_ids) {
      const Table* table = TableById(map, id);
      if (table == nullptr) continue;
      auto found = CheckNode(conn->get(), node, *table, layout);
      if (!found.ok() || found->has_value()) return found;
    }
  }
  return std::optional<RowsToMove>();
}

std::string DescribeRowsToMove(const ShardMap& map, const Layout& layout, const RowsToMove& rows) {
  const Table* table = TableById(map, rows.table_id);
  const std::string name = table != nullptr ? table->schema + "." + table->name : "?";
  const std::string tenant = layout.tenant.empty() ? "" : " (tenant " + layout.tenant + ")";
  return fmt::format(
      "range {}{}, {}) of table \"{}\"{} already holds rows on node {}, and the layout would "
      "place it on node {}; moving rows is the migration service's job",
      rows.range.lower ? "[" : "(", rows.range.lower.value_or("-infinity"),
      rows.range.upper.value_or("+infinity"), name, tenant, rows.from_node, rows.range.node_id);
}

}  // namespace mosaic::catalog

// Table discovery over one synchronous libpq connection to a node.
#include "catalog/table_discovery.h"

#include "catalog/discovered_tables.h"
#include "catalog/pg_client.h"

namespace mosaic::catalog {
namespace {

// One row per column, ordered so each relation's rows are together.
constexpr const char* kRelationsSql = R"sql(
SELECT c.oid, n.nspname, c.relname, a.attnum, a.attname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.oid >= 16384
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
ORDER BY c.oid, a.attnum
)sql";

}  // namespace

Result<std::vector<DiscoveredTable>> DiscoverTables(const Node& node) {
  auto conn = pg::ConnectNode(node);
  if (!conn.ok()) return conn.status();
  const std::string who = "node " + std::to_string(node.id);
  auto res = pg::Exec(conn->get(), std::string(kTableDiscoverySql), {}, who);
  if (!res.ok()) return res.status();
  const PGresult* r = res->get();
  std::vector<DiscoveredTable> tables;
  for (int i = 0; i < PQntuples(r); ++i) {
    std::optional<Column> column;
    if (!PQgetisnull(r, i, 2)) {
      column = Column{pg::TextAt(r, i, 2), pg::TextAt(r, i, 3), pg::IntAt<uint32_t>(r, i, 4), pg::TextAt(r, i, 5) != "f",
                      pg::TextAt(r, i, 6) == "t", pg::TextAt(r, i, 7) != "f"};
    }
    AddDiscoveryRow(&tables, pg::TextAt(r, i, 0), pg::TextAt(r, i, 1), std::move(column));
  }
  return tables;
}

Result<std::vector<NodeRelation>> DiscoverRelations(const Node& node) {
  auto conn = pg::ConnectNode(node);
  if (!conn.ok()) return conn.status();
  auto res = pg::Exec(conn->get(), kRelationsSql, {}, "node " + std::to_string(node.id));
  if (!res.ok()) return res.status();
  const PGresult* r = res->get();
  std::vector<NodeRelation> relations;
  for (int i = 0; i < PQntuples(r); ++i) {
    const auto oid = pg::IntAt<uint32_t>(r, i, 0);
    if (relations.empty() || relations.back().oid != oid) {
      relations.push_back(NodeRelation{.oid = oid, .schema = pg::TextAt(r, i, 1), .name = pg::TextAt(r, i, 2)});
    }
    if (PQgetisnull(r, i, 3)) continue;
    relations.back().columns.emplace_back(pg::IntAt<int16_t>(r, i, 3), pg::TextAt(r, i, 4));
  }
  return relations;
}

}  // namespace mosaic::catalog

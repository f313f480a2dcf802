// Discovered tables: the query, its rows, table kinds, and a shard map seen with them.
#include "catalog/discovered_tables.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <string>

#include "protocol/reader.h"

namespace mosaic::catalog {

const std::string_view kTableDiscoverySql = R"sql(
SELECT n.nspname, c.relname, a.attname, t.typname, a.atttypid,
       CASE WHEN a.attcollation = 0 THEN true
            WHEN a.attcollation = 100 THEN (SELECT d.datlocprovider = 'c' AND d.datcollate IN ('C', 'POSIX')
                                            FROM pg_database d WHERE d.datname = current_database())
            ELSE coalesce(co.collprovider = 'c' AND co.collcollate IN ('C', 'POSIX'), false) END,
       a.attnotnull, a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> ''
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'mosaic', '_mosaic')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
ORDER BY n.nspname, c.relname, a.attnum
)sql";

void AddDiscoveryRow(std::vector<DiscoveredTable>* tables, std::string_view schema, std::string_view name,
                     std::optional<Column> column) {
  if (tables->empty() || tables->back().schema != schema || tables->back().name != name) {
    tables->push_back(DiscoveredTable{.schema = std::string(schema), .name = std::string(name)});
  }
  if (column) tables->back().columns.push_back(std::move(*column));
}

bool AddDiscoveryDataRow(std::vector<DiscoveredTable>* tables, std::string_view data_row) {
  protocol::MessageReader row(data_row);
  // nspname, relname, attname, typname, atttypid, bytewise, attnotnull, has a default
  std::array<std::optional<std::string_view>, 8> v;
  int16_t columns = 0;
  if (!row.ReadInt16(&columns) || columns != static_cast<int16_t>(v.size())) return false;
  for (auto& value : v) {
    int32_t len = 0;
    std::string_view bytes;
    if (!row.ReadInt32(&len)) return false;
    if (len < 0) continue;  // NULL
    if (!row.ReadBytes(static_cast<size_t>(len), &bytes)) return false;
    value = bytes;
  }
  if (!v[0] || !v[1]) return false;
  std::optional<Column> column;
  if (v[2] && v[3] && v[4]) {
    uint32_t type_oid = 0;
    if (std::from_chars(v[4]->data(), v[4]->data() + v[4]->size(), type_oid).ec != std::errc()) return false;
    column = Column{std::string(*v[2]), std::string(*v[3]), type_oid, !v[5] || *v[5] != "f", v[6] && *v[6] == "t",
                    !v[7] || *v[7] != "f"};
  }
  AddDiscoveryRow(tables, *v[0], *v[1], std::move(column));
  return true;
}

std::pair<TableKind, std::string> DecideKind(const DiscoveredTable& d, const Table* existing) {
  if (d.reference || (existing != nullptr && existing->kind == TableKind::kReference)) {
    return {TableKind::kReference, ""};
  }
  for (const Column& c : d.columns) {
    if (c.name == d.tenant_column) return {TableKind::kDistributed, d.tenant_column};
  }
  return {TableKind::kSingleTenant, ""};
}

std::shared_ptr<const ShardMap> ShardMapWithTables(const ShardMap& map, const std::vector<DiscoveredTable>& tables) {
  auto out = std::make_shared<ShardMap>(map);
  int64_t next_id = 0;
  for (const Table& t : map.tables) next_id = std::min(next_id, t.id);
  out->tables.clear();
  for (const DiscoveredTable& d : tables) {
    const Table* existing = map.FindTable(d.schema, d.name);
    auto [kind, tenant_column] = DecideKind(d, existing);
    out->tables.push_back(Table{.id = existing != nullptr ? existing->id : --next_id,
                                .schema = d.schema,
                                .name = d.name,
                                .kind = kind,
                                .tenant_column = std::move(tenant_column),
                                .columns = d.columns});
  }
  out->BuildIndex();
  return out;
}

}  // namespace mosaic::catalog

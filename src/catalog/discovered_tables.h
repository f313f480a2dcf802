// What a node's system catalogs say about its tables, independent of how they were read: the
// discovery query, the grouping of its rows into tables, the kind each table gets, and a shard
// map seen with a set of discovered tables. The control plane reads the tables over libpq
// (table_discovery.h) and stores them in the catalog; a session inside a transaction block that
// changed tables reads them over its own node connection, where the uncommitted tables are
// visible, and routes the rest of the block with ShardMapWithTables.
#pragma once

#include <memory>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "catalog/catalog.h"
#include "catalog/shard_map.h"

namespace mosaic::catalog {

// Every ordinary and partitioned table (pg_class relkind 'r' or 'p') outside the pg_catalog,
// information_schema, pg_toast* and mosaic schemas, ordered by schema and name; one row per
// column in attnum order (dropped columns omitted), or one row with NULL column fields for a
// table without columns. Columns: nspname, relname, attname, typname, atttypid, and whether the
// column's values sort byte by byte (Column::bytewise).
extern const std::string_view kTableDiscoverySql;

// Adds one row of kTableDiscoverySql to `tables` (rows in the query's order): a new table when
// schema.name differs from the last one, then `column` if the row has one.
void AddDiscoveryRow(std::vector<DiscoveredTable>* tables, std::string_view schema, std::string_view name,
                     std::optional<Column> column);

// The same for a row of kTableDiscoverySql as a DataRow's body (text format). False, adding
// nothing, if it is not one.
bool AddDiscoveryDataRow(std::vector<DiscoveredTable>* tables, std::string_view data_row);

// The kind and tenant column a discovered table gets, given what the map already says of it
// (nullptr: a new table). A reference table stays one; a table with its configured tenant column
// is distributed; anything else is single-tenant.
std::pair<TableKind, std::string> DecideKind(const DiscoveredTable& d, const Table* existing);

// `map` with its tables replaced by `tables` (tenant_column and reference filled from the
// configuration): tables already in the map keep their ids, layouts and migrations, and take the
// discovered columns and DecideKind's kind; new tables get ids below every id in the map (never
// stored: the catalog gives them theirs when the transaction that created them has committed);
// tables not discovered are gone. Indexed, ready to route with.
std::shared_ptr<const ShardMap> ShardMapWithTables(const ShardMap& map, const std::vector<DiscoveredTable>& tables);

}  // namespace mosaic::catalog

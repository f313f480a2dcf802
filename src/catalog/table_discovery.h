// Table discovery: the user tables a node has, read from its system catalogs, for
// Catalog::SyncTables. Control plane only: synchronous libpq, blocks on the node.
#pragma once

#include <vector>

#include "catalog/catalog.h"
#include "catalog/relation_oids.h"
#include "catalog/shard_map.h"
#include "common/status.h"

namespace mosaic::catalog {

// Every ordinary and partitioned table (pg_class relkind 'r' or 'p') on `node` outside the
// pg_catalog, information_schema, pg_toast* and mosaic schemas, ordered by schema and name,
// with its columns in attnum order (name, pg_type.typname, type oid; dropped columns omitted).
// Partitions are listed too (the nodes hold them as tables). tenant_column and reference are
// left at their defaults for the caller to fill. Fails with 08006 if the node cannot be reached,
// or the server's SQLSTATE.
Result<std::vector<DiscoveredTable>> DiscoverTables(const Node& node);

// The relations on `node` whose OIDs a RowDescription may carry (tables, partitioned tables,
// views, materialized views, foreign tables; not system, temporary or TOAST ones), each with
// its live columns: what RelationOids translates between nodes. Same failures as above.
Result<std::vector<NodeRelation>> DiscoverRelations(const Node& node);

}  // namespace mosaic::catalog

// Catalog schema migrations. Append new versions at the end of kMigrations; never edit, remove or
// renumber a released one, because catalogs in the field have already applied it.
#include "catalog/schema.h"

#include <string>

namespace mosaic::catalog {
namespace {

constexpr std::string_view kBootstrapSql = R"sql(
CREATE SCHEMA IF NOT EXISTS mosaic;
CREATE TABLE IF NOT EXISTS mosaic.schema_version (
  version     int PRIMARY KEY,
  description text NOT NULL DEFAULT '',
  applied_at  timestamptz NOT NULL DEFAULT now()
);
)sql";

// Version 1: nodes, tables, tenants, placements and the shard-map version history.
constexpr std::string_view kV1Sql = R"sql(
CREATE TABLE mosaic.nodes (
  id         int PRIMARY KEY,
  dsn        text NOT NULL,
  host       text NOT NULL DEFAULT '',
  port       int NOT NULL DEFAULT 5432,
  dbname     text NOT NULL DEFAULT '',
  username   text NOT NULL DEFAULT '',
  tier       text NOT NULL DEFAULT 'hot' CHECK (tier IN ('hot', 'cold')),
  capacity   float8 NOT NULL DEFAULT 1 CHECK (capacity > 0),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE mosaic.tables (
  id            bigserial PRIMARY KEY,
  schema_name   text NOT NULL,
  table_name    text NOT NULL,
  tenant_column text NULL,
  reference     bool NOT NULL DEFAULT false,
  table_group   bigint NOT NULL DEFAULT 0,
  UNIQUE (schema_name, table_name)
);
CREATE TABLE mosaic.tenants (
  key     text PRIMARY KEY,
  profile text NOT NULL DEFAULT ''
);
CREATE TABLE mosaic.placements (
  table_group  bigint NOT NULL,
  tenant       text NOT NULL,
  range_column text NOT NULL DEFAULT '',
  lower        text NULL,
  upper        text NULL,
  node_id      int NOT NULL REFERENCES mosaic.nodes (id),
  version      bigint NOT NULL
);
CREATE INDEX placements_group_tenant ON mosaic.placements (table_group, tenant);
CREATE TABLE mosaic.shard_map (
  version    bigint PRIMARY KEY,
  changed_at timestamptz NOT NULL DEFAULT now(),
  reason     text NOT NULL
);
INSERT INTO mosaic.shard_map (version, reason) VALUES (1, 'catalog created');
)sql";

// Version 2: table kinds and columns; layouts (a tenant's table group split into ranges of a
// range column) replace v1's placements; settings (tenant_hash_nodes).
constexpr std::string_view kV2Sql = R"sql(
ALTER TABLE mosaic.tables
  ADD COLUMN kind text NOT NULL DEFAULT 'single'
    CHECK (kind IN ('single', 'distributed', 'reference')),
  ADD COLUMN columns jsonb NOT NULL DEFAULT '[]';
UPDATE mosaic.tables SET kind = CASE
  WHEN reference THEN 'reference'
  WHEN coalesce(tenant_column, '') <> '' THEN 'distributed'
  ELSE 'single' END;
ALTER TABLE mosaic.tables DROP COLUMN reference, DROP COLUMN table_group;
DROP TABLE mosaic.placements;
CREATE TABLE mosaic.layouts (
  id           bigserial PRIMARY KEY,
  tenant       text NOT NULL,   -- canonical tenant key; '' = the implicit tenant
  range_column text NOT NULL,
  key_type     text NOT NULL,   -- pg_type.typname of the range column
  version      bigint NOT NULL  -- shard-map version that created the layout
);
CREATE TABLE mosaic.layout_tables (
  layout_id bigint NOT NULL REFERENCES mosaic.layouts (id) ON DELETE CASCADE,
  table_id  bigint NOT NULL REFERENCES mosaic.tables (id) ON DELETE CASCADE,
  tenant    text NOT NULL,      -- the layout's tenant: a table has one layout per tenant
  PRIMARY KEY (layout_id, table_id),
  UNIQUE (table_id, tenant)
);
CREATE TABLE mosaic.ranges (
  layout_id bigint NOT NULL REFERENCES mosaic.layouts (id) ON DELETE CASCADE,
  ordinal   int NOT NULL,
  lower     text NULL,          -- boundary text as given; NULL = unbounded
  upper     text NULL,
  node_id   int NOT NULL REFERENCES mosaic.nodes (id),
  version   bigint NOT NULL,
  PRIMARY KEY (layout_id, ordinal)
);
CREATE TABLE mosaic.settings (
  name  text PRIMARY KEY,
  value jsonb NOT NULL
);
)sql";

// Version 3: two-phase commit. Each router records an incarnation per start (part of its
// transaction ids) and one outcome per multi-node transaction: 'commit', written by the session
// after every node prepared and before any COMMIT PREPARED, or 'abort', written by the recovery
// pass before it rolls back a prepared transaction that has no row. The primary key makes the
// first writer win, so a late commit can never follow a rollback.
constexpr std::string_view kV3Sql = R"sql(
CREATE TABLE mosaic.routers (
  id          text PRIMARY KEY,
  incarnation bigint NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE mosaic.transactions (
  gid        text PRIMARY KEY,  -- the PREPARE TRANSACTION identifier
  outcome    text NOT NULL DEFAULT 'commit' CHECK (outcome IN ('commit', 'abort')),
  decided_at timestamptz NOT NULL DEFAULT now()
);
)sql";

// Version 4: the query pattern monitor's checkpoints: one row per router (id 1 for now), its windows as
// JSON text (src/monitor/pattern_store.h Checkpoint), replaced at each checkpoint.
constexpr std::string_view kMonitorCheckpointsSql = R"sql(
CREATE TABLE mosaic.monitor_checkpoints (
  id       int PRIMARY KEY,
  saved_at timestamptz NOT NULL DEFAULT now(),
  state    text NOT NULL
);
)sql";

// Version 5: online migrations (src/migration). One row per migration with its plan, flows and the
// service's step state; every phase change appends a journal row in the same transaction, before
// the change takes effect. Active migrations are part of the shard map (the data path fences and
// samples statements of the table group being moved), so a phase change bumps its version.
constexpr std::string_view kMigrationsSql = R"sql(
CREATE TABLE mosaic.migrations (
  id          bigserial PRIMARY KEY,
  action      text NOT NULL CHECK (action IN ('split', 'move', 'merge')),
  origin      text NOT NULL DEFAULT 'manual' CHECK (origin IN ('manual', 'rebalancer')),
  tenant      text NOT NULL,            -- canonical tenant key; '' = the implicit tenant
  table_ids   bigint[] NOT NULL,
  plan        jsonb NOT NULL,           -- migration::PlanJson
  flows       jsonb NOT NULL DEFAULT '[]',  -- [{"source": n, "target": n, "filter": sql}]
  phase       text NOT NULL DEFAULT 'queued',
  paused      boolean NOT NULL DEFAULT false,
  requested   text,                     -- an operator request not yet acted on: abort, rollback
  state       jsonb NOT NULL DEFAULT '{}',  -- the service's step state and progress
  error       text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
CREATE TABLE mosaic.migration_journal (
  seq          bigserial PRIMARY KEY,
  migration_id bigint NOT NULL REFERENCES mosaic.migrations (id) ON DELETE CASCADE,
  phase        text NOT NULL,
  at           timestamptz NOT NULL DEFAULT now(),
  detail       text NOT NULL DEFAULT ''
);
CREATE INDEX ON mosaic.migration_journal (migration_id, seq);
)sql";

constexpr Migration kMigrations[] = {
    {1, "nodes, tables, tenants, placements, shard_map", kV1Sql},
    {2, "table kinds and columns, layouts, ranges, settings", kV2Sql},
    {3, "routers and two-phase commit decisions", kV3Sql},
    {4, "monitor checkpoints", kMonitorCheckpointsSql},
    {5, "online migrations and their journal", kMigrationsSql},
};

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

int LatestSchemaVersion(std::span<const Migration> migrations) {
  return migrations.empty() ? 0 : migrations.back().version;
}

std::string_view BootstrapSql() { return kBootstrapSql; }

Status ValidateMigrations(std::span<const Migration> migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return Status::Internal("catalog migration at position " + std::to_string(i + 1) +
                              " has version " + std::to_string(migrations[i].version));
    }
  }
  return Status::OK();
}

Result<std::span<const Migration>> PendingMigrations(std::span<const Migration> migrations,
                                                     int stored_version) {
  if (Status s = ValidateMigrations(migrations); !s.ok()) return s;
  int latest = LatestSchemaVersion(migrations);
  if (stored_version < 0) {
    return Status::Internal("catalog schema version " + std::to_string(stored_version) +
                            " is invalid");
  }
  if (stored_version > latest) {
    return Status::Internal("catalog schema version " + std::to_string(stored_version) +
                            " was written by a newer Mosaic (this one knows up to " +
                            std::to_string(latest) + ")");
  }
  return migrations.subspan(static_cast<size_t>(stored_version));
}

}  // namespace mosaic::catalog

// Catalog: Mosaic's durable metadata (nodes, tables, tenants, placements, shard-map versions)
// kept in schema "mosaic" of a PostgreSQL database.
//
// Control plane only: every call is synchronous libpq I/O and may block for as long as the
// catalog server takes. Never call it from the data path; the router reads the ShardMap that
// Load() returns, published through a ShardMapHolder.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "catalog/schema.h"
#include "catalog/shard_map.h"
#include "common/status.h"

struct pg_conn;  // PGconn from <libpq-fe.h>

namespace mosaic::catalog {

// A table found in a node's system catalogs, with what the configuration says about it.
struct DiscoveredTable {
  std::string schema;
  std::string name;
  std::vector<Column> columns;  // attnum order, dropped columns omitted
  std::string tenant_column;    // the tenant column configured for this table ("tenant_id"...)
  bool reference = false;       // the configuration lists it as a reference table
};

// ---- Migrations (implemented in catalog_migrations.cc) ----------------------------------------
// One row of mosaic.migrations: an online migration (src/migration) as the service records it.
// Timestamps are PostgreSQL's text output of timestamptz.
struct MigrationRecord {
  int64_t id = 0;
  std::string action, origin = "manual", tenant;  // tenant: canonical key, "" = implicit tenant
  std::vector<int64_t> table_ids;
  std::string plan_json, flows_json = "[]", phase = "queued";
  bool paused = false;
  std::optional<std::string> requested, error;  // requested: "abort" | "rollback" | nullopt
  std::string state_json = "{}";
  std::string created_at, updated_at;
  std::optional<std::string> finished_at;
};

// One row of mosaic.migration_journal: a phase change (or pause/resume) of a migration.
struct MigrationJournalEntry {
  int64_t seq = 0;
  std::string phase, at, detail;
};
// ---- end of migrations ----------------------------------------------------------------------

class PreparedCutover;

// One connection to the catalog database. Not thread-safe: use one Catalog per thread, or
// serialise calls. Several Catalogs (several routers) may share one catalog database: schema
// upgrades and shard-map version bumps are serialised with advisory locks. A call that fails
// because the connection dropped is retried once on a fresh connection; each call is one
// transaction, so this is safe (at worst a BumpVersion whose COMMIT reply was lost records one
// extra, unused version).
class Catalog {
 public:
  // Connects to the catalog database named by `dsn`, a libpq conninfo or URI (e.g.
  // "host=127.0.0.1 port=6433 user=mosaic dbname=mosaic_catalog"). If that database does not
  // exist, creates it through dbname=postgres on the same server. Then applies the migrations
  // the catalog lacks, all in one transaction holding an advisory lock, so routers starting
  // together do not race. Fails with the server's SQLSTATE, or 08006 if it cannot connect,
  // and if the catalog's schema is newer than this binary knows.
  static Result<std::unique_ptr<Catalog>> Open(const std::string& dsn);
  // As above with an explicit migration list (tests inject extra versions).
  // REQUIRES: `migrations` is numbered 1..n; it need only live for the duration of the call.
  static Result<std::unique_ptr<Catalog>> Open(const std::string& dsn,
                                               std::span<const Migration> migrations);

  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;
  ~Catalog();

  // Schema version the catalog was at when Open returned.
  int schema_version() const { return schema_version_; }

  // Inserts nodes whose id is unknown; for known ids updates dsn, host, port, dbname and user
  // (tier and capacity are operator settings and are left alone). Never deletes. The first call
  // with nodes also fixes tenant_hash_nodes to the ids it registers, for good. Bumps the
  // shard-map version, in the same transaction, iff something changed. All or nothing.
  Status RegisterNodes(const std::vector<Node>& nodes);

  // Makes the catalog's tables exactly `tables` (keyed by schema and name). A table's kind:
  // reference if the catalog already says so or the table says `reference`; else distributed
  // if it has a column named `tenant_column`; else single-tenant. Tables not in `tables` are
  // removed with their layouts; a table leaves a layout whose tenant no longer fits its kind or
  // whose range column it no longer has (same name and type); layouts left without tables are
  // removed. Bumps the shard-map version iff anything changed. All or nothing.
  Status SyncTables(const std::vector<DiscoveredTable>& tables);

  // Stores `layout` (tenant, table_ids, column, column_type, ranges with lower, upper and
  // node_id) as a new layout under a new shard-map version, which it returns. The tables leave
  // any layout of the same tenant they were in (a table has at most one layout per tenant);
  // layouts left without tables are removed. Ids and versions in `layout` are ignored.
  // REQUIRES: the layout was validated (ascending ranges, known tables and nodes); the catalog
  // still enforces the references (23503 for an unknown table or node). All or nothing.
  Result<int64_t> ReplaceLayout(const Layout& layout);

  // Marks table `table_id` a reference table (and drops its layouts). Bumps the shard-map version
  // iff it was not one already. 42P01 if there is no such table.
  Status MarkReferenceTable(int64_t table_id);

  // Reads the whole catalog, from one consistent snapshot, into a new immutable ShardMap:
  // nodes ordered by id, tables by id (kind, tenant column, columns), tenants by key, layouts by
  // id (ranges by ordinal, keys encoded with the range column's key type), tenant_hash_nodes;
  // indexes built. Its version is the current shard-map version (>= 1). Fails with XX000 if a
  // stored boundary no longer encodes.
  Result<std::shared_ptr<const ShardMap>> Load();

  // The query pattern monitor's checkpoint: replaces the stored state of router `id`, and reads
  // it back (nullopt when none was saved).
  Status SaveMonitorCheckpoint(int id, const std::string& state);
  Result<std::optional<std::string>> LoadMonitorCheckpoint(int id);

  // Records a new shard-map version with `reason` in its own transaction and returns it.
  Result<int64_t> BumpVersion(const std::string& reason);

  // A setting of mosaic.settings as JSON text; nullopt if it was never set.
  Result<std::optional<std::string>> Setting(const std::string& name);
  // Sets (inserts or replaces) setting `name` to the JSON `json_text`. 22P02 if it is not JSON.
  Status PutSetting(const std::string& name, const std::string& json_text);

  // Two-phase commit (see frontend/two_phase.h for who writes the decisions).
  // Records one more start of router `router_id` and returns its incarnation: 1 on the first
  // start, then 2, 3... Part of the router's transaction ids, so ids never repeat across restarts.
  Result<int64_t> StartIncarnation(const std::string& router_id);
  // The transaction ids with a recorded outcome (commit or abort) that start with `gid_prefix`.
  Result<std::vector<std::string>> Decisions(const std::string& gid_prefix);
  // The outcome of `gid` for the recovery pass: true (commit) if the session recorded its commit
  // decision; otherwise records 'abort' (so the session can no longer record a commit) and
  // returns false.
  Result<bool> DecideOutcome(const std::string& gid);
  // Deletes the outcomes of `gids` (transactions resolved on every node).
  Status ForgetDecisions(const std::vector<std::string>& gids);

  // ---- Migrations (catalog_migrations.cc) -----------------------------------------------------
  // Active migrations are part of the shard map (the data path fences and samples the table group
  // being moved), so every call that changes what the data path must do bumps its version.
  // Unknown ids: 42704 (undefined_object). Phases and requests are stored as given; the service
  // (migration/service.h) decides which changes are legal.

  // Inserts `m` (its id, timestamps and finished_at are ignored) with a journal row for its phase
  // ("queued"), bumping the shard-map version, in one transaction. Returns the migration's id.
  Result<int64_t> CreateMigration(const MigrationRecord& m);
  // All migrations newest first, or only the active ones (phase not done, rolled_back or failed).
  Result<std::vector<MigrationRecord>> ListMigrations(bool active_only);
  // Migration `id`, or nullopt if there is none.
  Result<std::optional<MigrationRecord>> GetMigration(int64_t id);
  // The same, read after taking the shard-map lock: a switch whose COMMIT is still in flight
  // on another connection (its reply lost) has then committed or rolled back, so the record
  // read is final. For the runner that lost that reply.
  Result<std::optional<MigrationRecord>> GetMigrationSettled(int64_t id);
  // Migration `id`'s journal, oldest first (empty for an unknown id).
  Result<std::vector<MigrationJournalEntry>> MigrationJournal(int64_t id);
  // Records the phase change (journal row with `detail`), the new state and error (finished_at
  // for terminal phases; requested is cleared when the phase is terminal), and bumps the
  // shard-map version, all in one transaction. Returns the new version.
  Result<int64_t> SetMigrationPhase(int64_t id, const std::string& phase, const std::string& state_json,
                                    const std::string& detail,
                                    const std::optional<std::string>& error = std::nullopt);
  // Saves the service's step state and progress: no journal row, no version bump.
  Status SaveMigrationState(int64_t id, const std::string& state_json);
  // Pauses or resumes: a journal row (the current phase, detail "paused" / "resumed"); no bump.
  Status SetMigrationPaused(int64_t id, bool paused);
  // Records an operator request ("abort", "rollback") or clears it (nullopt). No bump.
  Status SetMigrationRequest(int64_t id, const std::optional<std::string>& request);
  // The cutover (and a rollback's switch back after a cutover), in two halves so that the slow
  // part runs before the write fence closes: opens a transaction, takes the shard-map lock, sets
  // migration `id`'s phase to `phase` (as SetMigrationPhase does, keeping its state), stores
  // `layout` for the group as ReplaceLayout does (the one version bump), and reads the shard map
  // that results, all uncommitted. PreparedCutover::Commit then records the state and journal row
  // and commits; Abort (or destroying it) rolls everything back. The transaction holds the
  // shard-map lock until then: every other change of the shard map, in any router, waits.
  // While it is open the PreparedCutover has this Catalog's connection: any other call on this
  // Catalog fails (08006). Unknown ids: 42704, before anything is stored. REQUIRES: as
  // ReplaceLayout; this Catalog lives until the PreparedCutover's Commit or Abort.
  Result<std::unique_ptr<PreparedCutover>> PrepareCutOver(int64_t id, const Layout& layout,
                                                          const std::string& phase);
  // ---- end of migrations ----------------------------------------------------------------------

 private:
  friend class PreparedCutover;
  struct ConnCloser {
    void operator()(pg_conn* conn) const;
  };
  using ConnPtr = std::unique_ptr<pg_conn, ConnCloser>;

  Catalog(ConnPtr conn, int schema_version);

  ConnPtr conn_;
  int schema_version_;
};

// A cutover's catalog transaction, open and holding the shard-map lock (Catalog::PrepareCutOver).
// Not thread-safe. Nothing it wrote is visible to anyone else until Commit succeeds.
class PreparedCutover {
 public:
  PreparedCutover(const PreparedCutover&) = delete;
  PreparedCutover& operator=(const PreparedCutover&) = delete;
  ~PreparedCutover();  // Abort() unless committed or aborted

  // The shard map as it is once the cutover commits (the new layout, the migration in its new
  // phase, the new version), read inside the transaction. Never null.
  const std::shared_ptr<const ShardMap>& map() const { return map_; }

  // Records `state_json` as the migration's state and a journal row (the prepared phase,
  // `detail`), then commits. OK: committed. An error: rolled back, or, if the connection failed
  // during COMMIT, unknown (ask the catalog over a new connection). Either way the transaction is
  // over and the Catalog has its connection back. REQUIRES: neither Commit nor Abort was called.
  Status Commit(const std::string& state_json, const std::string& detail);
  // Rolls the transaction back (nothing changes) and gives the Catalog its connection back. Does
  // nothing if the transaction is already over.
  void Abort();

 private:
  friend class Catalog;
  PreparedCutover(Catalog& catalog, int64_t id, std::shared_ptr<const ShardMap> map);
  void GiveBack();

  Catalog& catalog_;
  const int64_t id_;
  std::shared_ptr<const ShardMap> map_;
  Catalog::ConnPtr conn_;  // taken from catalog_ while the transaction is open
};

}  // namespace mosaic::catalog

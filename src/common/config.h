// Config: everything `mosaic serve` can be told, from the command line or a TOML file.
//
// Parsing happens once at startup (an edge: exceptions from toml++ are caught here and turned
// into a Status with SQLSTATE F0000). The resulting struct is immutable after startup.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "advisor/profile.h"
#include "common/status.h"

namespace mosaic {

struct HostPort {
  std::string host;
  int port = 0;
};
// Parses "HOST:PORT" or "[v6]:PORT"; port must be 0..65535.
Result<HostPort> ParseHostPort(std::string_view text);

enum class PoolMode { kTransaction, kSession };

struct UserConfig {
  std::string name;
  std::string password;        // plain text; turned into a SCRAM verifier at startup
  std::string scram_verifier;  // "SCRAM-SHA-256$iter:salt$stored:server"
};

struct NodeConfig {
  std::string dsn;  // libpq conninfo or URI
  std::string tier = "hot";
  double capacity = 1.0;
};

// Per-table settings, from [tables."schema.name"] in the TOML file.
struct TableConfig {
  std::string tenant_column;  // "" = the global default
};

struct Config {
  HostPort listen{"127.0.0.1", 6432};
  HostPort admin_listen{"127.0.0.1", 6480};
  std::string database = "mosaic";   // the one logical database clients connect to
  std::string auth = "trust";        // "trust" or "scram-sha-256"
  std::vector<UserConfig> users;
  PoolMode pool_mode = PoolMode::kTransaction;
  int pool_size = 20;                // server connections per node, all workers together
  int max_client_connections = 2000;
  int workers = 0;                   // event-loop threads; 0 = one per core
  uint32_t max_message_size = 256u << 20;
  int query_wait_timeout_ms = 30000;  // how long a client waits for a free server connection
  int connect_timeout_s = 15;        // to open a server connection (PgBouncer's server_connect_timeout is 15 s too)
  // A client that has not finished its startup packet and authentication by then is dropped
  // (PostgreSQL's authentication_timeout is 60 s too): it holds a max_client_connections slot.
  int authentication_timeout_s = 60;
  int max_prepared_statements = 256;  // per server connection; more are closed and re-prepared
  // What one statement over several nodes may hold in the router while its results are merged
  // (aggregates, DISTINCT, re-sorts and other results buffered until every node has answered;
  // the rows a subquery run first or an INSERT ... SELECT through Mosaic holds; streamed results
  // only hold what waits for other nodes): past it the statement fails with 54000 rather than
  // the process running out of memory for every session.
  int max_merge_mb = 1024;
  // Pipelining: one-statement reads outside a transaction, of shapes seen to run in under a
  // millisecond, may queue behind other sessions' on one server connection, up to this many
  // per connection (docs/operations.md, Pipelining). 0 or 1: off.
  int pipeline_depth = 4;

  int managed_nodes = 0;             // > 0: Mosaic runs its own PostgreSQL clusters
  std::string data_dir;
  int node_base_port = 0;
  // The router's own connections to its managed nodes go over their Unix sockets (a cheaper
  // hop than TCP loopback); false: over TCP, as to any other node.
  bool managed_unix_socket = true;
  std::vector<NodeConfig> nodes;     // existing servers instead of managed nodes
  std::string catalog_dsn;           // "" = mosaic_catalog on the first node

  std::string log_level = "info";

  // Two-phase commit. The router id is part of every transaction id this router prepares, so
  // its recovery pass finds its own in-doubt transactions after a crash: keep it stable across
  // restarts, and give each router sharing a catalog its own ([A-Za-z0-9-], 1..32 characters).
  std::string router_id = "r1";
  int two_phase_recovery_interval_s = 30;  // how often the recovery pass runs (and at start-up)
  // Distributed deadlock detection (frontend/deadlock.h): how often every node is asked which
  // of this router's backends wait on which. 0 = off.
  double deadlock_detection_interval_s = 2;
  // Testing only (--test-fault POINT:N): kill the process with SIGKILL at POINT of the N-th
  // two-phase commit. Points: prepare-some, prepare-all, decision, commit-some.
  std::string test_fault;
  // The query pattern monitor ([monitor] in the TOML file).
  struct Monitor {
    bool enabled = true;
    int64_t window_seconds = 24 * 3600;  // sliding window, in minute buckets
    int64_t memory_budget_mb = 512;      // beyond it the lightest tenants are folded into "(other)"
    int checkpoint_seconds = 60;         // checkpoints to the catalog (also on shutdown); 0 = only on shutdown
  } monitor;
  // Online migrations ([migration] in the TOML file; see docs/migration.md).
  struct Migration {
    int64_t copy_rows_per_s = 0;      // copy rate limit per flow; 0 = unlimited
    int64_t copy_bytes_per_s = 0;
    int batch_rows = 10000;           // rows per committed copy batch
    double retention_s = 600;         // how long a cut-over source keeps its copy (rollback possible)
    double shadow_min_s = 5;          // shadow reads run at least this long before cutover
    // With no budget (below): how long the cutover waits for open transactions on the rows.
    int cutover_drain_ms = 2000;
    // How long the fence may hold before the switch: the drain of the transactions inside and
    // the targets' catch-up under it. Beyond it the fence opens again and the cutover is tried
    // again after a pause (backing off up to 2 s). 0 = no budget: the drain waits up to
    // cutover_drain_ms and the catch-up up to catchup_timeout_s.
    int cutover_fence_budget_ms = 30;
    // After this many fenced catch-ups in a row over the budget, the next one may take up to
    // catchup_timeout_s (a subscriber that stalls for a while). The drain never does.
    int cutover_attempts = 5;
    // How long the cutover keeps trying (a transaction that stays open on the rows): past it the
    // migration rolls back and ends `failed`, naming what blocked it.
    double cutover_timeout_s = 300;
    double catchup_timeout_s = 30;    // the target must catch up within this, under the fence
    double node_down_timeout_s = 120; // a node unreachable this long: the migration rolls back
    int max_per_node = 1;             // migrations copying from or to one node at a time
  } migration;
  // The rebalancer ([rebalancer] in the TOML file; see docs/rebalancer.md).
  struct Rebalancer {
    bool enabled = true;              // the loop runs rounds every interval_s
    double interval_s = 60;           // between rounds; 0 = rounds only on request
    int64_t window_s = 3600;          // the monitor window a round plans from
    double imbalance_threshold = 1.25;  // heaviest node load / mean above this asks for a balance plan
    double cooldown_s = 600;          // per (tenant, table group), after its last migration ended
    double failure_backoff_s = 300;   // after a failed or rolled-back migration; doubles per failure in a row
    bool dry_run = false;             // plan and record events, start no migration
    int64_t min_statements = 50;      // tenants with fewer statements in the window are not planned
    int max_tenants = 100;            // the busiest tenants of the window a round reads
    int max_events = 1000;            // events kept in memory (oldest dropped)
  } rebalancer;

  // Distribution. Table names are "schema.name" (a bare name means schema public), as stored
  // in the catalog: already folded, compared exactly.
  std::string tenant_column = "tenant_id";        // a table with this column is distributed
  std::map<std::string, TableConfig> tables;      // per-table overrides, by "schema.name"
  std::vector<std::string> reference_tables;      // "schema.name" of tables copied to every node

  // Storage profiles ([profiles.NAME], [tenant_profiles]; see advisor/profile.h).
  advisor::ProfileSet profiles;

  // The tenant column configured for schema.name (its override, else `tenant_column`).
  std::string TenantColumnFor(std::string_view schema, std::string_view name) const;
  // True if `reference_tables` lists schema.name.
  bool IsReferenceTable(std::string_view schema, std::string_view name) const;

  // Loads a TOML file (keys as in docs/operations.md) over the defaults.
  static Result<Config> LoadToml(const std::string& path);
  // Checks cross-field rules (some node source, auth users, sizes). OK or F0000 / 22023.
  Status Validate() const;
};

}  // namespace mosaic

// App: `mosaic serve` put together. Starts (in order) managed nodes or checks the given ones,
// opens the catalog and publishes the first shard-map snapshot, discovers the tables, starts
// the workers, the client listener, the admin API, the node health checker, the two-phase
// recovery pass and the distributed deadlock detector; stops them in reverse order.
//
// Startup may block (initdb, catalog); nothing here runs on the data path.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "admin/admin_server.h"
#include "admin/control_plane.h"
#include "admin/rebalancer_api.h"
#include "migration/registry.h"
#include "migration/service.h"
#include "backend/managed_node.h"
#include "catalog/catalog.h"
#include "catalog/data_stats.h"
#include "catalog/shard_map.h"
#include "common/config.h"
#include "frontend/deadlock.h"
#include "frontend/listener.h"
#include "frontend/worker.h"
#include "monitor/monitor.h"

namespace mosaic {

class App {
 public:
  explicit App(Config config);
  ~App();

  // Brings everything up. On error nothing is left running.
  Status Start();
  // Stops everything (managed nodes last, cleanly). Idempotent.
  void Stop();

  int listen_port() const { return listener_ ? listener_->port() : 0; }
  int admin_port() const { return admin_ ? admin_->port() : 0; }
  const catalog::ShardMap& shard_map() const { return *shard_map_.Snapshot(); }

  // For the admin API (any thread).
  nlohmann::json NodesJson() const;
  std::string MetricsText() const;

 private:
  Status StartNodes(std::vector<catalog::Node>* nodes);
  Status OpenCatalog(const std::vector<catalog::Node>& nodes);
  Status ReadServerParams();
  Status StartTwoPhase();
  // One two-phase recovery pass (catalog/two_phase_recovery.h) with `catalog`.
  void RecoverOnce(catalog::Catalog& catalog);
  void RecoveryLoop();
  void HealthLoop();
  std::string NodeState(const catalog::Node& node) const;
  // The query pattern monitor (app_monitor.cc): created before the workers (each takes a
  // recorder), its last checkpoint restored from the catalog; stopped after the workers, with a
  // final checkpoint.
  Status StartMonitor();
  void StopMonitor();

  Config config_;
  std::unique_ptr<backend::ManagedCluster> managed_;
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<admin::ControlPlane> control_;  // owns all use of catalog_ after startup
  catalog::ShardMapHolder shard_map_;
  catalog::RelationOidsHolder relation_oids_;  // RowDescription table OIDs, per node
  frontend::FrontendContext context_;
  std::vector<std::unique_ptr<frontend::Worker>> workers_;
  std::unique_ptr<frontend::Listener> listener_;
  std::unique_ptr<admin::AdminServer> admin_;
  std::string catalog_dsn_;
  catalog::DataStatsCache data_stats_;  // for GET /api/v1/advice
  std::unique_ptr<monitor::Monitor> monitor_;           // null when monitor.enabled = false
  std::unique_ptr<catalog::Catalog> monitor_catalog_;   // the monitor thread's own connection
  migration::Registry migration_registry_;              // fences shared with the data path
  std::unique_ptr<migration::Service> migrations_;      // online migrations (src/migration)
  std::unique_ptr<admin::MonitorSource> rebalancer_source_;
  std::unique_ptr<rebalancer::Rebalancer> rebalancer_;  // src/rebalancer

  // Distributed deadlock detection (frontend/deadlock.h); null when it is off.
  backend::BackendRegistry backends_;
  std::unique_ptr<frontend::DeadlockDetector> deadlocks_;

  std::thread health_thread_;
  std::thread recovery_thread_;
  std::atomic<int64_t> recovered_commits_{0};
  std::atomic<int64_t> recovered_rollbacks_{0};
  std::atomic<bool> stopping_{false};
  mutable std::mutex health_mu_;
  std::map<int, bool> node_up_;  // GUARDED_BY(health_mu_)
};

// Splits a libpq DSN (keyword form or URI) into a catalog Node. Fails with 22023.
Result<catalog::Node> NodeFromDsn(int id, const std::string& dsn);
// The same connection with another database name, as keyword/value conninfo.
Result<std::string> DsnWithDatabase(const std::string& dsn, const std::string& dbname);

}  // namespace mosaic

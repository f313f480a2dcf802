// The migration service: runs migrations (migration.h) through their phases on a control-plane
// thread of its own, with its own catalog connection, and answers the admin API about them.
//
// Every phase change is recorded in the catalog (mosaic.migrations + mosaic.migration_journal)
// before it takes effect; after a restart the service reads the active migrations back and resumes
// each one from its recorded phase (or rolls it back when that is the only safe way on).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace mosaic::migration {

// What the admin API (admin/migrations_api.*) needs from the service. Each call returns
// (HTTP status, JSON body); errors are {"error": message, "sqlstate": code}.
class Backend {
 public:
  virtual ~Backend() = default;
  // POST /api/v1/migrations: an action in the advisor's format (PlanAction), plus optional
  // "origin" ("manual" default, or "rebalancer"). 201 with the migration's JSON; 400 bad action;
  // 409 when a range it touches is already migrating; 503 catalog unreachable.
  virtual std::pair<int, nlohmann::json> Submit(const nlohmann::json& action) = 0;
  // GET /api/v1/migrations: {"migrations": [...]} newest first (all, terminal ones included).
  virtual std::pair<int, nlohmann::json> List() = 0;
  // GET /api/v1/migrations/{id}: one migration with its journal; 404 if unknown.
  virtual std::pair<int, nlohmann::json> Get(int64_t id) = 0;
  // POST /api/v1/migrations/{id}/{pause|resume|abort|rollback}: 200 with the migration's JSON;
  // 404 unknown id; 409 when the request does not apply to its phase (e.g. rollback when done).
  virtual std::pair<int, nlohmann::json> Request(int64_t id, const std::string& request) = 0;
};

}  // namespace mosaic::migration

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "catalog/catalog.h"
#include "catalog/shard_map.h"
#include "common/config.h"
#include "migration/migration.h"
#include "migration/registry.h"

namespace mosaic::migration {

// Runs migrations: one thread per active migration, each with its own catalog connection; the
// admin API's calls use another, under a mutex.
class Service : public Backend {
 public:
  // `holder` and `registry` must outlive the service.
  Service(const Config& config, std::string catalog_dsn, catalog::ShardMapHolder& holder, Registry& registry);
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;
  ~Service() override;

  // Which two-phase transaction ids this router's sessions are committing right now (not in
  // doubt, whatever pg_prepared_xacts shows for a moment). Set before Start.
  void set_in_flight(std::function<bool(const std::string&)> in_flight) { in_flight_ = std::move(in_flight); }

  // Opens the API's catalog connection and resumes every active migration from its recorded
  // phase. Fails if the catalog cannot be reached.
  Status Start();
  // Stops the runners at their next step (their migrations stay where they are, to be resumed
  // by the next start) and joins them.
  void Stop();

  std::pair<int, nlohmann::json> Submit(const nlohmann::json& action) override;
  std::pair<int, nlohmann::json> List() override;
  std::pair<int, nlohmann::json> Get(int64_t id) override;
  std::pair<int, nlohmann::json> Request(int64_t id, const std::string& request) override;

  // Waits until migration `id` reaches a terminal phase or `timeout` passes (tests, benches).
  bool WaitTerminal(int64_t id, std::chrono::milliseconds timeout);

 private:
  // What the API thread and a runner share about one migration.
  struct Live {
    std::atomic<bool> paused{false};
    std::atomic<bool> stop{false};            // service stopping: leave the migration as it is
    std::atomic<int> request{0};              // 0 none, 1 abort, 2 rollback
    std::atomic<bool> terminal{false};
    std::atomic<bool> copying{false};         // holds its nodes (max_per_node)
    std::mutex mu;
    Progress progress;                        // guarded by mu
    std::string phase;                        // guarded by mu
    std::vector<int> nodes;                   // guarded by mu
    std::thread thread;
  };
  class Runner;

  void Launch(int64_t id, std::shared_ptr<Live> live);
  // Whether migration `id` may start copying on `nodes` now (max_per_node); marks it if so.
  bool AcquireNodes(int64_t id, const std::vector<int>& nodes);
  std::pair<int, nlohmann::json> Render(const catalog::MigrationRecord& m, bool with_journal);

  const Config config_;
  const std::string catalog_dsn_;
  catalog::ShardMapHolder& holder_;
  Registry& registry_;
  std::function<bool(const std::string&)> in_flight_;

  std::mutex mu_;  // guards catalog_, live_
  std::unique_ptr<catalog::Catalog> catalog_;
  std::map<int64_t, std::shared_ptr<Live>> live_;
  std::mutex nodes_mu_;
  std::condition_variable terminal_cv_;
};

}  // namespace mosaic::migration

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

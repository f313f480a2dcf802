// The migrations API: the HTTP routes of /api/v1/migrations, answered by the migration service
// (migration::Backend), and the JSON shape of one migration.
//
//   POST /api/v1/migrations                    submit an action (advisor format, + "origin")
//   GET  /api/v1/migrations                    {"migrations": [...]}, newest first
//   GET  /api/v1/migrations/{id}               one migration with its journal
//   POST /api/v1/migrations/{id}/{pause|resume|abort|rollback}
// A non-numeric id is 400; an unknown request word or a longer path is 404. Everything else the
// backend decides (its status and body are passed through unchanged).
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "admin/admin_server.h"
#include "catalog/catalog.h"
#include "migration/service.h"

namespace mosaic::admin {

// Adds the routes above to `server`. REQUIRES: `backend` outlives the server's routes.
// `backend` is called on the server's threads, possibly concurrently.
void RegisterMigrationRoutes(AdminServer& server, migration::Backend& backend);

// One migration as the API shows it:
//   {"id", "action", "origin", "phase", "paused", "requested" (null | "abort" | "rollback"),
//    "tenant" (null for the implicit tenant), "tables": ["schema.name"], "column",
//    "ranges": the new ranges, "from": the ranges replaced ([{"lower", "upper", "node"}]),
//    "flows": [{"source", "target"}],
//    "progress": {"rows_copied", "rows_estimated", "bytes", "rows_per_s", "eta_s" (null: unknown),
//                 "cutover_attempts" (fences opened again without the switch), "cutover_blocked_by"
//                 (null, or what kept the last of them from switching)},
//    "mismatches": {"shadow_reads", "shadow_mismatches", "checksum_chunks", "checksum_mismatches"},
//    "timings": {"created_at", "updated_at", "finished_at" (null), "cutover_pause_ms" (null: not yet),
//                "cutover_steps_ms": {step: ms}, "cutover_abandoned_ms": [ms] (fences opened again
//                without the switch, the last 100)},
//    "error" (null), "journal": [{"phase", "at", "detail"}] (only when `journal` is given)}
// Plan, flows and progress come from the record's JSON columns (plan: migration::PlanJson; flows;
// state["progress"]: migration::ProgressJson); unreadable JSON shows as empty values.
nlohmann::json MigrationJson(const catalog::MigrationRecord& m,
                             const std::vector<catalog::MigrationJournalEntry>* journal);

}  // namespace mosaic::admin

// `mosaic migrate`: the command-line client of /api/v1/migrations. Lists migrations and watches
// the active ones (one progress line each, refreshed every second until none is active), submits
// an action, and sends pause / resume / abort / rollback requests.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace mosaic {

struct MigrateArgs {
  std::string admin = "127.0.0.1:6480";
  bool json = false;  // print the API's JSON (implies --once)
  bool once = false;  // list once, do not watch
};

// The text table of a GET /api/v1/migrations reply (only the active migrations if `active_only`):
// ID, ACTION, TENANT, PHASE (with "paused" / the pending request), PROGRESS (a bar of
// rows_copied / rows_estimated and the percentage), RATE, ETA, MISMATCHES (shadow reads and
// checksum chunks). "no migrations" (or "no active migration") when there are none.
std::string FormatMigrations(const nlohmann::json& reply, bool active_only);
// "[#####.....]  50%" for `done` of `total` in `width` cells; dots only when total <= 0.
std::string ProgressBar(int64_t done, int64_t total, int width);
// Whether a migration of the API is still active (its phase is not terminal).
bool MigrationActive(const nlohmann::json& migration);

// Lists, then (unless args.once or args.json) watches until no migration is active. Exit code.
int RunMigrateList(const MigrateArgs& args);
// Submits `action`: JSON text, or "@file" to read it from a file. Exit code.
int RunMigrateSubmit(const MigrateArgs& args, const std::string& action);
// Sends `request` (pause, resume, abort, rollback) for migration `id`. Exit code.
int RunMigrateRequest(const MigrateArgs& args, const std::string& request, const std::string& id);

}  // namespace mosaic

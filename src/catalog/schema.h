// The catalog database's schema as an ordered list of migrations, and the pure logic that decides
// which of them a catalog still needs.
//
// Nothing here talks to PostgreSQL: Catalog::Open runs the SQL. Released migrations are never
// edited or reordered; a schema change appends the next version to the list in schema.cc.
#pragma once

#include <span>
#include <string_view>

#include "common/status.h"

namespace mosaic::catalog {

// One step of the catalog schema. Its SQL runs in the same transaction that records `version`
// in mosaic.schema_version, so a catalog is never left half-upgraded.
struct Migration {
  int version = 0;  // 1, 2, ... without gaps
  std::string_view description;
  std::string_view sql;  // one or more statements; objects live in schema "mosaic"
};

// The catalog's migrations, ordered by version. Static storage; valid for the whole program.
std::span<const Migration> Migrations();

// Schema version reached after applying `migrations`: the last one's version, 0 if empty.
int LatestSchemaVersion(std::span<const Migration> migrations = Migrations());

// Creates schema "mosaic" and mosaic.schema_version if absent. Idempotent; run before reading
// the stored version. mosaic.schema_version holds one row per applied migration; the current
// version is max(version), 0 when empty.
std::string_view BootstrapSql();

// OK if `migrations` are numbered 1..n in order; otherwise an internal error naming the culprit.
Status ValidateMigrations(std::span<const Migration> migrations);

// Returns the suffix of `migrations` that a catalog at `stored_version` still needs (possibly
// empty). Fails, and nothing may be applied, if the list is invalid or `stored_version` is
// negative or newer than the list (the catalog was written by a newer Mosaic).
Result<std::span<const Migration>> PendingMigrations(std::span<const Migration> migrations,
                                                     int stored_version);

}  // namespace mosaic::catalog

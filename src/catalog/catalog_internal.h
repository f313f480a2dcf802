// Helpers shared by the files implementing Catalog (catalog.cc, catalog_migrations.cc): the
// shard-map lock and version, layout storage inside a caller's transaction, reconnection.
// Internal to src/catalog: nothing outside the Catalog's implementation includes this.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/pg_client.h"
#include "catalog/shard_map.h"
#include "common/log.h"
#include "common/status.h"

namespace mosaic::catalog::internal {

// Advisory lock key of shard-map changes ("Mosaic" in ASCII, then a purpose). Per database.
inline constexpr int64_t kShardMapLockKey = 0x4d6f73616963'0002;

// Takes advisory lock `key` until the end of the current transaction.
inline Status LockForTransaction(PGconn* conn, int64_t key) {
  return pg::Run(conn, "SELECT pg_advisory_xact_lock(" + std::to_string(key) + ")");
}

// Appends the next shard-map version with `reason` and returns it.
// REQUIRES: inside a transaction holding kShardMapLockKey.
Result<int64_t> InsertShardMapVersion(PGconn* conn, const std::string& reason);

// Stores `layout` as a new layout under a new shard-map version, which it returns (the body of
// Catalog::ReplaceLayout). REQUIRES: inside a transaction holding kShardMapLockKey.
Result<int64_t> StoreLayout(PGconn* conn, const Layout& layout);

// Reads the whole catalog into a new ShardMap with its indexes built (the body of Catalog::Load).
// REQUIRES: inside a transaction; it sees what the transaction wrote.
Result<std::shared_ptr<const ShardMap>> ReadShardMap(PGconn* conn);

// "{1,2,3}": ids as a PostgreSQL array literal.
std::string IdArray(const std::vector<int64_t>& ids);

// The ids of array_to_string(ids, ','): "1,2,3".
std::vector<int64_t> IdsFromCsv(std::string_view csv);

// Runs `op` (a whole transaction); if it failed because the connection is gone, reconnects and
// runs it once more. Returns the first failure if reconnecting fails.
template <typename Op>
auto WithReconnect(PGconn* conn, Op&& op) -> decltype(op()) {
  auto result = op();
  if (result.ok() || PQstatus(conn) == CONNECTION_OK) return result;
  log::warn("catalog connection lost; reconnecting");
  PQreset(conn);
  if (PQstatus(conn) != CONNECTION_OK) return result;
  return op();
}

}  // namespace mosaic::catalog::internal

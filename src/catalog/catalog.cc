// Catalog persistence over synchronous libpq. Control plane only: blocks on the network, holds
// no process-wide locks, and never hands a PGconn or PGresult to its callers.
#include "catalog/catalog.h"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <string_view>
#include <utility>

#include "common/log.h"

namespace mosaic::catalog {
namespace {

// Advisory lock keys ("Mosaic" in ASCII, then a purpose). Advisory locks are per database.
constexpr int64_t kSchemaLockKey = 0x4d6f73616963'0001;
constexpr int64_t kShardMapLockKey = 0x4d6f73616963'0002;

struct PgConnCloser {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
struct PgResultClearer {
  void operator()(PGresult* res) const { PQclear(res); }
};
using PgConn = std::unique_ptr<PGconn, PgConnCloser>;
using PgResultPtr = std::unique_ptr<PGresult, PgResultClearer>;
using Params = std::vector<std::optional<std::string>>;  // nullopt = SQL NULL

std::string Trimmed(const char* message) {
  std::string s = message != nullptr ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Status ConnectionError(PGconn* conn, std::string_view what) {
  return Status(sqlstate::kConnectionFailure,
                std::string(what) + ": " + Trimmed(PQerrorMessage(conn)));
}

// Keeps the server's SQLSTATE so callers can tell, say, a check violation from a lost server.
Status QueryError(PGconn* conn, const PGresult* res, std::string_view sql) {
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = res != nullptr ? Trimmed(PQresultErrorMessage(res))
                                       : Trimmed(PQerrorMessage(conn));
  size_t start = std::min(sql.find_first_not_of(" \n"), sql.size());
  std::string head(sql.substr(start, 60));
  for (char& c : head) c = c == '\n' ? ' ' : c;
  return Status(state != nullptr ? std::string_view(state) : sqlstate::kConnectionFailure,
                "catalog query failed (" + head + "...): " + message);
}

// Runs `sql`. Without params it may hold several statements (simple query protocol).
Result<PgResultPtr> Exec(PGconn* conn, const std::string& sql, const Params& params = {}) {
  PgResultPtr res;
  if (params.empty()) {
    res.reset(PQexec(conn, sql.c_str()));
  } else {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    res.reset(PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                           values.data(), nullptr, nullptr, 0));
  }
  ExecStatusType st = res != nullptr ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return QueryError(conn, res.get(), sql);
  return res;
}

Status Run(PGconn* conn, const std::string& sql, const Params& params = {}) {
  auto res = Exec(conn, sql, params);
  return res.ok() ? Status::OK() : res.status();
}

// Runs `body` between `begin_sql` and COMMIT; rolls back if anything fails.
template <typename Body>
Status InTransaction(PGconn* conn, const std::string& begin_sql, Body&& body) {
  if (Status s = Run(conn, begin_sql); !s.ok()) return s;
  Status s = body();
  if (s.ok()) s = Run(conn, "COMMIT");
  if (!s.ok()) (void)Run(conn, "ROLLBACK");
  return s;
}

Status LockForTransaction(PGconn* conn, int64_t key) {
  return Run(conn, "SELECT pg_advisory_xact_lock(" + std::to_string(key) + ")");
}

// Column readers. Values come from typed columns, so text parsing cannot fail in practice;
// a malformed value reads as 0.
template <typename Int>
Int IntAt(const PGresult* res, int row, int col) {
  const char* text = PQgetvalue(res, row, col);
  Int value = 0;
  std::from_chars(text, text + PQgetlength(res, row, col), value);
  return value;
}

double DoubleAt(const PGresult* res, int row, int col) {
  const char* text = PQgetvalue(res, row, col);
  double value = 0;
  std::from_chars(text, text + PQgetlength(res, row, col), value);
  return value;
}

std::string TextAt(const PGresult* res, int row, int col) {
  return std::string(PQgetvalue(res, row, col), PQgetlength(res, row, col));
}

[[maybe_unused]] std::optional<std::string> NullableTextAt(const PGresult* res, int row, int col) {
  if (PQgetisnull(res, row, col)) return std::nullopt;
  return TextAt(res, row, col);
}

std::string DoubleText(double value) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, end);
}

void LogNotice(void* /*arg*/, const char* message) {
  log::debug("catalog server notice: {}", Trimmed(message));
}

// Connects with `dsn`, replacing its database by `dbname_override` if not null. The conninfo is
// expanded from the first "dbname"; later keywords win (see PQconnectdbParams).
PgConn Connect(const std::string& dsn, const char* dbname_override) {
  const char* keywords[] = {"dbname", "fallback_application_name", "dbname", nullptr};
  const char* values[] = {dsn.c_str(), "mosaic-catalog", dbname_override, nullptr};
  PgConn conn(PQconnectdbParams(keywords, values, /*expand_dbname=*/1));
  if (conn != nullptr) PQsetNoticeProcessor(conn.get(), LogNotice, nullptr);
  return conn;
}

Result<bool> DatabaseExists(PGconn* admin, const std::string& dbname) {
  auto res = Exec(admin, "SELECT 1 FROM pg_database WHERE datname = $1", {dbname});
  if (!res.ok()) return res.status();
  return PQntuples(res->get()) > 0;
}

// Creates `dbname` through the maintenance database. Returns true if it exists afterwards
// because of this call or a concurrent one, false if it already existed (so the original
// connection failure had another cause).
Result<bool> CreateDatabaseIfMissing(const std::string& dsn, const std::string& dbname) {
  PgConn admin = Connect(dsn, "postgres");
  if (PQstatus(admin.get()) != CONNECTION_OK) {
    return ConnectionError(admin.get(), "cannot connect to database postgres");
  }
  auto exists = DatabaseExists(admin.get(), dbname);
  if (!exists.ok()) return exists.status();
  if (*exists) return false;
  char* quoted = PQescapeIdentifier(admin.get(), dbname.c_str(), dbname.size());
  if (quoted == nullptr) return ConnectionError(admin.get(), "cannot quote database name");
  Status created = Run(admin.get(), std::string("CREATE DATABASE ") + quoted);
  PQfreemem(quoted);
  if (created.ok()) {
    log::info("created catalog database {}", dbname);
    return true;
  }
  exists = DatabaseExists(admin.get(), dbname);  // a concurrent Open may have won the race
  if (exists.ok() && *exists) return true;
  return created;
}

Result<PgConn> ConnectCreatingDatabase(const std::string& dsn) {
  PgConn conn = Connect(dsn, nullptr);
  if (PQstatus(conn.get()) == CONNECTION_OK) return conn;
  Status failure = ConnectionError(conn.get(), "cannot connect to catalog database");
  const char* dbname = conn != nullptr ? PQdb(conn.get()) : nullptr;
  if (dbname == nullptr || *dbname == '\0') return failure;
  auto created = CreateDatabaseIfMissing(dsn, dbname);
  if (!created.ok()) return created.status();
  if (!*created) return failure;
  conn = Connect(dsn, nullptr);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return ConnectionError(conn.get(), "cannot connect to catalog database");
  }
  return conn;
}

Status ApplyMigration(PGconn* conn, const Migration& m) {
  if (Status s = Run(conn, std::string(m.sql)); !s.ok()) return s;
  return Run(conn, "INSERT INTO mosaic.schema_version (version, description) VALUES ($1, $2)",
             {std::to_string(m.version), std::string(m.description)});
}

// Brings the schema up to the last of `migrations`; returns the resulting version.
Result<int> UpgradeSchema(PGconn* conn, std::span<const Migration> migrations) {
  int stored_version = 0;
  Status s = InTransaction(conn, "BEGIN", [&]() -> Status {
    if (Status st = LockForTransaction(conn, kSchemaLockKey); !st.ok()) return st;
    if (Status st = Run(conn, std::string(BootstrapSql())); !st.ok()) return st;
    auto stored = Exec(conn, "SELECT coalesce(max(version), 0) FROM mosaic.schema_version");
    if (!stored.ok()) return stored.status();
    stored_version = IntAt<int>(stored->get(), 0, 0);
    auto pending = PendingMigrations(migrations, stored_version);
    if (!pending.ok()) return pending.status();
    for (const Migration& m : *pending) {
      if (Status st = ApplyMigration(conn, m); !st.ok()) return st;
    }
    return Status::OK();
  });
  if (!s.ok()) return s;
  int latest = LatestSchemaVersion(migrations);
  if (latest != stored_version) {
    log::info("catalog schema upgraded from version {} to {}", stored_version, latest);
  }
  return latest;
}

// Appends the next shard-map version. REQUIRES: inside a transaction holding kShardMapLockKey.
Result<int64_t> InsertShardMapVersion(PGconn* conn, const std::string& reason) {
  auto res = Exec(conn,
                  "INSERT INTO mosaic.shard_map (version, reason) "
                  "SELECT coalesce(max(version), 0) + 1, $1 FROM mosaic.shard_map "
                  "RETURNING version",
                  {reason});
  if (!res.ok()) return res.status();
  return IntAt<int64_t>(res->get(), 0, 0);
}

// Inserts or updates one node; true if a row changed.
Result<bool> UpsertNode(PGconn* conn, const Node& n) {
  auto res = Exec(conn,
                  "INSERT INTO mosaic.nodes AS n "
                  "(id, dsn, host, port, dbname, username, tier, capacity) "
                  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                  "ON CONFLICT (id) DO UPDATE SET dsn = excluded.dsn, host = excluded.host, "
                  "port = excluded.port, dbname = excluded.dbname, username = excluded.username "
                  "WHERE (n.dsn, n.host, n.port, n.dbname, n.username) IS DISTINCT FROM "
                  "(excluded.dsn, excluded.host, excluded.port, excluded.dbname, "
                  "excluded.username) "
                  "RETURNING id",
                  {std::to_string(n.id), n.dsn, n.host, std::to_string(n.port), n.dbname, n.user,
                   n.tier, DoubleText(n.capacity)});
  if (!res.ok()) return res.status();
  return PQntuples(res->get()) > 0;
}

Node NodeAt(const PGresult* r, int i) {
  return Node{IntAt<int>(r, i, 0), TextAt(r, i, 1), TextAt(r, i, 2), IntAt<int>(r, i, 3),
              TextAt(r, i, 4),     TextAt(r, i, 5), TextAt(r, i, 6), DoubleAt(r, i, 7)};
}

Table TableAt(const PGresult* r, int i) {
  Table t;
  t.id = IntAt<int64_t>(r, i, 0);
  t.schema = TextAt(r, i, 1);
  t.name = TextAt(r, i, 2);
  t.tenant_column = TextAt(r, i, 3);
  t.kind = TextAt(r, i, 4) == "t" ? TableKind::kReference
           : t.tenant_column.empty() ? TableKind::kSingleTenant
                                     : TableKind::kDistributed;
  return t;
}

Tenant TenantAt(const PGresult* r, int i) { return Tenant{TextAt(r, i, 0), TextAt(r, i, 1)}; }

template <typename Row>
Status LoadRows(PGconn* conn, const std::string& sql, Row (*row_at)(const PGresult*, int),
                std::vector<Row>& out) {
  auto res = Exec(conn, sql);
  if (!res.ok()) return res.status();
  for (int i = 0; i < PQntuples(res->get()); ++i) out.push_back(row_at(res->get(), i));
  return Status::OK();
}

Status LoadInto(PGconn* conn, ShardMap& map) {
  auto version = Exec(conn, "SELECT coalesce(max(version), 0) FROM mosaic.shard_map");
  if (!version.ok()) return version.status();
  map.version = IntAt<int64_t>(version->get(), 0, 0);
  Status s = LoadRows(conn,
                      "SELECT id, dsn, host, port, dbname, username, tier, capacity "
                      "FROM mosaic.nodes ORDER BY id",
                      NodeAt, map.nodes);
  if (s.ok()) {
    s = LoadRows(conn,
                 "SELECT id, schema_name, table_name, coalesce(tenant_column, ''), reference, "
                 "table_group FROM mosaic.tables ORDER BY id",
                 TableAt, map.tables);
  }
  if (s.ok()) {
    s = LoadRows(conn, "SELECT key, profile FROM mosaic.tenants ORDER BY key", TenantAt,
                 map.tenants);
  }
  // TODO(distribution): load layouts (catalog schema v2).
  return s;
}

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

std::string JoinIds(const std::vector<int>& ids) {
  std::string out;
  for (int id : ids) out += (out.empty() ? "" : ", ") + std::to_string(id);
  return out;
}

}  // namespace

void Catalog::ConnCloser::operator()(pg_conn* conn) const { PQfinish(conn); }

Catalog::Catalog(ConnPtr conn, int schema_version)
    : conn_(std::move(conn)), schema_version_(schema_version) {}

Catalog::~Catalog() = default;

Result<std::unique_ptr<Catalog>> Catalog::Open(const std::string& dsn) {
  return Open(dsn, Migrations());
}

Result<std::unique_ptr<Catalog>> Catalog::Open(const std::string& dsn,
                                               std::span<const Migration> migrations) {
  auto conn = ConnectCreatingDatabase(dsn);
  if (!conn.ok()) return conn.status();
  auto version = UpgradeSchema(conn->get(), migrations);
  if (!version.ok()) return version.status();
  return std::unique_ptr<Catalog>(new Catalog(ConnPtr(conn->release()), *version));
}

Status Catalog::RegisterNodes(const std::vector<Node>& nodes) {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&] {
    return InTransaction(conn, "BEGIN", [&]() -> Status {
      if (Status s = LockForTransaction(conn, kShardMapLockKey); !s.ok()) return s;
      std::vector<int> changed;
      for (const Node& node : nodes) {
        auto row_changed = UpsertNode(conn, node);
        if (!row_changed.ok()) return row_changed.status();
        if (*row_changed) changed.push_back(node.id);
      }
      if (changed.empty()) return Status::OK();
      auto version = InsertShardMapVersion(conn, "registered nodes " + JoinIds(changed));
      return version.ok() ? Status::OK() : version.status();
    });
  });
}

Result<std::shared_ptr<const ShardMap>> Catalog::Load() {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&]() -> Result<std::shared_ptr<const ShardMap>> {
    auto map = std::make_shared<ShardMap>();
    Status s = InTransaction(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                             [&] { return LoadInto(conn, *map); });
    if (!s.ok()) return s;
    map->BuildIndex();
    return std::shared_ptr<const ShardMap>(std::move(map));
  });
}

Result<int64_t> Catalog::BumpVersion(const std::string& reason) {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&]() -> Result<int64_t> {
    int64_t version = 0;
    Status s = InTransaction(conn, "BEGIN", [&]() -> Status {
      if (Status st = LockForTransaction(conn, kShardMapLockKey); !st.ok()) return st;
      auto inserted = InsertShardMapVersion(conn, reason);
      if (!inserted.ok()) return inserted.status();
      version = *inserted;
      return Status::OK();
    });
    if (!s.ok()) return s;
    return version;
  });
}

}  // namespace mosaic::catalog

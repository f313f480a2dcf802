// Catalog persistence over synchronous libpq. Control plane only: blocks on the network, holds
// no process-wide locks, and never hands a PGconn or PGresult to its callers.
#include "catalog/catalog.h"

#include <libpq-fe.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

#include "catalog/catalog_internal.h"
#include "catalog/discovered_tables.h"
#include "catalog/pg_client.h"
#include "common/log.h"

namespace mosaic::catalog {
namespace {

// Advisory lock keys ("Mosaic" in ASCII, then a purpose). Advisory locks are per database.
constexpr int64_t kSchemaLockKey = 0x4d6f73616963'0001;

using internal::IdArray;
using internal::IdsFromCsv;
using internal::InsertShardMapVersion;
using internal::kShardMapLockKey;
using internal::LockForTransaction;
using internal::StoreLayout;
using internal::WithReconnect;
using pg::DoubleAt;
using pg::Exec;
using pg::InTransaction;
using pg::IntAt;
using pg::NullableTextAt;
using pg::Params;
using pg::Run;
using pg::TextAt;
using PgConn = pg::Conn;
using pg::ConnectionError;
using pg::Trimmed;

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

}  // namespace

namespace internal {

Result<int64_t> InsertShardMapVersion(PGconn* conn, const std::string& reason) {
  auto res = Exec(conn,
                  "INSERT INTO mosaic.shard_map (version, reason) "
                  "SELECT coalesce(max(version), 0) + 1, $1 FROM mosaic.shard_map "
                  "RETURNING version",
                  {reason});
  if (!res.ok()) return res.status();
  return IntAt<int64_t>(res->get(), 0, 0);
}

}  // namespace internal

namespace {

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

std::string ColumnsJson(const std::vector<Column>& columns) {
  nlohmann::json out = nlohmann::json::array();
  for (const Column& c : columns) {
    out.push_back({{"name", c.name}, {"type", c.type}, {"oid", c.type_oid}, {"bytewise", c.bytewise},
                   {"not_null", c.not_null}, {"has_default", c.has_default}});
  }
  return out.dump();
}

// The catalog wrote this JSON itself; anything unexpected in it reads as no columns.
std::vector<Column> ColumnsFromJson(std::string_view text) {
  std::vector<Column> columns;
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_array()) return columns;
  for (const auto& c : parsed) {
    if (!c.is_object()) continue;
    columns.push_back(Column{c.value("name", ""), c.value("type", ""), c.value("oid", 0u), c.value("bytewise", true),
                             c.value("not_null", false), c.value("has_default", true)});
  }
  return columns;
}

// Columns: id, schema_name, table_name, tenant_column, kind, columns.
constexpr std::string_view kTableColumns =
    "id, schema_name, table_name, coalesce(tenant_column, ''), kind, columns::text";

Table TableAt(const PGresult* r, int i) {
  Table t;
  t.id = IntAt<int64_t>(r, i, 0);
  t.schema = TextAt(r, i, 1);
  t.name = TextAt(r, i, 2);
  t.tenant_column = TextAt(r, i, 3);
  t.kind = TableKindFromName(TextAt(r, i, 4));
  t.columns = ColumnsFromJson(TextAt(r, i, 5));
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

}  // namespace

namespace internal {

std::vector<int64_t> IdsFromCsv(std::string_view csv) {
  std::vector<int64_t> ids;
  while (!csv.empty()) {
    size_t comma = std::min(csv.find(','), csv.size());
    int64_t id = 0;
    std::from_chars(csv.data(), csv.data() + comma, id);
    ids.push_back(id);
    csv.remove_prefix(std::min(comma + 1, csv.size()));
  }
  return ids;
}

}  // namespace internal

namespace {

Layout LayoutAt(const PGresult* r, int i) {
  Layout l;
  l.id = IntAt<int64_t>(r, i, 0);
  l.tenant = TextAt(r, i, 1);
  l.column = TextAt(r, i, 2);
  l.column_type = TextAt(r, i, 3);
  l.key_type = router::KeyTypeFromName(l.column_type);
  l.version = IntAt<int64_t>(r, i, 4);
  l.table_ids = IdsFromCsv(TextAt(r, i, 5));
  return l;
}

Result<std::string> BoundaryKey(const Layout& layout, const std::optional<std::string>& text) {
  if (!text) return std::string();
  auto key = router::EncodeKey(layout.key_type, *text);
  if (!key.ok()) {
    return Status::Internal("layout " + std::to_string(layout.id) + ": stored boundary \"" +
                            *text + "\" does not encode: " + key.status().message());
  }
  return std::move(key).value();
}

// Fills the ranges of `layouts` (ordered by id) from mosaic.ranges, encoding their boundaries.
Status LoadRanges(PGconn* conn, std::vector<Layout>& layouts) {
  auto res = Exec(conn,
                  "SELECT layout_id, lower, upper, node_id, version FROM mosaic.ranges "
                  "ORDER BY layout_id, ordinal");
  if (!res.ok()) return res.status();
  const PGresult* r = res->get();
  auto layout = layouts.begin();
  for (int i = 0; i < PQntuples(r); ++i) {
    const int64_t id = IntAt<int64_t>(r, i, 0);
    while (layout != layouts.end() && layout->id < id) ++layout;
    if (layout == layouts.end() || layout->id != id) continue;  // cannot happen (foreign key)
    Range range;
    range.lower = NullableTextAt(r, i, 1);
    range.upper = NullableTextAt(r, i, 2);
    range.node_id = IntAt<int>(r, i, 3);
    range.version = IntAt<int64_t>(r, i, 4);
    auto lower = BoundaryKey(*layout, range.lower);
    if (!lower.ok()) return lower.status();
    auto upper = BoundaryKey(*layout, range.upper);
    if (!upper.ok()) return upper.status();
    range.lower_key = std::move(lower).value();
    range.upper_key = std::move(upper).value();
    layout->ranges.push_back(std::move(range));
  }
  return Status::OK();
}

Status LoadTenantHashNodes(PGconn* conn, ShardMap& map) {
  auto res = Exec(conn, "SELECT value::text FROM mosaic.settings WHERE name = 'tenant_hash_nodes'");
  if (!res.ok()) return res.status();
  if (PQntuples(res->get()) == 0) return Status::OK();
  nlohmann::json ids = nlohmann::json::parse(TextAt(res->get(), 0, 0), nullptr, false);
  if (!ids.is_array()) return Status::Internal("setting tenant_hash_nodes is not an array");
  for (const auto& id : ids) {
    if (id.is_number_integer()) map.tenant_hash_nodes.push_back(id.get<int>());
  }
  return Status::OK();
}

// Migrations the data path must know about (ShardMap::migrations): rows are being copied, or
// copies exist on two nodes.
constexpr const char* kActiveMigrationsSql =
    "SELECT id, tenant, array_to_string(table_ids, ','), "
    "(SELECT coalesce(string_agg((f->>'source') || ':' || (f->>'target'), ','), '') "
    " FROM jsonb_array_elements(flows) f), phase "
    "FROM mosaic.migrations "
    "WHERE phase IN ('shadow_reads', 'incremental_writes', 'cutover', 'deprecated', 'rolling_back') "
    "ORDER BY id";

ActiveMigration ActiveMigrationAt(const PGresult* res, int row) {
  ActiveMigration m;
  m.id = IntAt<int64_t>(res, row, 0);
  m.tenant = TextAt(res, row, 1);
  m.table_ids = internal::IdsFromCsv(PQgetvalue(res, row, 2));
  for (std::string_view rest = PQgetvalue(res, row, 3); !rest.empty();) {
    size_t comma = rest.find(',');
    std::string_view part = rest.substr(0, comma);
    size_t colon = part.find(':');
    ActiveMigration::Flow f;
    std::from_chars(part.data(), part.data() + colon, f.source);
    std::from_chars(part.data() + colon + 1, part.data() + part.size(), f.target);
    m.flows.push_back(f);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  m.phase = TextAt(res, row, 4);
  m.shadow = m.phase == "shadow_reads" || m.phase == "incremental_writes";
  return m;
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
    s = LoadRows(conn, "SELECT " + std::string(kTableColumns) + " FROM mosaic.tables ORDER BY id",
                 TableAt, map.tables);
  }
  if (s.ok()) {
    s = LoadRows(conn, "SELECT key, profile FROM mosaic.tenants ORDER BY key", TenantAt,
                 map.tenants);
  }
  if (s.ok()) {
    s = LoadRows(conn,
                 "SELECT l.id, l.tenant, l.range_column, l.key_type, l.version, "
                 "(SELECT coalesce(string_agg(table_id::text, ',' ORDER BY table_id), '') "
                 " FROM mosaic.layout_tables WHERE layout_id = l.id) "
                 "FROM mosaic.layouts l ORDER BY l.id",
                 LayoutAt, map.layouts);
  }
  if (s.ok()) s = LoadRanges(conn, map.layouts);
  if (s.ok()) s = LoadTenantHashNodes(conn, map);
  if (s.ok()) s = LoadRows(conn, kActiveMigrationsSql, ActiveMigrationAt, map.migrations);
  return s;
}

// Fixes tenant_hash_nodes to `nodes` unless already set; true if it was set now.
Result<bool> FixTenantHashNodes(PGconn* conn, const std::vector<Node>& nodes) {
  if (nodes.empty()) return false;
  nlohmann::json ids = nlohmann::json::array();
  for (const Node& n : nodes) ids.push_back(n.id);
  auto res = Exec(conn,
                  "INSERT INTO mosaic.settings (name, value) VALUES ('tenant_hash_nodes', $1) "
                  "ON CONFLICT (name) DO NOTHING RETURNING name",
                  {ids.dump()});
  if (!res.ok()) return res.status();
  return PQntuples(res->get()) > 0;
}

// Removes tables from layouts they no longer fit (kind, range column), then layouts without
// tables. Returns how many memberships and layouts went.
Result<int> PruneLayouts(PGconn* conn) {
  auto memberships = Exec(conn, R"sql(
DELETE FROM mosaic.layout_tables lt USING mosaic.layouts l, mosaic.tables t
WHERE lt.layout_id = l.id AND lt.table_id = t.id AND (
  t.kind = 'reference' OR (t.kind = 'single') <> (l.tenant = '')
  OR NOT t.columns @> jsonb_build_array(
    jsonb_build_object('name', l.range_column, 'type', l.key_type)))
RETURNING lt.table_id)sql");
  if (!memberships.ok()) return memberships.status();
  auto layouts = Exec(conn,
                      "DELETE FROM mosaic.layouts l WHERE NOT EXISTS "
                      "(SELECT 1 FROM mosaic.layout_tables lt WHERE lt.layout_id = l.id) "
                      "RETURNING l.id");
  if (!layouts.ok()) return layouts.status();
  return PQntuples(memberships->get()) + PQntuples(layouts->get());
}

std::string QualifiedText(std::string_view schema, std::string_view name) {
  return std::string(schema) + "." + std::string(name);
}

// Inserts or updates `d`; returns what changed ("" if nothing) for the version's reason.
Result<std::string> UpsertTable(PGconn* conn, const DiscoveredTable& d, const Table* existing) {
  auto [kind, tenant_column] = DecideKind(d, existing);
  if (existing != nullptr && existing->kind == kind && existing->tenant_column == tenant_column &&
      existing->columns == d.columns) {
    return std::string();
  }
  std::optional<std::string> tenant = tenant_column.empty()
                                          ? std::nullopt
                                          : std::optional<std::string>(tenant_column);
  Params params = {d.schema, d.name, tenant, std::string(TableKindName(kind)), ColumnsJson(d.columns)};
  Status s = Run(conn,
                 "INSERT INTO mosaic.tables (schema_name, table_name, tenant_column, kind, columns) "
                 "VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (schema_name, table_name) DO "
                 "UPDATE SET tenant_column = excluded.tenant_column, kind = excluded.kind, "
                 "columns = excluded.columns",
                 params);
  if (!s.ok()) return s;
  return (existing == nullptr ? "+" : "~") + QualifiedText(d.schema, d.name);
}

Status SyncTablesLocked(PGconn* conn, const std::vector<DiscoveredTable>& tables) {
  std::vector<Table> current;
  Status s = LoadRows(conn,
                      "SELECT " + std::string(kTableColumns) + " FROM mosaic.tables FOR UPDATE",
                      TableAt, current);
  if (!s.ok()) return s;
  std::map<std::string, const Table*> by_name;
  for (const Table& t : current) by_name[QualifiedText(t.schema, t.name)] = &t;
  std::string reason;
  for (const DiscoveredTable& d : tables) {
    const std::string name = QualifiedText(d.schema, d.name);
    auto found = by_name.find(name);
    auto changed = UpsertTable(conn, d, found == by_name.end() ? nullptr : found->second);
    if (!changed.ok()) return changed.status();
    if (!changed->empty()) reason += " " + *changed;
    if (found != by_name.end()) by_name.erase(found);
  }
  for (const auto& [name, table] : by_name) {  // gone from the nodes
    s = Run(conn, "DELETE FROM mosaic.tables WHERE id = $1", {std::to_string(table->id)});
    if (!s.ok()) return s;
    reason += " -" + name;
  }
  auto pruned = PruneLayouts(conn);
  if (!pruned.ok()) return pruned.status();
  if (reason.empty() && *pruned == 0) return Status::OK();
  auto version = InsertShardMapVersion(conn, "tables:" + (reason.empty() ? " layouts pruned" : reason));
  return version.ok() ? Status::OK() : version.status();
}

Status InsertRanges(PGconn* conn, const std::string& layout_id, const Layout& layout,
                    int64_t version) {
  for (size_t i = 0; i < layout.ranges.size(); ++i) {
    const Range& r = layout.ranges[i];
    Status s = Run(conn,
                   "INSERT INTO mosaic.ranges (layout_id, ordinal, lower, upper, node_id, version) "
                   "VALUES ($1, $2, $3, $4, $5, $6)",
                   {layout_id, std::to_string(i), r.lower, r.upper, std::to_string(r.node_id),
                    std::to_string(version)});
    if (!s.ok()) return s;
  }
  return Status::OK();
}

}  // namespace

namespace internal {

std::string IdArray(const std::vector<int64_t>& ids) {
  std::string out = "{";
  for (int64_t id : ids) out += (out.size() > 1 ? "," : "") + std::to_string(id);
  return out + "}";
}

Result<int64_t> StoreLayout(PGconn* conn, const Layout& layout) {
  const std::string tables = IdArray(layout.table_ids);
  auto version = InsertShardMapVersion(
      conn, "layout of tenant '" + layout.tenant + "' for tables " + tables + " on " + layout.column);
  if (!version.ok()) return version.status();
  Status s = Run(conn,
                 "DELETE FROM mosaic.layout_tables WHERE tenant = $1 AND table_id = ANY($2::bigint[])",
                 {layout.tenant, tables});
  if (!s.ok()) return s;
  auto inserted = Exec(conn,
                       "INSERT INTO mosaic.layouts (tenant, range_column, key_type, version) "
                       "VALUES ($1, $2, $3, $4) RETURNING id",
                       {layout.tenant, layout.column, layout.column_type, std::to_string(*version)});
  if (!inserted.ok()) return inserted.status();
  const std::string id = TextAt(inserted->get(), 0, 0);
  s = Run(conn,
          "INSERT INTO mosaic.layout_tables (layout_id, table_id, tenant) "
          "SELECT $1, unnest($2::bigint[]), $3",
          {id, tables, layout.tenant});
  if (s.ok()) s = InsertRanges(conn, id, layout, *version);
  if (!s.ok()) return s;
  auto pruned = PruneLayouts(conn);  // the tables' previous layouts, if now empty
  if (!pruned.ok()) return pruned.status();
  return *version;
}

}  // namespace internal

namespace {

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
      auto fixed = FixTenantHashNodes(conn, nodes);
      if (!fixed.ok()) return fixed.status();
      if (changed.empty() && !*fixed) return Status::OK();
      auto version = InsertShardMapVersion(
          conn, changed.empty() ? "tenant_hash_nodes fixed" : "registered nodes " + JoinIds(changed));
      return version.ok() ? Status::OK() : version.status();
    });
  });
}

Status Catalog::SyncTables(const std::vector<DiscoveredTable>& tables) {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&] {
    return InTransaction(conn, "BEGIN", [&]() -> Status {
      if (Status s = LockForTransaction(conn, kShardMapLockKey); !s.ok()) return s;
      return SyncTablesLocked(conn, tables);
    });
  });
}

Result<int64_t> Catalog::ReplaceLayout(const Layout& layout) {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&]() -> Result<int64_t> {
    int64_t version = 0;
    Status s = InTransaction(conn, "BEGIN", [&]() -> Status {
      if (Status st = LockForTransaction(conn, kShardMapLockKey); !st.ok()) return st;
      auto replaced = StoreLayout(conn, layout);
      if (!replaced.ok()) return replaced.status();
      version = *replaced;
      return Status::OK();
    });
    if (!s.ok()) return s;
    return version;
  });
}

Status Catalog::SaveMonitorCheckpoint(int id, const std::string& state) {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&] {
    return Run(conn,
               "INSERT INTO mosaic.monitor_checkpoints (id, state) VALUES ($1, $2) "
               "ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state, saved_at = now()",
               {std::to_string(id), state});
  });
}

Result<std::optional<std::string>> Catalog::LoadMonitorCheckpoint(int id) {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&]() -> Result<std::optional<std::string>> {
    auto res = Exec(conn, "SELECT state FROM mosaic.monitor_checkpoints WHERE id = $1", {std::to_string(id)});
    if (!res.ok()) return res.status();
    if (PQntuples(res->get()) == 0) return std::optional<std::string>();
    return std::optional<std::string>(TextAt(res->get(), 0, 0));
  });
}

Status Catalog::MarkReferenceTable(int64_t table_id) {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&] {
    return InTransaction(conn, "BEGIN", [&]() -> Status {
      if (Status s = LockForTransaction(conn, kShardMapLockKey); !s.ok()) return s;
      auto table = Exec(conn,
                        "SELECT schema_name || '.' || table_name, kind = 'reference' "
                        "FROM mosaic.tables WHERE id = $1 FOR UPDATE",
                        {std::to_string(table_id)});
      if (!table.ok()) return table.status();
      if (PQntuples(table->get()) == 0) {
        return Status(std::string_view("42P01"), "table " + std::to_string(table_id) +
                                                     " is not in the catalog");
      }
      if (TextAt(table->get(), 0, 1) == "t") return Status::OK();
      Status s = Run(conn,
                     "UPDATE mosaic.tables SET kind = 'reference', tenant_column = NULL "
                     "WHERE id = $1",
                     {std::to_string(table_id)});
      if (!s.ok()) return s;
      auto pruned = PruneLayouts(conn);
      if (!pruned.ok()) return pruned.status();
      auto version = InsertShardMapVersion(
          conn, "reference table " + TextAt(table->get(), 0, 0));
      return version.ok() ? Status::OK() : version.status();
    });
  });
}

namespace internal {

Result<std::shared_ptr<const ShardMap>> ReadShardMap(PGconn* conn) {
  auto map = std::make_shared<ShardMap>();
  if (Status s = LoadInto(conn, *map); !s.ok()) return s;
  map->BuildIndex();
  return std::shared_ptr<const ShardMap>(std::move(map));
}

}  // namespace internal

Result<std::shared_ptr<const ShardMap>> Catalog::Load() {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&]() -> Result<std::shared_ptr<const ShardMap>> {
    Result<std::shared_ptr<const ShardMap>> map = Status::Internal("not read");
    Status s = InTransaction(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", [&] {
      map = internal::ReadShardMap(conn);
      return map.ok() ? Status::OK() : map.status();
    });
    if (!s.ok()) return s;
    return map;
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

Result<int64_t> Catalog::StartIncarnation(const std::string& router_id) {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&]() -> Result<int64_t> {
    auto res = Exec(conn,
                    "INSERT INTO mosaic.routers AS r (id, incarnation) VALUES ($1, 1) "
                    "ON CONFLICT (id) DO UPDATE SET incarnation = r.incarnation + 1, "
                    "started_at = now() RETURNING incarnation",
                    {router_id});
    if (!res.ok()) return res.status();
    return IntAt<int64_t>(res->get(), 0, 0);
  });
}

Result<std::vector<std::string>> Catalog::Decisions(const std::string& gid_prefix) {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&]() -> Result<std::vector<std::string>> {
    auto res = Exec(conn,
                    "SELECT gid FROM mosaic.transactions WHERE left(gid, length($1)) = $1 "
                    "ORDER BY gid",
                    {gid_prefix});
    if (!res.ok()) return res.status();
    std::vector<std::string> gids;
    for (int i = 0; i < PQntuples(res->get()); ++i) gids.push_back(TextAt(res->get(), i, 0));
    return gids;
  });
}

Result<bool> Catalog::DecideOutcome(const std::string& gid) {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&]() -> Result<bool> {
    if (Status s = Run(conn,
                       "INSERT INTO mosaic.transactions (gid, outcome) VALUES ($1, 'abort') "
                       "ON CONFLICT (gid) DO NOTHING",
                       {gid});
        !s.ok()) {
      return s;
    }
    auto res = Exec(conn, "SELECT outcome FROM mosaic.transactions WHERE gid = $1", {gid});
    if (!res.ok()) return res.status();
    return PQntuples(res->get()) > 0 && TextAt(res->get(), 0, 0) == "commit";
  });
}

Status Catalog::ForgetDecisions(const std::vector<std::string>& gids) {
  if (gids.empty()) return Status::OK();
  nlohmann::json list = gids;
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&] {
    return Run(conn,
               "DELETE FROM mosaic.transactions "
               "WHERE gid IN (SELECT jsonb_array_elements_text($1::jsonb))",
               {list.dump()});
  });
}

Result<std::optional<std::string>> Catalog::Setting(const std::string& name) {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&]() -> Result<std::optional<std::string>> {
    auto res = Exec(conn, "SELECT value::text FROM mosaic.settings WHERE name = $1", {name});
    if (!res.ok()) return res.status();
    if (PQntuples(res->get()) == 0) return std::optional<std::string>();
    return std::optional<std::string>(TextAt(res->get(), 0, 0));
  });
}

Status Catalog::PutSetting(const std::string& name, const std::string& json_text) {
  PGconn* conn = conn_.get();
  return WithReconnect(conn, [&] {
    return Run(conn,
               "INSERT INTO mosaic.settings (name, value) VALUES ($1, $2::jsonb) "
               "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
               {name, json_text});
  });
}

}  // namespace mosaic::catalog

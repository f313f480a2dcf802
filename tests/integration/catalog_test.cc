// Integration tests for the catalog against a real PostgreSQL 15 (one throwaway cluster for the
// suite; each test uses its own catalog database). CatalogMigrations needs no server.
#include "catalog/catalog.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <set>
#include <thread>
#include <vector>

#include "postgres_suite.h"

namespace mosaic::catalog {
namespace {


// The real migrations plus one more version, for upgrade tests.
const int kZoneVersion = LatestSchemaVersion() + 1;
std::vector<Migration> WithZoneMigrations() {
  std::vector<Migration> m(Migrations().begin(), Migrations().end());
  m.push_back({kZoneVersion, "add nodes.zone", "ALTER TABLE mosaic.nodes ADD COLUMN zone text NOT NULL DEFAULT ''"});
  return m;
}
const std::vector<Migration> kWithZone = WithZoneMigrations();

class CatalogTest : public mosaic::testing::PostgresSuite {
 protected:

  static std::string Dsn(const std::string& dbname) { return pg_->dsn(dbname); }

  // Opens `dbname` with `migrations`, failing the test on error.
  static std::unique_ptr<Catalog> MustOpen(const std::string& dbname,
                                           std::span<const Migration> migrations = Migrations()) {
    auto catalog = Catalog::Open(Dsn(dbname), migrations);
    EXPECT_TRUE(catalog.ok()) << catalog.status().ToString();
    return catalog.ok() ? std::move(catalog).value() : nullptr;
  }

  // First column of the first row of `sql` run in `dbname`, or "<error ...>".
  static std::string Scalar(const std::string& dbname, const std::string& sql) {
    PGconn* conn = PQconnectdb(Dsn(dbname).c_str());
    PGresult* res = PQexec(conn, sql.c_str());
    std::string out = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0
                          ? PQgetvalue(res, 0, 0)
                          : "<error " + std::string(PQerrorMessage(conn)) + ">";
    PQclear(res);
    PQfinish(conn);
    return out;
  }

  // Opens `dbname` with TwoNodes() and ThreeTables() registered and loads it into `map`;
  // nullptr (the test failed) on error. Defined below ThreeTables().
  static std::unique_ptr<Catalog> OpenWithTables(const std::string& dbname,
                                                 std::shared_ptr<const ShardMap>* map);

  static int64_t LoadedVersion(Catalog& catalog) {
    auto map = catalog.Load();
    EXPECT_TRUE(map.ok()) << map.status().ToString();
    return map.ok() ? (*map)->version : -1;
  }

};

std::vector<Node> TwoNodes() {
  return {Node{.id = 1, .dsn = "host=10.0.0.1 port=5432 dbname=app user=u password=secret",
               .host = "10.0.0.1", .port = 5432, .dbname = "app", .user = "u"},
          Node{.id = 2, .dsn = "host=10.0.0.2 port=5433 dbname=app user=u", .host = "10.0.0.2",
               .port = 5433, .dbname = "app", .user = "u", .tier = "cold", .capacity = 2.5}};
}

void ExpectSameNode(const Node& got, const Node& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.dsn, want.dsn);
  EXPECT_EQ(got.host, want.host);
  EXPECT_EQ(got.port, want.port);
  EXPECT_EQ(got.dbname, want.dbname);
  EXPECT_EQ(got.user, want.user);
  EXPECT_EQ(got.tier, want.tier);
  EXPECT_DOUBLE_EQ(got.capacity, want.capacity);
}

TEST_F(CatalogTest, OpenCreatesCatalogDatabaseAndLatestSchema) {
  auto catalog = MustOpen("mosaic_catalog");
  ASSERT_NE(catalog, nullptr);
  EXPECT_EQ(catalog->schema_version(), LatestSchemaVersion());
  EXPECT_EQ(Scalar("postgres", "SELECT count(*) FROM pg_database WHERE datname = 'mosaic_catalog'"),
            "1");
  EXPECT_EQ(Scalar("mosaic_catalog", "SELECT max(version) FROM mosaic.schema_version"),
            std::to_string(LatestSchemaVersion()));
  auto map = catalog->Load();
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  EXPECT_EQ((*map)->version, 1);
  EXPECT_TRUE((*map)->nodes.empty());
  EXPECT_TRUE((*map)->tables.empty());
}

TEST_F(CatalogTest, OpenTwiceIsIdempotent) {
  ASSERT_NE(MustOpen("cat_twice"), nullptr);
  auto again = MustOpen("cat_twice");
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->schema_version(), LatestSchemaVersion());
  EXPECT_EQ(Scalar("cat_twice", "SELECT count(*) FROM mosaic.schema_version"),
            std::to_string(LatestSchemaVersion()));
  EXPECT_EQ(LoadedVersion(*again), 1);
}

TEST_F(CatalogTest, ConcurrentOpensOfAFreshCatalogDoNotRace) {
  std::vector<std::thread> routers;
  std::atomic<int> failures = 0;
  for (int i = 0; i < 4; ++i) {
    routers.emplace_back([&] {
      auto catalog = Catalog::Open(Dsn("cat_race"));
      if (!catalog.ok() || (*catalog)->schema_version() != LatestSchemaVersion()) ++failures;
    });
  }
  for (auto& t : routers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Scalar("cat_race", "SELECT count(*) FROM mosaic.shard_map"), "1");
}

TEST_F(CatalogTest, OpenFailsCleanlyWithoutServer) {
  auto catalog = Catalog::Open("host=127.0.0.1 port=1 user=mosaic dbname=x connect_timeout=2");
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().sqlstate(), sqlstate::kConnectionFailure);
}

TEST_F(CatalogTest, RegisterNodesThenLoadReturnsThemUnderANewVersion) {
  auto catalog = MustOpen("cat_nodes");
  ASSERT_NE(catalog, nullptr);
  int64_t before = LoadedVersion(*catalog);
  ASSERT_TRUE(catalog->RegisterNodes(TwoNodes()).ok());
  auto map = catalog->Load();
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  EXPECT_GT((*map)->version, before);
  ASSERT_EQ((*map)->nodes.size(), 2u);
  ExpectSameNode((*map)->nodes[0], TwoNodes()[0]);
  ExpectSameNode((*map)->nodes[1], TwoNodes()[1]);
  EXPECT_EQ((*map)->DefaultNode().id, 1);
}

TEST_F(CatalogTest, ReRegisteringSameNodesKeepsTheVersion) {
  auto catalog = MustOpen("cat_reregister");
  ASSERT_NE(catalog, nullptr);
  ASSERT_TRUE(catalog->RegisterNodes(TwoNodes()).ok());
  int64_t version = LoadedVersion(*catalog);
  ASSERT_TRUE(catalog->RegisterNodes(TwoNodes()).ok());
  EXPECT_EQ(LoadedVersion(*catalog), version);
}

TEST_F(CatalogTest, ReRegisteringUpdatesAddressButNotOperatorSettings) {
  auto catalog = MustOpen("cat_update");
  ASSERT_NE(catalog, nullptr);
  ASSERT_TRUE(catalog->RegisterNodes(TwoNodes()).ok());
  int64_t version = LoadedVersion(*catalog);
  std::vector<Node> moved = TwoNodes();
  moved[1].dsn = "host=10.0.0.9 port=6000 dbname=app user=u";
  moved[1].host = "10.0.0.9";
  moved[1].port = 6000;
  moved[1].tier = "hot";
  moved[1].capacity = 1;
  ASSERT_TRUE(catalog->RegisterNodes(moved).ok());
  auto map = catalog->Load();
  ASSERT_TRUE(map.ok());
  EXPECT_EQ((*map)->version, version + 1);
  const Node* node = (*map)->FindNode(2);
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(node->dsn, moved[1].dsn);
  EXPECT_EQ(node->port, 6000);
  EXPECT_EQ(node->tier, "cold");
  EXPECT_DOUBLE_EQ(node->capacity, 2.5);
}

TEST_F(CatalogTest, RegisterNodesIsAllOrNothing) {
  auto catalog = MustOpen("cat_atomic");
  ASSERT_NE(catalog, nullptr);
  int64_t version = LoadedVersion(*catalog);
  std::vector<Node> nodes = TwoNodes();
  nodes[1].tier = "lukewarm";
  Status s = catalog->RegisterNodes(nodes);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.sqlstate(), "23514") << s.ToString();  // check_violation
  auto map = catalog->Load();
  ASSERT_TRUE(map.ok());
  EXPECT_TRUE((*map)->nodes.empty());
  EXPECT_EQ((*map)->version, version);
}

TEST_F(CatalogTest, BumpVersionIsSerialisedAcrossCatalogs) {
  auto first = MustOpen("cat_bump");
  auto second = MustOpen("cat_bump");
  ASSERT_TRUE(first && second);
  int64_t start = LoadedVersion(*first);
  auto one = first->BumpVersion("test");
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(*one, start + 1);

  constexpr int kEach = 20;
  std::vector<int64_t> seen[2];
  auto bump = [&](Catalog* c, std::vector<int64_t>* out) {
    for (int i = 0; i < kEach; ++i) {
      auto v = c->BumpVersion("concurrent");
      out->push_back(v.ok() ? *v : -1);
    }
  };
  std::thread a(bump, first.get(), &seen[0]);
  std::thread b(bump, second.get(), &seen[1]);
  a.join();
  b.join();
  std::set<int64_t> distinct(seen[0].begin(), seen[0].end());
  distinct.insert(seen[1].begin(), seen[1].end());
  EXPECT_EQ(distinct.size(), 2u * kEach);
  EXPECT_EQ(*distinct.begin(), start + 2);
  EXPECT_EQ(LoadedVersion(*first), start + 1 + 2 * kEach);
}

TEST_F(CatalogTest, MonitorCheckpointIsReplacedAndReadBack) {
  auto catalog = MustOpen("cat_monitor");
  ASSERT_NE(catalog, nullptr);
  auto none = catalog->LoadMonitorCheckpoint(1);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(catalog->SaveMonitorCheckpoint(1, R"({"version": 1})").ok());
  ASSERT_TRUE(catalog->SaveMonitorCheckpoint(1, R"({"version": 2})").ok());
  auto saved = catalog->LoadMonitorCheckpoint(1);
  ASSERT_TRUE(saved.ok());
  EXPECT_EQ(saved->value_or(""), R"({"version": 2})");
}

TEST_F(CatalogTest, ReconnectsAfterServerRestart) {
  auto catalog = MustOpen("cat_restart");
  ASSERT_NE(catalog, nullptr);
  ASSERT_TRUE(pg_->Restart()) << pg_->error();
  auto version = catalog->BumpVersion("after restart");
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  EXPECT_EQ(LoadedVersion(*catalog), *version);
}

TEST_F(CatalogTest, MigrationsApplyToAnEmptyDatabase) {
  auto catalog = MustOpen("cat_migrate_empty", kWithZone);
  ASSERT_NE(catalog, nullptr);
  EXPECT_EQ(catalog->schema_version(), kZoneVersion);
  EXPECT_EQ(Scalar("cat_migrate_empty", "SELECT count(*) FROM mosaic.schema_version"), std::to_string(kZoneVersion));
  EXPECT_EQ(Scalar("cat_migrate_empty",
                   "SELECT count(*) FROM information_schema.columns "
                   "WHERE table_schema = 'mosaic' AND table_name = 'nodes' AND column_name = 'zone'"),
            "1");
}

TEST_F(CatalogTest, MigrationsUpgradeACurrentCatalogKeepingItsData) {
  auto current = MustOpen("cat_migrate_zone");
  ASSERT_NE(current, nullptr);
  ASSERT_TRUE(current->RegisterNodes(TwoNodes()).ok());
  int64_t version = LoadedVersion(*current);

  auto zoned = MustOpen("cat_migrate_zone", kWithZone);
  ASSERT_NE(zoned, nullptr);
  EXPECT_EQ(zoned->schema_version(), kZoneVersion);
  EXPECT_EQ(Scalar("cat_migrate_zone", "SELECT zone FROM mosaic.nodes WHERE id = 2"), "");
  auto map = zoned->Load();
  ASSERT_TRUE(map.ok());
  EXPECT_EQ((*map)->nodes.size(), 2u);
  EXPECT_EQ((*map)->version, version);
}

// A catalog written by the first release: nodes and v1 table rows (a reference table, a table
// with a tenant column, a plain one) come through the upgrade to v2 with their kinds.
TEST_F(CatalogTest, UpgradeFromVersion1ConvertsTablesToKinds) {
  auto v1 = MustOpen("cat_v1_v2", Migrations().first(1));
  ASSERT_NE(v1, nullptr);
  ASSERT_EQ(v1->schema_version(), 1);
  // Rows as the first release wrote them (this binary's RegisterNodes needs v2's settings).
  ASSERT_EQ(Scalar("cat_v1_v2",
                   "INSERT INTO mosaic.nodes (id, dsn) VALUES (1, 'host=a'), (2, 'host=b') "
                   "RETURNING 1"),
            "1");
  ASSERT_EQ(Scalar("cat_v1_v2",
                   "INSERT INTO mosaic.tables (schema_name, table_name, tenant_column, reference) "
                   "VALUES ('public', 'countries', NULL, true), ('public', 'orders', 'org_id', "
                   "false), ('public', 'notes', NULL, false) RETURNING 1"),
            "1");

  auto v2 = MustOpen("cat_v1_v2");
  ASSERT_NE(v2, nullptr);
  EXPECT_EQ(v2->schema_version(), LatestSchemaVersion());
  EXPECT_EQ(Scalar("cat_v1_v2", "SELECT to_regclass('mosaic.placements') IS NULL"), "t");
  auto map = v2->Load();
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  ASSERT_EQ((*map)->tables.size(), 3u);
  EXPECT_EQ((*map)->FindTable("public", "countries")->kind, TableKind::kReference);
  const Table* orders = (*map)->FindTable("public", "orders");
  EXPECT_EQ(orders->kind, TableKind::kDistributed);
  EXPECT_EQ(orders->tenant_column, "org_id");
  EXPECT_EQ((*map)->FindTable("public", "notes")->kind, TableKind::kSingleTenant);
  EXPECT_EQ((*map)->nodes.size(), 2u);
  EXPECT_TRUE((*map)->layouts.empty());
  // Nodes registered before v2 get fixed as hash nodes on the first registration after it.
  EXPECT_TRUE((*map)->tenant_hash_nodes.empty());
  ASSERT_TRUE(v2->RegisterNodes(TwoNodes()).ok());
  auto again = v2->Load();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->tenant_hash_nodes, (std::vector<int>{1, 2}));
}

TEST_F(CatalogTest, OpenRefusesACatalogFromANewerMosaic) {
  ASSERT_NE(MustOpen("cat_newer", kWithZone), nullptr);
  auto old = Catalog::Open(Dsn("cat_newer"), Migrations());
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.status().message().find("newer"), std::string::npos) << old.status().ToString();
}

TEST_F(CatalogTest, FailedMigrationLeavesTheCatalogUntouched) {
  const Migration broken[] = {
      Migrations()[0],
      {2, "broken", "ALTER TABLE mosaic.nodes ADD COLUMN a int; SELECT * FROM no_such_table"}};
  auto catalog = Catalog::Open(Dsn("cat_broken"), broken);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().sqlstate(), "42P01") << catalog.status().ToString();  // undefined_table
  EXPECT_EQ(Scalar("cat_broken", "SELECT count(*) FROM pg_namespace WHERE nspname = 'mosaic'"),
            "0");

  auto fixed = MustOpen("cat_broken");
  ASSERT_NE(fixed, nullptr);
  EXPECT_EQ(fixed->schema_version(), LatestSchemaVersion());
}

DiscoveredTable Discovered(const std::string& name, std::vector<Column> columns,
                           bool reference = false) {
  return DiscoveredTable{.schema = "public", .name = name, .columns = std::move(columns),
                         .tenant_column = "tenant_id", .reference = reference};
}

const Column kTenant{"tenant_id", "int8", 20};
const Column kId{"id", "int4", 23};
const Column kDay{"day", "date", 1082};

std::vector<DiscoveredTable> ThreeTables() {
  return {Discovered("orders", {kTenant, kId, kDay}), Discovered("items", {kTenant, kDay}),
          Discovered("accounts", {kId, kDay}), Discovered("countries", {kId}, true)};
}

TEST_F(CatalogTest, SyncTablesAddsClassifiesAndBumpsOnlyOnChange) {
  auto catalog = MustOpen("cat_sync");
  ASSERT_NE(catalog, nullptr);
  ASSERT_TRUE(catalog->RegisterNodes(TwoNodes()).ok());
  int64_t before = LoadedVersion(*catalog);
  ASSERT_TRUE(catalog->SyncTables(ThreeTables()).ok());
  auto map = catalog->Load();
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  EXPECT_EQ((*map)->version, before + 1);
  ASSERT_EQ((*map)->tables.size(), 4u);
  const Table* orders = (*map)->FindTable("public", "orders");
  ASSERT_NE(orders, nullptr);
  EXPECT_EQ(orders->kind, TableKind::kDistributed);
  EXPECT_EQ(orders->tenant_column, "tenant_id");
  EXPECT_EQ(orders->columns, (std::vector<Column>{kTenant, kId, kDay}));
  EXPECT_EQ((*map)->FindTable("public", "accounts")->kind, TableKind::kSingleTenant);
  EXPECT_EQ((*map)->FindTable("public", "accounts")->tenant_column, "");
  EXPECT_EQ((*map)->FindTable("public", "countries")->kind, TableKind::kReference);

  ASSERT_TRUE(catalog->SyncTables(ThreeTables()).ok());
  EXPECT_EQ(LoadedVersion(*catalog), before + 1);  // nothing changed

  // A reference table stays one without the configuration saying so; a new column is seen.
  auto tables = ThreeTables();
  tables[3].reference = false;
  tables[2].columns.push_back(Column{"note", "text", 25});
  ASSERT_TRUE(catalog->SyncTables(tables).ok());
  map = catalog->Load();
  ASSERT_TRUE(map.ok());
  EXPECT_EQ((*map)->version, before + 2);
  EXPECT_EQ((*map)->FindTable("public", "countries")->kind, TableKind::kReference);
  EXPECT_EQ((*map)->FindTable("public", "accounts")->columns.size(), 3u);
}

std::unique_ptr<Catalog> CatalogTest::OpenWithTables(const std::string& dbname,
                                                     std::shared_ptr<const ShardMap>* map) {
  auto catalog = MustOpen(dbname);
  if (catalog == nullptr) return nullptr;
  Status s = catalog->RegisterNodes(TwoNodes());
  if (s.ok()) s = catalog->SyncTables(ThreeTables());
  auto loaded = catalog->Load();
  if (s.ok() && !loaded.ok()) s = loaded.status();
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return nullptr;
  *map = *loaded;
  return catalog;
}

// A layout of tenant 42 over orders and items on "day", split at 2024-01-01 and 2024-07-01.
Layout DayLayout(const ShardMap& map, std::string tenant = "42") {
  Layout l;
  l.tenant = std::move(tenant);
  l.table_ids = {map.FindTable("public", "orders")->id, map.FindTable("public", "items")->id};
  l.column = "day";
  l.column_type = "date";
  l.key_type = router::KeyType::kDate;
  l.ranges = {Range{.upper = "2024-01-01", .node_id = 1},
              Range{.lower = "2024-01-01", .upper = "2024-07-01", .node_id = 2},
              Range{.lower = "2024-07-01", .node_id = 1}};
  return l;
}

std::string Key(const std::string& date) {
  return router::EncodeKey(router::KeyType::kDate, date).value();
}

TEST_F(CatalogTest, LayoutsRoundTripWithEncodedKeys) {
  Result<std::shared_ptr<const ShardMap>> map = std::shared_ptr<const ShardMap>();
  auto catalog = OpenWithTables("cat_layouts", &*map);
  ASSERT_NE(catalog, nullptr);
  auto version = catalog->ReplaceLayout(DayLayout(**map));
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  EXPECT_EQ(*version, (*map)->version + 1);

  map = catalog->Load();
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  EXPECT_EQ((*map)->version, *version);
  ASSERT_EQ((*map)->layouts.size(), 1u);
  const Layout& l = (*map)->layouts[0];
  EXPECT_EQ(l.tenant, "42");
  EXPECT_EQ(l.column, "day");
  EXPECT_EQ(l.column_type, "date");
  EXPECT_EQ(l.key_type, router::KeyType::kDate);
  EXPECT_EQ(l.version, *version);
  const int64_t orders = (*map)->FindTable("public", "orders")->id;
  const int64_t items = (*map)->FindTable("public", "items")->id;
  EXPECT_EQ(l.table_ids, (std::vector<int64_t>{std::min(orders, items), std::max(orders, items)}));
  ASSERT_EQ(l.ranges.size(), 3u);
  EXPECT_EQ(l.ranges[0].lower, std::nullopt);
  EXPECT_EQ(l.ranges[0].upper, "2024-01-01");
  EXPECT_EQ(l.ranges[0].lower_key, "");
  EXPECT_EQ(l.ranges[0].upper_key, Key("2024-01-01"));
  EXPECT_EQ(l.ranges[1].lower_key, Key("2024-01-01"));
  EXPECT_EQ(l.ranges[1].upper_key, Key("2024-07-01"));
  EXPECT_EQ(l.ranges[1].node_id, 2);
  EXPECT_EQ(l.ranges[1].version, *version);
  EXPECT_EQ(l.ranges[2].upper, std::nullopt);
  EXPECT_EQ((*map)->FindLayout(orders, "42"), &l);
  EXPECT_EQ((*map)->FindLayout(items, "42"), &l);
  EXPECT_EQ((*map)->FindLayout(orders, "7"), nullptr);
  EXPECT_EQ(l.RangeFor(Key("2024-03-15")).node_id, 2);
}

TEST_F(CatalogTest, ReplacingALayoutTakesTheTablesOutOfTheOldOne) {
  Result<std::shared_ptr<const ShardMap>> map = std::shared_ptr<const ShardMap>();
  auto catalog = OpenWithTables("cat_replace", &*map);
  ASSERT_NE(catalog, nullptr);
  ASSERT_TRUE(catalog->ReplaceLayout(DayLayout(**map)).ok());
  ASSERT_TRUE(catalog->ReplaceLayout(DayLayout(**map, "7")).ok());  // another tenant: kept apart
  Layout orders_only = DayLayout(**map);
  orders_only.table_ids.resize(1);
  orders_only.ranges = {Range{.node_id = 2}};
  ASSERT_TRUE(catalog->ReplaceLayout(orders_only).ok());

  map = catalog->Load();
  ASSERT_TRUE(map.ok());
  ASSERT_EQ((*map)->layouts.size(), 3u);
  const int64_t orders = (*map)->FindTable("public", "orders")->id;
  const int64_t items = (*map)->FindTable("public", "items")->id;
  const Layout* o = (*map)->FindLayout(orders, "42");
  const Layout* i = (*map)->FindLayout(items, "42");
  ASSERT_TRUE(o && i);
  EXPECT_NE(o, i);
  EXPECT_EQ(o->ranges.size(), 1u);
  EXPECT_EQ(i->ranges.size(), 3u);
  EXPECT_EQ(i->table_ids, std::vector<int64_t>{items});
  EXPECT_EQ((*map)->LayoutsOfTable(orders).size(), 2u);  // tenants 42 and 7

  // Replacing the last table of a layout removes the layout.
  Layout items_only = DayLayout(**map);
  items_only.table_ids = {items};
  ASSERT_TRUE(catalog->ReplaceLayout(items_only).ok());
  EXPECT_EQ(Scalar("cat_replace", "SELECT count(*) FROM mosaic.layouts WHERE tenant = '42'"), "2");
}

TEST_F(CatalogTest, SyncTablesDropsLayoutsOfRemovedOrChangedTables) {
  Result<std::shared_ptr<const ShardMap>> map = std::shared_ptr<const ShardMap>();
  auto catalog = OpenWithTables("cat_prune", &*map);
  ASSERT_NE(catalog, nullptr);
  ASSERT_TRUE(catalog->ReplaceLayout(DayLayout(**map)).ok());
  const int64_t items = (*map)->FindTable("public", "items")->id;

  // orders is dropped on the nodes: it leaves the catalog and its layout.
  auto tables = ThreeTables();
  tables.erase(tables.begin());
  ASSERT_TRUE(catalog->SyncTables(tables).ok());
  map = catalog->Load();
  ASSERT_TRUE(map.ok());
  EXPECT_EQ((*map)->FindTable("public", "orders"), nullptr);
  ASSERT_EQ((*map)->layouts.size(), 1u);
  EXPECT_EQ((*map)->layouts[0].table_ids, std::vector<int64_t>{items});

  // items loses its range column: the layout has no table left and goes.
  int64_t version = (*map)->version;
  tables[0].columns = {kTenant};
  ASSERT_TRUE(catalog->SyncTables(tables).ok());
  map = catalog->Load();
  ASSERT_TRUE(map.ok());
  EXPECT_TRUE((*map)->layouts.empty());
  EXPECT_EQ((*map)->version, version + 1);
  EXPECT_EQ(Scalar("cat_prune", "SELECT count(*) FROM mosaic.ranges"), "0");
}

TEST_F(CatalogTest, TenantHashNodesStayFixedWhenNodesAreAdded) {
  auto catalog = MustOpen("cat_hash_nodes");
  ASSERT_NE(catalog, nullptr);
  ASSERT_TRUE(catalog->RegisterNodes(TwoNodes()).ok());
  std::vector<Node> three = TwoNodes();
  three.push_back(Node{.id = 3, .dsn = "host=10.0.0.3 dbname=app", .host = "10.0.0.3",
                       .port = 5432, .dbname = "app", .user = "u"});
  ASSERT_TRUE(catalog->RegisterNodes(three).ok());
  auto map = catalog->Load();
  ASSERT_TRUE(map.ok());
  EXPECT_EQ((*map)->nodes.size(), 3u);
  EXPECT_EQ((*map)->tenant_hash_nodes, (std::vector<int>{1, 2}));
  for (const char* tenant : {"1", "2", "42", "acme", "x"}) {
    EXPECT_NE((*map)->TenantHomeNode(tenant), 3) << tenant;
  }
}

TEST_F(CatalogTest, MarkReferenceTable) {
  Result<std::shared_ptr<const ShardMap>> map = std::shared_ptr<const ShardMap>();
  auto catalog = OpenWithTables("cat_reference", &*map);
  ASSERT_NE(catalog, nullptr);
  const Table* accounts = (*map)->FindTable("public", "accounts");
  ASSERT_TRUE(catalog->MarkReferenceTable(accounts->id).ok());
  EXPECT_EQ(LoadedVersion(*catalog), (*map)->version + 1);
  ASSERT_TRUE(catalog->MarkReferenceTable(accounts->id).ok());
  auto after = catalog->Load();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)->version, (*map)->version + 1);  // already one: no new version
  EXPECT_EQ((*after)->FindTable("public", "accounts")->kind, TableKind::kReference);
  EXPECT_EQ(catalog->MarkReferenceTable(9999).sqlstate(), "42P01");
}

// Pure migration-list logic: no server.
TEST(CatalogMigrations, BuiltInListIsValidAndContiguous) {
  EXPECT_TRUE(ValidateMigrations(Migrations()).ok());
  EXPECT_EQ(LatestSchemaVersion(), static_cast<int>(Migrations().size()));
  EXPECT_EQ(LatestSchemaVersion({}), 0);
}

TEST(CatalogMigrations, PendingIsTheSuffixAfterTheStoredVersion) {
  auto all = PendingMigrations(kWithZone, 0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), static_cast<size_t>(kZoneVersion));
  auto last = PendingMigrations(kWithZone, kZoneVersion - 1);
  ASSERT_TRUE(last.ok());
  ASSERT_EQ(last->size(), 1u);
  EXPECT_EQ((*last)[0].version, kZoneVersion);
  auto none = PendingMigrations(kWithZone, kZoneVersion);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(CatalogMigrations, PendingRejectsNewerOrInvalidVersions) {
  EXPECT_FALSE(PendingMigrations(kWithZone, kZoneVersion + 1).ok());
  EXPECT_FALSE(PendingMigrations(kWithZone, -1).ok());
  const Migration gap[] = {{1, "a", "SELECT 1"}, {3, "c", "SELECT 1"}};
  EXPECT_FALSE(ValidateMigrations(gap).ok());
  EXPECT_FALSE(PendingMigrations(gap, 0).ok());
}

}  // namespace
}  // namespace mosaic::catalog

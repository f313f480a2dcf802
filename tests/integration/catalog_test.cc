// Integration tests for the catalog against a real PostgreSQL 15 (one throwaway cluster for the
// suite; each test uses its own catalog database). CatalogMigrations needs no server.
#include "catalog/catalog.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <set>
#include <thread>

#include "test_postgres.h"

namespace mosaic::catalog {
namespace {

using mosaic::testing::TestPostgres;

// A second schema version for upgrade tests; version 1 is the real one.
const Migration kAddZone = {2, "add nodes.zone",
                            "ALTER TABLE mosaic.nodes ADD COLUMN zone text NOT NULL DEFAULT ''"};
const Migration kTwoVersions[] = {Migrations()[0], kAddZone};

class CatalogTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pg_ = new TestPostgres(); }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(pg_->ok()) << pg_->error(); }

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

  static int64_t LoadedVersion(Catalog& catalog) {
    auto map = catalog.Load();
    EXPECT_TRUE(map.ok()) << map.status().ToString();
    return map.ok() ? (*map)->version : -1;
  }

  static inline TestPostgres* pg_ = nullptr;
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

TEST_F(CatalogTest, ReconnectsAfterServerRestart) {
  auto catalog = MustOpen("cat_restart");
  ASSERT_NE(catalog, nullptr);
  ASSERT_TRUE(pg_->Restart()) << pg_->error();
  auto version = catalog->BumpVersion("after restart");
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  EXPECT_EQ(LoadedVersion(*catalog), *version);
}

TEST_F(CatalogTest, MigrationsApplyToAnEmptyDatabase) {
  auto catalog = MustOpen("cat_migrate_empty", kTwoVersions);
  ASSERT_NE(catalog, nullptr);
  EXPECT_EQ(catalog->schema_version(), 2);
  EXPECT_EQ(Scalar("cat_migrate_empty", "SELECT count(*) FROM mosaic.schema_version"), "2");
  EXPECT_EQ(Scalar("cat_migrate_empty",
                   "SELECT count(*) FROM information_schema.columns "
                   "WHERE table_schema = 'mosaic' AND table_name = 'nodes' AND column_name = 'zone'"),
            "1");
}

TEST_F(CatalogTest, MigrationsUpgradeAVersion1CatalogKeepingItsData) {
  auto v1 = MustOpen("cat_migrate_v1", std::span(kTwoVersions, 1));
  ASSERT_NE(v1, nullptr);
  ASSERT_EQ(v1->schema_version(), 1);
  ASSERT_TRUE(v1->RegisterNodes(TwoNodes()).ok());
  int64_t version = LoadedVersion(*v1);

  auto v2 = MustOpen("cat_migrate_v1", kTwoVersions);
  ASSERT_NE(v2, nullptr);
  EXPECT_EQ(v2->schema_version(), 2);
  EXPECT_EQ(Scalar("cat_migrate_v1", "SELECT zone FROM mosaic.nodes WHERE id = 2"), "");
  auto map = v2->Load();
  ASSERT_TRUE(map.ok());
  EXPECT_EQ((*map)->nodes.size(), 2u);
  EXPECT_EQ((*map)->version, version);
}

TEST_F(CatalogTest, OpenRefusesACatalogFromANewerMosaic) {
  ASSERT_NE(MustOpen("cat_newer", kTwoVersions), nullptr);
  auto old = Catalog::Open(Dsn("cat_newer"), std::span(kTwoVersions, 1));
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
  EXPECT_EQ(fixed->schema_version(), 1);
}

// Pure migration-list logic: no server.
TEST(CatalogMigrations, BuiltInListIsValidAndContiguous) {
  EXPECT_TRUE(ValidateMigrations(Migrations()).ok());
  EXPECT_EQ(LatestSchemaVersion(), static_cast<int>(Migrations().size()));
  EXPECT_EQ(LatestSchemaVersion({}), 0);
}

TEST(CatalogMigrations, PendingIsTheSuffixAfterTheStoredVersion) {
  auto all = PendingMigrations(kTwoVersions, 0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
  auto one = PendingMigrations(kTwoVersions, 1);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].version, 2);
  auto none = PendingMigrations(kTwoVersions, 2);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(CatalogMigrations, PendingRejectsNewerOrInvalidVersions) {
  EXPECT_FALSE(PendingMigrations(kTwoVersions, 3).ok());
  EXPECT_FALSE(PendingMigrations(kTwoVersions, -1).ok());
  const Migration gap[] = {{1, "a", "SELECT 1"}, {3, "c", "SELECT 1"}};
  EXPECT_FALSE(ValidateMigrations(gap).ok());
  EXPECT_FALSE(PendingMigrations(gap, 0).ok());
}

}  // namespace
}  // namespace mosaic::catalog

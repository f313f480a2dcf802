// Integration tests for the ControlPlane against a real PostgreSQL 15: table discovery, the
// layout API's checks (200/400/409) and reference-table copies. One throwaway cluster for the
// suite; each test has its own "nodes" (two databases of that cluster) and catalog database.
#include "admin/control_plane.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "catalog/table_discovery.h"
#include "postgres_suite.h"

namespace mosaic::admin {
namespace {

using catalog::TableKind;
using Json = nlohmann::json;

class ControlPlaneTest : public mosaic::testing::PostgresSuite {
 protected:

  // Two node databases <test>_n1, <test>_n2 and a catalog <test>_cat; the control plane over them.
  void SetUp() override {
    PostgresSuite::SetUp();
    if (HasFatalFailure()) return;
    prefix_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : prefix_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    prefix_ = prefix_.substr(0, 40);
    std::vector<catalog::Node> nodes;
    for (int id = 1; id <= 2; ++id) {
      ASSERT_EQ(Sql("postgres", "CREATE DATABASE " + NodeDb(id)), "");
      nodes.push_back(catalog::Node{.id = id, .dsn = pg_->dsn(NodeDb(id)), .dbname = NodeDb(id)});
    }
    auto catalog = catalog::Catalog::Open(pg_->dsn(prefix_ + "_cat"));
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    catalog_ = std::move(catalog).value();
    ASSERT_TRUE(catalog_->RegisterNodes(nodes).ok());
    auto map = catalog_->Load();
    ASSERT_TRUE(map.ok());
    holder_.Publish(*map);
    control_ = std::make_unique<ControlPlane>(config_, *catalog_, holder_);
  }

  std::string NodeDb(int id) const { return prefix_ + "_n" + std::to_string(id); }

  // Runs `sql` on database `db`: "" on success, else the error (or the first value, if any).
  static std::string Sql(const std::string& db, const std::string& sql) {
    PGconn* conn = PQconnectdb(pg_->dsn(db).c_str());
    PGresult* res = PQexec(conn, sql.c_str());
    std::string out;
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
      out = PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "";
    } else if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      out = "<error " + std::string(PQerrorMessage(conn)) + ">";
    }
    PQclear(res);
    PQfinish(conn);
    return out;
  }

  // DDL on both nodes, as Mosaic runs it.
  void Ddl(const std::string& sql) {
    for (int id = 1; id <= 2; ++id) ASSERT_EQ(Sql(NodeDb(id), sql), "") << sql;
  }

  const catalog::ShardMap& Map() const { return *holder_.Snapshot(); }

  std::string prefix_;
  Config config_;
  std::unique_ptr<catalog::Catalog> catalog_;
  catalog::ShardMapHolder holder_;
  std::unique_ptr<ControlPlane> control_;
};

TEST_F(ControlPlaneTest, DiscoveryListsUserTablesWithColumnsInOrder) {
  Ddl("CREATE SCHEMA app; CREATE TABLE app.t (b text NOT NULL, a int8 DEFAULT 7, c int); "
      "ALTER TABLE app.t DROP COLUMN c; CREATE TABLE p (k int) PARTITION BY RANGE (k); "
      "CREATE VIEW v AS SELECT 1 AS x");
  auto tables = catalog::DiscoverTables(Map().DefaultNode());
  ASSERT_TRUE(tables.ok()) << tables.status().ToString();
  ASSERT_EQ(tables->size(), 2u);
  EXPECT_EQ((*tables)[0].schema, "app");
  EXPECT_EQ((*tables)[0].name, "t");
  EXPECT_EQ((*tables)[0].columns,
            (std::vector<catalog::Column>{
                {.name = "b", .type = "text", .type_oid = 25, .not_null = true, .has_default = false},
                {.name = "a", .type = "int8", .type_oid = 20, .has_default = true}}));
  EXPECT_EQ((*tables)[1].schema, "public");
  EXPECT_EQ((*tables)[1].name, "p");
}

TEST_F(ControlPlaneTest, RefreshClassifiesTablesAndRemovesDroppedOnes) {
  config_.tables["public.orgs"].tenant_column = "org_id";
  config_.reference_tables = {"public.countries"};
  Ddl("CREATE TABLE orders (tenant_id int8, id int); CREATE TABLE orgs (org_id int, tenant_id "
      "int); CREATE TABLE plain (id int); CREATE TABLE countries (code text, tenant_id int)");
  const int64_t before = Map().version;
  ASSERT_TRUE(control_->RefreshTables().ok());
  EXPECT_EQ(Map().version, before + 1);
  EXPECT_EQ(Map().FindTable("public", "orders")->kind, TableKind::kDistributed);
  EXPECT_EQ(Map().FindTable("public", "orgs")->tenant_column, "org_id");
  EXPECT_EQ(Map().FindTable("public", "plain")->kind, TableKind::kSingleTenant);
  EXPECT_EQ(Map().FindTable("public", "countries")->kind, TableKind::kReference);

  ASSERT_TRUE(control_->RefreshTables().ok());
  EXPECT_EQ(Map().version, before + 1);  // nothing changed
  Ddl("DROP TABLE plain");
  ASSERT_TRUE(control_->RefreshTables().ok());
  EXPECT_EQ(Map().version, before + 2);
  EXPECT_EQ(Map().FindTable("public", "plain"), nullptr);
}

Json OrdersLayout(const std::string& tenant, int first, int second) {
  return Json{{"table", "orders"}, {"tenant", tenant}, {"column", "day"},
              {"ranges", Json::array({{{"upper", "2024-01-01"}, {"node", first}},
                                      {{"node", second}}})}};
}

TEST_F(ControlPlaneTest, LayoutIsStoredAndPublished) {
  Ddl("CREATE TABLE orders (tenant_id int8, day date)");  // no refresh: SetLayout does it
  auto [status, reply] = control_->SetLayout(OrdersLayout("42", 1, 2));
  ASSERT_EQ(status, 200) << reply.dump();
  EXPECT_EQ(reply["shard_map_version"], Map().version);
  ASSERT_EQ(reply["placements"].size(), 1u);
  EXPECT_EQ(reply["placements"][0]["ranges"][1]["node"], 2);
  const catalog::Table* orders = Map().FindTable("public", "orders");
  const catalog::Layout* layout = Map().FindLayout(orders->id, "42");
  ASSERT_NE(layout, nullptr);
  EXPECT_EQ(layout->ranges.size(), 2u);

  auto [get_status, placements] = control_->Placements({{"table", "orders"}, {"tenant", "42"}});
  EXPECT_EQ(get_status, 200);
  EXPECT_EQ(placements["placements"], reply["placements"]);
}

TEST_F(ControlPlaneTest, LayoutRefusedWithReasons) {
  Ddl("CREATE TABLE orders (tenant_id int8, day date)");
  auto [status, reply] = control_->SetLayout(OrdersLayout("42", 1, 7));
  EXPECT_EQ(status, 400);
  EXPECT_EQ(reply["error"], "ranges[1].node: there is no node 7");
  std::tie(status, reply) = control_->SetLayout(Json{{"table", "missing"}});
  EXPECT_EQ(status, 400);
  EXPECT_EQ(reply["error"], "table: relation \"missing\" does not exist");
}

TEST_F(ControlPlaneTest, LayoutThatWouldMoveRowsIs409) {
  Ddl("CREATE TABLE orders (tenant_id int8, day date)");
  // Tenant 42's rows are on node 1 (say, its home) in both halves; tenant 7 has a row too.
  ASSERT_EQ(Sql(NodeDb(1), "INSERT INTO orders VALUES (42, '2023-06-01'), (42, '2024-03-01'), "
                           "(7, '2020-01-01')"),
            "");
  auto [status, reply] = control_->SetLayout(OrdersLayout("42", 1, 2));
  EXPECT_EQ(status, 409) << reply.dump();
  EXPECT_EQ(reply["error"],
            "range [2024-01-01, +infinity) of table \"public.orders\" (tenant 42) already holds "
            "rows on node 1, and the layout would place it on node 2; moving rows is the "
            "migration service's job");
  // Keeping every row where it is passes, as does a tenant without rows.
  std::tie(status, reply) = control_->SetLayout(OrdersLayout("42", 1, 1));
  EXPECT_EQ(status, 200) << reply.dump();
  std::tie(status, reply) = control_->SetLayout(OrdersLayout("9", 2, 1));
  EXPECT_EQ(status, 200) << reply.dump();
  // A NULL range value belongs to the last range.
  ASSERT_EQ(Sql(NodeDb(2), "INSERT INTO orders VALUES (5, NULL)"), "");
  std::tie(status, reply) = control_->SetLayout(OrdersLayout("5", 2, 1));
  EXPECT_EQ(status, 409) << reply.dump();
  std::tie(status, reply) = control_->SetLayout(OrdersLayout("5", 1, 2));
  EXPECT_EQ(status, 200) << reply.dump();
}

TEST_F(ControlPlaneTest, TextRangesCompareBytewise) {
  Ddl("CREATE TABLE accounts (name text)");
  // In COLLATE "C", 'Zed' < 'apple': the row belongs to the first range, kept on node 1.
  ASSERT_EQ(Sql(NodeDb(1), "INSERT INTO accounts VALUES ('Zed')"), "");
  Json body = {{"table", "accounts"}, {"tenant", nullptr}, {"column", "name"},
               {"ranges", Json::array({{{"upper", "apple"}, {"node", 1}}, {{"node", 2}}})}};
  auto [status, reply] = control_->SetLayout(body);
  EXPECT_EQ(status, 200) << reply.dump();
  body["ranges"] = Json::array({{{"upper", "Zed"}, {"node", 1}}, {{"node", 2}}});
  std::tie(status, reply) = control_->SetLayout(body);
  EXPECT_EQ(status, 409) << reply.dump();
}

TEST_F(ControlPlaneTest, CreateReferenceTableCopiesRowsToEveryNode) {
  Ddl("CREATE TABLE countries (code text PRIMARY KEY, name text)");
  Ddl("CREATE TABLE cities (id int, code text REFERENCES countries)");
  ASSERT_EQ(Sql(NodeDb(1), "INSERT INTO countries SELECT 'c' || i, repeat('x', i % 50) FROM "
                           "generate_series(1, 5000) i"),
            "");
  ASSERT_EQ(Sql(NodeDb(2), "INSERT INTO countries VALUES ('stale', 'old copy')"), "");
  auto name = control_->CreateReferenceTable("Countries");
  ASSERT_TRUE(name.ok()) << name.status().ToString();
  EXPECT_EQ(*name, "countries");
  EXPECT_EQ(Map().FindTable("public", "countries")->kind, TableKind::kReference);
  const std::string digest = "SELECT count(*) || md5(string_agg(code || name, ',' ORDER BY code)) "
                             "FROM countries";
  EXPECT_EQ(Sql(NodeDb(2), digest), Sql(NodeDb(1), digest));
  EXPECT_EQ(Sql(NodeDb(2), "SELECT count(*) FROM countries WHERE code = 'stale'"), "0");

  auto again = control_->CreateReferenceTable("public.countries");
  EXPECT_TRUE(again.ok());
  auto missing = control_->CreateReferenceTable("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().sqlstate(), "42P01");
  EXPECT_EQ(missing.status().message(), "relation \"nope\" does not exist");
}

TEST_F(ControlPlaneTest, CreateReferenceTableRefusesLaidOutOrScatteredTables) {
  Ddl("CREATE TABLE orders (tenant_id int8, day date); CREATE TABLE notes (tenant_id int8)");
  ASSERT_EQ(control_->SetLayout(OrdersLayout("42", 1, 2)).first, 200);
  auto laid_out = control_->CreateReferenceTable("orders");
  ASSERT_FALSE(laid_out.ok());
  EXPECT_EQ(laid_out.status().sqlstate(), "0A000");
  // A distributed table with rows on another node would lose them.
  ASSERT_EQ(Sql(NodeDb(2), "INSERT INTO notes VALUES (1)"), "");
  auto scattered = control_->CreateReferenceTable("notes");
  ASSERT_FALSE(scattered.ok());
  EXPECT_EQ(scattered.status().sqlstate(), "0A000");
  EXPECT_EQ(Sql(NodeDb(2), "SELECT count(*) FROM notes"), "1");
  EXPECT_EQ(Map().FindTable("public", "notes")->kind, TableKind::kDistributed);
}

}  // namespace
}  // namespace mosaic::admin

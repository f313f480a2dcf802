// Unit tests for router::Plan and router::PlanUtility decisions that need no server: outer joins
// against reference tables, and utility statements while rows are spread over nodes.
#include "router/router.h"

#include <gtest/gtest.h>

#include <string>

#include "router/rewrite.h"
#include "sql/analyzer.h"
#include "test_tables.h"

namespace mosaic::router {
namespace {

using catalog::TableKind;
using testing::MakeTable;

// Three nodes: statuses is a reference table, orders distributed (tenant_id), settings
// single-tenant. `spread` false: every table single-tenant (rows only on the default node).
catalog::ShardMap SampleMap(bool spread = true) {
  catalog::ShardMap map;
  map.version = 1;
  for (int id = 1; id <= 3; ++id) map.nodes.push_back({.id = id});
  const catalog::Column code{"code", "int4", 23}, status{"status", "int4", 23}, v{"v", "int4", 23};
  map.tables.push_back(MakeTable(1, "statuses", spread ? TableKind::kReference : TableKind::kSingleTenant, {code}));
  map.tables.push_back(MakeTable(2, "orders", spread ? TableKind::kDistributed : TableKind::kSingleTenant,
                                 {testing::kTenantColumn, status, v}));
  map.tables.push_back(MakeTable(3, "settings", TableKind::kSingleTenant, {code, v}));
  map.BuildIndex();
  return map;
}

// One statement, analysed and planned against a map.
struct Planned {
  std::string sql;
  sql::Lexed lexed;
  std::shared_ptr<const sql::Analysis> a;
  Bound bound;

  explicit Planned(std::string text) : sql(std::move(text)) {
    sql::Lex(sql, &lexed);
    a = sql::Analyze(sql, lexed.literals);
    bound.literals = &lexed.literals;
  }
  Result<Route> Plan(const catalog::ShardMap& map) const { return router::Plan(map, *a, bound); }
  Result<UtilityRoute> Utility(const catalog::ShardMap& map) const { return PlanUtility(map, *a, bound); }
};

std::string Refusal(const Status& s) { return s.ok() ? "<ok>" : s.sqlstate() + ": " + s.message(); }

// ---- Outer joins with a replicated preserved side ----------------------------------------------

TEST(RouterOuterJoin, ReplicatedPreservedSideOverSeveralNodesIsRefused) {
  const auto map = SampleMap();
  for (const char* sql : {
           "SELECT s.code, count(*) FROM statuses s LEFT JOIN orders o ON o.status = s.code GROUP BY 1",
           "SELECT count(*) FROM orders o RIGHT JOIN statuses s ON o.status = s.code",
           "SELECT count(*) FROM statuses s FULL JOIN orders o ON o.status = s.code",
           "SELECT count(*) FROM orders o FULL JOIN statuses s ON o.status = s.code",
           "SELECT count(*) FROM unnest(ARRAY[1, 2, 7]) u(x) LEFT JOIN orders o ON o.status = u.x",
           "SELECT count(*) FROM (VALUES (1), (2)) v(x) LEFT JOIN orders o ON o.status = v.x",
           "SELECT count(*) FROM (SELECT code FROM statuses) s LEFT JOIN orders o ON o.status = s.code",
           "WITH s AS (SELECT code FROM statuses) SELECT count(*) FROM s LEFT JOIN orders o ON o.status = s.code",
           "WITH o AS (SELECT * FROM orders) SELECT count(*) FROM statuses s LEFT JOIN o ON o.status = s.code",
           "SELECT count(*) FROM statuses s LEFT JOIN (orders o JOIN orders o2 ON o2.tenant_id = o.tenant_id) "
           "ON o.status = s.code",
           "SELECT count(*) FROM statuses s LEFT JOIN LATERAL (SELECT count(*) FROM orders o WHERE o.status = s.code) c "
           "ON true",
       }) {
    auto route = Planned(sql).Plan(map);
    ASSERT_FALSE(route.ok()) << sql;
    EXPECT_EQ(route.status().sqlstate(), "0A000") << sql;
    EXPECT_NE(route.status().message().find("outer join"), std::string::npos) << Refusal(route.status());
  }
}

TEST(RouterOuterJoin, RefusalNamesTheReferenceTable) {
  auto route = Planned("SELECT count(*) FROM statuses s LEFT JOIN orders o ON o.status = s.code").Plan(SampleMap());
  ASSERT_FALSE(route.ok());
  EXPECT_NE(route.status().message().find("reference table \"statuses\""), std::string::npos)
      << route.status().message();
}

TEST(RouterOuterJoin, DistributedPreservedSideInnerJoinsAndOneNodeAreAllowed) {
  const auto map = SampleMap();
  for (const char* sql : {
           "SELECT count(*) FROM orders o LEFT JOIN statuses s ON o.status = s.code",
           "SELECT count(*) FROM statuses s RIGHT JOIN orders o ON o.status = s.code",
           "SELECT count(*) FROM statuses s JOIN orders o ON o.status = s.code",
           "SELECT count(*) FROM statuses s LEFT JOIN statuses s2 ON s2.code = s.code, orders o "
           "WHERE o.status = s.code",
       }) {
    auto route = Planned(sql).Plan(map);
    ASSERT_TRUE(route.ok()) << sql << ": " << Refusal(route.status());
    EXPECT_EQ(route.value().nodes.size(), 3u) << sql;
  }
  // The ON clause pins the nullable side to one tenant: one node answers it whole.
  auto one = Planned("SELECT count(*) FROM statuses s LEFT JOIN orders o ON o.status = s.code AND o.tenant_id = 5")
                 .Plan(map);
  ASSERT_TRUE(one.ok()) << Refusal(one.status());
  EXPECT_EQ(one.value().nodes.size(), 1u);
  // Only reference tables: any one node.
  auto ref = Planned("SELECT count(*) FROM statuses s LEFT JOIN statuses s2 ON s2.code = s.code").Plan(map);
  ASSERT_TRUE(ref.ok()) << Refusal(ref.status());
  EXPECT_TRUE(ref.value().reference_only);
}

// ---- Utility statements -------------------------------------------------------------------------

TEST(RouterUtility, StatementsOverSpreadRowsAreRefused) {
  const auto map = SampleMap();
  for (const char* sql : {
           "DECLARE c CURSOR FOR SELECT tenant_id FROM orders ORDER BY 1",
           "PREPARE p AS SELECT count(*) FROM orders",
           "PREPARE p (int8) AS SELECT count(*) FROM orders WHERE tenant_id = $1",
           "DO $$ BEGIN UPDATE orders SET v = 1; END $$",
           "DO $$ BEGIN PERFORM 1; END $$",
           "CALL some_procedure()",
           "EXPLAIN (ANALYZE, COSTS OFF) UPDATE orders SET v = 2",
           "EXPLAIN ANALYZE SELECT count(*) FROM orders",
           "EXPLAIN ANALYZE EXECUTE p",
           "CREATE TABLE t_copy AS SELECT * FROM orders",
           "CREATE MATERIALIZED VIEW mv AS SELECT * FROM orders",
           "SELECT * INTO t_copy FROM orders",
       }) {
    auto placed = Planned(sql).Utility(map);
    ASSERT_FALSE(placed.ok()) << sql;
    EXPECT_EQ(placed.status().sqlstate(), "0A000") << sql;
  }
}

TEST(RouterUtility, StatementsOverDefaultNodeRowsRunThere) {
  const auto map = SampleMap();
  for (const char* sql : {
           "DECLARE c CURSOR FOR SELECT * FROM settings",
           "DECLARE c CURSOR FOR SELECT * FROM statuses",
           "PREPARE p AS SELECT count(*) FROM settings",
           "PREPARE p AS INSERT INTO settings VALUES ($1, $2)",
           "FETCH 10 FROM c",
           "MOVE NEXT IN c",
           "CLOSE c",
           "EXECUTE p",
           "DEALLOCATE p",
           "EXPLAIN SELECT count(*) FROM orders",
           "EXPLAIN UPDATE orders SET v = 2",
           "EXPLAIN ANALYZE SELECT count(*) FROM settings",
       }) {
    auto placed = Planned(sql).Utility(map);
    ASSERT_TRUE(placed.ok()) << sql << ": " << Refusal(placed.status());
    EXPECT_EQ(placed.value().node, 1) << sql;
  }
  for (const char* sql : {"CREATE TABLE t_copy AS SELECT * FROM settings",
                          "CREATE TABLE t_copy AS SELECT * FROM orders WITH NO DATA", "LISTEN x",
                          "SELECT * INTO t_copy FROM statuses"}) {
    auto placed = Planned(sql).Utility(map);
    ASSERT_TRUE(placed.ok()) << sql << ": " << Refusal(placed.status());
    EXPECT_EQ(placed.value().node, -1) << sql;
  }
}

TEST(RouterUtility, ExplainAnalyzeOfOneTenantRunsOnItsNode) {
  const auto map = SampleMap();
  auto tenant = Planned("UPDATE orders SET v = 2 WHERE tenant_id = 7").Plan(map);
  ASSERT_TRUE(tenant.ok());
  ASSERT_EQ(tenant.value().nodes.size(), 1u);
  auto placed = Planned("EXPLAIN (ANALYZE, COSTS OFF) UPDATE orders SET v = 2 WHERE tenant_id = 7").Utility(map);
  ASSERT_TRUE(placed.ok()) << Refusal(placed.status());
  EXPECT_EQ(placed.value().node, tenant.value().nodes[0]);
  EXPECT_TRUE(placed.value().write);
  auto plain = Planned("EXPLAIN SELECT * FROM orders WHERE tenant_id = 7").Utility(map);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain.value().node, tenant.value().nodes[0]);
  EXPECT_FALSE(plain.value().write);
}

TEST(RouterUtility, CursorOfOneTenantRunsOnItsNode) {
  const auto map = SampleMap();
  int tenant = 1, node = 1;  // a tenant whose home is not the default node
  for (; tenant < 100 && node == 1; ++tenant) {
    auto route = Planned("SELECT * FROM orders WHERE tenant_id = " + std::to_string(tenant + 1)).Plan(map);
    ASSERT_TRUE(route.ok());
    ASSERT_EQ(route.value().nodes.size(), 1u);
    node = route.value().nodes[0];
  }
  ASSERT_NE(node, 1);
  const std::string query = "SELECT * FROM orders WHERE tenant_id = " + std::to_string(tenant);
  Planned declare("DECLARE \"Big\" NO SCROLL CURSOR WITHOUT HOLD FOR " + query);
  EXPECT_EQ(declare.a->cursor_name, "Big");
  EXPECT_FALSE(declare.a->cursor_hold);
  auto placed = declare.Utility(map);
  ASSERT_TRUE(placed.ok()) << Refusal(placed.status());
  EXPECT_EQ(placed.value().node, node);
  // WITH HOLD outlives the transaction: kept on the default node only.
  auto hold = Planned("DECLARE c CURSOR WITH HOLD FOR " + query).Utility(map);
  ASSERT_FALSE(hold.ok());
  EXPECT_EQ(hold.status().sqlstate(), "0A000");
  // Reference tables only: the default node, as for PREPARE (which EXECUTE finds there).
  auto reference = Planned("DECLARE c CURSOR FOR SELECT * FROM statuses JOIN statuses s2 USING (code)").Utility(map);
  ASSERT_TRUE(reference.ok()) << Refusal(reference.status());
  EXPECT_EQ(reference.value().node, 1);
  EXPECT_TRUE(Planned("DECLARE c CURSOR WITH HOLD FOR SELECT 1").a->cursor_hold);
  EXPECT_EQ(Planned("FETCH FORWARD 5 FROM big").a->cursor_name, "big");
  EXPECT_FALSE(Planned("FETCH FORWARD 5 FROM big").a->cursor_close);
  EXPECT_TRUE(Planned("CLOSE big").a->cursor_close);
  EXPECT_EQ(Planned("CLOSE ALL").a->cursor_name, "");
}

TEST(RouterUtility, LockOfKnownTablesRunsOnEveryNode) {
  const auto map = SampleMap();
  for (const char* sql : {"LOCK TABLE orders", "LOCK settings, public.statuses IN SHARE MODE"}) {
    auto placed = Planned(sql).Utility(map);
    ASSERT_TRUE(placed.ok()) << sql << ": " << Refusal(placed.status());
    EXPECT_TRUE(placed.value().every_node) << sql;
    EXPECT_EQ(placed.value().node, -1) << sql;
  }
  // A single-tenant table without a layout has its rows on the default node only.
  auto single = Planned("LOCK TABLE settings").Utility(map);
  ASSERT_TRUE(single.ok());
  EXPECT_FALSE(single.value().every_node);
  // A table Mosaic does not know (a temporary one) exists on the default node only.
  auto temp = Planned("LOCK TABLE orders, my_temp").Utility(map);
  ASSERT_TRUE(temp.ok());
  EXPECT_FALSE(temp.value().every_node);
  auto unspread = Planned("LOCK TABLE orders").Utility(SampleMap(/*spread=*/false));
  ASSERT_TRUE(unspread.ok());
  EXPECT_FALSE(unspread.value().every_node);
}

TEST(RouterUtility, NothingIsRefusedWhileRowsAreNotSpread) {
  const auto map = SampleMap(/*spread=*/false);
  for (const char* sql : {"DECLARE c CURSOR FOR SELECT * FROM orders", "DO $$ BEGIN UPDATE orders SET v = 1; END $$",
                          "EXPLAIN ANALYZE UPDATE orders SET v = 2", "CREATE TABLE t_copy AS SELECT * FROM orders",
                          "FETCH ALL FROM c"}) {
    auto placed = Planned(sql).Utility(map);
    ASSERT_TRUE(placed.ok()) << sql << ": " << Refusal(placed.status());
    EXPECT_EQ(placed.value().node, -1) << sql;
  }
}

// ---- Relations the map does not know ----------------------------------------------------------

TEST(RouterUnknownRelation, NamedWhateverTheLayoutAndPlanRefusesItOnlyWhenSpread) {
  const auto spread = SampleMap();
  for (const char* sql : {"SELECT count(*) FROM orders_typo WHERE tenant_id = 3",
                          "SELECT * FROM orders JOIN gone ON gone.id = orders.v", "SELECT * FROM other.orders"}) {
    const Planned p(sql);
    EXPECT_TRUE(NamesUnknownRelation(spread, *p.a)) << sql;
    EXPECT_TRUE(NamesUnknownRelation(SampleMap(/*spread=*/false), *p.a)) << sql;
    EXPECT_EQ(p.Plan(spread).status().sqlstate(), kUnknownRelation) << sql;
  }
  for (const char* sql : {"SELECT * FROM orders WHERE tenant_id = 1", "SELECT * FROM public.statuses, settings",
                          "SELECT * FROM pg_catalog.pg_class", "SELECT * FROM pg_stat_activity",
                          "SELECT * FROM information_schema.tables", "SELECT 1"}) {
    EXPECT_FALSE(NamesUnknownRelation(spread, *Planned(sql).a)) << sql;
  }
}

}  // namespace
}  // namespace mosaic::router

namespace mosaic::router {
namespace {

// ---- INSERT ... SELECT: pushed down to one node, or run through Mosaic ---------------------------

// ---- Ranges of tenants ------------------------------------------------------------------------

TEST(RouterTenantRanges, ARangeOfTenantsGoesToEveryNode) {
  // Tenant keys are text: "2" > "18" must not make BETWEEN 2 AND 18 an empty set of tenants.
  const catalog::ShardMap map = SampleMap();
  for (const char* sql : {"SELECT count(*) FROM orders WHERE tenant_id BETWEEN 2 AND 18",
                          "UPDATE orders SET v = 1 WHERE tenant_id >= 2 AND tenant_id <= 18",
                          "DELETE FROM orders WHERE tenant_id > 9 AND tenant_id < 10000"}) {
    auto route = Planned(sql).Plan(map);
    ASSERT_TRUE(route.ok()) << sql << ": " << Refusal(route.status());
    EXPECT_EQ(route.value().nodes, (std::vector<int>{1, 2, 3})) << sql;
  }
  // A tenant and a range of them: that tenant's node.
  auto route = Planned("SELECT v FROM orders WHERE tenant_id = 5 AND tenant_id < 10").Plan(map);
  ASSERT_TRUE(route.ok()) << Refusal(route.status());
  EXPECT_EQ(route.value().nodes, std::vector<int>{map.TenantHomeNode("5")});
}

TEST(RouterInsertSelect, OneTenantNotSplitRunsOnItsNode) {
  const catalog::ShardMap map = SampleMap();
  const int home = map.TenantHomeNode("7");
  for (const char* sql : {"INSERT INTO orders (tenant_id, status, v) SELECT tenant_id, status, v + 1 FROM orders WHERE tenant_id = 7",
                          "INSERT INTO orders (tenant_id, status) SELECT 7, code FROM statuses",
                          "INSERT INTO orders SELECT o.tenant_id, s.code, 1 FROM orders o JOIN statuses s ON s.code = o.status "
                          "WHERE o.tenant_id = 7"}) {
    auto route = Planned(sql).Plan(map);
    ASSERT_TRUE(route.ok()) << sql << ": " << Refusal(route.status());
    EXPECT_FALSE(route.value().insert_select_through) << sql;
    EXPECT_EQ(route.value().nodes, std::vector<int>{home}) << sql;
  }
}

TEST(RouterInsertSelect, RowsThatMayLandElsewhereRunThrough) {
  const catalog::ShardMap map = SampleMap();
  for (const char* sql : {"INSERT INTO orders SELECT * FROM orders WHERE tenant_id = 7",  // `*`
                          "INSERT INTO orders (tenant_id, status) SELECT tenant_id, status FROM orders",
                          "INSERT INTO orders (tenant_id, status) SELECT tenant_id + 1, status FROM orders WHERE tenant_id = 7",
                          "INSERT INTO orders (tenant_id, status) SELECT code, code FROM statuses",
                          "INSERT INTO orders (status) SELECT code FROM statuses",
                          "INSERT INTO orders (tenant_id, status) SELECT o.tenant_id, s.code FROM statuses s "
                          "LEFT JOIN orders o ON o.tenant_id = 7"}) {
    auto route = Planned(sql).Plan(map);
    ASSERT_TRUE(route.ok()) << sql << ": " << Refusal(route.status());
    EXPECT_TRUE(route.value().insert_select_through) << sql;
    EXPECT_EQ(route.value().nodes.size(), 3u) << sql;
  }
  // A single-tenant table (on the default node) from a tenant on another node, or on that node.
  for (int tenant = 1; tenant <= 6; ++tenant) {
    auto route = Planned("INSERT INTO settings (code, v) SELECT status, v FROM orders WHERE tenant_id = " +
                         std::to_string(tenant)).Plan(map);
    ASSERT_TRUE(route.ok()) << Refusal(route.status());
    const bool elsewhere = map.TenantHomeNode(std::to_string(tenant)) != map.DefaultNode().id;
    EXPECT_EQ(route.value().insert_select_through, elsewhere) << tenant;
    EXPECT_EQ(route.value().nodes.size(), elsewhere ? 3u : 1u) << tenant;
  }
  // Another tenant written: on one node only when both tenants live there.
  auto other = Planned("INSERT INTO orders (tenant_id, status) SELECT 8, status FROM orders WHERE tenant_id = 7").Plan(map);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other.value().insert_select_through, map.TenantHomeNode("8") != map.TenantHomeNode("7"));
}

TEST(RouterInsertSelect, DefaultRoutingValues) {
  catalog::ShardMap map = SampleMap();
  for (auto& t : map.tables) {
    for (auto& c : t.columns) {
      c.not_null = c.name == "tenant_id";
      c.has_default = c.name == "v";
    }
  }
  map.BuildIndex();
  EXPECT_EQ(Planned("INSERT INTO orders (tenant_id, status) VALUES (DEFAULT, 1)").Plan(map).status().sqlstate(), "23502");
  EXPECT_EQ(Planned("INSERT INTO orders DEFAULT VALUES").Plan(map).status().sqlstate(), "23502");
  EXPECT_EQ(Planned("INSERT INTO orders (status) VALUES (1)").Plan(map).status().sqlstate(), "23502");
  auto ok = Planned("INSERT INTO orders (tenant_id, status, v) VALUES (7, DEFAULT, DEFAULT)").Plan(map);
  ASSERT_TRUE(ok.ok()) << Refusal(ok.status());
  EXPECT_EQ(ok.value().nodes, std::vector<int>{map.TenantHomeNode("7")});
  for (auto& t : map.tables) {
    for (auto& c : t.columns) c.has_default = c.name == "tenant_id";
  }
  map.BuildIndex();
  EXPECT_EQ(Planned("INSERT INTO orders (tenant_id, status) VALUES (DEFAULT, 1)").Plan(map).status().sqlstate(), "0A000");
  EXPECT_EQ(Planned("INSERT INTO orders DEFAULT VALUES").Plan(map).status().sqlstate(), "0A000");
}

// ---- The session's temporary tables -------------------------------------------------------------

TEST(RouterTempTables, RunOnTheDefaultNodeAndHideTablesOfTheirName) {
  const auto map = SampleMap();
  const std::vector<std::string> temp{"tmp", "orders"};
  auto plan = [&](const char* sql) {
    Planned p(sql);
    p.bound.temp_tables = &temp;
    return p.Plan(map);
  };
  for (const char* sql : {"SELECT * FROM tmp", "SELECT * FROM pg_temp.tmp", "INSERT INTO tmp VALUES (1, 2)",
                          "UPDATE tmp SET v = 1", "SELECT * FROM tmp JOIN statuses USING (code)",
                          "SELECT * FROM tmp JOIN settings USING (code)",
                          "SELECT * FROM orders",  // the temporary one hides public.orders
                          "INSERT INTO tmp SELECT * FROM settings"}) {
    auto route = plan(sql);
    ASSERT_TRUE(route.ok()) << sql << ": " << Refusal(route.status());
    EXPECT_EQ(route.value().nodes, std::vector<int>{1}) << sql;
    EXPECT_FALSE(route.value().insert_select_through) << sql;
  }
  // Writes of temporary tables alone are no writes for the commit (PREPARE TRANSACTION refuses them).
  EXPECT_FALSE(plan("INSERT INTO tmp VALUES (1, 2)").value().write);
  EXPECT_FALSE(plan("DELETE FROM tmp USING statuses WHERE tmp.code = statuses.code").value().write);
  EXPECT_TRUE(plan("INSERT INTO settings SELECT * FROM tmp").value().write);
  EXPECT_TRUE(plan("WITH n AS (INSERT INTO settings VALUES (1, 1) RETURNING *) INSERT INTO tmp SELECT * FROM n").value().write);
  auto qualified = plan("SELECT * FROM public.orders");
  ASSERT_TRUE(qualified.ok());
  EXPECT_EQ(qualified.value().nodes, (std::vector<int>{1, 2, 3}));
  // Unknown elsewhere: refused as before (a temporary table of another schema is not the session's).
  EXPECT_EQ(plan("SELECT * FROM public.tmp").status().sqlstate(), kUnknownRelation);
  {
    Planned p("SELECT * FROM tmp");  // a session without temporary tables
    EXPECT_EQ(p.Plan(map).status().sqlstate(), kUnknownRelation);
  }
  // Rows of other nodes with a temporary table: refused, saying why.
  for (const char* sql : {"SELECT * FROM tmp JOIN public.orders o ON o.v = tmp.v",
                          "UPDATE public.orders o SET v = tmp.v FROM tmp WHERE o.tenant_id = tmp.code",
                          "SELECT * FROM public.orders WHERE v IN (SELECT v FROM tmp)"}) {
    auto route = plan(sql);
    ASSERT_FALSE(route.ok()) << sql;
    EXPECT_EQ(route.status().sqlstate(), "0A000") << sql;
    EXPECT_NE(route.status().message().find("temporary table \"tmp\", which lives on node 1"), std::string::npos)
        << Refusal(route.status());
  }
  // INSERT ... SELECT between a temporary table and rows of other nodes: through Mosaic.
  for (const char* sql : {"INSERT INTO tmp SELECT * FROM public.orders", "INSERT INTO public.orders SELECT * FROM tmp"}) {
    auto route = plan(sql);
    ASSERT_TRUE(route.ok()) << sql << ": " << Refusal(route.status());
    EXPECT_TRUE(route.value().insert_select_through) << sql;
  }
  // Utility statements over them run on the default node.
  Planned cursor("DECLARE c CURSOR FOR SELECT * FROM tmp");
  cursor.bound.temp_tables = &temp;
  auto placed = cursor.Utility(map);
  ASSERT_TRUE(placed.ok()) << Refusal(placed.status());
  EXPECT_EQ(placed.value().node, 1);
}

// ---- Parameters written into a statement run in steps --------------------------------------

TEST(RouterInlineParams, TypedQuotedAndOnlyWhereParametersAre) {
  Bound bound;
  const std::string binary_256("\0\0\1\0", 4);
  bound.params = {{.null = false, .binary = false, .bytes = "5", .type_oid = 23},
                  {.null = false, .binary = false, .bytes = "a'b\\c", .type_oid = 0},
                  {.null = true, .binary = false, .bytes = {}, .type_oid = 25},
                  {.null = false, .binary = true, .bytes = binary_256, .type_oid = 23},
                  {.null = false, .binary = false, .bytes = "ab ", .type_oid = 1042}};
  auto inlined = InlineParams(
      "INSERT INTO t SELECT $1, v FROM s WHERE k = $2 AND n IS DISTINCT FROM $3 AND m = $4 AND c = $5 "
      "AND note = '$1 stays' AND x = $$$2$$ -- $1\n",
      bound);
  ASSERT_TRUE(inlined.ok()) << Refusal(inlined.status());
  EXPECT_EQ(inlined.value(),
            "INSERT INTO t SELECT CAST('5' AS pg_catalog.int4), v FROM s WHERE k = E'a''b\\\\c' AND n IS DISTINCT FROM "
            "CAST(NULL AS pg_catalog.text) AND m = CAST('256' AS pg_catalog.int4) AND c = CAST('ab ' AS pg_catalog.bpchar) "
            "AND note = '$1 stays' AND x = $$$2$$ -- $1\n");
  // What cannot be written as a constant of its type is refused, not guessed.
  Bound point;
  point.params = {{.null = false, .binary = false, .bytes = "(1,2)", .type_oid = 600}};
  EXPECT_EQ(InlineParams("SELECT $1", point).status().sqlstate(), "0A000");
  Bound binary_text;
  binary_text.params = {{.null = false, .binary = true, .bytes = "abc", .type_oid = 25}};
  EXPECT_EQ(InlineParams("SELECT $1", binary_text).status().sqlstate(), "0A000");
  EXPECT_EQ(InlineParams("SELECT $2", point).status().sqlstate(), "08P01");
}

}  // namespace
}  // namespace mosaic::router

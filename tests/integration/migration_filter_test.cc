// Integration tests for the flows' filters of migration::PlanAction against a real PostgreSQL 15:
// each filter must be a valid publication row filter (the data path replicates a flow through
// one) and must select exactly the rows that change node, NULL range values included.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <map>

#include "../unit/test_tables.h"
#include "migration/migration.h"
#include "postgres_suite.h"

namespace mosaic::migration {
namespace {

using catalog::Layout;
using catalog::Range;
using catalog::ShardMap;
using catalog::TableKind;
using mosaic::testing::MakeTable;

// orders(tenant_id int8, order_date date, name text, created_at timestamptz) on nodes 1..3;
// tenant 9 laid out by order_date: (-inf, 2024-01-01) on 1, [2024-01-01, 2024-07-01) on 2, rest on 3.
std::shared_ptr<ShardMap> Map() {
  auto map = std::make_shared<ShardMap>();
  for (int id = 1; id <= 3; ++id) map->nodes.push_back(catalog::Node{.id = id});
  map->tables = {MakeTable(1, "orders", TableKind::kDistributed,
                           {mosaic::testing::kTenantColumn, {"order_date", "date", 1082}, {"name", "text", 25},
                            {"created_at", "timestamptz", 1184}})};
  Layout l{.id = 1, .tenant = "9", .table_ids = {1}, .column = "order_date",
           .key_type = router::KeyType::kDate, .column_type = "date"};
  auto key = [](const char* d) { return router::EncodeKey(router::KeyType::kDate, d).value(); };
  l.ranges = {Range{.upper = "2024-01-01", .upper_key = key("2024-01-01"), .node_id = 1},
              Range{.lower = "2024-01-01", .upper = "2024-07-01", .lower_key = key("2024-01-01"),
                    .upper_key = key("2024-07-01"), .node_id = 2},
              Range{.lower = "2024-07-01", .lower_key = key("2024-07-01"), .node_id = 3}};
  map->layouts = {l};
  map->BuildIndex();
  return map;
}

class MigrationFilterTest : public mosaic::testing::PostgresSuite {
 protected:
  void SetUp() override {
    PostgresSuite::SetUp();
    if (HasFatalFailure()) return;
    conn_ = PQconnectdb(pg_->dsn().c_str());
    ASSERT_EQ(PQstatus(conn_), CONNECTION_OK);
    ASSERT_EQ(Run("DROP TABLE IF EXISTS orders; CREATE TABLE orders (tenant_id int8, order_date date, name text, created_at timestamptz);"
                  "INSERT INTO orders VALUES (9, '2023-05-01', 'a', '2023-05-01'), (9, '2024-03-01', 'B', NULL),"
                  " (9, '2024-09-01', 'm', '2024-09-01 10:00+00'), (9, NULL, NULL, NULL), (8, '2024-03-01', 'x', NULL)"),
              "");
  }
  void TearDown() override { PQfinish(conn_); }

  // "" on success, else the server's error.
  std::string Run(const std::string& sql) {
    PGresult* res = PQexec(conn_, sql.c_str());
    std::string error = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK
                            ? ""
                            : PQresultErrorMessage(res);
    PQclear(res);
    return error;
  }

  std::string Count(const std::string& filter) {
    PGresult* res = PQexec(conn_, ("SELECT count(*) FROM orders WHERE " + filter).c_str());
    std::string out = PQresultStatus(res) == PGRES_TUPLES_OK ? PQgetvalue(res, 0, 0) : PQresultErrorMessage(res);
    PQclear(res);
    return out;
  }

  // The flows of `action`, each checked to be a valid publication row filter.
  std::vector<Flow> FlowsOf(const std::string& action) {
    auto plan = PlanAction(nlohmann::json::parse(action), *Map());
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    if (!plan.ok()) return {};
    for (const Flow& f : plan->flows) {
      EXPECT_EQ(Run("CREATE PUBLICATION p FOR TABLE orders WHERE (" + f.filter + ")"), "") << f.filter;
      EXPECT_EQ(Run("DROP PUBLICATION IF EXISTS p"), "");
    }
    return plan->flows;
  }

  PGconn* conn_ = nullptr;
};

TEST_F(MigrationFilterTest, MergeSelectsEachSourcesRowsNullsInTheLastRange) {
  auto flows = FlowsOf(R"({"action": "merge", "tenant": "9", "tables": ["orders"], "column": "order_date",
      "ranges": [{"lower": null, "upper": null, "node": 2}]})");
  ASSERT_EQ(flows.size(), 2u);
  EXPECT_EQ(Count(flows[0].filter), "1");  // 2023-05-01 from node 1
  EXPECT_EQ(Count(flows[1].filter), "2");  // 2024-09-01 and NULL from node 3
}

TEST_F(MigrationFilterTest, ColumnChangeToTextAndTimestamptz) {
  using Counts = std::map<std::pair<int, int>, std::string>;
  auto counts = [&](const std::vector<Flow>& flows) {
    Counts out;
    for (const Flow& f : flows) out[{f.source, f.target}] = Count(f.filter);
    return out;
  };
  // 'B' sorts below 'a' in COLLATE "C"; a NULL name belongs to the last range.
  EXPECT_EQ(counts(FlowsOf(R"({"action": "split", "tenant": "9", "tables": ["orders"], "column": "name",
      "ranges": [{"upper": "a", "node": 1}, {"lower": "a", "node": 2}]})")),
            (Counts{{{1, 2}, "1"}, {{2, 1}, "1"}, {{3, 1}, "0"}, {{3, 2}, "2"}}));
  // 15:00+05 is 10:00 UTC: the row at 10:00 UTC goes up, whatever the session's time zone.
  const auto by_time = FlowsOf(R"({"action": "split", "tenant": "9", "tables": ["orders"], "column": "created_at",
      "ranges": [{"upper": "2024-09-01 15:00+05", "node": 3}, {"lower": "2024-09-01 15:00+05", "node": 1}]})");
  const Counts want = {{{1, 3}, "1"}, {{2, 1}, "1"}, {{2, 3}, "0"}, {{3, 1}, "2"}};
  EXPECT_EQ(counts(by_time), want);
  ASSERT_EQ(Run("SET TimeZone = 'Asia/Tokyo'"), "");
  EXPECT_EQ(counts(by_time), want);
}

}  // namespace
}  // namespace mosaic::migration

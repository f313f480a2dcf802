#include "monitor/event_builder.h"

#include <gtest/gtest.h>

#include <string>

#include "sql/analyzer.h"

namespace mosaic::monitor {
namespace {

struct Built {
  std::string sql;
  sql::Lexed lexed;
  std::shared_ptr<const sql::Analysis> a;
  QueryEvent e;

  explicit Built(std::string text, std::vector<std::string> params = {}, const catalog::Table* table = nullptr,
                 const std::vector<std::string>* temp_tables = nullptr)
      : sql(std::move(text)) {
    sql::Lex(sql, &lexed);
    a = sql::Analyze(sql, lexed.literals);
    router::Bound bound;
    bound.literals = &lexed.literals;
    bound.temp_tables = temp_tables;
    storage_ = std::move(params);
    for (const auto& p : storage_) bound.params.push_back({.null = false, .binary = false, .bytes = p});
    router::Route route;
    route.nodes = {1, 3};
    route.tenant_known = true;
    route.tenant = "acme";
    if (table != nullptr) route.tables = {table};
    BuildEvent(*a, bound, route, lexed.shape_hash, &e);
  }
  std::vector<std::string> storage_;
};

TEST(EventBuilderTest, FiltersWithOperatorKindsAndValues) {
  Built b("SELECT * FROM orders o WHERE o.tenant_id = 'acme' AND created_at >= '2026-01-01' AND created_at < '2026-02-01' "
          "AND status IN ('open', 'paid') AND total > $1 AND note IS NULL",
          {"100"});
  const QueryEvent& e = b.e;
  EXPECT_EQ(e.tenant.view(), "acme");
  EXPECT_EQ(e.nodes, 2);
  EXPECT_FALSE(e.single_node);
  EXPECT_EQ(e.node_mask, (1u << 1) | (1u << 3));
  ASSERT_EQ(e.table_count, 1);
  EXPECT_EQ(e.tables[0].view(), "orders");
  ASSERT_EQ(e.filter_count, 7);
  auto check = [&](int i, std::string_view column, FilterOp op, ValueRole role, std::string_view value, bool counts) {
    EXPECT_EQ(e.filters[i].column.view(), column) << i;
    EXPECT_EQ(e.filters[i].op, op) << i;
    EXPECT_EQ(e.filters[i].role, role) << i;
    if (role != ValueRole::kNone) {
      EXPECT_EQ(e.filters[i].value.view(), value) << i;
    }
    EXPECT_EQ(e.filters[i].counts, counts) << i;
  };
  check(0, "tenant_id", FilterOp::kEq, ValueRole::kPoint, "acme", true);
  check(1, "created_at", FilterOp::kRange, ValueRole::kLower, "2026-01-01", true);
  check(2, "created_at", FilterOp::kRange, ValueRole::kUpper, "2026-02-01", true);
  check(3, "status", FilterOp::kIn, ValueRole::kPoint, "open", true);
  check(4, "status", FilterOp::kIn, ValueRole::kPoint, "paid", false);
  check(5, "total", FilterOp::kRange, ValueRole::kLower, "100", true);
  check(6, "note", FilterOp::kOther, ValueRole::kNone, "", true);
}

TEST(EventBuilderTest, BetweenJoinsAndTruncation) {
  Built b("SELECT * FROM orders o JOIN customers c ON o.customer_id = c.id WHERE o.id BETWEEN 5 AND -9");
  ASSERT_EQ(b.e.table_count, 2);
  EXPECT_EQ(b.e.tables[1].view(), "customers");
  ASSERT_EQ(b.e.join_count, 1);
  EXPECT_EQ(b.e.joins[0].left_column.view(), "customer_id");
  EXPECT_EQ(b.e.joins[0].right_column.view(), "id");
  ASSERT_EQ(b.e.filter_count, 2);
  EXPECT_EQ(b.e.filters[0].role, ValueRole::kLower);
  EXPECT_EQ(b.e.filters[1].value.view(), "-9");
  EXPECT_FALSE(b.e.filters[1].counts);

  Built many("SELECT * FROM t WHERE a IN (1,2,3,4,5,6,7,8,9,10)");
  EXPECT_EQ(many.e.filter_count, QueryEvent::kMaxFilters);
  EXPECT_TRUE(many.e.truncated);

  Built long_value("SELECT * FROM t WHERE a = '" + std::string(100, 'x') + "'");
  EXPECT_EQ(long_value.e.filters[0].role, ValueRole::kNone);  // cut values are not keys
}

TEST(EventBuilderTest, LeavesOutTheTenantColumn) {
  catalog::Table orders;
  orders.name = "orders";
  orders.kind = catalog::TableKind::kDistributed;
  orders.tenant_column = "tenant_id";
  Built b("SELECT * FROM orders WHERE tenant_id = 'acme' AND customer_id = 7", {}, &orders);
  ASSERT_EQ(b.e.filter_count, 1);
  EXPECT_EQ(b.e.filters[0].column.view(), "customer_id");
}

TEST(EventBuilderTest, LeavesOutTemporaryTables) {
  // The session's own tables (router::Bound::temp_tables): an empty name, which the pattern
  // store skips, at the same index (filters and joins keep theirs).
  const std::vector<std::string> temp{"stage"};
  Built b("INSERT INTO orders SELECT s.* FROM stage s JOIN pg_temp.stage t ON s.id = t.id WHERE s.id > 5", {}, nullptr,
          &temp);
  ASSERT_EQ(b.e.table_count, 3);
  EXPECT_EQ(b.e.tables[0].view(), "orders");
  EXPECT_EQ(b.e.tables[1].view(), "");
  EXPECT_EQ(b.e.tables[2].view(), "");
  Built without("SELECT * FROM stage", {}, nullptr, nullptr);
  EXPECT_EQ(without.e.tables[0].view(), "stage");
}

TEST(EventBuilderTest, RowsFromCommandTags) {
  EXPECT_EQ(RowsFromTag("SELECT 5"), 5);
  EXPECT_EQ(RowsFromTag("INSERT 0 3"), 3);
  EXPECT_EQ(RowsFromTag(std::string_view("UPDATE 12\0", 10)), 12);
  EXPECT_EQ(RowsFromTag("BEGIN"), 0);
  EXPECT_EQ(RowsFromTag("SELECT x"), 0);
}

TEST(EventBuilderTest, NormalizedTextHidesLiterals) {
  Built b("SELECT *\n  FROM t WHERE a = 'x''y' AND b > 42;");
  EXPECT_EQ(NormalizedText(b.sql, b.lexed.literals), "SELECT * FROM t WHERE a = ? AND b > ?");
}

}  // namespace
}  // namespace mosaic::monitor

// Tests for catalog::DataStatsCache (catalog/data_stats.h): what a tenant's cached statistics
// serve, and when they are collected again, with an injected collector and clock (no nodes).
#include "catalog/data_stats.h"

#include <gtest/gtest.h>

#include "test_tables.h"

namespace mosaic::catalog {
namespace {

using Columns = std::map<std::string, std::vector<std::string>>;

struct DataStatsCacheTest : ::testing::Test {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  std::vector<std::string> collected;  // tenant of each collection
  ShardMap map;
  DataStatsCache cache{std::chrono::seconds(60),
                       [this](const ShardMap&, const std::string& tenant, const std::vector<std::string>& tables,
                              const Columns& columns) -> Result<std::vector<advisor::TableStats>> {
                         collected.push_back(tenant);
                         std::vector<advisor::TableStats> out;
                         for (const auto& t : tables) {
                           advisor::TableStats s{t, 100, 1000, {}};
                           if (columns.contains(t)) {
                             for (const auto& c : columns.at(t)) s.columns.push_back({c, {"a", "b"}});
                           }
                           out.push_back(s);
                         }
                         return out;
                       },
                       [this] { return now; }};

  DataStatsCacheTest() {
    for (int id = 1; id <= 2; ++id) map.nodes.push_back(Node{.id = id});
    map.tables = {testing::MakeTable(1, "orders", TableKind::kDistributed,
                                     {testing::kTenantColumn, {"order_id", "int8", 20}, {"day", "date", 1082}})};
    map.version = 1;
    map.BuildIndex();
  }

  double Age(const std::string& tenant, const Columns& columns = {{"orders", {"order_id"}}}) {
    auto got = cache.Get(map, tenant, {"orders"}, columns);
    EXPECT_TRUE(got.ok()) << got.status().message();
    return got.ok() ? got->second : -1;
  }

  void LayOut(const std::string& tenant, int node) {
    Layout l;
    l.id = static_cast<int64_t>(map.layouts.size()) + 1;
    l.tenant = tenant;
    l.table_ids = {1};
    l.column = "order_id";
    l.ranges = {Range{.node_id = node}};
    l.version = ++map.version;
    map.layouts.push_back(l);
    map.BuildIndex();
  }
};

TEST_F(DataStatsCacheTest, ServesCachedStatisticsUntilTheyAreOlderThanTheMaxAge) {
  EXPECT_EQ(Age("7"), 0);
  now += std::chrono::seconds(30);
  EXPECT_EQ(Age("7"), 30);
  EXPECT_EQ(collected.size(), 1u);
  now += std::chrono::seconds(31);
  EXPECT_EQ(Age("7"), 0);  // 61 s old: read again
  EXPECT_EQ(collected.size(), 2u);
  // A caller's own bound: 0 always reads.
  ASSERT_TRUE(cache.Get(map, "7", {"orders"}, {{"orders", {"order_id"}}}, std::chrono::seconds(0)).ok());
  EXPECT_EQ(collected.size(), 3u);
}

// Every shard-map change (any tenant's migration) used to throw every tenant's statistics away.
TEST_F(DataStatsCacheTest, OnlyTheTenantWhosePlacementChangedIsReadAgain) {
  Age("7");
  Age("8");
  LayOut("8", 2);
  now += std::chrono::seconds(5);
  EXPECT_EQ(Age("7"), 5);  // another tenant moved: still cached
  auto peek = cache.Peek(map, "8", {"orders"}, {{"orders", {"order_id"}}});
  ASSERT_TRUE(peek);
  EXPECT_TRUE(peek->moved);
  EXPECT_TRUE(peek->complete);
  EXPECT_EQ(Age("8"), 0);  // its own rows moved: read again
  EXPECT_EQ(collected, (std::vector<std::string>{"7", "8", "8"}));
  EXPECT_FALSE(cache.Peek(map, "8", {"orders"}, {{"orders", {"order_id"}}})->moved);
}

TEST_F(DataStatsCacheTest, ServesTheColumnsAskedAndReadsAgainForANewOne) {
  Age("7", {{"orders", {"order_id", "day"}}});
  auto peek = cache.Peek(map, "7", {"orders"}, {{"orders", {"day"}}});
  ASSERT_TRUE(peek);
  EXPECT_TRUE(peek->complete);
  ASSERT_EQ(peek->stats.size(), 1u);
  ASSERT_EQ(peek->stats[0].columns.size(), 1u);  // only the column asked
  EXPECT_EQ(peek->stats[0].columns[0].column, "day");
  EXPECT_EQ(Age("7", {{"orders", {"day"}}}), 0);  // cached (no time passed)
  EXPECT_EQ(collected.size(), 1u);
  peek = cache.Peek(map, "7", {"orders"}, {{"orders", {"day", "tenant_id"}}});
  ASSERT_TRUE(peek);
  EXPECT_FALSE(peek->complete);
  EXPECT_EQ(Age("7", {{"orders", {"day", "tenant_id"}}}), 0);
  EXPECT_EQ(collected.size(), 2u);
  EXPECT_FALSE(cache.Peek(map, "9", {"orders"}, {}));  // never read
}

}  // namespace
}  // namespace mosaic::catalog

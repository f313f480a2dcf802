// Unit tests for the layout API's pure half (request validation, placement listings) and the
// `mosaic layout` CLI's request building and table rendering. No server needed.
#include "admin/layout_api.h"

#include <gtest/gtest.h>

#include "test_tables.h"

#include "main/layout_cli.h"

namespace mosaic::admin {
namespace {

using catalog::Column;
using catalog::Layout;
using catalog::Range;
using catalog::ShardMap;
using catalog::Table;
using catalog::TableKind;
using Json = nlohmann::json;

using mosaic::testing::MakeTable;
const Column kTenant = mosaic::testing::kTenantColumn;

// Nodes 1..3; orders, lines (distributed, order_date date), items (order_date timestamp),
// accounts (single-tenant), countries (reference).
std::shared_ptr<ShardMap> TestMap() {
  auto map = std::make_shared<ShardMap>();
  map->version = 5;
  for (int id = 1; id <= 3; ++id) map->nodes.push_back(catalog::Node{.id = id});
  map->tenant_hash_nodes = {1, 2, 3};
  map->tables = {
      MakeTable(1, "orders", TableKind::kDistributed,
                {kTenant, {"id", "int4", 23}, {"order_date", "date", 1082}, {"doc", "jsonb", 3802}}),
      MakeTable(2, "lines", TableKind::kDistributed, {kTenant, {"order_date", "date", 1082}}),
      MakeTable(3, "items", TableKind::kDistributed, {kTenant, {"order_date", "timestamp", 1114}}),
      MakeTable(4, "accounts", TableKind::kSingleTenant, {{"aid", "int4", 23}}),
      MakeTable(5, "countries", TableKind::kReference, {{"code", "text", 25}}),
  };
  map->BuildIndex();
  return map;
}

Json Request(std::string_view text) { return Json::parse(text); }

// The 400 message for `body`, or "<ok>".
std::string Refusal(const Json& body) {
  auto layout = ParseLayoutRequest(body, *TestMap());
  return layout.ok() ? "<ok>" : layout.status().message();
}

TEST(ParseLayoutRequest, TheIssueExample) {
  auto map = TestMap();
  auto layout = ParseLayoutRequest(Request(R"({"table": "orders", "tenant": "042",
      "column": "order_date", "ranges": [{"upper": "2024-01-01", "node": 1},
      {"upper": "2024-07-01", "node": 2}, {"node": 3}]})"), *map);
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  EXPECT_EQ(layout->tenant, "42");  // canonical for an int8 tenant column
  EXPECT_EQ(layout->table_ids, std::vector<int64_t>{1});
  EXPECT_EQ(layout->column, "order_date");
  EXPECT_EQ(layout->column_type, "date");
  EXPECT_EQ(layout->key_type, router::KeyType::kDate);
  ASSERT_EQ(layout->ranges.size(), 3u);
  EXPECT_EQ(layout->ranges[0].lower, std::nullopt);
  EXPECT_EQ(layout->ranges[0].upper, "2024-01-01");
  EXPECT_EQ(layout->ranges[1].lower, "2024-01-01");
  EXPECT_EQ(layout->ranges[1].lower_key, layout->ranges[0].upper_key);
  EXPECT_EQ(layout->ranges[1].upper_key,
            router::EncodeKey(router::KeyType::kDate, "2024-07-01").value());
  EXPECT_EQ(layout->ranges[2].upper, std::nullopt);
  EXPECT_EQ(layout->ranges[2].node_id, 3);
  EXPECT_EQ(layout->RangeFor(router::EncodeKey(router::KeyType::kDate, "2024-03-01").value()).node_id, 2);
}

TEST(ParseLayoutRequest, TableGroupAndNumericTenant) {
  auto layout = ParseLayoutRequest(Request(R"({"tables": ["orders", "public.lines"], "tenant": 7,
      "column": "order_date", "ranges": [{"node": 2}]})"), *TestMap());
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  EXPECT_EQ(layout->table_ids, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(layout->tenant, "7");
  ASSERT_EQ(layout->ranges.size(), 1u);
}

TEST(ParseLayoutRequest, SingleTenantTableTakesNullTenant) {
  auto layout = ParseLayoutRequest(Request(R"({"table": "accounts", "tenant": null,
      "column": "aid", "ranges": [{"upper": 100, "node": 1}, {"node": 2}]})"), *TestMap());
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  EXPECT_EQ(layout->tenant, "");
  EXPECT_EQ(layout->ranges[0].upper, "100");
  EXPECT_EQ(layout->key_type, router::KeyType::kInt);
}

TEST(ParseLayoutRequest, RefusesBadTables) {
  EXPECT_EQ(Refusal(Request(R"({"table": "nope", "tenant": "1", "column": "c", "ranges": [{"node": 1}]})")),
            "table: relation \"nope\" does not exist");
  auto unknown = ParseLayoutRequest(Request(R"({"table": "nope"})"), *TestMap());
  EXPECT_EQ(unknown.status().sqlstate(), "42P01");
  EXPECT_EQ(Refusal(Request(R"({"table": "orders", "tables": ["lines"]})")),
            "table: give either \"table\" or \"tables\"");
  EXPECT_EQ(Refusal(Request(R"({"tenant": "1"})")), "table: give either \"table\" or \"tables\"");
  EXPECT_EQ(Refusal(Request(R"({"tables": []})")), "tables: must be a non-empty array");
  EXPECT_EQ(Refusal(Request(R"({"tables": ["orders", "ORDERS"]})")),
            "tables[1]: \"public.orders\" is listed twice");
  EXPECT_NE(Refusal(Request(R"({"table": "countries", "column": "code", "ranges": [{"node": 1}]})"))
                .find("countries\" is a reference table"),
            std::string::npos);
  EXPECT_EQ(Refusal(Request(R"({"table": "orders", "colunm": "x"})")), "unknown field \"colunm\"");
  EXPECT_EQ(Refusal(Request("[1]")), "the request must be a JSON object");
}

TEST(ParseLayoutRequest, RefusesTenantsThatDoNotFitTheTables) {
  EXPECT_EQ(Refusal(Request(R"({"table": "accounts", "tenant": "1", "column": "aid", "ranges": [{"node": 1}]})")),
            "tenant: \"public.accounts\" is single-tenant; tenant must be null");
  EXPECT_EQ(Refusal(Request(R"({"table": "orders", "column": "id", "ranges": [{"node": 1}]})")),
            "tenant: \"public.orders\" is distributed (tenant column \"tenant_id\"); give the "
            "tenant to lay out");
  EXPECT_EQ(Refusal(Request(R"({"tables": ["orders", "accounts"], "tenant": "1", "column": "id",
      "ranges": [{"node": 1}]})")), "tenant: \"public.accounts\" is single-tenant; tenant must be null");
  EXPECT_EQ(Refusal(Request(R"({"table": "orders", "tenant": [1], "column": "id", "ranges": [{"node": 1}]})")),
            "tenant: must be a string, a number or null");
  EXPECT_EQ(Refusal(Request(R"({"table": "orders", "tenant": "x1", "column": "id", "ranges": [{"node": 1}]})"))
                .rfind("tenant: ", 0),
            0u);
}

TEST(ParseLayoutRequest, RefusesBadColumns) {
  EXPECT_EQ(Refusal(Request(R"({"table": "orders", "tenant": "1", "ranges": [{"node": 1}]})")),
            "column: required, a column name");
  EXPECT_EQ(Refusal(Request(R"({"tables": ["orders", "lines"], "tenant": "1", "column": "id",
      "ranges": [{"node": 1}]})")), "column: \"id\" is not a column of \"public.lines\"");
  EXPECT_NE(Refusal(Request(R"({"table": "orders", "tenant": "1", "column": "doc", "ranges": [{"node": 1}]})"))
                .find("has type jsonb, which cannot be a range column"),
            std::string::npos);
  EXPECT_EQ(Refusal(Request(R"({"tables": ["orders", "items"], "tenant": "1", "column": "order_date",
      "ranges": [{"node": 1}]})")),
            "column: \"order_date\" is date in \"public.orders\" but timestamp in \"public.items\"; a "
            "table group's range columns must have one type");
}

std::string RangesRefusal(std::string_view ranges) {
  return Refusal(Json{{"table", "orders"}, {"tenant", "1"}, {"column", "order_date"},
                      {"ranges", Json::parse(ranges)}});
}

TEST(ParseLayoutRequest, RefusesBadRanges) {
  EXPECT_EQ(RangesRefusal("[]"), "ranges: required, a non-empty array");
  EXPECT_EQ(RangesRefusal(R"([{"upper": "2024-01-01", "node": 1}])"),
            "ranges[0].upper: the last range must have no upper bound");
  EXPECT_EQ(RangesRefusal(R"([{"node": 1}, {"node": 2}])"),
            "ranges[0].upper: only the last range may be unbounded");
  EXPECT_EQ(RangesRefusal(R"([{"upper": "2024-01-01", "node": 9}, {"node": 2}])"),
            "ranges[0].node: there is no node 9");
  // Node 1 plus 2^32: not node 1 (a node id is not read modulo 2^32).
  EXPECT_EQ(RangesRefusal(R"([{"upper": "2024-01-01", "node": 4294967297}, {"node": 2}])"),
            "ranges[0].node: there is no node 4294967297");
  EXPECT_EQ(RangesRefusal(R"([{"upper": "2024-01-01", "node": -1}, {"node": 2}])"),
            "ranges[0].node: there is no node -1");
  EXPECT_EQ(RangesRefusal(R"([{"upper": "2024-01-01"}, {"node": 2}])"),
            "ranges[0].node: required, a node id");
  EXPECT_EQ(RangesRefusal(R"([{"upper": "2024-07-01", "node": 1}, {"upper": "2024-01-01", "node": 2}, {"node": 3}])"),
            "ranges[1].upper: \"2024-01-01\" is not above the previous boundary \"2024-07-01\"; "
            "ranges must be strictly ascending");
  // Equal as dates though written differently: not strictly ascending.
  EXPECT_NE(RangesRefusal(R"([{"upper": "2024-01-01", "node": 1}, {"upper": "2024-01-01 00:00", "node": 2}, {"node": 3}])")
                .find("strictly ascending"),
            std::string::npos);
  EXPECT_EQ(RangesRefusal(R"([{"upper": "2024-01-01", "node": 1, "lower": "x"}, {"node": 3}])"),
            "ranges[0]: unknown field \"lower\"");
  auto bad = ParseLayoutRequest(Json{{"table", "orders"}, {"tenant", "1"}, {"column", "order_date"},
                                     {"ranges", Json::parse(R"([{"upper": "soon", "node": 1}, {"node": 2}])")}},
                                *TestMap());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("ranges[0].upper: ", 0), 0u) << bad.status().message();
  EXPECT_TRUE(bad.status().sqlstate() == "22P02" || bad.status().sqlstate() == "22007" ||
              bad.status().sqlstate() == "22008")
      << bad.status().ToString();
}

// A map with tenant 42's orders+lines laid out on order_date.
std::shared_ptr<ShardMap> MapWithLayout() {
  auto map = TestMap();
  auto layout = ParseLayoutRequest(Request(R"({"tables": ["orders", "lines"], "tenant": "42",
      "column": "order_date", "ranges": [{"upper": "2024-01-01", "node": 1}, {"node": 3}]})"), *map);
  EXPECT_TRUE(layout.ok());
  layout->id = 1;
  layout->version = 5;
  for (Range& r : layout->ranges) r.version = 5;
  map->layouts.push_back(std::move(layout).value());
  map->BuildIndex();
  return map;
}

Json Placements(const ShardMap& map, std::optional<std::string> table,
                std::optional<std::string> tenant) {
  auto json = PlacementsJson(map, PlacementFilter{std::move(table), std::move(tenant)});
  EXPECT_TRUE(json.ok()) << json.status().ToString();
  return json.ok() ? *json : Json();
}

TEST(PlacementsJson, WithoutFiltersListsLayoutsAndImplicitPlacements) {
  auto map = MapWithLayout();
  Json all = Placements(*map, std::nullopt, std::nullopt);
  EXPECT_EQ(all["shard_map_version"], 5);
  const Json& p = all["placements"];
  ASSERT_EQ(p.size(), 6u) << all.dump(2);  // the layout, 3 hashed tables, accounts, countries
  EXPECT_EQ(p[0]["kind"], "layout");
  EXPECT_EQ(p[0]["tables"], Json({"public.orders", "public.lines"}));
  EXPECT_EQ(p[0]["tenant"], "42");
  EXPECT_EQ(p[0]["column"], "order_date");
  EXPECT_EQ(p[0]["ranges"][0], Json({{"lower", nullptr}, {"upper", "2024-01-01"}, {"node", 1}, {"version", 5}}));
  EXPECT_EQ(p[0]["ranges"][1]["lower"], "2024-01-01");
  EXPECT_EQ(p[0]["ranges"][1]["node"], 3);
  EXPECT_EQ(p[1]["kind"], "hash");
  EXPECT_EQ(p[1]["nodes"], Json({1, 2, 3}));
  EXPECT_EQ(p[4]["kind"], "home");
  EXPECT_EQ(p[4]["tables"], Json({"public.accounts"}));
  EXPECT_EQ(p[4]["tenant"], nullptr);
  EXPECT_EQ(p[4]["ranges"][0]["node"], 1);  // the default node
  EXPECT_EQ(p[5]["kind"], "reference");
  EXPECT_EQ(p[5]["nodes"], Json({1, 2, 3}));
}

TEST(PlacementsJson, TenantFilterShowsItsLayoutsAndHomeNode) {
  auto map = MapWithLayout();
  Json mine = Placements(*map, "orders", "042");
  ASSERT_EQ(mine["placements"].size(), 1u) << mine.dump(2);
  EXPECT_EQ(mine["placements"][0]["kind"], "layout");

  Json other = Placements(*map, "orders", "7");
  ASSERT_EQ(other["placements"].size(), 1u) << other.dump(2);
  EXPECT_EQ(other["placements"][0]["kind"], "home");
  EXPECT_EQ(other["placements"][0]["tenant"], "7");
  EXPECT_EQ(other["placements"][0]["ranges"][0]["node"], map->TenantHomeNode("7"));

  Json accounts = Placements(*map, "accounts", "7");  // single-tenant tables ignore the tenant
  ASSERT_EQ(accounts["placements"].size(), 1u);
  EXPECT_EQ(accounts["placements"][0]["kind"], "home");

  auto unknown = PlacementsJson(*map, PlacementFilter{"nope", std::nullopt});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(), "table: relation \"nope\" does not exist");
}

TEST(TablesJson, ListsKindsTenantColumnsAndColumns) {
  Json tables = TablesJson(*MapWithLayout());
  ASSERT_EQ(tables["tables"].size(), 5u);
  const Json& orders = tables["tables"][0];
  EXPECT_EQ(orders["name"], "orders");
  EXPECT_EQ(orders["kind"], "distributed");
  EXPECT_EQ(orders["tenant_column"], "tenant_id");
  EXPECT_EQ(orders["columns"][2], Json({{"name", "order_date"}, {"type", "date"}, {"oid", 1082}}));
  EXPECT_EQ(orders["layouts"], 1);
  EXPECT_EQ(tables["tables"][3]["kind"], "single");
  EXPECT_EQ(tables["tables"][3]["tenant_column"], nullptr);
}

TEST(LayoutCli, BuildsTheRequestBody) {
  LayoutSetArgs args;
  args.tables = {"orders"};
  args.tenant = "42";
  args.column = "created";
  args.ranges = {"2024-01-01 10:00:00:1", "2024-07-01:2", ":3"};
  auto body = LayoutRequestBody(args);
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_EQ(*body, Json::parse(R"({"table": "orders", "tenant": "42", "column": "created",
      "ranges": [{"upper": "2024-01-01 10:00:00", "node": 1}, {"upper": "2024-07-01", "node": 2},
                 {"node": 3}]})"));
  args.tables = {"a", "b"};
  args.tenant.reset();
  args.ranges = {":1"};
  body = LayoutRequestBody(args);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ((*body)["tables"], Json({"a", "b"}));
  EXPECT_EQ((*body)["tenant"], nullptr);
  args.ranges = {"2024-01-01"};
  EXPECT_FALSE(LayoutRequestBody(args).ok());
  args.ranges = {"x:"};
  EXPECT_FALSE(LayoutRequestBody(args).ok());
}

TEST(LayoutCli, FormatsPlacementsAsATable) {
  auto json = PlacementsJson(*MapWithLayout(), PlacementFilter{"orders", "42"});
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(FormatPlacements(*json),
            "shard map version 5\n"
            "TABLES                      TENANT  KIND    COLUMN      RANGE                    NODE  VERSION\n"
            "public.orders,public.lines  42      layout  order_date  (-infinity, 2024-01-01)  1     5\n"
            "public.orders,public.lines  42      layout  order_date  [2024-01-01, +infinity)  3     5\n");
}

}  // namespace
}  // namespace mosaic::admin

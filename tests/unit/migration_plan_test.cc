// Unit tests for migration/migration.h: names, PlanAction (the ranges an action replaces, the
// flows' filters, the layout after the cutover, refusals), PlanJson and progress JSON.
#include "migration/migration.h"

#include <gtest/gtest.h>

#include "test_tables.h"

namespace mosaic::migration {
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

std::string DateKey(const std::string& text) { return router::EncodeKey(router::KeyType::kDate, text).value(); }

// A layout of orders and lines by order_date for `tenant`: boundaries `uppers`, one node each.
Layout DateLayout(int64_t id, std::string tenant, const std::vector<std::string>& uppers, const std::vector<int>& nodes) {
  Layout l;
  l.id = id;
  l.tenant = std::move(tenant);
  l.table_ids = {1, 2};
  l.column = "order_date";
  l.column_type = "date";
  l.key_type = router::KeyType::kDate;
  for (size_t i = 0; i < nodes.size(); ++i) {
    Range r;
    if (i > 0) r.lower = uppers[i - 1], r.lower_key = DateKey(uppers[i - 1]);
    if (i < uppers.size()) r.upper = uppers[i], r.upper_key = DateKey(uppers[i]);
    r.node_id = nodes[i];
    r.version = 3;
    l.ranges.push_back(r);
  }
  return l;
}

// Nodes 1..3; orders and lines (distributed, a group for tenants 7 and 9), accounts
// (single-tenant). Tenant 7: one range on node 1; tenant 9: three ranges on nodes 1, 2, 3.
std::shared_ptr<ShardMap> TestMap() {
  auto map = std::make_shared<ShardMap>();
  map->version = 5;
  for (int id = 1; id <= 3; ++id) map->nodes.push_back(catalog::Node{.id = id});
  map->tenant_hash_nodes = {1, 2, 3};
  map->tables = {
      MakeTable(1, "orders", TableKind::kDistributed,
                {kTenant, {"id", "int4", 23}, {"order_date", "date", 1082}, {"created_at", "timestamptz", 1184}}),
      MakeTable(2, "lines", TableKind::kDistributed, {kTenant, {"id", "int4", 23}, {"order_date", "date", 1082}}),
      MakeTable(3, "accounts", TableKind::kSingleTenant, {{"aid", "int4", 23}, {"name", "text", 25}}),
  };
  map->layouts = {DateLayout(11, "7", {}, {1}),
                  DateLayout(12, "9", {"2024-01-01", "2024-07-01"}, {1, 2, 3})};
  map->BuildIndex();
  return map;
}

Result<Plan> PlanOf(std::string_view action) { return PlanAction(Json::parse(action), *TestMap()); }

std::string Refusal(std::string_view action) {
  auto plan = PlanOf(action);
  if (plan.ok()) return "<ok>";
  EXPECT_EQ(plan.status().sqlstate(), "22023") << plan.status().message();
  return plan.status().message();
}

std::vector<std::pair<std::optional<std::string>, int>> Uppers(const Layout& l) {
  std::vector<std::pair<std::optional<std::string>, int>> out;
  for (const Range& r : l.ranges) out.emplace_back(r.upper, r.node_id);
  return out;
}

constexpr std::string_view kTenant7 = R"("tenant_id" = '7'::int8)";
constexpr std::string_view kTenant9 = R"("tenant_id" = '9'::int8)";

TEST(MigrationNames, PhasesAndKindsRoundTrip) {
  for (Phase p : {Phase::kQueued, Phase::kShadowReads, Phase::kIncrementalWrites, Phase::kCutover,
                  Phase::kDeprecated, Phase::kDone, Phase::kRollingBack, Phase::kRolledBack, Phase::kFailed}) {
    EXPECT_EQ(PhaseFromName(PhaseName(p)), p);
  }
  EXPECT_EQ(PhaseName(Phase::kIncrementalWrites), "incremental_writes");
  EXPECT_EQ(PhaseFromName("nope"), std::nullopt);
  EXPECT_TRUE(IsTerminal(Phase::kDone) && IsTerminal(Phase::kRolledBack) && IsTerminal(Phase::kFailed));
  EXPECT_FALSE(IsTerminal(Phase::kDeprecated) || IsTerminal(Phase::kRollingBack) || IsTerminal(Phase::kQueued));
  for (ActionKind k : {ActionKind::kSplit, ActionKind::kMove, ActionKind::kMerge}) {
    EXPECT_EQ(ActionKindFromName(ActionKindName(k)), k);
  }
  EXPECT_EQ(ActionKindFromName("Split"), std::nullopt);
}

TEST(PlanAction, SplitOneRangeIntoThreeOnThreeNodes) {
  auto plan = PlanOf(R"({"action": "split", "tenant": "07", "tables": ["orders", "lines"], "column": "order_date",
      "ranges": [{"lower": null, "upper": "2024-01-01", "node": 1},
                 {"lower": "2024-01-01", "upper": "2024-07-01", "node": 2},
                 {"lower": "2024-07-01", "upper": null, "node": 3}],
      "from": [{"lower": null, "upper": null, "node": 1}], "reason": "hot", "predicted": {}})");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->kind, ActionKind::kSplit);
  EXPECT_EQ(plan->tenant, "7");
  EXPECT_EQ(plan->tables, (std::vector<std::string>{"public.orders", "public.lines"}));
  EXPECT_EQ(plan->table_ids, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(plan->column_type, "date");
  EXPECT_EQ(plan->layout_id, 11);
  EXPECT_EQ(plan->from, (std::vector<RangeSpec>{{std::nullopt, std::nullopt, 1}}));
  ASSERT_EQ(plan->to.size(), 3u);
  EXPECT_EQ(plan->to[1], (RangeSpec{"2024-01-01", "2024-07-01", 2}));
  EXPECT_EQ(plan->flows,
            (std::vector<Flow>{
                {1, 2, std::string(kTenant7) + R"( AND ("order_date" >= '2024-01-01'::date AND "order_date" < '2024-07-01'::date))"},
                {1, 3, std::string(kTenant7) + R"( AND ("order_date" >= '2024-07-01'::date OR "order_date" IS NULL))"}}));
  EXPECT_EQ(plan->Nodes(), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(plan->new_layout.tenant, "7");
  EXPECT_EQ(plan->new_layout.column, "order_date");
  EXPECT_EQ(plan->new_layout.key_type, router::KeyType::kDate);
  EXPECT_EQ(Uppers(plan->new_layout),
            (std::vector<std::pair<std::optional<std::string>, int>>{{"2024-01-01", 1}, {"2024-07-01", 2}, {std::nullopt, 3}}));
  EXPECT_EQ(plan->new_layout.ranges[2].lower_key, DateKey("2024-07-01"));
}

TEST(PlanAction, MoveOneRangeKeepsTheOthers) {
  auto plan = PlanOf(R"({"action": "move", "tenant": 9, "tables": ["lines", "orders"], "column": "order_date",
      "ranges": [{"lower": "2024-01-01", "upper": "2024-07-01", "node": 1}]})");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->table_ids, (std::vector<int64_t>{1, 2}));  // the layout's order
  EXPECT_EQ(plan->layout_id, 12);
  EXPECT_EQ(plan->from, (std::vector<RangeSpec>{{"2024-01-01", "2024-07-01", 2}}));
  const std::string mid = R"(("order_date" >= '2024-01-01'::date AND "order_date" < '2024-07-01'::date))";
  EXPECT_EQ(plan->flows, (std::vector<Flow>{{2, 1, std::string(kTenant9) + " AND " + mid + " AND " + mid}}));
  EXPECT_EQ(plan->Nodes(), (std::vector<int>{1, 2}));
  EXPECT_EQ(Uppers(plan->new_layout),
            (std::vector<std::pair<std::optional<std::string>, int>>{{"2024-01-01", 1}, {"2024-07-01", 1}, {std::nullopt, 3}}));
  EXPECT_EQ(plan->new_layout.ranges[0].version, 3);  // untouched ranges are kept as they are
}

TEST(PlanAction, MergeThreeRangesOnThreeNodesIntoOne) {
  auto plan = PlanOf(R"({"action": "merge", "tenant": "9", "tables": ["orders", "lines"], "column": "order_date",
      "ranges": [{"lower": null, "upper": null, "node": 2}]})");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->from.size(), 3u);
  EXPECT_EQ(plan->flows,
            (std::vector<Flow>{{1, 2, std::string(kTenant9) + R"( AND "order_date" < '2024-01-01'::date)"},
                               {3, 2, std::string(kTenant9) + R"( AND ("order_date" >= '2024-07-01'::date OR "order_date" IS NULL))"}}));
  EXPECT_EQ(Uppers(plan->new_layout), (std::vector<std::pair<std::optional<std::string>, int>>{{std::nullopt, 2}}));
}

TEST(PlanAction, SplitOfAMiddleRangeOnlyMovesWhatOverlaps) {
  auto plan = PlanOf(R"({"action": "split", "tenant": "9", "tables": ["orders", "lines"], "column": "order_date",
      "ranges": [{"lower": "2024-01-01", "upper": "2024-04-01", "node": 2},
                 {"lower": "2024-04-01", "upper": "2024-07-01", "node": 3}]})");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->flows,
            (std::vector<Flow>{{2, 3, std::string(kTenant9) +
                                          R"( AND ("order_date" >= '2024-01-01'::date AND "order_date" < '2024-07-01'::date))"
                                          R"( AND ("order_date" >= '2024-04-01'::date AND "order_date" < '2024-07-01'::date))"}}));
  EXPECT_EQ(Uppers(plan->new_layout), (std::vector<std::pair<std::optional<std::string>, int>>{
                                          {"2024-01-01", 1}, {"2024-04-01", 2}, {"2024-07-01", 3}, {std::nullopt, 3}}));
}

TEST(PlanAction, NewLayoutForATenantWithoutOne) {
  auto map = TestMap();
  const int home = map->TenantHomeNode("42");
  const int other = home == 1 ? 2 : 1;
  Json action = {{"action", "split"}, {"tenant", "42"}, {"tables", {"orders"}}, {"column", "created_at"},
                 {"ranges", {{{"upper", "2024-01-01 05:00+05"}, {"node", home}},
                             {{"lower", "2024-01-01T00:00:00Z"}, {"node", other}}}}};
  auto plan = PlanAction(action, *map);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->layout_id, 0);
  EXPECT_EQ(plan->from, (std::vector<RangeSpec>{{std::nullopt, std::nullopt, home}}));
  // Boundaries are written as the router reads them: timestamptz in UTC.
  EXPECT_EQ(plan->flows,
            (std::vector<Flow>{{home, other,
                                R"("tenant_id" = '42'::int8 AND ("created_at" >= '2024-01-01 00:00:00+00'::timestamptz OR "created_at" IS NULL))"}}));
  EXPECT_EQ(plan->new_layout.table_ids, (std::vector<int64_t>{1}));
  EXPECT_EQ(plan->new_layout.ranges.size(), 2u);
}

TEST(PlanAction, SingleTenantTablesUseTheDefaultNodeAndCollateC) {
  auto plan = PlanOf(R"({"action": "split", "tenant": null, "tables": ["accounts"], "column": "name",
      "ranges": [{"upper": "o'k", "node": 1}, {"lower": "o'k", "node": 3}]})");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->tenant, "");
  EXPECT_EQ(plan->flows,
            (std::vector<Flow>{{1, 3, R"(("name" >= 'o''k'::text COLLATE "C" OR "name" IS NULL))"}}));
}

TEST(PlanAction, ColumnChangeReplacesTheWholeLayout) {
  auto plan = PlanOf(R"({"action": "split", "tenant": "9", "tables": ["orders", "lines"], "column": "id",
      "ranges": [{"upper": 100, "node": 1}, {"lower": 100, "node": 2}]})");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->from.size(), 3u);
  EXPECT_EQ(plan->column, "id");
  EXPECT_EQ(plan->column_type, "int4");
  const std::string t = std::string(kTenant9) + " AND ";
  const std::string old1 = R"("order_date" < '2024-01-01'::date)";
  const std::string old2 = R"(("order_date" >= '2024-01-01'::date AND "order_date" < '2024-07-01'::date))";
  const std::string old3 = R"(("order_date" >= '2024-07-01'::date OR "order_date" IS NULL))";
  const std::string new1 = R"("id" < '100'::int4)", new2 = R"(("id" >= '100'::int4 OR "id" IS NULL))";
  EXPECT_EQ(plan->flows, (std::vector<Flow>{{1, 2, t + old1 + " AND " + new2},
                                            {2, 1, t + old2 + " AND " + new1},
                                            {3, 1, t + old3 + " AND " + new1},
                                            {3, 2, t + old3 + " AND " + new2}}));
  EXPECT_EQ(plan->new_layout.column, "id");
  EXPECT_EQ(Uppers(plan->new_layout),
            (std::vector<std::pair<std::optional<std::string>, int>>{{"100", 1}, {std::nullopt, 2}}));
}

// "Move this tenant": one unbounded range on another node needs no column (the advisor's move of a
// group without a valid range column was refused with "column: required" every round).
TEST(PlanAction, WholeGroupMoveWithoutAColumnTakesTheTenantColumnOrTheCurrentLayouts) {
  auto map = TestMap();
  const int home = map->TenantHomeNode("42");
  const int other = home == 1 ? 2 : 1;
  for (const char* column : {"", "null"}) {
    Json action = {{"action", "move"}, {"tenant", 42}, {"tables", {"orders", "lines"}}, {"ranges", {{{"node", other}}}}};
    if (std::string(column) == "") action["column"] = "";
    auto plan = PlanAction(action, *map);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    EXPECT_EQ(plan->column, "tenant_id");
    EXPECT_EQ(plan->new_layout.column, "tenant_id");
    EXPECT_EQ(plan->new_layout.column_type, "int8");
    EXPECT_EQ(plan->from, (std::vector<RangeSpec>{{std::nullopt, std::nullopt, home}}));
    EXPECT_EQ(plan->to, (std::vector<RangeSpec>{{std::nullopt, std::nullopt, other}}));
    EXPECT_EQ(plan->flows, (std::vector<Flow>{{home, other, R"("tenant_id" = '42'::int8)"}}));
  }
  // With a layout, its column stays: tenant 9's three ranges become one on node 2.
  auto plan = PlanOf(R"({"action": "merge", "tenant": "9", "tables": ["orders", "lines"], "ranges": [{"node": 2}]})");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->new_layout.column, "order_date");
  EXPECT_EQ(plan->from.size(), 3u);
  EXPECT_EQ(Uppers(plan->new_layout), (std::vector<std::pair<std::optional<std::string>, int>>{{std::nullopt, 2}}));
  // A single-tenant table without a layout has no tenant column to default to; ranges with a bound
  // need their column.
  EXPECT_EQ(Refusal(R"({"action": "move", "tenant": null, "tables": ["accounts"], "ranges": [{"node": 2}]})"),
            "column: required, a column name");
  EXPECT_EQ(Refusal(R"({"action": "split", "tenant": "42", "tables": ["orders"],
                       "ranges": [{"upper": 5, "node": 1}, {"lower": 5, "node": 2}]})"),
            "column: required, a column name");
}

TEST(PlanAction, PlanJsonReadsBackToTheSamePlan) {
  auto plan = PlanOf(R"({"action": "move", "tenant": "9", "tables": ["orders", "lines"], "column": "order_date",
      "ranges": [{"lower": "2024-07-01", "upper": null, "node": 2}]})");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const Json json = PlanJson(*plan);
  EXPECT_EQ(json, Json::parse(R"({"action": "move", "tenant": "9", "tables": ["public.orders", "public.lines"],
      "column": "order_date", "from": [{"lower": "2024-07-01", "upper": null, "node": 3}],
      "ranges": [{"lower": "2024-07-01", "upper": null, "node": 2}]})"));
  auto again = PlanAction(json, *TestMap());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->flows, plan->flows);
  EXPECT_EQ(again->from, plan->from);
  EXPECT_EQ(again->to, plan->to);
}

TEST(PlanAction, Refusals) {
  constexpr std::string_view kGroup = R"("tenant": "9", "tables": ["orders", "lines"], "column": "order_date")";
  auto action = [&](std::string_view kind, std::string_view ranges) {
    return "{\"action\": \"" + std::string(kind) + "\", " + std::string(kGroup) + ", \"ranges\": " + std::string(ranges) + "}";
  };
  EXPECT_EQ(Refusal(action("splut", R"([{"node": 1}])")), "action: unknown kind \"splut\" (split, move or merge)");
  EXPECT_EQ(Refusal(R"({"tenant": "9"})"), "action: required, \"split\", \"move\" or \"merge\"");
  EXPECT_EQ(Refusal(R"({"action": "move", "tenant": "9", "tables": ["orders", "lines"], "column": "order_date", "nodes": 1})"),
            "unknown field \"nodes\"");
  EXPECT_EQ(Refusal(R"({"action": "move", "tenant": "9", "column": "order_date"})"),
            "tables: required, a non-empty array of table names");
  EXPECT_EQ(Refusal(action("move", R"([{"lower": "2024-01-01", "upper": "2024-07-01", "node": 9}])")),
            "ranges[0].node: there is no node 9");
  EXPECT_EQ(Refusal(action("move", R"([{"lower": "2024-01-01", "upper": "2024-07-01", "node": 4294967298}])")),
            "ranges[0].node: there is no node 4294967298");
  EXPECT_EQ(Refusal(action("move", "[]")), "ranges: required, a non-empty array of the new ranges");
  EXPECT_EQ(Refusal(action("split", R"([{"lower": "2024-01-01", "upper": "2024-03-01", "node": 1},
                                        {"lower": "2024-04-01", "upper": "2024-07-01", "node": 2}])")),
            "ranges[1].lower: must be the previous range's upper bound \"2024-03-01\"; ranges must be contiguous");
  EXPECT_EQ(Refusal(action("split", R"([{"lower": "2024-01-01", "upper": "2023-03-01", "node": 1}])")),
            "ranges[0].upper: \"2023-03-01\" is not above the lower bound \"2024-01-01\"; ranges must be strictly ascending");
  EXPECT_EQ(Refusal(action("split", R"([{"lower": "2024-01-01", "node": 1}, {"lower": null, "node": 2}])")),
            "ranges[0].upper: only the last range may be unbounded");
  EXPECT_EQ(Refusal(action("move", R"([{"lower": "2024-02-01", "upper": "2024-07-01", "node": 1}])")),
            "ranges[0].lower: \"2024-02-01\" is not a boundary of the current layout (null, \"2024-01-01\", \"2024-07-01\", null)");
  EXPECT_EQ(Refusal(action("move", R"([{"lower": "2024-01-01", "upper": "2024-08-01", "node": 1}])")),
            "ranges[0].upper: \"2024-08-01\" is not a boundary of the current layout (null, \"2024-01-01\", \"2024-07-01\", null)");
  EXPECT_EQ(Refusal(action("move", R"([{"lower": "2024-01-01", "upper": "2024-07-01", "node": 2}])")),
            "ranges: the action changes nothing");
  EXPECT_EQ(Refusal(R"({"action": "move", "tenant": "9", "tables": ["orders"], "column": "order_date",
                       "ranges": [{"node": 1}]})"),
            "tables: the tenant's table group is [public.orders, public.lines]; a migration moves the whole group");
  EXPECT_EQ(Refusal(R"({"action": "move", "tenant": "42", "tables": ["orders"], "column": "order_date",
                       "ranges": [{"upper": "2024-01-01", "node": 1}]})"),
            "ranges[0].upper: must be null: the tenant has no layout of these tables yet (it lives whole on its "
            "home node), so the new ranges cover every value");
  EXPECT_EQ(Refusal(R"({"action": "split", "tenant": "9", "tables": ["orders", "lines"], "column": "id",
                       "ranges": [{"lower": 5, "node": 1}]})"),
            "ranges[0].lower: must be null: the range column changes from \"order_date\", so the new ranges cover every value");
  EXPECT_EQ(Refusal(R"({"action": "move", "tenant": "9", "tables": ["orders", "lines"], "column": "nope", "ranges": [{"node": 1}]})"),
            "column: \"nope\" is not a column of \"public.orders\"");
  auto bad_date = PlanOf(action("move", R"([{"lower": "2024-13-01", "node": 1}])"));
  ASSERT_FALSE(bad_date.ok());
  EXPECT_EQ(bad_date.status().message().rfind("ranges[0].lower: ", 0), 0u) << bad_date.status().message();
  EXPECT_NE(bad_date.status().sqlstate(), "22023");
}

TEST(ProgressJson, RoundTripsAndReadsLeniently) {
  Progress p{.rows_copied = 10, .rows_estimated = 100, .bytes_copied = 4096, .rows_per_s = 2.5, .eta_s = 36,
             .shadow_reads = 7, .shadow_mismatches = 1, .checksum_chunks = 3, .checksum_mismatches = 0,
             .cutover_pause_ms = 12.5, .cutover_steps_ms = {{"drain", 1.5}, {"catalog", 4}},
             .cutover_abandoned_ms = {31.5, 22}, .cutover_attempts = 2,
             .cutover_blocked_by = "transactions on the rows still open: node 2: pid 7"};
  EXPECT_EQ(ProgressFromJson(ProgressJson(p)), p);
  EXPECT_EQ(ProgressJson(p)["cutover_abandoned_ms"], Json::parse("[31.5, 22.0]"));
  EXPECT_EQ(ProgressJson(p)["bytes_copied"], 4096);
  EXPECT_EQ(ProgressJson(p)["cutover_steps_ms"]["catalog"], 4.0);
  EXPECT_EQ(ProgressFromJson(Json::parse(R"({"rows_copied": 5, "eta_s": "soon"})")), Progress{.rows_copied = 5});
  const Progress steps_only{.cutover_steps_ms = {{"drain", 2}}};
  EXPECT_EQ(ProgressFromJson(Json::parse(R"({"cutover_steps_ms": {"drain": 2, "apply": "slow"}})")), steps_only);
  const Progress abandoned_only{.cutover_abandoned_ms = {25}};
  EXPECT_EQ(ProgressFromJson(Json::parse(R"({"cutover_abandoned_ms": [25, "long"]})")), abandoned_only);
  EXPECT_EQ(ProgressFromJson(Json::parse(R"({"cutover_abandoned_ms": 25})")), Progress{});
  EXPECT_EQ(ProgressFromJson(Json::parse(R"({"cutover_blocked_by": 25})")), Progress{});
  EXPECT_EQ(ProgressFromJson(Json()), Progress{});
}

TEST(OnServer, ComparesHostAndPortOfTheDsn) {
  EXPECT_TRUE(OnServer("host=127.0.0.1 port=6433 user=mosaic dbname=mosaic_catalog", "127.0.0.1", 6433));
  EXPECT_FALSE(OnServer("host=127.0.0.1 port=6433 dbname=mosaic_catalog", "127.0.0.1", 6434));
  EXPECT_FALSE(OnServer("host=10.0.0.5 port=6433", "10.0.0.6", 6433));
  EXPECT_TRUE(OnServer("postgresql://mosaic@localhost:6433/mosaic_catalog", "127.0.0.1", 6433));
  EXPECT_TRUE(OnServer("host=db1", "db1", 5432));  // libpq's default port
  EXPECT_TRUE(OnServer("dbname=mosaic_catalog", "127.0.0.1", 6433));   // a Unix socket: maybe the same
  EXPECT_TRUE(OnServer("host=/run/postgresql port=6433", "127.0.0.1", 6433));
  EXPECT_TRUE(OnServer("host='unterminated", "127.0.0.1", 6433));     // does not parse: maybe the same
}

}  // namespace
}  // namespace mosaic::migration

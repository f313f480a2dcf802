// The what-if over HTTP (POST /api/v1/advice/evaluate): reading the request against a shard map,
// merging posted layouts with the current ones, and `mosaic advise --evaluate`'s body and text.
// No server needed; tests/e2e/test_profiles.py runs the route against PostgreSQL.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "../../bench/advisor_quality.h"
#include "admin/advice_api.h"
#include "advisor/advice_json.h"
#include "advisor/engine.h"
#include "main/advise_cli.h"
#include "router/keys.h"

namespace mosaic::admin {
namespace {

using catalog::Column;
using catalog::Layout;
using catalog::ShardMap;
using catalog::Table;
using catalog::TableKind;
using Json = nlohmann::json;

// Nodes 1..3; orders and items (distributed, customer_id int8), accounts (single-tenant).
// Tenant 42 has orders and items split on customer_id at 100 (nodes 1, 2).
ShardMap TestMap() {
  ShardMap map;
  map.version = 3;
  for (int id = 1; id <= 3; ++id) map.nodes.push_back(catalog::Node{.id = id});
  map.tenant_hash_nodes = {1, 2, 3};
  const Column customer{"customer_id", "int8", 20};
  Table accounts;
  accounts.id = 3;
  accounts.name = "accounts";
  accounts.kind = TableKind::kSingleTenant;
  accounts.columns = {{"aid", "int4", 23}};
  map.tables = {advisor::quality::MakeTable(1, "orders", {customer}), advisor::quality::MakeTable(2, "items", {customer}),
                accounts};
  Layout l;
  l.id = 7;
  l.tenant = "42";
  l.table_ids = {1, 2};
  l.column = "customer_id";
  l.column_type = "int8";
  l.key_type = router::KeyType::kInt;
  catalog::Range low, high;
  low.upper = "100";
  low.upper_key = router::EncodeKey(router::KeyType::kInt, "100").value();
  low.node_id = 1;
  high.lower = low.upper;
  high.lower_key = low.upper_key;
  high.node_id = 2;
  l.ranges = {low, high};
  map.layouts = {l};
  map.BuildIndex();
  return map;
}

std::string Refusal(std::string_view body) {
  auto r = ParseEvaluateRequest(Json::parse(body), TestMap());
  return r.ok() ? "<ok>" : r.status().message();
}

TEST(ParseEvaluateRequest, TenantAloneIsTheCurrentLayout) {
  auto r = ParseEvaluateRequest(Json::parse(R"({"tenant": "42", "window": 600})"), TestMap());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->tenant, "42");
  EXPECT_TRUE(r->layouts.empty());
  EXPECT_EQ(r->window, 600);
  r = ParseEvaluateRequest(Json::parse(R"({"tenant": 42})"), TestMap());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->tenant, "42");
  r = ParseEvaluateRequest(Json::parse(R"({"tenant": null})"), TestMap());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->tenant, "(implicit)");
}

TEST(ParseEvaluateRequest, OneLayoutInTheLayoutApiFormat) {
  auto r = ParseEvaluateRequest(Json::parse(R"({"tables": ["orders", "items"], "tenant": 42, "column": "customer_id",
                                                "ranges": [{"upper": 50, "node": 3}, {"node": 1}]})"), TestMap());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->tenant, "42");
  ASSERT_EQ(r->layouts.size(), 1u);
  EXPECT_EQ(r->layouts[0].table_ids, (std::vector<int64_t>{1, 2}));
  ASSERT_EQ(r->layouts[0].ranges.size(), 2u);
  EXPECT_EQ(r->layouts[0].ranges[0].node_id, 3);
  EXPECT_FALSE(r->window.has_value());
}

TEST(ParseEvaluateRequest, SeveralLayoutsInheritTheTenant) {
  auto r = ParseEvaluateRequest(Json::parse(R"({"tenant": "42", "layouts": [
      {"table": "orders", "column": "customer_id", "ranges": [{"upper": 10, "node": 1}, {"node": 2}]},
      {"table": "items", "column": "customer_id", "ranges": [{"node": 3}]}]})"), TestMap());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->tenant, "42");
  ASSERT_EQ(r->layouts.size(), 2u);
  EXPECT_EQ(r->layouts[1].table_ids, (std::vector<int64_t>{2}));
  // The implicit tenant's single-tenant table.
  r = ParseEvaluateRequest(Json::parse(R"({"table": "accounts", "column": "aid", "ranges": [{"node": 2}]})"), TestMap());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->tenant, "(implicit)");
}

TEST(ParseEvaluateRequest, BadBodiesNameTheField) {
  EXPECT_EQ(Refusal("[]"), "body: must be a JSON object");
  EXPECT_NE(Refusal("{}").find("tenant:"), std::string::npos);
  EXPECT_NE(Refusal(R"({"tenant": "42", "colour": 1})").find("colour: unknown field"), std::string::npos);
  EXPECT_NE(Refusal(R"({"tenant": "42", "window": 0})").find("window:"), std::string::npos);
  EXPECT_NE(Refusal(R"({"tenant": "42", "window": "1h"})").find("window:"), std::string::npos);
  EXPECT_NE(Refusal(R"({"tenant": ""})").find("tenant:"), std::string::npos);
  EXPECT_NE(Refusal(R"({"tenant": "42", "layouts": []})").find("layouts:"), std::string::npos);
  EXPECT_NE(Refusal(R"({"tenant": "42", "layouts": [1]})").find("layouts[0]:"), std::string::npos);
  EXPECT_NE(Refusal(R"({"tenant": "42", "table": "orders", "layouts": []})").find("layouts:"), std::string::npos);
  // The layout API's own messages, prefixed with the layout's place.
  EXPECT_EQ(Refusal(R"({"tenant": 42, "layouts": [
      {"table": "orders", "column": "customer_id", "ranges": [{"node": 1}]},
      {"table": "items", "column": "customer_id", "ranges": [{"node": 9}]}]})"),
            "layouts[1].ranges[0].node: there is no node 9");
  EXPECT_EQ(Refusal(R"({"table": "orders", "tenant": 42, "column": "customer_id", "ranges": [{"upper": "x", "node": 1}, {"node": 2}]})")
                .rfind("ranges[0].upper:", 0), 0u);
  EXPECT_NE(Refusal(R"({"table": "nope", "tenant": 42, "column": "customer_id", "ranges": [{"node": 1}]})").find("table:"),
            std::string::npos);
  EXPECT_NE(Refusal(R"({"layouts": [
      {"table": "orders", "tenant": 42, "column": "customer_id", "ranges": [{"node": 1}]},
      {"table": "items", "tenant": 43, "column": "customer_id", "ranges": [{"node": 1}]}]})").find("layouts[1].tenant:"),
            std::string::npos);
  EXPECT_NE(Refusal(R"({"tenant": 42, "layouts": [
      {"table": "orders", "column": "customer_id", "ranges": [{"node": 1}]},
      {"tables": ["items", "orders"], "column": "customer_id", "ranges": [{"node": 2}]}]})").find("layouts[1].tables: \"public.orders\" is in layouts[0]"),
            std::string::npos);
}

TEST(LayoutsWithPosted, PostedLayoutsReplaceTheirTablesOnly) {
  const ShardMap map = TestMap();
  EXPECT_EQ(LayoutsWithPosted(map, "42", {}).size(), 1u);
  EXPECT_TRUE(LayoutsWithPosted(map, "43", {}).empty());
  auto posted = ParseEvaluateRequest(Json::parse(R"({"table": "orders", "tenant": 42, "column": "customer_id",
                                                     "ranges": [{"node": 3}]})"), map);
  ASSERT_TRUE(posted.ok());
  const auto merged = LayoutsWithPosted(map, "42", posted->layouts);
  ASSERT_EQ(merged.size(), 2u);
  EXPECT_EQ(merged[0].table_ids, (std::vector<int64_t>{2}));  // items keeps its ranges
  EXPECT_EQ(merged[0].ranges.size(), 2u);
  EXPECT_EQ(merged[1].table_ids, (std::vector<int64_t>{1}));
  EXPECT_EQ(merged[1].ranges[0].node_id, 3);
}

// What the route computes for a posted layout: the engine's what-if of the merged layouts.
TEST(EvaluateRoute, PostedLayoutMetrics) {
  const ShardMap map = TestMap();
  advisor::TenantInput in;
  in.tenant = "42";
  const std::string k0 = router::EncodeKey(router::KeyType::kInt, "0").value();
  const std::string k200 = router::EncodeKey(router::KeyType::kInt, "200").value();
  for (const char* t : {"orders", "items"}) {
    in.stats.push_back({t, 1000, 1e6, {{"customer_id", {k0, k200}}}});
    advisor::StatementStats s;
    s.fingerprint = std::string(t) + " by customer";
    s.calls = 100;
    s.tables = {t};
    s.filters = {{t, "customer_id", advisor::FilterOp::kEq, {}}};
    in.workload.statements.push_back(s);
  }
  auto posted = ParseEvaluateRequest(Json::parse(R"({"tables": ["orders", "items"], "tenant": 42, "column": "customer_id",
                                                     "ranges": [{"node": 3}]})"), map);
  ASSERT_TRUE(posted.ok());
  const auto layouts = LayoutsWithPosted(map, "42", posted->layouts);
  const advisor::Metrics now = advisor::EvaluateCurrent(map, {}, in);
  const advisor::Metrics whole = advisor::EvaluateLayouts(map, {}, in, layouts);
  EXPECT_NEAR(now.node_load.at(1), 0.5, 1e-9);
  EXPECT_NEAR(now.imbalance, 1.5, 1e-9);
  EXPECT_NEAR(whole.node_load.at(3), 1.0, 1e-9);
  EXPECT_NEAR(whole.imbalance, 3.0, 1e-9);
  EXPECT_NEAR(whole.bytes_to_move, 2e6, 1e-3);
  EXPECT_DOUBLE_EQ(whole.single_node_share, 1.0);
  const Json j = advisor::MetricsJson(whole);
  for (const char* key : {"imbalance", "max_node_load", "single_node_share", "single_node_share_reads",
                          "single_node_share_writes", "cross_node_statements", "bytes_to_move", "node_load_share"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
}

TEST(AdviseEvaluateCli, BodyFromJsonOrFile) {
  AdviseArgs args;
  std::string error;
  args.evaluate = R"( {"table": "orders", "ranges": [{"node": 1}]})";
  args.tenant = "42";
  auto body = EvaluateBody(args, &error);
  ASSERT_TRUE(body.has_value()) << error;
  EXPECT_EQ((*body)["tenant"], "42");
  const std::string path = ::testing::TempDir() + "/advisor_evaluate_body.json";
  std::ofstream(path) << R"({"tenant": "7"})";
  args.evaluate = path;
  body = EvaluateBody(args, &error);
  ASSERT_TRUE(body.has_value()) << error;
  EXPECT_EQ((*body)["tenant"], "7");  // --tenant does not override the body's
  std::remove(path.c_str());
  args.evaluate = path;
  EXPECT_FALSE(EvaluateBody(args, &error).has_value());
  EXPECT_NE(error.find("cannot read"), std::string::npos);
  args.evaluate = "{nope";
  EXPECT_FALSE(EvaluateBody(args, &error).has_value());
  EXPECT_NE(error.find("not a JSON object"), std::string::npos);
}

TEST(AdviseEvaluateCli, TextShowsBothColumns) {
  advisor::Metrics now, then;
  now.node_load = {{1, 0.7}, {2, 0.3}};
  now.imbalance = 1.4;
  then.node_load = {{1, 0.5}, {2, 0.5}};
  then.imbalance = 1.0;
  then.bytes_to_move = 12345;
  const Json reply = {{"tenant", "42"}, {"window_seconds", 600}, {"current", advisor::MetricsJson(now)},
                      {"evaluated", advisor::MetricsJson(then)},
                      {"layouts", Json::array({{{"tables", {"public.orders"}}, {"tenant", "42"}, {"column", "customer_id"},
                                                {"ranges", Json::array({{{"upper", "100"}, {"node", 1}}, {{"node", 2}}})}}})}};
  const std::string text = FormatEvaluation(reply);
  EXPECT_NE(text.find("tenant 42, window 600 s"), std::string::npos) << text;
  EXPECT_NE(text.find("imbalance (max/mean)   1.400  1.000"), std::string::npos) << text;
  EXPECT_NE(text.find("bytes to move          0      12345"), std::string::npos) << text;
  EXPECT_NE(text.find("1     0.700     0.500"), std::string::npos) << text;
  EXPECT_NE(text.find("public.orders  customer_id  100        1"), std::string::npos) << text;
}

}  // namespace
}  // namespace mosaic::admin

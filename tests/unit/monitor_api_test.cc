// GET /api/v1/patterns (admin/patterns_api) and `mosaic patterns` formatting (main/patterns_cli).
#include <gtest/gtest.h>

#include "admin/patterns_api.h"
#include "main/patterns_cli.h"

namespace mosaic {
namespace {

using Json = nlohmann::json;
constexpr int64_t kNow = 1800000000;

class PatternsApiTest : public ::testing::Test {
 protected:
  PatternsApiTest() : monitor_(monitor::MonitorOptions{.window_seconds = 3600}, [] { return kNow; }) {
    monitor::Recorder* r = monitor_.AddRecorder();
    monitor::QueryEvent* e = r->Claim();
    *e = monitor::QueryEvent{};
    e->unix_seconds = kNow;
    e->tenant_known = true;
    e->tenant.Set("acme");
    e->table_count = 1;
    e->tables[0].Set("orders");
    e->filter_count = 1;
    e->filters[0].op = monitor::FilterOp::kEq;
    e->filters[0].role = monitor::ValueRole::kPoint;
    e->filters[0].column.Set("customer_id");
    e->filters[0].value.Set("7");
    e->node_mask = 1u << 2;
    r->Commit();
  }
  std::pair<int, Json> Get(std::map<std::string, std::string> query) { return admin::PatternsRequest(&monitor_, query); }
  monitor::Monitor monitor_;
};

TEST_F(PatternsApiTest, TenantListAndOneTenant) {
  auto [status, list] = Get({});
  EXPECT_EQ(status, 200);
  EXPECT_EQ(list["window_seconds"], 3600);
  EXPECT_EQ(list["tenants"][0]["tenant"], "acme");
  auto [s2, p] = Get({{"tenant", "acme"}, {"table", "orders"}, {"window", "300"}});
  EXPECT_EQ(s2, 200);
  EXPECT_EQ(p["window_seconds"], 300);
  EXPECT_EQ(p["tables"][0]["columns"][0]["top_values"][0]["value"], "7");
  EXPECT_EQ(Get({{"tenant", "acme"}, {"window", "999999"}}).second["window_seconds"], 3600);  // clamped
}

TEST_F(PatternsApiTest, BadParametersNameThemselves) {
  for (const auto& [query, name] : std::vector<std::pair<std::map<std::string, std::string>, std::string>>{
           {{{"window", "abc"}}, "window"},
           {{{"window", "0"}}, "window"},
           {{{"tenant", "acme"}, {"window", "12x"}}, "window"},
           {{{"limit", "-1"}}, "limit"},
           {{{"tenant", ""}}, "tenant"},
           {{{"tenant", "acme"}, {"table", ""}}, "table"},
           {{{"table", "orders"}}, "table"}}) {
    auto [status, body] = Get(query);
    EXPECT_EQ(status, 400) << name;
    EXPECT_NE(body["error"].get<std::string>().find("\"" + name + "\""), std::string::npos) << body.dump();
  }
  EXPECT_EQ(admin::PatternsRequest(nullptr, {}).first, 503);
}

TEST_F(PatternsApiTest, MetricsAndCliTables) {
  admin::MetricsWriter m;
  admin::WriteMonitorMetrics(monitor_, m);
  const std::string text = m.Finish();
  EXPECT_NE(text.find("mosaic_tenant_statements_total{tenant=\"acme\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("mosaic_node_statements_total{node=\"2\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("mosaic_monitor_events_total 1"), std::string::npos) << text;

  const std::string list = FormatTenantList(Get({}).second);
  EXPECT_NE(list.find("TENANT"), std::string::npos);
  EXPECT_NE(list.find("acme"), std::string::npos);
  const std::string one = FormatPatterns(Get({{"tenant", "acme"}}).second);
  EXPECT_NE(one.find("customer_id"), std::string::npos) << one;
  EXPECT_NE(one.find("7 (100.0%)"), std::string::npos) << one;
  PatternsArgs args;
  args.tenant = "a b";
  args.window = 60;
  EXPECT_EQ(PatternsPath(args), "/api/v1/patterns?tenant=a%20b&window=60");
}

}  // namespace
}  // namespace mosaic

// Unit tests of `mosaic demo`'s record, live view and summary (main/demo_record.h,
// main/demo_view.h, main/demo_traffic.h's line parser). No server needed: polls are JSON literals.
#include <gtest/gtest.h>

#include "main/demo_record.h"
#include "main/demo_traffic.h"
#include "main/demo_view.h"
#include "workload/report.h"

namespace mosaic {
namespace {

using Json = nlohmann::json;

TEST(DemoTraffic, ParsesTheWorkloadsIntervalLine) {
  // The line as the workload writes it, so a change of its format breaks this test.
  const std::string line = workload::IntervalLine(4.0, 2.0, 1625, 3, {1.0, 2.0, 3.0, 50.0});
  auto s = ParseIntervalLine(line);
  ASSERT_TRUE(s) << line;
  EXPECT_DOUBLE_EQ(s->tps, 812.5);
  EXPECT_EQ(s->errors, 3);
  EXPECT_DOUBLE_EQ(s->p50_ms, 2.0);
  EXPECT_DOUBLE_EQ(s->p99_ms, 50.0);
  EXPECT_FALSE(ParseIntervalLine("loaded 12 tenants in 1.0s"));
  EXPECT_FALSE(ParseIntervalLine(line + " trailing"));
}

TEST(DemoRecord, ReadsNodeStatementsFromMetrics) {
  const std::string text =
      "# TYPE mosaic_node_statements_total counter\n"
      "mosaic_node_statements_total{node=\"1\"} 120\n"
      "mosaic_node_statements_total{node=\"3\"} 7.5\n"
      "mosaic_tenant_statements_total{tenant=\"1\"} 99\n";
  EXPECT_EQ(NodeStatementsFromMetrics(text), (std::map<int, double>{{1, 120}, {3, 7.5}}));
}

Json Advice(double imbalance, bool split) {
  Json actions = Json::array();
  if (split) {
    actions.push_back({{"action", "split"}, {"tables", {"public.orders"}}, {"column", "created_at"},
                       {"ranges", {{{"node", 1}}, {{"node", 2}}, {{"node", 3}}}}, {"reason", "hot dates"}});
  }
  return {{"tenant", "1"}, {"profile", "whale"}, {"summary", "balanced enough"},
          {"current", {{"imbalance", imbalance}}}, {"predicted", {{"imbalance", split ? 1.05 : imbalance}}},
          {"actions", actions}};
}

Json Migration(int id, const char* phase, const char* origin = "rebalancer") {
  return {{"id", id}, {"action", "split"}, {"origin", origin}, {"phase", phase}, {"tenant", "1"},
          {"tables", {"public.orders"}}, {"column", "created_at"},
          {"ranges", {{{"node", 1}}, {{"node", 2}}, {{"node", 3}}}},
          {"progress", {{"rows_copied", 900}, {"rows_estimated", 900}}},
          {"timings", {{"cutover_pause_ms", 31}}}};
}

DemoPoll Poll(double at, Json migrations, Json advice, std::map<int, double> nodes, Json events = nullptr,
             double node_imbalance = 0) {
  DemoPoll p;
  p.at_s = at;
  if (node_imbalance > 0) {
    p.rebalancer = {{"paused", false}, {"dry_run", false}, {"rounds", 3}, {"interval_s", 10}, {"window_s", 60},
                    {"imbalance", node_imbalance}, {"imbalance_threshold", 1.25}};
  }
  p.tenants = {{"tenants", {{{"tenant", "1"}, {"statements", 600}}}}};
  p.patterns["1"] = {{"tables", {{{"table", "public.orders"}, {"statements", 600},
                                  {"columns", {{{"column", "created_at"}, {"filters", 500},
                                                {"by_op", {{"eq", 0}, {"in", 0}, {"range", 450}, {"other", 50}}},
                                                {"hot_ranges", {{{"lower", "2024-03-01"}, {"upper", "2024-03-15"},
                                                                 {"share", 0.64}}}}}}}}}}};
  p.advice["1"] = std::move(advice);
  p.migrations = {{"migrations", migrations}};
  p.events = std::move(events);
  p.node_statements = std::move(nodes);
  return p;
}

// A run in which the rebalancer splits tenant 1: seen at 20 s, cut over at 26 s, done at 30 s.
DemoRecord SplitRun(bool with_events) {
  DemoRecord r;
  Json acted = nullptr;
  if (with_events) {
    acted = {{"events", {{{"id", 4}, {"decision", "acted"}, {"cause", ""}, {"tenant", "1"},
                          {"tables", {"public.orders"}}, {"action", "split"}, {"trigger", "imbalance"},
                          {"reason", "node 1 carries 3.0x the mean"},
                          {"numbers", {{"imbalance_before", 3.0}, {"imbalance_after", 1.05}}},
                          {"migration_id", 1}}}},
             {"last_id", 4}};
  }
  const Json no_events = with_events ? Json{{"events", Json::array()}, {"last_id", 0}} : Json(nullptr);
  const Json empty_events = with_events ? Json{{"events", Json::array()}, {"last_id", 4}} : Json(nullptr);
  r.Add(Poll(10, Json::array(), Advice(3.0, true), {{1, 1000}, {2, 100}, {3, 100}}, no_events, 1.5));
  r.Add(Poll(18, Json::array(), Advice(3.0, true), {{1, 1800}, {2, 120}, {3, 120}}, no_events, 1.44));
  r.Add(Poll(20, {Migration(1, "shadow_reads")}, Advice(3.0, true), {{1, 2000}, {2, 125}, {3, 125}}, acted, 1.44));
  r.Add(Poll(26, {Migration(1, "deprecated")}, Advice(1.1, false), {{1, 2400}, {2, 300}, {3, 300}}, empty_events, 1.2));
  r.Add(Poll(30, {Migration(1, "done")}, Advice(1.07, false), {{1, 2500}, {2, 400}, {3, 400}}, empty_events, 1.1));
  r.Add(Poll(40, {Migration(1, "done")}, Advice(1.07, false), {{1, 2750}, {2, 650}, {3, 650}}, empty_events, 1.08));
  return r;
}

TEST(DemoRecord, TellsNewsOncePerChange) {
  DemoRecord r;
  auto news = r.Add(Poll(2, Json::array(), Advice(3.0, true), {{1, 10}}));
  ASSERT_EQ(news.size(), 1u);
  EXPECT_EQ(news[0], "[00:02] plan for tenant 1: split public.orders on created_at into 3 ranges (nodes 1, 2, 3): "
                     "imbalance 3.00 -> 1.05");
  EXPECT_TRUE(r.Add(Poll(4, Json::array(), Advice(2.9, true), {{1, 20}}, nullptr, 1.5)).empty());  // numbers alone are no news
  news = r.Add(Poll(6, {Migration(1, "queued")}, Advice(2.9, true), {{1, 30}}, nullptr, 1.4));
  ASSERT_EQ(news.size(), 1u);
  EXPECT_EQ(news[0], "[00:06] migration 1 (rebalancer) for tenant 1: split public.orders on created_at into 3 ranges "
                     "(nodes 1, 2, 3): queued");
  news = r.Add(Poll(8, {Migration(1, "cutover")}, Advice(2.9, true), {{1, 40}}));
  EXPECT_EQ(news, std::vector<std::string>{"[00:08] migration 1: queued -> cutover"});
  EXPECT_EQ(r.tracks().at(1).imbalance_before, 1.5);  // the nodes' imbalance at the poll before it appeared
  EXPECT_EQ(r.imbalance(), 1.4);
}

TEST(DemoRecord, APlanFlippingBackIsNoNews) {
  DemoRecord r;
  EXPECT_EQ(r.Add(Poll(2, Json::array(), Advice(3.0, true), {})).size(), 1u);
  EXPECT_EQ(r.Add(Poll(4, Json::array(), Advice(1.2, false), {})).size(), 1u);  // a new plan: no action
  EXPECT_TRUE(r.Add(Poll(6, Json::array(), Advice(3.0, true), {})).empty());   // back to the split of 4 s ago
  EXPECT_TRUE(r.Add(Poll(8, Json::array(), Advice(1.2, false), {})).empty());
  EXPECT_EQ(r.Add(Poll(90, Json::array(), Advice(3.0, true), {})).size(), 1u);  // last seen over a minute ago
}

TEST(DemoRecord, RepeatedRebalancerDecisionsAreNewsOnce) {
  DemoRecord r;
  auto events = [](int id) {
    return Json{{"events", {{{"id", id}, {"decision", "rejected"}, {"cause", "no_gain"}, {"tenant", "2"},
                             {"action", nullptr}, {"reason", "imbalance 1.02 is under 1.25"}, {"migration_id", nullptr}}}},
                {"last_id", id}};
  };
  EXPECT_EQ(r.Add(Poll(2, Json::array(), nullptr, {}, events(1))),
            std::vector<std::string>{"[00:02] rebalancer rejected (no_gain): tenant 2: imbalance 1.02 is under 1.25"});
  EXPECT_TRUE(r.Add(Poll(4, Json::array(), nullptr, {}, events(2))).empty());
  EXPECT_EQ(r.last_event_id(), 2);
  EXPECT_TRUE(r.has_events_api());
}

TEST(DemoRecord, AnEventWithoutTenantOrTablesIsAboutTheNodes) {
  EXPECT_EQ(EventLine({{"decision", "rejected"}, {"cause", "no_gain"}, {"tenant", nullptr}, {"tables", Json::array()},
                       {"action", nullptr}, {"reason", "nodes uneven, no tenant's plan helps"}}),
            "rejected (no_gain): the nodes: nodes uneven, no tenant's plan helps");
  EXPECT_EQ(EventLine({{"decision", "deferred"}, {"cause", "cooldown"}, {"tenant", nullptr},
                       {"tables", {"public.pgbench_accounts"}}, {"action", "move"}, {"migration_id", nullptr}}),
            "deferred (cooldown): move tenant (implicit) (public.pgbench_accounts)");
}

TEST(DemoRecord, BeforeAndAfterTheFirstAutomaticMigration) {
  const DemoRecord r = SplitRun(true);
  auto ba = r.BeforeAfter(5, 40);
  ASSERT_TRUE(ba);
  EXPECT_DOUBLE_EQ(ba->first.from_s, 5);
  EXPECT_DOUBLE_EQ(ba->first.to_s, 20);
  EXPECT_DOUBLE_EQ(ba->second.from_s, 26);
  EXPECT_DOUBLE_EQ(ba->second.to_s, 40);
  EXPECT_EQ(r.NodeRatesIn(ba->first), (std::map<int, double>{{1, 100}, {2, 2.5}, {3, 2.5}}));
  EXPECT_EQ(r.NodeRatesIn(ba->second), (std::map<int, double>{{1, 25}, {2, 25}, {3, 25}}));
  EXPECT_FALSE(DemoRecord().BeforeAfter(0, 10));
}

TEST(DemoRecord, TrafficStatsOfAPeriod) {
  const std::vector<TrafficSample> samples = {{1, 100, 0, 1, 9}, {3, 200, 1, 1, 5}, {5, 300, 2, 1, 7}, {7, 1, 0, 1, 1}};
  const TrafficStats s = TrafficIn(samples, {0, 6});
  EXPECT_EQ(s.intervals, 3);
  EXPECT_DOUBLE_EQ(s.tps, 200);
  EXPECT_DOUBLE_EQ(s.p99_ms, 7);
  EXPECT_EQ(s.errors, 3);
}

DemoInfo Info() {
  DemoInfo info;
  info.nodes = 3;
  info.psql = "psql -h 127.0.0.1 -p 6432 -U mosaic mosaic";
  info.admin = "127.0.0.1:6480";
  info.duration_s = 40;
  info.clients = 8;
  info.hot_shift_s = 45;
  info.window_s = 60;
  info.traffic_from_s = 5;
  return info;
}

const std::vector<TrafficSample> kSamples = {{8, 400, 0, 1, 12}, {16, 420, 0, 1, 14}, {22, 300, 5, 2, 40},
                                             {30, 450, 0, 1, 8}, {38, 470, 0, 1, 9}};

TEST(DemoView, SummaryShowsTheSplitWithTheRebalancersNumbers) {
  const std::string s = RenderSummary(SplitRun(true), kSamples, Info(), 40, nullptr);
  EXPECT_NE(s.find("[00:20] tenant 1: split public.orders on created_at into 3 ranges (nodes 1, 2, 3): imbalance "
                   "3.00 -> 1.05 (the rebalancer's plan, trigger imbalance); migration 1 done after ~10 s (900 rows "
                   "copied, cutover pause 31 ms)\n  nodes' load imbalance at the end (the rebalancer's last round): 1.08, "
                   "threshold 1.25\n"),
            std::string::npos) << s;
  EXPECT_NE(s.find("rebalancer decisions: 1 acted"), std::string::npos) << s;
  EXPECT_NE(s.find("outcomes: 1 done"), std::string::npos) << s;
  EXPECT_NE(s.find("Before (00:05-00:20) and after (00:26-00:40)"), std::string::npos) << s;
  EXPECT_NE(s.find("TPS            410.0   460.0"), std::string::npos) << s;
  EXPECT_NE(s.find("p99 ms         13.00   8.50"), std::string::npos) << s;
  EXPECT_NE(s.find("node 1 stmt/s  100.0   25.0"), std::string::npos) << s;
  EXPECT_NE(s.find("tenant 1      10.0 stmt/s  public.orders: 600 statements, filtered by created_at (range 90%), "
                   "hot [2024-03-01, 2024-03-15) 64%"),
            std::string::npos) << s;
}

TEST(DemoView, SummaryMeasuresTheImbalanceWithoutEvents) {
  const std::string s = RenderSummary(SplitRun(false), kSamples, Info(), 40, nullptr);
  EXPECT_NE(s.find("imbalance 1.44 -> 1.08 (GET /api/v1/rebalancer before it and at the end); migration 1 done"),
            std::string::npos) << s;
  EXPECT_NE(s.find("rebalancer decisions: not reported by this router"), std::string::npos) << s;
}

TEST(DemoView, SummaryWithoutAdaptation) {
  DemoRecord r;
  r.Add(Poll(10, {Migration(1, "done", "manual")}, Advice(1.0, false), {{1, 10}}));
  const std::string s = RenderSummary(r, kSamples, Info(), 40, nullptr);
  EXPECT_NE(s.find("(migrations the rebalancer started; imbalance = the nodes' load, heaviest / mean):\n  none\n"), std::string::npos) << s;
  EXPECT_NE(s.find("  migration 1 (manual) done (900 rows copied, cutover pause 31 ms): tenant 1: split"), std::string::npos) << s;
  EXPECT_NE(s.find("No automatic migration cut over"), std::string::npos) << s;
}

TEST(DemoView, ViewHasEverySectionAndFitsTheWidth) {
  const DemoRecord r = SplitRun(true);
  const std::string view = RenderView(r, kSamples, Info(), 40, 100);
  for (const char* section : {"TRAFFIC", "NODES", "PATTERNS", "PLAN", "MIGRATIONS", "REBALANCER"}) {
    EXPECT_NE(view.find(std::string("\n") + section), std::string::npos) << section << "\n" << view;
  }
  size_t start = 0;
  while (start < view.size()) {
    const size_t end = view.find('\n', start);
    EXPECT_LE(end - start, 100u) << view.substr(start, end - start);
    start = end + 1;
  }
  EXPECT_NE(view.find("[00:20] rebalancer acted: split tenant 1"), std::string::npos) << view;
  EXPECT_NE(view.find("      rebalancer: acted: split tenant 1 (public.orders) [imbalance], imbalance 3.00 -> 1.05"),
            std::string::npos) << view;
  EXPECT_NE(view.find("nodes' load imbalance 1.08 (threshold 1.25)"), std::string::npos) << view;
  EXPECT_NE(StatusLine(r, kSamples, 40).find("statements/s per node 1:25 2:25 3:25 | active migrations 0"),
            std::string::npos);
}

}  // namespace
}  // namespace mosaic

#include "monitor/pattern_store.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "monitor/monitor.h"

namespace mosaic::monitor {
namespace {

using Json = nlohmann::json;

constexpr int64_t kT0 = 1800000000;  // a fixed "now" (2027-01-15)

struct Filter {
  int table;
  std::string column;
  FilterOp op;
  ValueRole role;
  std::string value;
  bool counts = true;
};

QueryEvent Event(std::string tenant, std::vector<std::string> tables, std::vector<Filter> filters = {},
                 bool write = false, int64_t rows = 1, uint32_t latency_us = 1000, int64_t at = kT0) {
  QueryEvent e;
  e.unix_seconds = at;
  e.fingerprint = write ? 2 : 1;
  e.rows = rows;
  e.latency_us = latency_us;
  e.nodes = 1;
  e.single_node = true;
  e.node_mask = 1u << 1;
  e.write = write;
  e.tenant_known = true;
  e.tenant.Set(tenant);
  for (const auto& t : tables) e.tables[e.table_count++].Set(t);
  for (const auto& f : filters) {
    EventFilter& out = e.filters[e.filter_count++];
    out.table = static_cast<uint8_t>(f.table);
    out.column.Set(f.column);
    out.op = f.op;
    out.role = f.role;
    out.value.Set(f.value);
    out.counts = f.counts;
  }
  return e;
}

const Json* FindTable(const Json& patterns, const std::string& table) {
  for (const auto& t : patterns["tables"]) {
    if (t["table"] == table) return &t;
  }
  return nullptr;
}

TEST(PatternStoreTest, CountsStatementsColumnsAndValuesPerTable) {
  PatternStore store;
  for (int i = 0; i < 30; ++i) {
    store.Add(Event("acme", {"orders"}, {{0, "customer_id", FilterOp::kEq, ValueRole::kPoint, i % 3 ? "7" : std::to_string(i)}}, false, 2));
  }
  for (int i = 0; i < 10; ++i) {
    store.Add(Event("acme", {"orders"}, {{0, "status", FilterOp::kIn, ValueRole::kPoint, "open"},
                                         {0, "status", FilterOp::kIn, ValueRole::kPoint, "paid", false}}, true, 1));
  }
  ShapeText shape;
  shape.fingerprint = 1;
  shape.text.Set("SELECT * FROM orders WHERE customer_id = ?");
  store.AddShape(shape);

  Json p = store.TenantPatterns("acme", std::nullopt, 3600, kT0 + 30);
  EXPECT_EQ(p["tenant"], "acme");
  EXPECT_EQ(p["window_seconds"], 3600);
  const Json* orders = FindTable(p, "orders");
  ASSERT_NE(orders, nullptr);
  EXPECT_EQ((*orders)["statements"], 40);
  EXPECT_EQ((*orders)["reads"], 30);
  EXPECT_EQ((*orders)["writes"], 10);
  EXPECT_EQ((*orders)["rows"], 70);
  EXPECT_NEAR((*orders)["latency_ms"]["p50"].get<double>(), 1.0, 0.03);
  const Json& columns = (*orders)["columns"];
  ASSERT_EQ(columns.size(), 2u);
  EXPECT_EQ(columns[0]["column"], "customer_id");  // most filters first
  EXPECT_EQ(columns[0]["filters"], 30);
  EXPECT_EQ(columns[0]["by_op"]["eq"], 30);
  EXPECT_EQ(columns[0]["top_values"][0]["value"], "7");
  EXPECT_NEAR(columns[0]["top_values"][0]["share"].get<double>(), 20.0 / 30, 0.01);
  EXPECT_EQ(columns[1]["column"], "status");
  EXPECT_EQ(columns[1]["filters"], 10);  // an IN list counts once
  EXPECT_EQ(columns[1]["by_op"]["in"], 10);
  ASSERT_EQ(p["fingerprints"].size(), 2u);
  EXPECT_EQ(p["fingerprints"][0]["calls"], 30);
  EXPECT_EQ(p["fingerprints"][0]["query"], "SELECT * FROM orders WHERE customer_id = ?");
  EXPECT_EQ(p["fingerprints"][0]["fingerprint"], "0000000000000001");
  EXPECT_NEAR(p["fingerprints"][0]["mean_ms"].get<double>(), 1.0, 1e-9);

  Json only = store.TenantPatterns("acme", std::string_view("customers"), 3600, kT0 + 30);
  EXPECT_TRUE(only["tables"].empty());
  EXPECT_TRUE(store.TenantPatterns("nobody", std::nullopt, 3600, kT0)["tables"].empty());
}

TEST(PatternStoreTest, DateRangesBecomeHotRangesWithValueText) {
  PatternStore store;
  for (int day = 1; day <= 28; ++day) {
    const std::string lo = fmt::format("2026-11-{:02d}", day);
    const std::string hi = fmt::format("2026-11-{:02d}", day + 2);
    for (int i = 0; i < 9; ++i) {
      store.Add(Event("a", {"orders"}, {{0, "created_at", FilterOp::kRange, ValueRole::kLower, lo},
                                        {0, "created_at", FilterOp::kRange, ValueRole::kUpper, hi, false}}));
    }
    store.Add(Event("a", {"orders"}, {{0, "created_at", FilterOp::kRange, ValueRole::kLower, fmt::format("2026-0{}-01", day % 9 + 1)},
                                      {0, "created_at", FilterOp::kRange, ValueRole::kUpper, fmt::format("2026-0{}-03", day % 9 + 1), false}}));
  }
  Json p = store.TenantPatterns("a", std::nullopt, 3600, kT0);
  const Json& col = (*FindTable(p, "orders"))["columns"][0];
  EXPECT_EQ(col["column"], "created_at");
  EXPECT_EQ(col["by_op"]["range"], 28 * 10);
  const Json& hot = col["hot_ranges"][0];
  EXPECT_GE(hot["lower"].get<std::string>(), "2026-10-25");
  EXPECT_LE(hot["upper"].get<std::string>(), "2026-12-01");
  EXPECT_GT(hot["share"].get<double>(), 0.8);
  // The accessed span and the ranges' mean width (2 days) as a share of it (333 days): the advisor
  // spreads the accesses outside hot ranges over the span and sizes the filters' spans by the width.
  EXPECT_EQ(col["span"]["lower"], "2026-01-01");
  EXPECT_EQ(col["span"]["upper"], "2026-11-30");
  EXPECT_NEAR(col["range_width_share"].get<double>(), 2.0 / 333, 1e-4);
}

TEST(PatternStoreTest, SubWindowsAndJoins) {
  PatternStore store;
  store.Add(Event("t", {"orders"}, {}, false, 1, 1000, kT0 - 3000));
  QueryEvent join = Event("t", {"orders", "customers"}, {}, false, 1, 1000, kT0);
  join.join_count = 1;
  join.joins[0].left_table = 0;
  join.joins[0].right_table = 1;
  join.joins[0].left_column.Set("customer_id");
  join.joins[0].right_column.Set("id");
  store.Add(join);
  EXPECT_EQ((*FindTable(store.TenantPatterns("t", std::nullopt, 300, kT0), "orders"))["statements"], 1);
  EXPECT_EQ((*FindTable(store.TenantPatterns("t", std::nullopt, 3600, kT0), "orders"))["statements"], 2);
  const Json recent = store.TenantPatterns("t", std::nullopt, 300, kT0);
  const Json& joins = (*FindTable(recent, "customers"))["joins"];
  ASSERT_EQ(joins.size(), 1u);
  EXPECT_EQ(joins[0]["left"], "customers.id");
  EXPECT_EQ(joins[0]["right"], "orders.customer_id");
  EXPECT_EQ(joins[0]["count"], 1);
}

TEST(PatternStoreTest, SkipsTablesWithoutNames) {
  // A session's temporary table (BuildEvent leaves its name empty), joined to a real table.
  PatternStore store;
  QueryEvent e = Event("t", {"orders", ""}, {{1, "id", FilterOp::kEq, ValueRole::kPoint, "7"}});
  e.join_count = 1;
  e.joins[0].left_table = 0;
  e.joins[0].right_table = 1;
  e.joins[0].left_column.Set("id");
  e.joins[0].right_column.Set("id");
  store.Add(e);
  const Json p = store.TenantPatterns("t", std::nullopt, 300, kT0);
  ASSERT_EQ(p["tables"].size(), 1u) << p.dump();
  const Json& orders = *FindTable(p, "orders");
  EXPECT_EQ(orders["statements"], 1);
  EXPECT_TRUE(orders["joins"].empty()) << orders.dump();
  EXPECT_TRUE(orders["columns"].empty()) << orders.dump();
}

TEST(PatternStoreTest, TenantListByLoadAndSpecialTenants) {
  PatternStore store;
  for (int i = 0; i < 5; ++i) store.Add(Event("big", {"t"}));
  store.Add(Event("small", {"t"}));
  QueryEvent implicit = Event("", {"pgbench_accounts"});
  store.Add(implicit);
  QueryEvent multi = Event("x", {"t"});
  multi.tenant_known = false;
  store.Add(multi);
  Json list = store.TenantList(3600, kT0);
  ASSERT_EQ(list["tenants"].size(), 4u);
  EXPECT_EQ(list["tenants"][0]["tenant"], "big");
  EXPECT_EQ(list["tenants"][0]["statements"], 5);
  EXPECT_EQ(store.TenantPatterns(kImplicitTenant, std::nullopt, 3600, kT0)["tables"][0]["table"], "pgbench_accounts");
  EXPECT_EQ(store.TenantPatterns(kMultiTenant, std::nullopt, 3600, kT0)["tables"][0]["statements"], 1);
  EXPECT_EQ(store.node_statements()[1], 8u);
  EXPECT_EQ(store.TopTenantCounters(1)[0].first, "big");
}

TEST(PatternStoreTest, BudgetFoldsTheLightestTenantsIntoOther) {
  PatternStore store(PatternStoreOptions{3600, 64 << 10});
  for (int i = 0; i < 100; ++i) store.Add(Event("heavy", {"orders"}, {{0, "id", FilterOp::kEq, ValueRole::kPoint, std::to_string(i)}}));
  for (int t = 0; t < 500; ++t) store.Add(Event(fmt::format("light{}", t), {"orders"}, {{0, "id", FilterOp::kEq, ValueRole::kPoint, "1"}}));
  ASSERT_GT(store.MemoryBytes(), size_t{64} << 10);
  EXPECT_GT(store.EnforceBudget(kT0), 0u);
  EXPECT_LE(store.MemoryBytes(), size_t{64} << 10);
  Json list = store.TenantList(3600, kT0, 1000);
  uint64_t total = 0, other = 0;
  bool heavy = false;
  for (const auto& t : list["tenants"]) {
    total += t["statements"].get<uint64_t>();
    if (t["tenant"] == kOtherName) other = t["statements"];
    heavy = heavy || t["tenant"] == "heavy";
  }
  EXPECT_EQ(total, 600u);  // nothing lost, only folded
  EXPECT_GT(other, 0u);
  EXPECT_TRUE(heavy);
  EXPECT_EQ((*FindTable(store.TenantPatterns("heavy", std::nullopt, 3600, kT0), "orders"))["columns"][0]["filters"], 100);
}

TEST(PatternStoreTest, CheckpointRoundTrip) {
  PatternStore a;
  a.Add(Event("acme", {"orders"}, {{0, "customer_id", FilterOp::kEq, ValueRole::kPoint, "42"}}, false, 3, 2500, kT0 - 120));
  a.Add(Event("acme", {"orders"}, {{0, "created_at", FilterOp::kRange, ValueRole::kLower, "2026-01-01"}}, true, 1, 900, kT0));
  ShapeText shape;
  shape.fingerprint = 1;
  shape.text.Set("SELECT ?");
  a.AddShape(shape);
  PatternStore b;
  ASSERT_TRUE(b.Restore(a.Checkpoint(kT0)).ok());
  EXPECT_EQ(b.TenantPatterns("acme", std::nullopt, 3600, kT0), a.TenantPatterns("acme", std::nullopt, 3600, kT0));
  EXPECT_FALSE(b.Restore(Json{{"version", 1}}).ok());
  EXPECT_FALSE(b.Restore(Json{{"version", 99}, {"minutes", Json::array()}}).ok());
}

// Window expiry, with the monitor's clock injected.
TEST(MonitorTest, EventsLeaveTheWindowWithTime) {
  std::atomic<int64_t> now{kT0};
  Monitor monitor(MonitorOptions{.window_seconds = 3600}, [&] { return now.load(); });
  Recorder* r = monitor.AddRecorder();
  QueryEvent* slot = r->Claim();
  ASSERT_NE(slot, nullptr);
  *slot = Event("acme", {"orders"});
  r->Commit();
  EXPECT_EQ(monitor.TenantList(3600)["tenants"].size(), 1u);
  now = kT0 + 1800;
  EXPECT_EQ(monitor.TenantList(3600)["tenants"].size(), 1u);
  EXPECT_EQ(monitor.TenantList(600)["tenants"].size(), 0u);  // a sub-window that excludes it
  now = kT0 + 3600 + 120;
  EXPECT_EQ(monitor.TenantList(3600)["tenants"].size(), 0u);
  EXPECT_EQ(monitor.Patterns("acme", std::nullopt, 86400)["window_seconds"], 3600);  // clamped
}

TEST(MonitorTest, FullRingDropsAndCounts) {
  Monitor monitor(MonitorOptions{.ring_capacity = 2}, [] { return kT0; });
  Recorder* r = monitor.AddRecorder();
  for (int i = 0; i < 3; ++i) {
    if (QueryEvent* e = r->Claim()) {
      *e = Event("acme", {"orders"});
      r->Commit();
    }
  }
  auto stats = monitor.GetStats();
  EXPECT_EQ(stats.recorded, 2u);
  EXPECT_EQ(stats.dropped, 1u);
  EXPECT_EQ(stats.top_tenants[0].second, 2u);
}

TEST(MonitorTest, StopSavesACheckpointThatRestores) {
  std::string saved;
  {
    Monitor monitor(MonitorOptions{.checkpoint_seconds = 0}, [] { return kT0; });
    Recorder* r = monitor.AddRecorder();
    monitor.Start([&](const std::string& blob) {
      saved = blob;
      return Status::OK();
    });
    *r->Claim() = Event("acme", {"orders"});
    r->Commit();
    monitor.Stop();
  }
  Monitor restored(MonitorOptions{}, [] { return kT0 + 60; });
  ASSERT_TRUE(restored.Restore(saved).ok());
  EXPECT_EQ(restored.TenantList(3600)["tenants"][0]["tenant"], "acme");
  EXPECT_FALSE(restored.Restore("not json").ok());
}

// docs/architecture.md: memory per tracked (tenant, table) with one filtered column, measured
// here on 20k tenants x 10 tables; 100k x 10 must fit in 1 GiB.
TEST(PatternStoreTest, MemoryPerTenantTableFitsTheDocumentedBudget) {
  PatternStore store(PatternStoreOptions{24 * 3600, size_t{1} << 30});
  constexpr int kTenants = 20000, kTables = 10;
  for (int t = 0; t < kTenants; ++t) {
    const std::string tenant = fmt::format("tenant-{:06d}", t);
    for (int k = 0; k < kTables; ++k) {
      store.Add(Event(tenant, {fmt::format("table_{}", k)}, {{0, "customer_id", FilterOp::kEq, ValueRole::kPoint, std::to_string(t)}}));
    }
  }
  const double per_table = static_cast<double>(store.MemoryBytes()) / (kTenants * kTables);
  std::printf("monitor memory: %.0f bytes per (tenant, table), %.0f per tenant of %d tables\n", per_table,
              per_table * kTables, kTables);
  EXPECT_LT(per_table * 100000 * 10, 1024.0 * 1024 * 1024);
}

}  // namespace
}  // namespace mosaic::monitor

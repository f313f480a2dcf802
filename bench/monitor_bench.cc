// Micro-benchmarks of the query pattern monitor:
//   BM_RecordEvent     what a worker pays per statement: BuildEvent from a cached analysis, the
//                      bound values and the route (as Session::MonitorBegin), then the copy into
//                      its ring with the clock reads (as Session::MonitorEnd), while another
//                      thread drains the ring. Target <= 200 ns.
//   BM_AggregateEvent  what the aggregator pays per event (PatternStore::Add).
//   BM_MemoryPerTenant memory of 100,000 tenants x 10 tables with one filtered column each
//                      (bytes_per_tenant; the documented budget is 1 GiB for all of them).
// Run with `make bench`.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <malloc.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "monitor/event_builder.h"
#include "monitor/monitor.h"
#include "monitor/pattern_store.h"
#include "monitor/ring.h"
#include "sql/analyzer.h"

namespace {

using namespace mosaic;

struct Statement {
  std::string sql = "SELECT id, total FROM orders WHERE tenant_id = $1 AND customer_id = $2 AND created_at >= $3";
  sql::Lexed lexed;
  std::shared_ptr<const sql::Analysis> analysis;
  router::Bound bound;
  router::Route route;
  std::string p1 = "tenant-42", p2 = "1234", p3 = "2026-11-01";

  Statement() {
    sql::Lex(sql, &lexed);
    analysis = sql::Analyze(sql, lexed.literals);
    bound.literals = &lexed.literals;
    for (const std::string* p : {&p1, &p2, &p3}) bound.params.push_back({.null = false, .binary = false, .bytes = *p});
    route.nodes = {2};
    route.tenant_known = true;
    route.tenant = "tenant-42";
  }
};

void BM_RecordEvent(benchmark::State& state) {
  Statement s;
  // The worker's side alone: a consumer thread drains the ring without aggregating, so no event
  // is dropped and every iteration pays the full copy (a Recorder is this ring plus a counter).
  monitor::SpscRing<monitor::QueryEvent> ring(1 << 16);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> consumed{0};
  std::thread consumer([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      consumed.fetch_add(ring.Drain([](const monitor::QueryEvent&) {}), std::memory_order_relaxed);
      std::this_thread::yield();
    }
  });
  monitor::QueryEvent slot;
  uint64_t dropped = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    monitor::BuildEvent(*s.analysis, s.bound, s.route, s.lexed.shape_hash, &slot);
    if (monitor::QueryEvent* e = ring.Claim()) {
      const auto end = std::chrono::steady_clock::now();
      *e = slot;
      e->rows = 1;
      e->latency_us = static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(end - start).count());
      e->unix_seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
      ring.Publish();
    } else {
      ++dropped;
    }
  }
  stop = true;
  consumer.join();
  state.counters["dropped"] = static_cast<double>(dropped);
}
BENCHMARK(BM_RecordEvent);

void BM_AggregateEvent(benchmark::State& state) {
  Statement s;
  monitor::PatternStore store;
  monitor::QueryEvent e;
  monitor::BuildEvent(*s.analysis, s.bound, s.route, s.lexed.shape_hash, &e);
  e.unix_seconds = 1800000000;
  int i = 0;
  for (auto _ : state) {
    e.filters[0].value.Set(std::to_string(++i % 1000));
    store.Add(e);
  }
}
BENCHMARK(BM_AggregateEvent);

void BM_MemoryPerTenant(benchmark::State& state) {
  constexpr int kTenants = 100'000, kTables = 10;
  for (auto _ : state) {
    const size_t heap_before = mallinfo2().uordblks;
    monitor::PatternStore store(monitor::PatternStoreOptions{24 * 3600, size_t{4} << 30});
    monitor::QueryEvent e;
    e.unix_seconds = 1800000000;
    e.tenant_known = true;
    e.table_count = 1;
    e.filter_count = 1;
    e.filters[0].op = monitor::FilterOp::kEq;
    e.filters[0].role = monitor::ValueRole::kPoint;
    e.filters[0].column.Set("customer_id");
    for (int t = 0; t < kTenants; ++t) {
      e.tenant.Set(fmt::format("tenant-{:06d}", t));
      e.filters[0].value.Set(std::to_string(t));
      for (int k = 0; k < kTables; ++k) {
        e.tables[0].Set(fmt::format("table_{}", k));
        store.Add(e);
      }
    }
    const auto bytes = static_cast<double>(store.MemoryBytes());
    state.counters["total_MiB"] = bytes / (1 << 20);
    state.counters["bytes_per_tenant"] = bytes / kTenants;
    // What malloc really holds for it (the store's own estimate above drives the budget).
    state.counters["heap_MiB"] = static_cast<double>(mallinfo2().uordblks - heap_before) / (1 << 20);
  }
}
BENCHMARK(BM_MemoryPerTenant)->Iterations(1)->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();

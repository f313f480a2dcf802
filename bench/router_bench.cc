// Micro-benchmarks of routing: router::Plan against a shard map with 1 million placements
// (250,000 tenants, each with its orders table split into 4 date ranges over 3 nodes), for a
// point lookup by tenant and a range scan inside a tenant, with values from Bind parameters;
// and the shard-map lookups alone. Run with `make bench`.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <memory>
#include <random>
#include <string>

#include "catalog/shard_map.h"
#include "router/keys.h"
#include "router/router.h"
#include "sql/analyzer.h"

namespace {

using mosaic::catalog::Layout;
using mosaic::catalog::Range;
using mosaic::catalog::ShardMap;
using mosaic::router::KeyType;

constexpr int kTenants = 250'000;
constexpr int kRangesPerTenant = 4;

const ShardMap& Map() {
  static const std::unique_ptr<ShardMap> map = [] {
    auto m = std::make_unique<ShardMap>();
    m->version = 1;
    for (int id = 1; id <= 3; ++id) m->nodes.push_back({.id = id, .dsn = "", .host = "127.0.0.1", .port = 5432 + id});
    mosaic::catalog::Table orders;
    orders.id = 1;
    orders.name = "orders";
    orders.kind = mosaic::catalog::TableKind::kDistributed;
    orders.tenant_column = "tenant_id";
    orders.columns = {{"tenant_id", "int4", 23}, {"id", "int8", 20}, {"order_date", "date", 1082}, {"amount", "numeric", 1700}};
    m->tables.push_back(orders);
    const char* bounds[] = {"2024-01-01", "2024-04-01", "2024-07-01"};
    m->layouts.reserve(kTenants);
    for (int t = 1; t <= kTenants; ++t) {
      Layout layout;
      layout.id = t;
      layout.tenant = std::to_string(t);
      layout.table_ids = {1};
      layout.column = "order_date";
      layout.key_type = KeyType::kDate;
      for (int r = 0; r < kRangesPerTenant; ++r) {
        Range range;
        if (r > 0) {
          range.lower = bounds[r - 1];
          range.lower_key = mosaic::router::EncodeKey(KeyType::kDate, bounds[r - 1]).value();
        }
        if (r + 1 < kRangesPerTenant) {
          range.upper = bounds[r];
          range.upper_key = mosaic::router::EncodeKey(KeyType::kDate, bounds[r]).value();
        }
        range.node_id = 1 + (t + r) % 3;
        layout.ranges.push_back(std::move(range));
      }
      m->layouts.push_back(std::move(layout));
    }
    m->BuildIndex();
    return m;
  }();
  return *map;
}

struct Prepared {
  std::shared_ptr<const mosaic::sql::Analysis> analysis;
  mosaic::sql::Lexed lexed;
};

Prepared Prepare(const std::string& sql) {
  Prepared p;
  mosaic::sql::Lex(sql, &p.lexed);
  p.analysis = mosaic::sql::Analyze(sql, p.lexed.literals);
  return p;
}

void BM_PlanPointByTenant(benchmark::State& state) {
  const ShardMap& map = Map();
  Prepared p = Prepare("SELECT id, amount FROM orders WHERE tenant_id = $1 AND order_date = $2");
  std::mt19937 rng(42);
  std::vector<std::string> tenants;
  for (int i = 0; i < 1024; ++i) tenants.push_back(std::to_string(1 + rng() % kTenants));
  const std::string date = "2024-05-17";
  mosaic::router::Bound bound;
  bound.literals = &p.lexed.literals;
  bound.params.resize(2);
  bound.params[1] = {.null = false, .binary = false, .bytes = date};
  size_t i = 0;
  for (auto _ : state) {
    bound.params[0] = {.null = false, .binary = false, .bytes = tenants[i++ & 1023]};
    auto route = mosaic::router::Plan(map, *p.analysis, bound);
    benchmark::DoNotOptimize(route);
  }
  state.counters["placements"] = static_cast<double>(kTenants) * kRangesPerTenant;
}
BENCHMARK(BM_PlanPointByTenant);

void BM_PlanRangeInTenant(benchmark::State& state) {
  const ShardMap& map = Map();
  Prepared p = Prepare(
      "SELECT count(*) FROM orders WHERE tenant_id = 4242 AND order_date >= '2024-02-01' AND order_date < '2024-08-01'");
  mosaic::router::Bound bound;
  bound.literals = &p.lexed.literals;
  for (auto _ : state) {
    auto route = mosaic::router::Plan(map, *p.analysis, bound);
    benchmark::DoNotOptimize(route);
  }
}
BENCHMARK(BM_PlanRangeInTenant);

// Over state.range(0) random tenants (a power of two): 1024 stay in the CPU caches (a hot
// working set), 262144 mostly do not (every lookup misses to memory).
void BM_FindLayoutAndRange(benchmark::State& state) {
  const ShardMap& map = Map();
  std::mt19937 rng(7);
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<std::string> tenants;
  for (size_t i = 0; i < n; ++i) tenants.push_back(std::to_string(1 + rng() % kTenants));
  const std::string key = mosaic::router::EncodeKey(KeyType::kDate, "2024-05-17").value();
  size_t i = 0;
  for (auto _ : state) {
    const Layout* layout = map.FindLayout(1, tenants[i++ & (n - 1)]);
    benchmark::DoNotOptimize(layout->RangeFor(key).node_id);
  }
}
BENCHMARK(BM_FindLayoutAndRange)->Arg(1024)->Arg(1 << 18);

}  // namespace

BENCHMARK_MAIN();

// Micro-benchmarks of the advisor: planning one tenant with 10 tables (two pairs joined) whose key
// heat comes in 10,000 histogram buckets in all (and 100,000, to show the growth), on 8 nodes;
// and a small tenant (one table, 64 buckets), the unit of a fleet-wide pass. Run with `make bench`.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <random>
#include <string>

#include "advisor/engine.h"
#include "router/keys.h"

namespace {

using mosaic::advisor::ColumnFilter;
using mosaic::advisor::FilterOp;
using mosaic::advisor::NodeLoad;
using mosaic::advisor::StatementStats;
using mosaic::advisor::TenantInput;
using mosaic::catalog::ShardMap;
using mosaic::router::KeyType;

constexpr int kNodes = 8;

std::string Int(int64_t v) { return mosaic::router::EncodeKey(KeyType::kInt, std::to_string(v)).value(); }
ShardMap Map(int tables) {
  ShardMap m;
  m.version = 1;
  for (int id = 1; id <= kNodes; ++id) m.nodes.push_back({.id = id, .dsn = "", .host = "127.0.0.1", .port = 5432 + id});
  for (int t = 0; t < tables; ++t) {
    mosaic::catalog::Table table;
    table.id = t + 1;
    table.name = fmt::format("t{}", t);
    table.kind = mosaic::catalog::TableKind::kDistributed;
    table.tenant_column = "tenant_id";
    table.columns = {{"tenant_id", "int4", 23}, {"id", "int8", 20}, {"account", "int8", 20}, {"note", "text", 25}};
    m.tables.push_back(table);
  }
  m.BuildIndex();
  return m;
}

// A tenant over `tables` tables with `buckets` heat buckets in all, Zipf-like on `id`; t0-t1 and
// t2-t3 are joined on id. Deterministic.
TenantInput Tenant(int tables, int buckets) {
  std::mt19937 rng(42);
  TenantInput in;
  in.tenant = "42";
  const int per_table = buckets / tables;
  for (int t = 0; t < tables; ++t) {
    const std::string name = fmt::format("t{}", t);
    mosaic::advisor::ColumnHeat heat{name, "id", {}};
    for (int b = 0; b < per_table; ++b) {
      heat.buckets.push_back({Int(int64_t{b} * 1000), Int(int64_t{b + 1} * 1000), 1000.0 / (1 + b % 97) + rng() % 10});
    }
    in.workload.heat.push_back(std::move(heat));
    mosaic::advisor::ColumnDistribution ids{"id", {}};
    for (int q = 0; q <= 100; ++q) ids.quantiles.push_back(Int(int64_t{q} * per_table * 10));
    in.stats.push_back({name, 1e6, 1e9 * (1 + t % 3), {ids}});
    StatementStats by_id;
    by_id.fingerprint = name + " by id";
    by_id.calls = 1000;
    by_id.cost = 100 + 10 * t;
    by_id.tables = {name};
    by_id.filters = {ColumnFilter{name, "id", FilterOp::kEq, {}}};
    in.workload.statements.push_back(by_id);
    StatementStats by_account = by_id;
    by_account.fingerprint = name + " by account";
    by_account.cost = 20;
    by_account.filters = {ColumnFilter{name, "account", FilterOp::kRange, {}}};
    in.workload.statements.push_back(by_account);
  }
  if (tables >= 4) {
    in.workload.joins.push_back({"t0", "id", "t1", "id", 100});
    in.workload.joins.push_back({"t2", "id", "t3", "id", 100});
  }
  return in;
}

std::vector<NodeLoad> Background() {
  std::vector<NodeLoad> out;
  for (int id = 1; id <= kNodes; ++id) out.push_back({id, 400.0, 4e9});
  return out;
}

void PlanTenant(benchmark::State& state, int tables, int buckets) {
  const ShardMap map = Map(tables);
  const TenantInput in = Tenant(tables, buckets);
  const auto background = Background();
  mosaic::advisor::Profile profile;
  profile.degree = mosaic::advisor::ShardingDegree::kFine;
  size_t actions = 0;
  for (auto _ : state) {
    auto plan = mosaic::advisor::PlanTenant(map, background, in, profile);
    actions = plan.actions.size();
    benchmark::DoNotOptimize(plan);
  }
  state.counters["actions"] = static_cast<double>(actions);
}

void BM_PlanTenant10Tables10kBuckets(benchmark::State& state) { PlanTenant(state, 10, 10'000); }
void BM_PlanTenant10Tables100kBuckets(benchmark::State& state) { PlanTenant(state, 10, 100'000); }
void BM_PlanSmallTenant(benchmark::State& state) { PlanTenant(state, 1, 64); }

BENCHMARK(BM_PlanTenant10Tables10kBuckets)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PlanTenant10Tables100kBuckets)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PlanSmallTenant)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();

// The advisor's quality benchmark (issue 6, deliverable 6): on synthetic tenant windows with
// known structure (bench/advisor_quality.h), the imbalance of the advisor's plan against the exact
// optimum for the same number of ranges, static tenant-hash placement and a CockroachDB-style
// load-based split; and the time to plan a fleet of 10,000 tenants over 10 tables each.
// Run with `make bench`, or build/bench/advisor_quality_bench. Numbers are counters; the time
// column of the quality benchmarks is the cost of measuring (the exact reference dominates).
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <map>

#include "advisor_quality.h"

namespace {

namespace q = mosaic::advisor::quality;
using mosaic::advisor::ColumnFilter;
using mosaic::advisor::FilterOp;
using mosaic::advisor::NodeLoad;
using mosaic::advisor::StatementStats;
using mosaic::advisor::TenantInput;
using mosaic::router::KeyType;

q::FamilySpec Spec(const std::string& name) {
  q::FamilySpec s;
  s.name = name;
  if (name == "customers_zipf") {
    s.shape = q::Shape::kCustomers;
    s.seed = 11;
  } else if (name == "customers_steep_capacities") {
    s.shape = q::Shape::kCustomers;
    s.zipf_s = 1.4;
    s.capacities = {2, 1, 1, 1, 1};
    s.seed = 12;
  } else if (name == "customers_zipf_no_background") {
    s.shape = q::Shape::kCustomers;
    s.background_share = 0;
    s.seed = 13;
  } else if (name == "dates_hot") {
    s.shape = q::Shape::kDates;
    s.seed = 21;
  } else if (name == "dates_hot_no_background") {
    s.shape = q::Shape::kDates;
    s.background_share = 0;
    s.seed = 23;
  } else {  // dates_hot_capacities
    s.shape = q::Shape::kDates;
    s.hot_days = 7;
    s.hot_share = 0.9;
    s.capacities = {2, 2, 1, 1};
    s.background_share = 0.4;
    s.seed = 22;
  }
  return s;
}

void Quality(benchmark::State& state, const std::string& name) {
  const q::Family family = q::Generate(Spec(name));
  q::Result r;
  for (auto _ : state) {
    r = q::Measure(family);
    benchmark::DoNotOptimize(r);
  }
  state.counters["advisor_imbalance"] = r.advisor_imbalance;
  state.counters["optimum_imbalance"] = r.optimum_imbalance;
  state.counters["advisor_vs_optimum"] = r.optimum_imbalance > 0 ? r.advisor_imbalance / r.optimum_imbalance : 0;
  state.counters["advisor_max_range"] = r.advisor_max_range;
  state.counters["optimum_max_range"] = r.optimum_max_range;
  state.counters["hash_imbalance"] = r.hash_imbalance;
  state.counters["loadsplit_imbalance"] = r.loadsplit_imbalance;
  state.counters["single_node_share"] = r.advisor_single_node;
  state.counters["loadsplit_single_node_share"] = r.loadsplit_single_node;
  state.counters["ranges"] = r.advisor_ranges;
  state.counters["loadsplit_ranges"] = r.loadsplit_ranges;
  state.counters["column_ok"] = r.column_ok ? 1 : 0;
  // The reference's own arithmetic against the engine's what-if of the same layout (1 = agree).
  state.counters["reference_check"] = r.optimum_imbalance > 0 ? r.optimum_reference / r.optimum_imbalance : 0;
  state.counters["candidates"] = static_cast<double>(r.candidates);
  state.SetLabel(r.column_ok ? "column ok" : "column WRONG");
}

void BM_QualityCustomersZipf(benchmark::State& state) { Quality(state, "customers_zipf"); }
void BM_QualityCustomersSteepCapacities(benchmark::State& state) { Quality(state, "customers_steep_capacities"); }
void BM_QualityCustomersZipfNoBackground(benchmark::State& state) { Quality(state, "customers_zipf_no_background"); }
void BM_QualityDatesHot(benchmark::State& state) { Quality(state, "dates_hot"); }
void BM_QualityDatesHotNoBackground(benchmark::State& state) { Quality(state, "dates_hot_no_background"); }
void BM_QualityDatesHotCapacities(benchmark::State& state) { Quality(state, "dates_hot_capacities"); }

BENCHMARK(BM_QualityCustomersZipf)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QualityCustomersSteepCapacities)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QualityCustomersZipfNoBackground)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QualityDatesHot)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QualityDatesHotNoBackground)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_QualityDatesHotCapacities)->Iterations(1)->Unit(benchmark::kMillisecond);

// Planning a fleet: 10,000 tenants, each with rows in all 10 distributed tables (two pairs
// joined on id), 8 nodes, every tenant listed in the catalog and whole on its hash node.
// Per table: stats with 9 quantiles, 4 heat buckets on id, two statement shapes (= on id,
// range on created_at). Tenant sizes are lognormal; fixed seed.
constexpr int kFleetTenants = 10'000;
constexpr int kFleetTables = 10;
constexpr int kFleetNodes = 8;

std::string Int(int64_t v) { return mosaic::router::EncodeKey(KeyType::kInt, std::to_string(v)).value(); }

struct Fleet {
  mosaic::catalog::ShardMap map;
  std::vector<TenantInput> tenants;
  std::vector<NodeLoad> totals;
};

Fleet MakeFleet() {
  Fleet f;
  f.map.version = 1;
  for (int id = 1; id <= kFleetNodes; ++id) {
    mosaic::catalog::Node n;
    n.id = id;
    f.map.nodes.push_back(n);
  }
  for (int t = 0; t < kFleetTables; ++t) {
    f.map.tables.push_back(q::MakeTable(t + 1, fmt::format("t{}", t), {{"id", "int8", 20}, {"created_at", "timestamptz", 1184}}));
  }
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> size(0, 1.5);
  std::map<int, NodeLoad> totals;
  for (int k = 0; k < kFleetTenants; ++k) {
    TenantInput in;
    in.tenant = std::to_string(100'000 + k);
    f.map.tenants.push_back({in.tenant, ""});
    const double scale = size(rng);
    const int64_t rows = 1000 + static_cast<int64_t>(scale * 10'000);
    for (int t = 0; t < kFleetTables; ++t) {
      const std::string name = fmt::format("t{}", t);
      mosaic::advisor::ColumnDistribution ids{"id", {}};
      for (int i = 0; i <= 8; ++i) ids.quantiles.push_back(Int(rows * i / 8));
      in.stats.push_back({name, static_cast<double>(rows), static_cast<double>(rows) * 200, {ids}});
      mosaic::advisor::ColumnHeat heat{name, "id", {}};
      for (int b = 0; b < 4; ++b) heat.buckets.push_back({Int(rows * b / 4), Int(rows * (b + 1) / 4), scale * (b + 1)});
      in.workload.heat.push_back(std::move(heat));
      StatementStats by_id;
      by_id.fingerprint = name + " by id";
      by_id.calls = 100 * scale;
      by_id.cost = 10 * scale;
      by_id.tables = {name};
      by_id.filters = {ColumnFilter{name, "id", FilterOp::kEq, {}}};
      in.workload.statements.push_back(by_id);
      StatementStats by_date = by_id;
      by_date.fingerprint = name + " by created_at";
      by_date.cost = 2 * scale;
      by_date.filters = {ColumnFilter{name, "created_at", FilterOp::kRange, {}}};
      in.workload.statements.push_back(by_date);
    }
    in.workload.joins.push_back({"t0", "id", "t1", "id", 10});
    in.workload.joins.push_back({"t2", "id", "t3", "id", 10});
    f.tenants.push_back(std::move(in));
  }
  f.map.BuildIndex();
  for (const auto& in : f.tenants) {
    NodeLoad& n = totals[f.map.TenantHomeNode(in.tenant)];
    n.node_id = f.map.TenantHomeNode(in.tenant);
    for (const auto& s : in.workload.statements) n.cost += s.Weight();
    for (const auto& s : in.stats) n.bytes += s.bytes;
  }
  for (const auto& [id, n] : totals) f.totals.push_back(n);
  return f;
}

void BM_PlanFleet10kTenants10Tables(benchmark::State& state) {
  const Fleet fleet = MakeFleet();
  mosaic::advisor::ProfileSet profiles;
  size_t actions = 0;
  for (auto _ : state) {
    auto plans = mosaic::advisor::PlanFleet(fleet.map, fleet.totals, fleet.tenants, profiles);
    actions = 0;
    for (const auto& p : plans) actions += p.actions.size();
    benchmark::DoNotOptimize(plans);
  }
  state.counters["tenants"] = kFleetTenants;
  state.counters["tables"] = kFleetTables;
  state.counters["actions"] = static_cast<double>(actions);
}

BENCHMARK(BM_PlanFleet10kTenants10Tables)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

// Micro-benchmarks of statement analysis: the shape lexer alone, an AnalysisCache hit (lex +
// lookup) and a miss (lex + libpg_query parse + tree walk), for a pgbench point SELECT and a
// three-table join with ten predicates. Run with `make bench`.
#include <benchmark/benchmark.h>

#include <string>

#include "sql/analyzer.h"

namespace {

const std::string kPgbench = "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;";
const std::string kJoin =
    "SELECT o.id, c.name, sum(l.amount) FROM orders o JOIN customers c ON c.id = o.customer_id "
    "JOIN lines l ON l.order_id = o.id WHERE o.tenant_id = 42 AND c.tenant_id = 42 "
    "AND l.tenant_id = 42 AND o.status IN ('open', 'paid') AND o.created_at >= '2024-01-01' "
    "AND o.created_at < '2024-02-01' AND c.region = 'eu' AND l.sku <> 'x' AND l.qty BETWEEN 1 "
    "AND 10 AND c.deleted_at IS NULL GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 20";

const std::string& Query(int which) { return which == 0 ? kPgbench : kJoin; }

void BM_Lex(benchmark::State& state) {
  const std::string& sql = Query(static_cast<int>(state.range(0)));
  mosaic::sql::Lexed lexed;
  for (auto _ : state) {
    mosaic::sql::Lex(sql, &lexed);
    benchmark::DoNotOptimize(lexed.shape_hash);
  }
}
BENCHMARK(BM_Lex)->Arg(0)->Arg(1);

void BM_CacheHit(benchmark::State& state) {
  const std::string& sql = Query(static_cast<int>(state.range(0)));
  mosaic::sql::AnalysisCache cache;
  mosaic::sql::Lexed lexed;
  cache.Get(sql, &lexed);
  for (auto _ : state) benchmark::DoNotOptimize(cache.Get(sql, &lexed));
}
BENCHMARK(BM_CacheHit)->Arg(0)->Arg(1);

// A miss: what every new shape costs (the same text in a fresh, empty cache each time).
void BM_CacheMiss(benchmark::State& state) {
  const std::string& sql = Query(static_cast<int>(state.range(0)));
  mosaic::sql::Lexed lexed;
  for (auto _ : state) {
    mosaic::sql::AnalysisCache cache(1);
    benchmark::DoNotOptimize(cache.Get(sql, &lexed));
  }
}
BENCHMARK(BM_CacheMiss)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();

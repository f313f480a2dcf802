// Micro-benchmarks of the protocol codec on the data path: framing a DataRow-heavy result and
// encoding DataRows. Run with `make bench`.
#include <benchmark/benchmark.h>

#include "protocol/codec.h"
#include "sql/classifier.h"

namespace {

std::string DataRows(int rows) {
  std::string out;
  for (int i = 0; i < rows; ++i) {
    std::string id = std::to_string(i);
    mosaic::protocol::WriteDataRow(&out, {id, std::string_view("some text value"), std::nullopt});
  }
  return out;
}

void BM_FrameDataRows(benchmark::State& state) {
  const std::string buf = DataRows(1000);
  mosaic::protocol::Framer framer(mosaic::protocol::Framer::Phase::kRegular, 1 << 30);
  for (auto _ : state) {
    std::string_view rest = buf;
    mosaic::protocol::Frame frame;
    size_t consumed = 0;
    int n = 0;
    while (framer.Next(rest, &frame, &consumed) == mosaic::protocol::DecodeResult::kReady) {
      rest.remove_prefix(consumed);
      ++n;
    }
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_FrameDataRows);

void BM_EncodeDataRows(benchmark::State& state) {
  std::string out;
  for (auto _ : state) {
    out.clear();
    for (int i = 0; i < 1000; ++i) {
      mosaic::protocol::WriteDataRow(&out, {std::string_view("12345"), std::string_view("some text value"), std::nullopt});
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_EncodeDataRows);

void BM_ClassifySelect(benchmark::State& state) {
  const std::string sql = "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;";
  for (auto _ : state) benchmark::DoNotOptimize(mosaic::sql::Classify(sql));
}
BENCHMARK(BM_ClassifySelect);

}  // namespace

BENCHMARK_MAIN();

// Micro-benchmarks of scatter-gather merging and range-key encoding: a DataRow-heavy result
// (10k rows x 5 columns) decoded, merged and re-encoded by the Merger, concatenated or k-way
// merged from 3 sources; EncodeKey for int, text and timestamp keys.
// Each iteration allocates fresh ~1 MB buffers: glibc's mmap threshold makes the first benchmark
// pay page faults for them. For steady numbers run with
//   MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456 build/bench/merge_bench
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "protocol/codec.h"
#include "router/keys.h"
#include "router/merge.h"

namespace {

using mosaic::router::MergeSpec;
using mosaic::router::Merger;

constexpr int kRows = 10'000;
constexpr int kSources = 3;

std::string RowDescriptionBody() {
  std::string msg;
  mosaic::protocol::MessageWriter w(&msg);
  w.Begin('T').Int16(5);
  const int32_t oids[] = {20, 25, 1700, 1184, 25};  // int8, text, numeric, timestamptz, text
  const char* names[] = {"id", "name", "amount", "created", "note"};
  for (int i = 0; i < 5; ++i) w.CString(names[i]).Int32(0).Int16(0).Int32(oids[i]).Int16(-1).Int32(-1).Int16(0);
  w.End();
  return msg.substr(5);
}

// Source s holds ids s, s + kSources, ...: each source sorted by id, interleaved across sources.
std::vector<std::vector<std::string>> SourceRows() {
  std::vector<std::vector<std::string>> sources(kSources);
  for (int i = 0; i < kRows; ++i) {
    std::string id = std::to_string(i);
    std::string amount = std::to_string(i % 1000) + "." + std::to_string(i % 100);
    std::string msg;
    mosaic::protocol::WriteDataRow(&msg, {id, std::string_view("customer name"), amount,
                                          std::string_view("2024-01-05 10:00:00.123+00"), std::nullopt});
    sources[static_cast<size_t>(i % kSources)].push_back(msg.substr(5));
  }
  return sources;
}

void RunMerge(benchmark::State& state, const MergeSpec& spec) {
  const std::string desc = RowDescriptionBody();
  const auto sources = SourceRows();
  size_t bytes = 0;
  for (auto _ : state) {
    Merger merger(spec, kSources);
    for (int s = 0; s < kSources; ++s) {
      (void)merger.Add(s, 'T', desc);
      for (const std::string& row : sources[static_cast<size_t>(s)]) (void)merger.Add(s, 'D', row);
      (void)merger.Add(s, 'C', std::string_view("SELECT 1\0", 9));
    }
    std::string out;
    if (!merger.Finish(&out, true).ok()) state.SkipWithError("merge failed");
    bytes = out.size();
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * kRows);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

MergeSpec AllColumns() {
  MergeSpec spec;
  for (int c = 0; c < 5; ++c) spec.outputs.push_back({c});
  return spec;
}

void BM_MergeConcat(benchmark::State& state) { RunMerge(state, AllColumns()); }
BENCHMARK(BM_MergeConcat);

void BM_MergeConcatDropColumn(benchmark::State& state) {
  MergeSpec spec = AllColumns();
  spec.visible_outputs = 4;
  RunMerge(state, spec);
}
BENCHMARK(BM_MergeConcatDropColumn);

void BM_MergeKWayByInt(benchmark::State& state) {
  MergeSpec spec = AllColumns();
  spec.order_by = {{0, false, false}};
  RunMerge(state, spec);
}
BENCHMARK(BM_MergeKWayByInt);

void BM_MergeSortByNumeric(benchmark::State& state) {
  MergeSpec spec = AllColumns();
  spec.order_by = {{2, true, true}};
  spec.presorted = false;
  RunMerge(state, spec);
}
BENCHMARK(BM_MergeSortByNumeric);

void BM_MergeGroupCountSum(benchmark::State& state) {
  // SELECT name, count(id), sum(amount) GROUP BY name: one group, 10k partial rows.
  MergeSpec spec;
  spec.aggregate = true;
  spec.outputs = {{1}, {0, MergeSpec::Agg::kCount}, {2, MergeSpec::Agg::kSum}};
  spec.group_by = {0};
  RunMerge(state, spec);
}
BENCHMARK(BM_MergeGroupCountSum);

void EncodeKeys(benchmark::State& state, mosaic::router::KeyType type, std::vector<std::string> values) {
  for (auto _ : state) {
    for (const auto& v : values) {
      auto k = mosaic::router::EncodeKey(type, v);
      benchmark::DoNotOptimize(k);
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(values.size()));
}

void BM_EncodeKeyInt(benchmark::State& state) {
  EncodeKeys(state, mosaic::router::KeyType::kInt, {"42", "-9223372036854775808", " 1234567 ", "0"});
}
BENCHMARK(BM_EncodeKeyInt);

void BM_EncodeKeyText(benchmark::State& state) {
  EncodeKeys(state, mosaic::router::KeyType::kText, {"acme", "a somewhat longer tenant name", "x", ""});
}
BENCHMARK(BM_EncodeKeyText);

void BM_EncodeKeyTimestampTz(benchmark::State& state) {
  EncodeKeys(state, mosaic::router::KeyType::kTimestampTz,
             {"2024-01-05 10:00:00+00", "2024-01-05T10:00:00.123456Z", "1999-12-31 23:59:59-05:30", "infinity"});
}
BENCHMARK(BM_EncodeKeyTimestampTz);

void BM_EncodeKeyNumeric(benchmark::State& state) {
  EncodeKeys(state, mosaic::router::KeyType::kNumeric, {"12345.678", "-0.001", "1e20", "42"});
}
BENCHMARK(BM_EncodeKeyNumeric);

}  // namespace

BENCHMARK_MAIN();

// The workload's results: latency percentiles, counts per transaction kind, errors by SQLSTATE,
// the busiest tenants, and their rendering as text (the end-of-run report, the per-interval
// line) and JSON (`--json`).
//
// Pure: no I/O, no clock.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace mosaic::workload {

// Nearest-rank percentile (p in (0, 100]) of `sorted` ascending; 0 when empty.
double Percentile(const std::vector<double>& sorted, double p);

struct LatencySummary {
  int64_t count = 0;
  double mean_ms = 0, p50_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0;
};
// REQUIRES: nothing; sorts its copy of the latencies (milliseconds).
LatencySummary Summarize(std::vector<double> latencies_ms);

// Counters of one client or of a whole run; Merge adds another's.
struct Tally {
  int64_t transactions = 0, errors = 0;
  std::map<std::string, int64_t> errors_by_sqlstate;
  std::map<std::string, std::string> first_error;  // SQLSTATE -> the first message seen
  std::map<std::string, std::vector<double>> latencies_ms;  // kind -> latencies of committed txns
  std::map<std::string, int64_t> errors_by_kind;
  std::map<int64_t, int64_t> tenant_transactions;
  int64_t inserted_orders = 0, inserted_order_items = 0, inserted_events = 0;
  void Merge(const Tally& other);
  void AddError(const std::string& kind, const std::string& sqlstate, const std::string& message);
};

struct RunInfo {
  int clients = 0;
  double duration_s = 0, elapsed_s = 0, rate = 0, zipf = 0, write_ratio = 0;
  uint64_t seed = 0;
  int64_t tenants = 0;
};

// The end-of-run report as JSON: run, transactions, errors, tps, latency_ms (overall), kinds
// {name: {transactions, errors, latency_ms}}, errors_by_sqlstate, top_tenants [{tenant,
// transactions}] (at most `top`, busiest first), inserted {orders, order_items, events}.
nlohmann::json ReportJson(const RunInfo& info, const Tally& tally, size_t top = 10);
// The same as text tables.
std::string ReportText(const nlohmann::json& report);
// One line per --report-interval: "[  5.0s] tps 812.4 | errors 0 | p50 1.20 ms p99 4.51 ms".
std::string IntervalLine(double at_s, double interval_s, int64_t transactions, int64_t errors,
                         std::vector<double> latencies_ms);

}  // namespace mosaic::workload

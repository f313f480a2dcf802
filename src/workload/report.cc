#include "workload/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

namespace mosaic::workload {

using Json = nlohmann::json;

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

LatencySummary Summarize(std::vector<double> latencies_ms) {
  std::sort(latencies_ms.begin(), latencies_ms.end());
  LatencySummary s;
  s.count = static_cast<int64_t>(latencies_ms.size());
  if (latencies_ms.empty()) return s;
  s.mean_ms = std::accumulate(latencies_ms.begin(), latencies_ms.end(), 0.0) / static_cast<double>(s.count);
  s.p50_ms = Percentile(latencies_ms, 50);
  s.p95_ms = Percentile(latencies_ms, 95);
  s.p99_ms = Percentile(latencies_ms, 99);
  s.max_ms = latencies_ms.back();
  return s;
}

void Tally::Merge(const Tally& o) {
  transactions += o.transactions;
  errors += o.errors;
  for (const auto& [code, n] : o.errors_by_sqlstate) errors_by_sqlstate[code] += n;
  for (const auto& [code, message] : o.first_error) first_error.emplace(code, message);
  for (const auto& [kind, l] : o.latencies_ms) {
    auto& mine = latencies_ms[kind];
    mine.insert(mine.end(), l.begin(), l.end());
  }
  for (const auto& [kind, n] : o.errors_by_kind) errors_by_kind[kind] += n;
  for (const auto& [tenant, n] : o.tenant_transactions) tenant_transactions[tenant] += n;
  inserted_orders += o.inserted_orders;
  inserted_order_items += o.inserted_order_items;
  inserted_events += o.inserted_events;
}

void Tally::AddError(const std::string& kind, const std::string& sqlstate, const std::string& message) {
  ++errors;
  ++errors_by_kind[kind];
  ++errors_by_sqlstate[sqlstate];
  first_error.emplace(sqlstate, message);
}

namespace {

Json LatencyJson(const LatencySummary& s) {
  auto round = [](double ms) { return std::round(ms * 1000) / 1000; };
  return {{"mean", round(s.mean_ms)}, {"p50", round(s.p50_ms)}, {"p95", round(s.p95_ms)},
          {"p99", round(s.p99_ms)},   {"max", round(s.max_ms)}};
}

}  // namespace

Json ReportJson(const RunInfo& info, const Tally& tally, size_t top) {
  std::vector<double> all;
  Json kinds = Json::object();
  std::set<std::string> kind_names;
  for (const auto& [kind, l] : tally.latencies_ms) kind_names.insert(kind);
  for (const auto& [kind, n] : tally.errors_by_kind) kind_names.insert(kind);
  for (const auto& kind : kind_names) {
    auto it = tally.latencies_ms.find(kind);
    const std::vector<double> l = it == tally.latencies_ms.end() ? std::vector<double>{} : it->second;
    all.insert(all.end(), l.begin(), l.end());
    auto errs = tally.errors_by_kind.find(kind);
    kinds[kind] = {{"transactions", l.size()},
                   {"errors", errs == tally.errors_by_kind.end() ? 0 : errs->second},
                   {"latency_ms", LatencyJson(Summarize(l))}};
  }
  std::vector<std::pair<int64_t, int64_t>> tenants(tally.tenant_transactions.begin(), tally.tenant_transactions.end());
  std::stable_sort(tenants.begin(), tenants.end(), [](auto& a, auto& b) { return a.second > b.second; });
  Json top_tenants = Json::array();
  for (size_t i = 0; i < tenants.size() && i < top; ++i) {
    top_tenants.push_back({{"tenant", tenants[i].first}, {"transactions", tenants[i].second}});
  }
  Json errors = Json::array();
  for (const auto& [code, n] : tally.errors_by_sqlstate) {
    errors.push_back({{"sqlstate", code}, {"count", n}, {"message", tally.first_error.at(code)}});
  }
  const double elapsed = info.elapsed_s > 0 ? info.elapsed_s : 1;
  return {{"run", {{"clients", info.clients}, {"duration_s", info.duration_s}, {"elapsed_s", std::round(info.elapsed_s * 1000) / 1000},
                   {"rate", info.rate}, {"zipf", info.zipf}, {"write_ratio", info.write_ratio}, {"seed", info.seed},
                   {"tenants", info.tenants}}},
          {"transactions", tally.transactions},
          {"errors", tally.errors},
          {"tps", std::round(static_cast<double>(tally.transactions) / elapsed * 10) / 10},
          {"latency_ms", LatencyJson(Summarize(all))},
          {"kinds", kinds},
          {"errors_by_sqlstate", errors},
          {"top_tenants", top_tenants},
          {"inserted", {{"orders", tally.inserted_orders}, {"order_items", tally.inserted_order_items},
                        {"events", tally.inserted_events}}}};
}

std::string ReportText(const Json& r) {
  auto lat = [](const Json& l) {
    return fmt::format("{:>9.2f} {:>9.2f} {:>9.2f} {:>9.2f} {:>9.2f}", l["mean"].get<double>(), l["p50"].get<double>(),
                       l["p95"].get<double>(), l["p99"].get<double>(), l["max"].get<double>());
  };
  std::string out = fmt::format("transactions {}  errors {}  tps {:.1f}  elapsed {:.1f}s  clients {}\n\n",
                                r["transactions"].get<int64_t>(), r["errors"].get<int64_t>(), r["tps"].get<double>(),
                                r["run"]["elapsed_s"].get<double>(), r["run"]["clients"].get<int>());
  out += fmt::format("{:<18} {:>8} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9}\n", "KIND", "TXNS", "ERRORS", "MEAN_MS",
                     "P50_MS", "P95_MS", "P99_MS", "MAX_MS");
  for (const auto& [kind, k] : r["kinds"].items()) {
    out += fmt::format("{:<18} {:>8} {:>6} {}\n", kind, k["transactions"].get<int64_t>(), k["errors"].get<int64_t>(),
                       lat(k["latency_ms"]));
  }
  out += fmt::format("{:<18} {:>8} {:>6} {}\n", "all", r["transactions"].get<int64_t>(), r["errors"].get<int64_t>(),
                     lat(r["latency_ms"]));
  if (!r["errors_by_sqlstate"].empty()) {
    out += "\nSQLSTATE  COUNT  FIRST MESSAGE\n";
    for (const auto& e : r["errors_by_sqlstate"]) {
      out += fmt::format("{:<9} {:>5}  {}\n", e["sqlstate"].get<std::string>(), e["count"].get<int64_t>(),
                         e["message"].get<std::string>());
    }
  }
  out += "\nTOP TENANTS  TXNS\n";
  for (const auto& t : r["top_tenants"]) {
    out += fmt::format("{:>11}  {}\n", t["tenant"].get<int64_t>(), t["transactions"].get<int64_t>());
  }
  const auto& ins = r["inserted"];
  out += fmt::format("\ninserted: {} orders, {} order_items, {} events\n", ins["orders"].get<int64_t>(),
                     ins["order_items"].get<int64_t>(), ins["events"].get<int64_t>());
  return out;
}

std::string IntervalLine(double at_s, double interval_s, int64_t transactions, int64_t errors,
                         std::vector<double> latencies_ms) {
  const LatencySummary s = Summarize(std::move(latencies_ms));
  return fmt::format("[{:6.1f}s] tps {:8.1f} | errors {} | p50 {:.2f} ms p99 {:.2f} ms", at_s,
                     interval_s > 0 ? static_cast<double>(transactions) / interval_s : 0.0, errors, s.p50_ms,
                     s.p99_ms);
}

}  // namespace mosaic::workload

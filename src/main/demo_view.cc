#include "main/demo_view.h"

#include <fmt/format.h>

#include <algorithm>

#include "main/admin_client.h"
#include "main/migrate_cli.h"

namespace mosaic {

using Json = nlohmann::json;

namespace {

constexpr size_t kNewsLines = 8;
constexpr size_t kViewMigrations = 5;

std::string Fit(const std::string& line, int width) {
  if (width <= 3 || static_cast<int>(line.size()) <= width) return line;
  return line.substr(0, static_cast<size_t>(width - 3)) + "...";
}

std::string Bound(const Json& v, const char* unbounded) { return v.is_null() ? unbounded : JsonText(v); }

// "orders: created_at (range 92%), hot [2024-03-01, 2024-03-15) 64%" for a tenant's busiest
// table and its most filtered column.
std::string PatternText(const Json& patterns) {
  const Json tables = patterns.value("tables", Json::array());
  if (tables.empty()) return "no table statements yet";
  const Json& t = tables.front();
  std::string out = fmt::format("{}: {} statements", JsonText(t.value("table", Json())), JsonNumber(t, "statements"));
  const Json columns = t.value("columns", Json::array());
  if (columns.empty()) return out + ", no filtered column";
  const Json& c = columns.front();
  const double filters = std::max(1.0, JsonNumber(c, "filters"));
  const Json ops = c.value("by_op", Json::object());
  std::string op = "eq";
  for (const char* name : {"in", "range", "other"}) {
    if (JsonNumber(ops, name) > JsonNumber(ops, op.c_str())) op = name;
  }
  out += fmt::format(", filtered by {} ({} {:.0f}%)", JsonText(c.value("column", Json())), op,
                     100 * JsonNumber(ops, op.c_str()) / filters);
  const Json hot = c.value("hot_ranges", Json::array());
  if (!hot.empty()) {
    out += fmt::format(", hot [{}, {}) {:.0f}%", Bound(hot[0].value("lower", Json()), "-inf"),
                       Bound(hot[0].value("upper", Json()), "+inf"), 100 * JsonNumber(hot[0], "share"));
  }
  return out;
}

std::vector<std::string> ListedTenants(const DemoRecord& record) {
  std::vector<std::string> out;
  for (const Json& t : record.tenants().value("tenants", Json::array())) {
    const std::string name = JsonText(t.value("tenant", Json()));
    if (record.patterns().count(name)) out.push_back(name);
  }
  return out;
}

std::string TrafficText(const TrafficSample& s) {
  return fmt::format("{:.1f} tps, p50 {:.2f} ms, p99 {:.2f} ms, errors {}", s.tps, s.p50_ms, s.p99_ms, s.errors);
}

void AddTraffic(const DemoRecord& record, const std::vector<TrafficSample>& samples, const DemoInfo& info,
                double now_s, std::vector<std::string>& out) {
  out.push_back(fmt::format("TRAFFIC    `mosaic workload` in-process, through Mosaic's listener: {} clients{}; hot "
                            "windows move every {:.0f} s", info.clients,
                            info.rate > 0 ? fmt::format(" at {:.0f} tps", info.rate) : "", info.hot_shift_s));
  if (samples.empty()) {
    out.push_back("  starting...");
    return;
  }
  std::string line = "  last 2 s: " + TrafficText(samples.back());
  if (auto ba = record.BeforeAfter(info.traffic_from_s, now_s)) {
    const TrafficStats before = TrafficIn(samples, ba->first), after = TrafficIn(samples, ba->second);
    line += fmt::format("   | before the first adaptation {:.1f} tps, p99 {:.2f} ms; after {:.1f} tps, p99 {:.2f} ms",
                        before.tps, before.p99_ms, after.tps, after.p99_ms);
  }
  out.push_back(line);
}

void AddNodes(const DemoRecord& record, std::vector<std::string>& out) {
  out.push_back("NODES      statements/s per node since the last refresh, and share of all (/metrics "
                "mosaic_node_statements_total)");
  const auto rates = record.LatestNodeRates();
  double total = 0;
  for (const auto& [node, rate] : rates) total += rate;
  if (rates.empty()) out.push_back("  measuring...");
  for (const auto& [node, rate] : rates) {
    out.push_back(fmt::format("  node {}  {}  {:7.1f}/s", node,
                              ProgressBar(static_cast<int64_t>(rate * 10), static_cast<int64_t>(total * 10), 30), rate));
  }
}

void AddPatterns(const DemoRecord& record, const DemoInfo& info, std::vector<std::string>& out) {
  out.push_back(fmt::format("PATTERNS   the busiest tenants of the last {} s (GET /api/v1/patterns)", info.window_s));
  const auto tenants = ListedTenants(record);
  if (tenants.empty()) out.push_back("  no statements yet");
  for (const Json& t : record.tenants().value("tenants", Json::array())) {
    const std::string name = JsonText(t.value("tenant", Json()));
    if (!record.patterns().count(name)) continue;
    out.push_back(fmt::format("  tenant {:<4} {:6.1f} stmt/s  {}", name,
                              JsonNumber(t, "statements") / std::max<double>(1, static_cast<double>(info.window_s)),
                              PatternText(record.patterns().at(name))));
  }
}

void AddPlans(const DemoRecord& record, std::vector<std::string>& out) {
  out.push_back("PLAN       per tenant: the advisor's plan for it alone (GET /api/v1/advice), and what the rebalancer, "
                "planning all tenants together, last decided (GET /api/v1/events)");
  if (record.advice().empty()) out.push_back("  waiting for patterns...");
  for (const auto& [tenant, advice] : record.advice()) {
    out.push_back(fmt::format("  tenant {} ({}): {}", tenant, JsonText(advice.value("profile", Json())), PlanLine(advice)));
    if (!advice.value("actions", Json::array()).empty()) {
      out.push_back("      why: " + JsonText(advice.value("summary", Json(""))));
    }
    if (const Json* e = record.LatestEventOf(tenant)) out.push_back("      rebalancer: " + EventLine(*e));
  }
}

void AddMigrations(const DemoRecord& record, std::vector<std::string>& out) {
  out.push_back("MIGRATIONS (GET /api/v1/migrations; newest first)");
  Json shown = Json::object();
  shown["migrations"] = Json::array();
  for (const Json& m : record.migrations().value("migrations", Json::array())) {
    if (shown["migrations"].size() < kViewMigrations) shown["migrations"].push_back(m);
  }
  std::string table = FormatMigrations(shown, false);
  size_t start = 0;
  while (start < table.size()) {
    const size_t end = table.find('\n', start);
    out.push_back("  " + table.substr(start, end - start));
    start = end == std::string::npos ? table.size() : end + 1;
  }
}

void AddRebalancer(const DemoRecord& record, std::vector<std::string>& out) {
  const Json& r = record.rebalancer();
  if (r.is_object()) {
    out.push_back(fmt::format("REBALANCER {}{}: nodes' load imbalance {} (threshold {}); round {}, every {} s over the "
                              "last {} s (GET /api/v1/rebalancer)", r.value("paused", false) ? "paused" : "running",
                              r.value("dry_run", false) ? " (dry run)" : "",
                              record.imbalance() ? fmt::format("{:.2f}", *record.imbalance()) : "-",
                              JsonText(r.value("imbalance_threshold", Json())), JsonText(r.value("rounds", Json())),
                              JsonText(r.value("interval_s", Json())), JsonText(r.value("window_s", Json()))));
  } else {
    out.push_back("REBALANCER not reported by this router (no GET /api/v1/rebalancer)");
  }
  out.push_back("  news: rebalancer decisions, migration phases, plan changes");
  const auto& news = record.news();
  const size_t from = news.size() > kNewsLines ? news.size() - kNewsLines : 0;
  if (news.empty()) out.push_back("    none yet");
  for (size_t i = from; i < news.size(); ++i) out.push_back("    " + news[i]);
}

std::string Lines(const std::vector<std::string>& lines, int width) {
  std::string out;
  for (const auto& l : lines) out += Fit(l, width) + "\n";
  return out;
}

}  // namespace

std::string RenderView(const DemoRecord& record, const std::vector<TrafficSample>& samples, const DemoInfo& info,
                       double now_s, int width) {
  std::vector<std::string> out;
  out.push_back(fmt::format("Mosaic demo  {} managed nodes  {}{}  connect: {}  admin: {}", info.nodes,
                            ElapsedText(now_s), info.duration_s > 0 ? " / " + ElapsedText(info.duration_s) : " (Ctrl-C ends)",
                            info.psql, info.admin));
  out.push_back("");
  AddTraffic(record, samples, info, now_s, out);
  out.push_back("");
  AddNodes(record, out);
  out.push_back("");
  AddPatterns(record, info, out);
  out.push_back("");
  AddPlans(record, out);
  out.push_back("");
  AddMigrations(record, out);
  out.push_back("");
  AddRebalancer(record, out);
  return Lines(out, width);
}

std::string StatusLine(const DemoRecord& record, const std::vector<TrafficSample>& samples, double now_s) {
  std::string line = "[" + ElapsedText(now_s) + "] traffic " + (samples.empty() ? "starting" : TrafficText(samples.back()));
  std::string nodes;
  for (const auto& [node, rate] : record.LatestNodeRates()) nodes += fmt::format(" {}:{:.0f}", node, rate);
  if (!nodes.empty()) line += " | statements/s per node" + nodes;
  int active = 0;
  for (const Json& m : record.migrations().value("migrations", Json::array())) active += MigrationActive(m) ? 1 : 0;
  line += fmt::format(" | active migrations {}", active);
  return record.imbalance() ? line + fmt::format(" | imbalance {:.2f}", *record.imbalance()) : line;
}

namespace {

void SummaryFound(const DemoRecord& record, const DemoInfo& info, std::string& out) {
  out += fmt::format("\nFound (the busiest tenants of the last {} s, GET /api/v1/patterns):\n", info.window_s);
  std::vector<std::string> lines;
  AddPatterns(record, info, lines);
  for (size_t i = 1; i < lines.size(); ++i) out += lines[i] + "\n";
}

// "tenant 1: split public.orders on created_at into 3 ranges (nodes 1, 2, 3)"
std::string ActionText(const Json& m) { return "tenant " + TenantText(m.value("tenant", Json())) + ": " + ActionLine(m); }

// "migration 3 done after ~14 s (1200 rows copied, cutover pause 35 ms)"; with the origin after the
// id if `origin`.
std::string OutcomeText(const MigrationTrack& t, bool origin = false) {
  const Json& m = t.last;
  const std::string phase = JsonText(m.value("phase", Json()));
  const Json progress = m.value("progress", Json::object());
  std::string out = fmt::format("migration {}{} {}", JsonText(m.value("id", Json())),
                                origin ? " (" + JsonText(m.value("origin", Json("manual"))) + ")" : "", phase);
  if (t.finished_s) out += fmt::format(" after ~{:.0f} s", *t.finished_s - t.seen_s);
  out += fmt::format(" ({:.0f} rows copied", JsonNumber(progress, "rows_copied"));
  const Json pause = m.value("timings", Json::object()).value("cutover_pause_ms", Json());
  if (pause.is_number()) out += fmt::format(", cutover pause {:.0f} ms", pause.get<double>());
  out += ")";
  const std::string error = JsonText(m.value("error", Json()));
  if (!error.empty()) out += ": " + error;
  return out;
}

// The nodes' load imbalance (heaviest node's load / the mean, in the advisor's model of statement
// cost and bytes) before and after an automatic migration: the rebalancer's numbers for its plan
// when its event is known, else what it reported before the migration and at the end.
std::string ImbalanceText(const DemoRecord& record, int64_t id, const MigrationTrack& t) {
  if (const Json* e = record.ActedEventOf(id)) {
    const Json numbers = e->value("numbers", Json::object());
    return fmt::format("imbalance {:.2f} -> {:.2f} (the rebalancer's plan, trigger {})",
                       JsonNumber(numbers, "imbalance_before"), JsonNumber(numbers, "imbalance_after"),
                       JsonText(e->value("trigger", Json("?"))));
  }
  if (t.imbalance_before && record.imbalance()) {
    return fmt::format("imbalance {:.2f} -> {:.2f} (GET /api/v1/rebalancer before it and at the end)",
                       *t.imbalance_before, *record.imbalance());
  }
  return "imbalance not known before it";
}

void SummaryAdaptations(const DemoRecord& record, std::string& out) {
  out += "\nAutomatic adaptations (migrations the rebalancer started; imbalance = the nodes' load, heaviest / mean):\n";
  const auto ids = record.RebalancerMigrations();
  if (ids.empty()) out += "  none\n";
  for (int64_t id : ids) {
    const MigrationTrack& t = record.tracks().at(id);
    out += fmt::format("  [{}] {}: {}; {}\n", ElapsedText(t.seen_s), ActionText(t.last), ImbalanceText(record, id, t),
                       OutcomeText(t));
  }
  if (record.imbalance()) {
    out += fmt::format("  nodes' load imbalance at the end (the rebalancer's last round): {:.2f}, threshold {}\n",
                       *record.imbalance(), JsonText(record.rebalancer().value("imbalance_threshold", Json())));
  }
  if (record.has_events_api()) {
    std::map<std::string, std::map<std::string, int>> decisions;
    for (const auto& [id, e] : record.events()) {
      const std::string cause = JsonText(e.value("cause", Json()));
      ++decisions[JsonText(e.value("decision", Json()))][cause.empty() ? "-" : cause];
    }
    std::string text;
    for (const auto& [decision, causes] : decisions) {
      int n = 0;
      std::string detail;
      for (const auto& [cause, count] : causes) {
        n += count;
        if (cause != "-") detail += fmt::format("{}{} {}", detail.empty() ? "" : ", ", cause, count);
      }
      text += fmt::format("{}{} {}{}", text.empty() ? "" : "; ", n, decision, detail.empty() ? "" : " (" + detail + ")");
    }
    out += "  rebalancer decisions: " + (text.empty() ? "none" : text) + "\n";
  } else {
    out += "  rebalancer decisions: not reported by this router (no GET /api/v1/events)\n";
  }
}

void SummaryMigrations(const DemoRecord& record, std::string& out) {
  out += "\nMigrations (all, GET /api/v1/migrations):\n";
  if (record.tracks().empty()) out += "  none\n";
  std::map<std::string, int> phases;
  for (const auto& [id, t] : record.tracks()) {
    ++phases[JsonText(t.last.value("phase", Json()))];
    out += fmt::format("  {}: {}\n", OutcomeText(t, true), ActionText(t.last));
  }
  std::string counts;
  for (const auto& [phase, n] : phases) counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", n, phase);
  if (!counts.empty()) out += "  outcomes: " + counts + "\n";
}

void SummaryBeforeAfter(const DemoRecord& record, const std::vector<TrafficSample>& samples, const DemoInfo& info,
                        double end_s, std::string& out) {
  auto ba = record.BeforeAfter(info.traffic_from_s, end_s);
  if (!ba) {
    const TrafficStats all = TrafficIn(samples, {info.traffic_from_s, end_s});
    out += fmt::format("\nNo automatic migration cut over, so no before / after. The whole run: {:.1f} tps, p99 "
                       "{:.2f} ms (median of the 2-s intervals), {} errors.\n", all.tps, all.p99_ms, all.errors);
    return;
  }
  const auto& [before, after] = *ba;
  const TrafficStats b = TrafficIn(samples, before), a = TrafficIn(samples, after);
  out += fmt::format("\nBefore ({}-{}) and after ({}-{}) the first automatic migration; the copy in between is left "
                     "out:\n", ElapsedText(before.from_s), ElapsedText(before.to_s), ElapsedText(after.from_s),
                     ElapsedText(after.to_s));
  std::vector<TableRow> rows = {{"", "BEFORE", "AFTER", "MEASURED AS"},
                                {"TPS", fmt::format("{:.1f}", b.tps), fmt::format("{:.1f}", a.tps),
                                 "workload clients, mean of the 2-s intervals"},
                                {"p50 ms", fmt::format("{:.2f}", b.p50_ms), fmt::format("{:.2f}", a.p50_ms),
                                 "workload clients, median of the 2-s intervals' p50"},
                                {"p99 ms", fmt::format("{:.2f}", b.p99_ms), fmt::format("{:.2f}", a.p99_ms),
                                 "workload clients, median of the 2-s intervals' p99"},
                                {"errors", std::to_string(b.errors), std::to_string(a.errors), "failed transactions"}};
  const auto nb = record.NodeRatesIn(before), na = record.NodeRatesIn(after);
  std::map<int, std::pair<double, double>> nodes;
  for (const auto& [n, r] : nb) nodes[n].first = r;
  for (const auto& [n, r] : na) nodes[n].second = r;
  for (const auto& [n, r] : nodes) {
    rows.push_back({fmt::format("node {} stmt/s", n), fmt::format("{:.1f}", r.first), fmt::format("{:.1f}", r.second),
                    "statements run on the node (mosaic_node_statements_total)"});
  }
  std::string table = RenderTable(rows);
  for (size_t start = 0; start < table.size();) {
    const size_t end = table.find('\n', start);
    out += "  " + table.substr(start, end - start + 1);
    start = end + 1;
  }
}

}  // namespace

std::string RenderSummary(const DemoRecord& record, const std::vector<TrafficSample>& samples, const DemoInfo& info,
                          double end_s, const Json& report) {
  std::string out = fmt::format("\n=== Mosaic demo summary ({} run, {} managed nodes) ===\n", ElapsedText(end_s), info.nodes);
  if (report.is_object()) {
    const Json latency = report.value("latency_ms", Json::object());
    out += fmt::format("Traffic: {} transactions through Mosaic ({} clients), {:.1f} tps, p50 {:.2f} ms, p99 {:.2f} ms, "
                       "{} errors\n", JsonText(report.value("transactions", Json())), info.clients,
                       JsonNumber(report, "tps"), JsonNumber(latency, "p50"), JsonNumber(latency, "p99"),
                       JsonText(report.value("errors", Json())));
    for (const Json& e : report.value("errors_by_sqlstate", Json::array())) {
      out += fmt::format("  {} x {}: {}\n", JsonText(e.value("sqlstate", Json())), JsonText(e.value("count", Json())),
                         JsonText(e.value("message", Json())));
    }
  }
  SummaryFound(record, info, out);
  SummaryAdaptations(record, out);
  SummaryMigrations(record, out);
  SummaryBeforeAfter(record, samples, info, end_s, out);
  return out;
}

}  // namespace mosaic

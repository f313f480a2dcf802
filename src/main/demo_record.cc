#include "main/demo_record.h"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

#include "main/admin_client.h"
#include "main/migrate_cli.h"

namespace mosaic {

using Json = nlohmann::json;

namespace {

std::string Joined(const Json& list, const char* separator = ", ") {
  std::string out;
  if (!list.is_array()) return out;
  for (const Json& v : list) out += (out.empty() ? "" : separator) + JsonText(v);
  return out;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

bool CutOver(const std::string& phase) { return phase == "deprecated" || phase == "done"; }

// What a plan does, without its numbers and nodes (they vary from poll to poll as the window
// moves): the news say when it changes.
std::string PlanKey(const Json& advice) {
  std::string key;
  for (const Json& a : advice.value("actions", Json::array())) {
    key += JsonText(a.value("action", Json())) + "|" + Joined(a.value("tables", Json::array())) + "|" +
           JsonText(a.value("column", Json())) + ";";
  }
  return key;
}

std::string Stamp(double at_s) { return "[" + ElapsedText(at_s) + "] "; }

}  // namespace

std::map<int, double> NodeStatementsFromMetrics(const std::string& metrics_text) {
  static constexpr std::string_view kPrefix = "mosaic_node_statements_total{node=\"";
  std::map<int, double> out;
  std::istringstream in(metrics_text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with(kPrefix)) continue;
    int node = 0;
    double value = 0;
    if (std::sscanf(line.c_str() + kPrefix.size(), "%d\"} %lf", &node, &value) == 2) out[node] = value;
  }
  return out;
}

std::string TenantText(const Json& tenant) { return tenant.is_null() ? "(implicit)" : JsonText(tenant); }

std::string ElapsedText(double seconds) {
  const auto s = static_cast<int64_t>(std::max(0.0, seconds));
  return fmt::format("{:02}:{:02}", s / 60, s % 60);
}

TrafficStats TrafficIn(const std::vector<TrafficSample>& samples, const Period& period) {
  TrafficStats out;
  std::vector<double> p99, p50;
  double tps = 0;
  for (const TrafficSample& s : samples) {
    if (s.at_s < period.from_s || s.at_s >= period.to_s) continue;
    ++out.intervals;
    tps += s.tps;
    out.errors += s.errors;
    p99.push_back(s.p99_ms);
    p50.push_back(s.p50_ms);
  }
  if (out.intervals == 0) return out;
  out.tps = tps / out.intervals;
  out.p99_ms = Median(std::move(p99));
  out.p50_ms = Median(std::move(p50));
  return out;
}

std::string ActionLine(const Json& a) {
  const Json ranges = a.value("ranges", Json::array());
  std::string nodes;
  for (const Json& r : ranges) nodes += (nodes.empty() ? "" : ", ") + JsonText(r.value("node", Json()));
  const std::string kind = JsonText(a.value("action", Json())), column = JsonText(a.value("column", Json()));
  std::string out = kind + " " + Joined(a.value("tables", Json::array()));
  if (!column.empty()) out += " on " + column;
  if (ranges.size() == 1) return out + (kind == "move" ? " to node " : ", whole on node ") + nodes;
  return out + fmt::format(" into {} ranges (nodes {})", ranges.size(), nodes);
}

std::string PlanLine(const Json& advice) {
  const Json actions = advice.value("actions", Json::array());
  if (actions.empty()) return "no action: " + JsonText(advice.value("summary", Json("")));
  std::string out;
  for (const Json& a : actions) out += (out.empty() ? "" : "; ") + ActionLine(a);
  return out + fmt::format(": imbalance {:.2f} -> {:.2f}", JsonNumber(advice.value("current", Json()), "imbalance"),
                           JsonNumber(advice.value("predicted", Json()), "imbalance"));
}

std::string EventLine(const Json& e) {
  std::string decision = JsonText(e.value("decision", Json()));
  const std::string cause = JsonText(e.value("cause", Json()));
  if (!cause.empty()) decision += " (" + cause + ")";
  std::string what = e.contains("action") && !e["action"].is_null() ? JsonText(e["action"]) + " " : "";
  const std::string tables = Joined(e.value("tables", Json::array()));
  // An event about no tenant and no table is about the cluster as a whole.
  what += e.value("tenant", Json()).is_null() && tables.empty() ? "the nodes" : "tenant " + TenantText(e.value("tenant", Json()));
  if (!tables.empty()) what += " (" + tables + ")";
  const std::string trigger = JsonText(e.value("trigger", Json()));
  if (!trigger.empty()) what += " [" + trigger + "]";
  std::string out = decision + ": " + what;
  const Json numbers = e.value("numbers", Json::object());
  if (numbers.contains("imbalance_before") && numbers.contains("imbalance_after")) {
    out += fmt::format(", imbalance {:.2f} -> {:.2f}", JsonNumber(numbers, "imbalance_before"),
                       JsonNumber(numbers, "imbalance_after"));
  }
  const std::string reason = JsonText(e.value("reason", Json("")));
  if (!reason.empty()) out += ": " + reason;
  if (e.contains("migration_id") && !e["migration_id"].is_null()) out += " -> migration " + JsonText(e["migration_id"]);
  return out;
}

std::vector<std::string> DemoRecord::Add(const DemoPoll& poll) {
  std::vector<std::string> news;
  if (!poll.tenants.is_null()) tenants_ = poll.tenants;
  if (!poll.patterns.empty()) patterns_ = poll.patterns;
  if (!poll.rebalancer.is_null()) rebalancer_ = poll.rebalancer;
  AddEvents(poll.events, &news);
  AddMigrations(poll.at_s, poll.migrations, &news);  // with the imbalance of the poll before
  AddAdvice(poll.at_s, poll.advice, &news);
  if (poll.rebalancer.is_object() && poll.rebalancer.value("imbalance", Json()).is_number()) {
    imbalance_ = poll.rebalancer["imbalance"].get<double>();
  }
  if (poll.node_statements) node_counts_.emplace_back(poll.at_s, *poll.node_statements);
  for (std::string& line : news) line = Stamp(poll.at_s) + line;
  news_.insert(news_.end(), news.begin(), news.end());
  return news;
}

void DemoRecord::AddEvents(const Json& reply, std::vector<std::string>* news) {
  if (!reply.is_object() || !reply.contains("events")) return;
  has_events_api_ = true;
  // A decision repeated every round (the same tenant deferred or rejected for the same cause) is
  // news only the first time in a row.
  std::map<std::string, std::string> said;
  for (const auto& [id, e] : events_) said[TenantText(e.value("tenant", Json()))] = JsonText(e.value("decision", Json())) + JsonText(e.value("cause", Json()));
  for (const Json& e : reply["events"]) {
    const auto id = static_cast<int64_t>(JsonNumber(e, "id"));
    if (id <= last_event_id_) continue;
    last_event_id_ = id;
    events_[id] = e;
    const std::string key = JsonText(e.value("decision", Json())) + JsonText(e.value("cause", Json()));
    std::string& last = said[TenantText(e.value("tenant", Json()))];
    if (key != last || key == "acted") news->push_back("rebalancer " + EventLine(e));
    last = key;
  }
  last_event_id_ = std::max(last_event_id_, static_cast<int64_t>(JsonNumber(reply, "last_id")));
}

void DemoRecord::AddMigrations(double at_s, const Json& reply, std::vector<std::string>* news) {
  if (!reply.is_object() || !reply.contains("migrations")) return;
  migrations_ = reply;
  for (const Json& m : reply["migrations"]) {
    const auto id = static_cast<int64_t>(JsonNumber(m, "id"));
    const std::string phase = JsonText(m.value("phase", Json()));
    auto [it, fresh] = tracks_.try_emplace(id);
    MigrationTrack& t = it->second;
    if (fresh) {
      t.seen_s = at_s;
      t.imbalance_before = imbalance_;
      news->push_back(fmt::format("migration {} ({}) for tenant {}: {}: {}", id,
                                  JsonText(m.value("origin", Json("manual"))), TenantText(m.value("tenant", Json())),
                                  ActionLine(m), phase));
    } else if (JsonText(t.last.value("phase", Json())) != phase) {
      std::string line = fmt::format("migration {}: {} -> {}", id, JsonText(t.last.value("phase", Json())), phase);
      if (phase == "failed" || phase == "rolled_back") line += ": " + JsonText(m.value("error", Json("")));
      news->push_back(line);
    }
    if (CutOver(phase) && !t.cutover_s) t.cutover_s = at_s;
    if (!MigrationActive(m) && !t.finished_s && !fresh) t.finished_s = at_s;  // unknown if it ended before it was seen
    t.last = m;
  }
}

void DemoRecord::AddAdvice(double at_s, const std::map<std::string, Json>& advice, std::vector<std::string>* news) {
  constexpr double kPlanMemoryS = 60;  // a plan flipping back to one seen this recently is no news
  for (const auto& [tenant, reply] : advice) {
    if (!reply.is_object()) continue;
    advice_[tenant] = reply;
    const std::string key = PlanKey(reply);
    auto& seen = plans_seen_[tenant];
    auto it = seen.find(key);
    const bool recent = it != seen.end() && at_s - it->second < kPlanMemoryS;
    if (!recent && (!seen.empty() || !key.empty())) {
      news->push_back(fmt::format("plan for tenant {}: {}", tenant, PlanLine(reply)));
    }
    seen[key] = at_s;
  }
}

std::map<int, double> DemoRecord::NodeRatesIn(const Period& period) const {
  const std::pair<double, std::map<int, double>>* first = nullptr;
  const std::pair<double, std::map<int, double>>* last = nullptr;
  for (const auto& c : node_counts_) {
    if (c.first < period.from_s || c.first > period.to_s) continue;
    if (!first) first = &c;
    last = &c;
  }
  std::map<int, double> out;
  if (!first || first == last || last->first <= first->first) return out;
  for (const auto& [node, total] : last->second) {
    auto before = first->second.find(node);
    out[node] = (total - (before == first->second.end() ? 0 : before->second)) / (last->first - first->first);
  }
  return out;
}

std::map<int, double> DemoRecord::LatestNodeRates() const {
  if (node_counts_.size() < 2) return {};
  const auto& a = node_counts_[node_counts_.size() - 2];
  const auto& b = node_counts_.back();
  return NodeRatesIn({a.first, b.first});
}

std::vector<int64_t> DemoRecord::RebalancerMigrations() const {
  std::vector<int64_t> out;
  for (const auto& [id, t] : tracks_) {
    if (JsonText(t.last.value("origin", Json())) == "rebalancer") out.push_back(id);
  }
  return out;
}

std::optional<std::pair<Period, Period>> DemoRecord::BeforeAfter(double traffic_from_s, double end_s) const {
  const auto ids = RebalancerMigrations();
  if (ids.empty()) return std::nullopt;
  const MigrationTrack& first = tracks_.at(ids.front());  // ids ascend with creation
  if (!first.cutover_s) return std::nullopt;
  return std::pair{Period{traffic_from_s, first.seen_s}, Period{*first.cutover_s, end_s}};
}

const Json* DemoRecord::ActedEventOf(int64_t migration_id) const {
  for (const auto& [id, e] : events_) {
    if (JsonText(e.value("decision", Json())) == "acted" && e.contains("migration_id") &&
        e["migration_id"].is_number() && e["migration_id"].get<int64_t>() == migration_id) {
      return &e;
    }
  }
  return nullptr;
}

const Json* DemoRecord::LatestEventOf(const std::string& tenant) const {
  for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
    const Json& t = it->second.value("tenant", Json());
    if (t.is_string() && t.get<std::string>() == tenant) return &it->second;
  }
  return nullptr;
}

}  // namespace mosaic

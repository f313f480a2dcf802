// What `mosaic demo` saw during its run: each poll of the admin API (patterns, advice, migrations,
// rebalancer events, per-node statement counters) folded into one record, with the news each poll
// brought (rebalancer decisions, migration phase changes, new plans) and the before / after
// comparison of the first automatic adaptation.
//
// Pure: no I/O, no clock (times are seconds since the demo started, given by the caller), no
// locks. The live view and the summary (demo_view.h) render it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "main/demo_traffic.h"

namespace mosaic {

// One poll of the admin API. A null JSON value means the call failed or the route is missing
// (e.g. the rebalancer's routes on a router without one).
struct DemoPoll {
  double at_s = 0;
  nlohmann::json tenants;                          // GET /api/v1/patterns?window=W&limit=N
  std::map<std::string, nlohmann::json> patterns;  // tenant -> GET /api/v1/patterns?tenant=T&window=W
  std::map<std::string, nlohmann::json> advice;    // tenant -> GET /api/v1/advice?tenant=T&window=W
  nlohmann::json migrations;                       // GET /api/v1/migrations
  nlohmann::json events;                           // GET /api/v1/events?since=ID
  nlohmann::json rebalancer;                       // GET /api/v1/rebalancer
  std::optional<std::map<int, double>> node_statements;  // mosaic_node_statements_total by node, from /metrics
};

// mosaic_node_statements_total{node="K"} samples of a Prometheus text exposition, by node.
std::map<int, double> NodeStatementsFromMetrics(const std::string& metrics_text);

// A tenant of the API as text: "(implicit)" for null.
std::string TenantText(const nlohmann::json& tenant);

// "mm:ss" of a number of seconds (negative: 0).
std::string ElapsedText(double seconds);

// A stretch of the run, [from_s, to_s).
struct Period {
  double from_s = 0, to_s = 0;
  double length() const { return to_s - from_s; }
};

// Traffic over a period, from the workload's interval lines inside it.
struct TrafficStats {
  int intervals = 0;
  double tps = 0;           // mean of the intervals' TPS
  double p99_ms = 0;        // median of the intervals' p99 (the workload reports p99 per interval)
  double p50_ms = 0;        // likewise
  int64_t errors = 0;       // summed
};
TrafficStats TrafficIn(const std::vector<TrafficSample>& samples, const Period& period);

// One migration as the demo followed it.
struct MigrationTrack {
  nlohmann::json last;             // its latest state in GET /api/v1/migrations
  double seen_s = 0;               // first poll that listed it
  std::optional<double> cutover_s;   // first poll that showed it cut over (deprecated or done)
  std::optional<double> finished_s;  // first poll that showed it end (unset if it had ended when first seen)
  // The nodes' load imbalance (GET /api/v1/rebalancer "imbalance") at the last poll before it was
  // seen.
  std::optional<double> imbalance_before;
};

class DemoRecord {
 public:
  // Folds one poll in. Returns the news it brought, one line each, oldest first: rebalancer
  // events, migration phase changes, a tenant's plan changing (to one not seen in the last minute:
  // plans near the advisor's thresholds flip back and forth).
  std::vector<std::string> Add(const DemoPoll& poll);

  // The latest replies (null before the first that answered).
  const nlohmann::json& tenants() const { return tenants_; }
  const std::map<std::string, nlohmann::json>& patterns() const { return patterns_; }
  const std::map<std::string, nlohmann::json>& advice() const { return advice_; }
  const nlohmann::json& migrations() const { return migrations_; }
  const nlohmann::json& rebalancer() const { return rebalancer_; }
  // The nodes' load imbalance the rebalancer last computed (heaviest node's load / the mean).
  std::optional<double> imbalance() const { return imbalance_; }
  // Whether GET /api/v1/events answered at least once.
  bool has_events_api() const { return has_events_api_; }
  const std::map<int64_t, nlohmann::json>& events() const { return events_; }
  int64_t last_event_id() const { return last_event_id_; }
  const std::map<int64_t, MigrationTrack>& tracks() const { return tracks_; }
  const std::vector<std::string>& news() const { return news_; }  // every news line so far

  // Statements per second on each node over `period` (from the counter polls nearest inside it);
  // empty when fewer than two polls fall inside.
  std::map<int, double> NodeRatesIn(const Period& period) const;
  // The node rates between the last two polls.
  std::map<int, double> LatestNodeRates() const;

  // The migrations the rebalancer started (origin "rebalancer"), by id.
  std::vector<int64_t> RebalancerMigrations() const;
  // Before: from `traffic_from_s` until the first rebalancer migration appeared. After: from its
  // cutover until `end_s`. nullopt when there is no such migration (or it has not cut over).
  std::optional<std::pair<Period, Period>> BeforeAfter(double traffic_from_s, double end_s) const;
  // The rebalancer's "acted" event that started migration `id`, if the events API reported it.
  const nlohmann::json* ActedEventOf(int64_t migration_id) const;
  // The rebalancer's latest event about `tenant` (the tenant key as the API writes it), if any.
  const nlohmann::json* LatestEventOf(const std::string& tenant) const;

 private:
  void AddEvents(const nlohmann::json& reply, std::vector<std::string>* news);
  void AddMigrations(double at_s, const nlohmann::json& reply, std::vector<std::string>* news);
  void AddAdvice(double at_s, const std::map<std::string, nlohmann::json>& advice, std::vector<std::string>* news);

  nlohmann::json tenants_, migrations_, rebalancer_;
  std::map<std::string, nlohmann::json> patterns_, advice_;
  // tenant -> what its plans did (actions, tables, columns) -> when last seen
  std::map<std::string, std::map<std::string, double>> plans_seen_;
  std::optional<double> imbalance_;               // the rebalancer's nodes' load imbalance at the latest poll
  bool has_events_api_ = false;
  std::map<int64_t, nlohmann::json> events_;
  int64_t last_event_id_ = 0;
  std::map<int64_t, MigrationTrack> tracks_;
  std::vector<std::pair<double, std::map<int, double>>> node_counts_;  // (at_s, counter by node)
  std::vector<std::string> news_;
};

// One action of the advisor's format (an advice action, a migration) in words: "split
// public.orders on created_at into 3 ranges (nodes 1, 2, 3)", "move public.events to node 2".
std::string ActionLine(const nlohmann::json& action);
// One line of the plan of an advice reply: its actions' ActionLines, then "imbalance 3.00 ->
// 1.04"; or "no action: <summary>".
std::string PlanLine(const nlohmann::json& advice);
// One line of a rebalancer event: "acted: split tenant 1 (orders) [imbalance]: <reason> ->
// migration 3".
std::string EventLine(const nlohmann::json& event);

}  // namespace mosaic

// The rebalancer: the background loop that keeps every tenant inside its storage profile without
// an operator. Each round it reads what the monitor saw over its window (per tenant), the data
// statistics and the shard map; checks the triggers (a shard over the profile's max_shard_bytes
// or max_shard_rows, a tenant's p99 over max_p99_ms, the nodes' load more uneven than
// imbalance_threshold); asks the advisor for a plan for the tenants concerned; and starts the
// plan's actions as migrations (origin "rebalancer"), each only if
//   - no migration is running on the table group (cause "migrating"),
//   - the tenant's profile allows migrations now (its migration windows; cause "window"),
//   - the group's last migration ended more than cooldown_s ago (cause "cooldown"),
//   - the group's rebalancer migrations have not failed lately, nor the migration service refused
//     its action (exponential back-off; "backoff"),
//   - none of its nodes is busy with another migration (one per node at a time; "concurrency"),
//   - the rebalancer is not in dry-run mode ("dry_run").
// Every decision is an event (acted, deferred, rejected) with its reason and numbers, kept in
// memory for GET /api/v1/events and logged. A decision that repeats round after round is one
// event whose `repeats` and `last_at` grow, not one event per round.
//
// Oscillation is prevented three ways: the advisor's hysteresis (a plan needs a minimum gain; merges
// only well below the split threshold), triggers (no plan is even asked for while every tenant is
// inside its limits and the nodes are within the threshold), and the per-group cool-down.
//
// Everything the loop touches is behind an interface (Source, migration::Backend, the clock), so
// the tests run it against a simulated cluster and an injected clock.
// Thread-safe: rounds are serialised by a mutex; the API's calls may come from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "advisor/engine.h"
#include "advisor/profile.h"
#include "catalog/shard_map.h"
#include "common/config.h"
#include "common/status.h"
#include "migration/service.h"

namespace mosaic::rebalancer {

using Seconds = advisor::Seconds;

// How a round came by its tenants' data statistics.
struct StatisticsUse {
  int read = 0;             // tenants whose statistics were read from the nodes this round
  int cached = 0;           // tenants planned from cached statistics
  double oldest_age_s = 0;  // the age of the oldest cached statistics used
};

// What one round plans from.
struct Inputs {
  std::shared_ptr<const catalog::ShardMap> map;  // with BuildIndex() done
  std::vector<advisor::TenantInput> tenants;     // the busiest tenants of the window, with statistics
  advisor::ProfileSet profiles;
  StatisticsUse statistics;
};

// Reads the inputs of a round (the monitor, the data statistics, the profiles, the shard map).
class Source {
 public:
  virtual ~Source() = default;
  virtual Result<Inputs> Read(int64_t window_s, int max_tenants) = 0;
};

struct Event {
  int64_t id = 0;
  double at = 0;        // unix seconds (the rebalancer's clock), first time decided
  double last_at = 0;   // last round that decided the same
  int64_t round = 0;
  int64_t repeats = 1;  // rounds that decided the same in a row
  std::string decision;  // "acted", "deferred", "rejected"
  std::string cause;     // "" (acted) | window | cooldown | backoff | concurrency | migrating | dry_run | no_gain | error
  std::string tenant;    // canonical tenant key; "" = the implicit tenant
  std::vector<std::string> tables;
  std::string action;    // "split" | "move" | "merge" | "" (a plan with no action)
  std::string trigger;   // what made the round look at the tenant: "size", "latency", "imbalance" (comma-joined)
  std::string reason;    // words and numbers
  nlohmann::json numbers = nlohmann::json::object();
  int64_t migration_id = 0;  // 0 = none
};

nlohmann::json EventJson(const Event& e);

// What made the rebalancer look at one tenant in a round.
struct Trigger {
  std::vector<std::string> kinds;  // "size", "latency", "imbalance"
  std::string detail;              // words and numbers
  nlohmann::json numbers = nlohmann::json::object();
};

// The triggers of one tenant against its profile: a (table, range) over max_shard_rows /
// max_shard_bytes (rows and bytes of a range estimated from the table's statistics and the
// distribution of the range column), its p99 over max_p99_ms. nullopt = none fired. Pure.
std::optional<Trigger> TenantTrigger(const catalog::ShardMap& map, const advisor::TenantInput& input,
                                     const advisor::Profile& profile);

// Why starting `action` of `plan` would gain nothing; "" when it would gain something. Such
// actions are rejected (cause "no_gain") instead of started, round after round:
//   - a split whose pieces all stay on the nodes of the ranges it splits (no row moves) while
//     the plan does not lower the imbalance, unless `size` (a shard over its profile's limit
//     fired) and the split divides the range: its largest piece holds at most kMaxKeptShare of
//     its bytes. Else only boundaries change, and a size estimate just over max_shard_rows had
//     the same range split again after every cool-down;
//   - a split that cuts off a sliver: a piece with less than kMinPieceShare of the split ranges'
//     bytes and of their statement cost (a piece that is small but hot is not a sliver).
// Pure.
inline constexpr double kMinPieceShare = 0.01;
inline constexpr double kMaxKeptShare = 0.9;
std::string NoGain(const advisor::Plan& plan, const advisor::Action& action, bool size);

// The nodes' load imbalance (heaviest capacity-weighted load share / mean; 1 = even) from each
// node's total cost and bytes, weighted as the advisor weighs them. Nodes without load count as 0.
double NodeImbalance(const catalog::ShardMap& map, const std::vector<advisor::NodeLoad>& totals,
                     const advisor::EngineOptions& options);

// Seconds since the epoch of a timestamp as the catalog renders timestamptz
// ("2026-11-29 01:02:03.45+00", also with "T", "Z" or a "+05:30" offset). nullopt if unreadable.
std::optional<double> ParseTimestamp(std::string_view text);

class Rebalancer {
 public:
  using Clock = std::function<Seconds()>;

  // `source` and `migrations` must outlive the rebalancer.
  Rebalancer(Config::Rebalancer options, Source& source, migration::Backend& migrations,
             Clock clock = DefaultClock, advisor::EngineOptions engine = {});
  ~Rebalancer();
  Rebalancer(const Rebalancer&) = delete;
  Rebalancer& operator=(const Rebalancer&) = delete;

  // Starts the loop (a round every interval_s; none if interval_s is 0 or !enabled).
  void Start();
  void Stop();

  struct RoundResult {
    int64_t round = 0;
    std::vector<Event> events;  // decided in this round (repeats included, as they are now)
  };
  // Runs one round now (also when the loop is off). 409 while paused.
  Result<RoundResult> RunRound();

  void Pause();
  void Resume();
  bool paused() const { return paused_.load(); }

  // {"enabled", "paused", "dry_run", "interval_s", "window_s", "rounds", "last_round_at",
  //  "next_round_at", "last_error", "imbalance" (at the last round; null before),
  //  "last_round_s" (its wall-clock duration), "statistics" ({"read", "cached", "oldest_age_s"}
  //  of the last round that read its inputs; null before)}.
  nlohmann::json StatusJson();
  // {"events": [...], "last_id"}: events with id > since, oldest first, at most `limit`.
  nlohmann::json EventsJson(int64_t since, size_t limit);

  static Seconds DefaultClock();

 private:
  struct Decided;  // one decision, before it is an event
  Result<RoundResult> RoundLocked();  // REQUIRES: round_mu_ held
  void Record(const Decided& d, RoundResult* out);
  void Loop();

  const Config::Rebalancer options_;
  Source& source_;
  migration::Backend& migrations_;
  const Clock clock_;
  const advisor::EngineOptions engine_;

  std::atomic<bool> paused_{false};
  std::mutex round_mu_;  // one round at a time

  // Submissions the migration service refused, by group (tenant and tables): they leave no
  // migration record to back off from, so the back-off is kept here (lost on restart).
  struct Refusals {
    int in_a_row = 0;
    double last_at = 0;
  };
  std::map<std::string, Refusals> refusals_;  // guarded by round_mu_

  std::mutex mu_;  // guards the fields below
  std::deque<Event> events_;
  int64_t next_event_id_ = 1;
  int64_t rounds_ = 0;
  double last_round_at_ = 0;
  double next_round_at_ = 0;
  std::string last_error_;
  std::optional<double> last_imbalance_;
  std::optional<double> last_round_s_;
  std::optional<StatisticsUse> last_statistics_;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by stop_mu_
  std::thread thread_;
};

}  // namespace mosaic::rebalancer

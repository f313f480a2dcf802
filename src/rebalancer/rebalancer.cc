#include "rebalancer/rebalancer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "advisor/advice_json.h"
#include "advisor/key_distribution.h"
#include "common/log.h"

namespace mosaic::rebalancer {

using Json = nlohmann::json;

namespace {

constexpr double kMaxBackoffS = 24 * 3600;

bool Terminal(std::string_view phase) { return phase == "done" || phase == "rolled_back" || phase == "failed"; }

std::string TenantName(const std::string& tenant) { return tenant.empty() ? "(implicit)" : tenant; }

std::string Joined(const std::vector<std::string>& parts, std::string_view sep = ", ") {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

// "schema.name" -> the table in `map` (a bare name is public.name).
const catalog::Table* TableNamed(const catalog::ShardMap& map, std::string_view name) {
  const auto dot = name.find('.');
  return dot == std::string_view::npos ? map.FindTable("public", name)
                                       : map.FindTable(name.substr(0, dot), name.substr(dot + 1));
}

std::string Duration(double s) {
  if (s < 120) return fmt::format("{:.0f} s", s);
  if (s < 7200) return fmt::format("{:.0f} min", s / 60);
  return fmt::format("{:.1f} h", s / 3600);
}

std::string Utc(Seconds t) {
  const auto days = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{days};
  const std::chrono::hh_mm_ss hms{t - days};
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02} UTC", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                     static_cast<unsigned>(ymd.day()), hms.hours().count(), hms.minutes().count());
}

// A migration as the rebalancer sees it in GET /api/v1/migrations.
struct Migration {
  int64_t id = 0;
  std::string tenant, phase, origin;
  std::set<std::string> tables;
  std::set<int> nodes;
  std::optional<double> ended;  // unix seconds; nullopt while active (or unreadable)
  double created = 0;
};

std::vector<Migration> ReadMigrations(const Json& body) {
  std::vector<Migration> out;
  for (const Json& m : body.value("migrations", Json::array())) {
    if (!m.is_object()) continue;
    Migration x;
    x.id = m.value("id", int64_t{0});
    x.tenant = m.contains("tenant") && m["tenant"].is_string() ? m["tenant"].get<std::string>() : "";
    x.phase = m.value("phase", std::string());
    x.origin = m.value("origin", std::string());
    for (const Json& t : m.value("tables", Json::array())) {
      if (t.is_string()) x.tables.insert(t.get<std::string>());
    }
    for (const char* list : {"ranges", "from"}) {
      for (const Json& r : m.value(list, Json::array())) {
        if (r.is_object() && r.contains("node") && r["node"].is_number_integer()) x.nodes.insert(r["node"].get<int>());
      }
    }
    for (const Json& f : m.value("flows", Json::array())) {
      for (const char* end : {"source", "target"}) {
        if (f.is_object() && f.contains(end) && f[end].is_number_integer()) x.nodes.insert(f[end].get<int>());
      }
    }
    const Json timings = m.value("timings", Json::object());
    if (timings.contains("created_at") && timings["created_at"].is_string()) {
      x.created = ParseTimestamp(timings["created_at"].get<std::string>()).value_or(0);
    }
    if (timings.contains("finished_at") && timings["finished_at"].is_string()) {
      x.ended = ParseTimestamp(timings["finished_at"].get<std::string>());
      if (!x.ended) x.ended = x.created;
    }
    out.push_back(std::move(x));
  }
  std::sort(out.begin(), out.end(), [](const Migration& a, const Migration& b) { return a.id > b.id; });  // newest first
  return out;
}

bool SameGroup(const Migration& m, const std::string& tenant, const std::vector<std::string>& tables) {
  if (m.tenant != tenant) return false;
  return std::any_of(tables.begin(), tables.end(), [&](const std::string& t) { return m.tables.contains(t); });
}

double Round2(double v) { return std::round(v * 100) / 100; }

// The back-off after `in_a_row` failures: base × 2^(in_a_row − 1), at most a day.
double BackoffS(double base, int in_a_row) { return std::min(kMaxBackoffS, base * std::pow(2.0, in_a_row - 1)); }

std::string GroupKey(const std::string& tenant, const std::vector<std::string>& tables) {
  return tenant + '\0' + Joined(tables, ",");
}

}  // namespace

struct Rebalancer::Decided {
  std::string decision, cause, tenant, action, trigger, reason;
  std::vector<std::string> tables;
  Json numbers = Json::object();
  int64_t migration_id = 0;
};

Json EventJson(const Event& e) {
  return {{"id", e.id},
          {"at", e.at},
          {"last_at", e.last_at},
          {"round", e.round},
          {"repeats", e.repeats},
          {"decision", e.decision},
          {"cause", e.cause},
          {"tenant", e.tenant.empty() ? Json(nullptr) : Json(e.tenant)},
          {"tables", e.tables},
          {"action", e.action.empty() ? Json(nullptr) : Json(e.action)},
          {"trigger", e.trigger},
          {"reason", e.reason},
          {"numbers", e.numbers},
          {"migration_id", e.migration_id == 0 ? Json(nullptr) : Json(e.migration_id)}};
}

std::optional<double> ParseTimestamp(std::string_view text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, consumed = 0;
  double sec = 0;
  const std::string s(text);
  if (std::sscanf(s.c_str(), "%d-%d-%d%*[ T]%d:%d:%lf%n", &y, &mo, &d, &h, &mi, &sec, &consumed) != 6) return std::nullopt;
  std::string_view zone = std::string_view(s).substr(static_cast<size_t>(consumed));
  int offset_s = 0;
  if (!zone.empty() && zone != "Z") {
    const int sign = zone[0] == '-' ? -1 : 1;
    if (zone[0] != '+' && zone[0] != '-') return std::nullopt;
    int oh = 0, om = 0;
    const std::string z(zone.substr(1));
    if (std::sscanf(z.c_str(), "%d:%d", &oh, &om) < 1) return std::nullopt;
    offset_s = sign * (oh * 3600 + om * 60);
  }
  const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(static_cast<unsigned>(mo)),
                                        std::chrono::day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return std::nullopt;
  const double days = static_cast<double>(std::chrono::sys_days(ymd).time_since_epoch().count());
  return days * 86400 + h * 3600 + mi * 60 + sec - offset_s;
}

std::optional<Trigger> TenantTrigger(const catalog::ShardMap& map, const advisor::TenantInput& input,
                                     const advisor::Profile& profile) {
  Trigger t;
  std::string size_detail;
  for (const auto& stats : input.stats) {
    const catalog::Table* table = TableNamed(map, stats.table);
    if (table == nullptr) continue;
    const catalog::Layout* layout = map.FindLayout(table->id, input.tenant);
    // The table's ranges: its layout's, or the whole table on its home node.
    std::vector<double> shares;
    std::vector<std::string> names;
    if (layout == nullptr || layout->ranges.size() <= 1) {
      shares.push_back(1);
      names.push_back("whole");
    } else {
      const advisor::ColumnDistribution* dist = nullptr;
      for (const auto& c : stats.columns) {
        if (c.column == layout->column) dist = &c;
      }
      const auto keys = dist != nullptr ? advisor::KeyDistribution::FromQuantiles(dist->quantiles) : advisor::KeyDistribution();
      for (const auto& r : layout->ranges) {
        shares.push_back(keys.empty() ? 1.0 / static_cast<double>(layout->ranges.size()) : keys.Fraction(r.lower_key, r.upper_key));
        names.push_back(fmt::format("[{}, {}) on node {}", r.lower.value_or("-inf"), r.upper.value_or("+inf"), r.node_id));
      }
    }
    for (size_t i = 0; i < shares.size(); ++i) {
      const double rows = stats.rows * shares[i], bytes = stats.bytes * shares[i];
      const bool over_rows = profile.max_shard_rows > 0 && rows > static_cast<double>(profile.max_shard_rows);
      const bool over_bytes = profile.max_shard_bytes > 0 && bytes > static_cast<double>(profile.max_shard_bytes);
      if (!over_rows && !over_bytes) continue;
      if (size_detail.empty()) {
        size_detail = fmt::format("{} ({}) holds ~{:.0f} rows, ~{:.0f} bytes; profile \"{}\" allows {} rows, {} bytes per shard",
                                  stats.table, names[i], rows, bytes, profile.name,
                                  profile.max_shard_rows > 0 ? std::to_string(profile.max_shard_rows) : "any",
                                  profile.max_shard_bytes > 0 ? std::to_string(profile.max_shard_bytes) : "any");
        t.numbers["shard_rows"] = std::round(rows);
        t.numbers["shard_bytes"] = std::round(bytes);
        if (profile.max_shard_rows > 0) t.numbers["max_shard_rows"] = profile.max_shard_rows;
        if (profile.max_shard_bytes > 0) t.numbers["max_shard_bytes"] = profile.max_shard_bytes;
      }
    }
  }
  std::vector<std::string> details;
  if (!size_detail.empty()) {
    t.kinds.push_back("size");
    details.push_back(size_detail);
  }
  if (profile.max_p99_ms > 0 && input.workload.p99_ms > profile.max_p99_ms) {
    t.kinds.push_back("latency");
    t.numbers["p99_ms"] = Round2(input.workload.p99_ms);
    t.numbers["max_p99_ms"] = profile.max_p99_ms;
    details.push_back(fmt::format("p99 {:.2f} ms > {:.2f} ms of profile \"{}\"", input.workload.p99_ms,
                                  profile.max_p99_ms, profile.name));
  }
  if (t.kinds.empty()) return std::nullopt;
  t.detail = Joined(details, "; ");
  return t;
}

std::string NoGain(const advisor::Plan& plan, const advisor::Action& action, bool size) {
  if (action.kind != advisor::ActionKind::kSplit) return "";
  std::set<int> from_nodes;
  double bytes = 0, cost = 0;
  for (const auto& r : action.from) {
    from_nodes.insert(r.node_id);
    bytes += r.bytes;
    cost += r.cost;
  }
  const bool stays = std::all_of(action.ranges.begin(), action.ranges.end(),
                                 [&](const advisor::PlannedRange& r) { return from_nodes.contains(r.node_id); });
  constexpr double kNoImbalanceGain = 0.005;
  double largest = 0;
  for (const auto& r : action.ranges) largest = std::max(largest, r.bytes);
  const bool divides = bytes > 0 && largest <= kMaxKeptShare * bytes;
  if (stays && plan.predicted.imbalance > plan.current.imbalance - kNoImbalanceGain && !(size && divides)) {
    return fmt::format("the split keeps every piece on its node (0 B to move), the imbalance stays {:.2f} and its "
                       "largest piece holds {:.0f}% of the range's bytes",
                       plan.current.imbalance, bytes > 0 ? 100 * largest / bytes : 100.0);
  }
  for (const auto& r : action.ranges) {
    if (bytes > 0 && r.bytes < kMinPieceShare * bytes && r.cost <= kMinPieceShare * cost) {
      return fmt::format("the split cuts off a sliver: [{}, {}) holds {:.2f}% of the bytes and {:.2f}% of the cost "
                         "of the range it splits (under {:.0f}%)",
                         r.lower.value_or("-inf"), r.upper.value_or("+inf"), 100 * r.bytes / bytes,
                         cost > 0 ? 100 * r.cost / cost : 0.0, 100 * kMinPieceShare);
    }
  }
  return "";
}

double NodeImbalance(const catalog::ShardMap& map, const std::vector<advisor::NodeLoad>& totals,
                     const advisor::EngineOptions& options) {
  double cost = 0, bytes = 0, capacity = 0;
  for (const auto& n : totals) {
    cost += n.cost;
    bytes += n.bytes;
  }
  for (const auto& node : map.nodes) capacity += node.capacity > 0 ? node.capacity : 1;
  const double qw = cost > 0 ? options.query_weight : 0, sw = bytes > 0 ? options.size_weight : 0;
  if (qw + sw <= 0 || capacity <= 0) return 1;
  double worst = 0;
  for (const auto& node : map.nodes) {
    double load = 0;
    for (const auto& n : totals) {
      if (n.node_id == node.id) load += (qw * (cost > 0 ? n.cost / cost : 0) + sw * (bytes > 0 ? n.bytes / bytes : 0)) / (qw + sw);
    }
    worst = std::max(worst, load / ((node.capacity > 0 ? node.capacity : 1) / capacity));
  }
  return worst;
}

Seconds Rebalancer::DefaultClock() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

Rebalancer::Rebalancer(Config::Rebalancer options, Source& source, migration::Backend& migrations, Clock clock,
                       advisor::EngineOptions engine)
    : options_(options), source_(source), migrations_(migrations), clock_(std::move(clock)), engine_(engine) {}

Rebalancer::~Rebalancer() { Stop(); }

void Rebalancer::Start() {
  if (!options_.enabled || options_.interval_s <= 0 || thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    next_round_at_ = static_cast<double>(clock_().time_since_epoch().count()) + options_.interval_s;
  }
  thread_ = std::thread([this] { Loop(); });
}

void Rebalancer::Stop() {
  {
    std::lock_guard lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Rebalancer::Loop() {
  const auto interval = std::chrono::milliseconds(static_cast<int64_t>(options_.interval_s * 1000));
  std::unique_lock lock(stop_mu_);
  while (!stop_cv_.wait_for(lock, interval, [this] { return stopping_; })) {
    lock.unlock();
    if (!paused_.load()) {
      auto r = RunRound();
      if (!r.ok()) log::warn("rebalancer: round failed: {}", r.status().message());
    }
    {
      std::lock_guard guard(mu_);
      next_round_at_ = static_cast<double>(clock_().time_since_epoch().count()) + options_.interval_s;
    }
    lock.lock();
  }
}

void Rebalancer::Pause() {
  paused_.store(true);
  log::info("rebalancer: paused");
}

void Rebalancer::Resume() {
  paused_.store(false);
  log::info("rebalancer: resumed");
}

Result<Rebalancer::RoundResult> Rebalancer::RunRound() {
  if (paused_.load()) return Status::Error("55000", "the rebalancer is paused (POST /api/v1/rebalancer/resume)");
  std::lock_guard round(round_mu_);
  const auto started = std::chrono::steady_clock::now();
  auto r = RoundLocked();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::lock_guard lock(mu_);
  last_error_ = r.ok() ? "" : r.status().message();
  last_round_s_ = took;
  if (r.ok() && last_statistics_) {
    log::info("rebalancer: round {} took {:.2f} s (statistics: {} tenant(s) read, {} cached, the oldest {:.0f} s old)",
              rounds_, took, last_statistics_->read, last_statistics_->cached, last_statistics_->oldest_age_s);
  }
  return r;
}

void Rebalancer::Record(const Decided& d, RoundResult* out) {
  const double now = static_cast<double>(clock_().time_since_epoch().count());
  std::lock_guard lock(mu_);
  // The same decision as in the previous round for the same subject: one event, repeated.
  if (d.decision != "acted") {
    for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
      if (it->tenant != d.tenant || it->tables != d.tables || it->action != d.action) continue;
      if (it->round != rounds_ - 1 && it->round != rounds_) break;
      if (it->decision != d.decision || it->cause != d.cause) break;
      it->repeats += it->round == rounds_ ? 0 : 1;
      it->round = rounds_;
      it->last_at = now;
      it->reason = d.reason;
      it->numbers = d.numbers;
      it->trigger = d.trigger;
      out->events.push_back(*it);
      return;
    }
  }
  Event e;
  e.id = next_event_id_++;
  e.at = e.last_at = now;
  e.round = rounds_;
  e.decision = d.decision;
  e.cause = d.cause;
  e.tenant = d.tenant;
  e.tables = d.tables;
  e.action = d.action;
  e.trigger = d.trigger;
  e.reason = d.reason;
  e.numbers = d.numbers;
  e.migration_id = d.migration_id;
  log::info("rebalancer: {} {}{}: {}", e.decision, e.cause.empty() ? "" : "(" + e.cause + ") ",
            e.tenant.empty() && e.tables.empty() ? "cluster" : "tenant " + TenantName(e.tenant), e.reason);
  events_.push_back(e);
  while (events_.size() > static_cast<size_t>(options_.max_events)) events_.pop_front();
  out->events.push_back(std::move(e));
}

Result<Rebalancer::RoundResult> Rebalancer::RoundLocked() {
  const Seconds now = clock_();
  const double now_s = static_cast<double>(now.time_since_epoch().count());
  RoundResult out;
  {
    std::lock_guard lock(mu_);
    out.round = ++rounds_;
    last_round_at_ = now_s;
  }
  auto inputs = source_.Read(options_.window_s, options_.max_tenants);
  if (!inputs.ok()) return inputs.status();
  {
    std::lock_guard lock(mu_);
    last_statistics_ = inputs->statistics;
  }
  const catalog::ShardMap& map = *inputs->map;
  if (map.nodes.empty()) return Status::Internal("the shard map lists no nodes");
  auto [list_status, list_body] = migrations_.List();
  if (list_status != 200) {
    return Status::Error("08006", "cannot list migrations: " + list_body.value("error", list_body.dump()));
  }
  const std::vector<Migration> migrations = ReadMigrations(list_body);
  std::set<int> busy;
  for (const auto& m : migrations) {
    if (!Terminal(m.phase)) busy.insert(m.nodes.begin(), m.nodes.end());
  }

  // Each tenant's load where it is now; their sum is the nodes' load.
  std::vector<const advisor::TenantInput*> tenants;
  std::map<int, advisor::NodeLoad> totals;
  for (const auto& input : inputs->tenants) {
    double statements = 0;
    for (const auto& s : input.workload.statements) statements += s.calls;
    const auto current = advisor::EvaluateCurrent(map, {}, input, engine_);
    for (const auto& l : current.tenant_load) {
      auto& t = totals[l.node_id];
      t.node_id = l.node_id;
      t.cost += l.cost;
      t.bytes += l.bytes;
    }
    if (statements >= static_cast<double>(options_.min_statements)) tenants.push_back(&input);
  }
  std::vector<advisor::NodeLoad> node_totals;
  for (const auto& [id, l] : totals) node_totals.push_back(l);
  const double imbalance = NodeImbalance(map, node_totals, engine_);
  {
    std::lock_guard lock(mu_);
    last_imbalance_ = imbalance;
  }
  const bool uneven = imbalance > options_.imbalance_threshold;

  std::map<std::string, Trigger> triggers;  // by tenant
  std::vector<advisor::TenantInput> candidates;
  for (const advisor::TenantInput* input : tenants) {
    std::string catalog_profile;
    for (const auto& t : map.tenants) {
      if (t.key == input->tenant) catalog_profile = t.profile;
    }
    auto fired = TenantTrigger(map, *input, inputs->profiles.ForTenant(input->tenant, catalog_profile));
    if (!fired && !uneven) continue;
    Trigger t = fired.value_or(Trigger{});
    if (uneven) {
      t.kinds.push_back("imbalance");
      t.numbers["node_imbalance"] = Round2(imbalance);
      t.detail += fmt::format("{}nodes' load imbalance {:.2f} > {:.2f}", t.detail.empty() ? "" : "; ", imbalance,
                              options_.imbalance_threshold);
    }
    triggers[input->tenant] = std::move(t);
    candidates.push_back(*input);
  }
  if (candidates.empty()) return out;  // every tenant inside its limits, the nodes even: nothing to ask

  const auto plans = advisor::PlanFleet(map, node_totals, candidates, inputs->profiles, engine_);
  bool any_action = false;
  for (const advisor::Plan& plan : plans) {
    const Trigger& trigger = triggers[plan.tenant];
    const bool own = std::find(trigger.kinds.begin(), trigger.kinds.end(), "size") != trigger.kinds.end() ||
                     std::find(trigger.kinds.begin(), trigger.kinds.end(), "latency") != trigger.kinds.end();
    Json base = trigger.numbers;
    base["imbalance_before"] = Round2(plan.current.imbalance);
    base["imbalance_after"] = Round2(plan.predicted.imbalance);
    base["single_node_share_before"] = Round2(plan.current.single_node_share);
    base["single_node_share_after"] = Round2(plan.predicted.single_node_share);
    base["node_imbalance"] = Round2(imbalance);
    if (plan.actions.empty()) {
      // Tenants looked at only because the nodes are uneven stay quiet: one cluster event below.
      if (!own) continue;
      Decided d{"rejected", "no_gain", plan.tenant, "", Joined(trigger.kinds, ","),
                fmt::format("{}; the advisor plans nothing: {}", trigger.detail, plan.summary)};
      d.numbers = base;
      Record(d, &out);
      continue;
    }
    any_action = true;
    const advisor::Profile& profile = inputs->profiles.ForTenant(plan.tenant, plan.profile);
    for (const advisor::Action& action : plan.actions) {
      Decided d;
      d.tenant = plan.tenant;
      d.tables = action.tables;
      d.action = std::string(advisor::ActionKindName(action.kind));
      d.trigger = Joined(trigger.kinds, ",");
      d.numbers = base;
      d.numbers["bytes_to_move"] = std::round(action.bytes_to_move);
      std::set<int> nodes;
      std::vector<std::string> to;
      for (const auto& r : action.from) nodes.insert(r.node_id);
      for (const auto& r : action.ranges) {
        nodes.insert(r.node_id);
        to.push_back(fmt::format("[{}, {}) -> node {}", r.lower.value_or("-inf"), r.upper.value_or("+inf"), r.node_id));
      }
      const std::string what = fmt::format("{} {} of tenant {} on {} into {}: {} (imbalance {:.2f} -> {:.2f}; {})",
                                           d.action, Joined(action.tables), TenantName(plan.tenant), action.column,
                                           Joined(to), action.reason, plan.current.imbalance, plan.predicted.imbalance,
                                           trigger.detail);
      auto defer = [&](std::string cause, std::string why) {
        d.decision = "deferred";
        d.cause = std::move(cause);
        d.reason = why + "; " + what;
        Record(d, &out);
      };
      const bool size = std::find(trigger.kinds.begin(), trigger.kinds.end(), "size") != trigger.kinds.end();
      if (const std::string why = NoGain(plan, action, size); !why.empty()) {
        d.decision = "rejected";
        d.cause = "no_gain";
        d.reason = why + "; " + what;
        Record(d, &out);
        continue;
      }
      const Migration* last = nullptr;  // the group's newest migration
      for (const auto& m : migrations) {
        if (SameGroup(m, plan.tenant, action.tables)) {
          last = &m;
          break;
        }
      }
      if (last != nullptr && !Terminal(last->phase)) {
        defer("migrating", fmt::format("migration {} of the group is in phase {}", last->id, last->phase));
        continue;
      }
      if (!profile.MigrationAllowedAt(now)) {
        std::vector<std::string> windows;
        for (const auto& w : profile.migration_windows) windows.push_back(w.ToString());
        defer("window", fmt::format("outside the migration window(s) {} of profile \"{}\"; next opens {}", Joined(windows),
                                    profile.name, Utc(profile.NextMigrationTime(now))));
        continue;
      }
      if (last != nullptr && last->ended && now_s - *last->ended < options_.cooldown_s) {
        defer("cooldown", fmt::format("migration {} of the group ended {} ago; cool-down {}", last->id,
                                      Duration(now_s - *last->ended), Duration(options_.cooldown_s)));
        continue;
      }
      int failures = 0;
      std::optional<double> failed_at;
      for (const auto& m : migrations) {
        if (!SameGroup(m, plan.tenant, action.tables)) continue;
        if (m.origin != "rebalancer" || (m.phase != "failed" && m.phase != "rolled_back")) break;
        if (failures++ == 0) failed_at = m.ended;
      }
      if (failures > 0 && failed_at) {
        const double wait = BackoffS(options_.failure_backoff_s, failures);
        if (now_s - *failed_at < wait) {
          d.numbers["failures_in_a_row"] = failures;
          defer("backoff", fmt::format("{} migration(s) of the group failed or rolled back in a row; waiting {} after the last",
                                       failures, Duration(wait)));
          continue;
        }
      }
      const std::string group = GroupKey(plan.tenant, action.tables);
      if (auto refused = refusals_.find(group); refused != refusals_.end()) {
        const double wait = BackoffS(options_.failure_backoff_s, refused->second.in_a_row);
        if (now_s - refused->second.last_at < wait) {
          d.numbers["refusals_in_a_row"] = refused->second.in_a_row;
          defer("backoff", fmt::format("the migration service refused the group's action {} time(s) in a row; waiting {} "
                                       "after the last", refused->second.in_a_row, Duration(wait)));
          continue;
        }
      }
      std::vector<int> clash;
      std::set_intersection(nodes.begin(), nodes.end(), busy.begin(), busy.end(), std::back_inserter(clash));
      if (!clash.empty()) {
        std::vector<std::string> ids;
        for (int n : clash) ids.push_back(std::to_string(n));
        defer("concurrency", fmt::format("node(s) {} already migrating (one migration per node at a time)", Joined(ids)));
        continue;
      }
      if (options_.dry_run) {
        defer("dry_run", "dry run: no migration started");
        continue;
      }
      Json body = advisor::ActionJson(action);
      body["origin"] = "rebalancer";
      auto [status, reply] = migrations_.Submit(body);
      if (status != 201) {
        d.decision = "rejected";
        d.cause = "error";
        Refusals& refused = refusals_[group];
        ++refused.in_a_row;
        refused.last_at = now_s;
        d.numbers["refusals_in_a_row"] = refused.in_a_row;
        d.reason = fmt::format("the migration service refused it ({}): {}; next try in {}; {}", status,
                               reply.value("error", reply.dump()),
                               Duration(BackoffS(options_.failure_backoff_s, refused.in_a_row)), what);
        Record(d, &out);
        continue;
      }
      refusals_.erase(group);
      busy.insert(nodes.begin(), nodes.end());
      d.decision = "acted";
      d.migration_id = reply.value("id", int64_t{0});
      d.reason = fmt::format("started migration {}: {}", d.migration_id, what);
      Record(d, &out);
    }
  }
  if (uneven && !any_action) {
    Decided d{"rejected", "no_gain", "", "", "imbalance",
              fmt::format("nodes' load imbalance {:.2f} > {:.2f}, but no tenant's plan gains enough to move", imbalance,
                          options_.imbalance_threshold)};
    d.numbers = {{"node_imbalance", Round2(imbalance)}, {"threshold", options_.imbalance_threshold},
                 {"tenants_planned", plans.size()}};
    Record(d, &out);
  }
  return out;
}

Json Rebalancer::StatusJson() {
  std::lock_guard lock(mu_);
  const bool looping = options_.enabled && options_.interval_s > 0;
  return {{"enabled", options_.enabled},
          {"paused", paused_.load()},
          {"dry_run", options_.dry_run},
          {"interval_s", options_.interval_s},
          {"window_s", options_.window_s},
          {"imbalance_threshold", options_.imbalance_threshold},
          {"cooldown_s", options_.cooldown_s},
          {"rounds", rounds_},
          {"last_round_at", rounds_ > 0 ? Json(last_round_at_) : Json(nullptr)},
          {"next_round_at", looping && !paused_.load() ? Json(next_round_at_) : Json(nullptr)},
          {"last_error", last_error_.empty() ? Json(nullptr) : Json(last_error_)},
          {"imbalance", last_imbalance_ ? Json(Round2(*last_imbalance_)) : Json(nullptr)},
          {"last_round_s", last_round_s_ ? Json(std::round(*last_round_s_ * 1000) / 1000) : Json(nullptr)},
          {"statistics", last_statistics_ ? Json{{"read", last_statistics_->read},
                                                 {"cached", last_statistics_->cached},
                                                 {"oldest_age_s", std::round(last_statistics_->oldest_age_s)}}
                                          : Json(nullptr)}};
}

Json Rebalancer::EventsJson(int64_t since, size_t limit) {
  std::lock_guard lock(mu_);
  Json events = Json::array();
  int64_t last = since;
  for (const auto& e : events_) {
    if (e.id <= since) continue;
    if (events.size() >= limit) break;
    events.push_back(EventJson(e));
    last = e.id;
  }
  return {{"events", std::move(events)}, {"last_id", last}};
}

}  // namespace mosaic::rebalancer

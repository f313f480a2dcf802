// The migration service's state machine. See service.h and docs/migration.md.
//
// A runner drives one migration. Each step is idempotent: after a crash the runner re-enters the
// recorded phase and repeats the step from its start, using the step state saved in the catalog
// (`state` JSON) to skip what was certainly done.
#include "migration/service.h"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <set>

#include <fmt/format.h>
#include <libpq-fe.h>

#include "admin/layout_api.h"
#include "admin/migrations_api.h"
#include "advisor/advice_json.h"
#include "catalog/pg_client.h"
#include "common/log.h"
#include "migration/node_ops.h"
#include "router/router.h"
#include "sql/analyzer.h"
#include "sql/lexer.h"

namespace mosaic::migration {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace pg = catalog::pg;

namespace {

constexpr int kRequestAbort = 1;
constexpr int kRequestRollback = 2;
constexpr int kChecksumChunkRows = 10000;
constexpr int kChecksumRetries = 3;
constexpr int kMaxChecksumAttempts = 3;
constexpr int kMaxShadowPerRound = 20;
constexpr int kRefineChunkRows = 500;
// WaitFlowApplied's pause between polls that fell short: under the fence, where every
// millisecond pauses writes; before it, the longest pause of its back-off.
constexpr std::chrono::microseconds kCatchUpPollFenced{200};
constexpr std::chrono::microseconds kCatchUpPollMax{32000};
// Pauses between cutover attempts whose fence opened again: doubling from the first up to the
// last, and at least kFenceDuty times as long as the fence held, so that writers wait at it at
// most a tenth of the time however long a transaction keeps it from draining.
constexpr std::chrono::milliseconds kCutoverPauseFirst{25};
constexpr std::chrono::milliseconds kCutoverPauseMax{2000};
constexpr int kFenceDuty = 9;
// How long an attempt waits, the fence open, for a moment when no statement is inside it
// before it closes the fence anyway.
constexpr std::chrono::milliseconds kFenceIdleWait{500};

int ApplyStallFault(const std::string& fault) {
  constexpr std::string_view kPoint = "migration-apply-stall:";
  if (!fault.starts_with(kPoint)) return 0;
  return std::atoi(fault.c_str() + kPoint.size());
}

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

bool ConnectionTrouble(const Status& s) { return s.sqlstate().starts_with("08") || s.sqlstate() == "57P01"; }

// How long each step under the write fence took: "drain 1.2, apply 3.4, ... ms" for the
// cutover's journal entry and log line, and per step (summed over the flows) for its progress.
class StepTimes {
 public:
  explicit StepTimes(Clock::time_point start) : last_(start) {}
  // `detail` goes into the text after the time ("recheck 3.2 (12 sub-chunks)").
  void Mark(const std::string& step, const std::string& detail = {}) {
    const auto now = Clock::now();
    const double ms = std::chrono::duration<double, std::milli>(now - last_).count();
    text_ += fmt::format("{}{} {:.1f}{}", text_.empty() ? "" : ", ", step, ms,
                         detail.empty() ? "" : " (" + detail + ")");
    totals_[step] += ms;
    last_ = now;
  }
  std::string text() const { return text_ + " ms"; }
  const std::map<std::string, double>& totals() const { return totals_; }

 private:
  Clock::time_point last_;
  std::string text_;
  std::map<std::string, double> totals_;
};

std::pair<int, Json> ErrorReply(int http, const Status& s) {
  return {http, Json{{"error", s.message()}, {"sqlstate", std::string(s.sqlstate())}}};
}

// The group's tables as the map knows them, in `ids` order.
Result<std::vector<catalog::Table>> TablesOf(const catalog::ShardMap& map, const std::vector<int64_t>& ids) {
  std::vector<catalog::Table> out;
  for (int64_t id : ids) {
    auto it = std::find_if(map.tables.begin(), map.tables.end(), [&](const catalog::Table& t) { return t.id == id; });
    if (it == map.tables.end()) return Status::Error("42P01", fmt::format("table {} of the migration no longer exists", id));
    out.push_back(*it);
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Runner: one migration, on its own thread.

class Service::Runner {
 public:
  Runner(Service& service, int64_t id, std::shared_ptr<Live> live)
      : svc_(service), id_(id), live_(std::move(live)), fence_(service.registry_.Get(id)) {}

  void Run();

 private:
  Status Open();
  Status Step();
  Status StepQueued();
  Status StepShadowReads();
  Status StepIncrementalWrites();
  Status Cutover();
  // What became of one try at the cutover (CutoverAttempt).
  enum class Attempt {
    kDone,              // switched, or postponed back to incremental_writes
    kDrainOverBudget,   // a transaction inside the fence outlasted the budget
    kApplyOverBudget,   // a target's catch-up under the fence outlasted what the budget left
  };
  // Closes the fence once (at a moment when no statement is inside it, if one comes within
  // kFenceIdleWait) and switches, unless the drain or the fenced catch-up take longer than
  // `budget` (over budget: the fence is open again, nothing changed, and
  // progress_.cutover_blocked_by says why). `apply_budget` false: the catch-up may take up to
  // catchup_timeout_s. Any other reason not to switch (a recheck that differs, an error) is the
  // Status.
  Result<Attempt> CutoverAttempt(const catalog::Layout& layout, std::optional<std::chrono::milliseconds> budget,
                                 bool apply_budget);
  // What keeps the fence from draining: the oldest transaction on the group's tables on the
  // flows' nodes ("node 2: pid 4711, idle in transaction for ..."), else how many are inside.
  std::string FenceBlocker();
  // OK unless a transaction holds an ACCESS EXCLUSIVE lock (a schema change) on one of the
  // group's tables on a flow's node: the copy and the checksums assume the tables keep the
  // columns they have, so the migration fails at once rather than copy and fail on the
  // checksums once the change commits. 55006 naming it otherwise.
  Status NoSchemaChangeOpen();
  std::set<int> FlowNodes() const;
  // Rolls the migration back to end `failed` with `why` as its error.
  Status StartFailing(const std::string& why, std::string_view how);
  // Where a flow's walsender and subscriber are ("sent 0/1A2B, written 0/1A00, ..."), for the
  // log line of a fenced catch-up over budget.
  std::string FlowPositions(const Flow& flow, size_t index);
  Status FinishCutover();
  Status StepDeprecated();
  Status StepRollingBack();

  Status SetPhase(Phase phase, const std::string& detail, const std::optional<std::string>& error = std::nullopt);
  Status SaveState();
  Status Publish();
  // Makes `map` the data path's map (unless a newer one is already published) and this runner's.
  void PublishMap(std::shared_ptr<const catalog::ShardMap> map);
  // What became of a switch's catalog commit (CommitSwitch).
  struct SwitchCommit {
    Status status;      // OK: committed; else why not
    bool known = true;  // false: unknown and the process is stopping (leave the fence closed)
  };
  // Under the fence: commits `prepared` with the state and `detail`. If that fails the commit
  // may still have happened (its reply lost): keeps the fence up and asks the catalog over new
  // connections until `committed` (the stored record) says which.
  SwitchCommit CommitSwitch(catalog::PreparedCutover& prepared, const std::string& detail,
                            bool (*committed)(const catalog::MigrationRecord&));
  Result<pg::Conn*> Conn(int node);
  const catalog::Node* NodeById(int id) const;
  void DropConn(int node) { conns_.erase(node); }
  bool Interrupted() const { return live_->stop.load() || live_->request.load() != 0; }
  void Sleep(std::chrono::milliseconds d) const;
  Status Identity(int node);
  Status RestoreIdentities();
  void ShadowRound();
  Status WaitFlowCaughtUp(const Flow& flow, const std::string& slot, bool reverse);
  // Waits until the target applied everything the source committed (the walsender's
  // write_lsn); FlushTarget then makes it durable with one synchronous commit. Each poll that
  // falls short costs a synchronous commit on both nodes: under the fence (`fenced`) the polls
  // follow each other at once, before it they back off (1 ms doubling up to kCatchUpPollMax).
  // Gives up with 57014 after `limit` (default: catchup_timeout_s).
  Status WaitFlowApplied(const Flow& flow, size_t index, bool fenced,
                         std::optional<std::chrono::milliseconds> limit = std::nullopt);
  // Returns the target's WAL position after the flush.
  Result<std::string> FlushTarget(const Flow& flow);
  Status CountsMatch(const Flow& flow);
  // Before the fence: compares the chunks writes kept changing again in sub-chunks
  // (RefineChunks), so that the fence rechecks only the sub-chunks still being written.
  Status RefineUnsettled();
  // Closes the fence and waits up to `timeout` for the statements inside; false (fence open
  // again) on timeout.
  bool CloseFence(std::chrono::milliseconds timeout);
  // OK when no node of a flow holds a two-phase transaction still in doubt (prepared by a
  // router, neither committed nor rolled back yet: the router or a node failed in between).
  // The fence cannot drain those, and the recovery pass may commit one later on the copy the
  // switch leaves behind, whose rows are then deleted: a committed write lost. 55000 otherwise.
  Status NoneInDoubt();
  Result<catalog::Layout> StateLayout(const char* key);
  void UpdateLive();

  Service& svc_;
  const int64_t id_;
  std::shared_ptr<Live> live_;
  std::shared_ptr<Fence> fence_;
  std::unique_ptr<catalog::Catalog> catalog_;
  catalog::MigrationRecord record_;
  Phase phase_ = Phase::kQueued;
  Json state_;
  std::vector<Flow> flows_;
  std::vector<catalog::Table> tables_;
  std::shared_ptr<const catalog::ShardMap> map_;
  std::map<int, pg::Conn> conns_;
  Progress progress_;
  bool failing_ = false;             // rolling back because of an error (ends in `failed`)
  std::string failure_;
  std::optional<Clock::time_point> trouble_since_;
  int errors_in_a_row_ = 0;
  int checksum_attempts_ = 0;
  // Testing only (--test-fault migration-apply-stall:N): the first N fenced catch-ups with a
  // budget ignore that the target has applied, as if its apply had stalled.
  int apply_stalls_left_ = ApplyStallFault(svc_.config_.test_fault);
  std::shared_ptr<catalog::ShardMap> hypothetical_;  // the map after the cutover, for shadow reads
  std::vector<std::vector<ChunkRange>> unsettled_;    // per flow: chunks to compare under the fence
};

void Service::Runner::Sleep(std::chrono::milliseconds d) const {
  const auto until = Clock::now() + d;
  while (Clock::now() < until && !live_->stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

const catalog::Node* Service::Runner::NodeById(int id) const { return map_ ? map_->FindNode(id) : nullptr; }

Result<pg::Conn*> Service::Runner::Conn(int node) {
  auto it = conns_.find(node);
  if (it != conns_.end() && PQstatus(it->second.get()) == CONNECTION_OK) return &it->second;
  const catalog::Node* n = NodeById(node);
  if (n == nullptr) return Status::Error("22023", fmt::format("node {} is not in the shard map", node));
  auto conn = pg::ConnectNode(*n);
  if (!conn.ok()) return conn.status();
  // A connection opened again (the last one broke) compares rows as the one before it did.
  if (Status s = PinTextFormats(conn->get(), "node"); !s.ok()) return s;
  conns_[node] = std::move(conn).value();
  return &conns_[node];
}

Status Service::Runner::Publish() {
  auto map = catalog_->Load();
  if (!map.ok()) return map.status();
  PublishMap(std::move(map).value());
  return Status::OK();
}

void Service::Runner::PublishMap(std::shared_ptr<const catalog::ShardMap> map) {
  svc_.holder_.Publish(std::move(map));
  map_ = svc_.holder_.Snapshot();
}

Service::Runner::SwitchCommit Service::Runner::CommitSwitch(catalog::PreparedCutover& prepared,
                                                            const std::string& detail,
                                                            bool (*committed)(const catalog::MigrationRecord&)) {
  Status s = prepared.Commit(state_.dump(), detail);
  if (s.ok()) return {};
  for (;;) {
    auto reopened = catalog::Catalog::Open(svc_.catalog_dsn_);
    if (reopened.ok()) {
      // Under the shard-map lock: the lost COMMIT may still be running on its backend.
      auto record = (*reopened)->GetMigrationSettled(id_);
      if (record.ok() && record->has_value()) {
        catalog_ = std::move(reopened).value();
        return {committed(**record) ? Status::OK() : s};
      }
    }
    if (live_->stop.load()) return {s, false};
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

void Service::Runner::UpdateLive() {
  std::lock_guard lock(live_->mu);
  live_->progress = progress_;
  live_->phase = std::string(PhaseName(phase_));
}

Status Service::Runner::StartFailing(const std::string& why, std::string_view how) {
  failing_ = true;
  failure_ = why;
  state_["failing"] = true;
  state_["failure"] = failure_;
  return SetPhase(Phase::kRollingBack, std::string(how) + failure_);
}

Status Service::Runner::SaveState() {
  state_["progress"] = ProgressJson(progress_);
  UpdateLive();
  return catalog_->SaveMigrationState(id_, state_.dump());
}

Status Service::Runner::SetPhase(Phase phase, const std::string& detail, const std::optional<std::string>& error) {
  state_["progress"] = ProgressJson(progress_);
  auto version = catalog_->SetMigrationPhase(id_, std::string(PhaseName(phase)), state_.dump(), detail, error);
  if (!version.ok()) return version.status();
  phase_ = phase;
  record_.phase = std::string(PhaseName(phase));
  log::info("migration {}: {} ({})", id_, PhaseName(phase), detail);
  // The API shows the phase once the data path has the map that goes with it.
  Status published = Publish();
  UpdateLive();
  return published;
}

Result<catalog::Layout> Service::Runner::StateLayout(const char* key) {
  if (!state_.contains(key)) return Status::Internal(fmt::format("migration {} has no {} in its state", id_, key));
  return admin::ParseLayoutRequest(state_[key], *map_);
}

Status Service::Runner::Open() {
  auto catalog = catalog::Catalog::Open(svc_.catalog_dsn_);
  if (!catalog.ok()) return catalog.status();
  catalog_ = std::move(catalog).value();
  auto record = catalog_->GetMigration(id_);
  if (!record.ok()) return record.status();
  if (!record->has_value()) return Status::Error("42704", fmt::format("migration {} does not exist", id_));
  record_ = **record;
  phase_ = PhaseFromName(record_.phase).value_or(Phase::kFailed);
  state_ = Json::parse(record_.state_json, nullptr, false);
  if (state_.is_discarded() || !state_.is_object()) state_ = Json::object();
  if (state_.contains("progress")) progress_ = ProgressFromJson(state_["progress"]);
  failing_ = state_.value("failing", false);
  failure_ = state_.value("failure", std::string());
  Json flows = Json::parse(record_.flows_json, nullptr, false);
  flows_.clear();
  if (flows.is_array()) {
    for (const auto& f : flows) {
      flows_.push_back({.source = f.value("source", 0), .target = f.value("target", 0), .filter = f.value("filter", std::string())});
    }
  }
  map_ = svc_.holder_.Snapshot();
  auto tables = TablesOf(*map_, record_.table_ids);
  if (!tables.ok()) return tables.status();
  tables_ = std::move(tables).value();
  {
    std::lock_guard lock(live_->mu);
    live_->nodes.clear();
    for (const auto& f : flows_) {
      live_->nodes.push_back(f.source);
      live_->nodes.push_back(f.target);
    }
  }
  UpdateLive();
  return Status::OK();
}

void Service::Runner::Run() {
  while (!live_->stop.load()) {
    Status s = catalog_ ? Status::OK() : Open();
    if (s.ok()) {
      if (IsTerminal(phase_)) break;
      s = Step();
    }
    if (s.ok()) {
      errors_in_a_row_ = 0;
      trouble_since_.reset();
      continue;
    }
    if (live_->stop.load()) break;
    ++errors_in_a_row_;
    log::warn("migration {} ({}): {}", id_, PhaseName(phase_), s.message());
    if (ConnectionTrouble(s)) {
      conns_.clear();
      if (!trouble_since_) trouble_since_ = Clock::now();
      const double down_s = MsSince(*trouble_since_) / 1000;
      if (down_s > svc_.config_.migration.node_down_timeout_s && catalog_ &&
          (phase_ == Phase::kQueued || phase_ == Phase::kShadowReads || phase_ == Phase::kIncrementalWrites ||
           phase_ == Phase::kCutover) &&
          !failing_) {
        (void)StartFailing(fmt::format("a node was unreachable for {:.0f} s: {}", down_s, s.message()),
                           "rolling back: ");
      }
    } else if (errors_in_a_row_ >= 3 && catalog_ && !failing_ && phase_ != Phase::kDeprecated &&
               phase_ != Phase::kRollingBack) {
      (void)StartFailing(s.message(), "rolling back after an error: ");
    }
    const int backoff_ms = std::min(10000, 500 << std::min(errors_in_a_row_, 5));
    Sleep(std::chrono::milliseconds(backoff_ms));
  }
  live_->terminal.store(IsTerminal(phase_));
  if (live_->terminal.load()) {
    fence_->SetSampling(false);
    svc_.registry_.Forget(id_);
  }
  live_->copying.store(false);
  svc_.terminal_cv_.notify_all();
}

Status Service::Runner::Step() {
  map_ = svc_.holder_.Snapshot();
  // Operator requests: abort (before the cutover) and rollback (until the sources are cleaned up).
  const int request = live_->request.exchange(0);
  if (request != 0) {
    (void)catalog_->SetMigrationRequest(id_, std::nullopt);
    if (phase_ == Phase::kQueued) return SetPhase(Phase::kRolledBack, "aborted before it started");
    if (phase_ == Phase::kShadowReads || phase_ == Phase::kIncrementalWrites || phase_ == Phase::kCutover) {
      return SetPhase(Phase::kRollingBack, request == kRequestAbort ? "abort requested" : "rollback requested");
    }
    if (phase_ == Phase::kDeprecated && !state_.value("cleaning", false)) {
      state_["switch_back"] = true;
      return SetPhase(Phase::kRollingBack, "rollback requested after the cutover: switching back to the sources");
    }
  }
  if (live_->paused.load() && phase_ != Phase::kRollingBack) {
    Sleep(std::chrono::milliseconds(200));
    return Status::OK();
  }
  switch (phase_) {
    case Phase::kQueued:
      return StepQueued();
    case Phase::kShadowReads:
      return StepShadowReads();
    case Phase::kIncrementalWrites:
      return StepIncrementalWrites();
    case Phase::kCutover:
      // The process stopped during a cutover that did not commit: the fence (in memory) is gone
      // and the map still routes to the sources. Go back and cut over again.
      return SetPhase(Phase::kIncrementalWrites, "the cutover was interrupted before the switch; retrying");
    case Phase::kDeprecated:
      return StepDeprecated();
    case Phase::kRollingBack:
      return StepRollingBack();
    default:
      return Status::OK();
  }
}

Status Service::Runner::StepQueued() {
  std::vector<int> nodes;
  for (const auto& f : flows_) {
    nodes.push_back(f.source);
    nodes.push_back(f.target);
  }
  if (!nodes.empty() && !svc_.AcquireNodes(id_, nodes)) {
    Sleep(std::chrono::milliseconds(300));
    return Status::OK();
  }
  if (flows_.empty()) {
    // Only boundaries change, no row changes node: one new shard-map version is the whole job.
    auto layout = StateLayout("new_layout");
    if (!layout.ok()) return layout.status();
    auto prepared = catalog_->PrepareCutOver(id_, *layout, "done");
    if (!prepared.ok()) return prepared.status();
    if (Status s = (*prepared)->Commit(state_.dump(), "no rows change node: boundaries updated"); !s.ok()) return s;
    phase_ = Phase::kDone;
    // The API shows `done` once the data path (and the next Submit) has the new boundaries.
    PublishMap((*prepared)->map());
    UpdateLive();
    return Status::OK();
  }
  if (Status s = NoSchemaChangeOpen(); !s.ok()) {
    if (s.sqlstate() != "55006") return s;
    // Nothing was created or copied yet: nothing to roll back (which would wait for the change).
    return SetPhase(Phase::kFailed, "refused: " + s.message(), s.message());
  }
  return SetPhase(Phase::kShadowReads, fmt::format("copying {} flow(s)", flows_.size()));
}

Status Service::Runner::Identity(int node) {
  const std::string key = std::to_string(node);
  if (state_["identity"].contains(key)) return Status::OK();
  auto conn = Conn(node);
  if (!conn.ok()) return conn.status();
  auto previous = SetReplicaIdentityFull(conn.value()->get(), tables_, "node " + key);
  if (!previous.ok()) return previous.status();
  state_["identity"][key] = *previous;
  return SaveState();
}

Status Service::Runner::RestoreIdentities() {
  if (!state_.contains("identity")) return Status::OK();
  for (auto& [key, previous] : state_["identity"].items()) {
    const int node = std::stoi(key);
    // Another active migration on these tables and node still needs FULL.
    bool shared = false;
    for (const auto& m : map_->migrations) {
      if (m.id == id_) continue;
      for (const auto& f : m.flows) shared = shared || f.source == node || f.target == node;
    }
    if (shared) continue;
    auto conn = Conn(node);
    if (!conn.ok()) return conn.status();
    if (Status s = RestoreReplicaIdentity(conn.value()->get(), tables_, previous.get<std::vector<std::string>>(),
                                          "node " + key);
        !s.ok()) {
      return s;
    }
  }
  state_.erase("identity");
  return SaveState();
}

Status Service::Runner::StepShadowReads() {
  if (!state_.value("copied", false)) {
    int64_t estimated = 0;
    for (size_t i = 0; i < flows_.size(); ++i) {
      const Flow& f = flows_[i];
      const FlowNames fwd = ForwardNames(id_, i);
      if (Status s = Identity(f.source); !s.ok()) return s;
      auto source = Conn(f.source);
      if (!source.ok()) return source.status();
      auto target = Conn(f.target);
      if (!target.ok()) return target.status();
      if (Status s = DropSubscription(target.value()->get(), fwd.subscription); !s.ok()) return s;
      if (Status s = CreatePublication(source.value()->get(), fwd.publication, tables_, f.filter); !s.ok()) return s;
      auto rows = CountRows(source.value()->get(), tables_, f.filter, "node " + std::to_string(f.source));
      if (!rows.ok()) return rows.status();
      estimated += *rows;
    }
    progress_ = Progress{};
    progress_.rows_estimated = estimated;
    const auto start = Clock::now();
    int64_t rows_before = 0, bytes_before = 0;
    auto last_save = Clock::now();
    for (size_t i = 0; i < flows_.size(); ++i) {
      const Flow& f = flows_[i];
      const FlowNames fwd = ForwardNames(id_, i);
      const catalog::Node* source = NodeById(f.source);
      const catalog::Node* target = NodeById(f.target);
      if (source == nullptr || target == nullptr) return Status::Error("22023", "a node of the migration left the map");
      // Foreground latency probe on the source: the copy backs off while it is well above its
      // baseline (the median of the first probes).
      auto probe = pg::ConnectNode(*source);
      std::vector<double> baseline;
      double slowdown = 1;
      CopyControl control;
      control.progress = [&](int64_t rows, int64_t bytes) {
        progress_.rows_copied = rows_before + rows;
        progress_.bytes_copied = bytes_before + bytes;
        const double secs = std::max(1e-3, MsSince(start) / 1000);
        progress_.rows_per_s = static_cast<double>(progress_.rows_copied) / secs;
        progress_.eta_s = progress_.rows_per_s > 0
                              ? std::max(0.0, static_cast<double>(progress_.rows_estimated - progress_.rows_copied) /
                                                  progress_.rows_per_s)
                              : -1;
        UpdateLive();
        if (MsSince(last_save) > 2000) {
          (void)SaveState();
          last_save = Clock::now();
        }
      };
      control.cancelled = [&] {
        while (live_->paused.load() && !Interrupted()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        return Interrupted();
      };
      control.slowdown = [&] {
        if (!probe.ok()) return slowdown;
        const auto t0 = Clock::now();
        if (!pg::Run(probe->get(), "SELECT 1", {}, "probe").ok()) return slowdown;
        const double ms = MsSince(t0);
        if (baseline.size() < 5) {
          baseline.push_back(ms);
          return slowdown;
        }
        std::vector<double> sorted = baseline;
        std::sort(sorted.begin(), sorted.end());
        const double base = sorted[sorted.size() / 2];
        slowdown = ms > 5 * base + 5 ? std::min(4.0, slowdown * 2) : std::max(1.0, slowdown / 2);
        return slowdown;
      };
      CopyLimits limits{.rows_per_s = svc_.config_.migration.copy_rows_per_s,
                        .bytes_per_s = svc_.config_.migration.copy_bytes_per_s,
                        .batch_rows = svc_.config_.migration.batch_rows};
      if (Status s = CopyFlow(*source, *target, tables_, f.filter, fwd.slot, limits, control); !s.ok()) return s;
      rows_before = progress_.rows_copied;
      bytes_before = progress_.bytes_copied;
      auto target_conn = Conn(f.target);
      if (!target_conn.ok()) return target_conn.status();
      if (Status s = Subscribe(target_conn.value()->get(), *source, fwd); !s.ok()) return s;
    }
    progress_.eta_s = 0;
    state_["copied"] = true;
    state_["shadow_started"] = WallSeconds();
    if (Status s = SaveState(); !s.ok()) return s;
  }
  fence_->SetSampling(true);
  const double started = state_.value("shadow_started", WallSeconds());
  while (WallSeconds() - started < svc_.config_.migration.shadow_min_s && !Interrupted()) {
    ShadowRound();
    Sleep(std::chrono::milliseconds(200));
  }
  if (Interrupted()) return Status::OK();
  ShadowRound();
  return SetPhase(Phase::kIncrementalWrites,
                  fmt::format("copied {} rows; {} shadow reads compared, {} mismatched", progress_.rows_copied,
                              progress_.shadow_reads, progress_.shadow_mismatches));
}

Status Service::Runner::WaitFlowCaughtUp(const Flow& flow, const std::string& slot, bool reverse) {
  const int from = reverse ? flow.target : flow.source;
  auto conn = Conn(from);
  if (!conn.ok()) return conn.status();
  auto lsn = CurrentLsn(conn.value()->get(), "node " + std::to_string(from));
  if (!lsn.ok()) return lsn.status();
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(svc_.config_.migration.catchup_timeout_s * 1000));
  return WaitCaughtUp(conn.value()->get(), slot, *lsn, timeout);
}

Status Service::Runner::WaitFlowApplied(const Flow& flow, size_t index, bool fenced,
                                        std::optional<std::chrono::milliseconds> limit) {
  // Waiting for the slot's confirmed flush would wait for the target's WAL writer (asynchronous
  // apply) and the apply worker's next report (up to a second). Instead: wait until the
  // subscriber reports the source's position *applied* (the walsender's write_lsn); the caller
  // then flushes the target's WAL with one synchronous commit (FlushTarget).
  //
  // The apply worker reports write_lsn = the position it received only while none of its
  // applied commits waits for the target's WAL writer (otherwise it reports its last applied
  // commit, short of the source's position), and only when a message arrives. So while the
  // position is not reported, each round flushes the target's WAL and then the source's, which
  // wakes the walsender: it sends a keepalive and the apply worker answers with what it applied.
  auto source = Conn(flow.source);
  if (!source.ok()) return source.status();
  auto target = Conn(flow.target);
  if (!target.ok()) return target.status();
  const std::string source_who = "node " + std::to_string(flow.source);
  const std::string target_who = "node " + std::to_string(flow.target);
  const auto timeout =
      limit.value_or(std::chrono::milliseconds(static_cast<int64_t>(svc_.config_.migration.catchup_timeout_s * 1000)));
  const auto deadline = Clock::now() + timeout;
  auto pause = fenced ? kCatchUpPollFenced : std::chrono::microseconds(1000);
  // The first round reads the source's position (CurrentLsn) in the same round trip.
  std::optional<std::string> lsn;
  for (int round = 1;; ++round) {
    auto res = pg::Exec(source.value()->get(),
                        "SELECT l::text, coalesce((SELECT bool_or(r.write_lsn >= l) "
                        "FROM pg_catalog.pg_stat_replication r JOIN pg_catalog.pg_replication_slots s "
                        "ON s.active_pid = r.pid WHERE s.slot_name = $2), false) "
                        "FROM (SELECT coalesce($1::pg_lsn, pg_catalog.pg_current_wal_insert_lsn()) AS l) c",
                        {lsn, ForwardNames(id_, index).slot}, source_who);
    if (!res.ok()) return res.status();
    lsn = pg::TextAt(res->get(), 0, 0);
    const bool stalled = fenced && limit && apply_stalls_left_ > 0;  // test fault
    if (pg::TextAt(res->get(), 0, 1) == "t" && !stalled) {
      if (fenced) log::info("migration {}: flow {} applied up to {} in {} round(s)", id_, index, *lsn, round);
      return Status::OK();
    }
    if (Clock::now() >= deadline) {
      if (stalled) {
        --apply_stalls_left_;
        log::warn("test fault migration-apply-stall: migration {} ignored its target's catch-up under the fence", id_);
      }
      return Status::Error("57014", fmt::format("node {} did not apply node {}'s changes up to {} within {} ms ({} "
                                                "round(s))",
                                                flow.target, flow.source, *lsn, timeout.count(), round));
    }
    if (Status s = FlushWal(target.value()->get(), target_who); !s.ok()) return s;
    if (Status s = FlushWal(source.value()->get(), source_who); !s.ok()) return s;
    std::this_thread::sleep_for(pause);
    if (!fenced) pause = std::min<std::chrono::microseconds>(2 * pause, kCatchUpPollMax);
  }
}

Result<std::string> Service::Runner::FlushTarget(const Flow& flow) {
  auto target = Conn(flow.target);
  if (!target.ok()) return target.status();
  return FlushWalThenLsn(target.value()->get(), "node " + std::to_string(flow.target));
}

void Service::Runner::ShadowRound() {
  auto samples = fence_->TakeSamples();
  if (samples.empty()) return;
  if (!hypothetical_) {
    auto layout = StateLayout("new_layout");
    if (!layout.ok()) return;
    auto map = std::make_shared<catalog::ShardMap>(*map_);
    std::erase_if(map->layouts, [&](const catalog::Layout& l) {
      if (l.tenant != record_.tenant) return false;
      for (int64_t t : l.table_ids) {
        if (std::find(record_.table_ids.begin(), record_.table_ids.end(), t) != record_.table_ids.end()) return true;
      }
      return false;
    });
    map->layouts.push_back(*layout);
    map->BuildIndex();
    hypothetical_ = std::move(map);
  }
  int done = 0;
  for (const auto& sample : samples) {
    if (++done > kMaxShadowPerRound) break;
    // Where the read would run after the cutover: compare only reads that move whole to one target.
    sql::Lexed lexed;
    sql::Lex(sample.sql, &lexed);
    auto analysis = sql::Analyze(sample.sql, lexed.literals);
    router::Bound bound;
    bound.literals = &lexed.literals;
    for (const auto& p : sample.params) {
      router::Bound::Param param;
      param.null = !p.has_value();
      if (p) param.bytes = *p;
      bound.params.push_back(param);
    }
    auto route = router::Plan(*hypothetical_, *analysis, bound);
    if (!route.ok() || route->nodes.size() != 1 || route->nodes[0] == sample.node) continue;
    const int target = route->nodes[0];
    auto flow = std::find_if(flows_.begin(), flows_.end(),
                             [&](const Flow& f) { return f.source == sample.node && f.target == target; });
    if (flow == flows_.end()) continue;
    const size_t index = static_cast<size_t>(flow - flows_.begin());
    bool same = false;
    bool compared = false;
    // After a fresh catch-up each time: a read that just saw a write commit may differ once,
    // a real difference stays.
    for (int attempt = 0; attempt < 3 && !same; ++attempt) {
      if (!WaitFlowCaughtUp(*flow, ForwardNames(id_, index).slot, false).ok()) {
        compared = false;
        break;
      }
      auto a = Conn(flow->source);
      auto b = Conn(flow->target);
      if (!a.ok() || !b.ok()) {
        compared = false;
        break;
      }
      auto result = SameResult(a.value()->get(), b.value()->get(), sample.sql, sample.params);
      if (!result.ok()) {
        compared = false;
        break;
      }
      compared = true;
      same = *result;
    }
    if (!compared) continue;
    ++progress_.shadow_reads;
    if (!same) {
      ++progress_.shadow_mismatches;
      log::warn("migration {}: shadow read differs between node {} and node {}: {}", id_, flow->source, flow->target,
                sample.sql);
    }
  }
  UpdateLive();
}

Status Service::Runner::CountsMatch(const Flow& flow) {
  auto a = Conn(flow.source);
  if (!a.ok()) return a.status();
  auto b = Conn(flow.target);
  if (!b.ok()) return b.status();
  auto on_source = CountRows(a.value()->get(), tables_, flow.filter, "node " + std::to_string(flow.source));
  if (!on_source.ok()) return on_source.status();
  auto on_target = CountRows(b.value()->get(), tables_, flow.filter, "node " + std::to_string(flow.target));
  if (!on_target.ok()) return on_target.status();
  if (*on_source != *on_target) {
    return Status::Error("XX001", fmt::format("final check: node {} holds {} rows of the flow, node {} holds {}",
                                              flow.source, *on_source, flow.target, *on_target));
  }
  return Status::OK();
}

Status Service::Runner::StepIncrementalWrites() {
  if (!state_.value("reverse_ready", false)) {
    // The reverse direction, for a rollback after the cutover: a publication and a slot on each
    // target now (creating a slot waits for running transactions: not under the fence); the
    // cutover moves the slot to the switch point.
    for (size_t i = 0; i < flows_.size(); ++i) {
      const Flow& f = flows_[i];
      const FlowNames rev = ReverseNames(id_, i);
      if (Status s = Identity(f.target); !s.ok()) return s;
      auto target = Conn(f.target);
      if (!target.ok()) return target.status();
      if (Status s = CreatePublication(target.value()->get(), rev.publication, tables_, f.filter); !s.ok()) return s;
      if (Status s = CreateSlot(target.value()->get(), rev.slot); !s.ok()) return s;
    }
    state_["reverse_ready"] = true;
    if (Status s = SaveState(); !s.ok()) return s;
  }
  fence_->SetSampling(true);
  ShadowRound();
  // Full-range checksums, chunked, once the targets have caught up.
  int64_t mismatched = 0, unsettled = 0;
  unsettled_.assign(flows_.size(), {});
  std::string first;
  for (size_t i = 0; i < flows_.size(); ++i) {
    const Flow& f = flows_[i];
    if (Status s = WaitFlowCaughtUp(f, ForwardNames(id_, i).slot, false); !s.ok()) return s;
    auto a = Conn(f.source);
    if (!a.ok()) return a.status();
    auto b = Conn(f.target);
    if (!b.ok()) return b.status();
    const std::string slot = ForwardNames(id_, i).slot;
    auto sums = CompareChecksums(a.value()->get(), b.value()->get(), tables_, f.filter, kChecksumChunkRows,
                                 kChecksumRetries, [&] { return WaitFlowCaughtUp(f, slot, false); });
    if (!sums.ok()) return sums.status();
    progress_.checksum_chunks += sums->chunks;
    progress_.checksum_mismatches += sums->mismatched_chunks;
    mismatched += sums->mismatched_chunks;
    unsettled += static_cast<int64_t>(sums->unsettled.size());
    unsettled_[i] = std::move(sums->unsettled);
    if (first.empty()) first = sums->first_mismatch;
  }
  if (Status s = SaveState(); !s.ok()) return s;
  if (mismatched > 0) {
    if (++checksum_attempts_ >= kMaxChecksumAttempts) {
      return Status::Error("XX001", fmt::format("checksums of source and target differ in {} chunk(s): {}", mismatched, first));
    }
    Sleep(std::chrono::seconds(1));
    return Status::OK();
  }
  // Paused meanwhile: hold here (the step loop waits); on resume the rows are compared again,
  // as writes went on.
  if (Interrupted() || live_->paused.load()) return Status::OK();
  if (Status s = SetPhase(Phase::kCutover,
                         fmt::format("checksums equal ({} chunks; {} kept changing: compared again in sub-chunks, "
                                     "then under the fence); fencing the rows",
                                     progress_.checksum_chunks, unsettled));
      !s.ok()) {
    return s;
  }
  return Cutover();
}

bool Service::Runner::CloseFence(std::chrono::milliseconds timeout) {
  fence_->Close();
  if (fence_->WaitDrained(timeout)) return true;
  fence_->Open(0);
  return false;
}

Status Service::Runner::RefineUnsettled() {
  for (size_t i = 0; i < flows_.size() && i < unsettled_.size(); ++i) {
    if (unsettled_[i].empty()) continue;
    const Flow& f = flows_[i];
    auto a = Conn(f.source);
    if (!a.ok()) return a.status();
    auto b = Conn(f.target);
    if (!b.ok()) return b.status();
    const auto started = Clock::now();
    auto refined = RefineChunks(a.value()->get(), b.value()->get(), tables_, f.filter, unsettled_[i],
                                kRefineChunkRows, kChecksumRetries,
                                [&] { return WaitFlowApplied(f, i, /*fenced=*/false); });
    if (!refined.ok()) return refined.status();
    progress_.checksum_chunks += refined->chunks;
    progress_.checksum_mismatches += refined->mismatched_chunks;
    if (refined->mismatched_chunks > 0) {
      return Status::Error("XX001", fmt::format("checksums differ before the fence: {}", refined->first_mismatch));
    }
    log::info("migration {}: flow {}: {} chunk(s) that kept changing split into {} sub-chunk(s); {} still changing "
              "({:.0f} ms, before the fence)",
              id_, i, unsettled_[i].size(), refined->chunks + static_cast<int64_t>(refined->unsettled.size()),
              refined->unsettled.size(), MsSince(started));
    unsettled_[i] = std::move(refined->unsettled);
  }
  return Status::OK();
}

Status Service::Runner::Cutover() {
  auto layout = StateLayout("new_layout");
  if (!layout.ok()) return layout.status();
  if (Status s = RefineUnsettled(); !s.ok()) return s;
  // A transaction inside the fence that takes long to end, or a target that takes long to
  // apply the last writes under it (its subscriber not reporting the source's position, say),
  // would hold every write to the rows meanwhile. Past the budget the fence opens again and the
  // cutover starts over after a pause, the catch-up done again outside the fence. A transaction
  // may stay open for as long as its client likes: the drain never waits past the budget, the
  // pauses grow, and past cutover_timeout_s the migration gives up. A stalled subscriber ends
  // by itself: after cutover_attempts - 1 fenced catch-ups over budget the next one may take up
  // to catchup_timeout_s. A drain over budget in between never reached the catch-up: it says
  // nothing of the subscriber and leaves the count as it was.
  const auto& config = svc_.config_.migration;
  std::optional<std::chrono::milliseconds> budget;
  if (config.cutover_fence_budget_ms > 0) budget = std::chrono::milliseconds(config.cutover_fence_budget_ms);
  const auto started = Clock::now();
  auto pause = kCutoverPauseFirst;
  int apply_overruns = 0;
  for (;;) {
    auto result = CutoverAttempt(*layout, budget, apply_overruns + 1 < config.cutover_attempts);
    if (!result.ok()) return result.status();
    if (*result == Attempt::kDone) return Status::OK();
    if (*result == Attempt::kApplyOverBudget) ++apply_overruns;
    ++progress_.cutover_attempts;
    UpdateLive();
    if (MsSince(started) > config.cutover_timeout_s * 1000) {
      return StartFailing(fmt::format("the cutover found no moment to switch within cutover_timeout_s ({} s, {} "
                                      "attempts): {}",
                                      config.cutover_timeout_s, progress_.cutover_attempts,
                                      progress_.cutover_blocked_by),
                          "rolling back: ");
    }
    // Writers wait at the fence at most 1 / (kFenceDuty + 1) of the time.
    const auto held = std::chrono::milliseconds(static_cast<int64_t>(progress_.cutover_abandoned_ms.back()));
    Sleep(std::max(pause, kFenceDuty * held));
    pause = std::min(2 * pause, kCutoverPauseMax);
    if (Interrupted() || live_->paused.load()) {
      return SetPhase(Phase::kIncrementalWrites, "cutover interrupted while it waited for its fence to drain");
    }
  }
}

Status Service::Runner::NoSchemaChangeOpen() {
  for (int node : FlowNodes()) {
    auto c = Conn(node);
    if (!c.ok()) return c.status();
    auto open = OldestTransactionOn(c.value()->get(), tables_, "node " + std::to_string(node), "AccessExclusiveLock");
    if (!open.ok()) return open.status();
    if (!open->empty()) {
      return Status::Error("55006", fmt::format("a schema change is open on the tables on node {} ({}); the copy "
                                                "assumes their columns stay as they are: end that transaction, "
                                                "then submit the migration again",
                                                node, *open));
    }
  }
  return Status::OK();
}

Status Service::Runner::NoneInDoubt() {
  for (int node : FlowNodes()) {
    auto c = Conn(node);
    if (!c.ok()) return c.status();
    auto res = pg::Exec(c.value()->get(), "SELECT gid FROM pg_catalog.pg_prepared_xacts WHERE gid LIKE 'mosaic\\_%'",
                        {}, "node " + std::to_string(node));
    if (!res.ok()) return res.status();
    int64_t n = 0;
    for (int r = 0; r < PQntuples(res->get()); ++r) {
      if (!svc_.in_flight_ || !svc_.in_flight_(pg::TextAt(res->get(), r, 0))) ++n;
    }
    if (n > 0) {
      return Status::Error("55000", fmt::format("{} two-phase transaction(s) on node {} still in doubt; the switch "
                                                "waits until the recovery pass has resolved them",
                                                n, node));
    }
  }
  return Status::OK();
}

std::set<int> Service::Runner::FlowNodes() const {
  std::set<int> nodes;
  for (const Flow& f : flows_) nodes.insert({f.source, f.target});
  return nodes;
}

std::string Service::Runner::FenceBlocker() {
  for (int node : FlowNodes()) {
    auto c = Conn(node);
    if (!c.ok()) continue;
    auto oldest = OldestTransactionOn(c.value()->get(), tables_, "node " + std::to_string(node));
    if (oldest.ok() && !oldest->empty()) return fmt::format("node {}: {}", node, *oldest);
  }
  return fmt::format("{} transaction(s) inside the fence, none holding a lock on the tables on the flows' nodes",
                     fence_->inside());
}

Result<Service::Runner::Attempt> Service::Runner::CutoverAttempt(const catalog::Layout& layout,
                                                                 std::optional<std::chrono::milliseconds> budget,
                                                                 bool apply_budget) {
  if (Status s = NoneInDoubt(); !s.ok()) {
    log::warn("migration {}: cutover postponed: {}", id_, s.message());
    Sleep(std::chrono::seconds(1));
    if (Status p = SetPhase(Phase::kIncrementalWrites, "cutover postponed: " + s.message()); !p.ok()) return p;
    return Attempt::kDone;
  }
  // Catch up before the fence closes: under it, only what committed since is left to apply.
  for (size_t i = 0; i < flows_.size(); ++i) {
    if (Status s = WaitFlowApplied(flows_[i], i, /*fenced=*/false); !s.ok()) return s;
  }
  // The catalog's side of the switch, and the map that goes with it, before the fence closes:
  // under it only the journal row and the COMMIT are left. Its shard-map lock waits for us.
  // Not when the catalog shares a PostgreSQL server with a source: while that transaction is
  // open there, the source's walsender stalls (measured: the fenced catch-up took 100-350 ms
  // instead of 1-3), so it is prepared under the fence, after the catch-up.
  const bool early = std::none_of(flows_.begin(), flows_.end(), [&](const Flow& f) {
    const catalog::Node* source = NodeById(f.source);
    return source == nullptr || OnServer(svc_.catalog_dsn_, source->host, source->port);
  });
  Result<std::unique_ptr<catalog::PreparedCutover>> prepared = Status::Internal("the cutover's catalog transaction is not prepared yet");
  if (early) {
    prepared = catalog_->PrepareCutOver(id_, layout, "deprecated");
    if (!prepared.ok()) return prepared.status();
  }
  auto abort_prepared = [&] {
    if (prepared.ok()) (*prepared)->Abort();
  };
  // A stream of transactions on the rows leaves moments with none open: close the fence then,
  // and the drain has nothing to wait for.
  (void)fence_->WaitDrained(kFenceIdleWait);
  const auto t0 = Clock::now();
  auto abandoned = [&] {
    auto& held = progress_.cutover_abandoned_ms;
    held.push_back(MsSince(t0));
    if (held.size() > Progress::kAbandonedKept) held.erase(held.begin());
    state_["progress"] = ProgressJson(progress_);
  };
  const auto drain_limit = budget.value_or(std::chrono::milliseconds(svc_.config_.migration.cutover_drain_ms));
  if (!CloseFence(drain_limit)) {
    abandoned();
    abort_prepared();
    if (budget) {
      progress_.cutover_blocked_by = "transactions on the rows still open: " + FenceBlocker();
      log::warn("migration {}: fence opened again after {:.1f} ms: {}; trying again", id_,
                progress_.cutover_abandoned_ms.back(), progress_.cutover_blocked_by);
      return Attempt::kDrainOverBudget;
    }
    Sleep(std::chrono::seconds(1));
    if (Status s = SetPhase(Phase::kIncrementalWrites,
                            fmt::format("cutover postponed: transactions on the rows stayed open for more than {} ms",
                                        svc_.config_.migration.cutover_drain_ms));
        !s.ok()) {
      return s;
    }
    return Attempt::kDone;
  }
  StepTimes steps(t0);
  steps.Mark("drain");
  // Again under the fence: a router may have failed between PREPARE and COMMIT PREPARED since.
  if (Status s = NoneInDoubt(); !s.ok()) {
    fence_->Open(0);
    abandoned();
    abort_prepared();
    log::warn("migration {}: cutover postponed: {}", id_, s.message());
    Sleep(std::chrono::seconds(1));
    if (Status p = SetPhase(Phase::kIncrementalWrites, "cutover postponed: " + s.message()); !p.ok()) return p;
    return Attempt::kDone;
  }
  // Under the fence: nothing writes the rows. Let the targets catch up, check, switch.
  auto reopen = [&] {
    fence_->Open(0);
    abandoned();
    abort_prepared();  // nothing was committed: the old map stays right
  };
  auto back_off = [&](const Status& why) {
    reopen();
    log::warn("migration {}: cutover postponed: {}", id_, why.message());
    Status s = SetPhase(Phase::kIncrementalWrites, "cutover postponed: " + why.message());
    return s.ok() ? why : s;
  };
  for (size_t i = 0; i < flows_.size(); ++i) {
    std::optional<std::chrono::milliseconds> left;  // what the budget leaves for this catch-up
    if (budget && apply_budget) {
      left = std::max(std::chrono::milliseconds(1),
                      *budget - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0));
    }
    if (Status s = WaitFlowApplied(flows_[i], i, /*fenced=*/true, left); !s.ok()) {
      if (!left || s.sqlstate() != "57014") return back_off(s);
      reopen();
      progress_.cutover_blocked_by = fmt::format("the catch-up under the fence: {}", s.message());
      log::warn("migration {}: fence opened again after {:.1f} ms ({}): {}; {}; trying again", id_,
                progress_.cutover_abandoned_ms.back(), steps.text(), s.message(), FlowPositions(flows_[i], i));
      return Attempt::kApplyOverBudget;
    }
    steps.Mark("apply");
    // Where the reverse direction starts: everything the target holds now came from the source
    // (the recheck below only reads). The slot is moved there after the fence opens (moving it
    // waits for the WAL to be flushed).
    auto flushed = FlushTarget(flows_[i]);
    if (!flushed.ok()) return back_off(flushed.status());
    state_["reverse_from"][i] = *flushed;
    steps.Mark("flush");
    if (i < unsettled_.size() && !unsettled_[i].empty()) {
      // Chunks the writes kept changing: nothing writes them now.
      auto a = Conn(flows_[i].source);
      auto b = Conn(flows_[i].target);
      if (!a.ok()) return back_off(a.status());
      if (!b.ok()) return back_off(b.status());
      std::string first;
      auto differ = RecheckChunks(a.value()->get(), b.value()->get(), tables_, flows_[i].filter, unsettled_[i], &first);
      if (!differ.ok()) return back_off(differ.status());
      progress_.checksum_chunks += static_cast<int64_t>(unsettled_[i].size());
      if (*differ > 0) {
        progress_.checksum_mismatches += *differ;
        return back_off(Status::Error("XX001", fmt::format("checksums differ under the fence: {}", first)));
      }
      steps.Mark("recheck", fmt::format("{} sub-chunks", unsettled_[i].size()));
    }
  }
  if (!early) {
    prepared = catalog_->PrepareCutOver(id_, layout, "deprecated");
    if (!prepared.ok()) return back_off(prepared.status());
    steps.Mark("prepare");
  }
  if (svc_.config_.test_fault == "migration-cutover") {
    log::warn("test fault migration-cutover: killing the router under the write fence of migration {}", id_);
    std::raise(SIGKILL);
  }
  state_["deprecated_at"] = WallSeconds();
  progress_.cutover_pause_ms = MsSince(t0);
  state_["progress"] = ProgressJson(progress_);
  auto committed = CommitSwitch(**prepared,
                                fmt::format("switched to the targets; write fence held {:.1f} ms before the "
                                            "catalog commit ({})",
                                            progress_.cutover_pause_ms, steps.text()),
                                [](const catalog::MigrationRecord& r) { return r.phase == "deprecated"; });
  if (!committed.known) return committed.status;  // fence stays closed; the process is stopping
  if (!committed.status.ok()) return back_off(committed.status);
  steps.Mark("catalog");
  // The switch is committed: from here on the data path must not use the old map.
  PublishMap((*prepared)->map());
  fence_->Open(map_->version);
  steps.Mark("publish");
  progress_.cutover_pause_ms = MsSince(t0);
  progress_.cutover_steps_ms = steps.totals();
  progress_.cutover_blocked_by.clear();
  phase_ = Phase::kDeprecated;
  record_.phase = "deprecated";
  UpdateLive();
  log::info("migration {}: cut over; write fence held {:.1f} ms ({})", id_, progress_.cutover_pause_ms,
            steps.text());
  if (Status s = FinishCutover(); !s.ok()) return s;
  return Attempt::kDone;
}

std::string Service::Runner::FlowPositions(const Flow& flow, size_t index) {
  auto source = Conn(flow.source);
  if (!source.ok()) return source.status().message();
  auto res = pg::Exec(source.value()->get(),
                      "SELECT format('source at %s; walsender %s: sent %s, written %s, flushed %s, applied %s', "
                      "pg_catalog.pg_current_wal_insert_lsn(), coalesce(r.state, 'absent'), r.sent_lsn, r.write_lsn, "
                      "r.flush_lsn, r.replay_lsn) "
                      "FROM pg_catalog.pg_replication_slots s LEFT JOIN pg_catalog.pg_stat_replication r "
                      "ON s.active_pid = r.pid WHERE s.slot_name = $1",
                      {ForwardNames(id_, index).slot}, "node " + std::to_string(flow.source));
  if (!res.ok()) return res.status().message();
  return pg::TextAt(res->get(), 0, 0);
}

Status Service::Runner::FinishCutover() {
  // Forward replication ends; the sources follow the targets until the retention ends.
  for (size_t i = 0; i < flows_.size(); ++i) {
    const Flow& f = flows_[i];
    const FlowNames fwd = ForwardNames(id_, i);
    auto target = Conn(f.target);
    if (!target.ok()) return target.status();
    if (Status s = DropSubscription(target.value()->get(), fwd.subscription); !s.ok()) return s;
    const std::string from = state_["reverse_from"].is_array() && i < state_["reverse_from"].size()
                                 ? state_["reverse_from"][i].get<std::string>()
                                 : std::string();
    if (from.empty()) return Status::Internal(fmt::format("migration {} has no reverse start for flow {}", id_, i));
    if (Status s = AdvanceSlot(target.value()->get(), ReverseNames(id_, i).slot, from); !s.ok()) return s;
    auto source = Conn(f.source);
    if (!source.ok()) return source.status();
    if (Status s = DropPublication(source.value()->get(), fwd.publication); !s.ok()) return s;
    if (Status s = DropSlot(source.value()->get(), fwd.slot); !s.ok()) return s;
    const catalog::Node* target_node = NodeById(f.target);
    if (target_node == nullptr) return Status::Error("22023", "a node of the migration left the map");
    if (Status s = Subscribe(source.value()->get(), *target_node, ReverseNames(id_, i), from); !s.ok()) return s;
  }
  fence_->SetSampling(false);
  state_["reverse_on"] = true;
  return SaveState();
}

Status Service::Runner::StepDeprecated() {
  if (!state_.value("reverse_on", false)) return FinishCutover();
  const double since = WallSeconds() - state_.value("deprecated_at", WallSeconds());
  if (!state_.value("cleaning", false) && since < svc_.config_.migration.retention_s) {
    Sleep(std::chrono::milliseconds(250));
    return Status::OK();
  }
  if (!state_.value("cleaning", false)) {
    state_["cleaning"] = true;  // from here on the move can no longer be rolled back
    if (Status s = SaveState(); !s.ok()) return s;
  }
  for (size_t i = 0; i < flows_.size(); ++i) {
    const Flow& f = flows_[i];
    const FlowNames rev = ReverseNames(id_, i);
    auto source = Conn(f.source);
    if (!source.ok()) return source.status();
    if (Status s = DropSubscription(source.value()->get(), rev.subscription); !s.ok()) return s;
    auto target = Conn(f.target);
    if (!target.ok()) return target.status();
    if (Status s = DropPublication(target.value()->get(), rev.publication); !s.ok()) return s;
    if (Status s = DropSlot(target.value()->get(), rev.slot); !s.ok()) return s;
    auto deleted = DeleteRows(source.value()->get(), tables_, f.filter, svc_.config_.migration.batch_rows,
                              "node " + std::to_string(f.source));
    if (!deleted.ok()) return deleted.status();
  }
  if (Status s = RestoreIdentities(); !s.ok()) return s;
  return SetPhase(Phase::kDone, fmt::format("sources cleaned up after {:.0f} s of retention", since));
}

Status Service::Runner::StepRollingBack() {
  if (state_.value("switch_back", false) && !state_.value("switched_back", false)) {
    auto layout = StateLayout("old_layout");
    if (!layout.ok()) return layout.status();
    // As in Cutover: the catalog's side first, the fence after.
    auto prepared = catalog_->PrepareCutOver(id_, *layout, "rolling_back");
    if (!prepared.ok()) return prepared.status();
    const auto t0 = Clock::now();
    if (Status s = NoneInDoubt(); !s.ok()) {
      (*prepared)->Abort();
      log::warn("migration {}: switch back postponed: {}", id_, s.message());
      Sleep(std::chrono::seconds(1));
      return Status::OK();  // try again
    }
    if (!CloseFence(std::chrono::milliseconds(svc_.config_.migration.cutover_drain_ms))) {
      (*prepared)->Abort();
      Sleep(std::chrono::seconds(1));
      return Status::OK();  // try again
    }
    if (Status s = NoneInDoubt(); !s.ok()) {
      fence_->Open(0);
      (*prepared)->Abort();
      log::warn("migration {}: switch back postponed: {}", id_, s.message());
      Sleep(std::chrono::seconds(1));
      return Status::OK();  // try again
    }
    for (size_t i = 0; i < flows_.size(); ++i) {
      Status s = WaitFlowCaughtUp(flows_[i], ReverseNames(id_, i).slot, true);
      if (s.ok()) s = CountsMatch(flows_[i]);
      if (!s.ok()) {
        fence_->Open(0);
        return s;  // `prepared` rolls back
      }
    }
    state_["switched_back"] = true;
    auto committed = CommitSwitch(**prepared,
                                  fmt::format("switched back to the sources; write fence held {:.1f} ms", MsSince(t0)),
                                  [](const catalog::MigrationRecord& r) {
                                    Json stored = Json::parse(r.state_json, nullptr, false);
                                    return stored.is_object() && stored.value("switched_back", false);
                                  });
    if (!committed.status.ok()) {
      state_["switched_back"] = false;
      if (committed.known) fence_->Open(0);
      return committed.status;
    }
    PublishMap((*prepared)->map());
    fence_->Open(map_->version);
  }
  // Remove every trace on the targets (and the replication objects on both sides).
  for (size_t i = 0; i < flows_.size(); ++i) {
    const Flow& f = flows_[i];
    const FlowNames fwd = ForwardNames(id_, i);
    const FlowNames rev = ReverseNames(id_, i);
    auto source = Conn(f.source);
    if (!source.ok()) return source.status();
    auto target = Conn(f.target);
    if (!target.ok()) return target.status();
    if (Status s = DropSubscription(target.value()->get(), fwd.subscription); !s.ok()) return s;
    if (Status s = DropSubscription(source.value()->get(), rev.subscription); !s.ok()) return s;
    if (Status s = DropPublication(source.value()->get(), fwd.publication); !s.ok()) return s;
    if (Status s = DropSlot(source.value()->get(), fwd.slot); !s.ok()) return s;
    if (Status s = DropPublication(target.value()->get(), rev.publication); !s.ok()) return s;
    if (Status s = DropSlot(target.value()->get(), rev.slot); !s.ok()) return s;
    auto deleted = DeleteRows(target.value()->get(), tables_, f.filter, svc_.config_.migration.batch_rows,
                              "node " + std::to_string(f.target));
    if (!deleted.ok()) return deleted.status();
  }
  if (Status s = RestoreIdentities(); !s.ok()) return s;
  fence_->SetSampling(false);
  if (failing_) return SetPhase(Phase::kFailed, "rolled back: " + failure_, failure_);
  return SetPhase(Phase::kRolledBack, "rolled back: the sources hold the rows, the targets nothing");
}

// ---------------------------------------------------------------------------------------------
// Service

Service::Service(const Config& config, std::string catalog_dsn, catalog::ShardMapHolder& holder, Registry& registry)
    : config_(config), catalog_dsn_(std::move(catalog_dsn)), holder_(holder), registry_(registry) {}

Service::~Service() { Stop(); }

Status Service::Start() {
  std::lock_guard lock(mu_);
  auto catalog = catalog::Catalog::Open(catalog_dsn_);
  if (!catalog.ok()) return catalog.status();
  catalog_ = std::move(catalog).value();
  auto active = catalog_->ListMigrations(true);
  if (!active.ok()) return active.status();
  // Oldest first, so that queued migrations keep their order.
  for (auto it = active->rbegin(); it != active->rend(); ++it) {
    auto live = std::make_shared<Live>();
    live->paused.store(it->paused);
    if (it->requested == "abort") live->request.store(kRequestAbort);
    if (it->requested == "rollback") live->request.store(kRequestRollback);
    live->phase = it->phase;
    log::info("migration {}: resuming in phase {}", it->id, it->phase);
    Launch(it->id, std::move(live));
  }
  return Status::OK();
}

void Service::Stop() {
  std::map<int64_t, std::shared_ptr<Live>> live;
  {
    std::lock_guard lock(mu_);
    live = live_;
  }
  for (auto& [id, l] : live) l->stop.store(true);
  for (auto& [id, l] : live) {
    if (l->thread.joinable()) l->thread.join();
  }
}

void Service::Launch(int64_t id, std::shared_ptr<Live> live) {
  live_[id] = live;
  live->thread = std::thread([this, id, live] {
    Runner runner(*this, id, live);
    runner.Run();
  });
}

bool Service::AcquireNodes(int64_t id, const std::vector<int>& nodes) {
  std::lock_guard lock(mu_);
  std::map<int, int> busy;
  for (const auto& [other, live] : live_) {
    if (other == id || !live->copying.load() || live->terminal.load()) continue;
    std::lock_guard l(live->mu);
    if (live->phase == "deprecated") continue;  // done copying; only replicates back
    std::set<int> mine(live->nodes.begin(), live->nodes.end());
    for (int n : mine) ++busy[n];
  }
  for (int n : std::set<int>(nodes.begin(), nodes.end())) {
    if (busy[n] >= config_.migration.max_per_node) return false;
  }
  live_[id]->copying.store(true);
  return true;
}

bool Service::WaitTerminal(int64_t id, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return terminal_cv_.wait_for(lock, timeout, [&] {
    auto it = live_.find(id);
    return it != live_.end() && it->second->terminal.load();
  });
}

std::pair<int, Json> Service::Render(const catalog::MigrationRecord& m, bool with_journal) {
  std::vector<catalog::MigrationJournalEntry> journal;
  if (with_journal) {
    auto entries = catalog_->MigrationJournal(m.id);
    if (entries.ok()) journal = std::move(entries).value();
  }
  Json out = admin::MigrationJson(m, with_journal ? &journal : nullptr);
  auto it = live_.find(m.id);
  if (it != live_.end() && !it->second->terminal.load()) {
    std::lock_guard lock(it->second->mu);
    Json progress = ProgressJson(it->second->progress);
    catalog::MigrationRecord live_record = m;
    Json state = Json::parse(m.state_json, nullptr, false);
    if (!state.is_object()) state = Json::object();
    state["progress"] = progress;
    live_record.state_json = state.dump();
    if (!it->second->phase.empty()) live_record.phase = it->second->phase;
    out = admin::MigrationJson(live_record, with_journal ? &journal : nullptr);
  }
  return {200, out};
}

std::pair<int, Json> Service::Submit(const Json& action) {
  std::lock_guard lock(mu_);
  if (!catalog_) return ErrorReply(503, Status::Error("08006", "the migration service is not running"));
  auto map = holder_.Snapshot();
  auto plan = PlanAction(action, *map);
  if (!plan.ok()) return ErrorReply(plan.status().sqlstate() == "08006" ? 503 : 400, plan.status());
  std::string origin = "manual";
  if (action.is_object() && action.contains("origin")) {
    if (!action["origin"].is_string() || (action["origin"] != "manual" && action["origin"] != "rebalancer")) {
      return ErrorReply(400, Status::Error("22023", "origin: must be \"manual\" or \"rebalancer\""));
    }
    origin = action["origin"].get<std::string>();
  }
  auto active = catalog_->ListMigrations(true);
  if (!active.ok()) return ErrorReply(503, active.status());
  for (const auto& m : *active) {
    if (m.tenant != plan->tenant) continue;
    for (int64_t t : m.table_ids) {
      if (std::find(plan->table_ids.begin(), plan->table_ids.end(), t) != plan->table_ids.end()) {
        return ErrorReply(409, Status::Error(sqlstate::kObjectInUse, fmt::format("migration {} ({}) is already moving rows of these "
                                                                  "tables for this tenant",
                                                                  m.id, m.phase)));
      }
    }
  }
  // The layout as it is, to switch back to after a cutover.
  catalog::Layout old;
  if (plan->layout_id != 0) {
    for (const auto& l : map->layouts) {
      if (l.id == plan->layout_id) old = l;
    }
  } else {
    old.tenant = plan->tenant;
    old.table_ids = plan->table_ids;
    old.column = plan->column;
    catalog::Range whole;
    whole.node_id = plan->tenant.empty() ? map->DefaultNode().id : map->TenantHomeNode(plan->tenant);
    old.ranges.push_back(whole);
  }
  Json flows = Json::array();
  for (const auto& f : plan->flows) flows.push_back({{"source", f.source}, {"target", f.target}, {"filter", f.filter}});
  Json state = {{"old_layout", advisor::LayoutRequestJson(*map, old)},
                {"new_layout", advisor::LayoutRequestJson(*map, plan->new_layout)}};
  catalog::MigrationRecord record;
  record.action = std::string(ActionKindName(plan->kind));
  record.origin = origin;
  record.tenant = plan->tenant;
  record.table_ids = plan->table_ids;
  record.plan_json = PlanJson(*plan).dump();
  record.flows_json = flows.dump();
  record.state_json = state.dump();
  auto id = catalog_->CreateMigration(record);
  if (!id.ok()) return ErrorReply(503, id.status());
  record.id = *id;
  auto stored = catalog_->GetMigration(*id);
  if (stored.ok() && stored->has_value()) record = **stored;
  auto live = std::make_shared<Live>();
  live->phase = "queued";
  Launch(*id, live);
  auto reply = Render(record, false);
  reply.first = 201;
  return reply;
}

std::pair<int, Json> Service::List() {
  std::lock_guard lock(mu_);
  if (!catalog_) return ErrorReply(503, Status::Error("08006", "the migration service is not running"));
  auto all = catalog_->ListMigrations(false);
  if (!all.ok()) return ErrorReply(503, all.status());
  Json out = Json::array();
  for (const auto& m : *all) out.push_back(Render(m, false).second);
  return {200, Json{{"migrations", out}}};
}

std::pair<int, Json> Service::Get(int64_t id) {
  std::lock_guard lock(mu_);
  if (!catalog_) return ErrorReply(503, Status::Error("08006", "the migration service is not running"));
  auto m = catalog_->GetMigration(id);
  if (!m.ok()) return ErrorReply(503, m.status());
  if (!m->has_value()) return ErrorReply(404, Status::Error("42704", fmt::format("migration {} does not exist", id)));
  return Render(**m, true);
}

std::pair<int, Json> Service::Request(int64_t id, const std::string& request) {
  std::lock_guard lock(mu_);
  if (!catalog_) return ErrorReply(503, Status::Error("08006", "the migration service is not running"));
  auto m = catalog_->GetMigration(id);
  if (!m.ok()) return ErrorReply(503, m.status());
  if (!m->has_value()) return ErrorReply(404, Status::Error("42704", fmt::format("migration {} does not exist", id)));
  auto it = live_.find(id);
  const std::string phase = it != live_.end() ? [&] {
    std::lock_guard l(it->second->mu);
    return it->second->phase;
  }() : (*m)->phase;
  auto p = PhaseFromName(phase).value_or(Phase::kFailed);
  auto conflict = [&](const std::string& why) {
    return ErrorReply(409, Status::Error("55000", fmt::format("migration {} is {}: {}", id, phase, why)));
  };
  if (IsTerminal(p) || it == live_.end()) return conflict("it has finished");
  if (request == "pause" || request == "resume") {
    const bool pause = request == "pause";
    if (Status s = catalog_->SetMigrationPaused(id, pause); !s.ok()) return ErrorReply(503, s);
    it->second->paused.store(pause);
  } else if (request == "abort") {
    if (p == Phase::kDeprecated || p == Phase::kRollingBack) return conflict("it is past its cutover; use rollback");
    if (Status s = catalog_->SetMigrationRequest(id, "abort"); !s.ok()) return ErrorReply(503, s);
    it->second->request.store(kRequestAbort);
  } else if (request == "rollback") {
    Json state = Json::parse((*m)->state_json, nullptr, false);
    if (p == Phase::kRollingBack) return conflict("it is already rolling back");
    if (p == Phase::kDeprecated && state.is_object() && state.value("cleaning", false)) {
      return conflict("its sources are being cleaned up");
    }
    if (Status s = catalog_->SetMigrationRequest(id, "rollback"); !s.ok()) return ErrorReply(503, s);
    it->second->request.store(kRequestRollback);
  } else {
    return ErrorReply(404, Status::Error("22023", "unknown request " + request));
  }
  auto again = catalog_->GetMigration(id);
  if (!again.ok() || !again->has_value()) return ErrorReply(503, Status::Error("08006", "catalog"));
  return Render(**again, false);
}

}  // namespace mosaic::migration

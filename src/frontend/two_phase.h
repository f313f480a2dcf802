// Two-phase commit on the data path: what a session needs besides its node links to commit a
// transaction that wrote on several nodes (see Session::EndTransaction):
//
//   1. PREPARE TRANSACTION 'gid' on every node that wrote (readers just COMMIT);
//   2. the commit decision, recorded durably in the catalog (DecisionLog);
//   3. COMMIT PREPARED 'gid' on every node that wrote.
//
// A failure before step 2 rolls back everywhere. From step 2 on the transaction is committed:
// if a COMMIT PREPARED fails, or the router dies, the recovery pass (catalog/two_phase_recovery.h)
// finishes it. Transaction ids are "mosaic_<router id>_<incarnation>_<session>_<n>": the router
// id and the incarnation (one per start, from the catalog) keep ids unique across routers and
// restarts, so recovery can tell its own.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

#include "backend/server_conn.h"
#include "catalog/shard_map.h"
#include "common/async.h"
#include "common/status.h"

namespace mosaic::frontend {

// Transaction ids the sessions are committing right now (from before their first PREPARE until
// they finished). The recovery pass leaves these alone. Thread-safe; touched twice per
// two-phase commit, never by single-node transactions.
class InFlightTransactions {
 public:
  void Add(const std::string& gid);
  void Remove(const std::string& gid);
  bool Contains(const std::string& gid) const;

 private:
  mutable std::mutex mu_;
  std::unordered_set<std::string> gids_;  // GUARDED_BY(mu_)
};

// Where the test-only fault injection kills the router during a two-phase commit.
enum class FaultPoint {
  kNone,
  kPrepareSome,  // the first writer prepared, the others not yet asked
  kPrepareAll,   // every writer prepared, no decision recorded
  kDecision,     // decision recorded, no COMMIT PREPARED sent
  kCommitSome,   // the first writer committed, the others not yet asked
};

// Testing only (`mosaic serve --test-fault POINT:N`): SIGKILLs the process at POINT of the
// N-th two-phase commit since start. Disarmed unless configured.
class FaultInjector {
 public:
  // "" = disarmed; else "prepare-some|prepare-all|decision|commit-some:N" with N >= 1.
  static Result<FaultInjector> Parse(std::string_view spec);

  bool armed() const { return point_ != FaultPoint::kNone; }
  // Numbers a new two-phase commit (1, 2, ...). Call once per two-phase commit.
  int64_t NextCommit() { return armed() ? ++commits_ : 0; }
  // True if the commit numbered `commit` must die at `point`.
  bool Hits(FaultPoint point, int64_t commit) const {
    return point_ == point && commit == at_commit_;
  }
  // Logs and kills the process (SIGKILL: no clean-up, as a crash).
  [[noreturn]] static void Fire(FaultPoint point, const std::string& gid);

  FaultInjector() = default;
  FaultInjector(const FaultInjector& other) : point_(other.point_), at_commit_(other.at_commit_) {}
  FaultInjector& operator=(const FaultInjector& other) {
    point_ = other.point_;
    at_commit_ = other.at_commit_;
    commits_ = 0;
    return *this;
  }

 private:
  FaultPoint point_ = FaultPoint::kNone;
  int64_t at_commit_ = 0;
  std::atomic<int64_t> commits_{0};
};

// What every worker's sessions share for two-phase commit. Set up by App before workers start.
struct TwoPhaseContext {
  std::string gid_prefix;  // "mosaic_<router id>_<incarnation>_"
  catalog::Node catalog;   // where decisions are recorded (id 0; dsn of the catalog database)
  InFlightTransactions in_flight;
  FaultInjector faults;
};

// Records commit decisions in the catalog for the sessions of one worker, over one connection
// of its own. Decisions that arrive while a write is on its way are grouped into the next
// single INSERT (group commit): one catalog round trip and one WAL flush serve them all.
// Single-threaded: used only on its worker's thread.
class DecisionLog : public backend::ServerHandler {
 public:
  DecisionLog(asio::any_io_executor executor, const TwoPhaseContext& context, int connect_timeout_s);
  ~DecisionLog() override;

  // Records the commit decision of `gid`. OK once committed in the catalog. 08007 if the
  // outcome is unknown (the connection failed after the INSERT was sent; the row may or may not
  // be there, recovery decides by it); any other error: not recorded (roll back).
  asio::awaitable<Status> Record(std::string gid);

  void OnServerMessage(backend::ServerConn& server, const protocol::Frame& frame) override;
  asio::awaitable<void> OnServerBatchDone(backend::ServerConn& server) override;
  void OnServerClosed(backend::ServerConn& server, const Status& why) override;

 private:
  struct Pending;
  asio::awaitable<void> WriteLoop();
  asio::awaitable<void> WriteBatch(std::vector<std::shared_ptr<Pending>>& batch);

  asio::any_io_executor executor_;
  const TwoPhaseContext& context_;
  int connect_timeout_s_;
  std::shared_ptr<backend::ServerConn> conn_;
  std::vector<std::shared_ptr<Pending>> queued_;
  bool writing_ = false;
  // The reply to the INSERT in flight.
  asio::steady_timer reply_timer_;
  bool awaiting_reply_ = false;
  bool reply_done_ = false;
  Status reply_error_;
  std::unordered_set<std::string> inserted_;  // gids the INSERT returned
};

}  // namespace mosaic::frontend

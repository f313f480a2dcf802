// Last-resource commit: a transaction over several nodes whose part on one node cannot be
// prepared. PostgreSQL refuses PREPARE TRANSACTION of a transaction that touched temporary
// objects, and a session's temporary tables live on the default node; a block that used them
// and wrote rows there and on other nodes commits this way:
//   1. every other writer prepares (gid "..._l<node>"), the other readers commit;
//   2. the default node records the decision in its own transaction: a row of its table
//      _mosaic.local_decisions (gid, commit = true), which the recovery pass creates;
//   3. the default node commits, in one phase: the decision and its rows become durable
//      together (the commit point), or neither does;
//   4. COMMIT PREPARED on the others, then the row is deleted.
// If the router dies, or loses the default node, between 1 and 4, the recovery pass decides each
// "_l<node>" transaction by that node's table (catalog/two_phase_recovery.h): it inserts
// (gid, false) unless a row is there (first writer decides: a session's uncommitted row makes
// it wait for that commit), then commits the prepared parts if the row says commit.
// GCC 12 reports a false -Wmismatched-new-delete on large coroutine frames (asio's awaitable
// frame allocator); the allocation and deallocation are asio's own matched pair.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <fmt/format.h>

#include "common/log.h"
#include "frontend/session.h"
#include "frontend/session_internal.h"

namespace mosaic::frontend {

using asio::awaitable;

Session::Link* Session::LastResource(const std::vector<Link*>& writers) {
  if (temp_tables_.empty() && !temp_in_block_) return nullptr;  // nothing that cannot be prepared
  for (Link* l : writers) {
    if (l->server && l->server->node_id() == map_->DefaultNode().id) return l;
  }
  return nullptr;
}

awaitable<void> Session::CommitLastResource(Link& last, const std::vector<Link*>& linked,
                                            const std::vector<Link*>& writers, bool implicit) {
  worker_.counters().Add(worker_.counters().two_phase_commits_total);
  TwoPhaseContext& tp = ctx_.two_phase;
  const int last_node = last.server->node_id();
  const std::string gid = fmt::format("{}{}_{}_l{}", tp.gid_prefix, pid_, ++gid_counter_, last_node);
  const int64_t fault_at = tp.faults.NextCommit();
  auto fault = [&](FaultPoint point) {
    if (tp.faults.Hits(point, fault_at)) FaultInjector::Fire(point, gid);
  };
  std::vector<Link*> others, prepared;  // every linked node but `last`; the writers among them
  for (Link* l : linked) {
    if (l != &last) others.push_back(l);
  }
  for (Link* l : writers) {
    if (l != &last) prepared.push_back(l);
  }
  auto prepare = [&](Link& l) {
    return l.wrote ? fmt::format("PREPARE TRANSACTION '{}'", gid) : std::string("COMMIT");
  };
  const std::vector<Link*> home{&last};
  auto reset = [&] {
    ClearTransaction();
    tp.in_flight.Remove(gid);
    two_phase_ = false;
  };
  // Rolls back everywhere: the parts prepared (all but those whose PREPARE failed) and `last`.
  auto roll_back = [&]() -> awaitable<void> {
    co_await RollBackPrepared(prepared, gid);
    co_await RunOnLinks(home, [](Link&) { return std::string("ROLLBACK"); }, true);
    reset();
    broadcast_error_ = true;
  };

  tp.in_flight.Add(gid);
  two_phase_ = true;  // a client that hangs up from here on does not cut it short
  errored_servers_.clear();
  const std::vector<Link*> first_writer{prepared.front()};
  if (tp.faults.Hits(FaultPoint::kPrepareSome, fault_at)) {
    co_await RunOnLinks(first_writer, prepare, false);
    fault(FaultPoint::kPrepareSome);
  }
  co_await RunOnLinks(others, prepare, false);
  if (broadcast_error_) {  // a node could not prepare (its error went to the client)
    co_await roll_back();
    co_return;
  }

  // The decision, in the transaction it decides.
  const std::string record = fmt::format("INSERT INTO _mosaic.local_decisions (gid, commit) VALUES ('{}', true)", gid);
  quiet_failed_ = false;
  quiet_error_.clear();
  co_await RunOnLinks(home, [&](Link&) { return record; }, true);
  if (quiet_failed_) {
    protocol::ErrorFields fields;
    const bool read = quiet_error_.size() > 5 && protocol::ParseErrorFields(std::string_view(quiet_error_).substr(5), &fields).ok();
    const Status why = Status::Error(
        read && !fields.code.empty() ? std::string(fields.code) : std::string(sqlstate::kConnectionFailure),
        fmt::format("cannot record the commit decision on node {} (the transaction used temporary tables there, "
                    "so its part there cannot be prepared; the decision goes in that node's "
                    "_mosaic.local_decisions, which the recovery pass creates): {}",
                    last_node, read ? std::string(fields.message) : std::string("the connection was lost")));
    co_await roll_back();
    EmitError(why);
    co_return;
  }
  fault(FaultPoint::kPrepareAll);

  // The commit point.
  quiet_failed_ = false;
  quiet_error_.clear();
  co_await RunOnLinks(home, [](Link&) { return std::string("COMMIT"); }, true);
  if (!last.server) {
    // Lost before its reply: committed or not, the node knows; the recovery pass reads it there.
    reset();
    broadcast_error_ = true;
    log::error("client {}: transaction {}: lost node {} while it committed", pid_, gid, last_node);
    EmitError(Status::Error(sqlstate::kTransactionResolutionUnknown,
                            fmt::format("lost node {} while it committed; transaction {} is committed or rolled "
                                        "back by the recovery pass, by what node {} recorded",
                                        last_node, gid, last_node)));
    co_return;
  }
  if (quiet_failed_) {
    // Its COMMIT failed (a deferred constraint, a serialization failure): rolled back there,
    // its decision with it. The node's error goes to the client, as from PostgreSQL.
    const std::string error = quiet_error_;
    co_await roll_back();
    if (!error.empty()) Emit(error);
    co_return;
  }
  fault(FaultPoint::kDecision);

  if (co_await CommitPrepared(prepared, gid, fault_at)) {
    // Done everywhere: the decision is not needed any more (a row left behind, the recovery
    // pass deletes).
    const std::string forget = fmt::format("DELETE FROM _mosaic.local_decisions WHERE gid = '{}'", gid);
    co_await RunOnLinks(home, [&](Link&) { return forget; }, true);
  }
  AdoptBlockSettings();
  reset();
  broadcast_error_ = false;
  if (!implicit) Push({.op = Op::kSynthetic, .synthetic = CommandCompleteMessage("COMMIT")});
}

}  // namespace mosaic::frontend

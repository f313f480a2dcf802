// Distributed deadlock detection, as Citus does it.
//
// A transaction that spans nodes can deadlock with another one without any node seeing it:
// A holds a row on node 1 and waits on node 2 for a row B holds, B waits on node 1 for A's.
// Each node sees one ordinary lock wait, so PostgreSQL's deadlock detector finds nothing and
// both wait forever (with lock_timeout 0). Mosaic runs every multi-node write as such a
// transaction, so even one UPDATE over several nodes, run by a few clients at once, deadlocks.
//
// The detector (a thread owned by App) asks every node, every deadlock_detection_interval_s,
// which backends wait on a lock and which backends block them (pg_blocking_pids), maps the
// backends to this router's sessions (backend::BackendRegistry) and builds the wait-for graph
// between their transactions. A cycle whose waits are on at least two nodes is a distributed
// deadlock (a cycle on one node is that node's to find, within its deadlock_timeout). The
// graph is read twice, the second time right after a cycle showed up, and only waits seen both
// times count: the nodes are read one after another, so one reading alone could join a wait
// that ended to one that began later. In each cycle the transaction that began last is the
// victim: its waiting statement is cancelled (PQcancel, through the session, which checks
// that the backend still runs its statement) and its client gets 40P01.
//
// Waits on backends that are not this router's sessions' (other clients, other routers) are
// ordinary lock waits and are left alone.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backend/backend_registry.h"
#include "catalog/shard_map.h"

namespace mosaic::frontend {

// One row of a node's answer: backend `pid` waits on a lock that `blockers` hold or wait for
// ahead of it.
struct LockWait {
  int node = 0;
  int32_t pid = 0;
  std::vector<int32_t> blockers;
};

// A transaction of a session: the session and when the transaction began (a session's next
// transaction is another one).
struct TxnId {
  int32_t session = 0;
  int64_t since = 0;
  auto operator<=>(const TxnId&) const = default;
};

// `waiter` waits on node `node` (its backend `waiter_pid` there) for a lock `holder` holds.
struct WaitEdge {
  TxnId waiter;
  TxnId holder;
  int node = 0;
  int32_t waiter_pid = 0;
  auto operator<=>(const WaitEdge&) const = default;
};

// The wait-for graph between this router's transactions: `waits` (every node's), with the
// backends mapped to their holders by `holders`. Waits of or on other backends, and a session
// waiting on itself, are left out. Sorted, without duplicates.
std::vector<WaitEdge> BuildWaitGraph(const std::vector<LockWait>& waits,
                                     const std::map<backend::BackendKey, backend::BackendRegistry::Holder>& holders);

// The edges found in both graphs (each sorted, as BuildWaitGraph returns them).
std::vector<WaitEdge> CommonEdges(const std::vector<WaitEdge>& a, const std::vector<WaitEdge>& b);

struct DeadlockVictim {
  TxnId txn;
  int node = 0;           // where its statement waits, in the cycle
  int32_t backend_pid = 0;
  std::vector<TxnId> cycle;  // the cycle, starting at some member, in wait order
};

// The victims that break every cycle of `edges` whose waits are on two or more nodes: in each
// such cycle the transaction that began last (the larger session id on a tie), taken out of the
// graph before the next cycle is looked for. Deterministic.
std::vector<DeadlockVictim> FindDeadlockVictims(const std::vector<WaitEdge>& edges);

// The thread. Stop() joins it; the destructor stops it.
class DeadlockDetector {
 public:
  // Cancels `victim` (posted to its session; it may have moved on meanwhile).
  using CancelFn = std::function<void(const DeadlockVictim& victim)>;
  DeadlockDetector(double interval_s, catalog::ShardMapHolder& shard_map, backend::BackendRegistry& registry,
                   CancelFn cancel);
  ~DeadlockDetector();
  void Start();
  void Stop();

  int64_t victims() const { return victims_.load(std::memory_order_relaxed); }
  int64_t errors() const { return errors_.load(std::memory_order_relaxed); }

  // One round: read the graph, and when it has a distributed cycle read it again and cancel
  // the victims of the cycles seen both times. Returns the victims.
  std::vector<DeadlockVictim> RunOnce();

 private:
  void Loop();
  // Every node's lock waits of this router's backends, as a graph.
  std::vector<WaitEdge> ReadGraph();

  double interval_s_;
  catalog::ShardMapHolder& shard_map_;
  backend::BackendRegistry& registry_;
  CancelFn cancel_;
  struct NodeConns;
  std::unique_ptr<NodeConns> conns_;  // one control connection per node, this thread's
  std::thread thread_;
  std::mutex mu_;  // RunOnce callers
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> victims_{0};
  std::atomic<int64_t> errors_{0};
};

}  // namespace mosaic::frontend

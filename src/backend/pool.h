// NodePool: the server connections one worker keeps to one node (transaction pooling by
// default, as PgBouncer does).
//
// A client session borrows a connection for a transaction (or for its whole life in session
// mode) and gives it back; while idle the pool is the connection's handler and notices if the
// server goes away. When every connection is busy, Acquire waits in FIFO order up to the query
// wait timeout. Single-threaded: used only on its worker's thread, so no locks.
#pragma once

#include "common/async.h"
#include <chrono>
#include <deque>
#include <type_traits>
#include <memory>
#include <string>
#include <vector>

#include "backend/server_conn.h"
#include "catalog/shard_map.h"

namespace mosaic::backend {

struct PoolStats {
  int64_t total = 0;    // open connections
  int64_t idle = 0;
  int64_t waiting = 0;  // clients waiting for a connection
  int64_t connects = 0;
  int64_t connect_errors = 0;
  int64_t wait_timeouts = 0;
  int64_t pipelined = 0;  // statements written to a shared connection (Share)
  int64_t shared = 0;     // connections in pipelined use now
};

class NodePool : public ServerHandler {
 public:
  NodePool(asio::any_io_executor executor, catalog::Node node, int max_size,
           int query_wait_timeout_ms, int connect_timeout_s, int pipeline_depth = 0);
  ~NodePool() override;

  // A connection ready for a new transaction, with `handler` attached. Fails with 08006 when
  // the node cannot be reached, 53300 when it has no connection slot left (ServerConn::Connect),
  // or 08P01 when none frees up within the wait timeout.
  // `owner` names the wait for CancelWaiting.
  asio::awaitable<Result<std::shared_ptr<ServerConn>>> Acquire(ServerHandler* handler, const void* owner = nullptr);
  // Ends `owner`'s wait in Acquire or AcquireShared, if it is waiting: that call fails with
  // 57014 (a client's cancel request). Returns whether it was waiting.
  bool CancelWaiting(const void* owner);
  // Returns a connection. It is kept only if open, idle ('I') and `reusable`; otherwise closed.
  // A shared connection (Share) goes back to the pool once its last holder released it and
  // its pipeline is empty; `owner`'s statements still in it are orphaned (replies dropped).
  void Release(std::shared_ptr<ServerConn> conn, bool reusable, const void* owner = nullptr);

  // What a pipelined statement writes to the connection it joins, composed for that
  // connection at the moment it joins (a prepared statement may need its Parse there first).
  // The bytes need stay valid only until the next call. A reference to the caller's callable,
  // which outlives the call it is passed to (no allocation per statement, as std::function
  // makes for a lambda capturing more than two pointers).
  class StatementWriter {
   public:
    template <typename F>
      requires(!std::is_same_v<std::remove_cvref_t<F>, StatementWriter>)
    explicit StatementWriter(F& f)
        : callable_(&f), call_([](void* c, ServerConn& conn) { return (*static_cast<F*>(c))(conn); }) {}
    std::string_view operator()(ServerConn& conn) const { return call_(callable_, conn); }

   private:
    void* callable_;
    std::string_view (*call_)(void*, ServerConn&);
  };

  // Pipelining: writes a statement (a Query message, or Bind .. Sync of a prepared statement:
  // a read-only statement, run outside any transaction; `query`, or what `write` composes) to
  // a connection already running such statements for other sessions, behind
  // theirs, or to an idle one that starts a pipeline. Only connections whose settings match
  // `params_generation` are used, none whose first statement has been running for longer than
  // kPipelineHeadMax, and at most `pipeline_depth` statements wait on one connection. The
  // replies up to its ReadyForQuery go to `handler`. Returns nullptr when nothing fits (then
  // use Acquire). Never waits.
  std::shared_ptr<ServerConn> Share(std::weak_ptr<ServerHandler> handler, const void* owner,
                                    uint64_t params_generation, const StatementWriter& write);
  std::shared_ptr<ServerConn> Share(std::weak_ptr<ServerHandler> handler, const void* owner,
                                    uint64_t params_generation, std::string_view query);
  // Share, or when every connection is busy and none can be opened, waits in line with the
  // clients waiting in Acquire (up to the wait timeout) for room on a shared connection or for a
  // free one. `shared` tells which: true, the query was written to a shared connection; false,
  // the connection is the caller's alone (nothing written; its settings differ), or none came
  // back because one can be had from Acquire without waiting. `write` (`query`) must stay
  // valid until it returns (a waiting statement is written when it joins).
  struct Shared {
    std::shared_ptr<ServerConn> conn;
    bool shared = false;
  };
  asio::awaitable<Result<Shared>> AcquireShared(std::weak_ptr<ServerHandler> handler, const void* owner,
                                                uint64_t params_generation, const StatementWriter& write);
  asio::awaitable<Result<Shared>> AcquireShared(std::weak_ptr<ServerHandler> handler, const void* owner,
                                                uint64_t params_generation, std::string_view query);
  // Whether a cancel request sent to `conn` now could only hit `owner`'s statement.
  bool CanCancel(const ServerConn& conn, const void* owner) const;
  static constexpr std::chrono::microseconds kPipelineHeadMax{2000};
  // Tests: another limit for how long a pipeline's first statement may have run (else
  // kPipelineHeadMax).
  void set_pipeline_head_max(std::chrono::microseconds limit) { head_max_ = limit; }
  // Updates the node's address (catalog change); open connections stay until released.
  void UpdateNode(const catalog::Node& node) { node_ = node; }
  // Closes idle connections idle for longer than `max_idle`.
  void CloseIdle(std::chrono::steady_clock::duration max_idle);
  void CloseAll();

  const catalog::Node& node() const { return node_; }
  PoolStats stats() const;

  // ServerHandler while a connection sits idle in the pool.
  void OnServerMessage(ServerConn& server, const protocol::Frame& frame) override;
  asio::awaitable<void> OnServerBatchDone(ServerConn& server) override;
  void OnServerClosed(ServerConn& server, const Status& why) override;

 private:
  struct Waiter {
    asio::steady_timer* timer;
    std::shared_ptr<ServerConn>* slot;
    bool* retry = nullptr;  // set when woken without a connection: one may be opened now
    bool* canceled = nullptr;  // set by CancelWaiting (which takes the waiter out of the line)
    // AcquireShared's: whether *slot came shared (its query written), and what to share.
    bool* shared = nullptr;
    std::weak_ptr<ServerHandler> handler;
    const void* owner = nullptr;
    uint64_t params_generation = 0;
    const StatementWriter* write = nullptr;
  };
  // Puts `w`'s statement on `conn` (shared, settings matching) and wakes it.
  void Join(ServerConn& conn, Waiter w);
  // Lets waiting AcquireShared callers at the head of the line onto `conn` while it has room.
  void ServeWaiters(ServerConn& conn);
  void StartPipeline(const std::shared_ptr<ServerConn>& conn);
  void Forget(ServerConn* conn);
  Status WaitTimeout();
  // Hands an open, idle connection to the first waiter, or back to the idle list.
  void Recycle(std::shared_ptr<ServerConn> conn);
  void DispatchShared(ServerConn& server, const protocol::Frame& frame);
  // Holds back a connection a cancel request is still on its way to, and recycles it once the
  // request is done (polled every millisecond while any is held).
  void HoldWhileCancelling(std::shared_ptr<ServerConn> conn);
  asio::awaitable<void> RecycleCancelled(std::shared_ptr<bool> alive);
  // Ends pipelined use once no session holds `conn` and its pipeline is empty.
  void MaybeUnshare(ServerConn& conn);

  asio::any_io_executor executor_;
  catalog::Node node_;
  int max_size_;
  int wait_timeout_ms_;
  int connect_timeout_s_;
  int64_t open_ = 0;  // connections open or being opened
  int pipeline_depth_;
  std::chrono::microseconds head_max_ = kPipelineHeadMax;
  std::deque<std::shared_ptr<ServerConn>> idle_;
  std::vector<std::shared_ptr<ServerConn>> shared_;  // connections in pipelined use
  std::deque<Waiter> waiters_;
  std::vector<std::shared_ptr<ServerConn>> cancelling_;  // held back by HoldWhileCancelling
  bool polling_cancels_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // false once destroyed
  PoolStats counters_;
};

}  // namespace mosaic::backend

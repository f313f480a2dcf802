// NodePool: the server connections one worker keeps to one node (transaction pooling by
// default, as PgBouncer does).
//
// A client session borrows a connection for a transaction (or for its whole life in session
// mode) and gives it back; while idle the pool is the connection's handler and notices if the
// server goes away. When every connection is busy, Acquire waits in FIFO order up to the query
// wait timeout. Single-threaded: used only on its worker's thread, so no locks.
#pragma once

#include "common/async.h"
#include <deque>
#include <memory>

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
};

class NodePool : public ServerHandler {
 public:
  NodePool(asio::any_io_executor executor, catalog::Node node, int max_size,
           int query_wait_timeout_ms, int connect_timeout_s);
  ~NodePool() override;

  // A connection ready for a new transaction, with `handler` attached. Fails with 08006 when
  // the node cannot be reached, or 08P01 when none frees up within the wait timeout.
  asio::awaitable<Result<std::shared_ptr<ServerConn>>> Acquire(ServerHandler* handler);
  // Returns a connection. It is kept only if open, idle ('I') and `reusable`; otherwise closed.
  void Release(std::shared_ptr<ServerConn> conn, bool reusable);
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
  };
  void Forget(ServerConn* conn);

  asio::any_io_executor executor_;
  catalog::Node node_;
  int max_size_;
  int wait_timeout_ms_;
  int connect_timeout_s_;
  int64_t open_ = 0;  // connections open or being opened
  std::deque<std::shared_ptr<ServerConn>> idle_;
  std::deque<Waiter> waiters_;
  PoolStats counters_;
};

}  // namespace mosaic::backend

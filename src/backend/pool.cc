#include "backend/pool.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/log.h"

namespace mosaic::backend {

using asio::awaitable;

NodePool::NodePool(asio::any_io_executor executor, catalog::Node node, int max_size,
                   int query_wait_timeout_ms, int connect_timeout_s)
    : executor_(std::move(executor)),
      node_(std::move(node)),
      max_size_(max_size),
      wait_timeout_ms_(query_wait_timeout_ms),
      connect_timeout_s_(connect_timeout_s) {}

NodePool::~NodePool() { CloseAll(); }

awaitable<Result<std::shared_ptr<ServerConn>>> NodePool::Acquire(ServerHandler* handler) {
  while (!idle_.empty()) {
    std::shared_ptr<ServerConn> conn = std::move(idle_.back());  // LIFO keeps caches warm
    idle_.pop_back();
    if (conn->closed()) continue;
    conn->SetHandler(handler);
    co_return conn;
  }
  if (open_ < max_size_) {
    ++open_;
    ++counters_.connects;
    auto result = co_await ServerConn::Connect(executor_, node_, connect_timeout_s_, handler);
    if (!result.ok()) {
      --open_;
      ++counters_.connect_errors;
      co_return result.status();
    }
    co_return result;
  }
  std::shared_ptr<ServerConn> slot;
  asio::steady_timer timer(executor_, std::chrono::milliseconds(wait_timeout_ms_));
  waiters_.push_back({&timer, &slot});
  co_await timer.async_wait(use_tuple);
  if (slot) {
    slot->SetHandler(handler);
    co_return slot;
  }
  std::erase_if(waiters_, [&](const Waiter& w) { return w.timer == &timer; });
  ++counters_.wait_timeouts;
  co_return Status::Error(sqlstate::kProtocolViolation,
                          fmt::format("query_wait_timeout: no connection to node {} became free within {} ms",
                                      node_.id, wait_timeout_ms_));
}

void NodePool::Release(std::shared_ptr<ServerConn> conn, bool reusable) {
  if (!conn) return;
  conn->SetHandler(this);
  if (conn->close_notified()) {  // its handler at the time was a session
    Forget(conn.get());
    return;
  }
  if (conn->closed() || !reusable || conn->tx_status != protocol::kTxIdle) {
    conn->Close();  // OnServerClosed -> Forget
    return;
  }
  if (!waiters_.empty()) {
    Waiter w = waiters_.front();
    waiters_.pop_front();
    *w.slot = std::move(conn);
    w.timer->cancel();
    return;
  }
  conn->idle_since = std::chrono::steady_clock::now();
  idle_.push_back(std::move(conn));
}

void NodePool::CloseIdle(std::chrono::steady_clock::duration max_idle) {
  const auto cutoff = std::chrono::steady_clock::now() - max_idle;
  auto idle = idle_;  // Close() re-enters Forget
  for (auto& conn : idle) {
    if (conn->idle_since < cutoff) conn->Close();
  }
}

void NodePool::CloseAll() {
  auto idle = idle_;
  for (auto& conn : idle) conn->Close();
  idle_.clear();
}

PoolStats NodePool::stats() const {
  PoolStats s = counters_;
  s.total = open_;
  s.idle = static_cast<int64_t>(idle_.size());
  s.waiting = static_cast<int64_t>(waiters_.size());
  return s;
}

void NodePool::OnServerMessage(ServerConn& server, const protocol::Frame& frame) {
  // An idle server may report a parameter change or a notice; a FATAL means it is going away.
  if (frame.type == protocol::be::kErrorResponse) server.Close();
}

awaitable<void> NodePool::OnServerBatchDone(ServerConn&) { co_return; }

void NodePool::OnServerClosed(ServerConn& server, const Status& why) {
  log::debug("pooled connection to node {} closed: {}", node_.id, why.message());
  Forget(&server);
}

void NodePool::Forget(ServerConn* conn) {
  --open_;
  std::erase_if(idle_, [conn](const std::shared_ptr<ServerConn>& c) { return c.get() == conn; });
}

}  // namespace mosaic::backend

#include "backend/pool.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/log.h"

namespace mosaic::backend {

using asio::awaitable;

NodePool::NodePool(asio::any_io_executor executor, catalog::Node node, int max_size,
                   int query_wait_timeout_ms, int connect_timeout_s, int pipeline_depth)
    : executor_(std::move(executor)),
      node_(std::move(node)),
      max_size_(max_size),
      wait_timeout_ms_(query_wait_timeout_ms),
      connect_timeout_s_(connect_timeout_s),
      pipeline_depth_(pipeline_depth) {}

NodePool::~NodePool() {
  *alive_ = false;
  CloseAll();
}

awaitable<Result<std::shared_ptr<ServerConn>>> NodePool::Acquire(ServerHandler* handler, const void* owner) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_timeout_ms_);
  while (true) {
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
    bool retry = false;
    bool canceled = false;
    asio::steady_timer timer(executor_, deadline);
    waiters_.push_back({.timer = &timer, .slot = &slot, .retry = &retry, .canceled = &canceled, .owner = owner});
    co_await timer.async_wait(use_tuple);
    if (canceled) co_return Status::Canceled("it was waiting for a connection");
    if (slot && slot->close_notified()) {
      // It closed after it was handed over, before this resumed: the pool, its handler then,
      // has already forgotten it (counting it again at its release would undercount open_).
      slot.reset();
      retry = true;
    }
    if (slot) {
      slot->SetHandler(handler);
      co_return slot;
    }
    std::erase_if(waiters_, [&](const Waiter& w) { return w.timer == &timer; });
    if (!retry) break;  // else a connection closed: room to open another
  }
  co_return WaitTimeout();
}

bool NodePool::CancelWaiting(const void* owner) {
  if (owner == nullptr) return false;
  auto it = std::find_if(waiters_.begin(), waiters_.end(), [&](const Waiter& w) { return w.owner == owner; });
  if (it == waiters_.end()) return false;
  *it->canceled = true;
  it->timer->cancel();
  waiters_.erase(it);
  return true;
}

Status NodePool::WaitTimeout() {
  ++counters_.wait_timeouts;
  return Status::Error(sqlstate::kProtocolViolation,
                       fmt::format("query_wait_timeout: no connection to node {} became free within {} ms",
                                   node_.id, wait_timeout_ms_));
}

void NodePool::Release(std::shared_ptr<ServerConn> conn, bool reusable, const void* owner) {
  if (!conn) return;
  if (conn->shared) {
    // The statements it may carry cannot leave a transaction or settings behind: `reusable`
    // (false when the session gives up with replies outstanding) does not apply.
    --conn->holders;
    for (auto& q : conn->pipeline) {
      if (q.owner == owner) {
        q.handler.reset();
        q.owner = nullptr;
      }
    }
    MaybeUnshare(*conn);
    return;
  }
  if (conn->owner) conn->owner->Clear();  // no session holds it now (deadlock detection)
  conn->SetHandler(this);
  if (conn->close_notified()) {  // its handler at the time was a session
    Forget(conn.get());
    return;
  }
  if (conn->closed() || !reusable || conn->tx_status != protocol::kTxIdle) {
    conn->Close();  // OnServerClosed -> Forget
    return;
  }
  Recycle(std::move(conn));
}

void NodePool::Recycle(std::shared_ptr<ServerConn> conn) {
  if (conn->cancelling()) {
    HoldWhileCancelling(std::move(conn));
    return;
  }
  if (!waiters_.empty()) {
    Waiter w = waiters_.front();
    waiters_.pop_front();
    if (w.shared != nullptr && conn->SyncedTo(w.params_generation)) {
      StartPipeline(conn);
      Join(*conn, std::move(w));
      ServeWaiters(*conn);
      return;
    }
    *w.slot = std::move(conn);  // the caller's alone
    w.timer->cancel();
    return;
  }
  conn->idle_since = std::chrono::steady_clock::now();
  idle_.push_back(std::move(conn));
}

void NodePool::HoldWhileCancelling(std::shared_ptr<ServerConn> conn) {
  cancelling_.push_back(std::move(conn));
  if (polling_cancels_) return;
  polling_cancels_ = true;
  asio::co_spawn(executor_, RecycleCancelled(alive_), asio::detached);
}

awaitable<void> NodePool::RecycleCancelled(std::shared_ptr<bool> alive) {
  asio::steady_timer timer(executor_);
  while (true) {
    timer.expires_after(std::chrono::milliseconds(1));
    co_await timer.async_wait(use_tuple);
    if (!*alive) co_return;  // the pool is gone (its connections with it)
    std::vector<std::shared_ptr<ServerConn>> done;
    std::erase_if(cancelling_, [&](std::shared_ptr<ServerConn>& c) {
      if (c->cancelling() && !c->closed()) return false;
      done.push_back(std::move(c));
      return true;
    });
    for (auto& conn : done) {
      if (!conn->closed()) Recycle(std::move(conn));  // a closed one was forgotten when it closed
    }
    if (cancelling_.empty()) break;
  }
  polling_cancels_ = false;
}

void NodePool::StartPipeline(const std::shared_ptr<ServerConn>& conn) {
  conn->shared = true;
  conn->holders = 0;
  conn->SetHandler(this);
  shared_.push_back(conn);
}

void NodePool::Join(ServerConn& conn, Waiter w) {
  if (conn.pipeline.empty()) conn.head_since = std::chrono::steady_clock::now();
  conn.pipeline.push_back({std::move(w.handler), w.owner});
  ++conn.holders;
  ++counters_.pipelined;
  conn.WriteOrdered((*w.write)(conn));
  *w.slot = conn.shared_from_this();
  *w.shared = true;
  w.timer->cancel();
}

void NodePool::ServeWaiters(ServerConn& conn) {
  while (!waiters_.empty() && waiters_.front().shared != nullptr && !conn.closed() && !conn.cancelling() &&
         conn.SyncedTo(waiters_.front().params_generation) &&
         conn.pipeline.size() < static_cast<size_t>(pipeline_depth_)) {
    Waiter w = waiters_.front();
    waiters_.pop_front();
    Join(conn, std::move(w));
  }
}

awaitable<Result<NodePool::Shared>> NodePool::AcquireShared(std::weak_ptr<ServerHandler> handler, const void* owner,
                                                            uint64_t params_generation, std::string_view query) {
  auto write = [query](ServerConn&) { return query; };
  co_return co_await AcquireShared(std::move(handler), owner, params_generation, StatementWriter(write));
}

awaitable<Result<NodePool::Shared>> NodePool::AcquireShared(std::weak_ptr<ServerHandler> handler, const void* owner,
                                                            uint64_t params_generation, const StatementWriter& write) {
  if (auto conn = Share(handler, owner, params_generation, write)) co_return Shared{std::move(conn), true};
  if (pipeline_depth_ < 2 || (waiters_.empty() && (!idle_.empty() || open_ < max_size_))) {
    co_return Shared{};  // Acquire has one without waiting
  }
  std::shared_ptr<ServerConn> slot;
  bool shared = false;
  bool retry = false;
  bool canceled = false;
  asio::steady_timer timer(executor_, std::chrono::milliseconds(wait_timeout_ms_));
  waiters_.push_back({.timer = &timer, .slot = &slot, .retry = &retry, .canceled = &canceled, .shared = &shared,
                      .handler = std::move(handler), .owner = owner, .params_generation = params_generation,
                      .write = &write});
  co_await timer.async_wait(use_tuple);
  if (canceled) co_return Status::Canceled("it was waiting for a connection");
  if (slot && !shared && slot->close_notified()) co_return Shared{};  // as in Acquire; try that
  if (slot) co_return Shared{std::move(slot), shared};
  std::erase_if(waiters_, [&](const Waiter& w) { return w.timer == &timer; });
  if (retry) co_return Shared{};  // a connection closed: Acquire may open another
  co_return WaitTimeout();
}

std::shared_ptr<ServerConn> NodePool::Share(std::weak_ptr<ServerHandler> handler, const void* owner,
                                            uint64_t params_generation, std::string_view query) {
  auto write = [query](ServerConn&) { return query; };
  return Share(std::move(handler), owner, params_generation, StatementWriter(write));
}

std::shared_ptr<ServerConn> NodePool::Share(std::weak_ptr<ServerHandler> handler, const void* owner,
                                            uint64_t params_generation, const StatementWriter& write) {
  if (pipeline_depth_ < 2 || !waiters_.empty()) return nullptr;  // first come, first served
  const auto now = std::chrono::steady_clock::now();
  std::shared_ptr<ServerConn> conn;
  for (const auto& c : shared_) {
    if (c->closed() || c->cancelling() || !c->SyncedTo(params_generation) ||
        c->pipeline.size() >= static_cast<size_t>(pipeline_depth_)) {
      continue;
    }
    if (!c->pipeline.empty() && now - c->head_since > head_max_) continue;  // a slow one runs
    // The fullest one with room: the fewer connections run, the more each gets in one read.
    if (!conn || c->pipeline.size() > conn->pipeline.size()) conn = c;
  }
  if (!conn) {
    // An idle connection with the same settings starts a pipeline (most recently used first).
    for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
      if (!(*it)->closed() && (*it)->SyncedTo(params_generation)) {
        conn = *it;
        idle_.erase(std::next(it).base());
        break;
      }
    }
    if (!conn) return nullptr;
    StartPipeline(conn);
  }
  if (conn->pipeline.empty()) conn->head_since = now;
  conn->pipeline.push_back({std::move(handler), owner});
  ++conn->holders;
  ++counters_.pipelined;
  conn->WriteOrdered(write(*conn));
  return conn;
}

bool NodePool::CanCancel(const ServerConn& conn, const void* owner) const {
  if (!conn.shared) return true;
  return conn.pipeline.size() == 1 && conn.pipeline.front().owner == owner;
}

void NodePool::MaybeUnshare(ServerConn& conn) {
  if (conn.holders > 0 || !conn.pipeline.empty()) return;
  auto it = std::find_if(shared_.begin(), shared_.end(), [&](const auto& c) { return c.get() == &conn; });
  if (it == shared_.end()) return;  // closed: OnServerClosed forgot it
  std::shared_ptr<ServerConn> owned = std::move(*it);
  shared_.erase(it);
  owned->shared = false;
  owned->batch_handlers.clear();
  if (owned->closed() || owned->tx_status != protocol::kTxIdle) {
    owned->Close();  // OnServerClosed -> Forget
    return;
  }
  Recycle(std::move(owned));
}

void NodePool::DispatchShared(ServerConn& server, const protocol::Frame& frame) {
  if (server.pipeline.empty()) {
    if (frame.type == protocol::be::kErrorResponse) server.Close();  // a dying server
    return;
  }
  const bool last = frame.type == protocol::be::kReadyForQuery;
  ServerConn::Queued& head = server.pipeline.front();
  // The unit's Parse is answered before the rest of it: ParseComplete, or an error that means
  // the server does not hold the statement; noted whether or not the unit's session is still
  // there to hear it.
  if (head.parsing && (frame.type == protocol::be::kParseComplete || frame.type == protocol::be::kErrorResponse)) {
    server.AnswerParse(head, frame.type == protocol::be::kErrorResponse);
  }
  std::shared_ptr<ServerHandler> handler = head.handler.lock();
  if (last && !frame.body.empty()) server.tx_status = frame.body[0];
  if (last) {
    // Off the pipeline before the session sees its end (it releases the connection then).
    server.pipeline.pop_front();
    server.head_since = std::chrono::steady_clock::now();
  }
  if (handler) {
    // Told the batch ended unless it lets the connection go first (Release clears this list;
    // releasing ends the session's hold on its output anyway).
    if (std::find(server.batch_handlers.begin(), server.batch_handlers.end(), handler) == server.batch_handlers.end()) {
      server.batch_handlers.push_back(handler);
    }
    handler->OnServerMessage(server, frame);
  }
  // Its session took the reply and may have released the connection: then it is no longer
  // shared (back in the pool, or already another client's).
  if (!last || !server.shared) return;
  if (server.tx_status != protocol::kTxIdle && !server.closed()) {
    server.Close();  // cannot happen for the statements Share takes; never pass a transaction on
    return;
  }
  ServeWaiters(server);
  MaybeUnshare(server);
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
  auto cancelling = std::move(cancelling_);
  cancelling_.clear();
  for (auto& conn : cancelling) conn->Close();
}

PoolStats NodePool::stats() const {
  PoolStats s = counters_;
  s.total = open_;
  s.idle = static_cast<int64_t>(idle_.size());
  s.waiting = static_cast<int64_t>(waiters_.size());
  s.shared = static_cast<int64_t>(shared_.size());
  return s;
}

void NodePool::OnServerMessage(ServerConn& server, const protocol::Frame& frame) {
  if (server.shared) {
    DispatchShared(server, frame);
    return;
  }
  // An idle server may report a parameter change or a notice; a FATAL means it is going away.
  if (frame.type == protocol::be::kErrorResponse) server.Close();
}

awaitable<void> NodePool::OnServerBatchDone(ServerConn& server) {
  if (server.batch_handlers.empty()) co_return;
  auto handlers = std::move(server.batch_handlers);
  server.batch_handlers.clear();
  auto keep = server.shared_from_this();
  for (const auto& handler : handlers) co_await handler->OnServerBatchDone(server);
}

void NodePool::OnServerClosed(ServerConn& server, const Status& why) {
  log::debug("pooled connection to node {} closed: {}", node_.id, why.message());
  Forget(&server);
  if (!server.shared) return;
  std::erase_if(shared_, [&](const auto& c) { return c.get() == &server; });
  auto pipeline = std::move(server.pipeline);
  server.pipeline.clear();
  server.batch_handlers.clear();
  std::vector<std::shared_ptr<ServerHandler>> told;
  for (const auto& q : pipeline) {
    auto handler = q.handler.lock();
    if (!handler || std::find(told.begin(), told.end(), handler) != told.end()) continue;
    told.push_back(handler);
    handler->OnServerClosed(server, why);
  }
}

void NodePool::Forget(ServerConn* conn) {
  --open_;
  std::erase_if(idle_, [conn](const std::shared_ptr<ServerConn>& c) { return c.get() == conn; });
  // Room for a new connection: the first client in line opens it (else it would wait for one
  // of the others to come back, or time out with none open).
  if (!waiters_.empty()) {
    Waiter w = waiters_.front();
    waiters_.pop_front();
    *w.retry = true;
    w.timer->cancel();
  }
}

}  // namespace mosaic::backend

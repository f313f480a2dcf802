#include "backend/server_conn.h"

#include <fmt/format.h>
#include <unistd.h>

#include <asio/experimental/awaitable_operators.hpp>
#include <algorithm>
#include <cctype>
#include <thread>

#include "common/log.h"

namespace mosaic::backend {
namespace {

using asio::awaitable;
using asio::use_awaitable;
using namespace asio::experimental::awaitable_operators;

// GUC_REPORT parameters PostgreSQL 15 sends at connection start.
constexpr const char* kReportedParams[] = {
    "application_name", "client_encoding", "DateStyle", "default_transaction_read_only",
    "in_hot_standby", "integer_datetimes", "IntervalStyle", "is_superuser", "server_encoding",
    "server_version", "session_authorization", "standard_conforming_strings", "TimeZone"};

bool IsSqlstate(std::string_view s) {
  return s.size() == 5 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c));
         });
}

// A failed connection attempt: the node's 53300 as PostgreSQL answers its own clients (the
// client may retry), anything else 08006 naming the node.
Status ConnectError(const catalog::Node& node, std::string_view libpq_message) {
  std::string_view code, text;
  std::string msg;
  if (ParseConnectFailure(libpq_message, &code, &text, &msg)) {
    if (code == sqlstate::kTooManyConnections) return Status::Error(code, std::string(text));
  } else {
    msg = std::string(libpq_message);
  }
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return Status::Error(sqlstate::kConnectionFailure,
                       fmt::format("node {} is unavailable: {}", node.id, msg));
}

// Waits until libpq's socket is ready in the direction it asked for, or the deadline passes.
awaitable<bool> WaitSocket(asio::any_io_executor ex, int fd, bool for_read,
                           asio::steady_timer& deadline) {
  asio::posix::stream_descriptor d(ex, fd);
  auto wait = d.async_wait(for_read ? asio::posix::stream_descriptor::wait_read
                                    : asio::posix::stream_descriptor::wait_write,
                           use_awaitable);
  auto result = co_await (std::move(wait) || deadline.async_wait(use_awaitable));
  d.release();  // the fd belongs to libpq
  co_return result.index() == 0;
}

// A FATAL or PANIC ErrorResponse: the backend exits after sending it.
bool EndsTheConnection(const protocol::Frame& frame) {
  if (frame.type != protocol::be::kErrorResponse) return false;
  protocol::ErrorFields fields;
  return protocol::ParseErrorFields(frame.body, &fields).ok() &&
         (fields.severity == "FATAL" || fields.severity == "PANIC");
}

}  // namespace

bool ParseConnectFailure(std::string_view libpq_message, std::string_view* sqlstate, std::string_view* message,
                         std::string* plain) {
  // "<severity>:  <SQLSTATE>: <message>\n", then DETAIL/HINT lines, then "LOCATION:  ...\n".
  for (size_t at = libpq_message.find(":  "); at != std::string_view::npos;
       at = libpq_message.find(":  ", at + 1)) {
    const std::string_view rest = libpq_message.substr(at + 3);
    if (rest.size() < 7 || !IsSqlstate(rest.substr(0, 5)) || rest.substr(5, 2) != ": ") continue;
    *sqlstate = rest.substr(0, 5);
    const std::string_view body = rest.substr(7);
    *message = body.substr(0, body.find('\n'));
    plain->assign(libpq_message.substr(0, at + 3));
    plain->append(body.substr(0, body.find("LOCATION:  ")));
    return true;
  }
  return false;
}

ServerConn::ServerConn(asio::any_io_executor executor, int node_id, PGconn* conn)
    : socket_(executor), node_id_(node_id), backend_pid_(PQbackendPID(conn)), pg_(conn) {}

ServerConn::~ServerConn() {
  asio::error_code ignored;
  socket_.close(ignored);
  if (pg_ != nullptr) PQfinish(pg_);  // sends Terminate on libpq's own descriptor
}

awaitable<Result<std::shared_ptr<ServerConn>>> ServerConn::Connect(
    asio::any_io_executor ex, const catalog::Node& node, int connect_timeout_s,
    ServerHandler* handler) {
  const std::string timeout = std::to_string(connect_timeout_s);
  const char* keys[] = {"dbname", "sslmode", "gssencmode", "connect_timeout", nullptr};
  const char* values[] = {node.dsn.c_str(), "disable", "disable", timeout.c_str(), nullptr};
  PGconn* pg = PQconnectStartParams(keys, values, /*expand_dbname=*/1);
  if (pg == nullptr) co_return Status::Error(sqlstate::kConnectionFailure, "out of memory");
  std::unique_ptr<PGconn, decltype(&PQfinish)> guard(pg, &PQfinish);
  if (PQstatus(pg) == CONNECTION_BAD) co_return ConnectError(node, PQerrorMessage(pg));
  PQsetErrorVerbosity(pg, PQERRORS_VERBOSE);  // a refusal's SQLSTATE (ParseConnectFailure)

  asio::steady_timer deadline(ex, std::chrono::seconds(connect_timeout_s));
  PostgresPollingStatusType poll = PGRES_POLLING_WRITING;
  while (poll != PGRES_POLLING_OK) {
    if (poll == PGRES_POLLING_FAILED) co_return ConnectError(node, PQerrorMessage(pg));
    if (!co_await WaitSocket(ex, PQsocket(pg), poll == PGRES_POLLING_READING, deadline)) {
      co_return ConnectError(node, "timeout expired");
    }
    poll = PQconnectPoll(pg);
  }

  int fd = ::dup(PQsocket(pg));
  if (fd < 0) co_return ConnectError(node, "dup() failed");
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  auto conn = std::shared_ptr<ServerConn>(new ServerConn(ex, node.id, guard.release()));
  asio::error_code ec;
  // TCP, or a Unix-domain socket when the DSN's host is a directory (a managed node's).
  const int family = addr.ss_family;
  conn->socket_.assign(asio::generic::stream_protocol(family, family == AF_UNIX ? 0 : IPPROTO_TCP), fd, ec);
  if (ec) {
    ::close(fd);
    co_return ConnectError(node, ec.message());
  }
  conn->socket_.non_blocking(true, ec);
  for (const char* name : kReportedParams) {
    if (const char* v = PQparameterStatus(conn->pg_, name)) conn->params[name] = v;
  }
  conn->handler_ = handler;
  asio::co_spawn(ex, conn->ReadLoop(), asio::detached);
  co_return conn;
}

awaitable<void> ServerConn::ReadLoop() {
  auto self = shared_from_this();
  size_t used = 0;
  buf_.resize(16384);
  while (!closed_) {
    if (buf_.size() - used < 4096) buf_.resize(buf_.size() * 2);
    auto [ec, n] = co_await reader_.ReadSome(asio::buffer(buf_.data() + used, buf_.size() - used), use_tuple);
    if (ec) {
      NotifyClosed(Lost(ec == asio::error::eof ? "server closed the connection" : ec.message()));
      co_return;
    }
    used += n;
    size_t pos = 0;
    protocol::Frame frame;
    size_t consumed = 0;
    protocol::DecodeResult r;
    bool fatal = false;
    while ((r = framer_.Next(std::string_view(buf_.data() + pos, used - pos), &frame, &consumed)) ==
           protocol::DecodeResult::kReady) {
      pos += consumed;
      fatal = fatal || EndsTheConnection(frame);
      if (handler_ != nullptr) handler_->OnServerMessage(*this, frame);
    }
    if (r == protocol::DecodeResult::kError) {
      Close();
      NotifyClosed(Status::Error(sqlstate::kProtocolViolation,
                                 fmt::format("node {} sent a malformed message: {}", node_id_, framer_.error())));
      co_return;
    }
    if (pos > 0) {
      std::memmove(buf_.data(), buf_.data() + pos, used - pos);
      used -= pos;
    }
    if (handler_ != nullptr) co_await handler_->OnServerBatchDone(*this);
    if (fatal) {
      // Its end of file may never be read: when the close came with the FATAL's bytes (one
      // wake-up), the short read of those marked the socket drained (common/read_some.h) and
      // no later edge comes. The session would wait for the node's reply forever.
      Close();
      NotifyClosed(Lost("server closed the connection"));
      co_return;
    }
    if (buf_.size() > (1u << 20) && used < 16384) buf_.resize(16384);  // give back burst memory
  }
  NotifyClosed(Status::Error(sqlstate::kConnectionFailure, "server connection closed"));
}

awaitable<Status> ServerConn::Write(std::string_view bytes) {
  if (closed_) {
    co_return Status::Error(sqlstate::kConnectionFailure,
                            fmt::format("connection to node {} is closed", node_id_));
  }
  // Try the write now: a statement almost always fits the socket buffer, and then the caller
  // goes on without a trip through the event loop.
  asio::error_code ec;
  size_t n = socket_.write_some(asio::buffer(bytes.data(), bytes.size()), ec);
  if (!ec && n == bytes.size()) co_return Status::OK();
  if (!ec || ec == asio::error::would_block || ec == asio::error::try_again) {
    bytes.remove_prefix(n);
    std::tie(ec, n) = co_await asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()),
                                                 use_tuple);
  }
  if (ec) {
    Close();
    co_return Lost(ec.message());
  }
  co_return Status::OK();
}

void ServerConn::WriteOrdered(std::string_view bytes) {
  if (closed_) return;
  if (draining_) {
    ordered_.append(bytes);
    return;
  }
  asio::error_code ec;
  const size_t n = socket_.write_some(asio::buffer(bytes.data(), bytes.size()), ec);
  if (!ec && n == bytes.size()) return;
  if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
    Close();
    return;
  }
  ordered_.assign(bytes.substr(ec ? 0 : n));
  draining_ = true;
  asio::co_spawn(socket_.get_executor(), DrainOrdered(), asio::detached);
}

awaitable<void> ServerConn::DrainOrdered() {
  auto self = shared_from_this();
  std::string inflight;
  while (!ordered_.empty() && !closed_) {
    inflight.clear();
    std::swap(inflight, ordered_);
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(inflight), use_tuple);
    if (ec) Close();
  }
  ordered_.clear();
  draining_ = false;
}

void ServerConn::Close() {
  if (closed_) return;
  closed_ = true;
  asio::error_code ignored;
  socket_.shutdown(asio::socket_base::shutdown_both, ignored);
  socket_.close(ignored);
}

bool ServerConn::EndsWithReadyForQuery(std::string_view read) {
  // 'Z', length 5, status: a DataRow ending in these bytes at a read's end only costs the next
  // read its recv(); a reply whose end was not read yet comes with a new edge anyway.
  return read.size() >= 6 && read[read.size() - 6] == protocol::be::kReadyForQuery &&
         read.substr(read.size() - 5, 4) == std::string_view("\0\0\0\5", 4);
}

Status ServerConn::Lost(std::string_view why) const {
  return Status::Error(sqlstate::kConnectionFailure, fmt::format("connection to node {} lost: {}", node_id_, why));
}

void ServerConn::NotifyClosed(const Status& why) {
  closed_ = true;
  if (close_notified_) return;
  close_notified_ = true;
  if (handler_ != nullptr) handler_->OnServerClosed(*this, why);
}

void ServerConn::Cancel() {
  if (pg_ == nullptr || closed_) return;
  PGcancel* cancel = PQgetCancel(pg_);
  if (cancel == nullptr) return;
  cancels_->fetch_add(1);
  // PQcancel returns once the node has taken the request (it closes the socket after
  // signalling the backend).
  std::thread([cancel, pending = cancels_] {
    char err[256];
    if (PQcancel(cancel, err, sizeof(err)) == 0) log::warn("cancel request failed: {}", err);
    PQfreeCancel(cancel);
    pending->fetch_sub(1);
  }).detach();
}

bool ServerConn::Holds(const ServerStatement& stmt) const {
  auto it = statements.find(stmt.hash);
  if (it == statements.end() || !it->second->SameAs(stmt)) return false;
  if (stale.contains(stmt.hash)) return false;
  return !shared || !parses_in_flight.contains(stmt.hash);
}

void ServerConn::NoteParse(std::shared_ptr<const ServerStatement> stmt) {
  if (shared && !pipeline.empty()) {
    ++parses_in_flight[stmt->hash];
    pipeline.back().parsing = stmt;
  }
  stale.erase(stmt->hash);
  statements[stmt->hash] = std::move(stmt);
}

void ServerConn::AnswerParse(Queued& q, bool failed) {
  if (!q.parsing) return;
  auto flight = parses_in_flight.find(q.parsing->hash);
  if (flight != parses_in_flight.end() && --flight->second <= 0) parses_in_flight.erase(flight);
  auto it = statements.find(q.parsing->hash);
  if (failed && it != statements.end() && it->second == q.parsing) statements.erase(it);
  q.parsing.reset();
}

}  // namespace mosaic::backend

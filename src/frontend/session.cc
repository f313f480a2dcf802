// GCC 12 reports a false -Wmismatched-new-delete on large coroutine frames (asio's awaitable
// frame allocator); the allocation and deallocation are asio's own matched pair.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include "frontend/session.h"

#include <fmt/format.h>
#include <openssl/rand.h>
#include <xxhash.h>

#include "common/log.h"
#include "frontend/session_internal.h"
#include "frontend/startup_settings.h"
#include "protocol/reader.h"
#include "router/rewrite.h"
#include "sql/classifier.h"

namespace mosaic::frontend {

using asio::awaitable;
using asio::use_awaitable;
using backend::ServerConn;
using backend::ServerStatement;
using protocol::Frame;
namespace fe = protocol::fe;
namespace be = protocol::be;

namespace {

constexpr size_t kOutputHighWater = 1 << 20;  // pause relaying when the client lags this much
constexpr size_t kReadChunk = 16384;
// Client bytes WatchClient takes while the session waits for nodes; past this it stops watching
// (the client is sending, so it has not hung up yet).
constexpr size_t kEarlyInputMax = 1 << 20;
// What FailOnNode runs: the column does not exist, so the node's transaction aborts.
constexpr std::string_view kAbortMarker = "mosaic: the transaction was aborted by an earlier error";

std::shared_ptr<const ServerStatement> MakeStatement(const protocol::ParseMessage& parse, bool ddl) {
  auto stmt = std::make_shared<ServerStatement>();
  stmt->ddl = ddl;
  stmt->query = std::string(parse.query);
  stmt->param_types = parse.param_types;
  XXH64_state_t* state = XXH64_createState();
  XXH64_reset(state, 0);
  XXH64_update(state, parse.query.data(), parse.query.size());
  XXH64_update(state, parse.param_types.data(), parse.param_types.size() * sizeof(int32_t));
  stmt->hash = XXH64_digest(state);
  XXH64_freeState(state);
  stmt->server_name = fmt::format("mosaic_{:016x}", stmt->hash);
  return stmt;
}

}  // namespace

std::string EmptyMessage(char type) {
  std::string s;
  protocol::WriteEmpty(&s, type);
  return s;
}

Session::Session(Worker& worker, asio::ip::tcp::socket socket)
    : worker_(worker),
      ctx_(worker.context()),
      client_(std::move(socket)),
      framer_(protocol::Framer::Phase::kStartup, worker.context().config.max_message_size),
      out_drained_(client_.get_executor()),
      pending_drained_(client_.get_executor()),
      merge_turn_(client_.get_executor()) {
  worker_.counters().Add(worker_.counters().clients);
  worker_.counters().Add(worker_.counters().clients_total);
}

Session::~Session() {
  LeaveFences();
  worker_.counters().Add(worker_.counters().clients, -1);
  if (pid_ != 0) {
    std::lock_guard lock(ctx_.cancel_mu);
    ctx_.cancel_targets.erase(pid_);
  }
}

// ---------------------------------------------------------------------------------------------
// Client output: every byte for the client goes through out_, written by one WriteLoop, so
// messages from the client side and the server side can never interleave mid-message.

void Session::Emit(std::string_view bytes) {
  if (write_failed_) return;
  if (!bytes.empty() && bytes[0] == be::kErrorResponse) {
    ++errors_emitted_;
    // An error inside a transaction aborts it whoever raised it: a node (then it is in state 'E'
    // itself) or Mosaic (the nodes would go on).
    if (!tx_aborted_ && TxStatus() != protocol::kTxIdle) tx_aborted_ = true;
  }
  if (quiet_rfq_ && bytes.size() == 6 && bytes[0] == be::kReadyForQuery) return;  // one at the end
  out_.append(bytes);
  if (!corked_ && !in_client_batch_) KickWriter();
}

bool Session::TranslatesOids(const ServerConn& server) const {
  return ctx_.relation_oids != nullptr && server.node_id() != map_->DefaultNode().id;
}

void Session::TranslateOids(const ServerConn& server, std::span<char> row_description) const {
  ctx_.relation_oids->Snapshot()->Translate(server.node_id(), row_description);
}

void Session::Uncork() {
  if (!corked_) return;
  corked_ = false;
  if (!in_client_batch_) KickWriter();
}

void Session::EmitError(const Status& status) {
  std::string msg;
  protocol::WriteError(&msg, status);
  worker_.counters().Add(worker_.counters().errors_total);
  Emit(msg);
}

void Session::KickWriter() {
  if (writing_ || out_.empty() || write_failed_ || hold_output_) return;
  // Most replies fit the socket buffer: write them now, without a trip through the event loop.
  // Only what the socket does not take waits for the writer coroutine.
  asio::error_code ec;
  worker_.counters().Add(worker_.counters().client_writes_total);
  const size_t n = client_.write_some(asio::buffer(out_), ec);
  if (!ec && n == out_.size()) {
    out_.clear();
    out_drained_.Notify();
    return;
  }
  if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
    ClientGone();
    return;
  }
  out_.erase(0, n);
  writing_ = true;
  asio::co_spawn(client_.get_executor(), WriteLoop(), asio::detached);
}

awaitable<void> Session::WriteLoop() {
  auto self = shared_from_this();
  while (!out_.empty() && !write_failed_ && !hold_output_) {
    out_inflight_.clear();
    std::swap(out_, out_inflight_);
    worker_.counters().Add(worker_.counters().client_writes_total);
    auto [ec, n] = co_await asio::async_write(client_, asio::buffer(out_inflight_),
                                              use_tuple);
    if (ec) {
      ClientGone();
      asio::error_code ignored;
      client_.close(ignored);
    }
  }
  out_inflight_.clear();
  if (out_inflight_.capacity() > kOutputHighWater) out_inflight_.shrink_to_fit();
  writing_ = false;
  out_drained_.Notify();
}

awaitable<void> Session::WaitOutputBelow(size_t limit) {
  Uncork();
  if (out_.size() > limit) KickWriter();  // even inside a client batch
  while (!write_failed_ && out_.size() + out_inflight_.size() > limit && writing_) {
    co_await out_drained_.Wait();
  }
}

void Session::Fatal(const Status& status) {
  std::string msg;
  protocol::WriteError(&msg, status, protocol::Severity::kFatal);
  worker_.counters().Add(worker_.counters().errors_total);
  Emit(msg);
  closing_ = true;
  // The session may be waiting for the client (a server died under its transaction): end that
  // read now (it sees end of file), so that the session ends, its other servers' transactions
  // roll back, and the client learns it, instead of all waiting for the client's next message.
  asio::error_code ignored;
  client_.shutdown(asio::ip::tcp::socket::shutdown_receive, ignored);
}

// ---------------------------------------------------------------------------------------------
// Client input

awaitable<bool> Session::NextFrame(Frame* frame) {
  while (true) {
    size_t consumed = 0;
    auto r = framer_.Next(std::string_view(in_.data() + in_start_, in_end_ - in_start_), frame, &consumed);
    if (r == protocol::DecodeResult::kReady) {
      in_start_ += consumed;
      in_client_batch_ = true;
      co_return true;
    }
    if (r == protocol::DecodeResult::kError) {
      Fatal(Status::Error(sqlstate::kProtocolViolation, framer_.error()));
      co_return false;
    }
    if (!co_await FlushServers()) co_return false;
    // Frames handed out earlier are dead now: compact and read more.
    if (in_start_ > 0) {
      std::memmove(in_.data(), in_.data() + in_start_, in_end_ - in_start_);
      in_end_ -= in_start_;
      in_start_ = 0;
    }
    if (in_.size() - in_end_ < 4096) in_.resize(std::max(in_.size() * 2, kReadChunk));
    if (in_.size() > (4u << 20) && in_end_ < kReadChunk) in_.resize(kReadChunk * 2);
    if (!early_in_.empty()) {  // sent while the session waited for nodes (WatchClient)
      const size_t n = std::min(early_in_.size(), in_.size() - in_end_);
      std::memcpy(in_.data() + in_end_, early_in_.data(), n);
      early_in_.erase(0, n);
      in_end_ += n;
      continue;
    }
    ReleaseLocksOfAbortedBlock();
    in_client_batch_ = false;
    Uncork();  // never wait for the client while holding its replies
    KickWriter();
    auto [ec, n] = co_await client_reader_.ReadSome(asio::buffer(in_.data() + in_end_, in_.size() - in_end_), use_tuple);
    if (ec) ClientGone();
    if (ec || closing_) co_return false;
    in_end_ += n;
  }
}

void Session::WatchClient() {
  if (watching_client_ || client_gone_ || early_in_.size() >= kEarlyInputMax) return;
  watching_client_ = true;
  // Readiness only: no read is tried now. Arming costs no syscall when the last read drained
  // the socket (common/read_some.h), as it almost always did; a wait left armed when the session stops waiting ends at the client's
  // next message (OnClientReadable then does nothing) or when the socket closes.
  client_reader_.WaitReadable([self = shared_from_this()](const asio::error_code& ec) {
    self->watching_client_ = false;
    if (!ec) self->OnClientReadable();
  });
}

void Session::OnClientReadable() {
  if (!waiting_on_servers_ || client_gone_) return;  // NextFrame reads the client itself
  // Bytes are a pipelined message, not a hang-up: keep them for NextFrame and watch on (only
  // end of file or an error says the client is gone).
  while (early_in_.size() < kEarlyInputMax) {
    const size_t old = early_in_.size();
    early_in_.resize(old + kReadChunk);
    asio::error_code ec;
    const size_t n = client_.read_some(asio::buffer(early_in_.data() + old, kReadChunk), ec);
    early_in_.resize(old + n);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      WatchClient();
      return;
    }
    if (ec) {
      log::info("client {}: hung up while its statement ran; cancelling it", pid_);
      ClientGone();
      return;
    }
  }
}

void Session::ClientGone() {
  write_failed_ = true;
  out_.clear();
  if (client_gone_) return;
  client_gone_ = true;
  closing_ = true;
  // Not from here (a write of a server message's relay may fail inside its dispatch): what
  // ends a wait for a fence or a connection may drop entries of pending_.
  asio::post(client_.get_executor(), [self = shared_from_this()] {
    // A two-phase commit runs to its end; the session ends after it. (No map_: still in startup.)
    if (self->two_phase_ || self->map_ == nullptr) return;
    if (self->EndWaits()) return;
    self->pending_drained_.Notify();  // Run then cancels what runs on nodes (CancelServers)
    self->out_drained_.Notify();
    self->merge_turn_.cancel();
  });
}

// ---------------------------------------------------------------------------------------------
// Startup and authentication

awaitable<void> Session::Run() {
  auto self = shared_from_this();
  asio::error_code nb_error;
  client_.non_blocking(true, nb_error);  // lets KickWriter write without blocking
  in_.resize(kReadChunk);
  // A client that never finishes its startup holds a connection slot: PostgreSQL's
  // authentication_timeout, same message.
  asio::steady_timer startup_deadline(client_.get_executor());
  startup_deadline.expires_after(std::chrono::seconds(ctx_.config.authentication_timeout_s));
  startup_deadline.async_wait([self](const asio::error_code& ec) {
    if (!ec && !self->started_) {
      log::warn("client {}: no startup within authentication_timeout_s; dropped", self->pid_);
      self->Fatal(Status::Error(sqlstate::kQueryCanceled, "canceling authentication due to timeout"));
    }
  });
  const bool started = co_await Startup();
  started_ = true;
  startup_deadline.cancel();
  if (started) {
    Frame frame;
    while (!closing_ && co_await NextFrame(&frame)) {
      if (!co_await HandleMessage(frame)) break;
    }
  }
  // A client that hung up (not one that said Terminate) abandons what it runs: the nodes stop
  // it now instead of running it to its end for nobody, holding its locks. Their connections
  // close below (replies outstanding), which rolls back their transactions.
  if (client_gone_) CancelServers(/*running_only=*/true);
  ReleaseAll(/*reusable=*/ctx_.config.pool_mode == PoolMode::kTransaction);
  // Let queued output (e.g. a FATAL) reach the client before closing.
  co_await WaitOutputBelow(0);
  closing_ = true;
  asio::error_code ignored;
  client_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  client_.close(ignored);
}

awaitable<bool> Session::Startup() {
  protocol::StartupPacket packet;
  Frame frame;
  while (true) {
    if (!co_await NextFrame(&frame)) co_return false;
    if (auto s = protocol::ParseStartupPacket(frame.body, &packet); !s.ok()) {
      Fatal(s);
      co_return false;
    }
    using Kind = protocol::StartupPacket::Kind;
    if (packet.kind == Kind::kSslRequest || packet.kind == Kind::kGssEncRequest) {
      Emit("N");  // TLS and GSSAPI encryption are not offered (yet)
      continue;
    }
    if (packet.kind == Kind::kCancelRequest) {
      HandleCancelRequest(packet);
      co_return false;
    }
    break;
  }
  NegotiateProtocolVersion(packet);
  const std::string_view user = packet.Get("user");
  if (user.empty()) {
    Fatal(Status::Error(sqlstate::kInvalidAuthorization, "no PostgreSQL user name specified in startup packet"));
    co_return false;
  }
  std::string_view database = packet.Get("database");
  if (database.empty()) database = user;
  if (database != ctx_.config.database) {
    Fatal(Status::Error(sqlstate::kUndefinedDatabase, fmt::format("database \"{}\" does not exist", database)));
    co_return false;
  }
  if (worker_.counters().clients.load(std::memory_order_relaxed) * std::max(1, ctx_.config.workers) >
      ctx_.config.max_client_connections) {
    Fatal(Status::Error(sqlstate::kTooManyConnections, "sorry, too many clients already"));
    co_return false;
  }
  user_ = std::string(user);
  // Copy what we keep of the packet now: reading the SASL messages reuses its buffer.
  const auto settings = StartupSettings(packet);
  AcceptStartupParams(settings);
  framer_.set_phase(protocol::Framer::Phase::kRegular);  // SASL messages are typed
  if (!co_await Authenticate(user_)) co_return false;
  if (!co_await VetStartupSettings(settings)) co_return false;
  SendWelcome();
  co_return true;
}

awaitable<bool> Session::Authenticate(std::string_view user) {
  std::string msg;
  if (ctx_.config.auth == "trust") {
    protocol::WriteAuthentication(&msg, protocol::auth::kOk);
    Emit(msg);
    co_return true;
  }
  const Status failed(sqlstate::kInvalidPassword,
                      fmt::format("password authentication failed for user \"{}\"", user));
  auto it = ctx_.verifiers.find(user);
  // An unknown user still runs the exchange (with a throwaway verifier), as PostgreSQL does,
  // so a client cannot probe which users exist.
  ScramServer scram(it != ctx_.verifiers.end() ? it->second : ScramVerifier::FromPassword("\x01unknown"),
                    std::string(user));
  protocol::WriteAuthenticationSasl(&msg, {"SCRAM-SHA-256"});
  Emit(msg);
  Frame frame;
  if (!co_await NextFrame(&frame)) co_return false;
  protocol::MessageReader r(frame.body);
  std::string_view mechanism, data;
  int32_t len = 0;
  if (frame.type != fe::kPassword || !r.ReadCString(&mechanism) || !r.ReadInt32(&len) ||
      !r.ReadBytes(static_cast<size_t>(std::max(len, 0)), &data)) {
    Fatal(Status::Error(sqlstate::kProtocolViolation, "expected SASL initial response"));
    co_return false;
  }
  if (mechanism != "SCRAM-SHA-256") {
    Fatal(Status::Error(sqlstate::kProtocolViolation, "client selected an invalid SASL authentication mechanism"));
    co_return false;
  }
  auto first = scram.HandleClientFirst(data);
  if (!first.ok()) {
    Fatal(first.status());
    co_return false;
  }
  msg.clear();
  protocol::WriteAuthentication(&msg, protocol::auth::kSaslContinue, first.value());
  Emit(msg);
  if (!co_await NextFrame(&frame)) co_return false;
  if (frame.type != fe::kPassword) {
    Fatal(Status::Error(sqlstate::kProtocolViolation, "expected SASL response"));
    co_return false;
  }
  auto final_msg = scram.HandleClientFinal(frame.body);
  if (!final_msg.ok() || it == ctx_.verifiers.end()) {
    Fatal(failed);
    co_return false;
  }
  msg.clear();
  protocol::WriteAuthentication(&msg, protocol::auth::kSaslFinal, final_msg.value());
  protocol::WriteAuthentication(&msg, protocol::auth::kOk);
  Emit(msg);
  co_return true;
}

void Session::NegotiateProtocolVersion(const protocol::StartupPacket& packet) {
  // As PostgreSQL 15: a 3.x client (x > 0) or one sending protocol options learns that the
  // server speaks 3.0 and recognizes none of the options, and both go on with 3.0.
  std::vector<std::string_view> unrecognized;
  for (const auto& [name, value] : packet.parameters) {
    if (IsProtocolOption(name)) unrecognized.push_back(name);
  }
  if (packet.protocol_version == protocol::kProtocolVersion3 && unrecognized.empty()) return;
  std::string msg;
  protocol::WriteNegotiateProtocolVersion(&msg, protocol::kProtocolVersion3, unrecognized);
  Emit(msg);
}

void Session::AcceptStartupParams(const std::vector<std::pair<std::string, std::string>>& settings) {
  params_ = ctx_.server_params;
  params_["session_authorization"] = user_;
  for (const auto& [name, value] : settings) params_[name] = value;
}

awaitable<bool> Session::VetStartupSettings(const std::vector<std::pair<std::string, std::string>>& settings) {
  // One SELECT of set_config(..., is_local => true) on the default node: the settings end with
  // its implicit transaction, the connection goes back to the pool as it was.
  std::string sql;
  for (const auto& [name, value] : settings) {
    if (IsUsualStartupSetting(name, value)) continue;
    sql += fmt::format("{}pg_catalog.set_config({}, {}, true)", sql.empty() ? "SELECT " : ", ", Literal(name),
                       Literal(value));
  }
  if (sql.empty()) co_return true;
  // The server must not get the settings being vetted (SyncParams) before they are.
  auto client_params = std::move(params_);
  params_ = ctx_.server_params;
  params_["session_authorization"] = user_;
  params_generation_ = worker_.GenerationOf(params_);
  map_ = ctx_.shard_map->Snapshot();
  links_.resize(map_->nodes.size());
  auto check = std::make_shared<Gather>();
  check->mode = Gather::Mode::kWrite;
  const std::vector<int> nodes{map_->DefaultNode().id};
  const std::vector<std::string> sqls{sql};
  co_await Scatter(nodes, sqls, check);
  ReleaseAll(/*reusable=*/true);
  params_ = std::move(client_params);
  if (closing_) co_return false;
  if (check->error.empty()) co_return true;
  // As PostgreSQL refuses a bad setting at startup: FATAL with the node's SQLSTATE and message.
  protocol::ErrorFields fields;
  std::string fatal;
  if (check->error.size() > 5 &&
      protocol::ParseErrorFields(std::string_view(check->error).substr(5), &fields).ok()) {
    protocol::WriteErrorWithSeverity(&fatal, fields, protocol::Severity::kFatal);
  } else {
    fatal = check->error;
  }
  worker_.counters().Add(worker_.counters().errors_total);
  Emit(fatal);
  closing_ = true;
  co_return false;
}

void Session::SendWelcome() {
  std::string msg;
  for (const auto& [name, value] : params_) {
    if (ctx_.server_params.count(name) || name == "application_name" || name == "client_encoding") {
      protocol::WriteParameterStatus(&msg, name, value);
    }
  }
  params_generation_ = worker_.GenerationOf(params_);
  pid_ = ctx_.next_pid.fetch_add(1);
  RAND_bytes(reinterpret_cast<unsigned char*>(&key_), sizeof(key_));
  {
    std::lock_guard lock(ctx_.cancel_mu);
    ctx_.cancel_targets[pid_] = {key_, weak_from_this(), client_.get_executor()};
  }
  protocol::WriteBackendKeyData(&msg, pid_, key_);
  protocol::WriteReadyForQuery(&msg, protocol::kTxIdle);
  Emit(msg);
  map_ = ctx_.shard_map->Snapshot();
  links_.resize(map_->nodes.size());
}

void Session::HandleCancelRequest(const protocol::StartupPacket& packet) {
  std::lock_guard lock(ctx_.cancel_mu);
  auto it = ctx_.cancel_targets.find(packet.cancel_pid);
  if (it == ctx_.cancel_targets.end() || it->second.key != packet.cancel_key) return;
  asio::post(it->second.executor, [weak = it->second.session] {
    if (auto session = weak.lock()) session->RequestCancel();
  });
}

void Session::RequestCancel() {
  if (!EndWaits()) CancelServers(/*running_only=*/false);
}

bool Session::EndWaits() {
  // Waiting at a migration's fence (PlanGated): the wait ends with 57014 at its next poll.
  if (fence_waiting_) {
    fence_wait_cancelled_ = true;
    return true;
  }
  // Waiting for a connection (one statement waits at a time): the wait ends with 57014.
  for (const auto& node : map_->nodes) {
    backend::NodePool* pool = worker_.existing_pool(node.id);
    if (pool != nullptr && pool->CancelWaiting(this)) return true;
  }
  return false;
}

void Session::CancelServers(bool running_only) {
  bool dropped_shared = false;
  for (size_t i = 0; i < links_.size(); ++i) {
    auto& server = links_[i].server;
    if (!server) continue;
    // `running_only` (the client hung up): a pipelined read is left to finish, its reply
    // dropped (a cancel would hold the connection back from the other sessions sharing it).
    if (running_only && (links_[i].shared || std::none_of(pending_.begin(), pending_.end(), [&](const Pending& p) {
                           return p.server == server.get();
                         }))) {
      continue;
    }
    if (links_[i].shared && !worker_.pool(map_->nodes[i]).CanCancel(*server, this)) {
      // A cancel request could hit another session's statement on this connection (one runs
      // before ours, or one queued behind ours may run by the time it arrives). Ours is a
      // read: it ends now as cancelled, and its reply, when the server sends it, is dropped.
      Uncork();
      ReplyInstead(DropLink(links_[i], Status::Canceled()), Status::Canceled());
      dropped_shared = true;
      continue;
    }
    server->Cancel();
  }
  if (dropped_shared) EmitSynthetics();
}

void Session::CancelForDeadlock(int node_id, int32_t backend_pid) {
  for (auto& link : links_) {
    if (!link.server || link.shared || link.server->node_id() != node_id ||
        link.server->backend_pid() != backend_pid) {
      continue;
    }
    // Only while a statement of ours runs there: the detector saw it wait, but it may have
    // ended since (then there is nothing to cancel, and the cancel could hit our next one).
    const bool running = std::any_of(pending_.begin(), pending_.end(), [&](const Pending& p) {
      return p.server == link.server.get() && (p.op == Op::kQuery || p.op == Op::kExecute || p.op == Op::kGather);
    });
    if (!running) return;
    if (!IsDeadlockVictim(*link.server)) deadlock_servers_.push_back(link.server.get());
    // While the request is on its way the connection stays ours, or is held back by the pool
    // (HoldWhileCancelling) if we let it go: it cannot reach another client's statement.
    link.server->Cancel();
    return;
  }
}

bool Session::RewriteDeadlockCancel(const ServerConn& server, const Frame& frame, Frame* out) {
  protocol::ErrorFields fields;
  if (!protocol::ParseErrorFields(frame.body, &fields).ok() || fields.code != sqlstate::kQueryCanceled) return false;
  rewritten_.clear();
  protocol::WriteErrorResponse(&rewritten_, protocol::Severity::kError, sqlstate::kDeadlockDetected,
                               "canceling the transaction since it was involved in a distributed deadlock",
                               fmt::format("Its statement waited on node {} for a lock held by a transaction "
                                           "that waited for it on another node.",
                                           server.node_id()));
  out->type = be::kErrorResponse;
  out->raw = rewritten_;
  out->body = std::string_view(rewritten_).substr(5);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Client messages

awaitable<bool> Session::HandleMessage(const Frame& frame) {
  // A statement pipelined on a shared connection ends before anything else of this client runs
  // (whatever comes next must not land on that connection).
  if (SharedLinked()) co_await WaitPendingDrained();
  const bool after_deferred_parse = std::exchange(parse_deferred_, false);
  if (skip_until_sync_ && frame.type != fe::kSync && frame.type != fe::kTerminate) co_return true;
  if (temp_stale_ && !batch_open_ && frame.type != fe::kTerminate && frame.type != fe::kSync) {
    co_await ReadTempTables();
  }
  opens_batch_ = !batch_open_ || (after_deferred_parse && frame.type == fe::kBind);
  if (frame.type == fe::kParse || frame.type == fe::kBind || frame.type == fe::kDescribe ||
      frame.type == fe::kExecute || frame.type == fe::kClose || frame.type == fe::kFlush) {
    batch_open_ = true;
  }
  switch (frame.type) {
    case fe::kQuery:
      co_return co_await HandleQuery(frame);
    case fe::kParse:
      co_return co_await HandleParse(frame);
    case fe::kBind:
      co_return co_await HandleBind(frame);
    case fe::kDescribe:
      co_return co_await HandleDescribe(frame);
    case fe::kExecute:
      co_return co_await HandleExecute(frame);
    case fe::kClose:
      co_return co_await HandleClose(frame);
    case fe::kSync:
      co_return co_await HandleSync(frame);
    case fe::kFlush:
      for (auto& link : links_) {
        if (link.server) link.out.append(frame.raw);
      }
      co_return true;
    case fe::kFunctionCall:
      co_return co_await ForwardToBatch(frame.raw, Op::kQuery);
    case fe::kCopyData:
    case fe::kCopyDone:
    case fe::kCopyFail:
      if (copy_in_) {
        if (frame.type == fe::kCopyData) {
          CopyInData(frame.body);
          co_return true;
        }
        std::string_view message = frame.body;
        if (!message.empty() && message.back() == '\0') message.remove_suffix(1);
        co_return co_await CopyInEnd(frame.type == fe::kCopyFail, message);
      }
      // Outside COPY these are ignored, as PostgreSQL does.
      if (Link* link = FindLink(copy_target_)) {
        link->out.append(frame.raw);
        if (frame.type != fe::kCopyData) {
          copy_end_sent_ = true;
          copy_in_server_ = nullptr;
        }
      }
      co_return true;
    case fe::kTerminate:
      co_return false;
    default:
      Fatal(Status::Error(sqlstate::kProtocolViolation,
                          fmt::format("invalid frontend message type {}", static_cast<int>(frame.type))));
      co_return false;
  }
}

awaitable<bool> Session::HandleQuery(const Frame& frame) {
  protocol::QueryMessage q;
  if (auto s = protocol::ParseQuery(frame.body, &q); !s.ok()) {
    Fatal(s);
    co_return false;
  }
  worker_.counters().Add(worker_.counters().statements_total);
  // Extended-protocol messages sent without a Sync (pg-cursor's Close after an error): their
  // replies come before this query's, which may be Mosaic's own, and a server holds them until
  // Sync or Flush. PostgreSQL answers them as it reads the Query.
  if (!pending_.empty()) AskForPendingReplies();
  RefreshMap();
  // One lexer pass gives the shape (for the analysis cache) and the statement count.
  auto analysis = worker_.analysis_cache().Get(q.sql, &lexed_);
  if (lexed_.statements <= 1) co_return co_await RouteQuery(q.sql, frame.raw, *analysis);
  if (TxStatus() == protocol::kTxFailed && !FirstRunsInAbortedTransaction(q.sql)) {
    FailQuery(AbortedTransaction());
    co_return true;
  }
  const sql::Classification c = sql::Classify(q.sql);
  if (c.statements <= 1) co_return co_await RouteQuery(q.sql, frame.raw, *analysis);
  switch (c.kind) {
    case sql::StatementKind::kMixed: {
      // DDL with other statements (a schema file sent as one string): each statement in turn,
      // DDL on every node, in one transaction over them (session_string.cc). A syntax error
      // anywhere: the default node reports it and runs nothing, as PostgreSQL.
      std::vector<std::string_view> parts;
      if (analysis->parse_error || !sql::SplitStatements(q.sql, &parts)) {
        co_return co_await RouteQuery(q.sql, frame.raw, *analysis);
      }
      if (auto refused = RunsApart(parts); !refused.ok()) {
        FailQuery(refused);
        co_return true;
      }
      co_return co_await RunApart(parts);
    }
    case sql::StatementKind::kDdl: {
      const std::optional<bool> temp = co_await RunTempDdlString(frame, q.sql);
      if (temp) co_return *temp;
      if (auto refused = CheckDdlString(q.sql); !refused.ok()) {
        FailQuery(refused);
        co_return true;
      }
      // Over several nodes, statement by statement in one transaction over them, so that a
      // string failing on one node changes none (as one DDL statement outside a block).
      std::vector<std::string_view> parts;
      if (map_->nodes.size() > 1 && !analysis->parse_error && sql::SplitStatements(q.sql, &parts) &&
          RunsApart(parts).ok()) {
        co_return co_await RunApart(parts);
      }
      const std::vector<int> all = AllNodes();
      worker_.counters().Add(worker_.counters().ddl_broadcasts_total);
      const bool ok = co_await Broadcast(frame, all);
      if (!broadcast_error_) co_await RefreshTables();
      co_return ok;
    }
    default:
      break;
  }
  // Several statements in one string: they run as one implicit transaction on the node they
  // all route to, or each on its own nodes in turn (RunApart).
  std::vector<std::string_view> parts;
  if (!sql::SplitStatements(q.sql, &parts)) co_return co_await RouteQuery(q.sql, frame.raw, *analysis);
  int node = -1;
  bool relays_set = false, spans = false;
  // SETs of a string that runs as one implicit transaction: read back after it and adopted.
  std::vector<std::string> sets;
  bool reset_all = false, sets_known = TxStatus() == protocol::kTxIdle && !tx_block_;
  bool block = tx_block_ && !implicit_tx_, first = true, settings = false;
  for (std::string_view part : parts) {
    auto analysis = worker_.analysis_cache().Get(part, &lexed_);
    const sql::Analysis& a = *analysis;
    if (a.type == sql::StatementType::kEmpty) continue;
    block = block || (first && a.type == sql::StatementType::kBegin);
    first = false;
    // Settings that must reach every node of a block, or outlive the string's transaction from
    // a set_config: each statement apart, the settings through SetOnLinks / SetConfigOnLinks.
    settings = settings || (!a.parse_error && ((block && a.type == sql::StatementType::kSet) || a.only_set_config));
    relays_set = relays_set || a.type == sql::StatementType::kSet;
    sets_known = CollectSet(a, &sets, &reset_all) && sets_known;
    int here = -1;
    if (a.type == sql::StatementType::kUtility && !a.parse_error) {
      Status refused;
      bool every_node = false;
      here = UtilityNode(a, &refused, nullptr, &every_node);
      if (refused.ok() && every_node) {
        refused = Status::Unsupported(
            "LOCK TABLE of tables on several nodes in a query string with other statements cannot be "
            "routed: send it as a query of its own (it then locks them on every node)");
      }
      if (!refused.ok()) {
        FailQuery(refused);
        co_return true;
      }
      if (here < 0) continue;  // follows the others
    } else if (a.parse_error || a.type == sql::StatementType::kEmpty || a.type == sql::StatementType::kSet ||
               a.type == sql::StatementType::kShow || a.type == sql::StatementType::kBegin ||
               a.type == sql::StatementType::kCommit || a.type == sql::StatementType::kRollback ||
               a.type == sql::StatementType::kSavepoint) {
      continue;  // follows the others
    } else {
      router::Bound bound;
      bound.utc = SessionUtc();
      bound.literals = &lexed_.literals;
      auto route = co_await PlanGated(a, bound, part);
      if (route.ok() && route.value().nodes.size() == 1 && !route.value().all_nodes) here = route.value().nodes[0];
    }
    if (here < 0 || (node >= 0 && here != node)) {
      spans = true;
      break;
    }
    node = here;
  }
  if (!spans && settings && TxStatus() != protocol::kTxFailed && !analysis->parse_error && RunsApart(parts).ok()) {
    co_return co_await RunApart(parts);
  }
  if (spans) {
    // (The scanner that split the string leaves out what does not begin like a statement: the
    // string's own analysis tells whether all of it parses.)
    if (!analysis->parse_error) {  // each statement on its nodes, in turn (session_string.cc)
      if (auto refused = RunsApart(parts); !refused.ok()) {
        FailQuery(refused);
        co_return true;
      }
      co_return co_await RunApart(parts);
    }
    node = -1;  // the default node reports it, and runs nothing of the string (as PostgreSQL)
  }
  if (node < 0) node = map_->DefaultNode().id;
  copy_target_ = nullptr;
  auto link = co_await LinkNode(*map_->FindNode(node));
  if (!link.ok()) {
    FailQuery(link.status());
    co_return true;
  }
  Link& l = *link.value();
  l.server->unnamed_owner = nullptr;
  l.out.append(frame.raw);
  if (relays_set) {  // SET in the string: the settings it changes must not reach the next client
    for (std::string_view part : parts) NoteRelayedSet(*worker_.analysis_cache().Get(part, &lexed_), *l.server);
  }
  if (relays_set && sets_known && (!sets.empty() || reset_all)) {
    // They follow the client from now on, as a SET sent as a query of its own does.
    Push({.op = Op::kQuery, .server = l.server.get(), .forward_rfq = false});
    broadcast_error_ = false;
    co_await AdoptSetsAfter(l, sets, reset_all, false);
    co_return !closing_;
  }
  if (TxStatus() != protocol::kTxIdle) l.wrote = true;
  SetCopyTarget(l.server.get());
  Push({.op = Op::kQuery, .server = l.server.get()});
  co_return true;
}

void Session::RefreshMap() {
  if (tables_of_block_) {
    if (TxStatus() != protocol::kTxIdle) return;  // routes with this block's own tables until it ends
    tables_of_block_ = false;
  }
  auto current = ctx_.shard_map->Snapshot();
  if (current == map_) return;
  bool same_nodes = current->nodes.size() == map_->nodes.size();
  for (size_t i = 0; same_nodes && i < current->nodes.size(); ++i) {
    same_nodes = current->nodes[i].id == map_->nodes[i].id;
  }
  if (same_nodes) {
    map_ = std::move(current);  // links_ stay valid: they are indexed by node position
    return;
  }
  if (LinkedCount() != 0 || tx_block_) return;  // node list changed: wait until nothing is linked
  map_ = std::move(current);
  links_.clear();
  links_.resize(map_->nodes.size());
}

Status Session::CheckDdlString(std::string_view sql) {
  std::vector<std::string_view> parts;
  if ((map_->migrations.empty() && !map_->spread()) || !sql::SplitStatements(sql, &parts)) return Status::OK();
  for (std::string_view part : parts) {
    auto analysis = worker_.analysis_cache().Get(part, &lexed_);
    if (auto refused = CheckDdlDuringMigrations(*analysis); !refused.ok()) return refused;
    if (auto placed = PlaceUtility(*analysis, lexed_.literals); !placed.ok()) return placed.status();
  }
  return Status::OK();
}

int Session::UtilityNode(const sql::Analysis& a, Status* refused, bool* write, bool* every_node) const {
  auto placed = PlaceUtility(a, lexed_.literals);
  if (!placed.ok()) {
    *refused = placed.status();
    return -1;
  }
  if (write != nullptr) *write = placed.value().write;
  if (every_node != nullptr) *every_node = placed.value().every_node;
  using U = sql::UtilityKind;
  if (a.utility != U::kCursorUse && a.utility != U::kDeclareCursor) return placed.value().node;
  const int node = placed.value().node >= 0 ? placed.value().node : map_->DefaultNode().id;
  const auto cursor = cursors_.find(a.cursor_name);
  if (a.utility == U::kCursorUse) {
    if (a.cursor_name.empty()) return -1;  // CLOSE ALL
    return cursor == cursors_.end() ? node : cursor->second.node;  // else 34000 from the node
  }
  if (cursor != cursors_.end() && cursor->second.node != node) {
    // The node would take it: each has cursors of its own.
    *refused = Status::Error(sqlstate::kDuplicateCursor, fmt::format("cursor \"{}\" already exists", a.cursor_name));
    return -1;
  }
  return node;
}

void Session::NoteCursor(const sql::Analysis& a, int node) {
  using U = sql::UtilityKind;
  if (a.utility == U::kDeclareCursor) {
    cursors_[a.cursor_name] = Cursor{.node = node, .hold = a.cursor_hold};
  } else if (a.utility == U::kCursorUse && a.cursor_close) {
    if (a.cursor_name.empty()) {
      cursors_.clear();
    } else {
      cursors_.erase(a.cursor_name);
    }
  }
}

// Runs a simple query on several nodes one after another: the first node's results reach the
// client, the others' only if they fail. One ReadyForQuery ends it, as if one node had run it.
// Without two-phase commit (a later issue) a failure on a later node leaves earlier nodes
// changed: the error says which node failed.
awaitable<bool> Session::Broadcast(const Frame& frame, const std::vector<int>& nodes, bool ready) {
  copy_target_ = nullptr;
  broadcast_error_ = false;
  bool first = true;
  for (int id : nodes) {
    const catalog::Node* node = map_->FindNode(id);
    auto link = co_await LinkNode(*node);
    if (!link.ok()) {
      QueueError(link.status());
      break;
    }
    Link& l = *link.value();
    l.server->unnamed_owner = nullptr;
    l.out.append(frame.raw);
    Push({.op = Op::kQuery, .server = l.server.get(), .forward = first, .forward_rfq = false, .replica = !first});
    first = false;
    if (!co_await FlushServers()) break;
    co_await WaitPendingDrained();
    if (broadcast_error_ || closing_) break;
  }
  if (ready) Push({.op = Op::kRfq});
  MaybeRelease();
  co_return !closing_;
}

awaitable<bool> Session::ForwardToBatch(std::string_view raw, Op op) {
  Link* link = co_await LinkBatch();
  if (link == nullptr) co_return true;
  Link& l = *link;
  l.out.append(raw);
  if (op == Op::kExecute || op == Op::kQuery) SetCopyTarget(l.server.get());
  Push({.op = op, .server = l.server.get()});
  co_return true;
}

awaitable<bool> Session::HandleParse(const Frame& frame) {
  protocol::ParseMessage parse;
  if (auto s = protocol::ParseParse(frame.body, &parse); !s.ok()) {
    Fatal(s);
    co_return false;
  }
  RefreshMap();
  const sql::Classification c = sql::Classify(parse.query);
  if (c.kind == sql::StatementKind::kMixed) {
    SkipUntilSync(Status::Error(sqlstate::kSyntaxError,
                                "cannot insert multiple commands into a prepared statement"));
    co_return true;
  }
  auto analysis = worker_.analysis_cache().Get(parse.query, &lexed_);
  bool local = analysis->type == sql::StatementType::kBegin || analysis->type == sql::StatementType::kCommit ||
               analysis->type == sql::StatementType::kRollback || analysis->type == sql::StatementType::kSavepoint;
  if (c.kind == sql::StatementKind::kTransaction && !local && LinkedCount() > 1) {
    SkipUntilSync(Status::Unsupported(
        "two-phase commands over the extended query protocol in a transaction spanning several nodes "
        "are not supported yet: use a simple query"));
    co_return true;
  }
  if (!parse.name.empty() && statements_.count(std::string(parse.name))) {
    SkipUntilSync(Status::Error(sqlstate::kDuplicatePreparedStatement,
                                fmt::format("prepared statement \"{}\" already exists", parse.name)));
    co_return true;
  }
  if (TxStatus() == protocol::kTxFailed && !RunsInAbortedTransaction(*analysis)) {
    SkipUntilSync(AbortedTransaction());
    co_return true;
  }
  // Utility statements follow the batch to its node (LinkBatch): those that would see only
  // that node's part of rows spread over several are refused.
  // Cursors Mosaic holds: DECLARE runs at Execute (parameters written in), FETCH, MOVE and CLOSE
  // of one are answered there (session_cursor.cc).
  const bool held_cursor = HoldsDeclare(*analysis, lexed_.literals, /*extended=*/true) ||
                           (analysis->utility == sql::UtilityKind::kCursorUse &&
                            held_cursors_.count(analysis->cursor_name) > 0);
  if (analysis->utility == sql::UtilityKind::kCursorUse && analysis->cursor_close && analysis->cursor_name.empty()) {
    held_cursors_.clear();  // CLOSE ALL
  }
  if (held_cursor) local = true;
  // DEALLOCATE of a statement the client prepared over the extended protocol: answered at
  // Execute (Deallocate); DEALLOCATE ALL drops them at its Bind and goes to its node.
  const bool deallocates_own = analysis->deallocate && statements_.count(analysis->deallocate_name) > 0;
  if (deallocates_own) local = true;
  if (analysis->utility != sql::UtilityKind::kNone && !held_cursor && !deallocates_own) {
    Status refused;
    bool every_node = false;
    const int node = UtilityNode(*analysis, &refused, nullptr, &every_node);
    // LOCK TABLE of tables on several nodes: runs at Execute on every node (ExecuteLocal).
    if (refused.ok() && every_node) local = true;
    if (refused.ok() && node >= 0 && node != map_->DefaultNode().id &&
        (analysis->utility == sql::UtilityKind::kDeclareCursor || analysis->utility == sql::UtilityKind::kCursorUse)) {
      refused = Status::Unsupported(
          "a cursor on another node than the default one is supported over the simple query protocol only: "
          "send DECLARE, FETCH, MOVE and CLOSE as simple queries");
    }
    if (!refused.ok()) {
      SkipUntilSync(refused);
      co_return true;
    }
  }
  auto stmt = MakeStatement(parse, c.kind == sql::StatementKind::kDdl);
  {
    auto mutable_stmt = std::const_pointer_cast<ServerStatement>(stmt);
    mutable_stmt->analysis = std::move(analysis);
    mutable_stmt->literals = lexed_.literals;
    mutable_stmt->shape_hash = lexed_.shape_hash;
    // Runs at Execute, on every node of the transaction (EndTransaction), as over the simple
    // protocol; nothing goes to a server now.
    mutable_stmt->local = local;
  }
  if (local) {
    if (parse.name.empty()) {
      unnamed_ = stmt;
      unnamed_generation_ = worker_.NextGeneration();
    } else {
      statements_[std::string(parse.name)] = stmt;
    }
    Push({.op = Op::kSynthetic, .synthetic = EmptyMessage(be::kParseComplete)});
    co_return true;
  }
  if (parse.name.empty() && opens_batch_ && MayDeferUnnamedParse(*stmt)) {
    unnamed_ = stmt;
    unnamed_generation_ = worker_.NextGeneration();
    parse_deferred_ = true;
    Push({.op = Op::kSynthetic, .synthetic = EmptyMessage(be::kParseComplete)});
    co_return true;
  }
  Link* link = co_await LinkBatch();
  if (link == nullptr) co_return true;
  Link& l = *link;
  if (parse.name.empty()) {
    unnamed_ = stmt;
    unnamed_generation_ = worker_.NextGeneration();
    l.server->unnamed_owner = this;
    l.server->unnamed_generation = unnamed_generation_;
    l.out.append(frame.raw);
    Push({.op = Op::kParse, .server = l.server.get()});
    co_return true;
  }
  statements_[std::string(parse.name)] = stmt;
  if (l.server->Holds(*stmt)) {
    Push({.op = Op::kSynthetic, .synthetic = EmptyMessage(be::kParseComplete)});
    co_return true;
  }
  BeforeParse(*l.server, *stmt, &l.out);
  l.server->NoteParse(stmt);
  protocol::WriteParse(&l.out, stmt->server_name, stmt->query, stmt->param_types);
  Push({.op = Op::kParse, .server = l.server.get(), .parsed = stmt, .client_name = std::string(parse.name)});
  co_return true;
}

void Session::EnsurePrepared(Link& link, const std::shared_ptr<const ServerStatement>& stmt) {
  PrepareOn(*link.server, stmt, &link.out);
}

void Session::PrepareOn(ServerConn& server, const std::shared_ptr<const ServerStatement>& stmt, std::string* out) {
  if (server.Holds(*stmt)) return;
  BeforeParse(server, *stmt, out);
  server.NoteParse(stmt);
  protocol::WriteParse(out, stmt->server_name, stmt->query, stmt->param_types);
  Push({.op = Op::kParse, .server = &server, .forward = false, .parsed = stmt});
}

// Before a Parse of `stmt` on `server`: a copy the server holds but that cannot be used as it
// is (another session's Parse of it on a shared connection still unanswered, which may fail;
// or its plan gone stale) is closed first, which is no error if it does not exist; otherwise
// room is made for one more.
void Session::BeforeParse(ServerConn& server, const ServerStatement& stmt, std::string* out) {
  auto it = server.statements.find(stmt.hash);
  if (it != server.statements.end() && it->second->SameAs(stmt)) {
    protocol::WriteClose(out, 'S', stmt.server_name);
    Push({.op = Op::kClose, .server = &server, .forward = false});
    return;
  }
  MakeRoomForStatement(server, out);
}

// Keeps a server's prepared statements under max_prepared_statements by closing one. Any
// client still using it gets it re-prepared by EnsurePrepared at its next Bind or Describe:
// the server runs messages in order, so nothing already sent is affected (on a shared
// connection too: what a session writes there is composed when it is written).
void Session::MakeRoomForStatement(ServerConn& server, std::string* out) {
  auto& statements = server.statements;
  if (statements.size() < static_cast<size_t>(ctx_.config.max_prepared_statements)) return;
  auto victim = statements.begin();
  protocol::WriteClose(out, 'S', victim->second->server_name);
  server.stale.erase(victim->first);
  statements.erase(victim);
  Push({.op = Op::kClose, .server = &server, .forward = false});
}

// DISCARD ALL and DEALLOCATE ALL drop every prepared statement of the server they ran on,
// Mosaic's shared ones too: forget them there (the next use prepares them again).
void Session::ForgetOnReset(ServerConn& server, std::string_view tag) {
  if (!tag.empty() && tag.back() == '\0') tag.remove_suffix(1);
  if (tag != "DISCARD ALL" && tag != "DEALLOCATE ALL") return;
  server.statements.clear();
  server.stale.clear();
  server.unnamed_owner = nullptr;
}

void Session::EnsureUnnamed(Link& link) { UnnamedOn(*link.server, &link.out); }

void Session::UnnamedOn(ServerConn& server, std::string* out) {
  if (!unnamed_) return;  // the server reports the missing statement itself
  if (server.unnamed_owner == this && server.unnamed_generation == unnamed_generation_) return;
  server.unnamed_owner = this;
  server.unnamed_generation = unnamed_generation_;
  protocol::WriteParse(out, "", unnamed_->query, unnamed_->param_types);
  Push({.op = Op::kParse, .server = &server, .forward = false});
}

std::shared_ptr<const ServerStatement> Session::FindStatement(std::string_view name) {
  auto it = statements_.find(std::string(name));
  if (it != statements_.end()) return it->second;
  SkipUntilSync(Status::Error(sqlstate::kInvalidSqlStatementName,
                              fmt::format("prepared statement \"{}\" does not exist", name)));
  return nullptr;
}

bool Session::Routable(const sql::Analysis& a) {
  using T = sql::StatementType;
  if (a.parse_error || !a.mosaic_function.empty()) return false;
  return a.type == T::kSelect || a.type == T::kSelectForUpdate || a.type == T::kInsert ||
         a.type == T::kUpdate || a.type == T::kDelete || a.type == T::kCopyTo || a.type == T::kCopyFrom;
}

Session::Link* Session::PortalLink(std::string_view portal) {
  auto it = portal_links_.find(std::string(portal));
  if (it == portal_links_.end() || it->second >= links_.size() || !links_[it->second].server) return nullptr;
  return &links_[it->second];
}

awaitable<Session::Link*> Session::LinkBatch() {
  // Statements without rows to route follow the batch (or the transaction) where it already is.
  if (batch_link_ < links_.size() && links_[batch_link_].server) co_return &links_[batch_link_];
  for (auto& link : links_) {
    if (link.server && link.server->tx_status != protocol::kTxIdle) co_return &link;
  }
  co_return co_await LinkDefault();
}

awaitable<Session::Link*> Session::LinkDefault() {
  auto link = co_await LinkNode(map_->DefaultNode());
  if (link.ok()) co_return link.value();
  SkipUntilSync(link.status());
  co_return nullptr;
}

router::Bound Session::BoundOf(const protocol::BindMessage& bind, const ServerStatement& stmt) const {
  router::Bound bound;
  bound.utc = SessionUtc();
  bound.literals = &stmt.literals;
  bound.params.resize(bind.params.size());
  for (size_t i = 0; i < bind.params.size(); ++i) {
    auto& p = bound.params[i];
    p.null = !bind.params[i].has_value();
    if (!p.null) p.bytes = *bind.params[i];
    const int16_t format = bind.param_formats.empty() ? 0
                           : bind.param_formats.size() == 1 ? bind.param_formats[0]
                           : (i < bind.param_formats.size() ? bind.param_formats[i] : 0);
    p.binary = format == 1;
    if (i < stmt.param_types.size()) p.type_oid = static_cast<uint32_t>(stmt.param_types[i]);
  }
  return bound;
}

std::shared_ptr<const ServerStatement> Session::WithParamsInlined(const std::shared_ptr<const ServerStatement>& stmt,
                                                                  const router::Bound& bound, Status* refused) {
  auto inlined = router::InlineParams(stmt->query, bound);
  if (!inlined.ok()) {
    *refused = inlined.status();
    return nullptr;
  }
  auto with_values = std::make_shared<backend::ServerStatement>(*stmt);
  with_values->query = std::move(inlined.value());
  sql::Lexed lexed;
  with_values->analysis = worker_.analysis_cache().Get(with_values->query, &lexed);
  with_values->literals = lexed.literals;
  with_values->param_types.clear();
  return with_values;
}

void Session::BindLocal(std::string_view portal, std::shared_ptr<const ServerStatement> stmt, uint32_t monitor) {
  const std::string name(portal);
  portal_links_.erase(name);
  scatter_portals_.erase(name);
  ddl_portals_.erase(name);
  local_portals_[name] = std::move(stmt);
  fetch_formats_.erase(name);
  if (monitor != 0) {
    portal_monitor_[name] = monitor;
  } else {
    portal_monitor_.erase(name);
  }
  Push({.op = Op::kSynthetic, .synthetic = EmptyMessage(be::kBindComplete)});
}

awaitable<bool> Session::HandleBind(const Frame& frame) {
  protocol::BindHeader bind;
  if (auto s = protocol::ParseBindHeader(frame.body, &bind); !s.ok()) {
    Fatal(s);
    co_return false;
  }
  RefreshMap();
  std::shared_ptr<const ServerStatement> stmt;
  if (!bind.statement.empty() && !(stmt = FindStatement(bind.statement))) co_return true;
  Link* link = nullptr;
  const auto& target_stmt = stmt ? stmt : unnamed_;
  bool write = false;
  if (TxStatus() == protocol::kTxFailed && target_stmt && target_stmt->analysis &&
      !RunsInAbortedTransaction(*target_stmt->analysis)) {
    SkipUntilSync(AbortedTransaction());
    co_return true;
  }
  if (target_stmt && target_stmt->analysis) {
    if (auto refused = RefuseSessionRole(*target_stmt->analysis); !refused.ok()) {
      SkipUntilSync(refused);
      co_return true;
    }
  }
  bool temp_ddl = false;  // on the session's temporary tables: the default node alone
  if (target_stmt && target_stmt->ddl && target_stmt->analysis) {
    const TempUse use = TempDdlOf(*target_stmt->analysis);
    temp_ddl = use != TempUse::kNone;
    if (auto refused = temp_ddl ? RefuseTempDdl(*target_stmt->analysis, use, target_stmt->literals)
                                : CheckDdlDuringMigrations(*target_stmt->analysis);
        !refused.ok()) {
      SkipUntilSync(refused);
      co_return true;
    }
  }
  if (target_stmt && target_stmt->analysis && target_stmt->analysis->discards_temp) temp_stale_ = true;
  if (target_stmt && target_stmt->analysis && target_stmt->analysis->deallocate &&
      target_stmt->analysis->deallocate_name.empty()) {
    statements_.clear();  // DEALLOCATE ALL; `target_stmt` lives on in its own reference
  }
  if (!local_portals_.empty()) local_portals_.erase(std::string(bind.portal));
  if (!fetch_formats_.empty()) fetch_formats_.erase(std::string(bind.portal));
  if (target_stmt && (target_stmt->local || (target_stmt->analysis && SetsInBlock(*target_stmt->analysis)))) {
    portal_links_.erase(std::string(bind.portal));
    scatter_portals_.erase(std::string(bind.portal));
    ddl_portals_.erase(std::string(bind.portal));
    std::shared_ptr<const ServerStatement> portal = target_stmt;
    if (target_stmt->analysis && target_stmt->analysis->type == sql::StatementType::kUtility &&
        (target_stmt->analysis->utility == sql::UtilityKind::kDeclareCursor ||
         target_stmt->analysis->utility == sql::UtilityKind::kCursorUse)) {
      // A held cursor's DECLARE runs with its parameters written in; a FETCH sends its rows in
      // the Bind's result formats.
      protocol::BindMessage full;
      if (auto s = protocol::ParseBind(frame.body, &full); !s.ok()) {
        Fatal(s);
        co_return false;
      }
      Status refused;
      if (!full.params.empty()) portal = WithParamsInlined(target_stmt, BoundOf(full, *target_stmt), &refused);
      if (target_stmt->analysis->utility == sql::UtilityKind::kCursorUse && !full.result_formats.empty()) {
        fetch_formats_[std::string(bind.portal)] = std::move(full.result_formats);
      }
      if (!refused.ok()) {
        SkipUntilSync(refused);
        co_return true;
      }
    }
    local_portals_[std::string(bind.portal)] = portal;
    Push({.op = Op::kSynthetic, .synthetic = EmptyMessage(be::kBindComplete)});
    co_return true;
  }
  std::vector<std::string> set_config;  // settings a SELECT of set_config calls changes (outside a block)
  std::vector<std::string> block_set_config;  // ... for the session, inside a block (read back at COMMIT)
  if (target_stmt && target_stmt->analysis && Routable(*target_stmt->analysis)) {
    protocol::BindMessage full;
    if (auto s = protocol::ParseBind(frame.body, &full); !s.ok()) {
      Fatal(s);
      co_return false;
    }
    router::Bound bound = BoundOf(full, *target_stmt);
    BlockSetConfigNames(*target_stmt->analysis, bound, &block_set_config);
    if (target_stmt->analysis->only_set_config && !tx_block_ && TxStatus() == protocol::kTxIdle) {
      const bool tracked = SetConfigNames(*target_stmt->analysis, bound, &set_config);
      if (auto refused = RefuseSetConfigRole(set_config); !refused.ok()) {
        SkipUntilSync(refused);
        co_return true;
      }
      if (!tracked) set_config.clear();
    }
    auto route = co_await PlanGated(*target_stmt->analysis, bound, target_stmt->query);
    if (!route.ok() && Subplannable(*target_stmt->analysis, route.status())) {
      portal_links_.erase(std::string(bind.portal));
      ddl_portals_.erase(std::string(bind.portal));
      BindSubplanned(*target_stmt, bound, bind.portal, frame.body);
      co_return true;
    }
    if (!route.ok() && WriteSubplannable(*target_stmt->analysis, route.status()) &&
        !target_stmt->analysis->returning) {
      // Runs in steps at its Execute (ExecuteWriteSubplanned), its parameters written in.
      Status refused;
      auto through = WithParamsInlined(target_stmt, bound, &refused);
      if (!through) {
        SkipUntilSync(refused);
        co_return true;
      }
      BindLocal(bind.portal, std::move(through), 0);
      co_return true;
    }
    if (!route.ok()) {
      SkipUntilSync(route.status().sqlstate() == router::kUnknownRelation
                        ? Status::Unsupported(route.status().message())
                        : route.status());
      co_return true;
    }
    const uint32_t monitor = MonitorBegin(*target_stmt->analysis, bound, route.value(), target_stmt->shape_hash,
                                          target_stmt->query, target_stmt->literals);
    if (route.value().insert_select_through && !target_stmt->analysis->returning) {
      // Runs through Mosaic at its Execute (ExecuteLocal), as over the simple protocol; its
      // parameters written into the text as constants of their types.
      std::shared_ptr<const backend::ServerStatement> through = target_stmt;
      if (!full.params.empty()) {
        Status refused;
        through = WithParamsInlined(target_stmt, bound, &refused);
        if (!through) {
          SkipUntilSync(refused);
          co_return true;
        }
      }
      BindLocal(bind.portal, std::move(through), monitor);
      co_return true;
    }
    if (route.value().nodes.size() != 1) {
      portal_links_.erase(std::string(bind.portal));
      ddl_portals_.erase(std::string(bind.portal));
      BindScatter(*target_stmt->analysis, route.value(), bound, *target_stmt, bind.portal, bind.rest, frame.body);
      if (auto sp = scatter_portals_.find(std::string(bind.portal)); sp != scatter_portals_.end()) {
        sp->second->gather->monitor = monitor;
      }
      co_return true;
    }
    scatter_portals_.erase(std::string(bind.portal));
    write = route.value().write;
    const catalog::Node& node = *map_->FindNode(route.value().nodes[0]);
    if (opens_batch_ && Pipelinable(*target_stmt->analysis, route.value(), target_stmt->shape_hash)) {
      if (auto unit = PeekBindUnit(bind.portal)) {
        if (co_await BindShared(node, stmt, frame, bind, *unit, monitor, &link)) co_return !closing_;
      }
    }
    portal_monitor_[std::string(bind.portal)] = monitor;
    if (link == nullptr) {
      auto result = co_await LinkNode(node);
      if (!result.ok()) {
        SkipUntilSync(result.status());
        co_return true;
      }
      link = result.value();
    }
  } else if (temp_ddl) {
    auto result = co_await LinkNode(map_->DefaultNode());
    if (!result.ok()) {
      SkipUntilSync(result.status());
      co_return true;
    }
    link = result.value();
  } else {
    link = co_await LinkBatch();
    if (link == nullptr) co_return true;
  }
  const size_t index = static_cast<size_t>(link - links_.data());
  if (batch_link_ != SIZE_MAX && batch_link_ != index && !pending_.empty()) {
    // The batch moves to another node: PostgreSQL skips to Sync after an error, so what ran
    // before must have succeeded before this node starts.
    if (!co_await FlushServers()) co_return false;
    co_await WaitPendingDrained();
    if (skip_until_sync_ || !link->server) co_return true;
  }
  batch_link_ = index;
  if (write && TxStatus() != protocol::kTxIdle) link->wrote = true;
  if (write) link->batch_wrote = batch_seq_ + 1;
  portal_links_[std::string(bind.portal)] = index;
  Link& l = *link;
  if (target_stmt && target_stmt->analysis) {
    if (target_stmt->analysis->rollback_to) tx_aborted_ = false;  // as below for a simple query
    AbortOnNodeBefore(*target_stmt->analysis, l);
    NoteRelayedSet(*target_stmt->analysis, *l.server);
    NoteBatchSet(*target_stmt->analysis, index, set_config);
    ReplayBatchSets(index);
    if (target_stmt->analysis->type == sql::StatementType::kSet && !tx_block_ && TxStatus() == protocol::kTxIdle) {
      batch_set_texts_.push_back({target_stmt->query, target_stmt->analysis, index});
    }
    NoteBlockSet(*target_stmt->analysis, l);
    if (target_stmt->analysis->only_set_config && SettingsBlock()) CopySetConfig(l, *target_stmt, bind.rest);
    for (const auto& name : block_set_config) NoteBlockSetting(name, l);
  }
  if (stmt) {
    EnsurePrepared(l, stmt);
    protocol::WriteBindRenamed(&l.out, bind.portal, stmt->server_name, bind.rest);
  } else {
    EnsureUnnamed(l);
    l.out.append(frame.raw);
  }
  Push({.op = Op::kBind, .server = l.server.get(), .parsed = stmt});
  const auto& bound = stmt ? stmt : unnamed_;
  if (bound && bound->ddl) {
    ddl_portals_[std::string(bind.portal)] = bound->query;
  } else if (!ddl_portals_.empty()) {
    ddl_portals_.erase(std::string(bind.portal));
  }
  co_return true;
}

awaitable<bool> Session::HandleExecute(const Frame& frame) {
  worker_.counters().Add(worker_.counters().statements_total);
  protocol::ExecuteMessage e;
  if (auto s = protocol::ParseExecute(frame.body, &e); !s.ok()) {
    Fatal(s);
    co_return false;
  }
  std::shared_ptr<const ServerStatement> local;
  if (auto lp = local_portals_.find(std::string(e.portal)); lp != local_portals_.end()) local = lp->second;
  if (local) {
    uint32_t monitor = 0;
    if (auto m = portal_monitor_.find(std::string(e.portal)); m != portal_monitor_.end()) {
      monitor = m->second;
      portal_monitor_.erase(m);
    }
    std::vector<int16_t> formats;
    if (auto f = fetch_formats_.find(std::string(e.portal)); f != fetch_formats_.end()) formats = f->second;
    const bool ok = co_await ExecuteLocal(std::move(local), monitor, e.max_rows, std::move(formats));
    co_return ok;
  }
  if (auto sp = scatter_portals_.find(std::string(e.portal)); sp != scatter_portals_.end()) {
    auto portal = sp->second;
    if (!portal->subplan_sql.empty()) {
      if (co_await RunSubplanPortal(*portal)) SendHeldRows(*portal, e.max_rows);
      co_return !closing_;
    }
    // PostgreSQL ignores a row limit for a write without RETURNING (pgjdbc's executeUpdate
    // sends 1).
    const bool limited = e.max_rows > 0 && (portal->gather->mode == Gather::Mode::kMerge || portal->returning);
    if (!limited && !portal->held_ready) {
      scatter_portals_.erase(sp);
      // Not described yet (Describe runs the portal whole): its rows can go out as they come.
      router::Merger* merger = portal->gather->merger.get();
      if (!portal->ran && merger && merger->Streamable()) merger->Stream(/*with_description=*/false);
      if (!co_await RunScatterPortal(*portal)) co_return !closing_;
      FinishGather(*portal->gather, /*with_description=*/false);
      co_return !closing_;
    }
    // A row limit (JDBC's setFetchSize in a transaction): the merged result is rendered once
    // and handed out that many rows per Execute, as PostgreSQL suspends a portal.
    if (!portal->held_ready) {
      const std::string name(e.portal);
      if (!co_await RunScatterPortal(*portal) || !FinishGather(*portal->gather, false, &portal->held)) {
        scatter_portals_.erase(name);
        skip_until_sync_ = true;
        co_return !closing_;
      }
      portal->held_ready = true;
    }
    SendHeldRows(*portal, e.max_rows);
    co_return !closing_;
  }
  auto ddl = ddl_portals_.find(std::string(e.portal));
  if (ddl == ddl_portals_.end()) {
    if (Link* l = PortalLink(e.portal)) {
      l->out.append(frame.raw);
      SetCopyTarget(l->server.get());
      Push({.op = Op::kExecute, .server = l->server.get()});
      if (auto m = portal_monitor_.find(std::string(e.portal)); m != portal_monitor_.end()) {
        pending_.back().monitor = std::exchange(m->second, 0);
      }
      co_return true;
    }
    co_return co_await ForwardToBatch(frame.raw, Op::kExecute);
  }
  const std::string sql = std::move(ddl->second);
  ddl_portals_.erase(ddl);
  broadcast_error_ = false;
  sql::Lexed lexed;
  const auto analysis = worker_.analysis_cache().Get(sql, &lexed);
  if (TempDdlOf(*analysis) != TempUse::kNone) {  // on its Bind's link, the default node's
    NoteTempDdl(*analysis);
    co_return co_await ForwardToBatch(frame.raw, Op::kExecute);
  }
  if (!co_await ForwardToBatch(frame.raw, Op::kExecute)) co_return false;
  // A server holds its replies until Sync or Flush: ask for them now.
  if (batch_link_ < links_.size() && links_[batch_link_].server) {
    links_[batch_link_].out.append(std::string_view("H\0\0\0\4", 5));
  }
  if (!co_await FlushServers()) co_return false;
  co_await WaitPendingDrained();
  const size_t ran_on = batch_link_;
  if (!broadcast_error_ && !skip_until_sync_) co_await ReplicateDdl(sql, ran_on);
  if (!broadcast_error_ && !skip_until_sync_ && tx_block_ && !implicit_tx_) {
    // In a transaction block, as over the simple protocol: the block sees the new tables.
    co_await StripeSequences();
    co_await RefreshTables();
  } else {
    refresh_tables_pending_ = true;  // once its implicit transaction has ended (Sync)
  }
  co_return !closing_;
}

awaitable<void> Session::ReplicateDdl(const std::string& sql, size_t ran_on) {
  worker_.counters().Add(worker_.counters().ddl_broadcasts_total);
  std::string query;
  protocol::WriteQuery(&query, sql);
  for (size_t i = 0; i < map_->nodes.size() && !broadcast_error_ && !closing_; ++i) {
    if (i == ran_on) continue;
    auto link = co_await LinkNode(map_->nodes[i]);
    if (!link.ok()) {
      SkipUntilSync(link.status());
      co_return;
    }
    Link& l = *link.value();
    l.server->unnamed_owner = nullptr;
    l.out.append(query);
    Push({.op = Op::kQuery, .server = l.server.get(), .forward = false, .forward_rfq = false, .replica = true});
    if (!co_await FlushServers()) co_return;
    co_await WaitPendingDrained();
  }
  if (broadcast_error_) skip_until_sync_ = true;  // the client's Sync still gets its answer
}

bool Session::NextIsUnlimitedExecute(std::string_view portal) const {
  const std::string_view next(in_.data() + in_start_, in_end_ - in_start_);
  if (next.size() < 5 || next[0] != fe::kExecute) return false;
  const uint32_t length = protocol::LoadBigEndian32(next.data() + 1);
  if (length < 4 || next.size() - 1 < length) return false;
  protocol::ExecuteMessage e;
  return protocol::ParseExecute(next.substr(5, length - 4), &e).ok() && e.portal == portal && e.max_rows == 0;
}

awaitable<bool> Session::HandleDescribe(const Frame& frame) {
  protocol::DescribeMessage d;
  if (auto s = protocol::ParseDescribe(frame.body, &d); !s.ok()) {
    Fatal(s);
    co_return false;
  }
  std::shared_ptr<const ServerStatement> stmt;
  if (d.kind == 'S' && !d.name.empty() && !(stmt = FindStatement(d.name))) co_return true;
  const auto local_portal = d.kind == 'P' ? local_portals_.find(std::string(d.name)) : local_portals_.end();
  const ServerStatement* local = d.kind == 'P' ? (local_portal != local_portals_.end() ? local_portal->second.get() : nullptr)
                                 : d.name.empty() ? (unnamed_ && unnamed_->local ? unnamed_.get() : nullptr)
                                                  : (stmt->local ? stmt.get() : nullptr);
  if (local) {  // no parameters; no rows but a held cursor's FETCH
    std::string reply;
    if (d.kind == 'S') reply.append(std::string_view("t\0\0\0\6\0\0", 7));
    std::vector<int16_t> formats;
    if (auto f = fetch_formats_.find(std::string(d.name)); d.kind == 'P' && f != fetch_formats_.end()) {
      formats = f->second;
    }
    const auto rows = local->analysis ? HeldDescription(*local->analysis, formats) : std::nullopt;
    if (rows) {
      reply.append(*rows);
    } else {
      protocol::WriteEmpty(&reply, be::kNoData);
    }
    Push({.op = Op::kSynthetic, .synthetic = std::move(reply)});
    co_return true;
  }
  if (d.kind == 'P' && held_cursors_.count(std::string(d.name)) && !portal_links_.count(std::string(d.name)) &&
      !scatter_portals_.count(std::string(d.name))) {
    // A cursor is a portal too: psycopg 3 describes the one it declared by its name (a BINARY
    // one's columns in binary).
    const HeldRows& held = held_cursors_.at(std::string(d.name));
    std::string description = held.description;
    const std::vector<int16_t> binary{1};
    if (held.binary) (void)router::ToResultFormats(&description, binary, HeldTextOutput());
    Push({.op = Op::kSynthetic, .synthetic = std::move(description)});
    co_return true;
  }
  if (d.kind == 'P') {
    if (auto sp = scatter_portals_.find(std::string(d.name)); sp != scatter_portals_.end()) {
      auto portal = sp->second;
      if (!portal->subplan_sql.empty()) {
        if (co_await RunSubplanPortal(*portal)) {
          std::string description = portal->subplan_description;
          if (description.empty()) protocol::WriteEmpty(&description, be::kNoData);
          Push({.op = Op::kSynthetic, .synthetic = std::move(description)});
        }
        co_return !closing_;
      }
      // Describe then an unlimited Execute (sent together, as clients do): the portal runs now,
      // streamed; its RowDescription and rows are the replies to both, the Execute's
      // CommandComplete comes with it.
      router::Merger* merger = portal->gather->merger.get();
      if (!portal->ran && merger && merger->Streamable() && NextIsUnlimitedExecute(d.name)) {
        merger->Stream(/*with_description=*/true);
      }
      if (!co_await RunScatterPortal(*portal)) co_return !closing_;
      if (merger && merger->description_sent()) co_return !closing_;
      std::string description;
      if (portal->gather->mode == Gather::Mode::kMerge) {
        description = portal->gather->merger->ClientRowDescription();
      } else {
        description = portal->gather->description;
      }
      if (description.empty()) protocol::WriteEmpty(&description, be::kNoData);
      Push({.op = Op::kSynthetic, .synthetic = std::move(description)});
      co_return !closing_;
    }
    if (Link* l = PortalLink(d.name)) {
      l->out.append(frame.raw);
      Push({.op = Op::kDescribe, .server = l->server.get()});
      co_return true;
    }
  }
  Link* link = co_await LinkBatch();
  if (link == nullptr) co_return true;
  Link& l = *link;
  if (stmt) {
    EnsurePrepared(l, stmt);
    protocol::WriteDescribe(&l.out, 'S', stmt->server_name);
  } else {
    if (d.kind == 'S') EnsureUnnamed(l);
    l.out.append(frame.raw);
  }
  Push({.op = Op::kDescribe, .server = l.server.get()});
  co_return true;
}

awaitable<bool> Session::HandleClose(const Frame& frame) {
  protocol::CloseMessage c;
  if (auto s = protocol::ParseClose(frame.body, &c); !s.ok()) {
    Fatal(s);
    co_return false;
  }
  if (c.kind == 'S' && !c.name.empty()) {
    // The server keeps its copy for other clients; closing a missing statement is no error.
    statements_.erase(std::string(c.name));
    Push({.op = Op::kSynthetic, .synthetic = EmptyMessage(be::kCloseComplete)});
    co_return true;
  }
  if (c.kind == 'S') unnamed_.reset();
  if (c.kind == 'P' && !fetch_formats_.empty()) fetch_formats_.erase(std::string(c.name));
  if (c.kind == 'P' && (scatter_portals_.erase(std::string(c.name)) > 0 || local_portals_.erase(std::string(c.name)) > 0)) {
    Push({.op = Op::kSynthetic, .synthetic = EmptyMessage(be::kCloseComplete)});
    co_return true;
  }
  if (c.kind == 'P') {
    Link* l = PortalLink(c.name);
    portal_links_.erase(std::string(c.name));
    if (l != nullptr) {
      l->out.append(frame.raw);
      Push({.op = Op::kClose, .server = l->server.get()});
      co_return true;
    }
  }
  co_return co_await ForwardToBatch(frame.raw, Op::kClose);
}

void Session::EndBatch() {
  skip_until_sync_ = false;
  batch_open_ = false;
  batch_set_texts_.clear();
  batch_set_sent_.clear();
  ddl_portals_.clear();
  batch_link_ = SIZE_MAX;
  if (TxStatus() == protocol::kTxIdle) scatter_portals_.clear();
}

awaitable<bool> Session::HandleSync(const Frame& frame) {
  hold_output_ = refresh_tables_pending_;  // released by RefreshTablesIfPending
  const bool ok = co_await SyncBatch(frame);
  ReleaseOutput();  // whichever way SyncBatch went
  ++batch_seq_;  // what comes next is another batch
  MaybeRelease();  // the batch may have ended a transaction Mosaic ran itself (batch_implicit_)
  co_return ok;
}

awaitable<bool> Session::SyncBatch(const Frame& frame) {
  if (Link* copying = FindLink(copy_in_server_)) {
    copying->out.append(frame.raw);  // ignored by the server until CopyDone or CopyFail
    co_return true;
  }
  const std::vector<std::string> sets = std::exchange(batch_sets_, {});
  const bool reset_all = std::exchange(batch_reset_all_, false);
  const bool sets_off = std::exchange(batch_sets_off_, false);
  const size_t set_link = std::exchange(batch_set_link_, SIZE_MAX);
  const bool sets_adopted = (!sets.empty() || reset_all) && !sets_off;
  EndBatch();
  if (pending_.empty()) {  // every earlier batch is answered: its errors matter no more
    std::erase_if(batch_errors_, [&](const auto& e) { return e.first < batch_seq_; });
  }
  if (!batch_implicit_) co_await SettleBatchOverNodes();
  if (LinkedCount() > 1 || batch_implicit_) {  // the latter: a node of it may be gone
    // Every node that took part answers its own Sync; the client gets one ReadyForQuery.
    for (auto& link : links_) {
      if (!link.server) continue;
      link.out.append(frame.raw);
      Push({.op = Op::kSync, .server = link.server.get(), .forward = false, .forward_rfq = false});
    }
    const bool implicit = batch_implicit_;
    if (implicit) {
      // After the Syncs (a node that failed skipped to its Sync): commit everywhere (two-phase
      // when several wrote), or roll back everywhere if anything in the batch failed.
      batch_implicit_ = false;
      co_await FlushServers();
      co_await WaitPendingDrained();
      skip_until_sync_ = false;
      co_await EndTransaction(/*commit=*/true, /*implicit=*/true);
    }
    if (!implicit && sets_adopted && set_link < links_.size() && links_[set_link].server) {
      co_await AdoptSetsAfter(links_[set_link], sets, reset_all, true);  // where they ran; answers ReadyForQuery
    } else {
      Push({.op = Op::kRfq});
    }
    if (TxStatus() == protocol::kTxIdle) portal_links_.clear();
    if (refresh_tables_pending_) co_await RefreshTablesIfPending();
    co_return true;
  }
  if (TxStatus() == protocol::kTxIdle) portal_links_.clear();
  Link* target = nullptr;
  const int default_index = 0;  // the default node is the first in the map
  if (links_[default_index].server) {
    target = &links_[default_index];
  } else {
    for (auto& link : links_) {
      if (link.server) target = &link;
    }
  }
  if (target == nullptr) {
    // No server holds anything of ours: answer for it.
    Push({.op = Op::kRfq});
    co_return true;
  }
  target->out.append(frame.raw);
  if (sets_adopted) {
    // The batch SET session settings outside a transaction block (and copied nothing: see
    // CollectSet): they follow the client from now on, as a simple-protocol SET does, read back
    // on this server after the Sync.
    Push({.op = Op::kSync, .server = target->server.get(), .forward_rfq = false});
    co_await AdoptSetsAfter(*target, sets, reset_all, true);
  } else {
    Push({.op = Op::kSync, .server = target->server.get(),
          .copy_may_ignore = !copy_end_sent_ && copy_target_ == target->server.get() &&
                             StatementUnanswered(*target->server)});
  }
  if (refresh_tables_pending_) co_await RefreshTablesIfPending();
  co_return true;
}

// PostgreSQL runs an extended-protocol batch outside a transaction block as one implicit
// transaction: an error anywhere in it leaves nothing of it. Each node's part commits at its own
// Sync, so when the batch wrote on several nodes, Mosaic first waits for every reply and, if a
// part failed, makes each other writer's part fail too before its Sync (the failing statement's
// error reaches only the node's log). An error of Mosaic's own (a statement it refused) fails
// every node's part, one node's too, writes or SETs.
awaitable<void> Session::SettleBatchOverNodes() {
  const uint64_t batch = batch_seq_;
  std::erase_if(batch_errors_, [&](const auto& e) { return e.first < batch; });
  if (tx_block_) co_return;
  const bool ours = batch_refused_ == batch + 1;
  bool wrote = false;
  for (const auto& link : links_) wrote = wrote || (link.server && link.batch_wrote == batch + 1);
  if (!ours && (!wrote || LinkedCount() < 2)) co_return;
  co_await FlushServers();
  co_await WaitPendingDrained();
  skip_until_sync_ = false;  // an error that came meanwhile skipped to this Sync
  if (batch_errors_.empty() && !ours) co_return;
  for (auto& link : links_) {
    if (!link.server || link.shared || (!ours && link.batch_wrote != batch + 1)) continue;
    if (link.server.get() == copy_in_server_) continue;  // a COPY under way ends with its own error
    const ServerConn* server = link.server.get();
    if (std::any_of(batch_errors_.begin(), batch_errors_.end(), [&](const auto& e) { return e.second == server; })) {
      continue;  // its part failed: it skips to the Sync and rolls back
    }
    FailOnNode(link, {}, &link.out);
  }
}

awaitable<void> Session::RefreshTablesIfPending() {
  co_await FlushServers();
  co_await WaitPendingDrained();  // the DDL's transaction has ended on the nodes (or not)
  if (refresh_tables_pending_ && TxStatus() == protocol::kTxIdle) {
    refresh_tables_pending_ = false;
    co_await RefreshTablesNow();
  }
  // The client hears that the transaction ended (its ReadyForQuery) once every session routes
  // what it created: held since its COMMIT or Sync arrived.
  ReleaseOutput();
}

void Session::ReleaseOutput() {
  if (!hold_output_) return;
  hold_output_ = false;
  KickWriter();
}

awaitable<void> Session::RefreshTablesNow() {
  // New sequences count in strides over the nodes, as after DDL over the simple protocol (only
  // sequences never used are changed: harmless if the DDL did not commit).
  for (const auto& node : map_->nodes) {
    if (auto link = co_await LinkNode(node); !link.ok()) {
      log::warn("client {}: striping new sequences: {}", pid_, link.status().message());
      break;
    }
  }
  co_await StripeSequences();
  MaybeRelease();
  co_await RefreshTables();
}

bool Session::StatementUnanswered(const ServerConn& server) const {
  for (const auto& p : pending_) {
    if (p.server == &server && (p.op == Op::kExecute || p.op == Op::kQuery)) return true;
  }
  return false;
}

void Session::QueueError(const Status& status) {
  std::string err;
  protocol::WriteError(&err, status);
  worker_.counters().Add(worker_.counters().errors_total);
  Push({.op = Op::kSynthetic, .synthetic = std::move(err)});
}

void Session::FailQuery(const Status& status) {
  QueueError(status);
  Push({.op = Op::kRfq});  // its status when sent: the error may abort the transaction
}

void Session::SkipUntilSync(const Status& status) {
  QueueError(status);
  skip_until_sync_ = true;
  // The batch failed, by Mosaic's error: its nodes' parts must not commit at its Sync
  // (SettleBatchOverNodes).
  batch_refused_ = batch_seq_ + 1;
}

// ---------------------------------------------------------------------------------------------
// Server links

bool Session::SharedLinked() const {
  for (const auto& link : links_) {
    if (link.shared) return true;
  }
  return false;
}

int Session::LinkedCount() const {
  int n = 0;
  for (const auto& link : links_) n += link.server ? 1 : 0;
  return n;
}

std::vector<int> Session::LinkedNodes() const {
  std::vector<int> ids;
  for (size_t i = 0; i < links_.size(); ++i) {
    if (links_[i].server) ids.push_back(map_->nodes[i].id);
  }
  return ids;
}

std::vector<int> Session::AllNodes() const {
  std::vector<int> ids;
  for (const auto& node : map_->nodes) ids.push_back(node.id);
  return ids;
}

char Session::TxStatus() const {
  char status = protocol::kTxIdle;
  for (const auto& link : links_) {
    if (!link.server) continue;
    if (link.server->tx_status == protocol::kTxFailed) return protocol::kTxFailed;
    if (link.server->tx_status == protocol::kTxInBlock) status = protocol::kTxInBlock;
  }
  if (tx_block_) status = protocol::kTxInBlock;
  if (status == protocol::kTxInBlock && tx_aborted_) return protocol::kTxFailed;
  return status;
}

void Session::AbortOnNodeBefore(const sql::Analysis& a, Link& link) {
  using T = sql::StatementType;
  // COMMIT never gets here: Mosaic runs it (EndTransaction rolls an aborted block back).
  if (!tx_aborted_ || !link.server || link.server->tx_status != protocol::kTxInBlock || a.type != T::kTwoPhase) {
    return;
  }
  // The error named no column of the node's: this one fails there, so the node's transaction is
  // aborted too and the PREPARE TRANSACTION that follows rolls it back, as PostgreSQL answers
  // it.
  FailOnNode(link, {}, &link.out);
}

void Session::FailOnNode(Link& link, std::string_view before, std::string* out) {
  protocol::WriteQuery(out, fmt::format("{}SELECT \"{}\"", before, kAbortMarker));
  link.server->unnamed_owner = nullptr;  // a simple query destroys the unnamed statement
  Push({.op = Op::kQuery, .server = link.server.get(), .forward = false, .forward_rfq = false, .quiet = true});
}

void Session::ReleaseLocksOfAbortedBlock() {
  // In an open extended-protocol batch a node that failed one of its messages skips everything
  // up to the batch's Sync, this too: its locks go after the Sync (the next client read).
  if (!tx_aborted_ || !tx_block_ || implicit_tx_ || closing_ || batch_open_ ||
      std::any_of(block_log_.begin(), block_log_.end(), [](const BlockStep& step) { return step.savepoint; })) {
    return;  // a savepoint: ROLLBACK TO may resume the block
  }
  for (auto& link : links_) {
    ServerConn* server = link.server.get();
    // A node in 'E' released its locks at its own error. One with something of ours in flight
    // is seen to again when its ReadyForQuery arrives.
    if (server == nullptr || link.shared || server->closed() || server->tx_status != protocol::kTxInBlock ||
        !link.out.empty() ||
        std::any_of(pending_.begin(), pending_.end(), [&](const Pending& p) { return p.server == server; })) {
      continue;
    }
    // Called while the session may wait for the client: written now, not with link.out. Nothing
    // else is being written to the server (nothing of ours is in flight there).
    std::string msg;
    FailOnNode(link, "ROLLBACK; BEGIN; ", &msg);
    server->WriteOrdered(msg);
  }
}

bool Session::RunsInAbortedTransaction(const sql::Analysis& a) {
  using T = sql::StatementType;
  return a.type == T::kCommit || a.type == T::kRollback || a.type == T::kTwoPhase || a.type == T::kEmpty ||
         (a.type == T::kSavepoint && a.rollback_to);
}

bool Session::FirstRunsInAbortedTransaction(std::string_view sql) {
  // Several statements: the first decides (PostgreSQL runs them in turn; one that ends the
  // transaction lets the rest run). Its own Lexed: lexed_ stays the whole string's.
  std::vector<std::string_view> parts;
  sql::Lexed first;
  return !sql::SplitStatements(sql, &parts) || parts.empty() ||
         RunsInAbortedTransaction(*worker_.analysis_cache().Get(parts[0], &first));
}

Status Session::AbortedTransaction() {
  return Status::Error(sqlstate::kInFailedSqlTransaction, "current transaction is aborted, commands ignored until end of transaction block");
}

void Session::EndedOnNode() {
  for (const auto& link : links_) {
    if (link.server && link.server->tx_status != protocol::kTxIdle) return;
  }
  // What the client sent ended the transaction on the node (PREPARE TRANSACTION, or a string of
  // several statements with a COMMIT in it, as it sent them): over here too.
  ClearTransaction();
}

void Session::ClearTransaction() {
  tx_since_ = 0;  // the next link begins the next transaction (ClaimBackend)
  tx_block_ = false;
  snapshot_map_.reset();
  block_settings_.clear();
  tx_aborted_ = false;
  implicit_tx_ = false;
  string_tx_ = false;
  block_log_.clear();
  block_float_digits_.reset();
  if (std::exchange(temp_in_block_, false)) temp_stale_ = true;  // committed, dropped or rolled back
  std::erase_if(cursors_, [](const auto& c) { return !c.second.hold; });
  EndHeldCursors(/*committed=*/true);  // a rollback dropped what it declared before (EndTransaction)
  for (auto& link : links_) link.wrote = false;
}

Session::Link* Session::FindLink(const ServerConn* server) {
  if (server == nullptr) return nullptr;
  for (auto& link : links_) {
    if (link.server.get() == server) return &link;
  }
  return nullptr;
}

awaitable<Result<Session::Link*>> Session::LinkNode(const catalog::Node& node) {
  size_t index = 0;
  while (index < map_->nodes.size() && map_->nodes[index].id != node.id) ++index;
  Link& link = links_[index];
  if (link.server) co_return &link;
  const char in_tx = TxStatus();
  KickWriter();  // the pool may keep us waiting: send the client batch's replies so far
  auto result = co_await worker_.pool(node).Acquire(this, this);
  if (!result.ok()) co_return result.status();
  if (closing_) {
    worker_.pool(node).Release(std::move(result.value()), true);
    co_return Status::Error(sqlstate::kConnectionFailure, "client connection closed");
  }
  AdoptServer(node, std::move(result.value()));
  SyncParams(link);
  if (in_tx != protocol::kTxIdle) {
    // This node joins a transaction already open on others.
    protocol::WriteQuery(&link.out, implicit_tx_ ? std::string_view("BEGIN") : std::string_view(begin_text_));
    Push({.op = Op::kQuery, .server = link.server.get(), .forward = false, .forward_rfq = false});
    for (const auto& step : block_log_) {
      if (step.messages.empty()) {
        protocol::WriteQuery(&link.out, step.text);
      } else {
        link.out.append(step.messages);
        link.server->unnamed_owner = nullptr;
      }
      Push({.op = Op::kQuery, .server = link.server.get(), .forward = false, .forward_rfq = false});
      if (step.set) NoteRelayedSet(*step.set, *link.server);
    }
  }
  co_return &link;
}

Session::Link& Session::AdoptServer(const catalog::Node& node, std::shared_ptr<ServerConn> server) {
  size_t index = 0;
  while (index < map_->nodes.size() && map_->nodes[index].id != node.id) ++index;
  Link& link = links_[index];
  link.server = std::move(server);
  if (!link.server->shared) {
    link.server->SetHandler(this);
    link.server->tx_status = protocol::kTxIdle;
    ClaimBackend(*link.server);
  }
  return link;
}

void Session::NoteTransactionStart() {
  tx_since_ = ctx_.backends != nullptr ? std::chrono::steady_clock::now().time_since_epoch().count() : 0;
  for (auto& link : links_) {
    if (link.server && !link.shared) ClaimBackend(*link.server);
  }
}

void Session::ClaimBackend(ServerConn& server) {
  if (ctx_.backends == nullptr) return;
  if (tx_since_ == 0) tx_since_ = std::chrono::steady_clock::now().time_since_epoch().count();
  if (!server.owner) server.owner = ctx_.backends->Register(server.node_id(), server.backend_pid());
  server.owner->Set(pid_, tx_since_);
}

// Makes the server's settings match what this client expects (PgBouncer does the same for
// the parameters servers report): one injected, swallowed query when anything differs.
void Session::SyncParams(Link& link) {
  auto& server = *link.server;
  // Last used by us (or a client with the same settings), unchanged since.
  if (server.SyncedTo(params_generation_)) return;
  server.params_synced_to = params_generation_;
  server.settings_unknown = false;
  std::string sets;
  for (const auto& [name, value] : params_) {
    auto it = server.params.find(name);
    if (it != server.params.end() && it->second == value) continue;
    if (name == "session_authorization" || name == "is_superuser" || name == "server_version" ||
        name == "server_encoding" || name == "integer_datetimes" || name == "in_hot_standby") {
      continue;  // read-only or not ours to change
    }
    sets += fmt::format("{}pg_catalog.set_config({}, {}, false)", sets.empty() ? "SELECT " : ", ",
                        Literal(name), Literal(value));
    server.params[name] = value;
    server.explicit_params[name] = value;
  }
  for (auto it = server.explicit_params.begin(); it != server.explicit_params.end();) {
    if (params_.count(it->first)) {
      ++it;
      continue;
    }
    sets += fmt::format("{}pg_catalog.set_config({}, NULL, false)", sets.empty() ? "SELECT " : ", ",
                        Literal(it->first));
    server.params.erase(it->first);
    it = server.explicit_params.erase(it);
  }
  if (sets.empty()) return;
  protocol::WriteQuery(&link.out, sets);
  Push({.op = Op::kQuery, .server = link.server.get(), .forward = false, .forward_rfq = false});
}

awaitable<bool> Session::FlushServers() {
  for (auto& link : links_) {
    if (!link.server || link.out.empty()) continue;
    auto server = link.server;  // keep it alive across the write
    std::string bytes;
    std::swap(bytes, link.out);
    Status s = co_await server->Write(bytes);
    if (!s.ok()) log::debug("write to node {} failed: {}", server->node_id(), s.message());
  }
  co_return !closing_;
}

void Session::MaybeRelease() {
  LeaveFencesIfIdle();
  // An extended-protocol batch (messages since the last Sync) may hold portals and the unnamed
  // statement on its server: keep the server until the batch ends.
  if (ctx_.config.pool_mode != PoolMode::kTransaction || !pending_.empty() || batch_open_ || tx_block_ ||
      copy_in_ || hold_links_) {
    return;
  }
  for (const auto& link : links_) {
    if (link.server && (link.server->tx_status != protocol::kTxIdle || !link.out.empty())) return;
  }
  ReleaseAll(true);
}

void Session::ReleaseAll(bool reusable) {
  Uncork();  // a released server's later messages go to the pool: no batch end comes here
  for (size_t i = 0; i < links_.size(); ++i) {
    if (!links_[i].server) continue;
    // Not while an extended-protocol batch is open (the client left before its Sync): its
    // statements run in an implicit transaction that only the Sync ends, so the server is not
    // idle whatever its last ReadyForQuery said, and must not serve anyone else.
    const bool clean = reusable && !batch_open_ && pending_.empty() && links_[i].out.empty();
    if (copy_target_ == links_[i].server.get()) copy_target_ = nullptr;
    if (copy_in_server_ == links_[i].server.get()) copy_in_server_ = nullptr;
    held_.erase(links_[i].server.get());
    std::erase(deadlock_servers_, links_[i].server.get());
    worker_.pool(map_->nodes[i]).Release(std::move(links_[i].server), clean, this);
    links_[i].out.clear();
    links_[i].shared = false;
  }
  if (!tx_block_) tx_since_ = 0;
}

// ---------------------------------------------------------------------------------------------
// Server responses

void Session::Push(Pending p) {
  p.batch = batch_seq_;
  pending_.push_back(std::move(p));
  EmitSynthetics();
}

void Session::EmitSynthetics() {
  while (!pending_.empty() && (pending_.front().op == Op::kSynthetic || pending_.front().op == Op::kRfq)) {
    if (pending_.front().op == Op::kRfq) {
      std::string rfq;
      protocol::WriteReadyForQuery(&rfq, TxStatus());
      Emit(rfq);
    } else {
      Emit(pending_.front().synthetic);
    }
    pending_.pop_front();
  }
  if (pending_.empty()) {
    pending_drained_.Notify();
    // A transaction ended by Mosaic's own reply (two-phase commit, a refused statement) leaves
    // the migration fences here: no server reply follows to do it.
    LeaveFencesIfIdle();
  }
}

bool Session::AskForPendingReplies() {
  bool asked = false;
  for (auto& link : links_) {
    if (!link.server || link.shared) continue;  // a shared connection's units end with Sync
    for (const auto& p : pending_) {
      if (p.server == link.server.get() && (p.op == Op::kParse || p.op == Op::kBind || p.op == Op::kDescribe ||
                                            p.op == Op::kExecute || p.op == Op::kClose)) {
        link.out.append(std::string_view("H\0\0\0\4", 5));
        asked = true;
        break;
      }
    }
  }
  return asked;
}

awaitable<void> Session::WaitPendingDrained() {
  // A server holds the replies to extended-protocol messages until Sync or Flush: ask for them,
  // or the wait would never end; so would it for statements still unsent (a client's earlier
  // query of the same read, not flushed yet when a statement over several nodes waits for it).
  bool unsent = AskForPendingReplies();
  for (const auto& link : links_) unsent = unsent || (link.server && !link.out.empty());
  if (unsent) co_await FlushServers();
  if (!pending_.empty()) KickWriter();  // the client batch's replies so far leave before the wait
  while (!pending_.empty() && (!closing_ || two_phase_)) {
    waiting_on_servers_ = true;
    WatchClient();
    co_await pending_drained_.Wait();
  }
  waiting_on_servers_ = false;
}

void Session::Undo(const Pending& p) {
  if (p.op != Op::kParse || !p.parsed) return;
  if (p.server != nullptr) {
    auto it = p.server->statements.find(p.parsed->hash);
    if (it != p.server->statements.end() && it->second == p.parsed) p.server->statements.erase(it);
  }
  auto it = statements_.find(p.client_name);
  if (!p.client_name.empty() && it != statements_.end() && it->second == p.parsed) statements_.erase(it);
}

bool Session::BatchFailed(uint64_t batch) const {
  return std::any_of(batch_errors_.begin(), batch_errors_.end(), [&](const auto& e) { return e.first == batch; });
}

// After an error in an extended-protocol message the server skips everything up to Sync: so
// must we.
void Session::DropAfterError(ServerConn& server) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->op == Op::kSync && it->server == &server) return;
    if (it->server == &server || it->op == Op::kSynthetic) {
      Undo(*it);
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  skip_until_sync_ = true;  // the Sync has not arrived yet
}

void Session::OnServerMessage(ServerConn& server, const Frame& frame) {
  if (!deadlock_servers_.empty() && IsDeadlockVictim(server)) [[unlikely]] {
    Frame rewritten;
    if (frame.type == be::kErrorResponse && RewriteDeadlockCancel(server, frame, &rewritten)) {
      return HandleServerMessage(server, rewritten);
    }
    // Its statement is over once the request has arrived: a later 57014 is another cancel's.
    if (frame.type == be::kReadyForQuery && !server.cancelling()) std::erase(deadlock_servers_, &server);
  }
  HandleServerMessage(server, frame);
}

void Session::HandleServerMessage(ServerConn& server, const Frame& frame) {
  corked_ = true;  // until OnServerBatchDone, ReleaseAll or OnServerClosed
  switch (frame.type) {
    case be::kNoticeResponse:
      if (!RepeatsAnotherNode(server)) Emit(frame.raw);
      return;
    case be::kNotificationResponse:
      Emit(frame.raw);
      return;
    case be::kParameterStatus: {
      std::string_view name, value;
      if (protocol::ParseParameterStatus(frame.body, &name, &value).ok()) {
        server.params[std::string(name)] = std::string(value);
        auto [it, inserted] = params_.try_emplace(std::string(name), value);
        if (!inserted && it->second != value) {
          it->second = std::string(value);
          params_generation_ = worker_.GenerationOf(params_);
        }
        if (inserted) params_generation_ = worker_.GenerationOf(params_);
        server.params_synced_to = params_generation_;
      }
      Emit(frame.raw);
      return;
    }
    default:
      break;
  }
  EmitSynthetics();
  // Replies of a server whose turn has not come (an entry of another server that relays to the
  // client is ahead) wait in held_, in order, and are replayed when it comes.
  auto held = held_.find(&server);
  if (held != held_.end() && !held->second.empty()) {
    held->second.emplace_back(frame.raw);
    ReplayHeld();
    ReleaseLocksOfAbortedBlock();
    return;
  }
  bool blocked = false;
  auto it = FirstEntry(server, &blocked);
  if (it == pending_.end()) {
    // Nothing expected from this server: only a dying server talks out of turn.
    if (frame.type == be::kErrorResponse) server.Close();
    return;
  }
  if (blocked) {
    held_[&server].emplace_back(frame.raw);
    return;
  }
  Dispatch(server, it, frame);
  ReplayHeld();
  ReleaseLocksOfAbortedBlock();
}

// The first pending entry of `server`; *blocked when an entry ahead of it relays to the client.
// Entries of other servers may be passed over only if they cannot put anything of theirs in
// between (parts of a gather, or replies Mosaic swallows): that is what lets several nodes
// answer in parallel.
std::deque<Session::Pending>::iterator Session::FirstEntry(const ServerConn& server, bool* blocked) {
  *blocked = false;
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (it->server == &server) return it;
    const bool silent = it->op == Op::kGather || (it->server != nullptr && !it->forward && !it->forward_rfq);
    if (!silent) *blocked = true;
  }
  return pending_.end();
}

bool Session::RepeatsAnotherNode(const ServerConn& server) const {
  for (const Pending& p : pending_) {
    if (p.server != &server) continue;
    return p.replica || (p.op == Op::kGather && p.gather && p.gather->replicated && p.source != 0);
  }
  return false;
}

void Session::ReplayHeld() {
  if (replaying_) return;
  replaying_ = true;
  for (bool progress = true; progress;) {
    progress = false;
    for (auto& [server, frames] : held_) {
      if (frames.empty()) continue;
      bool blocked = false;
      auto it = FirstEntry(*server, &blocked);
      if (blocked) continue;
      std::string raw = std::move(frames.front());
      frames.pop_front();
      progress = true;
      if (it == pending_.end()) continue;  // its entries went away (server closed)
      Frame f;
      f.type = raw[0];
      f.raw = raw;
      f.body = std::string_view(raw).substr(5);
      Dispatch(*const_cast<ServerConn*>(server), it, f);
      break;  // held_ and pending_ may have changed: rescan
    }
  }
  replaying_ = false;
}

void Session::Dispatch(ServerConn& server, std::deque<Pending>::iterator it, const Frame& frame) {
  Pending& p = *it;
  if (frame.type == be::kErrorResponse) errored_servers_.push_back(&server);
  if (p.op == Op::kGather) {
    if (GatherFrame(p, server, frame)) {
      pending_.erase(it);
      EmitSynthetics();
    }
    return;
  }
  if (frame.type == be::kErrorResponse && p.quiet) {
    protocol::ErrorFields fields;
    (void)protocol::ParseErrorFields(frame.body, &fields);
    if (fields.message.find(kAbortMarker) == std::string::npos) {
      log::warn("client {}: node {}: {}", pid_, server.node_id(), fields.message);
    }
    quiet_failed_ = true;
    quiet_error_.assign(frame.raw);
    return;  // its ReadyForQuery ends the entry
  }
  if (frame.type == be::kErrorResponse) {
    protocol::ErrorFields fields;
    const bool read = protocol::ParseErrorFields(frame.body, &fields).ok();
    // PostgreSQL answers an extended-protocol batch with one error at most (it skips to Sync
    // after it); another node's part of the batch may fail too (an unnamed statement parsed on
    // one node and bound on another fails at parse analysis on both): only the first is relayed.
    const bool repeated = p.op != Op::kQuery && BatchFailed(p.batch);
    if (repeated) {
      log::debug("client {}: node {}: {} (after the batch's first error)", pid_, server.node_id(), fields.message);
    } else if (read && fields.severity != "ERROR") {
      std::string msg;  // a FATAL/PANIC ends the server connection, not the client's
      protocol::WriteErrorWithSeverity(&msg, fields, protocol::Severity::kError);
      Emit(msg);
    } else {
      Emit(frame.raw);
    }
    // "cached plan must not change result type" (the table changed under a prepared
    // statement): PostgreSQL keeps failing it until it is prepared again, for every client
    // Mosaic maps onto it, so the next use on this server closes and prepares it again.
    if (read && p.op == Op::kBind && p.parsed && fields.code == sqlstate::kFeatureNotSupported) {
      server.stale.insert(p.parsed->hash);
    }
    if (!repeated) worker_.counters().Add(worker_.counters().errors_total);
    broadcast_error_ = true;
    if (&server == copy_in_server_) copy_in_server_ = nullptr;  // the copy ended with the error
    if (p.op != Op::kQuery) batch_errors_.emplace_back(p.batch, &server);
    if (p.op == Op::kQuery || p.op == Op::kSync) return;  // ReadyForQuery ends these
    Pending failed = std::move(p);
    pending_.erase(it);
    Undo(failed);
    DropAfterError(server);
    EmitSynthetics();
    return;
  }
  if (frame.type == be::kReadyForQuery) {
    char status = protocol::kTxIdle;
    if (!protocol::ParseReadyForQuery(frame.body, &status).ok()) {
      server.Close();
      return;
    }
    server.tx_status = status;
    if (p.forward_rfq) {
      if (status == protocol::kTxIdle && (tx_block_ || tx_aborted_) && !implicit_tx_) EndedOnNode();
      const char ours = TxStatus();  // over every node, and aborted by an error of Mosaic's
      if (ours == status) {
        Emit(frame.raw);
      } else {
        std::string rfq;
        protocol::WriteReadyForQuery(&rfq, ours);
        Emit(rfq);
      }
    }
    pending_.erase(it);
    EmitSynthetics();
    MaybeRelease();
    return;
  }
  if (frame.type == be::kCommandComplete && !frame.body.empty() && frame.body[0] == 'D') ForgetOnReset(server, frame.body);
  if (p.monitor != 0 && frame.type == be::kCommandComplete) {
    // On a shared connection the pipeline's head is this statement until its ReadyForQuery.
    MonitorEndTag(p.monitor, frame.body, server.shared ? server.head_since : std::chrono::steady_clock::time_point{});
    p.monitor = 0;
  }
  if (p.forward) {
    if (frame.type == be::kRowDescription && TranslatesOids(server)) {
      std::string described(frame.raw);
      TranslateOids(server, std::span(described).subspan(5));
      Emit(described);
    } else {
      Emit(frame.raw);
    }
  }
  if (frame.type == be::kCopyInResponse) {
    // Copy-in began: the server ignores the Syncs sent since (and Flushes) until CopyDone or
    // CopyFail, so no ReadyForQuery answers them.
    copy_in_server_ = &server;
    std::erase_if(pending_, [&](const Pending& q) { return q.server == &server && q.op == Op::kSync && q.copy_may_ignore; });
    return;
  }
  bool done = false;
  switch (p.op) {
    case Op::kParse: done = frame.type == be::kParseComplete; break;
    case Op::kBind: done = frame.type == be::kBindComplete; break;
    case Op::kClose: done = frame.type == be::kCloseComplete; break;
    case Op::kDescribe: done = frame.type == be::kRowDescription || frame.type == be::kNoData; break;
    case Op::kExecute:
      done = frame.type == be::kCommandComplete || frame.type == be::kEmptyQueryResponse ||
             frame.type == be::kPortalSuspended;
      break;
    default: break;
  }
  if (done) {
    pending_.erase(it);
    EmitSynthetics();
  }
}

awaitable<void> Session::OnServerBatchDone(ServerConn& server) {
  auto self = shared_from_this();
  Uncork();
  co_await WaitOutputBelow(OutputLimitFor(server));
  // Only a streamed merge over several nodes (kGather entries) waits there: a statement on one
  // node skips the coroutine.
  bool gathering = streamed_out_;
  for (const Pending& p : pending_) gathering = gathering || p.op == Op::kGather;
  if (gathering) co_await WaitMergeTurn(server);
}

size_t Session::OutputLimitFor(const ServerConn& server) const {
  // A shared connection runs fast reads of several clients: other clients' statements queued
  // behind this one's replies, or waiting in the pool's line for the connection, would stall
  // while its reader waits for this client to read (for good, if the client stops reading).
  // This client's output is held instead, up to max_merge_mb as a merge's rows are.
  if (server.shared) return std::max(kOutputHighWater, static_cast<size_t>(ctx_.config.max_merge_mb) << 20);
  return kOutputHighWater;
}

void Session::OnServerClosed(ServerConn& server, const Status& why) {
  Uncork();
  merge_turn_.cancel();  // a streamed merge waiting for it is over
  held_.erase(&server);
  Link* link = FindLink(&server);
  if (link == nullptr) return;
  const bool in_transaction = server.tx_status != protocol::kTxIdle;
  const Dropped dropped = DropLink(*link, why);
  log::warn("client {}: {}", pid_, why.message());
  if (in_transaction) {
    // The transaction died with the server; its fate cannot be reported truthfully here. A
    // two-phase commit under way (EndTransaction) sees the failure and rolls back the others.
    broadcast_error_ = true;
    Fatal(Status::Error(sqlstate::kConnectionFailure,
                        fmt::format("{}; the open transaction was rolled back", why.message())));
    pending_drained_.Notify();
    return;
  }
  ReplyInstead(dropped, why);
  broadcast_error_ = true;
  EmitSynthetics();
}

Session::Dropped Session::DropLink(Link& link, const Status& why) {
  ServerConn& server = *link.server;
  Dropped dropped;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->server != &server) {
      ++it;
      continue;
    }
    if (it->op == Op::kGather) {
      if (it->gather->error.empty()) protocol::WriteError(&it->gather->error, why);
      it = pending_.erase(it);
      continue;
    }
    if (it->quiet) {
      quiet_failed_ = true;
      it = pending_.erase(it);
      continue;
    }
    dropped.pending = true;
    dropped.awaiting_sync = it->op != Op::kSync && it->op != Op::kQuery;
    it = pending_.erase(it);
  }
  auto conn = std::move(link.server);
  std::erase(deadlock_servers_, conn.get());
  link.out.clear();
  link.shared = false;
  if (copy_target_ == &server) copy_target_ = nullptr;
  if (copy_in_server_ == &server) copy_in_server_ = nullptr;
  const size_t index = static_cast<size_t>(&link - links_.data());
  worker_.pool(map_->nodes[index]).Release(std::move(conn), false, this);
  return dropped;
}

void Session::ReplyInstead(const Dropped& dropped, const Status& why) {
  if (!dropped.pending) return;
  EmitError(why);
  if (dropped.awaiting_sync) {
    skip_until_sync_ = true;
  } else {
    pending_.push_front({.op = Op::kRfq});
  }
}

}  // namespace mosaic::frontend

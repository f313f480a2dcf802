// ServerConn: one pooled connection from Mosaic to a node.
//
// libpq establishes the connection (so every authentication method libpq knows works against
// existing servers), driven asynchronously on the owning worker's io_context. Once it is
// established Mosaic speaks the protocol itself on a duplicate of the socket: backend
// messages are framed and handed to the current handler (the linked client session, or the
// pool while idle) without re-encoding. The PGconn is kept only for cancellation and closed
// last. TLS to nodes is not supported yet (sslmode=disable is forced).
//
// Threading: a ServerConn belongs to one worker and is used only on that worker's thread.
#pragma once

#include <libpq-fe.h>

#include "common/async.h"
#include "common/read_some.h"
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "backend/backend_registry.h"
#include "catalog/shard_map.h"
#include "common/status.h"
#include "protocol/codec.h"
#include "sql/analysis.h"
#include "sql/lexer.h"

namespace mosaic::backend {

class ServerConn;

// Receives what a server sends. Exactly one handler is attached at a time.
class ServerHandler {
 public:
  virtual ~ServerHandler() = default;
  // One complete backend message. Must not block; may append to the client's output.
  virtual void OnServerMessage(ServerConn& server, const protocol::Frame& frame) = 0;
  // Called after each batch of messages read in one go; the awaitable may wait for the client
  // to drain its output (backpressure).
  virtual asio::awaitable<void> OnServerBatchDone(ServerConn& server) = 0;
  // The connection is gone (EOF, error, or closed by Mosaic). Called once.
  virtual void OnServerClosed(ServerConn& server, const Status& why) = 0;
};

// A prepared statement as the server knows it: Mosaic names it after a hash of its text and
// parameter types, so every client preparing the same statement shares one server-side copy.
struct ServerStatement {
  std::string query;
  std::vector<int32_t> param_types;
  std::string server_name;  // "mosaic_<hash>"
  uint64_t hash = 0;
  uint64_t shape_hash = 0;  // the lexer's shape hash of `query` (the monitor's fingerprint)
  bool ddl = false;  // a schema change: every node must run it
  // BEGIN, COMMIT or ROLLBACK over the extended protocol: Mosaic runs it as it runs them over
  // the simple protocol (the transaction may span nodes); never prepared on a server.
  bool local = false;
  // The statement's analysis and the literals of its text (set by the session that parsed it).
  std::shared_ptr<const sql::Analysis> analysis;
  std::vector<sql::Literal> literals;

  // The same statement to the server (another client's Parse of the same text and types).
  bool SameAs(const ServerStatement& other) const {
    return query == other.query && param_types == other.param_types;
  }
};

// The server's error in libpq's message for a failed connection attempt made with
// PQERRORS_VERBOSE ("connection to server ... failed: FATAL:  53300: sorry, too many clients
// already\nLOCATION:  ..."). On success sets *sqlstate and *message (views into `libpq_message`)
// and *plain to the message as libpq writes it by default (without SQLSTATE and LOCATION).
// False when it holds no server error (a refused TCP connection, a timeout).
bool ParseConnectFailure(std::string_view libpq_message, std::string_view* sqlstate, std::string_view* message,
                         std::string* plain);

class ServerConn : public std::enable_shared_from_this<ServerConn> {
 public:
  ~ServerConn();
  ServerConn(const ServerConn&) = delete;
  ServerConn& operator=(const ServerConn&) = delete;

  // Connects to `node` and starts reading. Fails with SQLSTATE 08006 and libpq's message, or
  // with 53300 and the node's message when the node has no connection slot left (what
  // PostgreSQL itself answers a client then).
  // `handler` receives everything the server sends until SetHandler changes it.
  static asio::awaitable<Result<std::shared_ptr<ServerConn>>> Connect(
      asio::any_io_executor executor, const catalog::Node& node, int connect_timeout_s,
      ServerHandler* handler);

  int node_id() const { return node_id_; }
  // The backend's process id on the node (BackendKeyData), as pg_stat_activity shows it.
  int32_t backend_pid() const { return backend_pid_; }
  bool closed() const { return closed_; }
  // True once OnServerClosed has been delivered to some handler.
  bool close_notified() const { return close_notified_; }
  void SetHandler(ServerHandler* handler) { handler_ = handler; }

  // Writes bytes to the server. On failure the connection is closed.
  asio::awaitable<Status> Write(std::string_view bytes);
  // Closes the socket; the handler then gets OnServerClosed. Idempotent.
  void Close();
  // Asks the node to cancel whatever this connection runs (a CancelRequest on a new socket,
  // sent from a short-lived thread so the worker never blocks).
  void Cancel();
  // A cancel request is still on its way: the node may act on it at any moment, so the
  // connection must not run another client's statement yet (the pool holds it back).
  bool cancelling() const { return cancels_->load() > 0; }

  // Transaction status from the last ReadyForQuery ('I', 'T', 'E').
  char tx_status = protocol::kTxIdle;
  // Parameter values as the server last reported or as Mosaic set them.
  std::map<std::string, std::string, std::less<>> params;
  // Parameters Mosaic changed from the server's start-up defaults (to RESET when unused).
  std::map<std::string, std::string, std::less<>> explicit_params;
  // The client parameter generation `params` last matched (skips re-checking on reuse).
  uint64_t params_synced_to = 0;
  // A SET Mosaic relayed without reading it back changed settings it does not know the values
  // of (Session::NoteRelayedSet): the next client's SyncParams checks them whatever its generation.
  bool settings_unknown = false;
  // Whether its settings are what a client with parameter generation `generation` expects.
  bool SyncedTo(uint64_t generation) const { return params_synced_to == generation && !settings_unknown; }
  // Server-side prepared statements this connection holds, by hash.
  std::unordered_map<uint64_t, std::shared_ptr<const ServerStatement>> statements;
  // Which client's unnamed statement the server currently holds (owner, generation).
  const void* unnamed_owner = nullptr;
  uint64_t unnamed_generation = 0;
  // The session holding this connection, for the deadlock detector (BackendRegistry): set
  // when a session first links it while detection is on, cleared by NodePool::Release.
  std::shared_ptr<BackendOwner> owner;
  // Last time this connection was returned to its pool (for idle expiry).
  std::chrono::steady_clock::time_point idle_since;

  // Pipelining (NodePool::Share): while `shared`, the connection runs one-statement reads of
  // several sessions back to back. `pipeline` lists whose statements were written, in order;
  // each owns the replies up to and including its ReadyForQuery. `holders` counts the sessions
  // still linked to it; `head_since` is when the first statement of `pipeline` began to run.
  struct Queued {
    std::weak_ptr<ServerHandler> handler;  // expired or reset: its replies are dropped
    const void* owner = nullptr;
    // The named statement this unit prepares (NoteParse), until the server answers its Parse.
    std::shared_ptr<const ServerStatement> parsing;
  };
  bool shared = false;
  int holders = 0;
  std::deque<Queued> pipeline;
  std::chrono::steady_clock::time_point head_since;
  std::vector<std::shared_ptr<ServerHandler>> batch_handlers;  // sessions served by this read batch
  // Named statements whose Parse, written in a unit on this shared connection, the server has
  // not answered yet, by hash: how many such Parses. Such a Parse may still fail (a schema
  // change since the statement was first prepared), so a unit written meanwhile must not count
  // on the statement (Holds) and prepares it again itself.
  std::unordered_map<uint64_t, int> parses_in_flight;
  // Statements of `statements` whose plan went stale (a Bind failed with 0A000: "cached plan
  // must not change result type" after a schema change): closed and prepared again before use.
  std::unordered_set<uint64_t> stale;

  // True when the server holds `stmt` (prepared under its server name) for a unit written now.
  bool Holds(const ServerStatement& stmt) const;
  // Records that a Parse of `stmt` is written now: the server holds it from here on. On a
  // shared connection, in the unit being written (the last of `pipeline`): the pool forgets the
  // statement again if its Parse fails (AnswerParse), also when the unit's session is gone.
  void NoteParse(std::shared_ptr<const ServerStatement> stmt);
  // The server answered the Parse of the unit `q` (ParseComplete, or an error before it).
  void AnswerParse(Queued& q, bool failed);

  // Writes `bytes` after everything written before, without waiting: what the socket does not
  // take now goes out from a coroutine. On failure the connection is closed.
  void WriteOrdered(std::string_view bytes);

 private:
  ServerConn(asio::any_io_executor executor, int node_id, PGconn* conn);
  asio::awaitable<void> ReadLoop();
  asio::awaitable<void> DrainOrdered();
  void NotifyClosed(const Status& why);
  // `read` ends with a whole ReadyForQuery message: the node waits for its next query, so the
  // socket may be taken as drained (common/read_some.h).
  static bool EndsWithReadyForQuery(std::string_view read);
  // 08006 "connection to node N lost: <why>".
  Status Lost(std::string_view why) const;

  asio::generic::stream_protocol::socket socket_;
  net::Reader<asio::generic::stream_protocol::socket> reader_{socket_, &EndsWithReadyForQuery};
  int node_id_;
  int32_t backend_pid_;
  PGconn* pg_;  // owned; kept for cancellation, finished in the destructor
  ServerHandler* handler_ = nullptr;
  protocol::Framer framer_{protocol::Framer::Phase::kRegular, 1u << 30};
  std::string buf_;
  std::string ordered_;  // WriteOrdered bytes the socket has not taken yet
  bool draining_ = false;
  bool closed_ = false;
  bool close_notified_ = false;
  // Cancel requests whose threads have not finished (shared with them).
  std::shared_ptr<std::atomic<int>> cancels_ = std::make_shared<std::atomic<int>>(0);
};

}  // namespace mosaic::backend

// Session: one client connection, from startup and authentication to Terminate.
//
// The session reads client messages, decides which node(s) each goes to, borrows server
// connections from its worker's pools (transaction pooling by default) and relays the answers.
// Responses are matched to requests through `pending_`, a FIFO of what each forwarded message
// will produce; that is what lets Mosaic inject messages of its own (re-preparing a statement
// on a server that lacks it, restoring client parameters, BEGIN on a node joining a
// transaction) and synthesize answers (ParseComplete for a statement the server already has,
// errors Mosaic raises itself) while keeping the client's view exactly ordered.
//
// The single-node path copies backend messages to the client unchanged (no re-encoding).
// All of a session's work happens on its worker's thread; it never blocks that thread.
#pragma once

#include "common/async.h"
#include "common/read_some.h"
#include <algorithm>
#include <array>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "backend/server_conn.h"
#include "frontend/worker.h"
#include "migration/registry.h"
#include "monitor/event.h"
#include "protocol/codec.h"
#include "router/merge.h"
#include "router/result_formats.h"
#include "router/router.h"
#include "sql/analyzer.h"
#include "sql/subplan.h"

namespace mosaic::frontend {

class Session : public backend::ServerHandler, public std::enable_shared_from_this<Session> {
 public:
  Session(Worker& worker, asio::ip::tcp::socket socket);
  ~Session() override;

  // Serves the connection until the client leaves or an error ends it.
  asio::awaitable<void> Run();
  // Cancels whatever the session's servers are running (CancelRequest from another socket).
  void RequestCancel();
  // The distributed deadlock detector chose this session's transaction as a cycle's victim:
  // cancels the statement its backend `backend_pid` on node `node_id` runs, if that is still
  // this session's link and a statement of ours is waiting there (a cancel request must never
  // hit another client's statement). The node's 57014 reaches the client as 40P01.
  void CancelForDeadlock(int node_id, int32_t backend_pid);

  // backend::ServerHandler
  void OnServerMessage(backend::ServerConn& server, const protocol::Frame& frame) override;
  asio::awaitable<void> OnServerBatchDone(backend::ServerConn& server) override;
  void OnServerClosed(backend::ServerConn& server, const Status& why) override;

 private:
  // What a message sent to a server will produce, and what to do with it.
  enum class Op : uint8_t {
    kParse, kBind, kDescribe, kExecute, kClose, kSync, kQuery,  // complete on their reply
    kSynthetic,  // no server: `synthetic` bytes go to the client when this reaches the head
    kRfq,        // no server: a ReadyForQuery with the session's status at the time it is sent
    kGather,     // one node's part of a statement run on several nodes, up to its ReadyForQuery:
                 // replies go to `gather`, entries of one gather complete in any order
  };
  struct Gather;
  struct ScatterPortal;
  struct Pending {
    Op op;
    backend::ServerConn* server = nullptr;
    bool forward = true;      // relay replies (errors are relayed unless `quiet`)
    bool forward_rfq = true;  // relay the ReadyForQuery that ends a kQuery / kSync
    bool quiet = false;       // kQuery: an error or a lost server sets quiet_failed_ instead
    std::string synthetic;
    std::shared_ptr<const backend::ServerStatement> parsed;  // kParse: undone on error; kBind: its statement
    std::string client_name;                                 // kParse: the client's name
    std::shared_ptr<Gather> gather;                          // kGather
    int source = 0;                                          // kGather: index of the node's part
    uint32_t monitor = 0;  // kQuery/kExecute: the monitor slot recorded at its CommandComplete
    // kSync sent after a statement whose reply had not begun (it may start COPY FROM STDIN):
    // dropped if it does, as the server ignores a Sync during copy-in.
    bool copy_may_ignore = false;
    uint64_t batch = 0;  // batch_seq_ when pushed: which extended-protocol batch it is part of
    // kQuery: the copy of a statement every node runs (DDL), on a node after the first: its
    // notices ("... does not exist, skipping") repeat the first node's and are dropped.
    bool replica = false;
  };
  struct Link {
    std::shared_ptr<backend::ServerConn> server;
    std::string out;     // bytes waiting to be written to the server
    bool wrote = false;  // changed rows in the open transaction (decides two-phase commit)
    bool shared = false;  // a pipelined statement on a connection other sessions use too
    uint64_t batch_wrote = 0;  // batch_seq_ + 1 of the last extended-protocol batch that wrote here
  };

  // Startup and authentication. Return false when the connection must end.
  asio::awaitable<bool> Startup();
  asio::awaitable<bool> Authenticate(std::string_view user);
  // Next complete client message. Frame views stay valid until the following call. Flushes
  // pending server writes before waiting for the client. False on EOF or a framing error.
  asio::awaitable<bool> NextFrame(protocol::Frame* frame);
  // While the session waits for nodes it does not read the client: a read-watch (armed only
  // then, no syscall of its own) notices a client that hung up. Bytes the client sends
  // meanwhile are kept for NextFrame (up to kEarlyInputMax; then the watch stops).
  void WatchClient();
  void OnClientReadable();
  // RequestCancel's parts: ends a wait at a migration's fence or for a connection (true if it
  // did); cancels the statements the session's servers run (with `running_only`, only on
  // servers with replies of ours outstanding, not shared ones).
  bool EndWaits();
  void CancelServers(bool running_only);
  // The client's socket reached EOF or failed: its output is dropped, the statements it has
  // running on nodes are cancelled and the session ends, which closes their connections (the
  // nodes roll back). Not during a two-phase commit: that finishes first, so its outcome is
  // decided (see two_phase_).
  void ClientGone();
  // NegotiateProtocolVersion when the client asked for a newer 3.x or sent `_pq_.` options.
  void NegotiateProtocolVersion(const protocol::StartupPacket& packet);
  void AcceptStartupParams(const std::vector<std::pair<std::string, std::string>>& settings);
  // Has the default node try the client's startup settings that are not usual ones
  // (IsUsualStartupSetting). False, after a FATAL with the node's error, when it refuses one.
  asio::awaitable<bool> VetStartupSettings(const std::vector<std::pair<std::string, std::string>>& settings);
  void SendWelcome();
  void HandleCancelRequest(const protocol::StartupPacket& packet);

  // Main loop pieces.
  asio::awaitable<bool> HandleMessage(const protocol::Frame& frame);
  asio::awaitable<bool> HandleQuery(const protocol::Frame& frame);
  // A query string whose statements run on different nodes (session_string.cc): OK when each
  // may run as if sent alone (RunApart), else why not (0A000).
  Status RunsApart(const std::vector<std::string_view>& parts);
  // Runs them in turn, in one transaction unless the string opens one, up to the first error,
  // with one ReadyForQuery at the end. False when the session ends.
  asio::awaitable<bool> RunApart(const std::vector<std::string_view>& parts);
  asio::awaitable<bool> HandleParse(const protocol::Frame& frame);
  asio::awaitable<bool> HandleBind(const protocol::Frame& frame);
  // A Bind's parameters as the router reads them, for `stmt`.
  router::Bound BoundOf(const protocol::BindMessage& bind, const backend::ServerStatement& stmt) const;
  // `stmt` with its parameters written into the text as constants of their types
  // (router::InlineParams), analysed again; null and `*refused` when they cannot be.
  std::shared_ptr<const backend::ServerStatement> WithParamsInlined(
      const std::shared_ptr<const backend::ServerStatement>& stmt, const router::Bound& bound, Status* refused);
  asio::awaitable<bool> HandleDescribe(const protocol::Frame& frame);
  // Whether the client's next message, received already, is an Execute of `portal` without a
  // row limit.
  bool NextIsUnlimitedExecute(std::string_view portal) const;
  asio::awaitable<bool> HandleClose(const protocol::Frame& frame);
  asio::awaitable<bool> HandleSync(const protocol::Frame& frame);
  asio::awaitable<bool> HandleExecute(const protocol::Frame& frame);
  // Routing (session_route.cc).
  // Runs one statement of a simple Query: decides where it goes and sends it. `raw` is the
  // client's Query message when it holds exactly this statement (pass-through), else empty.
  // `a` is the analysis of `sql`, and lexed_ holds its literals.
  asio::awaitable<bool> RouteQuery(std::string_view sql, std::string_view raw, const sql::Analysis& a);
  // INSERT ... SELECT of router::Route::insert_select_through (session_insert_select.cc): runs
  // the SELECT, then inserts its rows as INSERT ... VALUES, all in one transaction; answers the
  // client (result or error, then ReadyForQuery; `extended`: a statement of an extended-protocol
  // batch, without parameters, at its Execute: no ReadyForQuery, and a failure skips the batch to
  // its Sync). False when the session must end.
  asio::awaitable<bool> InsertSelectThrough(std::string_view sql, const sql::Analysis& a, uint32_t monitor,
                                            bool extended = false);
  // Its parts. A statement Mosaic composed, analysed (into *lexed and *analysis, which the
  // route refers to) and planned as a client's:
  asio::awaitable<Result<router::Route>> PlanComposed(const std::string& text, sql::Lexed* lexed,
                                                      std::shared_ptr<const sql::Analysis>* analysis,
                                                      router::Bound* bound);
  // Each of the others returns false with an ErrorResponse in *error. The SELECT's column types
  // (type OID, typmod), its rows (DataRow bodies) and the node that described them:
  asio::awaitable<bool> PullSelectRows(const std::string& select, std::vector<std::pair<uint32_t, int32_t>>* types,
                                       std::vector<std::string>* rows, int* node, std::string* error);
  // "::type" for each column type as `node` names it ("" for types of the database's own):
  asio::awaitable<bool> CastsOfTypes(int node, const std::vector<std::pair<uint32_t, int32_t>>& types,
                                     std::vector<std::string>* casts, std::string* error);
  // A SELECT refused for its subqueries or CTEs (Subplannable), run in steps
  // (session_subplan.cc): answers the client (result or error, then ReadyForQuery). False when
  // the session must end.
  asio::awaitable<bool> RouteSubplanned(std::string_view sql);
  // COPY (query) TO STDOUT whose query reads several nodes (session_copy_query.cc): the
  // options checked and the copy begun by `probe_node`, the query run through Mosaic, its rows
  // written as COPY lines. RefuseCopyQuery: why it cannot (0A000), `query` the analysis of the
  // query inside (null if the statement has no parenthesized query).
  Status RefuseCopyQuery(const sql::Analysis& a, const sql::Analysis* query) const;
  // The node whose copy of sequence schema.name has handed out the greatest value (the default
  // node if none has yet); an error if a node cannot tell.
  asio::awaitable<Result<int>> FurthestSequenceNode(const std::string& schema, const std::string& name);
  // SELECT setval('seq', value[, is_called]) over several nodes (a restored dump sets each
  // sequence so): every node's copy set within its stripe (router::SetvalInStripe), so that all
  // continue past `value`; answered as PostgreSQL answers it. nullopt when the sequence is not
  // on the default node (the statement goes there, which reports it).
  asio::awaitable<std::optional<bool>> SetvalOnNodes(const sql::Analysis& a);
  asio::awaitable<bool> CopyQueryOut(std::string_view sql_text, const sql::Analysis& a, int probe_node);
  // An UPDATE or DELETE refused as `refused` (WriteSubplannable): its subqueries run first, one
  // at a time, until it can be routed as a client's (then RouteQuery), else it is refused.
  asio::awaitable<bool> RouteWriteSubplanned(std::string_view sql, const Status& refused);
  // The same over the extended protocol: BindSubplanned makes `portal` of `stmt` with its
  // parameters written in (false after reporting an error); RunSubplanPortal runs it once (false
  // after reporting its error: the batch skips to Sync).
  bool BindSubplanned(const backend::ServerStatement& stmt, const router::Bound& bound, std::string_view portal,
                      std::string_view bind_body);
  asio::awaitable<bool> RunSubplanPortal(ScatterPortal& portal);
  // An UPDATE or DELETE refused for its subqueries (WriteSubplannable, no RETURNING) over the
  // extended protocol: bound with its parameters written in (ExecuteLocal's portal), it runs at
  // Execute: the subqueries one at a time, then the write on its nodes, in the batch's
  // transaction (outside a block, the batch's implicit one, committed at Sync). False when the
  // session must end.
  asio::awaitable<bool> ExecuteWriteSubplanned(const std::string& sql);
  // Runs `select` through Mosaic as a client's (on one node, several merged, or in
  // steps, `depth` levels below the client's statement): true with its whole reply
  // (RowDescription, DataRows, CommandComplete) in *out and a node that described it in *node;
  // false with an ErrorResponse in *error. `monitored`: the monitor records the statement it
  // finally runs (a client's statement taken apart; not a step, nor an INSERT's SELECT).
  asio::awaitable<bool> RunSelectThrough(const std::string& select, int depth, std::string* out, int* node,
                                         std::string* error, bool monitored = false);
  // Runs the subquery of `step` and returns `text` with its result written in; nullopt with
  // an ErrorResponse in *error.
  asio::awaitable<std::optional<std::string>> RunSubplanStep(const std::string& text, const sql::SubplanStep& step,
                                                             int depth, std::string* error);
  // A subquery of `text` failed naming a column or table it does not read: replaces *error
  // with the statement's own error, or a refusal of a correlated subquery.
  asio::awaitable<void> ExplainCorrelation(const std::string& text, std::string* error);
  // One INSERT ... VALUES, routed and run: adds its RETURNING description (the first), rows and count.
  asio::awaitable<bool> InsertValuesBatch(const std::string& text, std::string* description, std::string* rows,
                                          int64_t* count, std::string* error);
  // Marks the links of `nodes` as written in the open transaction (two-phase commit over several).
  void MarkWrote(const std::vector<int>& nodes);
  // Runs `sql` on each node of `nodes` in parallel and combines the replies into one result for
  // the client (merge for SELECT, summed counts for writes, streamed COPY TO).
  asio::awaitable<void> Scatter(const std::vector<int>& nodes, const std::vector<std::string>& sqls,
                                std::shared_ptr<Gather> gather);
  // Emits a finished gather's result (rows and CommandComplete, or its error).
  // Emits a gathered result (or its error). With `held`, a result goes there instead of to the
  // client; false when it ended in an error (emitted).
  bool FinishGather(Gather& g, bool with_description = true, std::string* held = nullptr);
  // A streamed merge (router::Merger::Stream): sends the client what the merger has ready, unless
  // a node failed (then nothing more goes out but the error), and lets paused nodes go on.
  void EmitStreamed(Gather& g);
  // After a read batch of `server`: while its rows wait in a streamed k-way merge for another
  // node's past kMergeBacklog, it is not read (so the router holds about one batch per node).
  asio::awaitable<void> WaitMergeTurn(backend::ServerConn& server);
  // Execute with a row limit on a portal run over several nodes: the next `max_rows` rows of
  // its rendered result, then PortalSuspended, or the rest and its CommandComplete.
  void SendHeldRows(ScatterPortal& portal, int32_t max_rows);
  // A statement over several nodes after a SET outside a block in the same batch: refused
  // (SkipUntilSync), true.
  bool RefusedAfterBatchSet();
  // Extended protocol over several nodes: prepares the portal at Bind (false after reporting
  // an error), runs it at Describe/Execute.
  bool BindScatter(const sql::Analysis& a, const router::Route& route, const router::Bound& bound,
                   const backend::ServerStatement& stmt, std::string_view portal, std::string_view bind_rest,
                   std::string_view bind_body);
  // False after reporting the portal's error (the batch then skips to Sync).
  asio::awaitable<bool> RunScatterPortal(ScatterPortal& portal);
  asio::awaitable<void> RunScatterPortalOnce(ScatterPortal& portal);
  // Commits (or rolls back) the open transaction on every linked node: two-phase commit when
  // more than one node wrote. Emits CommandComplete (and errors) but no ReadyForQuery.
  asio::awaitable<void> EndTransaction(bool commit, bool implicit);
  // The decision is made: COMMIT PREPARED `gid` on `writers` (the commit-some test fault
  // after the first). False if a node missed it (the recovery pass finishes it there).
  asio::awaitable<bool> CommitPrepared(const std::vector<Link*>& writers, const std::string& gid, int64_t fault_at);
  // ROLLBACK PREPARED on the writers whose PREPARE TRANSACTION did not fail (errored_servers_);
  // one that misses it is left to the recovery pass (warned).
  asio::awaitable<void> RollBackPrepared(const std::vector<Link*>& writers, const std::string& gid);
  // Last-resource commit (session_last_resource.cc): the default node's writer link when the
  // block may have touched temporary objects there (its part cannot be prepared), else null.
  Link* LastResource(const std::vector<Link*>& writers);
  // Commits `last` in one phase with the decision in its own transaction, the other writers
  // by two-phase commit around it. As EndTransaction's two-phase path otherwise.
  asio::awaitable<void> CommitLastResource(Link& last, const std::vector<Link*>& linked,
                                           const std::vector<Link*>& writers, bool implicit);
  // Sends each target its statement (a simple query) and waits for every reply; only errors
  // reach the client, and a quiet entry's error does not (it sets quiet_failed_).
  asio::awaitable<void> RunOnLinks(const std::vector<Link*>& targets,
                                   const std::function<std::string(Link&)>& text, bool quiet);
  // SAVEPOINT, RELEASE or ROLLBACK TO over the extended protocol: run as a simple query on
  // every node of the transaction (the default node if none yet) and logged for nodes that
  // join later, as over the simple protocol (one node after another: the first one's reply).
  asio::awaitable<bool> SavepointOnLinks(const sql::Analysis& a, const std::string& text);
  // A SET or RESET inside a transaction block (`text` alone in its query string, or bound over
  // the extended protocol with `extended`): runs on every node of the
  // block (the default node if none yet) and is logged for nodes that join it later, so that
  // every statement of the block runs with it, as on one PostgreSQL; the command tag is
  // Mosaic's. A session-level SET is read back at COMMIT (NoteBlockSet).
  asio::awaitable<bool> SetOnLinks(const std::shared_ptr<const sql::Analysis>& a, const std::string& text,
                                   bool extended);
  // Links the default node when none is linked (what runs on every node of a block needs one).
  // False after reporting why it could not (SkipUntilSync with `extended`, else FailQuery).
  asio::awaitable<bool> LinkDefaultIfNone(bool extended);
  // `text` as a simple query on every node linked now, one after another (Broadcast, without
  // ReadyForQuery): the first node's reply, or the first error, reaches the client.
  asio::awaitable<bool> BroadcastToLinked(const std::string& text);
  // Whether a SET (bound now) runs on every node of the block (SetOnLinks).
  bool SetsInBlock(const sql::Analysis& a) const;
  // The open block is one whose settings follow the statements after them: the client's, or
  // Mosaic's around a query string (string_tx_), not Mosaic's around one multi-node statement.
  bool SettingsBlock() const { return tx_block_ && (!implicit_tx_ || string_tx_); }
  // A SELECT of set_config calls only (PostgREST's request settings) inside a transaction block,
  // alone in its query string: runs on every node of the block (the first one's reply goes to
  // the client) and is logged for nodes that join it later, as SetOnLinks does for SET.
  // Those of its calls with is_local false are read back at COMMIT (BlockSetConfigNames).
  asio::awaitable<bool> SetConfigOnLinks(const sql::Analysis& a, std::string_view text, std::string_view raw);
  // The settings a SELECT of set_config calls in the open block (SettingsBlock) sets for the
  // session, not for the block (is_local a constant false), by name; none when a name is not
  // known or is a role's.
  void BlockSetConfigNames(const sql::Analysis& a, const router::Bound& bound, std::vector<std::string>* names) const;
  // The same bound over the extended protocol to `target`'s server: its messages, with the
  // client's Bind (`bind_rest`), also go to the block's other servers (quietly, before its
  // Execute runs on `target`) and are logged for nodes that join later.
  void CopySetConfig(const Link& target, const backend::ServerStatement& stmt, std::string_view bind_rest);
  // Reads extra_float_digits back on `link`'s server into block_float_digits_.
  asio::awaitable<void> ReadBlockFloatDigits(Link& link);
  // After a ROLLBACK TO ran on every node: what the block's SETs left (block_float_digits_).
  asio::awaitable<void> RereadAfterRollbackTo(const sql::Analysis& a);
  void BeginBlock(const sql::Analysis& a, std::string_view text);
  // Once a transaction that ran DDL has ended: stripes new sequences and re-reads the tables
  // (RefreshTablesNow), then lets the held output (hold_output_) go.
  asio::awaitable<void> RefreshTablesIfPending();
  asio::awaitable<void> RefreshTablesNow();
  void ReleaseOutput();  // ends hold_output_ and writes what it held
  asio::awaitable<void> SettleBatchOverNodes();
  asio::awaitable<bool> SyncBatch(const protocol::Frame& frame);
  void WarnIfNoTransaction();
  void PushWarning(std::string_view sqlstate, std::string_view message);
  // A simple-protocol SET or RESET outside a transaction block (`names`, or RESET ALL), or a
  // SELECT of set_config calls: runs it and reads the settings back on the same server, so
  // that they follow the client (SyncParams) and leave the server with it.
  asio::awaitable<bool> TrackedSet(const std::vector<std::string>& names, bool reset_all, std::string_view raw);
  // The settings a SELECT of set_config calls (Analysis::only_set_config) changes, lower case;
  // false when a name is neither a literal nor a text parameter, or is role or
  // session_authorization (not tracked: refused in transaction pooling).
  static bool SetConfigNames(const sql::Analysis& a, const router::Bound& bound, std::vector<std::string>* names);
  // After SETs the client sent outside a transaction block ran on `link`'s server (TrackedSet,
  // a query string, an extended-protocol batch up to its Sync), pushed without their
  // ReadyForQuery: reads the settings `names` back there and adopts them (after dropping the
  // client's own settings first when `reset_all`), unless what ran failed, then answers
  // ReadyForQuery. What failed: broadcast_error_ (the caller clears it before), or with `batch`
  // an error in the open extended-protocol batch (up to and after its Sync).
  asio::awaitable<void> AdoptSetsAfter(Link& link, const std::vector<std::string>& names, bool reset_all,
                                       bool batch);
  // Session pooling: after the client's settings changed (params_), sets them on the servers
  // it holds (SyncParams), as a new link gets them. Transaction pooling returns them instead.
  void SyncHeldLinks();
  // 0A000 for SET ROLE / SET SESSION AUTHORIZATION outside SET LOCAL in transaction pooling.
  Status RefuseSessionRole(const sql::Analysis& a) const;
  // The same for set_config(..., false) of `names` (SetConfigNames) outside a block.
  Status RefuseSetConfigRole(const std::vector<std::string>& names) const;
  // Adds the session setting a SET or RESET (not SET LOCAL, ROLE or SESSION AUTHORIZATION) of a
  // query string or an extended-protocol batch changes to `names` (RESET ALL: clears them and
  // sets `reset_all`). False for a statement that opens or ends a transaction or copies: the
  // SETs' fate is then not known when the string or batch ends, and they are not adopted.
  static bool CollectSet(const sql::Analysis& a, std::vector<std::string>* names, bool* reset_all);
  // Notes a statement bound in an extended-protocol batch on links_[link] for the batch's SET
  // read-back (batch_sets_).
  // (`set_config`: the settings a SELECT of set_config calls changes, SetConfigNames.)
  void NoteBatchSet(const sql::Analysis& a, size_t link, const std::vector<std::string>& set_config);
  // Before a statement of the batch on link `index`: the batch's SETs that ran on other links
  // run there first (Parse/Bind/Execute, in the batch's implicit transaction there).
  void ReplayBatchSets(size_t index);
  // Makes the setting in `data_row` (a DataRow of name and current_setting(name), the read-back
  // of a SET on `server`, which may be null) one that follows the client (params_).
  void AdoptSetting(std::string_view data_row, backend::ServerConn* server);
  // A session-level SET or RESET relayed to `server` as the client sent it, not by TrackedSet
  // (inside a transaction block, in a query string with other statements, over the extended
  // protocol): the settings it changes are marked unknown on that server, so that SyncParams
  // sets them to what the next client there expects, or resets them, before its first
  // statement: nothing leaks to another client. No-op for other statements and SET LOCAL.
  static void NoteRelayedSet(const sql::Analysis& a, backend::ServerConn& server);
  // A session-level SET relayed inside a transaction block: the setting is read back on the
  // same server when the block commits (ReadBackAtCommit), for AdoptBlockSettings; so what a
  // ROLLBACK TO SAVEPOINT undid reads as undone, as PostgreSQL keeps it.
  void NoteBlockSet(const sql::Analysis& a, Link& link);
  // Setting `name`, changed for the session in the open block on `link`'s server: read back
  // there at COMMIT (once per server and name).
  void NoteBlockSetting(std::string_view name, Link& link);
  // Before COMMIT (or PREPARE TRANSACTION) goes to the nodes: the read-backs of the block's
  // SETs, on the servers they ran on.
  void ReadBackAtCommit();
  // The block committed: its session-level SETs follow the client from now on, as PostgreSQL
  // keeps them after COMMIT.
  void AdoptBlockSettings();
  // Handles a reply belonging to a gather entry; true when it completed the entry (its
  // ReadyForQuery).
  bool GatherFrame(Pending& p, backend::ServerConn& server, const protocol::Frame& frame);
  // 54000: a gathered result outgrew max_merge_mb.
  Status MergeLimitExceeded() const;
  // One CopyData of a binary COPY TO over several nodes: what of it the client gets (see
  // router::BinaryCopyJoin). Always false (it does not end the node's part).
  bool CopyBinaryFrame(Gather& g, int source, std::string_view data);
  // A gather for an INSERT/UPDATE/DELETE run over the nodes of `route`.
  static void SetUpWrite(Gather& g, const sql::Analysis& a, const router::Route& route);
  // Whether the client's TimeZone is UTC (timestamptz keys without an offset can be routed).
  bool SessionUtc() const;
  // What the client's DateStyle and extra_float_digits let the merger read (MergeSpec).
  void ApplyMergeSettings(router::MergeSpec* spec) const;
  // The same, for text values Mosaic holds and sends in binary (router::ToResultFormats).
  router::TextOutput HeldTextOutput() const;
  // Where a utility statement runs (router::PlanUtility), its literals from `literals`.
  Result<router::UtilityRoute> PlaceUtility(const sql::Analysis& a, const std::vector<sql::Literal>& literals) const;
  // PlaceUtility's node for `a` (literals from lexed_), -1 when it follows the session's other
  // statements or is refused (`*refused` set); `*write` (if given): it changes rows there.
  // (Not a Result: g++ 12 miscompiles some Result locals in coroutines.)
  // A cursor's FETCH, MOVE and CLOSE go to the node of its DECLARE (cursors_); CLOSE ALL: -1.
  // *every_node (if given): it runs on every node (LOCK TABLE), and -1 is returned.
  int UtilityNode(const sql::Analysis& a, Status* refused, bool* write = nullptr, bool* every_node = nullptr) const;
  // DECLARE of a cursor over several nodes (or WITH HOLD off the default node), and FETCH, MOVE
  // and CLOSE of one (session_cursor.cc): true/false after replying (false: the session ends);
  // nullopt when the statement goes to a node as before.
  asio::awaitable<std::optional<bool>> HeldCursor(const sql::Analysis& a, std::string_view text);
  // Whether Mosaic holds the cursor DECLARE `a` declares: its query reads several nodes (or,
  // WITH HOLD or over the extended protocol, another node than the default one), or the name
  // is one Mosaic holds.
  bool HoldsDeclare(const sql::Analysis& a, const std::vector<sql::Literal>& literals, bool extended) const;
  // Runs the DECLARE (its query at once) and keeps the rows; `extended`: over the extended
  // protocol (no ReadyForQuery, errors skip to Sync). False when the session ends.
  asio::awaitable<bool> DeclareHeld(const sql::Analysis& a, std::string_view text, bool extended);
  // FETCH, MOVE or CLOSE of a held cursor (over the extended protocol: rows without their
  // RowDescription, which Describe sends; an Execute row limit below the rows is refused). Its
  // rows are held in text and sent in `formats` over the extended protocol (the Bind's result
  // formats, as PostgreSQL does whatever the cursor was declared), in binary for a BINARY
  // cursor over the simple one.
  void UseHeld(const sql::Analysis& a, bool extended, int32_t max_rows, const std::vector<int16_t>& formats);
  // The RowDescription a FETCH of a held cursor returns in `formats`; nullopt for other statements.
  std::optional<std::string> HeldDescription(const sql::Analysis& a, const std::vector<int16_t>& formats) const;
  void CursorError(const Status& status, bool extended);
  // The transaction ended: held cursors without HOLD go, and (if it did not commit) those it
  // declared.
  void EndHeldCursors(bool committed);
  // After the simple-protocol utility statement `a` was sent to `node`: cursors_ follows it.
  void NoteCursor(const sql::Analysis& a, int node);
  // A query string of DDL statements: refused while a migration moves rows of a table it alters
  // (CheckDdlDuringMigrations), or for a CREATE TABLE AS reading rows not all on the default node.
  Status CheckDdlString(std::string_view sql);
  // Takes the newest shard map when no server is linked (so links stay valid).
  void RefreshMap();
  // Starts a COPY FROM STDIN that routes each row to its node.
  asio::awaitable<bool> StartCopyIn(const sql::Analysis& a, std::string_view sql, const router::Route& route);
  void CopyInData(std::string_view data);
  asio::awaitable<bool> CopyInEnd(bool fail, std::string_view fail_message);
  // Opens Mosaic's own transaction block around one statement that writes on several nodes
  // (BEGIN on nodes already linked; nodes linked later join with BEGIN too).
  void BeginImplicit();
  // Makes new sequences on every linked node hand out disjoint values (node k: k, k+64, ...).
  asio::awaitable<void> StripeSequences();
  // After DDL that may change tables: re-reads them (off the worker thread) and takes the new map.
  // Inside a transaction block, SeeTablesOfThisBlock instead, and the re-read once it has ended.
  asio::awaitable<void> RefreshTables();
  // Reads the tables through this block's own connection to the default node (where its
  // uncommitted DDL is visible) and routes with a map of them until the block ends
  // (catalog::ShardMapWithTables; tables_of_block_).
  asio::awaitable<void> SeeTablesOfThisBlock();
  // Runs `sql` on the session's connection to the default node (its block's, if one is open):
  // the DataRow messages of its result; nullopt when closing or after a warning that reading
  // `what` failed.
  asio::awaitable<std::optional<std::string>> ReadOnDefaultNode(const std::string& sql, const std::string& what);
  // SELECT mosaic.<function>(...).
  asio::awaitable<void> MosaicFunction(const sql::Analysis& a, const sql::Lexed& lexed);
  // Temporary tables (session_temp.cc): created on the default node alone, where the router
  // sends what reads or writes them (router::Bound::temp_tables).
  enum class TempUse : uint8_t { kNone, kOnly, kMixed };
  // What DDL or maintenance `a` does with them: nothing, only them (it runs on the default node),
  // them and routed tables (refused). `also` counts as temporary (created earlier in a string).
  TempUse TempDdlOf(const sql::Analysis& a, const std::vector<std::string>* also = nullptr) const;
  // OK when `a` (TempDdlOf kOnly or kMixed) may run on the default node; else why not (0A000).
  Status RefuseTempDdl(const sql::Analysis& a, TempUse use, const std::vector<sql::Literal>& literals) const;
  // Runs a simple-protocol query of temporary-table DDL on the default node, unless `refused`
  // (RefuseTempDdl's verdict).
  asio::awaitable<bool> RunTempDdl(const protocol::Frame& frame, const Status& refused);
  // A query string of several DDL statements: kNone when none is about temporary tables, else
  // it runs on the default node (true, after replying) or is refused (true, after replying).
  asio::awaitable<std::optional<bool>> RunTempDdlString(const protocol::Frame& frame, std::string_view sql);
  // Reads the names of the temporary tables from the default node (temp_tables_). Not while an
  // extended-protocol batch is open, nor in an aborted block (stays stale until then).
  asio::awaitable<void> ReadTempTables();
  // Temporary-table DDL sent over the extended protocol ran: a new name counts at once, all are
  // read back at the next batch.
  void NoteTempDdl(const sql::Analysis& a);
  // Monitor (session_monitor.cc). A statement's event is built when it is routed (what the
  // session has then: analysis, values, route) and recorded when its CommandComplete arrives.
  // Returns the slot's sequence number (0: not monitored). Allocation-free for known shapes.
  uint32_t MonitorBegin(const sql::Analysis& a, const router::Bound& bound, const router::Route& route,
                        uint64_t fingerprint, std::string_view sql_text, const std::vector<sql::Literal>& literals);
  // Records slot `seq` (if it is still that statement's) with the rows of its command tag.
  // `began`: when the statement reached the head of a shared connection's pipeline (its wait
  // behind other sessions' statements is not its own run time: see Worker::NoteLatency).
  void MonitorEnd(uint32_t seq, int64_t rows, std::chrono::steady_clock::time_point began = {});
  void MonitorEndTag(uint32_t seq, std::string_view command_complete_body,
                     std::chrono::steady_clock::time_point began = {});

  // Online migrations (session_migration.cc). Plans `a` and, when it touches rows of an active
  // migration, enters that migration's fence (held until the transaction ends), waiting while a
  // cutover holds it closed and re-planning on the newer map after it; refuses (0A000) a statement
  // that would run on both ends of a flow (it would see the copy); offers single-node reads for
  // shadow comparison. `sql_text` is the statement as the client sent it ($n placeholders with
  // `bound.params`). Without active migrations this is router::Plan and, in a transaction
  // block that a newer shard map reached, MovedSinceSnapshot.
  asio::awaitable<Result<router::Route>> PlanGated(const sql::Analysis& a, const router::Bound& bound,
                                                   std::string_view sql_text);
  // A schema change (`a.ddl_alters_tables`) of a table whose rows an active migration moves
  // fails with 55006: the copy and the replication between the nodes assume the table keeps its
  // columns, and the change would wait behind the copy's lock with every later statement on
  // the table queued behind it. OK otherwise.
  Status CheckDdlDuringMigrations(const sql::Analysis& a) const;
  // Whether MovedSinceSnapshot has anything to check: in a transaction block whose nodes have
  // snapshots, planned on a newer map than its first statement. Notes the map of a block's first
  // statement.
  bool SnapshotMayPredate();
  // Then: true (and `*refused` set to 40001) when `route` runs on
  // other nodes than the same statement planned on snapshot_map_ (a cutover moved its
  // rows since the transaction's first statement) and the transaction is REPEATABLE READ or
  // SERIALIZABLE (asked of a node it runs on: BEGIN's options, SET TRANSACTION, the session's or
  // role's default). Such a snapshot on the new node may predate the rows' arrival there, or
  // postdate the snapshot of the old node; READ COMMITTED takes a snapshot per statement.
  asio::awaitable<bool> MovedSinceSnapshot(const sql::Analysis& a, const router::Bound& bound,
                                           const router::Route& route, Status* refused);
  // Leaves the fences held once nothing of the transaction is left on any node.
  void LeaveFencesIfIdle();
  void LeaveFences();

  // Runs `fn` on a helper thread and resumes on this session's executor with its result.
  template <typename T>
  asio::awaitable<T> OffThread(const std::function<T()>& job);

  // Runs `sql` as a simple query on every node but the one of links_[ran_on], after that node
  // ran it; their replies are swallowed except errors.
  asio::awaitable<void> ReplicateDdl(const std::string& sql, size_t ran_on);
  // Runs a simple query on `nodes` one after another (the first node's replies reach the
  // client, the others' errors); then ReadyForQuery unless `ready` is false (a statement of an
  // extended-protocol batch, whose Sync answers it).
  asio::awaitable<bool> Broadcast(const protocol::Frame& frame, const std::vector<int>& nodes, bool ready = true);
  // Forwards `raw` to the batch's node (LinkBatch), expecting `op` back.
  asio::awaitable<bool> ForwardToBatch(std::string_view raw, Op op);

  // The client's named statement, or nullptr after reporting 26000 (skipping to Sync).
  std::shared_ptr<const backend::ServerStatement> FindStatement(std::string_view name);
  // The default node's link, or nullptr after reporting why not (skipping to Sync).
  asio::awaitable<Link*> LinkDefault();
  // The link the current extended-protocol batch (or transaction) runs on, else the default.
  asio::awaitable<Link*> LinkBatch();
  // The link a portal was bound on, or nullptr.
  Link* PortalLink(std::string_view portal);
  // Whether statements of this kind are routed by their rows (vs. following the batch).
  static bool Routable(const sql::Analysis& a);

  // Server links.
  asio::awaitable<Result<Link*>> LinkNode(const catalog::Node& node);
  // Makes `server` (from the pool) this session's link to `node`.
  Link& AdoptServer(const catalog::Node& node, std::shared_ptr<backend::ServerConn> server);
  // A transaction begins now (BEGIN, or Mosaic's own block around a multi-node write; else
  // the first link after the last one ended): what the deadlock detector compares to pick the
  // youngest transaction of a cycle. Also stamps the links held already.
  void NoteTransactionStart();
  // Records in `server`'s BackendOwner that this session holds it (deadlock detection).
  void ClaimBackend(backend::ServerConn& server);
  // A 57014 from the server the deadlock detector cancelled becomes 40P01 (in rewritten_).
  bool IsDeadlockVictim(const backend::ServerConn& server) const {
    return std::find(deadlock_servers_.begin(), deadlock_servers_.end(), &server) != deadlock_servers_.end();
  }
  bool RewriteDeadlockCancel(const backend::ServerConn& server, const protocol::Frame& frame,
                             protocol::Frame* out);
  void SyncParams(Link& link);
  void EnsurePrepared(Link& link, const std::shared_ptr<const backend::ServerStatement>& stmt);
  // Writes to `out` what `server` needs before it can run `stmt` (a Close making room for it,
  // its Parse) and pushes what those reply.
  void PrepareOn(backend::ServerConn& server, const std::shared_ptr<const backend::ServerStatement>& stmt,
                 std::string* out);
  void EnsureUnnamed(Link& link);
  // EnsureUnnamed for `server`, writing to `out`.
  void UnnamedOn(backend::ServerConn& server, std::string* out);
  void MakeRoomForStatement(backend::ServerConn& server, std::string* out);
  void SetCopyTarget(backend::ServerConn* server) {
    copy_target_ = server;
    copy_end_sent_ = false;
  }
  // Whether a statement (Query or Execute) sent to `server` has had no reply yet.
  bool StatementUnanswered(const backend::ServerConn& server) const;
  void BeforeParse(backend::ServerConn& server, const backend::ServerStatement& stmt, std::string* out);
  void ForgetOnReset(backend::ServerConn& server, std::string_view tag);
  asio::awaitable<bool> FlushServers();
  void MaybeRelease();
  void ReleaseAll(bool reusable);
  Link* FindLink(const backend::ServerConn* server);
  // What DropLink took from the client's pending replies.
  struct Dropped {
    bool pending = false;        // replies the client was owed
    bool awaiting_sync = false;  // an extended-protocol batch whose Sync is yet to come
  };
  // Drops what this session awaits from `link`'s server (a scatter's part fails with `why`)
  // and gives the connection back, not to be reused (a shared one runs on; our statements'
  // replies on it are dropped).
  Dropped DropLink(Link& link, const Status& why);
  // The client gets `why` in place of the replies DropLink dropped, then ReadyForQuery unless
  // its Sync is yet to come (then everything up to it is skipped).
  void ReplyInstead(const Dropped& dropped, const Status& why);
  char TxStatus() const;
  // In an aborted transaction (TxStatus 'E'), whether `a` may run: COMMIT, ROLLBACK, ROLLBACK
  // TO SAVEPOINT, two-phase commands (the node decides), an empty query; else the client gets
  // 25P02 from Mosaic, as from PostgreSQL, whatever node the statement would go to.
  static bool RunsInAbortedTransaction(const sql::Analysis& a);
  // Before a PREPARE TRANSACTION goes to `link`'s node as the client sent it, in a
  // transaction Mosaic's own error aborted while the node's went on: makes the node's abort.
  void AbortOnNodeBefore(const sql::Analysis& a, Link& link);
  // Writes to `out` (as a Query for `link`'s node, awaited quietly) a statement that fails on
  // the node, after `before` (statements, or empty). Its error reaches only the node's log.
  void FailOnNode(Link& link, std::string_view before, std::string* out);
  // A client's transaction block is aborted (tx_aborted_) and has no savepoints: every node
  // still in its transaction ('T', nothing of ours in flight there) rolls it back at once and
  // opens an aborted one in its place, so that its locks go now, as PostgreSQL's
  // AbortTransaction releases them at the error, while the node answers what follows as the
  // aborted block does (25P02, ROLLBACK for COMMIT, PREPARE TRANSACTION rolled back). With
  // savepoints the nodes keep their transactions: ROLLBACK TO SAVEPOINT resumes the block.
  void ReleaseLocksOfAbortedBlock();
  // Execute of a portal of a `local` statement, after the batch's earlier replies: BEGIN opens
  // the block, savepoints run on every node of it (SavepointOnLinks), COMMIT/ROLLBACK end it on
  // every node (two-phase commit when several wrote), LOCK TABLE runs on every node
  // (LockOnEveryNode), INSERT ... SELECT through Mosaic (InsertSelectThrough; `monitor` is its
  // monitor slot), UPDATE/DELETE in steps (ExecuteWriteSubplanned).
  asio::awaitable<bool> ExecuteLocal(std::shared_ptr<const backend::ServerStatement> stmt, uint32_t monitor,
                                     int32_t max_rows, std::vector<int16_t> formats);
  // Binds `portal` to `stmt`, which ExecuteLocal runs (`monitor`: its monitor slot, or 0), and
  // answers BindComplete.
  void BindLocal(std::string_view portal, std::shared_ptr<const backend::ServerStatement> stmt, uint32_t monitor);
  // DEALLOCATE of a statement the client prepared over the extended protocol (in statements_):
  // dropped, answered DEALLOCATE (25P02 in a failed block, 26000 when it is gone).
  void Deallocate(const sql::Analysis& a, bool extended);
  // LOCK TABLE of tables on several nodes bound over the extended protocol, at its Execute: on
  // every node one after another, as over the simple protocol (25P01 outside a block).
  asio::awaitable<bool> LockOnEveryNode(const backend::ServerStatement& stmt);
  // A forwarded statement left its node idle: if no node is in a transaction, the client's
  // transaction ended there (PREPARE TRANSACTION, a string of several with a COMMIT).
  void EndedOnNode();
  // The transaction is over: no block, nothing aborted, no savepoints, no node wrote.
  void ClearTransaction();
  // RunsInAbortedTransaction for the first statement of a string of several.
  bool FirstRunsInAbortedTransaction(std::string_view sql);
  static Status AbortedTransaction();
  int LinkedCount() const;
  std::vector<int> LinkedNodes() const;  // ids of the nodes linked, in the map's order
  std::vector<int> AllNodes() const;     // ids of every node, in the map's order
  bool SharedLinked() const;
  // Whether `a` (of shape `shape`), routed to one node by `route`, may queue on a connection
  // shared with other sessions (NodePool::Share): a plain read of a fast shape, nothing else
  // in flight. The caller checks that it starts a batch of its own.
  bool Pipelinable(const sql::Analysis& a, const router::Route& route, uint64_t shape) const;
  // A prepared statement's Bind followed by [Describe of its portal,] Execute of all its rows
  // and Sync, all received: the messages after the Bind (views into in_) and their size.
  struct BindUnit {
    std::string_view describe, execute, sync;
    size_t size = 0;
  };
  // `from` is where, in the unconsumed input, the messages after the Bind start.
  std::optional<BindUnit> PeekBindUnit(std::string_view portal, size_t from = 0);
  // Whether an unnamed statement's Parse may wait for its Bind (answered by Mosaic): it opens
  // the batch, a Bind of it follows with [Describe,] Execute and Sync, all received, and it
  // is a statement that may be pipelined. Its Parse is then written with the Bind, on the
  // connection the Bind runs on (EnsureUnnamed).
  bool MayDeferUnnamedParse(const backend::ServerStatement& stmt);
  // Pipelining of a prepared statement (`stmt`, or the unnamed statement when null): writes
  // the Bind unit to a shared connection (with the statement's Parse first when that
  // connection lacks it) and consumes it. Returns true when it did, or after reporting the
  // pool's error; false with *exclusive set when the pool gave a connection of our own instead
  // (use it; nothing written), or unset (link as usual).
  asio::awaitable<bool> BindShared(const catalog::Node& node, const std::shared_ptr<const backend::ServerStatement>& stmt,
                                   const protocol::Frame& bind_frame, const protocol::BindHeader& bind,
                                   const BindUnit& unit, uint32_t monitor, Link** exclusive);
  // Pipelining (NodePool::AcquireShared): `write` composes the statement for the shared
  // connection to `node` it joins. Returns that connection's link (marked shared), or one of
  // our own (nothing written; settings synced), or nullptr when the pool has none without
  // waiting (link as usual) or the client left meanwhile (closing_).
  asio::awaitable<Result<Link*>> LinkShared(const catalog::Node& node,
                                            const backend::NodePool::StatementWriter& write);
  // After a statement went to a shared link: lets the link go if its replies all came already,
  // or reports the connection lost if it died before we adopted it (its close notice found no
  // link then).
  void SettleShared(Link& l);
  // What a Sync ends of an extended-protocol batch on Mosaic's side.
  void EndBatch();

  // Responses.
  // OnServerMessage once a deadlock cancel's 57014 has become 40P01 (RewriteDeadlockCancel).
  void HandleServerMessage(backend::ServerConn& server, const protocol::Frame& frame);
  void Push(Pending p);
  std::deque<Pending>::iterator FirstEntry(const backend::ServerConn& server, bool* blocked);
  // A notice from `server` that another node has given already: the server runs a copy of a
  // statement on every node (a replica entry, or a replicated write's part other than the first).
  bool RepeatsAnotherNode(const backend::ServerConn& server) const;
  void Dispatch(backend::ServerConn& server, std::deque<Pending>::iterator it, const protocol::Frame& frame);
  void ReplayHeld();
  void EmitSynthetics();
  void DropAfterError(backend::ServerConn& server);
  // Whether a node's error in extended-protocol batch `batch` already reached the client.
  bool BatchFailed(uint64_t batch) const;
  void Undo(const Pending& p);
  void Emit(std::string_view bytes);
  void EmitError(const Status& status);
  // Sends an error to the client after every reply still owed to it.
  void QueueError(const Status& status);
  // Answers a simple Query with an error and ReadyForQuery, in order with earlier replies.
  void FailQuery(const Status& status);
  // Reports an extended-protocol error and ignores messages up to the next Sync.
  void SkipUntilSync(const Status& status);
  asio::awaitable<void> WaitPendingDrained();
  // Appends a Flush for each linked server holding replies to extended-protocol messages until
  // Sync or Flush (sent with the next FlushServers); true if it appended any.
  bool AskForPendingReplies();

  // Client output.
  void KickWriter();
  // Ends a server batch's hold on client output (see corked_) and writes what it gathered,
  // unless a client batch still holds it (see in_client_batch_).
  void Uncork();
  // RowDescriptions name each column's table and column number as the answering node knows
  // them; clients look them up on the default node (catalog queries go there), so another
  // node's are translated to the default node's (catalog::RelationOids).
  bool TranslatesOids(const backend::ServerConn& server) const;
  void TranslateOids(const backend::ServerConn& server, std::span<char> row_description) const;
  asio::awaitable<void> WriteLoop();
  asio::awaitable<void> WaitOutputBelow(size_t limit);
  // How much output for the client may wait before `server`'s reader waits for it to drain:
  // 1 MiB, or max_merge_mb on a connection shared by pipelining.
  size_t OutputLimitFor(const backend::ServerConn& server) const;
  void Fatal(const Status& status);

  Worker& worker_;
  FrontendContext& ctx_;
  asio::ip::tcp::socket client_;
  net::Reader<asio::ip::tcp::socket> client_reader_{client_};
  protocol::Framer framer_;
  std::string in_;
  size_t in_start_ = 0;  // first unconsumed byte
  size_t in_end_ = 0;    // end of received bytes

  std::string out_;
  std::string out_inflight_;
  bool writing_ = false;
  // Set while a server's read batch is dispatched: its replies (RowDescription, DataRows,
  // CommandComplete, ReadyForQuery) are gathered in out_ and written with one send when the
  // batch ends, the server is released or lost, instead of one send per message.
  bool corked_ = false;
  // Set while the messages of one client read are handled: the replies Mosaic makes itself
  // (BEGIN's, COMMIT's CommandComplete and the ReadyForQuery after them) join one send at the
  // end instead of one each. Output still leaves before any wait for a server or the pool, and
  // when it passes kOutputHighWater.
  bool in_client_batch_ = false;
  // Set from a COMMIT, ROLLBACK or Sync that ends a transaction which changed tables until they
  // are read again (RefreshTablesIfPending): no output leaves, so the client cannot act on the
  // end before every session routes the new tables.
  bool hold_output_ = false;
  bool closing_ = false;       // stop handling client messages
  bool started_ = false;       // past startup and authentication (authentication_timeout_s)
  bool write_failed_ = false;  // the client socket is gone: drop output
  bool quiet_rfq_ = false;       // RunApart: ReadyForQuery messages are not sent
  uint64_t errors_emitted_ = 0;  // ErrorResponse messages sent to the client
  bool client_gone_ = false;   // the client's socket reached EOF or failed (ClientGone)
  bool watching_client_ = false;  // WatchClient's wait is armed
  bool waiting_on_servers_ = false;  // in WaitPendingDrained: what the watch is for
  std::string early_in_;  // client bytes read by the watch, not yet framed (see NextFrame)
  // EndTransaction is committing over several nodes (PREPARE .. COMMIT PREPARED): its waits
  // run until the nodes answer even when the session is closing, so that the outcome is
  // decided (recorded, or rolled back on every node) before the session ends.
  bool two_phase_ = false;
  Wakeup out_drained_;
  Wakeup pending_drained_;
  asio::steady_timer merge_turn_;  // WaitMergeTurn: cancelled when a streamed merge moves on
  int merge_waiters_ = 0;          // servers in WaitMergeTurn
  bool streamed_out_ = false;      // EmitStreamed emitted since the last server read batch ended

  std::string user_;
  int32_t pid_ = 0;
  int32_t key_ = 0;
  std::map<std::string, std::string, std::less<>> params_;  // what the client expects set
  // Settings of params_ the client SET that servers do not report (TrackedSet): RESET ALL
  // drops them.
  std::set<std::string, std::less<>> set_by_client_;
  // The session-level SETs of the open transaction block (NoteBlockSet), in order, with the
  // server each ran on: `read` is null until ReadBackAtCommit reads `name` back there. Cleared
  // when the block ends.
  struct BlockSetting {
    std::shared_ptr<Gather> read;
    std::weak_ptr<backend::ServerConn> server;
    std::string name;
  };
  std::vector<BlockSetting> block_settings_;
  // Session-level SETs bound in the open extended-protocol batch outside a transaction block
  // (as JDBC sends every SET), and the link they ran on: read back there after the batch's
  // Sync and adopted (SyncBatch), as TrackedSet does for the simple protocol. Not when the
  // batch also opens or ends a transaction, or ran SETs on two servers (batch_sets_off_).
  std::vector<std::string> batch_sets_;
  bool batch_reset_all_ = false;
  bool batch_sets_off_ = false;
  size_t batch_set_link_ = SIZE_MAX;
  // The batch's SETs outside a block (their text, and the link each ran on), and per link how
  // many of them it has run: a statement of the batch on another node runs after them there too
  // (ReplayBatchSets), as it would on one PostgreSQL.
  struct BatchSet {
    std::string text;
    std::shared_ptr<const sql::Analysis> analysis;
    size_t link = SIZE_MAX;
  };
  std::vector<BatchSet> batch_set_texts_;
  std::vector<size_t> batch_set_sent_;
  bool hold_links_ = false;  // MaybeRelease keeps the links (TrackedSet's bookkeeping)
  // The session's temporary tables (names as folded), on the default node. Read back from it
  // (ReadTempTables) at the next batch after what may have changed them (temp_stale_): DDL on
  // them, DISCARD, the end of a block or a ROLLBACK TO after DDL on them in it (temp_in_block_).
  std::vector<std::string> temp_tables_;
  bool temp_stale_ = false;
  bool temp_in_block_ = false;
  // DDL sent over the extended protocol, or inside a transaction block, may have changed tables:
  // read them again once its transaction has ended (the Sync, COMMIT or ROLLBACK) so that the
  // next statement (and every other session) routes them.
  bool refresh_tables_pending_ = false;
  // map_ is this session's own, with the tables its transaction block created or changed
  // (SeeTablesOfThisBlock): RefreshMap keeps it until the block ends.
  bool tables_of_block_ = false;
  // Extended-protocol batches (up to a Sync) are numbered; the servers whose part of a batch
  // failed, by batch (a batch that wrote on several nodes outside a transaction block is rolled
  // back on all of them then, as PostgreSQL's one implicit transaction is).
  uint64_t batch_seq_ = 0;
  // A write over several nodes opened an implicit transaction for the batch: the Sync ends it
  // (committed on every node, or rolled back on all if anything in the batch failed).
  bool batch_implicit_ = false;
  std::vector<std::pair<uint64_t, const backend::ServerConn*>> batch_errors_;
  uint64_t batch_refused_ = 0;  // batch_seq_ + 1 of the last batch Mosaic failed (SkipUntilSync)
  std::string begin_text_ = "BEGIN";

  std::shared_ptr<const catalog::ShardMap> map_;
  std::vector<Link> links_;  // index = position of the node in map_->nodes
  std::deque<Pending> pending_;
  bool skip_until_sync_ = false;
  bool batch_open_ = false;  // extended-protocol messages sent since the last Sync
  // The message being handled is the batch's first (a Bind that follows only a deferred Parse,
  // see MayDeferUnnamedParse, counts as first).
  bool opens_batch_ = false;
  bool parse_deferred_ = false;  // the message handled last was an unnamed Parse deferred to its Bind
  std::string shared_out_;  // a pipelined Bind unit, composed for the connection it joins
  uint64_t params_generation_ = 0;  // changes whenever params_ changes
  bool broadcast_error_ = false;
  backend::ServerConn* copy_target_ = nullptr;
  // COPY FROM STDIN: the server that answered CopyInResponse and has not been sent CopyDone or
  // CopyFail yet (it ignores Sync and Flush until then), and whether the client's CopyDone or
  // CopyFail has gone to copy_target_ since the statement that set it.
  backend::ServerConn* copy_in_server_ = nullptr;
  bool copy_end_sent_ = false;

  std::unordered_map<std::string, std::shared_ptr<const backend::ServerStatement>> statements_;
  std::shared_ptr<const backend::ServerStatement> unnamed_;
  // Portals bound to a DDL statement -> its text, to replay on the other nodes at Execute.
  std::unordered_map<std::string, std::string> ddl_portals_;
  // Portals of `local` statements (BEGIN, COMMIT, ROLLBACK), run by Mosaic at Execute.
  std::unordered_map<std::string, std::shared_ptr<const backend::ServerStatement>> local_portals_;
  uint64_t unnamed_generation_ = 0;

  // Routing state.
  sql::Lexed lexed_;  // reused for every statement
  bool tx_block_ = false;  // the client opened a transaction block (BEGIN) not yet ended
  bool implicit_tx_ = false;  // the block is Mosaic's own, around one multi-node statement
  // Mosaic's own block is around a query string's statements (RunApart): its SETs and SELECTs
  // of set_config run on every node of it and are read back at its COMMIT, as in a client's block.
  bool string_tx_ = false;
  // An error went to the client inside the transaction (Mosaic's own or a node's): it is
  // aborted, as PostgreSQL aborts it, until ROLLBACK [TO SAVEPOINT] (TxStatus says 'E').
  bool tx_aborted_ = false;
  // What ran on every node of the open block after its BEGIN, in order, for a node that joins
  // the block later (LinkNode): SAVEPOINT, RELEASE, ROLLBACK TO (`savepoint`), SETs (SetOnLinks;
  // `set` is the SET's analysis, for NoteRelayedSet on the joining server) and SELECTs of
  // set_config (SetConfigOnLinks, CopySetConfig).
  struct BlockStep {
    std::string text;
    std::shared_ptr<const sql::Analysis> set;
    // A SELECT of set_config bound over the extended protocol: its Parse, Bind, Execute and
    // Sync, replayed as they are (`text` is then unused).
    std::string messages;
    bool savepoint = false;
  };
  std::vector<BlockStep> block_log_;
  // extra_float_digits as the open block's SETs left it on its nodes, for the merger
  // (ApplyMergeSettings): read back after a SET of it (or RESET ALL) in the block, and after a
  // ROLLBACK TO once there was one; unset while no SET of the block changed it (params_ holds
  // it). Cleared when the block ends.
  std::optional<int> block_float_digits_;
  // Cursors declared by DECLARE over the simple protocol, by name: the node each runs on (FETCH,
  // MOVE and CLOSE go there) and whether it is WITH HOLD (kept when the transaction ends).
  struct Cursor {
    int node = -1;
    bool hold = false;
  };
  std::unordered_map<std::string, Cursor> cursors_;
  // Cursors over several nodes Mosaic holds (session_cursor.cc): the query's RowDescription and
  // DataRow messages, where each row ends in `rows`, and the next row FETCH returns.
  struct HeldRows {
    std::string description;
    std::string rows;
    std::vector<size_t> ends;
    int64_t position = 0;  // PostgreSQL's: 0 before the first row, ends.size() + 1 after the last
    bool hold = false;
    bool no_scroll = false;  // DECLARE ... NO SCROLL: it may not go back
    bool in_block = false;  // declared in the open transaction block
    bool binary = false;    // DECLARE BINARY: FETCH over the simple protocol sends binary values
  };
  std::unordered_map<std::string, HeldRows> held_cursors_;
  // Extended protocol: the result formats of the Bind of a portal that FETCHes from a held cursor.
  std::unordered_map<std::string, std::vector<int16_t>> fetch_formats_;
  std::unordered_map<std::string, size_t> portal_links_;  // extended protocol: portal -> link index
  size_t batch_link_ = SIZE_MAX;  // link the current extended batch runs on
  uint64_t gid_counter_ = 0;
  bool quiet_failed_ = false;  // a quiet entry failed (see Pending::quiet)
  std::string quiet_error_;     // the last ErrorResponse of a quiet entry
  struct CopyIn;
  std::unique_ptr<CopyIn> copy_in_;
  std::unordered_map<std::string, std::shared_ptr<ScatterPortal>> scatter_portals_;
  std::vector<const backend::ServerConn*> errored_servers_;
  // Replies held until their server's turn (see OnServerMessage), and a re-entry guard.
  std::unordered_map<const backend::ServerConn*, std::deque<std::string>> held_;
  bool replaying_ = false;  // servers that sent an error (2PC)

  // Events of statements in flight (a pipeline deeper than the slots loses the oldest events).
  struct MonitorSlot {
    monitor::QueryEvent event;
    uint32_t seq = 0;
    std::chrono::steady_clock::time_point start;
  };
  std::array<MonitorSlot, 4> monitor_slots_;
  uint32_t monitor_seq_ = 0;
  std::unordered_map<std::string, uint32_t> portal_monitor_;  // extended protocol: portal -> slot

  // Deadlock detection: when the current transaction began (steady clock, ns), and the servers
  // a cancel request for a distributed deadlock went to (their 57014 is answered as 40P01)
  // until their statement ends or they are released.
  int64_t tx_since_ = 0;
  std::vector<const backend::ServerConn*> deadlock_servers_;
  std::string rewritten_;

  // PlanGated is waiting for a fence to open; a cancel request sets the second flag, which
  // ends that wait with 57014 at its next poll.
  bool fence_waiting_ = false;
  bool fence_wait_cancelled_ = false;
  // Migration fences this session is inside (see PlanGated), by migration id.
  std::vector<std::pair<int64_t, std::shared_ptr<migration::Fence>>> fences_;
  // The map the transaction's first statement on a node was planned with, from then until the
  // transaction ends (null outside one): PlanGated compares where a statement's rows were then
  // with where they are now (MovedSinceSnapshot).
  std::shared_ptr<const catalog::ShardMap> snapshot_map_;
};

}  // namespace mosaic::frontend

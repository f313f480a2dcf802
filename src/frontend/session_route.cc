// Session routing: where each statement runs, scatter-gather over several nodes, COPY FROM
// routing, and ending transactions that span nodes.
// GCC 12 reports a false -Wmismatched-new-delete on large coroutine frames (asio's awaitable
// frame allocator); the allocation and deallocation are asio's own matched pair.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <charconv>
#include <thread>

#include "catalog/discovered_tables.h"
#include "catalog/pg_client.h"
#include "common/log.h"
#include "frontend/session.h"
#include "frontend/session_internal.h"
#include "protocol/reader.h"
#include "router/rewrite.h"
#include "router/sequences.h"

namespace mosaic::frontend {

using asio::awaitable;
using backend::ServerConn;
using backend::ServerStatement;
using protocol::Frame;
namespace be = protocol::be;
namespace fe = protocol::fe;
using sql::StatementType;

// The tag of the last CommandComplete among the protocol messages in `out` ("" if none).
std::string_view LastCommandTag(std::string_view out) {
  std::string_view tag;
  for (size_t pos = 0; pos + 5 <= out.size();) {
    const uint32_t len = (static_cast<uint32_t>(static_cast<unsigned char>(out[pos + 1])) << 24) |
                         (static_cast<uint32_t>(static_cast<unsigned char>(out[pos + 2])) << 16) |
                         (static_cast<uint32_t>(static_cast<unsigned char>(out[pos + 3])) << 8) |
                         static_cast<uint32_t>(static_cast<unsigned char>(out[pos + 4]));
    if (len < 4 || pos + 1 + len > out.size()) break;
    if (out[pos] == be::kCommandComplete) tag = out.substr(pos + 5, len - 4);
    pos += 1 + len;
  }
  return tag;
}

namespace {

constexpr int kSequenceStride = 64;  // at most 64 nodes hand out sequence values
// A node's rows a streamed k-way merge may queue while they wait for another node's; past it
// the node is not read until the merge moves on (WaitMergeTurn).
constexpr size_t kMergeBacklog = 256 << 10;

// "UPDATE 3" -> ("UPDATE", 3); "INSERT 0 5" -> ("INSERT 0", 5).
std::pair<std::string, int64_t> SplitTag(std::string_view tag) {
  if (!tag.empty() && tag.back() == '\0') tag.remove_suffix(1);
  size_t space = tag.rfind(' ');
  if (space == std::string_view::npos) return {std::string(tag), 0};
  int64_t n = 0;
  std::string_view num = tag.substr(space + 1);
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
  if (ec != std::errc() || p != num.data() + num.size()) return {std::string(tag), 0};
  return {std::string(tag.substr(0, space)), n};
}

// Unescapes one field of COPY text format. nullopt = NULL.
std::optional<std::string> TextField(std::string_view f, std::string_view null_string) {
  if (f == null_string) return std::nullopt;
  std::string out;
  out.reserve(f.size());
  for (size_t i = 0; i < f.size(); ++i) {
    char c = f[i];
    if (c != '\\' || i + 1 >= f.size()) {
      out.push_back(c);
      continue;
    }
    char n = f[++i];
    switch (n) {
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'v': out.push_back('\v'); break;
      case 'x': {
        int v = 0, digits = 0;
        while (digits < 2 && i + 1 < f.size() && std::isxdigit(static_cast<unsigned char>(f[i + 1]))) {
          char h = f[++i];
          v = v * 16 + (std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
          ++digits;
        }
        if (digits == 0) out.push_back('x');
        else out.push_back(static_cast<char>(v));
        break;
      }
      default:
        if (n >= '0' && n <= '7') {
          int v = n - '0';
          for (int k = 0; k < 2 && i + 1 < f.size() && f[i + 1] >= '0' && f[i + 1] <= '7'; ++k) v = v * 8 + (f[++i] - '0');
          out.push_back(static_cast<char>(v));
        } else {
          out.push_back(n);
        }
    }
  }
  return out;
}

// Splits one CSV record into raw fields; quoted fields are unquoted. `quoted[i]` tells whether
// field i was quoted (an unquoted field equal to the NULL string is NULL).
void CsvFields(std::string_view row, char delim, char quote, char escape,
               std::vector<std::string>* fields, std::vector<bool>* quoted) {
  fields->clear();
  quoted->clear();
  std::string cur;
  bool in_quotes = false, was_quoted = false;
  for (size_t i = 0; i < row.size(); ++i) {
    char c = row[i];
    if (in_quotes) {
      if (c == escape && i + 1 < row.size() && row[i + 1] == quote) {
        cur.push_back(quote);  // "" (or the ESCAPE character before a quote) is a literal quote
        ++i;
        continue;
      }
      if (c == quote) {
        in_quotes = false;
        continue;
      }
      cur.push_back(c);
      continue;
    }
    if (c == quote) {
      in_quotes = true;
      was_quoted = true;
      continue;
    }
    if (c == delim) {
      fields->push_back(std::move(cur));
      quoted->push_back(was_quoted);
      cur.clear();
      was_quoted = false;
      continue;
    }
    cur.push_back(c);
  }
  fields->push_back(std::move(cur));
  quoted->push_back(was_quoted);
}

// What SET SESSION CHARACTERISTICS AS TRANSACTION changes (one, two or all of them).
constexpr std::string_view kCharacteristics[] = {"default_transaction_isolation", "default_transaction_read_only",
                                                  "default_transaction_deferrable"};

// SET ROLE / SET SESSION AUTHORIZATION: refused outside SET LOCAL in transaction pooling
// (RefuseSessionRole), never adopted as a setting that follows the client.
bool SetsSessionRole(std::string_view name) { return name == "role" || name == "session_authorization"; }

}  // namespace

std::string CommandCompleteMessage(std::string_view tag) {
  std::string s;
  protocol::WriteCommandComplete(&s, tag);
  return s;
}

template <typename T>
awaitable<T> Session::OffThread(const std::function<T()>& job) {
  // `job` is copied before the first suspension (GCC 12 mishandles by-value parameters of
  // class type in coroutines when a temporary is passed).
  std::function<T()> fn = job;
  auto self = shared_from_this();
  auto timer = std::make_shared<asio::steady_timer>(client_.get_executor(), asio::steady_timer::time_point::max());
  auto result = std::make_shared<std::optional<T>>();
  std::thread([fn = std::move(fn), timer, result, ex = client_.get_executor()]() mutable {
    T r = fn();
    asio::post(ex, [timer, result, r = std::move(r)]() mutable {
      *result = std::move(r);
      timer->cancel();
    });
  }).detach();
  while (!result->has_value()) co_await timer->async_wait(use_tuple);
  co_return std::move(**result);
}

void Session::ApplyMergeSettings(router::MergeSpec* spec) const {
  auto style = params_.find("DateStyle");
  spec->iso_dates = style == params_.end() || style->second.starts_with("ISO");
  auto digits = params_.find("extra_float_digits");
  int n = 1;  // PostgreSQL's default
  if (block_float_digits_) {
    n = *block_float_digits_;  // a SET of the open block (not reported by the nodes)
  } else if (digits != params_.end()) {
    const std::string& v = digits->second;
    if (std::from_chars(v.data(), v.data() + v.size(), n).ec != std::errc()) n = 1;
  }
  spec->exact_floats = n >= 1;
  spec->float_digits = n;
}

router::TextOutput Session::HeldTextOutput() const {
  router::MergeSpec settings;
  ApplyMergeSettings(&settings);
  return {.iso_dates = settings.iso_dates, .exact_floats = settings.exact_floats};
}

bool Session::SessionUtc() const {
  auto it = params_.find("TimeZone");
  return it == params_.end() || router::IsUtcZone(it->second);
}

Result<router::UtilityRoute> Session::PlaceUtility(const sql::Analysis& a,
                                                  const std::vector<sql::Literal>& literals) const {
  router::Bound bound;
  bound.utc = SessionUtc();
  bound.literals = &literals;
  bound.temp_tables = &temp_tables_;
  return router::PlanUtility(*map_, a, bound);
}

awaitable<void> Session::RefreshTables() {
  if (TxStatus() != protocol::kTxIdle) {
    // The control plane reads the nodes over connections of its own, which cannot see what this
    // block has not committed: this session reads its tables through its own connection to the
    // default node for the rest of the block, and everyone's map is refreshed when it ends.
    refresh_tables_pending_ = true;
    co_await SeeTablesOfThisBlock();
    co_return;
  }
  if (!ctx_.refresh_tables) co_return;
  const std::function<Status()> job = ctx_.refresh_tables;
  Status s = co_await OffThread<Status>(job);
  if (!s.ok()) log::warn("refreshing tables after DDL failed: {}", s.message());
  RefreshMap();
}

awaitable<std::optional<std::string>> Session::ReadOnDefaultNode(const std::string& sql, const std::string& what) {
  auto read = std::make_shared<Gather>();
  read->mode = Gather::Mode::kWrite;
  const std::vector<int> nodes{map_->DefaultNode().id};
  const std::vector<std::string> sqls{sql};
  co_await Scatter(nodes, sqls, read);
  if (closing_) co_return std::nullopt;
  if (!read->error.empty()) {
    protocol::ErrorFields fields;
    (void)protocol::ParseErrorFields(std::string_view(read->error).substr(std::min<size_t>(read->error.size(), 5)), &fields);
    log::warn("client {}: reading {}: {}", pid_, what, fields.message);
    co_return std::nullopt;
  }
  co_return std::move(read->rows);
}

awaitable<void> Session::SeeTablesOfThisBlock() {
  if (tx_aborted_ || TxStatus() != protocol::kTxInBlock || closing_) co_return;
  const std::string sql(catalog::kTableDiscoverySql);
  const std::string what = "the tables of its transaction block";
  const std::optional<std::string> rows = co_await ReadOnDefaultNode(sql, what);
  if (!rows) co_return;
  std::vector<catalog::DiscoveredTable> tables;
  std::string_view rest = *rows;
  protocol::Frame f;
  size_t used = 0;
  while (framer_.Next(rest, &f, &used) == protocol::DecodeResult::kReady) {
    rest.remove_prefix(used);
    if (!catalog::AddDiscoveryDataRow(&tables, f.body)) co_return;
  }
  for (catalog::DiscoveredTable& t : tables) {
    t.tenant_column = ctx_.config.TenantColumnFor(t.schema, t.name);
    t.reference = ctx_.config.IsReferenceTable(t.schema, t.name);
  }
  map_ = catalog::ShardMapWithTables(*map_, tables);
  tables_of_block_ = true;
}

// ---------------------------------------------------------------------------------------------
// Simple-protocol statements

bool Session::Pipelinable(const sql::Analysis& a, const router::Route& route, uint64_t shape) const {
  return ctx_.config.pipeline_depth > 1 && ctx_.config.pool_mode == PoolMode::kTransaction &&
         a.type == StatementType::kSelect && a.simple_select && !a.locking && !a.has_volatile_functions &&
         !a.calls_functions && a.mosaic_function.empty() && !route.write && pending_.empty() &&
         LinkedCount() == 0 && !tx_block_ && !copy_in_ && fences_.empty() && worker_.FastShape(shape);
}

std::optional<Session::BindUnit> Session::PeekBindUnit(std::string_view portal, size_t from) {
  const std::string_view rest = std::string_view(in_.data() + in_start_, in_end_ - in_start_).substr(from);
  BindUnit unit;
  Frame f;
  auto next = [&] {
    size_t n = 0;
    if (framer_.Next(rest.substr(unit.size), &f, &n) != protocol::DecodeResult::kReady) return false;
    unit.size += n;
    return true;
  };
  if (!next()) return std::nullopt;
  if (f.type == fe::kDescribe) {
    protocol::DescribeMessage d;
    if (!protocol::ParseDescribe(f.body, &d).ok() || d.kind != 'P' || d.name != portal) return std::nullopt;
    unit.describe = f.raw;
    if (!next()) return std::nullopt;
  }
  protocol::ExecuteMessage e;
  if (f.type != fe::kExecute || !protocol::ParseExecute(f.body, &e).ok() || e.portal != portal || e.max_rows != 0) {
    return std::nullopt;
  }
  unit.execute = f.raw;
  if (!next() || f.type != fe::kSync) return std::nullopt;
  unit.sync = f.raw;
  return unit;
}

bool Session::MayDeferUnnamedParse(const ServerStatement& stmt) {
  // Only what Pipelinable may take; its route is known at Bind (a read's route is no write).
  if (!stmt.analysis || stmt.ddl || !Pipelinable(*stmt.analysis, router::Route{}, stmt.shape_hash)) return false;
  // A relation the map does not know (a typo, a table just dropped) goes to the default node
  // at once: its Parse fails there with PostgreSQL's 42P01 as over the simple protocol, or,
  // when the relation exists there (a view, ...), the Bind is refused as usual.
  if (router::NamesUnknownRelation(*map_, *stmt.analysis)) return false;
  const std::string_view rest(in_.data() + in_start_, in_end_ - in_start_);
  Frame f;
  size_t n = 0;
  if (framer_.Next(rest, &f, &n) != protocol::DecodeResult::kReady || f.type != fe::kBind) return false;
  protocol::BindHeader bind;
  if (!protocol::ParseBindHeader(f.body, &bind).ok() || !bind.statement.empty()) return false;
  return PeekBindUnit(bind.portal, n).has_value();
}

awaitable<bool> Session::BindShared(const catalog::Node& node, const std::shared_ptr<const ServerStatement>& stmt,
                                    const Frame& bind_frame, const protocol::BindHeader& bind, const BindUnit& unit,
                                    uint32_t monitor, Link** exclusive) {
  // Composed for the connection it joins, and what it will reply pushed at once: the replies
  // may come before this coroutine resumes.
  auto write = [&](ServerConn& conn) -> std::string_view {
    shared_out_.clear();
    if (stmt) {
      PrepareOn(conn, stmt, &shared_out_);
      protocol::WriteBindRenamed(&shared_out_, bind.portal, stmt->server_name, bind.rest);
    } else {
      UnnamedOn(conn, &shared_out_);
      shared_out_.append(bind_frame.raw);
    }
    Push({.op = Op::kBind, .server = &conn, .parsed = stmt});
    if (!unit.describe.empty()) {
      shared_out_.append(unit.describe);
      Push({.op = Op::kDescribe, .server = &conn});
    }
    shared_out_.append(unit.execute);
    Push({.op = Op::kExecute, .server = &conn, .monitor = monitor});
    shared_out_.append(unit.sync);
    Push({.op = Op::kSync, .server = &conn});
    return shared_out_;
  };
  auto link = co_await LinkShared(node, backend::NodePool::StatementWriter(write));
  if (!link.ok()) {
    SkipUntilSync(link.status());
    co_return true;
  }
  if (closing_) co_return true;
  if (link.value() == nullptr || !link.value()->shared) {
    *exclusive = link.value();
    co_return false;
  }
  in_start_ += unit.size;  // the unit's Describe, Execute and Sync are handled
  worker_.counters().Add(worker_.counters().statements_total);
  EndBatch();
  ++batch_seq_;  // its Sync ended the batch, as HandleSync's would (an error of it ends only it)
  SettleShared(*link.value());
  co_return true;
}

awaitable<Result<Session::Link*>> Session::LinkShared(const catalog::Node& node,
                                                      const backend::NodePool::StatementWriter& write) {
  KickWriter();  // the pool may keep us waiting: send the client batch's replies so far
  auto got = co_await worker_.pool(node).AcquireShared(weak_from_this(), this, params_generation_, write);
  if (!got.ok()) co_return got.status();
  if (!got.value().conn) co_return nullptr;
  Link& l = AdoptServer(node, std::move(got.value().conn));
  l.shared = got.value().shared;
  if (closing_) {  // the client left while we waited: a shared statement's replies are dropped
    ReleaseAll(true);
    co_return nullptr;
  }
  if (!l.shared) SyncParams(l);
  co_return &l;
}

void Session::SettleShared(Link& l) {
  if (l.server->close_notified()) {
    // It died between the pool writing our statement and our adopting it: its close notice
    // found no link then.
    OnServerClosed(*l.server, Status::Error(sqlstate::kConnectionFailure,
                                            fmt::format("lost the connection to node {}", l.server->node_id())));
    return;
  }
  MaybeRelease();  // its replies may all have come already
}

awaitable<bool> Session::RouteQuery(std::string_view sql_text, std::string_view raw, const sql::Analysis& a) {
  std::string query_msg;
  if (raw.empty()) {
    protocol::WriteQuery(&query_msg, sql_text);
    raw = query_msg;
  }
  auto forward_to = [&](Link& l) {
    AbortOnNodeBefore(a, l);
    l.server->unnamed_owner = nullptr;  // a simple query destroys the unnamed statement
    l.out.append(raw);
    SetCopyTarget(l.server.get());
    Push({.op = Op::kQuery, .server = l.server.get()});
  };
  auto forward_default = [&]() -> awaitable<bool> {
    // Statements without tables (SET, SHOW, utility, syntax errors) run on a node already in
    // the transaction, else on the default node.
    Link* target = nullptr;
    for (auto& link : links_) {
      if (link.server && (target == nullptr || link.server->tx_status == protocol::kTxFailed)) target = &link;
    }
    if (target == nullptr) {
      auto link = co_await LinkNode(map_->DefaultNode());
      if (!link.ok()) {
        FailQuery(link.status());
        co_return true;
      }
      target = link.value();
    }
    forward_to(*target);
    co_return true;
  };
  copy_target_ = nullptr;
  if (a.parse_error) co_return co_await forward_default();
  if (!RunsInAbortedTransaction(a) && TxStatus() == protocol::kTxFailed) {
    FailQuery(AbortedTransaction());
    co_return true;
  }

  if ((a.type == StatementType::kBegin || a.type == StatementType::kCommit || a.type == StatementType::kRollback ||
       a.type == StatementType::kSavepoint) &&
      !pending_.empty()) {
    // A client that sends several queries without waiting: what is still unanswered may change
    // the transaction's state (an error aborts it), and these act on that state.
    co_await FlushServers();
    co_await WaitPendingDrained();
  }
  switch (a.type) {
    case StatementType::kSet:
      // In either pool mode a client's SET holds for its statements on every node: outside a
      // block it is read back and set on every server the client has or borrows (TrackedSet),
      // inside one it runs on every node of the block (SetOnLinks).
      if (auto refused = RefuseSessionRole(a); !refused.ok()) {
        FailQuery(refused);
        co_return true;
      }
      if (!a.set_local && TxStatus() == protocol::kTxIdle && lexed_.statements <= 1 &&
          (!a.set_name.empty() || a.set_reset_all || a.set_session_characteristics)) {
        std::vector<std::string> names;
        if (a.set_session_characteristics) {
          names.assign(std::begin(kCharacteristics), std::end(kCharacteristics));
        } else if (!a.set_reset_all) {
          names.emplace_back(a.set_name);
        }
        co_return co_await TrackedSet(names, a.set_reset_all, raw);
      }
      if (SetsInBlock(a) && lexed_.statements <= 1) {
        sql::Lexed own;  // lexed_ stays this statement's
        const auto set = worker_.analysis_cache().Get(sql_text, &own);
        const std::string text(sql_text);
        co_return co_await SetOnLinks(set, text, false);
      }
      if (!a.set_local) {
        const bool ok = co_await forward_default();
        if (!pending_.empty() && pending_.back().op == Op::kQuery && pending_.back().server != nullptr) {
          backend::ServerConn& server = *pending_.back().server;
          NoteRelayedSet(a, server);
          if (Link* l = FindLink(&server)) NoteBlockSet(a, *l);
        }
        co_return ok;
      }
      co_return co_await forward_default();
    case StatementType::kEmpty:
    case StatementType::kShow:
    case StatementType::kTwoPhase:
      co_return co_await forward_default();
    case StatementType::kUtility: {
      if (a.discards_temp) {
        temp_stale_ = true;
        held_cursors_.clear();  // DISCARD ALL closes every cursor
      }
      if (a.utility == sql::UtilityKind::kDeclareCursor || a.utility == sql::UtilityKind::kCursorUse) {
        if (const std::optional<bool> held = co_await HeldCursor(a, sql_text)) co_return *held;
      }
      if (a.deallocate && TxStatus() != protocol::kTxFailed) {  // failed: 25P02 from the node
        if (a.deallocate_name.empty()) {
          statements_.clear();  // and the node drops the SQL-level ones
        } else if (statements_.count(a.deallocate_name)) {
          Deallocate(a, /*extended=*/false);
          co_return true;
        }
      }
      Status refused;
      bool write = false;
      bool every_node = false;
      const int node = UtilityNode(a, &refused, &write, &every_node);
      if (!refused.ok()) {
        FailQuery(refused);
        co_return true;
      }
      if (every_node && TxStatus() != protocol::kTxIdle) {  // outside a block: 25P01 from the node
        const std::vector<int> all = AllNodes();
        Frame f;
        f.raw = raw;
        co_return co_await Broadcast(f, all);
      }
      NoteCursor(a, node);
      if (a.utility == sql::UtilityKind::kCursorUse && node < 0 && LinkedCount() > 1) {  // CLOSE ALL
        const std::vector<int> linked = LinkedNodes();
        Frame f;
        f.raw = raw;
        co_return co_await Broadcast(f, linked);
      }
      if (node < 0) co_return co_await forward_default();
      auto link = co_await LinkNode(*map_->FindNode(node));
      if (!link.ok()) {
        FailQuery(link.status());
        co_return true;
      }
      if (write && TxStatus() != protocol::kTxIdle) link.value()->wrote = true;
      forward_to(*link.value());
      co_return true;
    }
    case StatementType::kBegin: {
      BeginBlock(a, sql_text);
      Push({.op = Op::kRfq});
      co_return true;
    }
    case StatementType::kCommit:
    case StatementType::kRollback:
      WarnIfNoTransaction();
      hold_output_ = refresh_tables_pending_;  // released by RefreshTablesIfPending
      co_await EndTransaction(a.type == StatementType::kCommit, /*implicit=*/false);
      Push({.op = Op::kRfq});
      MaybeRelease();
      if (refresh_tables_pending_) co_await RefreshTablesIfPending();
      ReleaseOutput();
      co_return !closing_;
    case StatementType::kSavepoint: {
      if (!co_await LinkDefaultIfNone(/*extended=*/false)) co_return true;
      const std::vector<int> linked = LinkedNodes();
      Frame f;
      f.raw = raw;
      // Back to before the error, on every node and here (before the reply's ReadyForQuery is
      // made; a node that fails it is in state 'E' itself).
      // (The block's SETs are read back at COMMIT: what the savepoint undid reads as undone.)
      if (a.rollback_to) tx_aborted_ = false;
      const bool ok = co_await Broadcast(f, linked);
      if (!broadcast_error_) {
        block_log_.push_back({.text = std::string(sql_text), .savepoint = true});
        co_await RereadAfterRollbackTo(a);
      }
      co_return ok;
    }
    case StatementType::kMaintenance: {
      Frame f;
      f.raw = raw;
      const TempUse use = TempDdlOf(a);
      if (use != TempUse::kNone) {
        const Status refused = RefuseTempDdl(a, use, lexed_.literals);
        co_return co_await RunTempDdl(f, refused);
      }
      const std::vector<int> all = AllNodes();
      co_return co_await Broadcast(f, all);
    }
    case StatementType::kDdl: {
      const TempUse use = TempDdlOf(a);
      if (use != TempUse::kNone) {
        Frame f;
        f.raw = raw;
        const Status refused = RefuseTempDdl(a, use, lexed_.literals);
        co_return co_await RunTempDdl(f, refused);
      }
      if (auto refused = CheckDdlDuringMigrations(a); !refused.ok()) {
        FailQuery(refused);
        co_return true;
      }
      Status refused_create_as;
      UtilityNode(a, &refused_create_as);  // CREATE TABLE AS
      if (!refused_create_as.ok()) {
        FailQuery(refused_create_as);
        co_return true;
      }
      worker_.counters().Add(worker_.counters().ddl_broadcasts_total);
      const std::vector<int> all = AllNodes();
      Frame f;
      f.raw = raw;
      const bool implicit = TxStatus() == protocol::kTxIdle && !a.ddl_concurrently && map_->nodes.size() > 1;
      if (!implicit) {
        const bool ok = co_await Broadcast(f, all);
        for (auto& link : links_) {
          if (link.server && TxStatus() != protocol::kTxIdle) link.wrote = true;
        }
        if (!broadcast_error_ && TxStatus() == protocol::kTxInBlock) co_await StripeSequences();
        if (!broadcast_error_ && a.ddl_changes_tables) co_await RefreshTables();
        co_return ok;
      }
      // Outside a transaction block: one transaction per node, committed on all (two-phase)
      // or rolled back on all, so a DDL that fails on one node changes none.
      BeginImplicit();
      broadcast_error_ = false;
      bool first = true;
      for (int id : all) {
        auto link = co_await LinkNode(*map_->FindNode(id));
        if (!link.ok()) {
          QueueError(link.status());
          broadcast_error_ = true;
          break;
        }
        Link& l = *link.value();
        l.server->unnamed_owner = nullptr;
        l.out.append(raw);
        l.wrote = true;
        Push({.op = Op::kQuery, .server = l.server.get(), .forward = first, .forward_rfq = false, .replica = !first});
        first = false;
        if (!co_await FlushServers()) co_return false;
        co_await WaitPendingDrained();
        if (broadcast_error_ || closing_) break;
      }
      if (!broadcast_error_) co_await StripeSequences();
      const bool ok = !broadcast_error_;
      co_await EndTransaction(ok, /*implicit=*/true);
      Push({.op = Op::kRfq});
      MaybeRelease();
      if (ok && a.ddl_changes_tables) co_await RefreshTables();
      co_return !closing_;
    }
    default:
      break;
  }

  if (!a.mosaic_function.empty()) {
    co_await MosaicFunction(a, lexed_);
    co_return !closing_;
  }

  // Reads and writes of rows.
  if (TxStatus() == protocol::kTxFailed) co_return co_await forward_default();  // 25P02 from the node
  if (a.only_setval && map_->nodes.size() > 1 && lexed_.statements <= 1) {
    if (const std::optional<bool> done = co_await SetvalOnNodes(a)) co_return *done;
    co_return co_await forward_default();
  }
  if (a.only_set_config && SettingsBlock() && lexed_.statements <= 1) {
    co_return co_await SetConfigOnLinks(a, sql_text, raw);
  }
  if (a.only_set_config && !tx_block_ && TxStatus() == protocol::kTxIdle && lexed_.statements <= 1) {
    // Session settings as a SET's: they follow the client, and leave the server with it.
    router::Bound names_bound;
    names_bound.literals = &lexed_.literals;
    std::vector<std::string> names;
    const bool tracked = SetConfigNames(a, names_bound, &names);
    if (auto refused = RefuseSetConfigRole(names); !refused.ok()) {
      FailQuery(refused);
      co_return true;
    }
    if (tracked) co_return co_await TrackedSet(names, false, raw);
  }
  router::Bound bound;
    bound.utc = SessionUtc();
  bound.literals = &lexed_.literals;
  auto planned = co_await PlanGated(a, bound, sql_text);
  if (!planned.ok() && planned.status().sqlstate() == router::kUnknownRelation) {
    // A relation the map does not know: if the default node does not know it either, let the
    // node report 42P01; if it exists there (a view, sequence, ...), refuse, except a read of
    // a sequence or of Mosaic's own tables (pg_dump reads both).
    std::string probe =
        "SELECT c.relkind, n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON "
        "n.oid = c.relnamespace WHERE false";
    size_t unknown = 0;
    for (const auto& ref : a.tables) {
      if (router::ResolveTable(*map_, ref) != nullptr) continue;
      ++unknown;
      std::string name = ref.schema.empty() ? ref.name : ref.schema + "." + ref.name;
      std::string quoted;
      for (char ch : name) {
        if (ch == '\'') quoted.push_back('\'');
        quoted.push_back(ch);
      }
      probe += fmt::format(" OR c.oid = pg_catalog.to_regclass('{}')", quoted);
    }
    auto check = std::make_shared<Gather>();
    check->mode = Gather::Mode::kWrite;
    const std::vector<int> probe_nodes{map_->DefaultNode().id};
    const std::vector<std::string> probe_sql{probe};
    co_await Scatter(probe_nodes, probe_sql, check);
    if (check->error.empty() && check->rows.empty()) {
      if (TxStatus() == protocol::kTxIdle) MaybeRelease();
      co_return co_await forward_default();
    }
    // (relkind, schema, name) of each relation found.
    std::vector<std::array<std::string, 3>> found;
    ForEachMessage(check->rows, [&](char type, std::string_view body) {
      std::vector<std::optional<std::string_view>> values;
      if (type != protocol::be::kDataRow || !ReadDataRow(body, &values) || values.size() != 3) return;
      found.push_back({std::string(values[0].value_or("")), std::string(values[1].value_or("")),
                       std::string(values[2].value_or(""))});
    });
    const bool reads = (a.type == StatementType::kSelect && !a.locking) || a.type == StatementType::kCopyTo;
    const bool all_own = check->error.empty() && found.size() == unknown &&
                         std::all_of(found.begin(), found.end(), [](const auto& f) { return f[1] == "_mosaic"; });
    if (reads && all_own && unknown == a.tables.size()) {
      // Mosaic's own bookkeeping on the default node (_mosaic.local_decisions): read there.
      co_return co_await forward_default();
    }
    if (check->error.empty() && a.type == StatementType::kSelect && !a.locking && a.tables.size() == 1 &&
        found.size() == 1 && found[0][0] == "S") {
      // Each node has its own copy of a sequence, handing out its own stripe of values
      // (StripeSequences): a read of it is answered by the node whose copy went furthest, so
      // that pg_dump's setval after restoring lies past every value handed out.
      auto node = co_await FurthestSequenceNode(found[0][1], found[0][2]);
      if (!node.ok()) {
        FailQuery(node.status());
        co_return true;
      }
      auto link = co_await LinkNode(*map_->FindNode(node.value()));
      if (!link.ok()) {
        FailQuery(link.status());
        co_return true;
      }
      forward_to(*link.value());
      co_return true;
    }
    FailQuery(Status::Unsupported(planned.status().message()));
    MaybeRelease();
    co_return true;
  }
  if (!planned.ok() && Subplannable(a, planned.status()) && lexed_.statements <= 1) {
    co_return co_await RouteSubplanned(sql_text);
  }
  if (!planned.ok() && WriteSubplannable(a, planned.status()) && lexed_.statements <= 1 && !batch_open_) {
    const Status refused = planned.status();
    co_return co_await RouteWriteSubplanned(sql_text, refused);
  }
  if (!planned.ok()) {
    worker_.counters().Add(worker_.counters().errors_total);
    FailQuery(planned.status());
    co_return true;
  }
  const router::Route& route = planned.value();
  if (route.insert_select_through) {
    const uint32_t monitor = MonitorBegin(a, bound, route, lexed_.shape_hash, sql_text, lexed_.literals);
    co_return co_await InsertSelectThrough(sql_text, a, monitor);
  }
  const bool in_tx = TxStatus() != protocol::kTxIdle;

  if (route.nodes.size() == 1 && lexed_.statements <= 1 && !batch_open_ && Pipelinable(a, route, lexed_.shape_hash)) {
    const catalog::Node& node = *map_->FindNode(route.nodes[0]);
    // What it will reply is pushed when it is written: the replies may come before this
    // coroutine resumes.
    const uint64_t shape = lexed_.shape_hash;
    auto write = [&](ServerConn& conn) -> std::string_view {
      conn.unnamed_owner = nullptr;  // a simple query destroys the unnamed statement
      Push({.op = Op::kQuery, .server = &conn});
      pending_.back().monitor = MonitorBegin(a, bound, route, shape, sql_text, lexed_.literals);
      return raw;
    };
    auto link = co_await LinkShared(node, backend::NodePool::StatementWriter(write));
    if (!link.ok()) {
      FailQuery(link.status());
      co_return true;
    }
    if (closing_) co_return false;
    if (Link* l = link.value()) {
      if (l->shared) {
        SettleShared(*l);
      } else {
        forward_to(*l);
        pending_.back().monitor = MonitorBegin(a, bound, route, lexed_.shape_hash, sql_text, lexed_.literals);
      }
      co_return true;
    }
  }
  if (route.nodes.size() == 1) {
    auto link = co_await LinkNode(*map_->FindNode(route.nodes[0]));
    if (!link.ok()) {
      FailQuery(link.status());
      co_return true;
    }
    if (route.write && in_tx) link.value()->wrote = true;
    forward_to(*link.value());
    pending_.back().monitor = MonitorBegin(a, bound, route, lexed_.shape_hash, sql_text, lexed_.literals);
    co_return true;
  }

  // Several nodes.
  worker_.counters().Add(worker_.counters().multi_node_statements_total);
  if (a.type == StatementType::kCopyFrom) co_return co_await StartCopyIn(a, sql_text, route);
  if (a.type == StatementType::kCopyTo && a.copy_query) co_return co_await CopyQueryOut(sql_text, a, route.nodes[0]);
  auto gather = std::make_shared<Gather>();
  gather->monitor = MonitorBegin(a, bound, route, lexed_.shape_hash, sql_text, lexed_.literals);
  std::vector<std::string> sqls;
  if (a.type == StatementType::kSelect) {
    auto scatter = router::RewriteSelect(sql_text, a, bound, *map_);
    if (!scatter.ok() && Subplannable(a, scatter.status()) && lexed_.statements <= 1) {
      co_return co_await RouteSubplanned(sql_text);
    }
    if (!scatter.ok()) {
      FailQuery(scatter.status());
      co_return true;
    }
    gather->mode = Gather::Mode::kMerge;
    ApplyMergeSettings(&scatter.value().spec);
    gather->merger = std::make_unique<router::Merger>(std::move(scatter.value().spec),
                                                      static_cast<int>(route.nodes.size()));
    if (gather->merger->Streamable()) gather->merger->Stream(/*with_description=*/true);
    sqls.assign(route.nodes.size(), scatter.value().sql);
  } else if (a.type == StatementType::kCopyTo) {
    gather->mode = Gather::Mode::kCopyOut;
    gather->copy_header = a.copy_header;
    gather->header_seen.assign(route.nodes.size(), false);
    if (a.copy_format == "binary") {
      gather->binary_copy = std::make_unique<router::BinaryCopyJoin>(static_cast<int>(route.nodes.size()));
    }
    sqls.assign(route.nodes.size(), std::string(sql_text));
  } else if (a.type == StatementType::kInsert || a.type == StatementType::kUpdate ||
             a.type == StatementType::kDelete) {
    SetUpWrite(*gather, a, route);
    for (size_t i = 0; i < route.nodes.size(); ++i) {
      sqls.push_back(route.insert_rows.empty() ? std::string(sql_text)
                                               : router::InsertWithRows(sql_text, a, route.insert_rows[i]));
    }
  } else {
    FailQuery(Status::Unsupported(
        "this statement would run on several nodes and Mosaic cannot combine its results (e.g. "
        "SELECT ... FOR UPDATE over several nodes); filter it to one tenant or range"));
    co_return true;
  }

  const bool implicit = route.write && !in_tx;
  if (implicit) BeginImplicit();  // one transaction per node, committed together below
  co_await Scatter(route.nodes, sqls, gather);
  if (route.write) {
    for (int id : route.nodes) {
      for (size_t i = 0; i < map_->nodes.size(); ++i) {
        if (map_->nodes[i].id == id && links_[i].server) links_[i].wrote = true;
      }
    }
  }
  const bool failed = !gather->error.empty() || !gather->merge_error.ok();
  if (implicit) {
    // Results are held until the commit succeeded, so a failed commit is not reported after
    // rows that were never committed.
    co_await EndTransaction(!failed, /*implicit=*/true);
    if (!broadcast_error_ || failed) FinishGather(*gather);
  } else {
    FinishGather(*gather);
  }
  Push({.op = Op::kRfq});
  MaybeRelease();
  co_return !closing_;
}

awaitable<Result<int>> Session::FurthestSequenceNode(const std::string& schema, const std::string& name) {
  const std::string sql = fmt::format(
      "SELECT last_value FROM pg_catalog.pg_sequences WHERE schemaname = {} AND sequencename = {}",
      catalog::pg::QuoteLiteral(schema), catalog::pg::QuoteLiteral(name));
  int furthest = map_->DefaultNode().id;
  std::optional<int64_t> most;
  for (const auto& node : map_->nodes) {
    auto read = std::make_shared<Gather>();
    read->mode = Gather::Mode::kWrite;
    const std::vector<int> nodes{node.id};
    const std::vector<std::string> sqls{sql};
    co_await Scatter(nodes, sqls, read);
    if (closing_) co_return Status::Error(sqlstate::kConnectionFailure, "the session is ending");
    if (!read->error.empty()) {
      protocol::ErrorFields fields;
      (void)protocol::ParseErrorFields(std::string_view(read->error).substr(std::min<size_t>(read->error.size(), 5)), &fields);
      co_return Status::Error(sqlstate::kConnectionFailure,
                              fmt::format("reading sequence \"{}.{}\" on node {}, whose copy of it may be the furthest: {}",
                                          schema, name, node.id, fields.message));
    }
    ForEachMessage(read->rows, [&](char type, std::string_view body) {
      std::vector<std::optional<std::string_view>> values;
      int64_t value = 0;
      if (type != protocol::be::kDataRow || !ReadDataRow(body, &values) || values.size() != 1 || !values[0]) return;
      const auto [end, ec] = std::from_chars(values[0]->data(), values[0]->data() + values[0]->size(), value);
      if (ec == std::errc() && (!most || value > *most)) {
        most = value;
        furthest = node.id;
      }
    });
  }
  co_return furthest;
}

awaitable<std::optional<bool>> Session::SetvalOnNodes(const sql::Analysis& a) {
  const std::vector<sql::Literal>& literals = lexed_.literals;
  auto literal = [&](const sql::ValueRef& v) -> const sql::Literal* {
    const bool ok = v.kind == sql::ValueRef::Kind::kLiteral && v.index >= 0 && static_cast<size_t>(v.index) < literals.size();
    return ok ? &literals[static_cast<size_t>(v.index)] : nullptr;
  };
  const sql::Literal* name = literal(a.setval_sequence);
  const sql::Literal* number = literal(a.setval_value);
  int64_t value = 0;
  const bool parsed = number != nullptr && number->kind == sql::Literal::Kind::kNumber &&
                      std::from_chars(number->value.data(), number->value.data() + number->value.size(), value).ec ==
                          std::errc();
  if (name == nullptr || name->kind != sql::Literal::Kind::kString || !parsed || a.setval_called < 0 ||
      !a.setval_value.cast.empty()) {
    FailQuery(Status::Unsupported(
        "setval over several nodes takes the sequence's name and the value as constants "
        "(setval('s', 42) or setval('s', 42, false)): Mosaic sets each node's copy of the sequence"));
    co_return true;
  }
  if (a.setval_value.negate) value = -value;
  const bool called = a.setval_called != 0;
  // The stripe it was given (StripeSequences), read on the default node.
  const std::string sql = fmt::format(
      "SELECT s.seqincrement FROM pg_catalog.pg_sequence s WHERE s.seqrelid = pg_catalog.to_regclass({})",
      catalog::pg::QuoteLiteral(name->value));
  const std::string what = "a sequence's increment";
  const std::optional<std::string> rows = co_await ReadOnDefaultNode(sql, what);
  if (closing_) co_return false;
  std::optional<int64_t> increment;
  ForEachMessage(rows.value_or(""), [&](char type, std::string_view body) {
    std::vector<std::optional<std::string_view>> values;
    int64_t n = 0;
    if (type != protocol::be::kDataRow || !ReadDataRow(body, &values) || values.size() != 1 || !values[0]) return;
    if (std::from_chars(values[0]->data(), values[0]->data() + values[0]->size(), n).ec == std::errc()) increment = n;
  });
  if (!increment) co_return std::nullopt;  // not a sequence there: the node reports it
  std::vector<int> nodes;
  std::vector<std::string> sqls;
  for (size_t i = 0; i < map_->nodes.size(); ++i) {
    router::StripedSetval set{value, called};
    if (*increment == kSequenceStride) set = router::SetvalInStripe(value, called, static_cast<int>(i) + 1, kSequenceStride);
    nodes.push_back(map_->nodes[i].id);
    sqls.push_back(fmt::format("SELECT pg_catalog.setval({}, {}, {})", catalog::pg::QuoteLiteral(name->value),
                               set.value, set.called ? "true" : "false"));
  }
  auto g = std::make_shared<Gather>();
  g->mode = Gather::Mode::kWrite;
  co_await Scatter(nodes, sqls, g);
  if (closing_) co_return false;
  if (!g->error.empty()) {
    worker_.counters().Add(worker_.counters().errors_total);
    Emit(g->error);
  } else {
    // PostgreSQL's reply: setval returns the value it was given.
    constexpr int32_t kInt8Oid = 20;
    std::string out;
    protocol::WriteValueRowDescription(&out, "setval", kInt8Oid, 8);
    const std::string text = std::to_string(value);
    protocol::WriteDataRow(&out, {std::string_view(text)});
    protocol::WriteCommandComplete(&out, "SELECT 1");
    Emit(out);
  }
  Push({.op = Op::kRfq});
  MaybeRelease();
  co_return !closing_;
}

void Session::SetUpWrite(Gather& g, const sql::Analysis& a, const router::Route& route) {
  g.mode = Gather::Mode::kWrite;
  g.replicated = !route.tables.empty() && route.tables[0] != nullptr &&
                 route.tables[0]->kind == catalog::TableKind::kReference;
  if (a.returning && !route.insert_rows.empty()) {
    g.returning_order = std::make_unique<router::ReturningOrder>(route.insert_rows);
  }
}

awaitable<void> Session::Scatter(const std::vector<int>& nodes, const std::vector<std::string>& sqls,
                                 std::shared_ptr<Gather> gather) {
  // Earlier replies first: the gathered result is emitted after them.
  co_await WaitPendingDrained();
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto link = co_await LinkNode(*map_->FindNode(nodes[i]));
    if (!link.ok()) {
      if (gather->error.empty()) protocol::WriteError(&gather->error, link.status());
      continue;
    }
    Link& l = *link.value();
    l.server->unnamed_owner = nullptr;
    protocol::WriteQuery(&l.out, sqls[i]);
    Push({.op = Op::kGather, .server = l.server.get(), .forward = false, .forward_rfq = false,
          .gather = gather, .source = static_cast<int>(i)});
  }
  if (!co_await FlushServers()) co_return;
  co_await WaitPendingDrained();
}

bool Session::FinishGather(Gather& g, bool with_description, std::string* held) {
  if (!g.error.empty()) {
    worker_.counters().Add(worker_.counters().errors_total);
    // A query that failed as it ran (division by zero) had its RowDescription sent first, as
    // PostgreSQL does; every node gets the same text, so one that failed at parse analysis
    // sent none, nor did the others. A streamed result may have sent it and rows already: the
    // error follows them, as PostgreSQL's when a row fails.
    if (with_description && g.merger && !g.merger->description_sent()) Emit(g.merger->ClientRowDescription());
    Emit(g.error);
    return false;
  }
  if (!g.merge_error.ok()) {
    EmitError(g.merge_error);
    return false;
  }
  std::string out;
  switch (g.mode) {
    case Gather::Mode::kMerge: {
      Status s = g.merger->Finish(&out, with_description);
      if (!s.ok()) {
        EmitError(s);
        return false;
      }
      break;
    }
    case Gather::Mode::kWrite:
      out = (with_description ? g.description : std::string()) + g.rows;
      if (g.returning_order) g.returning_order->Finish(&out);
      protocol::WriteCommandComplete(&out, fmt::format("{} {}", g.tag, g.count));
      break;
    case Gather::Mode::kCopyOut:
      if (g.binary_copy && g.binary_copy->started()) protocol::WriteCopyData(&out, router::BinaryCopyJoin::Trailer());
      if (g.copy_started) protocol::WriteEmpty(&out, be::kCopyDone);
      protocol::WriteCommandComplete(&out, fmt::format("COPY {}", g.count));
      break;
    case Gather::Mode::kCopyIn:
      protocol::WriteCommandComplete(&out, fmt::format("COPY {}", g.count));
      break;
  }
  if (g.monitor != 0) MonitorEndTag(g.monitor, LastCommandTag(out));
  if (held != nullptr) {
    *held = std::move(out);
  } else {
    Emit(out);
  }
  return true;
}

void Session::SendHeldRows(ScatterPortal& portal, int32_t max_rows) {
  std::string out;
  if (portal.held_sent == portal.held.size()) {
    protocol::WriteCommandComplete(&out, portal.exhausted_tag);  // PostgreSQL: a spent portal runs again with 0 rows
    Push({.op = Op::kSynthetic, .synthetic = std::move(out)});
    return;
  }
  int32_t rows = 0;
  std::string_view rest = std::string_view(portal.held).substr(portal.held_sent);
  while (rest.size() >= 5) {
    uint32_t length = 0;
    for (int i = 1; i <= 4; ++i) length = (length << 8) | static_cast<unsigned char>(rest[static_cast<size_t>(i)]);
    const size_t size = std::min<size_t>(rest.size(), size_t{length} + 1);
    if (max_rows > 0 && rows == max_rows) {  // PostgreSQL suspends even when no row is left
      protocol::WriteEmpty(&out, be::kPortalSuspended);
      break;
    }
    if (rest[0] == be::kDataRow) ++rows;
    if (rest[0] == be::kCommandComplete) {
      // Its count is this Execute's rows, as PostgreSQL's after a suspension.
      const std::string tag = SplitTag(rest.substr(5, size - 5)).first;
      portal.exhausted_tag = fmt::format("{} 0", tag);
      protocol::WriteCommandComplete(&out, fmt::format("{} {}", tag, rows));
    } else {
      out.append(rest.substr(0, size));
    }
    portal.held_sent += size;
    rest.remove_prefix(size);
  }
  Push({.op = Op::kSynthetic, .synthetic = std::move(out)});
}

void Session::EmitStreamed(Gather& g) {
  std::string ready;
  g.merger->TakeReady(&ready);
  if (!ready.empty() && g.error.empty() && g.merge_error.ok()) {
    Emit(ready);
    streamed_out_ = true;
  }
  if (merge_waiters_ > 0) merge_turn_.cancel();
}

awaitable<void> Session::WaitMergeTurn(ServerConn& server) {
  auto self = shared_from_this();
  // Streamed rows leave with each read batch, even while the client's message is handled
  // (in_client_batch_ keeps Mosaic's own replies for one send).
  if (std::exchange(streamed_out_, false)) KickWriter();
  while (!closing_) {
    bool blocked = false;
    auto it = FirstEntry(server, &blocked);
    if (it == pending_.end() || it->op != Op::kGather || !it->gather->merger) co_return;
    const Gather& g = *it->gather;
    if (!g.error.empty() || !g.merge_error.ok() || g.merger->queued_bytes(it->source) <= kMergeBacklog) co_return;
    // Woken by EmitStreamed and a node's error; the timeout is a safety net against a wake-up
    // missed. Setting the expiry would end the other waits: only the first waiter sets it (or
    // one that finds it passed, as every wait then ends anyway).
    if (merge_waiters_ == 0 || merge_turn_.expiry() <= std::chrono::steady_clock::now()) {
      merge_turn_.expires_after(std::chrono::milliseconds(100));
    }
    ++merge_waiters_;
    co_await merge_turn_.async_wait(use_tuple);
    --merge_waiters_;
  }
}

// A reply of one node's part of a gathered statement.
Status Session::MergeLimitExceeded() const {
  return Status::Error(sqlstate::kProgramLimitExceeded,
                       fmt::format("the rows of this statement over several nodes exceed max_merge_mb ({} MiB), which "
                                   "Mosaic may hold to combine them; narrow it (a filter, LIMIT, aggregates) or run it "
                                   "per node",
                                   ctx_.config.max_merge_mb));
}

bool Session::GatherFrame(Pending& p, ServerConn& server, const Frame& frame) {
  Gather& g = *p.gather;
  switch (frame.type) {
    case be::kErrorResponse: {
      if (g.error.empty()) {
        protocol::ErrorFields fields;
        if (protocol::ParseErrorFields(frame.body, &fields).ok() && fields.severity != "ERROR") {
          protocol::WriteErrorWithSeverity(&g.error, fields, protocol::Severity::kError);
        } else {
          g.error.assign(frame.raw);
        }
      }
      broadcast_error_ = true;
      if (merge_waiters_ > 0) merge_turn_.cancel();  // nodes paused by a streamed merge drain
      return false;
    }
    case be::kReadyForQuery: {
      char status = protocol::kTxIdle;
      if (!protocol::ParseReadyForQuery(frame.body, &status).ok()) {
        server.Close();
        return false;
      }
      server.tx_status = status;
      return true;
    }
    case be::kRowDescription: {
      const bool keep = g.mode == Gather::Mode::kMerge || (g.description.empty() && (!g.replicated || p.source == 0));
      if (!keep) return false;
      std::string translated;  // only another node's description is copied (to translate it)
      std::string_view raw = frame.raw;
      if (TranslatesOids(server)) {
        translated.assign(frame.raw);
        TranslateOids(server, std::span(translated).subspan(5));
        raw = translated;
      }
      if (g.mode == Gather::Mode::kMerge) {
        if (Status s = g.merger->Add(p.source, frame.type, raw.substr(5)); !s.ok() && g.merge_error.ok()) g.merge_error = s;
        if (g.merger->streaming()) EmitStreamed(g);
      } else {
        g.description.assign(raw);
      }
      return false;
    }
    case be::kDataRow:
      if (!g.merge_error.ok()) return false;  // failed already: the rest is not kept
      if (g.mode == Gather::Mode::kMerge) {
        if (Status s = g.merger->Add(p.source, frame.type, frame.body); !s.ok()) g.merge_error = s;
        if (g.merger->buffered_bytes() > static_cast<size_t>(ctx_.config.max_merge_mb) << 20) {
          g.merge_error = MergeLimitExceeded();
        }
        if (g.merger->streaming()) EmitStreamed(g);
      } else if (g.returning_order) {
        g.returning_order->Add(p.source, frame.raw);
      } else if (!g.replicated || p.source == 0) {
        g.rows.append(frame.raw);
        if (g.rows.size() > static_cast<size_t>(ctx_.config.max_merge_mb) << 20) g.merge_error = MergeLimitExceeded();
      }
      return false;
    case be::kCommandComplete:
      if (g.mode == Gather::Mode::kMerge) {
        if (Status s = g.merger->Add(p.source, frame.type, frame.body); !s.ok() && g.merge_error.ok()) g.merge_error = s;
        if (g.merger->streaming()) EmitStreamed(g);
      } else {
        auto [tag, n] = SplitTag(frame.body);
        if (g.tag.empty()) g.tag = tag;
        if (!g.replicated || p.source == 0) g.count += n;
        if (g.returning_order && !g.returning_order->Complete(p.source) && g.merge_error.ok()) {
          // Known before the implicit transaction commits: it rolls back instead.
          g.merge_error = Status::Unsupported(
              "INSERT ... RETURNING with rows for several nodes skipped some rows (ON CONFLICT DO UPDATE ... "
              "WHERE, or a trigger): Mosaic cannot return the rest in VALUES order; insert each node's rows "
              "separately, or drop RETURNING");
        }
      }
      return false;
    case be::kCopyOutResponse:
    case be::kCopyInResponse:
      if (!g.copy_started) {
        g.copy_started = true;
        Emit(frame.raw);
      }
      return false;
    case be::kCopyData:
      if (g.binary_copy) return CopyBinaryFrame(g, p.source, frame.body);
      if (g.copy_header && static_cast<size_t>(p.source) < g.header_seen.size() &&
          !g.header_seen[static_cast<size_t>(p.source)]) {
        g.header_seen[static_cast<size_t>(p.source)] = true;
        if (g.header_sent) return false;
        g.header_sent = true;
      }
      Emit(frame.raw);
      return false;
    default:
      return false;  // CopyDone, EmptyQueryResponse, ParseComplete, ...
  }
}

bool Session::CopyBinaryFrame(Gather& g, int source, std::string_view data) {
  std::string bytes;
  if (Status s = g.binary_copy->Add(source, data, &bytes); !s.ok() && g.merge_error.ok()) g.merge_error = s;
  if (bytes.empty()) return false;
  std::string out;
  protocol::WriteCopyData(&out, bytes);
  Emit(out);
  return false;
}

// Sequences (serial and identity columns) must never hand out the same value on two nodes: each
// new sequence on the node at position k (1-based, by node id) is made to yield k, k+64, k+128...
// A new one made with the stride as its increment (a sequence of a dump taken through Mosaic,
// restored through it) is striped too, unless it starts at its stripe already. Sequences
// striped before, with another increment or already used are left alone, and so are
// temporary ones: they live in one session on one node, and PostgreSQL refuses to PREPARE a
// transaction that touched one (or to read another session's).
awaitable<void> Session::StripeSequences() {
  if (map_->nodes.size() < 2) co_return;
  for (size_t i = 0; i < links_.size(); ++i) {
    Link& l = links_[i];
    if (!l.server) continue;
    const std::string sql = fmt::format(R"sql(DO $mosaic$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS seq, d.refobjid::regclass AS tab, a.attname, d.deptype
             FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid
             LEFT JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
             LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
            WHERE c.relkind = 'S' AND (s.seqincrement = 1 OR (s.seqincrement = {0} AND s.seqstart <> {1}))
              AND CASE WHEN c.relpersistence = 't' THEN false ELSE pg_sequence_last_value(c.oid) IS NULL END
              AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
  LOOP
    IF r.deptype = 'i' THEN
      EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET INCREMENT BY {0} SET START WITH {1} RESTART WITH {1}', r.tab, r.attname);
    ELSE
      EXECUTE format('ALTER SEQUENCE %s INCREMENT BY {0} START WITH {1} RESTART WITH {1}', r.seq);
    END IF;
  END LOOP;
END
$mosaic$)sql",
                                        kSequenceStride, i + 1);
    protocol::WriteQuery(&l.out, sql);
    Push({.op = Op::kQuery, .server = l.server.get(), .forward = false, .forward_rfq = false});
  }
  if (!co_await FlushServers()) co_return;
  co_await WaitPendingDrained();
}

// ---------------------------------------------------------------------------------------------
// Extended protocol over several nodes

bool Session::RefusedAfterBatchSet() {
  if (batch_set_texts_.empty() || tx_block_) return false;
  // Its nodes would run it without the batch's SET (read back and adopted at Sync).
  SkipUntilSync(Status::Unsupported(
      "a statement over several nodes after a SET in the same extended-protocol batch is not supported: "
      "send Sync after the SET (or SET inside a transaction block)"));
  return true;
}

bool Session::BindScatter(const sql::Analysis& a, const router::Route& route, const router::Bound& bound,
                          const backend::ServerStatement& stmt, std::string_view portal, std::string_view bind_rest,
                          std::string_view bind_body) {
  auto sp = std::make_shared<ScatterPortal>();
  sp->nodes = route.nodes;
  sp->bind_rest = std::string(bind_rest);
  sp->write = route.write;
  sp->returning = a.returning;
  sp->gather = std::make_shared<Gather>();
  if (RefusedAfterBatchSet()) return false;
  if (route.insert_select_through) {  // with RETURNING (HandleBind runs the others)
    SkipUntilSync(Status::Unsupported(
        "INSERT ... SELECT whose rows may go to other nodes than the ones it reads runs over the extended query "
        "protocol only without RETURNING; send it as a simple query"));
    return false;
  }
  if (a.type == StatementType::kSelect) {
    auto scatter = router::RewriteSelect(stmt.query, a, bound, *map_);
    if (!scatter.ok() && Subplannable(a, scatter.status())) return BindSubplanned(stmt, bound, portal, bind_body);
    if (!scatter.ok()) {
      SkipUntilSync(scatter.status());
      return false;
    }
    sp->gather->mode = Gather::Mode::kMerge;
    sp->bind_rest = router::NodeBindRest(scatter.value().spec, bind_rest);
    ApplyMergeSettings(&scatter.value().spec);
    sp->gather->merger = std::make_unique<router::Merger>(std::move(scatter.value().spec),
                                                          static_cast<int>(route.nodes.size()));
    sp->sqls.assign(route.nodes.size(), scatter.value().sql);
    sp->param_types.assign(route.nodes.size(), stmt.param_types);
  } else if (a.type == StatementType::kInsert || a.type == StatementType::kUpdate ||
             a.type == StatementType::kDelete) {
    SetUpWrite(*sp->gather, a, route);
    sp->param_types.assign(route.nodes.size(), stmt.param_types);
    for (size_t i = 0; i < route.nodes.size(); ++i) {
      sp->sqls.push_back(route.insert_rows.empty() ? stmt.query
                                                   : router::InsertWithRows(stmt.query, a, route.insert_rows[i]));
    }
  } else {
    SkipUntilSync(Status::Unsupported(
        "this statement would run on several nodes and Mosaic cannot combine its results over the "
        "extended protocol (COPY, SELECT ... FOR UPDATE); filter it to one tenant or range"));
    return false;
  }
  // Parameters a node's text no longer uses (LIMIT folded into a constant, rows of other nodes)
  // cannot have their type inferred there: declare them text (they are bound but unused).
  const int n = static_cast<int>(bound.params.size());
  for (size_t i = 0; i < sp->sqls.size(); ++i) {
    std::vector<bool> used(static_cast<size_t>(n) + 1, false);
    const std::string& text = sp->sqls[i];
    for (size_t k = 0; k + 1 < text.size(); ++k) {
      if (text[k] != '$' || !std::isdigit(static_cast<unsigned char>(text[k + 1]))) continue;
      int v = 0;
      size_t j = k + 1;
      while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])) && v <= n) v = v * 10 + (text[j++] - '0');
      if (v >= 1 && v <= n) used[static_cast<size_t>(v)] = true;
    }
    auto& types = sp->param_types[i];
    types.resize(static_cast<size_t>(n), 0);
    for (int k = 1; k <= n; ++k) {
      if (!used[static_cast<size_t>(k)] && types[static_cast<size_t>(k) - 1] == 0) types[static_cast<size_t>(k) - 1] = 25;
    }
  }
  scatter_portals_[std::string(portal)] = std::move(sp);
  Push({.op = Op::kSynthetic, .synthetic = EmptyMessage(be::kBindComplete)});
  return true;
}

awaitable<bool> Session::RunScatterPortal(ScatterPortal& sp) {
  co_await RunScatterPortalOnce(sp);
  if (!sp.failed) co_return true;
  if (!sp.error_sent) FinishGather(*sp.gather, false);  // emits the error
  sp.error_sent = true;
  skip_until_sync_ = true;
  co_return false;
}

awaitable<void> Session::RunScatterPortalOnce(ScatterPortal& sp) {
  if (sp.ran) co_return;
  sp.ran = true;
  co_await WaitPendingDrained();
  if (skip_until_sync_) {
    // An earlier message of the batch failed meanwhile (its error went to the client): the
    // batch skips to Sync, as PostgreSQL does, and this portal does not run.
    sp.failed = true;
    sp.error_sent = true;
    co_return;
  }
  worker_.counters().Add(worker_.counters().multi_node_statements_total);
  const bool implicit = sp.write && TxStatus() == protocol::kTxIdle;
  if (implicit) BeginImplicit();
  for (size_t i = 0; i < sp.nodes.size(); ++i) {
    auto link = co_await LinkNode(*map_->FindNode(sp.nodes[i]));
    if (!link.ok()) {
      if (sp.gather->error.empty()) protocol::WriteError(&sp.gather->error, link.status());
      continue;
    }
    Link& l = *link.value();
    l.server->unnamed_owner = nullptr;  // our Parse replaces the server's unnamed statement
    if (sp.write) l.wrote = true;
    protocol::WriteParse(&l.out, "", sp.sqls[i], sp.param_types[i]);
    protocol::WriteBindRenamed(&l.out, "", "", sp.bind_rest);
    protocol::WriteDescribe(&l.out, 'P', "");
    protocol::WriteExecute(&l.out, "", 0);
    protocol::WriteSync(&l.out);
    Push({.op = Op::kGather, .server = l.server.get(), .forward = false, .forward_rfq = false,
          .gather = sp.gather, .source = static_cast<int>(i)});
  }
  if (!co_await FlushServers()) co_return;
  co_await WaitPendingDrained();
  sp.failed = !sp.gather->error.empty() || !sp.gather->merge_error.ok();
  // The implicit transaction is the batch's: the Sync ends it (PostgreSQL runs the messages up
  // to a Sync as one transaction), with whatever else the batch runs.
  if (implicit) batch_implicit_ = true;
}

// ---------------------------------------------------------------------------------------------
// Transactions

void Session::BeginImplicit() {
  tx_block_ = true;
  tx_aborted_ = false;
  implicit_tx_ = true;
  NoteTransactionStart();
  for (auto& link : links_) {
    if (!link.server || link.server->tx_status != protocol::kTxIdle) continue;
    protocol::WriteQuery(&link.out, "BEGIN");
    Push({.op = Op::kQuery, .server = link.server.get(), .forward = false, .forward_rfq = false});
  }
}

awaitable<bool> Session::ExecuteLocal(std::shared_ptr<const backend::ServerStatement> stmt, uint32_t monitor,
                                      int32_t max_rows, std::vector<int16_t> formats) {
  // What came before in the batch must have succeeded: PostgreSQL skips to Sync after an error.
  const bool flushed = co_await FlushServers();
  if (!flushed) co_return false;
  co_await WaitPendingDrained();
  if (skip_until_sync_ || closing_) co_return !closing_;
  const sql::StatementType type = stmt->analysis->type;
  if (type == sql::StatementType::kSavepoint) co_return co_await SavepointOnLinks(*stmt->analysis, stmt->query);
  if (type == sql::StatementType::kSet) co_return co_await SetOnLinks(stmt->analysis, stmt->query, /*extended=*/true);
  if (type == sql::StatementType::kBegin) {
    BeginBlock(*stmt->analysis, stmt->query);
    co_return true;
  }
  if (type == sql::StatementType::kUtility && stmt->analysis->utility == sql::UtilityKind::kDeclareCursor) {
    co_return co_await DeclareHeld(*stmt->analysis, stmt->query, /*extended=*/true);
  }
  if (type == sql::StatementType::kUtility && stmt->analysis->utility == sql::UtilityKind::kCursorUse) {
    UseHeld(*stmt->analysis, /*extended=*/true, max_rows, formats);
    co_return true;
  }
  if (type == sql::StatementType::kUtility && stmt->analysis->deallocate) {
    Deallocate(*stmt->analysis, /*extended=*/true);
    co_return true;
  }
  if (type == sql::StatementType::kUtility) co_return co_await LockOnEveryNode(*stmt);
  if (type == sql::StatementType::kInsert) {
    co_return co_await InsertSelectThrough(stmt->query, *stmt->analysis, monitor, /*extended=*/true);
  }
  if (type == sql::StatementType::kUpdate || type == sql::StatementType::kDelete) {
    co_return co_await ExecuteWriteSubplanned(stmt->query);
  }
  WarnIfNoTransaction();
  co_await EndTransaction(type == sql::StatementType::kCommit, /*implicit=*/false);
  if (broadcast_error_) skip_until_sync_ = true;  // a node's error went to the client
  MaybeRelease();
  co_return !closing_;
}

// DEALLOCATE of a statement the client prepared over the extended protocol: Mosaic holds it (its
// servers have it under Mosaic's own name, shared by shape), so it is dropped here, as
// PostgreSQL drops it. psycopg 3 sends one for each statement it evicts from its cache.
void Session::Deallocate(const sql::Analysis& a, bool extended) {
  Status failed;
  if (TxStatus() == protocol::kTxFailed) {
    failed = AbortedTransaction();
  } else if (statements_.erase(a.deallocate_name) == 0) {  // dropped since its Parse
    failed = Status::Error(sqlstate::kInvalidSqlStatementName,
                           fmt::format("prepared statement \"{}\" does not exist", a.deallocate_name));
  }
  if (!failed.ok()) {
    if (extended) {
      SkipUntilSync(failed);
    } else {
      FailQuery(failed);
    }
    return;
  }
  Push({.op = Op::kSynthetic, .synthetic = CommandCompleteMessage("DEALLOCATE")});
  if (!extended) Push({.op = Op::kRfq});
}

awaitable<bool> Session::LockOnEveryNode(const ServerStatement& stmt) {
  if (TxStatus() == protocol::kTxIdle) {  // no implicit block over the extended protocol
    SkipUntilSync(Status::Error(sqlstate::kNoActiveSqlTransaction, "LOCK TABLE can only be used in transaction blocks"));
    co_return true;
  }
  std::string query;
  protocol::WriteQuery(&query, stmt.query);
  Frame f;
  f.raw = query;
  const std::vector<int> all = AllNodes();
  const bool ok = co_await Broadcast(f, all, /*ready=*/false);
  if (broadcast_error_) skip_until_sync_ = true;  // a node's error went to the client
  co_return ok;
}

// BEGIN / START TRANSACTION touches no node: each node joins the block with its text when the
// transaction first needs it (LinkNode). A second one inside a block changes nothing, as in
// PostgreSQL, which warns.
void Session::BeginBlock(const sql::Analysis& a, std::string_view text) {
  if (implicit_tx_ && batch_implicit_) {
    // BEGIN inside a batch's implicit transaction makes it a block the Sync does not end.
    implicit_tx_ = false;
    batch_implicit_ = false;
  } else if (tx_block_ && !implicit_tx_) {
    PushWarning("25001", "there is already a transaction in progress");
  } else {
    MaybeRelease();  // servers left linked while idle go back to the pool first
    begin_text_ = std::string(text);
    tx_block_ = true;
    tx_aborted_ = false;
    NoteTransactionStart();
    // A server still linked (an open extended-protocol batch ran statements on it, or an
    // earlier batch's implicit transaction left it linked) would run the block's statements
    // outside the block, each committed at once: it joins the block now, as a server linked
    // later does (LinkNode).
    for (auto& link : links_) {
      if (!link.server || link.shared || link.server->tx_status != protocol::kTxIdle) continue;
      protocol::WriteQuery(&link.out, begin_text_);
      Push({.op = Op::kQuery, .server = link.server.get(), .forward = false, .forward_rfq = false});
    }
  }
  Push({.op = Op::kSynthetic, .synthetic = CommandCompleteMessage(a.start_transaction ? "START TRANSACTION" : "BEGIN")});
}

// COMMIT or ROLLBACK outside a transaction block: PostgreSQL warns (and answers the tag).
void Session::WarnIfNoTransaction() {
  if (tx_block_ || TxStatus() != protocol::kTxIdle) return;
  PushWarning("25P01", "there is no transaction in progress");
}

void Session::PushWarning(std::string_view sqlstate, std::string_view message) {
  std::string warning;
  protocol::WriteErrorResponse(&warning, protocol::Severity::kWarning, sqlstate, message);
  Push({.op = Op::kSynthetic, .synthetic = std::move(warning)});
}

awaitable<void> Session::RunOnLinks(const std::vector<Link*>& targets, const std::function<std::string(Link&)>& text,
                                    bool quiet) {
  for (Link* l : targets) {
    if (!l->server) continue;
    protocol::WriteQuery(&l->out, text(*l));
    Push({.op = Op::kQuery, .server = l->server.get(), .forward = false, .forward_rfq = false,
          .quiet = quiet});
  }
  co_await FlushServers();
  co_await WaitPendingDrained();
}

namespace {

// The setting `name` (any case) as a row of its canonical name and current value (NULL when
// there is none). A custom setting never defined by a module (app.tenant_id, as row-level
// security setups use) is not in pg_settings: its name as given.
std::string ReadSettingQuery(std::string_view name) {
  return fmt::format(
      "SELECT coalesce((SELECT name FROM pg_catalog.pg_settings WHERE lower(name) = {0}), {0}), "
      "pg_catalog.current_setting({0}, true)",
      Literal(name));
}

}  // namespace

awaitable<bool> Session::TrackedSet(const std::vector<std::string>& names, bool reset_all, std::string_view raw) {
  auto link = co_await LinkNode(map_->DefaultNode());
  if (!link.ok()) {
    FailQuery(link.status());
    co_return true;
  }
  Link& l = *link.value();
  l.out.append(raw);
  Push({.op = Op::kQuery, .server = l.server.get(), .forward_rfq = false});
  broadcast_error_ = false;
  co_await AdoptSetsAfter(l, names, reset_all, false);
  co_return !closing_;
}

bool Session::SetConfigNames(const sql::Analysis& a, const router::Bound& bound, std::vector<std::string>* names) {
  names->clear();
  for (const sql::ValueRef& v : a.set_config_names) {
    const std::optional<std::string> name = bound.Text(v);
    if (!name || name->empty()) return false;
    std::string lower = *name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (std::find(names->begin(), names->end(), lower) == names->end()) names->push_back(std::move(lower));
  }
  // A role is not a setting that follows the client (SetsSessionRole).
  return !names->empty() && std::none_of(names->begin(), names->end(), [](const std::string& n) {
    return SetsSessionRole(n);
  });
}

awaitable<void> Session::AdoptSetsAfter(Link& link, const std::vector<std::string>& names, bool reset_all,
                                        bool batch) {
  std::shared_ptr<ServerConn> server = link.server;
  server->unnamed_owner = nullptr;  // a simple Query drops the server's unnamed statement
  std::vector<std::shared_ptr<Gather>> reads;
  for (const auto& name : names) {
    auto read = std::make_shared<Gather>();
    read->mode = Gather::Mode::kWrite;
    protocol::WriteQuery(&link.out, ReadSettingQuery(name));
    Push({.op = Op::kGather, .server = server.get(), .forward = false, .forward_rfq = false, .gather = read});
    reads.push_back(std::move(read));
  }
  hold_links_ = true;  // the bookkeeping below is about this server: nobody else's yet
  co_await FlushServers();
  co_await WaitPendingDrained();
  hold_links_ = false;
  // broadcast_error_: set by an error of what the caller ran after it cleared it; a batch's
  // errors (its Execute's may have come before the Sync) are recorded by batch instead.
  const bool failed = batch ? BatchFailed(batch_seq_) : broadcast_error_;
  if (!failed && !server->closed()) {
    if (reset_all) {
      for (const auto& name : set_by_client_) params_.erase(name);
      set_by_client_.clear();
    }
    for (const auto& read : reads) AdoptSetting(read->rows, server.get());
    params_generation_ = worker_.GenerationOf(params_);
    server->params_synced_to = params_generation_;
  }
  Push({.op = Op::kRfq});
  SyncHeldLinks();
  MaybeRelease();
}

void Session::SyncHeldLinks() {
  if (ctx_.config.pool_mode != PoolMode::kSession) return;  // else they go back to the pool now
  for (auto& link : links_) {
    if (link.server && !link.shared) SyncParams(link);
  }
}

Status Session::RefuseSetConfigRole(const std::vector<std::string>& names) const {
  if (ctx_.config.pool_mode != PoolMode::kTransaction || std::none_of(names.begin(), names.end(), SetsSessionRole)) {
    return Status::OK();
  }
  return Status::Unsupported(
      "set_config of role or session_authorization outlives the transaction, and Mosaic runs each transaction on "
      "any server connection (pool_mode = \"transaction\"): call it with is_local true inside a transaction, or use "
      "pool_mode = \"session\"");
}

Status Session::RefuseSessionRole(const sql::Analysis& a) const {
  if (a.type != sql::StatementType::kSet || a.set_local || ctx_.config.pool_mode != PoolMode::kTransaction ||
      !SetsSessionRole(a.set_name) || a.set_value.empty() ||
      a.set_value == "none") {
    return Status::OK();
  }
  // A server connection serves many clients: the next one would run as that role, and one
  // without superuser may not switch back.
  const std::string_view what = a.set_name == "role" ? "ROLE" : "SESSION AUTHORIZATION";
  return Status::Unsupported(fmt::format(
      "SET {} outlives the transaction, and Mosaic runs each transaction on any server connection "
      "(pool_mode = \"transaction\"): use SET LOCAL {} inside a transaction, or pool_mode = \"session\"",
      what, what));
}

bool Session::CollectSet(const sql::Analysis& a, std::vector<std::string>* names, bool* reset_all) {
  using sql::StatementType;
  if (a.type == StatementType::kBegin || a.type == StatementType::kCommit || a.type == StatementType::kRollback ||
      a.type == StatementType::kSavepoint || a.type == StatementType::kTwoPhase ||
      a.type == StatementType::kCopyFrom || a.type == StatementType::kCopyTo) {
    return false;
  }
  if (a.type != StatementType::kSet || a.set_local) return true;
  auto add = [&](std::string_view name) {
    if (std::find(names->begin(), names->end(), name) == names->end()) names->emplace_back(name);
  };
  if (a.set_reset_all) {
    names->clear();
    *reset_all = true;
  } else if (a.set_session_characteristics) {
    for (std::string_view name : kCharacteristics) add(name);
  } else if (!a.set_name.empty() && !SetsSessionRole(a.set_name)) {
    add(a.set_name);
  }
  return true;
}

void Session::NoteBatchSet(const sql::Analysis& a, size_t link, const std::vector<std::string>& set_config) {
  using sql::StatementType;
  const bool sets = a.type == StatementType::kSet || !set_config.empty();
  // Rows read or written: nothing to note (CollectSet takes them), and no walk over the links.
  if ((!sets && (a.type == StatementType::kSelect || a.type == StatementType::kInsert ||
                 a.type == StatementType::kUpdate || a.type == StatementType::kDelete)) ||
      tx_block_ || TxStatus() != protocol::kTxIdle) {
    return;
  }
  if (!CollectSet(a, &batch_sets_, &batch_reset_all_)) batch_sets_off_ = true;
  for (const auto& name : set_config) {
    if (std::find(batch_sets_.begin(), batch_sets_.end(), name) == batch_sets_.end()) batch_sets_.push_back(name);
  }
  if (!sets) return;
  if (batch_set_link_ != SIZE_MAX && batch_set_link_ != link) batch_sets_off_ = true;
  batch_set_link_ = link;
}

void Session::ReplayBatchSets(size_t index) {
  if (batch_set_texts_.empty() || tx_block_) return;
  if (batch_set_sent_.size() < links_.size()) batch_set_sent_.resize(links_.size(), 0);
  Link& l = links_[index];
  for (size_t& sent = batch_set_sent_[index]; sent < batch_set_texts_.size(); ++sent) {
    const BatchSet& set = batch_set_texts_[sent];
    if (set.link == index) continue;  // it ran here
    l.server->unnamed_owner = nullptr;  // our Parse replaces the server's unnamed statement
    protocol::WriteParse(&l.out, "", set.text, {});
    Push({.op = Op::kParse, .server = l.server.get(), .forward = false});
    protocol::WriteBindRenamed(&l.out, "", "", std::string_view("\0\0\0\0\0\0", 6));  // no parameters
    Push({.op = Op::kBind, .server = l.server.get(), .forward = false});
    protocol::WriteExecute(&l.out, "", 0);
    Push({.op = Op::kExecute, .server = l.server.get(), .forward = false});
    NoteRelayedSet(*set.analysis, *l.server);  // unknown there unless the batch's Sync adopts it
  }
}

void Session::AdoptSetting(std::string_view data_row, ServerConn* server) {
  std::vector<std::optional<std::string_view>> columns;
  if (!ReadDataRow(data_row.substr(std::min<size_t>(data_row.size(), 5)), &columns) || columns.size() != 2 ||
      !columns[0] || !columns[1]) {
    return;
  }
  const std::string_view name = *columns[0], value = *columns[1];
  params_[std::string(name)] = std::string(value);
  if (server == nullptr || !server->params.contains(name) || server->explicit_params.contains(name)) {
    set_by_client_.insert(std::string(name));  // not one the server reports
  }
  if (server != nullptr) {
    server->params[std::string(name)] = std::string(value);
    server->explicit_params[std::string(name)] = std::string(value);
  }
}

void Session::NoteRelayedSet(const sql::Analysis& a, ServerConn& server) {
  if (a.type != sql::StatementType::kSet || a.set_local) return;
  auto unknown = [&](std::string_view name) {
    // Reported settings (TimeZone, DateStyle, application_name, ...) come back as ParameterStatus.
    static constexpr std::string_view kReported[] = {
        "application_name", "client_encoding", "datestyle", "default_transaction_read_only", "intervalstyle",
        "is_superuser", "session_authorization", "standard_conforming_strings", "timezone"};
    if (std::find(std::begin(kReported), std::end(kReported), name) != std::end(kReported)) return;
    server.params.erase(std::string(name));
    server.explicit_params.try_emplace(std::string(name));
  };
  if (a.set_reset_all) {
    for (const auto& [name, value] : server.explicit_params) server.params.erase(name);
  } else if (a.set_name.empty()) {  // SET SESSION CHARACTERISTICS AS TRANSACTION ...
    unknown("default_transaction_isolation");
    unknown("default_transaction_deferrable");
  } else {
    unknown(a.set_name);
  }
  server.settings_unknown = true;
}

namespace {

// The setting a session-level SET in a transaction block changes: no name is SET SESSION
// CHARACTERISTICS AS TRANSACTION (or SET TRANSACTION, which leaves it).
std::string_view BlockSettingName(const sql::Analysis& a) {
  return a.set_name.empty() ? std::string_view("default_transaction_isolation") : std::string_view(a.set_name);
}

}  // namespace

void Session::NoteBlockSet(const sql::Analysis& a, Link& link) {
  if (a.type != sql::StatementType::kSet || a.set_local || !SettingsBlock() || SetsSessionRole(a.set_name)) {
    return;
  }
  auto note = [&](std::string_view name) { NoteBlockSetting(name, link); };
  if (a.set_reset_all) {
    // What the client SET before goes back to the defaults: read back as any SET's.
    for (const auto& name : set_by_client_) note(name);
  } else if (a.set_session_characteristics) {
    for (std::string_view name : kCharacteristics) note(name);
  } else {
    note(BlockSettingName(a));
  }
}

void Session::NoteBlockSetting(std::string_view name, Link& link) {
  for (const auto& setting : block_settings_) {
    if (setting.name == name && setting.server.lock() == link.server) return;  // read once at COMMIT
  }
  block_settings_.push_back({nullptr, link.server, std::string(name)});
}

void Session::BlockSetConfigNames(const sql::Analysis& a, const router::Bound& bound,
                                  std::vector<std::string>* names) const {
  names->clear();
  if (!a.only_set_config || !SettingsBlock()) return;
  std::vector<std::string> all;
  if (!SetConfigNames(a, bound, &all)) return;  // a name not known, or a role's
  for (size_t i = 0; i < a.set_config_names.size() && i < a.set_config_local.size(); ++i) {
    if (a.set_config_local[i] != 0) continue;  // local (or not known): ends with the block
    std::optional<std::string> name = bound.Text(a.set_config_names[i]);
    if (!name) continue;
    for (char& c : *name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (std::find(names->begin(), names->end(), *name) == names->end()) names->push_back(std::move(*name));
  }
}

void Session::ReadBackAtCommit() {
  for (auto& setting : block_settings_) {
    if (setting.read) continue;
    auto server = setting.server.lock();
    Link* link = server ? FindLink(server.get()) : nullptr;
    if (link == nullptr) continue;  // the server is gone: so is the transaction
    setting.read = std::make_shared<Gather>();
    setting.read->mode = Gather::Mode::kWrite;
    protocol::WriteQuery(&link->out, ReadSettingQuery(setting.name));
    link->server->unnamed_owner = nullptr;  // a simple Query drops the server's unnamed statement
    Push({.op = Op::kGather, .server = link->server.get(), .forward = false, .forward_rfq = false,
          .gather = setting.read});
  }
}

void Session::AdoptBlockSettings() {
  if (block_settings_.empty()) return;
  for (const auto& setting : block_settings_) {
    if (!setting.read || !setting.read->error.empty()) continue;
    auto server = setting.server.lock();
    AdoptSetting(setting.read->rows, server.get());
  }
  params_generation_ = worker_.GenerationOf(params_);
  SyncHeldLinks();
}

awaitable<bool> Session::LinkDefaultIfNone(bool extended) {
  if (LinkedCount() > 0) co_return true;
  auto link = co_await LinkNode(map_->DefaultNode());
  if (link.ok()) co_return true;
  if (extended) {
    SkipUntilSync(link.status());
  } else {
    FailQuery(link.status());
  }
  co_return false;
}

awaitable<bool> Session::SavepointOnLinks(const sql::Analysis& a, const std::string& text) {
  if (!co_await LinkDefaultIfNone(/*extended=*/true)) co_return true;
  // Back to before the error, on every node and here, as for a simple query: one node after
  // another, the first node's reply (or the first error) reaching the client.
  if (a.rollback_to) tx_aborted_ = false;
  const bool ok = co_await BroadcastToLinked(text);
  if (broadcast_error_) {
    skip_until_sync_ = true;  // a node's error went to the client
    co_return ok;
  }
  block_log_.push_back({.text = text, .savepoint = true});
  co_await RereadAfterRollbackTo(a);
  co_return !closing_;
}

awaitable<bool> Session::BroadcastToLinked(const std::string& text) {
  std::string query;
  protocol::WriteQuery(&query, text);
  Frame f;
  f.raw = query;
  const std::vector<int> linked = LinkedNodes();
  co_return co_await Broadcast(f, linked, /*ready=*/false);
}

bool Session::SetsInBlock(const sql::Analysis& a) const {
  return a.type == sql::StatementType::kSet && SettingsBlock();
}

awaitable<bool> Session::SetOnLinks(const std::shared_ptr<const sql::Analysis>& a, const std::string& text,
                                    bool extended) {
  if (!co_await LinkDefaultIfNone(extended)) co_return true;
  Link* first = nullptr;
  for (auto& link : links_) {
    if (!link.server) continue;
    if (first == nullptr) first = &link;
    NoteRelayedSet(*a, *link.server);  // whatever comes of it: nothing leaks to the next client
  }
  // One node after another, as PostgreSQL answers one SET: the first node's reply (SET or
  // RESET), or the first error.
  const bool ok = co_await BroadcastToLinked(text);
  if (broadcast_error_ || first->server == nullptr) {
    if (extended) {
      skip_until_sync_ = true;  // its error went to the client (the block is aborted)
    } else {
      Push({.op = Op::kRfq});
    }
    co_return ok;
  }
  block_log_.push_back({.text = text, .set = a});
  NoteBlockSet(*a, *first);
  if (a->set_reset_all || a->set_name == "extra_float_digits") co_await ReadBlockFloatDigits(*first);
  if (!extended) Push({.op = Op::kRfq});
  co_return !closing_;
}

awaitable<bool> Session::SetConfigOnLinks(const sql::Analysis& a, std::string_view text, std::string_view raw) {
  if (!co_await LinkDefaultIfNone(/*extended=*/false)) co_return true;
  const std::vector<int> linked = LinkedNodes();
  Frame f;
  f.raw = raw;
  const bool ok = co_await Broadcast(f, linked);
  if (!broadcast_error_) {
    block_log_.push_back({.text = std::string(text)});
    // Session-level settings (is_local false) outlive the block: read back at its COMMIT.
    router::Bound bound;
    bound.literals = &lexed_.literals;
    std::vector<std::string> names;
    BlockSetConfigNames(a, bound, &names);
    // Read on one of the block's servers: the call ran on all of them.
    auto first = std::find_if(links_.begin(), links_.end(), [](const Link& l) { return l.server != nullptr; });
    for (const auto& name : names) {
      if (first != links_.end()) NoteBlockSetting(name, *first);
    }
  }
  co_return ok;
}

void Session::CopySetConfig(const Link& target, const ServerStatement& stmt, std::string_view bind_rest) {
  std::string messages;
  protocol::WriteParse(&messages, "", stmt.query, stmt.param_types);
  protocol::WriteBindRenamed(&messages, "", "", bind_rest);
  protocol::WriteExecute(&messages, "", 0);
  protocol::WriteSync(&messages);  // inside the block: its ReadyForQuery says 'T'
  for (auto& link : links_) {
    if (!link.server || &link == &target) continue;
    link.server->unnamed_owner = nullptr;  // our Parse replaces the server's unnamed statement
    link.out.append(messages);
    // Quiet: the client hears the statement's own reply (an error here would come before it;
    // the node's transaction is aborted then, and its next statement says so).
    Push({.op = Op::kQuery, .server = link.server.get(), .forward = false, .forward_rfq = false, .quiet = true});
  }
  block_log_.push_back({.messages = std::move(messages)});
}

awaitable<void> Session::ReadBlockFloatDigits(Link& link) {
  auto read = std::make_shared<Gather>();
  read->mode = Gather::Mode::kWrite;
  protocol::WriteQuery(&link.out, ReadSettingQuery("extra_float_digits"));
  link.server->unnamed_owner = nullptr;  // a simple Query drops the server's unnamed statement
  Push({.op = Op::kGather, .server = link.server.get(), .forward = false, .forward_rfq = false, .gather = read});
  co_await FlushServers();
  co_await WaitPendingDrained();
  std::vector<std::optional<std::string_view>> columns;
  int n = 0;
  if (read->error.empty() && ReadDataRow(std::string_view(read->rows).substr(std::min<size_t>(read->rows.size(), 5)), &columns) &&
      columns.size() == 2 && columns[1] &&
      std::from_chars(columns[1]->data(), columns[1]->data() + columns[1]->size(), n).ec == std::errc()) {
    block_float_digits_ = n;
  } else {
    block_float_digits_ = 0;  // not known: what needs exact floats is refused
  }
}

awaitable<void> Session::RereadAfterRollbackTo(const sql::Analysis& a) {
  if (a.rollback_to && temp_in_block_) temp_stale_ = true;  // may have undone DDL on temporary tables
  if (!a.rollback_to || !block_float_digits_) co_return;
  for (auto& link : links_) {
    if (!link.server) continue;
    co_await ReadBlockFloatDigits(link);
    co_return;
  }
}

awaitable<void> Session::EndTransaction(bool commit, bool implicit) {
  std::vector<Link*> linked, writers;
  for (auto& link : links_) {
    if (!link.server) continue;
    linked.push_back(&link);
    if (link.wrote) writers.push_back(&link);
  }
  const bool failed = TxStatus() == protocol::kTxFailed;
  if (!commit || failed) EndHeldCursors(/*committed=*/false);
  if (commit && !failed) ReadBackAtCommit();  // sent ahead of COMMIT by RunOnLinks below
  auto finish = [&](std::string_view tag) {
    ClearTransaction();
    if (!implicit && !tag.empty()) Push({.op = Op::kSynthetic, .synthetic = CommandCompleteMessage(tag)});
  };
  broadcast_error_ = false;
  if (linked.empty()) {
    finish(commit && !failed ? "COMMIT" : "ROLLBACK");
    co_return;
  }
  if (!commit || failed || writers.size() <= 1) {
    // One phase. With one writer, commit the readers first: the outcome is the writer's.
    std::vector<Link*> order;
    for (Link* l : linked) {
      if (!l->wrote) order.push_back(l);
    }
    for (Link* l : writers) order.push_back(l);
    const std::string text = commit && !failed ? "COMMIT" : "ROLLBACK";
    co_await RunOnLinks(order, [&](Link&) { return text; }, false);
    // A node's error (a deferred constraint, a serialization failure at COMMIT) went to the
    // client: as from PostgreSQL, no command tag follows it (libpq would report the tag's
    // success as the COMMIT's result).
    if (broadcast_error_) {
      finish({});
    } else {
      if (commit && !failed) AdoptBlockSettings();
      finish(failed ? std::string_view("ROLLBACK") : std::string_view(text));
    }
    co_return;
  }
  if (Link* last = LastResource(writers)) {
    co_await CommitLastResource(*last, linked, writers, implicit);
    co_return;
  }
  // Two-phase commit (frontend/two_phase.h): prepare every writer, record the decision, then
  // commit them all. Until the decision is recorded any failure rolls back everywhere; after it
  // the transaction is committed and what a node misses, the recovery pass finishes.
  worker_.counters().Add(worker_.counters().two_phase_commits_total);
  TwoPhaseContext& tp = ctx_.two_phase;
  const std::string gid = fmt::format("{}{}_{}", tp.gid_prefix, pid_, ++gid_counter_);
  const int64_t fault_at = tp.faults.NextCommit();
  auto fault = [&](FaultPoint point) {
    if (tp.faults.Hits(point, fault_at)) FaultInjector::Fire(point, gid);
  };
  auto reset = [&] {
    ClearTransaction();
    tp.in_flight.Remove(gid);
    two_phase_ = false;
  };
  auto prepare = [&](Link& l) {
    return l.wrote ? fmt::format("PREPARE TRANSACTION '{}'", gid) : std::string("COMMIT");
  };

  const std::vector<Link*> first_writer{writers.front()};
  tp.in_flight.Add(gid);
  two_phase_ = true;  // a client that hangs up from here on does not cut it short
  errored_servers_.clear();
  if (tp.faults.Hits(FaultPoint::kPrepareSome, fault_at)) {
    co_await RunOnLinks(first_writer, prepare, false);
    fault(FaultPoint::kPrepareSome);
  }
  co_await RunOnLinks(linked, prepare, false);
  if (broadcast_error_) {
    // Some node could not prepare (its error went to the client): roll back the others.
    co_await RollBackPrepared(writers, gid);
    reset();
    broadcast_error_ = true;
    co_return;
  }
  fault(FaultPoint::kPrepareAll);

  Status decided = co_await worker_.decision_log().Record(gid);
  if (!decided.ok()) {
    if (decided.sqlstate() != sqlstate::kTransactionResolutionUnknown) {
      co_await RollBackPrepared(writers, gid);
    }
    // Unknown: the decision may be in the catalog; leave the prepared transactions to the
    // recovery pass, which goes by the catalog.
    log::error("client {}: transaction {}: {}", pid_, gid, decided.message());
    EmitError(decided.sqlstate() == sqlstate::kTransactionResolutionUnknown
                  ? Status::Error(decided.sqlstate(),
                                  fmt::format("{}; transaction {} is committed or rolled back by the recovery pass, "
                                              "by what the catalog recorded", decided.message(), gid))
                  : decided);
    reset();
    broadcast_error_ = true;
    co_return;
  }
  fault(FaultPoint::kDecision);

  co_await CommitPrepared(writers, gid, fault_at);
  AdoptBlockSettings();
  reset();
  broadcast_error_ = false;
  if (!implicit) Push({.op = Op::kSynthetic, .synthetic = CommandCompleteMessage("COMMIT")});
}

awaitable<bool> Session::CommitPrepared(const std::vector<Link*>& writers, const std::string& gid, int64_t fault_at) {
  const FaultInjector& faults = ctx_.two_phase.faults;
  auto commit_prepared = [&](Link&) { return fmt::format("COMMIT PREPARED '{}'", gid); };
  quiet_failed_ = false;
  if (faults.Hits(FaultPoint::kCommitSome, fault_at)) {
    const std::vector<Link*> first_writer{writers.front()};
    co_await RunOnLinks(first_writer, commit_prepared, true);
    FaultInjector::Fire(FaultPoint::kCommitSome, gid);
  }
  co_await RunOnLinks(writers, commit_prepared, true);
  if (quiet_failed_) {
    log::warn("client {}: transaction {} is committed; a node missed COMMIT PREPARED and the "
              "recovery pass will finish it there", pid_, gid);
  }
  co_return !quiet_failed_;
}

awaitable<void> Session::RollBackPrepared(const std::vector<Link*>& writers, const std::string& gid) {
  std::vector<Link*> prepared;  // all but those whose PREPARE failed (errored_servers_)
  for (Link* l : writers) {
    if (l->server && std::find(errored_servers_.begin(), errored_servers_.end(), l->server.get()) == errored_servers_.end()) {
      prepared.push_back(l);
    }
  }
  quiet_failed_ = false;
  co_await RunOnLinks(prepared, [&](Link&) { return fmt::format("ROLLBACK PREPARED '{}'", gid); }, true);
  if (quiet_failed_) {
    log::warn("client {}: transaction {} stays prepared on a node until the recovery pass rolls it back", pid_, gid);
  }
}

// ---------------------------------------------------------------------------------------------
// COPY FROM STDIN over several nodes

awaitable<bool> Session::StartCopyIn(const sql::Analysis& a, std::string_view sql_text, const router::Route& route) {
  if (a.copy_format == "binary") {
    FailQuery(Status::Unsupported("COPY FROM in binary format into a table split over several nodes is not supported; use text or CSV"));
    co_return true;
  }
  if (!a.copy_stdio || route.tables.empty() || route.tables[0] == nullptr) {
    FailQuery(Status::Unsupported("COPY FROM a server file into a table split over several nodes is not supported; use COPY FROM STDIN"));
    co_return true;
  }
  const catalog::Table& table = *route.tables[0];
  auto copy = std::make_unique<CopyIn>();
  copy->gather = std::make_shared<Gather>();
  copy->gather->mode = Gather::Mode::kCopyIn;
  copy->router = std::make_unique<router::RowRouter>(*map_, table, SessionUtc());
  std::vector<std::string> columns = a.copy_columns;
  if (columns.empty()) {
    for (const auto& c : table.columns) columns.push_back(c.name);
  }
  copy->router->SetColumns(columns);
  copy->csv = a.copy_format == "csv";
  copy->delimiter = a.copy_delimiter;
  copy->quote = a.copy_quote;
  copy->escape = a.copy_escape;
  copy->null_string = a.copy_null;
  copy->header_pending = a.copy_header;
  copy->implicit = TxStatus() == protocol::kTxIdle;
  if (copy->implicit) BeginImplicit();
  co_await WaitPendingDrained();
  for (int id : route.nodes) {
    auto link = co_await LinkNode(*map_->FindNode(id));
    if (!link.ok()) {
      copy.reset();
      if (tx_block_ && TxStatus() != protocol::kTxFailed) co_await EndTransaction(false, true);
      FailQuery(link.status());
      co_return true;
    }
    Link& l = *link.value();
    l.wrote = true;
    l.server->unnamed_owner = nullptr;
    protocol::WriteQuery(&l.out, sql_text);
    Push({.op = Op::kGather, .server = l.server.get(), .forward = false, .forward_rfq = false,
          .gather = copy->gather, .source = static_cast<int>(copy->links.size())});
    copy->links.push_back(static_cast<size_t>(&l - links_.data()));
    copy->node_ids.push_back(id);
  }
  copy->out.resize(copy->links.size());
  copy_in_ = std::move(copy);
  co_return co_await FlushServers();
}

void Session::CopyInData(std::string_view data) {
  CopyIn& c = *copy_in_;
  c.partial.append(data);
  std::string_view buf = c.partial;
  size_t start = 0;
  std::vector<std::string> fields;
  std::vector<bool> quoted;
  while (!c.ended && c.error.ok()) {
    // Find the end of the next record: a newline outside quotes (CSV) / any newline (text).
    size_t end = std::string_view::npos;
    if (c.csv) {
      bool in_quotes = false;
      for (size_t i = start; i < buf.size(); ++i) {
        if (buf[i] == c.quote) in_quotes = !in_quotes;
        else if (buf[i] == '\n' && !in_quotes) {
          end = i;
          break;
        }
      }
    } else {
      end = buf.find('\n', start);
    }
    if (end == std::string_view::npos) break;
    std::string_view line = buf.substr(start, end - start);
    std::string_view record = line;
    if (!record.empty() && record.back() == '\r') record.remove_suffix(1);
    const size_t next = end + 1;
    if (record == "\\.") {
      c.ended = true;
      start = next;
      break;
    }
    if (c.header_pending) {
      c.header_pending = false;
      for (auto& o : c.out) o.append(buf.substr(start, next - start));
      start = next;
      continue;
    }
    Result<int> node = 0;
    if (c.csv) {
      CsvFields(record, c.delimiter, c.quote, c.escape, &fields, &quoted);
      node = c.router->Route([&](int i) -> std::optional<std::string> {
        if (static_cast<size_t>(i) >= fields.size()) return std::nullopt;
        if (!quoted[static_cast<size_t>(i)] && fields[static_cast<size_t>(i)] == c.null_string) return std::nullopt;
        return fields[static_cast<size_t>(i)];
      });
    } else {
      // Split on the delimiter; only the needed fields are unescaped.
      std::vector<std::string_view> raw_fields;
      size_t pos = 0;
      while (true) {
        size_t d = record.find(c.delimiter, pos);
        raw_fields.push_back(record.substr(pos, d == std::string_view::npos ? std::string_view::npos : d - pos));
        if (d == std::string_view::npos) break;
        pos = d + 1;
      }
      node = c.router->Route([&](int i) -> std::optional<std::string> {
        if (static_cast<size_t>(i) >= raw_fields.size()) return std::nullopt;
        return TextField(raw_fields[static_cast<size_t>(i)], c.null_string);
      });
    }
    if (!node.ok()) {
      c.error = node.status();
      break;
    }
    size_t k = 0;
    while (k < c.node_ids.size() && c.node_ids[k] != node.value()) ++k;
    if (k == c.node_ids.size()) {
      c.error = Status::Internal(fmt::format("COPY row routed to node {} outside the statement's nodes", node.value()));
      break;
    }
    c.out[k].append(buf.substr(start, next - start));
    start = next;
  }
  c.partial.erase(0, start);
  if (c.ended) c.partial.clear();
  for (size_t k = 0; k < c.out.size(); ++k) {
    if (c.out[k].empty()) continue;
    Link& l = links_[c.links[k]];
    if (l.server) {
      protocol::WriteCopyData(&l.out, c.out[k]);
    }
    c.out[k].clear();
  }
}

awaitable<bool> Session::CopyInEnd(bool fail, std::string_view fail_message) {
  CopyIn& c = *copy_in_;
  if (!fail && c.error.ok() && !c.partial.empty() && !c.ended) {
    c.partial.push_back('\n');  // the last row may lack its newline
    CopyInData("");
  }
  const bool abort = fail || !c.error.ok();
  for (size_t k = 0; k < c.links.size(); ++k) {
    Link& l = links_[c.links[k]];
    if (!l.server) continue;
    if (abort) {
      protocol::WriteCopyFail(&l.out, fail ? fail_message : c.error.message());
    } else {
      protocol::WriteEmpty(&l.out, protocol::fe::kCopyDone);
    }
  }
  if (!co_await FlushServers()) co_return false;
  co_await WaitPendingDrained();
  auto copy = std::move(copy_in_);
  Gather& g = *copy->gather;
  if (!copy->error.ok()) {
    g.error.clear();
    protocol::WriteError(&g.error, copy->error);
  }
  const bool failed = !g.error.empty();
  if (copy->implicit) {
    co_await EndTransaction(!failed, /*implicit=*/true);
    if (!broadcast_error_ || failed) FinishGather(g);
  } else {
    FinishGather(g);
  }
  Push({.op = Op::kRfq});
  MaybeRelease();
  co_return !closing_;
}

// ---------------------------------------------------------------------------------------------
// SELECT mosaic.<function>(...)

awaitable<void> Session::MosaicFunction(const sql::Analysis& a, const sql::Lexed& lexed) {
  router::Bound bound;
    bound.utc = SessionUtc();
  bound.literals = &lexed.literals;
  if (a.mosaic_function != "create_reference_table") {
    FailQuery(Status::Error("42883", fmt::format("function mosaic.{} does not exist", a.mosaic_function)));
    co_return;
  }
  if (TxStatus() != protocol::kTxIdle) {
    FailQuery(Status::Unsupported("mosaic.create_reference_table cannot run inside a transaction block"));
    co_return;
  }
  std::optional<std::string> table;
  if (a.mosaic_args.size() == 1) table = bound.Text(a.mosaic_args[0]);
  if (!table) {
    FailQuery(Status::Error("42883", "mosaic.create_reference_table takes one argument: the table name as a string constant"));
    co_return;
  }
  if (!ctx_.create_reference_table) {
    FailQuery(Status::Unsupported("reference tables are not available in this configuration"));
    co_return;
  }
  co_await WaitPendingDrained();
  auto fn = ctx_.create_reference_table;
  std::string name = *table;
  const std::function<Result<std::string>()> job = [fn, name] { return fn(name); };
  auto result = co_await OffThread<Result<std::string>>(job);
  if (!result.ok()) {
    FailQuery(result.status());
    co_return;
  }
  RefreshMap();
  std::string out;
  protocol::WriteTextRowDescription(&out, {"create_reference_table"});
  protocol::WriteDataRow(&out, {std::string_view()});
  protocol::WriteCommandComplete(&out, "SELECT 1");
  Push({.op = Op::kSynthetic, .synthetic = std::move(out)});
  Push({.op = Op::kRfq});
}

}  // namespace mosaic::frontend

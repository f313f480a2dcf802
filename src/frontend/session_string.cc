// A simple-protocol query string whose statements need different nodes ("INSERT ...; UPDATE
// ...;" of rows on two nodes, node-postgres' `client.query("BEGIN; ...; COMMIT")`). PostgreSQL
// runs such a string's statements in turn, in one transaction unless the string itself opens
// one, stops at the first error (the transaction rolls back, or its block is left aborted) and
// sends one ReadyForQuery at the end. Mosaic does the same: each statement is routed as if the
// client had sent it alone, after the one before it finished, inside Mosaic's own transaction
// over the nodes (BeginImplicit: committed by two-phase commit when it wrote on several) when
// the client has none; the ReadyForQuery messages of all but the last are held back.
//
// Taken: SELECT, INSERT, UPDATE, DELETE, and BEGIN as the first statement, COMMIT or ROLLBACK
// as the last one (of a block the string opened or the client has open), and SET, SET LOCAL and
// SELECT set_config(...): run on every node of the block (the client's, the string's or Mosaic's
// own around the string), as when sent alone in a block. Outside the client's block a
// session-level one outlives the string when all of it commits and is undone with it otherwise,
// as PostgreSQL's implicit transaction of a query string does. DDL runs on every node inside the
// block (a schema file as one string: pg_dump's SETs, CREATE TABLE, ALTER, CREATE INDEX, COMMENT,
// seed INSERTs); the statements after it route with the block's own tables, and every session
// routes them once the string has committed. Others (DDL of temporary tables, COPY, utility
// statements, transaction control elsewhere) keep the rule they had: the string runs on one node
// or is refused.
// GCC 12 reports a false -Wmismatched-new-delete on large coroutine frames (asio's awaitable
// frame allocator); the allocation and deallocation are asio's own matched pair.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <fmt/format.h>

#include <cctype>

#include "frontend/session.h"
#include "frontend/session_internal.h"

namespace mosaic::frontend {

using asio::awaitable;
using sql::StatementType;

Status Session::RunsApart(const std::vector<std::string_view>& parts) {
  std::vector<std::pair<std::string_view, std::shared_ptr<const sql::Analysis>>> statements;
  sql::Lexed lexed;
  for (std::string_view part : parts) {
    auto analysis = worker_.analysis_cache().Get(part, &lexed);
    if (analysis->type != StatementType::kEmpty) statements.emplace_back(part, std::move(analysis));
  }
  const bool opens = !statements.empty() && statements.front().second->type == StatementType::kBegin;
  const bool client_block = tx_block_ && !implicit_tx_;
  // Mosaic's own block around the string (RunApart) when neither the client nor the string opens one.
  const bool own = !tx_block_ && TxStatus() == protocol::kTxIdle && !opens;
  for (size_t i = 0; i < statements.size(); ++i) {
    const sql::Analysis& a = *statements[i].second;
    const bool first = i == 0, last = i + 1 == statements.size();
    // Settings in a block run on every node of it, as a SET sent alone there does.
    const bool in_block = client_block || own || (opens && !first);
    switch (a.type) {
      case StatementType::kSelect:
        if (!a.mosaic_function.empty() || (a.only_set_config && !in_block)) break;
        continue;
      case StatementType::kSet:
        if (in_block) continue;
        break;
      case StatementType::kSelectForUpdate:
      case StatementType::kInsert:
      case StatementType::kUpdate:
      case StatementType::kDelete:
        continue;
      case StatementType::kDdl:
      case StatementType::kMaintenance:
        // On every node of the block, as when sent alone in one (what cannot run in a block,
        // VACUUM or CREATE INDEX CONCURRENTLY, fails there as in PostgreSQL's string). Temporary
        // tables' DDL runs on the default node, and the names it makes are known to the next
        // batch only: the string's later statements could not route them.
        if (TempDdlOf(a) == TempUse::kNone) continue;
        break;
      case StatementType::kBegin:
        if (first && !last) continue;
        break;
      case StatementType::kCommit:
      case StatementType::kRollback:
        if (last && (opens || client_block)) continue;
        break;
      default:
        break;
    }
    std::string_view text = statements[i].first;
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
    constexpr size_t kQuoted = 40;
    return Status::Unsupported(fmt::format(
        "a query string whose statements run on different nodes is supported for SELECT, INSERT, UPDATE, "
        "DELETE, SET, set_config and DDL not of temporary tables (BEGIN first and COMMIT or ROLLBACK last "
        "are taken too), not for \"{}{}\": send the statements one at a time",
        text.substr(0, kQuoted), text.size() > kQuoted ? "..." : ""));
  }
  return Status::OK();
}

awaitable<bool> Session::RunApart(const std::vector<std::string_view>& parts) {
  // Mosaic's own transaction when the client has none and the string opens none.
  sql::Lexed lexed;
  bool opens = false;
  for (std::string_view part : parts) {
    auto analysis = worker_.analysis_cache().Get(part, &lexed);
    if (analysis->type == StatementType::kEmpty) continue;
    opens = analysis->type == StatementType::kBegin;
    break;
  }
  const bool own = TxStatus() == protocol::kTxIdle && !tx_block_ && !opens;
  if (own) {
    BeginImplicit();
    string_tx_ = true;  // its settings follow the statements after them (SettingsBlock)
  }
  worker_.counters().Add(worker_.counters().multi_node_statements_total);
  quiet_rfq_ = true;
  const uint64_t errors_before = errors_emitted_;
  bool ok = true;
  for (std::string_view part : parts) {
    auto analysis = worker_.analysis_cache().Get(part, &lexed_);  // RouteQuery's literals
    if (analysis->type == StatementType::kEmpty) continue;
    ok = co_await RouteQuery(part, {}, *analysis);
    if (!ok || closing_) break;
    if (!co_await FlushServers()) {
      ok = false;
      break;
    }
    co_await WaitPendingDrained();
    if (errors_emitted_ != errors_before || closing_) break;  // the rest does not run
  }
  quiet_rfq_ = false;
  if (!ok || closing_) co_return false;
  if (own) {
    hold_output_ = refresh_tables_pending_;  // released by RefreshTablesIfPending
    co_await EndTransaction(errors_emitted_ == errors_before, /*implicit=*/true);
  }
  Push({.op = Op::kRfq});
  MaybeRelease();
  // The string's DDL committed (or not): every session routes its tables before the client
  // hears the string ended, as after a COMMIT of a block with DDL.
  if (refresh_tables_pending_) co_await RefreshTablesIfPending();
  ReleaseOutput();
  co_return !closing_;
}

}  // namespace mosaic::frontend

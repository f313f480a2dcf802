// Temporary tables. PostgreSQL keeps one in the session that created it, and refuses PREPARE
// TRANSACTION of a transaction that touched one: DDL on them runs on the default node alone, not
// on every node in a two-phase commit as other DDL does, and the router sends what reads or
// writes them there (router::Bound::temp_tables). Their names are read back from that node's
// catalog after anything that may change them, so Mosaic's idea of which names are temporary
// is the node's, as PostgreSQL's name lookup (pg_temp first) is.
//
// Transaction pooling hands each transaction any server connection, so there a temporary table
// must not outlive its transaction: only CREATE TEMP TABLE ... ON COMMIT DROP inside a
// transaction block is taken (as PgBouncer's documentation asks of its transaction pooling).
// GCC 12 reports a false -Wmismatched-new-delete on large coroutine frames (asio's awaitable
// frame allocator); the allocation and deallocation are asio's own matched pair.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <fmt/format.h>

#include <algorithm>

#include "frontend/session.h"
#include "frontend/session_internal.h"
#include "sql/classifier.h"
#include "sql/lexer.h"

namespace mosaic::frontend {

using asio::awaitable;

namespace {

constexpr std::string_view kTempTablesSql =
    "SELECT c.relname FROM pg_catalog.pg_class c "
    "WHERE c.relnamespace = pg_catalog.pg_my_temp_schema() AND c.relkind IN ('r', 'p', 'v', 'S')";

// CREATE VIEW (without TEMP) of a query that reads a temporary table: PostgreSQL makes the view
// temporary too.
bool ViewOfTemp(const sql::Analysis& a, const router::Bound& session, const router::Bound& earlier) {
  return a.ddl_creates_view && !a.ddl_temp &&
         std::any_of(a.tables.begin(), a.tables.end(), [&](const sql::TableRef& ref) {
           return ref.in_subquery && (session.NamesTemp(ref) || earlier.NamesTemp(ref));
         });
}

}  // namespace

Session::TempUse Session::TempDdlOf(const sql::Analysis& a, const std::vector<std::string>* also) const {
  if (a.type != sql::StatementType::kDdl && a.type != sql::StatementType::kMaintenance) return TempUse::kNone;
  if (a.ddl_temp) return TempUse::kOnly;
  router::Bound session, earlier;
  session.temp_tables = &temp_tables_;
  earlier.temp_tables = also;
  if (ViewOfTemp(a, session, earlier)) return TempUse::kOnly;
  bool any = false, all = true;
  // CREATE TABLE, CREATE TABLE AS and CREATE VIEW name their new relation first (SELECT INTO
  // does not list it).
  const bool creates = a.ddl_creates_view ||
                       (a.ddl_creates_table && (a.utility != sql::UtilityKind::kCreateAs || a.wrapped_tables > 0));
  for (const auto& ref : a.tables) {
    if (ref.in_subquery) continue;  // CREATE TABLE AS's query: PlanUtility places it
    if (creates && &ref == &a.tables.front()) continue;  // a new relation of the schema, not pg_temp
    const bool temp = session.NamesTemp(ref) || earlier.NamesTemp(ref);
    any = any || temp;
    all = all && temp;
  }
  return !any ? TempUse::kNone : all ? TempUse::kOnly : TempUse::kMixed;
}

Status Session::RefuseTempDdl(const sql::Analysis& a, TempUse use, const std::vector<sql::Literal>& literals) const {
  if (use == TempUse::kMixed) {
    return Status::Unsupported(
        "a statement naming both temporary tables and tables Mosaic routes cannot run: temporary tables "
        "live on the default node only; send separate statements");
  }
  // A view created over a temporary table (temporary itself) is named by tables[0].
  const bool creates = a.ddl_temp || (a.ddl_creates_view && !a.tables.empty());
  if (!creates) return Status::OK();
  const std::string& name = a.ddl_temp ? a.temp_table : a.tables[0].name;
  if (ctx_.config.pool_mode == PoolMode::kTransaction && (!tx_block_ || implicit_tx_ || !a.temp_on_commit_drop)) {
    return Status::Unsupported(
        "a temporary table, view or sequence outlives its transaction on the server connection, and Mosaic "
        "runs each transaction on any server connection (pool_mode = \"transaction\"): create a table with "
        "ON COMMIT DROP inside a transaction block, or use pool_mode = \"session\"");
  }
  sql::TableRef named;
  named.name = name;
  if (router::ResolveTable(*map_, named) != nullptr) {
    return Status::Unsupported(fmt::format(
        "temporary relation \"{}\" would hide the table of that name Mosaic routes over its nodes; choose "
        "another name",
        name));
  }
  if (a.utility == sql::UtilityKind::kCreateAs) {
    // Its query must read what the default node holds (temporary tables included).
    if (auto placed = PlaceUtility(a, literals); !placed.ok()) return placed.status();
  }
  if (a.ddl_creates_view && map_->spread()) {
    // The view lives on the default node, where every read of it goes: a table whose rows
    // Mosaic spreads over nodes (or keeps on another one) would be read there in part.
    for (const sql::TableRef& ref : a.tables) {
      if (!ref.in_subquery) continue;
      const catalog::Table* t = router::ResolveTable(*map_, ref);
      if (t == nullptr || t->kind == catalog::TableKind::kReference) continue;
      return Status::Unsupported(fmt::format(
          "a temporary view lives on the default node only, and \"{}\" has rows Mosaic may keep on other "
          "nodes: reading the view would miss them; query the table itself, or copy the rows into a "
          "temporary table (INSERT ... SELECT) and make the view of that",
          t->name));
    }
  }
  return Status::OK();
}

awaitable<bool> Session::RunTempDdl(const protocol::Frame& frame, const Status& refused) {
  if (!refused.ok()) {
    FailQuery(refused);
    co_return true;
  }
  const std::vector<int> home{map_->DefaultNode().id};
  const bool ok = co_await Broadcast(frame, home);
  temp_stale_ = true;
  temp_in_block_ = temp_in_block_ || tx_block_;
  co_return ok;
}

awaitable<std::optional<bool>> Session::RunTempDdlString(const protocol::Frame& frame, std::string_view sql) {
  std::vector<std::string_view> parts;
  if (!sql::SplitStatements(sql, &parts)) co_return std::nullopt;
  std::vector<std::string> created;  // by earlier statements of the string
  bool any = false, all = true;
  Status refused;
  sql::Lexed lexed;
  for (std::string_view part : parts) {
    auto analysis = worker_.analysis_cache().Get(part, &lexed);
    const TempUse use = TempDdlOf(*analysis, &created);
    any = any || use != TempUse::kNone;
    all = all && use == TempUse::kOnly;
    if (use != TempUse::kNone && refused.ok()) refused = RefuseTempDdl(*analysis, use, lexed.literals);
    if (analysis->ddl_temp) created.push_back(analysis->temp_table);
  }
  if (!any) co_return std::nullopt;
  if (refused.ok() && !all) {
    refused = Status::Unsupported(
        "a query string mixing DDL on temporary tables (run on the default node) with other DDL (run on "
        "every node) cannot be routed; send them separately");
  }
  co_return co_await RunTempDdl(frame, refused);
}

void Session::NoteTempDdl(const sql::Analysis& a) {
  temp_stale_ = true;
  temp_in_block_ = temp_in_block_ || tx_block_;
  // A new name routes to the default node at once (its batch may use it); what DROP or RENAME
  // changed is read back at the next batch (a stale name meanwhile gets the node's 42P01).
  const std::string* name = a.ddl_temp ? &a.temp_table : a.ddl_creates_view && !a.tables.empty() ? &a.tables[0].name : nullptr;
  if (name != nullptr && std::find(temp_tables_.begin(), temp_tables_.end(), *name) == temp_tables_.end()) {
    temp_tables_.push_back(*name);
  }
}

awaitable<void> Session::ReadTempTables() {
  if (batch_open_ || tx_aborted_ || TxStatus() == protocol::kTxFailed || closing_) co_return;
  temp_stale_ = false;
  if (ctx_.config.pool_mode == PoolMode::kTransaction && !tx_block_) {
    temp_tables_.clear();  // ON COMMIT DROP: gone with their block
    co_return;
  }
  const std::string sql(kTempTablesSql);
  const std::string what = "its temporary tables";
  const std::optional<std::string> rows = co_await ReadOnDefaultNode(sql, what);
  if (!rows) {
    temp_stale_ = !closing_;  // tried again at the next batch
    co_return;
  }
  temp_tables_.clear();
  std::string_view rest = *rows;
  protocol::Frame f;
  size_t used = 0;
  std::vector<std::optional<std::string_view>> values;
  while (framer_.Next(rest, &f, &used) == protocol::DecodeResult::kReady) {
    rest.remove_prefix(used);
    if (ReadDataRow(f.body, &values) && values.size() == 1 && values[0]) temp_tables_.emplace_back(*values[0]);
  }
}

}  // namespace mosaic::frontend

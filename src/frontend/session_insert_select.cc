// INSERT ... SELECT whose rows may belong on other nodes than the ones it reads
// (router::Route::insert_select_through), run "through" Mosaic: the SELECT runs as any client's
// SELECT would (one node, or several with their rows merged), then its rows are inserted as
// INSERT ... VALUES statements (the SELECT's text values as literals cast to the SELECT's column
// types), routed like any client's. All of it is one transaction: the client's block, or one
// opened here and committed on every node it touched (two-phase when several wrote), so either
// every row lands or none. Over the extended protocol it runs at its Execute, without RETURNING
// only (parameters are written into the text: router::InlineParams); outside a block the batch's
// Sync then ends the transaction.
// GCC 12 reports a false -Wmismatched-new-delete on large coroutine frames (asio's awaitable
// frame allocator); the allocation and deallocation are asio's own matched pair.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <fmt/format.h>

#include <algorithm>

#include "frontend/session.h"
#include "frontend/session_internal.h"
#include "protocol/reader.h"
#include "router/rewrite.h"

namespace mosaic::frontend {

using asio::awaitable;
namespace be = protocol::be;

namespace {

// Rows per INSERT ... VALUES statement (and at most kInsertBatchBytes of its text).
constexpr size_t kInsertBatchRows = 1000;
constexpr size_t kInsertBatchBytes = 1 << 20;
// Types with OIDs from here on are the database's own (enums, domains, ...): their OIDs may
// differ from node to node, so their values are inserted as untyped literals.
constexpr uint32_t kFirstNormalObjectId = 16384;

// "(v1, v2, ...)" for one DataRow: each value a string literal (E'' when it holds a backslash,
// so that standard_conforming_strings does not matter) followed by `casts[i]`; NULL as NULL.
bool AppendValuesRow(std::string_view data_row, const std::vector<std::string>& casts, std::string* out) {
  std::vector<std::optional<std::string_view>> values;
  if (!ReadDataRow(data_row, &values) || values.size() != casts.size()) return false;
  out->push_back('(');
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out->append(", ");
    if (!values[i]) {
      out->append("NULL");
      continue;
    }
    if (values[i]->find('\\') != std::string_view::npos) out->push_back('E');
    out->push_back('\'');
    for (char c : *values[i]) {
      if (c == '\'' || c == '\\') out->push_back(c);
      out->push_back(c);
    }
    out->push_back('\'');
    out->append(casts[i]);
  }
  out->push_back(')');
  return true;
}

// Appends rows from *first on (up to kInsertBatchRows, or until *text reaches kInsertBatchBytes)
// as VALUES rows to *text and moves *first past them; false on a malformed row.
bool AppendValuesBatch(const std::vector<std::string>& rows, const std::vector<std::string>& casts, size_t* first,
                       std::string* text) {
  const size_t begin = *first;
  for (; *first < rows.size() && *first - begin < kInsertBatchRows && text->size() < kInsertBatchBytes; ++*first) {
    if (*first > begin) text->append(", ");
    if (!AppendValuesRow(rows[*first], casts, text)) return false;
  }
  return true;
}

}  // namespace

bool ReadDataRow(std::string_view body, std::vector<std::optional<std::string_view>>* values) {
  protocol::MessageReader r(body);
  int16_t n = 0;
  if (!r.ReadInt16(&n) || n < 0) return false;
  values->clear();
  for (int16_t i = 0; i < n; ++i) {
    int32_t length = 0;
    std::string_view value;
    if (!r.ReadInt32(&length) || (length >= 0 && !r.ReadBytes(static_cast<size_t>(length), &value))) return false;
    values->push_back(length < 0 ? std::nullopt : std::optional<std::string_view>(value));
  }
  return true;
}

bool ReadRowDescription(std::string_view body, std::vector<std::string>* names,
                        std::vector<std::pair<uint32_t, int32_t>>* types) {
  protocol::MessageReader r(body);
  int16_t n = 0;
  if (!r.ReadInt16(&n)) return false;
  for (int16_t i = 0; i < n; ++i) {
    std::string_view name;
    int32_t table = 0, type = 0, typmod = 0;
    int16_t column = 0, size = 0, format = 0;
    if (!r.ReadCString(&name) || !r.ReadInt32(&table) || !r.ReadInt16(&column) || !r.ReadInt32(&type) ||
        !r.ReadInt16(&size) || !r.ReadInt32(&typmod) || !r.ReadInt16(&format)) {
      return false;
    }
    names->emplace_back(name);
    types->emplace_back(static_cast<uint32_t>(type), typmod);
  }
  return true;
}

namespace {

// Types whose text output extra_float_digits rounds: float4, float8, their arrays, geometric types.
bool PrintsFloats(uint32_t oid) {
  for (uint32_t f : {700u, 701u, 1021u, 1022u, 600u, 601u, 602u, 603u, 604u, 628u, 718u}) {
    if (oid == f) return true;
  }
  return false;
}

}  // namespace

Status CheckFloatsExact(const std::vector<std::pair<uint32_t, int32_t>>& types, bool exact_floats,
                        std::string_view what) {
  if (exact_floats || std::none_of(types.begin(), types.end(), [](const auto& t) { return PrintsFloats(t.first); })) {
    return Status::OK();
  }
  return Status::Unsupported(fmt::format(
      "{} of floating-point values that must run through Mosaic needs extra_float_digits of 1 or more: the nodes "
      "print rounded values otherwise, and Mosaic writes back what they print",
      what));
}

awaitable<bool> Session::InsertSelectThrough(std::string_view sql_text, const sql::Analysis& a, uint32_t monitor,
                                             bool extended) {
  if (a.insert_select_begin < 0 || a.insert_with || (!extended && lexed_.statements > 1)) {
    const Status refused = Status::Unsupported(
        a.insert_with ? "INSERT ... SELECT with a WITH clause of the INSERT whose rows may go to other nodes than "
                        "the ones it reads is not supported; put the WITH clause in the SELECT"
                      : "INSERT ... SELECT whose rows may go to other nodes than the ones it reads runs only as a "
                        "query string of its own");
    if (extended) {
      SkipUntilSync(refused);
    } else {
      FailQuery(refused);
    }
    co_return true;
  }
  const std::string head(sql_text.substr(0, static_cast<size_t>(a.insert_select_begin)));
  const std::string select(sql_text.substr(static_cast<size_t>(a.insert_select_begin),
                                           static_cast<size_t>(a.insert_select_end - a.insert_select_begin)));
  const std::string tail(sql_text.substr(static_cast<size_t>(a.insert_select_end)));
  const bool implicit = TxStatus() == protocol::kTxIdle;
  // Outside a block, the session's temporary tables are read before the transaction that writes
  // begins (rows of its own: no other snapshot matters), so that the default node's part of it
  // touches none and can be prepared in a two-phase commit (PostgreSQL refuses that otherwise).
  router::Bound names;
  names.temp_tables = &temp_tables_;
  const bool pull_first = implicit && !a.tables.empty() &&
                          std::any_of(a.tables.begin() + 1, a.tables.end(),
                                      [&](const sql::TableRef& t) { return names.NamesTemp(t); });
  if (implicit && !pull_first) BeginImplicit();
  broadcast_error_ = false;

  std::string error;  // an ErrorResponse, sent once the implicit transaction is rolled back
  std::string description, rows;
  int64_t count = 0;
  std::vector<std::pair<uint32_t, int32_t>> types;
  std::vector<std::string> selected;
  int select_node = map_->DefaultNode().id;
  bool ok = co_await PullSelectRows(select, &types, &selected, &select_node, &error);
  router::MergeSpec floats;
  ApplyMergeSettings(&floats);
  const Status exact = selected.empty() ? Status::OK() : CheckFloatsExact(types, floats.exact_floats, "INSERT ... SELECT");
  if (ok && !exact.ok()) {
    error = ErrorMessage(exact);
    ok = false;
  }
  std::vector<std::string> casts;
  if (ok && (!selected.empty() || a.returning)) ok = co_await CastsOfTypes(select_node, types, &casts, &error);
  if (pull_first) BeginImplicit();
  if (ok && !selected.empty() && types.empty()) {
    error = ErrorMessage(Status::Unsupported("INSERT ... SELECT of rows without columns is not supported over several nodes"));
    ok = false;
  }
  for (size_t first = 0; ok && first < selected.size();) {
    std::string text = head + "VALUES ";
    if (!AppendValuesBatch(selected, casts, &first, &text)) {
      error = ErrorMessage(Status::Internal("INSERT ... SELECT: a malformed row from a node"));
      ok = false;
      break;
    }
    text += " " + tail;
    ok = co_await InsertValuesBatch(text, &description, &rows, &count, &error);
  }
  if (ok && selected.empty() && a.returning) {
    // No row: the default node inserts none either, and describes what RETURNING returns.
    std::string text = head + "SELECT ";
    for (size_t i = 0; i < casts.size(); ++i) text += (i > 0 ? ", NULL" : "NULL") + casts[i];
    text += " WHERE false " + tail;
    auto g = std::make_shared<Gather>();
    g->mode = Gather::Mode::kWrite;
    const std::vector<int> nodes{map_->DefaultNode().id};
    const std::vector<std::string> sqls{text};
    co_await Scatter(nodes, sqls, g);
    if (!g->error.empty()) {
      error = g->error;
      ok = false;
    }
    description = g->description;
  }
  if (closing_) co_return false;

  std::string out;
  if (ok) {
    out = description + rows;
    protocol::WriteCommandComplete(&out, fmt::format("INSERT 0 {}", count));
  }
  if (implicit && extended) {
    // The batch's implicit transaction: its Sync commits it on every node it wrote, or rolls
    // it back if anything in the batch failed (SyncBatch), this too.
    batch_implicit_ = true;
    if (!ok) tx_aborted_ = true;
    Emit(ok ? out : error);
  } else if (implicit) {
    co_await EndTransaction(ok, /*implicit=*/true);
    if (!ok) Emit(error);
    else if (!broadcast_error_) Emit(out);  // else the failed commit's error is sent
  } else {
    Emit(ok ? out : error);
  }
  if (ok && !(implicit && broadcast_error_)) MonitorEnd(monitor, count);
  if (!extended) {
    Push({.op = Op::kRfq});
  } else if (!ok) {
    skip_until_sync_ = true;  // its error went to the client: the batch skips to its Sync
  }
  MaybeRelease();
  co_return !closing_;
}

void Session::MarkWrote(const std::vector<int>& nodes) {
  for (int id : nodes) {
    for (size_t i = 0; i < map_->nodes.size(); ++i) {
      if (map_->nodes[i].id == id && links_[i].server) links_[i].wrote = true;
    }
  }
}

awaitable<Result<router::Route>> Session::PlanComposed(const std::string& text, sql::Lexed* lexed,
                                                      std::shared_ptr<const sql::Analysis>* analysis,
                                                      router::Bound* bound) {
  *analysis = worker_.analysis_cache().Get(text, lexed);
  bound->utc = SessionUtc();
  bound->literals = &lexed->literals;
  auto planned = co_await PlanGated(**analysis, *bound, text);
  if (!planned.ok() && planned.status().sqlstate() == router::kUnknownRelation) {
    co_return Status::Unsupported(planned.status().message());
  }
  co_return planned;
}

awaitable<bool> Session::PullSelectRows(const std::string& select, std::vector<std::pair<uint32_t, int32_t>>* types,
                                        std::vector<std::string>* rows, int* node, std::string* error) {
  std::string out;
  if (!co_await RunSelectThrough(select, 0, &out, node, error)) co_return false;
  bool described = false;
  std::vector<std::string> names;
  ForEachMessage(out, [&](char type, std::string_view body) {
    if (type == be::kRowDescription && !described) described = ReadRowDescription(body, &names, types);
    if (type == be::kDataRow) rows->emplace_back(body);
  });
  if (!described) {
    *error = ErrorMessage(Status::Unsupported("the SELECT of INSERT ... SELECT returned no row description"));
    co_return false;
  }
  co_return true;
}

awaitable<bool> Session::CastsOfTypes(int node, const std::vector<std::pair<uint32_t, int32_t>>& types, std::vector<std::string>* casts,
                                      std::string* error) {
  std::string query = "SELECT ''";
  for (const auto& [oid, typmod] : types) {
    query += oid < kFirstNormalObjectId ? fmt::format(", pg_catalog.format_type({}, {})", oid, typmod)
                                          : std::string(", ''");
  }
  auto g = std::make_shared<Gather>();
  g->mode = Gather::Mode::kWrite;
  const std::vector<int> nodes{node};
  const std::vector<std::string> sqls{query};
  co_await Scatter(nodes, sqls, g);
  if (!g->error.empty()) {
    *error = g->error;
    co_return false;
  }
  bool parsed = false;
  ForEachMessage(g->rows, [&](char type, std::string_view body) {
    std::vector<std::optional<std::string_view>> names;
    if (type != be::kDataRow || parsed || !ReadDataRow(body, &names) || names.size() != types.size() + 1) return;
    if (std::find(names.begin(), names.end(), std::nullopt) != names.end()) return;
    for (size_t i = 1; i < names.size(); ++i) casts->push_back(names[i]->empty() ? std::string() : "::" + std::string(*names[i]));
    parsed = true;
  });
  if (!parsed) {
    *error = ErrorMessage(Status::Internal("INSERT ... SELECT: could not read the SELECT's column types"));
    co_return false;
  }
  co_return true;
}

awaitable<bool> Session::InsertValuesBatch(const std::string& text, std::string* description, std::string* rows,
                                           int64_t* count, std::string* error) {
  sql::Lexed lexed;
  std::shared_ptr<const sql::Analysis> analysis;
  router::Bound bound;
  auto planned = co_await PlanComposed(text, &lexed, &analysis, &bound);
  const sql::Analysis& a = *analysis;
  if (planned.ok() && planned.value().insert_select_through) {
    planned = Status::Unsupported("INSERT ... SELECT: its rows could not be routed as VALUES rows");
  }
  if (!planned.ok()) {
    *error = ErrorMessage(planned.status());
    co_return false;
  }
  const router::Route& route = planned.value();
  auto g = std::make_shared<Gather>();
  SetUpWrite(*g, a, route);
  std::vector<std::string> sqls;
  for (size_t i = 0; i < route.nodes.size(); ++i) {
    sqls.push_back(route.insert_rows.empty() ? text : router::InsertWithRows(text, a, route.insert_rows[i]));
  }
  co_await Scatter(route.nodes, sqls, g);
  MarkWrote(route.nodes);
  if (!g->error.empty()) {
    *error = g->error;
    co_return false;
  }
  if (!g->merge_error.ok()) {
    *error = ErrorMessage(g->merge_error);
    co_return false;
  }
  if (description->empty()) *description = g->description;
  if (g->returning_order) {
    g->returning_order->Finish(rows);
  } else {
    rows->append(g->rows);
  }
  *count += g->count;
  co_return true;
}

}  // namespace mosaic::frontend

// Cursors over several nodes, held by Mosaic. A cursor lives in one PostgreSQL session, so one
// whose query reads several nodes (or, WITH HOLD, one node other than the default one, where a
// pooled server connection would not keep it) cannot be declared on a node. Mosaic runs its
// query at DECLARE through the same path as a client's SELECT (merged over the nodes, inside the
// client's transaction block when one is open: the rows it sees then), keeps the result, and
// answers FETCH and MOVE from it and CLOSE itself, as Citus materialises a cursor over
// several shards. psycopg2's named cursors, Django's QuerySet.iterator() (DECLARE ... WITH HOLD)
// and psql's FETCH_COUNT declare such cursors.
//
// Both protocols (over the extended one, as psycopg 3's server cursors send it: DECLARE with its
// parameters written in at Bind, runs at Execute; the cursor's portal described by its name;
// FETCH answered at Execute, its RowDescription at Describe). Every direction (NEXT, PRIOR,
// FIRST, LAST, ABSOLUTE, RELATIVE, FORWARD, BACKWARD, ALL: router::FetchHeld), as a SCROLL
// cursor's; a NO SCROLL one refuses to go back (55000), as PostgreSQL's; rows held in text, sent
// in binary where asked (a BINARY
// cursor, a Bind's result formats: router/result_formats.h); at most max_merge_mb of rows per
// cursor. A cursor without HOLD ends
// with its transaction; one WITH HOLD declared in a block that rolls back goes with it.
// GCC 12 reports a false -Wmismatched-new-delete on large coroutine frames (asio's awaitable
// frame allocator); the allocation and deallocation are asio's own matched pair.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <fmt/format.h>

#include <algorithm>

#include "frontend/session.h"
#include "frontend/session_internal.h"
#include "router/cursor_fetch.h"
#include "router/result_formats.h"
#include "sql/lexer.h"

namespace mosaic::frontend {

using asio::awaitable;
namespace be = protocol::be;

namespace {

// Where the query of `DECLARE name ... CURSOR ... FOR query` begins (npos if not found).
size_t CursorQueryBegin(std::string_view text) {
  int pos = 0;
  sql::Token t = sql::NextToken(text, &pos);  // DECLARE
  t = sql::NextToken(text, &pos);             // the name (FOR is reserved: it is not one)
  while ((t = sql::NextToken(text, &pos)).kind != sql::Token::Kind::kEnd) {
    const std::string_view word = text.substr(static_cast<size_t>(t.begin), static_cast<size_t>(t.end - t.begin));
    if (t.kind == sql::Token::Kind::kIdent && word.size() == 3 && (word[0] | 0x20) == 'f' &&
        (word[1] | 0x20) == 'o' && (word[2] | 0x20) == 'r') {
      return static_cast<size_t>(pos);
    }
  }
  return std::string_view::npos;
}

}  // namespace

awaitable<std::optional<bool>> Session::HeldCursor(const sql::Analysis& a, std::string_view text) {
  using U = sql::UtilityKind;
  if (a.utility == U::kDeclareCursor) {
    if (!HoldsDeclare(a, lexed_.literals, /*extended=*/false)) co_return std::nullopt;
    co_return co_await DeclareHeld(a, text, /*extended=*/false);
  }
  if (a.utility != U::kCursorUse) co_return std::nullopt;
  if (a.cursor_name.empty()) {  // CLOSE ALL: these, and the nodes' own
    held_cursors_.clear();
    co_return std::nullopt;
  }
  if (!held_cursors_.count(a.cursor_name)) co_return std::nullopt;
  UseHeld(a, /*extended=*/false, 0, {});
  co_return true;
}

bool Session::HoldsDeclare(const sql::Analysis& a, const std::vector<sql::Literal>& literals, bool extended) const {
  if (a.utility != sql::UtilityKind::kDeclareCursor) return false;
  if (held_cursors_.count(a.cursor_name)) return true;  // a node would take the name again: 42P03 here
  if (a.wrapped != sql::StatementType::kSelect) return false;
  auto placed = PlaceUtility(a, literals);
  // Over the extended protocol a node's cursor must be on the default node (where the batch's
  // unrouted statements go).
  return !placed.ok() || (extended && placed.value().node >= 0 && placed.value().node != map_->DefaultNode().id);
}

void Session::CursorError(const Status& status, bool extended) {
  if (extended) {
    SkipUntilSync(status);
  } else {
    FailQuery(status);
  }
}

awaitable<bool> Session::DeclareHeld(const sql::Analysis& a, std::string_view text, bool extended) {
  const size_t begin = CursorQueryBegin(text);
  Status refused;
  if (held_cursors_.count(a.cursor_name) || cursors_.count(a.cursor_name)) {
    refused = Status::Error(sqlstate::kDuplicateCursor, fmt::format("cursor \"{}\" already exists", a.cursor_name));
  } else if (!a.cursor_hold && TxStatus() == protocol::kTxIdle) {
    refused = Status::Error(sqlstate::kNoActiveSqlTransaction, "DECLARE CURSOR can only be used in transaction blocks");
  } else if (begin == std::string_view::npos) {
    refused = Status::Unsupported("DECLARE CURSOR: Mosaic could not find the cursor's query in the statement");
  }
  if (!refused.ok()) {
    CursorError(refused, extended);
    co_return true;
  }
  std::string out, error;
  int node = 0;
  const std::string query(text.substr(begin));
  const bool ok = co_await RunSelectThrough(query, 0, &out, &node, &error, /*monitored=*/true);
  if (closing_) co_return false;
  const size_t cap = static_cast<size_t>(ctx_.config.max_merge_mb) << 20;
  if (ok && out.size() > cap) {
    error = ErrorMessage(Status::Error(sqlstate::kProgramLimitExceeded, fmt::format(
        "the rows of cursor \"{}\" over several nodes exceed max_merge_mb ({} MB), which Mosaic holds them in; "
        "filter its query, or declare it over one tenant or range",
        a.cursor_name, ctx_.config.max_merge_mb)));
  }
  if (!ok || out.size() > cap) {
    Push({.op = Op::kSynthetic, .synthetic = std::move(error)});
    if (extended) {
      skip_until_sync_ = true;
      batch_refused_ = batch_seq_ + 1;  // as SkipUntilSync's
    } else {
      Push({.op = Op::kRfq});
    }
    co_return true;
  }
  HeldRows held;
  held.hold = a.cursor_hold;
  held.in_block = TxStatus() != protocol::kTxIdle;
  held.binary = a.cursor_binary;
  held.no_scroll = a.cursor_no_scroll;
  std::string_view rest = out;
  protocol::Frame f;
  size_t used = 0;
  while (framer_.Next(rest, &f, &used) == protocol::DecodeResult::kReady) {
    if (f.type == be::kRowDescription && held.description.empty()) held.description.assign(f.raw);
    if (f.type == be::kDataRow) {
      held.ends.push_back(held.rows.size() + f.raw.size());
      held.rows.append(f.raw);
    }
    rest.remove_prefix(used);
  }
  held_cursors_.emplace(a.cursor_name, std::move(held));
  Push({.op = Op::kSynthetic, .synthetic = CommandCompleteMessage("DECLARE CURSOR")});
  if (!extended) Push({.op = Op::kRfq});
  co_return true;
}

void Session::UseHeld(const sql::Analysis& a, bool extended, int32_t max_rows, const std::vector<int16_t>& formats) {
  auto it = held_cursors_.find(a.cursor_name);
  if (it == held_cursors_.end()) {  // closed since its Parse
    CursorError(Status::Error(sqlstate::kInvalidCursorName, fmt::format("cursor \"{}\" does not exist", a.cursor_name)),
                extended);
    return;
  }
  if (a.cursor_close) {
    held_cursors_.erase(it);
    Push({.op = Op::kSynthetic, .synthetic = CommandCompleteMessage("CLOSE CURSOR")});
    if (!extended) Push({.op = Op::kRfq});
    return;
  }
  HeldRows& held = it->second;
  const router::HeldFetch f =
      router::FetchHeld(held.position, static_cast<int64_t>(held.ends.size()), a.fetch_direction, a.fetch_count);
  if (f.goes_back && held.no_scroll) {
    CursorError(Status::Error(sqlstate::kObjectNotInPrerequisiteState,
                              "cursor can only scan forward: declare it with SCROLL to enable backward scan"),
                extended);
    return;
  }
  const auto n = static_cast<size_t>(f.count);
  if (extended && !a.fetch_move && max_rows > 0 && n > static_cast<size_t>(max_rows)) {
    CursorError(Status::Unsupported(fmt::format(
                    "an Execute with a row limit ({}) of a FETCH of cursor \"{}\", which Mosaic holds, is not "
                    "supported: FETCH at most that many rows",
                    max_rows, a.cursor_name)),
                extended);
    return;
  }
  std::string reply;
  if (!a.fetch_move) {
    reply = held.description;
    // Row i (1-based) is held.rows[ends[i - 2], ends[i - 1]).
    auto begin_of = [&](size_t i) { return i == 1 ? size_t{0} : held.ends[i - 2]; };
    if (!f.backward && n > 0) {
      const auto first = static_cast<size_t>(f.first);
      reply.append(held.rows, begin_of(first), held.ends[first + n - 2] - begin_of(first));
    }
    for (size_t k = 0; f.backward && k < n; ++k) {
      const size_t i = static_cast<size_t>(f.first) - k;
      reply.append(held.rows, begin_of(i), held.ends[i - 1] - begin_of(i));
    }
    static const std::vector<int16_t> kBinary{1};
    if (Status s = router::ToResultFormats(&reply, extended ? formats : held.binary ? kBinary : formats,
                                           HeldTextOutput());
        !s.ok()) {
      CursorError(s, extended);
      return;
    }
    if (extended) reply.erase(0, held.description.size());  // Describe sends the RowDescription
  }
  held.position = f.position;
  protocol::WriteCommandComplete(&reply, fmt::format("{} {}", a.fetch_move ? "MOVE" : "FETCH", n));
  Push({.op = Op::kSynthetic, .synthetic = std::move(reply)});
  if (!extended) Push({.op = Op::kRfq});
}

std::optional<std::string> Session::HeldDescription(const sql::Analysis& a, const std::vector<int16_t>& formats) const {
  if (a.utility != sql::UtilityKind::kCursorUse || a.cursor_close || a.fetch_move) return std::nullopt;
  auto it = held_cursors_.find(a.cursor_name);
  if (it == held_cursors_.end()) return std::nullopt;
  std::string description = it->second.description;
  // The format codes set; a column that cannot be sent so fails at the Execute.
  (void)router::ToResultFormats(&description, formats, HeldTextOutput());
  return description;
}

void Session::EndHeldCursors(bool committed) {
  for (auto it = held_cursors_.begin(); it != held_cursors_.end();) {
    HeldRows& held = it->second;
    if (!held.hold || (held.in_block && !committed)) {
      it = held_cursors_.erase(it);
    } else {
      held.in_block = false;
      ++it;
    }
  }
}

}  // namespace mosaic::frontend

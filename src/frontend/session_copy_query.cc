// COPY (query) TO STDOUT whose query reads rows on several nodes (psql's `\copy (SELECT ...) TO
// file`, exports filtered or sorted). Each node would copy out only its own rows, unsorted and
// unaggregated across nodes, so Mosaic runs it in two steps:
//   1. one node runs "COPY (SELECT * FROM (query) AS mosaic_copy LIMIT 0) TO STDOUT <options>":
//      PostgreSQL checks the options against the query's columns (its errors reach the client
//      with their position in the client's statement) and answers the CopyOutResponse and, with
//      HEADER, the header line, which go to the client as they are;
//   2. the query runs through Mosaic as a client's SELECT (merged over the nodes, or in steps:
//      RunSelectThrough), and its text rows are written as COPY's text or CSV lines
//      (router::AppendCopyLine), then CopyDone and "COPY n".
// The rows are held until the query finished, as a merged SELECT's (max_merge_mb). Binary
// format and the ENCODING option are refused (0A000): the merged rows are text in the client's
// encoding.
// GCC 12 reports a false -Wmismatched-new-delete on large coroutine frames (asio's awaitable
// frame allocator); the allocation and deallocation are asio's own matched pair.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "frontend/session.h"
#include "frontend/session_internal.h"
#include "router/copy_out.h"

namespace mosaic::frontend {

using asio::awaitable;
namespace be = protocol::be;

namespace {

// Client encodings whose multibyte characters may hold ASCII bytes (a backslash, the
// delimiter): COPY escapes them by character, which byte-wise escaping would get wrong.
bool EmbedsAscii(std::string_view encoding) {
  for (std::string_view e : {"SJIS", "SHIFT_JIS_2004", "BIG5", "GBK", "GB18030", "UHC", "JOHAB"}) {
    if (encoding.size() == e.size() &&
        std::equal(e.begin(), e.end(), encoding.begin(), [](char a, char b) { return a == std::toupper(static_cast<unsigned char>(b)); })) {
      return true;
    }
  }
  return false;
}

}  // namespace

Status Session::RefuseCopyQuery(const sql::Analysis& a, const sql::Analysis* query) const {
  constexpr std::string_view kWhat = "COPY (query) TO STDOUT over several nodes";
  if (!a.copy_stdio) {
    return Status::Unsupported(fmt::format("{} is supported to STDOUT only, not to a file or program on a node: "
                                           "use COPY ... TO STDOUT (psql's \\copy)",
                                           kWhat));
  }
  if (a.copy_format == "binary") {
    return Status::Unsupported(fmt::format("{} is supported in text and CSV format, not binary: Mosaic combines "
                                           "the nodes' rows as text",
                                           kWhat));
  }
  if (a.copy_encoding) {
    return Status::Unsupported(fmt::format("{} does not take ENCODING: its rows come in the client's encoding; "
                                           "set client_encoding instead",
                                           kWhat));
  }
  if (auto e = params_.find("client_encoding"); e != params_.end() && EmbedsAscii(e->second)) {
    return Status::Unsupported(
        fmt::format("{} is not supported with client_encoding {}; use UTF8", kWhat, e->second));
  }
  if (query == nullptr || query->type != sql::StatementType::kSelect || query->locking) {
    return Status::Unsupported(fmt::format("{} is supported for a SELECT (not a data-changing statement with "
                                           "RETURNING, nor SELECT ... FOR UPDATE); COPY the table, or filter "
                                           "the query to one tenant",
                                           kWhat));
  }
  return Status::OK();
}

awaitable<bool> Session::CopyQueryOut(std::string_view sql_text, const sql::Analysis& a, int probe_node) {
  const std::optional<router::CopyQueryText> parts = router::SplitCopyQuery(sql_text);
  std::shared_ptr<const sql::Analysis> query;
  sql::Lexed lexed;
  if (parts) query = worker_.analysis_cache().Get(parts->query, &lexed);
  if (Status refused = RefuseCopyQuery(a, query.get()); !refused.ok()) {
    FailQuery(refused);
    co_return true;
  }
  // Earlier replies first: what follows is emitted as it comes.
  if (!co_await FlushServers()) co_return false;
  co_await WaitPendingDrained();

  // 1. The options, the CopyOutResponse and the header, from one node.
  auto probe = std::make_shared<Gather>();
  probe->mode = Gather::Mode::kCopyOut;
  const std::vector<int> nodes{probe_node};
  const std::vector<std::string> sqls{router::CopyProbe(*parts)};
  co_await Scatter(nodes, sqls, probe);
  if (closing_) co_return false;
  std::string error = probe->error;
  if (error.empty() && !probe->copy_started) {
    error = ErrorMessage(Status::Error(sqlstate::kInternalError, "COPY over several nodes: the node did not start COPY"));
  }
  std::string out;
  if (error.empty()) {
    // 2. The query through Mosaic, its rows as COPY lines.
    int node = -1;
    std::string result;
    if (co_await RunSelectThrough(std::string(parts->query), 0, &result, &node, &error, /*monitored=*/true)) {
      router::CopyOutFormat format;
      format.csv = a.copy_format == "csv";
      format.delimiter = a.copy_delimiter;
      format.null = a.copy_null;
      format.quote = a.copy_quote;
      format.escape = a.copy_escape;
      int64_t rows = 0;
      std::string line;
      std::vector<std::optional<std::string_view>> values;
      ForEachMessage(result, [&](char type, std::string_view body) {
        if (type == be::kRowDescription) {
          std::vector<std::string> names;
          std::vector<std::pair<uint32_t, int32_t>> types;
          (void)ReadRowDescription(body, &names, &types);
          for (const std::string& name : names) {
            format.force_quote.push_back(a.copy_force_quote_all ||
                                         std::find(a.copy_force_quote.begin(), a.copy_force_quote.end(), name) !=
                                             a.copy_force_quote.end());
          }
        } else if (type == be::kDataRow && ReadDataRow(body, &values)) {
          line.clear();
          router::AppendCopyLine(format, values, &line);
          protocol::WriteCopyData(&out, line);
          ++rows;
        }
      });
      protocol::WriteEmpty(&out, be::kCopyDone);
      protocol::WriteCommandComplete(&out, fmt::format("COPY {}", rows));
    } else {
      // Its positions count from the query's first character: from the statement's now.
      (void)protocol::MapErrorPosition(
          &error, [&](int p) -> std::optional<int> { return router::CopyQueryPosition(sql_text, *parts, p); });
    }
  } else {
    (void)protocol::MapErrorPosition(&error, [&](int p) { return router::CopyProbePosition(sql_text, *parts, p); });
  }
  if (closing_) co_return false;
  if (!error.empty()) {
    worker_.counters().Add(worker_.counters().errors_total);
    Emit(error);  // after the CopyOutResponse, if the node sent it: PostgreSQL's COPY fails so too
  } else {
    Emit(out);
  }
  Push({.op = Op::kRfq});
  MaybeRelease();
  co_return !closing_;
}

}  // namespace mosaic::frontend

// A SELECT over several nodes that Mosaic would refuse for its subqueries or CTEs, run in steps
// (see sql/subplan.h): each subquery that can run on its own runs first through Mosaic, as a
// client's SELECT would (one node, several nodes merged, or in steps itself), its result is
// written into the statement as constants, and the statement is planned again.
//
// Only statements about to be refused come here: the route of every other statement is
// unchanged. The steps run on the session's links, so inside a transaction block they are part
// of it; outside one each step reads at its own moment (no common snapshot), as in Citus.
// The reply is held until the statement finished, as a merged one. Over the extended protocol
// the Bind's parameters are written into the text as constants (router::InlineParams), the
// statement runs whole at the portal's Describe or first Execute, and its rows are handed out
// from there (a row limit suspends the portal as PostgreSQL does). Its rows are read in text;
// the columns the client asks in binary are converted (router/result_formats.h).
// GCC 12 reports a false -Wmismatched-new-delete on large coroutine frames (asio's awaitable
// frame allocator); the allocation and deallocation are asio's own matched pair.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <fmt/format.h>

#include "frontend/session.h"
#include "frontend/session_internal.h"
#include "protocol/reader.h"
#include "router/result_formats.h"
#include "router/rewrite.h"
#include "sql/subplan.h"

namespace mosaic::frontend {

using asio::awaitable;
namespace be = protocol::be;

namespace {

// Subqueries within subqueries, and steps of one statement, Mosaic runs at most.
constexpr int kMaxDepth = 8;
constexpr int kMaxSteps = 64;
// The statement text with results written in, at most.
constexpr size_t kMaxSubstitutedBytes = size_t{64} << 20;

// The SQLSTATE of an ErrorResponse message ("" if unreadable).
std::string ErrorCode(std::string_view message) {
  protocol::ErrorFields fields;
  if (message.size() < 5 || !protocol::ParseErrorFields(message.substr(5), &fields).ok()) return "";
  return std::string(fields.code);
}

// The rows of a held reply (RowDescription, DataRows) as text values.
bool ReadResult(std::string_view reply, std::vector<std::pair<uint32_t, int32_t>>* types, sql::SubplanResult* out) {
  bool described = false, ok = true;
  ForEachMessage(reply, [&](char type, std::string_view body) {
    if (type == be::kRowDescription && !described) described = ReadRowDescription(body, &out->names, types);
    if (type != be::kDataRow || !ok) return;
    std::vector<std::optional<std::string_view>> values;
    ok = ReadDataRow(body, &values) && values.size() == types->size();
    auto& row = out->rows.emplace_back();
    for (const auto& v : values) row.emplace_back(v ? std::optional<std::string>(*v) : std::nullopt);
  });
  return described && ok;
}

}  // namespace

bool Subplannable(const sql::Analysis& a, const Status& refused) {
  return a.type == sql::StatementType::kSelect && !a.simple_select && !a.locking &&
         a.utility == sql::UtilityKind::kNone && !refused.ok() &&
         refused.sqlstate() == sqlstate::kFeatureNotSupported;
}

bool WriteSubplannable(const sql::Analysis& a, const Status& refused) {
  return (a.type == sql::StatementType::kUpdate || a.type == sql::StatementType::kDelete) &&
         a.utility == sql::UtilityKind::kNone && !refused.ok() && refused.sqlstate() == sqlstate::kFeatureNotSupported;
}

awaitable<bool> Session::RouteWriteSubplanned(std::string_view sql_text, const Status& refused) {
  if (!co_await FlushServers()) co_return false;  // as RouteSubplanned
  co_await WaitPendingDrained();
  std::string text(sql_text), error;
  Status still = refused;
  std::shared_ptr<const sql::Analysis> analysis;
  for (int steps = 0;; ++steps) {
    auto step = sql::NextSubplan(text);
    if (!step.ok() || step.value().kind == sql::SubplanStep::Kind::kNone || steps >= kMaxSteps) {
      worker_.counters().Add(worker_.counters().errors_total);
      FailQuery(step.ok() ? still : step.status());
      MaybeRelease();
      co_return !closing_;
    }
    auto substituted = co_await RunSubplanStep(text, step.value(), 0, &error);
    if (closing_) co_return false;
    if (!substituted.has_value()) {
      worker_.counters().Add(worker_.counters().errors_total);
      Emit(error);
      Push({.op = Op::kRfq});
      MaybeRelease();
      co_return !closing_;
    }
    text = std::move(*substituted);
    sql::Lexed lexed;
    router::Bound bound;
    auto planned = co_await PlanComposed(text, &lexed, &analysis, &bound);
    if (planned.ok()) break;
    still = planned.status();
    if (!WriteSubplannable(*analysis, still)) {
      FailQuery(still);
      MaybeRelease();
      co_return !closing_;
    }
  }
  // The write with its subqueries' results written in, routed as if the client had sent it.
  analysis = worker_.analysis_cache().Get(text, &lexed_);
  std::string raw;
  protocol::WriteQuery(&raw, text);
  co_return co_await RouteQuery(text, raw, *analysis);
}

awaitable<bool> Session::ExecuteWriteSubplanned(const std::string& sql_text) {
  // ExecuteLocal has sent what came before in the batch and seen it succeed.
  std::string text = sql_text, error;
  sql::Lexed lexed;
  std::shared_ptr<const sql::Analysis> analysis;
  router::Bound bound;
  Result<router::Route> planned = Status::Internal("not planned");
  for (int steps = 0;; ++steps) {
    planned = co_await PlanComposed(text, &lexed, &analysis, &bound);
    if (planned.ok()) break;
    auto step = sql::NextSubplan(text);
    if (!WriteSubplannable(*analysis, planned.status()) || analysis->returning || !step.ok() ||
        step.value().kind == sql::SubplanStep::Kind::kNone || steps >= kMaxSteps) {
      error = ErrorMessage(step.ok() || !WriteSubplannable(*analysis, planned.status()) ? planned.status()
                                                                                        : step.status());
      break;
    }
    auto substituted = co_await RunSubplanStep(text, step.value(), 0, &error);
    if (closing_) co_return false;
    if (!substituted.has_value()) break;
    text = std::move(*substituted);
  }
  if (!planned.ok()) {
    worker_.counters().Add(worker_.counters().errors_total);
    Push({.op = Op::kSynthetic, .synthetic = std::move(error)});
    skip_until_sync_ = true;
    batch_refused_ = batch_seq_ + 1;  // as SkipUntilSync's
    co_return true;
  }
  // The write with its subqueries' results written in, on its nodes, as INSERT ... SELECT's
  // rows are written (InsertSelectThrough).
  const sql::Analysis& a = *analysis;
  const router::Route& route = planned.value();
  const bool implicit = TxStatus() == protocol::kTxIdle;
  if (implicit) BeginImplicit();
  broadcast_error_ = false;
  const uint32_t monitor = MonitorBegin(a, bound, route, lexed.shape_hash, text, lexed.literals);
  auto g = std::make_shared<Gather>();
  SetUpWrite(*g, a, route);
  const std::vector<std::string> sqls(route.nodes.size(), text);
  co_await Scatter(route.nodes, sqls, g);
  if (closing_) co_return false;
  MarkWrote(route.nodes);
  const bool ok = g->error.empty() && g->merge_error.ok();
  std::string out = ok ? std::string() : g->error.empty() ? ErrorMessage(g->merge_error) : g->error;
  if (ok) protocol::WriteCommandComplete(&out, fmt::format("{} {}", g->tag, g->count));
  if (implicit) {
    batch_implicit_ = true;  // the batch's Sync commits it on every node it wrote (SyncBatch)
    if (!ok) tx_aborted_ = true;
  }
  Emit(out);
  if (ok) {
    MonitorEnd(monitor, g->count);
  } else {
    worker_.counters().Add(worker_.counters().errors_total);
    skip_until_sync_ = true;  // its error went to the client: the batch skips to its Sync
  }
  MaybeRelease();
  co_return !closing_;
}

awaitable<bool> Session::RouteSubplanned(std::string_view sql_text) {
  // Earlier statements of a client that does not wait for replies may still sit unsent: they go
  // first, and their replies come before this one's (each step waits for them).
  if (!co_await FlushServers()) co_return false;
  co_await WaitPendingDrained();
  std::string out, error;
  int node = -1;
  const std::string text(sql_text);
  const bool ok = co_await RunSelectThrough(text, 0, &out, &node, &error, /*monitored=*/true);
  if (closing_) co_return false;
  if (!ok) worker_.counters().Add(worker_.counters().errors_total);
  Emit(ok ? out : error);
  Push({.op = Op::kRfq});
  MaybeRelease();
  co_return !closing_;
}

bool Session::BindSubplanned(const backend::ServerStatement& stmt, const router::Bound& bound, std::string_view portal,
                             std::string_view bind_body) {
  protocol::BindMessage full;
  if (auto s = protocol::ParseBind(bind_body, &full); !s.ok()) {
    SkipUntilSync(s);
    return false;
  }
  if (RefusedAfterBatchSet()) return false;
  auto inlined = router::InlineParams(stmt.query, bound);
  if (!inlined.ok()) {
    SkipUntilSync(inlined.status());
    return false;
  }
  auto sp = std::make_shared<ScatterPortal>();
  sp->subplan_sql = std::move(inlined.value());
  sp->subplan_formats = std::move(full.result_formats);
  sp->gather = std::make_shared<Gather>();
  sp->gather->mode = Gather::Mode::kMerge;  // a row limit applies
  scatter_portals_[std::string(portal)] = std::move(sp);
  Push({.op = Op::kSynthetic, .synthetic = EmptyMessage(be::kBindComplete)});
  return true;
}

awaitable<bool> Session::RunSubplanPortal(ScatterPortal& sp) {
  if (sp.held_ready) co_return true;
  if (sp.failed) co_return false;
  if (!co_await FlushServers()) co_return false;  // what came before in the batch first
  co_await WaitPendingDrained();
  if (skip_until_sync_ || closing_) co_return false;
  std::string out, error;
  int node = -1;
  bool ran = co_await RunSelectThrough(sp.subplan_sql, 0, &out, &node, &error, /*monitored=*/true);
  if (ran) {
    // Its rows came in text: the columns the client asked in binary are converted.
    Status formats = router::ToResultFormats(&out, sp.subplan_formats, HeldTextOutput());
    if (!formats.ok()) {
      ran = false;
      error = ErrorMessage(formats);
    }
  }
  if (!ran) {
    if (closing_) co_return false;
    worker_.counters().Add(worker_.counters().errors_total);
    sp.failed = true;
    Push({.op = Op::kSynthetic, .synthetic = std::move(error)});
    skip_until_sync_ = true;
    batch_refused_ = batch_seq_ + 1;  // as SkipUntilSync's
    co_return false;
  }
  ForEachMessage(out, [&](char type, std::string_view body) {
    const std::string_view message(body.data() - 5, body.size() + 5);  // type and length before the body
    (type == be::kRowDescription ? sp.subplan_description : sp.held).append(message);
  });
  sp.held_ready = true;
  co_return true;
}

awaitable<bool> Session::RunSelectThrough(const std::string& select, int depth, std::string* out, int* node,
                                          std::string* error, bool monitored) {
  std::string text = select;
  for (int steps = 0;; ++steps) {
    sql::Lexed lexed;
    std::shared_ptr<const sql::Analysis> analysis;
    router::Bound bound;
    auto planned = co_await PlanComposed(text, &lexed, &analysis, &bound);
    const sql::Analysis& a = *analysis;
    Status refused = planned.ok() ? Status::OK() : planned.status();
    auto g = std::make_shared<Gather>();
    g->mode = Gather::Mode::kWrite;  // one node: collects the description and rows as they come
    // The statement with its subqueries' results written in is what the monitor records (its
    // steps are not: they are not the client's statements).
    const std::string planned_text = monitored ? text : std::string();
    if (planned.ok() && planned.value().nodes.size() > 1) {
      auto scatter = router::RewriteSelect(text, a, bound, *map_);
      if (scatter.ok()) {
        g->mode = Gather::Mode::kMerge;
        ApplyMergeSettings(&scatter.value().spec);
        g->merger = std::make_unique<router::Merger>(std::move(scatter.value().spec),
                                                     static_cast<int>(planned.value().nodes.size()));
        text = std::move(scatter.value().sql);
      } else {
        refused = scatter.status();
      }
    }
    if (refused.ok()) {
      const router::Route& route = planned.value();
      *node = route.nodes[0];
      const uint32_t monitor =
          monitored ? MonitorBegin(a, bound, route, lexed.shape_hash, planned_text, lexed.literals) : 0;
      const std::vector<std::string> sqls(route.nodes.size(), text);
      co_await Scatter(route.nodes, sqls, g);
      if (!g->error.empty()) {
        *error = g->error;
        co_return false;
      }
      if (!g->merge_error.ok()) {
        *error = ErrorMessage(g->merge_error);
        co_return false;
      }
      if (g->merger) {
        const Status finished = g->merger->Finish(out, /*with_description=*/true);
        if (!finished.ok()) *error = ErrorMessage(finished);
        if (finished.ok()) MonitorEndTag(monitor, LastCommandTag(*out));
        co_return finished.ok();
      }
      *out = g->description + g->rows;
      protocol::WriteCommandComplete(out, fmt::format("{} {}", g->tag, g->count));
      MonitorEnd(monitor, g->count);
      co_return true;
    }
    if (!Subplannable(a, refused)) {
      *error = ErrorMessage(refused);
      co_return false;
    }
    auto step = sql::NextSubplan(text);
    if (!step.ok() || step.value().kind == sql::SubplanStep::Kind::kNone) {
      *error = ErrorMessage(step.ok() ? refused : step.status());
      co_return false;
    }
    if (depth >= kMaxDepth || steps >= kMaxSteps) {
      *error = ErrorMessage(Status::Unsupported(fmt::format(
          "this SELECT reads several nodes and needs more than {} subqueries (or {} levels of them) run first; "
          "split it",
          kMaxSteps, kMaxDepth)));
      co_return false;
    }
    auto substituted = co_await RunSubplanStep(text, step.value(), depth, error);
    if (!substituted.has_value()) co_return false;
    text = std::move(*substituted);
  }
}

awaitable<std::optional<std::string>> Session::RunSubplanStep(const std::string& text, const sql::SubplanStep& step,
                                                              int depth, std::string* error) {
  if (step.kind == sql::SubplanStep::Kind::kCte && step.refs.empty()) {
    // PostgreSQL does not run a WITH query nothing refers to: it is dropped.
    auto dropped = sql::SubstituteSubplan(text, step, sql::SubplanResult{}, kMaxSubstitutedBytes);
    if (!dropped.ok()) *error = ErrorMessage(dropped.status());
    co_return dropped.ok() ? std::optional<std::string>(std::move(dropped.value())) : std::nullopt;
  }
  std::string reply;
  int node = -1;
  if (!co_await RunSelectThrough(step.query, depth + 1, &reply, &node, error)) {
    const std::string code = ErrorCode(*error);
    if (code == "42703" || code == "42P01") co_await ExplainCorrelation(text, error);
    co_return std::nullopt;
  }
  std::vector<std::pair<uint32_t, int32_t>> types;
  sql::SubplanResult result;
  if (!ReadResult(reply, &types, &result)) {
    *error = ErrorMessage(Status::Internal("a subquery run first returned a malformed reply"));
    co_return std::nullopt;
  }
  router::MergeSpec floats;
  ApplyMergeSettings(&floats);
  const bool values = step.kind != sql::SubplanStep::Kind::kExists;  // EXISTS needs none
  const Status exact = values ? CheckFloatsExact(types, floats.exact_floats, "a subquery over several nodes")
                              : Status::OK();
  if (!exact.ok()) {
    *error = ErrorMessage(exact);
    co_return std::nullopt;
  }
  std::vector<std::string> casts;
  if (values && !types.empty() && !co_await CastsOfTypes(node, types, &casts, error)) co_return std::nullopt;
  for (const std::string& cast : casts) result.types.push_back(cast.starts_with("::") ? cast.substr(2) : cast);
  auto substituted = sql::SubstituteSubplan(text, step, result, kMaxSubstitutedBytes);
  if (!substituted.ok()) {
    *error = ErrorMessage(substituted.status());
    co_return std::nullopt;
  }
  co_return std::move(substituted.value());
}

awaitable<void> Session::ExplainCorrelation(const std::string& text, std::string* error) {
  // The subquery names a column or table it does not read: a mistake, or a column of the
  // statement around it. The statement itself says which (EXPLAIN plans it, runs nothing); in
  // an aborted transaction block it cannot, and the refusal says both.
  const Status correlated = Status::Unsupported(
      "this SELECT reads several nodes and its subquery refers to a column it does not read itself, which is a "
      "mistake or a column of its outer query (a correlated subquery): Mosaic runs a subquery over several nodes "
      "on its own before the statement, which a correlated one cannot; rewrite it as a join on the tenant column, "
      "or filter it to one tenant or range so it runs on one node");
  if (TxStatus() != protocol::kTxIdle) {
    *error = ErrorMessage(correlated);
    co_return;
  }
  auto g = std::make_shared<Gather>();
  g->mode = Gather::Mode::kWrite;
  const std::vector<int> nodes{map_->DefaultNode().id};
  const std::vector<std::string> sqls{"EXPLAIN " + text};
  co_await Scatter(nodes, sqls, g);
  *error = g->error.empty() ? ErrorMessage(correlated) : g->error;
}

}  // namespace mosaic::frontend

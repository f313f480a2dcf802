#include "catalog/two_phase_recovery.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <mutex>
#include <set>

#include "catalog/pg_client.h"
#include "common/log.h"

namespace mosaic::catalog {

std::string TwoPhasePrefix(const std::string& router_id) { return "mosaic_" + router_id + "_"; }

int LastResourceNode(std::string_view gid) {
  const size_t at = gid.rfind("_l");
  if (at == std::string_view::npos) return -1;
  int id = 0;
  const char* end = gid.data() + gid.size();
  auto [ptr, ec] = std::from_chars(gid.data() + at + 2, end, id);
  return ec == std::errc() && ptr == end && id > 0 ? id : -1;
}

namespace {

// The table a last-resource commit records its decision in, on the node it commits last.
constexpr const char* kLocalDecisionsSql =
    "CREATE TABLE IF NOT EXISTS _mosaic.local_decisions (gid text PRIMARY KEY, commit bool NOT NULL, "
    "decided_at timestamptz NOT NULL DEFAULT now())";

// Creates _mosaic.local_decisions on the node if missing (a node where the router may not
// create it only cannot take last-resource commits: warned, not an error of the pass).
void EnsureLocalDecisions(PGconn* conn, const Node& node, const std::string& who) {
  auto there = pg::Exec(conn, "SELECT pg_catalog.to_regclass('_mosaic.local_decisions') IS NOT NULL", {}, who);
  if (there.ok() && pg::TextAt(there->get(), 0, 0) == "t") return;
  Status s = pg::Run(conn, "CREATE SCHEMA IF NOT EXISTS _mosaic", {}, who);
  if (s.ok()) s = pg::Run(conn, kLocalDecisionsSql, {}, who);
  static std::mutex mu;
  static std::set<int> warned;  // once per node and process, not every pass
  std::lock_guard lock(mu);
  if (!s.ok() && warned.insert(node.id).second) {
    log::warn("two-phase recovery: cannot create _mosaic.local_decisions on node {} (transactions that use "
              "temporary tables there and write on other nodes will fail to commit): {}",
              node.id, s.message());
  }
}

// The decision of last-resource transaction `gid` on `node`, the node that committed last: its
// row there, else abort, recorded first (the session's own row, if its transaction is still
// open, makes this insert wait for its outcome).
Result<bool> LocalDecision(const Node& node, const std::string& gid) {
  const std::string who = fmt::format("node {}", node.id);
  auto conn = pg::ConnectNode(node);
  if (!conn.ok()) return conn.status();
  if (Status s = pg::Run(conn->get(),
                         "INSERT INTO _mosaic.local_decisions (gid, commit) VALUES ($1, false) ON CONFLICT (gid) DO NOTHING",
                         {gid}, who);
      !s.ok()) {
    return s;
  }
  auto row = pg::Exec(conn->get(), "SELECT commit FROM _mosaic.local_decisions WHERE gid = $1", {gid}, who);
  if (!row.ok()) return row.status();
  return PQntuples(row->get()) == 1 && pg::TextAt(row->get(), 0, 0) == "t";
}

// The decisions of this router's last-resource commits recorded on the node (read before its
// prepared transactions are listed, as the catalog's).
std::vector<std::string> LocalDecisions(PGconn* conn, const std::string& gid_prefix, const std::string& who) {
  std::vector<std::string> gids;
  auto rows = pg::Exec(conn, "SELECT gid FROM _mosaic.local_decisions WHERE left(gid, length($1)) = $1",
                       {gid_prefix}, who);
  if (!rows.ok()) return gids;
  for (int i = 0; i < PQntuples(rows->get()); ++i) gids.push_back(pg::TextAt(rows->get(), i, 0));
  return gids;
}

// Resolves this router's prepared transactions on one node; adds the gids it leaves prepared
// there to `left`.
void RecoverNode(Catalog& catalog, const std::vector<Node>& nodes, const Node& node, const std::string& gid_prefix,
                 const std::function<bool(const std::string&)>& in_flight,
                 std::set<std::string>* left, RecoveryResult* out) {
  const std::string who = fmt::format("node {}", node.id);
  auto conn = pg::ConnectNode(node);
  if (!conn.ok()) {
    out->errors.push_back(conn.status().message());
    return;
  }
  EnsureLocalDecisions(conn->get(), node, who);
  out->local_decisions[node.id] = LocalDecisions(conn->get(), gid_prefix, who);
  auto listed = pg::Exec(conn->get(),
                         "SELECT gid FROM pg_catalog.pg_prepared_xacts "
                         "WHERE database = current_database() AND left(gid, length($1)) = $1 "
                         "ORDER BY prepared",
                         {gid_prefix}, who);
  if (!listed.ok()) {
    out->errors.push_back(listed.status().message());
    return;
  }
  for (int i = 0; i < PQntuples(listed->get()); ++i) {
    const std::string gid = pg::TextAt(listed->get(), i, 0);
    if (in_flight && in_flight(gid)) {
      left->insert(gid);
      ++out->in_flight;
      continue;
    }
    const int last = LastResourceNode(gid);
    const auto last_node = std::find_if(nodes.begin(), nodes.end(), [&](const Node& n) { return n.id == last; });
    if (last > 0 && last_node == nodes.end()) {
      left->insert(gid);
      out->errors.push_back(fmt::format("transaction {} was decided on node {}, which is not in the catalog", gid, last));
      continue;
    }
    auto decided = last > 0 ? LocalDecision(*last_node, gid) : catalog.DecideOutcome(gid);
    if (!decided.ok()) {
      left->insert(gid);
      out->errors.push_back(decided.status().message());
      continue;
    }
    // The gid is ours and made of [A-Za-z0-9_-]: safe to quote as a literal.
    const std::string sql = fmt::format("{} PREPARED '{}'", *decided ? "COMMIT" : "ROLLBACK", gid);
    Status s = pg::Run(conn->get(), sql, {}, who);
    if (!s.ok()) {
      if (s.sqlstate() == sqlstate::kUndefinedObject) continue;  // resolved meanwhile (by its session)
      left->insert(gid);
      out->errors.push_back(s.message());
      continue;
    }
    log::warn("two-phase recovery: {} on node {}", sql, node.id);
    ++(*decided ? out->committed : out->rolled_back);
  }
}

}  // namespace

Result<RecoveryResult> RecoverPreparedTransactions(
    Catalog& catalog, const std::vector<Node>& nodes, const std::string& gid_prefix,
    const std::function<bool(const std::string&)>& in_flight) {
  auto decisions = catalog.Decisions(gid_prefix);
  if (!decisions.ok()) return decisions.status();
  RecoveryResult out;
  std::set<std::string> left;  // still prepared somewhere after this pass
  for (const Node& node : nodes) RecoverNode(catalog, nodes, node, gid_prefix, in_flight, &left, &out);
  if (!out.errors.empty()) return out;  // a node we could not list may still hold some
  for (const Node& node : nodes) {  // the last-resource decisions read first that nothing needs now
    std::vector<std::string> done;
    for (const auto& gid : out.local_decisions[node.id]) {
      if (!left.count(gid) && !(in_flight && in_flight(gid))) done.push_back(gid);
    }
    if (done.empty()) continue;
    auto conn = pg::ConnectNode(node);
    std::string list;
    for (const auto& gid : done) list += (list.empty() ? "'" : ", '") + gid + "'";  // ours: [A-Za-z0-9_-]
    Status s = conn.ok() ? pg::Run(conn->get(), "DELETE FROM _mosaic.local_decisions WHERE gid IN (" + list + ")", {},
                                   fmt::format("node {}", node.id))
                         : conn.status();
    if (!s.ok()) log::warn("two-phase recovery: {}", s.message());
  }
  std::vector<std::string> done;
  for (const auto& gid : *decisions) {
    if (!left.count(gid) && !(in_flight && in_flight(gid))) done.push_back(gid);
  }
  if (Status s = catalog.ForgetDecisions(done); !s.ok()) {
    out.errors.push_back(s.message());
  } else {
    out.forgotten = static_cast<int>(done.size());
  }
  return out;
}

}  // namespace mosaic::catalog

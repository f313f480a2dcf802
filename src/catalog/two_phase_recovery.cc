#include "catalog/two_phase_recovery.h"

#include <fmt/format.h>

#include <set>

#include "catalog/pg_client.h"
#include "common/log.h"

namespace mosaic::catalog {

std::string TwoPhasePrefix(const std::string& router_id) { return "mosaic_" + router_id + "_"; }

namespace {

// Resolves this router's prepared transactions on one node; adds the gids it leaves prepared
// there to `left`.
void RecoverNode(Catalog& catalog, const Node& node, const std::string& gid_prefix,
                 const std::function<bool(const std::string&)>& in_flight,
                 std::set<std::string>* left, RecoveryResult* out) {
  const std::string who = fmt::format("node {}", node.id);
  auto conn = pg::ConnectNode(node);
  if (!conn.ok()) {
    out->errors.push_back(conn.status().message());
    return;
  }
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
    auto decided = catalog.DecideOutcome(gid);
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
  for (const Node& node : nodes) RecoverNode(catalog, node, gid_prefix, in_flight, &left, &out);
  if (!out.errors.empty()) return out;  // a node we could not list may still hold some
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

// Two-phase commit recovery: finishes the multi-node transactions a router left prepared.
//
// A router commits a multi-node write transaction by preparing it on every node that wrote
// (PREPARE TRANSACTION 'mosaic_<router>_<incarnation>_<session>_<n>'), recording the commit
// decision in the catalog (mosaic.transactions), then COMMIT PREPARED on each node. If it dies,
// or loses a node, between the first PREPARE and the last COMMIT PREPARED, prepared
// transactions stay behind on the nodes, holding their locks. The recovery pass resolves each
// of this router's prepared transactions by the catalog: a recorded commit decision means
// COMMIT PREPARED; without one the pass records 'abort' (first writer wins, so the session
// cannot record a commit afterwards) and runs ROLLBACK PREPARED: the router cannot have told
// anyone it committed.
// Transactions the running router is still finishing are left alone (`in_flight`).
// A last-resource commit (gid "..._l<node>", frontend/session_last_resource.cc) is decided by
// its row in that node's _mosaic.local_decisions instead (the pass creates the table on every
// node), by the same first-writer rule: no row means the pass records (gid, false) there and
// rolls back.
//
// Control plane only: synchronous libpq on the calling thread.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "catalog/shard_map.h"
#include "common/status.h"

namespace mosaic::catalog {

struct RecoveryResult {
  int committed = 0;    // COMMIT PREPARED run
  int rolled_back = 0;  // ROLLBACK PREPARED run
  int forgotten = 0;    // decision records deleted (resolved everywhere)
  int in_flight = 0;    // prepared transactions skipped because the router is finishing them
  std::vector<std::string> errors;  // nodes or transactions that could not be handled now
  // Per node id: the last-resource decisions of this router read from its _mosaic.local_decisions.
  std::map<int, std::vector<std::string>> local_decisions;
};

// The node a last-resource commit decided on ("..._l<node>": frontend/session_last_resource.cc,
// its decision is a row of that node's _mosaic.local_decisions), or -1 for a catalog-decided gid.
int LastResourceNode(std::string_view gid);

// The transaction-id prefix of router `router_id`: "mosaic_<router_id>_".
std::string TwoPhasePrefix(const std::string& router_id);

// One recovery pass over `nodes` for the transactions whose ids start with `gid_prefix`.
// `in_flight(gid)` says whether the running router still owns a transaction (may be empty:
// nothing is in flight, as at start-up). Order matters, and is: read the decisions, then list
// each node's prepared transactions, resolve them, and delete the decisions read first that no
// node still holds prepared after the pass (a decision written after the read is never deleted
// by this pass, so a session's decision cannot vanish before its nodes were listed).
// Fails only if the catalog cannot be read; node failures are listed in `errors` and the pass
// goes on (the next pass retries).
Result<RecoveryResult> RecoverPreparedTransactions(
    Catalog& catalog, const std::vector<Node>& nodes, const std::string& gid_prefix,
    const std::function<bool(const std::string&)>& in_flight);

}  // namespace mosaic::catalog

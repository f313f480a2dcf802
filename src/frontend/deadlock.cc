#include "frontend/deadlock.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <set>

#include "catalog/pg_client.h"
#include "common/log.h"

namespace mosaic::frontend {

namespace {

// Lock waits of backends of this database, and who blocks them: the holders of a conflicting
// lock and the waiters queued ahead (pg_blocking_pids). A prepared transaction blocking shows
// as pid 0: it waits for nothing, and its session is about to finish it.
constexpr const char* kLockWaitsSql =
    "SELECT pid, pg_catalog.pg_blocking_pids(pid) FROM pg_catalog.pg_stat_activity "
    "WHERE wait_event_type = 'Lock' AND datname = pg_catalog.current_database()";

// An int[] in text form ("{1,2}").
std::vector<int32_t> ParsePids(std::string_view text) {
  std::vector<int32_t> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] < '0' || text[i] > '9')) ++i;
    size_t j = i;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') ++j;
    if (j > i) {
      int32_t pid = 0;
      std::from_chars(text.data() + i, text.data() + j, pid);
      out.push_back(pid);
    }
    i = j;
  }
  return out;
}

// Cycle search budget (edges tried per search): the graphs are small (sessions waiting on
// locks at one moment), but simple cycles can be exponentially many; past the budget a search
// gives up and the next round tries again.
constexpr int kSearchBudget = 100000;

struct Graph {
  // Out-edges by waiter session (index into edges).
  std::map<int32_t, std::vector<const WaitEdge*>> out;
  std::set<int32_t> removed;
};

// Depth-first search for a simple cycle through `start` whose other members are all greater
// than it (so each cycle is found from its smallest member only), with waits on two or more
// nodes. `path` holds the edges so far.
bool Search(const Graph& g, int32_t start, int32_t at, std::vector<const WaitEdge*>& path,
            std::set<int32_t>& on_path, int* budget) {
  auto it = g.out.find(at);
  if (it == g.out.end()) return false;
  for (const WaitEdge* e : it->second) {
    if (--*budget < 0) return false;
    const int32_t next = e->holder.session;
    if (g.removed.count(next) || next < start) continue;
    if (next == start) {
      int first = path.empty() ? e->node : path.front()->node;
      bool several = e->node != first;
      for (const WaitEdge* p : path) several = several || p->node != first;
      if (!several) continue;  // all on one node: that node's deadlock detector's
      path.push_back(e);
      return true;
    }
    if (on_path.count(next)) continue;
    path.push_back(e);
    on_path.insert(next);
    if (Search(g, start, next, path, on_path, budget)) return true;
    on_path.erase(next);
    path.pop_back();
  }
  return false;
}

}  // namespace

std::vector<WaitEdge> BuildWaitGraph(const std::vector<LockWait>& waits,
                                     const std::map<backend::BackendKey, backend::BackendRegistry::Holder>& holders) {
  std::vector<WaitEdge> edges;
  for (const auto& w : waits) {
    auto waiter = holders.find({w.node, w.pid});
    if (waiter == holders.end()) continue;
    for (int32_t blocker : w.blockers) {
      auto holder = holders.find({w.node, blocker});
      if (holder == holders.end() || holder->second.session == waiter->second.session) continue;
      edges.push_back({.waiter = {waiter->second.session, waiter->second.since},
                       .holder = {holder->second.session, holder->second.since},
                       .node = w.node,
                       .waiter_pid = w.pid});
    }
  }
  std::sort(edges.begin(), edges.end());
  edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
  return edges;
}

std::vector<WaitEdge> CommonEdges(const std::vector<WaitEdge>& a, const std::vector<WaitEdge>& b) {
  std::vector<WaitEdge> out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

std::vector<DeadlockVictim> FindDeadlockVictims(const std::vector<WaitEdge>& edges) {
  Graph g;
  std::set<int32_t> sessions;
  for (const auto& e : edges) {
    g.out[e.waiter.session].push_back(&e);
    sessions.insert(e.waiter.session);
  }
  std::vector<DeadlockVictim> victims;
  int budget = kSearchBudget;
  for (int32_t start : sessions) {
    // Several cycles may go through `start`: look again after each victim.
    while (!g.removed.count(start)) {
      std::vector<const WaitEdge*> path;
      std::set<int32_t> on_path{start};
      if (!Search(g, start, start, path, on_path, &budget)) break;
      // The youngest transaction of the cycle (began last; larger session id on a tie).
      const WaitEdge* pick = path.front();
      for (const WaitEdge* e : path) {
        if (std::tie(e->waiter.since, e->waiter.session) > std::tie(pick->waiter.since, pick->waiter.session)) pick = e;
      }
      DeadlockVictim v{.txn = pick->waiter, .node = pick->node, .backend_pid = pick->waiter_pid, .cycle = {}};
      for (const WaitEdge* e : path) v.cycle.push_back(e->waiter);
      g.removed.insert(pick->waiter.session);
      victims.push_back(std::move(v));
    }
    if (budget < 0) {
      log::warn("distributed deadlock detection: the wait-for graph is too large to search ({} waits)", edges.size());
      break;
    }
  }
  return victims;
}

struct DeadlockDetector::NodeConns {
  std::map<int, catalog::pg::Conn> by_node;
};

DeadlockDetector::DeadlockDetector(double interval_s, catalog::ShardMapHolder& shard_map,
                                   backend::BackendRegistry& registry, CancelFn cancel)
    : interval_s_(interval_s),
      shard_map_(shard_map),
      registry_(registry),
      cancel_(std::move(cancel)),
      conns_(std::make_unique<NodeConns>()) {}

DeadlockDetector::~DeadlockDetector() { Stop(); }

void DeadlockDetector::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void DeadlockDetector::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void DeadlockDetector::Loop() {
  const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(interval_s_));
  auto next = std::chrono::steady_clock::now() + interval;
  while (!stopping_) {
    while (!stopping_ && std::chrono::steady_clock::now() < next) {
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          std::chrono::milliseconds(50), next - std::chrono::steady_clock::now()));
    }
    if (stopping_) break;
    next += interval;
    RunOnce();
    next = std::max(next, std::chrono::steady_clock::now());  // a slow round: no catching up
  }
}

std::vector<WaitEdge> DeadlockDetector::ReadGraph() {
  auto map = shard_map_.Snapshot();
  std::vector<LockWait> waits;
  for (const auto& node : map->nodes) {
    auto& conn = conns_->by_node[node.id];
    if (conn && PQstatus(conn.get()) != CONNECTION_OK) conn.reset();
    if (!conn) {
      // Its own short timeouts: a node that does not answer delays only this thread, and
      // detection on the other nodes goes on next round.
      const char* keys[] = {"dbname", "fallback_application_name", "connect_timeout", "options", nullptr};
      const char* values[] = {node.dsn.c_str(), "mosaic-deadlock-detector", "2",
                              "-c statement_timeout=5000 -c lock_timeout=1000", nullptr};
      catalog::pg::Conn c(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
      if (PQstatus(c.get()) != CONNECTION_OK) {
        errors_.fetch_add(1, std::memory_order_relaxed);
        log::debug("distributed deadlock detection: cannot connect to node {}: {}", node.id,
                   catalog::pg::Trimmed(PQerrorMessage(c.get())));
        continue;
      }
      conn = std::move(c);
    }
    auto res = catalog::pg::Exec(conn.get(), kLockWaitsSql, {}, fmt::format("node {}", node.id));
    if (!res.ok()) {
      errors_.fetch_add(1, std::memory_order_relaxed);
      log::debug("distributed deadlock detection: {}", res.status().message());
      conn.reset();
      continue;
    }
    const PGresult* r = res.value().get();
    for (int row = 0; row < PQntuples(r); ++row) {
      waits.push_back({.node = node.id,
                       .pid = catalog::pg::IntAt<int32_t>(r, row, 0),
                       .blockers = ParsePids(std::string_view(PQgetvalue(r, row, 1), PQgetlength(r, row, 1)))});
    }
  }
  if (waits.empty()) return {};
  // The holders are read after the waits: a backend waiting then is still held by the session
  // whose statement waits (a session keeps its connection while a statement runs), and a
  // holder whose transaction ended meanwhile shows up as another transaction, or none.
  return BuildWaitGraph(waits, registry_.Snapshot());
}

std::vector<DeadlockVictim> DeadlockDetector::RunOnce() {
  std::lock_guard lock(mu_);
  auto first = ReadGraph();
  if (first.empty() || FindDeadlockVictims(first).empty()) return {};
  auto victims = FindDeadlockVictims(CommonEdges(first, ReadGraph()));
  for (const auto& v : victims) {
    std::string cycle;
    for (const auto& t : v.cycle) cycle += fmt::format("{}{}", cycle.empty() ? "" : " -> ", t.session);
    log::warn("distributed deadlock: sessions {} -> {} wait for each other over several nodes; cancelling "
              "the youngest transaction, session {}'s, waiting on node {} (backend pid {})",
              cycle, v.cycle.front().session, v.txn.session, v.node, v.backend_pid);
    victims_.fetch_add(1, std::memory_order_relaxed);
    cancel_(v);
  }
  return victims;
}

}  // namespace mosaic::frontend

// The data path's part in online migrations (src/migration): fences, refusals of statements that
// would see a migration's copy, and shadow-read samples. Costs nothing while no migration runs:
// the shard map's list of active migrations is empty.
#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "common/log.h"
#include "frontend/session.h"
#include "frontend/session_internal.h"

namespace mosaic::frontend {

using asio::awaitable;

namespace {

constexpr auto kFenceWaitLimit = std::chrono::seconds(30);
constexpr auto kFencePoll = std::chrono::milliseconds(1);
constexpr std::string_view kSerializationFailure = "40001";

bool Has(const std::vector<int>& nodes, int id) {
  return std::find(nodes.begin(), nodes.end(), id) != nodes.end();
}

// Statements that place each row on one node (INSERT, COPY FROM) cannot see a copy twice.
bool PlacesRows(sql::StatementType t) {
  return t == sql::StatementType::kInsert || t == sql::StatementType::kCopyFrom;
}

// When `a` planned on the older map `then` runs on other nodes than `now`: the first of them
// (a node id); 0 when the nodes are the same or it cannot be planned there.
int FormerNode(const catalog::ShardMap& then, const sql::Analysis& a, const router::Bound& bound,
                const router::Route& now) {
  auto planned = router::Plan(then, a, bound);
  if (!planned.ok() || planned.value().nodes == now.nodes) return 0;
  return planned.value().nodes.front();
}

std::string TenantText(const std::string& tenant) {
  return tenant.empty() ? std::string("the single-tenant tables") : fmt::format("tenant {}", tenant);
}

}  // namespace

awaitable<Result<router::Route>> Session::PlanGated(const sql::Analysis& a, const router::Bound& given,
                                                    std::string_view sql_text) {
  const auto deadline = std::chrono::steady_clock::now() + kFenceWaitLimit;
  router::Bound with_temp;
  if (!temp_tables_.empty() && given.temp_tables == nullptr) {
    with_temp = given;
    with_temp.temp_tables = &temp_tables_;
  }
  const router::Bound& bound = with_temp.temp_tables != nullptr ? with_temp : given;
  for (;;) {
    auto planned = router::Plan(*map_, a, bound);
    if (!planned.ok()) co_return planned;
    if (map_->migrations.empty() || ctx_.migrations == nullptr) {
      if (SnapshotMayPredate()) {
        Status refused;
        if (co_await MovedSinceSnapshot(a, bound, planned.value(), &refused)) co_return refused;
      }
      co_return planned;
    }
    const router::Route& route = planned.value();
    bool wait = false;
    for (const catalog::Table* table : route.tables) {
      if (table == nullptr) continue;
      for (const catalog::ActiveMigration* m : map_->MigrationsOfTable(table->id)) {
        if (route.tenant_known && route.tenant != m->tenant) continue;
        if (route.nodes.size() > 1 && !route.all_nodes && !PlacesRows(a.type)) {
          for (const auto& flow : m->flows) {
            if (Has(route.nodes, flow.source) && Has(route.nodes, flow.target)) {
              co_return Status::Unsupported(fmt::format(
                  "rows of {} in table {} are being migrated between node {} and node {} (migration {}, "
                  "phase {}): a statement running on both nodes would see them twice; narrow it to one "
                  "node (filter on the range column) or run it once the migration is done",
                  TenantText(m->tenant), table->name, flow.source, flow.target, m->id, m->phase));
            }
          }
        }
        const bool held = std::any_of(fences_.begin(), fences_.end(),
                                      [&](const auto& f) { return f.first == m->id; });
        std::shared_ptr<migration::Fence> fence;
        if (held) {
          for (const auto& f : fences_) {
            if (f.first == m->id) fence = f.second;
          }
        } else {
          fence = ctx_.migrations->Get(m->id);
          switch (fence->TryEnter(map_->version)) {
            case migration::Fence::Enter::kEntered:
              fences_.emplace_back(m->id, fence);
              break;
            case migration::Fence::Enter::kClosed:
            case migration::Fence::Enter::kStale:
              wait = true;
              continue;
          }
        }
        if (m->shadow && !route.write && route.nodes.size() == 1 && fence->sampling()) {
          const int node = route.nodes[0];
          const bool from_source = std::any_of(m->flows.begin(), m->flows.end(),
                                               [&](const auto& f) { return f.source == node; });
          bool text_params = true;
          for (const auto& p : bound.params) text_params = text_params && (p.null || !p.binary);
          if (from_source && text_params) {
            migration::ShadowSample sample{.sql = std::string(sql_text), .params = {}, .node = node};
            for (const auto& p : bound.params) {
              sample.params.push_back(p.null ? std::nullopt : std::optional<std::string>(std::string(p.bytes)));
            }
            fence->Offer(std::move(sample));
          }
        }
      }
    }
    if (!wait) {
      if (SnapshotMayPredate()) {
        Status refused;
        if (co_await MovedSinceSnapshot(a, bound, route, &refused)) co_return refused;
      }
      co_return planned;
    }
    // A cutover holds a fence closed, or switched the rows after our map was taken: wait a
    // moment, take the newest map and plan again.
    if (std::chrono::steady_clock::now() >= deadline) {
      co_return Status::Error("55P03", "a migration's cutover kept the rows this statement needs fenced for 30 s; "
                                       "try again");
    }
    KickWriter();  // the client batch's replies so far leave before the wait
    asio::steady_timer timer(client_.get_executor(), kFencePoll);
    fence_waiting_ = true;
    co_await timer.async_wait(use_tuple);
    fence_waiting_ = false;
    if (std::exchange(fence_wait_cancelled_, false)) {
      co_return Status::Canceled("it was waiting for a migration's cutover");
    }
    RefreshMap();
  }
}

bool Session::SnapshotMayPredate() {
  if (!tx_block_) return false;
  if (snapshot_map_ == nullptr || LinkedCount() == 0) {
    // No node has a snapshot of this transaction yet: this statement takes the first.
    snapshot_map_ = map_;
    return false;
  }
  return snapshot_map_ != map_ && snapshot_map_->version != map_->version;
}

awaitable<bool> Session::MovedSinceSnapshot(const sql::Analysis& a, const router::Bound& bound,
                                            const router::Route& route, Status* refused) {
  const int from = FormerNode(*snapshot_map_, a, bound, route);
  if (from == 0) co_return false;
  // The rows moved (rare: a cutover during this transaction). Its isolation level decides;
  // any node it has begun on knows it. (Not after an error in this extended-protocol batch: the
  // node skips everything up to the Sync, the question too.)
  co_await WaitPendingDrained();
  if (skip_until_sync_ || tx_aborted_ || closing_) co_return false;
  int asked = 0;
  for (size_t i = 0; i < links_.size() && asked == 0; ++i) {
    const auto& server = links_[i].server;
    if (server && !links_[i].shared && server->tx_status == protocol::kTxInBlock) asked = map_->nodes[i].id;
  }
  if (asked == 0) co_return false;
  auto check = std::make_shared<Gather>();
  check->mode = Gather::Mode::kWrite;
  const std::vector<int> nodes{asked};
  const std::vector<std::string> sqls{
      "SELECT 1 WHERE pg_catalog.current_setting('transaction_isolation') IN ('repeatable read', 'serializable')"};
  co_await Scatter(nodes, sqls, check);
  if (check->error.empty() && check->rows.empty()) co_return false;  // READ COMMITTED
  *refused = Status::Error(
      kSerializationFailure,
      fmt::format("could not serialize access due to a concurrent migration: rows this statement touches moved "
                  "from node {} to node {} after this transaction's snapshot was taken; retry the transaction",
                  from, route.nodes.front()));
  co_return true;
}

Status Session::CheckDdlDuringMigrations(const sql::Analysis& a) const {
  if (map_->migrations.empty() || !a.ddl_alters_tables) return Status::OK();
  for (const sql::TableRef& ref : a.tables) {
    if (ref.in_subquery) continue;
    const catalog::Table* table = router::ResolveTable(*map_, ref);
    if (table == nullptr) continue;
    for (const catalog::ActiveMigration* m : map_->MigrationsOfTable(table->id)) {
      return Status::Error(sqlstate::kObjectInUse,
                           fmt::format("table {} is being migrated (migration {}, rows of {}, phase {}): its schema "
                                       "cannot change until the migration is done or rolled back; run the change "
                                       "then, or abort the migration (POST /api/v1/migrations/{}/abort)",
                                       table->name, m->id, TenantText(m->tenant), m->phase, m->id));
    }
  }
  return Status::OK();
}

void Session::LeaveFencesIfIdle() {
  if (fences_.empty() || !pending_.empty() || batch_open_ || tx_block_ || copy_in_) return;
  for (const auto& link : links_) {
    if (link.server && link.server->tx_status != protocol::kTxIdle) return;
  }
  LeaveFences();
}

void Session::LeaveFences() {
  for (auto& [id, fence] : fences_) fence->Leave();
  fences_.clear();
}

}  // namespace mosaic::frontend

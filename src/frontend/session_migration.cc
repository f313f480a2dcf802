// The data path's part in online migrations (src/migration): fences, refusals of statements that
// would see a migration's copy, and shadow-read samples. Costs nothing while no migration runs:
// the shard map's list of active migrations is empty.
#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "common/log.h"
#include "frontend/session.h"

namespace mosaic::frontend {

using asio::awaitable;

namespace {

constexpr auto kFenceWaitLimit = std::chrono::seconds(30);
constexpr auto kFencePoll = std::chrono::milliseconds(1);

bool Has(const std::vector<int>& nodes, int id) {
  return std::find(nodes.begin(), nodes.end(), id) != nodes.end();
}

// Statements that place each row on one node (INSERT, COPY FROM) cannot see a copy twice.
bool PlacesRows(sql::StatementType t) {
  return t == sql::StatementType::kInsert || t == sql::StatementType::kCopyFrom;
}

std::string TenantText(const std::string& tenant) {
  return tenant.empty() ? std::string("the single-tenant tables") : fmt::format("tenant {}", tenant);
}

}  // namespace

awaitable<Result<router::Route>> Session::PlanGated(const sql::Analysis& a, const router::Bound& bound,
                                                    std::string_view sql_text) {
  const auto deadline = std::chrono::steady_clock::now() + kFenceWaitLimit;
  for (;;) {
    auto planned = router::Plan(*map_, a, bound);
    if (!planned.ok() || map_->migrations.empty() || ctx_.migrations == nullptr) co_return planned;
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
    if (!wait) co_return planned;
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

// Integration tests for the catalog's migration records and journal (Catalog::*Migration*)
// against a real PostgreSQL 15: one throwaway cluster for the suite, a catalog database per test.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <thread>

#include "catalog/catalog.h"
#include "postgres_suite.h"

namespace mosaic::catalog {
namespace {


const Column kTenant{"tenant_id", "int8", 20};
const Column kDay{"day", "date", 1082};

class MigrationJournalTest : public mosaic::testing::PostgresSuite {
 protected:

  // A catalog with nodes 1 and 2 and the distributed tables orders and items (tenant_id, day).
  static std::unique_ptr<Catalog> Open(const std::string& dbname) {
    auto catalog = Catalog::Open(pg_->dsn(dbname));
    EXPECT_TRUE(catalog.ok()) << catalog.status().ToString();
    if (!catalog.ok()) return nullptr;
    Status s = (*catalog)->RegisterNodes({Node{.id = 1, .dsn = "host=10.0.0.1"}, Node{.id = 2, .dsn = "host=10.0.0.2"}});
    auto table = [](const char* name) {
      return DiscoveredTable{.schema = "public", .name = name, .columns = {kTenant, kDay}, .tenant_column = "tenant_id"};
    };
    if (s.ok()) s = (*catalog)->SyncTables({table("orders"), table("items")});
    EXPECT_TRUE(s.ok()) << s.ToString();
    return s.ok() ? std::move(catalog).value() : nullptr;
  }

  static std::shared_ptr<const ShardMap> Map(Catalog& catalog) {
    auto map = catalog.Load();
    EXPECT_TRUE(map.ok()) << map.status().ToString();
    return map.ok() ? *map : std::make_shared<const ShardMap>();
  }

  static MigrationRecord Record(const ShardMap& map, const std::string& tenant = "42") {
    MigrationRecord m;
    m.action = "split";
    m.tenant = tenant;
    m.table_ids = {map.FindTable("public", "orders")->id, map.FindTable("public", "items")->id};
    m.plan_json = R"({"action": "split", "tenant": ")" + tenant + R"(", "column": "day"})";
    m.flows_json = R"([{"source": 1, "target": 2, "filter": "true"}])";
    return m;
  }

  // A migration in phase cutover, with the catalog's version before the switch.
  struct CutOverSetup {
    std::unique_ptr<Catalog> catalog;
    std::shared_ptr<const ShardMap> map;
    int64_t id = 0;
    int64_t before = 0;
  };
  static CutOverSetup Setup(const std::string& dbname) {
    CutOverSetup s;
    s.catalog = Open(dbname);
    if (s.catalog == nullptr) return s;
    s.map = Map(*s.catalog);
    auto id = s.catalog->CreateMigration(Record(*s.map));
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    s.id = id.ok() ? *id : 0;
    EXPECT_TRUE(s.catalog->SetMigrationPhase(s.id, "cutover", R"({"step": 1})", "fence up").ok());
    s.before = Map(*s.catalog)->version;
    return s;
  }
};

TEST_F(MigrationJournalTest, CreateListGetAndJournal) {
  auto catalog = Open("mig_create");
  ASSERT_NE(catalog, nullptr);
  auto map = Map(*catalog);
  auto first = catalog->CreateMigration(Record(*map));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(Map(*catalog)->version, map->version + 1);  // active migrations are part of the map
  MigrationRecord second_record = Record(*map, "7");
  second_record.origin = "rebalancer";
  auto second = catalog->CreateMigration(second_record);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_GT(*second, *first);

  auto got = catalog->GetMigration(*first);
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status().ToString();
  const MigrationRecord& m = **got;
  EXPECT_EQ(m.id, *first);
  EXPECT_EQ(m.action, "split");
  EXPECT_EQ(m.origin, "manual");
  EXPECT_EQ(m.tenant, "42");
  EXPECT_EQ(m.table_ids, Record(*map).table_ids);
  EXPECT_EQ(nlohmann::json::parse(m.plan_json), nlohmann::json::parse(Record(*map).plan_json));
  EXPECT_EQ(nlohmann::json::parse(m.flows_json)[0]["target"], 2);
  EXPECT_EQ(m.phase, "queued");
  EXPECT_FALSE(m.paused);
  EXPECT_EQ(m.requested, std::nullopt);
  EXPECT_EQ(m.error, std::nullopt);
  EXPECT_EQ(m.state_json, "{}");
  EXPECT_FALSE(m.created_at.empty());
  EXPECT_EQ(m.finished_at, std::nullopt);

  auto missing = catalog->GetMigration(*second + 100);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  auto all = catalog->ListMigrations(false);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, *second);  // newest first
  EXPECT_EQ((*all)[0].origin, "rebalancer");

  auto journal = catalog->MigrationJournal(*first);
  ASSERT_TRUE(journal.ok()) << journal.status().ToString();
  ASSERT_EQ(journal->size(), 1u);
  EXPECT_EQ((*journal)[0].phase, "queued");
  EXPECT_FALSE((*journal)[0].at.empty());
}

TEST_F(MigrationJournalTest, PhasesStateRequestsAndPauses) {
  auto catalog = Open("mig_phases");
  ASSERT_NE(catalog, nullptr);
  auto map = Map(*catalog);
  auto id = catalog->CreateMigration(Record(*map));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  const int64_t before = Map(*catalog)->version;

  auto version = catalog->SetMigrationPhase(*id, "shadow_reads", R"({"step": 1})", "copy started");
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  EXPECT_EQ(*version, before + 1);
  EXPECT_EQ(Map(*catalog)->version, *version);

  ASSERT_TRUE(catalog->SaveMigrationState(*id, R"({"step": 2, "progress": {"rows_copied": 5}})").ok());
  ASSERT_TRUE(catalog->SetMigrationPaused(*id, true).ok());
  ASSERT_TRUE(catalog->SetMigrationRequest(*id, "rollback").ok());
  EXPECT_EQ(Map(*catalog)->version, *version);  // none of these bump the version
  auto m = catalog->GetMigration(*id);
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ((*m)->phase, "shadow_reads");
  EXPECT_EQ(nlohmann::json::parse((*m)->state_json)["progress"]["rows_copied"], 5);
  EXPECT_TRUE((*m)->paused);
  EXPECT_EQ((*m)->requested, "rollback");
  auto active = catalog->ListMigrations(true);
  ASSERT_TRUE(active.ok());
  EXPECT_EQ(active->size(), 1u);

  ASSERT_TRUE(catalog->SetMigrationPaused(*id, false).ok());
  ASSERT_TRUE(catalog->SetMigrationPhase(*id, "rolling_back", "{}", "operator asked").ok());
  ASSERT_TRUE(catalog->SetMigrationPhase(*id, "failed", "{}", "gave up", std::string("node 2 is gone")).ok());
  m = catalog->GetMigration(*id);
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ((*m)->phase, "failed");
  EXPECT_EQ((*m)->error, "node 2 is gone");
  EXPECT_TRUE((*m)->finished_at.has_value());
  EXPECT_EQ((*m)->requested, std::nullopt);  // a terminal phase clears the request
  active = catalog->ListMigrations(true);
  ASSERT_TRUE(active.ok());
  EXPECT_TRUE(active->empty());

  auto journal = catalog->MigrationJournal(*id);
  ASSERT_TRUE(journal.ok());
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& e : *journal) entries.emplace_back(e.phase, e.detail);
  EXPECT_EQ(entries, (std::vector<std::pair<std::string, std::string>>{
                         {"queued", "submitted (manual)"}, {"shadow_reads", "copy started"},
                         {"shadow_reads", "paused"}, {"shadow_reads", "resumed"},
                         {"rolling_back", "operator asked"}, {"failed", "gave up"}}));

  EXPECT_EQ(catalog->SetMigrationPhase(*id + 1, "done", "{}", "").status().sqlstate(), "42704");
  EXPECT_EQ(catalog->SaveMigrationState(*id + 1, "{}").sqlstate(), "42704");
  EXPECT_EQ(catalog->SetMigrationPaused(*id + 1, true).sqlstate(), "42704");
  EXPECT_EQ(catalog->SetMigrationRequest(*id + 1, std::nullopt).sqlstate(), "42704");
}

Layout TwoRanges(const ShardMap& map) {
  Layout l;
  l.tenant = "42";
  l.table_ids = {map.FindTable("public", "orders")->id, map.FindTable("public", "items")->id};
  l.column = "day";
  l.column_type = "date";
  l.key_type = router::KeyType::kDate;
  l.ranges = {Range{.upper = "2024-01-01", .node_id = 1}, Range{.lower = "2024-01-01", .node_id = 2}};
  return l;
}

// What the data path reads of a map, as text: equal maps give equal text.
std::string Summary(const ShardMap& map) {
  std::string out = "v" + std::to_string(map.version);
  for (const Node& n : map.nodes) out += " n" + std::to_string(n.id);
  for (const Table& t : map.tables) out += " t" + std::to_string(t.id) + t.name;
  for (const Layout& l : map.layouts) {
    out += " l" + std::to_string(l.id) + "/" + l.tenant + "/" + l.column + "@" + std::to_string(l.version) + ":";
    for (int64_t t : l.table_ids) out += std::to_string(t) + ",";
    for (const Range& r : l.ranges) {
      out += "[" + r.lower.value_or("-") + "," + r.upper.value_or("-") + ")=" + std::to_string(r.node_id);
    }
  }
  for (const ActiveMigration& m : map.migrations) out += " m" + std::to_string(m.id) + m.phase;
  return out;
}

TEST_F(MigrationJournalTest, PreparedCutOverCommitsTheLayoutAndThePhaseInOneVersion) {
  auto s = Setup("mig_cutover");
  ASSERT_NE(s.catalog, nullptr);
  auto other = Catalog::Open(pg_->dsn("mig_cutover"));  // another router's view
  ASSERT_TRUE(other.ok());

  auto prepared = s.catalog->PrepareCutOver(s.id, TwoRanges(*s.map), "deprecated");
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  const ShardMap& inside = *(*prepared)->map();
  EXPECT_EQ(inside.version, s.before + 1);  // one bump for both
  const Layout* layout = inside.FindLayout(s.map->FindTable("public", "items")->id, "42");
  ASSERT_NE(layout, nullptr);
  ASSERT_EQ(layout->ranges.size(), 2u);
  EXPECT_EQ(layout->ranges[1].node_id, 2);
  EXPECT_EQ(layout->version, inside.version);
  ASSERT_EQ(inside.migrations.size(), 1u);
  EXPECT_EQ(inside.migrations[0].phase, "deprecated");
  // Nothing shows before the commit, and the prepared transaction has this catalog's connection.
  EXPECT_EQ(Map(**other)->version, s.before);
  auto seen = (*other)->GetMigration(s.id);
  ASSERT_TRUE(seen.ok() && seen->has_value());
  EXPECT_EQ((*seen)->phase, "cutover");
  EXPECT_FALSE(s.catalog->Load().ok());

  ASSERT_TRUE((*prepared)->Commit(R"({"cut": true})", "switched").ok());
  auto after = Map(*s.catalog);  // the connection is back
  EXPECT_EQ(Summary(*after), Summary(inside));
  EXPECT_EQ(Summary(*Map(**other)), Summary(inside));
  auto m = s.catalog->GetMigration(s.id);
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ((*m)->phase, "deprecated");
  EXPECT_EQ(nlohmann::json::parse((*m)->state_json), nlohmann::json::parse(R"({"cut": true})"));
  auto journal = s.catalog->MigrationJournal(s.id);
  ASSERT_TRUE(journal.ok());
  EXPECT_EQ(journal->back().phase, "deprecated");
  EXPECT_EQ(journal->back().detail, "switched");
}

TEST_F(MigrationJournalTest, PreparedCutOverAbortedOrDroppedChangesNothing) {
  auto s = Setup("mig_cutover_abort");
  ASSERT_NE(s.catalog, nullptr);
  const std::string before = Summary(*Map(*s.catalog));
  auto journal_before = s.catalog->MigrationJournal(s.id);
  ASSERT_TRUE(journal_before.ok());
  {
    auto prepared = s.catalog->PrepareCutOver(s.id, TwoRanges(*s.map), "deprecated");
    ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
    (*prepared)->Abort();
    (*prepared)->Abort();  // twice: nothing more
  }
  {
    auto prepared = s.catalog->PrepareCutOver(s.id, TwoRanges(*s.map), "deprecated");
    ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  }  // destroyed without Commit: rolled back
  EXPECT_EQ(Summary(*Map(*s.catalog)), before);
  auto m = s.catalog->GetMigration(s.id);
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ((*m)->phase, "cutover");
  EXPECT_EQ(nlohmann::json::parse((*m)->state_json)["step"], 1);
  auto journal = s.catalog->MigrationJournal(s.id);
  ASSERT_TRUE(journal.ok());
  EXPECT_EQ(journal->size(), journal_before->size());
}

// Runs `call` on another thread while `prepared` is open: 200 ms later it must still be waiting
// (for the shard-map lock); then commits `prepared` and returns what `call` returned.
template <typename T>
T CallWhilePrepared(PreparedCutover& prepared, const std::function<T()>& call) {
  std::atomic<bool> done{false};
  std::optional<T> result;
  std::thread caller([&] {
    result.emplace(call());
    done.store(true);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(done.load()) << "did not wait for the shard-map lock";
  Status committed = prepared.Commit("{}", "switched");
  EXPECT_TRUE(committed.ok()) << committed.ToString();
  caller.join();
  return std::move(*result);
}

TEST_F(MigrationJournalTest, PreparedCutOverHoldsTheShardMapLockUntilCommit) {
  auto s = Setup("mig_cutover_lock");
  ASSERT_NE(s.catalog, nullptr);
  auto other = Catalog::Open(pg_->dsn("mig_cutover_lock"));
  ASSERT_TRUE(other.ok());
  auto prepared = s.catalog->PrepareCutOver(s.id, TwoRanges(*s.map), "deprecated");
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  Result<int64_t> version =
      CallWhilePrepared<Result<int64_t>>(**prepared, [&] { return (*other)->BumpVersion("meanwhile"); });
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  EXPECT_EQ(*version, (*prepared)->map()->version + 1);
}

TEST_F(MigrationJournalTest, SettledReadWaitsForASwitchStillCommitting) {
  // The runner that lost a COMMIT's reply asks another connection what happened: a plain read
  // may see the old phase while that COMMIT is still running; the settled read waits for it.
  auto s = Setup("mig_cutover_settled");
  ASSERT_NE(s.catalog, nullptr);
  auto other = Catalog::Open(pg_->dsn("mig_cutover_settled"));
  ASSERT_TRUE(other.ok());
  auto prepared = s.catalog->PrepareCutOver(s.id, TwoRanges(*s.map), "deprecated");
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  auto plain = (*other)->GetMigration(s.id);
  ASSERT_TRUE(plain.ok() && plain->has_value());
  EXPECT_EQ((*plain)->phase, "cutover");
  auto settled = CallWhilePrepared<Result<std::optional<MigrationRecord>>>(
      **prepared, [&] { return (*other)->GetMigrationSettled(s.id); });
  ASSERT_TRUE(settled.ok()) << settled.status().ToString();
  ASSERT_TRUE(settled->has_value());
  EXPECT_EQ((*settled)->phase, "deprecated");
  auto unknown = (*other)->GetMigrationSettled(s.id + 1);
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(unknown->has_value());
}

TEST_F(MigrationJournalTest, PrepareCutOverFailsWhole) {
  auto s = Setup("mig_cutover_fails");
  ASSERT_NE(s.catalog, nullptr);
  Layout bad = TwoRanges(*s.map);
  bad.ranges[1].node_id = 9;  // no such node: the layout fails after the phase was written
  auto failed = s.catalog->PrepareCutOver(s.id, bad, "deprecated");
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().sqlstate(), "23503");
  // An unknown migration stores no layout.
  auto unknown = s.catalog->PrepareCutOver(s.id + 1, TwoRanges(*s.map), "deprecated");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().sqlstate(), "42704");

  auto after = Map(*s.catalog);  // still usable, nothing changed
  EXPECT_EQ(after->version, s.before);
  EXPECT_EQ(after->FindLayout(s.map->FindTable("public", "orders")->id, "42"), nullptr);
  auto m = s.catalog->GetMigration(s.id);
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ((*m)->phase, "cutover");
}

}  // namespace
}  // namespace mosaic::catalog

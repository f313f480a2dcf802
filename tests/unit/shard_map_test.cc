// Unit tests for ShardMap lookups, DSN redaction and ShardMapHolder snapshots. No server needed.
#include "catalog/shard_map.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <map>
#include <thread>

namespace mosaic::catalog {
namespace {

// Options libpq parses out of `conninfo` (only those set), keyword -> value.
std::map<std::string, std::string> ParsedOptions(const std::string& conninfo) {
  std::map<std::string, std::string> out;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), nullptr);
  if (options == nullptr) return out;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) out[o->keyword] = o->val;
  }
  PQconninfoFree(options);
  return out;
}

TEST(ShardMapRedactDsn, KeywordFormDropsPassword) {
  EXPECT_EQ(ShardMap::RedactDsn("host=x password=secret"), "host=x");
}

TEST(ShardMapRedactDsn, KeywordFormKeepsEverythingElse) {
  std::string dsn =
      "host=db.example port=5433 dbname=app user=u password='s3 cr\\'et' "
      "application_name='my app' sslpassword=keypass";
  std::string redacted = ShardMap::RedactDsn(dsn);
  EXPECT_EQ(redacted.find("s3"), std::string::npos) << redacted;
  EXPECT_EQ(redacted.find("keypass"), std::string::npos) << redacted;
  auto expected = ParsedOptions(dsn);
  expected.erase("password");
  expected.erase("sslpassword");
  EXPECT_EQ(ParsedOptions(redacted), expected) << redacted;
}

TEST(ShardMapRedactDsn, KeywordFormWithoutPasswordIsEquivalent) {
  std::string dsn = "host=127.0.0.1 port=6433 user=mosaic dbname=mosaic_catalog";
  EXPECT_EQ(ParsedOptions(ShardMap::RedactDsn(dsn)), ParsedOptions(dsn));
}

TEST(ShardMapRedactDsn, UriDropsPasswordFromUserInfo) {
  EXPECT_EQ(ShardMap::RedactDsn("postgresql://u:secret@h/db"), "postgresql://u@h/db");
  EXPECT_EQ(ShardMap::RedactDsn("postgres://u:se:cret@h1:5432,h2:5433/db"),
            "postgres://u@h1:5432,h2:5433/db");
}

TEST(ShardMapRedactDsn, UriDropsPasswordQueryParameters) {
  EXPECT_EQ(ShardMap::RedactDsn("postgresql://u@h/db?sslmode=require&password=x&connect_timeout=3"),
            "postgresql://u@h/db?sslmode=require&connect_timeout=3");
  EXPECT_EQ(ShardMap::RedactDsn("postgresql://h/db?pass%77ord=x"), "postgresql://h/db");
  EXPECT_EQ(ShardMap::RedactDsn("postgresql://h/db?sslpassword=x"), "postgresql://h/db");
}

TEST(ShardMapRedactDsn, UriWithoutPasswordIsUnchanged) {
  EXPECT_EQ(ShardMap::RedactDsn("postgresql://u@h:5432/db?sslmode=disable"),
            "postgresql://u@h:5432/db?sslmode=disable");
  EXPECT_EQ(ShardMap::RedactDsn("postgresql://"), "postgresql://");
}

TEST(ShardMapRedactDsn, UnparseableDsnIsNotEchoed) {
  std::string redacted = ShardMap::RedactDsn("host=x password='secret");
  EXPECT_EQ(redacted.find("secret"), std::string::npos) << redacted;
  EXPECT_FALSE(redacted.empty());
}

ShardMap SampleMap() {
  ShardMap map;
  map.version = 7;
  map.nodes = {Node{.id = 3, .dsn = "host=c"}, Node{.id = 1, .dsn = "host=a"},
               Node{.id = 2, .dsn = "host=b"}};
  map.tables = {Table{.id = 1, .name = "orders", .tenant_column = "tenant_id"},
                Table{.id = 2, .schema = "billing", .name = "orders"}};
  return map;
}

TEST(ShardMapLookup, FindsNodesAndTables) {
  ShardMap map = SampleMap();
  ASSERT_NE(map.FindNode(2), nullptr);
  EXPECT_EQ(map.FindNode(2)->dsn, "host=b");
  EXPECT_EQ(map.FindNode(9), nullptr);
  ASSERT_NE(map.FindTable("billing", "orders"), nullptr);
  EXPECT_EQ(map.FindTable("billing", "orders")->id, 2);
  EXPECT_EQ(map.FindTable("public", "orders")->tenant_column, "tenant_id");
  EXPECT_EQ(map.FindTable("public", "missing"), nullptr);
}

Layout SampleLayout(int64_t id, std::string tenant, std::vector<int64_t> tables, int node) {
  Layout layout;
  layout.id = id;
  layout.tenant = std::move(tenant);
  layout.table_ids = std::move(tables);
  layout.ranges.push_back(Range{.node_id = node});
  return layout;
}

TEST(ShardMapLookup, FindsEveryLayoutByTenantAndTable) {
  ShardMap map = SampleMap();
  // Many tenants (the index grows), the implicit tenant "", table groups of two tables, and
  // tenants whose names are prefixes of each other.
  constexpr int kTenants = 5000;
  for (int t = 0; t < kTenants; ++t) {
    map.layouts.push_back(SampleLayout(t + 1, t == 0 ? "" : std::to_string(t), {1 + t % 3, 10 + t % 3}, 1 + t % 3));
  }
  map.BuildIndex();
  for (int t = 0; t < kTenants; ++t) {
    const std::string tenant = t == 0 ? "" : std::to_string(t);
    for (int64_t table : {int64_t{1 + t % 3}, int64_t{10 + t % 3}}) {
      const Layout* found = map.FindLayout(table, tenant);
      ASSERT_NE(found, nullptr) << "tenant '" << tenant << "' table " << table;
      EXPECT_EQ(found->id, t + 1);
    }
    EXPECT_EQ(map.FindLayout(4, tenant), nullptr) << tenant;  // no layout of table 4 at all
    EXPECT_EQ(map.FindLayout(1 + (t + 1) % 3, tenant), nullptr) << tenant;  // another table
  }
  EXPECT_EQ(map.FindLayout(1, "nobody"), nullptr);
  EXPECT_EQ(map.FindLayout(1, std::to_string(kTenants + 1)), nullptr);
  EXPECT_EQ(map.LayoutsOfTable(10).size(), static_cast<size_t>((kTenants + 2) / 3));
}

TEST(ShardMapLookup, LaterLayoutOfTheSameTenantAndTableWins) {
  ShardMap map = SampleMap();
  map.layouts.push_back(SampleLayout(1, "acme", {1}, 1));
  map.layouts.push_back(SampleLayout(2, "acme", {1}, 2));
  map.BuildIndex();
  ASSERT_NE(map.FindLayout(1, "acme"), nullptr);
  EXPECT_EQ(map.FindLayout(1, "acme")->id, 2);
}

TEST(ShardMapLookup, NoLayoutsFindsNothingAndACopyIndexesItsOwnVectors) {
  ShardMap map = SampleMap();
  map.BuildIndex();
  EXPECT_EQ(map.FindLayout(1, ""), nullptr);
  map.layouts.push_back(SampleLayout(1, "acme", {1}, 3));
  map.BuildIndex();
  ShardMap copy = map;
  copy.layouts[0].id = 42;
  copy.BuildIndex();
  EXPECT_EQ(copy.FindLayout(1, "acme")->id, 42);
  EXPECT_EQ(map.FindLayout(1, "acme")->id, 1);
}

TEST(ShardMapLookup, DefaultNodeIsLowestId) {
  EXPECT_EQ(SampleMap().DefaultNode().id, 1);
}

TEST(ShardMapHolder, StartsEmptyAndPublishes) {
  ShardMapHolder holder;
  auto empty = holder.Snapshot();
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->version, 0);
  EXPECT_TRUE(empty->nodes.empty());

  holder.Publish(std::make_shared<const ShardMap>(SampleMap()));
  EXPECT_EQ(holder.Snapshot()->version, 7);
  EXPECT_EQ(empty->version, 0);  // an old snapshot is untouched
}

// Map whose contents are derivable from its version, so a reader can spot a torn map.
std::shared_ptr<const ShardMap> MapForVersion(int64_t version) {
  auto map = std::make_shared<ShardMap>();
  map->version = version;
  for (int i = 0; i < version % 7; ++i) {
    map->nodes.push_back(Node{.id = i, .dsn = "v" + std::to_string(version)});
  }
  return map;
}

bool Consistent(const ShardMap& map) {
  if (map.nodes.size() != static_cast<size_t>(map.version % 7)) return false;
  for (const Node& n : map.nodes) {
    if (n.dsn != "v" + std::to_string(map.version)) return false;
  }
  return true;
}

TEST(ShardMapHolder, ConcurrentReadersSeeWholeIncreasingVersions) {
  constexpr int64_t kVersions = 5000;
  ShardMapHolder holder;
  std::atomic<bool> done = false;
  std::atomic<int> bad = 0;
  std::vector<std::shared_ptr<const ShardMap>> kept;  // owned by the reader thread until join
  std::thread reader([&] {
    int64_t last = 0;
    while (!done.load()) {
      auto snap = holder.Snapshot();
      if (snap->version < last || !Consistent(*snap)) ++bad;
      last = snap->version;
      if (kept.size() < 100) kept.push_back(std::move(snap));
    }
  });
  for (int64_t v = 1; v <= kVersions; ++v) holder.Publish(MapForVersion(v));
  done = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(holder.Snapshot()->version, kVersions);
  for (const auto& snap : kept) EXPECT_TRUE(Consistent(*snap)) << snap->version;
}

}  // namespace
}  // namespace mosaic::catalog

namespace mosaic::catalog {
namespace {

TEST(ParseTableName, FoldsUnquotedAndKeepsQuotedParts) {
  auto plain = ParseTableName("Orders");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->schema, "public");
  EXPECT_EQ(plain->name, "orders");
  auto qualified = ParseTableName("App.\"Odd \"\"Name\"\"\"");
  ASSERT_TRUE(qualified.ok());
  EXPECT_EQ(qualified->schema, "app");
  EXPECT_EQ(qualified->name, "Odd \"Name\"");
  for (const char* bad : {"", "a.b.c", ".t", "t.", "\"open", "two words", "\"\""}) {
    auto r = ParseTableName(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().sqlstate(), "42602") << bad;
    }
  }
}

TEST(TableKindName, RoundTrips) {
  for (TableKind k : {TableKind::kSingleTenant, TableKind::kDistributed, TableKind::kReference}) {
    EXPECT_EQ(TableKindFromName(TableKindName(k)), k);
  }
  EXPECT_EQ(TableKindName(TableKind::kSingleTenant), "single");
}

}  // namespace
}  // namespace mosaic::catalog

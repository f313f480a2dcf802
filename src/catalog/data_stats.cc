#include "catalog/data_stats.h"

#include <fmt/format.h>

#include <algorithm>

#include "catalog/pg_client.h"
#include "router/keys.h"

namespace mosaic::catalog {
namespace {

// schema.name or a bare name (schema public) -> the map's table, or nullptr.
const Table* Resolve(const ShardMap& map, const std::string& name) {
  const size_t dot = name.find('.');
  return dot == std::string::npos ? map.FindTable("public", name)
                                  : map.FindTable(name.substr(0, dot), name.substr(dot + 1));
}

const Column* FindColumn(const Table& table, const std::string& name) {
  for (const auto& c : table.columns) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

struct NodePart {
  double rows = 0, bytes = 0;
  std::map<std::string, std::vector<std::string>> samples;  // column -> encoded keys
};

// One node's rows, bytes and samples of `tenant`'s rows in `table`.
Result<NodePart> CollectOnNode(PGconn* conn, const Node& node, const Table& table,
                               const std::string& tenant, const std::vector<std::string>& columns,
                               const DataStatsOptions& options) {
  const std::string who = fmt::format("node {}", node.id);
  const std::string qualified = pg::QualifiedName(table);
  const bool filtered = table.kind == TableKind::kDistributed;
  NodePart part;
  // The implicit tenant ("", single-tenant tables) has no rows in a distributed table (a statement
  // on one without a tenant filter is the monitor's "(implicit)" too).
  if (filtered && tenant.empty()) return part;
  const std::string where = filtered ? " WHERE " + pg::QuoteIdent(table.tenant_column) + " = $1" : "";
  pg::Params params;
  if (filtered) params.push_back(tenant);
  pg::Params size_params = params;
  size_params.push_back(qualified);
  auto size = pg::Exec(conn,
                       fmt::format("SELECT (SELECT count(*) FROM {0}{1}), pg_total_relation_size(${2}::regclass), "
                                   "greatest((SELECT count(*) FROM {0}), 1)",
                                   qualified, where, size_params.size()),
                       size_params, who);
  if (!size.ok()) return size.status();
  part.rows = pg::DoubleAt(size->get(), 0, 0);
  part.bytes = part.rows * pg::DoubleAt(size->get(), 0, 1) / pg::DoubleAt(size->get(), 0, 2);
  if (part.rows <= 0) return part;
  const double percent = std::min(100.0, 100.0 * options.sample_rows / part.rows);
  for (const auto& name : columns) {
    const Column* column = FindColumn(table, name);
    if (column == nullptr) continue;
    const router::KeyType type = router::KeyTypeFromName(column->type);
    if (type == router::KeyType::kUnsupported) continue;
    const std::string col = pg::QuoteIdent(name);
    auto sample = pg::Exec(conn,
                           fmt::format("SELECT {0}::text FROM {1} TABLESAMPLE BERNOULLI ({2}) REPEATABLE (7){3}{4} {0} IS NOT NULL "
                                       "LIMIT {5}",
                                       col, qualified, percent, where, filtered ? " AND" : " WHERE",
                                       options.sample_rows * 2),
                           params, who);
    if (!sample.ok()) return sample.status();
    auto& keys = part.samples[name];
    for (int i = 0; i < PQntuples(sample->get()); ++i) {
      auto key = router::EncodeKey(type, pg::TextAt(sample->get(), i, 0));
      if (key.ok()) keys.push_back(std::move(key).value());
    }
  }
  return part;
}

}  // namespace

Result<std::vector<advisor::TableStats>> CollectDataStats(
    const ShardMap& map, const std::string& tenant, const std::vector<std::string>& tables,
    const std::map<std::string, std::vector<std::string>>& columns, const DataStatsOptions& options) {
  std::vector<advisor::TableStats> out;
  std::vector<std::pair<const Table*, std::string>> known;
  for (const auto& name : tables) {
    if (const Table* t = Resolve(map, name)) known.emplace_back(t, name);
  }
  std::map<std::string, std::map<std::string, std::vector<std::string>>> samples;  // table -> column
  out.resize(known.size());
  for (size_t i = 0; i < known.size(); ++i) out[i].table = known[i].second;
  for (const Node& node : map.nodes) {
    auto conn = pg::ConnectNode(node);
    if (!conn.ok()) return conn.status();
    if (Status s = pg::Run(conn->get(), fmt::format("SET statement_timeout = {}", options.statement_timeout_ms), {},
                           fmt::format("node {}", node.id));
        !s.ok()) {
      return s;
    }
    for (size_t i = 0; i < known.size(); ++i) {
      auto it = columns.find(known[i].second);
      static const std::vector<std::string> kNone;
      auto part = CollectOnNode(conn->get(), node, *known[i].first, tenant,
                                it != columns.end() ? it->second : kNone, options);
      if (!part.ok()) return part.status();
      out[i].rows += part->rows;
      out[i].bytes += part->bytes;
      for (auto& [col, keys] : part->samples) {
        auto& all = samples[known[i].second][col];
        all.insert(all.end(), keys.begin(), keys.end());
      }
    }
  }
  for (auto& stats : out) {
    for (auto& [col, keys] : samples[stats.table]) {
      if (keys.empty()) continue;
      std::sort(keys.begin(), keys.end());
      advisor::ColumnDistribution d;
      d.column = col;
      for (int q = 0; q <= options.quantiles; ++q) {
        const size_t index = std::min(keys.size() - 1, keys.size() * static_cast<size_t>(q) / static_cast<size_t>(options.quantiles));
        d.quantiles.push_back(keys[index]);
      }
      stats.columns.push_back(std::move(d));
    }
  }
  return out;
}

namespace {

// Where the tenant's rows live: its layouts (id, version, nodes) and its home node. Statistics
// read under another placement are refreshed first (a migration moved or split its rows).
std::string PlacementKey(const ShardMap& map, const std::string& tenant) {
  std::string key = fmt::format("home {}", map.nodes.empty() ? 0 : map.TenantHomeNode(tenant));
  for (const Layout& l : map.layouts) {
    if (l.tenant != tenant) continue;
    key += fmt::format("; layout {} v{}:", l.id, l.version);
    for (const Range& r : l.ranges) key += fmt::format(" {}", r.node_id);
  }
  return key;
}

}  // namespace

DataStatsCache::DataStatsCache(std::chrono::seconds max_age, Collector collect, Clock clock)
    : max_age_(max_age),
      collect_(collect ? std::move(collect)
                       : Collector([](const ShardMap& map, const std::string& tenant, const std::vector<std::string>& tables,
                                      const std::map<std::string, std::vector<std::string>>& columns) {
                           return CollectDataStats(map, tenant, tables, columns);
                         })),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })) {}

std::optional<DataStatsCache::Cached> DataStatsCache::Peek(
    const ShardMap& map, const std::string& tenant, const std::vector<std::string>& tables,
    const std::map<std::string, std::vector<std::string>>& columns) {
  std::lock_guard lock(mu_);
  return PeekLocked(map, tenant, tables, columns);
}

std::optional<DataStatsCache::Cached> DataStatsCache::PeekLocked(
    const ShardMap& map, const std::string& tenant, const std::vector<std::string>& tables,
    const std::map<std::string, std::vector<std::string>>& columns) {
  auto it = entries_.find(tenant);
  if (it == entries_.end()) return std::nullopt;
  const Entry& e = it->second;
  Cached out;
  out.age_s = std::chrono::duration<double>(clock_() - e.at).count();
  out.moved = e.placement != PlacementKey(map, tenant);
  out.complete = true;
  for (const auto& table : tables) {
    auto stats = std::find_if(e.stats.begin(), e.stats.end(), [&](const auto& s) { return s.table == table; });
    auto read = e.columns.find(table);
    if (stats == e.stats.end() || read == e.columns.end()) {
      // Tables the map does not know have no statistics either way.
      out.complete = out.complete && Resolve(map, table) == nullptr;
      continue;
    }
    advisor::TableStats copy = *stats;
    auto asked = columns.find(table);
    std::erase_if(copy.columns, [&](const advisor::ColumnDistribution& d) {
      return asked == columns.end() || std::find(asked->second.begin(), asked->second.end(), d.column) == asked->second.end();
    });
    if (asked != columns.end()) {
      for (const auto& c : asked->second) {
        out.complete = out.complete && std::find(read->second.begin(), read->second.end(), c) != read->second.end();
      }
    }
    out.stats.push_back(std::move(copy));
  }
  return out;
}

Result<std::pair<std::vector<advisor::TableStats>, double>> DataStatsCache::Get(
    const ShardMap& map, const std::string& tenant, const std::vector<std::string>& tables,
    const std::map<std::string, std::vector<std::string>>& columns, std::optional<std::chrono::seconds> max_age) {
  std::lock_guard lock(mu_);
  auto cached = PeekLocked(map, tenant, tables, columns);
  if (cached && cached->complete && !cached->moved && cached->age_s < static_cast<double>(max_age.value_or(max_age_).count())) {
    return std::make_pair(std::move(cached->stats), cached->age_s);
  }
  auto stats = collect_(map, tenant, tables, columns);
  if (!stats.ok()) return stats.status();
  std::map<std::string, std::vector<std::string>> read;
  for (const auto& table : tables) read[table] = columns.contains(table) ? columns.at(table) : std::vector<std::string>{};
  entries_[tenant] = Entry{clock_(), PlacementKey(map, tenant), *stats, std::move(read)};
  return std::make_pair(std::move(stats).value(), 0.0);
}

}  // namespace mosaic::catalog

// Data statistics for the advisor: how many rows and bytes a tenant's tables hold, and how the
// values of candidate range columns are distributed, read from the nodes with bounded queries.
//
// Control plane only: synchronous libpq, one connection per node per call. Every query runs
// under a statement_timeout, and column distributions come from a Bernoulli sample of about
// `sample_rows` rows per node, so a whale tenant costs a bounded scan, not a full read.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "advisor/inputs.h"
#include "catalog/shard_map.h"
#include "common/status.h"

namespace mosaic::catalog {

struct DataStatsOptions {
  int sample_rows = 2000;        // per node and table, for column distributions
  int quantiles = 20;            // distribution resolution: quantiles + 1 keys
  int statement_timeout_ms = 5000;
};

// The statistics of `tenant`'s rows of `tables` ("schema.name" or a bare name for public) on
// every node of `map`, summed over nodes, with the distribution of each column in `columns`
// (by table). Tables `map` does not know are skipped. A node that cannot be reached fails the
// call (08006): partial statistics would mislead the advisor.
Result<std::vector<advisor::TableStats>> CollectDataStats(
    const ShardMap& map, const std::string& tenant, const std::vector<std::string>& tables,
    const std::map<std::string, std::vector<std::string>>& columns,
    const DataStatsOptions& options = {});

// CollectDataStats results cached per tenant with their age and the tenant's placement when they
// were read. Thread-safe (one mutex; a collection runs under it).
class DataStatsCache {
 public:
  using Collector = std::function<Result<std::vector<advisor::TableStats>>(
      const ShardMap&, const std::string&, const std::vector<std::string>&,
      const std::map<std::string, std::vector<std::string>>&)>;
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `collect` and `clock` default to CollectDataStats and the steady clock (tests inject theirs).
  explicit DataStatsCache(std::chrono::seconds max_age = std::chrono::seconds(300), Collector collect = nullptr,
                          Clock clock = nullptr);

  // What the cache holds of a tenant, without I/O.
  struct Cached {
    std::vector<advisor::TableStats> stats;  // of the tables and columns asked that were read
    double age_s = 0;
    bool complete = false;  // every table and column asked was read
    bool moved = false;     // the tenant's placement (layouts, home node) changed since
  };
  // nullopt if the tenant was never read.
  std::optional<Cached> Peek(const ShardMap& map, const std::string& tenant, const std::vector<std::string>& tables,
                             const std::map<std::string, std::vector<std::string>>& columns);

  // The tenant's statistics and their age in seconds (0 when just collected): the cached ones if
  // complete, not moved and younger than `max_age` (the cache's when nullopt), else collected now.
  Result<std::pair<std::vector<advisor::TableStats>, double>> Get(
      const ShardMap& map, const std::string& tenant, const std::vector<std::string>& tables,
      const std::map<std::string, std::vector<std::string>>& columns,
      std::optional<std::chrono::seconds> max_age = std::nullopt);

 private:
  struct Entry {
    std::chrono::steady_clock::time_point at;
    std::string placement;  // PlacementKey when read
    std::vector<advisor::TableStats> stats;
    std::map<std::string, std::vector<std::string>> columns;  // by table: the columns read
  };
  // REQUIRES: mu_ held.
  std::optional<Cached> PeekLocked(const ShardMap& map, const std::string& tenant,
                                   const std::vector<std::string>& tables,
                                   const std::map<std::string, std::vector<std::string>>& columns);

  const std::chrono::seconds max_age_;
  const Collector collect_;
  const Clock clock_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;  // GUARDED_BY(mu_), by tenant
};

}  // namespace mosaic::catalog

// Data statistics for the advisor: how many rows and bytes a tenant's tables hold, and how the
// values of candidate range columns are distributed, read from the nodes with bounded queries.
//
// Control plane only: synchronous libpq, one connection per node per call. Every query runs
// under a statement_timeout, and column distributions come from a Bernoulli sample of about
// `sample_rows` rows per node, so a whale tenant costs a bounded scan, not a full read.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
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

// CollectDataStats results cached per tenant with their age; refreshed when older than
// `max_age`. Thread-safe (one mutex; a refresh runs under it).
class DataStatsCache {
 public:
  explicit DataStatsCache(std::chrono::seconds max_age = std::chrono::seconds(300)) : max_age_(max_age) {}
  // The tenant's statistics and their age in seconds (0 when just collected).
  Result<std::pair<std::vector<advisor::TableStats>, double>> Get(
      const ShardMap& map, const std::string& tenant, const std::vector<std::string>& tables,
      const std::map<std::string, std::vector<std::string>>& columns);

 private:
  struct Entry {
    std::chrono::steady_clock::time_point at;
    int64_t map_version = 0;
    std::vector<std::string> tables;
    std::map<std::string, std::vector<std::string>> columns;
    std::vector<advisor::TableStats> stats;
  };
  std::chrono::seconds max_age_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;  // GUARDED_BY(mu_), by tenant
};

}  // namespace mosaic::catalog

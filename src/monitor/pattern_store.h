// PatternStore: the monitor's aggregate of query events over a sliding window of minute buckets.
//
// A ring of minute buckets (window / 60 of them, oldest overwritten) holds, per tenant: totals;
// per table: statements, reads, writes, rows, a latency sketch, per filtered column the filter
// counts by operator kind, a key-heat histogram and the heaviest values, and join pairs; per
// fingerprint: calls, rows, total latency. Any sub-window of the last `window_seconds` can be
// queried; its minutes are merged at query time.
//
// Memory is bounded by a budget: EnforceBudget() keeps the heaviest tenants (by statements in
// the window) and folds the others' counts into the tenant "(other)" (table "(other)", no
// columns or fingerprints). Fingerprints beyond kMaxFingerprintsPerTenantMinute in one tenant's
// minute are folded into fingerprint 0. docs/architecture.md gives the bytes per entry.
//
// Time is passed in (unix seconds), never read here: window expiry is testable with any clock.
// Not thread-safe: the Monitor serialises access (its aggregator thread and admin queries).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "monitor/event.h"
#include "monitor/sketch.h"
#include "router/keys.h"

namespace mosaic::monitor {

struct PatternStoreOptions {
  int64_t window_seconds = 24 * 3600;
  size_t memory_budget_bytes = size_t{512} << 20;
};

// The key type of table.column (from the shard map); kUnsupported when unknown, in which case the
// store infers it from the first value it sees (integer, date, timestamp, else text).
using KeyTypeResolver = std::function<router::KeyType(std::string_view table, std::string_view column)>;

class PatternStore {
 public:
  static constexpr size_t kMaxFingerprintsPerTenantMinute = 64;
  static constexpr size_t kMaxTenantCounters = 10000;  // cumulative per-tenant counters for /metrics
  static constexpr size_t kMaxShapes = 100000;          // fingerprint texts kept

  explicit PatternStore(PatternStoreOptions options = {}, KeyTypeResolver resolver = {});

  // Adds one event to the minute of its unix_seconds. Events older than the ring holds are
  // dropped (counted in stale_events()).
  void Add(const QueryEvent& e);
  // Frees the minutes that have left the window ending at `now`.
  void Expire(int64_t now);
  // Remembers the normalised text of a fingerprint (kept for as long as it is referenced).
  void AddShape(const ShapeText& s);

  // GET /api/v1/patterns?tenant=T[&table=]&window=: the JSON the API returns (see
  // docs/operations.md). `window_seconds` is clamped to the store's window. A tenant with no
  // statements in the window gets empty lists.
  nlohmann::json TenantPatterns(std::string_view tenant, std::optional<std::string_view> table,
                                int64_t window_seconds, int64_t now) const;
  // GET /api/v1/patterns without a tenant: tenants by statements, heaviest first (at most `limit`).
  nlohmann::json TenantList(int64_t window_seconds, int64_t now, size_t limit = 100) const;

  // Approximate bytes held (walks every bucket).
  size_t MemoryBytes() const;
  // Folds the lightest tenants into "(other)" until the store is under 80% of the budget when
  // it is over the budget. Returns how many tenants it folded.
  size_t EnforceBudget(int64_t now);

  // Whole state (minutes within the window ending at `now`, shapes) as JSON, and back. Restore
  // replaces the state; fails with XX000 on a malformed document.
  nlohmann::json Checkpoint(int64_t now) const;
  Status Restore(const nlohmann::json& state);

  // Cumulative counters since start (not windowed; restored checkpoints do not add to them).
  const std::array<uint64_t, 64>& node_statements() const { return node_statements_; }
  std::vector<std::pair<std::string, uint64_t>> TopTenantCounters(size_t n) const;
  uint64_t stale_events() const { return stale_events_; }
  uint64_t folded_tenants() const { return folded_tenants_; }
  int64_t window_seconds() const { return options_.window_seconds; }

 private:
  struct ColumnStats {
    std::string name;
    router::KeyType key_type = router::KeyType::kUnsupported;
    std::array<uint64_t, kFilterOps> by_op{};
    KeyHeat heat;
    TopValues top;
  };
  struct JoinStats {
    std::string left, right;  // "table.column"
    uint64_t count = 0;
  };
  struct TableStats {
    uint64_t statements = 0, reads = 0, writes = 0, rows = 0;
    LatencySketch latency;
    std::vector<ColumnStats> columns;
    std::vector<JoinStats> joins;
  };
  struct FingerprintStats {
    uint64_t calls = 0, rows = 0, latency_us = 0;
  };
  struct TenantMinute {
    uint64_t statements = 0, reads = 0, writes = 0, rows = 0, latency_us = 0;
    std::unordered_map<std::string, TableStats> tables;
    std::unordered_map<uint64_t, FingerprintStats> fingerprints;
  };
  struct Minute {
    int64_t minute = -1;  // unix_seconds / 60; -1 = empty
    std::unordered_map<std::string, TenantMinute> tenants;
  };

  // Minutes overlapping (now - window, now], oldest first.
  template <typename Fn>
  void ForEachMinute(int64_t window_seconds, int64_t now, Fn&& fn) const;
  Minute& MinuteFor(int64_t unix_seconds);  // nullptr-free: resets a reused slot
  static ColumnStats& ColumnFor(TableStats& t, std::string_view column);
  router::KeyType ResolveKeyType(std::string_view table, std::string_view column, std::string_view value) const;
  void AddFilters(const QueryEvent& e, int table_index, TableStats& t);
  static size_t TenantBytes(const std::string& name, const TenantMinute& tm);
  static void FoldInto(TenantMinute& other, const TenantMinute& folded);
  nlohmann::json ColumnJson(const ColumnStats& c) const;
  std::string PositionText(router::KeyType type, uint64_t pos) const;

  PatternStoreOptions options_;
  KeyTypeResolver resolver_;
  std::vector<Minute> ring_;
  std::unordered_map<uint64_t, std::string> shapes_;
  std::array<uint64_t, 64> node_statements_{};
  std::unordered_map<std::string, uint64_t> tenant_counters_;
  uint64_t stale_events_ = 0;
  uint64_t folded_tenants_ = 0;
};

}  // namespace mosaic::monitor

// Monitor: the query pattern monitor. Workers record one QueryEvent per completed statement
// through their own Recorder (a lock-free single-producer ring, no allocation, never blocks:
// a full ring drops the event and counts it); one aggregator thread drains every ring into the
// PatternStore, expires old minutes, enforces the memory budget and checkpoints the store.
//
// Admin queries (Patterns, TenantList) take the store's mutex; the data path never does.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "monitor/event.h"
#include "monitor/pattern_store.h"
#include "monitor/ring.h"

namespace mosaic::monitor {

// Unix seconds now. Injectable so that window expiry can be tested.
using Clock = std::function<int64_t()>;
int64_t SystemUnixSeconds();

struct MonitorOptions {
  int64_t window_seconds = 24 * 3600;
  size_t memory_budget_bytes = size_t{512} << 20;
  int checkpoint_seconds = 60;     // 0: no periodic checkpoints
  size_t ring_capacity = 8192;     // events per worker ring (power of two)
  int drain_interval_ms = 50;
};

// A worker's end of the monitor. All methods are for the owning worker thread only, except the
// counters, which any thread may read.
class Recorder {
 public:
  explicit Recorder(size_t capacity);

  // A slot to fill, or nullptr when the ring is full (the drop is counted). Commit() publishes it.
  QueryEvent* Claim();
  void Commit() { events_.Publish(); }
  // Whether the aggregator still needs the text of `fingerprint` from this worker; if so the
  // caller sends it with SendShape (at most once per fingerprint and worker).
  bool NeedsShape(uint64_t fingerprint) const { return !sent_shapes_.contains(fingerprint); }
  void SendShape(uint64_t fingerprint, std::string_view normalised_text);

  uint64_t recorded() const { return recorded_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  friend class Monitor;
  SpscRing<QueryEvent> events_;
  SpscRing<ShapeText> shapes_;
  std::unordered_set<uint64_t> sent_shapes_;
  std::atomic<uint64_t> recorded_{0};
  std::atomic<uint64_t> dropped_{0};
};

class Monitor {
 public:
  // Saves a checkpoint (the store's JSON, serialised); called on the aggregator thread.
  using Saver = std::function<Status(const std::string& blob)>;

  explicit Monitor(MonitorOptions options, Clock clock = SystemUnixSeconds, KeyTypeResolver resolver = {});
  ~Monitor();  // Stop()

  // A new recorder for one worker. REQUIRES: before Start().
  Recorder* AddRecorder();
  // Starts the aggregator thread; `saver` (may be empty) receives periodic checkpoints.
  void Start(Saver saver);
  // Drains the rings a last time, saves a final checkpoint (if a saver was given), joins.
  void Stop();

  // Drains every recorder into the store now (tests; the aggregator does it periodically).
  void DrainNow();

  // The admin API's views (see PatternStore). Thread-safe.
  nlohmann::json Patterns(std::string_view tenant, std::optional<std::string_view> table, int64_t window_seconds);
  nlohmann::json TenantList(int64_t window_seconds, size_t limit = 100);
  std::string CheckpointBlob();
  // Replaces the store with a checkpoint's content. Thread-safe. XX000 on a malformed blob.
  Status Restore(std::string_view blob);

  struct Stats {
    uint64_t recorded = 0, dropped = 0, stale = 0, folded_tenants = 0, checkpoints = 0, checkpoint_errors = 0;
    size_t memory_bytes = 0;
    std::array<uint64_t, 64> node_statements{};
    std::vector<std::pair<std::string, uint64_t>> top_tenants;
  };
  Stats GetStats(size_t top_tenants = 10);
  int64_t window_seconds() const { return options_.window_seconds; }

 private:
  void Loop();
  void DrainLocked();  // REQUIRES: mu_ held

  MonitorOptions options_;
  Clock clock_;
  std::vector<std::unique_ptr<Recorder>> recorders_;
  std::mutex mu_;
  PatternStore store_;  // GUARDED_BY(mu_)
  Saver saver_;
  std::thread thread_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // GUARDED_BY(stop_mu_)
  std::atomic<uint64_t> checkpoints_{0}, checkpoint_errors_{0};
  std::atomic<size_t> memory_bytes_{0};
};

}  // namespace mosaic::monitor

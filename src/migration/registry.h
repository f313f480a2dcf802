// What the data path and the migration service share in one process: per migration, a write
// fence (a counted gate that the cutover closes and drains) and a bounded queue of sampled reads
// for the shadow-read comparison.
//
// The data path never blocks here: entering a fence is two atomic operations, sampling a read is
// a try-lock and a bounded push. Only the service waits (for a fence to drain).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace mosaic::migration {

// A read the data path routed to a flow's source while its rows were being migrated, to be run
// again on the source and the target and compared.
struct ShadowSample {
  std::string sql;                                 // $n placeholders when `params` is not empty
  std::vector<std::optional<std::string>> params;  // text values; nullopt = NULL
  int node = 0;                                    // the node it ran on
};

// The gate in front of one migration's rows. Sessions *enter* it for every statement that may
// touch those rows and stay inside until their transaction ends; the cutover *closes* it (new
// statements wait), waits until nobody is inside (every transaction that touched the rows has
// ended), switches the shard map and *opens* it again, recording the version of the switch so
// that a session holding an older map re-plans instead of going to the old node.
class Fence {
 public:
  enum class Enter : uint8_t {
    kEntered,  // counted inside until Leave()
    kClosed,   // a cutover is in progress: wait and try again (holds nothing)
    kStale,    // the caller's shard map predates the last switch: refresh it and re-plan
  };

  // Data path. `map_version` is the version of the shard map the caller planned with.
  Enter TryEnter(int64_t map_version);
  void Leave();

  // Service. Close() makes new TryEnter calls fail; WaitDrained() returns true once nobody is
  // inside, false after `timeout`. Open(v) records that shard-map version v switched the rows
  // (0: nothing switched) and lets statements in again.
  void Close();
  bool WaitDrained(std::chrono::milliseconds timeout) const;
  void Open(int64_t switched_version);
  bool closed() const { return closed_.load(); }
  int inside() const { return inside_.load(); }

  // Shadow reads: the data path offers samples (dropped when `kMaxSamples` wait, or while
  // sampling is off); the service takes them.
  static constexpr size_t kMaxSamples = 64;
  void SetSampling(bool on) { sampling_.store(on, std::memory_order_relaxed); }
  bool sampling() const { return sampling_.load(std::memory_order_relaxed); }
  void Offer(ShadowSample sample);
  std::vector<ShadowSample> TakeSamples();
  int64_t dropped_samples() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int> inside_{0};
  std::atomic<bool> closed_{false};
  std::atomic<int64_t> switched_version_{0};
  std::atomic<bool> sampling_{false};
  std::atomic<int64_t> dropped_{0};
  std::mutex samples_mu_;
  std::deque<ShadowSample> samples_;
};

// Fences by migration id. Thread-safe.
class Registry {
 public:
  // The fence of migration `id`, created on first use.
  std::shared_ptr<Fence> Get(int64_t id);
  // Drops the fence of a finished migration (sessions still holding it keep it alive).
  void Forget(int64_t id);

 private:
  std::mutex mu_;
  std::map<int64_t, std::shared_ptr<Fence>> fences_;
};

}  // namespace mosaic::migration

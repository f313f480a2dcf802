// Worker: one event-loop thread with its own connection pools. Client sessions are spread over
// workers by the listener and stay on theirs, so the data path takes no locks: a session only
// touches its worker's pools. Counters are relaxed atomics with a single writer (the worker
// thread), read by the admin thread for /metrics.
#pragma once

#include "common/async.h"
#include <atomic>
#include <future>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "backend/pool.h"
#include "catalog/relation_oids.h"
#include "catalog/shard_map.h"
#include "common/config.h"
#include "frontend/scram.h"
#include "frontend/two_phase.h"
#include "migration/registry.h"
#include "monitor/monitor.h"
#include "sql/analyzer.h"

namespace mosaic::frontend {

class Session;

struct WorkerCounters {
  std::atomic<int64_t> clients{0};          // connected now
  std::atomic<int64_t> clients_total{0};    // accepted since start
  std::atomic<int64_t> statements_total{0}; // Query and Execute messages
  std::atomic<int64_t> errors_total{0};     // ErrorResponses sent to clients
  std::atomic<int64_t> ddl_broadcasts_total{0};
  std::atomic<int64_t> multi_node_statements_total{0};  // statements run on several nodes
  std::atomic<int64_t> two_phase_commits_total{0};
  std::atomic<int64_t> client_writes_total{0};  // send calls on client sockets (a syscall each)
  void Add(std::atomic<int64_t>& c, int64_t n = 1) { c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
};

// State every session reads; immutable after startup except where noted.
struct FrontendContext {
  Config config;
  catalog::ShardMapHolder* shard_map = nullptr;
  // The default node's table OIDs for other nodes' RowDescriptions; nullptr: sent unchanged.
  catalog::RelationOidsHolder* relation_oids = nullptr;
  std::map<std::string, ScramVerifier, std::less<>> verifiers;  // by user name
  // ParameterStatus values a fresh node connection reports; what clients see at startup.
  std::map<std::string, std::string, std::less<>> server_params;
  // How the pools reach nodes this router runs itself, by node id: a managed node's Unix
  // socket (ManagedNodeInfo::local_dsn). Other nodes are reached by their catalog DSN.
  std::map<int, std::string> local_dsns;

  // Cancel keys handed to clients -> the session they belong to. Guarded by cancel_mu.
  struct CancelTarget {
    int32_t key;
    std::weak_ptr<Session> session;
    asio::any_io_executor executor;
  };
  std::mutex cancel_mu;
  std::map<int32_t, CancelTarget> cancel_targets;
  std::atomic<int32_t> next_pid{1};

  // Control-plane work a session may need; set by App. Blocking (catalog and node I/O): a
  // session runs them off its worker thread. Each returns once the new shard map is published.
  // Re-reads the tables and their columns from the nodes (after DDL that may change them).
  std::function<Status()> refresh_tables;
  // mosaic.create_reference_table('t'): copies the table's rows to every node and marks it a
  // reference table. Returns what the SELECT shows (e.g. "t").
  std::function<Result<std::string>(const std::string& table)> create_reference_table;

  // Two-phase commit: transaction-id prefix, catalog, in-flight ids, test faults.
  TwoPhaseContext two_phase;
  // The query pattern monitor; nullptr when it is switched off (monitor.enabled = false).
  monitor::Monitor* monitor = nullptr;
  // Which session holds which server backend, for the distributed deadlock detector; nullptr
  // when detection is off (deadlock_detection_interval_s = 0).
  backend::BackendRegistry* backends = nullptr;
  // Fences and shadow samples of online migrations; nullptr when none can run (tests).
  migration::Registry* migrations = nullptr;
};

class Worker {
 public:
  Worker(int index, FrontendContext& context);
  ~Worker();

  void Start();
  // Stops the event loop and joins the thread. Sessions are abandoned (sockets closed).
  void Stop();

  asio::io_context& io() { return io_; }
  int index() const { return index_; }
  FrontendContext& context() { return context_; }
  WorkerCounters& counters() { return counters_; }
  // The pool for `node`, created on first use. Call only on this worker's thread.
  backend::NodePool& pool(const catalog::Node& node);
  // The pool for node `id` if one was created, else nullptr.
  backend::NodePool* existing_pool(int id) {
    auto it = pools_.find(id);
    return it == pools_.end() ? nullptr : it->second.get();
  }
  uint64_t NextGeneration() { return ++generation_; }
  // The generation of a set of client settings: equal sets get equal numbers (so a server
  // connection last set up for one client is known to suit another with the same settings).
  uint64_t GenerationOf(const std::map<std::string, std::string, std::less<>>& params);
  // Statement run time by shape (the lexer's shape hash), for pipelining: only shapes whose
  // estimate is under kFastShapeMax may queue behind other sessions' statements. A sample is
  // the time from writing a statement (or from its reaching the head of a shared connection's
  // pipeline) to its CommandComplete: the statement's own cost plus what the machine adds to
  // it, a busy event loop reading the reply late or a backend waiting for a CPU. Load only
  // lengthens samples, so the estimate follows the low ones: it falls to a lower sample at
  // once and rises toward a higher one by 1/kShapeRise of the difference. Under load that
  // keeps fast shapes pipelined (an average of samples that queue grows past the limit and
  // turns pipelining off when it helps most); a shape that becomes slow for good is seen so
  // within a few samples (from 100 µs, one sample of 50 ms takes it to 3.2 ms).
  void NoteLatency(uint64_t shape, uint32_t us);
  bool FastShape(uint64_t shape) const;
  static uint32_t ShapeEstimate(uint32_t estimate, uint32_t sample);
  static constexpr uint32_t kFastShapeMax = 1000;  // µs
  static constexpr uint32_t kShapeRise = 16;

  // Runs `fn` on the worker thread and returns its pool statistics (for the admin thread).
  std::map<int, backend::PoolStats> CollectPoolStats();
  // Statement analyses by shape, shared by this worker's sessions. Worker thread only.
  sql::AnalysisCache& analysis_cache() { return analysis_cache_; }
  // Records two-phase commit decisions for this worker's sessions. Worker thread only.
  DecisionLog& decision_log();
  // This worker's end of the monitor, or nullptr when the monitor is off. Worker thread only.
  monitor::Recorder* recorder() { return recorder_; }

 private:
  int index_;
  FrontendContext& context_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  std::map<int, std::unique_ptr<backend::NodePool>> pools_;
  WorkerCounters counters_;
  uint64_t generation_ = 0;
  std::map<std::map<std::string, std::string, std::less<>>, uint64_t> generations_;
  std::unordered_map<uint64_t, uint32_t> shape_latency_us_;  // moving average
  sql::AnalysisCache analysis_cache_;
  std::unique_ptr<DecisionLog> decision_log_;  // created on first use
  monitor::Recorder* recorder_ = nullptr;  // owned by the monitor
};

}  // namespace mosaic::frontend

// BackendRegistry: which client session holds which server backend, for the distributed
// deadlock detector (frontend/deadlock.h).
//
// A node only sees lock waits between its own backends; a cycle through several nodes is made
// of waits that each node sees as an ordinary wait. The detector asks every node which
// backends wait on which, and needs to know, for a (node, backend pid), which session holds
// that backend now, and since when its transaction runs.
//
// Cost on the data path: a server connection registers once, when a session first links it
// (one mutex, rare); after that, linking and releasing it only store two relaxed atomics in its
// BackendOwner. The registry holds weak references: a closed connection's entry goes with its
// ServerConn and is pruned at the next snapshot.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

namespace mosaic::backend {

// Who holds one server connection's backend now. Written by the connection's worker thread,
// read by the detector's.
struct BackendOwner {
  std::atomic<int32_t> session{0};  // the holding session's id (its client-facing pid); 0: none
  std::atomic<int64_t> since{0};    // when that session's transaction began (steady clock, ns)
  void Set(int32_t s, int64_t t) {
    since.store(t, std::memory_order_relaxed);
    session.store(s, std::memory_order_relaxed);
  }
  void Clear() { session.store(0, std::memory_order_relaxed); }
};

// A backend of a node: (node id, backend pid).
using BackendKey = std::pair<int, int32_t>;

class BackendRegistry {
 public:
  // The owner record of the backend `pid` on node `node_id` (replacing that of an earlier
  // connection the node gave the same pid).
  std::shared_ptr<BackendOwner> Register(int node_id, int32_t pid);

  struct Holder {
    int32_t session = 0;
    int64_t since = 0;
  };
  // The backends held by a session now. Prunes the entries of closed connections.
  std::map<BackendKey, Holder> Snapshot();

 private:
  std::mutex mu_;
  std::map<BackendKey, std::weak_ptr<BackendOwner>> owners_;  // GUARDED_BY(mu_)
};

}  // namespace mosaic::backend

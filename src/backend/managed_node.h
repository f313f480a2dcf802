// Managed nodes: PostgreSQL 15 clusters that Mosaic itself initialises, starts, supervises and
// stops under its data directory (the embedded default; see the design brief's glossary).
//
// Layout under the data directory DIR:
//   DIR/nodes/template   initdb output, copied to create each node (never started)
//   DIR/nodes/node-K     data directory of node K; its mosaic.conf holds the settings Mosaic
//                        relies on, including the node's port (so ports survive restarts)
//   DIR/nodes/node-K/postgres.log   the postmaster's stdout/stderr (appended)
//   DIR/nodes/mosaic.lock           flock()ed while a ManagedCluster owns DIR
//
// Each postmaster is a direct child (fork + execv, no shell, no pg_ctl). When Mosaic runs as
// root, children run as the unprivileged OS user "postgres". All postmasters are forked by the
// supervisor thread, so PR_SET_PDEATHSIG (which fires when the forking *thread* exits) stops
// them exactly when the supervisor (and hence Mosaic) goes away.
//
// Must not: touch directories outside DIR/nodes (it only checks that the OS user can reach
// DIR), reap child processes it did not start, or hold its lock while doing I/O.
// Nodes accept only loopback TCP connections and trust authentication (user "mosaic").
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backend/process.h"
#include "common/status.h"

namespace mosaic::backend {

struct ManagedNodeOptions {
  std::filesystem::path data_dir;  // DIR; nodes live in DIR/nodes/node-1 .. node-N
  int count = 3;
  // 0 = pick free loopback ports starting at 6433; chosen ports are persisted in
  // DIR/nodes/node-K/mosaic.conf and reused on restart. Otherwise node K uses base_port + K - 1.
  int base_port = 0;
  std::string pg_bin_dir;  // "" = /usr/lib/postgresql/15/bin, else `pg_config --bindir`
  // "" = when running as root use the existing system user "postgres" (create nothing),
  // else the current user.
  std::string os_user;
  // How long Start() waits for all postmasters to accept connections.
  std::chrono::seconds start_timeout{30};
};

struct ManagedNodeInfo {
  int id;  // 1-based
  std::string host;
  int port;
  std::string user;  // database user (superuser "mosaic")
  std::filesystem::path dir;
  // The directory of the node's Unix-domain socket ("" if its path would not fit: TCP only).
  std::string socket_dir;
  // libpq DSN of the node's data database: "host=127.0.0.1 port=P user=mosaic dbname=mosaic".
  // What the catalog records and other nodes use (a subscription's connection).
  std::string dsn() const;
  // What this router's own connections to the node use: its Unix socket when it has one (a
  // cheaper hop than TCP loopback, for the router and the node alike), else dsn().
  std::string local_dsn() const;
};

// Name of the data database created on every node.
inline constexpr const char* kManagedDatabase = "mosaic";

enum class ManagedNodeState { kStarting, kUp, kRestarting, kStopped };
const char* ToString(ManagedNodeState state);

class ManagedCluster {
 public:
  // Initialises missing clusters (initdb once into the template, then a copy per node), writes
  // the settings Mosaic relies on, starts every postmaster and waits (options.start_timeout)
  // until each accepts connections and has the database "mosaic". Then returns the running,
  // supervised cluster. Re-running on an existing DIR reuses the clusters and their ports.
  // Fails with a clear message if PostgreSQL is missing, DIR is in use by another
  // ManagedCluster, the OS user cannot reach DIR, a port is taken, or a node does not come up
  // (the message then includes the end of its postgres.log); nothing is left running then.
  // Blocks the calling thread for the duration (initdb, startup).
  static Result<std::unique_ptr<ManagedCluster>> Start(const ManagedNodeOptions& options);

  ManagedCluster(const ManagedCluster&) = delete;
  ManagedCluster& operator=(const ManagedCluster&) = delete;
  ~ManagedCluster();  // calls Stop()

  // Fast shutdown: SIGINT to each postmaster, waits for each to exit, escalating to SIGQUIT
  // after ~10 s (and SIGKILL after another 10 s). Stops the supervisor. Idempotent;
  // thread-safe. Afterwards every node is kStopped.
  void Stop();

  // The nodes, ordered by id (nodes()[k - 1].id == k). Constant for the object's lifetime.
  const std::vector<ManagedNodeInfo>& nodes() const { return nodes_; }

  // REQUIRES: 1 <= id <= nodes().size(). Thread-safe.
  ManagedNodeState state(int id) const;
  // REQUIRES: 1 <= id <= nodes().size(). Thread-safe. 0 if the postmaster is not running.
  pid_t postmaster_pid(int id) const;
  // REQUIRES: 1 <= id <= nodes().size(). Thread-safe. How many times the supervisor found the
  // node's postmaster gone while it was up and started recovering it (failed attempts within
  // one recovery are not counted separately).
  int restarts(int id) const;

 private:
  // What the supervisor knows about one postmaster. Written only by the supervisor thread.
  struct NodeRuntime {
    ManagedNodeState state = ManagedNodeState::kStarting;
    pid_t pid = 0;
    int restarts = 0;
    std::chrono::steady_clock::time_point next_spawn;  // when pid == 0
    std::chrono::steady_clock::time_point up_since;
    std::chrono::milliseconds backoff{500};
  };

  ManagedCluster(ManagedNodeOptions options, std::string bin_dir, OsIdentity run_as);

  Status Prepare();
  Status PrepareNode(int id);
  Status EnsureTemplate();
  Status CreateNodeFromTemplate(const std::filesystem::path& dir);
  Result<int> ChoosePort(int id, const std::filesystem::path& dir);
  std::filesystem::path nodes_dir() const { return options_.data_dir / "nodes"; }
  Status WaitUntilAllUp();
  Status EnsureDatabases() const;

  void SupervisorLoop();
  void SuperviseNode(int id);
  void SpawnNode(int id, NodeRuntime* rt);
  void OnExit(int id, NodeRuntime* rt, const std::string& how);
  void ShutdownAll();
  NodeRuntime Load(int id) const;
  void Store(int id, const NodeRuntime& rt);

  const ManagedNodeOptions options_;
  const std::string bin_dir_;
  const OsIdentity run_as_;
  std::vector<ManagedNodeInfo> nodes_;
  std::vector<int> reserved_ports_;  // released in the destructor
  int lock_fd_ = -1;

  mutable std::mutex mu_;
  std::vector<NodeRuntime> runtime_;  // GUARDED_BY(mu_)
  bool stop_requested_ = false;       // GUARDED_BY(mu_)
  std::condition_variable wake_;      // signalled on stop_requested_

  std::mutex stop_mu_;  // serialises Stop()
  std::thread supervisor_;
};

}  // namespace mosaic::backend

// Managed nodes; see managed_node.h for the layout and the contract.
//
// Threads: Start() prepares the directories on the calling thread, then the supervisor thread
// owns every postmaster: it forks them (so PR_SET_PDEATHSIG is tied to it), polls them with
// waitpid(WNOHANG), restarts them with exponential backoff and finally shuts them down.
// Other threads only read NodeRuntime copies under mu_; the lock is never held across I/O.
#include "backend/managed_node.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "catalog/shard_map.h"
#include "common/log.h"

namespace mosaic::backend {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kDefaultBinDir = "/usr/lib/postgresql/15/bin";
constexpr const char* kHost = "127.0.0.1";
constexpr const char* kDbUser = "mosaic";
constexpr const char* kIncludeLine = "include 'mosaic.conf'";
constexpr int kFirstPort = 6433;
constexpr milliseconds kTick{100};
constexpr milliseconds kInitialBackoff{500};
constexpr milliseconds kMaxBackoff{10'000};
constexpr milliseconds kStopGrace{10'000};
constexpr std::chrono::seconds kStableAfter{30};
constexpr size_t kUnixSocketPathMax = 108;  // sizeof(sockaddr_un::sun_path)

// Ports handed out to ManagedClusters of this process, so two clusters never pick the same
// free port before either postmaster has bound it.
struct PortRegistry {
  std::mutex mu;
  std::set<int> ports;  // GUARDED_BY(mu)
};
PortRegistry& Ports() {
  static PortRegistry registry;
  return registry;
}
bool ReservePort(int port) {
  std::lock_guard lock(Ports().mu);
  return Ports().ports.insert(port).second;
}
void ReleasePort(int port) {
  std::lock_guard lock(Ports().mu);
  Ports().ports.erase(port);
}

// True if nothing listens on 127.0.0.1:port (SO_REUSEADDR like the postmaster itself).
bool PortFree(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return free;
}

Result<int> PickFreePort() {
  for (int port = kFirstPort; port <= 65535; ++port) {
    if (!ReservePort(port)) continue;
    if (PortFree(port)) return port;
    ReleasePort(port);
  }
  return Status::Internal("no free TCP port on 127.0.0.1 at or above " +
                          std::to_string(kFirstPort));
}

std::optional<int> ReadPersistedPort(const fs::path& conf) {
  std::ifstream in(conf);
  std::string line;
  while (std::getline(in, line)) {
    int port = 0;
    if (std::sscanf(line.c_str(), " port = %d", &port) == 1 && port > 0) return port;
  }
  return std::nullopt;
}

bool HasServerBinaries(const fs::path& dir) {
  return access((dir / "postgres").c_str(), X_OK) == 0 &&
         access((dir / "initdb").c_str(), X_OK) == 0;
}

Result<std::string> ResolveBinDir(const std::string& requested) {
  if (!requested.empty()) {
    if (HasServerBinaries(requested)) return requested;
    return Status::Error(sqlstate::kConfigFileError,
                         "pg_bin_dir " + requested + " has no executable postgres and initdb");
  }
  if (HasServerBinaries(kDefaultBinDir)) return std::string(kDefaultBinDir);
  std::string pg_config = FindOnPath("pg_config");
  if (!pg_config.empty()) {
    Result<std::string> out = CaptureOutput({pg_config, "--bindir"});
    if (out.ok()) {
      std::string dir = out->substr(0, out->find_last_not_of(" \n\r\t") + 1);
      if (HasServerBinaries(dir)) return dir;
    }
  }
  return Status::Error(sqlstate::kConfigFileError,
                       std::string("PostgreSQL 15 server binaries not found in ") +
                           kDefaultBinDir + " nor via `pg_config --bindir`; install "
                           "postgresql-15 or set pg_bin_dir");
}

// A postgresql.conf string literal.
std::string ConfQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += c;
    out += c;
  }
  return out + "'";
}

// The socket lives in the node directory only if its path fits in sun_path; else TCP only ("").
std::string SocketDir(const fs::path& dir, int port) {
  std::string socket = (dir / (".s.PGSQL." + std::to_string(port))).string();
  return socket.size() < kUnixSocketPathMax ? dir.string() : "";
}

std::string MosaicConf(const std::string& socket_dir, int port) {
  return fmt::format(
      "# Written by Mosaic at every start: the settings Mosaic relies on. Do not edit.\n"
      "listen_addresses = '{}'\n"
      "port = {}\n"
      "unix_socket_directories = {}\n"
      "wal_level = logical\n"
      "max_prepared_transactions = 64\n"
      "max_connections = 200\n"
      "shared_buffers = 128MB\n"
      "max_wal_senders = 10\n"
      "max_replication_slots = 10\n"
      "logging_collector = off\n"
      "# After a crash (e.g. kill -9) one syncfs() instead of an fsync per file: restarts fast.\n"
      "recovery_init_sync_method = syncfs\n",
      kHost, port, ConfQuote(socket_dir));
}

Status FsyncPath(const fs::path& path, int flags) {
  int fd = open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0) {
    int e = errno;
    if (fd >= 0) close(fd);
    return Status::Internal("cannot fsync " + path.string() + ": " + std::strerror(e));
  }
  close(fd);
  return Status::OK();
}

// Flushes the whole file system holding `path`: one syncfs() instead of an fsync per file
// (initdb --sync-only takes seconds for a fresh cluster on slow disks).
Status SyncFileSystem(const fs::path& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || syncfs(fd) != 0) {
    int e = errno;
    if (fd >= 0) close(fd);
    return Status::Internal("cannot sync " + path.string() + ": " + std::strerror(e));
  }
  close(fd);
  return Status::OK();
}

// Replaces `path` with `content` (write, fsync, rename), owned by `who`.
Status WriteFileAtomically(const fs::path& path, const std::string& content,
                           const OsIdentity& who) {
  fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc | std::ios::binary);
    out << content;
    if (!out.flush()) return Status::Internal("cannot write " + tmp.string());
  }
  if (Status s = FsyncPath(tmp, O_RDONLY); !s.ok()) return s;
  if (Status s = ChownTree(tmp, who); !s.ok()) return s;
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Status::Internal("cannot rename " + tmp.string() + ": " + ec.message());
  return FsyncPath(path.parent_path(), O_RDONLY | O_DIRECTORY);
}

// Makes postgresql.conf include mosaic.conf (appended once; later settings win).
Status EnsureInclude(const fs::path& dir) {
  fs::path conf = dir / "postgresql.conf";
  std::ifstream in(conf);
  std::string line;
  while (std::getline(in, line)) {
    if (line == kIncludeLine) return Status::OK();
  }
  std::ofstream out(conf, std::ios::app);
  out << "\n# Added by Mosaic: its settings for this managed node.\n" << kIncludeLine << "\n";
  if (!out.flush()) return Status::Internal("cannot append to " + conf.string());
  return Status::OK();
}

// If postmaster.pid names a live process: a postmaster of this node left over from an earlier
// Mosaic (its cwd is the node directory) is shut down; any other process merely reuses a dead
// postmaster's pid, and the stale file, which PostgreSQL would refuse, is removed.
Status ClearStalePostmaster(const fs::path& dir) {
  fs::path pid_file = dir / "postmaster.pid";
  std::ifstream in(pid_file);
  long pid = 0;
  if (!(in >> pid) || pid <= 0 || (kill(static_cast<pid_t>(pid), 0) != 0)) return Status::OK();
  std::error_code ec;
  fs::path cwd = fs::read_symlink("/proc/" + std::to_string(pid) + "/cwd", ec);
  if (!ec && cwd == fs::canonical(dir, ec)) {
    log::warn("managed node {}: postmaster {} from an earlier run is still running; stopping it",
              dir.string(), pid);
    if (TerminateForeign(static_cast<pid_t>(pid), kStopGrace)) return Status::OK();
    return Status::Internal("cannot stop leftover postmaster " + std::to_string(pid) + " of " +
                            dir.string());
  }
  log::info("managed node {}: removing stale postmaster.pid (pid {} is another process now)",
            dir.string(), pid);
  fs::remove(pid_file, ec);
  return Status::OK();
}

std::string PingDsn(int port) {
  return fmt::format("host={} port={} dbname=postgres user={} connect_timeout=2", kHost, port,
                     kDbUser);
}

// Runs `sql`; returns "" on success (and sets *rows) or the error message.
std::string Exec(PGconn* conn, const char* sql, int* rows) {
  PGresult* res = PQexec(conn, sql);
  ExecStatusType st = PQresultStatus(res);
  std::string error;
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    error = res != nullptr ? PQresultErrorMessage(res) : PQerrorMessage(conn);
  }
  *rows = PQntuples(res);
  PQclear(res);
  return error;
}

Status EnsureDatabase(const ManagedNodeInfo& node) {
  PGconn* conn = PQconnectdb(PingDsn(node.port).c_str());
  std::string error = PQstatus(conn) == CONNECTION_OK ? "" : PQerrorMessage(conn);
  int rows = 0;
  if (error.empty()) {
    error = Exec(conn, "SELECT 1 FROM pg_database WHERE datname = 'mosaic'", &rows);
  }
  if (error.empty() && rows == 0) {
    error = Exec(conn, "CREATE DATABASE mosaic", &rows);
    if (error.empty()) log::info("managed node {}: created database mosaic", node.id);
  }
  PQfinish(conn);
  if (error.empty()) return Status::OK();
  return Status::Internal(fmt::format("managed node {}: cannot create database {}: {}", node.id,
                                      kManagedDatabase, error));
}

}  // namespace

std::string ManagedNodeInfo::dsn() const {
  return fmt::format("host={} port={} user={} dbname={}", host, port, user, kManagedDatabase);
}

std::string ManagedNodeInfo::local_dsn() const {
  if (socket_dir.empty()) return dsn();
  return fmt::format("host={} port={} user={} dbname={}", catalog::QuoteConninfoValue(socket_dir),
                     port, user, kManagedDatabase);
}

const char* ToString(ManagedNodeState state) {
  switch (state) {
    case ManagedNodeState::kStarting: return "starting";
    case ManagedNodeState::kUp: return "up";
    case ManagedNodeState::kRestarting: return "restarting";
    case ManagedNodeState::kStopped: return "stopped";
  }
  return "unknown";
}

ManagedCluster::ManagedCluster(ManagedNodeOptions options, std::string bin_dir, OsIdentity run_as)
    : options_(std::move(options)), bin_dir_(std::move(bin_dir)), run_as_(std::move(run_as)) {}

ManagedCluster::~ManagedCluster() {
  Stop();
  for (int port : reserved_ports_) ReleasePort(port);
  if (lock_fd_ >= 0) close(lock_fd_);
}

Result<std::unique_ptr<ManagedCluster>> ManagedCluster::Start(const ManagedNodeOptions& options) {
  if (options.data_dir.empty() || options.count < 1 ||
      options.base_port < 0 || options.base_port + options.count - 1 > 65535) {
    return Status::Error(sqlstate::kInvalidParameterValue,
                         "managed nodes need a data directory, count >= 1 and a valid base_port");
  }
  Result<std::string> bin_dir = ResolveBinDir(options.pg_bin_dir);
  if (!bin_dir.ok()) return bin_dir.status();
  Result<OsIdentity> run_as = ResolveOsIdentity(options.os_user);
  if (!run_as.ok()) return run_as.status();
  ManagedNodeOptions absolute = options;
  absolute.data_dir = fs::absolute(options.data_dir).lexically_normal();
  std::unique_ptr<ManagedCluster> cluster(
      new ManagedCluster(std::move(absolute), std::move(*bin_dir), std::move(*run_as)));
  if (Status s = cluster->Prepare(); !s.ok()) return s;
  cluster->runtime_.resize(cluster->nodes_.size());
  cluster->supervisor_ = std::thread(&ManagedCluster::SupervisorLoop, cluster.get());
  Status s = cluster->WaitUntilAllUp();
  if (s.ok()) s = cluster->EnsureDatabases();
  if (!s.ok()) return s;  // the destructor stops what was started
  log::info("managed nodes up under {} (postgres from {}, running as {})",
            cluster->options_.data_dir.string(), cluster->bin_dir_, cluster->run_as_.name);
  return cluster;
}

Status ManagedCluster::Prepare() {
  const fs::path& dir = options_.data_dir;
  fs::path nodes_path = nodes_dir();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::Internal("cannot create " + dir.string() + ": " + ec.message());
  if (Status s = CheckTraversable(dir, run_as_); !s.ok()) {
    return Status::Error(sqlstate::kConfigFileError,
                         "data directory " + dir.string() + " is not reachable by OS user '" +
                             run_as_.name + "', which runs PostgreSQL: " + s.message() +
                             ". Choose a data directory that user can reach, such as "
                             "/var/tmp/mosaic, or grant it search permission yourself");
  }
  fs::create_directory(nodes_path, ec);
  if (!ec) fs::permissions(nodes_path, fs::perms::owner_all, ec);
  if (ec) return Status::Internal("cannot create " + nodes_path.string() + ": " + ec.message());
  if (Status s = ChownPath(nodes_path, run_as_); !s.ok()) return s;
  fs::path lock_path = nodes_path / "mosaic.lock";
  lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0 || flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Status::Error(sqlstate::kConfigFileError,
                         dir.string() + " is in use by another Mosaic (cannot lock " +
                             lock_path.string() + ")");
  }
  for (int id = 1; id <= options_.count; ++id) {
    if (Status s = PrepareNode(id); !s.ok()) return s;
  }
  return Status::OK();
}

Status ManagedCluster::PrepareNode(int id) {
  fs::path dir = nodes_dir() / ("node-" + std::to_string(id));
  std::error_code ec;
  if (!fs::exists(dir / "PG_VERSION", ec)) {
    if (fs::exists(dir, ec)) {
      return Status::Internal(dir.string() + " exists but holds no PostgreSQL cluster; move it "
                              "away and Mosaic will create the node afresh");
    }
    if (Status s = CreateNodeFromTemplate(dir); !s.ok()) return s;
  } else if (struct stat st; stat(dir.c_str(), &st) == 0 && st.st_uid != run_as_.uid) {
    if (Status s = ChownTree(dir, run_as_); !s.ok()) return s;  // e.g. first run was not root
  }
  if (Status s = ClearStalePostmaster(dir); !s.ok()) return s;
  Result<int> port = ChoosePort(id, dir);
  if (!port.ok()) return port.status();
  const std::string socket_dir = SocketDir(dir, *port);
  if (Status s = WriteFileAtomically(dir / "mosaic.conf", MosaicConf(socket_dir, *port), run_as_);
      !s.ok()) {
    return s;
  }
  if (Status s = EnsureInclude(dir); !s.ok()) return s;
  nodes_.push_back(ManagedNodeInfo{id, kHost, *port, kDbUser, dir, socket_dir});
  return Status::OK();
}

Status ManagedCluster::EnsureTemplate() {
  fs::path tmpl = nodes_dir() / "template";
  fs::path tmp = nodes_dir() / "template.tmp";
  std::error_code ec;
  if (fs::exists(tmpl, ec)) return Status::OK();  // complete: it is renamed into place last
  fs::remove_all(tmp, ec);
  log::info("managed nodes: running initdb for the template in {}", tmpl.string());
  SpawnOptions initdb{{bin_dir_ + "/initdb", "-D", tmp.string(), "--auth=trust", "-U", kDbUser,
                       "--encoding=UTF8", "--no-locale", "--no-sync"},
                      -1, &run_as_, SIGTERM};
  if (Status s = RunToCompletion(initdb, nodes_dir() / "initdb.log", run_as_); !s.ok()) return s;
  if (Status s = SyncFileSystem(tmp); !s.ok()) return s;
  fs::rename(tmp, tmpl, ec);
  if (ec) return Status::Internal("cannot rename " + tmp.string() + ": " + ec.message());
  return FsyncPath(nodes_dir(), O_RDONLY | O_DIRECTORY);
}

// Copies the template to DIR.tmp, makes the copy durable, then renames it to `dir`, so a crash
// never leaves a half-copied node behind.
Status ManagedCluster::CreateNodeFromTemplate(const fs::path& dir) {
  if (Status s = EnsureTemplate(); !s.ok()) return s;
  fs::path tmp = dir.string() + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::copy(nodes_dir() / "template", tmp,
           fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
  if (!ec) fs::permissions(tmp, fs::perms::owner_all, ec);
  if (ec) {
    return Status::Internal("cannot copy the template to " + tmp.string() + ": " + ec.message());
  }
  if (Status s = ChownTree(tmp, run_as_); !s.ok()) return s;
  if (Status s = SyncFileSystem(tmp); !s.ok()) return s;
  fs::rename(tmp, dir, ec);
  if (ec) return Status::Internal("cannot rename " + tmp.string() + ": " + ec.message());
  log::info("managed nodes: created {}", dir.string());
  return FsyncPath(nodes_dir(), O_RDONLY | O_DIRECTORY);
}

// base_port wins; else the port persisted in mosaic.conf; else the first free one from 6433.
Result<int> ManagedCluster::ChoosePort(int id, const fs::path& dir) {
  std::optional<int> persisted = ReadPersistedPort(dir / "mosaic.conf");
  int port = options_.base_port > 0 ? options_.base_port + id - 1 : persisted.value_or(0);
  if (port == 0) {
    Result<int> picked = PickFreePort();
    if (picked.ok()) reserved_ports_.push_back(*picked);
    return picked;
  }
  if (!ReservePort(port)) {
    return Status::Error(sqlstate::kConfigFileError,
                         fmt::format("port {} of managed node {} is already used by another "
                                     "managed cluster in this process", port, id));
  }
  reserved_ports_.push_back(port);
  if (!PortFree(port)) {
    return Status::Error(sqlstate::kConfigFileError,
                         fmt::format("port {} of managed node {} ({}) is in use by another "
                                     "program on 127.0.0.1", port, id,
                                     options_.base_port > 0 ? "base_port"
                                                            : "persisted in its mosaic.conf"));
  }
  return port;
}

Status ManagedCluster::WaitUntilAllUp() {
  auto deadline = Clock::now() + options_.start_timeout;
  for (;;) {
    std::vector<int> pending;
    {
      std::lock_guard lock(mu_);
      for (size_t i = 0; i < runtime_.size(); ++i) {
        if (runtime_[i].state != ManagedNodeState::kUp) pending.push_back(static_cast<int>(i));
      }
    }
    if (pending.empty()) return Status::OK();
    if (Clock::now() >= deadline) {
      const ManagedNodeInfo& node = nodes_[pending.front()];
      fs::path log_path = node.dir / "postgres.log";
      return Status::Internal(fmt::format(
          "managed node {} (port {}) did not accept connections within {} s; end of {}:\n{}",
          node.id, node.port, options_.start_timeout.count(), log_path.string(),
          TailOfFile(log_path, 1500)));
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
}

Status ManagedCluster::EnsureDatabases() const {
  for (const ManagedNodeInfo& node : nodes_) {
    if (Status s = EnsureDatabase(node); !s.ok()) return s;
  }
  return Status::OK();
}

void ManagedCluster::Stop() {
  std::lock_guard stop_lock(stop_mu_);
  {
    std::lock_guard lock(mu_);
    stop_requested_ = true;
  }
  wake_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
}

ManagedNodeState ManagedCluster::state(int id) const { return Load(id).state; }
pid_t ManagedCluster::postmaster_pid(int id) const { return Load(id).pid; }
int ManagedCluster::restarts(int id) const { return Load(id).restarts; }

ManagedCluster::NodeRuntime ManagedCluster::Load(int id) const {
  std::lock_guard lock(mu_);
  return runtime_.at(static_cast<size_t>(id - 1));
}

void ManagedCluster::Store(int id, const NodeRuntime& rt) {
  std::lock_guard lock(mu_);
  runtime_.at(static_cast<size_t>(id - 1)) = rt;
}

void ManagedCluster::SupervisorLoop() {
  std::unique_lock lock(mu_);
  while (!stop_requested_) {
    lock.unlock();
    for (const ManagedNodeInfo& node : nodes_) SuperviseNode(node.id);
    lock.lock();
    wake_.wait_for(lock, kTick, [this] { return stop_requested_; });
  }
  lock.unlock();
  ShutdownAll();
}

// One supervision step: spawn when due, notice an exit, or notice that startup finished.
void ManagedCluster::SuperviseNode(int id) {
  NodeRuntime rt = Load(id);  // only this thread writes runtime_, so the copy stays current
  auto now = Clock::now();
  std::string how;
  if (rt.pid == 0) {
    if (now >= rt.next_spawn) SpawnNode(id, &rt);
  } else if (Reaped(rt.pid, &how)) {
    OnExit(id, &rt, how);
  } else if (rt.state != ManagedNodeState::kUp) {
    if (PQping(PingDsn(nodes_[id - 1].port).c_str()) == PQPING_OK) {
      rt.state = ManagedNodeState::kUp;
      rt.up_since = now;
      log::info("managed node {}: up on port {} (postmaster pid {})", id, nodes_[id - 1].port,
                rt.pid);
    }
  } else if (now - rt.up_since >= kStableAfter) {
    rt.backoff = kInitialBackoff;
  }
  Store(id, rt);
}

void ManagedCluster::SpawnNode(int id, NodeRuntime* rt) {
  const ManagedNodeInfo& node = nodes_[id - 1];
  Status error;
  Result<int> log_fd = OpenLogForAppend(node.dir / "postgres.log", run_as_);
  if (log_fd.ok()) {
    Result<pid_t> pid = Spawn(SpawnOptions{{bin_dir_ + "/postgres", "-D", node.dir.string()},
                                           *log_fd, &run_as_, SIGINT});
    close(*log_fd);
    if (pid.ok()) {
      rt->pid = *pid;
      return;
    }
    error = pid.status();
  } else {
    error = log_fd.status();
  }
  log::error("managed node {}: {}; retrying in {} ms", id, error.message(), rt->backoff.count());
  rt->next_spawn = Clock::now() + rt->backoff;
  rt->backoff = std::min(rt->backoff * 2, kMaxBackoff);
}

void ManagedCluster::OnExit(int id, NodeRuntime* rt, const std::string& how) {
  if (rt->state == ManagedNodeState::kUp) {
    rt->restarts++;
    rt->state = ManagedNodeState::kRestarting;
  }
  log::warn("managed node {}: postmaster {} exited unexpectedly ({}); restarting in {} ms "
            "(restart #{}, see {})",
            id, rt->pid, how, rt->backoff.count(), rt->restarts,
            (nodes_[id - 1].dir / "postgres.log").string());
  rt->pid = 0;
  rt->next_spawn = Clock::now() + rt->backoff;
  rt->backoff = std::min(rt->backoff * 2, kMaxBackoff);
}

void ManagedCluster::ShutdownAll() {
  std::vector<pid_t> pids;
  {
    std::lock_guard lock(mu_);
    for (const NodeRuntime& rt : runtime_) {
      if (rt.pid != 0) pids.push_back(rt.pid);
    }
  }
  TerminateChildren(pids, SIGINT, kStopGrace);
  std::lock_guard lock(mu_);
  for (NodeRuntime& rt : runtime_) {
    rt.pid = 0;
    rt.state = ManagedNodeState::kStopped;
  }
  log::info("managed nodes under {} stopped", options_.data_dir.string());
}

}  // namespace mosaic::backend

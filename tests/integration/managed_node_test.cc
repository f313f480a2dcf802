// Integration tests for managed nodes against real PostgreSQL 15: initialise, start, query,
// stop, restart on the same data directory, stop the nodes when Mosaic dies, and recover
// from kill -9 of a postmaster.
// Each test works in its own temp dir under /var/tmp and removes it; it must not touch
// anything else (no fixed ports, no shared directories).
#include "backend/managed_node.h"

#include <libpq-fe.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace mosaic::backend {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A fresh directory under /var/tmp, removed at the end. Made searchable (0711) so that the
// unprivileged "postgres" user can reach the data directory inside it when tests run as root.
class TempDir {
 public:
  explicit TempDir(bool searchable = true) {
    char tmpl[] = "/var/tmp/mosaic-managed-node-test-XXXXXX";
    char* made = mkdtemp(tmpl);
    if (made != nullptr) path_ = made;
    if (made != nullptr && searchable) chmod(made, 0711);
  }
  ~TempDir() {
    std::error_code ec;
    // Retry: after a failed test, exiting postmasters may still be writing files in there.
    for (int attempt = 0; !path_.empty() && fs::exists(path_) && attempt < 5; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
      fs::remove_all(path_, ec);
    }
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Runs one statement and returns the first column of the first row, "" if none, or
// "ERROR: ..." if the connection or statement fails.
std::string QueryValue(const std::string& dsn, const std::string& sql) {
  PGconn* conn = PQconnectdb((dsn + " connect_timeout=5").c_str());
  std::string out;
  if (PQstatus(conn) != CONNECTION_OK) {
    out = std::string("ERROR: ") + PQerrorMessage(conn);
  } else {
    PGresult* res = PQexec(conn, sql.c_str());
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
      out = std::string("ERROR: ") + PQresultErrorMessage(res);
    } else if (st == PGRES_TUPLES_OK && PQntuples(res) > 0) {
      out = PQgetvalue(res, 0, 0);
    }
    PQclear(res);
  }
  PQfinish(conn);
  return out;
}

// Gone or a zombie (an orphan's new parent may not reap it at once).
bool ProcessGone(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field, comm, state;
  return (stat >> pid_field >> comm >> state) && state == "Z";
}

bool WaitUntilGone(pid_t pid, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!ProcessGone(pid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  return ProcessGone(pid);
}

// Starts a cluster in a forked copy of this process (a stand-in for a Mosaic process), which
// writes the postmaster pids to a pipe and then waits to be killed. Returns those pids.
// REQUIRES: no other threads are running (the child continues in a copy of this one).
std::vector<pid_t> StartClusterInChildProcess(const ManagedNodeOptions& options, pid_t* child) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  *child = fork();
  if (*child == 0) {
    close(fds[0]);
    auto cluster = ManagedCluster::Start(options);
    for (int id = 1; cluster.ok() && id <= options.count; ++id) {
      pid_t pid = (*cluster)->postmaster_pid(id);
      if (write(fds[1], &pid, sizeof pid) != sizeof pid) break;
    }
    close(fds[1]);
    for (;;) pause();
  }
  close(fds[1]);
  std::vector<pid_t> pids;
  pid_t pid;
  while (pids.size() < static_cast<size_t>(options.count) &&
         read(fds[0], &pid, sizeof pid) == sizeof pid) {  // pipe writes this small are atomic
    pids.push_back(pid);
  }
  close(fds[0]);
  return pids;
}

// A live process that is not PostgreSQL, to stand in for a reused pid.
pid_t StartSleeper() {
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sleep", "sleep", "60", static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

void ExpectNodeServes(const ManagedNodeInfo& node) {
  EXPECT_EQ(QueryValue(node.dsn(), "SELECT current_database()"), "mosaic") << node.dsn();
  EXPECT_EQ(QueryValue(node.dsn(), "SHOW wal_level"), "logical");
  EXPECT_GT(std::atoi(QueryValue(node.dsn(), "SHOW max_prepared_transactions").c_str()), 0);
  // The router's own connections come over the node's Unix socket (no client address), the
  // catalog's DSN over TCP.
  ASSERT_FALSE(node.socket_dir.empty());
  EXPECT_NE(node.local_dsn(), node.dsn());
  EXPECT_EQ(QueryValue(node.local_dsn(), "SELECT current_database() || ' ' || (inet_client_addr() IS NULL)"),
            "mosaic true");
  EXPECT_EQ(QueryValue(node.dsn(), "SELECT (inet_client_addr() IS NULL)::text"), "false");
}

// PostgreSQL insists on 0700 (or 0750); as root the files must belong to "postgres".
void ExpectPrivateToNodeUser(const fs::path& dir) {
  struct stat st;
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  if (geteuid() == 0) {
    EXPECT_NE(st.st_uid, 0u);
  }
  EXPECT_TRUE(fs::exists(dir / "postgres.log"));
}

TEST(ManagedNodeTest, RejectsDataDirTheNodeUserCannotReach) {
  if (geteuid() != 0) GTEST_SKIP() << "only root switches to the postgres user";
  TempDir tmp(/*searchable=*/false);  // mode 0700, owned by root
  ASSERT_FALSE(tmp.path().empty());
  ManagedNodeOptions options;
  options.data_dir = tmp.path() / "data";
  options.count = 1;
  auto cluster = ManagedCluster::Start(options);
  ASSERT_FALSE(cluster.ok());
  EXPECT_NE(cluster.status().message().find("cannot be searched by OS user 'postgres'"),
            std::string::npos)
      << cluster.status().message();
  EXPECT_NE(cluster.status().message().find("/var/tmp/"), std::string::npos);
}

TEST(ManagedNodeTest, PersistsAcrossRestartAndRecoversFromKill) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  ManagedNodeOptions options;
  options.data_dir = tmp.path() / "data";
  options.count = 2;

  std::vector<int> ports;
  {
    // A second cluster of this process starts at the same time: ports must not collide.
    TempDir other_tmp;
    ManagedNodeOptions other_options;
    other_options.data_dir = other_tmp.path() / "data";
    other_options.count = 1;
    Result<std::unique_ptr<ManagedCluster>> other = Status::Internal("not started");
    std::thread start_other([&] { other = ManagedCluster::Start(other_options); });
    auto cluster = ManagedCluster::Start(options);
    start_other.join();
    ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
    ASSERT_TRUE(other.ok()) << other.status().ToString();
    ManagedCluster& c = **cluster;
    int other_port = (*other)->nodes()[0].port;
    ExpectNodeServes((*other)->nodes()[0]);
    other = Status::Internal("destroyed");  // stops it
    ASSERT_EQ(c.nodes().size(), 2u);
    for (const ManagedNodeInfo& node : c.nodes()) {
      EXPECT_EQ(c.state(node.id), ManagedNodeState::kUp);
      ExpectNodeServes(node);
      ports.push_back(node.port);
    }
    EXPECT_NE(ports[0], ports[1]);
    EXPECT_NE(other_port, ports[0]);
    EXPECT_NE(other_port, ports[1]);
    auto twice = ManagedCluster::Start(options);
    ASSERT_FALSE(twice.ok());
    EXPECT_NE(twice.status().message().find("in use by another Mosaic"), std::string::npos)
        << twice.status().message();
    ExpectPrivateToNodeUser(c.nodes()[0].dir);
    EXPECT_EQ(QueryValue(c.nodes()[0].dsn(),
                         "CREATE TABLE kept (id int PRIMARY KEY, v text);"
                         "INSERT INTO kept VALUES (1, 'still here')"),
              "");
    pid_t pid1 = c.postmaster_pid(1);
    c.Stop();
    c.Stop();  // idempotent
    EXPECT_EQ(c.state(1), ManagedNodeState::kStopped);
    EXPECT_EQ(c.postmaster_pid(1), 0);
    EXPECT_TRUE(ProcessGone(pid1));
  }

  // When the Mosaic process dies (kill -9), its postmasters shut down by themselves.
  pid_t mosaic = 0;
  std::vector<pid_t> orphans = StartClusterInChildProcess(options, &mosaic);
  ASSERT_GT(mosaic, 0);
  kill(mosaic, SIGKILL);
  waitpid(mosaic, nullptr, 0);
  ASSERT_EQ(orphans.size(), 2u) << "the cluster did not start in the child process";
  for (pid_t pid : orphans) EXPECT_TRUE(WaitUntilGone(pid, 15s)) << "postmaster " << pid;

  // A crash can leave a postmaster.pid whose pid now belongs to another process.
  pid_t sleeper = StartSleeper();
  std::ofstream(options.data_dir / "nodes/node-2/postmaster.pid") << sleeper << "\n";

  auto cluster = ManagedCluster::Start(options);
  kill(sleeper, SIGKILL);
  waitpid(sleeper, nullptr, 0);
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  ManagedCluster& c = **cluster;
  EXPECT_EQ(c.nodes()[0].port, ports[0]);
  EXPECT_EQ(c.nodes()[1].port, ports[1]);
  EXPECT_EQ(QueryValue(c.nodes()[0].dsn(), "SELECT v FROM kept WHERE id = 1"), "still here");
  ExpectNodeServes(c.nodes()[1]);

  pid_t killed = c.postmaster_pid(1);
  ASSERT_GT(killed, 0);
  ASSERT_EQ(kill(killed, SIGKILL), 0);
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline &&
         !(c.restarts(1) == 1 && c.state(1) == ManagedNodeState::kUp)) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(c.state(1), ManagedNodeState::kUp);
  EXPECT_EQ(c.restarts(1), 1);
  EXPECT_NE(c.postmaster_pid(1), killed);
  EXPECT_EQ(c.restarts(2), 0);
  EXPECT_EQ(QueryValue(c.nodes()[0].dsn(), "SELECT v FROM kept WHERE id = 1"), "still here");
}

}  // namespace
}  // namespace mosaic::backend

// TestPostgres: a throwaway PostgreSQL 15 cluster for integration tests.
//
// Construction runs initdb in a fresh directory under /var/tmp and starts postgres on a free
// loopback TCP port (no Unix socket); destruction stops it and deletes the directory. Trust
// auth, superuser "mosaic", wal_level logical (migrations replicate between servers). Tuned for
// speed (fsync off), so it must never hold data anyone cares about. Test-only: not part of
// mosaic_core.
//
// PostgreSQL refuses to run as root, so under root (as in CI) the server runs as the system
// user "postgres"; otherwise as the current user. The server also dies with the thread that
// started it (PR_SET_PDEATHSIG), so a crashed test does not leak it: create the fixture on a
// thread that outlives it (the test's main thread, or in SetUpTestSuite).
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace mosaic::testing {

class TestPostgres {
 public:
  static constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";
  static constexpr const char* kSuperuser = "mosaic";

  // Creates and starts the cluster; blocks until it accepts connections or fails. Check ok().
  TestPostgres() { error_ = Init(); }
  ~TestPostgres() {
    Stop();
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }
  TestPostgres(const TestPostgres&) = delete;
  TestPostgres& operator=(const TestPostgres&) = delete;

  // True if the server is up; otherwise error() says why (with the server log's tail).
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  int port() const { return port_; }

  // libpq conninfo for `dbname` (a plain name without spaces or quotes) as the superuser.
  std::string dsn(const std::string& dbname = "postgres") const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=" + kSuperuser +
           " dbname=" + dbname + " connect_timeout=10";
  }

  // Fast-shutdown of the server (the data stays). Idempotent. Use to simulate an outage.
  void Stop() { Shutdown(SIGINT); }

  // Immediate shutdown (SIGQUIT): no shutdown checkpoint, crash recovery at the next start, as
  // after a kill -9 of the server. Idempotent.
  void Crash() { Shutdown(SIGQUIT); }

  // Starts the stopped server again on the same port. Returns false (see error()) on failure.
  bool Restart() {
    Stop();
    error_ = StartServer(/*keep_port=*/true);
    return ok();
  }

 private:
  // Sends the postmaster `signal` (SIGINT fast, SIGQUIT immediate shutdown) and waits for it;
  // SIGKILL after 30 s.
  void Shutdown(int signal) {
    if (pid_ <= 0) return;
    kill(pid_, signal);
    if (!WaitExit(std::chrono::seconds(30))) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
  }

  std::string Init() {
    char tmpl[] = "/var/tmp/mosaic-test-pg-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return "mkdtemp failed";
    dir_ = tmpl;
    if (std::string e = ResolveUser(); !e.empty()) return e;
    if (geteuid() == 0 && chown(dir_.c_str(), uid_, gid_) != 0) return "chown " + dir_ + " failed";
    std::string initdb = std::string(kBinDir) + "/initdb";
    pid_t pid = Spawn({initdb, "-D", DataDir(), "-U", kSuperuser, "-A", "trust", "-E", "UTF8",
                       "--locale=C", "--no-sync", "--no-instructions"},
                      /*die_with_parent=*/false);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
      return "initdb failed:\n" + LogTail();
    }
    return StartServer(/*keep_port=*/false);
  }

  std::string ResolveUser() {
    uid_ = geteuid();
    gid_ = getegid();
    if (uid_ != 0) return "";
    const passwd* pw = getpwnam("postgres");
    if (pw == nullptr) return "running as root and there is no system user 'postgres'";
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
    return "";
  }

  std::string DataDir() const { return dir_ + "/data"; }
  std::string LogPath() const { return dir_ + "/postgres.log"; }

  std::string StartServer(bool keep_port) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (!keep_port || attempt > 0 || port_ == 0) port_ = FreePort();
      if (port_ <= 0) return "cannot find a free port";
      pid_ = Spawn({std::string(kBinDir) + "/postgres", "-D", DataDir(), "-p",
                    std::to_string(port_), "-c", "listen_addresses=127.0.0.1", "-c",
                    "unix_socket_directories=", "-c", "fsync=off", "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off", "-c", "shared_buffers=32MB",
                    "-c", "max_prepared_transactions=16", "-c", "wal_level=logical", "-c",
                    "max_replication_slots=20", "-c", "max_wal_senders=20"},
                   /*die_with_parent=*/true);
      if (pid_ > 0 && WaitReady()) return "";
      Stop();  // lost a race for the port, most likely: try another one
    }
    return "postgres did not start:\n" + LogTail();
  }

  // Polls until the server answers, it exits, or 60 s pass.
  bool WaitReady() {
    std::string conninfo = dsn("postgres");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      if (PQping(conninfo.c_str()) == PQPING_OK) return true;
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  bool WaitExit(std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  static int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = -1;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    close(fd);
    return port;
  }

  // Runs args[0] as the server user with output appended to the log. Returns the pid or -1.
  // Between fork and exec the child only makes async-signal-safe calls.
  pid_t Spawn(const std::vector<std::string>& args, bool die_with_parent) {
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int log = open(LogPath().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log < 0 || devnull < 0) return -1;
    pid_t parent = getpid();
    bool drop_root = geteuid() == 0;
    uid_t uid = uid_;
    gid_t gid = gid_;
    pid_t pid = fork();
    if (pid == 0) {
      if (drop_root && (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0)) {
        _exit(126);
      }
      // Set after setuid, which clears it; then check we did not miss the parent's death.
      if (die_with_parent && (prctl(PR_SET_PDEATHSIG, SIGQUIT) != 0 || getppid() != parent)) {
        _exit(125);
      }
      if (dup2(devnull, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0) _exit(124);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(log);
    close(devnull);
    return pid;
  }

  std::string LogTail() const {
    std::ifstream in(LogPath());
    std::stringstream all;
    all << in.rdbuf();
    std::string text = all.str();
    return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
  }

  std::string dir_;
  std::string error_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace mosaic::testing

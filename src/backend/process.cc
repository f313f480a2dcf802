// Child processes for managed nodes; see process.h. The code between fork() and execv() runs
// in a copy of a multi-threaded process: it must only use async-signal-safe calls (no
// allocation, no locks, no logging), so everything it needs is prepared before fork().
#include "backend/process.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "common/log.h"

namespace mosaic::backend {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string Errno(int e) { return std::strerror(e); }

// Looks up a user by name (uid == -1) or by uid.
bool LookupUser(const std::string& name, uid_t uid, OsIdentity* out) {
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
  struct passwd pw;
  struct passwd* found = nullptr;
  int rc = name.empty() ? getpwuid_r(uid, &pw, buf.data(), buf.size(), &found)
                        : getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || found == nullptr) return false;
  *out = OsIdentity{found->pw_name, found->pw_uid, found->pw_gid, false};
  return true;
}

std::vector<gid_t> GroupsOf(const OsIdentity& who) {
  int n = 64;
  std::vector<gid_t> groups(n);
  if (getgrouplist(who.name.c_str(), who.gid, groups.data(), &n) < 0) {
    groups.resize(n);
    if (getgrouplist(who.name.c_str(), who.gid, groups.data(), &n) < 0) n = 0;
  }
  groups.resize(n);
  if (groups.empty()) groups.push_back(who.gid);
  return groups;
}

bool CanSearch(const struct stat& st, const OsIdentity& who, const std::vector<gid_t>& groups) {
  if (st.st_uid == who.uid) return (st.st_mode & S_IXUSR) != 0;
  for (gid_t g : groups) {
    if (g == st.st_gid) return (st.st_mode & S_IXGRP) != 0;
  }
  return (st.st_mode & S_IXOTH) != 0;
}

// Everything the child needs between fork and exec, prepared by the parent.
struct ChildPlan {
  std::vector<char*> argv;
  int output_fd;
  int null_fd;
  int error_pipe;  // child writes {stage, errno} here if it cannot exec
  const OsIdentity* run_as;
  std::vector<gid_t> groups;
  int death_signal;
  pid_t parent;
};

enum ChildStage : int { kSetsid = 1, kPdeathsig, kRedirect, kSetgroups, kSetgid, kSetuid, kExec };

const char* StageName(int stage) {
  switch (stage) {
    case kSetsid: return "setsid";
    case kPdeathsig: return "prctl(PR_SET_PDEATHSIG)";
    case kRedirect: return "redirecting output";
    case kSetgroups: return "setgroups";
    case kSetgid: return "setgid";
    case kSetuid: return "setuid";
    default: return "execv";
  }
}

[[noreturn]] void ChildFail(const ChildPlan& p, int stage) {
  int report[2] = {stage, errno};
  ssize_t ignored = write(p.error_pipe, report, sizeof report);
  (void)ignored;
  _exit(127);
}

// Runs in the child. Async-signal-safe calls only.
[[noreturn]] void ExecChild(const ChildPlan& p) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int s : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2}) {
    signal(s, SIG_DFL);
  }
  // Own session: a terminal's Ctrl-C reaches Mosaic, which then stops the nodes in order.
  if (setsid() < 0) ChildFail(p, kSetsid);
  if (dup2(p.null_fd, 0) < 0 || dup2(p.output_fd, 1) < 0 || dup2(p.output_fd, 2) < 0) {
    ChildFail(p, kRedirect);
  }
  // Do not leak Mosaic's sockets and files into the child (best effort on old kernels).
  close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  if (p.run_as != nullptr && p.run_as->switch_user) {
    if (setgroups(p.groups.size(), p.groups.data()) != 0) ChildFail(p, kSetgroups);
    if (setgid(p.run_as->gid) != 0) ChildFail(p, kSetgid);
    if (setuid(p.run_as->uid) != 0) ChildFail(p, kSetuid);
  }
  // After the user switch: changing credentials clears the parent-death signal.
  if (p.death_signal != 0) {
    if (prctl(PR_SET_PDEATHSIG, p.death_signal) != 0) ChildFail(p, kPdeathsig);
    if (getppid() != p.parent) _exit(1);  // parent died before prctl took effect
  }
  execv(p.argv[0], p.argv.data());
  ChildFail(p, kExec);
}

// Waits for the child's exec report. Returns OK if exec succeeded (pipe closed unwritten).
Status AwaitExec(pid_t pid, int read_fd, const std::string& program) {
  int report[2] = {0, 0};
  ssize_t n;
  do {
    n = read(read_fd, report, sizeof report);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return Status::OK();
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return Status::Internal("cannot start " + program + ": " + StageName(report[0]) + " failed: " +
                          Errno(report[1]));
}

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

int WaitBlocking(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

}  // namespace

Result<OsIdentity> ResolveOsIdentity(const std::string& requested) {
  OsIdentity who;
  if (geteuid() != 0) {
    if (!LookupUser("", geteuid(), &who)) {
      who = OsIdentity{std::to_string(geteuid()), geteuid(), getegid(), false};
    }
    if (!requested.empty() && requested != who.name) {
      return Status::Error(sqlstate::kConfigFileError,
                           "managed nodes can run as OS user '" + requested +
                               "' only when Mosaic runs as root; Mosaic runs as '" + who.name +
                               "'");
    }
    return who;
  }
  std::string name = requested.empty() ? "postgres" : requested;
  if (!LookupUser(name, 0, &who)) {
    return Status::Error(sqlstate::kConfigFileError,
                         "OS user '" + name + "' does not exist. PostgreSQL refuses to run as "
                         "root, so Mosaic (running as root) runs managed nodes as an "
                         "unprivileged user; install postgresql-15 (which creates 'postgres') "
                         "or name an existing user");
  }
  if (who.uid == 0) {
    return Status::Error(sqlstate::kConfigFileError,
                         "OS user '" + name + "' is root; PostgreSQL refuses to run as root");
  }
  who.switch_user = true;
  return who;
}

Status CheckTraversable(const fs::path& dir, const OsIdentity& who) {
  std::vector<gid_t> groups = GroupsOf(who);
  fs::path current;
  for (const fs::path& part : fs::absolute(dir).lexically_normal()) {
    if (part.empty()) continue;
    current /= part;
    struct stat st;
    if (stat(current.c_str(), &st) != 0) {
      return Status::Internal("cannot stat " + current.string() + ": " + Errno(errno));
    }
    if (!S_ISDIR(st.st_mode)) return Status::Internal(current.string() + " is not a directory");
    if (!CanSearch(st, who, groups)) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
      return Status::Error(sqlstate::kConfigFileError,
                           current.string() + " (owner uid " + std::to_string(st.st_uid) +
                               ", mode " + mode + ") cannot be searched by OS user '" + who.name +
                               "'");
    }
  }
  return Status::OK();
}

Status ChownPath(const fs::path& path, const OsIdentity& who) {
  if (!who.switch_user || lchown(path.c_str(), who.uid, who.gid) == 0) return Status::OK();
  return Status::Internal("cannot chown " + path.string() + ": " + Errno(errno));
}

Status ChownTree(const fs::path& path, const OsIdentity& who) {
  if (!who.switch_user) return Status::OK();
  if (Status s = ChownPath(path, who); !s.ok()) return s;
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(path, ec))) return Status::OK();
  for (fs::recursive_directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    if (Status s = ChownPath(it->path(), who); !s.ok()) return s;
  }
  if (ec) return Status::Internal("cannot walk " + path.string() + ": " + ec.message());
  return Status::OK();
}

Result<pid_t> Spawn(const SpawnOptions& options) {
  const std::string& program = options.argv.at(0);
  ChildPlan plan{{}, options.output_fd, -1, -1, options.run_as, {}, options.parent_death_signal,
                 getpid()};
  std::vector<std::string> args = options.argv;  // execv wants char* const*
  for (std::string& a : args) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);
  if (options.run_as != nullptr && options.run_as->switch_user) {
    plan.groups = GroupsOf(*options.run_as);
  }
  plan.null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (plan.output_fd < 0) plan.output_fd = plan.null_fd;
  int pipe_fds[2];
  if (plan.null_fd < 0 || pipe2(pipe_fds, O_CLOEXEC) != 0) {
    int e = errno;
    if (plan.null_fd >= 0) close(plan.null_fd);
    return Status::Internal("cannot start " + program + ": " + Errno(e));
  }
  plan.error_pipe = pipe_fds[1];
  pid_t pid = fork();
  if (pid == 0) ExecChild(plan);
  int fork_errno = errno;
  close(pipe_fds[1]);
  close(plan.null_fd);
  Status exec_status = pid < 0 ? Status::Internal("cannot fork for " + program + ": " +
                                                  Errno(fork_errno))
                               : AwaitExec(pid, pipe_fds[0], program);
  close(pipe_fds[0]);
  if (!exec_status.ok()) return exec_status;
  return pid;
}

Result<int> OpenLogForAppend(const fs::path& path, const OsIdentity& who) {
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Internal("cannot open " + path.string() + ": " + Errno(errno));
  if (who.switch_user && fchown(fd, who.uid, who.gid) != 0) {
    int e = errno;
    close(fd);
    return Status::Internal("cannot chown " + path.string() + ": " + Errno(e));
  }
  return fd;
}

Status RunToCompletion(SpawnOptions options, const fs::path& log_path, const OsIdentity& who) {
  Result<int> fd = OpenLogForAppend(log_path, who);
  if (!fd.ok()) return fd.status();
  options.output_fd = *fd;
  Result<pid_t> pid = Spawn(options);
  close(*fd);
  if (!pid.ok()) return pid.status();
  int status = WaitBlocking(*pid);
  if (status == 0) return Status::OK();
  return Status::Internal(options.argv[0] + " failed (" + DescribeExit(status) + "); output in " +
                          log_path.string() + ":\n" + TailOfFile(log_path));
}

Result<std::string> CaptureOutput(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return Status::Internal("pipe: " + Errno(errno));
  Result<pid_t> pid = Spawn(SpawnOptions{argv, pipe_fds[1]});
  close(pipe_fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while (pid.ok() && ((n = read(pipe_fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))) {
    if (n > 0) out.append(buf, static_cast<size_t>(n));
  }
  close(pipe_fds[0]);
  if (!pid.ok()) return pid.status();
  int status = WaitBlocking(*pid);
  if (status != 0) return Status::Internal(argv[0] + " failed (" + DescribeExit(status) + ")");
  return out;
}

std::string FindOnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    fs::path candidate = fs::path(dirs.substr(start, end - start)) / program;
    if (candidate.is_absolute() && access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return "";
}

bool Reaped(pid_t pid, std::string* how) {
  int status = 0;
  pid_t r = waitpid(pid, &status, WNOHANG);
  if (r == 0 || (r < 0 && errno == EINTR)) return false;
  *how = r == pid ? DescribeExit(status) : "reaped elsewhere (" + Errno(errno) + ")";
  return true;
}

void TerminateChildren(const std::vector<pid_t>& pids, int first, std::chrono::milliseconds grace) {
  std::vector<pid_t> alive = pids;
  for (int sig : {first, SIGQUIT, SIGKILL}) {
    for (pid_t pid : alive) kill(pid, sig);
    auto deadline = Clock::now() + grace;
    while (!alive.empty() && (sig == SIGKILL || Clock::now() < deadline)) {
      std::string how;
      std::erase_if(alive, [&](pid_t pid) { return Reaped(pid, &how); });
      if (!alive.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (alive.empty()) return;
    log::warn("{} child process(es) still running {} ms after signal {}; escalating",
              alive.size(), grace.count(), sig);
  }
}

bool TerminateForeign(pid_t pid, std::chrono::milliseconds grace) {
  for (int sig : {SIGINT, SIGQUIT, SIGKILL}) {
    kill(pid, sig);
    auto deadline = Clock::now() + grace;
    while (Clock::now() < deadline) {
      if (kill(pid, 0) != 0 && errno == ESRCH) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return false;
}

std::string TailOfFile(const fs::path& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff start = size > static_cast<std::streamoff>(max_bytes)
                             ? size - static_cast<std::streamoff>(max_bytes)
                             : 0;
  in.seekg(start);
  std::string out(static_cast<size_t>(size - start), '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

}  // namespace mosaic::backend

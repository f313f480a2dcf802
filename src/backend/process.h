// Child processes for managed nodes: who they run as, how they are started and stopped.
//
// Mosaic runs PostgreSQL's own programs (initdb, postgres) as children. PostgreSQL refuses to
// run as root, so when Mosaic is root each child switches to an unprivileged OS user before
// exec. Children are started with fork + execv (never through a shell); between fork and exec
// the child calls only async-signal-safe functions, because the parent is multi-threaded.
//
// Nothing here knows about PostgreSQL; nothing here reaps children it did not start: callers
// always wait for a specific pid, never for "any child".
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "common/status.h"

namespace mosaic::backend {

// The OS user a child process runs as.
struct OsIdentity {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  // True when the parent is root and the child must drop to uid/gid (and name's groups).
  bool switch_user = false;
};

// Resolves the user children run as. `requested` == "" means: the existing system user
// "postgres" when running as root (nothing is created), otherwise the current user.
// Fails if the user does not exist, is root, or differs from the current user while not root.
Result<OsIdentity> ResolveOsIdentity(const std::string& requested);

// OK if every directory from "/" down to `dir` (inclusive, all must exist) can be searched by
// `who`. Otherwise names the first directory that blocks it. Ignores ACLs (mode bits only).
Status CheckTraversable(const std::filesystem::path& dir, const OsIdentity& who);

// Changes the owner of `path` (and, if a directory, everything below it) to `who`.
// No-op unless who.switch_user. Does not follow symlinks.
Status ChownTree(const std::filesystem::path& path, const OsIdentity& who);
// Like ChownTree for `path` alone.
Status ChownPath(const std::filesystem::path& path, const OsIdentity& who);

// How to start a child.
struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is the absolute path of the program
  int output_fd = -1;             // becomes the child's stdout and stderr; -1 = /dev/null
  const OsIdentity* run_as = nullptr;  // nullptr = same user as the parent
  // Signal the child receives when the *thread* that forked it exits (PR_SET_PDEATHSIG);
  // 0 = none. The caller must fork from a thread that lives as long as the child should.
  int parent_death_signal = 0;
};

// Starts a child in its own session, with default signal dispositions and an empty signal
// mask, and returns its pid once execv has succeeded. On failure (fork, user switch or exec)
// nothing is left running and the error names the program. The caller must reap the pid.
Result<pid_t> Spawn(const SpawnOptions& options);

// Opens `path` for appending (creating it 0600), owned by `who` when who.switch_user.
// Returns a close-on-exec fd the caller owns, to be passed as SpawnOptions::output_fd.
Result<int> OpenLogForAppend(const std::filesystem::path& path, const OsIdentity& who);

// Runs a child to completion (blocking the calling thread) and fails unless it exits with 0.
// The error includes the tail of `log_path`, where the child's output went.
Status RunToCompletion(SpawnOptions options, const std::filesystem::path& log_path,
                       const OsIdentity& who);

// Runs argv (as the current user) and returns its stdout, or an error if it fails.
Result<std::string> CaptureOutput(const std::vector<std::string>& argv);

// Returns the absolute path of `program` found on $PATH, or "" if none.
std::string FindOnPath(const std::string& program);

// Non-blocking reap of a child. Returns true if `pid` has exited (or is no longer our child,
// e.g. someone else reaped it) and then sets *how to a description such as "killed by
// signal 9"; false if it is still running.
bool Reaped(pid_t pid, std::string* how);

// Sends `first` to each child, reaps them, escalates to SIGQUIT after `grace` and to SIGKILL
// after another `grace`. Returns when all are reaped.
void TerminateChildren(const std::vector<pid_t>& pids, int first, std::chrono::milliseconds grace);

// Like TerminateChildren for a process that is not our child (we cannot reap it): signals
// it and polls until it is gone. Returns false if it is still alive after escalation.
bool TerminateForeign(pid_t pid, std::chrono::milliseconds grace);

// Returns the last `max_bytes` of a file (best effort; "" if unreadable).
std::string TailOfFile(const std::filesystem::path& path, size_t max_bytes = 2000);

}  // namespace mosaic::backend

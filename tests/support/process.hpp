// SPDX-License-Identifier: MIT
#pragma once
// Child processes for integration tests: start a binary, signal it, wait for its exit code.

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace testing {

/// Who a child runs as: another user's ids (a server that refuses to run as root).
struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
};

/// Starts `args[0]` with `args`; stdout and stderr go to `log` (appended) when given; as `as`
/// when given (the caller must be root).
inline pid_t spawn(const std::vector<std::string>& args, const std::string& log = {},
                   std::optional<RunAs> as = {}) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (!log.empty()) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
    }
    if (as && (::setgroups(0, nullptr) != 0 || ::setgid(as->gid) != 0 || ::setuid(as->uid) != 0)) _exit(126);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

/// The exit code, or -signal when killed by one; -1000 if it did not end within `timeout`
/// (it is then killed).
inline int wait_exit(pid_t pid, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < until) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1000;
}

/// Kills (SIGKILL) and reaps, as it goes out of scope, those of its children still running: a
/// test that fails half-way (a REQUIRE throws) leaves no process behind it. A child already
/// reaped, by wait_exit or here, is left alone (waitpid no longer knows it as this process's).
class ChildGuard {
 public:
  ChildGuard() = default;
  ChildGuard(const ChildGuard&) = delete;
  ChildGuard& operator=(const ChildGuard&) = delete;
  ~ChildGuard() {
    for (pid_t pid : pids_) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) != 0) continue;  // ended and now reaped, or not a child
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
  }
  pid_t add(pid_t pid) {
    pids_.push_back(pid);
    return pid;
  }

 private:
  std::vector<pid_t> pids_;
};

/// A TCP port that was free a moment ago on 127.0.0.1.
int free_port();

}  // namespace testing

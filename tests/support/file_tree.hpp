// SPDX-License-Identifier: MIT
#pragma once
// File-system helpers for the file tests: write a file, read it back, and run a piece of code
// in a child process as an unprivileged user (so that permission checks bite when the tests
// run as root, as they do in containers).

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <string>

namespace testing {

inline void write_file(const std::filesystem::path& p, const std::string& content = "x") {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << content;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Runs `fn` in a forked child and returns the text it produced, or nullopt when the child
/// could not run it (it died, or could not drop privileges). With `as_nobody` and when running
/// as root, the child first becomes uid/gid 65534, so permission bits apply to it. `setup`
/// runs in the child before (for example to set an rlimit). The child writes the result to a
/// pipe and leaves with _exit: no destructor, no test-framework state runs there.
inline std::optional<std::string> in_child(const std::function<std::string()>& fn, bool as_nobody,
                                           const std::function<void()>& setup = {}) {
  int fds[2];
  if (::pipe(fds) != 0) return std::nullopt;
  const pid_t pid = ::fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    ::close(fds[0]);
    if (as_nobody && ::geteuid() == 0) {
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    }
    if (setup) setup();
    const std::string out = fn();
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::write(fds[1], out.data() + done, out.size() - done);
      if (n <= 0) ::_exit(4);
      done += static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string result;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    result.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return result;
}

}  // namespace testing

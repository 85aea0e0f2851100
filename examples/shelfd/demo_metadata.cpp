// SPDX-License-Identifier: MIT
// The demo's metadata server as a child process. Why a process and not the fixture library
// linked in: shelfd is what a user runs, and test code has no place in it; the demo still needs
// a metadata source that answers offline, and the fixture program is that.
#include "demo_metadata.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace shelfd {

using namespace shelfjobs;

namespace {

std::string fixture_program() {
  if (const char* env = std::getenv("SHELFD_BOOKINFO_FIXTURE"); env && *env) return env;
#ifdef SHELFD_BOOKINFO_FIXTURE_PATH
  if (std::filesystem::exists(SHELFD_BOOKINFO_FIXTURE_PATH)) return SHELFD_BOOKINFO_FIXTURE_PATH;
#endif
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto beside = self.parent_path() / "bookinfo-fixture";
    if (std::filesystem::exists(beside, ec)) return beside.string();
  }
  return "bookinfo-fixture";  // $PATH
}

// Starts `argv` with its stdout on a pipe; returns the pid and the pipe's read end.
Result<std::pair<pid_t, int>> spawn(const std::vector<std::string>& args) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return Error{errc::invalid_argument, std::string("pipe: ") + std::strerror(errno)};
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return Error{errc::invalid_argument, std::string("fork: ") + std::strerror(errno)};
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    // The child must not inherit the demo's blocked signals: it sets its own.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  return std::make_pair(pid, fds[0]);
}

// Runs `args` to the end and returns its stdout. Errors: it could not run or failed.
Result<std::string> run_capture(const std::vector<std::string>& args) {
  auto started = spawn(args);
  if (!started) return started.error();
  auto [pid, fd] = *started;
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Error{errc::invalid_argument,
                 args[0] + " failed (exit status " + std::to_string(WEXITSTATUS(status)) +
                     "; is bookinfo-fixture built and found? set SHELFD_BOOKINFO_FIXTURE)"};
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<DemoMetadata>> DemoMetadata::start(const std::filesystem::path& dir,
                                                          const std::vector<DemoAuthor>& authors) {
  const std::string program = fixture_program();
  std::filesystem::create_directories(dir / "author");
  for (const auto& a : authors) {
    auto body =
        run_capture({program, "--make-author", std::to_string(a.id), a.name, std::to_string(a.books)});
    if (!body) return body.error();
    std::ofstream(dir / "author" / (std::to_string(a.id) + ".json")) << *body;
  }
  auto started = spawn({program, dir.string(), "--port", "0"});
  if (!started) return started.error();
  std::unique_ptr<DemoMetadata> m(new DemoMetadata());
  m->dir_ = dir;
  m->pid_ = started->first;
  m->out_ = started->second;
  auto url = m->read_line(std::chrono::seconds(10));
  if (!url || url->rfind("http://", 0) != 0) {
    return Error{errc::invalid_argument, program + " did not start (no address on its first line)"};
  }
  m->url_ = *url;
  return m;
}

DemoMetadata::~DemoMetadata() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (out_ >= 0) close(out_);
}

std::optional<std::string> DemoMetadata::read_line(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto nl = buffered_.find('\n'); nl != std::string::npos) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return line;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{out_, POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    char buf[1024];
    const ssize_t n = read(out_, buf, sizeof buf);
    if (n <= 0) return std::nullopt;  // the server ended
    buffered_.append(buf, static_cast<std::size_t>(n));
  }
}

Status DemoMetadata::rename(std::int64_t id, const std::string& new_name) {
  const auto file = dir_ / "author" / (std::to_string(id) + ".json");
  nlohmann::json body;
  try {
    std::ifstream in(file);
    body = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    return Error{errc::invalid_argument, file.string() + ": " + e.what()};
  }
  body["Name"] = new_name;
  std::ofstream(file) << body.dump(2);
  kill(pid_, SIGHUP);
  auto line = read_line(std::chrono::seconds(10));
  if (!line || *line != "reloaded")
    return Error{errc::invalid_argument, "the metadata server did not reload"};
  return Ok{};
}

}  // namespace shelfd

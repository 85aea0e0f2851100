// SPDX-License-Identifier: MIT
#pragma once
// A daemon started by a test (qbittorrent-nox, transmission-daemon, nzbget): spawned with its
// output in a log file, waited for until its port accepts connections, and stopped (SIGTERM,
// then SIGKILL) when the test ends.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "loopback.hpp"
#include "process.hpp"

namespace testing {

/// Whether something accepts TCP connections on 127.0.0.1:port.
inline bool port_open(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

class Daemon {
 public:
  /// Starts `args` and waits up to `startup` for `port` to open. `ready()` is false when it did
  /// not (the log says why).
  Daemon(const std::vector<std::string>& args, int port, std::string log,
         std::chrono::milliseconds startup = std::chrono::seconds(20))
      : log_(std::move(log)) {
    pid_ = spawn(args, log_);
    const auto until = std::chrono::steady_clock::now() + startup;
    while (std::chrono::steady_clock::now() < until) {
      if (port_open(port)) {
        ready_ = true;
        break;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~Daemon() { stop(); }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  bool ready() const { return ready_; }
  /// The daemon's output so far, for a failing test's message.
  std::string log() const {
    std::ifstream in(log_);
    return {std::istreambuf_iterator<char>(in), {}};
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    wait_exit(pid_, std::chrono::seconds(10));  // kills it when it does not end by then
    pid_ = -1;
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  bool ready_ = false;
};

}  // namespace testing

// SPDX-License-Identifier: MIT
#pragma once
// A news server on loopback that has no articles: it greets, accepts any login and group, and
// answers every article request with 430. A usenet client pointed at it fails its downloads at
// once, with no network.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace testing {

class EmptyNewsServer {
 public:
  EmptyNewsServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::listen(fd_, 16) == 0 && ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~EmptyNewsServer() {
    stop_ = true;
    thread_.join();
    for (auto& t : sessions_) t.join();
    if (fd_ >= 0) ::close(fd_);
  }
  EmptyNewsServer(const EmptyNewsServer&) = delete;
  EmptyNewsServer& operator=(const EmptyNewsServer&) = delete;

  int port() const { return port_; }
  int requests() const { return requests_.load(); }  ///< article requests answered 430

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) sessions_.emplace_back([this, c] { session(c); });
    }
  }
  void session(int c) {
    send(c, "200 shelfjobs test news server, no articles\r\n");
    std::string buf;
    char chunk[1024];
    while (!stop_) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(c, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      buf.append(chunk, static_cast<std::size_t>(n));
      for (auto eol = buf.find("\r\n"); eol != std::string::npos; eol = buf.find("\r\n")) {
        std::string line = buf.substr(0, eol);
        buf.erase(0, eol + 2);
        std::string verb = line.substr(0, line.find(' '));
        for (auto& ch : verb) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        if (verb == "QUIT") {
          send(c, "205 bye\r\n");
          ::close(c);
          return;
        }
        if (verb == "AUTHINFO") {
          send(c, line.find("PASS") != std::string::npos || line.find("pass") != std::string::npos
                      ? "281 ok\r\n"
                      : "381 more\r\n");
        } else if (verb == "GROUP") {
          send(c, "211 0 0 0 " + line.substr(line.find(' ') + 1) + "\r\n");
        } else if (verb == "ARTICLE" || verb == "BODY" || verb == "HEAD" || verb == "STAT") {
          ++requests_;
          send(c, "430 no such article\r\n");
        } else if (verb == "MODE") {
          send(c, "200 ok\r\n");
        } else {
          send(c, "500 unknown command\r\n");
        }
      }
    }
    ::close(c);
  }
  static void send(int c, const std::string& s) { (void)::send(c, s.data(), s.size(), MSG_NOSIGNAL); }

  int fd_ = -1;
  int port_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
  std::vector<std::thread> sessions_;  // touched by the accept thread only, joined after it
};

}  // namespace testing

// SPDX-License-Identifier: MIT
#pragma once
// shelfd's HTTP API (Readarr's v1 routes for commands, tasks, status, health and the catalog,
// plus the engine's figures, Prometheus metrics and a server-sent event stream) and the
// dashboard's static files. Served with cpp-httplib on its own thread pool.
//
// The pieces: resources.hpp (Readarr's JSON shapes), event_stream.hpp (the stream and the engine
// subscription behind it), metrics.hpp (Prometheus text), api.cpp (the server, the command and
// system routes), catalog_api.cpp (root folders, authors, books).

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "event_stream.hpp"
#include "shelfjobs/shelfjobs.hpp"

namespace httplib {
class Server;
}

namespace shelfd {

class App;

class ApiServer {
 public:
  explicit ApiServer(App& app);
  ~ApiServer();
  /// Binds; port 0 picks a free one. Errors: the address or port cannot be bound.
  shelfjobs::Status bind(const std::string& address, int port);
  /// Subscribes to the engine's events and serves on a thread of its own.
  void start();
  void stop();
  int port() const { return port_; }

 private:
  void routes();
  void command_routes();
  void system_routes();
  void catalog_routes();
  App& app_;
  std::unique_ptr<httplib::Server> server_;
  SseHub hub_;
  EventForwarder forwarder_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  int port_ = 0;
};

}  // namespace shelfd

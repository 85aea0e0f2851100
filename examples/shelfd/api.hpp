// SPDX-License-Identifier: MIT
#pragma once
// shelfd's HTTP API (Readarr's v1 routes for commands, tasks, status, health and the catalog,
// plus the engine's figures, Prometheus metrics and a server-sent event stream) and the
// dashboard's static files. Served with cpp-httplib on its own thread pool.
//
// The pieces: api.cpp (the server, the key check, static files), resources.hpp (Readarr's JSON
// shapes), command_api.cpp (commands and tasks), catalog_api.cpp (root folders, authors, books),
// exclusion_api.cpp (book removal, import list exclusions),
// library_api.cpp (book files, Wanted/Missing), provider_api.cpp (indexers and download clients),
// acquisition_api.cpp (queue, history, blocklist, releases), log_api.cpp (the log table, log files,
// the housekeeping report), backup_api.cpp (backups, restore), system_api.cpp (status, health, the engine's
// figures), metrics.cpp (Prometheus, with its route), event_stream.cpp (the stream, the engine subscription
// behind it, and its route), http_util.hpp (replies, errors and their statuses, bodies, ids: one helper
// each).

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
  /// Around a restore (App::restore): the event stream lets go of the engine that is about to
  /// close, and subscribes to the new one.
  void detach_engine();
  void attach_engine();
  /// Lets go of the calling request's share of App::services_mutex (a restore route, before it
  /// takes the mutex whole).
  static void release_request_lock();
  int port() const { return port_; }

 private:
  void routes();
  void command_routes();      // command_api.cpp
  void task_routes();         // command_api.cpp
  void catalog_routes();      // catalog_api.cpp
  void exclusion_routes();    // exclusion_api.cpp
  void library_routes();      // library_api.cpp
  void provider_routes();     // provider_api.cpp
  void acquisition_routes();  // acquisition_api.cpp
  void system_routes();       // system_api.cpp
  void log_routes();          // log_api.cpp
  void metrics_routes();      // metrics.cpp
  void event_routes();        // event_stream.cpp
  void backup_routes();       // backup_api.cpp
  App& app_;
  std::unique_ptr<httplib::Server> server_;
  SseHub hub_;
  std::unique_ptr<EventForwarder> forwarder_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  int port_ = 0;
};

}  // namespace shelfd

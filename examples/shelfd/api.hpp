// SPDX-License-Identifier: MIT
#pragma once
// shelfd's HTTP API (Readarr's v1 routes for commands, tasks, status and health, plus the
// health snapshot, Prometheus metrics and a server-sent event stream) and the dashboard's
// static files. Served with cpp-httplib on its own thread pool.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "shelfjobs/shelfjobs.hpp"

namespace httplib {
class Server;
}

namespace shelfd {

class App;

/// Readarr's command resource for a job.
nlohmann::json command_resource(const shelfjobs::JobInfo& job);
/// Readarr's task resource (`id` is its position in `tasks()` + 1).
nlohmann::json task_resource(const shelfjobs::TaskInfo& task, int id);
/// "RssSync" -> "Rss Sync".
std::string spaced(const std::string& name);
/// Readarr's duration format, "hh:mm:ss.fffffff".
std::string readarr_duration(std::chrono::milliseconds d);

/// Fans engine events out to server-sent-event clients. Each client has a bounded queue; a
/// client that falls behind loses its oldest events and refetches when it reconnects.
class EventHub {
 public:
  void publish(const std::string& event, const std::string& data);
  /// Blocks up to `wait` for events after `*cursor`; appends them, in SSE format, to `out`.
  /// Returns false once the hub is closed.
  bool next(std::uint64_t* cursor, std::string* out, std::chrono::milliseconds wait);
  std::uint64_t cursor() const;
  void close();

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::uint64_t, std::string>> recent_;  // last 1000 events
  std::uint64_t next_seq_ = 1;
  bool closed_ = false;
};

class ApiServer {
 public:
  explicit ApiServer(App& app);
  ~ApiServer();
  /// Binds; port 0 picks a free one. Errors: the address or port cannot be bound.
  shelfjobs::Status bind(const std::string& address, int port);
  void start();  ///< serves on a thread of its own
  void stop();
  int port() const { return port_; }

 private:
  void routes();
  void catalog_routes();
  App& app_;
  std::unique_ptr<httplib::Server> server_;
  EventHub hub_;
  std::uint64_t observer_ = 0;
  std::thread thread_;
  std::thread watcher_;  // turns task and alert changes into events
  std::atomic<bool> stopping_{false};
  int port_ = 0;
};

}  // namespace shelfd

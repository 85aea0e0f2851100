// SPDX-License-Identifier: MIT
#pragma once
// The thread pool of every HTTP server in this tree (shelfd's API, the BookInfo and indexer
// fixtures, the tests' servers): cpp-httplib's TaskQueue, with each idle thread asleep on a
// condition variable of its own. `Server` is a cpp-httplib server that uses it.
//
// Why not httplib::ThreadPool: its idle threads wait on one condition variable and each
// connection wakes one of them with notify_one. Debian 12's C library (glibc 2.36) can lose such
// a signal when several threads wait on one condition variable (glibc bug 25847, fixed upstream
// in 2.41), and the connection then waits for the next one to arrive. The engine's pool was
// seen stuck that way (src/engine/pool_nudge.hpp). Here a signal always goes to a condition
// variable with one waiter, the case the bug does not reach, and it is sent only to a thread
// that is idle, so a connection never waits while a thread is free.
//
// Thread-safety: enqueue() from any thread; shutdown() from one thread (the server's).
// Tasks queued before shutdown() still run; enqueue() after it drops the task.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <httplib.h>

namespace http_pool {

class HttpTaskQueue final : public httplib::TaskQueue {
 public:
  explicit HttpTaskQueue(std::size_t threads);
  ~HttpTaskQueue() override;
  HttpTaskQueue(const HttpTaskQueue&) = delete;
  HttpTaskQueue& operator=(const HttpTaskQueue&) = delete;

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

 private:
  struct Worker {
    std::condition_variable cv;
    bool woken = false;  // under mu_: enqueue() or shutdown() took it off idle_
  };
  void run(Worker& self);

  std::mutex mu_;
  std::deque<std::function<void()>> tasks_;
  std::vector<Worker*> idle_;  // asleep, each on its own cv; the last one in is woken first
  bool shutdown_ = false;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
};

/// A cpp-httplib server whose connections run on an HttpTaskQueue of `threads` threads (by
/// default as many as httplib::ThreadPool would have).
class Server : public httplib::Server {
 public:
  explicit Server(std::size_t threads = CPPHTTPLIB_THREAD_POOL_COUNT) {
    new_task_queue = [threads] { return new HttpTaskQueue(threads); };
  }
};

}  // namespace http_pool

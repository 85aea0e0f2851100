// SPDX-License-Identifier: MIT
#include "http_task_queue.hpp"

#include <utility>

namespace http_pool {

HttpTaskQueue::HttpTaskQueue(std::size_t threads) {
  for (std::size_t i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>());
  for (auto& w : workers_) threads_.emplace_back([this, self = w.get()] { run(*self); });
}

HttpTaskQueue::~HttpTaskQueue() { shutdown(); }

void HttpTaskQueue::enqueue(std::function<void()> fn) {
  Worker* wake = nullptr;
  {
    std::lock_guard lock(mu_);
    if (shutdown_) return;
    tasks_.push_back(std::move(fn));
    // A thread that is busy finds the task when it is done; an idle one is woken now. The last
    // to go idle goes first: its stack and caches are the warmest.
    if (!idle_.empty()) {
      wake = idle_.back();
      idle_.pop_back();
      wake->woken = true;
    }
  }
  if (wake) wake->cv.notify_one();
}

void HttpTaskQueue::shutdown() {
  std::vector<Worker*> sleeping;
  {
    std::lock_guard lock(mu_);
    if (shutdown_) return;
    shutdown_ = true;
    sleeping.swap(idle_);
    for (Worker* w : sleeping) w->woken = true;
  }
  for (Worker* w : sleeping) w->cv.notify_one();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void HttpTaskQueue::run(Worker& self) {
  std::unique_lock lock(mu_);
  for (;;) {
    if (!tasks_.empty()) {
      auto fn = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      fn();
      fn = nullptr;  // what it holds (a socket) goes before the lock is taken again
      lock.lock();
      continue;
    }
    if (shutdown_) return;
    self.woken = false;
    idle_.push_back(&self);
    self.cv.wait(lock, [&] { return self.woken; });
  }
}

}  // namespace http_pool

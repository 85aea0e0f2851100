// SPDX-License-Identifier: MIT
#include "services/scan/read_pool.hpp"

#include <algorithm>

namespace shelfjobs::scan {

ReadPool::ReadPool(int threads, double files_per_second)
    : capacity_(static_cast<std::size_t>(std::max(1, threads)) * 8) {
  if (files_per_second > 0)
    spacing_ = std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / files_per_second));
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { run(); });
}

ReadPool::~ReadPool() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
    queue_.clear();
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ReadPool::submit(ReadTask task) {
  if (spacing_.count() > 0) {
    // Spaced on the scan's thread: the walk slows down with the reads, so the queue never
    // fills with files waiting for their slot.
    const auto now = std::chrono::steady_clock::now();
    if (next_slot_ > now) std::this_thread::sleep_until(next_slot_);
    next_slot_ = std::max(now, next_slot_) + spacing_;
  }
  std::unique_lock lock(mu_);
  space_cv_.wait(lock, [&] { return queue_.size() < capacity_; });
  queue_.push_back(std::move(task));
  lock.unlock();
  work_cv_.notify_one();
}

void ReadPool::drain(const std::function<void(ReadResult&)>& fn) {
  std::vector<ReadResult> ready;
  {
    std::lock_guard lock(mu_);
    ready.swap(results_);
  }
  for (auto& r : ready) fn(r);
}

void ReadPool::finish(const std::function<void(ReadResult&)>& fn, bool abandon) {
  {
    std::unique_lock lock(mu_);
    if (abandon) queue_.clear();
    space_cv_.notify_all();
    // The readers wait on one condition variable, and Debian 12's glibc can lose a notify_one
    // there (bug 25847; see docs/operations.md): the last file's read would then wait forever,
    // as no submit follows to signal again. So the readers are told again, all of them, while
    // files are left.
    const auto done = [&] { return queue_.empty() && in_flight_ == 0; };
    while (!done()) {
      work_cv_.notify_all();
      done_cv_.wait_for(lock, std::chrono::milliseconds(100), done);
    }
  }
  drain(fn);
}

void ReadPool::run() {
  for (;;) {
    ReadTask task;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing
      task = std::move(queue_.front());
      queue_.pop_front();
      ++in_flight_;
    }
    space_cv_.notify_one();
    ReadResult r;
    r.metadata = read_book_metadata(task.path);
    if (!task.sidecar.empty()) r.sidecar = read_opf(task.sidecar);
    r.task = std::move(task);
    {
      std::lock_guard lock(mu_);
      results_.push_back(std::move(r));
      --in_flight_;
    }
    done_cv_.notify_all();
  }
}

}  // namespace shelfjobs::scan

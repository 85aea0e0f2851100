// SPDX-License-Identifier: MIT
#pragma once
// The group-commit machinery every job store shares: a queue of writes, one writer thread that
// takes everything queued at once and hands it to the store's commit function, and the sequence
// numbers that let reads and flushes wait for the writes made before them without ending a batch.
//
// What the store keeps for itself: how a batch is committed (its transaction, its retries, its
// fault injection) and when a write counts as settled: the commit function calls settle() with
// the last sequence number of what it committed or dropped, after the writes' Done callbacks, so
// that once flush() returns, every Done before it has run.
//
// Thread-safety: every member may be called from any thread; `commit` runs on the writer thread
// only. Lifecycle: start() once, close() any number of times; reset() (after close()) allows a
// new start().
#include <cstdint>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "engine/sync.hpp"

namespace shelfjobs::detail {

/// `Op` is a store's write: any movable type with a `std::uint64_t seq` member.
template <class Op>
class WriteQueue {
 public:
  using Commit = std::function<void(std::vector<Op>& batch)>;

  WriteQueue() = default;
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;
  ~WriteQueue() { close(); }

  /// Starts the writer thread, which calls `commit` with each batch. False (and nothing started)
  /// when already started or closed.
  bool start(Commit commit) EXCLUDES(mu_) {
    MutexLock join(join_mu_);
    {
      MutexLock lock(mu_);
      if (started_ || closing_) return false;
      started_ = true;
    }
    writer_ = std::thread([this, commit = std::move(commit)] { run(commit); });
    return true;
  }

  /// Queues `op` with the next sequence number and returns true; the first write of a batch wakes
  /// the writer (it takes everything queued at once, and a wake-up per write would cost more than
  /// the write). False, with `op` untouched, before start() or after close(): the caller answers
  /// for it (its Done gets false).
  bool push(Op& op) EXCLUDES(mu_) {
    bool wake = false;
    {
      MutexLock lock(mu_);
      if (!started_ || closing_) return false;
      wake = queue_.empty();
      op.seq = ++enqueued_seq_;
      queue_.push_back(std::move(op));
    }
    if (wake) work_cv_.notify_one();
    return true;
  }

  /// True once start() ran and close() did not: a write would be queued.
  bool running() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return started_ && !closing_;
  }

  /// True once close() began: the commit function gives up retrying when it is.
  bool closing() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return closing_;
  }

  /// Every write up to `seq` is committed or dropped. Called by the commit function.
  void settle(std::uint64_t seq) EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      if (seq > settled_seq_) settled_seq_ = seq;
    }
    settled_cv_.notify_all();
  }

  /// Waits until every write queued before this call is committed or dropped. Queues nothing, so
  /// it never ends the writer's batch early.
  void wait_settled() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    const std::uint64_t target = enqueued_seq_;
    while (settled_seq_ < target && !writer_done_ && started_) lock.wait(settled_cv_);
  }

  /// Lets the writer commit what is queued, then joins it (unless called from the writer itself).
  void close() EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      closing_ = true;
    }
    work_cv_.notify_one();
    MutexLock join(join_mu_);
    if (writer_.joinable() && writer_.get_id() != std::this_thread::get_id()) writer_.join();
    finished();
  }

  /// After close(): the queue may be started again.
  void reset() EXCLUDES(mu_) {
    MutexLock join(join_mu_);
    MutexLock lock(mu_);
    started_ = false;
    closing_ = false;
    writer_done_ = false;
  }

 private:
  void run(const Commit& commit) EXCLUDES(mu_) {
    std::vector<Op> batch;
    for (;;) {
      {
        MutexLock lock(mu_);
        while (queue_.empty() && !closing_) lock.wait(work_cv_);
        if (queue_.empty()) break;  // closing, and nothing left
        batch.swap(queue_);
      }
      commit(batch);
      batch.clear();
    }
    finished();
  }

  void finished() EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      writer_done_ = true;
    }
    settled_cv_.notify_all();
  }

  Mutex mu_;
  std::condition_variable work_cv_;     // the writer waits for work
  std::condition_variable settled_cv_;  // reads and flushes wait for their writes
  std::vector<Op> queue_ GUARDED_BY(mu_);
  std::uint64_t enqueued_seq_ GUARDED_BY(mu_) = 0;
  std::uint64_t settled_seq_ GUARDED_BY(mu_) = 0;  // every write up to here is settled
  bool started_ GUARDED_BY(mu_) = false;
  bool closing_ GUARDED_BY(mu_) = false;
  bool writer_done_ GUARDED_BY(mu_) = false;
  Mutex join_mu_;  // start, close and reset: one at a time
  std::thread writer_;
};

}  // namespace shelfjobs::detail

// SPDX-License-Identifier: MIT
#pragma once
// The group-commit machinery every job store shares: a queue of writes, one writer thread that
// takes everything queued at once and hands it to the store's commit function, and the sequence
// numbers that let reads and flushes wait for the writes made before them without ending a batch.
//
// What the store keeps for itself: how a batch is committed (its transaction, its retries, its
// fault injection) and when a write counts as settled: the commit function calls complete() with
// what it committed or dropped, which settles it after its Done callbacks, so that once flush()
// returns, every Done before it has run.
//
// complete() wakes a batch's callers itself when they are few (up to kInlineCallbacks), and from
// a second thread when there are more. A wake-up costs the waking thread one system call (a
// durable push sleeps on a one-word event, see engine/one_shot.hpp), less than handing the batch
// to another thread that must itself be woken and scheduled: on a 2-core guest, eight threads
// pushing durable jobs went from about 27,000 to 34,000 pushes a second when the writer woke up
// to eight callers itself. A burst of many callers still goes to the completion thread, so the
// writer commits the next batch meanwhile.
//
// The writer and the completion thread look for more work for a short while (kSpin) before they
// sleep: under a steady stream of writes the next batch is usually a few microseconds away, and
// a thread that never slept needs no wake-up on the path every durable write waits on. RocksDB's
// write group does the same (its adaptive yield); the cost is bounded: kSpin of yielding per
// batch when no write follows.
//
// A batch that nobody waits for (job starts, finishes and progress: no Done callback, no flush
// or read behind it) lingers for up to `linger` before it commits, so that the writes that follow
// it share its commit: each commit has a fixed cost (a transaction, its log frames, their
// checksums), and under a stream of durable pushes the starts and finishes of earlier jobs
// otherwise took a commit of their own between two batches of pushes, which then waited for it.
// The first write that someone waits for, a flush, a read or close() ends the linger at once.
//
// Thread-safety: every member may be called from any thread; `commit` runs on the writer thread
// only, Done callbacks on the writer or the completion thread. Lifecycle: start() once, close()
// any number of times; reset() (after close()) allows a new start().
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <iterator>
#include <thread>
#include <utility>
#include <vector>

#include "engine/sync.hpp"
#include "engine/thread_name.hpp"

namespace shelfjobs::detail {

/// `Op` is a store's write: any movable type with a `std::uint64_t seq` member and a `done`
/// member that tests for emptiness and is called with a bool (JobStore::Done).
template <class Op>
class WriteQueue {
 public:
  using Commit = std::function<void(std::vector<Op>& batch)>;

  /// How long a batch nobody waits for may wait for company before it commits: off unless the
  /// store asks for it (the SQLite store's `commit_linger`). A reader through another connection
  /// does not end a linger, so one that must see every write told so far flushes first (a
  /// backup's snapshot: JobContext::flush_store).
  static constexpr std::chrono::microseconds kDefaultLinger{0};
  /// A lingering batch this long goes anyway: its commit is long enough to share.
  static constexpr std::size_t kLingerOps = 1024;
  /// complete() runs up to this many Done callbacks on the writer; more go to the completion
  /// thread.
  static constexpr std::size_t kInlineCallbacks = 8;

  explicit WriteQueue(std::chrono::microseconds linger = kDefaultLinger) : linger_(linger) {}
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
      completer_running_ = true;
    }
    completer_ = std::thread([this] { run_completions(); });
    writer_ = std::thread([this, commit = std::move(commit)] { run(commit); });
    named(completer_, "shelf-complete");
    named(writer_, "shelf-writer");
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
      // The first write someone waits for also ends a linger (see run), as does a long queue.
      const bool first_waited = op.done && !std::exchange(waited_, true);
      const bool full = queue_.size() + 1 == kLingerOps;
      wake = queue_.empty() || first_waited || full;
      op.seq = ++enqueued_seq_;
      queue_.push_back(std::move(op));
      has_work_.store(true, std::memory_order_release);
      if (first_waited || full) hurried_.store(true, std::memory_order_release);
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

  /// The writes [first, last) (Ops) were committed (`ok`) or dropped: runs their Done callbacks
  /// with `ok`, in order, then settles them. With more than kInlineCallbacks (each usually wakes
  /// a sleeping caller), or while the completion thread still holds earlier ones, they run there,
  /// after any it already holds, and the writer goes on at once. Called by the commit function;
  /// the ops' `done` are moved out.
  template <class It>
  void complete(It first, It last, bool ok) EXCLUDES(mu_) {
    if (first == last) return;
    const std::uint64_t seq = std::prev(last)->seq;
    std::size_t callbacks = 0;
    for (It it = first; it != last; ++it)
      if (it->done) ++callbacks;
    {
      MutexLock lock(mu_);
      if (completer_running_ && (callbacks > kInlineCallbacks || !completions_.empty())) {
        Completion c{{}, ok, seq};
        c.dones.reserve(callbacks);
        for (It it = first; it != last; ++it)
          if (it->done) c.dones.push_back(std::move(it->done));
        const bool wake = completions_.empty();
        completions_.push_back(std::move(c));
        has_completions_.store(true, std::memory_order_release);
        if (wake) complete_cv_.notify_one();
        return;
      }
    }
    // Here nothing waits on the completion thread (only this thread, the writer, queues there),
    // so settling right after these callbacks keeps the commit order.
    for (It it = first; it != last; ++it)
      if (it->done) it->done(ok);
    {
      MutexLock lock(mu_);
      if (seq > settled_seq_) settled_seq_ = seq;
    }
    settled_cv_.notify_all();
  }

  /// Waits until every write queued before this call is committed or dropped. Queues nothing, so
  /// it never splits the writer's batch; it ends a linger, as the caller now waits for the batch.
  void wait_settled() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    const std::uint64_t target = enqueued_seq_;
    hurry();
    while (settled_seq_ < target && !writer_done_ && started_) lock.wait(settled_cv_);
  }

  /// wait_settled() for at most `timeout`: false when the writes queued before the call are
  /// still not committed or dropped by then (a store whose commits keep failing).
  bool wait_settled_for(std::chrono::milliseconds timeout) EXCLUDES(mu_) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    MutexLock lock(mu_);
    const std::uint64_t target = enqueued_seq_;
    hurry();
    while (settled_seq_ < target && !writer_done_ && started_) {
      if (!lock.wait_until(settled_cv_, deadline)) return settled_seq_ >= target || writer_done_ || !started_;
    }
    return true;
  }

  /// Lets the writer commit what is queued, then joins it (unless called from the writer itself).
  void close() EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      closing_ = true;
      has_work_.store(true, std::memory_order_release);
      hurried_.store(true, std::memory_order_release);
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
    waited_ = false;
    hurried_.store(false, std::memory_order_relaxed);
    writer_done_ = false;
    completer_stop_ = false;
    has_work_.store(false, std::memory_order_relaxed);
    has_completions_.store(false, std::memory_order_relaxed);
  }

 private:
  void run(const Commit& commit) EXCLUDES(mu_) {
    std::vector<Op> batch;
    for (;;) {
      spin_for(has_work_);
      bool linger = false;
      {
        MutexLock lock(mu_);
        while (queue_.empty() && !closing_) lock.wait(work_cv_);
        if (queue_.empty()) break;  // closing, and nothing left
        linger = !waited_ && !closing_ && linger_.count() > 0;
        if (!linger) take(batch);
      }
      if (linger) {
        // Looked for before sleeping, as work is: a push that ends the linger then needs no
        // wake-up of this thread.
        const auto until = std::chrono::steady_clock::now() + linger_;
        spin_for(hurried_);
        MutexLock lock(mu_);
        while (!waited_ && !closing_ && queue_.size() < kLingerOps)
          if (!lock.wait_until(work_cv_, until)) break;
        take(batch);
      }
      commit(batch);
      batch.clear();
    }
    {
      MutexLock lock(mu_);
      completer_stop_ = true;  // after the callbacks it holds
      has_completions_.store(true, std::memory_order_release);
    }
    complete_cv_.notify_one();
    if (completer_.joinable()) completer_.join();
    finished();
  }

  // The completion thread: runs the callbacks complete() handed over, in commit order.
  void run_completions() EXCLUDES(mu_) {
    for (;;) {
      Completion c;
      spin_for(has_completions_);
      {
        MutexLock lock(mu_);
        while (completions_.empty() && !completer_stop_) lock.wait(complete_cv_);
        if (completions_.empty()) {
          completer_running_ = false;
          break;
        }
        c = std::move(completions_.front());
      }
      for (auto& done : c.dones) done(c.ok);
      {
        // Popped only now, so that a batch complete() meets meanwhile queues behind these
        // callbacks instead of running its own first.
        MutexLock lock(mu_);
        completions_.pop_front();
        has_completions_.store(!completions_.empty() || completer_stop_, std::memory_order_relaxed);
        if (c.seq > settled_seq_) settled_seq_ = c.seq;
      }
      settled_cv_.notify_all();
    }
  }

  // Someone waits for everything queued so far: a lingering batch goes now.
  void hurry() REQUIRES(mu_) {
    if (queue_.empty() || std::exchange(waited_, true)) return;
    hurried_.store(true, std::memory_order_release);
    work_cv_.notify_one();
  }

  // The writer takes everything queued; what is queued from here on goes in the next batch.
  void take(std::vector<Op>& batch) REQUIRES(mu_) {
    waited_ = false;
    hurried_.store(false, std::memory_order_relaxed);
    batch.swap(queue_);
    has_work_.store(closing_, std::memory_order_relaxed);
  }

  // Yields until `flag` is set or kSpin has passed; the caller then takes the lock and sleeps if
  // there is still nothing to do. A hint only: the state it stands for is read under mu_.
  static void spin_for(const std::atomic<bool>& flag) {
    yield_until([&flag] { return flag.load(std::memory_order_acquire); }, kSpin);
  }

  void finished() EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      writer_done_ = true;
    }
    settled_cv_.notify_all();
  }

  using Done = decltype(Op::done);
  struct Completion {
    std::vector<Done> dones;
    bool ok = false;
    std::uint64_t seq = 0;  // settled once `dones` ran
  };

  static constexpr std::chrono::microseconds kSpin{50};

  const std::chrono::microseconds linger_;

  Mutex mu_;
  std::atomic<bool> has_work_{false};         // hint: queue_ holds writes, or closing_
  std::atomic<bool> hurried_{false};          // hint: a linger should end (waited_, closing_, full)
  std::atomic<bool> has_completions_{false};  // hint: completions_ holds work, or completer_stop_
  std::condition_variable work_cv_;           // the writer waits for work
  std::condition_variable complete_cv_;       // the completion thread waits for callbacks
  std::condition_variable settled_cv_;        // reads and flushes wait for their writes
  std::vector<Op> queue_ GUARDED_BY(mu_);
  std::uint64_t enqueued_seq_ GUARDED_BY(mu_) = 0;
  std::uint64_t settled_seq_ GUARDED_BY(mu_) = 0;  // every write up to here is settled
  bool started_ GUARDED_BY(mu_) = false;
  bool closing_ GUARDED_BY(mu_) = false;
  bool writer_done_ GUARDED_BY(mu_) = false;
  // Someone waits for a queued write (its Done, a flush or a read): the batch must not linger.
  bool waited_ GUARDED_BY(mu_) = false;
  std::deque<Completion> completions_ GUARDED_BY(mu_);  // the front one runs
  bool completer_running_ GUARDED_BY(mu_) = false;
  bool completer_stop_ GUARDED_BY(mu_) = false;
  Mutex join_mu_;          // start, close and reset: one at a time
  std::thread completer_;  // joined by the writer thread when it ends
  std::thread writer_;
};

}  // namespace shelfjobs::detail

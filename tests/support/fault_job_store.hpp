// SPDX-License-Identifier: MIT
#pragma once
// A JobStore that fails or slows commits on a test's say-so.
//
// It is the memory store with a fault plan consulted before every commit attempt, not a
// decorator around another store: a fault has to hit a *commit* (one batch of writes), and only
// the store that forms the batches sees them. A decorator sees calls, so to fail "the 3rd
// commit" it would have to queue and batch the calls itself (a second writer in front of the
// first) and still could not make the inner store's retry apply the same writes. With the plan
// inside the batching store a failed attempt applies nothing, is counted in write_errors, and
// the same batch is retried after a backoff, as the SQLite store does: nothing acknowledged is
// lost, and a Done(true) means the write is in.
//
// Faults count commit attempts (batches, and each prune, maintain and write_recovered), not writes.
// Every member is thread-safe: a test flips faults from its own thread while an engine runs.
//
//   FaultJobStore store;
//   store.fail_nth_commit(1);       // the next commit attempt fails once, its retry succeeds
//   store.fail_until_healed();      // every attempt fails ...
//   store.wait_for_failures(3);     // ... (wait until three did) ...
//   store.heal();                   // ... until now; the queued writes then commit
//   store.slow_commits(20ms);       // each attempt first sleeps 20 ms

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "memory_job_store.hpp"

namespace testing {

class FaultJobStore : public MemoryJobStore {
 public:
  /// `options.before_commit` is replaced by the fault plan.
  explicit FaultJobStore(MemoryStoreOptions options = {});

  /// The `n`th commit attempt from now (1: the next one) fails, once.
  void fail_nth_commit(std::uint64_t n);
  /// The next `count` commit attempts fail.
  void fail_next_commits(std::uint64_t count);
  /// Every commit attempt fails until `heal()`.
  void fail_until_healed();
  /// Every commit attempt fails for `duration` from now (then heals by itself).
  void fail_for(std::chrono::milliseconds duration);
  /// Ends every planned failure; the batch being retried commits on its next attempt.
  void heal();
  /// Each commit attempt first sleeps this long (0: not at all).
  void slow_commits(std::chrono::milliseconds delay);

  /// Commit attempts so far, and how many of them the plan failed.
  std::uint64_t commit_attempts() const;
  std::uint64_t injected_failures() const;
  /// Blocks until the plan has failed `n` attempts in all, or `timeout` passed; true if it has.
  bool wait_for_failures(std::uint64_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

 private:
  // Shared with the writer thread's hook, so it outlives any order of destruction.
  struct Plan {
    mutable std::mutex mu;
    mutable std::condition_variable cv;
    std::uint64_t attempts = 0;
    std::uint64_t failures = 0;
    std::set<std::uint64_t> fail_at;  // attempt numbers that fail
    bool fail_all = false;
    std::optional<std::chrono::steady_clock::time_point> fail_until;
    std::chrono::milliseconds delay{0};

    std::optional<std::string> before_commit(std::size_t writes);
  };

  FaultJobStore(MemoryStoreOptions options, std::shared_ptr<Plan> plan);
  static MemoryStoreOptions with_plan(MemoryStoreOptions options, const std::shared_ptr<Plan>& plan);

  std::shared_ptr<Plan> plan_;
};

}  // namespace testing

// SPDX-License-Identifier: MIT
#pragma once
// The writes a job store queues, one struct per JobStore call, and their queue entry: the same
// for every store, so each store says only how a batch of them is committed (the SQLite store
// statement by statement, the PostgreSQL store as sets).

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "shelfjobs/engine/job_store.hpp"

namespace shelfjobs::detail::store_ops {

struct Insert {
  JobInfo job;  // its body left null: written as body_text
  std::string body_text;
  SharedKeys keys;  // a shared queue's insert (SharedQueue::insert); empty otherwise
};
struct UpdateQueued {
  JobId id = 0;
  Priority priority = Priority::normal;
  Trigger trigger = Trigger::manual;
  std::string event;
};
struct StartJob {
  JobId id = 0;
  TimePoint started_at{};
  int attempt = 1;
};
struct ProgressOp {
  JobId id = 0;
  Progress progress;
};
struct Finish {
  JobInfo job;  // its body left null: a finish never rewrites it
};
struct SaveTask {
  TaskRow row;
};
struct DropMinutes {
  TimePoint before{};
};
// Runs in a transaction of its own between two batches (it may delete many rows; it is rare).
struct Prune {
  std::optional<TimePoint> cutoff;
  std::int64_t max_rows = 0;
  std::shared_ptr<std::promise<Result<std::int64_t>>> result;
};
// Like a prune, between two batches: a store's maintenance may need no transaction open.
struct Maintain {
  StoreMaintenanceOptions options;
  std::shared_ptr<std::promise<Result<StoreMaintenanceReport>>> result;
};
using Payload =
    std::variant<Insert, UpdateQueued, StartJob, ProgressOp, Finish, SaveTask, DropMinutes, Prune, Maintain>;

/// A queued write (WriteQueue's `Op`): what, its completion, its sequence number.
struct Op {
  Payload payload;
  JobStore::Done done;
  std::uint64_t seq = 0;
  /// A shared queue's node when the write was called (its attempt token); 0 for a store that
  /// serves one engine.
  std::int64_t node = 0;
};

/// Queues a prune or a maintenance through `enqueue(Payload, Done)` and waits for its result:
/// the writer runs it between two batches. The Done does nothing but say that a caller waits, so
/// the writer does not let the batch linger (WriteQueue); the result comes through the promise.
template <class Enqueue>
Result<std::int64_t> await_prune(Enqueue&& enqueue, std::optional<TimePoint> cutoff, std::int64_t max_rows) {
  auto result = std::make_shared<std::promise<Result<std::int64_t>>>();
  auto fut = result->get_future();
  enqueue(Prune{cutoff, max_rows, result}, JobStore::Done{[](bool) {}});
  return fut.get();
}
template <class Enqueue>
Result<StoreMaintenanceReport> await_maintain(Enqueue&& enqueue, const StoreMaintenanceOptions& options) {
  auto result = std::make_shared<std::promise<Result<StoreMaintenanceReport>>>();
  auto fut = result->get_future();
  enqueue(Maintain{options, result}, JobStore::Done{[](bool) {}});
  return fut.get();
}

/// Commits a writer's batch, split where a prune or a maintenance stands (each needs the
/// connection outside a transaction; they come once an hour or a day): `commit(batch, begin,
/// end)` for each run of other writes (never an empty one), `prune(op)` or `maintain(op)` between
/// them, in the batch's order. Reads and flushes never split a batch: they wait on sequence
/// numbers instead (WriteQueue).
template <class Commit, class RunPrune, class RunMaintain>
void commit_split(std::vector<Op>& batch, Commit&& commit, RunPrune&& prune, RunMaintain&& maintain) {
  std::size_t begin = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const bool is_prune = std::holds_alternative<Prune>(batch[i].payload);
    if (!is_prune && !std::holds_alternative<Maintain>(batch[i].payload)) continue;
    if (begin < i) commit(batch, begin, i);
    if (is_prune) {
      prune(batch[i]);
    } else {
      maintain(batch[i]);
    }
    begin = i + 1;
  }
  if (begin < batch.size()) commit(batch, begin, batch.size());
}

/// A store's commit figures for `stats()`: written by its writer thread, read from any thread.
class CommitCounters {
 public:
  /// A commit that took `took`: counted, its latency kept, the store no longer failing.
  void committed(std::chrono::microseconds took) {
    const std::int64_t us = took.count();
    last_us_.store(us, std::memory_order_relaxed);
    if (us > max_us_.load(std::memory_order_relaxed)) max_us_.store(us, std::memory_order_relaxed);
    commits_.fetch_add(1, std::memory_order_relaxed);
    failing_.store(false, std::memory_order_relaxed);
  }
  /// A commit attempt failed: counted, and the store is failing until one succeeds.
  void commit_failed() {
    write_errors_.fetch_add(1, std::memory_order_relaxed);
    failing_.store(true, std::memory_order_relaxed);
  }
  /// A write outside the commits failed (a prune): counted only.
  void write_failed() { write_errors_.fetch_add(1, std::memory_order_relaxed); }
  /// Fills the commit fields of `h`.
  void fill(StoreHealth& h) const {
    h.commits = commits_.load(std::memory_order_relaxed);
    h.write_errors = write_errors_.load(std::memory_order_relaxed);
    h.failing = failing_.load(std::memory_order_relaxed);
    h.last_commit_latency = std::chrono::microseconds(last_us_.load(std::memory_order_relaxed));
    h.max_commit_latency = std::chrono::microseconds(max_us_.load(std::memory_order_relaxed));
  }

 private:
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> write_errors_{0};
  std::atomic<bool> failing_{false};
  std::atomic<std::int64_t> last_us_{0};
  std::atomic<std::int64_t> max_us_{0};
};

/// Terminal finishes of one batch by (minute start in ms, command name), written once at its end.
using MinuteDeltas = std::map<std::pair<std::int64_t, std::string>, MinuteFigures>;

}  // namespace shelfjobs::detail::store_ops

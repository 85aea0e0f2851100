// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The job store contract: every read and write of jobs, scheduled tasks and figures goes
/// through a `JobStore`. The engine contains no SQL; it talks to this interface only.
///
/// Implementations: the SQLite store (`open_sqlite_job_store` in sqlite_job_store.hpp, the
/// embedded default), and in
/// tests an in-memory and a fault-injecting store (tests/support). A PostgreSQL store implements
/// the same contract, so nothing here names a database type.
///
/// Threading: after `start()`, every member may be called from any thread. Writes are
/// asynchronous and applied in the order they were called (group commit: many writes become one
/// transaction); a write's `Done` runs once its transaction has committed (or the store closed
/// without committing it). Reads (`get`, `list`) and `flush` see every write called before them:
/// they wait for the commit of those writes (and for their `Done` callbacks), never end a batch
/// early, and never block the writer. Before `start()`, `load` and `write_recovered` are called
/// from the opening thread only; after `close()`, `load` may be called again (tools and tests
/// read the final state so). A write called before `start()` is a bug: it is dropped, logged,
/// and its `Done` gets false.
///
/// Failures: a failed commit is counted (`stats().write_errors`), logged and retried with the
/// same writes until it succeeds or the store closes; callers never see a partial batch. Reads
/// return `store_error` when the store cannot answer.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/health.hpp"
#include "shelfjobs/engine/job.hpp"
#include "shelfjobs/engine/rate_limiter.hpp"

namespace shelfjobs {

/// A scheduled task's stored row: its schedule as the host last set it, and its history.
struct TaskRow {
  std::string name;
  std::string command;
  std::string body;  ///< JSON text
  std::int64_t interval_s = 0;
  std::optional<std::int64_t> time_of_day_min;
  std::string time_zone;
  std::int64_t jitter_s = 0;
  std::optional<TimePoint> next_due;
  std::optional<TimePoint> last_start;
  std::optional<TimePoint> last_finish;
  std::optional<JobStatus> last_status;
  std::string last_message;
  std::optional<std::int64_t> last_duration_ms;
  std::optional<JobId> last_job;
};

/// All-time figures of one command type. The store keeps them up to date in the same commit
/// that writes a job's terminal state, so they survive pruning and cost nothing to load.
/// `last_start` is the latest start among the counted runs; `last_finish` and `last_status` are
/// those of the last terminal finish written.
struct TypeTotals {
  std::string name;
  std::int64_t completed = 0, failed = 0, cancelled = 0;
  std::optional<TimePoint> last_start, last_finish;
  std::optional<JobStatus> last_status;
};

/// Finished runs of one command type within one UTC minute (the minute of `ended_at`): the
/// bounded buckets behind health's window figures and the dashboard's charts. Kept in the finish
/// commits like `TypeTotals`. A run without `ended_at` counts in the totals only.
struct MinuteFigures {
  TimePoint minute{};  ///< start of the minute
  std::string name;
  std::int64_t completed = 0, failed = 0, cancelled = 0;
  /// Of completed and failed runs that had started (a job failed before it ran has no
  /// duration); negative durations count as 0.
  std::int64_t duration_sum_ms = 0;
  /// The same runs by duration bin (see `duration_bin` in health.hpp); their count is the
  /// histogram's sum.
  DurationHistogram durations{};
};

/// What an engine needs to start: it costs what the queued and running jobs cost, not the
/// history.
struct StoredState {
  std::vector<JobInfo> active;  ///< queued and executing jobs, by id, bodies included
  JobId max_id = 0;             ///< the highest id ever handed out (pruned ones included)
  std::vector<TaskRow> tasks;
  std::vector<TypeTotals> totals;
  /// Minutes starting at or after `load`'s `since`, oldest first (then by name).
  std::vector<MinuteFigures> minutes;
};

/// A filter for `JobStore::list` and `Engine::list`. Empty vectors match everything.
struct JobQuery {
  std::vector<JobStatus> statuses;
  std::vector<std::string> names;
  /// Paging: newest first (by id). `before_id` > 0 returns ids below it.
  JobId before_id = 0;
  int limit = 100;  ///< 1..1000
};

/// One page of `list`.
struct JobPage {
  std::vector<JobInfo> jobs;
  /// Pass as `before_id` to get the next page; 0 when this was the last.
  JobId next_before_id = 0;
};

/// What `JobStore::maintain` (and housekeeping's maintenance of any SQLite file) does.
struct StoreMaintenanceOptions {
  /// Let the database refresh its query planner's statistics (SQLite: PRAGMA optimize).
  bool optimize = true;
  /// A quick integrity check (SQLite: PRAGMA quick_check); its findings go into the report.
  bool integrity_check = true;
  /// Copy the write-ahead log into the file and truncate it (SQLite: wal_checkpoint(TRUNCATE)).
  bool checkpoint = true;
  /// Rebuild the file (SQLite: VACUUM) only when at least this share of its pages is free
  /// (0..1) and at least `vacuum_min_free_pages` pages are: rebuilding a file costs a copy of
  /// it, worth it only when much space comes back.
  double vacuum_free_ratio = 0.25;
  std::int64_t vacuum_min_free_pages = 256;
  /// How long a step that needs the file to itself (the rebuild, the checkpoint) waits for other
  /// connections' writes to end before it gives up and is reported as skipped. Writers are never
  /// failed by it: it waits for them, they wait for it (their busy timeout).
  std::chrono::milliseconds wait_for_writers{std::chrono::seconds(60)};
};

/// What one maintenance run found and did, for one file.
struct StoreMaintenanceReport {
  std::string file;  ///< the file maintained ("" for a store without one)
  bool optimized = false;
  /// Whether the integrity check ran, and its findings ("ok" when the file is sound).
  bool integrity_checked = false;
  bool integrity_ok = true;
  std::vector<std::string> integrity_findings;  ///< at most 20, SQLite's own words
  bool checkpointed = false;
  std::int64_t page_count = 0;
  std::int64_t free_pages = 0;  ///< before any rebuild
  bool vacuumed = false;
  std::int64_t bytes_before = 0, bytes_after = 0;  ///< the file's size (and its log's)
  /// Steps skipped or failed and why ("vacuum: waited 60 s for writers"); none when all ran.
  std::vector<std::string> notes;
  /// One line for people: "ok; 12 free of 3400 pages; checkpointed".
  std::string summary() const;
};

class SharedQueue;

class JobStore {
 public:
  /// Runs on the store's writer thread once the write is committed (true) or dropped because the
  /// store closed first (false; on the writing thread when the store was already closed). Runs
  /// before any read or `flush` waiting for that write returns. Must not block or call back into
  /// the store.
  using Done = std::function<void(bool committed)>;

  virtual ~JobStore() = default;

  // --- Before start(), on the opening thread ---
  /// Reads the state an engine starts from; `minutes` from `since` on.
  /// Errors: store_error.
  virtual Result<StoredState> load(TimePoint since) = 0;
  /// Writes the jobs recovery changed, in one transaction, before anything else runs. Each row
  /// is written as `finish` writes it, so a job recovery failed counts in its type's totals and
  /// minutes (a `load` before this call does not show that).
  /// Errors: store_error (nothing written).
  virtual Status write_recovered(const std::vector<JobInfo>& jobs) = 0;
  /// Starts the writer. Writes called before it are an error.
  virtual void start() = 0;

  // --- Any thread, after start() ---
  /// A new job. `body_text` is the canonical JSON of `job.body` (which may be left empty).
  virtual void insert(const JobInfo& job, std::string body_text, Done done = {}) = 0;
  /// A queued job's priority, trigger or event changed (a merge or aging).
  virtual void update_queued(JobId id, Priority priority, Trigger trigger, const std::string& event) = 0;
  /// A job started its `attempt` at `started_at`.
  virtual void start_job(JobId id, TimePoint started_at, int attempt) = 0;
  virtual void progress(JobId id, const Progress& progress) = 0;
  /// A run ended: every field but the body is written. A terminal status also adds the run to
  /// its type's `TypeTotals` and `MinuteFigures` in the same transaction; a queued status (a
  /// retry, or a job requeued by stop) does not. A job counts once: a terminal finish of a job
  /// that is already terminal, or that the store does not hold, changes no figure.
  virtual void finish(const JobInfo& job, Done done = {}) = 0;
  /// `finish` under the lease id `node` that the engine recorded when it ended the job: with a
  /// shared queue, the write is applied only while the job's row still belongs to `node`, even
  /// if this node has joined again under a new id since (the engine's record of its pending
  /// writes and the server's attempt token then agree). A store without a shared queue ignores
  /// `node`; the default calls `finish`.
  virtual void finish_as(const JobInfo& job, std::int64_t node, Done done = {}) {
    (void)node;
    finish(job, std::move(done));
  }
  /// Inserts or replaces a task's row.
  virtual void save_task(const TaskRow& row) = 0;
  /// Blocks until every write called before it is committed (or dropped by close) and its
  /// `Done` has run. Queues nothing: it does not end the writer's batch.
  virtual void flush() = 0;

  /// The job with that id, or nullopt. Errors: store_error.
  virtual Result<std::optional<JobInfo>> get(JobId id) = 0;
  /// Jobs matching `query`, newest first (`query.limit` already validated; `names` are exact).
  /// Errors: store_error.
  virtual Result<JobPage> list(const JobQuery& query) = 0;
  /// Deletes finished jobs that ended before `cutoff` and, beyond the newest `max_rows` (0: no
  /// cap) finished ones, the oldest. Totals, minutes and `max_id` are unaffected. Runs after
  /// every write called before it, in a transaction of its own; blocks until done. Returns the
  /// rows deleted. Errors: store_error (also before `start()` and after `close()`); a failed
  /// prune is counted in `write_errors` but not retried.
  virtual Result<std::int64_t> prune(std::optional<TimePoint> cutoff, std::int64_t max_rows) = 0;
  /// Maintains the store's file (see `StoreMaintenanceOptions`) between two of its own commits:
  /// writes called meanwhile wait for it (never fail because of it), reads go on. A store
  /// without a file reports what applies to it (an in-memory store: nothing to do). Blocks
  /// until done. Errors: store_error (before `start()`, after `close()`, or the file cannot be
  /// read at all); a step that fails or must wait too long is a note in the report, not an
  /// error.
  virtual Result<StoreMaintenanceReport> maintain(const StoreMaintenanceOptions& options) = 0;
  /// Drops minute figures of minutes starting before `before` (an asynchronous write).
  virtual void drop_minutes(TimePoint before) = 0;

  /// Commit counts, errors and latencies, and the size on disk where there is one.
  virtual StoreHealth stats() const = 0;
  /// Commits what is queued and stops the writer. Later writes are dropped (their Done gets
  /// false); reads still work. Idempotent.
  virtual void close() = 0;

  /// The queue several engines share through this store, or null for a store that serves one
  /// engine (the SQLite store). The store owns it; it lives as long as the store.
  virtual SharedQueue* shared() { return nullptr; }
};

/// What makes a shared insert idempotent across processes. Empty keys are not checked.
struct SharedKeys {
  /// The command's deduplication key: while a job with the same key is queued and not started
  /// in any process, an equal push merges into it (its priority is raised, a manual trigger
  /// wins) instead of adding a row.
  std::string dedup;
  /// One scheduled tick ("task@due"): every process fires the same tick, one row is kept.
  std::string tick;
};

/// The locks a job takes across every process sharing the queue, derived from its command
/// type's traits: a job runs only while it holds all of them.
struct SharedLocks {
  bool exclusive = false;         ///< no other job runs anywhere while it does
  std::vector<std::string> keys;  ///< type-exclusive and named locks
  /// One of these (a per-type cap of N: N slot keys), whichever is free; none: no cap.
  std::vector<std::string> one_of;
};

/// The queue's source of truth when several engines (processes, machines) share one store:
/// jobs are claimed from the database, not from an engine's memory. Each engine is a node with
/// a lease it renews; a job belongs to the node that claimed it, and every write of a claimed job
/// (start, progress, finish) is applied only while it still does (the node's lease id is the
/// attempt token): a node whose lease expired and whose jobs were rescued cannot complete them
/// a second time.
///
/// Threading: `insert` and `reserve_ids` from any thread; the rest from one thread at a time
/// (the engine's feed thread). Every call may fail with store_error when the server cannot be
/// reached; the caller retries.
class SharedQueue {
 public:
  /// Jobs a claim took, bodies included.
  struct Claimed {
    std::vector<JobInfo> jobs;
    /// True when the claim was cut by `max`: more may be claimable now.
    bool more = false;
    /// The earliest `not_before` of a queued job that is not due yet, to wake for it.
    std::optional<TimePoint> next_due;
  };
  using LockOf = std::function<SharedLocks(const JobInfo& job)>;

  virtual ~SharedQueue() = default;

  /// Registers this engine as a node with a lease of `lease` from now (the server's clock).
  /// A node that joins again (its lease was lost) gets a new id. Returns the node id.
  virtual Result<std::int64_t> join(const std::string& name, std::chrono::milliseconds lease) = 0;
  /// Renews the lease and publishes the node's figures. Errors: conflict when the lease was
  /// lost (another node rescued this one's jobs; join again), store_error.
  virtual Status heartbeat(std::chrono::milliseconds lease, int running, int claimed) = 0;
  /// Jobs of nodes whose lease expired (and executing rows without a node), now owned by this
  /// node so that it ends or requeues them. The dead nodes and their locks are removed. After a
  /// call that failed (its commit may have happened), the next also hands over this node's own
  /// running jobs: the caller skips those it holds.
  virtual Result<std::vector<JobInfo>> take_orphans() = 0;
  /// Claims up to `max` jobs due at `now`, highest priority first then oldest, skipping rows
  /// another node is claiming (FOR UPDATE SKIP LOCKED) and jobs whose locks another job holds.
  /// An exclusive job is claimed only when nothing is claimed or running anywhere; jobs behind
  /// it wait meanwhile. Errors: conflict (this node lost its lease), store_error.
  /// Only jobs of the commands in `names` (the ones this node can run) are claimed. After a
  /// call that failed (its commit may have happened), the next also hands over the jobs the
  /// database has as claimed by this node and unstarted: the caller skips those it holds, and
  /// those whose row is older than a write of its own still on its way.
  virtual Result<Claimed> claim(int max, TimePoint now, const std::vector<std::string>& names,
                                const LockOf& locks) = 0;
  /// Gives claimed jobs that have not started back to the queue.
  virtual Status release(const std::vector<JobId>& ids) = 0;
  /// Waits up to `timeout` for a notification that the queue changed (a job inserted, requeued
  /// or a lock freed by any node), or until `wake_fd` (an eventfd) becomes readable. Returns
  /// true when the server notified.
  virtual Result<bool> wait(std::chrono::milliseconds timeout, int wake_fd) = 0;
  /// Leaves: queued jobs this node claimed go back to the queue, its row goes.
  virtual Status leave() = 0;

  /// Hands out `count` job ids no other node uses; returns the first (the ids are consecutive).
  virtual Result<JobId> reserve_ids(int count) = 0;
  /// A new job, inserted unless `keys` match a queued job or a tick already fired; `done` as
  /// `JobStore::insert`'s (true also when the job merged).
  virtual void insert(const JobInfo& job, std::string body_text, SharedKeys keys, JobStore::Done done) = 0;
  /// Reserves the next use of rate key `key` across every node, in the order reserved, on the
  /// server's clock: at least `limit.min_spacing` after the one before, and at most
  /// `limit.budget` uses in any `limit.window`. Returns how long the caller waits for its slot
  /// (0: go now). Any thread; a worker calls it before a rate-keyed job's handler.
  /// Errors: invalid_argument (a limit that limits nothing, or a budget without a window),
  /// store_error.
  virtual Result<std::chrono::milliseconds> reserve_rate(const std::string& key, const RateLimit& limit) = 0;
  /// What `request_cancel` found.
  struct CancelRequest {
    /// Queued and claimed by no node: now claimed by this one, which cancels it itself.
    std::optional<JobInfo> taken;
    /// Held by a node (maybe this one, on its way in or out): that node is asked to cancel it
    /// and does so when its feed next looks (`take_cancels`). The job as it is now.
    std::optional<JobInfo> asked;
  };
  /// Cancels job `id` that this node does not hold: neither set when no queued or running job
  /// has that id. Any thread. Errors: store_error.
  virtual Result<CancelRequest> request_cancel(JobId id) = 0;
  /// The jobs this node was asked to cancel since the last call (the flag is cleared). Looks
  /// only when a request was notified, when the connection is new or after a wait that timed
  /// out (a notification may be lost); otherwise answers at once. Only on the feed's thread.
  virtual Result<std::vector<JobId>> take_cancels() = 0;
  /// This node's id (0 before join).
  virtual std::int64_t node() const = 0;
  /// Every node and the cluster's job counts. Any thread.
  virtual Result<ClusterHealth> cluster_health() = 0;
  /// Jobs other nodes inserted, started or ended since the last call (they notify with every
  /// commit that changes one), read back whole; at most `max`, the rest dropped (a subscriber
  /// that needs every one reads the store). Only after `wait`, on its thread.
  virtual Result<std::vector<JobInfo>> changed_elsewhere(std::size_t max) = 0;
};

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The job engine: push commands, watch them run, query their history.
///
/// @code
///   shelfjobs::Registry registry;
///   registry.add<Hello>([](const Hello& h, shelfjobs::JobContext& ctx) { ctx.complete("hi"); });
///   auto engine = shelfjobs::Engine::create({.store_path = "jobs.db"}, std::move(registry));
///   if (!engine) { /* engine.error().message */ }
///   (*engine)->start();
///   auto job = (*engine)->push(Hello{});
///   ...
///   (*engine)->stop(std::chrono::seconds(10));
/// @endcode
///
/// Threading: every public member function is thread-safe and may be called from any thread,
/// including from inside a handler. Queue state is owned by one dispatcher strand; calls post to
/// it. Handlers run on the worker pool, never on the strand. Store writes go through the store's
/// writer, which group-commits. Host events reach subscribers on a delivery thread per
/// subscriber, never on the strand (see `subscribe`).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/fwd.h>
#include <nlohmann/json.hpp>

#include "shelfjobs/engine/clock.hpp"
#include "shelfjobs/engine/command.hpp"
#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/health.hpp"
#include "shelfjobs/engine/host_events.hpp"
#include "shelfjobs/engine/job.hpp"
#include "shelfjobs/engine/job_store.hpp"
#include "shelfjobs/engine/notifier.hpp"
#include "shelfjobs/engine/postgres_job_store.hpp"
#include "shelfjobs/engine/push.hpp"
#include "shelfjobs/engine/rate_limiter.hpp"
#include "shelfjobs/engine/schedule.hpp"
#include "shelfjobs/engine/sqlite_job_store.hpp"

namespace shelfjobs {

/// How the engine is set up. Every field has a default.
/// Engines that share one queue (a PostgreSQL store opened as shared; docs/scaling.md). Each
/// engine is a node: it claims jobs from the database instead of running those it pushed,
/// renews a lease, and rescues the running jobs of a node whose lease expired.
///
/// What holds across the nodes: each job runs on one node at a time and ends once; priorities
/// (a node claims the highest first); exclusive, type-exclusive and named locks; dedup against
/// a queued, unstarted job; one run per scheduled task and tick; a rate key's spacing and budget (a
/// worker reserves the key's slot in the store before the handler runs); `cancel` from any node
/// (a job another node holds is cancelled by that node); `max_concurrent` (a cap of N is N slot
/// locks). What stays per node: idle-only (a node's own queue), and `get`
/// and `list` see the jobs it holds first, then the store. Events and health: docs/scaling.md.
struct ClusterOptions {
  /// Share the queue. Needs a store with `JobStore::shared()`: a PostgreSQL `store_path` is
  /// opened shared. Default: false.
  bool enabled = false;
  /// This node's name in the nodes table and in logs. Default: "<hostname>:<pid>".
  std::string node_name;
  /// How often the lease is renewed and dead nodes are looked for. Default: 1 s.
  std::chrono::milliseconds heartbeat{1000};
  /// How long a node that stopped renewing keeps its jobs before another node rescues them
  /// (requeued with attempt + 1, or failed "interrupted" for types that opt out). More than two
  /// heartbeats. Default: 10 s.
  std::chrono::milliseconds lease{10000};
  /// The longest a node waits between two looks at the queue when no notification came.
  /// Default: 5 s.
  std::chrono::milliseconds fallback_poll{5000};
  /// Jobs a node claims beyond its free workers, so a worker that frees finds the next at hand.
  /// Default: 0.
  int prefetch = 0;
};

struct EngineOptions {
  /// Where the jobs live: a SQLite file, created if missing (":memory:" keeps jobs in memory
  /// only, for tests), or a PostgreSQL connection URI ("postgresql://user@host:5432/db", see
  /// postgres_job_store.hpp; the tables go into the schema "shelfjobs"). Default: "shelfjobs.db".
  std::string store_path = "shelfjobs.db";
  /// With a PostgreSQL `store_path`: the schema of the store's tables (letters, digits and '_',
  /// starting with a letter). Hosts that keep separate queues on one database use one schema
  /// each; the nodes of one cluster share theirs. Default: "shelfjobs".
  std::string store_schema = "shelfjobs";
  /// A job store to use instead of the SQLite file at `store_path` (an in-memory or
  /// fault-injecting store in tests, another backend). Not started yet; the engine starts it and
  /// closes it in `stop`. Default: none.
  std::shared_ptr<JobStore> store;
  /// Regular workers. One more lane is reserved for Critical jobs. Range 1..256. Default: 3.
  int workers = 3;
  /// Short jobs share threads. While `short_job_lanes` regular jobs that started less than
  /// `spread_after` ago run, the next regular job waits: for one of them to end (the thread that
  /// ran it starts the next job, and no thread is woken), or for one to run that long (it is then
  /// likely waiting on the network or the disk, and the next job starts on a thread of its own).
  /// On a machine with few cores, waking a thread for a job of microseconds costs more than the
  /// job. Critical jobs never wait for this. Range 0..256; 0: one less than the cores the process
  /// may use (its CPU affinity and cgroup quota), at least 1. A value of at least `workers` turns
  /// the rule off. Default: 0.
  int short_job_lanes = 0;
  /// How long a running job counts as short (see `short_job_lanes`): after this long it no
  /// longer holds a lane. 0: the rule is off, and every regular job may start on a thread of its
  /// own at once, up to `workers`. Range 0..10 s. Default: 1 ms.
  std::chrono::microseconds spread_after{1000};
  /// Minimum spacing between progress events of one job, and how often the running jobs' latest
  /// progress is written to the store (a job's end always writes its last). 0: every report is
  /// published and written at once. Default: 250 ms.
  std::chrono::milliseconds progress_interval{250};
  /// PRAGMA synchronous=FULL: a committed job survives power loss, not only a process crash.
  /// Default: false (NORMAL, which with WAL survives any crash of the process).
  bool sync_full = false;
  /// How long opening the store file (and each of its statements) waits for another process's
  /// lock on it (a backup, the sqlite3 shell) before failing with `store_error`. Not negative.
  /// Default: 5 s.
  std::chrono::milliseconds store_busy_timeout{5000};
  /// Logger; default: `spdlog::default_logger()`.
  std::shared_ptr<spdlog::logger> logger;
  /// Time source; default: the system clock.
  std::shared_ptr<Clock> clock;
  /// Retry policy of types that set none. Default: network 3 retries, filesystem 1, database 0.
  RetryPolicy retry;
  /// How long a handler may run on after its timeout cancelled its token before it is
  /// abandoned. Default: 10 s.
  std::chrono::milliseconds timeout_grace{std::chrono::seconds(10)};
  /// Starvation: a low or normal job queued (ready to run) longer than this rises one priority
  /// level, and again after each further period, up to high. 0: never. Default: 1 h.
  std::chrono::milliseconds aging_period{std::chrono::hours(1)};
  /// An idle-only job starts even if the queue never empties once it has waited this long.
  /// Default: 6 h.
  std::chrono::milliseconds idle_max_deferral{std::chrono::hours(6)};
  /// Receives final failures and raised and cleared alerts. Default: a LogNotifier on `logger`.
  std::shared_ptr<Notifier> notifier;
  /// The limiter behind CommandTraits::rate_key; share it with adapters so jobs and requests
  /// count against the same limits. Default: a new one on `clock`.
  std::shared_ptr<RateLimiter> rate_limiter;
  /// The window of the recent counts and failure rates in `health()`. Default: 24 h.
  std::chrono::milliseconds health_window{std::chrono::hours(24)};
  /// Alert rules (raised alerts go to `notifier` and into `health()`).
  AlertOptions alerts;
  /// Pruning of finished jobs.
  RetentionOptions retention;
  /// Several engines (processes, machines) on one queue; see ClusterOptions.
  ClusterOptions cluster;
};

/// Jobs waiting (queued: ready to run; delayed: queued but not before a later time) and
/// running, per priority, indexed by `static_cast<int>(Priority)`.
struct QueueDepth {
  std::int64_t queued[kPriorityCount] = {};
  std::int64_t delayed[kPriorityCount] = {};
  std::int64_t running[kPriorityCount] = {};
  std::int64_t total_queued() const noexcept {
    std::int64_t n = 0;
    for (auto q : queued) n += q;
    return n;
  }
};

/// A scheduled task: a command pushed on a schedule (trigger `scheduled`). Its row (interval,
/// last start and finish, last result, next due) is persisted, so the schedule survives
/// restarts; after a downtime an overdue task runs once.
struct TaskSpec {
  /// Unique task name ("RssSync"); what `run_task_now` and `set_task_interval` take.
  std::string name;
  /// The registered command it pushes. Default: `name`.
  std::string command;
  /// The command's body.
  nlohmann::json body = nlohmann::json::object();
  /// Interval (0: disabled), optional pinned local time of day, zone and jitter.
  Schedule schedule;
  /// The intervals `set_task_interval` (and this spec) may use. Unset (max 0): any interval.
  IntervalRange range;
  /// Priority of its jobs. Default: the command type's.
  std::optional<Priority> priority;
};

/// A host's hold on named locks, from Engine::hold_locks: the locks are free again at
/// release() or destruction, whichever comes first. Movable, not copyable; an empty hold
/// (default-constructed, moved from, released) holds nothing. Thread-safety: one object is used
/// by one thread at a time; it may outlive the engine (its release then does nothing).
class LockHold {
 public:
  LockHold() = default;
  explicit LockHold(std::function<void()> release) : release_(std::move(release)) {}
  LockHold(LockHold&& other) noexcept : release_(std::exchange(other.release_, nullptr)) {}
  LockHold& operator=(LockHold&& other) noexcept {
    if (this != &other) {
      release();
      release_ = std::exchange(other.release_, nullptr);
    }
    return *this;
  }
  LockHold(const LockHold&) = delete;
  LockHold& operator=(const LockHold&) = delete;
  ~LockHold() { release(); }

  /// Frees the locks (once; later calls do nothing).
  void release() {
    if (auto r = std::exchange(release_, nullptr)) r();
  }
  bool held() const noexcept { return static_cast<bool>(release_); }

 private:
  std::function<void()> release_;
};

/// The job engine. Create with `create`, call `start`, push, and `stop` (or destroy) at the end.
class Engine {
 public:
  /// Opens (or creates) the store, migrates its schema and recovers jobs a previous process left
  /// behind: queued jobs come back in order; executing ones are requeued with attempt + 1 (or
  /// failed "interrupted" for types that opt out); jobs whose command is no longer registered
  /// are failed. Nothing runs until `start()`.
  /// Errors: invalid_argument (bad options), store_error (cannot open or migrate the file).
  static Result<std::unique_ptr<Engine>> create(EngineOptions options, Registry registry);

  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Starts dispatching. Idempotent.
  void start();

  /// Pushes a typed command.
  template <CommandStruct T>
  Result<PushResult> push(const T& command, PushOptions options = {}) {
    return push(T::kName, Registry::body_of(command), std::move(options));
  }

  /// Pushes a command by name (case-insensitive) with a JSON body: an object holding the
  /// command's fields (null means {}). Errors, each with a message naming the problem:
  /// unknown_command; invalid_body (not an object, a missing field, a field of the wrong type);
  /// invalid_argument (priority out of range); shutting_down. On any error nothing is queued.
  /// Dedup: an equal job (same dedup key) that is queued is returned with `merged = true`; it
  /// rises to the higher of the two priorities, and a manual push turns it into a manual job.
  /// While an equal job runs (and none is queued), the push queues one run after it: the running
  /// job may already have read its input. Types with `merge_into_running` merge into it instead.
  /// Durable pushes return once their own row is committed; if the store cannot commit (a full disk),
  /// the writer retries and the push waits. If the engine stops meanwhile and the store gives the
  /// row up as it closes, the push returns shutting_down: the job is not stored. While it waits
  /// for the commit, the calling thread looks for it for up to 300 µs, yielding the core between
  /// looks, and then sleeps: with slow commits (sync_full, a slow disk) a durable push costs the
  /// calling thread up to that much CPU (a busy wait on a machine with idle cores).
  Result<PushResult> push(std::string_view name, const nlohmann::json& body, PushOptions options = {});

  /// Pushes many commands; each is validated and deduplicated as by `push`. If any is refused,
  /// none is queued. Durable if every request is durable: then returns after one commit.
  Result<std::vector<PushResult>> push_many(std::vector<PushRequest> requests);

  /// Cancels a job. A queued job becomes Cancelled at once (persisted; it stays cancelled after a
  /// restart). A running job has its token cancelled; the returned snapshot still shows it
  /// executing, and it ends Cancelled when its handler honours the token. In a cluster, a job
  /// another node holds is cancelled by that node: the snapshot is the job as it is now.
  /// Errors: not_found, not_cancellable (already finished, or a job this engine does not hold:
  /// one interrupted by stop()); store_error when the store cannot be read (in a cluster, the
  /// database did not answer). A job pushed on another thread is found from the moment its id
  /// exists, even before its push returns.
  Result<JobInfo> cancel(JobId id);

  /// The job with that id, or nullopt. A queued or running job comes from the engine's live
  /// state (with its latest progress); a finished one from the store, after everything the
  /// engine had queued for it is committed. Works after stop() too.
  std::optional<JobInfo> get(JobId id);

  /// Jobs matching `query`, newest first. Errors: invalid_argument (limit out of range),
  /// store_error.
  Result<JobPage> list(const JobQuery& query = {});

  /// Queued and running jobs per priority (from memory; no store access).
  QueueDepth queue_depth();

  /// Adds (or updates) a scheduled task. A task already in the store keeps its history and its
  /// next due time unless its schedule changed. May be called before or after `start`.
  /// Errors: unknown_command, invalid_body, invalid_argument (an interval outside `range`,
  /// naming the task and the range; a bad time of day or zone).
  Status add_task(TaskSpec spec);

  /// Sets a task's interval (0 disables it), validated against its range; on error the old
  /// value stays. The next due time follows the new interval from the last run.
  /// Errors: not_found, invalid_argument.
  Status set_task_interval(std::string_view name, std::chrono::seconds interval);

  /// Runs a task at once (a manual job). It counts as the task's run: its result becomes the
  /// task's last result and the next due time is one interval after now (pinned times keep
  /// their time of day). Errors: not_found, shutting_down.
  Result<PushResult> run_task_now(std::string_view name);

  /// Every task, by name.
  std::vector<TaskInfo> tasks();

  /// Pushes `request` once `window` has passed without another debounced push of an equal
  /// command (same dedup key: by default name and canonical body): a burst of equal requests
  /// becomes one job. The request is validated now. Errors: as `push`.
  /// With `max_wait` > 0, a steady stream of equal requests still pushes at least once per
  /// `max_wait` (counted from the first request left pending). A window that ends while an
  /// equal job runs leaves one run after it, never a merge into the running job.
  Status push_debounced(PushRequest request, std::chrono::milliseconds window,
                        std::chrono::milliseconds max_wait = std::chrono::milliseconds(0));
  /// What a host's "run this command" does in one call: with an empty `body`, a `name` that is a
  /// scheduled task (matched case-insensitively) runs the task now (as `run_task_now`); anything
  /// else is pushed (as `push`).
  /// Errors: as those two.
  Result<PushResult> push_or_run_task(std::string_view name, const nlohmann::json& body,
                                      PushOptions options = {});

  /// Holds named locks (`CommandTraits::locks`) for work the host does outside any job, as a
  /// running job of a type with those locks would: a person's "delete this author's folder" on
  /// an HTTP thread holds the lock imports take, so it never deletes a folder an import writes
  /// into. Waits until no running job and no other hold has any of `names`; meanwhile no job
  /// that needs one of them starts, whatever its priority (the hold is not overtaken). Jobs
  /// waiting for the locks start once the hold is released (LockHold::release or its
  /// destruction). An exclusive job, which runs alone, also waits for every hold to end. Locks
  /// of this engine only:
  /// in a cluster, other nodes' jobs are not held back. Thread-safety: any thread but a job's
  /// handler that holds one of the locks (it would wait for itself until `timeout`).
  /// Errors: invalid_argument (no names, an empty name, a negative timeout, a call on the
  /// dispatcher strand); unavailable (a lock is still held, by running jobs or another hold,
  /// after `timeout`; nothing stays held or asked for; a timeout of a year or more waits a
  /// year); shutting_down (the engine stops).
  Result<LockHold> hold_locks(std::vector<std::string> names, std::chrono::milliseconds timeout);

  /// Figures per command type, per priority and of the store, and the open alerts.
  /// With `series`, also the per-minute figures of the health window (HealthSnapshot::minutes).
  HealthSnapshot health(bool series = false);

  /// Prunes finished jobs now by the retention options (also runs every
  /// `retention.interval`). Their counts stay in health. Returns the number of rows removed.
  /// Works after stop() too. Errors: store_error.
  Result<std::int64_t> prune();

  /// Maintains the job store's file now (`JobStore::maintain`: optimize, integrity check, WAL
  /// checkpoint, a rebuild when many pages are free). The store's writes wait for it, never
  /// fail because of it. Works after stop() too. Errors: store_error.
  Result<StoreMaintenanceReport> maintain_store(const StoreMaintenanceOptions& options = {});

  /// Clamps the tasks' times that lie in the future to now (a clock that ran ahead and was set
  /// back): a last start or finish later than now becomes now, and a next due time further
  /// ahead than two periods (the interval, or a day when pinned) plus the jitter is computed
  /// again from now. Persisted. Returns the names of the tasks changed. Errors: shutting_down.
  Result<std::vector<std::string>> clamp_future_task_times();

  /// Subscribes to host events (jobs, tasks, alerts, domain events, minute figures). `observer`
  /// runs on a delivery thread of its own, never on the dispatcher strand: it may call any engine
  /// function, and a slow one delays only itself. Its queue holds `options.capacity` events;
  /// beyond that `options.overflow` drops events and counts them (HealthSnapshot::events_dropped).
  /// Events come in publication order, in batches: the first event of a batch wakes the delivery
  /// thread, which lets the burst gather for `options.linger` (12 ms unless asked otherwise), so
  /// an event reaches `observer` at most that long after it happened. Returns an id for
  /// `unsubscribe` (0 once stopped).
  std::uint64_t subscribe(HostObserver observer, SubscribeOptions options = {});
  /// Ends a subscription: events still queued for it are discarded; waits for a callback in
  /// progress unless called from that callback.
  void unsubscribe(std::uint64_t id);
  /// Hands a service's domain event to the subscribers (any thread).
  void publish(ServiceEvent event);

  /// Stops: refuses new pushes, cancels the tokens of running jobs, waits for them until
  /// `deadline` has passed, then persists everything and stops the threads. Returns true when
  /// every running job finished in time.
  /// A job that ends because stop() cancelled it (not a user) is unfinished work: it is stored as
  /// queued with attempt + 1 and resumes at the next start (types that opt out of rescue are
  /// failed "interrupted"). Jobs still running at the deadline stay Executing in the store and
  /// are rescued at the next start. Queries still work afterwards; pushes and cancels return
  /// shutting_down. Idempotent; must not be called from a handler or an observer.
  bool stop(std::chrono::milliseconds deadline = std::chrono::seconds(30));

  /// Blocks until no job is queued or running, or `timeout` passes. True when idle. The last
  /// state changes are then queued for the store: `get` and `list` see them; another connection
  /// to the file sees them after the next group commit (at once after `stop`).
  bool wait_idle(std::chrono::milliseconds timeout);

  /// The registry the engine was created with.
  const Registry& registry() const noexcept;

  class Impl;

 private:
  explicit Engine(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace shelfjobs

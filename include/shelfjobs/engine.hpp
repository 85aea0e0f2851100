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
/// it. Handlers run on the worker pool, never on the strand. Store writes go through one writer
/// thread that group-commits. Observers run on the dispatcher strand and must not block.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/fwd.h>

#include "shelfjobs/clock.hpp"
#include "shelfjobs/command.hpp"
#include "shelfjobs/error.hpp"
#include "shelfjobs/job.hpp"

namespace shelfjobs {

/// How the engine is set up. Every field has a default.
struct EngineOptions {
  /// SQLite file of the job store; created if missing. ":memory:" keeps jobs in memory only
  /// (tests). Default: "shelfjobs.db".
  std::string store_path = "shelfjobs.db";
  /// Regular workers. One more lane is reserved for Critical jobs. Range 1..256. Default: 3.
  int workers = 3;
  /// Minimum spacing between progress writes (and progress events) of one job. Default: 250 ms.
  std::chrono::milliseconds progress_interval{250};
  /// PRAGMA synchronous=FULL: a committed job survives power loss, not only a process crash.
  /// Default: false (NORMAL, which with WAL survives any crash of the process).
  bool sync_full = false;
  /// Logger; default: `spdlog::default_logger()`.
  std::shared_ptr<spdlog::logger> logger;
  /// Time source; default: the system clock.
  std::shared_ptr<Clock> clock;
};

/// How one push is made.
struct PushOptions {
  Trigger trigger = Trigger::manual;
  /// Overrides the type's default priority.
  std::optional<Priority> priority;
  /// For Trigger::event: the event's name, recorded on the job.
  std::string event;
  /// True: return once the job's row is committed. False: return once it is queued in memory
  /// (the row follows in the next group commit).
  bool durable = true;
};

/// One command for `push_many`.
struct PushRequest {
  std::string name;
  nlohmann::json body = nlohmann::json::object();
  PushOptions options;
};

/// The answer to a push.
struct PushResult {
  JobInfo job;
  /// True when an equal job was already queued or running and was returned instead.
  bool merged = false;
};

/// A filter for `list`. Empty vectors match everything.
struct JobQuery {
  std::vector<JobStatus> statuses;
  std::vector<std::string> names;
  /// Paging: newest first (by id). `before_id` > 0 returns ids below it.
  JobId before_id = 0;
  int limit = 100;  ///< 1..1000
};

struct JobPage {
  std::vector<JobInfo> jobs;
  /// Pass as `before_id` to get the next page; 0 when this was the last.
  JobId next_before_id = 0;
};

/// Jobs waiting (queued) and running, per priority, indexed by `static_cast<int>(Priority)`.
struct QueueDepth {
  std::int64_t queued[kPriorityCount] = {};
  std::int64_t running[kPriorityCount] = {};
  std::int64_t total_queued() const noexcept {
    std::int64_t n = 0;
    for (auto q : queued) n += q;
    return n;
  }
};

/// A lifecycle event, sent to observers.
struct JobEvent {
  enum class Type { queued, started, progress, completed, failed, cancelled };
  Type type;
  JobInfo job;
};
std::string_view to_string(JobEvent::Type t) noexcept;

using Observer = std::function<void(const JobEvent&)>;

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
  /// Dedup: an equal job (same dedup key) queued or running is returned with `merged = true`.
  /// A push merged into a queued twin raises it to the higher of the two priorities; a manual
  /// push also turns it into a manual job.
  /// Durable pushes return once the row is committed; if the store cannot commit (a full disk),
  /// the writer retries and the push waits.
  Result<PushResult> push(std::string_view name, const nlohmann::json& body,
                          PushOptions options = {});

  /// Pushes many commands; each is validated and deduplicated as by `push`. If any is refused,
  /// none is queued. Durable if every request is durable: then returns after one commit.
  Result<std::vector<PushResult>> push_many(std::vector<PushRequest> requests);

  /// Cancels a job. A queued job becomes Cancelled at once (persisted; it stays cancelled after a
  /// restart). A running job has its token cancelled; the returned snapshot still shows it
  /// executing, and it ends Cancelled when its handler honours the token.
  /// Errors: not_found, not_cancellable (already finished).
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

  /// Adds an observer. It runs on the dispatcher strand, in event order, and must not block or
  /// call blocking engine functions (push with durable = true, get, list, stop). Returns an id for
  /// `unsubscribe`.
  std::uint64_t subscribe(Observer observer);
  void unsubscribe(std::uint64_t id);

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

// SPDX-License-Identifier: MIT
#pragma once
// The job store: one SQLite file, one writer thread that owns the connection.
//
// Who owns what:
//  - The writer thread owns the SQLite connection after `start_writer()`; before that, `open()`
//    and the recovery calls use it from the constructing thread only.
//  - Callers enqueue ops under `mutex_`; the writer swaps the whole queue out and applies it in
//    one `BEGIN IMMEDIATE` transaction (group commit), then runs the ops' callbacks.
//  - Reads are ops too: a read runs on the writer thread after everything enqueued before it is
//    committed, so a read never sees less than what its caller already caused, and no second
//    connection can ever meet `database is locked`.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <spdlog/spdlog.h>

#include "shelfjobs/error.hpp"
#include "shelfjobs/job.hpp"
#include "sqlite/sqlite_toolkit.hpp"

namespace shelfjobs::detail {

/// Milliseconds since the Unix epoch, the store's time format (the toolkit's, as for every file).
using sqlite::from_ms;
using sqlite::to_ms;

/// The schema as SQL, one string per migration (index + 1 = version).
const std::vector<std::string>& schema_migrations();

/// A scheduled task's row.
struct TaskRow {
  std::string name;
  std::string command;
  std::string body;  // JSON text
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

/// Per-type history for health, as stored (job_stats holds what pruning removed).
struct TypeHistory {
  std::string name;
  std::int64_t completed = 0, failed = 0, cancelled = 0;
  std::optional<TimePoint> last_start, last_finish;
  std::optional<JobStatus> last_status;
};
/// One finished run, for recent figures.
struct RunSample {
  std::string name;
  JobStatus status = JobStatus::completed;
  TimePoint ended{};
  std::int64_t duration_ms = 0;
};

class Store {
 public:
  using Done = std::function<void(bool committed)>;
  using Reader = std::function<void(SQLite::Database&)>;

  /// Opens or creates the file, applies pragmas and migrations (sqlite::open, sqlite::migrate).
  /// Takes an exclusive lock (an flock on `path + ".lock"`) so two engines never share one
  /// store. `busy_timeout`: how long opening waits for another process's lock on the file.
  static Result<std::unique_ptr<Store>> open(
      const std::string& path, bool sync_full, std::shared_ptr<spdlog::logger> log,
      std::chrono::milliseconds busy_timeout = sqlite::kDefaultBusyTimeout);
  ~Store();

  // --- Before start_writer(), on the opening thread only ---
  /// Jobs with status queued or executing, by id.
  std::vector<JobInfo> load_active();
  JobId max_id();
  /// Writes rows directly in one transaction (used by recovery).
  void write_now(const std::vector<JobInfo>& rows);

  std::vector<TaskRow> load_tasks();
  std::vector<TypeHistory> load_history();
  /// Finished runs that ended at or after `since`, oldest first.
  std::vector<RunSample> load_samples(TimePoint since);

  void start_writer();

  // --- Any thread, after start_writer() ---
  /// `body_text` is `job.body.dump()`, passed in when the caller already has it.
  void insert(JobInfo job, std::string body_text, Done done = {});
  void update_queued(JobId id, Priority priority, Trigger trigger, std::string event);
  void start(JobId id, TimePoint started_at, int attempt);
  void progress(JobId id, const Progress& p);
  /// Writes a terminal state (status, ended, duration, message, error, progress).
  void finish(JobInfo job);
  /// Inserts or replaces a scheduled task's row.
  void save_task(TaskRow row);
  /// Runs `reader` on the writer thread once every earlier op is committed; blocks until done.
  /// After close(), runs it on the caller's thread. Returns false when the reader threw.
  bool read(const Reader& reader);
  /// Blocks until every earlier op is committed.
  void barrier();
  /// Commits what is queued and stops the writer. Later ops are dropped. Idempotent.
  void close();

  /// Number of group commits so far (for metrics and benchmarks).
  std::uint64_t commits() const noexcept { return commits_.load(); }
  /// Failed commit attempts so far (each was retried).
  std::uint64_t write_errors() const noexcept { return write_errors_.load(); }
  std::chrono::microseconds last_commit_latency() const noexcept {
    return std::chrono::microseconds(last_commit_us_.load());
  }
  std::chrono::microseconds max_commit_latency() const noexcept {
    return std::chrono::microseconds(max_commit_us_.load());
  }
  const std::string& path() const noexcept { return path_; }

  /// Deletes finished jobs that ended before `cutoff` and, beyond the newest `max_rows`
  /// finished ones, the oldest; adds their counts to job_stats in the same transaction.
  /// Returns the number of rows deleted, or nullopt if the store failed.
  std::optional<std::int64_t> prune(std::optional<TimePoint> cutoff, std::int64_t max_rows);
  /// `prune` on the writer thread without waiting; `done` gets the result there.
  void prune_async(std::optional<TimePoint> cutoff, std::int64_t max_rows,
                   std::function<void(std::optional<std::int64_t>)> done);

  /// Reads one job row from a statement selecting `kJobColumns`.
  static JobInfo row_to_job(SQLite::Statement& st);
  static const char* const kJobColumns;

 private:
  struct Insert { JobInfo job; std::string body_text; };
  struct UpdateQueued {
    JobId id = 0;
    Priority priority = Priority::normal;
    Trigger trigger = Trigger::manual;
    std::string event;
  };
  struct Start {
    JobId id = 0;
    std::int64_t started_ms = 0;
    int attempt = 1;
  };
  struct ProgressOp {
    JobId id = 0;
    Progress p;
  };
  struct Finish { JobInfo job; };
  struct Read {
    const Reader* reader;
    std::shared_ptr<const Reader> owned;  // set for asynchronous reads
  };
  struct SaveTask { TaskRow row; };
  using Payload = std::variant<Insert, UpdateQueued, Start, ProgressOp, Finish, Read, SaveTask>;
  struct Op {
    Payload payload;
    Done done;
  };

  Store(std::unique_ptr<SQLite::Database> db, std::shared_ptr<spdlog::logger> log);
  void enqueue(Op op);
  void run();
  // Applies writes [begin, end) in one transaction, retrying on failure; then runs callbacks.
  void commit_range(std::vector<Op>& ops, std::size_t begin, std::size_t end);
  void apply(const Payload& p);
  void prepare();

  std::unique_ptr<SQLite::Database> db_;
  std::shared_ptr<spdlog::logger> log_;
  std::unique_ptr<SQLite::Statement> insert_, update_queued_, start_, progress_, finish_,
      save_task_;

  std::mutex mutex_;
  std::mutex join_mutex_;
  std::condition_variable cv_;
  std::vector<Op> queue_;
  bool closing_ = false;
  bool closed_ = false;
  std::thread writer_;
  int lock_fd_ = -1;
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> write_errors_{0};
  std::atomic<std::int64_t> last_commit_us_{0};
  std::atomic<std::int64_t> max_commit_us_{0};
  std::string path_;
};

}  // namespace shelfjobs::detail

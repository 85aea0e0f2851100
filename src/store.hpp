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

namespace shelfjobs::detail {

/// Milliseconds since the Unix epoch, the store's time format.
std::int64_t to_ms(TimePoint t);
TimePoint from_ms(std::int64_t ms);

/// The schema as SQL, one string per migration (index + 1 = version).
const std::vector<std::string>& schema_migrations();
/// Pragmas applied to every connection of the store (and by the benchmark's references).
void apply_pragmas(SQLite::Database& db, bool sync_full);

class Store {
 public:
  using Done = std::function<void(bool committed)>;
  using Reader = std::function<void(SQLite::Database&)>;

  /// Opens or creates the file, applies pragmas and migrations. Takes an exclusive lock (an
  /// flock on `path + ".lock"`) so two engines never share one store.
  static Result<std::unique_ptr<Store>> open(const std::string& path, bool sync_full,
                                             std::shared_ptr<spdlog::logger> log);
  ~Store();

  // --- Before start_writer(), on the opening thread only ---
  /// Jobs with status queued or executing, by id.
  std::vector<JobInfo> load_active();
  JobId max_id();
  /// Writes rows directly in one transaction (used by recovery).
  void write_now(const std::vector<JobInfo>& rows);

  void start_writer();

  // --- Any thread, after start_writer() ---
  /// `body_text` is `job.body.dump()`, passed in when the caller already has it.
  void insert(JobInfo job, std::string body_text, Done done = {});
  void update_queued(JobId id, Priority priority, Trigger trigger, std::string event);
  void start(JobId id, TimePoint started_at, int attempt);
  void progress(JobId id, const Progress& p);
  /// Writes a terminal state (status, ended, duration, message, error, progress).
  void finish(JobInfo job);
  /// Runs `reader` on the writer thread once every earlier op is committed; blocks until done.
  /// After close(), runs it on the caller's thread. Returns false when the reader threw.
  bool read(const Reader& reader);
  /// Blocks until every earlier op is committed.
  void barrier();
  /// Commits what is queued and stops the writer. Later ops are dropped. Idempotent.
  void close();

  /// Number of group commits so far (for metrics and benchmarks).
  std::uint64_t commits() const noexcept { return commits_.load(); }

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
  struct Read { const Reader* reader; };
  using Payload = std::variant<Insert, UpdateQueued, Start, ProgressOp, Finish, Read>;
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
  std::unique_ptr<SQLite::Statement> insert_, update_queued_, start_, progress_, finish_;

  std::mutex mutex_;
  std::mutex join_mutex_;
  std::condition_variable cv_;
  std::vector<Op> queue_;
  bool closing_ = false;
  bool closed_ = false;
  std::thread writer_;
  int lock_fd_ = -1;
  std::atomic<std::uint64_t> commits_{0};
};

}  // namespace shelfjobs::detail

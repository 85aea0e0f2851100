// SPDX-License-Identifier: MIT
#pragma once
// The SQLite job store: `JobStore` over one SQLite file (see job_store.hpp for the contract).
//
// Who owns what:
//  - The writer connection belongs to the opening thread until `start()`, then to the writer
//    thread, then (after `close()`) again to whoever calls `load`.
//  - Callers enqueue writes under `mutex_`, each with a sequence number; the writer swaps the
//    whole queue out and applies it in one `BEGIN IMMEDIATE` transaction (group commit), then
//    publishes the highest sequence number it settled and runs the Done callbacks.
//  - Reads note the newest sequence number, wait until it is settled, then run on a second,
//    read-only connection (WAL lets it read beside the writer) under `read_mutex_`. A file named
//    ":memory:" has one connection only; there reads take `read_mutex_`, which the writer also
//    holds while it commits, so reads run on the writer's connection between two batches.

#include <array>
#include <atomic>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <spdlog/spdlog.h>

#include "engine/sqlite/checkpointer.hpp"
#include "engine/store/figures.hpp"
#include "engine/store/store_ops.hpp"
#include "engine/store/write_queue.hpp"
#include "shelfjobs/engine/job_store.hpp"
#include "shelfjobs/engine/sqlite_job_store.hpp"

namespace shelfjobs::detail {

/// The job store's schema, one SQL script per version (index + 1 = version). Append only.
const std::vector<std::string>& job_store_migrations();

class SqliteJobStore final : public JobStore {
 public:
  static Result<std::unique_ptr<SqliteJobStore>> open(SqliteStoreOptions options);
  ~SqliteJobStore() override;

  SqliteJobStore(const SqliteJobStore&) = delete;
  SqliteJobStore& operator=(const SqliteJobStore&) = delete;

  Result<StoredState> load(TimePoint since) override;
  Status write_recovered(const std::vector<JobInfo>& jobs) override;
  void start() override;

  void insert(const JobInfo& job, std::string body_text, Done done) override;
  void update_queued(JobId id, Priority priority, Trigger trigger, const std::string& event) override;
  void start_job(JobId id, TimePoint started_at, int attempt) override;
  void progress(JobId id, const Progress& progress) override;
  void finish(const JobInfo& job, Done done) override;
  void save_task(const TaskRow& row) override;
  void flush() override;

  Result<std::optional<JobInfo>> get(JobId id) override;
  Result<JobPage> list(const JobQuery& query) override;
  Result<std::int64_t> prune(std::optional<TimePoint> cutoff, std::int64_t max_rows) override;
  Result<StoreMaintenanceReport> maintain(const StoreMaintenanceOptions& options) override;
  void drop_minutes(TimePoint before) override;

  StoreHealth stats() const override;
  void close() override;

  /// The SQL of the statements the writer prepared once and runs in every batch, for the tests
  /// that read their plans. Thread-safety: any thread (the statements' text never changes).
  std::vector<std::string> write_statements() const;

 private:
  using Payload = store_ops::Payload;
  using Op = store_ops::Op;
  using MinuteDeltas = store_ops::MinuteDeltas;
  // What the terminal finishes of one batch add to a type's totals, written once at its end.
  struct TotalsDelta {
    std::int64_t completed = 0, failed = 0, cancelled = 0, duration_ms = 0;
    std::optional<TimePoint> last_start, last_finish;  // the latest start; the last finish's end
    JobStatus last_status = JobStatus::completed;      // the last finish's
  };
  // The figures a batch adds: per minute and per type.
  struct BatchFigures {
    MinuteDeltas minutes;
    std::map<std::string, TotalsDelta> totals;
  };

  SqliteJobStore(std::unique_ptr<SQLite::Database> db, std::unique_ptr<SQLite::Database> reader,
                 std::unique_ptr<sqlite::Checkpointer> checkpointer, SqliteStoreOptions options, int lock_fd);

  void enqueue(Payload payload, Done done);
  void commit_batch(std::vector<Op>& batch);
  void commit_range(std::vector<Op>& ops, std::size_t begin, std::size_t end);
  void run_prune(Op& op);
  void run_maintain(Op& op);
  void prepare();
  void reset_statements() noexcept;
  // Every statement prepare() makes, in one list for what is done to each of them (reset after
  // a failed commit, destroyed before the connection, listed for the plan tests).
  template <class Self>
  static auto statements_of(Self& self) {
    return std::array{&self.insert_,      &self.insert_final_, &self.update_queued_, &self.start_,
                      &self.progress_,    &self.finish_,       &self.finish_live_,   &self.prior_status_,
                      &self.add_totals_,  &self.save_task_,    &self.drop_minutes_,  &self.read_minute_,
                      &self.write_minute_};
  }

  // What one batch writes to each job's row, worked out before its statements run: a job whose
  // row is inserted and ended in the same batch (a quick job, or any job while the writer was
  // busy) costs one INSERT of its last state instead of an INSERT and two or three UPDATEs.
  struct BatchRows {
    std::unordered_map<JobId, std::size_t> last_finish;  // each job's last Finish in the batch
    std::unordered_set<JobId> inserted_final;            // inserted in the state of that Finish
    std::unordered_map<JobId, JobStatus> status;         // each row's status as written so far
    void plan(const std::vector<Op>& ops, std::size_t begin, std::size_t end);
  };

  // On the thread that owns the writer connection:
  void apply(const std::vector<Op>& ops, std::size_t i, BatchFigures& figures);
  // `prior`: the row's status before this finish when the batch knows it (else it is read);
  // `write_row` false: the row already holds this finish's state or a later one's. True when
  // the row is known to exist.
  bool apply_finish(const JobInfo& job, BatchFigures& figures, std::optional<JobStatus> prior = std::nullopt,
                    bool write_row = true);
  void write_figures(BatchFigures& figures);

  template <class F>
  auto read(const char* what, F&& f) -> decltype(f(std::declval<SQLite::Database&>()));

  std::unique_ptr<SQLite::Database> db_;                // the writer's connection
  std::unique_ptr<SQLite::Database> reader_;            // read-only; null for ":memory:"
  std::unique_ptr<sqlite::Checkpointer> checkpointer_;  // the log's checkpoints; null for ":memory:"
  SqliteStoreOptions opts_;
  std::shared_ptr<spdlog::logger> log_;
  std::atomic<int> lock_fd_{-1};

  std::optional<SQLite::Statement> insert_, insert_final_, update_queued_, start_, progress_, finish_,
      finish_live_, prior_status_, add_totals_, save_task_, drop_minutes_, read_minute_, write_minute_;
  std::optional<sqlite::PreparedTransaction> transaction_;  // a batch's BEGIN and COMMIT
  BatchRows rows_;                                          // the writer's, reused from batch to batch

  mutable std::mutex read_mutex_;               // the reader connection (or, for ":memory:", the only one)
  WriteQueue<Op> writes_{opts_.commit_linger};  // last of the writer's state: stops before the rest

  store_ops::CommitCounters counters_;
};

}  // namespace shelfjobs::detail

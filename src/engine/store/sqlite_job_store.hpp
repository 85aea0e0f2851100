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

#include <atomic>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <spdlog/spdlog.h>

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

 private:
  using Payload = store_ops::Payload;
  using Op = store_ops::Op;
  using MinuteDeltas = store_ops::MinuteDeltas;

  SqliteJobStore(std::unique_ptr<SQLite::Database> db, std::unique_ptr<SQLite::Database> reader,
                 SqliteStoreOptions options, int lock_fd);

  void enqueue(Payload payload, Done done);
  void commit_batch(std::vector<Op>& batch);
  void commit_range(std::vector<Op>& ops, std::size_t begin, std::size_t end);
  void run_prune(Op& op);
  void run_maintain(Op& op);
  void prepare();
  void reset_statements() noexcept;

  // On the thread that owns the writer connection:
  void apply(const Payload& payload, MinuteDeltas& minutes, JobId& max_inserted);
  void apply_finish(const JobInfo& job, MinuteDeltas& minutes);
  void write_minutes(MinuteDeltas& minutes);
  void write_max_id(JobId id);

  template <class F>
  auto read(const char* what, F&& f) -> decltype(f(std::declval<SQLite::Database&>()));

  std::unique_ptr<SQLite::Database> db_;      // the writer's connection
  std::unique_ptr<SQLite::Database> reader_;  // read-only; null for ":memory:"
  SqliteStoreOptions opts_;
  std::shared_ptr<spdlog::logger> log_;
  std::atomic<int> lock_fd_{-1};

  std::optional<SQLite::Statement> insert_, update_queued_, start_, progress_, finish_, prior_status_,
      add_totals_, save_task_, drop_minutes_, read_minute_, write_minute_, write_max_id_;

  mutable std::mutex read_mutex_;  // the reader connection (or, for ":memory:", the only one)
  WriteQueue<Op> writes_;          // last of the writer's state: its thread stops before the rest goes

  store_ops::CommitCounters counters_;
};

}  // namespace shelfjobs::detail

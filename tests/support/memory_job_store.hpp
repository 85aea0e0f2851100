// SPDX-License-Identifier: MIT
#pragma once
// An in-memory JobStore for tests: the contract of job_store.hpp without a file.
//
// Same semantics as the SQLite store: writes are queued and applied in call order by one writer
// thread in batches (one batch is one "commit"); a write's Done runs on that thread after its
// batch is applied; reads and flush wait for every write called before them; a terminal finish
// adds to the type's totals and minute figures once; prune leaves totals alone; close applies
// what is queued and drops later writes (Done(false)).
//
// Test extras: `put` writes a row before start() (jobs an earlier process left), `reopen` makes
// a closed store loadable and startable again (a restart that keeps the "file"), and
// `MemoryStoreOptions::before_commit` lets a test fail or slow commits (see FaultJobStore).
//
// Thread-safety: every member may be called from any thread, as the contract says.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/store/write_queue.hpp"
#include "shelfjobs/engine/job_store.hpp"

namespace testing {

struct MemoryStoreOptions {
  /// Called on the writer thread before each commit attempt (and before a prune or
  /// write_recovered), with the number of writes in the batch. A returned message fails the
  /// attempt: nothing of the batch is applied, write_errors counts it, and the batch is retried
  /// after a backoff. It may sleep (a slow commit). Must be thread-safe; default: none.
  std::function<std::optional<std::string>(std::size_t writes)> before_commit;
  /// Backoff after a failed commit, doubling up to the max.
  std::chrono::milliseconds retry_backoff{1};
  std::chrono::milliseconds max_retry_backoff{20};
  /// While closing, a batch is dropped (Done(false)) after this many failed attempts, as the
  /// SQLite store does after 5.
  int close_attempts = 5;
};

class MemoryJobStore : public shelfjobs::JobStore {
 public:
  explicit MemoryJobStore(MemoryStoreOptions options = {});
  ~MemoryJobStore() override;

  MemoryJobStore(const MemoryJobStore&) = delete;
  MemoryJobStore& operator=(const MemoryJobStore&) = delete;

  shelfjobs::Result<shelfjobs::StoredState> load(shelfjobs::TimePoint since) override;
  shelfjobs::Status write_recovered(const std::vector<shelfjobs::JobInfo>& jobs) override;
  void start() override;

  void insert(const shelfjobs::JobInfo& job, std::string body_text, Done done = {}) override;
  void update_queued(shelfjobs::JobId id, shelfjobs::Priority priority, shelfjobs::Trigger trigger,
                     const std::string& event) override;
  void start_job(shelfjobs::JobId id, shelfjobs::TimePoint started_at, int attempt) override;
  void progress(shelfjobs::JobId id, const shelfjobs::Progress& progress) override;
  void finish(const shelfjobs::JobInfo& job, Done done = {}) override;
  void save_task(const shelfjobs::TaskRow& row) override;
  void flush() override;

  shelfjobs::Result<std::optional<shelfjobs::JobInfo>> get(shelfjobs::JobId id) override;
  shelfjobs::Result<shelfjobs::JobPage> list(const shelfjobs::JobQuery& query) override;
  shelfjobs::Result<std::int64_t> prune(std::optional<shelfjobs::TimePoint> cutoff,
                                        std::int64_t max_rows) override;
  /// Checks the rows (a finished job without an end is a finding); a planned fault fails it as
  /// it fails a prune.
  shelfjobs::Result<shelfjobs::StoreMaintenanceReport> maintain(
      const shelfjobs::StoreMaintenanceOptions& options) override;
  void drop_minutes(shelfjobs::TimePoint before) override;

  shelfjobs::StoreHealth stats() const override;
  void close() override;

  /// Writes a job row as it is (no totals), before start() or after close().
  void put(const shelfjobs::JobInfo& job);
  /// After close(): the store may be loaded and started again with what it holds.
  void reopen();

 private:
  struct State {
    std::map<shelfjobs::JobId, shelfjobs::JobInfo> jobs;
    std::map<std::string, shelfjobs::TaskRow> tasks;
    std::map<std::string, shelfjobs::TypeTotals> totals;
    std::map<std::pair<std::int64_t, std::string>, shelfjobs::MinuteFigures> minutes;
    shelfjobs::JobId max_id = 0;
  };
  using Apply = std::function<void(State&)>;
  struct Op {
    Apply apply;
    Done done;
    std::uint64_t seq = 0;
  };

  static void apply_finish(State& s, const shelfjobs::JobInfo& job);
  void enqueue(Apply apply, Done done);
  void commit(std::vector<Op>& batch);
  std::optional<std::string> check_fault(std::size_t writes);

  MemoryStoreOptions opts_;

  mutable std::mutex state_mutex_;
  State state_;

  shelfjobs::detail::WriteQueue<Op> writes_;

  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> write_errors_{0};
  std::atomic<bool> failing_{false};  ///< the latest commit attempt failed
  std::atomic<std::int64_t> last_commit_us_{0};
  std::atomic<std::int64_t> max_commit_us_{0};
};

}  // namespace testing

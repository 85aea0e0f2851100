// SPDX-License-Identifier: MIT
#pragma once
// The PostgreSQL store's group commit, as sets instead of statements: a batch of job writes
// (insert, update_queued, start, progress, finish) folded into what each row must become, so
// that a batch costs a handful of statements (one INSERT of every new row, one UPDATE of every
// changed row, the figures) whatever its size. On a server every statement is a round trip;
// the SQLite store, in process, applies its writes one by one instead.
//
// Pure: no connection, no SQL execution; the store turns a `JobWriteSet` into statements
// (postgres_job_store.cpp) and `array_literal` into their array parameters.

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "shelfjobs/engine/job.hpp"
#include "shelfjobs/engine/job_store.hpp"

namespace shelfjobs::detail::pg {

/// A job row inserted by this batch, with every later write of the batch folded in.
struct NewRow {
  JobInfo row;
  std::string body;
  SharedKeys keys;  ///< a shared queue's insert: its dedup and tick keys
};

/// A row that existed before the batch: the groups of columns the batch's writes set (later
/// writes win) and their values in `row` (only the set groups are meaningful).
struct RowPatch {
  JobInfo row;
  bool queued_fields = false;    ///< priority, trigger, event
  bool start_fields = false;     ///< status, started_at, attempt
  bool progress_fields = false;  ///< progress_current, progress_total, progress_message
  bool finish_fields = false;    ///< every column but the body (a finish writes them all)
  /// A shared queue's node that wrote it last (its attempt token): the row changes only while
  /// that node owns it. 0: no check (a store that serves one engine).
  std::int64_t node = 0;
};

/// A finish with a terminal status, in call order: the totals and minutes count it when the row
/// was not terminal before it. `prior` is that status when the batch itself set it; without one,
/// the row's status before the batch decides (and a row that does not exist is not counted).
struct TerminalFinish {
  JobInfo job;
  std::optional<JobStatus> prior;
};

struct JobWriteSet {
  std::vector<NewRow> inserts;    ///< in insert order
  std::vector<RowPatch> updates;  ///< one per row, in the order each was first touched
  std::vector<TerminalFinish> finishes;
};

/// Folds job writes into a write set. Call in batch order.
class JobWriteFolder {
 public:
  void insert(const JobInfo& job, const std::string& body, const SharedKeys& keys = {});
  /// The node token of the writes that follow (see RowPatch::node).
  void at_node(std::int64_t node) { node_ = node; }
  void update_queued(JobId id, Priority priority, Trigger trigger, const std::string& event);
  void start(JobId id, TimePoint started_at, int attempt);
  void progress(JobId id, const Progress& progress);
  void finish(const JobInfo& job);
  bool empty() const { return set_.inserts.empty() && set_.updates.empty(); }
  /// The write set so far; the folder is empty again afterwards.
  JobWriteSet take();

 private:
  // The row a write lands on: the batch's own insert (patch is then null), or the patch of an
  // older row, made on first touch.
  JobInfo& target(JobId id, RowPatch*& patch);

  JobWriteSet set_;
  std::unordered_map<JobId, std::size_t> new_at_, patch_at_;  // id -> index in inserts / updates
  std::unordered_map<JobId, JobStatus> status_;               // the status the batch set so far
  std::int64_t node_ = 0;
};

/// A PostgreSQL array literal of `values` ("{"a","b",NULL}"), every element quoted and escaped,
/// so any text (quotes, backslashes, braces, commas, non-ASCII) passes as one parameter.
std::string array_literal(const std::vector<std::optional<std::string>>& values);

}  // namespace shelfjobs::detail::pg

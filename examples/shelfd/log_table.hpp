// SPDX-License-Identifier: MIT
#pragma once
// shelfd's log table: the log lines the API serves (GET /api/v1/log), in a SQLite file of their
// own in the data folder (logs.db), so a burst of logging never competes with the job store or
// the catalog for their write locks.
//
// The hot path is `LogTableSink` (an spdlog sink): a log call only appends to a bounded queue
// under a short lock; one writer thread takes what is queued and writes it in one transaction,
// at most every `flush_interval` or when `batch` lines wait. A full queue drops the line and
// counts it (`dropped()`): logging never blocks a job. `flush()` waits until everything queued
// before it is written (tests, ClearLog).
//
// Errors: `open` returns an error naming the file; later failures of the writer are counted
// (`write_errors()`) and the batch dropped (a log table is a convenience, the rotating files
// keep every line).
//
// Thread-safety: every member may be called from any thread.

#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/base_sink.h>

#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/job.hpp"

namespace shelfd {

struct LogRow {
  std::int64_t id = 0;
  shelfjobs::TimePoint time{};
  std::string level;  // Readarr's names: trace, debug, info, warn, error, fatal
  std::string logger;
  std::string message;
  std::string exception;
  std::string exception_type;
};

struct LogQuery {
  std::int64_t page = 1, page_size = 50;
  bool ascending = false;  // sortDirection
  bool by_id = false;      // sortKey "id" (else "time")
  std::string min_level;   // "": every level; else this level and the ones above it
};

struct LogPage {
  std::vector<LogRow> records;
  std::int64_t total = 0;
};

class LogTable {
 public:
  /// Opens (creating) the file. Errors: store_error naming it.
  static shelfjobs::Result<std::shared_ptr<LogTable>> open(const std::filesystem::path& path);
  ~LogTable();
  LogTable(const LogTable&) = delete;
  LogTable& operator=(const LogTable&) = delete;

  /// Appends rows (one transaction) and sets their ids. Errors: store_error.
  shelfjobs::Status append(std::vector<LogRow>& rows);
  /// Errors: invalid_argument (a level that is not one of Readarr's), store_error.
  shelfjobs::Result<LogPage> page(const LogQuery& q);
  /// Deletes every row; returns how many.
  shelfjobs::Result<std::int64_t> clear();
  /// Deletes rows older than `cutoff`; returns how many.
  shelfjobs::Result<std::int64_t> trim(shelfjobs::TimePoint cutoff);
  const std::filesystem::path& path() const { return path_; }

 private:
  LogTable() = default;
  std::mutex mu_;
  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
};

/// The level's rank (trace 0 .. fatal 5), or -1 for an unknown name.
int log_level_rank(const std::string& level);

class LogTableSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit LogTableSink(std::shared_ptr<LogTable> table, std::size_t capacity = 10000,
                        std::size_t batch = 256,
                        std::chrono::milliseconds flush_interval = std::chrono::milliseconds(500));
  ~LogTableSink() override;
  /// Ends the writer after writing what is queued. Idempotent.
  void stop();
  /// Waits until every line queued before the call is written (or dropped by a failure).
  void wait_written();
  std::uint64_t dropped() const;
  std::uint64_t write_errors() const;
  /// Called on the writer thread with each warning or error once it is written (the
  /// dashboard's live list). Must not log. Set before lines flow, or accept missing some.
  void set_listener(std::function<void(const LogRow&)> listener);

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  void run();
  std::shared_ptr<LogTable> table_;
  std::size_t capacity_, batch_;
  std::chrono::milliseconds interval_;
  mutable std::mutex qmu_;
  std::condition_variable cv_, written_cv_;
  std::deque<LogRow> queue_;
  std::uint64_t queued_ = 0, written_ = 0, dropped_ = 0, errors_ = 0;
  bool stopping_ = false;
  bool urgent_ = false;                          // a waiter wants the queue written now
  std::function<void(const LogRow&)> listener_;  // guarded by qmu_; called without it
  std::thread writer_;
};

}  // namespace shelfd

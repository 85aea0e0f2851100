// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The SQLite job store, the embedded default implementation of `JobStore`: its options and how
/// to open one. `Engine::create` opens one at `EngineOptions::store_path` unless a store is
/// injected; hosts and tools open one directly to read a job file.

#include <chrono>
#include <memory>
#include <string>

#include <spdlog/fwd.h>

#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/job_store.hpp"

namespace shelfjobs {

/// Options of the SQLite job store.
struct SqliteStoreOptions {
  /// The file; created if missing. ":memory:" keeps jobs in memory only (one connection, so
  /// reads run on it between two commits rather than beside them).
  std::string path = "shelfjobs.db";
  /// PRAGMA synchronous=FULL (survives power loss) instead of NORMAL (survives a process crash).
  bool sync_full = false;
  /// How long opening, and each statement after, waits for another process's lock on the file
  /// (a backup, the sqlite3 shell) before failing with store_error. Not negative. Default: 5 s
  /// (`EngineOptions::store_busy_timeout`).
  std::chrono::milliseconds busy_timeout{5000};
  /// How long the writer holds a batch of writes that nobody waits for (job starts, finishes,
  /// progress) so that the writes behind it share its commit: fewer commits, less CPU per job.
  /// A read, a flush or a durable push ends the wait at once, so the engine's own reads never
  /// see a stale row; a reader of the file through another connection may see such a write up
  /// to this much later (a backup flushes first: JobContext::flush_store), and a process killed
  /// within it loses the held writes as it would lose an uncommitted batch (their jobs are
  /// recovered as after any crash). Not negative; 0 commits each batch at once.
  std::chrono::microseconds commit_linger{250};
  std::shared_ptr<spdlog::logger> logger;
};

/// Opens (or creates and migrates) a SQLite job store. Takes an exclusive lock beside the file
/// (`path + ".lock"`) so two engines never share one store.
/// Errors: store_error (cannot open, locked by another process, a newer schema, migration
/// failed), each message naming the file; invalid_argument (a negative `commit_linger`).
Result<std::unique_ptr<JobStore>> open_sqlite_job_store(SqliteStoreOptions options);

/// The version of the job store's schema ("jobs") this build writes; a file above it is refused.
int job_store_schema_version() noexcept;

}  // namespace shelfjobs

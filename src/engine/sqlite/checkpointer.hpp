// SPDX-License-Identifier: MIT
#pragma once
// The checkpointer: the checkpoints of a file's write-ahead log, run on a thread of their own,
// so that the connection that writes never waits for them.
//
// Left to itself, SQLite checkpoints from inside the commit that takes the log past
// `wal_autocheckpoint` pages: that commit copies the log into the database file and syncs both
// files before it returns, and every write queued behind it waits as long. On a virtual disk a
// sync takes milliseconds; the job store's writer spent about a quarter of its time in them, and
// a durable push waits for its batch's commit (ADR 0018).
//
// What it does: it turns the writer connection's automatic checkpoint off and watches its
// commits (sqlite3_wal_hook, which reports the log's size after each one). When the log has
// grown by `threshold_pages` since the last checkpoint asked for, it wakes its thread, which runs
// a PASSIVE checkpoint through a connection of its own. A PASSIVE checkpoint takes no lock a
// writer needs: the writer goes on appending to the log meanwhile, and starts the log again from
// its beginning at its first commit after a complete checkpoint, as after one of its own. A
// reader that still needs the log's last frames holds a checkpoint back as it always did; the
// next one is asked for only once the log has grown another `threshold_pages` (SQLite's own
// hook tries again at every commit), so a long read does not make the checkpoints spin.
//
// The log starts over only at a commit that finds all of it copied. Beside a steady stream of
// commits a checkpoint never leaves it so (the writer adds frames while it copies), so once the
// log reaches kCatchUpThresholds thresholds the writer copies what is left itself, as SQLite
// would have, after waiting for a checkpoint the thread has in progress; the log starts over at
// its next commit. It stays bounded however long the stream lasts, and the writer syncs once
// per four thresholds instead of at each.
//
// Durability is SQLite's: the checkpointer's connection has the writer's `synchronous`, so the
// log is synced before any of it is copied, and a process killed mid-checkpoint leaves a file
// that opens with every commit that returned.
//
// Errors: a failed checkpoint (a full disk, an I/O error) is logged and counted, and tried again
// when the log has grown another `threshold_pages`; the writer never sees it. Another connection
// checkpointing at the same time (a maintenance run's TRUNCATE) is not a failure: that one does
// the work.
//
// Thread-safety: start() and stop() from the thread that owns the writer connection while no
// other thread uses it (the hook is installed and removed on it); figures() from any thread.
// Ownership: the writer connection is borrowed and must outlive stop() (the destructor calls
// it); the checkpointer's own connection and thread are its own.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>
#include <spdlog/logger.h>

#include "engine/sqlite/sqlite_toolkit.hpp"
#include "engine/sync.hpp"
#include "shelfjobs/engine/error.hpp"

struct sqlite3;

namespace shelfjobs::sqlite {

/// SQLite's own default for `wal_autocheckpoint`: about 4 MB of log with 4 KiB pages.
inline constexpr int kDefaultCheckpointPages = 1000;
/// A log this many thresholds long that has not started over is checkpointed by the writer.
inline constexpr int kCatchUpThresholds = 4;

struct CheckpointOptions {
  /// What the file is, for log lines and errors.
  std::string what = "database";
  /// The checkpointer connection's busy_timeout (opening it, and a checkpoint other than PASSIVE).
  std::chrono::milliseconds busy_timeout = kDefaultBusyTimeout;
  /// The writer's `synchronous`: FULL (true) or NORMAL.
  bool sync_full = false;
  /// A checkpoint is asked for each time the log has grown by this many pages. At least 1.
  int threshold_pages = kDefaultCheckpointPages;
  std::shared_ptr<spdlog::logger> logger;
  /// Runs on the checkpointer's thread before each checkpoint: for tests, which hold a
  /// checkpoint back to see the writer go on without it. Empty in production.
  std::function<void()> before_checkpoint;
};

/// What the checkpointer did so far.
struct CheckpointFigures {
  std::uint64_t asked = 0;        ///< checkpoints the writer's commits asked for
  std::uint64_t checkpoints = 0;  ///< checkpoints run to their end by the thread (complete or not)
  std::uint64_t by_writer = 0;    ///< catch-up checkpoints the writer ran (kCatchUpThresholds)
  std::uint64_t failures = 0;     ///< checkpoints that failed (logged)
  int log_frames = 0;             ///< the log's size at the last checkpoint, in frames
  int backfilled = 0;             ///< of them, copied into the database file
};

class Checkpointer {
 public:
  /// Opens a connection of its own to `path` (which `writer` has open, in WAL mode), takes over
  /// `writer`'s checkpoints and starts the thread. Errors: `store_error` naming the file when
  /// the connection cannot be opened; `invalid_argument` for a threshold below 1. On error the
  /// writer keeps its automatic checkpoint.
  static Result<std::unique_ptr<Checkpointer>> start(SQLite::Database& writer,
                                                     const std::filesystem::path& path,
                                                     CheckpointOptions options);

  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;
  ~Checkpointer();

  /// Gives the writer its automatic checkpoint back (at `threshold_pages`), then waits for a
  /// checkpoint in progress and ends the thread. A second call does nothing.
  void stop();

  CheckpointFigures figures() const;

 private:
  Checkpointer(SQLite::Database& writer, std::unique_ptr<SQLite::Database> conn, CheckpointOptions options);

  // sqlite3_wal_hook's callback: on the writer's thread, after each commit.
  static int on_commit(void* self, sqlite3* db, const char* schema, int log_pages);
  void ask() EXCLUDES(mu_);
  void run() EXCLUDES(mu_);
  void counted(int rc, int log, int backfilled, bool by_writer) EXCLUDES(mu_);
  void wait_thread_idle() EXCLUDES(mu_);

  SQLite::Database* writer_;
  std::unique_ptr<SQLite::Database> conn_;  // the checkpointer thread's only
  const CheckpointOptions opts_;

  // The writer's thread only (the hook): the log's size at its last commit, the size at which
  // the next checkpoint is asked for, and the size at which the writer catches up itself.
  int last_pages_ = 0;
  int ask_at_ = 0;
  int catch_up_at_ = 0;

  mutable shelfjobs::detail::Mutex mu_;
  std::condition_variable cv_;       // the thread waits to be asked
  std::condition_variable idle_cv_;  // the writer waits for a checkpoint of the thread to end
  bool asked_ GUARDED_BY(mu_) = false;
  bool running_ GUARDED_BY(mu_) = false;  // the thread is inside a checkpoint
  bool stopping_ GUARDED_BY(mu_) = false;
  bool stopped_ GUARDED_BY(mu_) = false;
  CheckpointFigures figures_ GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace shelfjobs::sqlite

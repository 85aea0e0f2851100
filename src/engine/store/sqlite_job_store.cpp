// SPDX-License-Identifier: MIT
#include "engine/store/sqlite_job_store.hpp"

#include "engine/sqlite/maintenance.hpp"
#include "engine/sqlite/sqlite_toolkit.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>

namespace shelfjobs::detail {

using namespace store_ops;

namespace {

using sqlite::bind;
using sqlite::column;
using sqlite::from_ms;
using sqlite::to_ms;

bool single_connection(const std::string& path) {
  return path == ":memory:" || path.find("mode=memory") != std::string::npos;
}

// The bin of a duration as a SQL expression over `d`, built from kDurationBinBoundsMs so the
// migration and duration_bin() cannot disagree.
std::string sql_duration_bin(const std::string& d) {
  std::string sql = "CASE";
  for (std::size_t i = 0; i < kDurationBinBoundsMs.size(); ++i) {
    sql += " WHEN " + d + " < " + std::to_string(kDurationBinBoundsMs[i]) + " THEN " + std::to_string(i);
  }
  sql += " ELSE " + std::to_string(kDurationBinBoundsMs.size()) + " END";
  return sql;
}

// The rows as the store reads them, in SELECT order: readers index them by name.
constexpr sqlite::Columns kJob{"id",
                               "name",
                               "body",
                               "priority",
                               "trigger",
                               "event",
                               "status",
                               "queued_at",
                               "started_at",
                               "ended_at",
                               "duration_ms",
                               "attempt",
                               "progress_current",
                               "progress_total",
                               "progress_message",
                               "message",
                               "error_kind",
                               "error",
                               "not_before",
                               "max_attempts",
                               "task"};
constexpr sqlite::Columns kTask{"name",
                                "command",
                                "body",
                                "interval_s",
                                "time_of_day_min",
                                "time_zone",
                                "jitter_s",
                                "next_due",
                                "last_start",
                                "last_finish",
                                "last_status",
                                "last_message",
                                "last_duration_ms",
                                "last_job"};
constexpr sqlite::Columns kTotals{"name",       "completed",   "failed",     "cancelled",
                                  "last_start", "last_finish", "last_status"};
constexpr sqlite::Columns kMinute{"minute",          "name",     "completed", "failed", "cancelled",
                                  "duration_sum_ms", "durations"};

// The duration_ms column: a run's length once it ended, NULL before.
std::optional<std::int64_t> ended_duration_ms(const JobInfo& j) {
  if (!j.ended_at) return std::nullopt;
  return j.duration.count();
}

JobInfo row_to_job(const SQLite::Statement& st) {
  JobInfo j;
  j.id = column<JobId>(st, kJob["id"]);
  j.name = column<std::string>(st, kJob["name"]);
  j.body = nlohmann::json::parse(column<std::string>(st, kJob["body"]), nullptr, false);
  if (j.body.is_discarded()) j.body = nlohmann::json::object();
  j.priority = column<Priority>(st, kJob["priority"]);
  j.trigger = column<Trigger>(st, kJob["trigger"]);
  j.event = column<std::string>(st, kJob["event"]);
  j.status = column<JobStatus>(st, kJob["status"]);
  j.queued_at = column<TimePoint>(st, kJob["queued_at"]);
  j.started_at = column<std::optional<TimePoint>>(st, kJob["started_at"]);
  j.ended_at = column<std::optional<TimePoint>>(st, kJob["ended_at"]);
  j.duration = column<std::chrono::milliseconds>(st, kJob["duration_ms"]);  // NULL: 0
  j.attempt = column<int>(st, kJob["attempt"]);
  j.progress.current = column<std::int64_t>(st, kJob["progress_current"]);
  j.progress.total = column<std::int64_t>(st, kJob["progress_total"]);
  j.progress.message = column<std::string>(st, kJob["progress_message"]);
  j.message = column<std::string>(st, kJob["message"]);
  j.error_kind = column<ErrorKind>(st, kJob["error_kind"]);
  j.error = column<std::string>(st, kJob["error"]);
  j.not_before = column<std::optional<TimePoint>>(st, kJob["not_before"]);
  j.max_attempts = column<int>(st, kJob["max_attempts"]);
  j.task = column<std::string>(st, kJob["task"]);
  return j;
}

TaskRow row_to_task(const SQLite::Statement& st) {
  TaskRow t;
  t.name = column<std::string>(st, kTask["name"]);
  t.command = column<std::string>(st, kTask["command"]);
  t.body = column<std::string>(st, kTask["body"]);
  t.interval_s = column<std::int64_t>(st, kTask["interval_s"]);
  t.time_of_day_min = column<std::optional<std::int64_t>>(st, kTask["time_of_day_min"]);
  t.time_zone = column<std::string>(st, kTask["time_zone"]);
  t.jitter_s = column<std::int64_t>(st, kTask["jitter_s"]);
  t.next_due = column<std::optional<TimePoint>>(st, kTask["next_due"]);
  t.last_start = column<std::optional<TimePoint>>(st, kTask["last_start"]);
  t.last_finish = column<std::optional<TimePoint>>(st, kTask["last_finish"]);
  t.last_status = column<std::optional<JobStatus>>(st, kTask["last_status"]);
  t.last_message = column<std::string>(st, kTask["last_message"]);
  t.last_duration_ms = column<std::optional<std::int64_t>>(st, kTask["last_duration_ms"]);
  t.last_job = column<std::optional<JobId>>(st, kTask["last_job"]);
  return t;
}

// Binds `values` to parameters 1, 2, ... in order. A string the caller names (an lvalue: a field
// of the write being applied, a key of the batch's figures) is bound in place, without the copy
// SQLite otherwise makes of each text (an allocation and a memcpy per column, a tenth of the
// writer's time): every caller steps the statement before its objects go, and binds every
// parameter again at each use, so SQLite never reads a pointer left from an earlier use. A
// temporary (an encoded histogram) is copied as before.
template <class V>
void bind_one(SQLite::Statement& st, int i, V&& value) {
  if constexpr (std::is_lvalue_reference_v<V> && std::is_same_v<std::remove_cvref_t<V>, std::string>) {
    st.bindNoCopy(i, value);
  } else {
    sqlite::bind(st, i, std::as_const(value));  // qualified: ADL would find std::bind
  }
}

template <class... V>
void bind_all(SQLite::Statement& st, V&&... values) {
  int i = 0;
  (bind_one(st, ++i, std::forward<V>(values)), ...);
}

}  // namespace

// ------------------------------------------------------------------ schema

const std::vector<std::string>& job_store_migrations() {
  // Append only: a released migration never changes, a new one is a new entry. 1-3 are the
  // schema of the store before the JobStore interface, so its files open unchanged.
  static const std::vector<std::string> migrations = {
      R"sql(
CREATE TABLE jobs (
  id               INTEGER PRIMARY KEY,
  name             TEXT    NOT NULL,
  body             TEXT    NOT NULL,
  priority         INTEGER NOT NULL,
  trigger          INTEGER NOT NULL,
  event            TEXT    NOT NULL DEFAULT '',
  status           INTEGER NOT NULL,
  queued_at        INTEGER NOT NULL,
  started_at       INTEGER,
  ended_at         INTEGER,
  duration_ms      INTEGER,
  attempt          INTEGER NOT NULL DEFAULT 1,
  progress_current INTEGER NOT NULL DEFAULT 0,
  progress_total   INTEGER NOT NULL DEFAULT 0,
  progress_message TEXT    NOT NULL DEFAULT '',
  message          TEXT    NOT NULL DEFAULT '',
  error_kind       INTEGER NOT NULL DEFAULT 0,
  error            TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX jobs_by_status ON jobs(status, id);
CREATE INDEX jobs_by_name ON jobs(name, id);
)sql",
      // 2: retries and delayed jobs, scheduled tasks, per-type history that outlives pruning.
      R"sql(
ALTER TABLE jobs ADD COLUMN not_before INTEGER;
ALTER TABLE jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN task TEXT NOT NULL DEFAULT '';
CREATE TABLE scheduled_tasks (
  name             TEXT PRIMARY KEY,
  command          TEXT    NOT NULL,
  body             TEXT    NOT NULL,
  interval_s       INTEGER NOT NULL,
  time_of_day_min  INTEGER,
  time_zone        TEXT    NOT NULL DEFAULT '',
  jitter_s         INTEGER NOT NULL DEFAULT 0,
  next_due         INTEGER,
  last_start       INTEGER,
  last_finish      INTEGER,
  last_status      INTEGER,
  last_message     TEXT    NOT NULL DEFAULT '',
  last_duration_ms INTEGER,
  last_job         INTEGER
);
CREATE TABLE job_stats (
  name              TEXT PRIMARY KEY,
  completed         INTEGER NOT NULL DEFAULT 0,
  failed            INTEGER NOT NULL DEFAULT 0,
  cancelled         INTEGER NOT NULL DEFAULT 0,
  duration_ms_total INTEGER NOT NULL DEFAULT 0
);
)sql",
      // 3: the highest job id ever handed out, so pruning the newest rows never lets an id
      // come back.
      R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
)sql",
      // 4: figures kept as runs end, so opening costs what the active jobs cost, not the
      // history. Until now job_stats held only what pruning removed and opening added up the
      // jobs table; from here on it holds all-time totals, so the finished rows still in jobs are
      // folded in once. job_minutes gets the runs of the last 24 hours. max_job_id starts from what the table
      // and earlier prunes know (later builds keep it at each prune only: see prune_in).
      std::string(R"sql(
ALTER TABLE job_stats ADD COLUMN last_start INTEGER;
ALTER TABLE job_stats ADD COLUMN last_finish INTEGER;
ALTER TABLE job_stats ADD COLUMN last_status INTEGER;
INSERT INTO job_stats (name, completed, failed, cancelled, duration_ms_total)
  SELECT name, SUM(status = 2), SUM(status = 3), SUM(status = 4),
         COALESCE(SUM(CASE WHEN status IN (2, 3) AND started_at IS NOT NULL
                           THEN MAX(duration_ms, 0) END), 0)
  FROM jobs WHERE status IN (2, 3, 4) GROUP BY name
  ON CONFLICT(name) DO UPDATE SET
    completed = completed + excluded.completed,
    failed = failed + excluded.failed,
    cancelled = cancelled + excluded.cancelled,
    duration_ms_total = duration_ms_total + excluded.duration_ms_total;
UPDATE job_stats SET
  (last_finish, last_status) = (
    SELECT ended_at, status FROM jobs
    WHERE jobs.name = job_stats.name AND status IN (2, 3, 4) AND ended_at IS NOT NULL
    ORDER BY ended_at DESC, id DESC LIMIT 1),
  last_start = (
    SELECT MAX(started_at) FROM jobs WHERE jobs.name = job_stats.name AND status IN (2, 3, 4));
CREATE TABLE job_minutes (
  minute          INTEGER NOT NULL,
  name            TEXT    NOT NULL,
  completed       INTEGER NOT NULL DEFAULT 0,
  failed          INTEGER NOT NULL DEFAULT 0,
  cancelled       INTEGER NOT NULL DEFAULT 0,
  duration_sum_ms INTEGER NOT NULL DEFAULT 0,
  durations       TEXT    NOT NULL DEFAULT '',
  PRIMARY KEY (minute, name)
) WITHOUT ROWID;
WITH recent AS (
  SELECT ended_at - (ended_at % 60000) AS minute, name, status,
         CASE WHEN status IN (2, 3) AND started_at IS NOT NULL
              THEN MAX(COALESCE(duration_ms, 0), 0) END AS d
  FROM jobs
  WHERE status IN (2, 3, 4) AND ended_at IS NOT NULL
    AND ended_at >= CAST(strftime('%s', 'now') AS INTEGER) * 1000 - 86400000),
binned AS (
  SELECT minute, name, )sql") +
          sql_duration_bin("d") + R"sql( AS bin, COUNT(*) AS n
  FROM recent WHERE d IS NOT NULL GROUP BY minute, name, bin),
hist AS (
  SELECT minute, name, group_concat(bin || ':' || n, ',') AS durations
  FROM (SELECT * FROM binned ORDER BY minute, name, bin) GROUP BY minute, name)
INSERT INTO job_minutes (minute, name, completed, failed, cancelled, duration_sum_ms, durations)
  SELECT r.minute, r.name, SUM(r.status = 2), SUM(r.status = 3), SUM(r.status = 4),
         COALESCE(SUM(r.d), 0), COALESCE(h.durations, '')
  FROM recent r LEFT JOIN hist h ON h.minute = r.minute AND h.name = r.name
  GROUP BY r.minute, r.name;
INSERT INTO meta (key, value) SELECT 'max_job_id', COALESCE(MAX(id), 0) FROM jobs WHERE true
  ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value);
CREATE INDEX jobs_active ON jobs(id) WHERE status IN (0, 1);
)sql",
      // 5: a job's status changes three times (queued, executing, finished), and each change
      // moved its entry in jobs_by_status: two or three index pages more in the log of every
      // commit, a quarter of what a commit of a few jobs writes. Listing by status needs an
      // index only where the rows are few: the active jobs (jobs_active) and the failed and
      // cancelled ones, which a job enters once. Finished runs are most of the table, so a
      // listing of completed ones walks it newest first and stops at its page.
      R"sql(
DROP INDEX jobs_by_status;
CREATE INDEX jobs_unsuccessful ON jobs(id) WHERE status IN (3, 4);
)sql",
  };
  return migrations;
}

// ------------------------------------------------------------------ opening

Result<std::unique_ptr<SqliteJobStore>> SqliteJobStore::open(SqliteStoreOptions options) {
  const std::string path = options.path;
  if (path.empty()) return Error{errc::store_error, "job store path is empty"};
  if (options.commit_linger.count() < 0) {
    return Error{errc::invalid_argument, "job store " + path + ": commit_linger must not be negative"};
  }
  if (!options.logger) options.logger = spdlog::default_logger();
  // One engine per store: a second one would hand out the same ids. The lock is an flock on a
  // file beside the store, so the kernel drops it when the process dies, however it dies.
  int lock_fd = -1;
  if (!single_connection(path) && path.rfind("file:", 0) != 0) {
    const std::string lock_path = path + ".lock";
    lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0) {
      return Error{errc::store_error,
                   "cannot open job store " + path + ": " + lock_path + ": " + std::strerror(errno)};
    }
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(lock_fd);
      return Error{errc::store_error,
                   "job store " + path + " is in use by another engine (lock held on " + lock_path + ")"};
    }
  }
  struct LockGuard {
    int& fd;
    ~LockGuard() {
      if (fd >= 0) ::close(fd);
    }
  } lock_guard{lock_fd};
  auto opened = sqlite::open(path, {.what = "job store",
                                    .busy_timeout = options.busy_timeout,
                                    .sync_full = options.sync_full,
                                    .single_threaded = true});
  if (!opened) return opened.error();
  auto db = std::move(opened).value();
  // The lock above keeps other engines out; migrate() is race-safe besides. The version is
  // also kept in PRAGMA user_version, where releases before the toolkit kept it alone.
  if (auto migrated = sqlite::migrate(*db, "jobs", job_store_migrations(),
                                      {.legacy = {.user_version = true}, .what = "job store"});
      !migrated) {
    return migrated.error();
  }
  // Reads run on a connection of their own (WAL lets it read beside the writer), except for
  // ":memory:", which is private to its one connection.
  std::unique_ptr<SQLite::Database> reader;
  if (!single_connection(path)) {
    auto read_conn = sqlite::open(path, {.what = "job store",
                                         .busy_timeout = options.busy_timeout,
                                         .create = false,
                                         .query_only = true,
                                         .single_threaded = true});
    if (!read_conn) return read_conn.error();
    reader = std::move(read_conn).value();
  }
  // The log's checkpoints run beside the writer, on a third connection: the commit that takes
  // the log past its threshold no longer copies it into the file and syncs both while every
  // write behind it waits (ADR 0018).
  std::unique_ptr<sqlite::Checkpointer> checkpointer;
  if (!single_connection(path)) {
    auto started = sqlite::Checkpointer::start(*db, path,
                                               {.what = "job store",
                                                .busy_timeout = options.busy_timeout,
                                                .sync_full = options.sync_full,
                                                .logger = options.logger});
    if (!started) return started.error();
    checkpointer = std::move(started).value();
  }
  try {
    auto store = std::unique_ptr<SqliteJobStore>(new SqliteJobStore(
        std::move(db), std::move(reader), std::move(checkpointer), std::move(options), lock_fd));
    lock_fd = -1;  // owned by the store now
    return store;
  } catch (const std::exception& e) {
    return Error{errc::store_error, "cannot open job store " + path + ": " + e.what()};
  }
}

SqliteJobStore::SqliteJobStore(std::unique_ptr<SQLite::Database> db, std::unique_ptr<SQLite::Database> reader,
                               std::unique_ptr<sqlite::Checkpointer> checkpointer, SqliteStoreOptions options,
                               int lock_fd)
    : db_(std::move(db)),
      reader_(std::move(reader)),
      checkpointer_(std::move(checkpointer)),
      opts_(std::move(options)),
      log_(opts_.logger),
      lock_fd_(lock_fd) {
  prepare();
}

SqliteJobStore::~SqliteJobStore() {
  close();
  for (auto* st : statements_of(*this)) st->reset();  // statements before their connection
  transaction_.reset();
  checkpointer_.reset();
  reader_.reset();
  db_.reset();
}

std::vector<std::string> SqliteJobStore::write_statements() const {
  std::vector<std::string> out;
  for (const auto* st : statements_of(*this)) {
    if (*st) out.push_back((*st)->getQuery());
  }
  return out;
}

void SqliteJobStore::prepare() {
  auto& db = *db_;
  transaction_.emplace(db);
  insert_.emplace(db,
                  "INSERT INTO jobs (id, name, body, priority, trigger, event, status, queued_at, "
                  "attempt, not_before, task) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  {
    std::string values;
    for (std::size_t i = 1; i <= kJob.size(); ++i) values += (i == 1 ? "?" : ", ?") + std::to_string(i);
    insert_final_.emplace(db, "INSERT INTO jobs (" + kJob.list() + ") VALUES (" + values + ")");
  }
  update_queued_.emplace(db, "UPDATE jobs SET priority = ?, trigger = ?, event = ? WHERE id = ?");
  start_.emplace(db, "UPDATE jobs SET status = 1, started_at = ?, attempt = ? WHERE id = ?");
  progress_.emplace(db,
                    "UPDATE jobs SET progress_current = ?, progress_total = ?, "
                    "progress_message = ? WHERE id = ?");
  finish_.emplace(db,
                  "UPDATE jobs SET status = ?, started_at = ?, ended_at = ?, duration_ms = ?, "
                  "attempt = ?, progress_current = ?, progress_total = ?, progress_message = ?, "
                  "message = ?, error_kind = ?, error = ?, priority = ?, trigger = ?, event = ?, "
                  "not_before = ?, max_attempts = ?, task = ? WHERE id = ?");
  // The same write, to a row that is not terminal yet: its change count says whether the finish
  // counts, so the common finish costs one statement, not a read of the status and a write.
  // Named as the two live statuses, not as "NOT IN" the three terminal ones: SQLite tests a
  // constant list of up to two values with comparisons, but builds a temporary table for a
  // longer one, on every run of the statement (a b-tree and its pager opened and closed: a sixth
  // of the writer's time in a stream of quick jobs).
  static_assert(static_cast<int>(JobStatus::queued) == 0 && static_cast<int>(JobStatus::executing) == 1 &&
                static_cast<int>(JobStatus::completed) == 2 && static_cast<int>(JobStatus::failed) == 3 &&
                static_cast<int>(JobStatus::cancelled) == 4);
  finish_live_.emplace(db, finish_->getQuery() + " AND status IN (0, 1)");
  prior_status_.emplace(db, "SELECT status FROM jobs WHERE id = ?");
  add_totals_.emplace(
      db,
      "INSERT INTO job_stats (name, completed, failed, cancelled, duration_ms_total, last_start, "
      "last_finish, last_status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
      "ON CONFLICT(name) DO UPDATE SET "
      "completed = completed + excluded.completed, failed = failed + excluded.failed, "
      "cancelled = cancelled + excluded.cancelled, "
      "duration_ms_total = duration_ms_total + excluded.duration_ms_total, "
      "last_start = CASE WHEN excluded.last_start IS NULL THEN last_start "
      "  WHEN last_start IS NULL OR excluded.last_start > last_start THEN excluded.last_start "
      "  ELSE last_start END, "
      "last_finish = COALESCE(excluded.last_finish, last_finish), "
      "last_status = excluded.last_status");
  save_task_.emplace(
      db,
      "INSERT OR REPLACE INTO scheduled_tasks (name, command, body, interval_s, "
      "time_of_day_min, time_zone, jitter_s, next_due, last_start, last_finish, last_status, "
      "last_message, last_duration_ms, last_job) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  drop_minutes_.emplace(db, "DELETE FROM job_minutes WHERE minute < ?");
  read_minute_.emplace(db,
                       "SELECT completed, failed, cancelled, duration_sum_ms, durations "
                       "FROM job_minutes WHERE minute = ? AND name = ?");
  write_minute_.emplace(db,
                        "INSERT OR REPLACE INTO job_minutes (minute, name, completed, failed, "
                        "cancelled, duration_sum_ms, durations) VALUES (?, ?, ?, ?, ?, ?, ?)");
}

void SqliteJobStore::reset_statements() noexcept {
  for (auto* st : statements_of(*this)) {
    try {
      if (*st) (*st)->reset();
    } catch (...) {
      // A statement that cannot reset is reset again before its next use.
    }
  }
}

// ------------------------------------------------------------------ before start()

Result<StoredState> SqliteJobStore::load(TimePoint since) {
  // Before start() or after close(): the writer connection is free. The lock keeps the
  // ":memory:" readers (which share this connection) out meanwhile.
  std::lock_guard conn(read_mutex_);
  try {
    StoredState out;
    auto& db = *db_;
    sqlite::ReadTransaction snapshot(db);  // one consistent view of all five reads
    {
      // The partial index holds the active jobs only, so this costs what they cost. Counting
      // first (on that index) spares the vector's regrowth, which cost more than the query.
      const char* const active = " FROM jobs INDEXED BY jobs_active WHERE status IN (0, 1)";
      out.active.reserve(
          static_cast<std::size_t>(db.execAndGet(std::string("SELECT COUNT(*)") + active).getInt64()));
      SQLite::Statement st(db, "SELECT " + kJob.list() + active + " ORDER BY id");
      while (st.executeStep()) out.active.push_back(row_to_job(st));
    }
    // The highest id is the highest row's, or, once pruning deleted that row, what the prune
    // kept in meta before it deleted. Both are single index lookups.
    out.max_id = db.execAndGet(
                       "SELECT MAX(COALESCE((SELECT value FROM meta WHERE key = 'max_job_id'), 0), "
                       "COALESCE((SELECT MAX(id) FROM jobs), 0))")
                     .getInt64();
    {
      SQLite::Statement st(db, "SELECT " + kTask.list() + " FROM scheduled_tasks ORDER BY name");
      while (st.executeStep()) out.tasks.push_back(row_to_task(st));
    }
    {
      SQLite::Statement st(db, "SELECT " + kTotals.list() + " FROM job_stats ORDER BY name");
      while (st.executeStep()) {
        TypeTotals t;
        t.name = column<std::string>(st, kTotals["name"]);
        t.completed = column<std::int64_t>(st, kTotals["completed"]);
        t.failed = column<std::int64_t>(st, kTotals["failed"]);
        t.cancelled = column<std::int64_t>(st, kTotals["cancelled"]);
        t.last_start = column<std::optional<TimePoint>>(st, kTotals["last_start"]);
        t.last_finish = column<std::optional<TimePoint>>(st, kTotals["last_finish"]);
        t.last_status = column<std::optional<JobStatus>>(st, kTotals["last_status"]);
        out.totals.push_back(std::move(t));
      }
    }
    {
      const char* const recent = " FROM job_minutes WHERE minute >= ?";
      SQLite::Statement count(db, std::string("SELECT COUNT(*)") + recent);
      bind(count, 1, since);
      if (count.executeStep()) {
        out.minutes.reserve(static_cast<std::size_t>(column<std::int64_t>(count, 0)));
      }
      SQLite::Statement st(db, "SELECT " + kMinute.list() + recent + " ORDER BY minute, name");
      bind(st, 1, since);
      while (st.executeStep()) {
        MinuteFigures m;
        m.minute = column<TimePoint>(st, kMinute["minute"]);
        m.name = column<std::string>(st, kMinute["name"]);
        m.completed = column<std::int64_t>(st, kMinute["completed"]);
        m.failed = column<std::int64_t>(st, kMinute["failed"]);
        m.cancelled = column<std::int64_t>(st, kMinute["cancelled"]);
        m.duration_sum_ms = column<std::int64_t>(st, kMinute["duration_sum_ms"]);
        m.durations = decode_histogram(column<std::string>(st, kMinute["durations"]));
        out.minutes.push_back(std::move(m));
      }
    }
    snapshot.commit();
    return out;
  } catch (const std::exception& e) {
    return Error{errc::store_error, "cannot read job store " + opts_.path + ": " + e.what()};
  }
}

Status SqliteJobStore::write_recovered(const std::vector<JobInfo>& jobs) {
  std::lock_guard conn(read_mutex_);
  try {
    BatchFigures figures;
    sqlite::WriteTransaction tx(*db_);
    for (const auto& j : jobs) apply_finish(j, figures);
    write_figures(figures);
    tx.commit();
    return Ok{};
  } catch (const std::exception& e) {
    reset_statements();
    return Error{errc::store_error, "cannot write recovered jobs to " + opts_.path + ": " + e.what()};
  }
}

void SqliteJobStore::start() {
  writes_.start([this](std::vector<Op>& batch) { commit_batch(batch); });
}

// ------------------------------------------------------------------ writes

void SqliteJobStore::enqueue(Payload payload, Done done) {
  Op op{std::move(payload), std::move(done)};
  if (writes_.push(op)) return;
  // Not running. Before start() this is a caller's bug; after close() it is the contract. Either
  // way the write is not applied and its Done says so (outside any lock: it is the caller's code).
  if (!writes_.closing()) log_->error("job store {}: write before start(); dropped", opts_.path);
  if (auto* p = std::get_if<Prune>(&op.payload)) {
    p->result->set_value(Error{errc::store_error, "job store " + opts_.path + " is not running"});
  }
  if (auto* m = std::get_if<Maintain>(&op.payload)) {
    m->result->set_value(Error{errc::store_error, "job store " + opts_.path + " is not running"});
  }
  if (op.done) op.done(false);
}

void SqliteJobStore::insert(const JobInfo& job, std::string body_text, Done done) {
  if (body_text.empty()) body_text = job.body.dump();
  JobInfo row = job;
  row.body = nullptr;  // written as body_text; do not carry it through the queue twice
  enqueue(Insert{std::move(row), std::move(body_text)}, std::move(done));
}

void SqliteJobStore::update_queued(JobId id, Priority priority, Trigger trigger, const std::string& event) {
  enqueue(UpdateQueued{id, priority, trigger, event}, {});
}

void SqliteJobStore::start_job(JobId id, TimePoint started_at, int attempt) {
  enqueue(StartJob{id, started_at, attempt}, {});
}

void SqliteJobStore::progress(JobId id, const Progress& p) { enqueue(ProgressOp{id, p}, {}); }

void SqliteJobStore::finish(const JobInfo& job, Done done) {
  JobInfo row = job;
  row.body = nullptr;  // the body is never rewritten; do not carry it through the queue
  enqueue(Finish{std::move(row)}, std::move(done));
}

void SqliteJobStore::save_task(const TaskRow& row) { enqueue(SaveTask{row}, {}); }

void SqliteJobStore::drop_minutes(TimePoint before) { enqueue(DropMinutes{before}, {}); }

void SqliteJobStore::flush() { writes_.wait_settled(); }

bool SqliteJobStore::apply_finish(const JobInfo& j, BatchFigures& figures, std::optional<JobStatus> prior,
                                  bool write_row) {
  // A job counts once: when its row goes from not terminal to terminal. A second terminal
  // finish, or one for a row pruned meanwhile, leaves the figures alone.
  auto write = [&](SQLite::Statement& st) {
    const std::optional<std::int64_t> duration = ended_duration_ms(j);
    bind_all(st, j.status, j.started_at, j.ended_at, duration, j.attempt, j.progress.current,
             j.progress.total, j.progress.message, j.message, j.error_kind, j.error, j.priority, j.trigger,
             j.event, j.not_before, j.max_attempts, j.task, j.id);
    const bool changed = st.exec() > 0;
    st.reset();
    return changed;
  };
  bool counts = false;
  bool exists = prior.has_value();
  bool written = false;
  if (is_terminal(j.status)) {
    if (prior) {
      counts = !is_terminal(*prior);
    } else if (write_row) {
      // Written only if it was not terminal: then it counts. Else the row is terminal already
      // or gone, and the plain write below tells which.
      counts = written = exists = write(*finish_live_);
    } else {
      auto& st = *prior_status_;
      bind(st, 1, j.id);
      if (st.executeStep()) {
        exists = true;
        counts = !is_terminal(column<JobStatus>(st, 0));
      }
      st.reset();
    }
  }
  if (write_row && !written && write(*finish_)) exists = true;
  if (!counts) return exists;
  const std::int64_t duration_ms = has_duration(j) ? std::max<std::int64_t>(0, j.duration.count()) : 0;
  {
    auto& t = figures.totals[j.name];
    t.completed += j.status == JobStatus::completed;
    t.failed += j.status == JobStatus::failed;
    t.cancelled += j.status == JobStatus::cancelled;
    t.duration_ms += duration_ms;
    if (j.started_at && (!t.last_start || *j.started_at > *t.last_start)) t.last_start = j.started_at;
    if (j.ended_at) t.last_finish = j.ended_at;
    t.last_status = j.status;
  }
  if (!j.ended_at) return exists;  // no minute to count it in
  auto& m = figures.minutes[{minute_of(to_ms(*j.ended_at)), j.name}];
  switch (j.status) {
    case JobStatus::completed: ++m.completed; break;
    case JobStatus::failed: ++m.failed; break;
    default: ++m.cancelled; break;
  }
  if (has_duration(j)) {
    m.duration_sum_ms += duration_ms;
    ++m.durations[duration_bin(std::chrono::milliseconds(duration_ms))];
  }
  return exists;
}

// One write per type and one read and one write per (minute, type) per batch: a batch of a
// thousand quick jobs of one type touches two rows.
void SqliteJobStore::write_figures(BatchFigures& figures) {
  for (const auto& [name, t] : figures.totals) {
    auto& st = *add_totals_;
    bind_all(st, name, t.completed, t.failed, t.cancelled, t.duration_ms, t.last_start, t.last_finish,
             t.last_status);
    st.exec();
    st.reset();
  }
  figures.totals.clear();
  auto& minutes = figures.minutes;
  for (auto& [key, delta] : minutes) {
    auto& rd = *read_minute_;
    bind_all(rd, key.first, key.second);
    if (rd.executeStep()) {
      delta.completed += column<std::int64_t>(rd, 0);
      delta.failed += column<std::int64_t>(rd, 1);
      delta.cancelled += column<std::int64_t>(rd, 2);
      delta.duration_sum_ms += column<std::int64_t>(rd, 3);
      const auto old = decode_histogram(column<std::string>(rd, 4));
      for (std::size_t i = 0; i < old.size(); ++i) delta.durations[i] += old[i];
    }
    rd.reset();
    auto& wr = *write_minute_;
    bind_all(wr, key.first, key.second, delta.completed, delta.failed, delta.cancelled, delta.duration_sum_ms,
             encode_histogram(delta.durations));
    wr.exec();
    wr.reset();
  }
  minutes.clear();
}

void SqliteJobStore::BatchRows::plan(const std::vector<Op>& ops, std::size_t begin, std::size_t end) {
  last_finish.clear();
  inserted_final.clear();
  status.clear();
  for (std::size_t i = begin; i < end; ++i)
    if (const auto* f = std::get_if<Finish>(&ops[i].payload)) last_finish[f->job.id] = i;
}

// A Finish writes every column a start, a progress or a priority change writes (its JobInfo is
// the whole state of the job), so those that a later Finish of the same job follows in the batch
// are left out, and an Insert followed by a Finish inserts that Finish's state at once. The
// batch commits as one transaction: nobody could have seen the states left out. The figures
// still count each Finish in order, from the status the batch wrote before it.
void SqliteJobStore::apply(const std::vector<Op>& ops, std::size_t i, BatchFigures& figures) {
  auto superseded = [&](JobId id) {
    auto it = rows_.last_finish.find(id);
    return it != rows_.last_finish.end() && it->second > i;
  };
  auto known_status = [&](JobId id) -> std::optional<JobStatus> {
    auto it = rows_.status.find(id);
    if (it == rows_.status.end()) return std::nullopt;
    return it->second;
  };
  const Payload& payload = ops[i].payload;
  std::visit(
      [&](const auto& op) {
        using T = std::decay_t<decltype(op)>;
        auto run = [](SQLite::Statement& st) {
          st.exec();
          st.reset();
        };
        if constexpr (std::is_same_v<T, Insert>) {
          const JobInfo& j = op.job;
          rows_.status[j.id] = j.status;
          if (auto last = rows_.last_finish.find(j.id); last != rows_.last_finish.end() && last->second > i) {
            const JobInfo& f = std::get<Finish>(ops[last->second].payload).job;
            const std::optional<std::int64_t> duration = ended_duration_ms(f);
            bind_all(*insert_final_, j.id, j.name, op.body_text, f.priority, f.trigger, f.event, f.status,
                     j.queued_at, f.started_at, f.ended_at, duration, f.attempt, f.progress.current,
                     f.progress.total, f.progress.message, f.message, f.error_kind, f.error, f.not_before,
                     f.max_attempts, f.task);
            run(*insert_final_);
            rows_.inserted_final.insert(j.id);
            return;
          }
          bind_all(*insert_, j.id, j.name, op.body_text, j.priority, j.trigger, j.event, j.status,
                   j.queued_at, j.attempt, j.not_before, j.task);
          run(*insert_);
        } else if constexpr (std::is_same_v<T, UpdateQueued>) {
          if (superseded(op.id)) return;
          bind_all(*update_queued_, op.priority, op.trigger, op.event, op.id);
          run(*update_queued_);
        } else if constexpr (std::is_same_v<T, StartJob>) {
          if (superseded(op.id)) return;
          bind_all(*start_, op.started_at, op.attempt, op.id);
          run(*start_);
          if (auto it = rows_.status.find(op.id); it != rows_.status.end()) it->second = JobStatus::executing;
        } else if constexpr (std::is_same_v<T, ProgressOp>) {
          if (superseded(op.id)) return;
          bind_all(*progress_, op.progress.current, op.progress.total, op.progress.message, op.id);
          run(*progress_);
        } else if constexpr (std::is_same_v<T, Finish>) {
          const JobId id = op.job.id;
          const bool write_row = !superseded(id) && rows_.inserted_final.count(id) == 0;
          // A row that is not there (pruned meanwhile) stays unknown: the next Finish reads again.
          if (apply_finish(op.job, figures, known_status(id), write_row)) rows_.status[id] = op.job.status;
        } else if constexpr (std::is_same_v<T, SaveTask>) {
          const TaskRow& t = op.row;
          bind_all(*save_task_, t.name, t.command, t.body, t.interval_s, t.time_of_day_min, t.time_zone,
                   t.jitter_s, t.next_due, t.last_start, t.last_finish, t.last_status, t.last_message,
                   t.last_duration_ms, t.last_job);
          run(*save_task_);
        } else if constexpr (std::is_same_v<T, DropMinutes>) {
          // Minutes counted earlier in this batch go in first, so a drop called after a finish
          // drops that finish's minute too, as the call order says.
          write_figures(figures);
          bind(*drop_minutes_, 1, op.before);
          run(*drop_minutes_);
        }
      },
      payload);
}

// ------------------------------------------------------------------ the writer

void SqliteJobStore::commit_range(std::vector<Op>& ops, std::size_t begin, std::size_t end) {
  if (begin == end) return;
  // A failed commit (I/O error, full disk, a lock held too long by another process) is retried
  // with backoff and the same ops: dropping a state change would make the store disagree with
  // what the engine already told observers. Everything behind it waits.
  auto backoff = std::chrono::milliseconds(50);
  for (int attempt = 1;; ++attempt) {
    try {
      // ":memory:": reads share this connection, so they run between batches, never inside one.
      std::unique_lock conn(read_mutex_, std::defer_lock);
      if (!reader_) conn.lock();
      const auto t0 = std::chrono::steady_clock::now();
      BatchFigures figures;
      sqlite::WriteTransaction tx(*db_, *transaction_);
      rows_.plan(ops, begin, end);
      for (std::size_t i = begin; i < end; ++i) apply(ops, i, figures);
      write_figures(figures);
      tx.commit();
      counters_.committed(
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0));
      break;
    } catch (const std::exception& e) {
      counters_.commit_failed();
      reset_statements();
      const bool give_up = attempt >= 5 && writes_.closing();
      log_->error("job store {}: commit of {} writes failed (attempt {}): {}", opts_.path, end - begin,
                  attempt, e.what());
      if (give_up) {
        writes_.complete(ops.begin() + begin, ops.begin() + end, false);
        return;
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
  }
  // Done callbacks first, then readers and flushes go: once flush() returns, the Done of every
  // write before it has run (callbacks are short by contract, so readers lose little).
  writes_.complete(ops.begin() + begin, ops.begin() + end, true);
}

namespace {
std::int64_t prune_in(SQLite::Database& db, std::optional<TimePoint> cutoff, std::int64_t max_rows) {
  sqlite::WriteTransaction tx(db);
  db.exec("CREATE TEMP TABLE IF NOT EXISTS prune_ids (id INTEGER PRIMARY KEY)");
  db.exec("DELETE FROM prune_ids");
  if (cutoff) {
    SQLite::Statement st(db,
                         "INSERT OR IGNORE INTO prune_ids SELECT id FROM jobs "
                         "WHERE status IN (2, 3, 4) AND ended_at < ?");
    bind(st, 1, *cutoff);
    st.exec();
  }
  if (max_rows > 0) {
    SQLite::Statement st(db,
                         "INSERT OR IGNORE INTO prune_ids SELECT id FROM jobs "
                         "WHERE status IN (2, 3, 4) ORDER BY id DESC LIMIT -1 OFFSET ?");
    bind(st, 1, max_rows);
    st.exec();
  }
  // Totals already hold every finished run (they are written with the finish), so rows simply
  // go. The highest id is kept first: ids are never handed out twice, and pruning is the only
  // thing that deletes job rows (so an insert need not keep it; that cost a page per commit).
  // A store without a job row has no MAX(id) (NULL); the row is then left as it is.
  db.exec(
      "INSERT INTO meta (key, value) SELECT 'max_job_id', top FROM (SELECT MAX(id) AS top FROM jobs) "
      "WHERE top IS NOT NULL ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)");
  const std::int64_t removed = db.exec("DELETE FROM jobs WHERE id IN (SELECT id FROM prune_ids)");
  db.exec("DELETE FROM prune_ids");
  tx.commit();
  return removed;
}
}  // namespace

void SqliteJobStore::run_prune(Op& op) {
  auto& p = std::get<Prune>(op.payload);
  Result<std::int64_t> result = std::int64_t{0};
  try {
    std::unique_lock conn(read_mutex_, std::defer_lock);
    if (!reader_) conn.lock();
    result = prune_in(*db_, p.cutoff, p.max_rows);
  } catch (const std::exception& e) {
    // Not retried: pruning is housekeeping and runs again at its next interval.
    counters_.write_failed();
    log_->error("job store {}: prune failed: {}", opts_.path, e.what());
    result = Error{errc::store_error, "cannot prune job store " + opts_.path + ": " + e.what()};
  }
  p.result->set_value(std::move(result));
  writes_.complete(&op, &op + 1, true);
}

// On the writer thread, so the store's own writes simply queue behind it: a VACUUM never
// fails a job's state change. The reader connection may still read beside it (WAL).
void SqliteJobStore::run_maintain(Op& op) {
  auto& m = std::get<Maintain>(op.payload);
  reset_statements();  // a prepared statement left active would make VACUUM fail
  StoreMaintenanceReport report;
  {
    std::unique_lock conn(read_mutex_, std::defer_lock);
    if (!reader_) conn.lock();
    report = sqlite::maintain(*db_, opts_.path, m.options);
  }
  if (!report.integrity_ok) log_->error("job store {}: integrity check: {}", opts_.path, report.summary());
  m.result->set_value(std::move(report));
  writes_.complete(&op, &op + 1, true);
}

void SqliteJobStore::commit_batch(std::vector<Op>& batch) {
  store_ops::commit_split(
      batch,
      [this](std::vector<Op>& ops, std::size_t begin, std::size_t end) { commit_range(ops, begin, end); },
      [this](Op& op) { run_prune(op); }, [this](Op& op) { run_maintain(op); });
}

void SqliteJobStore::close() {
  writes_.close();
  // The writer is done (or this is its own thread): the hook can go, and whoever loads after
  // close() has a connection that checkpoints by itself again.
  if (checkpointer_) checkpointer_->stop();
  // Nothing is written after this point, so another engine may take the store (the rest of a
  // stopped engine can outlive its stop() when a handler ignored its cancellation).
  const int fd = lock_fd_.exchange(-1);
  if (fd >= 0) ::close(fd);
}

// ------------------------------------------------------------------ reads

template <class F>
auto SqliteJobStore::read(const char* what, F&& f) -> decltype(f(std::declval<SQLite::Database&>())) {
  writes_.wait_settled();
  std::lock_guard conn(read_mutex_);
  try {
    return f(reader_ ? *reader_ : *db_);
  } catch (const std::exception& e) {
    log_->error("job store {}: {} failed: {}", opts_.path, what, e.what());
    return Error{errc::store_error,
                 std::string("cannot ") + what + " in job store " + opts_.path + ": " + e.what()};
  }
}

Result<std::optional<JobInfo>> SqliteJobStore::get(JobId id) {
  return read("read a job", [&](SQLite::Database& db) -> Result<std::optional<JobInfo>> {
    SQLite::Statement st(db, "SELECT " + kJob.list() + " FROM jobs WHERE id = ?");
    bind(st, 1, id);
    std::optional<JobInfo> out;
    if (st.executeStep()) out = row_to_job(st);
    return out;
  });
}

namespace {
// The statuses a listing asks for, by the index that finds them: a partial index serves a query
// whose WHERE repeats the index's own condition, so each group's SELECT names it. A group list
// that includes completed runs walks the table instead: they are most of it.
struct StatusGroup {
  const char* index;      // INDEXED BY this
  const char* condition;  // the index's WHERE, repeated
  std::vector<JobStatus> wanted;
};

std::vector<StatusGroup> status_groups(const std::vector<JobStatus>& statuses) {
  StatusGroup active{"jobs_active", "status IN (0, 1)", {}};
  StatusGroup unsuccessful{"jobs_unsuccessful", "status IN (3, 4)", {}};
  for (JobStatus s : statuses) {
    if (s == JobStatus::queued || s == JobStatus::executing) {
      active.wanted.push_back(s);
    } else if (s == JobStatus::failed || s == JobStatus::cancelled) {
      unsuccessful.wanted.push_back(s);
    } else {
      return {};  // completed: the table, newest first
    }
  }
  std::vector<StatusGroup> groups;
  for (auto* g : {&active, &unsuccessful})
    if (!g->wanted.empty()) groups.push_back(std::move(*g));
  return groups;
}

std::string status_list(const std::vector<JobStatus>& statuses) {
  std::string sql = "status IN (";
  for (std::size_t i = 0; i < statuses.size(); ++i)
    sql += (i ? "," : "") + std::to_string(static_cast<int>(statuses[i]));
  return sql + ")";
}
}  // namespace

Result<JobPage> SqliteJobStore::list(const JobQuery& query) {
  if (query.limit < 1 || query.limit > 1000) {
    return Error{errc::invalid_argument,
                 "limit must be between 1 and 1000, not " + std::to_string(query.limit)};
  }
  // The filters on names and the page's start, the same in every part of the query.
  std::string rest;
  if (!query.names.empty()) {
    rest += " AND name IN (";
    for (std::size_t i = 0; i < query.names.size(); ++i) rest += i ? ",?" : "?";
    rest += ")";
  }
  if (query.before_id > 0) rest += " AND id < ?";
  std::string sql;
  int parts = 1;
  if (const auto groups = status_groups(query.statuses); !groups.empty()) {
    // One SELECT per index, merged newest first. The active index is named even when a name
    // is given: it holds what the queue holds, while a name's index holds its whole history.
    parts = static_cast<int>(groups.size());
    for (const auto& g : groups) {
      if (!sql.empty()) sql += " UNION ALL ";
      sql += std::string("SELECT ") + kJob.list() + " FROM jobs INDEXED BY " + g.index + " WHERE " +
             g.condition + " AND " + status_list(g.wanted) + rest;
    }
  } else {
    sql = "SELECT " + kJob.list() + " FROM jobs WHERE 1";
    if (!query.statuses.empty()) sql += " AND " + status_list(query.statuses);
    sql += rest;
  }
  // One row more than asked tells whether there is a next page.
  sql += " ORDER BY id DESC LIMIT " + std::to_string(query.limit + 1);
  return read("list jobs", [&](SQLite::Database& db) -> Result<JobPage> {
    SQLite::Statement st(db, sql);
    int n = 1;
    for (int part = 0; part < parts; ++part) {
      for (const auto& name : query.names) bind(st, n++, name);
      if (query.before_id > 0) bind(st, n++, query.before_id);
    }
    JobPage page;
    while (st.executeStep()) page.jobs.push_back(row_to_job(st));
    if (page.jobs.size() > static_cast<std::size_t>(query.limit)) {
      page.jobs.pop_back();
      page.next_before_id = page.jobs.back().id;
    }
    return page;
  });
}

Result<std::int64_t> SqliteJobStore::prune(std::optional<TimePoint> cutoff, std::int64_t max_rows) {
  return await_prune([this](Payload p, Done d) { enqueue(std::move(p), std::move(d)); }, cutoff, max_rows);
}

Result<StoreMaintenanceReport> SqliteJobStore::maintain(const StoreMaintenanceOptions& options) {
  return await_maintain([this](Payload p, Done d) { enqueue(std::move(p), std::move(d)); }, options);
}

StoreHealth SqliteJobStore::stats() const {
  StoreHealth h;
  counters_.fill(h);
  if (!single_connection(opts_.path)) {
    std::error_code ec;
    h.file_bytes = std::filesystem::file_size(opts_.path, ec);
    if (ec) h.file_bytes = 0;
    h.wal_bytes = std::filesystem::file_size(opts_.path + "-wal", ec);
    if (ec) h.wal_bytes = 0;
  }
  return h;
}

}  // namespace shelfjobs::detail

namespace shelfjobs {

Result<std::unique_ptr<JobStore>> open_sqlite_job_store(SqliteStoreOptions options) {
  auto opened = detail::SqliteJobStore::open(std::move(options));
  if (!opened) return opened.error();
  return std::unique_ptr<JobStore>(std::move(opened).value());
}

}  // namespace shelfjobs

namespace shelfjobs {
int job_store_schema_version() noexcept { return static_cast<int>(detail::job_store_migrations().size()); }
}  // namespace shelfjobs

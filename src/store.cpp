// SPDX-License-Identifier: MIT
#include "store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <thread>

namespace shelfjobs::detail {

const std::vector<std::string>& schema_migrations() {
  // Append only: a released migration never changes, a new one is a new entry.
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
  };
  return migrations;
}

namespace {

// The job row, in SELECT order: `row_to_job` reads each column by name.
constexpr sqlite::Columns kJob{
    "id", "name", "body", "priority", "trigger", "event", "status", "queued_at", "started_at",
    "ended_at", "duration_ms", "attempt", "progress_current", "progress_total",
    "progress_message", "message", "error_kind", "error", "not_before", "max_attempts", "task"};
const std::string kJobColumnList = kJob.list();

}  // namespace

const char* const Store::kJobColumns = kJobColumnList.c_str();

JobInfo Store::row_to_job(SQLite::Statement& st) {
  using sqlite::column;
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

Result<std::unique_ptr<Store>> Store::open(const std::string& path, bool sync_full,
                                           std::shared_ptr<spdlog::logger> log,
                                           std::chrono::milliseconds busy_timeout) {
  // One engine per store: a second one would hand out the same ids. The lock is an flock on a
  // file beside the store, so the kernel drops it when the process dies, however it dies.
  int lock_fd = -1;
  if (path != ":memory:" && path.rfind("file:", 0) != 0) {
    const std::string lock_path = path + ".lock";
    lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0) {
      return Error{errc::store_error, "cannot open job store " + path + ": " + lock_path + ": " +
                                          std::strerror(errno)};
    }
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(lock_fd);
      return Error{errc::store_error, "job store " + path +
                                          " is in use by another engine (lock held on " +
                                          lock_path + ")"};
    }
  }
  struct LockGuard {
    int& fd;
    ~LockGuard() {
      if (fd >= 0) ::close(fd);
    }
  } lock_guard{lock_fd};
  auto opened = sqlite::open(
      path, {.what = "job store", .busy_timeout = busy_timeout, .sync_full = sync_full});
  if (!opened) return opened.error();
  auto db = std::move(opened).value();
  // The version is also kept in PRAGMA user_version, where earlier releases kept it alone.
  if (auto migrated = sqlite::migrate(*db, "jobs", schema_migrations(),
                                      {.legacy = {.user_version = true}, .what = "job store"});
      !migrated)
    return migrated.error();
  try {
    auto store = std::unique_ptr<Store>(new Store(std::move(db), std::move(log)));
    store->lock_fd_ = lock_fd;
    store->path_ = path;
    lock_fd = -1;  // owned by the store now
    return store;
  } catch (const std::exception& e) {
    return Error{errc::store_error, "cannot open job store " + path + ": " + e.what()};
  }
}

Store::Store(std::unique_ptr<SQLite::Database> db, std::shared_ptr<spdlog::logger> log)
    : db_(std::move(db)), log_(std::move(log)) {
  prepare();
}

Store::~Store() {
  close();
  insert_.reset();
  update_queued_.reset();
  start_.reset();
  progress_.reset();
  finish_.reset();
  save_task_.reset();
  db_.reset();
}

void Store::prepare() {
  insert_ = std::make_unique<SQLite::Statement>(
      *db_,
      "INSERT INTO jobs (id, name, body, priority, trigger, event, status, queued_at, attempt, "
      "not_before, task) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  update_queued_ = std::make_unique<SQLite::Statement>(
      *db_, "UPDATE jobs SET priority = ?, trigger = ?, event = ? WHERE id = ?");
  start_ = std::make_unique<SQLite::Statement>(
      *db_, "UPDATE jobs SET status = 1, started_at = ?, attempt = ? WHERE id = ?");
  progress_ = std::make_unique<SQLite::Statement>(
      *db_,
      "UPDATE jobs SET progress_current = ?, progress_total = ?, progress_message = ? "
      "WHERE id = ?");
  save_task_ = std::make_unique<SQLite::Statement>(
      *db_,
      "INSERT OR REPLACE INTO scheduled_tasks (name, command, body, interval_s, "
      "time_of_day_min, time_zone, jitter_s, next_due, last_start, last_finish, last_status, "
      "last_message, last_duration_ms, last_job) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  finish_ = std::make_unique<SQLite::Statement>(
      *db_,
      "UPDATE jobs SET status = ?, started_at = ?, ended_at = ?, duration_ms = ?, attempt = ?, "
      "progress_current = ?, progress_total = ?, progress_message = ?, message = ?, "
      "error_kind = ?, error = ?, priority = ?, trigger = ?, event = ?, not_before = ?, "
      "max_attempts = ?, task = ? WHERE id = ?");
}

std::vector<JobInfo> Store::load_active() {
  std::vector<JobInfo> out;
  SQLite::Statement st(*db_, std::string("SELECT ") + kJobColumns +
                                 " FROM jobs WHERE status IN (0, 1) ORDER BY id");
  while (st.executeStep()) out.push_back(row_to_job(st));
  return out;
}

JobId Store::max_id() {
  return db_
      ->execAndGet("SELECT MAX(COALESCE((SELECT MAX(id) FROM jobs), 0), "
                   "COALESCE((SELECT value FROM meta WHERE key = 'max_job_id'), 0))")
      .getInt64();
}

void Store::write_now(const std::vector<JobInfo>& rows) {
  SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
  for (const auto& j : rows) apply(Finish{j});
  tx.commit();
}

std::vector<TaskRow> Store::load_tasks() {
  std::vector<TaskRow> out;
  SQLite::Statement st(*db_,
                       "SELECT name, command, body, interval_s, time_of_day_min, time_zone, "
                       "jitter_s, next_due, last_start, last_finish, last_status, last_message, "
                       "last_duration_ms, last_job FROM scheduled_tasks ORDER BY name");
  auto opt_time = [&](int c) -> std::optional<TimePoint> {
    if (st.getColumn(c).isNull()) return std::nullopt;
    return from_ms(st.getColumn(c).getInt64());
  };
  while (st.executeStep()) {
    TaskRow t;
    t.name = st.getColumn(0).getString();
    t.command = st.getColumn(1).getString();
    t.body = st.getColumn(2).getString();
    t.interval_s = st.getColumn(3).getInt64();
    if (!st.getColumn(4).isNull()) t.time_of_day_min = st.getColumn(4).getInt64();
    t.time_zone = st.getColumn(5).getString();
    t.jitter_s = st.getColumn(6).getInt64();
    t.next_due = opt_time(7);
    t.last_start = opt_time(8);
    t.last_finish = opt_time(9);
    if (!st.getColumn(10).isNull()) t.last_status = static_cast<JobStatus>(st.getColumn(10).getInt());
    t.last_message = st.getColumn(11).getString();
    if (!st.getColumn(12).isNull()) t.last_duration_ms = st.getColumn(12).getInt64();
    if (!st.getColumn(13).isNull()) t.last_job = st.getColumn(13).getInt64();
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<TypeHistory> Store::load_history() {
  std::map<std::string, TypeHistory> by_name;
  {
    SQLite::Statement st(*db_, "SELECT name, completed, failed, cancelled FROM job_stats");
    while (st.executeStep()) {
      auto& h = by_name[st.getColumn(0).getString()];
      h.completed += st.getColumn(1).getInt64();
      h.failed += st.getColumn(2).getInt64();
      h.cancelled += st.getColumn(3).getInt64();
    }
  }
  {
    SQLite::Statement st(*db_,
                         "SELECT name, SUM(status = 2), SUM(status = 3), SUM(status = 4), "
                         "MAX(started_at) FROM jobs GROUP BY name");
    while (st.executeStep()) {
      auto& h = by_name[st.getColumn(0).getString()];
      h.completed += st.getColumn(1).getInt64();
      h.failed += st.getColumn(2).getInt64();
      h.cancelled += st.getColumn(3).getInt64();
      if (!st.getColumn(4).isNull()) h.last_start = from_ms(st.getColumn(4).getInt64());
    }
  }
  {
    // The latest finished run of each type (SQLite returns the row of MAX() for bare columns).
    SQLite::Statement st(*db_,
                         "SELECT name, MAX(ended_at), status FROM jobs WHERE status IN (2, 3, 4) "
                         "AND ended_at IS NOT NULL GROUP BY name");
    while (st.executeStep()) {
      auto& h = by_name[st.getColumn(0).getString()];
      h.last_finish = from_ms(st.getColumn(1).getInt64());
      h.last_status = static_cast<JobStatus>(st.getColumn(2).getInt());
    }
  }
  std::vector<TypeHistory> out;
  for (auto& [name, h] : by_name) {
    h.name = name;
    out.push_back(std::move(h));
  }
  return out;
}

std::vector<RunSample> Store::load_samples(TimePoint since) {
  std::vector<RunSample> out;
  SQLite::Statement st(*db_,
                       "SELECT name, status, ended_at, COALESCE(duration_ms, 0) FROM jobs "
                       "WHERE status IN (2, 3, 4) AND ended_at >= ? ORDER BY ended_at");
  st.bind(1, to_ms(since));
  while (st.executeStep()) {
    out.push_back({st.getColumn(0).getString(), static_cast<JobStatus>(st.getColumn(1).getInt()),
                   from_ms(st.getColumn(2).getInt64()), st.getColumn(3).getInt64()});
  }
  return out;
}

namespace {
std::int64_t prune_in(SQLite::Database& db, std::optional<TimePoint> cutoff, std::int64_t max_rows) {
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  db.exec("CREATE TEMP TABLE IF NOT EXISTS prune_ids (id INTEGER PRIMARY KEY)");
  db.exec("DELETE FROM prune_ids");
  if (cutoff) {
    SQLite::Statement st(db,
                         "INSERT OR IGNORE INTO prune_ids SELECT id FROM jobs "
                         "WHERE status IN (2, 3, 4) AND ended_at < ?");
    st.bind(1, to_ms(*cutoff));
    st.exec();
  }
  if (max_rows > 0) {
    SQLite::Statement st(db,
                         "INSERT OR IGNORE INTO prune_ids SELECT id FROM jobs "
                         "WHERE status IN (2, 3, 4) ORDER BY id DESC LIMIT -1 OFFSET ?");
    st.bind(1, max_rows);
    st.exec();
  }
  db.exec(
      "INSERT INTO meta (key, value) SELECT 'max_job_id', MAX(id) FROM jobs WHERE true "
      "ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)");
  // The counts move to job_stats in the same transaction, so health never loses a run.
  db.exec(
      "INSERT INTO job_stats (name, completed, failed, cancelled, duration_ms_total) "
      "SELECT name, SUM(status = 2), SUM(status = 3), SUM(status = 4), "
      "COALESCE(SUM(duration_ms), 0) FROM jobs WHERE id IN (SELECT id FROM prune_ids) "
      "GROUP BY name "
      "ON CONFLICT(name) DO UPDATE SET completed = completed + excluded.completed, "
      "failed = failed + excluded.failed, cancelled = cancelled + excluded.cancelled, "
      "duration_ms_total = duration_ms_total + excluded.duration_ms_total");
  const std::int64_t removed = db.exec("DELETE FROM jobs WHERE id IN (SELECT id FROM prune_ids)");
  db.exec("DELETE FROM prune_ids");
  tx.commit();
  return removed;
}
}  // namespace

std::optional<std::int64_t> Store::prune(std::optional<TimePoint> cutoff, std::int64_t max_rows) {
  std::optional<std::int64_t> removed;
  read([&](SQLite::Database& db) { removed = prune_in(db, cutoff, max_rows); });
  return removed;
}

void Store::prune_async(std::optional<TimePoint> cutoff, std::int64_t max_rows,
                        std::function<void(std::optional<std::int64_t>)> done) {
  auto result = std::make_shared<std::optional<std::int64_t>>();
  auto reader = std::make_shared<const Reader>([result, cutoff, max_rows](SQLite::Database& db) {
    *result = prune_in(db, cutoff, max_rows);
  });
  enqueue({Read{reader.get(), reader},
           [result, done = std::move(done)](bool ok) { done(ok ? *result : std::nullopt); }});
}

void Store::save_task(TaskRow row) { enqueue({SaveTask{std::move(row)}, {}}); }

void Store::start_writer() {
  writer_ = std::thread([this] { run(); });
}

void Store::enqueue(Op op) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (closing_) {
      if (op.done) op.done(false);
      return;
    }
    // Only the first op of a batch wakes the writer: it takes everything queued at once, and a
    // wake-up per op would cost more than the write itself.
    wake = queue_.empty();
    queue_.push_back(std::move(op));
  }
  if (wake) cv_.notify_one();
}

void Store::insert(JobInfo job, std::string body_text, Done done) {
  if (body_text.empty()) body_text = job.body.dump();
  enqueue({Insert{std::move(job), std::move(body_text)}, std::move(done)});
}

void Store::update_queued(JobId id, Priority priority, Trigger trigger, std::string event) {
  enqueue({UpdateQueued{id, priority, trigger, std::move(event)}, {}});
}

void Store::start(JobId id, TimePoint started_at, int attempt) {
  enqueue({Start{id, to_ms(started_at), attempt}, {}});
}

void Store::progress(JobId id, const Progress& p) { enqueue({ProgressOp{id, p}, {}}); }

void Store::finish(JobInfo job) { enqueue({Finish{std::move(job)}, {}}); }

bool Store::read(const Reader& reader) {
  std::promise<bool> done;
  auto fut = done.get_future();
  bool queued = false;
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (!closing_) {
      wake = queue_.empty();
      queue_.push_back({Read{&reader, nullptr}, [&done](bool ok) { done.set_value(ok); }});
      queued = true;
    }
  }
  if (queued) {
    if (wake) cv_.notify_one();
    return fut.get();
  }
  // Closed: once the writer thread has ended, the connection is free; read on it here so a
  // host can still look at its jobs after stop().
  std::lock_guard join(join_mutex_);
  if (writer_.joinable()) writer_.join();
  try {
    reader(*db_);
    return true;
  } catch (const std::exception& e) {
    log_->error("job store read failed: {}", e.what());
    return false;
  }
}

void Store::barrier() {
  std::promise<bool> done;
  auto fut = done.get_future();
  static const Reader nothing = [](SQLite::Database&) {};
  enqueue({Read{&nothing}, [&done](bool ok) { done.set_value(ok); }});
  fut.get();
}

void Store::close() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  cv_.notify_one();
  std::lock_guard join(join_mutex_);
  if (writer_.joinable() && writer_.get_id() != std::this_thread::get_id()) writer_.join();
  // Nothing is written after this point, so another engine may take the store (the rest of a
  // stopped engine can outlive stop() when a handler ignored its cancellation).
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
  }
}

void Store::apply(const Payload& payload) {
  std::visit(
      [this](const auto& op) {
        using T = std::decay_t<decltype(op)>;
        if constexpr (std::is_same_v<T, Insert>) {
          auto& st = *insert_;
          const JobInfo& j = op.job;
          st.bind(1, static_cast<std::int64_t>(j.id));
          st.bind(2, j.name);
          st.bind(3, op.body_text);
          st.bind(4, static_cast<int>(j.priority));
          st.bind(5, static_cast<int>(j.trigger));
          st.bind(6, j.event);
          st.bind(7, static_cast<int>(j.status));
          st.bind(8, to_ms(j.queued_at));
          st.bind(9, j.attempt);
          if (j.not_before) st.bind(10, to_ms(*j.not_before)); else st.bind(10);
          st.bind(11, j.task);
          st.exec();
          st.reset();
        } else if constexpr (std::is_same_v<T, UpdateQueued>) {
          auto& st = *update_queued_;
          st.bind(1, static_cast<int>(op.priority));
          st.bind(2, static_cast<int>(op.trigger));
          st.bind(3, op.event);
          st.bind(4, static_cast<std::int64_t>(op.id));
          st.exec();
          st.reset();
        } else if constexpr (std::is_same_v<T, Start>) {
          auto& st = *start_;
          st.bind(1, op.started_ms);
          st.bind(2, op.attempt);
          st.bind(3, static_cast<std::int64_t>(op.id));
          st.exec();
          st.reset();
        } else if constexpr (std::is_same_v<T, ProgressOp>) {
          auto& st = *progress_;
          st.bind(1, op.p.current);
          st.bind(2, op.p.total);
          st.bind(3, op.p.message);
          st.bind(4, static_cast<std::int64_t>(op.id));
          st.exec();
          st.reset();
        } else if constexpr (std::is_same_v<T, SaveTask>) {
          auto& st = *save_task_;
          const TaskRow& t = op.row;
          auto bind_time = [&](int i, const std::optional<TimePoint>& v) {
            if (v) st.bind(i, to_ms(*v)); else st.bind(i);
          };
          st.bind(1, t.name);
          st.bind(2, t.command);
          st.bind(3, t.body);
          st.bind(4, t.interval_s);
          if (t.time_of_day_min) st.bind(5, *t.time_of_day_min); else st.bind(5);
          st.bind(6, t.time_zone);
          st.bind(7, t.jitter_s);
          bind_time(8, t.next_due);
          bind_time(9, t.last_start);
          bind_time(10, t.last_finish);
          if (t.last_status) st.bind(11, static_cast<int>(*t.last_status)); else st.bind(11);
          st.bind(12, t.last_message);
          if (t.last_duration_ms) st.bind(13, *t.last_duration_ms); else st.bind(13);
          if (t.last_job) st.bind(14, static_cast<std::int64_t>(*t.last_job)); else st.bind(14);
          st.exec();
          st.reset();
        } else if constexpr (std::is_same_v<T, Finish>) {
          auto& st = *finish_;
          const JobInfo& j = op.job;
          st.bind(1, static_cast<int>(j.status));
          if (j.started_at) st.bind(2, to_ms(*j.started_at)); else st.bind(2);
          if (j.ended_at) st.bind(3, to_ms(*j.ended_at)); else st.bind(3);
          if (j.ended_at) st.bind(4, static_cast<std::int64_t>(j.duration.count())); else st.bind(4);
          st.bind(5, j.attempt);
          st.bind(6, j.progress.current);
          st.bind(7, j.progress.total);
          st.bind(8, j.progress.message);
          st.bind(9, j.message);
          st.bind(10, static_cast<int>(j.error_kind));
          st.bind(11, j.error);
          st.bind(12, static_cast<int>(j.priority));
          st.bind(13, static_cast<int>(j.trigger));
          st.bind(14, j.event);
          if (j.not_before) st.bind(15, to_ms(*j.not_before)); else st.bind(15);
          st.bind(16, j.max_attempts);
          st.bind(17, j.task);
          st.bind(18, static_cast<std::int64_t>(j.id));
          st.exec();
          st.reset();
        }
      },
      payload);
}

void Store::commit_range(std::vector<Op>& ops, std::size_t begin, std::size_t end) {
  if (begin == end) return;
  // A failed commit (I/O error, full disk, a lock held too long by another process) is retried
  // with backoff: dropping a state change would make the store disagree with what the engine
  // already told observers. The writer keeps the ops and everything behind them waits.
  auto backoff = std::chrono::milliseconds(50);
  for (int attempt = 1;; ++attempt) {
    try {
      const auto t0 = std::chrono::steady_clock::now();
      SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
      for (std::size_t i = begin; i < end; ++i) apply(ops[i].payload);
      tx.commit();
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - t0)
                          .count();
      last_commit_us_.store(us, std::memory_order_relaxed);
      if (us > max_commit_us_.load(std::memory_order_relaxed)) max_commit_us_.store(us);
      commits_.fetch_add(1, std::memory_order_relaxed);
      break;
    } catch (const std::exception& e) {
      write_errors_.fetch_add(1, std::memory_order_relaxed);
      for (auto* st : {insert_.get(), update_queued_.get(), start_.get(), progress_.get(),
                       finish_.get(), save_task_.get()}) {
        try {
          st->reset();
        } catch (...) {
        }
      }
      bool give_up = false;
      {
        std::lock_guard lock(mutex_);
        give_up = closing_ && attempt >= 5;
      }
      log_->error("job store commit of {} ops failed (attempt {}): {}", end - begin, attempt,
                  e.what());
      if (give_up) {
        for (std::size_t i = begin; i < end; ++i)
          if (ops[i].done) ops[i].done(false);
        return;
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
    }
  }
  for (std::size_t i = begin; i < end; ++i)
    if (ops[i].done) ops[i].done(true);
}

void Store::run() {
  std::vector<Op> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [this] { return !queue_.empty() || closing_; });
      if (queue_.empty() && closing_) break;
      batch.swap(queue_);
    }
    std::size_t begin = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (auto* r = std::get_if<Read>(&batch[i].payload)) {
        commit_range(batch, begin, i);
        bool ok = true;
        try {
          (*r->reader)(*db_);
        } catch (const std::exception& e) {
          log_->error("job store read failed: {}", e.what());
          ok = false;
        }
        if (batch[i].done) batch[i].done(ok);
        begin = i + 1;
      }
    }
    commit_range(batch, begin, batch.size());
    batch.clear();
  }
  std::lock_guard lock(mutex_);
  closed_ = true;
}

}  // namespace shelfjobs::detail

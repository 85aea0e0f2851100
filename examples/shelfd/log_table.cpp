// SPDX-License-Identifier: MIT
// The log table and its sink. Why a queue and a writer thread: a log call happens inside jobs
// and request handlers; a SQLite insert per line (a lock, a WAL append, a sync) would make
// every log line cost a commit. Lines are batched instead, and a queue that fills (the writer
// stuck on a full disk) drops lines rather than block the caller.
#include "log_table.hpp"

#include <array>

namespace shelfd {

using namespace shelfjobs;

namespace {

constexpr std::array<const char*, 6> kLevels = {"trace", "debug", "info", "warn", "error", "fatal"};

std::int64_t log_ms(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// One prepared statement, finalized however the scope ends.
struct LogStmt {
  sqlite3_stmt* st = nullptr;
  LogStmt(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) != SQLITE_OK) st = nullptr;
  }
  ~LogStmt() { sqlite3_finalize(st); }
  LogStmt(const LogStmt&) = delete;
  LogStmt& operator=(const LogStmt&) = delete;
};

Error log_db_error(sqlite3* db, const std::string& what, const std::filesystem::path& path) {
  return Error{errc::store_error,
               "log table " + path.string() + ": cannot " + what + ": " + sqlite3_errmsg(db)};
}

std::string log_text_of(sqlite3_stmt* st, int i) {
  const auto* t = sqlite3_column_text(st, i);
  return t ? reinterpret_cast<const char*>(t) : "";
}

}  // namespace

int log_level_rank(const std::string& level) {
  for (std::size_t i = 0; i < kLevels.size(); ++i)
    if (level == kLevels[i]) return static_cast<int>(i);
  return -1;
}

Result<std::shared_ptr<LogTable>> LogTable::open(const std::filesystem::path& path) {
  std::shared_ptr<LogTable> t(new LogTable());
  t->path_ = path;
  if (sqlite3_open_v2(path.c_str(), &t->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    Error e = log_db_error(t->db_, "open", path);
    return e;
  }
  sqlite3_busy_timeout(t->db_, 5000);
  const char* schema =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
      "CREATE TABLE IF NOT EXISTS logs (id INTEGER PRIMARY KEY, time INTEGER NOT NULL, level INTEGER NOT "
      "NULL,"
      " logger TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT '', exception TEXT NOT NULL DEFAULT "
      "'',"
      " exception_type TEXT NOT NULL DEFAULT '');"
      "CREATE INDEX IF NOT EXISTS logs_by_time ON logs(time);"
      "CREATE INDEX IF NOT EXISTS logs_by_level ON logs(level, time);";
  if (sqlite3_exec(t->db_, schema, nullptr, nullptr, nullptr) != SQLITE_OK)
    return log_db_error(t->db_, "create its table", path);
  return t;
}

LogTable::~LogTable() { sqlite3_close_v2(db_); }

Status LogTable::append(std::vector<LogRow>& rows) {
  std::lock_guard lock(mu_);
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
    return log_db_error(db_, "begin", path_);
  LogStmt st(
      db_,
      "INSERT INTO logs (time, level, logger, message, exception, exception_type) VALUES (?, ?, ?, ?, ?, ?)");
  bool ok = st.st != nullptr;
  for (std::size_t i = 0; ok && i < rows.size(); ++i) {
    LogRow& r = rows[i];
    sqlite3_bind_int64(st.st, 1, log_ms(r.time));
    sqlite3_bind_int(st.st, 2, std::max(0, log_level_rank(r.level)));
    sqlite3_bind_text(st.st, 3, r.logger.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st.st, 4, r.message.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st.st, 5, r.exception.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st.st, 6, r.exception_type.c_str(), -1, SQLITE_TRANSIENT);
    ok = sqlite3_step(st.st) == SQLITE_DONE;
    r.id = sqlite3_last_insert_rowid(db_);
    sqlite3_reset(st.st);
  }
  if (!ok) {
    Error e = log_db_error(db_, "write", path_);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return e;
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    Error e = log_db_error(db_, "commit", path_);
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return e;
  }
  return Ok{};
}

Result<LogPage> LogTable::page(const LogQuery& q) {
  if (q.page < 1 || q.page_size < 1 || q.page_size > 1000)
    return Error{errc::invalid_argument, "page must be at least 1 and pageSize 1 to 1000"};
  int min_rank = 0;
  if (!q.min_level.empty()) {
    min_rank = log_level_rank(q.min_level);
    if (min_rank < 0)
      return Error{errc::invalid_argument,
                   "level must be one of trace, debug, info, warn, error, fatal (got '" + q.min_level + "')"};
  }
  std::lock_guard lock(mu_);
  LogPage out;
  {
    LogStmt st(db_, "SELECT COUNT(*) FROM logs WHERE level >= ?");
    if (!st.st) return log_db_error(db_, "count", path_);
    sqlite3_bind_int(st.st, 1, min_rank);
    if (sqlite3_step(st.st) == SQLITE_ROW) out.total = sqlite3_column_int64(st.st, 0);
  }
  const std::string order = std::string(q.by_id ? "id" : "time") + (q.ascending ? " ASC" : " DESC") +
                            (q.ascending ? ", id ASC" : ", id DESC");
  const std::string sql =
      "SELECT id, time, level, logger, message, exception, exception_type FROM logs WHERE level >= ? ORDER "
      "BY " +
      order + " LIMIT ? OFFSET ?";
  LogStmt st(db_, sql.c_str());
  if (!st.st) return log_db_error(db_, "read", path_);
  sqlite3_bind_int(st.st, 1, min_rank);
  sqlite3_bind_int64(st.st, 2, q.page_size);
  const std::int64_t offset = q.page - 1 > INT64_MAX / q.page_size ? INT64_MAX : (q.page - 1) * q.page_size;
  sqlite3_bind_int64(st.st, 3, offset);
  int rc;
  while ((rc = sqlite3_step(st.st)) == SQLITE_ROW) {
    LogRow r;
    r.id = sqlite3_column_int64(st.st, 0);
    r.time = TimePoint(std::chrono::milliseconds(sqlite3_column_int64(st.st, 1)));
    const int lvl = sqlite3_column_int(st.st, 2);
    r.level = kLevels[static_cast<std::size_t>(std::clamp(lvl, 0, 5))];
    r.logger = log_text_of(st.st, 3);
    r.message = log_text_of(st.st, 4);
    r.exception = log_text_of(st.st, 5);
    r.exception_type = log_text_of(st.st, 6);
    out.records.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return log_db_error(db_, "read", path_);
  return out;
}

Result<std::int64_t> LogTable::clear() {
  std::lock_guard lock(mu_);
  if (sqlite3_exec(db_, "DELETE FROM logs", nullptr, nullptr, nullptr) != SQLITE_OK)
    return log_db_error(db_, "clear", path_);
  return static_cast<std::int64_t>(sqlite3_changes64(db_));
}

Result<std::int64_t> LogTable::trim(TimePoint cutoff) {
  std::lock_guard lock(mu_);
  LogStmt st(db_, "DELETE FROM logs WHERE time < ?");
  if (!st.st) return log_db_error(db_, "trim", path_);
  sqlite3_bind_int64(st.st, 1, log_ms(cutoff));
  if (sqlite3_step(st.st) != SQLITE_DONE) return log_db_error(db_, "trim", path_);
  return static_cast<std::int64_t>(sqlite3_changes64(db_));
}

// ---- the sink -----------------------------------------------------------------------------------

LogTableSink::LogTableSink(std::shared_ptr<LogTable> table, std::size_t capacity, std::size_t batch,
                           std::chrono::milliseconds flush_interval)
    : table_(std::move(table)), capacity_(capacity), batch_(batch), interval_(flush_interval) {
  writer_ = std::thread([this] { run(); });
}

LogTableSink::~LogTableSink() { stop(); }

void LogTableSink::stop() {
  {
    std::lock_guard lock(qmu_);
    if (stopping_ && !writer_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable() && writer_.get_id() != std::this_thread::get_id()) writer_.join();
}

void LogTableSink::sink_it_(const spdlog::details::log_msg& msg) {
  LogRow r;
  r.time = std::chrono::time_point_cast<TimePoint::duration>(msg.time);
  switch (msg.level) {
    case spdlog::level::trace: r.level = "trace"; break;
    case spdlog::level::debug: r.level = "debug"; break;
    case spdlog::level::info: r.level = "info"; break;
    case spdlog::level::warn: r.level = "warn"; break;
    case spdlog::level::err: r.level = "error"; break;
    case spdlog::level::critical: r.level = "fatal"; break;
    default: return;
  }
  r.logger.assign(msg.logger_name.data(), msg.logger_name.size());
  r.message.assign(msg.payload.data(), msg.payload.size());
  bool wake = false;
  {
    std::lock_guard lock(qmu_);
    if (stopping_) return;
    ++queued_;
    if (queue_.size() >= capacity_) {
      ++dropped_;
      ++written_;  // settled: nobody waits for a dropped line
      written_cv_.notify_all();
      return;
    }
    queue_.push_back(std::move(r));
    wake = queue_.size() >= batch_;
  }
  if (wake) cv_.notify_one();
}

void LogTableSink::run() {
  std::unique_lock lock(qmu_);
  for (;;) {
    cv_.wait_for(lock, interval_, [&] { return stopping_ || urgent_ || queue_.size() >= batch_; });
    urgent_ = false;
    if (queue_.empty()) {
      if (stopping_) return;
      continue;
    }
    std::vector<LogRow> rows(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
    lock.unlock();
    const bool ok = static_cast<bool>(table_->append(rows));
    lock.lock();
    if (!ok) ++errors_;
    if (ok && listener_) {
      auto listener = listener_;
      lock.unlock();
      for (const LogRow& r : rows)
        if (log_level_rank(r.level) >= log_level_rank("warn")) listener(r);
      lock.lock();
    }
    written_ += rows.size();
    written_cv_.notify_all();
  }
}

void LogTableSink::wait_written() {
  std::unique_lock lock(qmu_);
  const std::uint64_t target = queued_;
  urgent_ = true;
  cv_.notify_one();
  written_cv_.wait(lock, [&] { return written_ >= target || (stopping_ && queue_.empty()); });
}

void LogTableSink::set_listener(std::function<void(const LogRow&)> listener) {
  std::lock_guard lock(qmu_);
  listener_ = std::move(listener);
}

std::uint64_t LogTableSink::dropped() const {
  std::lock_guard lock(qmu_);
  return dropped_;
}

std::uint64_t LogTableSink::write_errors() const {
  std::lock_guard lock(qmu_);
  return errors_;
}

}  // namespace shelfd

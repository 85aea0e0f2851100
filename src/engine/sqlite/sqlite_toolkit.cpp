// SPDX-License-Identifier: MIT
#include "engine/sqlite/sqlite_toolkit.hpp"

#include "engine/sqlite/wal_writes.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <system_error>
#include <thread>

namespace shelfjobs::sqlite {

namespace {

bool is_memory(const std::string& p) { return p == ":memory:" || p.rfind("file:", 0) == 0; }

bool is_busy(const SQLite::Exception& e) { return (e.getErrorCode() & 0xff) == SQLITE_BUSY; }

std::string describe(const std::string& what, const std::string& file) {
  return file.empty() ? what : what + " " + file;
}

// Table and key names come from the code, never from a user; quoting keeps an odd one valid.
std::string sql_ident(std::string_view ident) {
  std::string out = "\"";
  for (char ch : ident) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

constexpr const char* kVersionTable = "shelfjobs_schema";

void write_version(SQLite::Database& db, std::string_view name, const LegacyVersion& legacy, int version) {
  {
    SQLite::Statement st(db,
                         "INSERT INTO shelfjobs_schema (name, version) VALUES (?, ?) "
                         "ON CONFLICT(name) DO UPDATE SET version = excluded.version");
    st.bind(1, std::string(name));
    st.bind(2, version);
    st.exec();
  }
  // The legacy slots follow the row: a build from before the toolkit reads only them, and must
  // see a file this build migrated further as newer than it knows (and refuse it).
  if (legacy.user_version) db.exec("PRAGMA user_version=" + std::to_string(version));
  if (!legacy.meta_table.empty()) {
    db.exec("CREATE TABLE IF NOT EXISTS " + sql_ident(legacy.meta_table) +
            " (key TEXT PRIMARY KEY, value INTEGER NOT NULL)");
    SQLite::Statement st(db, "INSERT INTO " + sql_ident(legacy.meta_table) +
                                 " (key, value) VALUES (?, ?) "
                                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    st.bind(1, legacy.meta_key);
    st.bind(2, version);
    st.exec();
  }
}

}  // namespace

// ---- open ------------------------------------------------------------------------------------

Result<std::unique_ptr<SQLite::Database>> open(const std::filesystem::path& path,
                                               const OpenOptions& options) {
  const std::string file = path.string();
  if (file.empty())
    return Error{errc::invalid_argument, options.what + " needs a file path (or \":memory:\")"};
  if (options.busy_timeout.count() < 0)
    return Error{errc::invalid_argument, options.what + " busy_timeout must not be negative"};
  const std::string where = describe(options.what, file);
  try {
    if (options.create && options.create_folders && !is_memory(file) && path.has_parent_path())
      std::filesystem::create_directories(path.parent_path());
    int flags =
        SQLite::OPEN_READWRITE | (options.single_threaded ? SQLite::OPEN_NOMUTEX : SQLite::OPEN_FULLMUTEX);
    if (options.create) flags |= SQLite::OPEN_CREATE;
    // A file's log is written through coalescing_vfs (wal_writes.hpp): one write per commit.
    const char* vfs = is_memory(file) || !options.coalesce_log ? nullptr : coalescing_vfs();
    auto db = std::make_unique<SQLite::Database>(file.c_str(), flags, 0, vfs);

    // busy_timeout first: every later statement that needs a lock (the switch to WAL, the
    // migration's BEGIN IMMEDIATE) then waits for another process's reader or writer (a backup,
    // the sqlite3 shell, a second opener) instead of failing with SQLITE_BUSY at once.
    db->exec("PRAGMA busy_timeout=" + std::to_string(options.busy_timeout.count()));

    // PRAGMA journal_mode=WAL does not go through the busy handler in every case: two
    // connections switching a new file at once both hold a shared lock and want an exclusive
    // one, SQLite sees a deadlock and fails one of them with SQLITE_BUSY at once. By the next
    // try the other has switched (or let go), so try again until busy_timeout has passed. An
    // in-memory database answers "memory" and stays so, which is no error.
    const auto deadline = std::chrono::steady_clock::now() + options.busy_timeout;
    for (;;) {
      try {
        db->exec("PRAGMA journal_mode=WAL");
        break;
      } catch (const SQLite::Exception& e) {
        if (!is_busy(e) || std::chrono::steady_clock::now() >= deadline) throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    // With WAL, NORMAL loses no committed transaction when the process dies (only on a power
    // cut), and costs one fsync per checkpoint rather than per commit.
    db->exec(options.sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    // Per connection, off by default in SQLite: the catalog's cascades depend on it; the other
    // files declare no foreign key, so it costs them nothing.
    db->exec("PRAGMA foreign_keys=ON");
    db->exec("PRAGMA temp_store=MEMORY");
    // Last: query_only would refuse nothing above, but says what the connection is for.
    if (options.query_only) db->exec("PRAGMA query_only=ON");
    return db;
  } catch (const std::exception& e) {
    return Error{errc::store_error, "cannot open " + where + ": " + e.what()};
  }
}

// ---- migrate ---------------------------------------------------------------------------------

int schema_version(SQLite::Database& db, std::string_view name, const LegacyVersion& legacy) {
  int version = 0;
  if (db.tableExists(kVersionTable)) {
    SQLite::Statement st(db, "SELECT version FROM shelfjobs_schema WHERE name = ?");
    st.bind(1, std::string(name));
    if (st.executeStep()) version = st.getColumn(0).getInt();
  }
  // The highest of the row and the legacy slots: they are equal once this build wrote the row;
  // before, the legacy slot is the file's version; and a slot raised by hand (or by a newer
  // build that kept only it) still makes the file newer than known.
  if (legacy.user_version) version = std::max(version, db.execAndGet("PRAGMA user_version").getInt());
  if (!legacy.meta_table.empty() && db.tableExists(legacy.meta_table)) {
    SQLite::Statement st(db, "SELECT value FROM " + sql_ident(legacy.meta_table) + " WHERE key = ?");
    st.bind(1, legacy.meta_key);
    if (st.executeStep()) version = std::max(version, st.getColumn(0).getInt());
  }
  return version;
}

Status migrate(SQLite::Database& db, std::string_view name, const std::vector<std::string>& migrations,
               const MigrateOptions& options) {
  const int known = static_cast<int>(migrations.size());
  const std::string where = describe(options.what, db.getFilename());
  auto newer = [&](int version) {
    return Error{options.newer_file, where + " has schema version " + std::to_string(version) + " (" +
                                         std::string(name) + "), newer than this shelfjobs understands (" +
                                         std::to_string(known) + ")"};
  };
  int step = 0;
  try {
    // Up to date (the usual open): no write lock taken, so a file another process is writing
    // opens without waiting for it.
    if (const int v = schema_version(db, name, options.legacy); v == known)
      return Ok{};
    else if (v > known)
      return newer(v);

    // One transaction per step, the version read inside it: of two processes migrating a new
    // file at once, the second's BEGIN IMMEDIATE waits for the first's step, then it reads the
    // new version and skips the step instead of running it again ("table already exists").
    for (;;) {
      WriteTransaction tx(db);
      db.exec(std::string("CREATE TABLE IF NOT EXISTS ") + kVersionTable +
              " (name TEXT PRIMARY KEY, version INTEGER NOT NULL)");
      const int version = schema_version(db, name, options.legacy);
      if (version > known) return newer(version);
      if (version == known) {
        tx.commit();
        return Ok{};
      }
      step = version + 1;
      db.exec(migrations[static_cast<std::size_t>(version)]);
      write_version(db, name, options.legacy, step);
      tx.commit();
    }
  } catch (const std::exception& e) {
    rollback_if_open(db);
    const std::string at = step > 0 ? " (migration " + std::to_string(step) + ")" : "";
    return Error{errc::store_error, "cannot migrate " + where + at + ": " + e.what()};
  }
}

// ---- transactions ----------------------------------------------------------------------------

void rollback_if_open(SQLite::Database& db) noexcept {
  // sqlite3_get_autocommit is 0 inside a transaction. A connection left inside one would fail
  // every later BEGIN with "cannot start a transaction within a transaction".
  if (sqlite3_get_autocommit(db.getHandle()) != 0) return;
  try {
    db.exec("ROLLBACK");
  } catch (...) {
    // A failed ROLLBACK leaves SQLite to roll back when the connection closes; nothing better
    // can be done from a destructor.
  }
}

PreparedTransaction::PreparedTransaction(SQLite::Database& db)
    : begin_(db, "BEGIN IMMEDIATE"), commit_(db, "COMMIT") {}

void PreparedTransaction::run(SQLite::Statement& st) {
  // Statement::reset() would throw the failed step's error again; tryReset only readies it.
  try {
    st.exec();
  } catch (...) {
    st.tryReset();
    throw;
  }
  st.tryReset();
}

WriteTransaction::WriteTransaction(SQLite::Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

WriteTransaction::WriteTransaction(SQLite::Database& db, PreparedTransaction& prepared)
    : db_(db), prepared_(&prepared) {
  PreparedTransaction::run(prepared.begin_);
}

WriteTransaction::~WriteTransaction() {
  if (!done_) rollback_if_open(db_);
}

void WriteTransaction::commit() {
  if (prepared_ != nullptr) {
    PreparedTransaction::run(prepared_->commit_);
  } else {
    db_.exec("COMMIT");
  }
  done_ = true;
}

ReadTransaction::ReadTransaction(SQLite::Database& db) : db_(db) { db_.exec("BEGIN DEFERRED"); }

ReadTransaction::~ReadTransaction() {
  if (!done_) rollback_if_open(db_);
}

void ReadTransaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

// ---- conversions -----------------------------------------------------------------------------

std::int64_t to_ms(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

TimePoint from_ms(std::int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms)));
}

std::string date_text(Date d) {
  const std::chrono::year_month_day ymd{d};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

std::optional<Date> parse_date(std::string_view s) {
  int y = 0;
  unsigned m = 0, d = 0;
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  const char* b = s.data();
  if (std::from_chars(b, b + 4, y).ec != std::errc{} || std::from_chars(b + 5, b + 7, m).ec != std::errc{} ||
      std::from_chars(b + 8, b + 10, d).ec != std::errc{})
    return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}};
  if (!ymd.ok()) return std::nullopt;
  return Date{ymd};
}

// ---- binds -----------------------------------------------------------------------------------

void bind(SQLite::Statement& st, int i, std::nullopt_t) { st.bind(i); }
void bind(SQLite::Statement& st, int i, bool v) { st.bind(i, v ? 1 : 0); }
void bind(SQLite::Statement& st, int i, int v) { st.bind(i, v); }
void bind(SQLite::Statement& st, int i, std::int64_t v) { st.bind(i, v); }
void bind(SQLite::Statement& st, int i, double v) { st.bind(i, v); }
void bind(SQLite::Statement& st, int i, const char* v) { st.bind(i, v); }
void bind(SQLite::Statement& st, int i, const std::string& v) { st.bind(i, v); }
void bind(SQLite::Statement& st, int i, std::string_view v) { st.bind(i, std::string(v)); }
void bind(SQLite::Statement& st, int i, TimePoint v) { st.bind(i, to_ms(v)); }
void bind(SQLite::Statement& st, int i, Date v) { st.bind(i, date_text(v)); }
void bind(SQLite::Statement& st, int i, std::chrono::milliseconds v) {
  st.bind(i, static_cast<std::int64_t>(v.count()));
}

}  // namespace shelfjobs::sqlite

// SPDX-License-Identifier: MIT
// Why the online backup API in one step (sqlite3_backup_step(-1)) and not in pages: a
// step-by-step copy restarts whenever another connection writes the source between steps, so
// under a steady stream of job commits it may never finish. One step reads every page inside
// one read transaction; in WAL mode that blocks no writer (only a checkpoint waits behind it
// for the pages it still reads), and the copy is the database as of that transaction's start.
#include "engine/sqlite/snapshot.hpp"

#include <thread>

#include <SQLiteCpp/Backup.h>
#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

namespace shelfjobs::sqlite {

namespace fs = std::filesystem;

namespace {
Error snapshot_error(const fs::path& file, const std::string& what) {
  return Error{errc::store_error, file.string() + ": " + what};
}
}  // namespace

Status snapshot(const fs::path& source, const fs::path& dest, std::chrono::milliseconds busy_timeout) {
  std::error_code ec;
  if (!fs::is_regular_file(source, ec)) return snapshot_error(source, "no such database file");
  if (fs::exists(dest, ec)) return snapshot_error(dest, "already exists");
  const auto deadline = std::chrono::steady_clock::now() + busy_timeout;
  try {
    {
      SQLite::Database src(source.string(), SQLite::OPEN_READONLY, static_cast<int>(busy_timeout.count()));
      SQLite::Database dst(dest.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
      SQLite::Backup backup(dst, src);
      for (;;) {
        const int rc = backup.executeStep(-1);
        if (rc == SQLITE_DONE) break;
        // BUSY/LOCKED: a writer holds the source's lock for a moment (rollback journal) or a
        // checkpoint is running; the step is retried from its start.
        if (std::chrono::steady_clock::now() > deadline)
          return snapshot_error(source, "still locked after " + std::to_string(busy_timeout.count()) + " ms");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    // The copy carries the source's WAL flag; one file is what a backup holds.
    SQLite::Database copy(dest.string(), SQLite::OPEN_READWRITE);
    copy.exec("PRAGMA journal_mode=DELETE");
  } catch (const std::exception& e) {
    fs::remove(dest, ec);
    fs::remove(dest.string() + "-journal", ec);
    fs::remove(dest.string() + "-wal", ec);
    fs::remove(dest.string() + "-shm", ec);
    return snapshot_error(dest, std::string("cannot copy ") + source.string() + ": " + e.what());
  }
  return Ok{};
}

Result<std::map<std::string, int>> schema_versions(const fs::path& path) {
  try {
    SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
    std::map<std::string, int> out;
    if (!db.tableExists("shelfjobs_schema")) return out;
    SQLite::Statement st(db, "SELECT name, version FROM shelfjobs_schema");
    while (st.executeStep()) out[st.getColumn(0).getString()] = st.getColumn(1).getInt();
    return out;
  } catch (const std::exception& e) {
    return snapshot_error(path, std::string("cannot read its schema versions: ") + e.what());
  }
}

Status integrity_check(const fs::path& path) {
  try {
    SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
    SQLite::Statement st(db, "PRAGMA integrity_check(10)");
    std::string findings;
    while (st.executeStep()) {
      const std::string line = st.getColumn(0).getString();
      if (line == "ok") continue;
      if (!findings.empty()) findings += "; ";
      findings += line;
    }
    if (!findings.empty()) return snapshot_error(path, "integrity check failed: " + findings);
    return Ok{};
  } catch (const std::exception& e) {
    return snapshot_error(path, std::string("integrity check failed: ") + e.what());
  }
}

}  // namespace shelfjobs::sqlite

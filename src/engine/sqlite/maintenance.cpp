// SPDX-License-Identifier: MIT
// Why the steps are ordered so: optimize and the integrity check only read; VACUUM writes a new
// copy of every page into the write-ahead log, so the checkpoint comes after it and truncates
// the log the rebuild grew. VACUUM is the only step that costs a copy of the file, so it runs
// only when enough pages are free to be worth it.
//
// Waiting instead of failing: SQLite's busy handler retries a lock for the connection's
// busy_timeout. It is raised to `wait_for_writers` for the steps that take the write lock, and a
// step still busy after it is retried until the same deadline (a handler returns early when it
// sees a deadlock risk), then skipped with a note.
#include "engine/sqlite/maintenance.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "engine/sqlite/sqlite_toolkit.hpp"

namespace shelfjobs {

std::string StoreMaintenanceReport::summary() const {
  std::string s;
  if (integrity_checked) {
    s = integrity_ok ? "integrity ok"
                     : "integrity check found " + std::to_string(integrity_findings.size()) +
                           " problem(s): " + (integrity_findings.empty() ? "" : integrity_findings[0]);
  } else {
    s = "integrity not checked";
  }
  s += "; " + std::to_string(free_pages) + " free of " + std::to_string(page_count) + " pages";
  if (vacuumed)
    s += "; vacuumed (" + std::to_string(bytes_before) + " -> " + std::to_string(bytes_after) + " bytes)";
  if (checkpointed) s += "; checkpointed";
  if (optimized) s += "; optimized";
  for (const auto& n : notes) s += "; " + n;
  return s;
}

namespace sqlite {

namespace {

std::int64_t maintenance_bytes(const std::string& path) {
  if (path.empty() || path == ":memory:") return 0;
  std::error_code ec;
  std::int64_t total = 0;
  for (const std::string& p : {path, path + "-wal"}) {
    const auto n = std::filesystem::file_size(p, ec);
    if (!ec) total += static_cast<std::int64_t>(n);
  }
  return total;
}

std::int64_t maintenance_pragma(SQLite::Database& db, const char* sql) {
  SQLite::Statement st(db, sql);
  return st.executeStep() ? st.getColumn(0).getInt64() : 0;
}

bool maintenance_busy(const SQLite::Exception& e) {
  const int code = e.getErrorCode() & 0xff;
  return code == SQLITE_BUSY || code == SQLITE_LOCKED;
}

// Runs `step` until it does not fail busy or `deadline` passes. True when it ran.
template <class F>
bool maintenance_retry(F&& step, std::chrono::steady_clock::time_point deadline, std::string& why) {
  for (;;) {
    try {
      step();
      return true;
    } catch (const SQLite::Exception& e) {
      if (!maintenance_busy(e) || std::chrono::steady_clock::now() >= deadline) {
        why = e.what();
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } catch (const std::exception& e) {
      why = e.what();
      return false;
    }
  }
}

}  // namespace

StoreMaintenanceReport maintain(SQLite::Database& db, const std::string& path,
                                const StoreMaintenanceOptions& o) noexcept {
  StoreMaintenanceReport r;
  r.file = path;
  r.bytes_before = r.bytes_after = maintenance_bytes(path);
  std::int64_t old_timeout = kDefaultBusyTimeout.count();
  try {
    old_timeout = maintenance_pragma(db, "PRAGMA busy_timeout");
  } catch (const std::exception&) {
  }
  const auto deadline = std::chrono::steady_clock::now() + o.wait_for_writers;
  try {
    db.setBusyTimeout(static_cast<int>(std::min<std::int64_t>(o.wait_for_writers.count(), INT32_MAX)));
  } catch (const std::exception&) {
  }
  std::string why;

  if (o.optimize) {
    if (maintenance_retry([&] { db.exec("PRAGMA optimize"); }, deadline, why))
      r.optimized = true;
    else
      r.notes.push_back("optimize: " + why);
  }
  if (o.integrity_check) {
    try {
      SQLite::Statement st(db, "PRAGMA quick_check(20)");
      while (st.executeStep()) {
        std::string line = st.getColumn(0).getString();
        if (line != "ok") r.integrity_findings.push_back(std::move(line));
      }
      r.integrity_checked = true;
      r.integrity_ok = r.integrity_findings.empty();
    } catch (const SQLite::Exception& e) {
      // A file too damaged to be read is a finding, not a skipped step.
      r.integrity_checked = true;
      r.integrity_ok = false;
      r.integrity_findings.push_back(e.what());
    }
  }
  try {
    r.page_count = maintenance_pragma(db, "PRAGMA page_count");
    r.free_pages = maintenance_pragma(db, "PRAGMA freelist_count");
  } catch (const std::exception& e) {
    r.notes.push_back(std::string("page count: ") + e.what());
  }
  const bool worth_it =
      r.free_pages >= o.vacuum_min_free_pages && r.page_count > 0 &&
      static_cast<double>(r.free_pages) >= o.vacuum_free_ratio * static_cast<double>(r.page_count);
  if (worth_it) {
    if (maintenance_retry([&] { db.exec("VACUUM"); }, deadline, why))
      r.vacuumed = true;
    else
      r.notes.push_back("vacuum skipped: " + why);
  }
  if (o.checkpoint && !path.empty() && path != ":memory:") {
    // TRUNCATE waits (the busy handler) for writers and for readers of older snapshots; one
    // that could still not finish answers busy = 1 instead of failing.
    bool done = false;
    const bool ran = maintenance_retry(
        [&] {
          SQLite::Statement st(db, "PRAGMA wal_checkpoint(TRUNCATE)");
          done = st.executeStep() && st.getColumn(0).getInt() == 0;
        },
        deadline, why);
    if (ran && done)
      r.checkpointed = true;
    else
      r.notes.push_back("checkpoint incomplete: " + (ran ? std::string("readers kept the log busy") : why));
  }
  try {
    db.setBusyTimeout(static_cast<int>(old_timeout));
  } catch (const std::exception&) {
  }
  r.bytes_after = maintenance_bytes(path);
  return r;
}

Result<StoreMaintenanceReport> maintain_file(const std::filesystem::path& path,
                                             const StoreMaintenanceOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return Error{errc::store_error, "cannot maintain database " + path.string() + ": no such file"};
  auto db = open(path, {.what = "database", .create = false});
  if (!db) return db.error();
  return maintain(**db, path.string(), options);
}

}  // namespace sqlite
}  // namespace shelfjobs

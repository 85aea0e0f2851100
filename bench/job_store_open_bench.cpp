// SPDX-License-Identifier: MIT
// What opening a job store with a long history costs: a file with 1,000,000 finished jobs,
// 10,000 queued ones and a day of minute figures is opened and loaded, and the time and the
// memory it took are printed. Opening must cost what the active jobs cost, not the history.
//
//   job_store_open_bench [finished=1000000] [queued=10000] [file]

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <SQLiteCpp/SQLiteCpp.h>

#include "shelfjobs/engine/job_store.hpp"
#include "shelfjobs/engine/sqlite_job_store.hpp"

namespace {

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const long finished = argc > 1 ? std::atol(argv[1]) : 1000000;
  const long queued = argc > 2 ? std::atol(argv[2]) : 10000;
  const std::string path =
      argc > 3 ? argv[3] : (std::filesystem::temp_directory_path() / "shelfjobs-open-bench.db").string();
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) std::filesystem::remove(path + suffix);

  {
    // The schema as the store creates it, then the history written in bulk.
    auto created = shelfjobs::open_sqlite_job_store({.path = path});
    if (!created) {
      std::fprintf(stderr, "%s\n", created.error().message.c_str());
      return 1;
    }
    (*created)->close();
  }
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  {
    const auto t0 = std::chrono::steady_clock::now();
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("PRAGMA journal_mode=WAL");
    SQLite::Transaction tx(db);
    SQLite::Statement fill(db, R"sql(
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
INSERT INTO jobs (id, name, body, priority, trigger, status, queued_at, started_at, ended_at,
                  duration_ms, message)
SELECT i, 'Type' || (i % 20), '{"authorId":' || i || '}', 1, 1,
       CASE WHEN i > ?2 THEN 0 ELSE 2 + (i % 3) END,
       ?3 - (?1 - i) * 1000, ?3 - (?1 - i) * 1000, 
       CASE WHEN i > ?2 THEN NULL ELSE ?3 - (?1 - i) * 1000 + 250 END,
       CASE WHEN i > ?2 THEN NULL ELSE 250 END, 'done'
FROM n)sql");
    fill.bind(1, static_cast<std::int64_t>(finished + queued));
    fill.bind(2, static_cast<std::int64_t>(finished));
    fill.bind(3, static_cast<std::int64_t>(now_ms));
    fill.exec();
    db.exec(
        "INSERT INTO job_stats (name, completed, failed, cancelled) "
        "SELECT name, SUM(status = 2), SUM(status = 3), SUM(status = 4) FROM jobs "
        "WHERE status IN (2, 3, 4) GROUP BY name");
    // A day of minutes for every type.
    SQLite::Statement minutes(db, R"sql(
WITH RECURSIVE m(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM m WHERE i < 1439)
INSERT INTO job_minutes (minute, name, completed, failed, cancelled, duration_sum_ms, durations)
SELECT (?1 / 60000 - i) * 60000, 'Type' || t.k, 3, 1, 0, 1000, '8:4'
FROM m, (WITH RECURSIVE k(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM k WHERE k < 19) SELECT k FROM k) t)sql");
    minutes.bind(1, static_cast<std::int64_t>(now_ms));
    minutes.exec();
    tx.commit();
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    std::printf("filled %ld finished + %ld queued jobs in %.0f ms (%.0f MiB)\n", finished, queued,
                ms_since(t0), static_cast<double>(std::filesystem::file_size(path)) / (1 << 20));
    SQLite::Statement plan(db,
                           "EXPLAIN QUERY PLAN SELECT id FROM jobs INDEXED BY jobs_active "
                           "WHERE status IN (0, 1) ORDER BY id");
    while (plan.executeStep()) std::printf("  plan: %s\n", plan.getColumn(3).getString().c_str());
  }

  const long rss_before = rss_kib();
  const auto t0 = std::chrono::steady_clock::now();
  auto opened = shelfjobs::open_sqlite_job_store({.path = path});
  if (!opened) {
    std::fprintf(stderr, "%s\n", opened.error().message.c_str());
    return 1;
  }
  const double open_ms = ms_since(t0);
  auto state =
      (*opened)->load(shelfjobs::TimePoint(std::chrono::milliseconds(now_ms)) - std::chrono::hours(24));
  const double total_ms = ms_since(t0);
  if (!state) {
    std::fprintf(stderr, "%s\n", state.error().message.c_str());
    return 1;
  }
  std::printf(
      "open %.1f ms, open + load %.1f ms: %zu active, max id %lld, %zu types, %zu minute "
      "rows; RSS +%ld KiB\n",
      open_ms, total_ms, state->active.size(), static_cast<long long>(state->max_id), state->totals.size(),
      state->minutes.size(), rss_kib() - rss_before);
  (*opened)->close();
  opened->reset();
  // A file named on the command line stays, to look at with the sqlite3 shell.
  if (argc <= 3) {
    for (const char* suffix : {"", "-wal", "-shm", ".lock"}) std::filesystem::remove(path + suffix);
  }
  return 0;
}

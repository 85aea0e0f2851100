// SPDX-License-Identifier: MIT
// Kill a host with SIGKILL in the middle of 1,500 jobs, restart it, and check that every job
// ends in exactly one terminal state and none is lost.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include "process.hpp"
#include "test_support.hpp"

#ifndef CRASH_HOST_PATH
#error "CRASH_HOST_PATH must name the crash_host binary"
#endif

using namespace testing;

namespace {
std::int64_t count(const std::string& db, const std::string& where) {
  try {
    SQLite::Database conn(db, SQLite::OPEN_READONLY);
    conn.setBusyTimeout(1000);
    return conn.execAndGet("SELECT COUNT(*) FROM jobs WHERE " + where).getInt64();
  } catch (const std::exception&) {
    return 0;  // not created yet
  }
}
}  // namespace

TEST_CASE("a host killed with SIGKILL mid-run loses no job", "[crash][slow]") {
  TempDir dir;
  const std::string db = dir.file("crash.db");
  constexpr int kJobs = 1500;
  const int kill_after = GENERATE(1, 400);

  const pid_t host = spawn({CRASH_HOST_PATH, db, "push", std::to_string(kJobs)});
  REQUIRE(host > 0);
  // Kill it once some jobs are committed as completed and others are still queued.
  const bool reached =
      eventually([&] { return count(db, "status = 2") >= kill_after; }, std::chrono::seconds(60));
  kill(host, SIGKILL);
  CHECK(wait_exit(host) == -SIGKILL);
  REQUIRE(reached);
  const auto done_before = count(db, "status = 2");
  CHECK(done_before < kJobs);

  const pid_t again = spawn({CRASH_HOST_PATH, db, "resume"});
  REQUIRE(wait_exit(again, std::chrono::minutes(3)) == 0);

  SQLite::Database conn(db, SQLite::OPEN_READONLY);
  CHECK(conn.execAndGet("SELECT COUNT(*) FROM jobs").getInt64() == kJobs);
  CHECK(conn.execAndGet("SELECT COUNT(DISTINCT id) FROM jobs").getInt64() == kJobs);
  CHECK(conn.execAndGet("SELECT COUNT(*) FROM jobs WHERE status = 2").getInt64() == kJobs);
  // Every body 0..N-1 exists exactly once.
  CHECK(conn.execAndGet("SELECT COUNT(DISTINCT json_extract(body, '$.n')) FROM jobs").getInt64() == kJobs);
  CHECK(
      conn.execAndGet("SELECT COUNT(*) FROM jobs WHERE ended_at IS NULL OR started_at IS NULL").getInt64() ==
      0);
  CHECK(conn.execAndGet("SELECT COUNT(*) FROM jobs WHERE message NOT LIKE 'done %'").getInt64() == 0);
  // Jobs the kill interrupted ran again as attempt 2.
  CHECK(conn.execAndGet("SELECT MAX(attempt) FROM jobs").getInt() <= 2);
}

// SPDX-License-Identifier: MIT
// The coalescing VFS (engine/sqlite/wal_writes.hpp) that every file the SQLite toolkit opens
// writes its log through: the files stay ordinary SQLite files, a killed process keeps every
// commit that returned, and a full disk fails the commit that met it and nothing before it.

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <string>

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>
#include <catch2/catch.hpp>

#include "engine/sqlite/sqlite_toolkit.hpp"
#include "engine/sqlite/wal_writes.hpp"
#include "process.hpp"
#include "test_support.hpp"

using namespace testing;
namespace sq = shelfjobs::sqlite;

namespace {

std::unique_ptr<SQLite::Database> wal_open(const std::string& path, sq::OpenOptions o = {}) {
  auto db = sq::open(path, o);
  if (!db) FAIL(db.error().message);
  return std::move(db).value();
}

std::string wal_vfs_of(SQLite::Database& db) {
  sqlite3_vfs* vfs = nullptr;
  REQUIRE(sqlite3_file_control(db.getHandle(), "main", SQLITE_FCNTL_VFS_POINTER, &vfs) == SQLITE_OK);
  return vfs != nullptr && vfs->zName != nullptr ? vfs->zName : "";
}

int wal_rows(SQLite::Database& db) { return db.execAndGet("SELECT COUNT(*) FROM t").getInt(); }

std::string wal_integrity(SQLite::Database& db) {
  return db.execAndGet("PRAGMA integrity_check").getString();
}

// Reads one int the child wrote to `fd` (-1 when it wrote none).
int wal_read_int(int fd) {
  int v = -1;
  return ::read(fd, &v, sizeof v) == static_cast<ssize_t>(sizeof v) ? v : -1;
}

}  // namespace

TEST_CASE("a file the toolkit opens writes its log through the coalescing VFS and stays a plain SQLite file",
          "[sqlite]") {
  REQUIRE(sq::coalescing_vfs() != nullptr);
  TempDir dir;
  const std::string path = dir.file("plain.db");
  auto db = wal_open(path);
  CHECK(wal_vfs_of(*db) == sq::coalescing_vfs());
  CHECK(wal_vfs_of(*wal_open(":memory:")) != sq::coalescing_vfs());  // nothing to coalesce there
  CHECK(wal_vfs_of(*wal_open(dir.file("off.db"), {.coalesce_log = false})) != sq::coalescing_vfs());

  db->exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
  // Small commits, one of several pages, one larger than the gathered run's cap (a transaction
  // that spills its page cache writes frames before its commit), and one rolled back.
  for (int i = 0; i < 50; ++i) db->exec("INSERT INTO t (v) VALUES (randomblob(100))");
  db->exec(
      "BEGIN; INSERT INTO t (v) SELECT randomblob(3000) FROM (SELECT 1 UNION SELECT 2 UNION SELECT 3); "
      "COMMIT");
  db->exec("PRAGMA cache_size = 20");  // 20 pages: the big transaction spills
  {
    sq::WriteTransaction tx(*db);
    db->exec(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600) "
        "INSERT INTO t (v) SELECT randomblob(3000) FROM n");
    tx.commit();
  }
  {
    sq::WriteTransaction tx(*db);
    db->exec("INSERT INTO t (v) VALUES (randomblob(100))");
  }  // rolled back
  db->exec("INSERT INTO t (v) VALUES (zeroblob(10))");
  CHECK(wal_rows(*db) == 50 + 3 + 600 + 1);

  // Another connection, through the default VFS, while this one holds the file: it reads the
  // log this one wrote.
  SQLite::Database plain(path, SQLite::OPEN_READONLY);
  CHECK(wal_vfs_of(plain) != sq::coalescing_vfs());
  CHECK(wal_rows(plain) == 654);
  CHECK(wal_integrity(plain) == "ok");

  // A checkpoint reads the frames back: the database file then holds them too.
  db->exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.reset();
  SQLite::Database after(path, SQLite::OPEN_READONLY);
  CHECK(wal_rows(after) == 654);
  CHECK(wal_integrity(after) == "ok");
}

TEST_CASE("padding frames of a full sync are written before another connection can read them", "[sqlite]") {
  // With synchronous=FULL on a device without powersafe overwrite (psow=0), SQLite pads each
  // commit to a sector boundary with copies of its commit frame and points the index at the last
  // copy, which it may write in two parts around the sync: those must reach the file too.
  TempDir dir;
  const std::string path = dir.file("padded.db");
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open_v2(("file:" + path + "?psow=0").c_str(), &raw,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
                          sq::coalescing_vfs()) == SQLITE_OK);
  auto exec = [&](const std::string& sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &error);
    INFO(sql << ": " << (error != nullptr ? error : ""));
    sqlite3_free(error);
    REQUIRE(rc == SQLITE_OK);
  };
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=FULL");
  exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  SQLite::Database reader(path, SQLite::OPEN_READONLY);
  for (int i = 1; i <= 40; ++i) {
    exec("INSERT INTO t (v) VALUES ('row " + std::to_string(i) + "')");
    REQUIRE(reader.execAndGet("SELECT COUNT(*) FROM t").getInt() == i);
    REQUIRE(reader.execAndGet("SELECT v FROM t ORDER BY id DESC LIMIT 1").getString() ==
            "row " + std::to_string(i));
  }
  CHECK(wal_integrity(reader) == "ok");
  sqlite3_close(raw);
}

TEST_CASE("a process killed after its commits returned keeps every one of them", "[sqlite]") {
  TempDir dir;
  const std::string path = dir.file("killed.db");
  for (bool full_sync : {false, true}) {
    CAPTURE(full_sync);
    std::filesystem::remove(path);
    int done[2];
    REQUIRE(::pipe(done) == 0);
    const pid_t pid = fork();
    if (pid == 0) {
      ::close(done[0]);
      auto db = sq::open(path, {.sync_full = full_sync});
      if (!db) _exit(1);
      (*db)->exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
      int n = 0;
      for (; n < 300; ++n)
        (*db)->exec("INSERT INTO t (v) VALUES (randomblob(200 + " + std::to_string(n) + "))");
      if (::write(done[1], &n, sizeof n) != static_cast<ssize_t>(sizeof n)) _exit(2);
      for (;;) ::pause();  // killed here, the connection open and the log not checkpointed
    }
    ::close(done[1]);
    const int committed = wal_read_int(done[0]);
    ::close(done[0]);
    REQUIRE(committed == 300);
    ::kill(pid, SIGKILL);
    CHECK(wait_exit(pid) == -SIGKILL);

    SQLite::Database plain(path, SQLite::OPEN_READWRITE);  // recovers the log, as any reader would
    CHECK(wal_rows(plain) == 300);
    CHECK(wal_integrity(plain) == "ok");
  }
}

TEST_CASE("a full disk fails the commit that met it and keeps every commit before it", "[sqlite]") {
  TempDir dir;
  const std::string path = dir.file("full.db");
  int report[2];
  REQUIRE(::pipe(report) == 0);
  const pid_t pid = fork();
  if (pid == 0) {
    ::close(report[0]);
    auto db = sq::open(path, {});
    if (!db) _exit(1);
    (*db)->exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
    (*db)->exec("PRAGMA wal_autocheckpoint = 0");  // the log only grows, into the limit
    // Past 256 KiB, write() fails with EFBIG as a full disk fails it with ENOSPC; the signal that
    // would kill the process is ignored, as shelfd ignores it.
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{256 * 1024, 256 * 1024};
    if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) _exit(3);
    int committed = 0;
    int code = 0;
    for (int i = 0; i < 1000; ++i) {
      try {
        sq::WriteTransaction tx(**db);
        (*db)->exec("INSERT INTO t (v) VALUES (randomblob(3000))");
        tx.commit();
        ++committed;
      } catch (const SQLite::Exception& e) {
        code = e.getErrorCode();
        break;
      }
    }
    if (::write(report[1], &committed, sizeof committed) != static_cast<ssize_t>(sizeof committed)) _exit(2);
    if (::write(report[1], &code, sizeof code) != static_cast<ssize_t>(sizeof code)) _exit(2);
    _exit(0);
  }
  ::close(report[1]);
  const int committed = wal_read_int(report[0]);
  const int code = wal_read_int(report[0]);
  ::close(report[0]);
  REQUIRE(wait_exit(pid) == 0);
  INFO("commits before the limit: " << committed << ", then error " << code);
  CHECK(committed > 10);
  CHECK(committed < 1000);
  CHECK((code == SQLITE_FULL || code == SQLITE_IOERR));  // the commit says so, not a later one

  SQLite::Database plain(path, SQLite::OPEN_READWRITE);
  CHECK(wal_rows(plain) == committed);
  CHECK(wal_integrity(plain) == "ok");
}

// SPDX-License-Identifier: MIT
// The SQLite toolkit (src/sqlite): open and its pragmas, the versioned migration (and its legacy
// version slots), transactions, typed binds and columns, column lists; and the three files built
// on it (job store, catalog, metadata cache) against another process holding them.

#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>
#include <catch2/catch.hpp>

#include "adapters/metadata_cache.hpp"
#include "engine/sqlite/sqlite_toolkit.hpp"
#include "process.hpp"
#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/engine/job_store.hpp"
#include "shelfjobs/engine/sqlite_job_store.hpp"
#include "test_support.hpp"

using namespace shelfjobs;
using namespace testing;
using namespace std::chrono;
namespace sq = shelfjobs::sqlite;

namespace {

std::unique_ptr<SQLite::Database> open_ok(const std::filesystem::path& path, sq::OpenOptions o = {}) {
  auto db = sq::open(path, o);
  if (!db) FAIL(db.error().message);
  return std::move(db).value();
}

const std::vector<std::string> kTwoSteps = {
    "CREATE TABLE a (x INTEGER);",
    "CREATE TABLE b (y INTEGER); INSERT INTO a VALUES (1);",
};

int count(SQLite::Database& db, const std::string& sql) { return db.execAndGet(sql).getInt(); }

enum class Colour { red = 1, green = 2 };

}  // namespace

// ---- open --------------------------------------------------------------------------------------

TEST_CASE("open applies the pragmas to a file and to an in-memory database", "[sqlite]") {
  TempDir dir;
  auto db = open_ok(dir.file("a.db"), {.busy_timeout = 1234ms});
  CHECK(db->execAndGet("PRAGMA busy_timeout").getInt() == 1234);
  CHECK(db->execAndGet("PRAGMA journal_mode").getString() == "wal");
  CHECK(db->execAndGet("PRAGMA synchronous").getInt() == 1);  // NORMAL
  CHECK(db->execAndGet("PRAGMA foreign_keys").getInt() == 1);
  CHECK(db->execAndGet("PRAGMA temp_store").getInt() == 2);  // MEMORY
  CHECK(db->execAndGet("PRAGMA query_only").getInt() == 0);

  auto full = open_ok(dir.file("b.db"), {.sync_full = true});
  CHECK(full->execAndGet("PRAGMA synchronous").getInt() == 2);
  CHECK(full->execAndGet("PRAGMA busy_timeout").getInt() == sq::kDefaultBusyTimeout.count());

  auto mem = open_ok(":memory:");
  CHECK(mem->execAndGet("PRAGMA journal_mode").getString() == "memory");
  CHECK(mem->execAndGet("PRAGMA foreign_keys").getInt() == 1);
}

TEST_CASE("a query-only connection refuses writes", "[sqlite]") {
  TempDir dir;
  auto w = open_ok(dir.file("a.db"));
  w->exec("CREATE TABLE t (x INTEGER)");
  auto r = open_ok(dir.file("a.db"), {.create = false, .query_only = true});
  CHECK(count(*r, "SELECT COUNT(*) FROM t") == 0);
  CHECK_THROWS_AS(r->exec("INSERT INTO t VALUES (1)"), SQLite::Exception);
}

TEST_CASE("open reports bad paths and options, naming the file", "[sqlite]") {
  TempDir dir;
  SECTION("a missing folder") {
    auto db = sq::open(dir.path() / "missing" / "x.db", {.what = "test file"});
    REQUIRE_FALSE(db.has_value());
    CHECK(db.error().code == errc::store_error);
    CHECK_THAT(db.error().message, Catch::Contains("test file") && Catch::Contains("x.db"));
  }
  SECTION("a missing file that may not be created") {
    auto db = sq::open(dir.file("none.db"), {.create = false});
    REQUIRE_FALSE(db.has_value());
    CHECK(db.error().code == errc::store_error);
    CHECK_THAT(db.error().message, Catch::Contains("none.db"));
  }
  SECTION("an empty path and a negative busy timeout") {
    CHECK(sq::open("", {}).error().code == errc::invalid_argument);
    CHECK(sq::open(dir.file("a.db"), {.busy_timeout = -1ms}).error().code == errc::invalid_argument);
  }
}

TEST_CASE("open creates missing folders when asked", "[sqlite]") {
  TempDir dir;
  auto db = open_ok(dir.path() / "x" / "y" / "a.db", {.create_folders = true});
  CHECK(std::filesystem::exists(dir.path() / "x" / "y" / "a.db"));
}

// ---- migrate -----------------------------------------------------------------------------------

TEST_CASE("migrate applies each step once and records the version", "[sqlite]") {
  TempDir dir;
  auto db = open_ok(dir.file("m.db"));
  REQUIRE(sq::migrate(*db, "test", {kTwoSteps[0]}).has_value());
  CHECK(sq::schema_version(*db, "test") == 1);
  CHECK_FALSE(db->tableExists("b"));
  // A later build knows one more step: only that one runs.
  REQUIRE(sq::migrate(*db, "test", kTwoSteps).has_value());
  CHECK(sq::schema_version(*db, "test") == 2);
  CHECK(count(*db, "SELECT COUNT(*) FROM a") == 1);
  // Up to date: nothing runs again.
  REQUIRE(sq::migrate(*db, "test", kTwoSteps).has_value());
  CHECK(count(*db, "SELECT COUNT(*) FROM a") == 1);
  CHECK(count(*db, "SELECT version FROM shelfjobs_schema WHERE name = 'test'") == 2);
}

TEST_CASE("two schemas keep their own versions in one file", "[sqlite]") {
  auto db = open_ok(":memory:");
  REQUIRE(sq::migrate(*db, "one", kTwoSteps).has_value());
  REQUIRE(sq::migrate(*db, "two", {"CREATE TABLE c (z INTEGER);"}).has_value());
  CHECK(sq::schema_version(*db, "one") == 2);
  CHECK(sq::schema_version(*db, "two") == 1);
}

TEST_CASE("migrate refuses a file newer than the code and names both versions", "[sqlite]") {
  TempDir dir;
  auto db = open_ok(dir.file("new.db"));
  REQUIRE(sq::migrate(*db, "test", kTwoSteps).has_value());
  auto st =
      sq::migrate(*db, "test", {kTwoSteps[0]}, {.newer_file = errc::invalid_argument, .what = "test file"});
  REQUIRE_FALSE(st.has_value());
  CHECK(st.error().code == errc::invalid_argument);
  CHECK_THAT(st.error().message, Catch::Contains("test file") && Catch::Contains("new.db") &&
                                     Catch::Contains("version 2") && Catch::Contains("(1)"));
}

TEST_CASE("a failing migration keeps the steps before it and nothing of itself", "[sqlite]") {
  TempDir dir;
  auto db = open_ok(dir.file("bad.db"));
  auto st = sq::migrate(
      *db, "test",
      {"CREATE TABLE a (x INTEGER);", "CREATE TABLE b (y INTEGER); INSERT INTO nowhere VALUES (1);"});
  REQUIRE_FALSE(st.has_value());
  CHECK(st.error().code == errc::store_error);
  CHECK_THAT(st.error().message, Catch::Contains("bad.db") && Catch::Contains("migration 2"));
  CHECK(sq::schema_version(*db, "test") == 1);
  CHECK(db->tableExists("a"));
  CHECK_FALSE(db->tableExists("b"));
  // The connection is not left inside the failed transaction.
  sq::WriteTransaction tx(*db);
  tx.commit();
}

TEST_CASE("a file of an earlier release keeps its version in the legacy slots", "[sqlite]") {
  TempDir dir;
  SECTION("PRAGMA user_version") {
    {
      SQLite::Database raw(dir.file("old.db"), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
      raw.exec(kTwoSteps[0]);
      raw.exec("PRAGMA user_version = 1");
    }
    auto db = open_ok(dir.file("old.db"));
    const sq::MigrateOptions o{.legacy = {.user_version = true}};
    CHECK(sq::schema_version(*db, "test", o.legacy) == 1);
    REQUIRE(sq::migrate(*db, "test", kTwoSteps, o).has_value());  // no "table a exists"
    CHECK(count(*db, "SELECT COUNT(*) FROM a") == 1);
    CHECK(count(*db, "PRAGMA user_version") == 2);  // an older build still sees the version
    CHECK(sq::schema_version(*db, "test") == 2);
  }
  SECTION("a key of a meta table") {
    {
      SQLite::Database raw(dir.file("old.db"), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
      raw.exec(kTwoSteps[0]);
      raw.exec(
          "CREATE TABLE old_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
          "INSERT INTO old_meta VALUES ('schema_version', 1);");
    }
    auto db = open_ok(dir.file("old.db"));
    const sq::MigrateOptions o{.legacy = {.meta_table = "old_meta", .meta_key = "schema_version"}};
    REQUIRE(sq::migrate(*db, "test", kTwoSteps, o).has_value());
    CHECK(count(*db, "SELECT value FROM old_meta WHERE key = 'schema_version'") == 2);
    CHECK(sq::schema_version(*db, "test") == 2);
    // A legacy slot raised past the code (by hand, or a newer build) is refused too.
    db->exec("UPDATE old_meta SET value = 9");
    CHECK_FALSE(sq::migrate(*db, "test", kTwoSteps, o).has_value());
  }
}

TEST_CASE("processes migrating one new file at once apply each step once", "[sqlite][concurrency]") {
  const std::vector<std::string> steps = {"CREATE TABLE a (x INTEGER);", "INSERT INTO a VALUES (1);",
                                          "CREATE TABLE b (y INTEGER);"};
  for (int round = 0; round < 5; ++round) {
    CAPTURE(round);
    TempDir dir;
    const std::string path = dir.file("race.db");
    int go[2];
    REQUIRE(::pipe(go) == 0);
    std::vector<pid_t> children;
    for (int i = 0; i < 3; ++i) {
      const pid_t pid = fork();
      if (pid == 0) {
        ::close(go[1]);
        char c = 0;
        if (::read(go[0], &c, 1) != 0) _exit(3);  // end of file: go
        auto db = sq::open(path, {});
        if (!db) _exit(1);
        _exit(sq::migrate(**db, "race", steps).has_value() ? 0 : 2);
      }
      children.push_back(pid);
    }
    ::close(go[0]);
    ::close(go[1]);  // end of file: every child goes at once
    for (pid_t pid : children) CHECK(wait_exit(pid) == 0);
    auto db = open_ok(path);
    CHECK(count(*db, "SELECT COUNT(*) FROM a") == 1);  // step 2 ran once
    CHECK(sq::schema_version(*db, "race") == 3);
  }
}

// ---- transactions ------------------------------------------------------------------------------

TEST_CASE("a write transaction rolls back unless committed", "[sqlite]") {
  auto db = open_ok(":memory:");
  db->exec("CREATE TABLE t (x INTEGER)");
  {
    sq::WriteTransaction tx(*db);
    db->exec("INSERT INTO t VALUES (1)");
  }
  CHECK(count(*db, "SELECT COUNT(*) FROM t") == 0);
  try {
    sq::WriteTransaction tx(*db);
    db->exec("INSERT INTO t VALUES (1)");
    db->exec("INSERT INTO nowhere VALUES (1)");
    tx.commit();
  } catch (const SQLite::Exception&) {
  }
  CHECK(count(*db, "SELECT COUNT(*) FROM t") == 0);
  {
    sq::WriteTransaction tx(*db);
    db->exec("INSERT INTO t VALUES (2)");
    tx.commit();
  }
  CHECK(count(*db, "SELECT x FROM t") == 2);
  {
    sq::ReadTransaction tx(*db);
    CHECK(count(*db, "SELECT COUNT(*) FROM t") == 1);
  }
  sq::rollback_if_open(*db);  // none open: nothing happens
  CHECK(count(*db, "SELECT COUNT(*) FROM t") == 1);
}

TEST_CASE("a prepared transaction begins and commits again after a BEGIN or a COMMIT failed", "[sqlite]") {
  TempDir dir;
  const auto path = dir.file("t.db");
  auto db = open_ok(path, {.busy_timeout = 0ms});
  db->exec("CREATE TABLE t (x INTEGER)");
  sq::PreparedTransaction prepared(*db);
  {
    sq::WriteTransaction tx(*db, prepared);
    db->exec("INSERT INTO t VALUES (1)");
    tx.commit();
  }
  {
    sq::WriteTransaction tx(*db, prepared);  // not committed: rolled back
    db->exec("INSERT INTO t VALUES (2)");
  }
  CHECK(count(*db, "SELECT COUNT(*) FROM t") == 1);
  {
    // Another connection holds the write lock: BEGIN IMMEDIATE fails at once (no busy wait).
    auto other = open_ok(path);
    sq::WriteTransaction held(*other);
    CHECK_THROWS_AS(sq::WriteTransaction(*db, prepared), SQLite::Exception);
    CHECK(sqlite3_get_autocommit(db->getHandle()) != 0);  // no transaction left open
  }
  {
    // A COMMIT that fails (a deferred foreign key still broken) leaves the transaction to the
    // destructor, which rolls it back; the statements run again afterwards.
    db->exec("PRAGMA foreign_keys=ON");
    db->exec("CREATE TABLE p (id INTEGER PRIMARY KEY)");
    db->exec("CREATE TABLE c (p INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)");
    sq::WriteTransaction tx(*db, prepared);
    db->exec("INSERT INTO c VALUES (7)");
    CHECK_THROWS_AS(tx.commit(), SQLite::Exception);
  }
  CHECK(sqlite3_get_autocommit(db->getHandle()) != 0);
  CHECK(count(*db, "SELECT COUNT(*) FROM c") == 0);
  for (int i = 0; i < 3; ++i) {
    sq::WriteTransaction tx(*db, prepared);
    db->exec("INSERT INTO t VALUES (3)");
    tx.commit();
  }
  CHECK(count(*db, "SELECT COUNT(*) FROM t") == 4);
}

// ---- binds and columns -------------------------------------------------------------------------

TEST_CASE("typed binds and columns round-trip optional values, times, dates and enums", "[sqlite]") {
  auto db = open_ok(":memory:");
  db->exec(
      "CREATE TABLE t (i INTEGER, s TEXT, tm INTEGER, d TEXT, e INTEGER, b INTEGER, "
      "ms INTEGER, f REAL)");
  const TimePoint t = system_clock::time_point(milliseconds(1'700'000'000'123));
  const sq::Date d = year{2021} / March / 7;
  SQLite::Statement ins(*db, "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  SECTION("values") {
    sq::bind(ins, 1, std::int64_t{42});
    sq::bind(ins, 2, std::string_view("text"));
    sq::bind(ins, 3, t);
    sq::bind(ins, 4, d);
    sq::bind(ins, 5, Colour::green);
    sq::bind(ins, 6, true);
    sq::bind(ins, 7, 1500ms);
    sq::bind(ins, 8, 2.5);
    ins.exec();
    SQLite::Statement st(*db, "SELECT i, s, tm, d, e, b, ms, f FROM t");
    REQUIRE(st.executeStep());
    CHECK(sq::column<std::int64_t>(st, 0) == 42);
    CHECK(sq::column<std::string>(st, 1) == "text");
    CHECK(sq::column<TimePoint>(st, 2) == t);
    CHECK(sq::column<sq::Date>(st, 3) == d);
    CHECK(sq::column<std::string>(st, 3) == "2021-03-07");
    CHECK(sq::column<Colour>(st, 4) == Colour::green);
    CHECK(sq::column<bool>(st, 5));
    CHECK(sq::column<milliseconds>(st, 6) == 1500ms);
    CHECK(sq::column<double>(st, 7) == 2.5);
    CHECK(sq::column<std::optional<TimePoint>>(st, 2) == t);
    CHECK(sq::column<std::optional<sq::Date>>(st, 3) == d);
    CHECK(sq::column<std::optional<Colour>>(st, 4) == Colour::green);
  }
  SECTION("empty optionals are NULL and read back as nullopt") {
    sq::bind(ins, 1, std::optional<std::int64_t>{});
    sq::bind(ins, 2, std::optional<std::string>{});
    sq::bind(ins, 3, std::optional<TimePoint>{});
    sq::bind(ins, 4, std::optional<sq::Date>{});
    sq::bind(ins, 5, std::optional<Colour>{});
    sq::bind(ins, 6, std::nullopt);
    sq::bind(ins, 7, std::optional<milliseconds>{});
    sq::bind(ins, 8, std::optional<double>{});
    ins.exec();
    CHECK(count(*db, "SELECT COUNT(*) FROM t WHERE COALESCE(i, s, tm, d, e, b, ms, f) IS NULL") == 1);
    SQLite::Statement st(*db, "SELECT i, s, tm, d, e, b, ms, f FROM t");
    REQUIRE(st.executeStep());
    CHECK_FALSE(sq::column<std::optional<std::int64_t>>(st, 0));
    CHECK_FALSE(sq::column<std::optional<std::string>>(st, 1));
    CHECK_FALSE(sq::column<std::optional<TimePoint>>(st, 2));
    CHECK_FALSE(sq::column<std::optional<sq::Date>>(st, 3));
    CHECK_FALSE(sq::column<std::optional<Colour>>(st, 4));
    CHECK_FALSE(sq::column<std::optional<milliseconds>>(st, 6));
  }
  SECTION("text that is no date") {
    db->exec("INSERT INTO t (d) VALUES ('2021-02-30'), ('soon')");
    SQLite::Statement st(*db, "SELECT d FROM t");
    while (st.executeStep()) {
      CHECK_FALSE(sq::column<std::optional<sq::Date>>(st, 0));
      CHECK_THROWS(sq::column<sq::Date>(st, 0));
    }
  }
}

TEST_CASE("a column list gives the SELECT list and each name's index", "[sqlite]") {
  static constexpr sq::Columns kCols{"id", "name", "added"};
  static_assert(kCols["id"] == 0 && kCols["added"] == 2);
  static_assert(decltype(kCols)::size() == 3);
  CHECK(kCols.list() == "id, name, added");
  CHECK(kCols.list("t") == "t.id, t.name, t.added");
  auto db = open_ok(":memory:");
  db->exec("CREATE TABLE t (added INTEGER, id INTEGER, name TEXT); INSERT INTO t VALUES (7, 1, 'x')");
  SQLite::Statement st(*db, "SELECT " + kCols.list() + " FROM t");
  REQUIRE(st.executeStep());
  CHECK(sq::column<std::string>(st, kCols["name"]) == "x");
  CHECK(sq::column<std::int64_t>(st, kCols["added"]) == 7);
}

// ---- the three files: job store, catalog, metadata cache ---------------------------------------

namespace {

// One of shelfjobs' SQLite files, opened the way the library opens it.
struct FileKind {
  const char* what;
  const char* file;
  const char* schema;  // its name in shelfjobs_schema
  sq::LegacyVersion legacy;
  int version;  // what a new file is migrated to
  // Opens the file and closes it again: nullopt, or the error.
  std::optional<Error> (*open)(const std::string& path, milliseconds busy);
};

template <class R>
std::optional<Error> error_of(const R& r) {
  if (r.has_value()) return std::nullopt;
  return r.error();
}

const FileKind kFiles[] = {
    {"job store",
     "jobs.db",
     "jobs",
     {.user_version = true},
     job_store_schema_version(),
     [](const std::string& path, milliseconds busy) {
       return error_of(open_sqlite_job_store({.path = path, .busy_timeout = busy, .logger = quiet_logger()}));
     }},
    {"catalog",
     "catalog.db",
     "catalog",
     {.meta_table = "catalog_meta", .meta_key = "schema_version"},
     catalog_schema_version(),
     [](const std::string& path, milliseconds busy) {
       return error_of(open_sqlite_catalog({.path = path, .busy_timeout = busy}));
     }},
    {"metadata cache",
     "metadata-cache.db",
     "metadata_cache",
     {.user_version = true},
     1,
     [](const std::string& path, milliseconds busy) {
       return error_of(detail::MetadataCache::open(path, quiet_logger(), busy));
     }},
};

enum class Hold { write_transaction, exclusive_lock };

// A child process holding a lock on a file: a write transaction (BEGIN IMMEDIATE with a write
// in it; WAL readers go on beside it), or an exclusive lock (locking_mode=EXCLUSIVE: no other
// connection may even read). It lets go when `release()` is called, or on its own after
// `hold_for` when given.
class Holder {
 public:
  Holder(const std::string& path, Hold how, std::optional<milliseconds> hold_for = std::nullopt) {
    int ready[2], let_go[2];
    REQUIRE(::pipe(ready) == 0);
    REQUIRE(::pipe(let_go) == 0);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(ready[0]);
      ::close(let_go[1]);
      try {
        SQLite::Database db(path, SQLite::OPEN_READWRITE);
        if (how == Hold::exclusive_lock) {
          db.exec("PRAGMA locking_mode=EXCLUSIVE");
          db.exec("BEGIN EXCLUSIVE");
        } else {
          db.exec("BEGIN IMMEDIATE");
        }
        db.exec("CREATE TABLE holder_probe (x INTEGER)");
        if (::write(ready[1], "r", 1) != 1) _exit(4);
        if (hold_for) {
          std::this_thread::sleep_for(*hold_for);
        } else {
          char c = 0;
          (void)!::read(let_go[0], &c, 1);  // end of file: let go
        }
        db.exec("ROLLBACK");
      } catch (...) {
        _exit(3);
      }
      _exit(0);
    }
    ::close(ready[1]);
    ::close(let_go[0]);
    release_ = let_go[1];
    char c = 0;
    const bool holding = ::read(ready[0], &c, 1) == 1;
    ::close(ready[0]);
    if (!holding) {
      const int code = release();
      FAIL("the holder process could not lock the file (exit code " << code << ")");
    }
  }
  /// Lets go and waits for the child: its exit code (0: it held and let go).
  int release() {
    if (release_ >= 0) {
      ::close(release_);  // end of file (a write could meet a child that is gone: SIGPIPE)
      release_ = -1;
    }
    return pid_ > 0 ? wait_exit(std::exchange(pid_, -1)) : 0;
  }
  ~Holder() { release(); }
  Holder(const Holder&) = delete;
  Holder& operator=(const Holder&) = delete;

 private:
  pid_t pid_ = -1;
  int release_ = -1;
};

}  // namespace

TEST_CASE("opening any of the three files while another process writes to it succeeds",
          "[sqlite][catalog][bookinfo]") {
  for (const FileKind& kind : kFiles) {
    CAPTURE(kind.what);
    TempDir dir;
    const std::string path = dir.file(kind.file);
    REQUIRE_FALSE(kind.open(path, 5s));  // a migrated WAL file
    Holder holder(path, Hold::write_transaction);
    // WAL: readers go on beside a writer; an up-to-date file needs no write lock to open.
    const auto err = kind.open(path, 10s);
    if (err) FAIL_CHECK(err->message);
    CHECK(holder.release() == 0);
  }
}

TEST_CASE(
    "opening any of the three files while another process locks it out fails with "
    "store_error naming the file after the busy timeout",
    "[sqlite][catalog][bookinfo]") {
  for (const FileKind& kind : kFiles) {
    CAPTURE(kind.what);
    TempDir dir;
    const std::string path = dir.file(kind.file);
    REQUIRE_FALSE(kind.open(path, 5s));
    Holder holder(path, Hold::exclusive_lock);
    const auto err = kind.open(path, 100ms);
    REQUIRE(err);
    CHECK(err->code == errc::store_error);
    CHECK_THAT(err->message, Catch::Contains(path) && Catch::Contains(kind.what));
    CHECK(holder.release() == 0);
  }
}

TEST_CASE("opening any of the three files waits for another process's lock to go",
          "[sqlite][catalog][bookinfo]") {
  for (const FileKind& kind : kFiles) {
    CAPTURE(kind.what);
    TempDir dir;
    const std::string path = dir.file(kind.file);
    REQUIRE_FALSE(kind.open(path, 5s));
    // The child lets go on its own, well within the opener's busy timeout.
    Holder holder(path, Hold::exclusive_lock, 200ms);
    const auto err = kind.open(path, 30s);
    if (err) FAIL_CHECK(err->message);
    CHECK(holder.release() == 0);
  }
}

TEST_CASE(
    "two processes opening any of the three files new at once both succeed, the schema "
    "applied once",
    "[sqlite][catalog][bookinfo][concurrency]") {
  for (const FileKind& kind : kFiles) {
    for (int round = 0; round < 5; ++round) {
      CAPTURE(kind.what, round);
      TempDir dir;
      const std::string path = dir.file(kind.file);
      int go[2];
      REQUIRE(::pipe(go) == 0);
      std::vector<pid_t> children;
      for (int i = 0; i < 2; ++i) {
        const pid_t pid = fork();
        if (pid == 0) {
          ::close(go[1]);
          char c = 0;
          if (::read(go[0], &c, 1) != 0) _exit(3);
          // The job store's flock refuses a second engine while the first has the file open
          // (intended, and separate from SQLite's locks): that one tries again once it closed.
          const auto until = steady_clock::now() + 20s;
          for (;;) {
            const auto err = kind.open(path, 10s);
            if (!err) _exit(0);
            if (err->message.find("in use by another engine") == std::string::npos ||
                steady_clock::now() > until) {
              std::fprintf(stderr, "%s\n", err->message.c_str());
              _exit(1);
            }
            std::this_thread::sleep_for(5ms);
          }
        }
        children.push_back(pid);
      }
      ::close(go[0]);
      ::close(go[1]);  // end of file: both go at once
      for (pid_t pid : children) CHECK(wait_exit(pid) == 0);
      auto db = open_ok(path);
      CHECK(sq::schema_version(*db, kind.schema, kind.legacy) == kind.version);
      CHECK(sq::schema_version(*db, kind.schema) == kind.version);
    }
  }
}

TEST_CASE("a job store file of an earlier release opens with its jobs", "[sqlite]") {
  TempDir dir;
  const std::string path = dir.file("jobs.db");
  { REQUIRE(open_sqlite_job_store({.path = path, .logger = quiet_logger()}).has_value()); }
  {
    // As the earlier release left it: the version in user_version only.
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    raw.exec("DROP TABLE shelfjobs_schema");
    raw.exec(
        "INSERT INTO jobs (id, name, body, priority, trigger, status, queued_at) "
        "VALUES (7, 'Old', '{}', 1, 0, 0, 1700000000000)");
    REQUIRE(raw.execAndGet("PRAGMA user_version").getInt() == job_store_schema_version());
  }
  auto store = open_sqlite_job_store({.path = path, .logger = quiet_logger()});
  REQUIRE(store.has_value());
  auto state = (*store)->load(system_clock::time_point{});
  REQUIRE(state.has_value());
  const auto& jobs = state->active;
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].id == 7);
  CHECK(jobs[0].name == "Old");
  CHECK(jobs[0].queued_at == system_clock::time_point(milliseconds(1'700'000'000'000)));
}

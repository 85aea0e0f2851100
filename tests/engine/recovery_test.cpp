// SPDX-License-Identifier: MIT
// Opening a store: migrations, bad files, and the rescue of jobs an earlier process left.

#include <fstream>

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include "engine_fixture.hpp"
#include "memory_job_store.hpp"

using namespace shelfjobs;
using namespace testing;

namespace {
// What a crash leaves: the row says Executing although no process runs it.
void mark_executing(const std::string& db, JobId id) {
  REQUIRE(exec_on_store(db, "UPDATE jobs SET status = 1, started_at = 1 WHERE id = " + std::to_string(id)));
}
}  // namespace

TEST_CASE("jobs left executing are requeued at once with attempt + 1, keeping their place", "[recovery]") {
  Fixture f;
  JobId a = 0, b = 0, c = 0;
  {
    f.open(1, false);
    a = f.push<Step>("a").id;
    b = f.push<Step>("b").id;
    c = f.push<Step>("c").id;
  }
  mark_executing(f.db(), b);
  f.gates.open_all();
  auto& e = f.open(1, false);
  auto rescued = e.get(b).value();
  CHECK(rescued.status == JobStatus::queued);
  CHECK(rescued.attempt == 2);
  CHECK_FALSE(rescued.started_at.has_value());
  e.start();
  REQUIRE(e.wait_idle(5s));
  CHECK(f.rec.index_of("start:a") < f.rec.index_of("start:b"));
  CHECK(f.rec.index_of("start:b") < f.rec.index_of("start:c"));
  for (JobId id : {a, b, c}) CHECK(f.status(id) == JobStatus::completed);
  CHECK(e.get(b)->attempt == 2);
  CHECK(e.get(a)->attempt == 1);
}

TEST_CASE("a type that opts out of rescue is failed as interrupted", "[recovery]") {
  Fixture f;
  JobId id = 0;
  {
    f.open(1, false);
    id = f.push<NoRescue>("n").id;
  }
  mark_executing(f.db(), id);
  auto& e = f.open(1);
  auto j = e.get(id).value();
  CHECK(j.status == JobStatus::failed);
  CHECK(j.message == "interrupted");
  CHECK(j.ended_at.has_value());
  CHECK(e.wait_idle(1s));
  CHECK_FALSE(f.rec.contains("start:n"));
}

TEST_CASE("a stored job whose command is no longer registered is failed with the reason", "[recovery]") {
  Fixture f;
  JobId id = 0;
  {
    f.open(1, false);
    id = f.push<Step>("x").id;
  }
  REQUIRE(exec_on_store(f.db(), "UPDATE jobs SET name = 'RetiredCommand' WHERE id = " + std::to_string(id)));
  auto& e = f.open(1);
  auto j = e.get(id).value();
  CHECK(j.status == JobStatus::failed);
  CHECK_THAT(j.error, Catch::Contains("RetiredCommand"));
}

TEST_CASE("ids keep increasing across restarts", "[recovery]") {
  Fixture f;
  JobId first = 0;
  {
    f.open(1, false);
    first = f.push<Step>("a").id;
  }
  f.open(1, false);
  CHECK(f.push<Step>("b").id == first + 1);
}

TEST_CASE("a store that cannot be opened gives a clear error", "[recovery][store]") {
  TempDir dir;
  SECTION("a file that is not SQLite") {
    {
      std::ofstream out(dir.file("bad.db"), std::ios::binary);
      out << std::string(8192, 'x');
    }
    auto e = Engine::create({.store_path = dir.file("bad.db"), .logger = quiet_logger()}, Registry{});
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().code == errc::store_error);
    CHECK_THAT(e.error().message, Catch::Contains("bad.db"));
  }
  SECTION("a schema newer than this build") {
    {
      SQLite::Database conn(dir.file("new.db"), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
      conn.exec("PRAGMA user_version = 99");
    }
    auto e = Engine::create({.store_path = dir.file("new.db"), .logger = quiet_logger()}, Registry{});
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().code == errc::store_error);
    CHECK_THAT(e.error().message, Catch::Contains("99"));
  }
  SECTION("a folder that does not exist") {
    auto e =
        Engine::create({.store_path = dir.file("missing/dir/j.db"), .logger = quiet_logger()}, Registry{});
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().code == errc::store_error);
  }
  SECTION("a store another engine has open") {
    auto first = Engine::create({.store_path = job_store_at(dir), .logger = quiet_logger()}, Registry{});
    REQUIRE(first.has_value());
    auto second = Engine::create({.store_path = job_store_at(dir), .logger = quiet_logger()}, Registry{});
    REQUIRE_FALSE(second.has_value());
    CHECK(second.error().code == errc::store_error);
    CHECK_THAT(second.error().message, Catch::Contains("in use"));
    first.value().reset();  // released with the engine
    auto third = Engine::create({.store_path = job_store_at(dir), .logger = quiet_logger()}, Registry{});
    CHECK(third.has_value());
  }
  SECTION("bad options") {
    auto e = Engine::create({.store_path = job_store_at(dir), .workers = 0}, Registry{});
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().code == errc::invalid_argument);
    CHECK_THAT(e.error().message, Catch::Contains("workers"));
  }
}

TEST_CASE("opening waits for another process's reader instead of failing with database is locked",
          "[recovery][store]") {
  TempDir dir;
  const auto path = dir.file("shared.db");
  SQLite::Database other(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  other.exec("CREATE TABLE t(x); INSERT INTO t VALUES (1)");
  // A reader in rollback-journal mode holds a SHARED lock, which blocks the switch to WAL.
  SQLite::Transaction reading(other);
  CHECK(other.execAndGet("SELECT COUNT(*) FROM t").getInt() == 1);
  std::thread release([&] {
    std::this_thread::sleep_for(200ms);
    reading.commit();
  });
  auto e = Engine::create({.store_path = path, .logger = quiet_logger()}, Registry{});
  release.join();
  REQUIRE(e.has_value());
}

TEST_CASE("the store is a WAL-mode SQLite file with every field of a job", "[store][sqlite]") {
  Fixture f;
  JobId id = 0;
  {
    auto& e = f.open(1);
    f.gates.open_all();
    id = f.push<Step>("done", {.priority = Priority::high}).id;
    REQUIRE(e.wait_idle(5s));
    // wait_idle() means the last writes are queued; stop() commits them before another
    // connection reads the file.
    REQUIRE(e.stop(5s));
  }
  SQLite::Database conn(f.db(), SQLite::OPEN_READONLY);
  CHECK(conn.execAndGet("PRAGMA journal_mode").getString() == "wal");
  SQLite::Statement st(conn,
                       "SELECT name, body, priority, trigger, status, queued_at, started_at, "
                       "ended_at, duration_ms, attempt FROM jobs WHERE id = ?");
  st.bind(1, static_cast<std::int64_t>(id));
  REQUIRE(st.executeStep());
  CHECK(st.getColumn(0).getString() == "Step");
  CHECK(nlohmann::json::parse(st.getColumn(1).getString()) == nlohmann::json{{"tag", "done"}});
  CHECK(st.getColumn(2).getInt() == static_cast<int>(Priority::high));
  CHECK(st.getColumn(3).getInt() == static_cast<int>(Trigger::manual));
  CHECK(st.getColumn(4).getInt() == static_cast<int>(JobStatus::completed));
  CHECK(st.getColumn(5).getInt64() > 0);
  CHECK(st.getColumn(6).getInt64() >= st.getColumn(5).getInt64());
  CHECK(st.getColumn(7).getInt64() >= st.getColumn(6).getInt64());
  CHECK_FALSE(st.getColumn(8).isNull());
  CHECK(st.getColumn(9).getInt() == 1);
}

TEST_CASE("jobs that recovery fails count in health at once", "[recovery][health]") {
  Fixture f;
  auto store = std::make_shared<MemoryJobStore>();
  JobInfo left;
  left.id = 5;
  left.name = "NoRescue";
  left.body = {{"tag", "x"}};
  left.status = JobStatus::executing;
  left.queued_at = std::chrono::system_clock::now() - std::chrono::minutes(2);
  left.started_at = std::chrono::system_clock::now() - std::chrono::minutes(1);
  store->put(left);
  auto e = Engine::create({.store = store, .logger = quiet_logger()}, f.registry()).value();
  const auto h = e->health();
  bool found = false;
  for (const auto& t : h.types) {
    if (t.name != "NoRescue") continue;
    found = true;
    CHECK(t.failed == 1);
    CHECK(t.recent_failed == 1);
  }
  CHECK(found);
  CHECK(e->get(5)->message == "interrupted");
  CHECK(e->push(NoRescue{{}, "y"}).value().job.id == 6);
}

// SPDX-License-Identifier: MIT
// Housekeeping's database maintenance on real SQLite files: VACUUM only past the free-page
// threshold, VACUUM waiting for another connection's write instead of failing it (and giving
// up with a note, never failing the writer, when it waits too long), the job store maintained
// between its own commits, and a damaged file reported in health.

#include <atomic>
#include <fstream>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include "engine/sqlite/maintenance.hpp"
#include "memory_job_store.hpp"
#include "shelfjobs/services/housekeeping.hpp"
#include "test_support.hpp"

using namespace shelfjobs;
using namespace testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace housekeeping_databases_test {

// A WAL file with `rows` rows of 1 KiB, then `deleted` of them deleted (their pages free).
void make_db(const fs::path& path, int rows, int deleted) {
  SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
  db.exec("CREATE INDEX t_by_body ON t(body)");
  SQLite::Transaction tx(db);
  SQLite::Statement ins(db, "INSERT INTO t (body) VALUES (printf('%.*c', 1024, 'x') || ?)");
  for (int i = 0; i < rows; ++i) {
    ins.bind(1, i);
    ins.exec();
    ins.reset();
  }
  tx.commit();
  SQLite::Statement del(db, "DELETE FROM t WHERE id <= ?");
  del.bind(1, deleted);
  del.exec();
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

std::int64_t count_rows(const fs::path& path) {
  SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
  return db.execAndGet("SELECT COUNT(*) FROM t").getInt64();
}

struct Big : Command {
  static constexpr std::string_view kName = "Big";
  std::string body;
};
void to_json(nlohmann::json& j, const Big& b) { j = {{"body", b.body}}; }
void from_json(const nlohmann::json& j, Big& b) { b.body = j.value("body", std::string()); }

StoreMaintenanceOptions eager(std::chrono::milliseconds wait) {
  StoreMaintenanceOptions o;
  o.vacuum_free_ratio = 0.25;
  o.vacuum_min_free_pages = 16;
  o.wait_for_writers = wait;
  return o;
}

TEST_CASE("VACUUM runs only when the free pages pass the threshold", "[services][housekeeping][sqlite]") {
  TempDir dir;
  const auto few = dir.path() / "few.db", many = dir.path() / "many.db";
  make_db(few, 400, 10);
  make_db(many, 400, 350);
  auto kept = sqlite::maintain_file(few, eager(5s));
  REQUIRE(kept.has_value());
  CHECK_FALSE(kept->vacuumed);
  CHECK(kept->integrity_ok);
  auto shrunk = sqlite::maintain_file(many, eager(5s));
  REQUIRE(shrunk.has_value());
  INFO(shrunk->summary());
  CHECK(shrunk->vacuumed);
  CHECK(shrunk->free_pages > 16);
  CHECK(shrunk->checkpointed);
  CHECK(shrunk->bytes_after < shrunk->bytes_before);
  CHECK(count_rows(many) == 50);
  CHECK_FALSE(sqlite::maintain_file(dir.path() / "missing.db", eager(1s)).has_value());
}

TEST_CASE("VACUUM waits for a running writer instead of failing it", "[services][housekeeping][sqlite]") {
  TempDir dir;
  const auto path = dir.path() / "busy.db";
  make_db(path, 400, 350);
  std::atomic<bool> holding{false}, committed{false};
  std::string writer_error;
  std::thread writer([&] {
    try {
      SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
      db.setBusyTimeout(5000);
      db.exec("BEGIN IMMEDIATE");
      db.exec("INSERT INTO t (body) VALUES ('written while housekeeping waits')");
      holding = true;
      std::this_thread::sleep_for(400ms);  // a long write transaction
      db.exec("COMMIT");
      committed = true;
    } catch (const std::exception& e) {
      writer_error = e.what();
    }
  });
  REQUIRE(eventually([&] { return holding.load(); }));
  auto report = sqlite::maintain_file(path, eager(10s));
  const bool writer_done_before_vacuum_returned = committed.load();
  writer.join();
  CHECK(writer_error.empty());
  REQUIRE(report.has_value());
  INFO(report->summary());
  CHECK(report->vacuumed);
  CHECK(writer_done_before_vacuum_returned);
  CHECK(count_rows(path) == 51);
}

TEST_CASE("VACUUM that waited too long is skipped with a note; the writer still commits",
          "[services][housekeeping][sqlite]") {
  TempDir dir;
  const auto path = dir.path() / "busy.db";
  make_db(path, 400, 350);
  std::atomic<bool> holding{false}, release{false};
  std::string writer_error;
  std::thread writer([&] {
    try {
      SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
      db.setBusyTimeout(5000);
      db.exec("BEGIN IMMEDIATE");
      db.exec("INSERT INTO t (body) VALUES ('still mine')");
      holding = true;
      while (!release) std::this_thread::sleep_for(1ms);
      db.exec("COMMIT");
    } catch (const std::exception& e) {
      writer_error = e.what();
    }
  });
  REQUIRE(eventually([&] { return holding.load(); }));
  auto report = sqlite::maintain_file(path, eager(150ms));
  release = true;
  writer.join();
  CHECK(writer_error.empty());
  REQUIRE(report.has_value());
  CHECK_FALSE(report->vacuumed);
  CHECK_THAT(report->summary(), Catch::Contains("vacuum skipped"));
  CHECK(count_rows(path) == 51);
}

TEST_CASE("the job store is maintained between its own commits", "[services][housekeeping][sqlite]") {
  TempDir dir;
  EngineOptions eo{.store_path = dir.file("jobs.db"), .workers = 2, .logger = quiet_logger()};
  eo.retention = {
      .max_age = std::chrono::milliseconds(0), .max_rows = 1, .interval = std::chrono::milliseconds(0)};
  Registry reg;
  reg.add<Big>([](const Big&, JobContext& ctx) { ctx.complete("done"); });
  auto engine = Engine::create(eo, std::move(reg)).value();
  engine->start();
  for (int i = 0; i < 300; ++i) {
    Big b;
    b.body = std::string(2000, static_cast<char>('a' + i % 26)) + std::to_string(i);
    REQUIRE(engine->push(b).has_value());
  }
  REQUIRE(engine->wait_idle(60s));
  REQUIRE(engine->prune().value() >= 298);
  // Jobs keep being pushed while the store is maintained: none fails.
  std::atomic<bool> stop{false};
  std::atomic<int> pushed{0}, refused{0};
  std::thread pusher([&] {
    while (!stop) {
      Big b;
      b.body = "during maintenance " + std::to_string(pushed.load());
      if (engine->push(b))
        ++pushed;
      else
        ++refused;
    }
  });
  // The pusher is under way before the maintenance begins, and pushes again after it: on a
  // loaded machine its thread could otherwise start only once a quick maintenance was over.
  auto at_least = [&](int n) {
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (pushed.load() < n && refused.load() == 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(1ms);
    return pushed.load() >= n;
  };
  CHECK(at_least(1));  // a CHECK: the pusher thread must be joined below whatever happens
  auto report = engine->maintain_store(eager(10s));
  const int before = pushed.load();
  CHECK(at_least(before + 1));
  stop = true;
  pusher.join();
  REQUIRE(report.has_value());
  INFO(report->summary());
  CHECK(report->integrity_ok);
  CHECK(report->vacuumed);
  CHECK(report->file == dir.file("jobs.db"));
  CHECK(refused == 0);
  REQUIRE(engine->wait_idle(60s));
  engine->stop();
}

TEST_CASE("the test stores answer maintain, and a planned fault fails it", "[services][housekeeping]") {
  MemoryJobStore store;
  CHECK_FALSE(store.maintain({}).has_value());  // not started
  store.load(TimePoint{}).value();
  store.start();
  auto r = store.maintain({});
  REQUIRE(r.has_value());
  CHECK(r->integrity_ok);
  store.close();
}

TEST_CASE("a damaged database shows in health as DatabaseIntegrityCheck",
          "[services][housekeeping][sqlite]") {
  TempDir dir;
  const auto path = dir.path() / "damaged.db";
  make_db(path, 400, 0);
  int root = 0, page_size = 0;
  {
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
    db.exec("PRAGMA journal_mode=DELETE");
    root = db.execAndGet("SELECT rootpage FROM sqlite_master WHERE name = 't_by_body'").getInt();
    page_size = db.execAndGet("PRAGMA page_size").getInt();
  }
  {
    // Zero the index's root page: the schema still reads, the index does not.
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(root - 1) * page_size);
    const std::string zeros(static_cast<std::size_t>(page_size), '\0');
    f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
  HousekeepingOptions o;
  o.logger = quiet_logger();
  o.databases = {path};
  auto hk = HousekeepingService::create(o).value();
  TempDir engine_dir;
  ServiceHostOptions ho;
  ho.engine = {.store_path = engine_dir.file("jobs.db"), .workers = 1, .logger = quiet_logger()};
  ServiceHost::Builder builder(ho);
  builder.add(hk);
  auto host = builder.build();
  REQUIRE(host.has_value());
  (*host)->start();
  const auto report = hk->run();
  REQUIRE(report.databases.size() == 2);
  CHECK(report.databases[0].integrity_ok);  // the job store
  CHECK_FALSE(report.databases[1].integrity_ok);
  CHECK_FALSE(report.databases[1].integrity_findings.empty());
  const auto issues = (*host)->context().check_health();
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].source == "DatabaseIntegrityCheck");
  CHECK(issues[0].level == HealthIssue::Level::error);
  CHECK_THAT(issues[0].message, Catch::Contains("damaged.db"));
  (*host)->stop();
}

}  // namespace housekeeping_databases_test

// SPDX-License-Identifier: MIT
// What only the PostgreSQL job store does, against a real server (tests/support/postgres_server):
// connection strings, its lock, its schema versions, a server that restarts under it, and an
// engine that keeps its jobs there. The JobStore contract itself runs on it in job_store_test.cpp.

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "postgres_server.hpp"
#include "shelfjobs/engine/engine.hpp"
#include "shelfjobs/engine/postgres_job_store.hpp"
#include "test_support.hpp"

namespace postgres_store_test {

using namespace shelfjobs;
using namespace testing;
using namespace std::chrono_literals;

JobInfo queued_job(JobId id) {
  JobInfo j;
  j.id = id;
  j.name = "Step";
  j.body = {{"tag", "t" + std::to_string(id)}};
  j.queued_at = TimePoint{std::chrono::milliseconds(1'700'000'000'000 + id)};
  return j;
}

Step step(std::string tag) {
  Step s;
  s.tag = std::move(tag);
  return s;
}

std::unique_ptr<JobStore> open_store(const std::string& url, std::string schema = "shelfjobs") {
  auto opened = open_postgres_job_store({.url = url, .schema = std::move(schema), .logger = quiet_logger()});
  REQUIRE(opened.has_value());
  return std::move(opened).value();
}

TEST_CASE("a PostgreSQL connection string selects the PostgreSQL store", "[postgres]") {
  CHECK(is_postgres_url("postgresql://shelf@127.0.0.1:5432/shelf"));
  CHECK(is_postgres_url("postgres://db.example/shelf"));
  CHECK_FALSE(is_postgres_url("jobs.db"));
  CHECK_FALSE(is_postgres_url("/var/lib/shelf/postgresql://x"));
  CHECK_FALSE(is_postgres_url(":memory:"));
}

TEST_CASE("the PostgreSQL store refuses a bad schema name and an unreachable server clearly", "[postgres]") {
  if (!postgres_store_available()) return;
  auto bad = open_postgres_job_store({.url = "postgresql://x@127.0.0.1:1/x", .schema = "jobs; DROP TABLE x"});
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == errc::invalid_argument);

  // Nothing listens on that port: a store_error that names the server but not the password.
  const int port = closed_port();
  const std::string url = "postgresql://shelf:s3cret@127.0.0.1:" + std::to_string(port) + "/shelf";
  const auto t0 = std::chrono::steady_clock::now();
  auto refused = open_postgres_job_store({.url = url, .connect_timeout = 2s, .logger = quiet_logger()});
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == errc::store_error);
  CHECK_THAT(refused.error().message, Catch::Contains("127.0.0.1:" + std::to_string(port)));
  CHECK_THAT(refused.error().message, !Catch::Contains("s3cret"));
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);

  // An engine given that string reports the same error instead of creating a file of that name.
  auto engine = Engine::create({.store_path = url, .logger = quiet_logger()}, Registry{});
  REQUIRE_FALSE(engine.has_value());
  CHECK(engine.error().code == errc::store_error);
}

TEST_CASE("the PostgreSQL store is held by one engine at a time, per schema", "[postgres]") {
  auto* pg = postgres_server();
  if (pg == nullptr) return;
  const std::string url = pg->new_database();
  auto first = open_store(url);
  auto second = open_postgres_job_store({.url = url, .logger = quiet_logger()});
  REQUIRE_FALSE(second.has_value());
  CHECK(second.error().code == errc::store_error);
  CHECK_THAT(second.error().message, Catch::Contains("in use by another engine"));
  // Another schema in the same database is another store.
  auto other = open_store(url, "other_jobs");
  first.reset();  // the server drops the lock with the connection
  auto third = open_postgres_job_store({.url = url, .logger = quiet_logger()});
  CHECK(third.has_value());
}

TEST_CASE("the PostgreSQL store refuses a schema newer than this build", "[postgres]") {
  auto* pg = postgres_server();
  if (pg == nullptr) return;
  const std::string url = pg->new_database();
  open_store(url).reset();
  const std::string database = url.substr(url.rfind('/') + 1);
  REQUIRE(pg->psql(database, "INSERT INTO shelfjobs.schema_migrations (version) VALUES (" +
                                 std::to_string(postgres_job_store_schema_version() + 1) + ")") == 0);
  auto newer = open_postgres_job_store({.url = url, .logger = quiet_logger()});
  REQUIRE_FALSE(newer.has_value());
  CHECK(newer.error().code == errc::store_error);
  CHECK_THAT(newer.error().message, Catch::Contains("newer"));
}

// psql runs the statement with ON_ERROR_STOP: a DO block that raises is a failed check.
std::string sql_fails_unless(const std::string& condition, const std::string& why) {
  return "DO $$ BEGIN IF NOT (" + condition + ") THEN RAISE EXCEPTION '" + why + "'; END IF; END $$";
}
std::string has_index(const std::string& name) {
  return "EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = 'shelfjobs' AND indexname = '" + name + "')";
}

TEST_CASE("the PostgreSQL store keeps no index that every status change moves", "[postgres]") {
  auto* pg = postgres_server();
  if (pg == nullptr) return;
  const std::string url = pg->new_database();
  const std::string database = url.substr(url.rfind('/') + 1);
  auto write_runs = [](JobStore& store, JobId first, int completed, int failed) {
    for (int k = 0; k < completed + failed; ++k) {
      JobInfo j = queued_job(first + k);
      store.insert(j, j.body.dump());
      j.status = k < completed ? JobStatus::completed : JobStatus::failed;
      j.started_at = j.ended_at = j.queued_at;
      store.finish(j);
    }
    store.flush();
  };
  auto failed_ids = [](JobStore& store) {
    std::vector<JobId> ids;
    // The page is kept: a range-for over a member of the temporary Result would read it after
    // its end (before C++23).
    const auto page = store.list({.statuses = {JobStatus::failed}, .limit = 1000});
    for (const auto& j : page.value().jobs) ids.push_back(j.id);
    return ids;
  };
  // No jobs_by_status; the failed and cancelled runs have a partial index of their own.
  auto check_indexes = [&](const std::string& when) {
    INFO(when);
    CHECK(pg->psql(database,
                   sql_fails_unless("NOT " + has_index("jobs_by_status"), "jobs_by_status exists")) == 0);
    CHECK(pg->psql(database, sql_fails_unless(has_index("jobs_unsuccessful"), "no jobs_unsuccessful")) == 0);
  };
  {
    auto store = open_store(url);
    store->start();
    write_runs(*store, 1, 300, 3);
    store->close();
  }
  check_indexes("a store this build made");
  // ... which a listing of failed runs reads, rather than every completed one.
  CHECK(pg->psql(database, R"(ANALYZE shelfjobs.jobs; DO $$ DECLARE line text; found boolean := false; BEGIN
    SET LOCAL enable_seqscan = off;
    FOR line IN EXPLAIN SELECT id FROM shelfjobs.jobs WHERE true AND status IN (3) ORDER BY id DESC LIMIT 101 LOOP
      found := found OR line LIKE '%jobs_unsuccessful%';
    END LOOP;
    IF NOT found THEN RAISE EXCEPTION 'the listing does not read jobs_unsuccessful'; END IF; END $$)") == 0);

  // A store of the version before: migration 4 drops jobs_by_status and builds the partial
  // index over the rows already there.
  REQUIRE(pg->psql(database,
                   "CREATE INDEX jobs_by_status ON shelfjobs.jobs (status, id); DROP INDEX "
                   "shelfjobs.jobs_unsuccessful; "
                   "DELETE FROM shelfjobs.schema_migrations WHERE version = 4") == 0);
  auto store = open_store(url);
  store->start();
  check_indexes("a store migrated from version 3");
  write_runs(*store, 304, 10, 2);
  CHECK(failed_ids(*store) == std::vector<JobId>{315, 314, 303, 302, 301});
  CHECK(store->list({.statuses = {JobStatus::completed}, .limit = 1000}).value().jobs.size() == 310);
}

TEST_CASE("the PostgreSQL store keeps any text a job carries", "[postgres]") {
  auto* pg = postgres_server();
  if (pg == nullptr) return;
  auto store = open_store(pg->new_database());
  store->start();
  const std::string odd = R"(say "hi" {a,b} C:\dir NULL Brontë 東京 'quoted')";
  JobInfo j = queued_job(1);
  j.event = odd;
  j.task = odd;
  store->insert(j, nlohmann::json{{"title", odd}}.dump());
  store->progress(1, {1, 2, odd});
  JobInfo done = j;
  done.status = JobStatus::failed;
  done.error = odd;
  done.message = odd;
  done.progress = {1, 2, odd};
  done.ended_at = j.queued_at;
  store->finish(done);
  auto got = store->get(1);
  REQUIRE(got.has_value());
  REQUIRE(got->has_value());
  CHECK((*got)->event == odd);
  CHECK((*got)->task == odd);
  CHECK((*got)->error == odd);
  CHECK((*got)->progress.message == odd);
  CHECK((*got)->body["title"] == odd);
  auto page = store->list({.names = {"Step"}, .limit = 10});
  REQUIRE(page.has_value());
  CHECK(page->jobs.size() == 1);
  store->close();
}

TEST_CASE("the PostgreSQL store keeps every write across a server restart", "[postgres][slow]") {
  auto* pg = postgres_server();
  if (pg == nullptr) return;
  const std::string url = pg->new_database();
  auto store = open_store(url);
  store->start();
  std::atomic<int> committed{0};
  for (JobId id = 1; id <= 50; ++id) store->insert(queued_job(id), "", [&](bool ok) { committed += ok; });
  store->flush();
  REQUIRE(committed == 50);

  // The server goes away: the writes wait and their commit is retried (a read would wait for
  // them too: reads see every write called before them).
  pg->stop();
  // A read with no write before it answers at once: a clear error, not a hang.
  auto down = store->get(1);
  REQUIRE_FALSE(down.has_value());
  CHECK(down.error().code == errc::store_error);
  for (JobId id = 51; id <= 100; ++id) store->insert(queued_job(id), "", [&](bool ok) { committed += ok; });
  REQUIRE(eventually([&] { return store->stats().failing; }, 5s));
  CHECK(committed == 50);

  // Back: the same writes land on a new connection; nothing acknowledged or queued is lost.
  pg->start();
  REQUIRE(pg->ready());
  store->flush();
  CHECK(committed == 100);
  CHECK_FALSE(store->stats().failing);
  CHECK(store->stats().write_errors > 0);
  auto page = store->list({.limit = 1000});
  REQUIRE(page.has_value());
  CHECK(page->jobs.size() == 100);
  store->close();
}

TEST_CASE("an engine runs on while its PostgreSQL server restarts, losing no job", "[postgres][slow]") {
  auto* pg = postgres_server();
  if (pg == nullptr) return;
  const std::string url = pg->new_database();
  std::atomic<int> ran{0};
  Registry r;
  r.add<Step>([&](const Step&, JobContext&) { ++ran; });
  auto created = Engine::create({.store_path = url, .workers = 2, .logger = quiet_logger()}, std::move(r));
  REQUIRE(created.has_value());
  auto& engine = **created;
  engine.start();
  std::vector<JobId> ids;
  for (int n = 0; n < 100; ++n) {
    auto pushed = engine.push(step("before" + std::to_string(n)));
    REQUIRE(pushed.has_value());
    ids.push_back(pushed->job.id);
  }

  pg->stop();
  // A push that need not wait for its commit returns at once; a durable one waits for the
  // server, then returns stored.
  for (int n = 0; n < 50; ++n) {
    auto pushed = engine.push(step("during" + std::to_string(n)), {.durable = false});
    REQUIRE(pushed.has_value());
    ids.push_back(pushed->job.id);
  }
  std::thread restart([&] {
    std::this_thread::sleep_for(500ms);
    pg->start();
  });
  auto durable = engine.push(step("durable"));
  restart.join();
  REQUIRE(pg->ready());
  REQUIRE(durable.has_value());
  ids.push_back(durable->job.id);

  REQUIRE(engine.wait_idle(30s));
  CHECK(ran == 151);
  REQUIRE(engine.stop());
  // Every job is on the server, completed, once.
  auto reopened = Engine::create({.store_path = url, .logger = quiet_logger()}, [] {
    Registry again;
    again.add<Step>([](const Step&, JobContext&) {});
    return again;
  }());
  REQUIRE(reopened.has_value());
  for (const JobId id : ids) {
    auto job = (*reopened)->get(id);
    REQUIRE(job.has_value());
    CHECK(job->status == JobStatus::completed);
  }
  const auto health = (*reopened)->health();
  REQUIRE(health.types.size() == 1);
  CHECK(health.types[0].completed == 151);
}

TEST_CASE("an engine keeps its jobs in PostgreSQL across a restart", "[postgres]") {
  auto* pg = postgres_server();
  if (pg == nullptr) return;
  const std::string url = pg->new_database();
  Recorder rec;
  auto registry = [&] {
    Registry r;
    r.add<Step>([&](const Step& s, JobContext&) { rec.add(s.tag); });
    return r;
  };
  JobId done_id = 0, later_id = 0;
  {
    auto e = Engine::create({.store_path = url, .workers = 2, .logger = quiet_logger()}, registry());
    REQUIRE(e.has_value());
    auto& engine = **e;
    engine.start();
    auto pushed = engine.push(step("now"));
    REQUIRE(pushed.has_value());
    done_id = pushed->job.id;
    REQUIRE(engine.wait_idle(10s));
    engine.stop();
  }
  {
    // Not started: the pushed job waits in the store for the next engine.
    auto e = Engine::create({.store_path = url, .logger = quiet_logger()}, registry());
    REQUIRE(e.has_value());
    auto pushed = (*e)->push(step("later"));
    REQUIRE(pushed.has_value());
    later_id = pushed->job.id;
    CHECK(later_id > done_id);
  }
  auto e = Engine::create({.store_path = url, .logger = quiet_logger()}, registry());
  REQUIRE(e.has_value());
  auto& engine = **e;
  engine.start();
  REQUIRE(engine.wait_idle(10s));
  CHECK(rec.items() == std::vector<std::string>{"now", "later"});
  auto done = engine.get(done_id);
  REQUIRE(done.has_value());
  CHECK(done->status == JobStatus::completed);
  const auto health = engine.health();
  REQUIRE(health.types.size() == 1);
  CHECK(health.types[0].name == "Step");
  CHECK(health.types[0].completed == 2);
  engine.stop();
}

}  // namespace postgres_store_test

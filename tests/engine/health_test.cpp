// SPDX-License-Identifier: MIT
// Health figures, alerts raised once and cleared, and pruning that keeps the counts.

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include "engine_fixture.hpp"
#include "fault_job_store.hpp"

using namespace shelfjobs;
using namespace testing;

namespace {
const TypeHealth& type_of(const HealthSnapshot& h, const std::string& name) {
  for (const auto& t : h.types)
    if (t.name == name) return t;
  FAIL("no type " << name);
  throw std::logic_error("unreachable");
}

bool has_alert(const HealthSnapshot& h, const std::string& key) {
  for (const auto& a : h.alerts)
    if (a.key == key) return true;
  return false;
}
}  // namespace

TEST_CASE("health counts runs per type and queue figures per priority", "[health]") {
  Fixture f;
  auto clock = std::make_shared<ManualClock>();
  f.clock = clock;
  auto notes = std::make_shared<RecordingNotifier>();
  auto created = Engine::create(
      {.store_path = f.db(), .workers = 1, .logger = quiet_logger(), .clock = clock, .notifier = notes},
      f.registry());
  f.engine = std::move(created).value();
  auto& e = *f.engine;
  e.start();
  f.gates.open_all();
  for (const char* t : {"a", "b", "c"}) f.push<Step>(t);
  f.push<Step>("fail1");
  REQUIRE(e.wait_idle(5s));
  auto h = e.health();
  const auto& step = type_of(h, "Step");
  CHECK(step.completed == 3);
  CHECK(step.failed == 1);
  CHECK(step.recent_failure_rate == Approx(0.25));
  CHECK(step.last_status == JobStatus::failed);
  CHECK(h.workers == 1);
  CHECK(type_of(h, "DiskStep").completed == 0);  // registered types appear without runs
  auto j = to_json(h);
  CHECK(j["types"].is_array());
  CHECK(j["store"]["commits"].get<std::uint64_t>() > 0);
  CHECK(j["store"]["fileBytes"].get<std::uint64_t>() > 0);

  SECTION("job_failed is raised once, notified, and cleared by the next success") {
    CHECK(has_alert(h, "job_failed:Step"));
    CHECK(eventually([&] { return notes->count("alert_raised", "job_failed:Step") == 1; }));
    CHECK(eventually([&] { return notes->count("job_failed", "Step") == 1; }));
    f.push<Step>("fail2");
    REQUIRE(e.wait_idle(5s));
    CHECK(eventually([&] {
      return notes->count("alert_raised", "job_failed:Step") == 1;
    }));  // still open: not raised again
    f.push<Step>("ok");
    REQUIRE(e.wait_idle(5s));
    CHECK_FALSE(has_alert(e.health(), "job_failed:Step"));
    CHECK(eventually([&] { return notes->count("alert_cleared", "job_failed:Step") == 1; }));
  }
  SECTION("queue depth and the oldest job's age per priority") {
    Fixture g;  // a second engine whose worker stays busy
    auto clock2 = std::make_shared<ManualClock>();
    auto e2 = Engine::create({.store_path = g.db(), .workers = 1, .logger = quiet_logger(), .clock = clock2},
                             g.registry())
                  .value();
    e2->start();
    e2->push(Step{{}, "busy"}).value();
    REQUIRE(g.rec.wait_for("start:busy"));
    e2->push(Step{{}, "waiting"}, {.priority = Priority::high}).value();
    clock2->advance(std::chrono::minutes(7));
    auto h2 = e2->health();
    const auto& high = h2.priorities[1];
    CHECK(high.priority == Priority::high);
    CHECK(high.queued == 1);
    REQUIRE(high.oldest_queued_age.has_value());
    CHECK(*high.oldest_queued_age == std::chrono::minutes(7));
    CHECK(h2.priorities[2].running == 1);     // normal
    CHECK(type_of(h2, "Step").running == 1);  // the busy one: the queued one does not count
    CHECK(type_of(h2, "DiskStep").running == 0);
    g.gates.open_all();
    REQUIRE(e2->wait_idle(5s));
    CHECK(type_of(e2->health(), "Step").running == 0);
    e2->stop(5s);
  }
}

TEST_CASE("alerts: backlog, long-running, disk space and saturation", "[health][alerts]") {
  Fixture f;
  auto clock = std::make_shared<ManualClock>();
  auto notes = std::make_shared<RecordingNotifier>();
  AlertOptions alerts;
  alerts.backlog_depth = 2;
  alerts.backlog_age = std::chrono::hours(1);
  alerts.long_running = std::chrono::minutes(30);
  alerts.saturation = std::chrono::minutes(20);
  alerts.check_interval = std::chrono::minutes(1);
  alerts.disk_paths = {{"data", f.dir.path()}, {"missing", f.dir.path() / "nope"}};
  alerts.min_free_bytes = 1;  // any real folder has more
  auto created = Engine::create({.store_path = f.db(),
                                 .workers = 1,
                                 .logger = quiet_logger(),
                                 .clock = clock,
                                 .notifier = notes,
                                 .alerts = alerts},
                                f.registry());
  f.engine = std::move(created).value();
  auto& e = *f.engine;
  e.start();
  f.push<Step>("long");
  REQUIRE(f.rec.wait_for("start:long"));
  for (const char* t : {"q1", "q2", "q3"}) f.push<Step>(t);
  clock->advance(std::chrono::minutes(31));
  REQUIRE(eventually([&] { return has_alert(e.health(), "backlog"); }));
  auto h = e.health();
  CHECK(has_alert(h, "saturation"));
  CHECK(has_alert(h, "disk_space:missing"));
  CHECK_FALSE(has_alert(h, "disk_space:data"));
  bool long_running = false;
  for (const auto& a : h.alerts) long_running = long_running || a.rule == "long_running";
  CHECK(long_running);
  CHECK(eventually([&] { return notes->count("alert_raised", "backlog") == 1; }));
  clock->advance(std::chrono::minutes(1));  // checked again: still raised once
  std::this_thread::sleep_for(20ms);
  CHECK(eventually([&] { return notes->count("alert_raised", "backlog") == 1; }));

  f.gates.open_all();
  REQUIRE(e.wait_idle(5s));
  clock->advance(std::chrono::minutes(1));
  REQUIRE(eventually([&] { return !has_alert(e.health(), "backlog"); }));
  h = e.health();
  CHECK_FALSE(has_alert(h, "saturation"));
  for (const auto& a : h.alerts) CHECK(a.rule != "long_running");
  CHECK(eventually([&] { return notes->count("alert_cleared", "backlog") == 1; }));
}

TEST_CASE("pruning removes old finished jobs and keeps their counts", "[health][prune]") {
  Fixture f;
  auto clock = std::make_shared<ManualClock>();
  RetentionOptions keep;
  keep.max_age = std::chrono::hours(24 * 7);
  keep.max_rows = 3;
  keep.interval = std::chrono::milliseconds(0);  // only when asked
  {
    auto e =
        Engine::create({.store_path = f.db(), .logger = quiet_logger(), .clock = clock, .retention = keep},
                       f.registry())
            .value();
    e->start();
    f.gates.open_all();
    for (int i = 0; i < 4; ++i) e->push(Step{{}, "old" + std::to_string(i)}).value();
    REQUIRE(e->wait_idle(5s));
    clock->advance(std::chrono::hours(24 * 8));
    for (int i = 0; i < 2; ++i) e->push(Step{{}, "new" + std::to_string(i)}).value();
    REQUIRE(e->wait_idle(5s));
    auto removed = e->prune();
    REQUIRE(removed.has_value());
    CHECK(*removed == 4);  // the four older than 7 days
    CHECK(e->list().value().jobs.size() == 2);
    CHECK(type_of(e->health(), "Step").completed == 6);
  }
  // After a restart the counts come from the store: pruned runs included.
  auto e = Engine::create({.store_path = f.db(), .logger = quiet_logger(), .clock = clock, .retention = keep},
                          f.registry())
               .value();
  CHECK(type_of(e->health(), "Step").completed == 6);
  SECTION("beyond max_rows the oldest go") {
    e->start();
    for (int i = 0; i < 3; ++i) e->push(Step{{}, "more" + std::to_string(i)}).value();
    REQUIRE(e->wait_idle(5s));
    CHECK(*e->prune() == 2);
    CHECK(e->list().value().jobs.size() == 3);
    CHECK(type_of(e->health(), "Step").completed == 9);
  }
}

TEST_CASE("ids are never handed out again after pruning removed the newest jobs", "[health][prune]") {
  Fixture f;
  auto clock = std::make_shared<ManualClock>();
  RetentionOptions keep;
  keep.max_age = std::chrono::hours(1);
  keep.interval = std::chrono::milliseconds(0);
  JobId last = 0;
  {
    auto e =
        Engine::create({.store_path = f.db(), .logger = quiet_logger(), .clock = clock, .retention = keep},
                       f.registry())
            .value();
    e->start();
    f.gates.open_all();
    for (int i = 0; i < 3; ++i) last = e->push(Step{{}, "s" + std::to_string(i)}).value().job.id;
    REQUIRE(e->wait_idle(5s));
    clock->advance(std::chrono::hours(2));
    REQUIRE(*e->prune() == 3);
  }
  auto e = Engine::create({.store_path = f.db(), .logger = quiet_logger(), .clock = clock, .retention = keep},
                          f.registry())
               .value();
  CHECK(e->push(Step{{}, "next"}).value().job.id == last + 1);
}

TEST_CASE("a store that cannot commit raises store_errors, cleared once commits succeed",
          "[health][alerts][store]") {
  Fixture f;
  auto notes = std::make_shared<RecordingNotifier>();
  auto store = std::make_shared<FaultJobStore>();
  AlertOptions alerts;
  alerts.check_interval = std::chrono::milliseconds(10);
  auto e = Engine::create({.store = store, .logger = quiet_logger(), .notifier = notes, .alerts = alerts},
                          f.registry())
               .value();
  e->start();
  f.gates.open_all();
  // The disk is full, or another process holds the file: every commit fails until healed.
  store->fail_until_healed();
  const auto id = e->push(Step{{}, "blocked"}, {.durable = false}).value().job.id;
  REQUIRE(store->wait_for_failures(2));
  REQUIRE(eventually([&] { return has_alert(e->health(), "store_errors"); }));
  CHECK(e->health().store.write_errors >= 2);
  // Failing now, and hosts reading the JSON see it too.
  CHECK(to_json(e->health())["store"]["failing"] == true);
  // A durable push waits for its commit meanwhile; it returns once the store heals.
  std::atomic<bool> durable_returned{false};
  std::thread durable([&] {
    auto r = e->push(Step{{}, "durable"});
    durable_returned = r.has_value();
  });
  REQUIRE(store->wait_for_failures(4));
  CHECK_FALSE(durable_returned.load());
  store->heal();
  durable.join();
  CHECK(durable_returned.load());
  // Nothing was lost: the retried commits wrote the jobs.
  REQUIRE(eventually([&] { return e->get(id)->status == JobStatus::completed; }));
  REQUIRE(eventually([&] { return !has_alert(e->health(), "store_errors"); }));
  CHECK(to_json(e->health())["store"]["failing"] == false);
  REQUIRE(e->wait_idle(std::chrono::seconds(5)));
  CHECK(eventually([&] { return notes->count("alert_raised", "store_errors") == 1; }));
  CHECK(eventually([&] { return notes->count("alert_cleared", "store_errors") == 1; }));
  auto page = e->list().value();
  CHECK(page.jobs.size() == 2);
}

TEST_CASE("one failed commit is retried and loses nothing", "[health][store]") {
  Fixture f;
  auto store = std::make_shared<FaultJobStore>();
  auto e = Engine::create({.store = store, .logger = quiet_logger()}, f.registry()).value();
  e->start();
  f.gates.open_all();
  store->fail_nth_commit(1);
  std::vector<JobId> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(e->push(Step{{}, "s" + std::to_string(i)}).value().job.id);
  REQUIRE(e->wait_idle(std::chrono::seconds(5)));
  CHECK(store->injected_failures() == 1);
  CHECK(e->health().store.write_errors == 1);
  for (JobId id : ids) CHECK(e->get(id)->status == JobStatus::completed);
  e->stop();
  // What the store holds after stop is what the engine reported.
  auto state = store->load(TimePoint{});
  REQUIRE(state.has_value());
  CHECK(state->active.empty());
}

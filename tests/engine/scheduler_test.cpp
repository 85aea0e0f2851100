// SPDX-License-Identifier: MIT
// Scheduled tasks on a manual clock: due times follow the schedule, one catch-up after downtime,
// run now, intervals validated, state persisted.

#include <ctime>

#include <catch2/catch.hpp>

#include "engine_fixture.hpp"

using namespace shelfjobs;
using namespace testing;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {
struct Sync : Command {
  static constexpr std::string_view kName = "RssSync";
};

struct SchedulerEnv {
  TempDir dir;
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::atomic<int> runs{0};
  std::atomic<bool> fail{false};
  std::unique_ptr<Engine> engine;
  minutes run_takes{0};

  Engine& open() {
    engine.reset();
    Registry r;
    r.add<Sync>([this](const Sync&, JobContext&) {
      ++runs;
      clock->advance(run_takes);  // the run takes time on the schedule's clock
      if (fail) throw JobError(ErrorKind::permanent, "indexer said no");
    });
    auto e = Engine::create(
        {.store_path = job_store_at(dir, "jobs.db"), .logger = quiet_logger(), .clock = clock}, std::move(r));
    REQUIRE(e.has_value());
    engine = std::move(e).value();
    engine->start();
    return *engine;
  }

  TaskSpec rss(minutes interval = minutes(15)) {
    return {.name = "RssSync",
            .schedule = {.interval = interval},
            .range = {.min = minutes(5), .max = minutes(60), .allow_off = true}};
  }

  TaskInfo task() {
    auto all = engine->tasks();
    REQUIRE(all.size() == 1);
    return all[0];
  }

  bool settled(int expected_runs) {
    return eventually([&] {
      auto t = task();
      return runs.load() == expected_runs && !t.running && t.last_finish.has_value() &&
             engine->queue_depth().total_queued() == 0 && engine->wait_idle(0ms);
    });
  }
};
}  // namespace

TEST_CASE("a task is due on its schedule, not from the end of its last run", "[scheduler]") {
  SchedulerEnv env;
  env.run_takes = minutes(4);
  auto& e = env.open();
  const TimePoint t0 = env.clock->now();
  REQUIRE(e.add_task(env.rss()).has_value());
  CHECK(env.task().next_due == t0 + minutes(15));
  CHECK(env.runs.load() == 0);
  for (int k = 1; k <= 4; ++k) {
    env.clock->set(t0 + minutes(15) * k);
    REQUIRE(env.settled(k));
    const auto t = env.task();
    CHECK(t.next_due == t0 + minutes(15) * (k + 1));  // no drift from the 4-minute runs
    CHECK(t.last_status == JobStatus::completed);
    CHECK(t.last_start == t0 + minutes(15) * k);
    CHECK(t.last_duration == minutes(4));
  }
  auto jobs = e.list({.names = {"RssSync"}}).value().jobs;
  REQUIRE(jobs.size() == 4);
  CHECK(jobs[0].trigger == Trigger::scheduled);
  CHECK(jobs[0].task == "RssSync");
}

TEST_CASE("after a downtime an overdue task runs once", "[scheduler]") {
  SchedulerEnv env;
  const TimePoint t0 = env.clock->now();
  {
    auto& e = env.open();
    REQUIRE(e.add_task(env.rss()).has_value());
    e.stop(5s);
  }
  env.clock->set(t0 + hours(72));
  auto& e = env.open();
  REQUIRE(e.add_task(env.rss()).has_value());  // the host registers its tasks at every start
  REQUIRE(env.settled(1));
  std::this_thread::sleep_for(30ms);
  CHECK(env.runs.load() == 1);
  const auto t = env.task();
  CHECK(*t.next_due > env.clock->now());
  CHECK(*t.next_due <= env.clock->now() + minutes(15));
}

TEST_CASE("a failed scheduled run does not move the schedule", "[scheduler]") {
  SchedulerEnv env;
  env.fail = true;
  auto& e = env.open();
  const TimePoint t0 = env.clock->now();
  REQUIRE(e.add_task(env.rss()).has_value());
  env.clock->set(t0 + minutes(15));
  REQUIRE(env.settled(1));
  const auto t = env.task();
  CHECK(t.last_status == JobStatus::failed);
  CHECK(t.last_message == "indexer said no");
  CHECK(t.next_due == t0 + minutes(30));
}

TEST_CASE("run now counts as the task's run", "[scheduler]") {
  SchedulerEnv env;
  auto& e = env.open();
  const TimePoint t0 = env.clock->now();
  REQUIRE(e.add_task(env.rss()).has_value());
  env.clock->set(t0 + minutes(10));
  auto pushed = e.run_task_now("RssSync");
  REQUIRE(pushed.has_value());
  CHECK(pushed->job.trigger == Trigger::manual);
  REQUIRE(env.settled(1));
  const auto t = env.task();
  CHECK(t.last_start == t0 + minutes(10));
  CHECK(t.next_due == t0 + minutes(25));
  CHECK(e.run_task_now("Nope").error().code == errc::not_found);
}

TEST_CASE("intervals are validated with the task's range", "[scheduler]") {
  SchedulerEnv env;
  auto& e = env.open();
  const TimePoint t0 = env.clock->now();
  REQUIRE(e.add_task(env.rss()).has_value());
  auto bad = e.set_task_interval("RssSync", minutes(3));
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == errc::invalid_argument);
  CHECK_THAT(bad.error().message, Catch::Contains("RssSync"));
  CHECK_THAT(bad.error().message, Catch::Contains("5..60"));
  CHECK(env.task().interval == minutes(15));  // the old value stays
  CHECK(env.task().next_due == t0 + minutes(15));

  REQUIRE(e.set_task_interval("RssSync", minutes(30)).has_value());
  CHECK(env.task().interval == minutes(30));
  CHECK(env.task().next_due == t0 + minutes(30));

  REQUIRE(e.set_task_interval("RssSync", minutes(0)).has_value());  // off
  CHECK_FALSE(env.task().next_due.has_value());
  env.clock->advance(hours(5));
  std::this_thread::sleep_for(30ms);
  CHECK(env.runs.load() == 0);

  CHECK_FALSE(e.add_task({.name = "Backup",
                          .command = "RssSync",
                          .schedule = {.interval = hours(24 * 9)},
                          .range = {.min = hours(24), .max = hours(24 * 7)}})
                  .has_value());
  CHECK(e.add_task({.name = "Ghost", .schedule = {.interval = hours(1)}}).error().code ==
        errc::unknown_command);
}

TEST_CASE("the schedule and its history survive a restart", "[scheduler][recovery]") {
  SchedulerEnv env;
  const TimePoint t0 = env.clock->now();
  {
    auto& e = env.open();
    REQUIRE(e.add_task(env.rss()).has_value());
    env.clock->set(t0 + minutes(15));
    REQUIRE(env.settled(1));
    e.stop(5s);
  }
  auto& e = env.open();
  REQUIRE(e.add_task(env.rss()).has_value());
  const auto t = env.task();
  CHECK(t.last_start == t0 + minutes(15));
  CHECK(t.last_status == JobStatus::completed);
  CHECK(t.next_due == t0 + minutes(30));
  CHECK(env.runs.load() == 1);
}

namespace {
TimePoint utc_at(int y, unsigned m, unsigned d, int h, int min) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = static_cast<int>(m) - 1;
  tm.tm_mday = static_cast<int>(d);
  tm.tm_hour = h;
  tm.tm_min = min;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// Steps a pinned daily task through four days in 30-minute steps and returns its run times.
std::vector<TimePoint> runs_across(TimePoint from, TimePoint to) {
  SchedulerEnv env;
  env.clock->set(from);
  auto& e = env.open();
  REQUIRE(e.add_task({.name = "Housekeeping",
                      .command = "RssSync",
                      .schedule = {.interval = std::chrono::hours(24),
                                   .time_of_day = std::chrono::minutes(2 * 60 + 30),
                                   .time_zone = "Europe/Berlin"}})
              .has_value());
  std::vector<TimePoint> starts;
  for (TimePoint t = from; t <= to; t += std::chrono::minutes(30)) {
    env.clock->set(t);
    (void)e.queue_depth();  // a round trip through the strand: due timers have fired
    REQUIRE(e.wait_idle(5s));
    auto task = e.tasks().at(0);
    if (task.last_start && (starts.empty() || starts.back() != *task.last_start)) {
      REQUIRE(eventually([&] { return !e.tasks().at(0).running; }));
      starts.push_back(*task.last_start);
    }
  }
  CHECK(env.runs.load() == static_cast<int>(starts.size()));
  return starts;
}
}  // namespace

TEST_CASE("a task pinned to 02:30 Berlin runs once per local day across both DST changes",
          "[scheduler][dst]") {
  SECTION("spring forward: 02:30 does not exist on 2026-03-29 and runs at 03:00 CEST") {
    const auto starts = runs_across(utc_at(2026, 3, 27, 12, 0), utc_at(2026, 3, 31, 12, 0));
    CHECK(starts == std::vector<TimePoint>{utc_at(2026, 3, 28, 1, 30),  // 02:30 CET
                                           utc_at(2026, 3, 29, 1, 0),   // 03:00 CEST
                                           utc_at(2026, 3, 30, 0, 30),  // 02:30 CEST
                                           utc_at(2026, 3, 31, 0, 30)});
  }
  SECTION("fall back: 02:30 happens twice on 2026-10-25 and runs at the first") {
    const auto starts = runs_across(utc_at(2026, 10, 23, 12, 0), utc_at(2026, 10, 27, 12, 0));
    CHECK(starts == std::vector<TimePoint>{utc_at(2026, 10, 24, 0, 30),  // 02:30 CEST
                                           utc_at(2026, 10, 25, 0, 30),  // first 02:30 (CEST)
                                           utc_at(2026, 10, 26, 1, 30),  // 02:30 CET
                                           utc_at(2026, 10, 27, 1, 30)});
  }
}

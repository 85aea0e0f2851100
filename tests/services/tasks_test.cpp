// SPDX-License-Identifier: MIT
// The book manager's standard task table: defaults, ranges, and its use through an engine.

#include <catch2/catch.hpp>

#include "engine_fixture.hpp"
#include "shelfjobs/services/tasks.hpp"

using namespace shelfjobs;
using namespace testing;
using std::chrono::hours;
using std::chrono::minutes;

namespace {
struct Sync : Command {
  static constexpr std::string_view kName = "RssSync";
};

struct TasksEnv {
  TempDir dir;
  std::unique_ptr<Engine> engine;

  Engine& open() {
    Registry r;
    r.add<Sync>([](const Sync&, JobContext&) {});
    auto e = Engine::create({.store_path = dir.file("jobs.db"),
                             .logger = quiet_logger(),
                             .clock = std::make_shared<ManualClock>()},
                            std::move(r));
    REQUIRE(e.has_value());
    engine = std::move(e).value();
    engine->start();
    return *engine;
  }

  TaskInfo task() { return engine->tasks().at(0); }
};
}  // namespace

TEST_CASE("the standard tasks have valid defaults and refuse values out of range", "[scheduler][standard]") {
  for (const auto& t : standard_tasks()) {
    INFO(t.name);
    CHECK(validate_interval(t.name, t.schedule.interval, t.range).has_value());
  }
  auto rss = standard_task("RssSync").value();
  CHECK(rss.schedule.interval == minutes(15));
  CHECK(validate_interval("RssSync", minutes(0), rss.range).has_value());
  auto too_often = validate_interval("RssSync", minutes(3), rss.range);
  REQUIRE_FALSE(too_often.has_value());
  CHECK_THAT(too_often.error().message, Catch::Contains("RssSync") && Catch::Contains("5..60 min"));
  auto scan = standard_task("RescanFolders").value();
  CHECK_FALSE(validate_interval("RescanFolders", hours(6), scan.range).has_value());
  auto backup = standard_task("Backup").value();
  CHECK_FALSE(validate_interval("Backup", minutes(0), backup.range).has_value());
  CHECK(backup.schedule.interval == hours(24 * 7));
  CHECK_FALSE(standard_task("Nope").has_value());

  // Registered through an engine, with the host's configuration applied.
  TasksEnv env;
  auto& e = env.open();
  REQUIRE(e.add_task(rss).has_value());
  CHECK_FALSE(e.set_task_interval("RssSync", minutes(90)).has_value());
  CHECK(e.set_task_interval("RssSync", minutes(5)).has_value());
  CHECK(env.task().interval == minutes(5));
}

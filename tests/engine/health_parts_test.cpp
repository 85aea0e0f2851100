// SPDX-License-Identifier: MIT
// Health figures and alert rules on fixed inputs.

#include <catch2/catch.hpp>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "engine/alerts.hpp"
#include "engine/health_figures.hpp"

using namespace shelfjobs;
using namespace std::chrono_literals;

namespace {
const TimePoint kHealthT0 =
    std::chrono::floor<std::chrono::minutes>(TimePoint{} + std::chrono::hours(24 * 365 * 50));
std::shared_ptr<spdlog::logger> quiet_health_log() {
  return std::make_shared<spdlog::logger>("h", std::make_shared<spdlog::sinks::null_sink_mt>());
}
JobInfo ended(std::string name, JobStatus status, TimePoint at, std::chrono::milliseconds took) {
  JobInfo j;
  j.name = std::move(name);
  j.status = status;
  j.started_at = at - took;
  j.ended_at = at;
  j.duration = took;
  return j;
}
}  // namespace

TEST_CASE("duration bins have the documented bounds", "[engine][health]") {
  CHECK(duration_bin(0ms) == 0);
  CHECK(duration_bin(-5ms) == 0);
  CHECK(duration_bin(1ms) == 1);
  CHECK(duration_bin(999ms) == 9);
  CHECK(duration_bin(1000ms) == 10);
  CHECK(duration_bin(3600000ms) == kDurationBins - 1);
  CHECK(duration_bin(100h) == kDurationBins - 1);
}

TEST_CASE("figures count runs per type and per minute within the window", "[engine][health]") {
  detail::HealthFigures f(1h);
  f.load({TypeTotals{"Rss", 100, 5, 1, std::nullopt, std::nullopt, std::nullopt}},
         {MinuteFigures{kHealthT0 - 30min, "Rss", 3, 1, 0, 400, {}}});
  f.finished(ended("Rss", JobStatus::completed, kHealthT0 + 10s, 10ms));
  f.finished(ended("Rss", JobStatus::failed, kHealthT0 + 20s, 50ms));
  f.finished(ended("Scan", JobStatus::cancelled, kHealthT0 + 70s, 5ms));
  HealthSnapshot h;
  f.fill(h, kHealthT0 + 2min, {"Rss", "Scan", "Backup"}, {{"Rss", 1}}, true);
  REQUIRE(h.types.size() == 3);
  const auto& rss = h.types[1];  // by name: Backup, Rss, Scan
  CHECK(h.types[0].name == "Backup");
  CHECK(rss.name == "Rss");
  CHECK(rss.completed == 101);
  CHECK(rss.failed == 6);
  CHECK(rss.recent_completed == 4);
  CHECK(rss.recent_failed == 2);
  CHECK(rss.recent_failure_rate == Approx(2.0 / 6.0));
  CHECK(rss.avg_duration == 30ms);  // the runs of this process: 10 and 50 ms
  CHECK(rss.running == 1);
  CHECK(rss.durations[duration_bin(10ms)] == 1);
  CHECK(rss.durations[duration_bin(50ms)] == 1);
  REQUIRE(h.minutes.size() == 3);
  CHECK(h.minutes[0].minute == kHealthT0 - 30min);
  CHECK(h.minutes[1].minute == kHealthT0);
  CHECK(h.minutes[1].completed == 1);
  CHECK(h.minutes[1].failed == 1);
  CHECK(h.minutes[2].cancelled == 1);

  // An hour later the loaded minute and these runs have left the window; totals stay.
  HealthSnapshot later;
  f.fill(later, kHealthT0 + 2h, {}, {}, true);
  CHECK(later.types[1].recent_completed == 0);
  CHECK(later.types[1].completed == 101);
  CHECK(later.minutes.empty());
}

TEST_CASE("after a restart, durations come from the window's histogram", "[engine][health]") {
  detail::HealthFigures f(24h);
  MinuteFigures m{kHealthT0, "Scan", 4, 0, 0, 4 * 150, {}};
  m.durations[duration_bin(150ms)] = 4;
  f.load({}, {m});
  HealthSnapshot h;
  f.fill(h, kHealthT0 + 1min, {}, {}, false);
  REQUIRE(h.types.size() == 1);
  CHECK(h.types[0].avg_duration == 150ms);
  CHECK(h.types[0].p95_duration == 200ms);  // the bin's upper bound
  CHECK(h.minutes.empty());                 // not asked for
}

TEST_CASE("minutes a store hands over out of order are put in order", "[engine][health]") {
  // The stores sort them; the figures must not rely on it (a store of a host's own may not).
  detail::HealthFigures f(1h);
  f.load({}, {MinuteFigures{kHealthT0 - 10min, "Rss", 2, 0, 0, 0, {}},
              MinuteFigures{kHealthT0 - 30min, "Rss", 1, 0, 0, 0, {}},
              MinuteFigures{kHealthT0 - 20min, "Scan", 0, 3, 0, 0, {}}});
  f.finished(ended("Rss", JobStatus::completed, kHealthT0 + 5s, 1ms));
  HealthSnapshot h;
  f.fill(h, kHealthT0 + 1min, {}, {}, true);
  REQUIRE(h.minutes.size() == 4);
  CHECK(h.minutes[0].minute == kHealthT0 - 30min);
  CHECK(h.minutes[0].completed == 1);
  CHECK(h.minutes[1].minute == kHealthT0 - 20min);
  CHECK(h.minutes[1].failed == 3);
  CHECK(h.minutes[2].minute == kHealthT0 - 10min);
  CHECK(h.minutes[2].completed == 2);
  CHECK(h.minutes[3].minute == kHealthT0);
  // An hour after the oldest, it alone has left the window.
  HealthSnapshot later;
  f.fill(later, kHealthT0 + 31min, {}, {}, true);
  REQUIRE(later.types.size() == 2);
  CHECK(later.types[0].recent_completed == 3);
}

TEST_CASE("a stored minute whose counts cannot be is held at the most a count can say", "[engine][health]") {
  // A damaged file: more runs in one minute than could ever happen, and a negative count.
  detail::HealthFigures f(1h);
  MinuteFigures m{kHealthT0, "Rss", 5'000'000'000, -3, 0, 0, {}};
  m.durations[0] = -1;
  f.load({}, {m});
  HealthSnapshot h;
  f.fill(h, kHealthT0 + 1min, {}, {}, true);
  REQUIRE(h.types.size() == 1);
  CHECK(h.types[0].recent_completed == 4'294'967'295);
  REQUIRE(h.minutes.size() == 1);  // the engine-wide series says the same
  CHECK(h.minutes[0].completed == 4'294'967'295);
  CHECK(h.minutes[0].failed == 0);
  CHECK(h.types[0].recent_failed == 0);
  CHECK(h.types[0].durations[0] == 0);
}

TEST_CASE("closing a minute records the queue on it", "[engine][health]") {
  detail::HealthFigures f(1h);
  f.finished(ended("Rss", JobStatus::completed, kHealthT0 + 5s, 1ms));
  const auto m = f.close_minute(kHealthT0 + 1min, 7, 2, 3);
  CHECK(m.minute == kHealthT0);
  CHECK(m.completed == 1);
  CHECK(m.queued == 7);
  CHECK(m.delayed == 2);
  CHECK(m.running == 3);
  const auto empty = f.close_minute(kHealthT0 + 2min, 0, 0, 0);
  CHECK(empty.minute == kHealthT0 + 1min);
  CHECK(empty.completed == 0);
}

TEST_CASE("alerts are raised once per condition and cleared when it ends", "[engine][alerts]") {
  std::vector<std::pair<bool, std::string>> changes;
  AlertOptions o;
  o.backlog_depth = 10;
  o.backlog_age = 1h;
  o.long_running = 6h;
  o.long_running_factor = 10;
  o.saturation = 30min;
  detail::Alerts a(
      o, [&](const AlertChanged& c) { changes.emplace_back(c.raised, c.alert.key); }, quiet_health_log());
  detail::AlertInputs in;
  in.now = kHealthT0;
  in.queued = 11;
  a.check(in);
  a.check(in);
  in.queued = 3;
  in.oldest_ready_age = 2h;
  a.check(in);  // still a backlog: by age
  in.oldest_ready_age = 1min;
  a.check(in);
  // A job running 10x its type's average.
  in.running.push_back({42, "Rss", kHealthT0 - 11s, 1000ms});
  a.check(in);
  JobInfo done;
  done.id = 42;
  done.name = "Rss";
  done.status = JobStatus::completed;
  a.job_finished(done, kHealthT0);
  // Store errors: raised on new errors, kept while the store fails, cleared once it commits.
  in.running.clear();
  in.store_write_errors = 2;
  in.store_failing = true;
  a.check(in);
  in.store_write_errors = 3;
  a.check(in);  // still failing: no second raise
  in.store_failing = false;
  a.check(in);
  // Saturation.
  in.saturated_since = kHealthT0 - 31min;
  a.check(in);
  in.saturated_since.reset();
  a.check(in);
  const std::vector<std::pair<bool, std::string>> want = {
      {true, "backlog"},      {false, "backlog"},      {true, "long_running:42"}, {false, "long_running:42"},
      {true, "store_errors"}, {false, "store_errors"}, {true, "saturation"},      {false, "saturation"},
  };
  CHECK(changes == want);
  CHECK(a.open().empty());
}

TEST_CASE("store errors clear when the store healed before the check that raised them", "[engine][alerts]") {
  // The healing commit can land between the last failure and the check that first sees the
  // failures; no commit need follow (the engine is idle), and the alert must still clear.
  std::vector<std::pair<bool, std::string>> changes;
  detail::Alerts a(
      AlertOptions{}, [&](const AlertChanged& c) { changes.emplace_back(c.raised, c.alert.key); },
      quiet_health_log());
  detail::AlertInputs in;
  in.now = kHealthT0;
  in.store_write_errors = 4;
  in.store_failing = false;
  a.check(in);
  a.check(in);
  const std::vector<std::pair<bool, std::string>> want = {{true, "store_errors"}, {false, "store_errors"}};
  CHECK(changes == want);
  CHECK(a.open().empty());
}

TEST_CASE("a failed job raises job_failed until its type completes again", "[engine][alerts]") {
  std::vector<std::pair<bool, std::string>> changes;
  detail::Alerts a(
      {}, [&](const AlertChanged& c) { changes.emplace_back(c.raised, c.alert.key); }, quiet_health_log());
  JobInfo j;
  j.name = "Rss";
  j.status = JobStatus::failed;
  j.error = "boom";
  a.job_finished(j, kHealthT0);
  a.job_finished(j, kHealthT0);
  REQUIRE(a.open().size() == 1);
  CHECK(a.open()[0].message == "Rss failed: boom");
  j.status = JobStatus::completed;
  a.job_finished(j, kHealthT0);
  CHECK(changes ==
        std::vector<std::pair<bool, std::string>>{{true, "job_failed:Rss"}, {false, "job_failed:Rss"}});
}

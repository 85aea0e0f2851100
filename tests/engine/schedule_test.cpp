// SPDX-License-Identifier: MIT
// Schedule arithmetic: interval slots without drift, one catch-up run after a downtime, jitter,
// daily times across the 2026 daylight-saving changes, and interval settings. Time is simulated
// with explicit time points; nothing sleeps.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <date/date.h>
#include <date/tz.h>

#include "shelfjobs/engine/schedule.hpp"

using namespace shelfjobs;
using namespace std::chrono_literals;

namespace {

using Duration = TimePoint::duration;

TimePoint utc(int y, int m, int d, int h = 0, int min = 0, int s = 0) {
  const auto day = date::sys_days{date::year{y} / m / d};
  return TimePoint{day.time_since_epoch() + std::chrono::hours{h} + std::chrono::minutes{min} +
                   std::chrono::seconds{s}};
}

Schedule daily(const char* zone, int hour, int minute, std::chrono::seconds jitter = 0s) {
  Schedule s;
  s.interval = 24h;
  s.time_of_day = std::chrono::minutes{hour * 60 + minute};
  s.time_zone = zone;
  s.jitter = jitter;
  return s;
}

// A host's scheduler: the clock advances in `tick` steps from `from` to `to`; when a task is due
// it runs, taking `run_for`, and then asks for the next due time. Returns the start of each run
// (and, in `dues`, the due time of each run).
std::vector<TimePoint> simulate(const Schedule& s, std::uint64_t seed, TimePoint from, TimePoint to,
                                Duration tick, Duration run_for, std::vector<TimePoint>* dues = nullptr) {
  auto first = first_due(s, from, seed);
  REQUIRE(first.has_value());
  TimePoint due = *first;
  std::vector<TimePoint> runs;
  for (TimePoint now = from; now <= to; now += tick) {
    if (now < due) continue;
    runs.push_back(now);
    if (dues) dues->push_back(due);
    const TimePoint done = now + run_for;
    auto next = next_due(s, due, done, seed);
    REQUIRE(next.has_value());
    REQUIRE(*next > done);
    due = *next;
  }
  return runs;
}

const date::time_zone* zone(const char* name) { return date::locate_zone(name); }

date::local_seconds local(const date::time_zone* z, TimePoint t) {
  return z->to_local(date::floor<std::chrono::seconds>(t));
}

std::chrono::seconds local_time_of_day(const date::time_zone* z, TimePoint t) {
  const auto l = local(z, t);
  return l - date::floor<date::days>(l);
}

date::local_days local_day(const date::time_zone* z, TimePoint t) {
  return date::floor<date::days>(local(z, t));
}

// Every local day from the first run's to the last run's has exactly one run.
void check_one_run_per_local_day(const date::time_zone* z, const std::vector<TimePoint>& runs) {
  REQUIRE(runs.size() > 1);
  std::map<date::local_days, int> per_day;
  for (auto t : runs) ++per_day[local_day(z, t)];
  const auto first = local_day(z, runs.front());
  const auto last = local_day(z, runs.back());
  CHECK(per_day.size() == static_cast<std::size_t>((last - first).count() + 1));
  for (auto d = first; d <= last; d += date::days{1}) {
    INFO("local day " << d);
    CHECK(per_day[d] == 1);
  }
}

bool contains(const std::vector<TimePoint>& runs, TimePoint t) {
  return std::find(runs.begin(), runs.end(), t) != runs.end();
}

}  // namespace

// --- Interval tasks ---------------------------------------------------------------------------

TEST_CASE("interval due times stay on the schedule when runs end late", "[schedule]") {
  Schedule s;
  s.interval = 1h;
  const TimePoint start = utc(2026, 1, 1, 0, 0, 0) + 250ms;
  auto first = first_due(s, start, 7);
  REQUIRE(first.has_value());
  CHECK(*first == start + 1h);

  std::mt19937 rng(1);
  TimePoint due = *first;
  for (int i = 0; i < 1000; ++i) {
    // Runs start up to a minute late and take up to 3 h, so some end after later slots.
    const TimePoint now = due + std::chrono::seconds(rng() % 60) + std::chrono::seconds(rng() % (3 * 3600));
    auto next = next_due(s, due, now, 7);
    REQUIRE(next.has_value());
    REQUIRE(*next > now);
    REQUIRE(*next - now <= 1h);
    REQUIRE((*next - start) % 1h == Duration::zero());
    due = *next;
  }

  // Runs that end within their hour: one slot after another, exactly.
  due = *first;
  for (int i = 2; i <= 1001; ++i) {
    const TimePoint now = due + std::chrono::seconds(rng() % 3000);
    auto next = next_due(s, due, now, 7);
    REQUIRE(next.has_value());
    REQUIRE(*next == start + i * 1h);
    due = *next;
  }
}

TEST_CASE("an overdue interval task runs once after a downtime, then keeps its schedule", "[schedule]") {
  const auto jitter = GENERATE(0s, 120s);
  Schedule s;
  s.interval = 1h;
  s.jitter = jitter;
  const std::uint64_t seed = 11;
  const TimePoint start = utc(2026, 5, 1);

  auto first = first_due(s, start, seed);
  REQUIRE(first.has_value());
  TimePoint due = *first;
  std::vector<TimePoint> runs;
  auto tick_until = [&](TimePoint from, TimePoint to) {
    for (TimePoint now = from; now <= to; now += 1min) {
      if (now < due) continue;
      runs.push_back(now);
      auto next = next_due(s, due, now + 30s, seed);
      REQUIRE(next.has_value());
      due = *next;
    }
  };
  tick_until(start, start + 2h + 30min);
  CHECK(runs.size() == 2);  // ~01:00 and ~02:00

  // Down for three days; back at 05:10 on 2026-05-04.
  runs.clear();
  const TimePoint back = utc(2026, 5, 4, 5, 10);
  tick_until(back, utc(2026, 5, 4, 9, 10));
  REQUIRE(runs.size() == 5);  // one catch-up, then 06, 07, 08 and 09 h: not 72 runs
  CHECK(runs[0] == back);
  for (std::size_t i = 1; i < runs.size(); ++i) {
    const TimePoint slot = utc(2026, 5, 4, 5 + static_cast<int>(i));
    CHECK(runs[i] >= slot);
    CHECK(runs[i] <= slot + jitter);
  }
}

TEST_CASE("a disabled or malformed schedule has no due time", "[schedule]") {
  const TimePoint now = utc(2026, 6, 1);
  auto expect_error = [&](const Schedule& s, const std::string& part) {
    auto first = first_due(s, now, 1);
    REQUIRE_FALSE(first.has_value());
    CHECK(first.error().code == errc::invalid_argument);
    CHECK_THAT(first.error().message, Catch::Contains(part));
    auto next = next_due(s, now - 1h, now, 1);
    REQUIRE_FALSE(next.has_value());
    CHECK(next.error().code == errc::invalid_argument);
    CHECK(next.error().message == first.error().message);
  };

  Schedule off;
  expect_error(off, "interval is 0");
  Schedule negative;
  negative.interval = -5min;
  expect_error(negative, "-5 min");
  Schedule wide_jitter;
  wide_jitter.interval = 1h;
  wide_jitter.jitter = 1h;
  expect_error(wide_jitter, "jitter 1 h");
  Schedule negative_jitter;
  negative_jitter.interval = 1h;
  negative_jitter.jitter = -1s;
  expect_error(negative_jitter, "jitter -1 s");
  Schedule half_day = daily("Europe/Berlin", 3, 30);
  half_day.interval = 12h;
  expect_error(half_day, "24 h, not 12 h");
  Schedule late = daily("Europe/Berlin", 24, 0);
  expect_error(late, "1440 min");
  Schedule disabled_daily = daily("Europe/Berlin", 3, 30);
  disabled_daily.interval = 0s;
  expect_error(disabled_daily, "interval is 0");
}

// --- Jitter -------------------------------------------------------------------------------------

TEST_CASE("jitter stays within bounds, repeats for the same seed and slot, and never drifts", "[schedule]") {
  Schedule s;
  s.interval = 1h;
  s.jitter = 5min;
  const std::uint64_t seed = 0x5eed;
  // A whole hour: the slots are start + k h exactly (1 h is a multiple of the 6 min grid step).
  const TimePoint start = utc(2026, 1, 1);

  auto first = first_due(s, start, seed);
  REQUIRE(first.has_value());
  CHECK(*first >= start + 1h);
  CHECK(*first <= start + 1h + 5min);

  std::mt19937 rng(2);
  std::vector<TimePoint> dues{*first};
  std::set<Duration> offsets;
  for (int i = 2; i <= 1001; ++i) {
    const TimePoint due = dues.back();
    // The run ends up to 50 min after it was due: before the next slot.
    const TimePoint now = due + std::chrono::seconds(rng() % 3000);
    auto next = next_due(s, due, now, seed);
    REQUIRE(next.has_value());
    const TimePoint slot = start + i * 1h;
    REQUIRE(*next >= slot);  // no drift: each due time is its own slot plus 0..5 min
    REQUIRE(*next <= slot + 5min);
    REQUIRE(*next > now);
    offsets.insert(*next - slot);

    // Same seed and slot, asked again, at another moment or after a restart that kept the due
    // time in milliseconds: the same due time.
    CHECK(next_due(s, due, due + 1s, seed).value() == *next);
    CHECK(next_due(s, std::chrono::floor<std::chrono::milliseconds>(due), now, seed).value() == *next);
    dues.push_back(*next);
  }
  // Spread over the whole range, not a constant.
  CHECK(offsets.size() > 200);
  CHECK(*offsets.begin() < 30s);
  CHECK(*offsets.rbegin() > 4min + 30s);

  // A run that ends after the next slot has started but before its jittered due time does not
  // skip that slot.
  int checked = 0;
  for (std::size_t i = 0; i + 1 < dues.size(); ++i) {
    const TimePoint slot = start + static_cast<int>(i + 2) * 1h;
    const Duration offset = dues[i + 1] - slot;
    if (offset < 2s) continue;
    CHECK(next_due(s, dues[i], slot + offset / 2, seed).value() == dues[i + 1]);
    ++checked;
  }
  CHECK(checked > 900);

  // Another seed draws other jitters for the same slots.
  int differ = 0;
  for (std::size_t i = 0; i + 1 < dues.size(); ++i) {
    if (next_due(s, dues[i], dues[i] + 1s, seed + 1).value() != dues[i + 1]) ++differ;
  }
  CHECK(differ > 900);
}

TEST_CASE("first_due with jitter rounds now + interval up to the grid, then jitters", "[schedule]") {
  Schedule s;
  s.interval = 1h;
  s.jitter = 5min;
  const TimePoint now = utc(2026, 2, 3, 10, 17, 23) + 400ms;
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    auto first = first_due(s, now, seed);
    REQUIRE(first.has_value());
    // 10:17:23.4 + 1 h rounds up to 11:18 (6 min step), then 0..5 min of jitter.
    CHECK(*first >= utc(2026, 2, 3, 11, 18));
    CHECK(*first <= utc(2026, 2, 3, 11, 23));
    // The following slots are whole hours after it.
    auto next = next_due(s, *first, *first + 10min, seed);
    REQUIRE(next.has_value());
    CHECK(*next >= utc(2026, 2, 3, 12, 18));
    CHECK(*next <= utc(2026, 2, 3, 12, 23));
  }
}

// --- Daily tasks at a local time ----------------------------------------------------------------

TEST_CASE("a daily 03:30 run stays at 03:30 local across both 2026 changes", "[schedule]") {
  const TimePoint from = utc(2026, 3, 1);
  const TimePoint to = utc(2026, 11, 15);

  SECTION("Europe/Berlin") {
    const auto* z = zone("Europe/Berlin");
    const auto runs = simulate(daily("Europe/Berlin", 3, 30), 1, from, to, 1min, 20min);
    check_one_run_per_local_day(z, runs);
    for (auto t : runs) CHECK(local_time_of_day(z, t) == 3h + 30min);
    // The UTC time shifts by an hour with the offset.
    CHECK(contains(runs, utc(2026, 3, 28, 2, 30)));   // CET, +1
    CHECK(contains(runs, utc(2026, 3, 29, 1, 30)));   // CEST, +2: the spring change day
    CHECK(contains(runs, utc(2026, 10, 24, 1, 30)));  // CEST
    CHECK(contains(runs, utc(2026, 10, 25, 2, 30)));  // CET: the autumn change day
  }
  SECTION("America/New_York") {
    const auto* z = zone("America/New_York");
    const auto runs = simulate(daily("America/New_York", 3, 30), 1, from, to, 1min, 20min);
    check_one_run_per_local_day(z, runs);
    for (auto t : runs) CHECK(local_time_of_day(z, t) == 3h + 30min);
    CHECK(contains(runs, utc(2026, 3, 7, 8, 30)));    // EST, -5
    CHECK(contains(runs, utc(2026, 3, 8, 7, 30)));    // EDT, -4: the spring change day
    CHECK(contains(runs, utc(2026, 10, 31, 7, 30)));  // EDT
    CHECK(contains(runs, utc(2026, 11, 1, 8, 30)));   // EST: the autumn change day
  }
}

TEST_CASE("a daily time in the spring gap runs when the clock jumps; in the autumn overlap, once",
          "[schedule]") {
  const TimePoint from = utc(2026, 3, 1);
  const TimePoint to = utc(2026, 11, 15);
  // Runs short enough to end before the second 02:30 in autumn, and long enough to end after it.
  const auto run_for = GENERATE(as<Duration>{}, 5min, 90min);
  INFO("runs take " << std::chrono::duration_cast<std::chrono::minutes>(run_for).count() << " min");

  SECTION("Europe/Berlin 02:30: skipped on 2026-03-29, twice on 2026-10-25") {
    const auto* z = zone("Europe/Berlin");
    const auto runs = simulate(daily("Europe/Berlin", 2, 30), 3, from, to, 1min, run_for);
    check_one_run_per_local_day(z, runs);
    for (auto t : runs) {
      const auto day = local_day(z, t);
      if (day == date::local_days{date::year{2026} / 3 / 29})
        CHECK(local_time_of_day(z, t) == 3h);  // the first instant after the gap
      else
        CHECK(local_time_of_day(z, t) == 2h + 30min);
    }
    CHECK(contains(runs, utc(2026, 3, 28, 1, 30)));
    CHECK(contains(runs, utc(2026, 3, 29, 1, 0)));  // 03:00 CEST
    CHECK(contains(runs, utc(2026, 3, 30, 0, 30)));
    CHECK(contains(runs, utc(2026, 10, 25, 0, 30)));        // 02:30 CEST, the first of the two
    CHECK_FALSE(contains(runs, utc(2026, 10, 25, 1, 30)));  // 02:30 CET, the second
    CHECK(contains(runs, utc(2026, 10, 26, 1, 30)));
  }
  SECTION("America/New_York 02:30: skipped on 2026-03-08") {
    const auto* z = zone("America/New_York");
    const auto runs = simulate(daily("America/New_York", 2, 30), 3, from, to, 1min, run_for);
    check_one_run_per_local_day(z, runs);
    CHECK(contains(runs, utc(2026, 3, 7, 7, 30)));
    CHECK(contains(runs, utc(2026, 3, 8, 7, 0)));  // 03:00 EDT
    CHECK(contains(runs, utc(2026, 3, 9, 6, 30)));
  }
  SECTION("America/New_York 01:30: twice on 2026-11-01") {
    const auto* z = zone("America/New_York");
    const auto runs = simulate(daily("America/New_York", 1, 30), 3, from, to, 1min, run_for);
    check_one_run_per_local_day(z, runs);
    for (auto t : runs) CHECK(local_time_of_day(z, t) == 1h + 30min);
    CHECK(contains(runs, utc(2026, 10, 31, 5, 30)));
    CHECK(contains(runs, utc(2026, 11, 1, 5, 30)));        // 01:30 EDT, the first of the two
    CHECK_FALSE(contains(runs, utc(2026, 11, 1, 6, 30)));  // 01:30 EST, the second
    CHECK(contains(runs, utc(2026, 11, 2, 6, 30)));
  }
}

TEST_CASE("next_due of a daily time is the next local day after the run", "[schedule]") {
  const auto s = daily("Europe/Berlin", 2, 30);
  // Asked right after the first 02:30 of 2026-10-25: not the second 02:30 an hour later.
  CHECK(next_due(s, utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 0, 31), 0).value() ==
        utc(2026, 10, 26, 1, 30));
  // Asked right after the 03:00 run of the gap day: the next day's 02:30.
  CHECK(next_due(s, utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 1), 0).value() == utc(2026, 3, 30, 0, 30));
  // A new task created just before the gap runs at its end.
  CHECK(first_due(s, utc(2026, 3, 29, 0, 45), 0).value() == utc(2026, 3, 29, 1, 0));
  // A new task created between the two 02:30s of the overlap waits for the next day.
  CHECK(first_due(s, utc(2026, 10, 25, 1, 0), 0).value() == utc(2026, 10, 26, 1, 30));
}

TEST_CASE("an overdue daily task runs once after a downtime across a change", "[schedule]") {
  const auto s = daily("Europe/Berlin", 3, 30);
  // The 2026-03-27 run was due; the host was down until 2026-03-30 10:00 local (08:00Z).
  const TimePoint due = utc(2026, 3, 27, 2, 30);
  const TimePoint back = utc(2026, 3, 30, 8, 0);
  auto next = next_due(s, due, back + 1min, 0);
  REQUIRE(next.has_value());
  CHECK(*next == utc(2026, 3, 31, 1, 30));  // 03:30 CEST the next day: one catch-up in all
}

TEST_CASE("daily jitter stays within bounds and keeps one run per local day", "[schedule]") {
  const auto pinned_at = GENERATE(std::chrono::minutes{3 * 60 + 30}, std::chrono::minutes{22 * 60});
  auto s = daily("Europe/Berlin", 0, 0, 6h);
  s.time_of_day = pinned_at;
  const auto* z = zone("Europe/Berlin");
  std::vector<TimePoint> dues;
  simulate(s, 99, utc(2026, 3, 1), utc(2026, 11, 15), 1min, 10min, &dues);
  REQUIRE(dues.size() > 200);
  std::set<Duration> offsets;
  std::vector<date::local_days> slot_days;
  for (auto t : dues) {
    // The slot: the latest local pinned time at or before the due time (a 22:00 slot may run
    // after midnight).
    const auto l = local(z, t);
    auto day = date::floor<date::days>(l);
    if (l - day < pinned_at) day -= date::days{1};
    slot_days.push_back(day);
    const TimePoint pinned{z->to_sys(date::local_seconds{day + pinned_at}).time_since_epoch()};
    const Duration offset = t - pinned;
    CHECK(offset >= 0s);
    CHECK(offset <= 6h);
    offsets.insert(offset);
  }
  CHECK(offsets.size() > 100);
  // One run per local day: the slots are consecutive days, none skipped, none twice.
  for (std::size_t i = 1; i < slot_days.size(); ++i) {
    INFO("slot " << slot_days[i]);
    CHECK(slot_days[i] - slot_days[i - 1] == date::days{1});
  }

  // The same slot gives the same due time, whenever it is asked.
  const TimePoint due = dues[40];
  CHECK(next_due(s, due, due + 1min, 99).value() == next_due(s, due, due + 2h, 99).value());
}

TEST_CASE("a schedule names an unknown time zone; an empty one is the system's", "[schedule]") {
  auto s = daily("Mars/Olympus_Mons", 3, 30);
  auto first = first_due(s, utc(2026, 6, 1), 0);
  REQUIRE_FALSE(first.has_value());
  CHECK(first.error().code == errc::invalid_argument);
  CHECK_THAT(first.error().message, Catch::Contains("Mars/Olympus_Mons"));
  auto next = next_due(s, utc(2026, 6, 1), utc(2026, 6, 1), 0);
  REQUIRE_FALSE(next.has_value());
  CHECK_THAT(next.error().message, Catch::Contains("Mars/Olympus_Mons"));

  const std::string system_zone = date::current_zone()->name();
  auto system = daily("", 3, 30);
  auto named = daily(system_zone.c_str(), 3, 30);
  const TimePoint now = utc(2026, 6, 1, 12);
  CHECK(first_due(system, now, 0).value() == first_due(named, now, 0).value());
  CHECK(next_due(system, now, now, 0).value() == next_due(named, now, now, 0).value());
}

// --- Interval settings --------------------------------------------------------------------------

TEST_CASE("validate_interval names the task, the value and the range in the task's unit", "[schedule]") {
  const IntervalRange rss{5min, 60min, true};
  const IntervalRange scan{12h, 24h, true};
  const IntervalRange backup{24h, 7 * 24h, false};

  CHECK(validate_interval("RssSync", 0s, rss).has_value());
  CHECK(validate_interval("RssSync", 5min, rss).has_value());
  CHECK(validate_interval("RssSync", 60min, rss).has_value());
  auto low = validate_interval("RssSync", 3min, rss);
  REQUIRE_FALSE(low.has_value());
  CHECK(low.error().code == errc::invalid_argument);
  CHECK(low.error().message == "RssSync: interval 3 min is out of range; use 0 (off) or 5..60 min");
  CHECK(validate_interval("RssSync", 61min, rss).error().message ==
        "RssSync: interval 61 min is out of range; use 0 (off) or 5..60 min");
  CHECK(validate_interval("RssSync", 90s, rss).error().message ==
        "RssSync: interval 90 s is out of range; use 0 (off) or 5..60 min");

  CHECK(validate_interval("LibraryScan", 0s, scan).has_value());
  CHECK(validate_interval("LibraryScan", 18h, scan).has_value());
  CHECK(validate_interval("LibraryScan", 6h, scan).error().message ==
        "LibraryScan: interval 6 h is out of range; use 0 (off) or 12..24 h");
  CHECK(validate_interval("LibraryScan", 48h, scan).error().message ==
        "LibraryScan: interval 48 h is out of range; use 0 (off) or 12..24 h");

  CHECK(validate_interval("Backup", 24h, backup).has_value());
  CHECK(validate_interval("Backup", 7 * 24h, backup).has_value());
  CHECK(validate_interval("Backup", 9 * 24h, backup).error().message ==
        "Backup: interval 9 days is out of range; use 1..7 days");
  CHECK(validate_interval("Backup", 12h, backup).error().message ==
        "Backup: interval 12 h is out of range; use 1..7 days");
  auto off = validate_interval("Backup", 0s, backup);
  REQUIRE_FALSE(off.has_value());
  CHECK(off.error().code == errc::invalid_argument);
  CHECK(off.error().message == "Backup: interval 0 (off) is not allowed; use 1..7 days");
}

// SPDX-License-Identifier: MIT
// Readarr's provider escalation ladder (services/acquisition/provider_backoff): table tests on
// a fixed clock.

#include <chrono>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "services/acquisition/provider_backoff.hpp"
#include "shelfjobs/catalog/acquisition_store.hpp"

// The whole file in a namespace of its own: the unity build compiles several test files as one
// translation unit, and their helpers (and using-directives) must not meet.
namespace provider_backoff_test {

using namespace shelfjobs;
using namespace shelfjobs::acquisition;
using namespace std::chrono;

// A fixed clock: the application started at kStart, long before the failures of most tests.
const TimePoint kStart = TimePoint(seconds(1'700'000'000));
const TimePoint kLater = kStart + hours(2);  // past the 15-minute startup grace

std::optional<TimePoint> plus(TimePoint t, seconds s) { return t + s; }

TEST_CASE("backoff: the policies and the period table", "[acquisition][backoff]") {
  const BackoffPolicy ix = indexer_backoff();
  CHECK(ix.max_level == 9);
  CHECK(ix.min_time_since_initial_failure == seconds(0));
  CHECK(ix.startup_grace == minutes(15));
  const BackoffPolicy dc = download_client_backoff();
  CHECK(dc.max_level == 5);
  CHECK(dc.min_time_since_initial_failure == minutes(5));
  CHECK(dc.startup_grace == minutes(15));

  const int expected[] = {0, 60, 300, 900, 1800, 3600, 10800, 21600, 43200, 86400};
  for (int level = 0; level < 10; ++level) {
    CAPTURE(level);
    CHECK(kBackoffPeriods[static_cast<std::size_t>(level)] == seconds(expected[level]));
    CHECK(backoff_period(level, ix) == seconds(expected[level]));
  }
  // Clamped to the policy's top and to the table.
  CHECK(backoff_period(7, dc) == seconds(3600));
  CHECK(backoff_period(42, ix) == seconds(86400));
  CHECK(backoff_period(-1, ix) == seconds(0));
}

TEST_CASE("backoff: an indexer climbs the ladder one level per failure up to 24 h",
          "[acquisition][backoff]") {
  const BackoffPolicy policy = indexer_backoff();
  struct Step {
    int level;
    seconds blocked_for;
  };
  // The first failure starts at level 1 without escalating; each later one adds a level.
  const Step ladder[] = {{1, seconds(60)},    {2, seconds(300)},   {3, seconds(900)},   {4, seconds(1800)},
                         {5, seconds(3600)},  {6, seconds(10800)}, {7, seconds(21600)}, {8, seconds(43200)},
                         {9, seconds(86400)}, {9, seconds(86400)}, {9, seconds(86400)}};
  ProviderStatus s;
  s.provider_id = 3;
  TimePoint now = kLater;
  int i = 0;
  for (const Step& step : ladder) {
    CAPTURE(i);
    s = record_failure(s, now, kStart, policy, seconds(0), true, "failure " + std::to_string(i));
    CHECK(s.escalation_level == step.level);
    CHECK(s.initial_failure == kLater);  // the run's start stays
    CHECK(s.most_recent_failure == now);
    CHECK(s.disabled_till == plus(now, step.blocked_for));
    CHECK(s.last_error == "failure " + std::to_string(i));
    CHECK(s.provider_id == 3);
    CHECK(is_blocked(s, now));
    CHECK(is_blocked(s, now + step.blocked_for - milliseconds(1)));
    CHECK_FALSE(is_blocked(s, now + step.blocked_for));  // blocked until then, not at it
    now += step.blocked_for + seconds(1);
    ++i;
  }
}

TEST_CASE("backoff: a download client gets 5 minutes' grace before it is blocked or escalates",
          "[acquisition][backoff]") {
  const BackoffPolicy policy = download_client_backoff();
  ProviderStatus s;
  s.kind = ProviderKind::download_client;

  // First failure: level 1, but inside the grace nothing blocks it.
  s = record_failure(s, kLater, kStart, policy);
  CHECK(s.escalation_level == 1);
  CHECK(s.initial_failure == kLater);
  CHECK_FALSE(s.disabled_till.has_value());
  CHECK_FALSE(is_blocked(s, kLater));

  // More failures inside the grace: no escalation, no block.
  s = record_failure(s, kLater + minutes(2), kStart, policy);
  s = record_failure(s, kLater + minutes(4) + seconds(59), kStart, policy);
  CHECK(s.escalation_level == 1);
  CHECK_FALSE(s.disabled_till.has_value());
  CHECK(s.most_recent_failure == kLater + minutes(4) + seconds(59));

  // At 5 minutes the grace is over: escalation and a block.
  TimePoint now = kLater + minutes(5);
  s = record_failure(s, now, kStart, policy);
  CHECK(s.escalation_level == 2);
  CHECK(s.disabled_till == plus(now, seconds(300)));

  // Then up to level 5 (1 h), and no further.
  const seconds periods[] = {seconds(900), seconds(1800), seconds(3600), seconds(3600), seconds(3600)};
  const int levels[] = {3, 4, 5, 5, 5};
  for (int i = 0; i < 5; ++i) {
    CAPTURE(i);
    now += hours(1);
    s = record_failure(s, now, kStart, policy);
    CHECK(s.escalation_level == levels[i]);
    CHECK(s.disabled_till == plus(now, periods[i]));
  }
}

TEST_CASE("backoff: inside the startup grace there is no escalation and a block lasts 5 minutes at most",
          "[acquisition][backoff]") {
  const BackoffPolicy policy = indexer_backoff();
  const TimePoint now = kStart + minutes(3);

  // A provider that was at level 6 before the restart: not escalated, and its 3 h block is cut
  // to 5 minutes.
  ProviderStatus s;
  s.escalation_level = 6;
  s.initial_failure = kStart - hours(10);
  s = record_failure(s, now, kStart, policy, seconds(0), true, "HTTP 503");
  CHECK(s.escalation_level == 6);
  CHECK(s.disabled_till == plus(now, minutes(5)));
  CHECK(s.initial_failure == kStart - hours(10));
  CHECK(s.last_error == "HTTP 503");

  // A healthy one: level 1, its minute is under the cap.
  ProviderStatus fresh;
  fresh = record_failure(fresh, now, kStart, policy);
  CHECK(fresh.escalation_level == 1);
  CHECK(fresh.disabled_till == plus(now, seconds(60)));
  fresh = record_failure(fresh, now + minutes(2), kStart, policy);
  CHECK(fresh.escalation_level == 1);  // no escalation while the app is starting
  CHECK(fresh.disabled_till == plus(now + minutes(2), seconds(60)));

  // The grace ends 15 minutes after the start.
  s = record_failure(s, kStart + minutes(15), kStart, policy);
  CHECK(s.escalation_level == 7);
  CHECK(s.disabled_till == plus(kStart + minutes(15), seconds(21600)));
}

TEST_CASE("backoff: a minimum backoff (a 429's Retry-After) raises the level until it is covered",
          "[acquisition][backoff]") {
  const BackoffPolicy ix = indexer_backoff();
  struct Case {
    seconds minimum;
    int level;
    seconds blocked_for;
  };
  const Case cases[] = {
      {seconds(1), 1, seconds(60)},   {seconds(60), 1, seconds(60)},
      {seconds(61), 2, seconds(300)}, {seconds(90), 2, seconds(300)},
      {hours(1), 5, seconds(3600)},   {hours(1) + seconds(1), 6, seconds(10800)},
      {hours(24), 9, seconds(86400)}, {hours(48), 9, seconds(86400)},
  };
  for (const Case& c : cases) {
    CAPTURE(c.minimum.count());
    ProviderStatus s = record_failure({}, kLater, kStart, ix, c.minimum, true, "HTTP 429");
    CHECK(s.escalation_level == c.level);
    CHECK(s.disabled_till == plus(kLater, c.blocked_for));
    // Inside the startup grace too, and then not capped at 5 minutes.
    ProviderStatus early = record_failure({}, kStart + minutes(1), kStart, ix, c.minimum, true, "HTTP 429");
    CHECK(early.escalation_level == c.level);
    CHECK(early.disabled_till == plus(kStart + minutes(1), c.blocked_for));
  }
  // A level already above the minimum stays.
  ProviderStatus high;
  high.escalation_level = 7;
  high.initial_failure = kLater - hours(5);
  high = record_failure(high, kLater, kStart, ix, seconds(60), false);
  CHECK(high.escalation_level == 7);
  CHECK(high.disabled_till == plus(kLater, seconds(21600)));

  // A download client inside its 5-minute grace is blocked when a minimum is given, up to its
  // top level (1 h) even when more was asked.
  const BackoffPolicy dc = download_client_backoff();
  ProviderStatus client = record_failure({}, kLater, kStart, dc, hours(1), true, "HTTP 429");
  CHECK(client.escalation_level == 5);
  CHECK(client.disabled_till == plus(kLater, hours(1)));
  client = record_failure({}, kLater, kStart, dc, hours(2), true, "HTTP 429");
  CHECK(client.escalation_level == 5);
  CHECK(client.disabled_till == plus(kLater, hours(1)));
}

TEST_CASE("backoff: a connection failure blocks without escalating", "[acquisition][backoff]") {
  const BackoffPolicy policy = indexer_backoff();
  ProviderStatus s = record_connection_failure({}, kLater, kStart, policy, "connection refused");
  CHECK(s.escalation_level == 1);
  CHECK(s.disabled_till == plus(kLater, seconds(60)));
  CHECK(s.last_error == "connection refused");
  const TimePoint next = kLater + minutes(10);
  s = record_connection_failure(s, next, kStart, policy, "connection refused again");
  CHECK(s.escalation_level == 1);
  CHECK(s.disabled_till == plus(next, seconds(60)));
  CHECK(s.most_recent_failure == next);
  CHECK(s.last_error == "connection refused again");
  // The same through record_failure with escalate false.
  ProviderStatus t = record_failure(s, next + minutes(10), kStart, policy, seconds(0), false);
  CHECK(t.escalation_level == 1);
}

TEST_CASE("backoff: a success steps down one level and unblocks", "[acquisition][backoff]") {
  const BackoffPolicy policy = indexer_backoff();
  ProviderStatus s;
  TimePoint now = kLater;
  for (int i = 0; i < 4; ++i) {
    s = record_failure(s, now, kStart, policy, seconds(0), true, "boom");
    now += hours(1);
  }
  REQUIRE(s.escalation_level == 4);
  REQUIRE(is_blocked(s, now - hours(1)));

  s = record_success(s, now);
  CHECK(s.escalation_level == 3);
  CHECK_FALSE(s.disabled_till.has_value());
  CHECK_FALSE(is_blocked(s, now));
  CHECK(s.last_success == now);
  CHECK(s.last_error.empty());
  CHECK(s.most_recent_failure.has_value());  // the history of the run stays

  // A failure now escalates from the lowered level.
  s = record_failure(s, now + minutes(1), kStart, policy, seconds(0), true, "again");
  CHECK(s.escalation_level == 4);
  CHECK(s.disabled_till == plus(now + minutes(1), seconds(1800)));

  // Successes bring it down to healthy, and no lower; the next failure starts a new run.
  for (int i = 0; i < 6; ++i) s = record_success(s, now + minutes(2 + i));
  CHECK(s.escalation_level == 0);
  CHECK(s.last_success == now + minutes(7));
  const TimePoint fresh = now + hours(3);
  s = record_failure(s, fresh, kStart, policy, seconds(0), true, "new run");
  CHECK(s.escalation_level == 1);
  CHECK(s.initial_failure == fresh);
  CHECK(s.disabled_till == plus(fresh, seconds(60)));
}

TEST_CASE("backoff: is_blocked compares disabled_till with now", "[acquisition][backoff]") {
  ProviderStatus s;
  CHECK_FALSE(is_blocked(s, kLater));
  s.disabled_till = kLater;
  CHECK_FALSE(is_blocked(s, kLater));
  CHECK(is_blocked(s, kLater - milliseconds(1)));
  CHECK_FALSE(is_blocked(s, kLater + seconds(1)));
}

}  // namespace provider_backoff_test

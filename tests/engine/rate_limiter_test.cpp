// SPDX-License-Identifier: MIT
// RateLimiter: spacing, sliding budgets, reservations for concurrent callers, Retry-After
// deferrals and cancellable waits.

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <stop_token>
#include <thread>
#include <vector>

#include "shelfjobs/engine/rate_limiter.hpp"

using namespace shelfjobs;
using namespace std::chrono_literals;

TEST_CASE("a spaced key allows one use per spacing", "[ratelimit]") {
  auto clock = std::make_shared<ManualClock>();
  RateLimiter rl(clock);
  REQUIRE(rl.configure("indexer", {.min_spacing = 2s}).has_value());
  const auto t0 = clock->now();

  CHECK(rl.next_free("indexer") == t0);
  CHECK(rl.try_acquire("indexer"));
  CHECK_FALSE(rl.try_acquire("indexer"));
  CHECK(rl.next_free("indexer") == t0 + 2s);

  clock->advance(1999ms);
  CHECK_FALSE(rl.try_acquire("indexer"));
  clock->advance(1ms);
  CHECK(rl.try_acquire("indexer"));
  CHECK(rl.next_free("indexer") == t0 + 4s);
}

TEST_CASE("a budget counts uses in a sliding window, not a fixed one", "[ratelimit]") {
  auto clock = std::make_shared<ManualClock>();
  RateLimiter rl(clock);
  REQUIRE(rl.configure("api", {.budget = 3, .window = 10s}).has_value());
  const auto t0 = clock->now();

  SECTION("the budget is spent at once") {
    CHECK(rl.try_acquire("api"));
    CHECK(rl.try_acquire("api"));
    CHECK(rl.try_acquire("api"));
    CHECK_FALSE(rl.try_acquire("api"));
    CHECK(rl.next_free("api") == t0 + 10s);
    clock->advance(9s);
    CHECK_FALSE(rl.try_acquire("api"));
    clock->advance(1s);
    CHECK(rl.try_acquire("api"));
  }

  SECTION("uses leave the window one by one") {
    CHECK(rl.try_acquire("api"));  // t0
    clock->advance(4s);
    CHECK(rl.try_acquire("api"));  // t0 + 4
    clock->advance(4s);
    CHECK(rl.try_acquire("api"));  // t0 + 8
    clock->advance(1s);
    CHECK_FALSE(rl.try_acquire("api"));
    CHECK(rl.next_free("api") == t0 + 10s);
    clock->advance(1s);
    CHECK(rl.try_acquire("api"));  // t0 + 10: the use at t0 left the window
    // A fixed window would reset here; the sliding one still holds the uses at 4, 8 and 10.
    CHECK_FALSE(rl.try_acquire("api"));
    CHECK(rl.next_free("api") == t0 + 14s);
  }
}

TEST_CASE("reservations give concurrent callers distinct, ordered slots", "[ratelimit]") {
  auto clock = std::make_shared<ManualClock>();
  RateLimiter rl(clock);
  const auto t0 = clock->now();

  SECTION("spacing only, from many threads") {
    REQUIRE(rl.configure("host", {.min_spacing = 1s}).has_value());
    constexpr int kThreads = 4;
    constexpr int kPerThread = 50;
    std::vector<std::vector<TimePoint>> got(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) got[static_cast<std::size_t>(t)].push_back(rl.reserve("host"));
      });
    for (auto& th : threads) th.join();

    std::vector<TimePoint> all;
    for (const auto& g : got) {
      CHECK(std::is_sorted(g.begin(), g.end()));  // each caller's slots follow one another
      all.insert(all.end(), g.begin(), g.end());
    }
    std::sort(all.begin(), all.end());
    REQUIRE(all.size() == kThreads * kPerThread);
    CHECK(std::set<TimePoint>(all.begin(), all.end()).size() == all.size());
    for (std::size_t i = 0; i < all.size(); ++i) CHECK(all[i] == t0 + std::chrono::seconds(i));
  }

  SECTION("spacing and budget together") {
    REQUIRE(rl.configure("host", {.min_spacing = 1s, .budget = 2, .window = 10s}).has_value());
    std::vector<TimePoint> slots;
    for (int i = 0; i < 6; ++i) slots.push_back(rl.reserve("host"));
    CHECK(slots == std::vector<TimePoint>{t0, t0 + 1s, t0 + 10s, t0 + 11s, t0 + 20s, t0 + 21s});
    CHECK(rl.next_free("host") == t0 + 30s);
    CHECK_FALSE(rl.try_acquire("host"));
  }
}

TEST_CASE("defer_until holds a key back and a later, shorter deferral does not shorten it", "[ratelimit]") {
  auto clock = std::make_shared<ManualClock>();
  RateLimiter rl(clock);
  REQUIRE(rl.configure("indexer", {.min_spacing = 1s}).has_value());
  const auto t0 = clock->now();

  rl.defer_until("indexer", t0 + 30s);  // a 429 with Retry-After: 30
  CHECK_FALSE(rl.try_acquire("indexer"));
  CHECK(rl.next_free("indexer") == t0 + 30s);
  rl.defer_until("indexer", t0 + 5s);
  CHECK(rl.next_free("indexer") == t0 + 30s);
  CHECK(rl.reserve("indexer") == t0 + 30s);
  CHECK(rl.reserve("indexer") == t0 + 31s);

  clock->advance(32s);
  CHECK(rl.try_acquire("indexer"));

  SECTION("a deferral applies to a key that was never configured") {
    rl.defer_until("other", clock->now() + 3s);
    CHECK_FALSE(rl.try_acquire("other"));
    CHECK(rl.next_free("other") == clock->now() + 3s);
  }
}

TEST_CASE("a key that was never configured has no limit", "[ratelimit]") {
  auto clock = std::make_shared<ManualClock>();
  RateLimiter rl(clock);
  const auto t0 = clock->now();
  for (int i = 0; i < 1000; ++i) REQUIRE(rl.try_acquire("free"));
  CHECK(rl.reserve("free") == t0);
  CHECK(rl.next_free("free") == t0);
  CHECK(rl.next_free("never-seen") == t0);
  CHECK(rl.acquire("free"));

  SECTION("a default limit allows everything as well") {
    REQUIRE(rl.configure("free", RateLimit{}).has_value());
    CHECK(rl.try_acquire("free"));
    CHECK(rl.try_acquire("free"));
  }
}

TEST_CASE("configure refuses invalid limits and replaces valid ones", "[ratelimit]") {
  auto clock = std::make_shared<ManualClock>();
  RateLimiter rl(clock);

  auto negative = rl.configure("k", {.min_spacing = -1ms});
  REQUIRE_FALSE(negative.has_value());
  CHECK(negative.error().code == errc::invalid_argument);
  CHECK_THAT(negative.error().message, Catch::Contains("min_spacing"));
  CHECK_THAT(negative.error().message, Catch::Contains("'k'"));

  auto no_window = rl.configure("k", {.budget = 5});
  REQUIRE_FALSE(no_window.has_value());
  CHECK(no_window.error().code == errc::invalid_argument);
  CHECK_THAT(no_window.error().message, Catch::Contains("window"));

  auto negative_budget = rl.configure("k", {.budget = -1, .window = 1s});
  REQUIRE_FALSE(negative_budget.has_value());
  CHECK(negative_budget.error().code == errc::invalid_argument);

  // A refused limit changes nothing.
  CHECK(rl.try_acquire("k"));
  CHECK(rl.try_acquire("k"));

  REQUIRE(rl.configure("k", {.min_spacing = 5s}).has_value());
  CHECK_FALSE(rl.try_acquire("k"));  // spaced from the last use
  REQUIRE(rl.configure("k", {.min_spacing = 0ms}).has_value());
  CHECK(rl.try_acquire("k"));
}

TEST_CASE("acquire with a manual clock only reserves", "[ratelimit]") {
  auto clock = std::make_shared<ManualClock>();
  RateLimiter rl(clock);
  REQUIRE(rl.configure("k", {.min_spacing = 1h}).has_value());
  const auto t0 = clock->now();
  CHECK(rl.acquire("k"));
  CHECK(rl.acquire("k"));  // an hour ahead: returns at once with a manual clock
  CHECK(rl.next_free("k") == t0 + 2h);

  std::stop_source stop;
  stop.request_stop();
  CHECK_FALSE(rl.acquire("k", stop.get_token()));  // already cancelled: reserves nothing
  CHECK(rl.next_free("k") == t0 + 2h);
}

TEST_CASE("acquire on the real clock waits for its slot", "[ratelimit]") {
  RateLimiter rl;
  REQUIRE(rl.configure("k", {.min_spacing = 50ms}).has_value());
  const auto before = std::chrono::system_clock::now();
  REQUIRE(rl.try_acquire("k"));
  REQUIRE(rl.acquire("k"));
  CHECK(std::chrono::system_clock::now() >= before + 50ms);
}

TEST_CASE("acquire on the real clock stops when its token is cancelled and gives the slot back",
          "[ratelimit]") {
  RateLimiter rl;
  REQUIRE(rl.configure("k", {.min_spacing = 2s}).has_value());
  const auto before = std::chrono::system_clock::now();
  REQUIRE(rl.try_acquire("k"));
  const auto after = std::chrono::system_clock::now();

  std::stop_source stop;
  std::thread canceller([&] {
    std::this_thread::sleep_for(50ms);
    stop.request_stop();
  });
  const auto start = std::chrono::steady_clock::now();
  const bool acquired = rl.acquire("k", stop.get_token());
  const auto waited = std::chrono::steady_clock::now() - start;
  canceller.join();

  CHECK_FALSE(acquired);
  CHECK(waited < 1s);  // it did not sleep until the slot, 2 s away
  // The slot went back: the next use is spaced from the first one only.
  const auto next = rl.next_free("k");
  CHECK(next >= before + 2s);
  CHECK(next <= after + 2s);
}

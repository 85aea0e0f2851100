// SPDX-License-Identifier: MIT
// decide_retry is pure: every case is a row with a fixed time and a fixed jitter draw.

#include <catch2/catch.hpp>

#include "engine/retry.hpp"

using namespace shelfjobs;
using namespace std::chrono_literals;
using shelfjobs::detail::decide_retry;
using shelfjobs::detail::Outcome;

namespace {
const TimePoint kRetryT0 = TimePoint{} + std::chrono::hours(24 * 365 * 50);
std::int64_t no_jitter(std::int64_t) { return 0; }
std::int64_t full_jitter(std::int64_t half) { return half; }
}  // namespace

TEST_CASE("failures retry by kind while attempts remain", "[engine][retry]") {
  RetryPolicy pol;  // network 3, filesystem 1, database 0 by default
  pol.base_delay = 1000ms;
  pol.max_delay = 60000ms;
  struct Row {
    ErrorKind kind;
    int attempt;
    bool retry;
    int next_attempt;
    int max_attempts;
  };
  const std::vector<Row> rows = {
      {ErrorKind::network, 1, true, 2, 4},     {ErrorKind::network, 3, true, 4, 4},
      {ErrorKind::network, 4, false, 4, 4},    {ErrorKind::filesystem, 1, true, 2, 2},
      {ErrorKind::filesystem, 2, false, 2, 2}, {ErrorKind::database, 1, false, 1, 1},
      {ErrorKind::permanent, 1, false, 1, 1},
  };
  for (const auto& r : rows) {
    CAPTURE(to_string(r.kind), r.attempt);
    const auto d = decide_retry(pol, Outcome{JobStatus::failed, r.kind, "x", std::nullopt},
                                {r.attempt, 1, 0ms}, kRetryT0, no_jitter);
    CHECK(d.retry == r.retry);
    CHECK(d.attempt == r.next_attempt);
    CHECK(d.max_attempts == r.max_attempts);
  }
}

TEST_CASE("backoff doubles up to the maximum and jitter never makes it early than half", "[engine][retry]") {
  RetryPolicy pol;
  pol.base_delay = 1000ms;
  pol.max_delay = 5000ms;
  CHECK(detail::backoff(pol, 1, no_jitter) == 1000ms);
  CHECK(detail::backoff(pol, 2, no_jitter) == 2000ms);
  CHECK(detail::backoff(pol, 3, no_jitter) == 4000ms);
  CHECK(detail::backoff(pol, 4, no_jitter) == 5000ms);
  CHECK(detail::backoff(pol, 9, no_jitter) == 5000ms);
  CHECK(detail::backoff(pol, 3, full_jitter) == 2000ms);
  // A draw out of range is clamped.
  CHECK(detail::backoff(pol, 1, [](std::int64_t) { return std::int64_t{1} << 40; }) == 500ms);
  const auto d = decide_retry(pol, Outcome{JobStatus::failed, ErrorKind::network, "x", {}}, {2, 1, 0ms},
                              kRetryT0, no_jitter);
  CHECK(d.next == kRetryT0 + 2000ms);
  CHECK(d.message.find("attempt 3 of 4") == 0);
}

TEST_CASE("a rate-limited failure waits for its Retry-After without spending an attempt", "[engine][retry]") {
  RetryPolicy pol;
  pol.default_rate_limit_wait = 60000ms;
  pol.max_rate_limit_wait = 600000ms;
  auto d = decide_retry(pol, Outcome{JobStatus::failed, ErrorKind::rate_limited, "429", kRetryT0 + 90s},
                        {2, 4, 0ms}, kRetryT0, no_jitter);
  CHECK(d.retry);
  CHECK(d.attempt == 2);
  CHECK(d.max_attempts == 4);  // unchanged
  CHECK(d.next == kRetryT0 + 90s);
  CHECK(d.rate_waited == 90s);
  // Without a Retry-After: the policy's default wait.
  d = decide_retry(pol, Outcome{JobStatus::failed, ErrorKind::rate_limited, "429", std::nullopt}, {1, 1, 0ms},
                   kRetryT0, no_jitter);
  CHECK(d.next == kRetryT0 + 60s);
  // A Retry-After in the past waits 0; one far away is capped.
  d = decide_retry(pol, Outcome{JobStatus::failed, ErrorKind::rate_limited, "429", kRetryT0 - 5s},
                   {1, 1, 0ms}, kRetryT0, no_jitter);
  CHECK(d.next == kRetryT0);
  d = decide_retry(pol, Outcome{JobStatus::failed, ErrorKind::rate_limited, "429", kRetryT0 + 24h},
                   {1, 1, 0ms}, kRetryT0, no_jitter);
  CHECK(d.next == kRetryT0 + 600s);
  // Waits add up; past the maximum in all the job fails.
  d = decide_retry(pol, Outcome{JobStatus::failed, ErrorKind::rate_limited, "429", kRetryT0 + 120s},
                   {1, 1, 500s}, kRetryT0, no_jitter);
  CHECK_FALSE(d.retry);
}

// SPDX-License-Identifier: MIT
// Kept pure so the policy table can be tested case by case; the engine supplies the time and
// a draw from its own generator.

#include "engine/retry.hpp"

#include <algorithm>

namespace shelfjobs::detail {

std::chrono::milliseconds backoff(const RetryPolicy& pol, int retry,
                                  const std::function<std::int64_t(std::int64_t)>& draw) {
  auto delay = pol.base_delay;
  for (int i = 1; i < retry && delay < pol.max_delay; ++i) delay *= 2;
  delay = std::min(delay, pol.max_delay);
  const std::int64_t half = delay.count() / 2;
  const std::int64_t drawn = draw ? std::clamp<std::int64_t>(draw(half), 0, half) : 0;
  return delay - std::chrono::milliseconds(drawn);
}

RetryDecision decide_retry(const RetryPolicy& pol, const Outcome& out, const RetryState& state, TimePoint now,
                           const std::function<std::int64_t(std::int64_t)>& draw) {
  RetryDecision d;
  d.attempt = state.attempt;
  d.rate_waited = state.rate_waited;
  d.max_attempts = state.max_attempts;
  if (out.kind == ErrorKind::rate_limited) {
    auto wait = out.retry_after
                    ? std::chrono::duration_cast<std::chrono::milliseconds>(*out.retry_after - now)
                    : pol.default_rate_limit_wait;
    wait = std::clamp(wait, std::chrono::milliseconds(0), pol.max_rate_limit_wait);
    if (state.rate_waited + wait > pol.max_rate_limit_wait) return d;
    d.retry = true;
    d.rate_waited = state.rate_waited + wait;
    d.next = now + wait;  // no attempt spent
    d.message = "rate limited; next try at " + format_time(d.next);
    return d;
  }
  const int retries = pol.retries_for(out.kind);
  d.max_attempts = 1 + retries;
  if (state.attempt > retries) return d;
  d.retry = true;
  d.next = now + backoff(pol, state.attempt, draw);
  d.attempt = state.attempt + 1;
  d.message = "attempt " + std::to_string(d.attempt) + " of " + std::to_string(d.max_attempts) +
              ", next try at " + format_time(d.next);
  return d;
}

}  // namespace shelfjobs::detail

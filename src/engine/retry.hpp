// SPDX-License-Identifier: MIT
#pragma once
// The retry decision: given a failed run and its type's policy, is the job queued again, when,
// and as which attempt? A pure function: no clock (the time is an argument), no randomness of
// its own (the jitter draw is), no engine state.

#include <chrono>
#include <optional>
#include <random>
#include <string>

#include "shelfjobs/engine/command.hpp"
#include "shelfjobs/engine/job.hpp"

namespace shelfjobs::detail {

/// How a run ended, as the worker side classified it.
struct Outcome {
  JobStatus status = JobStatus::completed;
  ErrorKind kind = ErrorKind::none;
  std::string error;
  std::optional<TimePoint> retry_after;  ///< a rate-limited failure's wait
};

/// What the job had when it failed.
struct RetryState {
  int attempt = 1;                           ///< the attempt that failed
  int max_attempts = 1;                      ///< as the job shows it now
  std::chrono::milliseconds rate_waited{0};  ///< rate-limited waits spent so far
};

struct RetryDecision {
  bool retry = false;
  TimePoint next{};      ///< not before
  int attempt = 1;       ///< the next attempt (unchanged by a rate-limited wait)
  int max_attempts = 1;  ///< 1 + retries for the failure's kind
  std::chrono::milliseconds rate_waited{0};
  std::string message;  ///< "attempt 2 of 4, next try at ..." / "rate limited; ..."
};

/// The backoff before retry number `retry` (1-based): base doubled per retry up to the maximum,
/// with equal jitter (half kept, half drawn by `draw(0, half)`), so retries spread out but never
/// come early.
std::chrono::milliseconds backoff(const RetryPolicy& policy, int retry,
                                  const std::function<std::int64_t(std::int64_t)>& draw);

/// The decision for a failed run. A rate-limited failure waits for its Retry-After (or the
/// policy's default wait), bounded by `max_rate_limit_wait` in all, without spending an attempt;
/// any other kind retries while attempts remain under `retries_for(kind)`.
RetryDecision decide_retry(const RetryPolicy& policy, const Outcome& outcome, const RetryState& state,
                           TimePoint now, const std::function<std::int64_t(std::int64_t)>& draw);

}  // namespace shelfjobs::detail

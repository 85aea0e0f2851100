// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Rate limits keyed by any string (an indexer, a host): a minimum spacing between uses and an
/// optional budget of uses per window. Used by adapters before each request and by the
/// dispatcher for command types that declare a rate key.

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>

#include "shelfjobs/engine/clock.hpp"
#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/job.hpp"

namespace shelfjobs {

/// The limit of one key. A default-constructed limit allows everything.
struct RateLimit {
  /// At least this long between two uses. Default: 0 (no spacing).
  std::chrono::milliseconds min_spacing{0};
  /// At most `budget` uses in any `window`. 0: no budget. Default: 0.
  int budget = 0;
  /// The budget's sliding window; must be > 0 when `budget` > 0.
  std::chrono::milliseconds window{0};
};

/// Thread-safe: every member may be called from any thread. Keys that were never configured
/// have no limit, but `defer_until` still applies to them. State is in memory only.
class RateLimiter {
 public:
  /// `clock`: the time source (default: the system clock).
  explicit RateLimiter(std::shared_ptr<Clock> clock = nullptr);

  /// Sets (or replaces) the limit of `key`. Errors: invalid_argument (negative spacing, a
  /// budget without a window).
  Status configure(const std::string& key, RateLimit limit);

  /// The limit configured for `key` (a default RateLimit, no limit, when none was).
  RateLimit limit_of(const std::string& key) const;
  /// The earliest time a use of `key` would be allowed now, without using it (>= now).
  TimePoint next_free(const std::string& key) const;
  /// The same at the time `now` (>= now): a caller that compares the answer with a time it
  /// took earlier passes that time, so a free key answers exactly `now`.
  TimePoint next_free(const std::string& key, TimePoint now) const;

  /// Uses `key` if it is allowed now and returns true; otherwise changes nothing and returns
  /// false.
  bool try_acquire(const std::string& key);

  /// Reserves the next allowed slot for `key` and returns its time (>= now). Concurrent callers
  /// get distinct slots, each respecting spacing and budget. The caller goes at that time.
  TimePoint reserve(const std::string& key);

  /// `reserve`, then sleeps until the slot (on the real clock; with a manual clock it only
  /// reserves). Returns false, and gives the slot back when possible, if `token` is cancelled
  /// first.
  bool acquire(const std::string& key, std::stop_token token = {});

  /// Nothing may use `key` before `t` (a 429 with Retry-After). Later calls never shorten it.
  void defer_until(const std::string& key, TimePoint t);

 private:
  struct State {
    RateLimit limit;
    TimePoint last_use{};  // time of the latest reserved use
    bool used = false;
    std::deque<TimePoint> uses;  // reserved use times still within the window or the
                                 // spacing of now, ascending
    TimePoint deferred_until{};
  };
  TimePoint next_free_locked(const State& s, TimePoint now) const;
  void prune_locked(State& s, TimePoint now) const;

  std::shared_ptr<Clock> clock_;
  mutable std::mutex mu_;
  std::map<std::string, State> keys_;
};

}  // namespace shelfjobs

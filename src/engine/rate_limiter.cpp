// SPDX-License-Identifier: MIT
// RateLimiter: per-key spacing, a sliding-window budget and Retry-After deferrals.
//
// Every use is booked as a time slot under the mutex, so concurrent callers of `reserve` get
// slots one after another instead of all seeing the same "free now" answer. Slots are booked in
// ascending order: that keeps the list of recent uses sorted, which is what makes the budget
// check a single lookup (see next_free_locked).

#include "shelfjobs/engine/rate_limiter.hpp"

#include <algorithm>
#include <condition_variable>
#include <utility>

namespace shelfjobs {

namespace {
// acquire() wakes at least this often to re-read the clock: the system clock can be adjusted
// while a caller sleeps, and the slot is defined in system-clock time.
constexpr std::chrono::milliseconds kMaxSleepStep{100};

bool is_manual(const Clock& clock) { return dynamic_cast<const ManualClock*>(&clock) != nullptr; }
}  // namespace

RateLimiter::RateLimiter(std::shared_ptr<Clock> clock)
    : clock_(clock ? std::move(clock) : std::make_shared<SystemClock>()) {}

RateLimit RateLimiter::limit_of(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = keys_.find(key);
  return it == keys_.end() ? RateLimit{} : it->second.limit;
}

Status RateLimiter::configure(const std::string& key, RateLimit limit) {
  if (limit.min_spacing.count() < 0)
    return Error{errc::invalid_argument, "rate limit '" + key + "': min_spacing must not be negative"};
  if (limit.budget < 0)
    return Error{errc::invalid_argument, "rate limit '" + key + "': budget must not be negative"};
  if (limit.window.count() < 0)
    return Error{errc::invalid_argument, "rate limit '" + key + "': window must not be negative"};
  if (limit.budget > 0 && limit.window.count() == 0)
    return Error{errc::invalid_argument, "rate limit '" + key + "': a budget needs a window greater than 0"};
  std::lock_guard lock(mu_);
  auto& s = keys_[key];
  s.limit = limit;
  prune_locked(s, clock_->now());
  return Ok{};
}

// Uses are kept while they can still hold back a new use: inside the budget window, or closer to
// now than the spacing. The second part lets acquire() give a cancelled slot back and restore
// the previous use from the list.
void RateLimiter::prune_locked(State& s, TimePoint now) const {
  const auto horizon =
      std::max(s.limit.budget > 0 ? s.limit.window : std::chrono::milliseconds{0}, s.limit.min_spacing);
  while (!s.uses.empty() && s.uses.front() + horizon <= now) s.uses.pop_front();
}

// The earliest t >= now at which one more use keeps every rule:
//  - not before a Retry-After deferral;
//  - at least min_spacing after the latest booked use;
//  - not before the latest booked use at all, so bookings stay in order;
//  - budget: the new use must leave at most `budget` uses in any window [x, x + window). With the
//    booked uses u[0] <= ... <= u[n-1] and t >= u[n-1], that holds exactly when
//    t >= u[n-budget] + window: the window ending at t then holds only the budget-1 latest uses.
//    Uses pruned away are all <= now - window, so they could never move t past now.
TimePoint RateLimiter::next_free_locked(const State& s, TimePoint now) const {
  TimePoint t = std::max(now, s.deferred_until);
  if (s.used) t = std::max(t, s.last_use + s.limit.min_spacing);
  const auto budget = static_cast<std::size_t>(s.limit.budget);
  if (budget > 0 && s.uses.size() >= budget) t = std::max(t, s.uses[s.uses.size() - budget] + s.limit.window);
  return t;
}

TimePoint RateLimiter::next_free(const std::string& key) const { return next_free(key, clock_->now()); }

TimePoint RateLimiter::next_free(const std::string& key, TimePoint now) const {
  std::lock_guard lock(mu_);
  auto it = keys_.find(key);
  if (it == keys_.end()) return now;
  return next_free_locked(it->second, now);
}

bool RateLimiter::try_acquire(const std::string& key) {
  std::lock_guard lock(mu_);
  const auto now = clock_->now();
  auto& s = keys_[key];
  prune_locked(s, now);
  if (next_free_locked(s, now) > now) return false;
  s.last_use = now;
  s.used = true;
  s.uses.push_back(now);
  return true;
}

TimePoint RateLimiter::reserve(const std::string& key) {
  std::lock_guard lock(mu_);
  const auto now = clock_->now();
  auto& s = keys_[key];
  prune_locked(s, now);
  const auto t = next_free_locked(s, now);
  s.last_use = t;
  s.used = true;
  s.uses.push_back(t);
  return t;
}

bool RateLimiter::acquire(const std::string& key, std::stop_token token) {
  if (token.stop_requested()) return false;
  const auto slot = reserve(key);
  if (is_manual(*clock_)) return true;  // tests drive time themselves; nothing to sleep for

  // A private mutex and condition variable only serve as an interruptible sleep: the
  // stop_token overload of wait_for wakes as soon as a stop is requested.
  std::mutex sleep_mu;
  std::condition_variable_any sleep_cv;
  std::unique_lock sleep_lock(sleep_mu);
  for (;;) {
    const auto now = clock_->now();
    if (now >= slot) return true;
    const auto step = std::min<std::chrono::nanoseconds>(slot - now, kMaxSleepStep);
    sleep_cv.wait_for(sleep_lock, token, step, [] { return false; });
    if (token.stop_requested()) break;
  }

  // Give the slot back if nobody booked after it; otherwise later bookings were spaced from it
  // and removing it would not free anything that is still valid to hand out.
  std::lock_guard lock(mu_);
  auto it = keys_.find(key);
  if (it != keys_.end()) {
    auto& s = it->second;
    if (s.used && s.last_use == slot && !s.uses.empty() && s.uses.back() == slot) {
      s.uses.pop_back();
      s.used = !s.uses.empty();
      s.last_use = s.used ? s.uses.back() : TimePoint{};
    }
  }
  return false;
}

void RateLimiter::defer_until(const std::string& key, TimePoint t) {
  std::lock_guard lock(mu_);
  auto& s = keys_[key];
  s.deferred_until = std::max(s.deferred_until, t);
}

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
#pragma once
// The timer queue: every deadline of the engine (delayed jobs, timeouts, grace periods, idle
// deferrals, rate-key waits, aging, health checks, scheduled tasks, debounce windows) in one
// ordered queue on the engine's clock. The Asio timer that wakes the strand stays outside: it is
// armed for `next()`, and `take_due(now)` hands back what is due. Stale entries are the callers'
// concern: a callback checks the generation it captured against its object's current one.
//
// Thread-safety: none. The engine uses it on its dispatcher strand only.

#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "shelfjobs/engine/job.hpp"

namespace shelfjobs::detail {

class TimerQueue {
 public:
  using Callback = std::function<void()>;

  /// Adds a deadline. Returns true when it is now the earliest (the wake-up must be re-armed).
  bool add(TimePoint at, Callback fn);
  /// The earliest deadline, if any.
  std::optional<TimePoint> next() const;
  /// Removes and returns, in deadline order, the callbacks due at `now` (equal deadlines in the
  /// order they were added).
  std::vector<Callback> take_due(TimePoint now);
  void clear() { timers_.clear(); }

 private:
  std::multimap<TimePoint, Callback> timers_;
};

}  // namespace shelfjobs::detail

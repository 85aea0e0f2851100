// SPDX-License-Identifier: MIT
// A multimap keeps equal deadlines in insertion order, which keeps "delay 0" pushes FIFO.

#include "engine/timer_queue.hpp"

namespace shelfjobs::detail {

bool TimerQueue::add(TimePoint at, Callback fn) {
  const bool earliest = timers_.empty() || at < timers_.begin()->first;
  timers_.emplace(at, std::move(fn));
  return earliest;
}

std::optional<TimePoint> TimerQueue::next() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first;
}

std::vector<TimerQueue::Callback> TimerQueue::take_due(TimePoint now) {
  std::vector<Callback> due;
  auto it = timers_.begin();
  while (it != timers_.end() && it->first <= now) {
    due.push_back(std::move(it->second));
    it = timers_.erase(it);
  }
  return due;
}

}  // namespace shelfjobs::detail

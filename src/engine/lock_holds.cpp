// SPDX-License-Identifier: MIT
// Why the asker decides a timeout under the same mutex the strand grants under: the two race at
// the deadline, and exactly one of "the asker has the hold" and "the hold is withdrawn" must
// come out of it. A grant the asker no longer takes is dropped by the strand at once; a hold
// granted but never handed over would keep its locks forever.
#include "engine/lock_holds.hpp"

#include <algorithm>
#include <utility>

namespace shelfjobs::detail {

HoldWait::State HoldWait::wait_for(std::chrono::milliseconds timeout) {
  // A year at most: "forever" as milliseconds::max() would overflow the clock.
  const auto deadline = std::chrono::steady_clock::now() +
                        std::min(timeout, std::chrono::milliseconds(std::chrono::hours(24 * 365)));
  MutexLock lock(mu_);
  while (state_ == State::pending) {
    if (!lock.wait_until(cv_, deadline) && state_ == State::pending) state_ = State::withdrawn;
  }
  return state_;
}

bool HoldWait::grant() {
  {
    MutexLock lock(mu_);
    if (state_ != State::pending) return false;
    state_ = State::granted;
  }
  cv_.notify_all();
  return true;
}

void HoldWait::refuse() {
  {
    MutexLock lock(mu_);
    if (state_ != State::pending) return;
    state_ = State::refused;
  }
  cv_.notify_all();
}

std::uint64_t LockHolds::request(std::vector<std::string> names, std::shared_ptr<HoldWait> wait,
                                 ReadyIndex& ready) {
  const std::uint64_t id = next_id_++;
  ready.want(names);
  pending_.push_back({id, std::move(names), std::move(wait)});
  grant(ready);
  return id;
}

void LockHolds::grant(ReadyIndex& ready) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (!ready.locks_free(it->names)) {
      ++it;
      continue;
    }
    ready.unwant(it->names);
    if (it->wait->grant()) {
      ready.hold(it->names);
      granted_.emplace(it->id, std::move(it->names));
    }
    it = pending_.erase(it);
  }
}

bool LockHolds::withdraw(std::uint64_t id, ReadyIndex& ready) {
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (it->id != id) continue;
    ready.unwant(it->names);
    pending_.erase(it);
    return false;
  }
  return release(id, ready);
}

bool LockHolds::release(std::uint64_t id, ReadyIndex& ready) {
  auto it = granted_.find(id);
  if (it == granted_.end()) return false;
  ready.unhold(it->second);
  granted_.erase(it);
  grant(ready);
  return true;
}

void LockHolds::refuse_pending(ReadyIndex& ready) {
  for (auto& p : pending_) {
    ready.unwant(p.names);
    p.wait->refuse();
  }
  pending_.clear();
}

}  // namespace shelfjobs::detail

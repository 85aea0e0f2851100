// SPDX-License-Identifier: MIT
#pragma once
// A one-shot event: one thread waits until another sets it, once.
//
// A mutex and a condition variable cost more here than the wait itself: glibc wakes a waiter
// of a condition variable with its mutex marked contended, so the waiter's unlock makes a system
// call even when nobody else wants the mutex. On a virtual machine a durable push paid that on
// every call. This event is one word: set() makes a system call only when the waiter sleeps, and
// wait() sleeps only when the event is not set yet.
//
// wait() can first look for the event for a while, yielding between looks, before it sleeps: a
// waiter that is still awake when the event is set needs no wake-up, which saves the setter its
// system call and the waiter a trip through the scheduler (see push_durable for the figures).
//
// Thread-safety: set() from one thread, wait() from another; each at most once.
// Memory order: what the setter wrote before set() is visible to the waiter after wait().

#include <atomic>
#include <chrono>

#include "engine/sync.hpp"

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace shelfjobs::detail {

class OneShot {
 public:
  void set() noexcept {
    if (state_.exchange(kSet, std::memory_order_acq_rel) == kSleeping) wake();
  }

  /// Returns once set() has been called. With `spin` above zero, looks for it (yielding the
  /// thread between looks) for up to that long before it sleeps.
  void wait(std::chrono::microseconds spin = std::chrono::microseconds::zero()) noexcept {
    if (spin.count() > 0 &&
        yield_until([this] { return state_.load(std::memory_order_acquire) == kSet; }, spin))
      return;
    int seen = kUnset;
    if (!state_.compare_exchange_strong(seen, kSleeping, std::memory_order_acq_rel) && seen == kSet) return;
    while (state_.load(std::memory_order_acquire) != kSet) sleep_while(kSleeping);
  }

 private:
  static constexpr int kUnset = 0;
  static constexpr int kSleeping = 1;  // the waiter is (about to be) asleep: set() wakes it
  static constexpr int kSet = 2;

#if defined(__linux__)
  void sleep_while(int value) noexcept {
    // Returns at once when the word no longer holds `value` (set() came first), or on a wake-up
    // (spurious ones included: the caller loops).
    ::syscall(SYS_futex, reinterpret_cast<int*>(&state_), FUTEX_WAIT_PRIVATE, value, nullptr, nullptr, 0);
  }
  void wake() noexcept {
    ::syscall(SYS_futex, reinterpret_cast<int*>(&state_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }
#else
  void sleep_while(int value) noexcept { state_.wait(value, std::memory_order_acquire); }
  void wake() noexcept { state_.notify_one(); }
#endif

  std::atomic<int> state_{kUnset};
  static_assert(sizeof(std::atomic<int>) == sizeof(int) && std::atomic<int>::is_always_lock_free);
};

}  // namespace shelfjobs::detail

// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The source of "now". Injected so tests can drive time without sleeping.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "shelfjobs/engine/job.hpp"

namespace shelfjobs {

/// Wall-clock time for timestamps and calendar rules. Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  /// A clock that jumps (ManualClock) calls its listeners after each jump, so that an engine
  /// re-checks its timers at once. The system clock never calls them. Returns an id for
  /// `remove_listener`; listeners run on the thread that moved the clock.
  virtual std::uint64_t add_listener(std::function<void()> listener) {
    (void)listener;
    return 0;
  }
  virtual void remove_listener(std::uint64_t id) { (void)id; }
};

/// `std::chrono::system_clock`.
class SystemClock final : public Clock {
 public:
  TimePoint now() const override { return std::chrono::system_clock::now(); }
};

/// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start = TimePoint{std::chrono::hours(24 * 365 * 56)})
      : now_(start.time_since_epoch().count()) {}
  TimePoint now() const override { return TimePoint(TimePoint::duration(now_.load())); }
  void set(TimePoint t) {
    now_.store(t.time_since_epoch().count());
    notify();
  }
  void advance(std::chrono::nanoseconds d) {
    now_.fetch_add(std::chrono::duration_cast<TimePoint::duration>(d).count());
    notify();
  }
  std::uint64_t add_listener(std::function<void()> listener) override {
    std::lock_guard lock(mu_);
    listeners_.emplace(++next_id_, std::make_shared<std::function<void()>>(std::move(listener)));
    return next_id_;
  }
  void remove_listener(std::uint64_t id) override {
    std::lock_guard lock(mu_);
    listeners_.erase(id);
  }

 private:
  void notify() {
    std::map<std::uint64_t, std::shared_ptr<std::function<void()>>> copy;
    {
      std::lock_guard lock(mu_);
      copy = listeners_;
    }
    for (auto& [id, fn] : copy) (*fn)();
  }

  std::atomic<TimePoint::rep> now_;
  std::mutex mu_;
  std::uint64_t next_id_ = 0;
  std::map<std::uint64_t, std::shared_ptr<std::function<void()>>> listeners_;
};

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The source of "now". Injected so tests can drive time without sleeping.

#include <atomic>
#include <chrono>
#include <memory>

#include "shelfjobs/job.hpp"

namespace shelfjobs {

/// Wall-clock time for timestamps and calendar rules. Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
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
  void set(TimePoint t) { now_.store(t.time_since_epoch().count()); }
  void advance(std::chrono::nanoseconds d) {
    now_.fetch_add(std::chrono::duration_cast<TimePoint::duration>(d).count());
  }

 private:
  std::atomic<TimePoint::rep> now_;
};

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Schedule arithmetic: when a scheduled task is next due. Pure functions, no state: the
/// scheduler keeps the rows and calls these.
///
/// Due times follow the schedule, not the end of the last run (no drift): the next due time is
/// the first slot of the schedule after `now`, counted from the previous due time, so after a
/// downtime an overdue task runs once, not once per missed slot.
///
/// With jitter, interval slots lie on a fixed grid: whole multiples, counted from the Unix epoch,
/// of the smallest step that divides the interval and is longer than the jitter (6 min for 1 h
/// with 5 min of jitter). That lets `next_due` tell a slot from its jitter.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/job.hpp"

namespace shelfjobs {

struct Schedule {
  /// Time between runs; 0 disables the task.
  std::chrono::seconds interval{0};
  /// For daily tasks (interval of 24 h): the local time of day to run at, as minutes after
  /// midnight (e.g. 3 * 60 + 30 for 03:30). Unset: due times are `interval` apart.
  std::optional<std::chrono::minutes> time_of_day;
  /// IANA zone of `time_of_day` ("Europe/Berlin"); empty: the system's local zone.
  std::string time_zone;
  /// Each due time is moved later by a pseudo-random amount in [0, jitter], drawn from the seed
  /// and the slot, so it is the same for the same slot across restarts. Default: 0.
  std::chrono::seconds jitter{0};
};

/// The first due time of a new task: `now` + interval (with jitter: rounded up to the grid, then
/// jittered), or the next time_of_day.
/// Errors: invalid_argument (interval 0, negative or over 100 years; time_of_day with an interval
/// other than 24 h; time_of_day out of 0..1439 minutes; jitter negative or not shorter than the
/// interval; an unknown time zone, or no `time_zone` on a system whose local zone is unknown).
Result<TimePoint> first_due(const Schedule& s, TimePoint now, std::uint64_t seed);

/// The next due time after a run that was due at `previous_due`: the first slot after `now`
/// (for time_of_day: the next local time_of_day after max(previous_due, now)). On a
/// daylight-saving change a pinned time runs exactly once per local day: a time that does not
/// exist that day (spring forward) runs at the first instant after the gap; a time that exists
/// twice (fall back) runs at its first occurrence. Same errors as `first_due`.
Result<TimePoint> next_due(const Schedule& s, TimePoint previous_due, TimePoint now, std::uint64_t seed);

/// The allowed values of one task's interval.
struct IntervalRange {
  std::chrono::seconds min{0};
  std::chrono::seconds max{0};
  /// Whether 0 (disabled) is allowed besides [min, max].
  bool allow_off = false;
};

/// Ok if `value` is allowed; otherwise invalid_argument with a message naming the task, the
/// value and the valid range in the task's own unit ("RssSync: interval 3 min is out of range;
/// use 0 (off) or 5..60 min").
Status validate_interval(const std::string& task, std::chrono::seconds value, const IntervalRange& range);

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
// Schedule arithmetic: interval slots, jitter, daily times pinned to a local time zone, and the
// check of a task's interval setting.
//
// How the scheduler uses this file: it runs a task when `now >= due`; after that run it calls
// `next_due(s, due, now)` and stores the result, which is always later than `now`. Every slot
// that is already due by `now` is folded into the run that just happened, so a task that was
// overdue (the host was down for three days) runs once on start-up, not once per missed slot,
// and then returns to its schedule. Due times never depend on when a run ended: a run that ends
// late does not push the schedule later (no drift).
//
// Interval slots. Without jitter, slot k of a task is `previous_due + k * interval`. With jitter,
// the stored due time is `slot + jitter(slot)`, and the next slot must be counted from the slot,
// not from the jittered time, or the jitter would add up run after run. `next_due` only gets the
// jittered time, so the slot has to be recoverable from it. It is, because every slot lies on a
// multiple of a step `q` (counted from the Unix epoch) and the jitter is shorter than `q`: the
// slot is the jittered time rounded down to a multiple of `q`. `q` is the smallest divisor of the
// interval that is longer than the jitter, so `first_due` rounds `now + interval` up by less than
// `q`, and adding whole intervals keeps every later slot on a multiple of `q`. Rounding down also
// survives a store that keeps due times in milliseconds: slots and jitters are whole seconds.
//
// Jitter. Each slot's jitter is a hash of (seed, slot) reduced to 0..jitter whole seconds: the
// slot is the slot's instant in seconds since the epoch for interval tasks, and the local day for
// daily tasks. The same task gets the same due time for the same slot after a restart, and tasks
// with different seeds spread out. The hash is fixed: changing it moves every stored jittered
// due time of existing installations.
//
// Daily times. A time_of_day task has one slot per local day of its zone: the first instant that
// day at which the local clock reads the pinned time; on a spring-forward day when that time is
// skipped, the instant the clock jumps (02:30 in Berlin on the last Sunday of March runs at 03:00
// CEST); on a fall-back day when it happens twice, the first of the two. Jitter is added to that
// instant. The local day of the previous run is found by matching `previous_due` against the due
// times of the days around it, so a jitter of many hours cannot make a day run twice or be
// skipped; a `previous_due` that matches no day (the schedule changed) counts as belonging to the
// last day whose pinned time is at or before it.
//
// Zones come from the system's tz database (/usr/share/zoneinfo, via the date library). Those
// files list daylight-saving changes up to 2037 and the date library ignores the rule that
// extends them, so due times after 2037 ignore daylight saving.

#include "shelfjobs/engine/schedule.hpp"

#include <algorithm>
#include <array>
#include <exception>
#include <string>
#include <utility>

#include <date/date.h>
#include <date/tz.h>

namespace shelfjobs {

namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using Duration = TimePoint::duration;

constexpr seconds kDay{24 * 60 * 60};
// Longer intervals would overflow the nanosecond arithmetic of TimePoint near its range ends.
constexpr seconds kMaxInterval{100LL * 365 * 24 * 60 * 60};

Error invalid(std::string message) { return Error{errc::invalid_argument, std::move(message)}; }

// --- Durations for people: "5 min", "12 h", "7 days" -----------------------------------------

struct Unit {
  std::int64_t seconds;
  const char* one;
  const char* many;
};
constexpr std::array<Unit, 4> kUnits = {{
    {24 * 60 * 60, "day", "days"},
    {60 * 60, "h", "h"},
    {60, "min", "min"},
    {1, "s", "s"},
}};

// The largest unit that divides both values, so a range is shown without fractions.
const Unit& unit_for(seconds a, seconds b) {
  for (const auto& u : kUnits)
    if (a.count() % u.seconds == 0 && b.count() % u.seconds == 0) return u;
  return kUnits.back();
}

std::string number_in(seconds d, const Unit& u) { return std::to_string(d.count() / u.seconds); }

std::string amount_in(seconds d, const Unit& u) {
  const auto n = d.count() / u.seconds;
  return std::to_string(n) + " " + (n == 1 || n == -1 ? u.one : u.many);
}

// In the range's unit when that is exact, else in the value's own largest unit ("90 s").
std::string amount(seconds d, const Unit& preferred) {
  return d.count() % preferred.seconds == 0 ? amount_in(d, preferred) : amount_in(d, unit_for(d, d));
}
std::string amount(seconds d) { return amount_in(d, unit_for(d, d)); }

// --- Integer helpers ----------------------------------------------------------------------------

std::int64_t floor_div(std::int64_t a, std::int64_t b) {  // b > 0
  const auto q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

TimePoint floor_to(TimePoint t, Duration step) {
  return TimePoint{step * floor_div(t.time_since_epoch().count(), step.count())};
}

TimePoint ceil_to(TimePoint t, Duration step) {
  const auto down = floor_to(t, step);
  return down == t ? t : down + step;
}

// splitmix64's finaliser: cheap, well mixed, and the same on every platform.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The jitter of one slot: 0..s.jitter whole seconds, a function of (seed, slot) only.
seconds jitter_of(const Schedule& s, std::uint64_t seed, std::int64_t slot) {
  if (s.jitter <= seconds{0}) return seconds{0};
  const auto span = static_cast<std::uint64_t>(s.jitter.count()) + 1;
  const auto h = mix(seed ^ mix(static_cast<std::uint64_t>(slot)));
  return seconds{static_cast<std::int64_t>(h % span)};
}

// --- Checks -------------------------------------------------------------------------------------

Status check(const Schedule& s) {
  if (s.interval == seconds{0})
    return invalid("schedule interval is 0, which turns the task off: it has no due time");
  if (s.interval < seconds{0}) return invalid("schedule interval " + amount(s.interval) + " is negative");
  if (s.interval > kMaxInterval)
    return invalid("schedule interval " + amount(s.interval) + " is longer than 100 years");
  if (s.jitter < seconds{0}) return invalid("schedule jitter " + amount(s.jitter) + " is negative");
  if (s.jitter >= s.interval)
    return invalid("schedule jitter " + amount(s.jitter) + " must be shorter than the interval (" +
                   amount(s.interval) + ")");
  if (s.time_of_day) {
    if (s.interval != kDay)
      return invalid("schedule time_of_day needs an interval of 24 h, not " + amount(s.interval));
    const auto m = s.time_of_day->count();
    if (m < 0 || m > 24 * 60 - 1)
      return invalid("schedule time_of_day " + std::to_string(m) +
                     " min is out of range; use 0..1439 (minutes after midnight)");
  }
  return Ok{};
}

Result<const date::time_zone*> find_zone(const std::string& name) {
  try {
    if (name.empty()) return date::current_zone();
    return date::locate_zone(name);
  } catch (const std::exception& e) {
    if (name.empty())
      return invalid(std::string("the system's local time zone is unknown (") + e.what() +
                     "); set the schedule's time_zone");
    return invalid("unknown time zone '" + name + "' (" + e.what() + ")");
  }
}

// --- Interval tasks -----------------------------------------------------------------------------

// The step every slot is a multiple of (see the top of the file). Without jitter slots need no
// grid: one clock tick.
Duration grid_step(const Schedule& s) {
  if (s.jitter == seconds{0}) return Duration{1};
  const auto n = s.interval.count();
  auto best = n;  // jitter < interval, so the interval itself always qualifies
  for (std::int64_t d = 1; d * d <= n; ++d) {
    if (n % d != 0) continue;
    if (d > s.jitter.count() && d < best) best = d;
    if (n / d > s.jitter.count() && n / d < best) best = n / d;
  }
  return seconds{best};
}

TimePoint jittered(const Schedule& s, std::uint64_t seed, TimePoint slot) {
  const auto key = std::chrono::floor<seconds>(slot.time_since_epoch()).count();
  return slot + jitter_of(s, seed, key);
}

TimePoint first_interval(const Schedule& s, TimePoint now, std::uint64_t seed) {
  return jittered(s, seed, ceil_to(now + s.interval, grid_step(s)));
}

TimePoint next_interval(const Schedule& s, TimePoint previous_due, TimePoint now, std::uint64_t seed) {
  const Duration interval = s.interval;
  const TimePoint slot = floor_to(previous_due, grid_step(s));
  // The first slot after `now` (and at least one slot on).
  const std::int64_t k = now < slot ? 1 : (now - slot) / interval + 1;
  const TimePoint next = slot + k * interval;
  // The slot before it has started but may not be due yet once jittered (jitter < interval, so
  // no earlier one can be).
  if (k > 1) {
    const TimePoint before = jittered(s, seed, next - interval);
    if (before > now) return before;
  }
  return jittered(s, seed, next);
}

// --- Daily tasks pinned to a local time ---------------------------------------------------------

class Daily {
 public:
  Daily(const Schedule& s, const date::time_zone& zone, std::uint64_t seed)
      : s_(s), zone_(zone), seed_(seed) {}

  // The local day (days since 1970-01-01 in local time) that instant `t` falls on.
  std::int64_t local_day(TimePoint t) const {
    const auto local = zone_.to_local(date::floor<seconds>(t));
    return date::floor<date::days>(local).time_since_epoch().count();
  }

  // The instant the clock reads the pinned time on local day `day` (see the top of the file).
  TimePoint pinned(std::int64_t day) const {
    const date::local_seconds at =
        date::local_days{date::days{static_cast<date::days::rep>(day)}} + *s_.time_of_day;
    const auto info = zone_.get_info(at);
    if (info.result == date::local_info::nonexistent) return info.first.end;
    // unique, or ambiguous: `first` is the period before the change, so the earlier instant.
    return TimePoint{at.time_since_epoch() - info.first.offset};
  }

  TimePoint due(std::int64_t day) const { return pinned(day) + jitter_of(s_, seed_, day); }

  // The local day whose run was due at `t`.
  std::int64_t day_of(TimePoint t) const {
    const auto d = local_day(t);
    const auto t_s = std::chrono::floor<seconds>(t);
    for (auto day = d; day >= d - 2; --day)
      if (due(day) == t_s) return day;
    for (auto day = d; day >= d - 2; --day)
      if (pinned(day) <= t) return day;
    return d - 3;  // not reached: day d - 1's pinned time is always before day d
  }

  // The first day after `after` whose due time is later than `now`. No day before local_day(now)
  // - 2 can still be ahead of `now`: its pinned time is over 24 h back and the jitter is shorter.
  TimePoint next(std::int64_t after, TimePoint now) const {
    auto day = std::max(after + 1, local_day(now) - 2);
    while (due(day) <= now) ++day;
    return due(day);
  }

 private:
  const Schedule& s_;
  const date::time_zone& zone_;
  std::uint64_t seed_;
};

}  // namespace

Result<TimePoint> first_due(const Schedule& s, TimePoint now, std::uint64_t seed) {
  if (auto ok = check(s); !ok) return ok.error();
  if (!s.time_of_day) return first_interval(s, now, seed);
  auto zone = find_zone(s.time_zone);
  if (!zone) return zone.error();
  const Daily daily(s, **zone, seed);
  return daily.next(daily.local_day(now) - 3, now);
}

Result<TimePoint> next_due(const Schedule& s, TimePoint previous_due, TimePoint now, std::uint64_t seed) {
  if (auto ok = check(s); !ok) return ok.error();
  if (!s.time_of_day) return next_interval(s, previous_due, now, seed);
  auto zone = find_zone(s.time_zone);
  if (!zone) return zone.error();
  const Daily daily(s, **zone, seed);
  return daily.next(daily.day_of(previous_due), now);
}

Status validate_interval(const std::string& task, seconds value, const IntervalRange& range) {
  if (value == seconds{0} && range.allow_off) return Ok{};
  if (value >= range.min && value <= range.max) return Ok{};
  const Unit& unit = unit_for(range.min, range.max);
  std::string allowed = range.min == range.max
                            ? amount_in(range.max, unit)
                            : number_in(range.min, unit) + ".." + amount_in(range.max, unit);
  if (range.allow_off) allowed = "0 (off) or " + allowed;
  if (value == seconds{0}) return invalid(task + ": interval 0 (off) is not allowed; use " + allowed);
  return invalid(task + ": interval " + amount(value, unit) + " is out of range; use " + allowed);
}

}  // namespace shelfjobs

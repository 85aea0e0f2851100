// SPDX-License-Identifier: MIT
#pragma once
// Health figures: per command type, all-time totals (loaded from the store, which keeps them in
// its finish commits), the window's runs in per-minute buckets, and the durations of the last
// runs; and for the whole engine a per-minute series (runs finished by status, queue depth) for
// the dashboard's charts. Memory is bounded by types x minutes of the window, never by the
// number of jobs.
//
// Thread-safety: none. The engine uses it on its dispatcher strand only.

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shelfjobs/engine/health.hpp"
#include "shelfjobs/engine/job_store.hpp"

namespace shelfjobs::detail {

class HealthFigures {
 public:
  explicit HealthFigures(std::chrono::milliseconds window);

  /// What the store kept: totals and the window's minute buckets.
  void load(std::vector<TypeTotals> totals, std::vector<MinuteFigures> minutes);
  void started(const std::string& name, TimePoint at);
  /// A run reached a terminal status.
  void finished(const JobInfo& job);

  /// The mean duration of a type's last runs, once it has at least `min_runs` of them.
  std::optional<std::chrono::milliseconds> average(const std::string& name, std::size_t min_runs) const;

  /// Fills `h.types` (every name in `names` appears) and, when `series`, `h.minutes`.
  void fill(HealthSnapshot& h, TimePoint now, const std::vector<std::string>& names,
            const std::map<std::string, int>& running, bool series);

  /// Closes the minute before the one `now` is in: records the queue figures on it and returns
  /// it (with zero counts if nothing finished in it).
  MinuteHealth close_minute(TimePoint now, std::int64_t queued, std::int64_t delayed, std::int64_t running);

  static TimePoint minute_of(TimePoint t);

 private:
  // One type's runs in one minute. Slimmer than MinuteFigures (no name, 32-bit counts): a day
  // of them for every type is what a restart loads, and their memory's first touch was a good
  // part of opening a busy file.
  struct Minute {
    TimePoint minute{};
    std::uint32_t completed = 0, failed = 0;
    std::int64_t duration_sum_ms = 0;
    std::array<std::uint32_t, kDurationBins> durations{};
  };
  struct Type {
    TypeTotals totals;
    std::deque<Minute> minutes;          // oldest first, within the window
    std::deque<std::int64_t> durations;  // ms of the last kDurationSamples completed/failed runs
  };
  void trim(Type& t, TimePoint now);
  MinuteHealth& series_at(TimePoint minute);

  std::chrono::milliseconds window_;
  std::map<std::string, Type> types_;
  std::deque<MinuteHealth> series_;  // oldest first, within the window
};

}  // namespace shelfjobs::detail

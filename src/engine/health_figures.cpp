// SPDX-License-Identifier: MIT
// Durations: the last 100 runs of a type in memory give exact averages and percentiles while the
// process runs; after a restart, until new runs come, the window's histogram stands in (its
// percentile is a bin's upper bound). Both are bounded, unlike the per-job samples this replaced.

#include "engine/health_figures.hpp"

#include <algorithm>
#include <limits>

namespace shelfjobs::detail {

namespace {
constexpr std::size_t kDurationSamples = 100;

// A minute's count as kept in memory. More than 4 billion runs of one type in a minute cannot
// happen; a stored row that says so (a damaged file) is held at the most a count can say.
std::uint32_t saturated(std::int64_t n) {
  return static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(n, 0, std::numeric_limits<std::uint32_t>::max()));
}
}  // namespace

HealthFigures::HealthFigures(std::chrono::milliseconds window) : window_(window) {}

TimePoint HealthFigures::minute_of(TimePoint t) { return std::chrono::floor<std::chrono::minutes>(t); }

void HealthFigures::load(std::vector<TypeTotals> totals, std::vector<MinuteFigures> minutes) {
  for (auto& t : totals) {
    std::string name = t.name;
    types_[name].totals = std::move(t);
  }
  // The stores hand them out oldest first already; sorting a sorted day of minutes still moved
  // every figure.
  const auto older = [](const MinuteFigures& a, const MinuteFigures& b) { return a.minute < b.minute; };
  if (!std::is_sorted(minutes.begin(), minutes.end(), older)) {
    std::stable_sort(minutes.begin(), minutes.end(), older);
  }
  for (auto& m : minutes) {
    auto& s = series_at(m.minute);
    s.completed += saturated(m.completed);
    s.failed += saturated(m.failed);
    s.cancelled += saturated(m.cancelled);
    auto& t = types_[m.name];
    if (t.totals.name.empty()) t.totals.name = m.name;
    Minute& kept = t.minutes.emplace_back();
    kept.minute = m.minute;
    kept.completed = saturated(m.completed);
    kept.failed = saturated(m.failed);
    kept.duration_sum_ms = m.duration_sum_ms;
    for (std::size_t i = 0; i < kDurationBins; ++i) kept.durations[i] = saturated(m.durations[i]);
  }
}

void HealthFigures::started(const std::string& name, TimePoint at) {
  auto& t = types_[name];
  if (t.totals.name.empty()) t.totals.name = name;
  t.totals.last_start = at;
}

MinuteHealth& HealthFigures::series_at(TimePoint minute) {
  if (series_.empty() || series_.back().minute < minute) {
    series_.push_back(MinuteHealth{minute});
    return series_.back();
  }
  // Loaded or late figures: find the minute (the series is short and ordered).
  auto it = std::lower_bound(series_.begin(), series_.end(), minute,
                             [](const MinuteHealth& m, TimePoint t) { return m.minute < t; });
  if (it != series_.end() && it->minute == minute) return *it;
  return *series_.insert(it, MinuteHealth{minute});
}

void HealthFigures::trim(Type& t, TimePoint now) {
  while (!t.minutes.empty() && now - t.minutes.front().minute > window_) t.minutes.pop_front();
}

void HealthFigures::finished(const JobInfo& job) {
  auto& t = types_[job.name];
  if (t.totals.name.empty()) t.totals.name = job.name;
  const TimePoint at = job.ended_at.value_or(TimePoint{});
  t.totals.last_finish = at;
  t.totals.last_status = job.status;
  const TimePoint minute = minute_of(at);
  if (t.minutes.empty() || t.minutes.back().minute < minute) t.minutes.emplace_back().minute = minute;
  Minute& m = t.minutes.back();
  MinuteHealth& s = series_at(minute);
  switch (job.status) {
    case JobStatus::completed:
      ++t.totals.completed;
      ++m.completed;
      ++s.completed;
      break;
    case JobStatus::failed:
      ++t.totals.failed;
      ++m.failed;
      ++s.failed;
      break;
    case JobStatus::cancelled:
      ++t.totals.cancelled;
      ++s.cancelled;
      break;
    default: break;
  }
  if (job.started_at && job.status != JobStatus::cancelled) {
    m.duration_sum_ms += job.duration.count();
    ++m.durations[duration_bin(job.duration)];
    t.durations.push_back(job.duration.count());
    if (t.durations.size() > kDurationSamples) t.durations.pop_front();
  }
  trim(t, at);
}

std::optional<std::chrono::milliseconds> HealthFigures::average(const std::string& name,
                                                                std::size_t min_runs) const {
  auto it = types_.find(name);
  if (it == types_.end() || it->second.durations.size() < min_runs || it->second.durations.empty()) {
    return std::nullopt;
  }
  double sum = 0;
  for (auto d : it->second.durations) sum += static_cast<double>(d);
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(sum / static_cast<double>(it->second.durations.size())));
}

void HealthFigures::fill(HealthSnapshot& h, TimePoint now, const std::vector<std::string>& names,
                         const std::map<std::string, int>& running, bool series) {
  for (const auto& name : names) {
    auto& t = types_[name];
    if (t.totals.name.empty()) t.totals.name = name;
  }
  for (auto& [name, t] : types_) {
    trim(t, now);
    TypeHealth th;
    th.name = name;
    th.last_start = t.totals.last_start;
    th.last_finish = t.totals.last_finish;
    th.last_status = t.totals.last_status;
    th.completed = t.totals.completed;
    th.failed = t.totals.failed;
    th.cancelled = t.totals.cancelled;
    std::int64_t sum_ms = 0;
    for (const auto& m : t.minutes) {
      th.recent_completed += m.completed;
      th.recent_failed += m.failed;
      sum_ms += m.duration_sum_ms;
      for (std::size_t i = 0; i < kDurationBins; ++i) th.durations[i] += m.durations[i];
    }
    const auto runs = th.recent_completed + th.recent_failed;
    th.recent_failure_rate = runs ? static_cast<double>(th.recent_failed) / static_cast<double>(runs) : 0.0;
    if (!t.durations.empty()) {
      std::vector<std::int64_t> d(t.durations.begin(), t.durations.end());
      std::int64_t sum = 0;
      for (auto x : d) sum += x;
      th.avg_duration = std::chrono::milliseconds(sum / static_cast<std::int64_t>(d.size()));
      std::sort(d.begin(), d.end());
      const auto rank = static_cast<std::size_t>(0.95 * static_cast<double>(d.size() - 1) + 0.5);
      th.p95_duration = std::chrono::milliseconds(d[std::min(rank, d.size() - 1)]);
    } else if (runs > 0) {
      th.avg_duration = std::chrono::milliseconds(sum_ms / runs);
      std::int64_t seen = 0;
      const auto want = static_cast<std::int64_t>(0.95 * static_cast<double>(runs) + 0.5);
      for (std::size_t i = 0; i < kDurationBins; ++i) {
        seen += th.durations[i];
        if (seen >= std::max<std::int64_t>(want, 1)) {
          th.p95_duration = std::chrono::milliseconds(
              i < kDurationBinBoundsMs.size() ? kDurationBinBoundsMs[i] : kDurationBinBoundsMs.back());
          break;
        }
      }
    }
    if (auto r = running.find(name); r != running.end()) th.running = r->second;
    h.types.push_back(std::move(th));
  }
  if (series) {
    while (!series_.empty() && now - series_.front().minute > window_) series_.pop_front();
    h.minutes.assign(series_.begin(), series_.end());
  }
}

MinuteHealth HealthFigures::close_minute(TimePoint now, std::int64_t queued, std::int64_t delayed,
                                         std::int64_t running) {
  const TimePoint minute = minute_of(now) - std::chrono::minutes(1);
  MinuteHealth& m = series_at(minute);
  m.queued = queued;
  m.delayed = delayed;
  m.running = running;
  const MinuteHealth out = m;
  while (!series_.empty() && now - series_.front().minute > window_) series_.pop_front();
  return out;
}

}  // namespace shelfjobs::detail

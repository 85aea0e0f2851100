// SPDX-License-Identifier: MIT
// Health figures, alert rules and pruning. Everything here runs on the dispatcher strand.

#include <algorithm>
#include <filesystem>

#include "engine_impl.hpp"

namespace shelfjobs {

namespace {
constexpr std::size_t kDurationSamples = 100;

nlohmann::json opt_time(const std::optional<TimePoint>& t) {
  return t ? nlohmann::json(format_time(*t)) : nlohmann::json(nullptr);
}
}  // namespace

nlohmann::json to_json(const Alert& a) {
  return {{"rule", a.rule},
          {"key", a.key},
          {"message", a.message},
          {"raised", format_time(a.raised_at)},
          {"details", a.details}};
}

nlohmann::json to_json(const HealthSnapshot& h) {
  nlohmann::json types = nlohmann::json::array();
  for (const auto& t : h.types) {
    types.push_back({{"name", t.name},
                     {"lastStart", opt_time(t.last_start)},
                     {"lastFinish", opt_time(t.last_finish)},
                     {"lastStatus", t.last_status ? nlohmann::json(to_string(*t.last_status))
                                                  : nlohmann::json(nullptr)},
                     {"completed", t.completed},
                     {"failed", t.failed},
                     {"cancelled", t.cancelled},
                     {"recentCompleted", t.recent_completed},
                     {"recentFailed", t.recent_failed},
                     {"recentFailureRate", t.recent_failure_rate},
                     {"avgDurationMs", t.avg_duration.count()},
                     {"p95DurationMs", t.p95_duration.count()},
                     {"running", t.running}});
  }
  nlohmann::json priorities = nlohmann::json::array();
  for (const auto& p : h.priorities) {
    priorities.push_back(
        {{"priority", to_string(p.priority)},
         {"queued", p.queued},
         {"delayed", p.delayed},
         {"running", p.running},
         {"oldestQueuedAgeMs", p.oldest_queued_age ? nlohmann::json(p.oldest_queued_age->count())
                                                   : nlohmann::json(nullptr)}});
  }
  nlohmann::json alerts = nlohmann::json::array();
  for (const auto& a : h.alerts) alerts.push_back(to_json(a));
  return {{"at", format_time(h.at)},
          {"workers", h.workers},
          {"running", h.running},
          {"types", types},
          {"priorities", priorities},
          {"store",
           {{"commits", h.store.commits},
            {"writeErrors", h.store.write_errors},
            {"lastCommitLatencyUs", h.store.last_commit_latency.count()},
            {"maxCommitLatencyUs", h.store.max_commit_latency.count()},
            {"fileBytes", h.store.file_bytes},
            {"walBytes", h.store.wal_bytes}}},
          {"alerts", alerts}};
}

void Engine::Impl::load_health(std::vector<detail::TypeHistory> history,
                               std::vector<detail::RunSample> samples) {
  for (auto& h : history) {
    auto& s = stats_[h.name];
    s.completed = h.completed;
    s.failed = h.failed;
    s.cancelled = h.cancelled;
    s.last_start = h.last_start;
    s.last_finish = h.last_finish;
    s.last_status = h.last_status;
  }
  for (auto& r : samples) {
    auto& s = stats_[r.name];
    s.recent.emplace_back(r.ended, r.status);
    if (r.status != JobStatus::cancelled) {
      s.durations.push_back(r.duration_ms);
      if (s.durations.size() > kDurationSamples) s.durations.pop_front();
    }
  }
}

void Engine::Impl::record_start(const JobInfo& job) { stats_[job.name].last_start = job.started_at; }

void Engine::Impl::record_finish(const JobInfo& job) {
  auto& s = stats_[job.name];
  const TimePoint now = job.ended_at.value_or(clock_->now());
  s.last_finish = now;
  s.last_status = job.status;
  switch (job.status) {
    case JobStatus::completed: ++s.completed; break;
    case JobStatus::failed: ++s.failed; break;
    case JobStatus::cancelled: ++s.cancelled; break;
    default: break;
  }
  s.recent.emplace_back(now, job.status);
  while (!s.recent.empty() && now - s.recent.front().first > opts_.health_window) s.recent.pop_front();
  if (job.started_at && job.status != JobStatus::cancelled) {
    s.durations.push_back(job.duration.count());
    if (s.durations.size() > kDurationSamples) s.durations.pop_front();
  }
  if (job.status == JobStatus::failed && opts_.alerts.job_failed) {
    raise("job_failed", "job_failed:" + job.name, job.name + " failed: " + job.error,
          {{"jobId", job.id}, {"errorKind", to_string(job.error_kind)}, {"attempt", job.attempt}});
  }
  // On the hot path of every job: build alert keys only when some alert is open.
  if (!alerts_.empty()) {
    clear("long_running:" + std::to_string(job.id));
    if (job.status == JobStatus::completed) clear("job_failed:" + job.name);
  }
}

void Engine::Impl::raise(const std::string& rule, const std::string& key, std::string message,
                         nlohmann::json details) {
  if (alerts_.count(key)) return;  // raised once per condition
  Alert a{rule, key, std::move(message), clock_->now(), std::move(details)};
  log_->warn("alert raised: {}", a.message);
  try {
    opts_.notifier->notify(Notification{"alert_raised", std::nullopt, a.message, a.raised_at,
                                        {{"rule", a.rule}, {"key", a.key}, {"details", a.details}}});
  } catch (...) {
  }
  alerts_.emplace(key, std::move(a));
}

void Engine::Impl::clear(const std::string& key) {
  auto it = alerts_.find(key);
  if (it == alerts_.end()) return;
  Alert a = std::move(it->second);
  alerts_.erase(it);
  log_->info("alert cleared: {}", a.message);
  try {
    opts_.notifier->notify(Notification{"alert_cleared", std::nullopt, "cleared: " + a.message,
                                        clock_->now(), {{"rule", a.rule}, {"key", a.key}}});
  } catch (...) {
  }
}

void Engine::Impl::update_saturation() {
  const bool saturated = running_total_ - critical_running_ >= opts_.workers;
  if (saturated && !saturated_since_) saturated_since_ = clock_->now();
  if (!saturated) saturated_since_.reset();
}

void Engine::Impl::check_alerts() {
  const auto& o = opts_.alerts;
  const TimePoint now = clock_->now();

  // Long-running jobs.
  for (auto& [id, a] : active_) {
    if (!a.run || !a.info.started_at) continue;
    const auto ran = std::chrono::duration_cast<std::chrono::milliseconds>(now - *a.info.started_at);
    const auto& s = stats_[a.info.name];
    std::optional<std::chrono::milliseconds> limit;
    if (o.long_running.count() > 0) limit = o.long_running;
    if (o.long_running_factor > 0 && s.durations.size() >= 5) {
      double sum = 0;
      for (auto d : s.durations) sum += static_cast<double>(d);
      const auto by_avg = std::chrono::milliseconds(static_cast<std::int64_t>(
          o.long_running_factor * sum / static_cast<double>(s.durations.size())));
      if (by_avg.count() > 0 && (!limit || by_avg < *limit)) limit = by_avg;
    }
    if (limit && ran > *limit) {
      raise("long_running", "long_running:" + std::to_string(id),
            a.info.name + " (job " + std::to_string(id) + ") has run for " +
                std::to_string(ran.count() / 1000) + " s",
            {{"jobId", id}, {"runningMs", ran.count()}, {"limitMs", limit->count()}});
    }
  }

  // Backlog: depth, or the oldest ready job's wait.
  const std::int64_t depth = depth_.total_queued();
  std::optional<std::chrono::milliseconds> oldest;
  for (const auto& heads : heads_) {
    for (const auto& [head, type] : heads) {
      const auto age =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - active_.at(head).ready_since);
      if (!oldest || age > *oldest) oldest = age;
    }
  }
  const bool deep = o.backlog_depth > 0 && depth > o.backlog_depth;
  const bool old = o.backlog_age.count() > 0 && oldest && *oldest > o.backlog_age;
  if (deep || old) {
    raise("backlog", "backlog",
          std::to_string(depth) + " jobs queued; the oldest has waited " +
              std::to_string(oldest ? oldest->count() / 1000 : 0) + " s",
          {{"depth", depth}, {"oldestQueuedAgeMs", oldest ? oldest->count() : 0}});
  } else {
    clear("backlog");
  }

  // Free disk space.
  for (const auto& [label, path] : o.disk_paths) {
    std::error_code ec;
    const auto space = std::filesystem::space(path, ec);
    const std::string key = "disk_space:" + label;
    if (ec) {
      raise("disk_space", key, label + " (" + path.string() + "): cannot read free space: " +
                                   ec.message());
    } else if (space.available < o.min_free_bytes) {
      raise("disk_space", key,
            label + " (" + path.string() + ") has " +
                std::to_string(space.available / (1024 * 1024)) + " MiB free",
            {{"path", path.string()}, {"freeBytes", space.available}});
    } else {
      clear(key);
    }
  }

  // Store write errors: raised on a failed commit, cleared once commits succeed again.
  if (o.store_errors) {
    const auto errors = store_->write_errors();
    if (errors > seen_write_errors_) {
      seen_write_errors_ = errors;
      commits_at_store_alert_ = store_->commits();
      raise("store_errors", "store_errors",
            "the job store failed to commit (" + std::to_string(errors) + " failures so far)",
            {{"writeErrors", errors}});
    } else if (store_->commits() > commits_at_store_alert_) {
      clear("store_errors");
    }
  }

  // Saturation: every regular worker busy for too long.
  if (o.saturation.count() > 0 && saturated_since_ && now - *saturated_since_ > o.saturation) {
    raise("saturation", "saturation",
          "all " + std::to_string(opts_.workers) + " workers have been busy for " +
              std::to_string(std::chrono::duration_cast<std::chrono::minutes>(now - *saturated_since_).count()) +
              " min");
  } else if (!saturated_since_ || now - *saturated_since_ <= o.saturation) {
    clear("saturation");
  }
}

void Engine::Impl::schedule_checks() {
  add_timer(clock_->now() + opts_.alerts.check_interval, [this] {
    check_alerts();
    schedule_checks();
  });
}

void Engine::Impl::schedule_pruning() {
  add_timer(clock_->now() + opts_.retention.interval, [this] {
    const auto& r = opts_.retention;
    std::optional<TimePoint> cutoff;
    if (r.max_age.count() > 0) cutoff = clock_->now() - r.max_age;
    auto log = log_;
    store_->prune_async(cutoff, r.max_rows, [log](std::optional<std::int64_t> removed) {
      if (!removed) {
        log->error("pruning finished jobs failed");
      } else if (*removed > 0) {
        log->info("pruned {} finished jobs", *removed);
      }
    });
    schedule_pruning();
  });
}

HealthSnapshot Engine::Impl::health_snapshot() {
  HealthSnapshot h;
  const TimePoint now = clock_->now();
  h.at = now;
  h.running = running_total_;
  std::map<std::string, int> running;
  for (const auto& [id, a] : active_)
    if (a.run) ++running[a.info.name];
  // Every registered type appears, run or not.
  for (const auto& name : registry_.names()) stats_.try_emplace(name);
  for (auto& [name, s] : stats_) {
    TypeHealth t;
    t.name = name;
    t.last_start = s.last_start;
    t.last_finish = s.last_finish;
    t.last_status = s.last_status;
    t.completed = s.completed;
    t.failed = s.failed;
    t.cancelled = s.cancelled;
    while (!s.recent.empty() && now - s.recent.front().first > opts_.health_window) s.recent.pop_front();
    for (const auto& [when, status] : s.recent) {
      if (status == JobStatus::completed) ++t.recent_completed;
      if (status == JobStatus::failed) ++t.recent_failed;
    }
    const auto runs = t.recent_completed + t.recent_failed;
    t.recent_failure_rate = runs ? static_cast<double>(t.recent_failed) / static_cast<double>(runs) : 0.0;
    if (!s.durations.empty()) {
      std::vector<std::int64_t> d(s.durations.begin(), s.durations.end());
      std::int64_t sum = 0;
      for (auto x : d) sum += x;
      t.avg_duration = std::chrono::milliseconds(sum / static_cast<std::int64_t>(d.size()));
      std::sort(d.begin(), d.end());
      const auto rank = static_cast<std::size_t>(0.95 * static_cast<double>(d.size() - 1) + 0.5);
      t.p95_duration = std::chrono::milliseconds(d[std::min(rank, d.size() - 1)]);
    }
    t.running = running[name];
    h.types.push_back(std::move(t));
  }
  for (int p = kPriorityCount - 1; p >= 0; --p) {
    PriorityHealth ph;
    ph.priority = static_cast<Priority>(p);
    ph.queued = depth_.queued[p];
    ph.delayed = depth_.delayed[p];
    ph.running = depth_.running[p];
    for (const auto& [head, type] : heads_[static_cast<std::size_t>(p)]) {
      const auto age =
          std::chrono::duration_cast<std::chrono::milliseconds>(now - active_.at(head).ready_since);
      if (!ph.oldest_queued_age || age > *ph.oldest_queued_age) ph.oldest_queued_age = age;
    }
    h.priorities.push_back(ph);
  }
  for (const auto& [key, a] : alerts_) h.alerts.push_back(a);
  std::sort(h.alerts.begin(), h.alerts.end(),
            [](const Alert& x, const Alert& y) { return x.raised_at < y.raised_at; });
  return h;
}

}  // namespace shelfjobs

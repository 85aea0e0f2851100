// SPDX-License-Identifier: MIT
// Keys identify conditions ("job_failed:RssSync", "long_running:42"), so a condition that holds
// across many checks raises one alert, and clearing is by key.

#include "engine/alerts.hpp"

#include <algorithm>
#include <filesystem>

#include <spdlog/spdlog.h>

namespace shelfjobs::detail {

Alerts::Alerts(AlertOptions options, Sink sink, std::shared_ptr<spdlog::logger> log)
    : opts_(std::move(options)), sink_(std::move(sink)), log_(std::move(log)) {}

void Alerts::raise(const std::string& rule, const std::string& key, std::string message, TimePoint now,
                   nlohmann::json details) {
  if (alerts_.count(key)) return;  // raised once per condition
  Alert a{rule, key, std::move(message), now, std::move(details)};
  log_->warn("alert raised: {}", a.message);
  if (sink_) sink_(AlertChanged{true, a, now});
  alerts_.emplace(key, std::move(a));
}

void Alerts::clear(const std::string& key, TimePoint now) {
  auto it = alerts_.find(key);
  if (it == alerts_.end()) return;
  Alert a = std::move(it->second);
  alerts_.erase(it);
  log_->info("alert cleared: {}", a.message);
  if (sink_) sink_(AlertChanged{false, std::move(a), now});
}

void Alerts::job_finished(const JobInfo& job, TimePoint now) {
  if (job.status == JobStatus::failed && opts_.job_failed) {
    raise("job_failed", "job_failed:" + job.name, job.name + " failed: " + job.error, now,
          {{"jobId", job.id}, {"errorKind", to_string(job.error_kind)}, {"attempt", job.attempt}});
  }
  // On the hot path of every job: build alert keys only when some alert is open.
  if (!alerts_.empty()) {
    clear("long_running:" + std::to_string(job.id), now);
    if (job.status == JobStatus::completed) clear("job_failed:" + job.name, now);
  }
}

void Alerts::check(const AlertInputs& in) {
  const auto& o = opts_;
  const TimePoint now = in.now;

  for (const auto& r : in.running) {
    const auto ran = std::chrono::duration_cast<std::chrono::milliseconds>(now - r.started_at);
    std::optional<std::chrono::milliseconds> limit;
    if (o.long_running.count() > 0) limit = o.long_running;
    if (o.long_running_factor > 0 && r.average) {
      const auto by_avg = std::chrono::milliseconds(
          static_cast<std::int64_t>(o.long_running_factor * static_cast<double>(r.average->count())));
      if (by_avg.count() > 0 && (!limit || by_avg < *limit)) limit = by_avg;
    }
    if (limit && ran > *limit) {
      raise("long_running", "long_running:" + std::to_string(r.id),
            r.name + " (job " + std::to_string(r.id) + ") has run for " + std::to_string(ran.count() / 1000) +
                " s",
            now, {{"jobId", r.id}, {"runningMs", ran.count()}, {"limitMs", limit->count()}});
    }
  }

  const bool deep = o.backlog_depth > 0 && in.queued > o.backlog_depth;
  const bool old = o.backlog_age.count() > 0 && in.oldest_ready_age && *in.oldest_ready_age > o.backlog_age;
  if (deep || old) {
    const auto age = in.oldest_ready_age ? in.oldest_ready_age->count() : 0;
    raise("backlog", "backlog",
          std::to_string(in.queued) + " jobs queued; the oldest has waited " + std::to_string(age / 1000) +
              " s",
          now, {{"depth", in.queued}, {"oldestQueuedAgeMs", age}});
  } else {
    clear("backlog", now);
  }

  for (const auto& [label, path] : o.disk_paths) {
    std::error_code ec;
    const auto space = std::filesystem::space(path, ec);
    const std::string key = "disk_space:" + label;
    if (ec) {
      raise("disk_space", key, label + " (" + path.string() + "): cannot read free space: " + ec.message(),
            now);
    } else if (space.available < o.min_free_bytes) {
      raise("disk_space", key,
            label + " (" + path.string() + ") has " + std::to_string(space.available / (1024 * 1024)) +
                " MiB free",
            now, {{"path", path.string()}, {"freeBytes", space.available}});
    } else {
      clear(key, now);
    }
  }

  // Store write errors: raised on a failed commit, cleared once commits succeed again. The
  // store says whether its latest attempt failed; counting commits since the alert instead would
  // keep the alert forever when the healing commits landed before the check that raised it.
  if (o.store_errors) {
    if (in.store_write_errors > seen_write_errors_) {
      seen_write_errors_ = in.store_write_errors;
      raise("store_errors", "store_errors",
            "the job store failed to commit (" + std::to_string(in.store_write_errors) + " failures so far)",
            now, {{"writeErrors", in.store_write_errors}});
    } else if (!in.store_failing) {
      clear("store_errors", now);
    }
  }

  if (o.saturation.count() > 0 && in.saturated_since && now - *in.saturated_since > o.saturation) {
    raise("saturation", "saturation",
          "all " + std::to_string(in.workers) + " workers have been busy for " +
              std::to_string(
                  std::chrono::duration_cast<std::chrono::minutes>(now - *in.saturated_since).count()) +
              " min",
          now);
  } else if (!in.saturated_since || now - *in.saturated_since <= o.saturation) {
    clear("saturation", now);
  }
}

std::vector<Alert> Alerts::open() const {
  std::vector<Alert> out;
  out.reserve(alerts_.size());
  for (const auto& [key, a] : alerts_) out.push_back(a);
  std::sort(out.begin(), out.end(), [](const Alert& x, const Alert& y) { return x.raised_at < y.raised_at; });
  return out;
}

}  // namespace shelfjobs::detail

// SPDX-License-Identifier: MIT
#include "metrics.hpp"

#include <httplib.h>
#include "api.hpp"
#include "app.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace shelfd {

using namespace shelfjobs;

namespace {

double seconds(std::chrono::milliseconds d) { return static_cast<double>(d.count()) / 1e3; }
double seconds(std::chrono::microseconds d) { return static_cast<double>(d.count()) / 1e6; }

// The histogram's bucket bounds in seconds: the engine's duration bins, one `le` per bin bound.
// A bin holds the runs *shorter* than its bound, in whole milliseconds truncated from the clock
// (a run of 4.7 ms counts as 4 ms), so "under N ms" is "at most N ms" for every run but one that
// lasts exactly N.000 ms: the bins are Prometheus' `le` buckets. The engine's last bin (1 h and
// longer) is `+Inf`, which prometheus-cpp adds itself.
const prometheus::Histogram::BucketBoundaries& duration_bounds() {
  static const prometheus::Histogram::BucketBoundaries bounds = [] {
    prometheus::Histogram::BucketBoundaries b;
    for (auto ms : kDurationBinBoundsMs) b.push_back(static_cast<double>(ms) / 1e3);
    return b;
  }();
  return bounds;
}

// The sum of the runs' durations in seconds. The snapshot has no exact sum for the runs in the
// bins (those of EngineOptions::health_window): it has `avg_duration` in whole milliseconds, over
// the type's last 100 completed or failed runs (after a restart, over the window's runs). The sum
// is that average times the bins' count, kept within what the bins allow (each run at least its
// bin's lower bound, at most 1 ms under its upper bound) for when the two sets of runs differ.
double approximate_sum(const TypeHealth& t, std::int64_t runs) {
  double low = 0, high = 0;
  for (std::size_t i = 0; i < kDurationBins; ++i) {
    const auto n = static_cast<double>(t.durations[i]);
    low += n * (i == 0 ? 0.0 : static_cast<double>(kDurationBinBoundsMs[i - 1]));
    high += i < kDurationBinBoundsMs.size()
                ? n * static_cast<double>(kDurationBinBoundsMs[i] - 1)
                : (t.durations[i] > 0 ? std::numeric_limits<double>::infinity() : 0.0);
  }
  const double ms = static_cast<double>(t.avg_duration.count()) * static_cast<double>(runs);
  return std::clamp(ms, low, high) / 1e3;
}

}  // namespace

// A fresh registry per scrape, filled from one health snapshot and serialized by prometheus-cpp's
// TextSerializer. The snapshot already holds every figure in full (all-time counts, the window's
// duration bins), so setting each metric from it is the whole job: no state between scrapes, no
// lock shared by the server's request threads. Per-scrape deltas into one long-lived registry
// would not be simpler and could not be right: the duration bins cover a sliding window, so their
// counts drop when old minutes leave it, and a prometheus-cpp counter or histogram cannot go down.
// Counters are set with one Increment from 0, histograms with one ObserveMultiple of the bins.
std::string metrics_text(const HealthSnapshot& h) {
  prometheus::Registry registry;

  auto& jobs = prometheus::BuildCounter()
                   .Name("shelfjobs_jobs_total")
                   .Help("Jobs that ended, by command type and status.")
                   .Register(registry);
  auto& running = prometheus::BuildGauge()
                      .Name("shelfjobs_jobs_running")
                      .Help("Jobs running now, by command type.")
                      .Register(registry);
  // Named shelfjobs_job_duration_seconds before the histogram took that name (a metric name has
  // one type in Prometheus); same labels as before.
  auto& recent = prometheus::BuildGauge()
                     .Name("shelfjobs_job_duration_recent_seconds")
                     .Help("Average and 95th percentile run time of recent jobs, by command type.")
                     .Register(registry);
  auto& durations = prometheus::BuildHistogram()
                        .Name("shelfjobs_job_duration_seconds")
                        .Help(
                            "Run time of the completed and failed jobs within the health window, "
                            "by command type.")
                        .Register(registry);
  for (const auto& t : h.types) {
    auto ended = [&](const char* status, std::int64_t n) {
      jobs.Add({{"type", t.name}, {"status", status}}).Increment(static_cast<double>(n));
    };
    ended("completed", t.completed);
    ended("failed", t.failed);
    ended("cancelled", t.cancelled);
    running.Add({{"type", t.name}}).Set(t.running);
    recent.Add({{"type", t.name}, {"stat", "avg"}}).Set(seconds(t.avg_duration));
    recent.Add({{"type", t.name}, {"stat", "p95"}}).Set(seconds(t.p95_duration));

    std::vector<double> bins(t.durations.begin(), t.durations.end());
    std::int64_t runs = 0;
    for (auto n : t.durations) runs += n;
    durations.Add({{"command", t.name}}, duration_bounds()).ObserveMultiple(bins, approximate_sum(t, runs));
  }

  auto& depth = prometheus::BuildGauge()
                    .Name("shelfjobs_queue_depth")
                    .Help("Jobs waiting, by priority and state.")
                    .Register(registry);
  auto& oldest = prometheus::BuildGauge()
                     .Name("shelfjobs_queue_oldest_age_seconds")
                     .Help("Wait of the oldest ready job, by priority.")
                     .Register(registry);
  for (const auto& p : h.priorities) {
    const std::string pr(to_string(p.priority));
    depth.Add({{"priority", pr}, {"state", "queued"}}).Set(static_cast<double>(p.queued));
    depth.Add({{"priority", pr}, {"state", "delayed"}}).Set(static_cast<double>(p.delayed));
    depth.Add({{"priority", pr}, {"state", "running"}}).Set(static_cast<double>(p.running));
    oldest.Add({{"priority", pr}}).Set(p.oldest_queued_age ? seconds(*p.oldest_queued_age) : 0.0);
  }

  prometheus::BuildGauge()
      .Name("shelfjobs_alerts_open")
      .Help("Alerts open now.")
      .Register(registry)
      .Add({})
      .Set(static_cast<double>(h.alerts.size()));
  auto& latency = prometheus::BuildGauge()
                      .Name("shelfjobs_store_commit_latency_seconds")
                      .Help("Group commit latency of the job store.")
                      .Register(registry);
  latency.Add({{"stat", "last"}}).Set(seconds(h.store.last_commit_latency));
  latency.Add({{"stat", "max"}}).Set(seconds(h.store.max_commit_latency));
  prometheus::BuildCounter()
      .Name("shelfjobs_store_commits_total")
      .Help("Group commits of the job store.")
      .Register(registry)
      .Add({})
      .Increment(static_cast<double>(h.store.commits));
  prometheus::BuildCounter()
      .Name("shelfjobs_store_write_errors_total")
      .Help("Failed commits of the job store.")
      .Register(registry)
      .Add({})
      .Increment(static_cast<double>(h.store.write_errors));
  auto& bytes = prometheus::BuildGauge()
                    .Name("shelfjobs_store_bytes")
                    .Help("Size of the job store's files.")
                    .Register(registry);
  bytes.Add({{"file", "db"}}).Set(static_cast<double>(h.store.file_bytes));
  bytes.Add({{"file", "wal"}}).Set(static_cast<double>(h.store.wal_bytes));
  prometheus::BuildCounter()
      .Name("shelfjobs_events_dropped_total")
      .Help("Host events dropped because a subscriber fell behind.")
      .Register(registry)
      .Add({})
      .Increment(static_cast<double>(h.events_dropped));

  return prometheus::TextSerializer().Serialize(registry.Collect());
}

// The Prometheus route (behind the API key like /api/).
void ApiServer::metrics_routes() {
  auto& s = *server_;
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(app_.engine().health()), "text/plain; version=0.0.4");
  });
}

}  // namespace shelfd

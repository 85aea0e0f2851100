// SPDX-License-Identifier: MIT
#include "metrics.hpp"

#include <sstream>

namespace shelfd {

using namespace shelfjobs;

std::string metrics_text(const HealthSnapshot& h) {
  std::ostringstream m;
  auto label = [](const std::string& v) {
    std::string out;
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out;
  };
  m << "# HELP shelfjobs_jobs_total Jobs that ended, by command type and status.\n"
       "# TYPE shelfjobs_jobs_total counter\n";
  for (const auto& t : h.types) {
    m << "shelfjobs_jobs_total{type=\"" << label(t.name) << "\",status=\"completed\"} " << t.completed << "\n";
    m << "shelfjobs_jobs_total{type=\"" << label(t.name) << "\",status=\"failed\"} " << t.failed << "\n";
    m << "shelfjobs_jobs_total{type=\"" << label(t.name) << "\",status=\"cancelled\"} " << t.cancelled << "\n";
  }
  m << "# HELP shelfjobs_jobs_running Jobs running now, by command type.\n"
       "# TYPE shelfjobs_jobs_running gauge\n";
  for (const auto& t : h.types) m << "shelfjobs_jobs_running{type=\"" << label(t.name) << "\"} " << t.running << "\n";
  m << "# HELP shelfjobs_job_duration_seconds Run time of recent jobs, by command type.\n"
       "# TYPE shelfjobs_job_duration_seconds gauge\n";
  for (const auto& t : h.types) {
    m << "shelfjobs_job_duration_seconds{type=\"" << label(t.name) << "\",stat=\"avg\"} "
      << static_cast<double>(t.avg_duration.count()) / 1000.0 << "\n";
    m << "shelfjobs_job_duration_seconds{type=\"" << label(t.name) << "\",stat=\"p95\"} "
      << static_cast<double>(t.p95_duration.count()) / 1000.0 << "\n";
  }
  m << "# HELP shelfjobs_queue_depth Jobs waiting, by priority and state.\n"
       "# TYPE shelfjobs_queue_depth gauge\n";
  for (const auto& p : h.priorities) {
    const std::string pr(to_string(p.priority));
    m << "shelfjobs_queue_depth{priority=\"" << pr << "\",state=\"queued\"} " << p.queued << "\n";
    m << "shelfjobs_queue_depth{priority=\"" << pr << "\",state=\"delayed\"} " << p.delayed << "\n";
    m << "shelfjobs_queue_depth{priority=\"" << pr << "\",state=\"running\"} " << p.running << "\n";
  }
  m << "# HELP shelfjobs_queue_oldest_age_seconds Wait of the oldest ready job, by priority.\n"
       "# TYPE shelfjobs_queue_oldest_age_seconds gauge\n";
  for (const auto& p : h.priorities) {
    m << "shelfjobs_queue_oldest_age_seconds{priority=\"" << to_string(p.priority) << "\"} "
      << (p.oldest_queued_age ? static_cast<double>(p.oldest_queued_age->count()) / 1000.0 : 0.0) << "\n";
  }
  m << "# HELP shelfjobs_alerts_open Alerts open now.\n# TYPE shelfjobs_alerts_open gauge\n"
    << "shelfjobs_alerts_open " << h.alerts.size() << "\n";
  m << "# HELP shelfjobs_store_commit_latency_seconds Group commit latency of the job store.\n"
       "# TYPE shelfjobs_store_commit_latency_seconds gauge\n"
    << "shelfjobs_store_commit_latency_seconds{stat=\"last\"} "
    << static_cast<double>(h.store.last_commit_latency.count()) / 1e6 << "\n"
    << "shelfjobs_store_commit_latency_seconds{stat=\"max\"} "
    << static_cast<double>(h.store.max_commit_latency.count()) / 1e6 << "\n";
  m << "# HELP shelfjobs_store_commits_total Group commits of the job store.\n"
       "# TYPE shelfjobs_store_commits_total counter\n"
    << "shelfjobs_store_commits_total " << h.store.commits << "\n";
  m << "# HELP shelfjobs_store_write_errors_total Failed commits of the job store.\n"
       "# TYPE shelfjobs_store_write_errors_total counter\n"
    << "shelfjobs_store_write_errors_total " << h.store.write_errors << "\n";
  m << "# HELP shelfjobs_store_bytes Size of the job store's files.\n# TYPE shelfjobs_store_bytes gauge\n"
    << "shelfjobs_store_bytes{file=\"db\"} " << h.store.file_bytes << "\n"
    << "shelfjobs_store_bytes{file=\"wal\"} " << h.store.wal_bytes << "\n";
  m << "# HELP shelfjobs_events_dropped_total Host events dropped because a subscriber fell behind.\n"
       "# TYPE shelfjobs_events_dropped_total counter\n"
    << "shelfjobs_events_dropped_total " << h.events_dropped << "\n";
  return m.str();
}

}  // namespace shelfd

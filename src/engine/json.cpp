// SPDX-License-Identifier: MIT
// The JSON forms of the engine's public values (jobs' are in common.cpp).

#include <variant>

#include "shelfjobs/engine/engine.hpp"
#include "shelfjobs/engine/host_events.hpp"

namespace shelfjobs {

std::string_view to_string(JobEvent::Type t) noexcept {
  switch (t) {
    case JobEvent::Type::queued: return "queued";
    case JobEvent::Type::started: return "started";
    case JobEvent::Type::progress: return "progress";
    case JobEvent::Type::completed: return "completed";
    case JobEvent::Type::failed: return "failed";
    case JobEvent::Type::cancelled: return "cancelled";
    case JobEvent::Type::retrying: return "retrying";
  }
  return "unknown";
}

JobInfo JobDelta::info() const {
  JobInfo j;
  j.id = id;
  j.name = name;
  j.body = body ? *body : nlohmann::json::object();
  j.priority = priority;
  j.trigger = trigger;
  j.status = status;
  j.queued_at = queued_at;
  j.started_at = started_at;
  j.ended_at = ended_at;
  j.duration = duration;
  j.attempt = attempt;
  j.progress = progress;
  j.message = message;
  j.error_kind = error_kind;
  j.error = error;
  j.not_before = not_before;
  j.max_attempts = max_attempts;
  j.task = task;
  return j;
}

namespace {
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
    types.push_back(
        {{"name", t.name},
         {"lastStart", opt_time(t.last_start)},
         {"lastFinish", opt_time(t.last_finish)},
         {"lastStatus", t.last_status ? nlohmann::json(to_string(*t.last_status)) : nlohmann::json(nullptr)},
         {"completed", t.completed},
         {"failed", t.failed},
         {"cancelled", t.cancelled},
         {"recentCompleted", t.recent_completed},
         {"recentFailed", t.recent_failed},
         {"recentFailureRate", t.recent_failure_rate},
         {"avgDurationMs", t.avg_duration.count()},
         {"p95DurationMs", t.p95_duration.count()},
         {"running", t.running},
         {"durations", t.durations}});
  }
  nlohmann::json priorities = nlohmann::json::array();
  for (const auto& p : h.priorities) {
    priorities.push_back(
        {{"priority", to_string(p.priority)},
         {"queued", p.queued},
         {"delayed", p.delayed},
         {"running", p.running},
         {"oldestQueuedAgeMs",
          p.oldest_queued_age ? nlohmann::json(p.oldest_queued_age->count()) : nlohmann::json(nullptr)}});
  }
  nlohmann::json minutes = nlohmann::json::array();
  for (const auto& m : h.minutes) minutes.push_back(to_json(m));
  nlohmann::json alerts = nlohmann::json::array();
  for (const auto& a : h.alerts) alerts.push_back(to_json(a));
  nlohmann::json cluster = nullptr;
  if (h.cluster) {
    nlohmann::json nodes = nlohmann::json::array();
    for (const auto& n : h.cluster->nodes) {
      nodes.push_back({{"id", n.id},
                       {"name", n.name},
                       {"startedAt", format_time(n.started_at)},
                       {"heartbeatAt", format_time(n.heartbeat_at)},
                       {"leaseUntil", format_time(n.lease_until)},
                       {"running", n.running},
                       {"claimed", n.claimed},
                       {"self", n.self}});
    }
    cluster = {{"nodes", nodes},
               {"queued", h.cluster->queued},
               {"claimed", h.cluster->claimed},
               {"running", h.cluster->running}};
  }
  return {{"at", format_time(h.at)},
          {"cluster", cluster},
          {"workers", h.workers},
          {"shortJobLanes", h.short_job_lanes},
          {"spreadAfterUs", h.spread_after.count()},
          {"running", h.running},
          {"lockHolds", {{"waiting", h.lock_holds_waiting}, {"held", h.lock_holds_held}}},
          {"types", types},
          {"priorities", priorities},
          {"store",
           {{"commits", h.store.commits},
            {"writeErrors", h.store.write_errors},
            {"failing", h.store.failing},
            {"lastCommitLatencyUs", h.store.last_commit_latency.count()},
            {"maxCommitLatencyUs", h.store.max_commit_latency.count()},
            {"fileBytes", h.store.file_bytes},
            {"walBytes", h.store.wal_bytes}}},
          {"alerts", alerts},
          {"eventsDropped", h.events_dropped},
          {"durationBinBoundsMs", kDurationBinBoundsMs},
          {"minutes", minutes}};
}

nlohmann::json to_json(const TaskInfo& t) {
  return {
      {"name", t.name},
      {"command", t.command},
      {"intervalSeconds", t.interval.count()},
      {"timeOfDay", t.time_of_day ? nlohmann::json(t.time_of_day->count()) : nlohmann::json(nullptr)},
      {"lastStart", opt_time(t.last_start)},
      {"lastFinish", opt_time(t.last_finish)},
      {"lastStatus", t.last_status ? nlohmann::json(to_string(*t.last_status)) : nlohmann::json(nullptr)},
      {"lastMessage", t.last_message},
      {"lastDurationMs",
       t.last_duration ? nlohmann::json(t.last_duration->count()) : nlohmann::json(nullptr)},
      {"nextDue", opt_time(t.next_due)},
      {"running", t.running},
      {"lastJob", t.last_job ? nlohmann::json(*t.last_job) : nlohmann::json(nullptr)},
  };
}

nlohmann::json to_json(const MinuteHealth& m) {
  return {{"minute", format_time(m.minute)},
          {"completed", m.completed},
          {"failed", m.failed},
          {"cancelled", m.cancelled},
          {"queued", m.queued},
          {"delayed", m.delayed},
          {"running", m.running}};
}

nlohmann::json to_json(const HostEvent& e) {
  struct Visit {
    nlohmann::json operator()(const JobEvent& ev) const {
      const auto& j = ev.job;
      nlohmann::json out = {
          {"type", "job"},
          {"change", to_string(ev.type)},
          {"id", j.id},
          {"name", j.name},
          {"status", to_string(j.status)},
          {"priority", to_string(j.priority)},
          {"trigger", to_string(j.trigger)},
          {"attempt", j.attempt},
          {"maxAttempts", j.max_attempts},
          {"progress",
           {{"current", j.progress.current}, {"total", j.progress.total}, {"message", j.progress.message}}},
          {"message", j.message},
          {"errorKind", to_string(j.error_kind)},
          {"error", j.error},
          {"task", j.task},
          {"queued", format_time(j.queued_at)},
          {"started", opt_time(j.started_at)},
          {"ended", opt_time(j.ended_at)},
          {"durationMs", j.duration.count()},
          {"notBefore", opt_time(j.not_before)},
      };
      return out;
    }
    nlohmann::json operator()(const TaskChanged& t) const {
      return {{"type", "task"}, {"task", to_json(t.task)}};
    }
    nlohmann::json operator()(const AlertChanged& a) const {
      return {{"type", "alert"}, {"raised", a.raised}, {"alert", to_json(a.alert)}};
    }
    nlohmann::json operator()(const ServiceEvent& d) const {
      return {{"type", "domain"}, {"name", d.name}, {"data", d.data}, {"at", format_time(d.at)}};
    }
    nlohmann::json operator()(const MinuteClosed& m) const {
      return {{"type", "minute"}, {"minute", to_json(m.minute)}};
    }
  };
  return std::visit(Visit{}, e);
}

}  // namespace shelfjobs

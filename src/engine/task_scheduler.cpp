// SPDX-License-Identifier: MIT
// Moved out of the dispatcher so that the schedule rules sit next to each other and the
// dispatcher only wires timers and pushes. The persisted row is the source of truth across
// restarts; `Task::gen` lets a replaced timer find itself stale.

#include "engine/task_scheduler.hpp"
#include "engine/text.hpp"

#include <algorithm>
#include <cctype>

#include <spdlog/spdlog.h>

namespace shelfjobs::detail {

namespace {

void schedule_to_row(const Schedule& s, TaskRow& row) {
  row.interval_s = s.interval.count();
  row.time_of_day_min = s.time_of_day ? std::optional<std::int64_t>(s.time_of_day->count()) : std::nullopt;
  row.time_zone = s.time_zone;
  row.jitter_s = s.jitter.count();
}

bool same_schedule(const Schedule& s, const TaskRow& row) {
  TaskRow probe;
  schedule_to_row(s, probe);
  return probe.interval_s == row.interval_s && probe.time_of_day_min == row.time_of_day_min &&
         probe.time_zone == row.time_zone && probe.jitter_s == row.jitter_s;
}

bool range_set(const IntervalRange& r) { return r.max.count() > 0; }

}  // namespace

TaskScheduler::TaskScheduler(Hooks hooks, std::vector<TaskRow> stored) : hooks_(std::move(hooks)) {
  for (auto& row : stored) {
    std::string name = row.name;
    stored_.emplace(std::move(name), std::move(row));
  }
}

std::uint64_t TaskScheduler::seed_of(const std::string& name) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

TaskScheduler::Task* TaskScheduler::task(std::string_view name) {
  auto it = tasks_.find(name);
  return it == tasks_.end() ? nullptr : &it->second;
}

void TaskScheduler::save(const Task& t) {
  hooks_.save(t.row);
  if (hooks_.changed) hooks_.changed(info(t));
}

void TaskScheduler::arm(Task& t) {
  ++t.gen;
  if (!t.row.next_due) return;
  hooks_.add_timer(*t.row.next_due, [this, name = t.spec.name, gen = t.gen] { on_due(name, gen); });
}

Status TaskScheduler::reschedule(Task& t, TimePoint now) {
  if (t.spec.schedule.interval.count() == 0) {
    t.row.next_due.reset();
    return Ok{};
  }
  auto due = t.row.last_start ? next_due(t.spec.schedule, *t.row.last_start, now, t.seed)
                              : first_due(t.spec.schedule, now, t.seed);
  if (!due) return due.error();
  t.row.next_due = *due;
  return Ok{};
}

Status TaskScheduler::add(TaskSpec spec, TimePoint now) {
  Task t;
  t.seed = seed_of(spec.name);
  if (auto stored = stored_.find(spec.name); stored != stored_.end()) {
    t.row = stored->second;
  } else if (Task* existing = task(spec.name)) {
    t.row = existing->row;
    t.running = existing->running;
  }
  const bool changed = !same_schedule(spec.schedule, t.row) || !t.row.next_due;
  t.row.name = spec.name;
  t.row.command = spec.command;
  t.row.body = spec.body.dump();
  schedule_to_row(spec.schedule, t.row);
  t.spec = std::move(spec);
  if (changed) {
    auto ok = reschedule(t, now);
    if (!ok) return ok;
  }
  if (auto stored = stored_.find(t.spec.name); stored != stored_.end()) stored_.erase(stored);
  auto& slot = tasks_[t.spec.name];
  const std::uint64_t gen = slot.gen;
  slot = std::move(t);
  slot.gen = gen;
  save(slot);
  arm(slot);
  return Ok{};
}

Status TaskScheduler::set_interval(std::string_view name, std::chrono::seconds interval, TimePoint now) {
  Task* found = task(name);
  if (!found) return Error{errc::not_found, "no task named " + std::string(name)};
  Task& t = *found;
  if (range_set(t.spec.range)) {
    auto valid = validate_interval(t.spec.name, interval, t.spec.range);
    if (!valid) return valid;
  } else if (interval.count() < 0) {
    return Error{errc::invalid_argument, t.spec.name + ": interval must not be negative"};
  }
  Schedule s = t.spec.schedule;
  s.interval = interval;
  Task probe = t;
  probe.spec.schedule = s;
  auto ok = reschedule(probe, now);
  if (!ok) return ok;
  t.spec.schedule = s;
  schedule_to_row(s, t.row);
  t.row.next_due = probe.row.next_due;
  save(t);
  arm(t);
  return Ok{};
}

Result<PushResult> TaskScheduler::push(Task& t, Trigger trigger, std::optional<TimePoint> tick) {
  auto pushed = hooks_.push(t.spec, trigger, tick);
  if (pushed) t.row.last_job = pushed->job.id;
  return pushed;
}

Result<PushResult> TaskScheduler::run_now(std::string_view name, TimePoint now) {
  Task* found = task(name);
  if (!found) return Error{errc::not_found, "no task named " + std::string(name)};
  Task& t = *found;
  auto pushed = push(t, Trigger::manual);
  if (!pushed) return pushed;
  // A manual run counts as the task's run: the schedule starts again from now.
  if (t.spec.schedule.interval.count() > 0) {
    auto next = next_due(t.spec.schedule, now, now, t.seed);
    if (next) t.row.next_due = *next;
  }
  save(t);
  arm(t);
  return pushed;
}

void TaskScheduler::on_due(const std::string& name, std::uint64_t gen) {
  Task* found = task(name);
  if (!found || found->gen != gen || !found->row.next_due) return;
  Task& t = *found;
  const TimePoint due = *t.row.next_due;
  const TimePoint now = hooks_.now();
  if (auto pushed = push(t, Trigger::scheduled, due); !pushed) {
    hooks_.log->error("task {}: cannot push {}: {}", name, t.spec.command, pushed.error().message);
  }
  // The next slot follows the schedule from this due time, not from when the run ends, and
  // skips slots missed during a downtime: an overdue task runs once.
  auto next = next_due(t.spec.schedule, due, now, t.seed);
  if (next) {
    t.row.next_due = *next;
  } else {
    hooks_.log->error("task {}: {}; it is disabled until its schedule is fixed", name, next.error().message);
    t.row.next_due.reset();
  }
  save(t);
  arm(t);
}

// A clock that ran ahead (a wrong RTC, a VM restored from a snapshot) leaves last starts in
// the future and next due times too far ahead; set back, the task would wait for the clock to
// catch up. Times are compared as times: no unit is guessed (Readarr's clamp compared seconds
// with minutes and moved tasks by the wrong amount).
std::vector<std::string> TaskScheduler::clamp_future(TimePoint now) {
  std::vector<std::string> changed;
  for (auto& [name, t] : tasks_) {
    bool dirty = false;
    auto clamp = [&](std::optional<TimePoint>& at) {
      if (at && *at > now) {
        at = now;
        dirty = true;
      }
    };
    clamp(t.row.last_start);
    clamp(t.row.last_finish);
    bool rearm = false;
    const auto& s = t.spec.schedule;
    if (t.row.next_due && s.interval.count() > 0) {
      // The latest a correct due time can be: one period (a pinned daily task: a day) from
      // now, plus the grid step a jittered slot may round up to (at most another period), plus
      // the jitter. Anything later was computed by a clock that ran ahead.
      const std::chrono::seconds period = std::max<std::chrono::seconds>(
          s.interval, s.time_of_day ? std::chrono::hours(24) : std::chrono::seconds(0));
      const auto reach = 2 * period + s.jitter;
      if (*t.row.next_due > now + reach) {
        auto due = next_due(s, now, now, t.seed);
        if (due) {
          t.row.next_due = *due;
          dirty = rearm = true;
        }
      }
    }
    if (!dirty) continue;
    save(t);
    if (rearm) arm(t);
    changed.push_back(name);
  }
  return changed;
}

void TaskScheduler::on_started(const JobInfo& job) {
  Task* t = task(job.task);
  if (!t) return;
  t->running = true;
  t->row.last_start = job.started_at;
  t->row.last_job = job.id;
  save(*t);
}

void TaskScheduler::on_requeued(const JobInfo& job) {
  Task* t = task(job.task);
  if (!t || !t->running) return;
  t->running = false;
  if (hooks_.changed) hooks_.changed(info(*t));
}

void TaskScheduler::on_finished(const JobInfo& job) {
  Task* t = task(job.task);
  if (!t) return;
  t->running = false;
  t->row.last_finish = job.ended_at;
  t->row.last_status = job.status;
  t->row.last_message = job.status == JobStatus::failed && !job.error.empty() ? job.error : job.message;
  t->row.last_duration_ms = job.duration.count();
  t->row.last_job = job.id;
  save(*t);
}

TaskInfo TaskScheduler::info(const Task& t) {
  TaskInfo i;
  i.name = t.spec.name;
  i.command = t.spec.command;
  i.interval = t.spec.schedule.interval;
  i.time_of_day = t.spec.schedule.time_of_day;
  i.last_start = t.row.last_start;
  i.last_finish = t.row.last_finish;
  i.last_status = t.row.last_status;
  i.last_message = t.row.last_message;
  if (t.row.last_duration_ms) i.last_duration = std::chrono::milliseconds(*t.row.last_duration_ms);
  i.next_due = t.row.next_due;
  i.running = t.running;
  i.last_job = t.row.last_job;
  return i;
}

std::vector<TaskInfo> TaskScheduler::list() const {
  std::vector<TaskInfo> out;
  out.reserve(tasks_.size());
  for (const auto& [name, t] : tasks_) out.push_back(info(t));
  return out;
}

std::optional<std::string> TaskScheduler::resolve(std::string_view name) const {
  if (tasks_.count(name) != 0) return std::string(name);
  for (const auto& [exact, t] : tasks_) {
    if (iequals(exact, name)) return exact;
  }
  return std::nullopt;
}

}  // namespace shelfjobs::detail

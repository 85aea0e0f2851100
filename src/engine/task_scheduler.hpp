// SPDX-License-Identifier: MIT
#pragma once
// The task scheduler: scheduled tasks, their persisted rows and due times. A task's due time
// follows its schedule from the previous due time, not from when a run ended (no drift), and a
// downtime that missed slots runs the task once. It pushes through, arms timers with, and saves
// rows through hooks the engine gives it, so it holds no Asio, store or queue of its own.
//
// Thread-safety: none. The engine uses it on its dispatcher strand only.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/fwd.h>

#include "shelfjobs/engine/engine.hpp"
#include "shelfjobs/engine/job_store.hpp"

namespace shelfjobs::detail {

class TaskScheduler {
 public:
  struct Hooks {
    /// Calls `fn` at `at` (on the strand).
    std::function<void(TimePoint at, std::function<void()> fn)> add_timer;
    /// Persists a task's row.
    std::function<void(const TaskRow&)> save;
    /// Pushes a run of the task; `tick` is the due time a scheduled run fires for (none for a
    /// manual run): engines sharing a queue keep one run per task and tick.
    std::function<Result<PushResult>(const TaskSpec&, Trigger, std::optional<TimePoint> tick)> push;
    /// A task's figures changed (next due, running, last result).
    std::function<void(const TaskInfo&)> changed;
    /// The engine's clock.
    std::function<TimePoint()> now;
    std::shared_ptr<spdlog::logger> log;
  };

  /// `stored`: rows an earlier process saved; a task added later takes its history from them.
  TaskScheduler(Hooks hooks, std::vector<TaskRow> stored);

  /// The seed of a task's jitter: stable across runs and builds.
  static std::uint64_t seed_of(const std::string& name);

  /// Adds or updates a task whose command and body are already validated. A stored task keeps
  /// its history and next due time unless its schedule changed. Errors: invalid_argument.
  Status add(TaskSpec spec, TimePoint now);
  /// Errors: not_found, invalid_argument (outside the task's range; the old value stays).
  Status set_interval(std::string_view name, std::chrono::seconds interval, TimePoint now);
  /// A manual run now; the schedule starts again from now. Errors: not_found, the push's.
  Result<PushResult> run_now(std::string_view name, TimePoint now);

  /// Clamps times in the future to `now` (see Engine::clamp_future_task_times); re-arms the
  /// tasks whose due time changed. Returns their names.
  std::vector<std::string> clamp_future(TimePoint now);

  /// A job of a task started, was queued again for a retry, or ended.
  void on_started(const JobInfo& job);
  void on_requeued(const JobInfo& job);
  void on_finished(const JobInfo& job);

  /// The exact name of the task called `name`, matched case-insensitively like command names.
  std::optional<std::string> resolve(std::string_view name) const;
  std::vector<TaskInfo> list() const;

 private:
  struct Task {
    TaskSpec spec;
    TaskRow row;
    std::uint64_t gen = 0;  // bumped when the due timer is replaced
    bool running = false;
    std::uint64_t seed = 0;
  };
  void arm(Task& t);
  void on_due(const std::string& name, std::uint64_t gen);
  Result<PushResult> push(Task& t, Trigger trigger, std::optional<TimePoint> tick = std::nullopt);
  void save(const Task& t);
  static Status reschedule(Task& t, TimePoint now);
  static TaskInfo info(const Task& t);
  Task* task(std::string_view name);

  Hooks hooks_;
  std::map<std::string, Task, std::less<>> tasks_;
  std::map<std::string, TaskRow, std::less<>> stored_;  // rows of tasks not added (yet)
};

}  // namespace shelfjobs::detail

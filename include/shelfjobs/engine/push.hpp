// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// How a job is pushed: the options of one push, a request for `push_many` and for event rules,
/// and the answer. Shared by `Engine` and by `JobContext`, where a running job pushes follow-ups.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "shelfjobs/engine/job.hpp"

namespace shelfjobs {

/// How one push is made.
struct PushOptions {
  Trigger trigger = Trigger::manual;
  /// Overrides the type's default priority.
  std::optional<Priority> priority;
  /// For Trigger::event: the event's name, recorded on the job.
  std::string event;
  /// True: return once the job's row is committed. False: return once it is queued in memory
  /// (the row follows in the next group commit).
  bool durable = true;
  /// The job does not start before this time.
  std::optional<TimePoint> not_before;
  /// The scheduled task this push runs (set by the scheduler and by run_task_now).
  std::string task;
};

/// One command for `push_many`.
struct PushRequest {
  std::string name;
  nlohmann::json body = nlohmann::json::object();
  PushOptions options;
};

/// The answer to a push.
struct PushResult {
  JobInfo job;
  /// True when an equal job was already queued or running and was returned instead.
  bool merged = false;
};

}  // namespace shelfjobs

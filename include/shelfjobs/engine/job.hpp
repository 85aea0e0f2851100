// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The vocabulary of jobs: ids, priorities, triggers, statuses, failure kinds and `JobInfo`, the
/// snapshot of one job that queries and observers hand out.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace shelfjobs {

/// A job's id: unique within one store, increasing in push order, never reused (pruning keeps
/// the highest id handed out).
using JobId = std::int64_t;

using TimePoint = std::chrono::system_clock::time_point;

/// Dispatch priority. Higher runs first; FIFO within a priority.
/// Critical jobs (imports, download handling) may also use the reserved Critical lane.
enum class Priority : int { low = 0, normal = 1, high = 2, critical = 3 };
inline constexpr int kPriorityCount = 4;

/// Why a job exists.
enum class Trigger : int { manual = 0, scheduled = 1, event = 2 };

/// Where a job is in its life. Completed, Failed and Cancelled are terminal.
enum class JobStatus : int { queued = 0, executing = 1, completed = 2, failed = 3, cancelled = 4 };

/// The kind of a failure; later layers choose retries by it.
enum class ErrorKind : int {
  none = 0,
  network,
  filesystem,
  database,
  rate_limited,
  permanent,
  timeout,
  cancelled,
};

/// Lower-case names used in logs and JSON ("low", "manual", "executing", "network"). The store
/// keeps the numeric values, which are stable.
std::string_view to_string(Priority p) noexcept;
std::string_view to_string(Trigger t) noexcept;
std::string_view to_string(JobStatus s) noexcept;
std::string_view to_string(ErrorKind k) noexcept;
/// Parse the names above (case-insensitive); nullopt when unknown.
std::optional<Priority> priority_from_string(std::string_view s) noexcept;
std::optional<Trigger> trigger_from_string(std::string_view s) noexcept;
std::optional<JobStatus> status_from_string(std::string_view s) noexcept;
std::optional<ErrorKind> error_kind_from_string(std::string_view s) noexcept;

inline bool is_terminal(JobStatus s) noexcept {
  return s == JobStatus::completed || s == JobStatus::failed || s == JobStatus::cancelled;
}

/// A job's progress as its handler last reported it.
struct Progress {
  std::int64_t current = 0;
  std::int64_t total = 0;
  std::string message;
};

/// A snapshot of one job. A plain value: copy it freely; it does not change after you get it.
struct JobInfo {
  JobId id = 0;
  std::string name;     ///< Registered command name, e.g. "RefreshAuthor".
  nlohmann::json body;  ///< Canonical JSON body of the command.
  Priority priority = Priority::normal;
  Trigger trigger = Trigger::manual;
  std::string event;  ///< For Trigger::event: the event that caused it.
  JobStatus status = JobStatus::queued;
  TimePoint queued_at{};
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> ended_at;
  std::chrono::milliseconds duration{0};  ///< Ended minus started, once ended.
  int attempt = 1;                        ///< 1 for the first run; +1 for each rescue or retry.
  Progress progress;
  /// Result message: for a failed job its error text; otherwise the completion message, else the
  /// last progress message, else "Cancelled" for a cancelled job.
  std::string message;
  ErrorKind error_kind = ErrorKind::none;
  std::string error;  ///< Error text of a failed job (or of the last failed attempt).
  /// A queued job does not start before this time (a delayed push or a retry).
  std::optional<TimePoint> not_before;
  /// Runs this job may take in all under its retry policy (1 + retries for the last failure's
  /// kind; 1 before any failure).
  int max_attempts = 1;
  /// The scheduled task that pushed it (or that a "run now" ran), else empty.
  std::string task;
};

/// `JobInfo` as JSON (times as ISO 8601 UTC strings, enums as their lower-case names).
nlohmann::json to_json(const JobInfo& job);

/// ISO 8601 UTC with milliseconds, e.g. "2026-11-28T09:25:45.123Z".
std::string format_time(TimePoint t);

}  // namespace shelfjobs

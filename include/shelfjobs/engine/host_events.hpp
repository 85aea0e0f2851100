// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// What a host hears from the engine: one event type (`HostEvent`) for every change, delivered
/// off the dispatcher strand through a bounded queue per subscriber (`Engine::subscribe`).
///
/// - `JobEvent`: a job changed. A slim delta (id, name, status, progress, message, attempt and a
///   few more fields); its body is shared, not copied; the full job is `Engine::get(id)`.
/// - `TaskChanged`: a scheduled task's next due time, running flag or last result changed.
/// - `AlertChanged`: an alert was raised or cleared.
/// - `ServiceEvent`: a service's event (AuthorAdded, AuthorRefreshed, BookFileAdded, ...) as JSON.
/// - `MinuteClosed`: the figures of a minute that just ended (jobs finished by status, queue
///   depth): what a dashboard draws its charts from.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "shelfjobs/engine/health.hpp"
#include "shelfjobs/engine/job.hpp"

namespace shelfjobs {

/// A job's state as a host sees it change.
struct JobDelta {
  JobId id = 0;
  std::string name;
  JobStatus status = JobStatus::queued;
  Priority priority = Priority::normal;
  Trigger trigger = Trigger::manual;
  int attempt = 1;
  int max_attempts = 1;
  Progress progress;
  std::string message;
  ErrorKind error_kind = ErrorKind::none;
  std::string error;
  std::string task;
  TimePoint queued_at{};
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> ended_at;
  std::chrono::milliseconds duration{0};
  std::optional<TimePoint> not_before;
  /// The canonical body, shared with the engine (never null; `{}` for an empty body).
  std::shared_ptr<const nlohmann::json> body;
  /// The job as a `JobInfo` (the body copied in).
  JobInfo info() const;
};

/// A job changed.
struct JobEvent {
  /// `retrying`: the job failed and is queued again for a later attempt (see
  /// JobDelta::not_before). `failed` is final.
  enum class Type { queued, started, progress, completed, failed, cancelled, retrying };
  Type type = Type::queued;
  JobDelta job;
};
std::string_view to_string(JobEvent::Type t) noexcept;

/// A task as `Engine::tasks()` reports it.
struct TaskInfo {
  std::string name;
  std::string command;
  std::chrono::seconds interval{0};
  std::optional<std::chrono::minutes> time_of_day;
  std::optional<TimePoint> last_start;
  std::optional<TimePoint> last_finish;
  std::optional<JobStatus> last_status;  ///< completed, failed or cancelled
  std::string last_message;
  std::optional<std::chrono::milliseconds> last_duration;
  std::optional<TimePoint> next_due;  ///< unset when disabled
  bool running = false;               ///< a job of this task is executing now (not while it
                                      ///< waits for a retry)
  std::optional<JobId> last_job;
};
nlohmann::json to_json(const TaskInfo& t);

/// A scheduled task changed.
struct TaskChanged {
  TaskInfo task;
};

/// An alert was raised (`raised`) or cleared.
struct AlertChanged {
  bool raised = true;
  Alert alert;
  TimePoint at{};  ///< when it was raised or cleared (the engine's clock)
};

/// A service's domain event, named as its struct names itself ("AuthorAdded").
struct ServiceEvent {
  std::string name;
  nlohmann::json data = nlohmann::json::object();
  TimePoint at{};
};

/// A minute ended: its figures (see `MinuteHealth`).
struct MinuteClosed {
  MinuteHealth minute;
};

using HostEvent = std::variant<JobEvent, TaskChanged, AlertChanged, ServiceEvent, MinuteClosed>;

/// {"type": "job"|"task"|"alert"|"domain"|"minute", ...}: the job delta (without its body), the
/// task, the alert with "raised", the domain event's name and data, the minute's figures.
nlohmann::json to_json(const HostEvent& e);

/// A host's callback. It runs on the subscription's own delivery thread, one event at a time in
/// the order the engine produced them; it may call any engine function, may block (only its own
/// queue fills up), and should not throw (a throw is logged and the event skipped). The event it
/// is given lives until the callback returns: copy what you keep.
using HostObserver = std::function<void(const HostEvent&)>;

/// Adapts a callback for one kind of event:
/// `engine.subscribe(on_event<JobEvent>([](const JobEvent& e) { ... }))`.
template <class E, class F>
HostObserver on_event(F fn) {
  return [fn = std::move(fn)](const HostEvent& e) {
    if (const auto* x = std::get_if<E>(&e)) fn(*x);
  };
}

/// What happens when a subscriber's queue is full.
enum class Overflow {
  /// The oldest undelivered event is dropped for the new one (spdlog's overrun_oldest): a slow
  /// subscriber sees the latest state and a gap, never stalls the engine. Counted in
  /// `HealthSnapshot::events_dropped`.
  drop_oldest,
  /// The new event is dropped and counted: the subscriber sees the oldest events and a gap.
  drop_newest,
};

/// Kinds of host events, for `SubscribeOptions::kinds`.
enum EventKinds : unsigned {
  kJobEvents = 1u << 0,       ///< every JobEvent but progress
  kProgressEvents = 1u << 1,  ///< JobEvent::Type::progress
  kTaskEvents = 1u << 2,
  kAlertEvents = 1u << 3,
  kDomainEvents = 1u << 4,
  kMinuteEvents = 1u << 5,
  kFailureEvents = 1u << 6,  ///< JobEvent::Type::failed only (final failures)
  kAllEvents = 0x3fu,        ///< all of the above but kFailureEvents, which they include
};

struct SubscribeOptions {
  /// Events the queue holds before the overflow policy applies. Default: 10,000.
  std::size_t capacity = 10000;
  Overflow overflow = Overflow::drop_oldest;
  /// A progress event replaces the newest queued event when that is the same job's progress,
  /// so a subscriber that falls behind during a job's run gets its latest progress rather than a
  /// backlog of reports. Default: true.
  bool coalesce_progress = true;
  /// Which events to receive (EventKinds bits). Default: all.
  unsigned kinds = kAllEvents;
  /// How long the delivery thread lets a burst gather once the first event of a batch arrives:
  /// an event reaches the observer up to this long after it happened. A shorter one costs the
  /// engine more wake-ups under load (0: each batch goes at once). Default: 12 ms.
  std::chrono::milliseconds linger{12};
};

}  // namespace shelfjobs

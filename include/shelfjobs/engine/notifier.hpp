// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Notifications about jobs and alerts, and the log notifier. The webhook notifier is an adapter:
/// shelfjobs/adapters/webhook_notifier.hpp.

#include <memory>
#include <optional>
#include <string>

#include <spdlog/fwd.h>
#include <nlohmann/json.hpp>

#include "shelfjobs/engine/job.hpp"

namespace shelfjobs {

/// One notification.
struct Notification {
  /// What happened: "job_failed", "alert_raised", "alert_cleared", ...
  std::string event;
  /// The job it is about, if any.
  std::optional<JobInfo> job;
  /// A line for people.
  std::string message;
  TimePoint time{};
  /// Anything else (an alert's rule and figures).
  nlohmann::json details = nlohmann::json::object();
};

/// The JSON a webhook receives: {"event", "message", "time" (ISO 8601 UTC), "job" (the job as
/// `to_json(JobInfo)`, or null), "details"}.
nlohmann::json to_json(const Notification& n);

/// Receives notifications. `notify` is called from engine threads (the dispatcher strand among
/// them): it must be thread-safe, must not throw and must return quickly.
class Notifier {
 public:
  virtual ~Notifier() = default;
  virtual void notify(const Notification& n) = 0;
};

/// Writes each notification as one log line (warn for failures and raised alerts, info
/// otherwise).
class LogNotifier final : public Notifier {
 public:
  explicit LogNotifier(std::shared_ptr<spdlog::logger> logger = nullptr);
  void notify(const Notification& n) override;

 private:
  std::shared_ptr<spdlog::logger> log_;
};

}  // namespace shelfjobs

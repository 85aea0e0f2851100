// SPDX-License-Identifier: MIT
#pragma once
// Alerts: the open alerts and the rules that raise and clear them. Each alert is raised once
// when its condition starts and cleared when it ends; both go to a sink (the engine turns them
// into host events, which the notifier receives like any subscriber). The rules read a snapshot
// of figures the engine gathers (`AlertInputs`), so they are tested without an engine.
//
// Thread-safety: none. The engine uses it on its dispatcher strand only.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/fwd.h>

#include "shelfjobs/engine/health.hpp"
#include "shelfjobs/engine/host_events.hpp"

namespace shelfjobs::detail {

/// The figures the periodic rules look at.
struct AlertInputs {
  TimePoint now{};
  struct Running {
    JobId id = 0;
    std::string name;
    TimePoint started_at{};
    std::optional<std::chrono::milliseconds> average;  ///< of its type, with 5 runs or more
  };
  std::vector<Running> running;
  std::int64_t queued = 0;
  std::optional<std::chrono::milliseconds> oldest_ready_age;
  std::uint64_t store_write_errors = 0;
  bool store_failing = false;  ///< the store's latest commit attempt failed
  std::optional<TimePoint> saturated_since;
  int workers = 0;
};

class Alerts {
 public:
  using Sink = std::function<void(const AlertChanged&)>;
  Alerts(AlertOptions options, Sink sink, std::shared_ptr<spdlog::logger> log);

  void raise(const std::string& rule, const std::string& key, std::string message, TimePoint now,
             nlohmann::json details = nlohmann::json::object());
  void clear(const std::string& key, TimePoint now);
  /// A run ended for good: job_failed is raised on a failure and cleared when the type next
  /// completes; the job's long_running alert ends.
  void job_finished(const JobInfo& job, TimePoint now);
  /// The periodic rules: long-running jobs, backlog, free disk space, store errors, saturation.
  void check(const AlertInputs& in);
  std::vector<Alert> open() const;

 private:
  AlertOptions opts_;
  Sink sink_;
  std::shared_ptr<spdlog::logger> log_;
  std::map<std::string, Alert> alerts_;
  std::uint64_t seen_write_errors_ = 0;
};

}  // namespace shelfjobs::detail

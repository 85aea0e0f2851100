// SPDX-License-Identifier: MIT
// Notifications as JSON and the log notifier: what every host has without an adapter.

#include "shelfjobs/engine/notifier.hpp"

#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "engine/text.hpp"

namespace shelfjobs {

namespace {

bool is_warning(const Notification& n) {
  const std::string_view e = n.event;
  constexpr std::string_view kFailed = "_failed";
  if (e == "alert_raised" || e == "failed") return true;
  if (e.size() >= kFailed.size() && e.substr(e.size() - kFailed.size()) == kFailed) return true;
  return n.job && n.job->status == JobStatus::failed;
}

}  // namespace

nlohmann::json to_json(const Notification& n) {
  return {
      {"event", n.event},
      {"message", n.message},
      {"time", format_time(n.time)},
      {"job", n.job ? to_json(*n.job) : nlohmann::json(nullptr)},
      {"details", n.details},
  };
}

// ---- LogNotifier ------------------------------------------------------------------------------

LogNotifier::LogNotifier(std::shared_ptr<spdlog::logger> logger)
    : log_(logger ? std::move(logger) : spdlog::default_logger()) {}

void LogNotifier::notify(const Notification& n) {
  try {
    std::string line = n.event + ": " + n.message;
    if (n.job)
      line += " (job " + std::to_string(n.job->id) + " " + n.job->name + ", " +
              std::string(to_string(n.job->status)) + ")";
    if (n.details.is_object() ? !n.details.empty() : !n.details.is_null())
      line += " " + detail::json_text(n.details);
    log_->log(is_warning(n) ? spdlog::level::warn : spdlog::level::info, "{}", line);
  } catch (...) {
    // A notifier must never fail the job it reports on; a line that cannot be built is lost.
  }
}

}  // namespace shelfjobs

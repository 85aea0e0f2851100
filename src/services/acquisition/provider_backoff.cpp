// SPDX-License-Identifier: MIT
// Readarr's escalation ladder. The order of the steps in record_failure is Readarr's: the level
// is settled first (start, escalation, minimum backoff) and the block computed from it, so a
// 429's Retry-After is honoured even inside the grace periods, and the startup cap never
// shortens a block a 429 asked for.

#include "services/acquisition/provider_backoff.hpp"

#include <algorithm>
#include <utility>

namespace shelfjobs::acquisition {

namespace {

constexpr int kTopLevel = static_cast<int>(kBackoffPeriods.size()) - 1;

// Readarr caps a block inside the startup grace at five minutes: a restart with a network
// that is still coming up must not park every indexer for hours.
constexpr std::chrono::minutes kStartupMaxBlock{5};

int top_level(const BackoffPolicy& policy) noexcept { return std::clamp(policy.max_level, 0, kTopLevel); }

}  // namespace

BackoffPolicy indexer_backoff() noexcept {
  return {.max_level = 9,
          .min_time_since_initial_failure = std::chrono::seconds{0},
          .startup_grace = std::chrono::minutes{15}};
}

BackoffPolicy download_client_backoff() noexcept {
  return {.max_level = 5,
          .min_time_since_initial_failure = std::chrono::minutes{5},
          .startup_grace = std::chrono::minutes{15}};
}

std::chrono::seconds backoff_period(int level, const BackoffPolicy& policy) noexcept {
  return kBackoffPeriods[static_cast<std::size_t>(std::clamp(level, 0, top_level(policy)))];
}

ProviderStatus record_failure(ProviderStatus status, TimePoint now, TimePoint app_started,
                              const BackoffPolicy& policy, std::chrono::seconds minimum_backoff,
                              bool escalate, std::string message) {
  const int top = top_level(policy);
  status.most_recent_failure = now;
  if (status.escalation_level <= 0) {
    // The first failure of a run: it blocks (level 1) but does not count as an escalation.
    status.initial_failure = now;
    status.escalation_level = 1;
    escalate = false;
  } else if (!status.initial_failure) {
    // A failing row without its start (written by hand or by another tool): the run starts
    // now, so the grace below has a start instead of Readarr's null dereference.
    status.initial_failure = now;
  }
  const bool in_startup_grace = app_started + policy.startup_grace > now;
  const bool in_grace = *status.initial_failure + policy.min_time_since_initial_failure > now;
  if (escalate && !in_grace && !in_startup_grace)
    status.escalation_level = std::min(top, status.escalation_level + 1);
  const bool has_minimum = minimum_backoff > std::chrono::seconds{0};
  if (has_minimum) {
    while (status.escalation_level < top &&
           kBackoffPeriods[static_cast<std::size_t>(status.escalation_level)] < minimum_backoff)
      ++status.escalation_level;
  }
  if (!in_grace || has_minimum) status.disabled_till = now + backoff_period(status.escalation_level, policy);
  if (in_startup_grace && !has_minimum && status.disabled_till)
    status.disabled_till = std::min(*status.disabled_till,
                                    now + std::chrono::duration_cast<std::chrono::seconds>(kStartupMaxBlock));
  status.last_error = std::move(message);
  return status;
}

ProviderStatus record_connection_failure(ProviderStatus status, TimePoint now, TimePoint app_started,
                                         const BackoffPolicy& policy, std::string message) {
  return record_failure(std::move(status), now, app_started, policy, std::chrono::seconds{0}, false,
                        std::move(message));
}

ProviderStatus record_success(ProviderStatus status, TimePoint now) {
  if (status.escalation_level > 0) {
    --status.escalation_level;
    status.disabled_till.reset();
  }
  status.last_success = now;
  status.last_error.clear();
  return status;
}

bool is_blocked(const ProviderStatus& status, TimePoint now) noexcept {
  return status.disabled_till && *status.disabled_till > now;
}

}  // namespace shelfjobs::acquisition

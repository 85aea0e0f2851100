// SPDX-License-Identifier: MIT
#pragma once
// Readarr's provider-status escalation ladder (EscalationBackOff and ProviderStatusServiceBase),
// as pure functions of a ProviderStatus and the clock: an indexer or download client that fails
// is blocked for a period that grows with each failure and shrinks with each success. The
// caller loads the status from the AcquisitionStore, applies one of these and saves it back.
//
// Thread-safety: pure functions on values; reentrant.

#include <array>
#include <chrono>
#include <string>

#include "shelfjobs/catalog/acquisition_store.hpp"

namespace shelfjobs::acquisition {

/// The block period of each escalation level, in seconds (Readarr's EscalationBackOff.Periods):
/// level 0 none, then 1 min, 5 min, 15 min, 30 min, 1 h, 3 h, 6 h, 12 h, 24 h.
inline constexpr std::array<std::chrono::seconds, 10> kBackoffPeriods{
    std::chrono::seconds{0},     std::chrono::seconds{60},    std::chrono::seconds{300},
    std::chrono::seconds{900},   std::chrono::seconds{1800},  std::chrono::seconds{3600},
    std::chrono::seconds{10800}, std::chrono::seconds{21600}, std::chrono::seconds{43200},
    std::chrono::seconds{86400}};

/// How one provider family escalates.
struct BackoffPolicy {
  /// The highest level (an index of kBackoffPeriods, at most 9).
  int max_level = 9;
  /// Failures within this time of the first one (of a run of failures) do not escalate and,
  /// without a minimum backoff, do not block.
  std::chrono::seconds min_time_since_initial_failure{0};
  /// For this long after the application started, failures do not escalate and a block lasts
  /// at most 5 minutes (unless a minimum backoff asks for more).
  std::chrono::seconds startup_grace{900};
};

/// Indexers: up to level 9 (24 h), no grace after the first failure, 15 min startup grace.
BackoffPolicy indexer_backoff() noexcept;
/// Download clients: up to level 5 (1 h), 5 min grace after the first failure, 15 min startup
/// grace.
BackoffPolicy download_client_backoff() noexcept;

/// The block period of `level`, clamped to 0 .. `policy.max_level` (and the table).
std::chrono::seconds backoff_period(int level, const BackoffPolicy& policy) noexcept;

/// A failure of the provider at `now` (the app started at `app_started`):
///  - the most recent failure becomes `now`; a healthy provider (level 0) starts a run of
///    failures (initial failure `now`, level 1) and escalates no further in this call;
///  - otherwise, with `escalate` and outside both graces, the level goes up one (at most
///    `policy.max_level`);
///  - a `minimum_backoff` above zero (an HTTP 429's Retry-After) raises the level until its
///    period covers it or the level is the maximum;
///  - outside the initial-failure grace, or with a minimum backoff, the provider is blocked
///    for its level's period from `now`; inside the startup grace and without a minimum
///    backoff, a block ends at most 5 minutes from `now`;
///  - `last_error` becomes `message`.
ProviderStatus record_failure(ProviderStatus status, TimePoint now, TimePoint app_started,
                              const BackoffPolicy& policy,
                              std::chrono::seconds minimum_backoff = std::chrono::seconds{0},
                              bool escalate = true, std::string message = {});

/// A failure to connect that must not escalate (Readarr's RecordConnectionFailure):
/// `record_failure` with `escalate` false and no minimum backoff.
ProviderStatus record_connection_failure(ProviderStatus status, TimePoint now, TimePoint app_started,
                                         const BackoffPolicy& policy, std::string message = {});

/// A success at `now`: a failing provider steps down one level and is unblocked; the last
/// success becomes `now` and `last_error` is cleared.
ProviderStatus record_success(ProviderStatus status, TimePoint now);

/// Whether the provider is blocked at `now` (its disabled_till is later).
bool is_blocked(const ProviderStatus& status, TimePoint now) noexcept;

}  // namespace shelfjobs::acquisition

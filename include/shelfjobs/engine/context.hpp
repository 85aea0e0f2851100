// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// What a handler gets while it runs (`JobContext`), and `JobError`, the exception a handler
/// throws to fail with a kind.

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>

#include <spdlog/fwd.h>

#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/job.hpp"
#include "shelfjobs/engine/push.hpp"

namespace shelfjobs {

/// Throw from a handler to fail the job with a kind (network, filesystem, ...). Any other
/// exception fails the job with kind `permanent` and the exception's text.
/// Throwing `JobError(ErrorKind::cancelled, ...)` ends the job Cancelled rather than Failed.
/// Exceptions map to kinds as well: std::filesystem::filesystem_error is `filesystem`; a
/// std::system_error of the system or generic category is `network` for connection errors
/// (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EHOSTUNREACH, ...) and `filesystem` otherwise; anything
/// else is `permanent` (the engine knows no database library: a handler that wants `database`
/// throws JobError(ErrorKind::database, ...)). The kind decides retries (RetryPolicy).
/// After a timeout cancelled the job, any end of the handler counts as kind `timeout`.
class JobError : public std::runtime_error {
 public:
  JobError(ErrorKind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  /// A failure of `kind` that also names when a retry may happen (for rate_limited: the wait).
  JobError(ErrorKind kind, const std::string& what, std::optional<TimePoint> retry_after)
      : std::runtime_error(what), kind_(kind), retry_after_(retry_after) {}
  /// A rate-limited failure: the job waits until `retry_after` (bounded by
  /// RetryPolicy::max_rate_limit_wait) without spending an attempt.
  static JobError rate_limited(TimePoint retry_after, const std::string& what) {
    JobError e(ErrorKind::rate_limited, what);
    e.retry_after_ = retry_after;
    return e;
  }
  ErrorKind kind() const noexcept { return kind_; }
  const std::optional<TimePoint>& retry_after() const noexcept { return retry_after_; }

 private:
  ErrorKind kind_;
  std::optional<TimePoint> retry_after_;
};

namespace detail {
class JobRun;
}

/// The running job's view of itself, handed to `IExecute<T>::execute`.
///
/// Thread-safety: meant for the handler's own thread. `cancelled()` and `token()` may be read
/// from any thread. The context is valid only during `execute`; do not keep it.
class JobContext {
 public:
  explicit JobContext(detail::JobRun& run) noexcept : run_(run) {}
  JobContext(const JobContext&) = delete;
  JobContext& operator=(const JobContext&) = delete;

  JobId id() const noexcept;
  int attempt() const noexcept;
  const std::string& name() const noexcept;
  Trigger trigger() const noexcept;

  /// Cancellation is cooperative: check `cancelled()` (or the token) at safe points and return.
  /// A handler that returns, or throws, after its token was cancelled ends Cancelled.
  std::stop_token token() const noexcept;
  bool cancelled() const noexcept { return token().stop_requested(); }
  /// Throws `JobError(ErrorKind::cancelled)` if cancellation was requested.
  void throw_if_cancelled() const;

  /// Progress: `current` of `total` with a message ("3 of 12: Ann Leckie"). Cheap to call
  /// often: it is sent to observers, and written to the store, at most every
  /// `EngineOptions::progress_interval` (default 250 ms): a report held back inside the interval
  /// is sent when it ends, and the last report is always kept when the job ends. With no
  /// completion message, the last message becomes the job's.
  void report(std::int64_t current, std::int64_t total, std::string message);
  /// Progress message only; current and total are kept.
  void status(std::string text);
  /// Sets the job's completion message (used instead of the last progress message).
  void complete(std::string message = {});

  /// Pushes a follow-up job, as `Engine::push` does (validated, deduplicated, coalesced; durable
  /// by default). What a handler does instead of keeping a pointer to its engine. Errors: as
  /// `Engine::push` (unknown_command, invalid_body, invalid_argument, shutting_down).
  Result<PushResult> push(std::string_view name, const nlohmann::json& body = nullptr,
                          PushOptions options = {});
  /// Pushes a typed follow-up command (see the name-based overload).
  template <class T>
  requires requires { T::kName; }
  Result<PushResult> push(const T& command, PushOptions options = {});
  /// A debounced follow-up, as `Engine::push_debounced`. Errors: as `push`.
  Status push_debounced(PushRequest request, std::chrono::milliseconds window,
                        std::chrono::milliseconds max_wait = std::chrono::milliseconds(0));
  /// Blocks until every job-store write the engine made before this call is committed: this
  /// job's own start and its progress so far, and every other job's state as told to observers.
  /// The store commits some writes a little after they were made (SqliteStoreOptions::
  /// commit_linger); a handler that reads the store's file through a connection of its own, as a
  /// backup's snapshot does, calls this first. Errors: none (a write the store gives up as it
  /// closes counts as settled).
  void flush_store();
  /// The engine's logger; lines carry the job id and name when the handler adds them.
  spdlog::logger& log() const noexcept;

 private:
  detail::JobRun& run_;
};

}  // namespace shelfjobs

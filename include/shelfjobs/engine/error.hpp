// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Errors returned by shelfjobs calls, and `Result<T>`, the value-or-error return type.
///
/// No exception crosses the public API for an expected failure (a bad command, an unknown job, a
/// shut-down engine): such calls return `Result<T>`. `Result<T>` uses the names of C++23's
/// `std::expected` (`has_value`, `value`, `error`) so a later move is mechanical.

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace shelfjobs {

/// What went wrong, as a stable code a caller can branch on.
enum class errc {
  unknown_command = 1,  ///< No command of that name is registered.
  invalid_body,         ///< The JSON body does not decode into the command (names the field).
  not_found,            ///< No job with that id.
  not_cancellable,      ///< The job has already finished (completed, failed or cancelled).
  shutting_down,        ///< `stop()` was called; no new work is accepted.
  invalid_argument,     ///< An option or argument is out of range (the message says which).
  store_error,          ///< The SQLite store failed (I/O error, full disk, corrupt file).
  conflict,             ///< The row clashes with an existing one (same foreign id or path).
  /// An upstream service (a metadata source, an indexer, a download client) cannot be reached
  /// or failed on its side: connection refused, timeout, 5xx; or a local file cannot be opened
  /// or read (permission, I/O error). Worth trying again later.
  unavailable,
  /// An upstream service asked us to slow down (HTTP 429); `Error::retry_after` says until when
  /// when it told.
  rate_limited,
  /// An upstream service answered with something unusable (malformed or unexpected data, a 4xx
  /// to a request that should have worked).
  upstream_error,
  /// A file exists but its content cannot be used: empty, truncated, malformed, encrypted, too
  /// large, or not of the format its name says (the message says which and where). Neither
  /// `invalid_argument` (the caller's path was fine) nor `upstream_error` (no service answered):
  /// the file itself is at fault, and stays so until it changes.
  bad_file,
  /// The work was cancelled (its job's cancellation, or the engine stopping) before it finished;
  /// what it had done stays done.
  cancelled,
  /// An upstream service refused our credentials (a wrong password or API key, a banned
  /// address). Permanent: trying again with the same settings cannot succeed.
  unauthorized,
};

/// The stable name of a code, for logs and JSON (`"unknown_command"`, ...).
const char* to_string(errc code) noexcept;

/// An error: a code plus a message for people that names the problem.
struct Error {
  errc code;
  std::string message;
  /// With `rate_limited` (and `unavailable` when the upstream said): when to try again.
  std::optional<std::chrono::system_clock::time_point> retry_after = {};
};

/// Thrown by `Result<T>::value()` when the result holds an error.
class BadResultAccess : public std::runtime_error {
 public:
  explicit BadResultAccess(Error e) : std::runtime_error(e.message), error_(std::move(e)) {}
  const Error& error() const noexcept { return error_; }

 private:
  Error error_;
};

/// Either a `T` or an `Error`. Thread-safety: like any value type.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  /// The value; throws `BadResultAccess` when this holds an error.
  T& value() & {
    if (!has_value()) throw BadResultAccess(std::get<1>(v_));
    return std::get<0>(v_);
  }
  const T& value() const& {
    if (!has_value()) throw BadResultAccess(std::get<1>(v_));
    return std::get<0>(v_);
  }
  T&& value() && {
    if (!has_value()) throw BadResultAccess(std::get<1>(v_));
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  /// The error. Precondition: `!has_value()`.
  const Error& error() const& { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

/// `Result<void>`: success or an error.
struct Ok {};
using Status = Result<Ok>;

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// A notifier that POSTs each notification to a webhook (libcurl), from its own thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <spdlog/fwd.h>

#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/notifier.hpp"

namespace shelfjobs {

struct WebhookOptions {
  /// http:// or https:// URL that receives a POST per notification. Required.
  std::string url;
  /// Whole-request timeout. Default: 10 s.
  std::chrono::milliseconds timeout{10000};
  /// Retries after the first attempt, on a connection error, a timeout, a 5xx or a 429.
  /// Default: 3.
  int retries = 3;
  /// First retry delay; doubles each retry (a 429's or 503's Retry-After wins when longer), with
  /// jitter.
  /// Default: 1 s.
  std::chrono::milliseconds backoff{1000};
  /// Cap on one retry delay, a Retry-After included. Default: 60 s.
  std::chrono::milliseconds max_backoff{60000};
  /// Notifications waiting to be sent; beyond it the oldest is dropped (and counted).
  /// Default: 1000.
  std::size_t max_pending = 1000;
  /// Extra request headers, e.g. {"Authorization", "Bearer ..."}.
  std::vector<std::pair<std::string, std::string>> headers;
  /// Logger for delivery failures; default: spdlog::default_logger().
  std::shared_ptr<spdlog::logger> logger;
};

/// POSTs each notification as JSON (see `to_json(Notification)`) from a background thread, with
/// its own timeout, retries and backoff. `notify` only queues: a slow or failing webhook never
/// delays or fails the job that triggered it. Thread-safe.
class WebhookNotifier final : public Notifier {
 public:
  /// Errors are reported by `create` (an empty or non-http(s) URL), not thrown.
  static Result<std::unique_ptr<WebhookNotifier>> create(WebhookOptions options);
  ~WebhookNotifier() override;  ///< Stops the thread; waits for an in-flight request at most `timeout`.

  void notify(const Notification& n) override;

  /// Waits until everything queued so far was delivered or given up on, or `timeout` passes.
  /// True when nothing is pending.
  bool flush(std::chrono::milliseconds timeout);

  std::uint64_t delivered() const noexcept { return delivered_.load(); }
  std::uint64_t failed() const noexcept { return failed_.load(); }    ///< given up after retries
  std::uint64_t dropped() const noexcept { return dropped_.load(); }  ///< queue overflow

 private:
  explicit WebhookNotifier(WebhookOptions options);
  void run();

  WebhookOptions opts_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> pending_;  // JSON bodies
  int in_flight_ = 0;
  bool stopping_ = false;
  std::atomic<std::uint64_t> delivered_{0}, failed_{0}, dropped_{0};
  std::thread thread_;
};

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
// The webhook notifier hands every request to one background thread. The engine calls
// `notify` from its own threads (the dispatcher among them), so `notify` only serialises and
// queues; the network, the retries and the waiting all happen on the background thread, which
// sends through the shared HTTP client (adapters/http_client.hpp) and keeps it for its whole
// life so that connections to the webhook are reused.

#include "shelfjobs/adapters/webhook_notifier.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <mutex>
#include <random>
#include <string_view>

#include <spdlog/spdlog.h>

#include "adapters/curl_util.hpp"
#include "adapters/http_client.hpp"
#include "engine/text.hpp"
#include "engine/thread_name.hpp"

namespace shelfjobs {

namespace {

using std::chrono::milliseconds;

// Transport failures that a later attempt cannot fix: the URL, the protocol or the TLS setup is
// wrong. Everything else (refused or reset connections, DNS hiccups, timeouts) is retried.
bool is_permanent(detail::TransportError e) {
  return e == detail::TransportError::invalid || e == detail::TransportError::tls;
}

struct Attempt {
  bool ok = false;
  bool retryable = false;
  milliseconds retry_after{0};  // the server's Retry-After, 0 when absent
  std::string reason;           // for the log when it failed
};

// The server's Retry-After as a wait (0 when absent or unreadable); retry_delay caps it at
// max_backoff.
milliseconds parse_retry_after(std::string_view v) {
  const TimePoint now = std::chrono::system_clock::now();
  const auto at = detail::parse_retry_after(v, now, std::chrono::hours(24 * 365));
  return at ? std::chrono::duration_cast<milliseconds>(*at - now) : milliseconds{0};
}

// The webhook's client: one handle in its pool, kept for the notifier's life so that the
// connection to the webhook stays open between notifications. The timeout covers the whole
// request, connecting included.
detail::HttpClientOptions client_options(const WebhookOptions& o) {
  return {.connect_timeout = o.timeout, .timeout = o.timeout, .pool_size = 1};
}

// One POST of `body`. A redirect is an answer like any other 3xx (a failure, not retried): a
// followed one would turn the POST into a GET and lose the notification.
Attempt post(detail::HttpClient& client, const WebhookOptions& o, const std::string& body) {
  detail::HttpRequest req;
  req.url = o.url;
  req.headers = o.headers;
  req.follow_redirects = false;
  req.keep_body = false;  // a webhook's reply is not needed
  const detail::HttpResponse res = client.post(req, body, "application/json");
  Attempt a;
  if (res.error != detail::TransportError::none) {
    a.reason = res.error_message;
    a.retryable = !is_permanent(res.error);
    return a;
  }
  const long status = res.status;
  if (status >= 200 && status < 300) {
    a.ok = true;
    return a;
  }
  a.reason = "HTTP " + std::to_string(status);
  a.retryable = status == 429 || (status >= 500 && status < 600);
  if ((status == 429 || status == 503) && !res.retry_after.empty())
    a.retry_after = parse_retry_after(res.retry_after);
  return a;
}

// Delay before retry number `retry` (0 for the first): backoff * 2^retry plus up to a quarter
// more at random, so many hosts failing together do not retry in step. A longer Retry-After
// replaces it. `max_backoff` caps the result either way, so one notification never holds the
// queue longer than the caller allowed.
milliseconds retry_delay(const WebhookOptions& o, int retry, milliseconds retry_after, std::mt19937& rng) {
  const double cap = static_cast<double>(o.max_backoff.count());
  double d = static_cast<double>(o.backoff.count()) * std::pow(2.0, std::min(retry, 62));
  d = std::min(d, cap);
  d += d * std::uniform_real_distribution<double>(0.0, 0.25)(rng);
  d = std::max(d, static_cast<double>(retry_after.count()));
  d = std::min(d, cap);
  return milliseconds(static_cast<milliseconds::rep>(d));
}

}  // namespace

// ---- WebhookNotifier --------------------------------------------------------------------------

Result<std::unique_ptr<WebhookNotifier>> WebhookNotifier::create(WebhookOptions options) {
  auto invalid = [](std::string msg) { return Error{errc::invalid_argument, std::move(msg)}; };
  if (options.url.empty()) return invalid("webhook: url is required");
  if (!detail::istarts_with(options.url, "http://") && !detail::istarts_with(options.url, "https://"))
    return invalid("webhook: url must start with http:// or https:// (got '" + options.url + "')");
  detail::init_curl_once();
  if (const detail::UrlParts p = detail::split_url(options.url); !p.ok || p.host.empty())
    return invalid("webhook: url '" + options.url + "' is not a valid URL");
  if (options.timeout.count() <= 0) return invalid("webhook: timeout must be greater than 0");
  if (options.retries < 0) return invalid("webhook: retries must not be negative");
  if (options.backoff.count() < 0) return invalid("webhook: backoff must not be negative");
  if (options.max_backoff.count() < 0) return invalid("webhook: max_backoff must not be negative");
  if (options.max_pending == 0) return invalid("webhook: max_pending must be at least 1");
  for (const auto& [name, value] : options.headers) {
    // A CR or LF would let a header value start a new header (or end the request head).
    const bool bad_name = name.empty() || name.find_first_of(":\r\n \t") != std::string::npos;
    if (bad_name || value.find_first_of("\r\n") != std::string::npos)
      return invalid("webhook: header '" + name + "' has an invalid name or value");
  }
  if (!options.logger) options.logger = spdlog::default_logger();
  return std::unique_ptr<WebhookNotifier>(new WebhookNotifier(std::move(options)));
}

WebhookNotifier::WebhookNotifier(WebhookOptions options) : opts_(std::move(options)) {
  thread_ = std::thread([this] { run(); });
  detail::named(thread_, "shelf-webhook");
}

WebhookNotifier::~WebhookNotifier() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (!pending_.empty())
    opts_.logger->warn("webhook {}: {} notification(s) not sent: the notifier was destroyed", opts_.url,
                       pending_.size());
}

void WebhookNotifier::notify(const Notification& n) {
  try {
    std::string body = detail::json_text(to_json(n));
    std::uint64_t dropped_now = 0;
    {
      std::lock_guard lock(mu_);
      while (pending_.size() >= opts_.max_pending) {
        pending_.pop_front();
        dropped_now = ++dropped_;
      }
      pending_.push_back(std::move(body));
    }
    cv_.notify_all();
    // A webhook that is down for long drops one notification per notify; say so, but not each
    // time.
    if (dropped_now == 1 || (dropped_now > 0 && dropped_now % 100 == 0))
      opts_.logger->warn("webhook {}: queue full ({} pending); dropped {} notification(s) so far", opts_.url,
                         opts_.max_pending, dropped_now);
  } catch (...) {
    // Out of memory or a failing logger: lose this notification rather than fail the caller.
    failed_.fetch_add(1);
  }
}

bool WebhookNotifier::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return pending_.empty() && in_flight_ == 0; });
}

void WebhookNotifier::run() {
  detail::HttpClient client(client_options(opts_));
  std::mt19937 rng(std::random_device{}());
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
    if (stopping_) break;
    std::string body = std::move(pending_.front());
    pending_.pop_front();
    ++in_flight_;

    Attempt last;
    int attempts = 0;
    for (;;) {
      lock.unlock();
      last = post(client, opts_, body);
      ++attempts;
      lock.lock();
      if (last.ok || !last.retryable || attempts > opts_.retries || stopping_) break;
      const auto delay = retry_delay(opts_, attempts - 1, last.retry_after, rng);
      lock.unlock();
      opts_.logger->debug("webhook {}: attempt {} failed ({}); retrying in {} ms", opts_.url, attempts,
                          last.reason, delay.count());
      lock.lock();
      // The wait is on the notifier's condition variable so the destructor ends it at once.
      if (cv_.wait_for(lock, delay, [&] { return stopping_; })) {
        last.reason += "; the notifier was destroyed before the next retry";
        break;
      }
    }

    // Log before the counters move: once flush() sees nothing in flight, the outcome is in the
    // log too.
    if (!last.ok) {
      lock.unlock();
      opts_.logger->warn("webhook {}: notification not delivered after {} attempt(s): {}", opts_.url,
                         attempts, last.reason);
      lock.lock();
    }
    (last.ok ? delivered_ : failed_).fetch_add(1);
    --in_flight_;
    cv_.notify_all();
  }
}

}  // namespace shelfjobs

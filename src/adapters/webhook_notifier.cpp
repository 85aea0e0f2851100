// SPDX-License-Identifier: MIT
// The webhook notifier hands every request to one background thread. The engine calls
// `notify` from its own threads (the dispatcher among them), so `notify` only serialises and
// queues; the network, the retries and the waiting all happen on the background thread, which
// keeps one libcurl handle for its whole life so that connections to the webhook are reused.

#include "shelfjobs/adapters/webhook_notifier.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <mutex>
#include <random>
#include <string_view>

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include "adapters/curl_util.hpp"
#include "engine/text.hpp"
#include "shelfjobs/version.hpp"

namespace shelfjobs {

namespace {

using std::chrono::milliseconds;


// libcurl writes response bodies to stdout unless told otherwise; a webhook's reply is not
// needed.
std::size_t discard_body(char*, std::size_t size, std::size_t count, void*) { return size * count; }

// Transport errors that a later attempt cannot fix: the URL, the protocol or the TLS setup is
// wrong. Everything else (refused or reset connections, DNS hiccups, timeouts) is retried.
bool is_permanent(CURLcode rc) {
  switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_TOO_MANY_REDIRECTS:
      return true;
    default:
      return false;
  }
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

// One libcurl easy handle with the options that stay the same for every request, reused so
// libcurl can keep the connection to the webhook open between notifications.
class Sender {
 public:
  explicit Sender(const WebhookOptions& o) : handle_(curl_easy_init()) {
    if (!handle_) return;
    headers_ = curl_slist_append(headers_, "Content-Type: application/json");
    // libcurl sends "Expect: 100-continue" for larger bodies and then waits up to a second for
    // an answer that many small servers never send; the body is small, send it at once.
    headers_ = curl_slist_append(headers_, "Expect:");
    for (const auto& [name, value] : o.headers)
      headers_ = curl_slist_append(headers_, (name + ": " + value).c_str());
    user_agent_ = std::string("shelfjobs/") + kVersion;
    error_[0] = '\0';
    curl_easy_setopt(handle_, CURLOPT_URL, o.url.c_str());
    curl_easy_setopt(handle_, CURLOPT_POST, 1L);
    curl_easy_setopt(handle_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(handle_, CURLOPT_USERAGENT, user_agent_.c_str());
    curl_easy_setopt(handle_, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout.count()));
    // Without NOSIGNAL libcurl may use SIGALRM for DNS timeouts, which is unsafe in a
    // multi-threaded host.
    curl_easy_setopt(handle_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle_, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(handle_, CURLOPT_ERRORBUFFER, error_);
    curl_easy_setopt(handle_, CURLOPT_PROTOCOLS_STR, "http,https");
  }
  ~Sender() {
    if (handle_) curl_easy_cleanup(handle_);
    curl_slist_free_all(headers_);
  }
  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  Attempt post(const std::string& body) {
    Attempt a;
    if (!handle_) {
      a.reason = "libcurl could not create a handle";
      return a;
    }
    error_[0] = '\0';
    curl_easy_setopt(handle_, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(handle_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    const CURLcode rc = curl_easy_perform(handle_);
    if (rc != CURLE_OK) {
      a.reason = curl_easy_strerror(rc);
      if (error_[0] != '\0') a.reason += std::string(" (") + error_ + ")";
      a.retryable = !is_permanent(rc);
      return a;
    }
    long status = 0;
    curl_easy_getinfo(handle_, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
      a.ok = true;
      return a;
    }
    a.reason = "HTTP " + std::to_string(status);
    a.retryable = status == 429 || (status >= 500 && status < 600);
    if (status == 429 || status == 503) {
      curl_header* h = nullptr;
      if (curl_easy_header(handle_, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h)
        a.retry_after = parse_retry_after(h->value);
    }
    return a;
  }

 private:
  CURL* handle_;
  curl_slist* headers_ = nullptr;
  std::string user_agent_;
  char error_[CURL_ERROR_SIZE];
};

// Delay before retry number `retry` (0 for the first): backoff * 2^retry plus up to a quarter
// more at random, so many hosts failing together do not retry in step. A longer Retry-After
// replaces it. `max_backoff` caps the result either way, so one notification never holds the
// queue longer than the caller allowed.
milliseconds retry_delay(const WebhookOptions& o, int retry, milliseconds retry_after,
                         std::mt19937& rng) {
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
  {
    CURLU* u = curl_url();
    const bool parsed = u && curl_url_set(u, CURLUPART_URL, options.url.c_str(), 0) == CURLUE_OK;
    char* host = nullptr;
    const bool has_host = parsed && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
                          host && host[0] != '\0';
    curl_free(host);
    curl_url_cleanup(u);
    if (!has_host) return invalid("webhook: url '" + options.url + "' is not a valid URL");
  }
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
}

WebhookNotifier::~WebhookNotifier() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (!pending_.empty())
    opts_.logger->warn("webhook {}: {} notification(s) not sent: the notifier was destroyed",
                       opts_.url, pending_.size());
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
      opts_.logger->warn("webhook {}: queue full ({} pending); dropped {} notification(s) so far",
                         opts_.url, opts_.max_pending, dropped_now);
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
  Sender sender(opts_);
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
      last = sender.post(body);
      ++attempts;
      lock.lock();
      if (last.ok || !last.retryable || attempts > opts_.retries || stopping_) break;
      const auto delay = retry_delay(opts_, attempts - 1, last.retry_after, rng);
      lock.unlock();
      opts_.logger->debug("webhook {}: attempt {} failed ({}); retrying in {} ms", opts_.url,
                          attempts, last.reason, delay.count());
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
      opts_.logger->warn("webhook {}: notification not delivered after {} attempt(s): {}",
                         opts_.url, attempts, last.reason);
      lock.lock();
    }
    (last.ok ? delivered_ : failed_).fetch_add(1);
    --in_flight_;
    cv_.notify_all();
  }
}

}  // namespace shelfjobs

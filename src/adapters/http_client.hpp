// SPDX-License-Identifier: MIT
#pragma once
// The internal HTTP client over libcurl: every request shelfjobs sends goes through it (the
// metadata source's GETs, the webhook notifier's POSTs), with one User-Agent, one set of
// timeouts, one redirect policy, cancellation and one classification of transport failures.
//
// Each request borrows an easy handle (paired with a multi handle) from a small pool, so
// connections, DNS and TLS sessions are reused between requests and requests from several
// threads do not wait for each other. Requests run through the multi interface so that a
// stop_token can wake a transfer that is waiting on a silent server at once, instead of at
// libcurl's next progress tick.
//
// The client never throws for a transport failure or an HTTP status: the caller decides what
// each means. Thread-safety: `get` and `post` may be called from any thread.

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shelfjobs::detail {

/// The User-Agent of everything shelfjobs sends:
/// "shelfjobs/<version> (+https://github.com/shelfjobs/shelfjobs)".
std::string user_agent();

struct HttpClientOptions {
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};  ///< whole request
  int max_redirects = 5;                                        ///< when a request follows redirects
  std::string user_agent = detail::user_agent();
  std::size_t pool_size = 4;         ///< idle handles kept for reuse
  std::size_t max_body = 64u << 20;  ///< a larger body fails the request (category invalid)
};

struct HttpRequest {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra request headers
  bool follow_redirects = true;                              ///< false: a 3xx is returned with its Location
  /// false: the answer's body is read and dropped (HttpResponse::body stays empty, max_body does
  /// not apply, no compression is asked for), for callers that only need the status.
  bool keep_body = true;
  /// Response headers to return in HttpResponse::headers, by name (case-insensitive), each with
  /// every value it had in the final answer (Set-Cookie often comes more than once).
  std::vector<std::string> read_headers;
};

/// Why a request got no HTTP answer.
enum class TransportError {
  none,        ///< an HTTP answer arrived (any status)
  timeout,     ///< connect or total timeout
  connection,  ///< could not resolve, connect, send or receive
  tls,         ///< the TLS peer or setup was refused (certificate not verified, pinned key
               ///< mismatch, unusable CA file, no common cipher): a retry helps only once the
               ///< server or the configuration changes
  cancelled,   ///< the stop token fired
  invalid,     ///< no retry can fix it: bad URL, unsupported protocol, too many redirects,
               ///< a body over max_body
  other,       ///< anything else libcurl reported
};

struct HttpResponse {
  TransportError error = TransportError::none;
  std::string error_message;  ///< libcurl's text (with its error buffer) when error != none
  long status = 0;
  std::string body;  ///< decoded (compression undone)
  std::string etag;
  std::string last_modified;
  std::string retry_after;
  std::string location;  ///< a redirect's target, made absolute; empty otherwise
  std::string content_type;
  std::string effective_url;  ///< the last URL fetched (after followed redirects)
  /// The values of the headers named in HttpRequest::read_headers, in the order the server sent
  /// them, under the name as the request spelt it.
  std::vector<std::pair<std::string, std::string>> headers;
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse get(const HttpRequest& request, std::stop_token token = {});
  /// POSTs `body` as `content_type`, with the same options, redirect policy, cancellation and
  /// failure categories as `get`. A followed 301, 302 or 303 continues as a GET (what browsers
  /// do); callers that must not lose the body set follow_redirects = false. No
  /// "Expect: 100-continue": many small servers never answer it and libcurl would wait a second.
  HttpResponse post(const HttpRequest& request, std::string_view body, std::string_view content_type,
                    std::stop_token token = {});

 private:
  struct Handle;
  struct Payload;
  HttpResponse perform(const HttpRequest& request, const Payload* payload, std::stop_token token);
  std::unique_ptr<Handle> borrow();
  void give_back(std::unique_ptr<Handle> h);

  HttpClientOptions options_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Handle>> idle_;
};

}  // namespace shelfjobs::detail

// SPDX-License-Identifier: MIT
#pragma once
// An internal HTTP GET client over libcurl, for the metadata source (and later adapters).
//
// Each request borrows an easy handle (paired with a multi handle) from a small pool, so
// connections, DNS and TLS sessions are reused between requests and requests from several
// threads do not wait for each other. Requests run through the multi interface so that a
// stop_token can wake a transfer that is waiting on a silent server at once, instead of at
// libcurl's next progress tick.
//
// The client never throws for a transport failure or an HTTP status: the caller decides what
// each means. Thread-safety: `get` may be called from any thread.

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

namespace shelfjobs::detail {

struct HttpClientOptions {
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};  ///< whole request
  int max_redirects = 5;             ///< when a request follows redirects
  std::string user_agent;
  std::size_t pool_size = 4;         ///< idle handles kept for reuse
  std::size_t max_body = 64u << 20;  ///< a larger body fails the request (category invalid)
};

struct HttpRequest {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra request headers
  bool follow_redirects = true;  ///< false: a 3xx is returned with its Location
};

/// Why a request got no HTTP answer.
enum class TransportError {
  none,        ///< an HTTP answer arrived (any status)
  timeout,     ///< connect or total timeout
  connection,  ///< could not resolve, connect, send or receive
  cancelled,   ///< the stop token fired
  invalid,     ///< no retry can fix it: bad URL, unsupported protocol, too many redirects,
               ///< a body over max_body
  other,       ///< anything else libcurl reported
};

struct HttpResponse {
  TransportError error = TransportError::none;
  std::string error_message;  ///< libcurl's text (with its error buffer) when error != none
  long status = 0;
  std::string body;           ///< decoded (compression undone)
  std::string etag;
  std::string last_modified;
  std::string retry_after;
  std::string location;       ///< a redirect's target, made absolute; empty otherwise
  std::string content_type;
  std::string effective_url;  ///< the last URL fetched (after followed redirects)
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse get(const HttpRequest& request, std::stop_token token = {});

 private:
  struct Handle;
  std::unique_ptr<Handle> borrow();
  void give_back(std::unique_ptr<Handle> h);

  HttpClientOptions options_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Handle>> idle_;
};

}  // namespace shelfjobs::detail

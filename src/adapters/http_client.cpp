// SPDX-License-Identifier: MIT
#include "adapters/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

#include <curl/curl.h>

#include "adapters/curl_util.hpp"
#include "shelfjobs/version.hpp"

namespace shelfjobs::detail {

// An easy handle and the multi handle that drives it. They stay paired for the handle's life:
// the multi handle owns the connection cache, so keeping the pair is what reuses connections.
struct HttpClient::Handle {
  CURL* easy = nullptr;
  CURLM* multi = nullptr;
  Handle() : easy(curl_easy_init()), multi(curl_multi_init()) {}
  ~Handle() {
    if (multi) curl_multi_cleanup(multi);
    if (easy) curl_easy_cleanup(easy);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
};

struct HttpClient::Payload {
  std::string_view body;
  std::string_view content_type;
};

std::string user_agent() {
  return std::string("shelfjobs/") + kVersion + " (+https://github.com/shelfjobs/shelfjobs)";
}

namespace {

struct Transfer {
  std::string* body;
  std::size_t max_body;
  bool keep_body = true;
  bool too_large = false;
  std::stop_token token;
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  if (!t->keep_body) return n;
  if (t->body->size() + n > t->max_body) {
    t->too_large = true;
    return 0;  // libcurl fails the transfer with CURLE_WRITE_ERROR
  }
  t->body->append(data, n);
  return n;
}

// Called by libcurl during the transfer; a non-zero return aborts it with
// CURLE_ABORTED_BY_CALLBACK.
int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<Transfer*>(user)->token.stop_requested() ? 1 : 0;
}

TransportError category(CURLcode rc) {
  switch (rc) {
    case CURLE_OK: return TransportError::none;
    case CURLE_OPERATION_TIMEDOUT: return TransportError::timeout;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3: return TransportError::connection;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS: return TransportError::tls;
    case CURLE_ABORTED_BY_CALLBACK: return TransportError::cancelled;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_NOT_BUILT_IN:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION: return TransportError::invalid;
    default: return TransportError::other;
  }
}

std::string header(CURL* easy, const char* name) {
  curl_header* h = nullptr;
  // -1: the last request of the transfer, which after followed redirects is the final answer.
  if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h && h->value) return h->value;
  return {};
}

}  // namespace

HttpClient::HttpClient(HttpClientOptions options) : options_(std::move(options)) { detail::init_curl_once(); }

HttpClient::~HttpClient() = default;

std::unique_ptr<HttpClient::Handle> HttpClient::borrow() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
  }
  return std::make_unique<Handle>();
}

void HttpClient::give_back(std::unique_ptr<Handle> h) {
  std::lock_guard lock(mu_);
  if (idle_.size() < options_.pool_size) idle_.push_back(std::move(h));
}

HttpResponse HttpClient::get(const HttpRequest& request, std::stop_token token) {
  return perform(request, nullptr, std::move(token));
}

HttpResponse HttpClient::post(const HttpRequest& request, std::string_view body,
                              std::string_view content_type, std::stop_token token) {
  const Payload payload{body, content_type};
  return perform(request, &payload, std::move(token));
}

HttpResponse HttpClient::perform(const HttpRequest& request, const Payload* payload, std::stop_token token) {
  HttpResponse r;
  if (token.stop_requested()) {
    r.error = TransportError::cancelled;
    r.error_message = "cancelled";
    return r;
  }
  auto h = borrow();
  if (!h->easy || !h->multi) {
    r.error = TransportError::other;
    r.error_message = "libcurl could not create a handle";
    return r;
  }
  CURL* easy = h->easy;
  // Reset clears the previous request's options but keeps the connection and DNS caches.
  curl_easy_reset(easy);

  Transfer t{&r.body, options_.max_body, request.keep_body, false, token};
  char errbuf[CURL_ERROR_SIZE];
  errbuf[0] = '\0';
  curl_slist* headers = nullptr;
  if (payload) {
    headers = curl_slist_append(headers, ("Content-Type: " + std::string(payload->content_type)).c_str());
    // libcurl sends "Expect: 100-continue" for larger bodies and then waits up to a second for
    // an answer that many small servers never send; send the body at once.
    headers = curl_slist_append(headers, "Expect:");
  }
  for (const auto& [name, value] : request.headers)
    headers = curl_slist_append(headers, (name + ": " + value).c_str());

  curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str());
  if (payload) {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload->body.size()));
    // Not copied: the body outlives the transfer, which ends in this call. Never a null pointer:
    // with one, libcurl would read the body from stdin.
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, payload->body.empty() ? "" : payload->body.data());
  } else {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  // Without NOSIGNAL libcurl may use SIGALRM for DNS timeouts, unsafe in a threaded host.
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  // gzip and deflate only: every server speaks them, and servers that compress on the fly often
  // run Brotli at its slowest quality (cpp-httplib does: ~15 ms for a 10 KB author, ten times
  // the transfer it saves on a LAN). A body that is dropped is not worth asking compressed.
  if (request.keep_body) curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "gzip, deflate");
  // Only http(s), for the first URL and for redirects: a server must not send us to file://.
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  if (request.follow_redirects) {
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(easy, CURLOPT_MAXREDIRS, static_cast<long>(options_.max_redirects));
  } else {
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  }
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(easy, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);

  CURLcode rc = CURLE_OK;
  bool cancelled = false;
  CURLM* multi = h->multi;
  if (curl_multi_add_handle(multi, easy) != CURLM_OK) {
    rc = CURLE_FAILED_INIT;
  } else {
    {
      // Wakes the poll below as soon as the token fires; the callback is done (and cannot run
      // again) once this object is destroyed, before the handle goes back to the pool.
      std::stop_callback wake(token, [multi] { curl_multi_wakeup(multi); });
      bool done = false;
      while (!done) {
        int running = 0;
        if (curl_multi_perform(multi, &running) != CURLM_OK) {
          rc = CURLE_FAILED_INIT;
          break;
        }
        int left = 0;
        while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
          if (m->msg == CURLMSG_DONE && m->easy_handle == easy) {
            rc = m->data.result;
            done = true;
          }
        }
        if (done) break;
        if (token.stop_requested()) {
          cancelled = true;
          break;
        }
        // The poll's timeout only bounds the wait; libcurl's own timers (the request timeout
        // included) shorten it as needed.
        curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
      }
    }
    curl_multi_remove_handle(multi, easy);
  }

  if (cancelled) rc = CURLE_ABORTED_BY_CALLBACK;
  r.error = category(rc);
  if (t.too_large) {
    // The same resource will be as large next time: no retry helps.
    r.error = TransportError::invalid;
    r.error_message = "the response is larger than " + std::to_string(options_.max_body) + " bytes";
  } else if (r.error == TransportError::cancelled) {
    r.error_message = "cancelled";
  } else if (rc != CURLE_OK) {
    r.error_message = curl_easy_strerror(rc);
    if (errbuf[0] != '\0') r.error_message += std::string(" (") + errbuf + ")";
  }

  if (rc == CURLE_OK) {
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
    char* url = nullptr;
    if (curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url) == CURLE_OK && url) r.effective_url = url;
    char* redirect = nullptr;
    // CURLINFO_REDIRECT_URL resolves a relative Location against the request's URL.
    if (curl_easy_getinfo(easy, CURLINFO_REDIRECT_URL, &redirect) == CURLE_OK && redirect)
      r.location = redirect;
    else
      r.location = header(easy, "Location");
    r.etag = header(easy, "ETag");
    r.last_modified = header(easy, "Last-Modified");
    r.retry_after = header(easy, "Retry-After");
    r.content_type = header(easy, "Content-Type");
    for (const auto& name : request.read_headers) {
      curl_header* found = nullptr;
      std::size_t count = 1;
      for (std::size_t i = 0; i < count; ++i) {
        if (curl_easy_header(easy, name.c_str(), i, CURLH_HEADER, -1, &found) != CURLHE_OK || !found) break;
        count = found->amount;
        r.headers.emplace_back(name, found->value ? found->value : "");
      }
    }
  } else {
    r.body.clear();
  }

  curl_slist_free_all(headers);
  // The options point into this frame (error buffer, header list, Transfer, body); a reset drops
  // them before the handle rests in the pool.
  curl_easy_reset(easy);
  give_back(std::move(h));
  return r;
}

}  // namespace shelfjobs::detail

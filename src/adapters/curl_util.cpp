// SPDX-License-Identifier: MIT
#include "adapters/curl_util.hpp"

#include <algorithm>
#include <charconv>
#include <mutex>
#include <string>

#include <curl/curl.h>

namespace shelfjobs::detail {

void init_curl_once() {
  // Hosts may create notifiers and metadata sources from several threads.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

UrlParts split_url(const std::string& url) {
  UrlParts p;
  CURLU* u = curl_url();
  if (!u) return p;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    p.ok = true;
    auto get = [&](CURLUPart part, std::string& out, unsigned flags) {
      char* v = nullptr;
      if (curl_url_get(u, part, &v, flags) == CURLUE_OK && v) out = v;
      curl_free(v);
    };
    get(CURLUPART_SCHEME, p.scheme, 0);
    get(CURLUPART_HOST, p.host, 0);
    get(CURLUPART_PATH, p.path, CURLU_URLDECODE);
    get(CURLUPART_QUERY, p.query, 0);
    get(CURLUPART_FRAGMENT, p.fragment, 0);
  }
  curl_url_cleanup(u);
  return p;
}

std::optional<TimePoint> parse_retry_after(std::string_view v, TimePoint now,
                                           std::chrono::seconds delta_cap) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    // More than nine digits is beyond any cap; do not overflow on it.
    if (v.size() > 9) return now + delta_cap;
    long long secs = 0;
    std::from_chars(v.data(), v.data() + v.size(), secs);
    return now + std::min<std::chrono::seconds>(std::chrono::seconds(secs), delta_cap);
  }
  const std::string s(v);
  const std::time_t when = curl_getdate(s.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  return std::max(std::chrono::system_clock::from_time_t(when), now);
}

}  // namespace shelfjobs::detail

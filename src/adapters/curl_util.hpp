// SPDX-License-Identifier: MIT
#pragma once
// What every libcurl user in shelfjobs shares: the one-time global initialisation, URLs split
// by libcurl's parser, and the reading of a Retry-After header.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "shelfjobs/engine/job.hpp"

namespace shelfjobs::detail {

/// curl_global_init, once per process, before any other libcurl call (it is not thread-safe).
/// curl_global_cleanup is never called: the host may still use libcurl elsewhere.
void init_curl_once();

/// Parts of a URL through libcurl's parser (the one that will fetch it); `ok` is false, and the
/// parts empty, when it cannot parse the URL. `path` is URL-decoded, the others as written.
struct UrlParts {
  bool ok = false;
  std::string scheme, host, path, query, fragment;
};
UrlParts split_url(const std::string& url);

/// A Retry-After value (RFC 9110 10.2.3) as the time it names: delta-seconds from `now`, capped
/// at `delta_cap` (a longer wait is no useful instruction, and a huge number must not overflow),
/// or an HTTP date (one in the past means now). Surrounding blanks are ignored. nullopt when the
/// value is empty or unreadable.
std::optional<TimePoint> parse_retry_after(std::string_view value, TimePoint now,
                                           std::chrono::seconds delta_cap);

}  // namespace shelfjobs::detail

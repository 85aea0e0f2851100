// SPDX-License-Identifier: MIT
#pragma once
// What the Newznab parser and client share: the checks every answer gets before it is read as a
// feed (an HTML page, an `<error>` body), so a 429 or a 202 with an `<error>` body is judged by
// the same rules as a 200.

#include <optional>
#include <string>
#include <string_view>

#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/job.hpp"

namespace shelfjobs::detail {

/// What the client's message says when a request never reached the indexer; the one place
/// `is_connect_failure` and the client agree on.
inline constexpr std::string_view kCannotConnect = "cannot connect (";

/// The body is an HTML page (by its start or its Content-Type).
bool looks_like_html(std::string_view body, std::string_view content_type);
/// "indexer <name>: answered with an HTML page instead of XML (<status>): blocked ...?"; an
/// empty status is left out.
Error html_error(std::string_view name, std::string_view status);
/// An `<error code description>` body.
struct ApiError {
  int code = 0;                ///< 0 when the code is not a number
  std::string text;            ///< "error 100: Incorrect user credentials" (one line, UTF-8)
  bool request_limit = false;  ///< code 429 or "Request limit reached" in the description
};
/// The `<error>` document `xml` holds, or nullopt when it is not one.
std::optional<ApiError> read_error_element(std::string_view xml);
/// The error value of an `<error>` body (see newznab.hpp); a request limit is rate_limited until
/// now + 1 h.
Error api_error(const ApiError& e, std::string_view name, TimePoint now);

}  // namespace shelfjobs::detail

// SPDX-License-Identifier: MIT
#pragma once
// Small helpers the route files share: JSON answers, error answers, route ids.

#include <charconv>
#include <optional>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "shelfjobs/engine/error.hpp"

namespace shelfd {

inline void reply(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

/// {"message": ..., "error": code} (no "error" when `code` is empty).
inline void error(httplib::Response& res, int status, const std::string& message,
                  const std::string& code = {}) {
  nlohmann::json body = {{"message", message}};
  if (!code.empty()) body["error"] = code;
  reply(res, status, body);
}

/// The HTTP status for an engine or catalog error.
inline int http_status(shelfjobs::errc code) {
  using shelfjobs::errc;
  switch (code) {
    case errc::not_found: return 404;
    case errc::not_cancellable: return 409;
    case errc::conflict: return 409;
    case errc::shutting_down: return 503;
    case errc::store_error: return 500;
    default: return 400;
  }
}

inline void error(httplib::Response& res, const shelfjobs::Error& e) {
  error(res, http_status(e.code), e.message, std::string(to_string(e.code)));
}

/// The id in a route's first group; nullopt when it does not fit (the caller answers 404).
inline std::optional<long long> route_id(const httplib::Request& req) {
  long long id = 0;
  const std::string& s = req.matches[1];
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return id;
}

}  // namespace shelfd

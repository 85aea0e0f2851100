// SPDX-License-Identifier: MIT
#pragma once
// The helpers every route uses: JSON answers, error answers (one mapping of error codes to HTTP
// statuses), request bodies and their fields, route ids, and query parameters as Readarr's
// clients send them (ids, id lists, paging, true/false flags, days).

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "shelfjobs/engine/error.hpp"

namespace shelfd {

/// Answers `body` as JSON. Text that is not valid UTF-8 (a client's bytes echoed in a message)
/// is replaced, never a reason to fail the answer.
inline void reply(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
}

/// {"message": ..., "error": code} (no "error" when `code` is empty).
inline void error(httplib::Response& res, int status, const std::string& message,
                  const std::string& code = {}) {
  nlohmann::json body = {{"message", message}};
  if (!code.empty()) body["error"] = code;
  reply(res, status, body);
}

/// The HTTP status of an error code: 400 only for a request that is wrong; 404 and 409 for
/// what the request names; 429 and 503 when an upstream service (the metadata source) limits
/// us or is down, 502 when it answered nonsense; 422 for a book file whose content is unusable;
/// 503 when our own store fails or we are stopping. No code maps to 500: that is left for a fault of shelfd's
/// own.
inline int http_status(shelfjobs::errc code) {
  using shelfjobs::errc;
  switch (code) {
    case errc::unknown_command:
    case errc::invalid_body:
    case errc::invalid_argument: return 400;
    case errc::not_found: return 404;
    case errc::not_cancellable:
    case errc::conflict: return 409;
    case errc::rate_limited: return 429;
    case errc::upstream_error:
    case errc::unauthorized: return 502;
    case errc::bad_file: return 422;
    case errc::cancelled: return 409;
    case errc::unavailable:
    case errc::shutting_down:
    case errc::store_error: return 503;
  }
  return 400;
}

/// Answers an error value: its status, {"message", "error": code}, and Retry-After (seconds)
/// when the error says when to try again.
inline void error(httplib::Response& res, const shelfjobs::Error& e) {
  if (e.retry_after) {
    const auto wait =
        std::chrono::ceil<std::chrono::seconds>(*e.retry_after - std::chrono::system_clock::now());
    res.set_header("Retry-After", std::to_string(std::max<long long>(1, wait.count())));
  }
  error(res, http_status(e.code), e.message, std::string(to_string(e.code)));
}

/// The offset of the first byte that breaks UTF-8 (RFC 3629: no overlong forms, no surrogates,
/// nothing above U+10FFFF), or nullopt when `s` is valid UTF-8.
inline std::optional<std::size_t> utf8_error_at(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    unsigned lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (c < 0x80)
      len = 1;
    else if (c >= 0xC2 && c <= 0xDF)
      len = 2;
    else if (c == 0xE0)
      len = 3, lo = 0xA0;
    else if (c == 0xED)
      len = 3, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF)
      len = 3;
    else if (c == 0xF0)
      len = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3)
      len = 4;
    else if (c == 0xF4)
      len = 4, hi = 0x8F;
    else
      return i;
    if (i + len > s.size()) return i;
    for (std::size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return i + k;
    }
    i += len;
  }
  return std::nullopt;
}

/// The request's body as a JSON object. Errors (invalid_body, naming the problem): not valid
/// UTF-8 (with the byte offset), not JSON, not an object.
inline shelfjobs::Result<nlohmann::json> json_body(const httplib::Request& req) {
  using shelfjobs::errc;
  if (const auto at = utf8_error_at(req.body)) {
    return shelfjobs::Error{errc::invalid_body,
                            "the body is not valid UTF-8 (at byte " + std::to_string(*at) + ")"};
  }
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(req.body);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for a number beyond a double (1e400).
    return shelfjobs::Error{errc::invalid_body, std::string("the body is not valid JSON: ") + e.what()};
  }
  if (!body.is_object()) return shelfjobs::Error{errc::invalid_body, "the body must be a JSON object"};
  return body;
}

/// `s` as a 64-bit id: the value, or the reason it is not one (out of range, not a whole number).
inline shelfjobs::Result<long long> parse_id(const std::string& s) {
  long long id = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec == std::errc::result_out_of_range)
    return shelfjobs::Error{shelfjobs::errc::invalid_argument, "is out of range"};
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    return shelfjobs::Error{shelfjobs::errc::invalid_argument, "must be a whole number"};
  }
  return id;
}

/// The id in a route's first group (digits only, by the route's pattern). Errors: not_found
/// ("no <what> <digits>") when it does not fit a 64-bit id: no such row can exist, as a
/// Readarr route's int constraint answers 404.
inline shelfjobs::Result<long long> route_id(const httplib::Request& req, const char* what = "row with id") {
  const std::string& s = req.matches[1];
  auto id = parse_id(s);
  if (!id) return shelfjobs::Error{shelfjobs::errc::not_found, "no " + std::string(what) + " " + s};
  return id;
}

/// A query parameter that must be a 64-bit id. Errors: invalid_argument naming the parameter.
inline shelfjobs::Result<long long> query_id(const httplib::Request& req, const std::string& name) {
  const std::string s = req.get_param_value(name);
  auto id = parse_id(s);
  if (!id)
    return shelfjobs::Error{shelfjobs::errc::invalid_argument, name + " '" + s + "' " + id.error().message};
  return id;
}

/// Readarr's paging parameters `page` (from 1) and `pageSize` (1..1000, default
/// `default_size`). Errors: invalid_argument naming the parameter.
inline shelfjobs::Result<std::pair<std::int64_t, std::int64_t>> paging(const httplib::Request& req,
                                                                       std::int64_t default_size = 10) {
  using shelfjobs::errc;
  std::int64_t page = 1, size = default_size;
  if (req.has_param("page")) {
    auto p = query_id(req, "page");
    if (!p) return p.error();
    page = *p;
  }
  if (req.has_param("pageSize")) {
    auto p = query_id(req, "pageSize");
    if (!p) return p.error();
    size = *p;
  }
  if (page < 1) return shelfjobs::Error{errc::invalid_argument, "page must be at least 1"};
  if (size < 1 || size > 1000) return shelfjobs::Error{errc::invalid_argument, "pageSize must be 1 to 1000"};
  return std::pair{page, size};
}

// A query flag as Readarr's clients send it ("true" or "false", any case); `fallback` when absent.
// Errors: invalid_argument naming the parameter.
inline shelfjobs::Result<bool> query_flag(const httplib::Request& req, const char* name, bool fallback) {
  if (!req.has_param(name)) return fallback;
  std::string v = req.get_param_value(name);
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (v == "true") return true;
  if (v == "false") return false;
  return shelfjobs::Error{
      shelfjobs::errc::invalid_argument,
      std::string(name) + " must be true or false, not '" + req.get_param_value(name) + "'"};
}

// An optional boolean field of a body: nullopt when absent or null. Errors: invalid_body.
inline shelfjobs::Result<std::optional<bool>> bool_field(const nlohmann::json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::optional<bool>{};
  if (!it->is_boolean())
    return shelfjobs::Error{shelfjobs::errc::invalid_body,
                            std::string("\"") + key + "\" must be true or false"};
  return std::optional<bool>{it->get<bool>()};
}

// Readarr's two removal choices, deleteFiles and addImportListExclusion (both false when absent).
struct RemovalFlags {
  bool delete_files = false;
  bool exclude = false;
};

// From the query, as a single author's or book's DELETE sends them. Errors: invalid_argument.
inline shelfjobs::Result<RemovalFlags> removal_flags(const httplib::Request& req) {
  const auto delete_files = query_flag(req, "deleteFiles", false);
  if (!delete_files) return delete_files.error();
  const auto exclude = query_flag(req, "addImportListExclusion", false);
  if (!exclude) return exclude.error();
  return RemovalFlags{*delete_files, *exclude};
}

// From the body, as the editors' DELETE sends them. Errors: invalid_body.
inline shelfjobs::Result<RemovalFlags> removal_flags(const nlohmann::json& body) {
  const auto delete_files = bool_field(body, "deleteFiles");
  if (!delete_files) return delete_files.error();
  const auto exclude = bool_field(body, "addImportListExclusion");
  if (!exclude) return exclude.error();
  return RemovalFlags{delete_files->value_or(false), exclude->value_or(false)};
}

// The ids a query parameter lists, repeated (bookIds=1&bookIds=2, as ASP.NET binds a list) or
// separated by commas. Errors: invalid_argument naming the one that is not an id.
inline shelfjobs::Result<std::vector<std::int64_t>> query_ids(const httplib::Request& req, const char* name) {
  std::vector<std::int64_t> out;
  const std::size_t n = req.get_param_value_count(name);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string v = req.get_param_value(name, i);
    std::size_t at = 0;
    while (at <= v.size()) {
      const std::size_t comma = std::min(v.find(',', at), v.size());
      const std::string part = v.substr(at, comma - at);
      auto id = parse_id(part);
      if (!id)
        return shelfjobs::Error{shelfjobs::errc::invalid_argument,
                                std::string(name) + " '" + part + "' " + id.error().message};
      out.push_back(*id);
      at = comma + 1;
    }
  }
  return out;
}

// The day a query parameter names: "2026-12-01", or a time on it ("2026-12-01T18:00:00Z"; the
// calendar is by day, as release dates are). Errors: invalid_argument naming the parameter.
inline shelfjobs::Result<std::chrono::sys_days> query_day(const httplib::Request& req, const char* name) {
  const std::string v = req.get_param_value(name);
  int y = 0;
  unsigned m = 0, d = 0;
  const bool shaped = v.size() >= 10 && v[4] == '-' && v[7] == '-' && (v.size() == 10 || v[10] == 'T');
  auto num = [&](std::size_t at, std::size_t len, auto& out) {
    const auto [end, ec] = std::from_chars(v.data() + at, v.data() + at + len, out);
    return ec == std::errc() && end == v.data() + at + len;
  };
  if (shaped && num(0, 4, y) && num(5, 2, m) && num(8, 2, d)) {
    const std::chrono::year_month_day parsed{std::chrono::year(y), std::chrono::month(m),
                                             std::chrono::day(d)};
    if (parsed.ok()) return std::chrono::sys_days(parsed);
  }
  return shelfjobs::Error{shelfjobs::errc::invalid_argument,
                          std::string(name) + " '" + v + "' is not a date (YYYY-MM-DD)"};
}

// Whether a JSON value is a 64-bit id (a whole number that fits int64).
inline bool is_id(const nlohmann::json& v) {
  return v.is_number_integer() &&
         !(v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t(INT64_MAX));
}

// The ids of a body's `key`: an array of 64-bit ids. Errors: invalid_body.
inline shelfjobs::Result<std::vector<std::int64_t>> body_ids(const nlohmann::json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || !it->is_array())
    return shelfjobs::Error{shelfjobs::errc::invalid_body,
                            std::string("the body needs \"") + key + "\", a list of ids"};
  std::vector<std::int64_t> ids;
  for (const nlohmann::json& v : *it) {
    if (!is_id(v))
      return shelfjobs::Error{shelfjobs::errc::invalid_body,
                              std::string(key) + " holds " + v.dump() + ", which is not an id"};
    ids.push_back(v.get<std::int64_t>());
  }
  return ids;
}

// `ids` with each id once, where it first came (a client may list one twice).
inline void unique_in_order(std::vector<std::int64_t>& ids) {
  std::vector<std::int64_t> seen;
  std::erase_if(ids, [&](std::int64_t id) {
    if (std::find(seen.begin(), seen.end(), id) != seen.end()) return true;
    seen.push_back(id);
    return false;
  });
}

}  // namespace shelfd

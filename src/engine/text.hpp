// SPDX-License-Identifier: MIT
#pragma once
// Text helpers written once. ASCII case folding (command, task and header names, status words):
// locale-free on purpose, a name must match the same way whatever the host's locale. JSON text
// that never throws.
#include <algorithm>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace shelfjobs::detail {

inline char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = ascii_lower(c);
  return out;
}

/// Equal but for ASCII case.
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

/// `s` starts with `prefix`, but for ASCII case.
inline bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

/// `j` as compact JSON text. Text from handlers may hold bytes that are not UTF-8: they become
/// U+FFFD instead of throwing on the caller's thread.
inline std::string json_text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace shelfjobs::detail

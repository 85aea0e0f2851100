// SPDX-License-Identifier: MIT
#pragma once
// What the book-file readers share: errors that name the file, the checks every reader makes
// before handing a file to a library (it exists, is a regular file, is not empty, can be
// opened), UTF-8 repair, and the small text rules (trimming, dates, series positions, choosing
// an ISBN) that must come out the same whichever format a value came from.

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "engine/utf8.hpp"
#include "shelfjobs/adapters/book_metadata.hpp"
#include "shelfjobs/engine/error.hpp"

namespace shelfjobs::files {

inline Error file_error(errc code, const std::filesystem::path& path, std::string_view reason) {
  return Error{code, path.string() + ": " + std::string(reason)};
}

inline Error bad_file(const std::filesystem::path& path, std::string_view reason) {
  return file_error(errc::bad_file, path, reason);
}

// The reason of an errno value, through std::error_code (strerror_r underneath: strerror's
// buffer is not thread-safe for every value).
inline std::string errno_text(int e) { return std::error_code(e, std::generic_category()).message(); }

// Before a library sees the file: a missing file is not_found, a folder or device bad_file, an
// empty file bad_file ("empty file"), one that cannot be opened unavailable with the system's
// reason. Libraries report all of these as one vague failure (TagLib's null FileRef, libzip's
// "open error"), so they are told apart here. Returns the size.
inline Result<std::uintmax_t> check_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) {
    if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
      return file_error(errc::unavailable, path, ec.message());
    return file_error(errc::not_found, path, "no such file");
  }
  if (!std::filesystem::is_regular_file(st)) return bad_file(path, "not a regular file");
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return file_error(errc::unavailable, path, ec.message());
  if (size == 0) return bad_file(path, "empty file");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    const int e = errno;
    return file_error(e == ENOENT ? errc::not_found : errc::unavailable, path, errno_text(e));
  }
  std::fclose(f);
  return size;
}

// `s` with every byte that is not part of a valid UTF-8 sequence (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF, no truncated sequence) replaced by U+FFFD.
inline std::string valid_utf8(std::string_view s) { return detail::utf8_repair(s); }

inline bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

inline std::string_view trim_view(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Text from a file as a field: valid UTF-8, runs of white space (line breaks inside an XML
// element, a tag's padding) made one space, trimmed.
inline std::string clean_text(std::string_view raw) {
  const std::string s = valid_utf8(raw);
  std::string out;
  out.reserve(s.size());
  bool space = false;
  for (const char c : s) {
    if (is_space(c) || c == '\0') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// A date as books write it: "2001", "2001-02", "2001-02-03", or an ISO 8601 time stamp
// ("2001-02-03T00:00:00+00:00"). A full date sets both fields, a lone year or year-month only
// the year. Anything else changes nothing: a bad date is no reason to lose the rest.
inline void set_date(BookMetadata& m, std::string_view text) {
  const std::string_view s = trim_view(text);
  auto num = [&](std::size_t pos, std::size_t len, int& out) {
    if (pos + len > s.size()) return false;
    const char* b = s.data() + pos;
    const char* e = b + len;
    auto [ptr, ec] = std::from_chars(b, e, out);
    return ec == std::errc() && ptr == e;
  };
  int y = 0, mo = 0, d = 0;
  if (!num(0, 4, y) || y < 1000) return;
  if (s.size() > 4 && s[4] != '-') return;
  if (s.size() >= 10 && s[7] == '-' && num(5, 2, mo) && num(8, 2, d) &&
      (s.size() == 10 || s[10] == 'T' || s[10] == ' ')) {
    const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(static_cast<unsigned>(mo)),
                                          std::chrono::day(static_cast<unsigned>(d))};
    if (!ymd.ok()) return;
    m.release_date = Date(ymd);
  }
  m.release_year = y;
}

// calibre writes series_index as a float ("2.0", "1.5"); Readarr keeps positions as text.
// Returns the number without trailing zeros ("2", "1.5"), or "" when `text` is not a
// non-negative decimal number.
inline std::string series_position(std::string_view text) {
  std::string_view s = trim_view(text);
  if (s.empty()) return {};
  const std::size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
  auto digits = [](std::string_view d) {
    for (const char c : d)
      if (c < '0' || c > '9') return false;
    return true;
  };
  if (whole.empty() || !digits(whole) || !digits(frac)) return {};
  while (whole.size() > 1 && whole.front() == '0') whole.remove_prefix(1);
  while (!frac.empty() && frac.back() == '0') frac.remove_suffix(1);
  // Appended piece by piece: GCC 12 at -O2 misreads `"." + std::string(frac)` as an overflow
  // (-Wstringop-overflow, a false positive).
  std::string out(whole);
  if (!frac.empty()) {
    out.push_back('.');
    out.append(frac.data(), frac.size());
  }
  return out;
}

// Sets isbn13/isbn10 from the candidates in the file's order: Readarr's preference, a valid
// 978 ISBN first, then 979, then the first valid one (an ISBN-10 converts to 978 anyway, so
// in practice: the first 978-or-ISBN-10, else the first 979).
inline void choose_isbn(BookMetadata& m, const std::vector<std::string>& candidates) {
  std::optional<Isbn> best;
  for (const auto& c : candidates) {
    auto isbn = parse_isbn(c);
    if (!isbn) continue;
    if (isbn->isbn13.starts_with("978")) {
      best = std::move(isbn);
      break;
    }
    if (!best) best = std::move(isbn);
  }
  if (best) {
    m.isbn13 = best->isbn13;
    m.isbn10 = best->isbn10;
  }
}

// Adds a contributor unless one of the same name and role is there already (a MOBI repeats its
// authors in the KF8 part, a PDF may list a name twice).
inline void add_contributor(BookMetadata& m, std::string_view name, std::string_view role,
                            std::string_view file_as = {}) {
  Contributor c{clean_text(name), clean_text(role), clean_text(file_as)};
  if (c.name.empty()) return;
  for (auto& r : c.role) r = static_cast<char>(r >= 'A' && r <= 'Z' ? r - 'A' + 'a' : r);
  for (const auto& e : m.contributors)
    if (e.name == c.name && e.role == c.role) return;
  m.contributors.push_back(std::move(c));
}

}  // namespace shelfjobs::files

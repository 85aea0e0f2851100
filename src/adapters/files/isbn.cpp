// SPDX-License-Identifier: MIT
// ISBN checksums and normalisation. Files write ISBNs every way ("978-0-306-40615-7",
// "urn:isbn:0306406152", "ISBN 0 306 40615 2"); the catalog and the matching compare them as
// bare ISBN-13 digits, so that is what a reader keeps, and only when the checksum holds: a typo
// would otherwise match the wrong edition.

#include <string>
#include <string_view>

#include "engine/text.hpp"
#include "shelfjobs/adapters/book_metadata.hpp"

namespace shelfjobs {

namespace {

// ISBN-10: weights 10..1, the sum divisible by 11; 'X' (10) only as the check character.
bool isbn10_ok(std::string_view d) {
  int sum = 0;
  for (std::size_t i = 0; i < 10; ++i) {
    const char c = d[i];
    int v = 0;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c == 'X' && i == 9) {
      v = 10;
    } else {
      return false;
    }
    sum += v * static_cast<int>(10 - i);
  }
  return sum % 11 == 0;
}

// ISBN-13 (EAN-13): weights 1,3,1,3,...; the sum divisible by 10.
int ean13_check_digit(std::string_view first12) {
  int sum = 0;
  for (std::size_t i = 0; i < 12; ++i) sum += (first12[i] - '0') * (i % 2 == 0 ? 1 : 3);
  return (10 - sum % 10) % 10;
}

bool all_digits(std::string_view d) {
  for (const char c : d)
    if (c < '0' || c > '9') return false;
  return true;
}

std::string isbn10_of_978(std::string_view isbn13) {
  std::string out(isbn13.substr(3, 9));
  int sum = 0;
  for (std::size_t i = 0; i < 9; ++i) sum += (out[i] - '0') * static_cast<int>(10 - i);
  const int check = (11 - sum % 11) % 11;
  out += check == 10 ? 'X' : static_cast<char>('0' + check);
  return out;
}

}  // namespace

std::optional<Isbn> parse_isbn(std::string_view text) {
  // "urn:isbn:" and "isbn:" prefixes go first: their letters are not part of the number, and
  // a stray 'X' must not come from them.
  std::string_view s = text;
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  if (detail::istarts_with(s, "urn:isbn:")) s.remove_prefix(9);
  if (detail::istarts_with(s, "isbn:")) s.remove_prefix(5);
  if (detail::istarts_with(s, "isbn")) s.remove_prefix(4);
  std::string d;
  for (const char c : s) {
    if (c >= '0' && c <= '9') {
      d += c;
    } else if (c == 'X' || c == 'x') {
      d += 'X';
    } else if (c != '-' && c != ' ' && c != '\t' && c != '.' && c != ':') {
      return std::nullopt;  // other letters: not an ISBN but some other identifier
    }
    if (d.size() > 13) return std::nullopt;
  }
  if (d.size() == 10) {
    if (!isbn10_ok(d)) return std::nullopt;
    std::string isbn13 = "978" + d.substr(0, 9);
    isbn13 += static_cast<char>('0' + ean13_check_digit(isbn13));
    return Isbn{std::move(isbn13), std::move(d)};
  }
  if (d.size() == 13) {
    if (!all_digits(d) || !(d.starts_with("978") || d.starts_with("979"))) return std::nullopt;
    if (ean13_check_digit(d) != d[12] - '0') return std::nullopt;
    std::string isbn10 = d.starts_with("978") ? isbn10_of_978(d) : std::string();
    return Isbn{std::move(d), std::move(isbn10)};
  }
  return std::nullopt;
}

}  // namespace shelfjobs

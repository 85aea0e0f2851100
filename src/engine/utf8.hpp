// SPDX-License-Identifier: MIT
#pragma once
// UTF-8 checks written once. File names on Linux are bytes, not text: a name copied from an old
// FAT stick or a Latin-1 tarball may hold bytes that are not UTF-8. Paths keep those bytes (so
// the file can still be opened), and only the text shown to people or written into a new name
// is repaired. The rules are the strict ones of RFC 3629: no overlong forms, no surrogates,
// nothing above U+10FFFF, so a repaired string is valid for JSON and SQLite alike.
#include <cstddef>
#include <string>
#include <string_view>

namespace shelfjobs::detail {

/// The length of the valid UTF-8 sequence starting at `s[i]`, or 0 when the bytes there are not
/// one (a stray continuation byte, a truncated, overlong or surrogate sequence).
inline std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  return n;
}

inline bool utf8_valid(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

/// `s` with every byte that does not belong to a valid sequence replaced by U+FFFD.
inline std::string utf8_repair(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

/// The longest prefix of valid UTF-8 `s` that is at most `max_bytes` long and ends on a
/// character boundary.
inline std::size_t utf8_prefix_length(std::string_view s, std::size_t max_bytes) noexcept {
  if (s.size() <= max_bytes) return s.size();
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return cut;
}

}  // namespace shelfjobs::detail

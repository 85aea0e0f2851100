// SPDX-License-Identifier: MIT
#pragma once
// The content hash, written once: 64-bit FNV-1a, for telling changed data from the same (the
// metadata hashes the catalog stores). Not for security. Its values are stored, so it stays as
// it is: a different hash would make every author and book look changed once.
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace shelfjobs::detail {

/// 64-bit FNV-1a of the bytes of `s`.
constexpr std::uint64_t fnv1a(std::string_view s) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;  // offset basis
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;  // FNV prime
  }
  return h;
}

/// fnv1a(s) as 16 lowercase hex digits, the form in which content hashes are stored.
inline std::string fnv1a_hex(std::string_view s) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(fnv1a(s)));
  return buf;
}

}  // namespace shelfjobs::detail

// SPDX-License-Identifier: MIT
// The shared content hash (src/engine/hash.hpp) against the published FNV-1a 64 values: stored
// hashes depend on it never changing.

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "engine/hash.hpp"

using shelfjobs::detail::fnv1a;
using shelfjobs::detail::fnv1a_hex;

TEST_CASE("fnv1a gives the published FNV-1a 64 values", "[engine][hash]") {
  CHECK(fnv1a("") == 0xcbf29ce484222325ull);  // the offset basis
  CHECK(fnv1a("a") == 0xaf63dc4c8601ec8cull);
  CHECK(fnv1a("foobar") == 0x85944171f73967e8ull);
  static_assert(fnv1a("a") == 0xaf63dc4c8601ec8cull, "usable at compile time");
}

TEST_CASE("fnv1a_hex is 16 lowercase hex digits, leading zeros kept, every byte counted", "[engine][hash]") {
  CHECK(fnv1a_hex("") == "cbf29ce484222325");
  CHECK(fnv1a_hex("a") == "af63dc4c8601ec8c");
  CHECK(fnv1a_hex("foobar") == "85944171f73967e8");
  // Bytes above 0x7f count as unsigned, and an embedded NUL is part of the text.
  CHECK(fnv1a_hex(std::string_view("\xff\0z", 3)) == "f920af1be415a5b0");
  CHECK(fnv1a_hex(std::string_view("\xff\0z", 3)) != fnv1a_hex(std::string_view("\xff", 1)));
}

// SPDX-License-Identifier: MIT
#pragma once
// Helpers shared by the download-client tests: files of pseudo-random bytes (write_file is
// file_tree.hpp's), and a poll of a client until one of its items reaches a state.

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "file_tree.hpp"
#include "shelfjobs/adapters/download_client.hpp"
#include "torrent_maker.hpp"

namespace testing {

/// True when the daemon `binary` is there. Without it a test returns with a warning, unless
/// SHELFJOBS_REQUIRE_DAEMONS is set (tests/run_all.sh sets it, after .ci/install-deps installed
/// the daemons): then a missing daemon fails the test instead of passing it unseen.
inline bool daemon_installed(const std::filesystem::path& binary, const char* package) {
  if (std::filesystem::exists(binary)) return true;
  if (std::getenv("SHELFJOBS_REQUIRE_DAEMONS") != nullptr)
    FAIL(package << " is not installed at " << binary << " (.ci/install-deps installs it)");
  WARN(package << " is not installed (.ci/install-deps installs it); test skipped");
  return false;
}

/// `n` bytes that do not compress and differ by `seed` (xorshift).
inline std::string random_bytes(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

/// Polls `client` until its item `id` in `category` satisfies `done`, for up to `limit`; the
/// last state seen (or nullopt when the item never showed).
template <class F>
std::optional<shelfjobs::DownloadItem> wait_for_item(
    shelfjobs::DownloadClient& client, const std::string& category, const std::string& id, F done,
    std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  std::optional<shelfjobs::DownloadItem> last;
  while (std::chrono::steady_clock::now() < until) {
    auto items = client.items(category);
    if (items)
      for (const auto& i : *items)
        if (i.id == id) {
          last = i;
          if (done(i)) return last;
        }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return last;
}

}  // namespace testing

// SPDX-License-Identifier: MIT
#pragma once
// Helpers shared by the download-client tests: files of pseudo-random bytes (write_file is
// file_tree.hpp's), and a poll of a client until one of its items reaches a state.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "file_tree.hpp"
#include "shelfjobs/adapters/download_client.hpp"
#include "torrent_maker.hpp"

namespace testing {

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

// SPDX-License-Identifier: MIT
#include "engine/usable_cores.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <string>
#include <thread>

namespace shelfjobs::detail {

namespace {

std::optional<long long> positive(std::string_view s) {
  long long v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// The cgroup v2 quota of this process: its own group's cpu.max (the line "0::/path" of
// /proc/self/cgroup), else the root's, which a container sees as its own.
std::optional<int> cgroup_cores() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) != 0) continue;
    if (auto c = cores_from_cpu_max(read_first_line("/sys/fs/cgroup" + line.substr(3) + "/cpu.max")))
      return c;
  }
  return cores_from_cpu_max(read_first_line("/sys/fs/cgroup/cpu.max"));
}

}  // namespace

std::optional<int> cores_from_cpu_max(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  const auto space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const auto quota = positive(text.substr(0, space));
  const auto period = positive(text.substr(space + 1));
  if (!quota || !period) return std::nullopt;
  const long long cores = (*quota + *period - 1) / *period;
  return static_cast<int>(std::min<long long>(cores, 1 << 20));
}

int usable_cores() {
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int pinned = CPU_COUNT(&set);
    if (pinned > 0 && (cores <= 0 || pinned < cores)) cores = pinned;
  }
  if (auto quota = cgroup_cores(); quota && (cores <= 0 || *quota < cores)) cores = *quota;
  return std::max(1, cores);
}

}  // namespace shelfjobs::detail

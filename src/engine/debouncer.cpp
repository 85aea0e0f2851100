// SPDX-License-Identifier: MIT
// A plain trailing-edge debounce starves under a steady stream (each request moves the window);
// the maximum wait bounds that, counted from the first request the burst left pending.

#include "engine/debouncer.hpp"

#include <algorithm>

namespace shelfjobs::detail {

TimePoint Debouncer::request(Prepared p, TimePoint now, std::chrono::milliseconds window,
                             std::chrono::milliseconds max_wait) {
  std::string key = p.key;
  auto it = pending_.find(key);
  if (it == pending_.end()) {
    Pending fresh{std::move(p), now + window, std::nullopt};
    if (max_wait.count() > 0) fresh.latest = now + max_wait;
    it = pending_.emplace(std::move(key), std::move(fresh)).first;
  } else {
    it->second.prepared = std::move(p);
    it->second.deadline = now + window;
  }
  if (it->second.latest) it->second.deadline = std::min(it->second.deadline, *it->second.latest);
  return it->second.deadline;
}

std::optional<Prepared> Debouncer::due(const std::string& key, TimePoint now) {
  auto it = pending_.find(key);
  if (it == pending_.end() || it->second.deadline > now) return std::nullopt;  // moved later
  Prepared p = std::move(it->second.prepared);
  pending_.erase(it);
  return p;
}

}  // namespace shelfjobs::detail

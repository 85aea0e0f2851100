// SPDX-License-Identifier: MIT
#pragma once
// The debouncer: a burst of equal requests (same dedup key) becomes one push once a window has
// passed without another; with a maximum wait, a steady stream still pushes at least once per
// maximum wait instead of never. The engine arms a timer for each returned deadline and asks
// `due` when it fires. A due push never merges into a running twin: a window that ends while an
// equal job runs leaves one run after it.
//
// Thread-safety: none. The engine uses it on its dispatcher strand only.

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "engine/admission.hpp"

namespace shelfjobs::detail {

class Debouncer {
 public:
  /// Records a request (the latest of a key replaces the earlier one's body and options) and
  /// returns the deadline at which it may be due: `now + window`, but no later than
  /// `max_wait` (0: none) after the first request of the burst.
  TimePoint request(Prepared p, TimePoint now, std::chrono::milliseconds window,
                    std::chrono::milliseconds max_wait);
  /// The pending request of `key` if its deadline has passed at `now`; it leaves the debouncer.
  std::optional<Prepared> due(const std::string& key, TimePoint now);
  std::size_t pending() const { return pending_.size(); }
  void clear() { pending_.clear(); }

 private:
  struct Pending {
    Prepared prepared;
    TimePoint deadline;
    std::optional<TimePoint> latest;  // first request + max_wait
  };
  std::map<std::string, Pending> pending_;
};

}  // namespace shelfjobs::detail

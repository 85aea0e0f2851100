// SPDX-License-Identifier: MIT
#pragma once
// The event hub: hands host events from the dispatcher strand to subscribers. Each subscriber has
// a bounded queue and a delivery thread of its own, so no host code runs on the strand and a
// slow subscriber delays only itself. A full queue applies the subscriber's overflow policy and
// counts what it dropped.
//
// Delivery is batched: the first event of a batch wakes the delivery thread, which lets the
// burst gather for a few milliseconds (4) and then hands the events over in order.
//
// Thread-safety: every member may be called from any thread. `publish` takes one short lock per
// subscriber and never blocks on delivery. `remove` may be called from inside the subscriber's
// own callback (it then returns without waiting for itself).

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include <spdlog/fwd.h>

#include "engine/sync.hpp"
#include "shelfjobs/engine/host_events.hpp"

namespace shelfjobs::detail {

class EventHub {
 public:
  explicit EventHub(std::shared_ptr<spdlog::logger> log);
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  std::uint64_t add(HostObserver fn, SubscribeOptions options);
  /// Stops delivery to `id`: events still queued are discarded; waits for a callback in progress
  /// unless called from it.
  void remove(std::uint64_t id);
  /// True when some subscriber wants events of any of these `EventKinds` bits: lets the engine
  /// skip building events nobody reads.
  bool wants(unsigned kinds) const { return (wanted_.load(std::memory_order_relaxed) & kinds) != 0; }
  /// The EventKinds bits of an event.
  static unsigned kinds_of(const HostEvent& event);
  /// The kinds of a job event of this type (so a publisher can ask wants() before building it).
  static unsigned kinds_of(JobEvent::Type type);
  void publish(HostEvent event);
  /// Events dropped by full queues so far.
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  /// Delivers what is queued, then ends every delivery thread. Idempotent.
  void close();

 private:
  struct Sub;
  void run(const std::shared_ptr<Sub>& sub);

  std::shared_ptr<spdlog::logger> log_;
  Mutex mu_;
  // Copy-on-write: publish takes the current list with one reference count, not a vector copy.
  using List = std::vector<std::shared_ptr<Sub>>;
  std::shared_ptr<const List> subs_ GUARDED_BY(mu_) = std::make_shared<const List>();
  std::uint64_t next_id_ GUARDED_BY(mu_) = 1;
  bool closed_ GUARDED_BY(mu_) = false;
  void recompute_wanted() REQUIRES(mu_);
  std::atomic<unsigned> wanted_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace shelfjobs::detail

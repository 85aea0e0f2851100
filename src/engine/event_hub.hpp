// SPDX-License-Identifier: MIT
#pragma once
// The event hub: hands host events from the dispatcher strand to subscribers. Each subscriber has
// a bounded queue and a delivery thread of its own, so no host code runs on the strand and a
// slow subscriber delays only itself. A full queue applies the subscriber's overflow policy and
// counts what it dropped.
//
// Delivery is batched: the first event of a batch wakes the delivery thread, which lets the
// burst gather for the subscriber's linger (SubscribeOptions::linger, 12 ms by default) and then
// hands the events over in order.
//
// A job event, nearly every event there is, travels without allocating: the publisher lends its
// fields (JobEventFields), the hub copies them into a small record and their text into the
// queue's character buffer, and the delivery thread expands each record into one JobEvent it
// reuses. Both buffers keep their room from batch to batch.
//
// Thread-safety: every member may be called from any thread. `publish` takes one short lock per
// subscriber and never blocks on delivery. `remove` may be called from inside the subscriber's
// own callback (it then returns without waiting for itself).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include <spdlog/fwd.h>

#include "engine/sync.hpp"
#include "shelfjobs/engine/host_events.hpp"

namespace shelfjobs::detail {

/// A job event's fields, lent by the publisher for the length of EventHub::publish_job (the
/// strings and the body are read there, not kept).
struct JobEventFields {
  JobEvent::Type type = JobEvent::Type::queued;
  JobId id = 0;
  std::string_view name;
  JobStatus status = JobStatus::queued;
  Priority priority = Priority::normal;
  Trigger trigger = Trigger::manual;
  int attempt = 1;
  int max_attempts = 1;
  std::int64_t progress_current = 0;
  std::int64_t progress_total = 0;
  std::string_view progress_message;
  std::string_view message;
  ErrorKind error_kind = ErrorKind::none;
  std::string_view error;
  std::string_view task;
  TimePoint queued_at{};
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> ended_at;
  std::chrono::milliseconds duration{0};
  std::optional<TimePoint> not_before;
  const std::shared_ptr<const nlohmann::json>* body = nullptr;  // null: no body
};

/// The fields of `job` (a JobInfo or a JobDelta) as an event of `type`, with `progress` for its
/// progress and `body` for its body.
template <class Job>
JobEventFields job_fields(JobEvent::Type type, const Job& job,
                          const std::shared_ptr<const nlohmann::json>& body, const Progress& progress) {
  return JobEventFields{.type = type,
                        .id = job.id,
                        .name = job.name,
                        .status = job.status,
                        .priority = job.priority,
                        .trigger = job.trigger,
                        .attempt = job.attempt,
                        .max_attempts = job.max_attempts,
                        .progress_current = progress.current,
                        .progress_total = progress.total,
                        .progress_message = progress.message,
                        .message = job.message,
                        .error_kind = job.error_kind,
                        .error = job.error,
                        .task = job.task,
                        .queued_at = job.queued_at,
                        .started_at = job.started_at,
                        .ended_at = job.ended_at,
                        .duration = job.duration,
                        .not_before = job.not_before,
                        .body = &body};
}

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
  /// publish() for a job event, from fields the caller lends for the call: nothing is allocated
  /// once the subscribers' queues have grown to their usual size.
  void publish_job(const JobEventFields& fields);
  /// Bytes of event text the subscribers' queues hold now (diagnostics and tests).
  std::size_t text_held() const;
  /// Events dropped by full queues so far.
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  /// Delivers what is queued, then ends every delivery thread. Idempotent.
  void close();

 private:
  struct Sub;
  void run(const std::shared_ptr<Sub>& sub);
  static void retire(Sub& sub);

  std::shared_ptr<spdlog::logger> log_;
  mutable Mutex mu_;
  // Copy-on-write: publish takes the current list with one reference count, not a vector copy.
  using List = std::vector<std::shared_ptr<Sub>>;
  std::shared_ptr<const List> subs_ GUARDED_BY(mu_) = std::make_shared<const List>();
  std::uint64_t next_id_ GUARDED_BY(mu_) = 1;
  // Moves (under mu_) with every change of subs_: publishers re-read the list only then.
  std::atomic<std::uint64_t> version_{0};
  const std::uint64_t uid_;  // tells hubs apart in the publishers' caches; never reused
  const List& cached_list() EXCLUDES(mu_);
  bool closed_ GUARDED_BY(mu_) = false;
  void recompute_wanted() REQUIRES(mu_);
  std::atomic<unsigned> wanted_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace shelfjobs::detail

// SPDX-License-Identifier: MIT
// One thread per subscriber rather than one for all: a host that blocks in its callback (a
// webhook, a slow SSE client) must not hold back the dashboard or the notifier. Hosts have a
// handful of subscribers, so the threads are few.

#include "engine/event_hub.hpp"

#include <cstddef>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

namespace shelfjobs::detail {

namespace {
// How long a delivery thread lets events gather once the first of a batch arrives: the latency
// a host sees, traded for one wake-up per batch instead of one per event. At 1 ms a busy engine
// (60,000 jobs and 240,000 events a second on two cores) lost a fifth of its throughput to a
// subscriber; at 4 ms a tenth (engine_bench, back to back, 3 December 2026).
constexpr std::chrono::milliseconds kLinger{4};
}  // namespace

// A subscriber's queue: a FIFO on a vector, handed to the delivery thread whole (swap) and
// handed back empty with its room, so a steady stream of events allocates nothing. A
// std::deque of HostEvent (312 bytes, more than half of libstdc++'s 512-byte node) allocated a
// node on the strand for each event and freed it on the delivery thread.
struct SubscriberQueue {
  std::vector<HostEvent> items;
  std::size_t head = 0;  // the events before it were dropped (drop_oldest)

  bool empty() const { return head == items.size(); }
  std::size_t size() const { return items.size() - head; }
  HostEvent& back() { return items.back(); }
  void push_back(HostEvent e) { items.push_back(std::move(e)); }
  void pop_front() {
    items[head++] = HostEvent{};  // its strings and body go now, not when the queue is taken
    // A full queue drops one event per event published: close the gap once it is half the
    // vector, so each drop costs O(1) amortized and the vector stays within twice the capacity.
    if (head * 2 >= items.size()) {
      items.erase(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(head));
      head = 0;
    }
  }
  void clear() {
    items.clear();
    head = 0;
  }
  void swap(SubscriberQueue& other) noexcept {
    items.swap(other.items);
    std::swap(head, other.head);
  }
  auto begin() { return items.begin() + static_cast<std::ptrdiff_t>(head); }
  auto end() { return items.end(); }
};

struct EventHub::Sub {
  std::uint64_t id = 0;
  HostObserver fn;
  SubscribeOptions options;
  Mutex mu;
  std::condition_variable cv;
  SubscriberQueue queue GUARDED_BY(mu);
  bool stopping GUARDED_BY(mu) = false;
  bool drain GUARDED_BY(mu) = false;  // deliver what is queued before ending
  std::atomic<bool> removed{false};   // unsubscribed: stop delivering, even mid-batch
  std::thread thread;
};

EventHub::EventHub(std::shared_ptr<spdlog::logger> log) : log_(std::move(log)) {}

EventHub::~EventHub() { close(); }

std::uint64_t EventHub::add(HostObserver fn, SubscribeOptions options) {
  auto sub = std::make_shared<Sub>();
  sub->fn = std::move(fn);
  if (options.capacity == 0) options.capacity = 1;
  sub->options = options;
  MutexLock lock(mu_);
  if (closed_) return 0;
  sub->id = next_id_++;
  sub->thread = std::thread([this, sub] { run(sub); });
  auto list = std::make_shared<List>(*subs_);
  list->push_back(sub);
  subs_ = std::move(list);
  recompute_wanted();
  return sub->id;
}

void EventHub::remove(std::uint64_t id) {
  std::shared_ptr<Sub> sub;
  {
    MutexLock lock(mu_);
    auto list = std::make_shared<List>(*subs_);
    for (auto it = list->begin(); it != list->end(); ++it) {
      if ((*it)->id == id) {
        sub = *it;
        list->erase(it);
        subs_ = std::move(list);
        recompute_wanted();
        break;
      }
    }
  }
  if (!sub) return;
  sub->removed.store(true, std::memory_order_relaxed);
  {
    MutexLock lock(sub->mu);
    sub->stopping = true;
    sub->queue.clear();
  }
  sub->cv.notify_all();
  if (sub->thread.get_id() == std::this_thread::get_id()) {
    sub->thread.detach();  // removed from its own callback: it ends when the callback returns
  } else {
    sub->thread.join();
  }
}

unsigned EventHub::kinds_of(JobEvent::Type type) {
  if (type == JobEvent::Type::progress) return kProgressEvents;
  return type == JobEvent::Type::failed ? kJobEvents | kFailureEvents : kJobEvents;
}

unsigned EventHub::kinds_of(const HostEvent& event) {
  struct Visit {
    unsigned operator()(const JobEvent& e) const { return kinds_of(e.type); }
    unsigned operator()(const TaskChanged&) const { return kTaskEvents; }
    unsigned operator()(const AlertChanged&) const { return kAlertEvents; }
    unsigned operator()(const ServiceEvent&) const { return kDomainEvents; }
    unsigned operator()(const MinuteClosed&) const { return kMinuteEvents; }
  };
  return std::visit(Visit{}, event);
}

void EventHub::recompute_wanted() {
  unsigned wanted = 0;
  for (const auto& sub : *subs_) wanted |= sub->options.kinds;
  wanted_.store(wanted, std::memory_order_relaxed);
}

void EventHub::publish(HostEvent event) {
  const unsigned kinds = kinds_of(event);
  if (!wants(kinds)) return;
  std::shared_ptr<const List> list;
  {
    MutexLock lock(mu_);
    list = subs_;
  }
  const auto* job = std::get_if<JobEvent>(&event);
  const bool progress = job && job->type == JobEvent::Type::progress;
  // The last subscriber that takes it gets the event itself, the others a copy: with one
  // subscriber (the usual host) nothing is copied on the strand.
  std::size_t last_taker = list->size();
  for (std::size_t i = list->size(); i-- > 0;) {
    if (((*list)[i]->options.kinds & kinds) != 0) {
      last_taker = i;
      break;
    }
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    const auto& sub = (*list)[i];
    auto take = [&]() -> HostEvent { return i == last_taker ? std::move(event) : HostEvent(event); };
    bool wake = false;
    {
      MutexLock lock(sub->mu);
      if (sub->stopping || (sub->options.kinds & kinds) == 0) continue;
      auto& q = sub->queue;
      if (progress && sub->options.coalesce_progress && !q.empty()) {
        // The newest queued event is this job's progress: replace it rather than queue more.
        if (auto* last = std::get_if<JobEvent>(&q.back());
            last && last->type == JobEvent::Type::progress && last->job.id == job->job.id) {
          q.back() = take();
          continue;
        }
      }
      if (q.size() >= sub->options.capacity) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        if (sub->options.overflow == Overflow::drop_newest) continue;
        q.pop_front();
      }
      // Only the first event of a batch wakes the delivery thread; it takes the rest with it.
      wake = q.empty();
      q.push_back(take());
    }
    if (wake) sub->cv.notify_one();
  }
}

void EventHub::run(const std::shared_ptr<Sub>& sub) {
  SubscriberQueue batch;
  for (;;) {
    {
      MutexLock lock(sub->mu);
      while (sub->queue.empty() && !sub->stopping) lock.wait(sub->cv);
      if (sub->queue.empty() || (sub->stopping && !sub->drain)) return;
      if (!sub->stopping) {
        // Let a burst gather for a moment: a wake-up per event costs the publishing strand more
        // than the event itself (a futex round trip on every job change); a batch costs one.
        // Nothing notifies meanwhile (the queue is not empty) but a stop or a removal.
        lock.wait_until(sub->cv, std::chrono::steady_clock::now() + kLinger);
        if (sub->stopping && !sub->drain) return;
      }
      batch.swap(sub->queue);
    }
    for (auto& ev : batch) {
      if (sub->removed.load(std::memory_order_relaxed)) break;
      try {
        sub->fn(ev);
      } catch (const std::exception& e) {
        log_->warn("event subscriber {} threw: {}", sub->id, e.what());
      } catch (...) {
        log_->warn("event subscriber {} threw", sub->id);
      }
    }
    batch.clear();
  }
}

void EventHub::close() {
  std::shared_ptr<const List> subs;
  {
    MutexLock lock(mu_);
    if (closed_) return;
    closed_ = true;
    subs = std::exchange(subs_, std::make_shared<const List>());
    wanted_.store(0, std::memory_order_relaxed);
  }
  for (const auto& sub : *subs) {
    {
      MutexLock lock(sub->mu);
      sub->stopping = true;
      sub->drain = true;
    }
    sub->cv.notify_all();
  }
  for (const auto& sub : *subs) {
    if (sub->thread.get_id() == std::this_thread::get_id()) {
      sub->thread.detach();
    } else if (sub->thread.joinable()) {
      sub->thread.join();
    }
  }
}

}  // namespace shelfjobs::detail

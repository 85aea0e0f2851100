// SPDX-License-Identifier: MIT
// One thread per subscriber rather than one for all: a host that blocks in its callback (a
// webhook, a slow SSE client) must not hold back the dashboard or the notifier. Hosts have a
// handful of subscribers, so the threads are few.

#include "engine/event_hub.hpp"
#include "engine/thread_name.hpp"

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

namespace shelfjobs::detail {

// One queued event. A job event is its fields, with its five strings (name, progress message,
// message, error, task) one after another in the queue's text; any other event (tasks, alerts,
// domain events, minutes: a few a minute) is held whole in `other`.
//
// Why not the HostEvent itself: a JobEvent is 312 bytes with five strings, each a heap block
// past 15 characters, copied on the strand or a worker and freed on the delivery thread. With
// more threads than the C library has heap arenas (eight per core), threads share arenas, and
// these frees and allocations then contended with the store's writer (the engine's busiest
// thread, whose SQLite allocates on every statement) for the arena locks. engine_bench's events
// run, CPU of the engine's own threads per job, with a subscriber minus without, 4 December 2026:
// 3.7 to 5.6 us with HostEvents queued, 1.1 to 2.9 us with records and text (four runs each);
// the writer's part went from 1.3 to 1.8 us to nothing in three runs of the four.
struct QueuedEvent {
  static constexpr std::size_t kTexts = 5;
  JobEvent::Type type = JobEvent::Type::queued;
  JobStatus status = JobStatus::queued;
  Priority priority = Priority::normal;
  Trigger trigger = Trigger::manual;
  ErrorKind error_kind = ErrorKind::none;
  bool has_started = false;
  bool has_ended = false;
  bool has_not_before = false;
  int attempt = 1;
  int max_attempts = 1;
  JobId id = 0;
  std::int64_t progress_current = 0;
  std::int64_t progress_total = 0;
  TimePoint queued_at{};
  TimePoint started_at{};
  TimePoint ended_at{};
  TimePoint not_before{};
  std::chrono::milliseconds duration{0};
  std::shared_ptr<const nlohmann::json> body;
  std::size_t text_at = 0;  // where its strings start in the queue's text
  std::array<std::uint32_t, kTexts> lengths{};
  std::unique_ptr<HostEvent> other;

  std::size_t text_size() const {
    std::size_t n = 0;
    for (auto l : lengths) n += l;
    return n;
  }
};

// A subscriber's queue: a FIFO of records on a vector and the text of their strings, handed to
// the delivery thread whole (swap) and handed back empty with their room, so a steady stream of
// events allocates nothing.
class SubscriberQueue {
 public:
  bool empty() const { return head_ == items_.size(); }
  std::size_t size() const { return items_.size() - head_; }
  QueuedEvent& back() { return items_.back(); }

  void push_job(const JobEventFields& f) {
    items_.emplace_back();
    fill(items_.back(), f);
  }
  // Replaces the newest record with `f` (a newer progress of the same job). Its old text stays
  // behind until the queue is taken or compacted.
  void replace_back(const JobEventFields& f) {
    live_text_ -= items_.back().text_size();
    fill(items_.back(), f);
    compact_if_sparse();
  }
  // Room for one more event: a full queue drops its oldest event (drop_oldest) or tells the
  // caller to drop the new one (false, drop_newest), counting either in `dropped`.
  bool make_room(const SubscribeOptions& options, std::atomic<std::uint64_t>& dropped) {
    if (size() < options.capacity) return true;
    dropped.fetch_add(1, std::memory_order_relaxed);
    if (options.overflow == Overflow::drop_newest) return false;
    pop_front();
    return true;
  }
  void push_other(HostEvent e) {
    items_.emplace_back();
    items_.back().other = std::make_unique<HostEvent>(std::move(e));
  }
  void pop_front() {
    auto& dropped = items_[head_++];
    live_text_ -= dropped.text_size();
    dropped.body.reset();  // its body and event go now, not when the queue is taken
    dropped.other.reset();
    // A full queue drops one event per event published: close the gap once it is half the
    // vector, so each drop costs O(1) amortized and the vector stays within twice the capacity.
    if (head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
      compact_text();
    }
  }
  void clear() {
    items_.clear();
    text_.clear();
    head_ = 0;
    live_text_ = 0;
  }
  void swap(SubscriberQueue& other) noexcept {
    items_.swap(other.items_);
    text_.swap(other.text_);
    std::swap(head_, other.head_);
    std::swap(live_text_, other.live_text_);
  }
  std::size_t text_size() const { return text_.size(); }
  auto begin() { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() { return items_.end(); }
  std::string_view text(const QueuedEvent& e, std::size_t i) const {
    std::size_t at = e.text_at;
    for (std::size_t k = 0; k < i; ++k) at += e.lengths[k];
    return std::string_view(text_).substr(at, e.lengths[i]);
  }

 private:
  void fill(QueuedEvent& e, const JobEventFields& f) {
    e.type = f.type;
    e.status = f.status;
    e.priority = f.priority;
    e.trigger = f.trigger;
    e.error_kind = f.error_kind;
    e.has_started = f.started_at.has_value();
    e.has_ended = f.ended_at.has_value();
    e.has_not_before = f.not_before.has_value();
    e.attempt = f.attempt;
    e.max_attempts = f.max_attempts;
    e.id = f.id;
    e.progress_current = f.progress_current;
    e.progress_total = f.progress_total;
    e.queued_at = f.queued_at;
    e.started_at = f.started_at.value_or(TimePoint{});
    e.ended_at = f.ended_at.value_or(TimePoint{});
    e.not_before = f.not_before.value_or(TimePoint{});
    e.duration = f.duration;
    if (f.body != nullptr) {
      e.body = *f.body;
    } else {
      e.body.reset();
    }
    e.text_at = text_.size();
    const std::array<std::string_view, QueuedEvent::kTexts> texts{f.name, f.progress_message, f.message,
                                                                  f.error, f.task};
    for (std::size_t i = 0; i < texts.size(); ++i) {
      text_.append(texts[i]);
      e.lengths[i] = static_cast<std::uint32_t>(texts[i].size());
      live_text_ += texts[i].size();
    }
  }
  // Replaced progress leaves its text behind: a subscriber stalled while a job reports on would
  // otherwise keep every report's text until it caught up.
  void compact_if_sparse() {
    if (text_.size() > 2 * live_text_ + kSlack) compact_text();
  }
  void compact_text() {
    if (text_.size() <= live_text_) return;
    std::string kept;
    kept.reserve(live_text_);
    for (auto it = begin(); it != end(); ++it) {
      const std::size_t n = it->text_size();
      kept.append(text_, it->text_at, n);
      it->text_at = kept.size() - n;
    }
    text_.swap(kept);
  }

  static constexpr std::size_t kSlack = 64 * 1024;
  std::vector<QueuedEvent> items_;
  std::string text_;
  std::size_t head_ = 0;       // the events before it were dropped (drop_oldest)
  std::size_t live_text_ = 0;  // the text of the events from head_ on
};

namespace {
// The delivery thread's event: each job record is expanded into it in turn, so its strings keep
// their room from one event to the next.
// Most of an event's strings are empty (its error, its task, often its message): clearing one is
// a store of two words, assigning an empty text a library call.
void set_text(std::string& s, std::string_view text) {
  if (text.empty()) {
    s.clear();
  } else {
    s.assign(text);
  }
}

void expand(const SubscriberQueue& q, QueuedEvent& e, JobEvent& out) {
  out.type = e.type;
  JobDelta& d = out.job;
  d.id = e.id;
  set_text(d.name, q.text(e, 0));
  d.status = e.status;
  d.priority = e.priority;
  d.trigger = e.trigger;
  d.attempt = e.attempt;
  d.max_attempts = e.max_attempts;
  d.progress.current = e.progress_current;
  d.progress.total = e.progress_total;
  set_text(d.progress.message, q.text(e, 1));
  set_text(d.message, q.text(e, 2));
  d.error_kind = e.error_kind;
  set_text(d.error, q.text(e, 3));
  set_text(d.task, q.text(e, 4));
  d.queued_at = e.queued_at;
  d.started_at = e.has_started ? std::optional<TimePoint>(e.started_at) : std::nullopt;
  d.ended_at = e.has_ended ? std::optional<TimePoint>(e.ended_at) : std::nullopt;
  d.duration = e.duration;
  d.not_before = e.has_not_before ? std::optional<TimePoint>(e.not_before) : std::nullopt;
  d.body = std::move(e.body);  // the record is spent once delivered
}

// A string that once held a long text keeps its room; past this, the delivery thread lets it go.
constexpr std::size_t kKeptRoom = 64 * 1024;
bool holds_much(const JobDelta& d) {
  return d.name.capacity() + d.progress.message.capacity() + d.message.capacity() + d.error.capacity() +
             d.task.capacity() >
         kKeptRoom;
}
}  // namespace

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

namespace {
std::atomic<std::uint64_t> g_next_hub{1};
}  // namespace

EventHub::EventHub(std::shared_ptr<spdlog::logger> log)
    : log_(std::move(log)), uid_(g_next_hub.fetch_add(1, std::memory_order_relaxed)) {}

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
  named(sub->thread, "shelf-events");
  auto list = std::make_shared<List>(*subs_);
  list->push_back(sub);
  subs_ = std::move(list);
  version_.fetch_add(1, std::memory_order_release);
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
        version_.fetch_add(1, std::memory_order_release);
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
    retire(*sub);
  }
}

// A publisher's cached list may keep the record of a subscriber that is gone (cached_list): its
// callback, and what the callback holds, go now, and its queue's room with them.
void EventHub::retire(Sub& sub) {
  sub.fn = nullptr;
  SubscriberQueue empty;
  MutexLock lock(sub.mu);
  sub.queue.swap(empty);
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
  if (auto* job = std::get_if<JobEvent>(&event)) {
    publish_job(job_fields(job->type, job->job, job->job.body, job->job.progress));
    return;
  }
  const unsigned kinds = kinds_of(event);
  if (!wants(kinds)) return;
  std::shared_ptr<const List> list;
  {
    MutexLock lock(mu_);
    list = subs_;
  }
  // The last subscriber that takes it gets the event itself, the others a copy.
  std::size_t last_taker = list->size();
  for (std::size_t i = list->size(); i-- > 0;) {
    if (((*list)[i]->options.kinds & kinds) != 0) {
      last_taker = i;
      break;
    }
  }
  for (std::size_t i = 0; i < list->size(); ++i) {
    const auto& sub = (*list)[i];
    bool wake = false;
    {
      MutexLock lock(sub->mu);
      if (sub->stopping || (sub->options.kinds & kinds) == 0) continue;
      auto& q = sub->queue;
      if (!q.make_room(sub->options, dropped_)) continue;
      wake = q.empty();  // only the first event of a batch wakes the delivery thread
      q.push_other(i == last_taker ? std::move(event) : HostEvent(event));
    }
    if (wake) sub->cv.notify_one();
  }
}

// Each publishing thread keeps the list it last read from each of a few hubs, and reads the
// hub's list again only when its version moved (a subscriber came or went: rarely). Taking the
// list under mu_ with a reference count, as publish() does, wrote two shared words (the mutex
// and the count) per job event, on every thread that publishes: the strand's and each worker's.
// A stale cached list is safe: a subscriber removed since is marked stopping under its own lock,
// which publish_job checks. A cached list keeps its subscribers' records alive until this
// thread reads a newer one or ends; their threads are joined or detached by then.
const EventHub::List& EventHub::cached_list() {
  struct Cached {
    std::uint64_t hub = 0;
    std::uint64_t version = 0;
    std::shared_ptr<const List> list;
  };
  static constexpr std::size_t kHubs = 4;
  thread_local std::array<Cached, kHubs> cache;
  thread_local std::size_t next = 0;
  const std::uint64_t version = version_.load(std::memory_order_acquire);
  Cached* slot = nullptr;
  for (auto& c : cache) {
    if (c.hub == uid_) {
      if (c.version == version) return *c.list;
      slot = &c;
      break;
    }
  }
  if (slot == nullptr) slot = &cache[next++ % kHubs];
  MutexLock lock(mu_);
  slot->hub = uid_;
  slot->version = version_.load(std::memory_order_relaxed);
  slot->list = subs_;
  return *slot->list;
}

void EventHub::publish_job(const JobEventFields& f) {
  const unsigned kinds = kinds_of(f.type);
  if (!wants(kinds)) return;
  const List& list = cached_list();  // nothing below reads another hub's list on this thread
  const bool progress = f.type == JobEvent::Type::progress;
  for (const auto& sub : list) {
    // Its kinds are set before it is listed and never change: a subscriber that wants none of
    // these costs no lock (the notifier, which wants failures, beside a dashboard's stream).
    if ((sub->options.kinds & kinds) == 0) continue;
    bool wake = false;
    {
      MutexLock lock(sub->mu);
      if (sub->stopping) continue;
      auto& q = sub->queue;
      if (progress && sub->options.coalesce_progress && !q.empty()) {
        // The newest queued event is this job's progress: replace it rather than queue more.
        if (const auto& last = q.back();
            !last.other && last.type == JobEvent::Type::progress && last.id == f.id) {
          q.replace_back(f);
          continue;
        }
      }
      if (!q.make_room(sub->options, dropped_)) continue;
      wake = q.empty();
      q.push_job(f);
    }
    if (wake) sub->cv.notify_one();
  }
}

std::size_t EventHub::text_held() const {
  std::shared_ptr<const List> list;
  {
    MutexLock lock(mu_);
    list = subs_;
  }
  std::size_t n = 0;
  for (const auto& sub : *list) {
    MutexLock lock(sub->mu);
    n += sub->queue.text_size();
  }
  return n;
}

void EventHub::run(const std::shared_ptr<Sub>& sub) {
  SubscriberQueue batch;
  HostEvent scratch{JobEvent{}};
  for (;;) {
    {
      MutexLock lock(sub->mu);
      while (sub->queue.empty() && !sub->stopping) lock.wait(sub->cv);
      if (sub->queue.empty() || (sub->stopping && !sub->drain)) return;
      if (!sub->stopping && sub->options.linger.count() > 0) {
        // Let a burst gather for the subscriber's linger: a wake-up per event costs the
        // publishing strand more than the event itself (a futex round trip on every job change);
        // a batch costs one. Nothing notifies meanwhile (the queue is not empty) but a stop or a
        // removal. At 1 ms a busy engine (60,000 jobs and 240,000 events a second on two cores)
        // lost a fifth of its throughput to a subscriber, at 4 ms a tenth (engine_bench, back to
        // back, 3 December 2026). From 4 to 12 ms, jobs_per_s_with_subscriber over
        // jobs_per_s_progress rose in 10 of 11 alternated pairs of engine_bench --only events
        // (medians 0.81 and 0.85, 4 December 2026); 16 ms was no better than 4.
        lock.wait_until(sub->cv, std::chrono::steady_clock::now() + sub->options.linger);
        if (sub->stopping && !sub->drain) return;
      }
      batch.swap(sub->queue);
    }
    auto& job = std::get<JobEvent>(scratch);
    for (auto& ev : batch) {
      if (sub->removed.load(std::memory_order_relaxed)) break;
      try {
        if (ev.other) {
          sub->fn(*ev.other);
        } else {
          expand(batch, ev, job);
          sub->fn(scratch);
        }
      } catch (const std::exception& e) {
        log_->warn("event subscriber {} threw: {}", sub->id, e.what());
      } catch (...) {
        log_->warn("event subscriber {} threw", sub->id);
      }
    }
    job.job.body.reset();
    if (holds_much(job.job)) job = JobEvent{};
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
    version_.fetch_add(1, std::memory_order_release);
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
      retire(*sub);
    }
  }
}

}  // namespace shelfjobs::detail

// SPDX-License-Identifier: MIT
// Host events leave the publishing thread through bounded queues; a slow subscriber only fills
// its own queue, and what overflows is counted.

#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "engine/event_hub.hpp"

using namespace shelfjobs;

namespace {
std::shared_ptr<spdlog::logger> quiet_hub_log() {
  return std::make_shared<spdlog::logger>("hub", std::make_shared<spdlog::sinks::null_sink_mt>());
}
HostEvent job(JobId id, JobEvent::Type type, std::int64_t progress = 0) {
  JobEvent e;
  e.type = type;
  e.job.id = id;
  e.job.progress.current = progress;
  return e;
}
// Holds a subscriber inside its callback until released.
struct Latch {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  void wait() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return open; });
  }
  void release() {
    {
      std::lock_guard lock(mu);
      open = true;
    }
    cv.notify_all();
  }
};
}  // namespace

TEST_CASE("subscribers get events in order on their own thread", "[engine][events]") {
  detail::EventHub hub(quiet_hub_log());
  std::mutex mu;
  std::vector<JobId> seen;
  std::thread::id where;
  const auto caller = std::this_thread::get_id();
  hub.add(
      [&](const HostEvent& e) {
        std::lock_guard lock(mu);
        where = std::this_thread::get_id();
        seen.push_back(std::get<JobEvent>(e).job.id);
      },
      {});
  for (JobId i = 1; i <= 100; ++i) hub.publish(job(i, JobEvent::Type::queued));
  hub.close();  // delivers what is queued
  REQUIRE(seen.size() == 100);
  for (JobId i = 1; i <= 100; ++i) CHECK(seen[static_cast<std::size_t>(i - 1)] == i);
  CHECK(where != caller);
}

TEST_CASE("a full queue drops the oldest events and counts them", "[engine][events]") {
  detail::EventHub hub(quiet_hub_log());
  Latch latch;
  std::atomic<bool> inside{false};
  std::vector<JobId> seen;
  hub.add(
      [&](const HostEvent& e) {
        if (!inside.exchange(true)) latch.wait();  // stall on the first event
        seen.push_back(std::get<JobEvent>(e).job.id);
      },
      SubscribeOptions{.capacity = 3, .overflow = Overflow::drop_oldest});
  hub.publish(job(1, JobEvent::Type::queued));
  while (!inside) std::this_thread::yield();
  for (JobId i = 2; i <= 10; ++i) hub.publish(job(i, JobEvent::Type::queued));
  CHECK(hub.dropped() == 6);  // 9 published while it stalled; 3 fit
  latch.release();
  hub.close();
  CHECK(seen == std::vector<JobId>{1, 8, 9, 10});
}

// The queue drops from its front without moving the rest each time, and closes the gap it leaves
// now and then: order and count must hold across many drops, and the queue must serve again once
// the subscriber catches up.
TEST_CASE("a long overflow keeps the newest events in order, and the queue serves on after it",
          "[engine][events]") {
  detail::EventHub hub(quiet_hub_log());
  Latch latch;
  std::atomic<bool> inside{false};
  std::mutex mu;
  std::vector<JobId> seen;
  std::vector<std::int64_t> progress_seen;
  hub.add(
      [&](const HostEvent& e) {
        if (!inside.exchange(true)) latch.wait();
        std::lock_guard lock(mu);
        seen.push_back(std::get<JobEvent>(e).job.id);
        progress_seen.push_back(std::get<JobEvent>(e).job.progress.current);
      },
      SubscribeOptions{.capacity = 50, .overflow = Overflow::drop_oldest, .coalesce_progress = true});
  hub.publish(job(1, JobEvent::Type::queued));
  while (!inside) std::this_thread::yield();
  for (JobId i = 2; i <= 1000; ++i) hub.publish(job(i, JobEvent::Type::queued));
  CHECK(hub.dropped() == 949);  // 999 published while it stalled; 50 fit
  // A progress event after the drops still replaces the newest queued progress of its job.
  hub.publish(job(2000, JobEvent::Type::progress, 1));
  hub.publish(job(2000, JobEvent::Type::progress, 2));
  CHECK(hub.dropped() == 950);  // the first progress pushed 952 out; the second replaced it
  latch.release();
  auto delivered = [&](std::size_t n) {
    for (int i = 0; i < 2000; ++i) {
      {
        std::lock_guard lock(mu);
        if (seen.size() >= n) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  };
  REQUIRE(delivered(51));
  {
    std::lock_guard lock(mu);
    std::vector<JobId> want{1};
    for (JobId i = 952; i <= 1000; ++i) want.push_back(i);
    want.push_back(2000);
    CHECK(seen == want);
    CHECK(progress_seen.back() == 2);
  }
  for (JobId i = 3001; i <= 3005; ++i) hub.publish(job(i, JobEvent::Type::queued));
  hub.close();
  CHECK(seen.size() == 56);
  CHECK(std::vector<JobId>(seen.end() - 5, seen.end()) == std::vector<JobId>{3001, 3002, 3003, 3004, 3005});
  CHECK(hub.dropped() == 950);
}

TEST_CASE("drop_newest keeps the oldest events", "[engine][events]") {
  detail::EventHub hub(quiet_hub_log());
  Latch latch;
  std::atomic<bool> inside{false};
  std::vector<JobId> seen;
  hub.add(
      [&](const HostEvent& e) {
        if (!inside.exchange(true)) latch.wait();
        seen.push_back(std::get<JobEvent>(e).job.id);
      },
      SubscribeOptions{.capacity = 2, .overflow = Overflow::drop_newest});
  hub.publish(job(1, JobEvent::Type::queued));
  while (!inside) std::this_thread::yield();
  for (JobId i = 2; i <= 5; ++i) hub.publish(job(i, JobEvent::Type::queued));
  CHECK(hub.dropped() == 2);
  latch.release();
  hub.close();
  CHECK(seen == std::vector<JobId>{1, 2, 3});
}

TEST_CASE("queued progress of a job is replaced by its newer progress", "[engine][events]") {
  detail::EventHub hub(quiet_hub_log());
  Latch latch;
  std::atomic<bool> inside{false};
  std::vector<std::int64_t> progress;
  hub.add(
      [&](const HostEvent& e) {
        if (!inside.exchange(true)) latch.wait();
        const auto& j = std::get<JobEvent>(e);
        if (j.type == JobEvent::Type::progress) progress.push_back(j.job.progress.current);
      },
      {});
  hub.publish(job(1, JobEvent::Type::started));
  while (!inside) std::this_thread::yield();
  for (int i = 1; i <= 50; ++i) hub.publish(job(1, JobEvent::Type::progress, i));
  hub.publish(job(1, JobEvent::Type::completed));
  latch.release();
  hub.close();
  CHECK(progress == std::vector<std::int64_t>{50});
  CHECK(hub.dropped() == 0);
}

TEST_CASE("subscribers receive only the kinds they ask for; a slow one holds back no other",
          "[engine][events]") {
  detail::EventHub hub(quiet_hub_log());
  Latch latch;
  std::atomic<int> fast{0}, failures{0};
  hub.add([&](const HostEvent&) { latch.wait(); }, {});
  hub.add([&](const HostEvent&) { ++fast; }, {});
  hub.add([&](const HostEvent&) { ++failures; }, SubscribeOptions{.kinds = kFailureEvents});
  CHECK(hub.wants(kTaskEvents));
  for (JobId i = 1; i <= 20; ++i) hub.publish(job(i, JobEvent::Type::completed));
  hub.publish(job(21, JobEvent::Type::failed));
  for (int i = 0; i < 2000 && fast < 21; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(fast == 21);
  latch.release();
  hub.close();
  CHECK(failures == 1);
}

TEST_CASE("a subscriber may unsubscribe from inside its own callback", "[engine][events]") {
  detail::EventHub hub(quiet_hub_log());
  std::atomic<int> calls{0};
  std::uint64_t id = 0;
  std::atomic<bool> ready{false};
  id = hub.add(
      [&](const HostEvent&) {
        while (!ready) std::this_thread::yield();
        ++calls;
        hub.remove(id);
      },
      {});
  ready = true;
  hub.publish(job(1, JobEvent::Type::queued));
  for (int i = 0; i < 2000 && calls == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  hub.publish(job(2, JobEvent::Type::queued));
  hub.close();
  CHECK(calls == 1);
  CHECK_FALSE(hub.wants(kJobEvents));
}

namespace {
// A job event with every field set, its strings longer than a string keeps inline.
JobEvent full_job_event(JobId id) {
  JobEvent e;
  e.type = JobEvent::Type::failed;
  auto& d = e.job;
  d.id = id;
  d.name = "RefreshAuthorAndEveryBookOfIt" + std::to_string(id);
  d.status = JobStatus::failed;
  d.priority = Priority::high;
  d.trigger = Trigger::scheduled;
  d.attempt = 3;
  d.max_attempts = 4;
  d.progress = Progress{7, 9, "book 7 of 9: " + std::string(120, 'p')};
  d.message = "the metadata source answered 503 " + std::string(80, 'm');
  d.error_kind = ErrorKind::network;
  d.error = "connection reset by peer while reading " + std::string(200, 'e');
  d.task = "RefreshMonitoredAuthorsEveryTwelveHours";
  d.queued_at = TimePoint{std::chrono::milliseconds(1'000)};
  d.started_at = TimePoint{std::chrono::milliseconds(2'000)};
  d.ended_at = TimePoint{std::chrono::milliseconds(5'000)};
  d.duration = std::chrono::milliseconds(3'000);
  d.not_before = TimePoint{std::chrono::milliseconds(9'000)};
  d.body = std::make_shared<const nlohmann::json>(nlohmann::json{{"authorId", id}});
  return e;
}
void check_same(const JobEvent& got, const JobEvent& want) {
  CHECK(got.type == want.type);
  const auto& g = got.job;
  const auto& w = want.job;
  CHECK(g.id == w.id);
  CHECK(g.name == w.name);
  CHECK(g.status == w.status);
  CHECK(g.priority == w.priority);
  CHECK(g.trigger == w.trigger);
  CHECK(g.attempt == w.attempt);
  CHECK(g.max_attempts == w.max_attempts);
  CHECK(g.progress.current == w.progress.current);
  CHECK(g.progress.total == w.progress.total);
  CHECK(g.progress.message == w.progress.message);
  CHECK(g.message == w.message);
  CHECK(g.error_kind == w.error_kind);
  CHECK(g.error == w.error);
  CHECK(g.task == w.task);
  CHECK(g.queued_at == w.queued_at);
  CHECK(g.started_at == w.started_at);
  CHECK(g.ended_at == w.ended_at);
  CHECK(g.duration == w.duration);
  CHECK(g.not_before == w.not_before);
  CHECK(g.body == w.body);  // the same body, shared
}
}  // namespace

// Job events travel as records and text and are rebuilt on the delivery thread into one reused
// event: each must arrive as published, a short or empty one after a long one included.
TEST_CASE("a job event arrives whole, every field and string, after a longer one too", "[engine][events]") {
  detail::EventHub hub(quiet_hub_log());
  std::mutex mu;
  std::vector<std::vector<HostEvent>> seen(2);
  for (std::size_t s = 0; s < seen.size(); ++s) {
    hub.add(
        [&, s](const HostEvent& e) {
          std::lock_guard lock(mu);
          seen[s].push_back(e);
        },
        {});
  }
  const JobEvent first = full_job_event(41);
  JobEvent bare;
  bare.type = JobEvent::Type::queued;
  bare.job.id = 42;
  const JobEvent second = full_job_event(43);
  TaskChanged task;
  task.task.name = "RssSync";
  hub.publish(first);
  hub.publish(bare);
  hub.publish(task);
  hub.publish(second);
  hub.close();
  for (const auto& events : seen) {
    REQUIRE(events.size() == 4);
    check_same(std::get<JobEvent>(events[0]), first);
    check_same(std::get<JobEvent>(events[1]), bare);
    CHECK(std::get<JobEvent>(events[1]).job.body == nullptr);
    CHECK(std::get<TaskChanged>(events[2]).task.name == "RssSync");
    check_same(std::get<JobEvent>(events[3]), second);
  }
}

// A subscriber stalled while a job reports on: each report replaces the last, and the text the
// replaced ones left behind is let go rather than kept until the subscriber catches up.
TEST_CASE("a stalled subscriber's replaced progress does not pile up its text", "[engine][events]") {
  detail::EventHub hub(quiet_hub_log());
  Latch latch;
  std::atomic<bool> inside{false};
  std::vector<std::string> messages;
  hub.add(
      [&](const HostEvent& e) {
        if (!inside.exchange(true)) latch.wait();
        const auto& j = std::get<JobEvent>(e);
        if (j.type == JobEvent::Type::progress) messages.push_back(j.job.progress.message);
      },
      {});
  hub.publish(job(1, JobEvent::Type::started));
  while (!inside) std::this_thread::yield();
  std::size_t most = 0;
  std::string last;
  for (int i = 1; i <= 20'000; ++i) {
    JobEvent e;
    e.type = JobEvent::Type::progress;
    e.job.id = 1;
    e.job.progress.current = i;
    e.job.progress.message = "scanning file " + std::to_string(i) + " " + std::string(200, 'x');
    last = e.job.progress.message;
    hub.publish(e);
    most = std::max(most, hub.text_held());
  }
  CHECK(most < 256 * 1024);  // 20,000 reports of 215 bytes: 4.3 MB if kept
  latch.release();
  hub.close();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0] == last);
}

// drop_oldest closes the gap its drops leave and compacts the text with it: the events kept
// must keep their own strings.
TEST_CASE("events kept through a long overflow keep their own strings", "[engine][events]") {
  detail::EventHub hub(quiet_hub_log());
  Latch latch;
  std::atomic<bool> inside{false};
  std::vector<std::pair<JobId, std::string>> seen;
  hub.add(
      [&](const HostEvent& e) {
        if (!inside.exchange(true)) latch.wait();
        const auto& j = std::get<JobEvent>(e).job;
        seen.emplace_back(j.id, j.name + "|" + j.message);
      },
      SubscribeOptions{.capacity = 10, .overflow = Overflow::drop_oldest});
  auto named = [](JobId id) {
    JobEvent e;
    e.type = JobEvent::Type::queued;
    e.job.id = id;
    e.job.name = "Command" + std::to_string(id) + std::string(static_cast<std::size_t>(id % 40), 'n');
    e.job.message = id % 3 == 0 ? "" : "message of " + std::to_string(id) + std::string(30, 'm');
    return e;
  };
  hub.publish(named(1));
  while (!inside) std::this_thread::yield();
  for (JobId i = 2; i <= 1000; ++i) hub.publish(named(i));
  CHECK(hub.text_held() < 10 * 1024);  // ten events' text, not a thousand
  latch.release();
  hub.close();
  REQUIRE(seen.size() == 11);
  for (const auto& [id, text] : seen) {
    const auto want = named(id).job;
    CHECK(text == want.name + "|" + want.message);
  }
  CHECK(seen[1].first == 991);
  CHECK(seen.back().first == 1000);
}

// The linger is the longest an event waits for company: a subscriber that asks for a long one
// gets nothing meanwhile, and close() ends the wait and delivers the batch at once.
TEST_CASE("a subscriber's linger holds its batch back until it ends or the hub closes", "[engine][events]") {
  detail::EventHub hub(quiet_hub_log());
  std::atomic<int> received{0};
  hub.add([&](const HostEvent&) { ++received; }, SubscribeOptions{.linger = std::chrono::minutes(10)});
  for (JobId i = 1; i <= 3; ++i) hub.publish(job(i, JobEvent::Type::queued));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(received.load() == 0);  // still gathering
  hub.close();
  CHECK(received.load() == 3);
}

// A publishing thread keeps the subscriber list it last read from each of a few hubs, and reads
// it again when a subscriber comes or goes. Two hubs (kept side by side), then five (more than a
// thread keeps), share this thread, each with its own subscribers added and removed between the
// thread's events.
TEST_CASE("a thread's events reach the subscribers of each hub as they are when it publishes",
          "[engine][events]") {
  const int kHubs = GENERATE(2, 5);
  std::vector<std::unique_ptr<detail::EventHub>> hubs;
  std::mutex mu;
  std::map<std::pair<int, int>, std::vector<JobId>> seen;  // (hub, subscriber) -> ids
  auto subscriber = [&](int hub, int n) {
    return [&, hub, n](const HostEvent& e) {
      std::lock_guard lock(mu);
      seen[{hub, n}].push_back(std::get<JobEvent>(e).job.id);
    };
  };
  std::vector<std::uint64_t> first(kHubs);
  for (int h = 0; h < kHubs; ++h) {
    hubs.push_back(std::make_unique<detail::EventHub>(quiet_hub_log()));
    first[static_cast<std::size_t>(h)] = hubs.back()->add(subscriber(h, 1), {.linger = {}});
  }
  auto publish_all = [&](JobId id) {
    for (int h = 0; h < kHubs; ++h)
      hubs[static_cast<std::size_t>(h)]->publish(job(id * 10 + h, JobEvent::Type::queued));
  };
  publish_all(1);
  for (int h = 0; h < kHubs; ++h) hubs[static_cast<std::size_t>(h)]->add(subscriber(h, 2), {.linger = {}});
  publish_all(2);
  // A removal discards what its subscriber has not received yet: wait for event 2 first.
  auto all_got_2 = [&] {
    std::lock_guard lock(mu);
    for (int h = 0; h < kHubs; ++h)
      if (seen[{h, 1}].size() < 2) return false;
    return true;
  };
  for (int i = 0; i < 10000 && !all_got_2(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (int h = 0; h < kHubs; ++h)
    hubs[static_cast<std::size_t>(h)]->remove(first[static_cast<std::size_t>(h)]);
  publish_all(3);
  for (auto& hub : hubs) hub->close();
  for (int h = 0; h < kHubs; ++h) {
    CHECK(seen[{h, 1}] == std::vector<JobId>{10 + h, 20 + h});
    CHECK(seen[{h, 2}] == std::vector<JobId>{20 + h, 30 + h});
  }
}

// SPDX-License-Identifier: MIT
// Host events leave the publishing thread through bounded queues; a slow subscriber only fills
// its own queue, and what overflows is counted.

#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
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

// SPDX-License-Identifier: MIT
// The HTTP servers' thread pool (shelfd, the fixtures) on its own: every task runs once, on a free thread at
// once, tasks queued before shutdown still run, and none after it.

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "http_task_queue.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;

TEST_CASE("the HTTP pool runs every task of many threads exactly once", "[http_pool][concurrency]") {
  std::atomic<int> ran{0};
  std::mutex mu;
  std::multiset<int> seen;
  {
    http_pool::HttpTaskQueue pool(4);
    std::vector<std::thread> producers;
    for (int p = 0; p < 4; ++p) {
      producers.emplace_back([&, p] {
        for (int i = 0; i < 2000; ++i) {
          pool.enqueue([&, id = p * 2000 + i] {
            std::lock_guard lock(mu);
            seen.insert(id);
            ++ran;
          });
          if (i % 100 == 0) std::this_thread::sleep_for(100us);  // let threads go idle
        }
      });
    }
    for (auto& t : producers) t.join();
    CHECK(testing::eventually([&] { return ran.load() == 8000; }));
    pool.shutdown();
  }
  CHECK(ran.load() == 8000);
  REQUIRE(seen.size() == 8000);
  for (int id = 0; id < 8000; ++id) CHECK(seen.count(id) == 1);
}

TEST_CASE("the HTTP pool starts a task at once while another thread is busy", "[http_pool]") {
  http_pool::HttpTaskQueue pool(2);
  std::promise<void> release;
  auto released = release.get_future().share();
  std::promise<void> second;
  pool.enqueue([released] { released.wait(); });  // holds one thread (a listening SSE client)
  pool.enqueue([&second] { second.set_value(); });
  CHECK(second.get_future().wait_for(10s) == std::future_status::ready);
  release.set_value();
  pool.shutdown();
}

TEST_CASE("the HTTP pool runs what was queued before shutdown and drops what comes after", "[http_pool]") {
  std::atomic<int> ran{0};
  http_pool::HttpTaskQueue pool(1);
  std::promise<void> release;
  auto released = release.get_future().share();
  pool.enqueue([released] { released.wait(); });
  for (int i = 0; i < 5; ++i) pool.enqueue([&ran] { ++ran; });  // behind the busy thread
  std::thread stopper([&] { pool.shutdown(); });
  std::this_thread::sleep_for(20ms);  // shutdown() is waiting for the busy thread
  release.set_value();
  stopper.join();
  CHECK(ran.load() == 5);
  // After shutdown a task is let go at once, with what it holds (a connection's socket).
  auto held = std::make_shared<int>(0);
  pool.enqueue([&ran, held] { ++ran; });
  CHECK(held.use_count() == 1);
  CHECK(ran.load() == 5);
}

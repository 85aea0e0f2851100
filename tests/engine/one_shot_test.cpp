// SPDX-License-Identifier: MIT
// The one-shot event a durable push waits on: set before or after the wait, caught while the
// waiter still looks for it (no sleep: the waiter's voluntary context switches do not move) or
// after it went to sleep (woken), and what the setter wrote before set() seen after wait().

#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "engine/one_shot.hpp"

#if defined(__SANITIZE_THREAD__)
#define SHELFJOBS_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SHELFJOBS_TEST_TSAN 1
#endif
#endif

using namespace std::chrono_literals;
using shelfjobs::detail::OneShot;

namespace {

// The calling thread's voluntary context switches: a futex sleep adds one; a yield does not
// (the thread stays runnable).
long voluntary_switches() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return u.ru_nvcsw;
}

}  // namespace

TEST_CASE("a one-shot event set before the wait returns at once, with or without a spin",
          "[engine][one_shot]") {
  OneShot plain;
  plain.set();
  plain.wait();
  OneShot spinning;
  spinning.set();
  const auto t0 = std::chrono::steady_clock::now();
  spinning.wait(1s);
  CHECK(std::chrono::steady_clock::now() - t0 < 500ms);  // not the whole spin
}

TEST_CASE("a waiter that spins catches a set during its spin without sleeping", "[engine][one_shot]") {
  OneShot event;
  int value = 0;  // written before set(), read after wait(): no data race if the order holds
  std::thread setter([&] {
    std::this_thread::sleep_for(2ms);
    value = 42;
    event.set();
  });
  [[maybe_unused]] const long before = voluntary_switches();
  event.wait(5s);  // far longer than the setter takes, even under a sanitizer
  [[maybe_unused]] const long after = voluntary_switches();
  const int seen = value;  // before the join, which would order the threads by itself
  setter.join();
  CHECK(seen == 42);
#if !defined(SHELFJOBS_TEST_TSAN)
  // ThreadSanitizer's runtime takes mutexes of its own around atomics, on which a waiter can sleep.
  CHECK(after == before);
#endif
}

TEST_CASE("a waiter whose spin ends first sleeps and the set wakes it", "[engine][one_shot]") {
  for (auto spin : {0us, 50us}) {
    OneShot event;
    int value = 0;
    const auto t0 = std::chrono::steady_clock::now();
    std::thread setter([&] {
      std::this_thread::sleep_for(200ms);
      value = 7;
      event.set();
    });
    const long before = voluntary_switches();
    event.wait(spin);
    const long after = voluntary_switches();
    const auto waited = std::chrono::steady_clock::now() - t0;
    const int seen = value;
    setter.join();
    CHECK(seen == 7);
    CHECK(waited >= 200ms);
    CHECK(after > before);  // it slept: the set came 200 ms after a spin of 50 µs at most
  }
}

TEST_CASE("one-shot events set and waited on at once never lose the set", "[engine][one_shot][concurrency]") {
  // Each pair races set() against the waiter's spin ending and its sleep beginning: the setter
  // waits until the waiter has begun, then for about as long as the waiter spins, give or take.
  // A lost set would hang the join; the test's timeout then fails it.
  constexpr int kRounds = 1000;
  std::atomic<int> woken{0};
  for (int round = 0; round < kRounds; ++round) {
    auto event = std::make_unique<OneShot>();
    std::atomic<bool> begun{false};
    const auto spin = std::chrono::microseconds(round % 4 == 0 ? 0 : round % 40);
    std::thread waiter([&] {
      begun = true;
      event->wait(spin);
      ++woken;
    });
    while (!begun.load()) std::this_thread::yield();
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(round % 50);
    while (std::chrono::steady_clock::now() < until) {
    }
    event->set();
    waiter.join();
  }
  CHECK(woken.load() == kRounds);
}

// The look a waiter takes before it sleeps (OneShot::wait's, the store writer's, the inbox
// watch's): at once when the work is there, after the limit when it never comes, and as soon as
// another thread brings it.
TEST_CASE("yield_until answers at once, at its limit, or when another thread sets the flag",
          "[engine][one_shot]") {
  using shelfjobs::detail::yield_until;
  int looks = 0;
  CHECK(yield_until([&] { return ++looks > 0; }, 1s));
  CHECK(looks == 1);  // held at the first look: no yield, no clock

  const auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(yield_until([] { return false; }, 2ms));
  CHECK(std::chrono::steady_clock::now() - t0 >= 2ms);

  std::atomic<bool> flag{false};
  std::atomic<bool> looking{false};
  std::thread setter([&] {
    while (!looking.load()) std::this_thread::yield();
    flag.store(true, std::memory_order_release);
  });
  const bool found = yield_until(
      [&] {
        looking.store(true);
        return flag.load(std::memory_order_acquire);
      },
      60s);
  setter.join();
  CHECK(found);
}

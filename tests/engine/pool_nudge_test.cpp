// SPDX-License-Identifier: MIT
// The pool nudge, stepped on its own io_contexts: it posts to the pool at its interval from the
// control thread, posts nothing once stopped, and lets the control io_context run out of work.
// The lost wake-up it guards against (glibc bug 25847) cannot be produced on demand; what a
// nudge does about one is what any post does: it signals the pool's condition variable again.

#include <catch2/catch.hpp>

#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "engine/pool_nudge.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
namespace asio = boost::asio;
using shelfjobs::detail::PoolNudge;

namespace {

// A control io_context with its thread and a pool of two threads, as the engine has them.
struct Rig {
  asio::io_context control{1};
  asio::io_context pool;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> control_guard{
      asio::make_work_guard(control)};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> pool_guard{
      asio::make_work_guard(pool)};
  std::thread control_thread{[this] { control.run(); }};
  std::vector<std::thread> pool_threads;

  Rig() {
    for (int i = 0; i < 2; ++i) pool_threads.emplace_back([this] { pool.run(); });
  }
  ~Rig() {
    control_guard.reset();
    pool_guard.reset();
    control_thread.join();
    for (auto& t : pool_threads) t.join();
  }
};

}  // namespace

TEST_CASE("the pool nudge posts to the pool again and again until it is stopped", "[engine][nudge]") {
  Rig rig;
  PoolNudge nudge(rig.control, rig.pool, 5ms);
  CHECK(nudge.nudges() == 0);
  nudge.start();
  CHECK(testing::eventually([&] { return nudge.nudges() >= 3; }));
  nudge.stop();
  // One nudge may have been posted before stop() and run after it; none after that.
  const auto at_stop = nudge.nudges();
  std::this_thread::sleep_for(60ms);
  CHECK(nudge.nudges() <= at_stop + 1);
  const auto settled = nudge.nudges();
  std::this_thread::sleep_for(60ms);
  CHECK(nudge.nudges() == settled);
  // ~Rig joins the control thread: the stopped nudge left its io_context no work.
}

TEST_CASE("a pool nudge without an interval posts nothing", "[engine][nudge]") {
  Rig rig;
  PoolNudge nudge(rig.control, rig.pool, 0ms);
  nudge.start();
  std::this_thread::sleep_for(30ms);
  CHECK(nudge.nudges() == 0);
  nudge.stop();
}

TEST_CASE("a pool nudge stopped before its first interval ends posts nothing", "[engine][nudge]") {
  Rig rig;
  PoolNudge nudge(rig.control, rig.pool, 1h);
  nudge.start();
  nudge.stop();
  // The hour-long wait was cancelled: ~Rig's join of the control thread returns.
  CHECK(nudge.nudges() == 0);
}

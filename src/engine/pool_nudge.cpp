// SPDX-License-Identifier: MIT
#include "engine/pool_nudge.hpp"

#include <future>

#include <boost/asio/post.hpp>

namespace shelfjobs::detail {

PoolNudge::PoolNudge(boost::asio::io_context& control, boost::asio::io_context& pool,
                     std::chrono::milliseconds every)
    : control_(control), pool_(pool), every_(every), timer_(control) {}

void PoolNudge::start() {
  if (every_.count() <= 0) return;
  boost::asio::post(control_, [this] { arm(); });
}

void PoolNudge::stop() {
  if (stopped_.exchange(true)) return;
  // The timer belongs to the control thread: cancelled there, its pending wait ends at once.
  // Waited for, so that the timer is the caller's again when stop() returns (to destroy).
  std::promise<void> cancelled;
  auto done = cancelled.get_future();
  boost::asio::post(control_, [this, &cancelled] {
    timer_.cancel();
    cancelled.set_value();
  });
  done.wait();
}

void PoolNudge::arm() {
  if (stopped_.load(std::memory_order_relaxed)) return;
  timer_.expires_after(every_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_.load(std::memory_order_relaxed)) return;
    // A post signals the pool's condition variable again, which wakes a thread even after an
    // earlier signal was lost; the thread then finds whatever that signal was for.
    boost::asio::post(pool_, [ran = ran_] { ran->fetch_add(1, std::memory_order_relaxed); });
    arm();
  });
}

}  // namespace shelfjobs::detail

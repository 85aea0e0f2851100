// SPDX-License-Identifier: MIT
#pragma once
// The pool nudge: every `every`, a no-op posted to the worker pool, from the control thread.
//
// Why: the C library of Debian 12 (glibc 2.36) can lose a pthread_cond_signal when several
// threads wait on one condition variable (glibc bug 25847, fixed upstream in 2.41). Asio's
// scheduler parks its idle pool threads on one condition variable and wakes one per post, so a
// lost signal leaves a posted handler (the strand's next turn) queued while every pool thread
// sleeps, until the next post signals again. With a quiet host nothing else may post: a push
// waiting for its strand turn waited forever (seen once in engine_bench: the strand's turn
// queued, six pool threads asleep, the condition variable's signal spent on an empty group; one
// more pthread_cond_signal, sent from a debugger, let it run on). The nudge is that next post:
// a lost wake-up costs at most `every`, and an idle engine a few wake-ups a second.
//
// Thread-safety: start() and stop() from any thread but the control one, once each, in that
// order, while the control io_context runs; the timer runs on its thread. `nudges()` from any
// thread. Destroy it after stop() returned.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace shelfjobs::detail {

class PoolNudge {
 public:
  /// `control`: the io_context whose thread runs the timer; `pool`: the one to nudge. Both must
  /// outlive this object. `every` of zero or less: start() does nothing.
  PoolNudge(boost::asio::io_context& control, boost::asio::io_context& pool, std::chrono::milliseconds every);
  PoolNudge(const PoolNudge&) = delete;
  PoolNudge& operator=(const PoolNudge&) = delete;

  void start();
  /// No nudge is posted after this returns. Waits until the control thread cancelled the timer:
  /// that io_context may then run out of work and its run() return, and this object be
  /// destroyed. A second call does nothing.
  void stop();
  /// Nudges that ran on the pool so far.
  std::uint64_t nudges() const { return ran_->load(std::memory_order_relaxed); }

 private:
  void arm();

  boost::asio::io_context& control_;
  boost::asio::io_context& pool_;
  std::chrono::milliseconds every_;
  boost::asio::steady_timer timer_;  // control thread only
  std::atomic<bool> stopped_{false};
  // Shared with the posted no-ops: one may run after this object is gone (the pool outlives it).
  std::shared_ptr<std::atomic<std::uint64_t>> ran_ = std::make_shared<std::atomic<std::uint64_t>>(0);
};

}  // namespace shelfjobs::detail

// SPDX-License-Identifier: MIT
// The cluster feed's loop (cluster_feed.hpp). Why it is shaped so:
//  - The lease is renewed first in each round: a node that cannot reach the database for longer
//    than its lease loses its jobs to the others, and must learn it before it claims more
//    (a lost lease means join again, under a new id).
//  - It claims after every wake-up while the engine has room, and again at once while a claim
//    came back full: a notification says only "something changed", and a full claim may have
//    left more behind.
//  - A store that cannot be reached is logged once per outage, not once per round.

#include "engine/cluster_feed.hpp"
#include "engine/thread_name.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

#include <spdlog/spdlog.h>

namespace shelfjobs::detail {

using Steady = std::chrono::steady_clock;

ClusterFeed::ClusterFeed(SharedQueue& queue, ClusterOptions options, Hooks hooks,
                         std::shared_ptr<spdlog::logger> log)
    : queue_(queue), opts_(std::move(options)), hooks_(std::move(hooks)), log_(std::move(log)) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

ClusterFeed::~ClusterFeed() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status ClusterFeed::join() {
  auto joined = queue_.join(opts_.node_name, opts_.lease);
  if (!joined) return joined.error();
  log_->info("cluster: joined as node {} ({})", *joined, opts_.node_name);
  return Ok{};
}

void ClusterFeed::start() {
  thread_ = std::thread([this] { run(); });
  named(thread_, "shelf-cluster");
}

void ClusterFeed::poke() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
}

void ClusterFeed::halt() {
  stopping_ = true;
  if (!thread_.joinable()) return;
  poke();
  thread_.join();
}

void ClusterFeed::stop() {
  halt();
  if (left_ || queue_.node() == 0) return;
  left_ = true;
  if (auto left = queue_.leave(); !left)
    log_->error("cluster: cannot leave the queue: {}", left.error().message);
}

bool take_claimed(const JobInfo& claimed, bool held, const PendingEnd* pending, std::int64_t node) {
  if (held) return false;
  if (pending == nullptr || pending->node != node) return true;
  if (!pending->requeue || claimed.attempt != pending->attempt) return false;
  auto ms = [](const std::optional<TimePoint>& t) -> std::optional<std::int64_t> {
    if (!t) return std::nullopt;
    return std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count();
  };
  return ms(claimed.not_before) == ms(pending->not_before);
}

void ClusterFeed::run() {
  auto next_beat = Steady::now();
  std::optional<TimePoint> next_due;
  bool failing = false;
  auto failed = [&](const Error& e) {
    if (!failing) log_->error("cluster: {}", e.message);
    failing = true;
  };
  while (!stopping_) {
    if (Steady::now() >= next_beat) {
      next_beat = Steady::now() + opts_.heartbeat;
      const auto [running, held] = hooks_.counts();
      auto beat = queue_.heartbeat(opts_.lease, running, held);
      if (!beat && beat.error().code == errc::conflict) {
        log_->error("cluster: {}; joining again", beat.error().message);
        beat = join();
      }
      if (!beat) {
        failed(beat.error());
      } else {
        if (failing) log_->info("cluster: the shared queue answers again");
        failing = false;
        auto orphans = queue_.take_orphans();
        if (!orphans) {
          failed(orphans.error());
        } else if (!orphans->empty()) {
          hooks_.orphans(std::move(*orphans));
        }
      }
    }
    bool more = false;
    if (!failing) {
      const int room = hooks_.free_slots();
      if (room > 0) {
        auto got = queue_.claim(room, hooks_.now(), hooks_.names, hooks_.locks);
        if (!got) {
          failed(got.error());
          if (got.error().code == errc::conflict) next_beat = Steady::now();  // rejoin now
        } else {
          more = got->more;
          next_due = got->next_due;
          if (!got->jobs.empty()) hooks_.claimed(std::move(got->jobs));
        }
      }
    }
    if (!failing) {
      auto cancels = queue_.take_cancels();
      if (!cancels) {
        failed(cancels.error());
      } else if (!cancels->empty()) {
        hooks_.cancels(std::move(*cancels));
      }
    }
    if (!failing) {
      // Always drained, read back only when someone listens.
      auto changed = queue_.changed_elsewhere(hooks_.wants_changes() ? 2000 : 0);
      if (changed && !changed->empty()) hooks_.changed(std::move(*changed));
    }
    if (more || stopping_) continue;
    auto timeout = std::min<Steady::duration>(next_beat - Steady::now(), opts_.fallback_poll);
    if (next_due) timeout = std::min<Steady::duration>(timeout, *next_due - hooks_.now());
    timeout = std::max<Steady::duration>(timeout, Steady::duration::zero());
    auto waited = queue_.wait(std::chrono::ceil<std::chrono::milliseconds>(timeout), wake_fd_);
    if (!waited) {
      failed(waited.error());
      // Not reachable: wait before trying again, still waking for stop().
      pollfd fd{wake_fd_, POLLIN, 0};
      ::poll(&fd, 1, 500);
    }
  }
}

}  // namespace shelfjobs::detail

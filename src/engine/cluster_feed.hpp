// SPDX-License-Identifier: MIT
#pragma once
// The cluster feed: an engine's link to a queue it shares with other engines (SharedQueue in
// job_store.hpp). One thread of its own, because every step is a round trip to the database and
// the strand must never wait for one: it renews the node's lease, rescues the jobs of dead
// nodes, and claims jobs when the engine has free workers, then hands what it got to the engine
// through hooks (which post to the strand). Between steps it sleeps on the database's
// notifications and on its own wake-up (`poke`, when the engine frees a worker).
//
// Thread-safety: `poke` from any thread; `start` and `stop` from the engine's owner.

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <spdlog/fwd.h>

#include "shelfjobs/engine/engine.hpp"
#include "shelfjobs/engine/job_store.hpp"

namespace shelfjobs::detail {

/// Whether the engine takes a job a claim handed it. `held`: the engine holds the job already;
/// `ending`: the job's last write here (its end, or its return to the queue for a retry) is not
/// committed yet as far as the engine knows; `handed_again`: the job was handed over again
/// after a claim whose answer was lost, rather than claimed afresh.
///
/// A job handed over again is one this node claimed before: while its end is on its way, its
/// row still looks claimed and unstarted, and taking it would run it a second time. A job
/// claimed afresh was queued and claimed by no node when the claim read it, so any write of
/// this node before it had committed, whatever the engine has heard: it is taken even when
/// `ending`. (A retry's return to the queue claimed back by the same node before the write's
/// Done ran was once skipped: the job stayed claimed by a node that did not hold it, lost for
/// as long as that node lived.)
constexpr bool take_claimed(bool handed_again, bool held, bool ending) {
  return !held && !(handed_again && ending);
}

class ClusterFeed {
 public:
  struct Hooks {
    /// Jobs claimed for this node (queued, owned by it): to be run. The first `handed_again`
    /// were handed over again (SharedQueue::Claimed): see take_claimed().
    std::function<void(std::vector<JobInfo> jobs, std::size_t handed_again)> claimed;
    /// Executing jobs of dead nodes, now owned by this node: to be ended or requeued.
    std::function<void(std::vector<JobInfo>)> orphans;
    /// Jobs held here that another node asked to cancel.
    std::function<void(std::vector<JobId>)> cancels;
    /// Jobs other nodes inserted, started or ended, as they are now: for the host's events.
    std::function<void(std::vector<JobInfo>)> changed;
    /// Whether anyone listens to job events (else changes are not read back). Any thread.
    std::function<bool()> wants_changes;
    /// How many more jobs the engine takes now; any thread.
    std::function<int()> free_slots;
    /// Jobs running and held (claimed, not started) here, for the lease's figures.
    std::function<std::pair<int, int>()> counts;
    std::function<TimePoint()> now;
    /// The commands this node can run, and the locks a job takes.
    std::vector<std::string> names;
    SharedQueue::LockOf locks;
  };

  ClusterFeed(SharedQueue& queue, ClusterOptions options, Hooks hooks, std::shared_ptr<spdlog::logger> log);
  ~ClusterFeed();
  ClusterFeed(const ClusterFeed&) = delete;
  ClusterFeed& operator=(const ClusterFeed&) = delete;

  /// Joins the queue (synchronously: an engine that cannot join does not start). Errors: the
  /// queue's.
  Status join();
  /// Starts the thread.
  void start();
  /// The engine freed a worker (or holds fewer jobs): look at the queue again.
  void poke();
  /// Ends the thread: nothing more is claimed. Idempotent.
  void halt();
  /// Halts, then leaves the queue: the node's claimed, unstarted jobs go back. Call once the
  /// engine's last writes are committed.
  void stop();

 private:
  void run();

  SharedQueue& queue_;
  ClusterOptions opts_;
  Hooks hooks_;
  std::shared_ptr<spdlog::logger> log_;
  int wake_fd_ = -1;  // an eventfd
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  bool left_ = false;
};

}  // namespace shelfjobs::detail

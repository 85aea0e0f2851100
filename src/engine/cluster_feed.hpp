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
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <spdlog/fwd.h>

#include "shelfjobs/engine/engine.hpp"
#include "shelfjobs/engine/job_store.hpp"

namespace shelfjobs::detail {

/// The last write of a claimed job this node queued and has not seen committed (its Done has
/// not run): the job's end, or its return to the queue for a retry.
struct PendingEnd {
  int writes = 0;         // how many of the job's writes are on their way
  std::int64_t node = 0;  // the lease it was queued under: the server refuses it under another
  bool requeue = false;   // it queues the job again rather than ending it
  int attempt = 0;        // for a requeue: the attempt and due time the row then shows
  std::optional<TimePoint> not_before;
};

/// Whether the engine takes a job a claim handed it (queued, now claimed by node `node`).
/// `held`: the engine holds the job already; `pending`: its last write of the job still on its
/// way, or null.
///
/// With a write on its way, the claimed row either shows it (a retry's return to the queue
/// committed, and the claim took the job back before the write's Done ran here: taken, or it
/// would stay claimed by a node that does not hold it) or is older (handed over again after a
/// claim whose answer was lost, or freed by another node's rescue while this node's lease had
/// lapsed): skipped, since the write will end the job or queue it for any node once it
/// commits. Unless the write was queued under a lease this node has since lost: the server
/// refuses it, and the claim is the job's only way to run. A row shows a requeue when its
/// attempt and due time (to the millisecond the store keeps) are the requeue's.
bool take_claimed(const JobInfo& claimed, bool held, const PendingEnd* pending, std::int64_t node);

class ClusterFeed {
 public:
  struct Hooks {
    /// Jobs claimed for this node (queued, owned by it): to be run (see take_claimed()).
    std::function<void(std::vector<JobInfo>)> claimed;
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

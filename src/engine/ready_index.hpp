// SPDX-License-Identifier: MIT
#pragma once
// The ready index: which queued job may start now. It holds the jobs that are ready (queued, not
// delayed) in per-priority, per-command-type buckets, and what running jobs hold (threads, the
// Critical lane, exclusive runs, named locks, per-type counts). `pick()` applies every dispatch
// rule; it takes the time as an argument and asks a gate for rate keys, so it runs without Asio,
// threads or a clock, and "nothing may start now" is an exact answer.
//
// Thread-safety: none. The engine calls it on its dispatcher strand only.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "shelfjobs/engine/command.hpp"
#include "shelfjobs/engine/job.hpp"

namespace shelfjobs::detail {

class ReadyIndex {
 public:
  /// When a rate key next allows a use (a time in the past or `now`: it allows one now).
  using RateGate = std::function<TimePoint(const std::string& key)>;
  /// Run time is measured on the steady clock: it decides threads, not when work is due, so a
  /// host's clock (a test's manual one) does not move it.
  using SteadyTime = std::chrono::steady_clock::time_point;

  /// Short jobs share threads. While `lanes` regular jobs that started less than `young` ago
  /// run, the next regular job waits: for one of them to end (the thread that ran it takes the
  /// next job without waking another), or to pass that age (it is waiting on the network or
  /// the disk, or working long, and holds its thread). `young` of zero, or `lanes` of at least
  /// the workers: every regular job may start on a thread of its own at once.
  struct Compaction {
    int lanes = 0;
    std::chrono::microseconds young{0};
  };

  /// `workers`: regular threads; one more (the Critical lane) serves Critical jobs only.
  /// `idle_max_deferral`: an idle-only job starts anyway once it has waited this long.
  ReadyIndex(int workers, std::chrono::milliseconds idle_max_deferral, Compaction compaction);
  ReadyIndex(int workers, std::chrono::milliseconds idle_max_deferral)
      : ReadyIndex(workers, idle_max_deferral, Compaction{0, std::chrono::microseconds(0)}) {}

  /// A job became ready. `queued_at` decides idle-only deferral; `ready_since` aging.
  void add(JobId id, const CommandType* type, Priority priority, TimePoint queued_at, TimePoint ready_since);
  /// A ready job leaves (cancelled, delayed again, or its priority changes). No-op if absent.
  void remove(JobId id);

  /// The picked job starts at `since`: it leaves the ready set and takes its thread, locks and
  /// counts.
  void start(JobId id, SteadyTime since = {});
  /// A run of `type` at `priority`, started at `since` (as told to start()), ended: its thread,
  /// locks and counts are free.
  void release(const CommandType* type, Priority priority, SteadyTime since = {});

  /// A host's hold on named locks (Engine::hold_locks), outside any job. `hold` takes them as a
  /// running job of a type with those locks would; `want` says a hold waits for them, and then
  /// no job needing one of them starts, whatever its priority, so the hold is not overtaken.
  /// Each call is matched by its opposite with the same names. An exclusive job, which runs
  /// alone, waits for every held hold to end too.
  bool locks_free(const std::vector<std::string>& names) const;
  void hold(const std::vector<std::string>& names);
  void unhold(const std::vector<std::string>& names);
  void want(const std::vector<std::string>& names);
  void unwant(const std::vector<std::string>& names);

  struct Pick {
    std::optional<JobId> job;  ///< the job to start now, if any
    /// Set when a job was held back only by time (its rate key or its idle deferral): the
    /// earliest time a pick may find it allowed. Nothing else changes with time.
    std::optional<TimePoint> retry_at;
    /// Set when a regular job was held back only because young jobs fill the compaction's
    /// lanes: when the first of them passes that age (an end of one comes sooner and picks again).
    std::optional<SteadyTime> spread_at;
  };
  /// The job to start next under the rules, highest priority first, oldest first within one:
  /// nothing starts beside an exclusive job, and an exclusive job next in line waits for the
  /// running ones while nothing after it starts; type exclusivity, per-type caps, named locks,
  /// rate keys and idle-only; non-critical jobs use at most `workers` threads, so the Critical
  /// lane stays free. Its cost grows with the number of types with ready jobs, not with jobs.
  /// `steady_now` is the time of `Compaction` (the steady clock).
  Pick pick(TimePoint now, const RateGate& rate, SteadyTime steady_now = {}) const;

  /// Starvation: ready normal and low jobs ready since `period` or longer rise one level (each
  /// at most one per call). Returns the risen jobs with their new priority.
  std::vector<std::pair<JobId, Priority>> age(TimePoint now, std::chrono::milliseconds period);

  std::int64_t queued(Priority p) const { return queued_[idx(p)]; }
  std::int64_t running(Priority p) const { return running_by_priority_[idx(p)]; }
  int running_total() const { return running_total_; }
  /// Running jobs of each type that has any (started and not released).
  const std::unordered_map<const CommandType*, int>& running_by_type() const { return running_by_type_; }
  /// Ready time of the oldest ready job of `p` (by id), if any.
  std::optional<TimePoint> oldest_ready(Priority p) const;
  std::size_t size() const { return ready_.size(); }
  /// The compaction's lanes when it holds anything back (`young` above zero and fewer lanes than
  /// workers), else 0: what health reports as the rule in force.
  int compaction_lanes() const {
    return compaction_.young.count() > 0 && compaction_.lanes < workers_ ? compaction_.lanes : 0;
  }

 private:
  struct Entry {
    const CommandType* type;
    Priority priority;
    TimePoint queued_at;
    TimePoint ready_since;
  };
  static std::size_t idx(Priority p) { return static_cast<std::size_t>(p); }
  /// May the head of `type`'s bucket start now? Sets `wake` when only time holds it back.
  bool allowed(const CommandType* type, const Entry& head, TimePoint now, const RateGate& rate,
               std::optional<TimePoint>& wake) const;

  /// May another regular job start beside the running ones? Sets `spread_at` when not.
  bool spread_allowed(SteadyTime now, std::optional<SteadyTime>& spread_at) const;

  int workers_;
  std::chrono::milliseconds idle_max_deferral_;
  Compaction compaction_;
  std::multiset<SteadyTime> regular_since_;  // start of each running regular job (compaction only)
  std::unordered_map<JobId, Entry> ready_;
  std::unordered_map<const CommandType*, std::set<JobId>> buckets_[kPriorityCount];
  std::set<std::pair<JobId, const CommandType*>> heads_[kPriorityCount];
  std::int64_t queued_[kPriorityCount] = {};
  std::int64_t queued_non_idle_ = 0;
  std::int64_t running_by_priority_[kPriorityCount] = {};
  int running_total_ = 0;
  int critical_running_ = 0;
  int exclusive_running_ = 0;
  std::unordered_map<const CommandType*, int> running_by_type_;
  std::unordered_map<std::string, int> locks_held_;
  std::unordered_map<std::string, int> locks_wanted_;  // by holds that wait for them
  int holds_ = 0;                                      // holds held (hold() not yet unhold())
};

}  // namespace shelfjobs::detail

// SPDX-License-Identifier: MIT
#pragma once
// The worker side of a job: one `JobRun` per attempt holds what its handler shares with the
// dispatcher, `execute` runs the handler and classifies how it ended, and `JobRun::report`
// throttles progress. Nothing here touches the queue: the engine posts the outcome back to its
// strand.
//
// Threading: a JobRun is created on the strand, then its handler runs on a worker thread. The
// fields above `mu` are set before the run is posted and only read afterwards; progress and the
// completion message are guarded by `mu`; the flags are atomics.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>

#include <spdlog/fwd.h>
#include <nlohmann/json.hpp>

#include "engine/retry.hpp"
#include "engine/sync.hpp"
#include "shelfjobs/engine/command.hpp"
#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/host_events.hpp"
#include "shelfjobs/engine/push.hpp"

namespace shelfjobs::detail {

class JobRun;

/// What a running job may ask of its engine (the engine implements it).
class RunHost {
 public:
  /// The run's progress is worth publishing (already throttled): the host tells it through
  /// `run.tell_progress`, which hands it the run's latest report under the run's lock.
  virtual void on_progress(JobRun& run) = 0;
  /// A report was held back by the throttle: the host calls `run.take_held(tell)` after `after`,
  /// which tells the held report through `tell` (or asks for another wait), so that the last
  /// report is never left unpublished while the job runs on. Called once per held-back stretch,
  /// not once per report.
  virtual void on_progress_held(JobRun& run, std::chrono::steady_clock::duration after) = 0;
  /// A follow-up job pushed by the handler.
  virtual Result<PushResult> push_from_job(const JobRun& run, PushRequest request) = 0;
  /// A debounced follow-up pushed by the handler.
  virtual Status push_debounced_from_job(const JobRun& run, PushRequest request,
                                         std::chrono::milliseconds window,
                                         std::chrono::milliseconds max_wait) = 0;
  virtual spdlog::logger& logger() = 0;
  /// Blocks until every store write called so far (the run's own start among them) is committed.
  virtual void flush_store() = 0;
  /// Called on the worker before a job of a rate-keyed type runs its handler: returns once the
  /// run may use its key (at once for a lone engine, whose dispatcher spaced it already; in a
  /// cluster after the key's slot across the nodes). Throws JobError: `database` when the slot
  /// cannot be reserved, `cancelled` when the run's token is cancelled while it waits.
  virtual void wait_rate_slot(JobRun& run) = 0;

 protected:
  ~RunHost() = default;
};

class JobRun {
 public:
  RunHost* host = nullptr;
  JobId id = 0;
  int attempt = 1;
  std::string name;
  Trigger trigger = Trigger::manual;
  const CommandType* type = nullptr;
  std::shared_ptr<const nlohmann::json> body;  // shared with the queued job: never copied
  std::chrono::milliseconds progress_interval{0};
  std::stop_source stop;
  std::atomic<bool> cancelled_by_user{false};  // cancel() rather than stop()
  std::atomic<bool> timed_out{false};          // its timeout cancelled the token
  std::atomic<bool> abandoned{false};          // failed as timeout while its handler still ran

  /// What a report asks of the host: publish the run's progress now (`publish`:
  /// `progress_interval` has passed since the last one published), or, the report held back,
  /// take it with take_held() after `flush_in` (set only for the first report of a held-back
  /// stretch), or nothing. The progress is not copied out: the host reads it in tell_progress.
  struct ReportAction {
    bool publish = false;
    std::optional<std::chrono::steady_clock::duration> flush_in;
  };
  /// Records a report (throttled to one published per `progress_interval`).
  ReportAction report(std::optional<std::int64_t> current, std::optional<std::int64_t> total,
                      std::string message);
  /// How a held report is told: as tell_progress's `tell`, under the run's lock.
  using Tell = std::function<void(const JobDelta& running, const Progress& progress)>;
  /// The host's flush, asked for by a report's `flush_in`: tells the report held back since the
  /// last one published through `tell` (unless the run ended), counted as published now
  /// (`publish`); or, when a report was published at once since the flush was asked (so the
  /// interval since it has not passed), asks again after the rest of the interval (`flush_in`);
  /// or nothing, when nothing is held back. The report is told under the same lock that takes
  /// it, so a report made meanwhile is held for the next flush, not told in its place.
  ReportAction take_held(const Tell& tell);
  /// The latest report, when one came since the last call and the run has not ended: what the
  /// progress sweep writes to the store. Clears the mark.
  std::optional<Progress> take_unpersisted();
  void set_completion(std::string message);
  Progress progress();
  void set_progress(Progress p);
  std::optional<std::string> completion();

  /// The job as its events tell it while it runs, taken on the strand as the run starts (nothing
  /// of it changes while the handler runs but its progress, and a task a merged push names).
  void set_running(JobDelta delta);
  void set_task(std::string task);
  /// Calls `tell(delta, progress)` with the running job's delta and its latest report under the
  /// run's lock, unless the run's end was taken (end()): a report is then told before the job's
  /// end or not at all, from whichever thread publishes it. The delta's progress is the one at
  /// the start; `progress` is the report to tell beside it (valid during the call only).
  template <class F>
  void tell_progress(F&& tell) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (ended_) return;
    tell(static_cast<const JobDelta&>(running_), static_cast<const Progress&>(progress_));
  }
  /// The strand, as the run ends: no progress is told after this. Returns the last progress,
  /// moved out (progress() reads an empty one and take_held() nothing from here on).
  Progress end();

 private:
  Mutex mu_;
  JobDelta running_ GUARDED_BY(mu_);
  bool ended_ GUARDED_BY(mu_) = false;
  Progress progress_ GUARDED_BY(mu_);
  std::optional<std::string> completion_ GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point last_emit_ GUARDED_BY(mu_){};
  bool held_ GUARDED_BY(mu_) = false;         // a report since the last published was held back
  bool flush_asked_ GUARDED_BY(mu_) = false;  // the host will call take_held()
  bool unpersisted_ GUARDED_BY(mu_) = false;  // a report came since take_unpersisted()
};

/// The kind of a std::system_error: connection errors are `network`, other system or generic
/// errors `filesystem`, the rest `permanent`.
ErrorKind kind_of(const std::system_error& e);

/// Runs the handler on the calling (worker) thread and classifies how it ended. Nothing thrown
/// by a handler leaves this function. A handler that ends after its token was cancelled ends
/// Cancelled (by a user or stop) or failed as `timeout` (by its timeout).
Outcome execute(JobRun& run);

}  // namespace shelfjobs::detail

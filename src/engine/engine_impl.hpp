// SPDX-License-Identifier: MIT
#pragma once
// The engine's coordinator: it owns the dispatcher strand and wires the parts.
//
//   part                       file                 runs on
//   ReadyIndex (pick rules)    ready_index          strand
//   TimerQueue (deadlines)     timer_queue          strand (one Asio timer wakes it)
//   decide_retry               retry                strand (pure)
//   prepare / DedupIndex       admission            caller's thread / strand and, for a durable
//                                                   push with no twin, the caller's thread
//                                                   (under inbox_mu_, with the next id)
//   TaskScheduler              task_scheduler       strand
//   Debouncer                  debouncer            strand
//   JobRun / execute           job_runner           worker threads
//   PoolNudge                  pool_nudge           control thread (posts a no-op to the pool)
//   recover                    recovery             opening thread (pure)
//   HealthFigures / Alerts     health_figures, alerts  strand
//   EventHub                   event_hub            publishes from the strand; one delivery
//                                                   thread per subscriber
//   JobStore                   include/shelfjobs/job_store.hpp: its own writer thread
//
// Who owns what:
//  - `strand_` owns every member under "strand state"; each member function that touches it
//    asserts so (SHELFJOBS_ASSERT_STRAND) in debug and sanitizer builds. Public calls post to the
//    strand (or run inline when already on it).
//  - The strand and the handlers share one pool, `work_io_`, of `workers + kExtraThreads`
//    threads: at most `workers + 1` handlers run at once (the extra one is the Critical lane, see
//    ReadyIndex::pick), so a thread is always free for the strand and one for a prune. Sharing
//    the pool lets a worker that finished a job run the strand's bookkeeping and start the next
//    job itself, where a strand thread of its own needed two thread wake-ups per job.
//  - `ctl_io_` runs on one thread and only serves the wake-up timer, the short-job lanes' timer
//    and the pool nudge.
//  - `idle_mu_` guards only the counters that blocking waiters (`wait_idle`, `stop`) watch;
//    `gate_mu_` the strand gateway; `stop_mu_` stop(). Each is annotated for clang's analysis.

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/defer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include <spdlog/spdlog.h>

#include "engine/admission.hpp"
#include "engine/alerts.hpp"
#include "engine/cluster_feed.hpp"
#include "engine/debouncer.hpp"
#include "engine/event_hub.hpp"
#include "engine/health_figures.hpp"
#include "engine/job_runner.hpp"
#include "engine/lock_holds.hpp"
#include "engine/pool_nudge.hpp"
#include "engine/ready_index.hpp"
#include "engine/recovery.hpp"
#include "engine/retry.hpp"
#include "engine/sync.hpp"
#include "engine/task_scheduler.hpp"
#include "engine/timer_queue.hpp"
#include "shelfjobs/engine/engine.hpp"

namespace shelfjobs {

namespace asio = boost::asio;

class Engine::Impl final : public detail::RunHost {
 public:
  /// Pool threads beyond `workers`: the Critical lane, the strand, a prune.
  static constexpr int kExtraThreads = 3;

  /// `recovered`: the jobs to keep; `ended`: those recovery ended (already written, counted in
  /// the store's totals after `state` was read).
  Impl(EngineOptions options, Registry registry, std::shared_ptr<JobStore> store,
       std::vector<JobInfo> recovered, std::vector<JobInfo> ended, StoredState state);
  ~Impl();

  // ------------------------------------------------------------ strand gateway
  // Runs `f` on the strand and returns its result; inline when already on the strand.
  // Returns nullopt (without running `f`) once stop() has closed the strand.
  template <class F, class R = std::invoke_result_t<F&>,
            class Out = std::conditional_t<std::is_void_v<R>, std::monostate, R>>
  std::optional<Out> on_strand(F&& f) {
    if (strand_.running_in_this_thread()) {
      if constexpr (std::is_void_v<R>) {
        f();
        return std::optional<std::monostate>{};
      } else {
        return f();
      }
    }
    if (!enter_gate()) return std::nullopt;
    struct Leave {
      Impl* self;
      ~Leave() { self->leave_gate(); }
    } leave{this};
    std::packaged_task<R()> task(std::forward<F>(f));
    auto fut = task.get_future();
    asio::post(strand_, [&task] { task(); });
    if constexpr (std::is_void_v<R>) {
      fut.get();
      return std::optional<std::monostate>{};
    } else {
      return fut.get();
    }
  }
  bool enter_gate();
  void leave_gate();
  // Refuses later on_strand calls and waits for those in flight, so the strand thread can end.
  void close_gate();

  // ------------------------------------------------------------ strand state
  struct Active {
    JobInfo info;  // its body stays null: `body` holds it, shared with runs and events
    std::shared_ptr<const nlohmann::json> body;
    const CommandType* type = nullptr;
    // Its entry in dedup_ (which holds its key), from admission to forget(): it stays put
    // (DedupIndex). Used under inbox_mu_, as dedup_ is.
    detail::DedupIndex::Slot* dedup = nullptr;
    std::shared_ptr<detail::JobRun> run;  // set while executing
    bool delayed = false;                 // queued, but not before info.not_before
    std::uint64_t gen = 0;                // bumped whenever it leaves a place; stale timers see it
    std::chrono::milliseconds rate_waited{0};
    std::chrono::steady_clock::time_point run_since{};  // set while executing (ReadyIndex::Compaction)
  };
  using ActiveIt = std::unordered_map<JobId, Active>::iterator;

  // Timers (strand).
  void add_timer(TimePoint at, std::function<void()> fn);
  void arm();
  void on_timers();

  // The queue (strand).
  void place(Active& a);
  void unplace(Active& a);
  void dispatch();
  void start_job(Active& a);
  void on_timeout(const std::shared_ptr<detail::JobRun>& run);
  void on_grace_over(const std::shared_ptr<detail::JobRun>& run);
  void on_finished(const std::shared_ptr<detail::JobRun>& run, const detail::Outcome& out);
  void finish(ActiveIt it, const std::shared_ptr<detail::JobRun>& run, const detail::Outcome& out);
  void conclude(ActiveIt it);
  bool retry(Active& a, const detail::Outcome& out, TimePoint now);
  void interrupted_by_stop(ActiveIt it);
  void forget(ActiveIt it);
  void set_active_count();
  void age_queued();
  void schedule_aging();

  // Pushes (strand). `into_running`: may merge into a running twin (the type allows it and the
  // push is not a debounced one).
  Result<PushResult> push_on_strand(detail::Prepared& p, bool debounced = false);
  // Host lock holds (Engine::hold_locks): asked on the strand (0, and `wait` refused, once the
  // engine stops accepting work); ended from any thread, by the asker's timeout (`withdraw`) or
  // its release.
  std::uint64_t request_hold(std::vector<std::string> names, std::shared_ptr<detail::HoldWait> wait);
  void post_hold_end(std::uint64_t id, bool withdraw);
  Result<PushResult> push_durable(detail::Prepared p);
  struct DurableWait;
  struct InboxItem;
  struct InboxTurn;
  std::vector<InboxItem> take_inbox(bool keep_posted = false);
  void admit(InboxItem& item) REQUIRES(inbox_mu_);
  std::optional<JobId> twin_or_new(detail::Prepared& p, bool into_running, std::optional<Active>& made)
      REQUIRES(inbox_mu_);
  JobInfo place_new(Active made);        // strand
  void place_admitted(InboxItem& item);  // strand
  bool place_admitted_early();           // strand
  void run_inbox();                      // strand
  void watch_inbox();                    // a pool thread, off the strand
  // A shared queue (strand): a push inserts a row for any node to claim; claimed jobs and dead
  // nodes' running jobs come from the feed.
  Result<PushResult> push_shared(detail::Prepared& p);
  JobInfo new_job(JobId id, const detail::Prepared& p) const;
  void on_claimed(std::vector<JobInfo> jobs);
  Active& adopt(JobInfo job, const CommandType* type);
  void on_orphans(std::vector<JobInfo> jobs);
  std::optional<JobInfo> cancel_here(JobId id);
  std::optional<JobInfo> cancel_taken(JobInfo job);
  void on_cancel_requests(const std::vector<JobId>& ids);
  void on_changed_elsewhere(std::vector<JobInfo> jobs);
  void write_end(const JobInfo& info);
  std::optional<detail::PendingEnd> pending_end(JobId id);
  int free_slots() const;
  void on_debounce(const std::string& key);
  JobInfo snapshot(const Active& a) const;

  // Events (strand).
  void emit(JobEvent::Type type, const Active& a);
  // The run's latest report, told unless the run has ended (any thread: see on_progress); persisted at once
  // only with a progress_interval of 0, else by persist_progress.
  void tell_progress(detail::JobRun& run);
  // What telling a run's report does, called under the run's lock (tell_progress, take_held):
  // the store's write with a progress_interval of 0, and the event when someone wants it.
  void tell_report(JobId id, const JobDelta& running, const Progress& progress);
  // Writes the running jobs' latest progress to the store, every progress_interval while jobs
  // run (strand).
  void persist_progress();
  void arm_progress_sweep();
  // Takes the report `run` held back, after `after`, and publishes it (or waits again).
  void flush_progress_after(JobId id, const detail::JobRun* run, std::chrono::steady_clock::duration after);
  void emit_task(const TaskInfo& t);
  JobDelta delta(const Active& a) const;

  // Health (strand).
  HealthSnapshot health_snapshot(bool series);
  void check_alerts();
  void schedule_checks();
  void schedule_minutes();
  void schedule_pruning();
  void update_saturation();

  // detail::RunHost: called from worker threads.
  void on_progress(detail::JobRun& run) override;
  void on_progress_held(detail::JobRun& run, std::chrono::steady_clock::duration after) override;
  Result<PushResult> push_from_job(const detail::JobRun& run, PushRequest request) override;
  Status push_debounced_from_job(const detail::JobRun& run, PushRequest request,
                                 std::chrono::milliseconds window,
                                 std::chrono::milliseconds max_wait) override;
  spdlog::logger& logger() override { return *log_; }
  void flush_store() override { store_->flush(); }
  void wait_rate_slot(detail::JobRun& run) override;

  // Any thread.
  Result<PushResult> push(detail::Prepared p);
  Status push_debounced(detail::Prepared p, std::chrono::milliseconds window,
                        std::chrono::milliseconds max_wait);
  void add_worker();

  // ------------------------------------------------------------ config and parts
  EngineOptions opts_;
  Registry registry_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<Clock> clock_;
  std::shared_ptr<JobStore> store_;
  std::shared_ptr<RateLimiter> rate_limiter_;
  detail::EventHub hub_;

  asio::io_context ctl_io_{1};
  asio::io_context work_io_;  // before strand_: the strand is made on it
  asio::strand<asio::io_context::executor_type> strand_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> ctl_guard_;
  std::thread ctl_thread_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_guard_;
  std::vector<std::thread> workers_;       // grows when a stuck handler is abandoned
  std::atomic<int> abandoned_running_{0};  // abandoned handlers that have not returned
  std::deque<std::atomic<bool>> exited_;   // one per worker; a deque never moves its elements
  asio::steady_timer wake_timer_;
  // Picks again when a young job passes the compaction's age (ReadyIndex::Compaction); armed
  // at most once at a time (strand).
  asio::steady_timer spread_timer_;
  bool spread_armed_ = false;
  // A no-op posted to the pool now and then, so that a wake-up the C library lost cannot leave
  // the strand's turn queued while every pool thread sleeps (see pool_nudge.hpp).
  static constexpr std::chrono::milliseconds kNudgeEvery{250};
  // How long the pool thread that ran an inbox turn watches for the next pushes (watch_inbox).
  static constexpr std::chrono::microseconds kInboxWatch{50};
  // How long a durable push looks for its commit before it sleeps (push_durable).
  static constexpr std::chrono::microseconds kCommitSpin{300};
  detail::PoolNudge nudge_{ctl_io_, work_io_, kNudgeEvery};
  std::uint64_t clock_listener_ = 0;
  std::uint64_t notifier_sub_ = 0;
  std::mt19937_64 rng_{std::random_device{}()};
  SharedQueue* shared_ = nullptr;  // set when the queue is shared (EngineOptions::cluster)
  std::unique_ptr<detail::ClusterFeed> feed_;
  std::atomic<int> held_{0};  // active_.size(), for the feed's thread
  // strand: the status last published for a job another node runs (events once per change)
  std::unordered_map<JobId, JobStatus> elsewhere_;
  // Durable pushes waiting for one strand turn (push_durable), and what admission reads and
  // writes off the strand as well as on it: the dedup index and the next id.
  detail::Mutex inbox_mu_;
  std::vector<InboxItem> inbox_ GUARDED_BY(inbox_mu_);
  bool inbox_posted_ GUARDED_BY(inbox_mu_) = false;  // a turn is posted, or a pool thread watches
  bool admit_open_ GUARDED_BY(inbox_mu_) = true;     // pushes may be admitted off the strand
  std::atomic<bool> inbox_filled_{false};            // hint for the watch: inbox_ holds pushes
  // Claimed jobs whose last write is not committed yet: that write, and how many are on their
  // way (each one's Done takes one off).
  detail::Mutex pending_mu_;
  std::unordered_map<JobId, detail::PendingEnd> pending_ GUARDED_BY(pending_mu_);

  // strand state
  std::unordered_map<JobId, Active> active_;
  detail::ReadyIndex ready_;
  detail::LockHolds holds_;                         // the host's holds on named locks (Engine::hold_locks)
  detail::DedupIndex dedup_ GUARDED_BY(inbox_mu_);  // also off the strand (admit)
  detail::TimerQueue timers_;
  detail::TaskScheduler tasks_;
  detail::Debouncer debouncer_;
  detail::HealthFigures figures_;
  detail::Alerts alerts_;
  std::int64_t delayed_[kPriorityCount] = {};
  std::set<TimePoint> wakes_;  // pick wake-ups already armed (rate keys, idle deferrals)
  std::optional<TimePoint> saturated_since_;
  std::vector<std::shared_ptr<detail::JobRun>> runs_;  // the executing runs, for the progress sweep
  bool sweep_armed_ = false;                           // a persist_progress timer is set
  JobId next_id_ GUARDED_BY(inbox_mu_);                // also off the strand (admit)
  bool started_ = false;
  bool accepting_ = true;

  // watched by blocking waiters
  detail::Mutex idle_mu_;
  std::condition_variable idle_cv_;
  std::size_t active_count_ GUARDED_BY(idle_mu_) = 0;
  std::size_t running_count_ GUARDED_BY(idle_mu_) = 0;

  detail::Mutex gate_mu_;
  std::condition_variable gate_cv_;
  int inflight_ GUARDED_BY(gate_mu_) = 0;
  bool gate_closed_ GUARDED_BY(gate_mu_) = false;

  detail::Mutex stop_mu_;
  bool stopped_ GUARDED_BY(stop_mu_) = false;
  bool stop_result_ GUARDED_BY(stop_mu_) = true;
  std::atomic<bool> leaked_{false};  // a handler outlived stop(): Impl must stay alive
};

}  // namespace shelfjobs

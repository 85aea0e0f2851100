// SPDX-License-Identifier: MIT
#pragma once
// The engine's machinery: dispatcher strand, timers, worker pool, retries, scheduled tasks.
// Recovery at open is in engine.cpp (Engine::create); health and alerts in health.cpp.
//
// Who owns what:
//  - `ctl_io_` runs on one thread and `strand_` on it owns every member under "strand state".
//    Public calls post to the strand (or run inline when already on it); nothing there is
//    locked.
//  - Handlers run on `work_io_`, served by `workers + 1` threads: the extra one is the Critical
//    lane. Non-critical jobs start only while fewer than `workers` non-critical jobs run, so
//    however long the regular jobs are, a thread is free for a Critical job whose locks allow
//    it (unless Critical jobs already fill the lane).
//  - The store's writer thread owns the SQLite connection (see store.hpp).
//  - `idle_mu_` guards only the counters that blocking waiters (`wait_idle`, `stop`) watch.
//
// Picking: queued jobs sit in per-priority, per-command-type buckets ordered by id (FIFO). The
// rules (exclusive, type-exclusive, locks, caps, rate keys, idle-only) are properties of the
// type, so when a bucket's head may not start, nothing in that bucket may; the one per-job
// exception, an idle-only job's maximum deferral, is decided by the head, the oldest. A pick walks bucket heads from the
// highest priority down, in id order: its cost grows with the number of command types that
// have queued jobs, never with the number of queued jobs.

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <SQLiteCpp/Exception.h>

#include <cerrno>
#include <deque>
#include <filesystem>
#include <map>
#include <random>
#include <system_error>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <variant>

#include <spdlog/spdlog.h>

#include "shelfjobs/engine.hpp"
#include "store.hpp"

namespace shelfjobs {

namespace asio = boost::asio;

namespace detail {

// The shared state of one run of a handler: the worker thread writes progress, the strand
// reads it. Everything else is set before the run is posted and then only read.
class JobRun {
 public:
  Engine::Impl* engine = nullptr;
  JobId id = 0;
  int attempt = 1;
  std::string name;
  Trigger trigger = Trigger::manual;
  const CommandType* type = nullptr;
  nlohmann::json body;
  std::stop_source stop;
  std::atomic<bool> cancelled_by_user{false};  // cancel() rather than stop()
  std::atomic<bool> timed_out{false};          // its timeout cancelled the token
  std::atomic<bool> abandoned{false};          // failed as timeout while its handler still ran

  std::mutex mu;
  Progress progress;                      // guarded by mu
  std::optional<std::string> completion;  // guarded by mu
  std::chrono::steady_clock::time_point last_emit{};  // guarded by mu
};

}  // namespace detail

class Engine::Impl {
 public:
  Impl(EngineOptions options, Registry registry, std::unique_ptr<detail::Store> store,
       std::vector<JobInfo> recovered, JobId max_id, std::vector<detail::TaskRow> task_rows,
       std::vector<detail::TypeHistory> history, std::vector<detail::RunSample> samples)
      : opts_(std::move(options)),
        registry_(std::move(registry)),
        log_(opts_.logger),
        clock_(opts_.clock),
        store_(std::move(store)),
        strand_(asio::make_strand(ctl_io_)),
        ctl_guard_(asio::make_work_guard(ctl_io_)),
        work_guard_(asio::make_work_guard(work_io_)),
        wake_timer_(ctl_io_),
        next_id_(max_id + 1) {
    for (auto& job : recovered) {
      const CommandType* type = registry_.find(job.name);
      Active a{std::move(job), type, {}, nullptr};
      a.key = dedup_key(*type, a.info.body);
      const JobId id = a.info.id;
      by_key_.try_emplace(a.key, id);
      auto& slot = active_.emplace(id, std::move(a)).first->second;
      place(slot);
    }
    for (auto& row : task_rows) stored_tasks_.emplace(row.name, std::move(row));
    if (opts_.aging_period.count() > 0) schedule_aging();
    load_health(std::move(history), std::move(samples));
    if (opts_.alerts.check_interval.count() > 0) schedule_checks();
    if (opts_.retention.interval.count() > 0) schedule_pruning();
    active_count_ = active_.size();
    store_->start_writer();
    clock_listener_ = clock_->add_listener([this] {
      asio::post(strand_, [this] { on_timers(); });
    });
    ctl_thread_ = std::thread([this] { ctl_io_.run(); });
    for (int i = 0; i < opts_.workers + 1; ++i) add_worker();
    asio::post(strand_, [this] { arm(); });
  }

  // Runs on: the strand (or the constructor). One more thread serves handlers.
  void add_worker() {
    auto& exited = exited_.emplace_back(false);
    workers_.emplace_back([this, &exited] {
      work_io_.run();
      exited = true;
    });
  }

  ~Impl() {
    // stop() has joined or (for stuck handlers) detached every thread; see Engine::~Engine.
  }

  static std::string dedup_key(const CommandType& type, const nlohmann::json& body) {
    if (type.traits.dedup_key) return type.name + '\n' + type.traits.dedup_key(body);
    // nlohmann's object keys are sorted, so dump() is canonical: equal bodies dump equal, lists
    // keep their order and null is a value like any other.
    return type.name + '\n' + body.dump();
  }

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
    {
      std::lock_guard lock(gate_mu_);
      if (gate_closed_) return std::nullopt;
      ++inflight_;
    }
    struct Leave {
      Impl* self;
      ~Leave() {
        {
          std::lock_guard lock(self->gate_mu_);
          --self->inflight_;
        }
        self->gate_cv_.notify_all();
      }
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

  // Refuses later on_strand calls and waits for those in flight, so the strand thread can end.
  void close_gate() {
    std::unique_lock lock(gate_mu_);
    gate_closed_ = true;
    gate_cv_.wait(lock, [this] { return inflight_ == 0; });
  }

  // ---------------------------------------------------------------- strand state
  struct Active {
    JobInfo info;
    const CommandType* type;
    std::string key;
    std::shared_ptr<detail::JobRun> run;  // set while executing
    bool delayed = false;                  // queued, but not before info.not_before
    TimePoint ready_since{};               // when it became ready at its current priority
    std::uint64_t gen = 0;                 // bumped whenever it leaves a place; stale timers see it
    std::chrono::milliseconds rate_waited{0};
  };

  // ---------------------------------------------------------------- timers
  // One steady_timer serves every deadline (delayed jobs, timeouts, idle deferrals, rate-key
  // waits, aging). Deadlines are on the injected clock: the timer is armed for the earliest one
  // in real time (capped, so a wall-clock jump is noticed), and a clock that jumps tells us.
  void add_timer(TimePoint at, std::function<void()> fn) {
    const bool earliest = timers_.empty() || at < timers_.begin()->first;
    timers_.emplace(at, std::move(fn));
    if (earliest) arm();
  }

  void arm() {
    if (!accepting_) return;
    if (timers_.empty()) {
      wake_timer_.cancel();
      return;
    }
    auto delay = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        timers_.begin()->first - clock_->now());
    delay = std::clamp(delay, std::chrono::steady_clock::duration::zero(),
                       std::chrono::steady_clock::duration(std::chrono::seconds(30)));
    wake_timer_.expires_after(delay);
    wake_timer_.async_wait(asio::bind_executor(strand_, [this](const boost::system::error_code& ec) {
      if (!ec) on_timers();
    }));
  }

  void on_timers() {
    if (!accepting_) return;
    const TimePoint now = clock_->now();
    while (!timers_.empty() && timers_.begin()->first <= now) {
      auto fn = std::move(timers_.begin()->second);
      timers_.erase(timers_.begin());
      fn();
    }
    dispatch();
    arm();
  }

  // Puts a queued job where it waits: the timer queue if it may not start yet, else its bucket.
  void place(Active& a) {
    const TimePoint now = clock_->now();
    if (a.info.not_before && *a.info.not_before > now) {
      a.delayed = true;
      ++depth_.delayed[idx(a.info.priority)];
      add_timer(*a.info.not_before, [this, id = a.info.id, gen = a.gen] {
        auto it = active_.find(id);
        if (it == active_.end() || it->second.gen != gen || !it->second.delayed) return;
        Active& x = it->second;
        x.delayed = false;
        --depth_.delayed[idx(x.info.priority)];
        x.info.not_before.reset();
        x.ready_since = clock_->now();
        enqueue_ready(x);
      });
      return;
    }
    a.ready_since = now;
    enqueue_ready(a);
    if (a.type->traits.idle_only) {
      // Wake when its maximum deferral is over, even if the queue never empties.
      add_timer(a.info.queued_at + opts_.idle_max_deferral, [] {});
    }
  }

  // Takes a queued job out of wherever it waits.
  void unplace(Active& a) {
    ++a.gen;
    if (a.delayed) {
      a.delayed = false;
      --depth_.delayed[idx(a.info.priority)];
    } else {
      remove_ready(a);
    }
  }

  // Starvation: ready low and normal jobs that waited a whole aging period rise one level.
  // Buckets are FIFO by id, which is close to the order they became ready, so a bucket is
  // walked from its head and the walk stops at the first job that is young enough.
  void schedule_aging() {
    const auto period = opts_.aging_period;
    const auto step = std::max<std::chrono::milliseconds>(period / 4, std::chrono::seconds(1));
    add_timer(clock_->now() + step, [this] {
      age_queued();
      schedule_aging();
    });
  }

  void age_queued() {
    const TimePoint now = clock_->now();
    for (Priority p : {Priority::normal, Priority::low}) {  // normal first: a job rises once
      std::vector<Active*> rising;
      for (auto& [type, bucket] : buckets_[idx(p)]) {
        for (JobId id : bucket) {
          Active& a = active_.at(id);
          if (now - a.ready_since < opts_.aging_period) break;
          rising.push_back(&a);
        }
      }
      for (Active* a : rising) {
        remove_ready(*a);
        a->info.priority = static_cast<Priority>(static_cast<int>(p) + 1);
        a->ready_since = now;
        enqueue_ready(*a);
        store_->update_queued(a->info.id, a->info.priority, a->info.trigger, a->info.event);
        log_->info("job {} {} waited {} min; raised to {}", a->info.id, a->info.name,
                   std::chrono::duration_cast<std::chrono::minutes>(opts_.aging_period).count(),
                   to_string(a->info.priority));
      }
    }
  }

  static std::size_t idx(Priority p) { return static_cast<std::size_t>(p); }

  // A copy for the store's writer without the JSON body, which finish and insert writes do not
  // read from it (insert gets the body's text): copying the body per write was a large part of
  // the per-job cost.
  static JobInfo without_body(JobInfo& job) {
    nlohmann::json body = std::move(job.body);
    JobInfo copy = job;
    job.body = std::move(body);
    return copy;
  }

  void enqueue_ready(Active& a) {
    const auto p = idx(a.info.priority);
    auto& bucket = buckets_[p][a.type];
    const bool was_empty = bucket.empty();
    const JobId old_head = was_empty ? 0 : *bucket.begin();
    bucket.insert(a.info.id);
    if (was_empty || a.info.id < old_head) {
      if (!was_empty) heads_[p].erase({old_head, a.type});
      heads_[p].insert({a.info.id, a.type});
    }
    ++depth_.queued[p];
    if (!a.type->traits.idle_only) ++queued_non_idle_;
  }

  void remove_ready(Active& a) {
    const auto p = idx(a.info.priority);
    auto it = buckets_[p].find(a.type);
    auto& bucket = it->second;
    const bool was_head = *bucket.begin() == a.info.id;
    bucket.erase(a.info.id);
    if (was_head) {
      heads_[p].erase({a.info.id, a.type});
      if (!bucket.empty()) heads_[p].insert({*bucket.begin(), a.type});
    }
    if (bucket.empty()) buckets_[p].erase(it);
    --depth_.queued[p];
    if (!a.type->traits.idle_only) --queued_non_idle_;
  }

  void emit(JobEvent::Type type, const JobInfo& info) {
    if (observers_.empty()) return;
    const JobEvent ev{type, info};
    // A copy of the list: an observer may subscribe or unsubscribe from inside its call.
    const auto observers = observers_;
    for (const auto& [id, obs] : observers) {
      try {
        (*obs)(ev);
      } catch (const std::exception& e) {
        log_->warn("job observer {} threw: {}", id, e.what());
      } catch (...) {
        log_->warn("job observer {} threw", id);
      }
    }
  }

  void set_active_count() {
    {
      std::lock_guard lock(idle_mu_);
      active_count_ = active_.size();
      running_count_ = static_cast<std::size_t>(running_total_);
    }
    idle_cv_.notify_all();
  }

  // May the job `head` (the oldest of its bucket) start now? Every rule but the idle-only
  // deferral is a property of the type, so a refusal holds for the whole bucket.
  bool allowed(const CommandType* type, JobId head, TimePoint now) {
    const auto& t = type->traits;
    auto running = running_by_type_.find(type);
    const int of_type = running == running_by_type_.end() ? 0 : running->second;
    if (t.type_exclusive && of_type > 0) return false;
    if (t.max_concurrent > 0 && of_type >= t.max_concurrent) return false;
    for (const auto& lock : t.locks) {
      auto it = locks_held_.find(lock);
      if (it != locks_held_.end() && it->second > 0) return false;
    }
    if (t.idle_only && (running_total_ > 0 || queued_non_idle_ > 0) &&
        now - active_.at(head).info.queued_at < opts_.idle_max_deferral) {
      return false;
    }
    if (!t.rate_key.empty()) {
      const TimePoint free_at = rate_limiter_->next_free(t.rate_key);
      if (free_at > now) {
        // Come back when the key allows a use; meanwhile other buckets go ahead.
        if (rate_wakes_.insert(free_at).second) {
          add_timer(free_at, [this, free_at] { rate_wakes_.erase(free_at); });
        }
        return false;
      }
    }
    return true;
  }

  void dispatch() {
    if (!started_ || !accepting_) return;
    const int regular = opts_.workers;
    const TimePoint now = clock_->now();
    for (;;) {
      if (exclusive_running_ > 0) return;  // nothing starts beside an exclusive job
      if (running_total_ >= regular + 1) return;  // every thread, the lane included, is busy
      // Non-critical jobs may use only `regular` threads, so one stays free for Critical work.
      const bool regular_free = running_total_ - critical_running_ < regular;
      Active* pick = nullptr;
      for (int p = kPriorityCount - 1; p >= 0 && !pick; --p) {
        if (!regular_free && p != static_cast<int>(Priority::critical)) break;
        for (const auto& [head, type] : heads_[static_cast<std::size_t>(p)]) {
          if (type->traits.exclusive) {
            // The exclusive job is next: it waits for running jobs, and new starts pause
            // until they are done, so it is not overtaken indefinitely.
            if (running_total_ > 0) return;
            pick = &active_.at(head);
            break;
          }
          if (allowed(type, head, now)) {
            pick = &active_.at(head);
            break;
          }
        }
      }
      if (!pick) return;
      start_job(*pick);
    }
  }

  void start_job(Active& a) {
    remove_ready(a);
    a.info.status = JobStatus::executing;
    a.info.started_at = clock_->now();
    a.info.message.clear();  // a retry's "attempt 2 of 4, next try at ..." is over
    ++running_total_;
    if (a.info.priority == Priority::critical) ++critical_running_;
    ++depth_.running[idx(a.info.priority)];
    if (a.type->traits.exclusive) ++exclusive_running_;
    ++running_by_type_[a.type];
    for (const auto& lock : a.type->traits.locks) ++locks_held_[lock];
    if (!a.type->traits.rate_key.empty()) rate_limiter_->try_acquire(a.type->traits.rate_key);
    store_->start(a.info.id, *a.info.started_at, a.info.attempt);

    auto run = std::make_shared<detail::JobRun>();
    run->engine = this;
    run->id = a.info.id;
    run->attempt = a.info.attempt;
    run->name = a.info.name;
    run->trigger = a.info.trigger;
    run->type = a.type;
    run->body = a.info.body;
    run->progress = a.info.progress;
    a.run = run;
    set_active_count();
    if (a.type->traits.timeout.count() > 0) {
      add_timer(*a.info.started_at + a.type->traits.timeout, [this, run] { on_timeout(run); });
    }
    if (!a.info.task.empty()) task_started(a.info);
    record_start(a.info);
    update_saturation();
    emit(JobEvent::Type::started, a.info);
    asio::post(work_io_, [this, run] { execute(run); });
  }

  // Runs on: the strand. The job's timeout passed: ask it to stop, and give it a grace period.
  void on_timeout(const std::shared_ptr<detail::JobRun>& run) {
    auto it = active_.find(run->id);
    if (it == active_.end() || it->second.run != run) return;
    run->timed_out = true;
    run->stop.request_stop();
    log_->warn("job {} {} passed its timeout of {} ms; cancelling it", run->id, run->name,
               run->type->traits.timeout.count());
    add_timer(clock_->now() + opts_.timeout_grace, [this, run] { on_grace_over(run); });
  }

  // Runs on: the strand. The handler ignored its cancellation: fail the job, free its locks, and
  // give the pool a new thread in place of the one the handler keeps.
  void on_grace_over(const std::shared_ptr<detail::JobRun>& run) {
    auto it = active_.find(run->id);
    if (it == active_.end() || it->second.run != run) return;
    run->abandoned = true;
    ++abandoned_running_;
    log_->error("job {} {} did not stop within {} ms of its timeout; abandoning it and adding a "
                "worker in its place",
                run->id, run->name, opts_.timeout_grace.count());
    add_worker();
    Outcome out{JobStatus::failed, ErrorKind::timeout,
                "timed out after " + std::to_string(run->type->traits.timeout.count()) +
                    " ms; the handler did not stop",
                std::nullopt};
    finish(it, run, out);
  }

  struct Outcome {
    JobStatus status = JobStatus::completed;
    ErrorKind kind = ErrorKind::none;
    std::string error;
    std::optional<TimePoint> retry_after;
  };

  // The kind of an exception that is not a JobError.
  static ErrorKind kind_of(const std::system_error& e) {
    const int code = e.code().value();
    if (e.code().category() == std::generic_category() ||
        e.code().category() == std::system_category()) {
      switch (code) {
        case ECONNREFUSED: case ECONNRESET: case ECONNABORTED: case ETIMEDOUT:
        case EHOSTUNREACH: case ENETUNREACH: case ENETDOWN: case EPIPE:
          return ErrorKind::network;
        default:
          return ErrorKind::filesystem;
      }
    }
    return ErrorKind::permanent;
  }

  // Runs on: a worker thread. Nothing thrown by a handler leaves this function.
  void execute(const std::shared_ptr<detail::JobRun>& run) {
    Outcome out;
    auto failed = [&](ErrorKind kind, std::string what) {
      if (run->stop.stop_requested() && !run->timed_out) {
        out = Outcome{JobStatus::cancelled, ErrorKind::none, {}, std::nullopt};
      } else {
        out = Outcome{JobStatus::failed, kind, std::move(what), std::nullopt};
      }
    };
    try {
      JobContext ctx(*run);
      run->type->execute(run->body, ctx);
      if (run->stop.stop_requested() && !run->timed_out) out.status = JobStatus::cancelled;
    } catch (const JobError& e) {
      if (e.kind() == ErrorKind::cancelled && !run->timed_out) {
        out.status = JobStatus::cancelled;
      } else {
        failed(e.kind() == ErrorKind::cancelled ? ErrorKind::timeout : e.kind(), e.what());
        out.retry_after = e.retry_after();
      }
    } catch (const SQLite::Exception& e) {
      failed(ErrorKind::database, e.what());
    } catch (const std::filesystem::filesystem_error& e) {
      failed(ErrorKind::filesystem, e.what());
    } catch (const std::system_error& e) {
      failed(kind_of(e), e.what());
    } catch (const std::exception& e) {
      failed(ErrorKind::permanent, e.what());
    } catch (...) {
      failed(ErrorKind::permanent, "unknown exception");
    }
    if (run->timed_out && out.status == JobStatus::completed) {
      // It returned after its token was cancelled by the timeout: the work may be cut short.
      out = Outcome{JobStatus::failed, ErrorKind::timeout, {}, std::nullopt};
    }
    if (out.status == JobStatus::failed && out.kind == ErrorKind::timeout && out.error.empty()) {
      out.error = "timed out after " + std::to_string(run->type->traits.timeout.count()) + " ms";
    }
    if (out.status == JobStatus::failed && out.error.empty()) out.error = "failed";
    if (run->abandoned) --abandoned_running_;  // its thread is free again
    asio::post(strand_, [this, run, out = std::move(out)] { on_finished(run, out); });
  }

  // Runs on: the strand.
  void on_finished(const std::shared_ptr<detail::JobRun>& run, const Outcome& out) {
    auto it = active_.find(run->id);
    if (it == active_.end() || it->second.run != run) {
      if (run->abandoned) {
        log_->warn("job {} {} returned after it was abandoned for its timeout; its result ({}) "
                   "is discarded",
                   run->id, run->name, to_string(out.status));
      }
      return;
    }
    finish(it, run, out);
  }

  const RetryPolicy& policy(const CommandType* type) const {
    return type->traits.retry ? *type->traits.retry : opts_.retry;
  }

  std::chrono::milliseconds backoff(const RetryPolicy& pol, int retry) {
    auto delay = pol.base_delay;
    for (int i = 1; i < retry && delay < pol.max_delay; ++i) delay *= 2;
    delay = std::min(delay, pol.max_delay);
    // Equal jitter: keep half, draw the other half, so retries spread out but never come early.
    std::uniform_int_distribution<std::int64_t> half(0, delay.count() / 2);
    return delay - std::chrono::milliseconds(half(rng_));
  }

  // Runs on: the strand. Ends a run: releases what it held, then completes, retries or fails it.
  void finish(std::unordered_map<JobId, Active>::iterator it,
              const std::shared_ptr<detail::JobRun>& run, const Outcome& out) {
    Active& a = it->second;
    std::optional<std::string> completion;
    {
      std::lock_guard lock(run->mu);
      a.info.progress = run->progress;
      completion = run->completion;
    }
    const TimePoint now = clock_->now();
    a.info.status = out.status;
    a.info.ended_at = now;
    a.info.duration = std::max(std::chrono::milliseconds(0),
                               std::chrono::duration_cast<std::chrono::milliseconds>(
                                   now - *a.info.started_at));
    a.info.error_kind = out.kind;
    a.info.error = out.error;
    if (out.status == JobStatus::failed) {
      a.info.message = out.error;  // what went wrong, not how far it got
    } else if (completion && !completion->empty()) {
      a.info.message = *completion;
    } else if (!a.info.progress.message.empty()) {
      a.info.message = a.info.progress.message;
    } else if (out.status == JobStatus::cancelled) {
      a.info.message = "Cancelled";
    }
    --running_total_;
    if (a.info.priority == Priority::critical) --critical_running_;
    --depth_.running[idx(a.info.priority)];
    if (a.type->traits.exclusive) --exclusive_running_;
    --running_by_type_[a.type];
    for (const auto& lock : a.type->traits.locks) --locks_held_[lock];
    a.run.reset();
    update_saturation();
    if (out.status == JobStatus::cancelled && !accepting_ && !run->cancelled_by_user) {
      // stop() cancelled it, not a user: the work is unfinished, so it resumes at the next
      // start like a job a crash interrupted.
      interrupted_by_stop(it);
      return;
    }
    if (out.status == JobStatus::failed && accepting_ && retry(a, out, now)) {
      dispatch();
      return;
    }
    if (out.status == JobStatus::failed) {
      log_->error("job {} {} failed for good on attempt {} of {} ({}): {}", a.info.id,
                  a.info.name, a.info.attempt, a.info.max_attempts, to_string(out.kind),
                  out.error);
      try {
        opts_.notifier->notify(Notification{"job_failed", a.info,
                                            a.info.name + " failed: " + out.error, now});
      } catch (...) {
        // A notifier must not throw; if one does, the job's outcome still stands.
      }
    }
    conclude(it);
  }

  // Runs on: the strand. Records a job's terminal state (store, task, health), forgets it, tells
  // observers and dispatches. Returns the final snapshot.
  JobInfo conclude(std::unordered_map<JobId, Active>::iterator it) {
    Active& a = it->second;
    // The finish write is queued before forget() wakes wait_idle(), so a query made after
    // wait_idle() returns sees the terminal state.
    store_->finish(without_body(a.info));
    if (!a.info.task.empty()) task_finished(a.info);
    record_finish(a.info);
    JobInfo info = std::move(a.info);
    forget(it);
    emit(info.status == JobStatus::completed   ? JobEvent::Type::completed
         : info.status == JobStatus::cancelled ? JobEvent::Type::cancelled
                                               : JobEvent::Type::failed,
         info);
    dispatch();  // its locks are free; an idle-only job may start now
    return info;
  }

  // Runs on: the strand. Queues a failed job again if its policy allows; true if it did.
  bool retry(Active& a, const Outcome& out, TimePoint now) {
    const RetryPolicy& pol = policy(a.type);
    TimePoint next;
    if (out.kind == ErrorKind::rate_limited) {
      auto wait = out.retry_after
                      ? std::chrono::duration_cast<std::chrono::milliseconds>(*out.retry_after - now)
                      : pol.default_rate_limit_wait;
      wait = std::clamp(wait, std::chrono::milliseconds(0), pol.max_rate_limit_wait);
      if (a.rate_waited + wait > pol.max_rate_limit_wait) return false;
      a.rate_waited += wait;
      next = now + wait;  // no attempt spent
      a.info.message = "rate limited; next try at " + format_time(next);
    } else {
      const int retries = pol.retries_for(out.kind);
      a.info.max_attempts = 1 + retries;
      if (a.info.attempt > retries) return false;
      next = now + backoff(pol, a.info.attempt);
      ++a.info.attempt;
      a.info.message = "attempt " + std::to_string(a.info.attempt) + " of " +
                       std::to_string(a.info.max_attempts) + ", next try at " + format_time(next);
    }
    log_->warn("job {} {} failed ({}): {}; {}", a.info.id, a.info.name, to_string(out.kind),
               out.error, a.info.message);
    a.info.status = JobStatus::queued;
    a.info.started_at.reset();
    a.info.ended_at.reset();
    a.info.duration = std::chrono::milliseconds(0);
    a.info.not_before = next;
    store_->finish(without_body(a.info));
    if (!a.info.task.empty()) {
      if (auto t = tasks_.find(a.info.task); t != tasks_.end()) t->second.running = false;
    }
    place(a);
    set_active_count();
    emit(JobEvent::Type::retrying, a.info);
    return true;
  }

  void interrupted_by_stop(std::unordered_map<JobId, Active>::iterator it) {
    JobInfo info = std::move(it->second.info);
    const bool rescue = it->second.type->traits.rescue_on_restart;
    if (rescue) {
      info.status = JobStatus::queued;
      info.started_at.reset();
      info.ended_at.reset();
      info.duration = std::chrono::milliseconds(0);
      info.message.clear();
      info.error_kind = ErrorKind::none;
      info.error.clear();
      ++info.attempt;
      log_->info("job {} {} was interrupted by stop(); it resumes at the next start as attempt {}",
                 info.id, info.name, info.attempt);
      store_->finish(info);
      forget(it);
      emit(JobEvent::Type::queued, info);
    } else {
      info.status = JobStatus::failed;
      info.error_kind = ErrorKind::permanent;
      info.error = info.message = "interrupted";
      store_->finish(info);
      forget(it);
      emit(JobEvent::Type::failed, info);
    }
  }

  void forget(std::unordered_map<JobId, Active>::iterator it) {
    auto k = by_key_.find(it->second.key);
    if (k != by_key_.end() && k->second == it->first) by_key_.erase(k);
    active_.erase(it);
    set_active_count();
  }

  // Runs on: the strand. Progress posted by a worker, at most every progress_interval.
  void on_progress(JobId id, const Progress& p) {
    auto it = active_.find(id);
    if (it == active_.end() || it->second.info.status != JobStatus::executing) return;
    it->second.info.progress = p;
    store_->progress(id, p);
    emit(JobEvent::Type::progress, it->second.info);
  }

  // Runs on: a worker thread.
  void report(detail::JobRun& run, std::optional<std::int64_t> current,
              std::optional<std::int64_t> total, std::string message) {
    const auto now = std::chrono::steady_clock::now();
    Progress copy;
    {
      std::lock_guard lock(run.mu);
      if (current) run.progress.current = *current;
      if (total) run.progress.total = *total;
      run.progress.message = std::move(message);
      if (now - run.last_emit < opts_.progress_interval) return;
      run.last_emit = now;
      copy = run.progress;
    }
    asio::post(strand_, [this, id = run.id, copy = std::move(copy)] { on_progress(id, copy); });
  }

  // ---------------------------------------------------------------- public operations
  struct Prepared {
    const CommandType* type;
    nlohmann::json body;
    std::string body_text;  // body.dump(): the canonical text, stored and (by default) the key
    std::string key;
    PushOptions options;
  };

  Result<Prepared> prepare(std::string_view name, const nlohmann::json& body,
                           PushOptions options) {
    const CommandType* type = registry_.find(name);
    if (!type) {
      return Error{errc::unknown_command, "unknown command '" + std::string(name) + "'"};
    }
    if (!body.is_null() && !body.is_object()) {
      return Error{errc::invalid_body, "body of " + type->name + " must be a JSON object, not " +
                                           std::string(body.type_name())};
    }
    Prepared p{type, {}, {}, {}, std::move(options)};
    try {
      p.body = type->canonicalize(body.is_null() ? nlohmann::json::object() : body);
    } catch (const std::exception& e) {
      std::string what = e.what();
      // nlohmann prefixes "[json.exception.type_error.302] "; the rest names the field.
      if (!what.empty() && what.front() == '[') {
        auto close = what.find("] ");
        if (close != std::string::npos) what.erase(0, close + 2);
      }
      return Error{errc::invalid_body, "body of " + type->name + " does not decode: " + what};
    }
    if (p.options.priority && (static_cast<int>(*p.options.priority) < 0 ||
                               static_cast<int>(*p.options.priority) >= kPriorityCount)) {
      return Error{errc::invalid_argument, "priority out of range"};
    }
    p.body_text = p.body.dump();
    p.key = type->traits.dedup_key ? dedup_key(*type, p.body) : type->name + '\n' + p.body_text;
    return p;
  }

  // Runs on: the strand.
  Result<PushResult> push_on_strand(Prepared& p) {
    if (!accepting_) return Error{errc::shutting_down, "the engine is stopping"};
    const Priority wanted = p.options.priority.value_or(p.type->traits.priority);
    if (auto k = by_key_.find(p.key); k != by_key_.end()) {
      Active& a = active_.at(k->second);
      if (a.info.task.empty() && !p.options.task.empty()) {
        // A task's push merged into an equal job: that job now counts as the task's run.
        a.info.task = p.options.task;
      }
      if (a.info.status == JobStatus::queued) {
        const Priority raised = std::max(a.info.priority, wanted);
        const bool to_manual =
            p.options.trigger == Trigger::manual && a.info.trigger != Trigger::manual;
        if (raised != a.info.priority || to_manual) {
          unplace(a);
          a.info.priority = raised;
          if (to_manual) {
            a.info.trigger = Trigger::manual;
            a.info.event.clear();
          }
          place(a);
          store_->update_queued(a.info.id, a.info.priority, a.info.trigger, a.info.event);
          dispatch();
        }
      }
      return PushResult{snapshot(active_.at(k->second)), true};
    }
    JobInfo info;
    info.id = next_id_++;
    info.name = p.type->name;
    info.body = std::move(p.body);
    info.priority = wanted;
    info.trigger = p.options.trigger;
    info.event = p.options.event;
    info.status = JobStatus::queued;
    info.queued_at = clock_->now();
    info.attempt = 1;
    info.not_before = p.options.not_before;
    info.task = p.options.task;
    store_->insert(without_body(info), std::move(p.body_text));
    const JobId id = info.id;
    by_key_.emplace(p.key, id);
    Active& a = active_.emplace(id, Active{std::move(info), p.type, std::move(p.key), nullptr})
                    .first->second;
    place(a);
    set_active_count();
    JobInfo out = a.info;  // `a` may be gone once observers ran (one may cancel it)
    emit(JobEvent::Type::queued, out);
    dispatch();
    return PushResult{std::move(out), false};
  }

  JobInfo snapshot(const Active& a) const {
    JobInfo info = a.info;
    if (a.run) {
      std::lock_guard lock(a.run->mu);
      info.progress = a.run->progress;
    }
    return info;
  }

  std::optional<JobInfo> read_job(JobId id) {
    std::optional<JobInfo> out;
    const bool ok = store_->read([&](SQLite::Database& db) {
      SQLite::Statement st(db, std::string("SELECT ") + detail::Store::kJobColumns +
                                   " FROM jobs WHERE id = ?");
      st.bind(1, static_cast<std::int64_t>(id));
      if (st.executeStep()) out = detail::Store::row_to_job(st);
    });
    if (!ok) return std::nullopt;
    return out;
  }

  // ---------------------------------------------------------------- scheduled tasks
  struct Task {
    TaskSpec spec;
    detail::TaskRow row;
    std::uint64_t gen = 0;  // bumped when the due timer is replaced
    bool running = false;
    std::uint64_t seed = 0;
  };

  static std::uint64_t seed_of(const std::string& name) {
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a: stable across runs and builds
    for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
    return h;
  }

  // Runs on: the strand.
  void arm_task(Task& t) {
    ++t.gen;
    if (!t.row.next_due) return;
    add_timer(*t.row.next_due, [this, name = t.spec.name, gen = t.gen] { on_task_due(name, gen); });
  }

  void save(const Task& t) { store_->save_task(t.row); }

  // Runs on: the strand. Pushes the task's job and moves its due time along the schedule.
  void on_task_due(const std::string& name, std::uint64_t gen) {
    auto it = tasks_.find(name);
    if (it == tasks_.end() || it->second.gen != gen) return;
    Task& t = it->second;
    const TimePoint due = *t.row.next_due;
    const TimePoint now = clock_->now();
    if (auto pushed = push_task(t, Trigger::scheduled); !pushed) {
      log_->error("task {}: cannot push {}: {}", name, t.spec.command, pushed.error().message);
    }
    // The next slot follows the schedule from this due time, not from when the run ends, and
    // skips slots missed during a downtime: an overdue task runs once.
    auto next = next_due(t.spec.schedule, due, now, t.seed);
    if (next) {
      t.row.next_due = *next;
    } else {
      log_->error("task {}: {}; it is disabled until its schedule is fixed", name,
                  next.error().message);
      t.row.next_due.reset();
    }
    save(t);
    arm_task(t);
  }

  Result<PushResult> push_task(Task& t, Trigger trigger) {
    auto prepared = prepare(t.spec.command, t.spec.body,
                            PushOptions{.trigger = trigger,
                                        .priority = t.spec.priority,
                                        .durable = false,
                                        .task = t.spec.name});
    if (!prepared) return prepared.error();
    auto pushed = push_on_strand(*prepared);
    if (pushed) t.row.last_job = pushed->job.id;
    return pushed;
  }

  void task_started(const JobInfo& job) {
    auto it = tasks_.find(job.task);
    if (it == tasks_.end()) return;
    it->second.running = true;
    it->second.row.last_start = job.started_at;
    it->second.row.last_job = job.id;
    save(it->second);
  }

  void task_finished(const JobInfo& job) {
    auto it = tasks_.find(job.task);
    if (it == tasks_.end()) return;
    Task& t = it->second;
    t.running = false;
    t.row.last_finish = job.ended_at;
    t.row.last_status = job.status;
    t.row.last_message = job.status == JobStatus::failed && !job.error.empty() ? job.error
                                                                               : job.message;
    t.row.last_duration_ms = job.duration.count();
    t.row.last_job = job.id;
    save(t);
  }

  TaskInfo task_info(const Task& t) const {
    TaskInfo i;
    i.name = t.spec.name;
    i.command = t.spec.command;
    i.interval = t.spec.schedule.interval;
    i.time_of_day = t.spec.schedule.time_of_day;
    i.last_start = t.row.last_start;
    i.last_finish = t.row.last_finish;
    i.last_status = t.row.last_status;
    i.last_message = t.row.last_message;
    if (t.row.last_duration_ms) i.last_duration = std::chrono::milliseconds(*t.row.last_duration_ms);
    i.next_due = t.row.next_due;
    i.running = t.running;
    i.last_job = t.row.last_job;
    return i;
  }

  static void schedule_to_row(const Schedule& s, detail::TaskRow& row) {
    row.interval_s = s.interval.count();
    row.time_of_day_min =
        s.time_of_day ? std::optional<std::int64_t>(s.time_of_day->count()) : std::nullopt;
    row.time_zone = s.time_zone;
    row.jitter_s = s.jitter.count();
  }

  static bool same_schedule(const Schedule& s, const detail::TaskRow& row) {
    detail::TaskRow probe;
    schedule_to_row(s, probe);
    return probe.interval_s == row.interval_s && probe.time_of_day_min == row.time_of_day_min &&
           probe.time_zone == row.time_zone && probe.jitter_s == row.jitter_s;
  }

  // Runs on: the strand. The due time of a task whose schedule is new or changed.
  Status reschedule(Task& t, TimePoint now) {
    if (t.spec.schedule.interval.count() == 0) {
      t.row.next_due.reset();
      return Ok{};
    }
    auto due = t.row.last_start ? next_due(t.spec.schedule, *t.row.last_start, now, t.seed)
                                : first_due(t.spec.schedule, now, t.seed);
    if (!due) return due.error();
    t.row.next_due = *due;
    return Ok{};
  }

  // ---------------------------------------------------------------- debounce
  struct Debounced {
    Prepared prepared;
    TimePoint deadline;
  };

  void on_debounce(const std::string& key) {
    auto it = debounced_.find(key);
    if (it == debounced_.end()) return;
    if (it->second.deadline > clock_->now()) return;  // a later push moved it
    Prepared p = std::move(it->second.prepared);
    debounced_.erase(it);
    auto pushed = push_on_strand(p);
    if (!pushed) log_->warn("debounced {} was not pushed: {}", p.type->name, pushed.error().message);
  }

  // ---------------------------------------------------------------- health (health.cpp)
  struct TypeStats {
    std::int64_t completed = 0, failed = 0, cancelled = 0;
    std::optional<TimePoint> last_start, last_finish;
    std::optional<JobStatus> last_status;
    std::deque<std::pair<TimePoint, JobStatus>> recent;  // finished within health_window
    std::deque<std::int64_t> durations;                  // ms of the last 100 finished runs
  };
  void load_health(std::vector<detail::TypeHistory> history,
                   std::vector<detail::RunSample> samples);
  void record_start(const JobInfo& job);
  void record_finish(const JobInfo& job);
  void raise(const std::string& rule, const std::string& key, std::string message,
             nlohmann::json details = nlohmann::json::object());
  void clear(const std::string& key);
  void check_alerts();
  void schedule_checks();
  void schedule_pruning();
  void update_saturation();
  HealthSnapshot health_snapshot();

  std::map<std::string, TypeStats> stats_;
  std::map<std::string, Alert> alerts_;
  std::optional<TimePoint> saturated_since_;
  std::uint64_t seen_write_errors_ = 0;
  std::uint64_t commits_at_store_alert_ = 0;

  // ---------------------------------------------------------------- config and state
  EngineOptions opts_;
  Registry registry_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<Clock> clock_;
  std::unique_ptr<detail::Store> store_;

  asio::io_context ctl_io_{1};
  asio::strand<asio::io_context::executor_type> strand_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> ctl_guard_;
  std::thread ctl_thread_;
  asio::io_context work_io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_guard_;
  std::vector<std::thread> workers_;       // grows when a stuck handler is abandoned
  std::atomic<int> abandoned_running_{0};  // abandoned handlers that have not returned
  std::deque<std::atomic<bool>> exited_;   // one per worker; a deque never moves its elements
  asio::steady_timer wake_timer_;
  std::uint64_t clock_listener_ = 0;
  std::shared_ptr<RateLimiter> rate_limiter_ = opts_.rate_limiter;
  std::mt19937_64 rng_{std::random_device{}()};

  // strand state
  std::unordered_map<JobId, Active> active_;
  std::unordered_map<std::string, JobId> by_key_;
  std::unordered_map<const CommandType*, std::set<JobId>> buckets_[kPriorityCount];
  std::set<std::pair<JobId, const CommandType*>> heads_[kPriorityCount];
  int running_total_ = 0;
  int exclusive_running_ = 0;
  int critical_running_ = 0;
  std::unordered_map<const CommandType*, int> running_by_type_;
  std::unordered_map<std::string, int> locks_held_;
  std::int64_t queued_non_idle_ = 0;
  QueueDepth depth_;
  std::multimap<TimePoint, std::function<void()>> timers_;
  std::map<std::string, Task> tasks_;
  std::map<std::string, detail::TaskRow> stored_tasks_;  // rows of tasks not added (yet)
  std::map<std::string, Debounced> debounced_;
  std::set<TimePoint> rate_wakes_;
  std::vector<std::pair<std::uint64_t, std::shared_ptr<const Observer>>> observers_;
  std::uint64_t next_observer_ = 1;
  JobId next_id_;
  bool started_ = false;
  bool accepting_ = true;

  // watched by blocking waiters
  std::mutex idle_mu_;
  std::condition_variable idle_cv_;
  std::size_t active_count_ = 0;   // guarded by idle_mu_
  std::size_t running_count_ = 0;  // guarded by idle_mu_

  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  int inflight_ = 0;          // guarded by gate_mu_
  bool gate_closed_ = false;  // guarded by gate_mu_

  std::mutex stop_mu_;
  bool stopped_ = false;  // guarded by stop_mu_
  bool stop_result_ = true;
  bool leaked_ = false;  // a handler outlived stop(): threads detached, Impl must stay alive
};

}  // namespace shelfjobs

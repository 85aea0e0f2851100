// SPDX-License-Identifier: MIT
// The coordinator's members: every one that touches strand state asserts it runs there. The
// rules themselves live in the parts (see engine_impl.hpp); what is left here is the order of
// steps, which the parts cannot know: a state change is written to the store, recorded in the
// figures and the task, published, and then the queue is dispatched again.

#include "engine/engine_impl.hpp"
#include "engine/usable_cores.hpp"

#include "engine/one_shot.hpp"
#include "engine/thread_name.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "shelfjobs/engine/context.hpp"

namespace shelfjobs {

#define ON_STRAND() SHELFJOBS_ASSERT_STRAND(strand_)

// The durable pushes' inbox (see push_durable); defined first, as Impl's members hold them.
//
// Two parts answer a durable push: the strand with the result, and the writer with the commit of
// a new row. Each writes its own field, then counts itself off; the last one wakes the pusher. A
// push that merged or failed has no commit to wait for, so its answer counts for both.
struct Engine::Impl::DurableWait {
  std::optional<Result<PushResult>> result;  // the strand's
  bool stored = false;                       // the writer's: committed, not dropped by a closing store
  std::atomic<int> parts{2};
  detail::OneShot done;

  void answer(Result<PushResult> r) {
    const bool commit_follows = r && !r->merged;
    result = std::move(r);
    arrive(commit_follows ? 1 : 2);
  }
  void commit(bool ok) {
    stored = ok;
    arrive(1);
  }

 private:
  void arrive(int n) {
    if (parts.fetch_sub(n, std::memory_order_acq_rel) <= n) done.set();
  }
};

// One push waiting in the inbox. Destroyed unrun (the strand's queue dropped at shutdown), it
// answers that the engine stopped; either way it leaves the gate it entered.
struct Engine::Impl::InboxItem {
  Impl* self;
  detail::Prepared p;
  std::shared_ptr<DurableWait> wait;
  std::optional<Active> admitted;  // admitted off the strand: only placed there
  InboxItem(Impl* s, detail::Prepared prepared, std::shared_ptr<DurableWait> w)
      : self(s), p(std::move(prepared)), wait(std::move(w)) {}
  InboxItem(InboxItem&& o) noexcept
      : self(std::exchange(o.self, nullptr)),
        p(std::move(o.p)),
        wait(std::move(o.wait)),
        admitted(std::move(o.admitted)) {}
  InboxItem(const InboxItem&) = delete;
  InboxItem& operator=(const InboxItem&) = delete;
  InboxItem& operator=(InboxItem&&) = delete;
  ~InboxItem() {
    if (self == nullptr) return;
    if (wait && admitted) {
      // Its row was queued at admission and is stored if it commits (the Done says): the job
      // is the store's now and the next start recovers it, so the push says so.
      wait->answer(PushResult{self->snapshot(*admitted), false});
    } else if (wait) {
      wait->answer(Error{errc::shutting_down, "the engine is stopped"});
    }
    self->leave_gate();
  }
};

// The strand's turn for the inbox; `ran` stays false when the handler is dropped unrun, and the
// destructor then answers the pushes it would have taken.
struct Engine::Impl::InboxTurn {
  Impl* self;
  explicit InboxTurn(Impl* s) : self(s) {}
  InboxTurn(InboxTurn&& o) noexcept : self(std::exchange(o.self, nullptr)) {}
  InboxTurn(const InboxTurn&) = delete;
  InboxTurn& operator=(const InboxTurn&) = delete;
  InboxTurn& operator=(InboxTurn&&) = delete;
  ~InboxTurn() {
    if (self != nullptr) self->take_inbox();  // destroyed unrun: each item answers "stopped"
  }
  void run() { std::exchange(self, nullptr)->run_inbox(); }
  void watch() { std::exchange(self, nullptr)->watch_inbox(); }
};

namespace {

// One core is left to the store's writer and the dispatcher (ADR 0019). With the rule off the
// cores are not counted (that reads files under /proc and /sys).
detail::ReadyIndex::Compaction compaction(const EngineOptions& o) {
  if (o.spread_after.count() <= 0) return {0, o.spread_after};
  const int lanes = o.short_job_lanes > 0 ? o.short_job_lanes : std::max(1, detail::usable_cores() - 1);
  return {lanes, o.spread_after};
}

}  // namespace

Engine::Impl::Impl(EngineOptions options, Registry registry, std::shared_ptr<JobStore> store,
                   std::vector<JobInfo> recovered, std::vector<JobInfo> ended, StoredState state)
    : opts_(std::move(options)),
      registry_(std::move(registry)),
      log_(opts_.logger),
      clock_(opts_.clock),
      store_(std::move(store)),
      rate_limiter_(opts_.rate_limiter),
      hub_(opts_.logger),
      strand_(asio::make_strand(work_io_)),
      ctl_guard_(asio::make_work_guard(ctl_io_)),
      work_guard_(asio::make_work_guard(work_io_)),
      wake_timer_(ctl_io_),
      spread_timer_(ctl_io_),
      ready_(opts_.workers, opts_.idle_max_deferral, compaction(opts_)),
      tasks_(
          detail::TaskScheduler::Hooks{
              [this](TimePoint at, std::function<void()> fn) { add_timer(at, std::move(fn)); },
              [this](const TaskRow& row) { store_->save_task(row); },
              [this](const TaskSpec& spec, Trigger trigger,
                     std::optional<TimePoint> tick) -> Result<PushResult> {
                auto prepared = detail::prepare(
                    registry_, spec.command, spec.body,
                    PushOptions{
                        .trigger = trigger, .priority = spec.priority, .durable = false, .task = spec.name});
                if (!prepared) return prepared.error();
                if (tick) {
                  prepared->tick = spec.name + "@" +
                                   std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      tick->time_since_epoch())
                                                      .count());
                }
                return push_on_strand(*prepared);
              },
              [this](const TaskInfo& t) { emit_task(t); }, [this] { return clock_->now(); }, opts_.logger},
          std::move(state.tasks)),
      figures_(opts_.health_window),
      alerts_(
          opts_.alerts, [this](const AlertChanged& c) { hub_.publish(c); }, opts_.logger),
      next_id_(state.max_id + 1) {
  // The notifier is one subscriber among others: final failures and alerts.
  if (opts_.notifier) {
    notifier_sub_ = hub_.add(
        [notifier = opts_.notifier](const HostEvent& ev) {
          if (const auto* j = std::get_if<JobEvent>(&ev)) {
            if (j->type != JobEvent::Type::failed) return;
            notifier->notify(Notification{"job_failed", j->job.info(),
                                          j->job.name + " failed: " + j->job.error,
                                          j->job.ended_at.value_or(TimePoint{})});
          } else if (const auto* a = std::get_if<AlertChanged>(&ev)) {
            if (a->raised) {
              notifier->notify(Notification{
                  "alert_raised",
                  std::nullopt,
                  a->alert.message,
                  a->alert.raised_at,
                  {{"rule", a->alert.rule}, {"key", a->alert.key}, {"details", a->alert.details}}});
            } else {
              notifier->notify(Notification{"alert_cleared",
                                            std::nullopt,
                                            "cleared: " + a->alert.message,
                                            a->at,
                                            {{"rule", a->alert.rule}, {"key", a->alert.key}}});
            }
          }
        },
        SubscribeOptions{.capacity = 10000,
                         .overflow = Overflow::drop_oldest,
                         .coalesce_progress = false,
                         .kinds = kFailureEvents | kAlertEvents});
  }
  figures_.load(std::move(state.totals), std::move(state.minutes));
  for (const auto& job : ended) {
    if (is_terminal(job.status)) figures_.finished(job);
  }
  active_.reserve(recovered.size());  // no rehash while the queue comes in
  for (auto& job : recovered) {
    const CommandType* type = registry_.find(job.name);
    adopt(std::move(job), type);
  }
  {
    detail::MutexLock lock(idle_mu_);
    active_count_ = active_.size();
  }
  store_->start();
  if (opts_.cluster.enabled) {
    shared_ = store_->shared();
    std::vector<std::string> names = registry_.names();
    feed_ = std::make_unique<detail::ClusterFeed>(
        *shared_, opts_.cluster,
        detail::ClusterFeed::Hooks{
            .claimed =
                [this](std::vector<JobInfo> jobs) {
                  asio::post(strand_,
                             [this, jobs = std::move(jobs)]() mutable { on_claimed(std::move(jobs)); });
                },
            .orphans =
                [this](std::vector<JobInfo> jobs) {
                  asio::post(strand_,
                             [this, jobs = std::move(jobs)]() mutable { on_orphans(std::move(jobs)); });
                },
            .cancels =
                [this](std::vector<JobId> ids) {
                  asio::post(strand_, [this, ids = std::move(ids)] { on_cancel_requests(ids); });
                },
            .changed =
                [this](std::vector<JobInfo> jobs) {
                  asio::post(strand_, [this, jobs = std::move(jobs)]() mutable {
                    on_changed_elsewhere(std::move(jobs));
                  });
                },
            .wants_changes = [this] { return hub_.wants(kJobEvents); },
            .free_slots = [this] { return free_slots(); },
            .counts =
                [this] {
                  detail::MutexLock lock(idle_mu_);
                  const int running = static_cast<int>(running_count_);
                  return std::pair<int, int>{running, static_cast<int>(active_count_) - running};
                },
            .now = [this] { return clock_->now(); },
            .names = std::move(names),
            .locks =
                [this](const JobInfo& job) {
                  SharedLocks out;
                  const CommandType* type = registry_.find(job.name);
                  if (!type) return out;
                  out.exclusive = type->traits.exclusive;
                  if (type->traits.type_exclusive) out.keys.push_back("type:" + type->name);
                  for (const auto& lock : type->traits.locks) out.keys.push_back("lock:" + lock);
                  if (type->traits.max_concurrent > 0 && !type->traits.type_exclusive) {
                    // A cap of N is N slots; a job takes any free one.
                    for (int i = 0; i < type->traits.max_concurrent; ++i)
                      out.one_of.push_back("cap:" + type->name + "#" + std::to_string(i));
                  }
                  return out;
                }},
        opts_.logger);
  }
  clock_listener_ = clock_->add_listener([this] { asio::post(strand_, [this] { on_timers(); }); });
  ctl_thread_ = std::thread([this] { ctl_io_.run(); });
  detail::named(ctl_thread_, "shelf-control");
  nudge_.start();
  for (int i = 0; i < opts_.workers + kExtraThreads; ++i) add_worker();
  asio::post(strand_, [this] {
    // The recovered jobs take their places first: nothing else reaches the strand before this.
    for (auto& [id, a] : active_) place(a);
    if (opts_.aging_period.count() > 0) schedule_aging();
    if (opts_.alerts.check_interval.count() > 0) schedule_checks();
    if (opts_.retention.interval.count() > 0) schedule_pruning();
    schedule_minutes();
    arm();
  });
}

// A stored, queued job taken into the engine (recovered at start, or claimed from a shared
// queue): not placed yet. Before the strand runs, or on it.
Engine::Impl::Active& Engine::Impl::adopt(JobInfo job, const CommandType* type) {
  Active a;
  a.body = std::make_shared<const nlohmann::json>(std::move(job.body));
  job.body = nullptr;
  a.info = std::move(job);
  a.type = type;
  const JobId id = a.info.id;
  const std::string key = detail::dedup_key(*type, *a.body);
  {
    detail::MutexLock lock(inbox_mu_);
    a.dedup = &dedup_.queued(key, id);
  }
  return active_.emplace(id, std::move(a)).first->second;
}

Engine::Impl::~Impl() {
  // stop() has joined or (for stuck handlers) detached every thread; see Engine::~Engine.
}

// ------------------------------------------------------------------ strand gateway

bool Engine::Impl::enter_gate() {
  detail::MutexLock lock(gate_mu_);
  if (gate_closed_) return false;
  ++inflight_;
  return true;
}

void Engine::Impl::leave_gate() {
  {
    detail::MutexLock lock(gate_mu_);
    --inflight_;
  }
  gate_cv_.notify_all();
}

void Engine::Impl::close_gate() {
  detail::MutexLock lock(gate_mu_);
  gate_closed_ = true;
  while (inflight_ != 0) lock.wait(gate_cv_);
}

void Engine::Impl::add_worker() {
  auto& exited = exited_.emplace_back(false);
  auto& worker = workers_.emplace_back([this, &exited] {
    work_io_.run();
    exited = true;
  });
  detail::named(worker, "shelf-worker");
}

// ------------------------------------------------------------------ timers
// One steady_timer serves every deadline. Deadlines are on the injected clock: the timer is
// armed for the earliest one in real time (capped, so a wall-clock jump is noticed), and a
// clock that jumps tells us through its listener.

void Engine::Impl::add_timer(TimePoint at, std::function<void()> fn) {
  ON_STRAND();
  if (timers_.add(at, std::move(fn))) arm();
}

void Engine::Impl::arm() {
  ON_STRAND();
  if (!accepting_) return;
  const auto next = timers_.next();
  if (!next) {
    wake_timer_.cancel();
    return;
  }
  auto delay = std::chrono::duration_cast<std::chrono::steady_clock::duration>(*next - clock_->now());
  delay = std::clamp(delay, std::chrono::steady_clock::duration::zero(),
                     std::chrono::steady_clock::duration(std::chrono::seconds(30)));
  wake_timer_.expires_after(delay);
  wake_timer_.async_wait(asio::bind_executor(strand_, [this](const boost::system::error_code& ec) {
    if (!ec) on_timers();
  }));
}

void Engine::Impl::on_timers() {
  ON_STRAND();
  if (!accepting_) return;
  for (;;) {
    auto due = timers_.take_due(clock_->now());
    if (due.empty()) break;
    for (auto& fn : due) fn();
  }
  dispatch();
  arm();
}

// ------------------------------------------------------------------ the queue

void Engine::Impl::place(Active& a) {
  ON_STRAND();
  const TimePoint now = clock_->now();
  if (a.info.not_before && *a.info.not_before > now) {
    a.delayed = true;
    ++delayed_[static_cast<std::size_t>(a.info.priority)];
    add_timer(*a.info.not_before, [this, id = a.info.id, gen = a.gen] {
      auto it = active_.find(id);
      if (it == active_.end() || it->second.gen != gen || !it->second.delayed) return;
      Active& x = it->second;
      x.delayed = false;
      --delayed_[static_cast<std::size_t>(x.info.priority)];
      x.info.not_before.reset();
      ready_.add(x.info.id, x.type, x.info.priority, x.info.queued_at, clock_->now());
    });
    return;
  }
  ready_.add(a.info.id, a.type, a.info.priority, a.info.queued_at, now);
}

void Engine::Impl::unplace(Active& a) {
  ON_STRAND();
  ++a.gen;
  if (a.delayed) {
    a.delayed = false;
    --delayed_[static_cast<std::size_t>(a.info.priority)];
  } else {
    ready_.remove(a.info.id);
  }
}

void Engine::Impl::schedule_aging() {
  ON_STRAND();
  const auto step = std::max<std::chrono::milliseconds>(opts_.aging_period / 4, std::chrono::seconds(1));
  add_timer(clock_->now() + step, [this] {
    age_queued();
    schedule_aging();
  });
}

void Engine::Impl::age_queued() {
  ON_STRAND();
  for (const auto& [id, priority] : ready_.age(clock_->now(), opts_.aging_period)) {
    Active& a = active_.at(id);
    a.info.priority = priority;
    store_->update_queued(id, priority, a.info.trigger, a.info.event);
    log_->info("job {} {} waited {} min; raised to {}", id, a.info.name,
               std::chrono::duration_cast<std::chrono::minutes>(opts_.aging_period).count(),
               to_string(priority));
  }
}

void Engine::Impl::set_active_count() {
  const int held = static_cast<int>(active_.size());
  if (feed_) {
    // Claim again once half the room is free (or nothing is left), not at every finish: a
    // claim costs a few round trips whatever its size.
    const int before = held_.exchange(held);
    const int low_water = (opts_.workers + 1 + opts_.cluster.prefetch) / 2;
    if (held < before && (held == 0 || (held <= low_water && before > low_water))) feed_->poke();
  }
  {
    detail::MutexLock lock(idle_mu_);
    active_count_ = active_.size();
    running_count_ = static_cast<std::size_t>(ready_.running_total());
  }
  idle_cv_.notify_all();
}

void Engine::Impl::dispatch() {
  ON_STRAND();
  holds_.grant(ready_);  // before any job: a waiting hold goes first once its locks are free
  if (!started_ || !accepting_) return;
  const TimePoint now = clock_->now();
  // At the pick's `now`: a free key must answer exactly that time. Asked at its own later
  // "now", it answered a time after the pick's, the pick held the job back until then, and
  // with a real clock that repeated forever (the job never started; the strand spun on timers).
  const detail::ReadyIndex::RateGate gate = [this, now](const std::string& key) {
    return rate_limiter_->next_free(key, now);
  };
  for (;;) {
    auto pick = ready_.pick(now, gate, std::chrono::steady_clock::now());
    if (pick.retry_at && wakes_.insert(*pick.retry_at).second) {
      // Come back when time alone lets a held-back job start (its rate key, its idle deferral).
      add_timer(*pick.retry_at, [this, at = *pick.retry_at] { wakes_.erase(at); });
    }
    if (pick.spread_at && !spread_armed_) {
      spread_armed_ = true;
      spread_timer_.expires_at(*pick.spread_at);
      spread_timer_.async_wait(asio::bind_executor(strand_, [this](const boost::system::error_code& ec) {
        spread_armed_ = false;
        if (!ec) dispatch();
      }));
    }
    if (!pick.job) return;
    start_job(active_.at(*pick.job));
  }
}

std::uint64_t Engine::Impl::request_hold(std::vector<std::string> names,
                                         std::shared_ptr<detail::HoldWait> wait) {
  ON_STRAND();
  if (!accepting_) {
    wait->refuse();
    return 0;
  }
  return holds_.request(std::move(names), std::move(wait), ready_);
}

void Engine::Impl::post_hold_end(std::uint64_t id, bool withdraw) {
  asio::post(strand_, [this, id, withdraw] {
    if (withdraw) {
      holds_.withdraw(id, ready_);
    } else {
      holds_.release(id, ready_);
    }
    dispatch();  // a job that waited for the locks, or behind the hold that wanted them
  });
}

void Engine::Impl::start_job(Active& a) {
  ON_STRAND();
  a.run_since = std::chrono::steady_clock::now();
  ready_.start(a.info.id, a.run_since);
  {
    detail::MutexLock lock(inbox_mu_);
    detail::DedupIndex::started(*a.dedup, a.info.id);
  }
  a.info.status = JobStatus::executing;
  a.info.started_at = clock_->now();
  a.info.message.clear();  // a retry's "attempt 2 of 4, next try at ..." is over
  if (!a.type->traits.rate_key.empty()) rate_limiter_->try_acquire(a.type->traits.rate_key);
  store_->start_job(a.info.id, *a.info.started_at, a.info.attempt);

  auto run = std::make_shared<detail::JobRun>();
  run->host = this;
  run->id = a.info.id;
  run->attempt = a.info.attempt;
  run->name = a.info.name;
  run->trigger = a.info.trigger;
  run->type = a.type;
  run->body = a.body;
  run->progress_interval = opts_.progress_interval;
  run->set_progress(a.info.progress);
  a.run = run;
  runs_.push_back(run);
  arm_progress_sweep();
  set_active_count();
  if (a.type->traits.timeout.count() > 0) {
    add_timer(*a.info.started_at + a.type->traits.timeout, [this, run] { on_timeout(run); });
  }
  if (!a.info.task.empty()) tasks_.on_started(a.info);
  figures_.started(a.info.name, *a.info.started_at);
  update_saturation();
  run->set_running(delta(a));
  emit(JobEvent::Type::started, a);
  // Deferred, not posted: both hand-offs are continuations of the current handler, so Asio
  // queues them on this thread and runs them right after it (waking another thread only when
  // more work is queued). A job's start and its completion then cost no thread switch when
  // nothing else is waiting; posting woke a sleeping thread at each hand-off, which cost more
  // than the job itself on a small machine.
  asio::defer(work_io_, [this, run] {
    auto out = detail::execute(*run);
    if (run->abandoned) --abandoned_running_;  // its thread is free again
    asio::defer(strand_, [this, run, out = std::move(out)] { on_finished(run, out); });
  });
}

void Engine::Impl::on_timeout(const std::shared_ptr<detail::JobRun>& run) {
  ON_STRAND();
  auto it = active_.find(run->id);
  if (it == active_.end() || it->second.run != run) return;
  run->timed_out = true;
  run->stop.request_stop();
  log_->warn("job {} {} passed its timeout of {} ms; cancelling it", run->id, run->name,
             run->type->traits.timeout.count());
  add_timer(clock_->now() + opts_.timeout_grace, [this, run] { on_grace_over(run); });
}

void Engine::Impl::on_grace_over(const std::shared_ptr<detail::JobRun>& run) {
  ON_STRAND();
  auto it = active_.find(run->id);
  if (it == active_.end() || it->second.run != run) return;
  run->abandoned = true;
  ++abandoned_running_;
  log_->error(
      "job {} {} did not stop within {} ms of its timeout; abandoning it and adding a "
      "worker in its place",
      run->id, run->name, opts_.timeout_grace.count());
  add_worker();
  detail::Outcome out{JobStatus::failed, ErrorKind::timeout,
                      "timed out after " + std::to_string(run->type->traits.timeout.count()) +
                          " ms; the handler did not stop",
                      std::nullopt};
  finish(it, run, out);
}

void Engine::Impl::on_finished(const std::shared_ptr<detail::JobRun>& run, const detail::Outcome& out) {
  ON_STRAND();
  auto it = active_.find(run->id);
  if (it == active_.end() || it->second.run != run) {
    if (run->abandoned) {
      log_->warn(
          "job {} {} returned after it was abandoned for its timeout; its result ({}) "
          "is discarded",
          run->id, run->name, to_string(out.status));
    }
    return;
  }
  finish(it, run, out);
}

void Engine::Impl::finish(ActiveIt it, const std::shared_ptr<detail::JobRun>& run,
                          const detail::Outcome& out) {
  ON_STRAND();
  Active& a = it->second;
  a.info.progress = run->end();  // no report is told after the end that follows
  const std::optional<std::string> completion = run->completion();
  const TimePoint now = clock_->now();
  a.info.status = out.status;
  a.info.ended_at = now;
  a.info.duration = std::max(std::chrono::milliseconds(0),
                             std::chrono::duration_cast<std::chrono::milliseconds>(now - *a.info.started_at));
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
  ready_.release(a.type, a.info.priority, a.run_since);
  a.run.reset();
  if (auto r = std::find(runs_.begin(), runs_.end(), run); r != runs_.end()) {
    *r = std::move(runs_.back());
    runs_.pop_back();
  }
  update_saturation();
  if (out.status == JobStatus::cancelled && !accepting_ && !run->cancelled_by_user) {
    // stop() cancelled it, not a user: the work is unfinished, so it resumes at the next
    // start like a job a crash interrupted.
    interrupted_by_stop(it);
    return;
  }
  if (out.status == JobStatus::failed && accepting_ && retry(a, out, now)) {
    if (shared_) forget(it);  // queued again for any node to claim
    dispatch();
    return;
  }
  if (out.status == JobStatus::failed) {
    log_->error("job {} {} failed for good on attempt {} of {} ({}): {}", a.info.id, a.info.name,
                a.info.attempt, a.info.max_attempts, to_string(out.kind), out.error);
  }
  conclude(it);
}

void Engine::Impl::conclude(ActiveIt it) {
  ON_STRAND();
  Active& a = it->second;
  // The finish write is queued before forget() wakes wait_idle(), so a query made after
  // wait_idle() returns sees the terminal state.
  write_end(a.info);  // its body stays null: the store wrote it at insert
  if (!a.info.task.empty()) tasks_.on_finished(a.info);
  figures_.finished(a.info);
  emit(a.info.status == JobStatus::completed   ? JobEvent::Type::completed
       : a.info.status == JobStatus::cancelled ? JobEvent::Type::cancelled
                                               : JobEvent::Type::failed,
       a);
  alerts_.job_finished(a.info, clock_->now());  // after the job's own event: it explains it
  forget(it);
  dispatch();  // its locks are free; an idle-only job may start now
}

bool Engine::Impl::retry(Active& a, const detail::Outcome& out, TimePoint now) {
  ON_STRAND();
  const RetryPolicy& pol = a.type->traits.retry ? *a.type->traits.retry : opts_.retry;
  const auto d = detail::decide_retry(
      pol, out, {a.info.attempt, a.info.max_attempts, a.rate_waited}, now,
      [this](std::int64_t half) { return std::uniform_int_distribution<std::int64_t>(0, half)(rng_); });
  a.info.max_attempts = d.max_attempts;
  if (!d.retry) return false;
  a.rate_waited = d.rate_waited;
  a.info.attempt = d.attempt;
  a.info.message = d.message;
  log_->warn("job {} {} failed ({}): {}; {}", a.info.id, a.info.name, to_string(out.kind), out.error,
             a.info.message);
  a.info.status = JobStatus::queued;
  a.info.started_at.reset();
  a.info.ended_at.reset();
  a.info.duration = std::chrono::milliseconds(0);
  a.info.not_before = d.next;
  write_end(a.info);  // its body stays null: the store wrote it at insert
  if (!a.info.task.empty()) tasks_.on_requeued(a.info);
  emit(JobEvent::Type::retrying, a);
  if (shared_) return true;  // the caller forgets it: the queue is the database's
  {
    detail::MutexLock lock(inbox_mu_);
    detail::DedupIndex::queued(*a.dedup, a.info.id);
  }
  place(a);
  set_active_count();
  return true;
}

void Engine::Impl::interrupted_by_stop(ActiveIt it) {
  ON_STRAND();
  Active& a = it->second;
  JobInfo& info = a.info;
  if (a.type->traits.rescue_on_restart) {
    info.status = JobStatus::queued;
    info.started_at.reset();
    info.ended_at.reset();
    info.duration = std::chrono::milliseconds(0);
    info.message.clear();
    info.error_kind = ErrorKind::none;
    info.error.clear();
    ++info.attempt;
    log_->info("job {} {} was interrupted by stop(); it resumes at the next start as attempt {}", info.id,
               info.name, info.attempt);
    write_end(info);
    emit(JobEvent::Type::queued, a);
  } else {
    info.status = JobStatus::failed;
    info.error_kind = ErrorKind::permanent;
    info.error = info.message = "interrupted";
    write_end(info);
    emit(JobEvent::Type::failed, a);
  }
  forget(it);
}

void Engine::Impl::forget(ActiveIt it) {
  ON_STRAND();
  {
    detail::MutexLock lock(inbox_mu_);
    dedup_.ended(*it->second.dedup, it->first);
  }
  active_.erase(it);
  set_active_count();
}

// ------------------------------------------------------------------ pushes

Result<PushResult> Engine::Impl::push_on_strand(detail::Prepared& p, bool debounced) {
  ON_STRAND();
  if (!accepting_) return Error{errc::shutting_down, "the engine is stopping"};
  if (shared_) return push_shared(p);
  const Priority wanted = p.options.priority.value_or(p.type->traits.priority);
  const bool into_running = p.type->traits.merge_into_running && !debounced;
  // The twin, or else the new job, in one hold of the mutex: a push admitted off the strand
  // between a look and a claim would make a second job.
  std::optional<Active> made;
  std::optional<JobId> twin;
  {
    detail::MutexLock lock(inbox_mu_);
    twin = twin_or_new(p, into_running, made);
  }
  if (twin && active_.count(*twin) == 0 && place_admitted_early()) {
    // The pick may have started the twin: which job a push merges into is decided again, now
    // that every job it could name is placed.
    dispatch();
    detail::MutexLock lock(inbox_mu_);
    twin = twin_or_new(p, into_running, made);
  }
  if (twin) {
    Active& a = active_.at(*twin);
    if (a.info.task.empty() && !p.options.task.empty()) {
      // A task's push merged into an equal job: that job now counts as the task's run.
      a.info.task = p.options.task;
      if (a.run) a.run->set_task(a.info.task);  // its progress events say so too
    }
    if (a.info.status == JobStatus::queued) {
      const Priority raised = std::max(a.info.priority, wanted);
      const bool to_manual = p.options.trigger == Trigger::manual && a.info.trigger != Trigger::manual;
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
    return PushResult{snapshot(active_.at(*twin)), true};
  }
  PushResult out{place_new(std::move(*made)), false};
  dispatch();
  return out;
}

// A new job (made by twin_or_new, on or off the strand) takes its place: the active jobs, the
// ready index or the timers, the `queued` event. Returns it as a push answers; no pick.
JobInfo Engine::Impl::place_new(Active made) {
  ON_STRAND();
  const JobId id = made.info.id;
  Active& slot = active_.emplace(id, std::move(made)).first->second;
  place(slot);
  set_active_count();
  emit(JobEvent::Type::queued, slot);
  return snapshot(slot);
}

// A pushed job's first state: queued now, attempt 1, as the push asked.
JobInfo Engine::Impl::new_job(JobId id, const detail::Prepared& p) const {
  JobInfo info;
  info.id = id;
  info.name = p.type->name;
  info.priority = p.options.priority.value_or(p.type->traits.priority);
  info.trigger = p.options.trigger;
  info.event = p.options.event;
  info.status = JobStatus::queued;
  info.queued_at = clock_->now();
  info.attempt = 1;
  info.not_before = p.options.not_before;
  info.task = p.options.task;
  return info;
}

// The row is the job: whichever node has room claims it (this one included), and dedup and
// ticks are decided by the database when the row is inserted (SharedKeys), so the answer cannot
// say "merged" before the commit; a durable push returns after it.
Result<PushResult> Engine::Impl::push_shared(detail::Prepared& p) {
  ON_STRAND();
  auto id = shared_->reserve_ids(1);
  if (!id) return id.error();
  Active a;
  a.info = new_job(*id, p);
  a.type = p.type;
  shared_->insert(a.info, std::move(p.body_text), SharedKeys{p.key, p.tick}, std::move(p.committed));
  a.body = std::make_shared<const nlohmann::json>(std::move(p.body));
  emit(JobEvent::Type::queued, a);
  return PushResult{snapshot(a), false};
}

void Engine::Impl::on_claimed(std::vector<JobInfo> jobs) {
  ON_STRAND();
  if (!accepting_) return;  // the node leaves: its claims go back to the queue
  const std::int64_t node = shared_->node();
  for (auto& job : jobs) {
    const CommandType* type = registry_.find(job.name);
    if (!type) continue;
    const std::optional<detail::PendingEnd> pending = pending_end(job.id);
    if (!detail::take_claimed(job, active_.count(job.id) != 0, pending ? &*pending : nullptr, node)) continue;
    place(adopt(std::move(job), type));
  }
  set_active_count();
  dispatch();
}

// A job held here: a queued one ends cancelled at once, a running one has its token cancelled
// (it ends when its handler returns). Nothing when it is not held here.
std::optional<JobInfo> Engine::Impl::cancel_here(JobId id) {
  ON_STRAND();
  // A durable push's row can commit before the strand places its job: the job is queued all
  // the same, and is cancelled as a placed one.
  if (active_.count(id) == 0 && place_admitted_early()) dispatch();
  auto it = active_.find(id);
  if (it == active_.end()) return std::nullopt;
  auto& a = it->second;
  if (a.info.status == JobStatus::executing) {
    a.run->cancelled_by_user = true;
    a.run->stop.request_stop();
    return snapshot(a);
  }
  unplace(a);
  a.info.status = JobStatus::cancelled;
  a.info.ended_at = clock_->now();
  a.info.message = "Cancelled";
  JobInfo info = snapshot(a);
  conclude(it);
  return info;
}

// A queued job of the shared queue that request_cancel() claimed for this node to cancel:
// adopted and cancelled as one of its own, so its end is written with this node's token,
// counted and told. Nothing when the node is leaving (the claim goes back with the others).
std::optional<JobInfo> Engine::Impl::cancel_taken(JobInfo job) {
  ON_STRAND();
  const JobId id = job.id;
  if (!accepting_) return std::nullopt;
  if (active_.count(id) != 0) return cancel_here(id);
  const CommandType* type = registry_.find(job.name);
  if (type == nullptr) {
    // Not a command this node knows: the end is written as it is.
    job.status = JobStatus::cancelled;
    job.ended_at = clock_->now();
    job.message = "Cancelled";
    write_end(job);
    return job;
  }
  adopt(std::move(job), type);
  auto out = cancel_here(id);
  set_active_count();
  return out;
}

// Cancel requests other nodes sent for jobs this node holds.
void Engine::Impl::on_cancel_requests(const std::vector<JobId>& ids) {
  ON_STRAND();
  for (JobId id : ids) {
    if (cancel_here(id)) log_->info("cluster: job {} cancelled at another node's request", id);
  }
  set_active_count();
  dispatch();
}

// A dead node's running jobs, now this node's: ended or queued again by the rules of a crash
// (recovery.hpp), written with this node's token. None of them runs here: a requeued one goes
// back to the queue for any node.
void Engine::Impl::on_orphans(std::vector<JobInfo> jobs) {
  ON_STRAND();
  // A rescue handed over again (its first answer was lost) includes this node's own running
  // jobs: those it holds, or whose end is on its way, are not orphans.
  std::erase_if(
      jobs, [this](const JobInfo& j) { return active_.count(j.id) != 0 || pending_end(j.id).has_value(); });
  auto recovered = detail::recover(std::move(jobs), registry_, clock_->now());
  for (const auto& note : recovered.notes) log_->warn("cluster rescue: {}", note);
  for (auto& row : recovered.changed) {
    store_->finish(row);
    if (is_terminal(row.status)) figures_.finished(row);
  }
}

// Another node's job, as the host would have heard of it had it run here: one event per status
// seen (a job that passed through several between two looks is told as it is now).
// A claimed job's last write here (its end, or its return to the queue). Until it commits,
// the row still looks claimed by this node and unstarted (the writes before it may be waiting
// for the server too), so a claim handed over again must not run it a second time.
void Engine::Impl::write_end(const JobInfo& info) {
  ON_STRAND();
  if (!shared_) {
    store_->finish(info);
    return;
  }
  // One read of the node id, for the record and for the write's attempt token: the feed thread
  // may join again under a new id at any moment, and a write recorded under the old id but sent
  // under the new one could be applied to a claim the new id took since (take_claimed would
  // believe it refused and run the job again).
  const std::int64_t node = shared_->node();
  {
    detail::MutexLock lock(pending_mu_);
    // The last write's kind, and a count: a requeued job claimed back may end again before the
    // Done of its return to the queue (take_claimed).
    detail::PendingEnd& p = pending_[info.id];
    ++p.writes;
    p.node = node;
    p.requeue = info.status == JobStatus::queued;
    p.attempt = info.attempt;
    p.not_before = info.not_before;
  }
  store_->finish_as(info, node, [this, id = info.id](bool) {
    detail::MutexLock lock(pending_mu_);
    if (auto it = pending_.find(id); it != pending_.end() && --it->second.writes == 0) pending_.erase(it);
  });
}

std::optional<detail::PendingEnd> Engine::Impl::pending_end(JobId id) {
  detail::MutexLock lock(pending_mu_);
  auto it = pending_.find(id);
  if (it == pending_.end()) return std::nullopt;
  return it->second;
}

void Engine::Impl::on_changed_elsewhere(std::vector<JobInfo> jobs) {
  ON_STRAND();
  if (elsewhere_.size() > 50000) {
    // Ended jobs are kept so a late notice of one is not told twice; only so many.
    std::erase_if(elsewhere_, [](const auto& e) { return is_terminal(e.second); });
    if (elsewhere_.size() > 50000) elsewhere_.clear();  // jobs whose end was never seen
  }
  for (auto& job : jobs) {
    if (active_.count(job.id) != 0) continue;  // this node holds it: it told already
    auto [seen, added] = elsewhere_.try_emplace(job.id, job.status);
    if (!added && seen->second == job.status) continue;
    seen->second = job.status;
    JobEvent::Type type = JobEvent::Type::queued;
    switch (job.status) {
      case JobStatus::queued:
        type = job.attempt > 1 ? JobEvent::Type::retrying : JobEvent::Type::queued;
        break;
      case JobStatus::executing: type = JobEvent::Type::started; break;
      case JobStatus::completed: type = JobEvent::Type::completed; break;
      case JobStatus::failed: type = JobEvent::Type::failed; break;
      case JobStatus::cancelled: type = JobEvent::Type::cancelled; break;
    }
    Active a;
    a.body = std::make_shared<const nlohmann::json>(std::move(job.body));
    job.body = nullptr;
    a.info = std::move(job);
    emit(type, a);
  }
}

int Engine::Impl::free_slots() const {
  // Every regular worker and the Critical lane, and the prefetch on top.
  return opts_.workers + 1 + opts_.cluster.prefetch - held_.load();
}

void Engine::Impl::on_debounce(const std::string& key) {
  ON_STRAND();
  auto p = debouncer_.due(key, clock_->now());
  if (!p) return;  // a later request moved it
  auto pushed = push_on_strand(*p, /*debounced=*/true);
  if (!pushed) log_->warn("debounced {} was not pushed: {}", p->type->name, pushed.error().message);
}

JobInfo Engine::Impl::snapshot(const Active& a) const {
  JobInfo info = a.info;
  info.body = *a.body;
  if (a.run) info.progress = a.run->progress();
  return info;
}

namespace {
// A durable push whose row the store dropped instead of committing: it closed (at stop) while
// its commits still failed, after its last attempts.
Error not_stored() { return Error{errc::shutting_down, "the engine stopped before the job was stored"}; }
}  // namespace

Result<PushResult> Engine::Impl::push(detail::Prepared p) {
  if (!p.options.durable) {
    auto result = on_strand([&] { return push_on_strand(p); });
    if (!result) return Error{errc::shutting_down, "the engine is stopped"};
    return std::move(*result);
  }
  if (strand_.running_in_this_thread()) {
    // A push from the strand itself (an event rule): nothing to post, so wait here.
    std::promise<bool> promise;
    auto committed = promise.get_future();
    p.committed = [&promise](bool ok) { promise.set_value(ok); };
    auto result = push_on_strand(p);
    if (result && !result->merged && !committed.get()) return not_stored();
    if (result && result->merged) store_->flush();
    return result;
  }
  return push_durable(std::move(p));
}

// Admission off the strand (push_durable), under the inbox's mutex, which guards the dedup index
// and the ids: a push sees every job admitted before it, here or on the strand. The strand takes
// the item only after the mutex is let go, so the store has the row's insert before any later
// write of the job (its start, which only a placed job can have).
void Engine::Impl::admit(InboxItem& item) {
  // With a twin the item goes to the strand as it is, which merges it.
  (void)twin_or_new(item.p, item.p.type->traits.merge_into_running, item.admitted);
}

// The job an equal push merges into; else none, and `made` is the new job: its id and dedup
// entry taken and its row's insert queued (so the store has the row before any later write of
// the job), not placed yet. `p`'s body, key, text and completion move into it.
std::optional<JobId> Engine::Impl::twin_or_new(detail::Prepared& p, bool into_running,
                                               std::optional<Active>& made) {
  auto admitted = dedup_.twin_or_queue(p.key, into_running, next_id_);
  if (admitted.twin) return admitted.twin;
  const JobId id = next_id_++;
  Active a;
  a.dedup = admitted.slot;
  try {
    a.info = new_job(id, p);
    a.body = std::make_shared<const nlohmann::json>(std::move(p.body));
    a.type = p.type;
    store_->insert(a.info, std::move(p.body_text), std::move(p.committed));
  } catch (...) {
    dedup_.ended(*a.dedup, id);  // no job: nothing may merge into it
    throw;
  }
  made = std::move(a);
  return std::nullopt;
}

// An admitted push takes its place on the strand, as push_on_strand places a new job.
void Engine::Impl::place_admitted(InboxItem& item) {
  ON_STRAND();
  JobInfo job = place_new(std::move(*std::exchange(item.admitted, std::nullopt)));
  std::exchange(item.wait, nullptr)->answer(PushResult{std::move(job), false});
}

// A push on the strand found its twin among the admitted pushes the inbox still holds, or a
// cancel names a job that is not placed yet: they are placed now (all of them, in their order),
// so that the job is there to merge into or to cancel. True when it placed any: the caller then
// picks (the inbox's turn, now without them, may find nothing to do).
bool Engine::Impl::place_admitted_early() {
  ON_STRAND();
  std::vector<InboxItem> early;
  {
    detail::MutexLock lock(inbox_mu_);
    std::vector<InboxItem> rest;
    for (auto& item : inbox_) (item.admitted ? early : rest).push_back(std::move(item));
    inbox_.swap(rest);
  }
  for (auto& item : early) place_admitted(item);
  return !early.empty();
}

std::vector<Engine::Impl::InboxItem> Engine::Impl::take_inbox(bool keep_posted) {
  std::vector<InboxItem> items;
  detail::MutexLock lock(inbox_mu_);
  items.swap(inbox_);
  inbox_filled_.store(false, std::memory_order_relaxed);
  if (!keep_posted) inbox_posted_ = false;
  return items;
}

void Engine::Impl::run_inbox() {
  ON_STRAND();
  auto items = take_inbox(/*keep_posted=*/true);
  // The admitted ones first: a push admitted here may merge into any of them.
  for (auto& item : items)
    if (item.admitted) place_admitted(item);
  for (auto& item : items) {
    if (!item.wait) continue;
    auto result = push_on_strand(item.p);  // should it throw, the items answer "stopped"
    std::exchange(item.wait, nullptr)->answer(std::move(result));  // not again at destruction
  }
  dispatch();
  // Deferred, not posted: it runs on this thread as soon as the strand's handler returns.
  // Dropped unrun (at shutdown), its guard answers whatever joined the inbox meanwhile.
  asio::defer(work_io_, [watch = InboxTurn(this)]() mutable { watch.watch(); });
}

// The pool thread that ran an inbox turn watches the inbox for a moment before it goes back to
// the pool, and the inbox counts as posted meanwhile: pushes that arrive join it without a post.
// A post wakes a sleeping pool thread, a system call that cost a pusher a fifth of its time
// with eight threads pushing durable jobs (each is woken as its row commits, so they come back
// one by one, and most found the last turn begun and posted again). The watch then enters the
// strand from this thread: asio::dispatch runs the turn here at once when the strand is free.
// The writer's wait for its next batch works the same way (WriteQueue's kSpin).
void Engine::Impl::watch_inbox() {
  detail::yield_until([this] { return inbox_filled_.load(std::memory_order_acquire); }, kInboxWatch);
  {
    detail::MutexLock lock(inbox_mu_);
    if (inbox_.empty()) {
      inbox_posted_ = false;  // the next push posts
      return;
    }
  }
  asio::dispatch(strand_, [turn = InboxTurn(this)]() mutable { turn.run(); });
}

// A durable push returns after its row's commit. The caller waits once, for the later of the
// strand's answer and the writer's commit, instead of once for each (and sleeps only if they
// come after its spin, below): on two cores, with eight threads pushing, the wake-ups are what
// a push costs, not the SQL.
//
// A push with no twin is admitted right here, under the inbox's mutex (admit): its id, its
// dedup entry and its row's insert are done before the strand sees it, so the commit runs
// beside the strand's turn instead of after it, and the turn only places the job. A push with a
// twin is admitted on the strand, which merges it (raising the twin's priority is the strand's).
// Eight threads pushing went from about 0.31 to 0.40 of the batched SQLite reference with this
// (docs/benchmark-log.md, 6 December 2026, 02:10 UTC): the round trip a push waits for lost the strand's
// turn.
//
// The pusher looks for its answer for up to kCommitSpin before it sleeps, yielding between looks
// (so the writer and the pool have the core when they need it). A commit usually comes within
// that time, and a pusher still awake needs no wake-up: the writer, whose thread every durable
// push waits on, no longer makes a system call per caller, and the pusher skips a trip through
// the scheduler. Eight threads pushing on the 2-core guest: 1.27 thread wake-ups a push fell to
// 0.40–0.52 and the CPU a push from 35 to 27–31 µs (the writer's from 17 to 13–14), and the
// pushes a second rose by about a fifth (36,300 to 44,100 on average in five pairs, alternated
// with the build before). 100 µs did worse than none (most commits came after it, and the
// pusher slept anyway); 600 µs no better than 300. A push that waits longer (synchronous=FULL,
// a slow disk) spends those 300 µs yielding, then sleeps as before.
//
// Concurrent durable pushes share one trip to the strand: a push that finds one already posted
// and not yet begun joins its inbox instead of posting again, so a burst is placed in one
// strand turn.
Result<PushResult> Engine::Impl::push_durable(detail::Prepared p) {
  auto wait = std::make_shared<DurableWait>();
  p.committed = [wait](bool ok) { wait->commit(ok); };
  if (!enter_gate()) return Error{errc::shutting_down, "the engine is stopped"};
  bool post = false;
  {
    InboxItem item(this, std::move(p), wait);
    detail::MutexLock lock(inbox_mu_);
    inbox_.push_back(std::move(item));  // first: a push_back that throws leaves nothing admitted
    if (admit_open_ && shared_ == nullptr) admit(inbox_.back());
    inbox_filled_.store(true, std::memory_order_release);
    post = !std::exchange(inbox_posted_, true);
  }
  if (post) asio::post(strand_, [turn = InboxTurn(this)]() mutable { turn.run(); });
  wait->done.wait(kCommitSpin);
  Result<PushResult> result = std::move(*wait->result);
  // The store closed before the row committed (it gave up on a failing disk at stop): the job
  // is not stored, so the push must not say it is.
  if (result && !result->merged && !wait->stored) return not_stored();
  if (result && result->merged) store_->flush();  // the twin's row was written by an earlier push
  return result;
}

Status Engine::Impl::push_debounced(detail::Prepared p, std::chrono::milliseconds window,
                                    std::chrono::milliseconds max_wait) {
  auto r = on_strand([&]() -> Status {
    if (!accepting_) return Error{errc::shutting_down, "the engine is stopping"};
    std::string key = p.key;
    const TimePoint deadline = debouncer_.request(std::move(p), clock_->now(), window, max_wait);
    add_timer(deadline, [this, key = std::move(key)] { on_debounce(key); });
    return Ok{};
  });
  if (!r) return Error{errc::shutting_down, "the engine is stopped"};
  return *r;
}

// ------------------------------------------------------------------ events

JobDelta Engine::Impl::delta(const Active& a) const {
  JobDelta d;
  d.id = a.info.id;
  d.name = a.info.name;
  d.status = a.info.status;
  d.priority = a.info.priority;
  d.trigger = a.info.trigger;
  d.attempt = a.info.attempt;
  d.max_attempts = a.info.max_attempts;
  d.progress = a.info.progress;
  d.message = a.info.message;
  d.error_kind = a.info.error_kind;
  d.error = a.info.error;
  d.task = a.info.task;
  d.queued_at = a.info.queued_at;
  d.started_at = a.info.started_at;
  d.ended_at = a.info.ended_at;
  d.duration = a.info.duration;
  d.not_before = a.info.not_before;
  d.body = a.body;
  return d;
}

void Engine::Impl::emit(JobEvent::Type type, const Active& a) {
  ON_STRAND();
  if (!hub_.wants(detail::EventHub::kinds_of(type))) return;
  hub_.publish_job(detail::job_fields(type, a.info, a.body, a.info.progress));
}

void Engine::Impl::emit_task(const TaskInfo& t) {
  if (!hub_.wants(kTaskEvents)) return;
  hub_.publish(TaskChanged{t});
}

// ------------------------------------------------------------------ worker side

// On the worker thread, with no trip to the strand: nothing the strand holds changes while a job
// runs but its progress, which the run holds, so the row's write and the event need only the
// run. A post to the strand woke a sleeping pool thread for each report, which the job's finish
// then followed: two thread switches per report. The run's lock orders the report against the
// job's end (JobRun::end): told before it, or not at all.
void Engine::Impl::on_progress(detail::JobRun& run) { tell_progress(run); }

// With a progress_interval, the store gets a running job's progress from the sweep
// (persist_progress) rather than from each report published: most jobs end within one
// interval, and their end writes their last progress anyway.
void Engine::Impl::tell_progress(detail::JobRun& run) {
  const bool events = hub_.wants(detail::EventHub::kinds_of(JobEvent::Type::progress));
  const bool persist = opts_.progress_interval.count() == 0;
  if (!events && !persist) return;
  run.tell_progress(
      [&](const JobDelta& running, const Progress& progress) { tell_report(run.id, running, progress); });
}

void Engine::Impl::tell_report(JobId id, const JobDelta& running, const Progress& progress) {
  if (opts_.progress_interval.count() == 0) store_->progress(id, progress);
  if (hub_.wants(detail::EventHub::kinds_of(JobEvent::Type::progress)))
    hub_.publish_job(detail::job_fields(JobEvent::Type::progress, running, running.body, progress));
}

// Every progress_interval while jobs run: each running job's latest report since the last
// sweep goes to the store. A report cost a write queued to the store's writer on the worker's
// thread, taken and applied in the next batch (to be dropped there when the job's end came in
// the same batch): a fifth of the dispatch rate of quick jobs that report once.
void Engine::Impl::persist_progress() {
  ON_STRAND();
  sweep_armed_ = false;
  for (const auto& run : runs_) {
    if (auto p = run->take_unpersisted()) store_->progress(run->id, *p);
  }
  arm_progress_sweep();
}

void Engine::Impl::arm_progress_sweep() {
  ON_STRAND();
  if (sweep_armed_ || runs_.empty() || opts_.progress_interval.count() == 0) return;
  sweep_armed_ = true;
  add_timer(clock_->now() + opts_.progress_interval, [this] { persist_progress(); });
}

// The throttle held a report back: publish it when the interval ends. take_held() has nothing
// when a later report was published at once and nothing was held after it, and asks for another
// wait when one was held after it (its own interval runs from that publish).
void Engine::Impl::on_progress_held(detail::JobRun& run, std::chrono::steady_clock::duration after) {
  asio::post(strand_, [this, id = run.id, run = &run, after] { flush_progress_after(id, run, after); });
}

// `run` is compared, never read, until the job's own pointer shows it is still that job's run.
void Engine::Impl::flush_progress_after(JobId id, const detail::JobRun* run,
                                        std::chrono::steady_clock::duration after) {
  ON_STRAND();
  add_timer(clock_->now() + std::chrono::duration_cast<TimePoint::duration>(after), [this, id, run] {
    auto it = active_.find(id);
    if (it == active_.end() || it->second.run.get() != run || it->second.info.status != JobStatus::executing)
      return;
    auto action = it->second.run->take_held(
        [&](const JobDelta& running, const Progress& progress) { tell_report(id, running, progress); });
    if (action.flush_in) flush_progress_after(id, run, *action.flush_in);  // not told yet: wait again
  });
}

Result<PushResult> Engine::Impl::push_from_job(const detail::JobRun&, PushRequest request) {
  auto prepared = detail::prepare(registry_, request.name, request.body, std::move(request.options));
  if (!prepared) return prepared.error();
  return push(std::move(*prepared));
}

Status Engine::Impl::push_debounced_from_job(const detail::JobRun&, PushRequest request,
                                             std::chrono::milliseconds window,
                                             std::chrono::milliseconds max_wait) {
  auto prepared = detail::prepare(registry_, request.name, request.body, std::move(request.options));
  if (!prepared) return prepared.error();
  return push_debounced(std::move(*prepared), window, max_wait);
}

// A lone engine's dispatcher starts a rate-keyed job only when its key allows a use, and takes
// it. Nodes of a cluster each do that too, which spaces the uses of one node; the slot reserved
// here in the shared store spaces them across the nodes. It is taken on the worker, just before
// the handler, because the strand never waits for the database and a slot taken at claim time
// would be spent by a job still waiting for a thread.
void Engine::Impl::wait_rate_slot(detail::JobRun& run) {
  if (!shared_) return;
  const std::string& key = run.type->traits.rate_key;
  const RateLimit limit = rate_limiter_->limit_of(key);
  if (limit.min_spacing.count() <= 0 && limit.budget <= 0) return;  // no limit configured
  auto wait = shared_->reserve_rate(key, limit);
  if (!wait) throw JobError(ErrorKind::database, wait.error().message);
  if (wait->count() > 0) {
    // This node starts no other job of the key before the slot: a node then holds at most one
    // worker waiting per key, however many nodes want it.
    rate_limiter_->defer_until(key, clock_->now() + *wait);
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock lock(mu);
    cv.wait_for(lock, run.stop.get_token(), *wait, [] { return false; });
  }
  if (run.stop.stop_requested())
    throw JobError(ErrorKind::cancelled, "cancelled while waiting for rate key " + key);
}

// ------------------------------------------------------------------ health

void Engine::Impl::update_saturation() {
  ON_STRAND();
  const bool saturated =
      ready_.running_total() - static_cast<int>(ready_.running(Priority::critical)) >= opts_.workers;
  if (saturated && !saturated_since_) saturated_since_ = clock_->now();
  if (!saturated) saturated_since_.reset();
}

void Engine::Impl::check_alerts() {
  ON_STRAND();
  detail::AlertInputs in;
  in.now = clock_->now();
  for (const auto& [id, a] : active_) {
    if (!a.run || !a.info.started_at) continue;
    in.running.push_back({id, a.info.name, *a.info.started_at, figures_.average(a.info.name, 5)});
  }
  for (int p = 0; p < kPriorityCount; ++p) {
    const auto pr = static_cast<Priority>(p);
    in.queued += ready_.queued(pr);
    if (auto since = ready_.oldest_ready(pr)) {
      const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(in.now - *since);
      if (!in.oldest_ready_age || age > *in.oldest_ready_age) in.oldest_ready_age = age;
    }
  }
  const StoreHealth st = store_->stats();
  in.store_write_errors = st.write_errors;
  in.store_failing = st.failing;
  in.saturated_since = saturated_since_;
  in.workers = opts_.workers;
  alerts_.check(in);
}

void Engine::Impl::schedule_checks() {
  ON_STRAND();
  add_timer(clock_->now() + opts_.alerts.check_interval, [this] {
    check_alerts();
    schedule_checks();
  });
}

void Engine::Impl::schedule_minutes() {
  ON_STRAND();
  const TimePoint next = detail::HealthFigures::minute_of(clock_->now()) + std::chrono::minutes(1);
  add_timer(next, [this] {
    std::int64_t queued = 0, delayed = 0, running = 0;
    for (int p = 0; p < kPriorityCount; ++p) {
      queued += ready_.queued(static_cast<Priority>(p));
      delayed += delayed_[p];
      running += ready_.running(static_cast<Priority>(p));
    }
    const MinuteHealth m = figures_.close_minute(clock_->now(), queued, delayed, running);
    if (hub_.wants(kMinuteEvents)) hub_.publish(MinuteClosed{m});
    schedule_minutes();
  });
}

void Engine::Impl::schedule_pruning() {
  ON_STRAND();
  add_timer(clock_->now() + opts_.retention.interval, [this] {
    const auto& r = opts_.retention;
    std::optional<TimePoint> cutoff;
    const TimePoint now = clock_->now();
    if (r.max_age.count() > 0) cutoff = now - r.max_age;
    // On a worker thread: a prune is one store transaction, not strand work.
    asio::post(work_io_, [store = store_, log = log_, cutoff, max_rows = r.max_rows,
                          minutes_before = now - opts_.health_window] {
      auto removed = store->prune(cutoff, max_rows);
      if (!removed) {
        log->error("pruning finished jobs failed: {}", removed.error().message);
      } else if (*removed > 0) {
        log->info("pruned {} finished jobs", *removed);
      }
      store->drop_minutes(minutes_before);
    });
    schedule_pruning();
  });
}

HealthSnapshot Engine::Impl::health_snapshot(bool series) {
  ON_STRAND();
  HealthSnapshot h;
  const TimePoint now = clock_->now();
  h.at = now;
  h.running = ready_.running_total();
  h.short_job_lanes = ready_.compaction_lanes();
  h.lock_holds_waiting = static_cast<int>(holds_.pending());
  h.lock_holds_held = static_cast<int>(holds_.granted());
  if (h.short_job_lanes > 0) h.spread_after = opts_.spread_after;
  // From the ready index's counts, not a walk of the live jobs: with 100,000 queued that walk
  // held the strand for milliseconds at every health call (/metrics, the dashboard).
  std::map<std::string, int> running;
  for (const auto& [type, n] : ready_.running_by_type()) running[type->name] += n;
  figures_.fill(h, now, registry_.names(), running, series);
  for (int p = kPriorityCount - 1; p >= 0; --p) {
    PriorityHealth ph;
    ph.priority = static_cast<Priority>(p);
    ph.queued = ready_.queued(ph.priority);
    ph.delayed = delayed_[p];
    ph.running = ready_.running(ph.priority);
    if (auto since = ready_.oldest_ready(ph.priority)) {
      ph.oldest_queued_age = std::chrono::duration_cast<std::chrono::milliseconds>(now - *since);
    }
    h.priorities.push_back(ph);
  }
  h.alerts = alerts_.open();
  return h;
}

}  // namespace shelfjobs

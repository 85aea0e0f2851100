// SPDX-License-Identifier: MIT
// The engine's public functions and JobContext: each validates what it can on the caller's
// thread, then makes one trip to the strand (or one store call). Engine::create opens the store
// and applies recovery before anything runs.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "engine/engine_impl.hpp"

namespace shelfjobs {

// ------------------------------------------------------------------ JobContext

JobId JobContext::id() const noexcept { return run_.id; }
int JobContext::attempt() const noexcept { return run_.attempt; }
const std::string& JobContext::name() const noexcept { return run_.name; }
Trigger JobContext::trigger() const noexcept { return run_.trigger; }
std::stop_token JobContext::token() const noexcept { return run_.stop.get_token(); }
void JobContext::throw_if_cancelled() const {
  if (cancelled()) throw JobError(ErrorKind::cancelled, "cancelled");
}
namespace {
void act(detail::JobRun& run, detail::JobRun::ReportAction a) {
  if (a.publish) run.host->on_progress(run);
  if (a.flush_in) run.host->on_progress_held(run, *a.flush_in);
}
}  // namespace
void JobContext::report(std::int64_t current, std::int64_t total, std::string message) {
  act(run_, run_.report(current, total, std::move(message)));
}
void JobContext::status(std::string text) {
  act(run_, run_.report(std::nullopt, std::nullopt, std::move(text)));
}
void JobContext::complete(std::string message) { run_.set_completion(std::move(message)); }
spdlog::logger& JobContext::log() const noexcept { return run_.host->logger(); }
void JobContext::flush_store() { run_.host->flush_store(); }
Result<PushResult> JobContext::push(std::string_view name, const nlohmann::json& body, PushOptions options) {
  return run_.host->push_from_job(run_, PushRequest{std::string(name), body, std::move(options)});
}
Status JobContext::push_debounced(PushRequest request, std::chrono::milliseconds window,
                                  std::chrono::milliseconds max_wait) {
  return run_.host->push_debounced_from_job(run_, std::move(request), window, max_wait);
}

// ------------------------------------------------------------------ Engine

Result<std::unique_ptr<Engine>> Engine::create(EngineOptions options, Registry registry) {
  if (options.workers < 1 || options.workers > 256) {
    return Error{errc::invalid_argument,
                 "workers must be between 1 and 256, not " + std::to_string(options.workers)};
  }
  if (options.short_job_lanes < 0 || options.short_job_lanes > 256) {
    return Error{errc::invalid_argument,
                 "short_job_lanes must be between 0 and 256, not " + std::to_string(options.short_job_lanes)};
  }
  if (options.spread_after.count() < 0 || options.spread_after > std::chrono::seconds(10)) {
    return Error{errc::invalid_argument, "spread_after must be between 0 and 10 s, not " +
                                             std::to_string(options.spread_after.count()) + " us"};
  }
  if (!options.store && options.store_path.empty()) {
    return Error{errc::invalid_argument, "store_path is empty"};
  }
  if (options.progress_interval.count() < 0) {
    return Error{errc::invalid_argument, "progress_interval must not be negative"};
  }
  if (!options.logger) options.logger = spdlog::default_logger();
  if (!options.clock) options.clock = std::make_shared<SystemClock>();
  if (!options.notifier) options.notifier = std::make_shared<LogNotifier>(options.logger);
  if (!options.rate_limiter) options.rate_limiter = std::make_shared<RateLimiter>(options.clock);
  if (options.timeout_grace.count() < 0 || options.aging_period.count() < 0 ||
      options.idle_max_deferral.count() < 0) {
    return Error{errc::invalid_argument,
                 "timeout_grace, aging_period and idle_max_deferral must not be negative"};
  }

  const bool cluster = options.cluster.enabled;
  if (cluster) {
    if (options.cluster.heartbeat.count() <= 0 || options.cluster.lease < 2 * options.cluster.heartbeat ||
        options.cluster.fallback_poll.count() <= 0 || options.cluster.prefetch < 0) {
      return Error{errc::invalid_argument,
                   "cluster: heartbeat and fallback_poll must be positive, lease at least two heartbeats, "
                   "prefetch not negative"};
    }
    if (options.cluster.node_name.empty()) {
      char host[256] = {};
      if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "localhost");
      options.cluster.node_name = std::string(host) + ":" + std::to_string(::getpid());
    }
  }
  std::shared_ptr<JobStore> store = options.store;
  if (!store && is_postgres_url(options.store_path)) {
    auto opened = open_postgres_job_store(PostgresStoreOptions{.url = options.store_path,
                                                               .schema = options.store_schema,
                                                               .shared = cluster,
                                                               .logger = options.logger});
    if (!opened) return opened.error();
    store = std::move(opened).value();
  }
  if (!store) {
    if (options.store_busy_timeout.count() < 0) {
      return Error{errc::invalid_argument, "store_busy_timeout must not be negative"};
    }
    auto opened = open_sqlite_job_store(SqliteStoreOptions{.path = options.store_path,
                                                           .sync_full = options.sync_full,
                                                           .busy_timeout = options.store_busy_timeout,
                                                           .logger = options.logger});
    if (!opened) return opened.error();
    store = std::move(opened).value();
  }
  if (cluster && store->shared() == nullptr) {
    return Error{
        errc::invalid_argument,
        "cluster: the job store cannot be shared (a PostgreSQL store_path can; a SQLite file cannot)"};
  }
  const TimePoint now = options.clock->now();
  auto state = store->load(now - options.health_window);
  if (!state) return state.error();
  if (cluster) {
    // The queue is the database's: no node recovers another's jobs at start. A dead node's
    // running jobs are rescued once its lease expires (the feed's take_orphans).
    state->active.clear();
    auto impl = std::make_shared<Impl>(std::move(options), std::move(registry), std::move(store),
                                       std::vector<JobInfo>{}, std::vector<JobInfo>{}, std::move(*state));
    auto engine = std::unique_ptr<Engine>(new Engine(impl));
    if (auto joined = impl->feed_->join(); !joined) return joined.error();  // ~Engine stops it
    return engine;
  }
  // Recovery: decide, in one transaction, what becomes of the jobs an earlier process left.
  auto recovered = detail::recover(std::move(state->active), registry, now);
  for (const auto& note : recovered.notes) options.logger->info("recovery: {}", note);
  if (auto written = store->write_recovered(recovered.changed); !written) {
    return Error{errc::store_error, "cannot recover jobs: " + written.error().message};
  }
  auto impl =
      std::make_shared<Impl>(std::move(options), std::move(registry), std::move(store),
                             std::move(recovered.keep), std::move(recovered.changed), std::move(*state));
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Engine::Engine(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Engine::~Engine() {
  stop();
  if (impl_->leaked_) {
    // A handler ignored cancellation past the deadline and still runs on a detached thread that
    // points into Impl. Keep Impl alive for the rest of the process rather than free memory
    // under it.
    static std::mutex mu;
    static auto* graveyard = new std::vector<std::shared_ptr<Impl>>;
    std::lock_guard lock(mu);
    graveyard->push_back(std::move(impl_));
  }
}

const Registry& Engine::registry() const noexcept { return impl_->registry_; }

void Engine::start() {
  const bool first = impl_
                         ->on_strand([this] {
                           const bool was = impl_->started_;
                           impl_->started_ = true;
                           impl_->dispatch();
                           return !was;
                         })
                         .value_or(false);
  if (first && impl_->feed_) impl_->feed_->start();
}

namespace {
const Error kStopped{errc::shutting_down, "the engine is stopped"};
}

Result<PushResult> Engine::push(std::string_view name, const nlohmann::json& body, PushOptions options) {
  auto prepared = detail::prepare(impl_->registry_, name, body, std::move(options));
  if (!prepared) return prepared.error();
  return impl_->push(std::move(*prepared));
}

Result<std::vector<PushResult>> Engine::push_many(std::vector<PushRequest> requests) {
  std::vector<detail::Prepared> prepared;
  prepared.reserve(requests.size());
  bool durable = true;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    durable = durable && requests[i].options.durable;
    auto p =
        detail::prepare(impl_->registry_, requests[i].name, requests[i].body, std::move(requests[i].options));
    if (!p) {
      return Error{p.error().code, "request " + std::to_string(i) + ": " + p.error().message};
    }
    prepared.push_back(std::move(p).value());
  }
  auto result = impl_->on_strand([&]() -> Result<std::vector<PushResult>> {
    if (!impl_->accepting_) return Error{errc::shutting_down, "the engine is stopping"};
    std::vector<PushResult> out;
    out.reserve(prepared.size());
    for (auto& p : prepared) out.push_back(std::move(impl_->push_on_strand(p)).value());
    return out;
  });
  if (!result) return kStopped;
  if (*result && durable) impl_->store_->flush();  // one wait for the whole batch
  return std::move(*result);
}

Result<PushResult> Engine::push_or_run_task(std::string_view name, const nlohmann::json& body,
                                            PushOptions options) {
  const bool bare = body.is_null() || (body.is_object() && body.empty());
  if (bare) {
    auto r = impl_->on_strand([&]() -> std::optional<Result<PushResult>> {
      auto& im = *impl_;
      const auto task = im.tasks_.resolve(name);  // case-insensitive, like command names
      if (!task) return std::nullopt;
      return im.tasks_.run_now(*task, im.clock_->now());
    });
    if (!r) return kStopped;
    if (*r) {
      if (**r) impl_->store_->flush();
      return std::move(**r);
    }
  }
  return push(name, body, std::move(options));
}

// The strand is asked first; the store's row then tells "no such job" from "already ended". A
// durable push admits its job off the strand (ADR 0020), so the job can appear between the two
// looks: its row queued, or placed and not yet ended. The row is only read after the push put its
// job in the inbox (admission holds the inbox's mutex while it queues the insert), so the
// strand's second look, which places what the inbox holds, finds the job.
Result<JobInfo> Engine::cancel(JobId id) {
  for (int look = 0;; ++look) {
    auto r = impl_->on_strand([&] { return impl_->cancel_here(id); });
    if (!r) return kStopped;
    if (*r) {
      impl_->store_->flush();
      return std::move(**r);
    }
    if (impl_->shared_ != nullptr) {
      // Not held here: claimed by nobody (this node takes it and cancels it) or held by another
      // node (asked to cancel it; its snapshot as it is now, as for a running job here).
      auto asked = impl_->shared_->request_cancel(id);
      if (!asked) return asked.error();
      if (asked->taken) {
        auto taken = impl_->on_strand([&] { return impl_->cancel_taken(std::move(*asked->taken)); });
        if (!taken || !*taken) return kStopped;  // the node is leaving: the job goes back unchanged
        impl_->store_->flush();
        return std::move(**taken);
      }
      if (asked->asked) {
        return std::move(*asked->asked);
      }
    }
    auto job = impl_->store_->get(id);
    if (!job) return job.error();
    if (!*job) return Error{errc::not_found, "no job with id " + std::to_string(id)};
    // Not ended: admitted after the strand's look. Once more; a row that still is not the
    // strand's after that (a command this engine does not know) is not cancellable here.
    if (!is_terminal((*job)->status) && look == 0) continue;
    return Error{errc::not_cancellable,
                 "job " + std::to_string(id) + " (" + (*job)->name + ") " +
                     (is_terminal((*job)->status) ? "has already ended: " : "is not held here: ") +
                     std::string(to_string((*job)->status))};
  }
}

std::optional<JobInfo> Engine::get(JobId id) {
  auto live = impl_->on_strand([&]() -> std::optional<JobInfo> {
    auto it = impl_->active_.find(id);
    if (it == impl_->active_.end()) return std::nullopt;
    return impl_->snapshot(it->second);
  });
  if (live && *live) return std::move(*live);
  auto stored = impl_->store_->get(id);
  if (!stored) return std::nullopt;
  return std::move(*stored);
}

Result<JobPage> Engine::list(const JobQuery& query) {
  if (query.limit < 1 || query.limit > 1000) {
    return Error{errc::invalid_argument,
                 "limit must be between 1 and 1000, not " + std::to_string(query.limit)};
  }
  JobQuery q = query;
  for (auto& n : q.names) {
    if (const CommandType* t = impl_->registry_.find(n)) n = t->name;
  }
  auto page = impl_->store_->list(q);
  if (!page) return page.error();
  // Progress of running jobs is persisted at most every progress_interval; show the live value.
  const bool any_running = std::any_of(page->jobs.begin(), page->jobs.end(),
                                       [](const JobInfo& j) { return j.status == JobStatus::executing; });
  if (any_running) {
    impl_->on_strand([&] {
      for (auto& j : page->jobs) {
        if (j.status != JobStatus::executing) continue;
        auto it = impl_->active_.find(j.id);
        if (it != impl_->active_.end() && it->second.run) j.progress = it->second.run->progress();
      }
    });
  }
  return page;
}

QueueDepth Engine::queue_depth() {
  return impl_
      ->on_strand([&] {
        QueueDepth d;
        for (int p = 0; p < kPriorityCount; ++p) {
          d.queued[p] = impl_->ready_.queued(static_cast<Priority>(p));
          d.delayed[p] = impl_->delayed_[p];
          d.running[p] = impl_->ready_.running(static_cast<Priority>(p));
        }
        return d;
      })
      .value_or(QueueDepth{});
}

std::uint64_t Engine::subscribe(HostObserver observer, SubscribeOptions options) {
  return impl_->hub_.add(std::move(observer), options);
}

void Engine::unsubscribe(std::uint64_t id) { impl_->hub_.remove(id); }

void Engine::publish(ServiceEvent event) {
  if (event.at == TimePoint{}) event.at = impl_->clock_->now();
  impl_->hub_.publish(event);
}

Status Engine::add_task(TaskSpec spec) {
  if (spec.name.empty()) return Error{errc::invalid_argument, "a task needs a name"};
  if (spec.command.empty()) spec.command = spec.name;
  if (spec.range.max.count() > 0) {
    auto valid = validate_interval(spec.name, spec.schedule.interval, spec.range);
    if (!valid) return valid.error();
  } else if (spec.schedule.interval.count() < 0) {
    return Error{errc::invalid_argument, spec.name + ": interval must not be negative"};
  }
  // Validate the command, body and schedule now, so a bad task is refused at registration.
  auto prepared = detail::prepare(impl_->registry_, spec.command, spec.body, {});
  if (!prepared) return prepared.error();
  spec.command = prepared->type->name;
  spec.body = prepared->body;
  const TimePoint now = impl_->clock_->now();
  if (spec.schedule.interval.count() > 0) {
    auto due = first_due(spec.schedule, now, detail::TaskScheduler::seed_of(spec.name));
    if (!due) return Error{errc::invalid_argument, spec.name + ": " + due.error().message};
  }
  auto r = impl_->on_strand([&]() -> Status { return impl_->tasks_.add(std::move(spec), now); });
  if (!r) return kStopped;
  return *r;
}

Status Engine::set_task_interval(std::string_view name, std::chrono::seconds interval) {
  auto r = impl_->on_strand(
      [&]() -> Status { return impl_->tasks_.set_interval(name, interval, impl_->clock_->now()); });
  if (!r) return kStopped;
  return *r;
}

Result<PushResult> Engine::run_task_now(std::string_view name) {
  auto r = impl_->on_strand(
      [&]() -> Result<PushResult> { return impl_->tasks_.run_now(name, impl_->clock_->now()); });
  if (!r) return kStopped;
  if (*r) impl_->store_->flush();
  return std::move(*r);
}

Result<StoreMaintenanceReport> Engine::maintain_store(const StoreMaintenanceOptions& options) {
  return impl_->store_->maintain(options);
}

Result<std::vector<std::string>> Engine::clamp_future_task_times() {
  auto r = impl_->on_strand([&] { return impl_->tasks_.clamp_future(impl_->clock_->now()); });
  if (!r) return kStopped;
  return std::move(*r);
}

std::vector<TaskInfo> Engine::tasks() {
  return impl_->on_strand([&] { return impl_->tasks_.list(); }).value_or(std::vector<TaskInfo>{});
}

Status Engine::push_debounced(PushRequest request, std::chrono::milliseconds window,
                              std::chrono::milliseconds max_wait) {
  auto prepared = detail::prepare(impl_->registry_, request.name, request.body, std::move(request.options));
  if (!prepared) return prepared.error();
  return impl_->push_debounced(std::move(*prepared), window, max_wait);
}

Result<LockHold> Engine::hold_locks(std::vector<std::string> names, std::chrono::milliseconds timeout) {
  if (names.empty()) return Error{errc::invalid_argument, "hold_locks: no lock is named"};
  for (const auto& n : names) {
    if (n.empty()) return Error{errc::invalid_argument, "hold_locks: a lock name is empty"};
  }
  if (timeout.count() < 0) return Error{errc::invalid_argument, "hold_locks: the timeout is negative"};
  if (impl_->strand_.running_in_this_thread()) {
    return Error{errc::invalid_argument, "hold_locks: called on the dispatcher strand, which grants it"};
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::string listed;
  for (const auto& n : names) listed += (listed.empty() ? "'" : ", '") + n + "'";
  auto wait = std::make_shared<detail::HoldWait>();
  const auto id = impl_->on_strand([&] { return impl_->request_hold(names, wait); });
  if (!id || *id == 0) return Error{errc::shutting_down, "the engine is stopping"};
  switch (wait->wait_for(timeout)) {
    case detail::HoldWait::State::granted: break;
    case detail::HoldWait::State::refused: return Error{errc::shutting_down, "the engine is stopping"};
    default:
      impl_->post_hold_end(*id, /*withdraw=*/true);
      return Error{errc::unavailable, "the lock(s) " + listed +
                                          " are still held (by running jobs or another hold) after " +
                                          std::to_string(timeout.count()) + " ms"};
  }
  // The release finds the engine through a weak pointer: a hold may outlive it (it then frees
  // nothing, as nothing runs).
  return LockHold([weak = std::weak_ptr<Impl>(impl_), id = *id] {
    if (auto im = weak.lock()) im->post_hold_end(id, /*withdraw=*/false);
  });
}

HealthSnapshot Engine::health(bool series) {
  auto snap = impl_->on_strand([&] { return impl_->health_snapshot(series); });
  HealthSnapshot h = snap ? std::move(*snap) : HealthSnapshot{};
  h.workers = impl_->opts_.workers;
  h.store = impl_->store_->stats();
  h.events_dropped = impl_->hub_.dropped();
  if (impl_->shared_) {
    // Off the strand: a round trip to the database.
    auto cluster = impl_->shared_->cluster_health();
    if (cluster) {
      h.cluster = std::move(*cluster);
    } else {
      impl_->log_->warn("health: the cluster's figures are not available: {}", cluster.error().message);
    }
  }
  return h;
}

Result<std::int64_t> Engine::prune() {
  const auto& r = impl_->opts_.retention;
  std::optional<TimePoint> cutoff;
  if (r.max_age.count() > 0) cutoff = impl_->clock_->now() - r.max_age;
  return impl_->store_->prune(cutoff, r.max_rows);
}

bool Engine::wait_idle(std::chrono::milliseconds timeout) {
  auto& im = *impl_;
  const auto until = std::chrono::steady_clock::now() + timeout;
  detail::MutexLock lock(im.idle_mu_);
  while (im.active_count_ != 0) {
    if (!lock.wait_until(im.idle_cv_, until)) return im.active_count_ == 0;
  }
  return true;
}

bool Engine::stop(std::chrono::milliseconds deadline) {
  auto& im = *impl_;
  detail::MutexLock stop_lock(im.stop_mu_);
  if (im.stopped_) return im.stop_result_;
  const auto until = std::chrono::steady_clock::now() + deadline;
  im.clock_->remove_listener(im.clock_listener_);
  if (im.feed_) im.feed_->halt();  // claims no more
  im.on_strand([&] {
    im.accepting_ = false;
    {
      detail::MutexLock lock(im.inbox_mu_);
      im.admit_open_ = false;
    }
    im.holds_.refuse_pending(im.ready_);
    im.wake_timer_.cancel();  // the control thread may end once nothing is posted
    im.spread_timer_.cancel();
    im.timers_.clear();
    im.debouncer_.clear();
    for (auto& [id, a] : im.active_)
      if (a.run) a.run->stop.request_stop();
  });
  bool finished = true;
  std::size_t still_running = 0;
  {
    detail::MutexLock lock(im.idle_mu_);
    while (im.running_count_ != 0) {
      if (!lock.wait_until(im.idle_cv_, until)) break;
    }
    finished = im.running_count_ == 0;
    still_running = im.running_count_;
  }
  im.stopped_ = true;
  im.stop_result_ = finished;
  im.close_gate();
  // The wake-up and lanes' timers were cancelled and the nudge's is: the control thread ends once
  // all three are delivered.
  im.nudge_.stop();
  im.ctl_guard_.reset();
  if (im.ctl_thread_.joinable()) im.ctl_thread_.join();
  if (!finished) {
    im.log_->warn(
        "stop: {} job(s) still running after the deadline; they stay executing in the "
        "store and are rescued at the next start",
        still_running);
  }
  // A handler abandoned after its timeout may still hold a thread: joining it could wait
  // forever, so such threads are detached and Impl is kept alive for them. Otherwise the pool
  // runs out of work by itself: the strand finishes what is posted (completions of jobs that
  // just ended) before its threads return.
  const bool stuck = !finished || im.abandoned_running_.load() > 0;
  im.work_guard_.reset();
  if (stuck) {
    im.leaked_ = true;
    im.work_io_.stop();
  }
  for (std::size_t i = 0; i < im.workers_.size(); ++i) {
    auto& t = im.workers_[i];
    if (!t.joinable()) continue;
    if (!stuck || im.exited_[i]) {
      t.join();
    } else {
      t.detach();
    }
  }
  if (im.feed_) {
    // Its last writes (interrupted jobs queued again) first, then the claims it never started.
    im.store_->flush();
    im.feed_->stop();
  }
  im.store_->close();
  // Events of the last state changes reach their subscribers before stop returns.
  im.hub_.close();
  return finished;
}

}  // namespace shelfjobs

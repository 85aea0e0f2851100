// SPDX-License-Identifier: MIT
// The engine's public functions, JobContext, and create() with recovery. The machinery is in
// engine_impl.hpp.

#include "engine_impl.hpp"

namespace shelfjobs {

std::string_view to_string(JobEvent::Type t) noexcept {
  switch (t) {
    case JobEvent::Type::queued: return "queued";
    case JobEvent::Type::started: return "started";
    case JobEvent::Type::progress: return "progress";
    case JobEvent::Type::completed: return "completed";
    case JobEvent::Type::failed: return "failed";
    case JobEvent::Type::cancelled: return "cancelled";
    case JobEvent::Type::retrying: return "retrying";
  }
  return "unknown";
}


// ------------------------------------------------------------------ JobContext

JobId JobContext::id() const noexcept { return run_.id; }
int JobContext::attempt() const noexcept { return run_.attempt; }
const std::string& JobContext::name() const noexcept { return run_.name; }
Trigger JobContext::trigger() const noexcept { return run_.trigger; }
std::stop_token JobContext::token() const noexcept { return run_.stop.get_token(); }
void JobContext::throw_if_cancelled() const {
  if (cancelled()) throw JobError(ErrorKind::cancelled, "cancelled");
}
void JobContext::report(std::int64_t current, std::int64_t total, std::string message) {
  run_.engine->report(run_, current, total, std::move(message));
}
void JobContext::status(std::string text) {
  run_.engine->report(run_, std::nullopt, std::nullopt, std::move(text));
}
void JobContext::complete(std::string message) {
  std::lock_guard lock(run_.mu);
  run_.completion = std::move(message);
}
spdlog::logger& JobContext::log() const noexcept { return *run_.engine->log_; }

// ------------------------------------------------------------------ Engine

Result<std::unique_ptr<Engine>> Engine::create(EngineOptions options, Registry registry) {
  if (options.workers < 1 || options.workers > 256) {
    return Error{errc::invalid_argument,
                 "workers must be between 1 and 256, not " + std::to_string(options.workers)};
  }
  if (options.store_path.empty()) return Error{errc::invalid_argument, "store_path is empty"};
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

  auto opened = detail::Store::open(options.store_path, options.sync_full, options.logger,
                                    options.store_busy_timeout);
  if (!opened) return opened.error();
  auto store = std::move(opened).value();

  // Recovery: decide, in one transaction, what becomes of the jobs an earlier process left.
  std::vector<JobInfo> keep;
  try {
    std::vector<JobInfo> changed;
    const TimePoint now = options.clock->now();
    for (auto& job : store->load_active()) {
      const CommandType* type = registry.find(job.name);
      auto fail = [&](std::string why) {
        job.status = JobStatus::failed;
        job.ended_at = now;
        job.duration = job.started_at ? std::chrono::duration_cast<std::chrono::milliseconds>(
                                            now - *job.started_at)
                                      : std::chrono::milliseconds(0);
        job.error_kind = ErrorKind::permanent;
        job.error = why;
        job.message = std::move(why);
        changed.push_back(job);
      };
      if (!type) {
        options.logger->warn("job {}: command '{}' is not registered; marking it failed", job.id,
                             job.name);
        fail("command '" + job.name + "' is not registered");
        continue;
      }
      if (job.status == JobStatus::executing) {
        if (!type->traits.rescue_on_restart) {
          options.logger->warn("job {} {} was interrupted by a restart; marking it failed",
                               job.id, job.name);
          fail("interrupted");
          continue;
        }
        job.status = JobStatus::queued;
        job.started_at.reset();
        ++job.attempt;
        options.logger->info("job {} {} was running when the last process ended; requeued as "
                             "attempt {}",
                             job.id, job.name, job.attempt);
        changed.push_back(job);
      }
      job.name = type->name;
      keep.push_back(std::move(job));
    }
    store->write_now(changed);
  } catch (const std::exception& e) {
    return Error{errc::store_error, std::string("cannot recover jobs: ") + e.what()};
  }
  JobId max_id = 0;
  std::vector<detail::TaskRow> task_rows;
  std::vector<detail::TypeHistory> history;
  std::vector<detail::RunSample> samples;
  try {
    max_id = store->max_id();
    task_rows = store->load_tasks();
    history = store->load_history();
    samples = store->load_samples(options.clock->now() - options.health_window);
  } catch (const std::exception& e) {
    return Error{errc::store_error, std::string("cannot read the job store: ") + e.what()};
  }
  auto impl = std::make_shared<Impl>(std::move(options), std::move(registry), std::move(store),
                                     std::move(keep), max_id, std::move(task_rows),
                                     std::move(history), std::move(samples));
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
    static std::vector<std::shared_ptr<Impl>>* graveyard = new std::vector<std::shared_ptr<Impl>>;
    std::lock_guard lock(mu);
    graveyard->push_back(std::move(impl_));
  }
}

const Registry& Engine::registry() const noexcept { return impl_->registry_; }

void Engine::start() {
  impl_->on_strand([this] {
    impl_->started_ = true;
    impl_->dispatch();
  });
}

namespace {
const Error kStopped{errc::shutting_down, "the engine is stopped"};
}

Result<PushResult> Engine::push(std::string_view name, const nlohmann::json& body,
                                PushOptions options) {
  const bool durable = options.durable;
  auto prepared = impl_->prepare(name, body, std::move(options));
  if (!prepared) return prepared.error();
  auto result = impl_->on_strand([&] { return impl_->push_on_strand(*prepared); });
  if (!result) return kStopped;
  if (*result && durable) impl_->store_->barrier();
  return std::move(*result);
}

Result<std::vector<PushResult>> Engine::push_many(std::vector<PushRequest> requests) {
  std::vector<Impl::Prepared> prepared;
  prepared.reserve(requests.size());
  bool durable = true;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    durable = durable && requests[i].options.durable;
    auto p = impl_->prepare(requests[i].name, requests[i].body, std::move(requests[i].options));
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
  if (*result && durable) impl_->store_->barrier();
  return std::move(*result);
}

Result<JobInfo> Engine::cancel(JobId id) {
  auto r = impl_->on_strand([&]() -> std::optional<JobInfo> {
    auto it = impl_->active_.find(id);
    if (it == impl_->active_.end()) return std::nullopt;
    auto& a = it->second;
    if (a.info.status == JobStatus::executing) {
      a.run->cancelled_by_user = true;
      a.run->stop.request_stop();
      return impl_->snapshot(a);
    }
    impl_->unplace(a);
    a.info.status = JobStatus::cancelled;
    a.info.ended_at = impl_->clock_->now();
    a.info.message = "Cancelled";
    return impl_->conclude(it);
  });
  if (!r) return kStopped;
  if (*r) {
    impl_->store_->barrier();
    return std::move(**r);
  }
  auto job = impl_->read_job(id);
  if (!job) return Error{errc::not_found, "no job with id " + std::to_string(id)};
  return Error{errc::not_cancellable, "job " + std::to_string(id) + " (" + job->name +
                                          ") has already ended: " +
                                          std::string(to_string(job->status))};
}

std::optional<JobInfo> Engine::get(JobId id) {
  auto live = impl_->on_strand([&]() -> std::optional<JobInfo> {
    auto it = impl_->active_.find(id);
    if (it == impl_->active_.end()) return std::nullopt;
    return impl_->snapshot(it->second);
  });
  if (live && *live) return std::move(*live);
  return impl_->read_job(id);
}

Result<JobPage> Engine::list(const JobQuery& query) {
  if (query.limit < 1 || query.limit > 1000) {
    return Error{errc::invalid_argument,
                 "limit must be between 1 and 1000, not " + std::to_string(query.limit)};
  }
  std::string sql = std::string("SELECT ") + detail::Store::kJobColumns + " FROM jobs WHERE 1";
  if (!query.statuses.empty()) {
    sql += " AND status IN (";
    for (std::size_t i = 0; i < query.statuses.size(); ++i)
      sql += (i ? "," : "") + std::to_string(static_cast<int>(query.statuses[i]));
    sql += ")";
  }
  std::vector<std::string> names;
  for (const auto& n : query.names) {
    const CommandType* t = impl_->registry_.find(n);
    names.push_back(t ? t->name : n);
  }
  if (!names.empty()) {
    sql += " AND name IN (";
    for (std::size_t i = 0; i < names.size(); ++i) sql += i ? ",?" : "?";
    sql += ")";
  }
  if (query.before_id > 0) sql += " AND id < ?";
  sql += " ORDER BY id DESC LIMIT " + std::to_string(query.limit + 1);

  JobPage page;
  const bool ok = impl_->store_->read([&](SQLite::Database& db) {
    SQLite::Statement st(db, sql);
    int n = 1;
    for (const auto& name : names) st.bind(n++, name);
    if (query.before_id > 0) st.bind(n++, static_cast<std::int64_t>(query.before_id));
    while (st.executeStep()) page.jobs.push_back(detail::Store::row_to_job(st));
  });
  if (!ok) return Error{errc::store_error, "cannot list jobs (store closed or failing)"};
  if (page.jobs.size() > static_cast<std::size_t>(query.limit)) {
    page.jobs.pop_back();
    page.next_before_id = page.jobs.back().id;
  }
  // Progress of running jobs is persisted at most every progress_interval; show the live value.
  const bool any_running = std::any_of(page.jobs.begin(), page.jobs.end(), [](const JobInfo& j) {
    return j.status == JobStatus::executing;
  });
  if (any_running) {
    impl_->on_strand([&] {
      for (auto& j : page.jobs) {
        if (j.status != JobStatus::executing) continue;
        auto it = impl_->active_.find(j.id);
        if (it != impl_->active_.end()) j.progress = impl_->snapshot(it->second).progress;
      }
    });
  }
  return page;
}

QueueDepth Engine::queue_depth() {
  return impl_->on_strand([&] { return impl_->depth_; }).value_or(QueueDepth{});
}

std::uint64_t Engine::subscribe(Observer observer) {
  return impl_
      ->on_strand([&] {
        const auto id = impl_->next_observer_++;
        impl_->observers_.emplace_back(id, std::make_shared<const Observer>(std::move(observer)));
        return id;
      })
      .value_or(0);
}

void Engine::unsubscribe(std::uint64_t id) {
  impl_->on_strand([&] {
    auto& obs = impl_->observers_;
    obs.erase(std::remove_if(obs.begin(), obs.end(), [id](const auto& o) { return o.first == id; }),
              obs.end());
  });
}

nlohmann::json to_json(const TaskInfo& t) {
  auto time = [](const std::optional<TimePoint>& v) {
    return v ? nlohmann::json(format_time(*v)) : nlohmann::json(nullptr);
  };
  return {
      {"name", t.name},
      {"command", t.command},
      {"intervalSeconds", t.interval.count()},
      {"timeOfDay", t.time_of_day ? nlohmann::json(t.time_of_day->count()) : nlohmann::json(nullptr)},
      {"lastStart", time(t.last_start)},
      {"lastFinish", time(t.last_finish)},
      {"lastStatus", t.last_status ? nlohmann::json(to_string(*t.last_status)) : nlohmann::json(nullptr)},
      {"lastMessage", t.last_message},
      {"lastDurationMs", t.last_duration ? nlohmann::json(t.last_duration->count()) : nlohmann::json(nullptr)},
      {"nextDue", time(t.next_due)},
      {"running", t.running},
      {"lastJob", t.last_job ? nlohmann::json(*t.last_job) : nlohmann::json(nullptr)},
  };
}

namespace {
bool range_set(const IntervalRange& r) { return r.max.count() > 0; }
}  // namespace

Status Engine::add_task(TaskSpec spec) {
  if (spec.name.empty()) return Error{errc::invalid_argument, "a task needs a name"};
  if (spec.command.empty()) spec.command = spec.name;
  if (range_set(spec.range)) {
    auto valid = validate_interval(spec.name, spec.schedule.interval, spec.range);
    if (!valid) return valid.error();
  } else if (spec.schedule.interval.count() < 0) {
    return Error{errc::invalid_argument, spec.name + ": interval must not be negative"};
  }
  // Validate the command, body and schedule now, so a bad task is refused at registration.
  auto prepared = impl_->prepare(spec.command, spec.body, {});
  if (!prepared) return prepared.error();
  spec.command = prepared->type->name;
  spec.body = prepared->body;
  const TimePoint now = impl_->clock_->now();
  if (spec.schedule.interval.count() > 0) {
    auto due = first_due(spec.schedule, now, Impl::seed_of(spec.name));
    if (!due) return Error{errc::invalid_argument, spec.name + ": " + due.error().message};
  }
  auto r = impl_->on_strand([&]() -> Status {
    auto& im = *impl_;
    Impl::Task t;
    t.seed = Impl::seed_of(spec.name);
    if (auto stored = im.stored_tasks_.find(spec.name); stored != im.stored_tasks_.end()) {
      t.row = stored->second;
    } else if (auto existing = im.tasks_.find(spec.name); existing != im.tasks_.end()) {
      t.row = existing->second.row;
      t.running = existing->second.running;
    }
    const bool changed = !Impl::same_schedule(spec.schedule, t.row) || !t.row.next_due;
    t.row.name = spec.name;
    t.row.command = spec.command;
    t.row.body = spec.body.dump();
    Impl::schedule_to_row(spec.schedule, t.row);
    t.spec = std::move(spec);
    if (changed) {
      auto ok = im.reschedule(t, now);
      if (!ok) return ok;
    }
    im.stored_tasks_.erase(t.spec.name);
    auto& slot = im.tasks_[t.spec.name];
    const std::uint64_t gen = slot.gen;
    slot = std::move(t);
    slot.gen = gen;
    im.save(slot);
    im.arm_task(slot);
    return Ok{};
  });
  if (!r) return Error{errc::shutting_down, "the engine is stopped"};
  return *r;
}

Status Engine::set_task_interval(std::string_view name, std::chrono::seconds interval) {
  auto r = impl_->on_strand([&]() -> Status {
    auto& im = *impl_;
    auto it = im.tasks_.find(std::string(name));
    if (it == im.tasks_.end()) return Error{errc::not_found, "no task named " + std::string(name)};
    Impl::Task& t = it->second;
    if (range_set(t.spec.range)) {
      auto valid = validate_interval(t.spec.name, interval, t.spec.range);
      if (!valid) return valid;
    } else if (interval.count() < 0) {
      return Error{errc::invalid_argument, t.spec.name + ": interval must not be negative"};
    }
    Schedule s = t.spec.schedule;
    s.interval = interval;
    Impl::Task probe = t;
    probe.spec.schedule = s;
    auto ok = im.reschedule(probe, im.clock_->now());
    if (!ok) return ok;
    t.spec.schedule = s;
    Impl::schedule_to_row(s, t.row);
    t.row.next_due = probe.row.next_due;
    im.save(t);
    im.arm_task(t);
    return Ok{};
  });
  if (!r) return Error{errc::shutting_down, "the engine is stopped"};
  return *r;
}

Result<PushResult> Engine::run_task_now(std::string_view name) {
  auto r = impl_->on_strand([&]() -> Result<PushResult> {
    auto& im = *impl_;
    auto it = im.tasks_.find(std::string(name));
    if (it == im.tasks_.end()) return Error{errc::not_found, "no task named " + std::string(name)};
    Impl::Task& t = it->second;
    auto pushed = im.push_task(t, Trigger::manual);
    if (!pushed) return pushed;
    // A manual run counts as the task's run: the schedule starts again from now.
    if (t.spec.schedule.interval.count() > 0) {
      const TimePoint now = im.clock_->now();
      auto next = next_due(t.spec.schedule, now, now, t.seed);
      if (next) t.row.next_due = *next;
    }
    im.save(t);
    im.arm_task(t);
    return pushed;
  });
  if (!r) return kStopped;
  if (*r) impl_->store_->barrier();
  return std::move(*r);
}

std::vector<TaskInfo> Engine::tasks() {
  return impl_
      ->on_strand([&] {
        std::vector<TaskInfo> out;
        for (const auto& [name, t] : impl_->tasks_) out.push_back(impl_->task_info(t));
        return out;
      })
      .value_or(std::vector<TaskInfo>{});
}

Status Engine::push_debounced(PushRequest request, std::chrono::milliseconds window) {
  auto prepared = impl_->prepare(request.name, request.body, std::move(request.options));
  if (!prepared) return prepared.error();
  auto r = impl_->on_strand([&]() -> Status {
    auto& im = *impl_;
    if (!im.accepting_) return Error{errc::shutting_down, "the engine is stopping"};
    const TimePoint deadline = im.clock_->now() + window;
    const std::string key = prepared->key;
    auto& slot = im.debounced_[key];
    slot.prepared = std::move(*prepared);
    slot.deadline = deadline;
    im.add_timer(deadline, [&im, key] { im.on_debounce(key); });
    return Ok{};
  });
  if (!r) return Error{errc::shutting_down, "the engine is stopped"};
  return *r;
}

HealthSnapshot Engine::health() {
  auto snap = impl_->on_strand([&] { return impl_->health_snapshot(); });
  HealthSnapshot h = snap ? std::move(*snap) : HealthSnapshot{};
  h.workers = impl_->opts_.workers;
  auto& st = *impl_->store_;
  h.store.commits = st.commits();
  h.store.write_errors = st.write_errors();
  h.store.last_commit_latency = st.last_commit_latency();
  h.store.max_commit_latency = st.max_commit_latency();
  std::error_code ec;
  if (st.path() != ":memory:") {
    h.store.file_bytes = std::filesystem::file_size(st.path(), ec);
    if (ec) h.store.file_bytes = 0;
    h.store.wal_bytes = std::filesystem::file_size(st.path() + "-wal", ec);
    if (ec) h.store.wal_bytes = 0;
  }
  return h;
}

Result<std::int64_t> Engine::prune() {
  const auto& r = impl_->opts_.retention;
  std::optional<TimePoint> cutoff;
  if (r.max_age.count() > 0) cutoff = impl_->clock_->now() - r.max_age;
  auto removed = impl_->store_->prune(cutoff, r.max_rows);
  if (!removed) return Error{errc::store_error, "pruning the job store failed (see the log)"};
  return *removed;
}

bool Engine::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->idle_mu_);
  return impl_->idle_cv_.wait_for(lock, timeout, [this] { return impl_->active_count_ == 0; });
}

bool Engine::stop(std::chrono::milliseconds deadline) {
  auto& im = *impl_;
  std::unique_lock stop_lock(im.stop_mu_);
  if (im.stopped_) return im.stop_result_;
  const auto until = std::chrono::steady_clock::now() + deadline;
  im.clock_->remove_listener(im.clock_listener_);
  im.on_strand([&] {
    im.accepting_ = false;
    im.wake_timer_.cancel();  // the control thread may end once nothing is posted
    im.timers_.clear();
    for (auto& [id, a] : im.active_)
      if (a.run) a.run->stop.request_stop();
  });
  bool finished = false;
  {
    std::unique_lock lock(im.idle_mu_);
    finished = im.idle_cv_.wait_until(lock, until, [&] { return im.running_count_ == 0; });
  }
  im.stopped_ = true;
  im.stop_result_ = finished;
  im.close_gate();
  // Let the strand finish what is posted (completions of jobs that just ended), then stop it.
  im.ctl_guard_.reset();
  if (!finished) {
    im.log_->warn("stop: {} job(s) still running after the deadline; they stay executing in the "
                  "store and are rescued at the next start",
                  im.running_count_);
    im.leaked_ = true;
    im.ctl_io_.stop();
  }
  if (im.ctl_thread_.joinable()) im.ctl_thread_.join();
  im.work_guard_.reset();
  im.work_io_.stop();
  // A handler abandoned after its timeout may still hold a thread: joining it could wait
  // forever, so such threads are detached and Impl is kept alive for them.
  const bool stuck = !finished || im.abandoned_running_.load() > 0;
  if (stuck) im.leaked_ = true;
  for (std::size_t i = 0; i < im.workers_.size(); ++i) {
    auto& t = im.workers_[i];
    if (!t.joinable()) continue;
    if (!stuck || im.exited_[i]) {
      t.join();
    } else {
      t.detach();
    }
  }
  im.store_->close();
  return finished;
}

}  // namespace shelfjobs

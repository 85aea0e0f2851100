// SPDX-License-Identifier: MIT
// The engine: dispatcher strand, worker pool, recovery.
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
// Picking: queued jobs sit in per-priority, per-command-type buckets ordered by id (FIFO). Every
// rule (exclusive, type-exclusive, locks, idle-only) is a property of the type, so when a
// bucket's head may not start, nothing in that bucket may. A pick walks bucket heads from the
// highest priority down, in id order: its cost grows with the number of command types that
// have queued jobs, never with the number of queued jobs.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

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

  std::mutex mu;
  Progress progress;                      // guarded by mu
  std::optional<std::string> completion;  // guarded by mu
  std::chrono::steady_clock::time_point last_emit{};  // guarded by mu
};

}  // namespace detail

std::string_view to_string(JobEvent::Type t) noexcept {
  switch (t) {
    case JobEvent::Type::queued: return "queued";
    case JobEvent::Type::started: return "started";
    case JobEvent::Type::progress: return "progress";
    case JobEvent::Type::completed: return "completed";
    case JobEvent::Type::failed: return "failed";
    case JobEvent::Type::cancelled: return "cancelled";
  }
  return "unknown";
}

class Engine::Impl {
 public:
  Impl(EngineOptions options, Registry registry, std::unique_ptr<detail::Store> store,
       std::vector<JobInfo> recovered, JobId max_id)
      : opts_(std::move(options)),
        registry_(std::move(registry)),
        log_(opts_.logger),
        clock_(opts_.clock),
        store_(std::move(store)),
        strand_(asio::make_strand(ctl_io_)),
        ctl_guard_(asio::make_work_guard(ctl_io_)),
        work_guard_(asio::make_work_guard(work_io_)),
        next_id_(max_id + 1) {
    for (auto& job : recovered) {
      const CommandType* type = registry_.find(job.name);
      Active a{std::move(job), type, {}, nullptr};
      a.key = dedup_key(*type, a.info.body);
      const JobId id = a.info.id;
      by_key_.try_emplace(a.key, id);
      auto& slot = active_.emplace(id, std::move(a)).first->second;
      enqueue_ready(slot);
    }
    active_count_ = active_.size();
    store_->start_writer();
    ctl_thread_ = std::thread([this] { ctl_io_.run(); });
    const int threads = opts_.workers + 1;
    exited_ = std::make_unique<std::atomic<bool>[]>(static_cast<std::size_t>(threads));
    for (int i = 0; i < threads; ++i) {
      exited_[static_cast<std::size_t>(i)] = false;
      workers_.emplace_back([this, i] {
        work_io_.run();
        exited_[static_cast<std::size_t>(i)] = true;
      });
    }
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
  };

  static std::size_t idx(Priority p) { return static_cast<std::size_t>(p); }

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

  // May a non-exclusive job of `type` start now?
  bool allowed(const CommandType* type) {
    const auto& t = type->traits;
    if (t.type_exclusive) {
      auto it = running_by_type_.find(type);
      if (it != running_by_type_.end() && it->second > 0) return false;
    }
    for (const auto& lock : t.locks) {
      auto it = locks_held_.find(lock);
      if (it != locks_held_.end() && it->second > 0) return false;
    }
    if (t.idle_only && (running_total_ > 0 || queued_non_idle_ > 0)) return false;
    return true;
  }

  void dispatch() {
    if (!started_ || !accepting_) return;
    const int regular = opts_.workers;
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
          if (allowed(type)) {
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
    ++running_total_;
    if (a.info.priority == Priority::critical) ++critical_running_;
    ++depth_.running[idx(a.info.priority)];
    if (a.type->traits.exclusive) ++exclusive_running_;
    ++running_by_type_[a.type];
    for (const auto& lock : a.type->traits.locks) ++locks_held_[lock];
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
    emit(JobEvent::Type::started, a.info);
    asio::post(work_io_, [this, run] { execute(run); });
  }

  struct Outcome {
    JobStatus status = JobStatus::completed;
    ErrorKind kind = ErrorKind::none;
    std::string error;
  };

  // Runs on: a worker thread. Nothing thrown by a handler leaves this function.
  void execute(const std::shared_ptr<detail::JobRun>& run) {
    Outcome out;
    try {
      JobContext ctx(*run);
      run->type->execute(run->body, ctx);
      if (run->stop.stop_requested()) out.status = JobStatus::cancelled;
    } catch (const JobError& e) {
      if (e.kind() == ErrorKind::cancelled || run->stop.stop_requested()) {
        out.status = JobStatus::cancelled;
      } else {
        out = {JobStatus::failed, e.kind(), e.what()};
      }
    } catch (const std::exception& e) {
      out = run->stop.stop_requested()
                ? Outcome{JobStatus::cancelled, ErrorKind::none, {}}
                : Outcome{JobStatus::failed, ErrorKind::permanent, e.what()};
    } catch (...) {
      out = run->stop.stop_requested()
                ? Outcome{JobStatus::cancelled, ErrorKind::none, {}}
                : Outcome{JobStatus::failed, ErrorKind::permanent, "unknown exception"};
    }
    if (out.status == JobStatus::failed && out.error.empty()) out.error = "failed";
    asio::post(strand_, [this, run, out = std::move(out)] { on_finished(run, out); });
  }

  // Runs on: the strand.
  void on_finished(const std::shared_ptr<detail::JobRun>& run, const Outcome& out) {
    auto it = active_.find(run->id);
    if (it == active_.end() || it->second.run != run) return;
    Active& a = it->second;
    std::optional<std::string> completion;
    {
      std::lock_guard lock(run->mu);
      a.info.progress = run->progress;
      completion = run->completion;
    }
    a.info.status = out.status;
    a.info.ended_at = clock_->now();
    a.info.duration = std::max(std::chrono::milliseconds(0),
                               std::chrono::duration_cast<std::chrono::milliseconds>(
                                   *a.info.ended_at - *a.info.started_at));
    a.info.error_kind = out.kind;
    a.info.error = out.error;
    if (completion && !completion->empty()) {
      a.info.message = *completion;
    } else if (!a.info.progress.message.empty()) {
      a.info.message = a.info.progress.message;
    } else if (out.status == JobStatus::failed) {
      a.info.message = out.error;
    } else if (out.status == JobStatus::cancelled) {
      a.info.message = "Cancelled";
    }
    --running_total_;
    if (a.info.priority == Priority::critical) --critical_running_;
    --depth_.running[idx(a.info.priority)];
    if (a.type->traits.exclusive) --exclusive_running_;
    --running_by_type_[a.type];
    for (const auto& lock : a.type->traits.locks) --locks_held_[lock];
    if (out.status == JobStatus::cancelled && !accepting_ && !run->cancelled_by_user) {
      // stop() cancelled it, not a user: the work is unfinished, so it resumes at the next
      // start like a job a crash interrupted.
      interrupted_by_stop(it);
      return;
    }
    if (out.status == JobStatus::failed) {
      log_->error("job {} {} attempt {} failed ({}): {}", a.info.id, a.info.name, a.info.attempt,
                  to_string(out.kind), out.error);
    }
    // Forget the job before observers hear of it: one that pushes an equal command must get a
    // new job, and one that cancels this id must find it finished.
    // The finish write is queued before forget() wakes wait_idle(), so a query made after
    // wait_idle() returns sees the terminal state.
    store_->finish(a.info);
    JobInfo info = std::move(a.info);
    forget(it);
    emit(out.status == JobStatus::completed   ? JobEvent::Type::completed
         : out.status == JobStatus::cancelled ? JobEvent::Type::cancelled
                                              : JobEvent::Type::failed,
         info);
    dispatch();
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
      if (a.info.status == JobStatus::queued) {
        const Priority raised = std::max(a.info.priority, wanted);
        const bool to_manual =
            p.options.trigger == Trigger::manual && a.info.trigger != Trigger::manual;
        if (raised != a.info.priority || to_manual) {
          remove_ready(a);
          a.info.priority = raised;
          if (to_manual) {
            a.info.trigger = Trigger::manual;
            a.info.event.clear();
          }
          enqueue_ready(a);
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
    store_->insert(info, std::move(p.body_text));
    const JobId id = info.id;
    by_key_.emplace(p.key, id);
    Active& a = active_.emplace(id, Active{std::move(info), p.type, std::move(p.key), nullptr})
                    .first->second;
    enqueue_ready(a);
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
  std::vector<std::thread> workers_;
  std::unique_ptr<std::atomic<bool>[]> exited_;

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

  auto opened = detail::Store::open(options.store_path, options.sync_full, options.logger);
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
  try {
    max_id = store->max_id();
  } catch (const std::exception& e) {
    return Error{errc::store_error, std::string("cannot read job ids: ") + e.what()};
  }
  auto impl = std::make_shared<Impl>(std::move(options), std::move(registry), std::move(store),
                                     std::move(keep), max_id);
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
    impl_->remove_ready(a);
    a.info.status = JobStatus::cancelled;
    a.info.ended_at = impl_->clock_->now();
    a.info.message = "Cancelled";
    impl_->store_->finish(a.info);
    JobInfo info = std::move(a.info);
    impl_->forget(it);
    impl_->emit(JobEvent::Type::cancelled, info);
    impl_->dispatch();  // an idle-only job may start now
    return info;
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

bool Engine::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->idle_mu_);
  return impl_->idle_cv_.wait_for(lock, timeout, [this] { return impl_->active_count_ == 0; });
}

bool Engine::stop(std::chrono::milliseconds deadline) {
  auto& im = *impl_;
  std::unique_lock stop_lock(im.stop_mu_);
  if (im.stopped_) return im.stop_result_;
  const auto until = std::chrono::steady_clock::now() + deadline;
  im.on_strand([&] {
    im.accepting_ = false;
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
  for (std::size_t i = 0; i < im.workers_.size(); ++i) {
    auto& t = im.workers_[i];
    if (!t.joinable()) continue;
    if (finished || im.exited_[i]) {
      t.join();
    } else {
      t.detach();
    }
  }
  im.store_->close();
  return finished;
}

}  // namespace shelfjobs

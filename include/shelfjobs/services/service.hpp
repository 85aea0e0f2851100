// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The service contract, and the host that builds an engine from services in one step.
///
/// A service is one class. It declares its commands (with their traits), its scheduled tasks
/// (with defaults and allowed ranges), its event rules and its health checks; a host adds it
/// with one line and builds:
///
/// @code
///   shelfjobs::ServiceHost::Builder builder({.engine = {.store_path = "jobs.db"}});
///   builder.add(library);   // std::shared_ptr<LibraryService>
///   builder.add(refresh);   // std::shared_ptr<RefreshService>
///   auto host = builder.build();          // Result<std::unique_ptr<ServiceHost>>
///   (*host)->start();
/// @endcode
///
/// The host owns the engine. Handlers that need the engine's figures or its maintenance
/// (pruning, health) reach them through the `ServiceContext` they were registered with, never
/// through an engine pointer: the context is owned by the host and outlives every handler.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/fwd.h>

#include "shelfjobs/engine/command.hpp"
#include "shelfjobs/engine/engine.hpp"
#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/events.hpp"
#include "shelfjobs/engine/health.hpp"

namespace shelfjobs {

/// One finding of a health check, as Readarr's /api/v1/health lists them.
struct HealthIssue {
  enum class Level { warning, error };
  std::string source;  ///< the check's name ("RootFolderCheck")
  Level level = Level::warning;
  std::string message;  ///< for people: what is wrong and where
};
const char* to_string(HealthIssue::Level level) noexcept;

/// A health check a service contributes. `run` returns the findings (none: healthy); it runs
/// on the thread that asks (a CheckHealth job's worker, or the host's `check_health`), must be
/// safe to call from any thread, and should take well under a second. A `run` that throws is
/// reported as an error finding of its check.
struct HealthCheck {
  std::string name;
  std::function<std::vector<HealthIssue>()> run;
};

class ServiceHost;

/// What a service and its handlers reach of the host. Owned by the host; valid from the
/// service's `register_commands` until the host is destroyed (the host stops the engine, so
/// every handler has returned, before it goes).
///
/// Thread-safety: every member may be called from any thread.
class ServiceContext : public std::enable_shared_from_this<ServiceContext> {
 public:
  /// The host's event bus (services publish their domain events here).
  const std::shared_ptr<EventBus>& events() const noexcept { return events_; }
  /// The host's logger.
  spdlog::logger& log() noexcept { return *log_; }
  /// The engine's rate limiter (EngineOptions::rate_limiter; the host makes one when the
  /// options name none), for adapters that space their requests by the same keys as the
  /// dispatcher's rate-limited commands.
  const std::shared_ptr<RateLimiter>& rate_limiter() const noexcept { return rate_limiter_; }

  /// Adds an event rule: events of type E pushed as the commands `map` returns (trigger
  /// `event`). Call from `Service::add_rules`; the host removes the rule before the engine goes.
  template <DomainEvent E>
  void rule(std::function<std::vector<PushRequest>(const E&)> map, RuleOptions options = {}) {
    Engine& e = engine_or_throw();
    subscriptions_.push_back(add_rule<E>(*events_, e, std::move(map), options));
  }

  /// The engine's health figures and open alerts. Errors: shutting_down before the host is
  /// built or after it is gone.
  Result<HealthSnapshot> engine_health();
  /// Removes finished jobs past their retention (see Engine::prune). Errors: as
  /// `engine_health`, and the store's.
  Result<std::int64_t> prune_finished_jobs();
  /// Maintains the job store's file (see Engine::maintain_store). Errors: as `engine_health`,
  /// and the store's.
  Result<StoreMaintenanceReport> maintain_job_store(const StoreMaintenanceOptions& options);
  /// Clamps task times in the future to now (see Engine::clamp_future_task_times). Errors: as
  /// `engine_health`.
  Result<std::vector<std::string>> clamp_future_task_times();
  /// Holds named locks against the engine's jobs for work done outside a job (see
  /// Engine::hold_locks); may be called from any thread, also outside the handlers. Before the
  /// host is built and once it has stopped, no job runs: the answer is an empty hold. Errors: as
  /// Engine::hold_locks (shutting_down while the engine stops, when the host's `stop` is not
  /// over yet or the engine was stopped directly).
  Result<LockHold> hold_locks(std::vector<std::string> names, std::chrono::milliseconds timeout);
  /// Runs every service's health checks and keeps the findings for `last_health`.
  std::vector<HealthIssue> check_health();
  /// The findings of the latest `check_health` (empty before the first).
  std::vector<HealthIssue> last_health() const;

 private:
  friend class ServiceHost;
  ServiceContext() = default;
  Engine& engine_or_throw();

  std::shared_ptr<EventBus> events_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<RateLimiter> rate_limiter_;
  // Set by the host once built, cleared when it stops: atomic, as a handler that overran the
  // stop deadline may still read it.
  std::atomic<Engine*> engine_{nullptr};
  // Held shared by calls that may come from outside the handlers (hold_locks), exclusively by
  // the host as it unbinds the engine: the engine is not destroyed under such a call.
  std::shared_mutex engine_use_;
  std::vector<HealthCheck> checks_;
  std::vector<std::uint64_t> subscriptions_;
  mutable std::mutex health_mu_;
  std::vector<HealthIssue> last_health_;
};

/// A service: one class on this contract, added to a host with `ServiceHost::Builder::add`.
/// The host calls, in this order and once each: `register_commands`, `tasks`, `add_rules`,
/// `health_checks`.
class Service {
 public:
  virtual ~Service() = default;

  /// A short, stable name for logs and errors ("refresh", "library").
  virtual std::string_view name() const = 0;
  /// Registers the service's commands with their traits. Handlers may keep `host`.
  virtual void register_commands(Registry& registry, ServiceContext& host) = 0;
  /// Its scheduled tasks, with default schedules and allowed ranges. Each names a command some
  /// service registered. A host's settings (`ServiceHostOptions::tasks`) override the defaults.
  virtual std::vector<TaskSpec> tasks() const { return {}; }
  /// Its event rules (`host.rule<E>(...)`), once the engine exists.
  virtual void add_rules(ServiceContext& host) { (void)host; }
  /// Its health checks.
  virtual std::vector<HealthCheck> health_checks() { return {}; }
};

/// A host's setting of one task: its interval (checked against the task's range) and, for a
/// daily task, a pinned local time of day.
struct TaskSetting {
  std::optional<std::chrono::seconds> interval;
  std::optional<std::chrono::minutes> time_of_day;
};

struct ServiceHostOptions {
  /// The engine's options (store, workers, logger, notifier, alerts, ...).
  EngineOptions engine;
  /// The event bus the services publish on; null: the host makes one. Its forwarder is set to
  /// hand every event with a `to_json` to the engine's subscribers (Engine::publish).
  std::shared_ptr<EventBus> events;
  /// Settings per task name. A setting for a task no service brings is ignored (a host may
  /// configure the tasks of services it does not run).
  std::map<std::string, TaskSetting, std::less<>> tasks;
};

/// The engine and the services it runs. Build with `Builder`, then `start`; `stop` or
/// destroy at the end.
///
/// Thread-safety: `engine()`, `context()` and `service<T>()` may be used from any thread once
/// built; `start` and `stop` from one thread.
class ServiceHost {
 public:
  class Builder {
   public:
    explicit Builder(ServiceHostOptions options);
    /// Adds a service (one line per service). A null service is refused by `build`.
    Builder& add(std::shared_ptr<Service> service);
    /// Creates the engine from every service's commands and tasks in one step.
    /// Errors: invalid_argument (a null service, two services of one name, a command
    /// registered twice, a task whose command no service registered, a setting outside its
    /// task's range; each message names the service or the task); the engine's own errors.
    Result<std::unique_ptr<ServiceHost>> build();

   private:
    ServiceHostOptions options_;
    std::vector<std::shared_ptr<Service>> services_;
  };

  ~ServiceHost();
  ServiceHost(const ServiceHost&) = delete;
  ServiceHost& operator=(const ServiceHost&) = delete;

  /// Starts the engine and runs the health checks once.
  void start();
  /// Stops the engine (running jobs get `deadline`); true if all finished in time. The event
  /// rules and the forwarder are removed first, so nothing is pushed while stopping.
  bool stop(std::chrono::milliseconds deadline = std::chrono::seconds(30));

  Engine& engine() noexcept { return *engine_; }
  ServiceContext& context() noexcept { return *context_; }
  EventBus& events() noexcept { return *context_->events(); }

  /// The added service of type T, or null.
  template <class T>
  std::shared_ptr<T> service() const {
    for (const auto& s : services_)
      if (auto t = std::dynamic_pointer_cast<T>(s)) return t;
    return nullptr;
  }

 private:
  ServiceHost() = default;
  void unbind();

  std::vector<std::shared_ptr<Service>> services_;
  // Shared, so a service may keep a weak reference to it (ServiceContext::weak_from_this) for
  // calls made outside its handlers, which may come after the host is gone.
  std::shared_ptr<ServiceContext> context_;
  std::unique_ptr<Engine> engine_;
  bool stopped_ = false;
};

}  // namespace shelfjobs

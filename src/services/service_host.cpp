// SPDX-License-Identifier: MIT
// The service host: builds the engine from services in one step and owns what their handlers
// reach (the ServiceContext).
//
// Why it is shaped this way:
//   - Handlers are registered before the engine exists (the engine is built from the registry),
//     yet some need the engine once it runs (CheckHealth reads its alerts, Housekeeping prunes).
//     They get the ServiceContext, which the host owns and binds to the engine after building;
//     the host stops the engine (every handler has returned) before it unbinds the context, so
//     a handler never sees a dangling engine.
//   - Task settings are applied to the spec before `add_task`, so a configured interval is
//     checked against the task's range in one place (the engine's) and a bad one fails the
//     build with the task's name.
#include "shelfjobs/services/service.hpp"

#include <set>
#include <shared_mutex>
#include <stdexcept>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "engine/text.hpp"

namespace shelfjobs {

const char* to_string(HealthIssue::Level level) noexcept {
  return level == HealthIssue::Level::error ? "error" : "warning";
}

// ---- ServiceContext ---------------------------------------------------------------------------

Engine& ServiceContext::engine_or_throw() {
  Engine* e = engine_.load();
  if (!e) throw std::logic_error("ServiceContext: the host's engine is not built yet");
  return *e;
}

Result<HealthSnapshot> ServiceContext::engine_health() {
  Engine* e = engine_.load();
  if (!e) return Error{errc::shutting_down, "the host's engine is not running"};
  return e->health();
}

Result<LockHold> ServiceContext::hold_locks(std::vector<std::string> names,
                                            std::chrono::milliseconds timeout) {
  // Called from outside the handlers too (an HTTP thread), so the engine must not go while this
  // runs: ServiceHost::stop unbinds it under the exclusive lock.
  std::shared_lock use(engine_use_);
  Engine* e = engine_.load();
  if (!e) return LockHold{};  // no engine, no jobs to hold back
  return e->hold_locks(std::move(names), timeout);
}

Result<std::int64_t> ServiceContext::prune_finished_jobs() {
  Engine* e = engine_.load();
  if (!e) return Error{errc::shutting_down, "the host's engine is not running"};
  return e->prune();
}

Result<StoreMaintenanceReport> ServiceContext::maintain_job_store(const StoreMaintenanceOptions& options) {
  Engine* e = engine_.load();
  if (!e) return Error{errc::shutting_down, "the host's engine is not running"};
  return e->maintain_store(options);
}

Result<std::vector<std::string>> ServiceContext::clamp_future_task_times() {
  Engine* e = engine_.load();
  if (!e) return Error{errc::shutting_down, "the host's engine is not running"};
  return e->clamp_future_task_times();
}

std::vector<HealthIssue> ServiceContext::check_health() {
  std::vector<HealthIssue> found;
  for (const HealthCheck& check : checks_) {
    try {
      auto issues = check.run();
      for (auto& i : issues) {
        if (i.source.empty()) i.source = check.name;
        found.push_back(std::move(i));
      }
    } catch (const std::exception& e) {
      found.push_back({check.name, HealthIssue::Level::error, std::string("the check failed: ") + e.what()});
    }
  }
  {
    std::lock_guard lock(health_mu_);
    last_health_ = found;
  }
  return found;
}

std::vector<HealthIssue> ServiceContext::last_health() const {
  std::lock_guard lock(health_mu_);
  return last_health_;
}

// ---- Builder ----------------------------------------------------------------------------------

ServiceHost::Builder::Builder(ServiceHostOptions options) : options_(std::move(options)) {}

ServiceHost::Builder& ServiceHost::Builder::add(std::shared_ptr<Service> service) {
  services_.push_back(std::move(service));
  return *this;
}

Result<std::unique_ptr<ServiceHost>> ServiceHost::Builder::build() {
  std::unique_ptr<ServiceHost> host(new ServiceHost());
  host->context_ = std::shared_ptr<ServiceContext>(new ServiceContext());
  ServiceContext& ctx = *host->context_;
  ctx.log_ = options_.engine.logger ? options_.engine.logger
                                    : std::make_shared<spdlog::logger>(
                                          "shelfjobs", std::make_shared<spdlog::sinks::null_sink_mt>());
  ctx.events_ = options_.events ? options_.events : std::make_shared<EventBus>(ctx.log_);
  if (!options_.engine.rate_limiter)
    options_.engine.rate_limiter = std::make_shared<RateLimiter>(options_.engine.clock);
  ctx.rate_limiter_ = options_.engine.rate_limiter;

  // Commands: each service registers into one registry. A name registered twice is refused
  // with both services named.
  Registry registry;
  std::set<std::string, std::less<>> names;
  std::map<std::string, std::string> command_owner;  // lower-cased command -> service
  for (const auto& s : services_) {
    if (!s) return Error{errc::invalid_argument, "a null service was added"};
    const std::string name(s->name());
    if (!names.insert(name).second) {
      return Error{errc::invalid_argument, "two services are named '" + name + "'"};
    }
    Registry own;
    try {
      s->register_commands(own, ctx);
    } catch (const std::exception& e) {
      return Error{errc::invalid_argument, "service " + name + ": " + e.what()};
    }
    for (const std::string& command : own.names()) {
      const std::string key = detail::ascii_lower(command);
      if (auto it = command_owner.find(key); it != command_owner.end()) {
        return Error{errc::invalid_argument, "command " + command + " is registered by both service " +
                                                 it->second + " and service " + name};
      }
      command_owner.emplace(key, name);
      registry.add_type(*own.find(command));
    }
  }

  // Tasks: every service's, with the host's settings applied.
  std::vector<TaskSpec> tasks;
  for (const auto& s : services_) {
    for (TaskSpec spec : s->tasks()) {
      const std::string command = spec.command.empty() ? spec.name : spec.command;
      if (!registry.find(command)) {
        return Error{errc::invalid_argument, "service " + std::string(s->name()) + ": task " + spec.name +
                                                 " runs " + command + ", which no service registers"};
      }
      if (auto it = options_.tasks.find(spec.name); it != options_.tasks.end()) {
        if (it->second.interval) {
          auto ok = validate_interval(spec.name, *it->second.interval, spec.range);
          if (!ok) return Error{errc::invalid_argument, "tasks." + spec.name + ": " + ok.error().message};
          spec.schedule.interval = *it->second.interval;
        }
        if (it->second.time_of_day) spec.schedule.time_of_day = it->second.time_of_day;
      }
      tasks.push_back(std::move(spec));
    }
  }

  auto engine = Engine::create(options_.engine, std::move(registry));
  if (!engine) return engine.error();
  host->engine_ = std::move(engine).value();
  ctx.engine_ = host->engine_.get();

  for (TaskSpec& spec : tasks) {
    const std::string name = spec.name;
    auto added = host->engine_->add_task(std::move(spec));
    if (!added) return Error{added.error().code, "tasks." + name + ": " + added.error().message};
  }

  // The services' domain events reach the engine's subscribers (an API's event stream) as JSON.
  ctx.events_->set_forwarder([e = host->engine_.get()](std::string_view name, const nlohmann::json& data) {
    ServiceEvent event;
    event.name = std::string(name);
    event.data = data;
    e->publish(std::move(event));
  });
  for (const auto& s : services_) {
    s->add_rules(ctx);
    for (HealthCheck& check : s->health_checks()) ctx.checks_.push_back(std::move(check));
  }
  host->services_ = std::move(services_);
  return host;
}

// ---- ServiceHost ------------------------------------------------------------------------------

ServiceHost::~ServiceHost() { stop(std::chrono::seconds(30)); }

void ServiceHost::start() {
  engine_->start();
  (void)context_->check_health();
}

void ServiceHost::unbind() {
  for (std::uint64_t id : context_->subscriptions_) context_->events_->unsubscribe(id);
  context_->subscriptions_.clear();
  context_->events_->set_forwarder(nullptr);
}

bool ServiceHost::stop(std::chrono::milliseconds deadline) {
  if (stopped_ || !engine_) return true;
  stopped_ = true;
  unbind();
  const bool finished = engine_->stop(deadline);
  // Every handler has returned: nothing reaches the engine through the context any more. A
  // hold_locks from outside a handler (an HTTP thread) may still be inside the engine: it ends
  // at once (the stopped engine refuses holds) and is waited for here.
  {
    std::unique_lock use(context_->engine_use_);
    context_->engine_ = nullptr;
  }
  return finished;
}

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
#include "builtin.hpp"

#include <filesystem>
#include <thread>

#include "shelfjobs/services/tasks.hpp"

namespace shelfd {

using namespace shelfjobs;

void to_json(nlohmann::json& j, const DemoWork& d) {
  j = {{"label", d.label},
       {"steps", d.steps},
       {"stepMs", d.step_ms},
       {"failAt", d.fail_at},
       {"failKind", d.fail_kind}};
}

void from_json(const nlohmann::json& j, DemoWork& d) {
  d.label = j.value("label", std::string("demo"));
  d.steps = j.value("steps", 10);
  d.step_ms = j.value("stepMs", 100);
  d.fail_at = j.value("failAt", 0);
  d.fail_kind = j.value("failKind", std::string("network"));
  if (d.steps < 1 || d.steps > 100000) throw std::invalid_argument("steps must be 1..100000");
  if (d.step_ms < 0 || d.step_ms > 60000) throw std::invalid_argument("stepMs must be 0..60000");
  if (!error_kind_from_string(d.fail_kind)) throw std::invalid_argument("failKind is not a failure kind");
}

void ShelfdService::register_commands(Registry& registry, ServiceContext& host) {
  registry.add<Housekeeping>(
      [&host](const Housekeeping&, JobContext& ctx) {
        ctx.status("pruning finished jobs");
        auto removed = host.prune_finished_jobs();
        if (!removed) throw JobError(ErrorKind::database, removed.error().message);
        ctx.complete("pruned " + std::to_string(*removed) + " finished jobs");
      },
      {.priority = Priority::low, .type_exclusive = true, .idle_only = true});

  registry.add<CheckHealth>(
      [&host](const CheckHealth&, JobContext& ctx) {
        ctx.status("running the health checks");
        const auto issues = host.check_health();
        auto engine = host.engine_health();
        const std::size_t alerts = engine ? engine->alerts.size() : 0;
        std::string message =
            issues.empty() ? "all health checks pass" : std::to_string(issues.size()) + " health issue(s)";
        for (const auto& i : issues) message += "; " + i.message;
        ctx.complete(message + ", " + std::to_string(alerts) + " alerts open");
      },
      {.priority = Priority::low, .type_exclusive = true});

  if (demo_commands_) {
    RetryPolicy quick;
    quick.network = 1;
    quick.base_delay = std::chrono::seconds(1);
    quick.max_delay = std::chrono::seconds(2);
    registry.add<DemoWork>(
        [](const DemoWork& d, JobContext& ctx) {
          for (int i = 1; i <= d.steps; ++i) {
            if (ctx.cancelled()) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(d.step_ms));
            if (i == d.fail_at && ctx.attempt() == 1) {
              throw JobError(*error_kind_from_string(d.fail_kind),
                             d.label + ": step " + std::to_string(i) + " failed");
            }
            ctx.report(i, d.steps, d.label + ": " + std::to_string(i) + " of " + std::to_string(d.steps));
          }
          ctx.complete(d.label + ": " + std::to_string(d.steps) + " steps done");
        },
        {.retry = quick});
  }
}

std::vector<TaskSpec> ShelfdService::tasks() const {
  return {*standard_task(Housekeeping::kName), *standard_task(CheckHealth::kName)};
}

}  // namespace shelfd

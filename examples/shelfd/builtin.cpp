// SPDX-License-Identifier: MIT
#include "builtin.hpp"

#include <filesystem>
#include <thread>

namespace shelfd {

using namespace shelfjobs;

void to_json(nlohmann::json& j, const DemoWork& d) {
  j = {{"label", d.label}, {"steps", d.steps}, {"stepMs", d.step_ms}, {"failAt", d.fail_at},
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

void register_builtin(Registry& registry, const Config& config,
                      std::shared_ptr<Engine*> engine) {
  registry.add<Housekeeping>(
      [engine](const Housekeeping&, JobContext& ctx) {
        ctx.status("pruning finished jobs");
        auto removed = (*engine)->prune();
        if (!removed) throw JobError(ErrorKind::database, removed.error().message);
        ctx.complete("pruned " + std::to_string(*removed) + " finished jobs");
      },
      {.priority = Priority::low, .type_exclusive = true, .idle_only = true});

  const auto roots = config.library_roots;
  registry.add<CheckHealth>(
      [engine, roots](const CheckHealth&, JobContext& ctx) {
        int ok = 0;
        std::string problems;
        const auto total = static_cast<std::int64_t>(roots.size());
        for (std::size_t i = 0; i < roots.size(); ++i) {
          ctx.throw_if_cancelled();
          const auto& root = roots[i];
          ctx.report(static_cast<std::int64_t>(i) + 1, total,
                     std::to_string(i + 1) + " of " + std::to_string(total) + ": " + root.string());
          std::error_code ec;
          if (!std::filesystem::is_directory(root, ec)) {
            problems += "; " + root.string() + " is missing";
            continue;
          }
          std::filesystem::directory_iterator probe(root, ec);
          if (ec) {
            problems += "; " + root.string() + " is not readable: " + ec.message();
            continue;
          }
          ++ok;
        }
        const auto h = (*engine)->health();
        ctx.complete(std::to_string(ok) + " of " + std::to_string(total) + " library roots ok, " +
                     std::to_string(h.alerts.size()) + " alerts open" + problems);
      },
      {.priority = Priority::low, .type_exclusive = true});

  if (config.demo_commands) {
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

}  // namespace shelfd

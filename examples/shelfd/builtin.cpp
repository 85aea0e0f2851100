// SPDX-License-Identifier: MIT
#include "builtin.hpp"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string_view>
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
  registry.add<ClearLog>(
      [table = log_table_, sink = log_sink_](const ClearLog&, JobContext& ctx) {
        if (!table) throw JobError(ErrorKind::permanent, "shelfd keeps no log table");
        if (sink) sink->wait_written();  // lines logged before the command go too
        auto removed = table->clear();
        if (!removed) throw JobError(ErrorKind::database, removed.error().message);
        ctx.complete("cleared " + std::to_string(*removed) + " log lines");
      },
      {.priority = Priority::low, .type_exclusive = true});

  registry.add<DeleteLogFiles>(
      [folder = log_folder_](const DeleteLogFiles&, JobContext& ctx) {
        std::int64_t removed = 0;
        std::string failed;
        for (const auto& f : rotated_shelfd_logs(folder)) {
          std::error_code ec;
          if (std::filesystem::remove(f, ec)) ++removed;
          if (ec && failed.empty()) failed = f.string() + ": " + ec.message();
        }
        if (!failed.empty()) throw JobError(ErrorKind::filesystem, "cannot remove " + failed);
        ctx.complete("deleted " + std::to_string(removed) + " rotated log files (the current file stays)");
      },
      {.priority = Priority::low, .type_exclusive = true});

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

std::vector<TaskSpec> ShelfdService::tasks() const { return {*standard_task(CheckHealth::kName)}; }

namespace {
// "shelfd.N.log" with N a number: spdlog's rotating sink's name for the Nth older file.
std::optional<int> rotation_of(const std::string& name) {
  constexpr std::string_view prefix = "shelfd.", suffix = ".log";
  if (name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) || !name.ends_with(suffix))
    return std::nullopt;
  const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.empty() || digits.size() > 6 || digits.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoi(digits);
}
}  // namespace

std::vector<std::filesystem::path> rotated_shelfd_logs(const std::filesystem::path& folder) {
  std::vector<std::pair<int, std::filesystem::path>> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(folder, ec)) {
    std::error_code fe;
    if (!e.is_regular_file(fe) || e.is_symlink(fe)) continue;
    if (auto n = rotation_of(e.path().filename().string())) found.emplace_back(*n, e.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::filesystem::path> out;
  for (auto& [n, p] : found) out.push_back(std::move(p));
  return out;
}

std::vector<std::filesystem::path> shelfd_log_files(const std::filesystem::path& folder) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  if (std::filesystem::is_regular_file(folder / "shelfd.log", ec)) out.push_back(folder / "shelfd.log");
  for (auto& p : rotated_shelfd_logs(folder)) out.push_back(std::move(p));
  return out;
}

}  // namespace shelfd

// SPDX-License-Identifier: MIT
// The housekeeping service: the ordered task list, its isolation, the report and the health
// check. The tasks themselves live in housekeeping_tasks.cpp, orphan_files.cpp and
// permissions.cpp.
//
// Why one job with many tasks rather than one command per task: housekeeping is idle-only and
// daily; one job waits for the idle moment once, holds no lock, and its message is the one
// place a user looks to see what was cleaned. Isolation is per task (a try around each), so a
// damaged cover folder never keeps the databases from being maintained.
#include "shelfjobs/services/housekeeping.hpp"

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "services/housekeeping/housekeeping_tasks.hpp"
#include "shelfjobs/services/tasks.hpp"

namespace shelfjobs {

void to_json(nlohmann::json& j, const Housekeeping&) { j = nlohmann::json::object(); }
void from_json(const nlohmann::json&, Housekeeping& c) { c = Housekeeping{}; }

std::size_t HousekeepingReport::failed() const noexcept {
  std::size_t n = 0;
  for (const auto& t : tasks) n += t.ok ? 0 : 1;
  return n;
}

std::string HousekeepingReport::message() const {
  std::string m;
  for (const auto& t : tasks) {
    if (!m.empty()) m += "; ";
    m += t.name + (t.ok ? ": " : " FAILED: ") + t.message;
  }
  if (const auto n = failed(); n > 0)
    m += "; " + std::to_string(n) + " of " + std::to_string(tasks.size()) + " tasks failed";
  return m;
}

void to_json(nlohmann::json& j, const HousekeepingReport& r) {
  auto tasks = nlohmann::json::array();
  for (const auto& t : r.tasks)
    tasks.push_back(
        {{"name", t.name}, {"ok", t.ok}, {"message", t.message}, {"durationMs", t.duration.count()}});
  auto dbs = nlohmann::json::array();
  for (const auto& d : r.databases)
    dbs.push_back({{"file", d.file},
                   {"integrityOk", d.integrity_ok},
                   {"findings", d.integrity_findings},
                   {"pageCount", d.page_count},
                   {"freePages", d.free_pages},
                   {"vacuumed", d.vacuumed},
                   {"checkpointed", d.checkpointed},
                   {"summary", d.summary()}});
  j = {{"started", format_time(r.started)},
       {"finished", format_time(r.finished)},
       {"message", r.message()},
       {"failed", r.failed()},
       {"tasks", std::move(tasks)},
       {"databases", std::move(dbs)}};
}

void to_json(nlohmann::json& j, const HousekeepingCompleted& e) { to_json(j, e.report); }

TimePoint HousekeepingService::Impl::now() const {
  return o.clock ? o.clock->now() : std::chrono::system_clock::now();
}

namespace {

Status check_options(const HousekeepingOptions& o) {
  auto bad = [](std::string m) { return Error{errc::invalid_argument, "housekeeping: " + std::move(m)}; };
  if (o.log_retention < std::chrono::hours(24)) return bad("log_retention must be at least 1 day");
  if (o.history_retention.count() < 0) return bad("history_retention must not be negative");
  if (o.temp_max_age < std::chrono::hours(1)) return bad("temp_max_age must be at least 1 hour");
  if (o.permissions.file_mode > 07777 || o.permissions.folder_mode > 07777)
    return bad("permission modes must be at most 07777");
  if (o.maintenance.vacuum_free_ratio < 0 || o.maintenance.vacuum_free_ratio > 1)
    return bad("maintenance.vacuum_free_ratio must be within 0..1");
  if (o.maintenance.vacuum_min_free_pages < 0)
    return bad("maintenance.vacuum_min_free_pages must not be negative");
  if (o.maintenance.wait_for_writers.count() < 0)
    return bad("maintenance.wait_for_writers must not be negative");
  if (o.max_provider_block.count() <= 0) return bad("max_provider_block must be positive");
  for (const auto& l : o.logs)
    if (l.name.empty() || !l.trim) return bad("every log target needs a name and a trim function");
  return Ok{};
}

}  // namespace

Result<std::shared_ptr<HousekeepingService>> HousekeepingService::create(HousekeepingOptions options) {
  if (auto ok = check_options(options); !ok) return ok.error();
  auto impl = std::make_shared<Impl>();
  impl->log = options.logger ? options.logger
                             : std::make_shared<spdlog::logger>(
                                   "housekeeping", std::make_shared<spdlog::sinks::null_sink_mt>());
  impl->o = std::move(options);
  return std::shared_ptr<HousekeepingService>(new HousekeepingService(std::move(impl)));
}

HousekeepingService::HousekeepingService(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

void HousekeepingService::register_commands(Registry& registry, ServiceContext& host) {
  impl_->host = &host;
  if (!impl_->o.events) impl_->o.events = host.events();
  registry.add<Housekeeping>(
      [this](const Housekeeping&, JobContext& ctx) {
        const HousekeepingReport r = run(&ctx);
        // Only a run where nothing worked is a failed job; partial failures are in the message
        // (and in health for the databases), and tomorrow's run tries again.
        if (!r.tasks.empty() && r.failed() == r.tasks.size())
          throw JobError(ErrorKind::database, r.message());
        ctx.complete(r.message());
      },
      {.priority = Priority::low, .type_exclusive = true, .idle_only = true});
}

std::vector<TaskSpec> HousekeepingService::tasks() const { return {*standard_task(Housekeeping::kName)}; }

std::vector<HealthCheck> HousekeepingService::health_checks() {
  auto impl = impl_;
  return {{"DatabaseIntegrityCheck", [impl] {
             std::vector<HealthIssue> out;
             std::lock_guard lock(impl->report_mu);
             if (!impl->last) return out;
             for (const auto& d : impl->last->databases) {
               const std::string file = d.file.empty() ? "the job store" : d.file;
               if (d.integrity_checked && !d.integrity_ok) {
                 out.push_back({"DatabaseIntegrityCheck", HealthIssue::Level::error,
                                "database " + file + " failed its integrity check: " +
                                    (d.integrity_findings.empty() ? "" : d.integrity_findings.front()) +
                                    " (restore a backup, or run sqlite3 " + file + " '.recover')"});
               }
             }
             for (const auto& t : impl->last->tasks)
               if (t.name == "databases" && !t.ok)
                 out.push_back({"DatabaseIntegrityCheck", HealthIssue::Level::warning,
                                "database maintenance failed: " + t.message});
             return out;
           }}};
}

HousekeepingReport HousekeepingService::run(JobContext* ctx) {
  auto& s = *impl_;
  std::lock_guard run_lock(s.run_mu);
  HousekeepingReport r;
  r.started = s.now();
  struct Step {
    const char* name;
    std::function<std::string()> fn;
  };
  const std::vector<Step> steps = {
      {"prune", [&] { return housekeeping::prune(s); }},
      {"logs", [&] { return housekeeping::trim_logs(s); }},
      {"orphaned rows", [&] { return housekeeping::orphaned_rows(s); }},
      {"orphaned files", [&] { return housekeeping::orphaned_files(s); }},
      {"future times", [&] { return housekeeping::future_times(s); }},
      {"permissions", [&] { return housekeeping::permissions(s); }},
      {"databases", [&] { return housekeeping::databases(s, r.databases); }},
  };
  const auto total = static_cast<std::int64_t>(steps.size());
  for (std::int64_t i = 0; i < total; ++i) {
    const Step& step = steps[static_cast<std::size_t>(i)];
    HousekeepingTaskResult t;
    t.name = step.name;
    if (ctx && ctx->cancelled()) {
      t.ok = false;
      t.message = "not run (cancelled)";
      r.tasks.push_back(std::move(t));
      continue;
    }
    if (ctx) ctx->report(i, total, std::to_string(i + 1) + " of " + std::to_string(total) + ": " + step.name);
    const auto t0 = std::chrono::steady_clock::now();
    try {
      t.message = step.fn();
    } catch (const std::exception& e) {
      t.ok = false;
      t.message = e.what();
    } catch (...) {
      t.ok = false;
      t.message = "unknown failure";
    }
    t.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    if (t.ok)
      s.log->info("housekeeping: {}: {}", t.name, t.message);
    else
      s.log->error("housekeeping: {} failed: {}", t.name, t.message);
    r.tasks.push_back(std::move(t));
  }
  r.finished = s.now();
  {
    std::lock_guard lock(s.report_mu);
    s.last = r;
  }
  if (s.o.events) s.o.events->publish(HousekeepingCompleted{r});
  return r;
}

std::optional<HousekeepingReport> HousekeepingService::last_report() const {
  std::lock_guard lock(impl_->report_mu);
  return impl_->last;
}

}  // namespace shelfjobs

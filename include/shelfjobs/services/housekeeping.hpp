// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The housekeeping service (name "housekeeping"): what keeps a long-running library healthy,
/// run as one job of an ordered list of isolated tasks.
///
/// Command (registered on the host, see service.hpp):
///   - Housekeeping {}: Low priority, idle-only (it waits until no other job is queued or
///     running, at most `EngineOptions::idle_max_deferral`), one at a time. The standard task
///     runs it daily (tasks.hpp; a host pins it to a time of day with
///     `TaskSetting::time_of_day`).
///
/// The tasks, in this order; each is isolated: one that fails (an error or an exception) is
/// logged and recorded in the report, and the next one runs. The job's message says what each
/// did ("prune: 12 finished jobs, 0 history rows; logs: 340 lines, 2 files; ... 1 of 7 failed");
/// the job fails (kind `database`, no retry: it runs again tomorrow) only when every task failed.
///   1. `prune`: finished jobs past the engine's retention (Engine::prune); acquisition history
///      older than `history_retention` (0: kept).
///   2. `logs`: every registered `LogTarget` trimmed of what is older than `log_retention`.
///   3. `orphaned rows`: Catalog::remove_orphans (books without an author, editions without a
///      book, dangling series links, file rows of deleted books or authors unlinked), then
///      AcquisitionStore::remove_orphans against the catalog's authors and books. When the
///      catalog holds no author at all, the acquisition rows are left alone: an empty catalog is
///      more likely a wrong file than a library whose every author was deleted.
///   4. `orphaned files`: entries of the `temp_folders` not modified for `temp_max_age`;
///      unfinished backups (`*.partial`, `*.tmp`) in `backup_folder` and its subfolders older
///      than `temp_max_age`; under `cover_folder`, the folders of authors that are gone (a
///      folder named by a number that is no author id; skipped when the catalog has no author)
///      and files that are not images (checked by their first bytes: JPEG, PNG, GIF, WebP).
///      Symlinks are removed as links, never followed.
///   5. `future times`: task times later than now clamped (Engine::clamp_future_task_times);
///      provider status times later than now set to now, and blocks longer than
///      `max_provider_block` shortened to it (AcquisitionStore::clamp_future_times).
///   6. `permissions` (when `permissions.enabled`): every file and folder under each root folder
///      gets `file_mode` or `folder_mode`; symlinks are skipped and never followed, so nothing
///      outside a root folder changes. Reported per root folder.
///   7. `databases`: the job store (JobStore::maintain through the engine) and every file in
///      `databases` (the catalog, the metadata cache): PRAGMA optimize, a quick integrity check
///      (its findings are the DatabaseIntegrityCheck health check's), a WAL checkpoint, and
///      VACUUM when the free pages pass `maintenance`'s threshold. A step that needs the file to
///      itself waits for running writers (`maintenance.wait_for_writers`) instead of failing
///      them; still busy after that, it is skipped with a note.
///
/// Event: HousekeepingCompleted (the report) on the host's bus when a run ends.
///
/// Thread-safety: every member may be called from any thread; a run is serialized with other
/// runs of the same service (a direct `run` and a job never overlap).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/fwd.h>
#include <nlohmann/json.hpp>

#include "shelfjobs/catalog/acquisition_store.hpp"
#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/engine/clock.hpp"
#include "shelfjobs/engine/command.hpp"
#include "shelfjobs/engine/context.hpp"
#include "shelfjobs/engine/events.hpp"
#include "shelfjobs/engine/job_store.hpp"
#include "shelfjobs/services/service.hpp"

namespace shelfjobs {

struct Housekeeping : Command {
  static constexpr const char* kName = "Housekeeping";
};
/// An empty object both ways (other fields are ignored).
void to_json(nlohmann::json& j, const Housekeeping& c);
void from_json(const nlohmann::json& j, Housekeeping& c);

/// A log the host keeps (a table, a folder of rotated files), trimmed by the `logs` task.
struct LogTarget {
  std::string name;  ///< for the report ("log table", "log files")
  /// Removes what is older than `cutoff`; returns how many entries went. Runs on the
  /// housekeeping job's thread; an error (or exception) fails the `logs` task for this target
  /// only, the other targets are still trimmed.
  std::function<Result<std::int64_t>(TimePoint cutoff)> trim;
};

/// A target for rotated log files: files in `folder` whose name starts with `prefix` and ends
/// with `suffix`, last modified before the cutoff, are removed; `current` (the file being
/// written) never is. spdlog's rotating sink names them "shelfd.log", "shelfd.1.log", ...
LogTarget rotated_log_files(std::filesystem::path folder, std::string prefix, std::string suffix,
                            std::string current);

/// File and folder modes the `permissions` task sets under the root folders.
struct PermissionOptions {
  bool enabled = false;
  std::uint32_t file_mode = 0644;    ///< permission bits only (at most 07777)
  std::uint32_t folder_mode = 0755;  ///< likewise; a folder without its x bits cannot be entered
};

/// One task's outcome.
struct HousekeepingTaskResult {
  std::string name;     ///< "prune", "logs", "orphaned rows", ...
  bool ok = true;       ///< false: it failed (the message says why)
  std::string message;  ///< what it did, or why it failed
  std::chrono::milliseconds duration{0};
};

/// What one run did.
struct HousekeepingReport {
  TimePoint started{};
  TimePoint finished{};
  std::vector<HousekeepingTaskResult> tasks;  ///< in run order
  /// Per database file (the job store first): what maintenance found and did.
  std::vector<StoreMaintenanceReport> databases;
  std::size_t failed() const noexcept;
  /// "prune: ...; logs: ...; ...", ending "; N of M tasks failed" when any did.
  std::string message() const;
};
/// {started, finished, message, failed, tasks: [{name, ok, message, durationMs}],
///  databases: [{file, integrityOk, findings, freePages, pageCount, vacuumed, checkpointed,
///  summary}]}
void to_json(nlohmann::json& j, const HousekeepingReport& r);

/// A run ended (also when some of its tasks failed).
struct HousekeepingCompleted {
  static constexpr const char* kName = "HousekeepingCompleted";
  HousekeepingReport report;
};
void to_json(nlohmann::json& j, const HousekeepingCompleted& e);

struct HousekeepingOptions {
  std::shared_ptr<Catalog> catalog;               ///< null: no orphaned rows, covers or permissions
  std::shared_ptr<AcquisitionStore> acquisition;  ///< null: its tasks' parts are skipped
  std::shared_ptr<EventBus> events;               ///< null: the host's bus (none without a host)
  std::shared_ptr<Clock> clock;                   ///< null: the system clock
  std::shared_ptr<spdlog::logger> logger;         ///< null: a quiet logger
  /// Acquisition history older than this is deleted; 0: kept for ever (Readarr keeps it).
  std::chrono::hours history_retention{0};
  /// Log lines and rotated log files older than this are trimmed. At least 1 day.
  std::chrono::hours log_retention{24 * 7};
  std::vector<LogTarget> logs;
  /// Folders whose entries are temporary (a download's staging, an unpacked upload).
  std::vector<std::filesystem::path> temp_folders;
  /// Temporary entries and unfinished backups older than this are removed. At least 1 hour.
  std::chrono::hours temp_max_age{24};
  std::filesystem::path backup_folder;  ///< empty: none
  std::filesystem::path cover_folder;   ///< empty: none; holds one folder per author id
  PermissionOptions permissions;
  /// SQLite files shelfjobs owns beside the job store (the catalog, the metadata cache).
  std::vector<std::filesystem::path> databases;
  StoreMaintenanceOptions maintenance;
  /// The longest block a provider status may hold (the escalation ladder's top period).
  std::chrono::seconds max_provider_block{std::chrono::hours(24)};
};

class HousekeepingService : public Service {
 public:
  /// Errors: invalid_argument for a retention or age out of range, a mode above 07777, a
  /// maintenance ratio outside 0..1, or a log target without a name or a function.
  static Result<std::shared_ptr<HousekeepingService>> create(HousekeepingOptions options);

  std::string_view name() const override { return "housekeeping"; }
  void register_commands(Registry& registry, ServiceContext& host) override;
  /// The standard Housekeeping task (daily).
  std::vector<TaskSpec> tasks() const override;
  /// DatabaseIntegrityCheck: an error per database whose latest quick check found problems, a
  /// warning per database the latest run could not open or maintain. Healthy before the first
  /// run.
  std::vector<HealthCheck> health_checks() override;

  /// Runs every task now on the calling thread (what the job's handler does). `ctx`, when not
  /// null, gets progress ("k of N: name") and is checked for cancellation between tasks (a
  /// cancelled run reports the tasks left as not run). Without a host (`register_commands`
  /// never called) the tasks that need the engine report so and fail.
  HousekeepingReport run(JobContext* ctx = nullptr);

  /// The report of the latest run (none before the first).
  std::optional<HousekeepingReport> last_report() const;

  struct Impl;

 private:
  explicit HousekeepingService(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The backup service (name "backup"): zip backups of every database shelfjobs owns and of the
/// host's configuration files, their retention, and restore without a restart.
///
/// Command (registered on the host, see service.hpp):
///   - Backup {type}: Normal priority, one at a time; `type` is "scheduled", "manual" or
///     "update" (case-insensitive, or Readarr's numbers 0, 1, 2). Without one, the type follows
///     the job's trigger as in Readarr: the standard Backup task's runs (7 days by default,
///     1..7) are "scheduled", anything else (an API call, "run now") "manual". Jobs keep running
///     while it runs. A Backup a crash (or a restore) left running is not run again: it ends
///     failed with "interrupted" (the copy of the job store in a backup shows that very job
///     running).
///   - BackupRestored {backup, restored}: the record a host pushes into the restored job store
///     after a restore, so the restored data's history shows it ("Restored from <backup>").
///
/// A backup is `<folder>/<type>/shelfjobs_backup_v{version}_{yyyy.MM.dd_HH.mm.ss}.zip` (UTC; a
/// second backup in the same second gets `_2`, `_3`, ...), readable by its owner only, in a
/// folder only its owner can enter. It holds `manifest.json` ({format "shelfjobs-backup",
/// formatVersion 1, version, time, type, entries: [{name, kind "database" or "config", size,
/// sha256, schemas {name: version}}]}), a consistent copy of each database (the job store as
/// `jobs.db`, the others under their `BackupDatabase::name`), taken with SQLite's online backup
/// API while jobs keep committing, and each configuration file as `config/<file name>`.
/// The zip appears under its name only when complete (see backup_archive.hpp); a failure (a
/// full disk, an unwritable folder) leaves no file, fails the job with the reason and touches
/// no live data. After a successful backup, scheduled and update backups older than
/// `retention` are deleted, and manual ones beyond `manual_limit` (when set), oldest first.
///
/// Restore, in two steps the host drives (the service cannot close the stores the host opened):
///   1. `prepare_restore(zip)` checks everything before anything changes: the archive's entries
///      (backup_archive.hpp: no absolute paths or `..`, no links, the size limits), the manifest
///      (present, of this format, naming exactly the entries there are, every size and SHA-256
///      right), each database (`PRAGMA integrity_check`, schema versions this build reads; older
///      ones are migrated when the host reopens them). Any failure: an error, live data
///      untouched. The entries are extracted into a staging folder beside the backups.
///   2. With every store on those files closed (for shelfd: its engine stopped, running jobs
///      given a deadline; they resume from the restored store later), `apply_restore` moves
///      each live file (with its -wal and -shm) to `<file>.pre-restore`, the safety copy, then
///      renames the staged file into place. If any step fails, the safety copies are put back.
///      The host then reopens its stores; if that fails, `roll_back` puts the safety copies back.
///
/// Event: BackupCompleted (the new backup) on the host's bus.
///
/// Thread-safety: every member may be called from any thread; backups, restores and deletions
/// of one service are serialized.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/fwd.h>
#include <nlohmann/json.hpp>

#include "shelfjobs/adapters/backup_archive.hpp"
#include "shelfjobs/engine/clock.hpp"
#include "shelfjobs/engine/command.hpp"
#include "shelfjobs/engine/context.hpp"
#include "shelfjobs/engine/events.hpp"
#include "shelfjobs/services/service.hpp"

namespace shelfjobs {

enum class BackupType { scheduled, manual, update };
const char* to_string(BackupType type) noexcept;
/// "scheduled", "manual", "update" (any case); nullopt otherwise.
std::optional<BackupType> parse_backup_type(std::string_view text) noexcept;

struct Backup : Command {
  static constexpr const char* kName = "Backup";
  std::optional<BackupType> type;  ///< none: by the job's trigger
};
/// {"type": "manual"} ({} without a type). Reading throws std::invalid_argument for a type that is not one of
/// the three (a string or 0..2), so the push is refused with invalid_argument.
void to_json(nlohmann::json& j, const Backup& c);
void from_json(const nlohmann::json& j, Backup& c);

struct BackupRestored : Command {
  static constexpr const char* kName = "BackupRestored";
  std::string backup;                 ///< the backup's file name
  std::vector<std::string> restored;  ///< the entries put in place
};
void to_json(nlohmann::json& j, const BackupRestored& c);
void from_json(const nlohmann::json& j, BackupRestored& c);

/// One backup on disk.
struct BackupFile {
  std::int64_t id = 0;  ///< stable for a name (a hash), as Readarr's API lists it
  std::string name;
  std::filesystem::path path;
  BackupType type = BackupType::manual;
  std::uint64_t size = 0;
  TimePoint time{};  ///< its file's modification time
};
/// Readarr's BackupResource: {id, name, path ("/backup/<type>/<name>"), type, size, time}.
void to_json(nlohmann::json& j, const BackupFile& b);

struct BackupCompleted {
  static constexpr const char* kName = "BackupCompleted";
  BackupFile backup;
};
void to_json(nlohmann::json& j, const BackupCompleted& e);

/// A SQLite file the backup copies, and the entry name it has in the zip ("catalog.db").
struct BackupDatabase {
  std::string name;
  std::filesystem::path path;
};

/// The schema versions this build reads, by schema name: the job store's, the catalog's,
/// acquisition's and the metadata cache's.
std::map<std::string, int> readable_schema_versions();

struct BackupOptions {
  /// Where backups go (one subfolder per type). Required; created with mode 0700.
  std::filesystem::path folder;
  /// The engine's job store file (entry "jobs.db"); empty: not backed up.
  std::filesystem::path job_store;
  /// The other SQLite files (the catalog, the metadata cache, a host's own). Entry names must
  /// be distinct plain file names other than "jobs.db" and "manifest.json".
  std::vector<BackupDatabase> databases;
  /// The host's configuration files (entry "config/<file name>"); a missing one is skipped.
  std::vector<std::filesystem::path> config_files;
  /// The version in the file names and the manifest. Default: shelfjobs' own.
  std::string version;
  /// Scheduled and update backups older than this are deleted after a successful backup.
  /// 1 to 90 days.
  std::chrono::hours retention{24 * 28};
  /// Manual backups kept (the newest); 0: all.
  std::size_t manual_limit = 0;
  /// Deflate level, 0 (store) to 9.
  int compression_level = 6;
  /// What a restore accepts of an archive.
  ArchiveLimits restore_limits;
  /// Schema versions a restore accepts (a file's version above these is refused). Empty:
  /// `readable_schema_versions()`.
  std::map<std::string, int> readable_schemas;
  std::shared_ptr<EventBus> events;        ///< null: the host's bus (none without a host)
  std::shared_ptr<Clock> clock;            ///< null: the system clock
  std::shared_ptr<spdlog::logger> logger;  ///< null: a quiet logger
};

/// A checked backup, extracted and waiting to be applied. Its staging folder is removed when
/// the last copy of it goes (applied or not).
struct PreparedRestore {
  std::string backup;  ///< the zip's file name
  nlohmann::json manifest;
  /// staged file -> live file, for each entry this host knows.
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> files;
  /// Entries of the backup this host has no file for (left out, for the report).
  std::vector<std::string> skipped;
  std::shared_ptr<void> staging;  ///< owns the staging folder
};

/// What a restore changed.
struct RestoreReport {
  std::string backup;
  std::vector<std::filesystem::path> restored;  ///< live files now from the backup
  /// live file -> its safety copy (absent when the live file did not exist).
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> safety_copies;
  std::vector<std::string> skipped;
};

class BackupService : public Service {
 public:
  /// Errors: invalid_argument for an empty folder, a retention outside 1..90 days, a
  /// compression level outside 0..9, or database entry names that clash or are not plain names.
  static Result<std::shared_ptr<BackupService>> create(BackupOptions options);

  std::string_view name() const override { return "backup"; }
  void register_commands(Registry& registry, ServiceContext& host) override;
  /// The standard Backup task.
  std::vector<TaskSpec> tasks() const override;

  /// Makes a backup now on the calling thread (what the job's handler does). `ctx`, when not
  /// null, gets progress, is checked for cancellation, and flushes the job store before its
  /// snapshot (JobContext::flush_store); without it the copy holds what the store had committed. Errors:
  /// unavailable (a full disk, a folder that cannot be written; the message names the file), store_error (a
  /// database that cannot be read), shutting_down (cancelled). Nothing is left behind on an error.
  Result<BackupFile> backup(BackupType type, JobContext* ctx = nullptr);
  /// The backups on disk, newest first (partial ones are not listed).
  std::vector<BackupFile> list() const;
  std::optional<BackupFile> find(std::int64_t id) const;
  /// Deletes a listed backup. Errors: not_found; unavailable when the file cannot be removed.
  Status remove(std::int64_t id);

  /// Step 1 of a restore (see the file comment). Errors: not_found (no such file), bad_file
  /// (the archive, its manifest or a database is refused; the message says which and why),
  /// unavailable (no room to extract).
  Result<PreparedRestore> prepare_restore(const std::filesystem::path& zip);
  /// Step 2: every store on the files must be closed. Errors: unavailable (a rename failed;
  /// every file is as it was before).
  Result<RestoreReport> apply_restore(const PreparedRestore& prepared);
  /// Puts the safety copies of `report` back (the restored files go). Errors: unavailable
  /// naming the files it could not put back.
  Status roll_back(const RestoreReport& report);

  struct Impl;

 private:
  explicit BackupService(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
#pragma once
// The backup service's shared state, between backup_service.cpp (backups, listing, retention)
// and restore.cpp (checking and applying a backup).

#include <mutex>

#include "shelfjobs/services/backup.hpp"

namespace shelfjobs {

struct BackupService::Impl {
  BackupOptions o;
  ServiceContext* host = nullptr;
  // Serializes backups, restores and deletions: a restore never reads a backup being written
  // or deleted, and two backups never pick the same name.
  std::mutex mu;

  TimePoint now() const;
  std::shared_ptr<spdlog::logger> log() const { return o.logger; }
};

namespace backup_detail {
inline constexpr const char* kManifest = "manifest.json";
inline constexpr const char* kFormat = "shelfjobs-backup";
inline constexpr const char* kJobStoreEntry = "jobs.db";
/// A stable id for a backup's name (FNV-1a, 31 bits: positive in every client's int).
std::int64_t backup_id(std::string_view name);
/// A folder for work in progress under `parent`, named `<stem>.<random>.tmp` (housekeeping
/// removes it once old if a killed process leaves it), removed when the returned owner goes.
Result<std::shared_ptr<std::filesystem::path>> make_work_folder(const std::filesystem::path& parent,
                                                                const std::string& stem);
}  // namespace backup_detail

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
#pragma once
// The housekeeping service's tasks, one function each, and what they share. Private to the
// service: housekeeping_service.cpp runs them in order and isolates their failures.
//
// Each task returns its message (what it did) or throws `std::runtime_error` (or returns an
// Error through `TaskFailure`) when it failed; a task that did part of its work and failed on
// another part says both in the failure's message.

#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "shelfjobs/services/housekeeping.hpp"

namespace shelfjobs {

struct HousekeepingService::Impl {
  HousekeepingOptions o;
  std::shared_ptr<spdlog::logger> log;
  ServiceContext* host = nullptr;  // set by register_commands; the host outlives its handlers
  std::mutex run_mu;               // one run at a time
  mutable std::mutex report_mu;
  std::optional<HousekeepingReport> last;

  TimePoint now() const;
};

namespace housekeeping {

/// A task's failure, with what it did before it failed.
struct TaskFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The catalog's author ids, or nullopt when there is no catalog. Throws TaskFailure when it
/// cannot be read.
std::optional<std::set<RowId>> author_ids(Catalog* catalog);

// housekeeping_tasks.cpp: the data tasks.
std::string prune(HousekeepingService::Impl& s);
std::string trim_logs(HousekeepingService::Impl& s);
std::string orphaned_rows(HousekeepingService::Impl& s);
std::string future_times(HousekeepingService::Impl& s);
/// Adds one report per file to `out` (the job store first).
std::string databases(HousekeepingService::Impl& s, std::vector<StoreMaintenanceReport>& out);

// orphan_files.cpp
std::string orphaned_files(HousekeepingService::Impl& s);
/// True when the file's first bytes are those of a JPEG, PNG, GIF or WebP image.
bool looks_like_image(const std::filesystem::path& file);

// permissions.cpp
std::string permissions(HousekeepingService::Impl& s);

/// What `apply_permissions` did under one root.
struct PermissionCounts {
  std::int64_t files = 0, folders = 0;  ///< whose mode was changed
  std::int64_t unchanged = 0;           ///< already right
  std::int64_t symlinks = 0;            ///< skipped, never followed
  std::int64_t failed = 0;              ///< could not be changed (first reason kept)
  std::string first_error;
};
/// Sets the modes of everything under `root` (not `root` itself), never following a symlink.
PermissionCounts apply_permissions(const std::filesystem::path& root, const PermissionOptions& modes);

}  // namespace housekeeping
}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
#pragma once
// Whole-file operations on a SQLite file shelfjobs owns, for backup and restore: a consistent
// copy taken while other connections keep writing, the schema versions a file holds, and the
// full integrity check. Private to `src`, like the rest of the toolkit.
//
// Thread-safety: reentrant; each call opens and closes connections of its own.

#include <chrono>
#include <filesystem>
#include <map>
#include <string>

#include "shelfjobs/engine/error.hpp"

namespace shelfjobs::sqlite {

/// Copies the database in `source` into a new file `dest` with SQLite's online backup API, in
/// one step over one read snapshot: writers of `source` (in WAL mode) keep committing while it
/// runs and none of their later commits is in the copy. `dest` is written in rollback-journal
/// mode, a single self-contained file. `busy_timeout` bounds the wait for a lock on `source`
/// (a checkpoint, a VACUUM).
/// Errors: store_error naming the file (`source` missing or unreadable, `dest` already there
/// or not writable, a full disk); `dest` is removed on failure.
Status snapshot(const std::filesystem::path& source, const std::filesystem::path& dest,
                std::chrono::milliseconds busy_timeout = std::chrono::seconds(30));

/// The schema versions kept in the file's `shelfjobs_schema` table (see `migrate`), by schema
/// name; empty for a file without that table. Errors: store_error naming the file.
Result<std::map<std::string, int>> schema_versions(const std::filesystem::path& path);

/// PRAGMA integrity_check on the file, opened read-only. Ok when SQLite answers "ok"; else
/// store_error naming the file with the first findings (or why it cannot be opened: a file
/// that is not a database says so).
Status integrity_check(const std::filesystem::path& path);

}  // namespace shelfjobs::sqlite

// SPDX-License-Identifier: MIT
#pragma once
// Maintenance of one SQLite file: what housekeeping does to every file shelfjobs owns (the job
// store through `JobStore::maintain`, the catalog and the metadata cache through a connection
// of their own). Private to `src`, like the rest of the toolkit.
//
// The steps, in this order: PRAGMA optimize; PRAGMA quick_check (at most 20 findings); the page
// and free-page counts; VACUUM when the free pages pass the options' threshold; a TRUNCATE WAL
// checkpoint. A step that needs the file to itself (VACUUM, the checkpoint) waits for other
// connections through the busy handler, up to `wait_for_writers`; it never makes them fail (they
// wait for it with their own busy timeout). A step that fails or waits too long is a note in the
// report; the others still run.
//
// Thread-safety: reentrant; the connection belongs to the caller's thread while it runs.

#include <filesystem>
#include <string>

#include <SQLiteCpp/SQLiteCpp.h>

#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/job_store.hpp"

namespace shelfjobs::sqlite {

/// Maintains the database `db` is connected to; `path` is its file (":memory:" or "" for none),
/// used for the sizes and in the report. Never throws: failures are notes. The connection's
/// busy timeout is the same afterwards.
StoreMaintenanceReport maintain(SQLite::Database& db, const std::string& path,
                                const StoreMaintenanceOptions& options) noexcept;

/// Opens an existing file (the house pragmas, see `open`) and maintains it.
/// Errors: store_error naming the file when it does not exist or cannot be opened.
Result<StoreMaintenanceReport> maintain_file(const std::filesystem::path& path,
                                             const StoreMaintenanceOptions& options);

}  // namespace shelfjobs::sqlite

// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The library scan service (name "scan"): keeps the catalog's book files true to the files on
/// disk, and brings new files into the library.
///
/// Commands (registered on the host, see service.hpp):
///   - RescanFolders {folders?, filter?, addNewAuthors?, authorIds?}: Normal priority, the `disk`
///     lock. Walks each folder (none: every root folder), reads the metadata of new and changed
///     book files (EPUB, MOBI/AZW3, PDF, audio; a Calibre library from its metadata.db), links
///     each to a catalog book (matching, see below) or records it as unmapped with the reason,
///     and removes the rows of files gone from disk (BookFileDeleted). Progress "scanning Author
///     Name (k of N folders)"; the message counts new, changed, unchanged, removed, unmapped and
///     unreadable files.
///   - the library-scan task: RescanFolders every 24 h by default (12 to 24 h, or off).
///   - the rule AuthorRefreshed (changed) -> RescanFolders of that author's folder only.
///
/// addNewAuthors: after the walk, the authors that unmapped files of the scanned folders name
/// and the library lacks are looked up at the metadata source by name and title
/// (LibraryService::add_author_by_name; at most `ScanOptions::max_new_authors` per scan, a name
/// that could not be added waits `ScanOptions::retry_unadded_after`) and added under the file's
/// root folder; AuthorAdded refreshes each, and the AuthorRefreshed rule
/// rescans its folder with `matched`, which links the files lying there. A source that fails
/// ends the lookups for this scan (a warning), never the scan.
///
/// Filters, as Readarr's: `all` reads every file again; `known` (the default) leaves a known
/// file whose size is the same and whose mtime is within a second unopened; `matched` does the
/// same for files linked to a book, and matches the known unmapped ones again from what was
/// read of them before (still without opening them).
///
/// What a scan never does: remove anything under a root folder that is missing or empty (an
/// unmounted drive: a warning, and RootFolderCheck or LibraryScanCheck in health instead), under
/// a folder it could not read (no permission, an I/O error, a symlink that leads nowhere or loops,
/// as an unmounted share's does; scanned on its own, such a folder is reported in
/// `skipped_roots`), or after it was cancelled; stop at a file or folder it cannot read (the file
/// is recorded with its `read_error`, the folder is reported and skipped).
///
/// Memory: the walk holds one directory stream per level; the catalog's rows are read one
/// author folder at a time; writes go in batches of `ScanOptions::batch`. A scan's memory grows
/// with the catalog's books (the matching index) and the largest author folder, never with the
/// number of files in the library.
///
/// Thread-safety: every member may be called from any thread; a scan runs on the calling
/// thread plus `ScanOptions::reader_threads` threads it owns while it runs.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/fwd.h>
#include <nlohmann/json.hpp>

#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/engine/command.hpp"
#include "shelfjobs/engine/context.hpp"
#include "shelfjobs/engine/events.hpp"
#include "shelfjobs/services/catalog_events.hpp"
#include "shelfjobs/services/library.hpp"
#include "shelfjobs/services/service.hpp"

namespace shelfjobs {

/// Readarr's FilterFilesType.
enum class ScanFilter { all, known, matched };
const char* to_string(ScanFilter filter) noexcept;

struct RescanFolders : Command {
  static constexpr const char* kName = "RescanFolders";
  std::vector<std::string> folders;  ///< none: every root folder; each must lie in a root folder
  ScanFilter filter = ScanFilter::known;
  bool addNewAuthors = false;
  std::vector<RowId> authorIds;  ///< the authors the scan is for (AuthorScanned events)
};
/// JSON as Readarr's command: {"folders":[...], "filter":"known"|"Known"|"matched"|"none"|0..2,
/// "addNewAuthors":bool, "authorIds":[...]}; "none" (Readarr's name) is `all`.
void to_json(nlohmann::json& j, const RescanFolders& c);
void from_json(const nlohmann::json& j, RescanFolders& c);

// ---- events -----------------------------------------------------------------------------------

/// A file's row left the catalog: the file is gone from disk (`reason` says so) or was deleted.
struct BookFileDeleted {
  static constexpr const char* kName = "BookFileDeleted";
  BookFile file;
  std::string reason;
};
/// A book file was linked to a book (a new file, or one matched again).
struct BookFileAdded {
  static constexpr const char* kName = "BookFileAdded";
  BookFile file;
};

/// What one scan did (also the job's message).
struct ScanSummary {
  std::int64_t folders = 0;                ///< author folders walked
  std::int64_t files = 0;                  ///< book files seen on disk
  std::int64_t added = 0;                  ///< new files recorded (matched or not)
  std::int64_t changed = 0;                ///< known files read again (size or mtime changed, or filter all)
  std::int64_t unchanged = 0;              ///< known files left unopened
  std::int64_t removed = 0;                ///< rows of files gone from disk
  std::int64_t unmapped = 0;               ///< files seen that match no book
  std::int64_t unreadable = 0;             ///< files whose metadata could not be read
  std::int64_t problems = 0;               ///< folders and entries that could not be walked
  std::vector<std::string> skipped_roots;  ///< root folders left alone (missing or empty), why
  std::vector<std::string> new_authors;    ///< addNewAuthors: the authors added, by name
  TimePoint finished{};                    ///< when the scan ended
  std::string message() const;
};
/// {folders, files, added, changed, unchanged, removed, unmapped, unreadable, problems,
/// skippedRoots, newAuthors, finished (ISO 8601 UTC), message}
void to_json(nlohmann::json& j, const ScanSummary& s);

/// A scan finished (also when it found nothing to do).
struct LibraryScanned {
  static constexpr const char* kName = "LibraryScanned";
  ScanSummary summary;
  std::vector<RowId> author_ids;
};

/// JSON: BookFileDeleted {bookFileId, authorId, bookId, path, reason}; BookFileAdded
/// {bookFileId, authorId, bookId, path}; LibraryScanned {summary..., authorIds}.
void to_json(nlohmann::json& j, const BookFileDeleted& e);
void to_json(nlohmann::json& j, const BookFileAdded& e);
void to_json(nlohmann::json& j, const LibraryScanned& e);

// ---- the service ------------------------------------------------------------------------------

struct ScanOptions {
  std::shared_ptr<Catalog> catalog;        ///< required
  std::shared_ptr<EventBus> events;        ///< null: the host's bus (none without a host)
  std::shared_ptr<spdlog::logger> logger;  ///< null: a quiet logger
  /// Threads that read files' metadata while the walk goes on (at least 1).
  int reader_threads = 2;
  /// At most this many files opened per second (0: no limit), so a scan leaves the host's disk
  /// to others.
  double max_files_per_second = 0;
  /// Catalog writes per transaction.
  int batch = 500;
  /// Finds and adds the authors that unmapped files name (RescanFolders' addNewAuthors); null:
  /// the option only logs a warning and the files stay unmapped.
  std::shared_ptr<LibraryService> library;
  /// addNewAuthors looks up at most this many unknown authors per scan (the rest wait for the
  /// next scan), so a library of strays cannot keep the metadata source busy for hours.
  int max_new_authors = 25;
  /// A name that addNewAuthors could not add (the source knows no such author, the author is on
  /// the exclusion list or in the catalog already) is not looked up again for this long, so
  /// that the same names do not take every scan's `max_new_authors` lookups and keep the names
  /// behind them waiting for ever. A scan a person starts (Trigger::manual) looks every name up
  /// again. Kept in memory: a restart looks each up once more. 0: every
  /// scan looks up every name again.
  std::chrono::seconds retry_unadded_after = std::chrono::hours(24);
};

class LibraryScanService : public Service {
 public:
  /// Errors: invalid_argument when the catalog is missing or an option is out of range.
  static Result<std::shared_ptr<LibraryScanService>> create(ScanOptions options);

  std::string_view name() const override { return "scan"; }
  void register_commands(Registry& registry, ServiceContext& host) override;
  std::vector<TaskSpec> tasks() const override;
  void add_rules(ServiceContext& host) override;
  /// LibraryScanCheck: a warning for each root folder that the latest scan of it found empty
  /// while the catalog has authors there (a drive that is not mounted). A missing root is
  /// RootFolderCheck's (the library service).
  std::vector<HealthCheck> health_checks() override;

  /// The work behind RescanFolders, callable directly (tests, tools). `ctx` may be null.
  /// Errors: invalid_argument (a folder that is relative or in no root folder: nothing is
  /// scanned), cancelled, store_error (a catalog write failed: what was written stays, the
  /// next scan goes on from there).
  Result<ScanSummary> rescan(const RescanFolders& command, JobContext* ctx = nullptr);

  /// The summary of the last scan that finished (none before the first).
  std::optional<ScanSummary> last_scan() const;

 private:
  struct Impl;
  explicit LibraryScanService(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace shelfjobs

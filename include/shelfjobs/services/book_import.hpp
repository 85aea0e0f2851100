// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The import service (name "import"): brings book files into the library. Each file is
/// identified (its metadata, a `metadata.opf` beside it, its name), matched to a catalog book,
/// given its place from the naming pattern under its author's folder, hardlinked, copied or
/// moved there without ever overwriting a different file, and recorded as the book's file.
///
/// Commands (registered on the host, see service.hpp), both **Critical** priority and the lock
/// `import` (not `disk`):
///   - DownloadedBooksScan {path, importMode?, downloadClientId?}: every book file under `path`
///     (a folder, walked with the library walk's exclusions, or one file), identified and
///     matched.
///   - ManualImport {files: [{path, authorId, bookId, editionId?}], importMode?}: the files a
///     person chose, with the book they chose: a non-zero `bookId` overrides the match (and
///     `authorId`, when given, must be that book's author); without one the file is matched as
///     in a scan.
/// Progress "reading k of N: name" (the files identified), then "importing k of N: name"; the
/// job's message counts imported, skipped (already there) and rejected files with each
/// rejection's reason, and failed files with the error.
///
/// Why `import` and not `disk`: a library scan holds `disk` for as long as it walks, and an
/// import must not wait behind it (Readarr's users ask for imports to jump the queue; Readarr
/// itself leaves DownloadedBooksScan off the disk lock). Beside a scan an import is safe:
/// every catalog write is keyed by path, a copy is invisible until its final rename (the walk
/// skips `*.partial~`), and a transfer never replaces a file. `import` keeps imports one at a
/// time among themselves (two imports of one author never race to create its folder) and is
/// also held by MoveAuthor (refresh.hpp), so no import writes into an author folder while it is
/// being renamed. The engine's locks are names fixed per command type, so a per-destination
/// lock key cannot be expressed; one import lock is the next best, and imports are short.
///
/// Import modes (`ImportMode`, JSON "auto" | "move" | "copy" | "hardlink", any case; Readarr's
/// numbers 0 auto, 1 move, 2 copy):
///   - move: rename (or copy, verify, remove the source across file systems);
///   - copy: a copy through a `.partial~` temporary name; the source stays;
///   - hardlink: a hardlink, else a copy (another file system), as Readarr's "use hardlinks";
///   - auto: with a `downloadClientId` (a torrent still seeding) as hardlink; otherwise the
///     service's `ImportOptions::default_mode`.
/// A file that already lies under a root folder (an unmapped file of the library) is always
/// moved, whatever the mode: a copy would leave a second file in the library.
///
/// Guarantees:
///   - Nothing is overwritten. A destination that exists and is the same file (same inode, or
///     same size and bytes) counts as already imported: the row is recorded or relinked if need
///     be, nothing is written on disk. A different file there is a rejection.
///   - Transfer first, record after: an interrupted move leaves the source in place and no row;
///     a file is recorded only once it is whole at its final name. If recording fails after the
///     transfer, the file is in the library (the next library scan records it) and the outcome
///     says so; the source of a copy is never deleted.
///   - An unmapped file already in the library is moved into place and its row relinked in one
///     catalog call (`apply_files`: the row at the new path, the old row removed; the row gets a
///     new id and keeps its `added` time).
///   - One file's rejection or failure is counted and the import goes on with the others.
///
/// Audiobooks in several files: when one import brings two or more audio files of the same
/// book (the parts of an MP3 or M4B audiobook), each is rendered with its part number and the
/// part count (`{PartNumber}`, `{PartCount}`; the default pattern's `{ (PartNumber)}` gives
/// "Author - Title (1).mp3", "... (2).mp3"), so the parts do not collide on one name. The number
/// is the file's track tag when every part has one and no two are equal; else its rank by
/// (disc, track) when those tell the parts apart; else its rank by path among the book's audio
/// files in that import. A book's only audio file in an import, and ebooks, get no part number
/// (a part imported alone later is named without one: the pattern cannot know the others).
/// Every file of an import is read and matched before the first is moved, for this; each is
/// still planned (its destination, its rejections) right before its own transfer.
///
/// Download folders: a DownloadedBooksScan whose files are moved (`move`, or `auto` meaning
/// move) then removes each folder under its `path` (`path` itself included) that a file was
/// moved out of and that is left holding nothing but empty folders, as Readarr removes a
/// download's folder once imported (`ImportSummary::removed_folders`). A folder that still holds
/// anything stays: a file not imported, a rejected book, a `.nfo`, a cover, a symlink. Never
/// removed: a root folder or an author folder, or a folder holding one; anything outside the
/// command's `path`; the folder of a `path` that names one file; anything after a copy or a
/// hardlink. Only empty folders are removed (rmdir), so a file that appears meanwhile stays
/// with its folder. A folder that cannot be removed is left, and the import still succeeds.
///
/// Destinations: the pattern (`ImportOptions::naming`, default `kDefaultNaming`, see
/// naming.hpp) is rendered; when it has more than one level its first level is the author
/// folder: for an author with a folder it is dropped and the rest goes under that folder; for an
/// author without one, the folder is made as `root / first level` (the author's root folder,
/// else `ImportOptions::root_folder_id`, else the first root folder) and set as the author's
/// path. Names are made safe (naming.hpp: illegal characters replaced, names cut to 255 bytes
/// on a UTF-8 boundary, the extension kept).
///
/// Errors: the calls return values; the handlers turn a whole-job failure into `JobError`
/// (invalid or missing input: permanent; a store failure: database; a file system that refused:
/// filesystem). A job fails only when it imported nothing and a file failed for a reason worth
/// retrying (a full disk, an I/O error, the catalog), so a retry never redoes a finished part.
///
/// Thread-safety: every member may be called from any thread. `candidates` only reads.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/fwd.h>
#include <nlohmann/json.hpp>

#include "shelfjobs/adapters/file_transfer.hpp"
#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/engine/clock.hpp"
#include "shelfjobs/engine/command.hpp"
#include "shelfjobs/engine/context.hpp"
#include "shelfjobs/engine/events.hpp"
#include "shelfjobs/services/library_scan.hpp"
#include "shelfjobs/services/naming.hpp"
#include "shelfjobs/services/service.hpp"

namespace shelfjobs {

/// Readarr's ImportMode, with hardlink spelled out.
enum class ImportMode { automatic, move, copy, hardlink };
/// "auto", "move", "copy", "hardlink".
const char* to_string(ImportMode mode) noexcept;

/// The engine lock every job that writes into author folders holds: the imports (this
/// service's and the acquisition service's), and MoveAuthor. The library service's removals
/// that delete files hold it too (through ServiceContext::hold_locks).
inline constexpr const char* kImportLock = "import";

struct DownloadedBooksScan : Command {
  static constexpr const char* kName = "DownloadedBooksScan";
  std::string path;  ///< absolute: a folder or one book file
  ImportMode importMode = ImportMode::automatic;
  std::optional<std::string> downloadClientId;
};
/// {"path", "importMode"?, "downloadClientId"?}; "importMode" as above; `path` required.
void to_json(nlohmann::json& j, const DownloadedBooksScan& c);
void from_json(const nlohmann::json& j, DownloadedBooksScan& c);

struct ManualImportFile {
  std::string path;  ///< absolute
  RowId authorId = 0;
  RowId bookId = 0;  ///< 0: matched as in a scan
  std::optional<RowId> editionId;
  std::string foreignEditionId;  ///< Readarr's way to name the edition (with bookId); editionId wins
};
struct ManualImport : Command {
  static constexpr const char* kName = "ManualImport";
  std::vector<ManualImportFile> files;
  ImportMode importMode = ImportMode::automatic;
};
/// {"files": [{"path", "authorId", "bookId", "editionId"?, "foreignEditionId"?}], "importMode"?}
/// (an edition named that the book does not have is a `wrong_book` rejection). Other fields of
/// Readarr's body (quality, downloadId, replaceExistingFiles, ...) are ignored: shelfjobs never
/// replaces an existing file.
void to_json(nlohmann::json& j, const ManualImportFile& f);
void from_json(const nlohmann::json& j, ManualImportFile& f);
void to_json(nlohmann::json& j, const ManualImport& c);
void from_json(const nlohmann::json& j, ManualImport& c);

/// Why a file is not imported.
struct ImportRejection {
  enum class Kind {
    not_a_book,          ///< not a book file by its extension
    missing,             ///< the file does not exist (any more)
    unreadable,          ///< its metadata cannot be read (a broken or encrypted file)
    unknown_author,      ///< no author of the library matches
    no_matching_book,    ///< the author is known, none of its books matches
    wrong_book,          ///< ManualImport: the ids given do not fit together
    already_in_library,  ///< the file is in the catalog, linked to a book, elsewhere
    no_root_folder,  ///< the author has no folder and the library no root folder, or its folder is in no root
                     ///< folder
    author_folder_taken,  ///< the author's new folder is another author's
    bad_naming,           ///< the naming pattern does not render
    destination_exists,   ///< a different file is at the destination
    already_imported,     ///< the same file is already at the destination, recorded as this book
  };
  Kind kind = Kind::not_a_book;
  std::string reason;  ///< for people, names what is wrong
};
/// "not_a_book", "missing", ...
const char* to_string(ImportRejection::Kind kind) noexcept;

/// A book file as an import sees it before doing anything.
struct ImportCandidate {
  std::filesystem::path path;
  std::int64_t size = 0;
  std::string format;  ///< "epub", ...; empty when not a book file
  /// What the file says of itself (tags, a sidecar, its name).
  std::string title;
  std::vector<std::string> authors;
  std::string isbn13;
  std::string asin;
  std::string read_error;  ///< empty when the metadata was read
  /// The match: "isbn", "asin", "title", "manual" (ids given), or "none".
  std::string matched_by = "none";
  RowId author_id = 0;  ///< set when the author is known, even without a book
  RowId book_id = 0;
  RowId edition_id = 0;
  std::string author_name;
  std::string book_title;
  /// Where the file would go (empty when that cannot be known), and whether its author
  /// folder would be made.
  std::filesystem::path destination;
  bool new_author_folder = false;
  std::vector<ImportRejection> rejections;  ///< empty: it would be imported
  /// True when the only rejection is `already_imported`.
  bool already_imported() const;
};
/// Readarr's manual-import resource, in shelfjobs's terms: {path, name, size, format, title,
/// authors, isbn13, asin, readError, matchedBy, authorId, bookId, editionId, authorName,
/// bookTitle, destination, newAuthorFolder, rejections: [{reason, type, kind}]} (paths as display
/// text). A rejection's `type` is Readarr's RejectionType, always "permanent" (nothing here clears
/// by waiting); `kind` says which (`to_string(Kind)`).
void to_json(nlohmann::json& j, const ImportCandidate& c);
void to_json(nlohmann::json& j, const ImportRejection& r);

/// What became of one file.
struct ImportOutcome {
  enum class Result { imported, skipped, rejected, failed };
  Result result = Result::rejected;
  std::filesystem::path source;
  std::filesystem::path destination;
  std::optional<TransferAction> action;  ///< what the transfer did, when it ran
  BookFile file;                         ///< the row recorded (imported, skipped)
  std::vector<ImportRejection> rejections;
  /// failed: what went wrong and where the file is now; imported: a warning, if any (the
  /// author's new folder could not be recorded).
  std::string error;
  /// failed: the error's code (unavailable, store_error, ...), which decides a retry.
  std::optional<errc> code;
};
const char* to_string(ImportOutcome::Result result) noexcept;

/// What one import did (also the job's message).
struct ImportSummary {
  std::int64_t files = 0;
  std::int64_t imported = 0;
  std::int64_t skipped = 0;  ///< already imported
  std::int64_t rejected = 0;
  std::int64_t failed = 0;
  std::vector<ImportOutcome> outcomes;  ///< one per file, in the order handled
  /// DownloadedBooksScan in move mode: the folders it removed once its moves left them empty
  /// (the topmost of each; see "Download folders" above).
  std::vector<std::filesystem::path> removed_folders;
  /// "Imported 2 of 4 files, 1 skipped (already imported), 1 rejected (x.pdf: author 'Y' is
  /// not in the library)" and the failures with their errors.
  std::string message() const;
};
/// {files, imported, skipped, rejected, failed, message, outcomes: [{result, source,
/// destination, action?, bookFileId?, rejections, error?}], removedFolders: [path...]}
void to_json(nlohmann::json& j, const ImportSummary& s);

/// A file was imported into the library (published after its BookFileAdded): where it came
/// from and how it got there. The event a download client's "completed" handling or a
/// notification listens for.
struct BookImported {
  static constexpr const char* kName = "BookImported";
  BookFile file;                 ///< the row recorded, at its library path
  std::filesystem::path source;  ///< where the file was before
  TransferAction action = TransferAction::copied;
};
/// {bookFileId, authorId, bookId, path, sourcePath, action ("hardlinked", "copied", ...)}
void to_json(nlohmann::json& j, const BookImported& e);

struct ImportOptions {
  std::shared_ptr<Catalog> catalog;        ///< required
  std::shared_ptr<EventBus> events;        ///< null: the host's bus (none without a host)
  std::shared_ptr<spdlog::logger> logger;  ///< null: a quiet logger
  /// The naming pattern, checked by `create` (`validate_naming`).
  std::string naming = std::string(kDefaultNaming);
  /// What `auto` means without a download client; `automatic` here is refused by `create`.
  ImportMode default_mode = ImportMode::move;
  /// The root folder for a new author folder when the author names none; 0: the first root.
  RowId root_folder_id = 0;
  /// fsync copies and folders (see TransferOptions::sync). Off only for tests.
  bool sync = true;
  /// The system clock when null (the `added` time of recorded rows).
  std::shared_ptr<Clock> clock;
};

class ImportService : public Service {
 public:
  /// Errors: invalid_argument for a missing catalog, a naming pattern that does not render, or
  /// `default_mode` automatic.
  static Result<std::shared_ptr<ImportService>> create(ImportOptions options);

  std::string_view name() const override { return "import"; }
  void register_commands(Registry& registry, ServiceContext& host) override;

  /// Every book file under `folder` (absolute; a folder or one file) as it would be imported:
  /// read, matched, its destination and its rejections (`GET /api/v1/manualimport?folder=`).
  /// Changes nothing. Candidates come in path order. Errors: invalid_argument (relative),
  /// not_found (no such folder), unavailable (cannot be read), store_error.
  Result<std::vector<ImportCandidate>> candidates(const std::filesystem::path& folder);

  /// The work behind the commands, callable directly (tests, tools). `ctx` may be null (no
  /// progress, no cancellation). Errors (nothing was imported): invalid_argument (a relative
  /// path, an empty file list), not_found (the path does not exist), unavailable (it cannot be
  /// read), store_error (the catalog cannot be read), cancelled (the files handled stay
  /// handled; the summary of those is lost, the log has them).
  Result<ImportSummary> downloaded_books_scan(const DownloadedBooksScan& command, JobContext* ctx = nullptr);
  Result<ImportSummary> manual_import(const ManualImport& command, JobContext* ctx = nullptr);

 private:
  struct Impl;
  explicit ImportService(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace shelfjobs

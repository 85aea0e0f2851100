// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The library service (name "library"): what a user does to the library by hand (add an
/// author, add a book), and the health of its root folders. The library scan (library_scan.hpp)
/// and the import are services of their own.
///
/// Events (on `LibraryOptions::events`, or the host's bus when null): AuthorAdded, BookAdded,
/// AuthorEdited, BookEdited, AuthorRemoved, BookRemoved (catalog_events.hpp) and
/// BookFileDeleted (library_scan.hpp); the refresh service's rules turn the first two into
/// refreshes.
///
/// Health check RootFolderCheck: a root folder that is missing or cannot be read is an error
/// (an unmounted drive shows here before anything looks empty).
///
/// Thread-safety: every member may be called from any thread.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include <spdlog/fwd.h>

#include "shelfjobs/adapters/metadata.hpp"
#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/engine/clock.hpp"
#include "shelfjobs/engine/events.hpp"
#include "shelfjobs/services/catalog_events.hpp"
#include "shelfjobs/services/service.hpp"

namespace shelfjobs {

struct LibraryOptions {
  std::shared_ptr<Catalog> catalog;        ///< required
  std::shared_ptr<MetadataSource> source;  ///< null: adding authors and books answers unavailable
  std::shared_ptr<EventBus> events;        ///< null: the host's bus (none without a host)
  std::shared_ptr<Clock> clock;            ///< null: system clock
  std::shared_ptr<spdlog::logger> logger;  ///< null: a quiet logger
  /// How long a removal that deletes files waits for a running import (see "Removals and
  /// imports" below) before it answers unavailable.
  std::chrono::milliseconds import_wait{std::chrono::seconds(30)};
};

/// What a person chooses when adding an author (Readarr's `monitored` and `addOptions`).
struct AddAuthorOptions {
  bool monitored = true;
  /// The books to monitor once the first refresh has brought them (book_monitoring.hpp); none:
  /// each book takes the author's `monitored`.
  std::optional<BookMonitor> monitor;
  /// Search for the monitored books without files once they are in (the acquisition service's
  /// AuthorSearch); none: that service's `search_on_author_added` decides.
  std::optional<bool> search_for_missing;
  /// Readarr's booksToMonitor: foreign book ids (Book::foreign_id); when not empty, exactly
  /// these books are monitored once the first refresh brings them, `monitor` aside.
  std::vector<std::string> books_to_monitor;
};

class LibraryService : public Service {
 public:
  /// Errors: invalid_argument when the catalog is missing.
  static Result<std::shared_ptr<LibraryService>> create(LibraryOptions options);

  std::string_view name() const override { return "library"; }
  void register_commands(Registry& registry, ServiceContext& host) override;
  std::vector<HealthCheck> health_checks() override;

  /// Adds an author by its foreign id under a root folder: the name comes from the source (one
  /// request), the folder is `root/safe_folder_name(name)`, the books come with the refresh
  /// that AuthorAdded triggers, which also carries the add-time choices of `options` (see
  /// AddAuthorOptions). Errors: invalid_argument (no such root folder), conflict (already in the
  /// catalog), and the source's failure as `to_error(MetadataError)` says: not_found (the source
  /// has no such author), unavailable (refused, timeout, 5xx, still loading), rate_limited (with
  /// its retry time), upstream_error (an unusable answer); unavailable too when no source is
  /// configured.
  Result<Author> add_author(const std::string& foreign_id, RowId root_folder_id,
                            AddAuthorOptions options = {});

  /// Finds an author the library lacks by name, from a book of theirs, and adds it as
  /// `add_author` does (AuthorAdded, whose refresh brings the books): searches the source for
  /// "title name" (when a title is given), then for the name alone, and takes the first hit whose
  /// author's name is `name` (compared as the library scan compares names: case, accents,
  /// "Last, First" and punctuation aside); at most five candidate authors are fetched. The library
  /// scan's addNewAuthors uses it. A hit whose author the source no longer knows (404) is passed
  /// over. Errors: not_found (no hit is by that name: the source's definite answer), conflict
  /// (that author is in the catalog already, or on the exclusions as an author), invalid_argument
  /// (an empty name, no such root folder), upstream_error (the search itself answered 404), and
  /// the source's other failures as for `add_author`.
  Result<Author> add_author_by_name(std::string_view name, std::string_view title, RowId root_folder_id,
                                    std::stop_token token = {});

  /// Adds a book (a work) by its foreign id, as a user does: the work, its editions and series
  /// come from the source (one request); the book is monitored as asked and marked manually
  /// added (a refresh never removes it for being gone upstream). When its author is not in the
  /// catalog yet, the author is added too, unmonitored, under `root_folder_id` (AuthorAdded
  /// then refreshes it). Publishes BookAdded, whose rule pushes RefreshBook. Errors as for
  /// `add_author`; `root_folder_id` is only needed (and checked) for a new author.
  Result<Book> add_book(const std::string& work_foreign_id, RowId root_folder_id, bool monitored = true);

  /// Readarr's author lookup: the authors of the metadata source's search hits for `term`, in
  /// hit order, each once, at most `limit`. A term "author:ID" (or "readarr:ID") names one
  /// author by its foreign id instead. Each author found costs one request (cached, as the
  /// refresh's). Errors: invalid_argument (an empty term, `limit` 0), not_found (an "author:ID"
  /// the source does not know), and the source's failures as for `add_author`.
  Result<std::vector<AuthorData>> find_authors(std::string_view term, std::size_t limit = 10,
                                               std::stop_token token = {});

  /// Readarr's book lookup: the works of the search hits for `term`, as `find_authors` finds
  /// authors; "work:ID" names one work.
  Result<std::vector<WorkData>> find_books(std::string_view term, std::size_t limit = 10,
                                           std::stop_token token = {});

  /// One entry of `find`: an author or a work (exactly one of them).
  struct Found {
    std::optional<AuthorData> author;
    std::optional<WorkData> work;
  };
  /// Readarr's mixed search: for each of the first `limit` search hits for `term`, its author
  /// (where it first comes) and then its work, in hit order; "author:ID" or "work:ID" names one
  /// entry. Errors as for `find_authors`.
  Result<std::vector<Found>> find(std::string_view term, std::size_t limit = 10, std::stop_token token = {});

  /// Adds a root folder, as a person does: `path` must be absolute and name a folder that
  /// exists and can be read (a mistyped or unmounted path is refused rather than reported
  /// later by RootFolderCheck). `name` empty: the folder's own name. Authors whose folders lie
  /// under it are linked to it (AuthorEdited for each): those linked to no root folder, and
  /// those of a root folder around it (an author's root folder is the deepest that holds its
  /// folder). Errors:
  /// invalid_argument (relative, missing, not a folder, unreadable: the message says which),
  /// conflict (already a root folder), store_error.
  Result<RootFolder> add_root_folder(const std::filesystem::path& path, std::string name = {});

  /// Removes a root folder (Readarr's root folder delete) and returns it: nothing on disk
  /// changes, and its authors stay with their folders, linked to no root folder (or, when
  /// another root folder holds the removed one, to that one, and the rest of this paragraph does
  /// not apply to them). From then on
  /// nothing in it is deleted for a person (files must lie in a root folder), a scan of every
  /// root folder leaves it out, a rescan of such an author names it in `skipped_roots` (the other
  /// authors of that rescan are scanned), and an import into its folder is rejected
  /// (`no_root_folder`). AuthorEdited goes out for each author it held. Adding the root folder
  /// again links them to it again. Errors: not_found, store_error.
  Result<RootFolder> remove_root_folder(RowId id);

  /// The root folder `path` lies strictly inside (the deepest, should roots nest), by the
  /// paths' text: where an author folder at `path` would belong. Errors: invalid_argument (in
  /// no root folder, or a root folder itself), store_error.
  Result<RootFolder> root_folder_of(const std::filesystem::path& path) const;

  /// Whether `folder` may be the folder of author `author_id`, by the rules `set_author_path`
  /// applies, changing nothing: the root folder it would belong to, or why not (the same errors).
  /// For a host that moves an author (MoveAuthor) and wants to refuse a bad target before the job.
  Result<RootFolder> check_author_folder(RowId author_id, const std::filesystem::path& folder) const;

  /// Sets whether the author is monitored; publishes AuthorEdited. A refresh that runs meanwhile
  /// keeps the choice (Catalog::apply never writes `monitored` of an existing row). Errors:
  /// not_found, store_error.
  Result<Author> set_author_monitored(RowId author_id, bool monitored);

  /// Points the author at another folder without moving anything on disk (the person moved it
  /// already, or wants the next imports there); the rows of its files keep their paths until a
  /// scan. To move the folder and its files, push the refresh service's MoveAuthor instead.
  /// `path` must be absolute and lie strictly inside a root folder (also once symbolic links are
  /// resolved), which becomes the author's, without holding a root folder; its parent folders
  /// need not exist yet. Publishes AuthorEdited. Errors: invalid_argument (relative, a NUL byte,
  /// a root folder itself or one holding a root folder, in no root folder, leading out of it),
  /// conflict (another author's folder, or one inside or around it), not_found, store_error.
  Result<Author> set_author_path(RowId author_id, const std::filesystem::path& path);

  /// Sets whether each book of `ids` is monitored, in one transaction, and publishes BookEdited
  /// for each. Errors: not_found (one of them is missing; nothing changes), store_error.
  Result<std::vector<Book>> set_books_monitored(const std::vector<RowId>& ids, bool monitored);
  /// Readarr's bookshelf editor: monitors the author's books as `monitor` says, from their
  /// release dates and files as the catalog holds them now, and publishes BookEdited for each
  /// book that changed (returned, as it is now). With `books_to_monitor` (Readarr's
  /// booksToMonitor: foreign book ids) not empty, exactly those books are monitored instead.
  /// The author's own `monitored` is left alone. Errors: not_found for a missing author,
  /// store_error.
  Result<std::vector<Book>> set_book_monitoring(RowId author_id, BookMonitor monitor,
                                                const std::vector<std::string>& books_to_monitor = {});

  /// Removals and imports: `remove_author`, `remove_book(s)` with `delete_files`, and
  /// `delete_files` hold the engine's `import` lock (kImportLock) from their first check to their
  /// last deletion, through the host the service was added to (ServiceContext::hold_locks), as
  /// the imports and MoveAuthor do: a folder is never deleted while an import writes into it,
  /// and an import that waited sees the removal done. Such a removal waits for a running import
  /// for up to `LibraryOptions::import_wait`, then answers unavailable and changes nothing; an
  /// import queued meanwhile waits for the removal. Without a host, or once the host has
  /// stopped, no import runs and nothing is waited for; while its engine stops, such a removal
  /// answers unavailable.
  ///
  /// Removes an author from the library, as a person does: its books, editions and series
  /// links go from the catalog, and AuthorRemoved is published (reason "removed by a user").
  /// Without `delete_files` the files stay on disk and their rows stay too, unmapped (reason
  /// "its author was removed"), so a scan shows them and can match them again. With
  /// `delete_files` the author's folder is deleted from disk, and the rows of the files under it
  /// (for a folder not on disk, only while its root folder is there and not empty: else
  /// unavailable, before anything changes); with a `recycle_bin` as well, the folder is moved into it instead
  /// (to its place under its root folder, with " (2)", " (3)", ... when that name is taken), by a rename, so
  /// the bin must be on the library's file system. Only a folder that `set_author_path` would accept is ever
  /// deleted or moved (strictly inside a root folder, once links are resolved too, holding no
  /// root folder and no other author's folder, inside no other author's folder; else
  /// invalid_argument or conflict, before anything changes). The rows
  /// change in up to three transactions (the files, the exclusion, then the author): a file
  /// linked to the author in between makes the last fail with conflict, which leaves the author
  /// in the catalog (excluded already, when asked), and the call may simply be made again.
  /// With `exclude` (Readarr's addImportListExclusion) its foreign id goes on the catalog's
  /// exclusions (kind author, its name; one there already is kept), and add_author_by_name (the
  /// library scan's addNewAuthors) no longer adds it from its files; a person may still add it.
  /// Errors: not_found, invalid_argument, conflict, store_error, unavailable (the author is
  /// removed but its folder could not be deleted or moved entirely: the message names the path
  /// and the reason).
  Status remove_author(RowId author_id, bool delete_files, const std::filesystem::path& recycle_bin = {},
                       bool exclude = false);

  /// Removes a book from the library, as a person does (Readarr's book delete): its editions and
  /// series links go from the catalog and BookRemoved is published (reason "removed by a
  /// user"). The author's next refresh brings it back from the source, unless `exclude`
  /// (Readarr's addImportListExclusion) first adds its work to the catalog's exclusions ("Author
  /// - Title"; one there already is kept). Without `delete_files` its files stay on disk and
  /// their rows stay too, unmapped (reason "its book was removed"). With `delete_files` each of
  /// its files is deleted, and its row; with a `recycle_bin` as well, moved into it instead (to
  /// its place under its root folder, with " (2)", ... when that name is taken; copied when the
  /// bin is on another file system, never over an existing file).
  /// Only a file strictly inside a root folder, once its folder's links are resolved too, is ever
  /// deleted or moved (else invalid_argument, before anything changes); one already gone from
  /// disk only loses its row, while its root folder is there and not empty (else unavailable,
  /// before anything changes). Publishes BookFileDeleted for each file row deleted. The book's rows, its
  /// files' rows and the exclusion change in one transaction. Errors: not_found,
  /// invalid_argument, store_error, unavailable (a file's path cannot be resolved, before
  /// anything changes; or the book is removed but a file could not be deleted or moved: the
  /// message names the first).
  Status remove_book(RowId book_id, bool delete_files, const std::filesystem::path& recycle_bin = {},
                     bool exclude = false);

  /// Readarr's book editor delete: `remove_book` for each of `book_ids` (an id given twice
  /// counts once), every book and file checked before any changes, so an id that is not a book
  /// or a file that may not be deleted removes nothing. Each book's rows change in one
  /// transaction. A file that could not be deleted or moved does not stop the others: the first
  /// such failure is answered (unavailable) once every book is removed.
  Status remove_books(const std::vector<RowId>& book_ids, bool delete_files,
                      const std::filesystem::path& recycle_bin = {}, bool exclude = false);

  /// Readarr's book file delete: each of `file_ids` (an id given twice counts once) is deleted
  /// from disk, or with a `recycle_bin` moved into it (to its place under its root folder, with
  /// " (2)", ... when that name is taken; copied when the bin is on another file system, never
  /// over an existing file; places chosen in one call never meet), and then its row goes and
  /// BookFileDeleted is published; its book becomes missing again. A file that is a symbolic
  /// link is removed as a link (never followed, never moved into the bin). A file already gone
  /// from disk only loses its row, and only while its
  /// root folder is there and not empty (else unavailable: an unmounted disk makes every file
  /// look gone). Every id is checked before anything changes: not_found for an id that is not a
  /// book file, invalid_argument for a file on disk whose folder does not lie strictly inside a
  /// root folder (once links are resolved too), unavailable when its path cannot be looked at or
  /// its root folder is missing or empty. A file that then cannot be deleted or moved keeps its
  /// row and does not stop the others; nor does one that left its path between the check and the
  /// delete, or whose row a move pointed elsewhere meanwhile (conflict: its row stays, and so
  /// does the file wherever it went). The first such failure is answered (naming the path) once
  /// the rest are done. Errors also store_error.
  Status delete_files(const std::vector<RowId>& file_ids, const std::filesystem::path& recycle_bin = {});

  /// The findings of RootFolderCheck now.
  std::vector<HealthIssue> check_root_folders() const;

 private:
  struct Impl;
  explicit LibraryService(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace shelfjobs

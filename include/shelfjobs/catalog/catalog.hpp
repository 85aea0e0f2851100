// SPDX-License-Identifier: MIT
#pragma once
/// The catalog: the library's own data (authors, books, editions, series, book files, root
/// folders) behind a repository interface, and its SQLite implementation.
///
/// The services read and write the catalog only through `Catalog`, so a host may put its own
/// storage behind it. `open_sqlite_catalog` gives the standard one: a SQLite file of its own (by
/// default apart from the job store, so a long catalog write never stalls job state changes),
/// WAL, versioned migrations, indexes for every lookup the services make.
///
/// Errors: every call returns a `Result`; a SQLite failure (I/O error, full disk, corrupt file)
/// is `errc::store_error` with SQLite's message, a missing row `errc::not_found`, a duplicate
/// foreign id or path `errc::conflict`. A failed write changes nothing: each write call is one
/// transaction.
///
/// Thread-safety: the SQLite catalog may be called from any thread; writes are serialised on
/// one connection, reads use their own.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/job.hpp"

namespace shelfjobs {

using RowId = std::int64_t;
using Date = std::chrono::sys_days;

enum class AuthorStatus : int { continuing = 0, ended = 1 };
std::string_view to_string(AuthorStatus s) noexcept;

struct RootFolder {
  RowId id = 0;
  std::filesystem::path path;  ///< absolute
  std::string name;
};

/// What an exclusion keeps out. The source's author ids and work ids are two numberings that
/// may hold the same number, so an exclusion says which one its id is in: a removed author's
/// id must not keep out a work that happens to share it. `any` (what Readarr's API adds, as its
/// resource does not say) keeps out both.
enum class ExclusionKind { any = 0, author = 1, book = 2 };

/// A foreign id that must not come into the catalog again (Readarr's import list exclusion): a
/// person removed the book (or the author) and asked for it to stay away. A refresh looks its new
/// works up here (kind book), the library scan's addNewAuthors its authors (kind author).
struct Exclusion {
  RowId id = 0;
  std::string foreign_id;
  std::string name;  ///< what it was, for a person reading the list ("Author - Title", or a name)
  ExclusionKind kind = ExclusionKind::any;
};

struct Author {
  RowId id = 0;
  std::string foreign_id;  ///< the metadata source's id, as a string
  std::string name;
  std::string sort_name;  ///< "Last, First" as the source or `sort_name_of` gives it
  std::string overview;
  std::filesystem::path path;  ///< the author's folder (under a root folder)
  RowId root_folder_id = 0;    ///< 0: none
  bool monitored = true;
  AuthorStatus status = AuthorStatus::continuing;
  std::optional<TimePoint> last_info_sync;  ///< when the source last confirmed the metadata
  std::string metadata_hash;                ///< hash of the source's mapped data at the last sync
  TimePoint added{};
};

struct Book {
  RowId id = 0;
  RowId author_id = 0;
  std::string foreign_id;  ///< the work's id at the source
  std::string title;
  std::optional<Date> release_date;
  std::vector<std::string> genres;
  bool monitored = true;
  bool manually_added = false;  ///< added by a user, not by an author refresh
  std::optional<TimePoint> last_info_sync;
  std::string metadata_hash;  ///< hash of the work's mapped data (editions, series included)
  TimePoint added{};
};

struct Edition {
  RowId id = 0;
  RowId book_id = 0;
  std::string foreign_id;
  std::string title;
  std::string isbn13;
  std::string asin;
  std::string format;
  bool is_ebook = false;
  int pages = 0;
  std::string publisher;
  std::string language;
  std::optional<Date> release_date;
  double rating = 0;       ///< rating count * average rating (popularity)
  bool monitored = false;  ///< one edition per book: the most popular
};

struct Series {
  RowId id = 0;
  std::string foreign_id;
  std::string title;
};

struct SeriesLink {
  RowId series_id = 0;
  RowId book_id = 0;
  std::string position;  ///< as the source spells it ("1", "2.5", "1-3")
  int series_position = 0;
  bool primary = false;
};

struct BookFile {
  RowId id = 0;
  RowId author_id = 0;         ///< 0: not matched to an author yet
  RowId book_id = 0;           ///< 0: not matched to a book yet
  RowId edition_id = 0;        ///< 0: not matched to an edition yet
  std::filesystem::path path;  ///< absolute; unique
  std::int64_t size = 0;
  TimePoint mtime{};
  std::string format;  ///< "epub", "mobi", "pdf", "m4b", ...
  TimePoint added{};   ///< when the catalog first recorded it (zero on insert: now)
  /// Empty when the file is matched to a book; else why it matched nothing ("no book of
  /// 'Ann Leckie' is titled 'Ancillary Mercy'"). An unmapped file keeps its author when the
  /// author was found.
  std::string unmapped_reason;
  /// Empty when the file's metadata was read; else why it could not be ("not a zip archive").
  std::string read_error;
  /// What the file said of itself (tags, a sidecar, its name), as the match saw it.
  std::string title;
  std::string author;
  std::string isbn13;
  std::string asin;
};

/// A library scan's changes, applied in one transaction: `upserts` by path (an existing
/// path's row is updated and keeps its id and `added`), then `removals` by id.
struct FileBatch {
  std::vector<BookFile> upserts;
  std::vector<RowId> removals;
};
struct FileBatchResult {
  std::vector<BookFile> upserted;  ///< with their ids, in the order given
  std::vector<BookFile> removed;   ///< the rows as they were (ids that were gone already are skipped)
};

/// What matching a file to a book needs of a catalog book.
struct BookIdentity {
  RowId book_id = 0;
  RowId author_id = 0;
  std::string title;
  std::string author_name;
  bool monitored = false;
  struct EditionKey {
    RowId id = 0;
    std::string isbn13;
    std::string asin;
    std::string title;
  };
  std::vector<EditionKey> editions;
};

/// One page of books, with the total across pages.
struct BookPage {
  std::vector<Book> books;
  std::int64_t total = 0;
};

struct CatalogCounts {
  std::int64_t authors = 0, books = 0, editions = 0, series = 0, files = 0, root_folders = 0;
};

/// What `Catalog::remove_orphans` removed (and unlinked).
struct CatalogOrphans {
  std::int64_t books = 0;           ///< books whose author is gone
  std::int64_t editions = 0;        ///< editions whose book is gone
  std::int64_t series_links = 0;    ///< series links to a book or series that is gone
  std::int64_t series = 0;          ///< series no book belongs to any more
  std::int64_t files_unlinked = 0;  ///< file rows of books or authors that are gone, now unmapped
  std::int64_t total() const noexcept { return books + editions + series_links + series + files_unlinked; }
};

/// A book as a refresh writes it: the row with its editions and series links. Series are named
/// by foreign id and created when missing.
struct BookWrite {
  Book book;                      ///< id 0: insert; else update that row
  std::vector<Edition> editions;  ///< replaces the book's editions (matched by foreign id)
  struct Link {
    std::string series_foreign_id;
    std::string series_title;
    std::string position;
    int series_position = 0;
    bool primary = false;
  };
  std::vector<Link> series;  ///< replaces the book's series links
  /// For a new book (id 0): it takes its author's `monitored` as stored when the write runs,
  /// not `book.monitored`. A refresh sets it, so that a person who unmonitors an author while
  /// its refresh fetches does not get the new books monitored anyway.
  bool monitored_as_author = false;
};

/// What an author refresh changes, applied in one transaction by `Catalog::apply`.
struct AuthorWrite {
  std::optional<Author> author;  ///< the author row to update (id set); none: unchanged
  std::vector<BookWrite> books;  ///< books to insert (id 0) or update
  /// Books to delete (with editions and links); one a file is linked to when the transaction
  /// runs is kept instead (`AuthorWriteResult::kept_books`).
  std::vector<RowId> removed_books;
  /// A merge: every book of `merge_from` moves to `author->id`, then `merge_from` is deleted
  /// (its files are re-pointed to the target, never deleted).
  RowId merge_from = 0;
  /// The author's metadata hash as the writer read it with the row: `author`'s hash is written
  /// only while the stored one still equals it (a book removed meanwhile changed it, so the next
  /// refresh compares again). None: written as given.
  std::optional<std::string> hash_read;
};

/// What goes with a book's removal, in its transaction.
struct BookRemoval {
  FileBatch files;                     ///< its files' rows: removed, or rewritten (unlinked)
  std::optional<Exclusion> exclusion;  ///< added unless its foreign id is excluded already
};

/// What `apply` did: the rows it wrote (as `Catalog::rows_written` counts them), the ids it gave new books
/// (in `books` order, 0 for updates), and the `removed_books` it kept because a file was linked to them by
/// the time the transaction ran.
struct AuthorWriteResult {
  std::int64_t rows_written = 0;
  std::vector<RowId> new_book_ids;
  std::vector<RowId> kept_books;
};

class Catalog {
 public:
  virtual ~Catalog() = default;

  // Root folders.
  /// `path` must be absolute (`errc::invalid_argument`); `errc::conflict` if it exists. An
  /// empty name becomes the folder's own name. An author is linked to the deepest root folder
  /// that holds its folder: those whose folders lie under `path` are linked to the new one,
  /// whether they were linked to none (theirs was removed, see remove_root_folder) or to a root
  /// folder around `path`.
  virtual Result<RootFolder> add_root_folder(const std::filesystem::path& path, std::string name = {}) = 0;
  virtual Result<std::vector<RootFolder>> root_folders() = 0;
  virtual Result<RootFolder> root_folder(RowId id) = 0;
  /// Removes a root folder and returns it. Its authors stay, with their folders, as Readarr's
  /// authors keep their paths: each is linked to the deepest root folder left that holds its
  /// folder (one around the removed one), else to none (`root_folder_id` 0). Errors: not_found.
  virtual Result<RootFolder> remove_root_folder(RowId id) = 0;

  // Authors.
  /// Inserts the author (id ignored; an empty sort name becomes `sort_name_of(name)`, a zero
  /// `added` now). `errc::conflict` if its foreign id or path is taken.
  virtual Result<Author> add_author(Author author) = 0;
  virtual Result<Author> author(RowId id) = 0;
  virtual Result<Author> author_by_foreign_id(std::string_view foreign_id) = 0;
  /// Every author, by sort name then name.
  virtual Result<std::vector<Author>> authors() = 0;
  /// Deletes the author, its books, editions and series links. `errc::conflict` if files are
  /// still linked to it or to one of its books (they are never deleted by the catalog).
  virtual Status remove_author(RowId id) = 0;
  /// Applies a refresh's changes in one transaction, in this order: the merge, the author row,
  /// `removed_books`, then `books` (a book with author id 0 goes to `author`). Writes nothing
  /// beyond what `write` names: an empty write writes no row, and editions and series links
  /// that already match are left alone. An existing author's or book's `monitored`, and an
  /// existing author's `path` and `root_folder_id`, are kept as stored (a person sets them, with
  /// set_author_monitored, set_books_monitored, set_author_path and move_author), so a choice
  /// made while a refresh runs is not undone by the row the refresh read before it; a new book
  /// takes the `monitored` it is written with (or its author's: BookWrite::monitored_as_author).
  /// A book the write updates or removes that is gone meanwhile (a person removed it) is
  /// skipped. `errc::not_found` for a missing author, `errc::conflict` for a foreign id that
  /// belongs to another row.
  virtual Result<AuthorWriteResult> apply(const AuthorWrite& write) = 0;
  /// Sets whether the author is monitored and returns the author as it is now.
  /// `errc::not_found` for a missing author.
  virtual Result<Author> set_author_monitored(RowId id, bool monitored) = 0;
  /// Sets the author's path (and its root folder to the one the new path lies in, when one
  /// does) and rewrites the path of every book file under its old folder (old
  /// path + "/", whichever author the file is linked to, or none) to the same place under
  /// `new_path`, in one transaction (a folder move). The files' links are left as they are.
  /// Returns the number of file rows re-pointed (0 when the author had no folder or `new_path`
  /// is its folder already). `errc::invalid_argument` for a relative `new_path`,
  /// `errc::conflict` if another author has `new_path` or a re-pointed path is another file
  /// row's already (then nothing changes).
  virtual Result<std::int64_t> move_author(RowId id, const std::filesystem::path& new_path) = 0;
  /// Sets the author's path, and its root folder to the one the path lies in (the deepest; kept
  /// when none does), and nothing else: no file row changes (nothing moved on disk). With
  /// `only_if_unset`, an author that has a path already keeps it (the result shows which).
  /// Returns the author as it is now. `errc::invalid_argument` for a relative path,
  /// `errc::not_found` for a missing author, `errc::conflict` if another author has the path.
  virtual Result<Author> set_author_path(RowId id, const std::filesystem::path& path, bool only_if_unset) = 0;

  // Books.
  /// Inserts a book (and its editions and links) for an existing author (`errc::not_found`
  /// otherwise).
  virtual Result<Book> add_book(BookWrite book) = 0;
  virtual Result<Book> book(RowId id) = 0;
  virtual Result<Book> book_by_foreign_id(std::string_view foreign_id) = 0;
  /// Every book of the author, by release date (undated last) then title.
  virtual Result<std::vector<Book>> books_of(RowId author_id) = 0;
  /// Every book of the library.
  virtual Result<std::vector<Book>> books() = 0;
  virtual Result<std::vector<Edition>> editions_of(RowId book_id) = 0;
  /// One edition by its id. Errors: not_found.
  virtual Result<Edition> edition(RowId id) = 0;
  virtual Result<std::vector<SeriesLink>> series_links_of(RowId book_id) = 0;
  virtual Result<Series> series(RowId id) = 0;
  /// The newest release date among the author's books (none when no book has one).
  virtual Result<std::optional<Date>> newest_release(RowId author_id) = 0;
  /// Deletes the book, its editions and series links, and applies `also` (its files' rows, an
  /// exclusion), in one transaction. A file row `also` leaves alone keeps its author and loses
  /// its book and edition. The author's stored metadata hash is replaced by a mark, so that its
  /// next refresh compares the books with the source again (and brings the book back unless it
  /// is excluded), even one that read the row before. `errc::not_found` when it is not there.
  virtual Status remove_book(RowId id, const BookRemoval& also = {}) = 0;
  /// Sets whether each book of `ids` is monitored, in one transaction, and returns the books as
  /// they are now, in the order of `ids` (an id given twice comes twice). `errc::not_found`
  /// when one of them is missing; then nothing changes.
  virtual Result<std::vector<Book>> set_books_monitored(const std::vector<RowId>& ids, bool monitored) = 0;
  /// Sets each listed book's `monitored` to its own value, in one transaction, and returns the
  /// books whose value changed, as they are now, in list order. A book that is not there (a
  /// refresh removed it meanwhile) is skipped: the caller decided from an earlier read.
  virtual Result<std::vector<Book>> set_books_monitoring(
      const std::vector<std::pair<RowId, bool>>& changes) = 0;

  // Book files.
  /// Inserts or (same path) updates a file row; the path must be absolute.
  virtual Result<BookFile> upsert_file(BookFile file) = 0;
  virtual Result<BookFile> file(RowId id) = 0;
  /// `errc::not_found` when no row has the path.
  virtual Result<BookFile> file_by_path(const std::filesystem::path& path) = 0;
  /// The files linked to the author or to one of its books, by path.
  virtual Result<std::vector<BookFile>> files_of_author(RowId author_id) = 0;
  virtual Result<std::vector<BookFile>> files_of_book(RowId book_id) = 0;
  /// Files matched to no book, by path.
  virtual Result<std::vector<BookFile>> unmapped_files() = 0;
  /// How many files `files_of_author` lists.
  virtual Result<std::int64_t> file_count_of_author(RowId author_id) = 0;
  virtual Result<std::int64_t> file_count_of_book(RowId book_id) = 0;
  /// Calls `fn` with each file row at `folder` or under it, in path order, one row at a time
  /// (the rows are never all in memory: a scan of a large library stays small). `fn` must not
  /// call the catalog (the read connection is held); an exception from it ends the walk and
  /// passes through. `folder` must be absolute (`errc::invalid_argument`).
  virtual Status for_each_file_under(const std::filesystem::path& folder,
                                     const std::function<void(const BookFile&)>& fn) = 0;
  /// As `for_each_file_under`, for the rows lying in `folder` itself only (not in its
  /// sub-folders). One index seek per such row and per sub-folder that has rows: the rows of
  /// the sub-folders are not read.
  virtual Status for_each_file_in(const std::filesystem::path& folder,
                                  const std::function<void(const BookFile&)>& fn) = 0;
  /// The folders right under `folder` that hold file rows (at any depth below them), each
  /// once, as `catalog_path` strings, in the order of their rows' paths ("/lib/Ann Other"
  /// before "/lib/Ann": its rows' paths sort first); files lying in `folder` itself name no
  /// folder. One index seek per folder returned, none of their rows read: a library scan finds
  /// the author folders gone whole with it. `folder` must be absolute (`errc::invalid_argument`).
  virtual Result<std::vector<std::string>> folders_with_files_under(const std::filesystem::path& folder) = 0;
  /// Applies a batch in one transaction (nothing when it fails). Upserts with a relative path
  /// are `errc::invalid_argument`; links to missing rows `errc::not_found`.
  virtual Result<FileBatchResult> apply_files(const FileBatch& batch) = 0;
  /// Deletes the file row (the file on disk is the caller's). `errc::not_found` when missing.
  virtual Result<BookFile> remove_file(RowId id) = 0;
  /// Files still linked to an author or a book that is gone, or to a book of another author
  /// (orphans of a removal made outside the catalog), are unlinked and marked unmapped with
  /// `reason`. Returns how many.
  virtual Result<std::int64_t> unlink_orphaned_files(std::string_view reason) = 0;

  /// Housekeeping: deletes the rows whose parent is gone (written by a tool with foreign keys
  /// off, or by an older release): books without an author, editions without a book, series
  /// links to a missing book or series, series without a book. Book files of missing books or
  /// authors are unlinked and marked unmapped with `reason` (as `unlink_orphaned_files`), never
  /// deleted: the file on disk is the user's, and the next scan matches it again. One
  /// transaction: on error nothing changes.
  virtual Result<CatalogOrphans> remove_orphans(std::string_view reason) = 0;

  /// Every book with its author's name and its editions' ISBNs and ASINs, one at a time.
  /// `fn` must not call the catalog.
  virtual Status for_each_book_identity(const std::function<void(const BookIdentity&)>& fn) = 0;
  /// Monitored books of monitored authors without a file, newest release first (undated
  /// last), `page` from 1. Errors: `errc::invalid_argument` for a page or size below 1.
  virtual Result<BookPage> missing_books(std::int64_t page, std::int64_t page_size) = 0;

  // Exclusions (foreign ids a refresh must not add again).
  /// Every exclusion, by id.
  virtual Result<std::vector<Exclusion>> exclusions() = 0;
  virtual Result<Exclusion> exclusion(RowId id) = 0;
  /// Adds one (id ignored). Errors: invalid_argument (an empty foreign id), conflict (that
  /// foreign id is excluded already for that kind: by one of that kind, or either is any).
  virtual Result<Exclusion> add_exclusion(Exclusion e) = 0;
  /// Rewrites one by its id (its kind too). Errors: not_found, invalid_argument, conflict (as
  /// add_exclusion).
  virtual Result<Exclusion> update_exclusion(Exclusion e) = 0;
  /// Errors: not_found.
  virtual Status remove_exclusion(RowId id) = 0;
  /// Which of `foreign_ids` are excluded as `kind`: by an exclusion of that kind or of kind any
  /// (`kind` any: by any exclusion).
  virtual Result<std::set<std::string>> excluded(const std::vector<std::string>& foreign_ids,
                                                 ExclusionKind kind) = 0;

  virtual Result<CatalogCounts> counts() = 0;
  /// Rows inserted, updated or deleted through this catalog since it was opened, its own
  /// bookkeeping rows included (the mark a removal of a table's newest row leaves in `id_high`).
  virtual std::int64_t rows_written() const = 0;
};

struct SqliteCatalogOptions {
  std::filesystem::path path;  ///< the database file; created when missing
  /// How long opening the file and each statement wait for another process's lock on it
  /// (a backup, the sqlite3 shell) before failing with `store_error`. Not negative. Default: 5 s.
  std::chrono::milliseconds busy_timeout{5000};
};

/// Opens (creating and migrating) the SQLite catalog. Errors: `errc::store_error` when the file
/// cannot be opened or migrated (the message names the file), `errc::invalid_argument` when the
/// file's schema is newer than this build knows.
Result<std::shared_ptr<Catalog>> open_sqlite_catalog(const SqliteCatalogOptions& options);

/// The schema version `open_sqlite_catalog` migrates a file to (a backup's manifest records it).
int catalog_schema_version() noexcept;

/// A path as the catalog stores and compares it: lexically normal, without a trailing
/// separator ("/lib/Ann/" and "/lib/./Ann" are "/lib/Ann"). Callers that match their own paths
/// against the catalog's use it too.
std::string catalog_path(const std::filesystem::path& path);
/// True when `path` is `folder` or lies under it, whole components only ("/lib/Ann Other" is
/// not under "/lib/Ann"). Both in `catalog_path` form.
bool path_is_under(std::string_view path, std::string_view folder) noexcept;

/// "Ada Example" -> "Example, Ada"; a single word stays as it is; a suffix ("Jr.") and a closing
/// parenthetical ("Ann Leckie (Editor)" -> "Leckie, Ann (Editor)") stay at the end.
std::string sort_name_of(std::string_view name);

/// `name` with what Windows, macOS and Linux refuse in a name replaced as Readarr's file-name
/// cleaning does: ": " -> " - ", ":" -> "-", "/" and "\" -> "+", '"' -> "'"; `*?<>|` and control
/// characters dropped (tab and newline read as a space); runs of spaces as one; invalid UTF-8
/// repaired. Nothing trimmed; may be empty. The base of `safe_folder_name` and of the naming
/// patterns' values (naming.hpp), so an author's folder reads the same whoever made it.
std::string replace_unsafe_characters(std::string_view name);

/// A folder or file name safe on common file systems: `replace_unsafe_characters`, dots and
/// spaces trimmed at the ends, cut to `max_bytes` (at least 8) on a UTF-8 boundary, a Windows
/// device name ("CON", "nul.txt") given a "_" after its stem; an empty result becomes "_".
std::string safe_folder_name(std::string_view name, std::size_t max_bytes = 255);

/// True for Windows device names, with or without an extension ("CON", "nul.txt", "Com1").
bool is_reserved_name(std::string_view name);

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
// The SQLite catalog.
//
// Who owns what:
//  - `write_` is the only connection that writes; `write_mutex_` serialises its users, and each
//    write call is one BEGIN IMMEDIATE transaction, so a failed call changes nothing.
//  - `read_` serves the reads under `read_mutex_`, each in a deferred transaction (one WAL
//    snapshot per call), so a long refresh write never stalls the UI's reads.
//  - `rows_written_` adds a write call's sqlite3_total_changes64 delta when it commits: a
//    rolled-back call adds nothing, and cascaded deletes and SET NULLs count (they are rows the
//    call changed).

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include "catalog/file_rows.hpp"
#include "catalog/sqlite_common.hpp"
#include "engine/sqlite/sqlite_toolkit.hpp"
#include "shelfjobs/catalog/catalog.hpp"

namespace shelfjobs {
namespace {

namespace fs = std::filesystem;
using namespace catalog_sqlite;

// ---- schema ----------------------------------------------------------------------------------

// Append only: a released migration never changes, a new one is a new entry (index + 1 =
// version). sqlite::migrate keeps the version under the name "catalog", not in PRAGMA
// user_version, so a host may keep the catalog in the job store's file without the two schemas'
// versions meeting; `catalog_meta` (where earlier releases kept it) follows it.
//
// Lookups and their indexes: UNIQUE columns (authors.foreign_id and path, books.foreign_id,
// editions.foreign_id, series.foreign_id, book_files.path, root_folders.path) carry SQLite's
// automatic unique index; the others are below. editions by book_id, book_files by book_id and
// edition_id, series_books by book_id also serve the cascades.
const std::vector<std::string>& catalog_migrations() {
  static const std::vector<std::string> migrations = {
      R"sql(
CREATE TABLE root_folders (
  id   INTEGER PRIMARY KEY,
  path TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL DEFAULT ''
);
CREATE TABLE authors (
  id             INTEGER PRIMARY KEY,
  foreign_id     TEXT    NOT NULL UNIQUE,
  name           TEXT    NOT NULL,
  sort_name      TEXT    NOT NULL,
  overview       TEXT    NOT NULL DEFAULT '',
  path           TEXT    UNIQUE,               -- NULL: no folder yet
  root_folder_id INTEGER REFERENCES root_folders(id),
  monitored      INTEGER NOT NULL DEFAULT 1,
  status         INTEGER NOT NULL DEFAULT 0,
  last_info_sync INTEGER,                      -- Unix ms
  metadata_hash  TEXT    NOT NULL DEFAULT '',
  added          INTEGER NOT NULL              -- Unix ms
);
CREATE INDEX authors_by_sort_name ON authors(sort_name COLLATE NOCASE, name);
CREATE TABLE books (
  id             INTEGER PRIMARY KEY,
  author_id      INTEGER NOT NULL REFERENCES authors(id) ON DELETE CASCADE,
  foreign_id     TEXT    NOT NULL UNIQUE,
  title          TEXT    NOT NULL,
  release_date   TEXT,                         -- 'YYYY-MM-DD'
  genres         TEXT    NOT NULL DEFAULT '[]',-- JSON array of strings
  monitored      INTEGER NOT NULL DEFAULT 1,
  manually_added INTEGER NOT NULL DEFAULT 0,
  last_info_sync INTEGER,
  metadata_hash  TEXT    NOT NULL DEFAULT '',
  added          INTEGER NOT NULL
);
CREATE INDEX books_by_author ON books(author_id);
CREATE INDEX books_by_author_release ON books(author_id, release_date);
CREATE TABLE editions (
  id           INTEGER PRIMARY KEY,
  book_id      INTEGER NOT NULL REFERENCES books(id) ON DELETE CASCADE,
  foreign_id   TEXT    NOT NULL UNIQUE,
  title        TEXT    NOT NULL DEFAULT '',
  isbn13       TEXT    NOT NULL DEFAULT '',
  asin         TEXT    NOT NULL DEFAULT '',
  format       TEXT    NOT NULL DEFAULT '',
  is_ebook     INTEGER NOT NULL DEFAULT 0,
  pages        INTEGER NOT NULL DEFAULT 0,
  publisher    TEXT    NOT NULL DEFAULT '',
  language     TEXT    NOT NULL DEFAULT '',
  release_date TEXT,
  rating       REAL    NOT NULL DEFAULT 0,
  monitored    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX editions_by_book ON editions(book_id);
CREATE INDEX editions_by_isbn13 ON editions(isbn13);
CREATE INDEX editions_by_asin ON editions(asin);
CREATE TABLE series (
  id         INTEGER PRIMARY KEY,
  foreign_id TEXT NOT NULL UNIQUE,
  title      TEXT NOT NULL DEFAULT ''
);
CREATE TABLE series_books (
  series_id       INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
  book_id         INTEGER NOT NULL REFERENCES books(id) ON DELETE CASCADE,
  position        TEXT    NOT NULL DEFAULT '',
  series_position INTEGER NOT NULL DEFAULT 0,
  is_primary      INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (series_id, book_id)
);
CREATE INDEX series_books_by_book ON series_books(book_id);
CREATE TABLE book_files (
  id         INTEGER PRIMARY KEY,
  path       TEXT    NOT NULL UNIQUE,
  size       INTEGER NOT NULL DEFAULT 0,
  mtime      INTEGER NOT NULL DEFAULT 0,         -- Unix ms
  format     TEXT    NOT NULL DEFAULT '',
  -- No action on delete: the catalog never deletes files, so remove_author refuses first and
  -- this is the backstop.
  author_id  INTEGER REFERENCES authors(id),
  book_id    INTEGER REFERENCES books(id) ON DELETE SET NULL,
  edition_id INTEGER REFERENCES editions(id) ON DELETE SET NULL
);
CREATE INDEX book_files_by_author ON book_files(author_id);
CREATE INDEX book_files_by_book ON book_files(book_id);
CREATE INDEX book_files_by_edition ON book_files(edition_id);
)sql",
      // 2: what a library scan learns of a file (its own metadata, why it matched nothing or
      // could not be read) and when the catalog first saw it.
      R"sql(
ALTER TABLE book_files ADD COLUMN added           INTEGER NOT NULL DEFAULT 0;  -- Unix ms
ALTER TABLE book_files ADD COLUMN unmapped_reason TEXT    NOT NULL DEFAULT '';
ALTER TABLE book_files ADD COLUMN read_error      TEXT    NOT NULL DEFAULT '';
ALTER TABLE book_files ADD COLUMN title           TEXT    NOT NULL DEFAULT '';
ALTER TABLE book_files ADD COLUMN author          TEXT    NOT NULL DEFAULT '';
ALTER TABLE book_files ADD COLUMN isbn13          TEXT    NOT NULL DEFAULT '';
ALTER TABLE book_files ADD COLUMN asin            TEXT    NOT NULL DEFAULT '';
)sql",
      // 3: works and authors a person removed and asked a refresh not to bring back.
      R"sql(
CREATE TABLE exclusions (
  id         INTEGER PRIMARY KEY,
  foreign_id TEXT NOT NULL UNIQUE,
  name       TEXT NOT NULL DEFAULT ''
);
)sql",
      // 4: an exclusion says whether its foreign id is an author's or a work's (ExclusionKind);
      // the ones from before say neither (0, any). SQLite cannot change a UNIQUE constraint, so
      // the table is copied; nothing refers to it.
      R"sql(
CREATE TABLE exclusions_by_kind (
  id         INTEGER PRIMARY KEY,
  foreign_id TEXT    NOT NULL,
  name       TEXT    NOT NULL DEFAULT '',
  kind       INTEGER NOT NULL DEFAULT 0,   -- ExclusionKind: 0 any, 1 author, 2 book
  UNIQUE (foreign_id, kind)
);
INSERT INTO exclusions_by_kind (id, foreign_id, name) SELECT id, foreign_id, name FROM exclusions;
DROP TABLE exclusions;
ALTER TABLE exclusions_by_kind RENAME TO exclusions;
)sql",
      // 5: a removed row's id is never handed out again (see keep_ids_migration).
      keep_ids_migration(
          {"root_folders", "authors", "books", "editions", "series", "book_files", "exclusions"}),
  };
  return migrations;
}

// ---- conversions -----------------------------------------------------------------------------

std::string genres_text(const std::vector<std::string>& genres) { return nlohmann::json(genres).dump(); }

std::vector<std::string> parse_genres(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& g : j)
    if (g.is_string()) out.push_back(g.get<std::string>());
  return out;
}

// ---- statements ------------------------------------------------------------------------------

// One column list per entity: the mappers read by name, so a column and its index cannot drift.
constexpr sqlite::Columns kAuthor{"id",       "foreign_id",     "name",           "sort_name",
                                  "overview", "path",           "root_folder_id", "monitored",
                                  "status",   "last_info_sync", "metadata_hash",  "added"};
Author author_row(SQLite::Statement& st) {
  Author a;
  a.id = column<RowId>(st, kAuthor["id"]);
  a.foreign_id = column<std::string>(st, kAuthor["foreign_id"]);
  a.name = column<std::string>(st, kAuthor["name"]);
  a.sort_name = column<std::string>(st, kAuthor["sort_name"]);
  a.overview = column<std::string>(st, kAuthor["overview"]);
  a.path = column<std::string>(st, kAuthor["path"]);  // NULL: no folder, an empty path
  a.root_folder_id = column<RowId>(st, kAuthor["root_folder_id"]);
  a.monitored = column<bool>(st, kAuthor["monitored"]);
  a.status = column<AuthorStatus>(st, kAuthor["status"]);
  a.last_info_sync = column<std::optional<TimePoint>>(st, kAuthor["last_info_sync"]);
  a.metadata_hash = column<std::string>(st, kAuthor["metadata_hash"]);
  a.added = column<TimePoint>(st, kAuthor["added"]);
  return a;
}

constexpr sqlite::Columns kBook{"id",     "author_id", "foreign_id",     "title",          "release_date",
                                "genres", "monitored", "manually_added", "last_info_sync", "metadata_hash",
                                "added"};
Book book_row(SQLite::Statement& st) {
  Book b;
  b.id = column<RowId>(st, kBook["id"]);
  b.author_id = column<RowId>(st, kBook["author_id"]);
  b.foreign_id = column<std::string>(st, kBook["foreign_id"]);
  b.title = column<std::string>(st, kBook["title"]);
  b.release_date = column<std::optional<Date>>(st, kBook["release_date"]);
  b.genres = parse_genres(column<std::string>(st, kBook["genres"]));
  b.monitored = column<bool>(st, kBook["monitored"]);
  b.manually_added = column<bool>(st, kBook["manually_added"]);
  b.last_info_sync = column<std::optional<TimePoint>>(st, kBook["last_info_sync"]);
  b.metadata_hash = column<std::string>(st, kBook["metadata_hash"]);
  b.added = column<TimePoint>(st, kBook["added"]);
  return b;
}

constexpr sqlite::Columns kEdition{"id",       "book_id",      "foreign_id", "title",    "isbn13",
                                   "asin",     "format",       "is_ebook",   "pages",    "publisher",
                                   "language", "release_date", "rating",     "monitored"};
Edition edition_row(SQLite::Statement& st) {
  Edition e;
  e.id = column<RowId>(st, kEdition["id"]);
  e.book_id = column<RowId>(st, kEdition["book_id"]);
  e.foreign_id = column<std::string>(st, kEdition["foreign_id"]);
  e.title = column<std::string>(st, kEdition["title"]);
  e.isbn13 = column<std::string>(st, kEdition["isbn13"]);
  e.asin = column<std::string>(st, kEdition["asin"]);
  e.format = column<std::string>(st, kEdition["format"]);
  e.is_ebook = column<bool>(st, kEdition["is_ebook"]);
  e.pages = column<int>(st, kEdition["pages"]);
  e.publisher = column<std::string>(st, kEdition["publisher"]);
  e.language = column<std::string>(st, kEdition["language"]);
  e.release_date = column<std::optional<Date>>(st, kEdition["release_date"]);
  e.rating = column<double>(st, kEdition["rating"]);
  e.monitored = column<bool>(st, kEdition["monitored"]);
  return e;
}

bool same_edition(const Edition& a, const Edition& b) {
  return a.title == b.title && a.isbn13 == b.isbn13 && a.asin == b.asin && a.format == b.format &&
         a.is_ebook == b.is_ebook && a.pages == b.pages && a.publisher == b.publisher &&
         a.language == b.language && a.release_date == b.release_date && a.rating == b.rating &&
         a.monitored == b.monitored;
}

// The files of author ?1: linked to it, or to one of its books (a file row's author_id may lag
// behind its book's, or be NULL while the book is matched).
constexpr const char* kFilesOfAuthor =
    "(author_id = ?1 OR book_id IN (SELECT id FROM books WHERE author_id = ?1))";

constexpr sqlite::Columns kRoot{"id", "path", "name"};
RootFolder root_row(SQLite::Statement& st) {
  RootFolder r;
  r.id = column<RowId>(st, kRoot["id"]);
  r.path = column<std::string>(st, kRoot["path"]);
  r.name = column<std::string>(st, kRoot["name"]);
  return r;
}

constexpr sqlite::Columns kExclusion{"id", "foreign_id", "name", "kind"};
Exclusion exclusion_row(SQLite::Statement& st) {
  Exclusion e;
  e.id = column<RowId>(st, kExclusion["id"]);
  e.foreign_id = column<std::string>(st, kExclusion["foreign_id"]);
  e.name = column<std::string>(st, kExclusion["name"]);
  e.kind = column<ExclusionKind>(st, kExclusion["kind"]);
  return e;
}

constexpr sqlite::Columns kSeries{"id", "foreign_id", "title"};
Series series_row(SQLite::Statement& st) {
  return Series{column<RowId>(st, kSeries["id"]), column<std::string>(st, kSeries["foreign_id"]),
                column<std::string>(st, kSeries["title"])};
}

constexpr sqlite::Columns kLink{"series_id", "book_id", "position", "series_position", "is_primary"};
SeriesLink link_row(SQLite::Statement& st) {
  return SeriesLink{column<RowId>(st, kLink["series_id"]), column<RowId>(st, kLink["book_id"]),
                    column<std::string>(st, kLink["position"]), column<int>(st, kLink["series_position"]),
                    column<bool>(st, kLink["is_primary"])};
}

// ---- the catalog -----------------------------------------------------------------------------

class SqliteCatalog final : public Catalog {
 public:
  SqliteCatalog(std::string path, std::unique_ptr<SQLite::Database> write,
                std::unique_ptr<SQLite::Database> read)
      : path_(std::move(path)), write_(std::move(write)), read_(std::move(read)) {}

  // Root folders ---------------------------------------------------------------------------------

  Result<RootFolder> add_root_folder(const fs::path& path, std::string name) override {
    if (!path.is_absolute())
      return Error{errc::invalid_argument,
                   "root folder path " + in_quotes(path.string()) + " is not absolute"};
    const std::string p = clean_path(path);
    if (name.empty()) name = fs::path(p).filename().string();
    return write_call("add root folder " + in_quotes(p), [&](Connection& c) {
      {
        auto st = c.prepare("SELECT id FROM root_folders WHERE path = ?");
        st->bind(1, p);
        if (st->executeStep())
          fail(errc::conflict, "root folder " + in_quotes(p) + " exists (root folder " +
                                   std::to_string(st->getColumn(0).getInt64()) + ")");
      }
      auto st = c.prepare("INSERT INTO root_folders (id, path, name) VALUES (" + next_id("root_folders") +
                          ", ?, ?)");
      st->bind(1, p);
      st->bind(2, name);
      st->exec();
      const RowId id = c.db().getLastInsertRowid();
      // Each author is linked to the deepest root folder that holds its folder (the rule
      // write_author_path links a folder by): those whose root folder was removed come back to
      // this one, and those of a root folder around this one move in to it. Authors are few
      // next to books: read them all.
      auto all = c.prepare("SELECT id, path FROM authors WHERE path <> ''");
      relink_authors(c, all, root_paths(c), [id](std::optional<RowId> deepest) { return deepest == id; });
      return RootFolder{id, p, name};
    });
  }

  Result<std::vector<RootFolder>> root_folders() override {
    return read_call("list root folders", [&](Connection& c) {
      std::vector<RootFolder> out;
      auto st = c.prepare("SELECT " + kRoot.list() + " FROM root_folders ORDER BY path");
      while (st->executeStep()) out.push_back(root_row(*st));
      return out;
    });
  }

  Result<RootFolder> root_folder(RowId id) override {
    return read_call("read root folder", [&](Connection& c) { return load_root(c, id); });
  }

  Result<RootFolder> remove_root_folder(RowId id) override {
    return write_call("remove root folder " + std::to_string(id), [&](Connection& c) {
      RootFolder r = load_root(c, id);
      // Its authors go to the deepest root folder left that holds their folders (one around
      // this one), else to none; before the row goes, which they must no longer name.
      auto of_root = c.prepare("SELECT id, path FROM authors WHERE root_folder_id = ?");
      of_root->bind(1, id);
      auto roots = root_paths(c);
      std::erase_if(roots, [id](const auto& root) { return root.first == id; });
      relink_authors(c, of_root, roots, [](std::optional<RowId>) { return true; });
      auto st = c.prepare("DELETE FROM root_folders WHERE id = ?");
      st->bind(1, id);
      st->exec();
      return r;
    });
  }

  static RootFolder load_root(Connection& c, RowId id) {
    auto st = c.prepare("SELECT " + kRoot.list() + " FROM root_folders WHERE id = ?");
    st->bind(1, id);
    if (!st->executeStep()) fail(errc::not_found, "root folder " + std::to_string(id));
    return root_row(*st);
  }

  // Authors --------------------------------------------------------------------------------------

  Result<Author> add_author(Author a) override {
    a.id = 0;
    if (a.added == TimePoint{}) a.added = std::chrono::system_clock::now();
    if (a.sort_name.empty()) a.sort_name = sort_name_of(a.name);
    if (!a.path.empty()) a.path = clean_path(a.path);
    return write_call("add author " + in_quotes(a.foreign_id), [&](Connection& c) {
      auto st = c.prepare(
          "INSERT INTO authors (id, foreign_id, name, sort_name, overview, path, root_folder_id, "
          "monitored, status, last_info_sync, metadata_hash, added) "
          "VALUES (" +
          next_id("authors") + ", ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      bind_author(*st, a);
      sqlite::bind(*st, 11, a.added);
      exec_author(c, *st, a);
      a.id = c.db().getLastInsertRowid();
      return a;
    });
  }

  Result<Author> author(RowId id) override {
    return read_call("read author", [&](Connection& c) { return load_author(c, id); });
  }

  Result<Author> author_by_foreign_id(std::string_view foreign_id) override {
    return read_call("read author", [&](Connection& c) {
      auto st = c.prepare("SELECT " + kAuthor.list() + " FROM authors WHERE foreign_id = ?");
      st->bind(1, std::string(foreign_id));
      if (!st->executeStep()) fail(errc::not_found, "author with foreign id " + std::string(foreign_id));
      return author_row(*st);
    });
  }

  Result<std::vector<Author>> authors() override {
    return read_call("list authors", [&](Connection& c) {
      std::vector<Author> out;
      auto st =
          c.prepare("SELECT " + kAuthor.list() + " FROM authors ORDER BY sort_name COLLATE NOCASE, name, id");
      while (st->executeStep()) out.push_back(author_row(*st));
      return out;
    });
  }

  Result<Author> set_author_monitored(RowId id, bool monitored) override {
    return write_call("set author " + std::to_string(id) + " monitored", [&](Connection& c) {
      auto st = c.prepare("UPDATE authors SET monitored = ? WHERE id = ?");
      st->bind(1, monitored ? 1 : 0);
      st->bind(2, id);
      if (st->exec() == 0) fail(errc::not_found, "author " + std::to_string(id));
      return load_author(c, id);
    });
  }

  Status remove_author(RowId id) override {
    return write_call("remove author " + std::to_string(id), [&](Connection& c) {
      require_author(c, id);
      auto files = c.prepare(std::string("SELECT COUNT(*) FROM book_files WHERE ") + kFilesOfAuthor);
      files->bind(1, id);
      files->executeStep();
      if (const auto n = files->getColumn(0).getInt64(); n > 0)
        fail(errc::conflict, "author " + std::to_string(id) + " still has " + std::to_string(n) +
                                 " book file(s); the catalog never deletes files");
      auto st = c.prepare("DELETE FROM authors WHERE id = ?");
      st->bind(1, id);
      st->exec();  // books, editions and series links go by cascade
      return Ok{};
    });
  }

  Result<AuthorWriteResult> apply(const AuthorWrite& w) override {
    // Nothing asked, nothing written: not even a transaction that takes the write lock.
    if (!w.author && w.books.empty() && w.removed_books.empty() && w.merge_from == 0)
      return AuthorWriteResult{};
    if (w.merge_from != 0 && !w.author)
      return Error{errc::invalid_argument, "a merge needs the target author (AuthorWrite::author)"};
    if (w.author && w.merge_from == w.author->id)
      return Error{errc::invalid_argument,
                   "cannot merge author " + std::to_string(w.merge_from) + " into itself"};
    const std::string what =
        w.author ? "apply refresh of author " + std::to_string(w.author->id) : "apply refresh";
    return write_call(what, [&](Connection& c) {
      const std::int64_t before = c.total_changes();
      AuthorWriteResult result;
      const RowId target = w.author ? w.author->id : 0;
      if (w.author) require_author(c, target);
      // The merge goes first: the target may take over the source's foreign id or path (a
      // re-key), which the author update below could not do while the source still holds it.
      if (w.merge_from != 0) {
        require_author(c, w.merge_from);
        // The files first: those of the source's books follow them (whatever their own link
        // says), which the books' new author_id would hide.
        for (const char* sql : {"UPDATE book_files SET author_id = ?1 WHERE (author_id = ?2 OR book_id IN "
                                "(SELECT id FROM books WHERE author_id = ?2)) AND author_id IS NOT ?1",
                                "UPDATE books SET author_id = ?1 WHERE author_id = ?2"}) {
          auto st = c.prepare(sql);
          st->bind(1, target);
          st->bind(2, w.merge_from);
          st->exec();
        }
        auto del = c.prepare("DELETE FROM authors WHERE id = ?");
        del->bind(1, w.merge_from);
        del->exec();
      }
      if (w.author) {
        // ?5 and ?6 (the folder) and ?7 (monitored) are left out: a person sets them
        // (set_author_path, move_author, set_author_monitored), and the row a refresh writes
        // was read before its fetch.
        // ?12: the hash as the writer read it; a removal since put its mark there (remove_book).
        auto st = c.prepare(
            "UPDATE authors SET foreign_id = ?1, name = ?2, sort_name = ?3, overview = ?4, "
            "status = ?8, last_info_sync = ?9, "
            "metadata_hash = CASE WHEN ?12 IS NULL OR metadata_hash = ?12 THEN ?10 ELSE metadata_hash END "
            "WHERE id = ?11");
        bind_author(*st, *w.author);
        st->bind(11, target);
        if (w.hash_read) st->bind(12, *w.hash_read);
        exec_author(c, *st, *w.author);
      }
      // Removals before writes, so a book written here may take a removed book's foreign id.
      // The caller chose them when no file was linked to them; one an import linked a file to
      // since is kept (its files stay matched), which is no error.
      for (RowId id : w.removed_books) {
        if (book_has_files(c, id)) {
          result.kept_books.push_back(id);
          continue;
        }
        if (!book_exists(c, id)) continue;  // a person removed it meanwhile
        delete_book(c, id);
      }
      EditionPlan plan;
      for (const BookWrite& bw : w.books) {
        if (bw.book.id == 0) continue;
        auto& listed = plan.listed[bw.book.id];
        for (const Edition& e : bw.editions) listed.insert(e.foreign_id);
      }
      result.new_book_ids.reserve(w.books.size());
      for (const BookWrite& bw : w.books) {
        // An update of a book a person removed since the refresh read it: the removal stands.
        if (bw.book.id != 0 && !book_exists(c, bw.book.id)) {
          result.new_book_ids.push_back(0);
          continue;
        }
        result.new_book_ids.push_back(write_book(c, bw, target, plan));
      }
      delete_dropped_editions(c, plan);
      result.rows_written = c.total_changes() - before;
      return result;
    });
  }

  Result<Author> set_author_path(RowId id, const fs::path& path, bool only_if_unset) override {
    if (!path.is_absolute())
      return Error{errc::invalid_argument, "author path " + in_quotes(path.string()) + " is not absolute"};
    const std::string to = clean_path(path);
    return write_call("set the path of author " + std::to_string(id) + " to " + in_quotes(to),
                      [&](Connection& c) {
                        const Author a = load_author(c, id);
                        if (only_if_unset && !a.path.empty()) return a;
                        if (a.path.string() != to) require_path_free(c, id, to);
                        write_author_path(c, id, to);  // the same path may lie in another root now
                        return load_author(c, id);
                      });
  }

  Result<std::int64_t> move_author(RowId id, const fs::path& new_path) override {
    if (!new_path.is_absolute())
      return Error{errc::invalid_argument,
                   "author path " + in_quotes(new_path.string()) + " is not absolute"};
    const std::string to = clean_path(new_path);
    return write_call(
        "move author " + std::to_string(id) + " to " + in_quotes(to), [&](Connection& c) -> std::int64_t {
          const Author a = load_author(c, id);
          const std::string from = a.path.string();
          if (from == to) return 0;
          require_path_free(c, id, to);
          write_author_path(c, id, to);
          if (from.empty()) return 0;
          // Every file under the folder moves with it, whichever author it is linked to (or none):
          // the folder is what moved on disk. The range [prefix, prefix with '/' raised to '0')
          // holds exactly the paths that start with the prefix (BINARY collation compares bytes),
          // and reads the path's unique index; the byte comparison below is the rule itself, with
          // the separator included, so "/lib/Ann" never takes "/lib/Anna/x.epub" (LIKE would also
          // need escaping of '%' and '_' in folder names).
          const std::string prefix = from == "/" ? from : from + "/";
          const std::string prefix_end = prefix.substr(0, prefix.size() - 1) + "0";
          const std::string to_prefix = to == "/" ? to : to + "/";
          std::vector<std::pair<RowId, std::string>> moves;
          {
            auto st = c.prepare("SELECT id, path FROM book_files WHERE path >= ? AND path < ? ORDER BY path");
            st->bind(1, prefix);
            st->bind(2, prefix_end);
            while (st->executeStep()) {
              std::string p = st->getColumn(1).getString();
              if (p.size() > prefix.size() && p.compare(0, prefix.size(), prefix) == 0)
                moves.emplace_back(st->getColumn(0).getInt64(), to_prefix + p.substr(prefix.size()));
            }
          }
          for (const auto& [file_id, path] : moves) {
            auto st = c.prepare("UPDATE book_files SET path = ? WHERE id = ?");
            st->bind(1, path);
            st->bind(2, file_id);
            try {
              st->exec();
            } catch (const SQLite::Exception& e) {
              if (is_constraint(e, SQLITE_CONSTRAINT_UNIQUE))
                fail(errc::conflict, "book file " + in_quotes(path) + " already exists");
              throw;
            }
          }
          return static_cast<std::int64_t>(moves.size());
        });
  }

  // Books ----------------------------------------------------------------------------------------

  Result<Book> add_book(BookWrite bw) override {
    bw.book.id = 0;
    return write_call("add book " + in_quotes(bw.book.foreign_id), [&](Connection& c) {
      if (bw.book.author_id == 0)
        fail(errc::invalid_argument, "book " + in_quotes(bw.book.foreign_id) + " has no author");
      EditionPlan plan;
      const RowId id = write_book(c, bw, 0, plan);
      delete_dropped_editions(c, plan);
      return load_book(c, id);
    });
  }

  Result<Book> book(RowId id) override {
    return read_call("read book", [&](Connection& c) { return load_book(c, id); });
  }

  Result<Book> book_by_foreign_id(std::string_view foreign_id) override {
    return read_call("read book", [&](Connection& c) {
      auto st = c.prepare("SELECT " + kBook.list() + " FROM books WHERE foreign_id = ?");
      st->bind(1, std::string(foreign_id));
      if (!st->executeStep()) fail(errc::not_found, "book with foreign id " + std::string(foreign_id));
      return book_row(*st);
    });
  }

  Result<std::vector<Book>> books_of(RowId author_id) override {
    return read_call("list books", [&](Connection& c) {
      require_author(c, author_id);
      std::vector<Book> out;
      auto st = c.prepare("SELECT " + kBook.list() +
                          " FROM books WHERE author_id = ? "
                          "ORDER BY release_date IS NULL, release_date, title, id");
      st->bind(1, author_id);
      while (st->executeStep()) out.push_back(book_row(*st));
      return out;
    });
  }

  Result<std::vector<Book>> books() override {
    return read_call("list books", [&](Connection& c) {
      std::vector<Book> out;
      auto st = c.prepare("SELECT " + kBook.list() + " FROM books ORDER BY id");
      while (st->executeStep()) out.push_back(book_row(*st));
      return out;
    });
  }

  Result<std::vector<Edition>> editions_of(RowId book_id) override {
    return read_call("list editions", [&](Connection& c) {
      require_book(c, book_id);
      return load_editions(c, book_id);
    });
  }

  Result<Edition> edition(RowId id) override {
    return read_call("read edition", [&](Connection& c) {
      auto st = c.prepare("SELECT " + kEdition.list() + " FROM editions WHERE id = ?");
      st->bind(1, id);
      if (!st->executeStep()) fail(errc::not_found, "edition " + std::to_string(id));
      return edition_row(*st);
    });
  }

  Result<std::vector<SeriesLink>> series_links_of(RowId book_id) override {
    return read_call("list series links", [&](Connection& c) {
      require_book(c, book_id);
      std::vector<SeriesLink> out;
      auto st = c.prepare("SELECT " + kLink.list() +
                          " FROM series_books WHERE book_id = ? ORDER BY is_primary DESC, series_id");
      st->bind(1, book_id);
      while (st->executeStep()) out.push_back(link_row(*st));
      return out;
    });
  }

  Result<Series> series(RowId id) override {
    return read_call("read series", [&](Connection& c) {
      auto st = c.prepare("SELECT " + kSeries.list() + " FROM series WHERE id = ?");
      st->bind(1, id);
      if (!st->executeStep()) fail(errc::not_found, "series " + std::to_string(id));
      return series_row(*st);
    });
  }

  Result<std::optional<Date>> newest_release(RowId author_id) override {
    return read_call("read newest release", [&](Connection& c) {
      require_author(c, author_id);
      auto st = c.prepare("SELECT MAX(release_date) FROM books WHERE author_id = ?");
      st->bind(1, author_id);
      st->executeStep();
      return column<std::optional<Date>>(*st, 0);
    });
  }

  Result<std::vector<Book>> set_books_monitored(const std::vector<RowId>& ids, bool monitored) override {
    return write_call(std::string(monitored ? "monitor" : "unmonitor") + " books", [&](Connection& c) {
      auto st = c.prepare("UPDATE books SET monitored = ? WHERE id = ?");
      for (RowId id : ids) {
        st->bind(1, monitored ? 1 : 0);
        st->bind(2, id);
        if (st->exec() == 0) fail(errc::not_found, "book " + std::to_string(id));
        st->reset();
      }
      std::vector<Book> out;
      out.reserve(ids.size());
      for (RowId id : ids) out.push_back(load_book(c, id));
      return out;
    });
  }

  Result<std::vector<Book>> set_books_monitoring(
      const std::vector<std::pair<RowId, bool>>& changes) override {
    return write_call("set books monitored", [&](Connection& c) {
      auto st = c.prepare("UPDATE books SET monitored = ?1 WHERE id = ?2 AND monitored IS NOT ?1");
      std::vector<Book> out;
      for (const auto& [id, monitored] : changes) {
        st->bind(1, monitored ? 1 : 0);
        st->bind(2, id);
        const bool changed = st->exec() > 0;  // 0: unchanged, or gone meanwhile
        st->reset();
        if (changed) out.push_back(load_book(c, id));
      }
      return out;
    });
  }

  Status remove_book(RowId id, const BookRemoval& also) override {
    for (const auto& f : also.files.upserts)
      if (!f.path.is_absolute())
        return Error{errc::invalid_argument,
                     "book file path " + in_quotes(f.path.string()) + " is not absolute"};
    if (also.exclusion && also.exclusion->foreign_id.empty())
      return Error{errc::invalid_argument, "an exclusion needs a foreign id"};
    return write_call("remove book " + std::to_string(id), [&](Connection& c) {
      // The stored hash says "the books match what the source said", no longer true. A mark of
      // this removal, not an empty hash: a refresh that read the row before writes its new hash
      // only over the one it read (AuthorWrite::hash_read).
      auto st = c.prepare(
          "UPDATE authors SET metadata_hash = ?1 WHERE id = (SELECT author_id FROM books WHERE id = ?2)");
      st->bind(1, "removed book " + std::to_string(id));
      st->bind(2, id);
      st->exec();
      delete_book(c, id);
      for (const auto& f : also.files.upserts) catalog_sqlite::upsert_file(c, f);
      for (RowId file_id : also.files.removals) {
        bool found = false;
        delete_file(c, file_id, found);
      }
      if (also.exclusion) {
        if (!excluding(c, also.exclusion->foreign_id, also.exclusion->kind, 0)) {
          auto ins = c.prepare("INSERT INTO exclusions (id, foreign_id, name, kind) VALUES (" +
                               next_id("exclusions") + ", ?, ?, ?)");
          ins->bind(1, also.exclusion->foreign_id);
          ins->bind(2, also.exclusion->name);
          sqlite::bind(*ins, 3, also.exclusion->kind);
          ins->exec();
        }
      }
      return Ok{};
    });
  }

  // Exclusions -----------------------------------------------------------------------------------

  Result<std::vector<Exclusion>> exclusions() override {
    return read_call("list exclusions", [&](Connection& c) {
      std::vector<Exclusion> out;
      auto st = c.prepare("SELECT " + kExclusion.list() + " FROM exclusions ORDER BY id");
      while (st->executeStep()) out.push_back(exclusion_row(*st));
      return out;
    });
  }

  Result<Exclusion> exclusion(RowId id) override {
    return read_call("read exclusion", [&](Connection& c) { return load_exclusion(c, id); });
  }

  Result<Exclusion> add_exclusion(Exclusion e) override {
    if (e.foreign_id.empty()) return Error{errc::invalid_argument, "an exclusion needs a foreign id"};
    return write_call("add exclusion " + in_quotes(e.foreign_id), [&](Connection& c) {
      require_not_excluded(c, e.foreign_id, e.kind, 0);
      auto st = c.prepare("INSERT INTO exclusions (id, foreign_id, name, kind) VALUES (" +
                          next_id("exclusions") + ", ?, ?, ?)");
      st->bind(1, e.foreign_id);
      st->bind(2, e.name);
      sqlite::bind(*st, 3, e.kind);
      st->exec();
      e.id = c.db().getLastInsertRowid();
      return e;
    });
  }

  Result<Exclusion> update_exclusion(Exclusion e) override {
    if (e.foreign_id.empty()) return Error{errc::invalid_argument, "an exclusion needs a foreign id"};
    return write_call("update exclusion " + std::to_string(e.id), [&](Connection& c) {
      load_exclusion(c, e.id);
      require_not_excluded(c, e.foreign_id, e.kind, e.id);
      auto st = c.prepare("UPDATE exclusions SET foreign_id = ?, name = ?, kind = ? WHERE id = ?");
      st->bind(1, e.foreign_id);
      st->bind(2, e.name);
      sqlite::bind(*st, 3, e.kind);
      st->bind(4, e.id);
      st->exec();
      return e;
    });
  }

  Status remove_exclusion(RowId id) override {
    return write_call("remove exclusion " + std::to_string(id), [&](Connection& c) {
      delete_row(c, "exclusions", id, "exclusion");
      return Ok{};
    });
  }

  Result<std::set<std::string>> excluded(const std::vector<std::string>& foreign_ids,
                                         ExclusionKind kind) override {
    return read_call("read exclusions", [&](Connection& c) {
      std::set<std::string> out;
      if (foreign_ids.empty()) return out;
      auto st =
          c.prepare("SELECT 1 FROM exclusions WHERE foreign_id = ?1 AND (kind = ?2 OR kind = 0 OR ?2 = 0)");
      sqlite::bind(*st, 2, kind);
      for (const std::string& id : foreign_ids) {
        st->bind(1, id);
        if (st->executeStep()) out.insert(id);
        st->reset();
      }
      return out;
    });
  }

  // Book files -----------------------------------------------------------------------------------

  Result<BookFile> upsert_file(BookFile f) override {
    if (!f.path.is_absolute())
      return Error{errc::invalid_argument,
                   "book file path " + in_quotes(f.path.string()) + " is not absolute"};
    return write_call("save book file " + in_quotes(f.path.string()),
                      [&](Connection& c) { return catalog_sqlite::upsert_file(c, std::move(f)); });
  }

  Result<BookFile> file(RowId id) override {
    return read_call("read book file", [&](Connection& c) { return load_file(c, id); });
  }

  Result<BookFile> file_by_path(const fs::path& path) override {
    return read_call("read book file", [&](Connection& c) { return load_file_by_path(c, clean_path(path)); });
  }

  Result<std::vector<BookFile>> files_of_author(RowId author_id) override {
    return read_call("list book files", [&](Connection& c) {
      require_author(c, author_id);
      return files_where(c, kFilesOfAuthor, author_id);
    });
  }

  Result<std::vector<BookFile>> files_of_book(RowId book_id) override {
    return read_call("list book files", [&](Connection& c) {
      require_book(c, book_id);
      return files_where(c, "book_id = ?1", book_id);
    });
  }

  Result<std::vector<BookFile>> unmapped_files() override {
    return read_call("list unmapped files", [&](Connection& c) { return catalog_sqlite::unmapped_files(c); });
  }

  Status for_each_file_under(const fs::path& folder,
                             const std::function<void(const BookFile&)>& fn) override {
    if (!folder.is_absolute())
      return Error{errc::invalid_argument, "folder " + in_quotes(folder.string()) + " is not absolute"};
    return read_call("list book files under " + in_quotes(folder.string()), [&](Connection& c) {
      catalog_sqlite::for_each_file_under(c, clean_path(folder), fn);
      return Ok{};
    });
  }

  Status for_each_file_in(const fs::path& folder, const std::function<void(const BookFile&)>& fn) override {
    if (!folder.is_absolute())
      return Error{errc::invalid_argument, "folder " + in_quotes(folder.string()) + " is not absolute"};
    return read_call("list book files in " + in_quotes(folder.string()), [&](Connection& c) {
      catalog_sqlite::for_each_file_in(c, clean_path(folder), fn);
      return Ok{};
    });
  }

  Result<std::vector<std::string>> folders_with_files_under(const fs::path& folder) override {
    if (!folder.is_absolute())
      return Error{errc::invalid_argument, "folder " + in_quotes(folder.string()) + " is not absolute"};
    return read_call("list folders with book files under " + in_quotes(folder.string()), [&](Connection& c) {
      return catalog_sqlite::folders_with_files_under(c, clean_path(folder));
    });
  }

  Result<FileBatchResult> apply_files(const FileBatch& batch) override {
    for (const auto& f : batch.upserts)
      if (!f.path.is_absolute())
        return Error{errc::invalid_argument,
                     "book file path " + in_quotes(f.path.string()) + " is not absolute"};
    return write_call("save book files", [&](Connection& c) {
      FileBatchResult out;
      out.upserted.reserve(batch.upserts.size());
      for (const auto& f : batch.upserts) out.upserted.push_back(catalog_sqlite::upsert_file(c, f));
      for (RowId id : batch.removals) {
        bool found = false;
        BookFile gone = delete_file(c, id, found);
        if (found) out.removed.push_back(std::move(gone));
      }
      return out;
    });
  }

  Result<BookFile> remove_file(RowId id) override {
    return write_call("remove book file " + std::to_string(id), [&](Connection& c) {
      bool found = false;
      BookFile gone = delete_file(c, id, found);
      if (!found) fail(errc::not_found, "book file " + std::to_string(id));
      return gone;
    });
  }

  Result<std::int64_t> unlink_orphaned_files(std::string_view reason) override {
    return write_call("unlink orphaned book files",
                      [&](Connection& c) { return catalog_sqlite::unlink_orphaned_files(c, reason); });
  }

  Result<CatalogOrphans> remove_orphans(std::string_view reason) override {
    return write_call("remove orphaned rows", [&](Connection& c) {
      // Children first, so a book removed here takes its editions and links in the same pass
      // (foreign keys cascade only for rows deleted with them on, which these may not have been).
      CatalogOrphans o;
      o.books = c.db().exec("DELETE FROM books WHERE author_id NOT IN (SELECT id FROM authors)");
      o.editions = c.db().exec("DELETE FROM editions WHERE book_id NOT IN (SELECT id FROM books)");
      o.series_links = c.db().exec(
          "DELETE FROM series_books WHERE book_id NOT IN (SELECT id FROM books) "
          "OR series_id NOT IN (SELECT id FROM series)");
      o.series = c.db().exec("DELETE FROM series WHERE id NOT IN (SELECT series_id FROM series_books)");
      o.files_unlinked = catalog_sqlite::unlink_orphaned_files(c, reason);
      return o;
    });
  }

  Status for_each_book_identity(const std::function<void(const BookIdentity&)>& fn) override {
    return read_call("list books for matching", [&](Connection& c) {
      catalog_sqlite::for_each_book_identity(c, fn);
      return Ok{};
    });
  }

  Result<BookPage> missing_books(std::int64_t page, std::int64_t page_size) override {
    if (page < 1 || page_size < 1)
      return Error{errc::invalid_argument, "page and pageSize must be at least 1 (page " +
                                               std::to_string(page) + ", pageSize " +
                                               std::to_string(page_size) + ")"};
    return read_call("list missing books", [&](Connection& c) {
      static constexpr const char* kMissing =
          " FROM books b JOIN authors a ON a.id = b.author_id WHERE b.monitored = 1 AND a.monitored = 1 "
          "AND NOT EXISTS (SELECT 1 FROM book_files f WHERE f.book_id = b.id)";
      BookPage out;
      {
        auto st = c.prepare(std::string("SELECT COUNT(*)") + kMissing);
        st->executeStep();
        out.total = st->getColumn(0).getInt64();
      }
      auto st = c.prepare("SELECT " + kBook.list("b") + kMissing +
                          " ORDER BY b.release_date IS NULL, b.release_date DESC, b.id LIMIT ? OFFSET ?");
      st->bind(1, page_size);
      // A page past what fits in 64 bits is simply past the end.
      const std::int64_t offset = page - 1 > INT64_MAX / page_size ? INT64_MAX : (page - 1) * page_size;
      st->bind(2, offset);
      while (st->executeStep()) out.books.push_back(book_row(*st));
      return out;
    });
  }

  Result<std::int64_t> file_count_of_author(RowId author_id) override {
    return read_call("count book files", [&](Connection& c) {
      require_author(c, author_id);
      auto st = c.prepare(std::string("SELECT COUNT(*) FROM book_files WHERE ") + kFilesOfAuthor);
      st->bind(1, author_id);
      st->executeStep();
      return st->getColumn(0).getInt64();
    });
  }

  Result<std::int64_t> file_count_of_book(RowId book_id) override {
    return read_call("count book files", [&](Connection& c) {
      require_book(c, book_id);
      auto st = c.prepare("SELECT COUNT(*) FROM book_files WHERE book_id = ?");
      st->bind(1, book_id);
      st->executeStep();
      return st->getColumn(0).getInt64();
    });
  }

  Result<CatalogCounts> counts() override {
    return read_call("count rows", [&](Connection& c) {
      auto st = c.prepare(
          "SELECT (SELECT COUNT(*) FROM authors), (SELECT COUNT(*) FROM books), "
          "(SELECT COUNT(*) FROM editions), (SELECT COUNT(*) FROM series), "
          "(SELECT COUNT(*) FROM book_files), (SELECT COUNT(*) FROM root_folders)");
      st->executeStep();
      CatalogCounts n;
      n.authors = st->getColumn(0).getInt64();
      n.books = st->getColumn(1).getInt64();
      n.editions = st->getColumn(2).getInt64();
      n.series = st->getColumn(3).getInt64();
      n.files = st->getColumn(4).getInt64();
      n.root_folders = st->getColumn(5).getInt64();
      return n;
    });
  }

  std::int64_t rows_written() const override { return rows_written_.load(); }

 private:
  // Runs `f` in one BEGIN IMMEDIATE transaction on the write connection; any failure rolls it
  // all back and becomes an Error.
  template <class F>
  auto write_call(const std::string& what, F&& f) -> Result<decltype(f(std::declval<Connection&>()))> {
    std::lock_guard lock(write_mutex_);
    const std::int64_t before = write_.total_changes();
    try {
      // Its destructor rolls back (a failed COMMIT included), so the connection never stays
      // inside a transaction.
      sqlite::WriteTransaction tx(write_.db());
      auto r = f(write_);
      const std::int64_t changed = write_.total_changes() - before;
      tx.commit();
      rows_written_.fetch_add(changed);
      return r;
    } catch (...) {
      return error_of(what, std::current_exception());
    }
  }

  // One deferred transaction on the read connection (sqlite_common.hpp's read_call).
  template <class F>
  auto read_call(const std::string& what, F&& f) -> Result<decltype(f(std::declval<Connection&>()))> {
    return catalog_sqlite::read_call(read_mutex_, read_, what, "catalog " + path_, std::forward<F>(f));
  }

  Error error_of(const std::string& what, std::exception_ptr ep) const {
    return catalog_sqlite::error_of(what, "catalog " + path_, ep);
  }

  static void bind_author(SQLite::Statement& st, const Author& a) {
    st.bind(1, a.foreign_id);
    st.bind(2, a.name);
    st.bind(3, a.sort_name.empty() ? sort_name_of(a.name) : a.sort_name);
    st.bind(4, a.overview);
    bind_text_or_null(st, 5, a.path.empty() ? std::string() : clean_path(a.path));
    bind_id(st, 6, a.root_folder_id);
    st.bind(7, a.monitored ? 1 : 0);
    st.bind(8, static_cast<int>(a.status));
    sqlite::bind(st, 9, a.last_info_sync);
    st.bind(10, a.metadata_hash);
  }

  // Runs an author INSERT or UPDATE, naming the clash on a constraint failure.
  static void exec_author(Connection& c, SQLite::Statement& st, const Author& a) {
    try {
      st.exec();
    } catch (const SQLite::Exception& e) {
      if (is_constraint(e, SQLITE_CONSTRAINT_UNIQUE)) {
        auto q = c.prepare("SELECT id FROM authors WHERE foreign_id = ? AND id <> ?");
        q->bind(1, a.foreign_id);
        q->bind(2, a.id);
        if (q->executeStep())
          fail(errc::conflict, "author foreign id " + a.foreign_id + " belongs to author " +
                                   std::to_string(q->getColumn(0).getInt64()));
        fail(errc::conflict, "author path " + in_quotes(a.path.string()) + " belongs to another author");
      }
      if (is_constraint(e, SQLITE_CONSTRAINT_FOREIGNKEY))
        fail(errc::not_found, "root folder " + std::to_string(a.root_folder_id));
      throw;
    }
  }

  static void require_author(Connection& c, RowId id) {
    auto st = c.prepare("SELECT 1 FROM authors WHERE id = ?");
    st->bind(1, id);
    if (!st->executeStep()) fail(errc::not_found, "author " + std::to_string(id));
  }

  static void require_book(Connection& c, RowId id) {
    auto st = c.prepare("SELECT 1 FROM books WHERE id = ?");
    st->bind(1, id);
    if (!st->executeStep()) fail(errc::not_found, "book " + std::to_string(id));
  }

  static Author load_author(Connection& c, RowId id) {
    auto st = c.prepare("SELECT " + kAuthor.list() + " FROM authors WHERE id = ?");
    st->bind(1, id);
    if (!st->executeStep()) fail(errc::not_found, "author " + std::to_string(id));
    return author_row(*st);
  }

  static Book load_book(Connection& c, RowId id) {
    auto st = c.prepare("SELECT " + kBook.list() + " FROM books WHERE id = ?");
    st->bind(1, id);
    if (!st->executeStep()) fail(errc::not_found, "book " + std::to_string(id));
    return book_row(*st);
  }

  static std::vector<Edition> load_editions(Connection& c, RowId book_id) {
    std::vector<Edition> out;
    auto st = c.prepare("SELECT " + kEdition.list() + " FROM editions WHERE book_id = ? ORDER BY id");
    st->bind(1, book_id);
    while (st->executeStep()) out.push_back(edition_row(*st));
    return out;
  }

  static bool book_has_files(Connection& c, RowId book_id) {
    auto st = c.prepare("SELECT 1 FROM book_files WHERE book_id = ? LIMIT 1");
    st->bind(1, book_id);
    return st->executeStep();
  }

  static bool book_exists(Connection& c, RowId id) {
    auto st = c.prepare("SELECT 1 FROM books WHERE id = ?");
    st->bind(1, id);
    return st->executeStep();
  }

  static Exclusion load_exclusion(Connection& c, RowId id) {
    auto st = c.prepare("SELECT " + kExclusion.list() + " FROM exclusions WHERE id = ?");
    st->bind(1, id);
    if (!st->executeStep()) fail(errc::not_found, "exclusion " + std::to_string(id));
    return exclusion_row(*st);
  }

  // The exclusion (other than `self`) that keeps `foreign_id` out as `kind` already: one of that
  // kind, or either of them any; 0 when none does.
  static RowId excluding(Connection& c, const std::string& foreign_id, ExclusionKind kind, RowId self) {
    auto st = c.prepare(
        "SELECT id FROM exclusions WHERE foreign_id = ?1 AND id != ?3 AND (kind = ?2 OR kind = 0 OR ?2 = 0)");
    st->bind(1, foreign_id);
    sqlite::bind(*st, 2, kind);
    st->bind(3, self);
    return st->executeStep() ? st->getColumn(0).getInt64() : 0;
  }

  static void require_not_excluded(Connection& c, const std::string& foreign_id, ExclusionKind kind,
                                   RowId self) {
    if (const RowId other = excluding(c, foreign_id, kind, self))
      fail(errc::conflict, "foreign id " + in_quotes(foreign_id) + " is excluded already (exclusion " +
                               std::to_string(other) + ")");
  }

  static void delete_book(Connection& c, RowId id) { delete_row(c, "books", id, "book"); }

  // The editions side of one write's books, so the order of the books does not matter.
  struct EditionPlan {
    // The books of the write that are updated, with the foreign ids of the editions they list.
    // An edition on one of them that it no longer lists is free to move to any book of the
    // write, whichever author's and whichever comes first.
    std::map<RowId, std::set<std::string>> listed;
    // Editions their book dropped: (edition, book). Deleted once every book is written, unless
    // another book of the write took them meanwhile (then they keep their id, and the files
    // matched to them stay matched).
    std::vector<std::pair<RowId, RowId>> dropped;
  };

  // Inserts (id 0) or updates a book, then syncs its editions and series links. Returns the new
  // id for an insert, 0 for an update. `default_author`: the author of books that name none.
  // A book that changes author takes its files along. The editions it drops go to `plan`.
  static void require_path_free(Connection& c, RowId id, const std::string& path) {
    auto taken = c.prepare("SELECT id FROM authors WHERE path = ? AND id <> ?");
    taken->bind(1, path);
    taken->bind(2, id);
    if (taken->executeStep())
      fail(errc::conflict, "path " + in_quotes(path) + " belongs to author " +
                               std::to_string(taken->getColumn(0).getInt64()));
  }

  // Links each author `authors` selects (id, path) to the deepest of `roots` holding its folder
  // (none when no root does, or its path is empty), where `relink(deepest)` says so.
  template <class Relink>
  static void relink_authors(Connection& c, Connection::Stmt& authors,
                             const std::vector<std::pair<RowId, std::string>>& roots, Relink relink) {
    std::vector<std::pair<RowId, std::optional<RowId>>> moves;
    while (authors->executeStep()) {
      const std::string folder = authors->getColumn(1).getString();
      const std::optional<RowId> deepest = folder.empty() ? std::nullopt : deepest_root(roots, folder);
      if (relink(deepest)) moves.emplace_back(authors->getColumn(0).getInt64(), deepest);
    }
    auto link = c.prepare("UPDATE authors SET root_folder_id = ? WHERE id = ?");
    for (const auto& [author_id, root] : moves) {
      bind_id(*link, 1, root.value_or(0));
      link->bind(2, author_id);
      link->exec();
      link->reset();
    }
  }

  // Every root folder's id and path.
  static std::vector<std::pair<RowId, std::string>> root_paths(Connection& c) {
    std::vector<std::pair<RowId, std::string>> out;
    auto st = c.prepare("SELECT id, path FROM root_folders");
    while (st->executeStep()) out.emplace_back(st->getColumn(0).getInt64(), st->getColumn(1).getString());
    return out;
  }

  // The deepest of `roots` that holds `path` strictly inside it; none when no root does.
  static std::optional<RowId> deepest_root(const std::vector<std::pair<RowId, std::string>>& roots,
                                           const std::string& path) {
    std::optional<RowId> root;
    std::size_t longest = 0;
    for (const auto& [id, r] : roots) {
      // Strictly inside: a separator after the root's path (unless it ends with one, as "/"
      // does), then at least one byte of a name.
      const std::size_t least = r.size() + (r.back() == '/' ? 1 : 2);
      if (r.size() > longest && path.size() >= least && path.compare(0, r.size(), r) == 0 &&
          (path[r.size()] == '/' || r.back() == '/')) {
        longest = r.size();
        root = id;
      }
    }
    return root;
  }

  // The author's path, and its root folder: the one the path lies in (the deepest, should roots
  // nest); none keeps the one it had.
  static void write_author_path(Connection& c, RowId id, const std::string& to) {
    const std::optional<RowId> root = deepest_root(root_paths(c), to);
    auto st =
        c.prepare("UPDATE authors SET path = ?, root_folder_id = COALESCE(?, root_folder_id) WHERE id = ?");
    st->bind(1, to);
    bind_id(*st, 2, root.value_or(0));
    st->bind(3, id);
    st->exec();
  }

  static RowId write_book(Connection& c, const BookWrite& bw, RowId default_author, EditionPlan& plan) {
    const Book& b = bw.book;
    RowId author_id = b.author_id != 0 ? b.author_id : default_author;
    RowId book_id = b.id;
    RowId new_id = 0;
    if (b.id == 0) {
      if (author_id == 0) fail(errc::invalid_argument, "book " + in_quotes(b.foreign_id) + " has no author");
      require_author(c, author_id);
      auto st = c.prepare(
          "INSERT INTO books (id, foreign_id, title, release_date, genres, monitored, "
          "manually_added, last_info_sync, metadata_hash, author_id, added) "
          "VALUES (" +
          next_id("books") + ", ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      bind_book(*st, b);
      if (bw.monitored_as_author) {
        auto m = c.prepare("SELECT monitored FROM authors WHERE id = ?");
        m->bind(1, author_id);
        m->executeStep();  // require_author found it
        st->bind(5, m->getColumn(0).getInt());
      }
      st->bind(9, author_id);
      const TimePoint added = b.added == TimePoint{} ? std::chrono::system_clock::now() : b.added;
      sqlite::bind(*st, 10, added);
      exec_book(c, *st, b, author_id);
      book_id = new_id = c.db().getLastInsertRowid();
    } else {
      RowId old_author = 0;
      {
        auto st = c.prepare("SELECT author_id FROM books WHERE id = ?");
        st->bind(1, b.id);
        if (!st->executeStep()) fail(errc::not_found, "book " + std::to_string(b.id));
        old_author = st->getColumn(0).getInt64();
      }
      if (author_id != 0) require_author(c, author_id);
      // author_id NULL keeps the book's author (a write without an author row). ?5
      // (monitored) is left out, as for authors: a person sets it (set_books_monitored).
      auto st = c.prepare(
          "UPDATE books SET foreign_id = ?1, title = ?2, release_date = ?3, genres = ?4, "
          "manually_added = ?6, last_info_sync = ?7, metadata_hash = ?8, "
          "author_id = COALESCE(?9, author_id) WHERE id = ?10");
      bind_book(*st, b);
      bind_id(*st, 9, author_id);
      st->bind(10, b.id);
      if (exec_book(c, *st, b, author_id) == 0) fail(errc::not_found, "book " + std::to_string(b.id));
      if (author_id != 0 && author_id != old_author) {
        // The book moved to another author: its files follow it (those already linked to the
        // new author are no row to write).
        auto files =
            c.prepare("UPDATE book_files SET author_id = ?1 WHERE book_id = ?2 AND author_id IS NOT ?1");
        files->bind(1, author_id);
        files->bind(2, b.id);
        files->exec();
      }
      if (author_id == 0) author_id = old_author;
    }
    sync_editions(c, book_id, author_id, bw.editions, plan);
    sync_series(c, book_id, bw.series);
    return new_id;
  }

  static void bind_book(SQLite::Statement& st, const Book& b) {
    st.bind(1, b.foreign_id);
    st.bind(2, b.title);
    sqlite::bind(st, 3, b.release_date);
    st.bind(4, genres_text(b.genres));
    st.bind(5, b.monitored ? 1 : 0);
    st.bind(6, b.manually_added ? 1 : 0);
    sqlite::bind(st, 7, b.last_info_sync);
    st.bind(8, b.metadata_hash);
  }

  static int exec_book(Connection& c, SQLite::Statement& st, const Book& b, RowId author_id) {
    try {
      return st.exec();
    } catch (const SQLite::Exception& e) {
      if (is_constraint(e, SQLITE_CONSTRAINT_UNIQUE)) {
        auto q = c.prepare("SELECT id, author_id FROM books WHERE foreign_id = ?");
        q->bind(1, b.foreign_id);
        if (q->executeStep()) {
          fail(errc::conflict, "book with foreign id " + b.foreign_id + " (" + in_quotes(b.title) +
                                   ", author " + std::to_string(author_id) + ") is already book " +
                                   std::to_string(q->getColumn(0).getInt64()) + " of author " +
                                   std::to_string(q->getColumn(1).getInt64()));
        }
      }
      throw;
    }
  }

  // Editions are matched by foreign id: unchanged ones are not rewritten (a refresh's writes
  // stay what changed), missing ones are dropped (`plan.dropped`: deleted at the end of the
  // write, their files keep existing with edition_id NULL), and one the source moved here from
  // another book of the same author, or from a book of the write that dropped it, moves with
  // its id.
  static void sync_editions(Connection& c, RowId book_id, RowId author_id, const std::vector<Edition>& wanted,
                            EditionPlan& plan) {
    std::map<std::string, Edition> existing;
    for (auto& e : load_editions(c, book_id)) existing.emplace(e.foreign_id, std::move(e));
    std::map<std::string, const Edition*> wanted_by_id;
    for (const auto& e : wanted) wanted_by_id[e.foreign_id] = &e;  // the last one wins

    for (const auto& [fid, e] : existing)
      if (!wanted_by_id.count(fid)) plan.dropped.emplace_back(e.id, book_id);
    for (const Edition& e : wanted) {
      const std::string& fid = e.foreign_id;
      if (wanted_by_id[fid] != &e) continue;  // a later duplicate wins
      if (auto it = existing.find(fid); it != existing.end()) {
        if (same_edition(it->second, e)) continue;
        update_edition(c, it->second.id, book_id, e);
        continue;
      }
      // Elsewhere already? Moving it keeps its id, so files matched to it stay matched.
      auto q = c.prepare(
          "SELECT e.id, b.author_id, e.book_id FROM editions e JOIN books b ON b.id = e.book_id "
          "WHERE e.foreign_id = ?");
      q->bind(1, fid);
      if (q->executeStep()) {
        const RowId id = q->getColumn(0).getInt64();
        const RowId owner = q->getColumn(1).getInt64();
        const RowId other_book = q->getColumn(2).getInt64();
        const auto listed = plan.listed.find(other_book);
        const bool given_up = listed != plan.listed.end() && listed->second.count(fid) == 0;
        if (owner != author_id && !given_up)
          fail(errc::conflict, "edition with foreign id " + fid + " is already in book " +
                                   std::to_string(other_book) + " of author " + std::to_string(owner));
        update_edition(c, id, book_id, e);
        continue;
      }
      auto st = c.prepare(
          "INSERT INTO editions (id, book_id, foreign_id, title, isbn13, asin, format, is_ebook, "
          "pages, publisher, language, release_date, rating, monitored) "
          "VALUES (" +
          next_id("editions") + ", ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      st->bind(1, book_id);
      bind_edition(*st, 2, e);
      st->exec();
    }
  }

  // Deletes the editions a write's books dropped and no book of the write took.
  static void delete_dropped_editions(Connection& c, const EditionPlan& plan) {
    for (const auto& [edition_id, book_id] : plan.dropped) {
      auto st = c.prepare("DELETE FROM editions WHERE id = ? AND book_id = ?");
      st->bind(1, edition_id);
      st->bind(2, book_id);
      st->exec();
    }
  }

  static void update_edition(Connection& c, RowId id, RowId book_id, const Edition& e) {
    auto st = c.prepare(
        "UPDATE editions SET book_id = ?, foreign_id = ?, title = ?, isbn13 = ?, asin = ?, "
        "format = ?, is_ebook = ?, pages = ?, publisher = ?, language = ?, release_date = ?, "
        "rating = ?, monitored = ? WHERE id = ?");
    st->bind(1, book_id);
    bind_edition(*st, 2, e);
    st->bind(14, id);
    st->exec();
  }

  // Binds foreign_id .. monitored from parameter `first` on.
  static void bind_edition(SQLite::Statement& st, int first, const Edition& e) {
    int i = first;
    st.bind(i++, e.foreign_id);
    st.bind(i++, e.title);
    st.bind(i++, e.isbn13);
    st.bind(i++, e.asin);
    st.bind(i++, e.format);
    st.bind(i++, e.is_ebook ? 1 : 0);
    st.bind(i++, e.pages);
    st.bind(i++, e.publisher);
    st.bind(i++, e.language);
    sqlite::bind(st, i++, e.release_date);
    st.bind(i++, e.rating);
    st.bind(i++, e.monitored ? 1 : 0);
  }

  // Replaces the book's series links, writing only the links that differ. Series rows are
  // found by foreign id, created when missing, retitled when the source renamed them.
  static void sync_series(Connection& c, RowId book_id, const std::vector<BookWrite::Link>& links) {
    std::map<RowId, SeriesLink> wanted;
    for (const auto& l : links) {
      const RowId sid = ensure_series(c, l.series_foreign_id, l.series_title);
      wanted[sid] = SeriesLink{sid, book_id, l.position, l.series_position, l.primary};
    }
    std::map<RowId, SeriesLink> existing;
    {
      auto st = c.prepare("SELECT " + kLink.list() + " FROM series_books WHERE book_id = ?");
      st->bind(1, book_id);
      while (st->executeStep()) {
        SeriesLink link = link_row(*st);
        existing[link.series_id] = std::move(link);
      }
    }
    for (const auto& [sid, link] : existing) {
      if (wanted.count(sid)) continue;
      auto st = c.prepare("DELETE FROM series_books WHERE series_id = ? AND book_id = ?");
      st->bind(1, sid);
      st->bind(2, book_id);
      st->exec();
    }
    for (const auto& [sid, link] : wanted) {
      if (auto it = existing.find(sid); it != existing.end()) {
        const SeriesLink& old = it->second;
        if (old.position == link.position && old.series_position == link.series_position &&
            old.primary == link.primary)
          continue;
      }
      auto st = c.prepare(
          "INSERT INTO series_books (series_id, book_id, position, series_position, is_primary) "
          "VALUES (?, ?, ?, ?, ?) ON CONFLICT(series_id, book_id) DO UPDATE SET "
          "position = excluded.position, series_position = excluded.series_position, "
          "is_primary = excluded.is_primary");
      st->bind(1, sid);
      st->bind(2, book_id);
      st->bind(3, link.position);
      st->bind(4, link.series_position);
      st->bind(5, link.primary ? 1 : 0);
      st->exec();
    }
  }

  static RowId ensure_series(Connection& c, const std::string& foreign_id, const std::string& title) {
    if (foreign_id.empty()) fail(errc::invalid_argument, "a series link has no series foreign id");
    {
      auto st = c.prepare("SELECT id, title FROM series WHERE foreign_id = ?");
      st->bind(1, foreign_id);
      if (st->executeStep()) {
        const RowId id = st->getColumn(0).getInt64();
        const std::string old_title = st->getColumn(1).getString();
        st->reset();
        if (!title.empty() && title != old_title) {
          auto up = c.prepare("UPDATE series SET title = ? WHERE id = ?");
          up->bind(1, title);
          up->bind(2, id);
          up->exec();
        }
        return id;
      }
    }
    auto st =
        c.prepare("INSERT INTO series (id, foreign_id, title) VALUES (" + next_id("series") + ", ?, ?)");
    st->bind(1, foreign_id);
    st->bind(2, title);
    st->exec();
    return c.db().getLastInsertRowid();
  }

  std::string path_;
  std::mutex write_mutex_;
  Connection write_;
  std::mutex read_mutex_;
  Connection read_;
  std::atomic<std::int64_t> rows_written_{0};
};

}  // namespace

int catalog_schema_version() noexcept { return static_cast<int>(catalog_migrations().size()); }

Result<std::shared_ptr<Catalog>> open_sqlite_catalog(const SqliteCatalogOptions& options) {
  const std::string path = options.path.string();
  if (path.empty()) return Error{errc::invalid_argument, "the catalog needs a file path"};
  auto write = sqlite::open(path, {.what = "catalog", .busy_timeout = options.busy_timeout});
  if (!write) return write.error();
  // Race-safe (see sqlite::migrate): two processes or threads opening a new file at once both
  // succeed, the schema applied once. A catalog file of an earlier release has its version in
  // catalog_meta only; it is read there, and kept there in step.
  if (auto st = sqlite::migrate(**write, "catalog", catalog_migrations(),
                                {.legacy = {.meta_table = "catalog_meta", .meta_key = "schema_version"},
                                 .newer_file = errc::invalid_argument,
                                 .what = "catalog"});
      !st)
    return st.error();
  try {
    restore_id_marks(**write,
                     {"root_folders", "authors", "books", "editions", "series", "book_files", "exclusions"});
  } catch (const std::exception& e) {
    return Error{errc::store_error, "catalog " + path + ": cannot check its id marks: " + e.what()};
  }
  // The read connection never writes; SQLite enforces it (query_only).
  auto read = sqlite::open(
      path, {.what = "catalog", .busy_timeout = options.busy_timeout, .create = false, .query_only = true});
  if (!read) return read.error();
  return std::shared_ptr<Catalog>(
      std::make_shared<SqliteCatalog>(path, std::move(write).value(), std::move(read).value()));
}

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The Calibre library reader: the books of a Calibre library, read from its `metadata.db`
/// directly (no Calibre process, no content server), one book at a time.
///
/// A Calibre library is a folder holding `metadata.db` (SQLite) and one folder per book,
/// `Author/Title (id)/`, with `Title - Author.<format>` per format, `metadata.opf` and
/// `cover.jpg`. The reader opens the database read-only (`SQLite::OPEN_READONLY` and the URI
/// parameter `mode=ro`; never a write, never a journal of our own) and reads the tables `books`,
/// `authors` + `books_authors_link`, `series` + `books_series_link`, `publishers` +
/// `books_publishers_link`, `languages` + `books_languages_link`, `identifiers` and `data`.
/// A book's files are `<library>/<books.path>/<data.name>.<lower-case data.format>`.
///
/// Streaming and locks: books are read in id order, in batches of `CalibreOptions::batch`. Each
/// batch is read in one short read transaction (so a book's rows agree with each other) and the
/// lock is released before the visitor sees the batch, so a running Calibre can write between
/// batches; a writer that holds the database longer than `busy_timeout` makes the read fail with
/// `errc::unavailable` ("locked"), to be tried again later. `immutable` skips locking entirely,
/// for a copy or a read-only medium that nothing writes to (reading a database that changes
/// under an immutable reader can return inconsistent rows). Memory: one batch.
///
/// Errors (as values, messages naming the file):
///   - `errc::not_found`: the folder has no `metadata.db`;
///   - `errc::invalid_argument`: a relative root, a bad option, or the database is SQLite but not
///     a Calibre library (a table or column the reader needs is missing: the message names it);
///   - `errc::store_error`: the file is not SQLite or is corrupt;
///   - `errc::unavailable`: the database is locked (busy beyond the timeout) or cannot be opened
///     (permissions, I/O).
/// A book whose `path` (or a format's name) would lead outside the library is reported with
/// `problem` set and no files, not as an error.
///
/// Thread-safety: a `CalibreLibrary` holds one SQLite connection: use it from one thread at a
/// time. Several `CalibreLibrary` objects on one library may be used on different threads.
/// Ownership: the visitor's `CalibreBook` is valid during the call (moved-from afterwards).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/engine/error.hpp"

namespace shelfjobs {

struct CalibreAuthor {
  std::int64_t id = 0;
  std::string name;
  std::string sort;  ///< Calibre's author sort ("Example, Ada")
};

struct CalibreFile {
  std::string format;          ///< as Calibre names it: "EPUB", "AZW3", "PDF"
  std::filesystem::path path;  ///< absolute
  std::uint64_t size = 0;      ///< on disk when it exists, else Calibre's `uncompressed_size`
  bool exists = false;         ///< a regular file is there (one stat per file)
};

struct CalibreBook {
  std::int64_t id = 0;
  std::string title;
  std::string sort;                    ///< title sort
  std::filesystem::path folder;        ///< absolute: library / books.path
  std::vector<CalibreAuthor> authors;  ///< in Calibre's order (the first is the main author)
  std::string series;                  ///< empty: none
  double series_index = 1.0;
  std::optional<Date> pubdate;  ///< none when Calibre's "undefined" date (year 101) or empty
  std::string publisher;
  std::vector<std::string> languages;  ///< ISO 639 codes, in Calibre's order
  /// (type, value), by type: "isbn", "amazon", "mobi-asin", "goodreads", ... as Calibre keeps them.
  std::vector<std::pair<std::string, std::string>> identifiers;
  std::vector<CalibreFile> files;  ///< by format
  bool has_cover = false;
  std::filesystem::path cover;  ///< folder / "cover.jpg" when `has_cover`
  std::filesystem::path opf;    ///< folder / "metadata.opf" (Calibre's OPF backup; may be missing)
  std::string problem;          ///< set when the book's files could not be placed safely

  /// The value of an identifier type (ASCII case-insensitive), or empty.
  std::string identifier(std::string_view type) const;
  /// The `isbn` identifier, else the legacy `books.isbn` column.
  std::string isbn() const;
  /// `mobi-asin`, else `asin`, else `amazon` (Readarr reads the first two).
  std::string asin() const;

 private:
  friend class CalibreLibrary;
  std::string legacy_isbn_;
};

struct CalibreOptions {
  /// How long to wait for a writer (Calibre) to let go before a batch fails as locked.
  std::chrono::milliseconds busy_timeout{std::chrono::seconds(5)};
  /// Open with `immutable=1`: no locks at all (see above). Off by default.
  bool immutable = false;
  /// Books per read transaction (1..10000).
  int batch = 500;
};

struct CalibreScan {
  std::size_t books = 0;  ///< books handed to the visitor
  std::size_t files = 0;  ///< their files
  bool complete = true;   ///< false when the visitor or the stop token ended it early
};

class CalibreLibrary {
 public:
  /// True when `root` holds a regular file named `metadata.db` (a cheap test, nothing opened).
  static bool is_library(const std::filesystem::path& root);

  /// Opens the library at `root` (absolute) and checks that its database has the tables and
  /// columns the reader needs. Errors as above.
  static Result<CalibreLibrary> open(const std::filesystem::path& root, CalibreOptions options = {});

  CalibreLibrary(CalibreLibrary&&) noexcept;
  CalibreLibrary& operator=(CalibreLibrary&&) noexcept;
  ~CalibreLibrary();

  const std::filesystem::path& root() const;

  /// The number of books.
  Result<std::size_t> count_books();

  /// Calls `visit` for every book in id order; `visit` returns false to stop. The stop token is
  /// checked between books. Errors as above; books already visited stay visited.
  Result<CalibreScan> for_each_book(const std::function<bool(CalibreBook&)>& visit,
                                    std::stop_token stop = {});

 private:
  struct Impl;
  explicit CalibreLibrary(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shelfjobs

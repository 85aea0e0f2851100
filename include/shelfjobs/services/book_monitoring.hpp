// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Readarr's "Monitor" choice for an author's books: which of them a person wants, decided from
/// their release dates and files. A host asks for it when it adds an author
/// (`LibraryService::add_author`: applied once the author's first refresh has brought the
/// books) or for authors already in the catalog (`LibraryService::set_book_monitoring`, Readarr's
/// bookshelf editor).

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "shelfjobs/catalog/catalog.hpp"

namespace shelfjobs {

/// Readarr's MonitorTypes. "Released" below means a release date on or before today; a book
/// without a release date counts as not released yet, as in Readarr.
enum class BookMonitor {
  all,       ///< every book monitored
  future,    ///< books with files and released books unmonitored; the others keep their state
  missing,   ///< released books without files monitored, books with files unmonitored
  existing,  ///< books with files monitored, released books without files unmonitored
  latest,    ///< only the newest book (by release date) monitored
  first,     ///< only the oldest book (by release date) monitored
  none,      ///< no book monitored
};

/// Readarr's names ("all", "future", "missing", "existing", "latest", "first", "none"), in any
/// case; none for any other text.
std::optional<BookMonitor> parse_book_monitor(std::string_view name);
std::string_view to_string(BookMonitor monitor);

/// What the rule looks at in one book.
struct BookFacts {
  RowId id = 0;
  std::optional<Date> release_date;
  bool has_files = false;
  std::string foreign_id;  ///< Book::foreign_id, for a list of books to monitor
};

/// The books whose `monitored` the rule sets, each with its value, in `books` order (a book the
/// rule leaves alone is not listed). Pure: every case is a table row in the tests.
std::vector<std::pair<RowId, bool>> decide_book_monitoring(const std::vector<BookFacts>& books,
                                                           BookMonitor monitor, Date today);

/// Readarr's `booksToMonitor` as its clients send it: an array of foreign book ids, each a string
/// that is not empty or a whole number that is not negative. Returns the ids as text, sorted and
/// each once (a set: the same books in another order, or named twice, are the same choice).
/// Error: invalid_body, "<what> must be a list of foreign book ids", then the element at fault.
Result<std::vector<std::string>> parse_books_to_monitor(const nlohmann::json& ids, std::string_view what);

/// Readarr's booksToMonitor: the books whose foreign id is listed monitored, every other one
/// unmonitored (a listed id that is no book of these is ignored). Pure, like the rule above.
std::vector<std::pair<RowId, bool>> decide_listed_monitoring(const std::vector<BookFacts>& books,
                                                             const std::vector<std::string>& foreign_ids);

/// Applies the rule (or, when `books_to_monitor` is not empty, that list, as Readarr lets it win
/// over the rule) to the author's books as the catalog holds them now, in one transaction
/// (Catalog::set_books_monitoring), and returns the books whose `monitored` changed, as they are
/// now (a book a refresh removed meanwhile is skipped). The caller publishes what it wants (BookEdited).
/// Errors: the catalog's (not_found for a missing author, store_error).
Result<std::vector<Book>> apply_book_monitoring(Catalog& catalog, RowId author_id, BookMonitor monitor,
                                                Date today,
                                                const std::vector<std::string>& books_to_monitor = {});

}  // namespace shelfjobs

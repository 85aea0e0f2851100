// SPDX-License-Identifier: MIT
#pragma once
// Refresh planning: given what the catalog holds and what the source sent, what is written, what
// is kept and what is removed. Pure functions: no catalog, no source, no clock (the time is an
// argument), so Readarr's rules are tested as tables (tests/services/refresh_plan_test.cpp).
// The refresh service gathers the facts (refresh.cpp), plans, and applies the plan in one
// catalog transaction.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shelfjobs/adapters/metadata.hpp"
#include "shelfjobs/catalog/catalog.hpp"

namespace shelfjobs::detail {

/// What the catalog holds for one author's refresh, gathered before planning.
struct LocalFacts {
  /// The author's books (with a merge, the merged-away author's too).
  std::vector<Book> books;
  /// Works of the fetched data that are not among `books` but are in the catalog under another
  /// author (they moved upstream), by foreign id. See `works_new_to`.
  std::map<std::string, Book> elsewhere;
  /// File counts of the books that are gone upstream, by book id. See `books_gone_upstream`.
  std::map<RowId, std::int64_t> files;
};

/// The foreign ids of fetched works that are not among `local` (look them up elsewhere).
std::vector<std::string> works_new_to(const std::vector<Book>& local, const AuthorData& fetched);
/// The local books that are not among the fetched works and were not added by hand (their file
/// counts decide whether they go).
std::vector<RowId> books_gone_upstream(const std::vector<Book>& local, const AuthorData& fetched);

/// What one author's refresh does.
struct AuthorPlan {
  /// False: nothing to write (unchanged upstream and checked within the minimum age).
  bool write = false;
  /// False: the data is unchanged; only the sync time is written (when `write`).
  bool changed = false;
  AuthorWrite w;
  std::vector<std::size_t> added;  ///< indexes into `w.books` of new books
  int updated = 0;
  std::vector<Book> kept_with_files;        ///< gone upstream but kept: they have files
  std::optional<std::string> renamed_from;  ///< the old name, when the source renamed the author
};

/// Readarr's author refresh rules. `author` is the local author the data belongs to (after a
/// merge: the target, or the re-keyed author); `merged_from` the author merged away (0: none).
///   - Unchanged (equal hash, no merge): nothing is written, except the sync time when the last
///     check is older than `min_age` (so the scheduling rules see the source was asked).
///   - Changed: the author row takes the fetched name, sort name, overview, status, hash and
///     sync time; each fetched work is added (new), updated (its hash or its author differs;
///     a work found under another author moves here), or left alone (same hash, same author);
///     works repeated in the fetched data count once.
///   - A local book missing upstream is removed, unless it was added by hand or has files
///     (then it is kept; the catalog checks files again inside its transaction).
AuthorPlan plan_author(Author author, const AuthorData& fetched, const LocalFacts& local, RowId merged_from,
                       TimePoint now, std::chrono::hours min_age);

/// What one book's refresh does: `write` false when unchanged and checked within `min_age`;
/// `changed` false when only the sync time is written.
struct BookPlan {
  bool write = false;
  bool changed = false;
  AuthorWrite w;
};
BookPlan plan_book(const Book& book, const WorkData& fetched, TimePoint now, std::chrono::hours min_age);

/// An entity the source answered 404 for.
enum class NotFound {
  keep_has_files,      ///< it has files: kept (a user's files are never orphaned)
  keep_added_by_hand,  ///< a user added it (or a book of it): kept
  remove,              ///< removed now
  remove_at_end,       ///< removed at the end of a run over all authors, unless guarded
};
/// `defer`: the run covers all authors (removals wait for `removal_guarded`).
NotFound decide_not_found(std::int64_t files, bool added_by_hand, bool defer);

/// True when a run over all authors must remove none of the `missing` ones: at least
/// `guard_min` of them and more than `guard_share` of the `asked` authors were missing, so the
/// source itself looks wrong (a wrong address, an outage answering 404).
bool removal_guarded(int missing, int asked, int guard_min, double guard_share);

}  // namespace shelfjobs::detail

// SPDX-License-Identifier: MIT
#pragma once
/// The refresh service: keeps the catalog's authors and books up to date from a metadata source.
///
/// Commands (register with `RefreshService::register_commands`):
///   - RefreshAuthor {authorId?, authorIds?}: one author and its books, several (a bulk refresh),
///     or (no id) every author that needs it
///     in name order, reporting "k of N: Author Name". A scheduled run picks authors by
///     `should_refresh_author`; a manual or event run refreshes all. High priority, `refresh` lock.
///     Runs over all authors trust the source's fresh cache (an unchanged library costs no
///     request); a manual run for one author revalidates its cached answer.
///   - RefreshBook {bookId?}: one book (work) and its editions, or every book that needs it
///     (`should_refresh_book`). High priority, `refresh` lock.
///   - MoveAuthor {authorId, sourcePath, destinationPath}: renames the author's folder and updates
///     the author's path and every book file path in one transaction. `disk` and `refresh` locks
///     (a refresh must not write an author row around its move).
///
/// Events (published on the host's EventBus): AuthorAdded, BookAdded, AuthorRenamed,
/// AuthorRemoved, AuthorMerged, AuthorMoved, AuthorRefreshed. `add_rules` maps AuthorAdded -> RefreshAuthor,
/// BookAdded (by a user) -> RefreshBook, AuthorRenamed -> MoveAuthor.
///
/// What a refresh never does: delete anything on a failure other than a 404 (timeouts, 5xx,
/// 429, malformed data change nothing); delete an author or book that has files; rewrite rows
/// whose fetched data hashes to the stored metadata hash.
///
/// Thread-safety: the service may be used from any thread; its handlers run on the engine's
/// workers, one refresh at a time (the `refresh` lock).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/fwd.h>

#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/engine/clock.hpp"
#include "shelfjobs/engine/command.hpp"
#include "shelfjobs/engine/engine.hpp"
#include "shelfjobs/engine/events.hpp"
#include "shelfjobs/adapters/metadata.hpp"

namespace shelfjobs {

// ---- Commands ---------------------------------------------------------------------------------

struct RefreshAuthor : Command {
  static constexpr const char* kName = "RefreshAuthor";
  std::optional<RowId> authorId;  ///< none (and no authorIds): every author that needs it
  /// A bulk refresh of these authors (Readarr's mass editor sends `authorIds`): each is
  /// refreshed, failures are counted and the run goes on.
  std::vector<RowId> authorIds;
  /// authorId and authorIds together, without repeats.
  std::vector<RowId> ids() const;
};
void to_json(nlohmann::json& j, const RefreshAuthor& c);
void from_json(const nlohmann::json& j, RefreshAuthor& c);

struct RefreshBook : Command {
  static constexpr const char* kName = "RefreshBook";
  std::optional<RowId> bookId;  ///< none: every book that needs it
};
void to_json(nlohmann::json& j, const RefreshBook& c);
void from_json(const nlohmann::json& j, RefreshBook& c);

struct MoveAuthor : Command {
  static constexpr const char* kName = "MoveAuthor";
  RowId authorId = 0;
  std::string sourcePath;       ///< the folder as the catalog had it when the move was asked
  std::string destinationPath;  ///< the new folder (must not exist)
};
void to_json(nlohmann::json& j, const MoveAuthor& c);
void from_json(const nlohmann::json& j, MoveAuthor& c);

// ---- Events -----------------------------------------------------------------------------------

struct AuthorAdded {
  static constexpr const char* kName = "AuthorAdded";
  Author author;
};

struct BookAdded {
  static constexpr const char* kName = "BookAdded";
  Book book;
  /// True when the book came with fresh metadata (added by an author refresh): no RefreshBook
  /// is needed for it.
  bool from_refresh = false;
};

struct AuthorRenamed {
  static constexpr const char* kName = "AuthorRenamed";
  RowId author_id = 0;
  std::string old_name, new_name;
  std::filesystem::path old_path, new_path;
};

struct AuthorRemoved {
  static constexpr const char* kName = "AuthorRemoved";
  Author author;
  std::string reason;
};

struct AuthorMerged {
  static constexpr const char* kName = "AuthorMerged";
  RowId from_author_id = 0;     ///< deleted (0 when the author was re-keyed in place)
  RowId into_author_id = 0;
  std::string old_foreign_id, new_foreign_id;
};

struct AuthorMoved {
  static constexpr const char* kName = "AuthorMoved";
  RowId author_id = 0;
  std::filesystem::path old_path, new_path;
  std::int64_t files = 0;  ///< book file rows re-pointed
};

struct AuthorRefreshed {
  static constexpr const char* kName = "AuthorRefreshed";
  RowId author_id = 0;
  bool changed = false;
  int books_added = 0, books_updated = 0, books_removed = 0;
};

/// The events as JSON (camelCase keys, times in ISO 8601 UTC), for hosts that pass them on
/// (EventBus::set_forwarder): AuthorAdded {authorId, author}; BookAdded {bookId, authorId,
/// fromRefresh, book}; AuthorRenamed {authorId, oldName, newName, oldPath, newPath};
/// AuthorRemoved {authorId, author, reason}; AuthorMerged {fromAuthorId, intoAuthorId,
/// oldForeignId, newForeignId}; AuthorMoved {authorId, oldPath, newPath, files};
/// AuthorRefreshed {authorId, changed, booksAdded, booksUpdated, booksRemoved}. An author is
/// {id, foreignAuthorId, authorName, sortName, path, rootFolderId, monitored, status, added,
/// lastInfoSync}; a book {id, authorId, foreignBookId, title, releaseDate, genres, monitored,
/// manuallyAdded, lastInfoSync}.
void to_json(nlohmann::json& j, const AuthorAdded& e);
void to_json(nlohmann::json& j, const BookAdded& e);
void to_json(nlohmann::json& j, const AuthorRenamed& e);
void to_json(nlohmann::json& j, const AuthorRemoved& e);
void to_json(nlohmann::json& j, const AuthorMerged& e);
void to_json(nlohmann::json& j, const AuthorMoved& e);
void to_json(nlohmann::json& j, const AuthorRefreshed& e);

// ---- Which entities need a refresh (Readarr's rules) -----------------------------------------

struct RefreshRules {
  std::chrono::hours author_max_age{24 * 30};     ///< older than this: refresh
  std::chrono::hours min_age{12};                 ///< refreshed within this: skip
  std::chrono::hours continuing_age{24 * 2};      ///< continuing and older than this: refresh
  std::chrono::hours recent_release{24 * 30};     ///< a book released within this: refresh
  std::chrono::hours book_max_age{24 * 60};       ///< a book older than this: refresh
};

/// Readarr's ShouldRefreshAuthor, in order: never synced or older than 30 days -> yes; synced
/// within 12 h -> no; continuing and older than 2 days -> yes; newest book released within the
/// last 30 days -> yes; otherwise no.
bool should_refresh_author(const Author& author, std::optional<Date> newest_release, TimePoint now,
                           const RefreshRules& rules = {});
/// Readarr's ShouldRefreshBook: never synced or older than 60 days -> yes; synced within 12 h ->
/// no; released within the last 30 days or in the future -> yes; otherwise no.
bool should_refresh_book(const Book& book, TimePoint now, const RefreshRules& rules = {});

// ---- The service ------------------------------------------------------------------------------

/// What one refresh run did (also the job's message).
struct RefreshSummary {
  int refreshed = 0;   ///< fetched and written (changed)
  int unchanged = 0;   ///< fetched, same hash: nothing written
  int skipped = 0;     ///< not due (scheduled runs): not fetched
  int failed = 0;      ///< fetch or write failed: catalog untouched for that author
  int deferred = 0;    ///< still loading upstream (`Works: null`): queued again for later
  int removed = 0;     ///< gone upstream (404) and without files
  int guarded = 0;     ///< 404 but kept: too many authors of the run were missing (see RefreshOptions)
  int merged = 0;
  int renamed = 0;
  int books_added = 0, books_updated = 0, books_removed = 0;
  std::string message() const;
};

struct RefreshOptions {
  std::shared_ptr<Catalog> catalog;          ///< required
  std::shared_ptr<MetadataSource> source;    ///< required
  std::shared_ptr<EventBus> events;          ///< null: events are not published
  std::shared_ptr<Clock> clock;              ///< null: system clock
  std::shared_ptr<spdlog::logger> logger;    ///< null: a quiet logger
  RefreshRules rules;
  /// A `Works: null` answer during a run of all authors pushes RefreshAuthor{id} for later
  /// instead of failing the run; this is the delay.
  std::chrono::milliseconds not_ready_retry{std::chrono::seconds(10)};
  /// A run over all authors removes the ones the source answers 404 for (and that have no
  /// files) at its end, unless at least `removal_guard_min` of them and more than
  /// `removal_guard_share` of the authors it asked were missing: a source that suddenly knows
  /// nobody (a wrong address, an outage answering 404) must not empty the library.
  int removal_guard_min = 3;
  double removal_guard_share = 0.5;
};

class RefreshService {
 public:
  /// Errors: `errc::invalid_argument` when the catalog or the source is missing.
  static Result<std::shared_ptr<RefreshService>> create(RefreshOptions options);

  /// Registers RefreshAuthor, RefreshBook and MoveAuthor with their traits.
  void register_commands(Registry& registry);
  /// Kept for hosts written against earlier releases; does nothing. Follow-up jobs (delayed
  /// refreshes of authors the source is still loading) go through the running job's context.
  [[deprecated("handlers push follow-ups through JobContext; attach is no longer needed")]]
  void attach(Engine& engine);
  /// AuthorAdded -> RefreshAuthor{id}; BookAdded (not from a refresh) -> RefreshBook{id};
  /// AuthorRenamed -> MoveAuthor (Manual priority rules apply: High). Needs `events`.
  void add_rules(Engine& engine);

  /// Adds an author by its foreign id under a root folder: the name comes from the source
  /// (one request), the folder is `root/safe_folder_name(name)`, the books come with the
  /// refresh that AuthorAdded triggers. Errors: not_found (the source has no such author),
  /// conflict (already in the catalog), invalid_argument (no such root folder), or the
  /// source's failure as `errc::invalid_argument` with its message.
  Result<Author> add_author(const std::string& foreign_id, RowId root_folder_id, bool monitored = true);

  /// Adds a book (a work) by its foreign id, as a user does: the work, its editions and series
  /// come from the source (one request); the book is monitored as asked and marked manually
  /// added (a refresh never removes it for being gone upstream). When its author is not in the
  /// catalog yet, the author is added too, unmonitored, under `root_folder_id` (AuthorAdded
  /// then refreshes it). Publishes BookAdded, whose rule pushes RefreshBook. Errors as for
  /// `add_author`; `root_folder_id` is only needed (and checked) for a new author.
  Result<Book> add_book(const std::string& work_foreign_id, RowId root_folder_id, bool monitored = true);

  /// The work behind RefreshAuthor/RefreshBook, callable directly (tests, tools). `ctx` may be
  /// null. Throws JobError for a single entity's failure (the engine retries by kind).
  RefreshSummary refresh_author(std::optional<RowId> author_id, Trigger trigger, JobContext* ctx);
  /// Several authors at once (none: all), as RefreshAuthor{authorIds}.
  RefreshSummary refresh_authors(const std::vector<RowId>& author_ids, Trigger trigger, JobContext* ctx);
  RefreshSummary refresh_book(std::optional<RowId> book_id, Trigger trigger, JobContext* ctx);
  /// Throws JobError (filesystem for a failed rename, permanent when the target exists).
  void move_author(const MoveAuthor& command, JobContext* ctx);

 private:
  struct Impl;
  explicit RefreshService(std::unique_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace shelfjobs

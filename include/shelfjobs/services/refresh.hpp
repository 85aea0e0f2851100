// SPDX-License-Identifier: MIT
#pragma once
/// The refresh service: keeps the catalog's authors and books up to date from a metadata source.
///
/// Commands (the service registers them on its host, see service.hpp):
///   - RefreshAuthor {authorId?, authorIds?}: one author and its books, several (a bulk refresh),
///     or (no id) every author that needs it
///     in name order, reporting "k of N: Author Name". A scheduled run picks authors by
///     `should_refresh_author`; a manual or event run refreshes all. High priority, `refresh` lock.
///     Runs over all authors trust the source's fresh cache (an unchanged library costs no
///     request); a manual run for one author revalidates its cached answer.
///   - RefreshBook {bookId?}: one book (work) and its editions, or every book that needs it
///     (`should_refresh_book`). High priority, `refresh` lock.
///   - MoveAuthor {authorId, sourcePath, destinationPath}: renames the author's folder and updates
///     the author's path and every book file path in one transaction. `disk`, `refresh` and
///     `import` locks (a refresh must not write an author row around its move, nor an import a
///     file into the folder being renamed).
///
/// Events (published on the host's EventBus): AuthorAdded, BookAdded, AuthorRenamed,
/// AuthorRemoved, AuthorMerged, AuthorMoved, AuthorRefreshed (catalog_events.hpp). Its rules map
/// AuthorAdded -> RefreshAuthor, BookAdded (by a user) -> RefreshBook, AuthorRenamed -> MoveAuthor.
/// Adding authors and books is the library service's (library.hpp).
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

#include <spdlog/fwd.h>
#include <nlohmann/json.hpp>

#include "shelfjobs/adapters/metadata.hpp"
#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/engine/clock.hpp"
#include "shelfjobs/engine/command.hpp"
#include "shelfjobs/engine/engine.hpp"
#include "shelfjobs/engine/events.hpp"
#include "shelfjobs/services/catalog_events.hpp"
#include "shelfjobs/services/service.hpp"

namespace shelfjobs {

// ---- Commands ---------------------------------------------------------------------------------

struct RefreshAuthor : Command {
  static constexpr const char* kName = "RefreshAuthor";
  std::optional<RowId> authorId;  ///< none (and no authorIds): every author that needs it
  /// A bulk refresh of these authors (Readarr's mass editor sends `authorIds`): each is
  /// refreshed, failures are counted and the run goes on.
  std::vector<RowId> authorIds;
  /// Readarr's "Monitor" choice ("future", "none", ...; see book_monitoring.hpp), applied to the
  /// author's books once a refresh of the one author `authorId` has brought them: the refresh
  /// that AuthorAdded starts carries the choice made when the author was added. A body with an
  /// unknown name, or with `monitor` but not `authorId` alone, is refused (a push answers
  /// invalid_argument).
  std::optional<BookMonitor> monitor;
  /// Readarr's booksToMonitor, carried the same way (one author only): when not empty, exactly
  /// these books (foreign ids; strings, or whole numbers that are not negative) are monitored,
  /// `monitor` aside. Kept sorted and without repeats. Anything else: refused.
  std::vector<std::string> booksToMonitor;
  /// Readarr's addOptions.searchForMissingBooks, carried the same way (one author only): the
  /// AuthorRefreshed of that author says it (AuthorRefreshed::search_for_missing), published
  /// once `monitor` is applied, and the acquisition service's rule searches accordingly. A
  /// value that is not a boolean is refused.
  std::optional<bool> searchForMissingBooks;
  /// Readarr's isNewAuthor: the refresh that AuthorAdded starts (one author only). Its
  /// AuthorRefreshed says so (AuthorRefreshed::new_author), for the rules that act on a new
  /// author's books once they are in.
  bool isNewAuthor = false;
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

// ---- Which entities need a refresh (Readarr's rules) -----------------------------------------

struct RefreshRules {
  std::chrono::hours author_max_age{24 * 30};  ///< older than this: refresh
  std::chrono::hours min_age{12};              ///< refreshed within this: skip
  std::chrono::hours continuing_age{24 * 2};   ///< continuing and older than this: refresh
  std::chrono::hours recent_release{24 * 30};  ///< a book released within this: refresh
  std::chrono::hours book_max_age{24 * 60};    ///< a book older than this: refresh
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
  int refreshed = 0;  ///< fetched and written (changed)
  int unchanged = 0;  ///< fetched, same hash: nothing written
  int skipped = 0;    ///< not due (scheduled runs): not fetched
  int failed = 0;     ///< fetch or write failed: catalog untouched for that author
  int deferred = 0;   ///< still loading upstream (`Works: null`): queued again for later
  int removed = 0;    ///< gone upstream (404) and without files
  int guarded = 0;    ///< 404 but kept: too many authors of the run were missing (see RefreshOptions)
  int merged = 0;
  int renamed = 0;
  int books_added = 0, books_updated = 0, books_removed = 0;
  std::string message() const;
};

struct RefreshOptions {
  std::shared_ptr<Catalog> catalog;        ///< required
  std::shared_ptr<MetadataSource> source;  ///< required
  std::shared_ptr<EventBus> events;        ///< null: the host's bus (none without a host)
  std::shared_ptr<Clock> clock;            ///< null: system clock
  std::shared_ptr<spdlog::logger> logger;  ///< null: a quiet logger
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

/// The refresh service (name "refresh"): RefreshAuthor, RefreshBook and MoveAuthor with their
/// traits, the RefreshAuthor task (24 h by default, 12 h to 7 days or off), and the rules
/// AuthorAdded -> RefreshAuthor{id}, BookAdded (not from a refresh) -> RefreshBook{id},
/// AuthorRenamed -> MoveAuthor. It publishes on `RefreshOptions::events`, or on the host's bus
/// when that is null.
class RefreshService : public Service {
 public:
  /// Errors: `errc::invalid_argument` when the catalog or the source is missing.
  static Result<std::shared_ptr<RefreshService>> create(RefreshOptions options);

  std::string_view name() const override { return "refresh"; }
  void register_commands(Registry& registry, ServiceContext& host) override;
  std::vector<TaskSpec> tasks() const override;
  void add_rules(ServiceContext& host) override;

  /// Registers the commands into a registry of the caller's (tools and tests that run the
  /// handlers without a host). Events go to `RefreshOptions::events` only.
  void register_commands(Registry& registry);

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

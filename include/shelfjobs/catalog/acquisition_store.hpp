// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The acquisition service's own data: the indexers and download clients a user set up
/// (Readarr's "providers"), their failure status, each indexer's RSS high-water mark, the
/// history of grabs and imports, the blocklist, the pending releases and the downloads being
/// tracked.
///
/// `open_sqlite_acquisition_store` keeps them in a SQLite file, by default the catalog's own
/// (schema "acquisition" beside schema "catalog", each migrated on its own), so housekeeping
/// and backups see one library database and a history row can name a book of the same file.
/// Nothing here references catalog rows by foreign key: a book removed from the catalog
/// leaves its history (housekeeping prunes it).
///
/// Errors: every call returns a value; a SQLite failure is `errc::store_error` with SQLite's
/// message, a missing row `errc::not_found`, a second provider of one kind with the same name
/// `errc::conflict`, a page or page size below 1 `errc::invalid_argument`. Each write is one
/// transaction: a failed write changes nothing.
///
/// Thread-safety: every member may be called from any thread at once (one write connection
/// behind a mutex, reads on their own connection).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/job.hpp"

namespace shelfjobs {

/// Readarr's two provider families that acquisition uses.
enum class ProviderKind { indexer, download_client };
/// "indexer", "downloadclient" (Readarr's API path segment).
const char* to_string(ProviderKind kind) noexcept;

/// One configured indexer or download client, in Readarr's provider form.
struct ProviderDefinition {
  RowId id = 0;
  ProviderKind kind = ProviderKind::indexer;
  std::string name;  ///< unique within its kind (case-sensitive)
  /// Readarr's implementation name: "Newznab", "Torznab"; "QBittorrent", "Transmission",
  /// "Nzbget", "Sabnzbd", "TorrentBlackhole", "UsenetBlackhole".
  std::string implementation;
  std::string protocol;  ///< "torrent" or "usenet"
  /// Indexer: RSS enabled (Readarr's enableRss). Download client: enabled.
  bool enable = true;
  bool enable_automatic_search = true;    ///< indexers only
  bool enable_interactive_search = true;  ///< indexers only
  int priority = 25;                      ///< 1 (first) .. 50; lower is preferred
  /// The implementation's settings as a JSON object (`{"baseUrl": ..., "apiKey": ...}`),
  /// secrets in clear: the store is the library's own file. Hosts that show a definition hide
  /// the secrets themselves.
  std::string settings = "{}";
  std::vector<int> tags;
};

/// A provider's failures, for Readarr's escalation ladder (the services' provider backoff,
/// src/services/acquisition/provider_backoff.hpp).
struct ProviderStatus {
  ProviderKind kind = ProviderKind::indexer;
  RowId provider_id = 0;
  int escalation_level = 0;  ///< 0: healthy
  std::optional<TimePoint> initial_failure;
  std::optional<TimePoint> most_recent_failure;
  std::optional<TimePoint> disabled_till;  ///< blocked until then
  std::optional<TimePoint> last_success;
  std::string last_error;  ///< the latest failure's message ("" after a success)
};

/// The last release an indexer's previous RSS sync saw.
struct IndexerMark {
  RowId indexer_id = 0;
  std::string guid;
  std::string download_url;
  TimePoint publish_date{};
};

/// A release as acquisition records it (in history, the blocklist, pending releases and
/// tracked downloads).
struct ReleaseRecord {
  std::string title;
  std::string guid;
  std::string download_url;
  std::string info_url;
  RowId indexer_id = 0;
  std::string indexer;   ///< its name when recorded
  std::string protocol;  ///< "torrent" or "usenet"
  std::int64_t size = 0;
  std::optional<TimePoint> publish_date;
  std::optional<int> seeders;
  std::optional<int> peers;
  std::string format;  ///< parsed from the title ("epub", "m4b"); "" unknown
  std::string infohash;
  std::string magnet_url;
};

/// Readarr's history event types (EntityHistoryEventType), with their numbers.
enum class HistoryEvent : int {
  grabbed = 1,
  book_file_imported = 3,
  download_failed = 4,
  book_import_incomplete = 7,
  download_imported = 8,
  download_ignored = 10,
};
/// "grabbed", "bookFileImported", "downloadFailed", "bookImportIncomplete", "downloadImported",
/// "downloadIgnored" (Readarr's JSON names).
const char* to_string(HistoryEvent e) noexcept;
/// The event of a JSON name or Readarr number ("grabbed", "1"); nullopt when unknown.
std::optional<HistoryEvent> history_event_from(std::string_view text) noexcept;

struct HistoryEntry {
  RowId id = 0;
  HistoryEvent event = HistoryEvent::grabbed;
  TimePoint date{};  ///< zero on insert: now
  RowId author_id = 0;
  RowId book_id = 0;
  std::string source_title;  ///< the release title
  std::string download_id;   ///< the client's id of the download ("" when none)
  /// Event details as a JSON object (indexer, downloadClient, protocol, size, guid, message,
  /// importedPath ...), Readarr's `data` map.
  std::string data = "{}";
};

struct HistoryQuery {
  std::int64_t page = 1;  ///< from 1
  std::int64_t page_size = 20;
  std::optional<HistoryEvent> event;  ///< only this type
  RowId book_id = 0;                  ///< 0: any
  RowId author_id = 0;                ///< 0: any
  std::string download_id;            ///< "": any
};

/// A release that must not be grabbed again.
struct BlocklistEntry {
  RowId id = 0;
  RowId author_id = 0;
  std::vector<RowId> book_ids;
  ReleaseRecord release;
  TimePoint date{};     ///< zero on insert: now
  std::string message;  ///< why ("download failed: ...", "removed by the user")
};

/// A release accepted but not grabbed yet (its download client was unavailable).
struct PendingRelease {
  RowId id = 0;
  RowId author_id = 0;
  RowId book_id = 0;
  ReleaseRecord release;
  std::string reason;  ///< "downloadClientUnavailable", "fallback"
  TimePoint added{};   ///< zero on insert: now
};

/// Where a grabbed download stands, as the service tracks it.
enum class TrackedState {
  downloading,     ///< in the client, not finished
  import_pending,  ///< finished in the client; the import is queued
  imported,        ///< imported into the library (terminal)
  import_failed,   ///< finished, but the import brought no file in (kept for a retry)
  failed,          ///< the client failed it; blocklisted (terminal)
  removed,         ///< removed from the queue by a user (terminal)
};
/// "downloading", "importPending", "imported", "importFailed", "failed", "removed".
const char* to_string(TrackedState s) noexcept;
std::optional<TrackedState> tracked_state_from(std::string_view text) noexcept;

struct TrackedDownload {
  RowId id = 0;
  RowId client_id = 0;      ///< the download client's provider id
  std::string download_id;  ///< the client's id of the item
  RowId author_id = 0;
  RowId book_id = 0;
  ReleaseRecord release;
  TrackedState state = TrackedState::downloading;
  std::string status = "queued";  ///< the client's latest DownloadStatus name
  std::int64_t size = 0;          ///< bytes (the release's until the client reports)
  std::int64_t size_left = 0;
  std::optional<std::int64_t> eta_seconds;
  std::string output_path;  ///< where the client put it, once known
  std::string message;      ///< the client's or the import's latest message
  TimePoint grabbed{};      ///< zero on insert: now
  TimePoint updated{};      ///< zero on write: now
};

template <class T>
struct RecordPage {
  std::vector<T> records;
  std::int64_t total = 0;
};

/// What `AcquisitionStore::remove_orphans` removed.
struct AcquisitionOrphans {
  std::int64_t history = 0;    ///< rows naming an author or a book that is gone
  std::int64_t blocklist = 0;  ///< entries whose author is gone, or all of whose books are
  std::int64_t pending = 0;    ///< pending releases of an author or book that is gone
  std::int64_t statuses = 0;   ///< status rows and RSS marks of removed indexers and clients
  std::int64_t total() const noexcept { return history + blocklist + pending + statuses; }
};

class AcquisitionStore {
 public:
  virtual ~AcquisitionStore() = default;

  // Providers. `add_provider` ignores the id and returns the row; `remove_provider` also
  // deletes its status, its mark and its pending releases, and returns the row as it was.
  virtual Result<ProviderDefinition> add_provider(ProviderDefinition definition) = 0;
  virtual Status update_provider(const ProviderDefinition& definition) = 0;
  virtual Result<ProviderDefinition> remove_provider(ProviderKind kind, RowId id) = 0;
  virtual Result<ProviderDefinition> provider(ProviderKind kind, RowId id) = 0;
  /// Every provider of a kind, by priority then name.
  virtual Result<std::vector<ProviderDefinition>> providers(ProviderKind kind) = 0;

  // Provider status: one row per provider; absent means healthy.
  virtual Result<std::vector<ProviderStatus>> provider_statuses(ProviderKind kind) = 0;
  virtual Result<std::optional<ProviderStatus>> provider_status(ProviderKind kind, RowId id) = 0;
  /// Inserts or replaces the row of (kind, provider_id). not_found when no such provider.
  virtual Status put_provider_status(const ProviderStatus& status) = 0;

  // RSS high-water marks.
  virtual Result<std::optional<IndexerMark>> mark(RowId indexer_id) = 0;
  /// Inserts or replaces the mark of `mark.indexer_id`. not_found when no such indexer.
  virtual Status put_mark(const IndexerMark& mark) = 0;

  // History, newest first.
  virtual Result<HistoryEntry> add_history(HistoryEntry entry) = 0;
  virtual Result<RecordPage<HistoryEntry>> history(const HistoryQuery& query) = 0;

  // Blocklist, newest first.
  virtual Result<BlocklistEntry> add_blocklist(BlocklistEntry entry) = 0;
  virtual Result<RecordPage<BlocklistEntry>> blocklist(std::int64_t page, std::int64_t page_size) = 0;
  /// Every entry whose books include `book_id` (a decision checks a release against them).
  virtual Result<std::vector<BlocklistEntry>> blocklist_of_book(RowId book_id) = 0;
  virtual Status remove_blocklist(RowId id) = 0;

  // Pending releases, oldest first.
  virtual Result<PendingRelease> add_pending(PendingRelease pending) = 0;
  virtual Result<std::vector<PendingRelease>> pending() = 0;
  virtual Status remove_pending(RowId id) = 0;

  // Tracked downloads.
  virtual Result<TrackedDownload> add_tracked(TrackedDownload download) = 0;
  /// Replaces the row with `download.id` (not_found when gone).
  virtual Status update_tracked(const TrackedDownload& download) = 0;
  virtual Result<TrackedDownload> tracked(RowId id) = 0;
  /// The downloads not in a terminal state (downloading, import_pending, import_failed), by
  /// grab time.
  virtual Result<std::vector<TrackedDownload>> active_downloads() = 0;
  /// The tracked download of a client's item, whatever its state; the newest when the item was
  /// grabbed more than once (not_found when none). `add_tracked` and `update_tracked` refuse
  /// (conflict) a client id that another download still followed (not in a terminal state)
  /// holds; an empty client id (not handed over yet) is never a conflict.
  virtual Result<TrackedDownload> tracked_by_download(RowId client_id, std::string_view download_id) = 0;

  // Housekeeping ----------------------------------------------------------------------------------
  /// Deletes the rows of authors and books that are gone: history, blocklist entries and
  /// pending releases naming an author not in `authors` or a book not in `books` (an id of 0
  /// names nothing and is kept; a blocklist entry goes when its author is gone or none of its
  /// books is left), and provider status rows and RSS marks of providers that no longer exist.
  /// `authors` and `books` are every id the catalog holds. One transaction.
  virtual Result<AcquisitionOrphans> remove_orphans(const std::vector<RowId>& authors,
                                                    const std::vector<RowId>& books) = 0;
  /// Deletes history rows dated before `cutoff`. Returns how many.
  virtual Result<std::int64_t> remove_history_before(TimePoint cutoff) = 0;
  /// Status times later than `now` (a clock that ran ahead) become `now`; a `disabled_till`
  /// further than `max_block` ahead becomes `now + max_block` (no status blocks longer than the
  /// ladder's top period). Returns the status rows changed.
  virtual Result<std::int64_t> clamp_future_times(TimePoint now, std::chrono::seconds max_block) = 0;
};

struct SqliteAcquisitionStoreOptions {
  /// The database file (created when missing); the catalog's file is the usual choice.
  std::filesystem::path path;
  std::chrono::milliseconds busy_timeout{5000};
};

/// Opens (creating and migrating schema "acquisition") the SQLite store. Errors: store_error
/// naming the file when it cannot be opened or migrated; invalid_argument when the file's
/// schema is newer than this build knows.
Result<std::shared_ptr<AcquisitionStore>> open_sqlite_acquisition_store(
    const SqliteAcquisitionStoreOptions& options);

/// The version `open_sqlite_acquisition_store` migrates schema "acquisition" to.
int acquisition_schema_version() noexcept;

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The acquisition service (name "acquisition"): finds wanted books on the indexers, hands the
/// best release of each to a download client, follows the download and brings the finished
/// one into the library through the import service.
///
/// Commands (registered on the host, see service.hpp):
///   - RssSync {} (Normal; the RssSync task, 15 min by default, off or 5-60 min): every
///     enabled indexer that is not blocked is read in parallel (at most
///     `max_parallel_indexers` at once) from its high-water mark on (newznab.hpp's paging);
///     the stored pending releases join them; every release is decided (release_decision.hpp);
///     the best accepted release per book is grabbed. Message: "Reports found: N, grabbed: M,
///     pending: P, rejected: R", and one line per indexer that failed.
///   - BookSearch {bookIds}, AuthorSearch {authorId}, MissingBookSearch {} (Normal): search
///     every indexer with automatic search enabled for each book (author and title) and grab
///     the same way. MissingBookSearch takes every monitored book without a file (the
///     catalog's `missing_books`); the rule below pushes it for a newly added author's books.
///   - RefreshMonitoredDownloads {} (High; every minute): lists each enabled client's items in
///     its category, updates the tracked downloads (status, size left, ETA, output path), and
///     for an item that completed publishes DownloadCompleted; one that failed is blocklisted
///     (its book becomes wanted again: the next sync or search may grab another release) and
///     publishes DownloadFailed. An item that vanished from its client stays as it was.
///   - ImportCompletedDownload {downloadId} (Critical; lock `import`, as the import's commands):
///     imports a completed tracked download from its output path (DownloadedBooksScan with the
///     client's id, so `auto` hardlinks a torrent still seeding) and records the outcome in
///     history; a download that brought no file in becomes `import_failed` (its message says
///     why) and is tried again by the next RefreshMonitoredDownloads.
///
/// Rules: DownloadCompleted -> ImportCompletedDownload{id}; AuthorAdded, then that author's
/// AuthorRefreshed -> AuthorSearch{id} (Readarr's "search for missing books" on add): when the
/// author was added with `search_for_missing` true, or without that choice when
/// `search_on_author_added` and the author is monitored.
///
/// Indexer failures (errors of newznab.hpp) set the indexer's status with Readarr's escalation
/// ladder (1 min, 5 min, 15 min, 30 min, 1 h, 3 h, 6 h, 12 h, 24 h; a 429 or "request limit
/// reached" backs off at least its Retry-After, 1 h without one; a refused connection does not
/// escalate; during the first 15 minutes after start a failure blocks for at most 5 minutes);
/// a blocked indexer is skipped until its time; a success steps it down one level. Download
/// clients use the same ladder capped at 1 h, escalating only 5 minutes after their first
/// failure. Requests to one indexer are spaced by `indexer_spacing` through the rate limiter
/// key "indexer:<id>".
///
/// Grabs: a torrent release is handed over as its magnet (when it has one) or as the .torrent
/// fetched from its download URL; a usenet release as the .nzb fetched from its URL. Before
/// handing a release over, the service records a tracked download; history records `grabbed`.
/// A client that is unavailable or refuses the credentials makes the release pending (grabbed
/// when the client works again: each RssSync retries the pending releases first) and marks the
/// client failed for the rest of the batch. A release whose file cannot be fetched (404) is
/// rejected; a 429 while fetching it backs the indexer off.
///
/// Events (on `AcquisitionOptions::events`, or the host's bus): ReleaseGrabbed,
/// DownloadCompleted, DownloadFailed, DownloadImported, RssSyncCompleted, ProviderStatusChanged.
///
/// Thread-safety: every member may be called from any thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/fwd.h>
#include <nlohmann/json.hpp>

#include "shelfjobs/catalog/acquisition_store.hpp"
#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/engine/clock.hpp"
#include "shelfjobs/engine/command.hpp"
#include "shelfjobs/engine/events.hpp"
#include "shelfjobs/engine/rate_limiter.hpp"
#include "shelfjobs/services/book_import.hpp"
#include "shelfjobs/services/release_decision.hpp"
#include "shelfjobs/services/service.hpp"

namespace shelfjobs {

// ---- Commands ---------------------------------------------------------------------------------

struct RssSync : Command {
  static constexpr const char* kName = "RssSync";
};
struct BookSearch : Command {
  static constexpr const char* kName = "BookSearch";
  std::vector<RowId> bookIds;
};
struct AuthorSearch : Command {
  static constexpr const char* kName = "AuthorSearch";
  RowId authorId = 0;
};
struct MissingBookSearch : Command {
  static constexpr const char* kName = "MissingBookSearch";
};
struct RefreshMonitoredDownloads : Command {
  static constexpr const char* kName = "RefreshMonitoredDownloads";
};
struct ImportCompletedDownload : Command {
  static constexpr const char* kName = "ImportCompletedDownload";
  RowId downloadId = 0;  ///< the tracked download's id
};
void to_json(nlohmann::json& j, const RssSync& c);
void from_json(const nlohmann::json& j, RssSync& c);
void to_json(nlohmann::json& j, const BookSearch& c);  ///< {"bookIds": [..]}
void from_json(const nlohmann::json& j, BookSearch& c);
void to_json(nlohmann::json& j, const AuthorSearch& c);  ///< {"authorId"}
void from_json(const nlohmann::json& j, AuthorSearch& c);
void to_json(nlohmann::json& j, const MissingBookSearch& c);
void from_json(const nlohmann::json& j, MissingBookSearch& c);
void to_json(nlohmann::json& j, const RefreshMonitoredDownloads& c);
void from_json(const nlohmann::json& j, RefreshMonitoredDownloads& c);
void to_json(nlohmann::json& j, const ImportCompletedDownload& c);  ///< {"downloadId"}
void from_json(const nlohmann::json& j, ImportCompletedDownload& c);

// ---- Events -------------------------------------------------------------------------------------

struct ReleaseGrabbed {
  static constexpr const char* kName = "ReleaseGrabbed";
  TrackedDownload download;
  std::string client;  ///< the download client's name
};
struct DownloadCompleted {
  static constexpr const char* kName = "DownloadCompleted";
  TrackedDownload download;
};
struct DownloadFailed {
  static constexpr const char* kName = "DownloadFailed";
  TrackedDownload download;
  std::string message;
};
struct DownloadImported {
  static constexpr const char* kName = "DownloadImported";
  TrackedDownload download;
  std::int64_t files = 0;  ///< files imported
};
/// One indexer's part of a sync.
struct IndexerSyncResult {
  RowId indexer_id = 0;
  std::string indexer;
  bool skipped = false;  ///< blocked: not asked
  std::string error;     ///< "" when it answered
  std::int64_t releases = 0;
  int pages = 0;
  bool gap_possible = false;
};
struct RssSyncCompleted {
  static constexpr const char* kName = "RssSyncCompleted";
  std::int64_t found = 0, grabbed = 0, pending = 0, rejected = 0;
  std::vector<IndexerSyncResult> indexers;
};
struct ProviderStatusChanged {
  static constexpr const char* kName = "ProviderStatusChanged";
  ProviderStatus status;
  std::string name;
};
/// JSON (camelCase): a tracked download as the queue resource (see `queue_json`); the sync as
/// {found, grabbed, pending, rejected, indexers: [{indexerId, indexer, skipped, error, releases,
/// pages, gapPossible}]}; a status as {providerId, kind, name, escalationLevel, initialFailure,
/// mostRecentFailure, disabledTill, lastError}.
void to_json(nlohmann::json& j, const ReleaseGrabbed& e);
void to_json(nlohmann::json& j, const DownloadCompleted& e);
void to_json(nlohmann::json& j, const DownloadFailed& e);
void to_json(nlohmann::json& j, const DownloadImported& e);
void to_json(nlohmann::json& j, const RssSyncCompleted& e);
void to_json(nlohmann::json& j, const ProviderStatusChanged& e);

// ---- The service --------------------------------------------------------------------------------

/// What a sync or a search did (the job's message).
struct AcquisitionSummary {
  std::int64_t found = 0;     ///< releases decided
  std::int64_t grabbed = 0;   ///< handed to a client
  std::int64_t pending = 0;   ///< kept for a client that is unavailable
  std::int64_t rejected = 0;  ///< rejected (each with its reasons in the log)
  std::vector<IndexerSyncResult> indexers;
  std::vector<std::string> errors;  ///< grabs that failed, one line each
  /// "Reports found: N, grabbed: M, pending: P, rejected: R" and the failing indexers.
  std::string message() const;
};

/// What RefreshMonitoredDownloads did.
struct DownloadsSummary {
  std::int64_t tracked = 0, completed = 0, failed = 0, unavailable_clients = 0;
  std::string message() const;
};

struct AcquisitionOptions {
  std::shared_ptr<Catalog> catalog;         ///< required
  std::shared_ptr<AcquisitionStore> store;  ///< required
  /// Imports completed downloads; null: ImportCompletedDownload fails with a permanent error.
  std::shared_ptr<ImportService> import;
  std::shared_ptr<EventBus> events;  ///< null: the host's bus
  std::shared_ptr<Clock> clock;      ///< null: system clock
  std::shared_ptr<spdlog::logger> logger;
  /// Spaces the requests to each indexer; null: the host's engine's limiter (a service used
  /// without a host makes its own).
  std::shared_ptr<RateLimiter> rate_limiter;
  std::chrono::milliseconds indexer_spacing{std::chrono::seconds(2)};
  int max_parallel_indexers = 4;
  /// Decisions: profiles, size limits, minimum seeders (the context's other parts come from
  /// the stores at each run).
  FormatProfiles profiles;
  std::int64_t max_size_ebook = 200LL << 20;
  std::int64_t max_size_audio = 0;
  int min_seeders = 1;
  PagingOptions paging;
  /// Search an added, monitored author's missing books after its first refresh when the person
  /// adding it made no choice (AuthorAdded::search_for_missing unset).
  bool search_on_author_added = true;
  /// Timeout of fetching a .torrent or .nzb.
  std::chrono::milliseconds fetch_timeout{std::chrono::seconds(60)};
  /// When the application started (the providers' 15-minute startup grace); zero: when the
  /// service was created.
  TimePoint started{};
};

class AcquisitionService : public Service {
 public:
  /// Errors: invalid_argument when the catalog or the store is missing, or a number is out of
  /// range (max_parallel_indexers 1..32, spacing negative).
  static Result<std::shared_ptr<AcquisitionService>> create(AcquisitionOptions options);

  std::string_view name() const override { return "acquisition"; }
  void register_commands(Registry& registry, ServiceContext& host) override;
  std::vector<TaskSpec> tasks() const override;
  void add_rules(ServiceContext& host) override;
  std::vector<HealthCheck> health_checks() override;

  /// The work behind the commands, callable directly. `ctx` may be null. Errors: store_error
  /// (a store failed), cancelled; one indexer's or one release's failure is in the summary.
  Result<AcquisitionSummary> rss_sync(JobContext* ctx = nullptr);
  Result<AcquisitionSummary> search_books(const std::vector<RowId>& book_ids, JobContext* ctx = nullptr);
  Result<AcquisitionSummary> search_author(RowId author_id, JobContext* ctx = nullptr);
  Result<AcquisitionSummary> search_missing(JobContext* ctx = nullptr);
  Result<DownloadsSummary> refresh_downloads(JobContext* ctx = nullptr);
  /// Errors: not_found (no such tracked download), invalid_argument (not completed), and the
  /// import's.
  Result<ImportSummary> import_download(RowId download_id, JobContext* ctx = nullptr);

  /// An interactive search of one book: every release of every indexer with interactive search
  /// enabled, each with its decision, best first (`GET /api/v1/release?bookId=`). Errors:
  /// not_found (no such book), store_error; indexer failures are skipped (logged, status set).
  Result<std::vector<ReleaseDecision>> interactive_search(RowId book_id, std::stop_token token = {});
  /// Grabs one release (`POST /api/v1/release`): the decision of an earlier interactive search
  /// by guid and indexer (kept for 30 minutes), grabbed whatever its rejections but a missing
  /// book. Errors: not_found (unknown or expired guid), unavailable (no client for its
  /// protocol, or the client failed), upstream_error (the file could not be fetched).
  Result<TrackedDownload> grab(std::string_view guid, RowId indexer_id, std::stop_token token = {});

  /// Removes a tracked download from the queue (`DELETE /api/v1/queue/{id}`): optionally from
  /// its client (with its data) and onto the blocklist (its book becomes wanted again).
  /// Errors: not_found; unavailable when the client cannot be reached (nothing changes).
  Status remove_from_queue(RowId download_id, bool remove_from_client, bool blocklist,
                           std::stop_token token = {});

  /// Tests a definition before it is saved: an indexer's caps (fresh), a client's `test()`.
  /// Errors: invalid_argument (bad settings), and the adapter's error.
  Status test_provider(const ProviderDefinition& definition, std::stop_token token = {});

  /// The providers' statuses now, with `is_blocked` applied at the service's clock.
  bool is_blocked(ProviderKind kind, RowId id);

  const std::shared_ptr<AcquisitionStore>& store() const noexcept;

 private:
  struct Impl;
  explicit AcquisitionService(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

/// A tracked download as Readarr's queue resource: {id, authorId, bookId, title, status
/// ("downloading", "completed", "failed", ...), trackedDownloadState, trackedDownloadStatus
/// ("ok", "warning", "error"), statusMessages, size, sizeleft, timeleft ("hh:mm:ss"),
/// estimatedCompletionTime, downloadClient, downloadId, indexer, protocol, outputPath,
/// errorMessage, added}.
nlohmann::json queue_json(const TrackedDownload& d, std::string_view client_name);
/// A history entry as Readarr's: {id, authorId, bookId, sourceTitle, date, downloadId,
/// eventType, data}.
nlohmann::json history_json(const HistoryEntry& h);
/// A blocklist entry as Readarr's: {id, authorId, bookIds, sourceTitle, date, protocol,
/// indexer, message}.
nlohmann::json blocklist_json(const BlocklistEntry& b);
/// A decision as Readarr's release resource: {guid, title, size, indexerId, indexer, protocol,
/// downloadUrl, infoUrl, publishDate, age, seeders, leechers, authorName, bookTitle, quality
/// (the format), approved, temporarilyRejected, rejected, rejections: [reason...], bookId,
/// authorId, downloadAllowed}.
nlohmann::json release_json(const ReleaseDecision& d, TimePoint now);

}  // namespace shelfjobs

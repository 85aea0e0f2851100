// SPDX-License-Identifier: MIT
#pragma once
// The acquisition service's inside, shared by its source files:
//   acquisition_service.cpp  the service contract (commands, task, rules, health), creation
//   indexer_fetch.cpp        reading indexers (RSS paging, searches) with their status ladder
//   grab.cpp                 deciding a batch, grabbing the best releases, pending releases
//   downloads.cpp            following the clients' items, importing completed downloads
//   acquisition_json.cpp     commands', events' and resources' JSON

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <spdlog/spdlog.h>

#include "adapters/http_client.hpp"
#include "shelfjobs/services/acquisition.hpp"
#include "shelfjobs/services/providers.hpp"

namespace shelfjobs {

struct AcquisitionService::Impl {
  AcquisitionOptions o;
  std::shared_ptr<spdlog::logger> log;
  detail::HttpClient http;   // fetches .torrent and .nzb files
  bool own_limiter = false;  // no limiter in the options: the host's replaces ours

  explicit Impl(AcquisitionOptions options);

  TimePoint now() const { return o.clock->now(); }

  // ---- providers (indexer_fetch.cpp) -------------------------------------------------------

  // An adapter per definition, rebuilt when its settings change. Held by shared_ptr so a sync
  // may keep using one while a user edits the definition.
  struct CachedIndexer {
    std::string key;  // implementation + settings: the definition it was made from
    std::shared_ptr<NewznabClient> client;
  };
  struct CachedClient {
    std::string key;
    std::shared_ptr<DownloadClient> client;
  };
  std::mutex adapters_mu;
  std::map<RowId, CachedIndexer> indexer_adapters;
  std::map<RowId, CachedClient> client_adapters;

  Result<std::shared_ptr<NewznabClient>> indexer_client(const ProviderDefinition& d);
  Result<std::shared_ptr<DownloadClient>> download_client(const ProviderDefinition& d);
  std::string rate_key(RowId indexer_id) const { return "indexer:" + std::to_string(indexer_id); }

  // Status ladder. One mutex: two threads failing one provider must not lose a level.
  std::mutex status_mu;
  bool blocked(ProviderKind kind, RowId id);
  void record_success(ProviderKind kind, RowId id, const std::string& name);
  void record_failure(ProviderKind kind, RowId id, const std::string& name, const Error& e);

  // One indexer's RSS read: the releases newer than its mark and the mark to store once the
  // batch is processed.
  struct IndexerFetch {
    ProviderDefinition indexer;
    IndexerSyncResult result;
    std::vector<Release> releases;
    std::optional<HighWaterMark> next_mark;
  };
  IndexerFetch fetch_rss_of(const ProviderDefinition& indexer, std::stop_token token);
  // Runs `fn(i)` for i in [0, n) on at most max_parallel_indexers threads.
  void parallel(std::size_t n, const std::function<void(std::size_t)>& fn);
  // Every enabled indexer passing `use` (RSS, automatic or interactive search).
  enum class Use { rss, automatic, interactive };
  Result<std::vector<ProviderDefinition>> usable_indexers(Use use);
  // One search of every usable indexer for a book (author, title); failures land in `results`.
  std::vector<IndexedRelease> search_indexers(const std::vector<ProviderDefinition>& indexers,
                                              const std::string& author, const std::string& title,
                                              std::vector<IndexerSyncResult>& results, std::stop_token token);

  // ---- decisions and grabs (grab.cpp) ------------------------------------------------------

  std::mutex batch_mu;  // one batch decides and grabs at a time: queued books stay true
  Result<DecisionContext> decision_context(const WantedBooks& books);
  // Decides `releases` and grabs the best per book; the pending releases of the store join
  // when `with_pending`. Fills `summary`.
  Status process(std::vector<IndexedRelease> releases, bool with_pending, AcquisitionSummary& summary,
                 std::stop_token token);
  // Hands one decided release to a client of its protocol: the tracked download on success.
  Result<TrackedDownload> grab_release(const ReleaseDecision& d, const ProviderDefinition& client,
                                       std::stop_token token);
  Result<DownloadRequest> fetch_request(const ReleaseDecision& d, const std::string& category,
                                        std::stop_token token);
  // Enabled download clients of a protocol that are not blocked, by priority.
  Result<std::vector<ProviderDefinition>> clients_for(const std::string& protocol);

  // Interactive search results, for a grab by guid (30 minutes).
  struct Searched {
    ReleaseDecision decision;
    TimePoint at;
  };
  std::mutex searched_mu;
  std::map<std::pair<std::string, RowId>, Searched> searched;

  // ---- runs (acquisition_service.cpp) -------------------------------------------------------

  Result<AcquisitionSummary> rss_sync(JobContext* ctx);
  Result<AcquisitionSummary> search_books(const std::vector<RowId>& book_ids, JobContext* ctx);
  Result<AcquisitionSummary> search_author(RowId author_id, JobContext* ctx);
  Result<AcquisitionSummary> search_missing(JobContext* ctx);

  // ---- downloads (downloads.cpp) -----------------------------------------------------------

  std::mutex downloads_mu;  // one refresh of the clients at a time
  Result<DownloadsSummary> refresh_downloads(JobContext* ctx);
  Result<ImportSummary> import_download(RowId id, JobContext* ctx);
  void rescan_authors(const ImportSummary& summary, JobContext& ctx);
  void fail_download(TrackedDownload d, const std::string& message, const std::string& client_name);

  template <class E>
  void publish(const E& e) {
    if (o.events) o.events->publish(e);
  }
};

// The Release an earlier run stored (a pending release), to decide again.
Release release_of(const ReleaseRecord& r);
std::string lower(std::string s);

}  // namespace shelfjobs

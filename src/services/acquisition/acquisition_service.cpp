// SPDX-License-Identifier: MIT
// The acquisition service on the service contract: creation, its commands and their traits,
// its tasks and rules, its health checks, and the calls a host makes (interactive search,
// grab, queue removal, provider tests).

#include <algorithm>

#include <spdlog/sinks/null_sink.h>

#include "services/acquisition/acquisition_impl.hpp"
#include "services/acquisition/provider_backoff.hpp"
#include "services/service_util.hpp"
#include "shelfjobs/services/catalog_events.hpp"
#include "shelfjobs/services/tasks.hpp"

namespace shelfjobs {

namespace {

// A failure of a whole run as the engine's kind: a store failure is retried as a database
// error, a cancellation is one, anything else does not get better by retrying the run.
ErrorKind run_error_kind(const Error& e) {
  switch (e.code) {
    case errc::store_error: return ErrorKind::database;
    case errc::cancelled: return ErrorKind::cancelled;
    case errc::unavailable: return ErrorKind::network;
    default: return ErrorKind::permanent;
  }
}

template <class T>
T value_or_throw(Result<T> r, JobContext& ctx) {
  if (!r) {
    if (r.error().code == errc::cancelled) ctx.throw_if_cancelled();
    throw JobError(run_error_kind(r.error()), job_message(r.error()));
  }
  return std::move(r).value();
}

}  // namespace

std::string AcquisitionSummary::message() const {
  std::string m = "Reports found: " + std::to_string(found) + ", grabbed: " + std::to_string(grabbed) +
                  ", pending: " + std::to_string(pending) + ", rejected: " + std::to_string(rejected);
  for (const auto& i : indexers) {
    if (!i.error.empty()) m += "; " + i.error;
    if (i.skipped) m += "; indexer " + i.indexer + " skipped (backing off)";
  }
  for (const auto& e : errors) m += "; " + e;
  return m;
}

std::string DownloadsSummary::message() const {
  std::string m = "Downloads tracked: " + std::to_string(tracked) +
                  ", completed: " + std::to_string(completed) + ", failed: " + std::to_string(failed);
  if (unavailable_clients > 0) m += ", clients unavailable: " + std::to_string(unavailable_clients);
  return m;
}

AcquisitionService::Impl::Impl(AcquisitionOptions options)
    : o(std::move(options)),
      http(detail::HttpClientOptions{std::chrono::seconds(10), o.fetch_timeout, 5, detail::user_agent(), 4,
                                     // A .torrent or .nzb over 32 MB is not a book's.
                                     32u << 20}) {}

AcquisitionService::AcquisitionService(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::shared_ptr<AcquisitionService>> AcquisitionService::create(AcquisitionOptions options) {
  if (!options.catalog) return Error{errc::invalid_argument, "acquisition: a catalog is required"};
  if (!options.store) return Error{errc::invalid_argument, "acquisition: a store is required"};
  if (options.max_parallel_indexers < 1 || options.max_parallel_indexers > 32)
    return Error{errc::invalid_argument, "acquisition: max_parallel_indexers must be 1 to 32 (got " +
                                             std::to_string(options.max_parallel_indexers) + ")"};
  if (options.indexer_spacing.count() < 0)
    return Error{errc::invalid_argument, "acquisition: indexer_spacing must not be negative"};
  if (options.min_seeders < 0)
    return Error{errc::invalid_argument, "acquisition: min_seeders must not be negative"};
  if (!options.clock) options.clock = std::make_shared<SystemClock>();
  if (options.started == TimePoint{}) options.started = options.clock->now();
  auto impl = std::make_shared<Impl>(std::move(options));
  impl->log = impl->o.logger ? impl->o.logger
                             : std::make_shared<spdlog::logger>(
                                   "acquisition", std::make_shared<spdlog::sinks::null_sink_mt>());
  impl->own_limiter = !impl->o.rate_limiter;
  if (impl->own_limiter) impl->o.rate_limiter = std::make_shared<RateLimiter>(impl->o.clock);
  return std::shared_ptr<AcquisitionService>(new AcquisitionService(std::move(impl)));
}

const std::shared_ptr<AcquisitionStore>& AcquisitionService::store() const noexcept { return impl_->o.store; }

void AcquisitionService::register_commands(Registry& registry, ServiceContext& host) {
  if (!impl_->o.events) impl_->o.events = host.events();
  // The host's limiter, unless the options named one: the dispatcher and the adapters then
  // agree on "indexer:<id>".
  if (impl_->own_limiter && host.rate_limiter()) impl_->o.rate_limiter = host.rate_limiter();
  std::shared_ptr<Impl> impl = impl_;

  CommandTraits normal;
  normal.priority = Priority::normal;
  normal.type_exclusive = true;  // two syncs at once would grab the same release twice
  registry.add<RssSync>(
      [impl](const RssSync&, JobContext& ctx) {
        AcquisitionSummary s = value_or_throw(impl->rss_sync(&ctx), ctx);
        ctx.complete(s.message());
      },
      normal);
  CommandTraits search = normal;
  registry.add<BookSearch>(
      [impl](const BookSearch& c, JobContext& ctx) {
        AcquisitionSummary s = value_or_throw(impl->search_books(c.bookIds, &ctx), ctx);
        ctx.complete(s.message());
      },
      search);
  registry.add<AuthorSearch>(
      [impl](const AuthorSearch& c, JobContext& ctx) {
        AcquisitionSummary s = value_or_throw(impl->search_author(c.authorId, &ctx), ctx);
        ctx.complete(s.message());
      },
      search);
  registry.add<MissingBookSearch>(
      [impl](const MissingBookSearch&, JobContext& ctx) {
        AcquisitionSummary s = value_or_throw(impl->search_missing(&ctx), ctx);
        ctx.complete(s.message());
      },
      search);
  CommandTraits high;
  high.priority = Priority::high;
  // One at a time; a push while one runs leaves one run queued behind it (the engine's
  // default), since the running one may have read a client before the change that asked.
  high.type_exclusive = true;
  registry.add<RefreshMonitoredDownloads>(
      [impl](const RefreshMonitoredDownloads&, JobContext& ctx) {
        DownloadsSummary s = value_or_throw(impl->refresh_downloads(&ctx), ctx);
        ctx.complete(s.message());
      },
      high);
  CommandTraits import;
  import.priority = Priority::critical;
  import.locks = {kImportLock};
  registry.add<ImportCompletedDownload>(
      [impl](const ImportCompletedDownload& c, JobContext& ctx) {
        auto r = impl->import_download(c.downloadId, &ctx);
        if (!r) {
          const Error& e = r.error();
          if (e.code == errc::cancelled) ctx.throw_if_cancelled();
          // Not completed, imported already, gone: nothing to do again.
          throw JobError(e.code == errc::store_error   ? ErrorKind::database
                         : e.code == errc::unavailable ? ErrorKind::filesystem
                                                       : ErrorKind::permanent,
                         e.message);
        }
        ctx.complete(r->message());
      },
      import);
}

std::vector<TaskSpec> AcquisitionService::tasks() const {
  return {*standard_task(RssSync::kName), *standard_task(RefreshMonitoredDownloads::kName)};
}

void AcquisitionService::add_rules(ServiceContext& host) {
  std::shared_ptr<Impl> impl = impl_;
  host.rule<DownloadCompleted>([](const DownloadCompleted& e) {
    ImportCompletedDownload c;
    c.downloadId = e.download.id;
    return std::vector<PushRequest>{{ImportCompletedDownload::kName, nlohmann::json(c), {}}};
  });
  // An author's books come with its first refresh, which AuthorAdded triggers: the search waits
  // for that refresh (Readarr searches for the missing books once the new author is refreshed).
  // The refresh says which one it is (AuthorRefreshed::new_author, carried by its job, so it
  // holds across a restart) and brings back a person's explicit choice
  // (addOptions.searchForMissingBooks), after the add-time monitor choice is applied; without
  // a choice `search_on_author_added` decides, for a monitored author.
  host.rule<AuthorRefreshed>([impl](const AuthorRefreshed& e) {
    if (!e.new_author) return std::vector<PushRequest>{};
    bool search = false;
    if (e.search_for_missing) {
      search = *e.search_for_missing;
    } else if (impl->o.search_on_author_added) {
      auto a = impl->o.catalog->author(e.author_id);
      search = a && a->monitored;
    }
    if (!search) return std::vector<PushRequest>{};
    AuthorSearch c;
    c.authorId = e.author_id;
    return std::vector<PushRequest>{{AuthorSearch::kName, nlohmann::json(c), {}}};
  });
}

std::vector<HealthCheck> AcquisitionService::health_checks() {
  std::shared_ptr<Impl> impl = impl_;
  auto check = [impl](ProviderKind kind, std::string source) {
    std::vector<HealthIssue> out;
    auto list = impl->o.store->providers(kind);
    if (!list) {
      out.push_back({source, HealthIssue::Level::error, list.error().message});
      return out;
    }
    std::vector<std::string> down;
    int enabled = 0;
    for (const auto& d : *list) {
      if (!d.enable &&
          !(kind == ProviderKind::indexer && (d.enable_automatic_search || d.enable_interactive_search)))
        continue;
      ++enabled;
      if (impl->blocked(kind, d.id)) down.push_back(d.name);
    }
    const std::string what = kind == ProviderKind::indexer ? "indexers" : "download clients";
    if (enabled == 0) {
      out.push_back({source, HealthIssue::Level::warning, "No " + what + " are enabled"});
    } else if (!down.empty()) {
      std::string names;
      for (const auto& n : down) names += (names.empty() ? "" : ", ") + n;
      const bool all = static_cast<int>(down.size()) == enabled;
      out.push_back({source, all ? HealthIssue::Level::error : HealthIssue::Level::warning,
                     (all ? "All " + what + " are unavailable due to failures: "
                          : what + " unavailable due to failures: ") +
                         names});
    }
    return out;
  };
  return {{"IndexerStatusCheck", [check] { return check(ProviderKind::indexer, "IndexerStatusCheck"); }},
          {"DownloadClientStatusCheck",
           [check] { return check(ProviderKind::download_client, "DownloadClientStatusCheck"); }}};
}

// ---- runs ---------------------------------------------------------------------------------------

Result<AcquisitionSummary> AcquisitionService::Impl::rss_sync(JobContext* ctx) {
  Impl& im = *this;
  const std::stop_token token = ctx ? ctx->token() : std::stop_token{};
  auto indexers = im.usable_indexers(Use::rss);
  if (!indexers) return indexers.error();
  if (ctx) ctx->report(0, 3, "reading " + std::to_string(indexers->size()) + " indexers");
  std::vector<IndexerFetch> fetched(indexers->size());
  im.parallel(indexers->size(), [&](std::size_t i) { fetched[i] = im.fetch_rss_of((*indexers)[i], token); });
  if (token.stop_requested()) return Error{errc::cancelled, "RSS sync cancelled"};
  AcquisitionSummary summary;
  std::vector<IndexedRelease> releases;
  for (auto& f : fetched) {
    summary.indexers.push_back(f.result);
    const IndexerKind kind =
        f.indexer.implementation == "Torznab" ? IndexerKind::torznab : IndexerKind::newznab;
    for (auto& r : f.releases) releases.push_back({std::move(r), f.indexer.id, f.indexer.name, kind});
  }
  if (ctx) ctx->report(1, 3, "deciding " + std::to_string(releases.size()) + " releases");
  if (auto st = im.process(std::move(releases), true, summary, token); !st) return st.error();
  // The marks move only now that the batch is decided and grabbed: a sync that dies before
  // reads the same releases again instead of losing them.
  for (const auto& f : fetched) {
    if (!f.next_mark) continue;
    if (auto st = im.o.store->put_mark(
            {f.indexer.id, f.next_mark->guid, f.next_mark->download_url, f.next_mark->publish_date});
        !st)
      im.log->warn("indexer {}: cannot store its RSS mark: {}", f.indexer.name, st.error().message);
  }
  if (ctx) ctx->report(3, 3, summary.message());
  im.log->info("RSS sync: {}", summary.message());
  im.publish(
      RssSyncCompleted{summary.found, summary.grabbed, summary.pending, summary.rejected, summary.indexers});
  return summary;
}

Result<AcquisitionSummary> AcquisitionService::Impl::search_books(const std::vector<RowId>& book_ids,
                                                                  JobContext* ctx) {
  Impl& im = *this;
  const std::stop_token token = ctx ? ctx->token() : std::stop_token{};
  auto indexers = im.usable_indexers(Use::automatic);
  if (!indexers) return indexers.error();
  AcquisitionSummary summary;
  std::vector<IndexedRelease> releases;
  std::int64_t k = 0;
  for (RowId id : book_ids) {
    if (token.stop_requested()) return Error{errc::cancelled, "search cancelled"};
    auto book = im.o.catalog->book(id);
    if (!book) {
      if (book.error().code == errc::not_found) continue;  // removed meanwhile
      return book.error();
    }
    auto author = im.o.catalog->author(book->author_id);
    if (!author) return author.error();
    ++k;
    if (ctx)
      ctx->report(
          k, static_cast<std::int64_t>(book_ids.size()),
          "searching " + std::to_string(k) + " of " + std::to_string(book_ids.size()) + ": " + book->title);
    std::vector<IndexerSyncResult> results;
    auto found = im.search_indexers(*indexers, author->name, book->title, results, token);
    for (auto& r : found) releases.push_back(std::move(r));
    for (auto& r : results)
      if (!r.error.empty() || r.skipped) summary.indexers.push_back(std::move(r));
  }
  if (auto st = im.process(std::move(releases), false, summary, token); !st) return st.error();
  im.log->info("search of {} books: {}", book_ids.size(), summary.message());
  return summary;
}

Result<AcquisitionSummary> AcquisitionService::Impl::search_author(RowId author_id, JobContext* ctx) {
  Impl& im = *this;
  auto author = im.o.catalog->author(author_id);
  if (!author) return author.error();
  auto books = im.o.catalog->books_of(author_id);
  if (!books) return books.error();
  std::vector<RowId> ids;
  for (const auto& b : *books) {
    if (!b.monitored) continue;
    auto files = im.o.catalog->file_count_of_book(b.id);
    if (!files) return files.error();
    if (*files == 0) ids.push_back(b.id);
  }
  return im.search_books(ids, ctx);
}

Result<AcquisitionSummary> AcquisitionService::Impl::search_missing(JobContext* ctx) {
  Impl& im = *this;
  std::vector<RowId> ids;
  for (std::int64_t page = 1;; ++page) {
    auto p = im.o.catalog->missing_books(page, 500);
    if (!p) return p.error();
    for (const auto& b : p->books) ids.push_back(b.id);
    if (p->books.empty() || page * 500 >= p->total) break;
  }
  return im.search_books(ids, ctx);
}

Result<AcquisitionSummary> AcquisitionService::rss_sync(JobContext* ctx) { return impl_->rss_sync(ctx); }
Result<AcquisitionSummary> AcquisitionService::search_books(const std::vector<RowId>& ids, JobContext* ctx) {
  return impl_->search_books(ids, ctx);
}
Result<AcquisitionSummary> AcquisitionService::search_author(RowId id, JobContext* ctx) {
  return impl_->search_author(id, ctx);
}
Result<AcquisitionSummary> AcquisitionService::search_missing(JobContext* ctx) {
  return impl_->search_missing(ctx);
}
Result<DownloadsSummary> AcquisitionService::refresh_downloads(JobContext* ctx) {
  return impl_->refresh_downloads(ctx);
}
Result<ImportSummary> AcquisitionService::import_download(RowId id, JobContext* ctx) {
  return impl_->import_download(id, ctx);
}

// ---- what a host calls --------------------------------------------------------------------------

Result<std::vector<ReleaseDecision>> AcquisitionService::interactive_search(RowId book_id,
                                                                            std::stop_token token) {
  Impl& im = *impl_;
  auto book = im.o.catalog->book(book_id);
  if (!book) return book.error();
  auto author = im.o.catalog->author(book->author_id);
  if (!author) return author.error();
  auto indexers = im.usable_indexers(Impl::Use::interactive);
  if (!indexers) return indexers.error();
  std::vector<IndexerSyncResult> results;
  auto releases = im.search_indexers(*indexers, author->name, book->title, results, token);
  auto books = WantedBooks::load(*im.o.catalog);
  if (!books) return books.error();
  auto context = im.decision_context(*books);
  if (!context) return context.error();
  std::vector<ReleaseDecision> decisions = decide(std::move(releases), *context);
  // Best first: approved before rejected, then as the prioritiser orders them.
  std::stable_sort(decisions.begin(), decisions.end(),
                   [](const ReleaseDecision& a, const ReleaseDecision& b) {
                     if (a.approved() != b.approved()) return a.approved();
                     if (a.format_rank != b.format_rank)
                       return a.format_rank.value_or(99) < b.format_rank.value_or(99);
                     return a.release.seeders.value_or(0) > b.release.seeders.value_or(0);
                   });
  const TimePoint at = im.now();
  std::lock_guard lock(im.searched_mu);
  for (auto it = im.searched.begin(); it != im.searched.end();)
    it = at - it->second.at > std::chrono::minutes(30) ? im.searched.erase(it) : std::next(it);
  for (const auto& d : decisions) im.searched[{d.release.guid.str(), d.indexer_id}] = {d, at};
  return decisions;
}

Result<TrackedDownload> AcquisitionService::grab(std::string_view guid, RowId indexer_id,
                                                 std::stop_token token) {
  Impl& im = *impl_;
  ReleaseDecision d;
  {
    std::lock_guard lock(im.searched_mu);
    auto it = im.searched.find({std::string(guid), indexer_id});
    if (it == im.searched.end() || im.now() - it->second.at > std::chrono::minutes(30))
      return Error{errc::not_found, "no release '" + std::string(guid) + "' of indexer " +
                                        std::to_string(indexer_id) + " in a recent search (search again)"};
    d = it->second.decision;
  }
  if (d.book_id == 0)
    return Error{errc::invalid_argument,
                 "release '" + d.release.title + "' is not matched to a book of the library"};
  std::lock_guard batch(im.batch_mu);
  auto clients = im.clients_for(d.protocol());
  if (!clients) return clients.error();
  if (clients->empty())
    return Error{errc::unavailable, "no download client for " + d.protocol() + " is enabled and available"};
  return im.grab_release(d, clients->front(), token);
}

Status AcquisitionService::remove_from_queue(RowId id, bool remove_from_client, bool blocklist,
                                             std::stop_token token) {
  Impl& im = *impl_;
  std::lock_guard lock(im.downloads_mu);
  auto t = im.o.store->tracked(id);
  if (!t) return t.error();
  if (t->state == TrackedState::removed || t->state == TrackedState::imported ||
      t->state == TrackedState::failed)
    return Error{errc::not_found, "download " + std::to_string(id) + " is not in the queue"};
  auto def = im.o.store->provider(ProviderKind::download_client, t->client_id);
  const std::string client_name = def ? def->name : std::string("a removed client");
  if (remove_from_client && def && !t->download_id.empty()) {
    auto client = im.download_client(*def);
    if (!client) return client.error();
    auto st = (*client)->remove(t->download_id, true, token);
    // Gone from the client already is what was asked.
    if (!st && st.error().code != errc::not_found) return st.error();
  }
  if (blocklist) {
    im.fail_download(*t, "removed from the queue and blocklisted by the user", client_name);
    return Ok{};
  }
  t->state = TrackedState::removed;
  t->message = "removed from the queue by the user";
  return im.o.store->update_tracked(*t);
}

Status AcquisitionService::test_provider(const ProviderDefinition& definition, std::stop_token token) {
  auto valid = validate_definition(definition);
  if (!valid) return valid.error();
  if (valid->kind == ProviderKind::indexer) {
    auto client = make_indexer_client(*valid, impl_->o.clock);
    if (!client) return client.error();
    auto caps = (*client)->caps(token, true);
    if (!caps) return caps.error();
    return Ok{};
  }
  auto client = make_download_client(*valid, impl_->o.clock);
  if (!client) return client.error();
  return (*client)->test(token);
}

bool AcquisitionService::is_blocked(ProviderKind kind, RowId id) { return impl_->blocked(kind, id); }

}  // namespace shelfjobs

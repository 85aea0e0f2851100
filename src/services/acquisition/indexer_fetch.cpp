// SPDX-License-Identifier: MIT
// Reading the indexers: the adapters made from their definitions, the status ladder applied to
// every answer, RSS paging from each indexer's high-water mark, and searches.
//
// Every request to an indexer goes through the rate limiter key "indexer:<id>" (the client's
// before_request hook), so a sync, a search and an interactive search running at once still
// keep their requests to one indexer `indexer_spacing` apart.

#include <algorithm>
#include <thread>

#include "services/acquisition/acquisition_impl.hpp"
#include "services/acquisition/provider_backoff.hpp"

namespace shelfjobs {

namespace {

std::string adapter_key(const ProviderDefinition& d) {
  return d.implementation + "\n" + d.name + "\n" + d.settings;
}

}  // namespace

Result<std::shared_ptr<NewznabClient>> AcquisitionService::Impl::indexer_client(const ProviderDefinition& d) {
  const std::string key = adapter_key(d);
  std::lock_guard lock(adapters_mu);
  auto it = indexer_adapters.find(d.id);
  if (it != indexer_adapters.end() && it->second.key == key) return it->second.client;
  std::shared_ptr<RateLimiter> limiter = o.rate_limiter;
  const std::string rk = rate_key(d.id);
  // Configured here, where the client is made: a changed spacing applies from the next client.
  (void)limiter->configure(rk, RateLimit{o.indexer_spacing});
  auto settings = indexer_settings(d, o.clock);
  if (!settings) return settings.error();
  settings->before_request = [limiter, rk](std::stop_token token) {
    return limiter->acquire(rk, std::move(token));
  };
  auto made = NewznabClient::create(std::move(settings).value());
  if (!made) return made.error();
  std::shared_ptr<NewznabClient> client = std::move(made).value();
  indexer_adapters[d.id] = {key, client};
  return client;
}

Result<std::shared_ptr<DownloadClient>> AcquisitionService::Impl::download_client(
    const ProviderDefinition& d) {
  const std::string key = adapter_key(d);
  std::lock_guard lock(adapters_mu);
  auto it = client_adapters.find(d.id);
  if (it != client_adapters.end() && it->second.key == key) return it->second.client;
  auto made = make_download_client(d, o.clock);
  if (!made) return made.error();
  std::shared_ptr<DownloadClient> client = std::move(made).value();
  client_adapters[d.id] = {key, client};
  return client;
}

bool AcquisitionService::Impl::blocked(ProviderKind kind, RowId id) {
  auto st = o.store->provider_status(kind, id);
  // A status that cannot be read does not block: the request itself will tell.
  return st && *st && acquisition::is_blocked(**st, now());
}

void AcquisitionService::Impl::record_success(ProviderKind kind, RowId id, const std::string& name) {
  std::lock_guard lock(status_mu);
  auto st = o.store->provider_status(kind, id);
  if (!st) return;
  // A healthy provider with no row keeps having none: a success writes only to step down.
  if (!*st || ((*st)->escalation_level == 0 && !(*st)->disabled_till && (*st)->last_error.empty())) return;
  ProviderStatus next = acquisition::record_success(**st, now());
  if (auto put = o.store->put_provider_status(next); !put) {
    log->warn("{} {}: cannot record its success: {}", to_string(kind), name, put.error().message);
    return;
  }
  publish(ProviderStatusChanged{next, name});
}

void AcquisitionService::Impl::record_failure(ProviderKind kind, RowId id, const std::string& name,
                                              const Error& e) {
  if (e.code == errc::cancelled || e.code == errc::shutting_down) return;
  std::lock_guard lock(status_mu);
  auto st = o.store->provider_status(kind, id);
  if (!st) return;
  ProviderStatus current = *st ? **st : ProviderStatus{kind, id};
  const acquisition::BackoffPolicy policy =
      kind == ProviderKind::indexer ? acquisition::indexer_backoff() : acquisition::download_client_backoff();
  std::chrono::seconds minimum{0};
  if (e.code == errc::rate_limited) {
    // Readarr: a 429 or "request limit reached" backs off at least its Retry-After, 1 h
    // without one.
    minimum = std::chrono::hours(1);
    if (e.retry_after) {
      const auto wait = std::chrono::duration_cast<std::chrono::seconds>(*e.retry_after - now());
      minimum = std::max(wait, std::chrono::seconds(1));
    }
  }
  // A refused connection says nothing about the indexer's health: Readarr records it without
  // escalating.
  const bool escalate = !(kind == ProviderKind::indexer && is_connect_failure(e));
  ProviderStatus next =
      acquisition::record_failure(current, now(), o.started, policy, minimum, escalate, e.message);
  if (auto put = o.store->put_provider_status(next); !put) {
    log->warn("{} {}: cannot record its failure: {}", to_string(kind), name, put.error().message);
    return;
  }
  if (e.code == errc::rate_limited && kind == ProviderKind::indexer && next.disabled_till)
    o.rate_limiter->defer_until(rate_key(id), *next.disabled_till);
  publish(ProviderStatusChanged{next, name});
}

Result<std::vector<ProviderDefinition>> AcquisitionService::Impl::usable_indexers(Use use) {
  auto all = o.store->providers(ProviderKind::indexer);
  if (!all) return all.error();
  std::vector<ProviderDefinition> out;
  for (auto& d : *all) {
    const bool on = use == Use::rss         ? d.enable
                    : use == Use::automatic ? d.enable_automatic_search
                                            : d.enable_interactive_search;
    if (on) out.push_back(std::move(d));
  }
  return out;
}

void AcquisitionService::Impl::parallel(std::size_t n, const std::function<void(std::size_t)>& fn) {
  if (n == 0) return;
  const std::size_t threads = std::min<std::size_t>(n, static_cast<std::size_t>(o.max_parallel_indexers));
  if (threads == 1) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::vector<std::jthread> pool;
  pool.reserve(threads);
  for (std::size_t t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (std::size_t i = next++; i < n; i = next++) fn(i);
    });
}

AcquisitionService::Impl::IndexerFetch AcquisitionService::Impl::fetch_rss_of(
    const ProviderDefinition& indexer, std::stop_token token) {
  IndexerFetch out;
  out.indexer = indexer;
  out.result.indexer_id = indexer.id;
  out.result.indexer = indexer.name;
  if (blocked(ProviderKind::indexer, indexer.id)) {
    out.result.skipped = true;
    return out;
  }
  auto fail = [&](const Error& e) {
    out.result.error = e.message;
    record_failure(ProviderKind::indexer, indexer.id, indexer.name, e);
    return out;
  };
  auto client = indexer_client(indexer);
  if (!client) return fail(client.error());
  auto stored = o.store->mark(indexer.id);
  if (!stored) return fail(stored.error());
  std::optional<HighWaterMark> mark;
  if (*stored) mark = HighWaterMark{(*stored)->guid, (*stored)->download_url, (*stored)->publish_date};
  auto fetched = fetch_rss(**client, mark, o.paging, token);
  if (!fetched) return fail(fetched.error());
  out.result.releases = static_cast<std::int64_t>(fetched->releases.size());
  out.result.pages = fetched->pages;
  out.result.gap_possible = fetched->gap_possible;
  if (fetched->gap_possible)
    log->warn(
        "indexer {}: the RSS sync did not reach the release of the previous sync after {} pages; "
        "releases in between may have been missed (a search may be needed)",
        indexer.name, fetched->pages);
  for (const auto& s : fetched->skipped) log->debug("indexer {}: {}", indexer.name, s);
  out.releases = std::move(fetched->releases);
  out.next_mark = std::move(fetched->mark);
  record_success(ProviderKind::indexer, indexer.id, indexer.name);
  return out;
}

std::vector<IndexedRelease> AcquisitionService::Impl::search_indexers(
    const std::vector<ProviderDefinition>& list, const std::string& author, const std::string& title,
    std::vector<IndexerSyncResult>& results, std::stop_token token) {
  std::vector<std::vector<IndexedRelease>> found(list.size());
  std::vector<IndexerSyncResult> each(list.size());
  parallel(list.size(), [&](std::size_t i) {
    const ProviderDefinition& d = list[i];
    each[i].indexer_id = d.id;
    each[i].indexer = d.name;
    if (blocked(ProviderKind::indexer, d.id)) {
      each[i].skipped = true;
      return;
    }
    auto client = indexer_client(d);
    Result<ReleasePage> page =
        client ? (*client)->search(author, title, token) : Result<ReleasePage>(client.error());
    if (!page) {
      each[i].error = page.error().message;
      record_failure(ProviderKind::indexer, d.id, d.name, page.error());
      return;
    }
    record_success(ProviderKind::indexer, d.id, d.name);
    each[i].releases = static_cast<std::int64_t>(page->releases.size());
    each[i].pages = 1;
    const IndexerKind kind = (*client)->settings().kind;
    for (auto& r : page->releases) found[i].push_back({std::move(r), d.id, d.name, kind});
  });
  std::vector<IndexedRelease> out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    results.push_back(std::move(each[i]));
    for (auto& r : found[i]) out.push_back(std::move(r));
  }
  return out;
}

}  // namespace shelfjobs

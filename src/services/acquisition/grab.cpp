// SPDX-License-Identifier: MIT
// Deciding a batch of releases and grabbing the best one per book (Readarr's
// ProcessDownloadDecisions), with pending releases for clients that are away.
//
// Order of writes in a grab, so that a crash loses nothing: the tracked download is recorded
// first (state downloading, no client id yet), then the client gets the release, then the row
// gets the client's id and history records the grab. A crash between the first two leaves a
// row without a client id that the next refresh of the downloads reports as lost; a crash
// after the client took it leaves a row the refresh can still bind by title.

#include <algorithm>
#include <cctype>

#include "services/acquisition/acquisition_impl.hpp"

namespace shelfjobs {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Release release_of(const ReleaseRecord& r) {
  Release out;
  out.title = r.title;
  out.guid = r.guid;
  out.download_url = r.download_url;
  out.info_url = r.info_url;
  out.size = r.size;
  out.publish_date = r.publish_date;
  out.seeders = r.seeders;
  out.peers = r.peers;
  out.infohash = r.infohash;
  out.magnet_url = r.magnet_url;
  return out;
}

Result<DecisionContext> AcquisitionService::Impl::decision_context(const WantedBooks& books) {
  DecisionContext c;
  c.books = &books;
  c.profiles = o.profiles;
  c.max_size_ebook = o.max_size_ebook;
  c.max_size_audio = o.max_size_audio;
  c.min_seeders = o.min_seeders;
  auto clients_list = o.store->providers(ProviderKind::download_client);
  if (!clients_list) return clients_list.error();
  // A protocol counts when an enabled client serves it, blocked or not: a client that is away
  // makes a release pending, not rejected.
  for (const auto& d : *clients_list)
    if (d.enable) c.protocols.insert(d.protocol);
  auto active = o.store->active_downloads();
  if (!active) return active.error();
  for (const auto& t : *active)
    if (t.book_id != 0) c.queued_books.insert(t.book_id);
  for (std::int64_t page = 1;; ++page) {
    auto blocked = o.store->blocklist(page, 500);
    if (!blocked) return blocked.error();
    for (const auto& b : blocked->records) {
      if (!b.release.guid.empty()) c.blocked_guids.insert(b.release.guid);
      if (!b.release.download_url.empty()) c.blocked_urls.insert(b.release.download_url);
      c.blocked_titles.insert(std::to_string(b.release.indexer_id) + "\t" + lower(b.release.title));
    }
    if (page * 500 >= blocked->total) break;
  }
  return c;
}

Result<std::vector<ProviderDefinition>> AcquisitionService::Impl::clients_for(const std::string& protocol) {
  auto all = o.store->providers(ProviderKind::download_client);
  if (!all) return all.error();
  std::vector<ProviderDefinition> out;
  for (auto& d : *all)
    if (d.enable && d.protocol == protocol && !blocked(ProviderKind::download_client, d.id))
      out.push_back(std::move(d));
  return out;  // the store lists by priority
}

Result<DownloadRequest> AcquisitionService::Impl::fetch_request(const ReleaseDecision& d,
                                                                const std::string& category,
                                                                std::stop_token token) {
  DownloadRequest req;
  req.title = d.release.title.str();
  req.category = category;
  const bool torrent = d.protocol() == "torrent";
  const std::string url = d.release.download_url.str();
  if (torrent && (!d.release.magnet_url.empty() || url.rfind("magnet:", 0) == 0)) {
    req.kind = DownloadRequest::Kind::magnet;
    req.data = !d.release.magnet_url.empty() ? d.release.magnet_url.str() : url;
    return req;
  }
  if (url.empty()) return Error{errc::not_found, "release '" + d.release.title + "' has no download URL"};
  // The file comes from the indexer: its requests are spaced like the feed's.
  if (!o.rate_limiter->acquire(rate_key(d.indexer_id), token))
    return Error{errc::cancelled, "fetching '" + d.release.title + "' cancelled"};
  detail::HttpRequest http_req;
  http_req.url = url;
  http_req.follow_redirects = false;  // a redirect to a magnet link is read, not followed
  detail::HttpResponse res = http.get(http_req, token);
  // Some indexers redirect (once or more) to the real file; a magnet target ends it.
  for (int hops = 0; res.error == detail::TransportError::none && res.status >= 300 && res.status < 400 &&
                     !res.location.empty() && hops < 5;
       ++hops) {
    if (torrent && res.location.rfind("magnet:", 0) == 0) {
      req.kind = DownloadRequest::Kind::magnet;
      req.data = res.location;
      return req;
    }
    http_req.url = res.location;
    res = http.get(http_req, token);
  }
  const std::string what = "fetching '" + d.release.title + "' from indexer " + d.indexer + ": ";
  switch (res.error) {
    case detail::TransportError::none: break;
    case detail::TransportError::cancelled: return Error{errc::cancelled, what + "cancelled"};
    case detail::TransportError::timeout: return Error{errc::unavailable, what + "timed out"};
    default: return Error{errc::unavailable, what + res.error_message};
  }
  if (res.status == 429) {
    Error e{errc::rate_limited, what + "HTTP 429 (rate limited)"};
    if (!res.retry_after.empty()) {
      if (auto date = parse_rfc822_date(res.retry_after)) {
        e.retry_after = *date;
      } else {
        try {
          e.retry_after = now() + std::chrono::seconds(std::stoll(res.retry_after));
        } catch (...) {
        }
      }
    }
    return e;
  }
  if (res.status == 404 || res.status == 410)
    return Error{errc::not_found, what + "HTTP " + std::to_string(res.status) + " (the release is gone)"};
  if (res.status >= 500) return Error{errc::unavailable, what + "HTTP " + std::to_string(res.status)};
  if (res.status != 200) return Error{errc::upstream_error, what + "HTTP " + std::to_string(res.status)};
  if (res.body.empty()) return Error{errc::upstream_error, what + "empty file"};
  req.kind = torrent ? DownloadRequest::Kind::torrent_file : DownloadRequest::Kind::nzb_file;
  req.data = std::move(res.body);
  return req;
}

Result<TrackedDownload> AcquisitionService::Impl::grab_release(const ReleaseDecision& d,
                                                               const ProviderDefinition& client_def,
                                                               std::stop_token token) {
  auto client = download_client(client_def);
  if (!client) return client.error();
  auto request = fetch_request(d, download_category(client_def), token);
  if (!request) {
    if (request.error().code == errc::rate_limited)
      record_failure(ProviderKind::indexer, d.indexer_id, d.indexer, request.error());
    return request.error();
  }
  TrackedDownload t;
  t.client_id = client_def.id;
  t.author_id = d.author_id;
  t.book_id = d.book_id;
  t.release = d.record();
  t.size = d.release.size;
  t.size_left = d.release.size;
  auto row = o.store->add_tracked(t);
  if (!row) return row.error();
  t = std::move(row).value();
  auto id = (*client)->add(*request, token);
  if (!id) {
    t.state = TrackedState::removed;
    t.message = "grab failed: " + id.error().message;
    (void)o.store->update_tracked(t);
    if (id.error().code == errc::unavailable || id.error().code == errc::unauthorized)
      record_failure(ProviderKind::download_client, client_def.id, client_def.name, id.error());
    return id.error();
  }
  record_success(ProviderKind::download_client, client_def.id, client_def.name);
  t.download_id = *id;
  if (auto st = o.store->update_tracked(t); !st) return st.error();
  nlohmann::json data = {{"indexer", d.indexer},
                         {"downloadClient", client_def.name},
                         {"downloadClientName", client_def.name},
                         {"protocol", d.protocol()},
                         {"size", std::to_string(d.release.size)},
                         {"guid", d.release.guid.str()},
                         {"downloadUrl", d.release.download_url.str()},
                         {"quality", d.format}};
  (void)o.store->add_history({.event = HistoryEvent::grabbed,
                              .author_id = d.author_id,
                              .book_id = d.book_id,
                              .source_title = d.release.title.str(),
                              .download_id = t.download_id,
                              .data = data.dump()});
  log->info("grabbed '{}' from {} with {}", d.release.title.view(), d.indexer, client_def.name);
  publish(ReleaseGrabbed{t, client_def.name});
  return t;
}

Status AcquisitionService::Impl::process(std::vector<IndexedRelease> releases, bool with_pending,
                                         AcquisitionSummary& summary, std::stop_token token) {
  std::lock_guard batch(batch_mu);
  // Pending releases are decided again with the batch: a client that came back grabs them,
  // a book that got its file meanwhile rejects them.
  std::map<std::string, RowId> pending_ids;  // guid -> pending row
  if (with_pending) {
    auto pend = o.store->pending();
    if (!pend) return pend.error();
    for (const auto& p : *pend) {
      pending_ids[p.release.guid] = p.id;
      releases.push_back({release_of(p.release), p.release.indexer_id, p.release.indexer,
                          p.release.protocol == "torrent" ? IndexerKind::torznab : IndexerKind::newznab});
    }
  }
  auto books = WantedBooks::load(*o.catalog);
  if (!books) return books.error();
  auto context = decision_context(*books);
  if (!context) return context.error();
  std::vector<ReleaseDecision> decisions = decide(std::move(releases), *context);
  summary.found += static_cast<std::int64_t>(decisions.size());

  std::unordered_map<RowId, int> priorities;
  if (auto list = o.store->providers(ProviderKind::indexer))
    for (const auto& d : *list) priorities[d.id] = d.priority;
  const std::vector<std::size_t> best = best_per_book(decisions, priorities);

  std::set<std::string> failed_protocols;  // a client failed in this batch: the rest wait
  std::set<std::string> settled;           // guids grabbed or rejected for good
  std::set<std::string> kept_pending;      // guids pending after this batch
  for (std::size_t idx : best) {
    if (token.stop_requested()) return Error{errc::cancelled, "cancelled"};
    const ReleaseDecision& d = decisions[idx];
    const std::string protocol = d.protocol();
    auto make_pending = [&](const std::string& reason) {
      ++summary.pending;
      kept_pending.insert(d.release.guid.str());
      if (pending_ids.count(d.release.guid.str())) return;  // pending already
      (void)o.store->add_pending(
          {.author_id = d.author_id, .book_id = d.book_id, .release = d.record(), .reason = reason});
    };
    if (failed_protocols.count(protocol)) {
      make_pending("downloadClientUnavailable");
      continue;
    }
    auto candidates = clients_for(protocol);
    if (!candidates) return candidates.error();
    if (candidates->empty()) {  // every client of the protocol is backing off
      make_pending("downloadClientUnavailable");
      continue;
    }
    auto grabbed = grab_release(d, candidates->front(), token);
    if (grabbed) {
      ++summary.grabbed;
      settled.insert(d.release.guid.str());
      continue;
    }
    const Error& e = grabbed.error();
    if (e.code == errc::cancelled) return e;
    if (e.code == errc::unavailable || e.code == errc::unauthorized) {
      failed_protocols.insert(protocol);
      make_pending("downloadClientUnavailable");
    } else if (e.code == errc::not_found) {
      ++summary.rejected;
      settled.insert(d.release.guid.str());
      log->info("release '{}' rejected: {}", d.release.title.view(), e.message);
    } else {
      summary.errors.push_back(e.message);
      log->warn("{}", e.message);
    }
  }
  for (const auto& d : decisions) {
    if (!d.approved()) {
      ++summary.rejected;
      if (!d.temporarily_rejected()) settled.insert(d.release.guid.str());
      std::string reasons;
      for (const auto& r : d.rejections) {
        if (!reasons.empty()) reasons += "; ";
        reasons += r.reason.view();
      }
      log->debug("release '{}' rejected: {}", d.release.title.view(), reasons);
    }
  }
  // A pending release that was grabbed, rejected for good or not chosen any more leaves the
  // pending list; one still waiting for its client stays.
  for (const auto& [guid, id] : pending_ids)
    if (!kept_pending.count(guid)) (void)o.store->remove_pending(id);
  return Ok{};
}

}  // namespace shelfjobs

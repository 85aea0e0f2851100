// SPDX-License-Identifier: MIT
// Following the downloads: each client's items matched to the tracked downloads, completion
// announced (DownloadCompleted, whose rule imports it), failures blocklisted, and the import of
// a completed download with its outcome in history.
//
// Matching: a client's item is the tracked download whose client id it carries. A blackhole
// knows nothing of ids (what appears in its watch folder is named by whatever downloaded it),
// so its items are matched by title: the item's name without extension against the release
// title, compared lower-case and alphanumerics only, as the blackhole wrote the release under
// that title.

#include <algorithm>
#include <cctype>

#include "services/acquisition/acquisition_impl.hpp"
#include "shelfjobs/services/library_scan.hpp"

namespace shelfjobs {

namespace {

std::string release_key(std::string_view s) {
  std::string out;
  for (char c : s)
    if (std::isalnum(static_cast<unsigned char>(c)))
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string without_extension(const std::string& name) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0 || name.size() - dot > 6) return name;
  return name.substr(0, dot);
}

bool is_blackhole(const ProviderDefinition& d) {
  return d.implementation.find("Blackhole") != std::string::npos;
}

}  // namespace

void AcquisitionService::Impl::fail_download(TrackedDownload d, const std::string& message,
                                             const std::string& client_name) {
  d.state = TrackedState::failed;
  d.message = message;
  (void)o.store->update_tracked(d);
  BlocklistEntry b;
  b.author_id = d.author_id;
  if (d.book_id != 0) b.book_ids = {d.book_id};
  b.release = d.release;
  b.message = message;
  if (auto added = o.store->add_blocklist(b); !added)
    log->warn("cannot blocklist '{}': {}", d.release.title, added.error().message);
  nlohmann::json data = {
      {"message", message},           {"downloadClient", client_name},  {"downloadClientName", client_name},
      {"indexer", d.release.indexer}, {"protocol", d.release.protocol}, {"guid", d.release.guid}};
  (void)o.store->add_history({.event = HistoryEvent::download_failed,
                              .author_id = d.author_id,
                              .book_id = d.book_id,
                              .source_title = d.release.title,
                              .download_id = d.download_id,
                              .data = data.dump()});
  log->warn("download '{}' failed: {}; blocklisted, its book is wanted again", d.release.title, message);
  publish(DownloadFailed{d, message});
}

Result<DownloadsSummary> AcquisitionService::Impl::refresh_downloads(JobContext* ctx) {
  std::lock_guard lock(downloads_mu);
  DownloadsSummary summary;
  auto active = o.store->active_downloads();
  if (!active) return active.error();
  summary.tracked = static_cast<std::int64_t>(active->size());
  std::map<RowId, std::vector<TrackedDownload>> by_client;
  for (auto& t : *active) by_client[t.client_id].push_back(std::move(t));
  std::int64_t done = 0;
  for (auto& [client_id, downloads] : by_client) {
    if (ctx) ctx->throw_if_cancelled();
    auto def = o.store->provider(ProviderKind::download_client, client_id);
    if (!def) {
      // The client was deleted: its downloads cannot be followed any more.
      for (auto& t : downloads) {
        t.state = TrackedState::removed;
        t.message = "its download client was removed";
        (void)o.store->update_tracked(t);
      }
      continue;
    }
    if (blocked(ProviderKind::download_client, client_id)) {
      ++summary.unavailable_clients;
      continue;
    }
    auto client = download_client(*def);
    if (!client) {
      ++summary.unavailable_clients;
      continue;
    }
    auto items = (*client)->items(download_category(*def), ctx ? ctx->token() : std::stop_token{});
    if (!items) {
      ++summary.unavailable_clients;
      record_failure(ProviderKind::download_client, client_id, def->name, items.error());
      log->warn("download client {}: {}", def->name, items.error().message);
      continue;
    }
    record_success(ProviderKind::download_client, client_id, def->name);
    std::set<std::string> bound;  // items matched in this pass
    for (auto& t : downloads) {
      const DownloadItem* item = nullptr;
      for (const auto& i : *items)
        if (!t.download_id.empty() && i.id == t.download_id) item = &i;
      if (!item && is_blackhole(*def)) {
        const std::string key = release_key(t.release.title);
        for (const auto& i : *items)
          if (!bound.count(i.id) && release_key(without_extension(i.title)) == key) item = &i;
      }
      ++done;
      if (!item) continue;  // not there (yet, or any more): left as it was
      bound.insert(item->id);
      const TrackedDownload before = t;
      t.download_id = item->id;
      t.status = to_string(item->status);
      if (item->total_bytes > 0) t.size = item->total_bytes;
      t.size_left = item->bytes_left;
      t.eta_seconds = item->eta ? std::optional<std::int64_t>(item->eta->count()) : std::nullopt;
      if (!item->output_path.empty()) t.output_path = item->output_path.string();
      if (item->status == DownloadStatus::failed) {
        ++summary.failed;
        fail_download(t, item->message.empty() ? "the download client failed it" : item->message, def->name);
        continue;
      }
      bool announce = false;
      if (item->status == DownloadStatus::completed && !t.output_path.empty()) {
        if (t.state == TrackedState::downloading) {
          t.state = TrackedState::import_pending;
          announce = true;
        } else if (t.state == TrackedState::import_failed && now() - t.updated >= std::chrono::minutes(15)) {
          // An import that brought nothing in is tried again now and then: a book added to the
          // library meanwhile, or a file fixed by hand, lets it through.
          t.state = TrackedState::import_pending;
          announce = true;
        }
      }
      if (!announce && t.state == TrackedState::downloading) t.message = item->message;
      // Written only when something changed: `updated` then says when the item last moved,
      // which times the retry of a failed import.
      const bool changed = announce || t.download_id != before.download_id || t.status != before.status ||
                           t.size != before.size || t.size_left != before.size_left ||
                           t.eta_seconds != before.eta_seconds || t.output_path != before.output_path ||
                           t.message != before.message;
      if (changed)
        if (auto st = o.store->update_tracked(t); !st) return st.error();
      if (announce) {
        ++summary.completed;
        publish(DownloadCompleted{t});
      }
    }
    if (ctx) ctx->report(done, summary.tracked, "checked " + def->name);
  }
  return summary;
}

Result<ImportSummary> AcquisitionService::Impl::import_download(RowId id, JobContext* ctx) {
  auto t = o.store->tracked(id);
  if (!t) return t.error();
  if (t->state == TrackedState::imported)
    return Error{errc::conflict, "download " + std::to_string(id) + " is imported already"};
  if (t->state != TrackedState::import_pending && t->state != TrackedState::import_failed)
    return Error{errc::invalid_argument, "download " + std::to_string(id) + " ('" + t->release.title +
                                             "') has not completed (" + to_string(t->state) + ")"};
  if (t->output_path.empty())
    return Error{errc::invalid_argument, "download " + std::to_string(id) + " has no output path"};
  if (!o.import) return Error{errc::invalid_argument, "no import service is configured"};
  DownloadedBooksScan scan;
  scan.path = t->output_path;
  scan.importMode = ImportMode::automatic;
  // Only a torrent client's item may still be seeding: auto then hardlinks (or copies).
  auto def = o.store->provider(ProviderKind::download_client, t->client_id);
  const std::string client_name = def ? def->name : std::string("a removed client");
  if (t->release.protocol == "torrent" && def && !is_blackhole(*def)) scan.downloadClientId = t->download_id;
  auto summary = o.import->downloaded_books_scan(scan, ctx);
  if (!summary) {
    if (summary.error().code == errc::cancelled) return summary.error();
    t->state = TrackedState::import_failed;
    t->message = summary.error().message;
    (void)o.store->update_tracked(*t);
    (void)o.store->add_history(
        {.event = HistoryEvent::book_import_incomplete,
         .author_id = t->author_id,
         .book_id = t->book_id,
         .source_title = t->release.title,
         .download_id = t->download_id,
         .data = nlohmann::json{{"message", t->message}, {"downloadClient", client_name}}.dump()});
    return summary.error();
  }
  for (const auto& out : summary->outcomes) {
    if (out.result != ImportOutcome::Result::imported) continue;
    (void)o.store->add_history({.event = HistoryEvent::book_file_imported,
                                .author_id = out.file.author_id,
                                .book_id = out.file.book_id,
                                .source_title = t->release.title,
                                .download_id = t->download_id,
                                .data = nlohmann::json{{"droppedPath", out.source.string()},
                                                       {"importedPath", out.destination.string()},
                                                       {"downloadClient", client_name},
                                                       {"downloadClientName", client_name}}
                                            .dump()});
  }
  const bool brought_in = summary->imported + summary->skipped > 0;
  t->state = brought_in ? TrackedState::imported : TrackedState::import_failed;
  t->message = summary->message();
  if (auto st = o.store->update_tracked(*t); !st) return st.error();
  nlohmann::json data = {
      {"message", t->message},         {"downloadClient", client_name},   {"downloadClientName", client_name},
      {"imported", summary->imported}, {"protocol", t->release.protocol}, {"indexer", t->release.indexer}};
  (void)o.store->add_history(
      {.event = brought_in ? HistoryEvent::download_imported : HistoryEvent::book_import_incomplete,
       .author_id = t->author_id,
       .book_id = t->book_id,
       .source_title = t->release.title,
       .download_id = t->download_id,
       .data = data.dump()});
  if (brought_in) publish(DownloadImported{*t, summary->imported});
  if (summary->imported > 0 && ctx != nullptr) rescan_authors(*summary, *ctx);
  return summary;
}

// The import recorded the files it placed; a rescan of each author's folder (that folder only)
// then brings the rest of the catalog in line with it, as a library scan would: a file the
// import replaced, a sidecar it brought along. A host without the scan service skips it.
void AcquisitionService::Impl::rescan_authors(const ImportSummary& summary, JobContext& ctx) {
  RescanFolders rescan;
  rescan.filter = ScanFilter::matched;
  for (const auto& out : summary.outcomes)
    if (out.result == ImportOutcome::Result::imported && out.file.author_id != 0 &&
        std::find(rescan.authorIds.begin(), rescan.authorIds.end(), out.file.author_id) ==
            rescan.authorIds.end())
      rescan.authorIds.push_back(out.file.author_id);
  if (rescan.authorIds.empty()) return;
  if (auto pushed = ctx.push(rescan); !pushed)
    log->debug("no rescan after the import: {}", pushed.error().message);
}

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
// Readarr's acquisition routes: the download queue (paged, or whole with its books as
// queue/details; removal of one item or in bulk, from the client and onto the blocklist), the history (paged,
// by event type, book, author or download), the blocklist, releases (an interactive search of a book with
// each release's decision; a grab), and the format profiles as quality profiles. The indexer and
// download-client definitions are provider_api.cpp's; the commands (RssSync, BookSearch, AuthorSearch,
// MissingBookSearch, RefreshMonitoredDownloads) go through /api/v1/command like every other.
#include <algorithm>
#include <map>

#include <httplib.h>

#include "api.hpp"
#include "app.hpp"
#include "catalog_resources.hpp"
#include "http_util.hpp"
#include "resources.hpp"

namespace shelfd {

using namespace shelfjobs;
using nlohmann::json;

namespace {

// A boolean query parameter: "true"/"false" (any case), "1"/"0"; absent: `fallback`.
Result<bool> query_bool(const httplib::Request& req, const std::string& name, bool fallback) {
  if (!req.has_param(name)) return fallback;
  std::string v = req.get_param_value(name);
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  return Error{errc::invalid_argument,
               name + " must be true or false (got '" + req.get_param_value(name) + "')"};
}

// A queue removal's query parameters, as Readarr's: removeFromClient (default true) and blocklist.
struct Removal {
  bool from_client = true;
  bool blocklist = false;
};
Result<Removal> removal_of(const httplib::Request& req) {
  auto from_client = query_bool(req, "removeFromClient", true);
  if (!from_client) return from_client.error();
  auto blocklist = query_bool(req, "blocklist", false);
  if (!blocklist) return blocklist.error();
  return Removal{*from_client, *blocklist};
}

json paged(std::int64_t page, std::int64_t size, const char* sort_key, std::int64_t total, json records) {
  return {{"page", page},          {"pageSize", size},
          {"sortKey", sort_key},   {"sortDirection", "descending"},
          {"totalRecords", total}, {"records", std::move(records)}};
}

}  // namespace

void ApiServer::acquisition_routes() {
  auto& s = *server_;
  // Each route reads the service when it runs: a restore replaces it (App::restore), so one
  // kept from here would be gone after the first restore.

  // The client names by id, for the queue's `downloadClient`.
  auto client_names = [](AcquisitionService& acq) {
    std::map<RowId, std::string> names;
    if (auto list = acq.store()->providers(ProviderKind::download_client))
      for (const auto& d : *list) names[d.id] = d.name;
    return names;
  };
  // A tracked download as Readarr's QueueResource, its client named from `names`.
  auto queue_item = [](const std::map<RowId, std::string>& names, const TrackedDownload& d) {
    auto it = names.find(d.client_id);
    return queue_json(d, it == names.end() ? "" : it->second);
  };

  s.Get("/api/v1/queue", [this, client_names, queue_item](const httplib::Request& req,
                                                          httplib::Response& res) {
    AcquisitionService& acq = app_.acquisition();
    auto p = paging(req, 20);
    if (!p) return error(res, p.error());
    auto active = acq.store()->active_downloads();
    if (!active) return error(res, active.error());
    const auto names = client_names(acq);
    json records = json::array();
    const auto total = static_cast<std::int64_t>(active->size());
    // Newest grab first, as Readarr's queue sorts by default.
    for (std::int64_t i = total - 1 - (p->first - 1) * p->second, n = 0; i >= 0 && n < p->second; --i, ++n) {
      const auto& d = (*active)[static_cast<std::size_t>(i)];
      records.push_back(queue_item(names, d));
    }
    reply(res, 200, paged(p->first, p->second, "timeleft", total, std::move(records)));
  });
  // Readarr's queue/details: the whole queue as a list (newest grab first), of one author
  // (authorId) or of some books (bookIds, repeated or separated by commas); each item embeds its
  // book (includeBook, by default) and author (includeAuthor) as the catalog has them.
  s.Get("/api/v1/queue/details",
        [this, client_names, queue_item](const httplib::Request& req, httplib::Response& res) {
          AcquisitionService& acq = app_.acquisition();
          std::optional<RowId> author;
          if (req.has_param("authorId")) {
            auto id = query_id(req, "authorId");
            if (!id) return error(res, id.error());
            author = *id;
          }
          std::vector<std::int64_t> books;
          if (req.has_param("bookIds")) {
            auto ids = query_ids(req, "bookIds");
            if (!ids) return error(res, ids.error());
            books = std::move(*ids);
          }
          auto with_book = query_bool(req, "includeBook", true);
          if (!with_book) return error(res, with_book.error());
          auto with_author = query_bool(req, "includeAuthor", false);
          if (!with_author) return error(res, with_author.error());
          auto active = acq.store()->active_downloads();
          if (!active) return error(res, active.error());
          const auto names = client_names(acq);
          CatalogResources resources(app_.catalog());
          json out = json::array();
          for (auto d = active->rbegin(); d != active->rend(); ++d) {
            // As Readarr: authorId when given, else bookIds when given, else everything.
            if (author ? d->author_id != *author
                       : !books.empty() && std::find(books.begin(), books.end(), d->book_id) == books.end())
              continue;
            json item = queue_item(names, *d);
            if (*with_book && d->book_id != 0) {
              if (auto book = app_.catalog().book(d->book_id)) item["book"] = resources.book(*book);
            }
            if (*with_author && d->author_id != 0) {
              if (auto a = app_.catalog().author(d->author_id)) item["author"] = resources.author(*a);
            }
            out.push_back(std::move(item));
          }
          reply(res, 200, out);
        });
  s.Get("/api/v1/queue/status", [this](const httplib::Request&, httplib::Response& res) {
    AcquisitionService& acq = app_.acquisition();
    auto active = acq.store()->active_downloads();
    if (!active) return error(res, active.error());
    std::int64_t warnings = 0, errors = 0;
    for (const auto& d : *active) {
      if (d.state == TrackedState::import_failed || d.status == "warning") ++warnings;
      if (d.status == "failed") ++errors;
    }
    const auto n = static_cast<std::int64_t>(active->size());
    reply(res, 200,
          {{"totalCount", n},
           {"count", n},
           {"unknownCount", 0},
           {"errors", errors > 0},
           {"warnings", warnings > 0},
           {"unknownErrors", false},
           {"unknownWarnings", false}});
  });
  s.Delete(R"(/api/v1/queue/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    AcquisitionService& acq = app_.acquisition();
    auto id = route_id(req, "queue item");
    if (!id) return error(res, id.error());
    auto how = removal_of(req);
    if (!how) return error(res, how.error());
    auto st = acq.remove_from_queue(*id, how->from_client, how->blocklist);
    if (!st) return error(res, st.error());
    reply(res, 200, json::object());
  });

  // Readarr's bulk removal: {"ids": [...]} with the single removal's query parameters. Every
  // id is checked first: one that is not in the queue is a 404 naming it, and nothing is removed.
  s.Delete("/api/v1/queue/bulk", [this](const httplib::Request& req, httplib::Response& res) {
    AcquisitionService& acq = app_.acquisition();
    auto body = json_body(req);
    if (!body) return error(res, body.error());
    auto ids = body_ids(*body, "ids");
    if (!ids) return error(res, ids.error());
    unique_in_order(*ids);
    auto how = removal_of(req);
    if (!how) return error(res, how.error());
    auto active = acq.store()->active_downloads();
    if (!active) return error(res, active.error());
    for (RowId id : *ids) {
      if (std::none_of(active->begin(), active->end(), [id](const TrackedDownload& d) { return d.id == id; }))
        return error(res, 404, "no queue item " + std::to_string(id), "not_found");
    }
    for (RowId id : *ids) {
      auto st = acq.remove_from_queue(id, how->from_client, how->blocklist);
      if (!st) return error(res, st.error());
    }
    reply(res, 200, json::object());
  });

  s.Get("/api/v1/history", [this](const httplib::Request& req, httplib::Response& res) {
    AcquisitionService& acq = app_.acquisition();
    auto p = paging(req, 20);
    if (!p) return error(res, p.error());
    HistoryQuery q{.page = p->first, .page_size = p->second};
    if (req.has_param("eventType")) {
      auto e = history_event_from(req.get_param_value("eventType"));
      if (!e)
        return error(res, 400, "eventType '" + req.get_param_value("eventType") + "' is not a history event",
                     "invalid_argument");
      q.event = e;
    }
    for (const char* key : {"bookId", "authorId"}) {
      if (!req.has_param(key)) continue;
      auto id = query_id(req, key);
      if (!id) return error(res, id.error());
      (std::string_view(key) == "bookId" ? q.book_id : q.author_id) = *id;
    }
    q.download_id = req.get_param_value("downloadId");
    auto page = acq.store()->history(q);
    if (!page) return error(res, page.error());
    json records = json::array();
    for (const auto& h : page->records) records.push_back(history_json(h));
    reply(res, 200, paged(p->first, p->second, "date", page->total, std::move(records)));
  });

  // Readarr's unpaged history lists: of one author (its books too, or one book's), and since a
  // day (newest first). Read a page at a time; `since` stops at the first older record.
  auto history_list = [](AcquisitionService& acq, HistoryQuery q,
                         std::optional<std::chrono::sys_days> since) -> Result<std::vector<HistoryEntry>> {
    std::vector<HistoryEntry> out;
    q.page_size = 500;
    for (q.page = 1;; ++q.page) {
      auto page = acq.store()->history(q);
      if (!page) return page.error();
      for (auto& h : page->records) {
        // Compared as days: a day far ahead (a client's 2999-01-01) fits a day, not a TimePoint.
        if (since && std::chrono::floor<std::chrono::days>(h.date) < *since) return out;
        out.push_back(std::move(h));
      }
      if (page->records.empty() || q.page * q.page_size >= page->total) return out;
    }
  };
  auto history_event = [](const httplib::Request& req) -> Result<std::optional<HistoryEvent>> {
    if (!req.has_param("eventType")) return std::optional<HistoryEvent>{};
    auto e = history_event_from(req.get_param_value("eventType"));
    if (!e)
      return Error{errc::invalid_argument,
                   "eventType '" + req.get_param_value("eventType") + "' is not a history event"};
    return std::optional<HistoryEvent>(*e);
  };
  s.Get("/api/v1/history/author",
        [this, history_list, history_event](const httplib::Request& req, httplib::Response& res) {
          if (!req.has_param("authorId")) return error(res, 400, "give authorId", "invalid_argument");
          HistoryQuery q;
          auto author = query_id(req, "authorId");
          if (!author) return error(res, author.error());
          q.author_id = *author;
          if (req.has_param("bookId")) {
            auto book = query_id(req, "bookId");
            if (!book) return error(res, book.error());
            q.book_id = *book;
          }
          auto event = history_event(req);
          if (!event) return error(res, event.error());
          q.event = *event;
          auto list = history_list(app_.acquisition(), q, std::nullopt);
          if (!list) return error(res, list.error());
          json out = json::array();
          for (const auto& h : *list) out.push_back(history_json(h));
          reply(res, 200, out);
        });
  s.Get("/api/v1/history/since",
        [this, history_list, history_event](const httplib::Request& req, httplib::Response& res) {
          if (!req.has_param("date")) return error(res, 400, "give date (YYYY-MM-DD)", "invalid_argument");
          auto day = query_day(req, "date");
          if (!day) return error(res, day.error());
          HistoryQuery q;
          auto event = history_event(req);
          if (!event) return error(res, event.error());
          q.event = *event;
          auto list = history_list(app_.acquisition(), q, *day);
          if (!list) return error(res, list.error());
          json out = json::array();
          for (const auto& h : *list) out.push_back(history_json(h));
          reply(res, 200, out);
        });

  s.Get("/api/v1/blocklist", [this](const httplib::Request& req, httplib::Response& res) {
    AcquisitionService& acq = app_.acquisition();
    auto p = paging(req, 20);
    if (!p) return error(res, p.error());
    auto page = acq.store()->blocklist(p->first, p->second);
    if (!page) return error(res, page.error());
    json records = json::array();
    for (const auto& b : page->records) records.push_back(blocklist_json(b));
    reply(res, 200, paged(p->first, p->second, "date", page->total, std::move(records)));
  });
  s.Delete(R"(/api/v1/blocklist/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    AcquisitionService& acq = app_.acquisition();
    auto id = route_id(req, "blocklist item");
    if (!id) return error(res, id.error());
    auto st = acq.store()->remove_blocklist(*id);
    if (!st) return error(res, st.error());
    reply(res, 200, json::object());
  });

  // Readarr's bulk removal: {"ids": [1, 2]}; ids that are not on the list are skipped, as
  // Readarr skips them.
  s.Delete("/api/v1/blocklist/bulk", [this](const httplib::Request& req, httplib::Response& res) {
    AcquisitionService& acq = app_.acquisition();
    auto body = json_body(req);
    if (!body) return error(res, body.error());
    const auto ids = body->find("ids");
    const bool valid =
        ids != body->end() && ids->is_array() &&
        std::all_of(ids->begin(), ids->end(), [](const json& id) { return id.is_number_integer(); });
    if (!valid) return error(res, 400, "the body needs \"ids\": an array of blocklist ids", "invalid_body");
    for (const auto& id : *ids) {
      auto st = acq.store()->remove_blocklist(id.get<RowId>());
      if (!st && st.error().code != errc::not_found) return error(res, st.error());
    }
    reply(res, 200, json::object());
  });

  // The acquisition profiles as Readarr's quality profiles: 1 eBook, 2 Spoken (Readarr's two
  // defaults). Read-only: they are set in the configuration (acquisition.profiles).
  auto quality_profiles = [this] {
    const auto& p = app_.config().acquisition.profiles;
    return json::array({quality_profile_resource(1, "eBook", p.ebook, false),
                        quality_profile_resource(2, "Spoken", p.audio, true)});
  };
  s.Get("/api/v1/qualityprofile", [quality_profiles](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, quality_profiles());
  });
  s.Get(R"(/api/v1/qualityprofile/(\d+))",
        [quality_profiles](const httplib::Request& req, httplib::Response& res) {
          auto id = route_id(req, "quality profile");
          if (!id) return error(res, id.error());
          for (const auto& profile : quality_profiles())
            if (profile["id"] == *id) return reply(res, 200, profile);
          error(res, 404, "no quality profile " + std::to_string(*id), "not_found");
        });

  // Readarr's quality definitions: every quality, worst first, its size limit the
  // configuration's for its kind (acquisition.maxSizeMb; 0 there is none here: null).
  s.Get("/api/v1/qualitydefinition", [this](const httplib::Request&, httplib::Response& res) {
    const auto& a = app_.config().acquisition;
    reply(res, 200, quality_definitions(a.max_size_ebook_mb, a.max_size_audio_mb));
  });

  // An interactive search: it asks every indexer with interactive search enabled now, so it
  // takes as long as the slowest (Readarr's does too).
  s.Get("/api/v1/release", [this](const httplib::Request& req, httplib::Response& res) {
    AcquisitionService& acq = app_.acquisition();
    if (!req.has_param("bookId")) return error(res, 400, "give bookId", "invalid_argument");
    auto id = query_id(req, "bookId");
    if (!id) return error(res, id.error());
    auto found = acq.interactive_search(*id);
    if (!found) return error(res, found.error());
    json out = json::array();
    const auto now = std::chrono::system_clock::now();
    for (const auto& d : *found) out.push_back(release_json(d, now));
    app_.log().info("interactive search of book {}: {} releases", *id, found->size());
    reply(res, 200, out);
  });
  s.Post("/api/v1/release", [this, client_names, queue_item](const httplib::Request& req,
                                                             httplib::Response& res) {
    AcquisitionService& acq = app_.acquisition();
    auto body = json_body(req);
    if (!body) return error(res, body.error());
    const auto guid = body->find("guid");
    const auto indexer = body->find("indexerId");
    if (guid == body->end() || !guid->is_string() || indexer == body->end() || !indexer->is_number_integer())
      return error(res, 400,
                   "give guid (text) and indexerId (a number) of a release from GET /api/v1/release",
                   "invalid_body");
    auto grabbed = acq.grab(guid->get<std::string>(), indexer->get<RowId>());
    if (!grabbed) return error(res, grabbed.error());
    json out = queue_item(client_names(acq), *grabbed);
    out["guid"] = guid->get<std::string>();
    out["indexerId"] = indexer->get<RowId>();
    reply(res, 200, out);
  });
}

}  // namespace shelfd

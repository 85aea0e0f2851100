// SPDX-License-Identifier: MIT
// Readarr's book-file routes, the manual-import list and Wanted/Missing: the files the library
// scan recorded (by author, by book, or unmapped), files read or deleted (one, or Readarr's bulk
// delete; into the recycle bin when one is configured), the files of a folder as an import would take them,
// and the monitored books that have no file yet, paged as Readarr pages.
#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <system_error>

#include <httplib.h>

#include "api.hpp"
#include "app.hpp"
#include "catalog_resources.hpp"
#include "http_util.hpp"
#include "resources.hpp"

namespace shelfd {

using namespace shelfjobs;
using nlohmann::json;
namespace fs = std::filesystem;

void ApiServer::library_routes() {
  auto& s = *server_;
  // GET /api/v1/bookfile?authorId=|bookId=|unmapped=true (Readarr answers 400 without one).
  s.Get("/api/v1/bookfile", [this](const httplib::Request& req, httplib::Response& res) {
    Result<std::vector<BookFile>> files = std::vector<BookFile>{};
    if (req.has_param("authorId")) {
      auto id = query_id(req, "authorId");
      if (!id) return error(res, id.error());
      files = app_.catalog().files_of_author(*id);
    } else if (req.has_param("bookId")) {
      auto id = query_id(req, "bookId");
      if (!id) return error(res, id.error());
      files = app_.catalog().files_of_book(*id);
    } else if (req.get_param_value("unmapped") == "true") {
      files = app_.catalog().unmapped_files();
    } else {
      return error(res, 400, "give authorId, bookId or unmapped=true", "invalid_argument");
    }
    if (!files) return error(res, files.error());
    json out = json::array();
    for (const auto& f : *files) out.push_back(bookfile_resource(f));
    reply(res, 200, out);
  });
  s.Get(R"(/api/v1/bookfile/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    auto id = route_id(req, "book file");
    if (!id) return error(res, id.error());
    auto f = app_.catalog().file(*id);
    if (!f) return error(res, f.error());
    reply(res, 200, bookfile_resource(*f));
  });
  s.Delete(R"(/api/v1/bookfile/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    auto id = route_id(req, "book file");
    if (!id) return error(res, id.error());
    if (auto deleted = app_.library().delete_files({*id}, app_.config().recycle_bin); !deleted)
      return error(res, deleted.error());
    reply(res, 200, json::object());
  });
  // Readarr's bulk delete, {"bookFileIds": [...]}: every id is checked before any file goes.
  s.Delete("/api/v1/bookfile/bulk", [this](const httplib::Request& req, httplib::Response& res) {
    auto parsed = json_body(req);
    if (!parsed) return error(res, parsed.error());
    auto ids = body_ids(*parsed, "bookFileIds");
    if (!ids) return error(res, ids.error());
    if (auto deleted = app_.library().delete_files(*ids, app_.config().recycle_bin); !deleted)
      return error(res, deleted.error());
    reply(res, 200, json::object());
  });
  // Readarr's Wanted > Missing: monitored books of monitored authors without a file.
  s.Get("/api/v1/wanted/missing", [this](const httplib::Request& req, httplib::Response& res) {
    auto p = paging(req);
    if (!p) return error(res, p.error());
    auto page = app_.catalog().missing_books(p->first, p->second);
    if (!page) return error(res, page.error());
    json records = json::array();
    CatalogResources resources(app_.catalog());
    for (const auto& b : page->books) records.push_back(resources.book(b));
    reply(res, 200,
          {{"page", p->first},
           {"pageSize", p->second},
           {"sortKey", "releaseDate"},
           {"sortDirection", "descending"},
           {"totalRecords", page->total},
           {"records", records}});
  });
  // Readarr's Wanted > Cutoff Unmet: monitored books of monitored authors with files, where the
  // files of one kind (ebook or audio) include none that meets that kind's profile cutoff, as
  // the acquisition judges an upgrade. Newest release first, as Missing.
  s.Get("/api/v1/wanted/cutoff", [this](const httplib::Request& req, httplib::Response& res) {
    auto p = paging(req);
    if (!p) return error(res, p.error());
    const auto& profiles = app_.config().acquisition.profiles;
    auto authors = app_.catalog().authors();
    if (!authors) return error(res, authors.error());
    std::vector<Book> unmet;
    for (const Author& a : *authors) {
      if (!a.monitored) continue;
      auto files = app_.catalog().files_of_author(a.id);
      if (!files) return error(res, files.error());
      // Per book and kind: has a file of the kind, and whether one meets the cutoff.
      std::map<RowId, std::array<std::pair<bool, bool>, 2>> kinds;
      for (const BookFile& f : *files) {
        if (f.book_id == 0) continue;
        const auto format = book_format_from_string(f.format);
        const bool audio = format && kind_of(*format) == BookKind::audio;
        auto& [has, meets] = kinds[f.book_id][audio ? 1 : 0];
        has = true;
        meets = meets || profiles.of(audio).meets_cutoff(f.format);
      }
      if (kinds.empty()) continue;
      auto books = app_.catalog().books_of(a.id);
      if (!books) return error(res, books.error());
      for (Book& b : *books) {
        auto it = kinds.find(b.id);
        if (!b.monitored || it == kinds.end()) continue;
        const bool below = std::any_of(it->second.begin(), it->second.end(),
                                       [](const std::pair<bool, bool>& k) { return k.first && !k.second; });
        if (below) unmet.push_back(std::move(b));
      }
    }
    std::stable_sort(unmet.begin(), unmet.end(), [](const Book& x, const Book& y) {
      if (x.release_date.has_value() != y.release_date.has_value()) return x.release_date.has_value();
      if (x.release_date != y.release_date) return x.release_date > y.release_date;
      return x.id < y.id;
    });
    const auto total = static_cast<std::int64_t>(unmet.size());
    json records = json::array();
    CatalogResources resources(app_.catalog());
    for (std::int64_t i = (p->first - 1) * p->second, n = 0; i < total && n < p->second; ++i, ++n)
      records.push_back(resources.book(unmet[static_cast<std::size_t>(i)]));
    reply(res, 200,
          {{"page", p->first},
           {"pageSize", p->second},
           {"sortKey", "releaseDate"},
           {"sortDirection", "descending"},
           {"totalRecords", total},
           {"records", records}});
  });
  // Readarr's manual import list: every book file under the folder with its match, where it
  // would go and why it would be rejected. Nothing changes; ManualImport (a command) imports.
  s.Get("/api/v1/manualimport", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string folder = req.get_param_value("folder");
    if (folder.empty()) return error(res, 400, "give folder=/absolute/path", "invalid_argument");
    auto found = app_.import().candidates(folder);
    if (!found) return error(res, found.error());
    json out = json::array();
    int id = 0;
    for (const auto& c : *found) out.push_back(manualimport_resource(app_.catalog(), c, ++id));
    reply(res, 200, out);
  });
  // The last library scan's figures (for the dashboard; not a Readarr route).
  s.Get("/api/v1/library/scan", [this](const httplib::Request&, httplib::Response& res) {
    auto last = app_.scan().last_scan();
    reply(res, 200, last ? json(*last) : json(nullptr));
  });
}

}  // namespace shelfd

// SPDX-License-Identifier: MIT
// Readarr's catalog routes, as far as the library service goes: root folders, authors (add one
// by its foreign id, edit, remove, look up), books (add, monitor, look up) with their editions
// and series, the release calendar, the one metadata profile and the (empty) tag list. Adding answers what
// happened upstream: 404 for an id the metadata source does not know, 503 when it is down or not configured,
// 429 when it limits us, 502 when it answers nonsense.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <vector>

#include <httplib.h>

#include "api.hpp"
#include "app.hpp"
#include "catalog_resources.hpp"
#include "http_util.hpp"
#include "resources.hpp"
#include "shelfjobs/services/refresh.hpp"

namespace shelfd {

using namespace shelfjobs;
using nlohmann::json;

namespace {
// `path` as a folder: no "." or ".." parts, no trailing separator.
std::filesystem::path folder_path(const std::string& text) {
  std::filesystem::path p = std::filesystem::path(text).lexically_normal();
  if (!p.has_filename() && p.has_relative_path()) p = p.parent_path();
  return p;
}

// A person's edit of one author, as PUT /author/{id} and the editor make it: a new `path` is a
// MoveAuthor job with `move` (the folder and its files move; AuthorMoved follows), else only the
// catalog's path; then `monitored`. Returns the author as it is now (its old path while a move
// is queued). Errors: the library's, and the engine's for the push.
Result<Author> edit_author(App& app, Author author, std::optional<bool> monitored,
                           const std::optional<std::filesystem::path>& path, bool move) {
  if (path && *path != author.path) {
    if (move && !author.path.empty()) {
      if (auto ok = app.library().check_author_folder(author.id, *path); !ok) return ok.error();
      auto pushed = app.engine().push(MoveAuthor{
          .authorId = author.id, .sourcePath = author.path.string(), .destinationPath = path->string()});
      if (!pushed) return pushed.error();
    } else {
      auto moved = app.library().set_author_path(author.id, *path);
      if (!moved) return moved.error();
      author = std::move(*moved);
    }
  }
  if (monitored && *monitored != author.monitored) {
    auto edited = app.library().set_author_monitored(author.id, *monitored);
    if (!edited) return edited.error();
    author = std::move(*edited);
  }
  return author;
}

// A foreign id sent as a string or a number (a whole number, unsigned if it must be).
std::string foreign_id_of(const json& body, const char* key) {
  if (!body.contains(key)) return {};
  const json& v = body[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  return {};
}

// "monitored" as sent (a boolean), true when absent.
bool monitored_of(const json& body) {
  auto it = body.find("monitored");
  return it != body.end() && it->is_boolean() ? it->get<bool>() : true;
}

// Readarr's monitoring options (`addOptions`, `monitoringOptions`): the "monitor" choice, and
// "booksToMonitor", foreign book ids that, when listed, are monitored alone whatever "monitor"
// says.
struct MonitorOptions {
  std::optional<BookMonitor> monitor;  // none: absent or null
  std::vector<std::string> books;      // empty: absent, null or []

  bool any() const { return monitor || !books.empty(); }
};

// The options object `options` of `body`; nothing chosen when it is absent or null. Errors:
// invalid_body for another shape, an unknown choice, or a book id that is neither a string nor
// a number.
Result<MonitorOptions> monitor_of(const json& body, const char* options) {
  MonitorOptions out;
  auto o = body.find(options);
  if (o == body.end() || o->is_null()) return out;
  if (!o->is_object()) return Error{errc::invalid_body, std::string("\"") + options + "\" must be an object"};
  if (auto b = o->find("booksToMonitor"); b != o->end() && !b->is_null()) {
    auto ids = parse_books_to_monitor(*b, std::string("\"") + options + ".booksToMonitor\"");
    if (!ids) return ids.error();
    out.books = std::move(*ids);
  }
  auto it = o->find("monitor");
  if (it == o->end() || it->is_null()) return out;
  out.monitor = it->is_string() ? parse_book_monitor(it->get<std::string>()) : std::nullopt;
  if (!out.monitor)
    return Error{errc::invalid_body, std::string("\"") + options +
                                         ".monitor\" must be one of all, future, "
                                         "missing, existing, latest, first, none; not " +
                                         it->dump()};
  return out;
}

// PUT /api/v1/book/monitor and /api/v1/book/editor: {bookIds, monitored}; answers the books.
// The editor, as Readarr's, takes a body without `monitored` (the books stay as they are).
void monitor_books(App& app, const httplib::Request& req, httplib::Response& res, bool monitored_optional) {
  auto parsed = json_body(req);
  if (!parsed) return error(res, parsed.error());
  const json& body = *parsed;
  const auto monitored = bool_field(body, "monitored");
  if (!monitored) return error(res, monitored.error());
  if (!*monitored && !monitored_optional)
    return error(res, 400,
                 "the body needs \"bookIds\" (a list of book ids) and \"monitored\" (true or false)",
                 "invalid_body");
  const auto ids = body_ids(body, "bookIds");
  if (!ids) return error(res, ids.error());
  Result<std::vector<Book>> books = std::vector<Book>{};
  if (*monitored) {
    books = app.library().set_books_monitored(*ids, **monitored);
  } else {
    for (RowId id : *ids) {
      auto b = app.catalog().book(id);
      if (!b) return error(res, b.error());
      books->push_back(std::move(*b));
    }
  }
  if (!books) return error(res, books.error());
  json out = json::array();
  CatalogResources resources(app.catalog());
  for (const auto& b : *books) out.push_back(resources.book(b));
  reply(res, 202, out);
}

// The root folder by id, or by path as Readarr's clients send it (the root itself, or the
// author's folder under it). 0: none.
// Errors: invalid_argument when rootFolderId is not a 64-bit whole number.
Result<RowId> root_of(Catalog& catalog, const json& body) {
  if (auto it = body.find("rootFolderId"); it != body.end() && !it->is_null()) {
    if (!is_id(*it))
      return Error{errc::invalid_argument, "rootFolderId " + it->dump() + " is not a 64-bit id"};
    return it->get<RowId>();
  }
  if (!body.contains("rootFolderPath") || !body["rootFolderPath"].is_string()) return RowId{0};
  const std::filesystem::path want = body["rootFolderPath"].get<std::string>();
  if (auto roots = catalog.root_folders()) {
    for (const auto& r : *roots) {
      if (r.path == want || r.path == want.parent_path()) return r.id;
    }
  }
  return RowId{0};
}
}  // namespace

void ApiServer::catalog_routes() {
  auto& s = *server_;
  s.Get("/api/v1/rootfolder", [this](const httplib::Request&, httplib::Response& res) {
    auto roots = app_.catalog().root_folders();
    if (!roots) return error(res, roots.error());
    json out = json::array();
    for (const auto& r : *roots) out.push_back(root_resource(r));
    reply(res, 200, out);
  });
  s.Post("/api/v1/rootfolder", [this](const httplib::Request& req, httplib::Response& res) {
    auto parsed = json_body(req);
    if (!parsed) return error(res, parsed.error());
    const json& body = *parsed;
    if (!body.contains("path") || !body["path"].is_string())
      return error(res, 400, "the body needs \"path\": an absolute folder", "invalid_body");
    std::string name;
    if (auto it = body.find("name"); it != body.end() && it->is_string()) name = it->get<std::string>();
    auto added = app_.library().add_root_folder(body["path"].get<std::string>(), std::move(name));
    if (!added) return error(res, added.error());
    reply(res, 201, root_resource(*added));
  });
  s.Get(R"(/api/v1/rootfolder/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto id = route_id(req, "root folder with id");
    if (!id) return error(res, id.error());
    auto root = app_.catalog().root_folder(*id);
    if (!root) return error(res, root.error());
    reply(res, 200, root_resource(*root));
  });
  // Readarr's root folder delete: the folder and its authors stay; only the root folder goes.
  // One the configuration's libraryRoots names would come back at the next start, so it is
  // refused with where to remove it instead.
  s.Delete(R"(/api/v1/rootfolder/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto id = route_id(req, "root folder with id");
    if (!id) return error(res, id.error());
    auto root = app_.catalog().root_folder(*id);
    if (!root) return error(res, root.error());
    for (const auto& configured : app_.config().library_roots) {
      if (catalog_path(configured) == catalog_path(root->path))
        return error(res, 409,
                     "root folder " + root->path.string() +
                         " is in the configuration's libraryRoots: remove it there, then restart shelfd",
                     "conflict");
    }
    if (auto removed = app_.library().remove_root_folder(*id); !removed) return error(res, removed.error());
    reply(res, 200, json::object());
  });
  // The editions of one book or several (bookId repeated or separated by commas), as Readarr's
  // book page reads them; an id that is not a book has none.
  s.Get("/api/v1/edition", [this](const httplib::Request& req, httplib::Response& res) {
    if (!req.has_param("bookId")) return error(res, 400, "give bookId", "invalid_argument");
    const auto ids = query_ids(req, "bookId");
    if (!ids) return error(res, ids.error());
    json out = json::array();
    for (RowId id : *ids) {
      auto editions = app_.catalog().editions_of(id);
      if (!editions && editions.error().code == errc::not_found) continue;  // as Readarr: none
      if (!editions) return error(res, editions.error());
      for (const auto& e : *editions) out.push_back(edition_resource(e));
    }
    reply(res, 200, out);
  });
  s.Get(R"(/api/v1/edition/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    auto id = route_id(req, "edition");
    if (!id) return error(res, id.error());
    auto e = app_.catalog().edition(*id);
    if (!e) return error(res, e.error());
    reply(res, 200, edition_resource(*e));
  });
  // The series an author's books belong to, each with the links of that author's books (404 for
  // no such author).
  s.Get("/api/v1/series", [this](const httplib::Request& req, httplib::Response& res) {
    if (!req.has_param("authorId")) return error(res, 400, "give authorId", "invalid_argument");
    const auto id = query_id(req, "authorId");
    if (!id) return error(res, id.error());
    auto books = app_.catalog().books_of(*id);
    if (!books) return error(res, books.error());
    std::map<RowId, std::vector<SeriesLink>> by_series;
    for (const auto& b : *books) {
      auto links = app_.catalog().series_links_of(b.id);
      if (!links) return error(res, links.error());
      for (auto& l : *links) by_series[l.series_id].push_back(std::move(l));
    }
    json out = json::array();
    for (const auto& [series_id, links] : by_series) {
      auto series = app_.catalog().series(series_id);
      if (!series) return error(res, series.error());
      out.push_back(series_resource(*series, links));
    }
    reply(res, 200, out);
  });
  // One metadata profile, which filters nothing: an author refresh keeps every book the source
  // lists. Readarr's clients read the list (and send its id) when they add an author.
  s.Get("/api/v1/metadataprofile", [](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, json::array({metadata_profile_resource()}));
  });
  s.Get(R"(/api/v1/metadataprofile/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
    const auto id = route_id(req, "metadata profile with id");
    if (!id) return error(res, id.error());
    if (*id != 1) return error(res, 404, "no metadata profile with id " + std::to_string(*id), "not_found");
    reply(res, 200, metadata_profile_resource());
  });
  // Books released from `start` to `end` (days, both included; default today and two days on,
  // as Readarr's), monitored ones only unless unmonitored=true.
  s.Get("/api/v1/calendar", [this](const httplib::Request& req, httplib::Response& res) {
    const Date today = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
    Date start = today, end = today + std::chrono::days(2);
    if (req.has_param("start")) {
      auto d = query_day(req, "start");
      if (!d) return error(res, d.error());
      start = *d;
    }
    if (req.has_param("end")) {
      auto d = query_day(req, "end");
      if (!d) return error(res, d.error());
      end = *d;
    }
    const auto unmonitored = query_flag(req, "unmonitored", false);
    if (!unmonitored) return error(res, unmonitored.error());
    auto books = app_.catalog().books();
    if (!books) return error(res, books.error());
    std::vector<const Book*> in;
    for (const auto& b : *books) {
      if (b.release_date && *b.release_date >= start && *b.release_date <= end &&
          (b.monitored || *unmonitored))
        in.push_back(&b);
    }
    std::stable_sort(in.begin(), in.end(),
                     [](const Book* a, const Book* b) { return *a->release_date < *b->release_date; });
    json out = json::array();
    CatalogResources resources(app_.catalog());
    for (const Book* b : in) out.push_back(resources.book(*b));
    reply(res, 200, out);
  });
  // shelfd has no tags; Readarr's clients read the list before they add an author. Making one
  // is refused by name (405), not as an unknown route (404), so a client says why.
  s.Get("/api/v1/tag",
        [](const httplib::Request&, httplib::Response& res) { reply(res, 200, json::array()); });
  s.Get(R"(/api/v1/tag/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
    error(res, 404, "no tag " + req.matches[1].str() + ": shelfd keeps no tags", "not_found");
  });
  s.Get("/api/v1/tag/detail",
        [](const httplib::Request&, httplib::Response& res) { reply(res, 200, json::array()); });
  s.Get(R"(/api/v1/tag/detail/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
    error(res, 404, "no tag " + req.matches[1].str() + ": shelfd keeps no tags", "not_found");
  });
  auto no_tags = [](const httplib::Request&, httplib::Response& res) {
    error(res, 405, "shelfd keeps no tags: GET /api/v1/tag is always empty", "method_not_allowed");
  };
  s.Post("/api/v1/tag", no_tags);
  s.Put(R"(/api/v1/tag/(\d+))", no_tags);
  s.Delete(R"(/api/v1/tag/(\d+))", no_tags);

  s.Get("/api/v1/author", [this](const httplib::Request&, httplib::Response& res) {
    auto authors = app_.catalog().authors();
    if (!authors) return error(res, authors.error());
    json out = json::array();
    CatalogResources resources(app_.catalog());
    for (const auto& a : *authors) out.push_back(resources.author(a));
    reply(res, 200, out);
  });
  // Readarr's lookups, which its clients call before they add an author or a book: what the
  // metadata source finds for `term` (503, 429 or 502 when it fails, as for an add).
  s.Get("/api/v1/author/lookup", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string term = req.get_param_value("term");
    if (term.empty()) return error(res, 400, "give a term to look for", "invalid_argument");
    auto found = app_.library().find_authors(term);
    if (!found) return error(res, found.error());
    json out = json::array();
    for (const auto& a : *found) out.push_back(author_lookup_resource(app_.catalog(), a));
    reply(res, 200, out);
  });
  // Readarr's mixed search (its "add new" page): authors and books, each as the lookups give
  // them, in {id, foreignId, author | book}.
  s.Get("/api/v1/search", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string term = req.get_param_value("term");
    if (term.empty()) return error(res, 400, "give a term to look for", "invalid_argument");
    auto found = app_.library().find(term);
    if (!found) return error(res, found.error());
    json out = json::array();
    for (const auto& f : *found) {
      json entry = {{"id", out.size() + 1}};
      if (f.author) {
        entry["foreignId"] = f.author->foreign_id;
        entry["author"] = author_lookup_resource(app_.catalog(), *f.author);
      } else if (f.work) {
        entry["foreignId"] = f.work->foreign_id;
        entry["book"] = book_lookup_resource(app_.catalog(), *f.work);
      }
      out.push_back(std::move(entry));
    }
    reply(res, 200, out);
  });
  s.Get("/api/v1/book/lookup", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string term = req.get_param_value("term");
    if (term.empty()) return error(res, 400, "give a term to look for", "invalid_argument");
    auto found = app_.library().find_books(term);
    if (!found) return error(res, found.error());
    json out = json::array();
    for (const auto& w : *found) out.push_back(book_lookup_resource(app_.catalog(), w));
    reply(res, 200, out);
  });
  s.Get(R"(/api/v1/author/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto id = route_id(req, "author with id");
    if (!id) return error(res, id.error());
    auto a = app_.catalog().author(*id);
    if (!a) return error(res, a.error());
    reply(res, 200, author_resource(app_.catalog(), *a));
  });
  // Readarr's edit: `monitored` and `path` are what shelfd keeps of the resource a client sends
  // back (its other fields are accepted and left as they are). With moveFiles=true a new path
  // is a MoveAuthor job (the folder and its files move); without, only the catalog's path changes.
  s.Put(R"(/api/v1/author/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto id = route_id(req, "author with id");
    if (!id) return error(res, id.error());
    auto parsed = json_body(req);
    if (!parsed) return error(res, parsed.error());
    const json& body = *parsed;
    const auto move = query_flag(req, "moveFiles", false);
    if (!move) return error(res, move.error());
    const auto monitored = bool_field(body, "monitored");
    if (!monitored) return error(res, monitored.error());
    std::optional<std::filesystem::path> path;
    if (auto it = body.find("path"); it != body.end() && !it->is_null()) {
      if (!it->is_string() || it->get<std::string>().empty())
        return error(res, 400, "\"path\" must be the author's folder, an absolute path", "invalid_body");
      path = folder_path(it->get<std::string>());
    }
    auto author = app_.catalog().author(*id);
    if (!author) return error(res, author.error());
    auto edited = edit_author(app_, std::move(*author), *monitored, path, *move);
    if (!edited) return error(res, edited.error());
    reply(res, 202, author_resource(app_.catalog(), *edited));
  });
  // Readarr's mass editor: {"authorIds": [...], "monitored"?, "rootFolderPath"?, "moveFiles"?}
  // (its other fields are accepted and ignored). A root folder puts each author in it under its
  // folder's name, moved by a MoveAuthor job each with moveFiles. Every id is checked first: an
  // unknown one is 404 and nothing changes.
  s.Put("/api/v1/author/editor", [this](const httplib::Request& req, httplib::Response& res) {
    auto parsed = json_body(req);
    if (!parsed) return error(res, parsed.error());
    const json& body = *parsed;
    auto ids = body_ids(body, "authorIds");
    if (!ids) return error(res, ids.error());
    unique_in_order(*ids);
    const auto monitored = bool_field(body, "monitored");
    if (!monitored) return error(res, monitored.error());
    const auto move = bool_field(body, "moveFiles");
    if (!move) return error(res, move.error());
    std::optional<std::filesystem::path> root;
    if (auto it = body.find("rootFolderPath"); it != body.end() && !it->is_null()) {
      if (!it->is_string())
        return error(res, 400, "\"rootFolderPath\" must be a root folder's path", "invalid_body");
      if (!it->get<std::string>().empty()) root = folder_path(it->get<std::string>());
    }
    std::vector<Author> authors;
    for (RowId id : *ids) {
      auto a = app_.catalog().author(id);
      if (!a) return error(res, a.error());
      authors.push_back(std::move(*a));
    }
    json out = json::array();
    for (Author& a : authors) {
      std::optional<std::filesystem::path> path;
      if (root) path = *root / (a.path.empty() ? safe_folder_name(a.name) : a.path.filename().string());
      auto edited = edit_author(app_, std::move(a), *monitored, path, move->value_or(false));
      if (!edited) return error(res, edited.error());
      out.push_back(author_resource(app_.catalog(), *edited));
    }
    reply(res, 202, out);
  });
  s.Delete("/api/v1/author/editor", [this](const httplib::Request& req, httplib::Response& res) {
    auto parsed = json_body(req);
    if (!parsed) return error(res, parsed.error());
    auto ids = body_ids(*parsed, "authorIds");
    if (!ids) return error(res, ids.error());
    unique_in_order(*ids);
    const auto flags = removal_flags(*parsed);
    if (!flags) return error(res, flags.error());
    for (RowId id : *ids) {
      if (auto a = app_.catalog().author(id); !a) return error(res, a.error());
    }
    for (RowId id : *ids) {
      auto removed =
          app_.library().remove_author(id, flags->delete_files, app_.config().recycle_bin, flags->exclude);
      if (!removed) return error(res, removed.error());
    }
    reply(res, 200, json::object());
  });
  s.Delete(R"(/api/v1/author/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto id = route_id(req, "author with id");
    if (!id) return error(res, id.error());
    const auto flags = removal_flags(req);
    if (!flags) return error(res, flags.error());
    if (auto removed =
            app_.library().remove_author(*id, flags->delete_files, app_.config().recycle_bin, flags->exclude);
        !removed)
      return error(res, removed.error());
    reply(res, 200, json::object());
  });
  s.Post("/api/v1/author", [this](const httplib::Request& req, httplib::Response& res) {
    auto parsed = json_body(req);
    if (!parsed) return error(res, parsed.error());
    const json& body = *parsed;
    const std::string fid = foreign_id_of(body, "foreignAuthorId");
    if (fid.empty()) return error(res, 400, "the body needs \"foreignAuthorId\"", "invalid_body");
    const auto root = root_of(app_.catalog(), body);
    if (!root) return error(res, root.error());
    if (*root == 0)
      return error(res, 400,
                   "the body needs \"rootFolderPath\" (a configured root folder) or \"rootFolderId\"",
                   "invalid_body");
    const auto monitor = monitor_of(body, "addOptions");
    if (!monitor) return error(res, monitor.error());
    AddAuthorOptions options{
        .monitored = monitored_of(body), .monitor = monitor->monitor, .books_to_monitor = monitor->books};
    if (auto o = body.find("addOptions"); o != body.end() && o->is_object()) {
      const auto search = bool_field(*o, "searchForMissingBooks");
      if (!search)
        return error(res, 400, "\"addOptions.searchForMissingBooks\" must be true or false", "invalid_body");
      options.search_for_missing = *search;
    }
    auto added = app_.library().add_author(fid, *root, options);
    if (!added) return error(res, added.error());
    reply(res, 201, author_resource(app_.catalog(), *added));
  });
  s.Post("/api/v1/book", [this](const httplib::Request& req, httplib::Response& res) {
    auto parsed = json_body(req);
    if (!parsed) return error(res, parsed.error());
    const json& body = *parsed;
    const std::string fid = foreign_id_of(body, "foreignBookId");
    if (fid.empty())
      return error(res, 400, "the body needs \"foreignBookId\" (the work's id)", "invalid_body");
    // The root folder matters only when the book's author is new to the catalog.
    const auto root = root_of(app_.catalog(), body);
    if (!root) return error(res, root.error());
    auto added = app_.library().add_book(fid, *root, monitored_of(body));
    if (!added) return error(res, added.error());
    reply(res, 201, book_resource(app_.catalog(), *added));
  });
  s.Get(R"(/api/v1/book/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto id = route_id(req, "book with id");
    if (!id) return error(res, id.error());
    auto b = app_.catalog().book(*id);
    if (!b) return error(res, b.error());
    reply(res, 200, book_resource(app_.catalog(), *b));
  });
  // Readarr's monitor toggle for one book or many: {"bookIds": [...], "monitored": bool}.
  // Readarr's book editor takes the same body for its monitoring (its DELETE: exclusion_api.cpp).
  s.Put("/api/v1/book/editor", [this](const httplib::Request& req, httplib::Response& res) {
    monitor_books(app_, req, res, /*monitored_optional=*/true);
  });
  // Readarr's bookshelf: authors monitored or not, and their books as a "monitor" choice says.
  s.Post("/api/v1/bookshelf", [this](const httplib::Request& req, httplib::Response& res) {
    auto parsed = json_body(req);
    if (!parsed) return error(res, parsed.error());
    const json& body = *parsed;
    auto list = body.find("authors");
    if (list == body.end() || !list->is_array())
      return error(res, 400, "the body needs \"authors\", a list of {id, monitored}", "invalid_body");
    const auto monitor = monitor_of(body, "monitoringOptions");
    if (!monitor) return error(res, monitor.error());
    // Every entry is checked before anything changes: a bad one changes nothing. (The changes
    // are made author by author: a store failure midway leaves the earlier ones made.)
    std::vector<std::pair<RowId, std::optional<bool>>> wanted;
    for (const json& a : *list) {
      if (!a.is_object()) return error(res, 400, "each of \"authors\" must be an object", "invalid_body");
      const auto id = a.find("id");
      if (id == a.end() || !is_id(*id))
        return error(res, 400, "each of \"authors\" needs \"id\", an author id", "invalid_body");
      const auto monitored = bool_field(a, "monitored");
      if (!monitored) return error(res, monitored.error());
      if (auto found = app_.catalog().author(id->get<RowId>()); !found) return error(res, found.error());
      wanted.emplace_back(id->get<RowId>(), *monitored);
    }
    for (auto [id, monitored] : wanted) {
      // As Readarr: "none" unmonitors the author too.
      if (monitor->monitor == BookMonitor::none) monitored = false;
      if (monitored) {
        if (auto set = app_.library().set_author_monitored(id, *monitored); !set)
          return error(res, set.error());
      }
      if (monitor->any()) {
        auto set = app_.library().set_book_monitoring(id, monitor->monitor.value_or(BookMonitor::all),
                                                      monitor->books);
        if (!set) return error(res, set.error());
      }
    }
    reply(res, 202, body);  // as Readarr: Accepted(request)
  });
  s.Put("/api/v1/book/monitor", [this](const httplib::Request& req, httplib::Response& res) {
    monitor_books(app_, req, res, /*monitored_optional=*/false);
  });
  // Readarr's edit of one book: shelfd keeps its `monitored` (the other fields are accepted).
  s.Put(R"(/api/v1/book/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto id = route_id(req, "book with id");
    if (!id) return error(res, id.error());
    auto parsed = json_body(req);
    if (!parsed) return error(res, parsed.error());
    const auto monitored = bool_field(*parsed, "monitored");
    if (!monitored) return error(res, monitored.error());
    auto b = app_.catalog().book(*id);
    if (!b) return error(res, b.error());
    if (*monitored && **monitored != b->monitored) {
      auto books = app_.library().set_books_monitored({*id}, **monitored);
      if (!books) return error(res, books.error());
      b = books->front();
    }
    reply(res, 202, book_resource(app_.catalog(), *b));
  });
  s.Get("/api/v1/book", [this](const httplib::Request& req, httplib::Response& res) {
    Result<std::vector<Book>> books = std::vector<Book>{};
    if (req.has_param("bookIds")) {
      const auto ids = query_ids(req, "bookIds");
      if (!ids) return error(res, ids.error());
      std::vector<Book> found;
      for (RowId id : *ids) {
        auto b = app_.catalog().book(id);
        if (b) {
          found.push_back(std::move(*b));
        } else if (b.error().code != errc::not_found) {
          return error(res, b.error());
        }
      }
      books = std::move(found);
    } else if (req.has_param("authorId")) {
      const auto id = query_id(req, "authorId");
      if (!id) return error(res, id.error());
      books = app_.catalog().books_of(*id);
    } else {
      books = app_.catalog().books();
    }
    if (!books) return error(res, books.error());
    json out = json::array();
    CatalogResources resources(app_.catalog());
    for (const auto& b : *books) out.push_back(resources.book(b));
    reply(res, 200, out);
  });
}

}  // namespace shelfd

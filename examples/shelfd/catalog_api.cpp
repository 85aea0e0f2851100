// SPDX-License-Identifier: MIT
// Readarr's catalog routes, as far as the library service goes: root folders, authors (add one
// by its foreign id), books, and the (empty) tag list. Adding answers what happened upstream: 404 for an id
// the metadata source does not know, 503 when it is down or not configured, 429 when it limits us, 502 when
// it answers nonsense.
#include <cstdint>

#include <httplib.h>

#include "api.hpp"
#include "app.hpp"
#include "http_util.hpp"
#include "resources.hpp"

namespace shelfd {

using namespace shelfjobs;
using nlohmann::json;

namespace {
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

// The root folder by id, or by path as Readarr's clients send it (the root itself, or the
// author's folder under it). 0: none.
// Errors: invalid_argument when rootFolderId is not a 64-bit whole number.
Result<RowId> root_of(Catalog& catalog, const json& body) {
  if (auto it = body.find("rootFolderId"); it != body.end() && !it->is_null()) {
    const bool fits = it->is_number_integer() &&
                      !(it->is_number_unsigned() && it->get<std::uint64_t>() > std::uint64_t(INT64_MAX));
    if (!fits) return Error{errc::invalid_argument, "rootFolderId " + it->dump() + " is not a 64-bit id"};
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
    auto added =
        app_.catalog().add_root_folder(body["path"].get<std::string>(), body.value("name", std::string()));
    if (!added) return error(res, added.error());
    reply(res, 201, root_resource(*added));
  });
  // shelfd has no tags; Readarr's clients read the list before they add an author.
  s.Get("/api/v1/tag",
        [](const httplib::Request&, httplib::Response& res) { reply(res, 200, json::array()); });

  s.Get("/api/v1/author", [this](const httplib::Request&, httplib::Response& res) {
    auto authors = app_.catalog().authors();
    if (!authors) return error(res, authors.error());
    json out = json::array();
    for (const auto& a : *authors) out.push_back(author_resource(app_.catalog(), a));
    reply(res, 200, out);
  });
  s.Get(R"(/api/v1/author/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto id = route_id(req, "author with id");
    if (!id) return error(res, id.error());
    auto a = app_.catalog().author(*id);
    if (!a) return error(res, a.error());
    reply(res, 200, author_resource(app_.catalog(), *a));
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
    auto added = app_.library().add_author(fid, *root, monitored_of(body));
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
    reply(res, 201, book_resource(*added));
  });
  s.Get("/api/v1/book", [this](const httplib::Request& req, httplib::Response& res) {
    Result<std::vector<Book>> books = std::vector<Book>{};
    if (req.has_param("authorId")) {
      const auto id = query_id(req, "authorId");
      if (!id) return error(res, id.error());
      books = app_.catalog().books_of(*id);
    } else {
      books = app_.catalog().books();
    }
    if (!books) return error(res, books.error());
    json out = json::array();
    for (const auto& b : *books) out.push_back(book_resource(b));
    reply(res, 200, out);
  });
}

}  // namespace shelfd

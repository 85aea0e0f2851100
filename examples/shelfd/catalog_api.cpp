// SPDX-License-Identifier: MIT
// Readarr's catalog routes, as far as the refresh service goes: root folders, authors (add one
// by its foreign id), books.
#include <httplib.h>

#include "api.hpp"
#include "app.hpp"
#include "http_util.hpp"
#include "resources.hpp"

namespace shelfd {

using namespace shelfjobs;
using nlohmann::json;

namespace {
// A foreign id sent as a string or a number.
std::string foreign_id_of(const json& body, const char* key) {
  if (!body.contains(key)) return {};
  if (body[key].is_string()) return body[key].get<std::string>();
  if (body[key].is_number_integer()) return std::to_string(body[key].get<std::int64_t>());
  return {};
}

// The root folder by id, or by path as Readarr's clients send it (the root itself, or the
// author's folder under it). 0: none.
RowId root_of(Catalog& catalog, const json& body) {
  if (body.contains("rootFolderId") && body["rootFolderId"].is_number_integer()) return body["rootFolderId"].get<RowId>();
  if (!body.contains("rootFolderPath") || !body["rootFolderPath"].is_string()) return 0;
  const std::filesystem::path want = body["rootFolderPath"].get<std::string>();
  if (auto roots = catalog.root_folders()) {
    for (const auto& r : *roots) {
      if (r.path == want || r.path == want.parent_path()) return r.id;
    }
  }
  return 0;
}
}  // namespace

void ApiServer::catalog_routes() {
  auto& s = *server_;
  s.Get("/api/v1/rootfolder", [this](const httplib::Request&, httplib::Response& res) {
    auto roots = app_.catalog().root_folders();
    if (!roots) return error(res, 500, roots.error().message, to_string(roots.error().code));
    json out = json::array();
    for (const auto& r : *roots) out.push_back(root_resource(r));
    reply(res, 200, out);
  });
  s.Post("/api/v1/rootfolder", [this](const httplib::Request& req, httplib::Response& res) {
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("path") || !body["path"].is_string())
      return error(res, 400, "the body needs \"path\": an absolute folder", "invalid_body");
    auto added = app_.catalog().add_root_folder(body["path"].get<std::string>(), body.value("name", std::string()));
    if (!added) return error(res, added.error());
    reply(res, 201, root_resource(*added));
  });
  s.Get("/api/v1/author", [this](const httplib::Request&, httplib::Response& res) {
    auto authors = app_.catalog().authors();
    if (!authors) return error(res, 500, authors.error().message, to_string(authors.error().code));
    json out = json::array();
    for (const auto& a : *authors) out.push_back(author_resource(app_.catalog(), a));
    reply(res, 200, out);
  });
  s.Get(R"(/api/v1/author/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto id = route_id(req);
    auto a = id ? app_.catalog().author(*id) : Result<Author>(Error{errc::not_found, "no such author"});
    if (!a) return error(res, a.error());
    reply(res, 200, author_resource(app_.catalog(), *a));
  });
  s.Post("/api/v1/author", [this](const httplib::Request& req, httplib::Response& res) {
    if (!app_.refresh()) return error(res, 503, "no metadata source is configured (metadata.baseUrl)", "unavailable");
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object()) return error(res, 400, "the body must be a JSON object", "invalid_body");
    const std::string fid = foreign_id_of(body, "foreignAuthorId");
    if (fid.empty()) return error(res, 400, "the body needs \"foreignAuthorId\"", "invalid_body");
    const RowId root = root_of(app_.catalog(), body);
    if (root == 0) return error(res, 400, "the body needs \"rootFolderPath\" (a configured root folder) or \"rootFolderId\"", "invalid_body");
    auto added = app_.refresh()->add_author(fid, root, body.value("monitored", true));
    if (!added) return error(res, added.error());
    reply(res, 201, author_resource(app_.catalog(), *added));
  });
  s.Post("/api/v1/book", [this](const httplib::Request& req, httplib::Response& res) {
    if (!app_.refresh()) return error(res, 503, "no metadata source is configured (metadata.baseUrl)", "unavailable");
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object()) return error(res, 400, "the body must be a JSON object", "invalid_body");
    const std::string fid = foreign_id_of(body, "foreignBookId");
    if (fid.empty()) return error(res, 400, "the body needs \"foreignBookId\" (the work's id)", "invalid_body");
    // The root folder matters only when the book's author is new to the catalog.
    auto added = app_.refresh()->add_book(fid, root_of(app_.catalog(), body), body.value("monitored", true));
    if (!added) return error(res, added.error());
    reply(res, 201, book_resource(*added));
  });
  s.Get("/api/v1/book", [this](const httplib::Request& req, httplib::Response& res) {
    Result<std::vector<Book>> books = std::vector<Book>{};
    if (req.has_param("authorId")) {
      RowId id = 0;
      try {
        id = std::stoll(req.get_param_value("authorId"));
      } catch (const std::exception&) {
        return error(res, 400, "authorId must be a number", "invalid_argument");
      }
      books = app_.catalog().books_of(id);
    } else {
      books = app_.catalog().books();
    }
    if (!books) return error(res, 500, books.error().message, to_string(books.error().code));
    json out = json::array();
    for (const auto& b : *books) out.push_back(book_resource(b));
    reply(res, 200, out);
  });
}

}  // namespace shelfd

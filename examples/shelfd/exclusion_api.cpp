// SPDX-License-Identifier: MIT
// Readarr's book removal and its import list exclusions: DELETE /api/v1/book/{id} and the book
// editor's DELETE (with deleteFiles and addImportListExclusion), and /api/v1/importlistexclusion,
// the list of foreign ids a refresh must not bring back (it looks them up among new works). A removed book
// that is not excluded comes back with its author's next refresh, as in Readarr.
#include <string>
#include <vector>

#include <httplib.h>

#include "api.hpp"
#include "app.hpp"
#include "http_util.hpp"

namespace shelfd {

using namespace shelfjobs;
using nlohmann::json;

namespace {
// Readarr's ImportListExclusionResource.
json exclusion_resource(const Exclusion& e) {
  return {{"id", e.id}, {"foreignId", e.foreign_id}, {"authorName", e.name}};
}

// The exclusion a POST or PUT body describes. Errors: invalid_body.
Result<Exclusion> exclusion_of(const json& body) {
  Exclusion e;
  auto fid = body.find("foreignId");
  if (fid == body.end() || !fid->is_string() || fid->get<std::string>().empty())
    return Error{errc::invalid_body, "the body needs \"foreignId\", the work's or author's foreign id"};
  e.foreign_id = fid->get<std::string>();
  // Readarr requires both.
  auto name = body.find("authorName");
  if (name == body.end() || !name->is_string() || name->get<std::string>().empty())
    return Error{errc::invalid_body, "the body needs \"authorName\", what the foreign id is"};
  e.name = name->get<std::string>();
  return e;
}
}  // namespace

void ApiServer::exclusion_routes() {
  auto& s = *server_;
  s.Delete(R"(/api/v1/book/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto id = route_id(req, "book with id");
    if (!id) return error(res, id.error());
    const auto flags = removal_flags(req);
    if (!flags) return error(res, flags.error());
    if (auto removed =
            app_.library().remove_book(*id, flags->delete_files, app_.config().recycle_bin, flags->exclude);
        !removed)
      return error(res, removed.error());
    reply(res, 200, json::object());
  });
  // {"bookIds": [...], "deleteFiles": bool, "addImportListExclusion": bool}: every book and file
  // is checked before any book goes (LibraryService::remove_books), so a bad one removes nothing.
  s.Delete("/api/v1/book/editor", [this](const httplib::Request& req, httplib::Response& res) {
    auto parsed = json_body(req);
    if (!parsed) return error(res, parsed.error());
    auto ids = body_ids(*parsed, "bookIds");
    if (!ids) return error(res, ids.error());
    unique_in_order(*ids);
    const auto flags = removal_flags(*parsed);
    if (!flags) return error(res, flags.error());
    auto removed =
        app_.library().remove_books(*ids, flags->delete_files, app_.config().recycle_bin, flags->exclude);
    if (!removed) return error(res, removed.error());
    reply(res, 200, json::object());
  });

  s.Get("/api/v1/importlistexclusion", [this](const httplib::Request&, httplib::Response& res) {
    auto list = app_.catalog().exclusions();
    if (!list) return error(res, list.error());
    json out = json::array();
    for (const Exclusion& e : *list) out.push_back(exclusion_resource(e));
    reply(res, 200, out);
  });
  s.Get(R"(/api/v1/importlistexclusion/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto id = route_id(req, "exclusion with id");
    if (!id) return error(res, id.error());
    auto e = app_.catalog().exclusion(*id);
    if (!e) return error(res, e.error());
    reply(res, 200, exclusion_resource(*e));
  });
  s.Post("/api/v1/importlistexclusion", [this](const httplib::Request& req, httplib::Response& res) {
    auto parsed = json_body(req);
    if (!parsed) return error(res, parsed.error());
    auto e = exclusion_of(*parsed);
    if (!e) return error(res, e.error());
    auto added = app_.catalog().add_exclusion(std::move(*e));
    if (!added) return error(res, added.error());
    reply(res, 201, exclusion_resource(*added));
  });
  s.Put(R"(/api/v1/importlistexclusion/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto id = route_id(req, "exclusion with id");
    if (!id) return error(res, id.error());
    auto parsed = json_body(req);
    if (!parsed) return error(res, parsed.error());
    auto e = exclusion_of(*parsed);
    if (!e) return error(res, e.error());
    e->id = *id;
    // Readarr's resource does not say what the id names: the stored kind stays.
    auto stored = app_.catalog().exclusion(*id);
    if (!stored) return error(res, stored.error());
    e->kind = stored->kind;
    auto updated = app_.catalog().update_exclusion(std::move(*e));
    if (!updated) return error(res, updated.error());
    reply(res, 202, exclusion_resource(*updated));
  });
  s.Delete(R"(/api/v1/importlistexclusion/(\d+))",
           [this](const httplib::Request& req, httplib::Response& res) {
             const auto id = route_id(req, "exclusion with id");
             if (!id) return error(res, id.error());
             if (auto removed = app_.catalog().remove_exclusion(*id); !removed)
               return error(res, removed.error());
             reply(res, 200, json::object());
           });
}

}  // namespace shelfd

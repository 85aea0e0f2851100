// SPDX-License-Identifier: MIT
// Readarr's log routes: the log table (paged, sorted, filtered by level), the log files and one
// file's text; and the housekeeping report. ClearLog and DeleteLogFiles are commands
// (builtin.cpp) and go through /api/v1/command like every other.
//
// A file name comes from the client, so it is checked before it touches the disk: a name with
// "/" or "\", "." or "..", or one that is not one of the listed log files is refused (400 for a
// name that can never be a log file, 404 for one that is not there) and never joined to a
// path that was not listed.
#include <cctype>
#include <fstream>
#include <sstream>

#include <httplib.h>

#include "api.hpp"
#include "app.hpp"
#include "builtin.hpp"
#include "http_util.hpp"

namespace shelfd {

using namespace shelfjobs;
using nlohmann::json;

namespace {

json log_row_json(const LogRow& r) {
  json j = {{"id", r.id},
            {"time", format_time(r.time)},
            {"level", r.level},
            {"logger", r.logger},
            {"message", r.message}};
  j["exception"] = r.exception.empty() ? json(nullptr) : json(r.exception);
  j["exceptionType"] = r.exception_type.empty() ? json(nullptr) : json(r.exception_type);
  return j;
}

std::string log_lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The file's mtime as a system time.
TimePoint log_file_time(const std::filesystem::path& p) {
  std::error_code ec;
  const auto t = std::filesystem::last_write_time(p, ec);
  if (ec) return {};
  return std::chrono::time_point_cast<TimePoint::duration>(std::chrono::file_clock::to_sys(t));
}

}  // namespace

void ApiServer::log_routes() {
  auto& s = *server_;

  // Warnings and errors reach the dashboard as they are written ("log" messages).
  app_.log_sink().set_listener([this](const LogRow& r) { hub_.publish("log", log_row_json(r).dump()); });

  // GET /api/v1/log?page=1&pageSize=50&sortKey=time&sortDirection=descending&level=warn
  // (also Readarr's filterKey=level&filterValue=warn): this level and the ones above it.
  s.Get("/api/v1/log", [this](const httplib::Request& req, httplib::Response& res) {
    auto p = paging(req, 50);
    if (!p) return error(res, p.error());
    LogQuery q;
    q.page = p->first;
    q.page_size = p->second;
    if (req.has_param("sortKey")) {
      const std::string key = log_lower(req.get_param_value("sortKey"));
      if (key == "id")
        q.by_id = true;
      else if (key != "time")
        return error(res, 400, "sortKey must be time or id (got '" + req.get_param_value("sortKey") + "')",
                     "invalid_argument");
    }
    if (req.has_param("sortDirection")) {
      const std::string dir = log_lower(req.get_param_value("sortDirection"));
      if (dir == "ascending" || dir == "asc")
        q.ascending = true;
      else if (dir != "descending" && dir != "desc" && dir != "default")
        return error(res, 400, "sortDirection must be ascending or descending", "invalid_argument");
    }
    if (req.has_param("level")) q.min_level = log_lower(req.get_param_value("level"));
    if (req.has_param("filterKey")) {
      if (log_lower(req.get_param_value("filterKey")) != "level")
        return error(res, 400, "filterKey must be level", "invalid_argument");
      q.min_level = log_lower(req.get_param_value("filterValue"));
    }
    if (q.min_level == "all") q.min_level.clear();
    auto page = app_.log_table().page(q);
    if (!page) return error(res, page.error());
    json records = json::array();
    for (const auto& r : page->records) records.push_back(log_row_json(r));
    reply(res, 200,
          {{"page", q.page},
           {"pageSize", q.page_size},
           {"sortKey", q.by_id ? "id" : "time"},
           {"sortDirection", q.ascending ? "ascending" : "descending"},
           {"totalRecords", page->total},
           {"records", std::move(records)}});
  });

  s.Get("/api/v1/log/file", [this](const httplib::Request&, httplib::Response& res) {
    json out = json::array();
    int id = 1;
    for (const auto& f : shelfd_log_files(app_.config().data_folder)) {
      const std::string name = f.filename().string();
      out.push_back({{"id", id++},
                     {"filename", name},
                     {"lastWriteTime", format_time(log_file_time(f))},
                     {"contentsUrl", "/api/v1/log/file/" + name},
                     {"downloadUrl", "/api/v1/log/file/" + name + "?download=true"}});
    }
    reply(res, 200, out);
  });

  s.Get(R"(/api/v1/log/file/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    if (name == "." || name == ".." || name.find_first_of("/\\") != std::string::npos ||
        name.find('\0') != std::string::npos)
      return error(res, 400, "not a log file name: " + name, "invalid_argument");
    // Only a file the listing shows is served: the name is compared, never trusted as a path.
    std::optional<std::filesystem::path> found;
    for (const auto& f : shelfd_log_files(app_.config().data_folder))
      if (f.filename().string() == name) found = f;
    if (!found) return error(res, 404, "no log file " + name, "not_found");
    std::ifstream in(*found, std::ios::binary);
    if (!in) return error(res, 404, "log file " + name + " is gone", "not_found");
    std::ostringstream text;
    text << in.rdbuf();
    if (req.has_param("download"))
      res.set_header("Content-Disposition", "attachment; filename=\"" + name + "\"");
    res.status = 200;
    res.set_content(text.str(), "text/plain; charset=utf-8");
  });

  // The latest housekeeping report ({} before the first run); HousekeepingCompleted on the
  // stream keeps the dashboard current.
  s.Get("/api/v1/system/housekeeping", [this](const httplib::Request&, httplib::Response& res) {
    const auto last = app_.housekeeping().last_report();
    reply(res, 200, last ? json(*last) : json::object());
  });
}

}  // namespace shelfd

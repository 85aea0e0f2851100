// SPDX-License-Identifier: MIT
// Readarr's system routes (status, health) and the engine's figures (jobs, figures).
#include <sys/stat.h>
#include <sys/utsname.h>

#include <filesystem>
#include <set>
#include <system_error>
#include <vector>

#include <httplib.h>
#include <sqlite3.h>

#include "api.hpp"
#include "app.hpp"
#include "http_util.hpp"
#include "resources.hpp"

namespace shelfd {

using namespace shelfjobs;
using nlohmann::json;

// Status, health, and the engine's figures.
void ApiServer::system_routes() {
  auto& s = *server_;
  // Readarr's /ping, for health checks of containers and monitors: no key needed (only /api/
  // and /metrics ask for it), GET or HEAD. It reads the catalog as Readarr reads its config
  // table: 200 {"status": "OK"}, or 503 {"status": "Error"} when the catalog cannot be read
  // (Readarr answers 500 there; shelfd keeps 500 for its own bugs).
  s.Get("/ping", [this](const httplib::Request&, httplib::Response& res) {
    const bool readable = app_.catalog().root_folders().has_value();
    reply(res, readable ? 200 : 503, {{"status", readable ? "OK" : "Error"}});
  });
  // Readarr's API versions (no key needed, as there).
  s.Get("/api", [](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, {{"current", "v1"}, {"deprecated", json::array()}});
  });
  s.Get("/api/v1/system/status", [this](const httplib::Request&, httplib::Response& res) {
    utsname u{};
    uname(&u);
    const auto& c = app_.config();
    reply(res, 200,
          {{"appName", "shelfd"},
           {"instanceName", "shelfd"},
           {"version", kVersion},
           {"buildTime", nullptr},
           {"isDebug", false},
           {"isProduction", true},
           {"isAdmin", false},
           {"isUserInteractive", false},
           {"startupPath", c.file.parent_path().string()},
           {"appData", c.data_folder.string()},
           {"osName", u.sysname},
           {"osVersion", u.release},
           {"isNetCore", false},
           {"isLinux", true},
           {"isOsx", false},
           {"isWindows", false},
           {"isDocker", false},
           {"mode", "console"},
           {"branch", "main"},
           {"authentication", "none"},
           // The job store's database (the catalog stays in SQLite either way).
           {"databaseType", is_postgres_url(c.database.string()) ? "postgreSQL" : "sqLite"},
           {"databaseVersion", is_postgres_url(c.database.string()) ? "" : sqlite3_libversion()},
           {"migrationVersion", 3},
           {"urlBase", ""},
           {"runtimeName", "shelfjobs"},
           {"runtimeVersion", kVersion},
           {"startTime", format_time(app_.started_at())},
           {"packageUpdateMechanism", "external"}});
  });

  // Readarr's host settings, as its clients read them, from shelfd's configuration file (which
  // is where they change: the API does not write it, so PUT answers 405 naming the file).
  s.Get("/api/v1/config/host", [this](const httplib::Request&, httplib::Response& res) {
    const auto& c = app_.config();
    reply(res, 200,
          {{"id", 1},
           {"bindAddress", c.bind_address},
           {"port", c.port},
           {"sslPort", 0},
           {"enableSsl", false},
           {"launchBrowser", false},
           {"authenticationMethod", "none"},
           {"analyticsEnabled", false},
           {"logLevel", c.log_level},
           {"consoleLogLevel", c.log_level},
           {"branch", "main"},
           {"apiKey", c.api_key},
           {"urlBase", ""},
           {"instanceName", "shelfd"},
           {"updateAutomatically", false},
           {"updateMechanism", "external"},
           {"proxyEnabled", false},
           {"certificateValidation", "enabled"},
           {"backupFolder", c.backup.folder.string()},
           {"backupRetention", std::chrono::duration_cast<std::chrono::days>(c.backup.retention).count()}});
  });
  s.Put("/api/v1/config/host", [this](const httplib::Request&, httplib::Response& res) {
    error(res, 405,
          "shelfd's settings are its configuration file, " + app_.config().file.string() +
              "; edit it and restart shelfd",
          "method_not_allowed");
  });

  // Readarr's disk space: each file system that holds a library folder or the data folder,
  // once (by device), with the first such folder's path.
  s.Get("/api/v1/diskspace", [this](const httplib::Request&, httplib::Response& res) {
    std::vector<std::filesystem::path> folders{app_.config().data_folder};
    if (auto roots = app_.catalog().root_folders())
      for (const auto& r : *roots) folders.push_back(r.path);
    std::set<dev_t> seen;
    json out = json::array();
    for (const auto& folder : folders) {
      struct stat st {};
      std::error_code ec;
      const auto space = std::filesystem::space(folder, ec);
      if (ec || ::stat(folder.c_str(), &st) != 0 || !seen.insert(st.st_dev).second) continue;
      out.push_back({{"path", folder.string()},
                     {"label", ""},
                     {"freeSpace", space.available},
                     {"totalSpace", space.capacity}});
    }
    reply(res, 200, out);
  });
  // Readarr's available updates: none; shelfd is updated with the system's packages.
  s.Get("/api/v1/update",
        [](const httplib::Request&, httplib::Response& res) { reply(res, 200, json::array()); });

  s.Get("/api/v1/health", [this](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, health_items(app_.engine().health().alerts, app_.host().context().last_health()));
  });

  s.Get("/api/v1/system/jobs", [this](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, to_json(app_.engine().health()));
  });

  // The snapshot with the health window's per-minute series: what the dashboard's charts start
  // from before the stream's "minute" messages keep them current.
  s.Get("/api/v1/system/figures", [this](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, to_json(app_.engine().health(true)));
  });
}

}  // namespace shelfd

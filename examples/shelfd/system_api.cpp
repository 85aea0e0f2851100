// SPDX-License-Identifier: MIT
// Readarr's system routes (status, health) and the engine's figures (jobs, figures).
#include <sys/utsname.h>

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

// SPDX-License-Identifier: MIT
#include "api.hpp"

#include <sys/utsname.h>

#include <cstdlib>

#include <httplib.h>
#include <sqlite3.h>

#include "app.hpp"
#include "http_util.hpp"
#include "metrics.hpp"
#include "resources.hpp"

#ifndef SHELFD_WEB_DIR
#define SHELFD_WEB_DIR "web"
#endif

namespace shelfd {

using namespace shelfjobs;
using nlohmann::json;

namespace {
// Fields of Readarr's base command that clients send along; they are not the command's own.
const char* const kBaseFields[] = {"name", "trigger", "sendUpdatesToClient", "updateScheduledTask",
                                   "completionMessage", "requiresDiskAccess", "isExclusive",
                                   "isTypeExclusive", "isLongRunning", "lastExecutionTime",
                                   "lastStartTime", "suppressMessages", "clientUserAgent",
                                   "priority", "commandName"};

bool equal_constant_time(const std::string& a, const std::string& b) {
  // Compare every byte whatever the content, so timing does not tell how much of a key matched.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}
}  // namespace

ApiServer::ApiServer(App& app)
    : app_(app), server_(std::make_unique<httplib::Server>()), forwarder_(app.engine(), hub_) {
  // SSE clients hold a thread each for as long as they listen.
  server_->new_task_queue = [] { return new httplib::ThreadPool(16); };
  // SO_REUSEADDR only: cpp-httplib also sets SO_REUSEPORT by default, which would let a second
  // shelfd bind the same port and take half the connections.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  routes();
}

ApiServer::~ApiServer() { stop(); }

Status ApiServer::bind(const std::string& address, int port) {
  if (port == 0) {
    port_ = server_->bind_to_any_port(address);
    if (port_ < 0) return Error{errc::invalid_argument, "cannot bind " + address};
  } else {
    if (!server_->bind_to_port(address, port))
      return Error{errc::invalid_argument, "cannot bind " + address + ":" + std::to_string(port) +
                                               " (in use, or not an address of this machine)"};
    port_ = port;
  }
  return Ok{};
}

void ApiServer::start() {
  forwarder_.start();
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

void ApiServer::stop() {
  if (stopping_.exchange(true)) return;
  forwarder_.stop();
  hub_.close();
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void ApiServer::routes() {
  auto& s = *server_;
  // Every route but the dashboard's static files needs the key.
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    const bool protected_path = req.path.rfind("/api/", 0) == 0 || req.path == "/metrics";
    if (!protected_path) return httplib::Server::HandlerResponse::Unhandled;
    std::string key = req.get_header_value("X-Api-Key");
    for (const char* param : {"apikey", "apiKey"}) {
      if (key.empty() && req.has_param(param)) key = req.get_param_value(param);
    }
    if (key.empty() || !equal_constant_time(key, app_.config().api_key)) {
      error(res, 401, "missing or wrong API key (X-Api-Key header or apikey parameter)");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  command_routes();
  catalog_routes();
  system_routes();

  const char* web = std::getenv("SHELFD_WEB_DIR");
  s.set_mount_point("/", web && *web ? web : SHELFD_WEB_DIR);
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404 && res.body.empty()) error(res, 404, "no route " + req.method + " " + req.path);
  });
}

// Readarr's command routes: list, read, push (or run a task now), cancel.
void ApiServer::command_routes() {
  auto& s = *server_;
  s.Get("/api/v1/command", [this](const httplib::Request&, httplib::Response& res) {
    auto& e = app_.engine();
    json out = json::array();
    auto active = e.list({.statuses = {JobStatus::executing, JobStatus::queued}, .limit = 1000});
    auto done = e.list({.statuses = {JobStatus::completed, JobStatus::failed, JobStatus::cancelled},
                        .limit = 100});
    if (!active || !done) return error(res, 500, "cannot read jobs");
    for (const auto& j : active->jobs) out.push_back(command_resource(j));
    for (const auto& j : done->jobs) out.push_back(command_resource(j));
    reply(res, 200, out);
  });

  s.Get(R"(/api/v1/command/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto id = route_id(req, "command with id");
    if (!id) return error(res, id.error());
    auto job = app_.engine().get(*id);
    if (!job) return error(res, 404, "no command with id " + std::to_string(*id), "not_found");
    reply(res, 200, command_resource(*job));
  });

  s.Delete(R"(/api/v1/command/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto id = route_id(req, "command with id");
    if (!id) return error(res, id.error());
    auto r = app_.engine().cancel(*id);
    if (!r) return error(res, r.error());
    reply(res, 200, command_resource(*r));
  });

  s.Post("/api/v1/command", [this](const httplib::Request& req, httplib::Response& res) {
    auto parsed = json_body(req);
    if (!parsed) return error(res, parsed.error());
    json& body = *parsed;
    const auto name_field = body.find("name");
    if (name_field == body.end() || !name_field->is_string() || name_field->get_ref<const std::string&>().empty())
      return error(res, 400, "the body needs \"name\": the command's name", "invalid_body");
    std::string name = name_field->get<std::string>();
    for (const char* f : kBaseFields) body.erase(f);
    // One engine call: a task's bare name (case-insensitive, as in Readarr) runs that task now
    // (Readarr's "run now" posts the task's command name); with arguments ({"name": "RefreshAuthor", "authorId": 5}) or for
    // any other name it is a command of its own.
    auto r = app_.engine().push_or_run_task(name, body, {.trigger = Trigger::manual});
    if (!r) return error(res, r.error());
    reply(res, 201, command_resource(r->job));
  });
}

// Tasks, status, health, the engine's figures, metrics and the event stream.
void ApiServer::system_routes() {
  auto& s = *server_;
  s.Get("/api/v1/system/task", [this](const httplib::Request&, httplib::Response& res) {
    const auto tasks = app_.engine().tasks();
    json out = json::array();
    for (std::size_t i = 0; i < tasks.size(); ++i) out.push_back(task_resource(tasks[i], static_cast<int>(i) + 1));
    reply(res, 200, out);
  });

  s.Get(R"(/api/v1/system/task/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto parsed = route_id(req, "task with id");
    if (!parsed) return error(res, parsed.error());
    const long long id = *parsed;
    const auto tasks = app_.engine().tasks();
    if (id < 1 || id > static_cast<long long>(tasks.size()))
      return error(res, 404, "no task with id " + std::to_string(id), "not_found");
    reply(res, 200, task_resource(tasks[static_cast<std::size_t>(id - 1)], static_cast<int>(id)));
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
           {"databaseType", "sqLite"},
           {"databaseVersion", sqlite3_libversion()},
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

  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(app_.engine().health()), "text/plain; version=0.0.4");
  });

  s.Get("/api/v1/events", [this](const httplib::Request&, httplib::Response& res) {
    auto cursor = std::make_shared<std::uint64_t>(hub_.cursor());
    auto first = std::make_shared<bool>(true);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream", [this, cursor, first](std::size_t, httplib::DataSink& sink) {
          std::string out;
          if (*first) {
            // Tell the client to refetch its lists: events before this moment are not replayed.
            out = "retry: 2000\nevent: hello\ndata: {}\n\n";
            *first = false;
          } else if (!hub_.next(cursor.get(), &out, std::chrono::seconds(15))) {
            sink.done();
            return false;
          }
          if (out.empty()) out = ": ping\n\n";
          return sink.write(out.data(), out.size());
        });
  });
}

}  // namespace shelfd

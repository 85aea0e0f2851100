// SPDX-License-Identifier: MIT
// Readarr's command and task routes: list, read, push (or run a task now), cancel; the task list.
#include <httplib.h>

#include "api.hpp"
#include "app.hpp"
#include "http_util.hpp"
#include "resources.hpp"

namespace shelfd {

using namespace shelfjobs;
using nlohmann::json;

namespace {
// Fields of Readarr's base command that clients send along; they are not the command's own.
const char* const kBaseFields[] = {"name",
                                   "trigger",
                                   "sendUpdatesToClient",
                                   "updateScheduledTask",
                                   "completionMessage",
                                   "requiresDiskAccess",
                                   "isExclusive",
                                   "isTypeExclusive",
                                   "isLongRunning",
                                   "lastExecutionTime",
                                   "lastStartTime",
                                   "suppressMessages",
                                   "clientUserAgent",
                                   "priority",
                                   "commandName"};
}  // namespace

// Readarr's command routes: list, read, push (or run a task now), cancel.
void ApiServer::command_routes() {
  auto& s = *server_;
  s.Get("/api/v1/command", [this](const httplib::Request&, httplib::Response& res) {
    auto& e = app_.engine();
    json out = json::array();
    auto active = e.list({.statuses = {JobStatus::executing, JobStatus::queued}, .limit = 1000});
    auto done =
        e.list({.statuses = {JobStatus::completed, JobStatus::failed, JobStatus::cancelled}, .limit = 100});
    // The store did not answer (its database server is down): 503, as any store error.
    if (!active) return error(res, active.error());
    if (!done) return error(res, done.error());
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
    if (name_field == body.end() || !name_field->is_string() ||
        name_field->get_ref<const std::string&>().empty())
      return error(res, 400, "the body needs \"name\": the command's name", "invalid_body");
    std::string name = name_field->get<std::string>();
    for (const char* f : kBaseFields) body.erase(f);
    // One engine call: a task's bare name (case-insensitive, as in Readarr) runs that task now
    // (Readarr's "run now" posts the task's command name); with arguments ({"name": "RefreshAuthor",
    // "authorId": 5}) or for any other name it is a command of its own.
    auto r = app_.engine().push_or_run_task(name, body, {.trigger = Trigger::manual});
    if (!r) return error(res, r.error());
    reply(res, 201, command_resource(r->job));
  });
}

// Readarr's task routes: the scheduled tasks and one by its position.
void ApiServer::task_routes() {
  auto& s = *server_;
  s.Get("/api/v1/system/task", [this](const httplib::Request&, httplib::Response& res) {
    const auto tasks = app_.engine().tasks();
    json out = json::array();
    for (std::size_t i = 0; i < tasks.size(); ++i)
      out.push_back(task_resource(tasks[i], static_cast<int>(i) + 1));
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
}

}  // namespace shelfd

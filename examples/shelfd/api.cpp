// SPDX-License-Identifier: MIT
#include "api.hpp"

#include <sys/utsname.h>

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <sstream>

#include <httplib.h>
#include <sqlite3.h>

#include "app.hpp"

#ifndef SHELFD_WEB_DIR
#define SHELFD_WEB_DIR "web"
#endif

namespace shelfd {

using namespace shelfjobs;
using nlohmann::json;

// ---------------------------------------------------------------- resources

std::string spaced(const std::string& name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (i > 0 && std::isupper(static_cast<unsigned char>(c)) &&
        !std::isupper(static_cast<unsigned char>(name[i - 1]))) {
      out += ' ';
    }
    out += c;
  }
  return out;
}

std::string readarr_duration(std::chrono::milliseconds d) {
  // .NET's TimeSpan text: "hh:mm:ss.fffffff", with "d." in front from one day on.
  const auto ms = static_cast<long long>(d.count());
  const long long days = ms / 86400000;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld.%07lld", ms / 3600000 % 24, ms / 60000 % 60,
                ms / 1000 % 60, ms % 1000 * 10000);
  return days > 0 ? std::to_string(days) + "." + buf : std::string(buf);
}

namespace {
const char* wire_status(JobStatus s) {
  switch (s) {
    case JobStatus::queued: return "queued";
    case JobStatus::executing: return "started";  // Readarr's name for it
    case JobStatus::completed: return "completed";
    case JobStatus::failed: return "failed";
    case JobStatus::cancelled: return "cancelled";
  }
  return "queued";
}

json opt_time(const std::optional<TimePoint>& t) {
  return t ? json(format_time(*t)) : json(nullptr);
}

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

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void error(httplib::Response& res, int status, const std::string& message,
           const std::string& code = {}) {
  json body = {{"message", message}};
  if (!code.empty()) body["error"] = code;
  reply(res, status, body);
}

json health_items(const HealthSnapshot& h);

// The id in a route; nullopt when it does not fit (the caller answers 404).
std::optional<long long> route_id(const httplib::Request& req) {
  long long id = 0;
  const std::string& s = req.matches[1];
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return id;
}

bool iequal(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

int http_status(errc code) {
  switch (code) {
    case errc::not_found: return 404;
    case errc::not_cancellable: return 409;
    case errc::conflict: return 409;
    case errc::shutting_down: return 503;
    case errc::store_error: return 500;
    default: return 400;
  }
}
}  // namespace

json command_resource(const JobInfo& j) {
  json body = j.body.is_object() ? j.body : json::object();
  body["name"] = j.name;
  body["trigger"] = j.trigger == Trigger::event ? "unspecified" : std::string(to_string(j.trigger));
  body["sendUpdatesToClient"] = true;
  body["updateScheduledTask"] = !j.task.empty();
  body["completionMessage"] = "Completed";
  TimePoint changed = j.queued_at;
  if (j.started_at) changed = *j.started_at;
  if (j.ended_at) changed = *j.ended_at;
  json r = {
      {"id", j.id},
      {"name", j.name},
      {"commandName", spaced(j.name)},
      {"message", j.message.empty() ? j.progress.message : j.message},
      {"body", body},
      // Readarr knows low, normal and high; a Critical job shows as high, with its real
      // priority in priorityName.
      {"priority", j.priority == Priority::critical ? "high" : std::string(to_string(j.priority))},
      {"priorityName", to_string(j.priority)},
      {"status", wire_status(j.status)},
      {"result", j.status == JobStatus::completed ? "successful"
                 : j.status == JobStatus::failed  ? "unsuccessful"
                                                  : "unknown"},
      {"queued", format_time(j.queued_at)},
      {"trigger", j.trigger == Trigger::event ? "unspecified" : std::string(to_string(j.trigger))},
      {"stateChangeTime", format_time(changed)},
      {"sendUpdatesToClient", true},
      {"updateScheduledTask", !j.task.empty()},
      {"lastExecutionTime", nullptr},
      {"progress",
       {{"current", j.progress.current}, {"total", j.progress.total}, {"message", j.progress.message}}},
      {"attempt", j.attempt},
      {"maxAttempts", j.max_attempts},
  };
  if (j.started_at) r["started"] = format_time(*j.started_at);
  if (j.ended_at) {
    r["ended"] = format_time(*j.ended_at);
    r["duration"] = readarr_duration(j.duration);
  }
  if (!j.error.empty()) r["exception"] = j.error;
  if (j.error_kind != ErrorKind::none) r["errorKind"] = to_string(j.error_kind);
  if (!j.event.empty()) r["event"] = j.event;
  if (!j.task.empty()) r["taskName"] = j.task;
  if (j.not_before) r["notBefore"] = format_time(*j.not_before);
  return r;
}

json task_resource(const TaskInfo& t, int id) {
  json r = {
      {"id", id},
      {"name", spaced(t.name)},
      {"taskName", t.name},
      {"interval", std::chrono::duration_cast<std::chrono::minutes>(t.interval).count()},
      {"lastExecution", opt_time(t.last_finish)},
      {"lastStartTime", opt_time(t.last_start)},
      {"nextExecution", opt_time(t.next_due)},
      {"lastDuration", t.last_duration ? json(readarr_duration(*t.last_duration)) : json(nullptr)},
      {"running", t.running},
      {"lastStatus", t.last_status ? json(to_string(*t.last_status)) : json(nullptr)},
      {"lastMessage", t.last_message},
  };
  return r;
}

// ---------------------------------------------------------------- events

void EventHub::publish(const std::string& event, const std::string& data) {
  {
    std::lock_guard lock(mu_);
    recent_.emplace_back(next_seq_++, "event: " + event + "\ndata: " + data + "\n\n");
    if (recent_.size() > 1000) recent_.pop_front();
  }
  cv_.notify_all();
}

std::uint64_t EventHub::cursor() const {
  std::lock_guard lock(mu_);
  return next_seq_ - 1;
}

bool EventHub::next(std::uint64_t* cursor, std::string* out, std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, wait, [&] { return closed_ || next_seq_ - 1 > *cursor; });
  if (closed_) return false;
  for (const auto& [seq, text] : recent_) {
    if (seq > *cursor) {
      *out += text;
      *cursor = seq;
    }
  }
  return true;
}

void EventHub::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

// ---------------------------------------------------------------- server

ApiServer::ApiServer(App& app) : app_(app), server_(std::make_unique<httplib::Server>()) {
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
  observer_ = app_.engine().subscribe(on_event<JobEvent>([this](const JobEvent& ev) {
    hub_.publish("command", command_resource(ev.job.info()).dump());
  }));
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  watcher_ = std::thread([this] {
    // Tasks and alerts change without a job event of their own (a due time moves, an alert
    // clears): compare every second and publish what changed.
    std::string last_tasks, last_health;
    while (!stopping_) {
      const auto tasks = app_.engine().tasks();
      json task_list = json::array();
      for (std::size_t i = 0; i < tasks.size(); ++i)
        task_list.push_back(task_resource(tasks[i], static_cast<int>(i) + 1));
      const std::string t = task_list.dump();
      if (t != last_tasks) {
        for (const auto& task : task_list) hub_.publish("task", task.dump());
        last_tasks = t;
      }
      const std::string h = health_items(app_.engine().health()).dump();
      if (h != last_health) {
        hub_.publish("health", h);
        last_health = h;
      }
      for (int i = 0; i < 10 && !stopping_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
}

void ApiServer::stop() {
  if (stopping_.exchange(true)) return;
  if (observer_) app_.engine().unsubscribe(observer_);
  hub_.close();
  server_->stop();
  if (thread_.joinable()) thread_.join();
  if (watcher_.joinable()) watcher_.join();
}

namespace {
json health_items(const HealthSnapshot& h) {
  json out = json::array();
  for (const auto& a : h.alerts) {
    const bool severe = a.rule == "job_failed" || a.rule == "store_errors" || a.rule == "disk_space";
    out.push_back({{"source", a.rule},
                   {"type", severe ? "error" : "warning"},
                   {"message", a.message},
                   {"wikiUrl", ""}});
  }
  return out;
}

std::string metrics_text(const HealthSnapshot& h) {
  std::ostringstream m;
  auto label = [](const std::string& v) {
    std::string out;
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out;
  };
  m << "# HELP shelfjobs_jobs_total Jobs that ended, by command type and status.\n"
       "# TYPE shelfjobs_jobs_total counter\n";
  for (const auto& t : h.types) {
    m << "shelfjobs_jobs_total{type=\"" << label(t.name) << "\",status=\"completed\"} " << t.completed << "\n";
    m << "shelfjobs_jobs_total{type=\"" << label(t.name) << "\",status=\"failed\"} " << t.failed << "\n";
    m << "shelfjobs_jobs_total{type=\"" << label(t.name) << "\",status=\"cancelled\"} " << t.cancelled << "\n";
  }
  m << "# HELP shelfjobs_jobs_running Jobs running now, by command type.\n"
       "# TYPE shelfjobs_jobs_running gauge\n";
  for (const auto& t : h.types) m << "shelfjobs_jobs_running{type=\"" << label(t.name) << "\"} " << t.running << "\n";
  m << "# HELP shelfjobs_job_duration_seconds Run time of recent jobs, by command type.\n"
       "# TYPE shelfjobs_job_duration_seconds gauge\n";
  for (const auto& t : h.types) {
    m << "shelfjobs_job_duration_seconds{type=\"" << label(t.name) << "\",stat=\"avg\"} "
      << static_cast<double>(t.avg_duration.count()) / 1000.0 << "\n";
    m << "shelfjobs_job_duration_seconds{type=\"" << label(t.name) << "\",stat=\"p95\"} "
      << static_cast<double>(t.p95_duration.count()) / 1000.0 << "\n";
  }
  m << "# HELP shelfjobs_queue_depth Jobs waiting, by priority and state.\n"
       "# TYPE shelfjobs_queue_depth gauge\n";
  for (const auto& p : h.priorities) {
    const std::string pr(to_string(p.priority));
    m << "shelfjobs_queue_depth{priority=\"" << pr << "\",state=\"queued\"} " << p.queued << "\n";
    m << "shelfjobs_queue_depth{priority=\"" << pr << "\",state=\"delayed\"} " << p.delayed << "\n";
    m << "shelfjobs_queue_depth{priority=\"" << pr << "\",state=\"running\"} " << p.running << "\n";
  }
  m << "# HELP shelfjobs_queue_oldest_age_seconds Wait of the oldest ready job, by priority.\n"
       "# TYPE shelfjobs_queue_oldest_age_seconds gauge\n";
  for (const auto& p : h.priorities) {
    m << "shelfjobs_queue_oldest_age_seconds{priority=\"" << to_string(p.priority) << "\"} "
      << (p.oldest_queued_age ? static_cast<double>(p.oldest_queued_age->count()) / 1000.0 : 0.0) << "\n";
  }
  m << "# HELP shelfjobs_alerts_open Alerts open now.\n# TYPE shelfjobs_alerts_open gauge\n"
    << "shelfjobs_alerts_open " << h.alerts.size() << "\n";
  m << "# HELP shelfjobs_store_commit_latency_seconds Group commit latency of the job store.\n"
       "# TYPE shelfjobs_store_commit_latency_seconds gauge\n"
    << "shelfjobs_store_commit_latency_seconds{stat=\"last\"} "
    << static_cast<double>(h.store.last_commit_latency.count()) / 1e6 << "\n"
    << "shelfjobs_store_commit_latency_seconds{stat=\"max\"} "
    << static_cast<double>(h.store.max_commit_latency.count()) / 1e6 << "\n";
  m << "# HELP shelfjobs_store_commits_total Group commits of the job store.\n"
       "# TYPE shelfjobs_store_commits_total counter\n"
    << "shelfjobs_store_commits_total " << h.store.commits << "\n";
  m << "# HELP shelfjobs_store_write_errors_total Failed commits of the job store.\n"
       "# TYPE shelfjobs_store_write_errors_total counter\n"
    << "shelfjobs_store_write_errors_total " << h.store.write_errors << "\n";
  m << "# HELP shelfjobs_store_bytes Size of the job store's files.\n# TYPE shelfjobs_store_bytes gauge\n"
    << "shelfjobs_store_bytes{file=\"db\"} " << h.store.file_bytes << "\n"
    << "shelfjobs_store_bytes{file=\"wal\"} " << h.store.wal_bytes << "\n";
  return m.str();
}
}  // namespace

namespace {

json author_resource(Catalog& catalog, const Author& a) {
  json r = {{"id", a.id},
            {"authorName", a.name},
            {"sortName", a.sort_name},
            {"foreignAuthorId", a.foreign_id},
            {"overview", a.overview},
            {"path", a.path.string()},
            {"monitored", a.monitored},
            {"status", std::string(to_string(a.status))},
            {"added", format_time(a.added)},
            {"lastInfoSync", a.last_info_sync ? json(format_time(*a.last_info_sync)) : json(nullptr)}};
  if (a.root_folder_id) {
    if (auto root = catalog.root_folder(a.root_folder_id)) r["rootFolderPath"] = root->path.string();
  }
  auto books = catalog.books_of(a.id);
  auto files = catalog.file_count_of_author(a.id);
  r["statistics"] = {{"bookCount", books ? books->size() : 0}, {"bookFileCount", files ? *files : 0}};
  return r;
}

json book_resource(const Book& b) {
  return {{"id", b.id},
          {"authorId", b.author_id},
          {"title", b.title},
          {"foreignBookId", b.foreign_id},
          {"releaseDate", b.release_date ? json(format_time(TimePoint(*b.release_date))) : json(nullptr)},
          {"genres", b.genres},
          {"monitored", b.monitored},
          {"lastInfoSync", b.last_info_sync ? json(format_time(*b.last_info_sync)) : json(nullptr)}};
}

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

json root_resource(const RootFolder& r) {
  std::error_code ec;
  const auto space = std::filesystem::space(r.path, ec);
  return {{"id", r.id},
          {"name", r.name},
          {"path", r.path.string()},
          {"accessible", std::filesystem::is_directory(r.path, ec)},
          {"freeSpace", ec ? json(nullptr) : json(space.available)}};
}

}  // namespace

// Readarr's catalog routes, as far as the refresh service goes: root folders, authors (add one
// by its foreign id), books.
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
    if (!added) return error(res, http_status(added.error().code), added.error().message, to_string(added.error().code));
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
    if (!a) return error(res, http_status(a.error().code), a.error().message, to_string(a.error().code));
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
    if (!added) return error(res, http_status(added.error().code), added.error().message, to_string(added.error().code));
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
    if (!added) return error(res, http_status(added.error().code), added.error().message, to_string(added.error().code));
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
    const auto parsed = route_id(req);
    if (!parsed) return error(res, 404, "no command with id " + req.matches[1].str(), "not_found");
    const auto id = *parsed;
    auto job = app_.engine().get(id);
    if (!job) return error(res, 404, "no command with id " + std::to_string(id), "not_found");
    reply(res, 200, command_resource(*job));
  });

  s.Delete(R"(/api/v1/command/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto parsed = route_id(req);
    if (!parsed) return error(res, 404, "no command with id " + req.matches[1].str(), "not_found");
    auto r = app_.engine().cancel(*parsed);
    if (!r) return error(res, http_status(r.error().code), r.error().message, to_string(r.error().code));
    reply(res, 200, command_resource(*r));
  });

  s.Post("/api/v1/command", [this](const httplib::Request& req, httplib::Response& res) {
    json body;
    try {
      body = json::parse(req.body);
    } catch (const json::parse_error& e) {
      return error(res, 400, std::string("the body is not valid JSON: ") + e.what(), "invalid_json");
    }
    if (!body.is_object()) return error(res, 400, "the body must be a JSON object", "invalid_body");
    if (!body.contains("name") || !body["name"].is_string() || body["name"].get<std::string>().empty())
      return error(res, 400, "the body needs \"name\": the command's name", "invalid_body");
    const std::string name = body["name"];
    auto& e = app_.engine();
    for (const char* f : kBaseFields) body.erase(f);
    // A task's bare name runs that task now (Readarr's "run now" posts the task's command name);
    // with arguments ({"name": "RefreshAuthor", "authorId": 5}) it is a command of its own.
    for (const auto& t : e.tasks()) {
      if (body.empty() && iequal(t.name, name)) {  // Readarr matches names case-insensitively
        auto r = e.run_task_now(t.name);
        if (!r) return error(res, http_status(r.error().code), r.error().message, to_string(r.error().code));
        return reply(res, 201, command_resource(r->job));
      }
    }
    auto r = e.push(name, body, {.trigger = Trigger::manual});
    if (!r) return error(res, http_status(r.error().code), r.error().message, to_string(r.error().code));
    reply(res, 201, command_resource(r->job));
  });

  catalog_routes();

  s.Get("/api/v1/system/task", [this](const httplib::Request&, httplib::Response& res) {
    const auto tasks = app_.engine().tasks();
    json out = json::array();
    for (std::size_t i = 0; i < tasks.size(); ++i) out.push_back(task_resource(tasks[i], static_cast<int>(i) + 1));
    reply(res, 200, out);
  });

  s.Get(R"(/api/v1/system/task/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto id = route_id(req).value_or(0);
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
    reply(res, 200, health_items(app_.engine().health()));
  });

  s.Get("/api/v1/system/jobs", [this](const httplib::Request&, httplib::Response& res) {
    reply(res, 200, to_json(app_.engine().health()));
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

  const char* web = std::getenv("SHELFD_WEB_DIR");
  s.set_mount_point("/", web && *web ? web : SHELFD_WEB_DIR);
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404 && res.body.empty()) error(res, 404, "no route " + req.method + " " + req.path);
  });
}

}  // namespace shelfd

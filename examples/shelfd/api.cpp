// SPDX-License-Identifier: MIT
// The HTTP server: binding, its threads, the API key check, and the dashboard's static files. The
// routes live with their parts: command_api.cpp (commands and tasks), catalog_api.cpp,
// system_api.cpp (status, health, the engine's figures), metrics.cpp, event_stream.cpp.
#include "api.hpp"

#include <cstdlib>
#include <shared_mutex>

#include <httplib.h>

#include "app.hpp"
#include "http_task_queue.hpp"
#include "http_util.hpp"

#ifndef SHELFD_WEB_DIR
#define SHELFD_WEB_DIR "web"
#endif

namespace shelfd {

using namespace shelfjobs;
using nlohmann::json;

namespace {
// The request's share of App::services_mutex, from the pre-routing handler to the post-routing
// one (both run on the request's thread): a restore waits for requests in flight, and requests
// wait for the restore.
thread_local std::shared_lock<std::shared_timed_mutex> request_lock;

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

// A request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112, 6.3), as
// `curl -X POST URL` sends it. Debian 12's cpp-httplib (0.11) instead reads a POST's or PUT's
// body until the connection closes, so such a request waited out the 5-second read timeout and
// got an empty 400. The pre-routing handler runs before the body is read, so it says the length
// outright. The request is the server's own object, declared non-const, so writing through the
// handler's const reference is well defined.
void give_bodiless_request_a_length(const httplib::Request& req) {
  if (req.has_header("Content-Length") || req.has_header("Transfer-Encoding")) return;
  if (req.method != "POST" && req.method != "PUT" && req.method != "PATCH") return;
  const_cast<httplib::Request&>(req).headers.emplace("Content-Length", "0");
}
}  // namespace

ApiServer::ApiServer(App& app)
    : app_(app),
      // SSE clients hold a thread each for as long as they listen. Not httplib::ThreadPool: see
      // http_task_queue.hpp.
      server_(std::make_unique<http_pool::Server>(16)),
      forwarder_(std::make_unique<EventForwarder>(app.engine(), hub_)) {
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
  forwarder_->start();
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

void ApiServer::stop() {
  if (stopping_.exchange(true)) return;
  forwarder_->stop();
  hub_.close();
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void ApiServer::detach_engine() {
  forwarder_->stop();
  forwarder_.reset();
}

void ApiServer::attach_engine() {
  forwarder_ = std::make_unique<EventForwarder>(app_.engine(), hub_);
  if (!stopping_) forwarder_->start();
}

void ApiServer::release_request_lock() {
  if (request_lock.owns_lock()) request_lock.unlock();
  request_lock = {};
}

void ApiServer::routes() {
  auto& s = *server_;
  // Every route but the dashboard's static files needs the key.
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    release_request_lock();  // a request before on this thread that ended without post-routing
    give_bodiless_request_a_length(req);
    request_lock = std::shared_lock(app_.services_mutex());
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

  s.set_post_routing_handler([](const httplib::Request&, httplib::Response&) { release_request_lock(); });

  // A route that throws is shelfd's bug, not the client's: the answer is a 500 with a JSON
  // message (the HTTP library would otherwise put the exception's text in a header), and the
  // log names the request so the bug can be found.
  s.set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    release_request_lock();  // as post-routing does (releasing twice is harmless)
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    app_.log().error("api: {} {} failed: {}", req.method, req.path, what);
    error(res, 500, "internal error while answering " + req.method + " " + req.path + " (see the log)");
  });

  command_routes();
  task_routes();
  catalog_routes();
  exclusion_routes();
  library_routes();
  provider_routes();
  acquisition_routes();
  system_routes();
  log_routes();
  metrics_routes();
  event_routes();
  backup_routes();

  const char* web = std::getenv("SHELFD_WEB_DIR");
  s.set_mount_point("/", web && *web ? web : SHELFD_WEB_DIR);
  // Errors the HTTP library answers itself (a body that could not be read, one too large) come
  // with no body; every error answer carries a JSON message, as the routes' own do.
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) {
      error(res, 404, "no route " + req.method + " " + req.path);
    } else if (res.status == 413) {
      error(res, 413, "the request's body is too large");
    } else {
      error(res, res.status,
            "the request could not be read (a malformed line or header, or a body shorter than its "
            "Content-Length)");
    }
  });
}

}  // namespace shelfd

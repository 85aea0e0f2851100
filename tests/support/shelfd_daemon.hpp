// SPDX-License-Identifier: MIT
#pragma once
// One shelfd process for a test: `shelfd init` writes its config in a temporary folder, the
// test may patch it, and `shelfd run` serves on a free loopback port until the test ends
// (SIGKILL). Helpers call the API with the key and check the status.
//
// Needs SHELFD_PATH (the binary), cpp-httplib, Catch2 and process.hpp's spawn/wait_exit.

#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "process.hpp"
#include "test_support.hpp"

#ifndef SHELFD_PATH
#error "SHELFD_PATH must name the shelfd binary"
#endif

namespace testing {

class ShelfdDaemon {
 public:
  static constexpr const char* kKey = "0011223344556677889900aabbccddee";

  /// `patch`: a JSON merge patch over the config `shelfd init` writes; `prepare` may change the
  /// config further once the daemon's folder exists (paths inside it).
  explicit ShelfdDaemon(const nlohmann::json& patch = nlohmann::json::object(),
                        const std::function<void(ShelfdDaemon&, nlohmann::json&)>& prepare = {}) {
    REQUIRE(wait_exit(spawn({SHELFD_PATH, "init", "--config", config}, log)) == 0);
    nlohmann::json c = nlohmann::json::parse(std::ifstream(config));
    c.merge_patch(patch);
    if (prepare) prepare(*this, c);
    std::ofstream(config) << c.dump(2);
    start();
  }
  ~ShelfdDaemon() { kill(); }
  ShelfdDaemon(const ShelfdDaemon&) = delete;
  ShelfdDaemon& operator=(const ShelfdDaemon&) = delete;

  TempDir dir;
  std::string config = dir.file("shelfd.json");
  std::string log = dir.file("shelfd.out");
  std::filesystem::path data = dir.path() / "shelfd-data";  // `shelfd init`'s dataFolder
  int port = free_port();
  pid_t pid = -1;

  /// Starts `shelfd run` on the config (again, after `kill`) and waits for its API.
  void start() {
    pid = spawn({SHELFD_PATH, "run", "--config", config, "--port", std::to_string(port), "--api-key", kKey},
                log);
    REQUIRE(eventually([&] { return static_cast<bool>(client().Get("/api/v1/system/status")); },
                       std::chrono::seconds(20)));
  }
  void kill() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      wait_exit(pid, std::chrono::seconds(5));
      pid = -1;
    }
  }

  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_default_headers({{"X-Api-Key", kKey}});
    c.set_read_timeout(60, 0);
    return c;
  }
  httplib::Result raw(const std::string& path) const { return client().Get(path.c_str()); }

  /// A request whose status must be `expect`; its body as JSON (null when empty).
  nlohmann::json call(const std::string& method, const std::string& path, const std::string& body,
                      int expect) {
    auto c = client();
    httplib::Result r = method == "GET"    ? c.Get(path.c_str())
                        : method == "POST" ? c.Post(path.c_str(), body, "application/json")
                        : method == "PUT"  ? c.Put(path.c_str(), body, "application/json")
                        : body.empty()     ? c.Delete(path.c_str())
                                           : c.Delete(path.c_str(), body, "application/json");
    REQUIRE(r);
    INFO(method << " " << path << " " << body.substr(0, 300) << " -> " << r->status << " "
                << r->body.substr(0, 600));
    REQUIRE(r->status == expect);
    return r->body.empty() ? nlohmann::json() : nlohmann::json::parse(r->body);
  }
  nlohmann::json get(const std::string& path, int expect = 200) { return call("GET", path, "", expect); }
  nlohmann::json post(const std::string& path, const nlohmann::json& body, int expect) {
    return call("POST", path, body.dump(), expect);
  }
  nlohmann::json put(const std::string& path, const nlohmann::json& body, int expect) {
    return call("PUT", path, body.dump(), expect);
  }
  nlohmann::json del(const std::string& path, int expect = 200) { return call("DELETE", path, "", expect); }

  /// Runs a command (`body` holds its name and fields) and waits for it to end; returns its
  /// final resource.
  nlohmann::json run(const nlohmann::json& body, std::chrono::seconds timeout = std::chrono::seconds(60)) {
    const auto started = post("/api/v1/command", body, 201);
    const auto id = started["id"].get<long long>();
    nlohmann::json job;
    REQUIRE(eventually(
        [&] {
          job = get("/api/v1/command/" + std::to_string(id));
          return job["status"] == "completed" || job["status"] == "failed";
        },
        timeout));
    return job;
  }
  nlohmann::json run(const char* name) { return run(nlohmann::json{{"name", name}}); }
};

// A shelfd with `metadata_url` as its metadata source (no spacing between requests) and the
// folder "books" in its own folder as its library root; `patch` as for ShelfdDaemon.
struct LibraryDaemon : ShelfdDaemon {
  explicit LibraryDaemon(const std::string& metadata_url,
                         const nlohmann::json& patch = nlohmann::json::object())
      : ShelfdDaemon(with_metadata(metadata_url, patch), [](ShelfdDaemon& d, nlohmann::json& c) {
          std::filesystem::create_directories(d.dir.path() / "books");
          c["libraryRoots"] = {(d.dir.path() / "books").string()};
        }) {}
  std::filesystem::path books() const { return dir.path() / "books"; }

 private:
  static nlohmann::json with_metadata(const std::string& url, nlohmann::json patch) {
    patch["metadata"]["baseUrl"] = url;
    patch["metadata"]["requestSpacingMs"] = 0;
    return patch;
  }
};

// A client of shelfd's event stream, reading on a thread of its own from construction (once
// "hello" has arrived) to destruction.
class EventStream {
 public:
  EventStream(int port, std::string key) : client_("127.0.0.1", port), key_(std::move(key)) {
    client_.set_read_timeout(30, 0);
    reader_ = std::thread([this] {
      client_.Get(("/api/v1/events?apikey=" + key_).c_str(), [&](const char* data, size_t n) {
        std::lock_guard lock(mu_);
        text_.append(data, n);
        return !stop_.load();
      });
    });
    REQUIRE(eventually([&] { return !messages("hello").empty(); }, std::chrono::seconds(20)));
  }
  ~EventStream() {
    stop_ = true;
    client_.stop();
    reader_.join();
  }

  /// The data of every `event` message so far, parsed.
  std::vector<nlohmann::json> messages(const std::string& event) {
    std::lock_guard lock(mu_);
    std::vector<nlohmann::json> out;
    const std::string head = "event: " + event + "\ndata: ";
    for (auto at = text_.find(head); at != std::string::npos; at = text_.find(head, at + 1)) {
      const auto start = at + head.size();
      const auto end = text_.find('\n', start);
      if (end == std::string::npos) break;
      out.push_back(nlohmann::json::parse(text_.substr(start, end - start)));
    }
    return out;
  }

  /// Waits (without a deadline the test depends on) for an `event` message that `match` accepts.
  nlohmann::json wait_for(const std::string& event, const std::function<bool(const nlohmann::json&)>& match) {
    nlohmann::json found;
    const bool seen = eventually(
        [&] {
          for (const auto& m : messages(event))
            if (match(m)) {
              found = m;
              return true;
            }
          return false;
        },
        std::chrono::seconds(30));
    if (!seen) {
      std::lock_guard lock(mu_);
      FAIL("no matching \"" << event << "\" message on the stream:\n" << text_.substr(0, 8000));
    }
    return found;
  }

 private:
  httplib::Client client_;
  std::string key_;
  std::mutex mu_;
  std::string text_;
  std::atomic<bool> stop_{false};
  std::thread reader_;
};

}  // namespace testing

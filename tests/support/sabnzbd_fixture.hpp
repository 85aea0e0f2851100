// SPDX-License-Identifier: MIT
#pragma once
// A SABnzbd fixture on loopback (SABnzbd is not in Debian): the one route `/api` with the modes a
// download client uses, answering as SABnzbd 4.x does (sabnzbd/api.py): version, queue and
// history (with `category`, `name=delete&value=&del_files=`), addfile (multipart field `name` or
// `nzbfile`) and addurl. The API key is checked as SABnzbd does: 200 with
// {"status":false,"error":"API Key Required"} or "API Key Incorrect" (version needs no key).
// An .nzb without an <nzb> element is refused ({"status":false,"nzo_ids":[]}). The test moves
// items along: `finish` puts a queue item into the history as Completed or Failed. `down` makes
// every answer a 503.
//
// Thread-safety: every member may be called from any thread while the server runs.

#include <httplib.h>

#include "http_task_queue.hpp"

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace testing {

class SabnzbdFixture {
 public:
  struct Item {
    std::string nzo_id, name, category, status = "Queued", storage, fail_message, nzb;
    std::int64_t bytes = 0;
  };

  explicit SabnzbdFixture(std::string api_key) : key_(std::move(api_key)) {
    auto handler = [this](const httplib::Request& req, httplib::Response& res) { answer(req, res); };
    server_.Get("/api", handler);
    server_.Post("/api", handler);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~SabnzbdFixture() {
    server_.stop();
    thread_.join();
  }
  SabnzbdFixture(const SabnzbdFixture&) = delete;
  SabnzbdFixture& operator=(const SabnzbdFixture&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void down(bool d) { down_ = d; }

  /// The items in the queue and the history, queue first.
  std::vector<Item> queue() const {
    std::lock_guard lock(mu_);
    return queue_;
  }
  std::vector<Item> history() const {
    std::lock_guard lock(mu_);
    return history_;
  }
  /// Moves a queue item into the history with `status` ("Completed" or "Failed").
  void finish(const std::string& id, const std::string& status, const std::string& storage,
              const std::string& fail_message = {}) {
    std::lock_guard lock(mu_);
    for (auto it = queue_.begin(); it != queue_.end(); ++it)
      if (it->nzo_id == id) {
        Item i = *it;
        i.status = status;
        i.storage = storage;
        i.fail_message = fail_message;
        queue_.erase(it);
        history_.insert(history_.begin(), i);
        return;
      }
  }
  /// Sets a queue item's status ("Downloading", "Paused", ...).
  void set_status(const std::string& id, const std::string& status) {
    std::lock_guard lock(mu_);
    for (auto& i : queue_)
      if (i.nzo_id == id) i.status = status;
  }

 private:
  using json = nlohmann::json;

  void answer(const httplib::Request& req, httplib::Response& res) {
    if (down_) {
      res.status = 503;
      res.set_content("Service Unavailable", "text/plain");
      return;
    }
    const std::string mode = req.get_param_value("mode");
    auto reply = [&res](const json& j) { res.set_content(j.dump(), "application/json"); };
    if (mode == "version") return reply({{"version", "4.2.1"}});
    if (!req.has_param("apikey")) return reply({{"status", false}, {"error", "API Key Required"}});
    if (req.get_param_value("apikey") != key_)
      return reply({{"status", false}, {"error", "API Key Incorrect"}});
    std::lock_guard lock(mu_);
    const std::string cat = req.get_param_value("category");
    if (mode == "queue" || mode == "history") {
      auto& list = mode == "queue" ? queue_ : history_;
      if (req.get_param_value("name") == "delete") {
        const std::string id = req.get_param_value("value");
        for (auto it = list.begin(); it != list.end(); ++it)
          if (it->nzo_id == id) {
            list.erase(it);
            deleted_files_ += req.get_param_value("del_files") == "1" ? 1 : 0;
            return reply({{"status", true}, {"nzo_ids", {id}}});
          }
        return reply({{"status", false}, {"nzo_ids", json::array()}});
      }
      json slots = json::array();
      for (const auto& i : list) {
        if (!cat.empty() && i.category != cat) continue;
        if (mode == "queue")
          slots.push_back({{"nzo_id", i.nzo_id},
                           {"filename", i.name},
                           {"cat", i.category},
                           {"mb", std::to_string(static_cast<double>(i.bytes) / 1048576.0)},
                           {"mbleft", std::to_string(static_cast<double>(i.bytes) / 2097152.0)},
                           {"percentage", "50"},
                           {"status", i.status},
                           {"timeleft", "0:05:12"},
                           {"priority", "Normal"},
                           {"index", 0}});
        else
          slots.push_back({{"nzo_id", i.nzo_id},
                           {"name", i.name},
                           {"nzb_name", i.name + ".nzb"},
                           {"category", i.category},
                           {"bytes", i.bytes},
                           {"status", i.status},
                           {"storage", i.storage},
                           {"fail_message", i.fail_message},
                           {"download_time", 12}});
      }
      if (mode == "queue") return reply({{"queue", {{"paused", false}, {"slots", slots}}}});
      return reply({{"history", {{"slots", slots}}}});
    }
    if (mode == "addfile" || mode == "addurl") {
      Item i;
      if (mode == "addfile") {
        const char* field = req.has_file("name") ? "name" : "nzbfile";
        if (!req.has_file(field)) return reply({{"status", false}, {"error", "expects file"}});
        i.nzb = req.get_file_value(field).content;
        if (i.nzb.find("<nzb") == std::string::npos)
          return reply({{"status", false}, {"nzo_ids", json::array()}});
        i.bytes = static_cast<std::int64_t>(i.nzb.size()) * 1000;
      } else {
        i.nzb = req.get_param_value("name");  // the URL
        i.bytes = 1 << 20;
      }
      i.nzo_id = "SABnzbd_nzo_" + std::to_string(++next_);
      i.name = req.get_param_value("nzbname");
      i.category = req.get_param_value("cat");
      queue_.push_back(i);
      return reply({{"status", true}, {"nzo_ids", {i.nzo_id}}});
    }
    res.set_content("error: not implemented\n", "text/plain");
  }

  std::string key_;
  http_pool::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> down_{false};
  mutable std::mutex mu_;
  std::vector<Item> queue_, history_;
  int next_ = 0;
  int deleted_files_ = 0;
};

}  // namespace testing

// SPDX-License-Identifier: MIT
#pragma once
// Shared helpers for the tests: temporary folders, test commands, a thread-safe recorder and a
// gate that holds handlers until the test opens it.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "shelfjobs/shelfjobs.hpp"

namespace testing {

using namespace std::chrono_literals;

/// A folder under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("shelfjobs-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

/// Where an engine test keeps its jobs: the SQLite file `name` in `dir`, or, when the
/// environment says SHELFJOBS_TEST_STORE=postgres (the `engine.postgres` ctest entry), a
/// PostgreSQL database of its own for that folder and name: the same one on every call, so a
/// test that reopens its engine finds its jobs (tests/support/job_store_at.cpp).
std::string job_store_at(const TempDir& dir, const std::string& name = "j.db");

/// Runs `sql` on the store `job_store_at` returned: SQLite on a file, psql on a database, with
/// the store's tables named as in the SQLite store ("jobs", "scheduled_tasks"). True when it ran.
bool exec_on_store(const std::string& location, const std::string& sql);

/// Records strings from any thread.
class Recorder {
 public:
  void add(std::string s) {
    std::lock_guard lock(mu_);
    items_.push_back(std::move(s));
    cv_.notify_all();
  }
  std::vector<std::string> items() const {
    std::lock_guard lock(mu_);
    return items_;
  }
  bool wait_for(const std::string& s, std::chrono::milliseconds timeout = 5s) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      for (const auto& i : items_)
        if (i == s) return true;
      return false;
    });
  }
  bool contains(const std::string& s) const {
    std::lock_guard lock(mu_);
    for (const auto& i : items_)
      if (i == s) return true;
    return false;
  }
  std::size_t index_of(const std::string& s) const {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < items_.size(); ++i)
      if (items_[i] == s) return i;
    return SIZE_MAX;
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<std::string> items_;
};

/// Named gates: a handler waits at `wait(tag)` until the test calls `open(tag)` (or the job is
/// cancelled).
class Gates {
 public:
  void open(const std::string& tag) {
    std::lock_guard lock(mu_);
    open_.insert(tag);
    cv_.notify_all();
  }
  void open_all() {
    std::lock_guard lock(mu_);
    all_ = true;
    cv_.notify_all();
  }
  // Returns false when cancelled before the gate opened.
  bool wait(const std::string& tag, const shelfjobs::JobContext& ctx) {
    std::unique_lock lock(mu_);
    while (!all_ && !open_.count(tag)) {
      if (ctx.cancelled()) return false;
      cv_.wait_for(lock, 2ms);
    }
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> open_;
  bool all_ = false;
};

// ---- test commands --------------------------------------------------------------------------

struct Noop : shelfjobs::Command {
  static constexpr std::string_view kName = "Noop";
};

/// A job that records "start:tag", waits at gate `tag`, records "end:tag".
struct Step : shelfjobs::Command {
  static constexpr std::string_view kName = "Step";
  std::string tag;
};
inline void to_json(nlohmann::json& j, const Step& s) { j = {{"tag", s.tag}}; }
inline void from_json(const nlohmann::json& j, Step& s) { j.at("tag").get_to(s.tag); }

/// A command with a required field, an optional one and a list, for codec and dedup tests.
struct Refresh : shelfjobs::Command {
  static constexpr std::string_view kName = "RefreshAuthor";
  std::int64_t author_id = 0;
  std::optional<std::string> note;
  std::vector<int> books;
};
inline void to_json(nlohmann::json& j, const Refresh& r) {
  j = {{"authorId", r.author_id}, {"books", r.books}};
  j["note"] = r.note ? nlohmann::json(*r.note) : nlohmann::json(nullptr);
}
inline void from_json(const nlohmann::json& j, Refresh& r) {
  j.at("authorId").get_to(r.author_id);
  if (j.contains("note") && !j.at("note").is_null()) r.note = j.at("note").get<std::string>();
  if (j.contains("books")) j.at("books").get_to(r.books);
}

/// Keeps every notification it gets.
class RecordingNotifier : public shelfjobs::Notifier {
 public:
  void notify(const shelfjobs::Notification& n) override {
    std::lock_guard lock(mu_);
    items_.push_back(n);
  }
  std::vector<shelfjobs::Notification> items() {
    std::lock_guard lock(mu_);
    return items_;
  }
  /// How many of `event` ("job_failed", "alert_raised", ...) about `key` (an alert key, or the
  /// job's command name).
  std::size_t count(const std::string& event, const std::string& key) {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& i : items_) {
      const std::string k = i.details.is_object() && i.details.contains("key")
                                ? i.details["key"].get<std::string>()
                                : (i.job ? i.job->name : "");
      n += i.event == event && k == key;
    }
    return n;
  }

 private:
  std::mutex mu_;
  std::vector<shelfjobs::Notification> items_;
};

/// A logger that drops everything (tests that expect errors stay quiet).
inline std::shared_ptr<spdlog::logger> quiet_logger() {
  static auto log =
      std::make_shared<spdlog::logger>("quiet", std::make_shared<spdlog::sinks::null_sink_mt>());
  return log;
}

/// Polls `pred` until true or timeout.
inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 5s) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return pred();
}

/// True when `s` is well-formed UTF-8 by its lead and continuation bits: the tests' own check
/// of what the library writes, independent of the library's UTF-8 code.
inline bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += n;
  }
  return true;
}

}  // namespace testing

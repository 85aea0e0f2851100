// SPDX-License-Identifier: MIT
#pragma once
// The metadata source's response cache: one SQLite table keyed by URL, holding the body, its
// validators (ETag, Last-Modified) and when it was fetched and expires. Times come from the
// source's Clock, so tests move them with a ManualClock.
//
// The cache is an optimisation: a SQLite failure while reading or writing is logged and
// treated as a miss (or a lost write), never as a failure of the metadata call. Only opening
// the file can fail, in `open`.
//
// Thread-safety: every member may be called from any thread (one connection behind a mutex).

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <spdlog/fwd.h>

#include "engine/sqlite/sqlite_toolkit.hpp"
#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/job.hpp"

namespace shelfjobs::detail {

struct CacheEntry {
  std::string body;
  std::string etag;           ///< empty when the server sent none
  std::string last_modified;  ///< empty when the server sent none
  TimePoint fetched_at{};
  TimePoint expires_at{};
};

class MetadataCache {
 public:
  /// Opens (creating it and its folder when needed) the cache file; an empty path keeps the
  /// cache in memory. `busy_timeout`: how long opening and each statement wait for another
  /// process's lock on the file. Errors: store_error naming the file, with SQLite's message.
  static Result<std::unique_ptr<MetadataCache>> open(
      const std::filesystem::path& path, std::shared_ptr<spdlog::logger> logger,
      std::chrono::milliseconds busy_timeout = sqlite::kDefaultBusyTimeout);
  ~MetadataCache();
  MetadataCache(const MetadataCache&) = delete;
  MetadataCache& operator=(const MetadataCache&) = delete;

  std::optional<CacheEntry> get(const std::string& url);
  /// Stores (or replaces) the entry of `url`.
  void put(const std::string& url, const CacheEntry& entry);
  /// A 304 confirmed the entry: it was fetched again at `fetched_at` and lives until `expires_at`.
  void renew(const std::string& url, TimePoint fetched_at, TimePoint expires_at);

 private:
  MetadataCache(std::unique_ptr<SQLite::Database> db, std::shared_ptr<spdlog::logger> logger);
  std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;
  std::shared_ptr<spdlog::logger> log_;
};

}  // namespace shelfjobs::detail

// SPDX-License-Identifier: MIT
#include "adapters/metadata_cache.hpp"

#include <chrono>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <spdlog/spdlog.h>

#include "engine/sqlite/sqlite_toolkit.hpp"

namespace shelfjobs::detail {

namespace {

// Append only (index + 1 = version). The version is also kept in PRAGMA user_version, where
// earlier releases kept it alone; a file with a newer version than this code knows is refused
// rather than misread.
const std::vector<std::string>& cache_migrations() {
  static const std::vector<std::string> migrations = {
      R"sql(
CREATE TABLE IF NOT EXISTS responses (
  url           TEXT PRIMARY KEY,
  body          BLOB NOT NULL,
  etag          TEXT NOT NULL DEFAULT '',
  last_modified TEXT NOT NULL DEFAULT '',
  fetched_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
  };
  return migrations;
}

// The cache row, in SELECT order (the key, `url`, is the lookup).
constexpr sqlite::Columns kEntry{"body", "etag", "last_modified", "fetched_at", "expires_at"};

}  // namespace

MetadataCache::MetadataCache(std::unique_ptr<SQLite::Database> db, std::shared_ptr<spdlog::logger> logger)
    : db_(std::move(db)), log_(std::move(logger)) {}

MetadataCache::~MetadataCache() = default;

Result<std::unique_ptr<MetadataCache>> MetadataCache::open(const std::filesystem::path& path,
                                                           std::shared_ptr<spdlog::logger> logger,
                                                           std::chrono::milliseconds busy_timeout) {
  // Several sources (or processes) may share one cache file: the busy timeout makes them wait
  // for a writer rather than fail, and WAL lets readers run beside it. synchronous=NORMAL: a
  // cache write lost to a power cut only costs a request. The file is disposable, so its
  // folder is created when missing.
  auto opened =
      sqlite::open(path.empty() ? std::filesystem::path(":memory:") : path,
                   {.what = "metadata cache", .busy_timeout = busy_timeout, .create_folders = true});
  if (!opened) return opened.error();
  auto db = std::move(opened).value();
  if (auto st = sqlite::migrate(*db, "metadata_cache", cache_migrations(),
                                {.legacy = {.user_version = true}, .what = "metadata cache"});
      !st)
    return st.error();
  return std::unique_ptr<MetadataCache>(new MetadataCache(std::move(db), std::move(logger)));
}

std::optional<CacheEntry> MetadataCache::get(const std::string& url) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement st(*db_, "SELECT " + kEntry.list() + " FROM responses WHERE url = ?");
    st.bind(1, url);
    if (!st.executeStep()) return std::nullopt;
    CacheEntry e;
    const auto body = st.getColumn(kEntry["body"]);
    e.body.assign(static_cast<const char*>(body.getBlob()), static_cast<std::size_t>(body.getBytes()));
    e.etag = sqlite::column<std::string>(st, kEntry["etag"]);
    e.last_modified = sqlite::column<std::string>(st, kEntry["last_modified"]);
    e.fetched_at = sqlite::column<TimePoint>(st, kEntry["fetched_at"]);
    e.expires_at = sqlite::column<TimePoint>(st, kEntry["expires_at"]);
    return e;
  } catch (const std::exception& ex) {
    log_->warn("metadata cache: reading {} failed: {}", url, ex.what());
    return std::nullopt;
  }
}

void MetadataCache::put(const std::string& url, const CacheEntry& entry) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement st(*db_,
                         "INSERT OR REPLACE INTO responses "
                         "(url, body, etag, last_modified, fetched_at, expires_at) "
                         "VALUES (?, ?, ?, ?, ?, ?)");
    st.bind(1, url);
    st.bind(2, entry.body.data(), static_cast<int>(entry.body.size()));
    st.bind(3, entry.etag);
    st.bind(4, entry.last_modified);
    sqlite::bind(st, 5, entry.fetched_at);
    sqlite::bind(st, 6, entry.expires_at);
    st.exec();
  } catch (const std::exception& ex) {
    log_->warn("metadata cache: writing {} failed: {}", url, ex.what());
  }
}

void MetadataCache::renew(const std::string& url, TimePoint fetched_at, TimePoint expires_at) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement st(*db_, "UPDATE responses SET fetched_at = ?, expires_at = ? WHERE url = ?");
    sqlite::bind(st, 1, fetched_at);
    sqlite::bind(st, 2, expires_at);
    st.bind(3, url);
    st.exec();
  } catch (const std::exception& ex) {
    log_->warn("metadata cache: renewing {} failed: {}", url, ex.what());
  }
}

}  // namespace shelfjobs::detail

namespace shelfjobs {
int metadata_cache_schema_version() noexcept { return static_cast<int>(detail::cache_migrations().size()); }
}  // namespace shelfjobs

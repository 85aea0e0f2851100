// SPDX-License-Identifier: MIT
#include "services/metadata_cache.hpp"

#include <chrono>

#include <SQLiteCpp/SQLiteCpp.h>
#include <spdlog/spdlog.h>

namespace shelfjobs::detail {

namespace {

std::int64_t to_ms(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
TimePoint from_ms(std::int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(ms)));
}

// Version 1 of the schema. `user_version` records it so a later version can migrate; a file
// with a newer version than this code knows is refused rather than misread.
constexpr int kSchemaVersion = 1;
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS responses (
  url           TEXT PRIMARY KEY,
  body          BLOB NOT NULL,
  etag          TEXT NOT NULL DEFAULT '',
  last_modified TEXT NOT NULL DEFAULT '',
  fetched_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

}  // namespace

MetadataCache::MetadataCache(std::unique_ptr<SQLite::Database> db,
                             std::shared_ptr<spdlog::logger> logger)
    : db_(std::move(db)), log_(std::move(logger)) {}

MetadataCache::~MetadataCache() = default;

Result<std::unique_ptr<MetadataCache>> MetadataCache::open(const std::filesystem::path& path,
                                                           std::shared_ptr<spdlog::logger> logger) {
  const std::string where = path.empty() ? std::string(":memory:") : path.string();
  try {
    if (!path.empty() && path.has_parent_path())
      std::filesystem::create_directories(path.parent_path());
    auto db = std::make_unique<SQLite::Database>(where, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    // Several sources (or processes) may share one cache file: wait for a writer rather than
    // fail, and let readers run beside it.
    db->exec("PRAGMA busy_timeout=5000");
    if (!path.empty()) db->exec("PRAGMA journal_mode=WAL");
    // A lost cache write after a power cut only costs a request.
    db->exec("PRAGMA synchronous=NORMAL");
    const int version = db->execAndGet("PRAGMA user_version").getInt();
    if (version > kSchemaVersion)
      return Error{errc::store_error, "metadata cache " + where + ": schema version " +
                                          std::to_string(version) + " is newer than this build's " +
                                          std::to_string(kSchemaVersion)};
    db->exec(kSchema);
    db->exec("PRAGMA user_version=" + std::to_string(kSchemaVersion));
    return std::unique_ptr<MetadataCache>(new MetadataCache(std::move(db), std::move(logger)));
  } catch (const std::exception& e) {
    return Error{errc::store_error, "metadata cache " + where + ": " + e.what()};
  }
}

std::optional<CacheEntry> MetadataCache::get(const std::string& url) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement st(*db_,
                         "SELECT body, etag, last_modified, fetched_at, expires_at FROM responses "
                         "WHERE url = ?");
    st.bind(1, url);
    if (!st.executeStep()) return std::nullopt;
    CacheEntry e;
    const auto body = st.getColumn(0);
    e.body.assign(static_cast<const char*>(body.getBlob()), static_cast<std::size_t>(body.getBytes()));
    e.etag = st.getColumn(1).getString();
    e.last_modified = st.getColumn(2).getString();
    e.fetched_at = from_ms(st.getColumn(3).getInt64());
    e.expires_at = from_ms(st.getColumn(4).getInt64());
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
    st.bind(5, to_ms(entry.fetched_at));
    st.bind(6, to_ms(entry.expires_at));
    st.exec();
  } catch (const std::exception& ex) {
    log_->warn("metadata cache: writing {} failed: {}", url, ex.what());
  }
}

void MetadataCache::renew(const std::string& url, TimePoint fetched_at, TimePoint expires_at) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement st(*db_, "UPDATE responses SET fetched_at = ?, expires_at = ? WHERE url = ?");
    st.bind(1, to_ms(fetched_at));
    st.bind(2, to_ms(expires_at));
    st.bind(3, url);
    st.exec();
  } catch (const std::exception& ex) {
    log_->warn("metadata cache: renewing {} failed: {}", url, ex.what());
  }
}

}  // namespace shelfjobs::detail

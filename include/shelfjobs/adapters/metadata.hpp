// SPDX-License-Identifier: MIT
#pragma once
/// The metadata source: where author and book metadata comes from, as an interface, and a client
/// for Readarr's BookInfo v1 JSON API (as served by rreading-glasses and compatible servers).
///
/// The client speaks `GET author/{id}`, `GET work/{id}` and `GET book/{id}` (which must redirect)
/// over libcurl with timeouts, redirects, compression and a User-Agent naming shelfjobs and its
/// version; caches responses in SQLite with a TTL and revalidates them with ETag or
/// Last-Modified; spaces requests per host through a `RateLimiter`; and applies Readarr's mapping
/// rules (a work stays with an author only if its most popular edition's first contributor is
/// that author; one edition per work is monitored; a work without a release date takes its
/// earliest edition's).
///
/// Errors: calls throw `MetadataError`, a `JobError` whose kind tells the engine what to do:
///   - timeout, connection failure, 5xx                 -> network (retried with backoff)
///   - 429 (Retry-After as seconds or an HTTP date;     -> rate_limited until then; calls before
///     60 s when missing or unreadable)                    then fail the same way, sending nothing
///   - `Works: null` (the server is still loading)      -> rate_limited for a few seconds
///   - 404                                              -> permanent, code not_found
///   - malformed JSON, a body that breaks the mapping,  -> permanent, code invalid, with the reason
///     a missing or unusable redirect, other 4xx
///   - the stop token fired                             -> cancelled
/// Messages name the route and id ("author 1001: malformed JSON at byte 57").
/// A redirect to another author id is not an error: the returned data carries the new id and the
/// caller treats it as a merge.
///
/// Thread-safety: a MetadataSource may be called from several threads at once.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/fwd.h>

#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/engine/clock.hpp"
#include "shelfjobs/engine/context.hpp"
#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/rate_limiter.hpp"

namespace shelfjobs {

struct EditionData {
  std::string foreign_id;
  std::string title;
  std::string isbn13;
  std::string asin;
  std::string language;
  std::string format;
  std::string publisher;
  bool is_ebook = false;
  int pages = 0;
  std::optional<Date> release_date;
  std::int64_t rating_count = 0;
  double average_rating = 0;
  bool monitored = false;  ///< set by the mapping: the work's most popular edition
  std::vector<std::string> contributor_ids;
};

struct SeriesLinkData {
  std::string series_foreign_id;
  std::string series_title;
  std::string position;  ///< PositionInSeries
  int series_position = 0;
  bool primary = false;
};

struct AuthorRef {
  std::string foreign_id;
  std::string name;
};

struct WorkData {
  std::string foreign_id;
  std::string title;
  std::optional<Date> release_date;  ///< filled from the earliest edition when missing
  std::vector<std::string> genres;
  std::vector<EditionData> editions;
  std::vector<SeriesLinkData> series;
  std::vector<AuthorRef> authors;  ///< from `GET work/{id}`; the owning author first
  /// Of the mapped work (editions and series included, `authors` not, so both routes agree):
  /// FNV-1a 64 in hex over a canonical serialisation, unaffected by key order or unknown keys.
  std::string hash;
};

struct AuthorData {
  std::string foreign_id;  ///< may differ from the id asked for: a merge
  std::string name;
  std::string overview;
  std::optional<AuthorStatus> status;  ///< when the source says
  std::vector<WorkData> works;         ///< after the mapping rules, de-duplicated by foreign id
  std::string hash;                    ///< of the mapped author, works included (as above)
};

/// What `GET book/{editionId}` resolved to.
struct EditionLookup {
  std::string author_foreign_id;  ///< set when the redirect named an author
  std::string work_foreign_id;    ///< set when the redirect named a work
};

/// One hit of a free-text search (`GET search?q=`): a book and who wrote it, by foreign id.
struct SearchHit {
  std::string work_foreign_id;
  std::string edition_foreign_id;  ///< the hit's book (edition); may be empty
  std::string author_foreign_id;
};

enum class MetadataErrc {
  not_found = 1,  ///< 404 (http_status() 404)
  not_ready,      ///< `Works: null`: the server is still loading the author
  network,        ///< connection failure or 5xx
  timeout,        ///< no complete answer within the timeout
  rate_limited,   ///< 429
  invalid,        ///< malformed JSON, a body that breaks the mapping, a bad redirect, other 4xx
  cancelled,      ///< the stop token fired
};
std::string_view to_string(MetadataErrc code) noexcept;

class MetadataError : public JobError {
 public:
  MetadataError(MetadataErrc code, const std::string& what, int http_status = 0,
                std::optional<TimePoint> retry_after = std::nullopt);
  MetadataErrc code() const noexcept { return code_; }
  int http_status() const noexcept { return http_status_; }

 private:
  MetadataErrc code_;
  int http_status_;
};

/// The failure as an error value, for callers that answer a person rather than retry a job
/// (adding an author through an API): not_found -> errc::not_found; network, timeout and
/// not_ready -> errc::unavailable; rate_limited -> errc::rate_limited with the retry time;
/// invalid -> errc::upstream_error; cancelled -> errc::shutting_down. The message is
/// "metadata source: " and the failure's own text. The job side of the same mapping (the
/// ErrorKind a MetadataError carries) is decided in the same place, bookinfo.cpp.
Error to_error(const MetadataError& e);

/// Counters since the source was created.
struct MetadataStats {
  std::int64_t requests = 0;     ///< HTTP requests sent (revalidations included)
  std::int64_t cache_hits = 0;   ///< answered from a fresh cache entry, no request
  std::int64_t revalidated = 0;  ///< 304 answers that renewed a cache entry
  std::int64_t bytes = 0;        ///< response body bytes received
};

class MetadataSource {
 public:
  virtual ~MetadataSource() = default;
  /// The author with its works, editions and series. `fresh` skips the cache's fresh entries
  /// (they are still revalidated with ETag/Last-Modified).
  virtual AuthorData author(std::string_view foreign_id, std::stop_token token = {}, bool fresh = false) = 0;
  /// One work with its editions, series and authors. A redirect to `author/{id}` takes the work
  /// from that author (invalid when that author's works, after the mapping rules, lack it).
  /// 404 -> not_found.
  virtual WorkData work(std::string_view foreign_id, std::stop_token token = {}, bool fresh = false) = 0;
  /// Resolves an edition id through the mandatory redirect of `GET book/{id}`.
  virtual EditionLookup edition(std::string_view foreign_id, std::stop_token token = {}) = 0;
  /// Free-text search over titles and authors (`GET search?q=`, as rreading-glasses and the
  /// BookInfo forks serve it), best first; no hit is an empty list, not an error. Cached like
  /// the other answers. Errors as for `author` (an empty query is invalid).
  virtual std::vector<SearchHit> search(std::string_view query, std::stop_token token = {}) = 0;
  virtual MetadataStats stats() const = 0;
};

struct BookInfoOptions {
  /// The API root, such as "http://127.0.0.1:8080/v1/" or an rreading-glasses instance. Required.
  std::string base_url;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};  ///< whole request
  int max_redirects = 5;
  /// The response cache's SQLite file; empty keeps the cache in memory.
  std::filesystem::path cache_path;
  std::chrono::seconds cache_ttl{std::chrono::minutes(30)};
  /// Requests are spaced per host through this limiter (key "metadata:<host>"); null: one of
  /// the source's own. `rate_limit` configures the key.
  std::shared_ptr<RateLimiter> rate_limiter;
  RateLimit rate_limit{std::chrono::milliseconds(0), 0, std::chrono::milliseconds(0)};
  /// How long a `Works: null` answer defers the caller (rate_limited retry_after).
  std::chrono::milliseconds not_ready_delay{std::chrono::seconds(5)};
  std::shared_ptr<Clock> clock;            ///< cache ages and Retry-After; null: system
  std::shared_ptr<spdlog::logger> logger;  ///< null: a quiet logger
};

/// Creates a BookInfo client. Errors: `errc::invalid_argument` for a bad base URL or option,
/// `errc::store_error` when the cache file cannot be opened.
Result<std::shared_ptr<MetadataSource>> make_bookinfo_source(BookInfoOptions options);

/// The version of the metadata cache's schema ("metadata_cache") this build writes.
int metadata_cache_schema_version() noexcept;

/// Maps a BookInfo author resource (the JSON of `GET author/{id}`) with the rules above. Throws
/// MetadataError{invalid} naming the field when the body breaks them; `Works: null` throws
/// not_ready (without a retry_after: the client adds `not_ready_delay`).
AuthorData parse_bookinfo_author(std::string_view body);
/// Maps a BookInfo work resource (`GET work/{id}`); it must carry Books and a non-empty Authors.
WorkData parse_bookinfo_work(std::string_view body);
/// Maps a search answer: `[{bookId, workId, author: {id}}]` (Goodreads' auto_complete subset
/// that Readarr reads); entries without a work or an author id are left out. Throws
/// MetadataError{invalid} for a body that is not such an array.
std::vector<SearchHit> parse_bookinfo_search(std::string_view body);

}  // namespace shelfjobs

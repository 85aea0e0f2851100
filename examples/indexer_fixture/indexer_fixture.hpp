// SPDX-License-Identifier: MIT
#pragma once
// A Newznab or Torznab indexer fixture on loopback: it answers `GET /api` the way an indexer (or
// Prowlarr in front of one) does, in real Newznab/Torznab XML, and misbehaves on purpose for
// tests and demos. Not for production use.
//
// `GET /api?t=caps` answers the capabilities (search, and book-search with q,author,title when
// `book_search` is on; limits max/default). `t=search` and `t=book` answer an RSS 2.0 feed of the
// stored releases, newest first, filtered by `q` (every word in the title or author, any case),
// `author` and `title` (substrings, any case) and `cat` (any shared category, a parent category
// matching its subcategories), then sliced by `offset` and `limit` (limit capped at `limit_max`,
// default `limit_default`). Every route but caps needs `apikey` equal to the fixture's key:
// without one, `<error code="200" description="Missing parameter (apikey)"/>`; with another,
// code 100. Items carry the `newznab:` or `torznab:` attributes of their kind under the prefix
// `attr_prefix` (default the kind's name), as Readarr and Prowlarr read them.
//
// Failure switches apply to every request (caps included) until cleared, or to the next `times`:
// see `Failure`.
//
// Thread-safety: every member may be called from any thread while the server runs.

#include <chrono>
#include <cstdint>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace shelfjobs::fixtures {

struct FixtureRelease {
  std::string title;
  std::string guid;  ///< empty: "fixture-<n>"
  std::time_t published = 0;
  std::int64_t size = 1'000'000;
  std::vector<int> categories{7020};
  std::string author;      ///< the author attr (and the t=book author filter)
  std::string book_title;  ///< the booktitle attr (and the t=book title filter)
  int seeders = 10;        ///< torznab
  int peers = 12;          ///< torznab
  int grabs = 3;           ///< newznab
  /// What `GET /download?id=<guid>` answers: empty gives a small valid .torrent (torznab) or
  /// .nzb (newznab) named after the title; `downloadable = false` answers 404.
  std::string payload;
  bool downloadable = true;
};

enum class Failure {
  none,
  error_code,  ///< 200 with `<error code="code" description="description"/>`
  http_429,   ///< 429 with Retry-After `retry_after` (when not empty) and a Prowlarr-style <error code="429">
  html,       ///< `status` (default 403) with a Cloudflare-like HTML page
  slow,       ///< the normal answer after `delay` (stopping the server cuts the wait short)
  truncated,  ///< 200 with the normal body cut in half
  server_error,  ///< `status` (default 503) with a plain-text body
  raw,           ///< 200 with `body` as application/rss+xml (for bytes no writer would produce)
};

struct FailureSpec {
  Failure failure = Failure::none;
  int code = 100;
  std::string description = "Incorrect user credentials";
  std::string retry_after = "60";
  int status = 0;  ///< 0: the failure's default
  std::chrono::milliseconds delay{3000};
  std::string body;
  int times = -1;        ///< requests it applies to; -1: until cleared
  bool caps_too = true;  ///< false: t=caps answers normally
};

enum class FixtureKind { newznab, torznab };

struct IndexerFixtureOptions {
  FixtureKind kind = FixtureKind::newznab;
  std::string api_key = "fixture-key";
  bool book_search = true;  ///< caps offer <book-search available="yes" supportedParams="q,author,title">
  int limit_max = 100;
  int limit_default = 100;
  std::string attr_prefix;  ///< empty: "newznab" or "torznab"
};

class IndexerFixture {
 public:
  /// Starts serving on 127.0.0.1 (port 0: any free port). Throws std::runtime_error when it cannot bind.
  static std::unique_ptr<IndexerFixture> start(IndexerFixtureOptions options = {}, int port = 0);
  ~IndexerFixture();  ///< stops the server

  std::string base_url() const;  ///< "http://127.0.0.1:<port>" (the API is at "/api")
  int port() const;
  const IndexerFixtureOptions& options() const;

  /// Replaces the stored releases (any order: served newest first by `published`).
  void set_releases(std::vector<FixtureRelease> releases);
  /// Adds releases (new ones on a live feed).
  void add_releases(std::vector<FixtureRelease> releases);
  void set_failure(FailureSpec spec);
  void clear_failure();

  /// Requests to /api so far, and the query parameters of the latest one ("t" -> "book", ...).
  std::int64_t requests() const;
  std::int64_t requests_with(const std::string& t) const;  ///< with that `t=`
  std::map<std::string, std::string> last_query() const;
  /// `GET /download` requests so far (the grabs' file fetches).
  std::int64_t downloads() const;

 private:
  struct State;
  IndexerFixture();
  std::unique_ptr<State> state_;
};

/// `count` releases in the fixture's style, newest first from `newest` back one hour each:
/// "Author N - Book Title N (2019) [EPUB]" alternating with audiobooks "... (Unabridged) [M4B]"
/// (category 3030), guids "<prefix>-<n>".
std::vector<FixtureRelease> make_releases(int count, std::time_t newest, const std::string& prefix = "rel");

/// The file `/download` serves for a release without a payload: a single-file .torrent (its
/// `info` names `name` with `size` bytes) or an .nzb with one file of one segment.
std::string default_payload(const FixtureRelease& release, FixtureKind kind);

/// The feed XML the fixture writes for `releases` (no slicing), for tests and benchmarks.
std::string render_feed(const std::vector<FixtureRelease>& releases, FixtureKind kind,
                        const std::string& base_url, const std::string& attr_prefix = "",
                        std::int64_t offset = 0, std::int64_t total = -1);

}  // namespace shelfjobs::fixtures

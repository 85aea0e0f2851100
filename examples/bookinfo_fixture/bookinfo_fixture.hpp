// SPDX-License-Identifier: MIT
#pragma once
// A BookInfo v1 fixture server on loopback: it serves authors and works from JSON files (or from
// bodies given in code) the way a BookInfo server does, and can misbehave on purpose, per author,
// for tests, the refresh benchmark and `shelfd demo`. Not for production use.
//
// Routes (under /v1/): GET author/{id}, GET work/{id}, GET book/{editionId} (303 to the owning
// author/{id}?edition={editionId} as rreading-glasses does; a work's editions are indexed when
// the author is put; an edition known only from `put_work` whose author is not stored redirects
// to work/{id} instead), GET search?q= (every work of a stored author whose title and author name
// hold all the query's words, case-insensitive: `[{bookId, workId, author: {id}}]`, at most 20,
// the first edition as the book; an empty query is 400). Every 200 carries an ETag (a hash of the body
// served) and a Last-Modified (when the body or its author's scenario last changed); an equal If-None-Match,
// or without one an equal If-Modified-Since, gets 304. Errors are plain text, as
// rreading-glasses sends them ("HTTP 404: Not Found"). Scenarios apply to author/{id} and to the
// works of that author, not to book/{id}.
//
// Thread-safety: every member may be called from any thread while the server runs.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

namespace shelfjobs::fixtures {

enum class Scenario {
  normal,        ///< 200 with the stored body
  loading,       ///< 200 with `"Works": null` for the next `loading_count` requests, then normal
  rate_limited,  ///< 429 with Retry-After (`retry_after`, in seconds or as an HTTP date)
  not_found,     ///< 404 with rreading-glasses' plain-text body
  merged,        ///< 301 to author/{merge_target}
  server_error,  ///< 500
  slow,          ///< the normal answer after `delay` (stopping the server cuts the wait short)
  malformed,     ///< 200 with a truncated JSON body
  renamed,       ///< normal, with the author's Name replaced by `new_name`
};

struct ScenarioSpec {
  Scenario scenario = Scenario::normal;
  int loading_count = 1;
  std::string retry_after = "2";          ///< the Retry-After header's value
  std::string merge_target;               ///< author id for `merged`
  std::chrono::milliseconds delay{3000};  ///< for `slow`
  std::string new_name;                   ///< for `renamed`
};

class BookInfoFixture {
 public:
  /// Starts serving on 127.0.0.1 (port 0: any free port). Throws std::runtime_error when it cannot
  /// bind.
  static std::unique_ptr<BookInfoFixture> start(int port = 0);
  ~BookInfoFixture();  ///< stops the server

  /// "http://127.0.0.1:<port>/v1/"
  std::string base_url() const;
  int port() const;

  /// Loads every `author/<id>.json` and `work/<id>.json` under `dir`. Throws on unreadable or
  /// malformed files (naming the file).
  void load_dir(const std::filesystem::path& dir);
  /// Stores (or replaces) an author body; its works are served by `work/{id}` too (with the
  /// author in their `Authors`), and their editions by `book/{id}`.
  void put_author(const nlohmann::json& author);
  void put_work(const nlohmann::json& work);
  void remove_author(const std::string& id);

  /// How `author/{id}` (and the works of that author) answer from now on.
  void set_scenario(const std::string& author_id, ScenarioSpec spec);
  void clear_scenarios();

  /// Requests served so far (every route, 304s included), and to one path ("author/1001").
  std::int64_t requests() const;
  std::int64_t requests_to(const std::string& path) const;
  /// A header of the latest request (any route), or "" when it had none.
  std::string last_header(const std::string& name) const;
  /// The User-Agent of the latest request.
  std::string last_user_agent() const;

 private:
  struct State;
  BookInfoFixture();
  std::unique_ptr<State> state_;
};

/// A generated author body in BookInfo's shape: `books` works with one or two editions each,
/// every edition's first contributor being the author, release dates spread over past years,
/// one series over the first three works. Ids: author `id`, works id*100+k, editions
/// id*1000+k*10+e. Deterministic for equal arguments.
nlohmann::json make_author(std::int64_t id, const std::string& name, int books);

}  // namespace shelfjobs::fixtures

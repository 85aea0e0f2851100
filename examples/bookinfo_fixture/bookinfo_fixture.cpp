// SPDX-License-Identifier: MIT
#include "bookinfo_fixture.hpp"

#include <httplib.h>

#include "http_task_queue.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace shelfjobs::fixtures {

namespace {

using nlohmann::json;

// BookInfo ids are ints, but a body may spell them as strings.
std::string id_of(const json& v) {
  if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  if (v.is_string()) return v.get<std::string>();
  return {};
}

std::string member_id(const json& obj, const char* key) {
  if (!obj.is_object()) return {};
  const auto it = obj.find(key);
  return it == obj.end() ? std::string() : id_of(*it);
}

std::string etag_of(const std::string& body) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : body) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "\"%016llx\"", static_cast<unsigned long long>(h));
  return buf;
}

std::string http_date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

// What one request gets, decided under the state's lock and written after it (a slow answer
// waits without holding the lock).
struct Answer {
  int status = 200;
  std::string body;
  // Without a charset parameter: cpp-httplib only compresses content types it knows exactly.
  std::string content_type = "application/json";
  httplib::Headers headers;
  std::chrono::milliseconds delay{0};
  bool validators = false;  // a 200 JSON answer: gets ETag/Last-Modified, may become a 304
  std::time_t modified = 0;
};

Answer text(int status, const std::string& body) {
  Answer a;
  a.status = status;
  a.body = body;
  a.content_type = "text/plain; charset=utf-8";
  return a;
}

Answer not_found() { return text(404, "HTTP 404: Not Found"); }

Answer redirect(int status, const std::string& location) {
  Answer a = text(status, "");
  a.headers.emplace("Location", location);
  return a;
}

Answer json_answer(const json& body, std::time_t modified) {
  Answer a;
  a.body = body.dump();
  a.validators = true;
  a.modified = modified;
  return a;
}

}  // namespace

struct BookInfoFixture::State {
  http_pool::Server server;  // not httplib::ThreadPool: see http_task_queue.hpp
  std::thread thread;
  int port = 0;
  std::atomic<bool> stopping{false};

  mutable std::mutex mu;
  std::map<std::string, json> authors;
  std::map<std::string, json> works;                  // put with put_work
  std::map<std::string, std::time_t> modified;        // "author/1001", "work/5001" -> put time
  std::map<std::string, std::string> work_owner;      // work id -> author id
  std::map<std::string, std::string> edition_author;  // edition id -> author id (a stored author)
  std::map<std::string, std::string> edition_work;    // edition id -> work id (owner not stored)
  std::map<std::string, ScenarioSpec> scenarios;
  std::map<std::string, std::time_t> scenario_at;
  std::map<std::string, int> loading_left;
  std::int64_t total = 0;
  std::map<std::string, std::int64_t> per_path;
  httplib::Headers last_headers;

  // Rebuilds the work and edition indexes from the stored bodies (small data; simplest to
  // keep right across replacements and removals).
  // Puts only mark the index stale; the routes that read it rebuild it first. Rebuilding on every
  // put made loading N authors O(N^2) (minutes for the benchmark's 2,000).
  bool stale = false;
  void ensure_index() {
    if (!stale) return;
    reindex();
    stale = false;
  }

  void reindex() {
    work_owner.clear();
    edition_author.clear();
    edition_work.clear();
    for (const auto& [aid, body] : authors) {
      const auto it = body.find("Works");
      if (it == body.end() || !it->is_array()) continue;
      for (const auto& w : *it) {
        const std::string wid = member_id(w, "ForeignId");
        if (wid.empty()) continue;
        work_owner.emplace(wid, aid);
        if (w.contains("Books") && w["Books"].is_array())
          for (const auto& b : w["Books"]) {
            const std::string eid = member_id(b, "ForeignId");
            if (!eid.empty()) edition_author.emplace(eid, aid);
          }
      }
    }
    for (const auto& [wid, body] : works) {
      if (!work_owner.count(wid) && body.contains("Authors") && body["Authors"].is_array() &&
          !body["Authors"].empty())
        work_owner.emplace(wid, member_id(body["Authors"][0], "ForeignId"));
      const auto owner = work_owner.find(wid);
      const bool stored = owner != work_owner.end() && authors.count(owner->second);
      if (!body.contains("Books") || !body["Books"].is_array()) continue;
      for (const auto& b : body["Books"]) {
        const std::string eid = member_id(b, "ForeignId");
        if (eid.empty() || edition_author.count(eid)) continue;
        if (stored)
          edition_author.emplace(eid, owner->second);
        else
          edition_work.emplace(eid, wid);
      }
    }
  }

  ScenarioSpec scenario_of(const std::string& author_id) const {
    const auto it = scenarios.find(author_id);
    return it == scenarios.end() ? ScenarioSpec{} : it->second;
  }

  std::time_t modified_of(const std::string& key, const std::string& author_id) const {
    std::time_t t = 0;
    if (auto it = modified.find(key); it != modified.end()) t = it->second;
    // A scenario changes what is served, so it counts as a modification.
    if (auto it = scenario_at.find(author_id); it != scenario_at.end()) t = std::max(t, it->second);
    return t;
  }

  // The failure scenarios shared by author/{id} and work/{id}; nullopt: serve the body.
  static std::optional<Answer> failure(const ScenarioSpec& spec) {
    switch (spec.scenario) {
      case Scenario::not_found: return not_found();
      case Scenario::rate_limited: {
        Answer a = text(429, "HTTP 429: Too Many Requests");
        a.headers.emplace("Retry-After", spec.retry_after);
        return a;
      }
      case Scenario::merged: return redirect(301, "/v1/author/" + spec.merge_target);
      case Scenario::server_error: return text(500, "HTTP 500: Internal Server Error");
      default: return std::nullopt;
    }
  }

  static void finish(Answer& a, const ScenarioSpec& spec) {
    if (spec.scenario == Scenario::malformed) a.body = a.body.substr(0, a.body.size() / 2);
    if (spec.scenario == Scenario::slow) a.delay = spec.delay;
  }

  Answer author_answer(const std::string& id) {
    const auto it = authors.find(id);
    const ScenarioSpec spec = scenario_of(id);
    if (auto f = failure(spec)) return *f;
    if (it == authors.end()) return not_found();
    json body = it->second;
    if (spec.scenario == Scenario::loading) {
      int& left = loading_left[id];
      if (left > 0) {
        --left;
        body["Works"] = nullptr;
      }
    }
    if (spec.scenario == Scenario::renamed) body["Name"] = spec.new_name;
    Answer a = json_answer(body, modified_of("author/" + id, id));
    finish(a, spec);
    return a;
  }

  // A work as `GET work/{id}` serves it: the stored work body, or the work taken from its
  // author's body, with `Authors` (the owner) and the author's series that list it.
  Answer work_answer(const std::string& id) {
    ensure_index();
    const auto owner_it = work_owner.find(id);
    const std::string owner = owner_it == work_owner.end() ? std::string() : owner_it->second;
    const ScenarioSpec spec = scenario_of(owner);
    if (auto f = failure(spec)) return *f;
    const auto author_it = authors.find(owner);
    json body;
    if (auto w = works.find(id); w != works.end()) {
      body = w->second;
    } else if (author_it != authors.end()) {
      const json& a = author_it->second;
      if (const auto ws = a.find("Works"); ws != a.end() && ws->is_array())
        for (const auto& w2 : *ws)
          if (member_id(w2, "ForeignId") == id) body = w2;
      // The work's own series, plus the author's series that list it (a work resource carries
      // its series itself; an author resource lists them once, on the author).
      json series = body.is_object() && body.contains("Series") && body["Series"].is_array() ? body["Series"]
                                                                                             : json::array();
      auto listed = [&series](const std::string& sid) {
        return std::any_of(series.begin(), series.end(),
                           [&](const json& x) { return member_id(x, "ForeignId") == sid; });
      };
      if (a.contains("Series") && a["Series"].is_array())
        for (const auto& s : a["Series"]) {
          if (listed(member_id(s, "ForeignId"))) continue;
          if (!s.contains("LinkItems") || !s["LinkItems"].is_array()) continue;
          json links = json::array();
          for (const auto& l : s["LinkItems"])
            if (member_id(l, "ForeignWorkId") == id) links.push_back(l);
          if (links.empty()) continue;
          json copy = s;
          copy["LinkItems"] = std::move(links);
          series.push_back(std::move(copy));
        }
      if (!body.is_null()) body["Series"] = std::move(series);
    }
    if (body.is_null()) return not_found();
    if ((!body.contains("Authors") || body["Authors"].empty()) && author_it != authors.end())
      body["Authors"] = json::array(
          {{{"ForeignId", author_it->second["ForeignId"]}, {"Name", author_it->second.value("Name", "")}}});
    if (spec.scenario == Scenario::renamed && body["Authors"].is_array())
      for (auto& a : body["Authors"])
        if (member_id(a, "ForeignId") == owner) a["Name"] = spec.new_name;
    Answer a = json_answer(body, modified_of(works.count(id) ? "work/" + id : "author/" + owner, owner));
    finish(a, spec);
    return a;
  }

  // Words of `text`, lower case (ASCII letters folded; other bytes kept), split at anything
  // that is not a letter or digit.
  static std::vector<std::string> words(std::string_view text) {
    std::vector<std::string> out;
    std::string w;
    for (const char ch : text) {
      const auto c = static_cast<unsigned char>(ch);
      if (std::isalnum(c) || c >= 0x80) {
        w += static_cast<char>(std::tolower(c));
      } else if (!w.empty()) {
        out.push_back(std::move(w));
        w.clear();
      }
    }
    if (!w.empty()) out.push_back(std::move(w));
    return out;
  }

  Answer search_answer(const std::string& query) {
    const auto wanted = words(query);
    if (wanted.empty()) {
      Answer a;
      a.status = 400;
      a.body = "HTTP 400: Bad Request";
      a.content_type = "text/plain; charset=utf-8";
      return a;
    }
    json hits = json::array();
    for (const auto& [aid, body] : authors) {
      const auto it = body.find("Works");
      if (it == body.end() || !it->is_array()) continue;
      const auto name = words(body.value("Name", ""));
      for (const auto& w : *it) {
        auto have = words(w.value("Title", ""));
        have.insert(have.end(), name.begin(), name.end());
        const bool all = std::all_of(wanted.begin(), wanted.end(), [&](const std::string& x) {
          return std::find(have.begin(), have.end(), x) != have.end();
        });
        if (!all || hits.size() >= 20) continue;
        json book = nullptr;
        if (w.contains("Books") && w["Books"].is_array() && !w["Books"].empty())
          book = w["Books"][0].value("ForeignId", json(nullptr));
        hits.push_back({{"bookId", book},
                        {"workId", w.value("ForeignId", json(nullptr))},
                        {"author", {{"id", body.value("ForeignId", json(nullptr))}}}});
      }
    }
    Answer a = json_answer(hits, std::time(nullptr));
    a.validators = false;
    return a;
  }

  Answer book_answer(const std::string& id) {
    ensure_index();
    // rreading-glasses answers 303 to the author, naming the edition in the query.
    if (auto it = edition_author.find(id); it != edition_author.end())
      return redirect(303, "/v1/author/" + it->second + "?edition=" + id);
    if (auto it = edition_work.find(id); it != edition_work.end())
      return redirect(303, "/v1/work/" + it->second);
    return not_found();
  }
};

BookInfoFixture::BookInfoFixture() : state_(std::make_unique<State>()) {}

std::unique_ptr<BookInfoFixture> BookInfoFixture::start(int port) {
  std::unique_ptr<BookInfoFixture> f(new BookInfoFixture());
  State& s = *f->state_;
  // An idle keep-alive connection holds a server thread until this timeout, and stopping
  // the server waits for those threads: keep it short so a fixture stops quickly.
  s.server.set_keep_alive_timeout(1);
  // Headers and body go out in separate writes; with Nagle's algorithm the body then waits for
  // the client's delayed ACK (40 ms on Linux) on every kept-alive request.
  s.server.set_tcp_nodelay(true);

  s.server.set_pre_routing_handler([&s](const httplib::Request& req, httplib::Response&) {
    std::string path = req.path;
    if (path.rfind("/v1/", 0) == 0) path = path.substr(4);
    std::lock_guard lock(s.mu);
    ++s.total;
    ++s.per_path[path];
    s.last_headers = req.headers;
    return httplib::Server::HandlerResponse::Unhandled;
  });

  auto serve = [&s](const httplib::Request& req, httplib::Response& res, Answer a) {
    // Sleep in small steps so stopping the server does not wait out a long delay.
    const auto until = std::chrono::steady_clock::now() + a.delay;
    while (std::chrono::steady_clock::now() < until && !s.stopping.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (a.validators) {
      const std::string etag = etag_of(a.body);
      const std::string last_modified = http_date(a.modified);
      res.set_header("ETag", etag);
      res.set_header("Last-Modified", last_modified);
      // If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
      const bool not_modified = req.has_header("If-None-Match")
                                    ? req.get_header_value("If-None-Match") == etag
                                    : req.has_header("If-Modified-Since") &&
                                          req.get_header_value("If-Modified-Since") == last_modified;
      if (not_modified) {
        res.status = 304;
        return;
      }
    }
    res.status = a.status;
    for (const auto& [k, v] : a.headers) res.set_header(k.c_str(), v);
    if (!a.body.empty() || a.status == 200) res.set_content(a.body, a.content_type.c_str());
  };

  s.server.Get(R"(/v1/author/([^/]+))", [&s, serve](const httplib::Request& req, httplib::Response& res) {
    Answer a;
    {
      std::lock_guard lock(s.mu);
      a = s.author_answer(req.matches[1]);
    }
    serve(req, res, std::move(a));
  });
  s.server.Get(R"(/v1/work/([^/]+))", [&s, serve](const httplib::Request& req, httplib::Response& res) {
    Answer a;
    {
      std::lock_guard lock(s.mu);
      a = s.work_answer(req.matches[1]);
    }
    serve(req, res, std::move(a));
  });
  s.server.Get(R"(/v1/book/([^/]+))", [&s, serve](const httplib::Request& req, httplib::Response& res) {
    Answer a;
    {
      std::lock_guard lock(s.mu);
      a = s.book_answer(req.matches[1]);
    }
    serve(req, res, std::move(a));
  });
  s.server.Get("/v1/search", [&s, serve](const httplib::Request& req, httplib::Response& res) {
    Answer a;
    {
      std::lock_guard lock(s.mu);
      a = s.search_answer(req.get_param_value("q"));
    }
    serve(req, res, std::move(a));
  });
  s.server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty() && res.status == 404)
      res.set_content("HTTP 404: Not Found", "text/plain; charset=utf-8");
  });

  if (port == 0) {
    s.port = s.server.bind_to_any_port("127.0.0.1");
    if (s.port <= 0) throw std::runtime_error("bookinfo fixture: cannot bind 127.0.0.1");
  } else {
    if (!s.server.bind_to_port("127.0.0.1", port))
      throw std::runtime_error("bookinfo fixture: cannot bind 127.0.0.1:" + std::to_string(port));
    s.port = port;
  }
  s.thread = std::thread([&s] { s.server.listen_after_bind(); });
  // stop() only takes effect once the server runs; wait so the destructor cannot miss it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!s.server.is_running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return f;
}

BookInfoFixture::~BookInfoFixture() {
  state_->stopping = true;
  state_->server.stop();
  if (state_->thread.joinable()) state_->thread.join();
}

std::string BookInfoFixture::base_url() const {
  return "http://127.0.0.1:" + std::to_string(state_->port) + "/v1/";
}

int BookInfoFixture::port() const { return state_->port; }

void BookInfoFixture::load_dir(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  auto read = [](const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("bookinfo fixture: cannot read " + file.string());
    std::stringstream ss;
    ss << in.rdbuf();
    try {
      return json::parse(ss.str());
    } catch (const json::parse_error& e) {
      throw std::runtime_error("bookinfo fixture: " + file.string() + ": " + e.what());
    }
  };
  auto files = [](const fs::path& sub) {
    std::vector<fs::path> out;
    if (!fs::is_directory(sub)) return out;
    for (const auto& e : fs::directory_iterator(sub))
      if (e.is_regular_file() && e.path().extension() == ".json") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
  };
  if (!fs::is_directory(dir / "author") && !fs::is_directory(dir / "work"))
    throw std::runtime_error("bookinfo fixture: " + dir.string() + " has no author/ or work/ folder");
  for (const auto& f : files(dir / "author")) {
    const json body = read(f);
    if (!body.is_object() || member_id(body, "ForeignId").empty())
      throw std::runtime_error("bookinfo fixture: " + f.string() + ": not an author object with a ForeignId");
    put_author(body);
  }
  for (const auto& f : files(dir / "work")) {
    const json body = read(f);
    if (!body.is_object() || member_id(body, "ForeignId").empty())
      throw std::runtime_error("bookinfo fixture: " + f.string() + ": not a work object with a ForeignId");
    put_work(body);
  }
}

void BookInfoFixture::put_author(const nlohmann::json& author) {
  const std::string id = member_id(author, "ForeignId");
  if (id.empty())
    throw std::invalid_argument("bookinfo fixture: put_author needs an object with a ForeignId");
  std::lock_guard lock(state_->mu);
  state_->authors[id] = author;
  state_->modified["author/" + id] = std::time(nullptr);
  state_->stale = true;
}

void BookInfoFixture::put_work(const nlohmann::json& work) {
  const std::string id = member_id(work, "ForeignId");
  if (id.empty()) throw std::invalid_argument("bookinfo fixture: put_work needs an object with a ForeignId");
  std::lock_guard lock(state_->mu);
  state_->works[id] = work;
  state_->modified["work/" + id] = std::time(nullptr);
  state_->stale = true;
}

void BookInfoFixture::remove_author(const std::string& id) {
  std::lock_guard lock(state_->mu);
  state_->authors.erase(id);
  state_->modified.erase("author/" + id);
  state_->stale = true;
}

void BookInfoFixture::set_scenario(const std::string& author_id, ScenarioSpec spec) {
  std::lock_guard lock(state_->mu);
  state_->loading_left[author_id] = spec.scenario == Scenario::loading ? spec.loading_count : 0;
  state_->scenarios[author_id] = std::move(spec);
  state_->scenario_at[author_id] = std::time(nullptr);
}

void BookInfoFixture::clear_scenarios() {
  std::lock_guard lock(state_->mu);
  const std::time_t now = std::time(nullptr);
  for (const auto& [id, spec] : state_->scenarios) state_->scenario_at[id] = now;
  state_->scenarios.clear();
  state_->loading_left.clear();
}

std::int64_t BookInfoFixture::requests() const {
  std::lock_guard lock(state_->mu);
  return state_->total;
}

std::int64_t BookInfoFixture::requests_to(const std::string& path) const {
  std::lock_guard lock(state_->mu);
  const auto it = state_->per_path.find(path);
  return it == state_->per_path.end() ? 0 : it->second;
}

std::string BookInfoFixture::last_header(const std::string& name) const {
  std::lock_guard lock(state_->mu);
  const auto it = state_->last_headers.find(name);
  return it == state_->last_headers.end() ? std::string() : it->second;
}

std::string BookInfoFixture::last_user_agent() const { return last_header("User-Agent"); }

// ---- make_author --------------------------------------------------------------------------------

nlohmann::json make_author(std::int64_t id, const std::string& name, int books) {
  static const char* const kAdjectives[] = {"Glass", "Silent", "Amber",  "Hollow",  "Iron",
                                            "Paper", "Winter", "Copper", "Distant", "Salt"};
  static const char* const kNouns[] = {"Orchard", "River",    "Lantern", "Harbour", "Archive",   "Garden",
                                       "Tower",   "Meridian", "Atlas",   "Choir",   "Threshold", "Comet"};
  constexpr int kA = static_cast<int>(std::size(kAdjectives));
  constexpr int kN = static_cast<int>(std::size(kNouns));
  auto date = [](int year, int month, int day) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT00:00:00Z", year, month, day);
    return std::string(buf);
  };

  json works = json::array();
  json links = json::array();
  for (int k = 1; k <= books; ++k) {
    std::string title = std::string("The ") + kAdjectives[(k - 1) % kA] + " " + kNouns[((k - 1) / kA) % kN];
    if (k > kA * kN) title += " " + std::to_string(k);
    const int year = 2023 - (k * 3) % 40;
    const int month = (k * 5) % 12 + 1;
    const int day = (k * 7) % 28 + 1;
    const std::int64_t work_id = id * 100 + k;
    const int editions = k % 2 == 0 ? 2 : 1;
    json eds = json::array();
    for (int e = 1; e <= editions; ++e) {
      const std::int64_t eid = id * 1000 + k * 10 + e;
      char isbn[32];
      std::snprintf(isbn, sizeof isbn, "978%010lld", static_cast<long long>(eid % 10000000000LL));
      eds.push_back({{"ForeignId", eid},
                     {"Title", e == 1 ? title : title + " (Audiobook)"},
                     {"Isbn13", isbn},
                     {"Asin", e == 1 ? json(nullptr) : json("B0" + std::to_string(eid))},
                     {"Language", "eng"},
                     {"Format", e == 1 ? "Paperback" : "Audible Audio"},
                     {"Publisher", "Fixture Press"},
                     {"IsEbook", e == 1},
                     {"NumPages", 180 + (k * 37) % 300},
                     // Every other two-edition work has its second edition as the most popular.
                     {"RatingCount", 50 * k + (e == 2 && k % 4 == 0 ? 500 : 0) + e},
                     {"AverageRating", 3.5 + 0.1 * ((k + e) % 10)},
                     {"ReleaseDate", date(year + e - 1, month, day)},
                     {"Contributors", json::array({{{"ForeignId", id}, {"Role", "Author"}}})}});
    }
    works.push_back({{"ForeignId", work_id},
                     {"Title", title},
                     // Every third work leaves its date to its editions, as many real ones do.
                     {"ReleaseDate", k % 3 == 0 ? json(nullptr) : json(date(year, month, day))},
                     {"Genres", json::array({"fiction", k % 2 ? "fantasy" : "mystery"})},
                     {"Books", std::move(eds)},
                     {"Series", json::array()}});
    if (k <= 3)
      links.push_back({{"ForeignWorkId", work_id},
                       {"PositionInSeries", std::to_string(k)},
                       {"SeriesPosition", k},
                       {"Primary", true}});
  }
  json series = json::array();
  if (!links.empty())
    series.push_back({{"ForeignId", id * 10},
                      {"Title", name + " Sequence"},
                      {"Description", "Generated series"},
                      {"LinkItems", std::move(links)}});
  return {{"ForeignId", id},
          {"Name", name},
          {"Description", "A generated author with " + std::to_string(books) + " works."},
          {"RatingCount", 1000 * books},
          {"AverageRating", 4.0},
          {"Works", std::move(works)},
          {"Series", std::move(series)}};
}

}  // namespace shelfjobs::fixtures

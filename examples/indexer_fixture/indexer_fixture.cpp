// SPDX-License-Identifier: MIT
#include "indexer_fixture.hpp"

#include <httplib.h>

#include "http_task_queue.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace shelfjobs::fixtures {

namespace {

constexpr const char* kNewznabNs = "http://www.newznab.com/DTD/2010/feeds/attributes/";
constexpr const char* kTorznabNs = "http://torznab.com/schemas/2015/feed";

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string rfc822(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool icontains(const std::string& hay, const std::string& needle) {
  return lower(hay).find(lower(needle)) != std::string::npos;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

int to_int(const std::string& s, int fallback) {
  int v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() ? v : fallback;
}

std::string error_xml(int code, const std::string& description) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error code=\"" + std::to_string(code) +
         "\" description=\"" + xml_escape(description) + "\"/>\n";
}

const char* kHtml =
    "<!DOCTYPE html>\n<html lang=\"en-US\"><head><title>Just a moment...</title></head>\n"
    "<body><h1>Checking your browser before accessing the indexer.</h1>"
    "<p>This process is automatic. Your browser will redirect to your requested content shortly.</p>"
    "</body></html>\n";

}  // namespace

std::string default_payload(const FixtureRelease& r, FixtureKind kind) {
  if (kind == FixtureKind::torznab) {
    // Bencoded by hand: a .torrent is a dictionary with sorted keys; one 20-byte piece hash
    // (zeros) is enough for clients and blackholes to accept it as well formed.
    auto str = [](const std::string& v) { return std::to_string(v.size()) + ":" + v; };
    const std::string name = r.title.empty() ? std::string("release") : r.title;
    std::string info = "d6:lengthi" + std::to_string(std::max<std::int64_t>(1, r.size)) + "e4:name" +
                       str(name) + "12:piece lengthi262144e6:pieces" + str(std::string(20, '\0')) + "e";
    return "d8:announce" + str("http://127.0.0.1:1/announce") + "4:info" + info + "e";
  }
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<!DOCTYPE nzb PUBLIC \"-//newzBin//DTD NZB 1.1//EN\" "
         "\"http://www.newzbin.com/DTD/nzb/nzb-1.1.dtd\">\n"
         "<nzb xmlns=\"http://www.newzbin.com/DTD/2003/nzb\">\n"
         "<file poster=\"fixture@example.invalid\" date=\"" +
         std::to_string(r.published) + "\" subject=\"&quot;" + xml_escape(r.title) +
         ".epub&quot; yEnc (1/1)\">\n<groups><group>alt.binaries.ebook</group></groups>\n"
         "<segments><segment bytes=\"" +
         std::to_string(std::max<std::int64_t>(1, r.size)) + "\" number=\"1\">" + xml_escape(r.guid) +
         "@fixture.invalid</segment></segments>\n</file>\n</nzb>\n";
}

std::string render_feed(const std::vector<FixtureRelease>& releases, FixtureKind kind,
                        const std::string& base_url, const std::string& attr_prefix, std::int64_t offset,
                        std::int64_t total) {
  const bool torznab = kind == FixtureKind::torznab;
  const std::string p = attr_prefix.empty() ? (torznab ? "torznab" : "newznab") : attr_prefix;
  const std::string ns = torznab ? kTorznabNs : kNewznabNs;
  std::string x;
  x += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x += "<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\" xmlns:" + p + "=\"" + ns +
       "\">\n<channel>\n";
  x += "<atom:link href=\"" + xml_escape(base_url) + "/api\" rel=\"self\" type=\"application/rss+xml\"/>\n";
  x += "<title>shelfjobs fixture indexer</title>\n<description>fixture feed</description>\n";
  x += "<" + p + ":response offset=\"" + std::to_string(offset) + "\" total=\"" +
       std::to_string(total < 0 ? static_cast<std::int64_t>(releases.size()) : total) + "\"/>\n";
  for (const auto& r : releases) {
    const std::string id = xml_escape(r.guid);
    const std::string details = base_url + "/details/" + id;
    const std::string download = base_url + "/download?id=" + id + "&amp;apikey=K";
    x += "<item>\n<title>" + xml_escape(r.title) + "</title>\n";
    x += "<guid isPermaLink=\"true\">" + xml_escape(details) + "</guid>\n";
    x += "<link>" + download + "</link>\n<comments>" + xml_escape(details) + "#comments</comments>\n";
    x += "<pubDate>" + rfc822(r.published) + "</pubDate>\n";
    for (int c : r.categories) x += "<category>" + std::to_string(c) + "</category>\n";
    x += "<enclosure url=\"" + download + "\" length=\"" + std::to_string(r.size) + "\" type=\"" +
         (torznab ? "application/x-bittorrent" : "application/x-nzb") + "\"/>\n";
    auto attr = [&](const std::string& name, const std::string& value) {
      x += "<" + p + ":attr name=\"" + name + "\" value=\"" + xml_escape(value) + "\"/>\n";
    };
    for (int c : r.categories) attr("category", std::to_string(c));
    attr("size", std::to_string(r.size));
    if (!r.author.empty()) attr("author", r.author);
    if (!r.book_title.empty()) attr("booktitle", r.book_title);
    if (torznab) {
      attr("seeders", std::to_string(r.seeders));
      attr("peers", std::to_string(r.peers));
      attr("infohash",
           std::string(40 - std::min<std::size_t>(40, r.guid.size()), '0') + r.guid.substr(0, 40));
      attr("downloadvolumefactor", "1");
      attr("uploadvolumefactor", "1");
    } else {
      attr("guid", r.guid);
      attr("grabs", std::to_string(r.grabs));
      attr("usenetdate", rfc822(r.published));
    }
    x += "</item>\n";
  }
  x += "</channel>\n</rss>\n";
  return x;
}

std::vector<FixtureRelease> make_releases(int count, std::time_t newest, const std::string& prefix) {
  std::vector<FixtureRelease> out;
  for (int i = 0; i < count; ++i) {
    FixtureRelease r;
    const std::string n = std::to_string(i + 1);
    r.author = "Author " + n;
    r.book_title = "Book Title " + n;
    if (i % 2 == 0) {
      r.title = r.author + " - " + r.book_title + " (2019) [EPUB]";
      r.categories = {7020};
      r.size = 1'500'000 + i;
    } else {
      r.title = r.author + " - " + r.book_title + " (Unabridged) [M4B]";
      r.categories = {3030};
      r.size = 300'000'000 + i;
    }
    r.guid = prefix + "-" + n;
    r.published = newest - static_cast<std::time_t>(i) * 3600;
    out.push_back(std::move(r));
  }
  return out;
}

struct IndexerFixture::State {
  http_pool::Server server;  // not httplib::ThreadPool: see http_task_queue.hpp
  std::thread thread;
  int port = 0;
  std::atomic<bool> stopping{false};
  IndexerFixtureOptions options;

  mutable std::mutex mu;
  std::vector<FixtureRelease> releases;  // newest first
  FailureSpec failure;
  std::int64_t total = 0;
  std::map<std::string, std::int64_t> per_t;
  std::map<std::string, std::string> last_query;
  std::int64_t downloads = 0;
  int next_guid = 1;

  std::string base() const { return "http://127.0.0.1:" + std::to_string(port); }

  void sort() {
    for (auto& r : releases)
      if (r.guid.empty()) r.guid = "fixture-" + std::to_string(next_guid++);
    std::stable_sort(releases.begin(), releases.end(), [](const FixtureRelease& a, const FixtureRelease& b) {
      return a.published > b.published;
    });
  }

  std::string caps_xml() const {
    std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<caps>\n";
    x += "<server version=\"1.0\" title=\"shelfjobs fixture\" strapline=\"fixture indexer\"/>\n";
    x += "<limits max=\"" + std::to_string(options.limit_max) + "\" default=\"" +
         std::to_string(options.limit_default) + "\"/>\n";
    x += "<registration available=\"no\" open=\"no\"/>\n<searching>\n";
    x += "<search available=\"yes\" supportedParams=\"q\"/>\n";
    x += "<tv-search available=\"no\" supportedParams=\"q,rid,season,ep\"/>\n";
    x += "<movie-search available=\"no\" supportedParams=\"q,imdbid\"/>\n";
    x += "<audio-search available=\"yes\" supportedParams=\"q\"/>\n";
    if (options.book_search) x += "<book-search available=\"yes\" supportedParams=\"q,author,title\"/>\n";
    x += "</searching>\n<categories>\n";
    x += "<category id=\"3000\" name=\"Audio\"><subcat id=\"3030\" name=\"Audiobook\"/></category>\n";
    x += "<category id=\"7000\" name=\"Books\"><subcat id=\"7020\" name=\"EBook\"/><subcat id=\"7030\" "
         "name=\"Comics\"/></category>\n";
    x += "<category id=\"8000\" name=\"Other\"><subcat id=\"8010\" name=\"Misc\"/></category>\n";
    x += "</categories>\n</caps>\n";
    return x;
  }

  static bool category_matches(const FixtureRelease& r, const std::vector<int>& wanted) {
    if (wanted.empty()) return true;
    for (int w : wanted)
      for (int c : r.categories)
        if (c == w || (w % 1000 == 0 && c / 1000 == w / 1000)) return true;
    return false;
  }

  // The feed answer for a t=search or t=book request (under the lock).
  std::string feed(const httplib::Request& req) const {
    std::vector<int> cats;
    for (const auto& c : split(req.get_param_value("cat"), ',')) cats.push_back(to_int(c, -1));
    const std::string q = req.get_param_value("q");
    const std::string author = req.get_param_value("author");
    const std::string title = req.get_param_value("title");
    std::vector<FixtureRelease> hits;
    for (const auto& r : releases) {
      if (!category_matches(r, cats)) continue;
      bool ok = true;
      for (const auto& w : split(q, ' ')) ok = ok && (icontains(r.title, w) || icontains(r.author, w));
      if (!author.empty()) ok = ok && (icontains(r.author, author) || icontains(r.title, author));
      if (!title.empty()) ok = ok && (icontains(r.book_title, title) || icontains(r.title, title));
      if (ok) hits.push_back(r);
    }
    const int offset = std::max(0, to_int(req.get_param_value("offset"), 0));
    int limit = req.has_param("limit") ? to_int(req.get_param_value("limit"), options.limit_default)
                                       : options.limit_default;
    limit = std::clamp(limit, 0, options.limit_max);
    std::vector<FixtureRelease> page;
    for (int i = offset; i < static_cast<int>(hits.size()) && i < offset + limit; ++i)
      page.push_back(hits[i]);
    return render_feed(page, options.kind, base(), options.attr_prefix, offset,
                       static_cast<std::int64_t>(hits.size()));
  }
};

IndexerFixture::IndexerFixture() : state_(std::make_unique<State>()) {}

std::unique_ptr<IndexerFixture> IndexerFixture::start(IndexerFixtureOptions options, int port) {
  std::unique_ptr<IndexerFixture> f(new IndexerFixture());
  State& s = *f->state_;
  s.options = std::move(options);
  s.server.set_keep_alive_timeout(1);
  s.server.set_tcp_nodelay(true);

  s.server.Get("/api", [&s](const httplib::Request& req, httplib::Response& res) {
    const std::string t = req.get_param_value("t");
    int status = 200;
    std::string body;
    std::string type = "application/rss+xml";
    httplib::Headers headers;
    std::chrono::milliseconds delay{0};
    bool truncate = false;
    {
      std::lock_guard lock(s.mu);
      ++s.total;
      ++s.per_t[t];
      s.last_query.clear();
      for (const auto& [k, v] : req.params) s.last_query[k] = v;
      FailureSpec fail = s.failure;
      if (fail.failure != Failure::none && t == "caps" && !fail.caps_too) fail.failure = Failure::none;
      if (fail.failure != Failure::none && s.failure.times > 0 && --s.failure.times == 0)
        s.failure = FailureSpec{};
      // The normal answer first; a failure replaces or delays it.
      if (t == "caps") {
        body = s.caps_xml();
        type = "application/xml";
      } else if (t == "search" || t == "book") {
        if (!req.has_param("apikey"))
          body = error_xml(200, "Missing parameter (apikey)");
        else if (req.get_param_value("apikey") != s.options.api_key)
          body = error_xml(100, "Incorrect user credentials");
        else
          body = s.feed(req);
      } else {
        body = error_xml(202, "No such function (" + t + ")");
      }
      switch (fail.failure) {
        case Failure::none: break;
        case Failure::error_code: body = error_xml(fail.code, fail.description); break;
        case Failure::http_429:
          status = 429;
          if (!fail.retry_after.empty()) headers.emplace("Retry-After", fail.retry_after);
          body = error_xml(429, "User configurable Indexer Query Limit of 10 in last 1 hour(s) reached.");
          break;
        case Failure::html:
          status = fail.status ? fail.status : 403;
          body = kHtml;
          type = "text/html; charset=UTF-8";
          break;
        case Failure::slow: delay = fail.delay; break;
        case Failure::truncated: truncate = true; break;
        case Failure::server_error:
          status = fail.status ? fail.status : 503;
          body = "Service Unavailable";
          type = "text/plain";
          break;
        case Failure::raw: body = fail.body; break;
      }
    }
    // Sleep in small steps so stopping the server does not wait out a long delay.
    const auto until = std::chrono::steady_clock::now() + delay;
    while (std::chrono::steady_clock::now() < until && !s.stopping.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (truncate) body.resize(body.size() / 2);
    res.status = status;
    for (const auto& [k, v] : headers) res.set_header(k.c_str(), v);
    res.set_content(body, type.c_str());
  });
  s.server.Get("/download", [&s](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.get_param_value("id");
    std::lock_guard lock(s.mu);
    ++s.downloads;
    const FixtureRelease* found = nullptr;
    for (const auto& r : s.releases)
      if (r.guid == id) found = &r;
    if (!found || !found->downloadable) {
      res.status = 404;
      res.set_content("Not Found", "text/plain");
      return;
    }
    const bool torznab = s.options.kind == FixtureKind::torznab;
    res.set_content(found->payload.empty() ? default_payload(*found, s.options.kind) : found->payload,
                    torznab ? "application/x-bittorrent" : "application/x-nzb");
  });
  s.server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) res.set_content("Not Found", "text/plain");
  });

  if (port == 0) {
    s.port = s.server.bind_to_any_port("127.0.0.1");
    if (s.port <= 0) throw std::runtime_error("indexer fixture: cannot bind 127.0.0.1");
  } else {
    if (!s.server.bind_to_port("127.0.0.1", port))
      throw std::runtime_error("indexer fixture: cannot bind 127.0.0.1:" + std::to_string(port));
    s.port = port;
  }
  s.thread = std::thread([&s] { s.server.listen_after_bind(); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!s.server.is_running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return f;
}

IndexerFixture::~IndexerFixture() {
  state_->stopping = true;
  state_->server.stop();
  if (state_->thread.joinable()) state_->thread.join();
}

std::string IndexerFixture::base_url() const { return state_->base(); }
int IndexerFixture::port() const { return state_->port; }
const IndexerFixtureOptions& IndexerFixture::options() const { return state_->options; }

void IndexerFixture::set_releases(std::vector<FixtureRelease> releases) {
  std::lock_guard lock(state_->mu);
  state_->releases = std::move(releases);
  state_->sort();
}

void IndexerFixture::add_releases(std::vector<FixtureRelease> releases) {
  std::lock_guard lock(state_->mu);
  for (auto& r : releases) state_->releases.push_back(std::move(r));
  state_->sort();
}

void IndexerFixture::set_failure(FailureSpec spec) {
  std::lock_guard lock(state_->mu);
  state_->failure = std::move(spec);
}

void IndexerFixture::clear_failure() { set_failure(FailureSpec{}); }

std::int64_t IndexerFixture::requests() const {
  std::lock_guard lock(state_->mu);
  return state_->total;
}

std::int64_t IndexerFixture::downloads() const {
  std::lock_guard lock(state_->mu);
  return state_->downloads;
}

std::int64_t IndexerFixture::requests_with(const std::string& t) const {
  std::lock_guard lock(state_->mu);
  const auto it = state_->per_t.find(t);
  return it == state_->per_t.end() ? 0 : it->second;
}

std::map<std::string, std::string> IndexerFixture::last_query() const {
  std::lock_guard lock(state_->mu);
  return state_->last_query;
}

}  // namespace shelfjobs::fixtures

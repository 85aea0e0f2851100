// SPDX-License-Identifier: MIT
// The Newznab/Torznab client against the fixture indexer over real HTTP on the loopback
// interface: caps and its cache, RSS pages, searches, paging with a high-water mark across syncs,
// and every failure the fixture can produce.

#include <catch2/catch.hpp>

#include <chrono>
#include <ctime>
#include <map>
#include <stop_token>
#include <string>

#include "indexer_fixture.hpp"
#include "loopback.hpp"
#include "shelfjobs/adapters/newznab.hpp"

namespace newznab_client_test {

using namespace shelfjobs;
using namespace shelfjobs::fixtures;
using namespace std::chrono;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The feed's newest release: a fixed time, so marks and dates compare exactly.
constexpr std::time_t kNewest = 1741111330;  // Tue, 04 Mar 2025 18:02:10 GMT

struct Setup {
  std::unique_ptr<IndexerFixture> server;
  std::shared_ptr<ManualClock> clock =
      std::make_shared<ManualClock>(system_clock::from_time_t(kNewest + 3600));
  std::unique_ptr<NewznabClient> client;

  explicit Setup(IndexerFixtureOptions o = {}, int releases = 0, std::string api_key = "fixture-key",
                 milliseconds timeout = seconds(10)) {
    server = IndexerFixture::start(o);
    if (releases > 0) server->set_releases(make_releases(releases, kNewest));
    IndexerSettings s;
    s.name = "fixture";
    s.kind = o.kind == FixtureKind::torznab ? IndexerKind::torznab : IndexerKind::newznab;
    s.base_url = server->base_url() + "/";
    s.api_key = std::move(api_key);
    s.timeout = timeout;
    s.clock = clock;
    client = std::move(NewznabClient::create(s).value());
  }
};

std::string http_date(TimePoint t) {
  const std::time_t tt = system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

TEST_CASE("create refuses a base URL that is not http(s)", "[newznab][indexer]") {
  for (const char* url : {"", "ftp://indexer.example", "not a url", "file:///etc"}) {
    INFO(url);
    IndexerSettings s;
    s.base_url = url;
    auto c = NewznabClient::create(s);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().code == errc::invalid_argument);
  }
  IndexerSettings s;
  s.base_url = "https://indexer.example/";
  s.api_path = "api";
  s.api_key = "k y";
  auto c = NewznabClient::create(s);
  REQUIRE(c.has_value());
  CHECK((*c)->request_url("search", {{"q", "a&b"}}) ==
        "https://indexer.example/api?t=search&q=a%26b&apikey=k%20y");
}

TEST_CASE("caps over HTTP, cached in the client until its TTL", "[newznab][indexer]") {
  Setup t({FixtureKind::newznab, "fixture-key", true, 75, 50});
  auto caps = t.client->caps();
  REQUIRE(caps.has_value());
  CHECK(caps->book_search_available);
  CHECK(caps->can_search_author_title());
  CHECK(caps->page_size() == 75);
  CHECK(t.server->requests_with("caps") == 1);
  CHECK(t.client->caps().has_value());
  CHECK(t.server->requests_with("caps") == 1);  // from the cache
  t.clock->advance(hours(24 * 7));
  CHECK(t.client->caps().has_value());
  CHECK(t.server->requests_with("caps") == 2);  // expired
  CHECK(t.client->caps({}, true).has_value());
  CHECK(t.server->requests_with("caps") == 3);  // fresh
}

TEST_CASE("rss_page asks t=book with the categories, extended=1 and paging, and reads Torznab items",
          "[newznab][indexer]") {
  IndexerFixtureOptions o;
  o.kind = FixtureKind::torznab;
  o.attr_prefix = "tz";  // the prefix differs; the namespace does not
  Setup t(o, 30);
  auto page = t.client->rss_page(10, 5);
  REQUIRE(page.has_value());
  const auto q = t.server->last_query();
  CHECK(q.at("t") == "book");
  CHECK(q.at("cat") == "3030,7020,8010");
  CHECK(q.at("extended") == "1");
  CHECK(q.at("offset") == "10");
  CHECK(q.at("limit") == "5");
  CHECK(q.at("apikey") == "fixture-key");
  REQUIRE(page->releases.size() == 5);
  const Release& r = page->releases[0];
  CHECK(r.title == "Author 11 - Book Title 11 (2019) [EPUB]");
  CHECK(r.author == "Author 11");
  CHECK(r.book_title == "Book Title 11");
  CHECK(r.seeders == 10);
  CHECK(r.peers == 12);
  CHECK(r.infohash.size() == 40);
  CHECK(r.enclosure_type == "application/x-bittorrent");
  CHECK(r.publish_date == system_clock::from_time_t(kNewest - 10 * 3600));
  CHECK(contains(r.download_url.str(), "/download?id=rel-11&apikey=K"));
  CHECK(page->warnings.empty());
  // A limit above the caps' is clamped.
  REQUIRE(t.client->rss_page(0, 1000).has_value());
  CHECK(t.server->last_query().at("limit") == "100");
}

TEST_CASE("rss_page asks t=search when the caps offer no book search", "[newznab][indexer]") {
  IndexerFixtureOptions o;
  o.book_search = false;
  Setup t(o, 3);
  auto page = t.client->rss_page(0, 100);
  REQUIRE(page.has_value());
  CHECK(t.server->last_query().at("t") == "search");
  CHECK(t.server->last_query().count("q") == 0);
  REQUIRE(page->releases.size() == 3);
  CHECK(page->releases[0].grabs == 3);
  CHECK(page->releases[0].enclosure_type == "application/x-nzb");
}

TEST_CASE("search: t=book with author and title, then t=search tiers", "[newznab][indexer]") {
  IndexerFixtureOptions o;
  o.kind = FixtureKind::torznab;
  Setup t(o, 20);
  auto hit = t.client->search("Author 7", "Book Title 7");
  REQUIRE(hit.has_value());
  REQUIRE(hit->releases.size() == 1);
  CHECK(hit->releases[0].book_title == "Book Title 7");
  CHECK(t.server->last_query().at("t") == "book");
  CHECK(t.server->last_query().at("author") == "Author 7");
  CHECK(t.server->last_query().at("title") == "Book Title 7");

  // Nothing anywhere: every tier is asked, the last answer (empty) returned.
  const auto before = t.server->requests();
  auto none = t.client->search("Nobody", "Nothing");
  REQUIRE(none.has_value());
  CHECK(none->releases.empty());
  CHECK(t.server->requests() - before == 3);
  CHECK(t.server->last_query().at("q") == "Nothing");

  auto empty = t.client->search("Author 1", "");
  REQUIRE_FALSE(empty.has_value());
  CHECK(empty.error().code == errc::invalid_argument);
}

TEST_CASE("search without book search uses t=search with title and author as the query",
          "[newznab][indexer]") {
  IndexerFixtureOptions o;
  o.book_search = false;
  Setup t(o, 20);
  auto hit = t.client->search("Author 12", "Book Title 12");
  REQUIRE(hit.has_value());
  REQUIRE(hit->releases.size() == 1);
  CHECK(hit->releases[0].title == "Author 12 - Book Title 12 (Unabridged) [M4B]");
  CHECK(t.server->requests_with("book") == 0);
  CHECK(t.server->last_query().at("q") == "Book Title 12 Author 12");
}

TEST_CASE("fetch_rss pages with a high-water mark across syncs", "[newznab][indexer][paging]") {
  IndexerFixtureOptions o;
  o.limit_max = 100;
  Setup t(o, 150);

  // First sync: one page, the newest release becomes the mark.
  auto first = fetch_rss(*t.client, std::nullopt);
  REQUIRE(first.has_value());
  CHECK(first->stop == PagingStop::first_sync);
  CHECK(first->pages == 1);
  CHECK(first->releases.size() == 100);
  REQUIRE(first->mark.has_value());
  CHECK(first->mark->guid == t.server->base_url() + "/details/rel-1");
  CHECK(first->mark->publish_date == system_clock::from_time_t(kNewest));

  // 250 new releases arrive: pages 1 and 2 are new, page 3 holds the mark.
  t.server->add_releases(make_releases(250, kNewest + 250 * 3600, "new"));
  const auto before = t.server->requests_with("book");
  auto second = fetch_rss(*t.client, first->mark);
  REQUIRE(second.has_value());
  CHECK(second->stop == PagingStop::reached_mark);
  CHECK(second->pages == 3);
  CHECK(t.server->requests_with("book") - before == 3);
  CHECK(second->releases.size() == 250);
  CHECK_FALSE(second->gap_possible);
  CHECK(second->mark->guid == t.server->base_url() + "/details/new-1");
  CHECK(t.server->last_query().at("offset") == "200");

  // Nothing new: the first page holds the mark at once, the mark stays.
  auto third = fetch_rss(*t.client, second->mark);
  REQUIRE(third.has_value());
  CHECK(third->pages == 1);
  CHECK(third->releases.empty());
  CHECK(third->mark->guid == second->mark->guid);

  // 1,200 new releases: paging stops at 1,000 and reports a possible gap.
  t.server->add_releases(make_releases(1200, kNewest + 2000 * 3600, "burst"));
  auto fourth = fetch_rss(*t.client, third->mark);
  REQUIRE(fourth.has_value());
  CHECK(fourth->stop == PagingStop::gap);
  CHECK(fourth->gap_possible);
  CHECK(fourth->pages == 10);
  CHECK(fourth->releases.size() == 1000);
}

TEST_CASE("fetch_rss stops at a page that is not full", "[newznab][indexer][paging]") {
  IndexerFixtureOptions o;
  o.limit_max = 40;
  o.limit_default = 40;
  Setup t(o, 100);
  auto r = fetch_rss(*t.client, HighWaterMark{"unseen", "", system_clock::from_time_t(0)});
  REQUIRE(r.has_value());
  CHECK(r->stop == PagingStop::not_full);
  CHECK(r->pages == 3);  // 40 + 40 + 20
  CHECK(r->releases.size() == 100);
  CHECK_FALSE(r->gap_possible);
}

TEST_CASE("API key errors: a wrong key is permanent, a missing one names the parameter",
          "[newznab][indexer]") {
  {
    Setup t({}, 5, "wrong-key");
    auto page = t.client->rss_page(0, 100);
    REQUIRE_FALSE(page.has_value());
    CHECK(page.error().code == errc::invalid_argument);
    CHECK(indexer_error_kind(page.error()) == ErrorKind::permanent);
    CHECK(contains(page.error().message,
                   "indexer fixture: t=book offset 0: the API key was refused (error 100"));
    CHECK_FALSE(contains(page.error().message, "wrong-key"));  // the key itself never shows
  }
  {
    Setup t({}, 5, "");
    auto page = t.client->rss_page(0, 100);
    REQUIRE_FALSE(page.has_value());
    CHECK(page.error().code == errc::upstream_error);
    CHECK(contains(page.error().message, "error 200: Missing parameter (apikey)"));
  }
}

TEST_CASE(
    "rate limits: the request limit error, and HTTP 429 with Retry-After in seconds, as a date or absent",
    "[newznab][indexer]") {
  Setup t({}, 5);
  const TimePoint now = t.clock->now();
  SECTION("<error> Request limit reached, HTTP 200: one hour") {
    t.server->set_failure({Failure::error_code, 500, "Request limit reached"});
    auto page = t.client->rss_page(0, 100);
    REQUIRE_FALSE(page.has_value());
    CHECK(page.error().code == errc::rate_limited);
    REQUIRE(page.error().retry_after.has_value());
    CHECK(*page.error().retry_after == now + hours(1));
    CHECK(contains(page.error().message, "Request limit reached"));
  }
  SECTION("429 with Retry-After seconds") {
    FailureSpec f{Failure::http_429};
    f.retry_after = "120";
    t.server->set_failure(f);
    auto caps = t.client->caps();
    REQUIRE_FALSE(caps.has_value());
    CHECK(caps.error().code == errc::rate_limited);
    CHECK(*caps.error().retry_after == now + seconds(120));
    CHECK(contains(caps.error().message, "HTTP 429"));
    CHECK(contains(caps.error().message, "retry after 120 s (Retry-After)"));
    CHECK(contains(caps.error().message, "Query Limit of 10"));
  }
  SECTION("429 with Retry-After as an HTTP date") {
    FailureSpec f{Failure::http_429};
    f.retry_after = http_date(now + seconds(300));
    t.server->set_failure(f);
    auto page = t.client->rss_page(0, 100);
    REQUIRE_FALSE(page.has_value());
    CHECK(page.error().code == errc::rate_limited);
    CHECK(*page.error().retry_after == now + seconds(300));
  }
  SECTION("429 without Retry-After: one hour") {
    FailureSpec f{Failure::http_429};
    f.retry_after = "";
    t.server->set_failure(f);
    auto page = t.client->rss_page(0, 100);
    REQUIRE_FALSE(page.has_value());
    CHECK(*page.error().retry_after == now + hours(1));
    CHECK(contains(page.error().message, "(default 1 h)"));
  }
}

TEST_CASE("an HTML page, a 5xx, truncated XML and other error codes are clear errors", "[newznab][indexer]") {
  Setup t({}, 5);
  SECTION("HTML (Cloudflare) with 403") {
    t.server->set_failure({Failure::html});
    auto page = t.client->rss_page(0, 100);
    REQUIRE_FALSE(page.has_value());
    CHECK(page.error().code == errc::upstream_error);
    CHECK(contains(page.error().message, "HTML page instead of XML (HTTP 403): blocked by a proxy"));
  }
  SECTION("HTML with 200") {
    FailureSpec f{Failure::html};
    f.status = 200;
    t.server->set_failure(f);
    auto caps = t.client->caps();
    REQUIRE_FALSE(caps.has_value());
    CHECK(contains(caps.error().message, "HTML page"));
  }
  SECTION("503") {
    t.server->set_failure({Failure::server_error});
    auto page = t.client->rss_page(0, 100);
    REQUIRE_FALSE(page.has_value());
    CHECK(page.error().code == errc::unavailable);
    CHECK(indexer_error_kind(page.error()) == ErrorKind::network);
    CHECK(contains(page.error().message, "HTTP 503"));
  }
  SECTION("truncated XML") {
    FailureSpec f{Failure::truncated};
    f.caps_too = false;
    t.server->set_failure(f);
    auto page = t.client->rss_page(0, 100);
    REQUIRE_FALSE(page.has_value());
    CHECK(page.error().code == errc::upstream_error);
    CHECK(contains(page.error().message, "malformed XML at byte"));
  }
  SECTION("function not available") {
    t.server->set_failure({Failure::error_code, 203, "Function not available"});
    auto page = t.client->rss_page(0, 100);
    REQUIRE_FALSE(page.has_value());
    CHECK(page.error().code == errc::upstream_error);
    CHECK(contains(page.error().message, "error 203: Function not available"));
  }
  SECTION("a failure for one request only: the next one works") {
    FailureSpec f{Failure::server_error};
    f.times = 1;
    t.server->set_failure(f);
    CHECK_FALSE(t.client->rss_page(0, 100).has_value());
    CHECK(t.client->rss_page(0, 100).has_value());
  }
}

TEST_CASE("a failing caps request is not cached", "[newznab][indexer]") {
  Setup t({}, 5);
  FailureSpec f{Failure::server_error};
  f.times = 1;
  t.server->set_failure(f);
  CHECK_FALSE(t.client->caps().has_value());
  CHECK(t.client->caps().has_value());
  CHECK(t.server->requests_with("caps") == 2);
}

TEST_CASE("a timeout and a refused connection are unavailable", "[newznab][indexer]") {
  {
    Setup t({}, 5, "fixture-key", milliseconds(300));
    FailureSpec f{Failure::slow};
    f.delay = seconds(3);
    t.server->set_failure(f);
    const auto start = steady_clock::now();
    auto caps = t.client->caps();
    CHECK(steady_clock::now() - start < seconds(2));
    REQUIRE_FALSE(caps.has_value());
    CHECK(caps.error().code == errc::unavailable);
    CHECK(contains(caps.error().message, "timed out"));
    CHECK_FALSE(is_connect_failure(caps.error()));  // a timeout escalates an indexer's back-off
  }
  {
    const int port = testing::closed_port();
    REQUIRE(port > 0);
    IndexerSettings s;
    s.name = "down";
    s.base_url = "http://127.0.0.1:" + std::to_string(port);
    auto client = NewznabClient::create(s).value();
    auto page = client->rss_page(0, 100);
    REQUIRE_FALSE(page.has_value());
    CHECK(page.error().code == errc::unavailable);
    CHECK(contains(page.error().message, "indexer down: t=caps: cannot connect"));
    CHECK(is_connect_failure(page.error()));
  }
}

TEST_CASE("before_request runs before every request and may cancel it", "[newznab][indexer]") {
  auto server = IndexerFixture::start({});
  server->set_releases(make_releases(150, kNewest));
  int calls = 0;
  bool allow = true;
  IndexerSettings s;
  s.name = "hooked";
  s.base_url = server->base_url();
  s.api_key = "fixture-key";
  s.before_request = [&](std::stop_token) {
    ++calls;
    return allow;
  };
  auto client = NewznabClient::create(s).value();
  auto fetched =
      fetch_rss(*client, HighWaterMark{"none", "", system_clock::from_time_t(kNewest - 10 * 86400)});
  REQUIRE(fetched.has_value());
  CHECK(calls == 1 + fetched->pages);  // caps, then each page
  CHECK(calls == server->requests());
  allow = false;
  auto refused = client->rss_page(0, 100);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == errc::cancelled);
  CHECK(calls == server->requests() + 1);  // asked, refused, nothing sent
}

TEST_CASE("a cancelled request is cancelled", "[newznab][indexer]") {
  Setup t({}, 5);
  std::stop_source stop;
  stop.request_stop();
  auto caps = t.client->caps(stop.get_token());
  REQUIRE_FALSE(caps.has_value());
  CHECK(caps.error().code == errc::cancelled);
  CHECK(t.server->requests() == 0);
}

TEST_CASE("bytes that are not UTF-8 and a size out of range do not fail the page", "[newznab][indexer]") {
  Setup t({}, 0);
  FailureSpec f{Failure::raw};
  f.caps_too = false;
  f.body =
      std::string(
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss xmlns:newznab=\"http://www.newznab.com/DTD/2010/"
          "feeds/attributes/\"><channel>"
          "<item><title>Andr\xE9 Author - L'\xE9t\xE9 (2019) [EPUB]</title><guid>a</guid>"
          "<enclosure url=\"http://x/a\" type=\"application/x-nzb\"/></item>"
          "<item><title>Big - Size</title><guid>b</guid><enclosure url=\"http://x/b\"/>") +
      "<newznab:attr name=\"size\" value=\"99999999999999999999\"/></item></channel></rss>";
  t.server->set_failure(f);
  auto page = t.client->rss_page(0, 100);
  REQUIRE(page.has_value());
  CHECK(page->items == 2);
  REQUIRE(page->releases.size() == 1);
  CHECK(contains(page->releases[0].title.str(), "Andr\xEF\xBF\xBD Author"));
  REQUIRE(page->skipped.size() == 1);
  CHECK(contains(page->skipped[0], "item 2 (Big - Size): size '99999999999999999999'"));
  REQUIRE(page->warnings.size() == 1);
  CHECK(contains(page->warnings[0], "not UTF-8"));
}

TEST_CASE("a failing page fails the whole fetch_rss, so no mark is taken from a partial sync",
          "[newznab][indexer][paging]") {
  Setup t({}, 150);
  FailureSpec f{Failure::truncated};
  f.caps_too = false;
  t.server->set_failure(f);
  auto r = fetch_rss(*t.client, HighWaterMark{"unseen", "", system_clock::from_time_t(0)});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == errc::upstream_error);
}

}  // namespace newznab_client_test

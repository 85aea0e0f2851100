// SPDX-License-Identifier: MIT
// The BookInfo client: the mapping on literal bodies, and the client against the fixture server
// over real HTTP on the loopback interface with a real SQLite cache file.

#include <catch2/catch.hpp>

#include <httplib.h>

#include "http_task_queue.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <stop_token>
#include <string>
#include <thread>

#include "adapters/http_client.hpp"
#include "bookinfo_fixture.hpp"
#include "loopback.hpp"
#include "shelfjobs/adapters/metadata.hpp"
#include "shelfjobs/version.hpp"
#include "test_support.hpp"

using namespace shelfjobs;
using namespace testing;
using namespace std::chrono;
using fixtures::BookInfoFixture;
using fixtures::Scenario;
using fixtures::ScenarioSpec;
using nlohmann::json;

namespace {

const std::string kFixtures = std::string(SHELFJOBS_FIXTURES_DIR) + "/bookinfo";

/// The MetadataError `f` throws; fails the test when it throws nothing or something else.
template <class F>
MetadataError metadata_error_of(F&& f) {
  try {
    f();
  } catch (const MetadataError& e) {
    return e;
  }
  FAIL("expected a MetadataError");
  throw std::logic_error("unreachable");
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

const WorkData* find_work(const AuthorData& a, const std::string& id) {
  for (const auto& w : a.works)
    if (w.foreign_id == id) return &w;
  return nullptr;
}

const EditionData* monitored(const WorkData& w) {
  const EditionData* m = nullptr;
  for (const auto& e : w.editions)
    if (e.monitored) {
      REQUIRE(m == nullptr);  // exactly one
      m = &e;
    }
  return m;
}

Date bookinfo_ymd(int y, unsigned m, unsigned d) { return Date(year(y) / month(m) / day(d)); }

/// The fixture server with the fixture files, a manual clock and a cache file in a temp dir.
/// Declare it before any source so the source (and its pooled connections) goes first.
struct Env {
  TempDir dir;
  std::unique_ptr<BookInfoFixture> server = BookInfoFixture::start();
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();

  Env() { server->load_dir(kFixtures); }

  BookInfoOptions options() const {
    BookInfoOptions o;
    o.base_url = server->base_url();
    o.cache_path = dir.path() / "metadata-cache.db";
    o.clock = clock;
    o.logger = quiet_logger();
    o.connect_timeout = 2s;
    o.timeout = 5s;
    return o;
  }
  std::shared_ptr<MetadataSource> source(BookInfoOptions o) const {
    auto r = make_bookinfo_source(std::move(o));
    REQUIRE(r.has_value());
    return *r;
  }
  std::shared_ptr<MetadataSource> source() const { return source(options()); }
};

/// An author body from make_author, moved to another id: the author's ForeignId and every
/// contributor naming the old id.
json rekey(json author, std::int64_t from, std::int64_t to, const std::string& name) {
  author["ForeignId"] = to;
  author["Name"] = name;
  for (auto& w : author["Works"])
    for (auto& b : w["Books"])
      for (auto& c : b["Contributors"])
        if (c["ForeignId"] == from) c["ForeignId"] = to;
  return author;
}

/// A loopback server whose answers the test writes, for what the fixture never does.
class TinyServer {
 public:
  explicit TinyServer(httplib::Server::Handler handler) {
    server_.Get(R"(/.*)", std::move(handler));
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    REQUIRE(eventually([&] { return server_.is_running(); }));
  }
  ~TinyServer() {
    server_.stop();
    thread_.join();
  }
  TinyServer(const TinyServer&) = delete;
  TinyServer& operator=(const TinyServer&) = delete;
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1/"; }

 private:
  http_pool::Server server_;
  int port_ = 0;
  std::thread thread_;
};

// A minimal valid author body: one work with one edition by author 1.
const char* const kAuthor = R"({"ForeignId":1,"Name":"One","Works":[{"ForeignId":10,"Title":"Ten",
  "Books":[{"ForeignId":100,"Title":"Ten","RatingCount":1,"AverageRating":1,
  "Contributors":[{"ForeignId":1,"Role":"Author"}]}]}],"Series":[]})";

}  // namespace

// ---- mapping on literal bodies ----------------------------------------------------------------

TEST_CASE("mapping: a minimal author, ids as ints or strings, unknown keys ignored", "[bookinfo]") {
  const AuthorData a = parse_bookinfo_author(kAuthor);
  CHECK(a.foreign_id == "1");
  CHECK(a.name == "One");
  REQUIRE(a.works.size() == 1);
  CHECK(a.works[0].foreign_id == "10");
  REQUIRE(a.works[0].editions.size() == 1);
  CHECK(a.works[0].editions[0].monitored);
  CHECK(a.works[0].editions[0].contributor_ids == std::vector<std::string>{"1"});
  CHECK_FALSE(a.status.has_value());

  const AuthorData s = parse_bookinfo_author(R"({"ForeignId":"1","Name":"One","Status":"Ended",
    "Unknown":{"x":[1,2]},"Works":[{"ForeignId":"10","Title":"Ten","Extra":true,
    "Books":[{"ForeignId":"100","Title":"Ten","RatingCount":1,"AverageRating":1,
    "Contributors":[{"ForeignId":"1"}]}]}]})");
  CHECK(s.foreign_id == "1");
  REQUIRE(s.works.size() == 1);
  CHECK(s.works[0].foreign_id == "10");
  CHECK(s.works[0].editions[0].foreign_id == "100");
  REQUIRE(s.status.has_value());
  CHECK(*s.status == AuthorStatus::ended);
}

TEST_CASE("mapping: Name and Works are required; Works null means not ready", "[bookinfo]") {
  auto e = metadata_error_of([] { parse_bookinfo_author(R"({"ForeignId":1,"Works":[]})"); });
  CHECK(e.code() == MetadataErrc::invalid);
  CHECK(e.kind() == ErrorKind::permanent);
  CHECK(contains(e.what(), "missing Name"));

  e = metadata_error_of([] { parse_bookinfo_author(R"({"ForeignId":1,"Name":"","Works":[]})"); });
  CHECK(contains(e.what(), "missing Name"));

  e = metadata_error_of([] { parse_bookinfo_author(R"({"ForeignId":1,"Name":"One"})"); });
  CHECK(e.code() == MetadataErrc::invalid);
  CHECK(contains(e.what(), "missing Works"));

  e = metadata_error_of([] { parse_bookinfo_author(R"({"ForeignId":1,"Name":"One","Works":null})"); });
  CHECK(e.code() == MetadataErrc::not_ready);
  CHECK(e.kind() == ErrorKind::rate_limited);

  e = metadata_error_of([] { parse_bookinfo_author(R"({"ForeignId":1,"Name":"One","Works":{}})"); });
  CHECK(e.code() == MetadataErrc::invalid);
  CHECK(contains(e.what(), "Works"));

  e = metadata_error_of([] { parse_bookinfo_author(R"({"Name":"One","Works":[]})"); });
  CHECK(contains(e.what(), "missing ForeignId"));
}

TEST_CASE("mapping: malformed JSON and wrong types are invalid, naming the place", "[bookinfo]") {
  auto e = metadata_error_of([] { parse_bookinfo_author(R"({"ForeignId":1,"Name":"One","Works":[)"); });
  CHECK(e.code() == MetadataErrc::invalid);
  CHECK(e.kind() == ErrorKind::permanent);
  CHECK(contains(e.what(), "malformed JSON at byte"));

  // A number beyond a double: the JSON parser refuses it with another exception than a syntax
  // error; it is invalid data all the same, not an unexpected failure.
  e = metadata_error_of(
      [] { parse_bookinfo_author(R"({"ForeignId":1,"Name":"One","AverageRating":1e400,"Works":[]})"); });
  CHECK(e.code() == MetadataErrc::invalid);
  CHECK(e.kind() == ErrorKind::permanent);
  CHECK(contains(e.what(), "number out of range"));

  e = metadata_error_of([] { parse_bookinfo_author(R"({"ForeignId":1,"Name":7,"Works":[]})"); });
  CHECK(contains(e.what(), "Name: expected a string"));

  e = metadata_error_of([] {
    parse_bookinfo_author(R"({"ForeignId":1,"Name":"One","Works":[{"ForeignId":10,"Title":"T",
      "Books":[{"ForeignId":100,"RatingCount":"many","Contributors":[{"ForeignId":1}]}]}]})");
  });
  CHECK(contains(e.what(), "Works[0].Books[0].RatingCount"));

  e = metadata_error_of([] {
    parse_bookinfo_author(R"({"ForeignId":1,"Name":"One","Works":[{"ForeignId":10,
      "Books":[{"ForeignId":100,"RatingCount":1,"AverageRating":1,"Contributors":[{"ForeignId":1}]}]}]})");
  });
  CHECK(contains(e.what(), "work 10: missing Title"));

  CHECK_THROWS_AS(parse_bookinfo_author("[]"), MetadataError);
}

TEST_CASE("mapping: a work stays only with the author its most popular edition names first", "[bookinfo]") {
  const AuthorData a = parse_bookinfo_author(R"({"ForeignId":1,"Name":"One","Works":[
    {"ForeignId":10,"Title":"Mine","Books":[
      {"ForeignId":100,"RatingCount":10,"AverageRating":2,"Contributors":[{"ForeignId":2}]},
      {"ForeignId":101,"RatingCount":10,"AverageRating":3,"Contributors":[{"ForeignId":1},{"ForeignId":2}]}]},
    {"ForeignId":11,"Title":"Theirs","Books":[
      {"ForeignId":110,"RatingCount":1,"AverageRating":5,"Contributors":[{"ForeignId":1}]},
      {"ForeignId":111,"RatingCount":100,"AverageRating":4,"Contributors":[{"ForeignId":2},{"ForeignId":1}]}]},
    {"ForeignId":0,"Title":"Zero","Books":[{"ForeignId":120,"Contributors":[{"ForeignId":1}]}]},
    {"ForeignId":"abc","Title":"Not numeric","Books":[{"ForeignId":130,"Contributors":[{"ForeignId":1}]}]},
    {"ForeignId":13,"Title":"No editions","Books":[]},
    {"ForeignId":10,"Title":"Mine again","Books":[{"ForeignId":140,"Contributors":[{"ForeignId":1}]}]},
    {"ForeignId":14,"Title":"Tie","Books":[
      {"ForeignId":150,"RatingCount":2,"AverageRating":2,"Contributors":[{"ForeignId":1}],"ReleaseDate":"2001-02-03"},
      {"ForeignId":151,"RatingCount":4,"AverageRating":1,"Contributors":[{"ForeignId":1}],"ReleaseDate":"1999-12-31T00:00:00Z"},
      {"ForeignId":152,"RatingCount":1,"AverageRating":1,"Contributors":[{"ForeignId":1}],"ReleaseDate":"garbage"}]}
  ]})");
  REQUIRE(a.works.size() == 2);  // 10 (once) and 14
  CHECK(a.works[0].foreign_id == "10");
  CHECK(a.works[0].title == "Mine");  // the first of the duplicates
  CHECK(monitored(a.works[0])->foreign_id == "101");
  CHECK(a.works[1].foreign_id == "14");
  CHECK(monitored(a.works[1])->foreign_id == "150");  // a tie goes to the first
  REQUIRE(a.works[1].release_date.has_value());
  CHECK(*a.works[1].release_date == bookinfo_ymd(1999, 12, 31));  // the earliest edition's
  CHECK_FALSE(a.works[1].editions[2].release_date.has_value());
}

TEST_CASE("mapping: the hash ignores key order, whitespace and unknown fields, not content", "[bookinfo]") {
  const AuthorData a = parse_bookinfo_author(kAuthor);
  const AuthorData b = parse_bookinfo_author(R"({ "Series": [], "Works": [ { "Books": [ {
    "Contributors": [ { "Role": "Author", "ForeignId": 1 } ], "AverageRating": 1, "RatingCount": 1,
    "Title": "Ten", "ForeignId": 100, "ImageUrl": "x" } ], "Title": "Ten", "ForeignId": 10, "KCA": "y" } ],
    "Name": "One", "ForeignId": 1, "RatingCount": 5 })");
  CHECK(a.hash.size() == 16);
  CHECK(a.hash == b.hash);
  CHECK(a.works[0].hash == b.works[0].hash);

  std::string renamed = kAuthor;
  renamed.replace(renamed.find("\"Ten\""), 5, "\"Eleven\"");
  const AuthorData c = parse_bookinfo_author(renamed);
  CHECK(c.hash != a.hash);
  CHECK(c.works[0].hash != a.works[0].hash);
}

TEST_CASE("mapping: a work resource needs Books and Authors; its owner comes first", "[bookinfo]") {
  const WorkData w =
      parse_bookinfo_work(R"({"ForeignId":10,"Title":"Ten","ReleaseDate":"2020-01-02T00:00:00Z",
    "Books":[{"ForeignId":100,"RatingCount":3,"AverageRating":4,"Contributors":[{"ForeignId":2}]}],
    "Series":[{"ForeignId":7,"Title":"Seven","LinkItems":[{"ForeignWorkId":10,"PositionInSeries":"1.5",
      "SeriesPosition":1,"Primary":false},{"ForeignWorkId":11,"PositionInSeries":"2"}]}],
    "Authors":[{"ForeignId":1,"Name":"One"},{"ForeignId":2,"Name":"Two"}]})");
  CHECK(w.foreign_id == "10");
  REQUIRE(w.release_date.has_value());
  CHECK(*w.release_date == bookinfo_ymd(2020, 1, 2));
  REQUIRE(w.authors.size() == 2);
  CHECK(w.authors[0].foreign_id == "2");
  CHECK(w.authors[1].foreign_id == "1");
  REQUIRE(w.series.size() == 1);
  CHECK(w.series[0].series_foreign_id == "7");
  CHECK(w.series[0].position == "1.5");
  CHECK_FALSE(w.series[0].primary);

  auto e = metadata_error_of(
      [] { parse_bookinfo_work(R"({"ForeignId":10,"Title":"Ten","Authors":[{"ForeignId":1}]})"); });
  CHECK(contains(e.what(), "missing Books"));
  e = metadata_error_of(
      [] { parse_bookinfo_work(R"({"ForeignId":10,"Title":"Ten","Books":[],"Authors":[]})"); });
  CHECK(contains(e.what(), "missing Authors"));
  e = metadata_error_of(
      [] { parse_bookinfo_work(R"({"ForeignId":10,"Books":[],"Authors":[{"ForeignId":1}]})"); });
  CHECK(e.code() == MetadataErrc::invalid);
  CHECK(contains(e.what(), "missing Title"));
}

TEST_CASE("errors: codes have stable names and map to job error kinds", "[bookinfo]") {
  CHECK(to_string(MetadataErrc::not_found) == "not_found");
  CHECK(to_string(MetadataErrc::cancelled) == "cancelled");
  CHECK(MetadataError(MetadataErrc::timeout, "x").kind() == ErrorKind::network);
  CHECK(MetadataError(MetadataErrc::network, "x").kind() == ErrorKind::network);
  CHECK(MetadataError(MetadataErrc::rate_limited, "x").kind() == ErrorKind::rate_limited);
  CHECK(MetadataError(MetadataErrc::invalid, "x").kind() == ErrorKind::permanent);
  CHECK(MetadataError(MetadataErrc::cancelled, "x").kind() == ErrorKind::cancelled);
  CHECK(detail::user_agent() ==
        std::string("shelfjobs/") + kVersion + " (+https://github.com/shelfjobs/shelfjobs)");
}

// ---- the client over HTTP -----------------------------------------------------------------------

TEST_CASE("client: an author with the mapping rules applied, and the User-Agent sent", "[bookinfo]") {
  Env env;
  auto src = env.source();
  const AuthorData a = src->author("1001");
  CHECK(env.server->last_user_agent() == detail::user_agent());
  // Compression, gzip or deflate: what every server speaks, and cheap for it to produce.
  CHECK(env.server->last_header("Accept-Encoding").find("gzip") != std::string::npos);
  CHECK(env.server->last_header("Accept-Encoding").find("br") == std::string::npos);
  CHECK(a.foreign_id == "1001");
  CHECK(a.name == "Ada Example");
  CHECK(contains(a.overview, "orchards"));
  REQUIRE(a.works.size() == 3);

  const WorkData* glass = find_work(a, "5001");
  REQUIRE(glass);
  CHECK(glass->title == "The Glass Orchard");
  CHECK(*glass->release_date == bookinfo_ymd(2021, 5, 4));
  CHECK(glass->genres == std::vector<std::string>{"fantasy", "fiction"});
  REQUIRE(glass->editions.size() == 2);
  CHECK(monitored(*glass)->foreign_id == "9002");  // 200*4.0 beats 10*4.1
  CHECK(glass->editions[0].isbn13 == "9780000000002");
  CHECK(glass->editions[0].is_ebook);
  CHECK(glass->editions[0].pages == 352);
  CHECK(glass->editions[1].asin.empty());
  REQUIRE(glass->series.size() == 1);
  CHECK(glass->series[0].series_foreign_id == "7001");
  CHECK(glass->series[0].series_title == "The Orchard Cycle");
  CHECK(glass->series[0].position == "1");
  CHECK(glass->series[0].primary);

  const WorkData* salt = find_work(a, "5002");
  REQUIRE(salt);
  REQUIRE(salt->release_date.has_value());
  CHECK(*salt->release_date == bookinfo_ymd(2018, 11, 1));  // filled from the earliest edition
  CHECK(monitored(*salt)->foreign_id == "9011");            // a tie: the first
  CHECK(salt->series.empty());

  const WorkData* lanterns = find_work(a, "5003");
  REQUIRE(lanterns);
  REQUIRE(lanterns->series.size() == 1);
  CHECK(lanterns->series[0].position == "2");
  CHECK(lanterns->series[0].series_position == 2);
  CHECK_FALSE(lanterns->editions[0].release_date.has_value());  // "sometime in 2023"
  CHECK(lanterns->editions[0].pages == 0);

  // 1002's anthology belongs to 1001 by its most popular edition: dropped from 1002, and not
  // added to 1001 either (it is not in 1001's body).
  const AuthorData b = src->author("1002");
  REQUIRE(b.works.size() == 1);
  CHECK(b.works[0].foreign_id == "5011");
  CHECK(src->stats().requests == 2);
  CHECK(src->stats().bytes > 0);
}

TEST_CASE("client: work/{id}, from the author's data or a stored work", "[bookinfo]") {
  Env env;
  auto src = env.source();
  const WorkData w = src->work("5001");
  CHECK(w.title == "The Glass Orchard");
  REQUIRE(w.authors.size() == 1);
  CHECK(w.authors[0].foreign_id == "1001");
  CHECK(w.authors[0].name == "Ada Example");
  CHECK(monitored(w)->foreign_id == "9002");
  REQUIRE(w.series.size() == 1);
  CHECK(w.series[0].series_foreign_id == "7001");
  // The same mapped work hashes the same from either route.
  CHECK(w.hash == find_work(src->author("1001"), "5001")->hash);

  const WorkData atlas = src->work("5101");
  CHECK(atlas.title == "The Copper Atlas");
  REQUIRE(atlas.release_date.has_value());
  CHECK(*atlas.release_date == bookinfo_ymd(2015, 8, 20));
  REQUIRE(atlas.authors.size() == 1);
  CHECK(atlas.authors[0].name == "Cleo Third");
  CHECK(atlas.series.size() == 1);

  const auto e = metadata_error_of([&] { src->work("5999"); });
  CHECK(e.code() == MetadataErrc::not_found);
  CHECK(contains(e.what(), "work 5999"));
}

TEST_CASE("client: book/{id} resolves through its redirect to an author or a work", "[bookinfo]") {
  Env env;
  auto src = env.source();
  const EditionLookup a = src->edition("9001");
  CHECK(a.author_foreign_id == "1001");
  CHECK(a.work_foreign_id.empty());
  const EditionLookup w = src->edition("9101");
  CHECK(w.work_foreign_id == "5101");
  CHECK(w.author_foreign_id.empty());
  const auto e = metadata_error_of([&] { src->edition("1"); });
  CHECK(e.code() == MetadataErrc::not_found);
  CHECK(contains(e.what(), "book 1"));
}

TEST_CASE("client: search?q= finds books by title and author, best first", "[bookinfo]") {
  Env env;
  auto src = env.source();
  const auto hits = src->search("glass orchard ada example");
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].work_foreign_id == "5001");
  CHECK(hits[0].author_foreign_id == "1001");
  CHECK_FALSE(hits[0].edition_foreign_id.empty());
  CHECK(src->search("Ada Example").size() >= 2);  // every work of the author
  CHECK(src->search("no such words anywhere").empty());
  // Answers are cached like the others: the same query asks the server once.
  const auto before = env.server->requests_to("search");
  (void)src->search("Ada Example");
  CHECK(env.server->requests_to("search") == before);
  CHECK(metadata_error_of([&] { src->search(""); }).code() == MetadataErrc::invalid);
}

TEST_CASE("mapping: search hits as ints or strings; hits without work or author are skipped", "[bookinfo]") {
  const auto hits = parse_bookinfo_search(
      R"([{"bookId":9001,"workId":5001,"author":{"id":1001}},{"bookId":"9","workId":"5","author":{"id":"1"}},
          {"bookId":1,"workId":2},{"workId":3,"author":{"id":null}},{"bookId":1,"author":{"id":4}}])");
  REQUIRE(hits.size() == 2);
  CHECK(hits[0].edition_foreign_id == "9001");
  CHECK(hits[1].author_foreign_id == "1");
  CHECK(parse_bookinfo_search("[]").empty());
  for (const char* bad : {"{}", "[1]", R"([{"workId":1,"author":7}])", "[{", R"([{"workId":[1]}])"}) {
    INFO(bad);
    const auto e = metadata_error_of([&] { (void)parse_bookinfo_search(bad); });
    CHECK(e.code() == MetadataErrc::invalid);
    CHECK(contains(e.what(), "search"));
  }
}

TEST_CASE("client: book/{id} must redirect; other 4xx are invalid", "[bookinfo]") {
  TinyServer tiny([](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/v1/book/1") {
      res.set_content("{}", "application/json");
    } else if (req.path == "/v1/book/2") {
      res.status = 302;
      res.set_header("Location", "/v1/series/7");
    } else {
      res.status = 400;
      res.set_content("HTTP 400: Bad Request", "text/plain");
    }
  });
  BookInfoOptions o;
  o.base_url = tiny.base_url();
  o.logger = quiet_logger();
  auto src = make_bookinfo_source(o).value();
  auto e = metadata_error_of([&] { src->edition("1"); });
  CHECK(e.code() == MetadataErrc::invalid);
  CHECK(contains(e.what(), "book 1: expected a redirect"));
  e = metadata_error_of([&] { src->edition("2"); });
  CHECK(e.code() == MetadataErrc::invalid);
  CHECK(contains(e.what(), "names neither"));
  e = metadata_error_of([&] { src->author("3"); });
  CHECK(e.code() == MetadataErrc::invalid);
  CHECK(e.kind() == ErrorKind::permanent);
  CHECK(e.http_status() == 400);
  CHECK(contains(e.what(), "author 3: HTTP 400"));
}

TEST_CASE("client: a merged author answers with its new id; its works redirect to it", "[bookinfo]") {
  Env env;
  // Author 21 merged into 31, which holds the same works.
  env.server->put_author(fixtures::make_author(21, "Old Name", 2));
  env.server->put_author(rekey(fixtures::make_author(21, "Old Name", 2), 21, 31, "New Name"));
  ScenarioSpec merged;
  merged.scenario = Scenario::merged;
  merged.merge_target = "31";
  env.server->set_scenario("21", merged);
  auto src = env.source();

  const AuthorData a = src->author("21");
  CHECK(a.foreign_id == "31");
  CHECK(a.name == "New Name");
  CHECK(a.works.size() == 2);
  CHECK(env.server->requests_to("author/21") == 1);
  CHECK(env.server->requests_to("author/31") == 1);

  const WorkData w = src->work("2101");
  CHECK(w.foreign_id == "2101");
  REQUIRE(w.authors.size() == 1);
  CHECK(w.authors[0].foreign_id == "31");
  CHECK(w.authors[0].name == "New Name");
}

TEST_CASE("client: a work redirected to an author that lacks it is invalid, not a 404", "[bookinfo]") {
  Env env;
  ScenarioSpec merged;
  merged.scenario = Scenario::merged;
  merged.merge_target = "1001";
  env.server->set_scenario("1002", merged);
  auto src = env.source();
  const auto e = metadata_error_of([&] { src->work("5011"); });
  CHECK(e.code() == MetadataErrc::invalid);
  CHECK(e.http_status() != 404);
  CHECK(contains(e.what(), "work 5011"));
  CHECK(contains(e.what(), "author 1001"));
}

TEST_CASE("client: one source serves several threads at once", "[bookinfo]") {
  Env env;
  auto src = env.source();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        const AuthorData a = src->author(t % 2 ? "1001" : "1002", {}, /*fresh=*/i % 2 == 0);
        const WorkData w = src->work(t % 2 ? "5001" : "5101");
        ok += !a.works.empty() && !w.editions.empty();
      }
    });
  for (auto& th : threads) th.join();
  CHECK(ok == 20);
  const MetadataStats s = src->stats();
  CHECK(s.requests + s.cache_hits == 40);
}

TEST_CASE("client: Works null is not_ready (rate_limited), then the full author", "[bookinfo]") {
  Env env;
  ScenarioSpec loading;
  loading.scenario = Scenario::loading;
  loading.loading_count = 2;
  env.server->set_scenario("1001", loading);
  auto o = env.options();
  o.not_ready_delay = 3s;
  auto src = env.source(o);
  for (int i = 0; i < 2; ++i) {
    const auto e = metadata_error_of([&] { src->author("1001"); });
    CHECK(e.code() == MetadataErrc::not_ready);
    CHECK(e.kind() == ErrorKind::rate_limited);
    REQUIRE(e.retry_after().has_value());
    CHECK(*e.retry_after() == env.clock->now() + 3s);
    CHECK(contains(e.what(), "author 1001"));
  }
  const AuthorData a = src->author("1001");  // `Works: null` was not cached
  CHECK(a.works.size() == 3);
  CHECK(env.server->requests_to("author/1001") == 3);
}

TEST_CASE("client: 429 with Retry-After in seconds defers the host until then", "[bookinfo]") {
  Env env;
  ScenarioSpec limited;
  limited.scenario = Scenario::rate_limited;
  limited.retry_after = "7";
  env.server->set_scenario("1001", limited);
  auto src = env.source();
  const auto e = metadata_error_of([&] { src->author("1001"); });
  CHECK(e.code() == MetadataErrc::rate_limited);
  CHECK(e.kind() == ErrorKind::rate_limited);
  CHECK(e.http_status() == 429);
  REQUIRE(e.retry_after().has_value());
  CHECK(*e.retry_after() == env.clock->now() + 7s);

  // Before that time no request goes out, even for another author.
  env.server->clear_scenarios();
  const auto again = metadata_error_of([&] { src->author("1002"); });
  CHECK(again.code() == MetadataErrc::rate_limited);
  CHECK(again.retry_after() == e.retry_after());
  CHECK(env.server->requests() == 1);

  env.clock->advance(8s);
  CHECK(src->author("1001").works.size() == 3);
}

TEST_CASE("client: 429 with Retry-After as an HTTP date, or unreadable", "[bookinfo]") {
  Env env;
  env.clock->set(sys_days(year(2030) / 1 / 2) + 10h);
  ScenarioSpec limited;
  limited.scenario = Scenario::rate_limited;
  limited.retry_after = "Wed, 02 Jan 2030 10:02:00 GMT";
  env.server->set_scenario("1001", limited);
  {
    auto src = env.source();
    const auto e = metadata_error_of([&] { src->author("1001"); });
    REQUIRE(e.retry_after().has_value());
    CHECK(*e.retry_after() == env.clock->now() + 120s);
  }
  limited.retry_after = "soon";
  env.server->set_scenario("1001", limited);
  {
    auto src = env.source();
    const auto e = metadata_error_of([&] { src->author("1001"); });
    REQUIRE(e.retry_after().has_value());
    CHECK(*e.retry_after() == env.clock->now() + 60s);  // the default
  }
}

TEST_CASE("client: 404 is not_found, 500 is network, malformed JSON is invalid", "[bookinfo]") {
  Env env;
  auto src = env.source();
  ScenarioSpec spec;

  auto e = metadata_error_of([&] { src->author("4040"); });
  CHECK(e.code() == MetadataErrc::not_found);
  CHECK(e.kind() == ErrorKind::permanent);
  CHECK(e.http_status() == 404);
  CHECK(contains(e.what(), "author 4040"));

  spec.scenario = Scenario::server_error;
  env.server->set_scenario("1001", spec);
  e = metadata_error_of([&] { src->author("1001"); });
  CHECK(e.code() == MetadataErrc::network);
  CHECK(e.kind() == ErrorKind::network);
  CHECK(e.http_status() == 500);

  spec.scenario = Scenario::malformed;
  env.server->set_scenario("1001", spec);
  e = metadata_error_of([&] { src->author("1001"); });
  CHECK(e.code() == MetadataErrc::invalid);
  CHECK(e.kind() == ErrorKind::permanent);
  CHECK(contains(e.what(), "author 1001: malformed JSON at byte"));

  // None of these answers was cached.
  env.server->clear_scenarios();
  CHECK(src->author("1001").works.size() == 3);
  CHECK(env.server->requests_to("author/1001") == 3);
}

TEST_CASE("client: a slow answer past the timeout is a timeout (network)", "[bookinfo]") {
  Env env;
  ScenarioSpec slow;
  slow.scenario = Scenario::slow;
  slow.delay = 1s;
  env.server->set_scenario("1001", slow);
  auto o = env.options();
  o.timeout = 300ms;
  auto src = env.source(o);
  const auto t0 = steady_clock::now();
  const auto e = metadata_error_of([&] { src->author("1001"); });
  CHECK(steady_clock::now() - t0 < 900ms);
  CHECK(e.code() == MetadataErrc::timeout);
  CHECK(e.kind() == ErrorKind::network);
  CHECK(contains(e.what(), "author 1001"));
}

TEST_CASE("client: a stop token cancels a slow request promptly", "[bookinfo]") {
  Env env;
  ScenarioSpec slow;
  slow.scenario = Scenario::slow;
  slow.delay = 3s;
  env.server->set_scenario("1001", slow);
  auto src = env.source();
  std::stop_source stop;
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    stop.request_stop();
  });
  const auto t0 = steady_clock::now();
  const auto e = metadata_error_of([&] { src->author("1001", stop.get_token()); });
  const auto took = steady_clock::now() - t0;
  canceller.join();
  CHECK(took < 1s);
  CHECK(e.code() == MetadataErrc::cancelled);
  CHECK(e.kind() == ErrorKind::cancelled);

  // An already cancelled token sends nothing.
  const auto before = env.server->requests();
  CHECK(metadata_error_of([&] { src->author("1002", stop.get_token()); }).code() == MetadataErrc::cancelled);
  CHECK(env.server->requests() == before);
}

TEST_CASE("client: a renamed author is picked up on a fresh request", "[bookinfo]") {
  Env env;
  auto src = env.source();
  const AuthorData before = src->author("1001");
  ScenarioSpec renamed;
  renamed.scenario = Scenario::renamed;
  renamed.new_name = "Ada Q. Example";
  env.server->set_scenario("1001", renamed);
  CHECK(src->author("1001").name == "Ada Example");  // still fresh in the cache
  const AuthorData after = src->author("1001", {}, /*fresh=*/true);
  CHECK(after.name == "Ada Q. Example");
  CHECK(after.hash != before.hash);
  CHECK(after.works.size() == before.works.size());
}

TEST_CASE("client: the cache answers within its TTL, then revalidates with a 304", "[bookinfo]") {
  Env env;
  auto o = env.options();
  o.cache_ttl = 30min;
  auto src = env.source(o);
  const AuthorData first = src->author("1001");
  CHECK(env.server->requests_to("author/1001") == 1);

  env.clock->advance(29min);
  const AuthorData second = src->author("1001");
  CHECK(env.server->requests_to("author/1001") == 1);
  CHECK(src->stats().cache_hits == 1);
  CHECK(second.hash == first.hash);

  env.clock->advance(2min);  // past the TTL
  const AuthorData third = src->author("1001");
  CHECK(env.server->requests_to("author/1001") == 2);
  CHECK_FALSE(env.server->last_header("If-None-Match").empty());
  CHECK_FALSE(env.server->last_header("If-Modified-Since").empty());
  CHECK(src->stats().revalidated == 1);
  CHECK(third.hash == first.hash);

  // Renewed: fresh again for another TTL.
  env.clock->advance(10min);
  src->author("1001");
  CHECK(env.server->requests_to("author/1001") == 2);

  // fresh=true skips a fresh entry but still revalidates it.
  src->author("1001", {}, /*fresh=*/true);
  CHECK(env.server->requests_to("author/1001") == 3);
  CHECK(src->stats().revalidated == 2);
  CHECK(src->stats().cache_hits == 2);
  CHECK(src->stats().requests == 3);
}

TEST_CASE("client: the cache file outlives the source", "[bookinfo]") {
  Env env;
  {
    auto src = env.source();
    src->author("1001");
    src->work("5101");
  }
  CHECK(std::filesystem::exists(env.dir.path() / "metadata-cache.db"));
  auto src = env.source();
  CHECK(src->author("1001").works.size() == 3);
  CHECK(src->work("5101").title == "The Copper Atlas");
  CHECK(env.server->requests() == 2);
  CHECK(src->stats().cache_hits == 2);
  CHECK(src->stats().requests == 0);
}

TEST_CASE("client: an in-memory cache when no path is given; a base URL without a final slash",
          "[bookinfo]") {
  Env env;
  auto o = env.options();
  o.cache_path.clear();
  o.base_url.pop_back();  // ".../v1"
  auto src = env.source(o);
  src->author("1002");
  src->author("1002");
  CHECK(env.server->requests_to("author/1002") == 1);
  CHECK(src->stats().cache_hits == 1);
}

TEST_CASE("client: a refused connection is a network error", "[bookinfo]") {
  const int port = testing::closed_port();
  REQUIRE(port > 0);
  BookInfoOptions o;
  o.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  o.logger = quiet_logger();
  auto src = make_bookinfo_source(o).value();
  const auto e = metadata_error_of([&] { src->author("1001"); });
  CHECK(e.code() == MetadataErrc::network);
  CHECK(e.kind() == ErrorKind::network);
  CHECK(contains(e.what(), "author 1001"));
}

TEST_CASE("client: requests to a host are spaced by the rate limiter", "[bookinfo]") {
  Env env;
  auto o = env.options();
  o.clock = std::make_shared<SystemClock>();
  o.rate_limiter = std::make_shared<RateLimiter>(o.clock);
  o.rate_limit.min_spacing = 200ms;
  auto limiter = o.rate_limiter;
  auto src = env.source(o);
  const auto t0 = steady_clock::now();
  src->author("1001");
  src->author("1002");
  CHECK(steady_clock::now() - t0 >= 180ms);
  // The source configured the shared limiter's key for the host.
  CHECK(limiter->next_free("metadata:127.0.0.1") > o.clock->now());
}

TEST_CASE("client: a base URL must be http(s) with a host; options are checked", "[bookinfo]") {
  for (const std::string url :
       {"", "ftp://example.org/v1/", "not a url", "http:///v1/", "http://h/v1/?x=1", "file:///tmp/x"}) {
    BookInfoOptions o;
    o.base_url = url;
    INFO(url);
    const auto r = make_bookinfo_source(o);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::invalid_argument);
    CHECK(contains(r.error().message, "base_url"));
  }
  BookInfoOptions o;
  o.base_url = "https://api.example.org/v1";
  o.timeout = 0ms;
  const auto r = make_bookinfo_source(o);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == errc::invalid_argument);

  o.timeout = 1s;
  o.cache_path = "/proc/shelfjobs-no-such-dir/cache.db";
  const auto bad = make_bookinfo_source(o);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == errc::store_error);
}

// SPDX-License-Identifier: MIT
// shelfd's acquisition over real HTTP, as a Readarr client drives it: an indexer and a torrent
// blackhole set up through the provider routes, an author added (its first refresh brings its
// books, and the rule searches them: a release is grabbed into the blackhole), the queue, the
// history, an interactive search with each release's decision, a removal that blocklists, and
// 400/404 (never 500) for bad input.

#include <catch2/catch.hpp>

#include <httplib.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "bookinfo_fixture.hpp"
#include "indexer_fixture.hpp"
#include "loopback.hpp"
#include "process.hpp"
#include "shelfd_daemon.hpp"
#include "test_support.hpp"

#ifndef SHELFD_PATH
#error "SHELFD_PATH must name the shelfd binary"
#endif

namespace acquisition_api_test {

using namespace testing;
using nlohmann::json;
namespace fs = std::filesystem;
namespace fx = shelfjobs::fixtures;

using Daemon = LibraryDaemon;

TEST_CASE("shelfd's acquisition: an added author's book grabbed, the queue, history, releases, blocklist",
          "[shelfd][acquisition]") {
  auto metadata = fx::BookInfoFixture::start();
  metadata->put_author(fx::make_author(3001, "Ada Example", 2));
  Daemon d(metadata->base_url());
  fs::create_directories(d.dir.path() / "drop");
  fs::create_directories(d.dir.path() / "watch");

  // The indexer and the client, as a Readarr client sets them up.
  auto indexer = fx::IndexerFixture::start({.kind = fx::FixtureKind::torznab});
  json torznab = {{"name", "Fixture"},
                  {"implementation", "Torznab"},
                  {"configContract", "TorznabSettings"},
                  {"protocol", "torrent"},
                  {"enableRss", true},
                  {"enableAutomaticSearch", true},
                  {"enableInteractiveSearch", true},
                  {"priority", 25},
                  {"fields", json::array({{{"name", "baseUrl"}, {"value", indexer->base_url()}},
                                          {{"name", "apiPath"}, {"value", "/api"}},
                                          {{"name", "apiKey"}, {"value", "fixture-key"}},
                                          {{"name", "categories"}, {"value", {7020, 3030}}}})}};
  const json idx = d.post("/api/v1/indexer", torznab, 201);
  json blackhole = {
      {"name", "Blackhole"},
      {"implementation", "TorrentBlackhole"},
      {"configContract", "TorrentBlackholeSettings"},
      {"enable", true},
      {"fields", json::array({{{"name", "torrentFolder"}, {"value", (d.dir.path() / "drop").string()}},
                              {{"name", "watchFolder"}, {"value", (d.dir.path() / "watch").string()}}})}};
  d.post("/api/v1/downloadclient", blackhole, 201);

  // The author is added; its refresh brings two books; the search that follows finds one of
  // them as an EPUB and a PDF and grabs the EPUB.
  const json author = d.post("/api/v1/author",
                             {{"foreignAuthorId", "3001"},
                              {"rootFolderPath", (d.dir.path() / "books").string()},
                              {"monitored", true}},
                             201);
  const auto author_id = author["id"].get<long long>();
  REQUIRE(eventually([&] { return d.get("/api/v1/book?authorId=" + std::to_string(author_id)).size() == 2; },
                     std::chrono::seconds(20)));
  const json books = d.get("/api/v1/book?authorId=" + std::to_string(author_id));
  const std::string title = books[0]["title"];
  const auto book_id = books[0]["id"].get<long long>();
  const std::time_t now = std::time(nullptr);
  fx::FixtureRelease epub, pdf;
  epub.title = "Ada Example - " + title + " (2020) [EPUB]";
  epub.guid = "ada-epub";
  epub.published = now - 600;
  pdf = epub;
  pdf.title = "Ada Example - " + title + " (2020) [PDF]";
  pdf.guid = "ada-pdf";
  indexer->set_releases({epub, pdf});
  // The rule's AuthorSearch may have run before the releases existed: ask again, as a user would.
  d.post("/api/v1/command", {{"name", "BookSearch"}, {"bookIds", {book_id}}}, 201);
  REQUIRE(eventually([&] { return d.get("/api/v1/queue")["totalRecords"] == 1; }, std::chrono::seconds(30)));
  // The rule's AuthorSearch may still be searching the other book (2 s between requests): let
  // every search end, so that what follows is the user's doing alone.
  REQUIRE(eventually(
      [&] {
        for (const auto& c : d.get("/api/v1/command"))
          if (c["status"] == "queued" || c["status"] == "started") return false;
        return true;
      },
      std::chrono::seconds(60)));

  const json queue = d.get("/api/v1/queue?page=1&pageSize=10");
  CHECK(queue["page"] == 1);
  const json item = queue["records"][0];
  CHECK(item["title"] == epub.title);
  CHECK(item["bookId"] == book_id);
  CHECK(item["authorId"] == author_id);
  CHECK(item["protocol"] == "torrent");
  CHECK(item["downloadClient"] == "Blackhole");
  CHECK(item["indexer"] == "Fixture");
  CHECK(item["trackedDownloadState"] == "downloading");
  CHECK(fs::exists(d.dir.path() / "drop" / (epub.title + ".torrent")));
  CHECK(d.get("/api/v1/queue/status")["totalCount"] == 1);
  // Readarr's queue/details: a list, each item with its book (by default) and, asked, author.
  const json details = d.get("/api/v1/queue/details");
  REQUIRE(details.is_array());
  REQUIRE(details.size() == 1);
  CHECK(details[0]["id"] == item["id"]);
  CHECK(details[0]["book"]["id"] == book_id);
  CHECK(details[0]["book"]["title"] == title);
  CHECK_FALSE(details[0].contains("author"));
  const json with_author = d.get("/api/v1/queue/details?includeBook=false&includeAuthor=true&authorId=" +
                                 std::to_string(author_id));
  REQUIRE(with_author.size() == 1);
  CHECK_FALSE(with_author[0].contains("book"));
  CHECK(with_author[0]["author"]["authorName"] == "Ada Example");
  CHECK(d.get("/api/v1/queue/details?bookIds=" + std::to_string(book_id)).size() == 1);
  CHECK(d.get("/api/v1/queue/details?bookIds=999999,999998").empty());
  CHECK(d.get("/api/v1/queue/details?authorId=999999").empty());

  const json grabbed = d.get("/api/v1/history?eventType=grabbed");
  REQUIRE(grabbed["totalRecords"] == 1);
  CHECK(grabbed["records"][0]["sourceTitle"] == epub.title);
  CHECK(grabbed["records"][0]["eventType"] == "grabbed");
  CHECK(grabbed["records"][0]["data"]["downloadClient"] == "Blackhole");
  CHECK(d.get("/api/v1/history?eventType=downloadFailed")["totalRecords"] == 0);
  // Readarr's unpaged lists: an author's history, and everything since a day.
  const json of_author = d.get("/api/v1/history/author?authorId=" + std::to_string(author_id));
  REQUIRE(of_author.is_array());
  CHECK(of_author.size() == d.get("/api/v1/history")["totalRecords"]);
  CHECK(of_author[0]["authorId"] == author_id);
  CHECK(d.get("/api/v1/history/author?authorId=" + std::to_string(author_id) + "&eventType=grabbed").size() ==
        1);
  CHECK(d.get("/api/v1/history/author?authorId=999999").empty());
  CHECK(d.get("/api/v1/history/since?date=2000-01-01").size() == of_author.size());
  CHECK(d.get("/api/v1/history/since?date=2999-01-01").empty());
  d.get("/api/v1/history/author", 400);
  d.get("/api/v1/history/since", 400);
  d.get("/api/v1/history/since?date=yesterday", 400);
  d.get("/api/v1/history/since?date=2000-01-01&eventType=nonsense", 400);

  // An interactive search shows both releases with their decisions: the book is in the queue.
  const json releases = d.get("/api/v1/release?bookId=" + std::to_string(book_id));
  REQUIRE(releases.size() == 2);
  for (const auto& r : releases) {
    CHECK(r["bookId"] == book_id);
    CHECK(r["approved"] == false);
    CHECK(r["indexerId"] == idx["id"]);
    CHECK(r["rejections"].dump().find("queue") != std::string::npos);
  }

  // Removed from the queue with the blocklist: the release may not come back.
  d.del("/api/v1/queue/" + item["id"].dump() + "?removeFromClient=true&blocklist=true");
  CHECK(d.get("/api/v1/queue")["totalRecords"] == 0);
  const json blocked = d.get("/api/v1/blocklist");
  REQUIRE(blocked["totalRecords"] == 1);
  CHECK(blocked["records"][0]["sourceTitle"] == epub.title);
  CHECK(blocked["records"][0]["bookIds"] == json::array({book_id}));
  // A user grabs the PDF on purpose from a fresh interactive search.
  const json again = d.get("/api/v1/release?bookId=" + std::to_string(book_id));
  json pick;
  for (const auto& r : again)
    if (r["title"] == pdf.title) pick = r;
  REQUIRE(pick.is_object());
  CHECK(pick["approved"] == true);
  const json sent =
      d.post("/api/v1/release", {{"guid", pick["guid"]}, {"indexerId", pick["indexerId"]}}, 200);
  CHECK(sent["title"] == pdf.title);
  CHECK(d.get("/api/v1/queue")["totalRecords"] == 1);
  // Removed as Readarr's "Remove selected" does; an id that is not on the list is skipped.
  d.call("DELETE", "/api/v1/blocklist/bulk", json{{"ids", {blocked["records"][0]["id"], 999999}}}.dump(),
         200);
  CHECK(d.get("/api/v1/blocklist")["totalRecords"] == 0);
  // The queue's bulk removal: an id not in the queue refuses the whole request (nothing is
  // removed); the ids of the queue are removed (here left in the client).
  const json pdf_item = d.get("/api/v1/queue")["records"][0];
  d.call("DELETE", "/api/v1/queue/bulk", json{{"ids", {pdf_item["id"], 999999}}}.dump(), 404);
  CHECK(d.get("/api/v1/queue")["totalRecords"] == 1);
  d.call("DELETE", "/api/v1/queue/bulk?removeFromClient=false", json{{"ids", {pdf_item["id"]}}}.dump(), 200);
  CHECK(d.get("/api/v1/queue")["totalRecords"] == 0);
  CHECK(fs::exists(d.dir.path() / "drop" / (pdf.title + ".torrent")));  // left in the client

  // Bad input: 400 or 404, never 500.
  d.get("/api/v1/queue?page=0", 400);
  d.get("/api/v1/queue?pageSize=99999999999999999999", 400);
  d.get("/api/v1/history?eventType=nonsense", 400);
  d.get("/api/v1/release", 400);
  d.get("/api/v1/release?bookId=abc", 400);
  d.get("/api/v1/release?bookId=424242", 404);
  d.post("/api/v1/release", json::object(), 400);
  d.post("/api/v1/release", {{"guid", "no-such"}, {"indexerId", idx["id"]}}, 404);
  d.call("POST", "/api/v1/release", "{not json", 400);
  d.del("/api/v1/queue/999999", 404);
  d.del("/api/v1/queue/1?blocklist=maybe", 400);
  d.del("/api/v1/blocklist/999999", 404);
  d.call("DELETE", "/api/v1/blocklist/bulk", R"({"ids": "1"})", 400);
  d.call("DELETE", "/api/v1/blocklist/bulk", R"({"ids": [1.5]})", 400);
  d.call("DELETE", "/api/v1/blocklist/bulk", "{not json", 400);
  d.get("/api/v1/queue/details?authorId=abc", 400);
  d.get("/api/v1/queue/details?bookIds=1,x", 400);
  d.get("/api/v1/queue/details?includeBook=maybe", 400);
  d.call("DELETE", "/api/v1/queue/bulk", R"({"ids": [1.5]})", 400);
  d.call("DELETE", "/api/v1/queue/bulk", R"({"ids": [1]})", 404);
  d.call("DELETE", "/api/v1/queue/bulk", "{not json", 400);
  d.call("DELETE", "/api/v1/queue/bulk?blocklist=maybe", R"({"ids": []})", 400);
}

// The config's acquisition block reaches the decisions: a profile that takes PDFs only
// rejects an EPUB, and an added author is not searched when the setting says so.
TEST_CASE("shelfd's acquisition settings: profiles, sizes and the search after an author is added",
          "[shelfd][acquisition]") {
  auto metadata = fx::BookInfoFixture::start();
  metadata->put_author(fx::make_author(3101, "Ada Example", 1));
  Daemon d(metadata->base_url(), {{"acquisition",
                                   {{"indexerSpacingMs", 0},
                                    {"searchOnAuthorAdded", false},
                                    {"maxSizeMb", {{"ebook", 5}}},
                                    {"profiles", {{"ebook", {{"formats", {"pdf"}}, {"cutoff", "pdf"}}}}}}}});
  auto indexer = fx::IndexerFixture::start({.kind = fx::FixtureKind::torznab});
  d.post("/api/v1/indexer",
         {{"name", "Fixture"},
          {"implementation", "Torznab"},
          {"configContract", "TorznabSettings"},
          {"enableRss", true},
          {"enableAutomaticSearch", true},
          {"enableInteractiveSearch", true},
          {"fields", json::array({{{"name", "baseUrl"}, {"value", indexer->base_url()}},
                                  {{"name", "apiKey"}, {"value", "fixture-key"}}})}},
         201);
  const json author =
      d.post("/api/v1/author",
             {{"foreignAuthorId", "3101"}, {"rootFolderPath", (d.dir.path() / "books").string()}}, 201);
  const auto author_id = author["id"].get<long long>();
  REQUIRE(eventually([&] { return d.get("/api/v1/book?authorId=" + std::to_string(author_id)).size() == 1; },
                     std::chrono::seconds(20)));
  const json book = d.get("/api/v1/book?authorId=" + std::to_string(author_id))[0];
  const std::string title = book["title"];
  fx::FixtureRelease epub, pdf, big;
  epub.title = "Ada Example - " + title + " [EPUB]";
  epub.guid = "e";
  epub.published = std::time(nullptr) - 60;
  pdf = epub;
  pdf.title = "Ada Example - " + title + " [PDF]";
  pdf.guid = "p";
  big = pdf;
  big.title = "Ada Example - " + title + " (Scanned) [PDF]";
  big.guid = "b";
  big.size = 50'000'000;
  indexer->set_releases({epub, pdf, big});

  const json releases = d.get("/api/v1/release?bookId=" + book["id"].dump());
  REQUIRE(releases.size() == 3);
  for (const auto& r : releases) {
    INFO(r.dump());
    const std::string rejections = r["rejections"].dump();
    if (r["guid"] == "e") CHECK(rejections.find("not allowed") != std::string::npos);
    if (r["guid"] == "p") CHECK(rejections.find("not allowed") == std::string::npos);
    if (r["guid"] == "b") CHECK(rejections.find("above the limit of 5 MB") != std::string::npos);
  }
  // No AuthorSearch followed the author's refresh.
  for (const auto& c : d.get("/api/v1/command")) CHECK(c["name"] != "AuthorSearch");

  // A client that asks for the search when adding gets it, though the host's default is off; a
  // choice that is not true or false is a 400 and adds nothing.
  metadata->put_author(fx::make_author(3102, "Bo Example", 1));
  const json bo_body = {{"foreignAuthorId", "3102"},
                        {"rootFolderPath", (d.dir.path() / "books").string()},
                        {"addOptions", {{"monitor", "all"}, {"searchForMissingBooks", "yes"}}}};
  d.post("/api/v1/author", bo_body, 400);
  json asked = bo_body;
  asked["addOptions"]["searchForMissingBooks"] = true;
  const json bo = d.post("/api/v1/author", asked, 201);
  REQUIRE(eventually(
      [&] {
        for (const auto& c : d.get("/api/v1/command"))
          if (c["name"] == "AuthorSearch" && c["body"]["authorId"] == bo["id"]) return true;
        return false;
      },
      std::chrono::seconds(20)));

  // The profiles as Readarr's quality profiles, worst first: the ebook one allows PDF alone.
  auto qualities = [](const json& profile) {
    std::vector<std::pair<int, bool>> out;
    for (const auto& item : profile["items"]) out.emplace_back(item["quality"]["id"], item["allowed"]);
    return out;
  };
  const json profiles = d.get("/api/v1/qualityprofile");
  REQUIRE(profiles.size() == 2);
  CHECK(profiles[0]["name"] == "eBook");
  CHECK(profiles[0]["cutoff"] == 1);  // PDF
  CHECK(qualities(profiles[0]) == std::vector<std::pair<int, bool>>{
                                      {2, false}, {3, false}, {4, false}, {1, true}});  // MOBI EPUB AZW3, PDF
  const json spoken = d.get("/api/v1/qualityprofile/2");
  CHECK(spoken["name"] == "Spoken");
  CHECK(spoken["cutoff"] == 12);  // M4B, the default
  CHECK(qualities(spoken) ==
        std::vector<std::pair<int, bool>>{{10, true}, {11, true}, {12, true}});  // MP3 FLAC M4B
  d.get("/api/v1/qualityprofile/3", 404);
  d.get("/api/v1/qualityprofile/99999999999999999999", 404);
  CHECK(d.get("/api/v1/tag") == json::array());
  CHECK(d.get("/api/v1/tag/detail") == json::array());
  // The quality definitions: every quality, the size limit of its kind (ebook 5 MiB as
  // configured above, audio none by default).
  const json definitions = d.get("/api/v1/qualitydefinition");
  REQUIRE(definitions.size() == 9);
  for (const json& q : definitions) {
    INFO(q.dump());
    if (q["quality"]["name"] == "EPUB") CHECK(q["maxSize"] == 5);
    if (q["quality"]["name"] == "M4B") CHECK(q["maxSize"].is_null());
  }
  // Making a tag is refused by name, not as an unknown route.
  CHECK(d.call("POST", "/api/v1/tag", R"({"label": "x"})", 405)["message"].get<std::string>().find(
            "no tags") != std::string::npos);
  d.call("PUT", "/api/v1/tag/1", R"({"id": 1, "label": "x"})", 405);
  d.call("DELETE", "/api/v1/tag/1", "", 405);
  d.get("/api/v1/tag/1", 404);
}

}  // namespace acquisition_api_test

// SPDX-License-Identifier: MIT
// shelfd's catalog edits over real HTTP, as Readarr's clients make them: root folders that must
// exist, the metadata profile, editing an author (monitored, its folder with and without moving
// it), monitoring books one by one and in bulk, the release calendar, and removing authors with
// and without their folder; each with the domain event the dashboard follows, and 400/404 (never
// 500) for bad input.

#include <catch2/catch.hpp>

#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "bookinfo_fixture.hpp"
#include "loopback.hpp"
#include "process.hpp"
#include "shelfd_daemon.hpp"
#include "test_support.hpp"

namespace catalog_api_test {

using namespace testing;
using nlohmann::json;
namespace fs = std::filesystem;
namespace fx = shelfjobs::fixtures;

// shelfd_daemon.hpp's LibraryDaemon, with the two calls this test makes often.
struct Daemon : LibraryDaemon {
  using LibraryDaemon::LibraryDaemon;

  // Adds author `foreign_id` and waits for its refresh to bring `books` books; returns it.
  json add_author(int foreign_id, std::size_t books_expected) {
    const json added =
        post("/api/v1/author",
             {{"foreignAuthorId", std::to_string(foreign_id)}, {"rootFolderPath", books().string()}}, 201);
    const std::string id = std::to_string(added["id"].get<long long>());
    REQUIRE(eventually([&] { return get("/api/v1/book?authorId=" + id).size() == books_expected; },
                       std::chrono::seconds(20)));
    return get("/api/v1/author/" + id);
  }
  std::string message(const std::string& method, const std::string& path, const std::string& body,
                      int expect) {
    return call(method, path, body, expect)["message"].get<std::string>();
  }
};

std::string contains(const json& books, long long id) {
  for (const auto& b : books)
    if (b["id"] == id) return "yes";
  return "no";
}

TEST_CASE("shelfd: an author keeps a rootFolderPath when its root folder is removed, as in Readarr",
          "[shelfd]") {
  auto metadata = fx::BookInfoFixture::start();
  metadata->put_author(fx::make_author(5301, "Ada Example", 1));
  Daemon d(metadata->base_url());
  const fs::path audio = d.dir.path() / "audio";
  fs::create_directories(audio);
  const json root = d.post("/api/v1/rootfolder", {{"path", audio.string()}}, 201);
  const json added =
      d.post("/api/v1/author", {{"foreignAuthorId", "5301"}, {"rootFolderPath", audio.string()}}, 201);
  const std::string url = "/api/v1/author/" + std::to_string(added["id"].get<long long>());
  CHECK(d.get(url)["rootFolderPath"] == audio.string());
  d.del("/api/v1/rootfolder/" + std::to_string(root["id"].get<long long>()));
  // No root folder holds it now: the folder that holds the author's folder, as Readarr answers.
  CHECK(d.get(url)["rootFolderPath"] == audio.string());
  CHECK(d.get("/api/v1/author")[0].contains("rootFolderPath"));
  d.post("/api/v1/rootfolder", {{"path", audio.string()}}, 201);
  CHECK(d.get(url)["rootFolderPath"] == audio.string());
}

TEST_CASE("shelfd's catalog edits: root folders, profiles, author and book edits, calendar, removal",
          "[shelfd]") {
  auto metadata = fx::BookInfoFixture::start();
  metadata->put_author(fx::make_author(5001, "Ada Example", 3));
  metadata->put_author(fx::make_author(5002, "Bob Writer", 1));
  metadata->put_author(fx::make_author(5003, "Cy Third", 1));
  Daemon d(metadata->base_url());

  // A root folder must exist and be a folder.
  CHECK(
      d.message("POST", "/api/v1/rootfolder", json{{"path", (d.dir.path() / "nowhere").string()}}.dump(), 400)
          .find("does not exist") != std::string::npos);
  std::ofstream(d.dir.file("a-file")) << "x";
  CHECK(d.message("POST", "/api/v1/rootfolder", json{{"path", d.dir.file("a-file")}}.dump(), 400)
            .find("is not a folder") != std::string::npos);
  fs::create_directories(d.dir.path() / "audio");
  const json audio = d.post("/api/v1/rootfolder", {{"path", (d.dir.path() / "audio").string()}}, 201);
  CHECK(audio["accessible"] == true);
  // Read one, remove one (the folder stays on disk); the configuration's own is refused.
  const std::string audio_url = "/api/v1/rootfolder/" + std::to_string(audio["id"].get<long long>());
  CHECK(d.get(audio_url)["path"] == audio["path"]);
  d.del(audio_url);
  d.get(audio_url, 404);
  d.del(audio_url, 404);
  CHECK(fs::is_directory(d.dir.path() / "audio"));
  d.get("/api/v1/rootfolder/99999999999999999999", 404);
  const json configured = d.get("/api/v1/rootfolder");
  REQUIRE(configured.size() == 1);  // the configuration's libraryRoots
  for (const json& r : configured) {
    CHECK(d.message("DELETE", "/api/v1/rootfolder/" + std::to_string(r["id"].get<long long>()), "", 409)
              .find("libraryRoots") != std::string::npos);
  }
  CHECK(d.post("/api/v1/rootfolder", {{"path", (d.dir.path() / "audio").string()}}, 201)["accessible"] ==
        true);

  // The host settings, read-only: they are the configuration file's.
  const json host = d.get("/api/v1/config/host");
  CHECK(host["port"] == d.port);
  CHECK(host["apiKey"] == ShelfdDaemon::kKey);
  CHECK(d.message("PUT", "/api/v1/config/host", host.dump(), 405).find(d.config) != std::string::npos);

  // The one metadata profile, as a client reads it before it adds an author.
  const json profiles = d.get("/api/v1/metadataprofile");
  REQUIRE(profiles.size() == 1);
  CHECK(profiles[0]["id"] == 1);
  CHECK(profiles[0]["minPopularity"] == 0);
  CHECK(profiles[0]["ignored"].empty());
  CHECK(d.get("/api/v1/metadataprofile/1")["name"] == profiles[0]["name"]);
  d.get("/api/v1/metadataprofile/2", 404);

  // Lookups, as a client looks before it adds: by name, and by id.
  const json found = d.get("/api/v1/author/lookup?term=Ada%20Example");
  REQUIRE(found.size() == 1);
  CHECK(found[0]["id"] == 0);
  CHECK(found[0]["foreignAuthorId"] == "5001");
  CHECK(found[0]["statistics"]["bookCount"] == 3);
  CHECK(d.get("/api/v1/author/lookup?term=author:5002")[0]["authorName"] == "Bob Writer");
  d.get("/api/v1/author/lookup?term=author:4040", 404);
  d.get("/api/v1/author/lookup", 400);
  const json works = d.get("/api/v1/book/lookup?term=Bob%20Writer");
  REQUIRE(works.size() == 1);
  CHECK(works[0]["id"] == 0);
  CHECK(works[0]["author"]["foreignAuthorId"] == "5002");
  CHECK_FALSE(works[0]["editions"].empty());

  const json mixed = d.get("/api/v1/search?term=Bob%20Writer");
  REQUIRE(mixed.size() == 2);  // the author where it first comes, then the book
  CHECK(mixed[0]["id"] == 1);
  CHECK(mixed[0]["author"]["foreignAuthorId"] == "5002");
  CHECK(mixed[0]["foreignId"] == "5002");
  CHECK(mixed[1]["book"]["foreignBookId"] == works[0]["foreignBookId"]);
  CHECK(d.get("/api/v1/search?term=work:" +
              works[0]["foreignBookId"].get<std::string>())[0]["book"]["title"] == works[0]["title"]);
  CHECK(d.get("/api/v1/search?term=Nobody%20Known").empty());
  d.get("/api/v1/search", 400);

  EventStream stream(d.port, ShelfdDaemon::kKey);
  json ada = d.add_author(5001, 3);
  const long long ada_id = ada["id"].get<long long>();
  CHECK(d.get("/api/v1/author/lookup?term=author:5001")[0]["id"] == ada_id);  // in the library now
  const std::string ada_url = "/api/v1/author/" + std::to_string(ada_id);
  CHECK(ada["metadataProfileId"] == 1);

  // Edit: the client sends the whole resource back with its change.
  ada["monitored"] = false;
  CHECK(d.put(ada_url, ada, 202)["monitored"] == false);
  CHECK(d.get(ada_url)["monitored"] == false);
  CHECK(stream.wait_for("AuthorEdited", [&](const json& e) {
    return e["authorId"] == ada_id;
  })["author"]["monitored"] == false);
  CHECK(d.message("PUT", ada_url, R"({"monitored": "no"})", 400).find("monitored") != std::string::npos);
  CHECK(d.message("PUT", ada_url + "?moveFiles=maybe", ada.dump(), 400).find("moveFiles") !=
        std::string::npos);
  d.call("PUT", ada_url, "[1]", 400);
  d.put("/api/v1/author/999999", ada, 404);

  // Editions and series, as a book page reads them (the fixture's first three works are a series).
  {
    const json first = d.get("/api/v1/book?authorId=" + std::to_string(ada_id))[0];
    const json editions = d.get("/api/v1/edition?bookId=" + std::to_string(first["id"].get<long long>()));
    REQUIRE_FALSE(editions.empty());
    CHECK(editions[0]["bookId"] == first["id"]);
    CHECK(editions[0]["isbn13"].get<std::string>().size() == 13);
    CHECK(d.get("/api/v1/edition?bookId=999999").empty());
    CHECK(
        d.get("/api/v1/edition?bookId=" + std::to_string(first["id"].get<long long>()) + ",999999").size() ==
        editions.size());
    d.get("/api/v1/edition", 400);
    const json series = d.get("/api/v1/series?authorId=" + std::to_string(ada_id));
    REQUIRE(series.size() == 1);
    CHECK(series[0]["title"] == "Ada Example Sequence");
    CHECK(series[0]["links"].size() == 3);
    d.get("/api/v1/series?authorId=999999", 404);
  }

  // Books: one, several by id, and monitoring them.
  const json books = d.get("/api/v1/book?authorId=" + std::to_string(ada_id));
  REQUIRE(books.size() == 3);
  const long long b1 = books[0]["id"], b2 = books[1]["id"], b3 = books[2]["id"];
  CHECK(d.get("/api/v1/book/" + std::to_string(b1))["title"] == books[0]["title"]);
  d.get("/api/v1/book/999999", 404);
  CHECK(d.get("/api/v1/book?bookIds=" + std::to_string(b1) + "," + std::to_string(b2)).size() == 2);
  CHECK(d.get("/api/v1/book?bookIds=" + std::to_string(b1) + "&bookIds=" + std::to_string(b3)).size() == 2);
  d.get("/api/v1/book?bookIds=1,x", 400);

  const json monitored = d.put("/api/v1/book/monitor", {{"bookIds", {b1, b2}}, {"monitored", false}}, 202);
  REQUIRE(monitored.size() == 2);
  CHECK(monitored[0]["monitored"] == false);
  CHECK(monitored[1]["monitored"] == false);
  CHECK(stream.wait_for("BookEdited",
                        [&](const json& e) { return e["bookId"] == b2; })["book"]["monitored"] == false);
  d.put("/api/v1/book/monitor", {{"bookIds", {b3, 999999}}, {"monitored", false}}, 404);
  CHECK(d.get("/api/v1/book/" + std::to_string(b3))["monitored"] == true);  // nothing changed
  d.put("/api/v1/book/monitor", {{"bookIds", {"x"}}, {"monitored", true}}, 400);
  d.put("/api/v1/book/monitor", {{"bookIds", {b1}}}, 400);
  json third = d.get("/api/v1/book/" + std::to_string(b3));
  third["monitored"] = false;
  CHECK(d.put("/api/v1/book/" + std::to_string(b3), third, 202)["monitored"] == false);
  third["monitored"] = true;
  CHECK(d.put("/api/v1/book/" + std::to_string(b3), third, 202)["monitored"] == true);

  // The calendar: by release day, monitored books only unless asked.
  const std::string day = books[0]["releaseDate"].get<std::string>().substr(0, 10);
  REQUIRE(day.size() == 10);
  const std::string span = "/api/v1/calendar?start=" + day + "&end=" + day + "T23:59:59Z";
  CHECK(contains(d.get(span), b1) == "no");
  CHECK(contains(d.get(span + "&unmonitored=true"), b1) == "yes");
  d.get("/api/v1/calendar?start=2026-13-01", 400);
  d.get("/api/v1/calendar?end=tomorrow", 400);
  CHECK(d.get("/api/v1/calendar").is_array());

  // The author's folder: set (nothing moves), then moved by a MoveAuthor job.
  const fs::path set_to = d.books() / "Set Here";
  ada["path"] = set_to.string();
  CHECK(d.put(ada_url, ada, 202)["path"] == set_to.string());
  CHECK_FALSE(fs::exists(set_to));
  ada["path"] = "/outside/any/root";
  d.put(ada_url, ada, 400);
  d.put(ada_url + "?moveFiles=true", ada, 400);
  fs::create_directories(set_to);
  std::ofstream(set_to / "note.txt") << "mine";
  const fs::path moved_to = d.books() / "Moved Here";
  ada["path"] = moved_to.string();
  d.put(ada_url + "?moveFiles=true", ada, 202);
  stream.wait_for("AuthorMoved", [&](const json& e) { return e["authorId"] == ada_id; });
  CHECK(d.get(ada_url)["path"] == moved_to.string());
  CHECK(fs::exists(moved_to / "note.txt"));
  CHECK_FALSE(fs::exists(set_to));

  // Removal: without files the folder stays; with them it goes.
  d.call("DELETE", ada_url + "?deleteFiles=perhaps", "", 400);
  d.del(ada_url);
  d.get(ada_url, 404);
  d.get("/api/v1/book/" + std::to_string(b1), 404);
  CHECK(fs::exists(moved_to / "note.txt"));
  CHECK(stream.wait_for("AuthorRemoved", [&](const json& e) { return e["authorId"] == ada_id; })["reason"] ==
        "removed by a user");
  d.del(ada_url, 404);

  const json bob = d.add_author(5002, 1);
  const fs::path bob_folder = bob["path"].get<std::string>();
  fs::create_directories(bob_folder);
  std::ofstream(bob_folder / "Bob.epub") << "not really";
  d.del("/api/v1/author/" + std::to_string(bob["id"].get<long long>()) + "?deleteFiles=true");
  CHECK_FALSE(fs::exists(bob_folder));
  CHECK(fs::exists(d.books()));
  CHECK(d.get("/api/v1/author").empty());

  // Readarr's mass editor: every id is checked first, then each author is edited or removed.
  const json cy = d.add_author(5003, 1);
  const long long cy_id = cy["id"].get<long long>();
  d.put("/api/v1/author/editor", {{"authorIds", {cy_id, 999999}}, {"monitored", false}}, 404);
  CHECK(d.get("/api/v1/author/" + std::to_string(cy_id))["monitored"] == true);
  const json edited = d.put("/api/v1/author/editor",
                            {{"authorIds", {cy_id}},
                             {"monitored", false},
                             {"rootFolderPath", (d.dir.path() / "audio").string()},
                             {"qualityProfileId", 1}},
                            202);
  REQUIRE(edited.size() == 1);
  CHECK(edited[0]["monitored"] == false);
  CHECK(edited[0]["path"] == (d.dir.path() / "audio" / "Cy Third").string());
  CHECK(edited[0]["rootFolderPath"] == (d.dir.path() / "audio").string());
  d.put("/api/v1/author/editor", {{"authorIds", {"x"}}}, 400);
  d.put("/api/v1/author/editor", {{"monitored", true}}, 400);
  d.put("/api/v1/author/editor", {{"authorIds", {cy_id}}, {"rootFolderPath", "/no/root/here"}}, 400);
  d.call("DELETE", "/api/v1/author/editor", json{{"authorIds", {cy_id, 999999}}}.dump(), 404);
  CHECK(d.get("/api/v1/author").size() == 1);
  d.call("DELETE", "/api/v1/author/editor",
         json{{"authorIds", {cy_id}}, {"addImportListExclusion", "yes"}}.dump(), 400);
  d.call("DELETE", "/api/v1/author/editor",
         json{{"authorIds", {cy_id, cy_id}}, {"deleteFiles", false}, {"addImportListExclusion", true}}.dump(),
         200);  // an id twice is one removal
  CHECK(d.get("/api/v1/author").empty());
  // The body's addImportListExclusion put the author on the exclusions, under its name.
  const json listed = d.get("/api/v1/importlistexclusion");
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]["foreignId"] == "5003");
  CHECK(listed[0]["authorName"] == cy["authorName"]);
}

// Readarr's clients read more of an author and a book than shelfd's own pages do: a book list
// names each book's author (a CLI prints `author.authorName`), clients sort by the sort names
// and show the statistics. Every field Readarr sends is there, with the catalog's values.
TEST_CASE("shelfd's author and book resources have Readarr's fields", "[shelfd]") {
  auto metadata = fx::BookInfoFixture::start();
  metadata->put_author(fx::make_author(5201, "Ada Example", 3));
  Daemon d(metadata->base_url());

  const json ada = d.add_author(5201, 3);
  const long long ada_id = ada["id"].get<long long>();
  for (const char* key : {"status",
                          "ended",
                          "authorName",
                          "authorNameLastFirst",
                          "sortName",
                          "sortNameLastFirst",
                          "cleanName",
                          "foreignAuthorId",
                          "titleSlug",
                          "overview",
                          "disambiguation",
                          "links",
                          "images",
                          "path",
                          "rootFolderPath",
                          "qualityProfileId",
                          "metadataProfileId",
                          "monitored",
                          "genres",
                          "tags",
                          "added",
                          "ratings",
                          "statistics"}) {
    INFO(key);
    CHECK(ada.contains(key));
  }
  CHECK(ada["authorNameLastFirst"] == "Example, Ada");
  CHECK(ada["sortName"] == "ada example");  // Readarr keeps the name in lower case
  CHECK(ada["sortNameLastFirst"] == "example, ada");
  CHECK(ada["cleanName"] == "adaexample");
  CHECK(ada["titleSlug"] == "5201");
  CHECK(ada["ended"] == (ada["status"] == "ended"));
  CHECK(ada["qualityProfileId"] == 1);
  CHECK(ada["tags"] == json::array());
  const json& stats = ada["statistics"];
  CHECK(stats["totalBookCount"] == 3);
  CHECK(stats["bookCount"] == 3);  // monitored and out
  CHECK(stats["bookFileCount"] == 0);
  CHECK(stats["sizeOnDisk"] == 0);
  CHECK(stats["percentOfBooks"] == 0);

  // Every way of listing books embeds the author, as Readarr's book list does.
  const json all = d.get("/api/v1/book");
  const json of_ada = d.get("/api/v1/book?authorId=" + std::to_string(ada_id));
  REQUIRE(all.size() == 3);
  REQUIRE(of_ada.size() == 3);
  for (const json& list : {all, of_ada}) {
    for (const json& b : list) {
      INFO(b.dump());
      CHECK(b["author"]["id"] == ada_id);
      CHECK(b["author"]["authorName"] == "Ada Example");
      CHECK(b["authorTitle"] == "example, ada " + b["title"].get<std::string>());
      CHECK(b["titleSlug"] == b["foreignBookId"]);
      CHECK(b["anyEditionOk"] == true);
      CHECK(b["statistics"]["totalBookCount"] == 1);
      CHECK(b["statistics"]["bookFileCount"] == 0);
      CHECK(b["images"] == json::array());
      CHECK(b.contains("added"));
    }
  }
  // A book's editions are its edition list's, and its page count is the monitored edition's.
  const json first = d.get("/api/v1/book/" + std::to_string(of_ada[0]["id"].get<long long>()));
  const json editions = d.get("/api/v1/edition?bookId=" + std::to_string(first["id"].get<long long>()));
  CHECK(first["editions"] == editions);
  for (const json& e : editions)
    if (e["monitored"] == true) CHECK(first["pageCount"] == e["pageCount"]);
  CHECK(first["seriesTitle"].get<std::string>().rfind("Ada Example Sequence #", 0) == 0);
  // One edition by its id, as the list has it.
  for (const json& e : editions)
    CHECK(d.get("/api/v1/edition/" + std::to_string(e["id"].get<long long>())) == e);
  d.get("/api/v1/edition/999999", 404);

  // Readarr's count: an unmonitored book without a file is not one the author lacks.
  d.put("/api/v1/book/monitor", {{"bookIds", json::array({first["id"]})}, {"monitored", false}}, 202);
  const json after = d.get("/api/v1/author/" + std::to_string(ada_id))["statistics"];
  CHECK(after["bookCount"] == 2);
  CHECK(after["totalBookCount"] == 3);

  // An author the source has and the library does not: the same fields, id 0.
  metadata->put_author(fx::make_author(5202, "Bo Other", 2));
  const json found = d.get("/api/v1/author/lookup?term=author:5202");
  REQUIRE(found.size() == 1);
  CHECK(found[0]["id"] == 0);
  CHECK(found[0]["sortNameLastFirst"] == "other, bo");
  CHECK(found[0]["statistics"]["totalBookCount"] == 2);
  CHECK(found[0]["monitored"] == false);
}

TEST_CASE("shelfd's monitor choices: addOptions.monitor, the bookshelf and the book editor", "[shelfd]") {
  auto metadata = fx::BookInfoFixture::start();
  metadata->put_author(fx::make_author(5101, "Dee Example", 3));
  metadata->put_author(fx::make_author(5102, "Eve Example", 2));
  metadata->put_author(fx::make_author(5103, "Gil Example", 3));
  Daemon d(metadata->base_url());
  const auto count_monitored = [&](const json& author) {
    int n = 0;
    for (const auto& b : d.get("/api/v1/book?authorId=" + std::to_string(author["id"].get<long long>())))
      n += b["monitored"].get<bool>() ? 1 : 0;
    return n;
  };

  // A choice that is not Readarr's is refused before anything is added.
  CHECK(d.message("POST", "/api/v1/author",
                  json{{"foreignAuthorId", "5101"},
                       {"rootFolderPath", d.books().string()},
                       {"addOptions", {{"monitor", "someday"}}}}
                      .dump(),
                  400)
            .find("must be one of all, future") != std::string::npos);
  CHECK(d.get("/api/v1/author").empty());

  // "none": the author is monitored, none of its books once the refresh brought them.
  const json added = d.post("/api/v1/author",
                            {{"foreignAuthorId", "5101"},
                             {"rootFolderPath", d.books().string()},
                             {"monitored", true},
                             {"addOptions", {{"monitor", "none"}, {"searchForMissingBooks", false}}}},
                            201);
  const std::string dee = std::to_string(added["id"].get<long long>());
  REQUIRE(eventually(
      [&] {
        const json books = d.get("/api/v1/book?authorId=" + dee);
        return books.size() == 3 && count_monitored(added) == 0;
      },
      std::chrono::seconds(20)));
  CHECK(d.get("/api/v1/author/" + dee)["monitored"] == true);
  const json eve = d.add_author(5102, 2);
  CHECK(count_monitored(eve) == 2);  // no choice: every book

  // The bookshelf: an unknown author changes nothing; then Dee's books all, Eve unmonitored.
  const json shelf = {{"authors", {{{"id", added["id"]}, {"monitored", true}}, {{"id", 999999}}}},
                      {"monitoringOptions", {{"monitor", "all"}}}};
  d.post("/api/v1/bookshelf", shelf, 404);
  CHECK(count_monitored(added) == 0);
  d.post("/api/v1/bookshelf",
         {{"authors", {{{"id", added["id"]}}}}, {"monitoringOptions", {{"monitor", "all"}}}}, 202);
  CHECK(count_monitored(added) == 3);
  d.post("/api/v1/bookshelf", {{"authors", {{{"id", eve["id"]}, {"monitored", false}}}}}, 202);
  CHECK(d.get("/api/v1/author/" + std::to_string(eve["id"].get<long long>()))["monitored"] == false);
  CHECK(count_monitored(eve) == 2);  // no monitoringOptions: the books stay
  d.post("/api/v1/bookshelf", {{"authors", json::array({1})}}, 400);
  d.post("/api/v1/bookshelf", {{"authors", {{{"id", "x"}}}}}, 400);
  d.post("/api/v1/bookshelf", {{"authors", {{{"id", added["id"]}}}}, {"monitoringOptions", {{"monitor", 3}}}},
         400);

  // The book editor monitors as /book/monitor does.
  const json books = d.get("/api/v1/book?authorId=" + dee);
  const json edited = d.put("/api/v1/book/editor",
                            {{"bookIds", {books[0]["id"], books[1]["id"]}}, {"monitored", false}}, 202);
  REQUIRE(edited.size() == 2);
  CHECK(edited[0]["monitored"] == false);
  CHECK(count_monitored(added) == 1);
  d.put("/api/v1/book/editor", {{"bookIds", {999999}}, {"monitored", false}}, 404);
  CHECK(count_monitored(added) == 1);
  // Without "monitored" the editor answers the books as they are (Readarr's field is optional).
  const json same = d.put("/api/v1/book/editor", {{"bookIds", {books[0]["id"]}}}, 202);
  REQUIRE(same.size() == 1);
  CHECK(same[0]["monitored"] == false);
  d.put("/api/v1/book/monitor", {{"bookIds", {books[0]["id"]}}}, 400);

  // "none" on the bookshelf unmonitors the author too; the answer echoes the request.
  const json none = {{"authors", {{{"id", added["id"]}, {"monitored", true}}}},
                     {"monitoringOptions", {{"monitor", "none"}}}};
  CHECK(d.post("/api/v1/bookshelf", none, 202) == none);
  CHECK(d.get("/api/v1/author/" + dee)["monitored"] == false);
  CHECK(count_monitored(added) == 0);

  // booksToMonitor: exactly these books, whatever "monitor" says (as Readarr); numbers are ids too.
  const json dee_books = d.get("/api/v1/book?authorId=" + dee);
  REQUIRE(dee_books.size() == 3);
  const std::string chosen = dee_books[1]["foreignBookId"].get<std::string>();
  d.post("/api/v1/bookshelf",
         {{"authors", {{{"id", added["id"]}}}},
          {"monitoringOptions", {{"monitor", "all"}, {"booksToMonitor", {chosen}}}}},
         202);
  for (const json& b : d.get("/api/v1/book?authorId=" + dee))
    CHECK(b["monitored"] == (b["foreignBookId"] == chosen));
  d.post("/api/v1/bookshelf",
         {{"authors", {{{"id", added["id"]}}}},
          {"monitoringOptions",
           {{"booksToMonitor", {std::stoll(dee_books[0]["foreignBookId"].get<std::string>())}}}}},
         202);
  CHECK(count_monitored(added) == 1);
  CHECK(d.message(
             "POST", "/api/v1/bookshelf",
             json{{"authors", {{{"id", added["id"]}}}}, {"monitoringOptions", {{"booksToMonitor", {true}}}}}
                 .dump(),
             400)
            .find("booksToMonitor") != std::string::npos);
  d.post("/api/v1/bookshelf",
         {{"authors", {{{"id", added["id"]}}}}, {"monitoringOptions", {{"booksToMonitor", {-5}}}}}, 400);
  CHECK(count_monitored(added) == 1);
  // An id beyond 64 signed bits stays itself (no book has it: none is monitored then).
  d.post("/api/v1/bookshelf",
         {{"authors", {{{"id", added["id"]}}}},
          {"monitoringOptions", {{"booksToMonitor", {18446744073709551615ULL}}}}},
         202);
  CHECK(count_monitored(added) == 0);
  d.post("/api/v1/bookshelf",
         {{"authors", {{{"id", added["id"]}}}}, {"monitoringOptions", {{"monitor", "none"}}}}, 202);

  // On an author's add: the refresh monitors the listed books alone once they are in.
  const json gil = d.post("/api/v1/author",
                          {{"foreignAuthorId", "5103"},
                           {"rootFolderPath", d.books().string()},
                           {"addOptions", {{"monitor", "all"}, {"booksToMonitor", {"510302"}}}}},
                          201);
  const std::string gil_id = std::to_string(gil["id"].get<long long>());
  REQUIRE(eventually([&] { return d.get("/api/v1/book?authorId=" + gil_id).size() == 3; },
                     std::chrono::seconds(20)));
  REQUIRE(eventually([&] { return count_monitored(gil) == 1; }, std::chrono::seconds(20)));
  for (const json& b : d.get("/api/v1/book?authorId=" + gil_id))
    CHECK(b["monitored"] == (b["foreignBookId"] == "510302"));
  d.post("/api/v1/command", {{"name", "RefreshAuthor"}, {"booksToMonitor", {"510302"}}}, 400);
  d.post("/api/v1/command",
         {{"name", "RefreshAuthor"}, {"authorId", gil["id"]}, {"booksToMonitor", "510302"}}, 400);
  // A RefreshAuthor with a choice for no one author is refused at the push.
  d.post("/api/v1/command", {{"name", "RefreshAuthor"}, {"monitor", "none"}}, 400);
  d.post("/api/v1/command", {{"name", "RefreshAuthor"}, {"authorId", added["id"]}, {"monitor", 5}}, 400);
}

TEST_CASE("shelfd's book removal and import list exclusions, as Readarr's routes", "[shelfd]") {
  auto metadata = fx::BookInfoFixture::start();
  metadata->put_author(fx::make_author(5201, "Fay Example", 3));
  Daemon d(metadata->base_url());
  const json fay = d.add_author(5201, 3);
  const std::string fay_id = std::to_string(fay["id"].get<long long>());
  const auto books_of_fay = [&] { return d.get("/api/v1/book?authorId=" + fay_id); };
  const json books = books_of_fay();
  const std::string first = std::to_string(books[0]["id"].get<long long>());
  const std::string second = std::to_string(books[1]["id"].get<long long>());

  // Removed and excluded: the refresh the client asks for next leaves it out.
  d.del("/api/v1/book/" + first + "?deleteFiles=maybe", 400);
  d.del("/api/v1/book/" + first + "?deleteFiles=true&addImportListExclusion=true");
  d.get("/api/v1/book/" + first, 404);
  d.del("/api/v1/book/" + first, 404);
  json exclusions = d.get("/api/v1/importlistexclusion");
  REQUIRE(exclusions.size() == 1);
  CHECK(exclusions[0]["foreignId"] == books[0]["foreignBookId"]);
  CHECK(exclusions[0]["authorName"] == "Fay Example - " + books[0]["title"].get<std::string>());
  CHECK(d.run({{"name", "RefreshAuthor"}, {"authorId", fay["id"]}})["status"] == "completed");
  CHECK(books_of_fay().size() == 2);

  // The editor: every id is checked first; then the book goes, not excluded.
  d.call("DELETE", "/api/v1/book/editor", json{{"bookIds", {second, 999999}}}.dump(), 400);  // a string
  d.call("DELETE", "/api/v1/book/editor", json{{"bookIds", {std::stoll(second), 999999}}}.dump(), 404);
  d.call("DELETE", "/api/v1/book/editor",
         json{{"bookIds", {std::stoll(second)}}, {"deleteFiles", "yes"}}.dump(), 400);
  CHECK(books_of_fay().size() == 2);
  d.call("DELETE", "/api/v1/book/editor",
         json{{"bookIds", {std::stoll(second), std::stoll(second)}}, {"deleteFiles", false}}.dump(), 200);
  CHECK(books_of_fay().size() == 1);
  CHECK(d.get("/api/v1/importlistexclusion").size() == 1);

  // The list by hand: add, refuse twice, rename, read, remove; never a 500.
  const json added =
      d.post("/api/v1/importlistexclusion", {{"foreignId", "x1"}, {"authorName", "Someone"}}, 201);
  CHECK(added["foreignId"] == "x1");
  d.post("/api/v1/importlistexclusion", {{"foreignId", "x1"}, {"authorName", "Again"}}, 409);
  d.post("/api/v1/importlistexclusion", {{"foreignId", "x4"}}, 400);  // Readarr requires a name
  d.post("/api/v1/importlistexclusion", json::object(), 400);
  d.post("/api/v1/importlistexclusion", {{"foreignId", "x3"}, {"authorName", 7}}, 400);
  const std::string added_id = std::to_string(added["id"].get<long long>());
  CHECK(d.put("/api/v1/importlistexclusion/" + added_id, {{"foreignId", "x2"}, {"authorName", "S"}},
              202)["foreignId"] == "x2");
  CHECK(d.get("/api/v1/importlistexclusion/" + added_id)["foreignId"] == "x2");
  d.put("/api/v1/importlistexclusion/" + added_id,
        {{"foreignId", exclusions[0]["foreignId"]}, {"authorName", "S"}}, 409);
  d.del("/api/v1/importlistexclusion/" + added_id);
  d.get("/api/v1/importlistexclusion/" + added_id, 404);
  d.del("/api/v1/importlistexclusion/" + added_id, 404);
  d.get("/api/v1/importlistexclusion/99999999999999999999", 404);

  // The exclusion lifted, the next refresh brings both books back.
  d.del("/api/v1/importlistexclusion/" + std::to_string(exclusions[0]["id"].get<long long>()));
  CHECK(d.run({{"name", "RefreshAuthor"}, {"authorId", fay["id"]}})["status"] == "completed");
  CHECK(books_of_fay().size() == 3);

  // Readarr's author delete with its exclusion: the author's foreign id goes on the list.
  d.del("/api/v1/author/" + fay_id + "?addImportListExclusion=perhaps", 400);
  d.del("/api/v1/author/" + fay_id + "?addImportListExclusion=true");
  exclusions = d.get("/api/v1/importlistexclusion");
  REQUIRE(exclusions.size() == 1);
  CHECK(exclusions[0]["foreignId"] == "5201");
  CHECK(exclusions[0]["authorName"] == "Fay Example");
}

}  // namespace catalog_api_test

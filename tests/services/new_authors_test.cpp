// SPDX-License-Identifier: MIT
// Authors found by name: LibraryService::add_author_by_name against the BookInfo fixture's
// search, and RescanFolders' addNewAuthors on a service host, where the new author's refresh
// rescans its folder and links the file that named it.

#include <catch2/catch.hpp>

#include "book_samples.hpp"
#include "library_fixture.hpp"

using namespace shelfjobs;
using namespace testing;
namespace fs = std::filesystem;

// The whole file in a namespace of its own (unity builds).
namespace new_authors_test {

TEST_CASE("add_author_by_name takes the first search hit whose author has that name", "[services][library]") {
  Library lib;
  // Both write "The Glass Orchard"; the one with the longer name comes first in the search.
  lib.server->put_author(fixtures::make_author(3999, "Becky Chambers Jr", 2));
  lib.server->put_author(fixtures::make_author(4001, "Becky Chambers", 3));
  std::vector<AuthorAdded> added;
  lib.bus->subscribe<AuthorAdded>([&](const AuthorAdded& e) { added.push_back(e); });

  auto a = lib.library->add_author_by_name("Chambers, Becky", "The Glass Orchard", lib.root.id);
  REQUIRE(a.has_value());
  CHECK(a->foreign_id == "4001");
  CHECK(a->name == "Becky Chambers");
  CHECK(a->path == lib.root.path / "Becky Chambers");
  CHECK(a->monitored);
  REQUIRE(added.size() == 1);
  CHECK(added[0].author.id == a->id);

  auto again = lib.library->add_author_by_name("Becky Chambers", "", lib.root.id);
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().code == errc::conflict);

  // Removed and excluded, the author is not added from its files again; a person still may.
  REQUIRE(lib.library->remove_author(a->id, false, {}, /*exclude=*/true).has_value());
  const auto listed = lib.catalog->exclusions().value();
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].foreign_id == "4001");
  CHECK(listed[0].name == "Becky Chambers");
  CHECK(listed[0].kind == ExclusionKind::author);
  auto excluded = lib.library->add_author_by_name("Becky Chambers", "", lib.root.id);
  REQUIRE_FALSE(excluded.has_value());
  CHECK(excluded.error().code == errc::conflict);
  CHECK_THAT(excluded.error().message, Catch::Contains("exclusion list"));
  // A work that shares the author's number is no author: its exclusion keeps no author out.
  REQUIRE(lib.catalog->remove_exclusion(listed[0].id).has_value());
  REQUIRE(lib.catalog->add_exclusion({0, "4001", "Someone - A Work", ExclusionKind::book}).has_value());
  auto work_only = lib.library->add_author_by_name("Becky Chambers", "", lib.root.id);
  REQUIRE(work_only.has_value());
  REQUIRE(lib.library->remove_author(work_only->id, false).has_value());
  auto by_hand = lib.library->add_author("4001", lib.root.id);
  REQUIRE(by_hand.has_value());
  a = by_hand;
  added.erase(added.begin() + 1, added.end());

  auto nobody = lib.library->add_author_by_name("Nobody Known", "Some Book", lib.root.id);
  REQUIRE_FALSE(nobody.has_value());
  CHECK(nobody.error().code == errc::not_found);
  CHECK_THAT(nobody.error().message, Catch::Contains("Nobody Known"));

  CHECK(lib.library->add_author_by_name("  ", "x", lib.root.id).error().code == errc::invalid_argument);
  CHECK(lib.catalog->authors()->size() == 1);

  // A source that fails while fetching the candidate: the failure, as for add_author.
  lib.server->put_author(fixtures::make_author(3998, "Octavia Example", 1));
  lib.server->set_scenario("3998", {.scenario = fixtures::Scenario::server_error});
  auto down = lib.library->add_author_by_name("Octavia Example", "", lib.root.id);
  REQUIRE_FALSE(down.has_value());
  CHECK(down.error().code == errc::unavailable);

  // A hit whose author answers 404 (merged away, removed) is passed over for the next one.
  lib.server->put_author(fixtures::make_author(3990, "Zora Example", 1));  // found first
  lib.server->put_author(fixtures::make_author(3996, "Zora Example", 1));
  lib.server->set_scenario("3990", {.scenario = fixtures::Scenario::not_found});
  auto next = lib.library->add_author_by_name("Zora Example", "", lib.root.id);
  REQUIRE(next.has_value());
  CHECK(next->foreign_id == "3996");

  // A search that answers 404 is the source's failure, not "nobody has that name" (which the
  // library scan remembers for a day).
  BookInfoOptions bo;
  bo.base_url = "http://127.0.0.1:" + std::to_string(lib.server->port()) + "/not-served/";
  bo.cache_path = lib.dir.path() / "other-cache.db";
  bo.logger = quiet_logger();
  auto elsewhere = make_bookinfo_source(bo);
  REQUIRE(elsewhere.has_value());
  auto other =
      LibraryService::create({.catalog = lib.catalog, .source = *elsewhere, .logger = quiet_logger()});
  REQUIRE(other.has_value());
  auto unserved = (*other)->add_author_by_name("Someone New", "", lib.root.id);
  REQUIRE_FALSE(unserved.has_value());
  CHECK(unserved.error().code == errc::upstream_error);
}

TEST_CASE("RescanFolders with addNewAuthors adds the author a file names; its refresh links the file",
          "[scan][host]") {
  Library lib;
  lib.server->put_author(fixtures::make_author(5001, "Martha Wells", 3));
  auto scan =
      LibraryScanService::create({.catalog = lib.catalog, .logger = quiet_logger(), .library = lib.library});
  REQUIRE(scan.has_value());
  Engine& engine = lib.start_engine(3, {*scan});

  book_samples::BookSpec mine;
  mine.title = "The Silent Orchard";
  mine.authors = {"Martha Wells"};
  const fs::path file = lib.root.path / "Martha Wells" / "The Silent Orchard" / "The Silent Orchard.epub";
  book_samples::make_epub(file, mine);
  book_samples::BookSpec stray;
  stray.title = "Field Notes";
  stray.authors = {"Unknown Writer"};
  const fs::path stray_file = lib.root.path / "Unknown Writer" / "Field Notes.epub";
  book_samples::make_epub(stray_file, stray);

  RescanFolders c;
  c.addNewAuthors = true;
  auto pushed = engine.push(c);
  REQUIRE(pushed.has_value());
  REQUIRE(eventually(
      [&] {
        auto f = lib.catalog->file_by_path(file);
        return f && f->book_id != 0;
      },
      20s));
  REQUIRE(engine.wait_idle(20s));
  const auto job = engine.get(pushed->job.id);
  REQUIRE(job.has_value());
  CHECK_THAT(job->message, Catch::Contains("added 1 author: Martha Wells"));
  auto authors = lib.catalog->authors();
  REQUIRE(authors->size() == 1);
  CHECK(authors->front().foreign_id == "5001");
  CHECK(lib.catalog->books_of(authors->front().id)->size() == 3);
  const BookFile linked = *lib.catalog->file_by_path(file);
  CHECK(linked.author_id == authors->front().id);
  CHECK(lib.catalog->book(linked.book_id)->title == "The Silent Orchard");
  // The source knows no "Unknown Writer": the file stays unmapped with its reason.
  const BookFile left = *lib.catalog->file_by_path(stray_file);
  CHECK(left.book_id == 0);
  CHECK(left.unmapped_reason == "author 'Unknown Writer' is not in the library");
}

TEST_CASE("names addNewAuthors could not add wait, so the names behind them get the lookups", "[scan]") {
  // More unknown names than one scan may look up: the first scan takes the first two; had they
  // kept their places, every later scan would have looked them up again and never reached the
  // third.
  Library lib;
  auto scan = LibraryScanService::create(
      {.catalog = lib.catalog, .logger = quiet_logger(), .library = lib.library, .max_new_authors = 2});
  REQUIRE(scan.has_value());
  for (const char* name : {"Stray One", "Stray Two", "Stray Three"}) {
    book_samples::BookSpec s;
    s.title = std::string("Notes by ") + name;
    s.authors = {name};
    book_samples::make_epub(lib.root.path / name / "Notes.epub", s);
  }
  lib.server->put_author(fixtures::make_author(5101, "Later Known", 1));
  RescanFolders c;
  c.addNewAuthors = true;
  // Lookups, answered by the server or from the metadata cache.
  auto searches = [&] {
    const auto st = lib.source->stats();
    return st.requests + st.cache_hits;
  };

  const auto before = searches();
  REQUIRE((*scan)->rescan(c).has_value());
  const auto first = searches() - before;
  CHECK(first > 0);
  REQUIRE((*scan)->rescan(c).has_value());
  const auto second = searches() - before - first;
  CHECK(second > 0);  // the third name, looked up now
  CHECK(second * 2 == first);
  REQUIRE((*scan)->rescan(c).has_value());
  CHECK(searches() - before - first - second == 0);  // every name waits now

  // A new name is looked up at once.
  book_samples::BookSpec known;
  known.title = "Known Work";
  known.authors = {"Later Known"};
  book_samples::make_epub(lib.root.path / "Later Known" / "Known Work.epub", known);
  auto done = (*scan)->rescan(c);
  REQUIRE(done.has_value());
  CHECK(done->new_authors == std::vector<std::string>{"Later Known"});

  // A scan a person starts looks the waiting names up again (up to max_new_authors of them).
  Engine& engine = lib.start_engine(2, {*scan});
  const auto before_manual = searches();
  REQUIRE(engine.push(c).has_value());
  REQUIRE(engine.wait_idle(20s));
  CHECK(searches() - before_manual == first);

  CHECK(LibraryScanService::create({.catalog = lib.catalog, .retry_unadded_after = std::chrono::seconds(-1)})
            .error()
            .code == errc::invalid_argument);
}

TEST_CASE("addNewAuthors without a library service leaves the files unmapped", "[scan]") {
  Library lib;
  auto scan = LibraryScanService::create({.catalog = lib.catalog, .logger = quiet_logger()});
  REQUIRE(scan.has_value());
  book_samples::BookSpec s;
  s.title = "Piranesi";
  s.authors = {"Susanna Clarke"};
  book_samples::make_epub(lib.root.path / "Susanna Clarke" / "Piranesi.epub", s);
  RescanFolders c;
  c.addNewAuthors = true;
  auto done = (*scan)->rescan(c);
  REQUIRE(done.has_value());
  CHECK(done->unmapped == 1);
  CHECK(done->new_authors.empty());
  CHECK(lib.catalog->authors()->empty());
  CHECK(LibraryScanService::create({.catalog = lib.catalog, .max_new_authors = -1}).error().code ==
        errc::invalid_argument);
}

}  // namespace new_authors_test

// SPDX-License-Identifier: MIT
// Readarr's "Monitor" choice: the rule as a table over release dates and files, its application
// to a real catalog, and the choice made when adding an author, applied once its first refresh
// has brought the books.

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "library_fixture.hpp"
#include "shelfjobs/services/acquisition.hpp"

namespace book_monitoring_test {

using namespace shelfjobs;
using namespace testing;
using namespace std::chrono_literals;

const Date kToday = Date(std::chrono::year(2026) / 12 / 5);

// a: released, with files; b: released, without; c: not released yet; d: no date; e: released
// the day itself, without files.
const std::vector<BookFacts> kBooks = {{1, Date(std::chrono::year(2019) / 3 / 1), true},
                                       {2, Date(std::chrono::year(2021) / 6 / 1), false},
                                       {3, kToday + std::chrono::days(90), false},
                                       {4, std::nullopt, false},
                                       {5, kToday, false}};

// The rule's decisions as "id:1/0" in id order; books it leaves alone are absent.
std::string decided(BookMonitor m) {
  std::string out;
  for (const auto& [id, on] : decide_book_monitoring(kBooks, m, kToday))
    out += (out.empty() ? "" : " ") + std::to_string(id) + ":" + (on ? "1" : "0");
  return out;
}

TEST_CASE("the monitor rule decides from release dates and files, as Readarr's", "[services][monitoring]") {
  CHECK(decided(BookMonitor::all) == "1:1 2:1 3:1 4:1 5:1");
  CHECK(decided(BookMonitor::none) == "1:0 2:0 3:0 4:0 5:0");
  // Unreleased and undated books keep their state under future, missing and existing.
  CHECK(decided(BookMonitor::future) == "1:0 2:0 5:0");
  CHECK(decided(BookMonitor::missing) == "1:0 2:1 5:1");
  CHECK(decided(BookMonitor::existing) == "1:1 2:0 5:0");
  CHECK(decided(BookMonitor::latest) == "1:0 2:0 3:1 4:0 5:0");
  CHECK(decided(BookMonitor::first) == "1:1 2:0 3:0 4:0 5:0");
  // Without any date, "first" and "latest" take the first book listed.
  CHECK(decide_book_monitoring({{7, std::nullopt, false}, {8, std::nullopt, false}}, BookMonitor::latest,
                               kToday) == std::vector<std::pair<RowId, bool>>{{7, true}, {8, false}});
  CHECK(decide_book_monitoring({}, BookMonitor::first, kToday).empty());
}

TEST_CASE("booksToMonitor monitors the listed books and no other", "[services][monitoring]") {
  const std::vector<BookFacts> books{
      {1, std::nullopt, false, "101"}, {2, std::nullopt, true, "102"}, {3, std::nullopt, false, "103"}};
  CHECK(decide_listed_monitoring(books, {"103", "999"}) ==
        std::vector<std::pair<RowId, bool>>{{1, false}, {2, false}, {3, true}});
  CHECK(decide_listed_monitoring(books, {"101", "101", "102"}) ==
        std::vector<std::pair<RowId, bool>>{{1, true}, {2, true}, {3, false}});
  CHECK(decide_listed_monitoring({}, {"101"}).empty());
}

TEST_CASE("monitor choices are read by Readarr's names", "[services][monitoring]") {
  for (auto m : {BookMonitor::all, BookMonitor::future, BookMonitor::missing, BookMonitor::existing,
                 BookMonitor::latest, BookMonitor::first, BookMonitor::none})
    CHECK(parse_book_monitor(to_string(m)) == m);
  CHECK(parse_book_monitor("Future") == BookMonitor::future);
  CHECK_FALSE(parse_book_monitor("pilot"));
  CHECK_FALSE(parse_book_monitor(""));
  RefreshAuthor r;
  const nlohmann::json bad = {{"authorId", 1}, {"monitor", "someday"}};
  CHECK_THROWS_AS(bad.get_to(r), std::invalid_argument);
  const nlohmann::json good = {{"authorId", 1}, {"monitor", "missing"}};
  good.get_to(r);
  CHECK(r.monitor == BookMonitor::missing);
  CHECK(nlohmann::json(r)["monitor"] == "missing");
  // Not a name, or a choice for no one author: refused, naming the field.
  for (const nlohmann::json& refused :
       {nlohmann::json{{"authorId", 1}, {"monitor", 3}}, nlohmann::json{{"monitor", "none"}},
        nlohmann::json{{"authorId", 1}, {"authorIds", {2}}, {"monitor", "none"}}}) {
    try {
      refused.get_to(r);
      FAIL("accepted " << refused.dump());
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find("\"monitor\"") != std::string::npos);
    }
  }
  // Readarr's isNewAuthor, set by AuthorAdded's rule: one author too.
  const nlohmann::json fresh = {{"authorId", 1}, {"isNewAuthor", true}};
  fresh.get_to(r);
  CHECK(r.isNewAuthor);
  CHECK(nlohmann::json(r) == fresh);
  CHECK_THROWS_AS(nlohmann::json({{"isNewAuthor", true}}).get_to(r), std::invalid_argument);
  CHECK_THROWS_AS(nlohmann::json({{"authorId", 1}, {"isNewAuthor", 1}}).get_to(r), std::invalid_argument);
  // booksToMonitor: a set of foreign ids (the same books in another order are the same body),
  // for one author; anything but a list of ids is refused.
  const nlohmann::json listed = {{"authorId", 1}, {"booksToMonitor", {"102", "101", "102"}}};
  listed.get_to(r);
  CHECK(r.booksToMonitor == std::vector<std::string>{"101", "102"});
  nlohmann::json{{"authorId", 1}, {"booksToMonitor", nlohmann::json::array({102, "101"})}}.get_to(
      r);  // numbers too
  CHECK(r.booksToMonitor == std::vector<std::string>{"101", "102"});
  CHECK(nlohmann::json(r) == nlohmann::json{{"authorId", 1}, {"booksToMonitor", {"101", "102"}}});
  for (const nlohmann::json& refused :
       {nlohmann::json{{"authorId", 1}, {"booksToMonitor", "101"}},
        nlohmann::json{{"authorId", 1}, {"booksToMonitor", {""}}},
        nlohmann::json{{"authorId", 1}, {"booksToMonitor", nlohmann::json::array({-101})}},
        nlohmann::json{{"authorId", 1}, {"booksToMonitor", nlohmann::json::array({1.5})}},
        nlohmann::json{{"booksToMonitor", {"101"}}}}) {
    try {
      refused.get_to(r);
      FAIL("accepted " << refused.dump());
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find("\"booksToMonitor\"") != std::string::npos);
    }
  }
  // The search choice travels the same way, and is refused the same way.
  const nlohmann::json search = {{"authorId", 1}, {"searchForMissingBooks", false}};
  search.get_to(r);
  CHECK(r.searchForMissingBooks == false);
  CHECK_FALSE(r.monitor);
  CHECK(nlohmann::json(r) == search);
  for (const nlohmann::json& refused :
       {nlohmann::json{{"authorId", 1}, {"searchForMissingBooks", "yes"}},
        nlohmann::json{{"searchForMissingBooks", true}},
        nlohmann::json{{"authorIds", {1, 2}}, {"searchForMissingBooks", true}}}) {
    try {
      refused.get_to(r);
      FAIL("accepted " << refused.dump());
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find("\"searchForMissingBooks\"") != std::string::npos);
    }
  }
}

TEST_CASE("the bookshelf choice changes the books it decides and tells each change",
          "[services][monitoring]") {
  Library lib;
  const Author ann = lib.add(4801, "Ann Example", 4);
  lib.service->refresh_author(ann.id, Trigger::manual, nullptr);
  auto books = lib.books_of(ann);
  REQUIRE(books.size() == 4);
  std::sort(books.begin(), books.end(),
            [](const Book& a, const Book& b) { return a.release_date < b.release_date; });
  REQUIRE(books.front().release_date);
  // The oldest dated book has a file.
  const Book* oldest = nullptr;
  for (const Book& b : books)
    if (b.release_date && !oldest) oldest = &b;
  BookFile f;
  f.author_id = ann.id;
  f.book_id = oldest->id;
  f.path = ann.path / "oldest.epub";
  f.size = 10;
  f.format = "epub";
  REQUIRE(lib.catalog->upsert_file(f).has_value());

  std::vector<BookEdited> edited;
  lib.bus->subscribe<BookEdited>([&](const BookEdited& e) { edited.push_back(e); });
  auto existing = lib.library->set_book_monitoring(ann.id, BookMonitor::existing);
  REQUIRE(existing.has_value());
  // Every book was monitored: all the released ones without a file change.
  for (const Book& b : lib.books_of(ann)) {
    const bool released =
        b.release_date && *b.release_date <= std::chrono::floor<std::chrono::days>(lib.clock->now());
    CHECK(b.monitored == (b.id == oldest->id || !released));
  }
  CHECK(edited.size() == existing->size());
  CHECK(!existing->empty());
  // The same choice again changes nothing and tells nothing.
  edited.clear();
  CHECK(lib.library->set_book_monitoring(ann.id, BookMonitor::existing)->empty());
  CHECK(edited.empty());
  CHECK(lib.library->set_book_monitoring(999999, BookMonitor::all).error().code == errc::not_found);

  // A list wins over the rule: exactly the listed book, by its foreign id.
  auto listed = lib.library->set_book_monitoring(ann.id, BookMonitor::all, {books.back().foreign_id});
  REQUIRE(listed.has_value());
  for (const Book& b : lib.books_of(ann)) CHECK(b.monitored == (b.id == books.back().id));
}

TEST_CASE("an author added with a monitor choice gets it once its first refresh brought the books",
          "[services][monitoring]") {
  Library lib;
  lib.server->put_author(fixtures::make_author(4901, "Bea Example", 5));
  lib.server->put_author(fixtures::make_author(4902, "Cy Example", 3));
  auto& engine = lib.start_engine();
  std::vector<AuthorAdded> added;
  lib.bus->subscribe<AuthorAdded>([&](const AuthorAdded& e) { added.push_back(e); });
  auto bea = lib.library->add_author("4901", lib.root.id, {.monitor = BookMonitor::first});
  REQUIRE(bea.has_value());
  auto cy = lib.library->add_author("4902", lib.root.id);  // no choice: every book
  REQUIRE(cy.has_value());
  REQUIRE(engine.wait_idle(30s));

  const auto bea_books = lib.books_of(*bea);
  REQUIRE(bea_books.size() == 5);
  std::vector<const Book*> monitored;
  for (const Book& b : bea_books)
    if (b.monitored) monitored.push_back(&b);
  REQUIRE(monitored.size() == 1);
  REQUIRE(monitored.front()->release_date);
  for (const Book& b : bea_books)
    if (b.release_date) CHECK(*monitored.front()->release_date <= *b.release_date);
  for (const Book& b : lib.books_of(*cy)) CHECK(b.monitored);
  CHECK(lib.catalog->author(bea->id)->monitored);  // the author stays as asked
  REQUIRE(added.size() == 2);
  CHECK(added[0].monitor == BookMonitor::first);
  CHECK(nlohmann::json(added[0])["monitor"] == "first");
  CHECK_FALSE(added[1].monitor);
  CHECK_FALSE(nlohmann::json(added[1]).contains("monitor"));
}

TEST_CASE("the search chosen on add runs after the monitor choice, for the authors that asked for it",
          "[services][monitoring][acquisition]") {
  Library lib;
  for (int id : {4911, 4912, 4913, 4914, 4915})
    lib.server->put_author(fixtures::make_author(id, "Author " + std::to_string(id), 4));
  auto store = open_sqlite_acquisition_store({.path = lib.dir.path() / "catalog.db"});
  REQUIRE(store.has_value());
  auto acquisition = AcquisitionService::create({.catalog = lib.catalog,
                                                 .store = *store,
                                                 .logger = quiet_logger(),
                                                 .indexer_spacing = std::chrono::milliseconds(0),
                                                 .search_on_author_added = true});
  REQUIRE(acquisition.has_value());
  // What a search started by AuthorRefreshed would see: the books monitored when it is told.
  std::mutex mu;
  std::map<RowId, int> monitored_when_told;
  std::map<RowId, std::optional<bool>> told_search;
  std::map<RowId, bool> told_new;
  lib.bus->subscribe<AuthorRefreshed>([&](const AuthorRefreshed& e) {
    int n = 0;
    const auto books =
        lib.catalog->books_of(e.author_id).value();  // (not a range-for over a temporary's value)
    for (const Book& b : books) n += b.monitored ? 1 : 0;
    std::lock_guard lock(mu);
    monitored_when_told[e.author_id] = n;
    told_search[e.author_id] = e.search_for_missing;
    told_new[e.author_id] = e.new_author;
  });
  auto& engine = lib.start_engine(3, {*acquisition});
  const Author first =
      lib.library
          ->add_author("4911", lib.root.id, {.monitor = BookMonitor::first, .search_for_missing = true})
          .value();
  const Author no_search =
      lib.library->add_author("4912", lib.root.id, {.search_for_missing = false}).value();
  const Author by_default = lib.library->add_author("4913", lib.root.id).value();  // the service's default
  const Author unmonitored = lib.library->add_author("4914", lib.root.id, {.monitored = false}).value();
  // Readarr searches monitored authors only, whatever was asked.
  const Author asked_unmonitored =
      lib.library->add_author("4915", lib.root.id, {.monitored = false, .search_for_missing = true}).value();
  REQUIRE(engine.wait_idle(30s));

  std::lock_guard lock(mu);
  CHECK(monitored_when_told.at(first.id) == 1);  // "first" applied before the rules were told
  CHECK(monitored_when_told.at(no_search.id) == 4);
  CHECK(told_search.at(first.id) == true);
  CHECK(told_search.at(no_search.id) == false);
  CHECK_FALSE(told_search.at(by_default.id).has_value());
  CHECK_FALSE(told_search.at(unmonitored.id).has_value());
  CHECK(told_search.at(asked_unmonitored.id) == false);
  for (const auto& [id, fresh] : told_new) CHECK(fresh);  // each was its author's first refresh
  std::vector<RowId> searched;
  const auto page = engine.list({.names = {AuthorSearch::kName}, .limit = 10});
  REQUIRE(page.has_value());
  for (const JobInfo& j : page->jobs) searched.push_back(j.body.at("authorId").get<RowId>());
  std::sort(searched.begin(), searched.end());
  CHECK(searched == std::vector<RowId>{first.id, by_default.id});
}

TEST_CASE("a booksToMonitor list is read as Readarr's clients send it", "[services][monitoring]") {
  // Strings and whole numbers that are not negative, parsed (unsigned, up to 64 bits) or built in
  // code (signed): a sorted set of ids as text.
  auto ok = parse_books_to_monitor(nlohmann::json::parse(R"(["102", 18446744073709551615, 101, "102"])"),
                                   "\"booksToMonitor\"");
  REQUIRE(ok.has_value());
  CHECK(*ok == std::vector<std::string>{"101", "102", "18446744073709551615"});
  auto built = parse_books_to_monitor(nlohmann::json::array({std::int64_t{7}, "7"}), "\"x\"");
  REQUIRE(built.has_value());
  CHECK(*built == std::vector<std::string>{"7"});
  CHECK(parse_books_to_monitor(nlohmann::json::array(), "\"x\"").value().empty());

  for (const auto& [ids, at_fault] : std::vector<std::pair<nlohmann::json, std::string>>{
           {nlohmann::json::parse(R"("101")"), R"("101")"},
           {nlohmann::json::parse(R"({"id": 1})"), R"({"id":1})"},
           {nlohmann::json::parse(R"(["101", ""])"), R"("")"},
           {nlohmann::json::parse(R"([-101])"), "-101"},
           {nlohmann::json::parse(R"([1.5])"), "1.5"},
           {nlohmann::json::parse(R"([null])"), "null"},
           {nlohmann::json::parse(R"([["101"]])"), R"(["101"])"}}) {
    CAPTURE(ids);
    auto r = parse_books_to_monitor(ids, "\"addOptions.booksToMonitor\"");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::invalid_body);
    CHECK(r.error().message ==
          "\"addOptions.booksToMonitor\" must be a list of foreign book ids; not " + at_fault);
  }
}

}  // namespace book_monitoring_test

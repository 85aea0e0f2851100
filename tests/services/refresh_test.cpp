// SPDX-License-Identifier: MIT
// RefreshAuthor and RefreshBook against the BookInfo fixture server over real HTTP and a real
// SQLite catalog.
#include <catch2/catch.hpp>

#include "library_fixture.hpp"

using namespace shelfjobs;
using namespace testing;
using namespace std::chrono;
using fixtures::Scenario;
using fixtures::ScenarioSpec;

namespace {

const TimePoint kNow = sys_days{year{2026} / 11 / 28} + hours(12);

Author synced(hours ago, AuthorStatus status = AuthorStatus::continuing) {
  Author a;
  a.name = "A";
  a.status = status;
  a.last_info_sync = kNow - ago;
  return a;
}

Date days_ago(int d) { return floor<days>(kNow) - days(d); }

}  // namespace

TEST_CASE("ShouldRefreshAuthor follows Readarr's rules in order", "[refresh]") {
  // never synced
  CHECK(should_refresh_author(Author{}, std::nullopt, kNow));
  // older than 30 days: yes, whatever else holds
  CHECK(should_refresh_author(synced(hours(24 * 31), AuthorStatus::ended), std::nullopt, kNow));
  // refreshed within 12 h: no, even if continuing with a new release
  CHECK_FALSE(should_refresh_author(synced(hours(11)), days_ago(1), kNow));
  // continuing and older than 2 days: yes
  CHECK(should_refresh_author(synced(hours(49)), std::nullopt, kNow));
  // continuing, 1 day old, no recent release: no
  CHECK_FALSE(should_refresh_author(synced(hours(24)), days_ago(400), kNow));
  // ended, 10 days old, a book released 10 days ago: yes
  CHECK(should_refresh_author(synced(hours(240), AuthorStatus::ended), days_ago(10), kNow));
  // ended, 10 days old, newest book 40 days ago: no
  CHECK_FALSE(should_refresh_author(synced(hours(240), AuthorStatus::ended), days_ago(40), kNow));
  // ended, 20 days old, no books: no
  CHECK_FALSE(should_refresh_author(synced(hours(480), AuthorStatus::ended), std::nullopt, kNow));
}

TEST_CASE("ShouldRefreshBook follows Readarr's rules in order", "[refresh]") {
  auto book = [](std::optional<hours> ago, std::optional<Date> released) {
    Book b;
    if (ago) b.last_info_sync = kNow - *ago;
    b.release_date = released;
    return b;
  };
  CHECK(should_refresh_book(book(std::nullopt, std::nullopt), kNow));
  CHECK(should_refresh_book(book(hours(24 * 61), days_ago(3000)), kNow));      // older than 60 d
  CHECK_FALSE(should_refresh_book(book(hours(6), days_ago(1)), kNow));         // within 12 h
  CHECK(should_refresh_book(book(hours(24), days_ago(10)), kNow));             // released 10 d ago
  CHECK(should_refresh_book(book(hours(24), days_ago(-30)), kNow));            // future release
  CHECK_FALSE(should_refresh_book(book(hours(24 * 59), days_ago(31)), kNow));  // older release
  CHECK_FALSE(should_refresh_book(book(hours(24), std::nullopt), kNow));
}

TEST_CASE("A first refresh writes the author and its books; an unchanged second one writes nothing",
          "[refresh]") {
  auto clock = std::make_shared<ManualClock>(kNow);
  Library lib(clock);
  Author ada = lib.add(1001, "Ada Example", 4);
  Author bob = lib.add(1002, "Bob Writer", 3);

  std::vector<BookAdded> added;
  lib.bus->subscribe<BookAdded>([&](const BookAdded& e) { added.push_back(e); });

  auto first = lib.service->refresh_author(std::nullopt, Trigger::manual, nullptr);
  CHECK(first.refreshed == 2);
  CHECK(first.books_added == 7);
  CHECK(added.size() == 7);
  for (const auto& e : added) {
    CHECK(e.from_refresh);
    CHECK(e.book.id > 0);
  }
  auto books = lib.books_of(ada);
  REQUIRE(books.size() == 4);
  auto eds = lib.catalog->editions_of(books.front().id);
  REQUIRE(eds.has_value());
  CHECK(!eds->empty());
  CHECK(std::count_if(eds->begin(), eds->end(), [](const Edition& e) { return e.monitored; }) == 1);
  auto after = lib.catalog->author(ada.id);
  REQUIRE(after.has_value());
  CHECK(after->last_info_sync == kNow);
  CHECK(!after->metadata_hash.empty());

  const auto rows = lib.catalog->rows_written();
  const auto requests = lib.server->requests();
  auto second = lib.service->refresh_author(std::nullopt, Trigger::manual, nullptr);
  CHECK(second.unchanged == 2);
  CHECK(second.refreshed == 0);
  CHECK(lib.catalog->rows_written() == rows);  // nothing written
  CHECK(lib.server->requests() == requests);   // the cache is fresh: nothing fetched

  // After the cache's TTL the source is asked again (a 304 revalidation), still nothing written.
  clock->advance(hours(1));
  auto third = lib.service->refresh_author(std::nullopt, Trigger::manual, nullptr);
  CHECK(third.unchanged == 2);
  CHECK(lib.server->requests() == requests + 2);
  CHECK(lib.catalog->rows_written() == rows);
  CHECK(lib.source->stats().revalidated >= 2);

  // Past the rules' 12 h, an unchanged author records only that it was checked: one row each.
  clock->advance(hours(13));
  auto fourth = lib.service->refresh_author(std::nullopt, Trigger::manual, nullptr);
  CHECK(fourth.unchanged == 2);
  CHECK(lib.catalog->rows_written() == rows + 2);
  (void)bob;
}

TEST_CASE("A scheduled run skips authors that do not need it, without fetching them", "[refresh]") {
  auto clock = std::make_shared<ManualClock>(kNow);
  Library lib(clock);
  Author ada = lib.add(1001, "Ada Example", 2);
  Author bob = lib.add(1002, "Bob Writer", 2);
  REQUIRE(lib.service->refresh_author(std::nullopt, Trigger::manual, nullptr).refreshed == 2);

  // Ada ended 5 days ago with old books: skipped. Bob is continuing: refreshed after 2 days.
  Author a = *lib.catalog->author(ada.id);
  a.status = AuthorStatus::ended;
  AuthorWrite w;
  w.author = a;
  REQUIRE(lib.catalog->apply(w).has_value());
  clock->advance(hours(24 * 5));

  const auto ada_requests = lib.server->requests_to("author/1001");
  const auto bob_requests = lib.server->requests_to("author/1002");
  auto sum = lib.service->refresh_author(std::nullopt, Trigger::scheduled, nullptr);
  CHECK(sum.skipped == 1);
  CHECK(sum.unchanged == 1);
  CHECK(lib.server->requests_to("author/1001") == ada_requests);
  CHECK(lib.server->requests_to("author/1002") == bob_requests + 1);
  CHECK(sum.message().find("1 skipped") != std::string::npos);

  // A manual run refreshes all.
  auto manual = lib.service->refresh_author(std::nullopt, Trigger::manual, nullptr);
  CHECK(manual.skipped == 0);
  CHECK(manual.unchanged == 2);
  (void)bob;
}

TEST_CASE("New books upstream are added, changed ones updated, gone ones removed unless they have files",
          "[refresh]") {
  auto clock = std::make_shared<ManualClock>(kNow);
  Library lib(clock);
  Author ada = lib.add(1001, "Ada Example", 3);
  REQUIRE(lib.service->refresh_author(ada.id, Trigger::manual, nullptr).refreshed == 1);
  auto before = lib.books_of(ada);
  REQUIRE(before.size() == 3);

  auto body = fixtures::make_author(1001, "Ada Example", 5);  // two more works
  auto& works = body["Works"];
  works[0]["Title"] = "A Changed Title";
  // Drop the works that are 2nd and 3rd; give a file to the 2nd so it must stay.
  const std::string kept_fid = works[1]["ForeignId"].dump();
  const std::string gone_fid = works[2]["ForeignId"].dump();
  works.erase(works.begin() + 1, works.begin() + 3);
  lib.server->put_author(body);
  auto kept = lib.catalog->book_by_foreign_id(kept_fid);
  REQUIRE(kept.has_value());
  BookFile f;
  f.author_id = ada.id;
  f.book_id = kept->id;
  f.path = ada.path / "kept.epub";
  f.format = "epub";
  REQUIRE(lib.catalog->upsert_file(f).has_value());

  clock->advance(hours(1));  // past the cache's TTL
  auto sum = lib.service->refresh_author(ada.id, Trigger::manual, nullptr);
  CHECK(sum.refreshed == 1);
  CHECK(sum.books_added == 2);
  CHECK(sum.books_updated == 1);
  CHECK(sum.books_removed == 1);
  auto after = lib.books_of(ada);
  CHECK(after.size() == 4);  // the changed one, the kept one (it has a file), the two new ones
  CHECK(lib.catalog->book_by_foreign_id(kept_fid).has_value());
  CHECK_FALSE(lib.catalog->book_by_foreign_id(gone_fid).has_value());
  auto changed = lib.catalog->book_by_foreign_id(works[0]["ForeignId"].dump());
  REQUIRE(changed.has_value());
  CHECK(changed->title == "A Changed Title");
}

TEST_CASE("A failure other than 404 leaves the catalog untouched, and the run goes on", "[refresh]") {
  auto clock = std::make_shared<ManualClock>(kNow);
  Library lib(clock, milliseconds(300));
  Author ada = lib.add(1001, "Ada Example", 2);
  Author bob = lib.add(1002, "Bob Writer", 2);
  REQUIRE(lib.service->refresh_author(std::nullopt, Trigger::manual, nullptr).refreshed == 2);
  // Upstream changed both, so a successful fetch would write.
  lib.server->put_author(fixtures::make_author(1001, "Ada Example", 3));
  lib.server->put_author(fixtures::make_author(1002, "Bob Writer", 3));
  clock->advance(hours(1));

  struct Case {
    const char* name;
    ScenarioSpec spec;
    ErrorKind kind;
  };
  ScenarioSpec slow{.scenario = Scenario::slow};
  slow.delay = milliseconds(1500);
  const Case cases[] = {
      {"500", {.scenario = Scenario::server_error}, ErrorKind::network},
      {"timeout", slow, ErrorKind::network},
      {"malformed", {.scenario = Scenario::malformed}, ErrorKind::permanent},
      {"429", {.scenario = Scenario::rate_limited}, ErrorKind::rate_limited},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      lib.server->set_scenario("1001", c.spec);
      const auto snap = lib.snapshot();
      const auto rows = lib.catalog->rows_written();

      // One author: the job's error carries the kind the engine retries by.
      try {
        lib.service->refresh_author(ada.id, Trigger::manual, nullptr);
        FAIL("no error");
      } catch (const JobError& e) {
        CHECK(e.kind() == c.kind);
      }
      CHECK(lib.snapshot() == snap);
      CHECK(lib.catalog->rows_written() == rows);

      if (c.kind == ErrorKind::rate_limited) {
        // The host limits everyone: the run stops and waits instead of collecting more 429s.
        CHECK_THROWS_AS(lib.service->refresh_author(std::nullopt, Trigger::manual, nullptr), JobError);
        CHECK(lib.snapshot() == snap);
      } else {
        // All authors: Ada's failure is counted, Bob is refreshed.
        auto sum = lib.service->refresh_author(std::nullopt, Trigger::manual, nullptr);
        CHECK(sum.failed == 1);
        CHECK(sum.refreshed == 1);
        CHECK(lib.books_of(ada).size() == 2);
        CHECK(lib.books_of(bob).size() == 3);
        CHECK(sum.message().find("1 failed") != std::string::npos);
      }
    }
  }
}

TEST_CASE("Not found removes an author only when it has no files", "[refresh]") {
  auto clock = std::make_shared<ManualClock>(kNow);
  Library lib(clock);
  Author ada = lib.add(1001, "Ada Example", 2);
  Author bob = lib.add(1002, "Bob Writer", 2);
  REQUIRE(lib.service->refresh_author(std::nullopt, Trigger::manual, nullptr).refreshed == 2);
  BookFile f;
  f.author_id = bob.id;
  f.path = bob.path / "file.epub";
  REQUIRE(lib.catalog->upsert_file(f).has_value());
  lib.server->set_scenario("1001", {.scenario = Scenario::not_found});
  lib.server->set_scenario("1002", {.scenario = Scenario::not_found});
  clock->advance(hours(1));

  std::vector<AuthorRemoved> removed;
  lib.bus->subscribe<AuthorRemoved>([&](const AuthorRemoved& e) { removed.push_back(e); });
  auto sum = lib.service->refresh_author(std::nullopt, Trigger::manual, nullptr);
  CHECK(sum.removed == 1);
  CHECK(sum.failed == 1);
  CHECK(lib.catalog->author(ada.id).error().code == errc::not_found);
  CHECK(lib.catalog->author(bob.id).has_value());
  CHECK(lib.books_of(bob).size() == 2);
  REQUIRE(removed.size() == 1);
  CHECK(removed[0].author.foreign_id == "1001");

  // The one-author job fails for Bob, saying why, and deletes nothing.
  try {
    lib.service->refresh_author(bob.id, Trigger::manual, nullptr);
    FAIL("no error");
  } catch (const JobError& e) {
    CHECK(e.kind() == ErrorKind::permanent);
    CHECK(std::string(e.what()).find("has files") != std::string::npos);
  }
  CHECK(lib.catalog->author(bob.id).has_value());
}

TEST_CASE("A source that suddenly knows almost nobody removes nobody", "[refresh]") {
  auto clock = std::make_shared<ManualClock>(kNow);
  Library lib(clock);
  for (int i = 0; i < 4; ++i) lib.add(3001 + i, "Author " + std::to_string(i), 1);
  REQUIRE(lib.service->refresh_author(std::nullopt, Trigger::manual, nullptr).refreshed == 4);
  for (int i = 0; i < 3; ++i)
    lib.server->set_scenario(std::to_string(3001 + i), {.scenario = Scenario::not_found});
  clock->advance(hours(1));
  const auto snap = lib.snapshot();
  auto sum = lib.service->refresh_author(std::nullopt, Trigger::manual, nullptr);
  CHECK(sum.removed == 0);
  CHECK(sum.guarded == 3);
  CHECK(sum.failed == 3);
  CHECK(sum.message().find("3 not found upstream but kept") != std::string::npos);
  CHECK(lib.snapshot() == snap);
  CHECK(lib.catalog->counts()->authors == 4);
}

TEST_CASE("A merge moves the books to the local target author", "[refresh]") {
  auto clock = std::make_shared<ManualClock>(kNow);
  Library lib(clock);
  Author from = lib.add(1001, "Ada Example", 2);
  Author into = lib.add(1002, "Ada Q. Example", 1);
  REQUIRE(lib.service->refresh_author(std::nullopt, Trigger::manual, nullptr).refreshed == 2);
  const auto from_books = lib.books_of(from);
  BookFile f;
  f.author_id = from.id;
  f.book_id = from_books[0].id;
  f.path = from.path / "file.epub";
  REQUIRE(lib.catalog->upsert_file(f).has_value());

  // Upstream, 1001 now redirects to 1002, which holds both authors' works.
  auto target = fixtures::make_author(1002, "Ada Q. Example", 1);
  const auto moved_works = works_attributed_to(fixtures::make_author(1001, "Ada Example", 2), 1002);
  for (const auto& w : moved_works["Works"]) target["Works"].push_back(w);
  lib.server->put_author(target);
  lib.server->set_scenario("1001", {.scenario = Scenario::merged, .merge_target = "1002"});
  clock->advance(hours(1));

  std::vector<AuthorMerged> merged;
  lib.bus->subscribe<AuthorMerged>([&](const AuthorMerged& e) { merged.push_back(e); });
  auto sum = lib.service->refresh_author(from.id, Trigger::manual, nullptr);
  INFO(sum.message());
  CHECK(sum.merged == 1);
  CHECK(lib.catalog->author(from.id).error().code == errc::not_found);
  auto books = lib.books_of(into);
  CHECK(books.size() == 3);
  auto files = lib.catalog->files_of_author(into.id);
  REQUIRE(files.has_value());
  CHECK(files->size() == 1);
  REQUIRE(merged.size() == 1);
  CHECK(merged[0].from_author_id == from.id);
  CHECK(merged[0].into_author_id == into.id);
}

TEST_CASE("A merge re-keys the author when no local author has the target id", "[refresh]") {
  auto clock = std::make_shared<ManualClock>(kNow);
  Library lib(clock);
  Author ada = lib.add(1001, "Ada Example", 2);
  REQUIRE(lib.service->refresh_author(ada.id, Trigger::manual, nullptr).refreshed == 1);
  const auto before = lib.books_of(ada);

  auto moved = works_attributed_to(fixtures::make_author(1001, "Ada Example", 2), 1003);
  moved["ForeignId"] = 1003;
  lib.server->put_author(moved);
  lib.server->set_scenario("1001", {.scenario = Scenario::merged, .merge_target = "1003"});
  clock->advance(hours(1));

  auto sum = lib.service->refresh_author(ada.id, Trigger::manual, nullptr);
  CHECK(sum.merged == 1);
  auto after = lib.catalog->author(ada.id);
  REQUIRE(after.has_value());
  CHECK(after->foreign_id == "1003");
  auto books = lib.books_of(ada);
  REQUIRE(books.size() == before.size());
  CHECK(books[0].id == before[0].id);
}

TEST_CASE("An author still loading upstream is deferred, not failed", "[refresh]") {
  Library lib;
  Author ada = lib.add(1001, "Ada Example", 2);
  lib.server->set_scenario("1001", {.scenario = Scenario::loading, .loading_count = 1});
  Engine& engine = lib.start_engine();
  auto job = engine.push(RefreshAuthor{});
  REQUIRE(job.has_value());
  // The run completes with the author deferred, and a delayed RefreshAuthor{id} follows.
  REQUIRE(eventually([&] { return engine.get(job->job.id)->status == JobStatus::completed; }, 10s));
  CHECK(engine.get(job->job.id)->message.find("1 deferred") != std::string::npos);
  auto page = engine.list({.names = {"RefreshAuthor"}});
  REQUIRE(page.has_value());
  CHECK(page->jobs.size() == 2);
  (void)ada;
}

TEST_CASE("Adding an author pushes its refresh; progress names each author", "[refresh]") {
  Library lib;
  lib.server->put_author(fixtures::make_author(1001, "Ada Example", 3));
  Engine& engine = lib.start_engine();
  std::vector<std::string> progress;
  std::mutex mu;
  // Every progress report: by default a report queued behind another of the same job replaces
  // it, and "1 of 1" is followed at once by the run's summary.
  auto sub = engine.subscribe(on_event<JobEvent>([&](const JobEvent& e) {
                                std::lock_guard lock(mu);
                                if (e.type == JobEvent::Type::progress)
                                  progress.push_back(e.job.progress.message);
                              }),
                              SubscribeOptions{.coalesce_progress = false});
  auto added = lib.library->add_author("1001", lib.root.id);
  REQUIRE(added.has_value());
  CHECK(added->name == "Ada Example");
  CHECK(added->path == lib.root.path / "Ada Example");
  REQUIRE(engine.wait_idle(10s));
  CHECK(lib.books_of(*added).size() == 3);
  // No RefreshBook for books that came with their author's refresh.
  auto page = engine.list({.names = {"RefreshBook"}});
  REQUIRE(page.has_value());
  CHECK(page->jobs.empty());
  CHECK(lib.library->add_author("1001", lib.root.id).error().code == errc::conflict);
  CHECK(lib.library->add_author("4040", lib.root.id).error().code == errc::not_found);
  {
    // Events reach a subscriber on its own thread, a moment after the job changed.
    eventually([&] {
      std::lock_guard lock(mu);
      return std::find(progress.begin(), progress.end(), "1 of 1: Ada Example") != progress.end();
    });
    std::lock_guard lock(mu);
    CHECK(std::find(progress.begin(), progress.end(), "1 of 1: Ada Example") != progress.end());
  }
  (void)sub;
}

TEST_CASE("RefreshBook refreshes one work and its editions", "[refresh]") {
  auto clock = std::make_shared<ManualClock>(kNow);
  Library lib(clock);
  Author ada = lib.add(1001, "Ada Example", 2);
  REQUIRE(lib.service->refresh_author(ada.id, Trigger::manual, nullptr).refreshed == 1);
  auto book = lib.books_of(ada).front();
  auto body = fixtures::make_author(1001, "Ada Example", 2);
  for (auto& w : body["Works"]) {
    if (w["ForeignId"].dump() == book.foreign_id) w["Title"] = "Retitled";
  }
  lib.server->put_author(body);
  clock->advance(hours(1));
  auto sum = lib.service->refresh_book(book.id, Trigger::manual, nullptr);
  CHECK(sum.refreshed == 1);
  CHECK(lib.catalog->book(book.id)->title == "Retitled");
  // Unchanged now: nothing written.
  const auto rows = lib.catalog->rows_written();
  CHECK(lib.service->refresh_book(book.id, Trigger::manual, nullptr).unchanged == 1);
  CHECK(lib.catalog->rows_written() == rows);
  // Past the rules' 12 h, an unchanged book records only that it was checked: its own row.
  clock->advance(hours(13));
  CHECK(lib.service->refresh_book(book.id, Trigger::manual, nullptr).unchanged == 1);
  CHECK(lib.catalog->rows_written() == rows + 1);
  CHECK(lib.catalog->book(book.id)->last_info_sync == clock->now());
}

TEST_CASE("A refresh of an author the catalog lacks fails at once, saying so", "[refresh]") {
  Library lib;
  Engine& engine = lib.start_engine(1);
  auto pushed = engine.push(RefreshAuthor{.authorId = 999999});
  REQUIRE(pushed.has_value());
  REQUIRE(engine.wait_idle(10s));
  const auto job = engine.get(pushed->job.id);
  REQUIRE(job.has_value());
  CHECK(job->status == JobStatus::failed);
  CHECK(job->attempt == 1);
  CHECK(job->error_kind == ErrorKind::permanent);
  CHECK(job->message == "refresh of author 999999: no author 999999");
}

TEST_CASE("Only one refresh runs at a time", "[refresh][concurrency]") {
  Library lib;
  std::vector<Author> authors;
  for (int i = 0; i < 4; ++i) {
    authors.push_back(lib.add(2001 + i, "Author " + std::to_string(i), 1));
    ScenarioSpec slow{.scenario = Scenario::slow};
    slow.delay = milliseconds(150);
    lib.server->set_scenario(std::to_string(2001 + i), slow);
  }
  Engine& engine = lib.start_engine(4);
  std::mutex mu;
  int running = 0, most = 0;
  auto sub = engine.subscribe(on_event<JobEvent>([&](const JobEvent& e) {
    std::lock_guard lock(mu);
    if (e.type == JobEvent::Type::started) most = std::max(most, ++running);
    if (e.type == JobEvent::Type::completed || e.type == JobEvent::Type::failed ||
        e.type == JobEvent::Type::retrying || e.type == JobEvent::Type::cancelled)
      --running;
  }));
  for (const auto& a : authors) REQUIRE(engine.push(RefreshAuthor{.authorId = a.id}).has_value());
  REQUIRE(engine.push(RefreshBook{}).has_value());
  // A folder move writes the author row too: it waits for the refreshes (and they for it).
  MoveAuthor move;
  move.authorId = authors[0].id;
  move.sourcePath = authors[0].path.string();
  move.destinationPath = (lib.root.path / "Moved").string();
  REQUIRE(engine.push(move).has_value());
  REQUIRE(engine.wait_idle(20s));
  std::lock_guard lock(mu);
  CHECK(most == 1);
  CHECK(lib.catalog->author(authors[0].id)->path == lib.root.path / "Moved");
  (void)sub;
}

TEST_CASE("Adding a book by hand brings its author, unmonitored, and pushes RefreshBook", "[refresh]") {
  Library lib;
  const auto body = fixtures::make_author(1001, "Ada Example", 3);
  lib.server->put_author(body);
  const std::string wanted = body["Works"][1]["ForeignId"].dump();
  Engine& engine = lib.start_engine();
  std::vector<BookAdded> added;
  std::mutex mu;
  lib.bus->subscribe<BookAdded>([&](const BookAdded& e) {
    std::lock_guard lock(mu);
    added.push_back(e);
  });

  auto book = lib.library->add_book(wanted, lib.root.id);
  REQUIRE(book.has_value());
  CHECK(book->manually_added);
  CHECK(book->monitored);
  REQUIRE(engine.wait_idle(10s));

  auto author = lib.catalog->author(book->author_id);
  REQUIRE(author.has_value());
  CHECK(author->foreign_id == "1001");
  CHECK_FALSE(author->monitored);
  auto books = lib.books_of(*author);
  CHECK(books.size() == 3);
  for (const auto& b : books) {
    CHECK(b.monitored == (b.foreign_id == wanted));  // the author's other books are not wanted
  }
  auto refresh_book = engine.list({.names = {"RefreshBook"}});
  REQUIRE(refresh_book.has_value());
  REQUIRE(refresh_book->jobs.size() == 1);
  CHECK(refresh_book->jobs[0].status == JobStatus::completed);
  CHECK(refresh_book->jobs[0].body["bookId"] == book->id);
  {
    std::lock_guard lock(mu);
    // The author's refresh added the other two (from_refresh); the user added one.
    CHECK(added.size() == 3);
    const auto by_hand = std::count_if(added.begin(), added.end(), [&](const BookAdded& e) {
      return !e.from_refresh && e.book.foreign_id == wanted;
    });
    CHECK(by_hand == 1);
  }
  CHECK(lib.library->add_book(wanted, lib.root.id).error().code == errc::conflict);
  CHECK(lib.library->add_book("404404", lib.root.id).error().code == errc::not_found);
}

TEST_CASE("A book added by hand survives its author's refresh and keeps the author on a 404", "[refresh]") {
  auto clock = std::make_shared<ManualClock>(kNow);
  Library lib(clock);
  Author ada = lib.add(1001, "Ada Example", 2);
  REQUIRE(lib.service->refresh_author(ada.id, Trigger::manual, nullptr).refreshed == 1);
  // A work of Ada's that the author route does not list (the mapping gave it to nobody).
  auto extra = fixtures::make_author(1001, "Ada Example", 3)["Works"][2];
  nlohmann::json work = extra;
  work["Authors"] = {{{"ForeignId", 1001}, {"Name", "Ada Example"}}};
  lib.server->put_work(work);
  auto book = lib.library->add_book(extra["ForeignId"].dump(), lib.root.id);
  REQUIRE(book.has_value());
  CHECK(book->author_id == ada.id);

  clock->advance(hours(1));
  lib.server->put_author(fixtures::make_author(1001, "Ada Example", 2));  // still without it
  auto sum = lib.service->refresh_author(ada.id, Trigger::manual, nullptr);
  CHECK(sum.books_removed == 0);
  CHECK(lib.catalog->book(book->id).has_value());

  lib.server->set_scenario("1001", {.scenario = Scenario::not_found});
  clock->advance(hours(1));
  auto all = lib.service->refresh_author(std::nullopt, Trigger::manual, nullptr);
  CHECK(all.removed == 0);
  CHECK(all.failed == 1);
  CHECK(lib.catalog->author(ada.id).has_value());
}

TEST_CASE("A merge that cannot be written leaves both authors as they were", "[refresh]") {
  auto clock = std::make_shared<ManualClock>(kNow);
  Library lib(clock);
  Author from = lib.add(1001, "Ada Example", 2);
  Author into = lib.add(1002, "Ada Q. Example", 1);
  Author other = lib.add(1003, "Someone Else", 1);
  REQUIRE(lib.service->refresh_author(std::nullopt, Trigger::manual, nullptr).refreshed == 3);

  // The target's new body holds an edition that the catalog has under another author's book:
  // the write is refused, and with it the merge.
  auto target = fixtures::make_author(1002, "Ada Q. Example", 1);
  const auto moved_works = works_attributed_to(fixtures::make_author(1001, "Ada Example", 2), 1002);
  for (const auto& w : moved_works["Works"]) target["Works"].push_back(w);
  auto clash = target["Works"][0];
  clash["ForeignId"] = 777777;
  clash["Books"][0]["ForeignId"] =
      fixtures::make_author(1003, "Someone Else", 1)["Works"][0]["Books"][0]["ForeignId"];
  target["Works"].push_back(clash);
  lib.server->put_author(target);
  lib.server->set_scenario("1001", {.scenario = Scenario::merged, .merge_target = "1002"});
  clock->advance(hours(1));

  const auto snap = lib.snapshot();
  CHECK_THROWS_AS(lib.service->refresh_author(from.id, Trigger::manual, nullptr), JobError);
  CHECK(lib.snapshot() == snap);
  CHECK(lib.catalog->author(from.id).has_value());
  CHECK(lib.books_of(from).size() == 2);
  (void)into;
  (void)other;
}

TEST_CASE("A bulk refresh (authorIds) refreshes those authors and counts the missing one", "[refresh]") {
  Library lib;
  Author ada = lib.add(1001, "Ada Example", 2);
  Author bob = lib.add(1002, "Bob Writer", 2);
  Author cy = lib.add(1003, "Cy Third", 2);
  Engine& engine = lib.start_engine();
  // As Readarr's mass editor posts it: by name, with a JSON body.
  auto job = engine.push("RefreshAuthor", {{"authorIds", {ada.id, cy.id, 999}}});
  REQUIRE(job.has_value());
  REQUIRE(engine.wait_idle(10s));
  auto done = engine.get(job->job.id);
  REQUIRE(done.has_value());
  CHECK(done->status == JobStatus::completed);
  CHECK(done->message.find("2 refreshed") != std::string::npos);
  CHECK(done->message.find("1 failed") != std::string::npos);
  CHECK(lib.books_of(ada).size() == 2);
  CHECK(lib.books_of(cy).size() == 2);
  CHECK(lib.books_of(bob).empty());  // not asked for

  // authorId and authorIds together, without repeats.
  RefreshAuthor both;
  both.authorId = ada.id;
  both.authorIds = {bob.id, ada.id};
  CHECK(both.ids() == std::vector<RowId>{ada.id, bob.id});
}

TEST_CASE("A 429 stops a run over all books, which waits and starts again", "[refresh]") {
  auto clock = std::make_shared<ManualClock>(kNow);
  Library lib(clock);
  Author ada = lib.add(1001, "Ada Example", 2);
  REQUIRE(lib.service->refresh_author(ada.id, Trigger::manual, nullptr).refreshed == 1);
  lib.server->set_scenario("1001", {.scenario = Scenario::rate_limited, .retry_after = "30"});
  const auto snap = lib.snapshot();
  try {
    lib.service->refresh_book(std::nullopt, Trigger::manual, nullptr);
    FAIL("no error");
  } catch (const JobError& e) {
    CHECK(e.kind() == ErrorKind::rate_limited);
    REQUIRE(e.retry_after().has_value());
    CHECK(*e.retry_after() == kNow + seconds(30));
  }
  CHECK(lib.snapshot() == snap);
}

TEST_CASE("The refresh events convert to JSON for hosts that forward them", "[refresh][events]") {
  Author a;
  a.id = 5;
  a.foreign_id = "1001";
  a.name = "Ada Example";
  a.path = "/books/Ada Example";
  a.added = kNow;
  const nlohmann::json added = AuthorAdded{a};
  CHECK(added["authorId"] == 5);
  CHECK(added["author"]["authorName"] == "Ada Example");
  CHECK(added["author"]["path"] == "/books/Ada Example");
  CHECK(added["author"]["lastInfoSync"].is_null());
  Book b;
  b.id = 9;
  b.author_id = 5;
  b.title = "First";
  b.release_date = days_ago(3);
  const nlohmann::json book = BookAdded{b, true};
  CHECK(book["bookId"] == 9);
  CHECK(book["authorId"] == 5);
  CHECK(book["fromRefresh"] == true);
  CHECK(book["book"]["releaseDate"].is_string());
  const nlohmann::json moved = AuthorMoved{5, "/books/A", "/books/B", 2};
  CHECK(moved ==
        nlohmann::json{{"authorId", 5}, {"oldPath", "/books/A"}, {"newPath", "/books/B"}, {"files", 2}});
  const nlohmann::json refreshed = AuthorRefreshed{5, true, 3, 0, 1};
  CHECK(refreshed["booksAdded"] == 3);
  CHECK(refreshed["booksRemoved"] == 1);
  CHECK_FALSE(refreshed.contains("searchForMissingBooks"));
  CHECK(nlohmann::json(AuthorRefreshed{5, true, 3, 0, 1, false})["searchForMissingBooks"] == false);
  CHECK(nlohmann::json(AuthorRemoved{a, "gone upstream"})["reason"] == "gone upstream");
  CHECK(nlohmann::json(AuthorMerged{4, 5, "10", "11"})["intoAuthorId"] == 5);
  CHECK(nlohmann::json(AuthorRenamed{5, "A", "B", "/a", "/b"})["newName"] == "B");
}

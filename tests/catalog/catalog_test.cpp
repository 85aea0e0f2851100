// SPDX-License-Identifier: MIT
// The SQLite catalog on real files: schema and migrations, authors and books, refresh writes
// (apply), merges, folder moves, atomicity, orderings and concurrent use; and the name helpers.

#include <atomic>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include "shelfjobs/catalog/catalog.hpp"
#include "test_support.hpp"

using namespace shelfjobs;
using namespace testing;
using namespace std::chrono;

namespace {

std::shared_ptr<Catalog> open_catalog(const TempDir& dir) {
  auto c = open_sqlite_catalog({dir.path() / "catalog.db"});
  REQUIRE(c.has_value());
  return *c;
}

Author make_author(const std::string& foreign_id, const std::string& name, const std::string& path) {
  Author a;
  a.foreign_id = foreign_id;
  a.name = name;
  a.path = path;
  return a;
}

Edition make_edition(const std::string& foreign_id, const std::string& title, double rating = 0) {
  Edition e;
  e.foreign_id = foreign_id;
  e.title = title;
  e.rating = rating;
  return e;
}

BookWrite make_book(RowId author_id, const std::string& foreign_id, const std::string& title,
                    std::optional<Date> released = std::nullopt) {
  BookWrite w;
  w.book.author_id = author_id;
  w.book.foreign_id = foreign_id;
  w.book.title = title;
  w.book.release_date = released;
  return w;
}

Date ymd(int y, unsigned m, unsigned d) { return Date{year{y} / month{m} / day{d}}; }

BookFile make_file(RowId author_id, RowId book_id, const std::string& path) {
  BookFile f;
  f.author_id = author_id;
  f.book_id = book_id;
  f.path = path;
  f.size = 1000;
  f.format = "epub";
  return f;
}

std::vector<std::string> titles(const std::vector<Book>& books) {
  std::vector<std::string> out;
  for (const auto& b : books) out.push_back(b.title);
  return out;
}

std::vector<std::string> paths_of(const std::vector<BookFile>& files) {
  std::vector<std::string> out;
  for (const auto& f : files) out.push_back(f.path.string());
  return out;
}

}  // namespace

TEST_CASE("the catalog migrates a new file and reopens it with its data", "[catalog]") {
  TempDir dir;
  RowId ann = 0;
  {
    auto c = open_catalog(dir);
    ann = c->add_author(make_author("100", "Ann Leckie", "/lib/Ann Leckie")).value().id;
  }
  {
    SQLite::Database db((dir.path() / "catalog.db").string());
    CHECK(db.execAndGet("PRAGMA journal_mode").getString() == "wal");
    CHECK(db.execAndGet("SELECT value FROM catalog_meta WHERE key = 'schema_version'").getInt() ==
          catalog_schema_version());
    for (const char* table :
         {"root_folders", "authors", "books", "editions", "series", "series_books", "book_files"}) {
      CAPTURE(table);
      CHECK(db.tableExists(table));
    }
    for (const char* index : {"authors_by_sort_name", "books_by_author", "books_by_author_release",
                              "editions_by_book", "editions_by_isbn13", "editions_by_asin",
                              "book_files_by_author", "book_files_by_book", "series_books_by_book"}) {
      CAPTURE(index);
      SQLite::Statement st(db, "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?");
      st.bind(1, index);
      CHECK(st.executeStep());
    }
  }
  auto c = open_catalog(dir);
  auto a = c->author(ann);
  REQUIRE(a.has_value());
  CHECK(a->name == "Ann Leckie");
  CHECK(a->sort_name == "Leckie, Ann");
  CHECK(a->path == "/lib/Ann Leckie");
  CHECK(c->rows_written() == 0);
}

TEST_CASE("two openers of a new file at once both migrate it without a clash", "[catalog][concurrency]") {
  for (int round = 0; round < 20; ++round) {
    CAPTURE(round);
    TempDir dir;
    const auto path = dir.path() / "catalog.db";
    std::atomic<int> ready{0};
    Result<std::shared_ptr<Catalog>> results[2] = {Error{errc::store_error, "not run"},
                                                   Error{errc::store_error, "not run"}};
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
      threads.emplace_back([&, i] {
        ++ready;
        while (ready.load() < 2) std::this_thread::yield();
        results[i] = open_sqlite_catalog({path});
      });
    }
    for (auto& t : threads) t.join();
    for (const auto& r : results)
      if (!r) FAIL_CHECK(r.error().message);
    if (!results[0] || !results[1]) continue;
    // One schema, usable from both.
    auto a = (*results[0])->add_author(make_author("1", "Ann", "/lib/Ann"));
    REQUIRE(a.has_value());
    CHECK((*results[1])->author(a->id).value().name == "Ann");
    SQLite::Database db(path.string());
    CHECK(db.execAndGet("SELECT value FROM catalog_meta WHERE key = 'schema_version'").getInt() ==
          catalog_schema_version());
  }
}

TEST_CASE("the catalog refuses a file with a newer schema", "[catalog]") {
  TempDir dir;
  { open_catalog(dir); }
  {
    SQLite::Database db((dir.path() / "catalog.db").string(), SQLite::OPEN_READWRITE);
    db.exec("UPDATE catalog_meta SET value = 7 WHERE key = 'schema_version'");
  }
  auto c = open_sqlite_catalog({dir.path() / "catalog.db"});
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().code == errc::invalid_argument);
  CHECK_THAT(c.error().message, Catch::Contains("catalog.db") && Catch::Contains("7") &&
                                    Catch::Contains("(" + std::to_string(catalog_schema_version()) + ")"));
}

TEST_CASE("a catalog file of an earlier release opens with its data", "[catalog][sqlite]") {
  TempDir dir;
  const auto path = dir.path() / "catalog.db";
  RowId ann = 0;
  {
    auto c = open_catalog(dir);
    ann = c->add_author(make_author("100", "Ann Leckie", "/lib/Ann Leckie")).value().id;
  }
  {
    // As the first release left it: schema 1, its version in catalog_meta only.
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
    db.exec("DROP TABLE shelfjobs_schema");
    db.exec("DROP TABLE id_high");  // migration 5's, with its triggers
    for (const char* table : {"root_folders", "authors", "books", "editions", "series", "book_files"})
      db.exec(std::string("DROP TRIGGER ") + table + "_id_high");
    db.exec("DROP TABLE exclusions");  // migration 3's, as 4 left it (its trigger goes with it)
    for (const char* column : {"added", "unmapped_reason", "read_error", "title", "author", "isbn13", "asin"})
      db.exec(std::string("ALTER TABLE book_files DROP COLUMN ") + column);
    db.exec("UPDATE catalog_meta SET value = 1 WHERE key = 'schema_version'");
  }
  auto c = open_catalog(dir);  // migration 1 does not run again ("table already exists"); 2 to 5 do
  CHECK(c->author(ann).value().name == "Ann Leckie");
  const RowId ada = c->add_author(make_author("101", "Ada Palmer", "/lib/Ada Palmer")).value().id;
  CHECK(ada > ann);
  CHECK(c->add_exclusion({0, "w1", ""}).has_value());
  CHECK(c->exclusions().value().at(0).kind == ExclusionKind::any);
  // Migration 5 keeps ids from the highest the file held: the newest removed, its id stays unused.
  REQUIRE(c->remove_author(ada).has_value());
  CHECK(c->add_author(make_author("102", "Ann Example", "/lib/Ann Example")).value().id > ada);
  // Migrated to the current schema, with catalog_meta kept in step.
  SQLite::Database db(path.string());
  CHECK(db.execAndGet("SELECT value FROM catalog_meta WHERE key = 'schema_version'").getInt() ==
        catalog_schema_version());
}

TEST_CASE("removing a root folder keeps its authors, linked to none", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RootFolder root = c->add_root_folder("/lib").value();
  const RootFolder other = c->add_root_folder("/other").value();
  Author a = make_author("100", "Ann Leckie", "/lib/Ann Leckie");
  a.root_folder_id = root.id;
  const RowId ann = c->add_author(a).value().id;
  Author b = make_author("101", "Bo Other", "/other/Bo Other");
  b.root_folder_id = other.id;
  const RowId bo = c->add_author(b).value().id;
  const RootFolder removed = c->remove_root_folder(root.id).value();
  CHECK(removed.path == root.path);
  CHECK(c->root_folder(root.id).error().code == errc::not_found);
  CHECK(c->remove_root_folder(root.id).error().code == errc::not_found);
  CHECK(c->author(ann)->root_folder_id == 0);
  CHECK(c->author(ann)->path == "/lib/Ann Leckie");
  CHECK(c->author(bo)->root_folder_id == other.id);
  REQUIRE(c->root_folders()->size() == 1);

  // Added again, it takes its authors back; a folder that merely starts with the same letters
  // ("/lib2") or holds a LIKE wildcard is not under it.
  Author near = make_author("102", "Near Miss", "/lib2/Near Miss");
  const RowId near_id = c->add_author(near).value().id;
  const RootFolder wild = c->add_root_folder("/l_b").value();
  CHECK(c->author(ann)->root_folder_id == 0);
  const RootFolder back = c->add_root_folder("/lib").value();
  CHECK(back.id != root.id);
  CHECK(c->author(ann)->root_folder_id == back.id);
  CHECK(c->author(near_id)->root_folder_id == 0);
  CHECK(c->author(bo)->root_folder_id == other.id);
  CHECK(wild.id != back.id);
  // The file system's root holds every folder: the author left without one is linked to it, one
  // a deeper root folder holds stays with that one.
  const RootFolder top = c->add_root_folder("/").value();
  CHECK(c->author(near_id)->root_folder_id == top.id);
  CHECK(c->author(ann)->root_folder_id == back.id);
  Author x = make_author("103", "X", "/x");
  const RowId x_id = c->add_author(x).value().id;
  REQUIRE(c->remove_root_folder(top.id).has_value());
  CHECK(c->author(x_id)->root_folder_id == 0);
  const RootFolder top_again = c->add_root_folder("/").value();
  CHECK(c->author(x_id)->root_folder_id == top_again.id);  // a one-letter folder is inside "/" too
}

TEST_CASE("a removed row's id is never handed out again", "[catalog]") {
  // SQLite alone gives a new row the highest id + 1, so removing the newest row freed its id
  // for the next one: a client still holding it would reach the new row.
  TempDir dir;
  RowId gone_author = 0, gone_book = 0, gone_edition = 0, gone_file = 0, gone_exclusion = 0;
  {
    auto c = open_catalog(dir);
    const RowId ann = c->add_author(make_author("100", "Ann Leckie", "/lib/Ann Leckie")).value().id;
    gone_author = c->add_author(make_author("101", "Ada Palmer", "/lib/Ada Palmer")).value().id;
    REQUIRE(c->remove_author(gone_author).has_value());
    CHECK(c->add_author(make_author("102", "Ann Example", "/lib/Ann Example")).value().id > gone_author);

    AuthorWrite w;
    w.books = {make_book(ann, "5001", "Ancillary Justice"), make_book(ann, "5002", "Ancillary Sword")};
    w.books[1].editions = {make_edition("e1", "Ancillary Sword (ebook)")};
    auto ids = c->apply(w).value().new_book_ids;
    REQUIRE(ids.size() == 2);
    gone_book = ids[1];
    gone_edition = c->editions_of(gone_book).value().at(0).id;
    const RowId kept_file = c->upsert_file(make_file(ann, ids[0], "/lib/Ann Leckie/one.epub")).value().id;
    gone_file = c->upsert_file(make_file(ann, gone_book, "/lib/Ann Leckie/two.epub")).value().id;
    CHECK(gone_file > kept_file);
    REQUIRE(c->remove_file(gone_file).has_value());
    REQUIRE(c->remove_book(gone_book).has_value());  // its edition goes by the cascade
    gone_exclusion = c->add_exclusion({0, "w1", "One"}).value().id;
    REQUIRE(c->remove_exclusion(gone_exclusion).has_value());
  }
  auto c = open_catalog(dir);  // and after reopening
  const RowId ann = c->author_by_foreign_id("100").value().id;
  AuthorWrite w;
  w.books = {make_book(ann, "5003", "Ancillary Mercy")};
  w.books[0].editions = {make_edition("e2", "Ancillary Mercy (ebook)")};
  const RowId book = c->apply(w).value().new_book_ids.at(0);
  CHECK(book > gone_book);
  CHECK(c->editions_of(book).value().at(0).id > gone_edition);
  CHECK(c->upsert_file(make_file(ann, book, "/lib/Ann Leckie/three.epub")).value().id > gone_file);
  CHECK(c->add_exclusion({0, "w2", "Two"}).value().id > gone_exclusion);
  CHECK(c->add_author(make_author("103", "Ada Example", "/lib/Ada Example")).value().id > gone_author + 1);
}

TEST_CASE("a schema 3 catalog keeps its exclusions, of kind any, and its ids from then on",
          "[catalog][sqlite]") {
  TempDir dir;
  const auto path = dir.path() / "catalog.db";
  RowId first = 0, newest = 0;
  {
    auto c = open_catalog(dir);
    first = c->add_exclusion({0, "w1", "Ann Leckie - One"}).value().id;
    newest = c->add_exclusion({0, "w2", "Ann Leckie - Two"}).value().id;
  }
  {
    // Schema 3's exclusions: no kind, one row per foreign id; no id_high.
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
    db.exec("DROP TABLE id_high");
    for (const char* table : {"root_folders", "authors", "books", "editions", "series", "book_files"})
      db.exec(std::string("DROP TRIGGER ") + table + "_id_high");
    db.exec(
        "CREATE TABLE old_exclusions (id INTEGER PRIMARY KEY, foreign_id TEXT NOT NULL UNIQUE, "
        "name TEXT NOT NULL DEFAULT ''); "
        "INSERT INTO old_exclusions SELECT id, foreign_id, name FROM exclusions; "
        "DROP TABLE exclusions; ALTER TABLE old_exclusions RENAME TO exclusions");
    db.exec("UPDATE shelfjobs_schema SET version = 3 WHERE name = 'catalog'");
    db.exec("UPDATE catalog_meta SET value = 3 WHERE key = 'schema_version'");
  }
  auto c = open_catalog(dir);
  const auto kept = c->exclusions().value();
  REQUIRE(kept.size() == 2);
  CHECK(kept[0].id == first);
  CHECK(kept[0].name == "Ann Leckie - One");
  CHECK(kept[0].kind == ExclusionKind::any);
  CHECK(c->excluded({"w1", "w2"}, ExclusionKind::author).value().size() == 2);
  REQUIRE(c->remove_exclusion(newest).has_value());
  CHECK(c->add_exclusion({0, "w3", ""}).value().id > newest);
}

TEST_CASE("a catalog whose id marks were lost gets them back at open", "[catalog][sqlite]") {
  TempDir dir;
  RowId newest = 0;
  {
    auto c = open_catalog(dir);
    REQUIRE(c->add_author(make_author("100", "Ann Leckie", "/lib/Ann Leckie")).has_value());
    newest = c->add_author(make_author("101", "Ada Palmer", "/lib/Ada Palmer")).value().id;
  }
  {
    SQLite::Database db((dir.path() / "catalog.db").string(), SQLite::OPEN_READWRITE);
    db.exec("DELETE FROM id_high WHERE tbl = 'authors'");  // a hand edit
  }
  auto c = open_catalog(dir);
  REQUIRE(c->remove_author(newest).has_value());
  CHECK(c->add_author(make_author("102", "Ann Example", "/lib/Ann Example")).value().id > newest);
}

TEST_CASE("the catalog reports a file it cannot open as a store error", "[catalog]") {
  TempDir dir;
  auto c = open_sqlite_catalog({dir.path() / "missing" / "catalog.db"});
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().code == errc::store_error);
  CHECK_THAT(c.error().message, Catch::Contains("catalog.db"));
}

TEST_CASE("authors: add, read back, duplicates and missing ones", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  Author a = make_author("100", "Ann Leckie", "/lib/Ann Leckie/");
  a.overview = "Space opera.";
  a.status = AuthorStatus::ended;
  a.last_info_sync = system_clock::time_point(milliseconds(1'700'000'000'123));
  a.metadata_hash = "abc";
  auto added = c->add_author(a);
  REQUIRE(added.has_value());
  CHECK(added->id > 0);
  CHECK(c->rows_written() == 1);

  auto back = c->author_by_foreign_id("100");
  REQUIRE(back.has_value());
  CHECK(back->id == added->id);
  CHECK(back->path == "/lib/Ann Leckie");  // stored without the trailing separator
  CHECK(back->overview == "Space opera.");
  CHECK(back->status == AuthorStatus::ended);
  CHECK(back->last_info_sync == a.last_info_sync);
  CHECK(back->metadata_hash == "abc");
  CHECK(back->added != TimePoint{});
  CHECK(back->root_folder_id == 0);

  auto dup = c->add_author(make_author("100", "Someone Else", "/lib/Someone Else"));
  REQUIRE_FALSE(dup.has_value());
  CHECK(dup.error().code == errc::conflict);
  CHECK_THAT(dup.error().message, Catch::Contains("100"));
  auto same_path = c->add_author(make_author("101", "Other", "/lib/Ann Leckie"));
  REQUIRE_FALSE(same_path.has_value());
  CHECK(same_path.error().code == errc::conflict);
  CHECK(c->rows_written() == 1);

  auto missing = c->author(999);
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == errc::not_found);
  CHECK(missing.error().message == "author 999");
  auto missing_book = c->book_by_foreign_id("5001");
  REQUIRE_FALSE(missing_book.has_value());
  CHECK(missing_book.error().message == "book with foreign id 5001");

  auto bad_root = make_author("102", "Rooted", "/lib/Rooted");
  bad_root.root_folder_id = 42;
  auto r = c->add_author(bad_root);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == errc::not_found);
}

TEST_CASE("root folders: absolute paths only, no duplicates", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  auto r = c->add_root_folder("/lib/books/");
  REQUIRE(r.has_value());
  CHECK(r->path == "/lib/books");
  CHECK(r->name == "books");
  CHECK(c->add_root_folder("relative/books").error().code == errc::invalid_argument);
  CHECK(c->add_root_folder("/lib/books").error().code == errc::conflict);
  REQUIRE(c->add_root_folder("/lib/audio", "Audiobooks").has_value());
  auto all = c->root_folders().value();
  REQUIRE(all.size() == 2);
  CHECK(all[0].name == "Audiobooks");
  CHECK(c->root_folder(r->id).value().path == "/lib/books");
  CHECK(c->root_folder(77).error().code == errc::not_found);

  auto a = make_author("1", "Rooted Author", "/lib/books/Rooted Author");
  a.root_folder_id = r->id;
  CHECK(c->add_author(a).value().root_folder_id == r->id);
  CHECK(c->counts().value().root_folders == 2);
}

TEST_CASE("apply inserts books with editions and series and returns their ids", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = c->add_author(make_author("100", "Ann Leckie", "/lib/Ann")).value().id;

  AuthorWrite w;
  auto b1 = make_book(ann, "5001", "Ancillary Justice", ymd(2013, 10, 1));
  b1.book.genres = {"science fiction", "space opera"};
  b1.editions = {make_edition("e1", "Ancillary Justice (hardcover)", 10),
                 make_edition("e2", "Ancillary Justice (ebook)", 20)};
  b1.editions[1].is_ebook = true;
  b1.editions[1].monitored = true;
  b1.editions[1].isbn13 = "9780316246620";
  b1.series = {{"s1", "Imperial Radch", "1", 1, true}};
  auto b2 = make_book(ann, "5002", "Ancillary Sword", ymd(2014, 10, 7));
  b2.series = {{"s1", "Imperial Radch", "2", 2, true}};
  w.books = {b1, b2};

  const auto before = c->rows_written();
  auto r = c->apply(w);
  REQUIRE(r.has_value());
  REQUIRE(r->new_book_ids.size() == 2);
  CHECK(r->new_book_ids[0] > 0);
  CHECK(r->new_book_ids[1] > r->new_book_ids[0]);
  // 2 books, 2 editions, 1 series, 2 links.
  CHECK(r->rows_written == 7);
  CHECK(c->rows_written() - before == 7);

  auto book = c->book(r->new_book_ids[0]).value();
  CHECK(book.author_id == ann);
  CHECK(book.title == "Ancillary Justice");
  CHECK(book.release_date == ymd(2013, 10, 1));
  CHECK(book.genres == std::vector<std::string>{"science fiction", "space opera"});
  CHECK(book.added != TimePoint{});

  auto eds = c->editions_of(book.id).value();
  REQUIRE(eds.size() == 2);
  CHECK(eds[0].foreign_id == "e1");
  CHECK(eds[1].is_ebook);
  CHECK(eds[1].monitored);
  CHECK(eds[1].isbn13 == "9780316246620");
  CHECK(eds[1].rating == 20);

  auto links = c->series_links_of(book.id).value();
  REQUIRE(links.size() == 1);
  CHECK(links[0].position == "1");
  CHECK(links[0].primary);
  auto series = c->series(links[0].series_id).value();
  CHECK(series.title == "Imperial Radch");
  CHECK(c->series_links_of(r->new_book_ids[1]).value().at(0).series_id == series.id);

  auto n = c->counts().value();
  CHECK(n.authors == 1);
  CHECK(n.books == 2);
  CHECK(n.editions == 2);
  CHECK(n.series == 1);
  CHECK(n.files == 0);
}

TEST_CASE("apply of an empty write writes no row", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = c->add_author(make_author("100", "Ann Leckie", "/lib/Ann")).value().id;
  const auto before = c->rows_written();
  auto r = c->apply(AuthorWrite{});
  REQUIRE(r.has_value());
  CHECK(r->rows_written == 0);
  CHECK(r->new_book_ids.empty());
  CHECK(c->rows_written() == before);

  // A book rewritten with the same editions and links writes the book row only.
  auto b = make_book(ann, "5001", "Ancillary Justice");
  b.editions = {make_edition("e1", "AJ")};
  b.series = {{"s1", "Imperial Radch", "1", 1, true}};
  AuthorWrite insert;
  insert.books = {b};
  const RowId id = c->apply(insert).value().new_book_ids.at(0);
  b.book.id = id;
  AuthorWrite again;
  again.books = {b};
  auto r2 = c->apply(again);
  REQUIRE(r2.has_value());
  CHECK(r2->rows_written == 1);
  CHECK(r2->new_book_ids == std::vector<RowId>{0});
}

TEST_CASE("apply updates only what it is asked to", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = c->add_author(make_author("100", "Ann Leckie", "/lib/Ann")).value().id;
  const RowId other = c->add_author(make_author("200", "Bo Other", "/lib/Bo")).value().id;
  AuthorWrite w;
  w.books = {make_book(ann, "5001", "Ancillary Justice"), make_book(ann, "5002", "Ancillary Sword"),
             make_book(other, "6001", "Other Book")};
  auto ids = c->apply(w).value().new_book_ids;
  const Book untouched = c->book(ids[1]).value();

  AuthorWrite up;
  Author a = c->author(ann).value();
  a.overview = "New overview";
  a.last_info_sync = system_clock::time_point(milliseconds(1'700'000'000'000));
  a.metadata_hash = "h2";
  up.author = a;
  BookWrite bw;
  bw.book = c->book(ids[0]).value();
  bw.book.title = "Ancillary Justice (revised)";
  bw.book.monitored = false;
  up.books = {bw};
  auto r = c->apply(up);
  REQUIRE(r.has_value());
  CHECK(r->rows_written == 2);  // the author row and one book row

  auto a2 = c->author(ann).value();
  CHECK(a2.overview == "New overview");
  CHECK(a2.metadata_hash == "h2");
  CHECK(a2.last_info_sync == a.last_info_sync);
  CHECK(a2.name == "Ann Leckie");
  auto b = c->book(ids[0]).value();
  CHECK(b.title == "Ancillary Justice (revised)");
  CHECK(b.monitored);  // a person's to set (set_books_monitored), never a refresh's
  CHECK_FALSE(c->set_books_monitored({ids[0]}, false).value().at(0).monitored);
  CHECK_FALSE(c->book(ids[0]).value().monitored);
  auto same = c->book(ids[1]).value();
  CHECK(same.title == untouched.title);
  CHECK(same.monitored == untouched.monitored);
  CHECK(c->book(ids[2]).value().title == "Other Book");
  CHECK(c->author(other).value().overview.empty());

  AuthorWrite missing;
  BookWrite ghost = make_book(ann, "7001", "Ghost");
  ghost.book.id = 999;
  missing.books = {ghost};
  // A book that is gone (a person removed it after the refresh read it) is skipped.
  auto m = c->apply(missing);
  REQUIRE(m.has_value());
  CHECK(m->new_book_ids == std::vector<RowId>{0});
  CHECK(c->book(999).error().code == errc::not_found);
  CHECK(c->book_by_foreign_id("7001").error().code == errc::not_found);
}

TEST_CASE("apply syncs editions by foreign id: add, update, delete", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = c->add_author(make_author("100", "Ann Leckie", "/lib/Ann")).value().id;
  auto bw = make_book(ann, "5001", "Ancillary Justice");
  bw.editions = {make_edition("e1", "Hardcover", 5), make_edition("e2", "Paperback", 3),
                 make_edition("e3", "Ebook", 9)};
  AuthorWrite w;
  w.books = {bw};
  const RowId id = c->apply(w).value().new_book_ids.at(0);
  auto eds = c->editions_of(id).value();
  REQUIRE(eds.size() == 3);
  const RowId e1 = eds[0].id, e2 = eds[1].id, e3 = eds[2].id;
  // A file matched to the edition that goes keeps existing, unmatched from it.
  auto file = make_file(ann, id, "/lib/Ann/AJ/aj.epub");
  file.edition_id = e2;
  REQUIRE(c->upsert_file(file).has_value());

  bw.book.id = id;
  bw.editions = {make_edition("e1", "Hardcover", 5), make_edition("e3", "Ebook (2nd)", 11),
                 make_edition("e4", "Audiobook", 1)};
  AuthorWrite sync;
  sync.books = {bw};
  auto r = c->apply(sync);
  REQUIRE(r.has_value());
  // The book row, e2 deleted (and the file's edition_id set to NULL), e3 updated, e4 inserted.
  CHECK(r->rows_written == 5);
  eds = c->editions_of(id).value();
  REQUIRE(eds.size() == 3);
  CHECK(eds[0].id == e1);
  // One by id: as the list has it; a deleted one is gone.
  CHECK(c->edition(e3).value().title == "Ebook (2nd)");
  CHECK(c->edition(e3).value().book_id == id);
  CHECK(c->edition(e2).error().code == errc::not_found);
  CHECK(eds[1].id == e3);
  CHECK(eds[1].title == "Ebook (2nd)");
  CHECK(eds[1].rating == 11);
  CHECK(eds[2].foreign_id == "e4");
  CHECK(eds[2].id != e2);
  auto files = c->files_of_author(ann).value();
  REQUIRE(files.size() == 1);
  CHECK(files[0].edition_id == 0);
  CHECK(files[0].book_id == id);
}

TEST_CASE("an edition the source moves to another book keeps its id within one author", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = c->add_author(make_author("100", "Ann", "/lib/Ann")).value().id;
  const RowId bo = c->add_author(make_author("200", "Bo", "/lib/Bo")).value().id;
  auto one = make_book(ann, "5001", "One");
  one.editions = {make_edition("e1", "One"), make_edition("e2", "Omnibus")};
  AuthorWrite w;
  w.books = {one, make_book(ann, "5002", "Two"), make_book(bo, "6001", "Bo's")};
  auto ids = c->apply(w).value().new_book_ids;
  const RowId omnibus = c->editions_of(ids[0]).value().at(1).id;

  // The omnibus edition now belongs to "Two" at the source.
  AuthorWrite move;
  auto two = make_book(ann, "5002", "Two");
  two.book.id = ids[1];
  two.editions = {make_edition("e2", "Omnibus")};
  move.books = {two};
  REQUIRE(c->apply(move).has_value());
  CHECK(c->editions_of(ids[1]).value().at(0).id == omnibus);
  CHECK(c->editions_of(ids[0]).value().size() == 1);

  // Another author's book may not take it.
  AuthorWrite steal;
  auto bos = make_book(bo, "6001", "Bo's");
  bos.book.id = ids[2];
  bos.editions = {make_edition("e2", "Omnibus")};
  steal.books = {bos};
  auto r = c->apply(steal);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == errc::conflict);
  CHECK_THAT(r.error().message, Catch::Contains("e2"));
  CHECK(c->editions_of(ids[1]).value().size() == 1);
}

TEST_CASE("an edition moving between two books of one write keeps its id in either order", "[catalog]") {
  const bool giver_first = GENERATE(true, false);
  const bool other_author = GENERATE(false, true);
  CAPTURE(giver_first, other_author);
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = c->add_author(make_author("100", "Ann", "/lib/Ann")).value().id;
  const RowId bo = c->add_author(make_author("200", "Bo", "/lib/Bo")).value().id;
  const RowId taker_author = other_author ? bo : ann;
  auto one = make_book(ann, "5001", "One");
  one.editions = {make_edition("e1", "One"), make_edition("e2", "Omnibus")};
  auto two = make_book(taker_author, "5002", "Two");
  two.editions = {make_edition("e3", "Two")};
  AuthorWrite w;
  w.books = {one, two};
  auto ids = c->apply(w).value().new_book_ids;
  const RowId omnibus = c->editions_of(ids[0]).value().at(1).id;
  auto file = make_file(ann, ids[0], "/lib/Ann/One/omnibus.epub");
  file.edition_id = omnibus;
  REQUIRE(c->upsert_file(file).has_value());

  // At the source the omnibus now belongs to Two; one refresh writes both books.
  one.book.id = ids[0];
  one.editions = {make_edition("e1", "One")};
  two.book.id = ids[1];
  two.editions = {make_edition("e3", "Two"), make_edition("e2", "Omnibus")};
  AuthorWrite move;
  move.books = giver_first ? std::vector<BookWrite>{one, two} : std::vector<BookWrite>{two, one};
  auto r = c->apply(move);
  REQUIRE(r.has_value());
  // Two book rows and the edition's move.
  CHECK(r->rows_written == 3);
  const auto eds = c->editions_of(ids[1]).value();  // by id: the omnibus is the older one
  REQUIRE(eds.size() == 2);
  CHECK(eds[0].foreign_id == "e2");
  CHECK(eds[0].id == omnibus);
  CHECK(c->editions_of(ids[0]).value().size() == 1);
  CHECK(c->counts().value().editions == 3);
  const auto files = c->files_of_author(ann).value();
  REQUIRE(files.size() == 1);
  CHECK(files[0].edition_id == omnibus);

  // An edition its book drops and no book takes still goes; its file stays, unmatched from it.
  two.editions = {make_edition("e3", "Two")};
  AuthorWrite drop;
  drop.books = {two};
  REQUIRE(c->apply(drop).has_value());
  CHECK(c->counts().value().editions == 2);
  CHECK(c->files_of_author(ann).value().at(0).edition_id == 0);
}

TEST_CASE("apply replaces series links and retitles series", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = c->add_author(make_author("100", "Ann Leckie", "/lib/Ann")).value().id;
  auto bw = make_book(ann, "5001", "Ancillary Justice");
  bw.series = {{"s1", "Radch", "1", 1, true}, {"s2", "Omnibus", "1-3", 1, false}};
  AuthorWrite w;
  w.books = {bw};
  const RowId id = c->apply(w).value().new_book_ids.at(0);
  REQUIRE(c->series_links_of(id).value().size() == 2);

  bw.book.id = id;
  bw.series = {{"s1", "Imperial Radch", "1", 1, true}};
  AuthorWrite again;
  again.books = {bw};
  auto r = c->apply(again);
  REQUIRE(r.has_value());
  CHECK(r->rows_written == 3);  // the book, the series title, the dropped link
  auto links = c->series_links_of(id).value();
  REQUIRE(links.size() == 1);
  CHECK(c->series(links[0].series_id).value().title == "Imperial Radch");
  CHECK(c->counts().value().series == 2);  // series rows stay; only links go
}

TEST_CASE("apply merges an author: books and files move, the source goes", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId target = c->add_author(make_author("100", "Ann Leckie", "/lib/Ann")).value().id;
  const RowId source = c->add_author(make_author("101", "A. Leckie", "/lib/A Leckie")).value().id;
  AuthorWrite w;
  w.books = {make_book(target, "5001", "Ancillary Justice"), make_book(source, "5002", "Ancillary Sword"),
             make_book(source, "5003", "Ancillary Mercy")};
  auto ids = c->apply(w).value().new_book_ids;
  REQUIRE(c->upsert_file(make_file(source, ids[1], "/lib/A Leckie/Sword/sword.epub")).has_value());
  // Matched to the source's book but not (yet) to an author: it follows the book too.
  REQUIRE(c->upsert_file(make_file(0, ids[2], "/lib/A Leckie/Mercy/mercy.epub")).has_value());

  AuthorWrite merge;
  merge.author = c->author(target).value();
  merge.merge_from = source;
  auto r = c->apply(merge);
  REQUIRE(r.has_value());
  // The author row, 2 books moved, 2 files re-pointed, the source deleted, and as the source was
  // the newest author, the mark that keeps its id from being handed out again (id_high).
  CHECK(r->rows_written == 7);
  CHECK(c->author(source).error().code == errc::not_found);
  CHECK(c->books_of(target).value().size() == 3);
  CHECK(c->book(ids[2]).value().author_id == target);
  auto files = c->files_of_author(target).value();
  REQUIRE(files.size() == 2);
  CHECK(files[0].book_id == ids[2]);
  CHECK(files[0].author_id == target);
  CHECK(files[1].book_id == ids[1]);
  CHECK(files[1].author_id == target);
  CHECK(c->counts().value().authors == 1);
}

TEST_CASE("a book that moves to another author takes its files along", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = c->add_author(make_author("100", "Ann", "/lib/Ann")).value().id;
  const RowId bo = c->add_author(make_author("200", "Bo", "/lib/Bo")).value().id;
  AuthorWrite w;
  w.books = {make_book(ann, "5001", "Wandering"), make_book(ann, "5002", "Staying")};
  auto ids = c->apply(w).value().new_book_ids;
  REQUIRE(c->upsert_file(make_file(ann, ids[0], "/lib/Ann/Wandering/w.epub")).has_value());
  REQUIRE(c->upsert_file(make_file(0, ids[0], "/lib/Ann/Wandering/w.pdf")).has_value());
  REQUIRE(c->upsert_file(make_file(bo, ids[0], "/lib/Ann/Wandering/w.m4b")).has_value());
  REQUIRE(c->upsert_file(make_file(ann, ids[1], "/lib/Ann/Staying/s.epub")).has_value());

  // The source now credits Bo with the book; Bo's refresh writes it.
  AuthorWrite move;
  BookWrite bw;
  bw.book = c->book(ids[0]).value();
  bw.book.author_id = bo;
  move.books = {bw};
  auto r = c->apply(move);
  REQUIRE(r.has_value());
  // The book row and the two files not linked to Bo yet.
  CHECK(r->rows_written == 3);
  CHECK(c->book(ids[0]).value().author_id == bo);
  const auto bos = c->files_of_author(bo).value();
  REQUIRE(bos.size() == 3);
  for (const auto& f : bos) {
    CAPTURE(f.path);
    CHECK(f.author_id == bo);
    CHECK(f.book_id == ids[0]);
  }
  CHECK(paths_of(c->files_of_author(ann).value()) == std::vector<std::string>{"/lib/Ann/Staying/s.epub"});

  // Moving Staying away leaves Ann with no file; she can go.
  AuthorWrite second;
  bw.book = c->book(ids[1]).value();
  bw.book.author_id = bo;
  second.books = {bw};
  REQUIRE(c->apply(second).has_value());
  CHECK(c->file_count_of_author(ann).value() == 0);
  CHECK(c->remove_author(ann).has_value());
  CHECK(c->file_count_of_author(bo).value() == 4);

  // A book written with its author unchanged writes no file row.
  AuthorWrite same;
  same.books = {bw};
  CHECK(c->apply(same).value().rows_written == 1);
}

TEST_CASE("apply re-keys an author, taking a merged author's foreign id", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId keep = c->add_author(make_author("100", "Ann Leckie", "/lib/Ann")).value().id;
  const RowId old = c->add_author(make_author("555", "Ann Leckie (dup)", "/lib/Ann2")).value().id;

  // A plain re-key.
  AuthorWrite rekey;
  rekey.author = c->author(keep).value();
  rekey.author->foreign_id = "100-new";
  REQUIRE(c->apply(rekey).has_value());
  CHECK(c->author_by_foreign_id("100-new").value().id == keep);
  CHECK(c->author_by_foreign_id("100").error().code == errc::not_found);

  // Re-keying onto another author's id is a conflict...
  AuthorWrite clash;
  clash.author = c->author(keep).value();
  clash.author->foreign_id = "555";
  auto bad = c->apply(clash);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == errc::conflict);
  CHECK_THAT(bad.error().message, Catch::Contains("555") && Catch::Contains(std::to_string(old)));

  // ...unless that author is merged in by the same write.
  clash.merge_from = old;
  REQUIRE(c->apply(clash).has_value());
  CHECK(c->author_by_foreign_id("555").value().id == keep);
  CHECK(c->counts().value().authors == 1);
}

TEST_CASE("apply deletes removed books with their editions and links", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = c->add_author(make_author("100", "Ann Leckie", "/lib/Ann")).value().id;
  auto b1 = make_book(ann, "5001", "One");
  b1.editions = {make_edition("e1", "One HC"), make_edition("e2", "One PB")};
  b1.series = {{"s1", "Radch", "1", 1, true}};
  AuthorWrite w;
  w.books = {b1, make_book(ann, "5002", "Two")};
  auto ids = c->apply(w).value().new_book_ids;
  // Matched to one of the book's editions but not to the book: no file links to the book.
  auto file = make_file(ann, 0, "/lib/Ann/One/one.epub");
  file.edition_id = c->editions_of(ids[0]).value().at(0).id;
  REQUIRE(c->upsert_file(file).has_value());

  AuthorWrite rm;
  rm.removed_books = {ids[0]};
  auto r = c->apply(rm);
  REQUIRE(r.has_value());
  CHECK(r->kept_books.empty());
  // The book, 2 editions, 1 link, the file's edition_id set to NULL, and the mark that keeps the
  // newest edition's id from being handed out again (id_high; the book was not the newest).
  CHECK(r->rows_written == 6);
  CHECK(c->book(ids[0]).error().code == errc::not_found);
  auto n = c->counts().value();
  CHECK(n.books == 1);
  CHECK(n.editions == 0);
  CHECK(n.files == 1);
  CHECK(c->files_of_author(ann).value().at(0).edition_id == 0);

  AuthorWrite again;  // gone already (a person removed it meanwhile): nothing to do
  again.removed_books = {ids[0]};
  CHECK(c->apply(again).has_value());
  CHECK(c->counts().value().books == 1);
}

TEST_CASE("apply keeps a removed book a file was linked to meanwhile", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = c->add_author(make_author("100", "Ann Leckie", "/lib/Ann")).value().id;
  auto one = make_book(ann, "5001", "One");
  one.editions = {make_edition("e1", "One HC")};
  one.series = {{"s1", "Radch", "1", 1, true}};
  AuthorWrite w;
  w.books = {one, make_book(ann, "5002", "Two"), make_book(ann, "5003", "Three")};
  auto ids = c->apply(w).value().new_book_ids;

  // A refresh decides to remove One and Two while neither has a file...
  REQUIRE(c->file_count_of_book(ids[0]).value() == 0);
  REQUIRE(c->file_count_of_book(ids[1]).value() == 0);
  AuthorWrite rm;
  rm.removed_books = {ids[0], ids[1]};
  auto three = make_book(ann, "5003", "Three (revised)");
  three.book.id = ids[2];
  rm.books = {three};
  // ...and an import links a file to One before the refresh writes.
  const auto file = c->upsert_file(make_file(0, ids[0], "/lib/Ann/One/one.epub")).value();

  auto r = c->apply(rm);
  REQUIRE(r.has_value());
  CHECK(r->kept_books == std::vector<RowId>{ids[0]});
  // Two, and Three's row; One and its edition, link and file are untouched.
  CHECK(r->rows_written == 2);
  CHECK(c->book(ids[0]).value().title == "One");
  CHECK(c->editions_of(ids[0]).value().size() == 1);
  CHECK(c->series_links_of(ids[0]).value().size() == 1);
  CHECK(c->file_count_of_book(ids[0]).value() == 1);
  CHECK(c->files_of_author(ann).value().at(0).id == file.id);
  CHECK(c->book(ids[1]).error().code == errc::not_found);
  CHECK(c->book(ids[2]).value().title == "Three (revised)");

  // A missing book is skipped; the one with a file is kept again.
  AuthorWrite gone;
  gone.removed_books = {ids[0], ids[1]};
  auto g = c->apply(gone);
  REQUIRE(g.has_value());
  CHECK(g->kept_books == std::vector<RowId>{ids[0]});
  CHECK(c->book(ids[0]).has_value());
}

TEST_CASE("a failed apply changes nothing", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = c->add_author(make_author("100", "Ann Leckie", "/lib/Ann")).value().id;
  const RowId bo = c->add_author(make_author("200", "Bo Other", "/lib/Bo")).value().id;
  AuthorWrite w;
  w.books = {make_book(bo, "5001", "Bo's Book")};
  const RowId bos_book = c->apply(w).value().new_book_ids.at(0);
  const auto counts_before = c->counts().value();
  const auto rows_before = c->rows_written();

  AuthorWrite bad;
  Author a = c->author(ann).value();
  a.overview = "changed";
  bad.author = a;
  auto first = make_book(ann, "6001", "Fine Book");
  first.editions = {make_edition("e9", "Fine")};
  first.series = {{"s9", "Fine Series", "1", 1, true}};
  bad.books = {first, make_book(ann, "5001", "Stolen Book")};
  auto r = c->apply(bad);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == errc::conflict);
  CHECK_THAT(r.error().message, Catch::Contains("5001") &&
                                    Catch::Contains("book " + std::to_string(bos_book)) &&
                                    Catch::Contains("author " + std::to_string(bo)));

  CHECK(c->rows_written() == rows_before);
  CHECK(c->author(ann).value().overview.empty());
  CHECK(c->book_by_foreign_id("6001").error().code == errc::not_found);
  const auto n = c->counts().value();
  CHECK(n.books == counts_before.books);
  CHECK(n.editions == counts_before.editions);
  CHECK(n.series == counts_before.series);
  CHECK(c->book(bos_book).value().title == "Bo's Book");

  // The catalog still works after the rollback.
  AuthorWrite fine;
  fine.books = {first};
  CHECK(c->apply(fine).has_value());
}

TEST_CASE("remove_author refuses while files exist and deletes books otherwise", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = c->add_author(make_author("100", "Ann Leckie", "/lib/Ann")).value().id;
  auto b = make_book(ann, "5001", "One");
  b.editions = {make_edition("e1", "One")};
  b.series = {{"s1", "Radch", "1", 1, true}};
  AuthorWrite w;
  w.books = {b};
  const RowId book = c->apply(w).value().new_book_ids.at(0);
  auto file = c->upsert_file(make_file(ann, book, "/lib/Ann/One/one.epub")).value();

  auto refused = c->remove_author(ann);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == errc::conflict);
  CHECK(c->author(ann).has_value());
  CHECK(c->counts().value().books == 1);

  // Unlink the file (a host moved it to another author), then the author can go.
  file.author_id = 0;
  file.book_id = 0;
  REQUIRE(c->upsert_file(file).has_value());
  REQUIRE(c->remove_author(ann).has_value());
  auto n = c->counts().value();
  CHECK(n.authors == 0);
  CHECK(n.books == 0);
  CHECK(n.editions == 0);
  CHECK(n.files == 1);
  CHECK(c->remove_author(ann).error().code == errc::not_found);
}

TEST_CASE("an author's files include those linked only through its books", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = c->add_author(make_author("100", "Ann", "/lib/Ann")).value().id;
  const RowId bo = c->add_author(make_author("200", "Bo", "/lib/Bo")).value().id;
  const RowId book = c->add_book(make_book(ann, "5001", "One")).value().id;
  // Matched to Ann's book, with no author link, or a stale one to Bo.
  REQUIRE(c->upsert_file(make_file(0, book, "/lib/Ann/One/one.epub")).has_value());
  auto stale = c->upsert_file(make_file(bo, book, "/lib/Bo/One/one.pdf")).value();

  CHECK(c->file_count_of_author(ann).value() == 2);
  CHECK(paths_of(c->files_of_author(ann).value()) ==
        std::vector<std::string>{"/lib/Ann/One/one.epub", "/lib/Bo/One/one.pdf"});
  // Bo's own link counts for him as well.
  CHECK(c->file_count_of_author(bo).value() == 1);

  const auto rows = c->rows_written();
  auto refused = c->remove_author(ann);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == errc::conflict);
  CHECK_THAT(refused.error().message, Catch::Contains("2 book file(s)"));
  CHECK(c->book(book).value().author_id == ann);
  CHECK(c->file_count_of_book(book).value() == 2);
  CHECK(c->rows_written() == rows);

  // Bo's stale link keeps Bo; unlinking the files from the book frees Ann.
  CHECK(c->remove_author(bo).error().code == errc::conflict);
  stale.book_id = 0;
  REQUIRE(c->upsert_file(stale).has_value());
  REQUIRE(c->upsert_file(make_file(0, 0, "/lib/Ann/One/one.epub")).has_value());
  CHECK(c->file_count_of_author(ann).value() == 0);
  CHECK(c->remove_author(ann).has_value());
  CHECK(c->counts().value().files == 2);
}

TEST_CASE("move_author re-points every file under the folder, matching whole folders only", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = c->add_author(make_author("100", "Ann", "/lib/Ann")).value().id;
  const RowId anna = c->add_author(make_author("200", "Anna", "/lib/Anna")).value().id;
  const RowId zed = c->add_author(make_author("300", "Zed", "/lib/Zed")).value().id;
  REQUIRE(c->upsert_file(make_file(ann, 0, "/lib/Ann/Book/a.epub")).has_value());
  REQUIRE(c->upsert_file(make_file(ann, 0, "/lib/Ann/b.pdf")).has_value());
  // Linked to Ann but outside her folder: not part of the move.
  REQUIRE(c->upsert_file(make_file(ann, 0, "/lib/Annex/c.epub")).has_value());
  REQUIRE(c->upsert_file(make_file(anna, 0, "/lib/Anna/Book/d.epub")).has_value());
  // In Ann's folder but not (or not yet) linked to her: they move with the folder.
  REQUIRE(c->upsert_file(make_file(0, 0, "/lib/Ann/Unmatched/u.epub")).has_value());
  REQUIRE(c->upsert_file(make_file(zed, 0, "/lib/Ann/Misfiled/z.epub")).has_value());
  // Look-alikes: folders whose names start with "Ann" ('-' and '.' sort just before '/'), and
  // a path equal to her folder itself. None of them move.
  REQUIRE(c->upsert_file(make_file(0, 0, "/lib/Ann-x/e.epub")).has_value());
  REQUIRE(c->upsert_file(make_file(0, 0, "/lib/Ann.d/f.epub")).has_value());
  REQUIRE(c->upsert_file(make_file(0, 0, "/lib/Ann")).has_value());

  // Every file row's path, whatever it is linked to.
  auto all_paths = [&] {
    SQLite::Database db((dir.path() / "catalog.db").string());
    SQLite::Statement st(db, "SELECT path FROM book_files ORDER BY path");
    std::vector<std::string> out;
    while (st.executeStep()) out.push_back(st.getColumn(0).getString());
    return out;
  };
  const auto counts_before = c->counts().value();

  SECTION("a move") {
    const auto before = c->rows_written();
    auto moved = c->move_author(ann, "/books/Ann Example/");
    REQUIRE(moved.has_value());
    CHECK(*moved == 4);
    CHECK(c->rows_written() - before == 5);  // the author and four files
    CHECK(c->author(ann).value().path == "/books/Ann Example");
    CHECK(paths_of(c->files_of_author(ann).value()) ==
          std::vector<std::string>{"/books/Ann Example/Book/a.epub", "/books/Ann Example/b.pdf",
                                   "/lib/Annex/c.epub"});
    CHECK(paths_of(c->files_of_author(zed).value()) ==
          std::vector<std::string>{"/books/Ann Example/Misfiled/z.epub"});
    CHECK(c->files_of_author(anna).value().at(0).path == "/lib/Anna/Book/d.epub");
    CHECK(c->author(anna).value().path == "/lib/Anna");
    CHECK(c->author(zed).value().path == "/lib/Zed");
    // The unmatched file moved too; the look-alikes did not.
    CHECK(all_paths() ==
          std::vector<std::string>{"/books/Ann Example/Book/a.epub", "/books/Ann Example/Misfiled/z.epub",
                                   "/books/Ann Example/Unmatched/u.epub", "/books/Ann Example/b.pdf",
                                   "/lib/Ann", "/lib/Ann-x/e.epub", "/lib/Ann.d/f.epub",
                                   "/lib/Anna/Book/d.epub", "/lib/Annex/c.epub"});
    CHECK(c->counts().value().files == counts_before.files);

    // Moving back re-points the same four; a move to the same folder writes nothing.
    CHECK(c->move_author(ann, "/lib/Ann").value() == 4);
    const auto again = c->rows_written();
    CHECK(c->move_author(ann, "/lib/Ann/").value() == 0);
    CHECK(c->rows_written() == again);
  }
  SECTION("a path taken by another author changes nothing") {
    const auto before = c->rows_written();
    const auto paths = all_paths();
    auto r = c->move_author(ann, "/lib/Zed");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::conflict);
    CHECK_THAT(r.error().message, Catch::Contains("author " + std::to_string(zed)));
    CHECK(c->author(ann).value().path == "/lib/Ann");
    CHECK(all_paths() == paths);
    CHECK(c->rows_written() == before);
  }
  SECTION("a file clash halfway rolls the whole move back") {
    // Something already sits where u.epub would go (the third of the four, by path): the two
    // rewrites before it and the author's new path must not survive.
    REQUIRE(c->upsert_file(make_file(0, 0, "/new/Ann/Unmatched/u.epub")).has_value());
    const auto before = c->rows_written();
    const auto paths = all_paths();
    auto r = c->move_author(ann, "/new/Ann");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::conflict);
    CHECK_THAT(r.error().message, Catch::Contains("/new/Ann/Unmatched/u.epub"));
    CHECK(c->author(ann).value().path == "/lib/Ann");
    CHECK(all_paths() == paths);
    CHECK(paths_of(c->files_of_author(ann).value()) ==
          std::vector<std::string>{"/lib/Ann/Book/a.epub", "/lib/Ann/b.pdf", "/lib/Annex/c.epub"});
    CHECK(c->rows_written() == before);
  }
  SECTION("an author without a folder re-points nothing") {
    const RowId nowhere = c->add_author(make_author("400", "Nowhere", "")).value().id;
    const auto paths = all_paths();
    CHECK(c->move_author(nowhere, "/lib/Nowhere").value() == 0);
    CHECK(c->author(nowhere).value().path == "/lib/Nowhere");
    CHECK(all_paths() == paths);
  }
  SECTION("bad arguments") {
    CHECK(c->move_author(ann, "relative").error().code == errc::invalid_argument);
    CHECK(c->move_author(999, "/x").error().code == errc::not_found);
  }
}

TEST_CASE("move_author takes the root folder the new path lies in", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId books = c->add_root_folder("/lib/books").value().id;
  const RowId audio = c->add_root_folder("/lib/audio").value().id;
  const RowId deep = c->add_root_folder("/lib/audio/kids").value().id;
  Author a = make_author("100", "Ann", "/lib/books/Ann");
  a.root_folder_id = books;
  const RowId ann = c->add_author(a).value().id;
  REQUIRE(c->move_author(ann, "/lib/audio/Ann").has_value());
  CHECK(c->author(ann)->root_folder_id == audio);
  REQUIRE(c->move_author(ann, "/lib/audio/kids/Ann").has_value());
  CHECK(c->author(ann)->root_folder_id == deep);                    // the deepest root that holds it
  REQUIRE(c->move_author(ann, "/lib/audiobooks/Ann").has_value());  // a look-alike, not a root
  CHECK(c->author(ann)->root_folder_id == deep);                    // kept
  CHECK(c->author(ann)->path == "/lib/audiobooks/Ann");
}

TEST_CASE("set_author_path sets the folder and its root folder and nothing else", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId books = c->add_root_folder("/lib/books").value().id;
  const RowId deep = c->add_root_folder("/lib/books/kids").value().id;
  const RowId ann = c->add_author(make_author("100", "Ann", "")).value().id;
  const RowId bo = c->add_author(make_author("200", "Bo", "/lib/books/Bo")).value().id;
  BookFile f;
  f.path = "/lib/books/Bo/Bo.epub";
  f.author_id = bo;
  REQUIRE(c->upsert_file(f).has_value());

  auto set = c->set_author_path(ann, "/lib/books/kids/Ann/", false);
  REQUIRE(set.has_value());
  CHECK(set->path == "/lib/books/kids/Ann");
  CHECK(set->root_folder_id == deep);
  // only_if_unset: a folder set already stays, and the answer shows it.
  auto kept = c->set_author_path(ann, "/lib/books/Ann", true);
  REQUIRE(kept.has_value());
  CHECK(kept->path == "/lib/books/kids/Ann");
  CHECK(c->author(ann)->path == "/lib/books/kids/Ann");
  REQUIRE(c->set_author_path(ann, "/lib/books/Ann", false).has_value());
  CHECK(c->author(ann)->root_folder_id == books);

  // Nothing moved on disk, so no file row follows (move_author is the call that re-points them).
  REQUIRE(c->set_author_path(bo, "/lib/books/Bo Two", false).has_value());
  CHECK(c->file_by_path("/lib/books/Bo/Bo.epub").has_value());

  // The same path, once a deeper root folder holds it, takes that root.
  REQUIRE(c->set_author_path(ann, "/lib/books/series/Ann", false)->root_folder_id == books);
  const RowId series = c->add_root_folder("/lib/books/series").value().id;
  CHECK(c->set_author_path(ann, "/lib/books/series/Ann", false)->root_folder_id == series);
  REQUIRE(c->set_author_path(ann, "/lib/books/Ann", false)->root_folder_id == books);
  CHECK(c->set_author_path(ann, "/lib/books/Bo Two", false).error().code == errc::conflict);
  CHECK(c->set_author_path(ann, "relative/Ann", false).error().code == errc::invalid_argument);
  CHECK(c->set_author_path(999, "/lib/books/X", false).error().code == errc::not_found);
  CHECK(c->author(ann)->path == "/lib/books/Ann");
}

TEST_CASE("apply keeps an author's folder and gives new books their author's monitoring on request",
          "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  REQUIRE(c->add_root_folder("/lib/books").has_value());
  const RowId ann = c->add_author(make_author("100", "Ann", "/lib/books/Ann")).value().id;
  const Author read = c->author(ann).value();  // what a refresh holds before its fetch

  // Meanwhile a person sets the folder and stops monitoring the author.
  REQUIRE(c->set_author_path(ann, "/lib/books/Ann Leckie", false).has_value());
  REQUIRE(c->set_author_monitored(ann, false).has_value());

  AuthorWrite w;
  w.author = read;
  w.author->overview = "fetched";
  BookWrite follows = make_book(ann, "5001", "Follows");
  follows.book.monitored = true;
  follows.monitored_as_author = true;
  BookWrite as_written = make_book(ann, "5002", "As written");
  as_written.book.monitored = true;
  w.books = {follows, as_written};
  auto r = c->apply(w);
  REQUIRE(r.has_value());
  const Author now = c->author(ann).value();
  CHECK(now.overview == "fetched");
  CHECK(now.path == "/lib/books/Ann Leckie");
  CHECK_FALSE(now.monitored);
  CHECK_FALSE(c->book(r->new_book_ids[0])->monitored);
  CHECK(c->book(r->new_book_ids[1])->monitored);
}

TEST_CASE("add_book needs an existing author", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = c->add_author(make_author("100", "Ann", "/lib/Ann")).value().id;
  auto bw = make_book(ann, "5001", "One", ymd(2020, 2, 29));
  bw.book.manually_added = true;
  bw.editions = {make_edition("e1", "One")};
  bw.series = {{"s1", "Series", "1", 1, true}};
  auto b = c->add_book(bw);
  REQUIRE(b.has_value());
  CHECK(b->id > 0);
  CHECK(b->manually_added);
  CHECK(b->release_date == ymd(2020, 2, 29));
  CHECK(c->editions_of(b->id).value().size() == 1);
  CHECK(c->series_links_of(b->id).value().size() == 1);

  auto orphan = c->add_book(make_book(999, "5002", "Orphan"));
  REQUIRE_FALSE(orphan.has_value());
  CHECK(orphan.error().code == errc::not_found);
  CHECK(orphan.error().message == "author 999");
  auto dup = c->add_book(make_book(ann, "5001", "Again"));
  REQUIRE_FALSE(dup.has_value());
  CHECK(dup.error().code == errc::conflict);

  // The author's stored hash goes with a removed book: its next refresh compares again.
  Author hashed = c->author(ann).value();
  hashed.metadata_hash = "h1";
  AuthorWrite keep_hash;
  keep_hash.author = hashed;
  REQUIRE(c->apply(keep_hash).has_value());
  REQUIRE(c->author(ann)->metadata_hash == "h1");
  REQUIRE(c->remove_book(b->id).has_value());
  CHECK(c->author(ann)->metadata_hash != "h1");
  CHECK(c->remove_book(b->id).error().code == errc::not_found);
  CHECK(c->counts().value().editions == 0);
}

TEST_CASE("a refresh's write leaves a book removal made after its read alone", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = c->add_author(make_author("100", "Ann Leckie", "/lib/Ann")).value().id;
  const RowId b1 = c->add_book(make_book(ann, "5001", "One")).value().id;
  const RowId b2 = c->add_book(make_book(ann, "5002", "Two")).value().id;
  const RowId b3 = c->add_book(make_book(ann, "5003", "Three")).value().id;
  Author read = c->author(ann).value();
  read.metadata_hash = "h1";
  AuthorWrite first;
  first.author = read;
  REQUIRE(c->apply(first).has_value());

  // The refresh read the row (h1) and its books; then a person removed two of them, one with a
  // file that stays, unlinked, and an exclusion.
  BookFile f;
  f.path = "/lib/Ann/One.epub";
  f.author_id = ann;
  f.book_id = b1;
  const RowId file = c->upsert_file(f).value().id;
  BookFile unlinked = c->file(file).value();
  unlinked.author_id = unlinked.book_id = 0;
  unlinked.unmapped_reason = "its book was removed";
  REQUIRE(c->remove_book(b1, {.files = {.upserts = {unlinked}}, .exclusion = Exclusion{0, "5001", "One"}})
              .has_value());
  REQUIRE(c->remove_book(b2).has_value());
  const std::string mark = c->author(ann)->metadata_hash;
  CHECK(mark != "h1");
  CHECK(c->file(file)->unmapped_reason == "its book was removed");
  CHECK(c->file(file)->book_id == 0);
  CHECK(c->excluded({"5001"}, ExclusionKind::book).value().size() == 1);

  // Its write updates the one and removes the other: both stay removed, and the mark stays.
  AuthorWrite w;
  Author next = read;
  next.metadata_hash = "h2";
  w.author = next;
  w.hash_read = "h1";
  BookWrite update = make_book(ann, "5001", "One, revised");
  update.book.id = b1;
  w.books.push_back(update);
  w.books.push_back(make_book(ann, "5004", "Four"));
  w.removed_books = {b2, b3};
  auto applied = c->apply(w);
  REQUIRE(applied.has_value());
  CHECK(applied->new_book_ids.at(0) == 0);
  CHECK(applied->new_book_ids.at(1) > 0);
  CHECK(applied->new_book_ids.at(1) > b3);  // a removed book's id is not handed out again
  CHECK(c->book_by_foreign_id("5001").error().code == errc::not_found);
  CHECK(c->book_by_foreign_id("5003").error().code == errc::not_found);
  CHECK(c->books_of(ann)->size() == 1);  // Four
  CHECK(c->author(ann)->metadata_hash == mark);
  // A write that read the mark puts its hash in.
  w = AuthorWrite{};
  next.metadata_hash = "h3";
  w.author = next;
  w.hash_read = mark;
  REQUIRE(c->apply(w).has_value());
  CHECK(c->author(ann)->metadata_hash == "h3");
  // A removal whose file row is refused changes nothing.
  BookFile relative = unlinked;
  relative.path = "relative.epub";
  CHECK(c->remove_book(applied->new_book_ids.at(1), {.files = {.upserts = {relative}}}).error().code ==
        errc::invalid_argument);
  CHECK(c->books_of(ann)->size() == 1);
}

TEST_CASE("exclusions: added, listed, renamed, refused twice, removed", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  CHECK(c->exclusions().value().empty());
  const Exclusion a = c->add_exclusion({0, "w1", "Ann Leckie - Ancillary Justice"}).value();
  const Exclusion b = c->add_exclusion({0, "w2", ""}).value();
  CHECK(a.id > 0);
  CHECK(b.id > a.id);
  CHECK(c->add_exclusion({0, "w1", "again"}).error().code == errc::conflict);
  CHECK(c->add_exclusion({0, "", "no id"}).error().code == errc::invalid_argument);
  CHECK(c->excluded({"w1", "w3", "w2", "w1"}, ExclusionKind::book).value() ==
        std::set<std::string>{"w1", "w2"});
  CHECK(c->excluded({}, ExclusionKind::book).value().empty());

  CHECK(c->update_exclusion({b.id, "w1", "x"}).error().code == errc::conflict);  // a's id
  CHECK(c->update_exclusion({b.id + 100, "w9", "x"}).error().code == errc::not_found);
  const Exclusion renamed = c->update_exclusion({b.id, "w3", "Bo - Three"}).value();
  CHECK(c->exclusion(b.id)->foreign_id == "w3");
  CHECK(c->exclusion(b.id)->name == "Bo - Three");
  CHECK(renamed.name == "Bo - Three");
  CHECK(c->update_exclusion({a.id, "w1", "same id, new name"}).has_value());  // its own foreign id

  const auto all = c->exclusions().value();
  REQUIRE(all.size() == 2);
  CHECK(all[0].id == a.id);
  CHECK(all[1].foreign_id == "w3");
  REQUIRE(c->remove_exclusion(a.id).has_value());
  CHECK(c->remove_exclusion(a.id).error().code == errc::not_found);
  CHECK(c->exclusion(a.id).error().code == errc::not_found);
  CHECK(c->excluded({"w1", "w3"}, ExclusionKind::any).value() == std::set<std::string>{"w3"});
}

TEST_CASE("exclusions keep out what their kind names: an author's id is not a work's", "[catalog]") {
  // The source numbers authors and works apart, so one number may be both; an exclusion from
  // Readarr's API (kind any) keeps out both.
  TempDir dir;
  auto c = open_catalog(dir);
  REQUIRE(c->add_exclusion({0, "52", "Ann Leckie", ExclusionKind::author}).has_value());
  REQUIRE(c->add_exclusion({0, "5201", "Ann Leckie - One", ExclusionKind::book}).has_value());
  REQUIRE(c->add_exclusion({0, "77", "from a client"}).has_value());
  CHECK(c->excluded({"52", "5201", "77"}, ExclusionKind::book).value() ==
        std::set<std::string>{"5201", "77"});
  CHECK(c->excluded({"52", "5201", "77"}, ExclusionKind::author).value() ==
        std::set<std::string>{"52", "77"});
  CHECK(c->excluded({"52", "5201", "77", "9"}, ExclusionKind::any).value() ==
        std::set<std::string>{"52", "5201", "77"});
  // One id may be excluded once per kind; one of kind any covers both.
  const Exclusion as_book = c->add_exclusion({0, "52", "Some - Work", ExclusionKind::book}).value();
  CHECK(c->add_exclusion({0, "52", "again", ExclusionKind::author}).error().code == errc::conflict);
  CHECK(c->add_exclusion({0, "52", "again"}).error().code == errc::conflict);
  CHECK(c->add_exclusion({0, "77", "again", ExclusionKind::book}).error().code == errc::conflict);
  CHECK(c->exclusion(as_book.id)->kind == ExclusionKind::book);
  CHECK(c->update_exclusion({as_book.id, "52", "x", ExclusionKind::author}).error().code == errc::conflict);
  // A removed book goes on the list as a work.
  const RowId ann = c->add_author(make_author("52", "Ann Leckie", "/lib/Ann Leckie")).value().id;
  AuthorWrite w;
  w.books = {make_book(ann, "5202", "Two")};
  const RowId two = c->apply(w).value().new_book_ids.at(0);
  REQUIRE(c->remove_book(two, {.exclusion = Exclusion{0, "5202", "Ann Leckie - Two", ExclusionKind::book}})
              .has_value());
  CHECK(c->excluded({"5202"}, ExclusionKind::author).value().empty());
  CHECK(c->excluded({"5202"}, ExclusionKind::book).value().size() == 1);
  // A removed book already covered (by kind any) adds no second entry.
  w.books = {make_book(ann, "77", "Seventy-Seven")};
  const RowId seventy = c->apply(w).value().new_book_ids.at(0);
  const auto before = c->exclusions().value().size();
  REQUIRE(c->remove_book(seventy, {.exclusion = Exclusion{0, "77", "Ann Leckie - 77", ExclusionKind::book}})
              .has_value());
  CHECK(c->exclusions().value().size() == before);
}

TEST_CASE("orderings and the newest release", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  auto add = [&](const char* fid, const char* name) {
    return c->add_author(make_author(fid, name, std::string("/lib/") + name)).value().id;
  };
  const RowId ann = add("1", "Ann Leckie");
  add("2", "ada example");
  add("3", "Zed Zulu");
  Author same_sort = make_author("4", "Bea Example", "/lib/Bea");
  same_sort.sort_name = "example, ada";
  REQUIRE(c->add_author(same_sort).has_value());
  // (Not a range-for over `c->authors().value()`: the Result would die before the loop.)
  const auto all = c->authors().value();
  std::vector<std::string> names;
  for (const auto& a : all) names.push_back(a.name);
  // Case-insensitive sort names; ties broken by name.
  CHECK(names == std::vector<std::string>{"Bea Example", "ada example", "Ann Leckie", "Zed Zulu"});

  CHECK(c->newest_release(ann).value() == std::nullopt);
  AuthorWrite w;
  w.books = {make_book(ann, "b1", "Undated B"), make_book(ann, "b2", "Late", ymd(2021, 5, 1)),
             make_book(ann, "b3", "Undated A"), make_book(ann, "b4", "Early", ymd(1999, 1, 1)),
             make_book(ann, "b5", "Also 2021", ymd(2021, 5, 1))};
  REQUIRE(c->apply(w).has_value());
  CHECK(titles(c->books_of(ann).value()) ==
        std::vector<std::string>{"Early", "Also 2021", "Late", "Undated A", "Undated B"});
  CHECK(c->newest_release(ann).value() == ymd(2021, 5, 1));
  CHECK(c->newest_release(999).error().code == errc::not_found);
  CHECK(c->books().value().size() == 5);
}

TEST_CASE("book files: upsert by path and counts", "[catalog]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = c->add_author(make_author("100", "Ann", "/lib/Ann")).value().id;
  const RowId book = c->add_book(make_book(ann, "5001", "One")).value().id;
  auto f = c->upsert_file(make_file(ann, book, "/lib/Ann/One/one.epub"));
  REQUIRE(f.has_value());
  CHECK(f->id > 0);
  auto g = make_file(ann, book, "/lib/Ann/One/one.epub");
  g.size = 2000;
  g.mtime = system_clock::time_point(milliseconds(1'600'000'000'000));
  auto again = c->upsert_file(g);
  REQUIRE(again.has_value());
  CHECK(again->id == f->id);
  REQUIRE(c->upsert_file(make_file(ann, 0, "/lib/Ann/loose.pdf")).has_value());
  CHECK(c->file_count_of_author(ann).value() == 2);
  CHECK(c->file_count_of_book(book).value() == 1);
  auto files = c->files_of_author(ann).value();
  REQUIRE(files.size() == 2);
  CHECK(files[0].size == 2000);
  CHECK(files[0].mtime == g.mtime);
  CHECK(files[1].book_id == 0);
  CHECK(c->counts().value().files == 2);
  CHECK(c->upsert_file(make_file(ann, 0, "relative.pdf")).error().code == errc::invalid_argument);
  CHECK(c->upsert_file(make_file(ann, 777, "/lib/Ann/x.pdf")).error().code == errc::not_found);
  CHECK(c->file_count_of_book(777).error().code == errc::not_found);
}

TEST_CASE("the catalog serves reads and writes from several threads", "[catalog][concurrency]") {
  TempDir dir;
  auto c = open_catalog(dir);
  constexpr int kWriters = 3, kBooks = 40, kReaders = 3;
  std::vector<RowId> authors;
  for (int i = 0; i < kWriters; ++i) {
    const std::string name = "Writer " + std::to_string(i);
    authors.push_back(c->add_author(make_author("a" + std::to_string(i), name, "/lib/" + name)).value().id);
  }
  std::atomic<int> errors{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      for (int b = 0; b < kBooks; ++b) {
        AuthorWrite w;
        auto bw = make_book(authors[static_cast<std::size_t>(i)], std::to_string(i) + "-" + std::to_string(b),
                            "Book");
        bw.editions = {make_edition(std::to_string(i) + "-e" + std::to_string(b), "Ed")};
        bw.series = {{"shared", "Shared Series", std::to_string(b), b, false}};
        w.books = {bw};
        if (!c->apply(w)) ++errors;
        if (!c->upsert_file(make_file(authors[static_cast<std::size_t>(i)], 0,
                                      "/lib/f" + std::to_string(i) + "-" + std::to_string(b))))
          ++errors;
      }
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&] {
      while (!done.load()) {
        auto all = c->authors();
        if (!all) {
          ++errors;
          continue;
        }
        for (const auto& a : *all) {
          auto books = c->books_of(a.id);
          if (!books || !c->file_count_of_author(a.id) || !c->newest_release(a.id)) ++errors;
          if (books && !books->empty() && !c->editions_of(books->front().id)) ++errors;
        }
        if (!c->counts()) ++errors;
      }
    });
  }
  for (int i = 0; i < kWriters; ++i) threads[static_cast<std::size_t>(i)].join();
  done = true;
  for (std::size_t i = kWriters; i < threads.size(); ++i) threads[i].join();
  CHECK(errors.load() == 0);
  auto n = c->counts().value();
  CHECK(n.books == kWriters * kBooks);
  CHECK(n.editions == kWriters * kBooks);
  CHECK(n.series == 1);
  CHECK(n.files == kWriters * kBooks);
}

TEST_CASE("author status names", "[catalog]") {
  CHECK(to_string(AuthorStatus::continuing) == "continuing");
  CHECK(to_string(AuthorStatus::ended) == "ended");
}

TEST_CASE("sort names", "[catalog]") {
  CHECK(sort_name_of("Ada Example") == "Example, Ada");
  CHECK(sort_name_of("J. R. R. Tolkien") == "Tolkien, J. R. R.");
  CHECK(sort_name_of("  Ada   Example  ") == "Example, Ada");
  CHECK(sort_name_of("Plato") == "Plato");
  CHECK(sort_name_of("  Plato ") == "Plato");
  CHECK(sort_name_of("") == "");
  CHECK(sort_name_of("Martin Luther King Jr.") == "King, Martin Luther Jr.");
  CHECK(sort_name_of("Martin Luther King, Jr.") == "King, Martin Luther Jr.");
  CHECK(sort_name_of("Ursula K. Le Guin") == "Le Guin, Ursula K.");
  CHECK(sort_name_of("Example, Ada") == "Example, Ada");
  // A closing parenthetical (a role, a disambiguation) stays at the end.
  CHECK(sort_name_of("Ann Leckie (Author)") == "Leckie, Ann (Author)");
  CHECK(sort_name_of("Ada Example (Fixture Press)") == "Example, Ada (Fixture Press)");
  CHECK(sort_name_of("Martin Luther King Jr. (Editor)") == "King, Martin Luther Jr. (Editor)");
  CHECK(sort_name_of("Plato (Philosopher)") == "Plato (Philosopher)");
  CHECK(sort_name_of("(Anonymous)") == "(Anonymous)");
  CHECK(sort_name_of("Ada (Example) Writer") == "Writer, Ada (Example)");
}

TEST_CASE("safe folder names", "[catalog]") {
  CHECK(safe_folder_name("Ada Example") == "Ada Example");
  // The naming patterns' rules (Readarr's): replaced where there is a readable replacement.
  CHECK(safe_folder_name("Title: A <Story>?") == "Title - A Story");
  CHECK(safe_folder_name("a/b\\c|d*e\"f") == "a+b+cde'f");
  CHECK(safe_folder_name("x:y") == "x-y");
  CHECK(safe_folder_name("bad \xff byte") == "bad \xef\xbf\xbd byte");
  CHECK(safe_folder_name("Ünïcode long", 8) == "Ünïcod");  // cut on a character boundary
  CHECK(replace_unsafe_characters(" a:b  ") == " a-b ");
  CHECK(safe_folder_name("  ..Hidden  Name...  ") == "Hidden Name");
  CHECK(safe_folder_name("Tab\there\x01") == "Tab here");
  CHECK(safe_folder_name("...") == "_");
  CHECK(safe_folder_name("") == "_");
  CHECK(safe_folder_name("CON") == "CON_");
  CHECK(safe_folder_name("nul.txt") == "nul_.txt");
  CHECK(safe_folder_name("com1") == "com1_");
  CHECK(safe_folder_name("Console") == "Console");
  CHECK(safe_folder_name("Zoë Ünïcode") == "Zoë Ünïcode");
  CHECK(safe_folder_name(std::string(300, 'x')).size() == 255);
}

// SPDX-License-Identifier: MIT
// The catalog's book files as a library scan uses them: folder ranges read one row at a time,
// batches applied in one transaction, unmapped and orphaned files, the identities matching
// reads, and the missing books of Wanted.

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include "shelfjobs/catalog/catalog.hpp"
#include "test_support.hpp"

using namespace shelfjobs;
using namespace testing;
using namespace std::chrono;

// The whole file in a namespace of its own: the unity build compiles several test files as one
// translation unit, and their helpers must not meet.
namespace book_files_test {

std::shared_ptr<Catalog> open_catalog(const TempDir& dir) {
  auto c = open_sqlite_catalog({dir.path() / "catalog.db"});
  REQUIRE(c.has_value());
  return *c;
}

RowId add_author(Catalog& c, const std::string& id, const std::string& name, bool monitored = true) {
  Author a;
  a.foreign_id = id;
  a.name = name;
  a.monitored = monitored;
  return c.add_author(a).value().id;
}

RowId add_book(Catalog& c, RowId author, const std::string& id, const std::string& title,
               std::optional<Date> released = std::nullopt, bool monitored = true,
               std::vector<Edition> editions = {}) {
  BookWrite w;
  w.book.author_id = author;
  w.book.foreign_id = id;
  w.book.title = title;
  w.book.release_date = released;
  w.book.monitored = monitored;
  w.editions = std::move(editions);
  return c.add_book(w).value().id;
}

BookFile file_at(const std::string& path, RowId author = 0, RowId book = 0) {
  BookFile f;
  f.path = path;
  f.author_id = author;
  f.book_id = book;
  f.size = 10;
  f.format = "epub";
  return f;
}

std::vector<std::string> under(Catalog& c, const std::string& folder) {
  std::vector<std::string> out;
  REQUIRE(c.for_each_file_under(folder, [&](const BookFile& f) { out.push_back(f.path.string()); }));
  return out;
}

Date ymd(int y, unsigned m, unsigned d) { return Date{year{y} / month{m} / day{d}}; }

TEST_CASE("files under a folder: whole folders only, in path order", "[catalog][files]") {
  TempDir dir;
  auto c = open_catalog(dir);
  FileBatch batch;
  for (const char* p : {"/lib/Ann/b.epub", "/lib/Ann/a/x.pdf", "/lib/Ann Other/c.epub", "/lib/Ann.epub",
                        "/lib/Anna/d.epub", "/other/e.epub", "/lib/Ann/z/y/w.mobi"})
    batch.upserts.push_back(file_at(p));
  REQUIRE(c->apply_files(batch));
  CHECK(under(*c, "/lib/Ann") ==
        std::vector<std::string>{"/lib/Ann/a/x.pdf", "/lib/Ann/b.epub", "/lib/Ann/z/y/w.mobi"});
  CHECK(under(*c, "/lib/Ann/") == under(*c, "/lib/Ann"));
  CHECK(under(*c, "/lib").size() == 6);
  CHECK(under(*c, "/").size() == 7);
  CHECK(under(*c, "/lib/Ann.epub") == std::vector<std::string>{"/lib/Ann.epub"});  // a file names itself
  CHECK(under(*c, "/nowhere").empty());
  CHECK(c->for_each_file_under("lib", [](const BookFile&) {}).error().code == errc::invalid_argument);
}

TEST_CASE("files in a folder and the folders with files under it: one level, in path order",
          "[catalog][files]") {
  TempDir dir;
  auto c = open_catalog(dir);
  FileBatch batch;
  for (const char* p :
       {"/lib/Ann/b.epub", "/lib/Ann/a/x.pdf", "/lib/Ann Other/c.epub", "/lib/Ann.epub", "/lib/Anna/d.epub",
        "/other/e.epub", "/lib/Ann/z/y/w.mobi", "/lib/z.mobi", "/lib/Ann/c.epub", "/lib/Ann0/f.epub", "/lib"})
    batch.upserts.push_back(file_at(p));
  REQUIRE(c->apply_files(batch));
  auto in = [&](const std::string& folder) {
    std::vector<std::string> out;
    REQUIRE(c->for_each_file_in(folder, [&](const BookFile& f) { out.push_back(f.path.string()); }));
    return out;
  };
  auto folders = [&](const std::string& folder) { return c->folders_with_files_under(folder).value(); };
  CHECK(in("/lib") == std::vector<std::string>{"/lib/Ann.epub", "/lib/z.mobi"});  // not "/lib" itself
  CHECK(in("/lib/") == in("/lib"));
  CHECK(in("/lib/Ann") == std::vector<std::string>{"/lib/Ann/b.epub", "/lib/Ann/c.epub"});
  CHECK(in("/lib/Ann/z").empty());
  CHECK(in("/") == std::vector<std::string>{"/lib"});  // a row at a folder's own path is a file
  CHECK(in("/nowhere").empty());
  // In the order of their rows' paths: "/lib/Ann Other/..." sorts before "/lib/Ann/...".
  CHECK(folders("/lib") == std::vector<std::string>{"/lib/Ann Other", "/lib/Ann", "/lib/Ann0", "/lib/Anna"});
  CHECK(folders("/lib/Ann") == std::vector<std::string>{"/lib/Ann/a", "/lib/Ann/z"});
  CHECK(folders("/") == std::vector<std::string>{"/lib", "/other"});
  CHECK(folders("/lib/Ann/a").empty());
  CHECK(folders("/nowhere").empty());
  CHECK(c->for_each_file_in("lib", [](const BookFile&) {}).error().code == errc::invalid_argument);
  CHECK(c->folders_with_files_under("lib").error().code == errc::invalid_argument);
}

TEST_CASE("a file batch upserts by path, keeps ids and added times, and removes", "[catalog][files]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = add_author(*c, "1", "Ann Leckie");
  const RowId book = add_book(*c, ann, "10", "Ancillary Justice");
  auto first =
      c->apply_files({.upserts = {file_at("/lib/Ann/aj.epub", ann, book), file_at("/lib/Ann/x.pdf")}});
  REQUIRE(first);
  REQUIRE(first->upserted.size() == 2);
  const BookFile aj = first->upserted[0];
  CHECK(aj.id > 0);
  CHECK(aj.added != TimePoint{});

  BookFile changed = file_at("/lib/Ann/aj.epub", ann, book);
  changed.size = 99;
  changed.title = "Ancillary Justice";
  changed.author = "Ann Leckie";
  changed.isbn13 = "9780316246620";
  BookFile unmapped = file_at("/lib/Ann/x.pdf", ann);
  unmapped.unmapped_reason = "no book of 'Ann Leckie' is titled 'X'";
  auto second = c->apply_files({.upserts = {changed, unmapped}, .removals = {}});
  REQUIRE(second);
  CHECK(second->upserted[0].id == aj.id);
  CHECK(second->upserted[0].added == aj.added);
  const BookFile back = c->file(aj.id).value();
  CHECK(back.size == 99);
  CHECK(back.isbn13 == "9780316246620");
  CHECK(back.author == "Ann Leckie");
  CHECK(c->file_by_path("/lib/Ann/aj.epub").value().id == aj.id);
  CHECK(c->file_by_path("/lib/Ann/none.epub").error().code == errc::not_found);
  CHECK(c->files_of_book(book).value().size() == 1);
  auto loose = c->unmapped_files().value();
  REQUIRE(loose.size() == 1);
  CHECK(loose[0].unmapped_reason == "no book of 'Ann Leckie' is titled 'X'");

  auto third = c->apply_files({.upserts = {}, .removals = {aj.id, 12345}});
  REQUIRE(third);
  REQUIRE(third->removed.size() == 1);  // an id that was gone already is skipped
  CHECK(third->removed[0].path == "/lib/Ann/aj.epub");
  CHECK(c->file(aj.id).error().code == errc::not_found);
}

TEST_CASE("a failed file batch changes nothing", "[catalog][files]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId id = c->apply_files({.upserts = {file_at("/lib/a.epub")}}).value().upserted[0].id;
  auto r =
      c->apply_files({.upserts = {file_at("/lib/b.epub"), file_at("/lib/c.epub", 0, 777)}, .removals = {id}});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::not_found);
  CHECK(c->file(id).has_value());
  CHECK(c->file_by_path("/lib/b.epub").error().code == errc::not_found);
  CHECK(c->apply_files({.upserts = {file_at("relative.epub")}}).error().code == errc::invalid_argument);
  CHECK(c->remove_file(999).error().code == errc::not_found);
  CHECK(c->remove_file(id).value().path == "/lib/a.epub");
}

TEST_CASE("files of a removed book become unmapped with a reason", "[catalog][files]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = add_author(*c, "1", "Ann");
  const RowId one = add_book(*c, ann, "10", "One");
  const RowId two = add_book(*c, ann, "11", "Two");
  REQUIRE(c->apply_files(
      {.upserts = {file_at("/lib/Ann/one.epub", ann, one), file_at("/lib/Ann/two.epub", ann, two)}}));
  REQUIRE(c->remove_book(one));
  CHECK(c->unlink_orphaned_files("its book left the catalog").value() == 1);
  auto loose = c->unmapped_files().value();
  REQUIRE(loose.size() == 1);
  CHECK(loose[0].path == "/lib/Ann/one.epub");
  CHECK(loose[0].unmapped_reason == "its book left the catalog");
  CHECK(loose[0].author_id == ann);  // the author is still known
  CHECK(c->unlink_orphaned_files("again").value() == 0);
  CHECK(c->files_of_book(two).value().size() == 1);
}

TEST_CASE("book identities carry the author's name and each edition's ISBN and ASIN", "[catalog][files]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = add_author(*c, "1", "Ann Leckie");
  const RowId quiet = add_author(*c, "2", "Ada Palmer", /*monitored=*/false);
  Edition e1;
  e1.foreign_id = "e1";
  e1.isbn13 = "9780316246620";
  Edition e2;
  e2.foreign_id = "e2";
  e2.asin = "B00BAXFECK";
  const RowId aj = add_book(*c, ann, "10", "Ancillary Justice", std::nullopt, true, {e1, e2});
  const RowId tlt = add_book(*c, quiet, "20", "Too Like the Lightning");
  std::vector<BookIdentity> seen;
  REQUIRE(c->for_each_book_identity([&](const BookIdentity& b) { seen.push_back(b); }));
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].book_id == aj);
  CHECK(seen[0].author_name == "Ann Leckie");
  CHECK(seen[0].monitored);
  REQUIRE(seen[0].editions.size() == 2);
  CHECK(seen[0].editions[0].isbn13 == "9780316246620");
  CHECK(seen[0].editions[1].asin == "B00BAXFECK");
  CHECK(seen[1].book_id == tlt);
  CHECK_FALSE(seen[1].monitored);  // its author is not monitored
  CHECK(seen[1].editions.empty());
}

TEST_CASE("missing books: monitored, without a file, newest first, paged", "[catalog][files]") {
  TempDir dir;
  auto c = open_catalog(dir);
  const RowId ann = add_author(*c, "1", "Ann");
  const RowId quiet = add_author(*c, "2", "Quiet", false);
  const RowId old_one = add_book(*c, ann, "10", "Old", ymd(2001, 1, 1));
  const RowId new_one = add_book(*c, ann, "11", "New", ymd(2020, 5, 1));
  const RowId undated = add_book(*c, ann, "12", "Undated");
  const RowId has_file = add_book(*c, ann, "13", "Has file", ymd(2019, 1, 1));
  add_book(*c, ann, "14", "Unmonitored", ymd(2021, 1, 1), false);
  add_book(*c, quiet, "15", "Of an unmonitored author", ymd(2022, 1, 1));
  REQUIRE(c->upsert_file(file_at("/lib/Ann/f.epub", ann, has_file)));
  auto page = c->missing_books(1, 2).value();
  CHECK(page.total == 3);
  REQUIRE(page.books.size() == 2);
  CHECK(page.books[0].id == new_one);
  CHECK(page.books[1].id == old_one);
  auto next = c->missing_books(2, 2).value();
  REQUIRE(next.books.size() == 1);
  CHECK(next.books[0].id == undated);
  CHECK(c->missing_books(3, 2).value().books.empty());
  CHECK(c->missing_books(INT64_MAX, 1000).value().books.empty());  // far past the end, no overflow
  CHECK(c->missing_books(0, 10).error().code == errc::invalid_argument);
  CHECK(c->missing_books(1, 0).error().code == errc::invalid_argument);
}

TEST_CASE("a catalog of the first schema gains the scan's file columns", "[catalog][files][sqlite]") {
  TempDir dir;
  const auto path = dir.path() / "catalog.db";
  {
    // The first release's catalog with one file row, written by hand.
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec(
        "CREATE TABLE book_files (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, size INTEGER NOT NULL "
        "DEFAULT 0, mtime INTEGER NOT NULL DEFAULT 0, format TEXT NOT NULL DEFAULT '', author_id INTEGER, "
        "book_id INTEGER, edition_id INTEGER)");
    db.exec("INSERT INTO book_files (path, size, format) VALUES ('/lib/a.epub', 5, 'epub')");
    // The other tables of that schema, as far as the later migrations read them (their ids).
    for (const char* table : {"root_folders", "authors", "books", "editions", "series"})
      db.exec(std::string("CREATE TABLE ") + table + " (id INTEGER PRIMARY KEY)");
    db.exec("CREATE TABLE shelfjobs_schema (name TEXT PRIMARY KEY, version INTEGER NOT NULL)");
    db.exec("INSERT INTO shelfjobs_schema VALUES ('catalog', 1)");
  }
  auto c = open_catalog(dir);
  auto f = c->file_by_path("/lib/a.epub");
  REQUIRE(f);
  CHECK(f->size == 5);
  CHECK(f->unmapped_reason.empty());
  CHECK(f->title.empty());
  SQLite::Database db(path.string());
  CHECK(db.execAndGet("SELECT version FROM shelfjobs_schema WHERE name = 'catalog'").getInt() ==
        catalog_schema_version());
  CHECK(catalog_schema_version() >= 2);
}

}  // namespace book_files_test

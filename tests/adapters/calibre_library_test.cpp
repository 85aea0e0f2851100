// SPDX-License-Identifier: MIT
// The Calibre library reader on a real, small metadata.db with the tables and columns of
// Calibre's schema that the reader uses (names as Calibre has them), and real book files.
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include "book_samples.hpp"
#include "file_tree.hpp"
#include "shelfjobs/adapters/calibre_library.hpp"
#include "test_support.hpp"

using namespace shelfjobs;
namespace fs = std::filesystem;
using testing::TempDir;
using testing::write_file;

// The whole file in a namespace of its own: the unity build compiles several test files as one
// translation unit, and their helpers must not meet.
namespace calibre_library_test {

// A Calibre library in a temporary folder, written the way Calibre lays it out.
class Library {
 public:
  explicit Library(const std::string& folder_name = "Calibre Library")
      : root_(tmp_.path() / folder_name),
        db_((fs::create_directories(root_), (root_ / "metadata.db").string()),
            SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE) {
    db_.exec(book_samples::calibre_schema());
  }
  const fs::path& root() const { return root_; }
  SQLite::Database& db() { return db_; }

  std::int64_t author(const std::string& name, const std::string& sort) {
    SQLite::Statement q(db_, "INSERT INTO authors(name, sort) VALUES (?, ?)");
    q.bind(1, name);
    q.bind(2, sort);
    q.exec();
    return db_.getLastInsertRowid();
  }
  std::int64_t book(const std::string& title, const std::string& path, const std::string& pubdate = "",
                    bool has_cover = false, const std::string& isbn = "") {
    SQLite::Statement q(
        db_, "INSERT INTO books(title, sort, path, pubdate, has_cover, isbn) VALUES (?, ?, ?, ?, ?, ?)");
    q.bind(1, title);
    q.bind(2, title);
    q.bind(3, path);
    if (pubdate.empty()) {
      q.bind(4);
    } else {
      q.bind(4, pubdate);
    }
    q.bind(5, has_cover ? 1 : 0);
    q.bind(6, isbn);
    q.exec();
    return db_.getLastInsertRowid();
  }
  void link_author(std::int64_t book, std::int64_t author) {
    exec("INSERT INTO books_authors_link(book, author) VALUES (" + std::to_string(book) + ", " +
         std::to_string(author) + ")");
  }
  void series(std::int64_t book, const std::string& name, double index) {
    SQLite::Statement s(db_, "INSERT OR IGNORE INTO series(name, sort) VALUES (?, ?)");
    s.bind(1, name);
    s.bind(2, name);
    s.exec();
    SQLite::Statement l(
        db_, "INSERT INTO books_series_link(book, series) SELECT ?, id FROM series WHERE name = ?");
    l.bind(1, static_cast<std::int64_t>(book));
    l.bind(2, name);
    l.exec();
    exec("UPDATE books SET series_index = " + std::to_string(index) + " WHERE id = " + std::to_string(book));
  }
  void publisher(std::int64_t book, const std::string& name) {
    SQLite::Statement s(db_, "INSERT OR IGNORE INTO publishers(name, sort) VALUES (?, ?)");
    s.bind(1, name);
    s.bind(2, name);
    s.exec();
    SQLite::Statement l(
        db_,
        "INSERT INTO books_publishers_link(book, publisher) SELECT ?, id FROM publishers WHERE name = ?");
    l.bind(1, static_cast<std::int64_t>(book));
    l.bind(2, name);
    l.exec();
  }
  void language(std::int64_t book, const std::string& code, int order) {
    SQLite::Statement s(db_, "INSERT OR IGNORE INTO languages(lang_code) VALUES (?)");
    s.bind(1, code);
    s.exec();
    SQLite::Statement l(db_,
                        "INSERT INTO books_languages_link(book, lang_code, item_order)"
                        " SELECT ?, id, ? FROM languages WHERE lang_code = ?");
    l.bind(1, static_cast<std::int64_t>(book));
    l.bind(2, order);
    l.bind(3, code);
    l.exec();
  }
  void identifier(std::int64_t book, const std::string& type, const std::string& val) {
    SQLite::Statement q(db_, "INSERT INTO identifiers(book, type, val) VALUES (?, ?, ?)");
    q.bind(1, static_cast<std::int64_t>(book));
    q.bind(2, type);
    q.bind(3, val);
    q.exec();
  }
  // A format row, and the file itself unless `on_disk` is false.
  void format(std::int64_t book, const std::string& path, const std::string& fmt, const std::string& name,
              const std::string& content, bool on_disk = true) {
    SQLite::Statement q(db_, "INSERT INTO data(book, format, uncompressed_size, name) VALUES (?, ?, ?, ?)");
    q.bind(1, static_cast<std::int64_t>(book));
    q.bind(2, fmt);
    q.bind(3, static_cast<std::int64_t>(content.size() + 1000));  // Calibre's figure, not the file's
    q.bind(4, name);
    q.exec();
    std::string ext = fmt;
    for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (on_disk) write_file(root_ / path / (name + "." + ext), content);
  }
  void exec(const std::string& sql) { db_.exec(sql); }

 private:
  TempDir tmp_;
  fs::path root_;
  SQLite::Database db_;
};

std::vector<CalibreBook> read_all(CalibreLibrary& lib) {
  std::vector<CalibreBook> out;
  auto r = lib.for_each_book([&](CalibreBook& b) {
    out.push_back(b);
    return true;
  });
  REQUIRE(r.has_value());
  CHECK(r->complete);
  CHECK(r->books == out.size());
  return out;
}

CalibreLibrary open_ok(const fs::path& root, CalibreOptions o = {}) {
  auto lib = CalibreLibrary::open(root, o);
  if (!lib) FAIL("open failed: " << lib.error().message);
  return std::move(lib).value();
}

TEST_CASE("a Calibre book comes with its authors, series, dates, identifiers, languages and files",
          "[calibre]") {
  Library cal;
  const auto ada = cal.author("Ada Example", "Example, Ada");
  const auto bo = cal.author("Bo Second", "Second, Bo");
  const std::string path = "Ada Example/First Book (1)";
  const auto b = cal.book("First Book", path, "2019-03-05 12:00:00+00:00", true, "9780000000001");
  cal.link_author(b, bo);  // the link order, not the author ids, decides who comes first
  cal.link_author(b, ada);
  cal.series(b, "Example Saga", 2.5);
  cal.publisher(b, "Example Press");
  cal.language(b, "fra", 1);
  cal.language(b, "eng", 0);
  cal.identifier(b, "isbn", "9781234567897");
  cal.identifier(b, "mobi-asin", "B00EXAMPLE");
  cal.identifier(b, "goodreads", "12345");
  cal.format(b, path, "EPUB", "First Book - Ada Example", "epub bytes");
  cal.format(b, path, "AZW3", "First Book - Ada Example", "azw3", /*on_disk=*/false);
  write_file(cal.root() / path / "cover.jpg", "jpg");
  write_file(cal.root() / path / "metadata.opf", "<package/>");

  REQUIRE(CalibreLibrary::is_library(cal.root()));
  auto lib = open_ok(cal.root());
  CHECK(lib.root() == cal.root());
  auto n = lib.count_books();
  REQUIRE(n.has_value());
  CHECK(*n == 1);
  const auto books = read_all(lib);
  REQUIRE(books.size() == 1);
  const auto& book = books[0];
  CHECK(book.id == b);
  CHECK(book.title == "First Book");
  CHECK(book.folder == cal.root() / path);
  REQUIRE(book.authors.size() == 2);
  CHECK(book.authors[0].name == "Bo Second");
  CHECK(book.authors[0].id == bo);
  CHECK(book.authors[1].name == "Ada Example");
  CHECK(book.authors[1].sort == "Example, Ada");
  CHECK(book.authors[1].id == ada);
  CHECK(book.series == "Example Saga");
  CHECK(book.series_index == 2.5);
  REQUIRE(book.pubdate.has_value());
  CHECK(*book.pubdate == Date(std::chrono::year(2019) / 3 / 5));
  CHECK(book.publisher == "Example Press");
  CHECK(book.languages == std::vector<std::string>{"eng", "fra"});
  CHECK(book.isbn() == "9781234567897");  // the identifier wins over the legacy column
  CHECK(book.asin() == "B00EXAMPLE");
  CHECK(book.identifier("GOODREADS") == "12345");
  CHECK(book.identifier("amazon").empty());
  CHECK(book.identifiers.size() == 3);
  CHECK(book.has_cover);
  CHECK(book.cover == cal.root() / path / "cover.jpg");
  CHECK(book.opf == cal.root() / path / "metadata.opf");
  CHECK(book.problem.empty());
  REQUIRE(book.files.size() == 2);
  // By format: AZW3 before EPUB.
  CHECK(book.files[0].format == "AZW3");
  CHECK(book.files[0].path == cal.root() / path / "First Book - Ada Example.azw3");
  CHECK_FALSE(book.files[0].exists);
  CHECK(book.files[0].size == 4 + 1000);  // Calibre's figure when the file is missing
  CHECK(book.files[1].format == "EPUB");
  CHECK(book.files[1].path == cal.root() / path / "First Book - Ada Example.epub");
  CHECK(book.files[1].exists);
  CHECK(book.files[1].size == 10);  // the file's own size
}

TEST_CASE("missing values read as empty; Calibre's undefined date is no date", "[calibre]") {
  Library cal;
  const auto b1 = cal.book("Bare", "Nobody/Bare (1)", "0101-01-01 00:00:00+00:00", false, "0306406152");
  const auto b2 = cal.book("Null Date", "Nobody/Null Date (2)");
  const auto b3 = cal.book("T Date", "Nobody/T Date (3)", "1999-12-31T23:00:00+00:00");
  const auto b4 = cal.book("Amazon", "Nobody/Amazon (4)", "garbage");
  cal.identifier(b4, "amazon", "B0AMAZON00");
  auto lib = open_ok(cal.root());
  const auto books = read_all(lib);
  REQUIRE(books.size() == 4);
  std::map<std::int64_t, CalibreBook> by;
  for (const auto& b : books) by[b.id] = b;
  CHECK_FALSE(by[b1].pubdate.has_value());
  CHECK(by[b1].isbn() == "0306406152");  // the legacy column when no identifier
  CHECK(by[b1].authors.empty());
  CHECK(by[b1].series.empty());
  CHECK(by[b1].series_index == 1.0);
  CHECK(by[b1].publisher.empty());
  CHECK(by[b1].languages.empty());
  CHECK(by[b1].files.empty());
  CHECK_FALSE(by[b1].has_cover);
  CHECK(by[b1].cover.empty());
  CHECK_FALSE(by[b2].pubdate.has_value());
  REQUIRE(by[b3].pubdate.has_value());
  CHECK(*by[b3].pubdate == Date(std::chrono::year(1999) / 12 / 31));
  CHECK_FALSE(by[b4].pubdate.has_value());
  CHECK(by[b4].asin() == "B0AMAZON00");
}

TEST_CASE("books stream in id order across batches with every row on its own book", "[calibre]") {
  Library cal;
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 7; ++i) {
    const std::string name = "Author " + std::to_string(i);
    const std::string path = name + "/Book " + std::to_string(i) + " (" + std::to_string(i + 1) + ")";
    const auto a = cal.author(name, name);
    const auto b = cal.book("Book " + std::to_string(i), path);
    ids.push_back(b);
    if (i % 2 == 0) cal.link_author(b, a);  // odd books have no author: the merge must not shift
    cal.format(b, path, "PDF", "Book " + std::to_string(i), std::string(static_cast<std::size_t>(i), 'p'));
    if (i == 3) cal.format(b, path, "EPUB", "Book 3", "e");
  }
  // Rows of a book that no longer exists, between and after the real ones.
  cal.exec("INSERT INTO books_authors_link(book, author) VALUES (100, 1)");
  cal.exec("INSERT INTO data(book, format, uncompressed_size, name) VALUES (100, 'PDF', 1, 'ghost')");
  cal.exec("DELETE FROM books WHERE id = " + std::to_string(ids[5]));
  ids.erase(ids.begin() + 5);

  CalibreOptions o;
  o.batch = 2;
  auto lib = open_ok(cal.root(), o);
  const auto books = read_all(lib);
  REQUIRE(books.size() == ids.size());
  for (std::size_t k = 0; k < books.size(); ++k) {
    const auto& b = books[k];
    INFO(b.title);
    CHECK(b.id == ids[k]);
    const int i = std::stoi(b.title.substr(5));
    CHECK(b.authors.size() == (i % 2 == 0 ? 1u : 0u));
    if (i % 2 == 0) CHECK(b.authors[0].name == "Author " + std::to_string(i));
    REQUIRE(b.files.size() == (i == 3 ? 2u : 1u));
    CHECK(b.files.back().format == "PDF");
    CHECK(b.files.back().size == static_cast<std::uint64_t>(i));
    CHECK(b.files.back().exists);
  }
}

TEST_CASE("a book whose path leads outside the library gets a problem and no files", "[calibre]") {
  Library cal;
  const auto bad = cal.book("Escape", "../../etc");
  cal.exec("INSERT INTO data(book, format, uncompressed_size, name) VALUES (" + std::to_string(bad) +
           ", 'EPUB', 1, 'passwd')");
  const auto abs = cal.book("Absolute", "/etc");
  const auto empty = cal.book("Empty", "");
  const auto name = cal.book("Bad Name", "Ada/Bad Name (4)");
  cal.exec("INSERT INTO data(book, format, uncompressed_size, name) VALUES (" + std::to_string(name) +
           ", 'EPUB', 1, '../../x')");
  auto lib = open_ok(cal.root());
  const auto books = read_all(lib);
  REQUIRE(books.size() == 4);
  for (const auto& b : books) {
    INFO(b.title);
    CHECK_FALSE(b.problem.empty());
    CHECK(b.files.empty());
    if (b.id != name) CHECK(b.folder.empty());
  }
  (void)abs;
  (void)empty;
}

TEST_CASE("a library in a folder whose name needs URI escaping opens", "[calibre]") {
  Library cal("Lib %20 #1 ?x=y \xc3\xa9");
  const auto b = cal.book("One", "A/One (1)");
  cal.format(b, "A/One (1)", "EPUB", "One - A", "x");
  auto lib = open_ok(cal.root());
  const auto books = read_all(lib);
  REQUIRE(books.size() == 1);
  REQUIRE(books[0].files.size() == 1);
  CHECK(books[0].files[0].exists);
}

TEST_CASE("the visitor and the stop token can end the read early", "[calibre]") {
  Library cal;
  for (int i = 0; i < 5; ++i) cal.book("B" + std::to_string(i), "A/B" + std::to_string(i));
  auto lib = open_ok(cal.root());
  int seen = 0;
  auto r = lib.for_each_book([&](CalibreBook&) { return ++seen < 2; });
  REQUIRE(r.has_value());
  CHECK_FALSE(r->complete);
  CHECK(r->books == 2);
  CHECK(seen == 2);

  std::stop_source stop;
  seen = 0;
  auto s = lib.for_each_book(
      [&](CalibreBook&) {
        if (++seen == 3) stop.request_stop();
        return true;
      },
      stop.get_token());
  REQUIRE(s.has_value());
  CHECK_FALSE(s->complete);
  CHECK(s->books == 3);
}

TEST_CASE("opening fails as a value: no library, not SQLite, not Calibre, bad arguments", "[calibre]") {
  TempDir tmp;
  auto none = CalibreLibrary::open(tmp.path());
  REQUIRE_FALSE(none.has_value());
  CHECK(none.error().code == errc::not_found);
  CHECK_FALSE(CalibreLibrary::is_library(tmp.path()));

  write_file(tmp.path() / "garbage" / "metadata.db", std::string(4096, 'g'));
  auto garbage = CalibreLibrary::open(tmp.path() / "garbage");
  REQUIRE_FALSE(garbage.has_value());
  CHECK(garbage.error().code == errc::store_error);
  CHECK_THAT(garbage.error().message, Catch::Contains("metadata.db"));

  {
    fs::create_directories(tmp.path() / "other");
    SQLite::Database db((tmp.path() / "other" / "metadata.db").string(),
                        SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT)");
  }
  auto other = CalibreLibrary::open(tmp.path() / "other");
  REQUIRE_FALSE(other.has_value());
  CHECK(other.error().code == errc::invalid_argument);
  CHECK_THAT(other.error().message, Catch::Contains("table 'books' has no column 'sort'"));

  {
    Library cal;
    cal.exec("DROP TABLE identifiers");
    auto no_ids = CalibreLibrary::open(cal.root());
    REQUIRE_FALSE(no_ids.has_value());
    CHECK(no_ids.error().code == errc::invalid_argument);
    CHECK_THAT(no_ids.error().message, Catch::Contains("no table 'identifiers'"));
  }

  auto relative = CalibreLibrary::open("relative/lib");
  REQUIRE_FALSE(relative.has_value());
  CHECK(relative.error().code == errc::invalid_argument);
  Library cal;
  CalibreOptions bad;
  bad.batch = 0;
  auto zero = CalibreLibrary::open(cal.root(), bad);
  REQUIRE_FALSE(zero.has_value());
  CHECK(zero.error().code == errc::invalid_argument);
}

TEST_CASE("a database locked by a writer is unavailable, not an error of the library", "[calibre]") {
  Library cal;
  cal.book("One", "A/One (1)");
  CalibreOptions o;
  o.busy_timeout = std::chrono::milliseconds(50);
  auto lib = open_ok(cal.root(), o);

  // Calibre in the middle of a write: an exclusive lock on the file.
  SQLite::Database writer((cal.root() / "metadata.db").string(), SQLite::OPEN_READWRITE);
  writer.exec("BEGIN EXCLUSIVE");
  auto r = lib.for_each_book([](CalibreBook&) { return true; });
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == errc::unavailable);
  CHECK_THAT(r.error().message, Catch::Contains("locked"));
  auto opening = CalibreLibrary::open(cal.root(), o);
  REQUIRE_FALSE(opening.has_value());
  CHECK(opening.error().code == errc::unavailable);

  // immutable: no locks taken, so the read goes through (for copies nothing writes to).
  CalibreOptions imm = o;
  imm.immutable = true;
  auto frozen = open_ok(cal.root(), imm);
  int seen = 0;
  auto ok = frozen.for_each_book([&](CalibreBook&) { return ++seen > 0; });
  REQUIRE(ok.has_value());
  CHECK(seen == 1);

  writer.exec("ROLLBACK");
  auto after = lib.for_each_book([](CalibreBook&) { return true; });
  REQUIRE(after.has_value());
  CHECK(after->books == 1);
}

TEST_CASE("the reader never writes to metadata.db", "[calibre]") {
  Library cal;
  const auto b = cal.book("One", "A/One (1)");
  cal.format(b, "A/One (1)", "EPUB", "One - A", "x");
  const auto db = cal.root() / "metadata.db";
  const auto before = testing::read_file(db);
  const auto mtime = fs::last_write_time(db);
  {
    auto lib = open_ok(cal.root());
    read_all(lib);
  }
  CHECK(testing::read_file(db) == before);
  CHECK(fs::last_write_time(db) == mtime);
  for (const auto& e : fs::directory_iterator(cal.root()))
    CHECK(e.path().filename().string().rfind("metadata.db-", 0) == std::string::npos);  // no journal left
}

}  // namespace calibre_library_test

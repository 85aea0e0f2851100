// SPDX-License-Identifier: MIT
// The Calibre library reader over SQLiteCpp.
//
// Why read metadata.db directly: Readarr asks Calibre's content server for every path and times
// out on big libraries (Readarr#396). The database has all of it, and one read of a few ordered
// queries is fast. Why batches: a read transaction holds a SHARED lock, and a running Calibre
// cannot commit while it is held; a whole-library read in one transaction would make Calibre's
// own writes fail with "database is locked" on big libraries. A batch is read in one short
// transaction (its rows agree), copied out, and the lock released before the visitor runs.
//
// Within a batch, the many-valued parts (authors, languages, identifiers, formats) come from one
// query each, ordered by book, and are merged into the books in one pass: five queries per
// batch instead of five per book.
#include "shelfjobs/adapters/calibre_library.hpp"

#include <sys/stat.h>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include "engine/text.hpp"

namespace shelfjobs {

namespace fs = std::filesystem;

std::string CalibreBook::identifier(std::string_view type) const {
  for (const auto& [t, v] : identifiers)
    if (detail::iequals(t, type)) return v;
  return {};
}

std::string CalibreBook::isbn() const {
  std::string v = identifier("isbn");
  return v.empty() ? legacy_isbn_ : v;
}

std::string CalibreBook::asin() const {
  for (std::string_view t : {"mobi-asin", "asin", "amazon"}) {
    std::string v = identifier(t);
    if (!v.empty()) return v;
  }
  return {};
}

namespace {

// What the reader needs: table -> columns. Calibre's own names (its schema, src/calibre/db).
struct Needed {
  const char* table;
  std::vector<const char*> columns;
};
const std::vector<Needed>& needed() {
  static const std::vector<Needed> kNeeded = {
      {"books", {"id", "title", "sort", "path", "series_index", "pubdate", "isbn", "has_cover"}},
      {"authors", {"id", "name", "sort"}},
      {"books_authors_link", {"id", "book", "author"}},
      {"series", {"id", "name"}},
      {"books_series_link", {"book", "series"}},
      {"publishers", {"id", "name"}},
      {"books_publishers_link", {"book", "publisher"}},
      {"languages", {"id", "lang_code"}},
      {"books_languages_link", {"book", "lang_code", "item_order"}},
      {"identifiers", {"book", "type", "val"}},
      {"data", {"book", "format", "name", "uncompressed_size"}},
  };
  return kNeeded;
}

// The file name as a URI path: everything but unreserved characters and '/' percent-encoded,
// so names with '?', '#', '%' or bytes that are not ASCII reach SQLite intact.
std::string uri_of(const fs::path& file, const CalibreOptions& o) {
  std::string uri = "file:";
  for (unsigned char c : file.native()) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') {
      uri += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      uri += buf;
    }
  }
  uri += "?mode=ro";
  if (o.immutable) uri += "&immutable=1";
  return uri;
}

Error sqlite_error(const fs::path& db, int code, const std::string& what) {
  const std::string where = db.string();
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Error{errc::unavailable,
                   where + " is locked by another program (Calibre writing?); try again later: " + what};
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return Error{errc::store_error, where + " is not a readable SQLite database: " + what};
    default: return Error{errc::unavailable, "cannot read " + where + ": " + what};
  }
}

// "2019-03-05 12:00:00+00:00" or "2019-03-05T12:00:00+00:00" -> the date; Calibre's
// "undefined" date is in year 101.
std::optional<Date> parse_date(const std::string& text) {
  int y = 0, m = 0, d = 0;
  if (text.size() < 10 || std::sscanf(text.c_str(), "%4d-%2d-%2d", &y, &m, &d) != 3) return std::nullopt;
  if (y <= 101) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(static_cast<unsigned>(m)),
                                        std::chrono::day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return std::nullopt;
  return Date(ymd);
}

// A relative path of plain names: no root, no "." or ".." (a database that points outside the
// library is not followed).
bool plain_relative(const fs::path& p) {
  if (p.empty() || p.is_absolute() || p.has_root_name()) return false;
  for (const auto& part : p) {
    if (part.empty()) continue;
    if (part == "." || part == "..") return false;
  }
  return true;
}

std::string lower(std::string s) { return detail::ascii_lower(s); }

std::string text_of(const SQLite::Column& c) { return c.isNull() ? std::string() : c.getString(); }

}  // namespace

struct CalibreLibrary::Impl {
  fs::path root;
  fs::path db_path;
  CalibreOptions options;
  std::unique_ptr<SQLite::Database> db;

  Status check_schema() {
    for (const auto& n : needed()) {
      SQLite::Statement q(*db, std::string("PRAGMA table_info(") + n.table + ")");
      std::vector<std::string> have;
      while (q.executeStep()) have.push_back(q.getColumn(1).getString());
      if (have.empty()) {
        return Error{errc::invalid_argument,
                     db_path.string() + " is not a Calibre library: it has no table '" + n.table + "'"};
      }
      for (const char* col : n.columns) {
        if (std::find(have.begin(), have.end(), col) == have.end()) {
          return Error{errc::invalid_argument, db_path.string() + " is not a Calibre library: table '" +
                                                   n.table + "' has no column '" + col + "'"};
        }
      }
    }
    return Ok{};
  }

  // Reads the books with ids in (after, ...], at most `batch` of them, in one read transaction.
  std::vector<CalibreBook> read_batch(std::int64_t after) {
    std::vector<CalibreBook> books;
    SQLite::Transaction tx(*db);  // BEGIN (deferred): the shared lock for the batch
    SQLite::Statement q(
        *db,
        "SELECT b.id, b.title, b.sort, b.path, b.series_index, b.pubdate, b.isbn, b.has_cover,"
        " (SELECT s.name FROM books_series_link l JOIN series s ON s.id = l.series"
        "   WHERE l.book = b.id LIMIT 1),"
        " (SELECT p.name FROM books_publishers_link l JOIN publishers p ON p.id = l.publisher"
        "   WHERE l.book = b.id LIMIT 1)"
        " FROM books b WHERE b.id > ? ORDER BY b.id LIMIT ?");
    q.bind(1, static_cast<std::int64_t>(after));
    q.bind(2, options.batch);
    while (q.executeStep()) {
      CalibreBook b;
      b.id = q.getColumn(0).getInt64();
      b.title = text_of(q.getColumn(1));
      b.sort = text_of(q.getColumn(2));
      const fs::path rel = text_of(q.getColumn(3));
      if (plain_relative(rel)) {
        b.folder = root / rel;
      } else {
        b.problem = "book " + std::to_string(b.id) + " has an unusable path '" + rel.string() +
                    "' (outside the library or empty); its files are not listed";
      }
      b.series_index = q.getColumn(4).isNull() ? 1.0 : q.getColumn(4).getDouble();
      b.pubdate = parse_date(text_of(q.getColumn(5)));
      b.legacy_isbn_ = text_of(q.getColumn(6));
      b.has_cover = !q.getColumn(7).isNull() && q.getColumn(7).getInt() != 0;
      b.series = text_of(q.getColumn(8));
      b.publisher = text_of(q.getColumn(9));
      if (!b.folder.empty()) {
        b.opf = b.folder / "metadata.opf";
        if (b.has_cover) b.cover = b.folder / "cover.jpg";
      }
      books.push_back(std::move(b));
    }
    if (books.empty()) return books;
    const std::int64_t lo = books.front().id, hi = books.back().id;

    // One ordered pass per many-valued part; `add` gets each row of a book of this batch.
    auto merge = [&](const char* sql, const std::function<void(CalibreBook&, SQLite::Statement&)>& add) {
      SQLite::Statement s(*db, sql);
      s.bind(1, lo);
      s.bind(2, hi);
      std::size_t i = 0;
      while (s.executeStep()) {
        const std::int64_t book = s.getColumn(0).getInt64();
        while (i < books.size() && books[i].id < book) ++i;
        if (i == books.size()) break;
        if (books[i].id == book) add(books[i], s);  // else a link row of a deleted book: ignored
      }
    };
    merge(
        "SELECT l.book, a.id, a.name, a.sort FROM books_authors_link l JOIN authors a ON a.id = l.author"
        " WHERE l.book BETWEEN ? AND ? ORDER BY l.book, l.id",
        [](CalibreBook& b, SQLite::Statement& s) {
          b.authors.push_back(
              CalibreAuthor{s.getColumn(1).getInt64(), text_of(s.getColumn(2)), text_of(s.getColumn(3))});
        });
    merge(
        "SELECT l.book, g.lang_code FROM books_languages_link l JOIN languages g ON g.id = l.lang_code"
        " WHERE l.book BETWEEN ? AND ? ORDER BY l.book, l.item_order",
        [](CalibreBook& b, SQLite::Statement& s) { b.languages.push_back(text_of(s.getColumn(1))); });
    merge("SELECT book, type, val FROM identifiers WHERE book BETWEEN ? AND ? ORDER BY book, type",
          [](CalibreBook& b, SQLite::Statement& s) {
            b.identifiers.emplace_back(text_of(s.getColumn(1)), text_of(s.getColumn(2)));
          });
    merge(
        "SELECT book, format, name, uncompressed_size FROM data WHERE book BETWEEN ? AND ? ORDER BY book, "
        "format",
        [](CalibreBook& b, SQLite::Statement& s) {
          if (b.folder.empty()) return;
          CalibreFile f;
          f.format = text_of(s.getColumn(1));
          const std::string name = text_of(s.getColumn(2)) + "." + lower(f.format);
          if (name.find('/') != std::string::npos || !plain_relative(name)) {
            b.problem = "book " + std::to_string(b.id) + " has an unusable file name '" + name + "'";
            return;
          }
          f.path = b.folder / name;
          f.size = s.getColumn(3).isNull() ? 0 : static_cast<std::uint64_t>(s.getColumn(3).getInt64());
          b.files.push_back(std::move(f));
        });
    tx.commit();  // a read: ends the transaction and lets go of the lock
    return books;
  }
};

bool CalibreLibrary::is_library(const fs::path& root) {
  struct stat st {};
  return ::stat((root / "metadata.db").c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

CalibreLibrary::CalibreLibrary(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CalibreLibrary::CalibreLibrary(CalibreLibrary&&) noexcept = default;
CalibreLibrary& CalibreLibrary::operator=(CalibreLibrary&&) noexcept = default;
CalibreLibrary::~CalibreLibrary() = default;

const fs::path& CalibreLibrary::root() const { return impl_->root; }

Result<CalibreLibrary> CalibreLibrary::open(const fs::path& root, CalibreOptions options) {
  if (root.empty() || !root.is_absolute()) {
    return Error{errc::invalid_argument,
                 "a Calibre library needs an absolute path, not '" + root.string() + "'"};
  }
  if (options.batch < 1 || options.batch > 10000 || options.busy_timeout.count() < 0) {
    return Error{errc::invalid_argument,
                 "Calibre options: batch must be 1..10000 and busy_timeout not negative"};
  }
  auto impl = std::make_unique<Impl>();
  impl->root = root;
  impl->db_path = root / "metadata.db";
  impl->options = options;
  struct stat st {};
  if (::stat(impl->db_path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return Error{errc::not_found, root.string() + " is not a Calibre library: it has no metadata.db"};
    }
    return Error{errc::unavailable, "cannot read " + impl->db_path.string() + ": " + std::strerror(errno)};
  }
  try {
    impl->db = std::make_unique<SQLite::Database>(uri_of(impl->db_path, options),
                                                  SQLite::OPEN_READONLY | SQLite::OPEN_URI,
                                                  static_cast<int>(options.busy_timeout.count()));
    if (auto ok = impl->check_schema(); !ok) return ok.error();
  } catch (const SQLite::Exception& e) {
    return sqlite_error(impl->db_path, e.getErrorCode(), e.what());
  } catch (const std::exception& e) {
    return Error{errc::store_error, "cannot read " + impl->db_path.string() + ": " + e.what()};
  }
  return CalibreLibrary(std::move(impl));
}

Result<std::size_t> CalibreLibrary::count_books() {
  try {
    return static_cast<std::size_t>(impl_->db->execAndGet("SELECT count(*) FROM books").getInt64());
  } catch (const SQLite::Exception& e) {
    return sqlite_error(impl_->db_path, e.getErrorCode(), e.what());
  }
}

Result<CalibreScan> CalibreLibrary::for_each_book(const std::function<bool(CalibreBook&)>& visit,
                                                  std::stop_token stop) {
  CalibreScan scan;
  std::int64_t after = std::numeric_limits<std::int64_t>::min();
  for (;;) {
    std::vector<CalibreBook> books;
    try {
      books = impl_->read_batch(after);
    } catch (const SQLite::Exception& e) {
      return sqlite_error(impl_->db_path, e.getErrorCode(), e.what());
    } catch (const std::exception& e) {
      return Error{errc::store_error, "cannot read " + impl_->db_path.string() + ": " + e.what()};
    }
    if (books.empty()) return scan;
    after = books.back().id;
    for (auto& b : books) {
      if (stop.stop_requested()) {
        scan.complete = false;
        return scan;
      }
      // Outside the transaction: one stat per file, so the visitor sees what is on disk.
      for (auto& f : b.files) {
        struct stat st {};
        f.exists = ::stat(f.path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
        if (f.exists) f.size = static_cast<std::uint64_t>(st.st_size);
      }
      ++scan.books;
      scan.files += b.files.size();
      if (!visit(b)) {
        scan.complete = false;
        return scan;
      }
    }
  }
}

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
// Book-file rows. A library scan reads them folder by folder (`for_each_file_under`, a range
// over the unique path index) and writes them in batches, so neither side ever holds a whole
// library's rows.

#include "catalog/file_rows.hpp"

#include <string>
#include <utility>

namespace shelfjobs::catalog_sqlite {

BookFile file_row(SQLite::Statement& st) {
  BookFile f;
  f.id = column<RowId>(st, kFile["id"]);
  f.author_id = column<RowId>(st, kFile["author_id"]);
  f.book_id = column<RowId>(st, kFile["book_id"]);
  f.edition_id = column<RowId>(st, kFile["edition_id"]);
  f.path = column<std::string>(st, kFile["path"]);
  f.size = column<std::int64_t>(st, kFile["size"]);
  f.mtime = column<TimePoint>(st, kFile["mtime"]);
  f.format = column<std::string>(st, kFile["format"]);
  f.added = column<TimePoint>(st, kFile["added"]);
  f.unmapped_reason = column<std::string>(st, kFile["unmapped_reason"]);
  f.read_error = column<std::string>(st, kFile["read_error"]);
  f.title = column<std::string>(st, kFile["title"]);
  f.author = column<std::string>(st, kFile["author"]);
  f.isbn13 = column<std::string>(st, kFile["isbn13"]);
  f.asin = column<std::string>(st, kFile["asin"]);
  return f;
}

BookFile upsert_file(Connection& c, BookFile f) {
  if (!f.path.is_absolute())
    fail(errc::invalid_argument, "book file path " + in_quotes(f.path.string()) + " is not absolute");
  f.path = clean_path(f.path);
  if (f.added == TimePoint{}) f.added = std::chrono::system_clock::now();
  auto st = c.prepare(
      "INSERT INTO book_files (id, path, size, mtime, format, author_id, book_id, edition_id, added, "
      "unmapped_reason, read_error, title, author, isbn13, asin) "
      "VALUES (" +
      next_id("book_files") +
      ", ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, "
      "format = excluded.format, author_id = excluded.author_id, "
      "book_id = excluded.book_id, edition_id = excluded.edition_id, "
      "unmapped_reason = excluded.unmapped_reason, read_error = excluded.read_error, "
      "title = excluded.title, author = excluded.author, isbn13 = excluded.isbn13, asin = excluded.asin "
      "RETURNING id, added");
  st->bind(1, f.path.string());
  st->bind(2, f.size);
  sqlite::bind(*st, 3, f.mtime);
  st->bind(4, f.format);
  bind_id(*st, 5, f.author_id);
  bind_id(*st, 6, f.book_id);
  bind_id(*st, 7, f.edition_id);
  sqlite::bind(*st, 8, f.added);
  st->bind(9, f.unmapped_reason);
  st->bind(10, f.read_error);
  st->bind(11, f.title);
  st->bind(12, f.author);
  st->bind(13, f.isbn13);
  st->bind(14, f.asin);
  try {
    st->executeStep();
    f.id = st->getColumn(0).getInt64();
    f.added = column<TimePoint>(*st, 1);
    // RETURNING rows are complete only once the statement ran to its end.
    while (st->executeStep()) {
    }
  } catch (const SQLite::Exception& e) {
    if (is_constraint(e, SQLITE_CONSTRAINT_FOREIGNKEY))
      fail(errc::not_found, "book file " + in_quotes(f.path.string()) +
                                " names a missing author, book or edition (author " +
                                std::to_string(f.author_id) + ", book " + std::to_string(f.book_id) +
                                ", edition " + std::to_string(f.edition_id) + ")");
    throw;
  }
  return f;
}

BookFile load_file(Connection& c, RowId id) {
  auto st = c.prepare("SELECT " + kFile.list() + " FROM book_files WHERE id = ?");
  st->bind(1, id);
  if (!st->executeStep()) fail(errc::not_found, "book file " + std::to_string(id));
  return file_row(*st);
}

BookFile load_file_by_path(Connection& c, const std::string& path) {
  auto st = c.prepare("SELECT " + kFile.list() + " FROM book_files WHERE path = ?");
  st->bind(1, path);
  if (!st->executeStep()) fail(errc::not_found, "book file " + in_quotes(path));
  return file_row(*st);
}

std::vector<BookFile> files_where(Connection& c, const char* where, RowId id) {
  std::vector<BookFile> out;
  auto st = c.prepare("SELECT " + kFile.list() + " FROM book_files WHERE " + where + " ORDER BY path");
  st->bind(1, id);
  while (st->executeStep()) out.push_back(file_row(*st));
  return out;
}

std::vector<BookFile> unmapped_files(Connection& c) {
  std::vector<BookFile> out;
  auto st = c.prepare("SELECT " + kFile.list() + " FROM book_files WHERE book_id IS NULL ORDER BY path");
  while (st->executeStep()) out.push_back(file_row(*st));
  return out;
}

void for_each_file_under(Connection& c, const std::string& folder,
                         const std::function<void(const BookFile&)>& fn) {
  // A row at "/lib/Ann" itself, then everything in "/lib/Ann/": '0' is the byte after '/', so
  // the range ends exactly at the folder's last descendant ("/lib/Ann Other" sorts outside
  // it). Two statements, not one with OR: SQLite runs "path = ? OR (range)" as two index
  // searches whose rows it sorts in a temporary b-tree, which held every row of a root at once.
  // The folder itself sorts before its descendants (a prefix first), so path order holds.
  {
    auto st = c.prepare("SELECT " + kFile.list() + " FROM book_files WHERE path = ?1");
    st->bind(1, folder);
    while (st->executeStep()) fn(file_row(*st));
  }
  const std::string first = folder == "/" ? "/" : folder + "/";
  const std::string end = folder == "/" ? "0" : folder + "0";
  auto st =
      c.prepare("SELECT " + kFile.list() + " FROM book_files WHERE path >= ?1 AND path < ?2 ORDER BY path");
  st->bind(1, first);
  st->bind(2, end);
  while (st->executeStep()) fn(file_row(*st));
}

namespace {

// A skip scan over the unique path index under `folder`: each row lying in `folder` itself goes
// to `on_file` (the statement on it; `path_column` is where its path is in `columns`), and
// each sub-folder holding rows, at any depth, goes once to `on_folder` as a path, its rows
// unread: the first path after the last sub-folder found names the next one, and the seek
// after it starts past that sub-folder's range (its name + '0', '0' being the byte after '/').
// `on_file` runs on the statement's row; `on_folder` after the statement was reset.
template <class OnFile, class OnFolder>
void skip_scan(Connection& c, const std::string& folder, const std::string& columns, int path_column,
               OnFile on_file, OnFolder on_folder) {
  const std::string first = folder == "/" ? "/" : folder + "/";
  const std::string end = folder == "/" ? "0" : folder + "0";
  auto from = c.prepare("SELECT " + columns +
                        " FROM book_files WHERE path >= ?1 AND path < ?2 ORDER BY path LIMIT 1");
  auto after =
      c.prepare("SELECT " + columns + " FROM book_files WHERE path > ?1 AND path < ?2 ORDER BY path LIMIT 1");
  std::string bound = first;
  bool inclusive = true;
  for (;;) {
    SQLite::Statement& st = inclusive ? *from : *after;
    st.reset();
    st.bind(1, bound);
    st.bind(2, end);
    if (!st.executeStep()) return;
    std::string path = st.getColumn(path_column).getString();
    if (const auto slash = path.find('/', first.size()); slash != std::string::npos) {
      path.resize(slash);  // a sub-folder: past its range
      st.reset();
      bound = path + "0";
      inclusive = true;
      on_folder(std::move(path));
      continue;
    }
    on_file(st);
    st.reset();
    bound = std::move(path);
    inclusive = false;
  }
}

}  // namespace

void for_each_file_in(Connection& c, const std::string& folder,
                      const std::function<void(const BookFile&)>& fn) {
  skip_scan(
      c, folder, kFile.list(), kFile["path"],
      [&](SQLite::Statement& st) {
        const BookFile row = file_row(st);
        st.reset();  // done with the statement before `fn` runs
        fn(row);
      },
      [](std::string&&) {});
}

std::vector<std::string> folders_with_files_under(Connection& c, const std::string& folder) {
  std::vector<std::string> out;
  skip_scan(
      c, folder, "path", 0, [](SQLite::Statement&) {},
      [&](std::string&& sub) { out.push_back(std::move(sub)); });
  return out;
}

BookFile delete_file(Connection& c, RowId id, bool& found) {
  auto st = c.prepare("DELETE FROM book_files WHERE id = ? RETURNING " + kFile.list());
  st->bind(1, id);
  BookFile f;
  found = st->executeStep();
  if (found) {
    f = file_row(*st);
    while (st->executeStep()) {
    }
  }
  return f;
}

std::int64_t unlink_orphaned_files(Connection& c, std::string_view reason) {
  // A file whose book was removed lost its link through ON DELETE SET NULL but kept an empty
  // reason; one whose link points at nothing (written with foreign keys off) is unlinked here.
  auto dangling = c.prepare(
      "UPDATE book_files SET book_id = NULL, edition_id = NULL "
      "WHERE (book_id IS NOT NULL AND book_id NOT IN (SELECT id FROM books)) "
      "OR (edition_id IS NOT NULL AND edition_id NOT IN (SELECT id FROM editions))");
  dangling->exec();
  auto authorless = c.prepare(
      "UPDATE book_files SET author_id = NULL WHERE author_id IS NOT NULL AND author_id NOT IN "
      "(SELECT id FROM authors)");
  authorless->exec();
  auto st =
      c.prepare("UPDATE book_files SET unmapped_reason = ? WHERE book_id IS NULL AND unmapped_reason = ''");
  st->bind(1, std::string(reason));
  return st->exec();
}

void for_each_book_identity(Connection& c, const std::function<void(const BookIdentity&)>& fn) {
  auto st = c.prepare(
      "SELECT b.id, b.author_id, b.title, a.name, b.monitored AND a.monitored, e.id, e.isbn13, e.asin, "
      "e.title FROM books b JOIN authors a ON a.id = b.author_id "
      "LEFT JOIN editions e ON e.book_id = b.id ORDER BY b.id, e.id");
  BookIdentity cur;
  while (st->executeStep()) {
    const RowId book = st->getColumn(0).getInt64();
    if (book != cur.book_id) {
      if (cur.book_id != 0) fn(cur);
      cur = BookIdentity{};
      cur.book_id = book;
      cur.author_id = st->getColumn(1).getInt64();
      cur.title = st->getColumn(2).getString();
      cur.author_name = st->getColumn(3).getString();
      cur.monitored = st->getColumn(4).getInt() != 0;
    }
    if (!st->getColumn(5).isNull())
      cur.editions.push_back({st->getColumn(5).getInt64(), st->getColumn(6).getString(),
                              st->getColumn(7).getString(), st->getColumn(8).getString()});
  }
  if (cur.book_id != 0) fn(cur);
}

}  // namespace shelfjobs::catalog_sqlite

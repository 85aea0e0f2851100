// SPDX-License-Identifier: MIT
#pragma once
// The catalog's book-file rows: their columns and the statements over them. Each function runs
// inside a catalog call (its transaction and its connection's lock held by the caller) and
// throws Failure or SQLite::Exception as the other catalog statements do.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string_view>
#include <vector>

#include "catalog/sqlite_common.hpp"
#include "shelfjobs/catalog/catalog.hpp"

namespace shelfjobs::catalog_sqlite {

inline constexpr sqlite::Columns kFile{"id",         "author_id", "book_id", "edition_id", "path",
                                       "size",       "mtime",     "format",  "added",      "unmapped_reason",
                                       "read_error", "title",     "author",  "isbn13",     "asin"};
BookFile file_row(SQLite::Statement& st);

/// Inserts or (same path) updates; an update keeps the row's id and `added`.
BookFile upsert_file(Connection& c, BookFile f);
BookFile load_file(Connection& c, RowId id);
BookFile load_file_by_path(Connection& c, const std::string& path);
std::vector<BookFile> files_where(Connection& c, const char* where, RowId id);
std::vector<BookFile> unmapped_files(Connection& c);
void for_each_file_under(Connection& c, const std::string& folder,
                         const std::function<void(const BookFile&)>& fn);
void for_each_file_in(Connection& c, const std::string& folder,
                      const std::function<void(const BookFile&)>& fn);
std::vector<std::string> folders_with_files_under(Connection& c, const std::string& folder);
/// Deletes the row and returns it; `found` false (and nothing deleted) when it was gone.
BookFile delete_file(Connection& c, RowId id, bool& found);
std::int64_t unlink_orphaned_files(Connection& c, std::string_view reason);
void for_each_book_identity(Connection& c, const std::function<void(const BookIdentity&)>& fn);

}  // namespace shelfjobs::catalog_sqlite

// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The catalog's domain events, published by the library and refresh services on the host's
/// EventBus, and their JSON for hosts that pass them on (EventBus::set_forwarder).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/services/book_monitoring.hpp"

namespace shelfjobs {

struct AuthorAdded {
  static constexpr const char* kName = "AuthorAdded";
  Author author;
  /// The books to monitor once the first refresh brings them (none: each new book takes the
  /// author's `monitored`).
  std::optional<BookMonitor> monitor;
  /// Readarr's addOptions.searchForMissingBooks: search for the monitored books without files
  /// once the first refresh brought them (and `monitor` was applied). None: the acquisition
  /// service's `search_on_author_added` decides.
  std::optional<bool> search_for_missing;
  /// Readarr's booksToMonitor (foreign book ids): when not empty, exactly these books are
  /// monitored once the first refresh brings them, whatever `monitor` says.
  std::vector<std::string> books_to_monitor;
};

struct BookAdded {
  static constexpr const char* kName = "BookAdded";
  Book book;
  /// True when the book came with fresh metadata (added by an author refresh): no RefreshBook
  /// is needed for it.
  bool from_refresh = false;
};

struct AuthorRenamed {
  static constexpr const char* kName = "AuthorRenamed";
  RowId author_id = 0;
  std::string old_name, new_name;
  std::filesystem::path old_path, new_path;
};

struct AuthorRemoved {
  static constexpr const char* kName = "AuthorRemoved";
  Author author;
  std::string reason;
};

/// A person removed a book (LibraryService::remove_book).
struct BookRemoved {
  static constexpr const char* kName = "BookRemoved";
  Book book;  ///< as it was
  std::string reason;
  bool files_deleted = false;  ///< its files were deleted (or recycled), not just unlinked
};

/// A person changed the author (monitored, folder): the row as it is now.
struct AuthorEdited {
  static constexpr const char* kName = "AuthorEdited";
  Author author;
};

/// A person changed the book (monitored): the row as it is now.
struct BookEdited {
  static constexpr const char* kName = "BookEdited";
  Book book;
};

struct AuthorMerged {
  static constexpr const char* kName = "AuthorMerged";
  RowId from_author_id = 0;  ///< deleted (0 when the author was re-keyed in place)
  RowId into_author_id = 0;
  std::string old_foreign_id, new_foreign_id;
};

struct AuthorMoved {
  static constexpr const char* kName = "AuthorMoved";
  RowId author_id = 0;
  std::filesystem::path old_path, new_path;
  std::int64_t files = 0;  ///< book file rows re-pointed
};

struct AuthorRefreshed {
  static constexpr const char* kName = "AuthorRefreshed";
  RowId author_id = 0;
  bool changed = false;
  int books_added = 0, books_updated = 0, books_removed = 0;
  /// Set on the refresh that AuthorAdded started, when the author was added with an explicit
  /// search choice (AuthorAdded::search_for_missing). Published after the add-time monitor
  /// choice is applied, so a search it starts sees the books monitored as chosen.
  std::optional<bool> search_for_missing;
  /// The refresh that AuthorAdded started (RefreshAuthor's isNewAuthor): the author's books are
  /// in for the first time.
  bool new_author = false;
};

/// The events as JSON (camelCase keys, times in ISO 8601 UTC), for hosts that pass them on
/// (EventBus::set_forwarder): AuthorAdded {authorId, author, monitor, searchForMissingBooks
/// and booksToMonitor (when chosen)}; BookAdded {bookId,
/// authorId, fromRefresh, book}; AuthorRenamed {authorId, oldName, newName, oldPath, newPath}; AuthorRemoved
/// {authorId, author, reason}; BookRemoved {bookId, authorId, book, reason, filesDeleted}; AuthorMerged
/// {fromAuthorId, intoAuthorId, oldForeignId, newForeignId}; AuthorMoved {authorId, oldPath, newPath, files};
/// AuthorRefreshed {authorId, changed, booksAdded, booksUpdated, booksRemoved, newAuthor,
/// searchForMissingBooks (when chosen)}; AuthorEdited {authorId, author}; BookEdited {bookId, authorId,
/// book}. An author is {id, foreignAuthorId, authorName, sortName, path, rootFolderId, monitored, status,
/// added, lastInfoSync}; a book {id, authorId, foreignBookId, title, releaseDate, genres, monitored,
/// manuallyAdded, lastInfoSync}.
void to_json(nlohmann::json& j, const AuthorAdded& e);
void to_json(nlohmann::json& j, const BookAdded& e);
void to_json(nlohmann::json& j, const AuthorRenamed& e);
void to_json(nlohmann::json& j, const AuthorRemoved& e);
void to_json(nlohmann::json& j, const BookRemoved& e);
void to_json(nlohmann::json& j, const AuthorMerged& e);
void to_json(nlohmann::json& j, const AuthorMoved& e);
void to_json(nlohmann::json& j, const AuthorRefreshed& e);
void to_json(nlohmann::json& j, const AuthorEdited& e);
void to_json(nlohmann::json& j, const BookEdited& e);

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
// The catalog events as JSON, for hosts that pass them on.

#include "shelfjobs/services/catalog_events.hpp"

#include "services/service_util.hpp"

namespace shelfjobs {

namespace {

nlohmann::json author_json(const Author& a) {
  return {{"id", a.id},
          {"foreignAuthorId", a.foreign_id},
          {"authorName", a.name},
          {"sortName", a.sort_name},
          {"path", a.path.string()},
          {"rootFolderId", a.root_folder_id},
          {"monitored", a.monitored},
          {"status", std::string(to_string(a.status))},
          {"added", format_time(a.added)},
          {"lastInfoSync", time_or_null(a.last_info_sync)}};
}

nlohmann::json book_json(const Book& b) {
  return {{"id", b.id},
          {"authorId", b.author_id},
          {"foreignBookId", b.foreign_id},
          {"title", b.title},
          {"releaseDate", b.release_date ? nlohmann::json(format_time(TimePoint(*b.release_date)))
                                         : nlohmann::json(nullptr)},
          {"genres", b.genres},
          {"monitored", b.monitored},
          {"manuallyAdded", b.manually_added},
          {"lastInfoSync", time_or_null(b.last_info_sync)}};
}
}  // namespace

void to_json(nlohmann::json& j, const AuthorAdded& e) {
  j = {{"authorId", e.author.id}, {"author", author_json(e.author)}};
  if (e.monitor) j["monitor"] = to_string(*e.monitor);
  if (e.search_for_missing) j["searchForMissingBooks"] = *e.search_for_missing;
  if (!e.books_to_monitor.empty()) j["booksToMonitor"] = e.books_to_monitor;
}

void to_json(nlohmann::json& j, const BookAdded& e) {
  j = {{"bookId", e.book.id},
       {"authorId", e.book.author_id},
       {"fromRefresh", e.from_refresh},
       {"book", book_json(e.book)}};
}

void to_json(nlohmann::json& j, const AuthorRenamed& e) {
  j = {{"authorId", e.author_id},
       {"oldName", e.old_name},
       {"newName", e.new_name},
       {"oldPath", e.old_path.string()},
       {"newPath", e.new_path.string()}};
}

void to_json(nlohmann::json& j, const AuthorRemoved& e) {
  j = {{"authorId", e.author.id}, {"author", author_json(e.author)}, {"reason", e.reason}};
}

void to_json(nlohmann::json& j, const BookRemoved& e) {
  j = {{"bookId", e.book.id},
       {"authorId", e.book.author_id},
       {"book", book_json(e.book)},
       {"reason", e.reason},
       {"filesDeleted", e.files_deleted}};
}

void to_json(nlohmann::json& j, const AuthorMerged& e) {
  j = {{"fromAuthorId", e.from_author_id},
       {"intoAuthorId", e.into_author_id},
       {"oldForeignId", e.old_foreign_id},
       {"newForeignId", e.new_foreign_id}};
}

void to_json(nlohmann::json& j, const AuthorMoved& e) {
  j = {{"authorId", e.author_id},
       {"oldPath", e.old_path.string()},
       {"newPath", e.new_path.string()},
       {"files", e.files}};
}

void to_json(nlohmann::json& j, const AuthorRefreshed& e) {
  j = {{"authorId", e.author_id},         {"changed", e.changed},
       {"booksAdded", e.books_added},     {"booksUpdated", e.books_updated},
       {"booksRemoved", e.books_removed}, {"newAuthor", e.new_author}};
  if (e.search_for_missing) j["searchForMissingBooks"] = *e.search_for_missing;
}

void to_json(nlohmann::json& j, const AuthorEdited& e) {
  j = {{"authorId", e.author.id}, {"author", author_json(e.author)}};
}

void to_json(nlohmann::json& j, const BookEdited& e) {
  j = {{"bookId", e.book.id}, {"authorId", e.book.author_id}, {"book", book_json(e.book)}};
}

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
#include "catalog_resources.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <utility>

#include "resources.hpp"

namespace shelfd {

using namespace shelfjobs;
using nlohmann::json;

std::string readarr_sort_name(std::string_view name) {
  std::string out(name);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string readarr_clean_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (const char c : readarr_sort_name(name)) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || u >= 0x80) out += c;
  }
  return out;
}

namespace {

// Whether Readarr counts the book (AuthorStatisticsRepository): monitored and out, or without a
// date, or with a file.
bool counted(const Book& book, std::int64_t files, Date today) {
  const bool out = !book.release_date || *book.release_date < today;
  return (book.monitored && out) || !book.release_date || files > 0;
}

Date today() { return std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now()); }

json statistics(std::int64_t books, std::int64_t files, std::int64_t total, std::int64_t size) {
  // Readarr's percentOfBooks: files per counted book, which exceeds 100 when a book has several.
  const double percent = books == 0 ? 0.0 : static_cast<double>(files) * 100.0 / static_cast<double>(books);
  return {{"bookCount", books},
          {"bookFileCount", files},
          {"totalBookCount", total},
          {"sizeOnDisk", size},
          {"percentOfBooks", percent}};
}

json no_ratings(double popularity = 0) { return {{"votes", 0}, {"value", 0}, {"popularity", popularity}}; }

}  // namespace

CatalogResources::CatalogResources(Catalog& catalog) : catalog_(catalog) {}

CatalogResources::AuthorFacts& CatalogResources::facts(RowId author_id) {
  if (auto it = authors_.find(author_id); it != authors_.end()) return it->second;
  if (auto a = catalog_.author(author_id)) return facts(*a);
  return authors_[author_id];  // gone: a null resource
}

CatalogResources::AuthorFacts& CatalogResources::facts(const Author& a) {
  if (auto it = authors_.find(a.id); it != authors_.end()) return it->second;
  AuthorFacts& f = authors_[a.id];
  f.sort_last_first = readarr_sort_name(a.sort_name);

  // Each book's figures, from one read of the author's books and one of its files; an author
  // not in the library (id 0, a lookup's) has none to read.
  const Date now = today();
  Figures all;
  if (auto files = a.id == 0 ? Result<std::vector<BookFile>>(std::vector<BookFile>{})
                             : catalog_.files_of_author(a.id)) {
    for (const BookFile& file : *files) {
      if (file.book_id == 0) continue;  // unmapped: no book's
      Figures& b = f.books[file.book_id];
      ++b.files;
      b.size += file.size;
    }
  }
  if (auto books = a.id == 0 ? Result<std::vector<Book>>(std::vector<Book>{}) : catalog_.books_of(a.id)) {
    for (const Book& book : *books) {
      Figures& b = f.books[book.id];
      b.total = 1;
      b.books = counted(book, b.files, now) ? 1 : 0;
      all.books += b.books;
      all.files += b.files;
      all.total += 1;
      all.size += b.size;
    }
  }

  json r = {{"id", a.id},
            {"status", std::string(to_string(a.status))},
            {"ended", a.status == AuthorStatus::ended},
            {"authorName", a.name},
            {"authorNameLastFirst", a.sort_name},
            {"sortName", readarr_sort_name(a.name)},
            {"sortNameLastFirst", f.sort_last_first},
            {"cleanName", readarr_clean_name(a.name)},
            {"foreignAuthorId", a.foreign_id},
            {"titleSlug", a.foreign_id},
            {"overview", a.overview},
            {"disambiguation", ""},
            {"links", json::array()},
            {"images", json::array()},
            {"path", a.path.string()},
            {"qualityProfileId", 1},
            {"metadataProfileId", 1},
            {"monitored", a.monitored},
            {"genres", json::array()},
            {"tags", json::array()},
            {"added", format_time(a.added)},
            {"ratings", no_ratings()},
            {"lastInfoSync", opt_time(a.last_info_sync)},
            {"statistics", statistics(all.books, all.files, all.total, all.size)}};
  // Readarr's GetBestRootFolderPath: the author's root folder, else the folder that holds the
  // author's folder (an author whose root folder was removed), so a client always gets one.
  std::optional<std::string> root_path;
  if (a.root_folder_id) {
    if (auto root = catalog_.root_folder(a.root_folder_id)) root_path = root->path.string();
  }
  if (!root_path && a.path.is_absolute()) {
    const std::filesystem::path folder = a.path.lexically_normal();  // the catalog's paths are clean already
    const std::filesystem::path parent =
        (folder.has_filename() ? folder : folder.parent_path()).parent_path();
    if (parent != folder) root_path = parent.string();
  }
  if (root_path) r["rootFolderPath"] = *root_path;
  f.resource = std::move(r);
  return f;
}

json CatalogResources::author(const Author& a) { return facts(a).resource; }

std::string CatalogResources::series_title(RowId book_id) {
  auto links = catalog_.series_links_of(book_id);
  if (!links) return {};
  std::string out;
  for (const SeriesLink& l : *links) {
    auto known = series_titles_.find(l.series_id);
    if (known == series_titles_.end()) {
      auto s = catalog_.series(l.series_id);
      known = series_titles_.emplace(l.series_id, s ? s->title : std::string()).first;
    }
    if (!out.empty()) out += "; ";
    out += known->second;
    if (!l.position.empty()) out += " #" + l.position;
  }
  return out;
}

json CatalogResources::book(const Book& b) {
  AuthorFacts& author = facts(b.author_id);
  Figures figures;
  if (auto it = author.books.find(b.id); it != author.books.end() && it->second.total == 1) {
    figures = it->second;
  } else {  // not among its author's books as read (the author is gone, or the book is new)
    figures.total = 1;
    figures.books = counted(b, 0, today()) ? 1 : 0;
  }

  json editions = json::array();
  int pages = 0;
  double popularity = 0;
  if (auto found = catalog_.editions_of(b.id)) {
    for (const Edition& e : *found) {
      editions.push_back(edition_resource(e));
      if (e.monitored) {
        pages = e.pages;
        popularity = e.rating;
      }
    }
  }
  return {{"id", b.id},
          {"authorId", b.author_id},
          {"title", b.title},
          {"authorTitle", author.sort_last_first.empty() ? b.title : author.sort_last_first + " " + b.title},
          {"seriesTitle", series_title(b.id)},
          {"foreignBookId", b.foreign_id},
          {"titleSlug", b.foreign_id},
          {"monitored", b.monitored},
          {"anyEditionOk", true},
          {"releaseDate", b.release_date ? json(format_time(TimePoint(*b.release_date))) : json(nullptr)},
          {"genres", b.genres},
          {"pageCount", pages},
          {"ratings", no_ratings(popularity)},
          {"overview", ""},
          {"disambiguation", ""},
          {"images", json::array()},
          {"links", json::array()},
          {"added", format_time(b.added)},
          {"lastInfoSync", opt_time(b.last_info_sync)},
          {"editions", std::move(editions)},
          {"statistics", statistics(figures.books, figures.files, figures.total, figures.size)},
          {"author", author.resource}};
}

json author_resource(Catalog& catalog, const Author& author) {
  return CatalogResources(catalog).author(author);
}

json book_resource(Catalog& catalog, const Book& book) { return CatalogResources(catalog).book(book); }

}  // namespace shelfd

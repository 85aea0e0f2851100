// SPDX-License-Identifier: MIT
#pragma once
// Readarr's AuthorResource and BookResource over the catalog, in the shapes Readarr's clients
// read: each field Readarr sends is there, with the catalog's value where it keeps one and
// Readarr's empty value where it does not (images, links, tags, a book's overview).
//
// A list of books embeds each book's author, as Readarr's does, and every resource carries
// statistics computed from the author's books and files. CatalogResources reads each author, its
// books and its files once for a whole answer, however many of its books the answer lists.
//
// Errors: a catalog read that fails leaves the figures it would have given at zero (the answer
// still lists what it could read); an author that is gone leaves a book's `author` null.
// Thread-safety: one object per answer, on one thread. Ownership: borrows the catalog.

#include <cstdint>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "shelfjobs/catalog/catalog.hpp"

namespace shelfd {

class CatalogResources {
 public:
  explicit CatalogResources(shelfjobs::Catalog& catalog);

  /// Readarr's AuthorResource: id, status, ended, authorName, authorNameLastFirst (the catalog's
  /// "Last, First"), sortName and sortNameLastFirst (those two in lower case, as Readarr keeps
  /// them), cleanName, foreignAuthorId, titleSlug (the foreign id, as Readarr's BookInfo source
  /// sets it), overview, disambiguation, links, images, path, rootFolderPath, qualityProfileId
  /// (1: shelfd judges each release against the profile of its own kind), metadataProfileId,
  /// monitored, genres, tags, added, ratings, lastInfoSync and statistics {bookCount,
  /// bookFileCount, totalBookCount, sizeOnDisk, percentOfBooks} (Readarr's rules: a book counts
  /// when it is monitored and out, or undated, or has a file).
  nlohmann::json author(const shelfjobs::Author& author);
  /// Readarr's BookResource: id, authorId, title, authorTitle ("<sortNameLastFirst> <title>"),
  /// seriesTitle ("Series #2; Other #1"), foreignBookId, titleSlug, monitored, anyEditionOk,
  /// releaseDate, genres, pageCount and ratings (of the monitored edition), overview,
  /// disambiguation, images, links, added, lastInfoSync, editions, statistics (as the author's,
  /// for this book alone) and author (the AuthorResource, null when the author is gone).
  nlohmann::json book(const shelfjobs::Book& book);

 private:
  struct Figures {
    std::int64_t books = 0;  // counted by Readarr's rule
    std::int64_t files = 0;
    std::int64_t total = 0;
    std::int64_t size = 0;
  };
  struct AuthorFacts {
    nlohmann::json resource;                              // null: no such author
    std::string sort_last_first;                          // for a book's authorTitle
    std::unordered_map<shelfjobs::RowId, Figures> books;  // each of its books' figures
  };

  AuthorFacts& facts(const shelfjobs::Author& author);
  AuthorFacts& facts(shelfjobs::RowId author_id);
  std::string series_title(shelfjobs::RowId book_id);

  shelfjobs::Catalog& catalog_;
  std::unordered_map<shelfjobs::RowId, AuthorFacts> authors_;
  std::unordered_map<shelfjobs::RowId, std::string> series_titles_;  // by series id
};

/// One author's or one book's resource (a CatalogResources for one).
nlohmann::json author_resource(shelfjobs::Catalog& catalog, const shelfjobs::Author& author);
nlohmann::json book_resource(shelfjobs::Catalog& catalog, const shelfjobs::Book& book);

/// Readarr's sort names: `name` in lower case (ASCII letters; other characters as they are).
std::string readarr_sort_name(std::string_view name);
/// Readarr's cleanName, as near as shelfd keeps it: lower case, letters and digits only
/// (characters beyond ASCII kept as they are).
std::string readarr_clean_name(std::string_view name);

}  // namespace shelfd

// SPDX-License-Identifier: MIT
#pragma once
// A fetched work as the catalog's book rows: shared by the refresh (which updates them) and the
// library service (which adds them).

#include "shelfjobs/adapters/metadata.hpp"
#include "shelfjobs/catalog/catalog.hpp"

namespace shelfjobs {

// The book row for work `w` of author `author_id`: `local` (the row as it is, or null for a new
// book) with the fetched fields and `now` as its sync time; a new book takes `monitored`.
inline Book book_from(const WorkData& w, RowId author_id, const Book* local, TimePoint now, bool monitored) {
  Book b = local ? *local : Book{};
  if (!local) {
    b.added = now;
    b.monitored = monitored;
    b.manually_added = false;
  }
  b.author_id = author_id;
  b.foreign_id = w.foreign_id;
  b.title = w.title;
  b.release_date = w.release_date;
  b.genres = w.genres;
  b.metadata_hash = w.hash;
  b.last_info_sync = now;
  return b;
}

inline BookWrite book_write(Book b, const WorkData& w) {
  BookWrite bw;
  bw.book = std::move(b);
  for (const EditionData& e : w.editions) {
    Edition ed;
    ed.foreign_id = e.foreign_id;
    ed.title = e.title;
    ed.isbn13 = e.isbn13;
    ed.asin = e.asin;
    ed.format = e.format;
    ed.is_ebook = e.is_ebook;
    ed.pages = e.pages;
    ed.publisher = e.publisher;
    ed.language = e.language;
    ed.release_date = e.release_date;
    ed.rating = static_cast<double>(e.rating_count) * e.average_rating;
    ed.monitored = e.monitored;
    bw.editions.push_back(std::move(ed));
  }
  for (const SeriesLinkData& s : w.series) {
    bw.series.push_back({s.series_foreign_id, s.series_title, s.position, s.series_position, s.primary});
  }
  return bw;
}

}  // namespace shelfjobs

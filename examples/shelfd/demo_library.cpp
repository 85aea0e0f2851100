// SPDX-License-Identifier: MIT
// Why the files are written from the catalog and not from a fixed list: the demo's books are
// whatever the metadata fixture generates for its authors, so the titles, ISBNs and author
// folders are taken from what the refreshes recorded; the scan then has real work to match.
#include "demo_library.hpp"

#include <algorithm>
#include <array>
#include <string>

#include "book_samples.hpp"
#include "shelfjobs/services/naming.hpp"

namespace shelfd {

using namespace shelfjobs;
namespace fs = std::filesystem;

namespace {

// Where the default naming puts `title` by `author` under `root`, with `extension`.
fs::path named_path(const fs::path& root, const std::string& author, const std::string& title,
                    std::string_view extension) {
  auto rel = render_book_path(kDefaultNaming, {.author_name = author, .book_title = title}, extension);
  if (!rel) throw std::runtime_error("demo library: " + rel.error().message);
  return root / *rel;
}

book_samples::BookSpec spec_of(const Author& author, const Book& book, std::string isbn = {}) {
  book_samples::BookSpec s;
  s.title = book.title;
  s.authors = {author.name};
  s.isbn = std::move(isbn);
  s.publisher = "Fixture Press";
  return s;
}

void write_book(const fs::path& path, const book_samples::BookSpec& spec, std::string_view format) {
  namespace bs = book_samples;
  if (format == "epub")
    bs::make_epub(path, spec, bs::OpfStyle::epub3);
  else if (format == "mobi")
    bs::make_mobi(path, spec);
  else if (format == "azw3")
    bs::make_azw3(path, spec);
  else if (format == "pdf")
    bs::make_pdf(path, spec);
  else if (format == "kepub")
    bs::make_kepub(path, spec);
  else if (format == "m4b")
    bs::make_m4b(path, spec);
}

}  // namespace

Result<DemoLibrary> lay_out_demo_library(Catalog& catalog, const fs::path& ebooks, const fs::path& audiobooks,
                                         const fs::path& downloads) {
  auto authors = catalog.authors();
  if (!authors) return authors.error();
  struct Shelf {
    Author author;
    std::vector<Book> books;
  };
  std::vector<Shelf> shelves;
  for (const auto& a : *authors) {
    if (!path_is_under(a.path.native(), ebooks.native())) continue;
    auto books = catalog.books_of(a.id);
    if (!books) return books.error();
    if (books->size() >= 3) shelves.push_back({a, std::move(*books)});
  }
  std::sort(shelves.begin(), shelves.end(),
            [](const Shelf& a, const Shelf& b) { return a.author.id < b.author.id; });
  if (shelves.size() < 3)
    return Error{errc::not_found, "the demo library needs three refreshed authors with three books each"};

  static constexpr std::array<std::string_view, 5> kFormats = {"epub", "mobi", "azw3", "pdf", "kepub"};
  DemoLibrary out;
  for (std::size_t i = 0; i < shelves.size(); ++i) {
    const auto& [author, books] = shelves[i];
    for (std::size_t k = 0; k < 2; ++k) {
      const auto format = kFormats[(2 * i + k) % kFormats.size()];
      // The first book of each author carries its edition's ISBN (matched by ISBN); the second
      // only its author and title (matched by name).
      std::string isbn;
      if (k == 0) {
        if (auto editions = catalog.editions_of(books[k].id); editions && !editions->empty())
          isbn = editions->front().isbn13;
      }
      write_book(named_path(ebooks, author.name, books[k].title, format), spec_of(author, books[k], isbn),
                 format);
      ++out.matched;
    }
  }
  // The first author's third book gets no file: the demo's acquisition finds it on an indexer.
  out.wanted_author = shelves[0].author;
  out.wanted_book = shelves[0].books[2];
  // An audiobook in the second root: its tags name the author, who has no folder there.
  {
    const auto& [author, books] = shelves[1];
    auto spec = spec_of(author, books[2]);
    spec.duration_seconds = 2;
    write_book(named_path(audiobooks, author.name, books[2].title, "m4b"), spec, "m4b");
    ++out.matched;
  }
  // Two files the scan cannot place: an author the library does not follow, and a file whose
  // bytes are not an EPUB at all (recorded with its read error). A NAS's thumbnail folder is
  // skipped without a look.
  book_samples::BookSpec stray;
  stray.title = "Field Notes";
  stray.authors = {"Unknown Writer"};
  book_samples::make_epub(named_path(ebooks, "Unknown Writer", "Field Notes", "epub"), stray);
  book_samples::write_file(shelves[0].author.path / "Damaged Copy" / "Damaged Copy.epub",
                           "not a zip archive");
  book_samples::write_file(shelves[0].author.path / "@eaDir" / "SYNOFILE_THUMB_M.epub", "thumbnail");
  out.unmapped = 2;
  // A finished download, named as releases are: a book of the third author that has no file.
  {
    const auto& [author, books] = shelves[2];
    std::string isbn;
    if (auto editions = catalog.editions_of(books[2].id); editions && !editions->empty())
      isbn = editions->front().isbn13;
    out.download = downloads / (author.name + " - " + books[2].title + " (2019) [EPUB]");
    book_samples::make_epub(out.download / (books[2].title + ".epub"), spec_of(author, books[2], isbn));
  }
  return out;
}

}  // namespace shelfd

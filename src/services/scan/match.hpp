// SPDX-License-Identifier: MIT
#pragma once
// Matching a book file to a catalog book: pure functions over what the file says of itself and
// an index of the catalog's books, so every rule is a table test.
//
// In order: the ISBN, then the ASIN, of one of the book's editions; then the author (from the
// file, else the author folder it lies in) and the title, compared as keys that ignore case,
// accents, punctuation, spacing, a leading article and (as a second try) a subtitle. A file that
// matches nothing gets the reason, in words a person can act on.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "services/scan/ref_table.hpp"
#include "shelfjobs/adapters/book_metadata.hpp"
#include "shelfjobs/catalog/catalog.hpp"

namespace shelfjobs::scan {

/// What a file says of itself (its tags, a sidecar, its path), after the path filled the gaps.
struct FileFacts {
  std::string title;
  std::vector<std::string> authors;  ///< the first is the main author
  std::string isbn13;                ///< checked, or empty
  std::string asin;
};

/// What a file's metadata says, as facts.
FileFacts facts_of(const BookMetadata& metadata);
/// What an earlier read recorded in the file's row.
FileFacts facts_of(const BookFile& row);
/// A sidecar (Calibre's metadata.opf) describes the book its folder holds: where it says
/// something, it wins over the file's own tags, as Calibre's data does in Readarr.
void overlay(FileFacts& facts, const BookMetadata& sidecar);

/// Fills what `facts` lack from the file's place: a stem "Author - Title" gives both, else the
/// stem is the title; a missing author comes from the first folder under the root (the author
/// folder); a stem that only repeats the author ("Ann Leckie - Ann Leckie") is not a title.
/// Calibre's "Title (123)" book folders lose their id.
FileFacts fill_from_path(FileFacts facts, const std::filesystem::path& root,
                         const std::filesystem::path& file);

/// A comparison key: lower case, Latin accents folded, "&" as "and", letters and digits only
/// (other bytes of non-Latin scripts kept), no spaces.
std::string name_key(std::string_view name);
/// name_key of a title without a leading article ("The", "A", "An").
std::string title_key(std::string_view title);
/// title_key of the title before its subtitle (": ", " - ", "("); empty when it has none.
std::string short_title_key(std::string_view title);
/// name_key of an author, turning "Leckie, Ann" into "Ann Leckie" first.
std::string author_key(std::string_view author);
/// The same keys written into `out` (its text replaced): a caller that keys many names with one
/// string allocates nothing once it has grown (release decisions key every release of a feed).
void name_key_to(std::string_view name, std::string& out);
void title_key_to(std::string_view title, std::string& out);
void short_title_key_to(std::string_view title, std::string& out);
void author_key_to(std::string_view author, std::string& out);

struct Match {
  enum class By { none, isbn, asin, title };
  By by = By::none;
  RowId author_id = 0;  ///< set when the author is known, even if no book matched
  RowId book_id = 0;
  RowId edition_id = 0;
  std::string reason;  ///< why nothing matched (By::none)
};
const char* to_string(Match::By by) noexcept;

/// The catalog's books, as matching reads them. Memory grows with the catalog (books and
/// editions), never with the number of files scanned: about 60 bytes a book and 40 an ISBN or
/// ASIN, besides the keys' own bytes (a scan of 200,000 books holds it all the while).
/// Where two books share an ISBN, an ASIN or an author and title key, the first one added
/// is the one matched.
/// Thread-safety: `match` may run on several threads at once when nothing adds.
class BookIndex {
 public:
  void add(const BookIdentity& book);
  /// The author whose folder holds a file: given by the caller, who knows the folders.
  Match match(const FileFacts& facts, RowId folder_author = 0) const;
  std::size_t books() const noexcept { return books_.size(); }

 private:
  // Every key and code lives once in `bytes_` (length, then the bytes); the tables refer to
  // entries by number and confirm each candidate against these bytes, so a shared hash never
  // makes a wrong match.
  struct Book {
    RowId book_id = 0;
    RowId author_id = 0;
  };
  struct Title {             // (the book's author, a title key) -> the book
    std::uint32_t key = 0;   // offset in bytes_
    std::uint32_t book = 0;  // index in books_
  };
  struct Code {              // an edition's ISBN or ASIN -> the edition and its book
    std::uint32_t code = 0;  // offset in bytes_
    std::uint32_t book = 0;
    RowId edition_id = 0;
  };

  std::uint32_t store(std::string_view bytes);
  std::string_view stored(std::uint32_t offset) const;
  std::uint64_t title_hash(RowId author, std::string_view key) const;
  void add_title(RefTable& table, std::vector<Title>& titles, std::uint32_t book, std::string_view key);
  void add_code(RefTable& table, std::vector<Code>& codes, std::uint32_t book, RowId edition,
                std::string_view code);
  const Book* find_title(const RefTable& table, const std::vector<Title>& titles, RowId author,
                         std::string_view key) const;
  const Code* find_code(const RefTable& table, const std::vector<Code>& codes, std::string_view code) const;

  std::string bytes_;
  std::vector<Book> books_;
  std::vector<Title> titles_, short_titles_;  // short: the title before its subtitle
  std::vector<Code> isbns_, asins_;
  RefTable title_table_, short_title_table_, isbn_table_, asin_table_;
  // Per author, not per book: few enough to keep as they are.
  std::unordered_map<std::string, std::vector<RowId>> authors_;  // author key -> authors
  std::unordered_map<RowId, std::string> author_names_;
};

}  // namespace shelfjobs::scan

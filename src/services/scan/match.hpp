// SPDX-License-Identifier: MIT
#pragma once
// Matching a book file to a catalog book: pure functions over what the file says of itself and
// an index of the catalog's books, so every rule is a table test.
//
// In order: the ISBN, then the ASIN, of one of the book's editions; then the author (from the
// file, else the author folder it lies in) and the title, compared as keys that ignore case,
// accents, punctuation, spacing, a leading article and (as a second try) a subtitle. A file that
// matches nothing gets the reason, in words a person can act on.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

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
/// editions), never with the number of files scanned.
class BookIndex {
 public:
  void add(const BookIdentity& book);
  /// The author whose folder holds a file: given by the caller, who knows the folders.
  Match match(const FileFacts& facts, RowId folder_author = 0) const;
  std::size_t books() const noexcept { return books_; }

 private:
  struct Hit {
    RowId author_id = 0, book_id = 0, edition_id = 0;
  };
  std::unordered_map<std::string, Hit> isbn_, asin_;
  std::unordered_map<std::string, std::vector<RowId>> authors_;  // author key -> authors
  std::map<std::pair<RowId, std::string>, RowId> titles_;        // (author, title key) -> book
  std::map<std::pair<RowId, std::string>, RowId> short_titles_;  // (author, short key) -> book
  std::unordered_map<RowId, std::string> author_names_;
  std::size_t books_ = 0;
};

}  // namespace shelfjobs::scan

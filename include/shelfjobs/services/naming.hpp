// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Naming: where an imported book file goes, as a path relative to the root folder, rendered
/// from a pattern with Readarr's tokens; and names that are safe on common file systems.
///
/// A pattern is text with tokens in braces; `/` separates folders. The default,
/// `kDefaultNaming`, is Readarr's (author folder `{Author Name}`, then
/// `{Book Title}/{Author Name} - {Book Title}{ (PartNumber)}`), which gives
/// `Ada Example/First Book/Ada Example - First Book.epub`.
///
/// Tokens (names ASCII case-insensitive; the value is empty when unknown):
///
/// | token                       | value                                                        |
/// |-----------------------------|--------------------------------------------------------------|
/// | `{Author Name}`             | "Ada Example"                                                |
/// | `{Author SortName}`         | "Example, Ada" (`NamingValues::author_sort_name`, else `sort_name_of`) |
/// | `{Author NameThe}`          | "The Example Band" -> "Example Band, The"                    |
/// | `{Author NameFirstCharacter}` | "E" for "The Example Band": first character of NameThe, ASCII
/// upper-cased | | `{Book Title}`              | "First Book" | | `{Book TitleThe}`           | "The First
/// Book" -> "First Book, The"                        | | `{Book Disambiguation}`     | the book's
/// disambiguation                                    | | `{Book Series}`             | the series title | |
/// `{Book SeriesPosition}`     | "2", "2.5" as given (format `:00` pads the whole part: "02.5") | | `{Release
/// Year}`            | the book's release year                                      | | `{Edition Year}` |
/// the edition's release year                                   | | `{PartNumber}`, `{PartCount}` | for a
/// book in several files; empty when 0 (format `:00` pads) |
///
/// Token forms, as in Readarr: `{Author.Name}` / `{Author_Name}` / `{Author-Name}` put that
/// character between the value's words; `{author name}` lower-cases the value, `{AUTHOR NAME}`
/// upper-cases it (ASCII only). Inside the braces, leading characters from ` -._[(` and trailing
/// ones from ` -._)]` are a prefix and suffix written only when the value is not empty:
/// `{ (PartNumber)}` gives " (2)" for part 2 and nothing for a single file.
///
/// After the tokens are replaced, each folder and file name goes through `safe_name`, runs of
/// spaces become one, separators left dangling by empty tokens (a trailing " -", a leading "- ",
/// " - - " in the middle) are removed, and a name that ends up empty is dropped (an empty
/// `{Book Series}/` level disappears). The extension is appended to the last name within its
/// 255 bytes.
///
/// Safe names (`safe_name`), shelfjobs's choice where Readarr's rules are not recorded:
///   - bytes that are not UTF-8 become U+FFFD;
///   - `:` followed by a space becomes " -" ("Title: Sub" -> "Title - Sub"), any other `:`
///     becomes "-"; `/` and `\` become "+"; `"` becomes "'"; `*`, `?`, `<`, `>`, `|` are removed;
///   - tab, CR and LF become a space; other control characters (and DEL) are removed;
///   - runs of spaces become one; spaces and dots at both ends are removed (Windows drops
///     trailing ones so two names would meet; a leading dot hides the name, and the library
///     walk skips dot folders);
///   - Windows device names (CON, PRN, AUX, NUL, COM1-9, LPT1-9, case-insensitive, also with an
///     extension: "nul.txt") get "_" after the device name ("CON" -> "CON_");
///   - the name is cut to 255 bytes (`max_bytes`) on a UTF-8 character boundary;
///   - a name left empty becomes "_".
/// These are the catalog's `safe_folder_name` rules (catalog.hpp), which names an author's
/// folder when the author is added: an author's folder reads the same whether an add, a rename
/// or an import made it.
///
/// Thread-safety: pure functions. Errors: as `Result`, never thrown.

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "shelfjobs/engine/error.hpp"

namespace shelfjobs {

/// Readarr's default book naming, author folder included.
inline constexpr std::string_view kDefaultNaming =
    "{Author Name}/{Book Title}/{Author Name} - {Book Title}{ (PartNumber)}";

/// The values the tokens are replaced with. Empty strings, nullopt and 0 mean "unknown" and
/// render as nothing.
struct NamingValues {
  std::string author_name;
  std::string author_sort_name;  ///< empty: `sort_name_of(author_name)`
  std::string book_title;
  std::string book_disambiguation;
  std::string series_title;
  std::string series_position;  ///< as text: "1", "2.5"
  std::optional<int> release_year;
  std::optional<int> edition_year;
  int part_number = 0;
  int part_count = 0;
};

/// Renders `pattern` with `values` and appends `extension` ("epub" or ".epub"; empty for
/// none) to the last name: a relative path whose every name is safe (see above).
/// Errors (`errc::invalid_argument`, naming the problem): an unknown token, a format on a token
/// that takes none or a format other than zeros, unbalanced braces, an empty pattern, an
/// extension that is not a plain name, or a pattern whose file name renders empty.
Result<std::filesystem::path> render_book_path(std::string_view pattern, const NamingValues& values,
                                               std::string_view extension);

/// Checks a pattern as `render_book_path` would (sample values), for settings forms.
Status validate_naming(std::string_view pattern);

/// A name safe on common file systems (see above), at most `max_bytes` bytes (at least 8).
std::string safe_name(std::string_view name, std::size_t max_bytes = 255);

/// `safe_name(stem)` + "." + `extension`, the stem cut so the whole stays within 255 bytes and
/// the extension is kept. `extension` with or without its dot; empty: `safe_name(stem)`.
std::string safe_file_name(std::string_view stem, std::string_view extension);

/// Readarr's "The" forms: a leading "The", "A" or "An" (ASCII case-insensitive) moves to the
/// end after a comma: "The Hobbit" -> "Hobbit, The". Other text is returned as it is.
std::string title_the(std::string_view title);

/// `text` with every byte that is not part of valid UTF-8 replaced by U+FFFD.
std::string repair_utf8(std::string_view text);

/// The longest prefix of `text` (repaired first if need be) of at most `max_bytes` bytes that
/// does not cut a UTF-8 sequence.
std::string truncate_utf8(std::string_view text, std::size_t max_bytes);

}  // namespace shelfjobs

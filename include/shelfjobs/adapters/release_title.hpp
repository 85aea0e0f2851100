// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Release titles as indexers list them, read into author, title, year, format and edition
/// hints. A pure function: no catalog, no I/O; the matching to a wanted book comes later.
///
/// Shapes read (in the spirit of Readarr's book title parser, Parser.cs ReportTitleRegex:
/// "Author - Book (Year)", scene names with dots and a group):
///   - "Author Name - Book Title (2019) [EPUB]", "Author - Title (Unabridged) [M4B]",
///     "Author - Title - 2019 - EPUB", "Author - Series 02 - Title (retail) (azw3)"
///   - scene: "Author.Name-Book.Title.2019.RETAIL.EPUB-GRP", "Author_Name-Title-2019-GRP"
///   - audio: "Author - Title (Unabridged) MP3 64kbps", "... [M4B] {128k}"
///   - "Book Title by Author Name [EPUB]"
/// The title ends at the first year, format or hint token after it; the author is what comes
/// before the first " - " (or, in a scene name, the first '-'). Brackets, parentheses and braces
/// hold hints and are never part of the title.
///
/// Thread-safety: a pure function.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shelfjobs {

struct ParsedReleaseTitle {
  std::string author;  ///< as written, separators turned to spaces ("Author Name")
  std::string title;
  std::optional<int> year;
  /// Every format named, lower-case, in order of appearance: epub, kepub, azw3, azw, mobi, pdf,
  /// cbz, cbr, djvu, fb2, lit, txt, rtf, docx, m4b, m4a, mp3, flac, aac, ogg, opus, wma.
  std::vector<std::string> formats;
  bool audio = false;  ///< an audio format, "audiobook", "unabridged"/"abridged" or a bitrate
  bool retail = false;
  bool unabridged = false;
  bool abridged = false;
  std::optional<int> bitrate_kbps;  ///< "64kbps", "128k", "320 kbps"
  std::string release_group;        ///< a scene name's "-GRP"

  /// The first format, or "" when none is named.
  std::string format() const { return formats.empty() ? std::string() : formats.front(); }
};

/// Reads `title`; nullopt when no author and title can be told apart (a title with no
/// separator, an empty string).
std::optional<ParsedReleaseTitle> parse_release_title(std::string_view title);

/// Whether `format` (lower-case, as above) is an audio format.
bool is_audio_format(std::string_view format) noexcept;

}  // namespace shelfjobs

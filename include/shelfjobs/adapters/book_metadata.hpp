// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Book files: which files are books (by extension), and the metadata embedded in them, read
/// with the Debian 12 libraries: EPUB and KEPUB (libzip + pugixml: the OPF package document),
/// MOBI and AZW3 (libmobi: the EXTH header), PDF (qpdf: the trailer's /Info dictionary), audio
/// (TagLib: ID3v2, MP4 atoms, Vorbis comments, APE), and calibre's `metadata.opf` sidecar.
///
/// What is read, per format (after Readarr's EbookTagService and AudioTag):
///   - EPUB/KEPUB: `META-INF/container.xml` -> its OPF rootfile -> `dc:title` (the EPUB3
///     "main" title when several), `dc:creator`/`dc:contributor` with role (EPUB2 `opf:role`,
///     EPUB3 `<meta refines="#id" property="role">`) and file-as, `dc:identifier` (EPUB2
///     `opf:scheme` ISBN/ASIN, EPUB3 `urn:isbn:`, calibre's `isbn:`/`amazon:` values, an
///     identifier-type refinement, or a scheme-less identifier that is a valid ISBN; never a
///     uuid, calibre or goodreads one), `dc:language`, `dc:publisher`, `dc:description`,
///     `dc:date` (the publication's, never the modification's), the `calibre:series` and
///     `calibre:series_index` metas, else EPUB3 `belongs-to-collection` and `group-position`.
///   - MOBI/AZW3: the EXTH header: 100 author (one contributor per record), 101 publisher,
///     103 description, 104 ISBN, 106 publishing date, 113 ASIN (else 504), 503 updated title
///     (else the full name), 524 language. A hybrid KF7/KF8 file is read from its KF8 part.
///   - PDF: /Info Title, Author (split on ";" and "&"), Subject (as the description), Keywords
///     (an ISBN among its comma- or semicolon-separated items).
///   - Audio: the album is the title (the track title when there is no album); album artists
///     are the authors (else the track artists), all with role "aut"; track, disc (from "2/5"),
///     year, date, label or publisher, language, duration in seconds (rounded).
///
/// ISBNs are stripped to digits and X and kept only when their checksum is right; an ISBN-10
/// is also converted to its ISBN-13 (978 prefix). Among several valid ISBNs, a 978 one is
/// preferred, then 979, then the first valid one. Every returned string is valid UTF-8: bytes
/// that are not (a MOBI or ID3 tag written in another encoding) become U+FFFD.
///
/// Errors (values; nothing throws, a library's exception becomes an error):
///   - the path is not a book file by its extension            -> errc::invalid_argument
///   - the file does not exist                                 -> errc::not_found
///   - it cannot be opened or read (permission, I/O error)     -> errc::unavailable, with the
///                                                                system's reason
///   - its content cannot be used: empty, truncated, malformed,-> errc::bad_file, with the
///     encrypted, too large, not the format its name says         reason and where
/// The message names the file and the problem, such as "book.epub: not a zip archive",
/// "book.epub: META-INF/container.xml missing", "book.epub: OEBPS/content.opf is not
/// well-formed XML at offset 112 (...)", "book.epub: OPF too large (12582912 bytes, limit
/// 4194304)", "book.mobi: truncated MOBI header", "book.pdf: encrypted PDF (a password is
/// needed)", "book.mp3: empty file".
/// A file that opens but carries no metadata is not an error: the fields stay empty.
///
/// Memory: a reader never holds a whole book in memory. An OPF (in an archive or a sidecar) is
/// read up to `kMaxOpfBytes` and refused beyond; of a MOBI only the PalmDB header, the record
/// list and the header records (at most 1 MiB each) are read; qpdf reads the cross-reference
/// table and the objects asked for; TagLib reads the tags and the first audio frames.
///
/// Thread-safety: every function may be called from any number of threads at once on different
/// files (or the same file, read-only). They share no mutable state, with one exception that is
/// internal: TagLib 1.13 fills some lookup tables lazily on first use without a lock, so the
/// audio reader serialises its TagLib calls on one process-wide mutex.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/engine/error.hpp"

namespace shelfjobs {

/// The book file formats, by Readarr's extension list (MediaFileExtensions.cs).
enum class BookFormat {
  // ebooks
  epub,
  kepub,
  mobi,
  azw3,
  pdf,
  // audio, lossless
  flac,
  ape,
  wavpack,
  wav,
  alac,
  // audio, lossy
  mp2,
  mp3,
  wma,
  m4a,
  m4p,
  aac,
  mp4a,
  ogg,
  oga,
  vorbis,
  // audio, its own quality
  m4b,
};

enum class BookKind { ebook, audio };
std::string_view to_string(BookKind kind) noexcept;

/// The format's name: its extension without the dot ("epub", "m4b").
std::string_view to_string(BookFormat format) noexcept;
/// The format of that name (exact, lower case), or nullopt.
std::optional<BookFormat> book_format_from_string(std::string_view name) noexcept;
BookKind kind_of(BookFormat format) noexcept;

/// The book format of a path by its extension, compared without regard to ASCII case
/// (".EPUB", ".Mp3"); nullopt for anything else (".opf", ".jpg", ".txt", no extension). Only the
/// name is looked at: the file need not exist.
std::optional<BookFormat> book_format_of(const std::filesystem::path& path) noexcept;
/// The same for a bare file name ("Book.EPUB"), without building a path.
std::optional<BookFormat> book_format_of_name(std::string_view file_name) noexcept;

/// A person named by the file, with the role the format gives.
struct Contributor {
  std::string name;
  /// The MARC relator code, lower case ("aut", "edt", "trl", "nrt", ...); empty when the file
  /// gives none. A creator without a role counts as an author.
  std::string role;
  std::string file_as;  ///< the sort form ("Le Guin, Ursula K."), when the file gives it
};

/// What a book file (or a sidecar) says about its book. Fields the file does not carry stay
/// empty.
struct BookMetadata {
  /// The file's format; nullopt for an OPF sidecar (it describes the book files beside it).
  std::optional<BookFormat> format;
  std::string title;
  /// Every creator in document order, with roles; `authors()` gives the authors' names.
  std::vector<Contributor> contributors;
  std::string isbn13;  ///< 13 digits, checksum verified; also set from a valid ISBN-10
  std::string isbn10;  ///< the same ISBN as 10 characters (the last may be 'X'); empty for 979
  std::string asin;    ///< as the file gives it, trimmed
  std::string language;
  std::string publisher;
  std::optional<std::string> description;
  std::string series;                ///< calibre:series, EPUB3 belongs-to-collection
  std::string series_position;       ///< as a decimal without trailing zeros ("2", "2.5")
  std::optional<Date> release_date;  ///< when the file gives a full date
  std::optional<int> release_year;   ///< the year of release_date, or a lone year
  // Audio.
  std::optional<int> track;
  std::optional<int> disc;
  std::optional<std::int64_t> duration_seconds;

  /// The names of the contributors whose role is "aut" or empty, in order, without repeats.
  std::vector<std::string> authors() const;
};

/// The most an OPF may weigh (in an EPUB or as a sidecar) before it is refused: 4 MiB.
inline constexpr std::size_t kMaxOpfBytes = 4u << 20;

/// Reads the metadata of any book file, choosing the reader by `book_format_of(path)`.
Result<BookMetadata> read_book_metadata(const std::filesystem::path& path);

/// The readers per format. Each checks the content, whatever the name: a text file named
/// .epub is "not a zip archive". `format` comes from the name where it says more (.kepub,
/// .azw3), else from the content (a KF8 MOBI is azw3).
Result<BookMetadata> read_epub(const std::filesystem::path& path);  ///< EPUB and KEPUB
Result<BookMetadata> read_mobi(const std::filesystem::path& path);  ///< MOBI and AZW3
Result<BookMetadata> read_pdf(const std::filesystem::path& path);
/// Any audio format of BookFormat. TagLib picks its parser by extension, so the path must
/// have an audio extension (errc::invalid_argument otherwise); a file TagLib cannot parse is
/// errc::bad_file "not a readable <format> file".
Result<BookMetadata> read_audio(const std::filesystem::path& path);

/// Reads an OPF sidecar (calibre's `metadata.opf` beside a book file). `format` stays nullopt.
Result<BookMetadata> read_opf(const std::filesystem::path& path);
/// Parses OPF text (an EPUB's package document or a sidecar); `source` names it in messages.
/// Errors: errc::bad_file for text that is not well-formed XML, has no `package` root, or
/// exceeds kMaxOpfBytes.
Result<BookMetadata> parse_opf(std::string_view xml, std::string_view source = "OPF");

/// An ISBN, validated.
struct Isbn {
  std::string isbn13;
  std::string isbn10;  ///< the ISBN-10 form; empty for a 979 ISBN, which has none
};
/// Reads an ISBN from text such as "978-0-306-40615-7", "urn:isbn:0306406152" or
/// "ISBN 0-306-40615-2": everything but digits and X/x is dropped (after a "urn:isbn:" prefix);
/// what remains must be 10 or 13 characters with a right checksum (an ISBN-13 must start with
/// 978 or 979). nullopt otherwise.
std::optional<Isbn> parse_isbn(std::string_view text);

}  // namespace shelfjobs

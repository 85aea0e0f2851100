// SPDX-License-Identifier: MIT
#pragma once
// Real, small book files for the tests, the scan benchmark and `shelfd demo`: EPUB/KEPUB (a
// stored zip with container.xml and an EPUB2 or EPUB3 OPF), MOBI/AZW3 (a PalmDB with a MOBI
// header and EXTH written byte by byte, which libmobi reads back), PDF (qpdf, optionally
// encrypted), MP3 (a few silent MPEG frames with ID3v2 tags written by TagLib), M4B (a minimal MP4
// box tree tagged by TagLib), calibre's metadata.opf sidecar and a cover JPEG.
//
// Each file is a few hundred bytes to a few kilobytes and takes well under a millisecond to
// make (the PDF and the tagged audio files a little more), so a benchmark can make tens of
// thousands. Missing parent folders are created. Failures throw std::runtime_error (a sample
// that cannot be written is a broken test or demo setup, not a condition to recover from).
//
// Thread-safety: the functions may be called from several threads on different paths, except
// make_mp3 and make_m4b, which use TagLib and take a lock of their own for it.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace book_samples {

struct Creator {
  std::string name;
  std::string role;  ///< MARC relator ("aut", "edt"); empty: written without a role
  std::string file_as;
};

/// What to write into a generated book. Empty fields are left out of the file.
struct BookSpec {
  std::string title = "A Test Book";
  std::vector<std::string> authors = {"Ann Author"};  ///< written with role "aut"
  std::vector<Creator> others;                        ///< more creators, after the authors
  std::string isbn;                                   ///< written as given (so a bad checksum can be written)
  std::string asin;
  std::string language = "en";
  std::string publisher;
  std::string description;
  std::string series;
  std::string series_index;  ///< as written, "2" or "2.0"
  std::string date;          ///< "2001-02-03" or "2001"
  // Audio.
  int track = 0;
  int disc = 0;
  int duration_seconds = 1;  ///< of silence (MP3 rounded to whole frames)
};

/// A spec with one author and, when given, an ISBN: what most samples need.
BookSpec spec(std::string title, std::string author, std::string isbn = {});

enum class OpfStyle { epub2, epub3 };

/// The OPF package document for `spec`: EPUB2 writes opf:role/opf:scheme/calibre metas, EPUB3
/// refines metas, urn:isbn: and belongs-to-collection.
std::string opf_xml(const BookSpec& spec, OpfStyle style = OpfStyle::epub2);
/// META-INF/container.xml naming `opf_path`.
std::string container_xml(std::string_view opf_path = "OEBPS/content.opf");

/// Writes a zip of `entries` (name, content), in order, stored without compression.
void write_zip(const std::filesystem::path& path,
               const std::vector<std::pair<std::string, std::string>>& entries);
/// Creates the folders above `path` that are missing.
void make_parent(const std::filesystem::path& path);
/// Writes `bytes` to `path`, replacing it.
void write_file(const std::filesystem::path& path, std::string_view bytes);

void make_epub(const std::filesystem::path& path, const BookSpec& spec, OpfStyle style = OpfStyle::epub2);
/// A Kobo EPUB: the same container (the content's kobo spans do not matter to metadata).
void make_kepub(const std::filesystem::path& path, const BookSpec& spec);
/// calibre's metadata.opf; a folder gets `metadata.opf` inside it. Returns the file's path.
std::filesystem::path make_opf_sidecar(const std::filesystem::path& path_or_folder, const BookSpec& spec);

struct MobiOptions {
  std::uint32_t version = 6;       ///< 6: MOBI, 8: KF8 (AZW3)
  std::uint32_t encoding = 65001;  ///< 65001 UTF-8, 1252 CP-1252 (text written as given)
  bool hybrid = false;             ///< a KF7 part, a BOUNDARY record, and a KF8 part
  std::size_t padding_record = 0;  ///< adds a record of this many bytes (an "image")
  std::vector<std::pair<std::uint32_t, std::string>> extra_exth;  ///< more EXTH records, raw
};
/// The bytes of a MOBI file for `spec` (EXTH 100 per author, 101, 103, 104, 106, 113, 524,
/// 503 title), so tests can truncate or corrupt them.
std::string mobi_bytes(const BookSpec& spec, const MobiOptions& options = {});
void make_mobi(const std::filesystem::path& path, const BookSpec& spec, const MobiOptions& options = {});
/// A KF8 book (MOBI header version 8).
void make_azw3(const std::filesystem::path& path, const BookSpec& spec);

struct PdfOptions {
  std::string user_password;   ///< with owner_password: encrypted (AES-256, R6)
  std::string owner_password;  ///< empty: not encrypted
  bool utf16 = false;          ///< /Info strings as UTF-16BE with a byte order mark
};
/// A one-page PDF whose /Info has Title, Author (authors joined by "; "), Subject
/// (description) and Keywords ("ISBN <isbn>").
void make_pdf(const std::filesystem::path& path, const BookSpec& spec, const PdfOptions& options = {});

/// Silent MPEG-2 Layer III frames (8 kbit/s, 22.05 kHz, mono) for `spec.duration_seconds`, then
/// ID3v2.4 tags through TagLib: album = title, album artist = authors, artist = the first
/// "nrt" creator else the authors, track, disc, year, label = publisher.
void make_mp3(const std::filesystem::path& path, const BookSpec& spec);
/// An MP3 whose ID3v2.4 tag is written byte by byte from (frame id, frame body) pairs, so a
/// test can put any bytes in a frame; then a second of silent frames.
void make_mp3_raw_tag(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, std::string>>& frames);
/// A minimal MP4 (ftyp, mdat, moov with one sound track of `spec.duration_seconds`) tagged by
/// TagLib like make_mp3 (iTunes atoms: ©alb, aART, ©ART, trkn, disk, ©day).
void make_m4b(const std::filesystem::path& path, const BookSpec& spec);

/// The SQL of the tables of calibre's metadata.db that readers of a Calibre library look at
/// (books, authors, series, publishers, languages, identifiers, data and their links), as
/// calibre creates them; a test fills them to lay out a Calibre library.
std::string calibre_schema();

/// A valid baseline JPEG of one grey pixel (a cover.jpg beside a book).
std::string cover_jpeg_bytes();

}  // namespace book_samples

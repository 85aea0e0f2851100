// SPDX-License-Identifier: MIT
// The book-file readers on real files made by support/book_files: each format read back, and
// the broken files a library scan meets (not a zip, missing entries, bad XML, huge OPFs,
// truncated headers, encrypted PDFs, empty files, bytes that are not UTF-8).

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "book_samples.hpp"
#include "shelfjobs/adapters/book_metadata.hpp"
#include "test_support.hpp"

using namespace shelfjobs;
namespace books = book_samples;

// The whole file in a namespace of its own: the unity build compiles several test files as one
// translation unit, and their helpers must not meet.
namespace book_metadata_test {

books::BookSpec full_spec() {
  books::BookSpec s;
  s.title = "The Left Hand of Darkness";
  s.authors = {"Ursula K. Le Guin"};
  s.others = {{"Ed Itor", "edt", ""}, {"Tran Slator", "trl", ""}};
  s.isbn = "978-0-441-47812-5";
  s.asin = "B000FC1PJI";
  s.language = "en";
  s.publisher = "Ace Books";
  s.description = "A story\n  of  Gethen.";
  s.series = "Hainish Cycle";
  s.series_index = "4.0";
  s.date = "1969-03-01";
  return s;
}

// Valid UTF-8 by the same rules the readers promise (a local check, not the readers' code).
bool is_utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

Error error_of(const Result<BookMetadata>& r) {
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

TEST_CASE("book_format_of matches book extensions without regard to case", "[book_files]") {
  CHECK(book_format_of("/lib/a/b.epub") == BookFormat::epub);
  CHECK(book_format_of("/lib/a/B.EPUB") == BookFormat::epub);
  CHECK(book_format_of("x.Mp3") == BookFormat::mp3);
  CHECK(book_format_of("x.kepub") == BookFormat::kepub);
  CHECK(book_format_of("x.AZW3") == BookFormat::azw3);
  CHECK(book_format_of("x.m4b") == BookFormat::m4b);
  CHECK(book_format_of("x.flac") == BookFormat::flac);
  CHECK(book_format_of("x.tar.pdf") == BookFormat::pdf);
  CHECK_FALSE(book_format_of("metadata.opf"));
  CHECK_FALSE(book_format_of("cover.jpg"));
  CHECK_FALSE(book_format_of("notes.txt"));
  CHECK_FALSE(book_format_of("README"));
  CHECK_FALSE(book_format_of(".epub"));
  CHECK_FALSE(book_format_of("book.epub.part"));
  CHECK_FALSE(book_format_of("folder.epub/"));
  CHECK(kind_of(BookFormat::m4b) == BookKind::audio);
  CHECK(kind_of(BookFormat::pdf) == BookKind::ebook);
  CHECK(to_string(BookFormat::wavpack) == "wavpack");
  CHECK(book_format_from_string("azw3") == BookFormat::azw3);
  CHECK_FALSE(book_format_from_string("AZW3"));
}

TEST_CASE("parse_isbn validates checksums and converts ISBN-10", "[book_files]") {
  auto a = parse_isbn("978-0-306-40615-7");
  REQUIRE(a);
  CHECK(a->isbn13 == "9780306406157");
  CHECK(a->isbn10 == "0306406152");
  auto b = parse_isbn("urn:isbn:0-306-40615-2");
  REQUIRE(b);
  CHECK(b->isbn13 == "9780306406157");
  CHECK(b->isbn10 == "0306406152");
  auto x = parse_isbn("ISBN 0-8044-2957-X");
  REQUIRE(x);
  CHECK(x->isbn10 == "080442957X");
  CHECK(x->isbn13 == "9780804429573");
  auto n979 = parse_isbn("979-10-90636-07-1");
  REQUIRE(n979);
  CHECK(n979->isbn13 == "9791090636071");
  CHECK(n979->isbn10.empty());
  CHECK_FALSE(parse_isbn("978-0-306-40615-8"));  // bad check digit
  CHECK_FALSE(parse_isbn("0-306-40615-3"));
  CHECK_FALSE(parse_isbn("X306406152"));      // X only as the check character
  CHECK_FALSE(parse_isbn("1234567890123"));   // neither 978 nor 979
  CHECK_FALSE(parse_isbn("B000FC1PJI"));      // an ASIN
  CHECK_FALSE(parse_isbn("97803064061570"));  // 14 digits
  CHECK_FALSE(parse_isbn(""));
}

TEST_CASE("EPUB2: every field read back, editor and translator are no authors", "[book_files]") {
  testing::TempDir dir;
  const auto path = dir.path() / "book.epub";
  books::make_epub(path, full_spec());
  const auto r = read_book_metadata(path);
  REQUIRE(r.has_value());
  const BookMetadata& m = *r;
  CHECK(m.format == BookFormat::epub);
  CHECK(m.title == "The Left Hand of Darkness");
  CHECK(m.authors() == std::vector<std::string>{"Ursula K. Le Guin"});
  REQUIRE(m.contributors.size() == 3);
  CHECK(m.contributors[1].name == "Ed Itor");
  CHECK(m.contributors[1].role == "edt");
  CHECK(m.contributors[2].role == "trl");
  CHECK(m.isbn13 == "9780441478125");
  CHECK(m.isbn10 == "0441478123");
  CHECK(m.asin == "B000FC1PJI");
  CHECK(m.language == "en");
  CHECK(m.publisher == "Ace Books");
  REQUIRE(m.description);
  CHECK(*m.description == "A story of Gethen.");
  CHECK(m.series == "Hainish Cycle");
  CHECK(m.series_position == "4");
  REQUIRE(m.release_date);
  CHECK(*m.release_date == Date(std::chrono::year(1969) / 3 / 1));  // not the modification date
  CHECK(m.release_year == 1969);
}

TEST_CASE("EPUB3: urn:isbn identifiers, refines roles and file-as, belongs-to-collection", "[book_files]") {
  testing::TempDir dir;
  auto spec = full_spec();
  spec.authors.clear();
  spec.others = {
      {"Ed Itor", "edt", ""}, {"Ursula K. Le Guin", "aut", "Le Guin, Ursula K."}, {"No Role", "", ""}};
  spec.isbn = "0441478123";  // an ISBN-10, converted
  spec.series_index = "2.5";
  const auto path = dir.path() / "book3.epub";
  books::make_epub(path, spec, books::OpfStyle::epub3);
  const auto r = read_epub(path);
  REQUIRE(r.has_value());
  CHECK(r->title == "The Left Hand of Darkness");
  CHECK(r->authors() == std::vector<std::string>{"Ursula K. Le Guin", "No Role"});
  REQUIRE(r->contributors.size() == 3);
  CHECK(r->contributors[0].role == "edt");
  CHECK(r->contributors[1].file_as == "Le Guin, Ursula K.");
  CHECK(r->isbn13 == "9780441478125");
  CHECK(r->isbn10 == "0441478123");
  CHECK(r->asin == "B000FC1PJI");
  CHECK(r->series == "Hainish Cycle");
  CHECK(r->series_position == "2.5");
  CHECK(r->release_year == 1969);
}

TEST_CASE("EPUB: an ISBN with a bad checksum is not kept", "[book_files]") {
  testing::TempDir dir;
  for (const auto style : {books::OpfStyle::epub2, books::OpfStyle::epub3}) {
    auto spec = full_spec();
    spec.isbn = "978-0-441-47812-4";
    const auto path = dir.path() / "bad-isbn.epub";
    books::make_epub(path, spec, style);
    const auto r = read_epub(path);
    REQUIRE(r.has_value());
    CHECK(r->isbn13.empty());
    CHECK(r->isbn10.empty());
    CHECK(r->title == "The Left Hand of Darkness");
  }
}

TEST_CASE("OPF: the ISBN choice prefers 978, and only ISBN-like identifiers count", "[book_files]") {
  const std::string opf = R"(<?xml version="1.0"?>
<package xmlns="http://www.idpf.org/2007/opf" version="2.0">
 <metadata xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:o="http://www.idpf.org/2007/opf">
  <dc:title>T</dc:title>
  <dc:identifier o:scheme="uuid">0306406152</dc:identifier>
  <dc:identifier o:scheme="ISBN">979-10-90636-07-1</dc:identifier>
  <dc:identifier>978-0-306-40615-7</dc:identifier>
  <dc:creator o:role="aut">A</dc:creator>
 </metadata>
</package>)";
  const auto r = parse_opf(opf);
  REQUIRE(r.has_value());
  CHECK(r->isbn13 == "9780306406157");  // any prefix works ("o:"), uuid ignored, 978 preferred
  CHECK(r->authors() == std::vector<std::string>{"A"});
  CHECK_FALSE(r->format);
}

TEST_CASE("KEPUB and .EPUB read as EPUB", "[book_files]") {
  testing::TempDir dir;
  books::make_kepub(dir.path() / "book.kepub", full_spec());
  books::make_epub(dir.path() / "UPPER.EPUB", full_spec());
  const auto k = read_book_metadata(dir.path() / "book.kepub");
  REQUIRE(k.has_value());
  CHECK(k->format == BookFormat::kepub);
  CHECK(k->isbn13 == "9780441478125");
  const auto u = read_book_metadata(dir.path() / "UPPER.EPUB");
  REQUIRE(u.has_value());
  CHECK(u->format == BookFormat::epub);
  CHECK(u->title == "The Left Hand of Darkness");
}

TEST_CASE("EPUB: broken containers are errors that name the problem", "[book_files]") {
  testing::TempDir dir;
  const auto path = dir.path() / "broken.epub";

  SECTION("not a zip") {
    books::write_file(path, "this is plain text, not an archive at all");
    const Error e = error_of(read_epub(path));
    CHECK(e.code == errc::bad_file);
    CHECK_THAT(e.message, Catch::Contains("not a zip archive"));
    CHECK_THAT(e.message, Catch::Contains("broken.epub"));
  }
  SECTION("no container.xml") {
    books::write_zip(path, {{"mimetype", "application/epub+zip"}, {"OEBPS/content.opf", books::opf_xml({})}});
    const Error e = error_of(read_epub(path));
    CHECK(e.code == errc::bad_file);
    CHECK_THAT(e.message, Catch::Contains("META-INF/container.xml missing"));
  }
  SECTION("container.xml names a missing OPF") {
    books::write_zip(path, {{"META-INF/container.xml", books::container_xml("OEBPS/missing.opf")},
                            {"OEBPS/content.opf", books::opf_xml({})}});
    const Error e = error_of(read_epub(path));
    CHECK(e.code == errc::bad_file);
    CHECK_THAT(e.message, Catch::Contains("OEBPS/missing.opf missing"));
  }
  SECTION("container.xml without a rootfile") {
    books::write_zip(path, {{"META-INF/container.xml", "<container><rootfiles/></container>"}});
    const Error e = error_of(read_epub(path));
    CHECK_THAT(e.message, Catch::Contains("names no rootfile"));
  }
  SECTION("broken OPF XML, with the offset") {
    books::write_zip(path, {{"META-INF/container.xml", books::container_xml()},
                            {"OEBPS/content.opf", "<package><metadata><dc:title>T</metadata></package>"}});
    const Error e = error_of(read_epub(path));
    CHECK(e.code == errc::bad_file);
    CHECK_THAT(e.message,
               Catch::Contains(
                   "OEBPS/content.opf: OPF is not well-formed XML at offset 32 (Start-end tags mismatch)"));
  }
  SECTION("an OPF that is not a package") {
    books::write_zip(path, {{"META-INF/container.xml", books::container_xml()},
                            {"OEBPS/content.opf", "<html><body/></html>"}});
    CHECK_THAT(error_of(read_epub(path)).message, Catch::Contains("not an OPF package document"));
  }
  SECTION("a huge OPF is refused, not read") {
    auto spec = full_spec();
    spec.description = std::string(kMaxOpfBytes, 'x');
    books::write_zip(path, {{"META-INF/container.xml", books::container_xml()},
                            {"OEBPS/content.opf", books::opf_xml(spec)}});
    const Error e = error_of(read_epub(path));
    CHECK(e.code == errc::bad_file);
    CHECK_THAT(e.message, Catch::Contains("OPF too large"));
    CHECK_THAT(e.message, Catch::Contains("limit 4194304"));
  }
}

TEST_CASE("OPF sidecar: calibre's metadata.opf", "[book_files]") {
  testing::TempDir dir;
  const auto path = books::make_opf_sidecar(dir.path(), full_spec());
  CHECK(path.filename() == "metadata.opf");
  const auto r = read_opf(path);
  REQUIRE(r.has_value());
  CHECK_FALSE(r->format);
  CHECK(r->title == "The Left Hand of Darkness");
  CHECK(r->series == "Hainish Cycle");
  CHECK(r->isbn13 == "9780441478125");
  CHECK(read_book_metadata(path).error().code == errc::invalid_argument);  // not a book file

  books::write_file(dir.path() / "big.opf", std::string(kMaxOpfBytes + 1, ' '));
  CHECK_THAT(error_of(read_opf(dir.path() / "big.opf")).message, Catch::Contains("OPF too large"));
}

TEST_CASE("MOBI: EXTH authors, ISBN, ASIN, publisher, language, title", "[book_files]") {
  testing::TempDir dir;
  auto spec = full_spec();
  spec.authors = {"Ann Author", "Bob Writer"};
  spec.isbn = "0441478123";
  const auto path = dir.path() / "book.mobi";
  books::make_mobi(path, spec);
  const auto r = read_book_metadata(path);
  REQUIRE(r.has_value());
  CHECK(r->format == BookFormat::mobi);
  CHECK(r->title == "The Left Hand of Darkness");
  CHECK(r->authors() == std::vector<std::string>{"Ann Author", "Bob Writer"});
  CHECK(r->isbn13 == "9780441478125");
  CHECK(r->isbn10 == "0441478123");
  CHECK(r->asin == "B000FC1PJI");
  CHECK(r->publisher == "Ace Books");
  CHECK(r->language == "en");
  REQUIRE(r->description);
  CHECK(*r->description == "A story of Gethen.");
  CHECK(r->release_year == 1969);
}

TEST_CASE("MOBI: ASIN from EXTH 504, AZW3 and hybrid KF7/KF8 files", "[book_files]") {
  testing::TempDir dir;
  auto spec = full_spec();
  spec.asin.clear();
  books::MobiOptions o;
  o.extra_exth = {{504, "B00ASIN504"}};
  books::make_mobi(dir.path() / "a.mobi", spec, o);
  const auto a = read_mobi(dir.path() / "a.mobi");
  REQUIRE(a.has_value());
  CHECK(a->asin == "B00ASIN504");

  books::make_azw3(dir.path() / "b.azw3", full_spec());
  const auto b = read_book_metadata(dir.path() / "b.azw3");
  REQUIRE(b.has_value());
  CHECK(b->format == BookFormat::azw3);
  CHECK(b->asin == "B000FC1PJI");

  // A hybrid with a large "image" record: the reader takes the KF8 part's header and leaves
  // the other records unread.
  books::MobiOptions h;
  h.hybrid = true;
  h.padding_record = 512 * 1024;
  books::make_mobi(dir.path() / "c.mobi", full_spec(), h);
  const auto c = read_mobi(dir.path() / "c.mobi");
  REQUIRE(c.has_value());
  CHECK(c->format == BookFormat::mobi);
  CHECK(c->title == "The Left Hand of Darkness");
  CHECK(c->authors() == std::vector<std::string>{"Ursula K. Le Guin"});
  CHECK(c->isbn13 == "9780441478125");
}

TEST_CASE("MOBI: truncated and foreign files are errors", "[book_files]") {
  testing::TempDir dir;
  const auto path = dir.path() / "broken.mobi";
  const std::string good = books::mobi_bytes(full_spec());

  SECTION("truncated MOBI header") {
    // One record, cut inside its MOBI header: the record list is consistent, the header short.
    std::string cut = good.substr(0, 78 + 8 + 2 + 16 + 40);
    cut[76] = 0;
    cut[77] = 1;
    books::write_file(path, cut);
    const Error e = error_of(read_mobi(path));
    CHECK(e.code == errc::bad_file);
    CHECK_THAT(e.message, Catch::EndsWith("truncated MOBI header"));
  }
  SECTION("a file cut short: records start past its end") {
    books::write_file(path, good.substr(0, 78 + 2 * 8 + 2 + 16 + 40));
    const Error e = error_of(read_mobi(path));
    CHECK(e.code == errc::bad_file);
    CHECK_THAT(e.message, Catch::Contains("truncated file (record 1 starts at"));
  }
  SECTION("truncated PalmDB header") {
    books::write_file(path, good.substr(0, 50));
    CHECK_THAT(error_of(read_mobi(path)).message, Catch::Contains("truncated PalmDB header"));
  }
  SECTION("not BOOKMOBI") {
    std::string other = good;
    other.replace(60, 8, "TEXtREAd");
    books::write_file(path, other);
    CHECK_THAT(error_of(read_mobi(path)).message,
               Catch::Contains("not a MOBI file (PalmDB type 'TEXtREAd')"));
  }
  SECTION("record 0 without the MOBI magic") {
    std::string other = good;
    other.replace(78 + 2 * 8 + 2 + 16, 4, "XXXX");
    books::write_file(path, other);
    CHECK_THAT(error_of(read_mobi(path)).message, Catch::Contains("no MOBI header"));
  }
}

TEST_CASE("MOBI: bytes that are not UTF-8 become U+FFFD; CP-1252 is decoded", "[book_files]") {
  testing::TempDir dir;
  auto spec = full_spec();
  spec.authors = {
      "Bad \xFF\xFE"
      " Bytes"};
  books::make_mobi(dir.path() / "bad.mobi", spec);
  const auto r = read_mobi(dir.path() / "bad.mobi");
  REQUIRE(r.has_value());
  CHECK(r->authors() == std::vector<std::string>{"Bad \xEF\xBF\xBD\xEF\xBF\xBD"
                                                 " Bytes"});

  auto cp = full_spec();
  cp.authors = {
      "Caf\xE9"
      " Writer"};  // é in CP-1252
  books::MobiOptions o;
  o.encoding = 1252;
  books::make_mobi(dir.path() / "cp.mobi", cp, o);
  const auto c = read_mobi(dir.path() / "cp.mobi");
  REQUIRE(c.has_value());
  CHECK(c->authors() == std::vector<std::string>{"Caf\xC3\xA9"
                                                 " Writer"});
}

TEST_CASE("PDF: /Info title, authors, subject and ISBN keywords", "[book_files]") {
  testing::TempDir dir;
  auto spec = full_spec();
  spec.authors = {"Ann Author", "Bob Writer"};
  books::make_pdf(dir.path() / "book.pdf", spec);
  const auto r = read_book_metadata(dir.path() / "book.pdf");
  REQUIRE(r.has_value());
  CHECK(r->format == BookFormat::pdf);
  CHECK(r->title == "The Left Hand of Darkness");
  CHECK(r->authors() == std::vector<std::string>{"Ann Author", "Bob Writer"});
  CHECK(r->isbn13 == "9780441478125");
  REQUIRE(r->description);
  CHECK(*r->description == "A story of Gethen.");
}

TEST_CASE("PDF: UTF-16 /Info strings are decoded to UTF-8", "[book_files]") {
  testing::TempDir dir;
  books::BookSpec spec;
  spec.title =
      "\xC3\x9C"
      "ber die Bahn \xE2\x80\x94 \xE6\x97\xA5\xE6\x9C\xAC";  // Über die Bahn — 日本
  spec.authors = {
      "Zo\xC3\xAB \xC5\x81\xC3\xB3"
      "d\xC5\xBA"};  // Zoë Łódź
  books::make_pdf(dir.path() / "u.pdf", spec, {.utf16 = true});
  const auto r = read_pdf(dir.path() / "u.pdf");
  REQUIRE(r.has_value());
  CHECK(r->title == spec.title);
  CHECK(r->authors() == spec.authors);
}

TEST_CASE("PDF: encrypted files", "[book_files]") {
  testing::TempDir dir;
  // A user password: nothing can be read without it.
  books::make_pdf(dir.path() / "locked.pdf", full_spec(),
                  {.user_password = "secret", .owner_password = "owner"});
  const Error e = error_of(read_pdf(dir.path() / "locked.pdf"));
  CHECK(e.code == errc::bad_file);
  CHECK_THAT(e.message, Catch::Contains("encrypted PDF"));
  // Only an owner password (permissions): the empty user password opens it.
  books::make_pdf(dir.path() / "perm.pdf", full_spec(), {.user_password = "", .owner_password = "owner"});
  const auto r = read_pdf(dir.path() / "perm.pdf");
  REQUIRE(r.has_value());
  CHECK(r->title == "The Left Hand of Darkness");
  // Garbage with a .pdf name.
  books::write_file(dir.path() / "junk.pdf", "not a pdf at all");
  const Error j = error_of(read_pdf(dir.path() / "junk.pdf"));
  CHECK(j.code == errc::bad_file);
  CHECK_THAT(j.message, Catch::Contains("not a readable PDF"));
}

TEST_CASE("MP3: ID3v2 album, album artist, track, disc, year, label, duration", "[book_files]") {
  testing::TempDir dir;
  auto spec = full_spec();
  spec.others = {{"Nora Reader", "nrt", ""}};
  spec.track = 3;
  spec.disc = 2;
  spec.duration_seconds = 3;
  books::make_mp3(dir.path() / "part.Mp3", spec);
  const auto r = read_book_metadata(dir.path() / "part.Mp3");
  REQUIRE(r.has_value());
  CHECK(r->format == BookFormat::mp3);
  CHECK(r->title == "The Left Hand of Darkness");                        // the album
  CHECK(r->authors() == std::vector<std::string>{"Ursula K. Le Guin"});  // album artist, not the narrator
  CHECK(r->track == 3);
  CHECK(r->disc == 2);
  CHECK(r->release_year == 1969);
  CHECK(r->publisher == "Ace Books");
  CHECK(r->duration_seconds == 3);
}

TEST_CASE("M4B: MP4 atoms read back", "[book_files]") {
  testing::TempDir dir;
  auto spec = full_spec();
  spec.track = 1;
  spec.disc = 1;
  spec.duration_seconds = 125;
  books::make_m4b(dir.path() / "book.m4b", spec);
  const auto r = read_book_metadata(dir.path() / "book.m4b");
  REQUIRE(r.has_value());
  CHECK(r->format == BookFormat::m4b);
  CHECK(r->title == "The Left Hand of Darkness");
  CHECK(r->authors() == std::vector<std::string>{"Ursula K. Le Guin"});
  CHECK(r->track == 1);
  CHECK(r->disc == 1);
  CHECK(r->release_year == 1969);
  CHECK(r->duration_seconds == 125);
}

TEST_CASE("Audio: tags with bytes that are not UTF-8 come out as valid UTF-8", "[book_files]") {
  testing::TempDir dir;
  // TALB declared UTF-8 (encoding 3) holding bytes that are not: TagLib 1.13 drops such a
  // string, so the title falls back to TIT2. TPE2 is ISO-8859-1 (encoding 0): decoded.
  books::make_mp3_raw_tag(dir.path() / "raw.mp3", {{"TALB", std::string("\x03", 1) + "Al\xFF\xC3"
                                                                                     " bum"},
                                                   {"TIT2", std::string("\x03", 1) + "Part One"},
                                                   {"TPE2", std::string("\x00", 1) + "Jos\xE9"}});
  const auto r = read_audio(dir.path() / "raw.mp3");
  REQUIRE(r.has_value());
  CHECK(r->title == "Part One");
  CHECK(r->authors() == std::vector<std::string>{"Jos\xC3\xA9"});
  CHECK(is_utf8(r->authors().front()));
}

TEST_CASE("Empty files of every format are errors; missing files not_found", "[book_files]") {
  testing::TempDir dir;
  for (int i = 0; i <= static_cast<int>(BookFormat::m4b); ++i) {
    const auto format = static_cast<BookFormat>(i);
    const auto path = dir.path() / ("empty." + std::string(to_string(format)));
    books::write_file(path, "");
    const auto r = read_book_metadata(path);
    INFO(path);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::bad_file);
    CHECK_THAT(r.error().message, Catch::EndsWith("empty file"));
  }
  const auto missing = read_book_metadata(dir.path() / "missing.epub");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == errc::not_found);
  const auto folder = dir.path() / "folder.epub";
  std::filesystem::create_directory(folder);
  CHECK_THAT(error_of(read_book_metadata(folder)).message, Catch::Contains("not a regular file"));
}

TEST_CASE("Non-book files are refused by the dispatcher", "[book_files]") {
  testing::TempDir dir;
  books::write_file(dir.path() / "cover.jpg", books::cover_jpeg_bytes());
  books::write_file(dir.path() / "notes.txt", "hello");
  for (const char* name : {"cover.jpg", "notes.txt"}) {
    const auto r = read_book_metadata(dir.path() / name);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::invalid_argument);
    CHECK_THAT(r.error().message, Catch::Contains("not a book file"));
  }
  const std::string jpeg = books::cover_jpeg_bytes();
  CHECK(jpeg.substr(0, 2) == "\xFF\xD8");
  CHECK(jpeg.substr(jpeg.size() - 2) == "\xFF\xD9");
}

TEST_CASE("Readers run on many threads at once with the same results", "[book_files]") {
  testing::TempDir dir;
  const auto spec = full_spec();
  books::make_epub(dir.path() / "t.epub", spec);
  books::make_mobi(dir.path() / "t.mobi", spec);
  books::make_pdf(dir.path() / "t.pdf", spec);
  books::make_mp3(dir.path() / "t.mp3", spec);
  books::make_m4b(dir.path() / "t.m4b", spec);
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        for (const char* name : {"t.epub", "t.mobi", "t.pdf", "t.mp3", "t.m4b"}) {
          const auto r = read_book_metadata(dir.path() / name);
          if (r.has_value() && r->title == spec.title && r->authors() == spec.authors) ++good;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(good.load() == 4 * 20 * 5);
}

}  // namespace book_metadata_test

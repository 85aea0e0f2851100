// SPDX-License-Identifier: MIT
// Damaged input, many times over: every reader of outside bytes (book files, Newznab/Torznab
// feeds and caps, release titles, RFC 822 dates, BookInfo JSON) is handed its sample cut short
// at forty points and then hundreds of seeded mutations (bytes overwritten, runs of NUL or 0xFF,
// bytes inserted, pieces deleted or repeated). Each must answer with a result or its own error,
// never crash, hang or throw something else; under the sanitizer presets this also catches
// reads past a buffer. The hand-picked broken files of book_metadata_test.cpp and
// newznab_parse_test.cpp name each error; this file covers what nobody thought of.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "book_samples.hpp"
#include "shelfjobs/adapters/book_metadata.hpp"
#include "shelfjobs/adapters/metadata.hpp"
#include "shelfjobs/adapters/newznab.hpp"
#include "shelfjobs/adapters/release_title.hpp"
#include "test_support.hpp"

using namespace shelfjobs;
namespace books = book_samples;

// The whole file in a namespace of its own (the unity build, see book_metadata_test.cpp).
namespace corrupt_input_test {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// `bytes` damaged in the `i`th way: the first 40 cut it at i/40 of its length, the rest apply
// one of four mutations drawn from `rng` (seeded: a failure names its input and repeats).
std::string damaged(const std::string& bytes, int i, std::mt19937& rng) {
  std::string m = bytes;
  if (i < 40) {
    m.resize(bytes.size() * static_cast<std::size_t>(i) / 40);
    return m;
  }
  auto at = [&] { return static_cast<std::size_t>(rng() % m.size()); };
  switch (rng() % 4) {
    case 0:
      for (unsigned k = 0, n = 1 + rng() % 8; k < n; ++k) m[at()] = static_cast<char>(rng());
      break;
    case 1: {
      const std::size_t from = at();
      const std::size_t len = std::min<std::size_t>(m.size() - from, rng() % 64);
      m.replace(from, len, len, rng() % 2 ? '\0' : '\xff');
      break;
    }
    case 2: m.insert(at(), std::string(1 + rng() % 32, static_cast<char>(rng()))); break;
    default: {
      const std::size_t from = at();
      const std::string piece = m.substr(from, 1 + rng() % 48);
      if (rng() % 2) {
        m.erase(from, piece.size());
      } else {
        m.insert(at(), piece);
      }
      break;
    }
  }
  return m;
}

TEST_CASE("book files: every cut and 250 mutations of each format read or fail with a message",
          "[book_files][corrupt]") {
  TempDir dir;
  books::BookSpec spec = books::spec("The Glass Orchard", "Ada Example", "9780306406157");
  spec.series = "Orchards";
  spec.series_index = "2";
  spec.publisher = "Example Press";
  spec.description = "A description.";
  spec.date = "2001-02-03";
  books::make_epub(dir.file("a.epub"), spec);
  books::make_epub(dir.file("b.epub"), spec, books::OpfStyle::epub3);
  books::MobiOptions hybrid;
  hybrid.hybrid = true;
  books::make_pdf(dir.file("c.pdf"), spec);
  books::make_mp3(dir.file("d.mp3"), spec);
  books::make_m4b(dir.file("e.m4b"), spec);
  const std::vector<std::pair<std::string, std::string>> samples = {
      {"epub", slurp(dir.file("a.epub"))}, {"epub", slurp(dir.file("b.epub"))},
      {"mobi", books::mobi_bytes(spec)},   {"azw3", books::mobi_bytes(spec, hybrid)},
      {"pdf", slurp(dir.file("c.pdf"))},   {"mp3", slurp(dir.file("d.mp3"))},
      {"m4b", slurp(dir.file("e.m4b"))},   {"opf", books::opf_xml(spec)},
  };
  // An OPF is read from its text, the others from a file of their extension.
  auto read = [&](const std::string& ext, const std::string& bytes) {
    if (ext == "opf") return parse_opf(bytes);
    const auto path = dir.file("damaged." + ext);
    books::write_file(path, bytes);
    return read_book_metadata(path);
  };
  std::mt19937 rng(20261206);
  for (const auto& [ext, bytes] : samples) {
    // The sample itself reads: the damage, not the sample, makes the errors below.
    REQUIRE(read(ext, bytes));
    int read_ok = 0, refused = 0;
    for (int i = 0; i < 290; ++i) {
      const std::string m = damaged(bytes, i, rng);
      INFO(ext << " input " << i << " (" << m.size() << " bytes)");
      const Result<BookMetadata> r = read(ext, m);
      if (r) {
        ++read_ok;
      } else {
        ++refused;
        CHECK_FALSE(r.error().message.empty());
      }
    }
    INFO(ext << ": " << read_ok << " read, " << refused << " refused");
    CHECK(refused > 0);  // an empty file, at least, is refused
  }
}

TEST_CASE("feeds, caps, release titles, dates and BookInfo JSON survive 1,500 mutations each", "[corrupt]") {
  const std::string feed = R"(<?xml version="1.0" encoding="utf-8" ?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:newznab="http://www.newznab.com/DTD/2010/feeds/attributes/">
<channel>
  <newznab:response offset="0" total="1234" />
  <item>
    <title>Ada Example - The Glass Orchard (2021) [EPUB]</title>
    <guid isPermaLink="true">https://indexer.example/details/a1b2</guid>
    <link>https://indexer.example/getnzb/a1b2.nzb&amp;i=1&amp;r=K</link>
    <pubDate>Tue, 04 Mar 2025 18:22:10 +0000</pubDate>
    <enclosure url="https://indexer.example/getnzb/a1b2.nzb&amp;i=1" length="2000000" type="application/x-nzb" />
    <newznab:attr name="category" value="7020" />
    <newznab:attr name="size" value="1843200" />
    <newznab:attr name="usenetdate" value="Mon, 03 Mar 2025 10:00:00 -0500" />
    <newznab:attr name="seeders" value="3" />
  </item>
</channel>
</rss>)";
  const std::string caps = R"(<caps><server title="x"/><limits max="100" default="50"/>
<searching><search available="yes" supportedParams="q"/><book-search available="yes" supportedParams="q,author,title"/></searching>
<categories><category id="7000" name="Books"><subcat id="7020" name="EBook"/></category></categories></caps>)";
  const std::string author = R"({"ForeignId":1001,"Name":"Ada Example","Description":"d","ImageUrl":null,
"Url":"https://example.org/a/1001","RatingCount":10,"AverageRating":4.2,"Works":[{"ForeignId":10,"Title":"The Glass Orchard",
"ReleaseDate":"2021-03-04","Books":[{"ForeignId":100,"Title":"The Glass Orchard","Isbn13":"9780306406157","Language":"eng",
"Format":"Paperback","EditionInformation":"","Publisher":"P","ReleaseDate":"2021-03-04","NumPages":320,"RatingCount":1,
"AverageRating":4,"Contributors":[{"ForeignId":1001,"Role":"Author"}]}],"Series":[{"ForeignId":5,"Title":"Orchards","Position":"2"}]}]})";
  const std::vector<std::string> titles = {
      "Ada Example - The Glass Orchard (2021) [EPUB]", "Author.Name-Book.Title.2019.RETAIL.EPUB-GROUP",
      "Ada Example - Orchards 02 - Second Light (Unabridged) (2020) [M4B] 64kbps"};
  std::mt19937 rng(61206);
  int feeds_read = 0, authors_read = 0;
  for (int i = 0; i < 1540; ++i) {
    INFO("input " << i);
    const std::string f = damaged(feed, i, rng);
    const auto page = parse_releases(f, i % 2 ? IndexerKind::torznab : IndexerKind::newznab);
    if (page) {
      ++feeds_read;
      for (const auto& release : page->releases) CHECK(!release.title.empty());
    } else {
      CHECK_FALSE(page.error().message.empty());
    }
    const auto c = parse_caps(damaged(caps, i, rng));
    if (!c) CHECK_FALSE(c.error().message.empty());
    for (const auto& t : titles) (void)parse_release_title(damaged(t, i, rng));
    (void)parse_rfc822_date(damaged("Tue, 04 Mar 2025 18:22:10 +0000", i, rng));
    // Damaged metadata is MetadataError (invalid), never another exception.
    try {
      (void)parse_bookinfo_author(damaged(author, i, rng));
      ++authors_read;
    } catch (const MetadataError& e) {
      CHECK(e.code() == MetadataErrc::invalid);
    }
  }
  // The samples read whole; some damage leaves them readable (a changed letter in a title).
  CHECK(parse_releases(feed, IndexerKind::newznab));
  CHECK_NOTHROW(parse_bookinfo_author(author));
  CHECK(feeds_read > 0);
  CHECK(authors_read > 0);
}

}  // namespace corrupt_input_test

// SPDX-License-Identifier: MIT
// The release title parser on real-looking release titles, as a table.

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "shelfjobs/adapters/release_title.hpp"

namespace release_title_test {

using namespace shelfjobs;

struct Row {
  std::string input;
  std::string author;
  std::string title;
  std::optional<int> year;
  std::vector<std::string> formats;
  bool retail = false;
  bool unabridged = false;
  bool abridged = false;
  bool audio = false;
  std::optional<int> bitrate = std::nullopt;
  std::string group = {};
};

TEST_CASE("parse_release_title reads author, title, year, format and hints", "[release_title]") {
  const std::vector<Row> rows = {
      {"Author Name - Book Title (2019) [EPUB]", "Author Name", "Book Title", 2019, {"epub"}},
      {"Author.Name-Book.Title.2019.RETAIL.EPUB-GRP",
       "Author Name",
       "Book Title",
       2019,
       {"epub"},
       true,
       false,
       false,
       false,
       std::nullopt,
       "GRP"},
      {"Author - Title (Unabridged) [M4B]",
       "Author",
       "Title",
       std::nullopt,
       {"m4b"},
       false,
       true,
       false,
       true},
      {"Terry Pratchett - Guards! Guards! (Unabridged) MP3 64kbps",
       "Terry Pratchett",
       "Guards! Guards!",
       std::nullopt,
       {"mp3"},
       false,
       true,
       false,
       true,
       64},
      {"Jane Austen - Pride and Prejudice (Abridged) [MP3 128 kbps]",
       "Jane Austen",
       "Pride and Prejudice",
       std::nullopt,
       {"mp3"},
       false,
       false,
       true,
       true,
       128},
      {"Brandon Sanderson - The Way of Kings (2010) [FLAC]",
       "Brandon Sanderson",
       "The Way of Kings",
       2010,
       {"flac"},
       false,
       false,
       false,
       true},
      {"Ursula K. Le Guin - The Dispossessed (1974) (retail) (azw3)",
       "Ursula K. Le Guin",
       "The Dispossessed",
       1974,
       {"azw3"},
       true},
      {"Ann Leckie - Ancillary Justice - 2013 - EPUB MOBI AZW3",
       "Ann Leckie",
       "Ancillary Justice",
       2013,
       {"epub", "mobi", "azw3"}},
      {"George Orwell - 1984 (1949) [EPUB]", "George Orwell", "1984", 1949, {"epub"}},
      {"Joseph.Heller-Catch-22.1961.EPUB-BOOKZ",
       "Joseph Heller",
       "Catch-22",
       1961,
       {"epub"},
       false,
       false,
       false,
       false,
       std::nullopt,
       "BOOKZ"},
      {"Iain_M_Banks-Excession-1996-RETAIL-eBook-GRP",
       "Iain M Banks",
       "Excession",
       1996,
       {},
       true,
       false,
       false,
       false,
       std::nullopt,
       "GRP"},
      {"N.K.Jemisin-The.Fifth.Season.2015.PDF", "N K Jemisin", "The Fifth Season", 2015, {"pdf"}},
      {"Frank Herbert - Dune Messiah {128k} [M4B]",
       "Frank Herbert",
       "Dune Messiah",
       std::nullopt,
       {"m4b"},
       false,
       false,
       false,
       true,
       128},
      {"Martha Wells - Murderbot 01 - All Systems Red (2017) [EPUB]",
       "Martha Wells",
       "Murderbot 01 - All Systems Red",
       2017,
       {"epub"}},
      {"The Left Hand of Darkness by Ursula K. Le Guin [EPUB]",
       "Ursula K. Le Guin",
       "The Left Hand of Darkness",
       std::nullopt,
       {"epub"}},
      {"Neal Stephenson - Anathem.epub", "Neal Stephenson", "Anathem", std::nullopt, {"epub"}},
      {"Octavia E. Butler - Kindred 2003 Audiobook MP3",
       "Octavia E. Butler",
       "Kindred",
       2003,
       {"mp3"},
       false,
       false,
       false,
       true},
      {"Ted Chiang – Exhalation (2019) [PDF]", "Ted Chiang", "Exhalation", 2019, {"pdf"}},
      {"Andy Weir - Project Hail Mary (Unabridged) [M4B] [2021]",
       "Andy Weir",
       "Project Hail Mary",
       2021,
       {"m4b"},
       false,
       true,
       false,
       true},
  };
  for (const auto& row : rows) {
    INFO(row.input);
    const auto p = parse_release_title(row.input);
    REQUIRE(p.has_value());
    CHECK(p->author == row.author);
    CHECK(p->title == row.title);
    CHECK(p->year == row.year);
    CHECK(std::vector<std::string>(p->formats.begin(), p->formats.end()) == row.formats);
    CHECK(p->format() == (row.formats.empty() ? std::string() : row.formats.front()));
    CHECK(p->retail == row.retail);
    CHECK(p->unabridged == row.unabridged);
    CHECK(p->abridged == row.abridged);
    CHECK(p->audio == row.audio);
    CHECK(p->bitrate_kbps == row.bitrate);
    CHECK(p->release_group == row.group);
  }
}

// Brackets are found eight bytes at a time, and a title's words joined from where they stand:
// each kind of bracket at every place across those steps, bytes that are near them in value
// (';', 'Z', '|', '*', a byte with the high bit set) as text, and words apart by more than one
// space or by other separators.
TEST_CASE("parse_release_title finds brackets anywhere and joins words however they stand",
          "[release_title]") {
  const std::string opens = "([{", closes = ")]}";
  for (std::size_t pad = 0; pad <= 17; ++pad) {
    for (std::size_t k = 0; k < 3; ++k) {
      const std::string words = std::string(pad, 'x') + " Z;*|\xC3\xA9\xDB\xFB";
      const std::string input =
          "Author Name - " + words + " " + opens[k] + "2019" + closes[k] + " " + opens[(k + 1) % 3] + "EPUB";
      INFO(input);
      const auto p = parse_release_title(input);
      REQUIRE(p.has_value());
      CHECK(p->author == "Author Name");
      CHECK(p->title == (pad == 0 ? std::string("Z;*|\xC3\xA9\xDB\xFB") : words));
      CHECK(p->year == 2019);
      CHECK(p->format() == "epub");
    }
  }
  struct Joined {
    const char* input;
    const char* author;
    const char* title;
  };
  for (const Joined& j : {Joined{"Author  Name -  Book   Title  (2019)", "Author  Name", "Book Title"},
                          Joined{"Book   Title by  Author   Name [EPUB]", "Author Name", "Book Title"},
                          Joined{"Author_Name-Book_Title.2019-GRP", "Author Name", "Book Title"},
                          Joined{"Author Name - Book) Title) (2019)", "Author Name", "Book) Title)"}}) {
    INFO(j.input);
    const auto p = parse_release_title(j.input);
    REQUIRE(p.has_value());
    CHECK(p->author == j.author);
    CHECK(p->title == j.title);
  }
}

TEST_CASE("parse_release_title gives nothing for titles without an author and a title", "[release_title]") {
  for (const char* input : {"", "   ", "JustOneWord", "Some Title Without Separator", " - Title Only",
                            "Author Only - ", "Author - [EPUB]"}) {
    INFO(input);
    CHECK_FALSE(parse_release_title(input).has_value());
  }
}

TEST_CASE("ReleaseFormats lists known formats once, in order", "[release_title]") {
  ReleaseFormats f;
  CHECK(f.empty());
  CHECK(f.add("mobi"));
  CHECK(f.add("epub"));
  CHECK(f.add("mobi"));  // listed already: kept once, in its first place
  CHECK_FALSE(f.add("exe"));
  CHECK_FALSE(f.add("EPUB"));  // lower-case only
  REQUIRE(f.size() == 2);
  CHECK(f[0] == "mobi");
  CHECK(f.front() == "mobi");
  CHECK(f.back() == "epub");
  CHECK(f.contains("epub"));
  CHECK_FALSE(f.contains("pdf"));
  CHECK(std::vector<std::string>(f.begin(), f.end()) == std::vector<std::string>{"mobi", "epub"});
  ReleaseFormats all;
  for (std::string_view k : ReleaseFormats::kKnown) CHECK(all.add(k));
  CHECK(all.size() == ReleaseFormats::kCapacity);
  CHECK(all.add("wma"));  // a full list still takes a repeat
  CHECK(all.size() == ReleaseFormats::kCapacity);
  ReleaseFormats copy = f;
  CHECK(copy == f);
  copy.clear();
  CHECK_FALSE(copy == f);
}

TEST_CASE("is_audio_format knows the audio formats", "[release_title]") {
  for (const char* f : {"m4b", "mp3", "flac", "m4a", "ogg", "opus", "aac"}) CHECK(is_audio_format(f));
  for (const char* f : {"epub", "azw3", "mobi", "pdf", ""}) CHECK_FALSE(is_audio_format(f));
}

TEST_CASE("InlineText holds short text inline and longer text on the heap, as a value", "[release_title]") {
  using Text = InlineText<8>;
  Text empty;
  CHECK(empty.empty());
  CHECK(empty == "");
  Text shortt("abc");
  Text longt(std::string("a text longer than eight bytes"));
  CHECK(shortt == "abc");
  CHECK(longt == "a text longer than eight bytes");
  CHECK(longt.size() == 30);
  CHECK(longt.find("longer") == 7);
  CHECK(longt.find("absent") == std::string::npos);

  Text copy = longt;  // copies the bytes
  CHECK(copy == longt.view());
  CHECK(copy.data() != longt.data());
  Text moved = std::move(copy);
  CHECK(moved == "a text longer than eight bytes");
  CHECK(copy.empty());  // NOLINT: a moved-from text is empty
  Text moved_short = std::move(shortt);
  CHECK(moved_short == "abc");

  moved = moved.view().substr(2, 4);  // assigned from a view of itself
  CHECK(moved == "text");
  moved = std::string_view("back to a long text again");
  CHECK(moved == "back to a long text again");
  moved.clear();
  CHECK(moved.empty());
  CHECK(longt.str() == "a text longer than eight bytes");
}

}  // namespace release_title_test

// SPDX-License-Identifier: MIT
// Naming patterns and safe names: table tests.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/services/naming.hpp"

using namespace shelfjobs;
namespace fs = std::filesystem;

// The whole file in a namespace of its own: the unity build compiles several test files as one
// translation unit, and their helpers must not meet.
namespace naming_test {

NamingValues ada() {
  NamingValues v;
  v.author_name = "Ada Example";
  v.book_title = "First Book";
  return v;
}

std::string render(std::string_view pattern, const NamingValues& v, std::string_view ext = "epub") {
  auto r = render_book_path(pattern, v, ext);
  if (!r) FAIL("render failed: " << r.error().message);
  return r->string();
}

TEST_CASE("the default naming gives Author/Title/Author - Title.ext", "[naming]") {
  CHECK(render(kDefaultNaming, ada()) == "Ada Example/First Book/Ada Example - First Book.epub");
  CHECK(render(kDefaultNaming, ada(), ".m4b") == "Ada Example/First Book/Ada Example - First Book.m4b");
  auto part = ada();
  part.part_number = 2;
  part.part_count = 12;
  CHECK(render(kDefaultNaming, part, "mp3") == "Ada Example/First Book/Ada Example - First Book (2).mp3");
  CHECK(render(kDefaultNaming, ada(), "") == "Ada Example/First Book/Ada Example - First Book");
}

TEST_CASE("every token renders its value", "[naming]") {
  NamingValues v;
  v.author_name = "The Example Band";
  v.author_sort_name = "Example Band, The";
  v.book_title = "A Second Book";
  v.book_disambiguation = "Revised";
  v.series_title = "The Series";
  v.series_position = "2.5";
  v.release_year = 1999;
  v.edition_year = 2004;
  v.part_number = 3;
  v.part_count = 10;
  struct Row {
    const char* pattern;
    const char* expected;
  };
  const std::vector<Row> rows = {
      {"{Author Name}", "The Example Band"},
      {"{Author SortName}", "Example Band, The"},
      {"{Author NameThe}", "Example Band, The"},
      {"{Author NameFirstCharacter}", "E"},
      {"{Book Title}", "A Second Book"},
      {"{Book TitleThe}", "Second Book, A"},
      {"{Book Disambiguation}", "Revised"},
      {"{Book Series}", "The Series"},
      {"{Book SeriesPosition}", "2.5"},
      {"{Book SeriesPosition:00}", "02.5"},
      {"{Release Year}", "1999"},
      {"{Edition Year}", "2004"},
      {"{PartNumber}", "3"},
      {"{PartNumber:00}", "03"},
      {"{PartNumber:000}", "003"},
      {"{PartCount}", "10"},
      {"{PartCount:0}", "10"},
      // Forms: separators, case, prefix and suffix.
      {"{Author.Name}", "The.Example.Band"},
      {"{Author_Name}", "The_Example_Band"},
      {"{Author-Name}", "The-Example-Band"},
      {"{author name}", "the example band"},
      {"{AUTHOR NAME}", "THE EXAMPLE BAND"},
      {"{book title}", "a second book"},
      {"{ (Release Year)}", "(1999)"},  // a leading space is trimmed off the name
      {"x{ (Release Year)}", "x (1999)"},
      {"{Book Series}{ - Book SeriesPosition}", "The Series - 2.5"},
      {"{[Edition Year]}", "[2004]"},
      {"Static text", "Static text"},
  };
  for (const auto& row : rows) {
    INFO(row.pattern);
    CHECK(render(row.pattern, v, "") == row.expected);
  }
}

TEST_CASE("empty values drop their prefix, suffix, dangling separators and empty folders", "[naming]") {
  const NamingValues v = ada();  // no series, years or parts
  struct Row {
    const char* pattern;
    const char* expected;
  };
  const std::vector<Row> rows = {
      {"{Author Name}/{Book Series}/{Book Title}", "Ada Example/First Book.epub"},
      {"{Author Name} - {Book Series} - {Book Title}", "Ada Example - First Book.epub"},
      {"{Book Title} - {Release Year}", "First Book.epub"},
      {"{Release Year} - {Book Title}", "First Book.epub"},
      {"{Book Title}{ (Release Year)}{ [PartNumber:00]}", "First Book.epub"},
      {"{Author SortName}/{Book Title}", "Example, Ada/First Book.epub"},  // from sort_name_of
  };
  for (const auto& row : rows) {
    INFO(row.pattern);
    CHECK(render(row.pattern, v) == row.expected);
  }
}

TEST_CASE("values cannot add folders or climb out of the root", "[naming]") {
  NamingValues v;
  v.author_name = "AC/DC";
  v.book_title = "../../etc/passwd";
  // Dots at the start of a name go, so no name is "." or ".." or hidden.
  CHECK(render(kDefaultNaming, v) == "AC+DC/+..+etc+passwd/AC+DC - ..+..+etc+passwd.epub");
  v.author_name = "..";
  v.book_title = ".hidden";
  CHECK(render(kDefaultNaming, v) == "hidden/hidden.epub");  // the ".." author folder is dropped
  const auto p = render_book_path(kDefaultNaming, v, "epub");
  REQUIRE(p.has_value());
  for (const auto& part : *p) CHECK((part != ".." && part != "."));
  // The pattern's own ".." disappears like any name that is only dots.
  CHECK(render("../{Book Title}", ada()) == "First Book.epub");
  CHECK(render("/{Author Name}/{Book Title}", ada()) == "Ada Example/First Book.epub");
}

TEST_CASE("bad patterns are errors that name the problem", "[naming]") {
  struct Row {
    const char* pattern;
    const char* fragment;
  };
  const std::vector<Row> rows = {
      {"", "empty"},
      {"{Author Nme}", "unknown token {Author Nme}"},
      {"{Author Name", "'{' without '}'"},
      {"{Author {Name}}", "'{' without '}'"},
      {"Author Name}", "'}' without '{'"},
      {"{}", "empty token"},
      {"{Book Title:00}", "takes no format"},
      {"{PartNumber:ab}", "must be zeros"},
      {"{Author Name}/", "renders empty"},
      {"{Book Series}", "renders empty"},  // no series: no file name
      {"{Author@Name}", "unknown token"},
      {"{Book Series}{ #Book SeriesPosition}", "unknown token"},  // '#' is not a prefix character
  };
  for (const auto& row : rows) {
    INFO(row.pattern);
    auto r = render_book_path(row.pattern, ada(), "epub");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::invalid_argument);
    CHECK_THAT(r.error().message, Catch::Contains(row.fragment));
  }
  for (const char* ext : {"ep/ub", "a b", "..", "toolongextension1"}) {
    INFO(ext);
    auto r = render_book_path(kDefaultNaming, ada(), ext);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::invalid_argument);
  }
  CHECK(validate_naming(kDefaultNaming).has_value());
  CHECK(validate_naming("{Author Name}/{Book Series}/{Book SeriesPosition:00} - {Book Title}").has_value());
  CHECK_FALSE(validate_naming("{Author Name}/{Nope}").has_value());
}

TEST_CASE("safe names replace illegal characters and trim the ends", "[naming]") {
  struct Row {
    std::string in;
    std::string out;
  };
  const std::vector<Row> rows = {
      {"Plain Name", "Plain Name"},
      {"Title: Subtitle", "Title - Subtitle"},
      {"10:30", "10-30"},
      {"a : b", "a - b"},
      {"AC/DC", "AC+DC"},
      {"back\\slash", "back+slash"},
      {"say \"hi\"", "say 'hi'"},
      {"why? <not> *this* | that", "why not this that"},
      {"tab\there\nline\rend", "tab here line end"},
      {std::string("nul\0byte", 8), "nulbyte"},
      {"bell\x07\x7f", "bell"},
      {"  many   spaces  ", "many spaces"},
      {"trailing dots...", "trailing dots"},
      {"...leading dots", "leading dots"},
      {". .", "_"},
      {"", "_"},
      {"???", "_"},
      {"CON", "CON_"},
      {"con", "con_"},
      {"Nul.txt", "Nul_.txt"},
      {"COM1", "COM1_"},
      {"lpt9.epub", "lpt9_.epub"},
      {"COM0", "COM0"},
      {"CONSOLE", "CONSOLE"},
      {"AUX file", "AUX file"},
      {"Caf\xc3\xa9", "Caf\xc3\xa9"},
      {"Caf\xe9", "Caf\xEF\xBF\xBD"},
      {"\xff\xfe", "\xEF\xBF\xBD\xEF\xBF\xBD"},
  };
  for (const auto& row : rows) {
    INFO(row.in);
    CHECK(safe_name(row.in) == row.out);
  }
  CHECK(is_reserved_name("prn"));
  CHECK(is_reserved_name("Aux.tar.gz"));
  CHECK_FALSE(is_reserved_name("auxiliary"));
  CHECK(title_the("The Hobbit") == "Hobbit, The");
  CHECK(title_the("an Echo") == "Echo, an");
  CHECK(title_the("A") == "A");
  CHECK(title_the("Theodore") == "Theodore");
  CHECK(title_the("The ") == "The ");
}

TEST_CASE("names are cut to 255 bytes without splitting a character, keeping the extension", "[naming]") {
  const std::string e_acute = "\xc3\xa9";  // two bytes
  std::string long_name;
  for (int i = 0; i < 200; ++i) long_name += e_acute;  // 400 bytes
  const std::string cut = safe_name(long_name);
  CHECK(cut.size() == 254);  // 255 would split the 128th character
  CHECK(repair_utf8(cut) == cut);

  const std::string ascii(300, 'a');
  CHECK(safe_name(ascii).size() == 255);
  CHECK(safe_name(ascii, 10) == std::string(10, 'a'));
  CHECK(safe_name(std::string(250, 'a') + "      b") == std::string(250, 'a') + " b");  // collapsed first
  CHECK(safe_name(std::string(254, 'a') + " b") == std::string(254, 'a'));  // cut, then the space trimmed

  const std::string file = safe_file_name(long_name, "epub");
  CHECK(file.size() <= 255);
  CHECK(file.size() == 250 + 5);  // 250 bytes of stem (125 characters) + ".epub"
  CHECK(file.substr(file.size() - 5) == ".epub");
  CHECK(repair_utf8(file) == file);
  CHECK(safe_file_name("CON", ".epub") == "CON_.epub");
  CHECK(safe_file_name("x", "") == "x");
  CHECK(safe_file_name("", "pdf") == "_.pdf");

  // Through a pattern: the last name keeps its extension within 255 bytes, folders are cut too.
  NamingValues v;
  v.author_name = std::string(300, 'A');
  v.book_title = long_name;
  auto p = render_book_path(kDefaultNaming, v, "azw3");
  REQUIRE(p.has_value());
  std::vector<std::string> parts;
  for (const auto& part : *p) parts.push_back(part.string());
  REQUIRE(parts.size() == 3);
  CHECK(parts[0] == std::string(255, 'A'));
  CHECK(parts[1].size() == 254);
  CHECK(parts[2].size() <= 255);
  CHECK(parts[2].substr(parts[2].size() - 5) == ".azw3");
  for (const auto& part : parts) CHECK(repair_utf8(part) == part);

  CHECK(truncate_utf8("ab" + e_acute, 3) == "ab");
  CHECK(truncate_utf8("ab" + e_acute, 4) == "ab" + e_acute);
  CHECK(truncate_utf8("ab\xff", 3) == "ab");  // repaired first: U+FFFD is 3 bytes
  CHECK(repair_utf8("ok\xc3") == "ok\xEF\xBF\xBD");
}

}  // namespace naming_test

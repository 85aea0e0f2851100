// SPDX-License-Identifier: MIT
// Matching a file to a catalog book, rule by rule: keys, what the path fills in, and the order
// ISBN > ASIN > author and title, with the reason a file stays unmapped.

#include <catch2/catch.hpp>

#include "services/scan/match.hpp"

using namespace shelfjobs;
using namespace shelfjobs::scan;

// The whole file in a namespace of its own: the unity build compiles several test files as one
// translation unit, and their helpers must not meet.
namespace scan_match_test {

BookIdentity book(RowId id, RowId author, std::string author_name, std::string title,
                  std::vector<BookIdentity::EditionKey> editions = {}) {
  BookIdentity b;
  b.book_id = id;
  b.author_id = author;
  b.author_name = std::move(author_name);
  b.title = std::move(title);
  b.editions = std::move(editions);
  return b;
}

BookIndex library() {
  BookIndex index;
  index.add(book(10, 1, "Ann Leckie", "Ancillary Justice",
                 {{100, "9780316246620", "", ""}, {101, "", "B00BAXFECK", ""}}));
  index.add(book(11, 1, "Ann Leckie", "Ancillary Sword"));
  index.add(book(20, 2, "Charlotte Brontë", "Jane Eyre: An Autobiography"));
  index.add(book(30, 3, "J.R.R. Tolkien", "The Hobbit"));
  index.add(book(40, 4, "Orson Scott Card", "Ender's Game"));
  return index;
}

FileFacts facts(std::string title, std::vector<std::string> authors, std::string isbn = "",
                std::string asin = "") {
  return FileFacts{std::move(title), std::move(authors), std::move(isbn), std::move(asin)};
}

TEST_CASE("comparison keys ignore case, accents, punctuation, spacing and articles", "[scan][match]") {
  CHECK(name_key("Charlotte Brontë") == name_key("charlotte bronte"));
  CHECK(name_key("J.R.R. Tolkien") == name_key("JRR Tolkien"));
  CHECK(name_key("Ender's Game") == name_key("Enders Game"));
  CHECK(name_key("Pride & Prejudice") == name_key("Pride and Prejudice"));
  CHECK(title_key("The Hobbit") == title_key("Hobbit"));
  CHECK(title_key("The") == "the");  // a title that is only an article keeps it
  CHECK(title_key("A Memory Called Empire") == title_key("Memory Called Empire"));
  CHECK(title_key("Anathem") == "anathem");  // "An" inside a word is not an article
  // Exact keys: words joined, "&" a word of its own, runs of separators one break.
  CHECK(name_key("  Ann -- Leckie. ") == "annleckie");
  CHECK(name_key("A & B") == "aandb");
  CHECK(title_key("A & B") == "andb");
  CHECK(title_key("...The   Hobbit!") == "hobbit");
  CHECK(title_key("Ursula's, Æsop") == "ursulasasop");  // Æ folds to one letter
  CHECK(short_title_key("Jane Eyre: An Autobiography") == "janeeyre");
  CHECK(short_title_key("Dune (Deluxe Edition)") == "dune");
  CHECK(short_title_key("Dune").empty());
  CHECK(author_key("Leckie, Ann") == author_key("Ann Leckie"));
  CHECK(author_key("King, Jr.") == name_key("King Jr"));
  CHECK(name_key("Лев Толстой") != name_key("лев толстой"));  // other scripts: bytes, exact
  CHECK(name_key("Лев Толстой") ==
        "Лев"
        "Толстой");
}

TEST_CASE("the path fills what the tags lack", "[scan][match]") {
  const std::filesystem::path root = "/lib";
  SECTION("Author/Title/Author - Title.epub") {
    auto f =
        fill_from_path({}, root, "/lib/Ann Leckie/Ancillary Justice/Ann Leckie - Ancillary Justice.epub");
    CHECK(f.authors == std::vector<std::string>{"Ann Leckie"});
    CHECK(f.title == "Ancillary Justice");
  }
  SECTION("Calibre's Author/Title (id)/Title - Author.epub") {
    auto f =
        fill_from_path({}, root, "/lib/Ann Leckie/Ancillary Sword (12)/Ancillary Sword - Ann Leckie.epub");
    CHECK(f.authors == std::vector<std::string>{"Ann Leckie"});
    CHECK(f.title == "Ancillary Sword");
  }
  SECTION("a loose file in the root: Author - Title") {
    auto f = fill_from_path({}, root, "/lib/Ann Leckie - Ancillary Justice.epub");
    CHECK(f.authors == std::vector<std::string>{"Ann Leckie"});
    CHECK(f.title == "Ancillary Justice");
  }
  SECTION("a bare title in an author folder") {
    auto f = fill_from_path({}, root, "/lib/Ann Leckie/Ancillary Justice.epub");
    CHECK(f.authors == std::vector<std::string>{"Ann Leckie"});
    CHECK(f.title == "Ancillary Justice");
  }
  SECTION("tags win over the path") {
    auto f = fill_from_path(facts("Provenance", {"Ann Leckie"}), root, "/lib/Someone/Other - Thing.epub");
    CHECK(f.authors == std::vector<std::string>{"Ann Leckie"});
    CHECK(f.title == "Provenance");
  }
  SECTION("a name that only repeats the author is no title") {
    auto f = fill_from_path({}, root, "/lib/Ann Leckie/Ann Leckie.epub");
    CHECK(f.title.empty());
  }
  SECTION("a Calibre id in the stem is not part of the title") {
    auto f = fill_from_path({}, root, "/lib/Ann Leckie/Provenance (31).epub");
    CHECK(f.title == "Provenance");
  }
}

TEST_CASE("a file matches by ISBN, then ASIN, then author and title", "[scan][match]") {
  const BookIndex index = library();
  CHECK(index.books() == 5);
  struct Row {
    const char* what;
    FileFacts facts;
    RowId folder_author;
    Match::By by;
    RowId author, book, edition;
  };
  const std::vector<Row> rows = {
      {"ISBN beats a wrong title", facts("Something Else", {"Nobody"}, "9780316246620"), 0, Match::By::isbn,
       1, 10, 100},
      {"ASIN when the ISBN is unknown", facts("", {}, "9780000000002", "B00BAXFECK"), 0, Match::By::asin, 1,
       10, 101},
      {"author and title", facts("Ancillary Sword", {"Ann Leckie"}), 0, Match::By::title, 1, 11, 0},
      {"sort-name author", facts("ancillary sword", {"Leckie, Ann"}), 0, Match::By::title, 1, 11, 0},
      {"accents and a subtitle the file lacks", facts("Jane Eyre", {"Charlotte Bronte"}), 0, Match::By::title,
       2, 20, 0},
      {"a subtitle the catalog lacks", facts("The Hobbit: or There and Back Again", {"JRR Tolkien"}), 0,
       Match::By::title, 3, 30, 0},
      {"an article and an apostrophe", facts("Enders Game", {"Orson Scott Card"}), 0, Match::By::title, 4, 40,
       0},
      {"a co-author listed first", facts("The Hobbit", {"Christopher Tolkien", "J. R. R. Tolkien"}), 0,
       Match::By::title, 3, 30, 0},
      {"no author in the file: the folder's", facts("Ancillary Justice", {}), 1, Match::By::title, 1, 10, 0},
  };
  for (const auto& row : rows) {
    CAPTURE(row.what);
    const Match m = index.match(row.facts, row.folder_author);
    CHECK(to_string(m.by) == std::string(to_string(row.by)));
    CHECK(m.author_id == row.author);
    CHECK(m.book_id == row.book);
    CHECK(m.edition_id == row.edition);
    CHECK(m.reason.empty());
  }
}

TEST_CASE("a file that matches nothing says why", "[scan][match]") {
  const BookIndex index = library();
  auto m = index.match(facts("Provenance", {"Ann Leckie"}));
  CHECK(m.by == Match::By::none);
  CHECK(m.author_id == 1);  // the author is known
  CHECK(m.book_id == 0);
  CHECK(m.reason == "no book of 'Ann Leckie' is titled 'Provenance'");

  m = index.match(facts("Piranesi", {"Susanna Clarke"}));
  CHECK(m.author_id == 0);
  CHECK(m.reason == "author 'Susanna Clarke' is not in the library");

  m = index.match(facts("Piranesi", {}));
  CHECK(m.reason == "the file names no author and lies in no author's folder");

  m = index.match(facts("", {"Ann Leckie"}));
  CHECK(m.author_id == 1);
  CHECK(m.reason == "the file has no title in its metadata or its name");

  // An ISBN the catalog does not know falls through to the title.
  m = index.match(facts("Ancillary Sword", {"Ann Leckie"}, "9780000000002"));
  CHECK(m.by == Match::By::title);
  CHECK(m.book_id == 11);
}

TEST_CASE("where two books share an ISBN, an ASIN or a title, the first one added matches", "[scan][match]") {
  BookIndex index;
  index.add(book(10, 1, "Ann Leckie", "Ancillary Justice", {{100, "9780316246620", "B00BAXFECK", ""}}));
  index.add(book(11, 1, "Ann Leckie", "Ancillary Justice", {{110, "9780316246620", "B00BAXFECK", ""}}));
  index.add(book(12, 1, "Ann Leckie", "ANCILLARY justice: a novel"));
  index.add(book(20, 2, "Ann Leckie", "Ancillary Justice"));  // another author of the same name
  auto m = index.match(facts("", {}, "9780316246620"));
  CHECK((m.book_id == 10 && m.edition_id == 100));
  m = index.match(facts("", {}, "", "B00BAXFECK"));
  CHECK((m.book_id == 10 && m.edition_id == 100));
  m = index.match(facts("Ancillary Justice", {"Ann Leckie"}));
  CHECK((m.author_id == 1 && m.book_id == 10));
  m = index.match(facts("Ancillary Justice", {}), 2);  // the folder's author only
  CHECK((m.author_id == 2 && m.book_id == 20));
  CHECK(index.books() == 4);
}

TEST_CASE("the index tells keys apart that share a hash", "[scan][match]") {
  // Every key under one hash: each lookup must still confirm its own key.
  std::vector<std::string> keys;
  RefTable table;
  auto hash_of = [](std::uint32_t) { return std::uint64_t{42}; };
  for (int i = 0; i < 100; ++i) {
    const std::string key = "key" + std::to_string(i);
    auto same = [&](std::uint32_t r) { return keys[r] == key; };
    REQUIRE(table.find(42, same) == RefTable::npos);
    keys.push_back(key);
    table.add(42, static_cast<std::uint32_t>(keys.size() - 1), hash_of);
  }
  CHECK(table.size() == 100);
  for (int i = 0; i < 100; ++i) {
    const std::string key = "key" + std::to_string(i);
    CHECK(table.find(42, [&](std::uint32_t r) { return keys[r] == key; }) == static_cast<std::uint32_t>(i));
  }
  CHECK(table.find(42, [&](std::uint32_t r) { return keys[r] == "other"; }) == RefTable::npos);
  CHECK(table.find(7, [&](std::uint32_t) { return true; }) == RefTable::npos);
}

}  // namespace scan_match_test

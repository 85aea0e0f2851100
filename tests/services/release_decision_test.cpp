// SPDX-License-Identifier: MIT
// Download decisions: every rejection with a release that triggers it and one that does not,
// the format profiles and their cutoffs, matching names the way the scan does, the
// prioritiser's order, garbage titles, and the wanted books loaded from a real SQLite catalog.

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/services/release_decision.hpp"
#include "test_support.hpp"

// The whole file in a namespace of its own: the unity build compiles several test files as one
// translation unit, and their helpers must not meet.
namespace release_decision_test {

using namespace shelfjobs;
using namespace std::chrono;

WantedBook wanted(RowId id, RowId author, std::string author_name, std::string title,
                  std::vector<std::string> files = {}, bool monitored = true, std::optional<int> year = {}) {
  WantedBook b;
  b.book_id = id;
  b.author_id = author;
  b.author_name = std::move(author_name);
  b.title = std::move(title);
  b.file_formats = std::move(files);
  b.monitored = monitored;
  b.year = year;
  return b;
}

WantedBooks library() {
  WantedBooks w;
  w.add(wanted(10, 1, "Ann Leckie", "Ancillary Justice"));
  w.add(wanted(11, 1, "Ann Leckie", "Ancillary Sword", {"epub"}));
  w.add(wanted(12, 1, "Ann Leckie", "Ancillary Mercy", {"pdf"}));
  w.add(wanted(13, 1, "Ann Leckie", "Provenance", {}, false));
  w.add(wanted(20, 2, "Charlotte Brontë", "Jane Eyre: An Autobiography"));
  w.add(wanted(30, 3, "Frank Herbert", "Dune"));
  w.add(wanted(40, 4, "Iain M. Banks", "Excession", {"m4b"}));
  return w;
}

struct Fixture {
  WantedBooks books = library();
  DecisionContext ctx;
  Fixture() {
    ctx.books = &books;
    ctx.protocols = {"torrent", "usenet"};
  }
};

IndexedRelease release(std::string title, IndexerKind kind = IndexerKind::newznab, std::int64_t size = 0,
                       std::optional<int> seeders = std::nullopt, std::vector<int> categories = {7020}) {
  IndexedRelease r;
  r.release.title = std::move(title);
  r.release.guid = "guid-" + r.release.title;
  r.release.download_url = "https://indexer.example/get/" + std::to_string(r.release.title.size());
  r.release.size = size;
  r.release.seeders = seeders;
  r.release.categories = std::move(categories);
  r.indexer_id = 7;
  r.indexer = "idx";
  r.kind = kind;
  return r;
}

std::vector<RejectionKind> kinds(const ReleaseDecision& d) {
  std::vector<RejectionKind> out;
  for (const auto& r : d.rejections) out.push_back(r.kind);
  return out;
}

bool has(const ReleaseDecision& d, RejectionKind k) {
  const auto v = kinds(d);
  return std::find(v.begin(), v.end(), k) != v.end();
}

TEST_CASE("an approved release names its book, author, format and kind", "[acquisition][decision]") {
  Fixture f;
  const auto d = decide_one(release("Ann Leckie - Ancillary Justice (2013) [EPUB]"), f.ctx);
  CHECK(d.approved());
  CHECK_FALSE(d.temporarily_rejected());
  CHECK(d.book_id == 10);
  CHECK(d.author_id == 1);
  CHECK(d.format == "epub");
  CHECK(d.format_rank == 0);
  CHECK_FALSE(d.audio);
  CHECK(d.protocol() == "usenet");
  const ReleaseRecord rec = d.record();
  CHECK(rec.title == "Ann Leckie - Ancillary Justice (2013) [EPUB]");
  CHECK(rec.protocol == "usenet");
  CHECK(rec.format == "epub");
  CHECK(rec.indexer_id == 7);
  CHECK(rec.indexer == "idx");
}

TEST_CASE("a large library still knows every author and book it holds", "[acquisition][decision]") {
  // Thousands of authors, keyed with the lookup's reused key strings: each is found, in either
  // spelling, and an author not added is not.
  WantedBooks w;
  const int authors = 5000;
  for (int a = 0; a < authors; ++a)
    w.add(wanted(100000 + a, a + 1, "Author Number" + std::to_string(a), "Book " + std::to_string(a)));
  for (int a = 0; a < authors; a += 7) {
    INFO(a);
    const auto found = w.lookup("Author Number" + std::to_string(a), "Book " + std::to_string(a));
    CHECK(found.author_known);
    REQUIRE(found.book != nullptr);
    CHECK(found.book->book_id == 100000 + a);
    CHECK(w.knows_author("Number" + std::to_string(a) + ", Author"));
  }
  CHECK_FALSE(w.lookup("Author Number" + std::to_string(authors), "Book 1").author_known);
  CHECK_FALSE(w.lookup("Someone Else", "Book 1").author_known);
}

TEST_CASE("unparsable, unknown author and unknown book end the decision", "[acquisition][decision]") {
  Fixture f;
  auto d = decide_one(release("nothing to read here"), f.ctx);
  CHECK(kinds(d) == std::vector{RejectionKind::unparsable});
  CHECK_FALSE(d.temporarily_rejected());
  CHECK(decide_one(release("Ann Leckie - Ancillary Justice [EPUB]"), f.ctx).approved());

  d = decide_one(release("Nobody Known - Ancillary Justice [EPUB]"), f.ctx);
  CHECK(kinds(d) == std::vector{RejectionKind::unknown_author});
  CHECK(d.author_id == 0);
  CHECK(d.rejections.front().reason.find("Nobody Known") != std::string::npos);

  d = decide_one(release("Ann Leckie - The Raven Tower [EPUB]"), f.ctx);
  CHECK(kinds(d) == std::vector{RejectionKind::unknown_book});
  CHECK(d.book_id == 0);
  CHECK(to_string(RejectionKind::unknown_book) == std::string("unknownBook"));
}

TEST_CASE("not wanted: unmonitored, or a file at the cutoff of the release's kind",
          "[acquisition][decision]") {
  Fixture f;
  auto d = decide_one(release("Ann Leckie - Provenance [EPUB]"), f.ctx);
  CHECK(kinds(d) == std::vector{RejectionKind::not_wanted});
  CHECK(d.book_id == 13);

  // Ancillary Sword has an epub: an ebook is not wanted, an audiobook still is.
  d = decide_one(release("Ann Leckie - Ancillary Sword [EPUB]"), f.ctx);
  CHECK(has(d, RejectionKind::not_wanted));
  CHECK(has(d, RejectionKind::not_an_upgrade));
  d = decide_one(release("Ann Leckie - Ancillary Sword [AZW3]"), f.ctx);
  CHECK(has(d, RejectionKind::not_wanted));
  d = decide_one(release("Ann Leckie - Ancillary Sword (Unabridged) [M4B]"), f.ctx);
  CHECK(d.audio);
  CHECK(d.approved());

  // Excession has an m4b: the audiobook meets the audio cutoff, an epub is still wanted.
  CHECK(has(decide_one(release("Iain M. Banks - Excession [MP3]"), f.ctx), RejectionKind::not_wanted));
  CHECK(decide_one(release("Iain M. Banks - Excession [EPUB]"), f.ctx).approved());
}

TEST_CASE("not an upgrade: a pdf file makes an epub, azw3 and mobi upgrades, a pdf not",
          "[acquisition][decision]") {
  Fixture f;
  for (const char* fmt : {"EPUB", "AZW3", "MOBI"}) {
    INFO(fmt);
    CHECK(decide_one(release(std::string("Ann Leckie - Ancillary Mercy [") + fmt + "]"), f.ctx).approved());
  }
  auto d = decide_one(release("Ann Leckie - Ancillary Mercy [PDF]"), f.ctx);
  CHECK(kinds(d) == std::vector{RejectionKind::not_an_upgrade});
  // No format named: ranked as the worst ebook format, so no upgrade of a pdf either.
  d = decide_one(release("Ann Leckie - Ancillary Mercy (2015)"), f.ctx);
  CHECK(kinds(d) == std::vector{RejectionKind::not_an_upgrade});
  CHECK(d.format.empty());
  CHECK(d.format_rank == 3);
  // ... but allowed for a book without files.
  d = decide_one(release("Ann Leckie - Ancillary Justice (2013)"), f.ctx);
  CHECK(d.approved());
  CHECK(d.format_rank == 3);
}

TEST_CASE("format not allowed by the release's kind's profile", "[acquisition][decision]") {
  Fixture f;
  auto d = decide_one(release("Ann Leckie - Ancillary Justice [CBZ]"), f.ctx);
  CHECK(kinds(d) == std::vector{RejectionKind::format_not_allowed});
  CHECK(d.format == "cbz");
  CHECK_FALSE(d.format_rank);
  // An epub filed under Audio/Audiobook is an audio release: the audio profile has no epub.
  d = decide_one(release("Ann Leckie - Ancillary Justice [EPUB]", IndexerKind::newznab, 0, {}, {3030}),
                 f.ctx);
  CHECK(d.audio);
  CHECK(kinds(d) == std::vector{RejectionKind::format_not_allowed});
  // Several named: the best allowed one counts.
  d = decide_one(release("Ann Leckie - Ancillary Justice [CBZ PDF EPUB]"), f.ctx);
  CHECK(d.approved());
  CHECK(d.format == "epub");
  // An audio release without a format: allowed, as the worst audio format.
  d = decide_one(release("Ann Leckie - Ancillary Justice (Unabridged)"), f.ctx);
  CHECK(d.audio);
  CHECK(d.approved());
  CHECK(d.format_rank == 2);
  // A category in the Audio range makes a release audio too.
  d = decide_one(release("Ann Leckie - Ancillary Justice", IndexerKind::newznab, 0, {}, {3010}), f.ctx);
  CHECK(d.audio);
  CHECK(d.approved());
  // A custom profile.
  f.ctx.profiles.ebook = FormatProfile{"strict", {"epub"}, "epub"};
  CHECK(has(decide_one(release("Ann Leckie - Ancillary Justice [MOBI]"), f.ctx),
            RejectionKind::format_not_allowed));
}

TEST_CASE("size limits per kind; an unknown size passes", "[acquisition][decision]") {
  Fixture f;
  f.ctx.min_size_ebook = 100 << 10;
  f.ctx.max_size_ebook = 50 << 20;
  f.ctx.min_size_audio = 10 << 20;
  f.ctx.max_size_audio = 0;  // none
  CHECK(decide_one(release("Ann Leckie - Ancillary Justice [EPUB]", IndexerKind::newznab, 2 << 20), f.ctx)
            .approved());
  CHECK(decide_one(release("Ann Leckie - Ancillary Justice [EPUB]", IndexerKind::newznab, 0), f.ctx)
            .approved());
  auto d =
      decide_one(release("Ann Leckie - Ancillary Justice [EPUB]", IndexerKind::newznab, 60 << 20), f.ctx);
  CHECK(kinds(d) == std::vector{RejectionKind::size});
  CHECK(d.rejections.front().reason == "Size 60 MB is above the limit of 50 MB");
  d = decide_one(release("Ann Leckie - Ancillary Justice [EPUB]", IndexerKind::newznab, 1000), f.ctx);
  CHECK(kinds(d) == std::vector{RejectionKind::size});
  // Audio: the audio limits, no maximum.
  CHECK(decide_one(release("Ann Leckie - Ancillary Justice [M4B]", IndexerKind::newznab, 3LL << 30), f.ctx)
            .approved());
  CHECK(kinds(decide_one(release("Ann Leckie - Ancillary Justice [M4B]", IndexerKind::newznab, 2 << 20),
                         f.ctx)) == std::vector{RejectionKind::size});
}

TEST_CASE("blocklisted by guid, download URL, or indexer and title", "[acquisition][decision]") {
  Fixture f;
  auto r = release("Ann Leckie - Ancillary Justice [EPUB]");
  CHECK(decide_one(r, f.ctx).approved());
  f.ctx.blocked_guids = {r.release.guid.str()};
  CHECK(kinds(decide_one(r, f.ctx)) == std::vector{RejectionKind::blocklisted});
  f.ctx.blocked_guids.clear();
  f.ctx.blocked_urls = {r.release.download_url.str()};
  CHECK(kinds(decide_one(r, f.ctx)) == std::vector{RejectionKind::blocklisted});
  f.ctx.blocked_urls.clear();
  f.ctx.blocked_titles = {"7\tann leckie - ancillary justice [epub]"};
  CHECK(kinds(decide_one(r, f.ctx)) == std::vector{RejectionKind::blocklisted});
  r.indexer_id = 8;  // the same title on another indexer is another release
  CHECK(decide_one(r, f.ctx).approved());
}

TEST_CASE("already queued, no download client (temporary), min seeders", "[acquisition][decision]") {
  Fixture f;
  f.ctx.queued_books = {10};
  CHECK(kinds(decide_one(release("Ann Leckie - Ancillary Justice [EPUB]"), f.ctx)) ==
        std::vector{RejectionKind::already_queued});
  CHECK(decide_one(release("Frank Herbert - Dune [EPUB]"), f.ctx).approved());

  f.ctx.protocols = {"usenet"};
  auto d = decide_one(release("Frank Herbert - Dune [EPUB]", IndexerKind::torznab, 0, 5), f.ctx);
  CHECK(kinds(d) == std::vector{RejectionKind::no_download_client});
  CHECK(d.temporarily_rejected());
  CHECK(d.rejections.front().temporary);
  CHECK(decide_one(release("Frank Herbert - Dune [EPUB]"), f.ctx).approved());
  // A temporary rejection beside a permanent one is not temporary as a whole.
  d = decide_one(release("Frank Herbert - Dune [CBZ]", IndexerKind::torznab, 0, 5), f.ctx);
  CHECK(has(d, RejectionKind::no_download_client));
  CHECK_FALSE(d.temporarily_rejected());

  f.ctx.protocols = {"torrent"};
  f.ctx.min_seeders = 3;
  d = decide_one(release("Frank Herbert - Dune [EPUB]", IndexerKind::torznab, 0, 2), f.ctx);
  CHECK(kinds(d) == std::vector{RejectionKind::min_seeders});
  CHECK(d.protocol() == "torrent");
  CHECK(decide_one(release("Frank Herbert - Dune [EPUB]", IndexerKind::torznab, 0, 3), f.ctx).approved());
  CHECK(decide_one(release("Frank Herbert - Dune [EPUB]", IndexerKind::torznab, 0, std::nullopt), f.ctx)
            .approved());
}

TEST_CASE("every rejection that applies is listed once the book is known", "[acquisition][decision]") {
  Fixture f;
  f.ctx.protocols.clear();
  f.ctx.queued_books = {11};
  f.ctx.max_size_ebook = 1 << 20;
  f.ctx.min_seeders = 10;
  auto r = release("Ann Leckie - Ancillary Sword [EPUB]", IndexerKind::torznab, 5 << 20, 1);
  f.ctx.blocked_guids = {r.release.guid.str()};
  const auto d = decide_one(r, f.ctx);
  CHECK(kinds(d) == std::vector{RejectionKind::not_wanted, RejectionKind::not_an_upgrade, RejectionKind::size,
                                RejectionKind::blocklisted, RejectionKind::already_queued,
                                RejectionKind::no_download_client, RejectionKind::min_seeders});
  for (const auto& rej : d.rejections) CHECK_FALSE(rej.reason.empty());
}

TEST_CASE("matching ignores case, accents and punctuation, reads Last, First, and subtitles",
          "[acquisition][decision]") {
  Fixture f;
  CHECK(f.books.knows_author("ann leckie"));
  CHECK(f.books.knows_author("Leckie, Ann"));
  CHECK(f.books.knows_author("Charlotte Bronte"));
  CHECK(f.books.knows_author("Iain M Banks"));
  CHECK_FALSE(f.books.knows_author("Ann"));
  CHECK_FALSE(f.books.knows_author(""));

  CHECK(decide_one(release("ANN LECKIE - ANCILLARY JUSTICE [EPUB]"), f.ctx).book_id == 10);
  CHECK(decide_one(release("Leckie, Ann - Ancillary Justice [EPUB]"), f.ctx).book_id == 10);
  CHECK(decide_one(release("Ann.Leckie-Ancillary.Justice.2013.RETAIL.EPUB-GRP"), f.ctx).book_id == 10);
  CHECK(decide_one(release("Charlotte Bronte - Jane Eyre [EPUB]"), f.ctx).book_id == 20);
  CHECK(decide_one(release("Charlotte Brontë - Jane Eyre: An Autobiography [EPUB]"), f.ctx).book_id == 20);
  CHECK(decide_one(release("Frank Herbert - Dune: Deluxe Edition [EPUB]"), f.ctx).book_id == 30);
  CHECK(decide_one(release("Ann Leckie - Imperial Radch 01 - Ancillary Justice [EPUB]"), f.ctx).book_id ==
        10);
  CHECK(decide_one(release("Ancillary Justice by Ann Leckie [EPUB]"), f.ctx).book_id == 10);
  // Not the same book: another word is another title.
  CHECK(has(decide_one(release("Frank Herbert - Dune Messiah [EPUB]"), f.ctx), RejectionKind::unknown_book));

  // Two books of one title: the release's year picks one.
  WantedBooks twice;
  twice.add(wanted(1, 1, "A Writer", "Same Title", {}, true, 1990));
  twice.add(wanted(2, 1, "A Writer", "Same Title", {}, true, 2020));
  CHECK(twice.find("A Writer", "Same Title", 2020)->book_id == 2);
  CHECK(twice.find("A Writer", "Same Title", 1990)->book_id == 1);
  CHECK(twice.find("A Writer", "Same Title")->book_id == 1);
  CHECK(twice.find("Other Writer", "Same Title") == nullptr);
  CHECK(twice.book(2)->year == 2020);
  CHECK(twice.book(3) == nullptr);
  CHECK(twice.size() == 2);
}

TEST_CASE("garbage titles are rejected, never thrown", "[acquisition][decision]") {
  Fixture f;
  for (std::string title : {std::string(), std::string("   "), std::string("\xff\xfe - \xc3\x28 [EPUB]"),
                            std::string("Ann Leckie - \xed\xa0\x80\xff"), std::string(4096, '-'),
                            std::string("- [EPUB]"), std::string("\0\0 - \0", 6), std::string("[[[((({{{")}) {
    INFO(title);
    ReleaseDecision d;
    REQUIRE_NOTHROW(d = decide_one(release(title), f.ctx));
    CHECK_FALSE(d.approved());
    CHECK(d.book_id == 0);
  }
  // Without books: rejected too.
  DecisionContext none;
  CHECK(kinds(decide_one(release("Ann Leckie - Ancillary Justice [EPUB]"), none)) ==
        std::vector{RejectionKind::unparsable});
  // decide keeps the order and decides each.
  const auto all = decide({release(""), release("Ann Leckie - Ancillary Justice [EPUB]")}, f.ctx);
  REQUIRE(all.size() == 2);
  CHECK_FALSE(all[0].approved());
  CHECK(all[1].approved());
}

TEST_CASE("best_per_book: format, seeders, indexer priority, date, size", "[acquisition][decision]") {
  Fixture f;
  const auto now = system_clock::now();
  std::vector<IndexedRelease> in;
  auto add = [&](std::string title, IndexerKind kind, std::optional<int> seeders, RowId indexer,
                 std::optional<TimePoint> date, std::int64_t size) {
    auto r = release(std::move(title), kind, size, seeders);
    r.indexer_id = indexer;
    r.release.publish_date = date;
    in.push_back(r);
  };
  // Dune: the epub wins over a better-seeded mobi.
  add("Frank Herbert - Dune [MOBI]", IndexerKind::torznab, 100, 1, now, 1000);  // 0
  add("Frank Herbert - Dune [EPUB]", IndexerKind::torznab, 5, 1, now, 1000);    // 1
  // Justice: two epubs by seeders.
  add("Ann Leckie - Ancillary Justice [EPUB]", IndexerKind::torznab, 5, 1, now, 1000);    // 2
  add("Ann Leckie - Ancillary Justice [EPUB] x", IndexerKind::torznab, 9, 1, now, 1000);  // 3
  // Jane Eyre: usenet, by indexer priority (indexer 2 has priority 10, indexer 1 the default 25).
  add("Charlotte Bronte - Jane Eyre [EPUB]", IndexerKind::newznab, {}, 1, now, 1000);     // 4
  add("Charlotte Bronte - Jane Eyre [EPUB] v2", IndexerKind::newznab, {}, 2, now, 1000);  // 5
  // Mercy (pdf on disk): by date, then size.
  add("Ann Leckie - Ancillary Mercy [EPUB]", IndexerKind::newznab, {}, 1, now - hours(5), 1000);    // 6
  add("Ann Leckie - Ancillary Mercy [EPUB] a", IndexerKind::newznab, {}, 1, now - hours(1), 1000);  // 7
  add("Ann Leckie - Ancillary Mercy [EPUB] b", IndexerKind::newznab, {}, 1, now - hours(1), 2000);  // 8
  add("Ann Leckie - Ancillary Mercy [EPUB] c", IndexerKind::newznab, {}, 1, std::nullopt, 9000);    // 9
  // Rejected ones are never picked; an audio release of Dune is picked beside its ebook.
  add("Frank Herbert - Dune [CBZ]", IndexerKind::torznab, 500, 1, now, 1000);             // 10
  add("Frank Herbert - Dune (Unabridged) [M4B]", IndexerKind::torznab, 3, 1, now, 1000);  // 11
  const auto decisions = decide(in, f.ctx);
  for (std::size_t i = 0; i < decisions.size(); ++i) {
    INFO(i << " " << decisions[i].release.title);
    CHECK(decisions[i].approved() == (i != 10));
  }
  const auto best = best_per_book(decisions, {{2, 10}});
  // Best first: the epubs (rank 0) and the m4b (rank 0), then by seeders (torrents 9, 5, 3;
  // usenet none), priority (10 before 25), date.
  CHECK(best == std::vector<std::size_t>{3, 1, 11, 5, 8});
  CHECK(best_per_book({}).empty());
}

TEST_CASE("WantedBooks::load reads a real SQLite catalog", "[acquisition][decision]") {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path() / "books");
  auto cat = open_sqlite_catalog({dir.path() / "catalog.db"});
  REQUIRE(cat.has_value());
  Catalog& c = **cat;
  const auto root = c.add_root_folder(dir.path() / "books", "Books").value();

  auto author = [&](std::string id, std::string name, bool monitored, std::filesystem::path path) {
    Author a;
    a.foreign_id = std::move(id);
    a.name = std::move(name);
    a.monitored = monitored;
    a.root_folder_id = path_is_under(catalog_path(path), catalog_path(root.path)) ? root.id : 0;
    a.path = std::move(path);
    return c.add_author(a).value().id;
  };
  auto book = [&](RowId a, std::string id, std::string title, bool monitored, std::optional<Date> date) {
    BookWrite w;
    w.book.author_id = a;
    w.book.foreign_id = std::move(id);
    w.book.title = std::move(title);
    w.book.monitored = monitored;
    w.book.release_date = date;
    return c.add_book(w).value().id;
  };
  auto file = [&](RowId a, RowId b, std::filesystem::path path, std::string format) {
    BookFile f;
    f.author_id = a;
    f.book_id = b;
    f.path = std::move(path);
    f.format = std::move(format);
    f.size = 1000;
    REQUIRE(c.upsert_file(f).has_value());
  };
  const RowId ann = author("a1", "Ann Leckie", true, root.path / "Ann Leckie");
  const RowId quiet = author("a2", "Quiet Author", false, root.path / "Quiet Author");
  const RowId elsewhere = author("a3", "Élodie Elsewhere", true, dir.path() / "other" / "Elodie");
  const RowId justice = book(ann, "b1", "Ancillary Justice", true, Date(year(2013) / October / 1));
  const RowId sword = book(ann, "b2", "Ancillary Sword", true, std::nullopt);
  const RowId off = book(ann, "b3", "Provenance", false, std::nullopt);
  const RowId q = book(quiet, "b4", "Hushed", true, std::nullopt);
  const RowId e = book(elsewhere, "b5", "Far Away", true, Date(year(2001) / January / 5));
  file(ann, sword, root.path / "Ann Leckie" / "Ancillary Sword" / "sword.epub", "epub");
  file(ann, sword, root.path / "Ann Leckie" / "Ancillary Sword" / "sword.mp3", "MP3");
  file(0, 0, root.path / "unmapped.pdf", "pdf");
  file(elsewhere, e, dir.path() / "other" / "Elodie" / "far.pdf", "pdf");

  const auto start = steady_clock::now();
  auto loaded = WantedBooks::load(c);
  REQUIRE(loaded.has_value());
  CHECK(steady_clock::now() - start < seconds(5));
  const WantedBooks& w = *loaded;
  CHECK(w.size() == 5);
  REQUIRE(w.book(justice) != nullptr);
  CHECK(w.book(justice)->year == 2013);
  CHECK(w.book(justice)->monitored);
  CHECK(w.book(justice)->author_name == "Ann Leckie");
  CHECK(w.book(justice)->file_formats.empty());
  auto formats = w.book(sword)->file_formats;
  std::sort(formats.begin(), formats.end());
  CHECK(formats == std::vector<std::string>{"epub", "mp3"});
  CHECK_FALSE(w.book(sword)->year);
  CHECK_FALSE(w.book(off)->monitored);
  CHECK_FALSE(w.book(q)->monitored);                                  // its author is not monitored
  CHECK(w.book(e)->file_formats == std::vector<std::string>{"pdf"});  // outside every root folder
  CHECK(w.book(e)->year == 2001);
  CHECK(w.knows_author("Elodie Elsewhere"));
  CHECK(w.find("leckie, ann", "ancillary sword")->book_id == sword);

  DecisionContext ctx;
  ctx.books = &w;
  ctx.protocols = {"usenet"};
  CHECK(decide_one(release("Ann Leckie - Ancillary Justice [EPUB]"), ctx).approved());
  CHECK(has(decide_one(release("Ann Leckie - Ancillary Sword [EPUB]"), ctx), RejectionKind::not_wanted));
  CHECK(decide_one(release("Ann Leckie - Ancillary Sword [M4B]"), ctx).approved());  // mp3 -> m4b
  CHECK(has(decide_one(release("Quiet Author - Hushed [EPUB]"), ctx), RejectionKind::not_wanted));
  CHECK(decide_one(release("Elodie Elsewhere - Far Away [EPUB]"), ctx).approved());
}

TEST_CASE("ReleaseRejections keeps one rejection inline and more on the heap, in order", "[decision]") {
  ReleaseRejections list;
  CHECK(list.empty());
  list.push_back({RejectionKind::size, "Size 60 MB is above the limit of 50 MB", false});
  REQUIRE(list.size() == 1);
  CHECK(list.front().reason == "Size 60 MB is above the limit of 50 MB");
  for (int i = 0; i < 5; ++i)
    list.push_back(
        {RejectionKind::min_seeders, "reason " + std::to_string(i) + std::string(100, 'x'), i == 4});
  REQUIRE(list.size() == 6);
  CHECK(list.front().kind == RejectionKind::size);
  CHECK(list[3].reason.find("reason 2") == 0);
  CHECK(list.back().temporary);
  const ReleaseRejections copy = list;
  REQUIRE(copy.size() == 6);
  CHECK(copy[5].reason == list[5].reason.view());
  std::size_t n = 0;
  for (const auto& r : copy) n += r.reason.empty() ? 0 : 1;
  CHECK(n == 6);
  list.clear();
  CHECK(list.empty());
  CHECK(list.begin() == list.end());
  CHECK(copy.size() == 6);
}

}  // namespace release_decision_test

// SPDX-License-Identifier: MIT
// The library scan on real files in temporary folders: every layout and exclusion, files read,
// matched and left unmapped with a reason, unchanged files left unopened, changed files read
// again, files gone from disk removed, and roots that are missing or empty left alone.

#include <sys/stat.h>

#include <fstream>

#include <catch2/catch.hpp>

#include "book_samples.hpp"
#include "scan_library.hpp"
#include "shelfjobs/services/library_scan.hpp"
#include "test_support.hpp"

using namespace shelfjobs;
using namespace testing;
namespace fs = std::filesystem;
namespace bk = book_samples;

// The whole file in a namespace of its own: the unity build compiles several test files as one
// translation unit, and their helpers must not meet.
namespace library_scan_test {

using book_samples::spec;

// The standard layout of three authors' files, plus what a scan must pass over.
void lay_out(ScanLibrary& lib) {
  const fs::path& r = lib.root;
  // Matched by ISBN, whatever the tags say of the title.
  bk::make_epub(r / "Ann Leckie/Ancillary Justice/Ann Leckie - Ancillary Justice.epub",
                spec("AJ (tagged oddly)", "Ann Leckie", "978-0-316-24662-0"));
  // Matched by author and title from the MOBI's EXTH.
  bk::make_mobi(r / "Ann Leckie/Ancillary Sword/Ann Leckie - Ancillary Sword.mobi",
                spec("Ancillary Sword", "Ann Leckie"));
  // An audiobook: album and album artist.
  bk::make_mp3(r / "Ada Palmer/Too Like the Lightning/01.mp3", spec("Too Like the Lightning", "Ada Palmer"));
  // An author the catalog does not know.
  bk::make_pdf(r / "Susanna Clarke/Piranesi/Susanna Clarke - Piranesi.pdf",
               spec("Piranesi", "Susanna Clarke"));
  // Not a zip: unreadable, recorded with the reason, matched from its name.
  bk::write_file(r / "Ada Palmer/Seven Surrenders.epub", "this is not a zip");
  // Passed over.
  bk::make_epub(r / "Ann Leckie/extras/bonus.epub", spec("Bonus", "Ann Leckie"));
  bk::make_epub(r / "Ann Leckie/@eaDir/thumb.epub", spec("Thumb", "Ann Leckie"));
  bk::make_epub(r / ".hidden/x.epub", spec("X", "Ann Leckie"));
  bk::write_file(r / "Ann Leckie/._Ancillary Sword.mobi", "resource fork");
  bk::write_file(r / "Ann Leckie/Thumbs.db", "x");
  bk::write_file(r / "Ann Leckie/notes.txt", "not a book");
  bk::write_file(r / "Ann Leckie/partial.epub.partial~", "half");
}

void set_mtime(const fs::path& p, fs::file_time_type t) { fs::last_write_time(p, t); }

TEST_CASE("a full scan reads, matches and records every book file and passes over the rest", "[scan]") {
  ScanLibrary lib;
  lay_out(lib);
  const ScanSummary s = lib.rescan();
  CHECK(s.files == 5);
  CHECK(s.added == 5);
  CHECK(s.unmapped == 2);    // Piranesi (unknown author), Seven Surrenders (no such book)
  CHECK(s.unreadable == 1);  // the fake EPUB
  CHECK(s.removed == 0);
  CHECK(s.folders == 3);
  CHECK(s.skipped_roots.empty());

  const fs::path& r = lib.root;
  const BookFile aj = lib.row(r / "Ann Leckie/Ancillary Justice/Ann Leckie - Ancillary Justice.epub");
  CHECK(aj.book_id == lib.justice);
  CHECK(aj.author_id == lib.leckie);
  CHECK(aj.edition_id != 0);  // the ISBN named the edition
  CHECK(aj.isbn13 == "9780316246620");
  CHECK(aj.format == "epub");
  CHECK(aj.unmapped_reason.empty());

  CHECK(lib.row(r / "Ann Leckie/Ancillary Sword/Ann Leckie - Ancillary Sword.mobi").book_id == lib.sword);
  const BookFile audio = lib.row(r / "Ada Palmer/Too Like the Lightning/01.mp3");
  CHECK(audio.book_id == lib.lightning);
  CHECK(audio.format == "mp3");

  const BookFile piranesi = lib.row(r / "Susanna Clarke/Piranesi/Susanna Clarke - Piranesi.pdf");
  CHECK(piranesi.book_id == 0);
  CHECK(piranesi.unmapped_reason == "author 'Susanna Clarke' is not in the library");

  const BookFile broken = lib.row(r / "Ada Palmer/Seven Surrenders.epub");
  CHECK_THAT(broken.read_error, Catch::Contains("not a zip"));
  CHECK(broken.author_id == lib.palmer);  // from its author folder
  CHECK(broken.unmapped_reason == "no book of 'Ada Palmer' is titled 'Seven Surrenders'");

  for (const char* skipped :
       {"Ann Leckie/extras/bonus.epub", "Ann Leckie/@eaDir/thumb.epub", ".hidden/x.epub",
        "Ann Leckie/._Ancillary Sword.mobi", "Ann Leckie/partial.epub.partial~"})
    CHECK_FALSE(lib.has_row(r / skipped));
  CHECK(lib.catalog->counts().value().files == 5);
  CHECK(lib.added.size() == 3);  // BookFileAdded for the three linked files
  CHECK_THAT(s.message(),
             Catch::Contains("5 new") && Catch::Contains("2 unmapped") && Catch::Contains("1 unreadable"));
  REQUIRE(lib.scan->last_scan());
  CHECK(lib.scan->last_scan()->files == 5);
}

TEST_CASE("a rescan leaves unchanged files unopened and reads changed ones again", "[scan]") {
  ScanLibrary lib;
  lay_out(lib);
  lib.rescan();
  const fs::path sword = lib.root / "Ann Leckie/Ancillary Sword/Ann Leckie - Ancillary Sword.mobi";
  const auto size = fs::file_size(sword);
  const auto mtime = fs::last_write_time(sword);
  // Same size, same mtime, garbage inside: only a scan that opens the file can tell.
  bk::write_file(sword, std::string(size, 'x'));
  set_mtime(sword, mtime);

  SECTION("known (the default): not opened") {
    const ScanSummary s = lib.rescan();
    CHECK(s.unchanged == 5);
    CHECK(s.changed == 0);
    CHECK(s.added == 0);
    CHECK(lib.row(sword).book_id == lib.sword);
    CHECK(lib.row(sword).read_error.empty());
  }
  SECTION("all: every file read again") {
    RescanFolders c;
    c.filter = ScanFilter::all;
    const ScanSummary s = lib.rescan(c);
    CHECK(s.changed == 5);
    CHECK_THAT(lib.row(sword).read_error, Catch::Contains("MOBI"));
    // Read errors keep what an earlier read found: the file is still linked.
    CHECK(lib.row(sword).book_id == lib.sword);
  }
  SECTION("a new size is a change") {
    bk::make_mobi(sword, spec("Ancillary Sword", "Ann Leckie"), {.padding_record = 100});
    const ScanSummary s = lib.rescan();
    CHECK(s.changed == 1);
    CHECK(s.unchanged == 4);
    CHECK(lib.row(sword).read_error.empty());
    CHECK(lib.row(sword).size == static_cast<std::int64_t>(fs::file_size(sword)));
  }
}

TEST_CASE("files gone from disk leave the catalog with BookFileDeleted", "[scan]") {
  ScanLibrary lib;
  lay_out(lib);
  lib.rescan();
  const fs::path sword = lib.root / "Ann Leckie/Ancillary Sword/Ann Leckie - Ancillary Sword.mobi";
  const BookFile row = lib.row(sword);
  fs::remove(sword);
  fs::remove_all(lib.root / "Susanna Clarke");  // a whole author folder
  const ScanSummary s = lib.rescan();
  CHECK(s.removed == 2);
  CHECK_FALSE(lib.has_row(sword));
  CHECK_FALSE(lib.has_row(lib.root / "Susanna Clarke/Piranesi/Susanna Clarke - Piranesi.pdf"));
  REQUIRE(lib.deleted.size() == 2);
  const auto it = std::find_if(lib.deleted.begin(), lib.deleted.end(),
                               [&](const BookFileDeleted& e) { return e.file.path == sword; });
  REQUIRE(it != lib.deleted.end());
  CHECK(it->file.book_id == lib.sword);
  CHECK(it->file.id == row.id);
  CHECK(it->reason == "missing from disk");
  CHECK(lib.catalog->counts().value().files == 3);
}

TEST_CASE("a missing or empty root folder is skipped and nothing under it is removed", "[scan]") {
  ScanLibrary lib;
  lay_out(lib);
  lib.rescan();
  const auto before = lib.catalog->counts().value().files;
  SECTION("missing (an unmounted drive)") {
    fs::rename(lib.root, lib.dir.path() / "elsewhere");
    const ScanSummary s = lib.rescan();
    REQUIRE(s.skipped_roots.size() == 1);
    CHECK_THAT(s.skipped_roots[0],
               Catch::Contains("does not exist") && Catch::Contains("nothing under it was changed"));
  }
  SECTION("empty (a mount point without its drive)") {
    const auto checks = lib.scan->health_checks();
    REQUIRE(checks.size() == 1);
    CHECK(checks[0].name == "LibraryScanCheck");
    CHECK(checks[0].run().empty());
    fs::rename(lib.root, lib.dir.path() / "elsewhere");
    fs::create_directories(lib.root);
    const ScanSummary s = lib.rescan();
    REQUIRE(s.skipped_roots.size() == 1);
    CHECK_THAT(s.skipped_roots[0], Catch::Contains("empty"));
    // The catalog has two authors there: health says so until a scan finds the files again.
    const auto issues = checks[0].run();
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].level == HealthIssue::Level::warning);
    CHECK_THAT(issues[0].message, Catch::Contains(lib.root.string()) &&
                                      Catch::Contains("2 authors live there") && Catch::Contains("mounted"));
    fs::remove(lib.root);
    fs::rename(lib.dir.path() / "elsewhere", lib.root);
    lib.rescan();
    CHECK(checks[0].run().empty());
  }
  SECTION("empty, then removed from the library: no more warning") {
    const auto checks = lib.scan->health_checks();
    fs::rename(lib.root, lib.dir.path() / "elsewhere");
    fs::create_directories(lib.root);
    lib.rescan();
    REQUIRE(checks[0].run().size() == 1);
    const RowId root_id = lib.catalog->root_folders().value().at(0).id;
    REQUIRE(lib.catalog->remove_root_folder(root_id).has_value());
    CHECK(checks[0].run().empty());
    REQUIRE(lib.catalog->add_root_folder(lib.root).has_value());  // back, still empty: warned again
    CHECK(checks[0].run().size() == 1);
    fs::remove(lib.root);
    fs::rename(lib.dir.path() / "elsewhere", lib.root);
  }
  CHECK(lib.catalog->counts().value().files == before);
  CHECK(lib.deleted.empty());
}

TEST_CASE("an empty root without authors is no health issue (a new library)", "[scan]") {
  TempDir dir;
  auto catalog = open_sqlite_catalog({dir.path() / "catalog.db"}).value();
  fs::create_directories(dir.path() / "new");
  REQUIRE(catalog->add_root_folder(dir.path() / "new"));
  auto scan = LibraryScanService::create({.catalog = catalog, .logger = quiet_logger()}).value();
  REQUIRE(scan->rescan({}).value().skipped_roots.size() == 1);
  CHECK(scan->health_checks()[0].run().empty());
}

TEST_CASE("rescanning one author's folder leaves the rest of the library alone", "[scan]") {
  ScanLibrary lib;
  lay_out(lib);
  lib.rescan();
  // Both authors lose a file; only Ann Leckie is rescanned.
  fs::remove(lib.root / "Ann Leckie/Ancillary Sword/Ann Leckie - Ancillary Sword.mobi");
  fs::remove(lib.root / "Ada Palmer/Too Like the Lightning/01.mp3");
  RescanFolders c;
  c.authorIds = {lib.leckie};
  const ScanSummary s = lib.rescan(c);
  CHECK(s.folders == 1);
  CHECK(s.files == 1);
  CHECK(s.removed == 1);
  CHECK(lib.has_row(lib.root / "Ada Palmer/Too Like the Lightning/01.mp3"));

  SECTION("an author whose root folder was removed is named and skipped; the others are scanned") {
    const fs::path elsewhere = lib.dir.path() / "elsewhere";
    fs::create_directories(elsewhere / "Bo Other");
    const RootFolder second = lib.catalog->add_root_folder(elsewhere).value();
    Author bo;
    bo.foreign_id = "a9";
    bo.name = "Bo Other";
    bo.path = elsewhere / "Bo Other";
    bo.root_folder_id = second.id;
    const RowId orphan = lib.catalog->add_author(bo).value().id;
    REQUIRE(lib.catalog->remove_root_folder(second.id).has_value());
    RescanFolders both;
    both.authorIds = {orphan, lib.palmer};
    auto r = lib.scan->rescan(both);
    REQUIRE(r.has_value());
    CHECK(r->folders == 1);
    CHECK(r->removed == 1);  // Ada Palmer's file
    REQUIRE(r->skipped_roots.size() == 1);
    CHECK_THAT(r->skipped_roots[0], Catch::Contains("Bo Other") && Catch::Contains("in no root folder"));
  }
  SECTION("a folder by path, and a folder in no root folder") {
    RescanFolders f;
    f.folders = {(lib.root / "Ada Palmer").string()};
    CHECK(lib.rescan(f).removed == 1);
    f.folders = {(lib.dir.path() / "nowhere").string()};
    auto r = lib.scan->rescan(f);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_argument);
    CHECK_THAT(r.error().message, Catch::Contains("in no root folder"));
    f.folders = {"relative/path"};
    CHECK(lib.scan->rescan(f).error().code == errc::invalid_argument);
  }
}

TEST_CASE("matched: an unmapped file is matched again without being opened", "[scan]") {
  ScanLibrary lib;
  lay_out(lib);
  lib.rescan();
  const fs::path piranesi = lib.root / "Susanna Clarke/Piranesi/Susanna Clarke - Piranesi.pdf";
  REQUIRE(lib.row(piranesi).book_id == 0);
  const RowId clarke = lib.add_author("a3", "Susanna Clarke");
  const RowId book = lib.add_book(clarke, "w9", "Piranesi");
  RescanFolders c;
  c.filter = ScanFilter::matched;
  const ScanSummary s = lib.rescan(c);
  CHECK(s.changed == 1);
  CHECK(lib.row(piranesi).book_id == book);
  CHECK(lib.row(piranesi).unmapped_reason.empty());
  CHECK(lib.added.back().file.path == piranesi);
}

TEST_CASE("a metadata.opf beside a file says more than the file's tags", "[scan]") {
  ScanLibrary lib;
  const fs::path folder = lib.root / "Ann Leckie/Ancillary Sword (7)";
  bk::make_epub(folder / "Ancillary Sword - Ann Leckie.epub", spec("Untitled", "Unknown"));
  bk::make_opf_sidecar(folder, spec("Ancillary Sword", "Ann Leckie"));
  bk::write_file(folder / "cover.jpg", bk::cover_jpeg_bytes());
  lib.rescan();
  const BookFile f = lib.row(folder / "Ancillary Sword - Ann Leckie.epub");
  CHECK(f.book_id == lib.sword);
  CHECK(f.title == "Ancillary Sword");
  CHECK(lib.catalog->counts().value().files == 1);  // the sidecars are no book files
}

TEST_CASE("RescanFolders reads Readarr's command JSON", "[scan]") {
  auto parse = [](const char* text) { return nlohmann::json::parse(text).get<RescanFolders>(); };
  auto c = parse(R"({"folders":["/b"],"filter":"Matched","addNewAuthors":true,"authorIds":[3]})");
  CHECK(c.folders == std::vector<std::string>{"/b"});
  CHECK(c.filter == ScanFilter::matched);
  CHECK(c.addNewAuthors);
  CHECK(c.authorIds == std::vector<RowId>{3});
  CHECK(parse(R"({})").filter == ScanFilter::known);
  CHECK(parse(R"({"filter":"none"})").filter == ScanFilter::all);
  CHECK(parse(R"({"filter":0})").filter == ScanFilter::all);
  CHECK(parse(R"({"filter":2})").filter == ScanFilter::matched);
  CHECK_THROWS_WITH(parse(R"({"filter":"sometimes"})"), Catch::Contains("filter"));
  CHECK_THROWS_WITH(parse(R"({"filter":9})"), Catch::Contains("filter"));
  CHECK(nlohmann::json(c)["filter"] == "matched");
}

}  // namespace library_scan_test

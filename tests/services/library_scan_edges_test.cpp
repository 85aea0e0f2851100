// SPDX-License-Identifier: MIT
// The library scan's edges, each through RescanFolders (LibraryScanService::rescan, or a job
// on a ServiceHost) on a real catalog and real files: a folder that cannot be read keeps its
// files' rows while the rest is scanned; a scan cancelled part-way removes nothing after the
// cancel and leaves a catalog the next scan completes; a root folder that is a Calibre library
// is read from its metadata.db; a file moved between folders; names that are not UTF-8; a file
// rewritten in place with another title.

#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <set>
#include <sstream>

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include "book_samples.hpp"
#include "file_tree.hpp"
#include "scan_library.hpp"
#include "shelfjobs/adapters/library_walk.hpp"
#include "shelfjobs/services/library_scan.hpp"
#include "test_support.hpp"

using namespace shelfjobs;
using namespace testing;
namespace fs = std::filesystem;
namespace bk = book_samples;

// The whole file in a namespace of its own: the unity build compiles several test files as one
// translation unit, and their helpers must not meet.
namespace library_scan_edges_test {

using book_samples::spec;

// The three files most cases start from.
struct EdgeLibrary : ScanLibrary {
  using ScanLibrary::ScanLibrary;

  fs::path justice_file() const {
    return root / "Ann Leckie/Ancillary Justice/Ann Leckie - Ancillary Justice.epub";
  }
  fs::path sword_file() const {
    return root / "Ann Leckie/Ancillary Sword/Ann Leckie - Ancillary Sword.mobi";
  }
  fs::path lightning_file() const { return root / "Ada Palmer/Too Like the Lightning/01.mp3"; }

  void lay_out() {
    bk::make_epub(justice_file(), spec("Ancillary Justice", "Ann Leckie", "978-0-316-24662-0"));
    bk::make_mobi(sword_file(), spec("Ancillary Sword", "Ann Leckie"));
    bk::make_mp3(lightning_file(), spec("Too Like the Lightning", "Ada Palmer"));
  }
};

// Every book file under `root` (what the catalog should hold after a complete scan).
std::set<std::string> files_on_disk(const fs::path& root) {
  std::set<std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it)
    if (it->is_regular_file() && book_kind_of(it->path().filename().string()))
      out.insert(it->path().string());
  return out;
}

// ---- a folder that cannot be read -----------------------------------------------------------

TEST_CASE("a folder that cannot be read is reported, its files keep their rows, the scan goes on", "[scan]") {
  EdgeLibrary lib;
  lib.lay_out();
  REQUIRE(lib.rescan().added == 3);
  const BookFile sword_row = lib.row(lib.sword_file());
  // Elsewhere in the library meanwhile: a file gone and a new one, which the scan must still see.
  fs::remove(lib.lightning_file());
  const fs::path seven = lib.root / "Ada Palmer/Seven Surrenders/Seven Surrenders.epub";
  RowId seven_book = lib.add_book(lib.palmer, "w6", "Seven Surrenders");
  bk::make_epub(seven, spec("Seven Surrenders", "Ada Palmer"));

  // As root every folder reads, so the folders are made unreadable in ways that bite for root
  // too: a link to a share that is gone (ENOENT through the link) and a link to itself (ELOOP).
  const fs::path sword_folder = lib.root / "Ann Leckie/Ancillary Sword";
  fs::path gone_folder;
  SECTION("a book folder that is a link to a share that is gone") {
    fs::rename(sword_folder, lib.dir.path() / "share");
    fs::create_directory_symlink(lib.dir.path() / "unmounted/share", sword_folder);
    gone_folder = sword_folder;
  }
  SECTION("a book folder that is a link to itself") {
    fs::remove_all(sword_folder);
    fs::create_directory_symlink("Ancillary Sword", sword_folder);
    gone_folder = sword_folder;
  }
  SECTION("a whole author folder that is a link to a share that is gone") {
    fs::rename(lib.root / "Ann Leckie", lib.dir.path() / "share");
    fs::create_directory_symlink(lib.dir.path() / "unmounted/share", lib.root / "Ann Leckie");
    gone_folder = lib.root / "Ann Leckie";
  }

  const ScanSummary s = lib.rescan();
  CHECK(s.problems == 1);
  CHECK_THAT(s.message(), Catch::Contains("1 folders or entries unreadable"));
  // Kept: the scan could not look, so it cannot say the files are gone.
  CHECK(lib.row(lib.sword_file()).id == sword_row.id);
  CHECK(lib.row(lib.sword_file()).book_id == lib.sword);
  CHECK_FALSE(lib.deleted_path(lib.sword_file()));
  if (gone_folder == lib.root / "Ann Leckie") CHECK(lib.has_row(lib.justice_file()));
  // The rest of the library was scanned.
  CHECK(s.removed == 1);
  CHECK_FALSE(lib.has_row(lib.lightning_file()));
  CHECK(lib.deleted_path(lib.lightning_file()));
  CHECK(s.added == 1);
  CHECK(lib.row(seven).book_id == seven_book);

  // The same folder scanned on its own (as the rule after a refresh scans one author's folder):
  // it is reported, nothing under it goes.
  RescanFolders one;
  one.folders = {gone_folder.string()};
  auto r = lib.scan->rescan(one);
  REQUIRE(r);
  REQUIRE(r->skipped_roots.size() == 1);
  CHECK_THAT(r->skipped_roots[0], Catch::Contains(gone_folder.string()));
  CHECK(r->removed == 0);
  CHECK(lib.has_row(lib.sword_file()));
  CHECK_FALSE(lib.deleted_path(lib.sword_file()));
}

TEST_CASE("a folder without read permission keeps its files' rows (scanned as an unprivileged user)",
          "[scan]") {
  EdgeLibrary lib;
  lib.lay_out();
  REQUIRE(lib.rescan().added == 3);
  const fs::path sword_folder = lib.root / "Ann Leckie/Ancillary Sword";
  fs::remove(lib.lightning_file());

  // Permission bits do not bite for root: the scan runs in a child process that becomes
  // nobody, which must own the library and the catalog to write it.
  const bool as_root = ::geteuid() == 0;
  if (as_root) {
    REQUIRE(::chown(lib.dir.path().c_str(), 65534, 65534) == 0);
    for (const auto& e : fs::recursive_directory_iterator(lib.dir.path()))
      REQUIRE(::lchown(e.path().c_str(), 65534, 65534) == 0);
  }
  fs::permissions(sword_folder, fs::perms::none);
  const fs::path db = lib.dir.path() / "catalog.db";
  const fs::path root = lib.root;
  const auto out = in_child(
      [&] {
        auto catalog = open_sqlite_catalog({db});
        if (!catalog) return "error " + catalog.error().message;
        auto scan = LibraryScanService::create({.catalog = *catalog, .logger = quiet_logger()});
        if (!scan) return "error " + scan.error().message;
        auto r = (*scan)->rescan({});
        if (!r) return "error " + r.error().message;
        std::ostringstream os;
        os << "problems " << r->problems << " removed " << r->removed << " files " << r->files;
        return os.str();
      },
      /*as_nobody=*/as_root);
  fs::permissions(sword_folder, fs::perms::owner_all);
  REQUIRE(out.has_value());
  CHECK(*out == "problems 1 removed 1 files 1");
  CHECK(lib.row(lib.sword_file()).book_id == lib.sword);
  CHECK(lib.has_row(lib.justice_file()));
  CHECK_FALSE(lib.has_row(lib.lightning_file()));
}

// ---- cancelled part-way -----------------------------------------------------------------------

TEST_CASE("a scan cancelled part-way removes nothing after the cancel and leaves a consistent catalog",
          "[scan]") {
  EdgeLibrary lib(/*batch=*/1);
  // Six author folders, each with a book file that stays and one that will be gone.
  std::vector<fs::path> gone;
  for (int i = 0; i < 6; ++i) {
    const std::string author = "Author " + std::to_string(i);
    bk::make_epub(lib.root / author / "Kept" / "kept.epub", spec("Kept " + std::to_string(i), author));
    gone.push_back(lib.root / author / "Gone" / "gone.epub");
    bk::make_epub(gone.back(), spec("Gone " + std::to_string(i), author));
  }
  lib.rescan();
  REQUIRE(lib.rows() == 12);
  for (const auto& p : gone) fs::remove(p);
  // A new file in every folder too: reads and writes are under way when the cancel comes.
  for (int i = 0; i < 6; ++i) {
    const std::string author = "Author " + std::to_string(i);
    bk::make_epub(lib.root / author / "New" / "new.epub", spec("New " + std::to_string(i), author));
  }

  ServiceHostOptions o;
  o.engine = {.store_path = lib.dir.file("jobs.db"), .workers = 1, .logger = quiet_logger()};
  o.events = lib.bus;
  ServiceHost::Builder builder(o);
  builder.add(lib.scan);
  auto built = builder.build();
  REQUIRE(built);
  auto& host = **built;

  // The first removal holds the scan until the test has cancelled the job: whatever the walk's
  // order, the cancel lands after exactly one author folder was finished.
  std::mutex mu;
  std::condition_variable cv;
  bool first_removal = false, cancelled = false;
  lib.bus->subscribe<BookFileDeleted>([&](const BookFileDeleted&) {
    std::unique_lock lock(mu);
    if (first_removal) return;
    first_removal = true;
    cv.notify_all();
    cv.wait_for(lock, 10s, [&] { return cancelled; });
  });
  host.start();
  auto pushed = host.engine().push(RescanFolders{});
  REQUIRE(pushed);
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, 10s, [&] { return first_removal; }));
  }
  REQUIRE(host.engine().cancel(pushed->job.id));
  {
    std::lock_guard lock(mu);
    cancelled = true;
  }
  cv.notify_all();
  REQUIRE(eventually([&] {
    auto j = host.engine().get(pushed->job.id);
    return j && j->status != JobStatus::queued && j->status != JobStatus::executing;
  }));
  CHECK(host.engine().get(pushed->job.id)->status == JobStatus::cancelled);
  host.stop();

  // One folder's removal, from before the cancel; the five other gone files keep their rows.
  CHECK(lib.deleted.size() == 1);
  std::int64_t new_rows = 0;
  for (int i = 0; i < 6; ++i)
    new_rows += lib.has_row(lib.root / ("Author " + std::to_string(i)) / "New/new.epub");
  CHECK(lib.rows() == 12 - 1 + new_rows);  // new files recorded before the cancel count too
  std::int64_t gone_rows = 0;
  for (const auto& p : gone) gone_rows += lib.has_row(p) ? 1 : 0;
  CHECK(gone_rows == 5);
  // Every row is whole: a file on disk, or one of the gone files the scan had not reached.
  for (const auto& path : lib.row_paths()) {
    const BookFile f = lib.row(path);
    CHECK(f.size > 0);
    CHECK(f.format == "epub");
    if (!fs::exists(path)) CHECK(std::find(gone.begin(), gone.end(), fs::path(path)) != gone.end());
  }
  // The next scan finishes the work: the catalog holds exactly the files on disk.
  const ScanSummary s = lib.rescan();
  CHECK(s.removed == 5);
  CHECK(lib.row_paths() == files_on_disk(lib.root));
  CHECK(lib.rows() == 12);
}

// ---- a Calibre library --------------------------------------------------------------------------

// Writes a Calibre book (its rows and its file) into the library at `root`; returns the file.
fs::path calibre_book(SQLite::Database& db, const fs::path& root, const std::string& title,
                      const std::string& author, const std::string& isbn, const bk::BookSpec& tags) {
  SQLite::Statement a(db, "INSERT OR IGNORE INTO authors(name, sort) VALUES (?, ?)");
  a.bind(1, author);
  a.bind(2, author);
  a.exec();
  const std::string folder = author + "/" + title + " (" + std::to_string(db.getLastInsertRowid() + 1) + ")";
  SQLite::Statement b(db, "INSERT INTO books(title, sort, path, isbn) VALUES (?, ?, ?, ?)");
  b.bind(1, title);
  b.bind(2, title);
  b.bind(3, folder);
  b.bind(4, isbn);
  b.exec();
  const auto book = db.getLastInsertRowid();
  SQLite::Statement l(
      db, "INSERT INTO books_authors_link(book, author) SELECT ?, id FROM authors WHERE name = ?");
  l.bind(1, static_cast<std::int64_t>(book));
  l.bind(2, author);
  l.exec();
  const std::string name = title + " - " + author;
  const fs::path file = root / folder / (name + ".epub");
  bk::make_epub(file, tags);
  SQLite::Statement d(db, "INSERT INTO data(book, format, uncompressed_size, name) VALUES (?, 'EPUB', ?, ?)");
  d.bind(1, static_cast<std::int64_t>(book));
  d.bind(2, static_cast<std::int64_t>(fs::file_size(file)));
  d.bind(3, name);
  d.exec();
  return file;
}

TEST_CASE("a root folder that is a Calibre library is scanned from its metadata.db", "[scan]") {
  EdgeLibrary lib(3, "Calibre Library");
  fs::path justice, piranesi;
  {
    SQLite::Database db((lib.root / "metadata.db").string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec(book_samples::calibre_schema());
    // The files' own tags say nothing useful: the match comes from Calibre's data.
    justice = calibre_book(db, lib.root, "Ancillary Justice", "Ann Leckie", "9780316246620",
                           spec("Untitled", "Unknown"));
    piranesi = calibre_book(db, lib.root, "Piranesi", "Susanna Clarke", "", spec("Untitled", "Unknown"));
  }
  // A file Calibre does not list is not the library's.
  bk::make_epub(lib.root / "Ann Leckie/stray.epub", spec("Ancillary Sword", "Ann Leckie"));

  RescanFolders c;
  c.folders = {lib.root.string()};
  const ScanSummary s = lib.rescan(c);
  CHECK(s.files == 2);
  CHECK(s.added == 2);
  CHECK(s.unmapped == 1);
  CHECK(s.skipped_roots.empty());
  const BookFile j = lib.row(justice);
  CHECK(j.book_id == lib.justice);
  CHECK(j.edition_id != 0);  // by the ISBN Calibre keeps
  CHECK(j.title == "Ancillary Justice");
  CHECK(j.author == "Ann Leckie");
  CHECK(j.format == "epub");
  CHECK(j.size == static_cast<std::int64_t>(fs::file_size(justice)));
  CHECK(lib.row(piranesi).book_id == 0);
  CHECK(lib.row(piranesi).unmapped_reason == "author 'Susanna Clarke' is not in the library");
  CHECK_FALSE(lib.has_row(lib.root / "Ann Leckie/stray.epub"));
  REQUIRE(lib.added.size() == 1);
  CHECK(lib.added[0].file.path == justice);

  // Again: nothing read again; a file gone from disk leaves.
  fs::remove(piranesi);
  const ScanSummary again = lib.rescan();
  CHECK(again.unchanged == 1);
  CHECK(again.removed == 1);
  CHECK(again.added == 0);
  CHECK_FALSE(lib.has_row(piranesi));
  CHECK(lib.row(justice).book_id == lib.justice);
}

// ---- a file moved -----------------------------------------------------------------------------

TEST_CASE("a file moved to another folder between scans: the old row goes, the new one is matched",
          "[scan]") {
  EdgeLibrary lib;
  lib.lay_out();
  lib.rescan();
  const BookFile before = lib.row(lib.justice_file());
  lib.added.clear();

  fs::path to;
  SECTION("to another book folder of the same author") {
    to = lib.root / "Ann Leckie/Imperial Radch 1/AJ.epub";
  }
  SECTION("to another author's folder") { to = lib.root / "Ada Palmer/misfiled/Ancillary Justice.epub"; }
  SECTION("from an author folder to the root itself") { to = lib.root / "Ancillary Justice.epub"; }
  fs::create_directories(to.parent_path());
  fs::rename(lib.justice_file(), to);

  const ScanSummary s = lib.rescan();
  CHECK(s.removed == 1);
  CHECK(s.added == 1);
  CHECK(s.unchanged == 2);
  CHECK_FALSE(lib.has_row(lib.justice_file()));
  REQUIRE(lib.deleted.size() == 1);
  CHECK(lib.deleted[0].file.id == before.id);
  CHECK(lib.deleted[0].file.path == lib.justice_file());
  CHECK(lib.deleted[0].reason == "missing from disk");
  const BookFile moved = lib.row(to);
  CHECK(moved.book_id == lib.justice);  // by its ISBN, wherever it lies
  CHECK(moved.author_id == lib.leckie);
  REQUIRE(lib.added.size() == 1);
  CHECK(lib.added[0].file.path == to);
  CHECK(lib.rows() == 3);
  // And it stays put: the next scan changes nothing.
  const ScanSummary again = lib.rescan();
  CHECK(again.unchanged == 3);
  CHECK(again.added + again.removed + again.changed == 0);
}

// ---- names that are not UTF-8 -------------------------------------------------------------------

TEST_CASE("names that are not UTF-8 are recorded as bytes, shown with U+FFFD, and stay unchanged", "[scan]") {
  EdgeLibrary lib;
  lib.lay_out();
  // A Latin-1 book folder and file name under a known author; an author folder of bad bytes
  // holding a file that cannot be read (its name is all the scan has).
  const fs::path latin1 = lib.root / "Ann Leckie/Ancillary Sword \xe9" / "Ancillary Sword \xff\xfe.mobi";
  bk::make_mobi(latin1, spec("Ancillary Sword", "Ann Leckie"));
  const fs::path bad_author = lib.root / "Auth\xff\xfeor" / "B\xfe\xffook.epub";
  bk::write_file(bad_author, "not a zip");

  const ScanSummary s = lib.rescan();
  CHECK(s.files == 5);
  CHECK(s.added == 5);
  CHECK(s.problems == 0);
  CHECK(s.unreadable == 1);
  const BookFile l = lib.row(latin1);
  CHECK(l.path == latin1);  // the bytes, as the file system has them
  CHECK(l.book_id == lib.sword);
  const BookFile b = lib.row(bad_author);
  CHECK(b.path == bad_author);
  CHECK(b.book_id == 0);
  CHECK_FALSE(b.unmapped_reason.empty());
  CHECK_FALSE(b.read_error.empty());
  CHECK(display_path(bad_author) ==
        (lib.root / "Auth\xef\xbf\xbd\xef\xbf\xbdor/B\xef\xbf\xbd\xef\xbf\xbdook.epub").string());

  // Events and summaries are JSON a client can read: paths shown with U+FFFD.
  for (const auto& e : lib.added) {
    const std::string text = nlohmann::json(e).dump();
    CHECK(valid_utf8(text));
  }
  CHECK(valid_utf8(nlohmann::json(s).dump()));

  // The second scan sees both unchanged: no removal and re-adding of rows it cannot compare.
  lib.added.clear();
  const ScanSummary again = lib.rescan();
  CHECK(again.unchanged == 5);
  CHECK(again.added == 0);
  CHECK(again.changed == 0);
  CHECK(again.removed == 0);
  CHECK(lib.deleted.empty());
  CHECK(lib.row(latin1).id == l.id);
  CHECK(lib.row(bad_author).id == b.id);

  // Gone from disk, they leave like any other file.
  fs::remove_all(lib.root / "Auth\xff\xfeor");
  fs::remove(latin1);
  const ScanSummary gone = lib.rescan();
  CHECK(gone.removed == 2);
  CHECK_FALSE(lib.has_row(latin1));
  CHECK_FALSE(lib.has_row(bad_author));
  for (const auto& e : lib.deleted) CHECK(valid_utf8(nlohmann::json(e).dump()));
}

// ---- a file rewritten in place ----------------------------------------------------------------

TEST_CASE("a file rewritten in place with another title is read again and matched again", "[scan]") {
  EdgeLibrary lib;
  lib.lay_out();
  const fs::path file = lib.root / "Ann Leckie/Imperial Radch/book.epub";
  bk::make_epub(file, spec("Ancillary Sword", "Ann Leckie"));
  lib.rescan();
  REQUIRE(lib.row(file).book_id == lib.sword);
  const BookFile before = lib.row(file);
  lib.added.clear();

  // "Ancillary Mercy" is as long as "Ancillary Sword": the same size, only the mtime tells.
  const auto mtime = fs::last_write_time(file);
  bk::make_epub(file, spec("Ancillary Mercy", "Ann Leckie"));
  fs::last_write_time(file, mtime + std::chrono::seconds(5));
  CHECK(fs::file_size(file) == static_cast<std::uintmax_t>(before.size));

  const ScanSummary s = lib.rescan();
  CHECK(s.changed == 1);
  CHECK(s.unchanged == 3);
  CHECK(s.added == 0);
  CHECK(s.removed == 0);
  const BookFile after = lib.row(file);
  CHECK(after.id == before.id);
  CHECK(after.added == before.added);
  CHECK(after.book_id == lib.mercy);
  CHECK(after.title == "Ancillary Mercy");
  CHECK(after.mtime > before.mtime);
  REQUIRE(lib.added.size() == 1);  // linked to another book: announced
  CHECK(lib.added[0].file.book_id == lib.mercy);
  CHECK(lib.deleted.empty());

  SECTION("rewritten again as a book the catalog does not have: unmapped, with the reason") {
    bk::make_epub(file, spec("Ancillary Bread", "Ann Leckie"));
    fs::last_write_time(file, mtime + std::chrono::seconds(10));
    const ScanSummary t = lib.rescan();
    CHECK(t.changed == 1);
    CHECK(t.unmapped == 1);
    const BookFile unmapped = lib.row(file);
    CHECK(unmapped.book_id == 0);
    CHECK(unmapped.author_id == lib.leckie);
    CHECK(unmapped.unmapped_reason == "no book of 'Ann Leckie' is titled 'Ancillary Bread'");
  }
}

}  // namespace library_scan_edges_test

// SPDX-License-Identifier: MIT
// The import service on real files in temporary folders and a real catalog: each import mode,
// collisions never overwritten, the same file already there, an author without a folder, safe
// and long names, unreadable files and unknown authors rejected with their reasons, ManualImport
// overriding the match, an unmapped file of the library moved into place, the manual-import
// candidates changing nothing, the commands' JSON, a job run through a ServiceHost, the audio
// parts of one book numbered apart, and download folders removed once a move left them empty.

#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include <catch2/catch.hpp>

#include "book_samples.hpp"
#include "services/import/import_plan.hpp"
#include "shelfjobs/services/book_import.hpp"
#include "test_support.hpp"

using namespace shelfjobs;
using namespace testing;
namespace fs = std::filesystem;
namespace bk = book_samples;
using K = ImportRejection::Kind;
using R = ImportOutcome::Result;

// The whole file in a namespace of its own: the unity build compiles several test files as one
// translation unit, and their helpers must not meet.
namespace book_import_test {

using book_samples::spec;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

ino_t inode(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_ino;
}

// The SQLite catalog, whose file writes can be made to fail (as a full disk would make them).
class FlakyCatalog final : public Catalog {
 public:
  explicit FlakyCatalog(std::shared_ptr<Catalog> c) : c_(std::move(c)) {}
  std::atomic<bool> fail_files{false};

  Result<RootFolder> add_root_folder(const fs::path& p, std::string n) override {
    return c_->add_root_folder(p, n);
  }
  Result<std::vector<RootFolder>> root_folders() override { return c_->root_folders(); }
  Result<RootFolder> root_folder(RowId id) override { return c_->root_folder(id); }
  Result<RootFolder> remove_root_folder(RowId id) override { return c_->remove_root_folder(id); }
  Result<Author> add_author(Author a) override { return c_->add_author(std::move(a)); }
  Result<Author> author(RowId id) override { return c_->author(id); }
  Result<Author> author_by_foreign_id(std::string_view f) override { return c_->author_by_foreign_id(f); }
  Result<std::vector<Author>> authors() override { return c_->authors(); }
  Status remove_author(RowId id) override { return c_->remove_author(id); }
  Result<AuthorWriteResult> apply(const AuthorWrite& w) override { return c_->apply(w); }
  Result<Author> set_author_monitored(RowId id, bool m) override { return c_->set_author_monitored(id, m); }
  Result<std::int64_t> move_author(RowId id, const fs::path& p) override { return c_->move_author(id, p); }
  Result<Author> set_author_path(RowId id, const fs::path& p, bool only_if_unset) override {
    return c_->set_author_path(id, p, only_if_unset);
  }
  Result<Book> add_book(BookWrite b) override { return c_->add_book(std::move(b)); }
  Result<Book> book(RowId id) override { return c_->book(id); }
  Result<Book> book_by_foreign_id(std::string_view f) override { return c_->book_by_foreign_id(f); }
  Result<std::vector<Book>> books_of(RowId id) override { return c_->books_of(id); }
  Result<std::vector<Book>> books() override { return c_->books(); }
  Result<std::vector<Edition>> editions_of(RowId id) override { return c_->editions_of(id); }
  Result<Edition> edition(RowId id) override { return c_->edition(id); }
  Result<std::vector<SeriesLink>> series_links_of(RowId id) override { return c_->series_links_of(id); }
  Result<Series> series(RowId id) override { return c_->series(id); }
  Result<std::optional<Date>> newest_release(RowId id) override { return c_->newest_release(id); }
  Status remove_book(RowId id, const BookRemoval& also) override { return c_->remove_book(id, also); }
  Result<std::vector<Book>> set_books_monitored(const std::vector<RowId>& ids, bool m) override {
    return c_->set_books_monitored(ids, m);
  }
  Result<std::vector<Book>> set_books_monitoring(const std::vector<std::pair<RowId, bool>>& c) override {
    return c_->set_books_monitoring(c);
  }
  Result<BookFile> upsert_file(BookFile f) override { return c_->upsert_file(std::move(f)); }
  Result<BookFile> file(RowId id) override { return c_->file(id); }
  Result<BookFile> file_by_path(const fs::path& p) override { return c_->file_by_path(p); }
  Result<std::vector<BookFile>> files_of_author(RowId id) override { return c_->files_of_author(id); }
  Result<std::vector<BookFile>> files_of_book(RowId id) override { return c_->files_of_book(id); }
  Result<std::vector<BookFile>> unmapped_files() override { return c_->unmapped_files(); }
  Result<std::int64_t> file_count_of_author(RowId id) override { return c_->file_count_of_author(id); }
  Result<std::int64_t> file_count_of_book(RowId id) override { return c_->file_count_of_book(id); }
  Status for_each_file_under(const fs::path& f, const std::function<void(const BookFile&)>& fn) override {
    return c_->for_each_file_under(f, fn);
  }
  Status for_each_file_in(const fs::path& f, const std::function<void(const BookFile&)>& fn) override {
    return c_->for_each_file_in(f, fn);
  }
  Result<std::vector<std::string>> folders_with_files_under(const fs::path& f) override {
    return c_->folders_with_files_under(f);
  }
  Result<FileBatchResult> apply_files(const FileBatch& b) override {
    if (fail_files) return Error{errc::store_error, "save book files: database or disk is full"};
    return c_->apply_files(b);
  }
  Result<BookFile> remove_file(RowId id) override { return c_->remove_file(id); }
  Result<std::int64_t> unlink_orphaned_files(std::string_view r) override {
    return c_->unlink_orphaned_files(r);
  }
  Result<CatalogOrphans> remove_orphans(std::string_view r) override { return c_->remove_orphans(r); }
  Status for_each_book_identity(const std::function<void(const BookIdentity&)>& fn) override {
    return c_->for_each_book_identity(fn);
  }
  Result<BookPage> missing_books(std::int64_t p, std::int64_t n) override { return c_->missing_books(p, n); }
  Result<std::vector<Exclusion>> exclusions() override { return c_->exclusions(); }
  Result<Exclusion> exclusion(RowId id) override { return c_->exclusion(id); }
  Result<Exclusion> add_exclusion(Exclusion e) override { return c_->add_exclusion(std::move(e)); }
  Result<Exclusion> update_exclusion(Exclusion e) override { return c_->update_exclusion(std::move(e)); }
  Status remove_exclusion(RowId id) override { return c_->remove_exclusion(id); }
  Result<std::set<std::string>> excluded(const std::vector<std::string>& ids, ExclusionKind kind) override {
    return c_->excluded(ids, kind);
  }
  Result<CatalogCounts> counts() override { return c_->counts(); }
  std::int64_t rows_written() const override { return c_->rows_written(); }

 private:
  std::shared_ptr<Catalog> c_;
};

struct ImportLibrary {
  TempDir dir;
  fs::path root = dir.path() / "books";
  fs::path downloads = dir.path() / "downloads";
  std::shared_ptr<FlakyCatalog> flaky;
  std::shared_ptr<Catalog> catalog;
  std::shared_ptr<EventBus> bus = std::make_shared<EventBus>(quiet_logger());
  std::shared_ptr<ImportService> service;
  std::vector<BookFileAdded> added;
  std::vector<BookImported> imported;
  std::uint64_t sub = 0, imported_sub = 0;
  RootFolder root_folder;
  RowId leckie = 0, justice = 0, justice_edition = 0, sword = 0, palmer = 0, lightning = 0, wells = 0,
        red = 0;

  explicit ImportLibrary(ImportOptions options = {}) {
    fs::create_directories(root);
    fs::create_directories(downloads);
    flaky = std::make_shared<FlakyCatalog>(open_sqlite_catalog({dir.path() / "catalog.db"}).value());
    catalog = flaky;
    root_folder = catalog->add_root_folder(root).value();
    leckie = add_author("a1", "Ann Leckie", root / "Ann Leckie");
    justice = add_book(leckie, "w1", "Ancillary Justice", "9780316246620");
    justice_edition = catalog->editions_of(justice).value().front().id;
    sword = add_book(leckie, "w2", "Ancillary Sword");
    palmer = add_author("a2", "Ada Palmer", root / "Ada Palmer");
    lightning = add_book(palmer, "w3", "Too Like the Lightning");
    wells = add_author("a3", "Martha Wells", {});  // no folder yet
    red = add_book(wells, "w4", "All Systems Red");
    sub = bus->subscribe<BookFileAdded>([this](const BookFileAdded& e) { added.push_back(e); });
    imported_sub = bus->subscribe<BookImported>([this](const BookImported& e) { imported.push_back(e); });
    options.catalog = catalog;
    options.events = bus;
    options.logger = quiet_logger();
    options.sync = false;
    service = ImportService::create(options).value();
  }

  RowId add_author(const std::string& fid, const std::string& name, const fs::path& path) {
    Author a;
    a.foreign_id = fid;
    a.name = name;
    a.path = path;
    return catalog->add_author(a).value().id;
  }
  RowId add_book(RowId author, const std::string& fid, const std::string& title,
                 const std::string& isbn = "") {
    BookWrite w;
    w.book.author_id = author;
    w.book.foreign_id = fid;
    w.book.title = title;
    Edition e;
    e.foreign_id = fid + "-e";
    e.isbn13 = isbn;
    e.monitored = true;
    w.editions.push_back(e);
    return catalog->add_book(w).value().id;
  }

  ImportSummary scan(ImportMode mode, std::optional<std::string> client = std::nullopt, fs::path path = {}) {
    DownloadedBooksScan c;
    c.path = (path.empty() ? downloads : path).string();
    c.importMode = mode;
    c.downloadClientId = std::move(client);
    auto r = service->downloaded_books_scan(c);
    if (!r) FAIL(r.error().message);
    return *r;
  }
  ImportSummary manual(std::vector<ManualImportFile> files, ImportMode mode = ImportMode::automatic) {
    ManualImport c;
    c.files = std::move(files);
    c.importMode = mode;
    auto r = service->manual_import(c);
    if (!r) FAIL(r.error().message);
    return *r;
  }
  BookFile row(const fs::path& p) {
    auto f = catalog->file_by_path(p);
    if (!f) FAIL("no row for " << p << ": " << f.error().message);
    return *f;
  }
  bool has_row(const fs::path& p) { return catalog->file_by_path(p).has_value(); }
  std::int64_t rows() { return catalog->counts().value().files; }

  fs::path justice_dest() const {
    return root / "Ann Leckie/Ancillary Justice/Ann Leckie - Ancillary Justice.epub";
  }
  // A download of Ancillary Justice, matched by its ISBN.
  fs::path download_justice(const std::string& name = "AJ release/aj.epub") {
    const fs::path p = downloads / name;
    bk::make_epub(p, spec("Ancillary Justice (retail)", "Ann Leckie", "978-0-316-24662-0"));
    return p;
  }
};

TEST_CASE("DownloadedBooksScan moves a matched file to its named place and records it", "[import]") {
  ImportLibrary lib;
  const fs::path src = lib.download_justice();
  const std::string bytes = read(src);
  const auto before = std::chrono::system_clock::now();
  const ImportSummary s = lib.scan(ImportMode::move);

  CHECK(s.files == 1);
  CHECK(s.imported == 1);
  CHECK(s.rejected == 0);
  CHECK(s.message() == "Imported 1 of 1 files");
  REQUIRE(s.outcomes.size() == 1);
  CHECK(s.outcomes[0].action == TransferAction::renamed);
  CHECK_FALSE(fs::exists(src));
  REQUIRE(fs::exists(lib.justice_dest()));
  CHECK(read(lib.justice_dest()) == bytes);

  const BookFile f = lib.row(lib.justice_dest());
  CHECK(f.book_id == lib.justice);
  CHECK(f.author_id == lib.leckie);
  CHECK(f.edition_id == lib.justice_edition);
  CHECK(f.format == "epub");
  CHECK(f.size == static_cast<std::int64_t>(bytes.size()));
  CHECK(f.isbn13 == "9780316246620");
  CHECK(f.unmapped_reason.empty());
  CHECK(f.added >= std::chrono::time_point_cast<TimePoint::duration>(before) - std::chrono::seconds(1));
  CHECK(s.outcomes[0].file.id == f.id);
  REQUIRE(lib.added.size() == 1);
  CHECK(lib.added[0].file.id == f.id);
  REQUIRE(lib.imported.size() == 1);
  CHECK(lib.imported[0].file.id == f.id);
  CHECK(lib.imported[0].source == src);
  CHECK(lib.imported[0].action == TransferAction::renamed);
  const nlohmann::json j = lib.imported[0];
  CHECK(j["sourcePath"] == src.string());
  CHECK(j["path"] == lib.justice_dest().string());
  CHECK(j["action"] == "renamed");
  CHECK(j["bookId"] == lib.justice);
  CHECK(lib.rows() == 1);
}

TEST_CASE("each import mode transfers as it says", "[import]") {
  SECTION("copy: the source stays, the library has its own file") {
    ImportLibrary lib;
    const fs::path src = lib.download_justice();
    const ImportSummary s = lib.scan(ImportMode::copy);
    CHECK(s.imported == 1);
    CHECK(s.outcomes[0].action == TransferAction::copied);
    CHECK(fs::exists(src));
    CHECK(inode(src) != inode(lib.justice_dest()));
    CHECK(read(src) == read(lib.justice_dest()));
  }
  SECTION("hardlink: a second name for the same file") {
    ImportLibrary lib;
    const fs::path src = lib.download_justice();
    const ImportSummary s = lib.scan(ImportMode::hardlink);
    CHECK(s.outcomes[0].action == TransferAction::hardlinked);
    CHECK(fs::exists(src));
    CHECK(inode(src) == inode(lib.justice_dest()));
    CHECK(fs::hard_link_count(src) == 2);
  }
  SECTION("move") {
    ImportLibrary lib;
    const fs::path src = lib.download_justice();
    CHECK(lib.scan(ImportMode::move).outcomes[0].action == TransferAction::renamed);
    CHECK_FALSE(fs::exists(src));
  }
  SECTION("auto without a download client: the service's default mode (move)") {
    ImportLibrary lib;
    const fs::path src = lib.download_justice();
    CHECK(lib.scan(ImportMode::automatic).outcomes[0].action == TransferAction::renamed);
    CHECK_FALSE(fs::exists(src));
  }
  SECTION("auto without a download client, default copy") {
    ImportLibrary lib({.default_mode = ImportMode::copy});
    const fs::path src = lib.download_justice();
    CHECK(lib.scan(ImportMode::automatic).outcomes[0].action == TransferAction::copied);
    CHECK(fs::exists(src));
  }
  SECTION("auto with a download client: hardlinked, the download keeps seeding") {
    ImportLibrary lib;
    const fs::path src = lib.download_justice();
    CHECK(lib.scan(ImportMode::automatic, "qbit-1").outcomes[0].action == TransferAction::hardlinked);
    CHECK(inode(src) == inode(lib.justice_dest()));
  }
  SECTION("the transfer mode table") {
    using import::transfer_mode;
    CHECK(transfer_mode(ImportMode::move, true, ImportMode::copy, false) == TransferMode::move);
    CHECK(transfer_mode(ImportMode::copy, false, ImportMode::move, false) == TransferMode::copy);
    CHECK(transfer_mode(ImportMode::hardlink, false, ImportMode::move, false) ==
          TransferMode::hardlink_or_copy);
    CHECK(transfer_mode(ImportMode::automatic, true, ImportMode::move, false) ==
          TransferMode::hardlink_or_copy);
    CHECK(transfer_mode(ImportMode::automatic, false, ImportMode::hardlink, false) ==
          TransferMode::hardlink_or_copy);
    // A file of the library is always moved.
    CHECK(transfer_mode(ImportMode::copy, false, ImportMode::move, true) == TransferMode::move);
    CHECK(transfer_mode(ImportMode::automatic, true, ImportMode::copy, true) == TransferMode::move);
  }
}

TEST_CASE("a different file at the destination is never overwritten", "[import]") {
  ImportLibrary lib;
  const fs::path src = lib.download_justice();
  bk::write_file(lib.justice_dest(), "someone else's file");
  const ImportSummary s = lib.scan(ImportMode::move);
  CHECK(s.imported == 0);
  CHECK(s.rejected == 1);
  REQUIRE(s.outcomes[0].rejections.size() == 1);
  CHECK(s.outcomes[0].rejections[0].kind == K::destination_exists);
  CHECK(s.outcomes[0].rejections[0].reason ==
        "a different file is already at " + lib.justice_dest().string());
  CHECK(s.message() == "Imported 0 of 1 files, 1 rejected (aj.epub: a different file is already at " +
                           lib.justice_dest().string() + ")");
  CHECK(read(lib.justice_dest()) == "someone else's file");
  CHECK(fs::exists(src));
  CHECK(lib.rows() == 0);
  CHECK(lib.added.empty());
  CHECK(lib.imported.empty());
}

TEST_CASE("nothing is imported into an author folder whose root folder was removed", "[import]") {
  // Nothing scans or deletes there any more (LibraryService::remove_root_folder).
  ImportLibrary lib;
  const fs::path src = lib.download_justice();
  REQUIRE(lib.catalog->remove_root_folder(lib.root_folder.id).has_value());
  const ImportSummary s = lib.scan(ImportMode::move);
  CHECK(s.imported == 0);
  REQUIRE(s.outcomes.size() == 1);
  REQUIRE(s.outcomes[0].rejections.size() == 1);
  CHECK(s.outcomes[0].rejections[0].kind == K::no_root_folder);
  CHECK_THAT(s.outcomes[0].rejections[0].reason, Catch::Contains("is in no root folder"));
  CHECK(fs::exists(src));
  CHECK_FALSE(fs::exists(lib.justice_dest()));
}

TEST_CASE("the same file already at the destination counts as imported", "[import]") {
  ImportLibrary lib;
  const fs::path src = lib.download_justice();
  SECTION("imported before: skipped, nothing written") {
    REQUIRE(lib.scan(ImportMode::copy).imported == 1);
    const BookFile first = lib.row(lib.justice_dest());
    const ImportSummary s = lib.scan(ImportMode::copy);
    CHECK(s.imported == 0);
    CHECK(s.skipped == 1);
    CHECK(s.outcomes[0].result == R::skipped);
    CHECK(s.outcomes[0].file.id == first.id);
    CHECK(s.message() == "Imported 0 of 1 files, 1 skipped (already imported)");
    CHECK(lib.rows() == 1);
    CHECK(lib.added.size() == 1);
    CHECK(lib.imported.size() == 1);  // the skipped file is not imported again
  }
  SECTION("put there by hand, not recorded: recorded, and a move removes the source") {
    fs::create_directories(lib.justice_dest().parent_path());
    fs::copy_file(src, lib.justice_dest());
    const ImportSummary s = lib.scan(ImportMode::move);
    CHECK(s.imported == 1);
    CHECK(s.outcomes[0].action == TransferAction::already_there);
    CHECK_FALSE(fs::exists(src));
    CHECK(lib.row(lib.justice_dest()).book_id == lib.justice);
  }
}

TEST_CASE("an author without a folder gets one under its root folder", "[import]") {
  SECTION("the first root folder") {
    ImportLibrary lib;
    const fs::path src = lib.downloads / "Martha Wells - All Systems Red.epub";
    bk::make_epub(src, spec("All Systems Red", "Martha Wells"));
    const ImportSummary s = lib.scan(ImportMode::move);
    CHECK(s.imported == 1);
    const fs::path folder = lib.root / "Martha Wells";
    const fs::path dest = folder / "All Systems Red/Martha Wells - All Systems Red.epub";
    CHECK(fs::exists(dest));
    const Author a = lib.catalog->author(lib.wells).value();
    CHECK(a.path == folder);
    CHECK(a.root_folder_id == lib.root_folder.id);
    CHECK(lib.row(dest).book_id == lib.red);
  }
  SECTION("the author's own root folder before the service's") {
    ImportLibrary lib;
    const fs::path second = lib.dir.path() / "audiobooks";
    fs::create_directories(second);
    const RootFolder r2 = lib.catalog->add_root_folder(second).value();
    Author a = lib.catalog->author(lib.wells).value();
    a.root_folder_id = r2.id;
    AuthorWrite w;
    w.author = a;
    REQUIRE(lib.catalog->apply(w));
    bk::make_epub(lib.downloads / "x.epub", spec("All Systems Red", "Martha Wells"));
    CHECK(lib.scan(ImportMode::move).imported == 1);
    CHECK(fs::exists(second / "Martha Wells/All Systems Red/Martha Wells - All Systems Red.epub"));
    CHECK(lib.catalog->author(lib.wells).value().path == second / "Martha Wells");
  }
  SECTION("ImportOptions::root_folder_id when the author names none") {
    ImportLibrary lib;
    const fs::path second = lib.dir.path() / "more";
    fs::create_directories(second);
    const RootFolder r2 = lib.catalog->add_root_folder(second).value();
    auto svc = ImportService::create({.catalog = lib.catalog,
                                      .events = lib.bus,
                                      .logger = quiet_logger(),
                                      .root_folder_id = r2.id,
                                      .sync = false})
                   .value();
    bk::make_epub(lib.downloads / "x.epub", spec("All Systems Red", "Martha Wells"));
    DownloadedBooksScan c;
    c.path = lib.downloads.string();
    CHECK(svc->downloaded_books_scan(c).value().imported == 1);
    CHECK(lib.catalog->author(lib.wells).value().path == second / "Martha Wells");
  }
  SECTION("two files of the author in one run: the second uses the folder the first made") {
    ImportLibrary lib;
    bk::make_epub(lib.downloads / "a.epub", spec("All Systems Red", "Martha Wells"));
    bk::make_mobi(lib.downloads / "b.mobi", spec("All Systems Red", "Martha Wells"));
    const ImportSummary s = lib.scan(ImportMode::move);
    CHECK(s.imported == 2);
    CHECK(fs::exists(lib.root / "Martha Wells/All Systems Red/Martha Wells - All Systems Red.epub"));
    CHECK(fs::exists(lib.root / "Martha Wells/All Systems Red/Martha Wells - All Systems Red.mobi"));
  }
}

TEST_CASE("names are made safe and long titles cut without breaking UTF-8", "[import]") {
  ImportLibrary lib;
  SECTION("illegal characters") {
    const RowId book = lib.add_book(lib.leckie, "w9", "What If? Stories: Of <Them> / \"Us\" | All*");
    bk::make_epub(lib.downloads / "odd.epub",
                  spec("What If? Stories: Of <Them> / \"Us\" | All*", "Ann Leckie"));
    const ImportSummary s = lib.scan(ImportMode::move);
    REQUIRE(s.imported == 1);
    const fs::path dest = lib.root /
                          "Ann Leckie/What If Stories - Of Them + 'Us' All/Ann Leckie - What If Stories - Of "
                          "Them + 'Us' All.epub";
    CHECK(s.outcomes[0].destination == dest);
    CHECK(fs::exists(dest));
    CHECK(lib.row(dest).book_id == book);
  }
  SECTION("a title of 400 bytes in two-byte characters") {
    std::string title;
    for (int i = 0; i < 200; ++i) title += "\xC3\xA9";  // é
    const RowId book = lib.add_book(lib.leckie, "w9", title);
    bk::make_epub(lib.downloads / "long.epub", spec(title, "Ann Leckie"));
    const ImportSummary s = lib.scan(ImportMode::move);
    REQUIRE(s.imported == 1);
    const fs::path dest = s.outcomes[0].destination;
    CHECK(fs::exists(dest));
    const std::string folder = dest.parent_path().filename().string();
    const std::string file = dest.filename().string();
    CHECK(folder.size() == 254);  // 127 characters: a 255th byte would split one
    CHECK(valid_utf8(folder));
    CHECK(file.size() <= 255);
    CHECK(file.size() >= 250);
    CHECK(valid_utf8(file));
    CHECK(file.substr(0, 13) == "Ann Leckie - ");
    CHECK(file.substr(file.size() - 5) == ".epub");
    CHECK(lib.row(dest).book_id == book);
  }
}

TEST_CASE("files that cannot be identified are rejected with the reason and left alone", "[import]") {
  ImportLibrary lib;
  SECTION("an unreadable file") {
    const fs::path src = lib.downloads / "Ann Leckie - Ancillary Sword.epub";
    bk::write_file(src, "this is not a zip");
    const ImportSummary s = lib.scan(ImportMode::move);
    CHECK(s.rejected == 1);
    const auto& rej = s.outcomes[0].rejections;
    REQUIRE(rej.size() == 1);  // its name still matched the book: only the read is wrong
    CHECK(rej[0].kind == K::unreadable);
    CHECK_THAT(rej[0].reason, Catch::StartsWith("cannot be read: ") && Catch::Contains("not a zip"));
    CHECK(fs::exists(src));
    CHECK(lib.rows() == 0);

    SECTION("ManualImport naming the book imports it anyway, the read error recorded") {
      const ImportSummary m = lib.manual({{src.string(), lib.leckie, lib.sword, std::nullopt}});
      CHECK(m.imported == 1);
      const BookFile f = lib.row(lib.root / "Ann Leckie/Ancillary Sword/Ann Leckie - Ancillary Sword.epub");
      CHECK(f.book_id == lib.sword);
      CHECK_THAT(f.read_error, Catch::Contains("not a zip"));
    }
  }
  SECTION("an unknown author") {
    bk::make_pdf(lib.downloads / "p.pdf", spec("Piranesi", "Susanna Clarke"));
    const ImportSummary s = lib.scan(ImportMode::move);
    REQUIRE(s.outcomes[0].rejections.size() == 1);
    CHECK(s.outcomes[0].rejections[0].kind == K::unknown_author);
    CHECK(s.outcomes[0].rejections[0].reason == "author 'Susanna Clarke' is not in the library");
    CHECK(s.message() ==
          "Imported 0 of 1 files, 1 rejected (p.pdf: author 'Susanna Clarke' is not in the library)");
    CHECK(fs::exists(lib.downloads / "p.pdf"));
  }
  SECTION("a known author, no such book") {
    bk::make_epub(lib.downloads / "p.epub", spec("Provenance", "Ann Leckie"));
    const ImportSummary s = lib.scan(ImportMode::move);
    REQUIRE(s.outcomes[0].rejections.size() == 1);
    CHECK(s.outcomes[0].rejections[0].kind == K::no_matching_book);
    CHECK(s.outcomes[0].rejections[0].reason == "no book of 'Ann Leckie' is titled 'Provenance'");
  }
  SECTION("one file's rejection does not stop the others") {
    bk::make_pdf(lib.downloads / "a.pdf", spec("Piranesi", "Susanna Clarke"));
    lib.download_justice("b.epub");
    const ImportSummary s = lib.scan(ImportMode::move);
    CHECK(s.files == 2);
    CHECK(s.rejected == 1);
    CHECK(s.imported == 1);
    CHECK(s.outcomes[0].source == lib.downloads / "a.pdf");  // path order
  }
}

TEST_CASE("ManualImport: the author and book given override the match", "[import]") {
  ImportLibrary lib;
  const fs::path src = lib.downloads / "mystery.epub";
  bk::make_epub(src, spec("Untitled Draft", "Nobody Known"));
  SECTION("imported as the book named") {
    const ImportSummary s =
        lib.manual({{src.string(), lib.leckie, lib.sword, std::nullopt}}, ImportMode::copy);
    CHECK(s.imported == 1);
    const fs::path dest = lib.root / "Ann Leckie/Ancillary Sword/Ann Leckie - Ancillary Sword.epub";
    CHECK(s.outcomes[0].destination == dest);
    CHECK(fs::exists(src));
    const BookFile f = lib.row(dest);
    CHECK(f.book_id == lib.sword);
    CHECK(f.author_id == lib.leckie);
    CHECK(f.title == "Untitled Draft");  // what the file says, kept
  }
  SECTION("an ISBN match is overridden too") {
    const fs::path aj = lib.download_justice();
    const ImportSummary s = lib.manual({{aj.string(), 0, lib.sword, std::nullopt}});
    CHECK(lib.row(lib.root / "Ann Leckie/Ancillary Sword/Ann Leckie - Ancillary Sword.epub").book_id ==
          lib.sword);
    CHECK(s.imported == 1);
  }
  SECTION("ids that do not fit together are rejected") {
    const ImportSummary s = lib.manual({{src.string(), lib.palmer, lib.sword, std::nullopt},
                                        {src.string(), lib.leckie, lib.sword, lib.justice_edition},
                                        {src.string(), 0, 9999, std::nullopt}});
    CHECK(s.rejected == 3);
    CHECK(s.outcomes[0].rejections[0].kind == K::wrong_book);
    CHECK(s.outcomes[0].rejections[0].reason ==
          "book 'Ancillary Sword' is not by author " + std::to_string(lib.palmer));
    CHECK(s.outcomes[1].rejections[0].reason ==
          "edition " + std::to_string(lib.justice_edition) + " is not an edition of 'Ancillary Sword'");
    CHECK(s.outcomes[2].rejections[0].reason == "book 9999 is not in the library");
    CHECK(fs::exists(src));
  }
  SECTION("Readarr's foreignEditionId names the edition") {
    const fs::path aj = lib.download_justice();
    const ImportSummary wrong = lib.manual({{aj.string(), 0, lib.sword, std::nullopt, "w1-e"}});
    CHECK(wrong.rejected == 1);
    CHECK(wrong.outcomes[0].rejections[0].reason == "edition w1-e is not an edition of 'Ancillary Sword'");
    const ImportSummary s = lib.manual({{aj.string(), 0, lib.justice, std::nullopt, "w1-e"}});
    CHECK(s.imported == 1);
    CHECK(lib.row(lib.justice_dest()).edition_id == lib.justice_edition);
  }
  SECTION("without a book id the file is matched as in a scan") {
    const ImportSummary s = lib.manual({{src.string(), lib.leckie, 0, std::nullopt}});
    CHECK(s.outcomes[0].rejections[0].kind == K::no_matching_book);
    CHECK(s.outcomes[0].rejections[0].reason == "no book of 'Ann Leckie' is titled 'Untitled Draft'");
  }
  SECTION("a relative path refuses the whole command") {
    ManualImport c;
    c.files = {{"relative.epub", lib.leckie, lib.sword, std::nullopt}};
    auto r = lib.service->manual_import(c);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_argument);
    CHECK(lib.service->manual_import(ManualImport{}).error().code == errc::invalid_argument);
  }
}

TEST_CASE("an unmapped file already in the library is moved into place and its row relinked", "[import]") {
  ImportLibrary lib;
  const fs::path odd = lib.root / "Ann Leckie/misc/odd name.epub";
  bk::make_epub(odd, spec("Odd", "Ann Leckie"));
  BookFile unmapped;
  unmapped.path = odd;
  unmapped.size = static_cast<std::int64_t>(fs::file_size(odd));
  unmapped.format = "epub";
  unmapped.author_id = lib.leckie;
  unmapped.unmapped_reason = "no book of 'Ann Leckie' is titled 'Odd'";
  unmapped.added = std::chrono::time_point_cast<TimePoint::duration>(std::chrono::system_clock::now() -
                                                                     std::chrono::hours(48));
  unmapped = lib.catalog->upsert_file(unmapped).value();
  const std::string bytes = read(odd);

  // Copy asked for, but a file of the library is moved: a copy would leave a second one.
  const ImportSummary s = lib.manual({{odd.string(), lib.leckie, lib.sword, std::nullopt}}, ImportMode::copy);
  CHECK(s.imported == 1);
  CHECK(s.outcomes[0].action == TransferAction::renamed);
  const fs::path dest = lib.root / "Ann Leckie/Ancillary Sword/Ann Leckie - Ancillary Sword.epub";
  CHECK_FALSE(fs::exists(odd));
  CHECK(read(dest) == bytes);
  CHECK_FALSE(lib.has_row(odd));
  const BookFile f = lib.row(dest);
  CHECK(f.book_id == lib.sword);
  CHECK(f.unmapped_reason.empty());
  CHECK(f.added == unmapped.added);
  CHECK(lib.rows() == 1);

  SECTION("a linked file of the library is not an import") {
    const ImportSummary again = lib.manual({{dest.string(), lib.leckie, lib.justice, std::nullopt}});
    CHECK(again.rejected == 1);
    CHECK(again.outcomes[0].rejections[0].kind == K::already_in_library);
    const ImportSummary same = lib.manual({{dest.string(), lib.leckie, lib.sword, std::nullopt}});
    CHECK(same.skipped == 1);
    CHECK(fs::exists(dest));
  }
}

TEST_CASE("an unmapped file already at its place is only relinked", "[import]") {
  ImportLibrary lib;
  const fs::path dest = lib.root / "Ann Leckie/Ancillary Sword/Ann Leckie - Ancillary Sword.epub";
  bk::make_epub(dest, spec("Draft", "Ann Leckie"));
  BookFile row;
  row.path = dest;
  row.format = "epub";
  row.unmapped_reason = "no book of 'Ann Leckie' is titled 'Draft'";
  const RowId id = lib.catalog->upsert_file(row).value().id;
  const ImportSummary s = lib.manual({{dest.string(), lib.leckie, lib.sword, std::nullopt}});
  CHECK(s.imported == 1);
  CHECK(s.outcomes[0].action == TransferAction::already_there);
  CHECK(fs::exists(dest));
  CHECK(lib.row(dest).id == id);
  CHECK(lib.row(dest).book_id == lib.sword);
}

TEST_CASE("candidates list each file's match and rejections and change nothing", "[import]") {
  ImportLibrary lib;
  const fs::path aj = lib.download_justice("1 aj.epub");
  bk::make_pdf(lib.downloads / "2 piranesi.pdf", spec("Piranesi", "Susanna Clarke"));
  bk::write_file(lib.downloads / "3 broken.epub", "not a zip");
  bk::make_epub(lib.downloads / "4 red.epub", spec("All Systems Red", "Martha Wells"));
  bk::make_mobi(lib.downloads / "5 sword.mobi", spec("Ancillary Sword", "Ann Leckie"));
  bk::write_file(lib.root / "Ann Leckie/Ancillary Sword/Ann Leckie - Ancillary Sword.mobi", "other");
  bk::write_file(lib.downloads / "notes.txt", "not a book");
  const auto counts_before = lib.catalog->rows_written();

  auto got = lib.service->candidates(lib.downloads);
  REQUIRE(got);
  const auto& c = *got;
  REQUIRE(c.size() == 5);

  CHECK(c[0].path == aj);
  CHECK(c[0].matched_by == "isbn");
  CHECK(c[0].book_id == lib.justice);
  CHECK(c[0].edition_id == lib.justice_edition);
  CHECK(c[0].book_title == "Ancillary Justice");
  CHECK(c[0].destination == lib.justice_dest());
  CHECK(c[0].rejections.empty());

  CHECK(c[1].rejections.size() == 1);
  CHECK(c[1].rejections[0].kind == K::unknown_author);
  CHECK(c[1].author_id == 0);
  CHECK(c[1].format == "pdf");

  REQUIRE_FALSE(c[2].rejections.empty());
  CHECK(c[2].rejections[0].kind == K::unreadable);
  CHECK_THAT(c[2].read_error, Catch::Contains("not a zip"));

  CHECK(c[3].book_id == lib.red);
  CHECK(c[3].new_author_folder);
  CHECK(c[3].destination == lib.root / "Martha Wells/All Systems Red/Martha Wells - All Systems Red.epub");
  CHECK(c[3].rejections.empty());

  CHECK(c[4].matched_by == "title");
  REQUIRE(c[4].rejections.size() == 1);
  CHECK(c[4].rejections[0].kind == K::destination_exists);

  // Nothing changed: every file where it was, no folder made, no row written.
  CHECK(fs::exists(aj));
  CHECK_FALSE(fs::exists(lib.justice_dest()));
  CHECK_FALSE(fs::exists(lib.root / "Martha Wells"));
  CHECK(lib.catalog->author(lib.wells).value().path.empty());
  CHECK(lib.catalog->rows_written() == counts_before);
  CHECK(lib.added.empty());

  const nlohmann::json j = c[0];
  CHECK(j["path"] == aj.string());
  CHECK(j["name"] == "1 aj.epub");
  CHECK(j["matchedBy"] == "isbn");
  CHECK(j["bookId"] == lib.justice);
  CHECK(j["destination"] == lib.justice_dest().string());
  CHECK(j["rejections"].empty());
  const nlohmann::json r = c[1];
  CHECK(r["rejections"][0]["type"] == "permanent");  // Readarr's RejectionType
  CHECK(r["rejections"][0]["kind"] == "unknown_author");
  CHECK(r["rejections"][0]["reason"] == "author 'Susanna Clarke' is not in the library");

  CHECK(lib.service->candidates("relative").error().code == errc::invalid_argument);
  CHECK(lib.service->candidates(lib.dir.path() / "nowhere").error().code == errc::not_found);
}

TEST_CASE("the import commands read Readarr's JSON", "[import]") {
  auto scan = [](const char* text) { return nlohmann::json::parse(text).get<DownloadedBooksScan>(); };
  auto c = scan(R"({"path":"/downloads/x","importMode":"Move","downloadClientId":"abc123"})");
  CHECK(c.path == "/downloads/x");
  CHECK(c.importMode == ImportMode::move);
  CHECK(c.downloadClientId == "abc123");
  CHECK(scan(R"({"path":"/d","importMode":"Copy"})").importMode == ImportMode::copy);
  CHECK(scan(R"({"path":"/d","importMode":"hardlink"})").importMode == ImportMode::hardlink);
  CHECK(scan(R"({"path":"/d","importMode":"auto"})").importMode == ImportMode::automatic);
  CHECK(scan(R"({"path":"/d","importMode":2})").importMode == ImportMode::copy);
  CHECK(scan(R"({"path":"/d"})").importMode == ImportMode::automatic);
  CHECK_FALSE(scan(R"({"path":"/d"})").downloadClientId);
  CHECK_THROWS_WITH(scan(R"({"path":"/d","importMode":"teleport"})"), Catch::Contains("importMode"));
  CHECK_THROWS_WITH(scan(R"({"path":"/d","importMode":7})"), Catch::Contains("importMode"));
  CHECK_THROWS(scan(R"({"importMode":"move"})"));
  const nlohmann::json back = c;
  CHECK(back ==
        nlohmann::json::parse(R"({"path":"/downloads/x","importMode":"move","downloadClientId":"abc123"})"));

  const auto m = nlohmann::json::parse(
                     R"({"files":[{"path":"/d/a.epub","authorId":3,"bookId":7,"editionId":9,"downloadId":"x",
                          "quality":{"quality":{"id":3}}},{"path":"/d/b.pdf","authorId":3,"bookId":8}],
                         "importMode":"Copy","replaceExistingFiles":false})")
                     .get<ManualImport>();
  REQUIRE(m.files.size() == 2);
  CHECK(m.files[0].path == "/d/a.epub");
  CHECK(m.files[0].authorId == 3);
  CHECK(m.files[0].bookId == 7);
  CHECK(m.files[0].editionId == 9);
  CHECK_FALSE(m.files[1].editionId);
  CHECK(m.importMode == ImportMode::copy);
  // Readarr's clients send the edition's foreign id, as text or as a number.
  CHECK(nlohmann::json::parse(R"({"path":"/d/a.epub","bookId":7,"foreignEditionId":"40123"})")
            .get<ManualImportFile>()
            .foreignEditionId == "40123");
  CHECK(nlohmann::json::parse(R"({"path":"/d/a.epub","bookId":7,"foreignEditionId":40123})")
            .get<ManualImportFile>()
            .foreignEditionId == "40123");
  const nlohmann::json mj = m;
  CHECK(mj == nlohmann::json::parse(R"({"files":[{"path":"/d/a.epub","authorId":3,"bookId":7,"editionId":9},
                                        {"path":"/d/b.pdf","authorId":3,"bookId":8}],"importMode":"copy"})"));
  CHECK_THROWS(nlohmann::json::parse(R"({"importMode":"copy"})").get<ManualImport>());
}

TEST_CASE("the service refuses options that cannot work", "[import]") {
  TempDir dir;
  auto catalog = open_sqlite_catalog({dir.path() / "c.db"}).value();
  CHECK(ImportService::create({}).error().code == errc::invalid_argument);
  CHECK(ImportService::create({.catalog = catalog, .naming = "{Author Nmae}/{Book Title}"}).error().code ==
        errc::invalid_argument);
  CHECK(ImportService::create({.catalog = catalog, .default_mode = ImportMode::automatic}).error().code ==
        errc::invalid_argument);
  DownloadedBooksScan c;
  c.path = (dir.path() / "missing").string();
  auto svc = ImportService::create({.catalog = catalog}).value();
  CHECK(svc->downloaded_books_scan(c).error().code == errc::not_found);
}

TEST_CASE("an import job runs on a ServiceHost at Critical priority, beside a disk job", "[import][host]") {
  ImportLibrary lib;
  const fs::path src = lib.download_justice();
  ServiceHostOptions o;
  o.engine = {.store_path = lib.dir.file("jobs.db"), .workers = 2, .logger = quiet_logger()};
  o.events = lib.bus;
  ServiceHost::Builder builder(o);
  builder.add(lib.service);
  auto built = builder.build();
  REQUIRE(built);
  auto& host = **built;
  const CommandType* type = host.engine().registry().find(DownloadedBooksScan::kName);
  REQUIRE(type);
  CHECK(type->traits.priority == Priority::critical);
  CHECK(type->traits.locks == std::vector<std::string>{"import"});
  REQUIRE(host.engine().registry().find(ManualImport::kName));
  CHECK(host.engine().registry().find(ManualImport::kName)->traits.priority == Priority::critical);
  host.start();

  auto pushed = host.engine().push(
      DownloadedBooksScan::kName,
      nlohmann::json::parse(R"({"path":")" + lib.downloads.string() + R"(","importMode":"Move"})"));
  REQUIRE(pushed);
  CHECK(pushed->job.priority == Priority::critical);
  REQUIRE(eventually([&] {
    auto j = host.engine().get(pushed->job.id);
    return j && j->status == JobStatus::completed;
  }));
  const JobInfo done = *host.engine().get(pushed->job.id);
  CHECK(done.message == "Imported 1 of 1 files");
  CHECK(done.progress.total == 1);
  CHECK(fs::exists(lib.justice_dest()));
  CHECK(lib.row(lib.justice_dest()).book_id == lib.justice);

  // A path that does not exist fails the job for good, with the reason.
  auto bad = host.engine().push(DownloadedBooksScan::kName, {{"path", (lib.dir.path() / "gone").string()}});
  REQUIRE(bad);
  REQUIRE(eventually([&] {
    auto j = host.engine().get(bad->job.id);
    return j && j->status == JobStatus::failed;
  }));
  const JobInfo failed = *host.engine().get(bad->job.id);
  CHECK(failed.error_kind == ErrorKind::permanent);
  CHECK_THAT(failed.error, Catch::Contains("does not exist"));
  host.stop();
}

TEST_CASE("a file the catalog refuses after its transfer stays in the library, and the outcome says so",
          "[import]") {
  ImportLibrary lib;
  const fs::path src = lib.download_justice();
  lib.flaky->fail_files = true;
  SECTION("a move: the file is at its place, the source gone, no row") {
    const ImportSummary s = lib.scan(ImportMode::move);
    CHECK(s.failed == 1);
    CHECK(s.imported == 0);
    const ImportOutcome& o = s.outcomes[0];
    CHECK(o.result == R::failed);
    CHECK(o.code == errc::store_error);
    CHECK(o.error ==
          lib.justice_dest().string() +
              " is in the library (renamed) but could not be recorded: save book files: database or disk "
              "is full; the source is gone; the next library scan records it");
    CHECK(fs::exists(lib.justice_dest()));
    CHECK_FALSE(fs::exists(src));
    CHECK(lib.rows() == 0);
    CHECK(lib.added.empty());
  }
  SECTION("a copy: the source untouched") {
    const ImportSummary s = lib.scan(ImportMode::copy);
    CHECK(s.failed == 1);
    CHECK_THAT(s.outcomes[0].error,
               Catch::EndsWith("; the source is untouched; the next library scan records it"));
    CHECK(fs::exists(src));
    CHECK(fs::exists(lib.justice_dest()));
    CHECK(s.message() == "Imported 0 of 1 files, 1 failed (aj.epub: " + s.outcomes[0].error + ")");
  }
  SECTION("as a job: it fails as a database failure, with the message") {
    ServiceHostOptions o;
    o.engine = {.store_path = lib.dir.file("jobs.db"), .workers = 1, .logger = quiet_logger()};
    o.events = lib.bus;
    ServiceHost::Builder builder(o);
    builder.add(lib.service);
    auto host = builder.build();
    REQUIRE(host);
    (*host)->start();
    auto pushed = (*host)->engine().push(DownloadedBooksScan::kName,
                                         {{"path", lib.downloads.string()}, {"importMode", "copy"}});
    REQUIRE(pushed);
    REQUIRE(eventually([&] {
      auto j = (*host)->engine().get(pushed->job.id);
      return j && j->status == JobStatus::failed;
    }));
    const JobInfo failed = *(*host)->engine().get(pushed->job.id);
    CHECK(failed.error_kind == ErrorKind::database);
    CHECK_THAT(failed.error, Catch::StartsWith("Imported 0 of 1 files, 1 failed (aj.epub: "));
    (*host)->stop();
  }
}

// ---- an audiobook in several files ------------------------------------------------------------

fs::path part_dest(const ImportLibrary& lib, int n, const std::string& ext = "mp3") {
  return lib.root / "Ada Palmer/Too Like the Lightning" /
         ("Ada Palmer - Too Like the Lightning (" + std::to_string(n) + ")." + ext);
}

TEST_CASE("the audio parts of one book in one import are numbered and never collide", "[import]") {
  ImportLibrary lib;
  const fs::path folder = lib.downloads / "Too Like the Lightning (Unabridged)";
  // Paths in one order, tracks in another: the track tags decide.
  std::map<int, std::string> bytes_of_part;
  SECTION("MP3 parts numbered by their track tags") {
    const std::vector<std::pair<std::string, int>> files = {{"a.mp3", 3}, {"b.mp3", 1}, {"c.mp3", 2}};
    for (const auto& [name, track] : files) {
      auto sp = spec("Too Like the Lightning", "Ada Palmer");
      sp.track = track;
      sp.duration_seconds = track;  // different bytes per part
      bk::make_mp3(folder / name, sp);
      bytes_of_part[track] = read(folder / name);
    }
  }
  SECTION("MP3 parts without track tags numbered by their order in the import") {
    int n = 0;
    for (const char* name : {"Part 01.mp3", "Part 02.mp3", "Part 03.mp3"}) {
      auto sp = spec("Too Like the Lightning", "Ada Palmer");
      sp.duration_seconds = ++n;
      bk::make_mp3(folder / name, sp);
      bytes_of_part[n] = read(folder / name);
    }
  }
  SECTION("parts of two discs whose tracks start again at 1") {
    const std::vector<std::tuple<std::string, int, int>> files = {
        {"d2t1.mp3", 2, 1}, {"d1t2.mp3", 1, 2}, {"d1t1.mp3", 1, 1}};
    for (const auto& [name, disc, track] : files) {
      auto sp = spec("Too Like the Lightning", "Ada Palmer");
      sp.track = track;
      sp.disc = disc;
      sp.duration_seconds = disc * 2 + track;
      bk::make_mp3(folder / name, sp);
      bytes_of_part[(disc - 1) * 2 + track] = read(folder / name);
    }
  }

  // The manual-import list shows the same places, before anything moves.
  auto listed = lib.service->candidates(folder);
  REQUIRE(listed);
  std::set<fs::path> listed_dest;
  for (const auto& c : *listed) {
    CHECK(c.rejections.empty());
    listed_dest.insert(c.destination);
  }
  CHECK(listed_dest == std::set<fs::path>{part_dest(lib, 1), part_dest(lib, 2), part_dest(lib, 3)});

  const ImportSummary s = lib.scan(ImportMode::copy, std::nullopt, folder);
  CHECK(s.imported == 3);
  CHECK(s.rejected == 0);
  for (int n = 1; n <= 3; ++n) {
    REQUIRE(fs::exists(part_dest(lib, n)));
    CHECK(read(part_dest(lib, n)) == bytes_of_part[n]);
    CHECK(lib.row(part_dest(lib, n)).book_id == lib.lightning);
  }
  const auto rows = lib.catalog->files_of_book(lib.lightning).value();
  CHECK(rows.size() == 3);
  CHECK(lib.added.size() == 3);

  // The same download again: every part is already there.
  const ImportSummary again = lib.scan(ImportMode::copy, std::nullopt, folder);
  CHECK(again.skipped == 3);
  CHECK(again.imported == 0);
  CHECK(lib.catalog->files_of_book(lib.lightning).value().size() == 3);
}

TEST_CASE("an audio part that arrives alone after the first is numbered beside it", "[import]") {
  ImportLibrary lib;
  auto part = [&](const std::string& folder, int track, int seconds) {  // track 0: no tag
    auto sp = spec("Too Like the Lightning", "Ada Palmer");
    sp.track = track;
    sp.duration_seconds = seconds;  // different bytes per part
    const fs::path file = lib.downloads / folder / "part.mp3";
    bk::make_mp3(file, sp);
    return std::pair(lib.downloads / folder, read(file));
  };
  const fs::path single =
      lib.root / "Ada Palmer/Too Like the Lightning/Ada Palmer - Too Like the Lightning.mp3";

  // The first part alone: the book's only audio file, named without a part.
  const auto [first, first_bytes] = part("one", 1, 1);
  CHECK(lib.scan(ImportMode::copy, std::nullopt, first).imported == 1);
  REQUIRE(fs::exists(single));

  // The second arrives later, alone: it takes its track number instead of being refused for
  // the first one's name.
  const auto [second, second_bytes] = part("two", 2, 2);
  auto listed = lib.service->candidates(second);
  REQUIRE(listed);
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().rejections.empty());
  CHECK(listed->front().destination == part_dest(lib, 2));
  CHECK(lib.scan(ImportMode::copy, std::nullopt, second).imported == 1);
  CHECK(read(part_dest(lib, 2)) == second_bytes);
  CHECK(read(single) == first_bytes);

  // One without a track tag: the next number after the parts recorded.
  const auto [third, third_bytes] = part("three", 0, 3);
  CHECK(lib.scan(ImportMode::copy, std::nullopt, third).imported == 1);
  CHECK(read(part_dest(lib, 3)) == third_bytes);
  CHECK(lib.catalog->files_of_book(lib.lightning).value().size() == 3);

  // The same downloads again: already imported, under whichever name they got.
  for (const auto& folder : {first, second, third}) {
    const ImportSummary again = lib.scan(ImportMode::copy, std::nullopt, folder);
    CHECK(again.skipped == 1);
    CHECK(again.imported == 0);
  }
  CHECK(lib.catalog->files_of_book(lib.lightning).value().size() == 3);
  CHECK_FALSE(fs::exists(part_dest(lib, 4)));
}

TEST_CASE("M4B parts are numbered; a book's only audio file and its ebooks are not", "[import]") {
  ImportLibrary lib;
  for (int track : {1, 2}) {
    auto sp = spec("Too Like the Lightning", "Ada Palmer");
    sp.track = track;
    sp.duration_seconds = track;
    bk::make_m4b(lib.downloads / "tltl" / ("part" + std::to_string(track) + ".m4b"), sp);
  }
  bk::make_epub(lib.downloads / "tltl/tltl.epub", spec("Too Like the Lightning", "Ada Palmer"));
  // Another book with one audio file: named without a part.
  auto one = spec("Ancillary Sword", "Ann Leckie");
  one.track = 7;
  bk::make_mp3(lib.downloads / "sword/sword.mp3", one);

  const ImportSummary s = lib.scan(ImportMode::move);
  CHECK(s.imported == 4);
  CHECK(fs::exists(part_dest(lib, 1, "m4b")));
  CHECK(fs::exists(part_dest(lib, 2, "m4b")));
  CHECK(fs::exists(lib.root / "Ada Palmer/Too Like the Lightning/Ada Palmer - Too Like the Lightning.epub"));
  CHECK(fs::exists(lib.root / "Ann Leckie/Ancillary Sword/Ann Leckie - Ancillary Sword.mp3"));
  CHECK(lib.catalog->files_of_book(lib.lightning).value().size() == 3);
}

TEST_CASE("assign_parts numbers the audio files of each book apart", "[import]") {
  using import::assign_parts;
  using import::Part;
  using import::PartFile;
  auto numbers = [](const std::vector<Part>& parts) {
    std::vector<std::pair<int, int>> out;
    for (const auto& p : parts) out.emplace_back(p.number, p.count);
    return out;
  };
  using V = std::vector<std::pair<int, int>>;
  // Tracks that differ: the tracks, the count at least the highest.
  CHECK(numbers(assign_parts({{1, true, 2, {}, "a"}, {1, true, 5, {}, "b"}})) == V{{2, 5}, {5, 5}});
  // One missing track: by path.
  CHECK(numbers(assign_parts({{1, true, 2, {}, "b"}, {1, true, {}, {}, "a"}})) == V{{2, 2}, {1, 2}});
  // Equal tracks on two discs: by disc then track.
  CHECK(numbers(assign_parts({{1, true, 1, 2, "a"}, {1, true, 1, 1, "b"}, {1, true, 2, 1, "c"}})) ==
        V{{3, 3}, {1, 3}, {2, 3}});
  // Equal tracks and no discs: by path.
  CHECK(numbers(assign_parts({{1, true, 1, {}, "b"}, {1, true, 1, {}, "a"}})) == V{{2, 2}, {1, 2}});
  // Ebooks, unmatched files and a book's only audio file: no part. Books apart.
  CHECK(numbers(assign_parts({{1, false, {}, {}, "a"},
                              {1, true, 4, {}, "b"},
                              {0, true, 1, {}, "c"},
                              {0, true, 2, {}, "d"},
                              {2, true, {}, {}, "f"},
                              {2, true, {}, {}, "e"}})) == V{{0, 0}, {0, 0}, {0, 0}, {0, 0}, {2, 2}, {1, 2}});
}

// ---- download folders after a move ----------------------------------------------------------

TEST_CASE("a move removes the download folder it left empty, and keeps one that holds anything", "[import]") {
  ImportLibrary lib;
  const fs::path release = lib.downloads / "Ann Leckie - Ancillary Justice (2013) [EPUB]";
  lib.download_justice(release.filename().string() + "/book/aj.epub");
  fs::create_directories(release / "Sample");  // an empty folder is nothing

  SECTION("left with only empty folders: removed") {
    const ImportSummary s = lib.scan(ImportMode::move, std::nullopt, release);
    CHECK(s.imported == 1);
    CHECK_FALSE(fs::exists(release));
    CHECK(s.removed_folders == std::vector<fs::path>{release});
    CHECK(nlohmann::json(s)["removedFolders"] == nlohmann::json::array({release.string()}));
    CHECK(fs::exists(lib.downloads));  // outside what the command named
    CHECK(fs::exists(lib.justice_dest()));
  }
  SECTION("auto meaning move: removed") {
    CHECK(lib.scan(ImportMode::automatic, std::nullopt, release).imported == 1);
    CHECK_FALSE(fs::exists(release));
  }
  SECTION("a .nfo left: kept, with the .nfo") {
    bk::write_file(release / "release.nfo", "ripped by");
    const ImportSummary s = lib.scan(ImportMode::move, std::nullopt, release);
    CHECK(s.imported == 1);
    CHECK(fs::exists(release / "release.nfo"));
    CHECK(fs::exists(release / "Sample"));
    // Its emptied sub-folder goes: nothing of the download is left in it.
    CHECK_FALSE(fs::exists(release / "book"));
    CHECK(s.removed_folders == std::vector<fs::path>{release / "book"});
  }
  SECTION("a rejected book left: kept, with the book") {
    bk::make_pdf(release / "extra/piranesi.pdf", spec("Piranesi", "Susanna Clarke"));
    const ImportSummary s = lib.scan(ImportMode::move, std::nullopt, release);
    CHECK(s.imported == 1);
    CHECK(s.rejected == 1);
    CHECK(fs::exists(release / "extra/piranesi.pdf"));
    CHECK(fs::exists(release));
  }
  SECTION("a file that is no book and was never imported: kept") {
    bk::write_file(release / "Sample/cover.jpg", bk::cover_jpeg_bytes());
    lib.scan(ImportMode::move, std::nullopt, release);
    CHECK(fs::exists(release / "Sample/cover.jpg"));
  }
  SECTION("copy and hardlink: the download stays whole") {
    CHECK(lib.scan(ImportMode::copy, std::nullopt, release).imported == 1);
    CHECK(fs::exists(release / "book/aj.epub"));
    CHECK(fs::exists(release / "Sample"));
  }
  SECTION("a download client's files (auto: hardlink) stay") {
    lib.scan(ImportMode::automatic, "qbit-1", release);
    CHECK(fs::exists(release / "book/aj.epub"));
  }
  SECTION("nothing imported: nothing removed") {
    fs::remove_all(release / "book");
    bk::make_pdf(release / "piranesi.pdf", spec("Piranesi", "Susanna Clarke"));
    CHECK(lib.scan(ImportMode::move, std::nullopt, release).imported == 0);
    CHECK(fs::exists(release / "Sample"));
  }
  SECTION("one file named: its folder stays") {
    const ImportSummary s = lib.scan(ImportMode::move, std::nullopt, release / "book/aj.epub");
    CHECK(s.imported == 1);
    CHECK(fs::exists(release / "book"));
    CHECK(s.removed_folders.empty());
  }
  SECTION("the parent of several downloads named: each emptied download goes, the rest stays") {
    bk::make_pdf(lib.downloads / "piranesi/piranesi.pdf", spec("Piranesi", "Susanna Clarke"));
    const ImportSummary s = lib.scan(ImportMode::move);
    CHECK(s.imported == 1);
    CHECK_FALSE(fs::exists(release));
    CHECK(fs::exists(lib.downloads / "piranesi/piranesi.pdf"));
    CHECK(s.removed_folders == std::vector<fs::path>{release});
  }
}

TEST_CASE("a move never removes a root folder or an author folder, even left empty", "[import]") {
  ImportLibrary lib;
  SECTION("the command names a root folder") {
    const fs::path incoming = lib.dir.path() / "incoming";
    fs::create_directories(incoming);
    REQUIRE(lib.catalog->add_root_folder(incoming));
    bk::make_epub(incoming / "Ann Leckie - Ancillary Justice.epub",
                  spec("Ancillary Justice", "Ann Leckie", "9780316246620"));
    const ImportSummary s = lib.scan(ImportMode::move, std::nullopt, incoming);
    CHECK(s.imported == 1);
    CHECK(fs::exists(lib.justice_dest()));
    CHECK(fs::is_directory(incoming));
    CHECK(s.removed_folders.empty());
  }
  SECTION("the command names a folder that holds a root folder") {
    const fs::path outer = lib.dir.path() / "outer";
    fs::create_directories(outer / "library");
    REQUIRE(lib.catalog->add_root_folder(outer / "library"));
    bk::make_epub(outer / "dl/aj.epub", spec("Ancillary Justice", "Ann Leckie", "9780316246620"));
    const ImportSummary s = lib.scan(ImportMode::move, std::nullopt, outer);
    CHECK(s.imported == 1);
    CHECK_FALSE(fs::exists(outer / "dl"));  // the emptied download inside it goes
    CHECK(fs::is_directory(outer / "library"));
    CHECK(fs::is_directory(outer));
  }
  SECTION("an unmapped file moved out of an author folder of the library") {
    // Ann Leckie's stray file goes into its book folder; her emptied folder of strays goes,
    // her author folder stays.
    const fs::path stray = lib.root / "Ann Leckie/strays/aj.epub";
    bk::make_epub(stray, spec("Ancillary Justice", "Ann Leckie", "9780316246620"));
    const ImportSummary s = lib.scan(ImportMode::move, std::nullopt, lib.root / "Ann Leckie");
    CHECK(s.imported == 1);
    CHECK_FALSE(fs::exists(lib.root / "Ann Leckie/strays"));
    CHECK(fs::is_directory(lib.root / "Ann Leckie"));
  }
}

}  // namespace book_import_test

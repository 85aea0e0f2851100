// SPDX-License-Identifier: MIT
// The library walk on real folders in a temporary directory.
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <stop_token>
#include <vector>

#include <catch2/catch.hpp>

#include "file_tree.hpp"
#include "shelfjobs/adapters/library_walk.hpp"
#include "test_support.hpp"

using namespace shelfjobs;
namespace fs = std::filesystem;
using testing::TempDir;
using testing::write_file;

// The whole file in a namespace of its own: the unity build compiles several test files as one
// translation unit, and their helpers must not meet.
namespace library_walk_test {

// Records everything the walk reports.
struct Recording : WalkVisitor {
  std::vector<WalkFile> files;
  std::vector<WalkFolder> folders;
  std::vector<WalkProblem> problems;
  std::function<WalkControl(const WalkFile&)> on_file;
  std::function<WalkControl(const WalkFolder&)> on_folder;

  WalkControl folder(const WalkFolder& f) override {
    folders.push_back(f);
    return on_folder ? on_folder(f) : WalkControl::proceed;
  }
  WalkControl file(const WalkFile& f) override {
    files.push_back(f);
    return on_file ? on_file(f) : WalkControl::proceed;
  }
  void problem(const WalkProblem& p) override { problems.push_back(p); }

  std::set<std::string> relatives() const {
    std::set<std::string> out;
    for (const auto& f : files) out.insert(f.relative.string());
    return out;
  }
  std::multiset<std::string> relatives_counted() const {
    std::multiset<std::string> out;
    for (const auto& f : files) out.insert(f.relative.string());
    return out;
  }
};

WalkSummary walk_ok(const fs::path& root, WalkVisitor& v, const WalkOptions& o = {}) {
  auto r = walk_library(root, v, o);
  REQUIRE(r.has_value());
  return *r;
}

TEST_CASE("book files are recognised by extension, case-insensitively", "[walk]") {
  CHECK(book_kind_of("a.epub") == BookKind::ebook);
  CHECK(book_kind_of("a.EPUB") == BookKind::ebook);
  CHECK(book_kind_of("a.KePub") == BookKind::ebook);
  CHECK(book_kind_of("a.kepub.epub") == BookKind::ebook);
  CHECK(book_kind_of("a.mobi") == BookKind::ebook);
  CHECK(book_kind_of("a.Azw3") == BookKind::ebook);
  CHECK(book_kind_of("a.PDF") == BookKind::ebook);
  for (const char* ext : {"flac", "ape", "wavpack", "wav", "alac", "mp2", "mp3", "wma", "m4a", "m4p", "aac",
                          "mp4a", "ogg", "oga", "vorbis", "m4b", "M4B", "Mp3"}) {
    INFO(ext);
    CHECK(book_kind_of(std::string("a.") + ext) == BookKind::audio);
  }
  CHECK_FALSE(book_kind_of("a.txt"));
  CHECK_FALSE(book_kind_of("a.jpg"));
  CHECK_FALSE(book_kind_of("metadata.opf"));
  CHECK_FALSE(book_kind_of("epub"));
  CHECK_FALSE(book_kind_of(".epub"));  // a dot file, no extension
  CHECK_FALSE(book_kind_of("a.epub.partial~"));
  CHECK_FALSE(book_kind_of("a.epubx"));
  CHECK_FALSE(book_kind_of("a."));
  CHECK_FALSE(book_kind_of("a.azw"));  // not in Readarr's list
}

TEST_CASE("the walk skips every excluded folder and file", "[walk]") {
  TempDir tmp;
  const fs::path root = tmp.path() / "lib";
  for (const char* folder : {"extras", "Extras", "@eaDir", "@EADIR", ".@__thumb", "extrafanart",
                             "ExtraFanArt", "plex versions", "Plex Versions", ".hidden", ".git"}) {
    write_file(root / "Ada" / folder / "inside.epub");
  }
  // Excluded below the author level too, and everything under an excluded folder.
  write_file(root / "Ada" / "Book" / "extras" / "deep" / "x.epub");
  for (const char* file :
       {"._book.epub", "._x.mp3", "Thumbs.db", "THUMBS.DB", ".DS_Store", ".ds_store", "book.epub.partial~",
        "book.EPUB.PARTIAL~", "notes.txt", "cover.jpg", "metadata.opf"}) {
    write_file(root / "Ada" / file);
  }
  write_file(root / "Ada" / "kept.epub");
  write_file(root / "Ada" / ".kept-dot-file.epub");  // dot files are not excluded, only dot folders
  write_file(root / "Ada" / "Book" / "kept.M4B");
  write_file(root / "extrasnot" / "kept.pdf");  // only the exact names are excluded

  Recording v;
  const auto s = walk_ok(root, v);
  CHECK(v.relatives() == std::set<std::string>{"Ada/kept.epub", "Ada/.kept-dot-file.epub",
                                               "Ada/Book/kept.M4B", "extrasnot/kept.pdf"});
  CHECK(v.problems.empty());
  CHECK(s.end == WalkEnd::complete);
  CHECK(s.files == 4);
  CHECK(s.folders == 4);  // root, Ada, Ada/Book, extrasnot
  // 11 excluded folders under Ada + extras under Book + 11 files.
  CHECK(s.ignored == 23);
  CHECK(is_excluded_folder(".anything"));
  CHECK_FALSE(is_excluded_folder("Extras Vol 1"));
  CHECK(is_excluded_file("._"));
  CHECK_FALSE(is_excluded_file("Thumbs.db.epub"));
}

TEST_CASE("the walk reports each file's folder, size, mtime, depth and author folder", "[walk]") {
  TempDir tmp;
  const fs::path root = tmp.path() / "lib";
  write_file(root / "loose.pdf", "12345");
  write_file(root / "Ada Example" / "First Book" / "Ada Example - First Book.epub", "1234567890");
  write_file(root / "Ada Example" / "Second" / "cd1" / "part1.mp3", "abc");
  write_file(root / "Bo Writer" / "b.mobi", "");
  fs::create_directories(root / "Empty Author");
  // A known mtime.
  const fs::path dated = root / "Bo Writer" / "b.mobi";
  struct timespec times[2] = {{0, UTIME_OMIT}, {1700000000, 123456789}};
  REQUIRE(::utimensat(AT_FDCWD, dated.c_str(), times, 0) == 0);

  Recording v;
  const auto s = walk_ok(root, v);
  REQUIRE(v.files.size() == 4);
  std::map<std::string, WalkFile> by;
  for (const auto& f : v.files) by[f.relative.string()] = f;

  const auto& loose = by.at("loose.pdf");
  CHECK(loose.path == root / "loose.pdf");
  CHECK(loose.size == 5);
  CHECK(loose.depth == 0);
  CHECK(loose.author_folder.empty());
  CHECK(loose.author_index == 0);
  CHECK(loose.kind == BookKind::ebook);

  const auto& first = by.at("Ada Example/First Book/Ada Example - First Book.epub");
  CHECK(first.size == 10);
  CHECK(first.depth == 2);
  CHECK(first.author_folder == "Ada Example");

  const auto& part = by.at("Ada Example/Second/cd1/part1.mp3");
  CHECK(part.kind == BookKind::audio);
  CHECK(part.depth == 3);
  CHECK(part.author_folder == "Ada Example");
  CHECK(part.author_index == first.author_index);

  const auto& b = by.at("Bo Writer/b.mobi");
  CHECK(b.size == 0);
  CHECK(b.mtime.time_since_epoch() == std::chrono::seconds(1700000000) + std::chrono::nanoseconds(123456789));

  // Folders: announced before their content; author folders numbered 1..N in walk order.
  CHECK(s.folders == 7);  // root, 3 authors, First Book, Second, cd1
  CHECK(v.folders.front().depth == 0);
  CHECK(v.folders.front().relative.empty());
  std::vector<std::size_t> author_indexes;
  for (const auto& f : v.folders)
    if (f.depth == 1) author_indexes.push_back(f.author_index);
  CHECK(author_indexes == std::vector<std::size_t>{1, 2, 3});
  auto n = count_author_folders(root);
  REQUIRE(n.has_value());
  CHECK(*n == 3);
  for (const auto& file : v.files) {
    const auto folder = std::find_if(v.folders.begin(), v.folders.end(), [&](const WalkFolder& f) {
      return f.relative == file.relative.parent_path();
    });
    REQUIRE(folder != v.folders.end());
    CHECK(folder->author_index == file.author_index);
  }
}

TEST_CASE("sidecar hints name the folders that hold metadata.opf and cover.jpg", "[walk]") {
  TempDir tmp;
  const fs::path root = tmp.path() / "calibre";
  write_file(root / "Ada Example" / "First Book (1)" / "First Book - Ada Example.epub");
  write_file(root / "Ada Example" / "First Book (1)" / "metadata.opf", "<package/>");
  write_file(root / "Ada Example" / "First Book (1)" / "cover.jpg", "jpg");
  write_file(root / "Ada Example" / "Other (2)" / "Other - Ada Example.pdf");
  write_file(root / "Ada Example" / "Other (2)" / "cover.jpg", "jpg");
  fs::create_directories(root / "Ada Example" / "Odd (3)" / "metadata.opf");  // a folder: no hint
  write_file(root / "Ada Example" / "Odd (3)" / "Odd.mobi");

  Recording v;
  WalkOptions o;
  o.sidecars = true;
  walk_ok(root, v, o);
  REQUIRE(v.files.size() == 3);
  for (const auto& f : v.files) {
    INFO(f.relative);
    const std::string folder = f.relative.parent_path().filename().string();
    CHECK(f.has_metadata_opf == (folder == "First Book (1)"));
    CHECK(f.has_cover == (folder != "Odd (3)"));
  }

  Recording without;
  walk_ok(root, without);
  for (const auto& f : without.files) CHECK_FALSE((f.has_metadata_opf || f.has_cover));
}

TEST_CASE("symlinked folders and files are followed and a symlink loop ends", "[walk]") {
  TempDir tmp;
  const fs::path root = tmp.path() / "lib";
  write_file(root / "Ada" / "a.epub");
  write_file(root / "Bo" / "b.epub");
  write_file(tmp.path() / "outside" / "o.epub");
  write_file(tmp.path() / "single.mobi");
  fs::create_directory_symlink("..", root / "Ada" / "up");               // to the root: a loop
  fs::create_directory_symlink(".", root / "Ada" / "self");              // to itself: a loop
  fs::create_directory_symlink("../../Ada", root / "Bo" / "deeper-up");  // leaves the tree: dangling
  fs::create_directory_symlink(root / "Bo", root / "Ada" / "to-bo");     // a sibling: walked again
  fs::create_directory_symlink(tmp.path() / "outside", root / "Linked Author");
  fs::create_symlink(tmp.path() / "single.mobi", root / "Bo" / "linked.mobi");

  Recording v;
  const auto s = walk_ok(root, v);
  CHECK(s.end == WalkEnd::complete);
  CHECK(v.relatives_counted() == std::multiset<std::string>{"Ada/a.epub", "Bo/b.epub", "Ada/to-bo/b.epub",
                                                            "Linked Author/o.epub", "Bo/linked.mobi",
                                                            "Ada/to-bo/linked.mobi"});
  // Ada/up and Ada/self loop; Bo/deeper-up is dangling, met twice (once through Ada/to-bo).
  std::multiset<std::string> loops, broken;
  for (const auto& p : v.problems) {
    if (p.kind == WalkProblem::Kind::loop) loops.insert(p.path.lexically_relative(root).string());
    if (p.kind == WalkProblem::Kind::broken_link) broken.insert(p.path.lexically_relative(root).string());
  }
  CHECK(loops == std::multiset<std::string>{"Ada/up", "Ada/self"});
  CHECK(broken == std::multiset<std::string>{"Bo/deeper-up", "Ada/to-bo/deeper-up"});
  CHECK(s.problems == v.problems.size());

  const auto linked = std::find_if(v.files.begin(), v.files.end(),
                                   [](const WalkFile& f) { return f.relative == "Linked Author/o.epub"; });
  REQUIRE(linked != v.files.end());
  CHECK(linked->author_folder == "Linked Author");
  CHECK(linked->path == root / "Linked Author" / "o.epub");  // as met, not resolved
}

TEST_CASE("a loop through a symlink to an ancestor two levels up ends", "[walk]") {
  TempDir tmp;
  const fs::path root = tmp.path() / "lib";
  write_file(root / "Ada" / "Book" / "a.epub");
  fs::create_directory_symlink("../..", root / "Ada" / "Book" / "root-again");
  fs::create_directory_symlink("..", root / "Ada" / "Book" / "ada-again");
  Recording v;
  walk_ok(root, v);
  CHECK(v.relatives_counted() == std::multiset<std::string>{"Ada/Book/a.epub"});
  REQUIRE(v.problems.size() == 2);
  for (const auto& p : v.problems) CHECK(p.kind == WalkProblem::Kind::loop);
}

TEST_CASE("broken links, self links and unreadable folders are reported and the walk goes on", "[walk]") {
  TempDir tmp;
  const fs::path root = tmp.path() / "lib";
  write_file(root / "Ada" / "a.epub");
  write_file(root / "Cy" / "c.epub");
  fs::create_symlink(root / "nowhere.epub", root / "Ada" / "dangling.epub");
  fs::create_directory_symlink(root / "no-folder", root / "Dangling Author");
  fs::create_symlink("selfref", root / "Cy" / "selfref");  // ELOOP on every stat that follows it

  Recording v;
  const auto s = walk_ok(root, v);
  CHECK(s.end == WalkEnd::complete);
  CHECK(v.relatives() == std::set<std::string>{"Ada/a.epub", "Cy/c.epub"});
  std::map<std::string, WalkProblem> by;
  for (const auto& p : v.problems) by[p.path.lexically_relative(root).string()] = p;
  REQUIRE(by.size() == 3);
  CHECK(by.at("Ada/dangling.epub").kind == WalkProblem::Kind::broken_link);
  CHECK(by.at("Ada/dangling.epub").error == std::errc::no_such_file_or_directory);
  CHECK(by.at("Dangling Author").kind == WalkProblem::Kind::broken_link);
  CHECK(by.at("Cy/selfref").kind == WalkProblem::Kind::broken_link);
  CHECK(by.at("Cy/selfref").error == std::errc::too_many_symbolic_link_levels);
  CHECK(by.at("Ada/dangling.epub").message.find("Ada/dangling.epub") != std::string::npos);
}

TEST_CASE("a folder without read permission is reported and skipped", "[walk]") {
  TempDir tmp;
  const fs::path root = tmp.path() / "lib";
  write_file(root / "Ada" / "a.epub");
  write_file(root / "Locked" / "secret.epub");
  write_file(root / "Zed" / "z.epub");
  fs::permissions(root / "Locked", fs::perms::none);

  // As root, permission bits do not bite: the walk runs in a child that drops to nobody.
  const bool root_user = ::geteuid() == 0;
  const auto out = testing::in_child(
      [&] {
        Recording v;
        auto r = walk_library(root, v);
        std::ostringstream os;
        if (!r) return std::string("error ") + r.error().message;
        for (const auto& f : v.files) os << "file " << f.relative.string() << "\n";
        for (const auto& p : v.problems)
          os << "problem " << to_string(p.kind) << " " << p.path.lexically_relative(root).string() << " "
             << p.error.value() << "\n";
        os << "end " << static_cast<int>(r->end) << "\n";
        return os.str();
      },
      /*as_nobody=*/root_user);
  fs::permissions(root / "Locked", fs::perms::owner_all);
  REQUIRE(out.has_value());
  std::istringstream in(*out);
  std::set<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.insert(line);
  CHECK(lines == std::set<std::string>{"file Ada/a.epub", "file Zed/z.epub",
                                       "problem unreadable_folder Locked " + std::to_string(EACCES),
                                       "end 0"});
}

TEST_CASE("names that are not UTF-8 are walked as bytes and displayed with U+FFFD", "[walk]") {
  TempDir tmp;
  const fs::path root = tmp.path() / "lib";
  const std::string author = "Auth\xff\xfeor";
  const std::string book = "Caf\xe9.epub";  // Latin-1 e-acute
  write_file(root / author / book, "latin1");

  Recording v;
  walk_ok(root, v);
  REQUIRE(v.files.size() == 1);
  const auto& f = v.files[0];
  CHECK(f.path.native() == (root / author / book).native());
  CHECK(f.author_folder.native() == author);
  CHECK(testing::read_file(f.path) == "latin1");  // the bytes still open the file
  CHECK(f.display() == (root / "Auth\xEF\xBF\xBD\xEF\xBF\xBDor" / "Caf\xEF\xBF\xBD.epub").string());
  CHECK(display_path("ok/\xC3\xA9t\xC3\xA9") == "ok/\xC3\xA9t\xC3\xA9");          // valid UTF-8 unchanged
  CHECK(display_path("\xC3") == "\xEF\xBF\xBD");                                  // a truncated sequence
  CHECK(display_path("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
}

TEST_CASE("one author's folder can be walked alone", "[walk]") {
  TempDir tmp;
  const fs::path root = tmp.path() / "lib";
  write_file(root / "Ada" / "Book" / "a.epub");
  write_file(root / "Ada" / "a2.pdf");
  write_file(root / "Bo" / "b.epub");
  write_file(root / "top.epub");
  fs::create_directory_symlink("../..", root / "Ada" / "Book" / "to-root");

  Recording v;
  WalkOptions o;
  o.only = "Ada";
  const auto s = walk_ok(root, v, o);
  CHECK(v.relatives() == std::set<std::string>{"Ada/Book/a.epub", "Ada/a2.pdf"});
  for (const auto& f : v.files) {
    CHECK(f.author_folder == "Ada");
    CHECK(f.author_index == 1);
  }
  REQUIRE_FALSE(v.folders.empty());
  CHECK(v.folders.front().relative == "Ada");
  CHECK(v.folders.front().depth == 1);
  CHECK(s.folders == 2);
  // The link back to the root is a loop even though the root itself was not walked.
  REQUIRE(v.problems.size() == 1);
  CHECK(v.problems[0].kind == WalkProblem::Kind::loop);

  Recording deeper;
  o.only = "Ada/Book";
  walk_ok(root, deeper, o);
  REQUIRE(deeper.files.size() == 1);
  CHECK(deeper.files[0].relative == "Ada/Book/a.epub");
  CHECK(deeper.files[0].depth == 2);
  CHECK(deeper.files[0].author_folder == "Ada");

  auto bad = [&](const fs::path& only, errc code) {
    INFO(only);
    Recording r;
    WalkOptions bo;
    bo.only = only;
    auto res = walk_library(root, r, bo);
    REQUIRE_FALSE(res.has_value());
    CHECK(res.error().code == code);
    CHECK(r.files.empty());
  };
  bad("Nobody", errc::not_found);
  bad("top.epub", errc::invalid_argument);  // a file, not a folder
  bad("../lib/Ada", errc::invalid_argument);
  bad("Ada/./Book", errc::invalid_argument);
  bad(root / "Ada", errc::invalid_argument);  // absolute
  fs::create_directories(root / "Ada" / "extras");
  bad("Ada/extras", errc::invalid_argument);
}

TEST_CASE("the walk fails only when its root cannot be walked", "[walk]") {
  TempDir tmp;
  Recording v;
  auto missing = walk_library(tmp.path() / "missing", v);
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == errc::not_found);
  CHECK(missing.error().message.find("missing") != std::string::npos);

  write_file(tmp.path() / "file.epub");
  auto file = walk_library(tmp.path() / "file.epub", v);
  REQUIRE_FALSE(file.has_value());
  CHECK(file.error().code == errc::invalid_argument);

  auto relative = walk_library("relative/root", v);
  REQUIRE_FALSE(relative.has_value());
  CHECK(relative.error().code == errc::invalid_argument);

  fs::create_directory_symlink(tmp.path() / "gone", tmp.path() / "dangling-root");
  auto dangling = walk_library(tmp.path() / "dangling-root", v);
  REQUIRE_FALSE(dangling.has_value());
  CHECK(dangling.error().code == errc::not_found);

  auto count = count_author_folders(tmp.path() / "missing");
  REQUIRE_FALSE(count.has_value());
  CHECK(count.error().code == errc::not_found);
  CHECK(v.files.empty());
  CHECK(v.folders.empty());
}

TEST_CASE("a walk can be cancelled, stopped or told to skip a folder", "[walk]") {
  TempDir tmp;
  const fs::path root = tmp.path() / "lib";
  for (int a = 0; a < 5; ++a)
    for (int b = 0; b < 4; ++b)
      write_file(root / ("A" + std::to_string(a)) / ("b" + std::to_string(b) + ".epub"));

  SECTION("stop token") {
    std::stop_source source;
    Recording v;
    v.on_file = [&](const WalkFile&) {
      if (v.files.size() == 3) source.request_stop();
      return WalkControl::proceed;
    };
    WalkOptions o;
    o.stop = source.get_token();
    const auto s = walk_ok(root, v, o);
    CHECK(s.end == WalkEnd::cancelled);
    CHECK(v.files.size() == 3);
    CHECK(s.files == 3);
  }
  SECTION("cancel callback") {
    int polls = 0;
    WalkOptions o;
    o.cancelled = [&] { return ++polls > 7; };
    Recording v;
    const auto s = walk_ok(root, v, o);
    CHECK(s.end == WalkEnd::cancelled);
    CHECK(v.files.size() < 20);
  }
  SECTION("an already fired token walks nothing but the start folder") {
    std::stop_source source;
    source.request_stop();
    WalkOptions o;
    o.stop = source.get_token();
    Recording v;
    const auto s = walk_ok(root, v, o);
    CHECK(s.end == WalkEnd::cancelled);
    CHECK(v.files.empty());
    CHECK(v.folders.size() == 1);
  }
  SECTION("the visitor stops") {
    Recording v;
    v.on_file = [](const WalkFile&) { return WalkControl::stop; };
    const auto s = walk_ok(root, v);
    CHECK(s.end == WalkEnd::stopped);
    CHECK(v.files.size() == 1);
  }
  SECTION("the visitor skips two author folders, and the rest of a third after one file") {
    Recording v;
    v.on_folder = [](const WalkFolder& f) {
      return f.author_folder == "A1" || f.author_folder == "A3" ? WalkControl::skip : WalkControl::proceed;
    };
    v.on_file = [](const WalkFile& f) {
      return f.author_folder == "A4" ? WalkControl::skip : WalkControl::proceed;
    };
    const auto s = walk_ok(root, v);
    CHECK(s.end == WalkEnd::complete);
    std::map<std::string, int> per;
    for (const auto& f : v.files) ++per[f.author_folder.string()];
    CHECK(per == std::map<std::string, int>{{"A0", 4}, {"A2", 4}, {"A4", 1}});
  }
}

TEST_CASE("folders deeper than max_depth are reported, not entered", "[walk]") {
  TempDir tmp;
  const fs::path root = tmp.path() / "lib";
  write_file(root / "a" / "b" / "c" / "deep.epub");
  write_file(root / "a" / "b" / "shallow.epub");
  Recording v;
  WalkOptions o;
  o.max_depth = 2;
  walk_ok(root, v, o);
  CHECK(v.relatives() == std::set<std::string>{"a/b/shallow.epub"});
  REQUIRE(v.problems.size() == 1);
  CHECK(v.problems[0].kind == WalkProblem::Kind::too_deep);
  CHECK(v.problems[0].path == root / "a" / "b" / "c");
}

// The walk holds one open folder and its buffer per level and nothing per file: on a tree of thousands of
// files, the heap in use and the open descriptors at the last file are what they were at the
// first (a walk that collected the paths first would hold them all by then), and the deepest
// file is reached with one descriptor per level.
TEST_CASE("the walk's memory is bounded by the depth, not the number of files", "[walk]") {
  TempDir tmp;
  const fs::path root = tmp.path() / "lib";
  const std::string long_part(100, 'n');
  constexpr int kAuthors = 40, kFiles = 100, kDepth = 24;
  for (int a = 0; a < kAuthors; ++a)
    for (int f = 0; f < kFiles; ++f)
      write_file(root / ("Author " + std::to_string(a)) / (long_part + std::to_string(f) + ".epub"), "");
  fs::path deep = root / "Deep";
  for (int d = 1; d < kDepth; ++d) deep /= "level" + std::to_string(d);
  write_file(deep / "bottom.epub", "");

  auto open_fds = [] {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
    return n;
  };
  struct Probe : WalkVisitor {
    std::size_t files = 0;
    std::size_t heap_first = 0, heap_max = 0;
    std::size_t fds_at_bottom = 0;
    std::function<std::size_t()> fds;
    std::size_t wide_files = 0;
    WalkControl file(const WalkFile& f) override {
      ++files;
      // Measured in the wide author folders only, where two folders are open (the root and the
      // author): each deeper level adds its buffer, which is the O(depth) part.
      if (f.depth == 1) {
        const std::size_t heap = ::mallinfo2().uordblks;
        if (wide_files++ == 0) heap_first = heap;
        heap_max = std::max(heap_max, heap);
      }
      if (f.path.filename() == "bottom.epub") fds_at_bottom = fds();
      return WalkControl::proceed;
    }
  } probe;
  probe.fds = open_fds;
  const std::size_t fds_before = open_fds();
  const auto s = walk_ok(root, probe);
  CHECK(probe.files == kAuthors * kFiles + 1);
  CHECK(probe.wide_files == kAuthors * kFiles);
  CHECK(s.files == probe.files);
  // A collected list of 4001 paths of more than 100 bytes would be over 400 KiB.
  CHECK(probe.heap_max - probe.heap_first < 200 * 1024);
  // The root, Deep and its 23 levels open, plus the one /proc/self/fd listing counts itself.
  CHECK(probe.fds_at_bottom <= fds_before + kDepth + 1 + 1);
  CHECK(probe.fds_at_bottom >= fds_before + kDepth + 1);
  CHECK(open_fds() == fds_before);  // all closed after the walk
}

}  // namespace library_walk_test

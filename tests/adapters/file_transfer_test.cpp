// SPDX-License-Identifier: MIT
// File transfer on real files in temporary folders.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <set>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "file_tree.hpp"
#include "shelfjobs/adapters/file_transfer.hpp"
#include "test_support.hpp"

using namespace shelfjobs;
namespace fs = std::filesystem;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

// The whole file in a namespace of its own: the unity build compiles several test files as one
// translation unit, and their helpers must not meet.
namespace file_transfer_test {

struct stat stat_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st;
}

bool same_inode(const fs::path& a, const fs::path& b) {
  const auto sa = stat_of(a), sb = stat_of(b);
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// Names in a folder, for "nothing left behind" checks.
std::set<std::string> names_in(const fs::path& folder) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(folder)) out.insert(e.path().filename().string());
  return out;
}

// A folder on another file system than the temp folder, where there is one (/dev/shm is tmpfs
// on Linux); empty when none is found.
fs::path other_filesystem(const fs::path& than) {
  for (const char* candidate : {"/dev/shm", "/run/user", "/run"}) {
    struct stat a {
    }, b{};
    if (::stat(candidate, &a) == 0 && ::stat(than.c_str(), &b) == 0 && a.st_dev != b.st_dev &&
        ::access(candidate, W_OK) == 0)
      return candidate;
  }
  return {};
}

const std::string kContent = "the bytes of a book\n";

TEST_CASE("copy creates the folders, keeps the source and leaves no temporary file", "[transfer]") {
  TempDir tmp;
  const fs::path src = tmp.path() / "in" / "book.epub";
  write_file(src, kContent);
  struct timespec times[2] = {{0, UTIME_OMIT}, {1600000000, 0}};
  REQUIRE(::utimensat(AT_FDCWD, src.c_str(), times, 0) == 0);
  const fs::path dst = tmp.path() / "lib" / "Ada Example" / "First Book" / "Ada Example - First Book.epub";

  std::uint64_t last_done = 0, last_total = 0;
  TransferOptions o;
  o.progress = [&](std::uint64_t done, std::uint64_t total) {
    last_done = done;
    last_total = total;
  };
  auto r = transfer(src, dst, TransferMode::copy, o);
  REQUIRE(r.has_value());
  CHECK(r->action == TransferAction::copied);
  CHECK(r->bytes_copied == kContent.size());
  CHECK_FALSE(r->source_removed);
  CHECK(read_file(dst) == kContent);
  CHECK(read_file(src) == kContent);
  CHECK_FALSE(same_inode(src, dst));
  CHECK(stat_of(dst).st_mtim.tv_sec == 1600000000);
  CHECK(last_done == kContent.size());
  CHECK(last_total == kContent.size());
  CHECK(names_in(dst.parent_path()) == std::set<std::string>{"Ada Example - First Book.epub"});

  // Again: the same bytes are already there.
  auto again = transfer(src, dst, TransferMode::copy);
  REQUIRE(again.has_value());
  CHECK(again->action == TransferAction::already_there);
  CHECK(again->bytes_copied == 0);
}

TEST_CASE("an empty file and a large file are copied exactly", "[transfer]") {
  TempDir tmp;
  const fs::path empty = tmp.path() / "empty.pdf";
  write_file(empty, "");
  auto r = transfer(empty, tmp.path() / "out" / "empty.pdf", TransferMode::copy);
  REQUIRE(r.has_value());
  CHECK(fs::file_size(tmp.path() / "out" / "empty.pdf") == 0);

  std::string big(3 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 31) % 251);
  write_file(tmp.path() / "big.m4b", big);
  auto b = transfer(tmp.path() / "big.m4b", tmp.path() / "out" / "big.m4b", TransferMode::copy);
  REQUIRE(b.has_value());
  CHECK(b->bytes_copied == big.size());
  CHECK(read_file(tmp.path() / "out" / "big.m4b") == big);
}

TEST_CASE("hardlink gives the destination the source's inode", "[transfer]") {
  TempDir tmp;
  const fs::path src = tmp.path() / "downloads" / "book.mobi";
  write_file(src, kContent);
  const fs::path dst = tmp.path() / "lib" / "Ada" / "book.mobi";
  auto r = transfer(src, dst, TransferMode::hardlink);
  REQUIRE(r.has_value());
  CHECK(r->action == TransferAction::hardlinked);
  CHECK(same_inode(src, dst));
  CHECK(stat_of(src).st_nlink == 2);

  // Again: the same inode is already there, for every mode.
  for (auto mode : {TransferMode::hardlink, TransferMode::copy, TransferMode::hardlink_or_copy}) {
    INFO(to_string(mode));
    auto again = transfer(src, dst, mode);
    REQUIRE(again.has_value());
    CHECK(again->action == TransferAction::already_there);
  }
  CHECK(stat_of(src).st_nlink == 2);

  auto hoc = transfer(src, tmp.path() / "lib" / "Ada" / "second.mobi", TransferMode::hardlink_or_copy);
  REQUIRE(hoc.has_value());
  CHECK(hoc->action == TransferAction::hardlinked);
}

TEST_CASE("move renames on one file system", "[transfer]") {
  TempDir tmp;
  const fs::path src = tmp.path() / "downloads" / "book.azw3";
  write_file(src, kContent);
  const auto inode = stat_of(src).st_ino;
  const fs::path dst = tmp.path() / "lib" / "Ada" / "Book" / "book.azw3";
  auto r = transfer(src, dst, TransferMode::move);
  REQUIRE(r.has_value());
  CHECK(r->action == TransferAction::renamed);
  CHECK(r->source_removed);
  CHECK_FALSE(fs::exists(src));
  CHECK(read_file(dst) == kContent);
  CHECK(stat_of(dst).st_ino == inode);
}

TEST_CASE("across file systems: hardlink fails clearly, hardlink_or_copy copies, move copies then removes",
          "[transfer]") {
  TempDir tmp;
  const fs::path other = other_filesystem(tmp.path());
  if (other.empty()) {
    WARN("no second writable file system here (/dev/shm, /run): cross-device cases not run");
    return;
  }
  const fs::path far = other / ("shelfjobs-transfer-" + std::to_string(::getpid()));
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } cleanup{far};
  const fs::path src = far / "book.epub";
  write_file(src, kContent);
  const fs::path dst = tmp.path() / "lib" / "book.epub";

  auto link = transfer(src, dst, TransferMode::hardlink);
  REQUIRE_FALSE(link.has_value());
  CHECK(link.error().code == errc::invalid_argument);
  CHECK_THAT(link.error().message, Catch::Contains("different file systems"));
  CHECK_FALSE(fs::exists(dst));

  auto hoc = transfer(src, dst, TransferMode::hardlink_or_copy);
  REQUIRE(hoc.has_value());
  CHECK(hoc->action == TransferAction::copied);
  CHECK(read_file(dst) == kContent);
  CHECK(fs::exists(src));

  const fs::path moved = tmp.path() / "lib" / "moved.epub";
  auto mv = transfer(src, moved, TransferMode::move);
  REQUIRE(mv.has_value());
  CHECK(mv->action == TransferAction::moved_by_copy);
  CHECK(mv->source_removed);
  CHECK(mv->bytes_copied == kContent.size());
  CHECK_FALSE(fs::exists(src));
  CHECK(read_file(moved) == kContent);
  CHECK(names_in(moved.parent_path()) == std::set<std::string>{"book.epub", "moved.epub"});
}

TEST_CASE("an existing different destination is a conflict and is never overwritten", "[transfer]") {
  TempDir tmp;
  const fs::path src = tmp.path() / "src.epub";
  write_file(src, kContent);
  const fs::path dst = tmp.path() / "lib" / "dst.epub";
  const std::vector<std::pair<const char*, std::function<void()>>> occupants = {
      {"same size, other bytes", [&] { write_file(dst, std::string(kContent.size(), 'z')); }},
      {"other size", [&] { write_file(dst, "short"); }},
      {"a folder", [&] { fs::create_directories(dst / "x"); }},
      {"a dangling symlink",
       [&] {
         fs::create_directories(dst.parent_path());
         fs::create_symlink(tmp.path() / "nowhere", dst);
       }},
  };
  for (auto mode :
       {TransferMode::copy, TransferMode::hardlink, TransferMode::move, TransferMode::hardlink_or_copy}) {
    for (const auto& [what, make] : occupants) {
      INFO(to_string(mode) << ", " << what);
      std::error_code ec;
      fs::remove_all(dst.parent_path(), ec);
      make();
      const auto before = fs::is_regular_file(dst) ? read_file(dst) : std::string();
      auto r = transfer(src, dst, mode);
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().code == errc::conflict);
      CHECK_THAT(r.error().message, Catch::Contains(dst.string()));
      CHECK(read_file(src) == kContent);  // the source is kept, also by a move
      if (fs::is_regular_file(dst)) CHECK(read_file(dst) == before);
      CHECK(names_in(dst.parent_path()) == std::set<std::string>{"dst.epub"});
    }
  }
}

TEST_CASE("a destination with the same bytes is already there; a move then removes the source",
          "[transfer]") {
  TempDir tmp;
  const fs::path src = tmp.path() / "src.epub";
  const fs::path dst = tmp.path() / "lib" / "dst.epub";
  write_file(src, kContent);
  write_file(dst, kContent);
  auto copy = transfer(src, dst, TransferMode::copy);
  REQUIRE(copy.has_value());
  CHECK(copy->action == TransferAction::already_there);
  CHECK(fs::exists(src));
  auto link = transfer(src, dst, TransferMode::hardlink);
  REQUIRE(link.has_value());
  CHECK(link->action == TransferAction::already_there);
  CHECK_FALSE(same_inode(src, dst));  // nothing was replaced by a link

  auto move = transfer(src, dst, TransferMode::move);
  REQUIRE(move.has_value());
  CHECK(move->action == TransferAction::already_there);
  CHECK(move->source_removed);
  CHECK_FALSE(fs::exists(src));
  CHECK(read_file(dst) == kContent);

  // A move of a file onto itself (another spelling of the same entry) removes nothing.
  fs::create_directory_symlink(tmp.path() / "lib", tmp.path() / "alias");
  auto self = transfer(tmp.path() / "alias" / "dst.epub", dst, TransferMode::move);
  REQUIRE(self.has_value());
  CHECK(self->action == TransferAction::already_there);
  CHECK_FALSE(self->source_removed);
  CHECK(read_file(dst) == kContent);
}

TEST_CASE("bad sources and paths are errors that name them", "[transfer]") {
  TempDir tmp;
  auto missing = transfer(tmp.path() / "missing.epub", tmp.path() / "out.epub", TransferMode::copy);
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == errc::not_found);
  CHECK_THAT(missing.error().message, Catch::Contains("missing.epub"));
  CHECK_FALSE(fs::exists(tmp.path() / "out.epub"));

  fs::create_directories(tmp.path() / "folder.epub");
  auto folder = transfer(tmp.path() / "folder.epub", tmp.path() / "out.epub", TransferMode::move);
  REQUIRE_FALSE(folder.has_value());
  CHECK(folder.error().code == errc::invalid_argument);

  write_file(tmp.path() / "a.epub", kContent);
  auto relative = transfer("a.epub", tmp.path() / "out.epub", TransferMode::copy);
  REQUIRE_FALSE(relative.has_value());
  CHECK(relative.error().code == errc::invalid_argument);
  auto no_name = transfer(tmp.path() / "a.epub", tmp.path() / "dir/", TransferMode::copy);
  REQUIRE_FALSE(no_name.has_value());
  CHECK(no_name.error().code == errc::invalid_argument);

  // A parent "folder" that is a file.
  write_file(tmp.path() / "plain", "x");
  auto under_file = transfer(tmp.path() / "a.epub", tmp.path() / "plain" / "b.epub", TransferMode::copy);
  REQUIRE_FALSE(under_file.has_value());
  CHECK(under_file.error().code == errc::unavailable);
  CHECK_THAT(under_file.error().message, Catch::Contains("cannot create folder"));
}

TEST_CASE("names that are not UTF-8 are transferred byte for byte", "[transfer]") {
  TempDir tmp;
  const fs::path src = tmp.path() / "Caf\xe9 \xff.epub";
  write_file(src, kContent);
  const fs::path dst = tmp.path() / "lib" / "Auth\xfe" / "Caf\xe9 \xff.epub";
  for (auto mode : {TransferMode::copy, TransferMode::hardlink}) {
    INFO(to_string(mode));
    auto r = transfer(src, dst, mode);
    REQUIRE(r.has_value());
    CHECK(read_file(dst) == kContent);
    fs::remove(dst);
  }
  auto mv = transfer(src, dst, TransferMode::move);
  REQUIRE(mv.has_value());
  CHECK(names_in(dst.parent_path()) == std::set<std::string>{"Caf\xe9 \xff.epub"});
  // Messages show the bytes as U+FFFD.
  auto missing = transfer(src, dst, TransferMode::copy);
  REQUIRE_FALSE(missing.has_value());
  CHECK_THAT(missing.error().message, Catch::Contains("Caf\xEF\xBF\xBD \xEF\xBF\xBD.epub"));
}

TEST_CASE("a folder that cannot be written is a clear error and nothing is left", "[transfer]") {
  TempDir tmp;
  const fs::path src = tmp.path() / "src.epub";
  write_file(src, kContent);
  ::chmod(src.c_str(), 0644);
  const fs::path locked = tmp.path() / "locked";
  fs::create_directories(locked);
  ::chmod(locked.c_str(), 0555);

  // As root, permission bits do not bite: the transfers run in a child that drops to nobody.
  const auto out = testing::in_child(
      [&] {
        std::string s;
        for (auto mode : {TransferMode::copy, TransferMode::hardlink, TransferMode::move}) {
          auto r = transfer(src, locked / "dst.epub", mode);
          s += std::string(to_string(mode)) + ":" + (r ? "ok" : std::string(to_string(r.error().code))) +
               ":" + (r ? "" : r.error().message) + "\n";
        }
        auto nested = transfer(src, locked / "sub" / "dst.epub", TransferMode::copy);
        s += "nested:" + (nested ? std::string("ok") : std::string(to_string(nested.error().code))) + "\n";
        return s;
      },
      /*as_nobody=*/::geteuid() == 0);
  ::chmod(locked.c_str(), 0755);
  REQUIRE(out.has_value());
  INFO(*out);
  CHECK_THAT(*out, Catch::Contains("copy:unavailable:cannot write to folder " + locked.string() +
                                   ": Permission denied"));
  CHECK_THAT(*out, Catch::Contains("hardlink:unavailable:"));
  CHECK_THAT(*out, Catch::Contains("move:unavailable:"));
  CHECK_THAT(*out, Catch::Contains("nested:unavailable"));
  CHECK(names_in(locked).empty());
  CHECK(read_file(src) == kContent);
}

// A full disk without root: RLIMIT_FSIZE in a child makes writes past the limit fail with EFBIG
// (SIGXFSZ ignored), the same path through the copy as ENOSPC: the error names the cause, the
// temporary file is removed, nothing appears under the final name and the source is intact. A
// move across file systems copies through the same function, so this stands for it too.
TEST_CASE("a copy that runs out of room removes its partial file", "[transfer]") {
  TempDir tmp;
  const fs::path src = tmp.path() / "big.epub";
  write_file(src, std::string(256 * 1024, 'b'));
  const fs::path dst = tmp.path() / "lib" / "big.epub";
  fs::create_directories(dst.parent_path());
  const auto out = testing::in_child(
      [&] {
        auto r = transfer(src, dst, TransferMode::copy);
        return r ? std::string("ok") : std::string(to_string(r.error().code)) + ":" + r.error().message;
      },
      /*as_nobody=*/false,
      [] {
        ::signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim {
          64 * 1024, 64 * 1024
        };
        ::setrlimit(RLIMIT_FSIZE, &lim);
      });
  REQUIRE(out.has_value());
  CHECK_THAT(*out, Catch::StartsWith("unavailable:cannot write " + dst.string()));
  CHECK_THAT(*out, Catch::Contains("too large for the destination (EFBIG)"));
  CHECK(names_in(dst.parent_path()).empty());
  CHECK(fs::file_size(src) == 256 * 1024);
}

TEST_CASE("a copy can be cancelled and leaves nothing behind", "[transfer]") {
  TempDir tmp;
  const fs::path src = tmp.path() / "big.m4b";
  write_file(src, std::string(3 * 1024 * 1024, 'a'));
  const fs::path dst = tmp.path() / "lib" / "big.m4b";
  std::stop_source stop;
  TransferOptions o;
  o.stop = stop.get_token();
  int chunks = 0;
  o.progress = [&](std::uint64_t, std::uint64_t) {
    if (++chunks == 1) stop.request_stop();
  };
  auto r = transfer(src, dst, TransferMode::copy, o);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == errc::shutting_down);
  CHECK(chunks == 1);
  CHECK(names_in(dst.parent_path()).empty());
  CHECK(fs::file_size(src) == 3 * 1024 * 1024);
}

}  // namespace file_transfer_test

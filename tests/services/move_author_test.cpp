// SPDX-License-Identifier: MIT
// A renamed author: the AuthorRenamed rule pushes MoveAuthor, which renames the folder on disk
// and re-points the catalog in one transaction, or changes nothing.
#include <fstream>

#include <catch2/catch.hpp>

#include "library_fixture.hpp"

using namespace shelfjobs;
using namespace testing;
using namespace std::chrono;
namespace fs = std::filesystem;

namespace {

// An author refreshed once, with its folder on disk holding two book files.
struct Shelf {
  Library lib;
  Author ada;
  std::vector<fs::path> files;

  Shelf() {
    ada = lib.add(1001, "Ada Example", 2);
    auto sum = lib.service->refresh_author(ada.id, Trigger::manual, nullptr);
    REQUIRE(sum.refreshed == 1);
    fs::create_directories(ada.path / "Book One");
    for (const char* name : {"Book One/one.epub", "two.mobi"}) {
      const fs::path p = ada.path / name;
      std::ofstream(p) << "content of " << name;
      BookFile f;
      f.author_id = ada.id;
      f.path = p;
      f.size = 10;
      f.format = p.extension().string().substr(1);
      REQUIRE(lib.catalog->upsert_file(f).has_value());
      files.push_back(p);
    }
  }

  std::vector<std::string> file_paths() {
    auto fl = lib.catalog->files_of_author(ada.id);
    REQUIRE(fl.has_value());
    std::vector<std::string> out;
    for (const auto& f : *fl) out.push_back(f.path.string());
    std::sort(out.begin(), out.end());
    return out;
  }

  MoveAuthor move_to(const fs::path& dst) {
    MoveAuthor m;
    m.authorId = ada.id;
    m.sourcePath = ada.path.string();
    m.destinationPath = dst.string();
    return m;
  }
};

}  // namespace

TEST_CASE("A renamed author's folder is moved on disk and every path follows", "[refresh][move]") {
  Shelf s;
  Engine& engine = s.lib.start_engine();
  std::vector<AuthorRenamed> renamed;
  s.lib.bus->subscribe<AuthorRenamed>([&](const AuthorRenamed& e) { renamed.push_back(e); });

  s.lib.server->set_scenario("1001", {.scenario = fixtures::Scenario::renamed, .new_name = "Ada: Lovelace?"});
  // A manual refresh of one author revalidates its cached answer, so the rename is seen.
  REQUIRE(engine.push(RefreshAuthor{.authorId = s.ada.id}).has_value());
  REQUIRE(engine.wait_idle(10s));

  REQUIRE(renamed.size() == 1);
  CHECK(renamed[0].old_name == "Ada Example");
  CHECK(renamed[0].new_name == "Ada: Lovelace?");
  const fs::path dst = s.lib.root.path / safe_folder_name("Ada: Lovelace?");
  CHECK(renamed[0].new_path == dst);
  CHECK(dst.filename().string().find_first_of(":?") == std::string::npos);

  auto moves = engine.list({.names = {"MoveAuthor"}});
  REQUIRE(moves.has_value());
  REQUIRE(moves->jobs.size() == 1);
  CHECK(moves->jobs[0].status == JobStatus::completed);
  CHECK_FALSE(fs::exists(s.ada.path));
  CHECK(fs::exists(dst / "Book One" / "one.epub"));
  CHECK(fs::exists(dst / "two.mobi"));
  auto author = s.lib.catalog->author(s.ada.id);
  REQUIRE(author.has_value());
  CHECK(author->name == "Ada: Lovelace?");
  CHECK(author->path == dst);
  CHECK(s.file_paths() ==
        std::vector<std::string>{(dst / "Book One" / "one.epub").string(), (dst / "two.mobi").string()});
}

TEST_CASE("A move onto an existing folder overwrites nothing and changes nothing", "[refresh][move]") {
  Shelf s;
  const fs::path dst = s.lib.root.path / "Taken";
  fs::create_directories(dst);
  std::ofstream(dst / "mine.txt") << "not yours";
  const auto before = s.file_paths();
  try {
    s.lib.service->move_author(s.move_to(dst), nullptr);
    FAIL("no error");
  } catch (const JobError& e) {
    CHECK(e.kind() == ErrorKind::permanent);
    CHECK(std::string(e.what()).find("exists") != std::string::npos);
  }
  CHECK(fs::exists(s.files[0]));
  CHECK(fs::exists(dst / "mine.txt"));
  CHECK(fs::directory_iterator(dst) != fs::directory_iterator());
  CHECK(s.lib.catalog->author(s.ada.id)->path == s.ada.path);
  CHECK(s.file_paths() == before);
}

TEST_CASE("A move that fails on disk leaves the catalog as it was", "[refresh][move]") {
  Shelf s;
  // The destination's parent is a file: the folder cannot be created there.
  const fs::path blocker = s.lib.root.path / "blocker";
  std::ofstream(blocker) << "x";
  const auto before = s.file_paths();
  try {
    s.lib.service->move_author(s.move_to(blocker / "Ada"), nullptr);
    FAIL("no error");
  } catch (const JobError& e) {
    CHECK(e.kind() == ErrorKind::filesystem);
    CHECK(std::string(e.what()).find("blocker") != std::string::npos);
  }
  CHECK(fs::exists(s.files[0]));
  CHECK(s.lib.catalog->author(s.ada.id)->path == s.ada.path);
  CHECK(s.file_paths() == before);
}

TEST_CASE("A move the catalog refuses is undone on disk", "[refresh][move]") {
  Shelf s;
  // Another author already claims the destination path in the catalog (its folder is not on disk).
  Author other = s.lib.add(1002, "Bob Writer", 1);
  const auto before = s.file_paths();
  try {
    s.lib.service->move_author(s.move_to(other.path), nullptr);
    FAIL("no error");
  } catch (const JobError& e) {
    CHECK(std::string(e.what()).find("moved back") != std::string::npos);
  }
  CHECK(fs::exists(s.files[0]));
  CHECK(fs::exists(s.files[1]));
  CHECK_FALSE(fs::exists(other.path));
  CHECK(s.lib.catalog->author(s.ada.id)->path == s.ada.path);
  CHECK(s.file_paths() == before);
}

TEST_CASE("A move whose source folder is missing changes only the catalog's path", "[refresh][move]") {
  Shelf s;
  // An author with no files and no folder yet.
  Author bob = s.lib.add(1002, "Bob Writer", 1);
  REQUIRE_FALSE(fs::exists(bob.path));
  const fs::path dst = s.lib.root.path / "Bob W";
  MoveAuthor m;
  m.authorId = bob.id;
  m.sourcePath = bob.path.string();
  m.destinationPath = dst.string();
  s.lib.service->move_author(m, nullptr);
  CHECK(s.lib.catalog->author(bob.id)->path == dst);
  CHECK_FALSE(fs::exists(dst));
  // Asked again, it is already done.
  s.lib.service->move_author(m, nullptr);
}

TEST_CASE("A missing source folder with recorded files is not a move", "[refresh][move]") {
  Shelf s;
  // The files are recorded under the folder, but it is gone (an unmounted share looks the same):
  // re-pointing the catalog would name a folder nobody moved.
  fs::rename(s.ada.path, s.lib.dir.path() / "elsewhere");
  const auto before = s.file_paths();
  try {
    s.lib.service->move_author(s.move_to(s.lib.root.path / "New"), nullptr);
    FAIL("no error");
  } catch (const JobError& e) {
    CHECK(e.kind() == ErrorKind::filesystem);
    CHECK(std::string(e.what()).find("2 book file(s) are recorded") != std::string::npos);
  }
  CHECK(s.lib.catalog->author(s.ada.id)->path == s.ada.path);
  CHECK(s.file_paths() == before);
}

TEST_CASE("A move interrupted after the rename is finished by running it again", "[refresh][move]") {
  Shelf s;
  const fs::path dst = s.lib.root.path / "Ada Renamed";
  // What a crash between the folder's rename and the catalog's update leaves behind.
  fs::rename(s.ada.path, dst);
  std::vector<AuthorMoved> moved;
  s.lib.bus->subscribe<AuthorMoved>([&](const AuthorMoved& e) { moved.push_back(e); });
  s.lib.service->move_author(s.move_to(dst), nullptr);
  CHECK(s.lib.catalog->author(s.ada.id)->path == dst);
  CHECK(s.file_paths() ==
        std::vector<std::string>{(dst / "Book One" / "one.epub").string(), (dst / "two.mobi").string()});
  REQUIRE(moved.size() == 1);
  CHECK(moved[0].files == 2);
}

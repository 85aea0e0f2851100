// SPDX-License-Identifier: MIT
// A person's edits through LibraryService on a real catalog and real folders: root folders that
// must exist, monitoring authors and books (and a refresh that keeps the choice), pointing an
// author at another folder, and removing an author with or without its folder.

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "library_fixture.hpp"

namespace library_edits_test {

using namespace shelfjobs;
using namespace testing;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Every event of type E published on `bus` from now on.
template <class E>
struct Recorder {
  std::vector<E> seen;
  explicit Recorder(EventBus& bus) {
    bus.subscribe<E>([this](const E& e) { seen.push_back(e); });
  }
};

BookFile file_of(const Author& a, RowId book_id, const fs::path& path) {
  BookFile f;
  f.author_id = a.id;
  f.book_id = book_id;
  f.path = path;
  f.size = 10;
  f.format = "epub";
  return f;
}

// The author's books once a refresh brought them from the source.
std::vector<Book> refreshed_books(Library& lib, const Author& a) {
  lib.service->refresh_author(a.id, Trigger::manual, nullptr);
  return lib.catalog->books_of(a.id).value();
}

void touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "book";
}

TEST_CASE("a root folder must exist, be a folder and be readable", "[services][library]") {
  Library lib;
  const fs::path fresh = lib.dir.path() / "audiobooks";
  fs::create_directories(fresh);
  auto added = lib.library->add_root_folder(fresh / "", "Audio");
  REQUIRE(added.has_value());
  CHECK(added->path == fresh);
  CHECK(added->name == "Audio");

  auto missing = lib.library->add_root_folder(lib.dir.path() / "nowhere");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == errc::invalid_argument);
  CHECK(missing.error().message.find("does not exist") != std::string::npos);

  touch(lib.dir.path() / "a-file");
  auto file = lib.library->add_root_folder(lib.dir.path() / "a-file");
  REQUIRE_FALSE(file.has_value());
  CHECK(file.error().message.find("is not a folder") != std::string::npos);

  CHECK(lib.library->add_root_folder("relative/books").error().code == errc::invalid_argument);
  CHECK(lib.library->add_root_folder(fresh).error().code == errc::conflict);
  CHECK(lib.catalog->root_folders().value().size() == 2);  // the fixture's and `fresh`
}

TEST_CASE("a root folder's authors are told when it goes and when it comes back", "[services][library]") {
  Library lib;
  Recorder<AuthorEdited> edited(*lib.bus);
  const Author ann = lib.add(4301, "Ann Example", 1);
  const RowId root_id = lib.root.id;
  REQUIRE(lib.library->remove_root_folder(root_id).has_value());
  REQUIRE(edited.seen.size() == 1);
  CHECK(edited.seen[0].author.id == ann.id);
  CHECK(edited.seen[0].author.root_folder_id == 0);
  CHECK(edited.seen[0].author.path == ann.path);

  const auto back = lib.library->add_root_folder(lib.root.path);
  REQUIRE(back.has_value());
  REQUIRE(edited.seen.size() == 2);
  CHECK(edited.seen[1].author.id == ann.id);
  CHECK(edited.seen[1].author.root_folder_id == back->id);
  CHECK(lib.catalog->author(ann.id)->root_folder_id == back->id);

  // Another root folder takes no author: nothing to tell.
  fs::create_directories(lib.dir.path() / "audio");
  REQUIRE(lib.library->add_root_folder(lib.dir.path() / "audio").has_value());
  CHECK(edited.seen.size() == 2);
  CHECK(lib.library->remove_root_folder(root_id).error().code == errc::not_found);
}

TEST_CASE("a root folder added inside another takes the authors under it, and gives them back when removed",
          "[services][library]") {
  Library lib;
  Recorder<AuthorEdited> edited(*lib.bus);
  const Author ann = lib.add(4321, "Ann Outer", 1);
  Author cy = lib.add(4322, "Cy Inner", 1);
  cy = lib.catalog->set_author_path(cy.id, lib.root.path / "Audio" / "Cy Inner", false).value();
  REQUIRE(cy.root_folder_id == lib.root.id);
  fs::create_directories(lib.root.path / "Audio");

  const auto inner = lib.library->add_root_folder(lib.root.path / "Audio", "Audio");
  REQUIRE(inner.has_value());
  CHECK(lib.catalog->author(cy.id)->root_folder_id == inner->id);  // the deepest root holding it
  CHECK(lib.catalog->author(ann.id)->root_folder_id == lib.root.id);
  REQUIRE(edited.seen.size() == 1);
  CHECK(edited.seen[0].author.id == cy.id);
  CHECK(edited.seen[0].author.root_folder_id == inner->id);
  auto owner = lib.library->root_folder_of(cy.path);
  REQUIRE(owner.has_value());
  CHECK(owner->id == inner->id);

  // Removed: the authors of the inner root folder go back to the one around it.
  REQUIRE(lib.library->remove_root_folder(inner->id).has_value());
  CHECK(lib.catalog->author(cy.id)->root_folder_id == lib.root.id);
  REQUIRE(edited.seen.size() == 2);
  CHECK(edited.seen[1].author.id == cy.id);
  CHECK(edited.seen[1].author.root_folder_id == lib.root.id);
  CHECK(lib.catalog->author(ann.id)->root_folder_id == lib.root.id);
}

TEST_CASE("monitoring survives a refresh that read the rows before the choice", "[services][library]") {
  Library lib;
  const Author ann = lib.add(4101, "Ann Example", 3);
  lib.service->refresh_author(ann.id, Trigger::manual, nullptr);
  auto books = lib.catalog->books_of(ann.id).value();
  REQUIRE(books.size() == 3);
  Recorder<AuthorEdited> authors(*lib.bus);
  Recorder<BookEdited> edited(*lib.bus);

  // What a refresh holds once it has read the catalog: the rows as they were.
  const Author read_author = lib.catalog->author(ann.id).value();
  const Book read_book = books[0];
  REQUIRE(read_author.monitored);
  REQUIRE(read_book.monitored);

  // The person's choice lands while the refresh fetches.
  auto a = lib.library->set_author_monitored(ann.id, false);
  REQUIRE(a.has_value());
  CHECK_FALSE(a->monitored);
  auto b = lib.library->set_books_monitored({books[0].id, books[1].id}, false);
  REQUIRE(b.has_value());
  REQUIRE(b->size() == 2);
  CHECK_FALSE((*b)[0].monitored);
  CHECK_FALSE((*b)[1].monitored);
  CHECK(authors.seen.size() == 1);
  REQUIRE(edited.seen.size() == 2);
  CHECK(edited.seen[1].book.id == books[1].id);

  // The refresh then writes the rows it read, with a new overview and title.
  AuthorWrite w;
  w.author = read_author;
  w.author->overview = "fetched later";
  BookWrite bw;
  bw.book = read_book;
  bw.book.title = read_book.title + " (revised)";
  bw.editions = lib.catalog->editions_of(read_book.id).value();
  w.books = {bw};
  REQUIRE(lib.catalog->apply(w).has_value());
  CHECK(lib.catalog->author(ann.id)->overview == "fetched later");
  CHECK_FALSE(lib.catalog->author(ann.id)->monitored);
  CHECK(lib.catalog->book(read_book.id)->title == read_book.title + " (revised)");
  CHECK_FALSE(lib.catalog->book(read_book.id)->monitored);

  // One missing id: nothing changes.
  auto partly = lib.library->set_books_monitored({books[2].id, 999999}, false);
  REQUIRE_FALSE(partly.has_value());
  CHECK(partly.error().code == errc::not_found);
  CHECK(lib.catalog->book(books[2].id)->monitored);
  CHECK(lib.library->set_author_monitored(999999, true).error().code == errc::not_found);
}

TEST_CASE("a person's edits made while a refresh fetches stand after it", "[services][library]") {
  Library lib;
  const Author ann = lib.add(4601, "Ann Example", 2);
  lib.service->refresh_author(ann.id, Trigger::manual, nullptr);
  REQUIRE(lib.catalog->books_of(ann.id)->size() == 2);

  // Upstream gains two works, and answers slowly: the refresh holds the rows it read meanwhile.
  lib.server->put_author(shelfjobs::fixtures::make_author(4601, "Ann Example", 4));
  lib.server->set_scenario("4601", {.scenario = shelfjobs::fixtures::Scenario::slow, .delay = 1500ms});
  Recorder<BookAdded> added(*lib.bus);
  const auto asked = lib.server->requests_to("author/4601");
  std::thread refresh([&] { lib.service->refresh_author(ann.id, Trigger::manual, nullptr); });
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (lib.server->requests_to("author/4601") == asked && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(5ms);
  const fs::path elsewhere = lib.root.path / "Ann E";
  REQUIRE(lib.library->set_author_path(ann.id, elsewhere).has_value());
  REQUIRE(lib.library->set_author_monitored(ann.id, false).has_value());
  refresh.join();

  const Author now = lib.catalog->author(ann.id).value();
  CHECK(now.path == elsewhere);  // the row read before the edit did not put the old folder back
  CHECK_FALSE(now.monitored);
  const auto books = lib.catalog->books_of(ann.id).value();
  REQUIRE(books.size() == 4);
  int monitored = 0;
  for (const Book& b : books) monitored += b.monitored ? 1 : 0;
  CHECK(monitored == 2);  // the two it had; the new ones follow the author as it is now
  REQUIRE(added.seen.size() == 2);
  CHECK_FALSE(added.seen[0].book.monitored);  // the events say what was stored
  CHECK_FALSE(lib.catalog->book(added.seen[1].book.id)->monitored);
}

TEST_CASE("an author's folder can be set without moving anything, inside a root folder only",
          "[services][library]") {
  Library lib;
  const Author ann = lib.add(4201, "Ann Example", 1);
  Recorder<AuthorEdited> edited(*lib.bus);
  const fs::path there = lib.root.path / "Somewhere" / "Ann";
  auto moved = lib.library->set_author_path(ann.id, there.string() + "/");
  REQUIRE(moved.has_value());
  CHECK(moved->path == there);
  CHECK(moved->root_folder_id == lib.root.id);
  CHECK(lib.catalog->author(ann.id)->path == there);
  REQUIRE(edited.seen.size() == 1);
  CHECK(edited.seen[0].author.path == there);
  CHECK_FALSE(fs::exists(there));  // nothing moved or made on disk

  CHECK(lib.library->root_folder_of(there)->id == lib.root.id);
  CHECK(lib.library->root_folder_of(lib.root.path).error().code == errc::invalid_argument);
  CHECK(lib.library->root_folder_of(lib.root.path.string() + "-look-alike/Ann").error().code ==
        errc::invalid_argument);
  CHECK(lib.library->set_author_path(ann.id, "/elsewhere/Ann").error().code == errc::invalid_argument);
  CHECK(lib.library->set_author_path(ann.id, lib.root.path).error().code == errc::invalid_argument);
  CHECK(lib.library->set_author_path(ann.id, "relative/Ann").error().code == errc::invalid_argument);
  const Author bob = lib.add(4202, "Bob Example", 1);
  CHECK(lib.library->set_author_path(bob.id, there).error().code == errc::conflict);
  CHECK(lib.catalog->author(bob.id)->path == bob.path);
  CHECK(edited.seen.size() == 1);
}

TEST_CASE("an author's folder never is, holds or leads out of a root folder, nor overlaps another author's",
          "[services][library]") {
  Library lib;
  const fs::path inner = lib.root.path / "audio";
  fs::create_directories(inner);
  REQUIRE(lib.catalog->add_root_folder(inner).has_value());  // a root inside a root
  const Author ann = lib.add(4501, "Ann Example", 1);
  const Author bob = lib.add(4502, "Bob Example", 1);
  const auto code = [&](const fs::path& p) {
    auto r = lib.library->set_author_path(ann.id, p);
    return r ? std::string("ok") : std::string(to_string(r.error().code));
  };
  CHECK(code(inner) == "invalid_argument");  // a root folder itself
  CHECK(code(lib.root.path / "x" / ".." / "audio") == "invalid_argument");
  CHECK(code(lib.root.path / "Ann Elsewhere") == "ok");
  CHECK(code(lib.root.path.string() + "/" + std::string("A\0", 2)) == "invalid_argument");  // a NUL byte
  CHECK(code(bob.path / "Ann") == "conflict");  // inside Bob's folder
  fs::create_directories(lib.dir.path() / "outside");
  fs::create_symlink(lib.dir.path() / "outside", lib.root.path / "link");
  CHECK(code(lib.root.path / "link" / "Ann") == "invalid_argument");  // out through a link
  CHECK(lib.library->check_author_folder(ann.id, lib.root.path / "Ann Two")->id == lib.root.id);
  CHECK(lib.library->check_author_folder(ann.id, bob.path).error().code == errc::conflict);

  // A removal with its folder checks the same: Bob's folder pointed at the inner root is refused
  // before anything changes (set by hand: set_author_path refuses it).
  REQUIRE(lib.catalog->set_author_path(bob.id, inner, false).has_value());
  touch(inner / "keep.epub");
  CHECK(lib.library->remove_author(bob.id, true).error().code == errc::invalid_argument);
  CHECK(fs::exists(inner / "keep.epub"));
  CHECK(lib.catalog->author(bob.id).has_value());
}

TEST_CASE("removing an author keeps its files as unmapped rows, or deletes its folder when asked",
          "[services][library]") {
  Library lib;
  Recorder<AuthorRemoved> removed(*lib.bus);

  // Kept: the rows stay, unmapped, and the folder stays on disk.
  const Author ann = lib.add(4301, "Ann Example", 2);
  lib.service->refresh_author(ann.id, Trigger::manual, nullptr);
  const auto ann_books = lib.catalog->books_of(ann.id).value();
  const fs::path ann_file = ann.path / "Book One.epub";
  touch(ann_file);
  REQUIRE(lib.catalog->upsert_file(file_of(ann, ann_books[0].id, ann_file)).has_value());
  REQUIRE(lib.library->remove_author(ann.id, false).has_value());
  CHECK(lib.catalog->author(ann.id).error().code == errc::not_found);
  CHECK(lib.catalog->book(ann_books[0].id).error().code == errc::not_found);
  auto kept = lib.catalog->file_by_path(ann_file);
  REQUIRE(kept.has_value());
  CHECK(kept->author_id == 0);
  CHECK(kept->book_id == 0);
  CHECK(kept->unmapped_reason == "its author was removed");
  CHECK(fs::exists(ann_file));
  REQUIRE(removed.seen.size() == 1);
  CHECK(removed.seen[0].author.id == ann.id);
  CHECK(removed.seen[0].reason == "removed by a user");

  // Deleted: the folder and the rows of every file under it (linked or not); a file of the
  // author's outside its folder stays, unmapped.
  const Author bob = lib.add(4302, "Bob Example", 1);
  lib.service->refresh_author(bob.id, Trigger::manual, nullptr);
  const RowId bob_book = lib.catalog->books_of(bob.id).value().at(0).id;
  const fs::path linked = bob.path / "Linked.epub";
  const fs::path stray = bob.path / "sub" / "Stray.epub";
  const fs::path outside = lib.root.path / "Loose" / "Bob.epub";
  for (const auto& p : {linked, stray, outside}) touch(p);
  REQUIRE(lib.catalog->upsert_file(file_of(bob, bob_book, linked)).has_value());
  BookFile unmapped = file_of(bob, 0, stray);
  unmapped.author_id = 0;
  unmapped.unmapped_reason = "no match";
  REQUIRE(lib.catalog->upsert_file(unmapped).has_value());
  REQUIRE(lib.catalog->upsert_file(file_of(bob, bob_book, outside)).has_value());
  REQUIRE(lib.library->remove_author(bob.id, true).has_value());
  CHECK_FALSE(fs::exists(bob.path));
  CHECK(lib.catalog->file_by_path(linked).error().code == errc::not_found);
  CHECK(lib.catalog->file_by_path(stray).error().code == errc::not_found);
  CHECK(lib.catalog->file_by_path(outside)->author_id == 0);
  CHECK(fs::exists(outside));
  CHECK(fs::exists(lib.root.path));
  CHECK(removed.seen.size() == 2);

  // Into a recycle bin: the folder keeps its place under the root, and a second one of that
  // name gets " (2)".
  const fs::path bin = lib.dir.path() / "bin";
  for (int round = 1; round <= 2; ++round) {
    const Author dee = lib.add(4310 + round, "Dee Example", 1);
    touch(dee.path / "Dee.epub");
    REQUIRE(lib.library->remove_author(dee.id, true, bin).has_value());
    CHECK_FALSE(fs::exists(dee.path));
  }
  CHECK(fs::exists(bin / "Dee Example" / "Dee.epub"));
  CHECK(fs::exists(bin / "Dee Example (2)" / "Dee.epub"));
  removed.seen.clear();

  // A folder in no root folder is never deleted, and nothing changes.
  Author far = lib.add(4303, "Cy Example", 1);
  const fs::path far_folder = lib.dir.path() / "not-a-root" / "Cy";
  touch(far_folder / "Cy.epub");
  far = lib.catalog->set_author_path(far.id, far_folder, false).value();
  auto refused = lib.library->remove_author(far.id, true);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == errc::invalid_argument);
  CHECK(lib.catalog->author(far.id).has_value());
  CHECK(fs::exists(far_folder / "Cy.epub"));
  CHECK(lib.library->remove_author(999999, false).error().code == errc::not_found);
  CHECK(removed.seen.empty());
}

TEST_CASE("removing a book unlinks or deletes its files; it comes back with a refresh unless excluded",
          "[services][library]") {
  Library lib;
  Recorder<BookRemoved> removed(*lib.bus);
  const Author ann = lib.add(4401, "Ann Example", 3);
  const auto books = refreshed_books(lib, ann);
  REQUIRE(books.size() == 3);

  // Kept: the file stays on disk, its row unmapped; a refresh brings the book back.
  const fs::path kept_file = ann.path / "One" / "One.epub";
  touch(kept_file);
  REQUIRE(lib.catalog->upsert_file(file_of(ann, books[0].id, kept_file)).has_value());
  REQUIRE(lib.library->remove_book(books[0].id, false).has_value());
  CHECK(lib.catalog->book(books[0].id).error().code == errc::not_found);
  CHECK(fs::exists(kept_file));
  const BookFile unlinked = lib.catalog->file_by_path(kept_file).value();
  CHECK(unlinked.book_id == 0);
  CHECK(unlinked.unmapped_reason == "its book was removed");
  REQUIRE(removed.seen.size() == 1);
  CHECK(removed.seen[0].book.id == books[0].id);
  CHECK(removed.seen[0].reason == "removed by a user");
  CHECK_FALSE(removed.seen[0].files_deleted);
  CHECK(nlohmann::json(removed.seen[0])["filesDeleted"] == false);
  CHECK(lib.catalog->exclusions().value().empty());
  lib.service->refresh_author(ann.id, Trigger::manual, nullptr);
  CHECK(lib.catalog->book_by_foreign_id(books[0].foreign_id).has_value());

  // Deleted and excluded: the file goes, and the refresh leaves the work out.
  const fs::path gone = ann.path / "Two" / "Two.epub";
  touch(gone);
  REQUIRE(lib.catalog->upsert_file(file_of(ann, books[1].id, gone)).has_value());
  REQUIRE(lib.library->remove_book(books[1].id, true, {}, /*exclude=*/true).has_value());
  CHECK_FALSE(fs::exists(gone));
  CHECK(lib.catalog->file_by_path(gone).error().code == errc::not_found);
  CHECK(removed.seen.back().files_deleted);
  const auto exclusions = lib.catalog->exclusions().value();
  REQUIRE(exclusions.size() == 1);
  CHECK(exclusions[0].foreign_id == books[1].foreign_id);
  CHECK(exclusions[0].name == "Ann Example - " + books[1].title);
  lib.service->refresh_author(ann.id, Trigger::manual, nullptr);
  CHECK(lib.catalog->book_by_foreign_id(books[1].foreign_id).error().code == errc::not_found);
  CHECK(lib.catalog->books_of(ann.id)->size() == 2);
  // The exclusion removed, the next refresh brings it back.
  REQUIRE(lib.catalog->remove_exclusion(exclusions[0].id).has_value());
  lib.service->refresh_author(ann.id, Trigger::manual, nullptr);
  CHECK(lib.catalog->book_by_foreign_id(books[1].foreign_id).has_value());

  // Into the recycle bin, beside a file of that name already there.
  const fs::path bin = lib.dir.path() / "bin";
  const fs::path three = ann.path / "Three" / "Three.epub";
  touch(three);
  touch(bin / "Ann Example" / "Three" / "Three.epub");
  REQUIRE(lib.catalog->upsert_file(file_of(ann, books[2].id, three)).has_value());
  REQUIRE(lib.library->remove_book(books[2].id, true, bin).has_value());
  CHECK_FALSE(fs::exists(three));
  CHECK(fs::exists(bin / "Ann Example" / "Three" / "Three (2).epub"));

  // A file in no root folder is never deleted, and nothing changes.
  const Book back = lib.catalog->book_by_foreign_id(books[1].foreign_id).value();
  const fs::path far = lib.dir.path() / "not-a-root" / "Far.epub";
  touch(far);
  REQUIRE(lib.catalog->upsert_file(file_of(ann, back.id, far)).has_value());
  const auto seen = removed.seen.size();
  auto refused = lib.library->remove_book(back.id, true, {}, true);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == errc::invalid_argument);
  CHECK(lib.catalog->book(back.id).has_value());
  CHECK(lib.catalog->file_by_path(far)->book_id == back.id);
  CHECK(fs::exists(far));
  CHECK(lib.catalog->exclusions().value().empty());
  CHECK(removed.seen.size() == seen);
  CHECK(lib.library->remove_book(999999, false).error().code == errc::not_found);

  // Several at once: every book and file is checked first, so one that may not go keeps all.
  const Book kept_too = lib.catalog->books_of(ann.id).value().front();
  REQUIRE(kept_too.id != back.id);
  refused = lib.library->remove_books({kept_too.id, back.id}, true);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == errc::invalid_argument);
  CHECK(lib.catalog->book(kept_too.id).has_value());
  CHECK(lib.library->remove_books({kept_too.id, 999999}, false).error().code == errc::not_found);
  CHECK(lib.catalog->book(kept_too.id).has_value());
  CHECK(removed.seen.size() == seen);
  // A file already gone from disk only loses its row, wherever the row said it was.
  fs::remove(far);
  REQUIRE(lib.library->remove_books({kept_too.id, back.id, back.id}, true).has_value());
  CHECK(lib.catalog->file_by_path(far).error().code == errc::not_found);
  CHECK(removed.seen.size() == seen + 2);
}

TEST_CASE("books whose files cannot leave the disk are removed all the same, and the error names the file",
          "[services][library]") {
  // The rows go before the disk (the catalog then says what is true); a file the recycle bin
  // cannot take stays where it was, and the answer says which one, after the rest were done.
  Library lib;
  Recorder<BookFileDeleted> deleted(*lib.bus);
  const Author ann = lib.add(4411, "Ann Example", 2);
  const auto books = refreshed_books(lib, ann);
  REQUIRE(books.size() == 2);
  const fs::path stuck = ann.path / "One" / "One.epub";
  touch(stuck);
  REQUIRE(lib.catalog->upsert_file(file_of(ann, books[0].id, stuck)).has_value());
  // The second book's file is a link: links are removed, never moved, so the bin is not needed.
  const fs::path target = lib.dir.path() / "downloads" / "Two.epub";
  touch(target);
  const fs::path link = ann.path / "Two" / "Two.epub";
  fs::create_directories(link.parent_path());
  fs::create_symlink(target, link);
  REQUIRE(lib.catalog->upsert_file(file_of(ann, books[1].id, link)).has_value());
  const fs::path blocked_bin = lib.dir.path() / "blocked";
  touch(blocked_bin);  // a file where the bin's folders would go

  const auto result = lib.library->remove_books({books[0].id, books[1].id}, true, blocked_bin);
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().code == errc::unavailable);
  CHECK(result.error().message.find("is removed") != std::string::npos);
  CHECK(result.error().message.find("cannot move '" + stuck.string() + "' to the recycle bin") !=
        std::string::npos);
  CHECK(lib.catalog->book(books[0].id).error().code == errc::not_found);
  CHECK(lib.catalog->book(books[1].id).error().code == errc::not_found);
  CHECK(fs::exists(stuck));
  CHECK_FALSE(fs::exists(fs::symlink_status(link)));
  CHECK(fs::exists(target));
  CHECK(lib.catalog->file_by_path(stuck).error().code == errc::not_found);
  CHECK(deleted.seen.size() == 2);
}

TEST_CASE("deleting book files: disk first, then the row; every id checked before any goes",
          "[services][library]") {
  Library lib;
  Recorder<BookFileDeleted> deleted(*lib.bus);
  const Author ann = lib.add(4451, "Ann Example", 2);
  const auto books = refreshed_books(lib, ann);
  REQUIRE(books.size() == 2);
  auto add_file = [&](RowId book_id, const fs::path& path) {
    touch(path);
    return lib.catalog->upsert_file(file_of(ann, book_id, path)).value().id;
  };

  // Deleted outright: the file and its row go, and the book is missing again.
  const fs::path one = ann.path / "One" / "One.epub";
  const RowId one_id = add_file(books[0].id, one);
  REQUIRE(lib.library->delete_files({one_id}).has_value());
  CHECK_FALSE(fs::exists(one));
  CHECK(lib.catalog->file(one_id).error().code == errc::not_found);
  CHECK(lib.catalog->book(books[0].id).has_value());  // the book stays
  REQUIRE(deleted.seen.size() == 1);
  CHECK(deleted.seen[0].file.id == one_id);
  CHECK(deleted.seen[0].reason == "deleted by a user: deleted");

  // Into the recycle bin, beside a file of that name already there; an id given twice counts once.
  const fs::path bin = lib.dir.path() / "bin";
  const fs::path two = ann.path / "Two" / "Two.epub";
  const RowId two_id = add_file(books[1].id, two);
  touch(bin / "Ann Example" / "Two" / "Two.epub");
  REQUIRE(lib.library->delete_files({two_id, two_id}, bin).has_value());
  CHECK_FALSE(fs::exists(two));
  CHECK(fs::exists(bin / "Ann Example" / "Two" / "Two (2).epub"));
  CHECK(lib.catalog->file(two_id).error().code == errc::not_found);
  REQUIRE(deleted.seen.size() == 2);
  CHECK(deleted.seen[1].reason.find("moved to the recycle bin") != std::string::npos);

  // An unknown id, or a file in no root folder, and nothing changes.
  const fs::path again = ann.path / "One" / "Again.epub";
  const RowId again_id = add_file(books[0].id, again);
  CHECK(lib.library->delete_files({again_id, 999999}).error().code == errc::not_found);
  const fs::path far = lib.dir.path() / "not-a-root" / "Far.epub";
  const RowId far_id = add_file(books[0].id, far);
  CHECK(lib.library->delete_files({again_id, far_id}).error().code == errc::invalid_argument);
  CHECK(fs::exists(again));
  CHECK(fs::exists(far));
  CHECK(lib.catalog->file(again_id).has_value());
  CHECK(lib.catalog->file(far_id).has_value());
  CHECK(deleted.seen.size() == 2);

  // A file that cannot be moved (the bin's folder is a file) keeps its row; the others still go,
  // and one already gone from disk only loses its row, wherever it was.
  const fs::path blocked_bin = lib.dir.path() / "blocked";
  touch(blocked_bin);
  fs::remove(far);
  auto failed = lib.library->delete_files({again_id, far_id}, blocked_bin);
  REQUIRE_FALSE(failed.has_value());
  CHECK(failed.error().code == errc::unavailable);
  CHECK(failed.error().message.find(again.string()) != std::string::npos);
  CHECK(fs::exists(again));
  CHECK(lib.catalog->file(again_id).has_value());
  CHECK(lib.catalog->file(far_id).error().code == errc::not_found);
  REQUIRE(deleted.seen.size() == 3);
  CHECK(deleted.seen[2].file.id == far_id);
  CHECK(deleted.seen[2].reason == "deleted by a user: already gone from disk");
}

TEST_CASE("a book file missing from disk keeps its row while its root folder is missing or empty",
          "[services][library]") {
  // An unmounted disk: the root folder is there but empty (or not there at all), so every file in
  // it looks deleted. Nothing is removed until it is back.
  Library lib;
  const Author ann = lib.add(4461, "Ann Example", 1);
  const Book book = refreshed_books(lib, ann).at(0);
  const fs::path file = ann.path / "One" / "One.epub";
  touch(file);
  const RowId id = lib.catalog->upsert_file(file_of(ann, book.id, file)).value().id;
  const fs::path root = lib.catalog->root_folders().value().at(0).path;
  fs::remove_all(root);
  fs::create_directories(root);  // mounted again, empty: the disk's own folder
  auto refused = lib.library->delete_files({id});
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == errc::unavailable);
  CHECK(refused.error().message.find("is missing or empty") != std::string::npos);
  CHECK(lib.catalog->file(id).has_value());
  refused = lib.library->remove_book(book.id, /*delete_files=*/true);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == errc::unavailable);
  CHECK(lib.catalog->book(book.id).has_value());
  CHECK(lib.catalog->file(id).has_value());
  fs::remove_all(root);
  CHECK(lib.library->delete_files({id}).error().code == errc::unavailable);
  // With the disk back (the root holds something), the missing file loses its row.
  touch(root / "Someone Else" / "Other.epub");
  REQUIRE(lib.library->delete_files({id}).has_value());
  CHECK(lib.catalog->file(id).error().code == errc::not_found);

  // The same for an author's folder: with the root empty, nothing is removed.
  const RowId other = lib.catalog->upsert_file(file_of(ann, book.id, file)).value().id;
  fs::remove_all(root);
  fs::create_directories(root);
  auto author_refused = lib.library->remove_author(ann.id, /*delete_files=*/true);
  REQUIRE_FALSE(author_refused.has_value());
  CHECK(author_refused.error().code == errc::unavailable);
  CHECK(lib.catalog->author(ann.id).has_value());
  CHECK(lib.catalog->file(other).has_value());
}

TEST_CASE("files of one call take distinct places in the recycle bin; a linked file goes as a link",
          "[services][library]") {
  Library lib;
  Recorder<BookFileDeleted> deleted(*lib.bus);
  const Author ann = lib.add(4471, "Ann Example", 1);
  const Book book = refreshed_books(lib, ann).at(0);
  // The same place under two root folders, and a name the bin holds already with " (2)" taken too.
  const fs::path root = lib.catalog->root_folders().value().at(0).path;
  const fs::path second_root = lib.dir.path() / "second-root";
  fs::create_directories(second_root);
  REQUIRE(lib.catalog->add_root_folder(second_root).has_value());
  const fs::path a = root / "Shared" / "A.epub";
  const fs::path b = second_root / "Shared" / "A.epub";
  touch(a);
  touch(b);
  const fs::path bin = lib.dir.path() / "bin";
  touch(bin / "Shared" / "A.epub");
  const RowId a_id = lib.catalog->upsert_file(file_of(ann, book.id, a)).value().id;
  const RowId b_id = lib.catalog->upsert_file(file_of(ann, book.id, b)).value().id;
  const auto both = lib.library->delete_files({a_id, b_id}, bin);
  if (!both) FAIL_CHECK(both.error().message);
  CHECK(fs::exists(bin / "Shared" / "A (2).epub"));
  CHECK(fs::exists(bin / "Shared" / "A (3).epub"));
  CHECK_FALSE(fs::exists(a));
  CHECK_FALSE(fs::exists(b));
  CHECK(deleted.seen.size() == 2);

  // A file that is a symbolic link to a copy outside the root folders (a seeding download): the
  // link is deleted, the copy it points to stays.
  const fs::path seeding = lib.dir.path() / "downloads" / "Seeding.epub";
  touch(seeding);
  const fs::path link = root / "Linked" / "Seeding.epub";
  fs::create_directories(link.parent_path());
  fs::create_symlink(seeding, link);
  const RowId link_id = lib.catalog->upsert_file(file_of(ann, book.id, link)).value().id;
  const auto unlinked = lib.library->delete_files({link_id});
  if (!unlinked) FAIL_CHECK(unlinked.error().message);
  CHECK_FALSE(fs::exists(fs::symlink_status(link)));
  CHECK(fs::exists(seeding));
  CHECK(lib.catalog->file(link_id).error().code == errc::not_found);
  // With a recycle bin too: the link is removed, neither followed nor moved into the bin.
  fs::create_symlink(seeding, link);
  const RowId again = lib.catalog->upsert_file(file_of(ann, book.id, link)).value().id;
  const auto binned = lib.library->delete_files({again}, bin);
  if (!binned) FAIL_CHECK(binned.error().message);
  CHECK_FALSE(fs::exists(fs::symlink_status(link)));
  CHECK_FALSE(fs::exists(fs::symlink_status(bin / "Linked" / "Seeding.epub")));
  CHECK(fs::exists(seeding));
  CHECK(deleted.seen.back().reason == "deleted by a user: deleted (a symbolic link)");
}

TEST_CASE("a book's file goes into a recycle bin on another file system by a copy", "[services][library]") {
  Library lib;
  // /dev/shm is a memory file system on Linux; the test folder is not (else nothing to show).
  std::error_code ec;
  const fs::path bin = fs::path("/dev/shm") / ("shelfjobs-bin-" + std::to_string(::getpid()));
  fs::create_directories(bin, ec);
  struct stat a {
  }, b{};
  if (ec || ::stat(bin.c_str(), &a) != 0 || ::stat(lib.dir.path().c_str(), &b) != 0 || a.st_dev == b.st_dev) {
    fs::remove_all(bin, ec);
    WARN("no second file system to put the bin on: skipped");
    return;
  }
  const Author ann = lib.add(4501, "Ann Example", 1);
  const Book book = refreshed_books(lib, ann).at(0);
  const fs::path file = ann.path / "One.epub";
  touch(file);
  REQUIRE(lib.catalog->upsert_file(file_of(ann, book.id, file)).has_value());
  const auto removed = lib.library->remove_book(book.id, true, bin);
  if (!removed) FAIL_CHECK(removed.error().message);
  CHECK_FALSE(fs::exists(file));
  CHECK(fs::exists(bin / "Ann Example" / "One.epub"));
  fs::remove_all(bin, ec);
}

TEST_CASE("author and book lookups: search hits, named ids, and the source's failures",
          "[services][library]") {
  Library lib;
  lib.server->put_author(fixtures::make_author(4401, "Ada Lookup", 2));
  lib.server->put_author(fixtures::make_author(4402, "Ada Lookup Jr", 1));

  auto authors = lib.library->find_authors("Ada Lookup");
  REQUIRE(authors.has_value());
  REQUIRE(authors->size() == 2);  // each author once, however many of their works matched
  CHECK(((*authors)[0].foreign_id == "4401" || (*authors)[1].foreign_id == "4401"));
  CHECK(lib.library->find_authors("Ada Lookup", 1)->size() == 1);
  auto named = lib.library->find_authors("Author: 4402 ");
  REQUIRE(named.has_value());
  REQUIRE(named->size() == 1);
  CHECK((*named)[0].name == "Ada Lookup Jr");
  CHECK(lib.library->find_authors("author:4040").error().code == errc::not_found);
  CHECK(lib.library->find_authors("Nobody Known")->empty());
  CHECK(lib.library->find_authors("").error().code == errc::invalid_argument);

  auto books = lib.library->find_books("Ada Lookup Jr");
  REQUIRE(books.has_value());
  REQUIRE(books->size() == 1);
  CHECK(books->at(0).authors.at(0).foreign_id == "4402");
  auto work = lib.library->find_books("work:" + books->at(0).foreign_id);
  REQUIRE(work.has_value());
  CHECK(work->at(0).title == books->at(0).title);

  auto mixed = lib.library->find("Ada Lookup Jr");
  REQUIRE(mixed.has_value());
  REQUIRE(mixed->size() == 2);
  CHECK(mixed->at(0).author->foreign_id == "4402");
  CHECK(mixed->at(1).work->foreign_id == books->at(0).foreign_id);
  CHECK(lib.library->find("author:4401")->at(0).author->name == "Ada Lookup");
  CHECK(lib.library->find("").error().code == errc::invalid_argument);

  // One the cache has not seen yet (the lookups above are served from it now).
  lib.server->put_author(fixtures::make_author(4403, "Cy Down", 1));
  lib.server->set_scenario("4403", {.scenario = fixtures::Scenario::server_error});
  auto down = lib.library->find_authors("author:4403");
  REQUIRE_FALSE(down.has_value());
  CHECK(down.error().code == errc::unavailable);
  auto none = LibraryService::create({.catalog = lib.catalog});
  CHECK((*none)->find_authors("Ada").error().code == errc::unavailable);
}

// An import stand-in: a Critical command holding the import lock, as the imports do, that runs
// until `go` and notes whether the watched folder was there when its second run started.
struct HeldImport : Command {
  static constexpr std::string_view kName = "HeldImport";
  int n = 0;
};
inline void to_json(nlohmann::json& j, const HeldImport& c) { j = {{"n", c.n}}; }
inline void from_json(const nlohmann::json& j, HeldImport& c) { j.at("n").get_to(c.n); }

class HeldImports : public Service {
 public:
  explicit HeldImports(fs::path watched) : watched_(std::move(watched)) {}
  std::string_view name() const override { return "held-imports"; }
  void register_commands(Registry& registry, ServiceContext&) override {
    CommandTraits t;
    t.priority = Priority::critical;
    t.locks = {kImportLock};
    registry.add<HeldImport>(
        [this](const HeldImport& c, JobContext& ctx) {
          if (c.n == 2) folder_at_second_start = fs::exists(watched_) ? 1 : 0;
          ++running;
          while (!go && !ctx.cancelled()) std::this_thread::sleep_for(1ms);
          --running;
          ++runs;
        },
        t);
  }
  std::atomic<bool> go{false};  // see Release
  std::atomic<int> running{0}, runs{0};
  std::atomic<int> folder_at_second_start{-1};

 private:
  fs::path watched_;
};

// Lets the held imports end when a test leaves early (a failed REQUIRE), so that nothing waits
// out its timeouts.
struct Release {
  HeldImports& imports;
  ~Release() { imports.go = true; }
};

std::shared_ptr<LibraryService> library_waiting(Library& lib, std::chrono::milliseconds import_wait) {
  auto made = LibraryService::create({.catalog = lib.catalog,
                                      .source = lib.source,
                                      .events = lib.bus,
                                      .clock = lib.clock,
                                      .logger = quiet_logger(),
                                      .import_wait = import_wait});
  REQUIRE(made.has_value());
  return *made;
}

HeldImport held_import(int n) {
  HeldImport c;
  c.n = n;
  return c;
}

TEST_CASE("a removal that deletes files waits for the running import, and the next import waits for it",
          "[services][library][hold]") {
  Library lib;
  lib.library = library_waiting(lib, 20s);
  const Author ann = lib.add(4401, "Ann Held", 1);
  touch(ann.path / "Ann.epub");
  auto imports = std::make_shared<HeldImports>(ann.path);
  Engine& e = lib.start_engine(3, {imports});
  Release release{*imports};
  REQUIRE(e.push(held_import(1)).has_value());
  REQUIRE(eventually([&] { return imports->running == 1; }));

  auto removal = std::async(std::launch::async, [&] { return lib.library->remove_author(ann.id, true); });
  REQUIRE(eventually([&] { return e.health().lock_holds_waiting == 1; }));
  REQUIRE(e.push(held_import(2)).has_value());  // queued behind the waiting removal
  CHECK(removal.wait_for(0ms) == std::future_status::timeout);
  CHECK(lib.catalog->author(ann.id).has_value());  // nothing is checked or changed yet
  CHECK(fs::exists(ann.path / "Ann.epub"));

  imports->go = true;  // the running import ends; the removal goes before the queued one
  auto removed = removal.get();
  REQUIRE(removed.has_value());
  CHECK_FALSE(fs::exists(ann.path));
  CHECK(lib.catalog->author(ann.id).error().code == errc::not_found);
  REQUIRE(eventually([&] { return imports->runs == 2; }));
  CHECK(imports->folder_at_second_start == 0);  // it started after the folder was gone
  CHECK(e.health().lock_holds_held == 0);
}

TEST_CASE("a removal that deletes files gives up after import_wait and changes nothing",
          "[services][library][hold]") {
  Library lib;
  lib.library = library_waiting(lib, 50ms);
  const Author bo = lib.add(4402, "Bo Held", 1);
  const RowId book = refreshed_books(lib, bo).at(0).id;
  const fs::path file = bo.path / "Bo.epub";
  touch(file);
  const RowId file_id = lib.catalog->upsert_file(file_of(bo, book, file)).value().id;
  auto imports = std::make_shared<HeldImports>(bo.path);
  Engine& e = lib.start_engine(3, {imports});
  Release release{*imports};
  REQUIRE(e.push(held_import(1)).has_value());
  REQUIRE(eventually([&] { return imports->running == 1; }));

  for (const auto& refused : {lib.library->remove_author(bo.id, true), lib.library->remove_book(book, true),
                              lib.library->delete_files({file_id})}) {
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code == errc::unavailable);
    CHECK_THAT(refused.error().message, Catch::Contains("'import'"));
  }
  CHECK(lib.catalog->author(bo.id).has_value());
  CHECK(lib.catalog->book(book).has_value());
  CHECK(lib.catalog->file(file_id).has_value());
  CHECK(fs::exists(file));
  // Without deleting files nothing waits: the rows go, the file stays.
  REQUIRE(lib.library->remove_book(book, false).has_value());
  CHECK(fs::exists(file));
  imports->go = true;
  REQUIRE(eventually([&] { return imports->runs == 1; }));
  REQUIRE(lib.library->remove_author(bo.id, true).has_value());
  CHECK_FALSE(fs::exists(bo.path));
}

}  // namespace library_edits_test

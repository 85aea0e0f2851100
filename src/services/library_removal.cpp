// SPDX-License-Identifier: MIT
// The library service's removals: an author or a book leaves the catalog, and with it, when the
// person asks, its files on disk (deleted, or moved into the recycle bin); or a single book file
// is deleted.
//
// Why it is shaped this way:
//   - The rows change before the disk: a removal that fails halfway on the disk leaves the catalog
//     saying what is true (the item is gone) and answers `unavailable` naming the path, instead
//     of a catalog that still lists files it no longer has.
//   - A book file deleted on its own goes the other way round, disk first: its row is the only
//     thing that would say where it was, so it stays until the file is gone.
//   - Only paths a person could have given the item are touched: an author's folder must pass
//     the same check as an edit of its path, and a book's files must lie inside a root folder,
//     once links are resolved too.
#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>

#include "shelfjobs/adapters/file_transfer.hpp"
#include "shelfjobs/services/library_scan.hpp"

#include "services/library_impl.hpp"

namespace shelfjobs {

namespace {
namespace fs = std::filesystem;
using library_detail::normal;
using library_detail::strictly_inside;

// Where `path` (inside `root`) goes in the recycle bin: its place under its root folder, with
// " (2)", " (3)", ... when that is taken, on disk or by an earlier file of the same call
// (`taken`, which gets the place chosen): after a folder's name, before a file's extension.
fs::path recycled_place(const fs::path& path, const fs::path& root, const fs::path& recycle_bin, bool file,
                        std::set<fs::path>& taken) {
  const fs::path rel = path.lexically_relative(normal(root));
  const fs::path name = rel.filename();
  const std::string stem = file ? name.stem().string() : name.string();
  const std::string extension = file ? name.extension().string() : std::string();
  fs::path to = recycle_bin / rel;
  std::error_code ec;
  for (int n = 2; (taken.count(to) > 0 || fs::exists(fs::symlink_status(to, ec))) && n < 1000; ++n)
    to = recycle_bin / rel.parent_path() / (stem + " (" + std::to_string(n) + ")" + extension);
  taken.insert(to);
  return to;
}

// One file's way off the disk, and what became of it.
struct Disposed {
  enum What { moved, deleted, deleted_link, gone, failed } what;
  std::string error;  // failed: what could not be done, naming the file

  // How the log says it, for a file the call found there.
  std::string how(const fs::path& to) const {
    switch (what) {
      case moved: return "moved to the recycle bin (" + to.string() + ")";
      case deleted: return "deleted";
      case deleted_link: return "deleted (a symbolic link)";
      default: return "was gone already";
    }
  }
};

// Moves `path` to `to` in the recycle bin, or deletes it when `to` is empty. A symbolic link is
// removed, never followed or moved: what it points to is not the library's. A move across file
// systems copies (a recycle bin on another disk) and never replaces a file that reached the
// bin's place meanwhile. `gone`: nothing was at `path` by the time it was tried.
Disposed dispose(const fs::path& path, const fs::path& to) {
  std::error_code ec;
  const bool link = fs::is_symlink(fs::symlink_status(path, ec));
  if (!to.empty() && !link) {
    auto moved = transfer(path, to, TransferMode::move);
    if (moved) return {Disposed::moved, {}};
    if (moved.error().code == errc::not_found && !fs::exists(fs::symlink_status(path, ec)))
      return {Disposed::gone, {}};
    return {Disposed::failed,
            "cannot move '" + path.string() + "' to the recycle bin: " + moved.error().message};
  }
  if (fs::remove(path, ec)) return {link ? Disposed::deleted_link : Disposed::deleted, {}};
  if (ec) return {Disposed::failed, "cannot delete '" + path.string() + "': " + ec.message()};
  return {Disposed::gone, {}};
}
}  // namespace

Status LibraryService::remove_author(RowId author_id, bool delete_files,
                                     const std::filesystem::path& recycle_bin, bool exclude) {
  Impl& im = *impl_;
  LockHold imports;
  if (delete_files) {
    auto held = im.hold_imports("removing author " + std::to_string(author_id) + " with its files");
    if (!held) return held.error();
    imports = std::move(*held);
  }
  auto author = im.o.catalog->author(author_id);
  if (!author) return author.error();
  fs::path folder, recycled;
  if (delete_files && !author->path.empty()) {
    folder = normal(author->path);
    auto root = im.author_folder_ok(folder, author_id);
    if (!root) {
      return Error{root.error().code,
                   "the folder of author '" + author->name + "' is not deleted: " + root.error().message};
    }
    // A folder not on disk: its files' rows go only while the root folder is there and holds
    // something (an unmounted disk makes every folder look deleted).
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(folder, ec))) {
      auto roots = im.o.catalog->root_folders();
      if (!roots) return roots.error();
      if (auto gone = Impl::missing_means_gone(folder, *roots); !gone)
        return Error{gone.error().code,
                     "author '" + author->name + "' is not removed: " + gone.error().message};
    }
    std::set<fs::path> taken;
    if (!recycle_bin.empty()) recycled = recycled_place(folder, root->path, recycle_bin, false, taken);
  }
  FileBatch batch;
  if (!folder.empty()) {
    auto under =
        im.o.catalog->for_each_file_under(folder, [&](const BookFile& f) { batch.removals.push_back(f.id); });
    if (!under) return under.error();
  }
  auto files = im.o.catalog->files_of_author(author_id);
  if (!files) return files.error();
  for (BookFile f : *files) {
    if (!folder.empty() && strictly_inside(f.path, folder)) continue;  // removed above
    f.author_id = f.book_id = f.edition_id = 0;
    f.unmapped_reason = "its author was removed";
    batch.upserts.push_back(std::move(f));
  }
  if (!batch.upserts.empty() || !batch.removals.empty()) {
    if (auto applied = im.o.catalog->apply_files(batch); !applied) return applied.error();
  }
  if (exclude) {
    auto listed = im.o.catalog->add_exclusion({0, author->foreign_id, author->name, ExclusionKind::author});
    if (!listed && listed.error().code != errc::conflict) return listed.error();  // conflict: listed already
  }
  if (auto removed = im.o.catalog->remove_author(author_id); !removed) return removed.error();
  im.publish(AuthorRemoved{*author, "removed by a user"});
  std::error_code ec;
  if (!folder.empty()) {
    const auto st = fs::symlink_status(folder, ec);
    if (ec && ec != std::errc::no_such_file_or_directory) {
      return Error{errc::unavailable, "author '" + author->name + "' is removed, but its folder '" +
                                          folder.string() + "' cannot be looked at: " + ec.message()};
    }
    if (!fs::exists(st)) return Ok{};  // nothing on disk
    ec.clear();
  }
  if (!recycled.empty()) {
    fs::create_directories(recycled.parent_path(), ec);
    if (!ec) fs::rename(folder, recycled, ec);
    if (ec) {
      return Error{errc::unavailable, "author '" + author->name + "' is removed, but its folder '" +
                                          folder.string() + "' could not be moved to the recycle bin ('" +
                                          recycled.string() + "'): " + ec.message()};
    }
    im.o.logger->info("moved the folder of removed author '{}' to the recycle bin: {} -> {}", author->name,
                      folder.string(), recycled.string());
  } else if (!folder.empty()) {
    fs::remove_all(folder, ec);
    if (ec) {
      return Error{errc::unavailable, "author '" + author->name + "' is removed, but its folder '" +
                                          folder.string() + "' could not be deleted: " + ec.message()};
    }
    im.o.logger->info("deleted the folder of removed author '{}': {}", author->name, folder.string());
  }
  return Ok{};
}

// One book's removal, decided before anything changes: what the catalog writes, and what
// happens on disk after.
struct LibraryService::Impl::BookRemovalPlan {
  Book book;
  BookRemoval rows;
  std::vector<BookFile> deleted;                       // the rows of the files deleted
  std::vector<std::pair<fs::path, fs::path>> on_disk;  // each file, and its place in the bin (or empty)
};

Result<LibraryService::Impl::BookRemovalPlan> LibraryService::Impl::plan_book_removal(
    RowId book_id, bool delete_files, const fs::path& recycle_bin, bool exclude,
    const std::vector<RootFolder>& roots, std::set<fs::path>& taken) {
  BookRemovalPlan p;
  auto book = o.catalog->book(book_id);
  if (!book) return book.error();
  p.book = std::move(*book);
  auto files = o.catalog->files_of_book(book_id);
  if (!files) return files.error();
  for (BookFile f : *files) {
    if (!delete_files) {
      f.author_id = f.book_id = f.edition_id = 0;
      f.unmapped_reason = "its book was removed";
      p.rows.files.upserts.push_back(std::move(f));
      continue;
    }
    const fs::path path = normal(f.path);
    std::error_code ec;
    const bool there = fs::exists(fs::symlink_status(path, ec));
    if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
      return Error{errc::unavailable, "'" + path.string() + "' cannot be looked at: " + ec.message()};
    if (there) {
      // Only a file a root folder holds is deleted; one already gone needs no check.
      auto root = file_ok(path, roots);
      if (!root) {
        return Error{root.error().code,
                     "the files of book '" + p.book.title + "' are not deleted: " + root.error().message};
      }
      p.on_disk.emplace_back(path, recycle_bin.empty()
                                       ? fs::path()
                                       : recycled_place(path, root->path, recycle_bin, true, taken));
    } else if (auto gone = missing_means_gone(path, roots); !gone) {
      return Error{gone.error().code, "book '" + p.book.title + "' is not removed: " + gone.error().message};
    }
    p.rows.files.removals.push_back(f.id);
    p.deleted.push_back(std::move(f));
  }
  if (exclude) {
    std::string name = p.book.title;
    if (auto author = o.catalog->author(p.book.author_id)) name = author->name + " - " + p.book.title;
    p.rows.exclusion = Exclusion{0, p.book.foreign_id, std::move(name), ExclusionKind::book};
  }
  return p;
}

// The rows in one transaction, then the disk; a file that cannot be deleted or moved is named
// in the error after the others were tried.
Status LibraryService::Impl::carry_out(const BookRemovalPlan& p) {
  if (auto removed = o.catalog->remove_book(p.book.id, p.rows); !removed) return removed.error();
  publish(BookRemoved{p.book, "removed by a user", !p.deleted.empty() || !p.on_disk.empty()});
  std::string failed;
  for (const auto& [path, to] : p.on_disk) {
    const Disposed d = dispose(path, to);
    if (d.what == Disposed::failed) {
      if (failed.empty()) failed = d.error;
      continue;
    }
    o.logger->info("file of removed book '{}' {}: {}", p.book.title, d.how(to), path.string());
  }
  for (const BookFile& f : p.deleted) publish(BookFileDeleted{f, "its book was removed by a user"});
  if (!failed.empty()) {
    return Error{errc::unavailable,
                 "book '" + p.book.title + "' is removed, but not all of its files left the disk: " + failed};
  }
  return Ok{};
}

Status LibraryService::remove_book(RowId book_id, bool delete_files, const std::filesystem::path& recycle_bin,
                                   bool exclude) {
  return remove_books({book_id}, delete_files, recycle_bin, exclude);
}

Status LibraryService::remove_books(const std::vector<RowId>& book_ids, bool delete_files,
                                    const std::filesystem::path& recycle_bin, bool exclude) {
  Impl& im = *impl_;
  std::vector<RootFolder> roots;
  LockHold imports;
  if (delete_files) {
    auto held = im.hold_imports(book_ids.size() == 1
                                    ? "removing book " + std::to_string(book_ids.front()) + " with its files"
                                    : "removing books with their files");
    if (!held) return held.error();
    imports = std::move(*held);
    auto r = im.o.catalog->root_folders();
    if (!r) return r.error();
    roots = std::move(*r);
  }
  std::vector<Impl::BookRemovalPlan> plans;
  std::set<fs::path> taken;  // places in the recycle bin chosen for earlier files
  for (RowId id : book_ids) {
    if (std::any_of(plans.begin(), plans.end(), [id](const auto& p) { return p.book.id == id; })) continue;
    auto p = im.plan_book_removal(id, delete_files, recycle_bin, exclude, roots, taken);
    if (!p) return p.error();
    plans.push_back(std::move(*p));
  }
  // Every book is removed even when one's files could not all go: the first such failure is
  // answered after the rest were done.
  Status first_failure = Ok{};
  for (const auto& p : plans) {
    auto done = im.carry_out(p);
    if (!done && done.error().code != errc::unavailable) return done;
    if (!done && first_failure) first_failure = done;
  }
  return first_failure;
}

Status LibraryService::delete_files(const std::vector<RowId>& file_ids,
                                    const std::filesystem::path& recycle_bin) {
  Impl& im = *impl_;
  auto imports = im.hold_imports("deleting book files");
  if (!imports) return imports.error();
  auto roots = im.o.catalog->root_folders();
  if (!roots) return roots.error();
  struct Planned {
    BookFile file;
    bool on_disk = false;
    fs::path to;  // its place in the recycle bin, or empty: deleted
  };
  std::vector<Planned> plans;
  std::set<RowId> seen;
  std::set<fs::path> taken;  // places in the recycle bin chosen for earlier files
  for (RowId id : file_ids) {
    if (!seen.insert(id).second) continue;
    auto f = im.o.catalog->file(id);
    if (!f) return f.error();
    Planned p{std::move(*f)};
    const fs::path path = normal(p.file.path);
    std::error_code ec;
    p.on_disk = fs::exists(fs::symlink_status(path, ec));
    if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
      return Error{errc::unavailable, "'" + path.string() + "' cannot be looked at: " + ec.message()};
    if (p.on_disk) {
      auto root = Impl::file_ok(path, *roots);
      if (!root) return Error{root.error().code, "the book file is not deleted: " + root.error().message};
      if (!recycle_bin.empty()) p.to = recycled_place(path, root->path, recycle_bin, true, taken);
    } else if (auto gone = Impl::missing_means_gone(path, *roots); !gone) {
      return gone.error();
    }
    plans.push_back(std::move(p));
  }
  Status first_failure = Ok{};
  auto failed = [&](errc code, std::string message) {
    if (first_failure) first_failure = Error{code, std::move(message)};
  };
  for (const Planned& p : plans) {
    std::string how = "already gone from disk";
    bool gone_meanwhile = false;  // on disk when planned, not there now: moved by someone else?
    if (p.on_disk) {
      const Disposed d = dispose(p.file.path, p.to);
      if (d.what == Disposed::failed) {
        failed(errc::unavailable, d.error);
        continue;
      }
      gone_meanwhile = d.what == Disposed::gone;
      how = d.how(p.to);
    }
    // A file that left its path after the plan was made may have been moved (MoveAuthor renames
    // the folder, then re-points the rows): its row stays. A file this call deleted loses its
    // row whatever the row says now; one missing from the start only while the row still
    // names that path.
    if (gone_meanwhile) {
      failed(errc::conflict,
             "'" + p.file.path.string() + "' left its place while being deleted (moved?): its row is kept");
      continue;
    }
    if (!p.on_disk) {
      auto now = im.o.catalog->file(p.file.id);
      if (!now && now.error().code == errc::not_found) continue;  // deleted meanwhile by another call
      if (!now) {
        failed(now.error().code, now.error().message);
        continue;
      }
      if (normal(now->path) != normal(p.file.path)) {
        failed(errc::conflict, "book file " + std::to_string(p.file.id) + " was moved to '" +
                                   now->path.string() + "' meanwhile: its row is kept");
        continue;
      }
    }
    auto removed = im.o.catalog->remove_file(p.file.id);
    if (!removed) {
      if (removed.error().code != errc::not_found) failed(removed.error().code, removed.error().message);
      continue;
    }
    im.o.logger->info("book file {}: {}", how, p.file.path.string());
    im.publish(BookFileDeleted{*removed, "deleted by a user: " + how});
  }
  return first_failure;
}

}  // namespace shelfjobs

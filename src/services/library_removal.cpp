// SPDX-License-Identifier: MIT
// The library service's removals: an author or a book leaves the catalog, and with it, when the
// person asks, its files on disk (deleted, or moved into the recycle bin).
//
// Why it is shaped this way:
//   - The rows change before the disk: a removal that fails halfway on the disk leaves the catalog
//     saying what is true (the item is gone) and answers `unavailable` naming the path, instead
//     of a catalog that still lists files it no longer has.
//   - Only paths a person could have given the item are touched: an author's folder must pass
//     the same check as an edit of its path, and a book's files must lie inside a root folder,
//     once links are resolved too.
#include <spdlog/spdlog.h>

#include "services/library_impl.hpp"

namespace shelfjobs {

namespace {
namespace fs = std::filesystem;
using library_detail::normal;
using library_detail::strictly_inside;

// Where `path` (inside `root`) goes in the recycle bin: its place under its root folder, with
// " (2)", " (3)", ... when that is taken: after a folder's name, before a file's extension.
fs::path recycled_place(const fs::path& path, const fs::path& root, const fs::path& recycle_bin, bool file) {
  const fs::path rel = path.lexically_relative(normal(root));
  const fs::path name = rel.filename();
  const std::string stem = file ? name.stem().string() : name.string();
  const std::string extension = file ? name.extension().string() : std::string();
  fs::path to = recycle_bin / rel;
  std::error_code ec;
  for (int n = 2; fs::exists(fs::symlink_status(to, ec)) && n < 1000; ++n)
    to = recycle_bin / rel.parent_path() / (stem + " (" + std::to_string(n) + ")" + extension);
  return to;
}
}  // namespace

Status LibraryService::remove_author(RowId author_id, bool delete_files,
                                     const std::filesystem::path& recycle_bin) {
  Impl& im = *impl_;
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
    if (!recycle_bin.empty()) recycled = recycled_place(folder, root->path, recycle_bin, false);
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

Status LibraryService::remove_book(RowId book_id, bool delete_files, const std::filesystem::path& recycle_bin,
                                   bool exclude) {
  Impl& im = *impl_;
  auto book = im.o.catalog->book(book_id);
  if (!book) return book.error();
  auto files = im.o.catalog->files_of_book(book_id);
  if (!files) return files.error();
  // Each file to delete, with its place in the recycle bin (empty: deleted), all checked before
  // anything changes.
  std::vector<std::pair<fs::path, fs::path>> on_disk;
  if (delete_files && !files->empty()) {
    auto roots = im.o.catalog->root_folders();
    if (!roots) return roots.error();
    for (const BookFile& f : *files) {
      const fs::path path = normal(f.path);
      auto root = im.file_ok(path, *roots);
      if (!root) {
        return Error{root.error().code,
                     "the files of book '" + book->title + "' are not deleted: " + root.error().message};
      }
      on_disk.emplace_back(
          path, recycle_bin.empty() ? fs::path() : recycled_place(path, root->path, recycle_bin, true));
    }
  }
  if (exclude) {
    std::string name = book->title;
    if (auto author = im.o.catalog->author(book->author_id)) name = author->name + " - " + book->title;
    auto added = im.o.catalog->add_exclusion({0, book->foreign_id, name});
    if (!added && added.error().code != errc::conflict) return added.error();  // conflict: excluded already
  }
  FileBatch batch;
  for (BookFile f : *files) {
    if (delete_files) {
      batch.removals.push_back(f.id);
      continue;
    }
    f.author_id = f.book_id = f.edition_id = 0;
    f.unmapped_reason = "its book was removed";
    batch.upserts.push_back(std::move(f));
  }
  if (!batch.upserts.empty() || !batch.removals.empty()) {
    if (auto applied = im.o.catalog->apply_files(batch); !applied) return applied.error();
  }
  if (auto removed = im.o.catalog->remove_book(book_id); !removed) return removed.error();
  im.publish(BookRemoved{*book, "removed by a user", delete_files});
  std::string failed;
  for (const auto& [path, to] : on_disk) {
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(path, ec))) continue;  // gone already
    if (!to.empty()) {
      fs::create_directories(to.parent_path(), ec);
      if (!ec) fs::rename(path, to, ec);
    } else {
      fs::remove(path, ec);
    }
    if (ec) {
      if (failed.empty()) failed = "'" + path.string() + "': " + ec.message();
      continue;
    }
    im.o.logger->info("{} a file of removed book '{}': {}", to.empty() ? "deleted" : "recycled", book->title,
                      path.string());
  }
  if (!failed.empty()) {
    return Error{errc::unavailable, "book '" + book->title + "' is removed, but a file could not be " +
                                        (recycle_bin.empty() ? "deleted" : "moved to the recycle bin") +
                                        ": " + failed};
  }
  return Ok{};
}

}  // namespace shelfjobs

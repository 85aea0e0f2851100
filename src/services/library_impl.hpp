// SPDX-License-Identifier: MIT
#pragma once
// The library service's inside, shared by its two files: library.cpp (adding authors and books,
// edits, root folders) and library_removal.cpp (removing authors and books, with their files).

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "shelfjobs/services/book_import.hpp"
#include "shelfjobs/services/library.hpp"

namespace shelfjobs {

namespace library_detail {
namespace fs = std::filesystem;

// `p` without "." and ".." parts or a trailing separator.
inline fs::path normal(const fs::path& p) {
  fs::path n = p.lexically_normal();
  if (!n.has_filename() && n.has_relative_path()) n = n.parent_path();
  return n;
}

// True when `inner` lies below `outer` (not `outer` itself), by their text.
inline bool strictly_inside(const fs::path& inner, const fs::path& outer) {
  const fs::path rel = normal(inner).lexically_relative(normal(outer));
  return !rel.empty() && rel != "." && *rel.begin() != "..";
}
}  // namespace library_detail

struct LibraryService::Impl {
  LibraryOptions o;
  std::weak_ptr<ServiceContext> host;  // the host it was added to (set in register_commands)

  // The import lock for a removal that deletes files (library.hpp, "Removals and imports").
  // `what` names the removal for the error.
  Result<LockHold> hold_imports(const std::string& what) const {
    const auto h = host.lock();
    if (!h) return LockHold{};
    auto held = h->hold_locks({kImportLock}, o.import_wait);
    if (held) return held;
    const errc code = held.error().code == errc::shutting_down ? errc::unavailable : held.error().code;
    return Error{code, what + " waits for the running import: " + held.error().message};
  }

  TimePoint now() const { return o.clock->now(); }

  template <class E>
  void publish(const E& e) {
    if (o.events) o.events->publish(e);
  }

  Status have_source() const {
    if (o.source) return Ok{};
    return Error{errc::unavailable, "no metadata source is configured"};
  }

  // Adds the author row (its name and folder from the source) without publishing AuthorAdded.
  Result<Author> new_author(const std::string& foreign_id, RowId root_folder_id, bool monitored) {
    auto root = o.catalog->root_folder(root_folder_id);
    if (!root) {
      return Error{root.error().code == errc::not_found ? errc::invalid_argument : root.error().code,
                   "root folder " + std::to_string(root_folder_id) + ": " + root.error().message};
    }
    if (auto existing = o.catalog->author_by_foreign_id(foreign_id); existing) {
      return Error{errc::conflict,
                   "author " + foreign_id + " is already in the catalog as '" + existing->name + "'"};
    }
    if (auto ok = have_source(); !ok) return ok.error();
    AuthorData data;
    try {
      data = o.source->author(foreign_id);
    } catch (const MetadataError& e) {
      Error err = to_error(e);
      if (err.code == errc::not_found)
        err.message = "author " + foreign_id + " is not known to the metadata source";
      return err;
    }
    Author a;
    a.foreign_id = data.foreign_id;
    a.name = data.name;
    a.sort_name = sort_name_of(data.name);
    a.overview = data.overview;
    a.path = root->path / safe_folder_name(data.name);
    a.root_folder_id = root->id;
    a.monitored = monitored;
    if (data.status) a.status = *data.status;
    a.added = now();
    return o.catalog->add_author(a);
  }

  // The root folder `path` lies strictly inside (the deepest, should roots nest).
  Result<RootFolder> root_containing(const std::filesystem::path& path) const {
    auto roots = o.catalog->root_folders();
    if (!roots) return roots.error();
    return root_containing(path, *roots);
  }
  static Result<RootFolder> root_containing(const std::filesystem::path& path,
                                            const std::vector<RootFolder>& roots) {
    const RootFolder* best = nullptr;
    for (const RootFolder& r : roots) {
      if (library_detail::strictly_inside(path, r.path) &&
          (!best || r.path.native().size() > best->path.native().size()))
        best = &r;
    }
    if (!best) return Error{errc::invalid_argument, "'" + path.string() + "' is inside no root folder"};
    return *best;
  }

  // A folder a person's edit may give an author, or a removal may delete: strictly inside a root
  // folder (the root it returns), by its text and once symbolic links are resolved, and neither
  // holding a root folder nor lying inside or around another author's folder. A NUL byte is
  // refused first: the file system would read the path only up to it.
  Result<RootFolder> author_folder_ok(const std::filesystem::path& folder, RowId author_id) const {
    if (folder.native().find('\0') != std::string::npos)
      return Error{errc::invalid_argument, "a folder path cannot hold a NUL byte"};
    auto roots = o.catalog->root_folders();
    if (!roots) return roots.error();
    auto root = root_containing(folder, *roots);
    if (!root) return root.error();
    for (const RootFolder& r : *roots) {
      if (library_detail::normal(r.path) == folder || library_detail::strictly_inside(r.path, folder))
        return Error{errc::invalid_argument,
                     "'" + folder.string() + "' is or holds the root folder '" + r.path.string() + "'"};
    }
    auto authors = o.catalog->authors();
    if (!authors) return authors.error();
    for (const Author& a : *authors) {
      if (a.id == author_id || a.path.empty()) continue;
      const std::filesystem::path other = library_detail::normal(a.path);
      if (other == folder || library_detail::strictly_inside(other, folder) ||
          library_detail::strictly_inside(folder, other))
        return Error{errc::conflict,
                     "'" + folder.string() + "' overlaps the folder of author '" + a.name + "'"};
    }
    std::error_code ec;
    const std::filesystem::path real = std::filesystem::weakly_canonical(folder, ec);
    const std::filesystem::path real_root =
        ec ? std::filesystem::path() : std::filesystem::weakly_canonical(root->path, ec);
    if (ec || !library_detail::strictly_inside(real, real_root))
      return Error{errc::invalid_argument, "'" + folder.string() + "' leads out of the root folder '" +
                                               root->path.string() + "' (a symbolic link?)"};
    return root;
  }

  // Book removal (library_removal.cpp): decided whole before anything changes, then done.
  struct BookRemovalPlan;
  Result<BookRemovalPlan> plan_book_removal(RowId book_id, bool delete_files,
                                            const std::filesystem::path& recycle_bin, bool exclude,
                                            const std::vector<RootFolder>& roots,
                                            std::set<std::filesystem::path>& taken);
  Status carry_out(const BookRemovalPlan& plan);

  // A file a removal may delete: strictly inside a root folder (the root it returns), by its
  // text and once symbolic links are resolved (unavailable when they cannot be). A NUL byte is
  // refused first.
  static Result<RootFolder> file_ok(const std::filesystem::path& file, const std::vector<RootFolder>& roots) {
    if (file.native().find('\0') != std::string::npos)
      return Error{errc::invalid_argument, "a file path cannot hold a NUL byte"};
    auto root = root_containing(file, roots);
    if (!root) return root.error();
    // The file's folder is resolved, not the file: a file that is a symbolic link (to a seeding
    // copy elsewhere) is itself what a delete or a move touches.
    std::error_code ec;
    const std::filesystem::path real =
        std::filesystem::weakly_canonical(file.parent_path(), ec) / file.filename();
    const std::filesystem::path real_root =
        ec ? std::filesystem::path() : std::filesystem::weakly_canonical(root->path, ec);
    if (ec) return Error{errc::unavailable, "'" + file.string() + "' cannot be resolved: " + ec.message()};
    if (!library_detail::strictly_inside(real, real_root))
      return Error{errc::invalid_argument, "'" + file.string() + "' leads out of the root folder '" +
                                               root->path.string() + "' (a symbolic link?)"};
    return root;
  }

  // A file missing from disk only loses its row when its root folder is there and holds
  // something: a root folder on a disk that is not mounted makes every file in it look deleted
  // (Readarr refuses the same way). A file in no root folder has nothing to check against.
  static Status missing_means_gone(const std::filesystem::path& file, const std::vector<RootFolder>& roots) {
    auto root = root_containing(file, roots);
    if (!root) return Ok{};
    std::error_code ec;
    const std::filesystem::directory_iterator first(root->path, ec);
    if (ec || first == std::filesystem::directory_iterator())
      return Error{errc::unavailable, "'" + file.string() + "' is not on disk, and its root folder '" +
                                          root->path.string() +
                                          "' is missing or empty (is its disk mounted?): nothing is removed"};
    return Ok{};
  }

  std::vector<HealthIssue> check_root_folders() const {
    std::vector<HealthIssue> out;
    auto roots = o.catalog->root_folders();
    if (!roots) {
      out.push_back({"RootFolderCheck", HealthIssue::Level::error,
                     "cannot read the root folders: " + roots.error().message});
      return out;
    }
    for (const RootFolder& r : *roots) {
      std::error_code ec;
      if (!std::filesystem::is_directory(r.path, ec)) {
        out.push_back(
            {"RootFolderCheck", HealthIssue::Level::error, "Missing root folder: " + r.path.string()});
        continue;
      }
      std::filesystem::directory_iterator probe(r.path, ec);
      if (ec) {
        out.push_back({"RootFolderCheck", HealthIssue::Level::error,
                       "Root folder " + r.path.string() + " cannot be read: " + ec.message()});
      }
    }
    return out;
  }
};

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
// MoveAuthor: renames an author's folder and re-points the catalog in one transaction.
//
// Order matters for "nothing is lost": the folder is renamed first (one rename(2), atomic on one
// file system), then the catalog is updated in one transaction. If the catalog update fails the
// folder is renamed back, so disk and catalog agree again. The rename refuses to replace an
// existing target (renameat2 RENAME_NOREPLACE): a check-then-rename would leave a window in which
// a folder created by someone else could be replaced (rename(2) silently replaces an empty
// directory).
#include <fcntl.h>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <spdlog/spdlog.h>

#include "services/service_util.hpp"

namespace shelfjobs {

namespace {

namespace fs = std::filesystem;

// rename(2) without replacing: 0 or an errno value.
int rename_noreplace(const fs::path& from, const fs::path& to) {
#if defined(RENAME_NOREPLACE)
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return errno;
    // The file system does not support the flag: fall back to a check, then rename.
#endif
  std::error_code ec;
  if (fs::exists(fs::symlink_status(to, ec))) return EEXIST;
  if (std::rename(from.c_str(), to.c_str()) == 0) return 0;
  return errno;
}

}  // namespace

void move_author_folder(Catalog& catalog, EventBus* events, spdlog::logger& log, const MoveAuthor& c,
                        JobContext* ctx) {
  const fs::path src(c.sourcePath), dst(c.destinationPath);
  if (src.empty() || dst.empty() || !src.is_absolute() || !dst.is_absolute()) {
    throw JobError(ErrorKind::permanent, "MoveAuthor needs absolute sourcePath and destinationPath");
  }
  Author author = must(catalog.author(c.authorId), "author " + std::to_string(c.authorId));
  if (author.path != src) {
    if (author.path == dst) {
      if (ctx) ctx->complete("already at " + dst.string());
      return;
    }
    throw JobError(ErrorKind::permanent, "the folder of author '" + author.name + "' is now " +
                                             author.path.string() + ", not " + src.string() +
                                             "; nothing moved");
  }

  // What is on disk. An error other than "does not exist" (permissions, an unmounted share, a
  // stale NFS handle) must not read as "missing": that would re-point the catalog at a folder
  // nobody moved.
  auto present = [](const fs::path& p) {
    std::error_code ec;
    const auto st = fs::symlink_status(p, ec);
    if (ec && ec != std::errc::no_such_file_or_directory) {
      throw JobError(ErrorKind::filesystem,
                     "cannot look at " + p.string() + ": " + ec.message() + "; nothing changed");
    }
    return fs::exists(st);
  };
  const bool src_there = present(src);
  const bool dst_there = present(dst);
  {
    std::error_code ec;
    if (!fs::is_directory(dst.parent_path(), ec)) {
      throw JobError(ErrorKind::filesystem, "cannot move to " + dst.string() + ": " +
                                                dst.parent_path().string() +
                                                " is not a folder (an unmounted share?); nothing changed");
    }
  }

  // The author's files recorded under the old folder, as paths relative to it.
  auto files = must(catalog.files_of_author(author.id), "files of author " + author.name);
  std::vector<fs::path> under;
  const std::string prefix = src.string() + "/";
  for (const auto& f : files) {
    if (f.path.string().rfind(prefix, 0) == 0) under.push_back(f.path.lexically_relative(src));
  }

  bool moved_here = false;
  if (dst_there) {
    // A move that renamed the folder but was stopped before the catalog recorded it (a crash)
    // left exactly this: the old folder gone, the new one holding every recorded file. Finish
    // it. Anything else at the destination belongs to someone else.
    const bool adopt =
        !src_there && !under.empty() && std::all_of(under.begin(), under.end(), [&](const fs::path& r) {
          std::error_code ec;
          return fs::exists(dst / r, ec);
        });
    if (!adopt) {
      throw JobError(ErrorKind::permanent,
                     "cannot move " + src.string() + " to " + dst.string() +
                         ": the destination exists; nothing was overwritten or changed");
    }
    log.warn("{} is gone and {} holds its {} recorded file(s): finishing an interrupted move of '{}'",
             src.string(), dst.string(), under.size(), author.name);
  } else if (src_there) {
    if (int err = rename_noreplace(src, dst); err != 0) {
      const std::string why = "cannot move " + src.string() + " to " + dst.string() + ": " +
                              std::strerror(err) + "; nothing changed";
      // Retrying cannot help when the target appeared or the move crosses file systems.
      throw JobError(
          err == EEXIST || err == ENOTEMPTY || err == EXDEV ? ErrorKind::permanent : ErrorKind::filesystem,
          why);
    }
    moved_here = true;
  } else if (!under.empty()) {
    throw JobError(ErrorKind::filesystem,
                   "cannot move " + src.string() + ": it is missing, yet " + std::to_string(under.size()) +
                       " book file(s) are recorded under it (is the library offline?); nothing changed");
  } else {
    log.info("folder {} of author '{}' does not exist; only the catalog's path changes", src.string(),
             author.name);
  }

  auto repointed = catalog.move_author(author.id, dst);
  if (!repointed) {
    if (moved_here) {
      if (rename_noreplace(dst, src) != 0) {
        throw JobError(ErrorKind::permanent,
                       "moved " + src.string() + " to " + dst.string() + " but could not record it (" +
                           repointed.error().message +
                           ") nor move it back; the catalog still names the old folder. Run MoveAuthor "
                           "again to finish it");
      }
    }
    throw JobError(kind_of(repointed.error().code), "cannot record the move of author '" + author.name +
                                                        "': " + repointed.error().message +
                                                        (moved_here ? "; the folder was moved back" : ""));
  }
  log.info("author '{}' moved: {} -> {} ({} file(s) re-pointed)", author.name, src.string(), dst.string(),
           *repointed);
  if (events) events->publish(AuthorMoved{author.id, src, dst, *repointed});
  if (ctx) {
    ctx->complete(src_there || dst_there ? "moved " + src.string() + " to " + dst.string()
                                         : "the folder is now " + dst.string() + " (" + src.string() +
                                               " did not exist; nothing to move on disk)");
  }
}

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
// MoveAuthor: renames an author's folder and re-points the catalog in one transaction.
//
// Order matters for "nothing is lost": the folder is renamed first (one rename(2), atomic on one
// file system), then the catalog is updated in one transaction. If the catalog update fails the
// folder is renamed back, so disk and catalog agree again. The rename refuses to replace an
// existing target (renameat2 RENAME_NOREPLACE): a check-then-rename would leave a window in which
// a folder created by someone else could be replaced (rename(2) silently replaces an empty
// directory).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>

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

void move_author_folder(Catalog& catalog, EventBus* events, spdlog::logger& log,
                        const MoveAuthor& c, JobContext* ctx) {
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

  std::error_code ec;
  if (fs::exists(fs::symlink_status(dst, ec))) {
    throw JobError(ErrorKind::permanent,
                   "cannot move " + src.string() + " to " + dst.string() +
                       ": the destination exists; nothing was overwritten or changed");
  }
  const bool on_disk = fs::exists(fs::symlink_status(src, ec));
  if (on_disk) {
    fs::create_directories(dst.parent_path(), ec);
    if (ec) {
      throw JobError(ErrorKind::filesystem, "cannot create " + dst.parent_path().string() + ": " + ec.message());
    }
    if (int err = rename_noreplace(src, dst); err != 0) {
      const std::string why = "cannot move " + src.string() + " to " + dst.string() + ": " +
                              std::strerror(err) + "; nothing changed";
      // Retrying cannot help when the target appeared or the move crosses file systems.
      throw JobError(err == EEXIST || err == ENOTEMPTY || err == EXDEV ? ErrorKind::permanent
                                                                       : ErrorKind::filesystem,
                     why);
    }
  } else {
    log.info("folder {} of author '{}' does not exist; only the catalog's path changes", src.string(),
             author.name);
  }

  auto moved = catalog.move_author(author.id, dst);
  if (!moved) {
    if (on_disk && rename_noreplace(dst, src) != 0) {
      log.error("moved {} to {} but could not record it ({}) nor move it back; the catalog still "
                "names the old folder",
                src.string(), dst.string(), moved.error().message);
    }
    throw JobError(kind_of(moved.error().code),
                   "cannot record the move of author '" + author.name + "': " + moved.error().message +
                       (on_disk ? "; the folder was moved back" : ""));
  }
  auto files = catalog.file_count_of_author(author.id);
  const std::int64_t n = files ? *files : 0;
  log.info("author '{}' moved: {} -> {} ({} file(s) re-pointed)", author.name, src.string(), dst.string(), n);
  if (events) events->publish(AuthorMoved{author.id, src, dst, n});
  if (ctx) {
    ctx->complete(on_disk ? "moved " + src.string() + " to " + dst.string()
                          : "the folder is now " + dst.string() + " (" + src.string() +
                                " did not exist; nothing to move on disk)");
  }
}

}  // namespace shelfjobs

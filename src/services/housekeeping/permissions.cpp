// SPDX-License-Identifier: MIT
// Housekeeping's `permissions` task: the configured modes on everything under each root
// folder.
//
// Why a walk by file descriptors: a path-based walk checks an entry and then changes it by
// name, and a symlink put in its place meanwhile would send the change outside the root. Here
// each entry is opened relative to its folder with O_PATH | O_NOFOLLOW (which opens a link as
// the link itself, and needs no read permission), checked with fstat, and changed through
// /proc/self/fd/N, which names the inode that was opened, not a path that could have been
// swapped. Folders are descended into with O_NOFOLLOW too. So a symlink is never followed,
// whenever it appears. The root folder itself may be a symlink (a library on a mounted share):
// that is the user's choice and is followed; nothing under it is.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "services/housekeeping/housekeeping_tasks.hpp"

namespace shelfjobs::housekeeping {

namespace {

struct PermWalk {
  const PermissionOptions& modes;
  PermissionCounts& counts;

  void fail(const std::string& what, int err) {
    if (counts.failed++ == 0) counts.first_error = what + ": " + std::strerror(err);
  }

  // Sets `want` on the inode `fd` (an O_PATH descriptor) unless it has it already.
  void set(int fd, mode_t current, mode_t want, bool folder, const std::string& what) {
    if ((current & 07777) == want) {
      ++counts.unchanged;
      return;
    }
    const std::string proc = "/proc/self/fd/" + std::to_string(fd);
    if (::chmod(proc.c_str(), want) != 0) return fail(what, errno);
    ++(folder ? counts.folders : counts.files);
  }

  // `dir` is an open folder (owned by the caller); walks its entries.
  void walk(int dir, const std::string& where, int depth) {
    const int list_fd = ::dup(dir);
    if (list_fd < 0) return fail(where, errno);
    DIR* d = ::fdopendir(list_fd);
    if (!d) {
      const int err = errno;
      ::close(list_fd);
      return fail(where, err);
    }
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      const std::string what = where + "/" + name;
      const int fd = ::openat(dir, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) {
        fail(what, errno);
        continue;
      }
      struct stat st {};
      if (::fstat(fd, &st) != 0) {
        fail(what, errno);
      } else if (S_ISLNK(st.st_mode)) {
        ++counts.symlinks;
      } else if (S_ISDIR(st.st_mode)) {
        set(fd, st.st_mode, static_cast<mode_t>(modes.folder_mode), true, what);
        const int sub = ::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) {
          fail(what, errno);  // swapped for a link meanwhile (ELOOP), or not readable even now
        } else {
          if (depth < 64)
            walk(sub, what, depth + 1);
          else
            fail(what, ELOOP);
          ::close(sub);
        }
      } else if (S_ISREG(st.st_mode)) {
        set(fd, st.st_mode, static_cast<mode_t>(modes.file_mode), false, what);
      }  // sockets, fifos, devices: not ours to change
      ::close(fd);
    }
    ::closedir(d);
  }
};

}  // namespace

PermissionCounts apply_permissions(const std::filesystem::path& root, const PermissionOptions& modes) {
  PermissionCounts counts;
  const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    counts.failed = 1;
    counts.first_error = root.string() + ": " + std::strerror(errno);
    return counts;
  }
  PermWalk{modes, counts}.walk(fd, root.string(), 0);
  ::close(fd);
  return counts;
}

std::string permissions(HousekeepingService::Impl& s) {
  if (!s.o.permissions.enabled) return "off";
  if (!s.o.catalog) return "no catalog";
  auto roots = s.o.catalog->root_folders();
  if (!roots) throw TaskFailure("cannot read the root folders: " + roots.error().message);
  if (roots->empty()) return "no root folders";
  std::string msg;
  bool any_failed = false;
  for (const auto& r : *roots) {
    const auto c = apply_permissions(r.path, s.o.permissions);
    if (!msg.empty()) msg += "; ";
    msg += r.path.string() + ": " + std::to_string(c.files) + " files and " + std::to_string(c.folders) +
           " folders set, " + std::to_string(c.unchanged) + " already right, " + std::to_string(c.symlinks) +
           " symlinks skipped";
    if (c.failed > 0) {
      any_failed = true;
      msg += ", " + std::to_string(c.failed) + " failed (first: " + c.first_error + ")";
    }
  }
  if (any_failed) throw TaskFailure(msg);
  return msg;
}

}  // namespace shelfjobs::housekeeping

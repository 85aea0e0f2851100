// SPDX-License-Identifier: MIT
// The library walk over POSIX directory streams.
//
// Why not std::filesystem::recursive_directory_iterator: it cannot tell a loop through a
// symlink from a legitimate second path to a folder (it either refuses all links or follows
// them forever), it stops at the first unreadable folder unless told to skip permission errors
// only, and it reports errors by exception or by ending. Here each folder is opened with
// openat() relative to its parent's descriptor (no path re-resolution, so a rename elsewhere in
// the tree cannot send us into another folder) and read with getdents64() into a buffer of its
// level; the walk recurses with one open folder and one 32 KiB buffer per level, which is the
// whole of its memory.
//
// Loops: the (device, inode) pairs of the folders open on the current path are kept; a folder
// whose pair is already among them is reached through a link to one of its ancestors (or a
// bind mount of one). The pair is the opened folder's (fstat of its descriptor), so a rename
// between a look and an open cannot slip past the check.
//
// System calls: on a slow VM or a network share they are most of a rescan's time, and title
// folders hold one file each, so the calls per folder count. A folder that is not a link
// (d_type) is opened with O_NOFOLLOW straight away and fstat'ed: two calls, as a plain walk's
// stat and open. Its entries are read with getdents64 directly: a DIR stream (fdopendir) adds
// an fstat and two fcntl calls per folder, a third of the calls a title folder costs. A link (or a file
// system without d_type) is stat'ed first, so a link back to an ancestor is not even opened. Files are
// stat'ed only when their name is a book's.
#include "shelfjobs/adapters/library_walk.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "adapters/files/fd.hpp"
#include "engine/text.hpp"
#include "engine/utf8.hpp"

namespace shelfjobs {

namespace fs = std::filesystem;

std::string_view to_string(WalkProblem::Kind kind) noexcept {
  switch (kind) {
    case WalkProblem::Kind::unreadable_folder: return "unreadable_folder";
    case WalkProblem::Kind::unreadable_entry: return "unreadable_entry";
    case WalkProblem::Kind::broken_link: return "broken_link";
    case WalkProblem::Kind::loop: return "loop";
    case WalkProblem::Kind::too_deep: return "too_deep";
  }
  return "unreadable_entry";
}

std::optional<BookKind> book_kind_of(std::string_view name) noexcept {
  // One extension table for the walk and the readers (book_metadata.hpp): Readarr's
  // MediaFileExtensions and nothing else, so a scan takes what Readarr would import.
  const auto format = book_format_of_name(name);
  if (!format) return std::nullopt;
  return kind_of(*format);
}

bool is_excluded_folder(std::string_view name) noexcept {
  // Readarr's pattern is `extras|@eadir|extrafanart|plex versions|\..+`: NAS thumbnail stores
  // (Synology @eaDir, QNAP .@__thumb), media-server extras and every hidden folder.
  if (!name.empty() && name.front() == '.') return true;
  for (std::string_view x : {"extras", "@eaDir", "extrafanart", "plex versions"})
    if (detail::iequals(name, x)) return true;
  return false;
}

bool is_excluded_file(std::string_view name) noexcept {
  if (detail::istarts_with(name, "._")) return true;  // macOS resource forks on foreign disks
  if (detail::iequals(name, "Thumbs.db") || detail::iequals(name, ".DS_Store")) return true;
  constexpr std::string_view kPartial = ".partial~";
  return name.size() >= kPartial.size() &&
         detail::iequals(name.substr(name.size() - kPartial.size()), kPartial);
}

std::string display_path(const fs::path& path) { return detail::utf8_repair(path.native()); }

namespace {

using detail::Fd;

struct DevIno {
  dev_t dev;
  ino_t ino;
  bool operator==(const DevIno&) const = default;
};

TimePoint mtime_of(const struct stat& st) {
  const auto since_epoch =
      std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec);
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(since_epoch));
}

bool regular_file_at(int dir_fd, const char* name) {
  struct stat st {};
  return ::fstatat(dir_fd, name, &st, 0) == 0 && S_ISREG(st.st_mode);
}

// Opens `name` under `dir_fd` as a folder, following symlinks. -1 with errno on failure.
int open_folder_at(int dir_fd, const char* name) {
  return ::openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

Error start_error(const fs::path& p, int err) {
  const std::string what = display_path(p) + ": " + std::strerror(err);
  if (err == ENOENT) return Error{errc::not_found, "cannot walk " + what};
  if (err == ENOTDIR)
    return Error{errc::invalid_argument, "cannot walk " + display_path(p) + ": not a folder"};
  return Error{errc::unavailable, "cannot read " + what};
}

// One getdents64 buffer per folder level open at once: allocated the first time a level is
// reached, then reused by the folders at that depth (see Walker::buffers_).
struct DirBuffer {
  static constexpr std::size_t kBytes = 32 * 1024;
  std::vector<char> bytes = std::vector<char>(kBytes);
};

class Walker {
 public:
  Walker(const fs::path& root, WalkVisitor& visitor, const WalkOptions& options)
      : root_(root), visitor_(visitor), options_(options) {}

  // Walks the open folder `fd` (taken over) at `relative`; false when the walk must end.
  bool walk(int fd_in, const fs::path& relative, int depth, const fs::path& author,
            std::size_t author_index) {
    Fd fd(fd_in);
    WalkFolder folder;
    folder.path = relative.empty() ? root_ : root_ / relative;
    folder.relative = relative;
    folder.depth = depth;
    folder.author_folder = author;
    folder.author_index = author_index;
    if (options_.sidecars) {
      folder.has_metadata_opf = regular_file_at(fd.get(), "metadata.opf");
      folder.has_cover = regular_file_at(fd.get(), "cover.jpg");
    }
    ++summary_.folders;
    switch (visitor_.folder(folder)) {
      case WalkControl::proceed: break;
      case WalkControl::skip: return true;
      case WalkControl::stop: summary_.end = WalkEnd::stopped; return false;
    }

    // The folder's entries come from getdents64 into this level's buffer: a DIR stream
    // (fdopendir) would cost an fstat and two fcntl calls more per folder.
    DirBuffer& buffer = buffer_at(depth);
    const int dfd = fd.get();
    std::size_t at = 0, end = 0;

    for (;;) {
      if (cancelled()) {
        summary_.end = WalkEnd::cancelled;
        return false;
      }
      if (at == end) {
        const ssize_t got = ::getdents64(dfd, buffer.bytes.data(), buffer.bytes.size());
        if (got <= 0) {
          // The end, or a read error part-way (EIO on a failing disk or share): what was read
          // stands, the rest of this folder is reported and skipped.
          if (got < 0)
            problem(WalkProblem::Kind::unreadable_folder, folder.path, errno, "cannot read folder");
          return true;
        }
        at = 0;
        end = static_cast<std::size_t>(got);
      }
      const auto* entry = reinterpret_cast<const struct dirent64*>(buffer.bytes.data() + at);
      at += entry->d_reclen;
      const char* name = entry->d_name;
      if (std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0) continue;
      const std::string_view name_view(name);
      const unsigned char type = entry->d_type;

      // Names decide first, so that excluded folders and the many non-book files cost no stat.
      if (type == DT_DIR && is_excluded_folder(name_view)) {
        ++summary_.ignored;
        continue;
      }
      if (type == DT_REG && (is_excluded_file(name_view) || !book_kind_of(name_view))) {
        ++summary_.ignored;
        continue;
      }

      // A folder that is not a link (d_type describes the entry itself): opened without
      // following links, and known by what was opened, so no stat comes first. Two system
      // calls per folder, as a plain walk's stat and open. A type changed since readdir (a
      // link or a file put there) falls through to the stat below.
      if (type == DT_DIR) {
        if (depth + 1 > options_.max_depth) {
          too_deep(name, relative);
          continue;
        }
        const int child = ::openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (child >= 0) {
          if (!enter(child, name, relative, depth, author, author_index)) return false;
          continue;
        }
        const int err = errno;
        if (err == ENOENT) continue;  // removed since readdir: nothing to report
        if (err != ELOOP && err != ENOTDIR) {
          problem(WalkProblem::Kind::unreadable_folder, root_ / (relative / name), err, "cannot open folder");
          continue;
        }
      }

      struct stat st {};
      if (::fstatat(dfd, name, &st, 0) != 0) {
        const int err = errno;
        struct stat lst {};
        const bool is_link = ::fstatat(dfd, name, &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode);
        if (err == ENOENT && !is_link) continue;  // removed since readdir: nothing to report
        if (is_link && (err == ENOENT || err == ELOOP)) {
          problem(WalkProblem::Kind::broken_link, root_ / (relative / name), err, "broken symlink");
        } else {
          problem(WalkProblem::Kind::unreadable_entry, root_ / (relative / name), err, "cannot examine");
        }
        continue;
      }

      if (S_ISDIR(st.st_mode)) {
        // A link to a folder (or DT_UNKNOWN): followed.
        if (is_excluded_folder(name_view)) {  // the name was not checked yet
          ++summary_.ignored;
          continue;
        }
        if (depth + 1 > options_.max_depth) {
          too_deep(name, relative);
          continue;
        }
        // Checked on the stat first, so a link back to an ancestor is not even opened.
        if (is_ancestor(DevIno{st.st_dev, st.st_ino})) {
          loop(name, relative);
          continue;
        }
        const int child = open_folder_at(dfd, name);
        if (child < 0) {
          problem(WalkProblem::Kind::unreadable_folder, root_ / (relative / name), errno,
                  "cannot open folder");
          continue;
        }
        if (!enter(child, name, relative, depth, author, author_index)) return false;
        continue;
      }

      if (!S_ISREG(st.st_mode)) {  // sockets, FIFOs, devices
        ++summary_.ignored;
        continue;
      }
      const auto kind = book_kind_of(name_view);
      if (!kind || is_excluded_file(name_view)) {
        ++summary_.ignored;
        continue;
      }
      WalkFile file;
      file.relative = relative / name;
      file.path = root_ / file.relative;
      file.size = static_cast<std::uint64_t>(st.st_size);
      file.mtime = mtime_of(st);
      file.kind = *kind;
      file.author_folder = author;
      file.depth = depth;
      file.author_index = author_index;
      file.has_metadata_opf = folder.has_metadata_opf;
      file.has_cover = folder.has_cover;
      ++summary_.files;
      switch (visitor_.file(file)) {
        case WalkControl::proceed: break;
        case WalkControl::skip: return true;
        case WalkControl::stop: summary_.end = WalkEnd::stopped; return false;
      }
    }
  }

  // Walks the folder `fd` (opened, taken over) found as `name` in the folder at `relative`,
  // unless it is one of the folders open on the current path. The loop check is made on what
  // was opened: the folder may differ from one stat'ed before (a rename in between). False
  // when the walk must end.
  bool enter(int fd, const char* name, const fs::path& relative, int depth, const fs::path& author,
             std::size_t author_index) {
    Fd child(fd);
    struct stat opened {};
    if (::fstat(child.get(), &opened) != 0 || is_ancestor(DevIno{opened.st_dev, opened.st_ino})) {
      loop(name, relative);
      return true;
    }
    const bool author_level = depth == 0;
    const fs::path child_author = author_level ? fs::path(name) : author;
    const std::size_t child_index = author_level ? ++author_count_ : author_index;
    ancestors_.push_back(DevIno{opened.st_dev, opened.st_ino});
    const bool go_on = walk(child.release(), relative / name, depth + 1, child_author, child_index);
    ancestors_.pop_back();
    // The levels below a title folder are rare: their buffers go when their author folder ends.
    if (author_level && buffers_.size() > kKeptLevels) buffers_.resize(kKeptLevels);
    return go_on;
  }

  DirBuffer& buffer_at(int depth) {
    const auto level = static_cast<std::size_t>(depth);
    while (buffers_.size() <= level) buffers_.push_back(std::make_unique<DirBuffer>());
    return *buffers_[level];
  }

  bool is_ancestor(const DevIno& id) const {
    return std::find(ancestors_.begin(), ancestors_.end(), id) != ancestors_.end();
  }

  void loop(const char* name, const fs::path& relative) {
    problem(WalkProblem::Kind::loop, root_ / (relative / name), ELOOP,
            "symlink back to a folder above it, not entered");
  }

  void too_deep(const char* name, const fs::path& relative) {
    problem(WalkProblem::Kind::too_deep, root_ / (relative / name), 0,
            "deeper than " + std::to_string(options_.max_depth) + " folders, not entered");
  }

  bool cancelled() const {
    if (options_.stop.stop_requested()) return true;
    return options_.cancelled && options_.cancelled();
  }

  void problem(WalkProblem::Kind kind, const fs::path& p, int err, const std::string& what) {
    WalkProblem pr;
    pr.kind = kind;
    pr.path = p;
    if (err != 0) pr.error = std::error_code(err, std::generic_category());
    pr.message = what + " " + display_path(p);
    if (err != 0) pr.message += std::string(": ") + std::strerror(err);
    ++summary_.problems;
    visitor_.problem(pr);
  }

  std::vector<DevIno> ancestors_;
  WalkSummary summary_;

 private:
  const fs::path& root_;
  WalkVisitor& visitor_;
  const WalkOptions& options_;
  std::size_t author_count_ = 0;
  // By depth; a pointer each, as levels recurse. The root's, an author folder's and a title
  // folder's are kept from one folder to the next.
  static constexpr std::size_t kKeptLevels = 3;
  std::vector<std::unique_ptr<DirBuffer>> buffers_;
};

// Opens the root after checking it is an absolute folder path.
Result<int> open_root(const fs::path& root) {
  if (root.empty() || !root.is_absolute()) {
    return Error{errc::invalid_argument,
                 "the library root must be an absolute path, not '" + display_path(root) + "'"};
  }
  const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return start_error(root, errno);
  return fd;
}

}  // namespace

Result<WalkSummary> walk_library(const fs::path& root, WalkVisitor& visitor, const WalkOptions& options) {
  if (options.max_depth < 0) return Error{errc::invalid_argument, "max_depth must not be negative"};
  auto root_fd = open_root(root);
  if (!root_fd) return root_fd.error();
  Fd fd(*root_fd);
  Walker walker(root, visitor, options);

  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return start_error(root, errno);
  walker.ancestors_.push_back(DevIno{st.st_dev, st.st_ino});

  // Down to `only`, one component at a time: each is checked like a folder met in the walk,
  // and each joins the ancestors, so a link inside it back to the root is still a loop.
  fs::path relative;
  fs::path author;
  int depth = 0;
  if (!options.only.empty()) {
    if (options.only.is_absolute()) {
      return Error{errc::invalid_argument,
                   "only must be relative to the root: " + display_path(options.only)};
    }
    for (const auto& part : options.only) {
      const std::string& name = part.native();
      if (name.empty()) continue;  // a trailing slash
      if (name == "." || name == "..") {
        return Error{errc::invalid_argument, "only must not hold '.' or '..': " + display_path(options.only)};
      }
      if (is_excluded_folder(name)) {
        return Error{errc::invalid_argument, "only names an excluded folder: " + display_path(options.only)};
      }
      relative /= part;
      if (depth == 0) author = part;
      ++depth;
      if (depth > options.max_depth) {
        return Error{errc::invalid_argument, "only is deeper than max_depth: " + display_path(options.only)};
      }
      const int next = open_folder_at(fd.get(), name.c_str());
      if (next < 0) return start_error(root / relative, errno);
      fd.reset(next);
      if (::fstat(fd.get(), &st) != 0) return start_error(root / relative, errno);
      const DevIno id{st.st_dev, st.st_ino};
      if (std::find(walker.ancestors_.begin(), walker.ancestors_.end(), id) != walker.ancestors_.end()) {
        return Error{errc::invalid_argument,
                     "only leads back to a folder above it: " + display_path(options.only)};
      }
      walker.ancestors_.push_back(id);
    }
  }
  // The author index of a one-author walk is 1: it is the only author folder walked.
  walker.walk(fd.release(), relative, depth, author, depth >= 1 ? 1 : 0);
  return walker.summary_;
}

Result<std::size_t> count_author_folders(const fs::path& root) {
  auto root_fd = open_root(root);
  if (!root_fd) return root_fd.error();
  DIR* dir = ::fdopendir(*root_fd);
  if (dir == nullptr) {
    const int err = errno;
    ::close(*root_fd);
    return start_error(root, err);
  }
  struct Closer {
    DIR* d;
    ~Closer() { ::closedir(d); }
  } closer{dir};
  std::size_t n = 0;
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(dir);
    if (entry == nullptr) {
      if (errno != 0) return start_error(root, errno);
      return n;
    }
    const std::string_view name(entry->d_name);
    if (name == "." || name == ".." || is_excluded_folder(name)) continue;
    if (entry->d_type == DT_DIR) {  // a folder, not a link: no stat needed
      ++n;
      continue;
    }
    if (entry->d_type != DT_LNK && entry->d_type != DT_UNKNOWN) continue;
    struct stat st {};
    if (::fstatat(::dirfd(dir), entry->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode)) ++n;
  }
}

}  // namespace shelfjobs

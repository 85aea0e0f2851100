// SPDX-License-Identifier: MIT
// File transfer: hardlink, copy, move; never overwriting.
//
// Every final step is one that refuses to replace: link(2), and renameat2(RENAME_NOREPLACE) for
// renames (with link + unlink where the file system lacks the flag, which also refuses). A check
// beforehand ("does the destination exist?") only decides what to say; it is never what
// protects the destination, because another process can create it between the check and the
// step. When the final step meets an existing destination, the same comparison runs again.
//
// A copy goes to a temporary name in the destination folder, so the rename into place is on one
// file system (atomic), and anything interrupted is a `*.partial~` file, which the library walk
// skips, never a short file under the book's name.
#include "shelfjobs/adapters/file_transfer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "adapters/files/fd.hpp"
#include "engine/utf8.hpp"
#include "shelfjobs/adapters/library_walk.hpp"

namespace shelfjobs {

namespace fs = std::filesystem;

std::string_view to_string(TransferMode mode) noexcept {
  switch (mode) {
    case TransferMode::hardlink: return "hardlink";
    case TransferMode::copy: return "copy";
    case TransferMode::move: return "move";
    case TransferMode::hardlink_or_copy: return "hardlink_or_copy";
  }
  return "copy";
}

std::string_view to_string(TransferAction action) noexcept {
  switch (action) {
    case TransferAction::hardlinked: return "hardlinked";
    case TransferAction::copied: return "copied";
    case TransferAction::renamed: return "renamed";
    case TransferAction::moved_by_copy: return "moved_by_copy";
    case TransferAction::already_there: return "already_there";
  }
  return "copied";
}

namespace {

constexpr std::size_t kChunk = 1 << 20;

using detail::Fd;

std::string show(const fs::path& p) { return display_path(p); }

Error system_error(int err, const std::string& what) {
  std::string cause;
  switch (err) {
    case ENOSPC: cause = "no space left on the device"; break;
    case EDQUOT: cause = "disk quota exceeded"; break;
    case EFBIG: cause = "the file is too large for the destination (EFBIG)"; break;
    default: cause = std::strerror(err);
  }
  if (err == ENOENT) return Error{errc::not_found, what + ": " + cause};
  return Error{errc::unavailable, what + ": " + cause};
}

int sync_folder(const fs::path& folder) {
  Fd fd(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return errno;
  if (::fsync(fd.get()) != 0 && errno != EINVAL) return errno;  // some file systems refuse: no error
  return 0;
}

// Reads exactly `n` bytes unless the file ends first; -1 with errno on error.
ssize_t read_full(int fd, char* buf, std::size_t n) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t r = ::read(fd, buf + done, n - done);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    done += static_cast<std::size_t>(r);
  }
  return static_cast<ssize_t>(done);
}

// Whether two files hold the same bytes. Errors as errno (> 0); 0 different; -1 same.
int same_content(const fs::path& a, const fs::path& b) {
  Fd fa(::open(a.c_str(), O_RDONLY | O_CLOEXEC));
  if (fa.get() < 0) return errno;
  Fd fb(::open(b.c_str(), O_RDONLY | O_CLOEXEC));
  if (fb.get() < 0) return errno;
  std::vector<char> ba(kChunk / 4), bb(kChunk / 4);
  for (;;) {
    const ssize_t ra = read_full(fa.get(), ba.data(), ba.size());
    if (ra < 0) return errno;
    const ssize_t rb = read_full(fb.get(), bb.data(), bb.size());
    if (rb < 0) return errno;
    if (ra != rb || std::memcmp(ba.data(), bb.data(), static_cast<std::size_t>(ra)) != 0) return 0;
    if (ra == 0) return -1;
  }
}

enum class Existing { none, same, different };

// What is at `destination` compared with the source (`src_st`). Follows a symlink at the
// destination; a dangling one is "different" (something holds the name).
Result<Existing> existing(const fs::path& source, const struct stat& src_st, const fs::path& destination) {
  struct stat st {};
  if (::stat(destination.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      struct stat lst {};
      if (::lstat(destination.c_str(), &lst) == 0) return Existing::different;  // a dangling symlink
      return Existing::none;
    }
    return system_error(err, "cannot examine " + show(destination));
  }
  if (st.st_dev == src_st.st_dev && st.st_ino == src_st.st_ino) return Existing::same;
  if (!S_ISREG(st.st_mode) || st.st_size != src_st.st_size) return Existing::different;
  const int cmp = same_content(source, destination);
  if (cmp > 0) return system_error(cmp, "cannot compare " + show(source) + " with " + show(destination));
  return cmp < 0 ? Existing::same : Existing::different;
}

Error conflict(const fs::path& destination) {
  return Error{errc::conflict, "cannot transfer to " + show(destination) +
                                   ": a different file is already there; nothing was overwritten"};
}

// The same directory entry by two spellings: the parents are one folder and the names agree.
bool same_entry(const fs::path& a, const fs::path& b) {
  if (a.filename() != b.filename()) return false;
  struct stat pa {
  }, pb{};
  if (::stat(a.parent_path().c_str(), &pa) != 0 || ::stat(b.parent_path().c_str(), &pb) != 0) return false;
  return pa.st_dev == pb.st_dev && pa.st_ino == pb.st_ino;
}

// The answer when the destination turned out to hold the same file. A move then removes the
// source, unless it is the destination itself.
Result<TransferResult> already_there(const fs::path& source, const fs::path& destination, TransferMode mode,
                                     const TransferOptions& options) {
  TransferResult r;
  r.action = TransferAction::already_there;
  if (mode == TransferMode::move && !same_entry(source, destination)) {
    if (::unlink(source.c_str()) != 0) {
      return system_error(errno, show(destination) + " is already there, but the source " + show(source) +
                                     " cannot be removed");
    }
    r.source_removed = true;
    if (options.sync) sync_folder(source.parent_path());
  }
  return r;
}

// rename without replacing: 0 or errno.
int rename_noreplace(const fs::path& from, const fs::path& to) {
#if defined(RENAME_NOREPLACE)
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return errno;
#endif
  // No RENAME_NOREPLACE on this file system: link(2) refuses an existing name just the same.
  if (::link(from.c_str(), to.c_str()) != 0) return errno;
  ::unlink(from.c_str());
  return 0;
}

std::string temp_name_for(const fs::path& destination) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char tag[32];
  std::snprintf(tag, sizeof tag, ".%08llx.partial~", static_cast<unsigned long long>(rng() & 0xffffffffull));
  std::string name = destination.filename().native();
  // Within 255 bytes, cut on a character boundary when the name is UTF-8.
  const std::size_t room = 255 - std::strlen(tag);
  if (name.size() > room) {
    name.resize(detail::utf8_valid(name) ? detail::utf8_prefix_length(name, room) : room);
  }
  return name + tag;
}

// Copies the open source to a temporary file beside `destination`, synced; returns its path.
Result<fs::path> copy_to_temp(int src_fd, const struct stat& src_st, const fs::path& source,
                              const fs::path& destination, const TransferOptions& options,
                              std::uint64_t& bytes) {
  const fs::path temp = destination.parent_path() / temp_name_for(destination);
  Fd out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, src_st.st_mode & 07777 & ~06000));
  if (out.get() < 0) return system_error(errno, "cannot write to folder " + show(destination.parent_path()));
  auto fail = [&](const Error& e) -> Result<fs::path> {
    out.close();
    ::unlink(temp.c_str());
    return e;
  };

  const auto total = static_cast<std::uint64_t>(src_st.st_size);
  bytes = 0;
  bool kernel_copy = true;  // copy_file_range: in the kernel, and a reflink where the FS can
  std::vector<char> buf;
  if (::lseek(src_fd, 0, SEEK_SET) < 0) return fail(system_error(errno, "cannot read " + show(source)));
  for (;;) {
    if (options.stop.stop_requested()) {
      return fail(Error{errc::shutting_down, "copy of " + show(source) + " cancelled; nothing left behind"});
    }
    ssize_t n = -1;
    if (kernel_copy) {
      n = ::copy_file_range(src_fd, nullptr, out.get(), nullptr, kChunk, 0);
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
        kernel_copy = false;  // not between these file systems: plain reads and writes
        continue;
      }
      if (n < 0) {
        const int err = errno;
        // Tell a read failure from a write failure for the message.
        const bool write_side = err == ENOSPC || err == EDQUOT || err == EFBIG || err == EROFS;
        return fail(system_error(
            err, write_side ? "cannot write " + show(destination) : "cannot copy " + show(source)));
      }
    } else {
      if (buf.empty()) buf.resize(kChunk);
      n = read_full(src_fd, buf.data(), buf.size());
      if (n < 0) return fail(system_error(errno, "cannot read " + show(source)));
      std::size_t done = 0;
      while (done < static_cast<std::size_t>(n)) {
        const ssize_t w = ::write(out.get(), buf.data() + done, static_cast<std::size_t>(n) - done);
        if (w < 0) {
          if (errno == EINTR) continue;
          return fail(system_error(errno, "cannot write " + show(destination)));
        }
        done += static_cast<std::size_t>(w);
      }
    }
    if (n == 0) break;
    bytes += static_cast<std::uint64_t>(n);
    if (options.progress) options.progress(bytes, std::max(total, bytes));
  }
  // The source's modification time: a later scan compares it.
  const struct timespec times[2] = {src_st.st_atim, src_st.st_mtim};
  ::futimens(out.get(), times);
  if (options.sync && ::fsync(out.get()) != 0)
    return fail(system_error(errno, "cannot write " + show(destination)));
  if (const int err = out.close(); err != 0)
    return fail(system_error(err, "cannot write " + show(destination)));
  return temp;
}

Status make_parents(const fs::path& destination) {
  std::error_code ec;
  fs::create_directories(destination.parent_path(), ec);
  if (ec) {
    return system_error(ec.value(), "cannot create folder " + show(destination.parent_path()));
  }
  return Ok{};
}

Result<TransferResult> copy_into_place(int src_fd, const struct stat& src_st, const fs::path& source,
                                       const fs::path& destination, TransferMode mode,
                                       const TransferOptions& options, bool verify) {
  std::uint64_t bytes = 0;
  auto temp = copy_to_temp(src_fd, src_st, source, destination, options, bytes);
  if (!temp) return temp.error();
  auto drop_temp = [&] { ::unlink(temp->c_str()); };
  if (verify) {
    // A move removes the only other copy: read both back first.
    const int cmp = same_content(source, *temp);
    if (cmp >= 0) {
      drop_temp();
      if (cmp > 0) return system_error(cmp, "cannot verify the copy of " + show(source));
      return Error{errc::unavailable,
                   "the copy of " + show(source) + " differs from it (did it change?); the source is kept"};
    }
  }
  if (const int err = rename_noreplace(*temp, destination); err != 0) {
    drop_temp();
    if (err != EEXIST) return system_error(err, "cannot rename into place " + show(destination));
    // Someone else put a file there meanwhile.
    auto now = existing(source, src_st, destination);
    if (!now) return now.error();
    if (*now == Existing::same) return already_there(source, destination, mode, options);
    return conflict(destination);
  }
  if (options.sync) sync_folder(destination.parent_path());
  TransferResult r;
  r.action = mode == TransferMode::move ? TransferAction::moved_by_copy : TransferAction::copied;
  r.bytes_copied = bytes;
  return r;
}

}  // namespace

Result<TransferResult> transfer(const fs::path& source, const fs::path& destination, TransferMode mode,
                                const TransferOptions& options) {
  if (!source.is_absolute() || !destination.is_absolute() || !source.has_filename() ||
      !destination.has_filename()) {
    return Error{errc::invalid_argument, "transfer needs two absolute file paths, not '" + show(source) +
                                             "' and '" + show(destination) + "'"};
  }
  Fd src(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
  if (src.get() < 0) {
    const int err = errno;
    if (err == ENOENT)
      return Error{errc::not_found, "cannot transfer " + show(source) + ": it does not exist"};
    return system_error(err, "cannot read " + show(source));
  }
  struct stat src_st {};
  if (::fstat(src.get(), &src_st) != 0) return system_error(errno, "cannot read " + show(source));
  if (!S_ISREG(src_st.st_mode)) {
    return Error{errc::invalid_argument, "cannot transfer " + show(source) + ": not a regular file"};
  }

  auto there = existing(source, src_st, destination);
  if (!there) return there.error();
  if (*there == Existing::same) return already_there(source, destination, mode, options);
  if (*there == Existing::different) return conflict(destination);
  if (auto made = make_parents(destination); !made) return made.error();

  // The final steps below refuse to replace; on EEXIST the comparison runs again.
  auto on_exists = [&]() -> Result<TransferResult> {
    auto now = existing(source, src_st, destination);
    if (!now) return now.error();
    if (*now == Existing::same) return already_there(source, destination, mode, options);
    return conflict(destination);
  };

  if (mode == TransferMode::hardlink || mode == TransferMode::hardlink_or_copy) {
    if (::link(source.c_str(), destination.c_str()) == 0) {
      if (options.sync) sync_folder(destination.parent_path());
      return TransferResult{TransferAction::hardlinked, 0, false};
    }
    const int err = errno;
    if (err == EEXIST) return on_exists();
    const bool no_link_here = err == EXDEV || err == EPERM || err == EMLINK || err == EOPNOTSUPP;
    if (mode == TransferMode::hardlink || !no_link_here) {
      if (err == EXDEV) {
        return Error{errc::invalid_argument, "cannot hardlink " + show(source) + " to " + show(destination) +
                                                 ": they are on different file systems (use copy or "
                                                 "hardlink_or_copy)"};
      }
      return system_error(err, "cannot hardlink " + show(source) + " to " + show(destination));
    }
    return copy_into_place(src.get(), src_st, source, destination, TransferMode::copy, options, false);
  }

  if (mode == TransferMode::move) {
    const int err = rename_noreplace(source, destination);
    if (err == 0) {
      if (options.sync) {
        sync_folder(destination.parent_path());
        if (source.parent_path() != destination.parent_path()) sync_folder(source.parent_path());
      }
      return TransferResult{TransferAction::renamed, 0, true};
    }
    if (err == EEXIST) return on_exists();
    if (err != EXDEV) return system_error(err, "cannot move " + show(source) + " to " + show(destination));
    auto copied = copy_into_place(src.get(), src_st, source, destination, mode, options, true);
    if (!copied || copied->action == TransferAction::already_there) return copied;
    if (::unlink(source.c_str()) != 0) {
      return system_error(errno, "copied " + show(source) + " to " + show(destination) +
                                     " but cannot remove the source; both are there");
    }
    if (options.sync) sync_folder(source.parent_path());
    copied->source_removed = true;
    return copied;
  }

  return copy_into_place(src.get(), src_st, source, destination, mode, options, false);
}

}  // namespace shelfjobs

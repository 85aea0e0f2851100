// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// File transfer for imports: puts one book file at its place in the library by hardlink, copy
/// or move, and never overwrites anything.
///
/// `transfer(source, destination, mode)`:
///   - creates the destination's missing parent folders;
///   - never replaces an existing destination. When the destination exists and is the same file
///     (the same device and inode, or the same size and the same bytes, compared in full) the
///     transfer succeeds as `already_there`; otherwise it fails with `errc::conflict` naming the
///     destination. A destination that appears while the transfer runs is treated the same way
///     (the final step is a rename or link that refuses to replace);
///   - copy: writes a temporary file in the destination folder, named after the destination with
///     a random part and the suffix `.partial~` (which the library walk skips), fsyncs it, then
///     renames it into place with renameat2(RENAME_NOREPLACE) and fsyncs the folder. A copy that
///     is interrupted leaves no file under the final name; one that fails (a full disk, a read
///     error, cancellation) removes its temporary file. A crash can leave a `*.partial~` file;
///   - move: a rename when source and destination are on one file system; otherwise a copy as
///     above, a second read of both to verify the copy, and only then the source is removed. An
///     interrupted move leaves the source in place;
///   - hardlink: a second name for the same file; fails across file systems;
///   - hardlink_or_copy (Readarr's default for torrents, whose files must stay to be seeded): a
///     hardlink, and a copy where a hardlink cannot be made (another file system, or one that has
///     no hardlinks: EXDEV, EPERM, EMLINK, EOPNOTSUPP).
/// A copy keeps the source's modification time and permission bits (less the umask).
///
/// A move onto an existing identical file removes the source (the file is where it belongs),
/// unless source and destination are one and the same directory entry.
///
/// Errors (messages name the paths, as display text):
///   - `errc::not_found`: the source does not exist;
///   - `errc::invalid_argument`: the source is not a regular file, a path is relative or has no
///     file name, or a hardlink across file systems ("on different file systems": use copy or
///     hardlink_or_copy);
///   - `errc::conflict`: the destination exists and is a different file (or not a file);
///   - `errc::unavailable`: the file system refused: no space left (ENOSPC, EDQUOT) or the file
///     is too large for it (EFBIG), permission denied (a folder that cannot be written), a
///     read-only file system, an I/O error. The message says which;
///   - `errc::shutting_down`: the stop token fired during a copy (the temporary file is removed,
///     the source is intact).
///
/// Thread-safety: transfers may run at once on any threads; two transfers to one destination
/// end with one file there and the other `already_there` (same content) or `conflict`.
/// Ownership: nothing is kept between calls.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <stop_token>
#include <string_view>

#include "shelfjobs/engine/error.hpp"

namespace shelfjobs {

enum class TransferMode { hardlink, copy, move, hardlink_or_copy };
std::string_view to_string(TransferMode mode) noexcept;

/// What a transfer did.
enum class TransferAction {
  hardlinked,     ///< a new name for the source's inode
  copied,         ///< a new file with the source's bytes
  renamed,        ///< a move on one file system
  moved_by_copy,  ///< a move across file systems: copied, verified, source removed
  already_there,  ///< the destination already was the same file; nothing written
};
std::string_view to_string(TransferAction action) noexcept;

struct TransferResult {
  TransferAction action = TransferAction::copied;
  std::uint64_t bytes_copied = 0;  ///< bytes written by a copy (0 for links and renames)
  bool source_removed = false;     ///< a move: the source's name is gone
};

struct TransferOptions {
  /// Checked between the chunks of a copy.
  std::stop_token stop;
  /// fsync the copied file and the folders whose entries changed. Off only for tests and
  /// scratch copies: without it a power cut can leave an empty file under the final name.
  bool sync = true;
  /// Called after each chunk of a copy with (bytes done, bytes in all), on the caller's thread.
  std::function<void(std::uint64_t, std::uint64_t)> progress;
};

/// Transfers `source` to `destination` (both absolute file paths; the destination is the new
/// file's full path, not its folder). See the file comment.
Result<TransferResult> transfer(const std::filesystem::path& source, const std::filesystem::path& destination,
                                TransferMode mode, const TransferOptions& options = {});

}  // namespace shelfjobs

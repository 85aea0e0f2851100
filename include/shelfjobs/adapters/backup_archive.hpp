// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The zip files that hold backups (libzip): writing one that appears only when complete, and
/// reading one back without trusting it.
///
/// Writing (`write_archive`): the entries go into `<path>.partial` (libzip itself writes into a
/// temporary file beside that and renames it when done), which is made readable by its owner
/// only and then renamed to `path`. A failure (a full disk, a folder that cannot be written,
/// cancellation) leaves no file under `path`, `<path>.partial` or libzip's temporary name. A
/// killed process can leave `<path>.partial` or `<path>.partial.XXXXXX`, which no listing counts
/// as a backup and housekeeping removes once it is old.
///
/// Reading (`extract_archive`): before anything is written, every entry is checked: its name is
/// relative, '/'-separated, without `..`, `.` or empty parts and without a backslash; it is a
/// regular file (a symlink or any other special entry is refused; folder entries are skipped);
/// no name appears twice; the declared sizes fit the limits per entry and in total. While
/// extracting, the bytes actually read are counted against the declared size and the limits,
/// so an archive that lies about its sizes (a zip bomb) stops at the limit. The SHA-256 of each
/// entry is computed from the bytes written.
///
/// Errors: `errc::invalid_argument` for an archive that is refused (the message names the entry
/// and the rule); `errc::not_found` for a missing file; `errc::unavailable` when the file system
/// refuses (no space, permission; the message says which); `errc::shutting_down` when cancelled.
///
/// Thread-safety: reentrant; each call works on its own files.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "shelfjobs/engine/error.hpp"

namespace shelfjobs {

/// A file to put into an archive under `name` (relative, '/'-separated).
struct ArchiveFile {
  std::string name;
  std::filesystem::path source;
};

/// An entry as read back: its name, size and SHA-256 (64 lower-case hex digits).
struct ArchiveEntry {
  std::string name;
  std::uint64_t size = 0;
  std::string sha256;
};

/// SHA-256 of a file's bytes, lower-case hex. Errors: not_found or unavailable naming the file.
Result<std::string> sha256_file(const std::filesystem::path& path);

struct ArchiveWriteOptions {
  /// Deflate level 1 (fastest) to 9 (smallest); 0 stores the entries uncompressed.
  int compression_level = 6;
  /// Called while the entries are written, with the fraction done (0..1). Runs on the caller's
  /// thread.
  std::function<void(double)> progress;
  /// Polled while writing; true stops it (errc::shutting_down, nothing left behind).
  std::function<bool()> cancelled;
};

/// Writes a zip at `path` holding first `manifest` under `manifest_name`, then `files` in
/// order. Errors as in the file comment, and invalid_argument for a compression level outside
/// 0..9, an entry name the reader would refuse, or a `path` that already exists.
Status write_archive(const std::filesystem::path& path, const std::string& manifest_name,
                     const std::string& manifest, const std::vector<ArchiveFile>& files,
                     const ArchiveWriteOptions& options = {});

struct ArchiveLimits {
  std::uint64_t max_entry_bytes = std::uint64_t{64} << 30;   ///< one entry, uncompressed
  std::uint64_t max_total_bytes = std::uint64_t{128} << 30;  ///< all entries, uncompressed
  std::size_t max_entries = 1000;
};

/// Reads the entry `name` as text, at most `max_bytes` (more is an invalid_argument error).
/// Errors: not_found when the archive or the entry is missing; invalid_argument for a file
/// that is not a zip archive or is damaged.
Result<std::string> read_archive_entry(const std::filesystem::path& zip, const std::string& name,
                                       std::uint64_t max_bytes);

/// Checks and extracts every entry into `folder` (created when missing; it must be empty).
/// Returns the entries in archive order with the size and SHA-256 of what was written. On an
/// error, what was extracted is removed again. Errors as in the file comment.
Result<std::vector<ArchiveEntry>> extract_archive(const std::filesystem::path& zip,
                                                  const std::filesystem::path& folder,
                                                  const ArchiveLimits& limits = {});

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The library walk: finds the book files under a root folder, one at a time.
///
/// `walk_library` reads a root folder (or one sub-folder of it) and calls a `WalkVisitor` for
/// every folder it enters, every book file it finds and every problem it meets. It collects
/// nothing: each folder is read through one open descriptor and one 32 KiB buffer while it is
/// being walked, so the
/// walk's memory is O(depth of the tree), never O(number of files). A caller that wants a list
/// builds it in its visitor.
///
/// What counts (Readarr's scan rules):
///   - Book files by extension, ASCII case-insensitive: ebooks `epub kepub mobi azw3 pdf`;
///     audio `flac ape wavpack wav alac mp2 mp3 wma m4a m4p aac mp4a ogg oga vorbis m4b`.
///   - Folders skipped with everything under them: `extras`, `@eaDir`, `.@__thumb`,
///     `extrafanart`, `plex versions` (case-insensitive) and any other name starting with a dot.
///   - Files skipped: names starting with `._`, `Thumbs.db`, `.DS_Store` (case-insensitive) and
///     names ending in `.partial~` (the temporary names of `transfer`, file_transfer.hpp).
///   - Symlinks are followed (to folders and to files). A link back to a folder that is already
///     open on the current path (a loop) is reported as a problem and not entered, so every walk
///     ends. A folder reached by two different paths (a link to a sibling) is walked once per path.
///   - Other file types (sockets, FIFOs, devices) are ignored.
///
/// Paths keep the bytes the file system gave (a name that is not UTF-8 still opens); `display`
/// gives a text with U+FFFD in place of the bytes that are not UTF-8, for logs and people.
///
/// Errors: the walk itself fails only when it cannot start: `errc::invalid_argument` (a relative
/// root, a bad `WalkOptions::only`, a root or `only` that is not a folder or is excluded),
/// `errc::not_found` (the root or `only` does not exist), `errc::unavailable` (the root exists
/// but cannot be read: permissions, an I/O error, a dead network share). Anything below the
/// start folder that cannot be read (a folder without permission, a broken symlink, a loop, a
/// folder deeper than `max_depth`) is reported to `WalkVisitor::problem` and skipped; the walk
/// goes on. Being cancelled is not an error: the summary says how the walk ended.
///
/// Thread-safety: `walk_library` may run on several threads at once (each with its own
/// visitor); the visitor is called on the caller's thread only, one call at a time.
/// Ownership: the structures handed to the visitor are valid for the duration of the call.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>

#include "shelfjobs/adapters/book_metadata.hpp"
#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/job.hpp"

namespace shelfjobs {

/// The kind of book file a file name is by its extension (ASCII case-insensitive), or nullopt.
/// Only the last extension counts (`x.kepub.epub` is an ebook, `x.epub.partial~` is not).
std::optional<BookKind> book_kind_of(std::string_view file_name) noexcept;
/// True for the folder names the walk skips (see above).
bool is_excluded_folder(std::string_view folder_name) noexcept;
/// True for the file names the walk skips (see above), book extension or not.
bool is_excluded_file(std::string_view file_name) noexcept;

/// `path` as text for people: its bytes, with U+FFFD for each byte that is not part of a valid
/// UTF-8 sequence. Never throws for bad bytes.
std::string display_path(const std::filesystem::path& path);

/// A folder the walk enters.
struct WalkFolder {
  std::filesystem::path path;           ///< root / relative, as bytes
  std::filesystem::path relative;       ///< to the root; empty for the root itself
  int depth = 0;                        ///< 0 the root, 1 an author folder, 2 below it, ...
  std::filesystem::path author_folder;  ///< the first component of `relative`; empty for the root
  /// Depth 1: this author folder's place in the walk (1, 2, ...; with `count_author_folders` a
  /// caller reports "k of N"). Deeper: the enclosing author folder's. 0 for the root.
  std::size_t author_index = 0;
  /// Sidecar hints (only with `WalkOptions::sidecars`): the folder holds a regular file named
  /// `metadata.opf` / `cover.jpg`, as a Calibre book folder does (`Author/Title (id)/`).
  bool has_metadata_opf = false;
  bool has_cover = false;
  std::string display() const { return display_path(path); }
};

/// A book file.
struct WalkFile {
  std::filesystem::path path;           ///< root / relative, as bytes; through symlinks as met
  std::filesystem::path relative;       ///< to the root
  std::uint64_t size = 0;               ///< of the file (a symlink's target)
  TimePoint mtime{};                    ///< last modification, nanoseconds where the FS keeps them
  BookKind kind = BookKind::ebook;      ///< by extension
  std::filesystem::path author_folder;  ///< the first component of `relative`; empty in the root
  int depth = 0;                        ///< of the folder holding the file (0: in the root)
  std::size_t author_index = 0;         ///< as `WalkFolder::author_index` of its folder
  bool has_metadata_opf = false;        ///< its folder's sidecar hints (see `WalkFolder`)
  bool has_cover = false;
  std::string display() const { return display_path(path); }
};

/// Something below the start folder that could not be walked; it is skipped.
struct WalkProblem {
  enum class Kind {
    unreadable_folder,  ///< opening or reading a folder failed (permissions, I/O); `error` says why
    unreadable_entry,   ///< an entry could not be examined (stat failed, not ENOENT)
    broken_link,        ///< a symlink whose target does not exist (or a chain too long: ELOOP)
    loop,               ///< a symlink to a folder already open on the current path: not entered
    too_deep,           ///< a folder deeper than `WalkOptions::max_depth`: not entered
  };
  Kind kind;
  std::filesystem::path path;
  std::error_code error;  ///< the system error, when there was one
  std::string message;    ///< for people: names the path (display form) and the cause
};
std::string_view to_string(WalkProblem::Kind kind) noexcept;

/// What the visitor wants next.
enum class WalkControl {
  proceed,  ///< go on
  skip,     ///< from `folder`: do not enter this folder; from `file`: skip the rest of its folder
  stop,     ///< end the walk now (`WalkEnd::stopped`)
};

/// Receives the walk's findings, in directory order (readdir order: not sorted). Each folder is
/// announced before its files and sub-folders.
class WalkVisitor {
 public:
  virtual ~WalkVisitor() = default;
  virtual WalkControl folder(const WalkFolder& /*folder*/) { return WalkControl::proceed; }
  virtual WalkControl file(const WalkFile& file) = 0;
  virtual void problem(const WalkProblem& /*problem*/) {}
};

struct WalkOptions {
  /// A folder under the root, relative to it ("Ada Example" or "Ada Example/Book"): walk only
  /// that (rescanning one author without reading the whole root). Paths, depths and author
  /// folders are still relative to the root. Must not be absolute or hold `.` or `..`.
  std::filesystem::path only;
  /// Look for `metadata.opf` and `cover.jpg` in every folder (two fstatat calls per folder).
  bool sidecars = false;
  /// Deepest folder entered (the root is 0). Each level holds one open folder (one file
  /// descriptor and a 32 KiB buffer), so this also bounds the walk's memory.
  int max_depth = 32;
  /// Cancellation: checked before each entry. Either may be used; both may be empty.
  std::stop_token stop;
  std::function<bool()> cancelled;
};

enum class WalkEnd {
  complete,   ///< every readable folder was walked
  cancelled,  ///< the stop token or `cancelled` fired
  stopped,    ///< the visitor returned `WalkControl::stop`
};

struct WalkSummary {
  WalkEnd end = WalkEnd::complete;
  std::size_t folders = 0;   ///< folders entered (announced to `folder`), the start folder included
  std::size_t files = 0;     ///< book files announced to `file`
  std::size_t problems = 0;  ///< problems announced to `problem`
  std::size_t ignored = 0;   ///< entries passed over: excluded folders and files, non-book files
};

/// Walks `root` (absolute) or `root / options.only`. See the file comment for the rules and
/// the errors.
Result<WalkSummary> walk_library(const std::filesystem::path& root, WalkVisitor& visitor,
                                 const WalkOptions& options = {});

/// The number of author folders the walk of `root` would enter: its sub-folders (symlinks to
/// folders included) that are not excluded. One read of the root folder. Errors as
/// `walk_library` for the root.
Result<std::size_t> count_author_folders(const std::filesystem::path& root);

}  // namespace shelfjobs

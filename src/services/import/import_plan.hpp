// SPDX-License-Identifier: MIT
#pragma once
// The pure part of an import: given what was learnt of one file (its facts, its match, the
// catalog rows it goes with, its own row) and the naming pattern, where it goes and why it
// may not. No disk and no catalog here, so each rule is a table test; the service does the
// reads before and the transfer and the writes after.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shelfjobs/adapters/file_transfer.hpp"
#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/services/book_import.hpp"
#include "shelfjobs/services/naming.hpp"

namespace shelfjobs::import {

/// The catalog rows a file goes with, as identification found them.
struct Identity {
  std::optional<Author> author;  ///< set when the author is known, even without a book
  std::optional<Book> book;
  std::optional<Edition> edition;
  std::string series_title;  ///< the book's primary series, for the naming tokens
  std::string series_position;
  std::string matched_by = "none";  ///< "isbn", "asin", "title", "manual", "none"
  std::string no_match_reason;      ///< why nothing matched (no author, or no book)
  std::string wrong_book;           ///< ManualImport: why the ids given do not fit
};

struct PlanInput {
  std::filesystem::path source;    ///< absolute, lexically normal
  bool is_book = true;             ///< a book file by its extension
  bool missing = false;            ///< the source does not exist
  std::string read_error;          ///< the metadata could not be read (empty: it was)
  bool read_error_rejects = true;  ///< false when a person named the book (ManualImport)
  Identity identity;
  std::optional<BookFile> source_row;  ///< the catalog's row at the source path
  std::vector<RootFolder> roots;
  RowId default_root_id = 0;  ///< ImportOptions::root_folder_id
  /// Every author folder (clean absolute path) to its author, to refuse another's folder.
  const std::map<std::string, RowId>* author_folders = nullptr;
  std::string_view naming = kDefaultNaming;
  /// This file's part of its book in this import (`assign_parts`); 0: the book's only file.
  int part_number = 0;
  int part_count = 0;
};

struct Plan {
  std::filesystem::path destination;    ///< empty when it cannot be known
  std::filesystem::path author_folder;  ///< the author's folder, existing or to be made
  bool new_author_folder = false;       ///< the author has no folder: set it to author_folder
  bool in_library = false;              ///< the source lies under a root folder: always moved
  std::vector<ImportRejection> rejections;
};

/// Where the file goes and why it may not (see book_import.hpp). `already_imported` is decided
/// here only when the source is its own destination and already recorded as the book; a file
/// at the destination is the caller's to compare.
Plan plan_import(const PlanInput& in);

/// The naming tokens' values for a book.
NamingValues naming_values(const Identity& identity);

/// One file of an import, as `assign_parts` sees it.
struct PartFile {
  RowId book_id = 0;  ///< 0: no book identified
  bool audio = false;
  std::optional<int> track;  ///< the file's track tag
  std::optional<int> disc;
  std::string path;  ///< the order of last resort
};
struct Part {
  int number = 0;  ///< 0: not a part (a book's only audio file in the import, or not audio)
  int count = 0;
};
/// The part numbers of the audio files of one import, one per file in `files`' order: a book
/// that gets two or more audio files numbers them, so that `{PartNumber}` keeps their names
/// apart. The numbers are the track tags when every file of the book has one and they differ;
/// else the ranks by (disc, track) when every file has both and those pairs differ; else the
/// ranks by path. The count is the number of the book's files, or the highest number if that
/// is more. Ebooks and files without a book get no part.
std::vector<Part> assign_parts(const std::vector<PartFile>& files);

/// How an import mode transfers: see book_import.hpp. `default_mode` is not automatic.
TransferMode transfer_mode(ImportMode mode, bool has_download_client, ImportMode default_mode,
                           bool in_library);

/// A path as the catalog stores it: lexically normal, no trailing separator.
std::string clean_path(const std::filesystem::path& p);
/// True when `path` is `folder` or lies under it (whole components).
bool is_under(const std::string& path, const std::string& folder);

}  // namespace shelfjobs::import

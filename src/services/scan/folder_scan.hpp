// SPDX-License-Identifier: MIT
#pragma once
// One RescanFolders run over one folder of one root folder: the walk, the comparison with the
// catalog's rows of each author folder, the reads, the matches and the batched writes.

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "services/scan/match.hpp"
#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/engine/context.hpp"
#include "shelfjobs/services/library_scan.hpp"

namespace shelfjobs::scan {

/// The catalog's books for matching, read the first time a file needs a match: a rescan that
/// finds nothing new or changed never reads them. Used on the scan's thread only.
class LazyBookIndex {
 public:
  explicit LazyBookIndex(Catalog& catalog) : catalog_(catalog) {}
  /// Throws JobError(database) when the catalog cannot be read.
  const BookIndex& get();

 private:
  Catalog& catalog_;
  std::optional<BookIndex> index_;
};

/// What a run shares across its folders.
struct RunState {
  Catalog& catalog;
  LazyBookIndex& index;
  /// The catalog's authors with a folder, by folder (in catalog_path form).
  struct FolderAuthor {
    RowId id = 0;
    std::string name;
  };
  const std::map<std::string, FolderAuthor>& author_folders;
  spdlog::logger& log;
  JobContext* ctx = nullptr;
  ScanFilter filter = ScanFilter::known;
  const ScanOptions& options;
  ScanSummary& summary;
  /// Author folders in the whole run (for "k of N") and those begun so far.
  std::int64_t folders_total = 0;
  std::int64_t folders_done = 0;
  std::function<void(const BookFileDeleted&)> deleted;
  std::function<void(const BookFileAdded&)> added;
};

/// Scans `scope`: `root` itself or a folder under it. A missing scope under a present root
/// removes the rows under it (its files are gone); the caller has checked the root.
/// Errors: cancelled (what was written stays), store_error, unavailable (the scope cannot be
/// read: nothing removed).
Status scan_folder(RunState& run, const std::filesystem::path& root, const std::filesystem::path& scope);

/// A root folder that holds a Calibre library (metadata.db): its books and files are read from
/// the database instead of tags, which Calibre's data overrides as Readarr does.
Status scan_calibre(RunState& run, const std::filesystem::path& root);

}  // namespace shelfjobs::scan

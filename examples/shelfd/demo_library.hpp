// SPDX-License-Identifier: MIT
#pragma once
// The demo's library on disk: real book files (book_samples) for the books the catalog holds
// after the demo's authors were refreshed, laid out as a user's library would be, with a few
// files the scan cannot place, and a finished download waiting to be imported.

#include <filesystem>

#include "shelfjobs/catalog/catalog.hpp"

namespace shelfd {

struct DemoLibrary {
  std::filesystem::path download;  ///< a finished download (a folder with one book) to import
  int matched = 0;                 ///< files written that a scan links to a book
  int unmapped = 0;                ///< files written that a scan records as unmapped
  /// A monitored book left without a file: the demo's indexer offers releases of it.
  shelfjobs::Author wanted_author;
  shelfjobs::Book wanted_book;
};

/// Writes, for each author of `catalog` (in id order) whose folder lies under `ebooks`, two of
/// its books in an ebook format (EPUB, MOBI, AZW3, PDF, KEPUB in turn) at the default naming's
/// place; one M4B audiobook under `audiobooks`; an EPUB by an author the catalog does not know
/// and a damaged EPUB (both unmapped); a Synology thumbnail folder the scan skips; and, under
/// `downloads`, an EPUB of a book that has no file yet. The first author's third book is left
/// without a file (`wanted_book`). Errors: the catalog cannot be read, or it
/// holds fewer than three authors with three books each (the demo's authors were not refreshed).
/// Throws std::runtime_error when a file cannot be written.
shelfjobs::Result<DemoLibrary> lay_out_demo_library(shelfjobs::Catalog& catalog,
                                                    const std::filesystem::path& ebooks,
                                                    const std::filesystem::path& audiobooks,
                                                    const std::filesystem::path& downloads);

}  // namespace shelfd

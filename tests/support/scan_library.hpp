// SPDX-License-Identifier: MIT
#pragma once
// A library for the scan tests: a real SQLite catalog in a temp folder with one root folder, two
// authors (Ann Leckie: Ancillary Justice with its ISBN, Ancillary Sword, Ancillary Mercy; Ada
// Palmer: Too Like the Lightning), the scan service on an event bus whose BookFileAdded and
// BookFileDeleted it records, and helpers to scan and read rows.

#include <algorithm>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "shelfjobs/services/library_scan.hpp"
#include "test_support.hpp"

namespace testing {

using namespace shelfjobs;

struct ScanLibrary {
  TempDir dir;
  std::filesystem::path root;
  std::shared_ptr<Catalog> catalog;
  std::shared_ptr<EventBus> bus = std::make_shared<EventBus>(quiet_logger());
  std::shared_ptr<LibraryScanService> scan;
  std::vector<BookFileDeleted> deleted;
  std::vector<BookFileAdded> added;
  RowId leckie = 0, justice = 0, sword = 0, mercy = 0, palmer = 0, lightning = 0;

  explicit ScanLibrary(int batch = 3, const std::string& root_name = "books", int reader_threads = 2)
      : root(dir.path() / root_name) {
    std::filesystem::create_directories(root);
    catalog = open_sqlite_catalog({dir.path() / "catalog.db"}).value();
    REQUIRE(catalog->add_root_folder(root));
    leckie = add_author("a1", "Ann Leckie");
    justice = add_book(leckie, "w1", "Ancillary Justice", "9780316246620");
    sword = add_book(leckie, "w2", "Ancillary Sword");
    mercy = add_book(leckie, "w5", "Ancillary Mercy");
    palmer = add_author("a2", "Ada Palmer");
    lightning = add_book(palmer, "w3", "Too Like the Lightning");
    bus->subscribe<BookFileDeleted>([this](const BookFileDeleted& e) { deleted.push_back(e); });
    bus->subscribe<BookFileAdded>([this](const BookFileAdded& e) { added.push_back(e); });
    scan = LibraryScanService::create({.catalog = catalog,
                                       .events = bus,
                                       .logger = quiet_logger(),
                                       .reader_threads = reader_threads,
                                       .batch = batch})
               .value();
  }

  RowId add_author(const std::string& fid, const std::string& name) {
    Author a;
    a.foreign_id = fid;
    a.name = name;
    a.path = root / name;
    return catalog->add_author(a).value().id;
  }
  RowId add_book(RowId author, const std::string& fid, const std::string& title,
                 const std::string& isbn = "") {
    BookWrite w;
    w.book.author_id = author;
    w.book.foreign_id = fid;
    w.book.title = title;
    if (!isbn.empty()) {
      Edition e;
      e.foreign_id = fid + "-e";
      e.isbn13 = isbn;
      w.editions.push_back(e);
    }
    return catalog->add_book(w).value().id;
  }

  ScanSummary rescan(RescanFolders c = {}) {
    auto r = scan->rescan(c);
    if (!r) FAIL(r.error().message);
    return *r;
  }
  BookFile row(const std::filesystem::path& p) {
    auto f = catalog->file_by_path(p);
    if (!f) FAIL("no row for " << p << ": " << f.error().message);
    return *f;
  }
  bool has_row(const std::filesystem::path& p) { return catalog->file_by_path(p).has_value(); }
  std::int64_t rows() { return catalog->counts().value().files; }
  std::set<std::string> row_paths() {
    std::set<std::string> out;
    REQUIRE(catalog->for_each_file_under(root, [&](const BookFile& f) { out.insert(f.path.string()); }));
    return out;
  }
  bool deleted_path(const std::filesystem::path& p) const {
    return std::any_of(deleted.begin(), deleted.end(),
                       [&](const BookFileDeleted& e) { return e.file.path == p; });
  }
};

}  // namespace testing

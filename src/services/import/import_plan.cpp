// SPDX-License-Identifier: MIT
// Where an imported file goes, and why it may not: pure rules, in the order a person reads
// them (is it a book, is it there, can it be read, whose is it, where would it go).
//
// Rejections are collected rather than stopping at the first, so the manual-import list shows
// everything that stands in the way (an unreadable file named after an unknown author says
// both). The ones that make the rest meaningless (not a book, missing) end the list.

#include "services/import/import_plan.hpp"

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>

#include "shelfjobs/adapters/library_walk.hpp"

namespace shelfjobs::import {

namespace fs = std::filesystem;

std::string clean_path(const fs::path& p) { return catalog_path(p); }

bool is_under(const std::string& path, const std::string& folder) { return path_is_under(path, folder); }

NamingValues naming_values(const Identity& id) {
  NamingValues v;
  if (id.author) {
    v.author_name = id.author->name;
    v.author_sort_name = id.author->sort_name;
  }
  if (id.book) {
    v.book_title = id.book->title;
    if (id.book->release_date)
      v.release_year = static_cast<int>(std::chrono::year_month_day(*id.book->release_date).year());
  }
  if (id.edition && id.edition->release_date)
    v.edition_year = static_cast<int>(std::chrono::year_month_day(*id.edition->release_date).year());
  v.series_title = id.series_title;
  v.series_position = id.series_position;
  return v;
}

std::vector<Part> assign_parts(const std::vector<PartFile>& files) {
  std::vector<Part> out(files.size());
  std::map<RowId, std::vector<std::size_t>> by_book;
  for (std::size_t i = 0; i < files.size(); ++i)
    if (files[i].audio && files[i].book_id != 0) by_book[files[i].book_id].push_back(i);
  for (auto& [book, idx] : by_book) {
    if (idx.size() < 2) continue;
    auto distinct = [&](auto key) {
      std::set<decltype(key(files[idx.front()]))> seen;
      for (std::size_t i : idx)
        if (!seen.insert(key(files[i])).second) return false;
      return true;
    };
    const bool tracks = std::all_of(idx.begin(), idx.end(),
                                    [&](std::size_t i) { return files[i].track && *files[i].track > 0; });
    const bool discs = tracks && std::all_of(idx.begin(), idx.end(), [&](std::size_t i) {
                         return files[i].disc && *files[i].disc > 0;
                       });
    int highest = 0;
    if (tracks && distinct([](const PartFile& f) { return *f.track; })) {
      for (std::size_t i : idx) out[i].number = *files[i].track;
    } else {
      // Ranks: by (disc, track) when those tell every file apart, else by path.
      const bool by_disc = discs && distinct([](const PartFile& f) { return std::pair(*f.disc, *f.track); });
      std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
        if (by_disc)
          return std::pair(*files[a].disc, *files[a].track) < std::pair(*files[b].disc, *files[b].track);
        return files[a].path < files[b].path;
      });
      for (std::size_t k = 0; k < idx.size(); ++k) out[idx[k]].number = static_cast<int>(k) + 1;
    }
    for (std::size_t i : idx) highest = std::max(highest, out[i].number);
    const int count = std::max(static_cast<int>(idx.size()), highest);
    for (std::size_t i : idx) out[i].count = count;
  }
  return out;
}

TransferMode transfer_mode(ImportMode mode, bool has_download_client, ImportMode default_mode,
                           bool in_library) {
  // A file of the library is moved into place: a copy would leave a second one behind, which
  // the next scan would record as unmapped again.
  if (in_library) return TransferMode::move;
  if (mode == ImportMode::automatic) {
    // A download client's files may still be seeding: they must stay where they are.
    if (has_download_client) return TransferMode::hardlink_or_copy;
    mode = default_mode == ImportMode::automatic ? ImportMode::move : default_mode;
  }
  switch (mode) {
    case ImportMode::move: return TransferMode::move;
    case ImportMode::copy: return TransferMode::copy;
    case ImportMode::hardlink: return TransferMode::hardlink_or_copy;
    case ImportMode::automatic: break;
  }
  return TransferMode::move;
}

namespace {

void reject(Plan& p, ImportRejection::Kind kind, std::string reason) {
  p.rejections.push_back({kind, std::move(reason)});
}

std::optional<RootFolder> root_by_id(const std::vector<RootFolder>& roots, RowId id) {
  if (id == 0) return std::nullopt;
  for (const auto& r : roots)
    if (r.id == id) return r;
  return std::nullopt;
}

}  // namespace

Plan plan_import(const PlanInput& in) {
  using K = ImportRejection::Kind;
  Plan p;
  const std::string source = clean_path(in.source);
  const std::string name = display_path(in.source.filename());
  for (const auto& r : in.roots)
    if (is_under(source, clean_path(r.path))) p.in_library = true;

  if (!in.is_book) {
    reject(p, K::not_a_book, name + " is not a book file (by its extension)");
    return p;
  }
  if (in.missing) {
    reject(p, K::missing, display_path(in.source) + " does not exist");
    return p;
  }
  if (!in.read_error.empty() && in.read_error_rejects)
    reject(p, K::unreadable, "cannot be read: " + in.read_error);

  const Identity& id = in.identity;
  if (!id.wrong_book.empty()) {
    reject(p, K::wrong_book, id.wrong_book);
    return p;
  }
  if (in.source_row && in.source_row->book_id != 0 && (!id.book || in.source_row->book_id != id.book->id)) {
    // A file the library already links to a book: relinking it is not an import.
    reject(p, K::already_in_library,
           "already in the library as the file of book " + std::to_string(in.source_row->book_id));
    return p;
  }
  if (!id.author) {
    reject(p, K::unknown_author,
           id.no_match_reason.empty() ? "no author of the library matches" : id.no_match_reason);
    return p;
  }
  if (!id.book) {
    reject(p, K::no_matching_book,
           id.no_match_reason.empty() ? "no book of '" + id.author->name + "' matches" : id.no_match_reason);
    return p;
  }

  NamingValues values = naming_values(id);
  values.part_number = in.part_number;
  values.part_count = in.part_count;
  auto rendered = render_book_path(in.naming, values, in.source.extension().string());
  if (!rendered) {
    reject(p, K::bad_naming, "the naming pattern does not render: " + rendered.error().message);
    return p;
  }
  // The pattern's first level is the author folder when it has more than one.
  std::vector<fs::path> levels(rendered->begin(), rendered->end());
  fs::path rest;
  for (std::size_t i = levels.size() > 1 ? 1 : 0; i < levels.size(); ++i) rest /= levels[i];

  const Author& author = *id.author;
  if (!author.path.empty()) {
    p.author_folder = fs::path(clean_path(author.path));
    // A folder whose root folder was removed: nothing scans or deletes there any more, so nothing
    // is put there either.
    const bool rooted = std::any_of(in.roots.begin(), in.roots.end(), [&](const RootFolder& r) {
      return path_is_under(clean_path(author.path), clean_path(r.path));
    });
    if (!rooted) {
      reject(p, K::no_root_folder,
             "the folder of author '" + author.name + "' (" + clean_path(author.path) +
                 ") is in no root folder: add its root folder again, or point the author at another folder");
      return p;
    }
  } else {
    auto root = root_by_id(in.roots, author.root_folder_id);
    if (!root) root = root_by_id(in.roots, in.default_root_id);
    if (!root && !in.roots.empty()) root = in.roots.front();
    if (!root) {
      reject(p, K::no_root_folder,
             "author '" + author.name + "' has no folder and the library has no root folder to make one in");
      return p;
    }
    const fs::path folder = levels.size() > 1 ? levels.front() : fs::path(safe_folder_name(author.name));
    p.author_folder = fs::path(clean_path(root->path / folder));
    p.new_author_folder = true;
    if (in.author_folders) {
      if (auto it = in.author_folders->find(p.author_folder.string());
          it != in.author_folders->end() && it->second != author.id) {
        reject(p, K::author_folder_taken,
               "the folder " + display_path(p.author_folder) + " for '" + author.name +
                   "' belongs to author " + std::to_string(it->second));
        return p;
      }
    }
  }
  p.destination = p.author_folder / rest;

  if (in.source_row && in.source_row->book_id != 0) {
    // Linked to this very book: at its place it is imported already; elsewhere, moving it would
    // be a rename of the library's files, which is not what an import is asked for.
    if (clean_path(p.destination) == source)
      reject(p, K::already_imported, "already imported: " + display_path(p.destination));
    else
      reject(p, K::already_in_library, "already in the library as the file of '" + id.book->title + "'");
  }
  return p;
}

}  // namespace shelfjobs::import

// SPDX-License-Identifier: MIT
// How a scan compares the disk with the catalog without holding either whole.
//
// The walk is depth-first, so each author folder (a folder right under the root) is walked in
// one stretch. When one begins, the catalog's rows under it are loaded into a map; each file
// the walk finds takes its row out of the map; when the folder ends, what is left in the map is
// gone from disk. Rows under author folders the walk never entered (a folder deleted whole)
// are found at the end by asking the catalog which folders under the root have rows. Nothing
// is removed under a folder the walk could not read, and nothing at all after a cancelled walk.
//
// New and changed files go to the read pool; the results are matched and written here, on the
// scan's thread, in batches.

#include "services/scan/folder_scan.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "services/scan/read_pool.hpp"
#include "shelfjobs/adapters/book_metadata.hpp"
#include "shelfjobs/adapters/calibre_library.hpp"
#include "shelfjobs/adapters/library_walk.hpp"

namespace shelfjobs::scan {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Readarr's "Known" rule: same size, and a modification time within a second (file systems
// and copies round it differently).
bool unchanged(const BookFile& known, std::uint64_t size, TimePoint mtime) {
  const auto delta = known.mtime > mtime ? known.mtime - mtime : mtime - known.mtime;
  return static_cast<std::uint64_t>(known.size) == size && delta <= 1s;
}

/// A scan's catalog writes, in batches; events go out once their batch committed.
class Writer {
 public:
  explicit Writer(RunState& run) : run_(run) {}

  /// `announce`: publish BookFileAdded once written (a file newly linked to a book).
  void upsert(BookFile f, bool announce) {
    batch_.upserts.push_back(std::move(f));
    announce_.push_back(announce);
    if (full()) flush();
  }
  void remove(const BookFile& f) {
    batch_.removals.push_back(f.id);
    if (full()) flush();
  }
  /// From now on, the id of every row written is appended to `ids`.
  void record_written_ids(std::vector<RowId>& ids) { written_ids_ = &ids; }
  /// Throws JobError(store) when the catalog refuses the batch.
  void flush() {
    if (batch_.upserts.empty() && batch_.removals.empty()) return;
    auto r = run_.catalog.apply_files(batch_);
    if (!r) throw JobError(ErrorKind::database, "library scan: " + r.error().message);
    for (std::size_t i = 0; i < r->upserted.size(); ++i) {
      if (written_ids_) written_ids_->push_back(r->upserted[i].id);
      if (announce_[i] && run_.added) run_.added(BookFileAdded{r->upserted[i]});
    }
    for (auto& gone : r->removed) {
      ++run_.summary.removed;
      if (run_.deleted) run_.deleted(BookFileDeleted{std::move(gone), "missing from disk"});
    }
    batch_ = {};
    announce_.clear();
  }

 private:
  bool full() const {
    return static_cast<int>(batch_.upserts.size() + batch_.removals.size()) >=
           std::max(1, run_.options.batch);
  }
  RunState& run_;
  FileBatch batch_;
  std::vector<bool> announce_;
  std::vector<RowId>* written_ids_ = nullptr;
};

/// Fills a row from what was learnt of the file and its match.
BookFile row_of(const fs::path& path, std::uint64_t size, TimePoint mtime, const FileFacts& facts,
                const Match& m, const std::optional<BookFile>& known) {
  BookFile row;
  if (known) {
    row.id = known->id;
    row.added = known->added;
  }
  row.path = path;
  row.size = static_cast<std::int64_t>(size);
  row.mtime = mtime;
  if (auto format = book_format_of(path)) row.format = std::string(to_string(*format));
  row.author_id = m.author_id;
  row.book_id = m.book_id;
  row.edition_id = m.edition_id;
  row.unmapped_reason = m.reason;
  row.title = facts.title;
  row.author = facts.authors.empty() ? std::string() : facts.authors.front();
  row.isbn13 = facts.isbn13;
  row.asin = facts.asin;
  return row;
}

class FolderScan final : public WalkVisitor {
 public:
  FolderScan(RunState& run, fs::path root, fs::path scope)
      : run_(run),
        root_(std::move(root)),
        scope_(std::move(scope)),
        root_key_(catalog_path(root_)),
        scope_key_(catalog_path(scope_)),
        whole_root_(root_key_ == scope_key_),
        writer_(run),
        pool_(run.options.reader_threads, run.options.max_files_per_second) {}

  Status run() {
    WalkOptions wo;
    if (!whole_root_) wo.only = fs::path(scope_key_).lexically_relative(root_key_);
    // No sidecar checks in the walk (two fstatat calls in every folder): sidecar_of asks only
    // for the folders of files that are read, so a rescan that finds nothing changed asks none.
    wo.sidecars = false;
    if (run_.ctx) wo.stop = run_.ctx->token();

    // The rows the walk will account for: in a whole-root scan the loose files of the root now
    // (author folders load as they begin); in a folder's scan, the whole folder.
    if (whole_root_) {
      load(root_key_, root_group_, /*loose_only=*/true);
    } else {
      load(scope_key_, group_, /*loose_only=*/false);
      group_key_ = scope_key_;
    }

    auto walked = walk_library(root_, *this, wo);
    const bool cancelled = !walked ? false : walked->end != WalkEnd::complete;
    pool_.finish([&](ReadResult& r) { take(r); }, cancelled);
    if (!walked) {
      writer_.flush();
      return walked.error();
    }
    if (cancelled) {
      writer_.flush();
      return Error{errc::cancelled,
                   "the library scan was cancelled; files it had not reached keep their rows"};
    }
    end_group();
    if (whole_root_) {
      for (auto& [key, row] : root_group_) drop(row);
      root_group_.clear();
      sweep_unvisited();
    }
    writer_.flush();
    return Ok{};
  }

  WalkControl folder(const WalkFolder& f) override {
    if (f.depth == 1 && whole_root_) {
      end_group();
      group_key_ = catalog_path(f.path);
      visited_.insert(group_key_);
      load(group_key_, group_, false);
      announce(f);
    } else if (!whole_root_ && catalog_path(f.path) == scope_key_) {
      announce(f);
    }
    pool_.drain([&](ReadResult& r) { take(r); });
    return WalkControl::proceed;
  }

  WalkControl file(const WalkFile& f) override {
    ++run_.summary.files;
    auto& group = (whole_root_ && f.depth == 0) ? root_group_ : group_;
    const std::string key = catalog_path(f.path);
    std::optional<BookFile> known;
    if (auto it = group.find(key); it != group.end()) {
      known = std::move(it->second);
      group.erase(it);
    }
    if (known && run_.filter != ScanFilter::all && unchanged(*known, f.size, f.mtime)) {
      if (run_.filter == ScanFilter::matched && known->book_id == 0) {
        rematch(*known, f);
      } else {
        ++run_.summary.unchanged;
        if (known->book_id == 0) ++run_.summary.unmapped;
        if (!known->read_error.empty()) ++run_.summary.unreadable;
      }
    } else {
      ReadTask task;
      task.path = f.path;
      task.size = f.size;
      task.mtime = f.mtime;
      task.sidecar = sidecar_of(f.path);
      task.known = std::move(known);
      pool_.submit(std::move(task));
    }
    pool_.drain([&](ReadResult& r) { take(r); });
    return WalkControl::proceed;
  }

  void problem(const WalkProblem& p) override {
    ++run_.summary.problems;
    problems_.push_back(catalog_path(p.path));
    run_.log.warn("library scan: {}; its files keep their rows", p.message);
  }

 private:
  // The rows under `folder`, or with `loose_only` the rows of the files lying in it (the
  // root's loose files: the catalog steps over the author folders' rows without reading them).
  void load(const std::string& folder, std::unordered_map<std::string, BookFile>& into, bool loose_only) {
    into.clear();
    auto keep = [&](const BookFile& row) { into.emplace(row.path.string(), row); };
    auto st = loose_only ? run_.catalog.for_each_file_in(folder, keep)
                         : run_.catalog.for_each_file_under(folder, keep);
    if (!st) throw JobError(ErrorKind::database, "library scan: " + st.error().message);
  }

  void announce(const WalkFolder& f) {
    ++run_.summary.folders;
    ++run_.folders_done;
    if (!run_.ctx) return;
    std::string name = f.relative.empty() ? f.display() : display_path(f.relative);
    const std::string key = catalog_path(f.path);
    if (auto it = run_.author_folders.find(key); it != run_.author_folders.end()) name = it->second.name;
    run_.ctx->report(run_.folders_done - 1, std::max(run_.folders_total, run_.folders_done),
                     "scanning " + name + " (" + std::to_string(run_.folders_done) + " of " +
                         std::to_string(std::max(run_.folders_total, run_.folders_done)) + " folders)");
  }

  bool protected_path(const std::string& key) const {
    return std::any_of(problems_.begin(), problems_.end(),
                       [&](const std::string& p) { return path_is_under(key, p); });
  }

  void drop(const BookFile& row) {
    if (protected_path(row.path.string())) return;
    writer_.remove(row);
  }

  void end_group() {
    // The pool may still hold reads of this group's files: they come back with their own row
    // (ReadTask::known), so what is left here is gone from disk.
    for (auto& [key, row] : group_) drop(row);
    group_.clear();
  }

  // The key of the author folder holding `key` (a clean path under the root), or "" for a
  // file that lies in the root itself or outside it. String work only: it is asked for every
  // file read, and taking paths apart (lexically_relative) costs more.
  std::string author_folder_of(const std::string& key) const {
    const std::size_t start = root_key_ == "/" ? 1 : root_key_.size() + 1;
    if (key.size() <= start || !path_is_under(key, root_key_)) return {};
    const auto slash = key.find('/', start);
    if (slash == std::string::npos) return {};  // loose in the root
    return key.substr(0, slash);
  }

  // Rows under author folders the walk never entered: the folder is gone (or was renamed).
  // The catalog names the folders that have rows (a seek each), so only the rows of the
  // folders gone are read, not every row of the root a second time.
  void sweep_unvisited() {
    auto folders = run_.catalog.folders_with_files_under(root_key_);
    if (!folders) throw JobError(ErrorKind::database, "library scan: " + folders.error().message);
    std::vector<BookFile> gone;
    for (const auto& folder : *folders) {
      if (visited_.count(folder)) continue;
      gone.clear();
      auto st = run_.catalog.for_each_file_under(folder, [&](const BookFile& row) { gone.push_back(row); });
      if (!st) throw JobError(ErrorKind::database, "library scan: " + st.error().message);
      for (const auto& row : gone) drop(row);
    }
  }

  RowId folder_author(const fs::path& path) const {
    const std::string folder = author_folder_of(catalog_path(path));
    if (folder.empty()) return 0;
    auto it = run_.author_folders.find(folder);
    return it == run_.author_folders.end() ? 0 : it->second.id;
  }

  // Calibre's metadata.opf beside `file`, or empty. One stat per folder (the last folder asked
  // is remembered: a folder's files come one after another), made only for the files read.
  fs::path sidecar_of(const fs::path& file) {
    fs::path folder = file.parent_path();
    if (folder.native() != sidecar_folder_.native()) {
      struct stat st {};
      has_sidecar_ = ::stat((folder / "metadata.opf").c_str(), &st) == 0 && S_ISREG(st.st_mode);
      sidecar_folder_ = std::move(folder);
    }
    return has_sidecar_ ? sidecar_folder_ / "metadata.opf" : fs::path();
  }

  void rematch(const BookFile& known, const WalkFile& f) {
    FileFacts facts = fill_from_path(facts_of(known), root_, f.path);
    const Match m = run_.index.get().match(facts, folder_author(f.path));
    BookFile row = row_of(f.path, f.size, f.mtime, facts, m, known);
    row.read_error = known.read_error;
    if (!known.read_error.empty()) ++run_.summary.unreadable;
    if (m.book_id == 0) {
      ++run_.summary.unmapped;
      ++run_.summary.unchanged;
      if (row.unmapped_reason == known.unmapped_reason && row.author_id == known.author_id) return;
    } else {
      ++run_.summary.changed;
    }
    writer_.upsert(std::move(row), m.book_id != 0);
  }

  void take(ReadResult& r) {
    const auto& known = r.task.known;
    FileFacts facts;
    std::string read_error;
    if (r.metadata) {
      facts = facts_of(*r.metadata);
    } else {
      read_error = r.metadata.error().message;
      ++run_.summary.unreadable;
      // What an earlier read found still holds better than nothing.
      if (known) facts = facts_of(*known);
      run_.log.warn("library scan: cannot read {}: {}", display_path(r.task.path), read_error);
    }
    if (r.sidecar && *r.sidecar) overlay(facts, **r.sidecar);
    facts = fill_from_path(std::move(facts), root_, r.task.path);
    const Match m = run_.index.get().match(facts, folder_author(r.task.path));
    BookFile row = row_of(r.task.path, r.task.size, r.task.mtime, facts, m, known);
    row.read_error = std::move(read_error);
    if (known)
      ++run_.summary.changed;
    else
      ++run_.summary.added;
    if (m.book_id == 0) ++run_.summary.unmapped;
    const bool newly_linked = m.book_id != 0 && (!known || known->book_id != m.book_id);
    writer_.upsert(std::move(row), newly_linked);
  }

  RunState& run_;
  fs::path root_, scope_;
  std::string root_key_, scope_key_;
  bool whole_root_;
  Writer writer_;
  ReadPool pool_;
  std::string group_key_;
  std::unordered_map<std::string, BookFile> group_, root_group_;
  std::set<std::string> visited_;
  std::vector<std::string> problems_;
  fs::path sidecar_folder_;
  bool has_sidecar_ = false;
};

// A folder is gone when a component of its path is missing, not when it lies behind a symlink
// that leads nowhere (a share that is not mounted) or that cannot be examined: that is a
// folder the scan cannot read, whose files keep their rows.
bool folder_is_gone(const fs::path& root, const fs::path& scope) {
  fs::path p(catalog_path(root));
  for (const auto& part : fs::path(catalog_path(scope)).lexically_relative(p)) {
    p /= part;
    std::error_code ec;
    const auto st = fs::symlink_status(p, ec);
    if (ec && ec != std::errc::no_such_file_or_directory) return false;
    if (!fs::exists(st)) return true;
    if (fs::is_symlink(st) && !fs::exists(fs::status(p, ec))) return false;
  }
  return false;
}

}  // namespace

const BookIndex& LazyBookIndex::get() {
  if (!index_) {
    BookIndex index;
    if (auto st = catalog_.for_each_book_identity([&](const BookIdentity& b) { index.add(b); }); !st)
      throw JobError(ErrorKind::database, "library scan: " + st.error().message);
    index_ = std::move(index);
  }
  return *index_;
}

Status scan_folder(RunState& run, const fs::path& root, const fs::path& scope) {
  if (catalog_path(scope) != catalog_path(root) && folder_is_gone(root, scope)) {
    // The folder is gone under a root that is there: its files are gone too.
    Writer writer(run);
    std::vector<BookFile> gone;
    auto st = run.catalog.for_each_file_under(scope, [&](const BookFile& row) { gone.push_back(row); });
    if (!st) return st.error();
    for (const auto& row : gone) writer.remove(row);
    writer.flush();
    run.log.info("library scan: {} is gone; {} file rows under it removed", display_path(scope), gone.size());
    return Ok{};
  }
  FolderScan scan(run, root, scope);
  return scan.run();
}

Status scan_calibre(RunState& run, const fs::path& root) {
  // Calibre lists its books in id order, which is not the order of their paths, so the rows
  // cannot be compared folder by folder as a walk's are. Each file's row is looked up by its
  // path instead (an index seek), and only the ids of the rows met are kept (8 bytes a file,
  // not the rows), to find at the end the rows Calibre no longer lists.
  auto lib = CalibreLibrary::open(root);
  if (!lib) return lib.error();
  Writer writer(run);
  const std::string root_key = catalog_path(root);
  std::vector<RowId> seen;  // the rows of files Calibre lists: met, or written by this scan
  writer.record_written_ids(seen);
  auto visited = lib->for_each_book(
      [&](CalibreBook& book) {
        FileFacts facts;
        facts.title = book.title;
        for (const auto& a : book.authors) facts.authors.push_back(a.name);
        if (auto isbn = parse_isbn(book.isbn())) facts.isbn13 = isbn->isbn13;
        facts.asin = book.asin();
        for (const auto& file : book.files) {
          if (!file.exists) continue;  // Calibre lists it, the disk does not have it
          ++run.summary.files;
          std::optional<BookFile> row;
          if (auto r = run.catalog.file_by_path(catalog_path(file.path)))
            row = std::move(*r);
          else if (r.error().code != errc::not_found)
            throw JobError(ErrorKind::database, "library scan: " + r.error().message);
          if (row) seen.push_back(row->id);
          std::error_code ec;
          const auto mtime_fs = fs::last_write_time(file.path, ec);
          const TimePoint mtime = ec ? TimePoint{}
                                     : std::chrono::time_point_cast<TimePoint::duration>(
                                           std::chrono::file_clock::to_sys(mtime_fs));
          if (row && run.filter != ScanFilter::all && unchanged(*row, file.size, mtime) &&
              (run.filter == ScanFilter::known || row->book_id != 0)) {
            ++run.summary.unchanged;
            if (row->book_id == 0) ++run.summary.unmapped;
            continue;
          }
          const Match m = run.index.get().match(facts, 0);
          BookFile out = row_of(file.path, file.size, mtime, facts, m, row);
          row ? ++run.summary.changed : ++run.summary.added;
          if (m.book_id == 0) ++run.summary.unmapped;
          writer.upsert(std::move(out), m.book_id != 0 && (!row || row->book_id != m.book_id));
        }
        return true;
      },
      run.ctx ? run.ctx->token() : std::stop_token{});
  if (!visited) return visited.error();
  if (!visited->complete) {
    writer.flush();
    return Error{errc::cancelled, "the library scan was cancelled; files it had not reached keep their rows"};
  }
  writer.flush();  // every row of this scan written, and its id in `seen`
  // Rows of files Calibre no longer lists, or that are gone from disk: collected first (the
  // catalog is not called while it lists), then removed.
  std::sort(seen.begin(), seen.end());
  std::vector<BookFile> gone;
  auto st = run.catalog.for_each_file_under(root_key, [&](const BookFile& row) {
    if (!std::binary_search(seen.begin(), seen.end(), row.id)) gone.push_back(row);
  });
  if (!st) return st.error();
  for (const auto& row : gone) writer.remove(row);
  writer.flush();
  return Ok{};
}

}  // namespace shelfjobs::scan

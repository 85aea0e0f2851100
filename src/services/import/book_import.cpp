// SPDX-License-Identifier: MIT
// The import service: DownloadedBooksScan, ManualImport and the manual-import candidates.
//
// Why it is shaped this way:
//   - Every file is identified (read and matched) before the first is moved, so that the audio
//     files of one book know their part numbers before the first of them is named; but each is
//     planned (its destination and rejections) right before it is imported: an author whose
//     folder the first file made has it for the second, and a long list never holds stale
//     plans.
//   - A move that empties a download folder removes it (rmdir only, never a root or author
//     folder, never outside the path the command named), as Readarr does.
//   - Transfer first, record after. The transfer adapter puts a file under its final name only
//     when it is whole (a copy through `.partial~`, a rename that never replaces), so a crash
//     at any point leaves either no file or a whole one, and never a row without its file. The
//     opposite order would record files that are not there.
//   - When the catalog refuses the row after the transfer, nothing is undone: the file is where
//     it belongs and the next library scan records it; undoing a move could fail in its turn
//     and lose the file, and the source of a copy is never touched anyway. The outcome says
//     where the file is.
//   - An unmapped file already in the library is re-pointed with one `apply_files` call (the row
//     at its new path and the removal of the old row): there is no window in which the catalog
//     has both or neither.
//   - Errors stay values down here; only the handlers turn a whole-job failure into JobError.

#include "shelfjobs/services/book_import.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <system_error>
#include <unordered_map>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "services/import/import_plan.hpp"
#include "services/scan/match.hpp"
#include "shelfjobs/adapters/book_metadata.hpp"
#include "shelfjobs/adapters/library_walk.hpp"

namespace shelfjobs {

namespace fs = std::filesystem;
using import::clean_path;
using import::is_under;

// ---- names and JSON ---------------------------------------------------------------------------

const char* to_string(ImportMode mode) noexcept {
  switch (mode) {
    case ImportMode::automatic: return "auto";
    case ImportMode::move: return "move";
    case ImportMode::copy: return "copy";
    case ImportMode::hardlink: return "hardlink";
  }
  return "auto";
}

const char* to_string(ImportRejection::Kind kind) noexcept {
  using K = ImportRejection::Kind;
  switch (kind) {
    case K::not_a_book: return "not_a_book";
    case K::missing: return "missing";
    case K::unreadable: return "unreadable";
    case K::unknown_author: return "unknown_author";
    case K::no_matching_book: return "no_matching_book";
    case K::wrong_book: return "wrong_book";
    case K::already_in_library: return "already_in_library";
    case K::no_root_folder: return "no_root_folder";
    case K::author_folder_taken: return "author_folder_taken";
    case K::bad_naming: return "bad_naming";
    case K::destination_exists: return "destination_exists";
    case K::already_imported: return "already_imported";
  }
  return "not_a_book";
}

const char* to_string(ImportOutcome::Result result) noexcept {
  switch (result) {
    case ImportOutcome::Result::imported: return "imported";
    case ImportOutcome::Result::skipped: return "skipped";
    case ImportOutcome::Result::rejected: return "rejected";
    case ImportOutcome::Result::failed: return "failed";
  }
  return "rejected";
}

namespace {

ImportMode mode_from_json(const nlohmann::json& j) {
  if (j.is_null()) return ImportMode::automatic;
  if (j.is_number_integer()) {
    // Readarr's ImportMode: Auto = 0, Move = 1, Copy = 2.
    switch (j.get<int>()) {
      case 0: return ImportMode::automatic;
      case 1: return ImportMode::move;
      case 2: return ImportMode::copy;
      default:
        throw std::invalid_argument("importMode: " + j.dump() + " is not 0 (auto), 1 (move) or 2 (copy)");
    }
  }
  if (!j.is_string()) throw std::invalid_argument("importMode: expected a string such as \"move\"");
  std::string s = j.get<std::string>();
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (s == "auto" || s == "automatic") return ImportMode::automatic;
  if (s == "move") return ImportMode::move;
  if (s == "copy") return ImportMode::copy;
  if (s == "hardlink") return ImportMode::hardlink;
  throw std::invalid_argument("importMode: \"" + j.get<std::string>() +
                              "\" is not auto, move, copy or hardlink");
}

RowId id_or_zero(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? 0 : it->get<RowId>();
}

}  // namespace

void to_json(nlohmann::json& j, const DownloadedBooksScan& c) {
  j = {{"path", c.path}, {"importMode", to_string(c.importMode)}};
  if (c.downloadClientId) j["downloadClientId"] = *c.downloadClientId;
}

void from_json(const nlohmann::json& j, DownloadedBooksScan& c) {
  c = DownloadedBooksScan{};
  j.at("path").get_to(c.path);
  if (auto it = j.find("importMode"); it != j.end()) c.importMode = mode_from_json(*it);
  if (auto it = j.find("downloadClientId"); it != j.end() && !it->is_null()) {
    // Readarr sends the download's id as text; a number is taken as its text.
    c.downloadClientId = it->is_string() ? it->get<std::string>() : it->dump();
  }
}

void to_json(nlohmann::json& j, const ManualImportFile& f) {
  j = {{"path", f.path}, {"authorId", f.authorId}, {"bookId", f.bookId}};
  if (f.editionId) j["editionId"] = *f.editionId;
  if (!f.foreignEditionId.empty()) j["foreignEditionId"] = f.foreignEditionId;
}

void from_json(const nlohmann::json& j, ManualImportFile& f) {
  f = ManualImportFile{};
  j.at("path").get_to(f.path);
  f.authorId = id_or_zero(j, "authorId");
  f.bookId = id_or_zero(j, "bookId");
  if (auto it = j.find("editionId"); it != j.end() && !it->is_null() && it->get<RowId>() != 0)
    f.editionId = it->get<RowId>();
  // Readarr's clients name the edition by its foreign id, as text (a number is taken as its text).
  if (auto it = j.find("foreignEditionId"); it != j.end() && !it->is_null())
    f.foreignEditionId = it->is_string() ? it->get<std::string>() : it->dump();
}

void to_json(nlohmann::json& j, const ManualImport& c) {
  j = {{"files", c.files}, {"importMode", to_string(c.importMode)}};
}

void from_json(const nlohmann::json& j, ManualImport& c) {
  c = ManualImport{};
  j.at("files").get_to(c.files);
  if (auto it = j.find("importMode"); it != j.end()) c.importMode = mode_from_json(*it);
}

bool ImportCandidate::already_imported() const {
  return rejections.size() == 1 && rejections.front().kind == ImportRejection::Kind::already_imported;
}

void to_json(nlohmann::json& j, const ImportRejection& r) {
  // Readarr's rejection resource is {reason, type} with type "permanent" or "temporary" (an enum
  // its clients parse); which rejection it is goes in a field of its own.
  j = {{"reason", r.reason}, {"type", "permanent"}, {"kind", to_string(r.kind)}};
}

void to_json(nlohmann::json& j, const ImportCandidate& c) {
  j = {{"path", display_path(c.path)},
       {"name", display_path(c.path.filename())},
       {"size", c.size},
       {"format", c.format},
       {"title", c.title},
       {"authors", c.authors},
       {"isbn13", c.isbn13},
       {"asin", c.asin},
       {"readError", c.read_error},
       {"matchedBy", c.matched_by},
       {"authorId", c.author_id},
       {"bookId", c.book_id},
       {"editionId", c.edition_id},
       {"authorName", c.author_name},
       {"bookTitle", c.book_title},
       {"destination", c.destination.empty() ? std::string() : display_path(c.destination)},
       {"newAuthorFolder", c.new_author_folder},
       {"rejections", c.rejections}};
}

std::string ImportSummary::message() const {
  std::string m = "Imported " + std::to_string(imported) + " of " + std::to_string(files) + " files";
  if (skipped > 0) m += ", " + std::to_string(skipped) + " skipped (already imported)";
  auto list = [&](ImportOutcome::Result which, std::int64_t n, const char* word) {
    if (n == 0) return;
    m += ", " + std::to_string(n) + " " + word + " (";
    bool first = true;
    for (const auto& o : outcomes) {
      if (o.result != which) continue;
      if (!first) m += "; ";
      first = false;
      m += display_path(o.source.filename()) + ": ";
      if (which == ImportOutcome::Result::failed) {
        m += o.error;
      } else {
        for (std::size_t i = 0; i < o.rejections.size(); ++i) m += (i ? ", " : "") + o.rejections[i].reason;
      }
    }
    m += ")";
  };
  list(ImportOutcome::Result::rejected, rejected, "rejected");
  list(ImportOutcome::Result::failed, failed, "failed");
  return m;
}

void to_json(nlohmann::json& j, const BookImported& e) {
  j = {{"bookFileId", e.file.id},
       {"authorId", e.file.author_id},
       {"bookId", e.file.book_id},
       {"path", display_path(e.file.path)},
       {"sourcePath", display_path(e.source)},
       {"action", std::string(to_string(e.action))}};
}

void to_json(nlohmann::json& j, const ImportSummary& s) {
  nlohmann::json outcomes = nlohmann::json::array();
  for (const auto& o : s.outcomes) {
    nlohmann::json x = {{"result", to_string(o.result)},
                        {"source", display_path(o.source)},
                        {"destination", o.destination.empty() ? std::string() : display_path(o.destination)},
                        {"rejections", o.rejections}};
    if (o.action) x["action"] = std::string(to_string(*o.action));
    if (o.file.id != 0) x["bookFileId"] = o.file.id;
    if (!o.error.empty()) x["error"] = o.error;
    outcomes.push_back(std::move(x));
  }
  nlohmann::json removed = nlohmann::json::array();
  for (const auto& f : s.removed_folders) removed.push_back(display_path(f));
  j = {{"files", s.files},
       {"imported", s.imported},
       {"skipped", s.skipped},
       {"rejected", s.rejected},
       {"failed", s.failed},
       {"message", s.message()},
       {"outcomes", std::move(outcomes)},
       {"removedFolders", std::move(removed)}};
}

// ---- the service ------------------------------------------------------------------------------

namespace {

// The same file: one inode, or the same size and the same bytes (a copy made earlier).
Result<bool> same_file(const fs::path& a, const fs::path& b) {
  struct stat sa {};
  struct stat sb {};
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0)
    return Error{errc::unavailable, "cannot compare " + display_path(a) + " with " + display_path(b)};
  if (sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino) return true;
  if (!S_ISREG(sa.st_mode) || !S_ISREG(sb.st_mode) || sa.st_size != sb.st_size) return false;
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  if (!fa || !fb)
    return Error{errc::unavailable, "cannot read " + display_path(a) + " or " + display_path(b)};
  std::vector<char> ba(1 << 16), bb(1 << 16);
  while (fa && fb) {
    fa.read(ba.data(), static_cast<std::streamsize>(ba.size()));
    fb.read(bb.data(), static_cast<std::streamsize>(bb.size()));
    if (fa.gcount() != fb.gcount() || !std::equal(ba.begin(), ba.begin() + fa.gcount(), bb.begin()))
      return false;
  }
  return true;
}

TimePoint mtime_of(const fs::path& p) {
  std::error_code ec;
  const auto t = fs::last_write_time(p, ec);
  if (ec) return TimePoint{};
  return std::chrono::time_point_cast<TimePoint::duration>(std::chrono::file_clock::to_sys(t));
}

// Collects the book files of a walk (a download folder: small), and its problems.
class Collect final : public WalkVisitor {
 public:
  explicit Collect(spdlog::logger& log) : log_(log) {}
  WalkControl file(const WalkFile& f) override {
    files.push_back(f.path);
    return WalkControl::proceed;
  }
  void problem(const WalkProblem& p) override { log_.warn("import: {}; skipped", p.message); }
  std::vector<fs::path> files;

 private:
  spdlog::logger& log_;
};

ErrorKind job_kind(errc code) {
  switch (code) {
    case errc::cancelled: return ErrorKind::cancelled;
    case errc::store_error: return ErrorKind::database;
    case errc::unavailable:
    case errc::shutting_down: return ErrorKind::filesystem;
    default: return ErrorKind::permanent;
  }
}

}  // namespace

struct ImportService::Impl {
  ImportOptions o;
  std::shared_ptr<spdlog::logger> log;

  // What one run reads of the catalog once: the roots, the authors and their folders, and the
  // matching index. Updated as the run makes author folders.
  struct Run {
    std::vector<RootFolder> roots;
    std::map<RowId, Author> authors;
    std::map<std::string, RowId> author_folders;
    scan::BookIndex index;
  };

  // One file, examined: its candidate (for people), its plan and what the import needs.
  struct Examined {
    ImportCandidate candidate;
    import::PlanInput input;  // what the plan is made from (identify), less the identity
    import::Plan plan;
    import::Identity identity;
    scan::FileFacts facts;
    std::optional<BookFile> source_row;
    bool audio = false;
    std::optional<int> track, disc;  // an audio file's tags: its part of a book in several files
  };

  Result<Run> load_run() {
    Run run;
    auto roots = o.catalog->root_folders();
    if (!roots) return roots.error();
    run.roots = std::move(*roots);
    auto authors = o.catalog->authors();
    if (!authors) return authors.error();
    for (auto& a : *authors) {
      if (!a.path.empty()) run.author_folders.emplace(clean_path(a.path), a.id);
      const RowId id = a.id;
      run.authors.emplace(id, std::move(a));
    }
    if (auto st = o.catalog->for_each_book_identity([&](const BookIdentity& b) { run.index.add(b); }); !st)
      return st.error();
    return run;
  }

  std::optional<RootFolder> root_of(const Run& run, const std::string& path) const {
    std::optional<RootFolder> best;
    for (const auto& r : run.roots)
      if (is_under(path, clean_path(r.path)) &&
          (!best || r.path.string().size() > best->path.string().size()))
        best = r;
    return best;
  }

  // The author, book, edition and series a file goes with. Errors: store_error only; what
  // does not fit is a rejection reason inside the identity.
  Result<import::Identity> identify(Run& run, const scan::FileFacts& facts, RowId folder_author,
                                    const ManualImportFile* manual) {
    import::Identity id;
    RowId edition_id = 0;
    std::string_view foreign_edition;
    if (manual && manual->bookId != 0) {
      auto book = o.catalog->book(manual->bookId);
      if (!book) {
        if (book.error().code != errc::not_found) return book.error();
        id.wrong_book = "book " + std::to_string(manual->bookId) + " is not in the library";
        return id;
      }
      if (manual->authorId != 0 && manual->authorId != book->author_id) {
        id.wrong_book = "book '" + book->title + "' is not by author " + std::to_string(manual->authorId);
        return id;
      }
      id.book = std::move(*book);
      id.matched_by = "manual";
      if (manual->editionId)
        edition_id = *manual->editionId;
      else
        foreign_edition = manual->foreignEditionId;
    } else {
      const RowId hint = manual && manual->authorId != 0 ? manual->authorId : folder_author;
      const scan::Match m = run.index.match(facts, hint);
      id.matched_by = scan::to_string(m.by);
      id.no_match_reason = m.reason;
      if (m.author_id != 0) {
        if (auto it = run.authors.find(m.author_id); it != run.authors.end()) id.author = it->second;
      }
      if (m.book_id != 0) {
        auto book = o.catalog->book(m.book_id);
        if (!book) return book.error();
        id.book = std::move(*book);
      }
      edition_id = m.edition_id;
    }
    if (!id.book) return id;
    if (auto it = run.authors.find(id.book->author_id); it != run.authors.end()) {
      id.author = it->second;
    } else {
      auto a = o.catalog->author(id.book->author_id);
      if (!a) return a.error();
      id.author = *a;
      run.authors.emplace(a->id, *a);
    }
    auto editions = o.catalog->editions_of(id.book->id);
    if (!editions) return editions.error();
    for (const auto& e : *editions) {
      if (edition_id != 0            ? e.id == edition_id
          : !foreign_edition.empty() ? e.foreign_id == foreign_edition
                                     : e.monitored)
        id.edition = e;
    }
    if ((edition_id != 0 || !foreign_edition.empty()) && !id.edition) {
      id.wrong_book = "edition " +
                      (edition_id != 0 ? std::to_string(edition_id) : std::string(foreign_edition)) +
                      " is not an edition of '" + id.book->title + "'";
      return id;
    }
    auto links = o.catalog->series_links_of(id.book->id);
    if (!links) return links.error();
    const SeriesLink* pick = nullptr;
    for (const auto& l : *links)
      if (!pick || (l.primary && !pick->primary)) pick = &l;
    if (pick) {
      if (auto s = o.catalog->series(pick->series_id)) {
        id.series_title = s->title;
        id.series_position = pick->position;
      }
    }
    return id;
  }

  // Reads and matches one file; changes nothing. `plan` then says where it goes. Errors:
  // store_error.
  Result<Examined> identify_file(Run& run, const fs::path& path_in, const ManualImportFile* manual) {
    Examined ex;
    const fs::path path(clean_path(path_in));
    ImportCandidate& c = ex.candidate;
    c.path = path;
    const auto format = book_format_of(path);
    if (format) c.format = std::string(to_string(*format));

    import::PlanInput& in = ex.input;
    in.source = path;
    in.roots = run.roots;
    in.default_root_id = o.root_folder_id;
    in.author_folders = &run.author_folders;
    in.naming = o.naming;
    in.is_book = format.has_value();

    std::error_code ec;
    const auto st = fs::status(path, ec);
    in.missing = !fs::exists(st) || !fs::is_regular_file(st);
    if (!in.missing) c.size = static_cast<std::int64_t>(fs::file_size(path, ec));

    if (in.is_book && !in.missing) {
      scan::FileFacts facts;
      auto meta = read_book_metadata(path);
      if (meta) {
        facts = scan::facts_of(*meta);
        ex.track = meta->track;
        ex.disc = meta->disc;
      } else if (meta.error().code == errc::not_found) {
        in.missing = true;
      } else {
        c.read_error = meta.error().message;
      }
      const fs::path sidecar = path.parent_path() / "metadata.opf";
      if (fs::is_regular_file(sidecar, ec)) {
        if (auto side = read_opf(sidecar)) scan::overlay(facts, *side);
      }
      // In the library, the author folder names the author; a download folder says nothing
      // of the author, so only the file's own name is used.
      const auto root = root_of(run, path.string());
      RowId folder_author = 0;
      fs::path fill_root = path.parent_path();
      if (root) {
        fill_root = root->path;
        const auto rel = path.lexically_relative(clean_path(root->path));
        if (std::distance(rel.begin(), rel.end()) >= 2) {
          if (auto it = run.author_folders.find(clean_path(fs::path(clean_path(root->path)) / *rel.begin()));
              it != run.author_folders.end())
            folder_author = it->second;
        }
      }
      ex.facts = scan::fill_from_path(std::move(facts), fill_root, path);
      c.title = ex.facts.title;
      c.authors = ex.facts.authors;
      c.isbn13 = ex.facts.isbn13;
      c.asin = ex.facts.asin;

      auto row = o.catalog->file_by_path(path);
      if (row) {
        ex.source_row = std::move(*row);
      } else if (row.error().code != errc::not_found) {
        return row.error();
      }
      auto id = identify(run, ex.facts, folder_author, manual);
      if (!id) return id.error();
      ex.identity = std::move(*id);
    }
    in.read_error = c.read_error;
    in.read_error_rejects = !(manual && manual->bookId != 0);
    in.source_row = ex.source_row;
    ex.audio = format && kind_of(*format) == BookKind::audio;
    return ex;
  }

  // Where an identified file goes and why it may not, as of now (an author folder made by an
  // earlier file of the run counts), as `part` of its book. Changes nothing.
  void plan(const Run& run, Examined& ex, import::Part part) {
    import::PlanInput& in = ex.input;
    // The author as the run knows it now: an earlier file may have given it its folder.
    if (ex.identity.author)
      if (auto it = run.authors.find(ex.identity.author->id); it != run.authors.end())
        ex.identity.author = it->second;
    in.identity = ex.identity;
    in.part_number = part.number;
    in.part_count = part.count;
    ex.plan = import::plan_import(in);
    ImportCandidate& c = ex.candidate;

    if (ex.plan.rejections.empty() && !ex.plan.destination.empty()) check_destination(ex);
    if (part.number == 0) number_later_part(ex);

    const auto& id = ex.identity;
    c.matched_by = id.matched_by;
    if (id.author) {
      c.author_id = id.author->id;
      c.author_name = id.author->name;
    }
    if (id.book) {
      c.book_id = id.book->id;
      c.book_title = id.book->title;
    }
    if (id.edition) c.edition_id = id.edition->id;
    c.destination = ex.plan.destination;
    c.new_author_folder = ex.plan.new_author_folder;
    c.rejections = ex.plan.rejections;
  }

  // An audio file alone in its import, for a book that has audio files recorded already (the
  // second part of an audiobook arriving later): it is a part too. It is compared with each
  // recorded part first (the same bytes are already imported, under whatever number); else it
  // takes its track number when that name is free, or the next free number after the parts
  // recorded. A pattern without {PartNumber} keeps the plan made without a part.
  void number_later_part(Examined& ex) {
    using K = ImportRejection::Kind;
    if (!ex.audio || !ex.identity.book) return;
    for (const auto& r : ex.plan.rejections)
      if (r.kind != K::destination_exists) return;
    auto rows = o.catalog->files_of_book(ex.identity.book->id);
    if (!rows) return;  // the plan made stands; the transfer still never overwrites
    const std::string source = clean_path(ex.candidate.path);
    int recorded = 0;
    for (const auto& row : *rows) {
      const auto format = book_format_of(row.path);
      if (!format || kind_of(*format) != BookKind::audio || clean_path(row.path) == source) continue;
      ++recorded;
      if (auto same = same_file(ex.candidate.path, row.path); same && *same) {
        ex.plan.rejections = {{K::already_imported, "already imported: " + display_path(row.path)}};
        ex.plan.destination = row.path;
        return;
      }
    }
    if (recorded == 0) return;
    std::vector<int> numbers;
    if (ex.track && *ex.track > 1) numbers.push_back(*ex.track);
    for (int n = recorded + 1; n <= recorded + 1 + kMaxPartTries; ++n) numbers.push_back(n);
    const fs::path unnumbered = ex.plan.destination;
    for (int n : numbers) {
      import::PlanInput in = ex.input;
      in.part_number = n;
      in.part_count = std::max(recorded + 1, n);
      import::Plan p = import::plan_import(in);
      if (!p.rejections.empty() || p.destination == unnumbered) return;
      std::error_code ec;
      if (fs::exists(fs::symlink_status(p.destination, ec))) continue;  // another part's name
      ex.plan = std::move(p);
      return;
    }
  }
  static constexpr int kMaxPartTries = 100;

  // A file as import::assign_parts numbers the parts of a book.
  static import::PartFile part_file(const Examined& ex) {
    return {ex.identity.book ? ex.identity.book->id : 0, ex.audio, ex.track, ex.disc,
            ex.candidate.path.string()};
  }

  // A file already at the destination: the same one is imported already (or only needs its
  // row), a different one is never replaced.
  void check_destination(Examined& ex) {
    using K = ImportRejection::Kind;
    const fs::path& dest = ex.plan.destination;
    if (clean_path(dest) == clean_path(ex.candidate.path)) return;
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(dest, ec))) return;
    auto same = same_file(ex.candidate.path, dest);
    if (!same || !*same) {
      ex.plan.rejections.push_back(
          {K::destination_exists, "a different file is already at " + display_path(dest)});
      return;
    }
    auto row = o.catalog->file_by_path(dest);
    if (row && ex.identity.book && row->book_id == ex.identity.book->id)
      ex.plan.rejections.push_back({K::already_imported, "already imported: " + display_path(dest)});
  }

  // Gives an author without a folder the one its first import made (and the root folder it lies
  // in), in one catalog call that leaves a folder set meanwhile alone.
  Status set_author_folder(Run& run, RowId author_id, const fs::path& folder) {
    auto a = o.catalog->set_author_path(author_id, folder, /*only_if_unset=*/true);
    if (!a) return a.error();
    run.authors[author_id] = *a;
    if (clean_path(a->path) != clean_path(folder)) {
      // Set meanwhile (another host, a user): left as it is; the file lies where it was put.
      log->warn("import: author '{}' got the folder {} meanwhile; this file went to {}", a->name,
                display_path(a->path), display_path(folder));
      return Ok{};
    }
    run.author_folders.emplace(clean_path(folder), author_id);
    log->info("import: author '{}' has the new folder {}", a->name, display_path(folder));
    return Ok{};
  }

  ImportOutcome import_one(Run& run, Examined& ex, ImportMode mode, bool has_client, std::stop_token stop) {
    using R = ImportOutcome::Result;
    ImportOutcome out;
    out.source = ex.candidate.path;
    out.destination = ex.plan.destination;
    out.rejections = ex.plan.rejections;
    if (ex.candidate.already_imported()) {
      out.result = R::skipped;
      if (auto row = o.catalog->file_by_path(out.destination)) out.file = *row;
      return out;
    }
    if (!out.rejections.empty()) {
      out.result = R::rejected;
      return out;
    }

    const TransferMode how = import::transfer_mode(mode, has_client, o.default_mode, ex.plan.in_library);
    TransferOptions to;
    to.stop = stop;
    to.sync = o.sync;
    auto t = transfer(out.source, out.destination, how, to);
    if (!t) {
      using K = ImportRejection::Kind;
      switch (t.error().code) {
        case errc::conflict:  // a different file appeared at the destination meanwhile
          out.result = R::rejected;
          out.rejections.push_back({K::destination_exists, t.error().message});
          return out;
        case errc::not_found:  // the source went away meanwhile
          out.result = R::rejected;
          out.rejections.push_back({K::missing, t.error().message});
          return out;
        default:
          out.result = R::failed;
          out.code = t.error().code == errc::shutting_down ? errc::cancelled : t.error().code;
          out.error =
              std::string(to_string(how)) + " failed: " + t.error().message + "; the source is untouched";
          return out;
      }
    }
    out.action = t->action;

    std::string note;
    if (ex.plan.new_author_folder) {
      if (auto st = set_author_folder(run, ex.identity.author->id, ex.plan.author_folder); !st) {
        note = "; the author's new folder " + display_path(ex.plan.author_folder) +
               " could not be recorded: " + st.error().message;
        log->warn("import: {}", note.substr(2));
      }
    }

    BookFile row;
    row.path = out.destination;
    std::error_code ec;
    row.size = static_cast<std::int64_t>(fs::file_size(out.destination, ec));
    row.mtime = mtime_of(out.destination);
    row.format = ex.candidate.format;
    row.author_id = ex.identity.author->id;
    row.book_id = ex.identity.book->id;
    row.edition_id = ex.identity.edition ? ex.identity.edition->id : 0;
    row.added = ex.source_row ? ex.source_row->added : now();
    row.read_error = ex.candidate.read_error;
    row.title = ex.facts.title;
    row.author = ex.facts.authors.empty() ? std::string() : ex.facts.authors.front();
    row.isbn13 = ex.facts.isbn13;
    row.asin = ex.facts.asin;
    FileBatch batch;
    batch.upserts.push_back(row);
    if (ex.source_row && t->source_removed && clean_path(ex.source_row->path) != clean_path(out.destination))
      batch.removals.push_back(ex.source_row->id);
    auto written = o.catalog->apply_files(batch);
    if (!written) {
      out.result = R::failed;
      out.code = written.error().code;
      out.error = display_path(out.destination) + " is in the library (" + std::string(to_string(t->action)) +
                  ") but could not be recorded: " + written.error().message +
                  (t->source_removed ? "; the source is gone" : "; the source is untouched") +
                  "; the next library scan records it" + note;
      log->error("import: {}", out.error);
      return out;
    }
    out.result = R::imported;
    out.file = written->upserted.front();
    out.error = note.empty() ? std::string() : note.substr(2);
    log->info("import: {} -> {} ({})", display_path(out.source), display_path(out.destination),
              to_string(t->action));
    if (o.events) {
      o.events->publish(BookFileAdded{out.file});
      o.events->publish(BookImported{out.file, out.source, t->action});
    }
    return out;
  }

  TimePoint now() const { return o.clock->now(); }

  // The book files a DownloadedBooksScan or `candidates` looks at. Errors: as walk_library.
  Result<std::vector<fs::path>> files_at(const fs::path& path) {
    if (!path.is_absolute())
      return Error{errc::invalid_argument, "path \"" + display_path(path) + "\" is not absolute"};
    std::error_code ec;
    const auto st = fs::status(path, ec);
    if (!fs::exists(st)) {
      if (ec && ec != std::errc::no_such_file_or_directory)
        return Error{errc::unavailable, display_path(path) + " cannot be read: " + ec.message()};
      return Error{errc::not_found, display_path(path) + " does not exist"};
    }
    if (!fs::is_directory(st)) return std::vector<fs::path>{fs::path(clean_path(path))};
    Collect collect(*log);
    auto walked = walk_library(fs::path(clean_path(path)), collect);
    if (!walked) return walked.error();
    std::sort(collect.files.begin(), collect.files.end());
    return std::move(collect.files);
  }

  struct Item {
    fs::path path;
    const ManualImportFile* manual = nullptr;
  };

  Result<ImportSummary> run_items(const std::vector<Item>& items, ImportMode mode, bool has_client,
                                  JobContext* ctx) {
    auto run = load_run();
    if (!run) return run.error();
    ImportSummary sum;
    const auto n = static_cast<std::int64_t>(items.size());
    std::stop_token stop = ctx ? ctx->token() : std::stop_token{};
    auto cancelled = [&](std::int64_t k) -> Error {
      log->warn("import cancelled after {} of {} files: {}", k, n, sum.message());
      return Error{errc::cancelled, "the import was cancelled after " + std::to_string(k) + " of " +
                                        std::to_string(n) + " files: " + sum.message()};
    };
    // Every file is identified first (read and matched: nothing changes), so that the audio
    // files of one book know their parts before the first of them is named. Each is planned
    // right before its transfer.
    std::vector<Result<Examined>> identified;
    identified.reserve(items.size());
    for (std::int64_t k = 0; k < n; ++k) {
      if (stop.stop_requested()) return cancelled(0);
      const Item& item = items[static_cast<std::size_t>(k)];
      if (ctx)
        ctx->status("reading " + std::to_string(k + 1) + " of " + std::to_string(n) + ": " +
                    display_path(item.path.filename()));
      identified.push_back(identify_file(*run, item.path, item.manual));
    }
    std::vector<import::PartFile> part_files;
    for (const auto& ex : identified) part_files.push_back(ex ? part_file(*ex) : import::PartFile{});
    const std::vector<import::Part> parts = import::assign_parts(part_files);

    for (std::int64_t k = 0; k < n; ++k) {
      if (stop.stop_requested()) return cancelled(k);
      const Item& item = items[static_cast<std::size_t>(k)];
      if (ctx)
        ctx->report(k, n,
                    "importing " + std::to_string(k + 1) + " of " + std::to_string(n) + ": " +
                        display_path(item.path.filename()));
      ImportOutcome out;
      auto& ex = identified[static_cast<std::size_t>(k)];
      if (!ex) {
        out.source = item.path;
        out.result = ImportOutcome::Result::failed;
        out.code = ex.error().code;
        out.error = "cannot be examined: " + ex.error().message + "; nothing was moved";
      } else {
        plan(*run, *ex, parts[static_cast<std::size_t>(k)]);
        out = import_one(*run, *ex, mode, has_client, stop);
      }
      if (out.result == ImportOutcome::Result::rejected)
        log->info("import: {} rejected: {}", display_path(out.source),
                  out.rejections.empty() ? std::string() : out.rejections.front().reason);
      ++sum.files;
      switch (out.result) {
        case ImportOutcome::Result::imported: ++sum.imported; break;
        case ImportOutcome::Result::skipped: ++sum.skipped; break;
        case ImportOutcome::Result::rejected: ++sum.rejected; break;
        case ImportOutcome::Result::failed: ++sum.failed; break;
      }
      sum.outcomes.push_back(std::move(out));
    }
    if (ctx) ctx->report(n, n, sum.message());
    return sum;
  }

  Result<ImportSummary> downloaded(const DownloadedBooksScan& c, JobContext* ctx) {
    auto files = files_at(fs::path(c.path));
    if (!files) return files.error();
    std::vector<Item> items;
    for (auto& f : *files) items.push_back({std::move(f), nullptr});
    const bool has_client = c.downloadClientId.has_value();
    auto sum = run_items(items, c.importMode, has_client, ctx);
    if (sum && import::transfer_mode(c.importMode, has_client, o.default_mode, false) == TransferMode::move)
      remove_emptied_folders(fs::path(clean_path(fs::path(c.path))), *sum);
    return sum;
  }

  // After a move: the folders under `named` (the command's path, itself included) that a file
  // was moved out of and that now hold nothing but empty folders are removed, as Readarr
  // removes a download's folder once its books are imported. Never a root folder or an author
  // folder (nor a folder holding one), never anything outside `named`, never a folder that
  // still holds a file of any kind: only rmdir, which removes empty folders and nothing else.
  void remove_emptied_folders(const fs::path& named, ImportSummary& sum) {
    std::error_code ec;
    if (!fs::is_directory(fs::symlink_status(named, ec))) return;  // one file named: not its folder
    std::set<std::string> left;                                    // the folders files were moved out of
    for (const auto& out : sum.outcomes)
      if (out.result == ImportOutcome::Result::imported && out.action &&
          (*out.action == TransferAction::renamed || *out.action == TransferAction::moved_by_copy))
        left.insert(clean_path(out.source.parent_path()));
    if (left.empty()) return;
    std::vector<std::string> keep;  // root folders and author folders
    if (auto roots = o.catalog->root_folders()) {
      for (const auto& r : *roots) keep.push_back(clean_path(r.path));
    } else {
      log->warn("import: no download folder removed: {}", roots.error().message);
      return;
    }
    if (auto authors = o.catalog->authors()) {
      for (const auto& a : *authors)
        if (!a.path.empty()) keep.push_back(clean_path(a.path));
    } else {
      log->warn("import: no download folder removed: {}", authors.error().message);
      return;
    }
    const std::string top = named.string();
    auto removable = [&](const std::string& folder) {
      if (!is_under(folder, top)) return false;
      return std::none_of(keep.begin(), keep.end(),
                          [&](const std::string& k) { return is_under(k, folder); });
    };
    // Deepest first, so that a folder's emptied sub-folders are gone before it is looked at.
    std::vector<std::string> order(left.begin(), left.end());
    std::sort(order.begin(), order.end(), [](const std::string& a, const std::string& b) {
      return std::count(a.begin(), a.end(), '/') > std::count(b.begin(), b.end(), '/');
    });
    std::vector<std::string> removed;
    for (const auto& start : order) {
      for (fs::path f(start);; f = f.parent_path()) {
        const std::string key = f.string();
        if (!removable(key)) break;
        const auto st = fs::symlink_status(f, ec);
        if (fs::exists(st)) {
          if (!fs::is_directory(st) || !holds_only_empty_folders(f) || !remove_empty_folders(f)) break;
          removed.push_back(key);
          log->info("import: removed the emptied folder {}", display_path(f));
        }
        if (key == top) break;
      }
    }
    // The topmost of each removed tree is what a person needs to hear of.
    for (const auto& r : removed)
      if (std::none_of(removed.begin(), removed.end(),
                       [&](const std::string& other) { return other != r && is_under(r, other); }))
        sum.removed_folders.push_back(fs::path(r));
  }

  // True when `folder` holds nothing, or only folders that hold nothing (recursively). A
  // symlink, a file of any kind or an unreadable folder is something.
  static bool holds_only_empty_folders(const fs::path& folder) {
    std::error_code ec;
    fs::directory_iterator it(folder, ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
      const auto st = it->symlink_status(ec);
      if (ec || !fs::is_directory(st) || !holds_only_empty_folders(it->path())) return false;
    }
    return !ec;
  }

  // Removes `folder` and the empty folders under it, deepest first, with rmdir only: a file
  // that appeared meanwhile makes it fail, and nothing that is not an empty folder goes.
  static bool remove_empty_folders(const fs::path& folder) {
    std::error_code ec;
    std::vector<fs::path> subs;
    fs::directory_iterator it(folder, ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) subs.push_back(it->path());
    if (ec) return false;
    for (const auto& sub : subs)
      if (!remove_empty_folders(sub)) return false;
    return ::rmdir(folder.c_str()) == 0;
  }

  Result<ImportSummary> manual(const ManualImport& c, JobContext* ctx) {
    if (c.files.empty()) return Error{errc::invalid_argument, "ManualImport names no files"};
    std::vector<Item> items;
    for (const auto& f : c.files) {
      if (!fs::path(f.path).is_absolute())
        return Error{errc::invalid_argument, "path \"" + f.path + "\" is not absolute; nothing was imported"};
      items.push_back({fs::path(f.path), &f});
    }
    return run_items(items, c.importMode, false, ctx);
  }

  Result<std::vector<ImportCandidate>> candidates(const fs::path& folder) {
    auto files = files_at(folder);
    if (!files) return files.error();
    auto run = load_run();
    if (!run) return run.error();
    std::vector<Examined> examined;
    examined.reserve(files->size());
    for (const auto& f : *files) {
      auto ex = identify_file(*run, f, nullptr);
      if (!ex) return ex.error();
      examined.push_back(std::move(*ex));
    }
    std::vector<import::PartFile> part_files;
    for (const auto& ex : examined) part_files.push_back(part_file(ex));
    const std::vector<import::Part> parts = import::assign_parts(part_files);
    std::vector<ImportCandidate> out;
    out.reserve(examined.size());
    for (std::size_t i = 0; i < examined.size(); ++i) {
      plan(*run, examined[i], parts[i]);
      out.push_back(std::move(examined[i].candidate));
    }
    return out;
  }

  // A handler's end: the summary as the message; the job fails only when nothing was
  // imported and a file failed for a reason a retry may cure (see book_import.hpp).
  static void finish(const Result<ImportSummary>& r, JobContext& ctx) {
    if (!r) {
      if (r.error().code == errc::cancelled) ctx.throw_if_cancelled();
      throw JobError(job_kind(r.error().code), r.error().message);
    }
    if (r->imported == 0) {
      for (const auto& o : r->outcomes) {
        if (o.result != ImportOutcome::Result::failed || !o.code) continue;
        if (*o.code == errc::cancelled) ctx.throw_if_cancelled();
        if (*o.code == errc::unavailable || *o.code == errc::store_error)
          throw JobError(job_kind(*o.code), r->message());
      }
    }
    ctx.complete(r->message());
  }
};

ImportService::ImportService(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::shared_ptr<ImportService>> ImportService::create(ImportOptions options) {
  if (!options.catalog) return Error{errc::invalid_argument, "the import service needs a catalog"};
  if (options.default_mode == ImportMode::automatic)
    return Error{errc::invalid_argument,
                 "default_mode must be move, copy or hardlink (it is what auto means)"};
  if (auto st = validate_naming(options.naming); !st)
    return Error{errc::invalid_argument, "naming pattern: " + st.error().message};
  if (!options.clock) options.clock = std::make_shared<SystemClock>();
  auto impl = std::make_shared<Impl>();
  impl->o = std::move(options);
  impl->log = impl->o.logger ? impl->o.logger
                             : std::make_shared<spdlog::logger>(
                                   "import", std::make_shared<spdlog::sinks::null_sink_mt>());
  return std::shared_ptr<ImportService>(new ImportService(std::move(impl)));
}

void ImportService::register_commands(Registry& registry, ServiceContext& host) {
  if (!impl_->o.events) impl_->o.events = host.events();
  std::shared_ptr<Impl> impl = impl_;
  CommandTraits traits;
  traits.priority = Priority::critical;
  // Not `disk`: see book_import.hpp. MoveAuthor holds `import` too.
  traits.locks = {kImportLock};
  registry.add<DownloadedBooksScan>(
      [impl](const DownloadedBooksScan& c, JobContext& ctx) { Impl::finish(impl->downloaded(c, &ctx), ctx); },
      traits);
  registry.add<ManualImport>(
      [impl](const ManualImport& c, JobContext& ctx) { Impl::finish(impl->manual(c, &ctx), ctx); }, traits);
}

Result<std::vector<ImportCandidate>> ImportService::candidates(const fs::path& folder) {
  return impl_->candidates(folder);
}

Result<ImportSummary> ImportService::downloaded_books_scan(const DownloadedBooksScan& command,
                                                           JobContext* ctx) {
  return impl_->downloaded(command, ctx);
}

Result<ImportSummary> ImportService::manual_import(const ManualImport& command, JobContext* ctx) {
  return impl_->manual(command, ctx);
}

}  // namespace shelfjobs

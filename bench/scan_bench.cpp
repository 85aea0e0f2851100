// SPDX-License-Identifier: MIT
// scan_bench: what a library scan costs, next to what reading the same files' metadata in a
// plain loop and walking the same tree cost, in the same run on the same machine.
//
//   scan_bench [--files N] [--authors A] [--runs R] [--reader-threads K] [--json]
//              [--keep DIR | --dir DIR] [--verbose]
//
// The tree: N small real book files (default 50,000) in A author folders (default 2,000),
// `Author NNNN/Title NNNNNN/Author NNNN - Title NNNNNN.<ext>`: 65% EPUB, 10% each MOBI, PDF and
// MP3, 5% M4B (tests/support/book_files.hpp). One book in eight lies in a Calibre-like
// `Title NNNNNN (id)/` folder with a `metadata.opf` and a `cover.jpg` beside it; half the books
// carry an ISBN (in the file and in the catalog's edition), the others match by author and
// title. The catalog template holds every author and every book but one in a hundred, whose
// files stay unmapped on purpose. The tree is generated once per bench process (two threads
// for the files, one for the catalog), under /tmp and removed at the end; `--keep DIR`
// generates it into DIR and keeps it, `--dir DIR` reuses such a tree (at 200,000 files the
// generation takes minutes).
//
// Figures of one run, in this order (the first, untimed walk lists the files and warms the
// page cache's folders and inodes):
//   raw_walk_s             a plain recursive opendir/readdir/fstatat walk of the tree, every
//                          entry stat'ed (sidecars and covers too)
//   ref_read_files_per_s   `read_book_metadata` on every book file, and `read_opf` on the
//                          `metadata.opf` beside it where there is one (as the scan does), in
//                          a plain loop on one thread; the first read of each file's content
//   full_scan_files_per_s  RescanFolders (every root, filter known) over a fresh copy of the
//                          catalog template: book files seen / seconds, with
//                          `ScanOptions::reader_threads` K (default the library's, 2)
//   rescan_nochange_s      a second RescanFolders on the same service, nothing changed
//   rescan_vs_walk         rescan_nochange_s / raw_walk_s
//   peak_rss_mb            the peak resident set (getrusage ru_maxrss) of the process that ran
//                          the two scans
//
// Processes: the generation runs in a child process, and each run forks two more: one for the
// walks and the reference loop, one for the scans (opening the catalog, creating the service,
// the full scan and the rescan, nothing else). The bench process itself stays small and
// single-threaded (it only forks and waits), so the scan child's ru_maxrss starts from a few
// megabytes of shared libraries and is the scan's own peak, not the generation's or the
// reference loop's. Each child sends its figures back through a pipe as one JSON line.
//
// Each figure with a target is printed next to its reference and target, with PASS or MISS;
// figures are medians over R runs (each run's values beside them); --json adds one JSON object
// on the last line. The peak_rss_mb target is meant for `--files 200000`. --verbose prints the
// scans' summaries and each part's time to stderr.

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_report.hpp"
#include "book_samples.hpp"
#include "shelfjobs/adapters/book_metadata.hpp"
#include "shelfjobs/adapters/library_walk.hpp"
#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/services/library_scan.hpp"

using bench::median;
using bench::Target;

namespace {

namespace fs = std::filesystem;
namespace bk = book_samples;
using Clock = std::chrono::steady_clock;
using Figures = std::map<std::string, double>;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "scan_bench: %s\n", what.c_str());
  std::exit(1);
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

// CPU seconds (user + system) of the process, or of the calling thread alone.
double cpu_s(int who = RUSAGE_SELF) {
  rusage ru{};
  getrusage(who, &ru);
  auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

void remove_db(const fs::path& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path.string() + suffix, ec);
}

// ------------------------------------------------------------------ the tree

// The layout of book i, from its number alone, so the generator, the catalog and the checks
// agree without a list.
struct BookPlan {
  int author = 0;
  std::string author_name, title, ext, isbn;
  bool sidecar = false;
  bool in_catalog = true;
  fs::path folder;  // relative to the root
  fs::path file;    // relative to the root
};

std::string numbered(const char* word, int width, long n) {
  char b[64];
  std::snprintf(b, sizeof b, "%s %0*ld", word, width, n);
  return b;
}

std::string isbn13_of(long i) {
  // 978 1 and eight digits of i, then the check digit: valid and distinct for every book.
  char b[32];
  std::snprintf(b, sizeof b, "9781%08ld", i);
  int sum = 0;
  for (int k = 0; k < 12; ++k) sum += (b[k] - '0') * (k % 2 ? 3 : 1);
  return std::string(b) + static_cast<char>('0' + (10 - sum % 10) % 10);
}

BookPlan plan_of(long i, long files, int authors) {
  BookPlan p;
  p.author = static_cast<int>(i * authors / files);
  // A multiplicative hash spreads the formats, sidecars and ISBNs over the authors.
  const std::uint32_t h = static_cast<std::uint32_t>(i) * 2654435761u;
  const unsigned f = (h >> 16) % 20;
  p.ext = f < 13 ? "epub" : f < 15 ? "mobi" : f < 17 ? "pdf" : f < 19 ? "mp3" : "m4b";
  p.sidecar = ((h >> 8) & 7u) == 0;
  if (((h >> 24) & 1u) == 0) p.isbn = isbn13_of(i);
  p.in_catalog = i % 100 != 99;
  p.author_name = numbered("Author", 4, p.author);
  p.title = numbered("Title", 6, i);
  const fs::path author_folder = p.author_name;
  p.folder = author_folder / (p.sidecar ? p.title + " (" + std::to_string(i + 1) + ")" : p.title);
  p.file = p.folder / (p.author_name + " - " + p.title + "." + p.ext);
  return p;
}

bk::BookSpec spec_of(const BookPlan& p) {
  bk::BookSpec s;
  s.title = p.title;
  s.authors = {p.author_name};
  s.isbn = p.isbn;
  s.publisher = "Bench Press";
  s.description = "A book of the scan benchmark.";
  s.date = "2001-02-03";
  return s;
}

void make_book(const fs::path& root, const BookPlan& p) {
  const bk::BookSpec s = spec_of(p);
  const fs::path path = root / p.file;
  if (p.ext == "epub")
    bk::make_epub(path, s);
  else if (p.ext == "mobi")
    bk::make_mobi(path, s);
  else if (p.ext == "pdf")
    bk::make_pdf(path, s);
  else if (p.ext == "mp3")
    bk::make_mp3(path, s);
  else
    bk::make_m4b(path, s);
  if (p.sidecar) {
    bk::make_opf_sidecar(root / p.folder, s);
    bk::write_file(root / p.folder / "cover.jpg", bk::cover_jpeg_bytes());
  }
}

void build_catalog(const fs::path& db, const fs::path& root, long files, int authors) {
  auto cat = shelfjobs::open_sqlite_catalog({.path = db});
  if (!cat) die("catalog: " + cat.error().message);
  auto& c = **cat;
  auto rf = c.add_root_folder(root, "Books");
  if (!rf) die("catalog: " + rf.error().message);
  std::vector<shelfjobs::RowId> ids(static_cast<std::size_t>(authors));
  for (int a = 0; a < authors; ++a) {
    shelfjobs::Author row;
    row.foreign_id = "a" + std::to_string(a);
    row.name = numbered("Author", 4, a);
    row.path = root / row.name;
    row.root_folder_id = rf->id;
    auto added = c.add_author(row);
    if (!added) die("catalog: " + added.error().message);
    ids[static_cast<std::size_t>(a)] = added->id;
  }
  for (long i = 0; i < files; ++i) {
    const BookPlan p = plan_of(i, files, authors);
    if (!p.in_catalog) continue;
    shelfjobs::BookWrite w;
    w.book.author_id = ids[static_cast<std::size_t>(p.author)];
    w.book.foreign_id = "w" + std::to_string(i);
    w.book.title = p.title;
    shelfjobs::Edition e;
    e.foreign_id = "e" + std::to_string(i);
    e.title = p.title;
    e.isbn13 = p.isbn;
    e.format = p.ext;
    e.is_ebook = p.ext == "epub" || p.ext == "mobi" || p.ext == "pdf";
    e.monitored = true;
    w.editions.push_back(e);
    if (auto b = c.add_book(w); !b) die("catalog: " + b.error().message);
  }
}

struct Tree {
  fs::path dir;  // holds library/, catalog-template.db and tree.json
  long files = 0;
  int authors = 0;
  fs::path root() const { return dir / "library"; }
  fs::path template_db() const { return dir / "catalog-template.db"; }
  fs::path manifest() const { return dir / "tree.json"; }
};

std::optional<Tree> read_manifest(const fs::path& dir) {
  std::ifstream in(dir / "tree.json");
  if (!in) return std::nullopt;
  const auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || j.value("layout", 0) != 1) return std::nullopt;
  return Tree{dir, j.at("files").get<long>(), j.at("authors").get<int>()};
}

// Runs `fn` in a child process and returns what it printed on its pipe (one JSON object).
nlohmann::json in_child(const char* what, const std::function<nlohmann::json()>& fn) {
  int fds[2];
  if (::pipe(fds) != 0) die(std::string("pipe: ") + std::strerror(errno));
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) die(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::close(fds[0]);
    int rc = 0;
    std::string out;
    try {
      out = fn().dump() + "\n";
    } catch (const std::exception& e) {
      std::fprintf(stderr, "scan_bench: %s: %s\n", what, e.what());
      rc = 1;
    }
    for (std::size_t done = 0; done < out.size();) {
      const ssize_t n = ::write(fds[1], out.data() + done, out.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    std::fflush(nullptr);
    ::_exit(rc);  // no destructors of the parent's objects (the temp folder) in the child
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || out.empty()) die(std::string(what) + " failed");
  return nlohmann::json::parse(out);
}

void generate(const Tree& t, bool verbose) {
  const auto t0 = Clock::now();
  const auto j = in_child("generation", [&] {
    fs::create_directories(t.root());
    remove_db(t.template_db());
    std::thread catalog([&] { build_catalog(t.template_db(), t.root(), t.files, t.authors); });
    std::atomic<long> next{0};
    std::atomic<bool> failed{false};
    auto files = [&] {
      try {
        for (long i = next++; i < t.files; i = next++) make_book(t.root(), plan_of(i, t.files, t.authors));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "scan_bench: generation: %s\n", e.what());
        failed = true;
      }
    };
    std::thread a(files), b(files);
    a.join();
    b.join();
    catalog.join();
    if (failed) throw std::runtime_error("files could not be written");
    return nlohmann::json{{"ok", true}};
  });
  (void)j;
  std::ofstream out(t.manifest());
  out << nlohmann::json{{"layout", 1}, {"files", t.files}, {"authors", t.authors}}.dump() << "\n";
  if (verbose)
    std::fprintf(stderr, "generated %ld files in %d author folders in %.1f s\n", t.files, t.authors,
                 seconds_since(t0));
}

// ------------------------------------------------------------------ the walks

// A plain recursive walk: every entry stat'ed (following symlinks, as the library walk does),
// folders entered. Returns the entries seen.
std::size_t raw_walk_at(int fd) {
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    ::close(fd);
    return 0;
  }
  const int dfd = ::dirfd(dir);
  std::size_t n = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    struct stat st {};
    if (::fstatat(dfd, e->d_name, &st, 0) != 0) continue;
    ++n;
    if (S_ISDIR(st.st_mode)) {
      const int child = ::openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (child >= 0) n += raw_walk_at(child);
    }
  }
  ::closedir(dir);
  return n;
}

std::size_t raw_walk(const fs::path& root) {
  const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) die("cannot open " + root.string());
  return raw_walk_at(fd);
}

// The reference's list: every book file, and the metadata.opf of its folder where there is one.
struct RefFile {
  fs::path path, sidecar;
};
void list_books(const fs::path& folder, std::vector<RefFile>& out) {
  std::vector<fs::path> books, folders;
  bool opf = false;
  for (const auto& e : fs::directory_iterator(folder)) {
    const auto name = e.path().filename().string();
    if (e.is_directory())
      folders.push_back(e.path());
    else if (name == "metadata.opf")
      opf = true;
    else if (shelfjobs::book_format_of_name(name))
      books.push_back(e.path());
  }
  for (auto& b : books) out.push_back({std::move(b), opf ? folder / "metadata.opf" : fs::path()});
  for (const auto& f : folders) list_books(f, out);
}

// ------------------------------------------------------------------ one run

struct Options {
  long files = 50000;
  int authors = 2000;
  int runs = 1;
  int reader_threads = 2;
  bool json = false;
  bool verbose = false;
  fs::path keep, dir;
};

// The walks and the reference loop (a child of their own).
nlohmann::json reference_child(const Tree& t) {
  std::vector<RefFile> list;
  list_books(t.root(), list);  // untimed: lists the files, warms dentries and inodes
  raw_walk(t.root());
  auto t0 = Clock::now();
  const std::size_t entries = raw_walk(t.root());
  const double walk_s = seconds_since(t0);

  // Diagnostics: the library walk the scan uses, with a visitor that does nothing, without and
  // with its sidecar checks (two fstatat calls per folder).
  struct Nothing : shelfjobs::WalkVisitor {
    shelfjobs::WalkControl file(const shelfjobs::WalkFile&) override {
      return shelfjobs::WalkControl::proceed;
    }
  } nothing;
  t0 = Clock::now();
  if (!shelfjobs::walk_library(t.root(), nothing)) throw std::runtime_error("walk_library failed");
  const double lib_walk_s = seconds_since(t0);
  t0 = Clock::now();
  if (!shelfjobs::walk_library(t.root(), nothing, {.sidecars = true}))
    throw std::runtime_error("walk_library failed");
  const double lib_walk_sidecars_s = seconds_since(t0);

  std::size_t failed = 0;
  std::string first_error;
  const double c0 = cpu_s();
  t0 = Clock::now();
  for (const auto& f : list) {
    auto m = shelfjobs::read_book_metadata(f.path);
    if (!m) {
      if (failed++ == 0) first_error = m.error().message;
      continue;
    }
    if (!f.sidecar.empty()) {
      auto s = shelfjobs::read_opf(f.sidecar);
      if (!s && failed++ == 0) first_error = s.error().message;
    }
  }
  const double read_s = seconds_since(t0);
  const double read_cpu = cpu_s() - c0;
  return {{"raw_walk_s", walk_s},
          {"lib_walk_s", lib_walk_s},
          {"lib_walk_sidecars_s", lib_walk_sidecars_s},
          {"ref_read_cpu_s", read_cpu},
          {"raw_walk_entries", entries},
          {"ref_files", list.size()},
          {"ref_read_s", read_s},
          {"ref_failed", failed},
          {"ref_first_error", first_error},
          {"ref_peak_rss_mb", peak_rss_mb()}};
}

nlohmann::json summary_json(const shelfjobs::ScanSummary& s) {
  nlohmann::json j;
  to_json(j, s);
  return j;
}

// The two scans (a child of their own: its peak resident set is the scan's).
nlohmann::json scan_child(const Tree& t, const fs::path& db, int reader_threads) {
  const double rss_start = peak_rss_mb();
  auto cat = shelfjobs::open_sqlite_catalog({.path = db});
  if (!cat) throw std::runtime_error(cat.error().message);
  auto svc = shelfjobs::LibraryScanService::create({.catalog = *cat, .reader_threads = reader_threads});
  if (!svc) throw std::runtime_error(svc.error().message);
  double c0 = cpu_s(), m0 = cpu_s(RUSAGE_THREAD);
  auto t0 = Clock::now();
  auto full = (*svc)->rescan(shelfjobs::RescanFolders{});
  const double full_s = seconds_since(t0);
  const double full_cpu = cpu_s() - c0, full_main = cpu_s(RUSAGE_THREAD) - m0;
  if (!full) throw std::runtime_error("full scan: " + full.error().message);
  const double rss_full = peak_rss_mb();
  c0 = cpu_s();
  m0 = cpu_s(RUSAGE_THREAD);
  t0 = Clock::now();
  auto again = (*svc)->rescan(shelfjobs::RescanFolders{});
  const double again_s = seconds_since(t0);
  const double again_cpu = cpu_s() - c0, again_main = cpu_s(RUSAGE_THREAD) - m0;
  if (!again) throw std::runtime_error("rescan: " + again.error().message);
  (void)t;
  return {{"full_scan_s", full_s},
          {"full_scan_cpu_s", full_cpu},
          {"full_scan_main_cpu_s", full_main},
          {"rescan_main_cpu_s", again_main},
          {"rescan_nochange_s", again_s},
          {"rescan_cpu_s", again_cpu},
          {"full", summary_json(*full)},
          {"rescan", summary_json(*again)},
          {"rss_at_start_mb", rss_start},
          {"rss_after_full_mb", rss_full},
          {"peak_rss_mb", peak_rss_mb()}};
}

Figures run_once(const Options& o, const Tree& t, const fs::path& work, int run) {
  Figures f;
  const auto ref = in_child("reference", [&] { return reference_child(t); });
  const long expected_unmapped = t.files / 100;
  if (ref.at("ref_files").get<long>() != t.files)
    die("the reference found " + ref.at("ref_files").dump() + " files");
  if (ref.at("ref_failed").get<long>() != 0)
    die("the reference could not read " + ref.at("ref_failed").dump() +
        " files: " + ref.at("ref_first_error").get<std::string>());

  const fs::path db = work / ("run-" + std::to_string(run) + ".db");
  remove_db(db);
  fs::copy_file(t.template_db(), db);
  const auto scan = in_child("scan", [&] { return scan_child(t, db, o.reader_threads); });
  remove_db(db);

  const auto& full = scan.at("full");
  const auto& again = scan.at("rescan");
  auto check = [&](bool ok, const std::string& what) {
    if (!ok)
      std::fprintf(stderr, "scan_bench: warning: %s (full: %s; rescan: %s)\n", what.c_str(),
                   full.at("message").get<std::string>().c_str(),
                   again.at("message").get<std::string>().c_str());
  };
  check(full.at("files").get<long>() == t.files && full.at("added").get<long>() == t.files,
        "the full scan did not add every file");
  check(full.at("unmapped").get<long>() == expected_unmapped && full.at("unreadable").get<long>() == 0,
        "the full scan left " + full.at("unmapped").dump() + " files unmapped (expected " +
            std::to_string(expected_unmapped) + ") and " + full.at("unreadable").dump() + " unreadable");
  check(again.at("unchanged").get<long>() == t.files && again.at("changed").get<long>() == 0 &&
            again.at("added").get<long>() == 0 && again.at("removed").get<long>() == 0,
        "the rescan did not leave every file unchanged");
  if (o.verbose) {
    std::fprintf(stderr, "  run %d: full scan: %s\n  run %d: rescan:    %s\n", run + 1,
                 full.at("message").get<std::string>().c_str(), run + 1,
                 again.at("message").get<std::string>().c_str());
    std::fprintf(
        stderr,
        "  run %d: walk %.3f s (%s entries), reference %.2f s, full scan %.2f s (%.2f s CPU), rescan "
        "%.3f s (%.3f s CPU), scan RSS at start %.1f MB, after the full scan %.1f MB, peak %.1f MB\n",
        run + 1, ref.at("raw_walk_s").get<double>(), ref.at("raw_walk_entries").dump().c_str(),
        ref.at("ref_read_s").get<double>(), scan.at("full_scan_s").get<double>(),
        scan.at("full_scan_cpu_s").get<double>(), scan.at("rescan_nochange_s").get<double>(),
        scan.at("rescan_cpu_s").get<double>(), scan.at("rss_at_start_mb").get<double>(),
        scan.at("rss_after_full_mb").get<double>(), scan.at("peak_rss_mb").get<double>());
  }
  const double files = static_cast<double>(t.files);
  f["raw_walk_s"] = ref.at("raw_walk_s").get<double>();
  f["ref_read_files_per_s"] = files / ref.at("ref_read_s").get<double>();
  f["full_scan_files_per_s"] = full.at("files").get<double>() / scan.at("full_scan_s").get<double>();
  f["full_scan_cpu_s"] = scan.at("full_scan_cpu_s").get<double>();
  f["rescan_nochange_s"] = scan.at("rescan_nochange_s").get<double>();
  f["rescan_cpu_s"] = scan.at("rescan_cpu_s").get<double>();
  f["rescan_vs_walk"] = f["rescan_nochange_s"] / f["raw_walk_s"];
  f["peak_rss_mb"] = scan.at("peak_rss_mb").get<double>();
  f["ref_peak_rss_mb"] = ref.at("ref_peak_rss_mb").get<double>();
  f["ref_read_cpu_s"] = ref.at("ref_read_cpu_s").get<double>();
  f["lib_walk_s"] = ref.at("lib_walk_s").get<double>();
  f["lib_walk_sidecars_s"] = ref.at("lib_walk_sidecars_s").get<double>();
  f["full_scan_main_cpu_s"] = scan.at("full_scan_main_cpu_s").get<double>();
  f["rescan_main_cpu_s"] = scan.at("rescan_main_cpu_s").get<double>();
  return f;
}

const std::vector<Target> kTargets = {
    {"full_scan_files_per_s", "ref_read_files_per_s", 0.5, false, false, ">= 0.5x ref_read_files_per_s"},
    {"rescan_vs_walk", "", 1.5, true, false, "<= 1.5 (rescan_nochange_s / raw_walk_s)"},
    {"peak_rss_mb", "", 64, true, true, "< 64 MB (at --files 200000)"},
};

void usage() {
  std::fprintf(stderr,
               "usage: scan_bench [--files N] [--authors A] [--runs R] [--reader-threads K] [--json] "
               "[--keep DIR | --dir DIR] [--verbose]\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool files_given = false, authors_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--files") {
      o.files = std::atol(next().c_str());
      files_given = true;
    } else if (a == "--authors") {
      o.authors = std::atoi(next().c_str());
      authors_given = true;
    } else if (a == "--runs") {
      o.runs = std::atoi(next().c_str());
    } else if (a == "--reader-threads") {
      o.reader_threads = std::atoi(next().c_str());
    } else if (a == "--keep") {
      o.keep = next();
    } else if (a == "--dir") {
      o.dir = next();
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--verbose") {
      o.verbose = true;
    } else {
      usage();
      return 2;
    }
  }
  if (o.files < 1 || o.authors < 1 || o.authors > o.files || o.runs < 1 || o.reader_threads < 1 ||
      (!o.keep.empty() && !o.dir.empty())) {
    std::fprintf(
        stderr,
        "scan_bench: --files, --authors, --runs, --reader-threads must be >= 1, --authors <= --files, "
        "and --keep and --dir exclude each other\n");
    return 2;
  }

  // Where the tree lives: a temp folder removed at the end, or one that is kept.
  fs::path temp;
  Tree tree;
  double generate_s = 0;
  if (!o.dir.empty()) {
    auto t = read_manifest(fs::absolute(o.dir));
    if (!t) die(o.dir.string() + " holds no tree of scan_bench --keep");
    if ((files_given && t->files != o.files) || (authors_given && t->authors != o.authors))
      die(o.dir.string() + " holds " + std::to_string(t->files) + " files in " + std::to_string(t->authors) +
          " author folders, not what --files/--authors ask");
    tree = *t;
  } else {
    if (!o.keep.empty()) {
      tree.dir = fs::absolute(o.keep);
    } else {
      std::random_device rd;
      temp = fs::temp_directory_path() / ("shelfjobs-scan-bench-" + std::to_string(rd()));
      tree.dir = temp;
    }
    tree.files = o.files;
    tree.authors = o.authors;
    std::error_code ec;
    if (fs::exists(tree.dir / "library", ec))
      die(tree.dir.string() + "/library exists already (reuse it with --dir)");
    fs::create_directories(tree.dir);
    const auto t0 = Clock::now();
    generate(tree, o.verbose);
    generate_s = seconds_since(t0);
  }

  std::vector<Figures> runs;
  for (int r = 0; r < o.runs; ++r) runs.push_back(run_once(o, tree, tree.dir, r));
  if (!temp.empty()) {
    std::error_code ec;
    fs::remove_all(temp, ec);
  }

  Figures med;
  std::map<std::string, std::vector<double>> per_run;
  for (const auto& f : runs)
    for (const auto& [k, v] : f) per_run[k].push_back(v);
  for (const auto& [k, v] : per_run) med[k] = median(v);
  med["bench_peak_rss_mb"] = peak_rss_mb();

  std::printf(
      "scan_bench: %ld book files in %d author folders, %d reader thread(s), %d run(s); figures are medians "
      "over the runs\n",
      tree.files, tree.authors, o.reader_threads, o.runs);
  const nlohmann::json targets =
      bench::print_figures(kTargets, med, per_run, o.runs, 28, [&](const Target& t) -> std::string {
        if (std::string(t.figure) != "rescan_vs_walk") return {};
        char b[128];
        std::snprintf(b, sizeof b, "  (rescan %.3f s, walk %.3f s)", med["rescan_nochange_s"],
                      med["raw_walk_s"]);
        return b;
      });
  if (o.json) {
    nlohmann::json out = {{"files", tree.files},
                          {"authors", tree.authors},
                          {"reader_threads", o.reader_threads},
                          {"runs", o.runs}};
    for (const auto& [k, v] : med) out[k] = v;
    out["per_run"] = per_run;
    if (generate_s > 0) out["generate_s"] = generate_s;
    out["targets"] = targets;
    std::printf("%s\n", out.dump().c_str());
  }
  return 0;
}

// SPDX-License-Identifier: MIT
// backup_bench: what a backup and a restore cost, next to the sqlite3 shell's `.backup` of the
// same files followed by a zip of those copies at the same compression level, in the same run.
//
//   backup_bench [--mb N] [--runs R] [--level L] [--json]
//
// Set-up, once per process, untimed: a catalog (open_sqlite_catalog: 2,000 authors, 20,000
// books) and a job store (open_sqlite_job_store) in a temp folder, each then grown to N/2 MB
// (default 200 MB in all) with rows of generated English-like text, which deflate compresses
// about as well as a real catalog's descriptions (3-4x).
//
// Figures of one run:
//   backup_s        BackupService::backup of the two files, the engine idle
//   ref_s           `sqlite3 FILE ".backup COPY"` for each file, then the copies zipped with
//                   libzip at the same deflate level (the same zlib the backup uses)
//   ratio           backup_s / ref_s
//   backup_under_load_s, jobs_completed_during_backup
//                   the same backup while an engine on the job store runs a stream of no-op
//                   jobs pushed by another thread, and how many of them completed meanwhile
//   restore_s       prepare_restore (every check: checksums, integrity_check of each file) and
//                   apply_restore of the backup, the stores closed
// Targets: ratio at most 1.3; jobs keep completing during the backup (more than zero).

#include <zip.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include "bench_report.hpp"
#include "shelfjobs/services.hpp"

using namespace shelfjobs;
namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "backup_bench: %s\n", what.c_str());
  std::exit(1);
}

double seconds_since(Steady::time_point t0) {
  return std::chrono::duration<double>(Steady::now() - t0).count();
}

// Text that compresses like prose: words from a small vocabulary, with numbers.
std::string prose(std::mt19937& rng, std::size_t bytes) {
  static const char* words[] = {
      "the",    "library", "author", "book",         "edition",   "of",    "and",        "novel",
      "series", "a",       "in",     "published",    "volume",    "story", "collection", "war",
      "night",  "house",   "river",  "winter",       "first",     "last",  "city",       "translated",
      "by",     "with",    "an",     "introduction", "paperback", "audio"};
  std::string s;
  s.reserve(bytes + 16);
  while (s.size() < bytes) {
    s += words[rng() % (sizeof words / sizeof *words)];
    s += (rng() % 9 == 0) ? " " + std::to_string(rng() % 100000) + " " : " ";
  }
  s.resize(bytes);
  return s;
}

void grow(const fs::path& file, std::int64_t target_bytes, std::mt19937& rng) {
  SQLite::Database db(file.string(), SQLite::OPEN_READWRITE);
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("CREATE TABLE IF NOT EXISTS bench_notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
  SQLite::Statement ins(db, "INSERT INTO bench_notes (body) VALUES (?)");
  while (static_cast<std::int64_t>(fs::file_size(file)) +
             static_cast<std::int64_t>(
                 fs::exists(file.string() + "-wal") ? fs::file_size(file.string() + "-wal") : 0) <
         target_bytes) {
    SQLite::Transaction tx(db);
    for (int i = 0; i < 2000; ++i) {
      ins.bind(1, prose(rng, 1000));
      ins.exec();
      ins.reset();
    }
    tx.commit();
  }
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

void make_catalog(const fs::path& file, std::mt19937& rng) {
  auto catalog = open_sqlite_catalog({.path = file});
  if (!catalog) die("catalog: " + catalog.error().message);
  for (int a = 0; a < 2000; ++a) {
    Author author;
    author.foreign_id = std::to_string(100000 + a);
    author.name = "Author " + std::to_string(a) + " " + prose(rng, 12);
    author.overview = prose(rng, 600);
    auto added = (*catalog)->add_author(author);
    if (!added) die("catalog: " + added.error().message);
    for (int b = 0; b < 10; ++b) {
      BookWrite book;
      book.book.author_id = added->id;
      book.book.foreign_id = std::to_string(a * 100 + b);
      book.book.title = "Book " + std::to_string(b) + " " + prose(rng, 30);
      if (auto r = (*catalog)->add_book(book); !r) die("catalog: " + r.error().message);
    }
  }
}

double ref_backup(const std::vector<fs::path>& files, const fs::path& dir, int level) {
  const auto t0 = Steady::now();
  std::vector<fs::path> copies;
  for (const auto& f : files) {
    const fs::path copy = dir / (f.filename().string() + ".ref");
    fs::remove(copy);
    const std::string cmd = "sqlite3 '" + f.string() + "' \".backup '" + copy.string() + "'\"";
    if (std::system(cmd.c_str()) != 0) die("the reference needs the sqlite3 shell: " + cmd);
    copies.push_back(copy);
  }
  const fs::path zip = dir / "ref.zip";
  fs::remove(zip);
  int err = 0;
  zip_t* z = zip_open(zip.c_str(), ZIP_CREATE | ZIP_EXCL, &err);
  if (!z) die("cannot create the reference zip");
  for (const auto& c : copies) {
    const zip_int64_t i = zip_file_add(z, c.filename().c_str(), zip_source_file(z, c.c_str(), 0, -1), 0);
    zip_set_file_compression(z, static_cast<zip_uint64_t>(i), ZIP_CM_DEFLATE,
                             static_cast<zip_uint32_t>(level));
  }
  if (zip_close(z) != 0) die("cannot write the reference zip");
  const double s = seconds_since(t0);
  for (const auto& c : copies) fs::remove(c);
  fs::remove(zip);
  return s;
}

struct Tick : Command {
  static constexpr std::string_view kName = "BenchTick";
  int n = 0;
};
void to_json(nlohmann::json& j, const Tick& t) { j = {{"n", t.n}}; }
void from_json(const nlohmann::json& j, Tick& t) { t.n = j.value("n", 0); }

class TickService : public Service {
 public:
  std::atomic<long> done{0};
  std::string_view name() const override { return "bench-ticks"; }
  void register_commands(Registry& registry, ServiceContext&) override {
    registry.add<Tick>([this](const Tick&, JobContext&) { ++done; });
  }
};

}  // namespace

int main(int argc, char** argv) {
  int mb = 200, runs = 3, level = 6;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--mb")
      mb = std::atoi(next().c_str());
    else if (a == "--runs")
      runs = std::atoi(next().c_str());
    else if (a == "--level")
      level = std::atoi(next().c_str());
    else if (a == "--json")
      json = true;
    else
      die("usage: backup_bench [--mb N] [--runs R] [--level 0..9] [--json]");
  }
  if (mb < 2 || runs < 1 || level < 0 || level > 9) die("--mb >= 2, --runs >= 1, --level 0..9");

  std::random_device rd;
  const fs::path dir = fs::temp_directory_path() / ("shelfjobs-backup-bench-" + std::to_string(rd()));
  fs::create_directories(dir);
  const fs::path jobs = dir / "jobs.db", catalog = dir / "catalog.db";
  std::mt19937 rng(42);
  const auto t_setup = Steady::now();
  {
    auto store = open_sqlite_job_store({.path = jobs.string()});
    if (!store) die("job store: " + store.error().message);
  }
  make_catalog(catalog, rng);
  grow(catalog, std::int64_t{mb} * 1024 * 1024 / 2, rng);
  grow(jobs, std::int64_t{mb} * 1024 * 1024 / 2, rng);
  const double setup_s = seconds_since(t_setup);

  BackupOptions o;
  o.folder = dir / "backups";
  o.job_store = jobs;
  o.databases = {{"catalog.db", catalog}};
  o.compression_level = level;
  auto service = BackupService::create(o);
  if (!service) die(service.error().message);
  auto& svc = **service;

  bench::PerRun per_run;
  for (int r = 0; r < runs; ++r) {
    // Reference and backup interleaved, so both meet the same page cache and load.
    per_run["ref_s"].push_back(ref_backup({jobs, catalog}, dir, level));
    auto t0 = Steady::now();
    auto made = svc.backup(BackupType::manual);
    if (!made) die("backup: " + made.error().message);
    per_run["backup_s"].push_back(seconds_since(t0));
    per_run["ratio"].push_back(per_run["backup_s"].back() / per_run["ref_s"].back());
    per_run["backup_mb"].push_back(static_cast<double>(made->size) / (1024.0 * 1024.0));

    t0 = Steady::now();
    auto prepared = svc.prepare_restore(made->path);
    if (!prepared) die("restore: " + prepared.error().message);
    auto report = svc.apply_restore(*prepared);
    if (!report) die("restore: " + report.error().message);
    per_run["restore_s"].push_back(seconds_since(t0));
    for (const auto& [live, safety] : report->safety_copies) fs::remove(safety);
    (void)svc.remove(made->id);
  }

  // The backup again, while an engine on the job store runs no-op jobs pushed by another thread.
  {
    auto ticks = std::make_shared<TickService>();
    ServiceHostOptions ho;
    ho.engine.store_path = jobs.string();
    ho.engine.workers = 2;
    ServiceHost::Builder builder(std::move(ho));
    builder.add(ticks);
    auto host = builder.build();
    if (!host) die("engine: " + host.error().message);
    (*host)->start();
    std::atomic<bool> stop{false};
    std::thread pusher([&] {
      for (int n = 0; !stop; ++n) {
        (void)(*host)->engine().push(Tick{.n = n}, {.durable = false});
        if (n % 64 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const long before = ticks->done;
    const auto t0 = Steady::now();
    auto made = svc.backup(BackupType::manual);
    const double s = seconds_since(t0);
    const long during = ticks->done - before;
    stop = true;
    pusher.join();
    (*host)->stop(std::chrono::seconds(10));
    if (!made) die("backup under load: " + made.error().message);
    per_run["backup_under_load_s"].push_back(s);
    per_run["jobs_completed_during_backup"].push_back(static_cast<double>(during));
  }
  std::error_code ec;
  fs::remove_all(dir, ec);

  bench::Medians med;
  for (const auto& [k, v] : per_run) med[k] = bench::median(v);
  med["setup_s"] = setup_s;
  static const std::vector<bench::Target> targets = {
      {"ratio", "", 1.3, true, false, "<= 1.3 (backup_s / ref_s)"},
      {"jobs_completed_during_backup", "", 1, false, false, ">= 1"},
  };
  std::printf(
      "backup_bench: %d MB (catalog and job store), deflate level %d, %d run(s); medians over the runs\n", mb,
      level, runs);
  const nlohmann::json passed = bench::print_figures(targets, med, per_run, runs, 32);
  if (json) {
    nlohmann::json out = {{"mb", mb}, {"level", level}, {"runs", runs}};
    for (const auto& [k, v] : med) out[k] = v;
    out["per_run"] = per_run;
    out["targets"] = passed;
    std::printf("%s\n", out.dump().c_str());
  }
  return 0;
}

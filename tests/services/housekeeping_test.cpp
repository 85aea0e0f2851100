// SPDX-License-Identifier: MIT
// The housekeeping service: each task against real SQLite files and real folders with seeded
// orphans and old rows, a task failing in the middle, idle-only scheduling, clamped future
// times, and permissions that never follow a symlink out of a root folder.

#include <sys/stat.h>

#include <fstream>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include "shelfjobs/services/housekeeping.hpp"
#include "shelfjobs/services/tasks.hpp"
#include "test_support.hpp"

using namespace shelfjobs;
using namespace testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace housekeeping_test {

void write_file(const fs::path& p, std::string_view bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

void age(const fs::path& p, std::chrono::hours by) {
  fs::last_write_time(p, fs::file_time_type::clock::now() - by);
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

const std::string kJpeg = std::string("\xFF\xD8\xFF\xE0", 4) + "JFIF jpeg body";

// A gate command so a test can hold a worker busy while housekeeping waits.
struct Hold : Command {
  static constexpr std::string_view kName = "Hold";
};
class HoldService : public Service {
 public:
  std::string_view name() const override { return "hold"; }
  void register_commands(Registry& registry, ServiceContext&) override {
    registry.add<Hold>([this](const Hold&, JobContext& ctx) {
      started = true;
      while (!release && !ctx.cancelled()) std::this_thread::sleep_for(1ms);
      ctx.complete("held");
    });
  }
  std::atomic<bool> started{false}, release{false};
};

// A library with one real author and book, and orphans seeded the way a tool with foreign keys
// off (or an older release) leaves them.
struct Library {
  TempDir dir;
  fs::path catalog_path = dir.path() / "catalog.db";
  std::shared_ptr<Catalog> catalog = open_sqlite_catalog({.path = catalog_path}).value();
  std::shared_ptr<AcquisitionStore> store = open_sqlite_acquisition_store({.path = catalog_path}).value();
  fs::path root = dir.path() / "books";
  RowId author = 0, book = 0, indexer = 0;

  Library() {
    fs::create_directories(root);
    catalog->add_root_folder(root, "books").value();
    Author a;
    a.foreign_id = "1";
    a.name = "Ann Leckie";
    a.path = root / "Ann Leckie";
    author = catalog->add_author(a).value().id;
    BookWrite b;
    b.book.author_id = author;
    b.book.foreign_id = "10";
    b.book.title = "Ancillary Justice";
    book = catalog->add_book(b).value().id;
    ProviderDefinition idx;
    idx.kind = ProviderKind::indexer;
    idx.name = "Live indexer";
    idx.implementation = "Newznab";
    idx.protocol = "usenet";
    indexer = store->add_provider(idx).value().id;
  }

  void seed_orphans() {
    SQLite::Database db(catalog_path.string(), SQLite::OPEN_READWRITE);
    db.exec("PRAGMA foreign_keys = OFF");
    db.exec(
        "INSERT INTO books (id, author_id, foreign_id, title, added) VALUES (900, 999, 'x900', 'Lost', 0)");
    db.exec("INSERT INTO editions (id, book_id, foreign_id) VALUES (901, 998, 'e901')");
    db.exec("INSERT INTO book_files (path, author_id, book_id) VALUES ('/gone/file.epub', 999, 998)");
    db.exec("INSERT INTO series (id, foreign_id, title) VALUES (77, 's77', 'Nobody reads it')");
    db.exec("INSERT INTO provider_status (kind, provider_id, escalation_level) VALUES ('indexer', 555, 2)");
  }
};

const HousekeepingTaskResult& task(const HousekeepingReport& r, std::string_view name) {
  for (const auto& t : r.tasks)
    if (t.name == name) return t;
  FAIL("no task " << name);
  throw std::logic_error("unreachable");
}

ServiceHostOptions host_options(TempDir& dir, std::shared_ptr<Clock> clock = nullptr) {
  ServiceHostOptions o;
  o.engine = {.store_path = dir.file("jobs.db"), .workers = 2, .logger = quiet_logger(), .clock = clock};
  o.engine.retention = {
      .max_age = std::chrono::hours(24), .max_rows = 1, .interval = std::chrono::milliseconds(0)};
  return o;
}

std::shared_ptr<HousekeepingService> make(HousekeepingOptions o) {
  if (!o.logger) o.logger = quiet_logger();
  auto s = HousekeepingService::create(std::move(o));
  REQUIRE(s.has_value());
  return *s;
}

TEST_CASE("housekeeping runs each task against real files: orphans, old logs, temporary files, databases",
          "[services][housekeeping]") {
  Library lib;
  lib.seed_orphans();
  // Acquisition rows of an author and a book that are gone, and of the live ones.
  HistoryEntry gone;
  gone.author_id = 999;
  gone.book_id = 998;
  gone.source_title = "Lost.Release";
  lib.store->add_history(gone).value();
  HistoryEntry live;
  live.author_id = lib.author;
  live.book_id = lib.book;
  live.source_title = "Ancillary.Justice";
  lib.store->add_history(live).value();
  BlocklistEntry bl;
  bl.author_id = 999;
  bl.release.title = "Lost.Blocked";
  lib.store->add_blocklist(bl).value();
  PendingRelease pending;
  pending.author_id = lib.author;
  pending.book_id = 998;
  pending.release.title = "Lost.Pending";
  lib.store->add_pending(pending).value();

  // Logs: a table kept by the host (here: times in memory) and rotated files.
  const fs::path logs = lib.dir.path() / "logs";
  write_file(logs / "app.log", "current\n");
  write_file(logs / "app.1.log", "recent\n");
  write_file(logs / "app.2.log", "old\n");
  age(logs / "app.2.log", std::chrono::hours(24 * 9));
  age(logs / "app.log", std::chrono::hours(24 * 30));  // the file being written is never removed
  auto table = std::make_shared<std::vector<TimePoint>>();
  const auto now = std::chrono::system_clock::now();
  *table = {now - std::chrono::hours(24 * 10), now - std::chrono::hours(24 * 8), now - std::chrono::hours(1)};

  // Temporary entries, unfinished backups, covers.
  const fs::path tmp = lib.dir.path() / "tmp", backups = lib.dir.path() / "backups",
                 covers = lib.dir.path() / "covers";
  write_file(tmp / "old-unpack" / "a.epub", "x");
  age(tmp / "old-unpack", std::chrono::hours(30));
  write_file(tmp / "fresh-unpack" / "b.epub", "x");
  write_file(backups / "scheduled" / "shelfjobs_backup_v1_old.zip.partial", "half");
  age(backups / "scheduled" / "shelfjobs_backup_v1_old.zip.partial", std::chrono::hours(48));
  write_file(backups / "scheduled" / "shelfjobs_backup_v1_now.zip.partial", "being written");
  write_file(backups / "scheduled" / "shelfjobs_backup_v1_done.zip", "complete");
  age(backups / "scheduled" / "shelfjobs_backup_v1_done.zip", std::chrono::hours(48));
  write_file(covers / std::to_string(lib.author) / "poster.jpg", kJpeg);
  write_file(covers / std::to_string(lib.author) / "fanart.jpg", "<html>an error page</html>");
  write_file(covers / "999" / "poster.jpg", kJpeg);

  HousekeepingOptions o;
  o.catalog = lib.catalog;
  o.acquisition = lib.store;
  o.logs.push_back({"log table", [table](TimePoint cutoff) -> Result<std::int64_t> {
                      const auto before = table->size();
                      std::erase_if(*table, [&](TimePoint t) { return t < cutoff; });
                      return static_cast<std::int64_t>(before - table->size());
                    }});
  o.logs.push_back(rotated_log_files(logs, "app.", ".log", "app.log"));
  o.temp_folders = {tmp};
  o.backup_folder = backups;
  o.cover_folder = covers;
  o.databases = {lib.catalog_path};
  o.maintenance.wait_for_writers = 5s;
  auto hk = make(o);

  TempDir engine_dir;
  ServiceHost::Builder builder(host_options(engine_dir));
  builder.add(hk);
  auto host = builder.build();
  REQUIRE(host.has_value());
  (*host)->start();

  const auto report = hk->run();
  INFO(report.message());
  CHECK(report.failed() == 0);
  REQUIRE(report.tasks.size() == 7);
  CHECK(report.tasks[0].name == "prune");
  CHECK(report.tasks[6].name == "databases");

  // Logs: rows and the rotated file past 7 days went; the current file stays however old.
  CHECK(table->size() == 1);
  CHECK_FALSE(fs::exists(logs / "app.2.log"));
  CHECK(fs::exists(logs / "app.1.log"));
  CHECK(fs::exists(logs / "app.log"));
  CHECK_THAT(task(report, "logs").message, Catch::Contains("log table 2") && Catch::Contains("log files 1"));

  // Orphaned rows: the lost book, edition, series and the dead indexer's status went; the file
  // row stays, unlinked; acquisition rows of the gone author and book went, the live ones stay.
  CHECK_FALSE(lib.catalog->book(900).has_value());
  CHECK(lib.catalog->book(lib.book).has_value());
  CHECK_FALSE(lib.catalog->series(77).has_value());
  auto lost_file = lib.catalog->file_by_path("/gone/file.epub");
  REQUIRE(lost_file.has_value());
  CHECK_FALSE(lost_file->book_id);
  auto history = lib.store->history({.page = 1, .page_size = 50}).value();
  REQUIRE(history.records.size() == 1);
  CHECK(history.records[0].source_title == "Ancillary.Justice");
  CHECK(lib.store->blocklist(1, 50).value().records.empty());
  CHECK(lib.store->pending().value().empty());
  CHECK(lib.store->provider_statuses(ProviderKind::indexer).value().empty());
  CHECK_THAT(task(report, "orphaned rows").message, Catch::Contains("1 books") &&
                                                        Catch::Contains("1 history rows") &&
                                                        Catch::Contains("1 blocklist"));

  // Files: the old temporary folder and the old partial backup went; the fresh ones, the
  // finished backup, the live author's image cover stay; the dead author's folder and the
  // cover that is not an image went.
  CHECK_FALSE(fs::exists(tmp / "old-unpack"));
  CHECK(fs::exists(tmp / "fresh-unpack" / "b.epub"));
  CHECK_FALSE(fs::exists(backups / "scheduled" / "shelfjobs_backup_v1_old.zip.partial"));
  CHECK(fs::exists(backups / "scheduled" / "shelfjobs_backup_v1_now.zip.partial"));
  CHECK(fs::exists(backups / "scheduled" / "shelfjobs_backup_v1_done.zip"));
  CHECK(fs::exists(covers / std::to_string(lib.author) / "poster.jpg"));
  CHECK_FALSE(fs::exists(covers / std::to_string(lib.author) / "fanart.jpg"));
  CHECK_FALSE(fs::exists(covers / "999"));

  // Databases: the job store and the catalog, each checked sound.
  REQUIRE(report.databases.size() == 2);
  for (const auto& d : report.databases) {
    CHECK(d.integrity_checked);
    CHECK(d.integrity_ok);
    CHECK(d.optimized);
    CHECK(d.checkpointed);
  }
  CHECK(hk->last_report().has_value());
  CHECK((*host)->context().check_health().empty());
  (*host)->stop();
}

TEST_CASE("a task failing in the middle is recorded and the others still run", "[services][housekeeping]") {
  Library lib;
  lib.seed_orphans();
  HousekeepingOptions o;
  o.catalog = lib.catalog;
  o.acquisition = lib.store;
  o.logs.push_back({"broken table", [](TimePoint) -> Result<std::int64_t> {
                      return Error{errc::store_error, "disk I/O error"};
                    }});
  o.logs.push_back(
      {"throwing table", [](TimePoint) -> Result<std::int64_t> { throw std::runtime_error("sink gone"); }});
  o.databases = {lib.catalog_path};
  auto hk = make(o);
  TempDir engine_dir;
  ServiceHost::Builder builder(host_options(engine_dir));
  builder.add(hk);
  auto host = builder.build();
  REQUIRE(host.has_value());
  (*host)->start();

  auto pushed = (*host)->engine().push(Housekeeping{});
  REQUIRE(pushed.has_value());
  REQUIRE((*host)->engine().wait_idle(30s));
  const auto job = (*host)->engine().get(pushed->job.id);
  REQUIRE(job.has_value());
  // One task failed: the job still completes, and its message names the failure.
  CHECK(job->status == JobStatus::completed);
  CHECK_THAT(job->message, Catch::Contains("logs FAILED") && Catch::Contains("disk I/O error") &&
                               Catch::Contains("sink gone") && Catch::Contains("1 of 7 tasks failed"));
  const auto report = hk->last_report().value();
  CHECK_FALSE(task(report, "logs").ok);
  for (const char* later : {"orphaned rows", "orphaned files", "future times", "permissions", "databases"})
    CHECK(task(report, later).ok);
  CHECK_FALSE(lib.catalog->book(900).has_value());  // the task after the failure did its work
  (*host)->stop();
}

TEST_CASE("Housekeeping is a daily low-priority idle-only job that waits for other work",
          "[services][housekeeping]") {
  auto hk = make({});
  auto hold = std::make_shared<HoldService>();
  TempDir dir;
  ServiceHost::Builder builder(host_options(dir));
  builder.add(hk);
  builder.add(hold);
  auto host = builder.build();
  REQUIRE(host.has_value());
  auto& engine = (*host)->engine();
  const auto* traits = engine.registry().find("Housekeeping");
  REQUIRE(traits != nullptr);
  CHECK(traits->traits.idle_only);
  CHECK(traits->traits.priority == Priority::low);
  const auto tasks = engine.tasks();
  const auto it =
      std::find_if(tasks.begin(), tasks.end(), [](const TaskInfo& t) { return t.name == "Housekeeping"; });
  REQUIRE(it != tasks.end());
  CHECK(it->interval == std::chrono::hours(24));
  (*host)->start();

  REQUIRE(engine.push(Hold{}).has_value());
  REQUIRE(eventually([&] { return hold->started.load(); }));
  auto pushed = engine.push(Housekeeping{});
  REQUIRE(pushed.has_value());
  // With a job running, housekeeping stays queued (two workers: one is free all along).
  std::this_thread::sleep_for(100ms);
  CHECK(engine.get(pushed->job.id)->status == JobStatus::queued);
  hold->release = true;
  REQUIRE(engine.wait_idle(30s));
  CHECK(engine.get(pushed->job.id)->status == JobStatus::completed);
  (*host)->stop();
}

TEST_CASE("a pinned time of day applies to the Housekeeping task", "[services][housekeeping]") {
  TempDir dir;
  auto o = host_options(dir);
  o.tasks["Housekeeping"].time_of_day = std::chrono::minutes(3 * 60 + 30);
  ServiceHost::Builder builder(std::move(o));
  builder.add(make({}));
  auto host = builder.build();
  REQUIRE(host.has_value());
  for (const auto& t : (*host)->engine().tasks())
    if (t.name == "Housekeeping") CHECK(t.time_of_day == std::chrono::minutes(3 * 60 + 30));
}

TEST_CASE("times in the future are clamped to now, by their own units", "[services][housekeeping]") {
  Library lib;
  auto clock = std::make_shared<ManualClock>(std::chrono::system_clock::now());
  const TimePoint ahead = clock->now() + std::chrono::hours(24 * 30);
  // Provider status written while the clock was a month ahead.
  ProviderStatus st;
  st.kind = ProviderKind::indexer;
  st.provider_id = lib.indexer;
  st.escalation_level = 3;
  st.initial_failure = ahead;
  st.most_recent_failure = ahead;
  st.disabled_till = ahead + std::chrono::hours(1);
  REQUIRE(lib.store->put_provider_status(st).has_value());

  HousekeepingOptions o;
  o.acquisition = lib.store;
  o.clock = clock;
  auto hk = make(o);
  TempDir dir;
  ServiceHost::Builder builder(host_options(dir, clock));
  builder.add(hk);
  auto host = builder.build();
  REQUIRE(host.has_value());
  (*host)->start();
  // Run the task while the clock is a month ahead, then set the clock back.
  clock->set(ahead);
  REQUIRE((*host)->engine().run_task_now("Housekeeping").has_value());
  REQUIRE((*host)->engine().wait_idle(30s));
  const TimePoint now = ahead - std::chrono::hours(24 * 30);
  clock->set(now);

  const auto report = hk->run();
  INFO(report.message());
  CHECK(task(report, "future times").ok);
  CHECK_THAT(task(report, "future times").message,
             Catch::Contains("Housekeeping") && Catch::Contains("1 provider"));
  for (const auto& t : (*host)->engine().tasks()) {
    if (t.name != "Housekeeping") continue;
    REQUIRE(t.last_start.has_value());
    CHECK(*t.last_start == now);
    REQUIRE(t.next_due.has_value());
    CHECK(*t.next_due > now);
    CHECK(*t.next_due <= now + std::chrono::hours(24));
  }
  const auto clamped = lib.store->provider_status(ProviderKind::indexer, lib.indexer).value().value();
  CHECK(std::chrono::floor<std::chrono::milliseconds>(*clamped.initial_failure) ==
        std::chrono::floor<std::chrono::milliseconds>(now));
  CHECK(std::chrono::floor<std::chrono::milliseconds>(*clamped.most_recent_failure) ==
        std::chrono::floor<std::chrono::milliseconds>(now));
  CHECK(std::chrono::floor<std::chrono::milliseconds>(*clamped.disabled_till) ==
        std::chrono::floor<std::chrono::milliseconds>(now + std::chrono::hours(24)));
  CHECK(clamped.escalation_level == 3);
  (*host)->stop();
}

TEST_CASE("permissions are set under the root folders and never follow a symlink out of them",
          "[services][housekeeping][permissions]") {
  Library lib;
  const fs::path outside = lib.dir.path() / "outside";
  write_file(outside / "secret.txt", "keep my mode");
  fs::permissions(outside / "secret.txt", fs::perms(0600), fs::perm_options::replace);
  fs::permissions(outside, fs::perms(0700), fs::perm_options::replace);
  const fs::path author = lib.root / "Ann Leckie";
  write_file(author / "Ancillary Justice" / "book.epub", "epub");
  fs::permissions(author / "Ancillary Justice" / "book.epub", fs::perms(0600), fs::perm_options::replace);
  fs::permissions(author / "Ancillary Justice", fs::perms(0700), fs::perm_options::replace);
  fs::create_symlink(outside / "secret.txt", author / "link-to-file");
  fs::create_directory_symlink(outside, author / "link-to-folder");

  HousekeepingOptions o;
  o.catalog = lib.catalog;
  o.permissions = {.enabled = true, .file_mode = 0664, .folder_mode = 0775};
  auto hk = make(o);
  const auto report = hk->run();  // no host: the engine's tasks fail, permissions still run
  const auto& perms = task(report, "permissions");
  INFO(perms.message);
  CHECK(perms.ok);
  CHECK_THAT(perms.message, Catch::Contains(lib.root.string()) && Catch::Contains("2 symlinks skipped"));
  CHECK(mode_of(author / "Ancillary Justice" / "book.epub") == 0664);
  CHECK(mode_of(author / "Ancillary Justice") == 0775);
  CHECK(mode_of(outside / "secret.txt") == 0600);
  CHECK(mode_of(outside) == 0700);
  CHECK_FALSE(task(report, "prune").ok);  // the tasks that need a host say so
  CHECK_THAT(task(report, "prune").message, Catch::Contains("no host"));
}

TEST_CASE("housekeeping options out of range are refused by name", "[services][housekeeping]") {
  HousekeepingOptions o;
  o.log_retention = std::chrono::hours(2);
  auto r = HousekeepingService::create(o);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == errc::invalid_argument);
  CHECK_THAT(r.error().message, Catch::Contains("log_retention"));
  HousekeepingOptions m;
  m.permissions.file_mode = 010000;
  CHECK_FALSE(HousekeepingService::create(m).has_value());
  HousekeepingOptions l;
  l.logs.push_back({"", nullptr});
  CHECK_FALSE(HousekeepingService::create(l).has_value());
}

TEST_CASE("an empty catalog never empties acquisition's rows or the covers", "[services][housekeeping]") {
  TempDir dir;
  const auto path = dir.path() / "catalog.db";
  auto catalog = open_sqlite_catalog({.path = path}).value();
  auto store = open_sqlite_acquisition_store({.path = path}).value();
  HistoryEntry h;
  h.author_id = 5;
  h.source_title = "Somebody.Release";
  store->add_history(h).value();
  write_file(dir.path() / "covers" / "5" / "poster.jpg", kJpeg);
  HousekeepingOptions o;
  o.catalog = catalog;
  o.acquisition = store;
  o.cover_folder = dir.path() / "covers";
  auto report = make(o)->run();
  CHECK(task(report, "orphaned rows").ok);
  CHECK_THAT(task(report, "orphaned rows").message, Catch::Contains("left alone"));
  CHECK(store->history({.page = 1, .page_size = 10}).value().records.size() == 1);
  CHECK(fs::exists(dir.path() / "covers" / "5" / "poster.jpg"));
}

}  // namespace housekeeping_test

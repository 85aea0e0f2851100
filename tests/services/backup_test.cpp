// SPDX-License-Identifier: MIT
// The backup service on real files: a backup's zip and manifest, restore round trips that compare
// every table, backups under concurrent writes and while jobs run, retention, every way a restore
// refuses an archive (with the live data untouched), a restore that fails halfway rolling back,
// a full disk during a backup and a backup killed with SIGKILL leaving nothing listed.

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>

#include <atomic>
#include <fstream>
#include <random>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include "shelfjobs/engine/sqlite_job_store.hpp"
#include "shelfjobs/services/backup.hpp"
#include "shelfjobs/services/tasks.hpp"
#include "test_support.hpp"

using namespace shelfjobs;
using namespace testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using nlohmann::json;

namespace backup_test {

// A WAL database with one table of `rows` rows of `bytes` random bytes each.
void make_db(const fs::path& path, int rows, int bytes = 64) {
  SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
  SQLite::Transaction tx(db);
  SQLite::Statement ins(db, "INSERT INTO t (body) VALUES (randomblob(?))");
  for (int i = 0; i < rows; ++i) {
    ins.bind(1, bytes);
    ins.exec();
    ins.reset();
  }
  tx.commit();
}

// Every table's rows, in a stable order, as text: two files with the same dump hold the same data.
std::string dump(const fs::path& path) {
  SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
  std::string out;
  SQLite::Statement tables(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
  while (tables.executeStep()) {
    const std::string t = tables.getColumn(0).getString();
    out += "table " + t + "\n";
    SQLite::Statement rows(db, "SELECT * FROM \"" + t + "\" ORDER BY 1");
    while (rows.executeStep()) {
      for (int c = 0; c < rows.getColumnCount(); ++c) out += rows.getColumn(c).getString() + "|";
      out += "\n";
    }
  }
  return out;
}

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::shared_ptr<BackupService> make_service(BackupOptions o) {
  auto s = BackupService::create(std::move(o));
  REQUIRE(s);
  return *s;
}

// A started host running `services` on an engine with `engine` options.
std::unique_ptr<ServiceHost> started_host(EngineOptions engine,
                                          std::vector<std::shared_ptr<Service>> services) {
  ServiceHostOptions ho;
  ho.engine = std::move(engine);
  ServiceHost::Builder builder(std::move(ho));
  for (auto& s : services) builder.add(std::move(s));
  auto host = builder.build();
  REQUIRE(host);
  (*host)->start();
  return std::move(*host);
}

// A zip written with libzip directly, so a test can make archives the service never would.
struct RawEntry {
  std::string name;
  std::string bytes;
  std::uint32_t unix_mode = 0;  // 0: libzip's default attributes
};
void write_raw_zip(const fs::path& path, const std::vector<RawEntry>& entries) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  REQUIRE(z);
  for (const auto& e : entries) {
    zip_source_t* src = zip_source_buffer(z, e.bytes.data(), e.bytes.size(), 0);
    const zip_int64_t i = zip_file_add(z, e.name.c_str(), src, ZIP_FL_ENC_UTF_8);
    REQUIRE(i >= 0);
    if (e.unix_mode)
      zip_file_set_external_attributes(z, static_cast<zip_uint64_t>(i), 0, ZIP_OPSYS_UNIX, e.unix_mode << 16);
  }
  REQUIRE(zip_close(z) == 0);
}

std::string sha_of(const std::string& bytes, const TempDir& dir) {
  const fs::path p = dir.path() / "sha-input";
  std::ofstream(p, std::ios::binary) << bytes;
  auto sum = sha256_file(p);
  REQUIRE(sum);
  fs::remove(p);
  return *sum;
}

json manifest_for(const std::vector<RawEntry>& entries, const TempDir& dir) {
  json list = json::array();
  for (const auto& e : entries)
    list.push_back({{"name", e.name},
                    {"kind", e.name.ends_with(".db") ? "database" : "config"},
                    {"size", e.bytes.size()},
                    {"sha256", sha_of(e.bytes, dir)}});
  return {{"format", "shelfjobs-backup"},
          {"formatVersion", 1},
          {"version", "0.1.0"},
          {"type", "manual"},
          {"entries", list}};
}

// `entries` and a manifest that lists them (as `change` leaves it) in a zip at `path`; `extra`
// entries go in unlisted.
void write_backup_zip(const fs::path& path, const std::vector<RawEntry>& entries, const TempDir& dir,
                      const std::function<void(json&)>& change = {},
                      const std::vector<RawEntry>& extra = {}) {
  json m = manifest_for(entries, dir);
  if (change) change(m);
  std::vector<RawEntry> all = entries;
  all.insert(all.end(), extra.begin(), extra.end());
  all.push_back({"manifest.json", m.dump()});
  write_raw_zip(path, all);
}

struct Fixture {
  TempDir dir;
  fs::path live = dir.path() / "data" / "catalog.db";
  fs::path config = dir.path() / "data" / "shelfd.json";
  fs::path backups = dir.path() / "backups";
  Fixture() {
    fs::create_directories(live.parent_path());
    make_db(live, 50);
    std::ofstream(config) << R"({"port": 8787})";
  }
  BackupOptions options() const {
    BackupOptions o;
    o.folder = backups;
    o.databases = {{"catalog.db", live}};
    o.config_files = {config};
    o.version = "1.2.3";
    return o;
  }
};

TEST_CASE("a backup is a private zip with a manifest of every entry", "[backup]") {
  Fixture f;
  auto svc = make_service(f.options());
  auto made = svc->backup(BackupType::manual);
  REQUIRE(made);
  CHECK(made->path.parent_path() == f.backups / "manual");
  CHECK(made->name.starts_with("shelfjobs_backup_v1.2.3_"));
  CHECK(made->name.ends_with(".zip"));
  CHECK(made->name.size() == std::string("shelfjobs_backup_v1.2.3_2026.12.02_12.00.00.zip").size());
  struct stat st {};
  REQUIRE(::stat(made->path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat((f.backups / "manual").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);

  auto text = read_archive_entry(made->path, "manifest.json", 1 << 20);
  REQUIRE(text);
  const json m = json::parse(*text);
  CHECK(m["format"] == "shelfjobs-backup");
  CHECK(m["type"] == "manual");
  CHECK(m["version"] == "1.2.3");
  REQUIRE(m["entries"].size() == 2);
  CHECK(m["entries"][0]["name"] == "catalog.db");
  CHECK(m["entries"][0]["kind"] == "database");
  CHECK(m["entries"][0]["sha256"].get<std::string>().size() == 64);
  CHECK(m["entries"][1]["name"] == "config/shelfd.json");

  // Listed once, by a stable id; nothing of the work left beside it.
  auto all = svc->list();
  REQUIRE(all.size() == 1);
  CHECK(all[0].id == made->id);
  CHECK(svc->find(made->id)->name == made->name);
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(f.backups)) files += e.is_regular_file() ? 1 : 0;
  CHECK(files == 1);

  json j = *made;
  CHECK(j["path"] == "/backup/manual/" + made->name);
  CHECK(j["type"] == "manual");

  REQUIRE(svc->remove(made->id));
  CHECK(svc->list().empty());
  CHECK(svc->remove(made->id).error().code == errc::not_found);
}

TEST_CASE("a restore puts back every table and the config, with a safety copy", "[backup]") {
  Fixture f;
  const std::string before = dump(f.live);
  auto svc = make_service(f.options());
  auto made = svc->backup(BackupType::manual);
  REQUIRE(made);

  // The data change after the backup.
  make_db(f.live, 20);
  std::ofstream(f.config) << R"({"port": 9999})";
  const std::string changed = dump(f.live);
  REQUIRE(changed != before);

  auto prepared = svc->prepare_restore(made->path);
  REQUIRE(prepared);
  CHECK(prepared->files.size() == 2);
  CHECK(dump(f.live) == changed);  // checking changes nothing
  auto report = svc->apply_restore(*prepared);
  REQUIRE(report);
  CHECK(report->restored.size() == 2);
  CHECK(dump(f.live) == before);
  CHECK(file_bytes(f.config) == R"({"port": 8787})");
  // The data as they were before the restore are kept beside the live files.
  CHECK(dump(f.live.string() + ".pre-restore") == changed);
  CHECK(file_bytes(f.config.string() + ".pre-restore") == R"({"port": 9999})");

  // And a host whose reopen failed puts them back.
  REQUIRE(svc->roll_back(*report));
  CHECK(dump(f.live) == changed);
  CHECK(file_bytes(f.config) == R"({"port": 9999})");
}

TEST_CASE("a restore that fails halfway leaves every file as it was", "[backup]") {
  Fixture f;
  auto svc = make_service(f.options());
  auto made = svc->backup(BackupType::manual);
  REQUIRE(made);
  make_db(f.live, 5);
  const std::string changed = dump(f.live);

  // The same backup restored by a host whose config file lives under a path that cannot be a
  // folder: the catalog is swapped first, then the config's move fails.
  const fs::path blocker = f.dir.path() / "blocker";
  std::ofstream(blocker) << "a file, not a folder";
  BackupOptions o = f.options();
  o.config_files = {blocker / "shelfd.json"};
  auto other = make_service(o);
  auto prepared = other->prepare_restore(made->path);
  REQUIRE(prepared);
  auto report = other->apply_restore(*prepared);
  REQUIRE_FALSE(report);
  CHECK(report.error().code == errc::unavailable);
  CHECK_THAT(report.error().message, Catch::Contains("every file is as it was"));
  CHECK(dump(f.live) == changed);
  CHECK_FALSE(fs::exists(f.live.string() + ".pre-restore"));
}

TEST_CASE("a backup taken while another connection writes is consistent", "[backup][concurrency]") {
  Fixture f;
  auto svc = make_service(f.options());
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    SQLite::Database db(f.live.string(), SQLite::OPEN_READWRITE);
    db.exec("PRAGMA busy_timeout=5000");
    while (!stop) {
      db.exec("INSERT INTO t (body) VALUES (randomblob(64))");
      ++written;
    }
  });
  while (written < 50) std::this_thread::yield();
  std::vector<BackupFile> made;
  for (int i = 0; i < 3; ++i) {
    auto b = svc->backup(BackupType::manual);
    REQUIRE(b);
    made.push_back(*b);
  }
  stop = true;
  writer.join();
  // Each backup restores to an intact database holding a prefix of the writes.
  for (const auto& b : made) {
    auto prepared = svc->prepare_restore(b.path);
    REQUIRE(prepared);  // integrity_check of the copy passed
    const fs::path staged = prepared->files[0].first;
    SQLite::Database db(staged.string(), SQLite::OPEN_READONLY);
    const auto rows = db.execAndGet("SELECT COUNT(*) FROM t").getInt64();
    CHECK(rows >= 100);
    CHECK(rows <= 50 + written.load());
  }
}

struct Tick : Command {
  static constexpr std::string_view kName = "Tick";
  int n = 0;
};
void to_json(json& j, const Tick& t) { j = {{"n", t.n}}; }
void from_json(const json& j, Tick& t) { t.n = j.value("n", 0); }

// A service of no-op jobs, to keep the engine busy beside the backup.
class TickService : public Service {
 public:
  std::atomic<int> done{0};
  std::string_view name() const override { return "ticks"; }
  void register_commands(Registry& registry, ServiceContext&) override {
    registry.add<Tick>([this](const Tick&, JobContext&) { ++done; });
  }
};

TEST_CASE("jobs keep completing while a backup of their store runs", "[backup][concurrency]") {
  TempDir dir;
  BackupOptions o;
  o.folder = dir.path() / "backups";
  o.job_store = dir.path() / "jobs.db";
  const fs::path big = dir.path() / "big.db";
  make_db(big, 4000, 1024);  // a few MB: the backup takes a while
  o.databases = {{"big.db", big}};
  auto svc = make_service(o);
  auto ticks = std::make_shared<TickService>();
  auto host = started_host({.store_path = o.job_store.string(), .workers = 2, .logger = quiet_logger()},
                           {svc, ticks});
  auto& engine = host->engine();
  auto pushed = engine.push(Backup{});
  REQUIRE(pushed);
  const JobId id = pushed->job.id;
  // Ticks done between the first and the last time the backup was seen running.
  int first_seen = -1, last_seen = -1;
  for (int i = 0; i < 20000; ++i) {
    auto info = engine.get(id);
    if (info && is_terminal(info->status)) break;
    if (info && info->status == JobStatus::executing) {
      if (first_seen < 0) first_seen = ticks->done;
      last_seen = ticks->done;
    }
    REQUIRE(engine.push(Tick{.n = i}));
    std::this_thread::sleep_for(100us);
  }
  REQUIRE(engine.wait_idle(30s));
  auto info = engine.get(id);
  REQUIRE(info);
  CHECK(info->status == JobStatus::completed);
  CHECK_THAT(info->message, Catch::Contains("Backup shelfjobs_backup_v"));
  CHECK(last_seen > first_seen);
  host->stop();
  auto all = svc->list();
  REQUIRE(all.size() == 1);
  CHECK(all[0].type == BackupType::manual);  // pushed by hand, no type: manual, as in Readarr
  auto text = read_archive_entry(all[0].path, "manifest.json", 1 << 20);
  REQUIRE(text);
  CHECK(json::parse(*text)["entries"][0]["name"] == "jobs.db");
  CHECK(json::parse(*text)["entries"][0]["schemas"]["jobs"] == job_store_schema_version());
}

// The job store holds writes nobody waits for (a job's start among them) for a while before it
// commits them; here for an hour, so only the handler's flush can put the start in the file.
TEST_CASE("a backup's copy of the job store shows its own Backup job running, not queued", "[backup]") {
  Fixture f;
  BackupOptions o = f.options();
  o.job_store = f.dir.path() / "jobs.db";
  auto svc = make_service(o);
  auto store = open_sqlite_job_store(
      {.path = o.job_store.string(), .commit_linger = std::chrono::hours(1), .logger = quiet_logger()});
  REQUIRE(store);
  auto host = started_host(
      {.store = std::shared_ptr<JobStore>(std::move(*store)), .workers = 1, .logger = quiet_logger()}, {svc});
  auto& engine = host->engine();
  auto pushed = engine.push(Backup{});  // durable: its insert is committed before push returns
  REQUIRE(pushed);
  REQUIRE(engine.wait_idle(30s));
  auto info = engine.get(pushed->job.id);
  REQUIRE(info);
  REQUIRE(info->status == JobStatus::completed);
  host->stop();

  auto all = svc->list();
  REQUIRE(all.size() == 1);
  auto copy = read_archive_entry(all[0].path, "jobs.db", 64 << 20);
  REQUIRE(copy);
  const fs::path copied = f.dir.path() / "copied_jobs.db";
  std::ofstream(copied, std::ios::binary) << *copy;
  SQLite::Database db(copied.string(), SQLite::OPEN_READWRITE);
  SQLite::Statement q(db, "SELECT status FROM jobs WHERE id = ?");
  q.bind(1, static_cast<std::int64_t>(pushed->job.id));
  REQUIRE(q.executeStep());
  // Queued would make a restore of this backup run the backup again; executing is recovered as
  // interrupted (the Backup type is not rescued after a restart).
  CHECK(q.getColumn(0).getInt() == static_cast<int>(JobStatus::executing));
}

TEST_CASE("a Backup job's type follows its trigger unless the body names one", "[backup]") {
  Fixture f;
  auto svc = make_service(f.options());
  auto host =
      started_host({.store_path = f.dir.file("jobs.db"), .workers = 1, .logger = quiet_logger()}, {svc});
  auto& engine = host->engine();
  REQUIRE(engine.push(Backup{}, {.trigger = Trigger::scheduled}));
  REQUIRE(engine.wait_idle(30s));
  REQUIRE(engine.push(Backup{.type = BackupType::update}, {.trigger = Trigger::scheduled}));
  REQUIRE(engine.wait_idle(30s));
  REQUIRE(engine.run_task_now("Backup"));
  REQUIRE(engine.wait_idle(30s));
  host->stop();
  std::map<BackupType, int> by_type;
  for (const auto& b : svc->list()) ++by_type[b.type];
  CHECK(by_type[BackupType::scheduled] == 1);
  CHECK(by_type[BackupType::update] == 1);
  CHECK(by_type[BackupType::manual] == 1);  // "run now" is a manual run
}

TEST_CASE("retention deletes old scheduled backups and keeps manual ones", "[backup]") {
  Fixture f;
  BackupOptions o = f.options();
  o.retention = 24h * 7;
  o.manual_limit = 2;
  auto svc = make_service(o);
  auto old_scheduled = svc->backup(BackupType::scheduled);
  auto manual1 = svc->backup(BackupType::manual);
  REQUIRE(old_scheduled);
  REQUIRE(manual1);
  const auto long_ago = fs::file_time_type::clock::now() - 24h * 10;
  fs::last_write_time(old_scheduled->path, long_ago);
  fs::last_write_time(manual1->path, long_ago);
  auto recent = svc->backup(BackupType::scheduled);
  REQUIRE(recent);
  CHECK_FALSE(fs::exists(old_scheduled->path));
  CHECK(fs::exists(recent->path));
  CHECK(fs::exists(manual1->path));  // manual backups are not aged out
  // Two more manual backups: the limit of 2 drops the oldest.
  REQUIRE(svc->backup(BackupType::manual));
  REQUIRE(svc->backup(BackupType::manual));
  CHECK_FALSE(fs::exists(manual1->path));
  std::size_t manual = 0;
  for (const auto& b : svc->list()) manual += b.type == BackupType::manual ? 1 : 0;
  CHECK(manual == 2);
}

TEST_CASE("the Backup command reads Readarr's types and refuses others", "[backup]") {
  Backup c;
  from_json(json{{"type", "Scheduled"}}, c);
  CHECK(c.type == BackupType::scheduled);
  from_json(json{{"type", 2}}, c);
  CHECK(c.type == BackupType::update);
  from_json(json::object(), c);
  CHECK_FALSE(c.type.has_value());
  CHECK_THROWS_AS(from_json(json{{"type", "weekly"}}, c), std::invalid_argument);
  CHECK_THROWS_AS(from_json(json{{"type", 7}}, c), std::invalid_argument);
  Fixture f;
  auto svc = make_service(f.options());
  auto tasks = svc->tasks();
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].name == "Backup");
  CHECK(tasks[0].schedule.interval == 24h * 7);

  BackupOptions bad = f.options();
  bad.retention = 24h * 91;
  CHECK(BackupService::create(bad).error().code == errc::invalid_argument);
  bad = f.options();
  bad.databases.push_back({"catalog.db", f.live});
  CHECK(BackupService::create(bad).error().code == errc::invalid_argument);
}

TEST_CASE("a restore refuses a bad archive and leaves the live data untouched", "[backup]") {
  Fixture f;
  auto svc = make_service(f.options());
  const std::string live_bytes = file_bytes(f.live);
  const fs::path zip = f.dir.path() / "upload.zip";
  std::string db_bytes = file_bytes(f.live);
  auto refused = [&](const std::string& expect) {
    auto r = svc->prepare_restore(zip);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::bad_file);
    CHECK_THAT(r.error().message, Catch::Contains(expect));
    CHECK(file_bytes(f.live) == live_bytes);
    // Nothing staged is left behind.
    std::size_t leftovers = 0;
    std::error_code ec;
    for (fs::directory_iterator it(f.backups, ec), end; !ec && it != end; it.increment(ec))
      leftovers += it->path().extension() == ".tmp" ? 1 : 0;
    CHECK(leftovers == 0);
  };

  SECTION("an entry that climbs out with ../") {
    write_backup_zip(zip, {{"../evil.db", db_bytes}}, f.dir);
    refused("'..'");
  }
  SECTION("an absolute path") {
    write_backup_zip(zip, {{"/etc/evil", "x"}}, f.dir);
    refused("absolute");
  }
  SECTION("a symbolic link") {
    write_backup_zip(zip, {{"catalog.db", "/etc/passwd", S_IFLNK | 0777}}, f.dir);
    refused("symbolic link");
  }
  SECTION("a zip bomb") {
    BackupOptions o = f.options();
    o.restore_limits.max_entry_bytes = 1 << 20;
    svc = make_service(o);
    write_backup_zip(zip, {{"catalog.db", std::string(64 << 20, '\0')}}, f.dir);
    CHECK(fs::file_size(zip) < (1 << 20));  // small on disk
    refused("over the limit");
  }
  SECTION("a wrong checksum") {
    write_backup_zip(zip, {{"catalog.db", db_bytes}}, f.dir,
                     [](json& m) { m["entries"][0]["sha256"] = std::string(64, '0'); });
    refused("checksum");
  }
  SECTION("an entry the manifest does not list") {
    write_backup_zip(zip, {{"catalog.db", db_bytes}}, f.dir, {}, {{"extra.db", "x"}});
    refused("not in the manifest");
  }
  SECTION("a corrupt database") {
    std::string broken = db_bytes;
    for (std::size_t i = 100; i < broken.size(); i += 7) broken[i] = static_cast<char>(broken[i] ^ 0x5a);
    write_backup_zip(zip, {{"catalog.db", broken}}, f.dir);
    refused("integrity check failed");
  }
  SECTION("a schema newer than this build reads") {
    const fs::path newer = f.dir.path() / "newer.db";
    make_db(newer, 3);
    {
      SQLite::Database db(newer.string(), SQLite::OPEN_READWRITE);
      db.exec("CREATE TABLE shelfjobs_schema (name TEXT PRIMARY KEY, version INTEGER NOT NULL)");
      db.exec("INSERT INTO shelfjobs_schema VALUES ('catalog', 999)");
      db.exec("PRAGMA journal_mode=DELETE");
    }
    write_backup_zip(zip, {{"catalog.db", file_bytes(newer)}}, f.dir);
    refused("newer than this build reads");
  }
  SECTION("a file that is not a zip") {
    std::ofstream(zip) << "PK? no, just text";
    refused("not a readable zip archive");
  }
  SECTION("a zip that is not a backup") {
    write_raw_zip(zip, {{"readme.txt", "hello"}});
    refused("no manifest.json");
  }
  SECTION("a manifest of another format") {
    write_raw_zip(zip, {{"manifest.json", R"({"format": "other"})"}});
    refused("not a shelfjobs backup manifest");
  }
  CHECK(svc->prepare_restore(f.dir.path() / "missing.zip").error().code == errc::not_found);
}

// Runs `body` in a child process and returns its exit status; the child's message (written to
// the pipe) comes back in `message`.
int in_child(const std::function<int(int fd)>& body, std::string& message, int kill_after_ms = -1,
             const std::function<bool()>& kill_when = {}) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    ::_exit(body(fds[1]));
  }
  ::close(fds[1]);
  if (kill_when) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!kill_when() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    if (kill_after_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(kill_after_ms));
    ::kill(pid, SIGKILL);
  }
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) message.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

TEST_CASE("a full disk during a backup fails it and leaves no file", "[backup]") {
  TempDir dir;
  // Two databases of 1.5 MB of random bytes: each copy fits under the 2 MB file-size limit,
  // the zip of both does not, so the failure comes while the zip is written.
  const fs::path a = dir.path() / "a.db", b = dir.path() / "b.db";
  make_db(a, 1500, 1000);
  make_db(b, 1500, 1000);
  BackupOptions o;
  o.folder = dir.path() / "backups";
  o.databases = {{"a.db", a}, {"b.db", b}};
  o.compression_level = 1;
  auto svc = make_service(o);
  std::string message;
  const int status = in_child(
      [&](int fd) {
        // The file-size limit makes write() fail with EFBIG past 2 MB, as a full disk fails it
        // with ENOSPC; the signal that would kill the process is ignored, as shelfd does.
        ::signal(SIGXFSZ, SIG_IGN);
        rlimit lim{2 << 20, 2 << 20};
        ::setrlimit(RLIMIT_FSIZE, &lim);
        auto r = svc->backup(BackupType::manual);
        const std::string m = r ? "made " + r->name : r.error().message;
        (void)!::write(fd, m.data(), m.size());
        return r ? 1 : 0;
      },
      message);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  INFO(message);
  CHECK_THAT(message, Catch::Contains("cannot write"));
  std::size_t files = 0;
  for (const auto& e : fs::recursive_directory_iterator(o.folder)) {
    INFO(e.path().string());
    CHECK_FALSE(e.is_regular_file());
    files += e.is_regular_file() ? 1 : 0;
  }
  CHECK(files == 0);
  CHECK(svc->list().empty());
}

TEST_CASE("a backup killed with SIGKILL leaves no listed backup", "[backup]") {
  TempDir dir;
  const fs::path a = dir.path() / "a.db";
  make_db(a, 20000, 1000);  // ~20 MB of random bytes: the zip takes a while to write
  BackupOptions o;
  o.folder = dir.path() / "backups";
  o.databases = {{"a.db", a}};
  auto svc = make_service(o);
  std::string message;
  auto partial_exists = [&] {
    std::error_code ec;
    for (fs::recursive_directory_iterator it(o.folder, ec), end; !ec && it != end; it.increment(ec))
      if (it->path().string().find(".partial") != std::string::npos) return true;
    return false;
  };
  const int status = in_child(
      [&](int) {
        auto r = svc->backup(BackupType::manual);
        return r ? 0 : 1;
      },
      message, 20, partial_exists);
  CHECK(WIFSIGNALED(status));
  CHECK(svc->list().empty());
  // What the killed process left is named as unfinished work, which housekeeping removes.
  for (const auto& e : fs::recursive_directory_iterator(o.folder)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && e.path().parent_path().extension() != ".tmp")
      CHECK(name.find(".partial") != std::string::npos);
  }
}

}  // namespace backup_test

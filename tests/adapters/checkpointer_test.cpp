// SPDX-License-Identifier: MIT
// The checkpointer (engine/sqlite/checkpointer.hpp): a write-ahead log's checkpoints run on a
// connection and a thread of their own, so the writer's commits never wait for one; a reader
// that holds a checkpoint back does not make them spin; a process killed mid-checkpoint keeps
// every commit that returned; and the job store's log stays bounded with its writer out of it.

#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include "engine/sqlite/checkpointer.hpp"
#include "engine/sqlite/sqlite_toolkit.hpp"
#include "process.hpp"
#include "shelfjobs/engine/sqlite_job_store.hpp"
#include "test_support.hpp"

using namespace testing;
namespace sq = shelfjobs::sqlite;

namespace {

constexpr int kPage = 4096;

std::unique_ptr<SQLite::Database> ckpt_open(const std::string& path) {
  auto db = sq::open(path, {.single_threaded = true});
  if (!db) FAIL(db.error().message);
  (*db)->exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)");
  return std::move(db).value();
}

std::unique_ptr<sq::Checkpointer> ckpt_start(SQLite::Database& writer, const std::string& path,
                                             sq::CheckpointOptions o) {
  o.logger = quiet_logger();
  auto c = sq::Checkpointer::start(writer, path, std::move(o));
  if (!c) FAIL(c.error().message);
  return std::move(c).value();
}

// One commit of about 3 pages of log: a row of two overflow pages, and its leaf.
void ckpt_commit(SQLite::Database& db) { db.exec("INSERT INTO t (v) VALUES (randomblob(8000))"); }

std::uintmax_t log_bytes(const std::string& path) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(path + "-wal", ec);
  return ec ? 0 : n;
}

// The log's length in frames, from its file: a 32-byte header, then frames of a 24-byte header
// and a page. The file is reused from its beginning when the log starts over, so this is the
// longest the log has been.
int log_frames(const std::string& path) {
  const auto n = log_bytes(path);
  return n < 32 ? 0 : static_cast<int>((n - 32) / (kPage + 24));
}

// Holds the checkpointer's thread before its checkpoints until opened.
class Gate {
 public:
  void pass() {
    std::unique_lock lock(mu_);
    ++arrived_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int arrived() {
    std::lock_guard lock(mu_);
    return arrived_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int arrived_ = 0;
};

// A writer whose checkpointer (threshold 20 pages) is held before each checkpoint by `gate`.
struct HeldCheckpointer {
  TempDir dir;
  std::string path = dir.file("c.db");
  std::unique_ptr<SQLite::Database> writer = ckpt_open(path);
  Gate gate;
  std::unique_ptr<sq::Checkpointer> checkpointer =
      ckpt_start(*writer, path, {.threshold_pages = 20, .before_checkpoint = [this] { gate.pass(); }});
};

}  // namespace

TEST_CASE("the writer's commits leave the checkpoints to the checkpointer's own thread", "[sqlite]") {
  HeldCheckpointer held;
  auto& [dir, path, writer, gate, checkpointer] = held;

  // The checkpointer is held: had the writer checkpointed by itself (every 20 pages), its log
  // would have started again from the beginning and never grown past about 20 pages. Each
  // commit adds about 3 pages; 70 is short of the writer's own catch-up at 80.
  int commits = 0;
  while (log_frames(path) < 70) {
    ckpt_commit(*writer);
    ++commits;
  }
  REQUIRE(eventually([&] { return gate.arrived() == 1; }));
  CHECK(checkpointer->figures().asked == 3);  // at 20, 40 and 60 pages
  CHECK(checkpointer->figures().checkpoints == 0);
  CHECK(checkpointer->figures().by_writer == 0);

  gate.open();
  REQUIRE(eventually([&] { return checkpointer->figures().checkpoints >= 1; }));
  const auto f = checkpointer->figures();
  CHECK(f.failures == 0);
  CHECK(f.log_frames >= 70);
  CHECK(f.backfilled == f.log_frames);  // no reader held it back: all of it copied

  // Everything committed is there through a connection of any kind, after the log is gone.
  checkpointer->stop();
  writer.reset();
  SQLite::Database plain(path, SQLite::OPEN_READONLY);
  CHECK(plain.execAndGet("SELECT COUNT(*) FROM t").getInt() == commits);
  CHECK(plain.execAndGet("PRAGMA integrity_check").getString() == "ok");
}

TEST_CASE("a log that a checkpoint beside the writer cannot end is caught up by the writer", "[sqlite]") {
  HeldCheckpointer held;
  auto& [dir, path, writer, gate, checkpointer] = held;
  // The thread is stuck (as behind a steady stream of commits it never ends the log): at four
  // thresholds (80 pages) the writer checkpoints itself, and the log starts over.
  for (int i = 0; i < 150; ++i) ckpt_commit(*writer);  // about 450 pages
  const auto f = checkpointer->figures();
  CHECK(f.checkpoints == 0);
  CHECK(f.by_writer >= 4);
  CHECK(f.failures == 0);
  CHECK(log_frames(path) <= 86);  // 80, and the commit that reached it
  gate.open();
}

TEST_CASE("a reader that holds the log back does not make the checkpoints spin", "[sqlite]") {
  TempDir dir;
  const std::string path = dir.file("c.db");
  auto writer = ckpt_open(path);
  ckpt_commit(*writer);
  writer->exec("PRAGMA wal_checkpoint(TRUNCATE)");  // all of it in the file, the log empty
  auto checkpointer = ckpt_start(*writer, path, {.threshold_pages = 10});
  SQLite::Database reader(path, SQLite::OPEN_READONLY);
  reader.exec("BEGIN");
  // Its snapshot, one row, read from the file: no frame of the log may be copied while it lasts.
  CHECK(reader.execAndGet("SELECT COUNT(*) FROM t").getInt() == 1);

  // 100 commits of about 3 pages each: SQLite's own hook would try a checkpoint at each commit
  // past the threshold, about 97 times. Here: once per 10 pages of growth, asked of the thread
  // up to 40 pages and run by the writer after.
  for (int i = 0; i < 100; ++i) ckpt_commit(*writer);
  const int frames = log_frames(path);
  CHECK(frames >= 250);
  const auto f = checkpointer->figures();
  CAPTURE(frames, f.asked, f.checkpoints, f.by_writer, f.failures, f.log_frames, f.backfilled);
  CHECK(f.asked == 3);  // the thread's (it may have found the writer checkpointing, and left it)
  CHECK(f.by_writer >= 5);
  CHECK(f.by_writer <= static_cast<std::uint64_t>((frames - 40) / 10 + 1));
  CHECK(f.backfilled == 0);  // held back by the reader's snapshot
  CHECK(f.failures == 0);

  // The reader goes: the writer's next catch-up copies everything, and the log starts over.
  reader.exec("COMMIT");
  for (int i = 0; i < 6; ++i) ckpt_commit(*writer);
  const auto size = log_bytes(path);
  for (int i = 0; i < 6; ++i) ckpt_commit(*writer);
  CHECK(log_bytes(path) == size);  // written from its beginning again, not appended
}

TEST_CASE("a stopped checkpointer gives the writer its own checkpoints back", "[sqlite]") {
  TempDir dir;
  const std::string path = dir.file("c.db");
  auto writer = ckpt_open(path);
  auto checkpointer = ckpt_start(*writer, path, {.threshold_pages = 20});
  checkpointer->stop();
  checkpointer->stop();  // a second call does nothing
  // The writer checkpoints every 20 pages again, and its log starts over each time.
  for (int i = 0; i < 100; ++i) ckpt_commit(*writer);
  CHECK(log_frames(path) <= 26);
  CHECK(checkpointer->figures().checkpoints == 0);
}

TEST_CASE("a checkpointer refuses a threshold below one page and a file that is not there", "[sqlite]") {
  TempDir dir;
  const std::string path = dir.file("c.db");
  auto writer = ckpt_open(path);
  auto zero = sq::Checkpointer::start(*writer, path, {.threshold_pages = 0, .logger = quiet_logger()});
  REQUIRE_FALSE(zero);
  CHECK(zero.error().code == shelfjobs::errc::invalid_argument);
  auto missing = sq::Checkpointer::start(*writer, dir.file("absent.db"), {.logger = quiet_logger()});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == shelfjobs::errc::store_error);
  CHECK(missing.error().message.find("absent.db") != std::string::npos);
  // The writer kept its own checkpoints.
  for (int i = 0; i < 600; ++i) ckpt_commit(*writer);  // about 1800 pages
  CHECK(log_frames(path) <= 1006);
}

TEST_CASE("a process killed during a checkpoint keeps every commit that returned", "[sqlite]") {
  TempDir dir;
  const std::string path = dir.file("killed.db");
  int report[2];
  REQUIRE(::pipe(report) == 0);
  const pid_t pid = fork();
  if (pid == 0) {
    ::close(report[0]);
    auto db = sq::open(path, {.single_threaded = true});
    if (!db) _exit(1);
    (*db)->exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)");
    auto started = sq::Checkpointer::start(**db, path, {.threshold_pages = 8, .before_checkpoint = [&] {
                                                          const int mark = -1;  // a checkpoint begins
                                                          if (::write(report[1], &mark, sizeof mark) < 0)
                                                            _exit(2);
                                                        }});
    if (!started) _exit(3);
    for (int n = 1;; ++n) {
      (*db)->exec("INSERT INTO t (v) VALUES (randomblob(6000))");
      if (::write(report[1], &n, sizeof n) != static_cast<ssize_t>(sizeof n)) _exit(2);
    }
  }
  ::close(report[1]);
  int committed = 0;
  int checkpoints = 0;
  int v = 0;
  while (checkpoints < 5 && ::read(report[0], &v, sizeof v) == static_cast<ssize_t>(sizeof v)) {
    if (v == -1) {
      ++checkpoints;
    } else {
      committed = v;
    }
  }
  ::kill(pid, SIGKILL);  // most likely inside the fifth checkpoint's syncs and copies
  CHECK(wait_exit(pid) == -SIGKILL);
  ::close(report[0]);
  REQUIRE(checkpoints == 5);
  REQUIRE(committed > 0);

  SQLite::Database plain(path, SQLite::OPEN_READWRITE);  // recovers the log, as any reader would
  CHECK(plain.execAndGet("SELECT COUNT(*) FROM t").getInt() >= committed);
  CHECK(plain.execAndGet("PRAGMA integrity_check").getString() == "ok");
}

TEST_CASE("the job store's log stays bounded while its writer leaves the checkpoints to another thread",
          "[sqlite]") {
  TempDir dir;
  const std::string path = dir.file("jobs.db");
  auto opened = shelfjobs::open_sqlite_job_store({.path = path, .logger = quiet_logger()});
  REQUIRE(opened);
  auto& store = **opened;
  REQUIRE(store.load(shelfjobs::TimePoint{}));
  store.start();
  // About 80 MB of rows through the writer, 20 times SQLite's default threshold of 1000 pages:
  // a checkpoint runs beside the writer each 1000 pages, and the writer catches up at 4000.
  const std::string body(4000, 'x');
  for (shelfjobs::JobId id = 1; id <= 20'000; ++id) {
    shelfjobs::JobInfo job;
    job.id = id;
    job.name = "Big";
    job.body = nlohmann::json{{"pad", body}};
    job.status = shelfjobs::JobStatus::queued;
    job.queued_at = shelfjobs::TimePoint{std::chrono::seconds(1'700'000'000)};
    store.insert(job, job.body.dump(), {});
    if (id % 100 == 0) store.flush();
  }
  store.flush();
  // Without checkpoints the log would hold all 80 MB. It starts over once the writer caught up
  // at 16 MB, or as many commits later as the thread's checkpoint then still takes.
  CHECK(log_bytes(path) < 32u * 1024 * 1024);
  store.close();
  SQLite::Database plain(path, SQLite::OPEN_READONLY);
  CHECK(plain.execAndGet("SELECT COUNT(*) FROM jobs").getInt() == 20'000);
}

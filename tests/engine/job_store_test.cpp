// SPDX-License-Identifier: MIT
// The JobStore contract, run against every store (the SQLite file, SQLite ":memory:", the
// memory store and the fault store without faults), then what only the SQLite store or only the
// fault store does.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include "engine/store/sqlite_job_store.hpp"
#include "fault_job_store.hpp"
#include "memory_job_store.hpp"
#include "postgres_server.hpp"
#include "shelfjobs/engine/job_store.hpp"
#include "shelfjobs/engine/postgres_job_store.hpp"
#include "shelfjobs/engine/sqlite_job_store.hpp"
#include "test_support.hpp"

using namespace shelfjobs;
using namespace testing;
using std::chrono::milliseconds;
using std::chrono::minutes;

namespace {

enum class Kind { sqlite_file, sqlite_memory, memory, fault, postgres };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::sqlite_file: return "sqlite file";
    case Kind::sqlite_memory: return "sqlite :memory:";
    case Kind::memory: return "memory";
    case Kind::fault: return "fault (no faults)";
    case Kind::postgres: return "postgres";
  }
  return "?";
}

// `kinds` and, where PostgreSQL can run, the PostgreSQL store.
std::vector<Kind> with_postgres(std::vector<Kind> kinds) {
  if (postgres_server() != nullptr) kinds.push_back(Kind::postgres);
  return kinds;
}

// A minute boundary (2025-11-14 22:40 UTC), so minute buckets are easy to name.
const TimePoint t0{minutes(29'386'000)};

std::int64_t ms_of(TimePoint t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

JobInfo make_job(JobId id, std::string name = "Step") {
  JobInfo j;
  j.id = id;
  j.name = std::move(name);
  j.body = {{"tag", "t" + std::to_string(id)}};
  j.queued_at = t0 + milliseconds(id);
  return j;
}

// The job as the engine hands it to finish(): ended `duration` after it started.
JobInfo ended(JobInfo j, JobStatus status, TimePoint started, milliseconds duration) {
  j.status = status;
  j.started_at = started;
  j.ended_at = started + duration;
  j.duration = duration;
  j.message = std::string(to_string(status));
  if (status == JobStatus::failed) {
    j.error = "boom";
    j.error_kind = ErrorKind::network;
  }
  return j;
}

// One store under test, opened and started, with a restart that keeps what it holds.
class Harness {
 public:
  explicit Harness(Kind kind) : kind_(kind) {
    open();
    store().start();
  }

  JobStore& store() { return *store_; }
  FaultJobStore& fault() { return *fault_; }
  bool can_restart() const { return kind_ != Kind::sqlite_memory; }
  std::string path() const { return dir_.file("jobs.db"); }

  // Closes the store, opens it again (a new process for the SQLite file) and loads it; the
  // caller starts it.
  StoredState restart(TimePoint since) {
    store_->close();
    if (kind_ == Kind::sqlite_file || kind_ == Kind::postgres) {
      store_.reset();
      open();
    } else {
      memory_->reopen();
    }
    auto state = store_->load(since);
    REQUIRE(state.has_value());
    return std::move(state).value();
  }

  // Closes the store and reads what it holds (allowed after close()).
  StoredState final_state(TimePoint since) {
    store_->close();
    auto state = store_->load(since);
    REQUIRE(state.has_value());
    return std::move(state).value();
  }

 private:
  void open() {
    switch (kind_) {
      case Kind::sqlite_file:
      case Kind::sqlite_memory: {
        auto opened = open_sqlite_job_store(
            {.path = kind_ == Kind::sqlite_file ? path() : ":memory:", .logger = quiet_logger()});
        REQUIRE(opened.has_value());
        store_ = std::move(opened).value();
        break;
      }
      case Kind::postgres: {
        if (url_.empty()) url_ = postgres_server()->new_database();
        auto opened = open_postgres_job_store({.url = url_, .logger = quiet_logger()});
        REQUIRE(opened.has_value());
        store_ = std::move(opened).value();
        break;
      }
      case Kind::memory: {
        auto m = std::make_unique<MemoryJobStore>();
        memory_ = m.get();
        store_ = std::move(m);
        break;
      }
      case Kind::fault: {
        auto f = std::make_unique<FaultJobStore>();
        memory_ = f.get();
        fault_ = f.get();
        store_ = std::move(f);
        break;
      }
    }
  }

  Kind kind_;
  TempDir dir_;
  std::string url_;  // the PostgreSQL store's database
  std::unique_ptr<JobStore> store_;
  MemoryJobStore* memory_ = nullptr;
  FaultJobStore* fault_ = nullptr;
};

JobInfo must_get(JobStore& s, JobId id) {
  auto r = s.get(id);
  REQUIRE(r.has_value());
  REQUIRE(r->has_value());
  return **r;
}

const TypeTotals* totals_of(const StoredState& s, const std::string& name) {
  for (const auto& t : s.totals)
    if (t.name == name) return &t;
  return nullptr;
}

std::vector<JobId> ids_of(const JobPage& page) {
  std::vector<JobId> out;
  for (const auto& j : page.jobs) out.push_back(j.id);
  return out;
}

// A Done that records its outcome, safe to read from the test thread.
struct Outcomes {
  std::mutex mu;
  std::vector<std::pair<int, bool>> items;
  JobStore::Done done(int tag) {
    return [this, tag](bool ok) {
      std::lock_guard lock(mu);
      items.emplace_back(tag, ok);
    };
  }
  std::vector<std::pair<int, bool>> get() {
    std::lock_guard lock(mu);
    return items;
  }
};

}  // namespace

// ------------------------------------------------------------------ the contract, every store

TEST_CASE("a job store keeps a job from insert through start and progress to finish", "[store]") {
  const Kind kind = GENERATE(
      from_range(with_postgres({Kind::sqlite_file, Kind::sqlite_memory, Kind::memory, Kind::fault})));
  CAPTURE(kind_name(kind));
  Harness h(kind);
  auto& s = h.store();

  JobInfo job = make_job(1, "RefreshAuthor");
  job.priority = Priority::high;
  job.trigger = Trigger::event;
  job.event = "AuthorAdded";
  job.task = "refresh";
  job.not_before = t0 + minutes(1);
  const std::string body_text = R"({"authorId":7})";
  s.insert(job, body_text);
  s.update_queued(1, Priority::critical, Trigger::manual, "");

  JobInfo got = must_get(s, 1);
  CHECK(got.name == "RefreshAuthor");
  CHECK(got.body == nlohmann::json{{"authorId", 7}});
  CHECK(got.status == JobStatus::queued);
  CHECK(got.priority == Priority::critical);
  CHECK(got.trigger == Trigger::manual);
  CHECK(got.event.empty());
  CHECK(got.task == "refresh");
  CHECK(got.queued_at == job.queued_at);
  CHECK(got.not_before == job.not_before);

  s.start_job(1, t0 + minutes(2), 2);
  s.progress(1, {3, 10, "three of ten"});
  got = must_get(s, 1);
  CHECK(got.status == JobStatus::executing);
  CHECK(got.started_at == t0 + minutes(2));
  CHECK(got.attempt == 2);
  CHECK(got.progress.current == 3);
  CHECK(got.progress.total == 10);
  CHECK(got.progress.message == "three of ten");

  JobInfo done = ended(got, JobStatus::failed, t0 + minutes(2), milliseconds(1500));
  done.body = nullptr;  // the body is never rewritten by finish
  done.max_attempts = 3;
  s.finish(done);
  got = must_get(s, 1);
  CHECK(got.status == JobStatus::failed);
  CHECK(got.ended_at == t0 + minutes(2) + milliseconds(1500));
  CHECK(got.duration == milliseconds(1500));
  CHECK(got.error == "boom");
  CHECK(got.error_kind == ErrorKind::network);
  CHECK(got.max_attempts == 3);
  CHECK(got.body == nlohmann::json{{"authorId", 7}});

  auto missing = s.get(99);
  REQUIRE(missing.has_value());
  CHECK_FALSE(missing->has_value());
}

TEST_CASE("a job store runs each Done after its write, in call order, with true", "[store]") {
  const Kind kind = GENERATE(
      from_range(with_postgres({Kind::sqlite_file, Kind::sqlite_memory, Kind::memory, Kind::fault})));
  CAPTURE(kind_name(kind));
  Harness h(kind);
  auto& s = h.store();
  Outcomes outcomes;
  for (int i = 1; i <= 50; ++i) {
    s.insert(make_job(i), "", outcomes.done(i));
    if (i % 5 == 0)
      s.finish(ended(make_job(i), JobStatus::completed, t0, milliseconds(3)), outcomes.done(1000 + i));
  }
  s.flush();
  const auto got = outcomes.get();
  REQUIRE(got.size() == 60);
  std::vector<int> order;
  for (const auto& [tag, ok] : got) {
    CHECK(ok);
    order.push_back(tag);
  }
  std::vector<int> expected;
  for (int i = 1; i <= 50; ++i) {
    expected.push_back(i);
    if (i % 5 == 0) expected.push_back(1000 + i);
  }
  CHECK(order == expected);
}

TEST_CASE("a job store's flush waits for the Done of every earlier write, however slow", "[store]") {
  const Kind kind = GENERATE(
      from_range(with_postgres({Kind::sqlite_file, Kind::sqlite_memory, Kind::memory, Kind::fault})));
  CAPTURE(kind_name(kind));
  Harness h(kind);
  auto& s = h.store();
  std::mutex gate;
  std::unique_lock hold(gate);
  Outcomes outcomes;
  s.insert(make_job(1), "", [&](bool ok) {
    std::lock_guard wait(gate);
    outcomes.done(1)(ok);
  });
  s.insert(make_job(2), "", outcomes.done(2));
  s.insert(make_job(3), "", outcomes.done(3));
  std::atomic<bool> flushed{false};
  std::thread flusher([&] {
    s.flush();
    flushed = true;
  });
  std::this_thread::sleep_for(milliseconds(100));
  CHECK_FALSE(flushed.load());
  CHECK(outcomes.get().empty());  // the later Dones wait for the held one
  hold.unlock();
  flusher.join();
  CHECK(outcomes.get() == std::vector<std::pair<int, bool>>{{1, true}, {2, true}, {3, true}});
}

TEST_CASE("a job store's reads see every write called before them", "[store]") {
  const Kind kind = GENERATE(
      from_range(with_postgres({Kind::sqlite_file, Kind::sqlite_memory, Kind::memory, Kind::fault})));
  CAPTURE(kind_name(kind));
  Harness h(kind);
  auto& s = h.store();
  for (JobId id = 1; id <= 200; ++id) {
    s.insert(make_job(id), "");
    if (id % 3 == 0) s.start_job(id, t0, 1);
    auto got = s.get(id);
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK((**got).status == (id % 3 == 0 ? JobStatus::executing : JobStatus::queued));
    auto page = s.list({.limit = 1});
    REQUIRE(page.has_value());
    REQUIRE(page->jobs.size() == 1);
    CHECK(page->jobs[0].id == id);
  }
}

TEST_CASE("a job store lists newest first, filtered by status and exact name, in pages", "[store]") {
  const Kind kind = GENERATE(
      from_range(with_postgres({Kind::sqlite_file, Kind::sqlite_memory, Kind::memory, Kind::fault})));
  CAPTURE(kind_name(kind));
  Harness h(kind);
  auto& s = h.store();
  // 30 jobs: odd ids are "A", even ids "B"; every third one completed.
  for (JobId id = 1; id <= 30; ++id) {
    s.insert(make_job(id, id % 2 ? "A" : "B"), "");
    if (id % 3 == 0)
      s.finish(ended(make_job(id, id % 2 ? "A" : "B"), JobStatus::completed, t0, milliseconds(5)));
  }

  auto p1 = s.list({.limit = 10});
  REQUIRE(p1.has_value());
  CHECK(ids_of(*p1) == std::vector<JobId>{30, 29, 28, 27, 26, 25, 24, 23, 22, 21});
  CHECK(p1->next_before_id == 21);
  auto p2 = s.list({.before_id = p1->next_before_id, .limit = 10});
  REQUIRE(p2.has_value());
  CHECK(ids_of(*p2).front() == 20);
  CHECK(p2->next_before_id == 11);
  auto p3 = s.list({.before_id = p2->next_before_id, .limit = 10});
  REQUIRE(p3.has_value());
  CHECK(ids_of(*p3) == std::vector<JobId>{10, 9, 8, 7, 6, 5, 4, 3, 2, 1});
  CHECK(p3->next_before_id == 0);

  auto a_done = s.list({.statuses = {JobStatus::completed}, .names = {"A"}, .limit = 100});
  REQUIRE(a_done.has_value());
  CHECK(ids_of(*a_done) == std::vector<JobId>{27, 21, 15, 9, 3});
  CHECK(a_done->next_before_id == 0);

  auto queued = s.list({.statuses = {JobStatus::queued, JobStatus::executing},
                        .names = {"A", "B"},
                        .before_id = 5,
                        .limit = 2});
  REQUIRE(queued.has_value());
  CHECK(ids_of(*queued) == std::vector<JobId>{4, 2});
  CHECK(queued->next_before_id == 2);

  auto none = s.list({.names = {"a"}, .limit = 10});  // names are exact
  REQUIRE(none.has_value());
  CHECK(none->jobs.empty());

  auto bad = s.list({.limit = 0});
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == errc::invalid_argument);
}

TEST_CASE("a job store lists any mix of active, failed, cancelled and completed jobs in order", "[store]") {
  const Kind kind = GENERATE(
      from_range(with_postgres({Kind::sqlite_file, Kind::sqlite_memory, Kind::memory, Kind::fault})));
  CAPTURE(kind_name(kind));
  Harness h(kind);
  auto& s = h.store();
  // 40 jobs, by id % 5: 0 queued, 1 executing, 2 completed, 3 failed, 4 cancelled; odd ids "A".
  const JobStatus by_rest[] = {JobStatus::queued, JobStatus::executing, JobStatus::completed,
                               JobStatus::failed, JobStatus::cancelled};
  for (JobId id = 1; id <= 40; ++id) {
    const std::string name = id % 2 ? "A" : "B";
    s.insert(make_job(id, name), "");
    const JobStatus status = by_rest[id % 5];
    if (status == JobStatus::executing) s.start_job(id, t0, 1);
    if (is_terminal(status)) s.finish(ended(make_job(id, name), status, t0, milliseconds(5)));
  }
  auto expect = [&](const std::vector<JobStatus>& statuses, const std::vector<std::string>& names,
                    JobId before) {
    std::vector<JobId> ids;
    for (JobId id = 40; id >= 1; --id) {
      const bool status_ok =
          statuses.empty() || std::find(statuses.begin(), statuses.end(), by_rest[id % 5]) != statuses.end();
      const bool name_ok =
          names.empty() || std::find(names.begin(), names.end(), id % 2 ? "A" : "B") != names.end();
      if (status_ok && name_ok && (before == 0 || id < before)) ids.push_back(id);
    }
    return ids;
  };
  const std::vector<std::vector<JobStatus>> mixes = {
      {JobStatus::failed},
      {JobStatus::cancelled, JobStatus::failed},
      {JobStatus::queued},
      {JobStatus::executing, JobStatus::queued},
      {JobStatus::queued, JobStatus::failed},
      {JobStatus::failed, JobStatus::executing, JobStatus::cancelled, JobStatus::queued},
      {JobStatus::completed, JobStatus::failed},
      {JobStatus::queued, JobStatus::completed},
  };
  for (const auto& statuses : mixes) {
    for (const std::vector<std::string>& names :
         {std::vector<std::string>{}, std::vector<std::string>{"A"}}) {
      CAPTURE(statuses.size(), names.size());
      // Page by page, three at a time, until the last page.
      std::vector<JobId> got;
      JobId before = 0;
      for (int page = 0; page < 20; ++page) {
        auto p = s.list({.statuses = statuses, .names = names, .before_id = before, .limit = 3});
        REQUIRE(p.has_value());
        for (const auto& j : p->jobs) {
          CHECK(j.status == by_rest[j.id % 5]);
          got.push_back(j.id);
        }
        if (p->next_before_id == 0) break;
        CHECK(p->next_before_id == got.back());
        before = p->next_before_id;
      }
      CHECK(got == expect(statuses, names, 0));
      auto from_middle = s.list({.statuses = statuses, .names = names, .before_id = 21, .limit = 100});
      REQUIRE(from_middle.has_value());
      CHECK(ids_of(*from_middle) == expect(statuses, names, 21));
    }
  }
}

TEST_CASE("a job store counts a terminal finish once in totals and minutes, a retry never", "[store]") {
  const Kind kind = GENERATE(
      from_range(with_postgres({Kind::sqlite_file, Kind::sqlite_memory, Kind::memory, Kind::fault})));
  // Each write in a batch of its own, or all in as few as the store takes: a store that knows a
  // row's status from earlier in the batch and one that must learn it from the row must agree.
  const bool one_by_one = GENERATE(false, true);
  CAPTURE(kind_name(kind), one_by_one);
  Harness h(kind);
  auto& s = h.store();
  auto write = [&](auto&& f) {
    f();
    if (one_by_one) s.flush();
  };
  for (JobId id = 1; id <= 5; ++id) write([&] { s.insert(make_job(id), ""); });
  write([&] { s.insert(make_job(6, "Other"), ""); });

  // Job 1 fails an attempt and is queued for a retry: not a terminal finish.
  JobInfo retry = ended(make_job(1), JobStatus::queued, t0, milliseconds(40));
  retry.not_before = t0 + minutes(5);
  retry.attempt = 1;
  write([&] { s.finish(retry); });
  // Then completes in the same minute; a second terminal finish of it does not count again.
  write([&] { s.finish(ended(make_job(1), JobStatus::completed, t0 + milliseconds(100), milliseconds(3))); });
  write([&] { s.finish(ended(make_job(1), JobStatus::completed, t0 + milliseconds(200), milliseconds(3))); });
  write([&] { s.finish(ended(make_job(2), JobStatus::failed, t0 + milliseconds(300), milliseconds(700))); });
  // Cancelled while queued: never started, so no duration.
  JobInfo cancelled = make_job(3);
  cancelled.status = JobStatus::cancelled;
  cancelled.ended_at = t0 + minutes(1) + milliseconds(10);
  write([&] { s.finish(cancelled); });
  // The next minute: a long completed run.
  write([&] { s.finish(ended(make_job(4), JobStatus::completed, t0 + minutes(1), std::chrono::hours(2))); });
  write(
      [&] { s.finish(ended(make_job(6, "Other"), JobStatus::completed, t0 + minutes(1), milliseconds(0))); });
  // A finish for a job the store does not hold counts nowhere.
  write([&] { s.finish(ended(make_job(77), JobStatus::completed, t0, milliseconds(1))); });
  // The second terminal finish is not counted, but its row holds it.
  auto row = s.get(1);
  REQUIRE(row.has_value());
  REQUIRE(row->has_value());
  CHECK((*row)->ended_at == t0 + milliseconds(203));
  CHECK(s.get(77).value() == std::nullopt);

  const StoredState st = h.final_state(t0);
  const TypeTotals* step = totals_of(st, "Step");
  REQUIRE(step != nullptr);
  CHECK(step->completed == 2);
  CHECK(step->failed == 1);
  CHECK(step->cancelled == 1);
  CHECK(step->last_status == JobStatus::completed);
  CHECK(step->last_finish == t0 + minutes(1) + std::chrono::hours(2));
  CHECK(step->last_start == t0 + minutes(1));
  const TypeTotals* other = totals_of(st, "Other");
  REQUIRE(other != nullptr);
  CHECK(other->completed == 1);
  CHECK(totals_of(st, "Nope") == nullptr);
  CHECK(st.totals.size() == 2);

  // Minutes: Step in t0 (completed 1, failed 1), Step in t0+1 (cancelled 1), Other in t0+1,
  // Step in t0+121 min (the two-hour run ended then).
  REQUIRE(st.minutes.size() == 4);
  const auto& m0 = st.minutes[0];
  CHECK(m0.minute == t0);
  CHECK(m0.name == "Step");
  CHECK(m0.completed == 1);
  CHECK(m0.failed == 1);
  CHECK(m0.cancelled == 0);
  CHECK(m0.duration_sum_ms == 703);
  DurationHistogram expected{};
  ++expected[duration_bin(milliseconds(3))];
  ++expected[duration_bin(milliseconds(700))];
  CHECK(m0.durations == expected);
  const auto& m1a = st.minutes[1];
  const auto& m1b = st.minutes[2];
  CHECK(m1a.minute == t0 + minutes(1));
  CHECK(m1b.minute == t0 + minutes(1));
  CHECK(m1a.name == "Other");
  CHECK(m1a.completed == 1);
  CHECK(m1a.durations[0] == 1);
  CHECK(m1b.name == "Step");
  CHECK(m1b.cancelled == 1);
  CHECK(m1b.duration_sum_ms == 0);
  CHECK(m1b.durations == DurationHistogram{});
  const auto& m2 = st.minutes[3];
  CHECK(m2.minute == t0 + minutes(121));
  CHECK(m2.durations[kDurationBins - 1] == 1);

  // `since` cuts older minutes off.
  auto later = s.load(t0 + minutes(1));
  REQUIRE(later.has_value());
  CHECK(later->minutes.size() == 3);
}

// A store may fold the writes of one batch together (the SQLite store inserts a job that ends in
// the same batch in its last state, and leaves out a start or a progress that a later finish
// of the same job overwrites): the rows and figures must be the same as written one by one.
TEST_CASE("a job store's writes queued together end as they would one by one", "[store]") {
  const Kind kind = GENERATE(
      from_range(with_postgres({Kind::sqlite_file, Kind::sqlite_memory, Kind::memory, Kind::fault})));
  CAPTURE(kind_name(kind));
  Harness h(kind);
  auto& s = h.store();
  s.insert(make_job(12), "");
  s.flush();
  const auto commits_before = s.stats().commits;

  // A write whose Done holds the writer (a batch with one callback runs it on the writer
  // thread), so that everything below queues behind it and lands in one batch.
  std::mutex gate;
  std::unique_lock hold(gate);
  std::atomic<bool> holding{false};
  s.insert(make_job(1), "", [&](bool) {
    holding = true;
    std::lock_guard wait(gate);
  });
  while (!holding.load()) std::this_thread::yield();

  Outcomes done;
  // Job 10: queued, started, progressed and completed in the batch.
  s.insert(make_job(10), "{\"n\":10}", done.done(1));
  s.start_job(10, t0, 1);
  s.progress(10, Progress{2, 10, "two"});
  JobInfo ten = ended(make_job(10), JobStatus::completed, t0, milliseconds(30));
  ten.progress = Progress{10, 10, "all"};
  s.finish(ten, done.done(2));
  // Job 11: its first attempt fails into a retry, its second fails for good.
  s.insert(make_job(11), "", done.done(3));
  s.start_job(11, t0, 1);
  JobInfo retry = ended(make_job(11), JobStatus::queued, t0, milliseconds(5));
  retry.not_before = t0 + minutes(1);
  s.finish(retry);
  s.start_job(11, t0 + minutes(1), 2);
  JobInfo failed = ended(make_job(11), JobStatus::failed, t0 + minutes(1), milliseconds(7));
  failed.attempt = 2;
  failed.max_attempts = 2;
  s.finish(failed, done.done(4));
  // Job 12 (stored before the batch): started and finished twice; it counts once.
  s.start_job(12, t0, 1);
  s.finish(ended(make_job(12), JobStatus::completed, t0, milliseconds(2)));
  s.finish(ended(make_job(12), JobStatus::cancelled, t0, milliseconds(4)), done.done(5));
  // Job 13: inserted and started only; its start stays.
  s.insert(make_job(13), "");
  s.start_job(13, t0 + milliseconds(9), 1);
  // A job the store does not hold, finished twice: counted nowhere.
  s.finish(ended(make_job(77, "Gone"), JobStatus::queued, t0, milliseconds(1)));
  s.finish(ended(make_job(77, "Gone"), JobStatus::completed, t0, milliseconds(1)));
  hold.unlock();
  s.flush();

  CHECK(done.get() ==
        std::vector<std::pair<int, bool>>{{1, true}, {2, true}, {3, true}, {4, true}, {5, true}});
  if (kind != Kind::postgres) CHECK(s.stats().commits - commits_before <= 2);  // the held one, then one
  const JobInfo j10 = must_get(s, 10);
  CHECK(j10.status == JobStatus::completed);
  CHECK(j10.body == nlohmann::json{{"n", 10}});
  CHECK(j10.queued_at == make_job(10).queued_at);
  CHECK(j10.started_at == t0);
  CHECK(j10.ended_at == t0 + milliseconds(30));
  CHECK(j10.duration == milliseconds(30));
  CHECK(j10.progress.current == 10);
  CHECK(j10.progress.message == "all");
  CHECK(j10.message == "completed");
  const JobInfo j11 = must_get(s, 11);
  CHECK(j11.status == JobStatus::failed);
  CHECK(j11.attempt == 2);
  CHECK(j11.max_attempts == 2);
  CHECK(j11.error == "boom");
  CHECK(j11.error_kind == ErrorKind::network);
  CHECK(j11.started_at == t0 + minutes(1));
  CHECK(must_get(s, 12).status == JobStatus::cancelled);
  const JobInfo j13 = must_get(s, 13);
  CHECK(j13.status == JobStatus::executing);
  CHECK(j13.started_at == t0 + milliseconds(9));
  auto gone = s.get(77);
  REQUIRE(gone.has_value());
  CHECK_FALSE(gone->has_value());

  const StoredState st = h.final_state(t0);
  const TypeTotals* step = totals_of(st, "Step");
  REQUIRE(step != nullptr);
  CHECK(step->completed == 2);  // 10 and 12 (its later cancel does not count again)
  CHECK(step->failed == 1);     // 11, once, for its last attempt
  CHECK(step->cancelled == 0);
  CHECK(totals_of(st, "Gone") == nullptr);
  std::int64_t counted = 0;
  for (const auto& m : st.minutes) counted += m.completed + m.failed + m.cancelled;
  CHECK(counted == 3);
  REQUIRE(st.active.size() == 2);  // 1 (queued) and 13 (executing)
  CHECK(st.active[0].id == 1);
  CHECK(st.active[1].id == 13);
}

TEST_CASE("pruning a job store deletes finished jobs and keeps totals and the highest id", "[store]") {
  const Kind kind = GENERATE(
      from_range(with_postgres({Kind::sqlite_file, Kind::sqlite_memory, Kind::memory, Kind::fault})));
  CAPTURE(kind_name(kind));
  Harness h(kind);
  auto& s = h.store();
  // Jobs 1..10 finish at t0 + id minutes, job 12 (the highest id) long ago; 11 stays queued.
  for (JobId id = 1; id <= 12; ++id) s.insert(make_job(id), "");
  for (JobId id = 1; id <= 10; ++id) {
    s.finish(ended(make_job(id), JobStatus::completed, t0 + minutes(id), milliseconds(10)));
  }
  s.finish(ended(make_job(12), JobStatus::failed, t0 - std::chrono::hours(48), milliseconds(10)));

  auto by_age = s.prune(t0 + minutes(5), 0);  // ended before: 1..4 and 12
  REQUIRE(by_age.has_value());
  CHECK(*by_age == 5);
  auto by_count = s.prune(std::nullopt, 3);  // keeps the newest three finished: 10, 9, 8
  REQUIRE(by_count.has_value());
  CHECK(*by_count == 3);

  auto rest = s.list({.limit = 100});
  REQUIRE(rest.has_value());
  CHECK(ids_of(*rest) == std::vector<JobId>{11, 10, 9, 8});

  const StoredState st = h.final_state(t0 - std::chrono::hours(72));
  const TypeTotals* step = totals_of(st, "Step");
  REQUIRE(step != nullptr);
  CHECK(step->completed == 10);
  CHECK(step->failed == 1);
  CHECK(st.max_id == 12);
  REQUIRE(st.active.size() == 1);
  CHECK(st.active[0].id == 11);
}

TEST_CASE("a job store drops minute figures older than asked", "[store]") {
  const Kind kind = GENERATE(
      from_range(with_postgres({Kind::sqlite_file, Kind::sqlite_memory, Kind::memory, Kind::fault})));
  CAPTURE(kind_name(kind));
  Harness h(kind);
  auto& s = h.store();
  for (JobId id = 1; id <= 3; ++id) {
    s.insert(make_job(id), "");
    s.finish(ended(make_job(id), JobStatus::completed, t0 + minutes(id), milliseconds(1)));
  }
  s.drop_minutes(t0 + minutes(3));
  // A finish after the drop, in a dropped minute, is counted anew.
  s.insert(make_job(4), "");
  s.finish(ended(make_job(4), JobStatus::completed, t0 + minutes(1), milliseconds(1)));
  const StoredState st = h.final_state(t0);
  REQUIRE(st.minutes.size() == 2);
  CHECK(st.minutes[0].minute == t0 + minutes(1));
  CHECK(st.minutes[0].completed == 1);
  CHECK(st.minutes[1].minute == t0 + minutes(3));
  REQUIRE(totals_of(st, "Step") != nullptr);
  CHECK(totals_of(st, "Step")->completed == 4);
}

TEST_CASE("a job store saves scheduled tasks and hands them back on load", "[store]") {
  const Kind kind = GENERATE(
      from_range(with_postgres({Kind::sqlite_file, Kind::sqlite_memory, Kind::memory, Kind::fault})));
  CAPTURE(kind_name(kind));
  Harness h(kind);
  auto& s = h.store();
  TaskRow row;
  row.name = "rss";
  row.command = "RssSync";
  row.body = "{}";
  row.interval_s = 900;
  s.save_task(row);
  row.time_of_day_min = 90;
  row.time_zone = "Europe/Berlin";
  row.jitter_s = 30;
  row.next_due = t0 + minutes(15);
  row.last_start = t0;
  row.last_finish = t0 + milliseconds(20);
  row.last_status = JobStatus::completed;
  row.last_message = "ok";
  row.last_duration_ms = 20;
  row.last_job = 4;
  s.save_task(row);  // replaces
  TaskRow other;
  other.name = "backup";
  other.command = "Backup";
  other.body = R"({"type":"scheduled"})";
  other.interval_s = 86400;
  s.save_task(other);

  const StoredState st = h.final_state(t0);
  REQUIRE(st.tasks.size() == 2);
  const TaskRow& b = st.tasks[0];
  const TaskRow& r = st.tasks[1];
  CHECK(b.name == "backup");
  CHECK(b.body == R"({"type":"scheduled"})");
  CHECK_FALSE(b.next_due.has_value());
  CHECK_FALSE(b.last_status.has_value());
  CHECK(r.name == "rss");
  CHECK(r.command == "RssSync");
  CHECK(r.interval_s == 900);
  CHECK(r.time_of_day_min == 90);
  CHECK(r.time_zone == "Europe/Berlin");
  CHECK(r.jitter_s == 30);
  CHECK(r.next_due == t0 + minutes(15));
  CHECK(r.last_start == t0);
  CHECK(r.last_finish == t0 + milliseconds(20));
  CHECK(r.last_status == JobStatus::completed);
  CHECK(r.last_message == "ok");
  CHECK(r.last_duration_ms == 20);
  CHECK(r.last_job == 4);
}

TEST_CASE("a job store reopened hands back its active jobs, highest id, tasks and figures", "[store]") {
  const Kind kind = GENERATE(from_range(with_postgres({Kind::sqlite_file, Kind::memory, Kind::fault})));
  CAPTURE(kind_name(kind));
  Harness h(kind);
  auto& s = h.store();
  for (JobId id = 1; id <= 6; ++id) s.insert(make_job(id), "");
  s.start_job(2, t0, 1);
  s.progress(2, {1, 2, "half"});
  s.finish(ended(make_job(3), JobStatus::completed, t0, milliseconds(20)));
  s.finish(ended(make_job(6), JobStatus::cancelled, t0, milliseconds(20)));
  s.save_task({.name = "rss", .command = "RssSync", .body = "{}", .interval_s = 60});

  StoredState st = h.restart(t0 - minutes(1));
  std::vector<JobId> active;
  for (const auto& j : st.active) active.push_back(j.id);
  CHECK(active == std::vector<JobId>{1, 2, 4, 5});
  CHECK(st.active[1].status == JobStatus::executing);
  CHECK(st.active[1].progress.message == "half");
  CHECK(st.active[0].body == nlohmann::json{{"tag", "t1"}});
  CHECK(st.max_id == 6);
  REQUIRE(st.tasks.size() == 1);
  REQUIRE(totals_of(st, "Step") != nullptr);
  CHECK(totals_of(st, "Step")->completed == 1);
  CHECK(totals_of(st, "Step")->cancelled == 1);
  REQUIRE(st.minutes.size() == 1);
  CHECK(st.minutes[0].completed == 1);
  CHECK(st.minutes[0].cancelled == 1);

  h.store().start();
  h.store().insert(make_job(7), "");
  CHECK(must_get(h.store(), 7).id == 7);
}

TEST_CASE("a job store writes what recovery changed in one go, counting the jobs it failed", "[store]") {
  const Kind kind = GENERATE(from_range(with_postgres({Kind::sqlite_file, Kind::memory, Kind::fault})));
  CAPTURE(kind_name(kind));
  Harness h(kind);
  auto& s = h.store();
  for (JobId id = 1; id <= 3; ++id) s.insert(make_job(id), "");
  s.start_job(1, t0, 1);
  s.start_job(2, t0, 1);

  StoredState st = h.restart(t0);
  REQUIRE(st.active.size() == 3);
  // Recovery: 1 is requeued as attempt 2, 2 is failed as interrupted.
  JobInfo requeued = st.active[0];
  requeued.status = JobStatus::queued;
  requeued.started_at.reset();
  requeued.attempt = 2;
  JobInfo failed = st.active[1];
  failed.status = JobStatus::failed;
  failed.ended_at = t0 + minutes(1);
  failed.duration = minutes(1);
  failed.error = failed.message = "interrupted";
  failed.error_kind = ErrorKind::permanent;
  REQUIRE(h.store().write_recovered({requeued, failed}).has_value());

  auto again = h.store().load(t0);
  REQUIRE(again.has_value());
  REQUIRE(again->active.size() == 2);
  CHECK(again->active[0].id == 1);
  CHECK(again->active[0].status == JobStatus::queued);
  CHECK(again->active[0].attempt == 2);
  CHECK_FALSE(again->active[0].started_at.has_value());
  CHECK(again->active[1].id == 3);
  REQUIRE(totals_of(*again, "Step") != nullptr);
  CHECK(totals_of(*again, "Step")->failed == 1);

  h.store().start();
  const JobInfo got = must_get(h.store(), 2);
  CHECK(got.status == JobStatus::failed);
  CHECK(got.error == "interrupted");
  CHECK(got.body == nlohmann::json{{"tag", "t2"}});
}

TEST_CASE("a closed job store drops later writes with Done(false) and still answers reads", "[store]") {
  const Kind kind = GENERATE(
      from_range(with_postgres({Kind::sqlite_file, Kind::sqlite_memory, Kind::memory, Kind::fault})));
  CAPTURE(kind_name(kind));
  Harness h(kind);
  auto& s = h.store();
  Outcomes outcomes;
  s.insert(make_job(1), "", outcomes.done(1));
  s.close();
  CHECK(outcomes.get() == std::vector<std::pair<int, bool>>{{1, true}});  // close committed it
  s.insert(make_job(2), "", outcomes.done(2));
  s.finish(ended(make_job(1), JobStatus::completed, t0, milliseconds(1)), outcomes.done(3));
  CHECK(outcomes.get() == std::vector<std::pair<int, bool>>{{1, true}, {2, false}, {3, false}});
  s.flush();  // returns at once
  CHECK(must_get(s, 1).status == JobStatus::queued);
  auto two = s.get(2);
  REQUIRE(two.has_value());
  CHECK_FALSE(two->has_value());
  auto page = s.list({.limit = 10});
  REQUIRE(page.has_value());
  CHECK(ids_of(*page) == std::vector<JobId>{1});
  auto pruned = s.prune(std::nullopt, 1);
  REQUIRE_FALSE(pruned.has_value());
  CHECK(pruned.error().code == errc::store_error);
  s.close();  // idempotent
}

TEST_CASE("a job store keeps every write of many threads and answers reads meanwhile",
          "[store][concurrency]") {
  const Kind kind = GENERATE(
      from_range(with_postgres({Kind::sqlite_file, Kind::sqlite_memory, Kind::memory, Kind::fault})));
  CAPTURE(kind_name(kind));
  Harness h(kind);
  auto& s = h.store();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100;
  std::atomic<int> acknowledged{0};
  std::atomic<bool> writing{true};
  std::atomic<bool> read_failed{false};
  std::thread reader([&] {
    while (writing.load()) {
      if (!s.list({.limit = 5}).has_value() || !s.get(1).has_value()) read_failed = true;
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const JobId id = t * kPerThread + i + 1;
        s.insert(make_job(id), "", [&](bool ok) {
          if (ok) ++acknowledged;
        });
        s.finish(ended(make_job(id), JobStatus::completed, t0, milliseconds(2)));
        // Each thread reads its own write back.
        auto got = s.get(id);
        if (!got.has_value() || !got->has_value() || (**got).status != JobStatus::completed) {
          read_failed = true;
        }
      }
    });
  }
  for (auto& w : writers) w.join();
  writing = false;
  reader.join();
  s.flush();
  CHECK_FALSE(read_failed.load());
  CHECK(acknowledged.load() == kThreads * kPerThread);
  const StoredState st = h.final_state(t0);
  REQUIRE(totals_of(st, "Step") != nullptr);
  CHECK(totals_of(st, "Step")->completed == kThreads * kPerThread);
}

// ------------------------------------------------------------------ SQLite only

TEST_CASE("the SQLite job store runs Done once the row can be read from another connection", "[store]") {
  Harness h(Kind::sqlite_file);
  std::atomic<int> seen{-1};
  const std::string path = h.path();
  h.store().insert(make_job(1), "", [&seen, path](bool ok) {
    if (!ok) return;
    SQLite::Database other(path, SQLite::OPEN_READONLY);
    seen = other.execAndGet("SELECT COUNT(*) FROM jobs WHERE id = 1").getInt();
  });
  h.store().flush();
  CHECK(seen.load() == 1);
}

TEST_CASE("reads on the SQLite job store wait for commits instead of splitting batches",
          "[store][concurrency]") {
  Harness h(Kind::sqlite_file);
  auto& s = h.store();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::atomic<bool> writing{true};
  std::atomic<long> reads{0};
  std::atomic<bool> read_failed{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (writing.load()) {
        if (!s.get(1).has_value()) read_failed = true;
        if (!s.list({.statuses = {JobStatus::queued}, .limit = 3}).has_value()) read_failed = true;
        reads += 2;
      }
    });
  }
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) s.insert(make_job(t * kPerThread + i + 1), "");
    });
  }
  for (auto& w : writers) w.join();
  s.flush();
  writing = false;
  for (auto& r : readers) r.join();
  CHECK_FALSE(read_failed.load());
  const auto commits = s.stats().commits;
  INFO("commits: " << commits << ", reads: " << reads.load());
  // With reads ending batches this took about one commit per read; now only the writer's pace
  // decides. The bound is loose on purpose.
  CHECK(commits < static_cast<std::uint64_t>(kThreads * kPerThread / 4));
  auto page = s.list({.limit = 1});
  REQUIRE(page.has_value());
  CHECK(page->jobs.at(0).id == kThreads * kPerThread);
}

namespace {
// The store's schema before the JobStore interface (versions 1 to 3), as files on disk have it.
void create_old_format(const std::string& path) {
  SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db.exec(R"sql(
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, body TEXT NOT NULL, priority INTEGER NOT NULL,
  trigger INTEGER NOT NULL, event TEXT NOT NULL DEFAULT '', status INTEGER NOT NULL,
  queued_at INTEGER NOT NULL, started_at INTEGER, ended_at INTEGER, duration_ms INTEGER,
  attempt INTEGER NOT NULL DEFAULT 1, progress_current INTEGER NOT NULL DEFAULT 0,
  progress_total INTEGER NOT NULL DEFAULT 0, progress_message TEXT NOT NULL DEFAULT '',
  message TEXT NOT NULL DEFAULT '', error_kind INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '');
CREATE INDEX jobs_by_status ON jobs(status, id);
CREATE INDEX jobs_by_name ON jobs(name, id);
ALTER TABLE jobs ADD COLUMN not_before INTEGER;
ALTER TABLE jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN task TEXT NOT NULL DEFAULT '';
CREATE TABLE scheduled_tasks (
  name TEXT PRIMARY KEY, command TEXT NOT NULL, body TEXT NOT NULL, interval_s INTEGER NOT NULL,
  time_of_day_min INTEGER, time_zone TEXT NOT NULL DEFAULT '', jitter_s INTEGER NOT NULL DEFAULT 0,
  next_due INTEGER, last_start INTEGER, last_finish INTEGER, last_status INTEGER,
  last_message TEXT NOT NULL DEFAULT '', last_duration_ms INTEGER, last_job INTEGER);
CREATE TABLE job_stats (
  name TEXT PRIMARY KEY, completed INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
  cancelled INTEGER NOT NULL DEFAULT 0, duration_ms_total INTEGER NOT NULL DEFAULT 0);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
PRAGMA user_version = 3;
)sql");
}

void old_row(SQLite::Database& db, JobId id, const std::string& name, JobStatus status,
             std::optional<TimePoint> started, std::optional<TimePoint> ended_at, std::int64_t duration_ms) {
  SQLite::Statement st(db,
                       "INSERT INTO jobs (id, name, body, priority, trigger, status, queued_at, "
                       "started_at, ended_at, duration_ms) VALUES (?, ?, '{}', 1, 0, ?, ?, ?, ?, ?)");
  st.bind(1, static_cast<std::int64_t>(id));
  st.bind(2, name);
  st.bind(3, static_cast<int>(status));
  st.bind(4, ms_of(started.value_or(TimePoint{})));
  if (started)
    st.bind(5, ms_of(*started));
  else
    st.bind(5);
  if (ended_at)
    st.bind(6, ms_of(*ended_at));
  else
    st.bind(6);
  if (ended_at)
    st.bind(7, duration_ms);
  else
    st.bind(7);
  st.exec();
}
}  // namespace

TEST_CASE("opening an old-format job store folds its history into totals and recent minutes", "[store]") {
  TempDir dir;
  const std::string path = dir.file("old.db");
  create_old_format(path);
  // Whole minutes back from now: the migration keeps the last 24 hours by the wall clock.
  const TimePoint now = std::chrono::time_point_cast<minutes>(std::chrono::system_clock::now());
  const TimePoint recent = now - minutes(10);
  const TimePoint old = now - std::chrono::hours(48);
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    // What earlier prunes folded in (rows since deleted, ids up to 90 handed out).
    db.exec("INSERT INTO job_stats VALUES ('Step', 5, 1, 2, 5000)");
    db.exec("INSERT INTO job_stats VALUES ('Gone', 7, 0, 0, 700)");
    db.exec("INSERT INTO meta VALUES ('max_job_id', 90)");
    old_row(db, 10, "Step", JobStatus::completed, old, old + milliseconds(40), 40);
    old_row(db, 11, "Step", JobStatus::completed, recent, recent + milliseconds(3), 3);
    old_row(db, 12, "Step", JobStatus::failed, recent, recent + milliseconds(700), 700);
    old_row(db, 13, "Step", JobStatus::cancelled, std::nullopt, recent + milliseconds(900), 0);
    old_row(db, 14, "Other", JobStatus::failed, old, old + milliseconds(5), 5);
    old_row(db, 15, "Step", JobStatus::queued, std::nullopt, std::nullopt, 0);
    old_row(db, 16, "Other", JobStatus::executing, recent, std::nullopt, 0);
  }

  auto opened = open_sqlite_job_store({.path = path, .logger = quiet_logger()});
  REQUIRE(opened.has_value());
  auto& s = **opened;
  auto st = s.load(now - std::chrono::hours(24));
  REQUIRE(st.has_value());
  {
    // v5 indexed the failed and cancelled rows the file already held (12, 13 and 14).
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    CHECK(db.execAndGet("SELECT COUNT(*) FROM jobs INDEXED BY jobs_unsuccessful WHERE status IN (3, 4)")
              .getInt() == 3);
  }

  const TypeTotals* step = totals_of(*st, "Step");
  REQUIRE(step != nullptr);
  CHECK(step->completed == 5 + 2);
  CHECK(step->failed == 1 + 1);
  CHECK(step->cancelled == 2 + 1);
  CHECK(step->last_finish == recent + milliseconds(900));
  CHECK(step->last_status == JobStatus::cancelled);
  CHECK(step->last_start == recent);
  const TypeTotals* other = totals_of(*st, "Other");
  REQUIRE(other != nullptr);
  CHECK(other->failed == 1);
  CHECK(other->completed == 0);
  CHECK(other->last_status == JobStatus::failed);
  const TypeTotals* gone = totals_of(*st, "Gone");
  REQUIRE(gone != nullptr);
  CHECK(gone->completed == 7);
  CHECK_FALSE(gone->last_finish.has_value());

  // The last 24 hours only: Step's three recent runs in one minute.
  REQUIRE(st->minutes.size() == 1);
  const auto& m = st->minutes[0];
  CHECK(m.minute == recent);
  CHECK(m.name == "Step");
  CHECK(m.completed == 1);
  CHECK(m.failed == 1);
  CHECK(m.cancelled == 1);
  CHECK(m.duration_sum_ms == 703);
  DurationHistogram expected{};
  ++expected[duration_bin(milliseconds(3))];
  ++expected[duration_bin(milliseconds(700))];
  CHECK(m.durations == expected);

  CHECK(st->max_id == 90);
  REQUIRE(st->active.size() == 2);
  CHECK(st->active[0].id == 15);
  CHECK(st->active[1].id == 16);

  // From here on totals grow with each finish, and pruning no longer adds to them.
  s.start();
  s.finish(ended(st->active[0], JobStatus::completed, now, milliseconds(1)));
  REQUIRE(s.prune(now + minutes(1), 0).has_value());
  s.close();
  auto after = s.load(now - std::chrono::hours(24));
  REQUIRE(after.has_value());
  CHECK(totals_of(*after, "Step")->completed == 8);
  CHECK(totals_of(*after, "Step")->failed == 2);
  opened->reset();
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("PRAGMA user_version").getInt() == job_store_schema_version());
  // v5: status changes no longer move an index entry.
  CHECK(db.execAndGet("SELECT COUNT(*) FROM sqlite_master WHERE name = 'jobs_by_status'").getInt() == 0);
}

TEST_CASE("the SQLite job store refuses a file another store holds until that one closes", "[store]") {
  TempDir dir;
  const std::string path = dir.file("jobs.db");
  auto first = open_sqlite_job_store({.path = path, .logger = quiet_logger()});
  REQUIRE(first.has_value());
  auto second = open_sqlite_job_store({.path = path, .logger = quiet_logger()});
  REQUIRE_FALSE(second.has_value());
  CHECK(second.error().code == errc::store_error);
  CHECK_THAT(second.error().message, Catch::Contains("in use") && Catch::Contains(path));
  (*first)->close();
  auto third = open_sqlite_job_store({.path = path, .logger = quiet_logger()});
  CHECK(third.has_value());
}

TEST_CASE("the SQLite job store refuses a file of a newer schema", "[store]") {
  TempDir dir;
  const std::string path = dir.file("jobs.db");
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA user_version = 99");
  }
  auto opened = open_sqlite_job_store({.path = path, .logger = quiet_logger()});
  REQUIRE_FALSE(opened.has_value());
  CHECK(opened.error().code == errc::store_error);
  CHECK_THAT(opened.error().message, Catch::Contains("newer"));
}

TEST_CASE("the SQLite job store refuses a negative commit linger and creates no file", "[store]") {
  TempDir dir;
  const std::string path = dir.file("jobs.db");
  auto opened = open_sqlite_job_store(
      {.path = path, .commit_linger = std::chrono::microseconds(-1), .logger = quiet_logger()});
  REQUIRE_FALSE(opened.has_value());
  CHECK(opened.error().code == errc::invalid_argument);
  CHECK_THAT(opened.error().message, Catch::Contains("commit_linger"));
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("the SQLite job store reports its commits and sizes", "[store]") {
  Harness h(Kind::sqlite_file);
  h.store().insert(make_job(1), "");
  h.store().flush();
  const StoreHealth st = h.store().stats();
  CHECK(st.commits >= 1);
  CHECK(st.write_errors == 0);
  CHECK(st.file_bytes > 0);
}

// ------------------------------------------------------------------ fault store

TEST_CASE("the fault store retries a failed commit until the write lands", "[store]") {
  FaultJobStore s;
  s.start();
  s.fail_nth_commit(1);
  Outcomes outcomes;
  s.insert(make_job(1), "", outcomes.done(1));
  s.flush();
  CHECK(outcomes.get() == std::vector<std::pair<int, bool>>{{1, true}});
  CHECK(s.stats().write_errors == 1);
  CHECK(s.injected_failures() == 1);
  CHECK(s.commit_attempts() == 2);
  CHECK(must_get(s, 1).id == 1);
  // The nth attempt from now: the second one fails.
  s.fail_nth_commit(2);
  s.insert(make_job(2), "");
  s.flush();
  s.insert(make_job(3), "");
  s.flush();
  CHECK(s.stats().write_errors == 2);
  CHECK(must_get(s, 3).id == 3);
}

TEST_CASE("the fault store holds writes while failing and commits them all once healed", "[store]") {
  FaultJobStore s;
  s.start();
  s.fail_until_healed();
  Outcomes outcomes;
  for (int i = 1; i <= 3; ++i) s.insert(make_job(i), "", outcomes.done(i));
  REQUIRE(s.wait_for_failures(3));
  CHECK(outcomes.get().empty());  // nothing is acknowledged while commits fail
  // A reader waits for the writes called before it, so it blocks until the heal.
  std::atomic<bool> read_done{false};
  std::atomic<bool> read_found{false};
  std::thread reader([&] {
    auto got = s.get(3);
    read_found = got.has_value() && got->has_value();
    read_done = true;
  });
  CHECK_FALSE(read_done.load());
  s.heal();
  reader.join();
  CHECK(read_found.load());
  s.flush();
  const auto got = outcomes.get();
  REQUIRE(got.size() == 3);
  for (const auto& [tag, ok] : got) CHECK(ok);
  CHECK(s.stats().write_errors >= 3);
  CHECK(s.stats().commits >= 1);
}

TEST_CASE("the fault store fails commits for a window, then the writes land", "[store]") {
  FaultJobStore s;
  s.start();
  s.fail_for(milliseconds(30));
  Outcomes outcomes;
  s.insert(make_job(1), "", outcomes.done(1));
  s.flush();
  CHECK(outcomes.get() == std::vector<std::pair<int, bool>>{{1, true}});
  CHECK(must_get(s, 1).id == 1);
}

TEST_CASE("the fault store slows commits and keeps their order", "[store]") {
  FaultJobStore s;
  s.start();
  s.slow_commits(milliseconds(2));
  Outcomes outcomes;
  for (int i = 1; i <= 20; ++i) s.insert(make_job(i), "", outcomes.done(i));
  s.flush();
  const auto got = outcomes.get();
  REQUIRE(got.size() == 20);
  for (int i = 0; i < 20; ++i) CHECK(got[static_cast<std::size_t>(i)].first == i + 1);
  s.slow_commits(milliseconds(0));
}

TEST_CASE("the fault store drops a batch that still fails when it closes, with Done(false)", "[store]") {
  FaultJobStore s;
  s.start();
  s.fail_until_healed();
  Outcomes outcomes;
  s.insert(make_job(1), "", outcomes.done(1));
  REQUIRE(s.wait_for_failures(1));
  s.close();
  CHECK(outcomes.get() == std::vector<std::pair<int, bool>>{{1, false}});
  CHECK(s.stats().write_errors >= 5);
  auto pruned = s.prune(std::nullopt, 0);
  CHECK_FALSE(pruned.has_value());
}

TEST_CASE("the fault store fails prune and recovery writes while failing", "[store]") {
  FaultJobStore s;
  s.put(make_job(1));
  s.fail_until_healed();
  JobInfo failed = ended(make_job(1), JobStatus::failed, t0, milliseconds(1));
  auto recovered = s.write_recovered({failed});
  REQUIRE_FALSE(recovered.has_value());
  CHECK(recovered.error().code == errc::store_error);
  s.heal();
  REQUIRE(s.write_recovered({failed}).has_value());
  s.start();
  s.fail_until_healed();
  auto pruned = s.prune(std::nullopt, 0);
  REQUIRE_FALSE(pruned.has_value());
  CHECK(pruned.error().code == errc::store_error);
  s.heal();
  CHECK(must_get(s, 1).status == JobStatus::failed);
}

// The writer runs these statements for every job; a plan that opens a temporary table (SQLite
// does for "x IN (a, b, c)" and its NOT form, where a list of two is compared in place) opened
// and closed a b-tree and its pager on every run: a sixth of the writer's time.
TEST_CASE("the SQLite store's write statements open no temporary table", "[store][sqlite]") {
  TempDir dir;
  auto store = detail::SqliteJobStore::open({.path = dir.file("jobs.db"), .logger = quiet_logger()});
  REQUIRE(store);
  const auto statements = (*store)->write_statements();
  REQUIRE(statements.size() >= 10);
  SQLite::Database db(dir.file("jobs.db"), SQLite::OPEN_READONLY);
  for (const auto& sql : statements) {
    INFO(sql);
    SQLite::Statement explain(db, "EXPLAIN " + sql);
    int ops = 0;
    while (explain.executeStep()) {
      ++ops;
      CHECK(explain.getColumn(1).getString() != "OpenEphemeral");
    }
    CHECK(ops > 0);
  }
}

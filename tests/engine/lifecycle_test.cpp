// SPDX-License-Identifier: MIT
// A job's life: progress, messages, failures, cancellation, observers, queries and stop().

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/job_runner.hpp"
#include "engine_fixture.hpp"
#include "memory_job_store.hpp"

using namespace shelfjobs;
using namespace testing;

namespace {

struct Count : Command {
  static constexpr std::string_view kName = "Count";
  int n = 0;
  std::string done;
};
void to_json(nlohmann::json& j, const Count& c) { j = {{"n", c.n}, {"done", c.done}}; }
void from_json(const nlohmann::json& j, Count& c) {
  j.at("n").get_to(c.n);
  if (j.contains("done")) j.at("done").get_to(c.done);
}

struct Throws : Command {
  static constexpr std::string_view kName = "Throws";
  std::string kind;
};
void to_json(nlohmann::json& j, const Throws& c) { j = {{"kind", c.kind}}; }
void from_json(const nlohmann::json& j, Throws& c) { j.at("kind").get_to(c.kind); }

Registry counting_registry() {
  Registry r;
  r.add<Count>([](const Count& c, JobContext& ctx) {
    for (int i = 1; i <= c.n; ++i) ctx.report(i, c.n, std::to_string(i) + " of " + std::to_string(c.n));
    if (!c.done.empty()) ctx.complete(c.done);
  });
  r.add<Throws>([](const Throws& c, JobContext&) {
    if (c.kind == "network") throw JobError(ErrorKind::network, "connection refused");
    if (c.kind == "int") throw 42;
    throw std::runtime_error("disk on fire");
  });
  return r;
}

}  // namespace

TEST_CASE("progress is throttled for observers and the last message becomes the job's",
          "[lifecycle][progress]") {
  TempDir dir;
  auto e = Engine::create({.store_path = job_store_at(dir), .logger = quiet_logger()}, counting_registry())
               .value();
  std::atomic<int> progress_events{0};
  std::atomic<int> completed_events{0};
  e->subscribe(on_event<JobEvent>([&](const JobEvent& ev) {
    if (ev.type == JobEvent::Type::progress) ++progress_events;
    if (ev.type == JobEvent::Type::completed) ++completed_events;
  }));
  e->start();
  auto job = e->push(Count{{}, 100000, ""}).value().job;
  REQUIRE(e->wait_idle(10s));
  auto done = e->get(job.id).value();
  CHECK(done.status == JobStatus::completed);
  CHECK(done.message == "100000 of 100000");
  CHECK(done.progress.current == 100000);
  CHECK(done.progress.total == 100000);
  // Events reach a subscriber on its own delivery thread, in order: once the job's completion
  // has arrived, so has every progress event told before it.
  REQUIRE(eventually([&] { return completed_events.load() >= 1; }));
  CHECK(progress_events.load() >= 1);
  CHECK(progress_events.load() < 100);  // 100,000 reports, throttled to one per 250 ms

  auto with_message = e->push(Count{{}, 3, "refreshed 3 authors"}).value().job;
  REQUIRE(e->wait_idle(5s));
  CHECK(e->get(with_message.id)->message == "refreshed 3 authors");
}

namespace {
struct TwoSteps : Command {
  static constexpr std::string_view kName = "TwoSteps";
};
}  // namespace

// "Step 2" is reported right after "step 1", inside the throttle's interval, and step 2 is long:
// observers must see step 2 while it runs, not step 1 until the job ends.
TEST_CASE("a report the throttle held back is published while the job runs on", "[lifecycle][progress]") {
  TempDir dir;
  std::atomic<bool> release{false};
  Registry r;
  r.add<TwoSteps>([&](const TwoSteps&, JobContext& ctx) {
    ctx.report(1, 2, "step 1");
    ctx.report(2, 2, "step 2");
    while (!release.load() && !ctx.cancelled()) std::this_thread::sleep_for(1ms);
  });
  auto e =
      Engine::create({.store_path = job_store_at(dir), .progress_interval = 100ms, .logger = quiet_logger()},
                     std::move(r))
          .value();
  std::mutex mu;
  std::vector<std::string> seen;  // progress events' messages, in order
  e->subscribe(on_event<JobEvent>([&](const JobEvent& ev) {
    if (ev.type != JobEvent::Type::progress) return;
    std::lock_guard lock(mu);
    seen.push_back(ev.job.progress.message);
  }));
  e->start();
  const JobId id = e->push(TwoSteps{}).value().job.id;
  const auto until = std::chrono::steady_clock::now() + 10s;
  auto step2_seen = [&] {
    std::lock_guard lock(mu);
    return !seen.empty() && seen.back() == "step 2";
  };
  while (!step2_seen() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
  CHECK(e->get(id)->status == JobStatus::executing);  // still in its long step
  {
    std::lock_guard lock(mu);
    CHECK(seen == std::vector<std::string>{"step 1", "step 2"});  // each once
  }
  release = true;
  REQUIRE(e->wait_idle(10s));
  CHECK(e->get(id)->progress.message == "step 2");
}

namespace {
struct Halfway : Command {
  static constexpr std::string_view kName = "Halfway";
  int n = 0;
};
void to_json(nlohmann::json& j, const Halfway& h) { j = {{"n", h.n}}; }
void from_json(const nlohmann::json& j, Halfway& h) { j.at("n").get_to(h.n); }
struct Waits : Command {
  static constexpr std::string_view kName = "Waits";
};
// Counts the progress writes the engine makes.
class ProgressCountingStore : public MemoryJobStore {
 public:
  void progress(JobId id, const Progress& p) override {
    ++writes;
    MemoryJobStore::progress(id, p);
  }
  std::atomic<int> writes{0};
};
}  // namespace

// Quick jobs that report once end before any sweep: each report used to be a write of its own,
// queued to the store's writer and dropped there when the job's end came in the same batch.
TEST_CASE("a running job's progress reaches the store each interval, a quick job's with its end",
          "[lifecycle][progress]") {
  std::atomic<bool> release{false};
  Registry r;
  r.add<Halfway>([](const Halfway&, JobContext& ctx) { ctx.report(1, 2, "halfway"); });
  r.add<Waits>([&](const Waits&, JobContext& ctx) {
    ctx.report(1, 3, "one");
    ctx.report(2, 3, "two");  // held back by the throttle, and still the one the store gets
    while (!release.load() && !ctx.cancelled()) std::this_thread::sleep_for(1ms);
  });
  auto store = std::make_shared<ProgressCountingStore>();
  auto e =
      Engine::create({.store = store, .progress_interval = 200ms, .logger = quiet_logger()}, std::move(r))
          .value();
  e->start();
  std::vector<JobId> quick;
  for (int i = 0; i < 200; ++i) {
    Halfway h;
    h.n = i;
    quick.push_back(e->push(h).value().job.id);
  }
  REQUIRE(e->wait_idle(20s));
  // A sweep writes what the running jobs (3 workers) reported since the last one, every 200 ms:
  // a handful while 200 jobs run, not one per job.
  CHECK(store->writes.load() < 50);
  for (JobId id : {quick.front(), quick.back()}) {
    auto row = store->get(id).value();
    REQUIRE(row);
    CHECK(row->status == JobStatus::completed);
    CHECK(row->progress.message == "halfway");  // written with the job's end
  }

  const int before = store->writes.load();
  const JobId slow = e->push(Waits{}).value().job.id;
  REQUIRE(eventually([&] {
    auto row = store->get(slow).value();
    return row && row->progress.message == "two";
  }));
  CHECK(store->get(slow).value()->status == JobStatus::executing);
  CHECK(store->writes.load() - before == 1);  // two reports, one write
  release = true;
  REQUIRE(e->wait_idle(10s));
  CHECK(store->get(slow).value()->progress.current == 2);
}

// The throttle's two edges meet: a report published at once (its interval had passed) lands
// between the flush being asked for an earlier held report and that flush. The report held after
// it must wait for its own interval, not go out with the late flush.
TEST_CASE("a flush that comes after a report published at once waits for that report's interval",
          "[lifecycle][progress]") {
  detail::JobRun run;
  run.progress_interval = 300ms;
  std::vector<std::string> told;  // what the flushes tell, as "message@current"
  const detail::JobRun::Tell record = [&](const JobDelta&, const Progress& p) {
    told.push_back(p.message + "@" + std::to_string(p.current));
  };
  auto first = run.report(1, 4, "one");
  REQUIRE(first.publish);  // nothing published before it
  auto held = run.report(2, 4, "two");
  CHECK_FALSE(held.publish);
  REQUIRE(held.flush_in);
  CHECK(*held.flush_in <= 300ms);
  std::this_thread::sleep_for(320ms);
  auto at_once = run.report(3, 4, "three");  // the interval passed: published now
  REQUIRE(at_once.publish);
  auto held_again = run.report(4, 4, "four");  // the flush asked for "two" is still to come
  CHECK_FALSE(held_again.publish);
  CHECK_FALSE(held_again.flush_in);
  auto late = run.take_held(record);  // that flush, just after "three" went out
  CHECK_FALSE(late.publish);
  CHECK(told.empty());
  REQUIRE(late.flush_in);
  CHECK(late.flush_in->count() > 0);
  std::this_thread::sleep_for(*late.flush_in + 20ms);
  auto flushed = run.take_held(record);
  REQUIRE(flushed.publish);
  CHECK(told == std::vector<std::string>{"four@4"});
  auto nothing = run.take_held(record);
  CHECK_FALSE(nothing.publish);
  CHECK_FALSE(nothing.flush_in);
  CHECK(told.size() == 1);
}

// A flush tells the report it takes under the lock that takes it: a report made meanwhile (on the
// job's thread, while the strand's flush tells) is held for a flush of its own rather than told in
// the held one's place and then once more by its own flush.
TEST_CASE("a report made while a flush tells the held one waits for its own flush", "[lifecycle][progress]") {
  detail::JobRun run;
  run.progress_interval = 300ms;
  REQUIRE(run.report(1, 3, "one").publish);
  REQUIRE(run.report(2, 3, "two").flush_in);
  std::this_thread::sleep_for(320ms);
  std::vector<std::string> told;
  detail::JobRun::ReportAction during;
  std::thread reporter;
  auto flushed = run.take_held([&](const JobDelta&, const Progress& p) {
    told.push_back(p.message);
    // The job reports again while the flush tells: it waits for the run's lock, or comes after.
    reporter = std::thread([&] { during = run.report(3, 3, "three"); });
    std::this_thread::sleep_for(50ms);
  });
  reporter.join();
  REQUIRE(flushed.publish);
  CHECK(told == std::vector<std::string>{"two"});
  CHECK_FALSE(during.publish);  // inside the interval the flush began
  REQUIRE(during.flush_in);     // so it asks for a flush of its own
  std::this_thread::sleep_for(*during.flush_in + 20ms);
  REQUIRE(run.take_held([&](const JobDelta&, const Progress& p) { told.push_back(p.message); }).publish);
  CHECK(told == std::vector<std::string>{"two", "three"});
}

// The host reads the report as it tells it (ReportAction carries no copy): what it tells is the
// run's latest report, and nothing once the run's end was taken.
TEST_CASE("a run tells its latest report beside its delta, and nothing after its end",
          "[lifecycle][progress]") {
  detail::JobRun run;
  run.progress_interval = 0ms;
  JobDelta delta;
  delta.id = 7;
  delta.name = "Reporter";
  run.set_running(delta);
  REQUIRE(run.report(1, 3, "first report, long enough to live on the heap").publish);
  REQUIRE(run.report(2, 3, "second report, long enough to live on the heap").publish);
  int calls = 0;
  std::string told;
  std::int64_t current = 0;
  JobId id = 0;
  run.tell_progress([&](const JobDelta& running, const Progress& p) {
    ++calls;
    id = running.id;
    told = p.message;
    current = p.current;
  });
  CHECK(calls == 1);
  CHECK(id == 7);
  CHECK(told == "second report, long enough to live on the heap");
  CHECK(current == 2);
  CHECK(run.end().current == 2);
  run.tell_progress([&](const JobDelta&, const Progress&) { ++calls; });
  CHECK(calls == 1);
}

// The end moves the run's progress out to the job: a flush asked for before it, coming after it,
// must tell nothing rather than an emptied report.
TEST_CASE("a run's end hands over its last report and no flush after it tells one", "[lifecycle][progress]") {
  detail::JobRun run;
  run.progress_interval = 10s;
  REQUIRE(run.report(1, 3, "first report, long enough to live on the heap").publish);
  auto held = run.report(2, 3, "second report, long enough to live on the heap");
  CHECK_FALSE(held.publish);
  REQUIRE(held.flush_in);
  const Progress last = run.end();
  CHECK(last.current == 2);
  CHECK(last.total == 3);
  CHECK(last.message == "second report, long enough to live on the heap");
  bool told = false;
  auto flush = run.take_held([&](const JobDelta&, const Progress&) { told = true; });
  CHECK_FALSE(flush.publish);
  CHECK_FALSE(flush.flush_in);
  CHECK_FALSE(told);
  CHECK_FALSE(run.take_unpersisted());
}

TEST_CASE("a throwing handler fails its job and never stops a worker", "[lifecycle][errors]") {
  TempDir dir;
  // No retries here: network failures would otherwise wait for their next attempt.
  auto e = Engine::create({.store_path = job_store_at(dir),
                           .workers = 1,
                           .logger = quiet_logger(),
                           .retry = RetryPolicy{.network = 0}},
                          counting_registry())
               .value();
  e->start();
  auto plain = e->push(Throws{{}, "plain"}).value().job;
  auto network = e->push(Throws{{}, "network"}).value().job;
  auto odd = e->push(Throws{{}, "int"}).value().job;
  auto after = e->push(Count{{}, 1, ""}).value().job;
  REQUIRE(e->wait_idle(5s));

  auto p = e->get(plain.id).value();
  CHECK(p.status == JobStatus::failed);
  CHECK(p.error == "disk on fire");
  CHECK(p.error_kind == ErrorKind::permanent);
  auto n = e->get(network.id).value();
  CHECK(n.status == JobStatus::failed);
  CHECK(n.error_kind == ErrorKind::network);
  CHECK(n.error == "connection refused");
  auto o = e->get(odd.id).value();
  CHECK(o.status == JobStatus::failed);
  CHECK(o.error_kind == ErrorKind::permanent);
  CHECK(e->get(after.id)->status == JobStatus::completed);
}

TEST_CASE("observers see every lifecycle event in order", "[lifecycle][observer]") {
  Fixture f;
  auto& e = f.open(1);
  Recorder events;
  e.subscribe(on_event<JobEvent>([&](const JobEvent& ev) {
    events.add(std::string(to_string(ev.type)) + ":" + ev.job.body->value("tag", "?"));
  }));
  f.gates.open("ok");
  f.push<Step>("ok");
  REQUIRE(events.wait_for("completed:ok"));
  f.gates.open("fail1");
  f.push<Step>("fail1");
  REQUIRE(events.wait_for("failed:fail1"));
  f.push<Step>("hold");
  REQUIRE(f.rec.wait_for("start:hold"));
  auto q = f.push<Step>("queued");
  REQUIRE(e.cancel(q.id).has_value());
  f.gates.open("hold");
  REQUIRE(events.wait_for("completed:hold"));
  CHECK(events.items() == std::vector<std::string>{"queued:ok", "started:ok", "completed:ok",        //
                                                   "queued:fail1", "started:fail1", "failed:fail1",  //
                                                   "queued:hold", "started:hold", "queued:queued",   //
                                                   "cancelled:queued", "completed:hold"});
}

TEST_CASE("cancelling", "[lifecycle][cancel]") {
  Fixture f;
  auto& e = f.open(1);

  SECTION("a queued job becomes Cancelled at once") {
    f.push<Step>("busy");
    REQUIRE(f.rec.wait_for("start:busy"));
    auto q = f.push<Step>("q");
    auto r = e.cancel(q.id);
    REQUIRE(r.has_value());
    CHECK(r->status == JobStatus::cancelled);
    CHECK(f.status(q.id) == JobStatus::cancelled);
    f.gates.open("busy");
    REQUIRE(e.wait_idle(5s));
    CHECK_FALSE(f.rec.contains("start:q"));
  }
  SECTION("a running job gets its token cancelled and ends Cancelled") {
    auto r = f.push<Step>("run");
    REQUIRE(f.rec.wait_for("start:run"));
    auto c = e.cancel(r.id);
    REQUIRE(c.has_value());
    REQUIRE(f.ends(r.id, JobStatus::cancelled));
    CHECK(f.rec.contains("cancelled:run"));
  }
  SECTION("a finished or unknown job gives a clear error") {
    f.gates.open("done");
    auto d = f.push<Step>("done");
    REQUIRE(f.ends(d.id, JobStatus::completed));
    auto c = e.cancel(d.id);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().code == errc::not_cancellable);
    CHECK_THAT(c.error().message, Catch::Contains("completed"));
    auto u = e.cancel(424242);
    REQUIRE_FALSE(u.has_value());
    CHECK(u.error().code == errc::not_found);
  }
}

TEST_CASE("a cancelled job stays cancelled after a restart", "[lifecycle][cancel][recovery]") {
  Fixture f;
  JobId id = 0;
  {
    auto& e = f.open(1, false);
    id = f.push<Step>("never").id;
    REQUIRE(e.cancel(id).has_value());
  }
  f.gates.open_all();
  auto& e = f.open(1);
  CHECK(e.wait_idle(2s));
  CHECK(f.status(id) == JobStatus::cancelled);
  CHECK_FALSE(f.rec.contains("start:never"));
}

TEST_CASE("queries: get, list with filters and paging, queue depth", "[lifecycle][query]") {
  Fixture f;
  auto& e = f.open(1, false);
  std::vector<JobId> ids;
  for (int i = 0; i < 7; ++i) ids.push_back(f.push<Step>("s" + std::to_string(i)).id);
  auto disk = f.push<DiskStep>("d", {.priority = Priority::high});
  auto depth = e.queue_depth();
  CHECK(depth.queued[static_cast<int>(Priority::normal)] == 7);
  CHECK(depth.queued[static_cast<int>(Priority::high)] == 1);
  CHECK(depth.total_queued() == 8);

  auto page1 = e.list({.names = {"step"}, .limit = 3}).value();
  REQUIRE(page1.jobs.size() == 3);
  CHECK(page1.jobs[0].id == ids[6]);
  CHECK(page1.jobs[2].id == ids[4]);
  auto page2 = e.list({.names = {"Step"}, .before_id = page1.next_before_id, .limit = 3}).value();
  REQUIRE(page2.jobs.size() == 3);
  CHECK(page2.jobs[0].id == ids[3]);
  auto page3 = e.list({.names = {"Step"}, .before_id = page2.next_before_id, .limit = 3}).value();
  CHECK(page3.jobs.size() == 1);
  CHECK(page3.next_before_id == 0);

  f.gates.open_all();
  e.start();
  REQUIRE(e.wait_idle(5s));
  REQUIRE(e.cancel(ids[0]).error().code == errc::not_cancellable);
  auto done = e.list({.statuses = {JobStatus::completed}}).value();
  CHECK(done.jobs.size() == 8);
  auto disk_only = e.list({.names = {"DiskStep"}}).value();
  REQUIRE(disk_only.jobs.size() == 1);
  CHECK(disk_only.jobs[0].id == disk.id);
  CHECK(disk_only.jobs[0].started_at.has_value());
  CHECK(disk_only.jobs[0].ended_at.has_value());
  CHECK(e.list({.statuses = {JobStatus::failed}})->jobs.empty());
  CHECK_FALSE(e.list({.limit = 0}).has_value());
  CHECK_FALSE(e.get(999).has_value());
}

TEST_CASE("stop refuses new work, cancels running jobs and persists", "[lifecycle][stop]") {
  Fixture f;
  auto& e = f.open(2);
  auto r = f.push<Step>("running");
  auto norescue = f.push<NoRescue>("norescue");
  REQUIRE(f.rec.wait_for("start:running"));
  REQUIRE(f.rec.wait_for("start:norescue"));
  auto q = f.push<Step>("queued");
  CHECK(e.stop(5s));
  CHECK(f.rec.contains("cancelled:running"));
  auto after = e.push(Step{{}, "late"});
  REQUIRE_FALSE(after.has_value());
  CHECK(after.error().code == errc::shutting_down);
  CHECK(e.stop(1s));  // idempotent

  // A stopped engine still answers queries from its store.
  auto stopped_view = e.get(r.id);
  REQUIRE(stopped_view.has_value());
  CHECK(stopped_view->status == JobStatus::queued);
  CHECK(e.list().has_value());

  // The job stop() interrupted was not cancelled by anyone: it resumes at the next start. The
  // type that opted out of rescue is failed as interrupted. The queued one is still queued.
  f.gates.open_all();
  auto& again = f.open(1, false);
  auto resumed = again.get(r.id).value();
  CHECK(resumed.status == JobStatus::queued);
  CHECK(resumed.attempt == 2);
  auto nr = again.get(norescue.id).value();
  CHECK(nr.status == JobStatus::failed);
  CHECK(nr.message == "interrupted");
  CHECK(again.get(q.id)->status == JobStatus::queued);
  again.start();
  REQUIRE(again.wait_idle(5s));
  CHECK(again.get(r.id)->status == JobStatus::completed);
}

TEST_CASE("a job a user cancelled stays cancelled when stop() follows", "[lifecycle][stop][cancel]") {
  Fixture f;
  auto& e = f.open(1);
  auto r = f.push<Step>("slow");
  REQUIRE(f.rec.wait_for("start:slow"));
  REQUIRE(e.cancel(r.id).has_value());
  CHECK(e.stop(5s));
  CHECK(e.get(r.id)->status == JobStatus::cancelled);
}

TEST_CASE("subscribers may push, cancel and unsubscribe from inside their call", "[lifecycle][observer]") {
  Fixture f;
  auto& e = f.open(1);
  f.gates.open_all();
  std::atomic<JobId> rerun{0};
  std::atomic<int> calls_after_unsubscribe{0};
  std::uint64_t self = 0;
  self = e.subscribe(on_event<JobEvent>([&](const JobEvent& ev) {
    const auto tag = ev.job.body->value("tag", "");
    if (ev.type == JobEvent::Type::completed && tag == "chain" && rerun == 0) {
      // An equal command pushed when its twin completes is a new job, not a merge.
      auto again = e.push(Step{{}, "chain"}, {.durable = false});
      if (again && !again->merged) rerun = again->job.id;
    }
    if (ev.type == JobEvent::Type::queued && tag == "doomed") (void)e.cancel(ev.job.id);
    if (tag == "bye") {
      if (ev.type != JobEvent::Type::queued) ++calls_after_unsubscribe;
      e.unsubscribe(self);
    }
  }));
  auto first = f.push<Step>("chain");
  REQUIRE(eventually([&] { return rerun.load() != 0; }));
  CHECK(rerun.load() != first.id);
  REQUIRE(f.ends(rerun.load(), JobStatus::completed));

  // Events reach subscribers off the strand, after the fact: a job the subscriber wants to
  // cancel on "queued" must still be waiting then (here: delayed).
  auto doomed =
      e.push(Step{{}, "doomed"}, {.not_before = std::chrono::system_clock::now() + std::chrono::hours(1)});
  REQUIRE(doomed.has_value());
  CHECK(f.ends(doomed->job.id, JobStatus::cancelled));

  auto bye = f.push<Step>("bye");
  REQUIRE(f.ends(bye.id, JobStatus::completed));
  CHECK(calls_after_unsubscribe.load() == 0);
}

TEST_CASE("stop returns false when a handler ignores cancellation past the deadline", "[lifecycle][stop]") {
  TempDir dir;
  // Shared, not on the stack: the stuck handler outlives this test on a detached thread.
  auto release = std::make_shared<std::atomic<bool>>(false);
  auto started = std::make_shared<std::atomic<bool>>(false);
  Registry r;
  r.add<Noop>([release, started](const Noop&, JobContext&) {
    *started = true;
    while (!*release) std::this_thread::sleep_for(1ms);
  });
  JobId id = 0;
  {
    auto e =
        Engine::create({.store_path = job_store_at(dir), .logger = quiet_logger()}, std::move(r)).value();
    e->start();
    id = e->push(Noop{}).value().job.id;
    REQUIRE(eventually([&] { return started->load(); }));
    CHECK_FALSE(e->stop(50ms));
  }
  // The stuck job is still Executing in the store and is rescued by the next engine.
  Registry r2;
  r2.add<Noop>([](const Noop&, JobContext&) {});
  auto e2 =
      Engine::create({.store_path = job_store_at(dir), .logger = quiet_logger()}, std::move(r2)).value();
  e2->start();
  REQUIRE(e2->wait_idle(5s));
  auto j = e2->get(id).value();
  CHECK(j.status == JobStatus::completed);
  CHECK(j.attempt == 2);
  *release = true;
}

namespace {
struct Chatty : Command {
  static constexpr std::string_view kName = "Chatty";
};
struct Deaf : Command {
  static constexpr std::string_view kName = "Deaf";
};

// One job's events, as a subscriber received them.
struct JobEvents {
  std::mutex mu;
  std::vector<JobEvent> events;
  HostObserver observer(JobId id) {
    return on_event<JobEvent>([this, id](const JobEvent& ev) {
      if (ev.job.id != id) return;
      std::lock_guard lock(mu);
      events.push_back(ev);
    });
  }
  std::vector<JobEvent> get() {
    std::lock_guard lock(mu);
    return events;
  }
};
}  // namespace

// Reports are told from the handler's own thread, not the dispatcher's: each still comes after
// the job's start and before its end, and tells the running job as the dispatcher knows it.
TEST_CASE("a job's progress events come between its start and its end and tell the running job",
          "[lifecycle][progress][events]") {
  TempDir dir;
  Registry r;
  r.add<Chatty>([](const Chatty&, JobContext& ctx) {
    for (int i = 1; i <= 3; ++i) ctx.report(i, 3, "step " + std::to_string(i));
  });
  auto e =
      Engine::create({.store_path = job_store_at(dir), .progress_interval = 0ms, .logger = quiet_logger()},
                     std::move(r))
          .value();
  // The id a first push gets in a fresh store; checked below. Every progress event, uncoalesced.
  JobEvents seen;
  e->subscribe(seen.observer(1), {.coalesce_progress = false});
  e->start();
  const auto pushed = e->push(Chatty{}, {.priority = Priority::high}).value().job;
  REQUIRE(pushed.id == 1);
  REQUIRE(e->wait_idle(10s));
  REQUIRE(eventually([&] { return seen.get().size() == 6; }));
  const auto events = seen.get();
  using T = JobEvent::Type;
  std::vector<T> types;
  for (const auto& ev : events) types.push_back(ev.type);
  CHECK(types == std::vector<T>{T::queued, T::started, T::progress, T::progress, T::progress, T::completed});
  const auto& started = events[1].job;
  for (int i = 2; i <= 4; ++i) {
    const auto& p = events[static_cast<std::size_t>(i)].job;
    CHECK(p.status == JobStatus::executing);
    CHECK(p.name == "Chatty");
    CHECK(p.priority == Priority::high);
    CHECK(p.attempt == 1);
    CHECK(p.started_at == started.started_at);
    CHECK(p.queued_at == started.queued_at);
    CHECK(p.progress.current == i - 1);
    CHECK(p.progress.message == "step " + std::to_string(i - 1));
  }
  CHECK(e->get(1)->progress.message == "step 3");
}

// A handler abandoned for its timeout runs on after its job failed: what it reports then is
// neither told nor written.
TEST_CASE("a report from a handler abandoned for its timeout is not told after the job's end",
          "[lifecycle][progress][events]") {
  TempDir dir;
  std::atomic<bool> failed_seen{false};
  std::atomic<bool> reported{false};
  Registry r;
  r.add<Deaf>(
      [&](const Deaf&, JobContext& ctx) {
        ctx.report(1, 2, "before the end");
        while (!failed_seen.load()) std::this_thread::sleep_for(1ms);  // deaf to its cancellation
        ctx.report(2, 2, "after the end");
        reported = true;
      },
      {.timeout = 50ms});
  auto e = Engine::create({.store_path = job_store_at(dir),
                           .progress_interval = 0ms,
                           .logger = quiet_logger(),
                           .timeout_grace = 50ms},
                          std::move(r))
               .value();
  JobEvents seen;
  e->subscribe(seen.observer(1), {.coalesce_progress = false});
  e->subscribe(on_event<JobEvent>([&](const JobEvent& ev) {
    if (ev.job.id == 1 && ev.type == JobEvent::Type::failed) failed_seen = true;
  }));
  e->start();
  REQUIRE(e->push(Deaf{}).value().job.id == 1);
  REQUIRE(eventually([&] { return reported.load(); }, 10s));
  REQUIRE(e->wait_idle(10s));
  std::this_thread::sleep_for(50ms);  // a late event would have been delivered by now
  const auto events = seen.get();
  REQUIRE_FALSE(events.empty());
  CHECK(events.back().type == JobEvent::Type::failed);
  for (const auto& ev : events) CHECK(ev.job.progress.message != "after the end");
  const auto row = e->get(1).value();
  CHECK(row.status == JobStatus::failed);
  CHECK(row.error_kind == ErrorKind::timeout);
  CHECK(row.progress.message == "before the end");
  e->stop(5s);
}

namespace {
// This process's threads whose names start with "shelf-", by thread id.
std::map<std::string, std::string> shelf_threads() {
  std::map<std::string, std::string> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name) && name.rfind("shelf-", 0) == 0)
      names[task.path().filename().string()] = name;
  }
  return names;
}

// The names of the threads in `now` that were not in `before` (an earlier test's stuck handler
// may still be running, or end, meanwhile: threads are told apart by id, not by name).
std::multiset<std::string> started_since(const std::map<std::string, std::string>& before,
                                         const std::map<std::string, std::string>& now) {
  std::multiset<std::string> out;
  for (const auto& [tid, name] : now)
    if (before.count(tid) == 0) out.insert(name);
  return out;
}
}  // namespace

TEST_CASE("the engine's threads carry names, and none outlives the engine", "[lifecycle][sqlite]") {
  const auto before = shelf_threads();
  std::map<std::string, std::string> during;
  {
    TempDir dir;
    auto e = Engine::create({.store_path = dir.file("jobs.db"), .workers = 2, .logger = quiet_logger()},
                            counting_registry())
                 .value();
    const auto unsubscribed = started_since(before, shelf_threads()).count("shelf-events");  // the notifier's
    const auto sub = e->subscribe([](const HostEvent&) {});
    CHECK(started_since(before, shelf_threads()).count("shelf-events") ==
          unsubscribed + 1);  // one per subscriber
    e->start();
    REQUIRE(e->push(Count{.n = 1}));
    REQUIRE(e->wait_idle(10s));
    during = shelf_threads();
    const auto names = started_since(before, during);
    CHECK(names.count("shelf-worker") == 2 + 3);  // the workers and the pool's spare threads
    CHECK(names.count("shelf-control") == 1);
    CHECK(names.count("shelf-writer") == 1);
    CHECK(names.count("shelf-complete") == 1);
    CHECK(names.count("shelf-checkpt") == 1);
    e->unsubscribe(sub);
    e->stop(10s);
  }
  // Every thread the engine started is gone (joined) once it is destroyed.
  const auto after = shelf_threads();
  for (const auto& [tid, name] : during) {
    INFO(name << " " << tid);
    if (before.count(tid) == 0) CHECK(after.count(tid) == 0);
  }
}

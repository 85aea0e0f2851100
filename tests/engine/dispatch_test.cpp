// SPDX-License-Identifier: MIT
// Pick order and execution rules: priorities, locks, exclusive, type-exclusive, idle-only and
// the Critical lane. "Waits" is shown without sleeping where possible: a job queued behind the
// waiting one starts, and the pick order would have started the waiting one first if allowed.

#include <catch2/catch.hpp>

#include "engine_fixture.hpp"

using namespace shelfjobs;
using namespace testing;

TEST_CASE("an empty queue starts nothing", "[dispatch]") {
  Fixture f;
  auto& e = f.open();
  CHECK(e.wait_idle(0ms));
  CHECK(e.queue_depth().total_queued() == 0);
  CHECK(e.list()->jobs.empty());
  CHECK(f.rec.items().empty());
}

TEST_CASE("the highest priority starts first, FIFO within a priority", "[dispatch][priority]") {
  Fixture f;
  auto& e = f.open(1, false);
  f.gates.open_all();
  f.push<Step>("low", {.priority = Priority::low});
  f.push<Step>("normal1");
  f.push<Step>("high", {.priority = Priority::high});
  f.push<Step>("normal2");
  f.push<Step>("critical", {.priority = Priority::critical});
  e.start();
  REQUIRE(e.wait_idle(5s));
  std::vector<std::string> starts;
  for (const auto& i : f.rec.items())
    if (i.rfind("start:", 0) == 0) starts.push_back(i.substr(6));
  // The Critical job may run on its own lane beside the first regular pick; among the others the
  // order is strict.
  std::erase(starts, "critical");
  CHECK(starts == std::vector<std::string>{"high", "normal1", "normal2", "low"});
}

TEST_CASE("a disk job waits for a running disk job without blocking others", "[dispatch][locks]") {
  Fixture f;
  f.open(3);
  f.push<DiskStep>("d1");
  REQUIRE(f.rec.wait_for("start:d1"));
  f.push<OtherDiskStep>("d2");
  f.push<Step>("c");
  REQUIRE(f.rec.wait_for("start:c"));
  CHECK_FALSE(f.rec.contains("start:d2"));
  f.gates.open("d1");
  REQUIRE(f.rec.wait_for("start:d2"));
  CHECK(f.rec.index_of("end:d1") < f.rec.index_of("start:d2"));
}

TEST_CASE("a type-exclusive job waits for its twin", "[dispatch][type-exclusive]") {
  Fixture f;
  f.open(3);
  f.push<OneAtATime>("t1");
  REQUIRE(f.rec.wait_for("start:t1"));
  f.push<OneAtATime>("t2");
  f.push<Step>("c");
  REQUIRE(f.rec.wait_for("start:c"));
  CHECK_FALSE(f.rec.contains("start:t2"));
  f.gates.open("t1");
  REQUIRE(f.rec.wait_for("start:t2"));
}

TEST_CASE("nothing starts while an exclusive job runs", "[dispatch][exclusive]") {
  Fixture f;
  auto& e = f.open(3);
  f.push<SoloStep>("x");
  REQUIRE(f.rec.wait_for("start:x"));
  f.push<Step>("c");
  f.push<ImportStep>("imp");
  std::this_thread::sleep_for(50ms);
  CHECK_FALSE(f.rec.contains("start:c"));
  CHECK_FALSE(f.rec.contains("start:imp"));
  CHECK(e.queue_depth().total_queued() == 2);
  f.gates.open("x");
  REQUIRE(f.rec.wait_for("start:c"));
  REQUIRE(f.rec.wait_for("start:imp"));
}

TEST_CASE("an exclusive job waits for running jobs and pauses new starts only until then",
          "[dispatch][exclusive]") {
  Fixture f;
  auto& e = f.open(3);
  f.push<Step>("a");
  REQUIRE(f.rec.wait_for("start:a"));
  f.push<SoloStep>("x");
  f.push<Step>("b");
  std::this_thread::sleep_for(50ms);
  CHECK_FALSE(f.rec.contains("start:x"));
  CHECK_FALSE(f.rec.contains("start:b"));

  SECTION("a Critical job still starts while the exclusive one waits") {
    f.push<ImportStep>("imp");
    REQUIRE(f.rec.wait_for("start:imp"));
    f.gates.open("imp");
    REQUIRE(f.rec.wait_for("end:imp"));
  }

  f.gates.open("a");
  REQUIRE(f.rec.wait_for("start:x"));
  std::this_thread::sleep_for(20ms);
  CHECK_FALSE(f.rec.contains("start:b"));
  f.gates.open("x");
  REQUIRE(f.rec.wait_for("start:b"));
  f.gates.open("b");
  CHECK(e.wait_idle(5s));
}

TEST_CASE("an idle-only job starts only when nothing else is queued or running", "[dispatch][idle]") {
  Fixture f;
  auto& e = f.open(3);
  f.push<Step>("a");
  REQUIRE(f.rec.wait_for("start:a"));
  f.push<IdleStep>("idle");
  f.push<OneAtATime>("t1");
  f.push<OneAtATime>("t2");  // queued behind t1
  REQUIRE(f.rec.wait_for("start:t1"));
  f.gates.open("a");
  f.gates.open("t1");
  REQUIRE(f.rec.wait_for("start:t2"));
  CHECK_FALSE(f.rec.contains("start:idle"));
  f.gates.open("t2");
  REQUIRE(f.rec.wait_for("start:idle"));
  CHECK(f.rec.index_of("end:t2") < f.rec.index_of("start:idle"));
  f.gates.open("idle");
  CHECK(e.wait_idle(5s));
}

TEST_CASE("a long job never blocks a Critical one", "[dispatch][critical]") {
  Fixture f;
  const int workers = GENERATE(1, 2);
  auto& e = f.open(workers);
  for (int i = 0; i < workers; ++i) f.push<Step>("long" + std::to_string(i));
  for (int i = 0; i < workers; ++i) REQUIRE(f.rec.wait_for("start:long" + std::to_string(i)));
  f.push<Step>("normal");
  f.push<ImportStep>("import");
  REQUIRE(f.rec.wait_for("start:import"));
  CHECK_FALSE(f.rec.contains("start:normal"));
  CHECK(e.queue_depth().running[static_cast<int>(Priority::critical)] == 1);
  f.gates.open_all();
  CHECK(e.wait_idle(5s));
}

TEST_CASE("Critical jobs still respect their locks", "[dispatch][critical][locks]") {
  Fixture f;
  f.open(1);
  f.push<ImportStep>("i1");
  REQUIRE(f.rec.wait_for("start:i1"));
  f.push<ImportStep>("i2");  // shares the "import" lock
  f.push<Step>("n");
  REQUIRE(f.rec.wait_for("start:n"));
  CHECK_FALSE(f.rec.contains("start:i2"));
  f.gates.open("i1");
  REQUIRE(f.rec.wait_for("start:i2"));
}

TEST_CASE("workers run jobs concurrently up to the configured count", "[dispatch]") {
  Fixture f;
  auto& e = f.open(3);
  for (const char* t : {"a", "b", "c", "d"}) f.push<Step>(t);
  REQUIRE(f.rec.wait_for("start:a"));
  REQUIRE(f.rec.wait_for("start:b"));
  REQUIRE(f.rec.wait_for("start:c"));
  std::this_thread::sleep_for(30ms);
  CHECK_FALSE(f.rec.contains("start:d"));
  CHECK(e.queue_depth().running[static_cast<int>(Priority::normal)] == 3);
  f.gates.open("a");
  REQUIRE(f.rec.wait_for("start:d"));
}

TEST_CASE("short jobs share a thread: beside a young job the next one waits for its end",
          "[dispatch][spread]") {
  Fixture f;
  auto& e = f.open(3, true, [](EngineOptions& o) {
    o.short_job_lanes = 1;
    o.spread_after = std::chrono::seconds(10);  // never reached here: only an end frees the lane
  });
  f.push<Step>("a");
  REQUIRE(f.rec.wait_for("start:a"));
  f.push<Step>("b");
  // A Critical job does not wait for the lane.
  f.push<ImportStep>("import");
  REQUIRE(f.rec.wait_for("start:import"));
  std::this_thread::sleep_for(50ms);
  CHECK_FALSE(f.rec.contains("start:b"));
  CHECK(e.queue_depth().queued[static_cast<int>(Priority::normal)] == 1);
  f.gates.open("a");
  REQUIRE(f.rec.wait_for("start:b"));
  CHECK(f.rec.index_of("end:a") < f.rec.index_of("start:b"));
  f.gates.open_all();
  CHECK(e.wait_idle(5s));
}

TEST_CASE("a job that runs past spread_after lets the next one start beside it", "[dispatch][spread]") {
  Fixture f;
  auto& e = f.open(3, true, [](EngineOptions& o) {
    o.short_job_lanes = 1;
    o.spread_after = std::chrono::milliseconds(20);
  });
  f.push<Step>("a");
  REQUIRE(f.rec.wait_for("start:a"));
  f.push<Step>("b");
  f.push<Step>("c");
  // a, then b, each past its 20 ms, free the lane while they still run: three run at once.
  REQUIRE(f.rec.wait_for("start:b"));
  REQUIRE(f.rec.wait_for("start:c"));
  CHECK_FALSE(f.rec.contains("end:a"));
  CHECK_FALSE(f.rec.contains("end:b"));
  CHECK(e.queue_depth().running[static_cast<int>(Priority::normal)] == 3);
  f.gates.open_all();
  CHECK(e.wait_idle(5s));
}

TEST_CASE("health shows the short-jobs rule in force, and 0 when it is off", "[dispatch][spread][health]") {
  struct Case {
    int workers, lanes;
    std::chrono::microseconds spread;
    int shown_lanes;
    std::chrono::microseconds shown_spread;
  };
  using std::chrono::microseconds;
  for (const Case c :
       {Case{3, 2, microseconds(700), 2, microseconds(700)},
        Case{3, 3, microseconds(700), 0, microseconds(0)}, Case{3, 1, microseconds(0), 0, microseconds(0)},
        Case{1, 0, microseconds(1000), 0, microseconds(0)}}) {
    Fixture f;
    auto& e = f.open(c.workers, true, [&](EngineOptions& o) {
      o.short_job_lanes = c.lanes;
      o.spread_after = c.spread;
    });
    const HealthSnapshot h = e.health();
    INFO("workers " << c.workers << ", lanes " << c.lanes << ", spread " << c.spread.count() << " us");
    CHECK(h.short_job_lanes == c.shown_lanes);
    CHECK(h.spread_after == c.shown_spread);
    CHECK(to_json(h)["shortJobLanes"] == c.shown_lanes);
    CHECK(to_json(h)["spreadAfterUs"] == c.shown_spread.count());
  }
}

TEST_CASE("short_job_lanes and spread_after out of range are refused", "[dispatch][spread]") {
  Fixture f;
  auto refused = [&](const std::function<void(EngineOptions&)>& tune) {
    EngineOptions o{.store_path = f.db(), .logger = quiet_logger()};
    tune(o);
    auto e = Engine::create(std::move(o), f.registry());
    return !e.has_value() && e.error().code == errc::invalid_argument;
  };
  CHECK(refused([](EngineOptions& o) { o.short_job_lanes = -1; }));
  CHECK(refused([](EngineOptions& o) { o.short_job_lanes = 257; }));
  CHECK(refused([](EngineOptions& o) { o.spread_after = std::chrono::microseconds(-1); }));
  CHECK(refused([](EngineOptions& o) { o.spread_after = std::chrono::seconds(11); }));
  CHECK_FALSE(refused([](EngineOptions& o) { o.short_job_lanes = 256; }));
}

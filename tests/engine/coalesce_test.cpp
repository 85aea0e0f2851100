// SPDX-License-Identifier: MIT
// Dedup against a running twin, debounce and follow-up pushes, tried through the engine with
// handlers that record what they saw.

#include <catch2/catch.hpp>

#include <mutex>

#include "engine_fixture.hpp"
#include "shelfjobs/engine/events.hpp"

using namespace shelfjobs;
using namespace testing;
using namespace std::chrono_literals;

namespace {

struct ImportInbox : Command {
  static constexpr std::string_view kName = "ImportInbox";
};
struct SweepInbox : Command {
  static constexpr std::string_view kName = "SweepInbox";
};

// Downloads arrive in an inbox; an import takes what is there when it starts.
struct Inbox {
  std::mutex mu;
  std::vector<std::string> waiting;
  std::vector<std::vector<std::string>> runs;  // what each run took
  void add(std::string item) {
    std::lock_guard lock(mu);
    waiting.push_back(std::move(item));
  }
  void take() {
    std::lock_guard lock(mu);
    runs.push_back(std::move(waiting));
    waiting.clear();
  }
  std::size_t run_count() {
    std::lock_guard lock(mu);
    return runs.size();
  }
};

struct Setup {
  TempDir dir;
  Inbox inbox;
  Gates gates;
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::unique_ptr<Engine> engine;

  explicit Setup(std::shared_ptr<Clock> use_clock = nullptr) {
    Registry r;
    auto handler = [this](JobContext& ctx) {
      inbox.take();
      const auto n = inbox.run_count();
      gates.wait("run" + std::to_string(n), ctx);
    };
    // One import at a time, as a host would run them: the run queued behind a running one waits.
    r.add<ImportInbox>([handler](const ImportInbox&, JobContext& ctx) { handler(ctx); },
                       {.type_exclusive = true});
    r.add<SweepInbox>([handler](const SweepInbox&, JobContext& ctx) { handler(ctx); },
                      {.type_exclusive = true, .merge_into_running = true});
    auto e = Engine::create({.store_path = job_store_at(dir),
                             .logger = quiet_logger(),
                             .clock = use_clock ? use_clock : std::shared_ptr<Clock>(clock)},
                            std::move(r));
    REQUIRE(e.has_value());
    engine = std::move(e).value();
    engine->start();
  }
  ~Setup() {
    gates.open_all();
    engine.reset();
  }
};

}  // namespace

TEST_CASE("an equal push while its twin runs leaves exactly one run behind it", "[coalesce][engine]") {
  Setup s(std::make_shared<SystemClock>());
  Engine& e = *s.engine;
  s.inbox.add("a");
  auto first = e.push(ImportInbox{});
  REQUIRE(first);
  REQUIRE(eventually([&] { return s.inbox.run_count() == 1; }));  // it took "a" and runs
  // Two downloads complete while it runs; each pushes an import.
  s.inbox.add("b");
  auto second = e.push(ImportInbox{});
  s.inbox.add("c");
  auto third = e.push(ImportInbox{});
  REQUIRE(second);
  REQUIRE(third);
  CHECK_FALSE(second->merged);
  CHECK(second->job.id != first->job.id);
  CHECK(second->job.status == JobStatus::queued);
  CHECK(third->merged);
  CHECK(third->job.id == second->job.id);
  s.gates.open_all();
  REQUIRE(e.wait_idle(5s));
  std::lock_guard lock(s.inbox.mu);
  REQUIRE(s.inbox.runs.size() == 2);
  CHECK(s.inbox.runs[0] == std::vector<std::string>{"a"});
  CHECK(s.inbox.runs[1] == std::vector<std::string>{"b", "c"});  // nothing lost
  CHECK(s.inbox.waiting.empty());
}

TEST_CASE("a type that declares it safe merges into its running twin", "[coalesce][engine]") {
  Setup s(std::make_shared<SystemClock>());
  Engine& e = *s.engine;
  auto first = e.push(SweepInbox{});
  REQUIRE(first);
  REQUIRE(eventually([&] { return s.inbox.run_count() == 1; }));
  auto twin = e.push(SweepInbox{});
  REQUIRE(twin);
  CHECK(twin->merged);
  CHECK(twin->job.id == first->job.id);
  CHECK(twin->job.status == JobStatus::executing);
  s.gates.open_all();
  REQUIRE(e.wait_idle(5s));
  CHECK(s.inbox.run_count() == 1);
}

TEST_CASE("a debounce window that ends while an equal job runs leaves one run after it",
          "[coalesce][debounce][engine]") {
  Setup s;
  Engine& e = *s.engine;
  auto first = e.push(SweepInbox{});  // merge_into_running: still no merge for a debounced push
  REQUIRE(first);
  REQUIRE(eventually([&] { return s.inbox.run_count() == 1; }));
  s.inbox.add("late");
  REQUIRE(e.push_debounced({"SweepInbox", {}, {}}, 5s));
  s.clock->advance(6s);
  REQUIRE(eventually([&] { return e.list().value().jobs.size() == 2; }));
  auto jobs = e.list().value().jobs;  // newest first
  CHECK(jobs[0].status == JobStatus::queued);
  CHECK(jobs[1].id == first->job.id);
  CHECK(jobs[1].status == JobStatus::executing);
  s.gates.open_all();
  REQUIRE(e.wait_idle(5s));
  std::lock_guard lock(s.inbox.mu);
  REQUIRE(s.inbox.runs.size() == 2);
  CHECK(s.inbox.runs[1] == std::vector<std::string>{"late"});
}

TEST_CASE("a steady stream of debounced requests still runs once per maximum wait",
          "[coalesce][debounce][engine]") {
  Setup s;
  Engine& e = *s.engine;
  s.gates.open_all();
  // A request every 2 s, each within the 5 s window of the last: without a maximum wait the
  // window never closes.
  for (int i = 0; i < 15; ++i) {
    REQUIRE(e.push_debounced({"ImportInbox", {}, {}}, 5s, 10s));
    s.clock->advance(2s);
    // The engine reacts to each clock step before the next one.
    REQUIRE(e.wait_idle(5s));
  }
  // 30 s of requests: the maximum wait forced a run at 10 s and at 20 s (and 30 s).
  CHECK(s.inbox.run_count() >= 2);
  CHECK(s.inbox.run_count() <= 3);
  s.clock->advance(10s);  // the stream stops: the last window closes
  REQUIRE(eventually([&] { return e.list().value().jobs.size() == s.inbox.run_count(); }));
  REQUIRE(e.wait_idle(5s));
}

namespace {
struct Parent : Command {
  static constexpr std::string_view kName = "Parent";
};
struct Child : Command {
  static constexpr std::string_view kName = "Child";
  std::string from;
};
void to_json(nlohmann::json& j, const Child& c) { j = {{"from", c.from}}; }
void from_json(const nlohmann::json& j, Child& c) { j.at("from").get_to(c.from); }
}  // namespace

TEST_CASE("a handler pushes follow-up jobs through its context", "[coalesce][engine]") {
  TempDir dir;
  Registry r;
  std::atomic<int> children{0};
  std::atomic<JobId> child_id{0};
  r.add<Parent>([&](const Parent&, JobContext& ctx) {
    auto pushed = ctx.push("Child", {{"from", "parent"}}, {.priority = Priority::high});
    if (!pushed) throw std::runtime_error(pushed.error().message);
    child_id = pushed->job.id;
    auto bad = ctx.push("NoSuchCommand");
    if (bad || bad.error().code != errc::unknown_command) throw std::runtime_error("unexpected");
  });
  r.add<Child>([&](const Child& c, JobContext&) {
    if (c.from == "parent") ++children;
  });
  auto e = Engine::create({.store_path = job_store_at(dir), .logger = quiet_logger()}, std::move(r)).value();
  e->start();
  auto p = e->push(Parent{});
  REQUIRE(p);
  REQUIRE(e->wait_idle(5s));
  CHECK(children == 1);
  auto child = e->get(child_id);
  REQUIRE(child);
  CHECK(child->status == JobStatus::completed);
  CHECK(child->priority == Priority::high);
  CHECK(e->get(p->job.id)->status == JobStatus::completed);
}

TEST_CASE("push_or_run_task runs a task by its bare name in any case, else pushes",
          "[coalesce][engine][scheduler]") {
  Setup s(std::make_shared<SystemClock>());
  Engine& e = *s.engine;
  s.gates.open_all();
  REQUIRE(e.add_task(
      {.name = "InboxSweep", .command = "ImportInbox", .schedule = {.interval = std::chrono::hours(1)}}));
  auto ran = e.push_or_run_task("inboxsweep", nlohmann::json::object());
  REQUIRE(ran);
  CHECK(ran->job.name == "ImportInbox");
  CHECK(ran->job.task == "InboxSweep");
  REQUIRE(e.wait_idle(5s));
  CHECK(e.tasks()[0].last_job == ran->job.id);
  // A command name that is no task is pushed as a command.
  auto pushed = e.push_or_run_task("importinbox", nullptr);
  REQUIRE(pushed);
  CHECK(pushed->job.task.empty());
  auto unknown = e.push_or_run_task("nothing", nullptr);
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == errc::unknown_command);
}

// SPDX-License-Identifier: MIT
// The event bus and event rules, with debounce on a manual clock.

#include <catch2/catch.hpp>

#include "engine_fixture.hpp"
#include "shelfjobs/events.hpp"

using namespace shelfjobs;
using namespace testing;

namespace {
struct AuthorAdded {
  static constexpr std::string_view kName = "AuthorAdded";
  std::int64_t author_id = 0;
};
struct DownloadCompleted {
  static constexpr std::string_view kName = "DownloadCompleted";
  std::string download_id;
};
struct Import : Command {
  static constexpr std::string_view kName = "ImportDownloads";
};
}  // namespace

TEST_CASE("an event rule pushes its command with the event recorded", "[events]") {
  Fixture f;
  auto& e = f.open(1, false);
  EventBus bus(quiet_logger());
  add_rule<AuthorAdded>(bus, e, [](const AuthorAdded& ev) {
    return std::vector<PushRequest>{{"RefreshAuthor", {{"authorId", ev.author_id}}, {}}};
  });
  CHECK(bus.publish(AuthorAdded{42}) == 1);
  auto jobs = e.list().value().jobs;
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].name == "RefreshAuthor");
  CHECK(jobs[0].body["authorId"] == 42);
  CHECK(jobs[0].trigger == Trigger::event);
  CHECK(jobs[0].event == "AuthorAdded");
  // The same event again folds into the queued job.
  bus.publish(AuthorAdded{42});
  CHECK(e.list().value().jobs.size() == 1);
}

TEST_CASE("a debounced rule folds a burst of events into one job", "[events][debounce]") {
  TempDir dir;
  auto clock = std::make_shared<ManualClock>();
  Registry r;
  std::atomic<int> imports{0};
  r.add<Import>([&](const Import&, JobContext&) { ++imports; });
  auto e = Engine::create({.store_path = dir.file("j.db"), .logger = quiet_logger(), .clock = clock},
                          std::move(r))
               .value();
  e->start();
  EventBus bus(quiet_logger());
  add_rule<DownloadCompleted>(
      bus, *e,
      [](const DownloadCompleted&) { return std::vector<PushRequest>{{"ImportDownloads", {}, {}}}; },
      {.debounce = std::chrono::seconds(5), .priority = Priority::critical});
  for (int i = 0; i < 5; ++i) {
    bus.publish(DownloadCompleted{"d" + std::to_string(i)});
    clock->advance(std::chrono::seconds(2));  // each event within the window of the last
  }
  std::this_thread::sleep_for(30ms);
  CHECK(e->list().value().jobs.empty());
  clock->advance(std::chrono::seconds(3));  // 5 s after the last event
  REQUIRE(eventually([&] { return imports.load() == 1; }));
  REQUIRE(e->wait_idle(5s));
  auto jobs = e->list().value().jobs;
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].priority == Priority::critical);
  CHECK(jobs[0].event == "DownloadCompleted");
}

TEST_CASE("a throwing subscriber is skipped and the others still run", "[events]") {
  EventBus bus(quiet_logger());
  std::vector<int> seen;
  bus.subscribe<AuthorAdded>([&](const AuthorAdded&) { seen.push_back(1); });
  bus.subscribe<AuthorAdded>([](const AuthorAdded&) { throw std::runtime_error("bad subscriber"); });
  const auto third = bus.subscribe<AuthorAdded>([&](const AuthorAdded& e) {
    seen.push_back(static_cast<int>(e.author_id));
  });
  CHECK(bus.publish(AuthorAdded{3}) == 2);
  CHECK(seen == std::vector<int>{1, 3});
  bus.unsubscribe(third);
  bus.publish(AuthorAdded{4});
  CHECK(seen == std::vector<int>{1, 3, 1});
  CHECK(bus.publish(DownloadCompleted{"x"}) == 0);
}

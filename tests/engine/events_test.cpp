// SPDX-License-Identifier: MIT
// The event bus and event rules, with debounce on a manual clock.

#include <catch2/catch.hpp>

#include "engine_fixture.hpp"
#include "shelfjobs/engine/events.hpp"

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
  auto e = Engine::create({.store_path = job_store_at(dir), .logger = quiet_logger(), .clock = clock},
                          std::move(r))
               .value();
  e->start();
  EventBus bus(quiet_logger());
  add_rule<DownloadCompleted>(bus, *e,
                              [](const DownloadCompleted&) {
                                return std::vector<PushRequest>{{"ImportDownloads", {}, {}}};
                              },
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
  const auto third = bus.subscribe<AuthorAdded>(
      [&](const AuthorAdded& e) { seen.push_back(static_cast<int>(e.author_id)); });
  CHECK(bus.publish(AuthorAdded{3}) == 2);
  CHECK(seen == std::vector<int>{1, 3});
  bus.unsubscribe(third);
  bus.publish(AuthorAdded{4});
  CHECK(seen == std::vector<int>{1, 3, 1});
  CHECK(bus.publish(DownloadCompleted{"x"}) == 0);
}

namespace {
struct BookFiled {
  static constexpr std::string_view kName = "BookFiled";
  std::int64_t book_id = 0;
  std::string path;
};
void to_json(nlohmann::json& j, const BookFiled& e) { j = {{"bookId", e.book_id}, {"path", e.path}}; }
}  // namespace

TEST_CASE("a forwarder hears every event that has to_json, as its name and JSON", "[events]") {
  EventBus bus(quiet_logger());
  std::vector<std::pair<std::string, nlohmann::json>> forwarded;
  std::vector<std::string> order;
  bus.subscribe<BookFiled>([&](const BookFiled&) { order.emplace_back("subscriber"); });
  CHECK(bus.publish(BookFiled{1, "/a"}) == 1);  // no forwarder yet: only the subscriber

  bus.set_forwarder([&](std::string_view name, const nlohmann::json& data) {
    forwarded.emplace_back(std::string(name), data);
    order.emplace_back("forwarder");
  });
  CHECK(bus.publish(BookFiled{7, "/books/x.epub"}) == 1);  // the forwarder is not counted
  REQUIRE(forwarded.size() == 1);
  CHECK(forwarded[0].first == "BookFiled");
  CHECK(forwarded[0].second == nlohmann::json{{"bookId", 7}, {"path", "/books/x.epub"}});
  // The forwarder hears it before the subscribers (whose rules may publish more).
  CHECK(order == std::vector<std::string>{"subscriber", "forwarder", "subscriber"});

  // An event type without to_json is not forwarded; its subscribers hear it as before.
  static_assert(!std::is_constructible_v<nlohmann::json, const AuthorAdded&>);
  CHECK(bus.publish(AuthorAdded{42}) == 0);
  CHECK(forwarded.size() == 1);

  // A throwing forwarder is logged and the subscribers still run.
  bus.set_forwarder(
      [](std::string_view, const nlohmann::json&) { throw std::runtime_error("bad forwarder"); });
  CHECK(bus.publish(BookFiled{8, "/b"}) == 1);
  CHECK(order.size() == 4);

  // Removed: nothing is forwarded any more.
  bus.set_forwarder(nullptr);
  bus.publish(BookFiled{9, "/c"});
  CHECK(forwarded.size() == 1);
}

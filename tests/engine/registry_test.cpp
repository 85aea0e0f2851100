// SPDX-License-Identifier: MIT
// Commands, the registry, validation of pushes and dedup.

#include <catch2/catch.hpp>

#include "engine_fixture.hpp"

using namespace shelfjobs;
using namespace testing;

TEST_CASE("a registry refuses a duplicate name and finds names case-insensitively", "[registry]") {
  Registry r;
  r.add<Noop>([](const Noop&, JobContext&) {});
  CHECK_THROWS_AS(r.add<Noop>([](const Noop&, JobContext&) {}), std::invalid_argument);
  REQUIRE(r.find("noop") != nullptr);
  CHECK(r.find("NOOP")->name == "Noop");
  CHECK(r.find("Nope") == nullptr);
  CHECK(r.names() == std::vector<std::string>{"Noop"});
}

TEST_CASE("a push with an unknown name or a bad body is refused and queues nothing", "[registry][push]") {
  Fixture f;
  auto& e = f.open(1, false);

  auto unknown = e.push("RssSync", nlohmann::json::object());
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().code == errc::unknown_command);
  CHECK_THAT(unknown.error().message, Catch::Contains("RssSync"));

  auto missing = e.push("RefreshAuthor", {{"note", "x"}});
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == errc::invalid_body);
  CHECK_THAT(missing.error().message, Catch::Contains("authorId"));
  CHECK_THAT(missing.error().message, Catch::Contains("RefreshAuthor"));

  auto wrong_type = e.push("RefreshAuthor", {{"authorId", "seven"}});
  REQUIRE_FALSE(wrong_type.has_value());
  CHECK(wrong_type.error().code == errc::invalid_body);
  CHECK_THAT(wrong_type.error().message, Catch::Contains("number"));
  CHECK_THAT(wrong_type.error().message, Catch::Contains("'authorId'"));

  auto not_object = e.push("RefreshAuthor", nlohmann::json::array({1, 2}));
  REQUIRE_FALSE(not_object.has_value());
  CHECK(not_object.error().code == errc::invalid_body);

  auto many = e.push_many({{"Step", {{"tag", "a"}}, {}}, {"Step", {{"nope", 1}}, {}}});
  REQUIRE_FALSE(many.has_value());
  CHECK_THAT(many.error().message, Catch::Contains("request 1"));

  CHECK(e.queue_depth().total_queued() == 0);
  CHECK(e.list()->jobs.empty());
}

TEST_CASE("a push by name gets the canonical body of the typed command", "[registry][push]") {
  Fixture f;
  auto& e = f.open(1, false);
  auto r = e.push("refreshauthor", {{"authorId", 7}, {"extra", true}});
  REQUIRE(r.has_value());
  CHECK(r->job.name == "RefreshAuthor");
  CHECK(r->job.body ==
        nlohmann::json{{"authorId", 7}, {"books", nlohmann::json::array()}, {"note", nullptr}});
  auto typed = e.push(Refresh{{}, 7, std::nullopt, {}});
  REQUIRE(typed.has_value());
  CHECK(typed->merged);
  CHECK(typed->job.id == r->job.id);
}

TEST_CASE("dedup is exact on the canonical body", "[registry][dedup]") {
  Fixture f;
  auto& e = f.open(1, false);
  auto push = [&](nlohmann::json body) {
    auto r = e.push("RefreshAuthor", body);
    REQUIRE(r.has_value());
    return *r;
  };
  const auto a = push({{"authorId", 1}, {"books", {1, 2}}});
  SECTION("an equal body returns the queued job") {
    const auto b = push({{"books", {1, 2}}, {"authorId", 1}});
    CHECK(b.merged);
    CHECK(b.job.id == a.job.id);
  }
  SECTION("lists keep their order") {
    const auto b = push({{"authorId", 1}, {"books", {2, 1}}});
    CHECK_FALSE(b.merged);
    CHECK(b.job.id != a.job.id);
  }
  SECTION("lists keep their multiplicity") {
    const auto b = push({{"authorId", 1}, {"books", {1, 2, 2}}});
    CHECK_FALSE(b.merged);
  }
  SECTION("nulls compare like any value and do not end the comparison") {
    const auto n1 = push({{"authorId", 2}, {"note", nullptr}});
    const auto n2 = push({{"authorId", 2}});  // note defaults to null: equal
    CHECK(n2.merged);
    CHECK(n2.job.id == n1.job.id);
    const auto n3 = push({{"authorId", 3}, {"note", nullptr}});  // a later field differs
    CHECK_FALSE(n3.merged);
  }
  SECTION("a finished job does not absorb a new push") {
    e.start();
    REQUIRE(f.ends(a.job.id, JobStatus::completed));
    const auto b = push({{"authorId", 1}, {"books", {1, 2}}});
    CHECK_FALSE(b.merged);
  }
}

TEST_CASE("a manual push merged into a queued scheduled twin raises its priority and trigger",
          "[registry][dedup]") {
  Fixture f;
  JobId id = 0;
  {
    auto& e = f.open(1, false);
    auto sched = e.push("Step", {{"tag", "rss"}}, {.trigger = Trigger::scheduled, .priority = Priority::low});
    REQUIRE(sched.has_value());
    id = sched->job.id;
    auto manual = e.push("Step", {{"tag", "rss"}}, {.priority = Priority::high});
    REQUIRE(manual.has_value());
    CHECK(manual->merged);
    CHECK(manual->job.id == id);
    CHECK(manual->job.priority == Priority::high);
    CHECK(manual->job.trigger == Trigger::manual);
    CHECK(e.queue_depth().queued[static_cast<int>(Priority::high)] == 1);
    CHECK(e.queue_depth().queued[static_cast<int>(Priority::low)] == 0);

    // the event name of an event-triggered twin is dropped with its trigger
    auto from_event = e.push("Step", {{"tag", "ev"}}, {.trigger = Trigger::event, .event = "BookAdded"});
    REQUIRE(from_event.has_value());
    CHECK(from_event->job.event == "BookAdded");
    auto manual_ev = e.push("Step", {{"tag", "ev"}});
    REQUIRE(manual_ev.has_value());
    CHECK(manual_ev->job.trigger == Trigger::manual);
    CHECK(manual_ev->job.event.empty());

    // a later scheduled push never lowers it
    auto again = e.push("Step", {{"tag", "rss"}}, {.trigger = Trigger::scheduled, .priority = Priority::low});
    REQUIRE(again.has_value());
    CHECK(again->job.priority == Priority::high);
    CHECK(again->job.trigger == Trigger::manual);
  }
  // and it is persisted
  auto& e = f.open(1, false);
  auto j = e.get(id);
  REQUIRE(j.has_value());
  CHECK(j->priority == Priority::high);
  CHECK(j->trigger == Trigger::manual);
}

TEST_CASE("a custom dedup key folds pushes the default key would keep apart", "[registry][dedup]") {
  Fixture f;
  Registry r;
  r.add<Refresh>([](const Refresh&, JobContext&) {},
                 {.dedup_key = [](const nlohmann::json& b) { return b.at("authorId").dump(); }});
  auto e = Engine::create({.store_path = f.db(), .logger = quiet_logger()}, std::move(r));
  REQUIRE(e.has_value());
  auto a = (*e)->push("RefreshAuthor", {{"authorId", 1}, {"note", "x"}});
  auto b = (*e)->push("RefreshAuthor", {{"authorId", 1}, {"note", "y"}});
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(b->merged);
  CHECK(b->job.id == a->job.id);
}

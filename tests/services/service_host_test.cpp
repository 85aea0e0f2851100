// SPDX-License-Identifier: MIT
// The service contract: a host built from services in one step, what it refuses, task settings,
// event rules, health checks, and the library service's add errors as values.

#include <catch2/catch.hpp>

#include "library_fixture.hpp"

using namespace shelfjobs;
using namespace testing;
using namespace std::chrono_literals;

namespace {

struct Ping : Command {
  static constexpr std::string_view kName = "Ping";
};
struct Pinged {
  static constexpr std::string_view kName = "Pinged";
  int n = 0;
};

// A small service with one of everything: a command, a task, a rule and a health check.
class PingService : public Service {
 public:
  explicit PingService(std::string name = "ping", bool healthy = true)
      : name_(std::move(name)), healthy_(healthy) {}
  std::string_view name() const override { return name_; }
  void register_commands(Registry& registry, ServiceContext& host) override {
    host_ = &host;
    registry.add<Ping>([this](const Ping&, JobContext& ctx) {
      runs.fetch_add(1);
      ctx.complete("pong");
    });
  }
  std::vector<TaskSpec> tasks() const override {
    TaskSpec t;
    t.name = "Ping";
    t.schedule.interval = std::chrono::hours(1);
    t.range = {std::chrono::minutes(30), std::chrono::hours(2), true};
    return {t};
  }
  void add_rules(ServiceContext& host) override {
    host.rule<Pinged>([](const Pinged&) { return std::vector<PushRequest>{{"Ping", {}, {}}}; });
  }
  std::vector<HealthCheck> health_checks() override {
    return {{"PingCheck", [this]() -> std::vector<HealthIssue> {
               if (!healthy_) throw std::runtime_error("probe broke");
               return {};
             }}};
  }
  std::atomic<int> runs{0};
  ServiceContext* host_ = nullptr;

 private:
  std::string name_;
  bool healthy_;
};

ServiceHostOptions options_in(TempDir& dir) {
  ServiceHostOptions o;
  o.engine = {.store_path = dir.file("jobs.db"), .workers = 2, .logger = quiet_logger()};
  return o;
}

}  // namespace

TEST_CASE("a host is built from its services in one step: commands, tasks, rules, checks",
          "[services][host]") {
  TempDir dir;
  auto ping = std::make_shared<PingService>();
  ServiceHost::Builder builder(options_in(dir));
  builder.add(ping);
  auto built = builder.build();
  REQUIRE(built.has_value());
  auto& host = **built;
  CHECK(host.service<PingService>() == ping);
  CHECK(host.service<LibraryService>() == nullptr);
  REQUIRE(host.engine().registry().find("Ping") != nullptr);
  auto tasks = host.engine().tasks();
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].name == "Ping");
  CHECK(tasks[0].interval == std::chrono::hours(1));

  host.start();
  // The rule: an event on the host's bus pushes the command.
  host.events().publish(Pinged{1});
  REQUIRE(host.engine().wait_idle(10s));
  CHECK(ping->runs.load() == 1);
  // Handlers reach the engine through their context.
  auto health = ping->host_->engine_health();
  REQUIRE(health.has_value());
  CHECK(health->workers == 2);
  CHECK(host.context().check_health().empty());

  // After stop, the rules are gone and the context refuses engine calls.
  CHECK(host.stop(5s));
  host.events().publish(Pinged{2});
  CHECK(ping->runs.load() == 1);
  CHECK(ping->host_->engine_health().error().code == errc::shutting_down);
}

TEST_CASE("a host refuses what cannot be built, naming the service or the task", "[services][host]") {
  TempDir dir;
  SECTION("two services of one name") {
    ServiceHost::Builder b(options_in(dir));
    b.add(std::make_shared<PingService>("ping")).add(std::make_shared<PingService>("ping"));
    auto r = b.build();
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message, Catch::Contains("ping"));
  }
  SECTION("one command registered by two services") {
    ServiceHost::Builder b(options_in(dir));
    b.add(std::make_shared<PingService>("one")).add(std::make_shared<PingService>("two"));
    auto r = b.build();
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::invalid_argument);
    CHECK_THAT(r.error().message,
               Catch::Contains("Ping") && Catch::Contains("one") && Catch::Contains("two"));
  }
  SECTION("a null service") {
    ServiceHost::Builder b(options_in(dir));
    b.add(nullptr);
    CHECK_FALSE(b.build().has_value());
  }
  SECTION("a task setting outside the task's range") {
    auto o = options_in(dir);
    o.tasks["Ping"].interval = std::chrono::minutes(5);
    ServiceHost::Builder b(std::move(o));
    b.add(std::make_shared<PingService>());
    auto r = b.build();
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message, Catch::Contains("tasks.Ping"));
  }
}

TEST_CASE("a host applies task settings and ignores settings of tasks it does not run", "[services][host]") {
  TempDir dir;
  auto o = options_in(dir);
  o.tasks["Ping"].interval = std::chrono::minutes(45);
  o.tasks["RssSync"].interval = std::chrono::minutes(15);  // no such service here
  ServiceHost::Builder b(std::move(o));
  b.add(std::make_shared<PingService>());
  auto built = b.build();
  REQUIRE(built.has_value());
  auto tasks = (*built)->engine().tasks();
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].interval == std::chrono::minutes(45));
}

TEST_CASE("a health check that throws is reported as an error of that check", "[services][host]") {
  TempDir dir;
  ServiceHost::Builder b(options_in(dir));
  b.add(std::make_shared<PingService>("ping", false));
  auto built = b.build();
  REQUIRE(built.has_value());
  auto issues = (*built)->context().check_health();
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].source == "PingCheck");
  CHECK(issues[0].level == HealthIssue::Level::error);
  CHECK_THAT(issues[0].message, Catch::Contains("probe broke"));
  CHECK((*built)->context().last_health().size() == 1);
}

TEST_CASE("the library service's root folder check finds a missing or unreadable root",
          "[services][library]") {
  Library lib;
  CHECK(lib.library->check_root_folders().empty());
  std::filesystem::remove_all(lib.root.path);
  auto issues = lib.library->check_root_folders();
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].source == "RootFolderCheck");
  CHECK(issues[0].level == HealthIssue::Level::error);
  CHECK_THAT(issues[0].message, Catch::Contains(lib.root.path.string()));
}

TEST_CASE("adding an author answers what happened upstream, as a value", "[services][library]") {
  Library lib(nullptr, 2s);
  using fixtures::Scenario;
  for (int id : {3001, 3002, 3003, 3004})
    lib.server->put_author(fixtures::make_author(id, "W " + std::to_string(id), 1));
  lib.server->set_scenario("3002", {.scenario = Scenario::server_error});
  lib.server->set_scenario("3003", {.scenario = Scenario::malformed});

  auto down = lib.library->add_author("3002", lib.root.id);
  REQUIRE_FALSE(down.has_value());
  CHECK(down.error().code == errc::unavailable);

  auto nonsense = lib.library->add_author("3003", lib.root.id);
  REQUIRE_FALSE(nonsense.has_value());
  CHECK(nonsense.error().code == errc::upstream_error);

  auto unknown = lib.library->add_author("404404", lib.root.id);
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().code == errc::not_found);

  auto no_root = lib.library->add_author("3004", 999);
  REQUIRE_FALSE(no_root.has_value());
  CHECK(no_root.error().code == errc::invalid_argument);

  const int port = lib.server->port();
  lib.server.reset();  // the source is gone: connection refused
  auto refused = lib.library->add_author("3004", lib.root.id);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == errc::unavailable);

  // The source back on its port, limiting us.
  lib.server = fixtures::BookInfoFixture::start(port);
  lib.server->put_author(fixtures::make_author(3001, "W 3001", 1));
  lib.server->set_scenario("3001", {.scenario = Scenario::rate_limited, .retry_after = "120"});
  // Last: after a 429 the source holds back every request to that server until Retry-After.
  auto limited = lib.library->add_author("3001", lib.root.id);
  REQUIRE_FALSE(limited.has_value());
  CHECK(limited.error().code == errc::rate_limited);
  REQUIRE(limited.error().retry_after.has_value());
  CHECK(*limited.error().retry_after > std::chrono::system_clock::now() + 60s);

  CHECK(lib.catalog->authors()->empty());
}

TEST_CASE("a library service without a metadata source answers unavailable", "[services][library]") {
  Library lib;
  auto svc = LibraryService::create({.catalog = lib.catalog});
  REQUIRE(svc.has_value());
  auto r = (*svc)->add_author("1", lib.root.id);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == errc::unavailable);
  CHECK((*svc)->add_book("1", lib.root.id).error().code == errc::unavailable);
}

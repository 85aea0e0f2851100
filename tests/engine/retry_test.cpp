// SPDX-License-Identifier: MIT
// Failures and what follows them: retries by kind with backoff, rate-limited waits, delayed
// pushes, timeouts and abandoned handlers, rate keys, per-type caps, aging and idle deferral.
// Time is a ManualClock: the tests move it and the engine's timers follow.

#include <filesystem>

#include <catch2/catch.hpp>

#include "engine_fixture.hpp"

using namespace shelfjobs;
using namespace testing;

namespace {

/// Throws what `kind` says, `fail_times` times, then succeeds.
struct Flaky : Command {
  static constexpr std::string_view kName = "Flaky";
  std::string kind;
  int fail_times = 1000;
};
void to_json(nlohmann::json& j, const Flaky& f) { j = {{"kind", f.kind}, {"failTimes", f.fail_times}}; }
void from_json(const nlohmann::json& j, Flaky& f) {
  j.at("kind").get_to(f.kind);
  if (j.contains("failTimes")) j.at("failTimes").get_to(f.fail_times);
}

struct Env {
  TempDir dir;
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::shared_ptr<RecordingNotifier> notes = std::make_shared<RecordingNotifier>();
  std::atomic<int> runs{0};
  std::unique_ptr<Engine> engine;

  Registry registry(std::optional<RetryPolicy> flaky_policy = std::nullopt) {
    Registry r;
    r.add<Flaky>(
        [this](const Flaky& f, JobContext& ctx) {
          const int n = ++runs;
          if (n > f.fail_times) return;
          if (f.kind == "network") throw JobError(ErrorKind::network, "connection reset");
          if (f.kind == "filesystem") throw JobError(ErrorKind::filesystem, "read-only");
          if (f.kind == "database") throw JobError(ErrorKind::database, "disk I/O error");
          if (f.kind == "permanent") throw JobError(ErrorKind::permanent, "bad data");
          if (f.kind == "unknown") throw 7;
          if (f.kind == "fs_exception")
            throw std::filesystem::filesystem_error("cannot open",
                                                    std::make_error_code(std::errc::permission_denied));
          if (f.kind == "refused")
            throw std::system_error(std::make_error_code(std::errc::connection_refused), "connect");
          if (f.kind == "429")
            throw JobError::rate_limited(clock->now() + std::chrono::seconds(90), "429 Too Many Requests");
          if (f.kind == "429forever")
            throw JobError::rate_limited(clock->now() + std::chrono::hours(4), "429 Too Many Requests");
          (void)ctx;
        },
        {.retry = flaky_policy});
    return r;
  }

  Engine& open(Registry r, EngineOptions extra = {}) {
    engine.reset();
    extra.store_path = job_store_at(dir, "jobs.db");
    extra.logger = quiet_logger();
    extra.clock = clock;
    extra.notifier = notes;
    extra.retry.base_delay = std::chrono::seconds(10);
    extra.retry.max_delay = std::chrono::minutes(5);
    auto e = Engine::create(std::move(extra), std::move(r));
    REQUIRE(e.has_value());
    engine = std::move(e).value();
    engine->start();
    return *engine;
  }

  JobInfo job(JobId id) { return engine->get(id).value(); }

  bool reaches(JobId id, std::function<bool(const JobInfo&)> pred) {
    return eventually([&] { return pred(job(id)); });
  }
};

bool is_retry_of(const JobInfo& j, int attempt) {
  return j.status == JobStatus::queued && j.attempt == attempt && j.not_before.has_value();
}

}  // namespace

TEST_CASE("a network failure retries 3 times with backoff, then fails for good and notifies", "[retry]") {
  Env env;
  auto& e = env.open(env.registry());
  const auto id = e.push(Flaky{{}, "network", 1000}).value().job.id;
  for (int attempt = 2; attempt <= 4; ++attempt) {
    REQUIRE(env.reaches(id, [&](const JobInfo& j) { return is_retry_of(j, attempt); }));
    const auto j = env.job(id);
    CHECK(j.max_attempts == 4);
    CHECK(j.error_kind == ErrorKind::network);
    CHECK_THAT(j.message, Catch::StartsWith("attempt " + std::to_string(attempt) + " of 4, next try at "));
    // Exponential with equal jitter: between half and all of 10 s * 2^(attempt-2).
    const auto wait = *j.not_before - env.clock->now();
    const auto full = std::chrono::seconds(10) * (1 << (attempt - 2));
    CHECK(wait <= full);
    CHECK(wait >= full / 2);
    // Not a moment before its time.
    env.clock->advance(wait - std::chrono::milliseconds(1));
    std::this_thread::sleep_for(20ms);
    CHECK(env.runs.load() == attempt - 1);
    env.clock->advance(std::chrono::milliseconds(1));
  }
  REQUIRE(env.reaches(id, [](const JobInfo& j) { return j.status == JobStatus::failed; }));
  CHECK(env.runs.load() == 4);
  const auto j = env.job(id);
  CHECK(j.attempt == 4);
  CHECK(j.error == "connection reset");
  // The notifier is a subscriber: its notification follows the job's end on its own thread.
  std::vector<Notification> notes;
  REQUIRE(eventually([&] {
    notes.clear();
    for (auto& n : env.notes->items())
      if (n.event == "job_failed") notes.push_back(n);
    return notes.size() == 1;
  }));
  REQUIRE(notes[0].job.has_value());
  CHECK(notes[0].job->id == id);
}

TEST_CASE("retries by failure kind", "[retry]") {
  Env env;
  auto& e = env.open(env.registry());
  SECTION("filesystem retries once") {
    const auto id = e.push(Flaky{{}, "filesystem", 1000}).value().job.id;
    REQUIRE(env.reaches(id, [](const JobInfo& j) { return is_retry_of(j, 2); }));
    CHECK(env.job(id).max_attempts == 2);
    env.clock->advance(std::chrono::minutes(1));
    REQUIRE(env.reaches(id, [](const JobInfo& j) { return j.status == JobStatus::failed; }));
    CHECK(env.runs.load() == 2);
  }
  SECTION("database, permanent and unknown throws never retry") {
    for (const char* kind : {"database", "permanent", "unknown"}) {
      const auto id = e.push(Flaky{{}, kind, 1000}).value().job.id;
      REQUIRE(env.reaches(id, [](const JobInfo& j) { return j.status == JobStatus::failed; }));
      CHECK(env.job(id).attempt == 1);
    }
    CHECK(env.runs.load() == 3);
    CHECK(eventually([&] {
      int failures = 0;
      for (auto& n : env.notes->items()) failures += n.event == "job_failed";
      return failures == 3;
    }));
  }
  SECTION("exceptions map to kinds") {
    const auto fs = e.push(Flaky{{}, "fs_exception", 1000}).value().job.id;
    REQUIRE(env.reaches(fs, [](const JobInfo& j) { return is_retry_of(j, 2); }));
    CHECK(env.job(fs).error_kind == ErrorKind::filesystem);
    const auto net = e.push(Flaky{{}, "refused", 1000}).value().job.id;
    REQUIRE(env.reaches(net, [](const JobInfo& j) { return is_retry_of(j, 2); }));
    CHECK(env.job(net).error_kind == ErrorKind::network);
  }
  SECTION("a retry that succeeds completes the job") {
    const auto id = e.push(Flaky{{}, "network", 1}).value().job.id;
    REQUIRE(env.reaches(id, [](const JobInfo& j) { return is_retry_of(j, 2); }));
    env.clock->advance(std::chrono::seconds(10));
    REQUIRE(env.reaches(id, [](const JobInfo& j) { return j.status == JobStatus::completed; }));
    CHECK(env.job(id).attempt == 2);
    for (auto& n : env.notes->items()) CHECK(n.event != "job_failed");
  }
}

TEST_CASE("a command type can override the retry policy", "[retry]") {
  Env env;
  RetryPolicy none;
  none.network = 0;
  auto& e = env.open(env.registry(none));
  const auto id = e.push(Flaky{{}, "network", 1000}).value().job.id;
  REQUIRE(env.reaches(id, [](const JobInfo& j) { return j.status == JobStatus::failed; }));
  CHECK(env.runs.load() == 1);
}

TEST_CASE("rate_limited waits for its retry-after time without spending an attempt", "[retry][ratelimit]") {
  Env env;
  auto& e = env.open(env.registry());
  const auto id = e.push(Flaky{{}, "429", 1}).value().job.id;
  REQUIRE(env.reaches(
      id, [](const JobInfo& j) { return j.status == JobStatus::queued && j.not_before.has_value(); }));
  auto j = env.job(id);
  CHECK(j.attempt == 1);
  CHECK(*j.not_before - env.clock->now() == std::chrono::seconds(90));
  CHECK_THAT(j.message, Catch::StartsWith("rate limited; next try at"));
  env.clock->advance(std::chrono::seconds(89));
  std::this_thread::sleep_for(20ms);
  CHECK(env.runs.load() == 1);
  env.clock->advance(std::chrono::seconds(1));
  REQUIRE(env.reaches(id, [](const JobInfo& x) { return x.status == JobStatus::completed; }));
  CHECK(env.job(id).attempt == 1);
}

TEST_CASE("rate_limited waits are bounded by the maximum wait", "[retry][ratelimit]") {
  Env env;
  EngineOptions o;
  o.retry.max_rate_limit_wait = std::chrono::hours(6);
  auto& e = env.open(env.registry(), o);
  const auto id = e.push(Flaky{{}, "429forever", 1000}).value().job.id;
  REQUIRE(env.reaches(id, [](const JobInfo& j) { return j.status == JobStatus::queued && j.not_before; }));
  env.clock->advance(std::chrono::hours(4));
  // The second 4 h wait would pass the 6 h bound: the job fails.
  REQUIRE(env.reaches(id, [](const JobInfo& j) { return j.status == JobStatus::failed; }));
  CHECK(env.job(id).error_kind == ErrorKind::rate_limited);
  CHECK(env.runs.load() == 2);
}

TEST_CASE("a retry is persisted and waits for its time after a restart", "[retry][recovery]") {
  Env env;
  JobId id = 0;
  {
    auto& e = env.open(env.registry());
    id = e.push(Flaky{{}, "network", 1}).value().job.id;
    REQUIRE(env.reaches(id, [](const JobInfo& j) { return is_retry_of(j, 2); }));
    e.stop(5s);
  }
  auto& e = env.open(env.registry());
  auto j = env.job(id);
  REQUIRE(is_retry_of(j, 2));
  CHECK(e.queue_depth().delayed[static_cast<int>(Priority::normal)] == 1);
  std::this_thread::sleep_for(20ms);
  CHECK(env.runs.load() == 1);
  env.clock->advance(std::chrono::seconds(10));
  REQUIRE(env.reaches(id, [](const JobInfo& x) { return x.status == JobStatus::completed; }));
}

TEST_CASE("a push can be delayed", "[retry][delayed]") {
  Env env;
  auto& e = env.open(env.registry());
  const auto at = env.clock->now() + std::chrono::minutes(5);
  const auto id = e.push(Flaky{{}, "network", 0}, {.not_before = at}).value().job.id;
  CHECK(e.queue_depth().delayed[static_cast<int>(Priority::normal)] == 1);
  CHECK(e.queue_depth().total_queued() == 0);
  std::this_thread::sleep_for(20ms);
  CHECK(env.runs.load() == 0);
  env.clock->advance(std::chrono::minutes(5));
  REQUIRE(env.reaches(id, [](const JobInfo& j) { return j.status == JobStatus::completed; }));
}

namespace {
struct Polite : Command {
  static constexpr std::string_view kName = "Polite";
};
struct Stuck : Command {
  static constexpr std::string_view kName = "Stuck";
};
}  // namespace

TEST_CASE("timeouts", "[timeout]") {
  Fixture f;
  auto clock = std::make_shared<ManualClock>();
  auto release = std::make_shared<std::atomic<bool>>(false);
  std::atomic<int> honest_runs{0};
  Registry r = f.registry();
  r.add<Polite>(
      [&](const Polite&, JobContext& ctx) {
        ++honest_runs;
        while (!ctx.cancelled()) std::this_thread::sleep_for(1ms);
      },
      {.timeout = std::chrono::minutes(10)});
  r.add<Stuck>(
      [release](const Stuck&, JobContext&) {
        while (!*release) std::this_thread::sleep_for(1ms);
      },
      {.locks = {"disk"}, .timeout = std::chrono::minutes(10)});
  auto created = Engine::create({.store_path = f.db(),
                                 .workers = 1,
                                 .logger = quiet_logger(),
                                 .clock = clock,
                                 .timeout_grace = std::chrono::seconds(30)},
                                std::move(r));
  REQUIRE(created.has_value());
  auto& e = **created;
  e.start();

  SECTION("a handler that honours the timeout's cancellation fails with kind timeout") {
    const auto id = e.push(Polite{}).value().job.id;
    REQUIRE(eventually([&] { return honest_runs.load() == 1; }));
    clock->advance(std::chrono::minutes(10));
    REQUIRE(eventually([&] { return e.get(id)->status == JobStatus::failed; }));
    CHECK(e.get(id)->error_kind == ErrorKind::timeout);
  }
  SECTION("a stuck handler is abandoned after the grace: locks released, capacity kept") {
    const auto stuck = e.push(Stuck{}).value().job.id;
    REQUIRE(eventually([&] { return e.get(stuck)->status == JobStatus::executing; }));
    f.gates.open_all();
    // Shares the "disk" lock and needs the only regular worker.
    const auto disk = e.push(DiskStep{{}, "after"}).value().job;
    clock->advance(std::chrono::minutes(10));
    std::this_thread::sleep_for(20ms);
    CHECK(e.get(stuck)->status == JobStatus::executing);  // grace not over
    CHECK_FALSE(f.rec.contains("start:after"));
    clock->advance(std::chrono::seconds(30));
    REQUIRE(eventually([&] { return e.get(stuck)->status == JobStatus::failed; }));
    CHECK(e.get(stuck)->error_kind == ErrorKind::timeout);
    REQUIRE(eventually([&] { return e.get(disk.id)->status == JobStatus::completed; }));
    SECTION("the stuck handler returns at last: its result is discarded") {
      *release = true;
      std::this_thread::sleep_for(20ms);
      CHECK(e.get(stuck)->status == JobStatus::failed);
    }
    SECTION("stop() does not wait for a handler that was abandoned") {
      CHECK(e.stop(2s));  // returns although the stuck thread still runs (ctest's timeout guards)
      CHECK(e.get(stuck)->status == JobStatus::failed);
    }
  }
  *release = true;
  e.stop(5s);
}

namespace {
struct Rss : Command {
  static constexpr std::string_view kName = "Rss";
  int n = 0;
};
void to_json(nlohmann::json& j, const Rss& r) { j = {{"n", r.n}}; }
void from_json(const nlohmann::json& j, Rss& r) { j.at("n").get_to(r.n); }
}  // namespace

TEST_CASE("a rate key spaces its jobs without holding back others", "[ratelimit][dispatch]") {
  Fixture f;
  auto clock = std::make_shared<ManualClock>();
  auto limiter = std::make_shared<RateLimiter>(clock);
  REQUIRE(limiter->configure("indexer:1", {.min_spacing = std::chrono::seconds(10)}).has_value());
  Registry r = f.registry();
  r.add<Rss>([&](const Rss& c, JobContext&) { f.rec.add("rss:" + std::to_string(c.n)); },
             {.rate_key = "indexer:1"});
  auto created = Engine::create(
      {.store_path = f.db(), .workers = 2, .logger = quiet_logger(), .clock = clock, .rate_limiter = limiter},
      std::move(r));
  REQUIRE(created.has_value());
  auto& e = **created;
  e.start();
  f.gates.open_all();
  e.push(Rss{{}, 1}).value();
  REQUIRE(f.rec.wait_for("rss:1"));
  const auto second = e.push(Rss{{}, 2}).value().job.id;
  const auto other = e.push(Step{{}, "other"}).value().job.id;
  REQUIRE(eventually([&] { return e.get(other)->status == JobStatus::completed; }));
  CHECK(e.get(second)->status == JobStatus::queued);
  clock->advance(std::chrono::seconds(9));
  std::this_thread::sleep_for(20ms);
  CHECK_FALSE(f.rec.contains("rss:2"));
  clock->advance(std::chrono::seconds(1));
  REQUIRE(f.rec.wait_for("rss:2"));
  e.stop(5s);
}

// The real clock moves between the dispatcher's look at the time and the limiter's: a free key
// once answered a time just after the dispatcher's, so the job waited for it again and again
// and never started (the test above drives a manual clock, which hid that).
TEST_CASE("a rate key spaces its jobs on the real clock", "[ratelimit][dispatch]") {
  Fixture f;
  auto limiter = std::make_shared<RateLimiter>();
  REQUIRE(limiter->configure("indexer:1", {.min_spacing = 100ms}).has_value());
  Registry r;
  std::mutex mu;
  std::vector<std::chrono::steady_clock::time_point> starts;
  r.add<Rss>(
      [&](const Rss&, JobContext&) {
        std::lock_guard lock(mu);
        starts.push_back(std::chrono::steady_clock::now());
      },
      {.rate_key = "indexer:1"});
  auto e =
      Engine::create({.store_path = f.db(), .workers = 2, .logger = quiet_logger(), .rate_limiter = limiter},
                     std::move(r))
          .value();
  e->start();
  for (int n = 1; n <= 3; ++n) e->push(Rss{{}, n}).value();
  REQUIRE(e->wait_idle(5s));
  std::lock_guard lock(mu);
  REQUIRE(starts.size() == 3);
  for (std::size_t i = 1; i < starts.size(); ++i) CHECK(starts[i] - starts[i - 1] >= 95ms);
}

TEST_CASE("a per-type cap limits concurrent jobs of that type", "[dispatch][cap]") {
  Fixture f;
  Registry r;
  std::atomic<int> running{0}, peak{0};
  r.add<Step>(
      [&](const Step& s, JobContext& ctx) {
        const int now = ++running;
        int seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
        f.gates.wait(s.tag, ctx);
        --running;
      },
      {.max_concurrent = 2});
  auto e =
      Engine::create({.store_path = f.db(), .workers = 4, .logger = quiet_logger()}, std::move(r)).value();
  e->start();
  for (const char* t : {"a", "b", "c", "d"}) e->push(Step{{}, t}).value();
  REQUIRE(eventually([&] { return running.load() == 2; }));
  std::this_thread::sleep_for(30ms);
  CHECK(running.load() == 2);
  CHECK(e->queue_depth().total_queued() == 2);
  f.gates.open_all();
  REQUIRE(e->wait_idle(5s));
  CHECK(peak.load() == 2);
}

TEST_CASE("a low job that waits long enough rises a level per aging period", "[dispatch][aging]") {
  Fixture f;
  f.clock = std::make_shared<ManualClock>();
  auto created = Engine::create({.store_path = f.db(),
                                 .workers = 1,
                                 .logger = quiet_logger(),
                                 .clock = f.clock,
                                 .aging_period = std::chrono::hours(1)},
                                f.registry());
  REQUIRE(created.has_value());
  f.engine = std::move(created).value();
  auto& e = *f.engine;
  e.start();
  f.push<Step>("busy");
  REQUIRE(f.rec.wait_for("start:busy"));
  const auto low = f.push<Step>("low", {.priority = Priority::low});
  const auto normal = f.push<Step>("normal");
  auto clock = std::static_pointer_cast<ManualClock>(f.clock);
  clock->advance(std::chrono::minutes(75));
  REQUIRE(eventually([&] { return e.get(low.id)->priority == Priority::normal; }));
  CHECK(e.get(normal.id)->priority == Priority::high);
  clock->advance(std::chrono::minutes(75));
  REQUIRE(eventually([&] { return e.get(low.id)->priority == Priority::high; }));
  CHECK(e.get(normal.id)->priority == Priority::high);  // never above high
  f.gates.open_all();
  REQUIRE(e.wait_idle(5s));
  // Both are high now; the older one (low was pushed first) starts first.
  CHECK(f.rec.index_of("start:low") < f.rec.index_of("start:normal"));
}

TEST_CASE("an idle-only job runs after its maximum deferral even if the queue never empties",
          "[dispatch][idle]") {
  Fixture f;
  f.clock = std::make_shared<ManualClock>();
  auto created = Engine::create({.store_path = f.db(),
                                 .workers = 2,
                                 .logger = quiet_logger(),
                                 .clock = f.clock,
                                 .idle_max_deferral = std::chrono::hours(6)},
                                f.registry());
  REQUIRE(created.has_value());
  f.engine = std::move(created).value();
  auto& e = *f.engine;
  e.start();
  f.push<Step>("forever");
  REQUIRE(f.rec.wait_for("start:forever"));
  f.push<IdleStep>("housekeeping");
  std::this_thread::sleep_for(20ms);
  CHECK_FALSE(f.rec.contains("start:housekeeping"));
  std::static_pointer_cast<ManualClock>(f.clock)->advance(std::chrono::hours(6));
  REQUIRE(f.rec.wait_for("start:housekeeping"));
  CHECK_FALSE(f.rec.contains("end:forever"));
}

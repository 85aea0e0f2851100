// SPDX-License-Identifier: MIT
#pragma once
// A ready-made engine for tests: Step jobs under several names and traits, all recording into
// one Recorder and waiting at one set of Gates.

#include <functional>
#include <memory>

#include <catch2/catch.hpp>

#include "test_support.hpp"

namespace testing {

// Step-like commands that differ only in their traits.
#define SHELFJOBS_TEST_STEP(Type, Name)                                           \
  struct Type : shelfjobs::Command {                                              \
    static constexpr std::string_view kName = Name;                               \
    std::string tag;                                                              \
  };                                                                              \
  inline void to_json(nlohmann::json& j, const Type& s) { j = {{"tag", s.tag}}; } \
  inline void from_json(const nlohmann::json& j, Type& s) { j.at("tag").get_to(s.tag); }

SHELFJOBS_TEST_STEP(DiskStep, "DiskStep")
SHELFJOBS_TEST_STEP(OtherDiskStep, "OtherDiskStep")
SHELFJOBS_TEST_STEP(SoloStep, "SoloStep")
SHELFJOBS_TEST_STEP(OneAtATime, "OneAtATime")
SHELFJOBS_TEST_STEP(IdleStep, "IdleStep")
SHELFJOBS_TEST_STEP(ImportStep, "ImportStep")
SHELFJOBS_TEST_STEP(NoRescue, "NoRescue")
#undef SHELFJOBS_TEST_STEP

struct Fixture {
  TempDir dir;
  Recorder rec;
  Gates gates;
  std::shared_ptr<shelfjobs::Clock> clock;
  std::unique_ptr<shelfjobs::Engine> engine;

  template <class T>
  void add_step(shelfjobs::Registry& r, shelfjobs::CommandTraits traits) {
    r.add<T>(
        [this](const T& s, shelfjobs::JobContext& ctx) {
          rec.add("start:" + s.tag);
          if (!gates.wait(s.tag, ctx)) {
            rec.add("cancelled:" + s.tag);
            return;
          }
          if (s.tag.rfind("fail", 0) == 0) throw std::runtime_error("boom " + s.tag);
          rec.add("end:" + s.tag);
        },
        std::move(traits));
  }

  shelfjobs::Registry registry() {
    using shelfjobs::Priority;
    shelfjobs::Registry r;
    r.add<Noop>([](const Noop&, shelfjobs::JobContext&) {});
    add_step<Step>(r, {});
    add_step<DiskStep>(r, {.locks = {"disk"}});
    add_step<OtherDiskStep>(r, {.locks = {"disk"}});
    add_step<SoloStep>(r, {.exclusive = true});
    add_step<OneAtATime>(r, {.type_exclusive = true});
    add_step<IdleStep>(r, {.priority = Priority::low, .idle_only = true});
    add_step<ImportStep>(r, {.priority = Priority::critical, .locks = {"import"}});
    add_step<NoRescue>(r, {.rescue_on_restart = false});
    r.add<Refresh>([](const Refresh&, shelfjobs::JobContext&) {},
                   {.priority = Priority::normal, .locks = {"refresh"}});
    return r;
  }

  std::string db() const { return job_store_at(dir, "jobs.db"); }

  // `tune` changes the options before the engine is made.
  shelfjobs::Engine& open(int workers = 3, bool start = true,
                          const std::function<void(shelfjobs::EngineOptions&)>& tune = {}) {
    engine.reset();
    shelfjobs::EngineOptions options{
        .store_path = db(), .workers = workers, .logger = quiet_logger(), .clock = clock};
    if (tune) tune(options);
    auto e = shelfjobs::Engine::create(std::move(options), registry());
    REQUIRE(e.has_value());
    engine = std::move(e).value();
    if (start) engine->start();
    return *engine;
  }

  template <class T>
  shelfjobs::JobInfo push(std::string tag, shelfjobs::PushOptions o = {}) {
    T cmd;
    cmd.tag = std::move(tag);
    auto r = engine->push(cmd, o);
    REQUIRE(r.has_value());
    return r->job;
  }

  shelfjobs::JobStatus status(shelfjobs::JobId id) {
    auto j = engine->get(id);
    REQUIRE(j.has_value());
    return j->status;
  }

  bool ends(shelfjobs::JobId id, shelfjobs::JobStatus s, std::chrono::milliseconds t = 5s) {
    return eventually([&] { return status(id) == s; }, t);
  }

  ~Fixture() {
    gates.open_all();
    engine.reset();
  }
};

}  // namespace testing

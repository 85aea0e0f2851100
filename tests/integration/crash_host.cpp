// SPDX-License-Identifier: MIT
// A host process for the crash test. `crash_host DB push N` pushes N jobs durably and runs
// them; the test kills it with SIGKILL mid-run. `crash_host DB resume` reopens the store, runs
// what is left and exits 0 once idle.

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "shelfjobs/shelfjobs.hpp"

namespace {
struct Work : shelfjobs::Command {
  static constexpr std::string_view kName = "Work";
  int n = 0;
};
void to_json(nlohmann::json& j, const Work& w) { j = {{"n", w.n}}; }
void from_json(const nlohmann::json& j, Work& w) { j.at("n").get_to(w.n); }
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: crash_host DB push N | crash_host DB resume\n";
    return 2;
  }
  const std::string db = argv[1];
  const std::string mode = argv[2];
  shelfjobs::Registry registry;
  registry.add<Work>([](const Work& w, shelfjobs::JobContext& ctx) {
    ctx.report(0, 1, "working on " + std::to_string(w.n));
    std::this_thread::sleep_for(std::chrono::microseconds(500));
    ctx.complete("done " + std::to_string(w.n));
  });
  auto log = std::make_shared<spdlog::logger>("crash_host", std::make_shared<spdlog::sinks::null_sink_mt>());
  auto engine =
      shelfjobs::Engine::create({.store_path = db, .workers = 3, .logger = log}, std::move(registry));
  if (!engine) {
    std::cerr << engine.error().message << "\n";
    return 1;
  }
  auto& e = **engine;
  if (mode == "push") {
    const int n = argc > 3 ? std::atoi(argv[3]) : 1000;
    std::vector<shelfjobs::PushRequest> requests;
    for (int i = 0; i < n; ++i) requests.push_back({"Work", {{"n", i}}, {}});
    auto pushed = e.push_many(std::move(requests));
    if (!pushed) {
      std::cerr << pushed.error().message << "\n";
      return 1;
    }
    std::cout << "pushed " << n << std::endl;
  }
  e.start();
  while (!e.wait_idle(std::chrono::seconds(60))) {
  }
  std::cout << "idle" << std::endl;
  return e.stop(std::chrono::seconds(10)) ? 0 : 1;
}

// SPDX-License-Identifier: MIT
// progress: a command with a typed body whose handler reports progress, and a host that
// watches the job's events.
//
// Shows: a command struct with its JSON codec, JobContext::status / report / complete in a
// handler, and Engine::subscribe receiving queued, started, progress and completed events.
// Exits 0 only when every report arrived, in order, between `started` and `completed`.
//
//   progress [store.db]     (default: a store in a temporary folder, removed at the end)
//   ctest --test-dir build/dev -R '^example\.progress$'

#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <shelfjobs/shelfjobs.hpp>

#include "../example_store.hpp"

using namespace std::chrono_literals;

// The command: a plain struct that names itself, with a JSON codec for its body.
struct ImportFolder : shelfjobs::Command {
  static constexpr std::string_view kName = "ImportFolder";
  std::string folder;
  int files = 0;
};
void to_json(nlohmann::json& j, const ImportFolder& c) { j = {{"folder", c.folder}, {"files", c.files}}; }
void from_json(const nlohmann::json& j, ImportFolder& c) {
  j.at("folder").get_to(c.folder);
  j.at("files").get_to(c.files);
}

int main(int argc, char** argv) {
  const examples::StoreFile store(argc, argv);

  // The handler: a status line first, then one report per file, then a completion message.
  shelfjobs::Registry registry;
  registry.add<ImportFolder>([](const ImportFolder& cmd, shelfjobs::JobContext& ctx) {
    ctx.status("listing " + cmd.folder);
    for (int i = 1; i <= cmd.files; ++i) {
      std::this_thread::sleep_for(20ms);  // the real work would go here
      ctx.report(i, cmd.files, "file " + std::to_string(i) + " of " + std::to_string(cmd.files));
    }
    ctx.complete("imported " + std::to_string(cmd.files) + " files from " + cmd.folder);
  });

  // progress_interval 0 sends every report; the default (250 ms) sends at most four a second.
  auto created = shelfjobs::Engine::create({.store_path = store.path.string(), .progress_interval = 0ms},
                                           std::move(registry));
  if (!created) {
    std::fprintf(stderr, "cannot open the engine: %s\n", created.error().message.c_str());
    return 1;
  }
  auto& engine = **created;

  // Events arrive on the subscription's own thread, in the order the engine produced them.
  // coalesce_progress = false keeps every report even if this subscriber falls behind.
  std::mutex mu;
  std::vector<std::string> seen;  // "queued", "started", "progress 3", ...
  auto on_job = [&](const shelfjobs::JobEvent& e) {
    const auto& p = e.job.progress;
    std::printf("%-9s job %lld  %lld/%lld  %s\n", std::string(to_string(e.type)).c_str(),
                static_cast<long long>(e.job.id), static_cast<long long>(p.current),
                static_cast<long long>(p.total),
                e.job.message.empty() ? p.message.c_str() : e.job.message.c_str());
    std::string step(to_string(e.type));
    if (e.type == shelfjobs::JobEvent::Type::progress) step += " " + std::to_string(p.current);
    std::lock_guard lock(mu);
    seen.push_back(step);
  };
  engine.subscribe(shelfjobs::on_event<shelfjobs::JobEvent>(on_job),
                   {.coalesce_progress = false, .kinds = shelfjobs::kJobEvents | shelfjobs::kProgressEvents});

  engine.start();
  constexpr int kFiles = 8;
  auto pushed = engine.push(ImportFolder{{}, "incoming/audiobooks", kFiles});  // {} is the base
  if (!pushed) {
    std::fprintf(stderr, "push refused: %s\n", pushed.error().message.c_str());
    return 1;
  }
  const bool idle = engine.wait_idle(10s);
  const bool stopped = engine.stop(5s);  // delivers every event still queued before it returns

  // The check: queued, started, progress 0 (the status line), 1..kFiles in order, completed.
  std::vector<std::string> expected = {"queued", "started", "progress 0"};
  for (int i = 1; i <= kFiles; ++i) expected.push_back("progress " + std::to_string(i));
  expected.push_back("completed");
  const auto job = engine.get(pushed->job.id);  // queries still work after stop()
  if (job)
    std::printf("final: %s, \"%s\"\n", std::string(to_string(job->status)).c_str(), job->message.c_str());
  std::lock_guard lock(mu);
  if (!idle || !stopped || seen != expected || !job || job->status != shelfjobs::JobStatus::completed) {
    std::fprintf(stderr, "FAILED: expected %zu events in order, got %zu\n", expected.size(), seen.size());
    return 1;
  }
  std::printf("ok: %zu events in order\n", seen.size());
  return 0;
}

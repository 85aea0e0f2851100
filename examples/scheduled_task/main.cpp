// SPDX-License-Identifier: MIT
// scheduled_task: a command that the engine pushes on a schedule.
//
// Shows: Engine::add_task with a TaskSpec (a 1 s interval, the shortest a schedule takes, and an
// allowed range), run_task_now (a manual run that counts as the task's), a scheduled run one
// interval later, set_task_interval refusing a value outside the range, and tasks() with each
// task's next due time and last result. Exits 0 only when both runs completed and tasks()
// reports the last one.
//
//   scheduled_task [store.db]   (default: a store in a temporary folder, removed at the end)
//   ctest --test-dir build/dev -R '^example\.scheduled_task$'

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>

#include <shelfjobs/shelfjobs.hpp>

#include "../example_store.hpp"

using namespace std::chrono_literals;

// A command without fields needs no JSON codec: its body is {}.
struct CleanCache : shelfjobs::Command {
  static constexpr std::string_view kName = "CleanCache";
};

void print_tasks(shelfjobs::Engine& engine) {
  for (const auto& t : engine.tasks()) {
    std::printf("  task %s: every %llds, next due %s, last %s \"%s\"\n", t.name.c_str(),
                static_cast<long long>(t.interval.count()),
                t.next_due ? shelfjobs::format_time(*t.next_due).c_str() : "never",
                t.last_status ? std::string(to_string(*t.last_status)).c_str() : "(none)",
                t.last_message.c_str());
  }
}

int main(int argc, char** argv) {
  const examples::StoreFile store(argc, argv);

  shelfjobs::Registry registry;
  registry.add<CleanCache>([](const CleanCache&, shelfjobs::JobContext& ctx) {
    ctx.complete(ctx.trigger() == shelfjobs::Trigger::scheduled ? "cleaned on schedule"
                                                                : "cleaned on request");
  });
  auto created = shelfjobs::Engine::create({.store_path = store.path.string()}, std::move(registry));
  if (!created) {
    std::fprintf(stderr, "cannot open the engine: %s\n", created.error().message.c_str());
    return 1;
  }
  auto& engine = **created;

  // Count the task's finished runs by trigger; the main thread waits on the condition variable.
  std::mutex mu;
  std::condition_variable cv;
  int manual_runs = 0, scheduled_runs = 0;
  engine.subscribe(shelfjobs::on_event<shelfjobs::JobEvent>([&](const shelfjobs::JobEvent& e) {
    if (e.type != shelfjobs::JobEvent::Type::completed) return;
    std::printf("completed job %lld (%s, task %s): %s\n", static_cast<long long>(e.job.id),
                std::string(to_string(e.job.trigger)).c_str(), e.job.task.c_str(), e.job.message.c_str());
    std::lock_guard lock(mu);
    ++(e.job.trigger == shelfjobs::Trigger::scheduled ? scheduled_runs : manual_runs);
    cv.notify_all();
  }));

  // Register the task at every start (its history stays in the store). A new task is first due
  // one interval after it is added.
  auto added = engine.add_task({.name = "CleanCache",
                                .schedule = {.interval = 1s},
                                .range = {.min = 1s, .max = 1h, .allow_off = true}});
  if (!added) {
    std::fprintf(stderr, "add_task: %s\n", added.error().message.c_str());
    return 1;
  }
  std::printf("added:\n");
  print_tasks(engine);
  // Outside the range: refused with a message that names the task and the range.
  if (auto bad = engine.set_task_interval("CleanCache", 2h); !bad)
    std::printf("set_task_interval refused: %s\n", bad.error().message.c_str());

  engine.start();
  if (!engine.run_task_now("CleanCache")) return 1;  // now, and next due one interval from now

  // Wait for the manual run and then one scheduled run (due about 1 s later).
  bool both = false;
  {
    std::unique_lock lock(mu);
    both = cv.wait_for(lock, 10s, [&] { return manual_runs >= 1 && scheduled_runs >= 1; });
  }
  std::printf("after the runs:\n");
  print_tasks(engine);
  const auto tasks = engine.tasks();  // the task table is live state: read it before stop()
  engine.stop(5s);

  const bool ok = both && tasks.size() == 1 && tasks[0].interval == 1s && tasks[0].last_job &&
                  tasks[0].last_status == shelfjobs::JobStatus::completed;
  if (!ok) std::fprintf(stderr, "FAILED: expected a manual and a scheduled run, both completed\n");
  return ok ? 0 : 1;
}

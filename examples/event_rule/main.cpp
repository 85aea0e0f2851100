// SPDX-License-Identifier: MIT
// event_rule: domain events that become jobs through a debounced rule.
//
// Shows: a domain event struct, an EventBus, add_rule mapping each event to a command, and
// RuleOptions: `debounce` folds a burst of equal requests into one job (20 events for two
// authors make two jobs), `max_wait` makes a steady stream push while it still flows.
// Exits 0 only when the burst made exactly one job per author and the stream pushed a job
// before it ended.
//
//   event_rule [store.db]   (default: a store in a temporary folder, removed at the end)
//   ctest --test-dir build/dev -R '^example\.event_rule$'

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <shelfjobs/shelfjobs.hpp>

#include "../example_store.hpp"

using namespace std::chrono_literals;
using shelfjobs::JobEvent;

// A domain event: a plain struct that names itself. It is not a job and is not stored.
struct BookFileAdded {
  static constexpr std::string_view kName = "BookFileAdded";
  std::int64_t author_id = 0;
  std::string path;
};

// The command the rule pushes: rescan one author's folder.
struct RescanAuthor : shelfjobs::Command {
  static constexpr std::string_view kName = "RescanAuthor";
  std::int64_t author_id = 0;
};
void to_json(nlohmann::json& j, const RescanAuthor& c) { j = {{"authorId", c.author_id}}; }
void from_json(const nlohmann::json& j, RescanAuthor& c) { j.at("authorId").get_to(c.author_id); }

int main(int argc, char** argv) {
  const examples::StoreFile store(argc, argv);
  shelfjobs::Registry registry;
  registry.add<RescanAuthor>([](const RescanAuthor& cmd, shelfjobs::JobContext& ctx) {
    std::this_thread::sleep_for(50ms);
    ctx.complete("rescanned author " + std::to_string(cmd.author_id));
  });
  auto created = shelfjobs::Engine::create({.store_path = store.path.string()}, std::move(registry));
  if (!created) {
    std::fprintf(stderr, "cannot open the engine: %s\n", created.error().message.c_str());
    return 1;
  }
  auto& engine = **created;

  // Jobs queued and completed per author, counted from the engine's events.
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::int64_t, int> queued, completed;
  engine.subscribe(shelfjobs::on_event<JobEvent>([&](const JobEvent& e) {
    if (e.type != JobEvent::Type::queued && e.type != JobEvent::Type::completed) return;
    const auto author = e.job.body->at("authorId").get<std::int64_t>();
    std::printf("%-9s job %lld for author %lld (trigger %s)\n", std::string(to_string(e.type)).c_str(),
                static_cast<long long>(e.job.id), static_cast<long long>(author),
                std::string(to_string(e.job.trigger)).c_str());
    std::lock_guard lock(mu);
    ++(e.type == JobEvent::Type::queued ? queued : completed)[author];
    cv.notify_all();
  }));
  engine.start();

  // The rule: every BookFileAdded asks for a rescan of its author, pushed once 500 ms have
  // passed without another equal request, and at least once per 1.5 s under a steady stream.
  shelfjobs::EventBus bus;
  const auto rule = shelfjobs::add_rule<BookFileAdded>(
      bus, engine,
      [](const BookFileAdded& e) {
        return std::vector<shelfjobs::PushRequest>{{"RescanAuthor", {{"authorId", e.author_id}}}};
      },
      {.debounce = 500ms, .max_wait = 1500ms});

  // 1. A burst: 20 files of two authors, interleaved. Equal requests fold: one job per author.
  for (int i = 0; i < 10; ++i) {
    bus.publish(BookFileAdded{7, "Le Guin/file" + std::to_string(i) + ".epub"});
    bus.publish(BookFileAdded{9, "Leckie/file" + std::to_string(i) + ".epub"});
  }
  std::unique_lock lock(mu);
  const bool burst_done = cv.wait_for(lock, 10s, [&] { return completed[7] + completed[9] == 2; });
  const bool burst_ok = burst_done && queued[7] == 1 && queued[9] == 1;
  std::printf("burst: 20 events -> %d jobs\n", queued[7] + queued[9]);

  // 2. A stream: a file every 100 ms, faster than the 500 ms window, so the window alone would
  // never end; max_wait pushes a job while the stream goes on. Stop once that job is queued.
  int sent = 0;
  const auto began = std::chrono::steady_clock::now();
  while (queued[11] == 0 && std::chrono::steady_clock::now() - began < 10s) {
    lock.unlock();
    bus.publish(BookFileAdded{11, "Jemisin/file" + std::to_string(sent++) + ".epub"});
    std::this_thread::sleep_for(100ms);
    lock.lock();
  }
  const bool stream_ok = queued[11] >= 1 && cv.wait_for(lock, 10s, [&] { return completed[11] >= 1; });
  std::printf("stream: a job was queued after %d events while the stream still flowed\n", sent);
  lock.unlock();

  bus.unsubscribe(rule);  // the engine must outlive its rules
  engine.stop(5s);        // drops debounced requests still waiting for their window
  if (!burst_ok || !stream_ok) std::fprintf(stderr, "FAILED: burst %d, stream %d\n", burst_ok, stream_ok);
  return burst_ok && stream_ok ? 0 : 1;
}

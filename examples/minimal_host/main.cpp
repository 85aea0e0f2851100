// SPDX-License-Identifier: MIT
// The smallest host: one custom command whose handler reports progress, a few jobs of
// different priorities, and their lifecycle printed as it happens.
//
//   minimal_host [store.db]

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include <shelfjobs/shelfjobs.hpp>

// A command: a plain struct with a name and a JSON codec.
struct ScanShelf : shelfjobs::Command {
  static constexpr std::string_view kName = "ScanShelf";
  std::string shelf;
  int books = 0;
};
void to_json(nlohmann::json& j, const ScanShelf& c) { j = {{"shelf", c.shelf}, {"books", c.books}}; }
void from_json(const nlohmann::json& j, ScanShelf& c) {
  j.at("shelf").get_to(c.shelf);
  j.at("books").get_to(c.books);
}

// Its handler: reports progress, honours cancellation, sets a completion message.
class ScanShelfHandler : public shelfjobs::IExecute<ScanShelf> {
 public:
  void execute(const ScanShelf& cmd, shelfjobs::JobContext& ctx) override {
    for (int i = 1; i <= cmd.books; ++i) {
      if (ctx.cancelled()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      ctx.report(i, cmd.books, "book " + std::to_string(i) + " of " + std::to_string(cmd.books));
    }
    ctx.complete("scanned " + std::to_string(cmd.books) + " books on " + cmd.shelf);
  }
};

int main(int argc, char** argv) {
  const std::string store = argc > 1 ? argv[1] : "minimal_host.db";
  std::filesystem::remove(store);

  shelfjobs::Registry registry;
  registry.add<ScanShelf>(std::make_shared<ScanShelfHandler>(), {.locks = {"disk"}});

  auto created = shelfjobs::Engine::create({.store_path = store, .workers = 2}, std::move(registry));
  if (!created) {
    std::cerr << "cannot start: " << created.error().message << "\n";
    return 1;
  }
  auto& engine = **created;
  engine.subscribe(shelfjobs::on_event<shelfjobs::JobEvent>([](const shelfjobs::JobEvent& ev) {
    std::printf("%-9s job %lld %-9s %-8s %s\n", std::string(to_string(ev.type)).c_str(),
                static_cast<long long>(ev.job.id), ev.job.name.c_str(),
                std::string(to_string(ev.job.priority)).c_str(),
                ev.job.message.empty() ? ev.job.progress.message.c_str() : ev.job.message.c_str());
  }));

  // Push before start, so the priorities decide the order.
  using shelfjobs::Priority;
  auto low = engine.push(ScanShelf{{}, "attic", 3}, {.priority = Priority::low});
  auto normal = engine.push(ScanShelf{{}, "study", 5});
  auto high = engine.push(ScanShelf{{}, "new arrivals", 2}, {.priority = Priority::high});
  auto bad = engine.push("ScanShelf", {{"shelf", "hall"}});  // refused: "books" is missing
  if (!low || !normal || !high || bad) return 1;
  std::printf("refused: %s\n", bad.error().message.c_str());

  engine.start();
  if (!engine.wait_idle(std::chrono::seconds(30))) return 1;
  for (auto id : {high->job.id, normal->job.id, low->job.id}) {
    auto job = engine.get(id);
    std::printf("job %lld: %s, %s\n", static_cast<long long>(id), std::string(to_string(job->status)).c_str(),
                job->message.c_str());
    if (job->status != shelfjobs::JobStatus::completed) return 1;
  }
  return engine.stop(std::chrono::seconds(5)) ? 0 : 1;
}

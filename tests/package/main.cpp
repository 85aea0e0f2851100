// A host's first program: register a command, push it, see it complete.
#include <cstdio>

#include <shelfjobs/shelfjobs.hpp>

struct Ping : shelfjobs::Command {
  static constexpr std::string_view kName = "Ping";
};

int main(int argc, char** argv) {
  shelfjobs::Registry registry;
  registry.add<Ping>([](const Ping&, shelfjobs::JobContext& ctx) { ctx.complete("pong"); });
  auto engine =
      shelfjobs::Engine::create({.store_path = argc > 1 ? argv[1] : ":memory:"}, std::move(registry));
  if (!engine) return 1;
  (*engine)->start();
  auto pushed = (*engine)->push(Ping{});
  if (!pushed || !(*engine)->wait_idle(std::chrono::seconds(10))) return 1;
  auto job = (*engine)->get(pushed->job.id);
  std::printf("shelfjobs %s: %s\n", shelfjobs::kVersion, job ? job->message.c_str() : "?");
  return job && job->message == "pong" ? 0 : 1;
}

// SPDX-License-Identifier: MIT
// shelfjobs_cluster_node: one node of a cluster, as a host process would run it, for the
// cluster test (tests/engine/cluster_process_test.cpp), which starts three, kills one with
// SIGKILL and reads what each one wrote.
//
//   shelfjobs_cluster_node <postgres url> <node name> <log file> <jobs to push>
//
// It joins the queue (lease 2 s, heartbeat 250 ms, 2 workers), registers a scheduled task
// "Tick" every second, pushes its jobs (a mixed load: plain work, a type-exclusive command, one
// that fails once and succeeds on its retry), and runs until SIGTERM or SIGINT, then stops the
// engine and exits 0. Every handler appends one line to the log when it is done:
//   done <tag> | serial <tag> <start ns> <end ns> (CLOCK_MONOTONIC, the same in every process)
//   | retried <tag> | tick <job id>
// and "pushed" once every push returned.

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>
#include <thread>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "shelfjobs/engine/engine.hpp"

namespace {

using namespace shelfjobs;
using namespace std::chrono_literals;

struct Work : Command {
  static constexpr std::string_view kName = "Work";
  std::string tag;
};
struct Serial : Command {
  static constexpr std::string_view kName = "Serial";
  std::string tag;
};
struct Flaky : Command {
  static constexpr std::string_view kName = "Flaky";
  std::string tag;
};
struct TickCmd : Command {
  static constexpr std::string_view kName = "TickCmd";
};
void to_json(nlohmann::json& j, const Work& c) { j = {{"tag", c.tag}}; }
void from_json(const nlohmann::json& j, Work& c) { j.at("tag").get_to(c.tag); }
void to_json(nlohmann::json& j, const Serial& c) { j = {{"tag", c.tag}}; }
void from_json(const nlohmann::json& j, Serial& c) { j.at("tag").get_to(c.tag); }
void to_json(nlohmann::json& j, const Flaky& c) { j = {{"tag", c.tag}}; }
void from_json(const nlohmann::json& j, Flaky& c) { j.at("tag").get_to(c.tag); }
[[maybe_unused]] void to_json(nlohmann::json& j, const TickCmd&) { j = nlohmann::json::object(); }
[[maybe_unused]] void from_json(const nlohmann::json&, TickCmd&) {}

int log_fd = -1;
std::mutex log_mu;
void log_line(const std::string& line) {
  std::lock_guard<std::mutex> lock(log_mu);
  const std::string l = line + "\n";
  [[maybe_unused]] const auto n = ::write(log_fd, l.data(), l.size());
}

std::int64_t mono_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s <postgres url> <node name> <log file> <jobs>\n", argv[0]);
    return 2;
  }
  const std::string url = argv[1], name = argv[2];
  const int jobs = std::stoi(argv[4]);
  log_fd = ::open(argv[3], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    std::perror("log");
    return 2;
  }
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);  // every thread after this one inherits it

  auto logger = std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_level(spdlog::level::warn);

  Registry registry;
  registry.add<Work>([](const Work& c, JobContext&) {
    std::this_thread::sleep_for(4ms);
    log_line("done " + c.tag);
  });
  CommandTraits serial;
  serial.type_exclusive = true;
  registry.add<Serial>(
      [](const Serial& c, JobContext&) {
        const auto start = mono_ns();
        std::this_thread::sleep_for(8ms);
        log_line("serial " + c.tag + " " + std::to_string(start) + " " + std::to_string(mono_ns()));
      },
      serial);
  CommandTraits flaky;
  RetryPolicy quick;
  quick.base_delay = 100ms;
  quick.max_delay = 200ms;
  flaky.retry = quick;
  registry.add<Flaky>(
      [](const Flaky& c, JobContext& ctx) {
        if (ctx.attempt() == 1) throw JobError(ErrorKind::network, "the first try fails");
        log_line("retried " + c.tag);
      },
      flaky);
  registry.add<TickCmd>(
      [](const TickCmd&, JobContext& ctx) { log_line("tick " + std::to_string(ctx.id())); });

  EngineOptions options;
  options.store_path = url;
  options.workers = 2;
  options.logger = logger;
  options.cluster.enabled = true;
  options.cluster.node_name = name;
  options.cluster.heartbeat = 250ms;
  options.cluster.lease = 2s;
  auto created = Engine::create(options, std::move(registry));
  if (!created) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), created.error().message.c_str());
    return 1;
  }
  auto& engine = **created;
  TaskSpec tick;
  tick.name = "Tick";
  tick.command = "TickCmd";
  tick.schedule.interval = 1s;
  if (auto added = engine.add_task(tick); !added) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), added.error().message.c_str());
    return 1;
  }
  engine.start();
  for (int i = 0; i < jobs; ++i) {
    const std::string tag = name + "-" + std::to_string(i);
    Result<PushResult> pushed = Error{errc::unknown_command, ""};
    if (i % 5 == 0) {
      Serial c;
      c.tag = tag;
      pushed = engine.push(c);
    } else if (i % 7 == 0) {
      Flaky c;
      c.tag = tag;
      pushed = engine.push(c);
    } else {
      Work c;
      c.tag = tag;
      pushed = engine.push(c);
    }
    if (!pushed) {
      std::fprintf(stderr, "%s: push %s: %s\n", name.c_str(), tag.c_str(), pushed.error().message.c_str());
      return 1;
    }
  }
  log_line("pushed");
  int sig = 0;
  sigwait(&stop_signals, &sig);
  engine.stop();
  return 0;
}

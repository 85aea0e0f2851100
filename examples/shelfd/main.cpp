// SPDX-License-Identifier: MIT
// shelfd: the example host of shelfjobs.
//
//   shelfd init --config FILE            write a complete default config
//   shelfd run  --config FILE [--port N] [--api-key KEY]
//   shelfd demo [--json] [--serve] [--port N]

#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>

#include "app.hpp"
#include "demo.hpp"

namespace {

// Blocks SIGINT and SIGTERM in every thread (threads inherit the mask), so that only
// wait_for_signal() receives them, synchronously, and the shutdown runs on the main thread.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int wait_for_signal(const sigset_t& set) {
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

int run(const std::string& config_path, int port, const std::string& api_key) {
  const sigset_t signals = block_stop_signals();
  // A write past the file-size limit fails with EFBIG (a backup reports it and removes its
  // partial file) instead of killing the daemon.
  std::signal(SIGXFSZ, SIG_IGN);
  auto config = shelfd::load_config(config_path);
  if (!config) {
    std::cerr << "shelfd: " << config.error().message << "\n";
    return 2;
  }
  if (port != 0) {
    if (port < 1 || port > 65535) {
      std::cerr << "shelfd: --port must be 1..65535\n";
      return 2;
    }
    config->port = port;
  }
  if (!api_key.empty()) {
    if (api_key.size() < 16) {
      std::cerr << "shelfd: --api-key must be at least 16 characters\n";
      return 2;
    }
    config->api_key = api_key;
  }
  auto app = shelfd::App::create(std::move(config).value(), {});
  if (!app) {
    std::cerr << "shelfd: " << app.error().message << "\n";
    return 2;
  }
  (*app)->start();
  const int sig = wait_for_signal(signals);
  (*app)->log().info("received {}; stopping (running jobs get 30 s)", sig == SIGINT ? "SIGINT" : "SIGTERM");
  (*app)->stop(std::chrono::seconds(30));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"shelfd: background jobs for a book collection, driven by shelfjobs"};
  cli.require_subcommand(1);
  std::string config_path;
  int port = 0;
  std::string api_key;

  auto* init = cli.add_subcommand("init", "write a complete default config");
  init->add_option("--config", config_path, "config file to write")->required();

  auto* run_cmd = cli.add_subcommand("run", "run the daemon until SIGINT or SIGTERM");
  run_cmd->add_option("--config", config_path, "config file")->required();
  run_cmd->add_option("--port", port, "API port (overrides api.port)");
  run_cmd->add_option("--api-key", api_key, "API key (overrides api.apiKey)");

  shelfd::DemoOptions demo;
  auto* demo_cmd = cli.add_subcommand("demo", "a self-contained run of every command and task");
  demo_cmd->add_flag("--json", demo.json, "end with one JSON line of counts");
  demo_cmd->add_flag("--serve", demo.serve, "keep the API and dashboard up afterwards");
  demo_cmd->add_option("--port", demo.port, "API port with --serve (default: a free one)");
  demo_cmd->add_option("--api-key", demo.api_key, "API key with --serve (default: a random one)");

  CLI11_PARSE(cli, argc, argv);

  if (*init) {
    auto ok = shelfd::write_default_config(config_path);
    if (!ok) {
      std::cerr << "shelfd: " << ok.error().message << "\n";
      return 2;
    }
    std::cout << "wrote " << config_path << "\n";
    return 0;
  }
  if (*run_cmd) return run(config_path, port, api_key);
  return shelfd::run_demo(demo);
}

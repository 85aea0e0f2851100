// SPDX-License-Identifier: MIT
// bookinfo-fixture <dir> [--port N]: serves a folder of BookInfo JSON files (author/<id>.json,
// work/<id>.json) on 127.0.0.1 until SIGINT or SIGTERM, for pointing a host at by hand.

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "bookinfo_fixture.hpp"

namespace {

int usage() {
  std::fprintf(stderr, "usage: bookinfo-fixture <dir> [--port N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  int port = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--port" && i + 1 < argc) {
      char* end = nullptr;
      const long p = std::strtol(argv[++i], &end, 10);
      if (!end || *end != '\0' || p < 0 || p > 65535) return usage();
      port = static_cast<int>(p);
    } else if (arg == "-h" || arg == "--help") {
      usage();
      return 0;
    } else if (dir.empty() && !arg.empty() && arg[0] != '-') {
      dir = arg;
    } else {
      return usage();
    }
  }
  if (dir.empty()) return usage();

  // Block the signals before the server starts its threads (they inherit the mask), so that
  // only sigwait below receives them and the server can be stopped cleanly.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  try {
    auto server = shelfjobs::fixtures::BookInfoFixture::start(port);
    server->load_dir(dir);
    std::printf("%s\n", server->base_url().c_str());
    std::fflush(stdout);
    int sig = 0;
    sigwait(&signals, &sig);
    std::fprintf(stderr, "bookinfo-fixture: stopping (%d requests served)\n",
                 static_cast<int>(server->requests()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bookinfo-fixture: %s\n", e.what());
    return 1;
  }
  return 0;
}

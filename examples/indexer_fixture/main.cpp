// SPDX-License-Identifier: MIT
// indexer-fixture [--kind newznab|torznab] [--items N] [--api-key K] [--port N]: serves N
// generated book releases (default 250) as a Newznab or Torznab indexer on 127.0.0.1 until
// SIGINT or SIGTERM, for pointing a host at by hand. It prints its base URL (the API is at
// "<url>/api") on the first line of stdout.

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <string>

#include "indexer_fixture.hpp"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: indexer-fixture [--kind newznab|torznab] [--items N] [--api-key K] [--port N]\n");
  return 2;
}

bool number(const char* s, long lo, long hi, long& out) {
  char* end = nullptr;
  out = std::strtol(s, &end, 10);
  return end && *end == '\0' && out >= lo && out <= hi;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace shelfjobs::fixtures;
  IndexerFixtureOptions options;
  long items = 250;
  long port = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--kind" && has_value) {
      const std::string k = argv[++i];
      if (k == "newznab")
        options.kind = FixtureKind::newznab;
      else if (k == "torznab")
        options.kind = FixtureKind::torznab;
      else
        return usage();
    } else if (arg == "--items" && has_value) {
      if (!number(argv[++i], 0, 100000, items)) return usage();
    } else if (arg == "--api-key" && has_value) {
      options.api_key = argv[++i];
    } else if (arg == "--port" && has_value) {
      if (!number(argv[++i], 0, 65535, port)) return usage();
    } else if (arg == "-h" || arg == "--help") {
      usage();
      return 0;
    } else {
      return usage();
    }
  }

  // Block the signals before the server starts its threads (they inherit the mask), so that only
  // sigwait below receives them and the server stops cleanly.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  try {
    auto server = IndexerFixture::start(options, static_cast<int>(port));
    server->set_releases(make_releases(static_cast<int>(items), std::time(nullptr)));
    std::printf("%s\n", server->base_url().c_str());
    std::fflush(stdout);
    int sig = 0;
    sigwait(&signals, &sig);
    std::fprintf(stderr, "indexer-fixture: stopping (%lld requests served)\n",
                 static_cast<long long>(server->requests()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "indexer-fixture: %s\n", e.what());
    return 1;
  }
  return 0;
}

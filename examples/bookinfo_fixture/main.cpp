// SPDX-License-Identifier: MIT
// bookinfo-fixture <dir> [--port N]: serves a folder of BookInfo JSON files (author/<id>.json,
// work/<id>.json) on 127.0.0.1 until SIGINT or SIGTERM, for pointing a host at by hand or for
// `shelfd demo`. It prints its base URL on the first line of stdout; on SIGHUP it reads the
// folder again (changed files replace what it served) and prints "reloaded".
// bookinfo-fixture --make-author ID NAME BOOKS: prints a generated author body (BOOKS works with
// one edition each) to stdout, to put in such a folder.

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "bookinfo_fixture.hpp"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: bookinfo-fixture <dir> [--port N]\n"
               "       bookinfo-fixture --make-author ID NAME BOOKS\n");
  return 2;
}

int make_author(const char* id, const char* name, const char* books) {
  char* end = nullptr;
  const long long n = std::strtoll(id, &end, 10);
  if (!end || *end != '\0' || n <= 0) return usage();
  const long b = std::strtol(books, &end, 10);
  if (!end || *end != '\0' || b < 0 || b > 10000) return usage();
  std::printf("%s\n", shelfjobs::fixtures::make_author(n, name, static_cast<int>(b)).dump(2).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  int port = 0;
  if (argc == 5 && std::string(argv[1]) == "--make-author") return make_author(argv[2], argv[3], argv[4]);
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
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  try {
    auto server = shelfjobs::fixtures::BookInfoFixture::start(port);
    server->load_dir(dir);
    std::printf("%s\n", server->base_url().c_str());
    std::fflush(stdout);
    int sig = 0;
    while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
      try {
        server->load_dir(dir);
        std::printf("reloaded\n");
      } catch (const std::exception& e) {
        std::printf("reload failed: %s\n", e.what());
      }
      std::fflush(stdout);
    }
    std::fprintf(stderr, "bookinfo-fixture: stopping (%d requests served)\n",
                 static_cast<int>(server->requests()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bookinfo-fixture: %s\n", e.what());
    return 1;
  }
  return 0;
}

// SPDX-License-Identifier: MIT
#pragma once
// A PostgreSQL server for tests: a fresh cluster (initdb) in a temporary folder, listening on a
// free port of 127.0.0.1 only, started on first use and stopped when the test program ends. Each
// caller gets an empty database of its own. Run as root (CI), the server runs as the `postgres`
// user that Debian's package creates: PostgreSQL refuses to run as root.

#include <pwd.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "daemon.hpp"
#include "process.hpp"
#include "shelfjobs/engine/postgres_job_store.hpp"

namespace testing {

class PostgresServer {
 public:
  /// Starts a cluster; `ready()` says whether it came up (`error()` why not).
  PostgresServer() {
    bin_ = find_bin();
    if (bin_.empty()) {
      error_ = "PostgreSQL's server programs are not installed (/usr/lib/postgresql/*/bin)";
      return;
    }
    std::random_device rd;
    root_ = std::filesystem::temp_directory_path() / ("shelfjobs-pg-" + std::to_string(rd()));
    std::filesystem::create_directories(root_);
    if (::geteuid() == 0) {
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr) {
        error_ = "running as root and there is no postgres user to run the server as";
        return;
      }
      uid_ = pw->pw_uid;
      gid_ = pw->pw_gid;
      if (::chown(root_.c_str(), uid_, gid_) != 0) {
        error_ = "cannot hand " + root_.string() + " to the postgres user";
        return;
      }
    }
    log_ = (root_ / "server.log").string();
    const int init = wait_exit(run({(bin_ / "initdb").string(), "-D", data(), "-U", "postgres",
                                    "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"}),
                               std::chrono::seconds(120));
    if (init != 0) {
      error_ = "initdb failed (" + std::to_string(init) + "): " + log();
      return;
    }
    port_ = closed_port();
    start();
  }

  ~PostgresServer() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  bool ready() const { return ready_; }
  const std::string& error() const { return error_; }
  int port() const { return port_; }

  /// The connection URI of `database`.
  std::string url(const std::string& database) const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
  }

  /// A new, empty database; its connection URI.
  std::string new_database() {
    static std::atomic<int> counter{0};
    const std::string name = "t" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
    REQUIRE(psql("postgres", "CREATE DATABASE " + name) == 0);
    return url(name);
  }

  /// Runs `sql` with psql against `database`; psql's exit code.
  int psql(const std::string& database, const std::string& sql) {
    return wait_exit(spawn({(bin_ / "psql").string(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                            "-p", std::to_string(port_), "-U", "postgres", "-d", database, "-c", sql},
                           (root_ / "psql.log").string()),
                     std::chrono::seconds(60));
  }

  /// Stops the server (fast shutdown: connections are dropped).
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGINT);
    wait_exit(pid_, std::chrono::seconds(30));
    pid_ = -1;
    ready_ = false;
  }

  /// Starts it again on the same port and data; waits until it accepts queries.
  void start() {
    pid_ = run({(bin_ / "postgres").string(), "-D", data(), "-p", std::to_string(port_), "-k", root_.string(),
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"});
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < until) {
      if (port_open(port_) && psql("postgres", "SELECT 1") == 0) {
        ready_ = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    error_ = "the server did not start: " + log();
  }

  std::string log() const {
    std::ifstream in(log_);
    return {std::istreambuf_iterator<char>(in), {}};
  }

 private:
  static std::filesystem::path find_bin() {
    std::filesystem::path best;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
      const auto bin = e.path() / "bin";
      if (std::filesystem::exists(bin / "postgres") && std::filesystem::exists(bin / "initdb") &&
          (best.empty() ||
           std::stoi(e.path().filename().string()) > std::stoi(best.parent_path().filename().string())))
        best = bin;
    }
    return best;
  }

  std::string data() const { return (root_ / "data").string(); }

  // Starts `args` as the server's user (the postgres user when run as root).
  pid_t run(const std::vector<std::string>& args) {
    return spawn(args, log_, uid_ != 0 ? std::optional<RunAs>(RunAs{uid_, gid_}) : std::nullopt);
  }

  std::filesystem::path bin_, root_;
  std::string log_, error_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  int port_ = 0;
  pid_t pid_ = -1;
  bool ready_ = false;
};

/// The test program's server, started on first use (it may have failed to start: `ready()`).
/// Null when this build has no PostgreSQL store. Stopped by the static's destructor at exit.
inline PostgresServer* postgres_server_instance() {
  static std::mutex mu;
  static std::unique_ptr<PostgresServer> server;
  static bool tried = false;
  std::lock_guard lock(mu);
  if (!tried) {
    tried = true;
    if (shelfjobs::postgres_store_available()) server = std::make_unique<PostgresServer>();
  }
  return server.get();
}

/// The server when PostgreSQL tests can run here, else null after a warning: the caller skips
/// its PostgreSQL part. Under SHELFJOBS_REQUIRE_DAEMONS (tests/run_all.sh, after
/// .ci/install-deps installed the server and libpqxx) a missing server fails the test instead.
inline PostgresServer* postgres_server() {
  PostgresServer* server = postgres_server_instance();
  if (server != nullptr && server->ready()) return server;
  const std::string why = server == nullptr
                              ? std::string("this build has no PostgreSQL store (libpqxx-dev missing)")
                              : "PostgreSQL is not available: " + server->error();
  if (std::getenv("SHELFJOBS_REQUIRE_DAEMONS") != nullptr) FAIL(why << " (.ci/install-deps installs it)");
  WARN(why << "; the PostgreSQL part is skipped");
  return nullptr;
}

}  // namespace testing

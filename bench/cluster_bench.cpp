// SPDX-License-Identifier: MIT
// cluster_bench: the throughput of engines sharing one queue on PostgreSQL, with 1, 2 and 3
// host processes, next to one lone engine (no cluster) on the same server, in the same run.
//
//   cluster_bench --store postgresql://user@host:port/database [--jobs N] [--workers W]
//                 [--work-ms MS] [--runs R] [--json]
//
// Each measurement gets a schema of its own (cluster_bench_<part>, dropped after). The jobs
// (default 20,000 commands that each wait --work-ms, default 2 ms, as a job waiting on a
// server or a disk does; 0 makes them no-ops) are pushed first, untimed, by an engine that does not run
// them; then the timer starts, the processes start (this program again with --node), each joins
// the queue, claims and runs until nothing is queued or running, and exits; the timer stops when
// the last one has exited. Process start and join are inside the time, as they would be for a
// host. Figures (medians over R runs, default 3):
//   lone_per_s         one engine alone on its store (EngineOptions without cluster), same jobs
//   cluster_1_per_s    one node;  cluster_2_per_s, cluster_3_per_s: two and three nodes
//   growth_2, growth_3 cluster_2_per_s / cluster_1_per_s, cluster_3 / cluster_1 (target: > 1)
// Scaling out serves jobs that wait: each node adds workers. With no-op jobs on two cores, one
// node already keeps the server busy, and more nodes only add contention (docs/scaling.md).

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "bench_report.hpp"
#include "pg_reference.hpp"
#include "shelfjobs/engine/engine.hpp"
#include "shelfjobs/engine/postgres_job_store.hpp"

namespace {

using namespace shelfjobs;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Noop : Command {
  static constexpr std::string_view kName = "Noop";
  int n = 0;
};
void to_json(nlohmann::json& j, const Noop& c) { j = {{"n", c.n}}; }
void from_json(const nlohmann::json& j, Noop& c) { j.at("n").get_to(c.n); }

std::shared_ptr<spdlog::logger> quiet() {
  return std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
}

int g_work_ms = 2;  // --work-ms: how long each job waits (I/O, not CPU)

Registry registry() {
  Registry r;
  r.add<Noop>([](const Noop&, JobContext&) {
    if (g_work_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(g_work_ms));
  });
  return r;
}

// An engine on `schema`; a node of a cluster when `cluster`.
std::unique_ptr<Engine> engine_on(const std::string& url, const std::string& schema, bool cluster,
                                  int workers) {
  auto store = open_postgres_job_store({.url = url, .schema = schema, .shared = cluster, .logger = quiet()});
  if (!store) {
    std::cerr << "cluster_bench: " << store.error().message << "\n";
    std::exit(1);
  }
  EngineOptions o;
  o.store = std::move(store).value();
  o.workers = workers;
  o.logger = quiet();
  o.cluster.enabled = cluster;
  o.cluster.prefetch = workers * 8;
  auto e = Engine::create(std::move(o), registry());
  if (!e) {
    std::cerr << "cluster_bench: " << e.error().message << "\n";
    std::exit(1);
  }
  return std::move(e).value();
}

bool queue_empty(Engine& e) {
  JobQuery q;
  q.statuses = {JobStatus::queued, JobStatus::executing};
  q.limit = 1;
  auto page = e.list(q);
  return page && page->jobs.empty();
}

void push_all(Engine& e, int jobs) {
  for (int at = 0; at < jobs; at += 1000) {
    std::vector<PushRequest> batch;
    for (int k = at; k < std::min(jobs, at + 1000); ++k) batch.push_back({"Noop", {{"n", k}}, {}});
    if (!e.push_many(std::move(batch))) {
      std::cerr << "cluster_bench: push failed\n";
      std::exit(1);
    }
  }
}

// --node: one process of the cluster; runs until the queue is empty.
int run_node(const std::string& url, const std::string& schema, int workers) {
  auto e = engine_on(url, schema, true, workers);
  e->start();
  while (!queue_empty(*e)) std::this_thread::sleep_for(10ms);
  e->stop();
  return 0;
}

double lone(const std::string& url, int jobs, int workers) {
  const std::string schema = "cluster_bench_lone";
  bench_pg::drop_schema(url, schema);
  auto e = engine_on(url, schema, false, workers);
  push_all(*e, jobs);
  const auto t0 = Steady::now();
  e->start();
  while (!queue_empty(*e)) std::this_thread::sleep_for(2ms);
  const double s = std::chrono::duration<double>(Steady::now() - t0).count();
  e->stop();
  e.reset();
  bench_pg::drop_schema(url, schema);
  return jobs / s;
}

double cluster(const char* self, const std::string& url, int nodes, int jobs, int workers) {
  const std::string schema = "cluster_bench_" + std::to_string(nodes);
  bench_pg::drop_schema(url, schema);
  {
    auto filler = engine_on(url, schema, true, workers);  // never started: it claims nothing
    push_all(*filler, jobs);
    filler->stop();
  }
  const auto t0 = Steady::now();
  std::vector<pid_t> pids;
  for (int n = 0; n < nodes; ++n) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      const std::string w = std::to_string(workers);
      const std::string work = std::to_string(g_work_ms);
      ::execl(self, self, "--node", url.c_str(), schema.c_str(), w.c_str(), work.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::cerr << "cluster_bench: a node failed\n";
      std::exit(1);
    }
  }
  const double s = std::chrono::duration<double>(Steady::now() - t0).count();
  bench_pg::drop_schema(url, schema);
  return jobs / s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string url;
  int jobs = 20000, workers = 4, runs = 3;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "cluster_bench: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--node" && i + 4 < argc) {
      g_work_ms = std::stoi(argv[i + 4]);
      return run_node(argv[i + 1], argv[i + 2], std::stoi(argv[i + 3]));
    } else if (a == "--store") {
      url = next();
    } else if (a == "--jobs") {
      jobs = std::stoi(next());
    } else if (a == "--workers") {
      workers = std::stoi(next());
    } else if (a == "--work-ms") {
      g_work_ms = std::stoi(next());
    } else if (a == "--runs") {
      runs = std::stoi(next());
    } else if (a == "--json") {
      json = true;
    } else {
      std::cerr << "usage: cluster_bench --store postgresql://... [--jobs N] [--workers W] [--work-ms MS] "
                   "[--runs R] [--json]\n";
      return 2;
    }
  }
  if (url.empty() || jobs < 1 || workers < 1 || runs < 1 || g_work_ms < 0) {
    std::cerr << "usage: cluster_bench --store postgresql://... [--jobs N] [--workers W] [--work-ms MS] "
                 "[--runs R] [--json]\n";
    return 2;
  }
  bench::PerRun per_run;
  for (int r = 0; r < runs; ++r) {
    per_run["lone_per_s"].push_back(lone(url, jobs, workers));
    for (int n = 1; n <= 3; ++n)
      per_run["cluster_" + std::to_string(n) + "_per_s"].push_back(cluster(argv[0], url, n, jobs, workers));
    per_run["growth_2"].push_back(per_run["cluster_2_per_s"].back() / per_run["cluster_1_per_s"].back());
    per_run["growth_3"].push_back(per_run["cluster_3_per_s"].back() / per_run["cluster_1_per_s"].back());
  }
  bench::Medians med;
  for (const auto& [k, v] : per_run) med[k] = bench::median(v);
  std::printf("cluster_bench: %d jobs of %d ms, %d workers per node, %d runs (medians)\n", jobs, g_work_ms,
              workers, runs);
  const std::vector<bench::Target> targets = {
      {"growth_2", "", 1.0, false, false, "> 1 (two nodes beat one)"},
      {"growth_3", "", 1.0, false, false, "> 1 (three nodes beat one)"},
  };
  auto passed = bench::print_figures(targets, med, per_run, runs, 20);
  if (json) {
    nlohmann::json out = med;
    out["targets"] = passed;
    std::printf("%s\n", out.dump().c_str());
  }
  return 0;
}

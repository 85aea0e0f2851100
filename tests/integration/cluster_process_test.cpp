// SPDX-License-Identifier: MIT
// Three host processes on one queue (tests/integration/cluster_node.cpp) on a PostgreSQL server
// the test starts, with a mixed load (plain jobs, a type-exclusive command, jobs that fail once
// and succeed on their retry, a task scheduled every second). One process is killed with
// SIGKILL mid-run. Then: no job is lost (every job ends completed), none is completed twice
// (each ran once on the processes that lived, and the store counted each once), the
// type-exclusive command never ran in two processes at once, and each scheduled tick ran once.

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "postgres_server.hpp"
#include "process.hpp"
#include "shelfjobs/engine/job_store.hpp"
#include "shelfjobs/engine/postgres_job_store.hpp"

#ifndef CLUSTER_NODE_PATH
#error "CLUSTER_NODE_PATH must name the shelfjobs_cluster_node binary"
#endif

namespace cluster_process_test {

using namespace shelfjobs;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::vector<std::string> lines_of(const fs::path& file) {
  std::vector<std::string> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::size_t count_prefix(const std::vector<std::string>& lines, const std::string& prefix) {
  return static_cast<std::size_t>(std::count_if(
      lines.begin(), lines.end(), [&](const std::string& l) { return l.rfind(prefix, 0) == 0; }));
}

// Every job of the store, by status.
std::map<JobStatus, std::vector<JobInfo>> jobs_by_status(JobStore& store) {
  std::map<JobStatus, std::vector<JobInfo>> out;
  JobQuery q;
  q.limit = 1000;
  for (;;) {
    auto page = store.list(q);
    REQUIRE(page.has_value());
    for (auto& j : page->jobs) out[j.status].push_back(j);
    if (page->next_before_id == 0) return out;
    q.before_id = page->next_before_id;
  }
}

TEST_CASE("three processes share a queue, one is killed mid-run, and nothing is lost or done twice",
          "[postgres][cluster]") {
  if (!postgres_store_available()) return;
  auto* pg = testing::postgres_server();
  if (pg == nullptr) return;
  const std::string url = pg->new_database();
  const fs::path dir = fs::temp_directory_path() / ("shelfjobs-cluster-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  constexpr int kNodes = 3, kJobsEach = 150;

  std::vector<pid_t> nodes;
  std::vector<fs::path> logs;
  testing::ChildGuard children;  // a failed REQUIRE leaves no node running
  for (int n = 0; n < kNodes; ++n) {
    logs.push_back(dir / ("node" + std::to_string(n) + ".log"));
    nodes.push_back(children.add(testing::spawn(
        {CLUSTER_NODE_PATH, url, "node" + std::to_string(n), logs.back().string(), std::to_string(kJobsEach)},
        (dir / ("node" + std::to_string(n) + ".err")).string())));
  }
  auto all_lines = [&] {
    std::vector<std::string> all;
    for (const auto& l : logs) {
      auto more = lines_of(l);
      all.insert(all.end(), more.begin(), more.end());
    }
    return all;
  };
  // Kill node 1 once every node has pushed and the work is well under way.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto all = all_lines();
    if (count_prefix(all, "pushed") == kNodes && count_prefix(all, "done ") >= 120) break;
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE(count_prefix(all_lines(), "pushed") == kNodes);
  ::kill(nodes[1], SIGKILL);
  CHECK(testing::wait_exit(nodes[1], 10s) == -SIGKILL);
  const auto killed_lines = lines_of(logs[1]);

  // A reader on the same schema (shared: the cluster holds the schema's lock in shared mode).
  auto opened = open_postgres_job_store({.url = url, .shared = true});
  REQUIRE(opened.has_value());
  auto& store = **opened;
  const std::size_t pushed = kNodes * kJobsEach;
  auto work_done = [&] {
    auto by = jobs_by_status(store);
    std::size_t completed = 0;
    for (const auto& j : by[JobStatus::completed]) completed += j.name == "TickCmd" ? 0 : 1;
    return completed == pushed;
  };
  const auto until = std::chrono::steady_clock::now() + 90s;
  while (!work_done() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(200ms);
  if (!work_done()) {
    // What is left, and what the nodes said: the failure's story.
    auto left = jobs_by_status(store);
    std::cerr << "completed " << left[JobStatus::completed].size() << " of " << pushed
              << " (ticks included)\n";
    for (auto st : {JobStatus::queued, JobStatus::executing, JobStatus::failed}) {
      for (const auto& j : left[st]) {
        if (j.name != "TickCmd") {
          std::cerr << "left: " << j.id << " " << j.name << " " << to_string(st) << " attempt " << j.attempt
                    << "\n";
        }
      }
    }
    for (int n = 0; n < kNodes; ++n) {
      std::ifstream in(dir / ("node" + std::to_string(n) + ".err"));
      std::cerr << "node" << n << ": " << std::string(std::istreambuf_iterator<char>(in), {}) << "\n";
    }
  }
  REQUIRE(work_done());
  // What the survivors logged. Node 1 may have died holding no job (between two claims, or
  // while its jobs waited for a retry): the others then finish the work without it, and notice
  // it only once its lease (2 s) has run out. Wait for that rather than for a fixed time.
  auto survivors_said = [&] {
    std::string said;
    for (int n : {0, 2}) {
      std::ifstream in(dir / ("node" + std::to_string(n) + ".err"));
      said += std::string(std::istreambuf_iterator<char>(in), {});
    }
    return said;
  };
  const std::string rescued = "(node1) stopped renewing its lease";
  const auto rescue_until = std::chrono::steady_clock::now() + 20s;
  while (survivors_said().find(rescued) == std::string::npos &&
         std::chrono::steady_clock::now() < rescue_until)
    std::this_thread::sleep_for(100ms);
  std::this_thread::sleep_for(1500ms);  // a tick or two more after the rescue
  for (int n : {0, 2}) {
    ::kill(nodes[static_cast<std::size_t>(n)], SIGTERM);
    CHECK(testing::wait_exit(nodes[static_cast<std::size_t>(n)], 30s) == 0);
  }

  // No job lost: every one completed; none failed, none waits.
  auto by = jobs_by_status(store);
  CHECK(by[JobStatus::failed].empty());
  CHECK(by[JobStatus::cancelled].empty());
  CHECK(by[JobStatus::executing].empty());
  for (const auto& j : by[JobStatus::queued]) CHECK(j.name == "TickCmd");  // a tick fired as they stopped

  // None completed twice: on the processes that lived, each tag and tick ran once. The killed
  // one's last jobs run again where their end was not committed when it died: those running
  // (at most its two workers and its lane) and those that had ended with their finish still on
  // its way to the database (one write batch: at most one more per worker and lane).
  std::map<std::string, int> survivors, everywhere;
  std::vector<std::pair<std::int64_t, std::int64_t>> serial;
  for (int n = 0; n < kNodes; ++n) {
    for (const auto& line : lines_of(logs[static_cast<std::size_t>(n)])) {
      std::istringstream in(line);
      std::string kind, what;
      in >> kind >> what;
      if (kind == "pushed") continue;
      const std::string key = kind == "tick" ? "tick " + what : "job " + what;
      ++everywhere[key];
      if (n != 1) ++survivors[key];
      if (kind == "serial") {
        std::int64_t start = 0, end = 0;
        in >> start >> end;
        serial.emplace_back(start, end);
      }
    }
  }
  for (const auto& [key, times] : survivors) {
    INFO(key);
    CHECK(times == 1);
  }
  int twice = 0;
  for (const auto& [key, times] : everywhere) twice += times > 1 ? 1 : 0;
  CHECK(twice <= 6);
  std::size_t job_keys = 0;
  for (const auto& [key, times] : everywhere) job_keys += key.rfind("job ", 0) == 0 ? 1 : 0;
  CHECK(job_keys == pushed);

  // The store counted each run once: its totals match the rows.
  // (Work, Serial and Flaky rows all completed; the totals live in job_stats.)
  const auto completed_rows = by[JobStatus::completed].size();
  auto state = store.load(TimePoint{});
  REQUIRE(state.has_value());
  std::int64_t counted = 0;
  for (const auto& t : state->totals) {
    counted += t.completed;
    CHECK(t.failed == 0);
  }
  CHECK(counted == static_cast<std::int64_t>(completed_rows));

  // The type-exclusive command never ran in two processes at once.
  std::sort(serial.begin(), serial.end());
  REQUIRE(serial.size() >= static_cast<std::size_t>(kNodes * kJobsEach / 5) - 2);
  for (std::size_t k = 1; k < serial.size(); ++k) {
    INFO("serial run " << k);
    CHECK(serial[k].first >= serial[k - 1].second);
  }

  // Ticks fired (every process fires each one; the store keeps one row per tick).
  std::size_t ticks = 0;
  for (const auto& [key, times] : everywhere) ticks += key.rfind("tick ", 0) == 0 ? 1 : 0;
  CHECK(ticks >= 2);
  CHECK(killed_lines.size() < all_lines().size());

  // A survivor noticed the dead node by its lease and rescued its jobs.
  CHECK_THAT(survivors_said(), Catch::Contains(rescued));
  store.close();
  fs::remove_all(dir);
}

}  // namespace cluster_process_test

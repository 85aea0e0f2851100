// SPDX-License-Identifier: MIT
// engine_bench: what the engine costs, next to what SQLite alone costs on the same machine in
// the same run.
//
//   engine_bench [--jobs N] [--depth D] [--workers W] [--json]
//
// Figures:
//   jobs_per_s          N durable no-op jobs pushed (push_many, 500 a call) and run to completion
//                       (each engine figure is the median of 5 rounds, each reference the
//                       median of 3 runs)
//   ref_naive_per_s     the same three row writes per job (insert queued, update executing,
//                       update completed), one transaction per write
//   ref_batched_per_s   the same writes, 100 per transaction
//   depth_ratio         throughput of N jobs with D (default 100,000) jobs queued in front of
//                       them, blocked by a lock, divided by the same with 100 queued
//   start_latency_*_us  push call to handler start, with a free worker, one job at a time
//   peak_rss_mb         peak resident memory of the process

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "shelfjobs/shelfjobs.hpp"
#include "store.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Noop : shelfjobs::Command {
  static constexpr std::string_view kName = "Noop";
};
// Holds the "held" lock for as long as the bench needs it.
struct Holder : shelfjobs::Command {
  static constexpr std::string_view kName = "Holder";
};
// Waits behind Holder: queued depth that every pick must step over.
struct Filler : shelfjobs::Command {
  static constexpr std::string_view kName = "Filler";
  int n = 0;
};
void to_json(nlohmann::json& j, const Filler& f) { j = {{"n", f.n}}; }
void from_json(const nlohmann::json& j, Filler& f) { j.at("n").get_to(f.n); }

std::atomic<bool> g_release_holder{false};
std::atomic<std::int64_t> g_last_start_ns{0};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("shelfjobs-bench-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& n) const { return (path_ / n).string(); }

 private:
  std::filesystem::path path_;
};

// Noop bodies are equal, so each push would dedup into the queued one: use numbered fillers for
// depth and a per-job distinct field for throughput.
struct Unique : shelfjobs::Command {
  static constexpr std::string_view kName = "Unique";
  int n = 0;
};
void to_json(nlohmann::json& j, const Unique& u) { j = {{"n", u.n}}; }
void from_json(const nlohmann::json& j, Unique& u) { j.at("n").get_to(u.n); }

// One registry for every measurement: Noop (latency), Unique (throughput), Holder and Filler
// (queue depth).
std::unique_ptr<shelfjobs::Engine> make_engine(const std::string& path, int workers) {
  shelfjobs::Registry r;
  r.add<Noop>([](const Noop&, shelfjobs::JobContext&) { g_last_start_ns.store(now_ns()); });
  r.add<Unique>([](const Unique&, shelfjobs::JobContext&) {});
  r.add<Holder>([](const Holder&, shelfjobs::JobContext& ctx) {
    while (!g_release_holder.load() && !ctx.cancelled()) std::this_thread::sleep_for(1ms);
  }, {.locks = {"held"}});
  r.add<Filler>([](const Filler&, shelfjobs::JobContext&) {}, {.locks = {"held"}});
  auto log = std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
  auto e = shelfjobs::Engine::create({.store_path = path, .workers = workers, .logger = log},
                                     std::move(r));
  if (!e) {
    std::cerr << "engine_bench: " << e.error().message << "\n";
    std::exit(1);
  }
  return std::move(e).value();
}

// Pushes n jobs of `name` in durable batches of 500, numbered from `first` so none dedups.
void push_batches(shelfjobs::Engine& e, int n, const std::string& name, int first) {
  constexpr int kBatch = 500;
  for (int i = 0; i < n; i += kBatch) {
    std::vector<shelfjobs::PushRequest> reqs;
    for (int k = i; k < std::min(n, i + kBatch); ++k) {
      reqs.push_back({name, nlohmann::json{{"n", first + k}}, {}});
    }
    if (!e.push_many(std::move(reqs))) {
      std::cerr << "engine_bench: push failed\n";
      std::exit(1);
    }
  }
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Throughput of `jobs` fresh jobs pushed and run, with `depth` blocked jobs queued in front:
// the median of `rounds` rounds in one engine (single rounds last well under a second, so one
// alone is at the mercy of a WAL checkpoint).
double engine_throughput(const std::string& path, int jobs, int depth, int workers, int rounds) {
  auto created = make_engine(path, workers);
  auto& engine = *created;
  engine.start();
  g_release_holder = false;
  if (depth > 0) {
    if (!engine.push(Holder{})) std::exit(1);
    push_batches(engine, depth, "Filler", 0);
  }
  // Only the holder and the fillers remain once a round's jobs are done.
  const std::int64_t rest = depth > 0 ? depth + 1 : 0;
  std::vector<double> rates;
  for (int round = 0; round < rounds; ++round) {
    const auto t0 = Clock::now();
    push_batches(engine, jobs, "Unique", (round + 1) * 10'000'000);
    for (;;) {
      auto d = engine.queue_depth();
      std::int64_t n = d.total_queued();
      for (auto running : d.running) n += running;
      if (n <= rest) break;
      std::this_thread::sleep_for(200us);
    }
    rates.push_back(jobs / seconds_since(t0));
  }
  g_release_holder = true;
  engine.wait_idle(600s);
  engine.stop(10s);
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

std::pair<double, double> start_latency(const std::string& path, int samples, int workers) {
  auto e = make_engine(path, workers);
  e->start();
  std::vector<double> lat;
  lat.reserve(static_cast<std::size_t>(samples));
  for (int i = 0; i < samples; ++i) {
    g_last_start_ns = 0;
    const auto t0 = now_ns();
    auto pushed = e->push(Noop{});
    if (!pushed) std::exit(1);
    while (g_last_start_ns.load() == 0) std::this_thread::yield();
    lat.push_back(static_cast<double>(g_last_start_ns.load() - t0) / 1000.0);
    e->wait_idle(10s);
  }
  e->stop(10s);
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    return lat[std::min(lat.size() - 1, static_cast<std::size_t>(p * static_cast<double>(lat.size())))];
  };
  return {pct(0.50), pct(0.99)};
}

// The three writes of one job, straight to SQLite, `per_tx` writes per transaction.
double reference(const std::string& path, int jobs, int per_tx) {
  auto owned = shelfjobs::sqlite::open(path, {.what = "reference store"}).value();
  SQLite::Database& db = *owned;
  for (const auto& m : shelfjobs::detail::schema_migrations()) db.exec(m);
  SQLite::Statement ins(db,
                        "INSERT INTO jobs (id, name, body, priority, trigger, event, status, "
                        "queued_at, attempt) VALUES (?, 'Unique', ?, 1, 0, '', 0, ?, 1)");
  SQLite::Statement start(db, "UPDATE jobs SET status = 1, started_at = ?, attempt = 1 WHERE id = ?");
  SQLite::Statement finish(
      db,
      "UPDATE jobs SET status = 2, started_at = ?, ended_at = ?, duration_ms = 0, attempt = 1, "
      "progress_current = 0, progress_total = 0, progress_message = '', message = '', "
      "error_kind = 0, error = '', priority = 1, trigger = 0 WHERE id = ?");
  const auto t0 = Clock::now();
  int in_tx = 0;
  std::unique_ptr<SQLite::Transaction> tx;
  auto write = [&](SQLite::Statement& st) {
    if (!tx) tx = std::make_unique<SQLite::Transaction>(db, SQLite::TransactionBehavior::IMMEDIATE);
    st.exec();
    st.reset();
    if (++in_tx >= per_tx) {
      tx->commit();
      tx.reset();
      in_tx = 0;
    }
  };
  const std::int64_t ms = 1'700'000'000'000;
  for (int i = 1; i <= jobs; ++i) {
    ins.bind(1, static_cast<std::int64_t>(i));
    ins.bind(2, nlohmann::json{{"n", i}}.dump());
    ins.bind(3, ms);
    write(ins);
    start.bind(1, ms);
    start.bind(2, static_cast<std::int64_t>(i));
    write(start);
    finish.bind(1, ms);
    finish.bind(2, ms);
    finish.bind(3, static_cast<std::int64_t>(i));
    write(finish);
  }
  if (tx) tx->commit();
  return jobs / seconds_since(t0);
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  int jobs = 20000;
  int depth = 100000;
  int workers = 3;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--jobs" && i + 1 < argc) jobs = std::atoi(argv[++i]);
    else if (a == "--depth" && i + 1 < argc) depth = std::atoi(argv[++i]);
    else if (a == "--workers" && i + 1 < argc) workers = std::atoi(argv[++i]);
    else if (a == "--json") json = true;
    else {
      std::cerr << "usage: engine_bench [--jobs N] [--depth D] [--workers W] [--json]\n";
      return 2;
    }
  }
  if (jobs < 1 || depth < 100 || workers < 1) {
    std::cerr << "engine_bench: --jobs must be >= 1, --depth >= 100, --workers >= 1\n";
    return 2;
  }

  TempDir dir;
  const double engine = engine_throughput(dir.file("engine.db"), jobs, 0, workers, 5);
  // The references vary from run to run as much as the engine does (WAL checkpoints, the
  // virtual machine's disk): each is the median of 3 runs on fresh files.
  auto median_of_3 = [&](const std::string& name, int n, int per_tx) {
    std::vector<double> r;
    for (int i = 0; i < 3; ++i) r.push_back(reference(dir.file(name + std::to_string(i) + ".db"), n, per_tx));
    std::sort(r.begin(), r.end());
    return r[1];
  };
  const double naive = median_of_3("naive", std::min(jobs, 5000), 1);
  const double batched = median_of_3("batched", jobs, 100);
  const double shallow = engine_throughput(dir.file("shallow.db"), jobs, 100, workers, 5);
  const double deep = engine_throughput(dir.file("deep.db"), jobs, depth, workers, 5);
  const auto [p50, p99] = start_latency(dir.file("latency.db"), 2000, workers);
  const double rss = peak_rss_mb();

  std::printf("engine_bench: %d durable no-op jobs, %d workers\n", jobs, workers);
  std::printf("  engine                 %10.0f jobs/s\n", engine);
  std::printf("  ref: 1 write per tx    %10.0f jobs/s   engine = %.2fx  (target >= 1.5x)\n", naive,
              engine / naive);
  std::printf("  ref: 100 writes per tx %10.0f jobs/s   engine = %.2fx  (target >= 0.5x)\n",
              batched, engine / batched);
  std::printf("  with 100 queued        %10.0f jobs/s\n", shallow);
  std::printf("  with %d queued     %10.0f jobs/s   ratio = %.2f  (target >= 0.8)\n", depth, deep,
              deep / shallow);
  std::printf("  push -> start latency  p50 %.0f us, p99 %.0f us  (target p99 < 2000 us)\n", p50,
              p99);
  std::printf("  peak RSS               %.1f MB\n", rss);
  if (json) {
    nlohmann::json out = {{"jobs", jobs},
                          {"workers", workers},
                          {"depth", depth},
                          {"jobs_per_s", engine},
                          {"ref_naive_per_s", naive},
                          {"ref_batched_per_s", batched},
                          {"depth_ratio", deep / shallow},
                          {"start_latency_p50_us", p50},
                          {"start_latency_p99_us", p99},
                          {"peak_rss_mb", rss}};
    std::printf("%s\n", out.dump().c_str());
  }
  return 0;
}

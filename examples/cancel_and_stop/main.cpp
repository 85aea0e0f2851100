// SPDX-License-Identifier: MIT
// cancel_and_stop: cancelling a queued and a running job, then stopping the engine with a
// deadline while a job runs.
//
// Shows: a long handler that honours cancellation (ctx.throw_if_cancelled() between chapters,
// and ctx.token() handed to a condition variable so a wait ends at once), Engine::cancel of a
// queued job (cancelled at once) and of a running one (cancelled when its handler returns),
// and Engine::stop(deadline): the job it interrupts is not cancelled but stored as queued with
// attempt + 1, to resume at the next start. Exits 0 only when all three end that way.
//
//   cancel_and_stop [store.db]   (default: a store in a temporary folder, removed at the end)
//   ctest --test-dir build/dev -R '^example\.cancel_and_stop$'

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>

#include <shelfjobs/shelfjobs.hpp>

#include "../example_store.hpp"

using namespace std::chrono_literals;
using shelfjobs::JobId;

struct ConvertAudiobook : shelfjobs::Command {
  static constexpr std::string_view kName = "ConvertAudiobook";
  std::string title;
  int chapters = 0;
};
void to_json(nlohmann::json& j, const ConvertAudiobook& c) {
  j = {{"title", c.title}, {"chapters", c.chapters}};
}
void from_json(const nlohmann::json& j, ConvertAudiobook& c) {
  j.at("title").get_to(c.title);
  j.at("chapters").get_to(c.chapters);
}

int main(int argc, char** argv) {
  const examples::StoreFile store(argc, argv);

  // 100 chapters of 100 ms: 10 s unless cancelled. The wait takes the job's stop token, so it
  // ends as soon as cancel() or stop() asks; throw_if_cancelled() then ends the handler.
  shelfjobs::Registry registry;
  registry.add<ConvertAudiobook>([](const ConvertAudiobook& cmd, shelfjobs::JobContext& ctx) {
    std::mutex m;
    std::condition_variable_any cv;
    for (int i = 1; i <= cmd.chapters; ++i) {
      std::unique_lock lock(m);
      cv.wait_for(lock, ctx.token(), 100ms, [] { return false; });  // stands for real work
      ctx.throw_if_cancelled();
      ctx.report(i, cmd.chapters, "chapter " + std::to_string(i));
    }
  });
  // One worker: while one job runs, the next waits in the queue.
  auto created =
      shelfjobs::Engine::create({.store_path = store.path.string(), .workers = 1}, std::move(registry));
  if (!created) {
    std::fprintf(stderr, "cannot open the engine: %s\n", created.error().message.c_str());
    return 1;
  }
  auto& engine = **created;

  std::mutex mu;
  std::condition_variable cv;
  std::set<JobId> started, ended;
  engine.subscribe(shelfjobs::on_event<shelfjobs::JobEvent>([&](const shelfjobs::JobEvent& e) {
    if (e.type == shelfjobs::JobEvent::Type::progress) return;
    std::printf("%-9s job %lld (%s) attempt %d\n", std::string(to_string(e.type)).c_str(),
                static_cast<long long>(e.job.id), e.job.body->at("title").get<std::string>().c_str(),
                e.job.attempt);
    std::lock_guard lock(mu);
    (e.type == shelfjobs::JobEvent::Type::started ? started : ended).insert(e.job.id);
    cv.notify_all();
  }));
  auto wait_for = [&](std::set<JobId>& set, JobId id) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 10s, [&] { return set.count(id) > 0; });
  };

  engine.start();
  const JobId a = engine.push(ConvertAudiobook{{}, "Dune", 100})->job.id;
  const JobId b = engine.push(ConvertAudiobook{{}, "Emma", 100})->job.id;
  const JobId c = engine.push(ConvertAudiobook{{}, "Kindred", 100})->job.id;
  if (!wait_for(started, a)) return 1;

  auto queued = engine.cancel(b);   // queued: cancelled (and stored) before cancel returns
  auto running = engine.cancel(a);  // running: its token is cancelled, it still shows executing
  if (!queued || !running) return 1;
  std::printf("cancel(%lld) -> %s; cancel(%lld) -> %s\n", static_cast<long long>(b),
              std::string(to_string(queued->status)).c_str(), static_cast<long long>(a),
              std::string(to_string(running->status)).c_str());
  if (!wait_for(ended, a) || !wait_for(started, c)) return 1;  // a ends, c takes its worker

  // c is running: stop cancels its token and waits up to 5 s for it to return.
  const bool in_time = engine.stop(5s);
  auto again = engine.cancel(c);  // refused once stopped
  std::printf("stop -> %s; cancel after stop -> %s\n", in_time ? "in time" : "deadline passed",
              again ? "ok" : shelfjobs::to_string(again.error().code));

  const auto ja = engine.get(a), jb = engine.get(b), jc = engine.get(c);
  if (!ja || !jb || !jc) return 1;
  for (const auto* j : {&*ja, &*jb, &*jc})
    std::printf("job %lld: %s, attempt %d, \"%s\"\n", static_cast<long long>(j->id),
                std::string(to_string(j->status)).c_str(), j->attempt, j->message.c_str());
  using S = shelfjobs::JobStatus;
  const bool ok = in_time && !again && ja->status == S::cancelled && jb->status == S::cancelled &&
                  jc->status == S::queued && jc->attempt == 2;
  if (!ok) std::fprintf(stderr, "FAILED: the jobs did not end as expected\n");
  return ok ? 0 : 1;
}

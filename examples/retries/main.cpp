// SPDX-License-Identifier: MIT
// retries: a handler that fails with a retryable error on its first attempts, then succeeds.
//
// Shows: JobError with a kind (network is retried, permanent is not), a per-type RetryPolicy in
// CommandTraits with short delays, ctx.attempt(), and the `retrying` events that announce each
// next try. Exits 0 only when the flaky job completed on attempt 3 and the broken one failed
// on attempt 1 without a retry.
//
//   retries [store.db]      (default: a store in a temporary folder, removed at the end)
//   ctest --test-dir build/dev -R '^example\.retries$'

#include <cstdio>
#include <filesystem>
#include <random>

#include <shelfjobs/shelfjobs.hpp>

#include "../example_store.hpp"

using namespace std::chrono_literals;

struct FetchCover : shelfjobs::Command {
  static constexpr std::string_view kName = "FetchCover";
  std::string isbn;
};
void to_json(nlohmann::json& j, const FetchCover& c) { j = {{"isbn", c.isbn}}; }
void from_json(const nlohmann::json& j, FetchCover& c) { j.at("isbn").get_to(c.isbn); }

int main(int argc, char** argv) {
  const examples::StoreFile store(argc, argv);

  // The handler: attempts 1 and 2 fail as a network error would; attempt 3 succeeds. An ISBN
  // that cannot exist fails with kind permanent, which no policy retries.
  shelfjobs::Registry registry;
  auto fetch = [](const FetchCover& cmd, shelfjobs::JobContext& ctx) {
    std::printf("  attempt %d of job %lld (%s)\n", ctx.attempt(), static_cast<long long>(ctx.id()),
                cmd.isbn.c_str());
    if (cmd.isbn.empty() || cmd.isbn.front() == 'x')
      throw shelfjobs::JobError(shelfjobs::ErrorKind::permanent, "no such ISBN: " + cmd.isbn);
    if (ctx.attempt() < 3)
      throw shelfjobs::JobError(shelfjobs::ErrorKind::network, "connection reset by covers host");
    ctx.complete("cover of " + cmd.isbn + " saved");
  };
  // Up to 3 network retries, 100 ms before the first and 200 ms before the second (each minus up
  // to half of it at random). The default policy waits 30 s, 1 min, 2 min.
  shelfjobs::RetryPolicy quick;
  quick.network = 3;
  quick.base_delay = 100ms;
  quick.max_delay = 1s;
  registry.add<FetchCover>(fetch, {.retry = quick});

  auto created = shelfjobs::Engine::create({.store_path = store.path.string()}, std::move(registry));
  if (!created) {
    std::fprintf(stderr, "cannot open the engine: %s\n", created.error().message.c_str());
    return 1;
  }
  auto& engine = **created;
  // `retrying`: the attempt failed and the same job (same id) is queued again for later.
  engine.subscribe(shelfjobs::on_event<shelfjobs::JobEvent>([](const shelfjobs::JobEvent& e) {
    if (e.type == shelfjobs::JobEvent::Type::progress) return;
    std::printf("%-9s job %lld attempt %d of %d  %s\n", std::string(to_string(e.type)).c_str(),
                static_cast<long long>(e.job.id), e.job.attempt, e.job.max_attempts, e.job.message.c_str());
  }));

  engine.start();
  auto flaky = engine.push(FetchCover{{}, "9780316246620"});
  auto broken = engine.push(FetchCover{{}, "x-not-an-isbn"});
  if (!flaky || !broken) return 1;
  const bool idle = engine.wait_idle(10s);  // waits for the delayed retries too
  engine.stop(5s);

  const auto a = engine.get(flaky->job.id);
  const auto b = engine.get(broken->job.id);
  if (!a || !b) return 1;
  std::printf("job %lld: %s on attempt %d, \"%s\"\n", static_cast<long long>(a->id),
              std::string(to_string(a->status)).c_str(), a->attempt, a->message.c_str());
  std::printf("job %lld: %s (%s) on attempt %d, \"%s\"\n", static_cast<long long>(b->id),
              std::string(to_string(b->status)).c_str(), std::string(to_string(b->error_kind)).c_str(),
              b->attempt, b->message.c_str());
  const bool ok = idle && a->status == shelfjobs::JobStatus::completed && a->attempt == 3 &&
                  b->status == shelfjobs::JobStatus::failed &&
                  b->error_kind == shelfjobs::ErrorKind::permanent && b->attempt == 1;
  if (!ok) std::fprintf(stderr, "FAILED: the jobs did not end as expected\n");
  return ok ? 0 : 1;
}

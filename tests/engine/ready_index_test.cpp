// SPDX-License-Identifier: MIT
// The dispatch rules, stepped directly: no threads, no sleeps, no Asio. "Nothing may start now"
// is `pick().job == nullopt`, exactly.

#include <catch2/catch.hpp>

#include <deque>
#include <map>

#include "engine/ready_index.hpp"

using namespace shelfjobs;
using namespace std::chrono_literals;
using shelfjobs::detail::ReadyIndex;

namespace {

const TimePoint kReadyT0 = TimePoint{} + std::chrono::hours(24 * 365 * 50);

// Command types by name, with their traits.
struct Types {
  std::deque<CommandType> all;
  const CommandType* add(std::string name, CommandTraits traits = {}) {
    CommandType t;
    t.name = std::move(name);
    t.traits = std::move(traits);
    all.push_back(std::move(t));
    return &all.back();
  }
};

CommandTraits disk() {
  CommandTraits t;
  t.locks = {"disk"};
  return t;
}

// Picks and starts until nothing may start; returns the started ids in order.
std::vector<JobId> drain(ReadyIndex& ix, TimePoint now, const ReadyIndex::RateGate& gate = {}) {
  std::vector<JobId> started;
  for (;;) {
    auto p = ix.pick(now, gate);
    if (!p.job) return started;
    ix.start(*p.job);
    started.push_back(*p.job);
  }
}

}  // namespace

TEST_CASE("the highest priority starts first, then the oldest within a priority", "[engine][ready]") {
  Types ty;
  auto* a = ty.add("A");
  auto* b = ty.add("B");
  ReadyIndex ix(1, 6h);
  ix.add(1, a, Priority::normal, kReadyT0, kReadyT0);
  ix.add(2, b, Priority::low, kReadyT0, kReadyT0);
  ix.add(3, b, Priority::high, kReadyT0, kReadyT0);
  ix.add(4, a, Priority::high, kReadyT0, kReadyT0);
  // One regular worker: one non-critical job at a time; release between picks.
  std::vector<JobId> order;
  for (int i = 0; i < 4; ++i) {
    auto p = ix.pick(kReadyT0, {});
    REQUIRE(p.job);
    order.push_back(*p.job);
    ix.start(*p.job);
    CHECK_FALSE(ix.pick(kReadyT0, {}).job);  // the one regular thread is busy
    ix.release(order.back() == 1 || order.back() == 4 ? a : b, order.back() == 1   ? Priority::normal
                                                               : order.back() == 2 ? Priority::low
                                                                                   : Priority::high);
  }
  CHECK(order == std::vector<JobId>{3, 4, 1, 2});
}

TEST_CASE("readarr's queue selection cases", "[engine][ready][readarr]") {
  Types ty;
  auto* scan = ty.add("RescanFolders", disk());
  auto* import = ty.add("ManualImport", disk());
  auto* refresh = ty.add("RefreshAuthor");
  CommandTraits te;
  te.type_exclusive = true;
  auto* lists = ty.add("ImportListSync", te);
  CommandTraits ex;
  ex.exclusive = true;
  auto* update = ty.add("ApplicationUpdate", ex);

  struct Row {
    const char* name;
    std::vector<std::pair<JobId, const CommandType*>> running;  // started before the pick
    std::vector<std::pair<JobId, const CommandType*>> queued;   // normal priority, id order
    std::optional<JobId> expect;
  };
  const std::vector<Row> rows = {
      {"a started disk command holds back other disk commands", {{1, scan}}, {{2, import}, {3, refresh}}, 3},
      {"a disk command starts when no disk command runs", {{1, refresh}}, {{2, import}}, 2},
      {"a type-exclusive command waits for its running twin", {{1, lists}}, {{2, lists}}, std::nullopt},
      {"other commands pass a type-exclusive one that waits", {{1, lists}}, {{2, lists}, {3, refresh}}, 3},
      {"nothing starts while an exclusive command runs", {{1, update}}, {{2, refresh}}, std::nullopt},
      {"an exclusive command next in line waits and holds back later ones",
       {{1, refresh}},
       {{2, update}, {3, refresh}},
       std::nullopt},
      {"an exclusive command starts once nothing runs", {}, {{2, update}, {3, refresh}}, 2},
      {"the oldest queued command goes first", {}, {{2, refresh}, {3, import}}, 2},
  };
  for (const auto& row : rows) {
    SECTION(row.name) {
      ReadyIndex ix(4, 6h);
      for (auto [id, type] : row.running) {
        ix.add(id, type, Priority::normal, kReadyT0, kReadyT0);
        ix.start(id);
      }
      for (auto [id, type] : row.queued) ix.add(id, type, Priority::normal, kReadyT0, kReadyT0);
      CHECK(ix.pick(kReadyT0, {}).job == row.expect);
    }
  }
}

TEST_CASE("a per-type cap and named locks hold back only their own bucket", "[engine][ready]") {
  Types ty;
  CommandTraits capped;
  capped.max_concurrent = 2;
  auto* search = ty.add("BookSearch", capped);
  auto* other = ty.add("Other");
  ReadyIndex ix(8, 6h);
  for (JobId id = 1; id <= 4; ++id) ix.add(id, search, Priority::normal, kReadyT0, kReadyT0);
  ix.add(5, other, Priority::normal, kReadyT0, kReadyT0);
  CHECK(drain(ix, kReadyT0) == std::vector<JobId>{1, 2, 5});
  ix.release(search, Priority::normal);
  CHECK(drain(ix, kReadyT0) == std::vector<JobId>{3});
}

TEST_CASE("the critical lane stays free for critical jobs", "[engine][ready]") {
  Types ty;
  auto* normal = ty.add("Normal");
  auto* import = ty.add("Import");
  ReadyIndex ix(2, 6h);
  for (JobId id = 1; id <= 3; ++id) ix.add(id, normal, Priority::normal, kReadyT0, kReadyT0);
  CHECK(drain(ix, kReadyT0) == std::vector<JobId>{1, 2});  // two regular threads
  CHECK(ix.running_total() == 2);
  ix.add(10, import, Priority::critical, kReadyT0, kReadyT0);
  CHECK(drain(ix, kReadyT0) == std::vector<JobId>{10});  // the lane
  ix.add(11, import, Priority::critical, kReadyT0, kReadyT0);
  CHECK_FALSE(ix.pick(kReadyT0, {}).job);  // every thread, the lane included, is busy
}

TEST_CASE("a rate key holds its bucket back and says when to come back", "[engine][ready]") {
  Types ty;
  CommandTraits rated;
  rated.rate_key = "indexer:1";
  auto* rss = ty.add("RssSync", rated);
  auto* other = ty.add("Other");
  ReadyIndex ix(4, 6h);
  ix.add(1, rss, Priority::high, kReadyT0, kReadyT0);
  ix.add(2, other, Priority::normal, kReadyT0, kReadyT0);
  TimePoint free_at = kReadyT0 + 30s;
  ReadyIndex::RateGate gate = [&](const std::string& key) {
    CHECK(key == "indexer:1");
    return free_at;
  };
  auto p = ix.pick(kReadyT0, gate);
  CHECK(p.job == JobId{2});  // the waiting key does not hold back other jobs
  ix.start(2);
  p = ix.pick(kReadyT0, gate);
  CHECK_FALSE(p.job);
  REQUIRE(p.retry_at);
  CHECK(*p.retry_at == free_at);
  CHECK(ix.pick(free_at, gate).job == JobId{1});
}

TEST_CASE("an idle-only job waits for an empty queue or its maximum deferral", "[engine][ready]") {
  Types ty;
  CommandTraits idle;
  idle.idle_only = true;
  auto* housekeeping = ty.add("Housekeeping", idle);
  auto* work = ty.add("Work");
  ReadyIndex ix(2, 1h);
  ix.add(1, housekeeping, Priority::low, kReadyT0, kReadyT0);
  ix.add(2, work, Priority::low, kReadyT0 + 1s, kReadyT0 + 1s);
  ix.add(3, work, Priority::low, kReadyT0 + 2s, kReadyT0 + 2s);
  // Job 1 is older, but a non-idle job is queued.
  auto p = ix.pick(kReadyT0 + 2s, {});
  CHECK(p.job == JobId{2});
  REQUIRE(p.retry_at);
  CHECK(*p.retry_at == kReadyT0 + 1h);
  ix.start(2);
  ix.start(3);
  CHECK_FALSE(ix.pick(kReadyT0 + 3s, {}).job);
  ix.release(work, Priority::low);
  CHECK_FALSE(ix.pick(kReadyT0 + 3s, {}).job);        // one still runs
  CHECK(ix.pick(kReadyT0 + 1h, {}).job == JobId{1});  // the maximum deferral is over
  ix.release(work, Priority::low);
  CHECK(ix.pick(kReadyT0 + 4s, {}).job == JobId{1});  // idle
}

TEST_CASE("aging raises ready normal and low jobs one level per period", "[engine][ready]") {
  Types ty;
  auto* a = ty.add("A");
  ReadyIndex ix(1, 6h);
  ix.add(1, a, Priority::low, kReadyT0, kReadyT0);
  ix.add(2, a, Priority::normal, kReadyT0, kReadyT0 + 30min);
  ix.add(3, a, Priority::high, kReadyT0, kReadyT0);
  auto risen = ix.age(kReadyT0 + 1h, 1h);
  CHECK(risen == std::vector<std::pair<JobId, Priority>>{{1, Priority::normal}});
  CHECK(ix.queued(Priority::low) == 0);
  CHECK(ix.queued(Priority::normal) == 2);
  // Job 1 became ready at normal at +1h: it waits a whole period there before it rises again.
  CHECK(ix.age(kReadyT0 + 90min, 1h).empty());
  risen = ix.age(kReadyT0 + 2h, 1h);
  CHECK(risen == std::vector<std::pair<JobId, Priority>>{{1, Priority::high}, {2, Priority::high}});
  CHECK(ix.queued(Priority::high) == 3);
  CHECK(ix.age(kReadyT0 + 10h, 1h).empty());  // high is as far as aging goes
}

TEST_CASE("removing a queued job keeps buckets and counts exact", "[engine][ready]") {
  Types ty;
  auto* a = ty.add("A");
  ReadyIndex ix(1, 6h);
  ix.add(1, a, Priority::normal, kReadyT0, kReadyT0);
  ix.add(2, a, Priority::normal, kReadyT0, kReadyT0);
  ix.remove(1);
  ix.remove(1);  // twice is harmless
  CHECK(ix.size() == 1);
  CHECK(ix.queued(Priority::normal) == 1);
  CHECK(ix.pick(kReadyT0, {}).job == JobId{2});
  ix.remove(2);
  CHECK_FALSE(ix.pick(kReadyT0, {}).job);
  CHECK(ix.queued(Priority::normal) == 0);
}

TEST_CASE("beside young jobs a regular job waits for a lane until one of them ends or ages",
          "[engine][ready][spread]") {
  Types ty;
  auto* a = ty.add("A");
  using Steady = ReadyIndex::SteadyTime;
  const Steady s0 = Steady{} + std::chrono::hours(1);
  // Three regular workers, one lane for jobs younger than 1 ms.
  ReadyIndex ix(3, 6h, ReadyIndex::Compaction{1, 1000us});
  for (JobId id = 1; id <= 4; ++id) ix.add(id, a, Priority::normal, kReadyT0, kReadyT0);

  auto p = ix.pick(kReadyT0, {}, s0);
  REQUIRE(p.job == JobId{1});
  CHECK_FALSE(p.spread_at);
  ix.start(1, s0);

  SECTION("the next waits while the first is young, and is told when to come back") {
    p = ix.pick(kReadyT0, {}, s0 + 300us);
    CHECK_FALSE(p.job);
    REQUIRE(p.spread_at);
    CHECK(*p.spread_at == s0 + 1000us);
    CHECK(ix.queued(Priority::normal) == 3);
  }
  SECTION("the end of the young job lets the next one start at once") {
    ix.release(a, Priority::normal, s0);
    p = ix.pick(kReadyT0, {}, s0 + 300us);
    CHECK(p.job == JobId{2});
  }
  SECTION("a job that ran past the age no longer holds a lane, a young one beside it does") {
    p = ix.pick(kReadyT0, {}, s0 + 1000us);
    REQUIRE(p.job == JobId{2});
    ix.start(2, s0 + 1000us);
    p = ix.pick(kReadyT0, {}, s0 + 1500us);
    CHECK_FALSE(p.job);
    REQUIRE(p.spread_at);
    CHECK(*p.spread_at == s0 + 2000us);  // job 2's age, not job 1's
    p = ix.pick(kReadyT0, {}, s0 + 2000us);
    REQUIRE(p.job == JobId{3});
    ix.start(3, s0 + 2000us);
    // Three regular jobs run: the workers are full whatever their age.
    p = ix.pick(kReadyT0, {}, s0 + 10000us);
    CHECK_FALSE(p.job);
    CHECK_FALSE(p.spread_at);
  }
  SECTION("a critical job does not wait for a lane") {
    auto* c = ty.add("C");
    ix.add(9, c, Priority::critical, kReadyT0, kReadyT0);
    p = ix.pick(kReadyT0, {}, s0 + 100us);
    CHECK(p.job == JobId{9});
  }
  SECTION("a regular job held by its own rules does not ask to come back for a lane") {
    for (JobId id = 2; id <= 4; ++id) ix.remove(id);
    CommandTraits capped;
    capped.max_concurrent = 1;
    auto* b = ty.add("B", capped);
    ix.add(5, b, Priority::normal, kReadyT0, kReadyT0);
    ix.start(5, s0 - 5000us);  // an old B holds B's cap
    ix.add(6, b, Priority::normal, kReadyT0, kReadyT0);
    p = ix.pick(kReadyT0, {}, s0 + 100us);
    CHECK_FALSE(p.job);
    CHECK_FALSE(p.spread_at);
  }
}

TEST_CASE("lanes as many as the workers, or no age, leave every worker free to start a job",
          "[engine][ready][spread]") {
  Types ty;
  auto* a = ty.add("A");
  const ReadyIndex::SteadyTime s0 = ReadyIndex::SteadyTime{} + std::chrono::hours(1);
  for (auto compaction : {ReadyIndex::Compaction{3, 1000us}, ReadyIndex::Compaction{1, 0us}}) {
    ReadyIndex ix(3, 6h, compaction);
    for (JobId id = 1; id <= 4; ++id) ix.add(id, a, Priority::normal, kReadyT0, kReadyT0);
    for (JobId id = 1; id <= 3; ++id) {
      auto p = ix.pick(kReadyT0, {}, s0);
      REQUIRE(p.job == id);
      ix.start(id, s0);
    }
    CHECK_FALSE(ix.pick(kReadyT0, {}, s0).job);
  }
}

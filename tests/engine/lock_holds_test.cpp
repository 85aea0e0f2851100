// SPDX-License-Identifier: MIT
// A host's holds on named locks (Engine::hold_locks), stepped directly: the ReadyIndex and the
// LockHolds part with no threads and no Asio; then through an engine, where a hold waits for a
// running job and jobs wait for the hold.

#include <catch2/catch.hpp>

#include <atomic>
#include <deque>
#include <future>
#include <thread>

#include "engine/lock_holds.hpp"
#include "engine/ready_index.hpp"
#include "engine_fixture.hpp"

using namespace shelfjobs;
using namespace testing;
using shelfjobs::detail::HoldWait;
using shelfjobs::detail::LockHolds;
using shelfjobs::detail::ReadyIndex;

namespace {

const TimePoint kT0 = TimePoint{} + std::chrono::hours(24 * 365 * 50);

const CommandType* type_with_locks(std::deque<CommandType>& types, std::string name,
                                   std::vector<std::string> locks, Priority priority = Priority::normal) {
  CommandType t;
  t.name = std::move(name);
  t.traits.locks = std::move(locks);
  t.traits.priority = priority;
  types.push_back(std::move(t));
  return &types.back();
}

}  // namespace

TEST_CASE("a held or wanted lock holds back every job that needs it, and only those",
          "[engine][ready][hold]") {
  std::deque<CommandType> types;
  auto* import = type_with_locks(types, "Import", {"import"});
  auto* scan = type_with_locks(types, "Scan", {"disk"});
  ReadyIndex ix(3, std::chrono::hours(6));
  ix.add(1, import, Priority::critical, kT0, kT0);
  ix.add(2, scan, Priority::normal, kT0, kT0);

  ix.want({"import"});
  auto p = ix.pick(kT0, {});
  REQUIRE(p.job);
  CHECK(*p.job == 2);  // the Critical import waits behind the wanted lock; the scan does not
  ix.start(2);
  CHECK_FALSE(ix.pick(kT0, {}).job);
  CHECK(ix.locks_free({"import"}));
  CHECK_FALSE(ix.locks_free({"disk"}));

  ix.unwant({"import"});
  ix.hold({"import"});
  CHECK_FALSE(ix.pick(kT0, {}).job);  // held now
  CHECK_FALSE(ix.locks_free({"import", "other"}));
  ix.unhold({"import"});
  p = ix.pick(kT0, {});
  REQUIRE(p.job);
  CHECK(*p.job == 1);
}

TEST_CASE("an exclusive job waits for a host's hold as for a running job", "[engine][ready][hold]") {
  std::deque<CommandType> types;
  CommandType backup;
  backup.name = "Backup";
  backup.traits.exclusive = true;
  types.push_back(backup);
  ReadyIndex ix(3, std::chrono::hours(6));
  ix.add(1, &types.back(), Priority::normal, kT0, kT0);
  ix.hold({"anything"});
  CHECK_FALSE(ix.pick(kT0, {}).job);
  ix.unhold({"anything"});
  auto p = ix.pick(kT0, {});
  REQUIRE(p.job);
  CHECK(*p.job == 1);
}

TEST_CASE("a hold's grant and its asker's timeout: exactly one of them wins", "[engine][hold]") {
  // The grant first: the asker has the hold, whatever its timeout.
  HoldWait granted;
  CHECK(granted.grant());
  CHECK(granted.wait_for(std::chrono::milliseconds(0)) == HoldWait::State::granted);
  CHECK_FALSE(granted.grant());
  granted.refuse();  // too late to refuse
  CHECK(granted.wait_for(std::chrono::milliseconds(0)) == HoldWait::State::granted);

  // The timeout first: withdrawn, and a grant after it is not taken.
  HoldWait late;
  CHECK(late.wait_for(std::chrono::milliseconds(0)) == HoldWait::State::withdrawn);
  CHECK_FALSE(late.grant());
  CHECK(late.wait_for(std::chrono::milliseconds(0)) == HoldWait::State::withdrawn);

  // A grant from another thread wakes a long wait ("forever" does not overflow).
  HoldWait woken;
  std::atomic<bool> taken{false};  // Catch's assertions are for the test's own thread
  std::thread granter([&] { taken = woken.grant(); });
  CHECK(woken.wait_for(std::chrono::milliseconds::max()) == HoldWait::State::granted);
  granter.join();
  CHECK(taken);

  // Refused while pending (the engine stops).
  HoldWait refused;
  refused.refuse();
  CHECK(refused.wait_for(std::chrono::seconds(10)) == HoldWait::State::refused);
  CHECK_FALSE(refused.grant());
}

TEST_CASE("lock holds are granted when their locks are free, in the order asked", "[engine][hold]") {
  std::deque<CommandType> types;
  auto* import = type_with_locks(types, "Import", {"import"});
  ReadyIndex ix(3, std::chrono::hours(6));
  LockHolds holds;
  ix.add(1, import, Priority::normal, kT0, kT0);
  ix.start(1);  // an import runs

  auto first = std::make_shared<HoldWait>();
  auto second = std::make_shared<HoldWait>();
  auto other = std::make_shared<HoldWait>();
  const auto id1 = holds.request({"import"}, first, ix);
  const auto id2 = holds.request({"import"}, second, ix);
  const auto id3 = holds.request({"disk"}, other, ix);  // free: granted at once, ahead of the others
  CHECK(holds.pending() == 2);
  CHECK(holds.granted() == 1);
  CHECK(other->wait_for(std::chrono::milliseconds(0)) == HoldWait::State::granted);
  ix.add(2, import, Priority::critical, kT0, kT0);
  CHECK_FALSE(ix.pick(kT0, {}).job);  // a Critical import waits behind the wanted lock

  ix.release(import, Priority::normal);  // the running import ends
  holds.grant(ix);
  CHECK(first->wait_for(std::chrono::milliseconds(0)) == HoldWait::State::granted);
  CHECK(holds.pending() == 1);
  CHECK_FALSE(ix.pick(kT0, {}).job);

  CHECK(holds.release(id1, ix));  // the second hold takes it next, before any job
  CHECK(second->wait_for(std::chrono::milliseconds(0)) == HoldWait::State::granted);
  CHECK_FALSE(ix.pick(kT0, {}).job);
  CHECK(holds.release(id2, ix));
  CHECK(holds.release(id3, ix));
  CHECK_FALSE(holds.release(id3, ix));  // once
  auto p = ix.pick(kT0, {});
  REQUIRE(p.job);
  CHECK(*p.job == 2);
}

TEST_CASE("a withdrawn or refused hold keeps nothing", "[engine][hold]") {
  std::deque<CommandType> types;
  auto* import = type_with_locks(types, "Import", {"import"});
  ReadyIndex ix(3, std::chrono::hours(6));
  LockHolds holds;
  ix.add(1, import, Priority::normal, kT0, kT0);
  ix.start(1);
  ix.add(2, import, Priority::normal, kT0, kT0);

  // The asker's wait ends first: the hold is withdrawn, and a grant after that is not taken.
  auto late = std::make_shared<HoldWait>();
  const auto id = holds.request({"import"}, late, ix);
  CHECK(late->wait_for(std::chrono::milliseconds(1)) == HoldWait::State::withdrawn);
  ix.release(import, Priority::normal);
  holds.grant(ix);
  CHECK(holds.pending() == 0);
  CHECK(holds.granted() == 0);
  CHECK(ix.locks_free({"import"}));
  CHECK_FALSE(holds.withdraw(id, ix));  // the withdrawal arrives after: nothing left to do
  auto p = ix.pick(kT0, {});
  REQUIRE(p.job);
  CHECK(*p.job == 2);
  ix.start(2);

  // The engine stops while a hold waits: refused, and its locks are no longer wanted.
  auto waiting = std::make_shared<HoldWait>();
  holds.request({"import"}, waiting, ix);
  ix.add(3, import, Priority::normal, kT0, kT0);
  holds.refuse_pending(ix);
  CHECK(waiting->wait_for(std::chrono::milliseconds(0)) == HoldWait::State::refused);
  ix.release(import, Priority::normal);
  p = ix.pick(kT0, {});
  REQUIRE(p.job);
  CHECK(*p.job == 3);
}

TEST_CASE("Engine::hold_locks waits for a running job, and jobs wait for the hold", "[engine][hold]") {
  Fixture f;
  auto& e = f.open(3);
  f.push<DiskStep>("running");
  REQUIRE(f.rec.wait_for("start:running"));

  auto held =
      std::async(std::launch::async, [&] { return e.hold_locks({"disk"}, std::chrono::seconds(10)); });
  // The hold now wants the lock: a disk job pushed after it waits for it, a job without the
  // lock does not.
  REQUIRE(eventually([&] { return e.health().lock_holds_waiting == 1; }));
  f.push<OtherDiskStep>("after");
  f.push<Step>("free");
  REQUIRE(f.rec.wait_for("start:free"));
  CHECK(held.wait_for(std::chrono::milliseconds(0)) == std::future_status::timeout);

  f.gates.open("running");
  auto hold = held.get();
  REQUIRE(hold);
  CHECK(hold->held());
  CHECK(e.health().lock_holds_held == 1);
  CHECK(to_json(e.health())["lockHolds"]["held"] == 1);
  CHECK(f.rec.contains("end:running"));
  CHECK_FALSE(f.rec.contains("start:after"));  // the hold came first, though the job was queued

  hold->release();
  CHECK_FALSE(hold->held());
  REQUIRE(f.rec.wait_for("start:after"));
  f.gates.open_all();
  CHECK(e.wait_idle(std::chrono::seconds(5)));
}

TEST_CASE("Engine::hold_locks gives up after its timeout and leaves nothing held", "[engine][hold]") {
  Fixture f;
  auto& e = f.open(3);
  f.push<DiskStep>("running");
  REQUIRE(f.rec.wait_for("start:running"));
  f.push<OtherDiskStep>("queued");

  auto refused = e.hold_locks({"disk", "disk"}, std::chrono::milliseconds(30));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == errc::unavailable);
  CHECK_THAT(refused.error().message, Catch::Contains("'disk'"));
  REQUIRE(eventually([&] { return e.health().lock_holds_waiting == 0; }));
  CHECK(e.health().lock_holds_held == 0);

  f.gates.open("running");
  REQUIRE(f.rec.wait_for("start:queued"));  // nothing of the withdrawn hold stays in the way
  f.gates.open_all();
  REQUIRE(e.wait_idle(std::chrono::seconds(5)));
  auto hold = e.hold_locks({"disk"}, std::chrono::milliseconds(0));  // free now: at once
  REQUIRE(hold);
  CHECK(hold->held());
}

TEST_CASE("Engine::hold_locks refuses bad arguments and a stopped engine", "[engine][hold]") {
  Fixture f;
  auto& e = f.open(2, false);
  // Before start() nothing runs: granted at once, and released by its destruction.
  {
    auto early = e.hold_locks({"disk"}, std::chrono::milliseconds(0));
    REQUIRE(early);
    CHECK(early->held());
  }
  for (auto names : {std::vector<std::string>{}, std::vector<std::string>{"disk", ""}}) {
    auto r = e.hold_locks(names, std::chrono::milliseconds(10));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_argument);
  }
  auto negative = e.hold_locks({"disk"}, std::chrono::milliseconds(-1));
  REQUIRE_FALSE(negative);
  CHECK(negative.error().code == errc::invalid_argument);

  e.start();
  auto kept = e.hold_locks({"disk"}, std::chrono::milliseconds(0));
  REQUIRE(kept);
  CHECK(e.stop(std::chrono::seconds(5)));
  auto after = e.hold_locks({"disk"}, std::chrono::milliseconds(10));
  REQUIRE_FALSE(after);
  CHECK(after.error().code == errc::shutting_down);
  kept->release();  // after stop: frees nothing, and must not fail
  CHECK_FALSE(kept->held());
}

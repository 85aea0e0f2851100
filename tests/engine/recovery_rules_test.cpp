// SPDX-License-Identifier: MIT
// recover() is pure: rows in, decisions out.

#include <catch2/catch.hpp>

#include "engine/recovery.hpp"

using namespace shelfjobs;
using namespace std::chrono_literals;

namespace {
const TimePoint kRecoveryT0 = TimePoint{} + std::chrono::hours(24 * 365 * 50);

struct Plain : Command {
  static constexpr std::string_view kName = "Plain";
};
struct Fragile : Command {
  static constexpr std::string_view kName = "Fragile";
};

JobInfo row(JobId id, std::string name, JobStatus status, int attempt = 1) {
  JobInfo j;
  j.id = id;
  j.name = std::move(name);
  j.status = status;
  j.attempt = attempt;
  j.queued_at = kRecoveryT0 - 1h;
  if (status == JobStatus::executing) j.started_at = kRecoveryT0 - 10min;
  return j;
}
}  // namespace

TEST_CASE("recovery keeps queued jobs, requeues interrupted ones and fails the unknown",
          "[engine][recovery]") {
  Registry reg;
  reg.add<Plain>([](const Plain&, JobContext&) {});
  CommandTraits no_rescue;
  no_rescue.rescue_on_restart = false;
  reg.add<Fragile>([](const Fragile&, JobContext&) {}, no_rescue);

  auto r = detail::recover({row(1, "plain", JobStatus::queued),  // name case differs
                            row(2, "Plain", JobStatus::executing, 2), row(3, "Fragile", JobStatus::executing),
                            row(4, "Gone", JobStatus::queued), row(5, "Fragile", JobStatus::queued)},
                           reg, kRecoveryT0);
  REQUIRE(r.keep.size() == 3);
  CHECK(r.keep[0].id == 1);
  CHECK(r.keep[0].name == "Plain");  // the registered spelling
  CHECK(r.keep[1].id == 2);
  CHECK(r.keep[1].status == JobStatus::queued);
  CHECK(r.keep[1].attempt == 3);
  CHECK_FALSE(r.keep[1].started_at);
  CHECK(r.keep[2].id == 5);

  REQUIRE(r.changed.size() == 3);
  CHECK(r.changed[0].id == 2);
  CHECK(r.changed[1].id == 3);
  CHECK(r.changed[1].status == JobStatus::failed);
  CHECK(r.changed[1].message == "interrupted");
  CHECK(r.changed[1].duration == 10min);
  CHECK(r.changed[2].id == 4);
  CHECK(r.changed[2].status == JobStatus::failed);
  CHECK(r.changed[2].error == "command 'Gone' is not registered");
  CHECK(r.changed[2].ended_at == kRecoveryT0);
  CHECK(r.notes.size() == 3);
}

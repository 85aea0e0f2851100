// SPDX-License-Identifier: MIT
// The PostgreSQL store's batch folding (src/engine/store/postgres_batch): what a batch of job
// writes becomes, without a server.

#include <catch2/catch.hpp>

#include "engine/store/postgres_batch.hpp"

namespace postgres_batch_test {

using namespace shelfjobs;
using namespace shelfjobs::detail::pg;
using std::chrono::milliseconds;

const TimePoint t0{milliseconds(1'700'000'000'000)};

JobInfo job(JobId id) {
  JobInfo j;
  j.id = id;
  j.name = "Step";
  j.queued_at = t0;
  return j;
}

TEST_CASE("array literals carry any text as one element each", "[postgres]") {
  CHECK(array_literal({}) == "{}");
  CHECK(array_literal({std::string("a"), std::nullopt, std::string("")}) == R"({"a",NULL,""})");
  CHECK(array_literal({std::string(R"(say "hi")"), std::string(R"(C:\dir)")}) ==
        R"({"say \"hi\"","C:\\dir"})");
  CHECK(array_literal({std::string("{a,b}"), std::string("NULL"), std::string("Brontë")}) ==
        R"({"{a,b}","NULL","Brontë"})");
}

TEST_CASE("a job inserted and run in one batch becomes one new row in its final state", "[postgres]") {
  JobWriteFolder f;
  f.insert(job(1), R"({"tag":"x"})");
  f.update_queued(1, Priority::high, Trigger::manual, "");
  f.start(1, t0 + milliseconds(5), 1);
  f.progress(1, {1, 2, "half"});
  JobInfo done = job(1);
  done.status = JobStatus::completed;
  done.started_at = t0 + milliseconds(5);
  done.ended_at = t0 + milliseconds(9);
  done.duration = milliseconds(4);
  done.priority = Priority::high;
  done.progress = {2, 2, "done"};
  f.finish(done);
  const auto set = f.take();
  REQUIRE(set.inserts.size() == 1);
  CHECK(set.updates.empty());
  const JobInfo& row = set.inserts[0].row;
  CHECK(set.inserts[0].body == R"({"tag":"x"})");
  CHECK(row.status == JobStatus::completed);
  CHECK(row.priority == Priority::high);
  CHECK(row.ended_at == done.ended_at);
  CHECK(row.progress.message == "done");
  CHECK(row.name == "Step");
  CHECK(row.queued_at == t0);
  // Its finish counts: the batch itself made it queued, then executing.
  REQUIRE(set.finishes.size() == 1);
  CHECK(set.finishes[0].prior == JobStatus::executing);
  CHECK(f.empty());
}

TEST_CASE("writes to older rows become one patch per row with the groups they set", "[postgres]") {
  JobWriteFolder f;
  f.start(7, t0, 2);
  f.progress(7, {1, 10, "one"});
  f.progress(7, {3, 10, "three"});
  f.update_queued(8, Priority::critical, Trigger::event, "AuthorAdded");
  JobInfo failed = job(9);
  failed.status = JobStatus::failed;
  failed.error = "boom";
  f.finish(failed);
  JobInfo again = job(9);  // a second terminal finish of the same job in the batch
  again.status = JobStatus::cancelled;
  f.finish(again);
  const auto set = f.take();
  CHECK(set.inserts.empty());
  REQUIRE(set.updates.size() == 3);
  const RowPatch& seven = set.updates[0];
  CHECK(seven.row.id == 7);
  CHECK((seven.start_fields && seven.progress_fields));
  CHECK_FALSE((seven.queued_fields || seven.finish_fields));
  CHECK(seven.row.progress.current == 3);
  CHECK(seven.row.attempt == 2);
  const RowPatch& eight = set.updates[1];
  CHECK(eight.queued_fields);
  CHECK_FALSE((eight.start_fields || eight.progress_fields || eight.finish_fields));
  CHECK(eight.row.event == "AuthorAdded");
  const RowPatch& nine = set.updates[2];
  CHECK((nine.queued_fields && nine.start_fields && nine.progress_fields && nine.finish_fields));
  CHECK(nine.row.status == JobStatus::cancelled);
  // The first finish asks the stored row; the second knows the first made it terminal.
  REQUIRE(set.finishes.size() == 2);
  CHECK_FALSE(set.finishes[0].prior.has_value());
  CHECK(set.finishes[1].prior == JobStatus::failed);
}

TEST_CASE("a retry's requeue and restart in one batch leave the restart's state", "[postgres]") {
  JobWriteFolder f;
  JobInfo requeued = job(3);
  requeued.status = JobStatus::queued;
  requeued.attempt = 2;
  requeued.not_before = t0 + milliseconds(100);
  f.finish(requeued);
  f.start(3, t0 + milliseconds(200), 2);
  const auto set = f.take();
  REQUIRE(set.updates.size() == 1);
  CHECK(set.updates[0].row.status == JobStatus::executing);
  CHECK(set.updates[0].row.not_before == t0 + milliseconds(100));
  CHECK(set.finishes.empty());  // not terminal: no figures
}

}  // namespace postgres_batch_test

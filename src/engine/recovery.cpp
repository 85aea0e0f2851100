// SPDX-License-Identifier: MIT
// Pure so that every restart case is a table row in tests/engine/recovery_rules_test.cpp.

#include "engine/recovery.hpp"

namespace shelfjobs::detail {

Recovered recover(std::vector<JobInfo> rows, const Registry& registry, TimePoint now) {
  Recovered r;
  // Most rows are kept, and they stay where they are: the kept ones move down over the failed
  // ones, and the vector becomes `keep`. A second vector of every queued job cost a tenth of
  // opening a file with 10,000 of them (its memory's first touch, then the copies).
  auto kept = rows.begin();
  for (auto& job : rows) {
    const CommandType* type = registry.find(job.name);
    auto fail = [&](std::string why) {
      job.status = JobStatus::failed;
      job.ended_at = now;
      job.duration = job.started_at
                         ? std::chrono::duration_cast<std::chrono::milliseconds>(now - *job.started_at)
                         : std::chrono::milliseconds(0);
      if (job.duration.count() < 0) job.duration = std::chrono::milliseconds(0);
      job.error_kind = ErrorKind::permanent;
      job.error = why;
      job.message = std::move(why);
      r.changed.push_back(std::move(job));
    };
    if (!type) {
      r.notes.push_back("job " + std::to_string(job.id) + ": command '" + job.name +
                        "' is not registered; marking it failed");
      fail("command '" + job.name + "' is not registered");
      continue;
    }
    if (job.status == JobStatus::executing) {
      if (!type->traits.rescue_on_restart) {
        r.notes.push_back("job " + std::to_string(job.id) + " " + job.name +
                          " was interrupted by a restart; marking it failed");
        fail("interrupted");
        continue;
      }
      job.status = JobStatus::queued;
      job.started_at.reset();
      ++job.attempt;
      r.notes.push_back("job " + std::to_string(job.id) + " " + job.name +
                        " was running when the last process ended; requeued as attempt " +
                        std::to_string(job.attempt));
      r.changed.push_back(job);
    }
    job.name = type->name;
    if (&*kept != &job) *kept = std::move(job);
    ++kept;
  }
  rows.erase(kept, rows.end());
  r.keep = std::move(rows);
  return r;
}

}  // namespace shelfjobs::detail

// SPDX-License-Identifier: MIT
#pragma once
// Recovery after a crash or a restart: what becomes of the jobs an earlier process left queued
// or executing. A pure function over the stored rows: the engine writes `changed` in one
// transaction before it starts, and logs `notes`.

#include <string>
#include <vector>

#include "shelfjobs/engine/command.hpp"
#include "shelfjobs/engine/job.hpp"

namespace shelfjobs::detail {

struct Recovered {
  /// The jobs to keep, queued, in id order, with their registered (canonical) names.
  std::vector<JobInfo> keep;
  /// Rows whose stored state changes: requeued with attempt + 1, or failed.
  std::vector<JobInfo> changed;
  /// One line per decision, for the log.
  std::vector<std::string> notes;
};

/// Queued jobs stay queued. Executing jobs were interrupted: a type that rescues is requeued as
/// the next attempt, one that opts out is failed "interrupted". Jobs whose command is no longer
/// registered are failed, naming the command.
Recovered recover(std::vector<JobInfo> rows, const Registry& registry, TimePoint now);

}  // namespace shelfjobs::detail

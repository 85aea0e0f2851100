// SPDX-License-Identifier: MIT
#pragma once
// What every job store computes the same way when a run ends: the minute it counts in, whether
// it has a duration, and the text form in which a minute's duration histogram is kept.

#include <cstdint>
#include <string>

#include "shelfjobs/engine/job.hpp"

#include "shelfjobs/engine/health.hpp"

namespace shelfjobs::detail {

/// The start of the UTC minute holding `ms` (milliseconds since the epoch; floor, also before
/// 1970).
std::int64_t minute_of(std::int64_t ms);

/// Whether a finished run adds a duration to its minute and totals: a completed or failed run that
/// had started (a job failed by recovery before it ran has none).
bool has_duration(const JobInfo& j);

/// The compact text form of a duration histogram: "bin:count" pairs for the bins that are not
/// zero, comma-separated, in bin order ("" when all are zero). Unknown bins and damaged items
/// are ignored on reading: figures are advisory, a store with a damaged row stays usable.
std::string encode_histogram(const DurationHistogram& h);
DurationHistogram decode_histogram(const std::string& text);

}  // namespace shelfjobs::detail

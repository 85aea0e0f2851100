// SPDX-License-Identifier: MIT
// The standard tasks' defaults and ranges. The ranges follow what users of Readarr-style
// managers rely on, widened where its limits were a known complaint (RSS sync may run every
// 5 minutes, not only every 10).

#include "shelfjobs/services/tasks.hpp"

namespace shelfjobs {

namespace {
using std::chrono::hours;
using std::chrono::minutes;

TaskSpec task(std::string name, std::chrono::seconds interval, IntervalRange range,
              std::chrono::seconds jitter = std::chrono::seconds(0)) {
  TaskSpec t;
  t.name = std::move(name);
  t.schedule.interval = interval;
  t.schedule.jitter = jitter;
  t.range = range;
  t.priority = Priority::low;
  return t;
}
}  // namespace

std::vector<TaskSpec> standard_tasks() {
  std::vector<TaskSpec> out;
  out.push_back(task("RssSync", minutes(15), {minutes(5), minutes(60), true}, minutes(1)));
  out.push_back(task("RescanFolders", hours(24), {hours(12), hours(24), true}));
  out.push_back(task("RefreshAuthor", hours(24), {hours(12), hours(24 * 7), true}));
  out.push_back(task("Backup", hours(24 * 7), {hours(24), hours(24 * 7), false}));
  out.push_back(task("Housekeeping", hours(24), {hours(24), hours(24), false}));
  auto downloads = task("RefreshMonitoredDownloads", minutes(1), {minutes(1), minutes(10), false});
  downloads.priority = Priority::high;  // finished downloads wait for it
  out.push_back(std::move(downloads));
  out.push_back(task("CheckHealth", hours(6), {hours(1), hours(24), false}));
  return out;
}

std::optional<TaskSpec> standard_task(std::string_view name) {
  for (auto& t : standard_tasks())
    if (t.name == name) return t;
  return std::nullopt;
}

}  // namespace shelfjobs

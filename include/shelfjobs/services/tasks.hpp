// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The standard scheduled tasks of a book-collection manager, with their default intervals and
/// the ranges a host's configuration may set. The commands behind them come with the services;
/// a host registers a task with `Engine::add_task(*standard_task("RssSync"))` once the command
/// is registered, and applies its configuration with `Engine::set_task_interval`.
///
/// | task                      | default | allowed            |
/// |---------------------------|---------|--------------------|
/// | RssSync                   | 15 min  | 0 (off) or 5..60 min |
/// | RescanFolders             | 24 h    | 0 (off) or 12..24 h  |
/// | RefreshAuthor             | 24 h    | 0 (off) or 12..168 h |
/// | Backup                    | 7 days  | 1..7 days          |
/// | Housekeeping              | 24 h    | 24 h (pin a time of day with the schedule) |
/// | RefreshMonitoredDownloads | 1 min   | 1..10 min          |
/// | CheckHealth               | 6 h     | 1..24 h            |

#include <optional>
#include <string_view>
#include <vector>

#include "shelfjobs/engine/engine.hpp"

namespace shelfjobs {

/// Every standard task with its defaults: low priority but RefreshMonitoredDownloads (high), no
/// jitter but RssSync's 1 minute.
std::vector<TaskSpec> standard_tasks();

/// One standard task by name, or nullopt.
std::optional<TaskSpec> standard_task(std::string_view name);

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
#pragma once
// The commands shelfd itself provides. Services (refresh, scan, RSS, backup) add theirs.
//
//   Housekeeping   prunes finished jobs from the job store (idle-only, low priority)
//   CheckHealth    checks each library root (exists, readable, free space) and sums up the
//                  engine's open alerts
//   DemoWork       a demonstration workload for `shelfd demo` and for trying the API: steps
//                  through `steps` items of `stepMs` each with progress, honours cancellation,
//                  and can fail at a step. Registered only with "demoCommands": true.

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "config.hpp"
#include "shelfjobs/shelfjobs.hpp"

namespace shelfd {

struct Housekeeping : shelfjobs::Command {
  static constexpr std::string_view kName = "Housekeeping";
};

struct CheckHealth : shelfjobs::Command {
  static constexpr std::string_view kName = "CheckHealth";
};

struct DemoWork : shelfjobs::Command {
  static constexpr std::string_view kName = "DemoWork";
  std::string label = "demo";
  int steps = 10;
  int step_ms = 100;
  int fail_at = 0;                  // 0: never; else fail at this step ...
  std::string fail_kind = "network";  // ... with this kind
};
void to_json(nlohmann::json& j, const DemoWork& d);
void from_json(const nlohmann::json& j, DemoWork& d);

/// Registers shelfd's commands. `engine` is set once the engine exists.
void register_builtin(shelfjobs::Registry& registry, const Config& config,
                      std::shared_ptr<shelfjobs::Engine*> engine);

}  // namespace shelfd

// SPDX-License-Identifier: MIT
#pragma once
// shelfd's own service: the commands shelfd itself provides, on the service contract like any
// other service (the library and refresh services add theirs).
//
//   Housekeeping   prunes finished jobs from the job store (idle-only, low priority)
//   CheckHealth    runs every service's health checks (RootFolderCheck, ...) and sums them up
//                  with the engine's open alerts
//   DemoWork       a demonstration workload for `shelfd demo` and for trying the API: steps
//                  through `steps` items of `stepMs` each with progress, honours cancellation,
//                  and can fail at a step. Registered only with "demoCommands": true.

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "config.hpp"
#include "shelfjobs/services/service.hpp"

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
  int fail_at = 0;                    // 0: never; else fail at this step ...
  std::string fail_kind = "network";  // ... with this kind
};
void to_json(nlohmann::json& j, const DemoWork& d);
void from_json(const nlohmann::json& j, DemoWork& d);

/// Housekeeping, CheckHealth (with their standard tasks) and, with "demoCommands", DemoWork.
class ShelfdService : public shelfjobs::Service {
 public:
  explicit ShelfdService(bool demo_commands) : demo_commands_(demo_commands) {}
  std::string_view name() const override { return "shelfd"; }
  void register_commands(shelfjobs::Registry& registry, shelfjobs::ServiceContext& host) override;
  std::vector<shelfjobs::TaskSpec> tasks() const override;

 private:
  bool demo_commands_;
};

}  // namespace shelfd

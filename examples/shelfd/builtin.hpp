// SPDX-License-Identifier: MIT
#pragma once
// shelfd's own service: the commands shelfd itself provides, on the service contract like any
// other service (the library and refresh services add theirs). Housekeeping is the services'
// HousekeepingService (housekeeping.hpp), added by app.cpp with shelfd's logs registered.
//
//   ClearLog       empties the log table (GET /api/v1/log), as Readarr's command does
//   DeleteLogFiles removes the rotated log files (the file being written stays)
//   CheckHealth    runs every service's health checks (RootFolderCheck, ...) and sums them up
//                  with the engine's open alerts
//   DemoWork       a demonstration workload for `shelfd demo` and for trying the API: steps
//                  through `steps` items of `stepMs` each with progress, honours cancellation,
//                  and can fail at a step. Registered only with "demoCommands": true.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config.hpp"
#include "log_table.hpp"
#include "shelfjobs/services/service.hpp"

namespace shelfd {

struct ClearLog : shelfjobs::Command {
  static constexpr std::string_view kName = "ClearLog";
};

struct DeleteLogFiles : shelfjobs::Command {
  static constexpr std::string_view kName = "DeleteLogFiles";
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

/// The rotated log files of shelfd's rotating sink in `folder`: "shelfd.1.log", "shelfd.2.log",
/// ... (not "shelfd.log", the file being written), oldest last.
std::vector<std::filesystem::path> rotated_shelfd_logs(const std::filesystem::path& folder);
/// Every log file, the current one first.
std::vector<std::filesystem::path> shelfd_log_files(const std::filesystem::path& folder);

/// ClearLog, DeleteLogFiles, CheckHealth (with its standard task) and, with "demoCommands",
/// DemoWork. `log_table` may be null (ClearLog then fails saying so).
class ShelfdService : public shelfjobs::Service {
 public:
  ShelfdService(bool demo_commands, std::shared_ptr<LogTable> log_table,
                std::shared_ptr<LogTableSink> log_sink, std::filesystem::path log_folder)
      : demo_commands_(demo_commands),
        log_table_(std::move(log_table)),
        log_sink_(std::move(log_sink)),
        log_folder_(std::move(log_folder)) {}
  std::string_view name() const override { return "shelfd"; }
  void register_commands(shelfjobs::Registry& registry, shelfjobs::ServiceContext& host) override;
  std::vector<shelfjobs::TaskSpec> tasks() const override;

 private:
  bool demo_commands_;
  std::shared_ptr<LogTable> log_table_;
  std::shared_ptr<LogTableSink> log_sink_;
  std::filesystem::path log_folder_;
};

}  // namespace shelfd

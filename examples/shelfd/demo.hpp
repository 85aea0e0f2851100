// SPDX-License-Identifier: MIT
#pragma once
#include <string>

namespace shelfd {

struct DemoOptions {
  bool json = false;   // end with one JSON line of counts
  bool serve = false;  // keep the API and dashboard up afterwards, until SIGINT/SIGTERM
  int port = 0;        // with serve: 0 picks a free port
  std::string api_key;
};

/// `shelfd demo`: a temporary data folder and library (real book files, scanned, one download
/// imported), every command and task shelfd has, one full cycle with a progress bar per running
/// job, then the job table, the task table, the health summary and the library's counts.
/// Returns the process exit code.
int run_demo(const DemoOptions& options);

}  // namespace shelfd

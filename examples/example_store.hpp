// SPDX-License-Identifier: MIT
#pragma once
// The concept examples' job store file, so each example stays about its concept.

#include <filesystem>
#include <random>
#include <string>
#include <system_error>

namespace examples {

// The path given on the command line (replaced if it exists), or a file in a fresh temporary
// folder that is removed at the end. Declare it before the engine, so it is destroyed after it.
struct StoreFile {
  std::filesystem::path dir, path;
  StoreFile(int argc, char** argv) {
    namespace fs = std::filesystem;
    if (argc < 2) {
      dir = fs::temp_directory_path() / ("shelfjobs-" + std::to_string(std::random_device{}()));
      fs::create_directories(dir);
    }
    path = argc > 1 ? fs::path(argv[1]) : dir / "jobs.db";
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path.string() + suffix);
  }
  ~StoreFile() {
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

}  // namespace examples

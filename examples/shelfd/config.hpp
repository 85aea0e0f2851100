// SPDX-License-Identifier: MIT
#pragma once
// shelfd's configuration: one JSON file. Paths in it are relative to the file's folder.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/services/release_decision.hpp"

namespace shelfd {

// The "acquisition" block: how releases are fetched and judged (shelfjobs::AcquisitionOptions).
struct AcquisitionConfig {
  std::chrono::milliseconds indexer_spacing{std::chrono::seconds(2)};  // between requests to one indexer
  int max_parallel_indexers = 4;
  int min_seeders = 1;
  std::int64_t max_size_ebook_mb = 200;  // 0: no limit
  std::int64_t max_size_audio_mb = 0;
  shelfjobs::FormatProfiles profiles;
  bool search_on_author_added = true;
};

// The "backup" block: where backups go and how long they stay (shelfjobs::BackupOptions).
struct BackupConfig {
  std::filesystem::path folder;           // absolute; default: <dataFolder>/backups
  std::chrono::hours retention{24 * 28};  // scheduled and update backups; 1..90 days
  std::size_t manual_limit = 0;           // manual backups kept; 0: all
};

struct Config {
  std::filesystem::path file;                 // where it was read from (absolute)
  std::filesystem::path data_folder;          // absolute
  std::filesystem::path database;             // absolute
  std::string database_schema = "shelfjobs";  // a PostgreSQL database's schema for the jobs
  std::filesystem::path catalog;              // absolute: the catalog database (authors, books, files)
  std::string metadata_url;                   // BookInfo API root; empty: refresh is off
  std::chrono::milliseconds metadata_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds metadata_spacing{std::chrono::milliseconds(250)};  // between requests
  std::vector<std::filesystem::path> library_roots;
  std::filesystem::path
      recycle_bin;  // absolute; empty: a deleted book file or author folder is deleted for good
  std::string bind_address = "127.0.0.1";
  int port = 8787;
  std::string api_key;
  int workers = 3;
  int short_job_lanes = 0;                                     // 0: the engine's default (usable cores - 1)
  std::chrono::milliseconds spread_after{1};                   // 0: short jobs do not share threads
  std::map<std::string, std::chrono::minutes> task_intervals;  // task name -> interval
  std::optional<std::chrono::minutes> housekeeping_at;         // local time of day
  // housekeeping: {logRetentionDays, historyRetentionDays, permissions: {enabled, fileMode,
  // folderMode}}
  std::chrono::hours log_retention{24 * 7};
  std::chrono::hours history_retention{0};  // 0: kept
  bool set_permissions = false;
  std::uint32_t file_mode = 0644, folder_mode = 0755;
  std::string webhook_url;
  std::string log_level = "info";
  bool demo_commands = false;  // registers DemoWork (the demo turns it on)
  AcquisitionConfig acquisition;
  BackupConfig backup;
};

/// A complete default configuration for a file at `path`, its data folder beside it, with a
/// fresh random API key.
nlohmann::json default_config_json();

/// Reads and validates `path`. Errors name the setting ("api.port: must be 1..65535").
shelfjobs::Result<Config> load_config(const std::filesystem::path& path);

/// Writes a complete default configuration to `path` (refuses to overwrite an existing file).
shelfjobs::Status write_default_config(const std::filesystem::path& path);

/// 32 hex digits from the system's random source.
std::string random_api_key();

}  // namespace shelfd

// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// What a host sees of the engine's health: a snapshot of figures and the open alerts, the
/// options of the alert rules, and the retention of finished jobs.

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "shelfjobs/engine/job.hpp"

namespace shelfjobs {

/// Run durations are counted in bins with these exclusive upper bounds in milliseconds (1 ms,
/// 2 ms, 5 ms ... 1 h); the last bin holds everything from 1 h on.
inline constexpr std::array<std::int64_t, 20> kDurationBinBoundsMs = {
    1,    2,    5,     10,    20,    50,     100,    200,    500,     1000,
    2000, 5000, 10000, 30000, 60000, 120000, 300000, 600000, 1800000, 3600000};
inline constexpr std::size_t kDurationBins = kDurationBinBoundsMs.size() + 1;
/// Run counts by duration bin.
using DurationHistogram = std::array<std::int64_t, kDurationBins>;
/// The bin of a duration (negative durations count as 0 ms).
std::size_t duration_bin(std::chrono::milliseconds d) noexcept;

/// Figures of one command type. Counts cover all time (pruned jobs included); `recent_*` cover
/// EngineOptions::health_window; durations cover the last 100 completed or failed runs (after a
/// restart, those within the window).
struct TypeHealth {
  std::string name;
  std::optional<TimePoint> last_start;
  std::optional<TimePoint> last_finish;
  std::optional<JobStatus> last_status;
  std::int64_t completed = 0;
  std::int64_t failed = 0;
  std::int64_t cancelled = 0;
  std::int64_t recent_completed = 0;
  std::int64_t recent_failed = 0;
  /// recent_failed / (recent_completed + recent_failed); 0 without runs.
  double recent_failure_rate = 0.0;
  std::chrono::milliseconds avg_duration{0};
  std::chrono::milliseconds p95_duration{0};
  int running = 0;
  /// Completed and failed runs within the window by duration bin (`kDurationBinBoundsMs`).
  DurationHistogram durations{};
};

/// Queue figures of one priority.
struct PriorityHealth {
  Priority priority = Priority::normal;
  std::int64_t queued = 0;   ///< ready to run
  std::int64_t delayed = 0;  ///< waiting for a retry or a delayed start
  std::int64_t running = 0;
  /// How long the oldest ready job of this priority has waited; unset when none is queued.
  std::optional<std::chrono::milliseconds> oldest_queued_age;
};

/// The job store's figures.
struct StoreHealth {
  std::uint64_t commits = 0;
  std::uint64_t write_errors = 0;  ///< failed commits (each was retried)
  /// The latest commit attempt failed and none has succeeded since: the store is failing now.
  bool failing = false;
  std::chrono::microseconds last_commit_latency{0};
  std::chrono::microseconds max_commit_latency{0};
  /// The store's size: the SQLite file and its write-ahead log; on PostgreSQL, the store's tables
  /// and indexes on the server (measured at open and at most once a minute after), no log.
  std::uintmax_t file_bytes = 0;
  std::uintmax_t wal_bytes = 0;
};

/// An open alert: raised once when its condition starts, cleared when it ends.
struct Alert {
  std::string rule;     ///< job_failed, long_running, backlog, disk_space, store_errors, saturation
  std::string key;      ///< unique per condition, e.g. "job_failed:RssSync"
  std::string message;  ///< for people
  TimePoint raised_at{};
  nlohmann::json details = nlohmann::json::object();
};

/// The figures of one minute: runs finished in it by status, and the queue at its end.
struct MinuteHealth {
  TimePoint minute{};  ///< start of the minute (UTC)
  std::int64_t completed = 0;
  std::int64_t failed = 0;
  std::int64_t cancelled = 0;
  std::int64_t queued = 0;   ///< ready jobs at the minute's end (or when last sampled)
  std::int64_t delayed = 0;  ///< waiting for a retry or a delayed start
  std::int64_t running = 0;
};
nlohmann::json to_json(const MinuteHealth& m);

/// One engine of a cluster (EngineOptions::cluster), as its last heartbeat left it.
struct ClusterNode {
  std::int64_t id = 0;
  std::string name;
  TimePoint started_at{}, heartbeat_at{}, lease_until{};  ///< the database server's clock
  int running = 0;                                        ///< jobs it was running
  int claimed = 0;                                        ///< jobs it held, not started yet
  bool self = false;                                      ///< the engine that answered
};

/// The whole cluster: every node, and the jobs of all of them.
struct ClusterHealth {
  std::vector<ClusterNode> nodes;  ///< by id
  std::int64_t queued = 0;         ///< waiting to be claimed (delayed ones included)
  std::int64_t claimed = 0;        ///< claimed by a node, not started
  std::int64_t running = 0;        ///< running on some node
};

struct HealthSnapshot {
  TimePoint at{};
  int workers = 0;  ///< regular workers (the Critical lane not counted)
  /// The "short jobs share a thread" rule in force (EngineOptions::short_job_lanes, with 0
  /// resolved to one less than the usable cores, at least 1): regular jobs that may run at once while all of
  /// them are younger than `spread_after`. 0 when the rule is off (`spread_after` of 0, or at least `workers`
  /// lanes).
  int short_job_lanes = 0;
  std::chrono::microseconds spread_after{0};  ///< EngineOptions::spread_after; 0 when the rule is off
  int running = 0;
  /// The host's holds on named locks (Engine::hold_locks): waiting for running jobs to free their
  /// locks (no job needing them starts meanwhile), and held.
  int lock_holds_waiting = 0;
  int lock_holds_held = 0;
  std::vector<TypeHealth> types;           ///< by name
  std::vector<PriorityHealth> priorities;  ///< critical first
  StoreHealth store;
  std::vector<Alert> alerts;  ///< by raise time
  /// Host events dropped because a subscriber's queue was full (all subscribers).
  std::uint64_t events_dropped = 0;
  /// Per-minute figures over `EngineOptions::health_window` (oldest first; minutes without
  /// anything to show are left out). Filled by `Engine::health(true)` only.
  std::vector<MinuteHealth> minutes;
  /// For an engine of a cluster: every node and the cluster's totals (the rest of this snapshot
  /// is this node's own: the jobs it pushed and ran). Empty otherwise, or when the database did
  /// not answer.
  std::optional<ClusterHealth> cluster;
};

nlohmann::json to_json(const HealthSnapshot& h);
nlohmann::json to_json(const Alert& a);

/// The alert rules. Each can be turned off.
struct AlertOptions {
  /// A job failed for good: alert "job_failed:<type>", cleared when a job of that type next
  /// completes.
  bool job_failed = true;
  /// A job running longer than this (0: off) ...
  std::chrono::milliseconds long_running{std::chrono::hours(6)};
  /// ... or longer than this many times its type's average (with 5 runs or more; 0: off).
  double long_running_factor = 10.0;
  /// Backlog: more ready jobs than this (0: off) ...
  std::int64_t backlog_depth = 1000;
  /// ... or a ready job waiting longer than this (0: off).
  std::chrono::milliseconds backlog_age{std::chrono::hours(2)};
  /// Folders whose free space is watched (data, library, backups), with a label each.
  std::vector<std::pair<std::string, std::filesystem::path>> disk_paths;
  /// Alert when a watched folder has less free space than this.
  std::uintmax_t min_free_bytes = 1ull << 30;
  /// A failed commit of the job store.
  bool store_errors = true;
  /// Every regular worker busy for longer than this (0: off).
  std::chrono::milliseconds saturation{std::chrono::minutes(30)};
  /// How often the conditions are checked.
  std::chrono::milliseconds check_interval{std::chrono::seconds(30)};
};

/// How long finished jobs stay in the store. Health keeps its per-type counts after pruning.
struct RetentionOptions {
  /// Finished jobs older than this are pruned (0: never by age). Default: 7 days.
  std::chrono::milliseconds max_age{std::chrono::hours(24 * 7)};
  /// Beyond this many finished jobs the oldest are pruned (0: no cap). Default: 100,000.
  std::int64_t max_rows = 100000;
  /// How often pruning runs (0: only when `Engine::prune` is called). Default: 1 h.
  std::chrono::milliseconds interval{std::chrono::hours(1)};
};

}  // namespace shelfjobs

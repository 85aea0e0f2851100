// SPDX-License-Identifier: MIT
// Restore: checking a backup before anything changes, and swapping it in with a way back.
//
// Why the live files are renamed aside (the safety copy) rather than copied: the host has closed
// its stores, so a rename is both the cheapest copy there is and atomic; and putting it back is
// a rename too, which is what a failure halfway needs to be (a copy back could itself fail on
// the full disk that made the restore fail).
#include <fcntl.h>
#include <unistd.h>

#include <set>

#include <spdlog/spdlog.h>

#include "engine/sqlite/snapshot.hpp"
#include "services/backup/backup_impl.hpp"

namespace shelfjobs {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

Error refused(const std::string& backup, const std::string& why) {
  return Error{errc::bad_file, "backup " + backup + " refused: " + why};
}

const char* const kSidecars[] = {"-wal", "-shm", "-journal"};
// A database file's own name ("") and its sidecars: what moves together.
const char* const kFileAndSidecars[] = {"", "-wal", "-shm", "-journal"};

// Moves `from` to `to` (same folder: a rename); across file systems, a copy then a rename so the
// target name only ever holds a whole file.
Status move_file(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (!ec) return Ok{};
  if (ec != std::errc::cross_device_link)
    return Error{errc::unavailable,
                 "cannot move " + from.string() + " to " + to.string() + ": " + ec.message()};
  const fs::path tmp = to.string() + ".restoring";
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::rename(tmp, to, ec);
  if (ec) {
    std::error_code ignore;
    fs::remove(tmp, ignore);
    return Error{errc::unavailable,
                 "cannot copy " + from.string() + " to " + to.string() + ": " + ec.message()};
  }
  fs::remove(from, ec);
  return Ok{};
}

}  // namespace

Result<PreparedRestore> BackupService::prepare_restore(const fs::path& zip) {
  Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  const std::string name = zip.filename().string();
  std::error_code ec;
  if (!fs::is_regular_file(zip, ec)) return Error{errc::not_found, zip.string() + ": no such backup file"};

  auto manifest_text = read_archive_entry(zip, backup_detail::kManifest, 1 << 20);
  if (!manifest_text) {
    if (manifest_text.error().code == errc::not_found)
      return refused(name, "it has no manifest.json (not a shelfjobs backup)");
    return refused(name, manifest_text.error().message);
  }
  json manifest = json::parse(*manifest_text, nullptr, false);
  if (manifest.is_discarded() || !manifest.is_object())
    return refused(name, "manifest.json is not valid JSON");
  if (manifest.value("format", std::string()) != backup_detail::kFormat)
    return refused(name, "manifest.json is not a shelfjobs backup manifest");
  if (!manifest.contains("formatVersion") || !manifest["formatVersion"].is_number_integer() ||
      manifest["formatVersion"].get<int>() != 1)
    return refused(name, "manifest format version is not 1");
  if (!manifest.contains("entries") || !manifest["entries"].is_array())
    return refused(name, "manifest.json lists no entries");

  fs::create_directories(s.o.folder, ec);
  if (ec) return Error{errc::unavailable, s.o.folder.string() + ": cannot create: " + ec.message()};
  auto work = backup_detail::make_work_folder(s.o.folder, "restore");
  if (!work) return work.error();
  const fs::path& staging = **work;

  auto extracted = extract_archive(zip, staging, s.o.restore_limits);
  if (!extracted) {
    if (extracted.error().code == errc::invalid_argument) return refused(name, extracted.error().message);
    return extracted.error();
  }
  std::map<std::string, ArchiveEntry> got;
  for (auto& e : *extracted) got[e.name] = e;

  // The manifest and the archive name exactly the same entries, with the same bytes.
  std::set<std::string> listed;
  for (const auto& e : manifest["entries"]) {
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string())
      return refused(name, "a manifest entry has no name");
    const std::string entry = e["name"].get<std::string>();
    listed.insert(entry);
    auto it = got.find(entry);
    if (it == got.end()) return refused(name, "'" + entry + "' is in the manifest but not in the archive");
    if (!e.contains("sha256") || !e["sha256"].is_string() ||
        e["sha256"].get<std::string>() != it->second.sha256)
      return refused(name, "'" + entry + "' does not match its checksum");
    if (!e.contains("size") || !e["size"].is_number_unsigned() ||
        e["size"].get<std::uint64_t>() != it->second.size)
      return refused(name, "'" + entry + "' does not have the size the manifest gives");
  }
  for (const auto& [entry, info] : got)
    if (entry != backup_detail::kManifest && !listed.count(entry))
      return refused(name, "'" + entry + "' is in the archive but not in the manifest");

  PreparedRestore out;
  out.backup = name;
  out.staging = *work;
  std::map<std::string, fs::path> live;
  if (!s.o.job_store.empty()) live[backup_detail::kJobStoreEntry] = s.o.job_store;
  for (const auto& d : s.o.databases) live[d.name] = d.path;
  for (const auto& c : s.o.config_files) live["config/" + c.filename().string()] = c;

  for (const auto& e : manifest["entries"]) {
    const std::string entry = e["name"].get<std::string>();
    const fs::path staged = staging / entry;
    if (e.value("kind", std::string()) == "database") {
      if (auto st = sqlite::integrity_check(staged); !st)
        return refused(name, "'" + entry + "': " + st.error().message);
      auto versions = sqlite::schema_versions(staged);
      if (!versions) return refused(name, "'" + entry + "': " + versions.error().message);
      for (const auto& [schema, version] : *versions) {
        auto known = s.o.readable_schemas.find(schema);
        if (known == s.o.readable_schemas.end()) continue;  // a schema of the host's own
        if (version > known->second)
          return refused(name, "'" + entry + "' has schema " + schema + " version " +
                                   std::to_string(version) + ", newer than this build reads (" +
                                   std::to_string(known->second) + ")");
      }
    }
    auto target = live.find(entry);
    if (target == live.end()) {
      out.skipped.push_back(entry);
      continue;
    }
    out.files.emplace_back(staged, target->second);
  }
  if (out.files.empty()) return refused(name, "it holds none of this host's files");
  out.manifest = std::move(manifest);
  s.log()->info("backup {} checked: {} files to restore{}", name, out.files.size(),
                out.skipped.empty() ? "" : ", " + std::to_string(out.skipped.size()) + " left out");
  return out;
}

Result<RestoreReport> BackupService::apply_restore(const PreparedRestore& prepared) {
  Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  RestoreReport report;
  report.backup = prepared.backup;
  report.skipped = prepared.skipped;
  std::error_code ec;

  auto undo = [&](const std::string& why) -> Error {
    if (auto st = roll_back(report); !st)
      return Error{errc::unavailable,
                   why + "; and putting the safety copies back failed: " + st.error().message};
    return Error{errc::unavailable, why + " (every file is as it was)"};
  };

  for (const auto& [staged, target] : prepared.files) {
    // The safety copy: the live file and its sidecars, renamed aside. An older safety copy goes.
    const fs::path safety = target.string() + ".pre-restore";
    for (const char* side : kFileAndSidecars) fs::remove(safety.string() + side, ec);
    bool had_live = fs::exists(target, ec);
    if (had_live) {
      if (auto st = move_file(target, safety); !st) return undo(st.error().message);
      for (const char* side : kSidecars) {
        const fs::path from = target.string() + side;
        if (fs::exists(from, ec))
          if (auto st = move_file(from, safety.string() + side); !st) {
            report.safety_copies.emplace_back(target, safety);
            return undo(st.error().message);
          }
      }
      report.safety_copies.emplace_back(target, safety);
    } else {
      report.safety_copies.emplace_back(target, fs::path());
    }
    if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
    if (auto st = move_file(staged, target); !st) return undo(st.error().message);
    report.restored.push_back(target);
  }
  s.log()->warn("restored {} files from backup {}; safety copies beside them (*.pre-restore)",
                report.restored.size(), prepared.backup);
  return report;
}

Status BackupService::roll_back(const RestoreReport& report) {
  std::string failures;
  std::error_code ec;
  for (auto it = report.safety_copies.rbegin(); it != report.safety_copies.rend(); ++it) {
    const auto& [target, safety] = *it;
    for (const char* side : kFileAndSidecars) fs::remove(target.string() + side, ec);
    if (safety.empty()) continue;  // there was no live file
    for (const char* side : kFileAndSidecars) {
      const fs::path from = safety.string() + side;
      if (!fs::exists(from, ec)) continue;
      if (auto st = move_file(from, target.string() + side); !st)
        failures += (failures.empty() ? "" : "; ") + st.error().message;
    }
  }
  if (!failures.empty()) return Error{errc::unavailable, failures};
  impl_->log()->warn("restore of {} rolled back: the safety copies are in place again", report.backup);
  return Ok{};
}

}  // namespace shelfjobs

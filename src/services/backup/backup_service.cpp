// SPDX-License-Identifier: MIT
// The backup service: making a backup, listing and deleting them, retention. Restore is in
// restore.cpp.
//
// Why each database is copied into a work folder first and zipped from there, rather than zipped
// from the live file: the live file changes while libzip reads it, and a zip of a file that
// changed under it is not a database. The online backup API gives one consistent snapshot per
// file, the checksums are taken of exactly those bytes, and the zip is written from them.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <random>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "engine/sqlite/snapshot.hpp"
#include "services/backup/backup_impl.hpp"
#include "shelfjobs/adapters/metadata.hpp"
#include "shelfjobs/catalog/acquisition_store.hpp"
#include "shelfjobs/catalog/catalog.hpp"
#include "shelfjobs/engine/sqlite_job_store.hpp"
#include "shelfjobs/services/tasks.hpp"
#include "shelfjobs/version.hpp"

namespace shelfjobs {

namespace fs = std::filesystem;
using nlohmann::json;

const char* to_string(BackupType type) noexcept {
  switch (type) {
    case BackupType::scheduled: return "scheduled";
    case BackupType::manual: return "manual";
    case BackupType::update: return "update";
  }
  return "manual";
}

std::optional<BackupType> parse_backup_type(std::string_view text) noexcept {
  std::string lower(text);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "scheduled") return BackupType::scheduled;
  if (lower == "manual") return BackupType::manual;
  if (lower == "update") return BackupType::update;
  return std::nullopt;
}

void to_json(json& j, const Backup& c) {
  j = json::object();
  if (c.type) j["type"] = to_string(*c.type);
}
void from_json(const json& j, Backup& c) {
  c = Backup{};
  if (!j.is_object() || !j.contains("type") || j["type"].is_null()) return;
  const json& t = j["type"];
  if (t.is_number_integer()) {
    const auto n = t.get<std::int64_t>();
    if (n < 0 || n > 2) throw std::invalid_argument("type: " + std::to_string(n) + " is not 0, 1 or 2");
    c.type = static_cast<BackupType>(n);
    return;
  }
  if (!t.is_string()) throw std::invalid_argument("type: expected \"scheduled\", \"manual\" or \"update\"");
  auto parsed = parse_backup_type(t.get<std::string>());
  if (!parsed)
    throw std::invalid_argument("type: '" + t.get<std::string>() + "' is not scheduled, manual or update");
  c.type = *parsed;
}

void to_json(json& j, const BackupRestored& c) { j = {{"backup", c.backup}, {"restored", c.restored}}; }
void from_json(const json& j, BackupRestored& c) {
  c = BackupRestored{};
  if (!j.is_object()) return;
  if (j.contains("backup") && j["backup"].is_string()) c.backup = j["backup"].get<std::string>();
  if (j.contains("restored") && j["restored"].is_array())
    for (const auto& r : j["restored"])
      if (r.is_string()) c.restored.push_back(r.get<std::string>());
}

void to_json(json& j, const BackupFile& b) {
  j = {{"id", b.id},
       {"name", b.name},
       {"path", std::string("/backup/") + to_string(b.type) + "/" + b.name},
       {"type", to_string(b.type)},
       {"size", b.size},
       {"time", format_time(b.time)}};
}
void to_json(json& j, const BackupCompleted& e) { to_json(j, e.backup); }

std::map<std::string, int> readable_schema_versions() {
  return {{"jobs", job_store_schema_version()},
          {"catalog", catalog_schema_version()},
          {"acquisition", acquisition_schema_version()},
          {"metadata_cache", metadata_cache_schema_version()}};
}

namespace backup_detail {

std::int64_t backup_id(std::string_view name) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : name) {
    h ^= c;
    h *= 16777619u;
  }
  return static_cast<std::int64_t>(h & 0x7fffffffu);
}

Result<std::shared_ptr<fs::path>> make_work_folder(const fs::path& parent, const std::string& stem) {
  std::random_device rd;
  for (int attempt = 0; attempt < 8; ++attempt) {
    const fs::path dir = parent / (stem + "." + std::to_string(rd() % 1000000) + ".tmp");
    if (::mkdir(dir.c_str(), 0700) == 0) {
      return std::shared_ptr<fs::path>(new fs::path(dir), [](fs::path* p) {
        std::error_code ec;
        fs::remove_all(*p, ec);
        delete p;
      });
    }
    if (errno != EEXIST)
      return Error{errc::unavailable, dir.string() + ": cannot create: " + std::strerror(errno)};
  }
  return Error{errc::unavailable, parent.string() + ": cannot create a work folder"};
}

}  // namespace backup_detail

using backup_detail::backup_id;

TimePoint BackupService::Impl::now() const {
  return o.clock ? o.clock->now() : std::chrono::system_clock::now();
}

Result<std::shared_ptr<BackupService>> BackupService::create(BackupOptions options) {
  auto bad = [](std::string m) { return Error{errc::invalid_argument, "backup: " + std::move(m)}; };
  if (options.folder.empty()) return bad("a backup folder is required");
  if (options.retention < std::chrono::hours(24) || options.retention > std::chrono::hours(24 * 90))
    return bad("retention must be 1 to 90 days");
  if (options.compression_level < 0 || options.compression_level > 9)
    return bad("compression level must be 0 to 9");
  std::vector<std::string> names{backup_detail::kJobStoreEntry, backup_detail::kManifest};
  for (const auto& d : options.databases) {
    if (d.name.empty() || d.name.find('/') != std::string::npos || d.name == "." || d.name == "..")
      return bad("database entry name '" + d.name + "' is not a plain file name");
    if (d.path.empty()) return bad("database '" + d.name + "' has no path");
    if (std::find(names.begin(), names.end(), d.name) != names.end())
      return bad("database entry name '" + d.name + "' is used twice (or reserved)");
    names.push_back(d.name);
  }
  if (options.version.empty()) options.version = kVersion;
  if (options.readable_schemas.empty()) options.readable_schemas = readable_schema_versions();
  if (!options.logger)
    options.logger =
        std::make_shared<spdlog::logger>("backup", std::make_shared<spdlog::sinks::null_sink_mt>());
  auto impl = std::make_shared<Impl>();
  impl->o = std::move(options);
  return std::shared_ptr<BackupService>(new BackupService(std::move(impl)));
}

BackupService::BackupService(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

void BackupService::register_commands(Registry& registry, ServiceContext& host) {
  impl_->host = &host;
  if (!impl_->o.events) impl_->o.events = host.events();
  registry.add<Backup>(
      [this](const Backup& c, JobContext& ctx) {
        const BackupType type =
            c.type.value_or(ctx.trigger() == Trigger::scheduled ? BackupType::scheduled : BackupType::manual);
        auto made = backup(type, &ctx);
        if (!made) {
          const auto& e = made.error();
          if (e.code == errc::shutting_down) throw JobError(ErrorKind::cancelled, e.message);
          // A full disk or an unwritable folder does not mend itself in a minute: no retry,
          // the next scheduled backup tries again (and health shows the disk).
          throw JobError(e.code == errc::store_error ? ErrorKind::database : ErrorKind::permanent, e.message);
        }
        ctx.complete("Backup " + made->name + " (" + std::to_string(made->size) + " bytes)");
      },
      // Not rescued after a crash: the copy of the job store inside every backup shows its own
      // Backup job running, and a restore must not start that backup again. A backup that a
      // crash interrupted is "interrupted"; the next scheduled one runs on time.
      {.priority = Priority::normal, .type_exclusive = true, .rescue_on_restart = false});
  registry.add<BackupRestored>(
      [](const BackupRestored& c, JobContext& ctx) {
        ctx.complete("Restored from " + c.backup + " (" + std::to_string(c.restored.size()) + " files)");
      },
      {.priority = Priority::high});
}

std::vector<TaskSpec> BackupService::tasks() const { return {*standard_task(Backup::kName)}; }

namespace {

std::string backup_stamp(TimePoint t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const auto day = std::chrono::floor<std::chrono::days>(secs);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{secs - day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d.%02u.%02u_%02d.%02d.%02d", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

Status make_private_folder(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error{errc::unavailable, dir.string() + ": cannot create: " + ec.message()};
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  return Ok{};
}

void progress(JobContext* ctx, std::int64_t done, const std::string& what) {
  if (ctx) ctx->report(done, 100, what);
}

}  // namespace

Result<BackupFile> BackupService::backup(BackupType type, JobContext* ctx) {
  Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  const TimePoint started = s.now();
  const fs::path dir = s.o.folder / to_string(type);
  if (auto st = make_private_folder(s.o.folder); !st) return st.error();
  if (auto st = make_private_folder(dir); !st) return st.error();

  const std::string base = "shelfjobs_backup_v" + s.o.version + "_" + backup_stamp(started);
  std::string name = base + ".zip";
  std::error_code ec;
  for (int n = 2; fs::exists(dir / name, ec); ++n) name = base + "_" + std::to_string(n) + ".zip";

  auto work = backup_detail::make_work_folder(dir, name);
  if (!work) return work.error();
  const fs::path& tmp = **work;

  struct Source {
    std::string entry;
    fs::path path;
    bool database;
  };
  std::vector<Source> sources;
  if (!s.o.job_store.empty()) sources.push_back({backup_detail::kJobStoreEntry, s.o.job_store, true});
  for (const auto& d : s.o.databases) sources.push_back({d.name, d.path, true});
  for (const auto& c : s.o.config_files) {
    if (!fs::is_regular_file(c, ec)) {
      s.log()->warn("backup: configuration file {} is missing; left out", c.string());
      continue;
    }
    sources.push_back({"config/" + c.filename().string(), c, false});
  }

  json entries = json::array();
  std::vector<ArchiveFile> files;
  std::int64_t step = 0;
  for (const auto& src : sources) {
    if (ctx && ctx->cancelled()) return Error{errc::shutting_down, "backup cancelled"};
    progress(ctx, step * 50 / static_cast<std::int64_t>(sources.size()), "copying " + src.entry);
    ++step;
    const fs::path copy = tmp / src.entry;
    json entry = {{"name", src.entry}, {"kind", src.database ? "database" : "config"}};
    if (src.database) {
      if (!fs::exists(src.path, ec)) {
        s.log()->warn("backup: database {} does not exist yet; left out", src.path.string());
        continue;
      }
      // The job store commits some writes a little after it made them (its commit linger), and
      // the snapshot reads the file through a connection of its own: without the flush, the
      // copy could show this very Backup job still queued, and a restore would run it again.
      if (ctx && src.entry == backup_detail::kJobStoreEntry) ctx->flush_store();
      if (auto st = sqlite::snapshot(src.path, copy); !st) return st.error();
      auto versions = sqlite::schema_versions(copy);
      if (!versions) return versions.error();
      entry["schemas"] = *versions;
    } else {
      fs::create_directories(copy.parent_path(), ec);
      fs::copy_file(src.path, copy, ec);
      if (ec) return Error{errc::unavailable, src.path.string() + ": cannot copy: " + ec.message()};
    }
    auto sum = sha256_file(copy);
    if (!sum) return sum.error();
    entry["size"] = fs::file_size(copy, ec);
    entry["sha256"] = *sum;
    entries.push_back(std::move(entry));
    files.push_back({src.entry, copy});
  }
  const json manifest = {{"format", backup_detail::kFormat}, {"formatVersion", 1},
                         {"version", s.o.version},           {"time", format_time(started)},
                         {"type", to_string(type)},          {"entries", std::move(entries)}};

  ArchiveWriteOptions wo;
  wo.compression_level = s.o.compression_level;
  if (ctx) {
    wo.progress = [ctx](double done) {
      progress(ctx, 50 + static_cast<std::int64_t>(done * 50), "writing the zip");
    };
    wo.cancelled = [ctx] { return ctx->cancelled(); };
  }
  const fs::path target = dir / name;
  if (auto st = write_archive(target, backup_detail::kManifest, manifest.dump(2), files, wo); !st) {
    s.log()->error("backup {} failed: {}", name, st.error().message);
    return st.error();
  }
  BackupFile made{.id = backup_id(name),
                  .name = name,
                  .path = target,
                  .type = type,
                  .size = static_cast<std::uint64_t>(fs::file_size(target, ec)),
                  .time = started};
  s.log()->info("backup {} written ({} bytes, {} entries)", name, made.size, files.size() + 1);

  // Retention, after the new backup is safely in place.
  const auto all = [&] {
    std::vector<BackupFile> v;
    for (const auto& b : list())
      if (b.type == type && b.name != name) v.push_back(b);
    return v;
  }();
  std::size_t kept_manual = 1;
  for (const auto& b : all) {  // newest first
    bool drop = false;
    if (type == BackupType::manual) {
      drop = s.o.manual_limit > 0 && ++kept_manual > s.o.manual_limit;
    } else {
      drop = b.time < started - s.o.retention;
    }
    if (!drop) continue;
    fs::remove(b.path, ec);
    if (ec)
      s.log()->warn("backup retention: cannot delete {}: {}", b.path.string(), ec.message());
    else
      s.log()->info("backup retention: deleted {}", b.name);
  }
  if (s.o.events) s.o.events->publish(BackupCompleted{made});
  return made;
}

std::vector<BackupFile> BackupService::list() const {
  std::vector<BackupFile> out;
  for (BackupType type : {BackupType::scheduled, BackupType::manual, BackupType::update}) {
    std::error_code ec;
    const fs::path dir = impl_->o.folder / to_string(type);
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (!name.ends_with(".zip") || !it->is_regular_file(ec) || it->is_symlink(ec)) continue;
      std::error_code e2;
      const auto mtime = fs::last_write_time(it->path(), e2);
      const auto time = std::chrono::file_clock::to_sys(mtime);
      out.push_back({.id = backup_id(name),
                     .name = name,
                     .path = it->path(),
                     .type = type,
                     .size = static_cast<std::uint64_t>(it->file_size(e2)),
                     .time = std::chrono::time_point_cast<TimePoint::duration>(time)});
    }
  }
  std::sort(out.begin(), out.end(), [](const BackupFile& a, const BackupFile& b) {
    return a.time != b.time ? a.time > b.time : a.name > b.name;
  });
  return out;
}

std::optional<BackupFile> BackupService::find(std::int64_t id) const {
  for (auto& b : list())
    if (b.id == id) return b;
  return std::nullopt;
}

Status BackupService::remove(std::int64_t id) {
  std::lock_guard lock(impl_->mu);
  auto b = find(id);
  if (!b) return Error{errc::not_found, "no backup with id " + std::to_string(id)};
  std::error_code ec;
  if (!fs::remove(b->path, ec) || ec)
    return Error{errc::unavailable, b->path.string() + ": cannot delete: " + (ec ? ec.message() : "gone")};
  impl_->log()->info("backup {} deleted", b->name);
  return Ok{};
}

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
#include "config.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <random>
#include <sstream>

#include "shelfjobs/adapters/release_title.hpp"
#include "shelfjobs/engine/postgres_job_store.hpp"
#include "shelfjobs/services/tasks.hpp"

namespace shelfd {

using shelfjobs::errc;
using shelfjobs::Error;

std::string random_api_key() {
  std::random_device rd;
  std::ostringstream out;
  for (int i = 0; i < 4; ++i) {
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", rd());
    out << buf;
  }
  return out.str();
}

nlohmann::json default_config_json() {
  nlohmann::json tasks = nlohmann::json::object();
  for (const auto& t : shelfjobs::standard_tasks()) {
    tasks[t.name] = std::chrono::duration_cast<std::chrono::minutes>(t.schedule.interval).count();
  }
  return {
      {"dataFolder", "shelfd-data"},
      {"database", "jobs.db"},
      {"catalog", "catalog.db"},
      // An rreading-glasses instance or another server of Readarr's BookInfo v1 API.
      {"metadata", {{"baseUrl", ""}, {"timeoutSeconds", 30}, {"requestSpacingMs", 250}}},
      {"libraryRoots", nlohmann::json::array()},
      {"api", {{"bindAddress", "127.0.0.1"}, {"port", 8787}, {"apiKey", random_api_key()}}},
      {"workers", 3},
      {"tasks", tasks},
      {"housekeepingAt", "03:30"},
      {"housekeeping",
       {{"logRetentionDays", 7},
        {"historyRetentionDays", 0},
        {"permissions", {{"enabled", false}, {"fileMode", "0644"}, {"folderMode", "0755"}}}}},
      {"backup", {{"folder", "backups"}, {"retentionDays", 28}, {"manualLimit", 0}}},
      {"notifier", {{"webhookUrl", ""}}},
      {"logLevel", "info"},
      {"demoCommands", false},
      {"acquisition",
       {{"indexerSpacingMs", 2000},
        {"maxParallelIndexers", 4},
        {"minSeeders", 1},
        {"maxSizeMb", {{"ebook", 200}, {"audio", 0}}},
        {"profiles",
         {{"ebook", {{"formats", {"epub", "azw3", "mobi", "pdf"}}, {"cutoff", "epub"}}},
          {"audio", {{"formats", {"m4b", "flac", "mp3"}}, {"cutoff", "m4b"}}}}},
        {"searchOnAuthorAdded", true}}},
  };
}

namespace {
Error bad(const std::string& setting, const std::string& why) {
  return Error{errc::invalid_argument, setting + ": " + why};
}

long long int_in(const nlohmann::json& obj, const char* key, const std::string& setting, long long lo,
                 long long hi, long long fallback) {
  if (!obj.contains(key)) return fallback;
  const auto& v = obj.at(key);
  if (!v.is_number_integer() || v.get<long long>() < lo || v.get<long long>() > hi)
    throw bad(setting, "must be a whole number " + std::to_string(lo) + ".." + std::to_string(hi));
  return v.get<long long>();
}

// A format profile: its formats best first, lower-case, each once, of the profile's kind (an
// audio format in the ebook profile would never match an ebook release), and a cutoff among them.
shelfjobs::FormatProfile read_profile(const nlohmann::json& p, const std::string& setting,
                                      shelfjobs::FormatProfile profile, bool audio) {
  if (!p.is_object()) throw bad(setting, "must be an object with formats and cutoff");
  if (p.contains("formats")) {
    const auto& f = p["formats"];
    if (!f.is_array() || f.empty()) throw bad(setting + ".formats", "must be a non-empty array of formats");
    profile.formats.clear();
    for (const auto& v : f) {
      if (!v.is_string() || v.get<std::string>().empty())
        throw bad(setting + ".formats", "must hold format names");
      const std::string name = v.get<std::string>();
      if (std::any_of(name.begin(), name.end(), [](char c) {
            return !(std::islower(static_cast<unsigned char>(c)) ||
                     std::isdigit(static_cast<unsigned char>(c)));
          }))
        throw bad(setting + ".formats", "'" + name + "' must be lower-case letters and digits (epub, m4b)");
      if (shelfjobs::is_audio_format(name) != audio)
        throw bad(setting + ".formats",
                  "'" + name + "' is " + (audio ? "not an audio format" : "an audio format"));
      if (std::find(profile.formats.begin(), profile.formats.end(), name) != profile.formats.end())
        throw bad(setting + ".formats", "'" + name + "' is listed twice");
      profile.formats.push_back(name);
    }
  }
  if (p.contains("cutoff")) {
    if (!p["cutoff"].is_string()) throw bad(setting + ".cutoff", "must be a format name");
    profile.cutoff = p["cutoff"].get<std::string>();
  }
  if (!profile.rank(profile.cutoff)) throw bad(setting + ".cutoff", "must be one of the profile's formats");
  return profile;
}

AcquisitionConfig read_acquisition(const nlohmann::json& a) {
  if (!a.is_object()) throw bad("acquisition", "must be an object");
  AcquisitionConfig c;
  c.indexer_spacing = std::chrono::milliseconds(
      int_in(a, "indexerSpacingMs", "acquisition.indexerSpacingMs", 0, 60000, c.indexer_spacing.count()));
  c.max_parallel_indexers = static_cast<int>(
      int_in(a, "maxParallelIndexers", "acquisition.maxParallelIndexers", 1, 32, c.max_parallel_indexers));
  c.min_seeders =
      static_cast<int>(int_in(a, "minSeeders", "acquisition.minSeeders", 0, 100000, c.min_seeders));
  if (a.contains("maxSizeMb")) {
    const auto& m = a["maxSizeMb"];
    if (!m.is_object()) throw bad("acquisition.maxSizeMb", "must be an object with ebook and audio");
    c.max_size_ebook_mb =
        int_in(m, "ebook", "acquisition.maxSizeMb.ebook", 0, 1'000'000, c.max_size_ebook_mb);
    c.max_size_audio_mb =
        int_in(m, "audio", "acquisition.maxSizeMb.audio", 0, 1'000'000, c.max_size_audio_mb);
  }
  if (a.contains("profiles")) {
    const auto& p = a["profiles"];
    if (!p.is_object()) throw bad("acquisition.profiles", "must be an object with ebook and audio");
    if (p.contains("ebook"))
      c.profiles.ebook = read_profile(p["ebook"], "acquisition.profiles.ebook", c.profiles.ebook, false);
    if (p.contains("audio"))
      c.profiles.audio = read_profile(p["audio"], "acquisition.profiles.audio", c.profiles.audio, true);
  }
  if (a.contains("searchOnAuthorAdded")) {
    if (!a["searchOnAuthorAdded"].is_boolean())
      throw bad("acquisition.searchOnAuthorAdded", "must be true or false");
    c.search_on_author_added = a["searchOnAuthorAdded"].get<bool>();
  }
  return c;
}
}  // namespace

shelfjobs::Result<Config> load_config(const std::filesystem::path& path) {
  std::error_code ec;
  const auto file = std::filesystem::absolute(path, ec);
  std::ifstream in(file);
  if (!in) return Error{errc::invalid_argument, "cannot read config " + file.string()};
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for a number beyond a double (1e400).
    return Error{errc::invalid_argument, "config " + file.string() + " is not valid JSON: " + e.what()};
  }
  if (!j.is_object()) return bad("(top level)", "must be a JSON object");
  Config c;
  c.file = file;
  const auto base = file.parent_path();
  try {
    auto string_at = [&](const nlohmann::json& obj, const char* key, const std::string& setting,
                         bool required) -> std::optional<std::string> {
      if (!obj.contains(key)) {
        if (required) throw bad(setting, "missing");
        return std::nullopt;
      }
      if (!obj.at(key).is_string()) throw bad(setting, "must be a string");
      return obj.at(key).get<std::string>();
    };
    auto folder = string_at(j, "dataFolder", "dataFolder", true);
    if (folder->empty()) throw bad("dataFolder", "must not be empty");
    c.data_folder = std::filesystem::weakly_canonical(base / *folder);
    auto db = string_at(j, "database", "database", true);
    if (db->empty()) throw bad("database", "must not be empty");
    // A PostgreSQL connection URI keeps the jobs on a server (docs/scaling.md); anything else is
    // a SQLite file relative to dataFolder.
    c.database = shelfjobs::is_postgres_url(*db) ? std::filesystem::path(*db) : c.data_folder / *db;
    // Several shelfd on one PostgreSQL database: a schema each (docs/scaling.md).
    if (auto schema = string_at(j, "databaseSchema", "databaseSchema", false)) {
      if (!shelfjobs::is_postgres_url(*db)) throw bad("databaseSchema", "is only for a PostgreSQL database");
      const bool valid = !schema->empty() && schema->size() <= 48 &&
                         std::isalpha(static_cast<unsigned char>((*schema)[0])) &&
                         std::all_of(schema->begin(), schema->end(), [](char ch) {
                           return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
                         });
      if (!valid)
        throw bad("databaseSchema", "must be letters, digits and '_', starting with a letter, at most 48");
      c.database_schema = *schema;
    }
    auto catalog = string_at(j, "catalog", "catalog", false).value_or("catalog.db");
    if (catalog.empty()) throw bad("catalog", "must not be empty");
    c.catalog = c.data_folder / catalog;
    if (c.catalog == c.database) throw bad("catalog", "must not be the job store's file");
    if (j.contains("metadata")) {
      const auto& m = j["metadata"];
      if (!m.is_object()) throw bad("metadata", "must be an object");
      c.metadata_url = string_at(m, "baseUrl", "metadata.baseUrl", false).value_or("");
      if (!c.metadata_url.empty() && c.metadata_url.rfind("http://", 0) != 0 &&
          c.metadata_url.rfind("https://", 0) != 0)
        throw bad("metadata.baseUrl", "must be an http:// or https:// URL");
      c.metadata_timeout = std::chrono::seconds(
          int_in(m, "timeoutSeconds", "metadata.timeoutSeconds", 1, 600, c.metadata_timeout.count()));
      c.metadata_spacing = std::chrono::milliseconds(
          int_in(m, "requestSpacingMs", "metadata.requestSpacingMs", 0, 60000, c.metadata_spacing.count()));
    }
    if (j.contains("acquisition")) c.acquisition = read_acquisition(j["acquisition"]);
    if (j.contains("libraryRoots")) {
      if (!j["libraryRoots"].is_array()) throw bad("libraryRoots", "must be an array of folders");
      for (std::size_t i = 0; i < j["libraryRoots"].size(); ++i) {
        const auto& r = j["libraryRoots"][i];
        if (!r.is_string() || r.get<std::string>().empty())
          throw bad("libraryRoots[" + std::to_string(i) + "]", "must be a folder path");
        c.library_roots.push_back(std::filesystem::weakly_canonical(base / r.get<std::string>()));
      }
    }
    if (!j.contains("api") || !j["api"].is_object()) throw bad("api", "missing (an object)");
    const auto& api = j["api"];
    c.bind_address = string_at(api, "bindAddress", "api.bindAddress", false).value_or("127.0.0.1");
    if (api.contains("port")) {
      if (!api["port"].is_number_integer()) throw bad("api.port", "must be an integer");
      c.port = api["port"].get<int>();
    }
    if (c.port < 1 || c.port > 65535) throw bad("api.port", "must be 1..65535");
    c.api_key = string_at(api, "apiKey", "api.apiKey", true).value();
    if (c.api_key.size() < 16) throw bad("api.apiKey", "must be at least 16 characters");
    if (j.contains("workers")) {
      if (!j["workers"].is_number_integer()) throw bad("workers", "must be an integer");
      c.workers = j["workers"].get<int>();
    }
    if (c.workers < 1 || c.workers > 64) throw bad("workers", "must be 1..64");
    c.short_job_lanes =
        static_cast<int>(int_in(j, "shortJobLanes", "shortJobLanes", 0, 256, c.short_job_lanes));
    c.spread_after = std::chrono::milliseconds(
        int_in(j, "spreadAfterMs", "spreadAfterMs", 0, 10000, c.spread_after.count()));
    if (j.contains("tasks")) {
      if (!j["tasks"].is_object()) throw bad("tasks", "must be an object of task name: minutes");
      for (const auto& [name, v] : j["tasks"].items()) {
        if (!v.is_number_integer() || v.get<long>() < 0)
          throw bad("tasks." + name, "must be a whole number of minutes (0 = off)");
        c.task_intervals[name] = std::chrono::minutes(v.get<long>());
      }
    }
    if (auto at = string_at(j, "housekeepingAt", "housekeepingAt", false); at && !at->empty()) {
      int h = -1, m = -1;
      char colon = 0;
      std::istringstream s(*at);
      s >> h >> colon >> m;
      if (!s || colon != ':' || h < 0 || h > 23 || m < 0 || m > 59)
        throw bad("housekeepingAt", "must be a local time HH:MM");
      c.housekeeping_at = std::chrono::minutes(h * 60 + m);
    }
    if (j.contains("housekeeping")) {
      const auto& h = j["housekeeping"];
      if (!h.is_object()) throw bad("housekeeping", "must be an object");
      c.log_retention = std::chrono::hours(24 * int_in(h, "logRetentionDays", "housekeeping.logRetentionDays",
                                                       1, 3650, c.log_retention.count() / 24));
      c.history_retention =
          std::chrono::hours(24 * int_in(h, "historyRetentionDays", "housekeeping.historyRetentionDays", 0,
                                         36500, c.history_retention.count() / 24));
      if (h.contains("permissions")) {
        const auto& p = h["permissions"];
        if (!p.is_object()) throw bad("housekeeping.permissions", "must be an object");
        if (p.contains("enabled")) {
          if (!p["enabled"].is_boolean())
            throw bad("housekeeping.permissions.enabled", "must be true or false");
          c.set_permissions = p["enabled"].get<bool>();
        }
        auto mode = [&](const char* key, std::uint32_t& out) {
          if (!p.contains(key)) return;
          const std::string setting = std::string("housekeeping.permissions.") + key;
          if (!p[key].is_string()) throw bad(setting, "must be an octal mode as a string (\"0644\")");
          const std::string v = p[key].get<std::string>();
          if (v.empty() || v.size() > 4 || v.find_first_not_of("01234567") != std::string::npos)
            throw bad(setting, "must be an octal mode of up to 4 digits (\"0644\")");
          out = static_cast<std::uint32_t>(std::stoul(v, nullptr, 8));
        };
        mode("fileMode", c.file_mode);
        mode("folderMode", c.folder_mode);
      }
    }
    c.backup.folder = c.data_folder / "backups";
    if (j.contains("backup")) {
      const auto& b = j["backup"];
      if (!b.is_object()) throw bad("backup", "must be an object");
      if (auto f = string_at(b, "folder", "backup.folder", false)) {
        if (f->empty()) throw bad("backup.folder", "must not be empty");
        c.backup.folder = std::filesystem::weakly_canonical(c.data_folder / *f);  // relative to dataFolder
      }
      c.backup.retention =
          std::chrono::hours(24 * int_in(b, "retentionDays", "backup.retentionDays", 1, 90, 28));
      c.backup.manual_limit =
          static_cast<std::size_t>(int_in(b, "manualLimit", "backup.manualLimit", 0, 10000, 0));
    }
    if (j.contains("notifier")) {
      if (!j["notifier"].is_object()) throw bad("notifier", "must be an object");
      c.webhook_url = string_at(j["notifier"], "webhookUrl", "notifier.webhookUrl", false).value_or("");
      if (!c.webhook_url.empty() && c.webhook_url.rfind("http://", 0) != 0 &&
          c.webhook_url.rfind("https://", 0) != 0)
        throw bad("notifier.webhookUrl", "must be an http:// or https:// URL");
    }
    c.log_level = string_at(j, "logLevel", "logLevel", false).value_or("info");
    static const std::vector<std::string> levels = {"trace", "debug", "info", "warn", "error", "off"};
    if (std::find(levels.begin(), levels.end(), c.log_level) == levels.end())
      throw bad("logLevel", "must be one of trace, debug, info, warn, error, off");
    if (auto bin = string_at(j, "recycleBin", "recycleBin", false); bin && !bin->empty()) {
      c.recycle_bin = std::filesystem::weakly_canonical(base / *bin);
    }
    if (j.contains("demoCommands")) {
      if (!j["demoCommands"].is_boolean()) throw bad("demoCommands", "must be true or false");
      c.demo_commands = j["demoCommands"].get<bool>();
    }
  } catch (const Error& e) {
    return Error{e.code, "config " + file.string() + ": " + e.message};
  }
  return c;
}

shelfjobs::Status write_default_config(const std::filesystem::path& path) {
  if (std::filesystem::exists(path))
    return Error{errc::invalid_argument, path.string() + " exists; not overwriting it"};
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  std::ofstream out(path);
  if (!out) return Error{errc::invalid_argument, "cannot write " + path.string()};
  out << default_config_json().dump(2) << "\n";
  if (!out) return Error{errc::invalid_argument, "cannot write " + path.string()};
  return shelfjobs::Ok{};
}

}  // namespace shelfd

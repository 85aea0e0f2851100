// SPDX-License-Identifier: MIT
#include "resources.hpp"

#include "catalog_resources.hpp"

#include "shelfjobs/services.hpp"

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <optional>

namespace shelfd {

using namespace shelfjobs;
using nlohmann::json;

std::string spaced(const std::string& name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (i > 0 && std::isupper(static_cast<unsigned char>(c)) &&
        !std::isupper(static_cast<unsigned char>(name[i - 1]))) {
      out += ' ';
    }
    out += c;
  }
  return out;
}

json opt_time(const std::optional<TimePoint>& t) { return t ? json(format_time(*t)) : json(nullptr); }

std::string readarr_duration(std::chrono::milliseconds d) {
  // .NET's TimeSpan text: "hh:mm:ss.fffffff", with "d." in front from one day on.
  const auto ms = static_cast<long long>(d.count());
  const long long days = ms / 86400000;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld.%07lld", ms / 3600000 % 24, ms / 60000 % 60,
                ms / 1000 % 60, ms % 1000 * 10000);
  return days > 0 ? std::to_string(days) + "." + buf : std::string(buf);
}

namespace {
const char* wire_status(JobStatus s) {
  switch (s) {
    case JobStatus::queued: return "queued";
    case JobStatus::executing: return "started";  // Readarr's name for it
    case JobStatus::completed: return "completed";
    case JobStatus::failed: return "failed";
    case JobStatus::cancelled: return "cancelled";
  }
  return "queued";
}

// JobInfo and JobDelta share these fields; the body and the event name come separately.
template <class J>
json command_of(const J& j, const json& stored_body, const std::string& event) {
  json body = stored_body.is_object() ? stored_body : json::object();
  const std::string trigger = j.trigger == Trigger::event ? "unspecified" : std::string(to_string(j.trigger));
  body["name"] = j.name;
  body["trigger"] = trigger;
  body["sendUpdatesToClient"] = true;
  body["updateScheduledTask"] = !j.task.empty();
  body["completionMessage"] = "Completed";
  TimePoint changed = j.queued_at;
  if (j.started_at) changed = *j.started_at;
  if (j.ended_at) changed = *j.ended_at;
  json r = {
      {"id", j.id},
      {"name", j.name},
      {"commandName", spaced(j.name)},
      {"message", j.message.empty() ? j.progress.message : j.message},
      {"body", std::move(body)},
      // Readarr knows low, normal and high; a Critical job shows as high, with its real
      // priority in priorityName.
      {"priority", j.priority == Priority::critical ? "high" : std::string(to_string(j.priority))},
      {"priorityName", to_string(j.priority)},
      {"status", wire_status(j.status)},
      {"result", j.status == JobStatus::completed ? "successful"
                 : j.status == JobStatus::failed  ? "unsuccessful"
                                                  : "unknown"},
      {"queued", format_time(j.queued_at)},
      {"trigger", trigger},
      {"stateChangeTime", format_time(changed)},
      {"sendUpdatesToClient", true},
      {"updateScheduledTask", !j.task.empty()},
      {"lastExecutionTime", nullptr},
      {"progress",
       {{"current", j.progress.current}, {"total", j.progress.total}, {"message", j.progress.message}}},
      {"attempt", j.attempt},
      {"maxAttempts", j.max_attempts},
  };
  if (j.started_at) r["started"] = format_time(*j.started_at);
  if (j.ended_at) {
    r["ended"] = format_time(*j.ended_at);
    r["duration"] = readarr_duration(j.duration);
  }
  if (!j.error.empty()) r["exception"] = j.error;
  if (j.error_kind != ErrorKind::none) r["errorKind"] = to_string(j.error_kind);
  if (!event.empty()) r["event"] = event;
  if (!j.task.empty()) r["taskName"] = j.task;
  if (j.not_before) r["notBefore"] = format_time(*j.not_before);
  return r;
}
}  // namespace

json command_resource(const JobInfo& j) { return command_of(j, j.body, j.event); }

json command_resource(const JobDelta& j) {
  static const json kEmpty = json::object();
  return command_of(j, j.body ? *j.body : kEmpty, std::string());
}

json task_resource(const TaskInfo& t, int id) {
  return {
      {"id", id},
      {"name", spaced(t.name)},
      {"taskName", t.name},
      {"interval", std::chrono::duration_cast<std::chrono::minutes>(t.interval).count()},
      {"lastExecution", opt_time(t.last_finish)},
      {"lastStartTime", opt_time(t.last_start)},
      {"nextExecution", opt_time(t.next_due)},
      {"lastDuration", t.last_duration ? json(readarr_duration(*t.last_duration)) : json(nullptr)},
      {"running", t.running},
      {"lastStatus", t.last_status ? json(to_string(*t.last_status)) : json(nullptr)},
      {"lastMessage", t.last_message},
  };
}

json health_items(const std::vector<Alert>& alerts, const std::vector<HealthIssue>& issues) {
  json out = json::array();
  for (const auto& i : issues) {
    out.push_back(
        {{"source", i.source}, {"type", to_string(i.level)}, {"message", i.message}, {"wikiUrl", ""}});
  }
  for (const auto& a : alerts) {
    const bool severe = a.rule == "job_failed" || a.rule == "store_errors" || a.rule == "disk_space";
    out.push_back({{"source", a.rule},
                   {"type", severe ? "error" : "warning"},
                   {"message", a.message},
                   {"wikiUrl", ""}});
  }
  return out;
}

json root_resource(const RootFolder& r) {
  std::error_code ec;
  const auto space = std::filesystem::space(r.path, ec);
  return {{"id", r.id},
          {"name", r.name},
          {"path", r.path.string()},
          {"accessible", std::filesystem::is_directory(r.path, ec)},
          {"freeSpace", ec ? json(nullptr) : json(space.available)}};
}

namespace {
// Readarr's qualities (Quality.cs): ids and names by format; KEPUB counts as EPUB, audio
// formats it has no quality for as "Unknown Audio".
std::pair<int, const char*> quality_of(const std::string& format) {
  if (format == "pdf") return {1, "PDF"};
  if (format == "mobi") return {2, "MOBI"};
  if (format == "epub" || format == "kepub") return {3, "EPUB"};
  if (format == "azw3") return {4, "AZW3"};
  if (format == "mp3") return {10, "MP3"};
  if (format == "flac") return {11, "FLAC"};
  if (format == "m4b") return {12, "M4B"};
  if (auto f = book_format_from_string(format); f && kind_of(*f) == BookKind::audio)
    return {13, "Unknown Audio"};
  return {0, "Unknown"};
}
}  // namespace

json quality_definitions(std::int64_t max_ebook_mb, std::int64_t max_audio_mb) {
  // Readarr's qualities (quality_of's), worst first as the quality profiles list them.
  struct Quality {
    int id;
    const char* name;
    bool audio;
  };
  static constexpr Quality kAll[] = {{0, "Unknown", false}, {1, "PDF", false},  {2, "MOBI", false},
                                     {3, "EPUB", false},    {4, "AZW3", false}, {13, "Unknown Audio", true},
                                     {10, "MP3", true},     {11, "FLAC", true}, {12, "M4B", true}};
  json out = json::array();
  int n = 0;
  for (const Quality& q : kAll) {
    const std::int64_t max = q.audio ? max_audio_mb : max_ebook_mb;
    ++n;
    out.push_back({{"id", n},
                   {"quality", {{"id", q.id}, {"name", q.name}}},
                   {"title", q.name},
                   {"weight", n},
                   {"minSize", 0},
                   {"maxSize", max > 0 ? json(max) : json(nullptr)}});
  }
  return out;
}

namespace {
json quality_resource(const std::string& format) {
  const auto [qid, qname] = quality_of(format);
  return {{"quality", {{"id", qid}, {"name", qname}}},
          {"revision", {{"version", 1}, {"real", 0}, {"isRepack", false}}}};
}
}  // namespace

json author_lookup_resource(Catalog& catalog, const AuthorData& a) {
  if (auto known = catalog.author_by_foreign_id(a.foreign_id)) return author_resource(catalog, *known);
  // Not in the library: Readarr's AuthorResource with id 0, its statistics the works the source
  // lists.
  Author found;
  found.name = a.name;
  found.sort_name = sort_name_of(a.name);
  found.foreign_id = a.foreign_id;
  found.overview = a.overview;
  found.monitored = false;
  found.status = a.status.value_or(AuthorStatus::continuing);
  json r = CatalogResources(catalog).author(found);
  r.erase("lastInfoSync");
  r.erase("added");
  const auto works = static_cast<std::int64_t>(a.works.size());
  r["statistics"]["bookCount"] = works;
  r["statistics"]["totalBookCount"] = works;
  return r;
}

json book_lookup_resource(Catalog& catalog, const WorkData& w) {
  json r;
  if (auto known = catalog.book_by_foreign_id(w.foreign_id)) {
    r = book_resource(catalog, *known);
  } else {
    r = {{"id", 0},
         {"authorId", 0},
         {"title", w.title},
         {"foreignBookId", w.foreign_id},
         {"releaseDate", w.release_date ? json(format_time(TimePoint(*w.release_date))) : json(nullptr)},
         {"genres", w.genres},
         {"monitored", false}};
  }
  if (!w.authors.empty()) {
    const AuthorRef& by = w.authors.front();
    json author = {{"foreignAuthorId", by.foreign_id}, {"authorName", by.name}};
    if (auto known = catalog.author_by_foreign_id(by.foreign_id)) {
      author["id"] = known->id;
      if (r["authorId"] == 0) r["authorId"] = known->id;
    }
    r["author"] = std::move(author);
  }
  json editions = json::array();
  for (const EditionData& e : w.editions) {
    editions.push_back(
        {{"foreignEditionId", e.foreign_id},
         {"title", e.title},
         {"isbn13", e.isbn13},
         {"asin", e.asin},
         {"language", e.language},
         {"format", e.format},
         {"publisher", e.publisher},
         {"isEbook", e.is_ebook},
         {"pageCount", e.pages},
         {"releaseDate", e.release_date ? json(format_time(TimePoint(*e.release_date))) : json(nullptr)},
         {"monitored", e.monitored}});
  }
  r["editions"] = std::move(editions);
  return r;
}

json edition_resource(const Edition& e) {
  return {{"id", e.id},
          {"bookId", e.book_id},
          {"foreignEditionId", e.foreign_id},
          {"title", e.title},
          {"isbn13", e.isbn13},
          {"asin", e.asin},
          {"language", e.language},
          {"format", e.format},
          {"isEbook", e.is_ebook},
          {"publisher", e.publisher},
          {"pageCount", e.pages},
          {"releaseDate", e.release_date ? json(format_time(TimePoint(*e.release_date))) : json(nullptr)},
          {"monitored", e.monitored}};
}

json series_resource(const Series& s, const std::vector<SeriesLink>& links) {
  json out = json::array();
  for (const SeriesLink& l : links) {
    out.push_back({{"seriesId", l.series_id},
                   {"bookId", l.book_id},
                   {"position", l.position},
                   {"seriesPosition", l.series_position},
                   {"isPrimary", l.primary}});
  }
  return {{"id", s.id}, {"foreignSeriesId", s.foreign_id}, {"title", s.title}, {"links", std::move(out)}};
}

json metadata_profile_resource() {
  // What an author refresh does: it keeps every book the source lists, so nothing is skipped.
  return {{"id", 1},
          {"name", "Standard"},
          {"minPopularity", 0},
          {"skipMissingDate", false},
          {"skipMissingIsbn", false},
          {"skipPartsAndSets", false},
          {"skipSeriesSecondary", false},
          {"allowedLanguages", ""},
          {"minPages", 0},
          {"ignored", json::array()}};
}

json quality_profile_resource(int id, const std::string& name, const FormatProfile& profile, bool audio) {
  // Readarr's qualities of each kind, worst first (its own order of ids).
  static const std::vector<std::string> kEbook = {"pdf", "mobi", "epub", "azw3"};
  static const std::vector<std::string> kAudio = {"mp3", "flac", "m4b"};
  json items = json::array();
  auto item = [](const std::string& format, bool allowed) {
    const auto [qid, qname] = quality_of(format);
    return json{{"quality", {{"id", qid}, {"name", qname}}}, {"items", json::array()}, {"allowed", allowed}};
  };
  for (const auto& f : audio ? kAudio : kEbook)
    if (!profile.rank(f)) items.push_back(item(f, false));
  for (auto it = profile.formats.rbegin(); it != profile.formats.rend(); ++it)
    items.push_back(item(*it, true));
  return {{"id", id},
          {"name", name},
          {"upgradeAllowed", true},
          {"cutoff", quality_of(profile.cutoff).first},
          {"items", std::move(items)}};
}

json bookfile_resource(const BookFile& f) {
  const auto [qid, qname] = quality_of(f.format);
  json r = {{"id", f.id},
            {"authorId", f.author_id},
            {"bookId", f.book_id},
            {"editionId", f.edition_id},
            {"path", display_path(f.path)},
            {"size", f.size},
            {"dateAdded", format_time(f.added)},
            {"modified", format_time(f.mtime)},
            {"quality", quality_resource(f.format)},
            {"qualityWeight", qid * 100},
            {"qualityCutoffNotMet", false},
            {"title", f.title},
            {"author", f.author},
            {"isbn13", f.isbn13},
            {"asin", f.asin}};
  if (!f.unmapped_reason.empty()) r["unmappedReason"] = f.unmapped_reason;
  if (!f.read_error.empty()) r["readError"] = f.read_error;
  return r;
}

json manualimport_resource(Catalog& catalog, const ImportCandidate& c, int id) {
  json r = c;  // the candidate's own fields first; Readarr's resource is laid over them
  r["id"] = id;
  r["author"] = nullptr;
  r["book"] = nullptr;
  r["foreignEditionId"] = nullptr;
  if (c.author_id != 0) {
    if (auto a = catalog.author(c.author_id)) r["author"] = author_resource(catalog, *a);
  }
  if (c.book_id != 0) {
    if (auto b = catalog.book(c.book_id)) r["book"] = book_resource(catalog, *b);
  }
  if (c.edition_id != 0 && c.book_id != 0) {
    if (auto editions = catalog.editions_of(c.book_id)) {
      for (const auto& e : *editions)
        if (e.id == c.edition_id) r["foreignEditionId"] = e.foreign_id;
    }
  }
  r["quality"] = quality_resource(c.format);
  r["qualityWeight"] = quality_of(c.format).first * 100;
  r["releaseGroup"] = "";
  r["downloadId"] = "";
  r["additionalFile"] = false;
  r["replaceExistingFiles"] = false;
  r["disableReleaseSwitching"] = false;
  return r;
}

}  // namespace shelfd

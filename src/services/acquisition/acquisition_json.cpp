// SPDX-License-Identifier: MIT
// The acquisition service's JSON: its commands' bodies, its events, and Readarr's queue,
// history, blocklist and release resources (the shapes Readarr's clients read).

#include <cstdio>

#include "services/acquisition/acquisition_impl.hpp"
#include "services/service_util.hpp"

namespace shelfjobs {

namespace {

// "hh:mm:ss" as Readarr's timeleft (days roll into hours).
std::string timeleft(std::int64_t seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", static_cast<long long>(seconds / 3600),
                static_cast<long long>(seconds / 60 % 60), static_cast<long long>(seconds % 60));
  return buf;
}

}  // namespace

void to_json(nlohmann::json& j, const RssSync&) { j = nlohmann::json::object(); }
void from_json(const nlohmann::json&, RssSync&) {}
void to_json(nlohmann::json& j, const BookSearch& c) { j = {{"bookIds", c.bookIds}}; }
void from_json(const nlohmann::json& j, BookSearch& c) { j.at("bookIds").get_to(c.bookIds); }
void to_json(nlohmann::json& j, const AuthorSearch& c) { j = {{"authorId", c.authorId}}; }
void from_json(const nlohmann::json& j, AuthorSearch& c) { j.at("authorId").get_to(c.authorId); }
void to_json(nlohmann::json& j, const MissingBookSearch&) { j = nlohmann::json::object(); }
void from_json(const nlohmann::json&, MissingBookSearch&) {}
void to_json(nlohmann::json& j, const RefreshMonitoredDownloads&) { j = nlohmann::json::object(); }
void from_json(const nlohmann::json&, RefreshMonitoredDownloads&) {}
void to_json(nlohmann::json& j, const ImportCompletedDownload& c) { j = {{"downloadId", c.downloadId}}; }
void from_json(const nlohmann::json& j, ImportCompletedDownload& c) {
  j.at("downloadId").get_to(c.downloadId);
}

nlohmann::json queue_json(const TrackedDownload& d, std::string_view client_name) {
  std::string status = d.status;
  std::string tracked_status = "ok";
  if (d.state == TrackedState::import_failed || d.status == "warning") tracked_status = "warning";
  if (d.state == TrackedState::failed) tracked_status = "error";
  nlohmann::json messages = nlohmann::json::array();
  if (!d.message.empty()) messages.push_back({{"title", d.release.title}, {"messages", {d.message}}});
  nlohmann::json j = {
      {"id", d.id},
      {"authorId", d.author_id},
      {"bookId", d.book_id},
      {"title", d.release.title},
      {"status", status},
      {"trackedDownloadState", to_string(d.state)},
      {"trackedDownloadStatus", tracked_status},
      {"statusMessages", messages},
      {"errorMessage", tracked_status == "ok" ? "" : d.message},
      {"size", d.size},
      {"sizeleft", d.size_left},
      {"downloadClient", client_name},
      {"downloadId", d.download_id},
      {"indexer", d.release.indexer},
      {"protocol", d.release.protocol},
      {"outputPath", d.output_path},
      {"quality", {{"quality", {{"name", d.release.format.empty() ? "Unknown" : d.release.format}}}}},
      {"added", format_time(d.grabbed)},
  };
  if (d.eta_seconds) {
    j["timeleft"] = timeleft(*d.eta_seconds);
    j["estimatedCompletionTime"] = format_time(d.updated + std::chrono::seconds(*d.eta_seconds));
  } else {
    j["timeleft"] = nullptr;
    j["estimatedCompletionTime"] = nullptr;
  }
  return j;
}

nlohmann::json history_json(const HistoryEntry& h) {
  nlohmann::json data = nlohmann::json::parse(h.data, nullptr, false);
  if (!data.is_object()) data = nlohmann::json::object();
  return {{"id", h.id},
          {"authorId", h.author_id},
          {"bookId", h.book_id},
          {"sourceTitle", h.source_title},
          {"date", format_time(h.date)},
          {"downloadId", h.download_id},
          {"eventType", to_string(h.event)},
          {"data", data}};
}

nlohmann::json blocklist_json(const BlocklistEntry& b) {
  return {{"id", b.id},
          {"authorId", b.author_id},
          {"bookIds", b.book_ids},
          {"sourceTitle", b.release.title},
          {"date", format_time(b.date)},
          {"protocol", b.release.protocol},
          {"indexer", b.release.indexer},
          {"message", b.message}};
}

nlohmann::json release_json(const ReleaseDecision& d, TimePoint now) {
  nlohmann::json rejections = nlohmann::json::array();
  for (const auto& r : d.rejections) rejections.push_back(r.reason.str());
  const auto age_days =
      d.release.publish_date
          ? std::chrono::duration_cast<std::chrono::hours>(now - *d.release.publish_date).count() / 24
          : 0;
  nlohmann::json j = {
      {"guid", d.release.guid},
      {"title", d.release.title},
      {"size", d.release.size},
      {"indexerId", d.indexer_id},
      {"indexer", d.indexer},
      {"protocol", d.protocol()},
      {"downloadUrl", d.release.download_url},
      {"infoUrl", d.release.info_url},
      {"publishDate", time_or_null(d.release.publish_date)},
      {"age", age_days},
      {"authorName", d.parsed ? d.parsed->author.str() : std::string()},
      {"bookTitle", d.parsed ? d.parsed->title.str() : std::string()},
      {"quality", {{"quality", {{"name", d.format.empty() ? "Unknown" : d.format}}}}},
      {"approved", d.approved()},
      {"temporarilyRejected", d.temporarily_rejected()},
      {"rejected", !d.approved() && !d.temporarily_rejected()},
      {"rejections", rejections},
      {"authorId", d.author_id},
      {"bookId", d.book_id},
      {"downloadAllowed", d.book_id != 0},
  };
  j["seeders"] = d.release.seeders ? nlohmann::json(*d.release.seeders) : nlohmann::json(nullptr);
  j["leechers"] = d.release.peers && d.release.seeders ? nlohmann::json(*d.release.peers - *d.release.seeders)
                                                       : nlohmann::json(nullptr);
  return j;
}

namespace {

nlohmann::json status_json(const ProviderStatus& s, std::string_view name) {
  return {{"providerId", s.provider_id},
          {"kind", to_string(s.kind)},
          {"name", name},
          {"escalationLevel", s.escalation_level},
          {"initialFailure", time_or_null(s.initial_failure)},
          {"mostRecentFailure", time_or_null(s.most_recent_failure)},
          {"disabledTill", time_or_null(s.disabled_till)},
          {"lastError", s.last_error}};
}

}  // namespace

void to_json(nlohmann::json& j, const ReleaseGrabbed& e) {
  j = queue_json(e.download, e.client);
  j["queueId"] = e.download.id;
}
void to_json(nlohmann::json& j, const DownloadCompleted& e) { j = queue_json(e.download, ""); }
void to_json(nlohmann::json& j, const DownloadFailed& e) {
  j = queue_json(e.download, "");
  j["message"] = e.message;
}
void to_json(nlohmann::json& j, const DownloadImported& e) {
  j = queue_json(e.download, "");
  j["files"] = e.files;
}
void to_json(nlohmann::json& j, const RssSyncCompleted& e) {
  nlohmann::json indexers = nlohmann::json::array();
  for (const auto& i : e.indexers)
    indexers.push_back({{"indexerId", i.indexer_id},
                        {"indexer", i.indexer},
                        {"skipped", i.skipped},
                        {"error", i.error},
                        {"releases", i.releases},
                        {"pages", i.pages},
                        {"gapPossible", i.gap_possible}});
  j = {{"found", e.found},
       {"grabbed", e.grabbed},
       {"pending", e.pending},
       {"rejected", e.rejected},
       {"indexers", indexers}};
}
void to_json(nlohmann::json& j, const ProviderStatusChanged& e) { j = status_json(e.status, e.name); }

}  // namespace shelfjobs

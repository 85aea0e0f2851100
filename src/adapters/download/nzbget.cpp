// SPDX-License-Identifier: MIT
// NZBGet's JSON-RPC (Readarr's NzbgetProxy): POST {base}/jsonrpc with HTTP Basic auth; the queue
// (listgroups) and the history are separate lists, and an item moves from one to the other when
// its download and post-processing end.

#include <nlohmann/json.hpp>

#include "adapters/download/download_util.hpp"
#include "shelfjobs/adapters/download_client.hpp"

namespace shelfjobs {
namespace {

using detail::HttpRequest;
using detail::HttpResponse;
using nlohmann::json;

std::int64_t size_of(const json& g, const std::string& prefix) {
  const auto lo = g.value(prefix + "Lo", std::uint64_t{0}) & 0xffffffffULL;
  const auto hi = g.value(prefix + "Hi", std::uint64_t{0}) & 0xffffffffULL;
  return static_cast<std::int64_t>((hi << 32) | lo);
}

class NzbGet final : public DownloadClient {
 public:
  explicit NzbGet(HttpDownloadClientOptions o)
      : options_(std::move(o)), http_(detail::HttpClientOptions{options_.connect_timeout, options_.timeout}) {
    while (!options_.base_url.empty() && options_.base_url.back() == '/') options_.base_url.pop_back();
  }

  std::string name() const override { return "NZBGet"; }
  DownloadProtocol protocol() const override { return DownloadProtocol::usenet; }

  Status test(std::stop_token token) override {
    auto r = rpc("version", json::array(), token);
    if (!r) return r.error();
    if (!r->is_string()) return Error{errc::upstream_error, "NZBGet: version answered no version string"};
    return Ok{};
  }

  Result<std::string> add(const DownloadRequest& req, std::stop_token token) override {
    if (req.kind != DownloadRequest::Kind::nzb_file)
      return Error{errc::invalid_argument, "NZBGet takes .nzb files, not torrents or magnets"};
    if (req.data.find("<nzb") == std::string::npos)
      return Error{errc::invalid_argument, "NZBGet: the release is not an .nzb (no <nzb> element)"};
    // append(NZBFilename, Content, Category, Priority, AddToTop, AddPaused, DupeKey, DupeScore,
    // DupeMode, PPParameters): the signature of NZBGet 16 and later.
    const json params = json::array({detail::clean_file_name(req.title) + ".nzb", detail::base64(req.data),
                                     req.category, 0, false, false, "", 0, "SCORE", json::array()});
    auto r = rpc("append", params, token);
    if (!r) return r.error();
    if (!r->is_number_integer() || r->get<std::int64_t>() <= 0)
      return Error{errc::invalid_argument, "NZBGet refused the .nzb (append answered " + r->dump() + ")"};
    return std::to_string(r->get<std::int64_t>());
  }

  Result<std::vector<DownloadItem>> items(const std::string& category, std::stop_token token) override {
    auto queue = rpc("listgroups", json::array({0}), token);
    if (!queue) return queue.error();
    auto history = rpc("history", json::array({false}), token);
    if (!history) return history.error();
    if (!queue->is_array() || !history->is_array())
      return Error{errc::upstream_error, "NZBGet: listgroups or history answered no list"};
    std::vector<DownloadItem> out;
    for (const auto& g : *queue) {
      if (!g.is_object() || (!category.empty() && g.value("Category", "") != category)) continue;
      DownloadItem item;
      item.id = std::to_string(g.value("NZBID", 0));
      item.title = g.value("NZBName", "");
      item.total_bytes = size_of(g, "FileSize");
      item.bytes_left = size_of(g, "RemainingSize") - size_of(g, "PausedSize");
      if (item.bytes_left < 0) item.bytes_left = 0;
      const std::string status = g.value("Status", "");
      item.message = status;
      if (status == "QUEUED")
        item.status = DownloadStatus::queued;
      else if (status == "PAUSED")
        item.status = DownloadStatus::paused;
      else
        item.status = DownloadStatus::downloading;  // fetching, downloading, post-processing
      item.output_path = g.value("DestDir", "");
      out.push_back(std::move(item));
    }
    for (const auto& h : *history) {
      if (!h.is_object() || (!category.empty() && h.value("Category", "") != category)) continue;
      if (h.value("Kind", "NZB") != "NZB") continue;  // URL fetches and duplicate records
      DownloadItem item;
      item.id = std::to_string(h.value("NZBID", 0));
      item.title = h.value("Name", "");
      item.total_bytes = size_of(h, "FileSize");
      const std::string status = h.value("Status", "");
      item.message = status;
      if (status.rfind("SUCCESS", 0) == 0) {
        item.status = DownloadStatus::completed;
      } else if (status.rfind("WARNING", 0) == 0) {
        item.status = DownloadStatus::warning;
      } else {
        // FAILURE/* and DELETED/* (NZBGet deleted it: health, a dupe, by hand): not coming.
        item.status = DownloadStatus::failed;
      }
      const std::string final_dir = h.value("FinalDir", "");
      item.output_path = final_dir.empty() ? h.value("DestDir", "") : final_dir;
      out.push_back(std::move(item));
    }
    return out;
  }

  Status remove(const std::string& id, bool delete_data, std::stop_token token) override {
    std::int64_t nzb_id = 0;
    try {
      nzb_id = std::stoll(id);
    } catch (const std::exception&) {
      return Error{errc::not_found, "NZBGet has no item " + id + " (its ids are numbers)"};
    }
    bool queued = false, found = false;
    auto queue = rpc("listgroups", json::array({0}), token);
    if (!queue) return queue.error();
    for (const auto& g : *queue)
      if (g.is_object() && g.value("NZBID", std::int64_t{0}) == nzb_id) queued = found = true;
    if (!found) {
      auto history = rpc("history", json::array({false}), token);
      if (!history) return history.error();
      for (const auto& h : *history)
        if (h.is_object() && h.value("NZBID", std::int64_t{0}) == nzb_id) found = true;
    }
    if (!found) return Error{errc::not_found, "NZBGet has no item " + id};
    // editqueue(Command, Param, IDs), NZBGet 18 and later. The Final commands delete the files
    // and leave no history entry.
    const char* command = queued ? (delete_data ? "GroupFinalDelete" : "GroupDelete")
                                 : (delete_data ? "HistoryFinalDelete" : "HistoryDelete");
    auto r = rpc("editqueue", json::array({command, "", json::array({nzb_id})}), token);
    if (!r) return r.error();
    if (!r->is_boolean() || !r->get<bool>())
      return Error{errc::upstream_error, std::string("NZBGet: editqueue ") + command + " failed"};
    return Ok{};
  }

 private:
  // One call: its `result`.
  Result<json> rpc(const std::string& method, const json& params, std::stop_token token) {
    HttpRequest req;
    req.url = options_.base_url + "/jsonrpc";
    req.follow_redirects = false;
    if (!options_.username.empty())
      req.headers.emplace_back("Authorization",
                               "Basic " + detail::base64(options_.username + ":" + options_.password));
    const std::string body = json{{"method", method}, {"params", params}}.dump();
    HttpResponse r = http_.post(req, body, "application/json", token);
    if (auto e = detail::transport_error(r, "NZBGet")) return *e;
    if (r.status == 401 || r.status == 403)
      return Error{errc::unauthorized,
                   "NZBGet refused the username or password (HTTP " + std::to_string(r.status) + ")"};
    if (r.status != 200)
      return Error{errc::upstream_error, "NZBGet: " + method + " answered HTTP " + std::to_string(r.status)};
    json j = json::parse(r.body, nullptr, false);
    if (!j.is_object()) return Error{errc::upstream_error, "NZBGet: " + method + " answered no JSON object"};
    if (auto e = j.find("error"); e != j.end() && !e->is_null())
      return Error{errc::upstream_error, "NZBGet: " + method + ": " +
                                             (e->is_object() ? e->value("message", e->dump()) : e->dump())};
    auto result = j.find("result");
    if (result == j.end()) return Error{errc::upstream_error, "NZBGet: " + method + " answered no result"};
    return *result;
  }

  HttpDownloadClientOptions options_;
  detail::HttpClient http_;
};

}  // namespace

std::unique_ptr<DownloadClient> make_nzbget(HttpDownloadClientOptions options) {
  return std::make_unique<NzbGet>(std::move(options));
}

}  // namespace shelfjobs

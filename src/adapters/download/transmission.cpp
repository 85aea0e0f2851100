// SPDX-License-Identifier: MIT
// Transmission's RPC (the legacy protocol of rpc-spec.md, which 2.x to 4.x speak; Readarr's
// TransmissionProxy): one POST route, JSON in and out, and the 409 session-id handshake that
// guards it against cross-site requests.

#include <mutex>

#include <nlohmann/json.hpp>

#include "adapters/download/download_util.hpp"
#include "shelfjobs/adapters/download_client.hpp"

namespace shelfjobs {
namespace {

using detail::HttpRequest;
using detail::HttpResponse;
using nlohmann::json;

class Transmission final : public DownloadClient {
 public:
  explicit Transmission(TransmissionOptions o)
      : options_(std::move(o)),
        http_(detail::HttpClientOptions{options_.http.connect_timeout, options_.http.timeout}) {
    auto& base = options_.http.base_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    url_ = base + "/transmission/rpc";
  }

  std::string name() const override { return "Transmission"; }
  DownloadProtocol protocol() const override { return DownloadProtocol::torrent; }

  Status test(std::stop_token token) override {
    auto r = rpc("session-get", json::object(), token);
    if (!r) return r.error();
    if (!r->contains("version"))
      return Error{errc::upstream_error,
                   "Transmission: session-get answered no version: is this Transmission?"};
    return Ok{};
  }

  Result<std::string> add(const DownloadRequest& req, std::stop_token token) override {
    json args = json::object();
    if (req.kind == DownloadRequest::Kind::torrent_file) {
      auto hash = torrent_info_hash(req.data);
      if (!hash) return Error{errc::invalid_argument, "Transmission: " + hash.error().message};
      args["metainfo"] = detail::base64(req.data);
    } else if (req.kind == DownloadRequest::Kind::magnet) {
      auto hash = magnet_info_hash(req.data);
      if (!hash) return Error{errc::invalid_argument, "Transmission: " + hash.error().message};
      args["filename"] = req.data;
    } else {
      return Error{errc::invalid_argument, "Transmission takes torrents and magnets, not .nzb files"};
    }
    auto dir = category_dir(req.category, token);
    if (!dir) return dir.error();
    if (!dir->empty()) args["download-dir"] = *dir;
    args["paused"] = false;
    auto r = rpc("torrent-add", args, token);
    if (!r) {
      // Transmission answers a .torrent it cannot read with a result string, not an HTTP error.
      if (r.error().code == errc::upstream_error &&
          r.error().message.find("invalid or corrupt") != std::string::npos)
        return Error{errc::invalid_argument, r.error().message};
      return r.error();
    }
    // A torrent it already has comes back as torrent-duplicate, with the same fields: the add
    // happened (earlier), and its id is good.
    for (const char* key : {"torrent-added", "torrent-duplicate"}) {
      if (auto it = r->find(key); it != r->end() && it->is_object()) {
        const std::string hash = it->value("hashString", "");
        if (!hash.empty()) return hash;
      }
    }
    return Error{errc::upstream_error, "Transmission: torrent-add answered no torrent"};
  }

  Result<std::vector<DownloadItem>> items(const std::string& category, std::stop_token token) override {
    auto dir = category_dir(category, token);
    if (!dir) return dir.error();
    auto all = get(std::nullopt, token);
    if (!all) return all.error();
    std::vector<DownloadItem> out;
    for (auto& [item, download_dir] : *all) {
      // Readarr's rule: an item belongs to the category when it downloads into the category's
      // folder (no category: every item).
      if (category.empty() || std::filesystem::path(download_dir).lexically_normal() ==
                                  std::filesystem::path(*dir).lexically_normal())
        out.push_back(std::move(item));
    }
    return out;
  }

  Status remove(const std::string& id, bool delete_data, std::stop_token token) override {
    // torrent-remove of an unknown id succeeds silently: look first, to say not_found.
    auto known = get(id, token);
    if (!known) return known.error();
    if (known->empty()) return Error{errc::not_found, "Transmission has no torrent " + id};
    auto r = rpc("torrent-remove", {{"ids", json::array({id})}, {"delete-local-data", delete_data}}, token);
    if (!r) return r.error();
    return Ok{};
  }

 private:
  // The items with their download folders; one id, or all.
  Result<std::vector<std::pair<DownloadItem, std::string>>> get(const std::optional<std::string>& id,
                                                                std::stop_token token) {
    json args = {{"fields",
                  {"hashString", "name", "downloadDir", "totalSize", "sizeWhenDone", "leftUntilDone",
                   "isFinished", "eta", "status", "errorString", "error", "metadataPercentComplete"}}};
    if (id) args["ids"] = json::array({*id});
    auto r = rpc("torrent-get", args, token);
    if (!r) return r.error();
    auto list = r->find("torrents");
    if (list == r->end() || !list->is_array())
      return Error{errc::upstream_error, "Transmission: torrent-get answered no torrents list"};
    std::vector<std::pair<DownloadItem, std::string>> out;
    for (const auto& t : *list) {
      if (!t.is_object()) continue;
      DownloadItem item;
      item.id = t.value("hashString", "");
      item.title = t.value("name", "");
      item.total_bytes = t.value("sizeWhenDone", t.value("totalSize", std::int64_t{0}));
      item.bytes_left = t.value("leftUntilDone", std::int64_t{0});
      const auto eta = t.value("eta", std::int64_t{-1});  // -1 not available, -2 unknown
      if (eta >= 0) item.eta = std::chrono::seconds(eta);
      const std::string dir = t.value("downloadDir", "");
      if (!dir.empty()) item.output_path = std::filesystem::path(dir) / item.title;
      // A magnet without its metadata yet has no size, so nothing is "left": it is not done.
      const bool has_metadata = t.value("metadataPercentComplete", 1.0) >= 1.0 && item.total_bytes > 0;
      switch (t.value("status", 0)) {
        case 0:  // stopped: done when everything is there, else paused
          item.status =
              has_metadata && item.bytes_left == 0 ? DownloadStatus::completed : DownloadStatus::paused;
          break;
        case 1:  // check-wait
        case 2:  // checking
        case 3: item.status = DownloadStatus::queued; break;
        case 4: item.status = DownloadStatus::downloading; break;
        default: item.status = DownloadStatus::completed; break;  // 5 seed-wait, 6 seeding
      }
      if (!has_metadata && item.status != DownloadStatus::paused) {
        item.status = DownloadStatus::downloading;
        item.message = "fetching the torrent's metadata";
      }
      const std::string error = t.value("errorString", "");
      if (!error.empty() && t.value("error", 0) != 0) {
        item.status = DownloadStatus::warning;
        item.message = error;
      }
      out.emplace_back(std::move(item), dir);
    }
    return out;
  }

  // `{download dir}/{category}`, or "" (the daemon's default) when there is no category.
  Result<std::string> category_dir(const std::string& category, std::stop_token token) {
    if (category.empty()) return std::string();
    std::filesystem::path base = options_.download_dir;
    if (base.empty()) {
      auto s = rpc("session-get", json::object(), token);
      if (!s) return s.error();
      base = s->value("download-dir", "");
      if (base.empty())
        return Error{errc::upstream_error, "Transmission: session-get answered no download-dir"};
    }
    return (base / detail::clean_file_name(category)).string();
  }

  // One RPC call: its `arguments` on success. Answers the 409 handshake (a few times: the id may
  // rotate between our read and our resend, e.g. when the daemon restarts).
  Result<json> rpc(const std::string& method, const json& arguments, std::stop_token token) {
    const std::string body = json{{"method", method}, {"arguments", arguments}}.dump();
    for (int attempt = 0; attempt < 3; ++attempt) {
      HttpRequest req;
      req.url = url_;
      req.follow_redirects = false;
      req.read_headers = {"X-Transmission-Session-Id"};
      if (auto id = session_id(); !id.empty()) req.headers.emplace_back("X-Transmission-Session-Id", id);
      if (!options_.http.username.empty())
        req.headers.emplace_back("Authorization", "Basic " + detail::base64(options_.http.username + ":" +
                                                                            options_.http.password));
      HttpResponse r = http_.post(req, body, "application/json", token);
      if (auto e = detail::transport_error(r, "Transmission")) return *e;
      if (r.status == 409) {
        std::string fresh;
        for (const auto& [_, v] : r.headers) fresh = v;
        if (fresh.empty())
          return Error{errc::upstream_error, "Transmission: HTTP 409 without an X-Transmission-Session-Id"};
        std::lock_guard lock(mu_);
        session_id_ = fresh;
        continue;
      }
      if (r.status == 401)
        return Error{errc::unauthorized, "Transmission refused the username or password (HTTP 401)"};
      if (r.status == 403)
        return Error{errc::unauthorized,
                     "Transmission refused this address (HTTP 403: not in its rpc-whitelist)"};
      if (r.status != 200)
        return Error{errc::upstream_error,
                     "Transmission: " + method + " answered HTTP " + std::to_string(r.status)};
      json j = json::parse(r.body, nullptr, false);
      if (!j.is_object())
        return Error{errc::upstream_error, "Transmission: " + method + " answered no JSON object"};
      const std::string result = j.value("result", "");
      if (result != "success") return Error{errc::upstream_error, "Transmission: " + method + ": " + result};
      auto args = j.find("arguments");
      return args != j.end() && args->is_object() ? *args : json::object();
    }
    return Error{errc::upstream_error, "Transmission kept answering 409 to a fresh session id"};
  }

  std::string session_id() {
    std::lock_guard lock(mu_);
    return session_id_;
  }

  TransmissionOptions options_;
  detail::HttpClient http_;
  std::string url_;
  std::mutex mu_;
  std::string session_id_;  // guarded by mu_
};

}  // namespace

std::unique_ptr<DownloadClient> make_transmission(TransmissionOptions options) {
  return std::make_unique<Transmission>(std::move(options));
}

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
// qBittorrent's Web API v2 (Readarr's QBittorrentProxyV2): form and multipart POSTs, a session
// cookie, text answers ("Ok.", "Fails.") for the commands and JSON for the lists.

#include <atomic>
#include <mutex>

#include <nlohmann/json.hpp>

#include "adapters/download/download_util.hpp"
#include "shelfjobs/adapters/download_client.hpp"

namespace shelfjobs {
namespace {

using detail::HttpRequest;
using detail::HttpResponse;
using nlohmann::json;

// qBittorrent's "no estimate" (100 days, MAX_ETA in its source).
constexpr std::int64_t kNoEta = 8640000;

DownloadStatus status_of(const std::string& state, std::string& message) {
  if (state == "error" || state == "missingFiles") {
    message = state == "error" ? "qBittorrent reports an error" : "qBittorrent reports missing files";
    return DownloadStatus::warning;
  }
  if (state == "pausedDL" || state == "stoppedDL") return DownloadStatus::paused;
  if (state == "queuedDL") return DownloadStatus::queued;
  if (state == "uploading" || state == "stalledUP" || state == "queuedUP" || state == "forcedUP" ||
      state == "checkingUP" || state == "pausedUP" || state == "stoppedUP")
    return DownloadStatus::completed;
  // downloading, stalledDL, metaDL, forcedDL, forcedMetaDL, checkingDL, checkingResumeData,
  // allocating, moving, unknown: still on its way.
  return DownloadStatus::downloading;
}

class QBittorrent final : public DownloadClient {
 public:
  explicit QBittorrent(HttpDownloadClientOptions o)
      : options_(std::move(o)), http_(detail::HttpClientOptions{options_.connect_timeout, options_.timeout}) {
    while (!options_.base_url.empty() && options_.base_url.back() == '/') options_.base_url.pop_back();
  }

  std::string name() const override { return "qBittorrent"; }
  DownloadProtocol protocol() const override { return DownloadProtocol::torrent; }

  Status test(std::stop_token token) override {
    if (auto s = login(token); !s) return s;
    auto r = call_get("/api/v2/app/webapiVersion", token);
    if (!r) return r.error();
    if (r->status != 200 || r->body.empty() || r->body[0] != '2')
      return Error{errc::upstream_error,
                   "qBittorrent: Web API v2 expected, version answered: '" + r->body.substr(0, 40) + "'"};
    return Ok{};
  }

  Result<std::string> add(const DownloadRequest& req, std::stop_token token) override {
    detail::Multipart form;
    Result<std::string> hash = std::string();
    if (req.kind == DownloadRequest::Kind::torrent_file) {
      hash = torrent_info_hash(req.data);
      if (!hash) return Error{errc::invalid_argument, "qBittorrent: " + hash.error().message};
      form.file("torrents", detail::clean_file_name(req.title) + ".torrent", "application/x-bittorrent",
                req.data);
    } else if (req.kind == DownloadRequest::Kind::magnet) {
      hash = magnet_info_hash(req.data);
      if (!hash) return Error{errc::invalid_argument, "qBittorrent: " + hash.error().message};
      form.field("urls", req.data);
    } else {
      return Error{errc::invalid_argument, "qBittorrent takes torrents and magnets, not .nzb files"};
    }
    if (!req.category.empty()) form.field("category", req.category);
    const std::string body = form.finish();
    auto r = call_post("/api/v2/torrents/add", body, form.content_type(), token);
    if (!r) return r.error();
    if (r->status == 415 || (r->status >= 400 && r->status < 500))
      return Error{errc::invalid_argument, "qBittorrent refused the torrent (HTTP " +
                                               std::to_string(r->status) + "): " + r->body.substr(0, 200)};
    if (r->status != 200) return unexpected(*r, "torrents/add");
    // "Fails." is also qBittorrent 4.x's answer to a torrent it already has: then the add has
    // happened (earlier), and the id is good.
    if (r->body.rfind("Fails.", 0) == 0) {
      auto known = list("hashes=" + *hash, token);
      if (!known) return known.error();
      if (known->empty()) return Error{errc::invalid_argument, "qBittorrent refused the torrent (Fails.)"};
    }
    return *hash;
  }

  Result<std::vector<DownloadItem>> items(const std::string& category, std::stop_token token) override {
    return list("category=" + detail::url_encode(category), token);
  }

  Status remove(const std::string& id, bool delete_data, std::stop_token token) override {
    auto known = list("hashes=" + detail::url_encode(id), token);
    if (!known) return known.error();
    if (known->empty()) return Error{errc::not_found, "qBittorrent has no torrent " + id};
    const std::string body =
        detail::form_body({{"hashes", id}, {"deleteFiles", delete_data ? "true" : "false"}});
    auto r = call_post("/api/v2/torrents/delete", body, "application/x-www-form-urlencoded", token);
    if (!r) return r.error();
    if (r->status != 200) return unexpected(*r, "torrents/delete");
    return Ok{};
  }

 private:
  Result<std::vector<DownloadItem>> list(const std::string& query, std::stop_token token) {
    auto r = call_get("/api/v2/torrents/info?" + query, token);
    if (!r) return r.error();
    if (r->status != 200) return unexpected(*r, "torrents/info");
    json j = json::parse(r->body, nullptr, false);
    if (!j.is_array())
      return Error{errc::upstream_error, "qBittorrent: torrents/info did not answer a JSON array"};
    std::vector<DownloadItem> out;
    for (const auto& t : j) {
      if (!t.is_object()) continue;
      DownloadItem item;
      item.id = t.value("hash", "");
      item.title = t.value("name", "");
      const std::string state = t.value("state", "");
      item.status = status_of(state, item.message);
      if (item.message.empty()) item.message = state;
      item.total_bytes = t.value("size", std::int64_t{0});
      item.bytes_left = t.value("amount_left", std::int64_t{0});
      const auto eta = t.value("eta", kNoEta);
      if (eta >= 0 && eta < kNoEta) item.eta = std::chrono::seconds(eta);
      std::string path = t.value("content_path", "");
      if (path.empty()) {
        // Before 4.3.2 there is no content_path: the save path plus the name is where it goes.
        const std::string save = t.value("save_path", "");
        if (!save.empty()) path = (std::filesystem::path(save) / item.title).string();
      }
      item.output_path = path;
      out.push_back(std::move(item));
    }
    return out;
  }

  Error unexpected(const HttpResponse& r, const std::string& what) {
    if (r.status == 403)
      return Error{errc::unauthorized, "qBittorrent refused " + what + " after a new login (HTTP 403)"};
    return Error{errc::upstream_error, "qBittorrent: " + what + " answered HTTP " + std::to_string(r.status) +
                                           ": " + r.body.substr(0, 200)};
  }

  // Logs in and keeps the session cookie. The cookie's name varies (SID, QBT_SID_<port> since
  // 5.2), so every cookie the login sets is kept and sent back.
  Status login(std::stop_token token) {
    HttpRequest req;
    req.url = options_.base_url + "/api/v2/auth/login";
    req.read_headers = {"Set-Cookie"};
    req.follow_redirects = false;
    const std::string body =
        detail::form_body({{"username", options_.username}, {"password", options_.password}});
    auto r = http_.post(req, body, "application/x-www-form-urlencoded", token);
    if (auto e = detail::transport_error(r, "qBittorrent")) return *e;
    if (r.status == 403)
      return Error{errc::unauthorized,
                   "qBittorrent refused to log in (HTTP 403: too many failed logins, the address is banned)"};
    if (r.status == 401 || r.body.rfind("Fails.", 0) == 0)
      return Error{errc::unauthorized, "qBittorrent refused the username or password"};
    if (r.status != 200 && r.status != 204)
      return Error{errc::upstream_error, "qBittorrent: login answered HTTP " + std::to_string(r.status)};
    std::string cookies;
    for (const auto& [_, value] : r.headers) {
      const std::string pair = value.substr(0, value.find(';'));
      if (pair.find('=') == std::string::npos) continue;
      if (!cookies.empty()) cookies += "; ";
      cookies += pair;
    }
    // With authentication off for this address (LocalHostAuth, a whitelist) there is no cookie,
    // and none is needed.
    std::lock_guard lock(mu_);
    cookie_ = cookies;
    logged_in_ = true;
    return Ok{};
  }

  std::string cookie() {
    std::lock_guard lock(mu_);
    return cookie_;
  }

  // A call with the session cookie; logs in first when there is none, and again (once) when the
  // call answers 403, which is how qBittorrent says the session ended.
  Result<HttpResponse> call(const std::string& path, const std::string* body, const std::string& type,
                            std::stop_token token) {
    bool fresh = false;
    if (!logged_in_.load()) {
      if (auto s = login(token); !s) return s.error();
      fresh = true;
    }
    for (int attempt = 0;; ++attempt) {
      HttpRequest req;
      req.url = options_.base_url + path;
      req.follow_redirects = false;
      if (auto c = cookie(); !c.empty()) req.headers.emplace_back("Cookie", c);
      HttpResponse r = body ? http_.post(req, *body, type, token) : http_.get(req, token);
      if (auto e = detail::transport_error(r, "qBittorrent")) return *e;
      if (r.status != 403 || fresh || attempt > 0) return r;
      if (auto s = login(token); !s) {
        logged_in_ = false;
        return s.error();
      }
    }
  }
  Result<HttpResponse> call_get(const std::string& path, std::stop_token token) {
    return call(path, nullptr, {}, std::move(token));
  }
  Result<HttpResponse> call_post(const std::string& path, const std::string& body, const std::string& type,
                                 std::stop_token token) {
    return call(path, &body, type, std::move(token));
  }

  HttpDownloadClientOptions options_;
  detail::HttpClient http_;
  std::mutex mu_;
  std::string cookie_;  // guarded by mu_
  std::atomic<bool> logged_in_{false};
};

}  // namespace

std::unique_ptr<DownloadClient> make_qbittorrent(HttpDownloadClientOptions options) {
  return std::make_unique<QBittorrent>(std::move(options));
}

}  // namespace shelfjobs

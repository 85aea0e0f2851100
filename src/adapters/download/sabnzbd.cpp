// SPDX-License-Identifier: MIT
// SABnzbd's API (Readarr's SabnzbdProxy): one route, `{base}/api?mode=...&apikey=...&output=json`,
// stateless; the queue and the history are separate lists. An error comes as JSON
// ({"status":false,"error":"API Key Incorrect"}) or as plain text ("error: ..."), with HTTP 200.

#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "adapters/download/download_util.hpp"
#include "shelfjobs/adapters/download_client.hpp"

namespace shelfjobs {
namespace {

using detail::HttpRequest;
using detail::HttpResponse;
using nlohmann::json;

// "1:02:03" or "1:02:03:04" (days first): seconds, or nullopt.
std::optional<std::chrono::seconds> parse_timeleft(const std::string& s) {
  std::int64_t total = 0;
  std::int64_t part = 0;
  bool digits = false;
  int fields = 0;
  std::int64_t days = 0;
  std::vector<std::int64_t> parts;
  for (char c : s) {
    if (c >= '0' && c <= '9') {
      part = part * 10 + (c - '0');
      digits = true;
    } else if (c == ':') {
      if (!digits) return std::nullopt;
      parts.push_back(part);
      part = 0;
      digits = false;
    } else {
      return std::nullopt;
    }
  }
  if (!digits) return std::nullopt;
  parts.push_back(part);
  fields = static_cast<int>(parts.size());
  if (fields == 4) days = parts[0];
  if (fields < 3 || fields > 4) return std::nullopt;
  const auto n = parts.size();
  total = days * 86400 + parts[n - 3] * 3600 + parts[n - 2] * 60 + parts[n - 1];
  return std::chrono::seconds(total);
}

double number(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number()) return it->get<double>();
  if (it->is_string()) {
    try {
      return std::stod(it->get<std::string>());
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

class Sabnzbd final : public DownloadClient {
 public:
  Sabnzbd(HttpDownloadClientOptions o, std::string api_key)
      : options_(std::move(o)),
        api_key_(std::move(api_key)),
        http_(detail::HttpClientOptions{options_.connect_timeout, options_.timeout}) {
    while (!options_.base_url.empty() && options_.base_url.back() == '/') options_.base_url.pop_back();
  }

  std::string name() const override { return "SABnzbd"; }
  DownloadProtocol protocol() const override { return DownloadProtocol::usenet; }

  Status test(std::stop_token token) override {
    auto v = call("mode=version", token);
    if (!v) return v.error();
    if (!v->contains("version"))
      return Error{errc::upstream_error, "SABnzbd: mode=version answered no version"};
    // version needs no key: ask for something that does.
    auto q = call("mode=queue&start=0&limit=1", token);
    if (!q) return q.error();
    return Ok{};
  }

  Result<std::string> add(const DownloadRequest& req, std::stop_token token) override {
    const std::string params = "&cat=" + detail::url_encode(req.category) + "&priority=-100";
    Result<json> r = json();
    if (req.kind == DownloadRequest::Kind::nzb_file) {
      if (req.data.find("<nzb") == std::string::npos)
        return Error{errc::invalid_argument, "SABnzbd: the release is not an .nzb (no <nzb> element)"};
      detail::Multipart form;
      form.file("name", detail::clean_file_name(req.title) + ".nzb", "application/x-nzb", req.data);
      r = call("mode=addfile" + params + "&nzbname=" + detail::url_encode(req.title), token, &form);
    } else if (req.kind == DownloadRequest::Kind::nzb_url) {
      if (req.data.rfind("http://", 0) != 0 && req.data.rfind("https://", 0) != 0)
        return Error{errc::invalid_argument, "SABnzbd: the .nzb's URL is not http(s)"};
      r = call("mode=addurl&name=" + detail::url_encode(req.data) +
                   "&nzbname=" + detail::url_encode(req.title) + params,
               token);
    } else {
      return Error{errc::invalid_argument, "SABnzbd takes .nzb files and URLs, not torrents or magnets"};
    }
    if (!r) return r.error();
    auto ids = r->find("nzo_ids");
    if (r->value("status", false) && ids != r->end() && ids->is_array() && !ids->empty() &&
        ids->front().is_string())
      return ids->front().get<std::string>();
    return Error{errc::invalid_argument, "SABnzbd refused the .nzb: " + r->dump()};
  }

  Result<std::vector<DownloadItem>> items(const std::string& category, std::stop_token token) override {
    const std::string cat = category.empty() ? std::string() : "&category=" + detail::url_encode(category);
    auto q = call("mode=queue&start=0&limit=0" + cat, token);
    if (!q) return q.error();
    auto h = call("mode=history&start=0&limit=0" + cat, token);
    if (!h) return h.error();
    std::vector<DownloadItem> out;
    const json* slots = nullptr;
    if (auto queue = q->find("queue"); queue != q->end() && queue->is_object())
      if (auto s = queue->find("slots"); s != queue->end() && s->is_array()) slots = &*s;
    if (!slots) return Error{errc::upstream_error, "SABnzbd: mode=queue answered no queue.slots"};
    for (const auto& s : *slots) {
      if (!s.is_object()) continue;
      if (!category.empty() && s.value("cat", category) != category) continue;
      DownloadItem item;
      item.id = s.value("nzo_id", "");
      item.title = s.value("filename", "");
      item.total_bytes = static_cast<std::int64_t>(number(s, "mb") * 1024 * 1024);
      item.bytes_left = static_cast<std::int64_t>(number(s, "mbleft") * 1024 * 1024);
      const std::string status = s.value("status", "");
      item.message = status;
      if (status == "Paused")
        item.status = DownloadStatus::paused;
      else if (status == "Queued" || status == "Grabbing" || status == "Propagating" || status == "Fetching")
        item.status = DownloadStatus::queued;
      else
        item.status = DownloadStatus::downloading;  // Downloading, Checking, Verifying, Repairing, ...
      if (auto t = parse_timeleft(s.value("timeleft", "")); t && item.status == DownloadStatus::downloading)
        item.eta = t;
      out.push_back(std::move(item));
    }
    slots = nullptr;
    if (auto history = h->find("history"); history != h->end() && history->is_object())
      if (auto s = history->find("slots"); s != history->end() && s->is_array()) slots = &*s;
    if (!slots) return Error{errc::upstream_error, "SABnzbd: mode=history answered no history.slots"};
    for (const auto& s : *slots) {
      if (!s.is_object()) continue;
      if (!category.empty() && s.value("category", category) != category) continue;
      DownloadItem item;
      item.id = s.value("nzo_id", "");
      item.title = s.value("name", "");
      item.total_bytes = static_cast<std::int64_t>(number(s, "bytes"));
      const std::string status = s.value("status", "");
      item.message = status;
      if (status == "Completed") {
        item.status = DownloadStatus::completed;
      } else if (status == "Failed" || status == "Deleted") {
        item.status = DownloadStatus::failed;
        if (auto m = s.value("fail_message", ""); !m.empty()) item.message = m;
      } else {
        item.status = DownloadStatus::downloading;  // post-processing: Verifying, Extracting, Moving, ...
        item.bytes_left = 0;
      }
      item.output_path = s.value("storage", "");
      out.push_back(std::move(item));
    }
    return out;
  }

  Status remove(const std::string& id, bool delete_data, std::stop_token token) override {
    auto all = items("", token);
    if (!all) return all.error();
    const DownloadItem* found = nullptr;
    for (const auto& i : *all)
      if (i.id == id) found = &i;
    if (!found) return Error{errc::not_found, "SABnzbd has no item " + id};
    // An item whose download has ended is in the history; the rest is in the queue.
    const bool in_history = found->status == DownloadStatus::completed ||
                            found->status == DownloadStatus::failed || !found->output_path.empty();
    auto r = call(std::string("mode=") + (in_history ? "history" : "queue") + "&name=delete&value=" +
                      detail::url_encode(id) + "&del_files=" + (delete_data ? "1" : "0"),
                  token);
    if (!r) return r.error();
    if (!r->value("status", false))
      return Error{errc::upstream_error, "SABnzbd did not delete " + id + ": " + r->dump()};
    return Ok{};
  }

 private:
  // One API call (a GET, or a multipart POST for addfile): the JSON answer, its error mapped.
  Result<json> call(const std::string& query, std::stop_token token,
                    const detail::Multipart* form = nullptr) {
    HttpRequest req;
    req.url =
        options_.base_url + "/api?" + query + "&apikey=" + detail::url_encode(api_key_) + "&output=json";
    req.follow_redirects = false;
    HttpResponse r =
        form ? http_.post(req, form->finish(), form->content_type(), token) : http_.get(req, token);
    if (auto e = detail::transport_error(r, "SABnzbd")) return *e;
    if (r.status == 401 || r.status == 403)
      return Error{errc::unauthorized, "SABnzbd refused the request (HTTP " + std::to_string(r.status) + ")"};
    if (r.status != 200)
      return Error{errc::upstream_error, "SABnzbd answered HTTP " + std::to_string(r.status)};
    auto key_error = [](const std::string& message) {
      const bool key =
          message.find("API Key") != std::string::npos || message.find("api key") != std::string::npos;
      return Error{key ? errc::unauthorized : errc::upstream_error, "SABnzbd: " + message};
    };
    if (r.body.rfind("error:", 0) == 0) return key_error(r.body.substr(6, 200));
    json j = json::parse(r.body, nullptr, false);
    if (!j.is_object())
      return Error{errc::upstream_error, "SABnzbd answered no JSON object: " + r.body.substr(0, 100)};
    if (auto e = j.find("error"); e != j.end() && e->is_string() && !j.value("status", true))
      return key_error(e->get<std::string>());
    return j;
  }

  HttpDownloadClientOptions options_;
  std::string api_key_;
  detail::HttpClient http_;
};

}  // namespace

std::unique_ptr<DownloadClient> make_sabnzbd(SabnzbdOptions options) {
  return std::make_unique<Sabnzbd>(std::move(options.http), std::move(options.api_key));
}

}  // namespace shelfjobs

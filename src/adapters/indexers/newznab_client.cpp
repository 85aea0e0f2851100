// SPDX-License-Identifier: MIT
// The Newznab/Torznab client: requests through the adapters' HttpClient, answers judged in the
// order Readarr's HttpIndexerBase and NewznabRssParser use (transport, then the body, then the
// status), the caps cache, and the RSS paging loop over RssPager.

#include <algorithm>
#include <cctype>
#include <mutex>
#include <utility>

#include "adapters/curl_util.hpp"
#include "adapters/http_client.hpp"
#include "adapters/indexers/newznab_internal.hpp"
#include "shelfjobs/adapters/newznab.hpp"

namespace shelfjobs {

namespace {

std::string label_of(const IndexerSettings& s) { return "indexer " + s.name + ": "; }

// RFC 3986 unreserved characters pass; ',' too (the category list reads as Readarr sends it).
std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ',') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string join_categories(const std::vector<int>& cats) {
  std::string out;
  for (int c : cats) {
    if (!out.empty()) out += ',';
    out += std::to_string(c);
  }
  return out;
}

}  // namespace

struct NewznabClient::Impl {
  IndexerSettings settings;
  std::string endpoint;  // base_url + api_path
  detail::HttpClient http;
  std::mutex mu;
  std::optional<IndexerCaps> caps;
  TimePoint caps_until{};

  Impl(IndexerSettings s, std::string ep)
      : settings(std::move(s)),
        endpoint(std::move(ep)),
        http(detail::HttpClientOptions{settings.connect_timeout, settings.timeout, 5, detail::user_agent(), 4,
                                       // A feed page of 100 items is ~100 KB; 32 MB means a broken server.
                                       32u << 20}) {}

  TimePoint now() const { return settings.clock->now(); }

  // One GET, judged; `what` names the request in messages ("t=caps", "t=book offset 100").
  // On success the body is returned for the caller's parser.
  Result<std::string> fetch(const std::string& url, const std::string& what, std::stop_token token) {
    if (settings.before_request && !settings.before_request(token))
      return Error{errc::cancelled, label_of(settings) + what + ": cancelled"};
    detail::HttpRequest req;
    req.url = url;
    req.headers.emplace_back("Accept", "application/rss+xml, application/xml, text/xml");
    detail::HttpResponse res = http.get(req, std::move(token));
    const std::string p = label_of(settings) + what + ": ";
    switch (res.error) {
      case detail::TransportError::none: break;
      case detail::TransportError::timeout:
        return Error{errc::unavailable, p + "timed out (" + res.error_message + ")"};
      case detail::TransportError::connection:
        return Error{errc::unavailable, p + std::string(detail::kCannotConnect) + res.error_message + ")"};
      case detail::TransportError::cancelled: return Error{errc::cancelled, p + "cancelled"};
      case detail::TransportError::tls:
        return Error{errc::unavailable, p + "TLS failure (" + res.error_message + ")"};
      case detail::TransportError::invalid:
        return Error{errc::upstream_error, p + "request failed (" + res.error_message + ")"};
      case detail::TransportError::other:
        return Error{errc::unavailable, p + "request failed (" + res.error_message + ")"};
    }
    const std::string status = "HTTP " + std::to_string(res.status);
    const std::string label = settings.name + ": " + what;
    // The body first: an `<error>` says more than the status (nZEDb answers with 202, Prowlarr
    // its own limits with 429 and an <error> body).
    const std::optional<detail::ApiError> api = detail::read_error_element(res.body);
    if (res.status == 429 || (api && api->request_limit)) {
      // Retry-After wins over the 1 h default; a week caps a silly value.
      const auto until = detail::parse_retry_after(res.retry_after, now(), std::chrono::hours(24 * 7));
      const TimePoint when = until ? *until : now() + std::chrono::hours(1);
      const auto secs = std::chrono::duration_cast<std::chrono::seconds>(when - now()).count();
      return Error{errc::rate_limited,
                   p + status + (api ? ", " + api->text : std::string(", too many requests")) +
                       "; retry after " + std::to_string(secs) + " s" +
                       (until ? " (Retry-After)" : " (default 1 h)"),
                   when};
    }
    if (api) return detail::api_error(*api, label, now());
    if (detail::looks_like_html(res.body, res.content_type)) return detail::html_error(label, status);
    if (res.status >= 500) return Error{errc::unavailable, p + status + " (server error)"};
    if (res.status < 200 || res.status >= 300) return Error{errc::upstream_error, p + status};
    return std::move(res.body);
  }

  std::string url(std::string_view t, const std::vector<std::pair<std::string, std::string>>& params) const {
    std::string u = endpoint + "?t=" + url_encode(t);
    for (const auto& [k, v] : params) u += "&" + url_encode(k) + "=" + url_encode(v);
    if (!settings.api_key.empty()) u += "&apikey=" + url_encode(settings.api_key);
    return u;
  }

  Result<ReleasePage> feed(std::string_view t, const std::vector<std::pair<std::string, std::string>>& params,
                           const std::string& what, std::stop_token token) {
    auto body = fetch(url(t, params), what, std::move(token));
    if (!body) return body.error();
    return parse_releases(*body, settings.kind, settings.name + ": " + what, now());
  }
};

NewznabClient::NewznabClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NewznabClient::~NewznabClient() = default;

Result<std::unique_ptr<NewznabClient>> NewznabClient::create(IndexerSettings settings) {
  const std::string p = label_of(settings);
  std::string base = settings.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const detail::UrlParts parts = detail::split_url(base);
  if (!parts.ok || (parts.scheme != "http" && parts.scheme != "https") || parts.host.empty())
    return Error{errc::invalid_argument, p + "base URL '" + settings.base_url + "' is not an http(s) URL"};
  if (settings.timeout.count() <= 0 || settings.connect_timeout.count() <= 0)
    return Error{errc::invalid_argument, p + "timeouts must be positive"};
  std::string path = settings.api_path.empty() ? "/api" : settings.api_path;
  if (path.front() != '/') path.insert(path.begin(), '/');
  if (!settings.clock) settings.clock = std::make_shared<SystemClock>();
  return std::unique_ptr<NewznabClient>(
      new NewznabClient(std::make_unique<Impl>(std::move(settings), base + path)));
}

const IndexerSettings& NewznabClient::settings() const noexcept { return impl_->settings; }

std::string NewznabClient::request_url(std::string_view t,
                                       const std::vector<std::pair<std::string, std::string>>& params) const {
  return impl_->url(t, params);
}

Result<IndexerCaps> NewznabClient::caps(std::stop_token token, bool fresh) {
  Impl& im = *impl_;
  {
    std::lock_guard lock(im.mu);
    if (!fresh && im.caps && im.now() < im.caps_until) return *im.caps;
  }
  // Not under the lock: a slow indexer must not hold up readers of a cached answer. Two callers
  // with no cache may both ask; the later answer wins, both are equally fresh.
  auto body = im.fetch(im.url("caps", {}), "t=caps", std::move(token));
  if (!body) return body.error();
  auto caps = parse_caps(*body, im.settings.name + ": t=caps", im.now());
  if (!caps) return caps;
  std::lock_guard lock(im.mu);
  im.caps = *caps;
  im.caps_until = im.now() + im.settings.caps_ttl;
  return caps;
}

Result<ReleasePage> NewznabClient::rss_page(int offset, int limit, std::stop_token token) {
  auto caps = this->caps(token);
  if (!caps) return caps.error();
  limit = std::clamp(limit, 1, caps->page_size());
  offset = std::max(0, offset);
  const std::string t = caps->book_search_available ? "book" : "search";
  const std::vector<std::pair<std::string, std::string>> params{
      {"cat", join_categories(impl_->settings.categories)},
      {"extended", "1"},
      {"offset", std::to_string(offset)},
      {"limit", std::to_string(limit)}};
  return impl_->feed(t, params, "t=" + t + " offset " + std::to_string(offset), std::move(token));
}

Result<ReleasePage> NewznabClient::search(std::string_view author, std::string_view title,
                                          std::stop_token token) {
  if (title.empty())
    return Error{errc::invalid_argument, label_of(impl_->settings) + "a search needs a title"};
  auto caps = this->caps(token);
  if (!caps) return caps.error();
  const std::string cat = join_categories(impl_->settings.categories);
  const std::string limit = std::to_string(caps->page_size());
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> tiers;
  if (caps->can_search_author_title() && !author.empty())
    tiers.push_back({"book",
                     {{"cat", cat},
                      {"extended", "1"},
                      {"author", std::string(author)},
                      {"title", std::string(title)},
                      {"offset", "0"},
                      {"limit", limit}}});
  if (caps->search_available) {
    if (!author.empty())
      tiers.push_back({"search",
                       {{"cat", cat},
                        {"extended", "1"},
                        {"q", std::string(title) + " " + std::string(author)},
                        {"offset", "0"},
                        {"limit", limit}}});
    tiers.push_back(
        {"search",
         {{"cat", cat}, {"extended", "1"}, {"q", std::string(title)}, {"offset", "0"}, {"limit", limit}}});
  }
  if (tiers.empty())
    return Error{errc::upstream_error,
                 label_of(impl_->settings) + "the caps offer neither search nor book search"};
  Result<ReleasePage> last = ReleasePage{};
  for (const auto& [t, params] : tiers) {
    last = impl_->feed(t, params, "t=" + t + " search", token);
    if (!last || !last->releases.empty()) return last;
  }
  return last;
}

// ---- paging -----------------------------------------------------------------------------------

std::string_view to_string(PagingStop stop) noexcept {
  switch (stop) {
    case PagingStop::running: return "running";
    case PagingStop::first_sync: return "first_sync";
    case PagingStop::not_full: return "not_full";
    case PagingStop::reached_mark: return "reached_mark";
    case PagingStop::gap: return "gap";
    case PagingStop::page_limit: return "page_limit";
  }
  return "unknown";
}

RssPager::RssPager(std::optional<HighWaterMark> mark, PagingOptions options)
    : mark_(std::move(mark)), options_(options) {
  options_.page_size = std::max(1, options_.page_size);
  options_.max_pages = std::max(1, options_.max_pages);
}

bool RssPager::at_or_before_mark(const Release& r) const {
  if (!mark_) return false;
  if (!mark_->guid.empty() && r.guid == mark_->guid) return true;
  if (!mark_->download_url.empty() && r.download_url == mark_->download_url) return true;
  // Strictly older: a release published in the same second as the mark may be new.
  return r.publish_date && *r.publish_date < mark_->publish_date;
}

bool RssPager::add_page(const std::vector<Release>& releases, int items) {
  if (done()) return false;
  ++pages_;
  // A feed lists newest first: from the mark on, everything was seen by the previous sync.
  for (const Release& r : releases) {
    if (at_or_before_mark(r)) {
      reached_ = true;
      break;
    }
    releases_.push_back(r);
  }
  if (!mark_)
    stop_ = PagingStop::first_sync;
  else if (reached_)
    stop_ = PagingStop::reached_mark;
  else if (items < options_.page_size)
    stop_ = PagingStop::not_full;
  else if (static_cast<int>(releases_.size()) >= options_.gap_threshold)
    stop_ = PagingStop::gap;
  else if (pages_ >= options_.max_pages)
    stop_ = PagingStop::page_limit;
  return !done();
}

bool RssPager::gap_possible() const noexcept {
  return mark_ && !reached_ && (stop_ == PagingStop::gap || stop_ == PagingStop::page_limit);
}

std::optional<HighWaterMark> RssPager::next_mark() const {
  const Release* newest = nullptr;
  for (const Release& r : releases_) {
    if (!r.publish_date) continue;
    if (!newest || *r.publish_date > *newest->publish_date) newest = &r;
  }
  if (!newest) return mark_;
  return HighWaterMark{newest->guid.str(), newest->download_url.str(), *newest->publish_date};
}

Result<RssFetch> fetch_rss(NewznabClient& client, std::optional<HighWaterMark> mark, PagingOptions options,
                           std::stop_token token) {
  auto caps = client.caps(token);
  if (!caps) return caps.error();
  options.page_size = std::min(options.page_size, caps->page_size());
  RssPager pager(std::move(mark), options);
  RssFetch out;
  while (!pager.done()) {
    auto page = client.rss_page(pager.next_offset(), pager.limit(), token);
    if (!page) return page.error();
    out.skipped.insert(out.skipped.end(), page->skipped.begin(), page->skipped.end());
    pager.add_page(*page);
  }
  out.releases = pager.releases();
  out.mark = pager.next_mark();
  out.stop = pager.stop_reason();
  out.gap_possible = pager.gap_possible();
  out.pages = pager.pages();
  return out;
}

}  // namespace shelfjobs

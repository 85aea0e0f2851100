// SPDX-License-Identifier: MIT
// The BookInfo v1 metadata client: HTTP through HttpClient, responses through MetadataCache,
// and the JSON mapping with Readarr's rules (BookInfoProxy.cs MapAuthor / MapBook / GetAuthorId).

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include <curl/curl.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "adapters/curl_util.hpp"
#include "adapters/http_client.hpp"
#include "adapters/metadata_cache.hpp"
#include "engine/hash.hpp"
#include "engine/text.hpp"
#include "shelfjobs/adapters/metadata.hpp"

namespace shelfjobs {

// ---- errors -----------------------------------------------------------------------------------

std::string_view to_string(MetadataErrc code) noexcept {
  switch (code) {
    case MetadataErrc::not_found: return "not_found";
    case MetadataErrc::not_ready: return "not_ready";
    case MetadataErrc::network: return "network";
    case MetadataErrc::timeout: return "timeout";
    case MetadataErrc::rate_limited: return "rate_limited";
    case MetadataErrc::invalid: return "invalid";
    case MetadataErrc::cancelled: return "cancelled";
  }
  return "unknown";
}

namespace {

// What the engine does with each failure (see metadata.hpp). A timeout is a network failure
// to the engine: ErrorKind::timeout means the job's own time limit ran out.
ErrorKind kind_of(MetadataErrc code) noexcept {
  switch (code) {
    case MetadataErrc::network:
    case MetadataErrc::timeout: return ErrorKind::network;
    case MetadataErrc::rate_limited:
    case MetadataErrc::not_ready: return ErrorKind::rate_limited;
    case MetadataErrc::cancelled: return ErrorKind::cancelled;
    case MetadataErrc::not_found:
    case MetadataErrc::invalid: break;
  }
  return ErrorKind::permanent;
}

errc errc_of(MetadataErrc code) noexcept {
  switch (code) {
    case MetadataErrc::not_found: return errc::not_found;
    case MetadataErrc::network:
    case MetadataErrc::timeout:
    case MetadataErrc::not_ready: return errc::unavailable;
    case MetadataErrc::rate_limited: return errc::rate_limited;
    case MetadataErrc::cancelled: return errc::shutting_down;
    case MetadataErrc::invalid: break;
  }
  return errc::upstream_error;
}

}  // namespace

Error to_error(const MetadataError& e) {
  return Error{errc_of(e.code()), std::string("metadata source: ") + e.what(), e.retry_after()};
}

MetadataError::MetadataError(MetadataErrc code, const std::string& what, int http_status,
                             std::optional<TimePoint> retry_after)
    : JobError(kind_of(code), what, retry_after), code_(code), http_status_(http_status) {}

// ---- mapping ----------------------------------------------------------------------------------

namespace {

using nlohmann::json;

// Dates: BookInfo sends ISO 8601 timestamps ("2021-05-04T00:00:00Z"); some servers send bare
// dates. Only the calendar date is kept. Anything else is treated as unknown rather than as a
// broken body: a bad date on one edition must not cost the whole author.
std::optional<Date> parse_date(std::string_view s) {
  if (s.size() < 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  if (s.size() > 10 && s[10] != 'T' && s[10] != ' ') return std::nullopt;
  auto num = [&](std::size_t pos, std::size_t len, int& out) {
    const char* b = s.data() + pos;
    const char* e = b + len;
    auto [p, ec] = std::from_chars(b, e, out);
    return ec == std::errc() && p == e;
  };
  int y = 0, m = 0, d = 0;
  if (!num(0, 4, y) || !num(5, 2, m) || !num(8, 2, d)) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(static_cast<unsigned>(m)),
                                        std::chrono::day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return std::nullopt;
  return Date(ymd);
}

std::string format_date(Date d) {
  const std::chrono::year_month_day ymd(d);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

// Reads BookInfo JSON. Every failure names the resource (`label`, such as "author 1001") and
// the field's path in the body, so a broken answer can be found in the server's output.
class Reader {
 public:
  explicit Reader(std::string label) : label_(std::move(label)) {}
  const std::string& label() const { return label_; }

  [[noreturn]] void fail(const std::string& reason) const {
    throw MetadataError(MetadataErrc::invalid, label_ + ": " + reason);
  }

  json parse(std::string_view body) const {
    try {
      return json::parse(body);
    } catch (const json::parse_error& e) {
      fail("malformed JSON at byte " + std::to_string(e.byte));
    } catch (const json::exception&) {
      // out_of_range: a number beyond a double's range (1e400), which the parser refuses.
      fail("malformed JSON: a number out of range");
    }
  }

  static std::string path(const std::string& where, std::string_view key) {
    return where.empty() ? std::string(key) : where + "." + std::string(key);
  }

  // The member `key`, or null when absent or null.
  static const json* member(const json& obj, const char* key) {
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
  }

  // Ids are ints in BookInfo, strings elsewhere; both become strings. Absent: "".
  std::string id(const json& obj, const char* key, const std::string& where) const {
    const json* v = member(obj, key);
    if (!v) return {};
    if (v->is_number_unsigned()) return std::to_string(v->get<std::uint64_t>());
    if (v->is_number_integer()) return std::to_string(v->get<std::int64_t>());
    if (v->is_string()) return v->get<std::string>();
    fail(path(where, key) + ": expected an id (integer or string)");
  }

  std::string str(const json& obj, const char* key, const std::string& where) const {
    const json* v = member(obj, key);
    if (!v) return {};
    if (!v->is_string()) fail(path(where, key) + ": expected a string");
    return v->get<std::string>();
  }

  std::int64_t integer(const json& obj, const char* key, const std::string& where) const {
    const json* v = member(obj, key);
    if (!v) return 0;
    if (v->is_number_integer() || v->is_number_unsigned()) {
      if (v->is_number_unsigned() &&
          v->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        fail(path(where, key) + ": out of range");
      return v->get<std::int64_t>();
    }
    if (v->is_number_float()) {
      const double d = v->get<double>();
      if (!std::isfinite(d) || std::abs(d) > 9e18) fail(path(where, key) + ": out of range");
      return static_cast<std::int64_t>(d);
    }
    fail(path(where, key) + ": expected a number");
  }

  int small_int(const json& obj, const char* key, const std::string& where) const {
    const std::int64_t v = integer(obj, key, where);
    if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
      fail(path(where, key) + ": out of range");
    return static_cast<int>(v);
  }

  double number(const json& obj, const char* key, const std::string& where) const {
    const json* v = member(obj, key);
    if (!v) return 0;
    if (!v->is_number()) fail(path(where, key) + ": expected a number");
    const double d = v->get<double>();
    if (!std::isfinite(d)) fail(path(where, key) + ": not a finite number");
    return d;
  }

  bool boolean(const json& obj, const char* key, const std::string& where) const {
    const json* v = member(obj, key);
    if (!v) return false;
    if (!v->is_boolean()) fail(path(where, key) + ": expected true or false");
    return v->get<bool>();
  }

  std::optional<Date> date(const json& obj, const char* key) const {
    const json* v = member(obj, key);
    if (!v || !v->is_string()) return std::nullopt;
    return parse_date(v->get_ref<const std::string&>());
  }

  // An array member, or null when absent or null.
  const json* array(const json& obj, const char* key, const std::string& where) const {
    const json* v = member(obj, key);
    if (!v) return nullptr;
    if (!v->is_array()) fail(path(where, key) + ": expected an array");
    return v;
  }

  void require_object(const json& v, const std::string& where) const {
    if (!v.is_object()) fail((where.empty() ? std::string("the body") : where) + ": expected an object");
  }

 private:
  std::string label_;
};

std::string at(const std::string& where, const char* key, std::size_t i) {
  return Reader::path(where, key) + "[" + std::to_string(i) + "]";
}

// A series as BookInfo sends it (on the author, or on a work from `GET work/{id}`).
struct SeriesIn {
  std::string id;
  std::string title;
  struct Link {
    std::string work_id;
    SeriesLinkData data;
  };
  std::vector<Link> links;
};

std::vector<SeriesIn> read_series(const Reader& r, const json& owner, const std::string& where) {
  std::vector<SeriesIn> out;
  const json* list = r.array(owner, "Series", where);
  if (!list) return out;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const json& s = (*list)[i];
    const std::string sw = at(where, "Series", i);
    r.require_object(s, sw);
    SeriesIn in;
    in.id = r.id(s, "ForeignId", sw);
    in.title = r.str(s, "Title", sw);
    if (const json* items = r.array(s, "LinkItems", sw)) {
      for (std::size_t k = 0; k < items->size(); ++k) {
        const json& l = (*items)[k];
        const std::string lw = at(sw, "LinkItems", k);
        r.require_object(l, lw);
        SeriesIn::Link link;
        link.work_id = r.id(l, "ForeignWorkId", lw);
        link.data.series_foreign_id = in.id;
        link.data.series_title = in.title;
        link.data.position = r.str(l, "PositionInSeries", lw);
        link.data.series_position = r.small_int(l, "SeriesPosition", lw);
        link.data.primary = r.boolean(l, "Primary", lw);
        in.links.push_back(std::move(link));
      }
    }
    out.push_back(std::move(in));
  }
  return out;
}

// Adds the links of `series` that name `work`, at most one per series.
void attach_series(WorkData& work, const std::vector<SeriesIn>& series) {
  for (const auto& s : series)
    for (const auto& l : s.links) {
      if (l.work_id != work.foreign_id) continue;
      const bool known = std::any_of(work.series.begin(), work.series.end(),
                                     [&](const SeriesLinkData& x) { return x.series_foreign_id == s.id; });
      if (!known) work.series.push_back(l.data);
    }
}

EditionData read_edition(const Reader& r, const json& b, const std::string& where) {
  r.require_object(b, where);
  EditionData e;
  e.foreign_id = r.id(b, "ForeignId", where);
  e.title = r.str(b, "Title", where);
  e.isbn13 = r.str(b, "Isbn13", where);
  e.asin = r.str(b, "Asin", where);
  e.language = r.str(b, "Language", where);
  e.format = r.str(b, "Format", where);
  e.publisher = r.str(b, "Publisher", where);
  e.is_ebook = r.boolean(b, "IsEbook", where);
  e.pages = r.small_int(b, "NumPages", where);
  e.release_date = r.date(b, "ReleaseDate");
  e.rating_count = r.integer(b, "RatingCount", where);
  e.average_rating = r.number(b, "AverageRating", where);
  if (const json* cs = r.array(b, "Contributors", where)) {
    for (std::size_t i = 0; i < cs->size(); ++i) {
      const std::string cw = at(where, "Contributors", i);
      r.require_object((*cs)[i], cw);
      e.contributor_ids.push_back(r.id((*cs)[i], "ForeignId", cw));
    }
  }
  return e;
}

// A work with the per-work rules applied: the most popular edition (highest RatingCount *
// AverageRating, the first on a tie) is monitored, and a missing release date comes from the
// earliest edition. Returns the work's author id: that edition's first contributor ("" when
// there is none), which decides whom the work belongs to.
std::string read_work(const Reader& r, const json& w, const std::string& where, WorkData& out) {
  r.require_object(w, where);
  out.foreign_id = r.id(w, "ForeignId", where);
  out.title = r.str(w, "Title", where);
  out.release_date = r.date(w, "ReleaseDate");
  if (const json* gs = r.array(w, "Genres", where)) {
    for (std::size_t i = 0; i < gs->size(); ++i) {
      if (!(*gs)[i].is_string()) r.fail(at(where, "Genres", i) + ": expected a string");
      out.genres.push_back((*gs)[i].get<std::string>());
    }
  }
  if (const json* bs = r.array(w, "Books", where))
    for (std::size_t i = 0; i < bs->size(); ++i)
      out.editions.push_back(read_edition(r, (*bs)[i], at(where, "Books", i)));

  std::string author_id;
  if (!out.editions.empty()) {
    std::size_t best = 0;
    double best_score = -std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < out.editions.size(); ++i) {
      const auto& e = out.editions[i];
      const double score = static_cast<double>(e.rating_count) * e.average_rating;
      if (score > best_score) {  // strictly greater: the first edition wins a tie
        best = i;
        best_score = score;
      }
    }
    out.editions[best].monitored = true;
    if (!out.editions[best].contributor_ids.empty()) author_id = out.editions[best].contributor_ids.front();
  }
  if (!out.release_date) {
    for (const auto& e : out.editions)
      if (e.release_date && (!out.release_date || *e.release_date < *out.release_date))
        out.release_date = e.release_date;
  }
  return author_id;
}

// Readarr keeps a work only if its id is a positive integer.
bool positive_id(const std::string& id) {
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), v);
  return ec == std::errc() && p == id.data() + id.size() && v > 0;
}

// ---- content hashes -----------------------------------------------------------------------------

// The hashes cover the mapped data, serialised canonically (nlohmann's objects keep keys
// sorted), so that key order, whitespace and fields the mapping ignores do not change them.

json canonical(const EditionData& e) {
  return {
      {"id", e.foreign_id},        {"title", e.title},
      {"isbn13", e.isbn13},        {"asin", e.asin},
      {"language", e.language},    {"format", e.format},
      {"publisher", e.publisher},  {"ebook", e.is_ebook},
      {"pages", e.pages},          {"released", e.release_date ? json(format_date(*e.release_date)) : json()},
      {"ratings", e.rating_count}, {"rating", e.average_rating},
      {"monitored", e.monitored},  {"contributors", e.contributor_ids}};
}

// The work's authors are left out: `GET author/{id}` does not send them and `GET work/{id}`
// does, and the same work must hash the same either way.
json canonical(const WorkData& w) {
  json editions = json::array();
  for (const auto& e : w.editions) editions.push_back(canonical(e));
  json series = json::array();
  for (const auto& s : w.series)
    series.push_back({{"id", s.series_foreign_id},
                      {"title", s.series_title},
                      {"position", s.position},
                      {"seriesPosition", s.series_position},
                      {"primary", s.primary}});
  return {{"id", w.foreign_id},
          {"title", w.title},
          {"released", w.release_date ? json(format_date(*w.release_date)) : json()},
          {"genres", w.genres},
          {"editions", std::move(editions)},
          {"series", std::move(series)}};
}

std::string hash_of(const json& j) { return detail::fnv1a_hex(detail::json_text(j)); }

// The author's works enter sorted by id: the order a server lists them in carries no meaning.
std::string author_hash(const AuthorData& a) {
  std::vector<const WorkData*> works;
  for (const auto& w : a.works) works.push_back(&w);
  std::sort(works.begin(), works.end(),
            [](const WorkData* x, const WorkData* y) { return x->foreign_id < y->foreign_id; });
  json ws = json::array();
  for (const auto* w : works) ws.push_back(canonical(*w));
  return hash_of(
      {{"id", a.foreign_id},
       {"name", a.name},
       {"overview", a.overview},
       {"status",
        a.status ? json(std::string(*a.status == AuthorStatus::ended ? "ended" : "continuing")) : json()},
       {"works", std::move(ws)}});
}

std::optional<AuthorStatus> read_status(const Reader& r, const json& j) {
  const std::string s = detail::ascii_lower(r.str(j, "Status", ""));
  if (s == "continuing") return AuthorStatus::continuing;
  if (s == "ended") return AuthorStatus::ended;
  return std::nullopt;
}

AuthorData map_author(std::string_view body, const std::string& label) {
  const Reader r(label);
  const json j = r.parse(body);
  r.require_object(j, "");
  AuthorData a;
  a.foreign_id = r.id(j, "ForeignId", "");
  if (a.foreign_id.empty()) r.fail("missing ForeignId");
  a.name = r.str(j, "Name", "");
  if (a.name.empty()) r.fail("missing Name");
  a.overview = r.str(j, "Description", "");
  a.status = read_status(r, j);

  const auto works_it = j.find("Works");
  if (works_it == j.end()) r.fail("missing Works");
  // rreading-glasses answers `Works: null` while it loads a large author in the background.
  if (works_it->is_null())
    throw MetadataError(MetadataErrc::not_ready,
                        label + ": the server is still loading the author (Works is null)");
  if (!works_it->is_array()) r.fail("Works: expected an array");

  const std::vector<SeriesIn> series = read_series(r, j, "");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < works_it->size(); ++i) {
    const std::string where = at("", "Works", i);
    WorkData w;
    const std::string owner = read_work(r, (*works_it)[i], where, w);
    // Readarr's rule: a work belongs to the author its most popular edition's first
    // contributor names; others (anthologies, translations listed under a co-author) go.
    if (!positive_id(w.foreign_id) || owner != a.foreign_id) continue;
    if (!seen.insert(w.foreign_id).second) continue;
    if (w.title.empty()) r.fail("work " + w.foreign_id + ": missing Title");
    attach_series(w, read_series(r, (*works_it)[i], where));
    attach_series(w, series);
    w.hash = hash_of(canonical(w));
    a.works.push_back(std::move(w));
  }
  a.hash = author_hash(a);
  return a;
}

WorkData map_work(std::string_view body, const std::string& label) {
  const Reader r(label);
  const json j = r.parse(body);
  r.require_object(j, "");
  WorkData w;
  const std::string owner = read_work(r, j, "", w);
  if (w.foreign_id.empty()) r.fail("missing ForeignId");
  if (w.title.empty()) r.fail("missing Title");
  if (!r.array(j, "Books", "")) r.fail("missing Books");
  const json* authors = r.array(j, "Authors", "");
  if (!authors || authors->empty()) r.fail("missing Authors");
  for (std::size_t i = 0; i < authors->size(); ++i) {
    const std::string aw = at("", "Authors", i);
    r.require_object((*authors)[i], aw);
    AuthorRef ref{r.id((*authors)[i], "ForeignId", aw), r.str((*authors)[i], "Name", aw)};
    if (ref.foreign_id.empty()) r.fail(aw + ": missing ForeignId");
    w.authors.push_back(std::move(ref));
  }
  // The owning author (as the most popular edition says) first, the others in the server's order.
  std::stable_partition(w.authors.begin(), w.authors.end(),
                        [&](const AuthorRef& x) { return x.foreign_id == owner; });
  attach_series(w, read_series(r, j, ""));
  w.hash = hash_of(canonical(w));
  return w;
}

}  // namespace

AuthorData parse_bookinfo_author(std::string_view body) { return map_author(body, "author"); }

WorkData parse_bookinfo_work(std::string_view body) { return map_work(body, "work"); }

namespace {
std::vector<SearchHit> map_search(std::string_view body, const std::string& label) {
  const Reader r(label);
  const json j = r.parse(body);
  if (!j.is_array()) r.fail("expected an array of hits");
  std::vector<SearchHit> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const json& hit = j[i];
    const std::string where = "[" + std::to_string(i) + "]";
    if (!hit.is_object()) r.fail(where + ": expected an object");
    SearchHit h;
    h.work_foreign_id = r.id(hit, "workId", where);
    h.edition_foreign_id = r.id(hit, "bookId", where);
    if (const json* a = Reader::member(hit, "author")) {
      if (!a->is_object()) r.fail(where + ".author: expected an object");
      h.author_foreign_id = r.id(*a, "id", where + ".author");
    }
    // A hit that names no work or no author cannot be followed; Readarr skips those too.
    if (h.work_foreign_id.empty() || h.author_foreign_id.empty()) continue;
    out.push_back(std::move(h));
  }
  return out;
}
}  // namespace

std::vector<SearchHit> parse_bookinfo_search(std::string_view body) { return map_search(body, "search"); }

// ---- the client -------------------------------------------------------------------------------

namespace {

using std::chrono::milliseconds;

std::string lower(std::string_view s) { return detail::ascii_lower(s); }

// The last two segments of a redirect's path: ("author", "1001") for ".../author/1001?x=1".
std::pair<std::string, std::string> last_two_segments(const std::string& url) {
  const detail::UrlParts p = detail::split_url(url);
  if (!p.ok) return {};
  std::string path = p.path;
  while (!path.empty() && path.back() == '/') path.pop_back();
  const auto slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return {};
  const auto prev = path.rfind('/', slash - 1);
  const std::size_t start = prev == std::string::npos ? 0 : prev + 1;
  return {path.substr(start, slash - start), path.substr(slash + 1)};
}

// Ids go into URL paths: escape them so an odd id cannot change the route.
std::string escape(std::string_view id) {
  char* e = curl_easy_escape(nullptr, id.data(), static_cast<int>(id.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

// Missing or unreadable: 60 s, a polite default for a server that asked us to slow down without
// saying how much. Seconds beyond a day are no useful instruction.
TimePoint retry_after_time(std::string_view v, TimePoint now) {
  return detail::parse_retry_after(v, now, std::chrono::hours(24)).value_or(now + std::chrono::seconds(60));
}

std::string excerpt(const std::string& body) {
  std::string line = body.substr(0, std::min<std::size_t>(body.find('\n'), 200));
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  return line;
}

struct Fetched {
  long status = 0;
  std::string body;
  std::string location;     // for a 3xx
  bool from_cache = false;  // the body came from the cache (fresh, or confirmed by a 304)
  std::string etag, last_modified;
};

class BookInfoSource final : public MetadataSource {
 public:
  BookInfoSource(BookInfoOptions o, std::string base, std::string rate_key,
                 std::unique_ptr<detail::MetadataCache> cache)
      : o_(std::move(o)),
        base_(std::move(base)),
        rate_key_(std::move(rate_key)),
        cache_(std::move(cache)),
        http_(detail::HttpClientOptions{.connect_timeout = o_.connect_timeout,
                                        .timeout = o_.timeout,
                                        .max_redirects = o_.max_redirects}) {}

  AuthorData author(std::string_view foreign_id, std::stop_token token, bool fresh) override {
    const std::string label = "author " + std::string(foreign_id);
    check_id(foreign_id, label);
    const std::string url = base_ + "author/" + escape(foreign_id);
    // Redirects are followed: a merged author answers 301 to its new id, and the body's
    // ForeignId then tells the caller about the merge.
    Fetched f = fetch(label, url, token, fresh, /*use_cache=*/true, /*follow=*/true);
    if (f.status != 200) unexpected(label, f);
    AuthorData a;
    try {
      a = map_author(f.body, label);
    } catch (const MetadataError& e) {
      if (e.code() == MetadataErrc::not_ready)
        throw MetadataError(MetadataErrc::not_ready, e.what(), 200, o_.clock->now() + o_.not_ready_delay);
      throw;
    }
    // Only a body that mapped is kept: an error, `Works: null` or a broken body never is.
    if (!f.from_cache) store(url, f);
    if (a.foreign_id != foreign_id)
      o_.logger->info("{}: the server answers as author {} (merged)", label, a.foreign_id);
    return a;
  }

  WorkData work(std::string_view foreign_id, std::stop_token token, bool fresh) override {
    const std::string label = "work " + std::string(foreign_id);
    check_id(foreign_id, label);
    std::string url = base_ + "work/" + escape(foreign_id);
    // Redirects are not followed by libcurl here: one to `author/{id}` means "take the work
    // from that author" (Readarr's BookInfoProxy does the same), which only the Location says.
    for (int hop = 0;; ++hop) {
      Fetched f = fetch(label, url, token, fresh, /*use_cache=*/true, /*follow=*/false);
      if (f.status >= 300 && f.status < 400) {
        const auto [kind, id] = last_two_segments(f.location);
        if (kind == "author" && !id.empty()) return work_from_author(label, foreign_id, id, token, fresh);
        if (hop >= o_.max_redirects)
          throw MetadataError(MetadataErrc::invalid,
                              label + ": more than " + std::to_string(o_.max_redirects) + " redirects",
                              static_cast<int>(f.status));
        url = f.location;
        continue;
      }
      if (f.status != 200) unexpected(label, f);
      WorkData w = map_work(f.body, label);
      if (!f.from_cache) store(url, f);
      return w;
    }
  }

  EditionLookup edition(std::string_view foreign_id, std::stop_token token) override {
    const std::string label = "book " + std::string(foreign_id);
    check_id(foreign_id, label);
    const std::string url = base_ + "book/" + escape(foreign_id);
    // Only the redirect matters, and it is cheap; nothing to cache.
    Fetched f = fetch(label, url, token, /*fresh=*/true, /*use_cache=*/false, /*follow=*/false);
    if (f.status < 300 || f.status >= 400)
      throw MetadataError(
          MetadataErrc::invalid,
          label + ": expected a redirect to author/{id} or work/{id}, got HTTP " + std::to_string(f.status),
          static_cast<int>(f.status));
    const auto [kind, id] = last_two_segments(f.location);
    EditionLookup out;
    if (kind == "author" && !id.empty())
      out.author_foreign_id = id;
    else if (kind == "work" && !id.empty())
      out.work_foreign_id = id;
    else
      throw MetadataError(
          MetadataErrc::invalid,
          label + ": the redirect to '" + f.location + "' names neither author/{id} nor work/{id}",
          static_cast<int>(f.status));
    return out;
  }

  std::vector<SearchHit> search(std::string_view query, std::stop_token token) override {
    const std::string label = "search \"" + std::string(query) + "\"";
    if (query.empty()) throw MetadataError(MetadataErrc::invalid, "search: the query is empty");
    const std::string url = base_ + "search?q=" + escape(query);
    Fetched f = fetch(label, url, token, /*fresh=*/false, /*use_cache=*/true, /*follow=*/true);
    if (f.status != 200) unexpected(label, f);
    std::vector<SearchHit> hits = map_search(f.body, label);
    if (!f.from_cache) store(url, f);
    return hits;
  }

  MetadataStats stats() const override {
    MetadataStats s;
    s.requests = requests_.load();
    s.cache_hits = cache_hits_.load();
    s.revalidated = revalidated_.load();
    s.bytes = bytes_.load();
    return s;
  }

 private:
  static void check_id(std::string_view id, const std::string& label) {
    if (id.empty()) throw MetadataError(MetadataErrc::invalid, label + ": the id is empty");
  }

  [[noreturn]] static void unexpected(const std::string& label, const Fetched& f) {
    throw MetadataError(MetadataErrc::invalid, label + ": unexpected HTTP " + std::to_string(f.status),
                        static_cast<int>(f.status));
  }

  WorkData work_from_author(const std::string& label, std::string_view work_id, const std::string& author_id,
                            std::stop_token token, bool fresh) {
    AuthorData a = author(author_id, token, fresh);
    for (auto& w : a.works) {
      if (w.foreign_id != work_id) continue;
      w.authors = {AuthorRef{a.foreign_id, a.name}};
      return std::move(w);
    }
    // Not a 404: the source still knows the work, the mapping rules just do not give it to this
    // author. A caller must not read it as "gone".
    throw MetadataError(MetadataErrc::invalid,
                        label + ": redirected to author " + a.foreign_id + ", whose works do not include it");
  }

  void store(const std::string& url, const Fetched& f) {
    const TimePoint now = o_.clock->now();
    cache_->put(url, detail::CacheEntry{f.body, f.etag, f.last_modified, now, now + o_.cache_ttl});
  }

  TimePoint deferred_until() {
    std::lock_guard lock(mu_);
    return deferred_until_;
  }

  void defer(TimePoint t) {
    {
      std::lock_guard lock(mu_);
      deferred_until_ = std::max(deferred_until_, t);
    }
    // Other users of a shared limiter (another source for the same host) wait as well.
    o_.rate_limiter->defer_until(rate_key_, t);
  }

  // One GET through the cache and the rate limiter. Returns 200s (from the network or the
  // cache) and, when not following, 3xx answers; throws MetadataError for everything else.
  Fetched fetch(const std::string& label, const std::string& url, std::stop_token token, bool fresh,
                bool use_cache, bool follow) {
    std::optional<detail::CacheEntry> entry;
    if (use_cache) {
      entry = cache_->get(url);
      if (entry && !fresh && o_.clock->now() < entry->expires_at) {
        ++cache_hits_;
        Fetched f;
        f.status = 200;
        f.body = std::move(entry->body);
        f.from_cache = true;
        return f;
      }
    }
    if (token.stop_requested()) throw MetadataError(MetadataErrc::cancelled, label + ": cancelled");
    // After a 429 the server named a time; asking again before it would only earn another.
    if (const TimePoint until = deferred_until(); o_.clock->now() < until)
      throw MetadataError(MetadataErrc::rate_limited, label + ": the server asked to wait (HTTP 429)", 429,
                          until);
    if (!o_.rate_limiter->acquire(rate_key_, token))
      throw MetadataError(MetadataErrc::cancelled, label + ": cancelled");

    detail::HttpRequest req;
    req.url = url;
    req.follow_redirects = follow;
    if (entry) {
      if (!entry->etag.empty()) req.headers.emplace_back("If-None-Match", entry->etag);
      if (!entry->last_modified.empty()) req.headers.emplace_back("If-Modified-Since", entry->last_modified);
    }
    detail::HttpResponse res = http_.get(req, token);
    ++requests_;
    bytes_ += static_cast<std::int64_t>(res.body.size());

    switch (res.error) {
      case detail::TransportError::none: break;
      case detail::TransportError::timeout:
        throw MetadataError(MetadataErrc::timeout, label + ": no answer in time (" + res.error_message + ")");
      case detail::TransportError::cancelled:
        throw MetadataError(MetadataErrc::cancelled, label + ": cancelled");
      case detail::TransportError::invalid:
        throw MetadataError(MetadataErrc::invalid, label + ": " + res.error_message);
      case detail::TransportError::connection:
      case detail::TransportError::tls:
      case detail::TransportError::other:
        throw MetadataError(MetadataErrc::network, label + ": " + res.error_message);
    }

    const long st = res.status;
    const int status = static_cast<int>(st);
    Fetched f;
    f.status = st;
    if (st == 304) {
      if (!entry)
        throw MetadataError(MetadataErrc::invalid, label + ": HTTP 304 to a request that was not conditional",
                            304);
      const TimePoint now = o_.clock->now();
      cache_->renew(url, now, now + o_.cache_ttl);
      ++revalidated_;
      f.status = 200;
      f.body = std::move(entry->body);
      f.from_cache = true;
      return f;
    }
    if (st >= 200 && st < 300) {
      if (st != 200)
        throw MetadataError(MetadataErrc::invalid, label + ": unexpected HTTP " + std::to_string(st), status);
      f.body = std::move(res.body);
      f.etag = std::move(res.etag);
      f.last_modified = std::move(res.last_modified);
      return f;
    }
    if (st >= 300 && st < 400) {
      if (follow || res.location.empty())
        throw MetadataError(MetadataErrc::invalid,
                            label + ": HTTP " + std::to_string(st) + " without a redirect to follow", status);
      f.location = std::move(res.location);
      return f;
    }
    const std::string text = excerpt(res.body);
    const std::string said = text.empty() ? std::string() : " (" + text + ")";
    if (st == 429) {
      const TimePoint now = o_.clock->now();
      const TimePoint until = retry_after_time(res.retry_after, now);
      defer(until);
      const auto secs = std::chrono::duration_cast<std::chrono::seconds>(until - now).count();
      throw MetadataError(MetadataErrc::rate_limited,
                          label + ": HTTP 429, retry after " + std::to_string(secs) + " s", status, until);
    }
    if (st == 404) throw MetadataError(MetadataErrc::not_found, label + ": not found (HTTP 404)", status);
    if (st >= 500)
      throw MetadataError(MetadataErrc::network, label + ": HTTP " + std::to_string(st) + said, status);
    throw MetadataError(MetadataErrc::invalid, label + ": HTTP " + std::to_string(st) + said, status);
  }

  BookInfoOptions o_;
  std::string base_;
  std::string rate_key_;
  std::unique_ptr<detail::MetadataCache> cache_;
  detail::HttpClient http_;
  std::mutex mu_;
  TimePoint deferred_until_{};
  std::atomic<std::int64_t> requests_{0}, cache_hits_{0}, revalidated_{0}, bytes_{0};
};

}  // namespace

Result<std::shared_ptr<MetadataSource>> make_bookinfo_source(BookInfoOptions options) {
  auto invalid = [](std::string msg) { return Error{errc::invalid_argument, "bookinfo: " + std::move(msg)}; };
  if (options.base_url.empty()) return invalid("base_url is required");
  detail::init_curl_once();
  const detail::UrlParts p = detail::split_url(options.base_url);
  const std::string scheme = lower(p.scheme);
  // libcurl reads "http:///v1/" as host "v1"; a base URL must spell its host out.
  const auto authority = options.base_url.find("://");
  const bool spelled_host = authority != std::string::npos && authority + 3 < options.base_url.size() &&
                            options.base_url[authority + 3] != '/';
  if (!p.ok || (scheme != "http" && scheme != "https") || p.host.empty() || !spelled_host)
    return invalid("base_url '" + options.base_url + "' is not an http(s) URL with a host");
  if (!p.query.empty() || !p.fragment.empty())
    return invalid("base_url '" + options.base_url + "' must not carry a query or fragment");
  if (options.connect_timeout.count() <= 0) return invalid("connect_timeout must be greater than 0");
  if (options.timeout.count() <= 0) return invalid("timeout must be greater than 0");
  if (options.max_redirects < 0) return invalid("max_redirects must not be negative");
  if (options.cache_ttl.count() < 0) return invalid("cache_ttl must not be negative");
  if (options.not_ready_delay.count() < 0) return invalid("not_ready_delay must not be negative");

  // Routes are resolved relative to the base, so it must end in '/'.
  std::string base = options.base_url;
  if (base.back() != '/') base += '/';
  if (!options.clock) options.clock = std::make_shared<SystemClock>();
  if (!options.logger)
    options.logger =
        std::make_shared<spdlog::logger>("bookinfo", std::make_shared<spdlog::sinks::null_sink_mt>());
  if (!options.rate_limiter) options.rate_limiter = std::make_shared<RateLimiter>(options.clock);
  const std::string key = "metadata:" + lower(p.host);
  if (Status s = options.rate_limiter->configure(key, options.rate_limit); !s)
    return invalid("rate_limit: " + s.error().message);

  auto cache = detail::MetadataCache::open(options.cache_path, options.logger);
  if (!cache) return cache.error();
  return std::shared_ptr<MetadataSource>(
      std::make_shared<BookInfoSource>(std::move(options), std::move(base), key, std::move(*cache)));
}

}  // namespace shelfjobs

// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Newznab and Torznab indexers: the capabilities (`t=caps`), RSS pages and searches over HTTP,
/// the pure parsers of their XML, and the RSS paging rule with its high-water mark.
///
/// Formats and behaviour: docs/indexers.md (as Readarr's NewznabRssParser, TorznabRssParser,
/// NewznabRequestGenerator and HttpIndexerBase.FetchReleases read and page them).
///
/// Errors are values (`Result<T>`, engine/error.hpp); nothing here throws for an indexer's
/// failure. Every message starts with "indexer <name>: " and names the cause:
///   - `<error code description>` with code 100-199 (bad API key, account suspended, insufficient
///     privileges)                                  -> errc::invalid_argument (permanent: the
///                                                     settings must change; message "API key ...")
///   - `<error>` whose description says "Request limit reached", or code 429, or HTTP 429
///                                                  -> errc::rate_limited; retry_after from
///                                                     Retry-After (seconds or an HTTP date),
///                                                     else now + 1 h
///   - any other `<error>` (missing parameter, function not available, 900 ...)
///                                                  -> errc::upstream_error with code and text
///   - an HTML body (a proxy, Cloudflare, a login page)  -> errc::upstream_error, "blocked"
///   - timeout, refused connection, unresolvable host, HTTP 5xx
///                                                  -> errc::unavailable (worth trying later)
///   - malformed or truncated XML, an unexpected root element, other HTTP 4xx
///                                                  -> errc::upstream_error, with pugixml's
///                                                     reason and byte offset
///   - the stop token fired                         -> errc::cancelled
/// The body is read before the status is trusted (nZEDb answers errors with HTTP 202, Prowlarr
/// its limits with 429 and an `<error>` body). `indexer_error_kind` maps an error to the
/// engine's ErrorKind for a job that fails with it.
///
/// Item-level problems never fail a page: an item without a title or a download URL, or with a
/// size that is not a number of bytes in range (99999999999999999999), is left out and named in
/// `ReleasePage::skipped`; another unreadable number (seeders, grabs ...) is left unset, and text
/// that is not UTF-8 is repaired (U+FFFD), each noted in `ReleasePage::warnings`.
///
/// Thread-safety: the parse functions are pure; `NewznabClient` may be called from several
/// threads at once; an `RssPager` belongs to one sync.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shelfjobs/engine/clock.hpp"
#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/job.hpp"

namespace shelfjobs {

enum class IndexerKind { newznab, torznab };
std::string_view to_string(IndexerKind kind) noexcept;

/// One indexer's settings (Readarr's NewznabSettings / TorznabSettings).
struct IndexerSettings {
  std::string name = "indexer";  ///< for messages ("indexer <name>: ...")
  IndexerKind kind = IndexerKind::newznab;
  std::string base_url;  ///< "https://indexer.example" (a trailing '/' is dropped). Required.
  std::string api_path = "/api";
  std::string api_key;                            ///< sent as `apikey=`; empty: not sent
  std::vector<int> categories{3030, 7020, 8010};  ///< Audio/Audiobook, Books/EBook, Other/Misc
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds timeout{std::chrono::seconds(100)};  ///< whole request (Readarr: 100 s)
  /// How long a successful `caps()` answer is reused (Readarr: 7 days).
  std::chrono::seconds caps_ttl{std::chrono::hours(24 * 7)};
  std::shared_ptr<Clock> clock;  ///< caps age and retry times; null: the system clock
  /// Called before each request to the indexer (caps, every page, every search tier) on the
  /// calling thread; it may wait (the acquisition service spaces requests through the rate
  /// limiter here). Returning false cancels the request (errc::cancelled). Null: none.
  std::function<bool(std::stop_token)> before_request;
};

struct IndexerCategory {
  int id = 0;
  std::string name;
  std::vector<IndexerCategory> subcategories;
};

/// What `t=caps` says the indexer can do.
struct IndexerCaps {
  bool search_available = true;
  std::vector<std::string> search_params{"q"};  ///< lower-case
  /// Book search (`t=book`): false when the `<book-search>` element is missing or says no.
  bool book_search_available = false;
  std::vector<std::string> book_search_params;  ///< lower-case: "q", "author", "title"
  int limit_max = 100;                          ///< `<limits max>`; 100 when absent
  int limit_default = 100;                      ///< `<limits default>`; 100 when absent
  std::vector<IndexerCategory> categories;

  /// Items asked per page: min(100, max(default, max)) as Readarr does.
  int page_size() const noexcept;
  bool book_search_supports(std::string_view param) const;
  /// t=book with author and title: book search available with both params.
  bool can_search_author_title() const;
};

/// Text of a release: a view of the feed page the release was read from, or text of its own.
///
/// Ownership and lifetime. `parse_releases` does not copy a release's text: every text field of
/// a release it returns views the page's text (the body as parsed, escapes resolved), which the
/// page (`ReleasePage::text`) and every release read from it (`Release::page_text`) keep alive
/// together, shared. A Release is therefore safe to keep, copy, move and hand to another thread
/// for as long as one likes: its copies carry `page_text` along, and the page's text goes when
/// the last of them goes. What is not safe is a ReleaseText taken out of its Release on its own
/// (`auto t = release.title;`, or assigned to a field of another Release that has no
/// `page_text` of that page): like a std::string_view, such a copy is valid only while the
/// release (or another holder of its page's text) lives; use `str()` to keep the text longer.
/// Text assigned from a std::string, a std::string_view or a literal is copied and owned by the
/// ReleaseText (`owned()`); copying an owned ReleaseText copies its bytes. What is stored (the
/// history, the blocklist, pending releases, tracked downloads) is a ReleaseRecord, which owns
/// its strings (`ReleaseDecision::record()`).
///
/// Always UTF-8; not necessarily NUL-terminated (use `str()` for a C string).
class ReleaseText {
 public:
  ReleaseText() noexcept = default;
  /// Copies `text` (owned).
  ReleaseText(std::string_view text) { assign_owned(text); }                     // NOLINT: implicit by design
  ReleaseText(const std::string& text) : ReleaseText(std::string_view(text)) {}  // NOLINT
  ReleaseText(const char* text) : ReleaseText(std::string_view(text)) {}         // NOLINT
  /// A view of text that someone else keeps alive (see above); nothing is copied.
  static ReleaseText view_of(std::string_view text) noexcept {
    ReleaseText t;
    t.data_ = text.data();
    t.bits_ = text.size();
    return t;
  }
  /// A view stays a view of the same bytes; owned text is copied.
  ReleaseText(const ReleaseText& other) {
    if (other.owned())
      assign_owned(other.view());
    else
      data_ = other.data_, bits_ = other.bits_;
  }
  ReleaseText(ReleaseText&& other) noexcept : data_(other.data_), bits_(other.bits_) {
    other.data_ = nullptr;
    other.bits_ = 0;
  }
  ReleaseText& operator=(const ReleaseText& other) {
    if (this != &other) *this = ReleaseText(other);
    return *this;
  }
  ReleaseText& operator=(ReleaseText&& other) noexcept {
    if (this != &other) {
      release_owned();
      data_ = other.data_;
      bits_ = other.bits_;
      other.data_ = nullptr;
      other.bits_ = 0;
    }
    return *this;
  }
  ~ReleaseText() { release_owned(); }

  std::string_view view() const noexcept { return {data_, size()}; }
  operator std::string_view() const noexcept { return view(); }  // NOLINT: implicit by design
  /// An owned copy of the text.
  std::string str() const { return std::string(view()); }
  const char* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return bits_ & ~kOwnedBit; }
  bool empty() const noexcept { return size() == 0; }
  /// True when the text is the ReleaseText's own (assigned, or repaired by the parser); false
  /// for a view of a page's text (and for empty text).
  bool owned() const noexcept { return (bits_ & kOwnedBit) != 0; }

  friend bool operator==(const ReleaseText& a, std::string_view b) noexcept { return a.view() == b; }
  /// Concatenation makes an owned std::string, as with std::string.
  friend std::string operator+(std::string a, const ReleaseText& b) { return a.append(b.view()); }
  friend std::string operator+(const ReleaseText& a, std::string_view b) { return a.str().append(b); }

 private:
  void assign_owned(std::string_view text);
  void release_owned() noexcept {
    if (owned()) free_owned();
  }
  void free_owned() noexcept;

  // The size, and in the top bit whether the bytes are owned: a ReleaseText is two words (a
  // release has ten, moved by the thousand on every sync).
  static constexpr std::size_t kOwnedBit = ~(~std::size_t{0} >> 1);
  const char* data_ = nullptr;
  std::size_t bits_ = 0;
};
/// Writes the text (for tests' messages and logs).
std::ostream& operator<<(std::ostream& out, const ReleaseText& text);

/// A release's Newznab category numbers, in order: a list with room for four inline (an item
/// names one or two, as a `<category>` and a category attr), so that reading a feed allocates
/// no list per release; a fifth moves them to the heap.
///
/// Ownership: a value (copies copy the numbers). Iterators are pointers, invalidated by a change
/// of the list. Compares equal to a std::vector<int> of the same numbers. Thread-safety: as a
/// std::vector.
class ReleaseCategories {
 public:
  using value_type = int;
  using iterator = int*;
  using const_iterator = const int*;
  using size_type = std::size_t;

  ReleaseCategories() noexcept = default;
  ReleaseCategories(std::initializer_list<int> list) { assign(list.begin(), list.size()); }
  ReleaseCategories(const std::vector<int>& list) { assign(list.data(), list.size()); }  // NOLINT: implicit
  ReleaseCategories(const ReleaseCategories& other) { assign(other.data(), other.size_); }
  ReleaseCategories(ReleaseCategories&& other) noexcept { take(other); }
  ReleaseCategories& operator=(const ReleaseCategories& other) {
    if (this != &other) assign(other.data(), other.size_);
    return *this;
  }
  ReleaseCategories& operator=(ReleaseCategories&& other) noexcept {
    if (this != &other) {
      delete[] heap_;
      heap_ = nullptr;
      take(other);
    }
    return *this;
  }
  ReleaseCategories& operator=(std::initializer_list<int> list) {
    assign(list.begin(), list.size());
    return *this;
  }
  ReleaseCategories& operator=(const std::vector<int>& list) {
    assign(list.data(), list.size());
    return *this;
  }
  ~ReleaseCategories() { delete[] heap_; }

  void push_back(int category) {
    if (size_ == capacity_) grow(2 * capacity_);
    data()[size_++] = category;
  }
  /// Keeps the first `n` (n <= size()).
  void truncate(std::size_t n) noexcept { size_ = n < size_ ? static_cast<std::uint32_t>(n) : size_; }
  void clear() noexcept { size_ = 0; }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  int* data() noexcept { return heap_ != nullptr ? heap_ : inline_; }
  const int* data() const noexcept { return heap_ != nullptr ? heap_ : inline_; }
  iterator begin() noexcept { return data(); }
  iterator end() noexcept { return data() + size_; }
  const_iterator begin() const noexcept { return data(); }
  const_iterator end() const noexcept { return data() + size_; }
  int operator[](std::size_t i) const noexcept { return data()[i]; }
  int front() const noexcept { return data()[0]; }
  int back() const noexcept { return data()[size_ - 1]; }
  std::vector<int> vector() const { return std::vector<int>(begin(), end()); }

  friend bool operator==(const ReleaseCategories& a, const ReleaseCategories& b) noexcept {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  friend bool operator==(const ReleaseCategories& a, const std::vector<int>& b) noexcept {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  static constexpr std::uint32_t kInline = 4;
  void assign(const int* from, std::size_t n) {
    if (n > capacity_) grow(static_cast<std::uint32_t>(n));
    std::copy(from, from + n, data());
    size_ = static_cast<std::uint32_t>(n);
  }
  void grow(std::uint32_t capacity) {
    int* bytes = new int[capacity];
    std::copy(begin(), end(), bytes);
    delete[] heap_;
    heap_ = bytes;
    capacity_ = capacity;
  }
  void take(ReleaseCategories& other) noexcept {
    if (other.heap_ != nullptr) {
      heap_ = other.heap_;
      capacity_ = other.capacity_;
    } else {
      std::copy(other.inline_, other.inline_ + other.size_, inline_);
      capacity_ = kInline;
    }
    size_ = other.size_;
    other.heap_ = nullptr;
    other.size_ = 0;
    other.capacity_ = kInline;
  }

  int inline_[kInline];  // the first size_ are read, when heap_ is null
  std::uint32_t size_ = 0, capacity_ = kInline;
  int* heap_ = nullptr;
};

/// One item of a feed. Text is UTF-8; see ReleaseText for what the text fields view and how
/// long. The lists (`categories`, `languages`, `tags`) are the release's own.
struct Release {
  ReleaseText title;
  ReleaseText guid;
  ReleaseText download_url;  ///< enclosure@url, else link
  ReleaseText info_url;      ///< comments (the indexer's page of the item)
  ReleaseText link;
  ReleaseText enclosure_type;  ///< "application/x-nzb", "application/x-bittorrent", ...
  /// usenetdate attr when present (Newznab), else pubDate; nullopt when neither reads as a date.
  std::optional<TimePoint> publish_date;
  std::int64_t size = 0;         ///< bytes: the size attr, else enclosure@length; 0 unknown
  ReleaseCategories categories;  ///< every category attr (and <category> number), in order
  std::optional<int> seeders;    ///< Torznab
  std::optional<int> peers;      ///< Torznab: peers, else seeders + leechers
  std::optional<int> grabs;
  std::optional<double> download_volume_factor;
  std::optional<double> upload_volume_factor;
  ReleaseText infohash;
  ReleaseText magnet_url;
  ReleaseText author;      ///< the author attr
  ReleaseText book_title;  ///< the booktitle attr
  std::vector<std::string> languages;
  std::vector<std::string> tags;  ///< Torznab `tag` attrs (internal, scene, ...)
  /// The text of the page this release was read from, which its text fields view: shared by the
  /// page and all its releases (and their copies), freed with the last of them. Null for a
  /// release whose text is all its own (one built by hand).
  std::shared_ptr<const void> page_text;
};

/// One parsed feed page.
struct ReleasePage {
  std::vector<Release> releases;  ///< in feed order; their text views `text` (see ReleaseText)
  int items = 0;  ///< `<item>`s in the feed, left-out ones included (the full-page test counts them)
  std::vector<std::string> skipped;           ///< one line per left-out item: "item 3 (title): reason"
  std::vector<std::string> warnings;          ///< repaired text, an enclosure type that does not fit the kind
  std::optional<std::int64_t> offset, total;  ///< `<newznab:response>` when present (not trusted for paging)
  /// The page's text as parsed (a copy of the body, escapes resolved): what the releases' text
  /// fields view. Each release holds it too (`Release::page_text`), so dropping the page while
  /// keeping some of its releases is safe.
  std::shared_ptr<const void> text;
};

/// Parses a `t=caps` body. Errors as in the file comment (`name` prefixes the messages).
Result<IndexerCaps> parse_caps(std::string_view xml, std::string_view name = "indexer",
                               TimePoint now = std::chrono::system_clock::now());
/// Parses an RSS/search body of either kind; attributes are found by their element's namespace
/// URI (`http://www.newznab.com/DTD/2010/feeds/attributes/` or `http://torznab.com/schemas/2015/feed`)
/// whatever its prefix, and attribute names case-insensitively. `now` dates a rate limit.
Result<ReleasePage> parse_releases(std::string_view xml, IndexerKind kind, std::string_view name = "indexer",
                                   TimePoint now = std::chrono::system_clock::now());
/// An RFC 822 / RFC 1123 date ("Tue, 04 Mar 2025 18:22:10 +0000", "... GMT", "-0500", the
/// weekday optional, two-digit years) as a time point; nullopt when unreadable.
std::optional<TimePoint> parse_rfc822_date(std::string_view text);

/// The engine's ErrorKind for a job that fails with `e`: rate_limited -> rate_limited,
/// unavailable -> network, cancelled -> cancelled, anything else -> permanent.
ErrorKind indexer_error_kind(const Error& e) noexcept;

/// True for an `unavailable` error whose request never reached the indexer (refused
/// connection, unresolvable host): Readarr's "connection failure", which does not escalate an
/// indexer's back-off. A timeout or a 5xx is not one.
bool is_connect_failure(const Error& e) noexcept;

/// A Newznab or Torznab indexer over HTTP (the adapters' libcurl client).
///
/// Thread-safety: every member may be called from several threads at once; the caps cache is
/// guarded. Ownership: the client owns its HTTP handles; settings are copied.
class NewznabClient {
 public:
  /// Errors: errc::invalid_argument for a base URL that is not http(s) or a non-positive timeout.
  static Result<std::unique_ptr<NewznabClient>> create(IndexerSettings settings);
  ~NewznabClient();
  NewznabClient(const NewznabClient&) = delete;
  NewznabClient& operator=(const NewznabClient&) = delete;

  const IndexerSettings& settings() const noexcept;

  /// `t=caps`, cached for `caps_ttl` after a success (a failure is not cached). `fresh` asks again.
  Result<IndexerCaps> caps(std::stop_token token = {}, bool fresh = false);
  /// One RSS page: `t=book` when the caps offer book search, else `t=search`, with the
  /// categories, `extended=1`, `offset` and `limit` (clamped to 1..caps' page size). Fetches the
  /// caps first when none are cached.
  Result<ReleasePage> rss_page(int offset, int limit, std::stop_token token = {});
  /// Searches by author and title in tiers, stopping at the first that returns a release:
  /// `t=book&author=&title=` when the caps offer book search with both params, then
  /// `t=search&q={title} {author}`, then `t=search&q={title}`. One page each. An empty title
  /// is errc::invalid_argument.
  Result<ReleasePage> search(std::string_view author, std::string_view title, std::stop_token token = {});

  /// The URL a request would use (api key included), for logs and tests. `params` are added
  /// after `t` and URL-encoded.
  std::string request_url(std::string_view t,
                          const std::vector<std::pair<std::string, std::string>>& params) const;

 private:
  struct Impl;
  explicit NewznabClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- RSS paging ---------------------------------------------------------------------------------

/// The last release a previous RSS sync saw on one indexer (persisted by the caller).
struct HighWaterMark {
  std::string guid;
  std::string download_url;
  TimePoint publish_date{};
};

struct PagingOptions {
  int page_size = 100;
  int max_pages = 30;
  /// Collected releases past which paging stops when the mark is still not reached.
  int gap_threshold = 1000;
};

enum class PagingStop {
  running,       ///< not stopped yet
  first_sync,    ///< no mark: one page only (Readarr)
  not_full,      ///< a page had fewer items than asked
  reached_mark,  ///< a page held the mark (same guid or download URL) or anything older
  gap,           ///< gap_threshold releases collected without reaching the mark
  page_limit,    ///< max_pages fetched
};
std::string_view to_string(PagingStop stop) noexcept;

/// The paging rule of an RSS sync, without I/O: feed it pages in order until `done()`.
/// Thread-safety: none (one sync owns one pager).
class RssPager {
 public:
  explicit RssPager(std::optional<HighWaterMark> mark, PagingOptions options = {});

  bool done() const noexcept { return stop_ != PagingStop::running; }
  /// The next page to ask for (valid while !done()).
  int next_offset() const noexcept { return pages_ * options_.page_size; }
  int limit() const noexcept { return options_.page_size; }

  /// Takes the next page. `items` is the page's item count before any were left out (a page
  /// whose items were all unusable is still full). Returns !done().
  bool add_page(const std::vector<Release>& releases, int items);
  bool add_page(const ReleasePage& page) { return add_page(page.releases, page.items); }

  PagingStop stop_reason() const noexcept { return stop_; }
  /// A mark exists and was not reached (stopped at the gap threshold or the page limit): releases
  /// between the last sync and this one may have been missed; a search may be needed.
  bool gap_possible() const noexcept;
  int pages() const noexcept { return pages_; }
  /// The releases newer than the mark (all, on a first sync), in feed order.
  const std::vector<Release>& releases() const noexcept { return releases_; }
  /// The mark to persist: the newest release seen (latest publish date; the first in feed order on
  /// a tie); the old mark when nothing newer came.
  std::optional<HighWaterMark> next_mark() const;

 private:
  bool at_or_before_mark(const Release& r) const;

  std::optional<HighWaterMark> mark_;
  PagingOptions options_;
  PagingStop stop_ = PagingStop::running;
  int pages_ = 0;
  bool reached_ = false;
  std::vector<Release> releases_;
};

/// What one RSS sync of one indexer found.
struct RssFetch {
  std::vector<Release> releases;  ///< newer than the mark, feed order
  std::optional<HighWaterMark> mark;
  PagingStop stop = PagingStop::running;
  bool gap_possible = false;
  int pages = 0;
  std::vector<std::string> skipped;  ///< of every page
};

/// Pages through `client.rss_page` with an RssPager (page size from the caps, at most
/// `options.max_pages`). The first failing page fails the fetch (no new mark is taken from a
/// partial sync).
Result<RssFetch> fetch_rss(NewznabClient& client, std::optional<HighWaterMark> mark,
                           PagingOptions options = {}, std::stop_token token = {});

}  // namespace shelfjobs

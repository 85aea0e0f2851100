// SPDX-License-Identifier: MIT
// The Newznab/Torznab XML: caps, feeds and `<error>` bodies, as pure functions (no I/O), so that
// every quirk has a table test. The HTTP side is newznab_client.cpp.

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <memory>
#include <ostream>
#include <span>
#include <string>

#include <pugixml.hpp>

#include "adapters/indexers/newznab_internal.hpp"
#include "engine/text.hpp"
#include "engine/utf8.hpp"
#include "shelfjobs/adapters/newznab.hpp"

namespace shelfjobs {

std::string_view to_string(IndexerKind kind) noexcept {
  return kind == IndexerKind::torznab ? "torznab" : "newznab";
}

void ReleaseText::assign_owned(std::string_view text) {
  release_owned();
  if (text.empty()) {
    data_ = nullptr;
    bits_ = 0;
    return;
  }
  char* bytes = new char[text.size() + 1];
  std::memcpy(bytes, text.data(), text.size());
  bytes[text.size()] = '\0';
  data_ = bytes;
  bits_ = text.size() | kOwnedBit;
}

void ReleaseText::free_owned() noexcept {
  delete[] data_;
  data_ = nullptr;
  bits_ = 0;
}

std::ostream& operator<<(std::ostream& out, const ReleaseText& text) { return out << text.view(); }

int IndexerCaps::page_size() const noexcept {
  const int n = std::min(100, std::max(limit_default, limit_max));
  return n > 0 ? n : 100;
}

bool IndexerCaps::book_search_supports(std::string_view param) const {
  return std::any_of(book_search_params.begin(), book_search_params.end(),
                     [&](const std::string& p) { return detail::iequals(p, param); });
}

bool IndexerCaps::can_search_author_title() const {
  return book_search_available && book_search_supports("author") && book_search_supports("title");
}

ErrorKind indexer_error_kind(const Error& e) noexcept {
  switch (e.code) {
    case errc::rate_limited: return ErrorKind::rate_limited;
    case errc::unavailable: return ErrorKind::network;
    case errc::cancelled:
    case errc::shutting_down: return ErrorKind::cancelled;
    default: return ErrorKind::permanent;
  }
}

bool is_connect_failure(const Error& e) noexcept {
  return e.code == errc::unavailable && e.message.find(detail::kCannotConnect) != std::string::npos;
}

namespace detail {

namespace {

constexpr std::string_view kNewznabNs = "http://www.newznab.com/DTD/2010/feeds/attributes/";
constexpr std::string_view kTorznabNs = "http://torznab.com/schemas/2015/feed";

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// trim, with the usual case (nothing to trim) told in line: the item walk trims every field.
std::string_view trim_fast(std::string_view s) {
  if (s.empty() || (!is_space(s.front()) && !is_space(s.back()))) return s;
  return trim(s);
}

bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i)
    if (iequals(hay.substr(i, needle.size()), needle)) return true;
  return false;
}

std::string_view without_trailing_slash(std::string_view s) {
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return s;
}

bool is_attr_namespace(std::string_view uri) {
  // Some feeds drop or add the trailing slash; the rest of the URI must match.
  uri = without_trailing_slash(uri);
  return uri == without_trailing_slash(kNewznabNs) || uri == without_trailing_slash(kTorznabNs);
}

// The declaration attribute that binds an element name's prefix: "xmlns:p" for "p:name",
// "xmlns" for an unprefixed name. A buffer on the stack: prefixes are short, and a longer one
// cannot be one a feed uses for its attributes (it is then looked up unbound).
struct PrefixDecl {
  char text[64];
  bool fits = true;
  explicit PrefixDecl(std::string_view name) {
    const auto colon = name.find(':');
    const std::string_view prefix =
        colon == std::string_view::npos ? std::string_view() : name.substr(0, colon);
    constexpr std::string_view kXmlns = "xmlns";
    fits = kXmlns.size() + 1 + prefix.size() < sizeof text;
    if (!fits) {
      text[0] = '\0';
      return;
    }
    std::memcpy(text, kXmlns.data(), kXmlns.size());
    std::size_t n = kXmlns.size();
    if (!prefix.empty()) {
      text[n++] = ':';
      std::memcpy(text + n, prefix.data(), prefix.size());
      n += prefix.size();
    }
    text[n] = '\0';
  }
};

// pugixml does not resolve namespaces: the prefix of an element is looked up in the xmlns
// declarations of the element and its ancestors, nearest first, as XML Namespaces 1.0 says.
std::string_view namespace_of(pugi::xml_node node) {
  const PrefixDecl decl(node.name());
  if (!decl.fits) return {};
  for (pugi::xml_node n = node; n && n.type() == pugi::node_element; n = n.parent())
    if (pugi::xml_attribute a = n.attribute(decl.text)) return a.value();
  return {};
}

// Whether `node` declares a namespace itself (an `xmlns` or `xmlns:p` attribute).
bool declares_namespace(pugi::xml_node node) {
  for (pugi::xml_attribute a = node.first_attribute(); a; a = a.next_attribute()) {
    const char* n = a.name();
    if (n[0] == 'x' && std::strncmp(n, "xmlns", 5) == 0) return true;
  }
  return false;
}

std::string_view local_name(pugi::xml_node node) {
  const std::string_view name = node.name();
  const auto colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

// A child element by local name, in no namespace or any (RSS elements carry none).
pugi::xml_node child(pugi::xml_node node, std::string_view local) {
  for (pugi::xml_node c = node.first_child(); c; c = c.next_sibling())
    if (c.type() == pugi::node_element && local_name(c) == local) return c;
  return {};
}

template <class Int>
std::optional<Int> to_int(std::string_view s) {
  s = trim_fast(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  Int v{};
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<double> to_double(std::string_view s) {
  s = trim_fast(s);
  // A whole number of a few digits (the volume factors nearly always are "0" or "1") is read as
  // an integer: the same value, without the floating-point reader.
  if (!s.empty() && s.size() <= 9 &&
      std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int v = 0;
    for (char c : s) v = v * 10 + (c - '0');
    return static_cast<double>(v);
  }
  double v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::string prefix(std::string_view name) { return "indexer " + std::string(name) + ": "; }

bool starts_with_html(std::string_view body) {
  body = trim(body);
  if (body.substr(0, 3) == "\xEF\xBB\xBF") body = trim(body.substr(3));
  return istarts_with(body, "<!doctype html") || istarts_with(body, "<html");
}

std::string one_line(std::string_view s, std::size_t max = 120) {
  std::string out;
  for (char c : trim(s)) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  }
  return utf8_repair(out);
}

}  // namespace

Error html_error(std::string_view name, std::string_view status) {
  return Error{errc::upstream_error, prefix(name) + "answered with an HTML page instead of XML" +
                                         (status.empty() ? std::string() : " (" + std::string(status) + ")") +
                                         ": blocked by a proxy, Cloudflare or a login page?"};
}

bool looks_like_html(std::string_view body, std::string_view content_type) {
  return starts_with_html(body) || istarts_with(trim(content_type), "text/html");
}

std::optional<ApiError> read_error_element(std::string_view xml) {
  // The client asks this of every answer, feeds of 100 items included: an error document names
  // its root near the start, so a body without "<error" there is not parsed twice.
  const std::string_view head = xml.substr(0, 1024);
  if (head.find("<error") == std::string_view::npos && head.find(":error") == std::string_view::npos)
    return std::nullopt;
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) return std::nullopt;
  const pugi::xml_node root = doc.document_element();
  if (local_name(root) != "error") return std::nullopt;
  const std::string_view code_text = trim(root.attribute("code").value());
  const std::string description = one_line(root.attribute("description").value());
  ApiError e;
  e.code = to_int<int>(code_text).value_or(0);
  e.text = "error " + one_line(code_text, 16) + (description.empty() ? "" : ": " + description);
  e.request_limit = e.code == 429 || icontains(description, "request limit reached");
  return e;
}

Error api_error(const ApiError& e, std::string_view name, TimePoint now) {
  if (e.code >= 100 && e.code <= 199)
    return Error{errc::invalid_argument, prefix(name) + "the API key was refused (" + e.text + ")"};
  if (e.request_limit)
    return Error{errc::rate_limited,
                 prefix(name) + "request limit reached (" + e.text + "); retry after 3600 s",
                 now + std::chrono::hours(1)};
  return Error{errc::upstream_error, prefix(name) + e.text};
}

}  // namespace detail

namespace {

using detail::child;
using detail::local_name;
using detail::prefix;
using detail::to_int;
using detail::trim;
using detail::trim_fast;

// pugixml's parse_embed_pcdata (1.9 and later): the text an element opens with is kept in the
// element itself instead of a text node of its own. A feed is mostly elements holding only text
// (an item has some twenty), so the tree has half the nodes to make and to walk. child_value()
// reads the same text either way (the first text an element holds, embedded or a node; CDATA
// stays a node), and text nodes are never read otherwise: parse_releases reads text through
// child_value() only, and passes over children that are not elements.
#if defined(PUGIXML_VERSION) && PUGIXML_VERSION >= 190
constexpr unsigned kEmbedText = pugi::parse_embed_pcdata;
#else
constexpr unsigned kEmbedText = 0;
#endif

// Loads `xml`, checking what every body is checked for first: empty, HTML, `<error>`, not XML,
// and the expected root.
// `in_place`: a copy of `xml` (NUL after it) that the document parses in place and views.
// `options`: pugixml's parse options (parse_default, or with kEmbedText added).
Result<Ok> load(pugi::xml_document& doc, std::string_view xml, std::string_view root_name,
                std::string_view name, TimePoint now, char* in_place = nullptr,
                unsigned options = pugi::parse_default) {
  if (trim(xml).empty()) return Error{errc::upstream_error, prefix(name) + "empty response body"};
  if (detail::starts_with_html(xml)) return detail::html_error(name, "");
  const pugi::xml_parse_result r =
      in_place ? doc.load_buffer_inplace(in_place, xml.size(), options, pugi::encoding_auto)
               : doc.load_buffer(xml.data(), xml.size(), options, pugi::encoding_auto);
  if (!r)
    return Error{errc::upstream_error, prefix(name) + "malformed XML at byte " + std::to_string(r.offset) +
                                           " of " + std::to_string(xml.size()) + ": " + r.description()};
  const pugi::xml_node root = doc.document_element();
  if (local_name(root) == "error") return detail::api_error(*detail::read_error_element(xml), name, now);
  if (local_name(root) != root_name)
    return Error{errc::upstream_error, prefix(name) + "expected a <" + std::string(root_name) +
                                           "> document, got <" + detail::one_line(root.name(), 40) + ">"};
  return Ok{};
}

std::vector<std::string> split_params(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const auto comma = s.find(',');
    const std::string_view p = trim(s.substr(0, comma));
    if (!p.empty()) out.push_back(detail::ascii_lower(p));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

bool yes(pugi::xml_node n) { return detail::iequals(trim(n.attribute("available").value()), "yes"); }

int limit_attr(pugi::xml_node limits, const char* attr) {
  const auto v = to_int<int>(limits.attribute(attr).value());
  return v && *v > 0 ? *v : 100;
}

}  // namespace

Result<IndexerCaps> parse_caps(std::string_view xml, std::string_view name, TimePoint now) {
  pugi::xml_document doc;
  if (auto ok = load(doc, xml, "caps", name, now); !ok) return ok.error();
  const pugi::xml_node root = doc.document_element();
  IndexerCaps caps;
  if (const pugi::xml_node limits = child(root, "limits")) {
    caps.limit_max = limit_attr(limits, "max");
    caps.limit_default = limit_attr(limits, "default");
  }
  if (const pugi::xml_node searching = child(root, "searching")) {
    if (const pugi::xml_node s = child(searching, "search")) {
      caps.search_available = yes(s);
      if (s.attribute("supportedParams"))
        caps.search_params = split_params(s.attribute("supportedParams").value());
    }
    if (const pugi::xml_node b = child(searching, "book-search")) {
      caps.book_search_available = yes(b);
      caps.book_search_params = split_params(b.attribute("supportedParams").value());
      // A book-search without supportedParams offers the query only (Newznab's default).
      if (caps.book_search_params.empty()) caps.book_search_params = {"q"};
    }
  }
  if (const pugi::xml_node cats = child(root, "categories")) {
    for (pugi::xml_node c = cats.first_child(); c; c = c.next_sibling()) {
      if (local_name(c) != "category") continue;
      const auto id = to_int<int>(c.attribute("id").value());
      if (!id) continue;
      IndexerCategory cat{*id, detail::utf8_repair(c.attribute("name").value()), {}};
      for (pugi::xml_node s = c.first_child(); s; s = s.next_sibling()) {
        if (local_name(s) != "subcat") continue;
        if (const auto sid = to_int<int>(s.attribute("id").value()))
          cat.subcategories.push_back({*sid, detail::utf8_repair(s.attribute("name").value()), {}});
      }
      caps.categories.push_back(std::move(cat));
    }
  }
  return caps;
}

namespace {

// The length of the ASCII prefix of `s`, eight bytes at a time: nearly every feed field is
// ASCII, and only what follows the first other byte needs the UTF-8 check.
std::size_t ascii_prefix(std::string_view s) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (w & 0x8080808080808080ull) break;
  }
  while (i < s.size() && static_cast<unsigned char>(s[i]) < 0x80) ++i;
  return i;
}

// Text of a feed field: a view of the page's text, or repaired (and then owned) when it is not
// UTF-8 (a feed declared UTF-8 that carries Latin-1 bytes: pugixml passes them through).
// `repaired` is set when it had to.
ReleaseText text(std::string_view s, bool& repaired) {
  s = trim_fast(s);
  const std::size_t ascii = ascii_prefix(s);
  if (ascii == s.size() || detail::utf8_valid(s.substr(ascii))) return ReleaseText::view_of(s);
  repaired = true;
  return ReleaseText(detail::utf8_repair(s));
}

// Zero bytes kept after the copy of the body that pugixml parses in place (FeedText): past the
// terminator of its last string there are always eight readable bytes.
constexpr std::size_t kTextPad = 8;

// A string of the parse, its length, and whether it is all ASCII.
struct Measured {
  std::string_view text;
  bool ascii = true;
};

// The bytes a page's strings lie in when pugixml parsed the body in place: [begin, end], the
// terminator at end, followed by kTextPad - 1 more zero bytes. Empty (begin > end) otherwise.
//
// Why: an item has some twenty-five strings to read (text, numbers, attr names), and each was
// measured by a call to strlen and then scanned again for bytes that are not ASCII. Inside the
// padded copy a string is measured eight bytes at a time and checked in the same pass, and a
// whole number is read without being measured at all. Strings elsewhere (a converted encoding's
// buffer, pugixml's static "" for an absent value) are measured the plain way.
struct PageBytes {
  std::uintptr_t begin = 1, end = 0;

  bool holds(const char* p) const noexcept {
    const auto at = reinterpret_cast<std::uintptr_t>(p);
    return at >= begin && at <= end;
  }

  Measured measure(const char* s) const noexcept {
    if constexpr (std::endian::native == std::endian::little) {
      if (holds(s)) {
        constexpr std::uint64_t kOnes = 0x0101010101010101ull, kHighs = 0x8080808080808080ull;
        std::uint64_t high = 0;
        for (std::size_t n = 0;; n += 8) {
          std::uint64_t w;
          std::memcpy(&w, s + n, 8);  // within the padding: the terminator is in these 8 or later
          // The high bit of each zero byte; above the first one a borrow may flag others, so
          // only the lowest is read.
          const std::uint64_t zero = (w - kOnes) & ~w & kHighs;
          if (zero != 0) {
            high |= w & ((zero & (~zero + 1)) - 1) & kHighs;  // the bytes before the terminator
            const auto at = static_cast<std::size_t>(std::countr_zero(zero)) / 8;
            return {std::string_view(s, n + at), high == 0};
          }
          high |= w & kHighs;
        }
      }
    }
    const std::string_view v(s);
    return {v, ascii_prefix(v) == v.size()};
  }
};

// kNoMoreNodes, kNoMoreAttributes: pugixml gives "" for the name of the null node and the null
// attribute, and every element and attribute of a parsed document has a name (XML allows no
// empty one). A walk over an element's children or attributes therefore reads each one's name
// first and asks whether the handle is null only for a name that is empty: each handle's test
// is a call into libpugixml, and a feed's items have twenty-odd children and thirty-odd
// attributes each. `named(first)` is that walk: `for (auto [c, name] : named(item.first_child()))`
// visits each child with a name (an element: text and CDATA have none), and the same over
// `first_attribute()` each attribute.
template <class Handle>
struct Named {
  Handle handle;
  const char* name;
};

template <class Handle>
class NamedWalk {
 public:
  explicit NamedWalk(Handle first) : first_(first) {}

  class iterator {
   public:
    explicit iterator(Handle h) : at_{h, h.name()} { skip_nameless(); }
    Named<Handle> operator*() const noexcept { return at_; }
    iterator& operator++() {
      at_.handle = next(at_.handle);
      at_.name = at_.handle.name();
      skip_nameless();
      return *this;
    }
    bool operator!=(std::default_sentinel_t) const noexcept { return at_.name[0] != '\0'; }

   private:
    static pugi::xml_node next(pugi::xml_node n) { return n.next_sibling(); }
    static pugi::xml_attribute next(pugi::xml_attribute a) { return a.next_attribute(); }
    // Nameless and not null: text inside an element. The null handle ends the walk.
    void skip_nameless() {
      while (at_.name[0] == '\0' && at_.handle) {
        at_.handle = next(at_.handle);
        at_.name = at_.handle.name();
      }
    }
    Named<Handle> at_;
  };
  iterator begin() const { return iterator(first_); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  Handle first_;
};

template <class Handle>
NamedWalk<Handle> named(Handle first) {
  return NamedWalk<Handle>(first);
}

// Whether the C string `s` is `lit`, compared inline (attribute names are a few bytes: a call to
// strcmp per attribute cost more than the comparison).
template <std::size_t N>
bool is_name(const char* s, const char (&lit)[N]) noexcept {
  for (std::size_t i = 0; i < N; ++i)  // the terminator included
    if (s[i] != lit[i]) return false;
  return true;
}

// Whether the `size` bytes at `name` are `lit`: a comparison of a known length, which the
// compiler turns into one or two loads and compares.
template <std::size_t N>
bool same_bytes(const char* name, const char (&lit)[N]) noexcept {
  return std::memcmp(name, lit, N - 1) == 0;
}

// Whether an item's child is in the Newznab/Torznab attribute namespace. Resolving a prefix
// walks the element's ancestors; a feed declares its prefixes once, on <rss> or <channel>, so a
// prefix's answer is kept for the page and worked out again only where the element or its item
// declares namespaces itself (which may rebind the prefix).
enum class UsualPrefix { none, torznab, newznab };

class AttrNamespaces {
 public:
  // `name` is the element's name, "prefix:attr" (the callers read only such elements): the
  // prefix is what precedes its last five bytes, taken without a search for the ':'.
  // `usual`: the caller matched the name as "torznab:attr" or "newznab:attr" already.
  bool is_attr(pugi::xml_node element, std::string_view name, bool declares, UsualPrefix usual) {
    if (declares) return detail::is_attr_namespace(detail::namespace_of(element));
    // The answers for the two usual prefixes are kept apart, so that the usual attr element's
    // prefix is not compared byte by byte with the known ones (a loop whose data-dependent exit
    // was a fifth of the attr elements' time).
    if (usual != UsualPrefix::none) {
      std::optional<bool>& answer = usual == UsualPrefix::torznab ? torznab_ : newznab_;
      if (!answer) answer = known(element, name);
      return *answer;
    }
    return known(element, name);
  }

 private:
  bool known(pugi::xml_node element, std::string_view name) {
    const std::string_view prefix(name.data(), name.size() - 5);
    for (const auto& [p, yes] : known_)
      if (same_prefix(p, prefix)) return yes;
    const bool yes = detail::is_attr_namespace(detail::namespace_of(element));
    known_.emplace_back(std::string(prefix), yes);
    return yes;
  }

  // Compared in line: a prefix is a few bytes, and a call to memcmp for each of an item's attr
  // elements cost more than the bytes.
  static bool same_prefix(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i] != b[i]) return false;
    return true;
  }

  std::vector<std::pair<std::string, bool>> known_;
  std::optional<bool> torznab_, newznab_;
};

// The attribute names an item's `attr` elements carry, by length and then spelling (compared
// without case).
enum class AttrName {
  other,
  size,
  category,
  seeders,
  leechers,
  peers,
  grabs,
  infohash,
  magneturl,
  usenetdate,
  author,
  booktitle,
  language,
  tag,
  downloadvolumefactor,
  uploadvolumefactor,
  guid,
};

// Whether `n` is the lower-case literal `lit`, but for ASCII case; compared inline (an `attr`
// element's name is read for every attribute of every item).
template <std::size_t N>
bool is_attr_name(std::string_view n, const char (&lit)[N]) noexcept {
  if (n.size() != N - 1) return false;
  // Feeds write the names in lower case: a byte is lowered only where it differs.
  for (std::size_t i = 0; i + 1 < N; ++i)
    if (n[i] != lit[i] && detail::ascii_lower(n[i]) != lit[i]) return false;
  return true;
}

AttrName attr_name(std::string_view n) noexcept {
  switch (n.size()) {
    case 3: return is_attr_name(n, "tag") ? AttrName::tag : AttrName::other;
    case 4:
      if (is_attr_name(n, "size")) return AttrName::size;
      return is_attr_name(n, "guid") ? AttrName::guid : AttrName::other;
    case 5:
      if (is_attr_name(n, "peers")) return AttrName::peers;
      return is_attr_name(n, "grabs") ? AttrName::grabs : AttrName::other;
    case 6: return is_attr_name(n, "author") ? AttrName::author : AttrName::other;
    case 7: return is_attr_name(n, "seeders") ? AttrName::seeders : AttrName::other;
    case 8:
      if (is_attr_name(n, "category")) return AttrName::category;
      if (is_attr_name(n, "leechers")) return AttrName::leechers;
      if (is_attr_name(n, "infohash")) return AttrName::infohash;
      return is_attr_name(n, "language") ? AttrName::language : AttrName::other;
    case 9:
      if (is_attr_name(n, "magneturl")) return AttrName::magneturl;
      return is_attr_name(n, "booktitle") ? AttrName::booktitle : AttrName::other;
    case 10: return is_attr_name(n, "usenetdate") ? AttrName::usenetdate : AttrName::other;
    case 18: return is_attr_name(n, "uploadvolumefactor") ? AttrName::uploadvolumefactor : AttrName::other;
    case 20:
      return is_attr_name(n, "downloadvolumefactor") ? AttrName::downloadvolumefactor : AttrName::other;
    default: return AttrName::other;
  }
}

struct ItemReader {
  IndexerKind kind;
  Release& r;
  AttrNamespaces& namespaces;
  const PageBytes& bytes;
  bool repaired = false;
  std::string problem;  // set: the item is left out
  std::vector<std::string> notes;
  std::optional<TimePoint> usenet_date;
  std::optional<int> seeders, leechers;
  bool size_from_attr = false;

  // Most items name a category twice (a <category> and a category attr): both held inline
  // (ReleaseCategories).
  void add_category(int c) { r.categories.push_back(c); }

  std::string_view view(const char* s) const noexcept { return bytes.measure(s).text; }

  // Text of a feed field (see text() above), measured and checked for ASCII in one pass.
  ReleaseText text_at(const char* s) {
    const Measured m = bytes.measure(s);
    if (m.ascii) return ReleaseText::view_of(trim_fast(m.text));
    return text(m.text, repaired);
  }

  // to_int of the string at `s`. A string of digits alone, short enough not to overflow `Int`
  // (nearly every number a feed sends), is read as it is measured; anything else (signs,
  // spaces, other bytes, long numbers) by to_int, which gives the same value for those digits.
  template <class Int>
  std::optional<Int> to_int_at(const char* s) const {
    Int v = 0;
    if (plain_digits<std::numeric_limits<Int>::digits10>(s, v)) return v;
    return to_int<Int>(view(s));
  }

  // detail::to_double of the string at `s`, a plain whole number of up to nine digits (as
  // to_double reads one) read as it is measured.
  std::optional<double> to_double_at(const char* s) const {
    int v = 0;
    if (plain_digits<9>(s, v)) return static_cast<double>(v);
    return detail::to_double(view(s));
  }

  // Whether `s` is one to `MaxDigits` digits and nothing else; `v` their value then.
  template <int MaxDigits, class Int>
  static bool plain_digits(const char* s, Int& v) noexcept {
    int i = 0;
    for (; i < MaxDigits && s[i] >= '0' && s[i] <= '9'; ++i) v = static_cast<Int>(v * 10 + (s[i] - '0'));
    return i > 0 && s[i] == '\0';
  }

  template <class Int>
  std::optional<Int> number(std::string_view attr, const char* value) {
    const auto v = to_int_at<Int>(value);
    if (!v)
      notes.push_back(std::string(attr) + " '" + detail::one_line(view(value), 40) +
                      "' is not a number in range");
    return v;
  }

  void attr(std::string_view n, const char* v) {
    switch (attr_name(n)) {
      case AttrName::size: {
        const auto s = to_int_at<std::int64_t>(v);
        if (!s || *s < 0) {
          problem = "size '" + detail::one_line(view(v), 40) + "' is not a number of bytes in range";
          return;
        }
        r.size = *s;
        size_from_attr = true;
        break;
      }
      case AttrName::category:
        if (const auto c = to_int_at<int>(v)) add_category(*c);
        break;
      case AttrName::seeders: seeders = number<int>(n, v); break;
      case AttrName::leechers: leechers = number<int>(n, v); break;
      case AttrName::peers: r.peers = number<int>(n, v); break;
      case AttrName::grabs: r.grabs = number<int>(n, v); break;
      case AttrName::infohash: r.infohash = text_at(v); break;
      case AttrName::magneturl: r.magnet_url = text_at(v); break;
      case AttrName::usenetdate: usenet_date = parse_rfc822_date(view(v)); break;
      case AttrName::author: r.author = text_at(v); break;
      case AttrName::booktitle: r.book_title = text_at(v); break;
      case AttrName::language: r.languages.push_back(text_at(v).str()); break;
      case AttrName::tag: r.tags.push_back(text_at(v).str()); break;
      case AttrName::downloadvolumefactor: r.download_volume_factor = to_double_at(v); break;
      case AttrName::uploadvolumefactor: r.upload_volume_factor = to_double_at(v); break;
      case AttrName::guid:
        if (r.guid.empty()) r.guid = text_at(v);
        break;
      case AttrName::other: break;
    }
  }

  // An `attr` element: its name and value attributes, and whether it declares a namespace,
  // read in one pass over its attributes.
  void attr_element(pugi::xml_node c, std::string_view element_name, bool item_declares,
                    UsualPrefix usual = UsualPrefix::none) {
    const char* name = "";
    const char* value = "";
    bool declares = item_declares;
    for (const auto [a, an] : named(c.first_attribute())) {
      if (is_name(an, "name"))
        name = a.value();
      else if (is_name(an, "value"))
        value = a.value();
      else if (an[0] == 'x' && std::strncmp(an, "xmlns", 5) == 0)
        declares = true;
    }
    if (!namespaces.is_attr(c, element_name, declares, usual)) return;
    attr(trim_fast(view(name)), value);
  }

  void read(pugi::xml_node item) {
    std::optional<TimePoint> pub_date;
    const bool item_declares = detail::declares_namespace(item);
    for (const auto [c, name] : named(item.first_child())) {
      // With the parse options used (no comments, no processing instructions), a child with a
      // name is an element (kNoMoreNodes). The names an item's children nearly always have are
      // told apart by their first byte and compared with their terminator, in line: a strlen
      // (and, for an attr, a memchr) per child was a call to the C library for each of an
      // item's twenty-odd children. Only the other names are measured.
      switch (name[0]) {
        case 't':
          if (is_name(name, "title")) {
            r.title = text_at(c.child_value());
            continue;
          }
          if (is_name(name, "torznab:attr")) {
            attr_element(c, std::string_view(name, 12), item_declares, UsualPrefix::torznab);
            if (!problem.empty()) return;
            continue;
          }
          break;
        case 'n':
          if (is_name(name, "newznab:attr")) {
            attr_element(c, std::string_view(name, 12), item_declares, UsualPrefix::newznab);
            if (!problem.empty()) return;
            continue;
          }
          break;
        case 'g':
          if (is_name(name, "guid")) {
            r.guid = text_at(c.child_value());
            continue;
          }
          break;
        case 'l':
          if (is_name(name, "link")) {
            r.link = text_at(c.child_value());
            continue;
          }
          break;
        case 'p':
          if (is_name(name, "pubDate")) {
            pub_date = parse_rfc822_date(view(c.child_value()));
            continue;
          }
          break;
        case 'c':
          if (is_name(name, "comments")) {
            r.info_url = text_at(c.child_value());
            continue;
          }
          if (is_name(name, "category")) {
            if (const auto id = to_int_at<int>(c.child_value())) add_category(*id);
            continue;
          }
          break;
        case 'e':
          if (is_name(name, "enclosure")) {
            enclosure(c);
            continue;
          }
          break;
        default: break;
      }
      // A prefixed `attr` under another prefix: the local name is what follows the first ':',
      // so "a:b:attr" is not one. Elements of other namespaces, and RSS elements not read, are
      // passed over.
      const std::size_t size = view(name).size();
      if (size >= 5 && same_bytes(name + size - 5, ":attr") && std::memchr(name, ':', size - 5) == nullptr) {
        attr_element(c, std::string_view(name, size), item_declares);
        if (!problem.empty()) return;
      }
    }
    // Newznab prefers the usenet post date (the age of the post, not of the indexing).
    r.publish_date = usenet_date ? usenet_date : pub_date;
    if (!r.peers && (seeders || leechers)) {
      // Added as 64-bit and held to int's range: two counts near INT_MAX are a feed's nonsense,
      // not an overflow.
      const std::int64_t sum = std::int64_t{seeders.value_or(0)} + leechers.value_or(0);
      r.peers = static_cast<int>(
          std::clamp<std::int64_t>(sum, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
    }
    r.seeders = seeders;
    if (r.download_url.empty()) r.download_url = r.link;
    if (r.guid.empty()) r.guid = r.download_url;
    if (r.categories.size() > 1) {
      std::sort(r.categories.begin(), r.categories.end());
      r.categories.truncate(static_cast<std::size_t>(std::unique(r.categories.begin(), r.categories.end()) -
                                                     r.categories.begin()));
    }
    if (r.title.empty())
      problem = "no title";
    else if (r.download_url.empty())
      problem = "no download URL (enclosure or link)";
    const std::string_view expected =
        kind == IndexerKind::torznab ? "application/x-bittorrent" : "application/x-nzb";
    if (!r.enclosure_type.empty() && r.enclosure_type.view() != expected)
      notes.push_back("enclosure type " + r.enclosure_type.str() + ", expected " + std::string(expected));
  }

  void enclosure(pugi::xml_node c) {
    const char* url = "";
    const char* type = "";
    const char* length = "";
    bool has_length = false;
    for (const auto [a, an] : named(c.first_attribute())) {
      if (is_name(an, "url")) {
        url = a.value();
      } else if (is_name(an, "type")) {
        type = a.value();
      } else if (is_name(an, "length")) {
        length = a.value();
        has_length = true;
      }
    }
    r.download_url = text_at(url);
    r.enclosure_type = text_at(type);
    if (!size_from_attr && has_length) {
      // The enclosure's length is only the fallback; a bad one is dropped, not fatal.
      if (const auto len = to_int_at<std::int64_t>(length); len && *len >= 0) r.size = *len;
    }
  }
};

// What a page's releases view: the body, copied and parsed in place (pugixml resolves escapes
// and ends each string where it stood), so the text outlives the parse tree. When pugixml had to
// convert the body's encoding (UTF-16, Latin-1) into a buffer of its own, the tree is kept too.
struct FeedText {
  std::unique_ptr<char[]> bytes;  // size bytes of text, then kTextPad zero bytes
  std::size_t size = 0;
  pugi::xml_document doc;

  bool holds(const char* p) const noexcept {
    return p >= bytes.get() && p <= bytes.get() + size;  // <=: an empty string at the very end
  }
};

}  // namespace

Result<ReleasePage> parse_releases(std::string_view xml, IndexerKind kind, std::string_view name,
                                   TimePoint now) {
  auto feed = std::make_shared<FeedText>();
  feed->size = xml.size();
  feed->bytes.reset(new char[xml.size() + kTextPad]);
  std::memcpy(feed->bytes.get(), xml.data(), xml.size());
  std::memset(feed->bytes.get() + xml.size(), 0, kTextPad);
  pugi::xml_document& doc = feed->doc;
  if (auto ok = load(doc, xml, "rss", name, now, feed->bytes.get(), pugi::parse_default | kEmbedText); !ok)
    return ok.error();
  const pugi::xml_node channel = child(doc.document_element(), "channel");
  if (!channel) return Error{errc::upstream_error, prefix(name) + "the feed has no <channel>"};
  // In place unless pugixml converted the encoding: then the strings live in the tree's buffer.
  const bool in_place = feed->holds(doc.document_element().name());
  ReleasePage page;
  page.text = feed;
  // The channel's children by name, as an item's (kNoMoreNodes).
  auto is_item = [](pugi::xml_node c, const char* cname) {
    return is_name(cname, "item") && c.type() == pugi::node_element;
  };
  std::size_t items = 0;
  for (const auto [c, cname] : named(channel.first_child())) items += is_item(c, cname) ? 1 : 0;
  page.releases.reserve(items);  // no moves while the page fills

  AttrNamespaces namespaces;
  PageBytes bytes;
  if (in_place) {
    bytes.begin = reinterpret_cast<std::uintptr_t>(feed->bytes.get());
    bytes.end = bytes.begin + feed->size;
  }
  int index = 0;
  for (const auto [c, cname] : named(channel.first_child())) {
    if (!is_item(c, cname)) {
      if (c.type() != pugi::node_element) continue;
      if (local_name(c) == "response" && detail::is_attr_namespace(detail::namespace_of(c))) {
        page.offset = to_int<std::int64_t>(c.attribute("offset").value());
        page.total = to_int<std::int64_t>(c.attribute("total").value());
      }
      continue;
    }
    ++index;
    ++page.items;
    // Read in place: a left-out item is taken off the end again.
    Release& release = page.releases.emplace_back();
    ItemReader reader{kind, release, namespaces, bytes};
    reader.read(c);
    if (reader.problem.empty() && !reader.repaired && reader.notes.empty()) {  // the usual case
      release.page_text = page.text;
      continue;
    }
    const std::string label =
        "item " + std::to_string(index) +
        (reader.r.title.empty() ? std::string() : " (" + detail::one_line(reader.r.title, 80) + ")");
    if (!reader.problem.empty()) {
      page.skipped.push_back(label + ": " + reader.problem);
      page.releases.pop_back();
      continue;
    }
    release.page_text = page.text;
    if (reader.repaired) page.warnings.push_back(label + ": text that is not UTF-8 was repaired");
    for (const auto& n : reader.notes) page.warnings.push_back(label + ": " + n);
  }
  // The releases view the copied body; the tree is not needed past here (unless it holds the
  // text itself, converted).
  if (in_place) doc.reset();
  return page;
}

// ---- dates ------------------------------------------------------------------------------------

namespace {

constexpr std::array<std::string_view, 12> kMonths{"jan", "feb", "mar", "apr", "may", "jun",
                                                   "jul", "aug", "sep", "oct", "nov", "dec"};

// Three letters in one number, a byte each.
constexpr std::uint32_t three_letters(char a, char b, char c) noexcept {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(a)) << 16 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(b)) << 8 | static_cast<unsigned char>(c);
}

constexpr std::array<std::uint32_t, 12> kMonthKeys = [] {
  std::array<std::uint32_t, 12> keys{};
  for (std::size_t i = 0; i < kMonths.size(); ++i)
    keys[i] = three_letters(kMonths[i][0], kMonths[i][1], kMonths[i][2]);
  return keys;
}();

int month_of(std::string_view name) {
  if (name.size() < 3) return 0;
  // Lower-cased once into one number, then compared with each month's (one compare a month:
  // every item of a feed names a month).
  const std::uint32_t key =
      three_letters(detail::ascii_lower(name[0]), detail::ascii_lower(name[1]), detail::ascii_lower(name[2]));
  for (std::size_t i = 0; i < kMonthKeys.size(); ++i)
    if (key == kMonthKeys[i]) return static_cast<int>(i) + 1;
  return 0;
}

// The years a TimePoint holds whole (nanoseconds since 1970 reach from 1677 to 2262): a date
// outside them is no date, not an overflow.
constexpr int kFirstYear =
    static_cast<int>(
        std::chrono::year_month_day(std::chrono::floor<std::chrono::days>(TimePoint::min())).year()) +
    1;
constexpr int kLastYear =
    static_cast<int>(
        std::chrono::year_month_day(std::chrono::floor<std::chrono::days>(TimePoint::max())).year()) -
    1;

std::optional<TimePoint> make_time(int year, int month, int day, const int (&hms)[3], int offset_minutes) {
  if (hms[0] > 23 || hms[1] > 59 || hms[2] > 60) return std::nullopt;
  if (year < kFirstYear || year > kLastYear) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year(year),
                                        std::chrono::month(static_cast<unsigned>(month)),
                                        std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return std::nullopt;
  const auto tp = std::chrono::sys_days(ymd) + std::chrono::hours(hms[0]) + std::chrono::minutes(hms[1]) +
                  std::chrono::seconds(hms[2]) - std::chrono::minutes(offset_minutes);
  return std::chrono::time_point_cast<TimePoint::duration>(tp);
}

// The form nearly every feed sends, "Tue, 04 Mar 2025 18:22:10 +0000", read by position; any
// other text (or a value out of range) is left to the general reader.
std::optional<TimePoint> fixed_rfc822_date(std::string_view s) {
  if (s.size() != 31 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s[25] != ' ' || (s[26] != '+' && s[26] != '-'))
    return std::nullopt;
  // Every digit is read and checked, and the checks joined: one test for the whole date instead
  // of a branch per byte (each item of a feed has a date).
  bool bad = false;
  auto digits = [&](std::size_t at, std::size_t n) -> int {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      const unsigned d = static_cast<unsigned>(static_cast<unsigned char>(s[i])) - unsigned{'0'};
      bad |= d > 9;
      v = v * 10 + static_cast<int>(d);
    }
    return v;
  };
  const int day = digits(5, 2), year = digits(12, 4), zone = digits(27, 4);
  const int hms[3] = {digits(17, 2), digits(20, 2), digits(23, 2)};
  const int month = month_of(s.substr(8, 3));
  if (bad || month == 0) return std::nullopt;
  const int offset = (zone / 100) * 60 + zone % 100;
  return make_time(year, month, day, hms, s[26] == '-' ? -offset : offset);
}

}  // namespace

std::optional<TimePoint> parse_rfc822_date(std::string_view s) {
  // [Day,] DD Mon YYYY HH:MM[:SS] [zone]; the zone +hhmm/-hhmm, or a name (GMT, UT, UTC, Z,
  // and RFC 822's US zones); a missing zone is taken as UTC.
  if (auto fixed = fixed_rfc822_date(s)) return fixed;
  // The weekday and five fields are read; what follows the zone is ignored.
  std::array<std::string_view, 7> tokens;
  std::size_t count = 0;
  {
    std::string_view rest = trim(s);
    while (!rest.empty()) {
      const auto sp = rest.find_first_of(" \t");
      std::string_view tok = rest.substr(0, sp);
      if (!tok.empty() && tok.back() == ',') tok.remove_suffix(1);
      if (!tok.empty()) {
        if (count == tokens.size()) break;  // past the zone: a comment such as "(UTC)"
        tokens[count++] = tok;
      }
      if (sp == std::string_view::npos) break;
      rest = trim(rest.substr(sp));
    }
  }
  std::span<const std::string_view> t(tokens.data(), count);
  if (!t.empty() && !t[0].empty() && std::isalpha(static_cast<unsigned char>(t[0][0]))) t = t.subspan(1);
  if (t.size() < 4) return std::nullopt;
  const auto day = to_int<int>(t[0]);
  const int month = month_of(t[1]);
  auto year = to_int<int>(t[2]);
  if (!day || month == 0 || !year) return std::nullopt;
  if (t[2].size() == 2) *year += *year < 50 ? 2000 : 1900;
  int hms[3] = {0, 0, 0};
  {
    std::string_view clock = t[3];
    for (int i = 0; i < 3 && !clock.empty(); ++i) {
      const auto colon = clock.find(':');
      const auto v = to_int<int>(clock.substr(0, colon));
      if (!v) return std::nullopt;
      hms[i] = *v;
      clock = colon == std::string_view::npos ? std::string_view() : clock.substr(colon + 1);
    }
  }
  int offset_minutes = 0;
  if (t.size() > 4) {
    const std::string_view z = t[4];
    if ((z[0] == '+' || z[0] == '-') && z.size() == 5) {
      const auto hhmm = to_int<int>(z.substr(1));
      if (!hhmm) return std::nullopt;
      offset_minutes = (*hhmm / 100) * 60 + *hhmm % 100;
      if (z[0] == '-') offset_minutes = -offset_minutes;
    } else {
      static constexpr std::array<std::pair<std::string_view, int>, 12> kZones{{{"GMT", 0},
                                                                                {"UT", 0},
                                                                                {"UTC", 0},
                                                                                {"Z", 0},
                                                                                {"EST", -300},
                                                                                {"EDT", -240},
                                                                                {"CST", -360},
                                                                                {"CDT", -300},
                                                                                {"MST", -420},
                                                                                {"MDT", -360},
                                                                                {"PST", -480},
                                                                                {"PDT", -420}}};
      const auto it = std::find_if(kZones.begin(), kZones.end(),
                                   [&](const auto& zone) { return detail::iequals(zone.first, z); });
      if (it == kZones.end()) return std::nullopt;
      offset_minutes = it->second;
    }
  }
  return make_time(*year, month, *day, hms, offset_minutes);
}

}  // namespace shelfjobs

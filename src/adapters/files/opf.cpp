// SPDX-License-Identifier: MIT
// The OPF package document (EPUB 2 and 3, and calibre's metadata.opf sidecar), with pugixml.
//
// pugixml does not know namespaces: it sees "dc:title" and "opf:role" as plain names. Tools
// pick their own prefixes (calibre writes "opf:", others "ns0:" or a default namespace), so
// every element and attribute is matched by its namespace URI, resolved through the xmlns
// declarations in scope, and its local name. A "dc:" prefix nobody declared is still taken as
// Dublin Core: such files exist and are otherwise readable.

#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <pugixml.hpp>

#include "adapters/files/file_util.hpp"
#include "engine/text.hpp"
#include "shelfjobs/adapters/book_metadata.hpp"

namespace shelfjobs {

namespace {
namespace opf_reader {

constexpr std::string_view kDc = "http://purl.org/dc/elements/1.1/";
constexpr std::string_view kOpf = "http://www.idpf.org/2007/opf";

std::string_view prefix_of(std::string_view qname) {
  const auto colon = qname.find(':');
  return colon == std::string_view::npos ? std::string_view{} : qname.substr(0, colon);
}

std::string_view local_of(std::string_view qname) {
  const auto colon = qname.find(':');
  return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}

// The namespace URI bound to `prefix` ("" = the default namespace) where `node` is.
std::string_view namespace_of(pugi::xml_node node, std::string_view prefix) {
  const std::string attr = prefix.empty() ? std::string("xmlns") : "xmlns:" + std::string(prefix);
  for (pugi::xml_node n = node; n; n = n.parent()) {
    if (n.type() != pugi::node_element) continue;
    if (const pugi::xml_attribute a = n.attribute(attr.c_str())) return a.value();
  }
  if (prefix == "xml") return "http://www.w3.org/XML/1998/namespace";
  return {};
}

bool is_element(pugi::xml_node node, std::string_view ns, std::string_view local) {
  if (node.type() != pugi::node_element) return false;
  const std::string_view name = node.name();
  if (local_of(name) != local) return false;
  const std::string_view prefix = prefix_of(name);
  const std::string_view uri = namespace_of(node, prefix);
  if (uri == ns) return true;
  // Undeclared but unmistakable prefixes.
  return uri.empty() && ((ns == kDc && prefix == "dc") || (ns == kOpf && prefix == "opf"));
}

// The attribute `local` in namespace `ns` (an OPF attribute such as opf:role), or, for the
// OPF namespace, also without a prefix (EPUB3 and sloppy EPUB2 files write role="aut").
std::string_view ns_attribute(pugi::xml_node node, std::string_view ns, std::string_view local) {
  std::string_view plain;
  for (const pugi::xml_attribute a : node.attributes()) {
    const std::string_view name = a.name();
    const std::string_view prefix = prefix_of(name);
    if (local_of(name) != local) continue;
    if (prefix.empty()) {
      plain = a.value();
      continue;
    }
    if (prefix == "xmlns") continue;
    const std::string_view uri = namespace_of(node, prefix);
    if (uri == ns || (uri.empty() && ns == kOpf && prefix == "opf")) return a.value();
  }
  return ns == kOpf ? plain : std::string_view{};
}

std::string text_of(pugi::xml_node node) { return files::clean_text(node.text().get()); }

// EPUB3 refinements: <meta refines="#id" property="role">aut</meta>, by id then property.
using Refinements = std::map<std::string, std::multimap<std::string, std::string>>;

std::string refinement(const Refinements& r, std::string_view id, const std::string& property) {
  if (id.empty()) return {};
  const auto it = r.find(std::string(id));
  if (it == r.end()) return {};
  const auto p = it->second.find(property);
  return p == it->second.end() ? std::string() : p->second;
}

bool ascii_contains(std::string_view hay, std::string_view needle) {
  const std::string h = detail::ascii_lower(hay);
  return h.find(needle) != std::string::npos;
}

// Schemes whose values are never ISBNs, even when their digits happen to validate.
bool other_scheme(std::string_view scheme) {
  static constexpr std::string_view kOther[] = {"uuid",      "calibre", "asin", "amazon", "mobi-asin",
                                                "goodreads", "google",  "doi",  "uri",    "url"};
  for (const auto o : kOther)
    if (detail::iequals(scheme, o)) return true;
  return false;
}

struct Identifier {
  std::string scheme;  // opf:scheme, or the EPUB3 identifier-type, or the "scheme:" of the value
  std::string value;
};

void read_identifier(const Identifier& id, std::vector<std::string>& isbns, std::string& asin) {
  const std::string& v = id.value;
  if (v.empty()) return;
  // calibre's EPUB3 form writes the scheme into the value: "isbn:978...", "amazon:B00...".
  std::string_view scheme = id.scheme;
  std::string_view value = v;
  if (scheme.empty()) {
    static constexpr std::pair<std::string_view, std::string_view> kPrefixes[] = {
        {"urn:isbn:", "isbn"}, {"isbn:", "isbn"},           {"urn:asin:", "asin"},
        {"asin:", "asin"},     {"mobi-asin:", "mobi-asin"}, {"amazon:", "amazon"}};
    for (const auto& [prefix, name] : kPrefixes) {
      if (detail::istarts_with(value, prefix)) {
        scheme = name;
        value.remove_prefix(prefix.size());
        break;
      }
    }
  }
  if (ascii_contains(scheme, "asin") || detail::iequals(scheme, "amazon")) {
    if (asin.empty()) asin = std::string(files::trim_view(value));
    return;
  }
  if (ascii_contains(scheme, "isbn") || scheme == "15" || scheme == "02") {
    isbns.emplace_back(value);  // ONIX codelist 5: 15 = ISBN-13, 02 = ISBN-10
    return;
  }
  // An identifier without a usable scheme counts when it is nothing but an ISBN's characters
  // and its checksum holds (parse_isbn refuses letters other than X).
  if (!other_scheme(scheme) && !detail::istarts_with(value, "urn:")) isbns.emplace_back(value);
}

Result<BookMetadata> parse(std::string_view xml, std::string_view source) {
  const auto fail = [&](const std::string& reason) {
    return Error{errc::bad_file, std::string(source) + reason};
  };
  if (xml.size() > kMaxOpfBytes)
    return fail(": OPF too large (" + std::to_string(xml.size()) + " bytes, limit " +
                std::to_string(kMaxOpfBytes) + ")");
  pugi::xml_document doc;
  // Neither DOCTYPE nor entities are expanded by pugixml: a hostile OPF cannot make it fetch
  // or multiply anything.
  const pugi::xml_parse_result parsed = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default);
  if (!parsed)
    return fail(": OPF is not well-formed XML at offset " + std::to_string(parsed.offset) + " (" +
                parsed.description() + ")");
  const pugi::xml_node package = doc.document_element();
  if (!is_element(package, kOpf, "package")) return fail(": not an OPF package document (no package root)");
  pugi::xml_node metadata;
  for (const pugi::xml_node n : package.children())
    if (is_element(n, kOpf, "metadata")) metadata = n;
  if (!metadata) return fail(": OPF has no metadata element");

  // One pass over every element under metadata (OPF 1.x nests dc-metadata and x-metadata).
  std::vector<pugi::xml_node> nodes;
  for (pugi::xml_node n = metadata.first_child(); n;) {
    if (n.type() == pugi::node_element) nodes.push_back(n);
    if (n.first_child()) {
      n = n.first_child();
      continue;
    }
    while (n && n != metadata && !n.next_sibling()) n = n.parent();
    if (!n || n == metadata) break;
    n = n.next_sibling();
  }

  Refinements refines;
  std::map<std::string, std::string> named_meta;  // EPUB2 <meta name content>, first wins
  for (const pugi::xml_node n : nodes) {
    if (!is_element(n, kOpf, "meta")) continue;
    const std::string_view ref = n.attribute("refines").value();
    const std::string_view property = n.attribute("property").value();
    if (!ref.empty() && !property.empty()) {
      refines[std::string(ref.starts_with('#') ? ref.substr(1) : ref)].emplace(std::string(property),
                                                                               text_of(n));
    }
    const std::string_view name = n.attribute("name").value();
    if (!name.empty())
      named_meta.emplace(std::string(name), files::clean_text(n.attribute("content").value()));
  }

  BookMetadata m;
  std::vector<std::string> isbns;
  std::string main_title, first_title;
  std::string collection, collection_position;
  bool have_date = false;
  for (const pugi::xml_node n : nodes) {
    const std::string_view id = n.attribute("id").value();
    if (is_element(n, kDc, "title")) {
      const std::string t = text_of(n);
      if (first_title.empty()) first_title = t;
      if (main_title.empty() && refinement(refines, id, "title-type") == "main") main_title = t;
    } else if (is_element(n, kDc, "creator") || is_element(n, kDc, "contributor")) {
      std::string role(ns_attribute(n, kOpf, "role"));
      if (role.empty()) role = refinement(refines, id, "role");
      // A dc:contributor without a role is still no author.
      if (role.empty() && is_element(n, kDc, "contributor")) role = "ctb";
      std::string file_as(ns_attribute(n, kOpf, "file-as"));
      if (file_as.empty()) file_as = refinement(refines, id, "file-as");
      files::add_contributor(m, text_of(n), role, file_as);
    } else if (is_element(n, kDc, "identifier")) {
      Identifier ident{std::string(ns_attribute(n, kOpf, "scheme")), text_of(n)};
      if (ident.scheme.empty()) ident.scheme = refinement(refines, id, "identifier-type");
      read_identifier(ident, isbns, m.asin);
    } else if (is_element(n, kDc, "language")) {
      if (m.language.empty()) m.language = text_of(n);
    } else if (is_element(n, kDc, "publisher")) {
      if (m.publisher.empty()) m.publisher = text_of(n);
    } else if (is_element(n, kDc, "description")) {
      if (!m.description) {
        std::string d = text_of(n);
        if (!d.empty()) m.description = std::move(d);
      }
    } else if (is_element(n, kDc, "date")) {
      // EPUB2 may carry several dates; the publication's is wanted, never the modification's.
      const std::string_view event = ns_attribute(n, kOpf, "event");
      if (!have_date && (event.empty() || detail::iequals(event, "publication") ||
                         detail::iequals(event, "original-publication"))) {
        files::set_date(m, text_of(n));
        have_date = m.release_year.has_value();
      }
    } else if (is_element(n, kOpf, "meta") &&
               std::string_view(n.attribute("property").value()) == "belongs-to-collection") {
      const std::string type = refinement(refines, id, "collection-type");
      if (collection.empty() && (type.empty() || type == "series")) {
        collection = text_of(n);
        collection_position = refinement(refines, id, "group-position");
      }
    }
  }
  m.title = !main_title.empty() ? main_title : first_title;
  files::choose_isbn(m, isbns);
  // calibre's own series metas win over an EPUB3 collection: calibre writes both, and its
  // index is the one users edit.
  if (const auto s = named_meta.find("calibre:series"); s != named_meta.end() && !s->second.empty()) {
    m.series = s->second;
    if (const auto i = named_meta.find("calibre:series_index"); i != named_meta.end())
      m.series_position = files::series_position(i->second);
  } else if (!collection.empty()) {
    m.series = collection;
    m.series_position = files::series_position(collection_position);
  }
  return m;
}

}  // namespace opf_reader
}  // namespace

Result<BookMetadata> parse_opf(std::string_view xml, std::string_view source) {
  try {
    return opf_reader::parse(xml, source);
  } catch (const std::exception& e) {  // bad_alloc: pugixml itself does not throw
    return Error{errc::bad_file, std::string(source) + ": " + e.what()};
  }
}

Result<BookMetadata> read_opf(const std::filesystem::path& path) {
  auto size = files::check_file(path);
  if (!size) return size.error();
  if (*size > kMaxOpfBytes)
    return files::bad_file(path, "OPF too large (" + std::to_string(*size) + " bytes, limit " +
                                     std::to_string(kMaxOpfBytes) + ")");
  std::ifstream in(path, std::ios::binary);
  if (!in) return files::file_error(errc::unavailable, path, "cannot open");
  // Read no more than the size checked above, even if the file has grown since.
  std::string xml(static_cast<std::size_t>(*size), '\0');
  in.read(xml.data(), static_cast<std::streamsize>(xml.size()));
  xml.resize(static_cast<std::size_t>(in.gcount()));
  if (in.bad()) return files::file_error(errc::unavailable, path, "read error");
  return parse_opf(xml, path.string());
}

}  // namespace shelfjobs

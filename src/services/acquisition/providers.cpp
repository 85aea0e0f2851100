// SPDX-License-Identifier: MIT
// The provider form (services/providers.hpp): one table of Readarr's implementations and their
// fields, one validator that walks it, and the factories that turn a validated definition into
// an adapter.
//
// Names, defaults and rules are Readarr's (NewznabSettings, TorznabSettings, QBittorrentSettings,
// TransmissionSettings, NzbgetSettings, SabnzbdSettings, TorrentBlackholeSettings,
// UsenetBlackholeSettings and their validators), because the point of the form is that a tool
// which syncs providers into Readarr (Prowlarr) sends payloads this reads unchanged. Where the
// brief and Readarr disagreed, Readarr won:
//  - Transmission's folder field is "tvDirectory" (Readarr kept Sonarr's property name), not
//    "musicDirectory": a synced definition carries "tvDirectory".
//  - "musicCategory" defaults are Readarr's per client: "readarr" for qBittorrent, "Readarr" for
//    NZBGet and SABnzbd, none for Transmission (its category is a sub-folder there).
//  - "categories" is Readarr's "select" field whose value is a list of numbers (its schema
//    shows it so, with the "newznabCategories" options provider); a select whose default is
//    an array takes a list.
// Only the fields the adapters use (or Readarr's tools commonly send) are listed; fields a
// client sends beyond them are kept in the stored settings as they came, so nothing a sync
// wrote is lost, but they are neither checked nor shown.

#include "shelfjobs/services/providers.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <regex>

namespace shelfjobs {
namespace {
// A namespace of its own inside the anonymous one: the release build compiles this file in one
// unit with other services' files, whose anonymous helpers (str, join, ...) would clash.
namespace form {

using nlohmann::json;

// How a field's value is checked beyond its JSON type.
enum class Rule {
  none,
  root_url,       // http(s)://host[:port][/path]
  url_base,       // a path ("/api", "/transmission/"): no scheme, no host
  host,           // a host name or address: no scheme, no path
  port,           // 1..65535
  absolute_path,  // an absolute folder
  category_list,  // at least one category number
  extra_params,   // "&key=value..."
  non_negative,   // a number >= 0 (or unset)
};

struct FieldSpec {
  ProviderField field;
  Rule rule = Rule::none;
};

ProviderField make_field(std::string name, std::string label, std::string type, json value,
                         std::string help = {}, bool advanced = false) {
  ProviderField f;
  f.name = std::move(name);
  f.label = std::move(label);
  f.type = std::move(type);
  f.value = std::move(value);
  f.help = std::move(help);
  f.advanced = advanced;
  return f;
}

// The rules live beside the table (not in ProviderField, which is the public schema).
struct Table {
  std::vector<ProviderImplementation> indexers;
  std::vector<ProviderImplementation> clients;
  // implementation name -> field name -> rule
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, Rule>>>> rules;
};

void add(Table& t, ProviderImplementation impl, std::vector<FieldSpec> specs) {
  std::vector<std::pair<std::string, Rule>> rules;
  for (auto& s : specs) {
    rules.emplace_back(s.field.name, s.rule);
    impl.fields.push_back(std::move(s.field));
  }
  t.rules.emplace_back(impl.implementation, std::move(rules));
  (impl.kind == ProviderKind::indexer ? t.indexers : t.clients).push_back(std::move(impl));
}

FieldSpec spec(ProviderField f, Rule rule = Rule::none) { return {std::move(f), rule}; }
FieldSpec secret(ProviderField f) {
  f.secret = true;
  return {std::move(f), Rule::none};
}
FieldSpec required(ProviderField f, Rule rule) {
  f.required = true;
  return {std::move(f), rule};
}

std::vector<FieldSpec> newznab_fields() {
  std::vector<FieldSpec> v;
  v.push_back(required(make_field("baseUrl", "URL", "textbox", ""), Rule::root_url));
  v.push_back(
      spec(make_field("apiPath", "API Path", "textbox", "/api", "Path to the api, usually /api", true),
           Rule::url_base));
  v.push_back(secret(make_field("apiKey", "API Key", "textbox", "")));
  v.push_back(spec(make_field("categories", "Categories", "select", json::array({3030, 7020, 8010}),
                              "Drop down list; at least one category must be selected."),
                   Rule::category_list));
  v.push_back(spec(
      make_field("earlyReleaseLimit", "Early Download Limit", "number", nullptr,
                 "Time before release date Readarr will download from this indexer, empty is no limit", true),
      Rule::non_negative));
  v.push_back(spec(make_field("additionalParameters", "Additional Parameters", "textbox", "",
                              "Additional Newznab parameters", true),
                   Rule::extra_params));
  return v;
}

std::vector<FieldSpec> http_client_fields(int port, const std::string& url_base, const std::string& product) {
  std::vector<FieldSpec> v;
  v.push_back(required(make_field("host", "Host", "textbox", "localhost"), Rule::host));
  v.push_back(required(make_field("port", "Port", "textbox", port), Rule::port));
  v.push_back(spec(make_field("useSsl", "Use SSL", "checkbox", false,
                              "Use secure connection when connecting to " + product)));
  v.push_back(
      spec(make_field("urlBase", "Url Base", "textbox", url_base,
                      "Adds a prefix to the " + product + " url, e.g. http://[host]:[port]/[urlBase]", true),
           Rule::url_base));
  return v;
}

FieldSpec category_field(json value) {
  return spec(make_field("musicCategory", "Category", "textbox", std::move(value),
                         "Adding a category specific to Readarr avoids conflicts with unrelated downloads"));
}

Table build_table() {
  Table t;
  const std::string wiki = "https://wiki.servarr.com/readarr/supported#";

  add(t, {ProviderKind::indexer, "Newznab", "Newznab", "NewznabSettings", "usenet", wiki + "newznab", {}},
      newznab_fields());
  {
    auto f = newznab_fields();
    f.push_back(spec(make_field("minimumSeeders", "Minimum Seeders", "number", 1,
                                "Minimum number of seeders required.", true),
                     Rule::non_negative));
    f.push_back(spec(
        make_field("seedCriteria.seedRatio", "Seed Ratio", "textbox", nullptr,
                   "The ratio a torrent should reach before stopping, empty is download client's default",
                   true),
        Rule::non_negative));
    f.push_back(spec(
        make_field("seedCriteria.seedTime", "Seed Time", "number", nullptr,
                   "The time a torrent should be seeded before stopping, empty is download client's default",
                   true),
        Rule::non_negative));
    add(t, {ProviderKind::indexer, "Torznab", "Torznab", "TorznabSettings", "torrent", wiki + "torznab", {}},
        std::move(f));
  }

  {
    auto f = http_client_fields(8080, "", "qBittorrent");
    f.push_back(spec(make_field("username", "Username", "textbox", "")));
    f.push_back(secret(make_field("password", "Password", "password", "")));
    f.push_back(category_field("readarr"));
    add(t,
        {ProviderKind::download_client,
         "QBittorrent",
         "qBittorrent",
         "QBittorrentSettings",
         "torrent",
         wiki + "qbittorrent",
         {}},
        std::move(f));
  }
  {
    auto f = http_client_fields(9091, "/transmission/", "Transmission");
    f.push_back(spec(make_field("username", "Username", "textbox", "")));
    f.push_back(secret(make_field("password", "Password", "password", "")));
    f.push_back(category_field(""));
    f.push_back(spec(make_field("tvDirectory", "Directory", "textbox", "",
                                "Optional location to put downloads in, leave blank to use the default "
                                "Transmission location",
                                true)));
    add(t,
        {ProviderKind::download_client,
         "Transmission",
         "Transmission",
         "TransmissionSettings",
         "torrent",
         wiki + "transmission",
         {}},
        std::move(f));
  }
  {
    auto f = http_client_fields(6789, "", "NZBGet");
    f.push_back(spec(make_field("username", "Username", "textbox", "nzbget")));
    f.push_back(secret(make_field("password", "Password", "password", "tegbzn6789")));
    f.push_back(category_field("Readarr"));
    add(t,
        {ProviderKind::download_client, "Nzbget", "NZBGet", "NzbgetSettings", "usenet", wiki + "nzbget", {}},
        std::move(f));
  }
  {
    auto f = http_client_fields(8080, "", "Sabnzbd");
    f.push_back(secret(make_field("apiKey", "API Key", "textbox", "")));
    f.push_back(spec(make_field("username", "Username", "textbox", "")));
    f.push_back(secret(make_field("password", "Password", "password", "")));
    f.push_back(category_field("Readarr"));
    add(t,
        {ProviderKind::download_client,
         "Sabnzbd",
         "SABnzbd",
         "SabnzbdSettings",
         "usenet",
         wiki + "sabnzbd",
         {}},
        std::move(f));
  }
  {
    std::vector<FieldSpec> f;
    f.push_back(required(make_field("torrentFolder", "Torrent Folder", "path", "",
                                    "Folder in which Readarr will store the .torrent file"),
                         Rule::absolute_path));
    f.push_back(required(make_field("watchFolder", "Watch Folder", "path", "",
                                    "Folder from which Readarr should import completed downloads"),
                         Rule::absolute_path));
    f.push_back(spec(make_field("saveMagnetFiles", "Save Magnet Files", "checkbox", false,
                                "Save the magnet link if no .torrent file is available (only useful if the "
                                "download client supports magnets saved to a file)")));
    f.push_back(spec(make_field("magnetFileExtension", "Save Magnet Files Extension", "textbox", ".magnet",
                                "Extension to use for magnet links, defaults to '.magnet'")));
    f.push_back(spec(make_field("readOnly", "Read Only", "checkbox", true,
                                "Instead of moving files this will instruct Readarr to Copy or Hardlink "
                                "(depending on settings/system configuration)")));
    add(t,
        {ProviderKind::download_client,
         "TorrentBlackhole",
         "Torrent Blackhole",
         "TorrentBlackholeSettings",
         "torrent",
         wiki + "torrentblackhole",
         {}},
        std::move(f));
  }
  {
    std::vector<FieldSpec> f;
    f.push_back(required(make_field("nzbFolder", "Nzb Folder", "path", "",
                                    "This folder will need to be reachable from NZBGet/SABnzbd"),
                         Rule::absolute_path));
    f.push_back(required(make_field("watchFolder", "Watch Folder", "path", "",
                                    "Readarr will watch this folder for completed downloads"),
                         Rule::absolute_path));
    add(t,
        {ProviderKind::download_client,
         "UsenetBlackhole",
         "Usenet Blackhole",
         "UsenetBlackholeSettings",
         "usenet",
         wiki + "usenetblackhole",
         {}},
        std::move(f));
  }
  return t;
}

const Table& table() {
  static const Table t = build_table();
  return t;
}

Rule rule_of(const std::string& implementation, const std::string& field) {
  for (const auto& [impl, rules] : table().rules) {
    if (impl != implementation) continue;
    for (const auto& [name, rule] : rules)
      if (name == field) return rule;
  }
  return Rule::none;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool blank(const json& v) { return v.is_null() || (v.is_string() && v.get<std::string>().empty()); }

std::string str(const json& settings, const std::string& name) {
  auto it = settings.find(name);
  return it != settings.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool flag(const json& settings, const std::string& name) {
  auto it = settings.find(name);
  return it != settings.end() && it->is_boolean() && it->get<bool>();
}

// A whole number sent as a number or as a string of digits (Readarr's form posts ports as text).
std::optional<long long> whole_number(const json& v) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() &&
        v.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<long long>::max()))
      return std::nullopt;
    return v.get<long long>();
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::trunc(d) == d && std::abs(d) < 9e15) return static_cast<long long>(d);
    return std::nullopt;
  }
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    if (s.empty() || s.size() > 18) return std::nullopt;
    std::size_t i = s[0] == '-' ? 1 : 0;
    if (i == s.size()) return std::nullopt;
    for (std::size_t k = i; k < s.size(); ++k)
      if (!std::isdigit(static_cast<unsigned char>(s[k]))) return std::nullopt;
    return std::stoll(s);
  }
  return std::nullopt;
}

std::optional<double> real_number(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size() && std::isfinite(d)) return d;
  }
  return std::nullopt;
}

bool is_root_url(const std::string& s) {
  static const std::regex re(R"(^https?://[^/\s?#:]+(:\d{1,5})?(/[^\s]*)?$)", std::regex::icase);
  return std::regex_match(s, re);
}

// Checks one field's value against its type and rule; returns the value as it is to be stored
// (a port sent as text becomes a number), or the reason it is wrong.
Result<json> check_field(const std::string& implementation, const ProviderField& f, json v) {
  const Rule rule = rule_of(implementation, f.name);
  auto fail = [&](const std::string& why) -> Result<json> {
    return Error{errc::invalid_argument, f.name + ": " + why};
  };
  if (v.is_null()) return v;  // absent values were filled in before; null means "unset"
  if (f.type == "checkbox") {
    if (!v.is_boolean()) return fail("must be true or false");
    return v;
  }
  if (f.type == "select" && f.value.is_array()) {
    if (!v.is_array()) return fail("must be a list of numbers");
    json out = json::array();
    for (const auto& item : v) {
      auto n = whole_number(item);
      if (!n || *n < 0 || *n > std::numeric_limits<int>::max()) return fail("must be a list of numbers");
      out.push_back(static_cast<int>(*n));
    }
    if (rule == Rule::category_list && out.empty()) return fail("at least one category must be provided");
    return out;
  }
  if (rule == Rule::port) {
    auto n = whole_number(v);
    if (!n || *n < 1 || *n > 65535) return fail("must be a port number between 1 and 65535");
    return json(static_cast<int>(*n));
  }
  if (f.name == "seedCriteria.seedRatio") {
    auto d = real_number(v);
    if (!d || *d < 0) return fail("must be a number of 0 or more");
    return json(*d);
  }
  if (f.type == "number") {
    auto n = whole_number(v);
    if (!n || *n > std::numeric_limits<int>::max() || *n < std::numeric_limits<int>::min())
      return fail("must be a whole number");
    if (rule == Rule::non_negative && *n < 0) return fail("must be 0 or more");
    return json(static_cast<int>(*n));
  }
  // Text of any kind.
  if (!v.is_string()) return fail("must be text");
  const auto s = v.get<std::string>();
  switch (rule) {
    case Rule::root_url:
      if (!is_root_url(s)) return fail("must be an http or https URL");
      break;
    case Rule::url_base:
      if (s.find("://") != std::string::npos || s.find_first_of(" ?#\\") != std::string::npos)
        return fail("must be a URL path such as '/api', not a URL");
      break;
    case Rule::host:
      if (s.empty() || s.find_first_of("/ ?#\\") != std::string::npos || s.find("://") != std::string::npos)
        return fail("must be a host name or address (no scheme, no path)");
      break;
    case Rule::absolute_path:
      if (!std::filesystem::path(s).is_absolute()) return fail("must be an absolute folder");
      break;
    case Rule::extra_params: {
      static const std::regex re(R"((&[^&=]+=[^&]*)+)");
      if (!s.empty() && !std::regex_match(s, re)) return fail("must be of the form '&key=value&key=value'");
      break;
    }
    default: break;
  }
  return v;
}

// The rules that tie fields together, as Readarr's validators state them.
void check_implementation(const std::string& impl, const json& s, std::vector<std::string>& failures) {
  if (impl == "QBittorrent") {
    const auto c = str(s, "musicCategory");
    if (c.find('\\') != std::string::npos || c.find("//") != std::string::npos ||
        (!c.empty() && c.front() == '/') || (!c.empty() && c.back() == '/'))
      failures.push_back("musicCategory: cannot contain '\\', '//', or start or end with '/'");
  } else if (impl == "Transmission") {
    static const std::regex re(R"(^\.?[-a-z]*$)", std::regex::icase);
    const auto c = str(s, "musicCategory");
    if (!std::regex_match(c, re)) failures.push_back("musicCategory: allowed characters are a-z and -");
    if (!c.empty() && !str(s, "tvDirectory").empty())
      failures.push_back("musicCategory: cannot use a category and a directory together");
    // The adapter reaches `<prefix>/transmission/rpc`; a urlBase must end in "transmission".
    std::string base = str(s, "urlBase");
    while (!base.empty() && base.back() == '/') base.pop_back();
    const std::string tail = "transmission";
    if (base.size() < tail.size() || base.compare(base.size() - tail.size(), tail.size(), tail) != 0 ||
        (base.size() > tail.size() && base[base.size() - tail.size() - 1] != '/'))
      failures.push_back("urlBase: must end in '/transmission/' (the RPC is reached at [urlBase]rpc)");
  } else if (impl == "Nzbget") {
    if (str(s, "username").empty() != str(s, "password").empty())
      failures.push_back(str(s, "username").empty() ? "username: is required when a password is set"
                                                    : "password: is required when a username is set");
  } else if (impl == "Sabnzbd") {
    if (str(s, "apiKey").empty()) {
      if (str(s, "username").empty())
        failures.push_back("apiKey: is required when username and password are not configured");
      else if (str(s, "password").empty())
        failures.push_back("password: is required when the API key is not configured");
    }
  } else if (impl == "TorrentBlackhole") {
    const auto ext = str(s, "magnetFileExtension");
    if (flag(s, "saveMagnetFiles") && (ext.empty() || ext.find('/') != std::string::npos))
      failures.push_back("magnetFileExtension: must be a file extension such as '.magnet'");
  }
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

// The settings as a JSON object (an empty object for "" or a stored value that is not one).
json settings_of(const ProviderDefinition& d) {
  if (d.settings.empty()) return json::object();
  json j = json::parse(d.settings, nullptr, false);
  return j.is_object() ? j : json::object();
}

// "http(s)://host:port/urlBase" (no trailing slash), as Readarr's HttpRequestBuilder joins them.
std::string client_base_url(const json& s, std::string url_base) {
  std::string host = str(s, "host");
  // An IPv6 literal needs brackets in a URL.
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  std::string url =
      (flag(s, "useSsl") ? "https://" : "http://") + host + ":" + std::to_string(s.value("port", 0));
  while (!url_base.empty() && url_base.back() == '/') url_base.pop_back();
  while (!url_base.empty() && url_base.front() == '/') url_base.erase(0, 1);
  if (!url_base.empty()) url += "/" + url_base;
  return url;
}

}  // namespace form
}  // namespace

const std::vector<ProviderImplementation>& provider_implementations(ProviderKind kind) {
  return kind == ProviderKind::indexer ? form::table().indexers : form::table().clients;
}

const ProviderImplementation* find_implementation(ProviderKind kind, std::string_view implementation) {
  for (const auto& impl : provider_implementations(kind))
    if (form::iequals(impl.implementation, implementation)) return &impl;
  return nullptr;
}

Result<ProviderDefinition> validate_definition(ProviderDefinition definition) {
  const auto* impl = find_implementation(definition.kind, definition.implementation);
  if (!impl) {
    return Error{errc::invalid_argument,
                 "implementation: unknown implementation '" + definition.implementation + "' for " +
                     (definition.kind == ProviderKind::indexer ? "an indexer" : "a download client")};
  }
  definition.implementation = impl->implementation;  // Readarr's spelling
  definition.protocol = impl->protocol;
  std::vector<std::string> failures;
  if (definition.name.empty()) failures.push_back("name: must not be empty");
  if (definition.priority < 1 || definition.priority > 50)
    failures.push_back("priority: must be between 1 and 50");

  nlohmann::json settings;
  if (definition.settings.empty()) {
    settings = nlohmann::json::object();
  } else {
    settings = nlohmann::json::parse(definition.settings, nullptr, false);
    if (!settings.is_object()) return Error{errc::invalid_argument, "settings: must be a JSON object"};
  }
  for (const auto& f : impl->fields) {
    auto it = settings.find(f.name);
    if (it == settings.end() || it->is_null()) {
      // Absent or null: the default. A required field must end up with a value.
      settings[f.name] = f.value;
      if (f.required && form::blank(f.value)) failures.push_back(f.name + ": is required");
      continue;
    }
    if (f.required && form::blank(*it)) {
      failures.push_back(f.name + ": is required");
      continue;
    }
    auto checked = form::check_field(impl->implementation, f, *it);
    if (!checked) {
      failures.push_back(checked.error().message);
      continue;
    }
    *it = std::move(checked).value();
  }
  if (failures.empty()) form::check_implementation(impl->implementation, settings, failures);
  if (!failures.empty()) return Error{errc::invalid_argument, form::join(failures)};
  definition.settings = settings.dump();
  return definition;
}

nlohmann::json hide_secrets(const ProviderDefinition& definition) {
  nlohmann::json s = form::settings_of(definition);
  const auto* impl = find_implementation(definition.kind, definition.implementation);
  if (!impl) return s;
  for (const auto& f : impl->fields) {
    if (!f.secret) continue;
    auto it = s.find(f.name);
    if (it != s.end() && !form::blank(*it)) *it = std::string(kSecretPlaceholder);
  }
  return s;
}

nlohmann::json keep_secrets(const nlohmann::json& incoming, const ProviderDefinition& stored) {
  nlohmann::json out = incoming;
  if (!out.is_object()) return out;
  const nlohmann::json old = form::settings_of(stored);
  // The secret names of both the stored implementation and the incoming one (they are the same
  // names in Readarr's contracts, but a client may switch implementation in one PUT).
  const auto* impl = find_implementation(stored.kind, stored.implementation);
  if (!impl) return out;
  for (const auto& f : impl->fields) {
    if (!f.secret) continue;
    auto it = out.find(f.name);
    if (it == out.end() || !it->is_string() || it->get<std::string>() != kSecretPlaceholder) continue;
    auto was = old.find(f.name);
    if (was != old.end())
      *it = *was;
    else
      out.erase(it);  // nothing stored: the placeholder is not a password; fall back to the default
  }
  return out;
}

Result<IndexerSettings> indexer_settings(const ProviderDefinition& definition, std::shared_ptr<Clock> clock) {
  if (definition.kind != ProviderKind::indexer)
    return Error{errc::invalid_argument, "kind: '" + definition.name + "' is not an indexer"};
  auto valid = validate_definition(definition);
  if (!valid) return valid.error();
  const nlohmann::json s = nlohmann::json::parse(valid->settings);
  IndexerSettings is;
  is.name = valid->name;
  is.kind = valid->implementation == "Torznab" ? IndexerKind::torznab : IndexerKind::newznab;
  is.base_url = form::str(s, "baseUrl");
  std::string path = form::str(s, "apiPath");
  if (path.empty()) path = "/api";  // Readarr's ValidUrlBase("/api"): empty means the default
  if (path.front() != '/') path.insert(0, "/");
  is.api_path = path;
  is.api_key = form::str(s, "apiKey");
  is.categories = s.at("categories").get<std::vector<int>>();
  is.clock = std::move(clock);
  return is;
}

Result<std::unique_ptr<NewznabClient>> make_indexer_client(const ProviderDefinition& definition,
                                                           std::shared_ptr<Clock> clock) {
  auto settings = indexer_settings(definition, std::move(clock));
  if (!settings) return settings.error();
  auto client = NewznabClient::create(std::move(settings).value());
  if (!client) return Error{client.error().code, "baseUrl: " + client.error().message};
  return client;
}

Result<std::unique_ptr<DownloadClient>> make_download_client(const ProviderDefinition& definition,
                                                             std::shared_ptr<Clock> clock) {
  if (definition.kind != ProviderKind::download_client)
    return Error{errc::invalid_argument, "kind: '" + definition.name + "' is not a download client"};
  auto valid = validate_definition(definition);
  if (!valid) return valid.error();
  const nlohmann::json s = nlohmann::json::parse(valid->settings);
  const std::string& impl = valid->implementation;

  if (impl == "TorrentBlackhole" || impl == "UsenetBlackhole") {
    BlackholeOptions o;
    o.drop_folder = form::str(s, impl == "TorrentBlackhole" ? "torrentFolder" : "nzbFolder");
    o.watch_folder = form::str(s, "watchFolder");
    o.save_magnet_files = form::flag(s, "saveMagnetFiles");
    if (const auto ext = form::str(s, "magnetFileExtension"); !ext.empty()) o.magnet_extension = ext;
    if (clock) o.clock = std::move(clock);
    return impl == "TorrentBlackhole" ? make_torrent_blackhole(std::move(o))
                                      : make_usenet_blackhole(std::move(o));
  }

  HttpDownloadClientOptions http;
  http.username = form::str(s, "username");
  http.password = form::str(s, "password");
  if (impl == "Transmission") {
    // Readarr reaches Transmission at http://host:port/[urlBase]rpc; the adapter appends
    // "/transmission/rpc" itself, so the base is urlBase without its "transmission" segment
    // (validate_definition refused any other urlBase).
    std::string base = form::str(s, "urlBase");
    while (!base.empty() && base.back() == '/') base.pop_back();
    base.erase(base.size() - std::string_view("transmission").size());
    http.base_url = form::client_base_url(s, base);
    TransmissionOptions o{std::move(http), form::str(s, "tvDirectory")};
    return make_transmission(std::move(o));
  }
  http.base_url = form::client_base_url(s, form::str(s, "urlBase"));
  if (impl == "QBittorrent") return make_qbittorrent(std::move(http));
  if (impl == "Nzbget") return make_nzbget(std::move(http));
  // Sabnzbd (the only one left of the table).
  SabnzbdOptions o{std::move(http), form::str(s, "apiKey")};
  return make_sabnzbd(std::move(o));
}

std::string download_category(const ProviderDefinition& definition) {
  if (definition.kind != ProviderKind::download_client) return {};
  const nlohmann::json s = form::settings_of(definition);
  if (s.contains("musicCategory")) return form::str(s, "musicCategory");
  // Not stored (a definition that was never validated): the implementation's default.
  const auto* impl = find_implementation(definition.kind, definition.implementation);
  if (!impl) return {};
  for (const auto& f : impl->fields)
    if (f.name == "musicCategory" && f.value.is_string()) return f.value.get<std::string>();
  return {};
}

}  // namespace shelfjobs

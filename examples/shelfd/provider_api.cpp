// SPDX-License-Identifier: MIT
// Readarr's provider routes for indexers and download clients: list, one, create, update,
// delete, schema, test, test all, and the providers' failure status. The resource and the
// field list follow Readarr's ProviderResource, so Prowlarr's "Readarr" application (and any
// tool written against Readarr) can sync its indexers and read them back.
//
// Deliberate choices, where Readarr leaves room:
//  - A settings problem answers 400 with Readarr's validation-failure array
//    ([{propertyName, errorMessage, severity}]); so does a test whose service cannot be reached
//    or refuses us (Readarr answers a failing test with a validation failure, not 5xx: the
//    settings are what the user must look at). A body that is not JSON answers shelfd's usual
//    {"message"} 400; a store failure its usual 503.
//  - Create does not test the provider first (Readarr does unless ?forceSave=true; Prowlarr
//    always sends forceSave=true). POST /test is there for that.
//  - Secrets are shown as "********"; a PUT or a test that sends "********" back means "the
//    stored value".
#include <httplib.h>

#include "api.hpp"
#include "app.hpp"
#include "http_util.hpp"
#include "shelfjobs/catalog/acquisition_store.hpp"
#include "shelfjobs/services/providers.hpp"

namespace shelfd {

using namespace shelfjobs;
using nlohmann::json;

namespace {

const char* segment(ProviderKind kind) {
  return kind == ProviderKind::indexer ? "indexer" : "downloadclient";
}

// Readarr's PrivacyLevel of a field.
const char* privacy_of(const ProviderField& f) {
  if (f.secret) return f.type == "password" ? "password" : "apiKey";
  if (f.name == "username") return "userName";
  return "normal";
}

json fields_of(const ProviderImplementation& impl, const json& settings) {
  json out = json::array();
  int order = 0;
  for (const auto& f : impl.fields) {
    json field = {{"order", order++},
                  {"name", f.name},
                  {"label", f.label},
                  {"value", settings.is_object() && settings.contains(f.name) ? settings[f.name] : f.value},
                  {"type", f.type},
                  {"advanced", f.advanced},
                  {"privacy", privacy_of(f)},
                  {"helpText", f.help}};
    if (f.name == "categories") field["selectOptionsProviderAction"] = "newznabCategories";
    if (!f.select_options.empty()) {
      json options = json::array();
      for (const auto& o : f.select_options) options.push_back({{"value", o.value}, {"name", o.name}});
      field["selectOptions"] = options;
    }
    out.push_back(std::move(field));
  }
  return out;
}

// Readarr's IndexerResource / DownloadClientResource.
json provider_resource(const ProviderDefinition& d, const ProviderImplementation& impl,
                       const json& settings) {
  json r = {{"id", d.id},
            {"name", d.name},
            {"implementation", impl.implementation},
            {"implementationName", impl.name},
            {"configContract", impl.config_contract},
            {"infoLink", impl.info_link},
            {"protocol", impl.protocol},
            {"priority", d.priority},
            {"fields", fields_of(impl, settings)},
            {"tags", d.tags},
            {"presets", json::array()}};
  if (d.kind == ProviderKind::indexer) {
    r["enableRss"] = d.enable;
    r["enableAutomaticSearch"] = d.enable_automatic_search;
    r["enableInteractiveSearch"] = d.enable_interactive_search;
    r["supportsRss"] = true;
    r["supportsSearch"] = true;
  } else {
    r["enable"] = d.enable;
  }
  return r;
}

json stored_resource(const ProviderDefinition& d) {
  const auto* impl = find_implementation(d.kind, d.implementation);
  if (!impl) {  // a row written by a newer build: show what we can
    return {{"id", d.id},
            {"name", d.name},
            {"implementation", d.implementation},
            {"protocol", d.protocol},
            {"priority", d.priority},
            {"fields", json::array()},
            {"tags", d.tags}};
  }
  return provider_resource(d, *impl, hide_secrets(d));
}

// Readarr's validation failures of a message "field: reason; field: reason" (providers.hpp).
json validation_failures(const std::string& message) {
  json out = json::array();
  std::size_t start = 0;
  while (start <= message.size()) {
    auto end = message.find("; ", start);
    std::string part = message.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::string field;
    std::string text = part;
    if (auto colon = part.find(": "); colon != std::string::npos && part.find(' ') > colon) {
      field = part.substr(0, colon);
      text = part.substr(colon + 2);
    }
    out.push_back(
        {{"propertyName", field}, {"errorMessage", text}, {"severity", "error"}, {"isWarning", false}});
    if (end == std::string::npos) break;
    start = end + 2;
  }
  return out;
}

void invalid(httplib::Response& res, const std::string& message) {
  reply(res, 400, validation_failures(message));
}

// A failing test: one failure with the adapter's whole message (it names the provider and the
// cause, "qBittorrent: cannot connect ...", and is not split into fields).
json test_failures(const std::string& message, const std::string& field) {
  return json::array(
      {{{"propertyName", field}, {"errorMessage", message}, {"severity", "error"}, {"isWarning", false}}});
}

// A definition from a resource as Readarr's clients send it. Errors (invalid_body) name the
// member that is of the wrong type; the settings themselves are checked by validate_definition.
Result<ProviderDefinition> definition_from(const json& body, ProviderKind kind) {
  auto bad = [](const std::string& what) { return Error{errc::invalid_body, what}; };
  ProviderDefinition d;
  d.kind = kind;
  auto impl = body.find("implementation");
  if (impl == body.end() || !impl->is_string() || impl->get<std::string>().empty())
    return bad("implementation: is required (one of the names GET /api/v1/" + std::string(segment(kind)) +
               "/schema lists)");
  d.implementation = impl->get<std::string>();
  if (auto it = body.find("name"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) return bad("name: must be text");
    d.name = it->get<std::string>();
  }
  if (auto it = body.find("priority"); it != body.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<long long>() < 0 || it->get<long long>() > 1000)
      return bad("priority: must be a whole number from 1 to 50");
    d.priority = it->get<int>();
  }
  auto boolean = [&](const char* key, bool& out) -> Status {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return Ok{};
    if (!it->is_boolean()) return bad(std::string(key) + ": must be true or false");
    out = it->get<bool>();
    return Ok{};
  };
  if (kind == ProviderKind::indexer) {
    for (auto [key, out] :
         {std::pair{"enableRss", &d.enable}, std::pair{"enableAutomaticSearch", &d.enable_automatic_search},
          std::pair{"enableInteractiveSearch", &d.enable_interactive_search}}) {
      if (auto ok = boolean(key, *out); !ok) return ok.error();
    }
  } else if (auto ok = boolean("enable", d.enable); !ok) {
    return ok.error();
  }
  if (auto it = body.find("tags"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) return bad("tags: must be a list of tag ids");
    for (const auto& t : *it) {
      if (!t.is_number_integer() || t.get<long long>() < 0 || t.get<long long>() > INT32_MAX)
        return bad("tags: must be a list of tag ids");
      d.tags.push_back(t.get<int>());
    }
  }
  json settings = json::object();
  if (auto it = body.find("fields"); it != body.end() && !it->is_null()) {
    if (!it->is_array()) return bad("fields: must be a list of {name, value}");
    for (const auto& f : *it) {
      if (!f.is_object() || !f.contains("name") || !f["name"].is_string())
        return bad("fields: each field needs a \"name\"");
      if (f.contains("value")) settings[f["name"].get<std::string>()] = f["value"];
    }
  }
  d.settings = settings.dump();
  return d;
}

// The field a failing test points at, as Readarr's tests do (the URL or host for a service that
// cannot be reached, the credentials for one that refuses us).
std::string test_field(const ProviderDefinition& d, const Error& e) {
  if (d.kind == ProviderKind::indexer) return e.code == errc::invalid_argument ? "apiKey" : "baseUrl";
  if (d.implementation == "TorrentBlackhole") return "torrentFolder";
  if (d.implementation == "UsenetBlackhole") return "nzbFolder";
  if (e.code == errc::unauthorized) return d.implementation == "Sabnzbd" ? "apiKey" : "password";
  return "host";
}

// Runs the provider's own check: `caps` asked fresh for an indexer, `test()` for a client.
// Returns the error as Readarr would phrase its failure, or nothing when it passed.
std::optional<Error> run_test(const ProviderDefinition& d) {
  if (d.kind == ProviderKind::indexer) {
    auto client = make_indexer_client(d);
    if (!client) return client.error();
    auto caps = (*client)->caps({}, true);
    if (!caps) return caps.error();
    return std::nullopt;
  }
  auto client = make_download_client(d);
  if (!client) return client.error();
  auto ok = (*client)->test();
  if (!ok) return ok.error();
  return std::nullopt;
}

}  // namespace

void ApiServer::provider_routes() {
  auto& s = *server_;
  for (const ProviderKind kind : {ProviderKind::indexer, ProviderKind::download_client}) {
    const std::string base = std::string("/api/v1/") + segment(kind);
    const std::string what = kind == ProviderKind::indexer ? "indexer" : "download client";

    s.Get(base, [this, kind](const httplib::Request&, httplib::Response& res) {
      auto list = app_.acquisition_store().providers(kind);
      if (!list) return error(res, list.error());
      json out = json::array();
      for (const auto& d : *list) out.push_back(stored_resource(d));
      reply(res, 200, out);
    });

    s.Get(base + "/schema", [kind](const httplib::Request&, httplib::Response& res) {
      json out = json::array();
      for (const auto& impl : provider_implementations(kind)) {
        ProviderDefinition d;
        d.kind = kind;
        d.id = 0;
        d.implementation = impl.implementation;
        out.push_back(provider_resource(d, impl, json::object()));
      }
      reply(res, 200, out);
    });

    s.Get(base + R"(/(\d+))", [this, kind, what](const httplib::Request& req, httplib::Response& res) {
      auto id = route_id(req, what.c_str());
      if (!id) return error(res, id.error());
      auto d = app_.acquisition_store().provider(kind, *id);
      if (!d) return error(res, d.error());
      reply(res, 200, stored_resource(*d));
    });

    s.Post(base, [this, kind](const httplib::Request& req, httplib::Response& res) {
      auto body = json_body(req);
      if (!body) return error(res, body.error());
      auto d = definition_from(*body, kind);
      if (!d) return error(res, d.error());
      auto valid = validate_definition(std::move(d).value());
      if (!valid) return invalid(res, valid.error().message);
      auto added = app_.acquisition_store().add_provider(std::move(valid).value());
      if (!added) {
        if (added.error().code == errc::conflict) return invalid(res, "name: " + added.error().message);
        return error(res, added.error());
      }
      reply(res, 201, stored_resource(*added));
    });

    s.Put(base + R"(/(\d+))", [this, kind, what](const httplib::Request& req, httplib::Response& res) {
      auto id = route_id(req, what.c_str());
      if (!id) return error(res, id.error());
      auto body = json_body(req);
      if (!body) return error(res, body.error());
      auto stored = app_.acquisition_store().provider(kind, *id);
      if (!stored) return error(res, stored.error());
      auto d = definition_from(*body, kind);
      if (!d) return error(res, d.error());
      d->id = *id;
      d->settings = keep_secrets(json::parse(d->settings), *stored).dump();
      auto valid = validate_definition(std::move(d).value());
      if (!valid) return invalid(res, valid.error().message);
      auto updated = app_.acquisition_store().update_provider(*valid);
      if (!updated) {
        if (updated.error().code == errc::conflict) return invalid(res, "name: " + updated.error().message);
        return error(res, updated.error());
      }
      // Readarr answers an update with 202 Accepted and the resource.
      reply(res, 202, stored_resource(*valid));
    });

    s.Delete(base + R"(/(\d+))", [this, kind, what](const httplib::Request& req, httplib::Response& res) {
      auto id = route_id(req, what.c_str());
      if (!id) return error(res, id.error());
      auto removed = app_.acquisition_store().remove_provider(kind, *id);
      if (!removed) return error(res, removed.error());
      reply(res, 200, json::object());
    });

    s.Post(base + "/test", [this, kind](const httplib::Request& req, httplib::Response& res) {
      auto body = json_body(req);
      if (!body) return error(res, body.error());
      auto d = definition_from(*body, kind);
      if (!d) return error(res, d.error());
      // A definition already stored (the form's Test button on an existing provider) may send
      // its secrets as the placeholder: test with the stored ones.
      if (auto it = body->find("id");
          it != body->end() && it->is_number_integer() && it->get<long long>() > 0) {
        if (auto stored = app_.acquisition_store().provider(kind, it->get<RowId>()))
          d->settings = keep_secrets(json::parse(d->settings), *stored).dump();
      }
      if (d->name.empty()) d->name = d->implementation;  // a test needs no name
      auto valid = validate_definition(std::move(d).value());
      if (!valid) return invalid(res, valid.error().message);
      if (auto failure = run_test(*valid))
        return reply(res, 400, test_failures(failure->message, test_field(*valid, *failure)));
      reply(res, 200, json::object());
    });

    s.Post(base + "/testall", [this, kind](const httplib::Request&, httplib::Response& res) {
      auto list = app_.acquisition_store().providers(kind);
      if (!list) return error(res, list.error());
      json out = json::array();
      bool all_valid = true;
      for (const auto& d : *list) {
        json failures = json::array();
        if (auto failure = run_test(d)) failures = test_failures(failure->message, test_field(d, *failure));
        all_valid = all_valid && failures.empty();
        out.push_back({{"id", d.id}, {"isValid", failures.empty()}, {"validationFailures", failures}});
      }
      reply(res, all_valid ? 200 : 400, out);
    });

    const std::string status_path = base + "status";
    const std::string id_name = kind == ProviderKind::indexer ? "indexerId" : "downloadClientId";
    s.Get(status_path, [this, kind, id_name](const httplib::Request&, httplib::Response& res) {
      auto list = app_.acquisition_store().provider_statuses(kind);
      if (!list) return error(res, list.error());
      auto opt_time = [](const std::optional<TimePoint>& t) {
        return t ? json(format_time(*t)) : json(nullptr);
      };
      json out = json::array();
      for (const auto& st : *list) {
        out.push_back({{"id", st.provider_id},
                       {"providerId", st.provider_id},
                       {id_name, st.provider_id},
                       {"initialFailure", opt_time(st.initial_failure)},
                       {"mostRecentFailure", opt_time(st.most_recent_failure)},
                       {"escalationLevel", st.escalation_level},
                       {"disabledTill", opt_time(st.disabled_till)}});
      }
      reply(res, 200, out);
    });
  }
}

}  // namespace shelfd

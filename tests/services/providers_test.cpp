// SPDX-License-Identifier: MIT
// The provider form: Readarr's implementations and fields, validation (each failure names its
// field), defaults, secrets hidden and kept, and the adapters the factories build (a torrent
// blackhole whose test passes, an indexer client's request URL, the Transmission RPC path a
// urlBase leads to, on a loopback stand-in).

#include <catch2/catch.hpp>

#include <httplib.h>

#include "http_task_queue.hpp"

#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "loopback.hpp"
#include "shelfjobs/services/providers.hpp"
#include "test_support.hpp"

namespace providers_test {

using namespace shelfjobs;
using namespace testing;
using nlohmann::json;
namespace fs = std::filesystem;

ProviderDefinition definition(ProviderKind kind, std::string implementation, json settings) {
  ProviderDefinition d;
  d.kind = kind;
  d.name = "My " + implementation;
  d.implementation = std::move(implementation);
  d.settings = settings.dump();
  return d;
}

json settings_of(const ProviderDefinition& d) { return json::parse(d.settings); }

const ProviderField* field(const ProviderImplementation& impl, const std::string& name) {
  for (const auto& f : impl.fields)
    if (f.name == name) return &f;
  return nullptr;
}

TEST_CASE("The schema lists Readarr's implementations, contracts and field names",
          "[acquisition][providers]") {
  std::set<std::string> indexers, clients;
  for (const auto& i : provider_implementations(ProviderKind::indexer)) indexers.insert(i.implementation);
  for (const auto& i : provider_implementations(ProviderKind::download_client))
    clients.insert(i.implementation);
  CHECK(indexers == std::set<std::string>{"Newznab", "Torznab"});
  CHECK(clients == std::set<std::string>{"QBittorrent", "Transmission", "Nzbget", "Sabnzbd",
                                         "TorrentBlackhole", "UsenetBlackhole"});

  const auto* torznab = find_implementation(ProviderKind::indexer, "torznab");  // any case
  REQUIRE(torznab);
  CHECK(torznab->config_contract == "TorznabSettings");
  CHECK(torznab->protocol == "torrent");
  for (const char* name :
       {"baseUrl", "apiPath", "apiKey", "categories", "earlyReleaseLimit", "additionalParameters",
        "minimumSeeders", "seedCriteria.seedRatio", "seedCriteria.seedTime"}) {
    INFO(name);
    CHECK(field(*torznab, name));
  }
  CHECK(field(*torznab, "apiKey")->secret);
  CHECK(field(*torznab, "apiPath")->value == "/api");
  CHECK(field(*torznab, "apiPath")->advanced);
  CHECK(field(*torznab, "categories")->value == json::array({3030, 7020, 8010}));
  CHECK(field(*torznab, "minimumSeeders")->value == 1);
  CHECK(field(*torznab, "earlyReleaseLimit")->value.is_null());
  CHECK(find_implementation(ProviderKind::indexer, "Newznab")->config_contract == "NewznabSettings");
  CHECK_FALSE(field(*find_implementation(ProviderKind::indexer, "Newznab"), "minimumSeeders"));

  const auto* qbit = find_implementation(ProviderKind::download_client, "QBittorrent");
  REQUIRE(qbit);
  CHECK(qbit->config_contract == "QBittorrentSettings");
  CHECK(field(*qbit, "port")->value == 8080);
  CHECK(field(*qbit, "musicCategory")->value == "readarr");
  CHECK(field(*qbit, "password")->secret);
  CHECK(field(*qbit, "password")->type == "password");
  const auto* transmission = find_implementation(ProviderKind::download_client, "Transmission");
  CHECK(field(*transmission, "port")->value == 9091);
  CHECK(field(*transmission, "urlBase")->value == "/transmission/");
  CHECK(field(*transmission, "tvDirectory")->advanced);
  const auto* nzbget = find_implementation(ProviderKind::download_client, "Nzbget");
  CHECK(field(*nzbget, "port")->value == 6789);
  CHECK(field(*nzbget, "username")->value == "nzbget");
  const auto* sab = find_implementation(ProviderKind::download_client, "Sabnzbd");
  CHECK(field(*sab, "apiKey")->secret);
  CHECK(field(*sab, "password")->secret);
  const auto* blackhole = find_implementation(ProviderKind::download_client, "TorrentBlackhole");
  CHECK(blackhole->protocol == "torrent");
  CHECK(field(*blackhole, "torrentFolder")->type == "path");
  CHECK(field(*blackhole, "torrentFolder")->required);
  CHECK(field(*blackhole, "magnetFileExtension")->value == ".magnet");
  CHECK(find_implementation(ProviderKind::download_client, "UsenetBlackhole")->protocol == "usenet");
  CHECK_FALSE(find_implementation(ProviderKind::indexer, "QBittorrent"));  // not of that kind
  CHECK_FALSE(find_implementation(ProviderKind::download_client, "Deluge"));
}

TEST_CASE("Validation fills defaults, sets the protocol and converts text numbers",
          "[acquisition][providers]") {
  auto d = definition(ProviderKind::indexer, "torznab",
                      {{"baseUrl", "http://127.0.0.1:9117/api/v2.0/indexers/x"}});
  d.protocol = "usenet";  // wrong: the implementation decides
  auto v = validate_definition(d);
  REQUIRE(v);
  CHECK(v->implementation == "Torznab");
  CHECK(v->protocol == "torrent");
  const json s = settings_of(*v);
  CHECK(s["apiPath"] == "/api");
  CHECK(s["categories"] == json::array({3030, 7020, 8010}));
  CHECK(s["minimumSeeders"] == 1);
  CHECK(s["seedCriteria.seedRatio"].is_null());

  auto c = validate_definition(definition(ProviderKind::download_client, "QBittorrent",
                                          {{"host", "qbit.lan"}, {"port", "8081"}, {"extra", 5}}));
  REQUIRE(c);
  const json cs = settings_of(*c);
  CHECK(cs["port"] == 8081);  // a port sent as text is stored as a number
  CHECK(cs["musicCategory"] == "readarr");
  CHECK(cs["useSsl"] == false);
  CHECK(cs["extra"] == 5);  // fields beyond the contract are kept as sent
  CHECK(c->protocol == "torrent");
}

TEST_CASE("Each validation failure names its field", "[acquisition][providers]") {
  auto fails_with = [](const ProviderDefinition& d, const std::string& text) {
    auto v = validate_definition(d);
    REQUIRE_FALSE(v);
    CHECK(v.error().code == errc::invalid_argument);
    INFO(v.error().message);
    CHECK(v.error().message.find(text) != std::string::npos);
  };
  using K = ProviderKind;
  fails_with(definition(K::indexer, "Foo", json::object()), "implementation: unknown implementation 'Foo'");
  fails_with(definition(K::indexer, "QBittorrent", json::object()), "unknown implementation 'QBittorrent'");
  fails_with(definition(K::indexer, "Newznab", json::object()), "baseUrl: is required");
  fails_with(definition(K::indexer, "Newznab", {{"baseUrl", "ftp://x"}}),
             "baseUrl: must be an http or https URL");
  fails_with(definition(K::indexer, "Newznab", {{"baseUrl", "http://x"}, {"categories", json::array()}}),
             "categories: at least one category");
  fails_with(definition(K::indexer, "Newznab", {{"baseUrl", "http://x"}, {"categories", "7020"}}),
             "categories: must be a list of numbers");
  fails_with(definition(K::indexer, "Newznab", {{"baseUrl", "http://x"}, {"additionalParameters", "x=1"}}),
             "additionalParameters:");
  fails_with(definition(K::indexer, "Newznab", {{"baseUrl", "http://x"}, {"apiPath", "http://y/api"}}),
             "apiPath:");
  fails_with(definition(K::indexer, "Torznab", {{"baseUrl", "http://x"}, {"minimumSeeders", -1}}),
             "minimumSeeders: must be 0 or more");
  fails_with(definition(K::download_client, "QBittorrent", {{"port", 70000}}), "port: must be a port number");
  fails_with(definition(K::download_client, "QBittorrent", {{"port", "eighty"}}),
             "port: must be a port number");
  fails_with(definition(K::download_client, "QBittorrent", {{"host", "http://x"}}),
             "host: must be a host name");
  fails_with(definition(K::download_client, "QBittorrent", {{"useSsl", "yes"}}),
             "useSsl: must be true or false");
  fails_with(definition(K::download_client, "QBittorrent", {{"musicCategory", "/books"}}), "musicCategory:");
  fails_with(
      definition(K::download_client, "Transmission", {{"musicCategory", "books"}, {"tvDirectory", "/dl"}}),
      "musicCategory: cannot use a category and a directory");
  fails_with(definition(K::download_client, "Transmission", {{"urlBase", "/rpc-here/"}}), "urlBase:");
  fails_with(definition(K::download_client, "Sabnzbd", json::object()), "apiKey: is required");
  fails_with(definition(K::download_client, "Sabnzbd", {{"username", "u"}}), "password: is required");
  fails_with(definition(K::download_client, "TorrentBlackhole", {{"watchFolder", "/w"}}),
             "torrentFolder: is required");
  fails_with(
      definition(K::download_client, "TorrentBlackhole", {{"torrentFolder", "rel"}, {"watchFolder", "/w"}}),
      "torrentFolder: must be an absolute folder");
  fails_with(definition(K::download_client, "UsenetBlackhole", json::object()), "nzbFolder: is required");
  auto bad_priority =
      definition(K::download_client, "UsenetBlackhole", {{"nzbFolder", "/n"}, {"watchFolder", "/w"}});
  bad_priority.priority = 0;
  fails_with(bad_priority, "priority: must be between 1 and 50");
  auto no_name = bad_priority;
  no_name.priority = 1;
  no_name.name.clear();
  fails_with(no_name, "name: must not be empty");
  auto not_object = bad_priority;
  not_object.settings = "[1]";
  fails_with(not_object, "settings: must be a JSON object");

  // Several failures at once: every one, each naming its field.
  auto v = validate_definition(definition(K::download_client, "QBittorrent", {{"port", 0}, {"host", ""}}));
  REQUIRE_FALSE(v);
  CHECK(v.error().message.find("host: is required") != std::string::npos);
  CHECK(v.error().message.find("; port: ") != std::string::npos);
}

TEST_CASE("Secrets are hidden and kept when the placeholder comes back", "[acquisition][providers]") {
  auto stored = validate_definition(definition(ProviderKind::download_client, "Sabnzbd",
                                               {{"apiKey", "sab-key"}, {"password", ""}, {"host", "sab"}}));
  REQUIRE(stored);
  const json shown = hide_secrets(*stored);
  CHECK(shown["apiKey"] == "********");
  CHECK(shown["password"] == "");  // nothing to hide
  CHECK(shown["host"] == "sab");

  json incoming = shown;
  incoming["host"] = "sab2";
  json kept = keep_secrets(incoming, *stored);
  CHECK(kept["apiKey"] == "sab-key");
  CHECK(kept["host"] == "sab2");
  incoming["apiKey"] = "new-key";
  CHECK(keep_secrets(incoming, *stored)["apiKey"] == "new-key");

  // A placeholder for a secret never stored is no secret: it is dropped (the default applies).
  auto bare = *stored;
  bare.settings = json{{"host", "sab"}}.dump();
  CHECK_FALSE(keep_secrets(json{{"apiKey", "********"}}, bare).contains("apiKey"));
}

TEST_CASE("The indexer factory builds a client from the definition", "[acquisition][providers]") {
  auto d = definition(ProviderKind::indexer, "Torznab",
                      {{"baseUrl", "http://127.0.0.1:9696/1/"},
                       {"apiPath", "/api"},
                       {"apiKey", "k3y"},
                       {"categories", {7020}}});
  auto client = make_indexer_client(d);
  REQUIRE(client);
  const auto& s = (*client)->settings();
  CHECK(s.name == "My Torznab");
  CHECK(s.kind == IndexerKind::torznab);
  CHECK(s.categories == std::vector<int>{7020});
  const std::string url = (*client)->request_url("caps", {});
  INFO(url);
  CHECK(url.find("http://127.0.0.1:9696/1/api?") == 0);
  CHECK(url.find("apikey=k3y") != std::string::npos);
  CHECK(url.find("t=caps") != std::string::npos);

  auto bad = make_indexer_client(definition(ProviderKind::indexer, "Newznab", {{"baseUrl", "nope"}}));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("baseUrl:") != std::string::npos);
  CHECK_FALSE(make_indexer_client(definition(ProviderKind::download_client, "QBittorrent", json::object())));
}

TEST_CASE("The download-client factory builds working adapters", "[acquisition][providers]") {
  TempDir dir;
  const auto drop = dir.path() / "drop", watch = dir.path() / "watch";
  fs::create_directories(drop);
  fs::create_directories(watch);
  auto d = definition(
      ProviderKind::download_client, "TorrentBlackhole",
      {{"torrentFolder", drop.string()}, {"watchFolder", watch.string()}, {"saveMagnetFiles", true}});
  auto client = make_download_client(d);
  REQUIRE(client);
  CHECK((*client)->protocol() == DownloadProtocol::torrent);
  CHECK((*client)->test());
  auto added = (*client)->add({.kind = DownloadRequest::Kind::magnet,
                               .data = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567",
                               .title = "Some Book"});
  REQUIRE(added);
  CHECK(fs::exists(drop / "Some Book.magnet"));
  CHECK(download_category(d).empty());

  auto usenet =
      make_download_client(definition(ProviderKind::download_client, "UsenetBlackhole",
                                      {{"nzbFolder", "/nonexistent/x"}, {"watchFolder", watch.string()}}));
  REQUIRE(usenet);
  CHECK((*usenet)->protocol() == DownloadProtocol::usenet);
  CHECK_FALSE((*usenet)->test());  // its folder is missing

  auto qbit = definition(ProviderKind::download_client, "QBittorrent",
                         {{"host", "127.0.0.1"}, {"port", closed_port()}});
  CHECK(download_category(qbit) == "readarr");
  auto q = make_download_client(qbit);
  REQUIRE(q);
  auto t = (*q)->test();
  REQUIRE_FALSE(t);
  CHECK(t.error().code == errc::unavailable);
  CHECK_FALSE(make_download_client(definition(ProviderKind::indexer, "Newznab", {{"baseUrl", "http://x"}})));
}

TEST_CASE("Transmission's urlBase maps onto the RPC path the adapter reaches", "[acquisition][providers]") {
  // A stand-in that answers session-get on any path and records which one was asked.
  http_pool::Server server;
  std::mutex mu;
  std::vector<std::string> paths;
  server.Post(R"(/.*)", [&](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard lock(mu);
      paths.push_back(req.path);
    }
    res.set_content(R"({"result":"success","arguments":{"version":"4.0.5"}})", "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread thread([&] { server.listen_after_bind(); });
  REQUIRE(eventually([&] { return server.is_running(); }));

  for (const auto& [url_base, want] : std::vector<std::pair<std::string, std::string>>{
           {"/transmission/", "/transmission/rpc"},
           {"/torrents/transmission", "/torrents/transmission/rpc"},
       }) {
    auto c = make_download_client(definition(ProviderKind::download_client, "Transmission",
                                             {{"host", "127.0.0.1"}, {"port", port}, {"urlBase", url_base}}));
    REQUIRE(c);
    CHECK((*c)->test());
    std::lock_guard lock(mu);
    REQUIRE_FALSE(paths.empty());
    CHECK(paths.back() == want);
  }
  server.stop();
  thread.join();
}

}  // namespace providers_test

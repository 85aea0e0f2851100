// SPDX-License-Identifier: MIT
// shelfd's indexer and download-client routes over real HTTP, as Prowlarr's "Readarr"
// application drives them: a Torznab indexer synced with its fields array, read back with its
// secret hidden, updated with the placeholder (the secret kept), tested against the indexer
// fixture and against a closed port, deleted; the schema; 400 (never 500) for bad bodies.

#include <catch2/catch.hpp>

#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "indexer_fixture.hpp"
#include "loopback.hpp"
#include "process.hpp"
#include "shelfd_daemon.hpp"
#include "test_support.hpp"

#ifndef SHELFD_PATH
#error "SHELFD_PATH must name the shelfd binary"
#endif

namespace provider_api_test {

using namespace testing;
using nlohmann::json;
using shelfjobs::fixtures::IndexerFixture;

// One shelfd on a free loopback port with its own data folder (shelfd_daemon.hpp).
using Daemon = ShelfdDaemon;

// A Torznab indexer as Prowlarr's Readarr application sends it (fields by name, extra fields
// Readarr has and shelfjobs does not read included).
json prowlarr_torznab(const std::string& base_url, const std::string& api_key) {
  return {{"enableRss", true},
          {"enableAutomaticSearch", true},
          {"enableInteractiveSearch", true},
          {"priority", 25},
          {"name", "Fixture (Prowlarr)"},
          {"protocol", "torrent"},
          {"implementationName", "Torznab"},
          {"implementation", "Torznab"},
          {"configContract", "TorznabSettings"},
          {"infoLink", "https://wiki.servarr.com/readarr/supported#torznab"},
          {"tags", json::array()},
          {"fields", json::array({{{"name", "baseUrl"}, {"value", base_url}},
                                  {{"name", "apiPath"}, {"value", "/api"}},
                                  {{"name", "apiKey"}, {"value", api_key}},
                                  {{"name", "categories"}, {"value", {7020, 3030}}},
                                  {{"name", "minimumSeeders"}, {"value", 1}},
                                  {{"name", "seedCriteria.seedRatio"}, {"value", nullptr}},
                                  {{"name", "seedCriteria.seedTime"}, {"value", nullptr}},
                                  {{"name", "seedCriteria.discographySeedTime"}, {"value", nullptr}},
                                  {{"name", "earlyReleaseLimit"}}})}};
}

json field_value(const json& resource, const std::string& name) {
  for (const auto& f : resource["fields"])
    if (f["name"] == name) return f["value"];
  FAIL("no field " << name << " in " << resource.dump());
  return nullptr;
}

void set_field(json& resource, const std::string& name, const json& value) {
  for (auto& f : resource["fields"])
    if (f["name"] == name) {
      f["value"] = value;
      return;
    }
  resource["fields"].push_back({{"name", name}, {"value", value}});
}

TEST_CASE("shelfd's indexers: a Prowlarr sync round trip with the secret hidden and kept",
          "[shelfd][providers]") {
  auto fixture = IndexerFixture::start({.kind = shelfjobs::fixtures::FixtureKind::torznab});
  Daemon d;

  json created =
      d.post("/api/v1/indexer?forceSave=true", prowlarr_torznab(fixture->base_url(), "s3cret"), 201);
  const long long id = created["id"];
  CHECK(id > 0);
  CHECK(created["implementation"] == "Torznab");
  CHECK(created["configContract"] == "TorznabSettings");
  CHECK(created["protocol"] == "torrent");
  CHECK(created["supportsRss"] == true);
  CHECK(field_value(created, "apiKey") == "********");
  CHECK(field_value(created, "categories") == json::array({7020, 3030}));

  json list = d.get("/api/v1/indexer");
  REQUIRE(list.size() == 1);
  CHECK(list[0]["name"] == "Fixture (Prowlarr)");
  json one = d.get("/api/v1/indexer/" + std::to_string(id));
  CHECK(field_value(one, "apiKey") == "********");
  CHECK(field_value(one, "baseUrl") == fixture->base_url());
  for (const auto& f : one["fields"]) {
    CHECK(f.contains("order"));
    CHECK(f.contains("label"));
    CHECK(f.contains("type"));
    CHECK(f.contains("advanced"));
    CHECK(f.contains("helpText"));
  }

  // An update that sends the resource back as it was read (the placeholder included) keeps the
  // secret: the fixture sees the stored key on the next test.
  one["name"] = "Fixture renamed";
  one["priority"] = 10;
  json updated = d.put("/api/v1/indexer/" + std::to_string(id), one, 202);
  CHECK(updated["name"] == "Fixture renamed");
  CHECK(updated["priority"] == 10);
  CHECK(d.post("/api/v1/indexer/test", one, 200) == json::object());
  CHECK(fixture->last_query()["apikey"] == "s3cret");
  CHECK(fixture->last_query()["t"] == "caps");

  // A new key replaces it.
  set_field(one, "apiKey", "n3w");
  d.put("/api/v1/indexer/" + std::to_string(id), one, 202);
  d.post("/api/v1/indexer/test", one, 200);
  CHECK(fixture->last_query()["apikey"] == "n3w");

  json all = d.post("/api/v1/indexer/testall", json::object(), 200);
  REQUIRE(all.size() == 1);
  CHECK(all[0]["isValid"] == true);
  CHECK(d.get("/api/v1/indexerstatus") == json::array());

  CHECK(d.call("DELETE", "/api/v1/indexer/" + std::to_string(id), "", 200) == json::object());
  d.get("/api/v1/indexer/" + std::to_string(id), 404);
  CHECK(d.get("/api/v1/indexer") == json::array());
  d.put("/api/v1/indexer/" + std::to_string(id), one, 404);
}

TEST_CASE("shelfd's provider schema lists every implementation with its fields", "[shelfd][providers]") {
  Daemon d;
  std::set<std::string> indexers, clients;
  for (const auto& r : d.get("/api/v1/indexer/schema")) {
    indexers.insert(r["implementation"]);
    CHECK(r["id"] == 0);
    CHECK_FALSE(r["fields"].empty());
  }
  for (const auto& r : d.get("/api/v1/downloadclient/schema")) {
    clients.insert(r["implementation"]);
    CHECK(r.contains("enable"));
  }
  CHECK(indexers == std::set<std::string>{"Newznab", "Torznab"});
  CHECK(clients == std::set<std::string>{"QBittorrent", "Transmission", "Nzbget", "Sabnzbd",
                                         "TorrentBlackhole", "UsenetBlackhole"});
  for (const auto& r : d.get("/api/v1/downloadclient/schema"))
    if (r["implementation"] == "QBittorrent") {
      CHECK(r["configContract"] == "QBittorrentSettings");
      CHECK(field_value(r, "port") == 8080);
      CHECK(field_value(r, "musicCategory") == "readarr");
    }
}

TEST_CASE("shelfd's provider routes answer 400 for bad bodies and failing tests, never 500",
          "[shelfd][providers]") {
  Daemon d;
  for (const auto& path : {"/api/v1/indexer", "/api/v1/downloadclient", "/api/v1/indexer/test"}) {
    d.call("POST", path, "not json", 400);
    d.call("POST", path, "[1,2]", 400);
    d.post(path, json{{"name", "x"}}, 400);  // no implementation
    d.post(path, json{{"implementation", "Foo"}, {"name", "x"}}, 400);
    d.post(path, json{{"implementation", "Torznab"}, {"name", "x"}, {"fields", "nope"}}, 400);
    d.post(path, json{{"implementation", "Torznab"}, {"name", "x"}, {"fields", {{{"value", 1}}}}}, 400);
    d.post(path, json{{"implementation", "Torznab"}, {"name", "x"}, {"priority", "high"}}, 400);
  }
  // A missing field: Readarr's validation-failure array naming it.
  json failures = d.post("/api/v1/indexer", json{{"implementation", "Newznab"}, {"name", "x"}}, 400);
  REQUIRE(failures.is_array());
  CHECK(failures[0]["propertyName"] == "baseUrl");
  CHECK(failures[0]["severity"] == "error");
  CHECK_FALSE(failures[0]["errorMessage"].get<std::string>().empty());
  failures = d.post(
      "/api/v1/downloadclient",
      json{{"implementation", "QBittorrent"}, {"name", "q"}, {"fields", {{{"name", "port"}, {"value", 0}}}}},
      400);
  CHECK(failures[0]["propertyName"] == "port");

  // A test against a port nothing listens on: 400, one failure naming the cause.
  json closed = prowlarr_torznab("http://127.0.0.1:" + std::to_string(closed_port()), "k");
  failures = d.post("/api/v1/indexer/test", closed, 400);
  REQUIRE(failures.size() == 1);
  CHECK(failures[0]["propertyName"] == "baseUrl");
  const std::string message = failures[0]["errorMessage"];
  INFO(message);
  CHECK(message.find("cannot connect") != std::string::npos);

  // The same name twice: a validation failure on the name.
  TempDir folders;
  std::filesystem::create_directories(folders.path() / "drop");
  std::filesystem::create_directories(folders.path() / "watch");
  json blackhole = {{"implementation", "TorrentBlackhole"},
                    {"name", "Blackhole"},
                    {"enable", true},
                    {"fields",
                     {{{"name", "torrentFolder"}, {"value", (folders.path() / "drop").string()}},
                      {{"name", "watchFolder"}, {"value", (folders.path() / "watch").string()}}}}};
  json created = d.post("/api/v1/downloadclient", blackhole, 201);
  CHECK(created["enable"] == true);
  CHECK(created["protocol"] == "torrent");
  CHECK(d.post("/api/v1/downloadclient/test", blackhole, 200) == json::object());
  failures = d.post("/api/v1/downloadclient", blackhole, 400);
  CHECK(failures[0]["propertyName"] == "name");
  CHECK(d.get("/api/v1/downloadclientstatus") == json::array());
  d.get("/api/v1/downloadclient/99999999999999999999", 404);

  // A client whose folder is gone fails its test, and testall says which.
  std::filesystem::remove_all(folders.path() / "drop");
  failures = d.post("/api/v1/downloadclient/test", blackhole, 400);
  CHECK(failures[0]["propertyName"] == "torrentFolder");
  json all = d.post("/api/v1/downloadclient/testall", json::object(), 400);
  REQUIRE(all.size() == 1);
  CHECK(all[0]["isValid"] == false);
  CHECK(all[0]["id"] == created["id"]);
}

}  // namespace provider_api_test

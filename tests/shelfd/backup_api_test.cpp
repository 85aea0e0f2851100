// SPDX-License-Identifier: MIT
// shelfd's backups over real HTTP: the Backup command and Readarr's backup list, a restore of a
// listed backup and of an uploaded zip without a restart (the data as they were, the restore in
// the job history, the event stream still live), refused uploads answered 4xx with nothing
// changed, and deleting a backup.

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "shelfd_daemon.hpp"

using namespace testing;
using nlohmann::json;
namespace fs = std::filesystem;

namespace backup_api_test {

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

httplib::Result upload(ShelfdDaemon& d, const std::string& filename, const std::string& bytes) {
  httplib::MultipartFormDataItems items = {{"restore", bytes, filename, "application/zip"}};
  return d.client().Post("/api/v1/system/backup/restore/upload", items);
}

std::set<std::string> root_paths(ShelfdDaemon& d) {
  std::set<std::string> out;
  for (const auto& r : d.get("/api/v1/rootfolder")) out.insert(r["path"].get<std::string>());
  return out;
}

TEST_CASE("shelfd backs up, lists, restores without a restart and deletes", "[shelfd][backup]") {
  ShelfdDaemon d;
  fs::create_directories(d.dir.path() / "books" / "one");
  fs::create_directories(d.dir.path() / "books" / "two");
  d.post("/api/v1/rootfolder", {{"path", (d.dir.path() / "books" / "one").string()}}, 201);

  CHECK(d.get("/api/v1/system/backup").empty());
  const json job = d.run("Backup");
  REQUIRE(job["status"] == "completed");
  const json list = d.get("/api/v1/system/backup");
  REQUIRE(list.size() == 1);
  const json b = list[0];
  for (const char* key : {"id", "name", "path", "type", "size", "time"}) CHECK(b.contains(key));
  CHECK(b["type"] == "manual");
  CHECK(b["path"] == "/backup/manual/" + b["name"].get<std::string>());
  CHECK(b["size"].get<long long>() > 0);
  const fs::path file = d.data / "backups" / "manual" / b["name"].get<std::string>();
  REQUIRE(fs::exists(file));
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  const std::string zip = read_bytes(file);

  // The data change after the backup; the restore brings them back, and shelfd keeps serving.
  d.post("/api/v1/rootfolder", {{"path", (d.dir.path() / "books" / "two").string()}}, 201);
  const auto before = root_paths(d);
  REQUIRE(before.size() == 2);
  EventStream stream(d.port, ShelfdDaemon::kKey);
  const json restored = d.post("/api/v1/system/backup/restore/" + std::to_string(b["id"].get<long long>()),
                               json::object(), 200);
  CHECK(restored["restartRequired"] == false);
  CHECK(restored["backup"] == b["name"]);
  CHECK(restored["restored"].size() == 3);  // jobs.db, catalog.db, shelfd.json
  CHECK(root_paths(d).size() == 1);
  CHECK(fs::exists(d.data / "catalog.db.pre-restore"));
  // Every route reaches the reopened services, not the ones the restore closed: the
  // acquisition routes once kept the service they started with and crashed the daemon here.
  for (const char* path :
       {"/api/v1/queue", "/api/v1/queue/status", "/api/v1/history", "/api/v1/blocklist", "/api/v1/author",
        "/api/v1/book", "/api/v1/bookfile?unmapped=true", "/api/v1/indexer", "/api/v1/downloadclient",
        "/api/v1/wanted/missing", "/api/v1/system/backup", "/api/v1/system/status"}) {
    INFO(path);
    d.get(path);
  }
  d.call("DELETE", "/api/v1/queue/12345", "", 404);
  d.call("DELETE", "/api/v1/blocklist/12345", "", 404);

  // The restored job history records the restore; the stream follows the new engine.
  json record;
  REQUIRE(eventually([&] {
    for (const auto& c : d.get("/api/v1/command"))
      if (c["name"] == "BackupRestored" && c["status"] == "completed") {
        record = c;
        return true;
      }
    return false;
  }));
  CHECK_THAT(record["message"].get<std::string>(), Catch::Contains(b["name"].get<std::string>()));
  const json after = d.run("CheckHealth");
  CHECK(after["status"] == "completed");
  stream.wait_for("command",
                  [&](const json& m) { return m["id"] == after["id"] && m["status"] == "completed"; });

  // An uploaded copy of the same backup restores too.
  d.post("/api/v1/rootfolder", {{"path", (d.dir.path() / "books" / "two").string()}}, 201);
  auto up = upload(d, "my-backup.zip", zip);
  REQUIRE(up);
  INFO(up->body);
  REQUIRE(up->status == 200);
  CHECK(json::parse(up->body)["backup"] == "my-backup.zip");
  CHECK(root_paths(d).size() == 1);

  // Deleting.
  d.del("/api/v1/system/backup/" + std::to_string(b["id"].get<long long>()));
  CHECK_FALSE(fs::exists(file));
  d.del("/api/v1/system/backup/" + std::to_string(b["id"].get<long long>()), 404);
  d.post("/api/v1/system/backup/restore/12345", json::object(), 404);
}

TEST_CASE("shelfd refuses a bad restore upload with a 4xx and changes nothing", "[shelfd][backup]") {
  ShelfdDaemon d;
  fs::create_directories(d.dir.path() / "books");
  d.post("/api/v1/rootfolder", {{"path", (d.dir.path() / "books").string()}}, 201);
  const auto catalog = read_bytes(d.data / "catalog.db");

  auto r = upload(d, "notes.txt", "hello");
  REQUIRE(r);
  CHECK(r->status == 415);
  r = upload(d, "broken.zip", "PK\x03\x04 this is not really a zip");
  REQUIRE(r);
  CHECK(r->status == 422);
  CHECK_THAT(r->body, Catch::Contains("not a readable zip archive"));
  r = d.client().Post("/api/v1/system/backup/restore/upload", "{}", "application/json");
  REQUIRE(r);
  CHECK(r->status == 400);

  // Still the same data, still serving.
  CHECK(root_paths(d).size() == 1);
  CHECK(d.run("CheckHealth")["status"] == "completed");
  CHECK_FALSE(fs::exists(d.data / "catalog.db.pre-restore"));
}

}  // namespace backup_api_test

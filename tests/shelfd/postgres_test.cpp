// SPDX-License-Identifier: MIT
// shelfd with its job store on a PostgreSQL server: one line of its config, as a user would
// switch, against a server the test starts (tests/support/postgres_server.hpp).

#include <fstream>
#include <iterator>
#include <string>
#include <utility>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "postgres_server.hpp"
#include "shelfd_daemon.hpp"
#include "test_support.hpp"

using namespace testing;
using nlohmann::json;

namespace shelfd_postgres_test {

TEST_CASE("shelfd keeps its jobs in PostgreSQL when its config names a database", "[shelfd][postgres]") {
  auto* pg = postgres_server();
  if (pg == nullptr) return;
  const std::string url = pg->new_database();
  const std::string database = url.substr(url.rfind('/') + 1);

  ShelfdDaemon d(json{{"database", url}});
  CHECK(d.get("/api/v1/system/status")["databaseType"] == "postgreSQL");
  const json job = d.run("CheckHealth");
  CHECK(job["status"] == "completed");
  const long long id = job["id"].get<long long>();
  // The row is on the server, in the store's schema.
  CHECK(pg->psql(database,
                 "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM shelfjobs.jobs WHERE id = " + std::to_string(id) +
                     " AND status = 2) THEN RAISE 'not stored'; END IF; END $$") == 0);

  // The server down: the command list answers 503 naming the store (not a 500, and not a hang
  // while the writes queued before it wait for the server); then it answers again.
  pg->stop();
  CHECK(d.client().Get("/api/v1/system/status")->status == 200);
  const auto down = d.client().Get("/api/v1/command");
  REQUIRE(down);
  CHECK(down->status == 503);
  pg->start();
  REQUIRE(eventually(
      [&] {
        const auto up = d.client().Get("/api/v1/command");
        return up && up->status == 200;
      },
      std::chrono::seconds(30)));

  // A restart finds it there, and a backup leaves the job store to the server.
  d.kill();
  d.start();
  CHECK(d.get("/api/v1/command/" + std::to_string(id))["status"] == "completed");
  CHECK(d.run("Backup")["status"] == "completed");
}

TEST_CASE("several shelfd keep their jobs in one database, a schema each", "[shelfd][postgres]") {
  auto* pg = postgres_server();
  if (pg == nullptr) return;
  const std::string url = pg->new_database();
  const std::string database = url.substr(url.rfind('/') + 1);

  ShelfdDaemon a(json{{"database", url}, {"databaseSchema", "books_a"}});
  ShelfdDaemon b(json{{"database", url}, {"databaseSchema", "books_b"}});
  const json ja = a.run("CheckHealth");
  const json jb = b.run("CheckHealth");
  CHECK(ja["status"] == "completed");
  CHECK(jb["status"] == "completed");
  // Each job is in its own shelfd's schema, and each shelfd sees only its own.
  const auto in_schema = [&](const std::string& schema, const json& job) {
    return pg->psql(database, "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM " + schema +
                                  ".jobs WHERE id = " + std::to_string(job["id"].get<long long>()) +
                                  " AND name = 'CheckHealth') THEN RAISE 'not there'; END IF; END $$") == 0;
  };
  CHECK(in_schema("books_a", ja));
  CHECK(in_schema("books_b", jb));
  // The default schema was never made: each shelfd kept to its own.
  CHECK(pg->psql(database,
                 "DO $$ BEGIN IF EXISTS (SELECT 1 FROM information_schema.schemata WHERE "
                 "schema_name = 'shelfjobs') THEN RAISE 'default schema used'; END IF; END $$") == 0);
}

TEST_CASE("shelfd refuses a database schema it cannot use", "[shelfd]") {
  TempDir dir;
  const auto config = dir.file("c.json");
  const auto out = dir.file("out.txt");
  REQUIRE(wait_exit(spawn({SHELFD_PATH, "init", "--config", config})) == 0);
  const json good = json::parse(std::ifstream(config));
  for (const auto& [patch, why] :
       {std::pair<json, const char*>{{{"databaseSchema", "books_a"}}, "only for a PostgreSQL database"},
        {{{"database", "postgresql://shelf@127.0.0.1:1/shelf"}, {"databaseSchema", "1books; DROP"}},
         "letters, digits"}}) {
    json c = good;
    c.merge_patch(patch);
    std::ofstream(config) << c.dump();
    CHECK(wait_exit(spawn({SHELFD_PATH, "run", "--config", config}, out)) == 2);
    std::ifstream in(out);
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    INFO(c.dump());
    CHECK_THAT(text, Catch::Contains("databaseSchema") && Catch::Contains(why));
  }
}

}  // namespace shelfd_postgres_test

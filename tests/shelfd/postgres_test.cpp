// SPDX-License-Identifier: MIT
// shelfd with its job store on a PostgreSQL server: one line of its config, as a user would
// switch, against a server the test starts (tests/support/postgres_server.hpp).

#include <string>

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

  // A restart finds it there, and a backup leaves the job store to the server.
  d.kill();
  d.start();
  CHECK(d.get("/api/v1/command/" + std::to_string(id))["status"] == "completed");
  CHECK(d.run("Backup")["status"] == "completed");
}

}  // namespace shelfd_postgres_test

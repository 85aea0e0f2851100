// SPDX-License-Identifier: MIT
// The job store of an engine test: a SQLite file, or a PostgreSQL database when the test
// program runs against PostgreSQL (SHELFJOBS_TEST_STORE=postgres, see test_support.hpp).
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include <SQLiteCpp/SQLiteCpp.h>

#include "postgres_server.hpp"
#include "test_support.hpp"

namespace testing {

namespace {
bool on_postgres() {
  const char* store = std::getenv("SHELFJOBS_TEST_STORE");
  return store != nullptr && std::string(store) == "postgres";
}
}  // namespace

std::string job_store_at(const TempDir& dir, const std::string& name) {
  if (!on_postgres()) return dir.file(name);
  static std::mutex mu;
  static std::map<std::string, std::string> databases;  // folder/name -> URL
  std::lock_guard lock(mu);
  auto& url = databases[dir.file(name)];
  if (url.empty()) {
    PostgresServer* pg = postgres_server();
    REQUIRE(pg != nullptr);
    url = pg->new_database();
  }
  return url;
}

bool exec_on_store(const std::string& location, const std::string& sql) {
  if (shelfjobs::is_postgres_url(location)) {
    PostgresServer* pg = postgres_server();
    if (pg == nullptr) return false;
    return pg->psql(location.substr(location.rfind('/') + 1), "SET search_path = shelfjobs; " + sql) == 0;
  }
  try {
    SQLite::Database conn(location, SQLite::OPEN_READWRITE);
    conn.exec(sql);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace testing

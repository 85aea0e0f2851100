// SPDX-License-Identifier: MIT
// shelfd's logs over real HTTP: the log table (paged, sorted, by level), the log files and one
// file's text (bad names refused, never a 500), ClearLog, DeleteLogFiles, and Housekeeping as
// the housekeeping service runs it, with its report.

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <httplib.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "process.hpp"
#include "shelfd_daemon.hpp"
#include "test_support.hpp"

#ifndef SHELFD_PATH
#error "SHELFD_PATH must name the shelfd binary"
#endif

using namespace testing;
using nlohmann::json;
namespace fs = std::filesystem;

namespace log_api_test {

// One shelfd (shelfd_daemon.hpp). It starts without a metadata source, which it warns about:
// the log table always holds one warning.
using Daemon = ShelfdDaemon;

TEST_CASE("GET /api/v1/log pages the log table by level, newest first", "[shelfd][logs]") {
  Daemon d;
  json warn;
  REQUIRE(eventually([&] {
    warn = d.get("/api/v1/log?level=warn");
    return warn["totalRecords"].get<int>() >= 1;
  }));
  const auto& w = warn["records"][0];
  CHECK(w["level"] == "warn");
  CHECK_THAT(w["message"].get<std::string>(), Catch::Contains("metadata.baseUrl"));
  for (const char* key : {"id", "time", "level", "logger", "message", "exception", "exceptionType"})
    CHECK(w.contains(key));
  CHECK(w["logger"] == "shelfd");
  // Readarr's filter form says the same.
  CHECK(d.get("/api/v1/log?filterKey=level&filterValue=warn")["totalRecords"] == warn["totalRecords"]);

  json all;
  REQUIRE(eventually([&] {
    all = d.get("/api/v1/log?pageSize=1");
    return all["totalRecords"].get<int>() >= 2;
  }));
  CHECK(all["page"] == 1);
  CHECK(all["pageSize"] == 1);
  CHECK(all["sortKey"] == "time");
  CHECK(all["sortDirection"] == "descending");
  REQUIRE(all["records"].size() == 1);
  const auto second = d.get("/api/v1/log?pageSize=1&page=2");
  REQUIRE(second["records"].size() == 1);
  CHECK(second["records"][0]["id"] != all["records"][0]["id"]);
  const auto asc = d.get("/api/v1/log?pageSize=50&sortKey=id&sortDirection=ascending");
  std::vector<long long> ids;
  for (const auto& r : asc["records"]) ids.push_back(r["id"].get<long long>());
  CHECK(std::is_sorted(ids.begin(), ids.end()));
  CHECK(d.get("/api/v1/log?page=999")["records"].empty());

  // Wrong input: 400 with a message, never 500.
  for (const char* bad : {"/api/v1/log?pageSize=0", "/api/v1/log?page=0", "/api/v1/log?level=loud",
                          "/api/v1/log?sortKey=nonsense", "/api/v1/log?sortDirection=sideways",
                          "/api/v1/log?page=abc", "/api/v1/log?filterKey=logger&filterValue=x"}) {
    const auto body = d.get(bad, 400);
    CHECK(body["message"].is_string());
  }
}

TEST_CASE("GET /api/v1/log/file lists the log files and serves one; bad names are refused",
          "[shelfd][logs]") {
  Daemon d;
  const auto files = d.get("/api/v1/log/file");
  REQUIRE(files.is_array());
  REQUIRE_FALSE(files.empty());
  const auto& current = files[0];
  CHECK(current["filename"] == "shelfd.log");
  CHECK(current["contentsUrl"] == "/api/v1/log/file/shelfd.log");
  CHECK(current["lastWriteTime"].is_string());
  CHECK(current["downloadUrl"].is_string());
  REQUIRE(eventually([&] {
    auto r = d.raw("/api/v1/log/file/shelfd.log");
    // The file is flushed at each warning: the start's warning about the metadata source is there.
    return r && r->status == 200 && r->body.find("metadata.baseUrl") != std::string::npos;
  }));
  auto download = d.raw("/api/v1/log/file/shelfd.log?download=true");
  REQUIRE(download);
  CHECK_THAT(download->get_header_value("Content-Disposition"), Catch::Contains("shelfd.log"));

  // A name that can never be a log file: 400; one that is not a listed log file: 404; never
  // the file itself, never a 500.
  CHECK(d.raw("/api/v1/log/file/..")->status == 400);
  CHECK(d.raw("/api/v1/log/file/%2E%2E")->status == 400);
  CHECK(d.raw("/api/v1/log/file/..%5Cjobs.db")->status == 400);
  CHECK(d.raw("/api/v1/log/file/shelfd.9.log")->status == 404);
  CHECK(d.raw("/api/v1/log/file/jobs.db")->status == 404);  // in the data folder, not a log
  CHECK(d.raw("/api/v1/log/file/shelfd.json")->status == 404);
  for (const char* path : {"/api/v1/log/file/..%2Fshelfd.json", "/api/v1/log/file/../shelfd.json",
                           "/api/v1/log/file/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd"}) {
    auto r = d.raw(path);
    REQUIRE(r);
    INFO(path << " -> " << r->status);
    CHECK((r->status == 400 || r->status == 404));
    CHECK(r->body.find("apiKey") == std::string::npos);
  }
}

TEST_CASE("ClearLog empties the log table; DeleteLogFiles removes the rotated files only", "[shelfd][logs]") {
  Daemon d;
  REQUIRE(eventually([&] { return d.get("/api/v1/log?level=warn")["totalRecords"].get<int>() >= 1; }));
  const auto cleared = d.run("ClearLog");
  CHECK(cleared["status"] == "completed");
  CHECK_THAT(cleared["message"].get<std::string>(), Catch::Contains("cleared"));
  CHECK(d.get("/api/v1/log?level=warn")["totalRecords"] == 0);

  std::ofstream(d.data / "shelfd.1.log") << "older\n";
  std::ofstream(d.data / "shelfd.2.log") << "oldest\n";
  std::ofstream(d.data / "notes.log") << "not ours\n";
  std::set<std::string> listed;
  for (const auto& f : d.get("/api/v1/log/file")) listed.insert(f["filename"].get<std::string>());
  CHECK(listed == std::set<std::string>{"shelfd.log", "shelfd.1.log", "shelfd.2.log"});
  const auto deleted = d.run("DeleteLogFiles");
  CHECK(deleted["status"] == "completed");
  CHECK_THAT(deleted["message"].get<std::string>(), Catch::Contains("deleted 2"));
  CHECK_FALSE(fs::exists(d.data / "shelfd.1.log"));
  CHECK_FALSE(fs::exists(d.data / "shelfd.2.log"));
  CHECK(fs::exists(d.data / "shelfd.log"));
  CHECK(fs::exists(d.data / "notes.log"));
  CHECK(d.get("/api/v1/log/file").size() == 1);
}

TEST_CASE("Housekeeping runs the housekeeping service's tasks and reports them", "[shelfd][logs]") {
  Daemon d;
  CHECK(d.get("/api/v1/system/housekeeping").empty());
  const auto job = d.run("Housekeeping");
  CHECK(job["status"] == "completed");
  const std::string message = job["message"].get<std::string>();
  for (const char* part : {"prune:", "logs:", "orphaned rows:", "orphaned files:", "future times:",
                           "permissions:", "databases:"})
    CHECK_THAT(message, Catch::Contains(part));
  const auto report = d.get("/api/v1/system/housekeeping");
  REQUIRE(report["tasks"].size() == 7);
  CHECK(report["failed"] == 0);
  std::set<std::string> files;
  for (const auto& db : report["databases"]) files.insert(fs::path(db["file"].get<std::string>()).filename());
  CHECK(files.count("jobs.db") == 1);
  CHECK(files.count("catalog.db") == 1);
  CHECK(files.count("logs.db") == 1);
}

}  // namespace log_api_test

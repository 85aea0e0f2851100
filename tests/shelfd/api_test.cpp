// SPDX-License-Identifier: MIT
// shelfd over real HTTP: a shelfd process on a free loopback port, driven like Readarr's clients
// drive Readarr.

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>
#include <vector>

#include <httplib.h>
#include <catch2/catch.hpp>

#include "book_samples.hpp"
#include "bookinfo_fixture.hpp"
#include "loopback.hpp"
#include "process.hpp"
#include "shelfd_daemon.hpp"
#include "shelfjobs/engine/health.hpp"
#include "test_support.hpp"

#ifndef SHELFD_PATH
#error "SHELFD_PATH must name the shelfd binary"
#endif

using namespace testing;
using nlohmann::json;

int testing::free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

namespace {
const std::string kKey = "0123456789abcdef0123456789abcdef";

struct Shelfd {
  TempDir dir;
  std::string config = dir.file("shelfd.json");
  std::string log = dir.file("shelfd.out");
  int port = free_port();
  pid_t pid = -1;

  explicit Shelfd(int workers = 2) {
    REQUIRE(wait_exit(spawn({SHELFD_PATH, "init", "--config", config}, log)) == 0);
    json c = json::parse(std::ifstream(config));
    c["demoCommands"] = true;
    c["workers"] = workers;
    std::ofstream(config) << c.dump(2);
  }
  ~Shelfd() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      wait_exit(pid, std::chrono::seconds(5));
    }
  }

  /// A library root ("books" in the test's folder) and a metadata source at `metadata_url`, with
  /// no spacing between requests (and `timeout_seconds` when not 0). Returns the root.
  std::filesystem::path with_library(const std::string& metadata_url, int timeout_seconds = 0) {
    const auto books_root = dir.path() / "books";
    std::filesystem::create_directories(books_root);
    json c = json::parse(std::ifstream(config));
    c["libraryRoots"] = {books_root.string()};
    c["metadata"]["baseUrl"] = metadata_url;
    c["metadata"]["requestSpacingMs"] = 0;
    if (timeout_seconds != 0) c["metadata"]["timeoutSeconds"] = timeout_seconds;
    std::ofstream(config) << c.dump(2);
    return books_root;
  }

  void start() {
    pid = spawn({SHELFD_PATH, "run", "--config", config, "--port", std::to_string(port), "--api-key", kKey},
                log);
    REQUIRE(eventually([&] { return client().Get("/api/v1/system/status"); }, std::chrono::seconds(20)));
  }

  int terminate() {
    kill(pid, SIGTERM);
    const int code = wait_exit(pid, std::chrono::seconds(60));
    pid = -1;
    return code;
  }

  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_default_headers({{"X-Api-Key", kKey}});
    c.set_read_timeout(10, 0);
    return c;
  }

  json get(const std::string& path, int expect = 200) {
    auto r = client().Get(path.c_str());
    REQUIRE(r);
    INFO(path << " -> " << r->status << " " << r->body);
    REQUIRE(r->status == expect);
    return json::parse(r->body);
  }

  json post(const json& body, int expect = 201) {
    auto r = client().Post("/api/v1/command", body.dump(), "application/json");
    REQUIRE(r);
    INFO(r->body);
    REQUIRE(r->status == expect);
    return json::parse(r->body);
  }

  json command(long long id) { return get("/api/v1/command/" + std::to_string(id)); }

  bool reaches(long long id, const std::string& status) {
    return eventually([&] { return command(id)["status"] == status; }, std::chrono::seconds(20));
  }
};

// One sample of Prometheus' text exposition format: `name{label="value",...} value`.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Parses `/metrics`; a line that is neither a comment nor a sample fails the test.
std::vector<Sample> parse_exposition(const std::string& text) {
  std::vector<Sample> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    INFO("line: " << line);
    Sample s;
    std::size_t i = 0;
    auto name_char = [](char c, bool first) {
      return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
             (!first && std::isdigit(static_cast<unsigned char>(c)));
    };
    while (i < line.size() && name_char(line[i], i == 0)) s.name += line[i++];
    REQUIRE(!s.name.empty());
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::string key;
        while (i < line.size() && name_char(line[i], key.empty())) key += line[i++];
        REQUIRE(!key.empty());
        REQUIRE(line.compare(i, 2, "=\"") == 0);
        i += 2;
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\') {
            REQUIRE(i + 1 < line.size());
            ++i;
            value += line[i] == 'n' ? '\n' : line[i];
          } else {
            value += line[i];
          }
          ++i;
        }
        REQUIRE(i < line.size());
        ++i;  // the closing quote
        REQUIRE(s.labels.emplace(key, value).second);
        if (i < line.size() && line[i] == ',') ++i;
      }
      REQUIRE(i < line.size());
      ++i;  // '}'
    }
    REQUIRE(i < line.size());
    REQUIRE(line[i] == ' ');
    const std::string value = line.substr(i + 1);
    REQUIRE(!value.empty());
    REQUIRE(value.find(' ') == std::string::npos);  // no timestamp
    if (value == "+Inf") {
      s.value = std::numeric_limits<double>::infinity();
    } else {
      std::size_t used = 0;
      s.value = std::stod(value, &used);
      REQUIRE(used == value.size());
    }
    out.push_back(std::move(s));
  }
  return out;
}

// The samples named `name` whose labels include `labels`.
std::vector<Sample> samples(const std::vector<Sample>& all, const std::string& name,
                            const std::map<std::string, std::string>& labels = {}) {
  std::vector<Sample> out;
  for (const auto& s : all) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      match = match && it != s.labels.end() && it->second == v;
    }
    if (match) out.push_back(s);
  }
  return out;
}

// The value of the one sample named `name` with `labels`.
double sample_value(const std::vector<Sample>& all, const std::string& name,
                    const std::map<std::string, std::string>& labels = {}) {
  const auto found = samples(all, name, labels);
  INFO(name);
  REQUIRE(found.size() == 1);
  return found.front().value;
}
}  // namespace

TEST_CASE("shelfd init writes a complete config and run refuses a bad one", "[shelfd]") {
  TempDir dir;
  const auto config = dir.file("c.json");
  REQUIRE(wait_exit(spawn({SHELFD_PATH, "init", "--config", config})) == 0);
  json c = json::parse(std::ifstream(config));
  CHECK(c["api"]["apiKey"].get<std::string>().size() == 32);
  CHECK(c["api"]["bindAddress"] == "127.0.0.1");
  CHECK(c["tasks"]["RssSync"] == 15);
  CHECK(wait_exit(spawn({SHELFD_PATH, "init", "--config", config})) == 2);  // no overwrite

  // `shelfd run` on `bad` stops with exit code 2 and a message naming each of `names`.
  const auto out = dir.file("out.txt");
  auto refused = [&](const json& bad, std::initializer_list<const char*> names) {
    std::ofstream(config) << bad.dump();
    CHECK(wait_exit(spawn({SHELFD_PATH, "run", "--config", config}, out)) == 2);
    std::ifstream in(out);
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    INFO(bad.dump());
    for (const char* name : names) CHECK_THAT(text, Catch::Contains(name));
  };
  // Applies `patch` to one block of the good config and expects `names` in the refusal.
  auto refused_block = [&](const char* block, const json& patch, const char* names) {
    json bad = c;
    bad[block].merge_patch(patch);
    refused(bad, {names});
  };

  c["api"]["port"] = 70000;
  refused(c, {"api.port"});
  c["api"]["port"] = 8787;
  c["tasks"]["RssSync"] = 3;
  refused(c, {"tasks.RssSync", "5..60 min"});

  // The catalog and metadata settings: written with their defaults, checked at start.
  CHECK(c["catalog"] == "catalog.db");
  CHECK(c["metadata"]["baseUrl"] == "");
  c["tasks"]["RssSync"] = 15;
  refused_block("metadata", {{"baseUrl", "ftp://example.org/v1/"}}, "metadata.baseUrl");
  refused_block("metadata", {{"timeoutSeconds", 0}}, "metadata.timeoutSeconds");
  refused_block("metadata", {{"requestSpacingMs", "fast"}}, "metadata.requestSpacingMs");

  // The acquisition settings: written with their defaults, each checked at start.
  CHECK(c["acquisition"]["indexerSpacingMs"] == 2000);
  CHECK(c["acquisition"]["profiles"]["ebook"]["cutoff"] == "epub");
  for (const auto& [patch, names] :
       {std::pair<json, const char*>{{{"indexerSpacingMs", -1}}, "acquisition.indexerSpacingMs"},
        {{{"maxParallelIndexers", 0}}, "acquisition.maxParallelIndexers"},
        {{{"maxSizeMb", {{"audio", "big"}}}}, "acquisition.maxSizeMb.audio"},
        {{{"profiles", {{"ebook", {{"cutoff", "docx"}}}}}}, "acquisition.profiles.ebook.cutoff"},
        {{{"profiles", {{"audio", {{"formats", {"epub"}}}}}}}, "acquisition.profiles.audio.formats"},
        {{{"profiles", {{"ebook", {{"formats", {"EPUB"}}}}}}}, "acquisition.profiles.ebook.formats"},
        {{{"profiles", {{"ebook", {{"formats", {"epub", "epub"}}}}}}}, "acquisition.profiles.ebook.formats"},
        {{{"searchOnAuthorAdded", "yes"}}, "acquisition.searchOnAuthorAdded"}})
    refused_block("acquisition", patch, names);

  // The backup and housekeeping settings, likewise.
  CHECK(c["backup"]["retentionDays"] == 28);
  refused_block("backup", {{"retentionDays", 0}}, "backup.retentionDays");
  refused_block("backup", {{"retentionDays", 91}}, "backup.retentionDays");
  refused_block("backup", {{"manualLimit", -1}}, "backup.manualLimit");
  refused_block("backup", {{"folder", ""}}, "backup.folder");
  json bad_days = c;
  bad_days["housekeeping"]["logRetentionDays"] = 0;
  refused(bad_days, {"housekeeping.logRetentionDays", "1..3650"});

  // The short-jobs rule: not written by init, checked when present.
  CHECK_FALSE(c.contains("shortJobLanes"));
  CHECK_FALSE(c.contains("spreadAfterMs"));
  for (const auto& [key, value] : {std::pair<const char*, json>{"shortJobLanes", -1},
                                   {"shortJobLanes", 257},
                                   {"shortJobLanes", "two"},
                                   {"spreadAfterMs", -1},
                                   {"spreadAfterMs", 10001},
                                   {"spreadAfterMs", 1.5}}) {
    json bad = c;
    bad[key] = value;
    refused(bad, {key});
  }

  // A file that is not JSON, or holds a number beyond a double: refused with the reason, not
  // ended by an uncaught exception.
  for (const std::string& text : {std::string("{\"api\": "), std::string(R"({"workers": 1e400})")}) {
    std::ofstream(config) << text;
    CHECK(wait_exit(spawn({SHELFD_PATH, "run", "--config", config}, out)) == 2);
    std::ifstream in(out);
    const std::string said((std::istreambuf_iterator<char>(in)), {});
    INFO(text);
    CHECK_THAT(said, Catch::Contains("is not valid JSON"));
  }
}

TEST_CASE("shelfd's short-jobs settings reach the engine, and the jobs snapshot shows them",
          "[shelfd][api]") {
  // Three workers: two lanes hold regular jobs back; three lanes, or a spread of 0, do not.
  for (const auto& [lanes, spread_ms, shown_lanes, shown_us] :
       {std::tuple<int, int, int, long long>{2, 5, 2, 5000}, {3, 5, 0, 0}, {1, 0, 0, 0}}) {
    Shelfd d(3);
    json c = json::parse(std::ifstream(d.config));
    c["shortJobLanes"] = lanes;
    c["spreadAfterMs"] = spread_ms;
    std::ofstream(d.config) << c.dump(2);
    d.start();
    const json jobs = d.get("/api/v1/system/jobs");
    INFO("shortJobLanes " << lanes << ", spreadAfterMs " << spread_ms << ": " << jobs.dump());
    CHECK(jobs["workers"] == 3);
    CHECK(jobs["shortJobLanes"] == shown_lanes);
    CHECK(jobs["spreadAfterUs"] == shown_us);
  }
  // Left out: the engine's default, one lane less than the cores shelfd may use (at least
  // one), in force while that is fewer than the workers: always with 64 workers on a machine of
  // at most 64 cores.
  const unsigned cores = std::thread::hardware_concurrency();
  if (cores == 0 || cores > 64) return;
  Shelfd d(64);
  d.start();
  const json jobs = d.get("/api/v1/system/jobs");
  CHECK(jobs["shortJobLanes"].get<int>() >= 1);
  CHECK(jobs["shortJobLanes"].get<int>() <= std::max(1, static_cast<int>(cores) - 1));
  CHECK(jobs["spreadAfterUs"] == 1000);
}

TEST_CASE("shelfd's API: commands, errors, tasks, health, metrics, events", "[shelfd][api]") {
  Shelfd d;
  d.start();

  SECTION("every API route needs the key") {
    httplib::Client anon("127.0.0.1", d.port);
    auto r = anon.Get("/api/v1/command");
    REQUIRE(r);
    CHECK(r->status == 401);
    r = anon.Get("/metrics");
    CHECK(r->status == 401);
    httplib::Client wrong("127.0.0.1", d.port);
    wrong.set_default_headers({{"X-Api-Key", "not-the-key-at-all"}});
    CHECK(wrong.Get("/api/v1/system/status")->status == 401);
    CHECK(anon.Get(("/api/v1/system/status?apikey=" + kKey).c_str())->status == 200);
    CHECK(anon.Get(("/api/v1/system/status?apiKey=" + kKey).c_str())->status == 200);
    CHECK(anon.Get("/")->status == 200);  // the dashboard's page needs no key
    // Readarr's /ping (health checks of containers and monitors) and /api need none either.
    auto ping = anon.Get("/ping");
    REQUIRE(ping);
    CHECK(ping->status == 200);
    CHECK(json::parse(ping->body) == json{{"status", "OK"}});
    auto head = anon.Head("/ping");
    REQUIRE(head);
    CHECK(head->status == 200);
    CHECK(head->body.empty());
    auto versions = anon.Get("/api");
    REQUIRE(versions);
    CHECK(json::parse(versions->body) == json{{"current", "v1"}, {"deprecated", json::array()}});
  }

  SECTION("a second shelfd cannot take the same port") {
    Shelfd other;
    other.port = d.port;
    const auto out = other.dir.file("second.txt");
    CHECK(wait_exit(spawn({SHELFD_PATH, "run", "--config", other.config, "--port", std::to_string(d.port),
                           "--api-key", kKey},
                          out)) == 2);
    std::ifstream in(out);
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    CHECK_THAT(text, Catch::Contains("cannot bind"));
  }

  SECTION("status identifies the app") {
    auto s = d.get("/api/v1/system/status");
    CHECK(s["appName"] == "shelfd");
    CHECK(s["databaseType"] == "sqLite");
    CHECK(s.contains("startTime"));
  }

  SECTION("disk space and updates, as Readarr's system pages read them") {
    const json space = d.get("/api/v1/diskspace");
    REQUIRE_FALSE(space.empty());  // the data folder's file system at least
    CHECK(std::filesystem::is_directory(space[0]["path"].get<std::string>()));  // the data folder
    for (const json& fs : space) {
      INFO(fs.dump());
      CHECK(fs["totalSpace"].get<std::uint64_t>() > 0);
      CHECK(fs["freeSpace"].get<std::uint64_t>() <= fs["totalSpace"].get<std::uint64_t>());
    }
    CHECK(d.get("/api/v1/update") == json::array());
  }

  SECTION("push, get, list, dedup and cancel") {
    auto c = d.post({{"name", "DemoWork"}, {"steps", 2}, {"stepMs", 10}, {"label", "quick"}});
    CHECK(c["commandName"] == "Demo Work");
    CHECK(c["trigger"] == "manual");
    CHECK(c["body"]["steps"] == 2);
    REQUIRE(d.reaches(c["id"], "completed"));
    auto done = d.command(c["id"]);
    CHECK(done["result"] == "successful");
    CHECK(done["message"] == "quick: 2 steps done");
    CHECK(done["duration"].get<std::string>().size() == 16);  // hh:mm:ss.fffffff

    const json slow_body = {{"name", "DemoWork"}, {"steps", 500}, {"stepMs", 20}, {"label", "slow"}};
    auto slow = d.post(slow_body);
    REQUIRE(d.reaches(slow["id"], "started"));
    // Keep the second worker busy too, so that what is queued next stays queued.
    auto blocker = d.post({{"name", "DemoWork"}, {"steps", 500}, {"stepMs", 20}, {"label", "blocker"}});
    REQUIRE(d.reaches(blocker["id"], "started"));
    // An equal command while its twin runs queues one run behind it (the running one may have
    // read its input already); further equal commands merge into that queued one.
    auto twin = d.post(slow_body);
    CHECK(twin["id"] != slow["id"]);
    CHECK(twin["status"] == "queued");
    auto third = d.post(slow_body);
    CHECK(third["id"] == twin["id"]);
    auto listed = d.get("/api/v1/command");
    bool found = false;
    for (const auto& x : listed) found = found || x["id"] == slow["id"];
    CHECK(found);
    for (const auto& id : {twin["id"], slow["id"], blocker["id"]}) {
      auto del = d.client().Delete(("/api/v1/command/" + std::to_string(id.get<long long>())).c_str());
      REQUIRE(del);
      CHECK(del->status == 200);
      REQUIRE(d.reaches(id, "cancelled"));
    }
  }

  SECTION("bad requests get 400 or 404 with a message, and nothing is queued") {
    const auto before = d.get("/api/v1/command").size();
    auto bad_json = d.client().Post("/api/v1/command", "{nope", "application/json");
    CHECK(bad_json->status == 400);
    CHECK_THAT(json::parse(bad_json->body)["message"].get<std::string>(), Catch::Contains("JSON"));
    CHECK_THAT(d.post({{"steps", 1}}, 400)["message"].get<std::string>(), Catch::Contains("name"));
    CHECK_THAT(d.post({{"name", "NoSuchCommand"}}, 400)["message"].get<std::string>(),
               Catch::Contains("NoSuchCommand"));
    CHECK_THAT(d.post({{"name", "DemoWork"}, {"steps", "many"}}, 400)["message"].get<std::string>(),
               Catch::Contains("steps"));
    CHECK(d.get("/api/v1/command/999999", 404).contains("message"));
    CHECK(d.get("/api/v1/command/99999999999999999999999", 404).contains("message"));
    CHECK(d.client().Delete("/api/v1/command/999999")->status == 404);
    CHECK(d.get("/api/v1/command").size() == before);
  }

  SECTION("tasks are listed and run now") {
    auto tasks = d.get("/api/v1/system/task");
    // Without a metadata source: shelfd's own tasks, the library scan's, acquisition's,
    // housekeeping's and the backup's.
    std::set<std::string> names;
    for (const auto& t : tasks) names.insert(t["taskName"].get<std::string>());
    CHECK(names == std::set<std::string>{"Backup", "CheckHealth", "Housekeeping", "RefreshMonitoredDownloads",
                                         "RescanFolders", "RssSync"});
    json health_check;
    for (const auto& t : tasks)
      if (t["taskName"] == "CheckHealth") health_check = t;
    REQUIRE(health_check.is_object());
    CHECK(health_check["name"] == "Check Health");
    CHECK(health_check["interval"] == 360);
    CHECK(health_check["nextExecution"].is_string());
    CHECK(d.get("/api/v1/system/task/" + std::to_string(health_check["id"].get<int>()))["taskName"] ==
          "CheckHealth");
    auto run = d.post({{"name", "checkhealth"}});  // matched case-insensitively, like Readarr
    CHECK(run["taskName"] == "CheckHealth");
    CHECK(run["updateScheduledTask"] == true);
    REQUIRE(d.reaches(run["id"], "completed"));
    REQUIRE(eventually([&] {
      for (const auto& t : d.get("/api/v1/system/task"))
        if (t["taskName"] == "CheckHealth" && t["lastExecution"].is_string()) return true;
      return false;
    }));
  }

  SECTION("health, the jobs snapshot and metrics") {
    CHECK(d.get("/api/v1/health").is_array());
    auto jobs = d.get("/api/v1/system/jobs");
    CHECK(jobs["types"].is_array());
    CHECK(jobs["priorities"].size() == 4);

    // Some DemoWork runs: quick, ~60 ms, and one that fails for good.
    const std::vector<std::pair<json, std::string>> runs = {
        {{{"name", "DemoWork"}, {"steps", 1}, {"stepMs", 0}, {"label", "instant"}}, "completed"},
        {{{"name", "DemoWork"}, {"steps", 2}, {"stepMs", 30}, {"label", "slower"}}, "completed"},
        {{{"name", "DemoWork"},
          {"steps", 2},
          {"stepMs", 1},
          {"failAt", 1},
          {"failKind", "permanent"},
          {"label", "broken"}},
         "failed"}};
    for (const auto& [body, status] : runs) REQUIRE(d.reaches(d.post(body)["id"], status));
    // Every run ended: the health figures count them once the finish is recorded.
    std::string text;
    REQUIRE(eventually(
        [&] {
          auto m = d.client().Get("/metrics");
          if (!m || m->status != 200) return false;
          text = m->body;
          return text.find("shelfjobs_job_duration_seconds_count{command=\"DemoWork\"} 3\n") !=
                 std::string::npos;
        },
        std::chrono::seconds(10)));
    INFO(text);
    const auto all = parse_exposition(text);  // every sample line is `name{labels} value`

    // The metrics that were there before, with their labels (label order is the serializer's).
    CHECK_THAT(text, Catch::Contains("# TYPE shelfjobs_jobs_total counter"));
    auto ended = [&](const std::string& status) {
      return sample_value(all, "shelfjobs_jobs_total", {{"type", "DemoWork"}, {"status", status}});
    };
    CHECK(ended("completed") == 2);
    CHECK(ended("failed") == 1);
    CHECK(ended("cancelled") == 0);
    CHECK(sample_value(all, "shelfjobs_jobs_running", {{"type", "DemoWork"}}) == 0);
    CHECK(samples(all, "shelfjobs_job_duration_recent_seconds", {{"type", "DemoWork"}}).size() == 2);
    CHECK(samples(all, "shelfjobs_queue_depth", {{"priority", "normal"}, {"state", "queued"}}).size() == 1);
    CHECK(samples(all, "shelfjobs_queue_depth").size() == 12);
    CHECK(samples(all, "shelfjobs_queue_oldest_age_seconds").size() == 4);
    CHECK(samples(all, "shelfjobs_alerts_open").size() == 1);
    CHECK(samples(all, "shelfjobs_store_commit_latency_seconds").size() == 2);
    CHECK(sample_value(all, "shelfjobs_store_commits_total") > 0);
    CHECK(samples(all, "shelfjobs_store_write_errors_total").size() == 1);
    CHECK(samples(all, "shelfjobs_store_bytes").size() == 2);
    CHECK(samples(all, "shelfjobs_events_dropped_total").size() == 1);

    // The duration histogram: one `le` per engine bin bound and +Inf, cumulative.
    CHECK_THAT(text, Catch::Contains("# TYPE shelfjobs_job_duration_seconds histogram"));
    CHECK_THAT(text, Catch::Contains("shelfjobs_job_duration_seconds_bucket{command=\"DemoWork\",le="));
    const std::map<std::string, std::string> demo = {{"command", "DemoWork"}};
    const auto buckets = samples(all, "shelfjobs_job_duration_seconds_bucket", demo);
    REQUIRE(buckets.size() == shelfjobs::kDurationBinBoundsMs.size() + 1);
    double last_le = -1, last_count = 0;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      const auto& le = buckets[i].labels.at("le");
      const double bound = le == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(le);
      if (i < shelfjobs::kDurationBinBoundsMs.size()) {
        CHECK(bound == Approx(static_cast<double>(shelfjobs::kDurationBinBoundsMs[i]) / 1000.0));
      } else {
        CHECK(le == "+Inf");
      }
      CHECK(bound > last_le);
      CHECK(buckets[i].value >= last_count);  // cumulative
      last_le = bound;
      last_count = buckets[i].value;
    }
    const double count = sample_value(all, "shelfjobs_job_duration_seconds_count", demo);
    // The snapshot in a variable: a range-for over a member of a temporary would read freed memory.
    const json snapshot = d.get("/api/v1/system/jobs");
    for (const auto& t : snapshot["types"])
      if (t["name"] == "DemoWork") CHECK(count == t["completed"].get<double>() + t["failed"].get<double>());
    CHECK(count == 3);
    CHECK(buckets.back().value == count);
    // The ~60 ms run is above 50 ms: at most two runs in the buckets up to 50 ms.
    CHECK(sample_value(all, "shelfjobs_job_duration_seconds_bucket",
                       {{"command", "DemoWork"}, {"le", "0.05"}}) <= 2);
    const double sum = sample_value(all, "shelfjobs_job_duration_seconds_sum", demo);
    CHECK(std::isfinite(sum));
    CHECK(sum >= 0.05);
    // Every command type has its histogram, with or without runs.
    CHECK(samples(all, "shelfjobs_job_duration_seconds_count", {{"command", "CheckHealth"}}).size() == 1);
  }

  SECTION("the event stream carries job changes") {
    std::mutex mu;
    std::string stream;
    std::atomic<bool> stop{false};
    std::thread reader([&] {
      httplib::Client c("127.0.0.1", d.port);
      c.set_read_timeout(30, 0);
      c.Get(("/api/v1/events?apikey=" + kKey).c_str(), [&](const char* data, size_t n) {
        std::lock_guard lock(mu);
        stream.append(data, n);
        return !stop.load();
      });
    });
    REQUIRE(eventually([&] {
      std::lock_guard lock(mu);
      return stream.find("event: hello") != std::string::npos;
    }));
    auto c = d.post({{"name", "DemoWork"}, {"steps", 3}, {"stepMs", 10}, {"label", "streamed"}});
    const auto id = std::to_string(c["id"].get<long long>());
    CHECK(eventually(
        [&] {
          std::lock_guard lock(mu);
          return stream.find("\"id\":" + id) != std::string::npos &&
                 stream.find("\"status\":\"completed\"") != std::string::npos;
        },
        std::chrono::seconds(20)));
    stop = true;
    d.post({{"name", "DemoWork"}, {"steps", 1}, {"stepMs", 1}, {"label", "wake"}});  // ends the read
    reader.join();
  }

  SECTION("the event stream carries task and alert changes as they happen") {
    EventStream stream(d.port, kKey);
    // Run a task now: its "task" message says it ran, without anyone reading the task list.
    auto run = d.post({{"name", "CheckHealth"}});
    const auto task = stream.wait_for("task", [](const json& t) {
      return t["taskName"] == "CheckHealth" && t["lastStatus"] == "completed";
    });
    CHECK(task["id"].is_number_integer());
    CHECK(task["lastExecution"].is_string());
    CHECK(d.reaches(run["id"], "completed"));
    // A job that fails for good raises the job_failed alert: a "health" message lists it.
    auto broken = d.post({{"name", "DemoWork"},
                          {"steps", 2},
                          {"stepMs", 1},
                          {"failAt", 1},
                          {"failKind", "permanent"},
                          {"label", "broken"}});
    REQUIRE(d.reaches(broken["id"], "failed"));
    const auto health = stream.wait_for("health", [](const json& items) {
      for (const auto& i : items)
        if (i["source"] == "job_failed") return true;
      return false;
    });
    CHECK(health.is_array());
    bool listed = false;  // the route lists it too
    for (const auto& i : d.get("/api/v1/health")) listed = listed || i["source"] == "job_failed";
    CHECK(listed);
  }

  SECTION("the figures route returns the minutes and the duration histograms") {
    auto c = d.post({{"name", "DemoWork"}, {"steps", 2}, {"stepMs", 5}, {"label", "counted"}});
    REQUIRE(d.reaches(c["id"], "completed"));
    const auto f = d.get("/api/v1/system/figures");
    REQUIRE(f["minutes"].is_array());
    REQUIRE_FALSE(f["minutes"].empty());
    std::int64_t completed = 0;
    for (const auto& m : f["minutes"]) {
      CHECK(m["minute"].is_string());
      CHECK(m.contains("queued"));
      completed += m["completed"].get<std::int64_t>();
    }
    CHECK(completed >= 1);
    const auto& bounds = f["durationBinBoundsMs"];
    REQUIRE(bounds.size() == 20);
    bool demo = false;
    for (const auto& t : f["types"]) {
      if (t["name"] != "DemoWork") continue;
      demo = true;
      REQUIRE(t["durations"].size() == bounds.size() + 1);
      std::int64_t runs = 0;
      for (const auto& n : t["durations"]) runs += n.get<std::int64_t>();
      CHECK(runs >= 1);
    }
    CHECK(demo);
    CHECK(f.contains("eventsDropped"));
    // Readarr's health route keeps its shape: an array of items.
    CHECK(d.get("/api/v1/health").is_array());
    auto m = d.client().Get("/metrics");
    REQUIRE(m);
    CHECK_THAT(m->body, Catch::Contains("# TYPE shelfjobs_events_dropped_total counter"));
    CHECK_THAT(m->body, Catch::Contains("\nshelfjobs_events_dropped_total 0\n"));
  }
  CHECK(d.terminate() == 0);
}

TEST_CASE("shelfd stops gracefully and keeps queued and interrupted jobs across a restart",
          "[shelfd][shutdown]") {
  Shelfd d(1);
  d.start();
  auto running = d.post({{"name", "DemoWork"}, {"steps", 1000}, {"stepMs", 20}, {"label", "long"}});
  auto queued = d.post({{"name", "DemoWork"}, {"steps", 2}, {"stepMs", 10}, {"label", "waiting"}});
  REQUIRE(d.reaches(running["id"], "started"));
  CHECK(d.command(queued["id"])["status"] == "queued");
  CHECK(d.terminate() == 0);

  d.start();
  // The interrupted job is back as attempt 2; the queued one is still there.
  auto interrupted = d.command(running["id"]);
  CHECK(interrupted["attempt"] == 2);
  CHECK(d.command(queued["id"])["attempt"] == 1);
  // The long one goes first again (it is older); cancel it so the queued one gets the worker.
  auto del = d.client().Delete(("/api/v1/command/" + std::to_string(running["id"].get<long long>())).c_str());
  REQUIRE(del);
  CHECK(del->status == 200);
  REQUIRE(d.reaches(running["id"], "cancelled"));
  REQUIRE(d.reaches(queued["id"], "completed"));
  CHECK(d.terminate() == 0);
}

TEST_CASE("shelfd's catalog: root folders, adding an author by its metadata id, refresh by id", "[shelfd]") {
  auto metadata = shelfjobs::fixtures::BookInfoFixture::start();
  metadata->put_author(shelfjobs::fixtures::make_author(1001, "Ada Example", 3));
  Shelfd d;
  const auto books_root = d.with_library(metadata->base_url());
  d.start();

  // The library root is a root folder of the catalog.
  auto roots = d.get("/api/v1/rootfolder");
  REQUIRE(roots.size() == 1);
  CHECK(roots[0]["path"] == books_root.string());
  CHECK(roots[0]["accessible"] == true);
  auto bad_root = d.client().Post("/api/v1/rootfolder", R"({"path": "relative/x"})", "application/json");
  REQUIRE(bad_root);
  CHECK(bad_root->status == 400);

  // Add an author as Readarr's clients do; its refresh follows (AuthorAdded -> RefreshAuthor).
  // The catalog's own events reach the event stream.
  EventStream stream(d.port, kKey);
  json add = {{"foreignAuthorId", "1001"}, {"rootFolderPath", books_root.string()}, {"monitored", true}};
  auto r = d.client().Post("/api/v1/author", add.dump(), "application/json");
  REQUIRE(r);
  INFO(r->body);
  REQUIRE(r->status == 201);
  const json author = json::parse(r->body);
  CHECK(author["authorName"] == "Ada Example");
  CHECK(author["path"] == (books_root / "Ada Example").string());
  const auto id = author["id"].get<long long>();
  CHECK(eventually([&] { return d.get("/api/v1/book?authorId=" + std::to_string(id)).size() == 3; },
                   std::chrono::seconds(20)));
  CHECK(d.get("/api/v1/author/" + std::to_string(id))["statistics"]["bookCount"] == 3);
  CHECK(d.get("/api/v1/author").size() == 1);
  const auto added = stream.wait_for("AuthorAdded", [&](const json& e) { return e["authorId"] == id; });
  CHECK(added["author"]["authorName"] == "Ada Example");
  CHECK(added["author"]["foreignAuthorId"] == "1001");
  const auto refreshed =
      stream.wait_for("AuthorRefreshed", [&](const json& e) { return e["authorId"] == id; });
  CHECK(refreshed["booksAdded"] == 3);
  CHECK(stream.wait_for("BookAdded", [&](const json& e) { return e["authorId"] == id; })["fromRefresh"] ==
        true);

  auto again = d.client().Post("/api/v1/author", add.dump(), "application/json");
  REQUIRE(again);
  CHECK(again->status == 409);
  add["foreignAuthorId"] = "4040";
  auto unknown = d.client().Post("/api/v1/author", add.dump(), "application/json");
  REQUIRE(unknown);
  CHECK(unknown->status == 404);
  d.get("/api/v1/author/999", 404);

  // A command with the author's id refreshes that author, not the whole task.
  auto job = d.post({{"name", "RefreshAuthor"}, {"authorId", id}});
  CHECK(job["body"]["authorId"] == id);
  REQUIRE(d.reaches(job["id"].get<long long>(), "completed"));
  CHECK(d.command(job["id"].get<long long>())["message"].get<std::string>().find("1 unchanged") !=
        std::string::npos);
  // A book by hand: its author (new to the catalog) comes along.
  metadata->put_author(shelfjobs::fixtures::make_author(1002, "Bob Writer", 2));
  const auto work_id = shelfjobs::fixtures::make_author(1002, "Bob Writer", 2)["Works"][0]["ForeignId"];
  json add_book = {{"foreignBookId", work_id}, {"rootFolderPath", books_root.string()}};
  auto b = d.client().Post("/api/v1/book", add_book.dump(), "application/json");
  REQUIRE(b);
  INFO(b->body);
  REQUIRE(b->status == 201);
  CHECK(json::parse(b->body)["foreignBookId"] == work_id.dump());
  CHECK(eventually([&] { return d.get("/api/v1/author").size() == 2; }, std::chrono::seconds(20)));

  // The bare name runs the scheduled task.
  auto task = d.post({{"name", "RefreshAuthor"}});
  CHECK(task["taskName"] == "RefreshAuthor");
  CHECK(d.terminate() == 0);
}

TEST_CASE("shelfd answers an add with what happened upstream: 404, 429, 502, 503", "[shelfd]") {
  auto metadata = shelfjobs::fixtures::BookInfoFixture::start();
  for (int id : {2001, 2002, 2003, 2004}) {
    metadata->put_author(shelfjobs::fixtures::make_author(id, "Writer " + std::to_string(id), 1));
  }
  Shelfd d;
  const auto books_root = d.with_library(metadata->base_url(), 2);
  d.start();
  auto add = [&](const std::string& fid) {
    json body = {{"foreignAuthorId", fid}, {"rootFolderPath", books_root.string()}};
    auto r = d.client().Post("/api/v1/author", body.dump(), "application/json");
    REQUIRE(r);
    return r;
  };
  using shelfjobs::fixtures::Scenario;
  metadata->set_scenario("2002", {.scenario = Scenario::server_error});
  metadata->set_scenario("2003", {.scenario = Scenario::malformed});

  CHECK(add("9999")->status == 404);
  auto down = add("2002");
  INFO(down->body);
  CHECK(down->status == 503);
  CHECK(json::parse(down->body)["error"] == "unavailable");

  auto nonsense = add("2003");
  INFO(nonsense->body);
  CHECK(nonsense->status == 502);
  CHECK(json::parse(nonsense->body)["error"] == "upstream_error");

  // The source stopped: connection refused is "unavailable", not the client's fault.
  const int port = metadata->port();
  metadata.reset();
  auto gone = add("2004");
  INFO(gone->body);
  CHECK(gone->status == 503);
  CHECK(json::parse(gone->body)["message"].get<std::string>().find("metadata source") != std::string::npos);
  // The source back on its port, limiting us.
  metadata = shelfjobs::fixtures::BookInfoFixture::start(port);
  metadata->put_author(shelfjobs::fixtures::make_author(2001, "Writer 2001", 1));
  metadata->set_scenario("2001", {.scenario = Scenario::rate_limited, .retry_after = "30"});
  // Last: after a 429 the source holds back every request to that server until Retry-After.
  auto limited = add("2001");
  INFO(limited->body);
  CHECK(limited->status == 429);
  CHECK(json::parse(limited->body)["error"] == "rate_limited");
  REQUIRE(limited->has_header("Retry-After"));
  const int wait = std::stoi(limited->get_header_value("Retry-After"));
  CHECK(wait >= 1);
  CHECK(wait <= 30);
  // Nothing was added by any of them.
  CHECK(d.get("/api/v1/author").empty());

  // The library's root folder check: a root that went away is an error on the health route
  // once CheckHealth has run.
  std::filesystem::remove_all(books_root);
  auto check = d.post({{"name", "CheckHealth"}});
  REQUIRE(d.reaches(check["id"].get<long long>(), "completed"));
  CHECK_THAT(d.command(check["id"].get<long long>())["message"].get<std::string>(),
             Catch::Contains("Missing root folder"));
  bool listed = false;
  for (const auto& i : d.get("/api/v1/health")) {
    listed = listed || (i["source"] == "RootFolderCheck" && i["type"] == "error");
  }
  CHECK(listed);
  CHECK(d.terminate() == 0);
}

TEST_CASE("shelfd answers 400 naming the problem for bytes that are not UTF-8 and numbers out of range",
          "[shelfd]") {
  Shelfd d;
  d.start();
  auto post = [&](const std::string& path, const std::string& body) {
    auto r = d.client().Post(path.c_str(), body, "application/json");
    REQUIRE(r);
    INFO(path << " -> " << r->status << " " << r->body);
    CHECK(r->status == 400);
    const json answer = json::parse(r->body);  // always a JSON answer, never an empty 500
    return answer["message"].get<std::string>();
  };
  // Not UTF-8: in a string, and as a bare byte.
  CHECK(post("/api/v1/command", "{\"name\": \"Demo\xff\xfeWork\"}").find("UTF-8") != std::string::npos);
  CHECK(post("/api/v1/command", "\xc3\x28").find("UTF-8") != std::string::npos);
  CHECK(post("/api/v1/rootfolder", "{\"path\": \"/tmp/\xe2\x28\xa1\"}").find("UTF-8") != std::string::npos);
  CHECK(post("/api/v1/author", "{\"foreignAuthorId\": \"\xf0\x28\x8c\xbc\"}").find("UTF-8") !=
        std::string::npos);

  // A number the command's field cannot hold is refused, not wrapped: 2^32 + 1 would be 1 step.
  CHECK(post("/api/v1/command", R"({"name": "DemoWork", "steps": 4294967297})").find("steps") !=
        std::string::npos);
  CHECK(post("/api/v1/command", R"({"name": "DemoWork", "steps": 2.5})").find("steps") != std::string::npos);
  // A 20-digit id in a query is out of range, named.
  auto r = d.client().Get("/api/v1/book?authorId=12345678901234567890");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(json::parse(r->body)["message"].get<std::string>().find("authorId") != std::string::npos);
  // rootFolderId as a 20-digit number.
  CHECK(post("/api/v1/author", R"({"foreignAuthorId": "1", "rootFolderId": 12345678901234567890})")
            .find("rootFolderId") != std::string::npos);
  // A number beyond a double (the JSON reader refuses it otherwise than a syntax error), in any
  // body: 400, not a 500 with the parser's exception in a header.
  CHECK(post("/api/v1/command", R"({"name": "DemoWork", "steps": 1e400})").find("not valid JSON") !=
        std::string::npos);
  auto bulk = d.client().Delete("/api/v1/bookfile/bulk", R"({"bookFileIds": [1e400]})", "application/json");
  REQUIRE(bulk);
  CHECK(bulk->status == 400);
  CHECK(!bulk->has_header("EXCEPTION_WHAT"));
  CHECK(json::parse(bulk->body)["message"].get<std::string>().find("not valid JSON") != std::string::npos);
  CHECK(d.terminate() == 0);
}

TEST_CASE("shelfd reads a POST or PUT without Content-Length as bodiless and answers every error in JSON",
          "[shelfd]") {
  Shelfd d;
  d.start();
  // Status code and JSON body of a raw answer.
  auto answer = [&](const std::string& request) {
    const std::string raw = raw_http(d.port, request);
    INFO(raw);
    REQUIRE(raw.rfind("HTTP/1.1 ", 0) == 0);
    const auto body_at = raw.find("\r\n\r\n");
    REQUIRE(body_at != std::string::npos);
    return std::make_pair(std::stoi(raw.substr(9, 3)), json::parse(raw.substr(body_at + 4)));
  };
  const std::string head = "Host: 127.0.0.1\r\nX-Api-Key: " + kKey + "\r\nConnection: close\r\n";
  // `curl -X POST URL` sends no Content-Length: the body is empty, not "until the connection
  // closes" (the connection stays open here, as a client's does while it waits for the answer).
  auto [restore_status, restore] =
      answer("POST /api/v1/system/backup/restore/999 HTTP/1.1\r\n" + head + "\r\n");
  CHECK(restore_status == 404);
  CHECK(restore["message"] == "no backup 999");
  auto [command_status, command] = answer("POST /api/v1/command HTTP/1.1\r\n" + head + "\r\n");
  CHECK(command_status == 400);
  CHECK(command["error"] == "invalid_body");
  auto [put_status, put] = answer("PUT /api/v1/indexer/999 HTTP/1.1\r\n" + head + "\r\n");
  CHECK(put_status >= 400);
  CHECK(put_status < 500);
  CHECK(put.contains("message"));
  // The daemon still answers as before.
  CHECK(d.post({{"name", "CheckHealth"}})["name"] == "CheckHealth");
  CHECK(d.terminate() == 0);
}

TEST_CASE("shelfd's library: a scan through the command API, book files, unmapped files, Wanted/Missing",
          "[shelfd][library]") {
  namespace bk = book_samples;
  auto metadata = shelfjobs::fixtures::BookInfoFixture::start();
  metadata->put_author(shelfjobs::fixtures::make_author(1001, "Ada Example", 3));
  Shelfd d;
  const auto books_root = d.with_library(metadata->base_url());
  {
    json c = json::parse(std::ifstream(d.config));
    c["recycleBin"] = (d.dir.path() / "recycle").string();
    std::ofstream(d.config) << c.dump(2);
  }
  d.start();
  EventStream stream(d.port, kKey);
  json add = {{"foreignAuthorId", "1001"}, {"rootFolderPath", books_root.string()}, {"monitored", true}};
  auto r = d.client().Post("/api/v1/author", add.dump(), "application/json");
  REQUIRE(r);
  REQUIRE(r->status == 201);
  const auto author_id = json::parse(r->body)["id"].get<long long>();
  REQUIRE(eventually([&] { return d.get("/api/v1/book?authorId=" + std::to_string(author_id)).size() == 3; },
                     std::chrono::seconds(20)));
  // The refresh's rule rescans the author's folder: let that scan end before files appear.
  REQUIRE(eventually(
      [&] {
        for (const auto& c : d.get("/api/v1/command"))
          if (c["status"] == "queued" || c["status"] == "started") return false;
        return true;
      },
      std::chrono::seconds(20)));
  const json books = d.get("/api/v1/book?authorId=" + std::to_string(author_id));
  const std::string title = books[0]["title"];
  const auto book_id = books[0]["id"].get<long long>();

  // One real EPUB of a catalog book, one of an author the catalog does not know.
  bk::BookSpec mine;
  mine.title = title;
  mine.authors = {"Ada Example"};
  const auto mine_path = books_root / "Ada Example" / title / ("Ada Example - " + title + ".epub");
  bk::make_epub(mine_path, mine);
  bk::BookSpec other;
  other.title = "Piranesi";
  other.authors = {"Susanna Clarke"};
  bk::make_epub(books_root / "Susanna Clarke" / "Piranesi.epub", other);

  auto job = d.post({{"name", "RescanFolders"}, {"filter", "Known"}});
  REQUIRE(d.reaches(job["id"].get<long long>(), "completed"));
  CHECK(d.command(job["id"].get<long long>())["message"].get<std::string>().find("2 new") !=
        std::string::npos);
  CHECK(d.command(job["id"].get<long long>())["priority"] == "normal");

  const json files = d.get("/api/v1/bookfile?authorId=" + std::to_string(author_id));
  REQUIRE(files.size() == 1);
  CHECK(files[0]["bookId"] == book_id);
  CHECK(files[0]["path"] == mine_path.string());
  CHECK(files[0]["quality"]["quality"]["name"] == "EPUB");
  CHECK(files[0]["quality"]["quality"]["id"] == 3);
  const auto file_id = files[0]["id"].get<long long>();
  CHECK(d.get("/api/v1/bookfile/" + std::to_string(file_id))["bookId"] == book_id);
  CHECK(d.get("/api/v1/bookfile?bookId=" + std::to_string(book_id)).size() == 1);
  // Readarr's statistics count the mapped file: on its book and on its author.
  {
    const auto size = static_cast<long long>(std::filesystem::file_size(mine_path));
    const json book = d.get("/api/v1/book/" + std::to_string(book_id));
    CHECK(book["statistics"]["bookFileCount"] == 1);
    CHECK(book["statistics"]["sizeOnDisk"] == size);
    CHECK(book["statistics"]["percentOfBooks"] == 100.0);
    CHECK(d.get("/api/v1/book/" +
                std::to_string(books[1]["id"].get<long long>()))["statistics"]["sizeOnDisk"] == 0);
    const json stats = d.get("/api/v1/author/" + std::to_string(author_id))["statistics"];
    CHECK(stats["bookFileCount"] == 1);  // the unmapped file is no book's
    CHECK(stats["sizeOnDisk"] == size);
    CHECK(stats["totalBookCount"] == 3);
    CHECK(book["author"]["statistics"] == stats);
  }
  const json unmapped = d.get("/api/v1/bookfile?unmapped=true");
  REQUIRE(unmapped.size() == 1);
  CHECK(unmapped[0]["unmappedReason"] == "author 'Susanna Clarke' is not in the library");
  CHECK(d.get("/api/v1/library/scan")["files"] == 2);

  // Wanted/Cutoff Unmet: the EPUB meets the ebook profile's cutoff (epub); a PDF of the second
  // book does not, until that book has an EPUB too.
  CHECK(d.get("/api/v1/wanted/cutoff")["totalRecords"] == 0);
  {
    bk::BookSpec second;
    second.title = books[1]["title"];
    second.authors = {"Ada Example"};
    const auto pdf_path =
        books_root / "Ada Example" / second.title / ("Ada Example - " + second.title + ".pdf");
    bk::make_pdf(pdf_path, second);
    auto rescan = d.post({{"name", "RescanFolders"}, {"filter", "Known"}});
    REQUIRE(d.reaches(rescan["id"].get<long long>(), "completed"));
    const json cutoff = d.get("/api/v1/wanted/cutoff?page=1&pageSize=10");
    INFO(cutoff.dump());
    REQUIRE(cutoff["totalRecords"] == 1);
    CHECK(cutoff["records"][0]["id"] == books[1]["id"]);
    CHECK(cutoff["records"][0]["statistics"]["bookFileCount"] == 1);
    d.get("/api/v1/wanted/cutoff?page=0", 400);
    std::filesystem::remove(pdf_path);
    rescan = d.post({{"name", "RescanFolders"}, {"filter", "Known"}});
    REQUIRE(d.reaches(rescan["id"].get<long long>(), "completed"));
    CHECK(d.get("/api/v1/wanted/cutoff")["totalRecords"] == 0);
  }

  // Wanted/Missing: the two books without a file, paged as Readarr pages.
  const json missing = d.get("/api/v1/wanted/missing?page=1&pageSize=1");
  CHECK(missing["totalRecords"] == 2);
  CHECK(missing["records"].size() == 1);
  CHECK(missing["page"] == 1);
  d.get("/api/v1/wanted/missing?page=0", 400);
  d.get("/api/v1/wanted/missing?pageSize=99999999999999999999", 400);

  // A download folder as Readarr's manual import lists it, then imported by the command.
  const auto downloads = d.dir.path() / "downloads";
  bk::BookSpec next;
  next.title = books[1]["title"];
  next.authors = {"Ada Example"};
  bk::make_epub(downloads / "release" / "book.epub", next);
  const json candidates = d.get("/api/v1/manualimport?folder=" + downloads.string());
  REQUIRE(candidates.size() == 1);
  INFO(candidates.dump());
  CHECK(candidates[0]["bookId"] == books[1]["id"]);
  CHECK(candidates[0]["rejections"].empty());
  // Readarr's ManualImportResource: nested author and book, the quality, an id per row.
  CHECK(candidates[0]["id"] == 1);
  CHECK(candidates[0]["name"] == "book.epub");
  CHECK(candidates[0]["author"]["authorName"] == "Ada Example");
  CHECK(candidates[0]["author"]["id"] == author_id);
  CHECK(candidates[0]["book"]["title"] == books[1]["title"]);
  CHECK(candidates[0]["quality"]["quality"]["name"] == "EPUB");
  CHECK(candidates[0]["foreignEditionId"].is_string());
  CHECK(candidates[0]["replaceExistingFiles"] == false);
  CHECK(std::filesystem::exists(downloads / "release" / "book.epub"));  // listing moves nothing
  d.get("/api/v1/manualimport", 400);
  d.get("/api/v1/manualimport?folder=relative", 400);
  auto imp = d.post({{"name", "DownloadedBooksScan"}, {"path", downloads.string()}, {"importMode", "Copy"}});
  CHECK(imp["priorityName"] == "critical");  // Readarr has no critical: "priority" says high
  REQUIRE(d.reaches(imp["id"].get<long long>(), "completed"));
  CHECK(d.get("/api/v1/bookfile?bookId=" + std::to_string(books[1]["id"].get<long long>())).size() == 1);
  CHECK(std::filesystem::exists(downloads / "release" / "book.epub"));  // a copy keeps the source

  // Client errors: no filter, ids out of range, a missing file.
  d.get("/api/v1/bookfile", 400);
  d.get("/api/v1/bookfile?authorId=x", 400);
  d.get("/api/v1/bookfile/99999999999999999999", 404);
  d.get("/api/v1/bookfile/4242", 404);

  // Deleting a file moves it to the recycle bin, drops its row, and says so on the stream.
  auto del = d.client().Delete(("/api/v1/bookfile/" + std::to_string(file_id)).c_str());
  REQUIRE(del);
  CHECK(del->status == 200);
  CHECK_FALSE(std::filesystem::exists(mine_path));
  CHECK(std::filesystem::exists(d.dir.path() / "recycle" / "Ada Example" / title /
                                ("Ada Example - " + title + ".epub")));
  d.get("/api/v1/bookfile/" + std::to_string(file_id), 404);
  const auto deleted =
      stream.wait_for("BookFileDeleted", [&](const json& e) { return e["bookFileId"] == file_id; });
  CHECK(deleted["reason"].get<std::string>().find("recycle bin") != std::string::npos);
  CHECK(d.get("/api/v1/wanted/missing")["totalRecords"] == 2);
  CHECK(stream.wait_for("LibraryScanned", [](const json& e) { return e["files"] == 2; })["unmapped"] == 1);

  // Readarr's bulk delete: the imported copy goes; a bad body or an unknown id changes nothing.
  const auto imported = d.get("/api/v1/bookfile?bookId=" + std::to_string(books[1]["id"].get<long long>()));
  REQUIRE(imported.size() == 1);
  const auto imported_id = imported[0]["id"].get<long long>();
  auto bulk = [&](const std::string& body) {
    auto answer = d.client().Delete("/api/v1/bookfile/bulk", body, "application/json");
    REQUIRE(answer);
    return answer->status;
  };
  CHECK(bulk(R"({"bookFileIds": "x"})") == 400);
  CHECK(bulk("{not json") == 400);
  CHECK(bulk(json{{"bookFileIds", {imported_id, 4242}}}.dump()) == 404);
  CHECK(std::filesystem::exists(imported[0]["path"].get<std::string>()));
  CHECK(bulk(json{{"bookFileIds", {imported_id}}}.dump()) == 200);
  CHECK_FALSE(std::filesystem::exists(imported[0]["path"].get<std::string>()));
  d.get("/api/v1/bookfile/" + std::to_string(imported_id), 404);
  CHECK(d.terminate() == 0);
}

// SPDX-License-Identifier: MIT
// The shelfd dashboard in a real browser: shelfd serves the page, headless Chromium (driven
// through chromedriver) opens it, presses "Run now" on the Housekeeping task and waits until the
// page shows that job completed; adds an author and sees the catalog's events fill its row;
// watches the charts follow the jobs; imports a book from a download folder by hand; and follows
// a release from the RSS sync button through the download queue to the import. That needs the
// page's API calls, its event stream and shelfd's engine to work together, which no unit test covers.

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "book_samples.hpp"
#include "bookinfo_fixture.hpp"
#include "indexer_fixture.hpp"
#include "webdriver.hpp"

#ifndef SHELFD_PATH
#error "SHELFD_PATH must name the shelfd binary"
#endif

namespace {

using namespace std::chrono_literals;
using webdriver::Process;

constexpr const char* kChromium = "/usr/bin/chromium";
constexpr const char* kChromedriver = "/usr/bin/chromedriver";
// ctest's SKIP_RETURN_CODE for this test: a machine without the browser reports "skipped", not
// "passed".
constexpr int kSkipped = 77;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "shelfd-browser-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// 32 hex digits: shelfd refuses keys shorter than 16 characters.
std::string random_key() {
  std::random_device rd;
  std::ostringstream out;
  for (int i = 0; i < 4; ++i) out << std::hex << std::setw(8) << std::setfill('0') << rd();
  return out.str();
}

// Polls every 100 ms: each check is an HTTP round trip to the browser or to shelfd.
bool poll(std::chrono::milliseconds timeout, const std::function<bool()>& check) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (check()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return check();
}

std::string tail(const std::string& path, std::size_t max = 4000) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.size() > max ? "…" + text.substr(text.size() - max) : text;
}

// What a failure report needs: the page as a reader sees it, and shelfd's log.
std::string diagnostics(webdriver::Session& browser, const TempDir& dir) {
  std::string page;
  try {
    page = browser.execute("return document.body.innerText;").get<std::string>();
  } catch (const std::exception& e) {
    page = std::string("(page text unavailable: ") + e.what() + ")";
  }
  return "\n--- page ---\n" + page + "\n--- shelfd log ---\n" + tail(dir.file("shelfd.log"));
}

// The job rows named `name`: [{id, status, section}].
nlohmann::json job_rows(webdriver::Session& browser, const std::string& name) {
  return browser.execute(R"js(
    return [...document.querySelectorAll('tr.job')]
      .filter((r) => (r.querySelector('td.name')?.textContent ?? '').trim() === arguments[0])
      .map((r) => ({ id: r.dataset.id, status: r.dataset.status, section: r.closest('section')?.id }));
  )js",
                         {name});
}

// `shelfd init`, the config patched with `patch` (a JSON merge patch), then `shelfd run` on a free
// port until its API answers.
std::unique_ptr<Process> start_shelfd(const TempDir& dir, const std::string& key, std::string& origin,
                                      const nlohmann::json& patch = nlohmann::json::object()) {
  const std::string config = dir.file("shelfd.json");
  {
    Process init({SHELFD_PATH, "init", "--config", config}, dir.file("shelfd-init.log"));
    const auto code = init.wait(30s);
    INFO(tail(dir.file("shelfd-init.log")));
    REQUIRE(code == 0);
  }
  nlohmann::json c = nlohmann::json::parse(std::ifstream(config));
  c.merge_patch(patch);
  std::ofstream(config) << c.dump(2);

  const int port = webdriver::free_port();
  origin = "http://127.0.0.1:" + std::to_string(port);
  auto shelfd =
      std::make_unique<Process>(std::vector<std::string>{SHELFD_PATH, "run", "--config", config, "--port",
                                                         std::to_string(port), "--api-key", key},
                                dir.file("shelfd.log"));
  const std::string status_url = origin + "/api/v1/system/status";
  const bool up = poll(30s, [&] {
    if (!shelfd->running()) return true;  // reported below
    try {
      return webdriver::http("GET", status_url, {}, {"X-Api-Key: " + key}, 2s).status == 200;
    } catch (const webdriver::Error&) {
      return false;  // not listening yet
    }
  });
  INFO("shelfd log:\n" << tail(dir.file("shelfd.log")));
  REQUIRE(up);
  REQUIRE(shelfd->running());
  return shelfd;
}

// Headless Chromium through chromedriver, its profile in `dir`.
struct Browser {
  webdriver::Driver driver;
  webdriver::Session session;
  static webdriver::BrowserOptions options(const TempDir& dir) {
    webdriver::BrowserOptions o;
    o.binary = kChromium;
    o.user_data_dir = dir.file("chromium-profile");
    return o;
  }
  explicit Browser(const TempDir& dir)
      : driver(kChromedriver, dir.file("chromedriver.log")), session(driver, options(dir)) {}
};

// Clicks what `selector` finds, tolerating a re-render between finding and clicking.
bool click(webdriver::Session& browser, const std::string& selector) {
  return poll(10s, [&] {
    try {
      const auto button = browser.find(selector);
      if (!button) return false;
      browser.click(*button);
      return true;
    } catch (const webdriver::Error& e) {
      if (e.code() == "stale element reference" || e.code() == "element click intercepted" ||
          e.code() == "element not interactable")
        return false;
      throw;
    }
  });
}

}  // namespace

TEST_CASE("the dashboard runs Housekeeping with Run now and shows it completed", "[browser][slow]") {
  TempDir dir;
  const std::string key = random_key();
  std::string origin;
  auto shelfd_process = start_shelfd(dir, key, origin);
  Process& shelfd = *shelfd_process;

  Browser page(dir);
  webdriver::Session& browser = page.session;
  browser.navigate(origin + "/#apikey=" + key);

  const std::string run_now = R"(tr.task[data-task="Housekeeping"] button.run-now)";
  if (!poll(20s, [&] { return browser.find(run_now).has_value(); }))
    FAIL("the Housekeeping task never appeared" << diagnostics(browser, dir));

  // Housekeeping may already have run on its own; only a completion we have not seen counts.
  std::set<std::string> seen;
  for (const auto& row : job_rows(browser, "Housekeeping"))
    if (row.value("status", "") == "completed") seen.insert(row.value("id", ""));

  // Rows are updated in place, but tolerate a re-render between finding and clicking.
  REQUIRE(click(browser, run_now));

  nlohmann::json done;
  const bool completed = poll(20s, [&] {
    for (const auto& row : job_rows(browser, "Housekeeping"))
      if (row.value("status", "") == "completed" && !seen.count(row.value("id", ""))) {
        done = row;
        return true;
      }
    return false;
  });
  if (!completed) FAIL("no new Housekeeping job reached completed" << diagnostics(browser, dir));
  CHECK(done.value("section", "") == "history");

  // No error message on the page, and the key was taken out of the address bar.
  const auto notice = browser.find("#notice");
  REQUIRE(notice);
  CHECK(browser.attribute(*notice, "hidden").has_value());
  CHECK(browser.current_url().find(key) == std::string::npos);

  // shelfd must shut down cleanly with the page's event stream still open.
  const int code = shelfd.stop(SIGTERM, 15s);
  INFO("shelfd log:\n" << tail(dir.file("shelfd.log")));
  CHECK(code == 0);
}

TEST_CASE("the dashboard adds an author, lists its books and refreshes it", "[browser][slow]") {
  TempDir dir;
  const std::string key = random_key();
  auto metadata = shelfjobs::fixtures::BookInfoFixture::start();
  metadata->put_author(shelfjobs::fixtures::make_author(1001, "Ada Example", 3));
  const std::string books = dir.file("books");
  std::filesystem::create_directories(books);
  std::string origin;
  auto shelfd = start_shelfd(dir, key, origin,
                             {{"libraryRoots", {books}},
                              {"metadata", {{"baseUrl", metadata->base_url()}, {"requestSpacingMs", 0}}}});

  Browser page(dir);
  webdriver::Session& browser = page.session;
  browser.navigate(origin + "/#apikey=" + key);

  // The root folder is offered; type the author's metadata id and add it.
  if (!poll(20s, [&] { return browser.find("#author-root option").has_value(); }))
    FAIL("no root folder was offered" << diagnostics(browser, dir));
  auto input = browser.find("#author-id");
  REQUIRE(input);
  browser.execute("document.querySelector('#author-id').value = arguments[0];", {"1001"});
  REQUIRE(click(browser, "#add-author button[type=submit]"));

  // AuthorAdded -> RefreshAuthor: the row appears, and shows the three books once refreshed.
  const auto row = [&] {
    return browser.execute(R"js(
      const r = document.querySelector('#authors tr.author');
      return r ? { name: r.querySelector('td.name').textContent.trim(),
                   books: r.querySelector('td.books').textContent.trim(),
                   path: r.querySelector('td.path').textContent.trim() } : null;
    )js");
  };
  if (!poll(20s, [&] {
        auto r = row();
        return r.is_object() && r.value("books", "") == "3";
      }))
    FAIL("the author never showed its 3 books" << diagnostics(browser, dir));
  CHECK(row().value("name", "") == "Ada Example");
  CHECK(row().value("path", "") == books + "/Ada Example");
  // The catalog's events are listed as they come.
  const auto activity = [&] {
    return browser.execute("return document.querySelector('#activity').innerText;").get<std::string>();
  };
  if (!poll(20s, [&] {
        return activity().find("Ada Example added") != std::string::npos &&
               activity().find("Ada Example refreshed") != std::string::npos;
      }))
    FAIL("the catalog changes were not listed" << diagnostics(browser, dir));

  // Refresh it from its row: a RefreshAuthor job completes in the history.
  REQUIRE(click(browser, "#authors tr.author button.refresh"));
  const bool refreshed = poll(20s, [&] {
    for (const auto& r : job_rows(browser, "RefreshAuthor"))
      if (r.value("status", "") == "completed" && r.value("section", "") == "history") return true;
    return false;
  });
  if (!refreshed) FAIL("no RefreshAuthor reached the history" << diagnostics(browser, dir));
  const auto notice = browser.find("#notice");
  REQUIRE(notice);
  CHECK(browser.attribute(*notice, "hidden").has_value());

  // An edit through the API (as a Readarr client makes it): AuthorEdited marks the row
  // unmonitored and is listed.
  const std::vector<std::string> auth = {"X-Api-Key: " + key, "Content-Type: application/json"};
  auto author = nlohmann::json::parse(webdriver::http("GET", origin + "/api/v1/author", {}, auth).body).at(0);
  author["monitored"] = false;
  REQUIRE(webdriver::http("PUT", origin + "/api/v1/author/" + std::to_string(author["id"].get<long long>()),
                          author.dump(), auth)
              .status == 202);
  if (!poll(20s, [&] {
        return row().value("name", "").find("unmonitored") != std::string::npos &&
               activity().find("Ada Example edited: unmonitored") != std::string::npos;
      }))
    FAIL("the edit did not reach the author list" << diagnostics(browser, dir));
  CHECK(shelfd->stop(SIGTERM, 15s) == 0);
}

TEST_CASE("the dashboard lists a download folder and imports the ticked file", "[browser][slow]") {
  TempDir dir;
  const std::string key = random_key();
  auto metadata = shelfjobs::fixtures::BookInfoFixture::start();
  metadata->put_author(shelfjobs::fixtures::make_author(1001, "Ada Example", 3));
  const std::string books = dir.file("books");
  std::filesystem::create_directories(books);
  std::string origin;
  auto shelfd = start_shelfd(dir, key, origin,
                             {{"libraryRoots", {books}},
                              {"metadata", {{"baseUrl", metadata->base_url()}, {"requestSpacingMs", 0}}}});
  const std::vector<std::string> auth = {"X-Api-Key: " + key, "Content-Type: application/json"};
  const auto added =
      webdriver::http("POST", origin + "/api/v1/author",
                      nlohmann::json{{"foreignAuthorId", "1001"}, {"rootFolderPath", books}}.dump(), auth);
  REQUIRE(added.status == 201);
  const auto author_id = nlohmann::json::parse(added.body)["id"].get<long long>();
  nlohmann::json titles;
  REQUIRE(poll(20s, [&] {
    titles = nlohmann::json::parse(
        webdriver::http("GET", origin + "/api/v1/book?authorId=" + std::to_string(author_id), {}, auth).body);
    return titles.size() == 3;
  }));
  const std::string title = titles[1]["title"];

  // A finished download: one book of the author, and one by an author the library lacks.
  const std::string downloads = dir.file("downloads");
  book_samples::BookSpec mine;
  mine.title = title;
  mine.authors = {"Ada Example"};
  book_samples::make_epub(downloads + "/release/book.epub", mine);
  book_samples::BookSpec stray;
  stray.title = "Piranesi";
  stray.authors = {"Susanna Clarke"};
  book_samples::make_epub(downloads + "/release/other.epub", stray);

  Browser page(dir);
  webdriver::Session& browser = page.session;
  browser.navigate(origin + "/#apikey=" + key);
  if (!poll(20s, [&] { return browser.find("#import-folder").has_value(); }))
    FAIL("no import form" << diagnostics(browser, dir));
  browser.execute("document.querySelector('#import-folder').value = arguments[0];", {downloads});
  REQUIRE(click(browser, "#import-form button[type=submit]"));

  const auto rows = [&] {
    return browser.execute(R"js(
      return [...document.querySelectorAll('#import-candidates tr.candidate')].map((r) => ({
        path: r.dataset.path, author: r.querySelector('td.author').textContent,
        book: r.querySelector('td.book').textContent, reason: r.querySelector('td.reason').textContent,
        checked: r.querySelector('input').checked, disabled: r.querySelector('input').disabled }));
    )js");
  };
  if (!poll(20s, [&] { return rows().size() == 2; }))
    FAIL("the folder was not listed" << diagnostics(browser, dir));
  const auto listed = rows();
  // Sorted by path: book.epub, then other.epub.
  CHECK(listed[0]["author"] == "Ada Example");
  CHECK(listed[0]["book"] == title);
  CHECK(listed[0]["checked"] == true);
  CHECK(listed[1]["checked"] == false);
  CHECK(listed[1]["disabled"] == true);
  CHECK(listed[1]["reason"].get<std::string>().find("not in the library") != std::string::npos);

  REQUIRE(click(browser, "#import-run"));
  const std::string dest = books + "/Ada Example/" + title + "/Ada Example - " + title + ".epub";
  if (!poll(20s, [&] { return std::filesystem::exists(dest); }))
    FAIL("the file was not imported" << diagnostics(browser, dir));
  CHECK_FALSE(std::filesystem::exists(downloads + "/release/book.epub"));  // moved
  // BookImported on the stream: the folder is listed again, the imported file gone from it.
  if (!poll(20s, [&] { return rows().size() == 1; }))
    FAIL("the list did not follow the import" << diagnostics(browser, dir));
  const bool done = poll(20s, [&] {
    for (const auto& r : job_rows(browser, "ManualImport"))
      if (r.value("status", "") == "completed" && r.value("section", "") == "history") return true;
    return false;
  });
  if (!done) FAIL("no ManualImport reached the history" << diagnostics(browser, dir));
  CHECK(shelfd->stop(SIGTERM, 15s) == 0);
}

TEST_CASE("the dashboard's downloads section follows a release from RSS sync to import", "[browser][slow]") {
  namespace fx = shelfjobs::fixtures;
  TempDir dir;
  const std::string key = random_key();
  auto metadata = fx::BookInfoFixture::start();
  metadata->put_author(fx::make_author(1001, "Ada Example", 3));
  const std::string books = dir.file("books");
  std::filesystem::create_directories(books);
  std::string origin;
  auto shelfd = start_shelfd(dir, key, origin,
                             {{"libraryRoots", {books}},
                              {"metadata", {{"baseUrl", metadata->base_url()}, {"requestSpacingMs", 0}}}});
  const std::vector<std::string> auth = {"X-Api-Key: " + key, "Content-Type: application/json"};
  const auto added =
      webdriver::http("POST", origin + "/api/v1/author",
                      nlohmann::json{{"foreignAuthorId", "1001"}, {"rootFolderPath", books}}.dump(), auth);
  REQUIRE(added.status == 201);
  const auto author_id = nlohmann::json::parse(added.body)["id"].get<long long>();
  nlohmann::json titles;
  REQUIRE(poll(20s, [&] {
    titles = nlohmann::json::parse(
        webdriver::http("GET", origin + "/api/v1/book?authorId=" + std::to_string(author_id), {}, auth).body);
    return titles.size() == 3;
  }));
  const std::string title = titles[1]["title"];
  const std::string release_title = "Ada Example - " + title + " (2019) [EPUB]";

  // A Torznab indexer whose feed names that book among others, and the torrent blackhole, both
  // set up the way a Readarr client does it: the provider form over the API.
  auto indexer = fx::IndexerFixture::start({.kind = fx::FixtureKind::torznab});
  const std::time_t now = std::time(nullptr);
  std::vector<fx::FixtureRelease> feed = fx::make_releases(5, now - 1200, "noise");
  fx::FixtureRelease wanted;
  wanted.title = release_title;
  wanted.guid = "ui-epub";
  wanted.published = now - 600;
  wanted.size = 3'500'000;
  feed.insert(feed.begin(), wanted);
  indexer->set_releases(feed);
  const std::string drop = dir.file("torrents"), watch = dir.file("complete");
  std::filesystem::create_directories(drop);
  std::filesystem::create_directories(watch);
  auto field = [](const char* name, nlohmann::json value) {
    return nlohmann::json{{"name", name}, {"value", value}};
  };
  const auto idx = webdriver::http(
      "POST", origin + "/api/v1/indexer",
      nlohmann::json{{"name", "Fixture"},
                     {"implementation", "Torznab"},
                     {"configContract", "TorznabSettings"},
                     {"enableRss", true},
                     {"enableAutomaticSearch", true},
                     {"enableInteractiveSearch", true},
                     {"fields",
                      {field("baseUrl", indexer->base_url()), field("apiPath", "/api"),
                       field("apiKey", indexer->options().api_key), field("categories", {3030, 7020})}}}
          .dump(),
      auth);
  INFO(idx.body);
  REQUIRE(idx.status == 201);
  const auto client =
      webdriver::http("POST", origin + "/api/v1/downloadclient",
                      nlohmann::json{{"name", "Blackhole"},
                                     {"implementation", "TorrentBlackhole"},
                                     {"configContract", "TorrentBlackholeSettings"},
                                     {"enable", true},
                                     {"fields", {field("torrentFolder", drop), field("watchFolder", watch)}}}
                          .dump(),
                      auth);
  INFO(client.body);
  REQUIRE(client.status == 201);

  Browser page(dir);
  webdriver::Session& browser = page.session;
  browser.navigate(origin + "/#apikey=" + key);
  if (!poll(20s, [&] { return browser.find("#rss-sync").has_value(); }))
    FAIL("no downloads section" << diagnostics(browser, dir));
  REQUIRE(click(browser, "#rss-sync"));

  // The sync's figures, a bar for the indexer, and the grabbed release in the queue.
  const auto queue_titles = [&] {
    return browser.execute(
        "return [...document.querySelectorAll('#queue tbody tr td.title')].map((t) => t.textContent);");
  };
  if (!poll(30s, [&] {
        const auto q = queue_titles();
        return q.size() == 1 && q[0] == release_title;
      }))
    FAIL("the grab did not reach the queue" << diagnostics(browser, dir));
  if (!poll(20s, [&] {
        const auto bars = browser.execute(
            "return [...document.querySelectorAll('#indexer-chart rect.bar')].map((b) => +b.dataset.value);");
        return bars.size() == 1 && bars[0].get<int>() == 6;
      }))
    FAIL("no bar for the indexer's sync" << diagnostics(browser, dir));
  CHECK(browser.execute("return document.querySelector('#downloads-summary').textContent;")
            .get<std::string>()
            .find("6 found") != std::string::npos);

  // The client finishes it: the blackhole's watch folder holds the book (written an hour ago, so
  // it is complete at once); the next refresh imports it and the queue empties.
  std::string torrent;
  for (const auto& e : std::filesystem::directory_iterator(drop))
    if (e.path().extension() == ".torrent") torrent = e.path().stem().string();
  REQUIRE_FALSE(torrent.empty());
  const std::string done = watch + "/" + torrent + "/" + title + ".epub";
  book_samples::BookSpec spec;
  spec.title = title;
  spec.authors = {"Ada Example"};
  book_samples::make_epub(done, spec);
  std::filesystem::last_write_time(done,
                                   std::filesystem::file_time_type::clock::now() - std::chrono::hours(1));
  REQUIRE(webdriver::http("POST", origin + "/api/v1/command",
                          nlohmann::json{{"name", "RefreshMonitoredDownloads"}}.dump(), auth)
              .status == 201);
  if (!poll(30s, [&] { return queue_titles().empty(); }))
    FAIL("the queue did not empty after the import" << diagnostics(browser, dir));
  const auto events = [&] {
    return browser.execute(
        "return [...document.querySelectorAll('#grabs tbody td.event')].map((t) => t.textContent);");
  };
  if (!poll(20s, [&] {
        const auto e = events();
        return std::find(e.begin(), e.end(), "Imported") != e.end() &&
               std::find(e.begin(), e.end(), "Grabbed") != e.end();
      }))
    FAIL("the history shows no grab and import" << diagnostics(browser, dir));
  CHECK(std::filesystem::exists(books + "/Ada Example/" + title + "/Ada Example - " + title + ".epub"));
  CHECK(shelfd->stop(SIGTERM, 15s) == 0);
}

TEST_CASE("the dashboard's charts draw the jobs and follow them as they finish", "[browser][slow]") {
  TempDir dir;
  const std::string key = random_key();
  std::string origin;
  auto shelfd = start_shelfd(dir, key, origin, {{"demoCommands", true}});

  Browser page(dir);
  webdriver::Session& browser = page.session;
  browser.navigate(origin + "/#apikey=" + key);

  // What the charts show, read from their marks: [throughput total, failed bars, queue points,
  // DemoWork's runs in its histogram (-1: no histogram), DemoWork's histogram bars].
  const auto charts = [&] {
    return browser.execute(R"js(
      const t = document.querySelector('#throughput-svg');
      const q = document.querySelector('#queue-svg');
      const h = document.querySelector('.histogram-box[data-type="DemoWork"] svg');
      return t && q ? { total: Number(t.dataset.total), failed: t.querySelectorAll('rect.bar-failed').length,
                        points: q.querySelectorAll('circle.point').length,
                        lines: q.querySelectorAll('polyline.line').length,
                        runs: h ? Number(h.dataset.runs) : -1,
                        bars: h ? h.querySelectorAll('rect.bar').length : 0,
                        title: t.querySelector('title').textContent } : null;
    )js");
  };
  if (!poll(20s, [&] { return charts().is_object(); }))
    FAIL("the charts were not drawn" << diagnostics(browser, dir));
  const auto before = charts();
  CHECK(before.value("points", 0) == 3);  // ready, delayed, running: each with its latest value
  CHECK(before.value("lines", 0) == 3);
  CHECK(before.value("runs", 0) == -1);  // no DemoWork has run yet

  // Four jobs that complete and one that fails for good, pushed through the API.
  const std::vector<std::string> headers = {"X-Api-Key: " + key, "Content-Type: application/json"};
  for (int i = 0; i < 5; ++i) {
    nlohmann::json body = {
        {"name", "DemoWork"}, {"steps", 2}, {"stepMs", 10}, {"label", "chart " + std::to_string(i)}};
    if (i == 4) body.update({{"failAt", 1}, {"failKind", "permanent"}});
    const auto r = webdriver::http("POST", origin + "/api/v1/command", body.dump(), headers, 10s);
    INFO(r.body);
    REQUIRE(r.status == 201);
  }
  // The bars grow by the five ends (one of them a failure) and DemoWork gets its histogram.
  const int total_before = before.value("total", 0);
  if (!poll(30s, [&] {
        const auto c = charts();
        return c.is_object() && c.value("total", 0) >= total_before + 5 && c.value("failed", 0) >= 1 &&
               c.value("runs", 0) >= 5 && c.value("bars", 0) >= 1;
      }))
    FAIL("the charts did not follow the jobs: " << charts().dump() << diagnostics(browser, dir));

  // Another range redraws the throughput chart in wider bins.
  browser.execute(R"js(
    const s = document.querySelector('#chart-range');
    s.value = '1440';
    s.dispatchEvent(new Event('change'));
  )js");
  if (!poll(10s, [&] {
        const auto c = charts();
        return c.is_object() && c.value("title", "").find("10 min") != std::string::npos;
      }))
    FAIL("the range did not change: " << charts().dump() << diagnostics(browser, dir));
  CHECK(charts().value("total", 0) >= total_before + 5);
  const auto notice = browser.find("#notice");
  REQUIRE(notice);
  CHECK(browser.attribute(*notice, "hidden").has_value());
  CHECK(shelfd->stop(SIGTERM, 15s) == 0);
}

int shelfjobs_run_catch(int argc, char** argv);  // tests/support/catch_impl.cpp

TEST_CASE("the dashboard backs up with Back up now, lists it with its size bar, and restores it",
          "[browser][slow]") {
  TempDir dir;
  const std::string key = random_key();
  std::string origin;
  auto shelfd = start_shelfd(dir, key, origin);
  const std::vector<std::string> auth = {"X-Api-Key: " + key, "Content-Type: application/json"};

  Browser page(dir);
  webdriver::Session& browser = page.session;
  browser.navigate(origin + "/#apikey=" + key);
  if (!poll(20s, [&] { return browser.find("#backup-now").has_value(); }))
    FAIL("no backups section" << diagnostics(browser, dir));
  CHECK(browser.execute("return document.querySelector('#backups-empty').hidden;") == false);
  REQUIRE(click(browser, "#backup-now"));

  // The new backup arrives with BackupCompleted: a row of type manual and a bar of its size.
  nlohmann::json rows;
  if (!poll(30s, [&] {
        rows = browser.execute(R"js(
          return [...document.querySelectorAll('#backups tbody tr')].map((r) => ({
            id: r.dataset.id, name: r.querySelector('td.name').textContent,
            type: r.querySelector('td.type').textContent }));
        )js");
        return rows.size() == 1;
      }))
    FAIL("the backup never appeared" << diagnostics(browser, dir));
  CHECK(rows[0]["type"] == "manual");
  CHECK(rows[0]["name"].get<std::string>().rfind("shelfjobs_backup_v", 0) == 0);
  const auto bars = browser.execute(
      "return [...document.querySelectorAll('#backup-chart rect.bar')].map((b) => +b.dataset.value);");
  REQUIRE(bars.size() == 1);
  CHECK(bars[0].get<long long>() > 0);
  CHECK(browser.execute("return document.querySelector('#backups-empty').hidden;") == true);

  // A root folder added after the backup is gone once the page's Restore has run (the page
  // confirms first: accepted here) and reloaded.
  const std::string extra = dir.file("extra");
  std::filesystem::create_directories(extra);
  REQUIRE(webdriver::http("POST", origin + "/api/v1/rootfolder", nlohmann::json{{"path", extra}}.dump(), auth)
              .status == 201);
  browser.execute("window.confirm = () => true;");
  REQUIRE(click(browser, "#backups tbody tr button.restore"));
  if (!poll(30s, [&] {
        const auto roots =
            nlohmann::json::parse(webdriver::http("GET", origin + "/api/v1/rootfolder", {}, auth).body);
        return roots.empty();
      }))
    FAIL("the restore did not bring the backup's data back" << diagnostics(browser, dir));
  // After the reload the page lists the backup again, from the restored daemon.
  if (!poll(30s, [&] {
        return browser.execute("return document.querySelectorAll('#backups tbody tr').length;") == 1 &&
               browser.execute("return document.querySelector('#connection')?.dataset.state ?? '';") ==
                   "live";
      }))
    FAIL("the page did not come back after the restore" << diagnostics(browser, dir));
}

TEST_CASE("the dashboard's logs section shows warnings and a housekeeping run", "[browser][slow]") {
  TempDir dir;
  const std::string key = random_key();
  std::string origin;
  // No metadata source: shelfd warns about it at start, so the log table has a warning.
  auto shelfd = start_shelfd(dir, key, origin);
  Browser page(dir);
  webdriver::Session& browser = page.session;
  browser.navigate(origin + "/#apikey=" + key);
  if (!poll(20s, [&] {
        const auto lines = browser.execute(
            "return [...document.querySelectorAll('#log-lines tbody tr td.message')].map((t) => "
            "t.textContent);");
        for (const auto& l : lines)
          if (l.get<std::string>().find("metadata.baseUrl") != std::string::npos) return true;
        return false;
      }))
    FAIL("the start-up warning is not listed" << diagnostics(browser, dir));
  REQUIRE(click(browser, "#run-housekeeping"));
  if (!poll(60s, [&] {
        return browser.execute("return document.querySelectorAll('#housekeeping-tasks tbody tr').length;") ==
               7;
      }))
    FAIL("the housekeeping run's tasks are not shown" << diagnostics(browser, dir));
  CHECK(browser.execute("return document.querySelectorAll('#housekeeping-tasks tbody tr.task-ok').length;") ==
        7);
}

int main(int argc, char** argv) {
  for (const char* tool : {kChromium, kChromedriver}) {
    if (::access(tool, X_OK) != 0) {
      std::printf("SKIPPED: %s is not installed (.ci/install-deps installs it)\n", tool);
      return kSkipped;
    }
  }
  return shelfjobs_run_catch(argc, argv);
}

// SPDX-License-Identifier: MIT
// refresh_bench: what a full author refresh costs, against the BookInfo fixture server on
// loopback and a real SQLite catalog, next to what a raw fetch-and-parse and raw SQLite inserts
// of the same data cost in the same run.
//
//   refresh_bench [--authors N] [--books B]      (defaults: 2,000 authors, 10 books each)
//
// Figures (one JSON line):
//   first_s, requests_first, rows_written_first, authors_per_s_first
//                       a manual refresh of every author into an empty catalog
//   second_s, requests_second, rows_written_second, authors_per_s_second
//                       the same again with nothing changed upstream, the response cache fresh:
//                       requests_second and rows_written_second must be 0
//   ref_fetch_parse_s   every author body fetched with plain libcurl (one reused handle) and
//                       parsed with nlohmann::json, nothing else
//   ref_sqlite_insert_s the first refresh's rows (authors, books, editions) inserted with raw
//                       SQLite in one transaction
//   peak_rss_mb         peak resident memory of the process

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>

#include <SQLiteCpp/SQLiteCpp.h>
#include <curl/curl.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "bookinfo_fixture.hpp"
#include "shelfjobs/services.hpp"

namespace {

using Steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

double seconds_since(Steady::time_point t0) {
  return std::chrono::duration<double>(Steady::now() - t0).count();
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// The reference for the network side: the same bodies, fetched and parsed, nothing more.
double ref_fetch_parse(const std::string& base, int authors) {
  CURL* h = curl_easy_init();
  std::string body;
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "gzip, deflate");  // as the client asks
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  const auto t0 = Steady::now();
  std::size_t works = 0;
  for (int i = 0; i < authors; ++i) {
    body.clear();
    const std::string url = base + "author/" + std::to_string(100000 + i);
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    if (curl_easy_perform(h) != CURLE_OK) {
      std::cerr << "refresh_bench: reference fetch failed\n";
      std::exit(1);
    }
    works += nlohmann::json::parse(body)["Works"].size();
  }
  const double s = seconds_since(t0);
  curl_easy_cleanup(h);
  if (works == 0) std::exit(1);
  return s;
}

// The reference for the storage side: the rows a first refresh writes, with raw SQLite.
double ref_sqlite_insert(const fs::path& file, int authors, int books) {
  SQLite::Database db(file.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
  db.exec(
      "CREATE TABLE a(id INTEGER PRIMARY KEY, fid TEXT UNIQUE, name TEXT, sort TEXT, path TEXT, hash TEXT);"
      "CREATE TABLE b(id INTEGER PRIMARY KEY, aid INTEGER, fid TEXT UNIQUE, title TEXT, rel TEXT, hash TEXT);"
      "CREATE TABLE e(id INTEGER PRIMARY KEY, bid INTEGER, fid TEXT UNIQUE, title TEXT, isbn TEXT, monitored "
      "INT);"
      "CREATE INDEX b_aid ON b(aid); CREATE INDEX e_bid ON e(bid);");
  const auto t0 = Steady::now();
  SQLite::Statement ia(db, "INSERT INTO a(fid,name,sort,path,hash) VALUES(?,?,?,?,?)");
  SQLite::Statement ib(db, "INSERT INTO b(aid,fid,title,rel,hash) VALUES(?,?,?,?,?)");
  SQLite::Statement ie(db, "INSERT INTO e(bid,fid,title,isbn,monitored) VALUES(?,?,?,?,?)");
  for (int i = 0; i < authors; ++i) {
    // One transaction per author, as the catalog writes them.
    SQLite::Transaction tx(db);
    ia.bind(1, std::to_string(100000 + i));
    ia.bind(2, "Author " + std::to_string(i));
    ia.bind(3, std::to_string(i) + ", Author");
    ia.bind(4, "/books/Author " + std::to_string(i));
    ia.bind(5, "0123456789abcdef");
    ia.exec();
    ia.reset();
    const auto aid = db.getLastInsertRowid();
    for (int k = 0; k < books; ++k) {
      ib.bind(1, aid);
      ib.bind(2, std::to_string(i) + "-" + std::to_string(k));
      ib.bind(3, "Title " + std::to_string(k));
      ib.bind(4, "2020-01-01");
      ib.bind(5, "0123456789abcdef");
      ib.exec();
      ib.reset();
      const auto bid = db.getLastInsertRowid();
      for (int e = 0; e < 2; ++e) {
        ie.bind(1, bid);
        ie.bind(2, std::to_string(i) + "-" + std::to_string(k) + "-" + std::to_string(e));
        ie.bind(3, "Title " + std::to_string(k));
        ie.bind(4, "9780000000000");
        ie.bind(5, e == 0 ? 1 : 0);
        ie.exec();
        ie.reset();
      }
    }
    tx.commit();
  }
  return seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  int authors = 2000, books = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--authors" && i + 1 < argc) {
      authors = std::atoi(argv[++i]);
    } else if (a == "--books" && i + 1 < argc) {
      books = std::atoi(argv[++i]);
    } else {
      std::cerr << "usage: refresh_bench [--authors N] [--books B]\n";
      return 2;
    }
  }
  if (authors < 1 || books < 1) {
    std::cerr << "refresh_bench: --authors and --books must be positive\n";
    return 2;
  }
  std::random_device rd;
  const fs::path dir = fs::temp_directory_path() / ("shelfjobs-refresh-bench-" + std::to_string(rd()));
  fs::create_directories(dir / "books");
  auto quiet = std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());

  auto server = shelfjobs::fixtures::BookInfoFixture::start();
  for (int i = 0; i < authors; ++i) {
    server->put_author(shelfjobs::fixtures::make_author(100000 + i, "Author " + std::to_string(i), books));
  }

  auto catalog = shelfjobs::open_sqlite_catalog({.path = dir / "catalog.db"});
  shelfjobs::BookInfoOptions bo;
  bo.base_url = server->base_url();
  bo.cache_path = dir / "metadata-cache.db";
  bo.logger = quiet;
  auto source = shelfjobs::make_bookinfo_source(bo);
  if (!catalog || !source) {
    std::cerr << "refresh_bench: " << (!catalog ? catalog.error().message : source.error().message) << "\n";
    return 1;
  }
  auto service = shelfjobs::RefreshService::create({.catalog = *catalog, .source = *source, .logger = quiet});
  auto root = (*catalog)->add_root_folder(dir / "books", "Books");
  if (!service || !root) return 1;
  for (int i = 0; i < authors; ++i) {
    shelfjobs::Author a;
    a.foreign_id = std::to_string(100000 + i);
    a.name = "Author " + std::to_string(i);
    a.sort_name = shelfjobs::sort_name_of(a.name);
    a.path = root->path / a.name;
    a.root_folder_id = root->id;
    a.added = std::chrono::system_clock::now();
    if (!(*catalog)->add_author(a)) return 1;
  }

  auto run = [&](double& secs, std::int64_t& requests, std::int64_t& rows) {
    const auto req0 = server->requests();
    const auto rows0 = (*catalog)->rows_written();
    const auto t0 = Steady::now();
    auto sum = (*service)->refresh_author(std::nullopt, shelfjobs::Trigger::manual, nullptr);
    secs = seconds_since(t0);
    requests = server->requests() - req0;
    rows = (*catalog)->rows_written() - rows0;
    return sum;
  };
  double first_s = 0, second_s = 0;
  std::int64_t req1 = 0, req2 = 0, rows1 = 0, rows2 = 0;
  const auto s1 = run(first_s, req1, rows1);
  const auto s2 = run(second_s, req2, rows2);
  if (s1.refreshed != authors || s2.unchanged != authors) {
    std::cerr << "refresh_bench: unexpected outcome: first " << s1.message() << "; second " << s2.message()
              << "\n";
    return 1;
  }
  const double ref_fetch = ref_fetch_parse(server->base_url(), authors);
  const double ref_insert = ref_sqlite_insert(dir / "ref.db", authors, books);

  nlohmann::json out = {{"authors", authors},
                        {"books_per_author", books},
                        {"first_s", first_s},
                        {"requests_first", req1},
                        {"rows_written_first", rows1},
                        {"authors_per_s_first", authors / first_s},
                        {"second_s", second_s},
                        {"requests_second", req2},
                        {"rows_written_second", rows2},
                        {"authors_per_s_second", authors / second_s},
                        {"ref_fetch_parse_s", ref_fetch},
                        {"ref_sqlite_insert_s", ref_insert},
                        {"peak_rss_mb", peak_rss_mb()}};
  std::cout << out.dump() << std::endl;
  server.reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
  return (req2 == 0 && rows2 == 0) ? 0 : 1;
}

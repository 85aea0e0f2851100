// SPDX-License-Identifier: MIT
#pragma once
// A library for the service tests: a real SQLite catalog in a temp folder, a BookInfo fixture
// server on loopback, a BookInfo client with a real cache file, an event bus, the library and
// refresh services, and (on demand) a service host running them.

#include <memory>

#include <catch2/catch.hpp>

#include "bookinfo_fixture.hpp"
#include "shelfjobs/services.hpp"
#include "test_support.hpp"

namespace testing {

struct Library {
  TempDir dir;
  std::shared_ptr<shelfjobs::Clock> clock;
  std::unique_ptr<shelfjobs::fixtures::BookInfoFixture> server =
      shelfjobs::fixtures::BookInfoFixture::start();
  std::shared_ptr<shelfjobs::Catalog> catalog;
  std::shared_ptr<shelfjobs::MetadataSource> source;
  std::shared_ptr<shelfjobs::EventBus> bus = std::make_shared<shelfjobs::EventBus>(quiet_logger());
  std::shared_ptr<shelfjobs::RefreshService> service;
  std::shared_ptr<shelfjobs::LibraryService> library;
  std::unique_ptr<shelfjobs::ServiceHost> host;
  shelfjobs::Engine* engine = nullptr;  // the host's, once started
  shelfjobs::RootFolder root;

  /// `clock` null: the system clock (needed when an engine runs the jobs).
  explicit Library(std::shared_ptr<shelfjobs::Clock> c = nullptr,
                   std::chrono::milliseconds timeout = std::chrono::seconds(5))
      : clock(c ? std::move(c) : std::make_shared<shelfjobs::SystemClock>()) {
    auto cat = shelfjobs::open_sqlite_catalog({.path = dir.path() / "catalog.db"});
    REQUIRE(cat.has_value());
    catalog = *cat;
    shelfjobs::BookInfoOptions bo;
    bo.base_url = server->base_url();
    bo.cache_path = dir.path() / "metadata-cache.db";
    bo.timeout = timeout;
    bo.clock = clock;
    bo.logger = quiet_logger();
    auto src = shelfjobs::make_bookinfo_source(bo);
    REQUIRE(src.has_value());
    source = *src;
    auto svc = shelfjobs::RefreshService::create(
        {.catalog = catalog, .source = source, .events = bus, .clock = clock, .logger = quiet_logger()});
    REQUIRE(svc.has_value());
    service = *svc;
    auto lib = shelfjobs::LibraryService::create(
        {.catalog = catalog, .source = source, .events = bus, .clock = clock, .logger = quiet_logger()});
    REQUIRE(lib.has_value());
    library = *lib;
    std::filesystem::create_directories(dir.path() / "books");
    auto r = catalog->add_root_folder(dir.path() / "books", "Books");
    REQUIRE(r.has_value());
    root = *r;
  }

  ~Library() { host.reset(); }

  /// Serves `books` generated works for author `id` and adds the author to the catalog as a user
  /// would (without metadata yet): no event is published.
  shelfjobs::Author add(std::int64_t id, const std::string& name, int books) {
    server->put_author(shelfjobs::fixtures::make_author(id, name, books));
    shelfjobs::Author a;
    a.foreign_id = std::to_string(id);
    a.name = name;
    a.sort_name = shelfjobs::sort_name_of(name);
    a.path = root.path / shelfjobs::safe_folder_name(name);
    a.root_folder_id = root.id;
    a.added = clock->now();
    auto added = catalog->add_author(a);
    REQUIRE(added.has_value());
    return *added;
  }

  /// A service host running the library and refresh services (their commands, tasks and
  /// rules) and `more`, as a host application builds it.
  shelfjobs::Engine& start_engine(int workers = 3,
                                  const std::vector<std::shared_ptr<shelfjobs::Service>>& more = {}) {
    shelfjobs::ServiceHostOptions options;
    options.engine = {.store_path = dir.file("jobs.db"), .workers = workers, .logger = quiet_logger()};
    options.events = bus;
    shelfjobs::ServiceHost::Builder builder(std::move(options));
    builder.add(library);
    builder.add(service);
    for (const auto& m : more) builder.add(m);
    auto built = builder.build();
    REQUIRE(built.has_value());
    host = std::move(built).value();
    host->start();
    engine = &host->engine();
    return *engine;
  }

  /// Everything the catalog holds, as JSON: equal snapshots mean an untouched catalog.
  nlohmann::json snapshot() {
    nlohmann::json out = nlohmann::json::array();
    auto authors = catalog->authors();
    REQUIRE(authors.has_value());
    for (const auto& a : *authors) {
      nlohmann::json ja = {{"id", a.id},
                           {"fid", a.foreign_id},
                           {"name", a.name},
                           {"path", a.path.string()},
                           {"hash", a.metadata_hash},
                           {"sync", a.last_info_sync ? a.last_info_sync->time_since_epoch().count() : 0}};
      auto books = catalog->books_of(a.id);
      REQUIRE(books.has_value());
      for (const auto& b : *books) {
        nlohmann::json jb = {
            {"id", b.id}, {"fid", b.foreign_id}, {"title", b.title}, {"hash", b.metadata_hash}};
        auto eds = catalog->editions_of(b.id);
        REQUIRE(eds.has_value());
        for (const auto& e : *eds) jb["editions"].push_back({e.foreign_id, e.title, e.monitored});
        ja["books"].push_back(jb);
      }
      out.push_back(ja);
    }
    return out;
  }

  std::vector<shelfjobs::Book> books_of(const shelfjobs::Author& a) {
    auto b = catalog->books_of(a.id);
    REQUIRE(b.has_value());
    return *b;
  }
};

/// The JSON of a generated author with every work re-attributed to `to_id` (a merged author's
/// works as the merge target serves them).
inline nlohmann::json works_attributed_to(nlohmann::json author, std::int64_t to_id) {
  for (auto& w : author["Works"]) {
    for (auto& b : w["Books"]) {
      for (auto& c : b["Contributors"]) c["ForeignId"] = to_id;
    }
  }
  return author;
}

}  // namespace testing

// SPDX-License-Identifier: MIT
// The acquisition service end to end on real parts: a SQLite catalog and acquisition store in a
// temporary folder, Newznab and Torznab fixture indexers and a SABnzbd fixture on loopback, the
// torrent blackhole on real folders, real EPUB files, and the import service. RSS -> grab ->
// completed -> imported; failed -> blocklisted -> wanted again; pending releases for a client
// that is away; the indexers' back-off ladder and request spacing on a manual clock; the
// interactive search and grab; the queue removal; the rules through a service host.

#include <fstream>

#include <catch2/catch.hpp>

#include "book_samples.hpp"
#include "indexer_fixture.hpp"
#include "sabnzbd_fixture.hpp"
#include "shelfjobs/services/acquisition.hpp"
#include "shelfjobs/services/book_import.hpp"
#include "shelfjobs/services/library_scan.hpp"
#include "shelfjobs/services/providers.hpp"
#include "test_support.hpp"

using namespace shelfjobs;
using namespace testing;
namespace fs = std::filesystem;
namespace fx = shelfjobs::fixtures;

namespace acquisition_test {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

const std::time_t kNow = 1'780'000'000;  // 2026-05-28, the manual clock's start

fx::FixtureRelease release(std::string title, std::string guid, std::time_t published,
                           std::vector<int> categories = {7020}) {
  fx::FixtureRelease r;
  r.title = std::move(title);
  r.guid = std::move(guid);
  r.published = published;
  r.categories = std::move(categories);
  r.size = 2'000'000;
  return r;
}

// A library with one author and three books, the acquisition store on the catalog's file, the
// import service, and the acquisition service on a manual clock (out of its startup grace).
struct Acq {
  TempDir dir;
  std::shared_ptr<ManualClock> clock =
      std::make_shared<ManualClock>(std::chrono::system_clock::from_time_t(kNow));
  std::shared_ptr<EventBus> bus = std::make_shared<EventBus>(quiet_logger());
  std::shared_ptr<Catalog> catalog;
  std::shared_ptr<AcquisitionStore> store;
  std::shared_ptr<ImportService> import;
  std::shared_ptr<AcquisitionService> service;
  std::shared_ptr<RateLimiter> limiter = std::make_shared<RateLimiter>(clock);
  RootFolder root;
  Author author;
  Book justice, sword, provenance;
  std::vector<std::string> events;

  explicit Acq(AcquisitionOptions extra = {}, bool in_startup_grace = false) {
    catalog = open_sqlite_catalog({.path = dir.path() / "library.db"}).value();
    store = open_sqlite_acquisition_store({.path = dir.path() / "library.db"}).value();
    fs::create_directories(dir.path() / "books");
    root = catalog->add_root_folder(dir.path() / "books", "Books").value();
    Author a;
    a.foreign_id = "1";
    a.name = "Ann Leckie";
    a.path = root.path / "Ann Leckie";
    a.root_folder_id = root.id;
    author = catalog->add_author(a).value();
    auto book = [&](std::string title, std::string fid, bool monitored) {
      BookWrite w;
      w.book.author_id = author.id;
      w.book.title = std::move(title);
      w.book.foreign_id = std::move(fid);
      w.book.monitored = monitored;
      return catalog->add_book(w).value();
    };
    justice = book("Ancillary Justice", "w1", true);
    sword = book("Ancillary Sword", "w2", true);
    provenance = book("Provenance", "w3", false);
    import = ImportService::create(
                 {.catalog = catalog, .events = bus, .logger = quiet_logger(), .sync = false, .clock = clock})
                 .value();
    AcquisitionOptions o = std::move(extra);
    o.catalog = catalog;
    o.store = store;
    o.import = import;
    o.events = bus;
    o.clock = clock;
    o.logger = quiet_logger();
    o.rate_limiter = limiter;
    o.started = in_startup_grace ? clock->now() : clock->now() - hours(1);
    service = AcquisitionService::create(std::move(o)).value();
    bus->subscribe<ReleaseGrabbed>(
        [this](const ReleaseGrabbed& e) { events.push_back("grabbed " + e.download.release.title); });
    bus->subscribe<DownloadCompleted>(
        [this](const DownloadCompleted& e) { events.push_back("completed " + e.download.release.title); });
    bus->subscribe<DownloadFailed>(
        [this](const DownloadFailed& e) { events.push_back("failed " + e.download.release.title); });
    bus->subscribe<DownloadImported>(
        [this](const DownloadImported& e) { events.push_back("imported " + e.download.release.title); });
  }

  ProviderDefinition add_indexer(const fx::IndexerFixture& f, std::string name, int priority = 25) {
    ProviderDefinition d;
    d.kind = ProviderKind::indexer;
    d.name = std::move(name);
    d.implementation = f.options().kind == fx::FixtureKind::torznab ? "Torznab" : "Newznab";
    d.priority = priority;
    d.settings = nlohmann::json{{"baseUrl", f.base_url()},
                                {"apiPath", "/api"},
                                {"apiKey", "fixture-key"},
                                {"categories", {3030, 7020}}}
                     .dump();
    auto valid = validate_definition(d);
    REQUIRE(valid.has_value());
    return store->add_provider(*valid).value();
  }

  ProviderDefinition add_blackhole() {
    fs::create_directories(dir.path() / "drop");
    fs::create_directories(dir.path() / "watch");
    ProviderDefinition d;
    d.kind = ProviderKind::download_client;
    d.name = "Blackhole";
    d.implementation = "TorrentBlackhole";
    d.settings = nlohmann::json{{"torrentFolder", (dir.path() / "drop").string()},
                                {"watchFolder", (dir.path() / "watch").string()}}
                     .dump();
    auto valid = validate_definition(d);
    REQUIRE(valid.has_value());
    return store->add_provider(*valid).value();
  }

  ProviderDefinition add_sabnzbd(const SabnzbdFixture& sab) {
    const std::string url = sab.url();  // http://127.0.0.1:<port>
    ProviderDefinition d;
    d.kind = ProviderKind::download_client;
    d.name = "SABnzbd";
    d.implementation = "Sabnzbd";
    d.settings = nlohmann::json{
        {"host", "127.0.0.1"},
        {"port", std::stoi(url.substr(url.rfind(':') + 1))},
        {"apiKey", "sab-key"},
        {"musicCategory",
         "books"}}.dump();
    auto valid = validate_definition(d);
    REQUIRE(valid.has_value());
    return store->add_provider(*valid).value();
  }

  std::vector<HistoryEntry> history(std::optional<HistoryEvent> e = std::nullopt) {
    return store->history({.page = 1, .page_size = 100, .event = e}).value().records;
  }
  std::vector<TrackedDownload> active() { return store->active_downloads().value(); }
};

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST_CASE("RSS sync grabs the best release of each wanted book, and the completed download is imported",
          "[acquisition][e2e]") {
  Acq t;
  auto indexer = fx::IndexerFixture::start({.kind = fx::FixtureKind::torznab});
  indexer->set_releases({
      release("Ann Leckie - Ancillary Justice (2013) [PDF]", "aj-pdf", kNow - 600),
      release("Ann Leckie - Ancillary Justice (2013) [EPUB]", "aj-epub", kNow - 500),
      release("Ann Leckie - Provenance (2017) [EPUB]", "prov", kNow - 400),  // not monitored
      release("Nobody Known - Some Book (2020) [EPUB]", "other", kNow - 300),
  });
  const auto idx = t.add_indexer(*indexer, "Torznab fixture");
  t.add_blackhole();

  auto sync = t.service->rss_sync();
  REQUIRE(sync.has_value());
  CHECK(sync->found == 4);
  CHECK(sync->grabbed == 1);
  CHECK(sync->pending == 0);
  CHECK(sync->rejected == 2);
  CHECK_THAT(sync->message(), Catch::StartsWith("Reports found: 4, grabbed: 1, pending: 0, rejected: 2"));
  // The EPUB, not the PDF, went to the blackhole as its .torrent.
  const fs::path dropped = t.dir.path() / "drop" / "Ann Leckie - Ancillary Justice (2013) [EPUB].torrent";
  CHECK(fs::exists(dropped));
  CHECK(indexer->downloads() == 1);
  auto active = t.active();
  REQUIRE(active.size() == 1);
  CHECK(active[0].book_id == t.justice.id);
  CHECK(active[0].release.guid.find("aj-epub") != std::string::npos);
  CHECK(active[0].state == TrackedState::downloading);
  REQUIRE(t.history(HistoryEvent::grabbed).size() == 1);
  CHECK(has(t.events, "grabbed Ann Leckie - Ancillary Justice (2013) [EPUB]"));
  // The mark moved to the newest release.
  auto mark = t.store->mark(idx.id).value();
  REQUIRE(mark.has_value());
  CHECK(mark->publish_date == std::chrono::system_clock::from_time_t(kNow - 300));

  // The download program puts the book into the watch folder.
  const fs::path done = t.dir.path() / "watch" / "Ann Leckie - Ancillary Justice (2013) [EPUB]";
  book_samples::make_epub(done / "Ancillary Justice.epub",
                          book_samples::spec("Ancillary Justice", "Ann Leckie"));
  auto first = t.service->refresh_downloads();
  REQUIRE(first.has_value());
  CHECK(first->completed == 0);  // the blackhole waits until nothing changed for 30 s
  t.clock->advance(seconds(31));
  auto second = t.service->refresh_downloads();
  REQUIRE(second.has_value());
  CHECK(second->completed == 1);
  CHECK(has(t.events, "completed Ann Leckie - Ancillary Justice (2013) [EPUB]"));
  active = t.active();
  REQUIRE(active.size() == 1);
  CHECK(active[0].state == TrackedState::import_pending);

  auto imported = t.service->import_download(active[0].id);
  REQUIRE(imported.has_value());
  CHECK(imported->imported == 1);
  auto files = t.catalog->files_of_book(t.justice.id).value();
  REQUIRE(files.size() == 1);
  CHECK(path_is_under(catalog_path(files[0].path), catalog_path(t.author.path)));
  CHECK(fs::exists(files[0].path));
  CHECK(t.active().empty());
  CHECK(t.store->tracked(active[0].id).value().state == TrackedState::imported);
  CHECK(t.history(HistoryEvent::download_imported).size() == 1);
  CHECK(t.history(HistoryEvent::book_file_imported).size() == 1);
  CHECK(has(t.events, "imported Ann Leckie - Ancillary Justice (2013) [EPUB]"));

  // The next sync reads only what is new, and a book with its EPUB wants no MOBI.
  const auto requests = indexer->requests_with("book") + indexer->requests_with("search");
  indexer->add_releases({release("Ann Leckie - Ancillary Justice (2013) [MOBI]", "aj-mobi", kNow - 100)});
  auto again = t.service->rss_sync();
  REQUIRE(again.has_value());
  CHECK(again->found == 1);
  CHECK(again->grabbed == 0);
  CHECK(again->rejected == 1);
  CHECK(indexer->requests_with("book") + indexer->requests_with("search") == requests + 1);
}

TEST_CASE("a failed download is blocklisted, its book is wanted again, and another release is grabbed",
          "[acquisition][e2e]") {
  Acq t;
  SabnzbdFixture sab("sab-key");
  auto indexer = fx::IndexerFixture::start({.kind = fx::FixtureKind::newznab});
  indexer->set_releases({release("Ann Leckie - Ancillary Sword (2014) [EPUB]", "as-1", kNow - 600)});
  t.add_indexer(*indexer, "Newznab fixture");
  t.add_sabnzbd(sab);

  auto sync = t.service->rss_sync();
  REQUIRE(sync.has_value());
  REQUIRE(sync->grabbed == 1);
  REQUIRE(sab.queue().size() == 1);
  CHECK(sab.queue()[0].category == "books");
  const std::string nzo = sab.queue()[0].nzo_id;
  CHECK(t.active()[0].download_id == nzo);

  sab.finish(nzo, "Failed", "", "Out of retention");
  auto refreshed = t.service->refresh_downloads();
  REQUIRE(refreshed.has_value());
  CHECK(refreshed->failed == 1);
  CHECK(t.active().empty());
  auto blocked = t.store->blocklist(1, 10).value();
  REQUIRE(blocked.total == 1);
  CHECK(blocked.records[0].release.title == "Ann Leckie - Ancillary Sword (2014) [EPUB]");
  CHECK(blocked.records[0].book_ids == std::vector<RowId>{t.sword.id});
  CHECK(blocked.records[0].message.find("Out of retention") != std::string::npos);
  REQUIRE(t.history(HistoryEvent::download_failed).size() == 1);
  CHECK(has(t.events, "failed Ann Leckie - Ancillary Sword (2014) [EPUB]"));

  // A search finds the failed release again (rejected: blocklisted) and a new one, grabbed.
  indexer->add_releases({release("Ann Leckie - Ancillary Sword (2014) [EPUB] retail", "as-2", kNow - 60)});
  auto search = t.service->search_books({t.sword.id});
  REQUIRE(search.has_value());
  CHECK(search->grabbed == 1);
  REQUIRE(t.active().size() == 1);
  CHECK(t.active()[0].release.guid.find("as-2") != std::string::npos);
  CHECK(sab.queue().size() == 1);

  // The queue's removal with blocklisting hands the book back to the wanted list too.
  const RowId id = t.active()[0].id;
  REQUIRE(t.service->remove_from_queue(id, true, true).has_value());
  CHECK(sab.queue().empty());
  CHECK(t.store->blocklist(1, 10).value().total == 2);
  CHECK(t.active().empty());
  CHECK_FALSE(t.service->remove_from_queue(id, false, false).has_value());
}

TEST_CASE("a client that is away makes the release pending; the next sync grabs it", "[acquisition][e2e]") {
  Acq t;
  SabnzbdFixture sab("sab-key");
  auto indexer = fx::IndexerFixture::start({.kind = fx::FixtureKind::newznab});
  indexer->set_releases({release("Ann Leckie - Ancillary Justice (2013) [EPUB]", "aj", kNow - 600)});
  t.add_indexer(*indexer, "Newznab fixture");
  const auto client = t.add_sabnzbd(sab);

  sab.down(true);
  auto sync = t.service->rss_sync();
  REQUIRE(sync.has_value());
  CHECK(sync->grabbed == 0);
  CHECK(sync->pending == 1);
  REQUIRE(t.store->pending().value().size() == 1);
  auto status = t.store->provider_status(ProviderKind::download_client, client.id).value();
  REQUIRE(status.has_value());
  CHECK(status->escalation_level == 1);
  CHECK(t.active().empty());

  sab.down(false);
  t.clock->advance(minutes(2));
  auto again = t.service->rss_sync();  // nothing new on the feed: the pending release is retried
  REQUIRE(again.has_value());
  CHECK(again->grabbed == 1);
  CHECK(t.store->pending().value().empty());
  CHECK(sab.queue().size() == 1);
  CHECK(t.store->provider_status(ProviderKind::download_client, client.id).value()->escalation_level == 0);
}

TEST_CASE("a failing indexer backs off on Readarr's ladder without stopping the others",
          "[acquisition][backoff]") {
  Acq t;
  auto good = fx::IndexerFixture::start({.kind = fx::FixtureKind::torznab});
  auto bad = fx::IndexerFixture::start({.kind = fx::FixtureKind::torznab});
  good->set_releases({release("Ann Leckie - Ancillary Justice (2013) [EPUB]", "aj", kNow - 600)});
  bad->set_releases({release("Ann Leckie - Ancillary Sword (2014) [EPUB]", "as", kNow - 600)});
  const auto g = t.add_indexer(*good, "good");
  const auto b = t.add_indexer(*bad, "bad");
  t.add_blackhole();
  fx::FailureSpec limit;
  limit.failure = fx::Failure::http_429;
  limit.retry_after = "120";
  bad->set_failure(limit);

  auto sync = t.service->rss_sync();
  REQUIRE(sync.has_value());
  CHECK(sync->grabbed == 1);
  CHECK(sync->message().find("indexer bad") != std::string::npos);
  auto st = t.store->provider_status(ProviderKind::indexer, b.id).value();
  REQUIRE(st.has_value());
  // 120 s asked: the level rises until its period covers it (level 2, 5 minutes).
  CHECK(st->escalation_level == 2);
  REQUIRE(st->disabled_till.has_value());
  CHECK(*st->disabled_till == t.clock->now() + minutes(5));
  CHECK_FALSE(t.store->provider_status(ProviderKind::indexer, g.id).value().has_value());
  CHECK(t.service->is_blocked(ProviderKind::indexer, b.id));

  // Blocked: not asked at all.
  const auto asked = bad->requests();
  auto skipped = t.service->rss_sync();
  REQUIRE(skipped.has_value());
  CHECK(bad->requests() == asked);
  REQUIRE(skipped->indexers.size() == 2);
  CHECK((skipped->indexers[0].skipped || skipped->indexers[1].skipped));

  // Its time passed, it answers: one level down, no longer blocked.
  bad->clear_failure();
  t.clock->advance(minutes(5) + seconds(1));
  auto back = t.service->rss_sync();
  REQUIRE(back.has_value());
  CHECK(back->grabbed == 1);
  st = t.store->provider_status(ProviderKind::indexer, b.id).value();
  REQUIRE(st.has_value());
  CHECK(st->escalation_level == 1);
  CHECK_FALSE(st->disabled_till.has_value());
  CHECK_FALSE(t.service->is_blocked(ProviderKind::indexer, b.id));
}

TEST_CASE("a refused connection does not escalate, and the startup grace caps a block at 5 minutes",
          "[acquisition][backoff]") {
  Acq t({}, /*in_startup_grace=*/true);
  auto dead = fx::IndexerFixture::start({});
  const auto d = t.add_indexer(*dead, "dead");
  dead.reset();  // its port now refuses connections
  for (int i = 0; i < 3; ++i) {
    auto sync = t.service->rss_sync();
    REQUIRE(sync.has_value());
    CHECK(sync->indexers.at(0).error.find("cannot connect") != std::string::npos);
    t.clock->advance(minutes(6));
  }
  auto st = t.store->provider_status(ProviderKind::indexer, d.id).value();
  REQUIRE(st.has_value());
  CHECK(st->escalation_level == 1);
  // An HTML answer escalates, but within the startup grace it blocks for at most 5 minutes.
  Acq u({}, true);
  auto proxy = fx::IndexerFixture::start({});
  const auto p = u.add_indexer(*proxy, "proxied");
  proxy->set_failure({.failure = fx::Failure::html});
  for (int i = 0; i < 4; ++i) {
    REQUIRE(u.service->rss_sync().has_value());
    auto s = u.store->provider_status(ProviderKind::indexer, p.id).value();
    REQUIRE(s.has_value());
    REQUIRE(s->disabled_till.has_value());
    CHECK(*s->disabled_till <= u.clock->now() + minutes(5));
    CHECK(s->last_error.find("blocked") != std::string::npos);
    u.clock->advance(minutes(5));
  }
}

TEST_CASE("requests to one indexer are spaced through the rate limiter", "[acquisition][spacing]") {
  AcquisitionOptions o;
  o.indexer_spacing = seconds(2);
  Acq t(o);
  auto indexer =
      fx::IndexerFixture::start({.kind = fx::FixtureKind::torznab, .limit_max = 10, .limit_default = 10});
  std::vector<fx::FixtureRelease> many;
  for (int i = 0; i < 25; ++i)
    many.push_back(
        release("Someone - Book " + std::to_string(i) + " [EPUB]", "r" + std::to_string(i), kNow - 60 * i));
  indexer->set_releases(many);
  const auto idx = t.add_indexer(*indexer, "paged");
  // A mark far back: the sync pages until a page is not full (10, 10, 5).
  REQUIRE(t.store->put_mark({idx.id, "old", "", std::chrono::system_clock::from_time_t(kNow - 86400)})
              .has_value());
  auto sync = t.service->rss_sync();
  REQUIRE(sync.has_value());
  const auto requests = indexer->requests();
  CHECK(requests == 4);  // caps and three pages
  // With a manual clock the limiter reserves slots without sleeping: each request took the next
  // slot, 2 s after the one before.
  CHECK(t.limiter->next_free("indexer:" + std::to_string(idx.id)) == t.clock->now() + seconds(2) * requests);
}

TEST_CASE("interactive search lists every release with its decision; a grab sends the one chosen",
          "[acquisition][e2e]") {
  Acq t;
  auto indexer = fx::IndexerFixture::start({.kind = fx::FixtureKind::torznab});
  indexer->set_releases({
      release("Ann Leckie - Ancillary Justice (2013) [EPUB]", "aj-epub", kNow - 600),
      release("Ann Leckie - Ancillary Justice (2013) [PDF]", "aj-pdf", kNow - 500),
  });
  const auto idx = t.add_indexer(*indexer, "fixture");
  t.add_blackhole();
  auto found = t.service->interactive_search(t.justice.id);
  REQUIRE(found.has_value());
  REQUIRE(found->size() == 2);
  CHECK((*found)[0].format == "epub");  // best first
  CHECK((*found)[0].approved());
  const nlohmann::json j = release_json((*found)[1], t.clock->now());
  CHECK(j["bookId"] == t.justice.id);
  CHECK(j["protocol"] == "torrent");
  CHECK(j["indexerId"] == idx.id);
  // A user may grab the lesser one on purpose.
  auto grabbed = t.service->grab((*found)[1].release.guid, idx.id);
  REQUIRE(grabbed.has_value());
  CHECK(grabbed->release.format == "pdf");
  CHECK(fs::exists(t.dir.path() / "drop" / "Ann Leckie - Ancillary Justice (2013) [PDF].torrent"));
  auto unknown = t.service->grab("no-such-guid", idx.id);
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().code == errc::not_found);
}

TEST_CASE("a release whose file is gone is rejected, and the batch goes on", "[acquisition][e2e]") {
  Acq t;
  auto indexer = fx::IndexerFixture::start({.kind = fx::FixtureKind::torznab});
  auto gone = release("Ann Leckie - Ancillary Justice (2013) [EPUB]", "aj", kNow - 600);
  gone.downloadable = false;
  indexer->set_releases({gone, release("Ann Leckie - Ancillary Sword (2014) [EPUB]", "as", kNow - 500)});
  t.add_indexer(*indexer, "fixture");
  t.add_blackhole();
  auto sync = t.service->rss_sync();
  REQUIRE(sync.has_value());
  CHECK(sync->grabbed == 1);
  CHECK(sync->rejected == 1);
  REQUIRE(t.active().size() == 1);
  CHECK(t.active()[0].book_id == t.sword.id);
}

TEST_CASE("on a service host a completed download is imported by the rule, at Critical priority",
          "[acquisition][host]") {
  TempDir dir;
  auto catalog = open_sqlite_catalog({.path = dir.path() / "library.db"}).value();
  auto store = open_sqlite_acquisition_store({.path = dir.path() / "library.db"}).value();
  fs::create_directories(dir.path() / "books");
  auto root = catalog->add_root_folder(dir.path() / "books", "Books").value();
  Author a;
  a.foreign_id = "1";
  a.name = "Ann Leckie";
  a.path = root.path / "Ann Leckie";
  a.root_folder_id = root.id;
  a = catalog->add_author(a).value();
  BookWrite w;
  w.book.author_id = a.id;
  w.book.title = "Ancillary Justice";
  w.book.foreign_id = "w1";
  auto book = catalog->add_book(w).value();
  auto import = ImportService::create({.catalog = catalog, .logger = quiet_logger(), .sync = false}).value();
  auto scan = LibraryScanService::create({.catalog = catalog, .logger = quiet_logger()}).value();
  auto acq = AcquisitionService::create(
                 {.catalog = catalog, .store = store, .import = import, .logger = quiet_logger()})
                 .value();
  SabnzbdFixture sab("sab-key");
  auto indexer = fx::IndexerFixture::start({});
  indexer->set_releases(
      {release("Ann Leckie - Ancillary Justice (2013) [EPUB]", "aj", std::time(nullptr) - 600)});
  {
    ProviderDefinition d;
    d.name = "fixture";
    d.implementation = "Newznab";
    d.settings = nlohmann::json{{"baseUrl", indexer->base_url()}, {"apiKey", "fixture-key"}}.dump();
    REQUIRE(store->add_provider(validate_definition(d).value()).has_value());
    const std::string url = sab.url();
    ProviderDefinition c;
    c.kind = ProviderKind::download_client;
    c.name = "SABnzbd";
    c.implementation = "Sabnzbd";
    c.settings = nlohmann::json{
        {"host", "127.0.0.1"},
        {"port", std::stoi(url.substr(url.rfind(':') + 1))},
        {"apiKey",
         "sab-key"}}.dump();
    REQUIRE(store->add_provider(validate_definition(c).value()).has_value());
  }
  ServiceHost::Builder builder(
      {.engine = {.store_path = (dir.path() / "jobs.db").string(), .logger = quiet_logger()}});
  builder.add(import);
  builder.add(scan);
  builder.add(acq);
  auto host = builder.build();
  REQUIRE(host.has_value());
  (*host)->start();
  auto& engine = (*host)->engine();
  REQUIRE(engine.push(RssSync{}).has_value());
  // The grab is recorded once the client answered with its id (a refresh before that would not
  // know the item yet; the next one would).
  REQUIRE(eventually(
      [&] {
        auto active = store->active_downloads().value();
        return sab.queue().size() == 1 && active.size() == 1 && !active[0].download_id.empty();
      },
      seconds(10)));
  const fs::path out = dir.path() / "downloads" / "Ann Leckie - Ancillary Justice (2013) [EPUB]";
  book_samples::make_epub(out / "Ancillary Justice.epub",
                          book_samples::spec("Ancillary Justice", "Ann Leckie"));
  sab.finish(sab.queue()[0].nzo_id, "Completed", out.string());
  REQUIRE(engine.push(RefreshMonitoredDownloads{}).has_value());
  REQUIRE(eventually([&] { return catalog->files_of_book(book.id).value().size() == 1; }, seconds(10)));
  auto jobs = engine.list({.names = {ImportCompletedDownload::kName}, .limit = 10});
  REQUIRE(jobs.has_value());
  REQUIRE(jobs->jobs.size() == 1);
  CHECK(jobs->jobs[0].priority == Priority::critical);
  CHECK(eventually([&] { return store->active_downloads().value().empty(); }));
  // The import is followed by a rescan of that author's folder only.
  JobInfo rescan;
  REQUIRE(eventually([&] {
    auto r = engine.list({.names = {RescanFolders::kName}, .limit = 10}).value();
    if (r.jobs.size() != 1 || r.jobs[0].status != JobStatus::completed) return false;
    rescan = r.jobs[0];
    return true;
  }));
  CHECK(rescan.body.value("authorIds", nlohmann::json::array()) == nlohmann::json::array({a.id}));
  CHECK(catalog->files_of_book(book.id).value().size() == 1);  // the rescan keeps the imported file
  // A search of an author the catalog does not hold fails at once, saying what is missing.
  auto search = engine.push(AuthorSearch{.authorId = 999999});
  REQUIRE(search.has_value());
  JobInfo searched;
  REQUIRE(eventually([&] {
    auto j = engine.get(search->job.id);
    if (!j || !is_terminal(j->status)) return false;
    searched = *j;
    return true;
  }));
  CHECK(searched.status == JobStatus::failed);
  CHECK(searched.attempt == 1);  // not retried: the author will not appear by waiting
  CHECK(searched.message == "no author 999999");
  (*host)->stop();
}

}  // namespace acquisition_test

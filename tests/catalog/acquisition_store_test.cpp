// SPDX-License-Identifier: MIT
// The SQLite acquisition store on real files: its schema beside the catalog's in one file,
// every member's round trip, history paging and filters, conflicts and missing rows, the
// cascade of remove_provider, reopening, and the files it refuses.

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include "shelfjobs/catalog/acquisition_store.hpp"
#include "shelfjobs/catalog/catalog.hpp"
#include "test_support.hpp"

// The whole file in a namespace of its own: the unity build compiles several test files as one
// translation unit, and their helpers (and using-directives) must not meet.
namespace acquisition_store_test {

using namespace shelfjobs;
using namespace std::chrono;

using testing::TempDir;
namespace fs = std::filesystem;

std::filesystem::path db_path(const TempDir& dir) { return dir.path() / "library.db"; }

std::shared_ptr<AcquisitionStore> open_store(const TempDir& dir) {
  auto s = open_sqlite_acquisition_store({db_path(dir)});
  if (!s) FAIL("open failed: " << s.error().message);
  return *s;
}

// Times with millisecond precision: what the store keeps.
TimePoint at_ms(std::int64_t ms) { return TimePoint(milliseconds(ms)); }

ProviderDefinition make_indexer(const std::string& name, int priority = 25) {
  ProviderDefinition p;
  p.kind = ProviderKind::indexer;
  p.name = name;
  p.implementation = "Newznab";
  p.protocol = "usenet";
  p.priority = priority;
  p.settings = R"({"baseUrl":"https://indexer.example","apiKey":"k"})";
  p.tags = {1, 5};
  return p;
}

ProviderDefinition make_client(const std::string& name) {
  ProviderDefinition p;
  p.kind = ProviderKind::download_client;
  p.name = name;
  p.implementation = "QBittorrent";
  p.protocol = "torrent";
  p.enable_automatic_search = false;
  p.settings = R"({"host":"localhost","port":8080})";
  return p;
}

ReleaseRecord make_release(const std::string& title, RowId indexer_id = 0) {
  ReleaseRecord r;
  r.title = title;
  r.guid = "guid-" + title;
  r.download_url = "https://indexer.example/get/" + title;
  r.info_url = "https://indexer.example/details/" + title;
  r.indexer_id = indexer_id;
  r.indexer = "Indexer A";
  r.protocol = "torrent";
  r.size = 5'000'000'000;  // above 32 bits
  r.publish_date = at_ms(1'700'000'000'321);
  r.seeders = 12;
  r.peers = 3;
  r.format = "epub";
  r.infohash = "0123456789abcdef0123456789abcdef01234567";
  r.magnet_url = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567";
  return r;
}

void check_same(const ReleaseRecord& a, const ReleaseRecord& b) {
  CHECK(a.title == b.title);
  CHECK(a.guid == b.guid);
  CHECK(a.download_url == b.download_url);
  CHECK(a.info_url == b.info_url);
  CHECK(a.indexer_id == b.indexer_id);
  CHECK(a.indexer == b.indexer);
  CHECK(a.protocol == b.protocol);
  CHECK(a.size == b.size);
  CHECK(a.publish_date == b.publish_date);
  CHECK(a.seeders == b.seeders);
  CHECK(a.peers == b.peers);
  CHECK(a.format == b.format);
  CHECK(a.infohash == b.infohash);
  CHECK(a.magnet_url == b.magnet_url);
}

void check_same(const ProviderDefinition& a, const ProviderDefinition& b) {
  CHECK(a.id == b.id);
  CHECK(a.kind == b.kind);
  CHECK(a.name == b.name);
  CHECK(a.implementation == b.implementation);
  CHECK(a.protocol == b.protocol);
  CHECK(a.enable == b.enable);
  CHECK(a.enable_automatic_search == b.enable_automatic_search);
  CHECK(a.enable_interactive_search == b.enable_interactive_search);
  CHECK(a.priority == b.priority);
  CHECK(a.settings == b.settings);
  CHECK(a.tags == b.tags);
}

void check_same(const TrackedDownload& a, const TrackedDownload& b) {
  CHECK(a.id == b.id);
  CHECK(a.client_id == b.client_id);
  CHECK(a.download_id == b.download_id);
  CHECK(a.author_id == b.author_id);
  CHECK(a.book_id == b.book_id);
  check_same(a.release, b.release);
  CHECK(a.state == b.state);
  CHECK(a.status == b.status);
  CHECK(a.size == b.size);
  CHECK(a.size_left == b.size_left);
  CHECK(a.eta_seconds == b.eta_seconds);
  CHECK(a.output_path == b.output_path);
  CHECK(a.message == b.message);
  CHECK(a.grabbed == b.grabbed);
  CHECK(a.updated == b.updated);
}

HistoryEntry make_history(HistoryEvent event, std::int64_t ms, RowId author, RowId book,
                          const std::string& download_id) {
  HistoryEntry h;
  h.event = event;
  h.date = at_ms(ms);
  h.author_id = author;
  h.book_id = book;
  h.source_title = "Release " + std::to_string(ms);
  h.download_id = download_id;
  h.data = R"({"indexer":"Indexer A","size":"1000"})";
  return h;
}

TrackedDownload make_tracked(RowId client_id, const std::string& download_id, std::int64_t grabbed_ms) {
  TrackedDownload t;
  t.client_id = client_id;
  t.download_id = download_id;
  t.author_id = 7;
  t.book_id = 70;
  t.release = make_release("Tracked " + download_id);
  t.size = 1000;
  t.size_left = 400;
  t.eta_seconds = 90;
  t.grabbed = at_ms(grabbed_ms);
  t.updated = at_ms(grabbed_ms + 1);
  return t;
}

std::vector<RowId> ids_of(const std::vector<HistoryEntry>& v) {
  std::vector<RowId> out;
  for (const auto& e : v) out.push_back(e.id);
  return out;
}

int schema_row(SQLite::Database& db, const char* name) {
  SQLite::Statement st(db, "SELECT version FROM shelfjobs_schema WHERE name = ?");
  st.bind(1, name);
  return st.executeStep() ? st.getColumn(0).getInt() : -1;
}

TEST_CASE("acquisition store: shares the catalog's file, each schema at its own version",
          "[acquisition][store]") {
  TempDir dir;
  RowId author = 0, indexer = 0;
  {
    auto catalog = open_sqlite_catalog({db_path(dir)});
    REQUIRE(catalog.has_value());
    auto store = open_store(dir);  // the catalog's file, open at the same time
    Author a;
    a.foreign_id = "100";
    a.name = "Ann Leckie";
    author = (*catalog)->add_author(a).value().id;
    indexer = store->add_provider(make_indexer("Indexer A")).value().id;
  }
  {
    // The other order: the store first, then the catalog.
    auto store = open_store(dir);
    auto catalog = open_sqlite_catalog({db_path(dir)});
    REQUIRE(catalog.has_value());
    CHECK((*catalog)->author(author).value().name == "Ann Leckie");
    CHECK(store->provider(ProviderKind::indexer, indexer).value().name == "Indexer A");
  }
  SQLite::Database db(db_path(dir).string());
  CHECK(schema_row(db, "acquisition") == acquisition_schema_version());
  CHECK(schema_row(db, "catalog") == catalog_schema_version());
  CHECK(acquisition_schema_version() >= 1);
  for (const char* table : {"providers", "provider_status", "indexer_marks", "history", "blocklist",
                            "blocklist_books", "pending_releases", "tracked_downloads", "authors"}) {
    CAPTURE(table);
    CHECK(db.tableExists(table));
  }
  for (const char* index : {"history_by_date", "history_by_book", "history_by_download", "history_by_event",
                            "tracked_by_state"}) {
    CAPTURE(index);
    SQLite::Statement st(db, "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?");
    st.bind(1, index);
    CHECK(st.executeStep());
  }
  // blocklist_of_book is an index seek on blocklist_books, not a scan.
  SQLite::Statement plan(db,
                         "EXPLAIN QUERY PLAN SELECT b.id FROM blocklist_books AS k JOIN blocklist AS b "
                         "ON b.id = k.blocklist_id WHERE k.book_id = 5");
  std::string details;
  while (plan.executeStep()) details += plan.getColumn(3).getString() + "\n";
  CAPTURE(details);
  CHECK_THAT(details, Catch::Contains("SEARCH k"));
  CHECK_THAT(details, !Catch::Contains("SCAN"));
}

TEST_CASE("acquisition store: a removed provider's id is never handed out again", "[acquisition][store]") {
  // A tracked download names its client by id: a new client that took a removed one's id would
  // inherit its downloads. The catalog in the same file keeps its own ids beside these.
  TempDir dir;
  auto catalog = open_sqlite_catalog({db_path(dir)});
  REQUIRE(catalog.has_value());
  auto store = open_store(dir);
  Author a;
  a.foreign_id = "100";
  a.name = "Ann Leckie";
  const RowId author = (*catalog)->add_author(a).value().id;
  REQUIRE((*catalog)->remove_author(author).has_value());
  const RowId kept = store->add_provider(make_client("Kept")).value().id;
  const RowId gone = store->add_provider(make_client("Gone")).value().id;
  REQUIRE(store->remove_provider(ProviderKind::download_client, gone).has_value());
  CHECK(store->add_provider(make_client("New")).value().id > gone);
  CHECK(kept < gone);
  BlocklistEntry b;
  b.release.title = "Ann Leckie - Ancillary Justice";
  const RowId entry = store->add_blocklist(b).value().id;
  REQUIRE(store->remove_blocklist(entry).has_value());
  CHECK(store->add_blocklist(b).value().id > entry);
  a.foreign_id = "101";
  CHECK((*catalog)->add_author(a).value().id > author);
}

TEST_CASE("acquisition store: a shared file from before id_high migrates, both schemas in either order",
          "[acquisition][store]") {
  TempDir dir;
  const char* catalog_tables[] = {"root_folders", "authors",    "books",     "editions",
                                  "series",       "book_files", "exclusions"};
  const char* store_tables[] = {"providers", "history", "blocklist", "pending_releases", "tracked_downloads"};
  for (bool store_first : {false, true}) {
    CAPTURE(store_first);
    const auto path = dir.path() / (store_first ? "b.db" : "a.db");
    RowId newest = 0;
    {
      auto catalog = open_sqlite_catalog({path});
      REQUIRE(catalog.has_value());
      auto store = open_sqlite_acquisition_store({path});
      REQUIRE(store.has_value());
      REQUIRE((*store)->add_provider(make_client("Kept")).has_value());
      newest = (*store)->add_provider(make_client("Newest")).value().id;
    }
    {
      // Catalog schema 4 and acquisition schema 1: no id_high, no triggers.
      SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
      db.exec("DROP TABLE id_high");
      for (const char* t : catalog_tables) db.exec(std::string("DROP TRIGGER ") + t + "_id_high");
      for (const char* t : store_tables) db.exec(std::string("DROP TRIGGER ") + t + "_id_high");
      db.exec("UPDATE shelfjobs_schema SET version = 4 WHERE name = 'catalog'");
      db.exec("UPDATE catalog_meta SET value = 4 WHERE key = 'schema_version'");  // kept in step
      db.exec("UPDATE shelfjobs_schema SET version = 1 WHERE name = 'acquisition'");
    }
    std::shared_ptr<AcquisitionStore> store;
    std::shared_ptr<Catalog> catalog;
    if (store_first) store = open_sqlite_acquisition_store({path}).value();
    catalog = open_sqlite_catalog({path}).value();
    if (!store_first) store = open_sqlite_acquisition_store({path}).value();
    SQLite::Database db(path.string());
    CHECK(schema_row(db, "catalog") == catalog_schema_version());
    CHECK(schema_row(db, "acquisition") == acquisition_schema_version());
    CHECK(db.execAndGet("SELECT COUNT(*) FROM id_high").getInt() == 12);
    REQUIRE(store->remove_provider(ProviderKind::download_client, newest).has_value());
    CHECK(store->add_provider(make_client("New")).value().id > newest);
  }
}

TEST_CASE("acquisition store: providers round-trip, by priority then name, per kind",
          "[acquisition][store]") {
  TempDir dir;
  auto store = open_store(dir);
  auto b = store->add_provider(make_indexer("B indexer", 10));
  REQUIRE(b.has_value());
  CHECK(b->id > 0);
  auto a = store->add_provider(make_indexer("A indexer", 10));
  auto late = store->add_provider(make_indexer("0 late", 40));
  auto client = store->add_provider(make_client("B indexer"));  // the same name in the other kind
  REQUIRE(a.has_value());
  REQUIRE(late.has_value());
  REQUIRE(client.has_value());

  auto read = store->provider(ProviderKind::indexer, b->id);
  REQUIRE(read.has_value());
  check_same(*read, *b);
  check_same(store->provider(ProviderKind::download_client, client->id).value(), *client);

  auto indexers = store->providers(ProviderKind::indexer).value();
  REQUIRE(indexers.size() == 3);
  CHECK(indexers[0].name == "A indexer");
  CHECK(indexers[1].name == "B indexer");
  CHECK(indexers[2].name == "0 late");
  auto clients = store->providers(ProviderKind::download_client).value();
  REQUIRE(clients.size() == 1);
  CHECK(clients[0].enable_automatic_search == false);

  // The id of add_provider's argument is ignored.
  auto with_id = make_indexer("C indexer");
  with_id.id = 999;
  CHECK(store->add_provider(with_id).value().id != 999);

  SECTION("update writes every field") {
    ProviderDefinition changed = *b;
    changed.name = "B renamed";
    changed.implementation = "Torznab";
    changed.protocol = "torrent";
    changed.enable = false;
    changed.enable_automatic_search = false;
    changed.enable_interactive_search = false;
    changed.priority = 1;
    changed.settings = R"({"baseUrl":"https://other.example"})";
    changed.tags = {};
    REQUIRE(store->update_provider(changed).has_value());
    check_same(store->provider(ProviderKind::indexer, b->id).value(), changed);
    CHECK(store->providers(ProviderKind::indexer).value().front().name == "B renamed");
  }
  SECTION("a second provider of one kind with a name is a conflict, and changes nothing") {
    auto dup = store->add_provider(make_indexer("A indexer", 1));
    REQUIRE_FALSE(dup.has_value());
    CHECK(dup.error().code == errc::conflict);
    CHECK_THAT(dup.error().message, Catch::Contains("A indexer"));
    CHECK(store->providers(ProviderKind::indexer).value().size() == 4);

    ProviderDefinition renamed = *b;
    renamed.name = "A indexer";
    auto up = store->update_provider(renamed);
    REQUIRE_FALSE(up.has_value());
    CHECK(up.error().code == errc::conflict);
    CHECK(store->provider(ProviderKind::indexer, b->id).value().name == "B indexer");
    // Keeping its own name is no clash.
    CHECK(store->update_provider(*b).has_value());
  }
  SECTION("missing providers: not_found, also under the other kind") {
    CHECK(store->provider(ProviderKind::indexer, 12345).error().code == errc::not_found);
    CHECK(store->provider(ProviderKind::download_client, b->id).error().code == errc::not_found);
    ProviderDefinition gone = *b;
    gone.id = 12345;
    CHECK(store->update_provider(gone).error().code == errc::not_found);
    CHECK(store->remove_provider(ProviderKind::indexer, 12345).error().code == errc::not_found);
    CHECK(store->remove_provider(ProviderKind::download_client, b->id).error().code == errc::not_found);
    CHECK(store->provider(ProviderKind::indexer, b->id).has_value());
  }
}

TEST_CASE("acquisition store: provider status and RSS marks round-trip", "[acquisition][store]") {
  TempDir dir;
  auto store = open_store(dir);
  const RowId indexer = store->add_provider(make_indexer("Indexer A")).value().id;
  const RowId client = store->add_provider(make_client("Client A")).value().id;

  CHECK_FALSE(store->provider_status(ProviderKind::indexer, indexer).value().has_value());
  CHECK(store->provider_statuses(ProviderKind::indexer).value().empty());

  ProviderStatus s;
  s.kind = ProviderKind::indexer;
  s.provider_id = indexer;
  s.escalation_level = 3;
  s.initial_failure = at_ms(1'000);
  s.most_recent_failure = at_ms(2'000);
  s.disabled_till = at_ms(3'000);
  s.last_error = "HTTP 503";
  REQUIRE(store->put_provider_status(s).has_value());
  auto read = store->provider_status(ProviderKind::indexer, indexer).value();
  REQUIRE(read.has_value());
  CHECK(read->kind == ProviderKind::indexer);
  CHECK(read->provider_id == indexer);
  CHECK(read->escalation_level == 3);
  CHECK(read->initial_failure == at_ms(1'000));
  CHECK(read->most_recent_failure == at_ms(2'000));
  CHECK(read->disabled_till == at_ms(3'000));
  CHECK_FALSE(read->last_success.has_value());
  CHECK(read->last_error == "HTTP 503");

  // Replaced, not added; optionals go back to NULL.
  s.escalation_level = 2;
  s.disabled_till.reset();
  s.last_success = at_ms(4'000);
  s.last_error = "";
  REQUIRE(store->put_provider_status(s).has_value());
  read = store->provider_status(ProviderKind::indexer, indexer).value();
  REQUIRE(read.has_value());
  CHECK(read->escalation_level == 2);
  CHECK_FALSE(read->disabled_till.has_value());
  CHECK(read->last_success == at_ms(4'000));
  CHECK(read->last_error.empty());
  CHECK(store->provider_statuses(ProviderKind::indexer).value().size() == 1);
  CHECK(store->provider_statuses(ProviderKind::download_client).value().empty());

  ProviderStatus cs;
  cs.kind = ProviderKind::download_client;
  cs.provider_id = client;
  cs.escalation_level = 1;
  REQUIRE(store->put_provider_status(cs).has_value());
  auto clients = store->provider_statuses(ProviderKind::download_client).value();
  REQUIRE(clients.size() == 1);
  CHECK(clients[0].provider_id == client);
  CHECK_FALSE(store->provider_status(ProviderKind::indexer, client).value().has_value());

  // No such provider (or not of that kind): not_found.
  ProviderStatus stray = s;
  stray.provider_id = 12345;
  CHECK(store->put_provider_status(stray).error().code == errc::not_found);
  stray = s;
  stray.kind = ProviderKind::download_client;  // the indexer's id under the other kind
  CHECK(store->put_provider_status(stray).error().code == errc::not_found);

  // Marks.
  CHECK_FALSE(store->mark(indexer).value().has_value());
  IndexerMark m{indexer, "guid-1", "https://indexer.example/get/1", at_ms(1'700'000'000'999)};
  REQUIRE(store->put_mark(m).has_value());
  m.guid = "guid-2";
  REQUIRE(store->put_mark(m).has_value());  // replaces
  auto mark = store->mark(indexer).value();
  REQUIRE(mark.has_value());
  CHECK(mark->indexer_id == indexer);
  CHECK(mark->guid == "guid-2");
  CHECK(mark->download_url == "https://indexer.example/get/1");
  CHECK(mark->publish_date == at_ms(1'700'000'000'999));
  CHECK(store->put_mark({12345, "g", "u", at_ms(1)}).error().code == errc::not_found);
  CHECK(store->put_mark({client, "g", "u", at_ms(1)}).error().code == errc::not_found);
}

TEST_CASE("acquisition store: remove_provider takes its status, mark and pending releases with it",
          "[acquisition][store]") {
  TempDir dir;
  auto store = open_store(dir);
  const auto gone = store->add_provider(make_indexer("Gone")).value();
  const RowId kept = store->add_provider(make_indexer("Kept")).value().id;
  const RowId client = store->add_provider(make_client("Client")).value().id;
  for (RowId id : {gone.id, kept}) {
    ProviderStatus s;
    s.provider_id = id;
    s.escalation_level = 1;
    REQUIRE(store->put_provider_status(s).has_value());
    REQUIRE(store->put_mark({id, "guid", "url", at_ms(5)}).has_value());
    PendingRelease p;
    p.book_id = 9;
    p.release = make_release("Pending of " + std::to_string(id), id);
    p.reason = "downloadClientUnavailable";
    REQUIRE(store->add_pending(p).has_value());
  }
  ProviderStatus cs;
  cs.kind = ProviderKind::download_client;
  cs.provider_id = client;
  REQUIRE(store->put_provider_status(cs).has_value());

  auto removed = store->remove_provider(ProviderKind::indexer, gone.id);
  REQUIRE(removed.has_value());
  check_same(*removed, gone);  // the row as it was
  CHECK(store->provider(ProviderKind::indexer, gone.id).error().code == errc::not_found);
  CHECK_FALSE(store->provider_status(ProviderKind::indexer, gone.id).value().has_value());
  CHECK_FALSE(store->mark(gone.id).value().has_value());
  auto pending = store->pending().value();
  REQUIRE(pending.size() == 1);
  CHECK(pending[0].release.indexer_id == kept);
  // The others' rows stay.
  CHECK(store->provider_status(ProviderKind::indexer, kept).value().has_value());
  CHECK(store->mark(kept).value().has_value());
  CHECK(store->provider_status(ProviderKind::download_client, client).value().has_value());

  REQUIRE(store->remove_provider(ProviderKind::download_client, client).has_value());
  CHECK(store->provider_statuses(ProviderKind::download_client).value().empty());
  CHECK(store->providers(ProviderKind::indexer).value().size() == 1);
  // Its name is free again.
  CHECK(store->add_provider(make_indexer("Gone")).has_value());
}

TEST_CASE("acquisition store: history round-trips, newest first, paged and filtered",
          "[acquisition][store]") {
  TempDir dir;
  auto store = open_store(dir);
  // Dates out of insertion order; two share a date (then the later id comes first).
  std::vector<HistoryEntry> added;
  added.push_back(store->add_history(make_history(HistoryEvent::grabbed, 1'000, 1, 10, "dl-a")).value());
  added.push_back(
      store->add_history(make_history(HistoryEvent::download_imported, 3'000, 1, 10, "dl-a")).value());
  added.push_back(store->add_history(make_history(HistoryEvent::grabbed, 2'000, 2, 20, "dl-b")).value());
  added.push_back(
      store->add_history(make_history(HistoryEvent::download_failed, 3'000, 2, 20, "dl-b")).value());
  added.push_back(store->add_history(make_history(HistoryEvent::book_file_imported, 500, 1, 11, "")).value());
  for (const auto& h : added) CHECK(h.id > 0);

  auto all = store->history({}).value();
  CHECK(all.total == 5);
  CHECK(ids_of(all.records) ==
        std::vector<RowId>{added[3].id, added[1].id, added[2].id, added[0].id, added[4].id});
  const HistoryEntry& first = all.records[0];
  CHECK(first.event == HistoryEvent::download_failed);
  CHECK(first.date == at_ms(3'000));
  CHECK(first.author_id == 2);
  CHECK(first.book_id == 20);
  CHECK(first.source_title == "Release 3000");
  CHECK(first.download_id == "dl-b");
  CHECK(first.data == R"({"indexer":"Indexer A","size":"1000"})");

  SECTION("pages") {
    auto p1 = store->history({.page = 1, .page_size = 2}).value();
    auto p2 = store->history({.page = 2, .page_size = 2}).value();
    auto p3 = store->history({.page = 3, .page_size = 2}).value();
    auto p4 = store->history({.page = 4, .page_size = 2}).value();
    CHECK(p1.total == 5);
    CHECK(p3.total == 5);
    CHECK(ids_of(p1.records) == std::vector<RowId>{added[3].id, added[1].id});
    CHECK(ids_of(p2.records) == std::vector<RowId>{added[2].id, added[0].id});
    CHECK(ids_of(p3.records) == std::vector<RowId>{added[4].id});
    CHECK(p4.records.empty());
    CHECK(p4.total == 5);
    auto far = store->history({.page = std::numeric_limits<std::int64_t>::max(), .page_size = 1000}).value();
    CHECK(far.records.empty());
  }
  SECTION("filters, alone and together") {
    auto grabbed = store->history({.event = HistoryEvent::grabbed}).value();
    CHECK(grabbed.total == 2);
    CHECK(ids_of(grabbed.records) == std::vector<RowId>{added[2].id, added[0].id});
    CHECK(ids_of(store->history({.book_id = 10}).value().records) ==
          std::vector<RowId>{added[1].id, added[0].id});
    CHECK(store->history({.author_id = 1}).value().total == 3);
    CHECK(ids_of(store->history({.download_id = "dl-b"}).value().records) ==
          std::vector<RowId>{added[3].id, added[2].id});
    auto both = store->history({.event = HistoryEvent::grabbed, .author_id = 1}).value();
    CHECK(ids_of(both.records) == std::vector<RowId>{added[0].id});
    auto none = store->history({.event = HistoryEvent::download_ignored}).value();
    CHECK(none.total == 0);
    CHECK(none.records.empty());
    auto paged = store->history({.page = 2, .page_size = 1, .author_id = 1}).value();
    CHECK(paged.total == 3);
    CHECK(ids_of(paged.records) == std::vector<RowId>{added[0].id});
  }
  SECTION("a page or page size below 1 is invalid_argument") {
    CHECK(store->history({.page = 0}).error().code == errc::invalid_argument);
    CHECK(store->history({.page_size = 0}).error().code == errc::invalid_argument);
    CHECK(store->history({.page = -1, .page_size = -5}).error().code == errc::invalid_argument);
  }
  SECTION("a zero date is now; the id given is ignored") {
    HistoryEntry h = make_history(HistoryEvent::grabbed, 0, 3, 30, "dl-c");
    h.date = TimePoint{};
    h.id = 4242;
    const auto before = system_clock::now() - seconds(1);
    auto now_entry = store->add_history(h).value();
    CHECK(now_entry.id != 4242);
    CHECK(now_entry.date >= before);
    CHECK(store->history({.page_size = 1}).value().records.at(0).id == now_entry.id);
  }
}

TEST_CASE("acquisition store: the blocklist round-trips, pages, and is found by book",
          "[acquisition][store]") {
  TempDir dir;
  auto store = open_store(dir);
  BlocklistEntry e;
  e.author_id = 3;
  e.book_ids = {30, 31};
  e.release = make_release("Blocked One", 4);
  e.date = at_ms(10'000);
  e.message = "download failed: unpack error";
  auto one = store->add_blocklist(e);
  REQUIRE(one.has_value());
  CHECK(one->id > 0);
  e.book_ids = {31, 32, 31};  // a book twice is no clash
  e.release = make_release("Blocked Two", 4);
  e.date = at_ms(20'000);
  e.message = "removed by the user";
  auto two = store->add_blocklist(e);
  REQUIRE(two.has_value());
  e.book_ids = {};
  e.date = TimePoint{};  // now: the newest
  auto three = store->add_blocklist(e);
  REQUIRE(three.has_value());
  CHECK(three->date > at_ms(20'000));

  auto page = store->blocklist(1, 10).value();
  CHECK(page.total == 3);
  REQUIRE(page.records.size() == 3);
  CHECK(page.records[0].id == three->id);
  CHECK(page.records[1].id == two->id);
  const BlocklistEntry& read = page.records[2];
  CHECK(read.id == one->id);
  CHECK(read.author_id == 3);
  CHECK(read.book_ids == std::vector<RowId>{30, 31});
  check_same(read.release, one->release);
  CHECK(read.date == at_ms(10'000));
  CHECK(read.message == "download failed: unpack error");
  CHECK(page.records[1].book_ids == std::vector<RowId>{31, 32, 31});

  auto second = store->blocklist(2, 2).value();
  CHECK(second.total == 3);
  REQUIRE(second.records.size() == 1);
  CHECK(second.records[0].id == one->id);
  CHECK(store->blocklist(0, 10).error().code == errc::invalid_argument);
  CHECK(store->blocklist(1, 0).error().code == errc::invalid_argument);

  auto of31 = store->blocklist_of_book(31).value();
  REQUIRE(of31.size() == 2);
  CHECK(of31[0].id == two->id);
  CHECK(of31[1].id == one->id);
  CHECK(store->blocklist_of_book(30).value().size() == 1);
  CHECK(store->blocklist_of_book(99).value().empty());

  REQUIRE(store->remove_blocklist(one->id).has_value());
  CHECK(store->blocklist_of_book(30).value().empty());
  CHECK(store->blocklist_of_book(31).value().size() == 1);
  CHECK(store->blocklist(1, 10).value().total == 2);
  CHECK(store->remove_blocklist(one->id).error().code == errc::not_found);
  SQLite::Database db(db_path(dir).string());
  CHECK(db.execAndGet("SELECT count(*) FROM blocklist_books").getInt() == 2);  // two's 31 and 32
}

TEST_CASE("acquisition store: pending releases, oldest first", "[acquisition][store]") {
  TempDir dir;
  auto store = open_store(dir);
  PendingRelease p;
  p.author_id = 1;
  p.book_id = 10;
  p.release = make_release("Later", 0);
  p.reason = "fallback";
  p.added = at_ms(2'000);
  auto later = store->add_pending(p).value();
  p.release = make_release("Earlier", 0);
  p.reason = "downloadClientUnavailable";
  p.added = at_ms(1'000);
  auto earlier = store->add_pending(p).value();
  p.added = TimePoint{};
  auto now_one = store->add_pending(p).value();
  CHECK(now_one.added > at_ms(2'000));

  auto all = store->pending().value();
  REQUIRE(all.size() == 3);
  CHECK(all[0].id == earlier.id);
  CHECK(all[1].id == later.id);
  CHECK(all[2].id == now_one.id);
  CHECK(all[1].author_id == 1);
  CHECK(all[1].book_id == 10);
  CHECK(all[1].reason == "fallback");
  CHECK(all[1].added == at_ms(2'000));
  check_same(all[1].release, make_release("Later", 0));

  REQUIRE(store->remove_pending(later.id).has_value());
  CHECK(store->pending().value().size() == 2);
  CHECK(store->remove_pending(later.id).error().code == errc::not_found);
}

TEST_CASE("acquisition store: tracked downloads round-trip, update, and list the active ones",
          "[acquisition][store]") {
  TempDir dir;
  auto store = open_store(dir);
  auto a = store->add_tracked(make_tracked(5, "HASH-A", 3'000)).value();
  auto b = store->add_tracked(make_tracked(5, "HASH-B", 1'000)).value();
  auto other_client = store->add_tracked(make_tracked(6, "HASH-A", 2'000));  // the same id, another client
  REQUIRE(other_client.has_value());
  CHECK(a.id > 0);

  check_same(store->tracked(a.id).value(), a);
  check_same(store->tracked_by_download(5, "HASH-A").value(), a);
  check_same(store->tracked_by_download(6, "HASH-A").value(), *other_client);
  CHECK(store->tracked_by_download(5, "HASH-Z").error().code == errc::not_found);
  CHECK(store->tracked(12345).error().code == errc::not_found);

  // Zero times on insert are now.
  TrackedDownload fresh = make_tracked(7, "NZB-1", 0);
  fresh.grabbed = TimePoint{};
  fresh.updated = TimePoint{};
  fresh.eta_seconds.reset();
  auto added = store->add_tracked(fresh).value();
  CHECK(added.grabbed > at_ms(1'000'000));
  CHECK(added.updated == added.grabbed);
  CHECK_FALSE(store->tracked(added.id).value().eta_seconds.has_value());

  // A client's item is tracked once.
  auto dup = store->add_tracked(make_tracked(5, "HASH-A", 9'000));
  REQUIRE_FALSE(dup.has_value());
  CHECK(dup.error().code == errc::conflict);
  CHECK_THAT(dup.error().message, Catch::Contains("HASH-A"));

  // By grab time: b, other_client, a, added.
  auto active = store->active_downloads().value();
  REQUIRE(active.size() == 4);
  CHECK(active[0].id == b.id);
  CHECK(active[1].id == other_client->id);
  CHECK(active[2].id == a.id);
  CHECK(active[3].id == added.id);

  // Update every field; terminal states leave the active list, import_failed stays.
  TrackedDownload changed = a;
  changed.author_id = 8;
  changed.book_id = 80;
  changed.release = make_release("Changed");
  changed.state = TrackedState::import_pending;
  changed.status = "completed";
  changed.size = 2000;
  changed.size_left = 0;
  changed.eta_seconds.reset();
  changed.output_path = "/downloads/Changed";
  changed.message = "done";
  changed.updated = at_ms(50'000);
  REQUIRE(store->update_tracked(changed).has_value());
  check_same(store->tracked(a.id).value(), changed);

  changed.state = TrackedState::imported;
  changed.updated = TimePoint{};  // now
  REQUIRE(store->update_tracked(changed).has_value());
  CHECK(store->tracked(a.id).value().updated > at_ms(50'000));
  TrackedDownload bf = b;
  bf.state = TrackedState::import_failed;
  REQUIRE(store->update_tracked(bf).has_value());
  TrackedDownload of = *other_client;
  of.state = TrackedState::failed;
  REQUIRE(store->update_tracked(of).has_value());
  TrackedDownload ad = added;
  ad.state = TrackedState::removed;
  REQUIRE(store->update_tracked(ad).has_value());
  active = store->active_downloads().value();
  REQUIRE(active.size() == 1);
  CHECK(active[0].id == b.id);
  CHECK(active[0].state == TrackedState::import_failed);
  // Terminal rows are still found by their download.
  CHECK(store->tracked_by_download(5, "HASH-A").value().state == TrackedState::imported);

  // A release removed or finished may be grabbed again under the same id: the new row is the
  // one found by its download.
  auto again = store->add_tracked(make_tracked(5, "HASH-A", 60'000));
  REQUIRE(again.has_value());
  CHECK(store->tracked_by_download(5, "HASH-A").value().id == again->id);
  // Rows not handed over yet (no client id) never clash.
  TrackedDownload unsent = make_tracked(5, "", 61'000);
  REQUIRE(store->add_tracked(unsent).has_value());
  REQUIRE(store->add_tracked(unsent).has_value());

  // Moving onto the id of another download still followed is a conflict; a missing row
  // not_found.
  TrackedDownload clash = b;
  clash.download_id = "HASH-A";
  CHECK(store->update_tracked(clash).error().code == errc::conflict);
  CHECK(store->tracked(b.id).value().download_id == "HASH-B");
  TrackedDownload gone = b;
  gone.id = 12345;
  CHECK(store->update_tracked(gone).error().code == errc::not_found);
}

TEST_CASE("acquisition store: reopening the file keeps everything", "[acquisition][store]") {
  TempDir dir;
  RowId indexer = 0, client = 0, tracked = 0;
  {
    auto store = open_store(dir);
    indexer = store->add_provider(make_indexer("Indexer A")).value().id;
    client = store->add_provider(make_client("Client A")).value().id;
    ProviderStatus s;
    s.provider_id = indexer;
    s.escalation_level = 4;
    s.disabled_till = at_ms(77'000);
    REQUIRE(store->put_provider_status(s).has_value());
    REQUIRE(store->put_mark({indexer, "guid-9", "url-9", at_ms(9'000)}).has_value());
    REQUIRE(store->add_history(make_history(HistoryEvent::grabbed, 1'000, 1, 10, "dl-a")).has_value());
    BlocklistEntry b;
    b.book_ids = {10};
    b.release = make_release("Blocked");
    REQUIRE(store->add_blocklist(b).has_value());
    PendingRelease p;
    p.release = make_release("Pending", indexer);
    REQUIRE(store->add_pending(p).has_value());
    tracked = store->add_tracked(make_tracked(client, "HASH-1", 5'000)).value().id;
  }
  auto store = open_store(dir);
  auto indexers = store->providers(ProviderKind::indexer).value();
  REQUIRE(indexers.size() == 1);
  check_same(indexers[0], [&] {
    auto p = make_indexer("Indexer A");
    p.id = indexer;
    return p;
  }());
  CHECK(store->providers(ProviderKind::download_client).value().size() == 1);
  auto s = store->provider_status(ProviderKind::indexer, indexer).value();
  REQUIRE(s.has_value());
  CHECK(s->escalation_level == 4);
  CHECK(s->disabled_till == at_ms(77'000));
  CHECK(store->mark(indexer).value().value().guid == "guid-9");
  CHECK(store->history({}).value().total == 1);
  auto blocked = store->blocklist_of_book(10).value();
  REQUIRE(blocked.size() == 1);
  check_same(blocked[0].release, make_release("Blocked"));
  REQUIRE(store->pending().value().size() == 1);
  CHECK(store->pending().value()[0].release.title == "Pending");
  CHECK(store->tracked(tracked).value().download_id == "HASH-1");
  CHECK(store->tracked_by_download(client, "HASH-1").value().id == tracked);
}

TEST_CASE("acquisition store: a file with a newer schema is refused", "[acquisition][store]") {
  TempDir dir;
  { open_store(dir); }
  {
    SQLite::Database db(db_path(dir).string(), SQLite::OPEN_READWRITE);
    db.exec("UPDATE shelfjobs_schema SET version = 99 WHERE name = 'acquisition'");
  }
  auto s = open_sqlite_acquisition_store({db_path(dir)});
  REQUIRE_FALSE(s.has_value());
  CHECK(s.error().code == errc::invalid_argument);
  CHECK_THAT(s.error().message, Catch::Contains("library.db") && Catch::Contains("99"));
  // The catalog in the same file does not care: its own schema is current.
  CHECK(open_sqlite_catalog({db_path(dir)}).has_value());
}

TEST_CASE("acquisition store: a file it cannot create is a store error naming it", "[acquisition][store]") {
  TempDir dir;
  SECTION("missing folder") {
    const auto path = dir.path() / "missing" / "acq.db";
    auto s = open_sqlite_acquisition_store({path});
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error().code == errc::store_error);
    CHECK_THAT(s.error().message, Catch::Contains(path.string()));
    CHECK_FALSE(fs::exists(dir.path() / "missing"));
  }
  SECTION("a folder that is a file") {
    std::ofstream(dir.path() / "plain") << "x";
    const auto path = dir.path() / "plain" / "acq.db";
    auto s = open_sqlite_acquisition_store({path});
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error().code == errc::store_error);
    CHECK_THAT(s.error().message, Catch::Contains(path.string()));
  }
  SECTION("a read-only folder") {
    // Root writes anywhere: there the folder is not read-only to it, and the case is moot.
    if (::geteuid() == 0) return;
    const auto folder = dir.path() / "locked";
    fs::create_directories(folder);
    fs::permissions(folder, fs::perms::owner_read | fs::perms::owner_exec);
    const auto path = folder / "acq.db";
    auto s = open_sqlite_acquisition_store({path});
    fs::permissions(folder, fs::perms::owner_all);
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error().code == errc::store_error);
    CHECK_THAT(s.error().message, Catch::Contains(path.string()));
  }
  SECTION("no path") { CHECK(open_sqlite_acquisition_store({}).error().code == errc::invalid_argument); }
}

TEST_CASE("acquisition store: the names of kinds, events and states", "[acquisition][store]") {
  CHECK(std::string(to_string(ProviderKind::indexer)) == "indexer");
  CHECK(std::string(to_string(ProviderKind::download_client)) == "downloadclient");
  const std::pair<HistoryEvent, const char*> events[] = {
      {HistoryEvent::grabbed, "grabbed"},
      {HistoryEvent::book_file_imported, "bookFileImported"},
      {HistoryEvent::download_failed, "downloadFailed"},
      {HistoryEvent::book_import_incomplete, "bookImportIncomplete"},
      {HistoryEvent::download_imported, "downloadImported"},
      {HistoryEvent::download_ignored, "downloadIgnored"},
  };
  for (const auto& [e, name] : events) {
    CAPTURE(name);
    CHECK(std::string(to_string(e)) == name);
    CHECK(history_event_from(name) == e);
    CHECK(history_event_from(std::to_string(static_cast<int>(e))) == e);
  }
  CHECK(history_event_from("3") == HistoryEvent::book_file_imported);
  CHECK(history_event_from("10") == HistoryEvent::download_ignored);
  for (const char* bad : {"", "2", "03", "+1", "1x", "Grabbed", "grabbed ", "unknown"}) {
    CAPTURE(bad);
    CHECK_FALSE(history_event_from(bad).has_value());
  }
  const std::pair<TrackedState, const char*> states[] = {
      {TrackedState::downloading, "downloading"}, {TrackedState::import_pending, "importPending"},
      {TrackedState::imported, "imported"},       {TrackedState::import_failed, "importFailed"},
      {TrackedState::failed, "failed"},           {TrackedState::removed, "removed"},
  };
  for (const auto& [s, name] : states) {
    CAPTURE(name);
    CHECK(std::string(to_string(s)) == name);
    CHECK(tracked_state_from(name) == s);
  }
  CHECK_FALSE(tracked_state_from("Downloading").has_value());
  CHECK_FALSE(tracked_state_from("").has_value());
}

}  // namespace acquisition_store_test

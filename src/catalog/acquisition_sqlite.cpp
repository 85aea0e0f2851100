// SPDX-License-Identifier: MIT
// The SQLite acquisition store.
//
// Who owns what (as in the catalog, catalog_sqlite.cpp):
//  - `write_` is the only connection that writes; `write_mutex_` serialises its users, and each
//    write call is one BEGIN IMMEDIATE transaction, so a failed call changes nothing.
//  - `read_` serves the reads under `read_mutex_`, each in a deferred transaction (one WAL
//    snapshot per call).
//
// Storage choices:
//  - Enums are stored as their stable names (`to_string`), not their C++ order, so reordering
//    an enum cannot change the meaning of a stored row; history events keep Readarr's numbers,
//    which are explicit in the header.
//  - A release (ReleaseRecord) is one JSON column: nothing queries inside it, and a new release
//    field then needs no migration. The few fields that are queried (a pending release's
//    indexer, a tracked download's client and id) have columns of their own.
//  - Times are Unix milliseconds (sqlite::to_ms), in columns and inside the JSON alike.

#include <sqlite3.h>

#include <charconv>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include "catalog/sqlite_common.hpp"
#include "engine/sqlite/sqlite_toolkit.hpp"
#include "shelfjobs/catalog/acquisition_store.hpp"

namespace shelfjobs {

// ---- names -----------------------------------------------------------------------------------

const char* to_string(ProviderKind kind) noexcept {
  switch (kind) {
    case ProviderKind::indexer: return "indexer";
    case ProviderKind::download_client: return "downloadclient";
  }
  return "unknown";
}

const char* to_string(HistoryEvent e) noexcept {
  switch (e) {
    case HistoryEvent::grabbed: return "grabbed";
    case HistoryEvent::book_file_imported: return "bookFileImported";
    case HistoryEvent::download_failed: return "downloadFailed";
    case HistoryEvent::book_import_incomplete: return "bookImportIncomplete";
    case HistoryEvent::download_imported: return "downloadImported";
    case HistoryEvent::download_ignored: return "downloadIgnored";
  }
  return "unknown";
}

std::optional<HistoryEvent> history_event_from(std::string_view text) noexcept {
  static constexpr HistoryEvent kAll[] = {
      HistoryEvent::grabbed,           HistoryEvent::book_file_imported,
      HistoryEvent::download_failed,   HistoryEvent::book_import_incomplete,
      HistoryEvent::download_imported, HistoryEvent::download_ignored};
  // The number without allocating (noexcept): "1" but not "01", "+1" or "1x".
  int number = 0;
  const char* end = text.data() + text.size();
  const auto [rest, ec] = std::from_chars(text.data(), end, number);
  const bool is_number = ec == std::errc{} && rest == end && !text.empty() && text.front() != '0';
  for (HistoryEvent e : kAll)
    if (text == to_string(e) || (is_number && number == static_cast<int>(e))) return e;
  return std::nullopt;
}

const char* to_string(TrackedState s) noexcept {
  switch (s) {
    case TrackedState::downloading: return "downloading";
    case TrackedState::import_pending: return "importPending";
    case TrackedState::imported: return "imported";
    case TrackedState::import_failed: return "importFailed";
    case TrackedState::failed: return "failed";
    case TrackedState::removed: return "removed";
  }
  return "unknown";
}

std::optional<TrackedState> tracked_state_from(std::string_view text) noexcept {
  static constexpr TrackedState kAll[] = {TrackedState::downloading, TrackedState::import_pending,
                                          TrackedState::imported,    TrackedState::import_failed,
                                          TrackedState::failed,      TrackedState::removed};
  for (TrackedState s : kAll)
    if (text == to_string(s)) return s;
  return std::nullopt;
}

namespace {

using namespace catalog_sqlite;
using nlohmann::json;

// ---- schema ----------------------------------------------------------------------------------

// Append only: a released migration never changes, a new one is a new entry (index + 1 =
// version). Kept by sqlite::migrate under the name "acquisition", so the tables can live in the
// catalog's file beside schema "catalog" without the two versions meeting. No table references
// a catalog row: a removed book leaves its history (the header's promise).
//
// Lookups and their indexes: providers by (kind, name) is the UNIQUE constraint's index;
// provider_status and indexer_marks are keyed by their provider; history has one index per
// filter (each with date for the newest-first order) and one on date for the unfiltered page;
// blocklist_books is keyed by (book_id, blocklist_id), so blocklist_of_book is one index seek
// instead of a scan of the JSON book lists; tracked_downloads by (client_id, download_id) and by (state,
// grabbed) (active_downloads). A client's id is unique among the downloads still followed only (checked in
// the write): a grab that failed before the client gave an id leaves a row with an empty one, and a release
// removed from the queue may be grabbed again under the same info hash.
const std::vector<std::string>& acquisition_migrations() {
  static const std::vector<std::string> migrations = {
      R"sql(
CREATE TABLE providers (
  id                        INTEGER PRIMARY KEY,
  kind                      TEXT    NOT NULL,                -- 'indexer' | 'downloadclient'
  name                      TEXT    NOT NULL,
  implementation            TEXT    NOT NULL DEFAULT '',
  protocol                  TEXT    NOT NULL DEFAULT '',
  enable                    INTEGER NOT NULL DEFAULT 1,
  enable_automatic_search   INTEGER NOT NULL DEFAULT 1,
  enable_interactive_search INTEGER NOT NULL DEFAULT 1,
  priority                  INTEGER NOT NULL DEFAULT 25,
  settings                  TEXT    NOT NULL DEFAULT '{}',   -- JSON object
  tags                      TEXT    NOT NULL DEFAULT '[]',   -- JSON array of integers
  UNIQUE (kind, name)
);
CREATE TABLE provider_status (
  kind                TEXT    NOT NULL,
  provider_id         INTEGER NOT NULL REFERENCES providers(id),
  escalation_level    INTEGER NOT NULL DEFAULT 0,
  initial_failure     INTEGER,                                -- Unix ms
  most_recent_failure INTEGER,
  disabled_till       INTEGER,
  last_success        INTEGER,
  last_error          TEXT    NOT NULL DEFAULT '',
  PRIMARY KEY (kind, provider_id)
);
CREATE TABLE indexer_marks (
  indexer_id   INTEGER PRIMARY KEY REFERENCES providers(id),
  guid         TEXT    NOT NULL DEFAULT '',
  download_url TEXT    NOT NULL DEFAULT '',
  publish_date INTEGER NOT NULL DEFAULT 0                     -- Unix ms
);
CREATE TABLE history (
  id           INTEGER PRIMARY KEY,
  event        INTEGER NOT NULL,                              -- Readarr's number
  date         INTEGER NOT NULL,                              -- Unix ms
  author_id    INTEGER NOT NULL DEFAULT 0,
  book_id      INTEGER NOT NULL DEFAULT 0,
  source_title TEXT    NOT NULL DEFAULT '',
  download_id  TEXT    NOT NULL DEFAULT '',
  data         TEXT    NOT NULL DEFAULT '{}'                  -- JSON object
);
CREATE INDEX history_by_date ON history(date);
CREATE INDEX history_by_book ON history(book_id, date);
CREATE INDEX history_by_author ON history(author_id, date);
CREATE INDEX history_by_download ON history(download_id, date);
CREATE INDEX history_by_event ON history(event, date);
CREATE TABLE blocklist (
  id        INTEGER PRIMARY KEY,
  author_id INTEGER NOT NULL DEFAULT 0,
  book_ids  TEXT    NOT NULL DEFAULT '[]',                    -- JSON array (blocklist_books too)
  release   TEXT    NOT NULL DEFAULT '{}',                    -- JSON ReleaseRecord
  date      INTEGER NOT NULL,
  message   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX blocklist_by_date ON blocklist(date);
CREATE TABLE blocklist_books (
  book_id      INTEGER NOT NULL,
  blocklist_id INTEGER NOT NULL REFERENCES blocklist(id) ON DELETE CASCADE,
  PRIMARY KEY (book_id, blocklist_id)
) WITHOUT ROWID;
CREATE INDEX blocklist_books_by_entry ON blocklist_books(blocklist_id);
CREATE TABLE pending_releases (
  id         INTEGER PRIMARY KEY,
  author_id  INTEGER NOT NULL DEFAULT 0,
  book_id    INTEGER NOT NULL DEFAULT 0,
  indexer_id INTEGER NOT NULL DEFAULT 0,                      -- the release's, for remove_provider
  release    TEXT    NOT NULL DEFAULT '{}',
  reason     TEXT    NOT NULL DEFAULT '',
  added      INTEGER NOT NULL
);
CREATE INDEX pending_by_added ON pending_releases(added);
CREATE INDEX pending_by_indexer ON pending_releases(indexer_id);
CREATE TABLE tracked_downloads (
  id          INTEGER PRIMARY KEY,
  client_id   INTEGER NOT NULL,
  download_id TEXT    NOT NULL,
  author_id   INTEGER NOT NULL DEFAULT 0,
  book_id     INTEGER NOT NULL DEFAULT 0,
  release     TEXT    NOT NULL DEFAULT '{}',
  state       TEXT    NOT NULL,                               -- to_string(TrackedState)
  status      TEXT    NOT NULL DEFAULT '',
  size        INTEGER NOT NULL DEFAULT 0,
  size_left   INTEGER NOT NULL DEFAULT 0,
  eta_seconds INTEGER,
  output_path TEXT    NOT NULL DEFAULT '',
  message     TEXT    NOT NULL DEFAULT '',
  grabbed     INTEGER NOT NULL,
  updated     INTEGER NOT NULL
);
CREATE INDEX tracked_by_download ON tracked_downloads(client_id, download_id);
CREATE INDEX tracked_by_state ON tracked_downloads(state, grabbed);
)sql",
      // 2: a removed row's id is never handed out again (see keep_ids_migration): a new download
      // client must not inherit the downloads of a removed one by its id.
      keep_ids_migration({"providers", "history", "blocklist", "pending_releases", "tracked_downloads"}),
  };
  return migrations;
}

// ---- conversions -----------------------------------------------------------------------------

TimePoint clock_now() { return std::chrono::system_clock::now(); }

std::optional<ProviderKind> kind_from(std::string_view text) {
  if (text == to_string(ProviderKind::indexer)) return ProviderKind::indexer;
  if (text == to_string(ProviderKind::download_client)) return ProviderKind::download_client;
  return std::nullopt;
}

// A row's text that this build cannot read is a damaged file, not the caller's fault: the
// read fails as a store error naming the value.
[[noreturn]] void bad_value(const std::string& what, const std::string& value) {
  throw std::runtime_error("unreadable " + what + " " + in_quotes(value));
}

ProviderKind kind_column(SQLite::Statement& st, int i) {
  const auto text = column<std::string>(st, i);
  auto k = kind_from(text);
  if (!k) bad_value("provider kind", text);
  return *k;
}

std::string tags_text(const std::vector<int>& tags) { return json(tags).dump(); }

std::vector<int> parse_tags(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  std::vector<int> out;
  if (!j.is_array()) return out;
  for (const auto& t : j)
    if (t.is_number_integer()) out.push_back(t.get<int>());
  return out;
}

std::string ids_text(const std::vector<RowId>& ids) { return json(ids).dump(); }

std::vector<RowId> parse_ids(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  std::vector<RowId> out;
  if (!j.is_array()) return out;
  for (const auto& t : j)
    if (t.is_number_integer()) out.push_back(t.get<RowId>());
  return out;
}

std::string release_text(const ReleaseRecord& r) {
  json j = {{"title", r.title},
            {"guid", r.guid},
            {"downloadUrl", r.download_url},
            {"infoUrl", r.info_url},
            {"indexerId", r.indexer_id},
            {"indexer", r.indexer},
            {"protocol", r.protocol},
            {"size", r.size},
            {"format", r.format},
            {"infohash", r.infohash},
            {"magnetUrl", r.magnet_url}};
  // Absent optionals are absent keys, so they read back as nullopt.
  if (r.publish_date) j["publishDate"] = sqlite::to_ms(*r.publish_date);
  if (r.seeders) j["seeders"] = *r.seeders;
  if (r.peers) j["peers"] = *r.peers;
  return j.dump();
}

ReleaseRecord parse_release(const std::string& text) {
  const json j = json::parse(text, nullptr, false);
  if (!j.is_object()) bad_value("release", text);
  ReleaseRecord r;
  r.title = j.value("title", std::string());
  r.guid = j.value("guid", std::string());
  r.download_url = j.value("downloadUrl", std::string());
  r.info_url = j.value("infoUrl", std::string());
  r.indexer_id = j.value("indexerId", RowId{0});
  r.indexer = j.value("indexer", std::string());
  r.protocol = j.value("protocol", std::string());
  r.size = j.value("size", std::int64_t{0});
  if (auto it = j.find("publishDate"); it != j.end() && it->is_number_integer())
    r.publish_date = sqlite::from_ms(it->get<std::int64_t>());
  if (auto it = j.find("seeders"); it != j.end() && it->is_number_integer()) r.seeders = it->get<int>();
  if (auto it = j.find("peers"); it != j.end() && it->is_number_integer()) r.peers = it->get<int>();
  r.format = j.value("format", std::string());
  r.infohash = j.value("infohash", std::string());
  r.magnet_url = j.value("magnetUrl", std::string());
  return r;
}

// ---- rows ------------------------------------------------------------------------------------

constexpr sqlite::Columns kProvider{"id",
                                    "kind",
                                    "name",
                                    "implementation",
                                    "protocol",
                                    "enable",
                                    "enable_automatic_search",
                                    "enable_interactive_search",
                                    "priority",
                                    "settings",
                                    "tags"};
ProviderDefinition provider_row(SQLite::Statement& st) {
  ProviderDefinition p;
  p.id = column<RowId>(st, kProvider["id"]);
  p.kind = kind_column(st, kProvider["kind"]);
  p.name = column<std::string>(st, kProvider["name"]);
  p.implementation = column<std::string>(st, kProvider["implementation"]);
  p.protocol = column<std::string>(st, kProvider["protocol"]);
  p.enable = column<bool>(st, kProvider["enable"]);
  p.enable_automatic_search = column<bool>(st, kProvider["enable_automatic_search"]);
  p.enable_interactive_search = column<bool>(st, kProvider["enable_interactive_search"]);
  p.priority = column<int>(st, kProvider["priority"]);
  p.settings = column<std::string>(st, kProvider["settings"]);
  p.tags = parse_tags(column<std::string>(st, kProvider["tags"]));
  return p;
}
// Binds a provider's columns after id and kind, from parameter 1.
void bind_provider(SQLite::Statement& st, const ProviderDefinition& p) {
  sqlite::bind(st, 1, p.name);
  sqlite::bind(st, 2, p.implementation);
  sqlite::bind(st, 3, p.protocol);
  sqlite::bind(st, 4, p.enable);
  sqlite::bind(st, 5, p.enable_automatic_search);
  sqlite::bind(st, 6, p.enable_interactive_search);
  sqlite::bind(st, 7, p.priority);
  sqlite::bind(st, 8, p.settings);
  sqlite::bind(st, 9, tags_text(p.tags));
}

constexpr sqlite::Columns kStatus{
    "kind",          "provider_id",  "escalation_level", "initial_failure", "most_recent_failure",
    "disabled_till", "last_success", "last_error"};
ProviderStatus status_row(SQLite::Statement& st) {
  ProviderStatus s;
  s.kind = kind_column(st, kStatus["kind"]);
  s.provider_id = column<RowId>(st, kStatus["provider_id"]);
  s.escalation_level = column<int>(st, kStatus["escalation_level"]);
  s.initial_failure = column<std::optional<TimePoint>>(st, kStatus["initial_failure"]);
  s.most_recent_failure = column<std::optional<TimePoint>>(st, kStatus["most_recent_failure"]);
  s.disabled_till = column<std::optional<TimePoint>>(st, kStatus["disabled_till"]);
  s.last_success = column<std::optional<TimePoint>>(st, kStatus["last_success"]);
  s.last_error = column<std::string>(st, kStatus["last_error"]);
  return s;
}

constexpr sqlite::Columns kMark{"indexer_id", "guid", "download_url", "publish_date"};
IndexerMark mark_row(SQLite::Statement& st) {
  IndexerMark m;
  m.indexer_id = column<RowId>(st, kMark["indexer_id"]);
  m.guid = column<std::string>(st, kMark["guid"]);
  m.download_url = column<std::string>(st, kMark["download_url"]);
  m.publish_date = column<TimePoint>(st, kMark["publish_date"]);
  return m;
}

constexpr sqlite::Columns kHistory{"id",      "event",        "date",        "author_id",
                                   "book_id", "source_title", "download_id", "data"};
HistoryEntry history_row(SQLite::Statement& st) {
  HistoryEntry h;
  h.id = column<RowId>(st, kHistory["id"]);
  h.event = column<HistoryEvent>(st, kHistory["event"]);
  h.date = column<TimePoint>(st, kHistory["date"]);
  h.author_id = column<RowId>(st, kHistory["author_id"]);
  h.book_id = column<RowId>(st, kHistory["book_id"]);
  h.source_title = column<std::string>(st, kHistory["source_title"]);
  h.download_id = column<std::string>(st, kHistory["download_id"]);
  h.data = column<std::string>(st, kHistory["data"]);
  return h;
}

constexpr sqlite::Columns kBlock{"id", "author_id", "book_ids", "release", "date", "message"};
BlocklistEntry block_row(SQLite::Statement& st) {
  BlocklistEntry b;
  b.id = column<RowId>(st, kBlock["id"]);
  b.author_id = column<RowId>(st, kBlock["author_id"]);
  b.book_ids = parse_ids(column<std::string>(st, kBlock["book_ids"]));
  b.release = parse_release(column<std::string>(st, kBlock["release"]));
  b.date = column<TimePoint>(st, kBlock["date"]);
  b.message = column<std::string>(st, kBlock["message"]);
  return b;
}

constexpr sqlite::Columns kPending{"id", "author_id", "book_id", "release", "reason", "added"};
PendingRelease pending_row(SQLite::Statement& st) {
  PendingRelease p;
  p.id = column<RowId>(st, kPending["id"]);
  p.author_id = column<RowId>(st, kPending["author_id"]);
  p.book_id = column<RowId>(st, kPending["book_id"]);
  p.release = parse_release(column<std::string>(st, kPending["release"]));
  p.reason = column<std::string>(st, kPending["reason"]);
  p.added = column<TimePoint>(st, kPending["added"]);
  return p;
}

constexpr sqlite::Columns kTracked{"id",          "client_id",   "download_id", "author_id", "book_id",
                                   "release",     "state",       "status",      "size",      "size_left",
                                   "eta_seconds", "output_path", "message",     "grabbed",   "updated"};
TrackedDownload tracked_row(SQLite::Statement& st) {
  TrackedDownload t;
  t.id = column<RowId>(st, kTracked["id"]);
  t.client_id = column<RowId>(st, kTracked["client_id"]);
  t.download_id = column<std::string>(st, kTracked["download_id"]);
  t.author_id = column<RowId>(st, kTracked["author_id"]);
  t.book_id = column<RowId>(st, kTracked["book_id"]);
  t.release = parse_release(column<std::string>(st, kTracked["release"]));
  const auto state = column<std::string>(st, kTracked["state"]);
  auto s = tracked_state_from(state);
  if (!s) bad_value("tracked download state", state);
  t.state = *s;
  t.status = column<std::string>(st, kTracked["status"]);
  t.size = column<std::int64_t>(st, kTracked["size"]);
  t.size_left = column<std::int64_t>(st, kTracked["size_left"]);
  t.eta_seconds = column<std::optional<std::int64_t>>(st, kTracked["eta_seconds"]);
  t.output_path = column<std::string>(st, kTracked["output_path"]);
  t.message = column<std::string>(st, kTracked["message"]);
  t.grabbed = column<TimePoint>(st, kTracked["grabbed"]);
  t.updated = column<TimePoint>(st, kTracked["updated"]);
  return t;
}
// Binds a tracked download's columns after id, from parameter 1, in kTracked's order.
void bind_tracked(SQLite::Statement& st, const TrackedDownload& t) {
  sqlite::bind(st, 1, t.client_id);
  sqlite::bind(st, 2, t.download_id);
  sqlite::bind(st, 3, t.author_id);
  sqlite::bind(st, 4, t.book_id);
  sqlite::bind(st, 5, release_text(t.release));
  sqlite::bind(st, 6, to_string(t.state));
  sqlite::bind(st, 7, t.status);
  sqlite::bind(st, 8, t.size);
  sqlite::bind(st, 9, t.size_left);
  sqlite::bind(st, 10, t.eta_seconds);
  sqlite::bind(st, 11, t.output_path);
  sqlite::bind(st, 12, t.message);
  sqlite::bind(st, 13, t.grabbed);
  sqlite::bind(st, 14, t.updated);
}

std::string provider_name(ProviderKind kind, RowId id) {
  return std::string(to_string(kind)) + " " + std::to_string(id);
}

// invalid_argument for a page or page size below 1 (the header's contract); the offset of a
// page past the end of any table saturates instead of overflowing.
std::optional<Error> check_page(std::int64_t page, std::int64_t page_size) {
  if (page < 1 || page_size < 1)
    return Error{errc::invalid_argument, "page " + std::to_string(page) + " of size " +
                                             std::to_string(page_size) + ": both must be at least 1"};
  return std::nullopt;
}
std::int64_t page_offset(std::int64_t page, std::int64_t page_size) {
  if (page - 1 > std::numeric_limits<std::int64_t>::max() / page_size)
    return std::numeric_limits<std::int64_t>::max();
  return (page - 1) * page_size;
}

// ---- the store -------------------------------------------------------------------------------

class SqliteAcquisitionStore final : public AcquisitionStore {
 public:
  SqliteAcquisitionStore(std::string path, std::unique_ptr<SQLite::Database> write,
                         std::unique_ptr<SQLite::Database> read)
      : path_(std::move(path)), write_(std::move(write)), read_(std::move(read)) {}

  // Providers ------------------------------------------------------------------------------------

  Result<ProviderDefinition> add_provider(ProviderDefinition p) override {
    p.id = 0;
    return write_call("add " + std::string(to_string(p.kind)) + " " + in_quotes(p.name), [&](Connection& c) {
      check_name_free(c, p);
      auto st = c.prepare(
          "INSERT INTO providers (id, name, implementation, protocol, enable, enable_automatic_search, "
          "enable_interactive_search, priority, settings, tags, kind) VALUES (" +
          next_id("providers") + ", ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      bind_provider(*st, p);
      sqlite::bind(*st, 10, to_string(p.kind));
      st->exec();
      p.id = c.db().getLastInsertRowid();
      return p;
    });
  }

  Status update_provider(const ProviderDefinition& p) override {
    return write_call("update " + provider_name(p.kind, p.id), [&](Connection& c) {
      load_provider(c, p.kind, p.id);  // not_found first
      check_name_free(c, p);
      auto st = c.prepare(
          "UPDATE providers SET name = ?, implementation = ?, protocol = ?, enable = ?, "
          "enable_automatic_search = ?, enable_interactive_search = ?, priority = ?, settings = ?, tags = ? "
          "WHERE id = ? AND kind = ?");
      bind_provider(*st, p);
      sqlite::bind(*st, 10, p.id);
      sqlite::bind(*st, 11, to_string(p.kind));
      st->exec();
      return Ok{};
    });
  }

  Result<ProviderDefinition> remove_provider(ProviderKind kind, RowId id) override {
    return write_call("remove " + provider_name(kind, id), [&](Connection& c) {
      ProviderDefinition p = load_provider(c, kind, id);
      {
        auto st = c.prepare("DELETE FROM provider_status WHERE kind = ? AND provider_id = ?");
        sqlite::bind(*st, 1, to_string(kind));
        sqlite::bind(*st, 2, id);
        st->exec();
      }
      if (kind == ProviderKind::indexer) {
        // Marks and pending releases belong to indexers; a download client has neither.
        auto mark = c.prepare("DELETE FROM indexer_marks WHERE indexer_id = ?");
        sqlite::bind(*mark, 1, id);
        mark->exec();
        auto pending = c.prepare("DELETE FROM pending_releases WHERE indexer_id = ?");
        sqlite::bind(*pending, 1, id);
        pending->exec();
      }
      auto st = c.prepare("DELETE FROM providers WHERE id = ? AND kind = ?");
      sqlite::bind(*st, 1, id);
      sqlite::bind(*st, 2, to_string(kind));
      st->exec();
      return p;
    });
  }

  Result<ProviderDefinition> provider(ProviderKind kind, RowId id) override {
    return read_call("read " + provider_name(kind, id),
                     [&](Connection& c) { return load_provider(c, kind, id); });
  }

  Result<std::vector<ProviderDefinition>> providers(ProviderKind kind) override {
    return read_call("list " + std::string(to_string(kind)) + "s", [&](Connection& c) {
      std::vector<ProviderDefinition> out;
      auto st = c.prepare("SELECT " + kProvider.list() +
                          " FROM providers WHERE kind = ? ORDER BY priority, name, id");
      sqlite::bind(*st, 1, to_string(kind));
      while (st->executeStep()) out.push_back(provider_row(*st));
      return out;
    });
  }

  // Provider status ------------------------------------------------------------------------------

  Result<std::vector<ProviderStatus>> provider_statuses(ProviderKind kind) override {
    return read_call("list " + std::string(to_string(kind)) + " statuses", [&](Connection& c) {
      std::vector<ProviderStatus> out;
      auto st =
          c.prepare("SELECT " + kStatus.list() + " FROM provider_status WHERE kind = ? ORDER BY provider_id");
      sqlite::bind(*st, 1, to_string(kind));
      while (st->executeStep()) out.push_back(status_row(*st));
      return out;
    });
  }

  Result<std::optional<ProviderStatus>> provider_status(ProviderKind kind, RowId id) override {
    return read_call("read the status of " + provider_name(kind, id), [&](Connection& c) {
      auto st =
          c.prepare("SELECT " + kStatus.list() + " FROM provider_status WHERE kind = ? AND provider_id = ?");
      sqlite::bind(*st, 1, to_string(kind));
      sqlite::bind(*st, 2, id);
      std::optional<ProviderStatus> out;
      if (st->executeStep()) out = status_row(*st);
      return out;
    });
  }

  Status put_provider_status(const ProviderStatus& s) override {
    return write_call("save the status of " + provider_name(s.kind, s.provider_id), [&](Connection& c) {
      load_provider(c, s.kind, s.provider_id);  // not_found
      auto st = c.prepare("INSERT OR REPLACE INTO provider_status (" + kStatus.list() +
                          ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
      sqlite::bind(*st, 1, to_string(s.kind));
      sqlite::bind(*st, 2, s.provider_id);
      sqlite::bind(*st, 3, s.escalation_level);
      sqlite::bind(*st, 4, s.initial_failure);
      sqlite::bind(*st, 5, s.most_recent_failure);
      sqlite::bind(*st, 6, s.disabled_till);
      sqlite::bind(*st, 7, s.last_success);
      sqlite::bind(*st, 8, s.last_error);
      st->exec();
      return Ok{};
    });
  }

  // Housekeeping -----------------------------------------------------------------------------------

  Result<AcquisitionOrphans> remove_orphans(const std::vector<RowId>& authors,
                                            const std::vector<RowId>& books) override {
    return write_call("remove orphaned rows", [&](Connection& c) {
      // The live ids go into temporary tables so each table is cleaned by one statement, not
      // one per id; the catalog may be another file, so no join across files is assumed.
      auto& db = c.db();
      db.exec("CREATE TEMP TABLE IF NOT EXISTS live_authors (id INTEGER PRIMARY KEY)");
      db.exec("CREATE TEMP TABLE IF NOT EXISTS live_books (id INTEGER PRIMARY KEY)");
      db.exec("DELETE FROM live_authors");
      db.exec("DELETE FROM live_books");
      auto fill = [&](const char* sql, const std::vector<RowId>& ids) {
        SQLite::Statement st(db, sql);
        for (RowId id : ids) {
          sqlite::bind(st, 1, id);
          st.exec();
          st.reset();
        }
      };
      fill("INSERT OR IGNORE INTO live_authors (id) VALUES (?)", authors);
      fill("INSERT OR IGNORE INTO live_books (id) VALUES (?)", books);
      static constexpr const char* kGone =
          "(author_id <> 0 AND author_id NOT IN (SELECT id FROM temp.live_authors)) "
          "OR (book_id <> 0 AND book_id NOT IN (SELECT id FROM temp.live_books))";
      AcquisitionOrphans o;
      o.history = db.exec(std::string("DELETE FROM history WHERE ") + kGone);
      o.pending = db.exec(std::string("DELETE FROM pending_releases WHERE ") + kGone);
      o.blocklist = db.exec(
          "DELETE FROM blocklist WHERE (author_id <> 0 AND author_id NOT IN (SELECT id FROM "
          "temp.live_authors)) "
          "OR (EXISTS (SELECT 1 FROM blocklist_books bb WHERE bb.blocklist_id = blocklist.id) AND NOT EXISTS "
          "(SELECT 1 FROM blocklist_books bb WHERE bb.blocklist_id = blocklist.id "
          "AND bb.book_id IN (SELECT id FROM temp.live_books)))");
      db.exec("DELETE FROM blocklist_books WHERE blocklist_id NOT IN (SELECT id FROM blocklist)");
      o.statuses = db.exec(
          "DELETE FROM provider_status WHERE NOT EXISTS (SELECT 1 FROM providers p "
          "WHERE p.id = provider_status.provider_id AND p.kind = provider_status.kind)");
      o.statuses += db.exec(
          "DELETE FROM indexer_marks WHERE NOT EXISTS (SELECT 1 FROM providers p "
          "WHERE p.id = indexer_marks.indexer_id AND p.kind = 'indexer')");
      db.exec("DELETE FROM live_authors");
      db.exec("DELETE FROM live_books");
      return o;
    });
  }

  Result<std::int64_t> remove_history_before(TimePoint cutoff) override {
    return write_call("remove old history", [&](Connection& c) {
      SQLite::Statement st(c.db(), "DELETE FROM history WHERE date < ?");
      sqlite::bind(st, 1, cutoff);
      return static_cast<std::int64_t>(st.exec());
    });
  }

  Result<std::int64_t> clamp_future_times(TimePoint now, std::chrono::seconds max_block) override {
    return write_call("clamp provider status times", [&](Connection& c) {
      // Times are stored as Unix milliseconds, and so are both bounds: no unit is mixed.
      const std::int64_t n = sqlite::to_ms(now);
      const std::int64_t cap = n + std::chrono::duration_cast<std::chrono::milliseconds>(max_block).count();
      SQLite::Statement st(c.db(),
                           "UPDATE provider_status SET "
                           "initial_failure = MIN(initial_failure, ?1), "
                           "most_recent_failure = MIN(most_recent_failure, ?1), "
                           "last_success = MIN(last_success, ?1), "
                           "disabled_till = MIN(disabled_till, ?2) "
                           "WHERE initial_failure > ?1 OR most_recent_failure > ?1 OR last_success > ?1 "
                           "OR disabled_till > ?2");
      sqlite::bind(st, 1, n);
      sqlite::bind(st, 2, cap);
      return static_cast<std::int64_t>(st.exec());
    });
  }

  // RSS marks ------------------------------------------------------------------------------------

  Result<std::optional<IndexerMark>> mark(RowId indexer_id) override {
    return read_call("read the mark of indexer " + std::to_string(indexer_id), [&](Connection& c) {
      auto st = c.prepare("SELECT " + kMark.list() + " FROM indexer_marks WHERE indexer_id = ?");
      sqlite::bind(*st, 1, indexer_id);
      std::optional<IndexerMark> out;
      if (st->executeStep()) out = mark_row(*st);
      return out;
    });
  }

  Status put_mark(const IndexerMark& m) override {
    return write_call("save the mark of indexer " + std::to_string(m.indexer_id), [&](Connection& c) {
      load_provider(c, ProviderKind::indexer, m.indexer_id);  // not_found
      auto st = c.prepare("INSERT OR REPLACE INTO indexer_marks (" + kMark.list() + ") VALUES (?, ?, ?, ?)");
      sqlite::bind(*st, 1, m.indexer_id);
      sqlite::bind(*st, 2, m.guid);
      sqlite::bind(*st, 3, m.download_url);
      sqlite::bind(*st, 4, m.publish_date);
      st->exec();
      return Ok{};
    });
  }

  // History --------------------------------------------------------------------------------------

  Result<HistoryEntry> add_history(HistoryEntry h) override {
    h.id = 0;
    if (h.date == TimePoint{}) h.date = clock_now();
    return write_call("add history " + std::string(to_string(h.event)), [&](Connection& c) {
      auto st = c.prepare(
          "INSERT INTO history (id, event, date, author_id, book_id, source_title, download_id, data) "
          "VALUES (" +
          next_id("history") + ", ?, ?, ?, ?, ?, ?, ?)");
      sqlite::bind(*st, 1, static_cast<int>(h.event));
      sqlite::bind(*st, 2, h.date);
      sqlite::bind(*st, 3, h.author_id);
      sqlite::bind(*st, 4, h.book_id);
      sqlite::bind(*st, 5, h.source_title);
      sqlite::bind(*st, 6, h.download_id);
      sqlite::bind(*st, 7, h.data);
      st->exec();
      h.id = c.db().getLastInsertRowid();
      return h;
    });
  }

  Result<RecordPage<HistoryEntry>> history(const HistoryQuery& q) override {
    if (auto e = check_page(q.page, q.page_size)) return *e;
    // Only the filters asked for go into the WHERE clause: "? = 0 OR book_id = ?" would keep
    // SQLite from using the book's index. At most 16 texts, each prepared once.
    std::string where;
    auto add = [&](const char* term) { where += (where.empty() ? " WHERE " : " AND ") + std::string(term); };
    if (q.event) add("event = :event");
    if (q.book_id != 0) add("book_id = :book");
    if (q.author_id != 0) add("author_id = :author");
    if (!q.download_id.empty()) add("download_id = :download");
    auto bind_filters = [&](SQLite::Statement& st) {
      if (q.event) st.bind(":event", static_cast<int>(*q.event));
      if (q.book_id != 0) st.bind(":book", q.book_id);
      if (q.author_id != 0) st.bind(":author", q.author_id);
      if (!q.download_id.empty()) st.bind(":download", q.download_id);
    };
    return read_call("list history", [&](Connection& c) {
      RecordPage<HistoryEntry> out;
      {
        auto st = c.prepare("SELECT count(*) FROM history" + where);
        bind_filters(*st);
        st->executeStep();
        out.total = st->getColumn(0).getInt64();
      }
      auto st = c.prepare("SELECT " + kHistory.list() + " FROM history" + where +
                          " ORDER BY date DESC, id DESC LIMIT :limit OFFSET :offset");
      bind_filters(*st);
      st->bind(":limit", q.page_size);
      st->bind(":offset", page_offset(q.page, q.page_size));
      while (st->executeStep()) out.records.push_back(history_row(*st));
      return out;
    });
  }

  // Blocklist ------------------------------------------------------------------------------------

  Result<BlocklistEntry> add_blocklist(BlocklistEntry b) override {
    b.id = 0;
    if (b.date == TimePoint{}) b.date = clock_now();
    return write_call("add blocklist entry " + in_quotes(b.release.title), [&](Connection& c) {
      auto st = c.prepare("INSERT INTO blocklist (id, author_id, book_ids, release, date, message) VALUES (" +
                          next_id("blocklist") + ", ?, ?, ?, ?, ?)");
      sqlite::bind(*st, 1, b.author_id);
      sqlite::bind(*st, 2, ids_text(b.book_ids));
      sqlite::bind(*st, 3, release_text(b.release));
      sqlite::bind(*st, 4, b.date);
      sqlite::bind(*st, 5, b.message);
      st->exec();
      b.id = c.db().getLastInsertRowid();
      // OR IGNORE: a book listed twice is one index row (the JSON list keeps what was given).
      auto book = c.prepare("INSERT OR IGNORE INTO blocklist_books (book_id, blocklist_id) VALUES (?, ?)");
      for (RowId id : b.book_ids) {
        sqlite::bind(*book, 1, id);
        sqlite::bind(*book, 2, b.id);
        book->exec();
        book->reset();
      }
      return b;
    });
  }

  Result<RecordPage<BlocklistEntry>> blocklist(std::int64_t page, std::int64_t page_size) override {
    if (auto e = check_page(page, page_size)) return *e;
    return read_call("list the blocklist", [&](Connection& c) {
      RecordPage<BlocklistEntry> out;
      {
        auto st = c.prepare("SELECT count(*) FROM blocklist");
        st->executeStep();
        out.total = st->getColumn(0).getInt64();
      }
      auto st = c.prepare("SELECT " + kBlock.list() +
                          " FROM blocklist ORDER BY date DESC, id DESC LIMIT ? OFFSET ?");
      sqlite::bind(*st, 1, page_size);
      sqlite::bind(*st, 2, page_offset(page, page_size));
      while (st->executeStep()) out.records.push_back(block_row(*st));
      return out;
    });
  }

  Result<std::vector<BlocklistEntry>> blocklist_of_book(RowId book_id) override {
    return read_call("list the blocklist of book " + std::to_string(book_id), [&](Connection& c) {
      std::vector<BlocklistEntry> out;
      auto st = c.prepare("SELECT " + kBlock.list("b") +
                          " FROM blocklist_books AS k JOIN blocklist AS b ON b.id = k.blocklist_id "
                          "WHERE k.book_id = ? ORDER BY b.date DESC, b.id DESC");
      sqlite::bind(*st, 1, book_id);
      while (st->executeStep()) out.push_back(block_row(*st));
      return out;
    });
  }

  Status remove_blocklist(RowId id) override {
    return write_call("remove blocklist entry " + std::to_string(id), [&](Connection& c) {
      // Its blocklist_books rows go by ON DELETE CASCADE (the toolkit turns foreign keys on).
      delete_row(c, "blocklist", id, "blocklist entry");
      return Ok{};
    });
  }

  // Pending releases -----------------------------------------------------------------------------

  Result<PendingRelease> add_pending(PendingRelease p) override {
    p.id = 0;
    if (p.added == TimePoint{}) p.added = clock_now();
    return write_call("add pending release " + in_quotes(p.release.title), [&](Connection& c) {
      auto st = c.prepare(
          "INSERT INTO pending_releases (id, author_id, book_id, indexer_id, release, reason, added) "
          "VALUES (" +
          next_id("pending_releases") + ", ?, ?, ?, ?, ?, ?)");
      sqlite::bind(*st, 1, p.author_id);
      sqlite::bind(*st, 2, p.book_id);
      sqlite::bind(*st, 3, p.release.indexer_id);
      sqlite::bind(*st, 4, release_text(p.release));
      sqlite::bind(*st, 5, p.reason);
      sqlite::bind(*st, 6, p.added);
      st->exec();
      p.id = c.db().getLastInsertRowid();
      return p;
    });
  }

  Result<std::vector<PendingRelease>> pending() override {
    return read_call("list pending releases", [&](Connection& c) {
      std::vector<PendingRelease> out;
      auto st = c.prepare("SELECT " + kPending.list() + " FROM pending_releases ORDER BY added, id");
      while (st->executeStep()) out.push_back(pending_row(*st));
      return out;
    });
  }

  Status remove_pending(RowId id) override {
    return write_call("remove pending release " + std::to_string(id), [&](Connection& c) {
      delete_row(c, "pending_releases", id, "pending release");
      return Ok{};
    });
  }

  // Tracked downloads ----------------------------------------------------------------------------

  Result<TrackedDownload> add_tracked(TrackedDownload t) override {
    t.id = 0;
    const TimePoint at = clock_now();
    if (t.grabbed == TimePoint{}) t.grabbed = at;
    if (t.updated == TimePoint{}) t.updated = at;
    return write_call("add tracked download " + in_quotes(t.download_id), [&](Connection& c) {
      check_download_free(c, t);
      auto st = c.prepare(
          "INSERT INTO tracked_downloads (id, client_id, download_id, author_id, book_id, release, "
          "state, status, size, size_left, eta_seconds, output_path, message, grabbed, updated) "
          "VALUES (" +
          next_id("tracked_downloads") + ", ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      bind_tracked(*st, t);
      st->exec();
      t.id = c.db().getLastInsertRowid();
      return t;
    });
  }

  Status update_tracked(const TrackedDownload& download) override {
    TrackedDownload t = download;
    if (t.updated == TimePoint{}) t.updated = clock_now();
    return write_call("update tracked download " + std::to_string(t.id), [&](Connection& c) {
      load_tracked(c, t.id);  // not_found first
      check_download_free(c, t);
      auto st = c.prepare(
          "UPDATE tracked_downloads SET client_id = ?, download_id = ?, author_id = ?, book_id = ?, "
          "release = ?, state = ?, status = ?, size = ?, size_left = ?, eta_seconds = ?, "
          "output_path = ?, message = ?, grabbed = ?, updated = ? WHERE id = ?");
      bind_tracked(*st, t);
      sqlite::bind(*st, 15, t.id);
      st->exec();
      return Ok{};
    });
  }

  Result<TrackedDownload> tracked(RowId id) override {
    return read_call("read tracked download " + std::to_string(id),
                     [&](Connection& c) { return load_tracked(c, id); });
  }

  Result<std::vector<TrackedDownload>> active_downloads() override {
    return read_call("list active downloads", [&](Connection& c) {
      std::vector<TrackedDownload> out;
      auto st = c.prepare("SELECT " + kTracked.list() +
                          " FROM tracked_downloads WHERE state IN (?, ?, ?) ORDER BY grabbed, id");
      sqlite::bind(*st, 1, to_string(TrackedState::downloading));
      sqlite::bind(*st, 2, to_string(TrackedState::import_pending));
      sqlite::bind(*st, 3, to_string(TrackedState::import_failed));
      while (st->executeStep()) out.push_back(tracked_row(*st));
      return out;
    });
  }

  Result<TrackedDownload> tracked_by_download(RowId client_id, std::string_view download_id) override {
    const std::string what =
        "download " + in_quotes(download_id) + " of download client " + std::to_string(client_id);
    return read_call("read tracked " + what, [&](Connection& c) {
      auto st = c.prepare("SELECT " + kTracked.list() +
                          " FROM tracked_downloads WHERE client_id = ? AND download_id = ? ORDER BY id DESC");
      sqlite::bind(*st, 1, client_id);
      sqlite::bind(*st, 2, download_id);
      if (!st->executeStep()) fail(errc::not_found, "no tracked " + what);
      return tracked_row(*st);
    });
  }

 private:
  static ProviderDefinition load_provider(Connection& c, ProviderKind kind, RowId id) {
    auto st = c.prepare("SELECT " + kProvider.list() + " FROM providers WHERE id = ? AND kind = ?");
    sqlite::bind(*st, 1, id);
    sqlite::bind(*st, 2, to_string(kind));
    if (!st->executeStep()) fail(errc::not_found, provider_name(kind, id));
    return provider_row(*st);
  }

  // conflict when another provider of the kind has the name; the UNIQUE constraint is the
  // backstop, this names the clash.
  static void check_name_free(Connection& c, const ProviderDefinition& p) {
    auto st = c.prepare("SELECT id FROM providers WHERE kind = ? AND name = ? AND id <> ?");
    sqlite::bind(*st, 1, to_string(p.kind));
    sqlite::bind(*st, 2, p.name);
    sqlite::bind(*st, 3, p.id);
    if (st->executeStep())
      fail(errc::conflict, std::string(to_string(p.kind)) + " name " + in_quotes(p.name) + " belongs to " +
                               provider_name(p.kind, st->getColumn(0).getInt64()));
  }

  static TrackedDownload load_tracked(Connection& c, RowId id) {
    auto st = c.prepare("SELECT " + kTracked.list() + " FROM tracked_downloads WHERE id = ?");
    sqlite::bind(*st, 1, id);
    if (!st->executeStep()) fail(errc::not_found, "tracked download " + std::to_string(id));
    return tracked_row(*st);
  }

  static bool active(TrackedState s) {
    return s == TrackedState::downloading || s == TrackedState::import_pending ||
           s == TrackedState::import_failed;
  }

  static void check_download_free(Connection& c, const TrackedDownload& t) {
    if (t.download_id.empty() || !active(t.state)) return;
    auto st = c.prepare(
        "SELECT id FROM tracked_downloads WHERE client_id = ? AND download_id = ? AND id <> ? AND state IN "
        "(?, ?, ?)");
    sqlite::bind(*st, 1, t.client_id);
    sqlite::bind(*st, 2, t.download_id);
    sqlite::bind(*st, 3, t.id);
    sqlite::bind(*st, 4, std::string(to_string(TrackedState::downloading)));
    sqlite::bind(*st, 5, std::string(to_string(TrackedState::import_pending)));
    sqlite::bind(*st, 6, std::string(to_string(TrackedState::import_failed)));
    if (st->executeStep())
      fail(errc::conflict, "download " + in_quotes(t.download_id) + " of download client " +
                               std::to_string(t.client_id) + " is tracked download " +
                               std::to_string(st->getColumn(0).getInt64()));
  }

  // Runs `f` in one BEGIN IMMEDIATE transaction on the write connection; any failure rolls it
  // all back and becomes an Error.
  template <class F>
  auto write_call(const std::string& what, F&& f) -> Result<decltype(f(std::declval<Connection&>()))> {
    std::lock_guard lock(write_mutex_);
    try {
      // Its destructor rolls back (a failed COMMIT included), so the connection never stays
      // inside a transaction.
      sqlite::WriteTransaction tx(write_.db());
      auto r = f(write_);
      tx.commit();
      return r;
    } catch (...) {
      return error_of(what, std::current_exception());
    }
  }

  // One deferred transaction on the read connection (sqlite_common.hpp's read_call).
  template <class F>
  auto read_call(const std::string& what, F&& f) -> Result<decltype(f(std::declval<Connection&>()))> {
    return catalog_sqlite::read_call(read_mutex_, read_, what, "acquisition store " + path_,
                                     std::forward<F>(f));
  }

  Error error_of(const std::string& what, std::exception_ptr ep) const {
    return catalog_sqlite::error_of(what, "acquisition store " + path_, ep);
  }

  std::string path_;
  std::mutex write_mutex_;
  Connection write_;
  std::mutex read_mutex_;
  Connection read_;
};

}  // namespace

int acquisition_schema_version() noexcept { return static_cast<int>(acquisition_migrations().size()); }

Result<std::shared_ptr<AcquisitionStore>> open_sqlite_acquisition_store(
    const SqliteAcquisitionStoreOptions& options) {
  const std::string path = options.path.string();
  if (path.empty()) return Error{errc::invalid_argument, "the acquisition store needs a file path"};
  auto write = sqlite::open(path, {.what = "acquisition store", .busy_timeout = options.busy_timeout});
  if (!write) return write.error();
  // Race-safe (see sqlite::migrate), and independent of schema "catalog" in the same file: each
  // opener migrates only its own schema.
  if (auto st = sqlite::migrate(**write, "acquisition", acquisition_migrations(),
                                {.newer_file = errc::invalid_argument, .what = "acquisition store"});
      !st)
    return st.error();
  try {
    restore_id_marks(**write, {"providers", "history", "blocklist", "pending_releases", "tracked_downloads"});
  } catch (const std::exception& e) {
    return Error{errc::store_error, "acquisition store " + path + ": cannot check its id marks: " + e.what()};
  }
  // The read connection never writes; SQLite enforces it (query_only).
  auto read = sqlite::open(path, {.what = "acquisition store",
                                  .busy_timeout = options.busy_timeout,
                                  .create = false,
                                  .query_only = true});
  if (!read) return read.error();
  return std::shared_ptr<AcquisitionStore>(
      std::make_shared<SqliteAcquisitionStore>(path, std::move(write).value(), std::move(read).value()));
}

}  // namespace shelfjobs

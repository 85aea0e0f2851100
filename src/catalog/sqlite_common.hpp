// SPDX-License-Identifier: MIT
#pragma once
// What the SQLite catalog's source files share: the connection with its statement cache, the
// failure that rolls a call back, and the catalog's conventions for NULLs and paths. Private to
// the catalog layer.

#include <sqlite3.h>

#include <exception>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <SQLiteCpp/SQLiteCpp.h>

#include "engine/sqlite/sqlite_toolkit.hpp"
#include "shelfjobs/catalog/catalog.hpp"

namespace shelfjobs::catalog_sqlite {

using sqlite::column;

// Paths are stored in one form (catalog_path), so "/lib/Ann/" and "/lib/Ann" are one folder
// and prefix matching can add exactly one separator.
inline std::string clean_path(const std::filesystem::path& p) { return catalog_path(p); }

/// A failure with its catalog error, thrown inside a transaction so it rolls back.
struct Failure {
  Error error;
};

[[noreturn]] inline void fail(errc code, std::string message) { throw Failure{{code, std::move(message)}}; }

/// One connection and its prepared statements. Callers hold the connection's mutex.
class Connection {
 public:
  explicit Connection(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}

  SQLite::Database& db() { return *db_; }

  /// A cached statement, reset (bindings cleared) when the guard goes, however it goes.
  class Stmt {
   public:
    explicit Stmt(SQLite::Statement& st) : st_(st) {}
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    ~Stmt() {
      st_.tryReset();
      try {
        st_.clearBindings();
      } catch (...) {
      }
    }
    SQLite::Statement* operator->() { return &st_; }
    SQLite::Statement& operator*() { return st_; }

   private:
    SQLite::Statement& st_;
  };

  Stmt prepare(const std::string& sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) it = cache_.emplace(sql, std::make_unique<SQLite::Statement>(*db_, sql)).first;
    return Stmt(*it->second);
  }

  std::int64_t total_changes() const { return sqlite3_total_changes64(db_->getHandle()); }

 private:
  std::unique_ptr<SQLite::Database> db_;
  std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> cache_;
};

// The catalog's own NULLs: row id 0 is "no row" and an empty path "no folder". (A NULL id
// reads back as 0 with column<RowId>.)
inline void bind_id(SQLite::Statement& st, int i, RowId id) {
  sqlite::bind(st, i, id != 0 ? std::optional<RowId>(id) : std::nullopt);
}
inline void bind_text_or_null(SQLite::Statement& st, int i, const std::string& s) {
  sqlite::bind(st, i, !s.empty() ? std::optional<std::string>(s) : std::nullopt);
}

/// Deletes row `id` of `table` (one of the layer's own tables, never a caller's text); fails
/// not_found ("<what> <id>") when it holds no such row.
inline void delete_row(Connection& c, std::string_view table, RowId id, std::string_view what) {
  auto st = c.prepare("DELETE FROM " + std::string(table) + " WHERE id = ?");
  st->bind(1, id);
  if (st->exec() == 0) fail(errc::not_found, std::string(what) + " " + std::to_string(id));
}

/// The Error of a failure thrown inside one call of a SQLite store of this layer: a `Failure` as
/// it is; a constraint SQLite raised itself (the call's own checks name a clash before SQLite
/// sees it, so this is one they did not name, or another process raced them) as conflict
/// (UNIQUE, PRIMARY KEY) or not_found (FOREIGN KEY), with SQLite's text; anything else
/// store_error naming `file` ("catalog /data/catalog.db").
inline Error error_of(const std::string& what, const std::string& file, std::exception_ptr ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const Failure& e) {
    return e.error;
  } catch (const SQLite::Exception& e) {
    const int ext = e.getExtendedErrorCode();
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
      return Error{errc::conflict, what + ": " + e.what()};
    if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
      return Error{errc::not_found, what + ": a referenced row is missing (" + e.what() + ")"};
    return Error{errc::store_error, what + " failed in " + file + ": " + e.what()};
  } catch (const std::exception& e) {
    return Error{errc::store_error, what + " failed in " + file + ": " + e.what()};
  } catch (...) {
    return Error{errc::store_error, what + " failed in " + file};
  }
}

/// Runs `f(c)` in one deferred transaction on the read connection `c` (held through `mu`): every
/// query of one call sees one snapshot (a page and its total agree). Failures as `error_of`.
template <class F>
auto read_call(std::mutex& mu, Connection& c, const std::string& what, const std::string& file, F&& f)
    -> Result<decltype(f(std::declval<Connection&>()))> {
  std::lock_guard lock(mu);
  try {
    sqlite::ReadTransaction tx(c.db());
    auto r = f(c);
    tx.commit();
    return r;
  } catch (...) {
    return error_of(what, file, std::current_exception());
  }
}

inline std::string in_quotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Row ids are never handed out twice, as in Readarr's AUTOINCREMENT tables: a client that still
// holds a removed row's id (a book, a download client) must not reach a new row by it, and a
// row that names another by id (a tracked download its client) must not come to name a new one.
// SQLite gives a new row the highest id + 1, so a removed newest row's id came back. Each such
// table has a row in `id_high` with the highest id it ever held, kept by a trigger after each
// delete (the foreign keys' cascades fire it too), and its INSERTs take their id from next_id.
// A table rebuilt with AUTOINCREMENT would do the same, but rebuilding every table of an
// existing file under its foreign keys is SQLite's twelve-step procedure; a trigger is not.

/// The SQL of a migration that starts keeping the ids of `tables` (from the highest they hold
/// now). It may run in a file where another schema did so for its own tables. Part of released
/// migrations: what it returns for a given list never changes.
inline std::string keep_ids_migration(std::initializer_list<std::string_view> tables) {
  std::string sql =
      "CREATE TABLE IF NOT EXISTS id_high (tbl TEXT PRIMARY KEY, high INTEGER NOT NULL) WITHOUT ROWID;\n";
  for (std::string_view t : tables) {
    const std::string table(t);
    sql += "INSERT OR IGNORE INTO id_high (tbl, high) SELECT '" + table + "', COALESCE(MAX(id), 0) FROM " +
           table + ";\n";
    // Only the delete of the table's newest row writes (the row is gone when the trigger runs,
    // so it was the newest if no row is above it): removing older rows costs nothing more.
    sql += "CREATE TRIGGER " + table + "_id_high AFTER DELETE ON " + table +
           " WHEN OLD.id > COALESCE((SELECT " + "MAX(id) FROM " + table +
           "), 0) BEGIN UPDATE id_high SET high = MAX(high, OLD.id) WHERE tbl = '" + table + "'; END;\n";
  }
  return sql;
}

/// Gives each of `tables` its `id_high` row again where a damaged or hand-edited file lost it
/// (from the highest id the table holds now: without it next_id would quietly fall back to
/// SQLite's own, reused ids). Run at each open, after the migrations. It only reads while every
/// row is there, so opening a file another process is writing to does not wait for its lock.
/// Throws SQLite::Exception.
inline void restore_id_marks(SQLite::Database& db, std::initializer_list<std::string_view> tables) {
  for (std::string_view t : tables) {
    const std::string table(t);
    SQLite::Statement has(db, "SELECT 1 FROM id_high WHERE tbl = ?");
    has.bind(1, table);
    if (has.executeStep()) continue;
    db.exec("INSERT OR IGNORE INTO id_high (tbl, high) SELECT '" + table + "', COALESCE(MAX(id), 0) FROM " +
            table);
  }
}

/// The value of `id` in an INSERT into `table` (one migrated by keep_ids_migration): one above
/// every id the table ever held.
inline std::string next_id(std::string_view table) {
  const std::string t(table);
  return "(SELECT MAX(high, COALESCE((SELECT MAX(id) FROM " + t + "), 0)) + 1 FROM id_high WHERE tbl = '" +
         t + "')";
}

inline bool is_constraint(const SQLite::Exception& e, int extended) {
  return e.getExtendedErrorCode() == extended;
}

}  // namespace shelfjobs::catalog_sqlite

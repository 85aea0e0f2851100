// SPDX-License-Identifier: MIT
#pragma once
// The SQLite toolkit: how shelfjobs opens, migrates and reads and writes its SQLite files (the
// job store, the catalog, the metadata cache). Private: no public header under include/ names a
// SQLite type; the engine and the services include this one from `src`.
//
// What it gives:
//  - `open`: a connection with the house pragmas, in the order that makes them safe.
//  - `migrate`: one race-safe versioned migration, the version kept per schema name.
//  - `WriteTransaction` / `ReadTransaction`: RAII transactions that never leave a connection
//    inside a transaction; `PreparedTransaction` keeps BEGIN and COMMIT prepared for a writer
//    that commits often.
//  - `bind` / `column<T>`: typed binds and columns for optional values, times, dates, enums.
//  - `Columns`: one column list per entity; an unknown column name is a compile error.
//
// Errors: `open` and `migrate` return `Result`/`Status` values (`errc::store_error` unless said
// otherwise) whose message names the file. `bind`, `column<T>` and the transactions throw
// `SQLite::Exception` like SQLiteCpp does: they run inside a caller's try block.
//
// Thread-safety: free functions are reentrant; a `SQLite::Database` and its statements belong
// to one thread at a time (the caller's mutex or writer thread), as with SQLiteCpp itself.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <SQLiteCpp/SQLiteCpp.h>

#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/job.hpp"

namespace shelfjobs::sqlite {

/// A calendar date, stored as 'YYYY-MM-DD' text (the catalog's `Date`).
using Date = std::chrono::sys_days;

/// How long a statement waits for another connection's lock before it fails with
/// SQLITE_BUSY, for every shelfjobs file unless its options say otherwise.
inline constexpr std::chrono::milliseconds kDefaultBusyTimeout{5000};

// ---- open ------------------------------------------------------------------------------------

struct OpenOptions {
  /// What the file is, for error messages: "cannot open <what> <path>: ...".
  std::string what = "database";
  /// PRAGMA busy_timeout; also bounds the retries of the switch to WAL. Must not be negative.
  std::chrono::milliseconds busy_timeout = kDefaultBusyTimeout;
  /// Create the file when it does not exist. False: the file must exist (a second connection
  /// to a file another one created).
  bool create = true;
  /// Also create its missing parent folders (with `create`). Default false: a mistyped folder
  /// is an error, not a new tree (the job store and the catalog promise that).
  bool create_folders = false;
  /// PRAGMA synchronous=FULL instead of NORMAL (with WAL, NORMAL survives a process crash,
  /// FULL also a power cut).
  bool sync_full = false;
  /// PRAGMA query_only=ON: the connection refuses writes (a read connection).
  bool query_only = false;
  /// The caller promises that the connection and its statements are never used by two threads
  /// at once (it keeps one thread per connection, or its own lock): SQLite's own per-call mutex
  /// is then left out (SQLITE_OPEN_NOMUTEX). A busy writer binds and steps hundreds of times per
  /// commit, and each call took and released that mutex.
  bool single_threaded = false;
  /// Write each commit's log frames in one system call (coalescing_vfs, wal_writes.hpp) rather
  /// than two per page. The file is an ordinary SQLite file either way.
  bool coalesce_log = true;
};

/// Opens `path` (":memory:" for a private in-memory database) and applies, in this order:
/// busy_timeout, journal_mode=WAL (retried until busy_timeout, see the .cpp), synchronous,
/// foreign_keys=ON, temp_store=MEMORY, and query_only when asked. The connection is opened
/// with SQLITE_OPEN_FULLMUTEX unless `single_threaded` says the caller serializes its use.
/// Errors: `invalid_argument` for an empty path or a negative busy_timeout; `store_error`
/// naming `what` and the path when the file cannot be opened or a pragma fails (another
/// process held a lock longer than busy_timeout, a missing folder with `create` false, ...).
Result<std::unique_ptr<SQLite::Database>> open(const std::filesystem::path& path, const OpenOptions& options);

// ---- migrate ---------------------------------------------------------------------------------

/// Where a release before the toolkit kept a schema's version. Read when the file has no
/// version row yet, and kept in step with the row afterwards, so an older build still reads
/// the right version and refuses a file newer than it knows.
struct LegacyVersion {
  /// PRAGMA user_version (the job store and the metadata cache).
  bool user_version = false;
  /// A `(key TEXT PRIMARY KEY, value INTEGER NOT NULL)` table and the key of the version in it
  /// (the catalog: `catalog_meta`, `schema_version`). Empty: none.
  std::string meta_table;
  std::string meta_key;
};

struct MigrateOptions {
  LegacyVersion legacy;
  /// The code of the error for a file whose version is newer than `migrations` knows.
  errc newer_file = errc::store_error;
  /// What the file is, for error messages.
  std::string what = "database";
};

/// Brings schema `name` of `db` to version `migrations.size()`: migration i (0-based) takes
/// the schema from version i to i + 1. The version is kept in the table
/// `shelfjobs_schema(name, version)`, one row per schema, so several schemas may share a file.
/// Each step reads the version and applies one migration inside one BEGIN IMMEDIATE
/// transaction: of two processes migrating a new file at once, the second waits (busy_timeout)
/// and then sees the step applied. A crash leaves a whole version.
/// Migrations are append-only: a released one never changes.
/// Errors: `options.newer_file` when the file's version is above `migrations.size()` (the
/// message names both); `store_error` naming the file when a step fails (nothing of that step
/// is kept).
Status migrate(SQLite::Database& db, std::string_view name, const std::vector<std::string>& migrations,
               const MigrateOptions& options = {});

/// The version of schema `name` in `db` as `migrate` reads it (0 for none). Throws
/// `SQLite::Exception`.
int schema_version(SQLite::Database& db, std::string_view name, const LegacyVersion& legacy = {});

// ---- transactions ----------------------------------------------------------------------------

/// BEGIN IMMEDIATE and COMMIT prepared once, for a connection that commits many times a second
/// (the job store's writer): `exec` of their text parses it again for every transaction. Owned
/// beside the connection's other statements and destroyed before it; used by one
/// WriteTransaction at a time, on the connection's thread.
class PreparedTransaction {
 public:
  explicit PreparedTransaction(SQLite::Database& db);

 private:
  friend class WriteTransaction;
  // Runs `st` to its end and readies it for the next run; throws SQLite::Exception on failure,
  // with `st` readied all the same.
  static void run(SQLite::Statement& st);
  SQLite::Statement begin_;
  SQLite::Statement commit_;
};

/// BEGIN IMMEDIATE on construction (the write lock, waiting up to busy_timeout); `commit()`
/// commits; the destructor rolls back unless committed, and never throws. Not copyable. With a
/// PreparedTransaction of the same connection, BEGIN and COMMIT run its statements.
class WriteTransaction {
 public:
  explicit WriteTransaction(SQLite::Database& db);
  WriteTransaction(SQLite::Database& db, PreparedTransaction& prepared);
  ~WriteTransaction();
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;
  /// Throws `SQLite::Exception` when COMMIT fails; the destructor then rolls back.
  void commit();

 private:
  SQLite::Database& db_;
  PreparedTransaction* prepared_ = nullptr;
  bool done_ = false;
};

/// BEGIN DEFERRED: every read of one transaction sees one snapshot. Same contract as
/// `WriteTransaction`.
class ReadTransaction {
 public:
  explicit ReadTransaction(SQLite::Database& db);
  ~ReadTransaction();
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;
  void commit();

 private:
  SQLite::Database& db_;
  bool done_ = false;
};

/// Rolls back the connection's open transaction, if any; never throws. For a connection a
/// failed COMMIT or ROLLBACK left inside a transaction.
void rollback_if_open(SQLite::Database& db) noexcept;

// ---- typed binds and columns -----------------------------------------------------------------

/// Milliseconds since the Unix epoch: how every shelfjobs file stores a time.
std::int64_t to_ms(TimePoint t);
TimePoint from_ms(std::int64_t ms);
/// 'YYYY-MM-DD'; `parse_date` gives nullopt for any other text or an invalid date.
std::string date_text(Date d);
std::optional<Date> parse_date(std::string_view text);

/// Binds parameter `i` (1-based). An empty optional or `std::nullopt` binds NULL; a bool binds
/// 0/1; a time binds `to_ms`; a date binds `date_text`; a duration binds milliseconds; an enum
/// binds its underlying value. Throws `SQLite::Exception`.
void bind(SQLite::Statement& st, int i, std::nullopt_t);
void bind(SQLite::Statement& st, int i, bool v);
void bind(SQLite::Statement& st, int i, int v);
void bind(SQLite::Statement& st, int i, std::int64_t v);
void bind(SQLite::Statement& st, int i, double v);
void bind(SQLite::Statement& st, int i, const char* v);
void bind(SQLite::Statement& st, int i, const std::string& v);
void bind(SQLite::Statement& st, int i, std::string_view v);
void bind(SQLite::Statement& st, int i, TimePoint v);
void bind(SQLite::Statement& st, int i, Date v);
void bind(SQLite::Statement& st, int i, std::chrono::milliseconds v);
template <class E>
requires std::is_enum_v<E>
void bind(SQLite::Statement& st, int i, E v) { bind(st, i, static_cast<std::int64_t>(v)); }
template <class T>
void bind(SQLite::Statement& st, int i, const std::optional<T>& v) {
  if (v)
    bind(st, i, *v);
  else
    bind(st, i, std::nullopt);
}

namespace detail {
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class>
inline constexpr bool unsupported = false;
}  // namespace detail

/// Reads column `i` (0-based) of the current row as `T`, the reverse of `bind`: bool, int,
/// std::int64_t, double, std::string, TimePoint, Date, std::chrono::milliseconds, enums, and
/// std::optional of each (NULL gives nullopt; for `std::optional<Date>` so does text that is
/// no date). A NULL read as a plain type gives 0 / "" like SQLiteCpp; a non-optional `Date`
/// that is not a date throws `std::runtime_error`.
template <class T>
T column(const SQLite::Statement& st, int i) {
  const SQLite::Column c = st.getColumn(i);
  if constexpr (detail::is_optional<T>::value) {
    using V = typename T::value_type;
    if (c.isNull()) return std::nullopt;
    if constexpr (std::is_same_v<V, Date>)
      return parse_date(c.getString());
    else
      return column<V>(st, i);
  } else if constexpr (std::is_same_v<T, bool>) {
    return c.getInt64() != 0;
  } else if constexpr (std::is_enum_v<T>) {
    return static_cast<T>(c.getInt64());
  } else if constexpr (std::is_same_v<T, int>) {
    return c.getInt();
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    return c.getInt64();
  } else if constexpr (std::is_same_v<T, double>) {
    return c.getDouble();
  } else if constexpr (std::is_same_v<T, std::string>) {
    return c.getString();
  } else if constexpr (std::is_same_v<T, TimePoint>) {
    return from_ms(c.getInt64());
  } else if constexpr (std::is_same_v<T, std::chrono::milliseconds>) {
    return std::chrono::milliseconds(c.getInt64());
  } else if constexpr (std::is_same_v<T, Date>) {
    auto d = parse_date(c.getString());
    if (!d) throw std::runtime_error("column " + std::to_string(i) + " is no date: " + c.getString());
    return *d;
  } else {
    static_assert(detail::unsupported<T>, "column<T>: no reader for this type");
  }
}

// ---- column lists ----------------------------------------------------------------------------

/// An entity's columns, in SELECT order, as one constant:
///
///     constexpr sqlite::Columns kAuthor{"id", "foreign_id", "name"};
///     SQLite::Statement st(db, "SELECT " + kAuthor.list() + " FROM authors");
///     a.name = sqlite::column<std::string>(st, kAuthor["name"]);
///
/// `kAuthor["name"]` is the name's index, computed at compile time: a misspelt or removed
/// column does not compile, and the index follows the list when a column is added.
/// Thread-safety: a constant.
template <std::size_t N>
class Columns {
 public:
  template <class... S>
  requires(sizeof...(S) == N) constexpr Columns(const S&... names)
      : names_{std::string_view(names)...} {}  // NOLINT

  /// The index of `name` in the list (0-based, as `column<T>` takes it). Not a column: a
  /// compile error.
  consteval int operator[](std::string_view name) const {
    for (std::size_t i = 0; i < N; ++i)
      if (names_[i] == name) return static_cast<int>(i);
    throw "sqlite::Columns: no such column";  // not a constant expression: does not compile
  }
  static constexpr std::size_t size() noexcept { return N; }
  constexpr std::string_view name(std::size_t i) const { return names_[i]; }

  /// "a, b, c", or with `alias` "t.a, t.b, t.c".
  std::string list(std::string_view alias = {}) const {
    std::string out;
    for (std::size_t i = 0; i < N; ++i) {
      if (i != 0) out += ", ";
      if (!alias.empty()) out.append(alias).append(".");
      out.append(names_[i]);
    }
    return out;
  }

 private:
  std::array<std::string_view, N> names_;
};
template <class... S>
Columns(const S&...) -> Columns<sizeof...(S)>;

}  // namespace shelfjobs::sqlite

// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The PostgreSQL job store: `JobStore` over a PostgreSQL database (15 or later), for a host
/// whose job history should live on a database server rather than in a file beside it.
/// `Engine::create` opens one when `EngineOptions::store_path` is a PostgreSQL connection URI
/// (`postgresql://user@host:5432/db`); hosts and tools may open one directly.
///
/// What it keeps: the same rows as the SQLite store (jobs, scheduled tasks, per-type totals,
/// per-minute figures, the highest id handed out), in tables of their own schema
/// (`PostgresStoreOptions::schema`), created and migrated on open by versioned SQL scripts.
/// Times are stored as milliseconds since the Unix epoch (`bigint`), as in the SQLite store.
///
/// One engine per store, or several sharing it: by default the store holds a session advisory
/// lock on its schema for as long as it is open, so a second engine on the same schema is
/// refused, and the server drops the lock when the connection of a dead process goes. Opened
/// with `shared`, the lock is taken in shared mode by every engine of a cluster (and still
/// refuses a lone engine), and `JobStore::shared()` gives the queue they share: claims,
/// leases, cross-process locks and notifications (docs/scaling.md).
///
/// Threading and failures: as `JobStore` says. Writes are committed by one writer connection in
/// group commits; reads use a second connection. A commit that fails (the server restarted, the
/// connection dropped) is retried with backoff on a new connection with the same writes; nothing
/// a caller was told is stored is lost. Only available when shelfjobs was built with libpqxx
/// (`SHELFJOBS_WITH_POSTGRES`, on when libpqxx-dev is installed); otherwise opening fails with
/// `invalid_argument`.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/fwd.h>

#include "shelfjobs/engine/error.hpp"
#include "shelfjobs/engine/job_store.hpp"

namespace shelfjobs {

/// Options of the PostgreSQL job store.
struct PostgresStoreOptions {
  /// A libpq connection URI or keyword string: "postgresql://shelf@127.0.0.1:5432/shelf",
  /// "host=/run/postgresql dbname=shelf". The database must exist; the store creates its schema.
  std::string url;
  /// The schema that holds the store's tables (created if missing). Letters, digits and '_',
  /// starting with a letter, at most 48 characters. Default: "shelfjobs".
  std::string schema = "shelfjobs";
  /// How long opening waits for the server, and how long a statement may run before the server
  /// cancels it. Default: 5 s and 60 s. A read (`get`, `list`) waits at most `connect_timeout`
  /// for the writes called before it; when they are still waiting for the server it fails with
  /// store_error rather than hang.
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds statement_timeout{60000};
  /// Open as one node of a queue that several engines share (`EngineOptions::cluster`).
  /// Default: false (one engine per schema).
  bool shared = false;
  std::shared_ptr<spdlog::logger> logger;
};

/// Whether `text` names a PostgreSQL database rather than a SQLite file: it starts with
/// "postgresql://" or "postgres://".
bool is_postgres_url(std::string_view text) noexcept;

/// Whether this build has the PostgreSQL store.
bool postgres_store_available() noexcept;

/// Connects, creates or migrates the schema and takes the store's lock.
/// Errors: invalid_argument (no PostgreSQL support in this build, a bad schema name),
/// store_error (cannot connect, in use by another engine, a newer schema, migration failed),
/// each message naming the server and database but never the password.
Result<std::unique_ptr<JobStore>> open_postgres_job_store(PostgresStoreOptions options);

/// The version of the PostgreSQL schema this build writes; a database above it is refused.
int postgres_job_store_schema_version() noexcept;

}  // namespace shelfjobs
